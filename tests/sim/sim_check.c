/*  sim_check: the invariants, checked as events happen.

    election-safety       at most one leader per term
    log-matching          an (index, term) names one entry and one predecessor
                          term, on every node (so equal entries mean equal
                          prefixes, by induction)
    leader-completeness   a leader holds every entry committed in an earlier
                          term (the term in which a node first saw its
                          commit index pass the entry: the committing
                          leader's or later, never earlier)
    state-machine-safety  every node applies the same entry at an index and
                          reaches the same state; snapshots hold that state
    durable-quorum        when an entry is first applied anywhere, a quorum
                          of voters holds it on disk (committed entries are
                          durably replicated; the core's own commit index is
                          not trusted for this): the voters of the committed
                          membership before it, or of a membership one change
                          on from that one that some log holds at or after it
                          (the leader's, if a change was on its way)
    single-change         (sim_config.c) a leader proposes a membership
                          change only when the one before it is committed
    removed-quiet         a node that is no voter in its own membership asks
                          for no votes
    durable-*             a message leaves only once what it vouches for is
                          on the sender's disk: its term, its vote, the
                          entries it acknowledges, an installed snapshot
    single-vote           a voter grants one candidate per term, even across
                          crashes
    linearizable-read     a read's index covers every commit made before it
                          was issued and it returns the latest write applied
                          by then
    no-lost-ack           (sim_main.c) every acknowledged proposal is
                          applied everywhere once the cluster heals */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static void *s_grow_zero(void *v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return v;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    v = realloc(v, n * size);
    if (!v)
        abort();
    memset((uint8_t *) v + *cap * size, 0, (n - *cap) * size);
    *cap = n;
    return v;
}

void sim_check_free(sim_t *sim)
{
    free(sim->leader_of);
    free(sim->votes);
    free(sim->committed);
    free(sim->reg);
    free(sim->confs);
    for (int k = 0; k < SIM_KEYS; k++)
        free(sim->history[k]);
}

/* ---------------------------------------------------------------- log matching */

static size_t s_reg_slot(uint64_t index, uint64_t term, size_t cap)
{
    uint64_t h = index * 0x9e3779b97f4a7c15ull ^ term * 0xc2b2ae3d27d4eb4full;
    return (size_t) ((h ^ (h >> 29)) & (cap - 1));
}

static sim_reg_t *s_reg_find(sim_t *sim, uint64_t index, uint64_t term)
{
    size_t i = s_reg_slot(index, term, sim->cap_reg);
    while (sim->reg[i].index != 0 && (sim->reg[i].index != index || sim->reg[i].term != term))
        i = (i + 1) & (sim->cap_reg - 1);
    return &sim->reg[i];
}

static void s_reg_grow(sim_t *sim)
{
    sim_reg_t *old = sim->reg;
    size_t old_cap = sim->cap_reg;
    sim->cap_reg = old_cap ? old_cap * 2 : 4096;
    sim->reg = calloc(sim->cap_reg, sizeof *sim->reg);
    if (!sim->reg)
        abort();
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].index != 0)
            *s_reg_find(sim, old[i].index, old[i].term) = old[i];
    free(old);
}

static void s_register(sim_t *sim, sim_node_t *nd, const zkv_raft_entry_t *e, uint64_t prev_term)
{
    if ((sim->n_reg + 1) * 2 > sim->cap_reg)
        s_reg_grow(sim);
    sim_reg_t *r = s_reg_find(sim, e->index, e->term);
    uint64_t data = sim_entry_hash(e);
    if (r->index == 0) {
        *r = (sim_reg_t){e->index, e->term, data, prev_term};
        sim->n_reg++;
        return;
    }
    if (r->data != data || r->prev_term != prev_term)
        sim_fail(sim, "log-matching",
                 "node %u: entry %llu of term %llu (previous term %llu) differs from the same "
                 "index and term elsewhere (previous term %llu)",
                 nd->id, (unsigned long long) e->index, (unsigned long long) e->term,
                 (unsigned long long) prev_term, (unsigned long long) r->prev_term);
}

/* ---------------------------------------------------------------- memberships */

bool sim_member(const zkv_raft_members_t *m, uint32_t id)
{
    for (uint32_t i = 0; i < m->n_voters; i++)
        if (m->voters[i] == id)
            return true;
    for (uint32_t i = 0; i < m->n_learners; i++)
        if (m->learners[i] == id)
            return true;
    return false;
}

static int s_role(const zkv_raft_members_t *m, uint32_t id)
{
    for (uint32_t i = 0; i < m->n_voters; i++)
        if (m->voters[i] == id)
            return 2;
    return sim_member(m, id) ? 1 : 0;
}

uint32_t sim_conf_changes(const zkv_raft_members_t *c, const zkv_raft_members_t *m)
{
    uint32_t n = 0;
    for (uint32_t id = 1; id <= SIM_MAX_NODES; id++)
        n += s_role(c, id) != s_role(m, id);
    return n;
}

static void s_register_conf(sim_t *sim, sim_node_t *nd, const zkv_raft_entry_t *e)
{
    if (e->type != ZKV_RAFT_ENTRY_CONFIG)
        return;
    sim_conf_t c = {.index = e->index, .term = e->term};
    if (zkv_raft_members_decode(NULL, e->data, e->size, &c.members) != 0) {
        sim_fail(sim, "config-entry", "node %u: CONFIG entry %llu does not decode", nd->id,
                 (unsigned long long) e->index);
        return;
    }
    for (size_t i = 0; i < sim->n_confs; i++)
        if (sim->confs[i].index == c.index && sim->confs[i].term == c.term)
            return;
    if (sim->n_confs == sim->cap_confs) {
        sim->cap_confs = sim->cap_confs ? sim->cap_confs * 2 : 16;
        sim->confs = realloc(sim->confs, sim->cap_confs * sizeof *sim->confs);
        if (!sim->confs)
            abort();
    }
    sim->confs[sim->n_confs++] = c;
}

static void s_check_entries(sim_t *sim, sim_node_t *nd, const zkv_raft_ready_t *rd)
{
    if (rd->n_entries == 0)
        return;
    uint64_t prev = 0;
    if (zkv_raft_term_at(nd->raft, rd->entries[0].index - 1, &prev) != 0) {
        sim_fail(sim, "log-matching", "node %u: no term before its new entries at %llu", nd->id,
                 (unsigned long long) rd->entries[0].index);
        return;
    }
    for (size_t i = 0; i < rd->n_entries && !sim->failed; i++) {
        s_register(sim, nd, &rd->entries[i], prev);
        s_register_conf(sim, nd, &rd->entries[i]);
        prev = rd->entries[i].term;
    }
}

/* ---------------------------------------------------------------- leaders */

static bool s_holds(sim_node_t *nd, uint64_t index, uint64_t term)
{
    zkv_raft_status_t s;
    zkv_raft_status(nd->raft, &s);
    if (index <= s.snapshot_index)
        return true; /* checked when the snapshot was made or installed */
    uint64_t t = 0;
    return zkv_raft_term_at(nd->raft, index, &t) == 0 && t == term;
}

static void s_check_complete(sim_t *sim, sim_node_t *nd, uint64_t term)
{
    for (uint64_t i = 1; i <= sim->max_declared && !sim->failed; i++) {
        const sim_committed_t *c = &sim->committed[i];
        if (c->cterm != 0 && c->cterm < term && !s_holds(nd, i, c->eterm))
            sim_fail(sim, "leader-completeness",
                     "node %u leads term %llu without entry %llu of term %llu, committed in term "
                     "%llu",
                     nd->id, (unsigned long long) term, (unsigned long long) i,
                     (unsigned long long) c->eterm, (unsigned long long) c->cterm);
    }
}

/*  Entry (index, eterm) is committed as of term cterm: every leader of a
    later term must already hold it. */
static void s_check_leaders_hold(sim_t *sim, uint64_t index, uint64_t eterm, uint64_t cterm)
{
    for (uint32_t id = 1; id <= sim->n_nodes && !sim->failed; id++) {
        sim_node_t *ld = &sim->nodes[id];
        zkv_raft_status_t s;
        if (!ld->up)
            continue;
        zkv_raft_status(ld->raft, &s);
        if (s.role == ZKV_RAFT_LEADER && s.term > cterm && !s_holds(ld, index, eterm))
            sim_fail(sim, "leader-completeness",
                     "entry %llu of term %llu committed in term %llu, but leader %u of term %llu "
                     "lacks it",
                     (unsigned long long) index, (unsigned long long) eterm,
                     (unsigned long long) cterm, id, (unsigned long long) s.term);
    }
}

static void *s_grow_zero(void *v, size_t *cap, size_t need, size_t size);

/*  Node nd's commit index passed index while it was in term cterm. */
static void s_declare(sim_t *sim, sim_node_t *nd, uint64_t index, uint64_t cterm)
{
    uint64_t eterm = 0;
    if (zkv_raft_term_at(nd->raft, index, &eterm) != 0)
        return; /* inside a snapshot: committed before, by someone else */
    sim->committed =
        s_grow_zero(sim->committed, &sim->cap_committed, index + 1, sizeof *sim->committed);
    sim_committed_t *c = &sim->committed[index];
    if (c->eterm != 0 && c->eterm != eterm) {
        sim_fail(sim, "state-machine-safety",
                 "node %u holds entry %llu of term %llu committed; another held term %llu", nd->id,
                 (unsigned long long) index, (unsigned long long) eterm,
                 (unsigned long long) c->eterm);
        return;
    }
    if (c->cterm != 0 && c->cterm <= cterm)
        return;
    c->cterm = cterm;
    c->eterm = eterm;
    if (index > sim->max_declared)
        sim->max_declared = index;
    s_check_leaders_hold(sim, index, eterm, cterm);
}

static void s_note_leader(sim_t *sim, sim_node_t *nd, uint64_t term)
{
    sim->leader_of =
        s_grow_zero(sim->leader_of, &sim->cap_leader_of, term + 1, sizeof *sim->leader_of);
    uint32_t known = sim->leader_of[term];
    if (known == nd->id)
        return;
    if (known != 0) {
        sim_fail(sim, "election-safety", "nodes %u and %u both lead term %llu", known, nd->id,
                 (unsigned long long) term);
        return;
    }
    sim->leader_of[term] = nd->id;
    sim->elected = nd->id;
    sim->elected_step = sim->step;
    sim->stats.elections++;
    sim_trace(sim, SIM_TR_ROLE, nd->id, 0, ZKV_RAFT_LEADER, term, 0, 0);
    s_check_complete(sim, nd, term);
}

void sim_check_ready(sim_t *sim, sim_node_t *nd, const zkv_raft_ready_t *rd)
{
    if (rd->term < nd->last_term)
        sim_fail(sim, "term-monotonic", "node %u went from term %llu to %llu", nd->id,
                 (unsigned long long) nd->last_term, (unsigned long long) rd->term);
    if (rd->commit < nd->last_commit)
        sim_fail(sim, "commit-monotonic", "node %u commit went from %llu to %llu", nd->id,
                 (unsigned long long) nd->last_commit, (unsigned long long) rd->commit);
    for (uint64_t i = nd->last_commit + 1; i <= rd->commit && !sim->failed; i++)
        s_declare(sim, nd, i, rd->term);
    nd->last_term = rd->term;
    nd->last_commit = rd->commit;
    if (rd->commit > sim->max_commit_seen)
        sim->max_commit_seen = rd->commit;
    if (rd->role == ZKV_RAFT_LEADER)
        s_note_leader(sim, nd, rd->term);
    s_check_entries(sim, nd, rd);
}

/* ---------------------------------------------------------------- durability of messages */

static void s_check_vote(sim_t *sim, uint64_t term, uint32_t voter, uint32_t candidate)
{
    size_t slot = (size_t) term * (SIM_MAX_NODES + 1) + voter;
    sim->votes = s_grow_zero(sim->votes, &sim->cap_votes, slot + 1, sizeof *sim->votes);
    if (sim->votes[slot] == 0)
        sim->votes[slot] = candidate;
    else if (sim->votes[slot] != candidate)
        sim_fail(sim, "single-vote", "node %u voted for %u and %u in term %llu", voter,
                 sim->votes[slot], candidate, (unsigned long long) term);
}

/*  The disk holds index with the term the node now has there. */
/*  The disk holds index with term t (0: the term index has in memory). */
static bool s_durable(sim_node_t *nd, uint64_t index, uint64_t t)
{
    const sim_disk_t *d = &nd->disk;
    if (index <= d->snap_index)
        return true;
    if (index > d->snap_index + d->n)
        return false;
    if (t == 0 && zkv_raft_term_at(nd->raft, index, &t) != 0)
        return true; /* compacted in memory by an installed snapshot; on disk either way */
    return d->ents[index - d->snap_index - 1].term == t;
}

static void s_fail_ack(sim_t *sim, sim_node_t *nd, const zkv_raft_msg_t *m)
{
    const sim_disk_t *d = &nd->disk;
    uint64_t t = 0, dt = 0;
    zkv_raft_term_at(nd->raft, m->index, &t);
    if (m->index > d->snap_index && m->index <= d->snap_index + d->n)
        dt = d->ents[m->index - d->snap_index - 1].term;
    sim_fail(sim, "durable-ack",
             "node %u acknowledges index %llu of term %llu; its disk holds %llu..%llu, "
             "term %llu there",
             nd->id, (unsigned long long) m->index, (unsigned long long) t,
             (unsigned long long) d->snap_index, (unsigned long long) (d->snap_index + d->n),
             (unsigned long long) dt);
}

void sim_check_message(sim_t *sim, sim_node_t *nd, const zkv_raft_msg_t *m)
{
    sim_check_message_as(sim, nd, m, 0);
}

void sim_check_message_as(sim_t *sim, sim_node_t *nd, const zkv_raft_msg_t *m, uint64_t ack_term)
{
    const zkv_raft_hard_state_t *hs = &nd->disk.hs;
    bool pre = m->type == ZKV_RAFT_MSG_PRE_VOTE || m->type == ZKV_RAFT_MSG_PRE_VOTE_RESPONSE;
    if (!pre && m->term > hs->term) {
        sim_fail(sim, "durable-term", "node %u sends a %s of term %llu; its disk has term %llu",
                 nd->id, zkv_raft_msg_type_name(m->type), (unsigned long long) m->term,
                 (unsigned long long) hs->term);
        return;
    }
    if (m->type == ZKV_RAFT_MSG_VOTE || m->type == ZKV_RAFT_MSG_PRE_VOTE) {
        zkv_raft_status_t s;
        zkv_raft_status(nd->raft, &s);
        if (!s.voter) {
            sim_fail(sim, "removed-quiet", "node %u asks for votes, no voter in its membership",
                     nd->id);
            return;
        }
    }
    switch (m->type) {
    case ZKV_RAFT_MSG_VOTE:
        if (hs->term != m->term || hs->vote != nd->id)
            sim_fail(sim, "durable-vote",
                     "node %u asks for votes in term %llu before its own "
                     "vote is durable (disk: term %llu vote %u)",
                     nd->id, (unsigned long long) m->term, (unsigned long long) hs->term, hs->vote);
        break;
    case ZKV_RAFT_MSG_VOTE_RESPONSE:
        if (m->reject)
            break;
        if (hs->term != m->term || hs->vote != m->to)
            sim_fail(sim, "durable-vote",
                     "node %u grants %u its vote in term %llu before it is "
                     "durable",
                     nd->id, m->to, (unsigned long long) m->term);
        else
            s_check_vote(sim, m->term, nd->id, m->to);
        break;
    case ZKV_RAFT_MSG_APPEND_RESPONSE:
        if (!m->reject && !s_durable(nd, m->index, ack_term))
            s_fail_ack(sim, nd, m);
        break;
    case ZKV_RAFT_MSG_SNAPSHOT_RESPONSE:
        if (m->chunk_last && !m->reject && nd->disk.snap_index < m->index)
            sim_fail(sim, "durable-snapshot",
                     "node %u reports snapshot %llu installed before it "
                     "is durable",
                     nd->id, (unsigned long long) m->index);
        break;
    default: break;
    }
}

void sim_check_hs_write(sim_t *sim, sim_node_t *nd, const zkv_raft_hard_state_t *hs)
{
    const zkv_raft_hard_state_t *old = &nd->disk.hs;
    if (hs->term < old->term)
        sim_fail(sim, "durable-term", "node %u writes term %llu over %llu", nd->id,
                 (unsigned long long) hs->term, (unsigned long long) old->term);
    else if (hs->term == old->term && old->vote != 0 && hs->vote != old->vote)
        sim_fail(sim, "single-vote", "node %u rewrites its vote in term %llu from %u to %u", nd->id,
                 (unsigned long long) hs->term, old->vote, hs->vote);
}

/* ---------------------------------------------------------------- applying */

static void s_history_add(sim_t *sim, uint64_t index, const zkv_raft_entry_t *e)
{
    if (e->type != ZKV_RAFT_ENTRY_NORMAL || e->size != sizeof(sim_cmd_t))
        return;
    sim_cmd_t c;
    memcpy(&c, e->data, sizeof c);
    int k = (int) (c.key % SIM_KEYS);
    if (sim->n_history[k] == sim->cap_history[k]) {
        sim->cap_history[k] = sim->cap_history[k] ? sim->cap_history[k] * 2 : 256;
        sim->history[k] = realloc(sim->history[k], sim->cap_history[k] * sizeof *sim->history[k]);
        if (!sim->history[k])
            abort();
    }
    sim->history[k][sim->n_history[k]++] = (sim_write_rec_t){index, c.value};
}

/*  Voters of m holding entry (index, term) on disk. */
static uint32_t s_holders(const sim_t *sim, const zkv_raft_members_t *m, const zkv_raft_entry_t *e)
{
    uint32_t holders = 0;
    for (uint32_t i = 0; i < m->n_voters; i++) {
        const sim_disk_t *d = &sim->nodes[m->voters[i]].disk;
        if (e->index <= d->snap_index)
            holders++;
        else if (e->index <= d->snap_index + d->n)
            holders += d->ents[e->index - d->snap_index - 1].term == e->term;
    }
    return holders;
}

/*  A quorum of voters holds entry (index, term) on disk: of the committed
    membership, or of one a change on from it that a log holds from index on. */
static void s_check_durable_quorum(sim_t *sim, sim_node_t *nd, const zkv_raft_entry_t *e)
{
    const zkv_raft_members_t *c = &sim->cconf;
    uint32_t holders = s_holders(sim, c, e);
    if (holders >= c->n_voters / 2 + 1)
        return;
    for (size_t i = 0; i < sim->n_confs; i++) {
        const zkv_raft_members_t *m = &sim->confs[i].members;
        if (sim->confs[i].index >= e->index && sim_conf_changes(c, m) == 1 &&
            s_holders(sim, m, e) >= m->n_voters / 2 + 1)
            return;
    }
    sim_fail(sim, "durable-quorum",
             "node %u applies entry %llu of term %llu, held on disk by %u of %u voters", nd->id,
             (unsigned long long) e->index, (unsigned long long) e->term, holders, c->n_voters);
}

void sim_check_apply(sim_t *sim, sim_node_t *nd, const zkv_raft_entry_t *e)
{
    sim->committed =
        s_grow_zero(sim->committed, &sim->cap_committed, e->index + 1, sizeof *sim->committed);
    sim_committed_t *c = &sim->committed[e->index];
    uint64_t data = sim_entry_hash(e);
    if (c->term == 0) {
        s_check_durable_quorum(sim, nd, e);
        if (e->type == ZKV_RAFT_ENTRY_CONFIG) {
            if (zkv_raft_members_decode(NULL, e->data, e->size, &sim->cconf) != 0)
                sim_fail(sim, "config-entry", "node %u applies a CONFIG entry that does not decode",
                         nd->id);
            sim->cconf_index = e->index;
        }
        *c = (sim_committed_t){e->term, data, nd->sm.hash};
        sim->max_committed = e->index;
        sim->stats.commits++;
        s_history_add(sim, e->index, e);
        return;
    }
    if (c->term != e->term || c->data != data)
        sim_fail(sim, "state-machine-safety",
                 "node %u applies entry %llu of term %llu; another node applied one of term %llu",
                 nd->id, (unsigned long long) e->index, (unsigned long long) e->term,
                 (unsigned long long) c->term);
    else if (c->state != nd->sm.hash)
        sim_fail(sim, "state-machine-safety", "node %u's state after %llu differs", nd->id,
                 (unsigned long long) e->index);
}

void sim_check_install(sim_t *sim, sim_node_t *nd, const sim_sm_t *img, uint64_t index)
{
    if (img->applied != index)
        sim_fail(sim, "state-machine-safety", "node %u installs snapshot %llu holding state %llu",
                 nd->id, (unsigned long long) index, (unsigned long long) img->applied);
    else if (index >= sim->cap_committed || sim->committed[index].term == 0 ||
             sim->committed[index].state != img->hash)
        sim_fail(sim, "state-machine-safety",
                 "node %u installs snapshot %llu whose state no node had", nd->id,
                 (unsigned long long) index);
}

/* ---------------------------------------------------------------- reads */

/*  The latest committed write to key at or before index. */
static sim_write_rec_t s_latest(const sim_t *sim, uint64_t key, uint64_t index)
{
    const sim_write_rec_t *h = sim->history[key];
    size_t lo = 0, hi = sim->n_history[key]; /* first entry past index */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h[mid].index <= index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? h[lo - 1] : (sim_write_rec_t){0, 0};
}

void sim_check_read(sim_t *sim, sim_node_t *nd, const sim_read_t *r, const zkv_raft_read_t *rr)
{
    if (rr->status != 0) {
        sim->stats.stale_reads_failed++;
        return;
    }
    sim->stats.reads++;
    if (rr->index < r->invoke_commit) {
        sim_fail(sim, "linearizable-read",
                 "node %u read %llu: read index %llu, but %llu was committed before it was issued",
                 nd->id, (unsigned long long) r->ctx, (unsigned long long) rr->index,
                 (unsigned long long) r->invoke_commit);
        return;
    }
    if (nd->sm.applied < rr->index) {
        sim_fail(sim, "linearizable-read", "node %u read %llu released at applied %llu < %llu",
                 nd->id, (unsigned long long) r->ctx, (unsigned long long) nd->sm.applied,
                 (unsigned long long) rr->index);
        return;
    }
    sim_write_rec_t want = s_latest(sim, r->key, nd->sm.applied);
    if (nd->sm.value[r->key] != want.value || nd->sm.windex[r->key] != want.index)
        sim_fail(sim, "linearizable-read",
                 "node %u read key %llu = %llu (written at %llu); latest committed by %llu is %llu",
                 nd->id, (unsigned long long) r->key, (unsigned long long) nd->sm.value[r->key],
                 (unsigned long long) nd->sm.windex[r->key], (unsigned long long) nd->sm.applied,
                 (unsigned long long) want.value);
}

/* ---------------------------------------------------------------- every step */

void sim_check_step(sim_t *sim)
{
    for (uint32_t id = 1; id <= sim->n_nodes && !sim->failed; id++) {
        sim_node_t *nd = &sim->nodes[id];
        if (!nd->up)
            continue;
        zkv_raft_status_t s;
        zkv_raft_status(nd->raft, &s);
        if (s.commit > s.last_index)
            sim_fail(sim, "commit-within-log", "node %u: commit %llu, last %llu", id,
                     (unsigned long long) s.commit, (unsigned long long) s.last_index);
        else if (s.role == ZKV_RAFT_LEADER && sim->cap_leader_of > s.term &&
                 sim->leader_of[s.term] != id)
            sim_fail(sim, "election-safety", "node %u leads term %llu, which %u led", id,
                     (unsigned long long) s.term, sim->leader_of[s.term]);
    }
}
