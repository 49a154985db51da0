/*  raft_read: linearizable reads by ReadIndex (§6.4 of the Raft thesis).

    A read admitted at the leader takes the commit index as its read index
    (once the leader has committed an entry of its own term, so that index
    covers everything committed before). Reads are batched into rounds: one
    heartbeat round, with the round number as context, confirms every read
    admitted before it once a quorum of voters answered it in this term. A
    confirmed read is released in a Ready when the applied index reaches its
    read index. A round starts when the host collects a Ready, so every read
    admitted while it handled one batch of events shares it. Up to
    ZKV_RAFT_READ_ROUNDS rounds are in flight: a read need not wait for the
    round before its own to end, and the answers to a later round confirm
    every earlier one.
    Heartbeats repeat the round number, so a lost round is retried.

    A follower's reads take the same path through its leader: it asks for a
    read index (READ_INDEX, its request number as the round), the leader
    admits the request as one read, and once that read's round is confirmed
    answers with its read index without waiting for its own apply. The
    follower releases its reads once it has applied that index: everything
    committed before the request reached the leader is then in its state
    machine, which is what linearizability asks. */
#include <string.h>

#include "raft_int.h"

static bool s_committed_in_term(const zkv_raft_t *raft)
{
    return raft_log_term_or0(&raft->log, raft->log.commit) == raft->term;
}

uint64_t raft_read_context(const zkv_raft_t *raft)
{
    return raft->read_round > raft->read_confirmed ? raft->read_round : 0;
}

static bool s_asking(const zkv_raft_t *raft)
{
    return raft->role == ZKV_RAFT_FOLLOWER && raft->leader != ZKV_RAFT_NONE;
}

static int s_admit(zkv_raft_t *raft, uint64_t context, uint32_t from)
{
    if (raft->reads.n >= raft->cfg.max_reads)
        return ZKV_EBUSY;
    bool leader = raft->role == ZKV_RAFT_LEADER;
    raft_read_t r = {.context = context,
                     .index = leader && s_committed_in_term(raft) ? raft->log.commit : 0,
                     .from = from};
    if (!RAFT_VEC_PUSH(raft->reads, r))
        return ZKV_ENOMEM;
    raft->reads_waiting++;
    return ZKV_OK;
}

int zkv_raft_read_index(zkv_raft_t *raft, uint64_t context)
{
    assert(!raft->in_ready);
    if (raft->role != ZKV_RAFT_LEADER && !s_asking(raft))
        return ZKV_ENOTLEADER;
    return s_admit(raft, context, ZKV_RAFT_NONE);
}

bool raft_read_startable(const zkv_raft_t *raft)
{
    if (raft->reads_waiting == 0)
        return false;
    if (s_asking(raft))
        return raft->read_round == raft->read_confirmed;
    return raft->role == ZKV_RAFT_LEADER && s_committed_in_term(raft) &&
           raft->read_round - raft->read_confirmed < ZKV_RAFT_READ_ROUNDS;
}

void raft_read_answer(zkv_raft_t *raft, uint32_t to, uint64_t context, uint64_t index)
{
    zkv_raft_msg_t m = {.type = ZKV_RAFT_MSG_READ_INDEX_RESPONSE,
                        .to = to,
                        .context = context,
                        .index = index,
                        .reject = index == 0};
    raft_send(raft, &m, NULL, 0, 0);
}

/*  Answer the followers whose reads a confirmed round covers, and forget them. */
static void s_answer_followers(zkv_raft_t *raft)
{
    size_t keep = 0;
    for (size_t i = 0; i < raft->reads.n; i++) {
        raft_read_t *r = &raft->reads.v[i];
        if (r->from == ZKV_RAFT_NONE || r->round == 0 || r->round > raft->read_confirmed) {
            raft->reads.v[keep++] = *r;
            continue;
        }
        raft_read_answer(raft, r->from, r->context, r->index);
    }
    raft->reads.n = keep;
}

static void s_confirm(zkv_raft_t *raft, uint64_t round)
{
    raft->read_confirmed = round;
    s_answer_followers(raft);
}

/*  Start a round for the reads not yet in one, unless one is in flight. */
void raft_read_kick(zkv_raft_t *raft)
{
    if (!raft_read_startable(raft))
        return;
    raft->reads_waiting = 0;
    bool any = false, leader = raft->role == ZKV_RAFT_LEADER;
    for (size_t i = 0; i < raft->reads.n; i++) {
        raft_read_t *r = &raft->reads.v[i];
        if (r->round != 0)
            continue;
        r->round = raft->read_round + 1;
        if (r->index == 0 && leader)
            r->index = raft->log.commit;
        any = true;
    }
    if (!any)
        return;
    raft->read_round++;
    if (!leader) {
        zkv_raft_msg_t m = {
            .type = ZKV_RAFT_MSG_READ_INDEX, .to = raft->leader, .context = raft->read_round};
        raft->read_ask_elapsed = 0;
        raft_send(raft, &m, NULL, 0, 0);
        return;
    }
#if ZKV_RAFT_PLANTED_BUG == 6
    s_confirm(raft, raft->read_round); /* test-only bug: serve reads without a quorum round */
    return;
#endif
    if (raft_quorum(raft) == 1 && raft->self->voter) {
        s_confirm(raft, raft->read_round);
        return;
    }
    raft_send_heartbeats(raft, raft->read_round);
}

/*  The last round a voter confirmed: ours is the last started. */
static uint64_t s_round_acked(const zkv_raft_t *raft, const raft_peer_t *p)
{
    return p->self ? raft->read_round : p->read_ack;
}

void raft_read_ack(zkv_raft_t *raft, raft_peer_t *pr, uint64_t round)
{
    if (!pr->voter || round > raft->read_round)
        return;
    if (round > pr->read_ack)
        pr->read_ack = round;
    uint64_t confirmed = raft_quorum_value(raft, s_round_acked);
    if (confirmed > raft->read_confirmed)
        s_confirm(raft, confirmed);
}

static void s_out(zkv_raft_t *raft, const raft_read_t *r, int status)
{
    zkv_raft_read_t o = {.context = r->context, .index = r->index, .status = status};
    (void) RAFT_VEC_PUSH(raft->read_out, o);
}

/*  Leadership lost, or the leader we asked: reads not yet confirmed fail
    (a follower's asking through us hears nothing and fails on its own
    timeout); confirmed ones stay valid and are still released once applied. */
void raft_read_fail_unconfirmed(zkv_raft_t *raft)
{
    size_t keep = 0;
    for (size_t i = 0; i < raft->reads.n; i++) {
        raft_read_t *r = &raft->reads.v[i];
        if (r->round != 0 && r->round <= raft->read_confirmed)
            raft->reads.v[keep++] = *r;
        else if (r->from == ZKV_RAFT_NONE)
            s_out(raft, r, ZKV_ENOTLEADER);
    }
    raft->reads.n = keep;
    raft->reads_waiting = 0;
    raft->read_confirmed = raft->read_round;
}

/*  A follower's request unanswered for an election timeout: lost. */
void raft_read_tick(zkv_raft_t *raft)
{
    if (raft->role == ZKV_RAFT_LEADER || raft->read_round <= raft->read_confirmed)
        return;
    if (++raft->read_ask_elapsed >= raft->cfg.election_ticks)
        raft_read_fail_unconfirmed(raft);
}

void raft_handle_read_index(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
#if ZKV_RAFT_PLANTED_BUG == 12
    /* TEST-ONLY planted bug: answer a follower at once with the commit index,
       without a quorum round (a deposed leader hands out stale indexes). */
    if (raft->role == ZKV_RAFT_LEADER) {
        raft_read_answer(raft, m->from, m->context, raft->log.commit);
        return;
    }
#endif
    if (raft->role == ZKV_RAFT_LEADER && s_admit(raft, m->context, m->from) == ZKV_OK)
        return;
    raft_read_answer(raft, m->from, m->context, 0);
}

void raft_handle_read_index_response(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    if (!s_asking(raft) || m->from != raft->leader || m->context != raft->read_round ||
        raft->read_round <= raft->read_confirmed)
        return;
    if (m->reject) {
        raft_read_fail_unconfirmed(raft);
        return;
    }
    for (size_t i = 0; i < raft->reads.n; i++)
        if (raft->reads.v[i].round == raft->read_round)
            raft->reads.v[i].index = m->index;
    raft->read_confirmed = raft->read_round;
}

bool raft_read_releasable(const zkv_raft_t *raft)
{
    if (raft->reads.n == 0)
        return false;
    const raft_read_t *r = &raft->reads.v[0];
    return r->round != 0 && r->round <= raft->read_confirmed && r->index <= raft->log.applied;
}

void raft_read_collect(zkv_raft_t *raft)
{
    size_t k = 0;
    for (; k < raft->reads.n; k++) {
        const raft_read_t *r = &raft->reads.v[k];
        if (r->round == 0 || r->round > raft->read_confirmed || r->index > raft->log.applied)
            break;
        s_out(raft, r, ZKV_OK);
    }
    if (k == 0)
        return;
    memmove(raft->reads.v, raft->reads.v + k, (raft->reads.n - k) * sizeof *raft->reads.v);
    raft->reads.n -= k;
}

void raft_read_advance(zkv_raft_t *raft)
{
    raft->read_out.n = 0;
}
