/*  raft_load: entries read back from the host's durable log.

    Once entries are applied and durable, the log lets go of their data
    when no member may need them (every follower of a leader has them; a
    follower sends no entries) and beyond the newest cfg.log_memory_bytes
    anyway, keeping index, term, type and size. A follower that needs older
    ones gets them through the host: the leader asks in Ready.loads (one
    load per follower at a time, enough for a few appends), the host reads
    its log and answers with zkv_raft_loaded, and appends go out from the
    answer until the follower needs entries past it. The entries must match
    the log (index and term), so a stale or wrong answer changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "raft_int.h"

/*  Appends one load may fill. */
#define S_LOAD_APPENDS_MAX 8u

static size_t s_find(const zkv_raft_t *raft, uint32_t peer)
{
    size_t i = 0;
    while (i < raft->loaded.n && raft->loaded.v[i]->peer != peer)
        i++;
    return i;
}

/*  Let go of loaded[i]: appends made from it may still point into it, so
    it is freed at the next advance. */
static void s_retire(zkv_raft_t *raft, size_t i)
{
    raft_loaded_t *l = raft->loaded.v[i];
    raft->loaded.v[i] = raft->loaded.v[--raft->loaded.n];
    l->next = raft->retired;
    raft->retired = l;
}

static void s_free_retired(zkv_raft_t *raft)
{
    while (raft->retired) {
        raft_loaded_t *l = raft->retired;
        raft->retired = l->next;
        free(l);
    }
}

static void s_request(zkv_raft_t *raft, raft_peer_t *pr)
{
    if (pr->load_lo)
        return;
    uint64_t hi = pr->next + (uint64_t) S_LOAD_APPENDS_MAX * raft->cfg.max_msg_entries;
    if (hi > raft->log.data_first)
        hi = raft->log.data_first;
    zkv_raft_load_t load = {.peer = pr->id,
                            .lo = pr->next,
                            .hi = hi,
                            .bytes_max = S_LOAD_APPENDS_MAX * raft->cfg.max_msg_bytes};
    if (!RAFT_VEC_PUSH(raft->loads, load))
        return; /* out of memory: asked again at the next send */
    pr->load_lo = pr->next;
    pr->load_idle = 0;
}

const zkv_raft_entry_t *raft_load_entries(zkv_raft_t *raft, raft_peer_t *pr, size_t *n)
{
    size_t i = s_find(raft, pr->id);
    const raft_loaded_t *l = i < raft->loaded.n ? raft->loaded.v[i] : NULL;
    if (!l || pr->next < l->lo || pr->next >= l->lo + l->n) {
        if (l)
            s_retire(raft, i);
        s_request(raft, pr);
        return NULL;
    }
    size_t at = (size_t) (pr->next - l->lo);
    if (*n > l->n - at)
        *n = l->n - at;
    return l->ents + at;
}

void raft_load_tick(zkv_raft_t *raft, raft_peer_t *pr)
{
    if (pr->load_lo && ++pr->load_idle >= raft->cfg.election_ticks)
        pr->load_lo = 0;
}

/*  The entries match the log from lo on, within what it holds. */
static bool s_match(const zkv_raft_t *raft, uint64_t lo, const zkv_raft_entry_t *ents, size_t n)
{
#if ZKV_RAFT_PLANTED_BUG == 13
    /* TEST-ONLY planted bug (sim_planted_loaded_unchecked): whatever the host read is sent. */
    return true;
#endif
    if (lo <= raft->log.snap_index || lo + n - 1 > raft_log_last(&raft->log))
        return false;
    for (size_t i = 0; i < n; i++) {
        const zkv_raft_entry_t *e = raft_log_entry(&raft->log, lo + i);
        if (ents[i].index != lo + i || ents[i].term != e->term || ents[i].type != e->type ||
            ents[i].size != e->size || (ents[i].size && !ents[i].data))
            return false;
    }
    return true;
}

/*  A copy of the entries and their data; NULL when out of memory. */
static raft_loaded_t *s_copy(uint32_t peer, uint64_t lo, const zkv_raft_entry_t *ents, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += ents[i].size;
    raft_loaded_t *l = malloc(sizeof *l + n * sizeof *ents + bytes);
    if (!l)
        return NULL;
    *l = (raft_loaded_t){.peer = peer, .lo = lo, .n = n};
    uint8_t *data = (uint8_t *) (l->ents + n);
    for (size_t i = 0; i < n; i++) {
        l->ents[i] = ents[i];
        l->ents[i].data = ents[i].size ? data : NULL;
        if (ents[i].size)
            memcpy(data, ents[i].data, ents[i].size);
        data += ents[i].size;
    }
    return l;
}

int zkv_raft_loaded(zkv_raft_t *raft, uint32_t peer, uint64_t lo, const zkv_raft_entry_t *entries,
                    size_t n)
{
    if (raft->in_ready)
        return ZKV_EINVAL;
    raft_peer_t *pr = raft_peer(raft, peer);
    if (raft->role != ZKV_RAFT_LEADER || !pr || pr->self || !lo || pr->load_lo != lo)
        return ZKV_OK; /* nobody waits for it any more */
    if (n > (size_t) S_LOAD_APPENDS_MAX * raft->cfg.max_msg_entries)
        n = (size_t) S_LOAD_APPENDS_MAX * raft->cfg.max_msg_entries;
    if (n > 0 && !s_match(raft, lo, entries, n))
        return ZKV_EINVAL;
    pr->load_lo = 0;
    if (n == 0) { /* the host's log starts after lo: the snapshot it has will do */
        if (raft->log.snap_index > 0 && pr->state != ZKV_RAFT_SNAPSHOT && pr->next == lo)
            raft_snapshot_start(raft, pr);
        return ZKV_OK;
    }
    raft_loaded_t *l = s_copy(peer, lo, entries, n);
    if (!l || !RAFT_VEC_PUSH(raft->loaded, l)) {
        free(l);
        return ZKV_ENOMEM;
    }
    raft_send_appends(raft, pr);
    return ZKV_OK;
}

/*  The first index whose data the log must keep: what is not yet applied or durable, what a
    member may still be sent (a leader's followers from their match on; a follower sends
    nothing), and the newest window bytes beyond that. */
static uint64_t s_data_first(const zkv_raft_t *raft)
{
    const raft_log_t *log = &raft->log;
    uint64_t keep = (log->applied < log->durable ? log->applied : log->durable) + 1;
    uint64_t needed = keep;
    for (uint32_t i = 0; raft->role == ZKV_RAFT_LEADER && i < raft->n_peers; i++) {
        const raft_peer_t *pr = &raft->peers[i];
        if (pr->member && !pr->self && pr->match + 1 < needed)
            needed = pr->match + 1;
    }
    uint64_t windowed = raft_log_droppable(log, keep, raft->cfg.log_memory_bytes);
    uint64_t unneeded = raft_log_droppable(log, needed, 0);
    return windowed > unneeded ? windowed : unneeded;
}

bool raft_load_droppable(const zkv_raft_t *raft)
{
    if (!raft->cfg.log_memory_bytes)
        return false;
    uint64_t first = s_data_first(raft);
    return first > raft->log.data_first && first != raft->drop_tried;
}

void raft_load_advance(zkv_raft_t *raft)
{
    raft->loads.n = 0;
    s_free_retired(raft);
    for (size_t i = raft->loaded.n; i-- > 0;)
        if (raft->role != ZKV_RAFT_LEADER || !raft_peer(raft, raft->loaded.v[i]->peer))
            s_retire(raft, i);
    raft_log_t *log = &raft->log;
    if (!raft->cfg.log_memory_bytes)
        return;
    uint64_t first = s_data_first(raft);
    raft->drop_tried = first;
    if (first > log->data_first && raft_config_keep(raft, log->data_first, first))
        raft_log_drop_data(log, first);
}

void raft_load_free(zkv_raft_t *raft)
{
    while (raft->loaded.n > 0)
        s_retire(raft, raft->loaded.n - 1);
    s_free_retired(raft);
    free(raft->loaded.v);
    free(raft->loads.v);
}
