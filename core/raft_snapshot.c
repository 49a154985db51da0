/*  raft_snapshot: InstallSnapshot in chunks (§7).

    Leader: a follower whose next entry was compacted away gets the latest
    snapshot, chunk by chunk, a window of max_inflight chunks at a time. The
    core never touches snapshot bytes: a SNAPSHOT message in a Ready names
    the snapshot and the byte range, and the host attaches the bytes. With no
    answer for half an election timeout the leader resends from the last
    acknowledged offset; a new local snapshot restarts every transfer.

    Follower: chunks must arrive in order (offset == bytes held); each is
    handed to the host to store (Ready.chunks). The last one installs the
    snapshot: the log is reset to it and Ready.has_snapshot tells the host to
    restore and persist it; the final answer waits until that is durable. A
    follower that already holds the snapshot's last entry (or committed past
    it) does not need it and says so. An install the host could not complete
    (zkv_raft_snapshot_failed) leaves the log at a snapshot the state machine
    lacks: the follower takes no entries until the leader sends one again. */
#include <string.h>

#include "raft_int.h"

static void s_meta(const zkv_raft_t *raft, const raft_peer_t *pr, zkv_raft_snapshot_meta_t *meta)
{
    meta->index = pr->snap_index;
    meta->term = pr->snap_term;
    meta->size = pr->snap_size;
    meta->members = raft->conf_snap; /* pr->snap_index is our snapshot's */
    meta->config_data = raft->conf_snap_data;
    meta->config_size = raft->conf_snap_size;
}

static void s_send_chunks(zkv_raft_t *raft, raft_peer_t *pr)
{
    size_t chunk = raft->cfg.snapshot_chunk_size;
    uint64_t window = (uint64_t) raft->cfg.max_inflight * chunk;
    while (!pr->snap_sent_all && pr->snap_sent - pr->snap_acked < window) {
        uint64_t left = pr->snap_size - pr->snap_sent;
        size_t n = left < chunk ? (size_t) left : chunk;
        zkv_raft_msg_t m = {
            .type = ZKV_RAFT_MSG_SNAPSHOT,
            .to = pr->id,
            .chunk_offset = pr->snap_sent,
            .chunk_size = n,
            .chunk_last = pr->snap_sent + n == pr->snap_size,
        };
        s_meta(raft, pr, &m.snapshot);
        raft_send(raft, &m, NULL, 0, 0);
        pr->snap_sent += n;
        pr->snap_sent_all = m.chunk_last;
    }
}

void raft_snapshot_start(zkv_raft_t *raft, raft_peer_t *pr)
{
    assert(raft->log.snap_index > 0);
    pr->state = ZKV_RAFT_SNAPSHOT;
    pr->probe_sent = false;
    pr->infl_count = 0;
    pr->infl_head = 0;
    pr->snap_index = raft->log.snap_index;
    pr->snap_term = raft->log.snap_term;
    pr->snap_size = raft->snap_size;
    pr->snap_sent = 0;
    pr->snap_acked = 0;
    pr->snap_sent_all = false;
    pr->snap_idle = 0;
    s_send_chunks(raft, pr);
}

static void s_resend(zkv_raft_t *raft, raft_peer_t *pr, uint64_t offset)
{
    pr->snap_sent = offset;
    pr->snap_acked = offset;
    pr->snap_sent_all = false;
    s_send_chunks(raft, pr);
}

void raft_snapshot_tick(zkv_raft_t *raft, raft_peer_t *pr)
{
    uint32_t limit = raft->cfg.election_ticks / 2;
    if (++pr->snap_idle < (limit ? limit : 1))
        return;
    pr->snap_idle = 0;
    s_resend(raft, pr, pr->snap_acked);
}

void raft_handle_snapshot_response(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    raft_peer_t *pr = raft_peer(raft, m->from);
    if (!pr || pr->self)
        return;
    pr->active = true;
    if (pr->state != ZKV_RAFT_SNAPSHOT || m->index != pr->snap_index ||
        m->chunk_offset > pr->snap_size)
        return;
    pr->snap_idle = 0;
    if (m->chunk_last) {
        bool installed = !m->reject && pr->snap_index > pr->match;
        if (installed)
            pr->match = pr->snap_index;
        raft_progress_probe(raft, pr, pr->snap_index + 1);
        if (installed && raft_maybe_commit(raft) && raft->role != ZKV_RAFT_LEADER)
            return; /* our removal committed: we stepped down */
        raft_send_append(raft, pr, true);
        return;
    }
    if (m->reject)
        s_resend(raft, pr, m->chunk_offset);
    else if (m->chunk_offset > pr->snap_acked)
        pr->snap_acked = m->chunk_offset;
    s_send_chunks(raft, pr);
}

/* ---------------------------------------------------------------- follower */

static void s_respond(zkv_raft_t *raft, const zkv_raft_msg_t *m, uint64_t offset, bool reject,
                      bool last, uint64_t after_ready)
{
    zkv_raft_msg_t r = {
        .type = ZKV_RAFT_MSG_SNAPSHOT_RESPONSE,
        .to = m->from,
        .index = m->snapshot.index,
        .chunk_offset = offset,
        .reject = reject,
        .chunk_last = last,
    };
    raft_send(raft, &r, NULL, 0, after_ready);
}

/*  We hold its last entry, or committed past it: no need to install. */
static bool s_not_needed(zkv_raft_t *raft, const zkv_raft_snapshot_meta_t *meta)
{
    if (raft->snap_lost)
        return false; /* our log starts at a snapshot our state machine lacks */
    uint64_t term;
    if (raft_log_term(&raft->log, meta->index, &term) == ZKV_OK && term == meta->term) {
        /* Log matching: our log equals the leader's up to meta->index,
           which is committed. */
        if (meta->index > raft->verified)
            raft->verified = meta->index;
        raft_log_commit_to(&raft->log, meta->index);
        return true;
    }
    return raft->log.commit >= meta->index;
}

static bool s_store_chunk(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    size_t at = raft->chunk_bytes.n;
    if (!raft_grow((void **) &raft->chunk_bytes.v, &raft->chunk_bytes.cap, at + m->chunk_size, 1) ||
        !raft_grow((void **) &raft->chunks.v, &raft->chunks.cap, raft->chunks.n + 1,
                   sizeof *raft->chunks.v))
        return false;
    if (m->chunk_size)
        memcpy(raft->chunk_bytes.v + at, m->chunk, m->chunk_size);
    raft->chunk_bytes.n += m->chunk_size;
    zkv_raft_chunk_t c = {
        .snapshot_index = m->snapshot.index,
        .snapshot_term = m->snapshot.term,
        .offset = m->chunk_offset,
        .data = (const uint8_t *) (uintptr_t) at, /* made a pointer in the Ready */
        .size = m->chunk_size,
    };
    raft->chunks.v[raft->chunks.n++] = c;
    return true;
}

static void s_install(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    const zkv_raft_snapshot_meta_t *meta = &raft->recv_meta;
    raft_log_t *log = &raft->log;
    assert(meta->index > log->commit || raft->snap_lost);
    /* Our entries up to the snapshot may differ from what it holds; only
       the committed ones are known equal until the snapshot is durable. */
    uint64_t durable = log->durable < log->commit ? log->durable : log->commit;
    raft_log_reset(log, meta->index, meta->term);
    raft_config_reset(raft, &meta->members, meta->config_data, meta->config_size);
    log->durable = durable;
    /* The snapshot's write drops every stored entry, those of earlier
       Readies too: their persistence no longer makes anything durable. */
    raft->records.n = 0;
    log->commit = meta->index;
    log->applying = meta->index;
    log->applied = meta->index;
    raft->verified = meta->index;
    raft->snap_size = meta->size;
    raft->snap_pending = true;
    raft->snap_install = *meta;
    raft->snap_install.config_data = raft->conf_snap_data;
    raft->snap_install.config_size = raft->conf_snap_size;
    raft->snap_chunks = raft->chunks.n;
    raft->snap_lost = false;
    raft->recv_active = false;
    s_respond(raft, m, meta->size, false, true, raft->next_ready_id);
}

void raft_handle_snapshot(zkv_raft_t *raft, const zkv_raft_msg_t *m)
{
    const zkv_raft_snapshot_meta_t *meta = &m->snapshot;
    if (s_not_needed(raft, meta)) {
        raft->recv_active = false;
        s_respond(raft, m, 0, true, true, 0);
        return;
    }
    if (m->chunk_offset == 0) {
        raft->recv_active = true;
        raft->recv_term = raft->term;
        raft->recv_meta = *meta;
        raft->recv_next = 0;
        /* The message's memory goes with it. */
        raft->recv_conf_size = meta->config_size;
        if (meta->config_size)
            memcpy(raft->recv_conf, meta->config_data, meta->config_size);
        raft->recv_meta.config_data = meta->config_data ? raft->recv_conf : NULL;
    }
    bool same = raft->recv_active && raft->recv_term == raft->term &&
                raft->recv_meta.index == meta->index && raft->recv_meta.term == meta->term &&
                raft->recv_meta.size == meta->size;
    if (!same || m->chunk_offset != raft->recv_next) {
        s_respond(raft, m, same ? raft->recv_next : 0, true, false, 0);
        return;
    }
    if (!s_store_chunk(raft, m))
        return; /* out of memory: as if lost; the leader resends */
    raft->recv_next += m->chunk_size;
    if (m->chunk_last)
        s_install(raft, m);
    else
        s_respond(raft, m, raft->recv_next, false, false, 0);
}

/* ---------------------------------------------------------------- failed install */

void raft_reject_for_snapshot(zkv_raft_t *raft, uint32_t to, uint64_t index)
{
    /* Once per probe: the leader asks again at its next heartbeat, not at once. */
    if (raft->lost_rejected == index + 1)
        return;
    raft->lost_rejected = index + 1;
    /* Hint 0: the leader goes back to what it knows we hold, or to a snapshot. */
    zkv_raft_msg_t r = {
        .type = ZKV_RAFT_MSG_APPEND_RESPONSE,
        .to = to,
        .reject = true,
        .index = index,
    };
    raft_send(raft, &r, NULL, 0, 0);
}

/*  The install's Ready was not written: forget its record and the final answer. */
static void s_forget_install(zkv_raft_t *raft, uint64_t ready_id, uint64_t index)
{
    size_t keep = 0;
    for (size_t i = 0; i < raft->records.n; i++)
        if (raft->records.v[i].id != ready_id)
            raft->records.v[keep++] = raft->records.v[i];
    raft->records.n = keep;
    keep = 0;
    for (size_t i = 0; i < raft->held.n; i++) {
        const zkv_raft_msg_t *m = &raft->held.v[i].msg;
        if (m->type != ZKV_RAFT_MSG_SNAPSHOT_RESPONSE || !m->chunk_last || m->reject ||
            m->index != index)
            raft->held.v[keep++] = raft->held.v[i];
    }
    raft->held.n = keep;
}

int zkv_raft_snapshot_failed(zkv_raft_t *raft, uint64_t ready_id)
{
    assert(!raft->in_ready);
    raft_log_t *log = &raft->log;
    if (ready_id == 0 || ready_id != raft->snap_ready_id || ready_id + 1 != raft->next_ready_id ||
        raft->snap_pending || log->snap_index != raft->snap_install.index)
        return ZKV_EINVAL;
    raft->snap_ready_id = 0;
    /* Entries that came with the install were not written either, and what
       they let us commit or verify went with them. */
    raft_log_reset(log, log->snap_index, log->snap_term);
    raft_config_track(raft, log->snap_index + 1);
    log->commit = log->snap_index;
    raft->verified = log->snap_index;
    s_forget_install(raft, ready_id, log->snap_index);
    raft->snap_lost = true;
    raft->lost_rejected = 0;
    if (raft->leader != ZKV_RAFT_NONE) {
        zkv_raft_msg_t r = {
            .type = ZKV_RAFT_MSG_SNAPSHOT_RESPONSE,
            .to = raft->leader,
            .index = log->snap_index,
            .reject = true, /* resend from offset 0 */
        };
        raft_send(raft, &r, NULL, 0, 0);
    }
    return ZKV_OK;
}
