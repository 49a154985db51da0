/*  raft_fixture: a tiny in-memory cluster for the core/raft unit tests.

    Each node persists synchronously (unless a test takes over with
    manual_persist), applies committed entries to a trivial state machine (the
    sum of applied values) and puts its messages on one FIFO queue that the
    test delivers, filters or inspects. Messages are deep copies: nothing
    points into a node's Ready after advance. */
#ifndef ZKV_RAFT_FIXTURE_H
#define ZKV_RAFT_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raft.h"
#include "zkv_error.h"

#define FX_NODES 6

typedef struct {
    zkv_raft_msg_t m;
    zkv_raft_entry_t *ents;
    uint8_t *data;
} fx_msg_t;

typedef struct {
    zkv_raft_t *raft;
    bool alive;
    bool manual_persist; /* the test calls zkv_raft_persisted itself */
    bool manual_apply;   /* the test calls zkv_raft_applied itself */
    bool fail_install;   /* the next install fails, as if the host's storage refused it */
    uint64_t last_ready; /* id of the last Ready that must be persisted */
    bool has_ack;        /* writer_acks, manual_persist: the last Ready's ack, unsent */
    zkv_raft_msg_t ack;
    /* "disk" */
    zkv_raft_hard_state_t hs;
    zkv_raft_entry_t *disk;
    size_t n_disk;
    uint64_t snap_index, snap_term;
    bool own_members;                /* boot with snap_members, not the template's */
    zkv_raft_members_t snap_members; /* membership as of snap_index */
    uint8_t snap_img[256];
    size_t snap_size;
    /* incoming snapshot chunks */
    uint8_t recv_img[256];
    size_t recv_size;
    /* state machine */
    uint64_t applied;
    uint64_t sum;
    uint64_t applied_values[1024]; /* by index; 0 for no-ops */
    zkv_raft_read_t reads[64];
    size_t n_reads;
    /* loads: answered from "disk" at once, or kept for the test (manual_load) */
    bool manual_load;
    zkv_raft_load_t loads[16];
    size_t n_loads;
    size_t loads_answered;
} fx_node_t;

typedef struct {
    zkv_raft_config_t cfg;         /* template: id and seed are set per node */
    fx_node_t nodes[FX_NODES + 1]; /* by id, 1-based */
    uint32_t n;
    fx_msg_t *q;
    size_t nq;
    size_t capq;
    bool drop[FX_NODES + 1][FX_NODES + 1]; /* drop[from][to] */
    size_t delivered;
    size_t by_type[16];    /* delivered, by message type */
    size_t rejects;        /* delivered append rejections */
    size_t bcast_sent[16]; /* broadcasts sent, by type */
    size_t p2p_sent[16];   /* point-to-point messages sent, by type */
} fx_t;

/*  memcpy that accepts NULL when there is nothing to copy. */
static inline void fx_copy(void *dst, const void *src, size_t n)
{
    if (n)
        memcpy(dst, src, n);
}

static inline void fx_msg_free(fx_msg_t *fm)
{
    free(fm->ents);
    free(fm->data);
}

static inline void fx_push(fx_t *fx, const zkv_raft_msg_t *m, uint32_t to)
{
    if (fx->nq == fx->capq) {
        fx->capq = fx->capq ? fx->capq * 2 : 64;
        fx->q = realloc(fx->q, fx->capq * sizeof *fx->q);
    }
    fx_msg_t *fm = &fx->q[fx->nq++];
    memset(fm, 0, sizeof *fm);
    fm->m = *m;
    fm->m.to = to;
    size_t bytes = 0;
    for (size_t i = 0; i < m->n_entries; i++)
        bytes += m->entries[i].size;
    fm->ents = m->n_entries ? calloc(m->n_entries, sizeof *fm->ents) : NULL;
    fm->data = malloc(bytes + m->chunk_size + m->snapshot.config_size + 1);
    size_t at = 0;
    for (size_t i = 0; i < m->n_entries; i++) {
        fm->ents[i] = m->entries[i];
        fx_copy(fm->data + at, m->entries[i].data, m->entries[i].size);
        fm->ents[i].data = fm->data + at;
        at += m->entries[i].size;
    }
    fm->m.entries = fm->ents;
    if (m->chunk_size) {
        memcpy(fm->data + at, m->chunk, m->chunk_size);
        fm->m.chunk = fm->data + at;
        at += m->chunk_size;
    }
    if (m->snapshot.config_size) {
        memcpy(fm->data + at, m->snapshot.config_data, m->snapshot.config_size);
        fm->m.snapshot.config_data = fm->data + at;
    }
}

/*  Queue a message a node sent; expand a broadcast, attach snapshot bytes. */
static inline void fx_send(fx_t *fx, uint32_t from, const zkv_raft_msg_t *m)
{
    zkv_raft_msg_t c = *m;
    fx_node_t *nd = &fx->nodes[from];
    if (c.type == ZKV_RAFT_MSG_SNAPSHOT) {
        if (c.snapshot.index != nd->snap_index)
            return; /* no longer have that snapshot: drop */
        c.chunk = nd->snap_img + c.chunk_offset;
    }
    if (c.to != ZKV_RAFT_BROADCAST) {
        fx->p2p_sent[c.type]++;
        fx_push(fx, &c, c.to);
        return;
    }
    fx->bcast_sent[c.type]++;
    for (uint32_t id = 1; id <= fx->n; id++)
        if (id != from)
            fx_push(fx, &c, id);
}

static inline void fx_disk_write(fx_node_t *nd, const zkv_raft_ready_t *rd)
{
    if (rd->has_snapshot) {
        for (size_t i = 0; i < nd->n_disk; i++)
            free((void *) nd->disk[i].data);
        nd->n_disk = 0;
        nd->snap_index = rd->snapshot.index;
        nd->snap_term = rd->snapshot.term;
        nd->snap_members = rd->snapshot.members;
        nd->own_members = true;
        memcpy(nd->snap_img, nd->recv_img, nd->recv_size);
        nd->snap_size = nd->recv_size;
    }
    nd->hs = rd->hard_state; /* the commit index too, though it could be lazy */
    for (size_t i = 0; i < rd->n_entries; i++) {
        const zkv_raft_entry_t *e = &rd->entries[i];
        uint64_t first = nd->snap_index + 1;
        while (nd->n_disk > 0 && nd->disk[nd->n_disk - 1].index >= e->index)
            free((void *) nd->disk[--nd->n_disk].data);
        if (e->index < first)
            continue;
        nd->disk = realloc(nd->disk, (nd->n_disk + 1) * sizeof *nd->disk);
        zkv_raft_entry_t c = *e;
        uint8_t *d = malloc(e->size + 1);
        fx_copy(d, e->data, e->size);
        c.data = d;
        nd->disk[nd->n_disk++] = c;
    }
}

static inline void fx_store_chunks(fx_node_t *nd, const zkv_raft_ready_t *rd)
{
    for (size_t i = 0; i < rd->n_chunks; i++) {
        const zkv_raft_chunk_t *c = &rd->chunks[i];
        if (c->offset == 0)
            nd->recv_size = 0;
        fx_copy(nd->recv_img + c->offset, c->data, c->size);
        nd->recv_size = c->offset + c->size;
    }
}

static inline void fx_apply(fx_node_t *nd, const zkv_raft_ready_t *rd)
{
    if (rd->has_snapshot) {
        uint64_t sum = 0;
        memcpy(&sum, nd->recv_img, sizeof sum);
        nd->sum = sum;
        nd->applied = rd->snapshot.index;
    }
    for (size_t i = 0; i < rd->n_committed; i++) {
        const zkv_raft_entry_t *e = &rd->committed[i];
        uint64_t v = 0;
        if (e->type == ZKV_RAFT_ENTRY_NORMAL && e->size == sizeof v)
            memcpy(&v, e->data, sizeof v);
        nd->sum += v;
        nd->applied = e->index;
        if (e->index < 1024)
            nd->applied_values[e->index] = v;
    }
    for (size_t i = 0; i < rd->n_reads && nd->n_reads < 64; i++)
        nd->reads[nd->n_reads++] = rd->reads[i];
}

/*  Entries [lo, hi) from the node's disk (none when it starts after lo). */
static inline int fx_load_answer(fx_node_t *nd, const zkv_raft_load_t *load)
{
    size_t n = 0, at = 0;
    while (at < nd->n_disk && nd->disk[at].index < load->lo)
        at++;
    while (at + n < nd->n_disk && nd->disk[at + n].index == load->lo + n && load->lo + n < load->hi)
        n++;
    nd->loads_answered++;
    return zkv_raft_loaded(nd->raft, load->peer, load->lo, n ? nd->disk + at : NULL, n);
}

/*  Run node id's Ready loop until it has nothing more. */
static inline void fx_ready(fx_t *fx, uint32_t id)
{
    fx_node_t *nd = &fx->nodes[id];
    zkv_raft_ready_t rd;
    while (nd->alive && zkv_raft_ready(nd->raft, &rd) == ZKV_OK) {
        bool fail = rd.has_snapshot && nd->fail_install;
        fx_store_chunks(nd, &rd);
        if (rd.must_persist) {
            if (fail)
                nd->hs = rd.hard_state; /* the hard state only */
            else
                fx_disk_write(nd, &rd);
            nd->last_ready = rd.id;
        }
        nd->hs.commit = rd.hard_state.commit;
        for (size_t i = 0; i < rd.n_messages; i++)
            fx_send(fx, id, &rd.messages[i]);
        if (rd.has_ack && nd->manual_persist) {
            nd->has_ack = true;
            nd->ack = rd.ack;
        } else if (rd.has_ack) {
            fx_send(fx, id, &rd.ack); /* written above */
        }
        if (!fail)
            fx_apply(nd, &rd);
        zkv_raft_load_t loads[16];
        size_t n_loads = 0;
        for (size_t i = 0; i < rd.n_loads && n_loads < 16; i++)
            loads[n_loads++] = rd.loads[i];
        zkv_raft_advance(nd->raft, &rd);
        for (size_t i = 0; i < n_loads; i++) {
            if (nd->manual_load) {
                if (nd->n_loads < 16)
                    nd->loads[nd->n_loads++] = loads[i];
            } else if (fx_load_answer(nd, &loads[i]) != ZKV_OK) {
                abort();
            }
        }
        if (fail) {
            nd->fail_install = false;
            nd->recv_size = 0;
            if (zkv_raft_snapshot_failed(nd->raft, rd.id) != ZKV_OK)
                abort();
        }
        if (rd.must_persist && !nd->manual_persist)
            zkv_raft_persisted(nd->raft, rd.id);
        if (!nd->manual_apply)
            zkv_raft_applied(nd->raft, nd->applied);
    }
}

static inline void fx_ready_all(fx_t *fx)
{
    for (uint32_t id = 1; id <= fx->n; id++)
        fx_ready(fx, id);
}

static inline void fx_start(fx_t *fx, uint32_t id, const zkv_raft_boot_t *boot)
{
    fx_node_t *nd = &fx->nodes[id];
    zkv_raft_config_t cfg = fx->cfg;
    cfg.id = id;
    cfg.seed = id * 7919;
    if (nd->own_members)
        cfg.members = nd->snap_members;
    int rc = zkv_raft_new(&cfg, boot, &nd->raft);
    if (rc != ZKV_OK)
        abort();
    nd->alive = true;
}

/*  n voters 1..n (plus learners from n_voters+1 on if n_voters < n). */
static inline void fx_init(fx_t *fx, uint32_t n, uint32_t n_voters)
{
    memset(fx, 0, sizeof *fx);
    fx->n = n;
    uint32_t voters[FX_NODES];
    for (uint32_t i = 0; i < n_voters; i++)
        voters[i] = i + 1;
    zkv_raft_config_default(&fx->cfg, 1, voters, n_voters);
    for (uint32_t i = n_voters; i < n; i++)
        fx->cfg.members.learners[fx->cfg.members.n_learners++] = i + 1;
}

static inline void fx_start_all(fx_t *fx)
{
    for (uint32_t id = 1; id <= fx->n; id++)
        fx_start(fx, id, NULL);
}

static inline void fx_stop(fx_t *fx, uint32_t id)
{
    fx_node_t *nd = &fx->nodes[id];
    zkv_raft_destroy(&nd->raft);
    nd->alive = false;
}

/*  Restart id from its disk (what it reported durable). */
static inline void fx_restart(fx_t *fx, uint32_t id)
{
    fx_node_t *nd = &fx->nodes[id];
    if (nd->alive)
        fx_stop(fx, id);
    zkv_raft_boot_t boot = {
        .hard_state = nd->hs,
        .snapshot_index = nd->snap_index,
        .snapshot_term = nd->snap_term,
        .snapshot_size = nd->snap_size,
        .entries = nd->disk,
        .n_entries = nd->n_disk,
    };
    uint64_t sum = 0;
    if (nd->snap_size >= sizeof sum)
        memcpy(&sum, nd->snap_img, sizeof sum);
    nd->sum = sum;
    nd->applied = nd->snap_index;
    fx_start(fx, id, &boot);
}

static inline void fx_free(fx_t *fx)
{
    for (uint32_t id = 1; id <= fx->n; id++) {
        fx_node_t *nd = &fx->nodes[id];
        zkv_raft_destroy(&nd->raft);
        for (size_t i = 0; i < nd->n_disk; i++)
            free((void *) nd->disk[i].data);
        free(nd->disk);
    }
    for (size_t i = 0; i < fx->nq; i++)
        fx_msg_free(&fx->q[i]);
    free(fx->q);
}

/*  Deliver the oldest queued message (dropping filtered ones); false if none. */
static inline bool fx_deliver_one(fx_t *fx)
{
    if (fx->nq == 0)
        return false;
    fx_msg_t fm = fx->q[0];
    memmove(fx->q, fx->q + 1, (fx->nq - 1) * sizeof *fx->q);
    fx->nq--;
    uint32_t to = fm.m.to;
    if (to >= 1 && to <= fx->n && fx->nodes[to].alive && !fx->drop[fm.m.from][to]) {
        zkv_raft_step(fx->nodes[to].raft, &fm.m);
        fx->delivered++;
        fx->by_type[fm.m.type]++;
        fx->rejects += fm.m.type == ZKV_RAFT_MSG_APPEND_RESPONSE && fm.m.reject;
        fx_ready(fx, to);
    }
    fx_msg_free(&fm);
    return true;
}

static inline void fx_deliver_all(fx_t *fx)
{
    fx_ready_all(fx);
    for (int guard = 0; guard < 100000 && fx_deliver_one(fx); guard++)
        ;
}

static inline void fx_tick(fx_t *fx, uint32_t id, int ticks)
{
    for (int i = 0; i < ticks; i++) {
        zkv_raft_tick(fx->nodes[id].raft);
        fx_ready(fx, id);
    }
}

/*  Tick everyone (and deliver) for a while. */
static inline void fx_run(fx_t *fx, int ticks)
{
    for (int i = 0; i < ticks; i++) {
        for (uint32_t id = 1; id <= fx->n; id++)
            if (fx->nodes[id].alive)
                zkv_raft_tick(fx->nodes[id].raft);
        fx_deliver_all(fx);
    }
}

static inline void fx_isolate(fx_t *fx, uint32_t id, bool cut)
{
    for (uint32_t j = 1; j <= FX_NODES; j++) {
        fx->drop[id][j] = cut;
        fx->drop[j][id] = cut;
    }
}

static inline zkv_raft_status_t fx_status(fx_t *fx, uint32_t id)
{
    zkv_raft_status_t s;
    zkv_raft_status(fx->nodes[id].raft, &s);
    return s;
}

/*  Campaign id and run the exchange to the end. */
static inline void fx_elect(fx_t *fx, uint32_t id)
{
    zkv_raft_campaign(fx->nodes[id].raft);
    fx_deliver_all(fx);
}

static inline int fx_propose(fx_t *fx, uint32_t id, uint64_t value)
{
    zkv_raft_buf_t b = {&value, sizeof value};
    int rc = zkv_raft_propose(fx->nodes[id].raft, &b, 1, NULL, NULL);
    fx_ready(fx, id);
    return rc;
}

/*  Number of queued messages of a type (0: any) to a node (0: anyone). */
static inline size_t fx_count(const fx_t *fx, zkv_raft_msg_type_t type, uint32_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->nq; i++)
        n += (type == 0 || fx->q[i].m.type == type) && (to == 0 || fx->q[i].m.to == to);
    return n;
}

static inline const zkv_raft_msg_t *fx_find(const fx_t *fx, zkv_raft_msg_type_t type, uint32_t to)
{
    for (size_t i = 0; i < fx->nq; i++)
        if (fx->q[i].m.type == type && (to == 0 || fx->q[i].m.to == to))
            return &fx->q[i].m;
    return NULL;
}

static inline void fx_clear_queue(fx_t *fx)
{
    for (size_t i = 0; i < fx->nq; i++)
        fx_msg_free(&fx->q[i]);
    fx->nq = 0;
}

/*  A log of terms (index i + 1 has terms[i]) as boot entries; the data of
    each entry is its index as a uint64. */
static inline zkv_raft_entry_t *fx_log(const uint64_t *terms, size_t n, uint64_t *values)
{
    zkv_raft_entry_t *e = calloc(n ? n : 1, sizeof *e);
    for (size_t i = 0; i < n; i++) {
        values[i] = i + 1;
        e[i] = (zkv_raft_entry_t){terms[i], i + 1, ZKV_RAFT_ENTRY_NORMAL, sizeof(uint64_t),
                                  (const uint8_t *) &values[i]};
    }
    return e;
}

/*  Boot node id with a log of terms and a hard state term. */
static inline void fx_start_log(fx_t *fx, uint32_t id, const uint64_t *terms, size_t n,
                                uint64_t term)
{
    uint64_t values[64];
    zkv_raft_entry_t *e = fx_log(terms, n, values);
    zkv_raft_boot_t boot = {.hard_state = {.term = term}, .entries = e, .n_entries = n};
    fx_start(fx, id, &boot);
    fx_node_t *nd = &fx->nodes[id];
    nd->hs.term = term;
    for (size_t i = 0; i < n; i++) {
        uint8_t *d = malloc(sizeof(uint64_t));
        memcpy(d, &values[i], sizeof(uint64_t));
        nd->disk = realloc(nd->disk, (nd->n_disk + 1) * sizeof *nd->disk);
        nd->disk[nd->n_disk] = e[i];
        nd->disk[nd->n_disk++].data = d;
    }
    free(e);
}

/*  Node id takes a snapshot of size bytes at its applied index: the sum of
    applied values, then a pattern; its disk and log drop what it covers. */
static inline void fx_snapshot(fx_t *fx, uint32_t id, size_t size)
{
    fx_node_t *nd = &fx->nodes[id];
    memset(nd->snap_img, 0, sizeof nd->snap_img);
    memcpy(nd->snap_img, &nd->sum, sizeof nd->sum);
    for (size_t i = sizeof nd->sum; i < size; i++)
        nd->snap_img[i] = (uint8_t) (i * 31 + nd->applied);
    nd->snap_size = size;
    nd->snap_index = nd->applied;
    zkv_raft_term_at(nd->raft, nd->applied, &nd->snap_term);
    zkv_raft_config_at(nd->raft, nd->applied, &nd->snap_members);
    nd->own_members = true;
    size_t keep = 0;
    for (size_t i = 0; i < nd->n_disk; i++) {
        if (nd->disk[i].index <= nd->snap_index)
            free((void *) nd->disk[i].data);
        else
            nd->disk[keep++] = nd->disk[i];
    }
    nd->n_disk = keep;
    zkv_raft_compact(nd->raft, nd->applied, size);
}

/*  Terms of node id's log, 1..last, into out; returns last. */
static inline uint64_t fx_terms(fx_t *fx, uint32_t id, uint64_t *out, size_t max)
{
    zkv_raft_status_t s = fx_status(fx, id);
    for (uint64_t i = 1; i <= s.last_index && i <= max; i++)
        if (zkv_raft_term_at(fx->nodes[id].raft, i, &out[i - 1]) != ZKV_OK)
            out[i - 1] = 0;
    return s.last_index;
}

#endif
