/*  replication_cluster: membership, cluster id and standing (see the header). */
#include "replication_cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "response.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

/*  Ticks a removed node keeps running so that its last messages (the
    commit of its removal, a TimeoutNow to its successor) leave. */
#define RC_STOP_GRACE_TICKS 5

void zkv_repl_cluster_init(zkv_repl_cluster_t *rc, const zkv_config_t *config, const zkv_fs_t *fs,
                           const zkv_cluster_file_t *file)
{
    memset(rc, 0, sizeof *rc);
    rc->id = config->id;
    rc->election_ticks = config->election_ticks;
    rc->fs = fs;
    snprintf(rc->data_dir, sizeof rc->data_dir, "%s", config->data_dir);
    rc->file = *file;
    zkv_membership_from_config(config, &rc->peers);
}

static void s_save(zkv_repl_cluster_t *rc, zkv_tracer_t *tracer)
{
    int rc_save = zkv_cluster_file_save(rc->fs, rc->data_dir, &rc->file);
    zkv_tracer_emit(tracer, "cluster", 0, rc->config_index, 0, 0,
                    "standing=%s cluster=%016" PRIx64 "%s", zkv_cluster_state_name(rc->file.state),
                    rc->file.cluster_id, rc_save == ZKV_OK ? "" : " (cluster file not written)");
    if (rc_save != ZKV_OK)
        zsys_error("zkvd: cannot write %s/%s", rc->data_dir, ZKV_CLUSTER_FILE_NAME);
}

static void s_stop(zkv_repl_cluster_t *rc, zkv_tracer_t *tracer, const char *why)
{
    if (rc->stop_in || rc->stop)
        return;
    zsys_error("zkvd: %s", why);
    rc->file.state = ZKV_CLUSTER_REMOVED;
    s_save(rc, tracer);
    rc->stop_in = RC_STOP_GRACE_TICKS;
}

/* ---------------------------------------------------------------- replies */

/*  context: the client actor's; request_id: the client's, echoed. */
static void s_reply(zkv_repl_cluster_t *rc, const zkv_raft_t *raft, const zkv_port_t *port,
                    const uint64_t context[2], Zkv__Status status, const char *error)
{
    Zkv__Response r = ZKV__RESPONSE__INIT;
    Zkv__MemberStatus me = ZKV__MEMBER_STATUS__INIT;
    zkv_raft_status_t st;
    zkv_raft_status(raft, &st);
    me.id = rc->id;
    me.role = (char *) zkv_raft_role_name(st.role);
    me.term = st.term;
    me.commit_index = st.commit;
    me.leader_id = st.leader;
    r.member = &me;
    r.request_id = context[1];
    r.status = status;
    r.error = (char *) (error ? error : "");
    r.cluster_id = rc->file.cluster_id;
    r.config_index = rc->config_index;
    size_t size = 0;
    uint8_t *packed = zkv_membership_encode(&rc->current, &size);
    r.config = packed ? zkv__cluster_config__unpack(NULL, size, packed) : NULL;
    free(packed);
    zkv_msg_t msg = {
        .type = ZKV_MSG_REPLY, .reply.context = context[0], .body = zkv_response_frame(&r)};
    if (r.config)
        zkv__cluster_config__free_unpacked(r.config, NULL);
    if (msg.body)
        zkv_port_send(port, ZKV_ACTOR_CLIENT, &msg);
}

static void s_finish(zkv_repl_cluster_t *rc, const zkv_raft_t *raft, const zkv_port_t *port,
                     Zkv__Status status, const char *error)
{
    s_reply(rc, raft, port, rc->context, status, error);
    rc->pending = ZKV_RC_IDLE;
}

/*  A change is done once committed in its term; lost if another entry
    took its index; unknown if leadership went first. */
static void s_check_pending(zkv_repl_cluster_t *rc, const zkv_raft_t *raft, const zkv_port_t *port)
{
    zkv_raft_status_t st;
    zkv_raft_status(raft, &st);
    if (rc->pending == ZKV_RC_MOVE) {
        if (st.leader == rc->target)
            s_finish(rc, raft, port, ZKV__STATUS__OK, NULL);
        else if (st.role != ZKV_RAFT_LEADER && st.leader != ZKV_RAFT_NONE)
            s_finish(rc, raft, port, ZKV__STATUS__UNAVAILABLE, "another node took the lead");
        return;
    }
    if (rc->pending != ZKV_RC_CHANGE)
        return;
    uint64_t term = 0;
    if (st.commit >= rc->index) {
        bool ours = zkv_raft_term_at(raft, rc->index, &term) == ZKV_OK && term == rc->term;
        s_finish(rc, raft, port, ours ? ZKV__STATUS__OK : ZKV__STATUS__UNAVAILABLE,
                 ours ? NULL : "the change was lost in a leader change: check zkv member list");
    } else if (st.role != ZKV_RAFT_LEADER) {
        s_finish(rc, raft, port, ZKV__STATUS__UNAVAILABLE,
                 "leadership changed before the change committed: check zkv member list");
    }
}

/* ---------------------------------------------------------------- Ready */

static void s_tell_members(zkv_repl_cluster_t *rc, const zkv_port_t *port)
{
    size_t size = 0;
    uint8_t *packed = zkv_membership_encode(&rc->current, &size);
    if (!packed)
        return;
    zkv_msg_t msg = {.type = ZKV_MSG_MEMBERS,
                     .members = {rc->file.cluster_id, rc->config_index},
                     .body = zframe_new(packed, size)};
    free(packed);
    /* At start the client actor may not be connected yet: again next round. */
    rc->members_unsent = zkv_port_send(port, ZKV_ACTOR_CLIENT, &msg) != 0;
}

static void s_use(zkv_repl_cluster_t *rc, const zkv_raft_ready_t *rd, const zkv_port_t *port,
                  zkv_tracer_t *tracer)
{
    zkv_membership_t m;
    if (zkv_membership_decode(rd->config_data, rd->config_size, &m) != ZKV_OK) {
        zsys_error("zkvd: the membership at %" PRIu64 " does not decode", rd->config_index);
        return;
    }
    rc->current = m;
    rc->config_index = rd->config_index;
    zkv_tracer_emit(tracer, "members", rd->term, rd->config_index, 0, 0,
                    "voters=%u learners=%u removed=%zu", rd->members.n_voters,
                    rd->members.n_learners, m.n_removed);
    if (port->members)
        port->members(port->ctx, &rc->current);
    rc->members_unsent = true;
}

/*  Joining until a membership names us; removed once a committed one
    does not (a joiner's first ones do not name it yet). */
static void s_standing(zkv_repl_cluster_t *rc, const zkv_raft_ready_t *rd, zkv_tracer_t *tracer)
{
    bool named = zkv_membership_find(&rc->current, rc->id) != NULL;
    if (rc->file.state == ZKV_CLUSTER_JOINING && named && rc->file.cluster_id) {
        rc->file.state = ZKV_CLUSTER_MEMBER;
        s_save(rc, tracer);
        return;
    }
    bool committed = rc->config_index <= rd->commit;
    if (rc->file.state == ZKV_CLUSTER_MEMBER && !named && committed && rc->current.count > 0) {
        char why[128];
        snprintf(why, sizeof why,
                 "removed from the cluster by the membership change at %" PRIu64 "; stopping",
                 rc->config_index);
        s_stop(rc, tracer, why);
    }
}

void zkv_repl_cluster_ready(zkv_repl_cluster_t *rc, const zkv_raft_t *raft,
                            const zkv_raft_ready_t *rd, const zkv_port_t *port,
                            zkv_tracer_t *tracer)
{
    if (rd->config_changed)
        s_use(rc, rd, port, tracer);
    s_standing(rc, rd, tracer);
    if (rc->members_unsent)
        s_tell_members(rc, port);
    s_check_pending(rc, raft, port);
}

void zkv_repl_cluster_tick(zkv_repl_cluster_t *rc, const zkv_raft_t *raft, const zkv_port_t *port)
{
    if (rc->stop_in && --rc->stop_in == 0)
        rc->stop = true;
    if (rc->pending == ZKV_RC_IDLE || --rc->ticks_left > 0)
        return;
    s_finish(rc, raft, port, ZKV__STATUS__UNAVAILABLE,
             rc->pending == ZKV_RC_MOVE ? "the leadership transfer did not complete"
                                        : "the change did not commit in time: check zkv "
                                          "member list");
}

/* ---------------------------------------------------------------- peers */

static bool s_from_leader(const zkv_raft_msg_t *msg)
{
    return msg->type == ZKV_RAFT_MSG_APPEND || msg->type == ZKV_RAFT_MSG_SNAPSHOT ||
           msg->type == ZKV_RAFT_MSG_HEARTBEAT;
}

/*  A message of another cluster. A node that has never held an entry and
    hears from one of its own --peers in another cluster was started with
    --peers that differ from that cluster's: it stops rather than form a
    second cluster beside it. */
static void s_foreign(zkv_repl_cluster_t *rc, const zkv_raft_t *raft, const zkv_raft_msg_t *msg,
                      uint64_t cluster_id, zkv_tracer_t *tracer)
{
    if (rc->dropped++ % 1000 == 0)
        zkv_tracer_emit(tracer, "peer", msg->term, msg->index, msg->from, 0,
                        "dropped a message of cluster %016" PRIx64 ", ours is %016" PRIx64
                        " (dropped %" PRIu64 ")",
                        cluster_id, rc->file.cluster_id, rc->dropped);
    zkv_raft_status_t st;
    zkv_raft_status(raft, &st);
    if (st.last_index > 0 || st.snapshot_index > 0 ||
        !zkv_membership_find(&rc->file.initial, msg->from) || rc->stop)
        return;
    zsys_error("zkvd: peer %u belongs to cluster %016" PRIx64 ", this node to %016" PRIx64
               ": its --peers differ from the running cluster's; to add a node to it use "
               "zkv member add, then start the node with --join and an empty data directory",
               msg->from, cluster_id, rc->file.cluster_id);
    rc->stop = true;
}

static void s_tell_removed(const zkv_repl_cluster_t *rc, const zkv_raft_msg_t *msg,
                           const zkv_port_t *port)
{
    zkv_raft_msg_t r = {.type = (zkv_raft_msg_type_t) ZKV_PEER_REMOVED,
                        .from = rc->id,
                        .to = msg->from,
                        .term = msg->term};
    port->peer(port->ctx, &r, rc->file.cluster_id);
}

bool zkv_repl_cluster_admit(zkv_repl_cluster_t *rc, const zkv_raft_t *raft,
                            const zkv_raft_msg_t *msg, uint64_t cluster_id, const zkv_port_t *port,
                            zkv_tracer_t *tracer)
{
    /* Joining: the cluster of the first leader among --peers that speaks. */
    if (rc->file.cluster_id == 0 && cluster_id != 0 && s_from_leader(msg) &&
        zkv_membership_find(&rc->peers, msg->from)) {
        rc->file.cluster_id = cluster_id;
        s_save(rc, tracer);
        rc->members_unsent = true;
    }
    if (cluster_id != rc->file.cluster_id) {
        s_foreign(rc, raft, msg, cluster_id, tracer);
        return false;
    }
    if ((int) msg->type == ZKV_PEER_REMOVED) {
        if (zkv_membership_find(&rc->current, msg->from))
            s_stop(rc, tracer, "a member says this node was removed from the cluster; stopping");
        return false;
    }
    /* A removed leader leads until its removal commits: only then is it out. */
    if (!zkv_membership_was_removed(&rc->current, msg->from))
        return true;
    zkv_raft_status_t st;
    zkv_raft_status(raft, &st);
    if (rc->config_index > st.commit)
        return true;
    s_tell_removed(rc, msg, port);
    return false;
}

/* ---------------------------------------------------------------- requests */

static int s_next(const zkv_repl_cluster_t *rc, const Zkv__Request *req, zkv_membership_t *next,
                  char *err, size_t err_size)
{
    *next = rc->current;
    switch (req->body_case) {
    case ZKV__REQUEST__BODY_MEMBER_ADD: {
        const Zkv__Member *pb = req->member_add->member;
        zkv_member_t m = {0};
        if (!pb || !pb->host || strlen(pb->host) >= sizeof m.host || pb->pub_port > 65535 ||
            pb->router_port > 65535 || pb->client_port > 65535)
            return snprintf(err, err_size, "a member needs an id, a host and three ports"),
                   ZKV_EINVAL;
        m.id = pb->id;
        strcpy(m.host, pb->host);
        m.pub_port = (uint16_t) pb->pub_port;
        m.router_port = (uint16_t) pb->router_port;
        m.client_port = (uint16_t) pb->client_port;
        m.learner = pb->learner;
        return zkv_membership_add(next, &m, err, err_size);
    }
    case ZKV__REQUEST__BODY_MEMBER_PROMOTE:
        return zkv_membership_promote(next, req->member_promote->id, err, err_size);
    default: return zkv_membership_remove(next, req->member_remove->id, err, err_size);
    }
}

/*  Why a request must wait: the one in flight. */
static const char *s_busy(const zkv_repl_cluster_t *rc)
{
    return rc->pending == ZKV_RC_MOVE ? "a leadership transfer is in progress"
                                      : "a membership change is in progress";
}

/*  The change asked for is what the membership already says (a retry of a
    change whose answer was lost): answered OK, changing nothing. */
static bool s_in_effect(const zkv_repl_cluster_t *rc, const Zkv__Request *req)
{
    const zkv_membership_t *m = &rc->current;
    if (req->body_case == ZKV__REQUEST__BODY_MEMBER_REMOVE)
        return zkv_membership_was_removed(m, req->member_remove->id);
    if (req->body_case == ZKV__REQUEST__BODY_MEMBER_PROMOTE) {
        const zkv_member_t *x = zkv_membership_find(m, req->member_promote->id);
        return x && !x->learner;
    }
    const Zkv__Member *pb = req->member_add->member;
    const zkv_member_t *x = zkv_membership_find(m, pb->id);
    return x && pb->host && strcmp(x->host, pb->host) == 0 && x->pub_port == pb->pub_port &&
           x->router_port == pb->router_port && x->client_port == pb->client_port &&
           (x->learner == pb->learner || !x->learner);
}

static void s_change(zkv_repl_cluster_t *rc, zkv_raft_t *raft, const Zkv__Request *req,
                     const uint64_t context[2], const zkv_port_t *port)
{
    char err[256] = "";
    zkv_membership_t next;
    zkv_raft_status_t st;
    zkv_raft_status(raft, &st);
    if (rc->pending == ZKV_RC_IDLE && rc->config_index <= st.commit && s_in_effect(rc, req)) {
        s_reply(rc, raft, port, context, ZKV__STATUS__OK, NULL);
        return;
    }
    if (rc->pending != ZKV_RC_IDLE) {
        s_reply(rc, raft, port, context, ZKV__STATUS__FAILED_PRECONDITION, s_busy(rc));
        return;
    }
    if (s_next(rc, req, &next, err, sizeof err) != ZKV_OK) {
        s_reply(rc, raft, port, context, ZKV__STATUS__FAILED_PRECONDITION, err);
        return;
    }
    size_t size = 0;
    uint8_t *data = zkv_membership_encode(&next, &size);
    int code = data ? zkv_raft_propose_config(raft, data, size, &rc->index, &rc->term) : ZKV_ENOMEM;
    free(data);
    if (code == ZKV_OK) {
        rc->pending = ZKV_RC_CHANGE;
        rc->context[0] = context[0];
        rc->context[1] = context[1];
        rc->ticks_left = 5 * rc->election_ticks;
        return;
    }
    Zkv__Status status = code == ZKV_EPENDING || code == ZKV_ELAGGING
                             ? ZKV__STATUS__FAILED_PRECONDITION
                             : zkv_status_from_error(code);
    s_reply(rc, raft, port, context, status, zkv_strerror(code));
}

static void s_move(zkv_repl_cluster_t *rc, zkv_raft_t *raft, uint32_t target,
                   const uint64_t context[2], const zkv_port_t *port)
{
    const zkv_member_t *m = zkv_membership_find(&rc->current, target);
    char err[128];
    if (!m || m->learner) {
        snprintf(err, sizeof err, "member %u is not a voter", target);
        s_reply(rc, raft, port, context, ZKV__STATUS__FAILED_PRECONDITION, err);
        return;
    }
    if (rc->pending != ZKV_RC_IDLE) {
        s_reply(rc, raft, port, context, ZKV__STATUS__FAILED_PRECONDITION, s_busy(rc));
        return;
    }
    int code = zkv_raft_transfer_leadership(raft, target);
    if (code != ZKV_OK) {
        s_reply(rc, raft, port, context, zkv_status_from_error(code), zkv_strerror(code));
        return;
    }
    rc->pending = ZKV_RC_MOVE;
    rc->context[0] = context[0];
    rc->context[1] = context[1];
    rc->target = target;
    rc->ticks_left = 3 * rc->election_ticks;
    s_check_pending(rc, raft, port); /* moving to ourselves is done */
}

void zkv_repl_cluster_request(zkv_repl_cluster_t *rc, zkv_raft_t *raft, const zkv_msg_t *msg,
                              const zkv_port_t *port)
{
    Zkv__Request *req =
        msg->body ? zkv__request__unpack(NULL, zframe_size(msg->body), zframe_data(msg->body))
                  : NULL;
    uint64_t context[2] = {msg->admin.context, req ? req->request_id : 0};
    s_check_pending(rc, raft, port); /* a change committed since the last Ready is done */
    if (!req) {
        s_reply(rc, raft, port, context, ZKV__STATUS__BAD_REQUEST, "malformed request");
        return;
    }
    switch (req->body_case) {
    case ZKV__REQUEST__BODY_MEMBER_LIST:
        s_reply(rc, raft, port, context, ZKV__STATUS__OK, NULL);
        break;
    case ZKV__REQUEST__BODY_MOVE_LEADER:
        s_move(rc, raft, req->move_leader->id, context, port);
        break;
    case ZKV__REQUEST__BODY_MEMBER_ADD:
    case ZKV__REQUEST__BODY_MEMBER_PROMOTE:
    case ZKV__REQUEST__BODY_MEMBER_REMOVE: s_change(rc, raft, req, context, port); break;
    default: s_reply(rc, raft, port, context, ZKV__STATUS__BAD_REQUEST, "not a member request");
    }
    zkv__request__free_unpacked(req, NULL);
}
