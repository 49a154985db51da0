/*  nodesim_client: clients with sessions, speaking the client protocol to
    each node's client actor (one put in four as a transaction). They send writes to the node they
   believe leads, retry a write with its sequence elsewhere after a timeout or a NOT_LEADER, read
   through ReadIndex (half their reads at any node: a follower asks its leader), and record a
   history that is checked per key at the end. */
#include "nodesim_int.h"

#include <inttypes.h>

#include "inproc.h"
#include "raft.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

static const char *const s_keys[NS_KEYS] = {"k0", "k1", "k2"};

static uint64_t s_client_id(int c, uint32_t generation)
{
    return 0x1000 + (uint64_t) c + 0x100 * (uint64_t) generation;
}

void ns_clients_init(ns_world_t *w)
{
    for (int c = 0; c < NS_CLIENTS; c++) {
        ns_client_t *cl = &w->clients[c];
        cl->id = s_client_id(c, 0);
        cl->next_seq = cl->first_unacked = 1;
    }
}

/*  No retry applies twice: every node must report one write's effect at
    one log index, however often the write was committed. */
static void s_check_effect(ns_world_t *w, const zkv_write_result_t *r)
{
    uint64_t h = (r->client_id * 0x9e3779b97f4a7c15ull) ^ (r->sequence * 0xbf58476d1ce4e5b9ull);
    for (size_t probe = 0; probe < NS_EFFECTS_MAX; probe++) {
        ns_effect_t *e = &w->effects[(h + probe) & (NS_EFFECTS_MAX - 1)];
        if (e->index == 0) {
            *e = (ns_effect_t){r->client_id, r->sequence, r->index};
            return;
        }
        if (e->client_id == r->client_id && e->seq == r->sequence) {
            if (e->index != r->index)
                ns_fail(w,
                        "client %" PRIx64 " write %" PRIu64 " took effect twice: at %" PRIu64
                        " and at %" PRIu64,
                        r->client_id, r->sequence, e->index, r->index);
            return;
        }
    }
}

/*  A node that says it leads, else any node that is up. */
static uint32_t s_pick_node(ns_world_t *w, uint32_t avoid)
{
    uint32_t up[NS_NODES_MAX], k = 0;
    for (uint32_t i = 0; i < w->opt.nodes; i++) {
        ns_node_t *n = &w->nodes[i];
        if (n->up && n->leads && n->id != avoid)
            return n->id;
        if (n->up)
            up[k++] = n->id;
    }
    return k ? up[ns_random(w, k)] : 1;
}

static uint32_t s_pick_up(ns_world_t *w)
{
    ns_node_t *n = &w->nodes[ns_random(w, w->opt.nodes)];
    return n->up ? n->id : s_pick_node(w, 0);
}

/* ---------------------------------------------------------------- sending */

/*  A request over the client protocol, from the connection named routing
    (NS_ROUTING_BYTES: which client, or a burst), to node n's client actor. */
void ns_request_send(ns_node_t *n, uint64_t routing, const Zkv__Request *req)
{
    zframe_t *body = zframe_new(NULL, zkv__request__get_packed_size(req));
    zkv__request__pack(req, zframe_data(body));
    ns_request_t *r = zmalloc(sizeof *r);
    r->routing = zframe_new(&routing, sizeof routing);
    r->body = body;
    ns_request_enqueue(n, r);
}

/*  A put sent as a transaction: if version("zz") = 0 (always: nobody writes
    it) then the put; the same write for the history, through another path. */
typedef struct {
    Zkv__TxnRequest txn;
    Zkv__Compare compare, *compares[1];
    Zkv__TxnOp op, *ops[1];
} s_txn_t;

static void s_as_txn(Zkv__Request *req, Zkv__PutRequest *put, s_txn_t *t)
{
    zkv__txn_request__init(&t->txn);
    zkv__compare__init(&t->compare);
    t->compare.key = (ProtobufCBinaryData){2, (uint8_t *) "zz"};
    t->compare.target = ZKV__COMPARE__TARGET__VERSION;
    t->compares[0] = &t->compare;
    zkv__txn_op__init(&t->op);
    t->op.op_case = ZKV__TXN_OP__OP_PUT;
    t->op.put = put;
    t->ops[0] = &t->op;
    t->txn.n_compares = 1;
    t->txn.compares = t->compares;
    t->txn.n_success = 1;
    t->txn.success = t->ops;
    req->body_case = ZKV__REQUEST__BODY_TXN;
    req->txn = &t->txn;
}

static void s_request_for(ns_client_t *cl, Zkv__Request *req, Zkv__PutRequest *put,
                          Zkv__GetRequest *get, Zkv__OpenSessionRequest *open, s_txn_t *txn)
{
    req->request_id = cl->op_id;
    if (cl->kind == NS_OP_GET) {
        get->key = (ProtobufCBinaryData){strlen(s_keys[cl->key]), (uint8_t *) s_keys[cl->key]};
        req->body_case = ZKV__REQUEST__BODY_GET;
        req->get = get;
        return;
    }
    req->client_id = cl->id;
    req->sequence = cl->seq;
    req->first_unacked = cl->first_unacked;
    if (cl->kind == NS_OP_OPEN) {
        req->body_case = ZKV__REQUEST__BODY_OPEN_SESSION;
        req->open_session = open;
    } else {
        put->key = (ProtobufCBinaryData){strlen(s_keys[cl->key]), (uint8_t *) s_keys[cl->key]};
        put->value = (ProtobufCBinaryData){strlen(cl->value), (uint8_t *) cl->value};
        req->body_case = ZKV__REQUEST__BODY_PUT;
        req->put = put;
        if (cl->seq % 4 == 0)
            s_as_txn(req, put, txn);
    }
}

/*  An attempt at the current operation, on node (a new one after a timeout). */
static void s_attempt(ns_world_t *w, ns_client_t *cl, uint32_t node)
{
    cl->node = node;
    cl->attempts++;
    cl->attempt_at = w->now + NS_ATTEMPT_MS;
    ns_node_t *n = &w->nodes[node - 1];
    if (!n->up)
        return; /* as if the connection were refused: the timeout moves on */
    Zkv__Request req = ZKV__REQUEST__INIT;
    Zkv__PutRequest put = ZKV__PUT_REQUEST__INIT;
    Zkv__GetRequest get = ZKV__GET_REQUEST__INIT;
    Zkv__OpenSessionRequest open = ZKV__OPEN_SESSION_REQUEST__INIT;
    s_txn_t txn;
    s_request_for(cl, &req, &put, &get, &open, &txn);
    ns_request_send(n, (uint64_t) (cl - w->clients), &req);
}

/* ---------------------------------------------------------------- history */

static void s_record_call(ns_world_t *w, ns_client_t *cl, zkv_lincheck_f_t f)
{
    if (w->n_hist == NS_HISTORY_MAX) {
        cl->hist = SIZE_MAX;
        return;
    }
    ns_hist_t *h = &w->hist[w->n_hist];
    cl->hist = w->n_hist++;
    h->key = cl->key;
    snprintf(h->value, sizeof h->value, "%s", cl->value);
    h->op = (zkv_lincheck_op_t){.f = f,
                                .outcome = ZKV_LINCHECK_INFO,
                                .value = f == ZKV_LINCHECK_PUT ? h->value : NULL,
                                .call_pos = ++w->pos,
                                .process = (int64_t) (cl - w->clients),
                                .call_time_ns = w->now * 1000000,
                                .ret_time_ns = -1};
}

/*  The operation ends: ok with what a get read (NULL: absent), fail, or
    info (a write whose outcome is unknown). */
static void s_done(ns_world_t *w, ns_client_t *cl, zkv_lincheck_outcome_t outcome, const char *read)
{
    if (cl->kind == NS_OP_OPEN)
        cl->session = outcome == ZKV_LINCHECK_OK;
    else if (cl->hist != SIZE_MAX) {
        ns_hist_t *h = &w->hist[cl->hist];
        h->op.outcome = outcome;
        if (outcome != ZKV_LINCHECK_INFO) {
            h->op.ret_pos = ++w->pos;
            h->op.ret_time_ns = w->now * 1000000;
        }
        if (cl->kind == NS_OP_GET && outcome == ZKV_LINCHECK_OK) {
            snprintf(h->value, sizeof h->value, "%s", read ? read : "");
            h->op.value = read ? h->value : NULL;
        }
    }
    if (cl->seq) /* answered or abandoned: not awaited any more */
        cl->first_unacked = cl->seq + 1;
    w->stats->ops += cl->kind != NS_OP_OPEN;
    w->stats->info += outcome == ZKV_LINCHECK_INFO;
    w->stats->ok_writes += cl->kind == NS_OP_PUT && outcome == ZKV_LINCHECK_OK;
    cl->kind = NS_OP_NONE;
    cl->idle_until = w->now + (int64_t) ns_random(w, 30);
}

/* ---------------------------------------------------------------- replies */

/*  The node forgot the client's session (more clients than it keeps): the
    write was refused; an earlier attempt may have applied, so it may not be
    retried in a new session. The client goes on under a new id, as the
    client library does. */
static void s_session_expired(ns_world_t *w, ns_client_t *cl)
{
    bool tried_before = cl->attempts > 1;
    s_done(w, cl, tried_before ? ZKV_LINCHECK_INFO : ZKV_LINCHECK_FAIL, NULL);
    cl->session = false;
    cl->id = s_client_id((int) (cl - w->clients), ++cl->generation);
    cl->next_seq = cl->first_unacked = 1;
}

static void s_read_done(ns_world_t *w, ns_client_t *cl, const Zkv__Response *r)
{
    char value[32] = "";
    snprintf(value, sizeof value, "%.*s", (int) r->value.len, (const char *) r->value.data);
    s_done(w, cl, ZKV_LINCHECK_OK, r->status == ZKV__STATUS__OK ? value : NULL);
}

/*  What the client actor answered to the current operation of cl. */
static void s_response(ns_world_t *w, ns_client_t *cl, const Zkv__Response *r)
{
    bool write = cl->kind != NS_OP_GET;
    if (write && r->status == ZKV__STATUS__OK && cl->kind == NS_OP_PUT &&
        (r->client_id != cl->id || r->sequence != cl->seq))
        ns_fail(w, "client %" PRIx64 " seq %" PRIu64 " answered for write %" PRIx64 "/%" PRIu64,
                cl->id, cl->seq, r->client_id, r->sequence);
    else if (r->status == ZKV__STATUS__OK && write && cl->kind == NS_OP_PUT && cl->seq % 4 == 0 &&
             !r->succeeded)
        ns_fail(w,
                "client %" PRIx64 " seq %" PRIu64 ": a transaction whose compare holds "
                "answered failed",
                cl->id, cl->seq);
    else if (r->status == ZKV__STATUS__OK && write)
        s_done(w, cl, ZKV_LINCHECK_OK, NULL);
    else if (!write && (r->status == ZKV__STATUS__OK || r->status == ZKV__STATUS__NOT_FOUND))
        s_read_done(w, cl, r);
    else if (r->status == ZKV__STATUS__SESSION_EXPIRED && cl->kind == NS_OP_PUT)
        s_session_expired(w, cl);
    else if (r->status == ZKV__STATUS__NOT_LEADER || r->status == ZKV__STATUS__UNAVAILABLE ||
             r->status == ZKV__STATUS__TIMEOUT)
        cl->attempt_at = w->now; /* elsewhere, at once; a write keeps its sequence */
    else
        ns_fail(w, "client %" PRIx64 ": request %" PRIu64 " answered %d: %s", cl->id, r->request_id,
                r->status, r->error);
}

void ns_client_reply(ns_world_t *w, ns_node_t *n, zframe_t *routing, zframe_t *body)
{
    uint64_t who = 0;
    Zkv__Response *r = zkv__response__unpack(NULL, zframe_size(body), zframe_data(body));
    if (zframe_size(routing) != sizeof who || !r) {
        ns_fail(w, "node %u answered a client with %s", n->id,
                r ? "a bad routing id" : "something that is not a zkv.Response");
        zkv__response__free_unpacked(r, NULL);
        return;
    }
    memcpy(&who, zframe_data(routing), sizeof who);
    if (who == NS_LEASE_ROUTING) {
        ns_lease_reply(w, r);
    } else if (who & NS_SESSIONLESS) {
        if (r->status == ZKV__STATUS__OK)
            ns_fail(w,
                    "client %" PRIx64 " has no session, yet node %u acknowledged its write "
                    "%" PRIu64,
                    r->client_id, n->id, r->sequence);
    } else if (who < NS_CLIENTS) {
        ns_client_t *cl = &w->clients[who];
        /* An answer to an attempt of the current operation (a later one may
           have gone elsewhere): any of them ends it. */
        if (cl->kind != NS_OP_NONE && r->request_id == cl->op_id)
            s_response(w, cl, r);
    }
    zkv__response__free_unpacked(r, NULL);
}

/*  What the node's actors tell its client actor, seen on the way: which
    node leads, and every write's effect (however often it was committed,
    one log index per write on every node; none for a client without a
    session). */
void ns_client_actor_sees(ns_world_t *w, ns_node_t *n, const zkv_msg_t *msg)
{
    if (msg->type == ZKV_MSG_STATE)
        n->leads = msg->state.role == ZKV_RAFT_LEADER;
    if (msg->type != ZKV_MSG_RESULTS)
        return;
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    zkv_write_result_t r;
    while (zkv_unpack_result(&in, &r) == 1) {
        if (r.status == ZKV_OK && (r.client_id & NS_SESSIONLESS))
            ns_fail(w,
                    "client %" PRIx64 " has no session, yet its write %" PRIu64
                    " took effect at %" PRIu64,
                    r.client_id, r.sequence, r.index);
        if (r.status == ZKV_OK && r.sequence)
            s_check_effect(w, &r);
    }
}

/* ---------------------------------------------------------------- acting */

static void s_start(ns_world_t *w, ns_client_t *cl)
{
    cl->key = (int) ns_random(w, NS_KEYS);
    cl->op_id = ++w->next_op;
    cl->seq = 0;
    cl->attempts = 0;
    cl->deadline = w->now + NS_DEADLINE_MS;
    if (!cl->session)
        cl->kind = NS_OP_OPEN;
    else if (ns_random(w, 100) < 55) {
        cl->kind = NS_OP_PUT;
        cl->seq = cl->next_seq++;
        snprintf(cl->value, sizeof cl->value, "c%u-%" PRIu64, (unsigned) (cl - w->clients),
                 cl->seq);
        s_record_call(w, cl, ZKV_LINCHECK_PUT);
    } else {
        cl->kind = NS_OP_GET;
        cl->value[0] = 0;
        s_record_call(w, cl, ZKV_LINCHECK_GET);
    }
    /* Half the reads go to any node: a follower asks its leader (§6.4). */
    bool anywhere = cl->kind == NS_OP_GET && ns_random(w, 2);
    s_attempt(w, cl, anywhere ? s_pick_up(w) : s_pick_node(w, 0));
}

void ns_clients_step(ns_world_t *w)
{
    ns_client_t *cl = &w->clients[ns_random(w, NS_CLIENTS)];
    if (cl->kind == NS_OP_NONE) {
        if (!w->clients_stop && w->now >= cl->idle_until)
            s_start(w, cl);
    } else if (w->now >= cl->deadline)
        s_done(w, cl, cl->kind == NS_OP_GET ? ZKV_LINCHECK_FAIL : ZKV_LINCHECK_INFO, NULL);
    else if (w->now >= cl->attempt_at) /* a write keeps its sequence: applied once */
        s_attempt(w, cl, s_pick_node(w, cl->node));
}

void ns_clients_burst(ns_world_t *w, ns_node_t *n, uint32_t writes)
{
    uint64_t id = NS_SESSIONLESS | ++w->stats->bursts;
    for (uint32_t i = 0; i < writes; i++) {
        Zkv__Request req = ZKV__REQUEST__INIT;
        Zkv__PutRequest put = ZKV__PUT_REQUEST__INIT;
        const char *key = s_keys[ns_random(w, NS_KEYS)];
        put.key = (ProtobufCBinaryData){strlen(key), (uint8_t *) key};
        put.value = (ProtobufCBinaryData){5, (uint8_t *) "burst"};
        req.client_id = id;
        req.sequence = i + 1;
        req.first_unacked = 1;
        req.request_id = i + 1;
        req.body_case = ZKV__REQUEST__BODY_PUT;
        req.put = &put;
        ns_request_send(n, id, &req);
    }
    w->stats->burst_writes += writes;
    ns_note(w, "node %u gets %u writes of client %" PRIx64 ", which has no session", n->id, writes,
            id);
}

bool ns_clients_idle(const ns_world_t *w)
{
    for (int c = 0; c < NS_CLIENTS; c++)
        if (w->clients[c].kind != NS_OP_NONE)
            return false;
    return true;
}

/* ---------------------------------------------------------------- the check */

/*  The converged state read as a last operation on every key, then each
    key's history must be linearizable. */
int ns_history_check(ns_world_t *w, const zkv_kvstore_t *final)
{
    size_t n = w->n_hist;
    zkv_lincheck_op_t *ops = calloc(n + 1, sizeof *ops);
    char value[NS_KEYS][64];
    int rc = 0;
    for (int k = 0; k < NS_KEYS && rc == 0; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (w->hist[i].key == k)
                ops[m++] = w->hist[i].op;
        zkv_bytes_t got;
        zkv_btree_t *tree = zkv_kvstore_tree((zkv_kvstore_t *) final);
        bool found = zkv_btree_get(tree, s_keys[k], strlen(s_keys[k]), &got) == ZKV_OK;
        snprintf(value[k], sizeof value[k], "%.*s", found ? (int) got.size : 0,
                 found ? (const char *) got.data : "");
        uint64_t call = ++w->pos;
        ops[m++] = (zkv_lincheck_op_t){.f = ZKV_LINCHECK_GET,
                                       .outcome = ZKV_LINCHECK_OK,
                                       .value = found ? value[k] : NULL,
                                       .call_pos = call,
                                       .ret_pos = ++w->pos,
                                       .process = -1,
                                       .call_time_ns = w->now * 1000000,
                                       .ret_time_ns = w->now * 1000000};
        zkv_lincheck_result_t *result = NULL;
        if (zkv_lincheck_check(ops, m, NULL, &result) != 0) {
            ns_fail(w, "key %s: the history cannot be checked", s_keys[k]);
            rc = -1;
        } else if (zkv_lincheck_result_verdict(result) != ZKV_LINCHECK_LINEARIZABLE) {
            char *report = zkv_lincheck_result_describe(result, ops, m);
            ns_fail(w, "key %s: %s: %.700s", s_keys[k],
                    zkv_lincheck_verdict_name(zkv_lincheck_result_verdict(result)),
                    report ? report : "");
            free(report);
            rc = -1;
        }
        zkv_lincheck_result_destroy(&result);
    }
    free(ops);
    return rc;
}
