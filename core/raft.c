/*  raft: lifecycle, the outbox, Ready/advance and the durability reports.

    Messages wait in the outbox until the next Ready. A message that depends on
    state not yet durable (a new term or vote, an installed snapshot) is held
    aside with the id of the Ready whose persistence it needs, and joins the
    outbox once zkv_raft_persisted() covers that id. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"
#include "splitmix.h"

bool raft_grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*v, n * size);
    if (!p)
        return false;
    *v = p;
    *cap = n;
    return true;
}

/*  Election jitter. */
uint64_t raft_random(zkv_raft_t *raft)
{
    return zkv_splitmix64(&raft->rng);
}

const raft_peer_t *raft_peer_const(const zkv_raft_t *raft, uint32_t id)
{
    for (uint32_t i = 0; i < raft->n_peers; i++)
        if (raft->peers[i].id == id)
            return &raft->peers[i];
    return NULL;
}

raft_peer_t *raft_peer(zkv_raft_t *raft, uint32_t id)
{
    for (uint32_t i = 0; i < raft->n_peers; i++)
        if (raft->peers[i].id == id)
            return &raft->peers[i];
    return NULL;
}

uint32_t raft_quorum(const zkv_raft_t *raft)
{
    return raft->n_voters / 2 + 1;
}

bool raft_hs_durable(const zkv_raft_t *raft)
{
    return raft->hs_ready_id <= raft->persisted_id;
}

static void s_hs_changed(zkv_raft_t *raft)
{
    raft->hs_dirty = true;
    raft->hs_ready_id = raft->next_ready_id;
}

void raft_set_term(zkv_raft_t *raft, uint64_t term)
{
    assert(term > raft->term); /* a term never goes back */
    raft->term = term;
    raft->vote = ZKV_RAFT_NONE;
    s_hs_changed(raft);
}

void raft_set_vote(zkv_raft_t *raft, uint32_t vote)
{
    assert(raft->vote == ZKV_RAFT_NONE || raft->vote == vote); /* one vote per term */
    if (raft->vote == vote)
        return;
    raft->vote = vote;
    s_hs_changed(raft);
}

/* ---------------------------------------------------------------- outbox */

static void s_out_push(zkv_raft_t *raft, const zkv_raft_msg_t *msg, const zkv_raft_entry_t *ents,
                       size_t n)
{
    if (!raft_grow((void **) &raft->out.v, &raft->out.cap, raft->out.n + 1, sizeof *raft->out.v) ||
        !raft_grow((void **) &raft->out_off.v, &raft->out_off.cap, raft->out.n + 1,
                   sizeof *raft->out_off.v) ||
        !raft_grow((void **) &raft->out_ents.v, &raft->out_ents.cap, raft->out_ents.n + n,
                   sizeof *raft->out_ents.v))
        return; /* out of memory: the message is lost, as on the network */
    raft->out_off.v[raft->out.n] = raft->out_ents.n;
    raft->out.v[raft->out.n++] = *msg;
    if (n > 0)
        memcpy(raft->out_ents.v + raft->out_ents.n, ents, n * sizeof *ents);
    raft->out_ents.n += n;
}

void raft_send(zkv_raft_t *raft, zkv_raft_msg_t *msg, const zkv_raft_entry_t *entries, size_t n,
               uint64_t after_ready)
{
    msg->from = raft->id;
    if (msg->term == 0)
        msg->term = raft->term;
    msg->n_entries = n;
    msg->entries = NULL;
    uint64_t tag = raft_hs_durable(raft) ? 0 : raft->hs_ready_id;
    if (after_ready > tag && after_ready > raft->persisted_id)
        tag = after_ready;
    if (tag == 0) {
        s_out_push(raft, msg, entries, n);
        return;
    }
    /* A leader's term and vote are durable (raft_poll waits for it), so held
       messages are never appends and carry no entries. */
    assert(n == 0 && raft->role != ZKV_RAFT_LEADER);
    raft_held_t h = {.msg = *msg, .tag = tag};
    (void) RAFT_VEC_PUSH(raft->held, h);
}

/*  Release what became safe to send. A message of a term we have left since
    is dropped: its term or vote may never have reached the disk (both
    changed before one Ready), and nobody needs it any more. */
static void s_release_held(zkv_raft_t *raft)
{
    size_t keep = 0;
    for (size_t i = 0; i < raft->held.n; i++) {
        raft_held_t *h = &raft->held.v[i];
        if (h->tag > raft->persisted_id)
            raft->held.v[keep++] = *h;
        else if (h->msg.term >= raft->term)
            s_out_push(raft, &h->msg, NULL, 0);
    }
    raft->held.n = keep;
}

/* ---------------------------------------------------------------- lifecycle */

void zkv_raft_config_default(zkv_raft_config_t *config, uint32_t id, const uint32_t *voters,
                             uint32_t n_voters)
{
    memset(config, 0, sizeof *config);
    config->id = id;
    if (n_voters > ZKV_MEMBERS_MAX)
        n_voters = ZKV_MEMBERS_MAX;
    for (uint32_t i = 0; i < n_voters; i++)
        config->members.voters[i] = voters[i];
    config->members.n_voters = n_voters;
    config->election_ticks = 10;
    config->heartbeat_ticks = 1;
    config->seed = id;
    config->pre_vote = true;
    config->check_quorum = true;
    config->broadcast = true;
    config->max_inflight = 256;
    config->max_msg_entries = 4096;
    config->max_msg_bytes = 1024 * 1024;
    config->max_uncommitted = 65536;
    config->max_apply_entries = 4096;
    config->max_reads = 4096;
    config->snapshot_chunk_size = 1024 * 1024;
    config->max_learner_lag = 1000;
}

static bool s_config_valid(const zkv_raft_config_t *c)
{
    return c->id != ZKV_RAFT_NONE && raft_members_valid(&c->members) &&
           c->members_size <= ZKV_RAFT_CONFIG_SIZE_MAX && (!c->members_size || c->members_data) &&
           c->heartbeat_ticks > 0 && c->election_ticks > c->heartbeat_ticks &&
           c->max_inflight > 0 && c->max_inflight <= ZKV_RAFT_INFLIGHT_MAX &&
           c->max_msg_entries > 0 && c->max_msg_bytes > 0 &&
           c->max_msg_bytes <= ZKV_RAFT_MSG_BYTES_MAX && c->max_uncommitted > 0 &&
           c->max_apply_entries > 0 && c->max_reads > 0 && c->snapshot_chunk_size > 0 &&
           c->snapshot_chunk_size <= ZKV_RAFT_CHUNK_SIZE_MAX;
}

static int s_infl_pool(zkv_raft_t *raft)
{
    uint32_t w = raft->cfg.max_inflight;
    raft->infl_pool = calloc((size_t) RAFT_PEERS_MAX * w, sizeof *raft->infl_pool);
    if (!raft->infl_pool)
        return ZKV_ENOMEM;
    for (uint32_t i = 0; i < RAFT_PEERS_MAX; i++)
        raft->infl_free[raft->n_infl_free++] = raft->infl_pool + (size_t) i * w;
    return ZKV_OK;
}

static int s_boot(zkv_raft_t *raft, const zkv_raft_boot_t *boot)
{
    raft_log_init(&raft->log, boot->snapshot_index, boot->snapshot_term,
                  raft->cfg.log_memory_bytes);
    raft->snap_size = boot->snapshot_size;
    for (size_t i = 0; i < boot->n_entries; i++) {
        const zkv_raft_entry_t *e = &boot->entries[i];
        zkv_raft_members_t m;
        if (e->index != raft_log_last(&raft->log) + 1 || e->term < raft_log_last_term(&raft->log) ||
            e->term > boot->hard_state.term || e->type > ZKV_RAFT_ENTRY_CONFIG ||
            e->size > ZKV_ENTRY_SIZE_MAX || (e->size > 0 && !e->data) ||
            (e->type == ZKV_RAFT_ENTRY_CONFIG && raft_config_decode(raft, e, &m) != ZKV_OK))
            return ZKV_EINVAL;
        int rc = raft_log_append(&raft->log, e);
        if (rc != ZKV_OK)
            return rc;
    }
    raft_log_t *log = &raft->log;
    log->unstable = raft_log_last(log) + 1;
    log->durable = raft_log_last(log);
    /* The commit index may have been persisted ahead of the entries. */
    uint64_t commit = boot->hard_state.commit;
    if (commit > raft_log_last(log))
        commit = raft_log_last(log);
    if (commit > log->commit)
        log->commit = commit;
    raft->term = boot->hard_state.term;
    raft->vote = boot->hard_state.vote;
    raft_config_reset(raft, &raft->cfg.members, raft->cfg.members_data, raft->cfg.members_size);
    raft->cfg.members_data = NULL; /* the caller's, copied */
    raft_config_track(raft, log->snap_index + 1);
    return ZKV_OK;
}

int zkv_raft_new(const zkv_raft_config_t *config, const zkv_raft_boot_t *boot, zkv_raft_t **raft_p)
{
    *raft_p = NULL;
    if (!s_config_valid(config))
        return ZKV_EINVAL;
    zkv_raft_t *raft = calloc(1, sizeof *raft);
    if (!raft)
        return ZKV_ENOMEM;
    raft->cfg = *config;
    raft->id = config->id;
    raft->rng = config->seed;
    /* Read rounds, which number a follower's requests for a read index too,
       start somewhere new at each boot, so that a leader's late answer to
       a request made before a restart never matches one made after it. */
    uint64_t round_seed = config->seed ^ UINT64_C(0x7265616420726e64);
    raft->read_round = raft->read_confirmed = zkv_splitmix64(&round_seed) >> 2;
    raft->next_ready_id = 1;
    int rc = s_infl_pool(raft);
    zkv_raft_boot_t empty = {0};
    if (rc == ZKV_OK)
        rc = s_boot(raft, boot ? boot : &empty);
    if (rc != ZKV_OK) {
        zkv_raft_destroy(&raft);
        return rc;
    }
    raft_become_follower(raft, raft->term, ZKV_RAFT_NONE);
    raft->hs_dirty = false; /* what we booted from is durable */
    raft->hs_ready_id = 0;
    /* A snapshot may hold entries of a term whose hard state write was lost
       (applied, then snapshotted, before it was durable): move to that term
       without a vote, which is what we could have durably done there. */
    if (boot && boot->snapshot_term > raft->term)
        raft_set_term(raft, boot->snapshot_term);
    raft->rd_role = ZKV_RAFT_FOLLOWER;
    raft->rd_term = raft->term;
    *raft_p = raft;
    return ZKV_OK;
}

void zkv_raft_destroy(zkv_raft_t **raft_p)
{
    zkv_raft_t *raft = *raft_p;
    if (!raft)
        return;
    free(raft->infl_pool);
    raft_log_free(&raft->log);
    raft_load_free(raft);
    free(raft->conf_kept.v);
    free(raft->records.v);
    free(raft->out.v);
    free(raft->out_off.v);
    free(raft->out_ents.v);
    free(raft->held.v);
    free(raft->chunk_bytes.v);
    free(raft->chunks.v);
    free(raft->reads.v);
    free(raft->read_out.v);
    free(raft);
    *raft_p = NULL;
}

/* ---------------------------------------------------------------- driving */

void zkv_raft_tick(zkv_raft_t *raft)
{
    assert(!raft->in_ready);
    if (raft->role == ZKV_RAFT_LEADER) {
        raft_leader_tick(raft);
    } else {
        raft_read_tick(raft);
        raft_election_tick(raft);
    }
}

int zkv_raft_propose(zkv_raft_t *raft, const zkv_raft_buf_t *cmds, size_t n, uint64_t *first_index,
                     uint64_t *term)
{
    assert(!raft->in_ready);
    if (raft->role != ZKV_RAFT_LEADER)
        return ZKV_ENOTLEADER;
    if (raft->transferee != ZKV_RAFT_NONE)
        return ZKV_EBUSY;
    if (n == 0)
        return ZKV_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (cmds[i].size > ZKV_ENTRY_SIZE_MAX || (cmds[i].size > 0 && !cmds[i].data))
            return ZKV_EINVAL;
    uint64_t last = raft_log_last(&raft->log);
    if (last - raft->log.commit + n > raft->cfg.max_uncommitted)
        return ZKV_EBUSY;
    int rc = raft_leader_append(raft, cmds, n, ZKV_RAFT_ENTRY_NORMAL);
    if (rc != ZKV_OK)
        return rc;
    if (first_index)
        *first_index = last + 1;
    if (term)
        *term = raft->term;
    return ZKV_OK;
}

int zkv_raft_campaign(zkv_raft_t *raft)
{
    assert(!raft->in_ready);
    if (!raft_promotable(raft))
        return ZKV_EINVAL;
    if (raft->role == ZKV_RAFT_LEADER)
        return ZKV_OK;
    raft_campaign(raft, raft->cfg.pre_vote, false);
    return ZKV_OK;
}

/* ---------------------------------------------------------------- Ready */

static bool s_soft_changed(const zkv_raft_t *raft)
{
    return raft->rd_role != raft->role || raft->rd_term != raft->term ||
           raft->rd_leader != raft->leader;
}

/*  Last index a Ready may hand out to apply. */
static uint64_t s_apply_limit(const zkv_raft_t *raft)
{
    uint64_t hi = raft->log.commit;
    /* Apply only what is durable here as well (a follower may learn a commit
       before its own write finishes), so that a snapshot of the state machine
       never runs ahead of the log it replaces. */
    if (hi > raft->log.durable)
        hi = raft->log.durable;
#if ZKV_RAFT_PLANTED_BUG == 4
    hi = raft_log_last(&raft->log); /* test-only bug: apply past the commit index */
#endif
    uint64_t cap = raft->log.applying + raft->cfg.max_apply_entries;
    return hi < cap ? hi : cap;
}

bool zkv_raft_has_ready(const zkv_raft_t *raft)
{
    return raft->out.n > 0 || raft->hs_dirty || raft->log.unstable <= raft_log_last(&raft->log) ||
           s_apply_limit(raft) > raft->log.applying || raft->chunks.n > 0 || raft->snap_pending ||
           raft->read_out.n > 0 || raft_read_releasable(raft) || raft_read_startable(raft) ||
           raft->loads.n > 0 || s_soft_changed(raft) ||
           raft->conf_version != raft->rd_conf_version || raft_load_droppable(raft);
}

static void s_ready_entries(zkv_raft_t *raft, zkv_raft_ready_t *rd)
{
    raft_log_t *log = &raft->log;
    uint64_t last = raft_log_last(log);
    if (log->unstable <= last) {
        rd->entries = raft_log_entry(log, log->unstable);
        rd->n_entries = (size_t) (last - log->unstable + 1);
    }
    uint64_t hi = s_apply_limit(raft);
    if (hi > log->applying) {
        rd->committed = raft_log_entry(log, log->applying + 1);
        rd->n_committed = (size_t) (hi - log->applying);
    }
}

static void s_ready_out(zkv_raft_t *raft, zkv_raft_ready_t *rd)
{
    for (size_t i = 0; i < raft->out.n; i++) {
        zkv_raft_msg_t *m = &raft->out.v[i];
        m->entries = m->n_entries ? raft->out_ents.v + raft->out_off.v[i] : NULL;
    }
    rd->messages = raft->out.v;
    rd->n_messages = raft->out.n;
    /* With an install, chunks of a later snapshot wait for the next Ready:
       the host would start that file before it finished the one installed. */
#if ZKV_RAFT_PLANTED_BUG == 10
    /* TEST-ONLY planted bug (sim_node_planted_chunks_past_install): every
       chunk goes out, a later snapshot's with the install. */
    size_t n = raft->chunks.n;
#else
    size_t n = raft->snap_pending ? raft->snap_chunks : raft->chunks.n;
#endif
    assert(n <= raft->chunks.n);
    for (size_t i = 0; i < n; i++) {
        zkv_raft_chunk_t *c = &raft->chunks.v[i];
        c->data = c->size ? raft->chunk_bytes.v + (uintptr_t) c->data : NULL;
    }
    rd->chunks = raft->chunks.v;
    rd->n_chunks = n;
}

static int s_record(zkv_raft_t *raft, zkv_raft_ready_t *rd)
{
    raft_record_t r = {.id = rd->id};
    if (rd->n_entries > 0) {
        r.last_index = rd->entries[rd->n_entries - 1].index;
        r.last_term = rd->entries[rd->n_entries - 1].term;
    } else if (rd->has_snapshot) {
        r.last_index = rd->snapshot.index;
        r.last_term = rd->snapshot.term;
    } else {
        return ZKV_OK; /* hard state only: persisted_id covers it */
    }
    return RAFT_VEC_PUSH(raft->records, r) ? ZKV_OK : ZKV_ENOMEM;
}

int zkv_raft_ready(zkv_raft_t *raft, zkv_raft_ready_t *rd)
{
    assert(!raft->in_ready);
    memset(rd, 0, sizeof *rd);
    raft_read_kick(raft);
    raft_read_collect(raft);
    if (!zkv_raft_has_ready(raft))
        return ZKV_ENOTFOUND;
    rd->id = raft->next_ready_id;
    rd->role = raft->role;
    rd->term = raft->term;
    rd->leader = raft->leader;
    rd->soft_changed = s_soft_changed(raft);
    rd->commit = raft->log.commit;
    rd->hard_state_changed = raft->hs_dirty;
    rd->hard_state = (zkv_raft_hard_state_t){raft->term, raft->vote, raft->log.commit};
    rd->has_snapshot = raft->snap_pending;
    if (rd->has_snapshot) {
        rd->snapshot = raft->snap_install;
        raft->snap_ready_id = rd->id;
    }
    s_ready_entries(raft, rd);
    s_ready_out(raft, rd);
    rd->reads = raft->read_out.v;
    rd->n_reads = raft->read_out.n;
    rd->loads = raft->loads.v;
    rd->n_loads = raft->loads.n;
    rd->config_changed = raft->conf_version != raft->rd_conf_version;
    rd->config_index = raft->conf_index;
    rd->members = raft->conf;
    rd->config_data = raft->conf_data;
    rd->config_size = raft->conf_size;
    rd->must_persist = rd->hard_state_changed || rd->has_snapshot || rd->n_entries > 0;
    if (rd->must_persist && s_record(raft, rd) != ZKV_OK)
        return ZKV_ENOMEM;
    raft_ready_ack(raft, rd);
    raft->in_ready = true;
    return ZKV_OK;
}

/*  Drop the chunks a Ready handed out; those it held back (still holding
    offsets into chunk_bytes) move to the front. */
static void s_chunks_advance(zkv_raft_t *raft, size_t n)
{
    size_t left = raft->chunks.n - n;
    size_t cut = left ? (size_t) (uintptr_t) raft->chunks.v[n].data : raft->chunk_bytes.n;
    assert(n <= raft->chunks.n && cut <= raft->chunk_bytes.n);
    if (left == 0) {
        raft->chunks.n = 0;
        raft->chunk_bytes.n = 0;
        return;
    }
    memmove(raft->chunks.v, raft->chunks.v + n, left * sizeof *raft->chunks.v);
    for (size_t i = 0; i < left; i++)
        raft->chunks.v[i].data = (const uint8_t *) ((uintptr_t) raft->chunks.v[i].data - cut);
    raft->chunks.n = left;
    if (raft->chunk_bytes.n > cut)
        memmove(raft->chunk_bytes.v, raft->chunk_bytes.v + cut, raft->chunk_bytes.n - cut);
    raft->chunk_bytes.n -= cut;
}

void zkv_raft_advance(zkv_raft_t *raft, const zkv_raft_ready_t *rd)
{
    assert(raft->in_ready && rd->id == raft->next_ready_id);
    raft_log_t *log = &raft->log;
    if (rd->n_entries > 0)
        log->unstable = rd->entries[rd->n_entries - 1].index + 1;
    if (rd->n_committed > 0)
        log->applying = rd->committed[rd->n_committed - 1].index;
    raft->out.n = 0;
    raft->out_ents.n = 0;
    s_chunks_advance(raft, rd->n_chunks);
    raft->hs_dirty = false;
    raft->snap_pending = false;
    raft->rd_role = rd->role;
    raft->rd_term = rd->term;
    raft->rd_leader = rd->leader;
    raft->rd_conf_version = raft->conf_version;
    raft_read_advance(raft);
    raft->next_ready_id++;
    raft_log_release(log);
    raft_load_advance(raft);
    raft->in_ready = false;
}

/* ---------------------------------------------------------------- reports */

static void s_records_durable(zkv_raft_t *raft, uint64_t id)
{
    raft_log_t *log = &raft->log;
    size_t i = 0;
    for (; i < raft->records.n && raft->records.v[i].id <= id; i++) {
        const raft_record_t *r = &raft->records.v[i];
        uint64_t term;
        /* Entries truncated since they were handed out are not ours to count. */
        if (raft_log_term(log, r->last_index, &term) == ZKV_OK && term == r->last_term &&
            r->last_index > log->durable)
            log->durable = r->last_index;
    }
    if (i == 0)
        return;
    memmove(raft->records.v, raft->records.v + i, (raft->records.n - i) * sizeof *raft->records.v);
    raft->records.n -= i;
}

int zkv_raft_persisted(zkv_raft_t *raft, uint64_t ready_id)
{
    assert(!raft->in_ready);
    if (ready_id >= raft->next_ready_id)
        return ZKV_EINVAL;
    if (ready_id <= raft->persisted_id)
        return ZKV_OK;
    raft->persisted_id = ready_id;
    s_records_durable(raft, ready_id);
    s_release_held(raft);
    switch (raft->role) {
    case ZKV_RAFT_LEADER:
        raft->self->match = raft->log.durable;
        raft_maybe_commit(raft);
        break;
    case ZKV_RAFT_CANDIDATE: raft_poll(raft); break;
    case ZKV_RAFT_FOLLOWER: raft_maybe_ack(raft); break;
    case ZKV_RAFT_PRE_CANDIDATE: break;
    }
    return ZKV_OK;
}

int zkv_raft_applied(zkv_raft_t *raft, uint64_t index)
{
    assert(!raft->in_ready);
    raft_log_t *log = &raft->log;
    if (index > log->applying)
        return ZKV_EINVAL;
    if (index > log->applied)
        log->applied = index;
#if ZKV_RAFT_PLANTED_BUG != 4
    assert(log->applied <= log->commit);
#endif
    return ZKV_OK;
}

int zkv_raft_compact(zkv_raft_t *raft, uint64_t index, uint64_t size)
{
    assert(!raft->in_ready);
    raft_log_t *log = &raft->log;
    if (index > log->applied)
        return ZKV_EINVAL;
    if (index <= log->snap_index)
        return ZKV_OK;
    /* Stored entries past a snapshot must belong to this log; past the
       durable index they may be stale (a truncation or install on its way
       to disk), so a snapshot there could meet them after a crash. */
    if (index > log->durable)
        return ZKV_EBUSY;
    raft_config_compacting(raft, index);
    raft_log_compact(log, index);
    raft->snap_size = size;
    if (raft->role == ZKV_RAFT_LEADER)
        for (uint32_t i = 0; i < raft->n_peers; i++)
            if (raft->peers[i].state == ZKV_RAFT_SNAPSHOT && !raft->peers[i].self)
                raft_snapshot_start(raft, &raft->peers[i]);
    return ZKV_OK;
}

/* ---------------------------------------------------------------- getters */

void zkv_raft_status(const zkv_raft_t *raft, zkv_raft_status_t *s)
{
    memset(s, 0, sizeof *s);
    s->id = raft->id;
    s->role = raft->role;
    s->voter = raft->self->voter;
    s->learner = raft->self->member && !raft->self->voter;
    s->term = raft->term;
    s->vote = raft->vote;
    s->leader = raft->leader;
    s->commit = raft->log.commit;
    s->applied = raft->log.applied;
    s->first_index = raft->log.snap_index + 1;
    s->log_bytes = raft->log.block_bytes + raft->log.cap * sizeof *raft->log.ents;
    s->last_index = raft_log_last(&raft->log);
    s->durable_index = raft->log.durable;
    s->snapshot_index = raft->log.snap_index;
    s->transferee = raft->transferee;
    s->match_regressions = raft->match_regressions;
    s->config_index = raft->conf_index;
    s->members = raft->conf;
}

int zkv_raft_term_at(const zkv_raft_t *raft, uint64_t index, uint64_t *term)
{
    return raft_log_term(&raft->log, index, term);
}

int zkv_raft_entry_at(const zkv_raft_t *raft, uint64_t index, zkv_raft_entry_t *entry)
{
    if (index < raft->log.data_first)
        return ZKV_ECOMPACTED;
    if (index > raft_log_last(&raft->log))
        return ZKV_ENOTFOUND;
    *entry = *raft_log_entry(&raft->log, index);
    return ZKV_OK;
}

int zkv_raft_progress(const zkv_raft_t *raft, uint32_t peer, zkv_raft_progress_t *p)
{
    if (raft->role != ZKV_RAFT_LEADER)
        return ZKV_ENOTLEADER;
    const raft_peer_t *pr = raft_peer_const(raft, peer);
    if (!pr)
        return ZKV_ENOTFOUND;
    p->state = pr->state;
    p->match = pr->match;
    p->next = pr->next;
    p->inflight = pr->infl_count;
    p->active = pr->active;
    p->snapshot_offset = pr->snap_acked;
    return ZKV_OK;
}

const char *zkv_raft_role_name(zkv_raft_role_t role)
{
    switch (role) {
    case ZKV_RAFT_FOLLOWER: return "follower";
    case ZKV_RAFT_PRE_CANDIDATE: return "pre-candidate";
    case ZKV_RAFT_CANDIDATE: return "candidate";
    case ZKV_RAFT_LEADER: return "leader";
    }
    return "?";
}

const char *zkv_raft_msg_type_name(zkv_raft_msg_type_t type)
{
    static const char *names[] = {
        "?",         "append",     "append-resp",     "vote",
        "vote-resp", "pre-vote",   "pre-vote-resp",   "heartbeat",
        "hb-resp",   "snapshot",   "snapshot-resp",   "timeout-now",
        "removed",   "read-index", "read-index-resp",
    };
    if ((unsigned) type < sizeof names / sizeof *names)
        return names[type];
    return "?";
}
