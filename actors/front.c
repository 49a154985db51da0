/*  front: the client actor's handler (front.h). */
#include "front.h"

#include <assert.h>
#include <inttypes.h>

#include "btree.h"
#include "command.h"
#include "front_acl.h"
#include "front_lease.h"
#include "inproc.h"
#include "le.h"
#include "membership.h"
#include "raft.h"
#include "response.h"
#include "zkv.pb-c.h"
#include "zkv.h"
#include "zkv_error.h"

/*  libzkv's writes in flight per client fit the results a session keeps. */
_Static_assert(ZKV_CLIENT_WINDOW <= ZKV_SESSION_WINDOW, "client write window exceeds the node's");

#define CLIENT_REQUEST_TIMEOUT_MS 3000 /* then TIMEOUT: the outcome is unknown */
#define CLIENT_PENDING_MAX 100000      /* requests in flight before UNAVAILABLE */
#define CLIENT_CONN_PENDING_MAX 4096   /* the same from one connection */
/*  Replies held for clients (in libzmq, not yet written to the kernel), for
    one connection and for all; past either a reply is shed and the client
    times out and retries. The high-water mark bounds the count of small
    ones: past it the ROUTER drops. */
#define CLIENT_CONN_REPLY_BYTES_MAX (64u * 1024 * 1024)
#define CLIENT_REPLY_BYTES_MAX (256u * 1024 * 1024)

/*  What a pending request is found by: a write by client id and sequence, a
    read by its context (second half 0). The tables keep a pointer to the
    key inside the request, so nothing is formatted or copied per request. */
typedef struct {
    uint64_t a;
    uint64_t b;
} pending_key_t;

typedef struct {
    pending_key_t key;
    zframe_t *routing;
    zkv_reply_conn_t *conn; /* counts this request as pending */
    uint64_t request_id;
    int64_t started_ms;
    uint64_t started_ns; /* for the latency metric only */
    uint64_t client_id;
    uint64_t sequence;
    uint32_t op;      /* the request's body case */
    bool name_leader; /* a linearizable read on a follower: say where the leader is */
} pending_t;

struct zkv_front_t {
    zkv_port_t port;
    zkv_tracer_t *tracer; /* borrowed; NULL: none */
    zkv_config_t config;
    zhashx_t *writes; /* (client id, sequence) -> pending_t */
    zhashx_t *reads;  /* (context, 0) -> pending_t */
    zkv_reply_queue_t *replies;
    uint64_t shed_told; /* replies shed, as last traced */
    uint64_t next_context;
    zkv_packer_t batch; /* commands proposed together at the end of this round */
    /* From the replication actor's STATE and MEMBERS. */
    uint64_t role, term, leader, commit, applied;
    zkv_membership_t members; /* in effect; --peers until told */
    uint64_t keys;
    int64_t next_sweep_ms;
    zkv_front_leases_t *leases;
    zkv_acl_t *acl; /* --acl's rules; NULL: every client may do everything */
    /* The request being handled: when it came, and whether it was answered
       at once (then with sent_status); for metrics. */
    uint64_t arrival_ns;
    uint64_t sent;
    Zkv__Status sent_status;
};

typedef zkv_front_t client_t;

static int64_t s_now(const client_t *self)
{
    return self->port.now_ms(self->port.ctx);
}

static void s_pending_destroy(void **item)
{
    pending_t *p = *item;
    zkv_reply_conn_release(p->conn);
    zframe_destroy(&p->routing);
    free(p);
    *item = NULL;
}

/*  now: the clock the sweep reads; started_ns: the request's arrival, for its latency. */
static pending_t *s_pending_new(int64_t now, uint64_t started_ns, pending_key_t key,
                                zframe_t *routing, zkv_reply_conn_t *conn, const Zkv__Request *req)
{
    pending_t *p = zmalloc(sizeof *p);
    p->key = key;
    p->routing = zframe_dup(routing);
    p->conn = conn;
    zkv_reply_conn_hold(conn);
    p->request_id = req->request_id;
    p->started_ms = now;
    p->started_ns = started_ns;
    p->client_id = req->client_id;
    p->sequence = req->sequence;
    p->op = (uint32_t) req->body_case;
    return p;
}

static size_t s_key_hash(const void *key)
{
    const pending_key_t *k = key;
    uint64_t h = (k->a ^ (k->b * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
    return (size_t) (h ^ (h >> 31));
}

static int s_key_compare(const void *x, const void *y)
{
    const pending_key_t *a = x, *b = y;
    return a->a != b->a ? (a->a < b->a ? -1 : 1) : a->b != b->b ? (a->b < b->b ? -1 : 1) : 0;
}

static zhashx_t *s_pending_table(void)
{
    zhashx_t *table = zhashx_new();
    if (table) {
        zhashx_set_key_hasher(table, s_key_hash);
        zhashx_set_key_comparator(table, s_key_compare);
        zhashx_set_key_duplicator(table, NULL);
        zhashx_set_key_destructor(table, NULL);
        zhashx_set_destructor(table, s_pending_destroy);
    }
    return table;
}

/*  Add p, replacing (and destroying) an entry with the same key: the new
    one holds the key the table points to. */
static void s_pending_put(zhashx_t *table, pending_t *p)
{
    zhashx_delete(table, &p->key);
    zhashx_insert(table, &p->key, p);
}

/*  A request answered: counted by operation and status, its latency observed. */
static void s_count(client_t *self, uint32_t op, Zkv__Status status, uint64_t started_ns)
{
    zkv_metrics_t *m = self->port.metrics;
    uint32_t o = op < ZKV_METRICS_OPS ? op : 0;
    uint32_t st = (uint32_t) status < ZKV_METRICS_STATUSES ? (uint32_t) status : 0;
    zkv_metric_add(&m->client.requests[o][st], 1);
    zkv_hist_since(&m->client.latency[o], started_ns);
}

static void s_count_pending(client_t *self, const pending_t *p)
{
    s_count(self, p->op, self->sent_status, p->started_ns);
}

static void s_send(client_t *self, zframe_t *routing, zframe_t *body, Zkv__Status status)
{
    self->sent++;
    self->sent_status = status;
    if (body)
        self->port.reply(self->port.ctx, routing, &body);
    zframe_destroy(&body); /* a reply the shell did not take */
}

#define LEADER_ENDPOINT_SIZE (ZKV_HOST_SIZE_MAX + 32)

/*  The leader's client endpoint in out; false (out empty) when none is known. */
static bool s_leader_endpoint(const client_t *self, char out[LEADER_ENDPOINT_SIZE])
{
    const zkv_member_t *leader = zkv_membership_find(&self->members, (uint32_t) self->leader);
    out[0] = 0;
    if (leader)
        zkv_member_endpoint(leader, leader->client_port, out, LEADER_ENDPOINT_SIZE);
    return leader != NULL;
}

static void s_reply_status(client_t *self, zframe_t *routing, const Zkv__Request *req,
                           Zkv__Status status, const char *error)
{
    Zkv__Response r = ZKV__RESPONSE__INIT;
    r.status = status;
    r.error = (char *) (error ? error : "");
    if (req) {
        r.client_id = req->client_id;
        r.sequence = req->sequence;
        r.request_id = req->request_id;
    }
    char endpoint[LEADER_ENDPOINT_SIZE] = "";
    if (status == ZKV__STATUS__NOT_LEADER)
        s_leader_endpoint(self, endpoint);
    r.leader_endpoint = endpoint;
    s_send(self, routing, zkv_response_frame(&r), status);
}

static void s_not_leader(client_t *self, zframe_t *routing, const Zkv__Request *req)
{
    s_reply_status(self, routing, req, ZKV__STATUS__NOT_LEADER,
                   self->leader ? "not the leader" : "no leader known; retry");
}

/* ---------------------------------------------------------------- validation */

static bool s_check_key(client_t *self, zframe_t *routing, const Zkv__Request *req,
                        ProtobufCBinaryData key)
{
    if (key.len <= ZKV_KEY_SIZE_MAX)
        return true;
    s_reply_status(self, routing, req, ZKV__STATUS__KEY_TOO_LARGE, "key larger than 4096 bytes");
    return false;
}

static bool s_check_value(client_t *self, zframe_t *routing, const Zkv__Request *req,
                          ProtobufCBinaryData value)
{
    if (value.len <= ZKV_VALUE_SIZE_MAX)
        return true;
    s_reply_status(self, routing, req, ZKV__STATUS__VALUE_TOO_LARGE,
                   "value larger than 1048576 bytes");
    return false;
}

static bool s_check_txn(client_t *self, zframe_t *routing, const Zkv__Request *req)
{
    const char *why = "";
    int rc = zkv_command_check_txn(req->txn, &why);
    if (rc == ZKV_OK)
        return true;
    char text[128];
    snprintf(text, sizeof text, "transaction refused: %s", why);
    s_reply_status(self, routing, req, zkv_status_from_error(rc), text);
    return false;
}

static bool s_check_lease(client_t *self, zframe_t *routing, const Zkv__Request *req)
{
    const char *why = NULL;
    if (req->body_case == ZKV__REQUEST__BODY_LEASE_GRANT &&
        (req->lease_grant->ttl == 0 || req->lease_grant->ttl > ZKV_LEASE_TTL_MAX))
        why = "a lease's ttl is 1 to 31536000 seconds";
    else if ((req->body_case == ZKV__REQUEST__BODY_LEASE_REVOKE && !req->lease_revoke->id) ||
             (req->body_case == ZKV__REQUEST__BODY_LEASE_KEEPALIVE && !req->lease_keepalive->id))
        why = "no lease id";
    if (!why)
        return true;
    s_reply_status(self, routing, req, ZKV__STATUS__BAD_REQUEST, why);
    return false;
}

/*  Sizes and shape of a request, before anything is done with it. */
static bool s_validate(client_t *self, zframe_t *routing, const Zkv__Request *req)
{
    switch (req->body_case) {
    case ZKV__REQUEST__BODY_GET: return s_check_key(self, routing, req, req->get->key);
    case ZKV__REQUEST__BODY_PUT:
        return s_check_key(self, routing, req, req->put->key) &&
               s_check_value(self, routing, req, req->put->value);
    case ZKV__REQUEST__BODY_DELETE:
        return s_check_key(self, routing, req, req->delete_->key) &&
               s_check_key(self, routing, req, req->delete_->end);
    case ZKV__REQUEST__BODY_TXN: return s_check_txn(self, routing, req);
    case ZKV__REQUEST__BODY_WATCH:
        return s_check_key(self, routing, req, req->watch->key) &&
               s_check_key(self, routing, req, req->watch->end);
    case ZKV__REQUEST__BODY_LEASE_GRANT:
    case ZKV__REQUEST__BODY_LEASE_REVOKE:
    case ZKV__REQUEST__BODY_LEASE_KEEPALIVE:
    case ZKV__REQUEST__BODY_LEASE_LIST: return s_check_lease(self, routing, req);
    case ZKV__REQUEST__BODY_CAS:
        return s_check_key(self, routing, req, req->cas->key) &&
               s_check_value(self, routing, req, req->cas->value) &&
               s_check_value(self, routing, req, req->cas->expected);
    case ZKV__REQUEST__BODY_SCAN:
        return s_check_key(self, routing, req, req->scan->prefix) &&
               s_check_key(self, routing, req, req->scan->start) &&
               s_check_key(self, routing, req, req->scan->end);
    case ZKV__REQUEST__BODY_STATUS:
    case ZKV__REQUEST__BODY_DIGEST:
    case ZKV__REQUEST__BODY_SNAPSHOT: return true;
    case ZKV__REQUEST__BODY_OPEN_SESSION:
    case ZKV__REQUEST__BODY_CLOSE_SESSION:
        if (req->client_id != 0 && req->sequence == 0)
            return true;
        s_reply_status(self, routing, req, ZKV__STATUS__BAD_REQUEST,
                       "a session request needs a client id and no sequence");
        return false;
    case ZKV__REQUEST__BODY_MEMBER_LIST:
    case ZKV__REQUEST__BODY_MEMBER_PROMOTE:
    case ZKV__REQUEST__BODY_MEMBER_REMOVE:
    case ZKV__REQUEST__BODY_MOVE_LEADER: return true;
    case ZKV__REQUEST__BODY_MEMBER_ADD:
        if (req->member_add->member && req->member_add->member->host)
            return true;
        s_reply_status(self, routing, req, ZKV__STATUS__BAD_REQUEST,
                       "member add needs a member with an id, a host and three ports");
        return false;
    default:
        s_reply_status(self, routing, req, ZKV__STATUS__BAD_REQUEST, "unknown request type");
        return false;
    }
}

/* ---------------------------------------------------------------- requests */

/*  The connection to count a new pending request on, or NULL when it may
    not have one more (answered UNAVAILABLE). */
static zkv_reply_conn_t *s_admit(client_t *self, zframe_t *routing, const Zkv__Request *req)
{
    const char *why = "too many requests in flight";
    zkv_reply_conn_t *conn = NULL;
    if (zhashx_size(self->writes) + zhashx_size(self->reads) < CLIENT_PENDING_MAX) {
        conn = zkv_reply_queue_conn(self->replies, routing);
        why = conn ? "too many requests in flight from this client" : "out of memory";
    }
    if (conn && zkv_reply_conn_pending(conn) < CLIENT_CONN_PENDING_MAX)
        return conn;
    s_reply_status(self, routing, req, ZKV__STATUS__UNAVAILABLE, why);
    return NULL;
}

/*  The log command of a write request: the same body, borrowed. */
static void s_command_body(const Zkv__Request *req, Zkv__Command *cmd)
{
    switch (req->body_case) {
    case ZKV__REQUEST__BODY_PUT:
        cmd->op_case = ZKV__COMMAND__OP_PUT;
        cmd->put = req->put;
        break;
    case ZKV__REQUEST__BODY_DELETE:
        cmd->op_case = ZKV__COMMAND__OP_DELETE;
        cmd->delete_ = req->delete_;
        break;
    case ZKV__REQUEST__BODY_OPEN_SESSION:
        cmd->op_case = ZKV__COMMAND__OP_OPEN_SESSION;
        cmd->open_session = req->open_session;
        break;
    case ZKV__REQUEST__BODY_CLOSE_SESSION:
        cmd->op_case = ZKV__COMMAND__OP_CLOSE_SESSION;
        cmd->close_session = req->close_session;
        break;
    case ZKV__REQUEST__BODY_TXN:
        cmd->op_case = ZKV__COMMAND__OP_TXN;
        cmd->txn = req->txn;
        break;
    case ZKV__REQUEST__BODY_LEASE_GRANT:
        cmd->op_case = ZKV__COMMAND__OP_LEASE_GRANT;
        cmd->lease_grant = req->lease_grant;
        break;
    case ZKV__REQUEST__BODY_LEASE_REVOKE:
        cmd->op_case = ZKV__COMMAND__OP_LEASE_REVOKE;
        cmd->lease_revoke = req->lease_revoke;
        break;
    case ZKV__REQUEST__BODY_LEASE_KEEPALIVE:
        cmd->op_case = ZKV__COMMAND__OP_LEASE_KEEPALIVE;
        cmd->lease_keepalive = req->lease_keepalive;
        break;
    default:
        assert(req->body_case == ZKV__REQUEST__BODY_CAS);
        cmd->op_case = ZKV__COMMAND__OP_CAS;
        cmd->cas = req->cas;
    }
}

static void s_write(client_t *self, zframe_t *routing, const Zkv__Request *req)
{
    bool session = req->body_case == ZKV__REQUEST__BODY_OPEN_SESSION ||
                   req->body_case == ZKV__REQUEST__BODY_CLOSE_SESSION;
    /* Malformed on any node: not worth a redirect to the leader. */
    if (!session && req->client_id != 0 && req->sequence == 0) {
        s_reply_status(self, routing, req, ZKV__STATUS__BAD_REQUEST,
                       "a write with a client id needs a sequence from 1");
        return;
    }
    if (self->role != ZKV_RAFT_LEADER) {
        s_not_leader(self, routing, req);
        return;
    }
    zkv_reply_conn_t *conn = s_admit(self, routing, req);
    if (!conn)
        return;
    Zkv__Command cmd = ZKV__COMMAND__INIT;
    cmd.client_id = req->client_id;
    cmd.sequence = req->sequence;
    cmd.first_unacked = req->first_unacked;
    s_command_body(req, &cmd);
    uint64_t min_ttl = zkv_front_leases_min_ttl(self->leases);
    if (cmd.op_case == ZKV__COMMAND__OP_LEASE_GRANT && cmd.lease_grant->ttl < min_ttl)
        cmd.lease_grant->ttl = min_ttl; /* as etcd does: a lease outlives an election */
    /* Keys and values are within their limits, but unknown fields of the
       request ride along: one command over the entry limit would make the
       core refuse the whole batch. */
    size_t size = zkv__command__get_packed_size(&cmd);
    if (size > ZKV_ENTRY_SIZE_MAX) {
        s_reply_status(self, routing, req, ZKV__STATUS__BAD_REQUEST, "command too large");
        return;
    }
    uint8_t *packed = zkv_pack_record(&self->batch, size);
    if (!packed) {
        s_reply_status(self, routing, req, ZKV__STATUS__UNAVAILABLE, "out of memory");
        return;
    }
    zkv__command__pack(&cmd, packed);
    /* A retry replaces the earlier pending entry: answer where the client is now. */
    pending_key_t key = {req->client_id, req->sequence};
    s_pending_put(self->writes,
                  s_pending_new(s_now(self), self->arrival_ns, key, routing, conn, req));
}

static bool s_linearizable(const Zkv__Request *req)
{
    if (req->body_case == ZKV__REQUEST__BODY_DIGEST ||
        req->body_case == ZKV__REQUEST__BODY_SNAPSHOT || req->body_case == ZKV__REQUEST__BODY_WATCH)
        return false; /* a digest, a backup or a history: this node's own state */
    Zkv__Consistency c =
        req->body_case == ZKV__REQUEST__BODY_GET ? req->get->consistency : req->scan->consistency;
    return c != ZKV__CONSISTENCY__SERIALIZABLE;
}

static void s_read(client_t *self, zframe_t *routing, zframe_t *body, const Zkv__Request *req)
{
    bool linearizable = s_linearizable(req);
#if ZKV_NODE_PLANTED_BUG == 1
    /* TEST-ONLY planted bug (zkvd_planted_stale_reads, ctest fault_planted_stale_reads;
       sim_node_planted_local_reads):
       serve linearizable reads from this node's own state, on any node, without
       ReadIndex. The fault test's checker must catch the stale reads this allows. */
    linearizable = false;
#endif
    /* A follower asks its leader for a read index (§6.4); without a leader
       known the client is better off elsewhere. */
    if (linearizable && self->role != ZKV_RAFT_LEADER &&
        (self->role != ZKV_RAFT_FOLLOWER || !self->leader)) {
        s_not_leader(self, routing, req);
        return;
    }
    zkv_reply_conn_t *conn = s_admit(self, routing, req);
    if (!conn)
        return;
    uint64_t context = ++self->next_context;
    pending_key_t key = {context, 0};
    pending_t *p = s_pending_new(s_now(self), self->arrival_ns, key, routing, conn, req);
    p->name_leader = linearizable && self->role != ZKV_RAFT_LEADER;
    s_pending_put(self->reads, p);
    zkv_msg_t msg = {.body = zframe_dup(body)};
    if (linearizable) {
        msg.type = ZKV_MSG_READ;
        msg.read.context = context;
    } else {
        msg.type = req->body_case == ZKV__REQUEST__BODY_SNAPSHOT ? ZKV_MSG_BACKUP : ZKV_MSG_SERVE;
        msg.serve.context = context;
    }
    zkv_actor_id_t to = linearizable                                 ? ZKV_ACTOR_REPLICATION
                        : req->body_case == ZKV__REQUEST__BODY_WATCH ? ZKV_ACTOR_WATCH
                                                                     : ZKV_ACTOR_STORAGE;
    zkv_port_send(&self->port, to, &msg);
}

static void s_status(client_t *self, zframe_t *routing, const Zkv__Request *req)
{
    static const char *roles[] = {"follower", "pre-candidate", "candidate", "leader"};
    Zkv__Response r = ZKV__RESPONSE__INIT;
    Zkv__MemberStatus me = ZKV__MEMBER_STATUS__INIT;
    r.status = ZKV__STATUS__OK;
    r.request_id = req->request_id;
    const zkv_member_t *self_member = zkv_config_member(&self->config, self->config.id);
    char endpoint[ZKV_HOST_SIZE_MAX + 32];
    snprintf(endpoint, sizeof endpoint, "tcp://%s:%u", self_member->host, self_member->client_port);
    me.id = self->config.id;
    me.client_endpoint = endpoint;
    me.role = (char *) (self->role < 4 ? roles[self->role] : "unknown");
    me.term = self->term;
    me.commit_index = self->commit;
    me.applied_index = self->applied;
    me.leader_id = (uint32_t) self->leader;
    me.keys = self->keys;
    r.member = &me;
    Zkv__MemberStatus others[2 * ZKV_MEMBERS_MAX];
    Zkv__MemberStatus *ptrs[2 * ZKV_MEMBERS_MAX];
    char endpoints[2 * ZKV_MEMBERS_MAX][ZKV_HOST_SIZE_MAX + 32];
    for (size_t i = 0; i < self->members.count; i++) {
        const zkv_member_t *m = &self->members.members[i];
        zkv__member_status__init(&others[i]);
        zkv_member_endpoint(m, m->client_port, endpoints[i], sizeof endpoints[i]);
        others[i].id = m->id;
        others[i].client_endpoint = endpoints[i];
        others[i].role = (char *) (m->learner ? "learner" : "voter");
        ptrs[i] = &others[i];
    }
    r.n_members = self->members.count;
    r.members = ptrs;
    s_send(self, routing, zkv_response_frame(&r), r.status);
}

/*  Membership and leadership requests go to the replication actor, which
    answers with a REPLY (a change once it is committed). Only the leader
    changes anything; any node lists its view. */
static void s_admin(client_t *self, zframe_t *routing, zframe_t *body, const Zkv__Request *req)
{
    if (req->body_case != ZKV__REQUEST__BODY_MEMBER_LIST && self->role != ZKV_RAFT_LEADER) {
        s_not_leader(self, routing, req);
        return;
    }
    zkv_reply_conn_t *conn = s_admit(self, routing, req);
    if (!conn)
        return;
    uint64_t context = ++self->next_context;
    pending_key_t key = {context, 0};
    s_pending_put(self->reads,
                  s_pending_new(s_now(self), self->arrival_ns, key, routing, conn, req));
    zkv_msg_t msg = {.type = ZKV_MSG_ADMIN, .admin.context = context, .body = zframe_dup(body)};
    zkv_port_send(&self->port, ZKV_ACTOR_REPLICATION, &msg);
}

/*  Served by the leader, whose reckoning of expiry is the one that acts. */
static void s_lease_list(client_t *self, zframe_t *routing, const Zkv__Request *req)
{
    if (self->role != ZKV_RAFT_LEADER) {
        s_not_leader(self, routing, req);
        return;
    }
    Zkv__Response r = ZKV__RESPONSE__INIT;
    r.client_id = req->client_id;
    r.request_id = req->request_id;
    r.revision = self->applied;
    zkv_front_leases_list(self->leases, &r, s_now(self));
    s_send(self, routing, zkv_response_frame(&r), r.status);
}

/*  The client's key, as the auth actor named it, may make this request. */
static bool s_authorize(client_t *self, zframe_t *routing, zframe_t *body, const Zkv__Request *req)
{
    const char *user = self->acl ? zframe_meta(body, "User-Id") : NULL;
    const char *what = "";
    if (zkv_front_acl_allows(self->acl, user, req, &what))
        return true;
    char text[160];
    snprintf(text, sizeof text, "permission denied: client '%.64s' may not %s this",
             user ? user : "", what);
    s_reply_status(self, routing, req, ZKV__STATUS__PERMISSION_DENIED, text);
    return false;
}

static void s_request(client_t *self, zframe_t *routing, zframe_t *body)
{
    uint64_t sent = self->sent;
    Zkv__Request *req = zkv__request__unpack(NULL, zframe_size(body), zframe_data(body));
    if (!req) {
        s_reply_status(self, routing, NULL, ZKV__STATUS__BAD_REQUEST,
                       "malformed request: not a zkv.Request");
        s_count(self, 0, ZKV__STATUS__BAD_REQUEST, self->arrival_ns);
        return;
    }
    if (s_authorize(self, routing, body, req) && s_validate(self, routing, req)) {
        switch (req->body_case) {
        case ZKV__REQUEST__BODY_PUT:
        case ZKV__REQUEST__BODY_DELETE:
        case ZKV__REQUEST__BODY_CAS:
        case ZKV__REQUEST__BODY_TXN:
        case ZKV__REQUEST__BODY_LEASE_GRANT:
        case ZKV__REQUEST__BODY_LEASE_REVOKE:
        case ZKV__REQUEST__BODY_LEASE_KEEPALIVE:
        case ZKV__REQUEST__BODY_OPEN_SESSION:
        case ZKV__REQUEST__BODY_CLOSE_SESSION: s_write(self, routing, req); break;
        case ZKV__REQUEST__BODY_GET:
        case ZKV__REQUEST__BODY_SCAN:
        case ZKV__REQUEST__BODY_DIGEST:
        case ZKV__REQUEST__BODY_WATCH:
        case ZKV__REQUEST__BODY_SNAPSHOT: s_read(self, routing, body, req); break;
        case ZKV__REQUEST__BODY_STATUS: s_status(self, routing, req); break;
        case ZKV__REQUEST__BODY_LEASE_LIST: s_lease_list(self, routing, req); break;
        default: s_admin(self, routing, body, req); break;
        }
    }
    if (self->sent != sent) /* answered at once */
        s_count(self, (uint32_t) req->body_case, self->sent_status, self->arrival_ns);
    zkv__request__free_unpacked(req, NULL);
}

void zkv_front_request(zkv_front_t *self, zframe_t *routing, zframe_t *body)
{
    self->arrival_ns = zkv_metrics_now_ns();
    if (body)
        s_request(self, routing, body);
    else {
        s_reply_status(self, routing, NULL, ZKV__STATUS__BAD_REQUEST,
                       "malformed request: expected exactly one frame");
        s_count(self, 0, ZKV__STATUS__BAD_REQUEST, self->arrival_ns);
    }
}

/* ---------------------------------------------------------------- results */

static void s_trace_done(client_t *self, const pending_t *p, const char *what, int status)
{
    int64_t ms = s_now(self) - p->started_ms;
    zkv_tracer_emit(self->tracer, "client", self->term, 0, 0, (uint64_t) ms * 1000,
                    "op=%s client=%" PRIx64 " seq=%" PRIu64 " status=%s", what, p->client_id,
                    p->sequence, zkv_strerror(status));
}

static void s_write_result(client_t *self, const zkv_write_result_t *res)
{
    pending_key_t key = {res->client_id, res->sequence};
    pending_t *p = zhashx_lookup(self->writes, &key);
    if (!p)
        return;
    Zkv__Response r = ZKV__RESPONSE__INIT;
    r.client_id = res->client_id;
    r.sequence = res->sequence;
    r.request_id = p->request_id;
    r.status = zkv_status_from_error(res->status);
#if ZKV_NODE_PLANTED_BUG == 5
    /* TEST-ONLY planted bug (sim_node_planted_refused_write_acked): a write
       the state machine refused is answered OK. */
    r.status = ZKV__STATUS__OK;
#endif
    r.error = (char *) (res->status == ZKV_OK ? "" : zkv_strerror(res->status));
    r.found = res->found;
    r.revision = res->index;
    r.deleted = res->count;
    zkv_txn_response_t txn = {0};
    bool lease = res->cmd_type == ZKV_CMD_LEASE_GRANT || res->cmd_type == ZKV_CMD_LEASE_KEEPALIVE;
    if (lease && res->status == ZKV_OK && res->data_size == 8) {
        r.lease_id = res->cmd_type == ZKV_CMD_LEASE_GRANT ? res->count : 0;
        r.ttl = zkv_le64_get(res->data);
        r.deleted = 0;
    } else if (res->cmd_type == ZKV_CMD_TXN && res->status == ZKV_OK) {
        r.succeeded = res->found;
        r.found = false;
        if (zkv_response_txn(&r, res->data, res->data_size, &txn) != ZKV_OK) {
            r.status = ZKV__STATUS__INTERNAL;
            r.error = "transaction results unreadable";
        }
    } else if (res->has_data) {
        r.value.data = (uint8_t *) res->data;
        r.value.len = res->data_size;
    }
    s_send(self, p->routing, zkv_response_frame(&r), r.status);
    s_count_pending(self, p);
    zkv_response_txn_free(&txn);
    s_trace_done(self, p, "write", res->status);
    zhashx_delete(self->writes, &key);
}

static void s_results(client_t *self, const zkv_msg_t *msg)
{
    if (msg->results.applied > self->applied)
        self->applied = msg->results.applied;
    self->keys = msg->results.keys;
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    zkv_write_result_t res;
    for (int rc; (rc = zkv_unpack_result(&in, &res)) != 0;)
        if (rc == 1) /* a bad record is skipped; a bad frame ends at once */
            s_write_result(self, &res);
}

static void s_read_reply(client_t *self, zkv_msg_t *msg)
{
    zkv_metric_add(&self->port.metrics->client.replies_taken_bytes, msg->reply.transit);
    pending_key_t key = {msg->reply.context, 0};
    pending_t *p = zhashx_lookup(self->reads, &key);
    if (!p)
        return;
    Zkv__Status status = msg->body
                             ? zkv_response_status(zframe_data(msg->body), zframe_size(msg->body))
                             : ZKV__STATUS__STATUS_UNSPECIFIED;
    /* Served here, a follower, after a round trip to the leader: a client
       that reads on is better off there. */
    char endpoint[LEADER_ENDPOINT_SIZE];
    if (p->name_leader && msg->body && s_leader_endpoint(self, endpoint))
        msg->body = zkv_response_add_leader(msg->body, endpoint);
    s_send(self, p->routing, msg->body, status); /* takes the frame */
    s_count_pending(self, p);
    msg->body = NULL;
    s_trace_done(self, p, "read", ZKV_OK);
    zhashx_delete(self->reads, &key);
}

static void s_read_failed(client_t *self, uint64_t context, uint64_t status)
{
    pending_key_t key = {context, 0};
    pending_t *p = zhashx_lookup(self->reads, &key);
    if (!p)
        return;
    Zkv__Request req = ZKV__REQUEST__INIT;
    req.request_id = p->request_id;
    if ((int) status == ZKV_ENOTLEADER)
        s_not_leader(self, p->routing, &req);
    else
        s_reply_status(self, p->routing, &req, zkv_status_from_error((int) status),
                       zkv_strerror((int) status));
    s_count_pending(self, p);
    zhashx_delete(self->reads, &key);
}

/*  Proposals the replication actor could not take: answer each now. */
static void s_rejected(client_t *self, const zkv_msg_t *msg)
{
    uint64_t status = msg->rejected.status;
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    const uint8_t *data;
    size_t size;
    while (zkv_unpack_record(&in, &data, &size) == 1) {
        Zkv__Command *cmd = zkv__command__unpack(NULL, size, data);
        if (!cmd)
            continue;
        pending_key_t key = {cmd->client_id, cmd->sequence};
        pending_t *p = zhashx_lookup(self->writes, &key);
        if (p) {
            Zkv__Request req = ZKV__REQUEST__INIT;
            req.request_id = p->request_id;
            req.client_id = p->client_id;
            req.sequence = p->sequence;
            if ((int) status == ZKV_ENOTLEADER)
                s_not_leader(self, p->routing, &req);
            else
                s_reply_status(self, p->routing, &req, ZKV__STATUS__UNAVAILABLE,
                               zkv_strerror((int) status));
            s_count_pending(self, p);
            zhashx_delete(self->writes, &key);
        }
        zkv__command__free_unpacked(cmd, NULL);
    }
}

static void s_members(client_t *self, const zkv_msg_t *msg)
{
    zkv_membership_t m;
    if (msg->body &&
        zkv_membership_decode(zframe_data(msg->body), zframe_size(msg->body), &m) == ZKV_OK &&
        m.count > 0)
        self->members = m;
}

static void s_state(client_t *self, const zkv_msg_t *msg)
{
    self->role = msg->state.role;
    zkv_front_leases_role(self->leases, self->role == ZKV_RAFT_LEADER, s_now(self));
    self->term = msg->state.term;
    self->leader = msg->state.leader;
    self->commit = msg->state.commit;
    if (msg->state.applied > self->applied)
        self->applied = msg->state.applied;
}

void zkv_front_handle(zkv_front_t *self, zkv_msg_t *msg)
{
    switch (msg->type) {
    case ZKV_MSG_STATE: s_state(self, msg); break;
    case ZKV_MSG_READFAIL: s_read_failed(self, msg->readfail.context, msg->readfail.status); break;
    case ZKV_MSG_REJECTED: s_rejected(self, msg); break;
    case ZKV_MSG_RESULTS: s_results(self, msg); break;
    case ZKV_MSG_REPLY: s_read_reply(self, msg); break;
    case ZKV_MSG_MEMBERS: s_members(self, msg); break;
    case ZKV_MSG_LEASES: zkv_front_leases_update(self->leases, msg, s_now(self)); break;
    default: assert(!"not a message for the client actor");
    }
}

/*  Requests that waited too long: the outcome is unknown, the client retries. */
static void s_sweep(client_t *self, zhashx_t *table, int64_t now)
{
    zlistx_t *expired = zlistx_new();
    for (pending_t *p = zhashx_first(table); p; p = zhashx_next(table))
        if (now - p->started_ms > CLIENT_REQUEST_TIMEOUT_MS)
            zlistx_add_end(expired, (void *) zhashx_cursor(table));
    for (const pending_key_t *key = zlistx_first(expired); key; key = zlistx_next(expired)) {
        pending_t *p = zhashx_lookup(table, key);
        Zkv__Request req = ZKV__REQUEST__INIT;
        req.request_id = p->request_id;
        req.client_id = p->client_id;
        req.sequence = p->sequence;
        s_reply_status(self, p->routing, &req, ZKV__STATUS__TIMEOUT,
                       "no result in time; retry with the same client id and sequence");
        s_count_pending(self, p);
        zhashx_delete(table, key);
    }
    zlistx_destroy(&expired);
}

/*  Forget idle connections, give memory back, and say when replies were shed. */
static void s_sweep_replies(client_t *self)
{
    zkv_reply_queue_sweep(self->replies);
    uint64_t shed = zkv_reply_queue_shed(self->replies);
    if (shed == self->shed_told)
        return;
    zkv_tracer_emit(self->tracer, "client", self->term, 0, 0, 0,
                    "replies shed=%" PRIu64 " (over a byte budget) held=%zu connections=%zu",
                    shed - self->shed_told, zkv_reply_queue_bytes(self->replies),
                    zkv_reply_queue_conns(self->replies));
    self->shed_told = shed;
}

/* ---------------------------------------------------------------- lifecycle */

int64_t zkv_front_round(zkv_front_t *self)
{
    zkv_metrics_t *m = self->port.metrics;
    zkv_metric_set(&m->client.in_flight, zhashx_size(self->writes) + zhashx_size(self->reads));
    zkv_metric_set(&m->client.reply_bytes, zkv_reply_queue_bytes(self->replies));
    zkv_metric_set(&m->client.replies_shed, zkv_reply_queue_shed(self->replies));
    int64_t lease_wait = zkv_front_leases_round(self->leases, &self->batch, s_now(self));
    if (self->batch.size) {
        zkv_msg_t propose = {.type = ZKV_MSG_PROPOSE, .body = zkv_packer_frame(&self->batch)};
        zkv_port_send(&self->port, ZKV_ACTOR_REPLICATION, &propose);
    }
    int64_t now = s_now(self);
    if (now >= self->next_sweep_ms) {
        s_sweep(self, self->writes, now);
        s_sweep(self, self->reads, now);
        s_sweep_replies(self);
        self->next_sweep_ms = now + ZKV_FRONT_SWEEP_MS;
    }
    int64_t wait = self->next_sweep_ms > now ? self->next_sweep_ms - now : 0;
    return lease_wait >= 0 && lease_wait < wait ? lease_wait : wait;
}

zkv_reply_queue_t *zkv_front_replies(zkv_front_t *self)
{
    return self->replies;
}

void zkv_front_set_acl(zkv_front_t *self, zkv_acl_t **acl_p)
{
    zkv_acl_destroy(&self->acl);
    self->acl = *acl_p;
    *acl_p = NULL;
}

zkv_front_t *zkv_front_new(const zkv_config_t *config, const zkv_port_t *port, zkv_tracer_t *tracer)
{
    client_t *self = zmalloc(sizeof *self);
    self->port = *port;
    self->tracer = tracer;
    self->config = *config;
    zkv_membership_from_config(config, &self->members);
    self->writes = s_pending_table();
    self->reads = s_pending_table();
    self->replies = zkv_reply_queue_new(CLIENT_CONN_REPLY_BYTES_MAX, CLIENT_REPLY_BYTES_MAX);
    self->next_sweep_ms = s_now(self) + ZKV_FRONT_SWEEP_MS;
    self->leases = zkv_front_leases_new(config);
    if (!self->writes || !self->reads || !self->replies || !self->leases ||
        !zkv_config_member(config, config->id))
        zkv_front_destroy(&self);
    return self;
}

void zkv_front_destroy(zkv_front_t **self_p)
{
    client_t *self = *self_p;
    if (!self)
        return;
    zkv_packer_free(&self->batch);
    zhashx_destroy(&self->writes);
    zhashx_destroy(&self->reads);
    zkv_reply_queue_destroy(&self->replies); /* after the requests that count on it */
    zkv_front_leases_destroy(&self->leases);
    zkv_acl_destroy(&self->acl);
    free(self);
    *self_p = NULL;
}
