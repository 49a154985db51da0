/*  raft_election: roles, randomized election timeouts, RequestVote with the
    up-to-date check (§5.2, §5.4.1), pre-vote (§9.6) and the leader lease that
    check-quorum implies (a follower that heard from its leader within an
    election timeout ignores vote requests, §6.2). */
#include "raft_int.h"

/*  A node whose state machine lacks the snapshot its log starts at could not
    serve as leader. */
bool raft_promotable(const zkv_raft_t *raft)
{
    return raft->self->voter && !raft->snap_lost;
}

bool raft_in_lease(const zkv_raft_t *raft)
{
    return raft->cfg.check_quorum && raft->leader != ZKV_RAFT_NONE &&
           raft->election_elapsed < raft->cfg.election_ticks;
}

static void s_reset_timeout(zkv_raft_t *raft)
{
    raft->election_elapsed = 0;
    raft->heartbeat_elapsed = 0;
    uint32_t jitter = (uint32_t) (raft_random(raft) % raft->cfg.election_ticks);
    raft->timeout = raft->cfg.election_ticks + jitter;
}

static void s_reset_votes(zkv_raft_t *raft)
{
    for (uint32_t i = 0; i < raft->n_peers; i++)
        raft->peers[i].vote = 0;
}

void raft_become_follower(zkv_raft_t *raft, uint64_t term, uint32_t leader)
{
    if (term > raft->term) {
        raft_set_term(raft, term);
        raft->acked = 0;
    }
    raft->role = ZKV_RAFT_FOLLOWER;
    raft->leader = leader;
    raft->verified = 0; /* nothing is known to match a leader we have not heard */
    raft->transferee = ZKV_RAFT_NONE;
    raft->campaign_force = false;
    s_reset_timeout(raft);
    s_reset_votes(raft);
    raft_read_fail_unconfirmed(raft); /* ours as leader, or those we asked the old leader for */
}

static void s_become_pre_candidate(zkv_raft_t *raft)
{
    assert(raft->role != ZKV_RAFT_LEADER);
    raft->role = ZKV_RAFT_PRE_CANDIDATE;
    raft->leader = ZKV_RAFT_NONE;
    raft->verified = 0;
    s_reset_timeout(raft);
    s_reset_votes(raft);
    raft_read_fail_unconfirmed(raft);
}

static void s_become_candidate(zkv_raft_t *raft)
{
    assert(raft->role != ZKV_RAFT_LEADER);
    raft_set_term(raft, raft->term + 1);
    raft_set_vote(raft, raft->id);
    raft->role = ZKV_RAFT_CANDIDATE;
    raft->leader = ZKV_RAFT_NONE;
    raft->verified = 0;
    raft->acked = 0;
    s_reset_timeout(raft);
    s_reset_votes(raft);
    raft_read_fail_unconfirmed(raft);
}

static void s_become_leader(zkv_raft_t *raft)
{
    assert(raft->role == ZKV_RAFT_CANDIDATE && raft_hs_durable(raft));
    raft->role = ZKV_RAFT_LEADER;
    raft->leader = raft->id;
    raft->transferee = ZKV_RAFT_NONE;
    raft->campaign_force = false;
    s_reset_timeout(raft);
    raft_reset_progress(raft);
    /* §8: a no-op of the new term lets the leader commit, and so learn the
       commit index, without waiting for a client. */
    raft_leader_append(raft, NULL, 0, ZKV_RAFT_ENTRY_NOOP);
    raft->term_start = raft_log_last(&raft->log);
}

static void s_request_votes(zkv_raft_t *raft, bool pre_vote, bool force)
{
    zkv_raft_msg_t m = {
        .type = pre_vote ? ZKV_RAFT_MSG_PRE_VOTE : ZKV_RAFT_MSG_VOTE,
        .term = pre_vote ? raft->term + 1 : raft->term,
        .index = raft_log_last(&raft->log),
        .log_term = raft_log_last_term(&raft->log),
        .force = force,
    };
    for (uint32_t i = 0; i < raft->n_peers; i++) {
        raft_peer_t *pr = &raft->peers[i];
        if (pr->self || !pr->voter)
            continue;
        m.to = pr->id;
        raft_send(raft, &m, NULL, 0, 0);
    }
}

void raft_campaign(zkv_raft_t *raft, bool pre_vote, bool force)
{
    if (!raft_promotable(raft) || raft->role == ZKV_RAFT_LEADER)
        return;
    if (pre_vote)
        s_become_pre_candidate(raft);
    else
        s_become_candidate(raft);
    raft->campaign_force = force;
    raft->self->vote = 1;
    s_request_votes(raft, pre_vote, force);
    raft_poll(raft); /* a single voter wins at once */
}

/*  Count the votes; win (once our own vote is durable) or lose. */
void raft_poll(zkv_raft_t *raft)
{
    if (raft->role != ZKV_RAFT_CANDIDATE && raft->role != ZKV_RAFT_PRE_CANDIDATE)
        return;
    uint32_t granted = 0, rejected = 0;
    for (uint32_t i = 0; i < raft->n_peers; i++) {
        const raft_peer_t *pr = &raft->peers[i];
        if (!pr->voter)
            continue;
        granted += pr->vote > 0;
        rejected += pr->vote < 0;
    }
    uint32_t q = raft_quorum(raft);
    if (granted >= q) {
        if (raft->role == ZKV_RAFT_PRE_CANDIDATE)
            raft_campaign(raft, false, raft->campaign_force);
        else if (raft_hs_durable(raft))
            s_become_leader(raft);
    } else if (rejected >= q) {
        raft_become_follower(raft, raft->term, ZKV_RAFT_NONE);
    }
}

void raft_election_tick(zkv_raft_t *raft)
{
    raft->election_elapsed++;
    if (!raft_promotable(raft) || raft->election_elapsed < raft->timeout)
        return;
    raft_campaign(raft, raft->cfg.pre_vote, false);
}

/*  Whatever our own membership says (thesis §4.1): a candidate's may hold
    a change ours lacks (we were promoted, or a removal of ours was
    overwritten), and without our vote it might never win. Only the
    candidate's membership decides whose votes count. */
static bool s_can_vote(const zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    if (raft->vote == m->from)
        return true;
    if (raft->vote == ZKV_RAFT_NONE && raft->leader == ZKV_RAFT_NONE)
        return true;
    /* A pre-vote is for a future term, where we have not voted yet. */
    return m->type == ZKV_RAFT_MSG_PRE_VOTE && m->term > raft->term;
}

void raft_handle_vote(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    bool pre = m->type == ZKV_RAFT_MSG_PRE_VOTE;
    bool up_to_date = raft_log_up_to_date(&raft->log, m->index, m->log_term);
#if ZKV_RAFT_PLANTED_BUG == 2
    up_to_date = true; /* test-only bug: vote without the up-to-date check */
#endif
    zkv_raft_msg_t r = {
        .type = pre ? ZKV_RAFT_MSG_PRE_VOTE_RESPONSE : ZKV_RAFT_MSG_VOTE_RESPONSE,
        .to = m->from,
    };
    if (s_can_vote(raft, m) && up_to_date) {
        if (!pre) {
            raft_set_vote(raft, m->from);
            raft->election_elapsed = 0;
        }
        r.term = m->term; /* a pre-vote answers in the term asked about */
    } else {
        r.reject = true;
    }
    raft_send(raft, &r, NULL, 0, 0);
}

void raft_handle_vote_response(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    bool pre = m->type == ZKV_RAFT_MSG_PRE_VOTE_RESPONSE;
    if (raft->role != (pre ? ZKV_RAFT_PRE_CANDIDATE : ZKV_RAFT_CANDIDATE))
        return;
    raft_peer_t *pr = raft_peer(raft, m->from);
    if (!pr || !pr->voter)
        return;
    pr->vote = m->reject ? -1 : 1;
    raft_poll(raft);
}
