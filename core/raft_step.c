/*  raft_step: validate a peer message, apply the term rules of §5.1 (with
    the pre-vote and leader-lease exceptions of §9.6 and §6.2), and hand the
    message to the handler of its type. */
#include "raft_int.h"

#if ZKV_RAFT_PLANTED_BUG == 9
/*  TEST-ONLY planted bug (sim_node_planted_entry_limits): the core takes
    entries from a peer up to 8 MiB, past what the WAL stores. */
#define S_PEER_ENTRY_SIZE_MAX (8u << 20)
#else
#define S_PEER_ENTRY_SIZE_MAX ZKV_ENTRY_SIZE_MAX
#endif

static bool s_entries_valid(const zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    if (m->n_entries > ZKV_RAFT_MSG_ENTRIES_MAX || (m->n_entries > 0 && !m->entries) ||
        m->index > UINT64_MAX - m->n_entries)
        return false;
    uint64_t prev_term = m->log_term;
    for (size_t i = 0; i < m->n_entries; i++) {
        const zkv_raft_entry_t *e = &m->entries[i];
        if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term ||
            e->type > ZKV_RAFT_ENTRY_CONFIG || e->size > S_PEER_ENTRY_SIZE_MAX ||
            (e->size > 0 && !e->data))
            return false;
        zkv_raft_members_t members;
        if (e->type == ZKV_RAFT_ENTRY_CONFIG && raft_config_decode(raft, e, &members) != ZKV_OK)
            return false;
        prev_term = e->term;
    }
    return true;
}

static bool s_chunk_valid(const zkv_raft_msg_t *m)
{
    return m->chunk_size <= ZKV_RAFT_CHUNK_SIZE_MAX && (m->chunk_size == 0 || m->chunk) &&
           m->chunk_offset <= m->snapshot.size &&
           m->chunk_size <= m->snapshot.size - m->chunk_offset &&
           m->chunk_last == (m->chunk_offset + m->chunk_size == m->snapshot.size) &&
           m->snapshot.index > 0 && m->snapshot.term > 0 && m->snapshot.term <= m->term &&
           raft_members_valid(&m->snapshot.members) &&
           m->snapshot.config_size <= ZKV_RAFT_CONFIG_SIZE_MAX &&
           (m->snapshot.config_size == 0 || m->snapshot.config_data);
}

int raft_step_validate(const zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    bool known = (m->type >= ZKV_RAFT_MSG_APPEND && m->type <= ZKV_RAFT_MSG_TIMEOUT_NOW) ||
                 m->type == ZKV_RAFT_MSG_READ_INDEX || m->type == ZKV_RAFT_MSG_READ_INDEX_RESPONSE;
    if (!known || m->term == 0)
        return ZKV_EINVAL;
    /* A sender outside our membership may be a leader we do not know yet
       (we are joining, or behind on changes); answers from non-members are
       ignored where they arrive. */
    if (m->from == raft->id || m->from == ZKV_RAFT_NONE)
        return ZKV_EINVAL;
    bool may_broadcast = m->type == ZKV_RAFT_MSG_APPEND || m->type == ZKV_RAFT_MSG_HEARTBEAT;
    if (m->to != raft->id && !(m->to == ZKV_RAFT_BROADCAST && may_broadcast))
        return ZKV_EINVAL;
    if (m->type == ZKV_RAFT_MSG_APPEND && !s_entries_valid(raft, m))
        return ZKV_EINVAL;
    if (m->type != ZKV_RAFT_MSG_APPEND && m->n_entries > 0)
        return ZKV_EINVAL;
    if (m->type == ZKV_RAFT_MSG_SNAPSHOT && !s_chunk_valid(m))
        return ZKV_EINVAL;
    return ZKV_OK;
}

static bool s_from_leader(const zkv_raft_msg_t *m)
{
    return m->type == ZKV_RAFT_MSG_APPEND || m->type == ZKV_RAFT_MSG_HEARTBEAT ||
           m->type == ZKV_RAFT_MSG_SNAPSHOT || m->type == ZKV_RAFT_MSG_TIMEOUT_NOW;
}

/*  A message from an older term. Tell a stale leader our term, so a node
    that was cut off steps down at once; answer a stale (pre-)vote so its
    sender learns the term (§5.1). A candidate may hear from nobody else:
    after membership changes our own membership may lack it, so we send it
    nothing, and without this answer it would campaign in terms below ours
    for ever (simulation seed 103423, pre-vote off). Everything else is
    dropped, but a stale follower's request for a read index is refused. */
static void s_step_stale(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    if ((m->type == ZKV_RAFT_MSG_APPEND || m->type == ZKV_RAFT_MSG_HEARTBEAT) &&
        (raft->cfg.check_quorum || raft->cfg.pre_vote)) {
        zkv_raft_msg_t r = {.type = ZKV_RAFT_MSG_APPEND_RESPONSE, .to = m->from, .reject = true};
        raft_send(raft, &r, NULL, 0, 0);
    } else if (m->type == ZKV_RAFT_MSG_PRE_VOTE || m->type == ZKV_RAFT_MSG_VOTE) {
        zkv_raft_msg_t r = {.type = m->type == ZKV_RAFT_MSG_VOTE ? ZKV_RAFT_MSG_VOTE_RESPONSE
                                                                 : ZKV_RAFT_MSG_PRE_VOTE_RESPONSE,
                            .to = m->from,
                            .reject = true};
        raft_send(raft, &r, NULL, 0, 0);
    } else if (m->type == ZKV_RAFT_MSG_READ_INDEX) {
        raft_read_answer(raft, m->from, m->context, 0); /* our term tells it its leader is gone */
    }
}

/*  §5.1: a higher term makes us a follower in it, except for (pre-)votes
    inside a leader lease and for pre-vote traffic, which never moves terms.
    Returns false if the message is to be dropped. */
static bool s_step_term(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    if (m->term < raft->term) {
        s_step_stale(raft, m);
        return false;
    }
    if (m->term == raft->term)
        return true;
    bool vote_req = m->type == ZKV_RAFT_MSG_VOTE || m->type == ZKV_RAFT_MSG_PRE_VOTE;
    if (vote_req && !m->force && raft_in_lease(raft))
        return false;
    if (m->type == ZKV_RAFT_MSG_PRE_VOTE)
        return true;
    if (m->type == ZKV_RAFT_MSG_PRE_VOTE_RESPONSE && !m->reject)
        return true;
    raft_become_follower(raft, m->term, s_from_leader(m) ? m->from : ZKV_RAFT_NONE);
    return true;
}

/*  A message of our term from our leader (or one we now recognize). */
static bool s_accept_leader(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    if (raft->role == ZKV_RAFT_LEADER)
        return false; /* cannot happen: one leader per term */
    /* One leader per term: honest peers never send this, so it is a forged or
       misconfigured one (two nodes started with one id). Network input is
       dropped, never asserted on; the simulation checks election safety. */
    if (raft->leader != ZKV_RAFT_NONE && raft->leader != m->from)
        return false;
    if (raft->role != ZKV_RAFT_FOLLOWER)
        raft_become_follower(raft, m->term, m->from);
    raft->leader = m->from;
    raft->election_elapsed = 0;
    return true;
}

static void s_dispatch(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    bool leader = raft->role == ZKV_RAFT_LEADER;
    switch (m->type) {
    case ZKV_RAFT_MSG_PRE_VOTE:
    case ZKV_RAFT_MSG_VOTE: raft_handle_vote(raft, m); break;
    case ZKV_RAFT_MSG_PRE_VOTE_RESPONSE:
    case ZKV_RAFT_MSG_VOTE_RESPONSE: raft_handle_vote_response(raft, m); break;
    case ZKV_RAFT_MSG_APPEND:
        if (s_accept_leader(raft, m))
            raft_handle_append(raft, m);
        break;
    case ZKV_RAFT_MSG_HEARTBEAT:
        if (s_accept_leader(raft, m))
            raft_handle_heartbeat(raft, m);
        break;
    case ZKV_RAFT_MSG_SNAPSHOT:
        if (s_accept_leader(raft, m))
            raft_handle_snapshot(raft, m);
        break;
    case ZKV_RAFT_MSG_TIMEOUT_NOW:
        if (s_accept_leader(raft, m))
            raft_handle_timeout_now(raft, m);
        break;
    case ZKV_RAFT_MSG_APPEND_RESPONSE:
        if (leader)
            raft_handle_append_response(raft, m);
        break;
    case ZKV_RAFT_MSG_HEARTBEAT_RESPONSE:
        if (leader)
            raft_handle_heartbeat_response(raft, m);
        break;
    case ZKV_RAFT_MSG_SNAPSHOT_RESPONSE:
        if (leader)
            raft_handle_snapshot_response(raft, m);
        break;
    case ZKV_RAFT_MSG_READ_INDEX: raft_handle_read_index(raft, m); break;
    case ZKV_RAFT_MSG_READ_INDEX_RESPONSE: raft_handle_read_index_response(raft, m); break;
    }
}

int zkv_raft_step(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    assert(!raft->in_ready);
    int rc = raft_step_validate(raft, m);
    if (rc != ZKV_OK)
        return rc;
    if (s_step_term(raft, m))
        s_dispatch(raft, m);
    return ZKV_OK;
}
