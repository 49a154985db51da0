/*  raft_replication: AppendEntries on both sides, heartbeats, the leader's
    per-follower progress and the commit rule (§5.3, §5.4.2).

    Broadcast: new entries go out as one append addressed to every follower
    that is in sync (replicating, window not full, next == the entries'
    first index); the rest get their own appends (probes, catch-up). Anyone
    may receive a broadcast; one that does not fit its log is rejected with a
    hint like any other append. Heartbeats carry one commit index for all, so
    a follower commits only up to what it verified in this term: the last
    index of an append that passed the log-matching check (raft->verified). */
#include <string.h>

#include "raft_int.h"

/* ---------------------------------------------------------------- progress */

static bool s_infl_full(const zkv_raft_t *raft, const raft_peer_t *pr)
{
    return pr->infl_count >= raft->cfg.max_inflight;
}

static void s_infl_add(zkv_raft_t *raft, raft_peer_t *pr, uint64_t last)
{
    assert(!s_infl_full(raft, pr));
    pr->infl[(pr->infl_head + pr->infl_count) % raft->cfg.max_inflight] = last;
    pr->infl_count++;
}

static void s_infl_free_to(zkv_raft_t *raft, raft_peer_t *pr, uint64_t index)
{
    while (pr->infl_count > 0 && pr->infl[pr->infl_head] <= index) {
        pr->infl_head = (pr->infl_head + 1) % raft->cfg.max_inflight;
        pr->infl_count--;
    }
}

static void s_infl_free_first(zkv_raft_t *raft, raft_peer_t *pr)
{
    if (pr->infl_count == 0)
        return;
    pr->infl_head = (pr->infl_head + 1) % raft->cfg.max_inflight;
    pr->infl_count--;
}

void raft_progress_probe(zkv_raft_t *raft, raft_peer_t *pr, uint64_t next)
{
    (void) raft;
    pr->state = ZKV_RAFT_PROBE;
    pr->probe_sent = false;
    pr->load_lo = 0;
    pr->infl_count = 0;
    pr->infl_head = 0;
    pr->next = next > pr->match + 1 ? next : pr->match + 1;
}

static void s_progress_replicate(raft_peer_t *pr)
{
    pr->state = ZKV_RAFT_REPLICATE;
    pr->probe_sent = false;
    pr->infl_count = 0;
    pr->infl_head = 0;
    pr->next = pr->match + 1;
}

void raft_reset_progress(zkv_raft_t *raft)
{
    uint64_t last = raft_log_last(&raft->log);
    for (uint32_t i = 0; i < raft->n_peers; i++) {
        raft_peer_t *pr = &raft->peers[i];
        pr->match = 0;
        pr->read_ack = 0;
        pr->vote = 0;
        pr->active = pr->self;
        raft_progress_probe(raft, pr, last + 1);
    }
    raft->self->match = raft->log.durable;
}

/* ---------------------------------------------------------------- leader: sending */

/*  n entries after prev: from the log, or read back for the follower (ents). */
static void s_emit_append(zkv_raft_t *raft, uint32_t to, uint64_t prev, uint64_t prev_term,
                          const zkv_raft_entry_t *ents, size_t n)
{
    zkv_raft_msg_t m = {
        .type = ZKV_RAFT_MSG_APPEND,
        .to = to,
        .index = prev,
        .log_term = prev_term,
        .commit = raft->log.commit,
    };
    if (n && !ents)
        ents = raft_log_entry(&raft->log, prev + 1);
    raft_send(raft, &m, ents, n, 0);
}

/*  One append to pr from pr->next, if its state allows; true if sent. */
bool raft_send_append(zkv_raft_t *raft, raft_peer_t *pr, bool allow_empty)
{
    if (pr->self || pr->state == ZKV_RAFT_SNAPSHOT)
        return false;
    if (pr->state == ZKV_RAFT_PROBE && pr->probe_sent)
        return false;
    if (pr->state == ZKV_RAFT_REPLICATE && s_infl_full(raft, pr))
        return false;
    raft_log_t *log = &raft->log;
    assert(pr->next >= 1 && pr->next <= raft_log_last(log) + 1);
    uint64_t prev = pr->next - 1, prev_term;
    if (raft_log_term(log, prev, &prev_term) != ZKV_OK) {
        raft_snapshot_start(raft, pr); /* what it needs was compacted away */
        return false;
    }
    size_t n = raft_log_span(log, pr->next, raft->cfg.max_msg_entries, raft->cfg.max_msg_bytes);
    if (n == 0 && !allow_empty)
        return false;
    const zkv_raft_entry_t *ents = NULL;
    if (n > 0 && pr->next < log->data_first && !(ents = raft_load_entries(raft, pr, &n)))
        return false; /* the host reads them back */
    s_emit_append(raft, pr->id, prev, prev_term, ents, n);
    if (pr->state == ZKV_RAFT_REPLICATE && n > 0) {
        pr->next += n;
        s_infl_add(raft, pr, pr->next - 1);
    }
    if (pr->state == ZKV_RAFT_PROBE)
        pr->probe_sent = true;
    return true;
}

/*  Everything pr may have now: one probe, or appends until the window fills. */
void raft_send_appends(zkv_raft_t *raft, raft_peer_t *pr)
{
    while (raft_send_append(raft, pr, false) && pr->state == ZKV_RAFT_REPLICATE)
        ;
}

/*  Send entries from..last: one broadcast per chunk to the followers in sync,
    then per-follower appends to the others. */
void raft_bcast_from(zkv_raft_t *raft, uint64_t from)
{
    raft_log_t *log = &raft->log;
    uint64_t last = raft_log_last(log);
    uint64_t prev = from - 1;
    raft_peer_t *sync[RAFT_PEERS_MAX];
    while (raft->cfg.broadcast && prev < last && prev + 1 >= log->data_first) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < raft->n_peers; i++) {
            raft_peer_t *pr = &raft->peers[i];
            if (!pr->self && pr->state == ZKV_RAFT_REPLICATE && !s_infl_full(raft, pr) &&
                pr->next == prev + 1)
                sync[k++] = pr;
        }
        if (k == 0)
            break;
        size_t n = raft_log_span(log, prev + 1, raft->cfg.max_msg_entries, raft->cfg.max_msg_bytes);
        s_emit_append(raft, ZKV_RAFT_BROADCAST, prev, raft_log_term_or0(log, prev), NULL, n);
        prev += n;
        for (uint32_t j = 0; j < k; j++) {
            sync[j]->next = prev + 1;
            s_infl_add(raft, sync[j], prev);
        }
    }
    for (uint32_t i = 0; i < raft->n_peers; i++)
        raft_send_appends(raft, &raft->peers[i]);
}

int raft_leader_append(zkv_raft_t *raft, const zkv_raft_buf_t *cmds, size_t n, uint32_t type)
{
    raft_log_t *log = &raft->log;
    uint64_t from = raft_log_last(log) + 1;
    size_t count = n ? n : 1;
    for (size_t i = 0; i < count; i++) {
        zkv_raft_entry_t e = {
            .term = raft->term,
            .index = from + i,
            .type = type,
            .size = n ? (uint32_t) cmds[i].size : 0,
            .data = n ? cmds[i].data : NULL,
        };
        int rc = raft_log_append(log, &e);
        if (rc != ZKV_OK) {
            raft_log_truncate(log, from);
            return rc;
        }
    }
    if (type == ZKV_RAFT_ENTRY_CONFIG)
        raft_config_track(raft, from);
    raft->self->next = raft_log_last(log) + 1;
    raft_bcast_from(raft, from);
    return ZKV_OK;
}

void raft_send_heartbeats(zkv_raft_t *raft, uint64_t context)
{
    zkv_raft_msg_t m = {
        .type = ZKV_RAFT_MSG_HEARTBEAT,
        .commit = raft->log.commit,
        .context = context,
    };
    if (raft->n_peers < 2)
        return;
    if (raft->cfg.broadcast) {
        m.to = ZKV_RAFT_BROADCAST;
        raft_send(raft, &m, NULL, 0, 0);
        return;
    }
    for (uint32_t i = 0; i < raft->n_peers; i++) {
        if (raft->peers[i].self)
            continue;
        m.to = raft->peers[i].id;
        raft_send(raft, &m, NULL, 0, 0);
    }
}

/* ---------------------------------------------------------------- leader: commit, ticks */

uint64_t raft_quorum_value(const zkv_raft_t *raft, raft_peer_value_fn *value)
{
    uint64_t m[RAFT_PEERS_MAX];
    uint32_t k = 0;
    for (uint32_t i = 0; i < raft->n_peers; i++) {
        const raft_peer_t *pr = &raft->peers[i];
        if (!pr->voter)
            continue;
        uint64_t v = value(raft, pr);
        uint32_t j = k++;
        for (; j > 0 && m[j - 1] < v; j--)
            m[j] = m[j - 1];
        m[j] = v;
    }
    return m[raft_quorum(raft) - 1];
}

static uint64_t s_durable_at(const zkv_raft_t *raft, const raft_peer_t *pr)
{
    return pr->self ? raft->log.durable : pr->match;
}

/*  §5.3, §5.4.2: the highest index durable on a quorum of voters commits,
    but only if it is of the current term (Figure 8); older entries commit
    with it, by the log-matching property. */
bool raft_maybe_commit(zkv_raft_t *raft)
{
    uint64_t index = raft_quorum_value(raft, s_durable_at);
    if (index <= raft->log.commit)
        return false;
    bool current = raft_log_term_or0(&raft->log, index) == raft->term;
#if ZKV_RAFT_PLANTED_BUG == 1
    current = true; /* test-only bug: commit by counting replicas of an old-term entry */
#endif
    if (!current)
        return false;
    raft_log_commit_to(&raft->log, index);
    raft_config_committed(raft);
    return true;
}

static bool s_quorum_active(const zkv_raft_t *raft)
{
    uint32_t active = 0;
    for (uint32_t i = 0; i < raft->n_peers; i++)
        active += raft->peers[i].voter && (raft->peers[i].active || raft->peers[i].self);
    return active >= raft_quorum(raft);
}

void raft_leader_tick(zkv_raft_t *raft)
{
    raft->heartbeat_elapsed++;
    raft->election_elapsed++;
    if (raft->election_elapsed >= raft->cfg.election_ticks) {
        raft->election_elapsed = 0;
        /* §6.2: without a quorum heard from in an election timeout, step down. */
        if (raft->cfg.check_quorum && !s_quorum_active(raft)) {
            raft_become_follower(raft, raft->term, ZKV_RAFT_NONE);
            return;
        }
        for (uint32_t i = 0; i < raft->n_peers; i++)
            raft->peers[i].active = raft->peers[i].self;
        raft->transferee = ZKV_RAFT_NONE; /* §3.10: a transfer that took this long failed */
    }
    for (uint32_t i = 0; i < raft->n_peers; i++) {
        if (raft->peers[i].state == ZKV_RAFT_SNAPSHOT && !raft->peers[i].self)
            raft_snapshot_tick(raft, &raft->peers[i]);
        raft_load_tick(raft, &raft->peers[i]);
    }
    if (raft->heartbeat_elapsed >= raft->cfg.heartbeat_ticks) {
        raft->heartbeat_elapsed = 0;
        raft_send_heartbeats(raft, raft_read_context(raft));
    }
}

/* ---------------------------------------------------------------- leader: responses */

/*  The last index at which the follower's log may still match ours: its
    hint, moved back a term at a time through our log (§5.3, as etcd-io/raft). */
static uint64_t s_reject_hint(const zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    uint64_t t, hint = m->reject_hint;
    if (m->hint_term > 0)
        hint = raft_log_find_conflict_by_term(&raft->log, hint, m->hint_term, &t);
    return hint;
}

/*  Where to probe after a rejection: after the hint, before what it rejected. */
static uint64_t s_probe_next(const zkv_raft_t *raft, const zkv_raft_msg_t *m, uint64_t hint)
{
    uint64_t next = m->index < hint + 1 ? m->index : hint + 1;
    uint64_t last = raft_log_last(&raft->log);
    return next > last + 1 ? last + 1 : next;
}

/*  The follower's log cannot match ours up to what it acknowledged: it lost
    durable entries (a torn tail cut at boot, a restore from backup), which is
    outside Raft's fault model. Believe the rejection: nothing is known to
    match any more, so match drops to 0 (as for a new leader) and probing
    goes on below it; a probe clamped at the old match would be rejected
    forever. Commit does not move back (docs/RAFT.md). In a network that
    reorders, a stale rejection lands here too; that costs one probe. */
static void s_progress_regress(zkv_raft_t *raft, raft_peer_t *pr)
{
    raft->match_regressions++;
    pr->match = 0;
}

static void s_handle_reject(zkv_raft_t *raft, raft_peer_t *pr, const zkv_raft_msg_t *m)
{
    if (pr->state == ZKV_RAFT_SNAPSHOT)
        return;
    uint64_t hint = s_reject_hint(raft, m);
#if ZKV_RAFT_PLANTED_BUG == 8
    /* TEST-ONLY planted bug (sim_node_planted_no_repair): never believe a
       follower that holds less than it acknowledged. */
    if (m->index <= pr->match || hint < pr->match || m->reject_hint < pr->match)
        return;
#endif
    /* The follower's own hint, not ours: below our snapshot ours is the
       snapshot's index, which may lie above what the follower still holds. */
    if (hint < pr->match || m->reject_hint < pr->match)
        s_progress_regress(raft, pr);
    else if (pr->state == ZKV_RAFT_REPLICATE && m->index <= pr->match)
        return; /* stale: it matched more since */
    else if (pr->state == ZKV_RAFT_PROBE && m->index != pr->next - 1)
        return; /* not the answer to our probe (a broadcast, or an old one) */
    raft_progress_probe(raft, pr, s_probe_next(raft, m, hint));
    assert(pr->next > pr->match && pr->next <= raft_log_last(&raft->log) + 1);
    raft_send_append(raft, pr, true);
}

void raft_handle_append_response(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    raft_peer_t *pr = raft_peer(raft, m->from);
    if (!pr || pr->self)
        return; /* no member (any more) */
    pr->active = true;
    if (m->reject) {
        s_handle_reject(raft, pr, m);
        return;
    }
    if (m->index > raft_log_last(&raft->log))
        return; /* acks what we never sent */
    bool updated = m->index > pr->match;
    if (updated)
        pr->match = m->index;
    if (pr->next < m->index + 1)
        pr->next = m->index + 1;
    s_infl_free_to(raft, pr, m->index);
    if (pr->state == ZKV_RAFT_PROBE && m->index >= pr->match)
        s_progress_replicate(pr);
    else if (pr->state == ZKV_RAFT_SNAPSHOT && pr->match >= pr->snap_index)
        raft_progress_probe(raft, pr, pr->match + 1);
    if (updated && raft_maybe_commit(raft) && raft->role != ZKV_RAFT_LEADER)
        return; /* our removal committed: we stepped down */
    raft_transfer_check(raft, pr);
    raft_send_appends(raft, pr);
}

void raft_handle_heartbeat_response(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    raft_peer_t *pr = raft_peer(raft, m->from);
    if (!pr || pr->self)
        return;
    pr->active = true;
    if (m->context)
        raft_read_ack(raft, pr, m->context);
#if ZKV_RAFT_PLANTED_BUG == 7
    return; /* test-only bug: a lost append or probe is never sent again */
#endif
    pr->probe_sent = false;
    if (pr->state == ZKV_RAFT_REPLICATE && s_infl_full(raft, pr))
        s_infl_free_first(raft, pr);
    /* A lost last append shows here: resend from next (maybe empty, to
       probe). So does a follower that cannot commit for want of an append
       verified in this term (it restarted, say): an empty one verifies. */
    if (pr->match < raft_log_last(&raft->log) || pr->state == ZKV_RAFT_PROBE ||
        m->commit < raft->log.commit)
        raft_send_append(raft, pr, true);
}

/* ---------------------------------------------------------------- follower */

/*  The acknowledgement of what is verified against the leader, up to index:
    what is durable here, or will be once the Ready that carries it is. */
static zkv_raft_msg_t s_ack_msg(const zkv_raft_t *raft, uint64_t index)
{
    return (zkv_raft_msg_t){.type = ZKV_RAFT_MSG_APPEND_RESPONSE,
                            .from = raft->id,
                            .to = raft->leader,
                            .term = raft->term,
                            .index = raft->verified < index ? raft->verified : index};
}

/*  Acknowledge what is both verified against the leader and durable here. */
static void s_ack(zkv_raft_t *raft)
{
    zkv_raft_msg_t r = s_ack_msg(raft, raft->log.durable);
#if ZKV_RAFT_PLANTED_BUG == 5
    r.index = raft->verified; /* test-only bug: acknowledge before the entries are durable */
#endif
    raft_send(raft, &r, NULL, 0, 0);
    if (r.index > raft->acked)
        raft->acked = r.index;
}

void raft_maybe_ack(zkv_raft_t *raft)
{
    if (raft->leader == ZKV_RAFT_NONE)
        return;
    uint64_t a = raft->verified < raft->log.durable ? raft->verified : raft->log.durable;
    if (a > raft->acked)
        s_ack(raft);
}

void raft_ready_ack(zkv_raft_t *raft, zkv_raft_ready_t *rd)
{
    if (!raft->cfg.writer_acks || raft->role != ZKV_RAFT_FOLLOWER ||
        raft->leader == ZKV_RAFT_NONE || rd->n_entries == 0 || rd->has_snapshot)
        return;
    /* Durable once this Ready is: every entry up to its last. */
    zkv_raft_msg_t r = s_ack_msg(raft, rd->entries[rd->n_entries - 1].index);
    if (r.index <= raft->acked)
        return;
#if ZKV_RAFT_PLANTED_BUG == 5
    raft_send(raft, &r, NULL, 0, 0); /* test-only bug: acknowledge before the write */
    rd->messages = raft->out.v;
    rd->n_messages = raft->out.n;
#else
    rd->ack = r;
    rd->has_ack = true;
#endif
    raft->acked = r.index;
}

static void s_reject(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    uint64_t last = raft_log_last(&raft->log);
    uint64_t hint_term = 0;
    uint64_t hint = raft_log_find_conflict_by_term(&raft->log, m->index < last ? m->index : last,
                                                   m->log_term, &hint_term);
    zkv_raft_msg_t r = {
        .type = ZKV_RAFT_MSG_APPEND_RESPONSE,
        .to = m->from,
        .reject = true,
        .index = m->index,
        .reject_hint = hint,
        .hint_term = hint_term,
    };
    raft_send(raft, &r, NULL, 0, 0);
}

/*  §5.3: skip entries we already have, cut our log at the first conflict,
    append the rest. Returns the last index now equal to the leader's. */
static uint64_t s_append_entries(zkv_raft_t *raft, uint64_t prev, const zkv_raft_entry_t *ents,
                                 size_t n)
{
    raft_log_t *log = &raft->log;
    size_t i = 0;
    for (; i < n && ents[i].index <= raft_log_last(log); i++) {
        if (raft_log_entry(log, ents[i].index)->term == ents[i].term)
            continue;
        assert(ents[i].index > log->commit); /* a committed entry never changes */
        raft_log_truncate(log, ents[i].index);
        break;
    }
    uint64_t changed = i < n ? ents[i].index : 0;
    size_t k = i;
    for (; k < n; k++)
        if (raft_log_append(log, &ents[k]) != ZKV_OK)
            break; /* out of memory: keep what fits */
    if (changed)
        raft_config_track(raft, changed);
    return k ? ents[k - 1].index : prev;
}

static void s_accepted(zkv_raft_t *raft, const zkv_raft_msg_t *m, uint64_t matched)
{
    if (matched > raft->verified)
        raft->verified = matched;
    uint64_t c = m->commit < raft->verified ? m->commit : raft->verified;
    raft_log_commit_to(&raft->log, c);
    bool pending = raft->log.durable < matched;
#if ZKV_RAFT_PLANTED_BUG == 5
    pending = false;
#endif
    /* New entries are acknowledged once durable (raft_maybe_ack); anything
       else at once, as the leader may have lost our last answer. */
    if (!pending)
        s_ack(raft);
}

void raft_handle_append(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    raft_log_t *log = &raft->log;
    uint64_t prev = m->index, prev_term = m->log_term;
    const zkv_raft_entry_t *ents = m->entries;
    size_t n = m->n_entries;
    if (raft->snap_lost) {
        raft_reject_for_snapshot(raft, m->from, m->index);
        return;
    }
    if (prev < log->snap_index) {
        /* Our snapshot holds committed entries, equal in every leader's log. */
        uint64_t skip = log->snap_index - prev;
        if (skip >= n) {
            s_accepted(raft, m, prev + n);
            return;
        }
        if (ents[skip - 1].term != log->snap_term) {
            s_reject(raft, m);
            return;
        }
        prev = log->snap_index;
        prev_term = log->snap_term;
        ents += skip;
        n -= (size_t) skip;
    }
    uint64_t term;
    bool match = raft_log_term(log, prev, &term) == ZKV_OK && term == prev_term;
#if ZKV_RAFT_PLANTED_BUG == 3
    match = prev <= raft_log_last(log); /* test-only bug: no log-matching check */
#endif
    if (!match) {
        s_reject(raft, m);
        return;
    }
    s_accepted(raft, m, s_append_entries(raft, prev, ents, n));
}

void raft_handle_heartbeat(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    uint64_t c = m->commit < raft->verified ? m->commit : raft->verified;
    raft_log_commit_to(&raft->log, c);
    zkv_raft_msg_t r = {
        .type = ZKV_RAFT_MSG_HEARTBEAT_RESPONSE,
        .to = m->from,
        .commit = raft->log.commit,
        .context = m->context,
    };
    raft_send(raft, &r, NULL, 0, 0);
}
