/*  nodesim_lease: one client that grants leases, puts keys under them and
    keeps them alive for a while, then lets them lapse, while the nodes
    crash, lose each other and change leaders. Checked: no node's client
    actor proposes the revoke of a lease before its ttl has passed since the
    last keepalive (or grant) acknowledged to the client was sent; replicas
    already must apply the same revokes (the applied entries are compared). */
#include "nodesim_int.h"

#include <inttypes.h>

#include "inproc.h"
#include "zkv.pb-c.h"

#define NS_LEASE_TTL_S 1
#define NS_LEASE_KEEP_MS 300 /* between keepalives while the lease is kept */

typedef enum { L_IDLE, L_GRANT, L_PUT, L_KEEP } s_phase_t;

static ns_lease_t *s_find(ns_world_t *w, uint64_t id)
{
    for (size_t i = 0; i < w->n_leases; i++)
        if (w->leases[i].id == id)
            return &w->leases[i];
    return NULL;
}

/*  A lease the client holds: acknowledged grant or keepalive, sent at. */
static void s_acked(ns_world_t *w, uint64_t id, uint64_t ttl_s, int64_t sent_at)
{
    ns_lease_t *l = s_find(w, id);
    if (!l && w->n_leases < NS_LEASES_MAX) {
        l = &w->leases[w->n_leases++];
        *l = (ns_lease_t){.id = id};
    }
    if (l) {
        l->ttl_s = ttl_s;
        if (sent_at > l->last_sent)
            l->last_sent = sent_at;
    }
}

static void s_request(ns_world_t *w, ns_lease_client_t *lc)
{
    Zkv__Request req = ZKV__REQUEST__INIT;
    Zkv__LeaseGrantRequest grant = ZKV__LEASE_GRANT_REQUEST__INIT;
    Zkv__LeaseKeepAliveRequest keep = ZKV__LEASE_KEEP_ALIVE_REQUEST__INIT;
    Zkv__PutRequest put = ZKV__PUT_REQUEST__INIT;
    char key[8];
    req.request_id = ++w->next_op;
    lc->request_id = req.request_id;
    lc->sent_at = w->now;
    if (lc->phase == L_GRANT) {
        grant.ttl = NS_LEASE_TTL_S;
        req.body_case = ZKV__REQUEST__BODY_LEASE_GRANT;
        req.lease_grant = &grant;
    } else if (lc->phase == L_PUT) {
        snprintf(key, sizeof key, "l%d", (int) ns_random(w, 3));
        put.key = (ProtobufCBinaryData){strlen(key), (uint8_t *) key};
        put.value = (ProtobufCBinaryData){1, (uint8_t *) "v"};
        put.lease = lc->lease;
        req.body_case = ZKV__REQUEST__BODY_PUT;
        req.put = &put;
    } else {
        keep.id = lc->lease;
        req.body_case = ZKV__REQUEST__BODY_LEASE_KEEPALIVE;
        req.lease_keepalive = &keep;
    }
    ns_node_t *n = &w->nodes[ns_random(w, w->opt.nodes)];
    for (uint32_t i = 0; i < w->opt.nodes; i++)
        if (w->nodes[i].up && w->nodes[i].leads)
            n = &w->nodes[i];
    if (n->up)
        ns_request_send(n, NS_LEASE_ROUTING, &req);
}

void ns_lease_step(ns_world_t *w)
{
    ns_lease_client_t *lc = &w->lease_client;
    if (lc->waiting && w->now >= lc->sent_at + NS_ATTEMPT_MS)
        lc->waiting = false; /* no answer: its outcome unknown, go on */
    if (lc->waiting || w->clients_stop || w->now < lc->next_at)
        return;
    if (!lc->lease)
        lc->phase = L_GRANT;
    else if (lc->keeps_left == 0) {
        lc->lease = 0; /* let it lapse: the leader must revoke it, not earlier */
        lc->next_at = w->now + 2000;
        return;
    } else if (ns_random(w, 100) < 30)
        lc->phase = L_PUT;
    else {
        lc->phase = L_KEEP;
        lc->keeps_left--;
    }
    lc->waiting = true;
    lc->next_at = w->now + NS_LEASE_KEEP_MS;
    s_request(w, lc);
}

void ns_lease_reply(ns_world_t *w, const Zkv__Response *r)
{
    ns_lease_client_t *lc = &w->lease_client;
    if (!lc->waiting || r->request_id != lc->request_id)
        return;
    lc->waiting = false;
    if (r->status == ZKV__STATUS__OK && lc->phase == L_GRANT) {
        lc->lease = r->lease_id;
        lc->keeps_left = (uint32_t) ns_random(w, 20);
        s_acked(w, r->lease_id, r->ttl, lc->sent_at);
        w->stats->leases++;
    } else if (r->status == ZKV__STATUS__OK && lc->phase == L_KEEP)
        s_acked(w, lc->lease, r->ttl, lc->sent_at);
    else if (r->status == ZKV__STATUS__LEASE_NOT_FOUND)
        lc->lease = 0; /* revoked: when, the proposal check said */
}

/*  A batch the client actor of n proposes: a revoke by expiry (client id 0)
    must come at least ttl after the last acknowledged keepalive was sent. */
void ns_lease_check_proposal(ns_world_t *w, ns_node_t *n, const zkv_msg_t *msg)
{
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    const uint8_t *data;
    size_t size;
    while (zkv_unpack_record(&in, &data, &size) == 1) {
        Zkv__Command *c = zkv__command__unpack(NULL, size, data);
        if (c && c->op_case == ZKV__COMMAND__OP_LEASE_REVOKE && c->client_id == 0) {
            const ns_lease_t *l = s_find(w, c->lease_revoke->id);
            w->stats->expiries++;
            if (l && w->now < l->last_sent + (int64_t) l->ttl_s * 1000)
                ns_fail(w,
                        "node %u revokes lease %" PRIu64 " at %" PRId64 " ms, a keepalive sent "
                        "at %" PRId64 " ms was acknowledged: its ttl is %" PRIu64 " s",
                        n->id, l->id, w->now, l->last_sent, l->ttl_s);
        }
        if (c)
            zkv__command__free_unpacked(c, NULL);
    }
}
