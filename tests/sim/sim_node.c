/*  sim_node: one simulated host driving a zkv_raft_t the way the node's
    replication actor will: the Ready loop, an asynchronous disk that keeps
    only what completed, the state machine, snapshots, crash and restart. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "zkv_error.h"

static uint64_t s_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t sim_sm_hash_put(uint64_t hash, uint64_t key, uint64_t old, uint64_t value)
{
    uint64_t k = key * 0x9e3779b97f4a7c15ull;
    return hash ^ s_mix(k + old) ^ s_mix(k + value);
}

uint64_t sim_entry_hash(const zkv_raft_entry_t *e)
{
    uint64_t h = s_mix(e->type + 1);
    if (e->type == ZKV_RAFT_ENTRY_NORMAL && e->size == sizeof(sim_cmd_t)) {
        sim_cmd_t c;
        memcpy(&c, e->data, sizeof c);
        h = s_mix(h ^ s_mix(c.key + 7) ^ s_mix(c.value * 3 + 1));
    } else {
        for (uint32_t i = 0; i < e->size; i++)
            h = s_mix(h ^ e->data[i]);
    }
    return h ^ e->size;
}

static void *s_grow(void *v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return v;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    v = realloc(v, n * size);
    if (!v)
        abort();
    *cap = n;
    return v;
}

/* ---------------------------------------------------------------- disk */

static bool s_disk_entries(sim_disk_t *d, const sim_dentry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].index <= d->snap_index)
            continue;
        /* A Ready's entries may restart inside what is stored: cut there. */
        while (d->n > 0 && d->ents[d->n - 1].index >= e[i].index)
            d->n--;
        uint64_t expect = d->n ? d->ents[d->n - 1].index + 1 : d->snap_index + 1;
        if (e[i].index != expect)
            return false;
        d->ents = s_grow(d->ents, &d->cap, d->n + 1, sizeof *d->ents);
        d->ents[d->n++] = e[i];
    }
    return true;
}

static void s_disk_snapshot(sim_disk_t *d, uint64_t index, uint64_t term, const sim_sm_t *img,
                            const zkv_raft_members_t *members, bool drop_all)
{
    d->members = *members;
    size_t keep = 0;
    for (size_t i = 0; i < d->n; i++)
        if (!drop_all && d->ents[i].index > index)
            d->ents[keep++] = d->ents[i];
    d->n = keep;
    d->snap_index = index;
    d->snap_term = term;
    d->snap = *img;
}

static void s_write_complete(sim_t *sim, sim_node_t *nd, sim_write_t *w)
{
    sim_disk_t *d = &nd->disk;
    if (w->has_snap) {
        /* Every stored entry predates the install. A snapshot taken locally
           since (after applying past it) is newer: it stays. */
        if (w->meta.index > d->snap_index)
            s_disk_snapshot(d, w->meta.index, w->meta.term, &w->snap, &w->meta.members, true);
        else
            d->n = 0;
    }
    sim_check_hs_write(sim, nd, &w->hs);
    d->hs = w->hs;
    if (!s_disk_entries(d, w->ents, w->n))
        sim_fail(sim, "durable-log", "node %u: Ready %llu leaves a gap in the stored log", nd->id,
                 (unsigned long long) w->id);
    free(w->ents);
}

/*  Complete, in order, every write due by now; report the last one. */
static void s_disk_progress(sim_t *sim, sim_node_t *nd)
{
    size_t k = 0;
    uint64_t id = 0;
    while (k < nd->n_writes && nd->writes[k].done_at <= sim->now) {
        s_write_complete(sim, nd, &nd->writes[k]);
        id = nd->writes[k++].id;
    }
    if (k == 0)
        return;
    /* The writer's acknowledgements, unless a newer term was written since. */
    for (size_t i = 0; i < k && !sim->failed; i++) {
        const sim_write_t *w = &nd->writes[i];
        if (w->has_ack && w->ack.term >= nd->disk.hs.term) {
            sim_check_message_as(sim, nd, &w->ack, w->ack_term);
            sim_net_send(sim, nd, &w->ack);
        }
    }
    memmove(nd->writes, nd->writes + k, (nd->n_writes - k) * sizeof *nd->writes);
    nd->n_writes -= k;
    sim_trace(sim, SIM_TR_DURABLE, nd->id, 0, 0, id, 0, 0);
    if (zkv_raft_persisted(nd->raft, id) != 0)
        sim_fail(sim, "api", "node %u: persisted(%llu) refused", nd->id, (unsigned long long) id);
}

void sim_node_disk_event(sim_t *sim, sim_node_t *nd, uint32_t gen)
{
    if (!nd->up || gen != nd->gen)
        return;
    s_disk_progress(sim, nd);
    sim_node_ready(sim, nd);
}

static void s_write_enqueue(sim_t *sim, sim_node_t *nd, const zkv_raft_ready_t *rd)
{
    nd->writes = s_grow(nd->writes, &nd->cap_writes, nd->n_writes + 1, sizeof *nd->writes);
    sim_write_t *w = &nd->writes[nd->n_writes++];
    memset(w, 0, sizeof *w);
    w->id = rd->id;
    w->hs = rd->hard_state;
    w->has_ack = rd->has_ack;
    w->ack = rd->ack;
    if (w->has_ack && zkv_raft_term_at(nd->raft, w->ack.index, &w->ack_term) != ZKV_OK)
        sim_fail(sim, "api", "node %u: Ready %llu acknowledges %llu, not in its log", nd->id,
                 (unsigned long long) rd->id, (unsigned long long) w->ack.index);
    w->has_snap = rd->has_snapshot;
    if (w->has_snap) {
        w->meta = rd->snapshot;
        memcpy(&w->snap, nd->recv, sizeof w->snap);
    }
    w->n = rd->n_entries;
    w->ents = w->n ? malloc(w->n * sizeof *w->ents) : NULL;
    for (size_t i = 0; i < w->n; i++) {
        const zkv_raft_entry_t *e = &rd->entries[i];
        sim_dentry_t *de = &w->ents[i];
        memset(de, 0, sizeof *de);
        de->term = e->term;
        de->index = e->index;
        de->type = e->type;
        de->size = e->size;
        if (e->type == ZKV_RAFT_ENTRY_CONFIG && e->size <= sizeof de->conf)
            memcpy(de->conf, e->data, e->size);
        else if (e->size == sizeof de->cmd)
            memcpy(&de->cmd, e->data, sizeof de->cmd);
    }
    uint64_t at = sim->now;
    if (!sim_chance(sim, sim->disk_sync_percent * 10))
        at += 1 + sim_below(sim, sim->disk_max_delay);
    if (nd->n_writes > 1 && nd->writes[nd->n_writes - 2].done_at > at)
        at = nd->writes[nd->n_writes - 2].done_at; /* writes complete in order */
    w->done_at = at;
    sim_trace(sim, SIM_TR_WRITE, nd->id, 0, w->has_snap, w->id,
              w->n ? w->ents[0].index << 32 | w->ents[w->n - 1].index : 0,
              w->n ? w->ents[w->n - 1].term : 0);
    if (at > sim->now) {
        sim_ev_t ev = {.time = at, .kind = SIM_EV_DISK, .node = (uint8_t) nd->id, .gen = nd->gen};
        sim_heap_push(sim, ev);
    }
}

/* ---------------------------------------------------------------- state machine */

static void s_apply(sim_t *sim, sim_node_t *nd, const zkv_raft_entry_t *e)
{
    if (e->index != nd->sm.applied + 1) {
        sim_fail(sim, "apply-order", "node %u applies %llu after %llu", nd->id,
                 (unsigned long long) e->index, (unsigned long long) nd->sm.applied);
        return;
    }
    if (e->type == ZKV_RAFT_ENTRY_NORMAL && e->size == sizeof(sim_cmd_t)) {
        sim_cmd_t c;
        memcpy(&c, e->data, sizeof c);
        uint64_t k = c.key % SIM_KEYS;
        nd->sm.hash = sim_sm_hash_put(nd->sm.hash, k, nd->sm.value[k], c.value);
        nd->sm.value[k] = c.value;
        nd->sm.windex[k] = e->index;
    }
    nd->sm.applied = e->index;
    sim_check_apply(sim, nd, e);
    /* The client that proposed it hears back: acknowledged, or lost. */
    size_t k = 0;
    for (; k < nd->n_props && nd->props[k].index <= e->index; k++) {
        const sim_prop_t *p = &nd->props[k];
        if (p->index != e->index || p->term != e->term)
            continue;
        sim_cmd_t c;
        if (e->size != sizeof c)
            continue;
        memcpy(&c, e->data, sizeof c);
        if (c.value != p->cmd.value) {
            sim_fail(sim, "proposal-identity", "node %u: index %llu term %llu holds %llu, not %llu",
                     nd->id, (unsigned long long) e->index, (unsigned long long) e->term,
                     (unsigned long long) c.value, (unsigned long long) p->cmd.value);
            return;
        }
        sim->stats.acked++;
        if (e->index > sim->max_acked_index)
            sim->max_acked_index = e->index;
    }
    if (k == 0)
        return;
    memmove(nd->props, nd->props + k, (nd->n_props - k) * sizeof *nd->props);
    nd->n_props -= k;
}

static void s_install(sim_t *sim, sim_node_t *nd, const zkv_raft_ready_t *rd)
{
    sim_sm_t img;
    if (nd->recv_size != sizeof img || rd->snapshot.size != sizeof img) {
        sim_fail(sim, "snapshot-transfer", "node %u: snapshot %llu assembled %zu of %llu bytes",
                 nd->id, (unsigned long long) rd->snapshot.index, nd->recv_size,
                 (unsigned long long) rd->snapshot.size);
        return;
    }
    memcpy(&img, nd->recv, sizeof img);
    sim_check_install(sim, nd, &img, rd->snapshot.index);
    nd->sm = img;
    nd->serve = img;
    nd->serve_index = rd->snapshot.index;
    /* Proposals the snapshot covers: their fate is unknown here. */
    size_t k = 0;
    while (k < nd->n_props && nd->props[k].index <= img.applied)
        k++;
    if (k == 0)
        return;
    memmove(nd->props, nd->props + k, (nd->n_props - k) * sizeof *nd->props);
    nd->n_props -= k;
}

static void s_store_chunks(sim_node_t *nd, const zkv_raft_ready_t *rd)
{
    for (size_t i = 0; i < rd->n_chunks; i++) {
        const zkv_raft_chunk_t *c = &rd->chunks[i];
        if (c->offset == 0)
            nd->recv_size = 0;
        if (c->offset != nd->recv_size || c->offset + c->size > sizeof nd->recv)
            continue; /* s_install reports the short image */
        if (c->size)
            memcpy(nd->recv + c->offset, c->data, c->size);
        nd->recv_size += c->size;
    }
}

static void s_serve_reads(sim_t *sim, sim_node_t *nd, const zkv_raft_ready_t *rd)
{
    for (size_t i = 0; i < rd->n_reads; i++) {
        const zkv_raft_read_t *rr = &rd->reads[i];
        size_t k = 0;
        while (k < nd->n_reads && nd->reads[k].ctx != rr->context)
            k++;
        if (k == nd->n_reads) {
            sim_fail(sim, "read-context", "node %u released unknown read %llu", nd->id,
                     (unsigned long long) rr->context);
            return;
        }
        sim_check_read(sim, nd, &nd->reads[k], rr);
        nd->reads[k] = nd->reads[--nd->n_reads];
    }
}

/*  Now and then take a snapshot of the state machine and compact the log. */
static void s_maybe_snapshot(sim_t *sim, sim_node_t *nd)
{
    if (nd->sm.applied < nd->disk.snap_index + sim->snap_every)
        return;
    zkv_raft_status_t st;
    zkv_raft_status(nd->raft, &st);
    if (nd->sm.applied > st.durable_index)
        return; /* the contract: only what the log holds durably */
    uint64_t term = 0;
    if (zkv_raft_term_at(nd->raft, nd->sm.applied, &term) != 0) {
        sim_fail(sim, "api", "node %u: no term at applied index %llu", nd->id,
                 (unsigned long long) nd->sm.applied);
        return;
    }
    zkv_raft_members_t members;
    if (zkv_raft_config_at(nd->raft, nd->sm.applied, &members) != 0) {
        sim_fail(sim, "api", "node %u: no membership at applied index %llu", nd->id,
                 (unsigned long long) nd->sm.applied);
        return;
    }
    s_disk_snapshot(&nd->disk, nd->sm.applied, term, &nd->sm, &members, false);
    nd->serve = nd->sm;
    nd->serve_index = nd->sm.applied;
    if (zkv_raft_compact(nd->raft, nd->sm.applied, sizeof nd->sm) != 0)
        sim_fail(sim, "api", "node %u: compact(%llu) refused", nd->id,
                 (unsigned long long) nd->sm.applied);
    sim->stats.snapshots_taken++;
    sim_trace(sim, SIM_TR_SNAPSHOT, nd->id, 0, 0, nd->sm.applied, term, 0);
}

/* ---------------------------------------------------------------- the Ready loop */

static void s_ready_once(sim_t *sim, sim_node_t *nd, zkv_raft_ready_t *rd)
{
    sim_hunt_commit(sim, nd, rd);
    sim_check_ready(sim, nd, rd);
    s_store_chunks(nd, rd);
    if (rd->must_persist)
        s_write_enqueue(sim, nd, rd);
    for (size_t i = 0; i < rd->n_messages && !sim->failed; i++) {
        sim_check_message(sim, nd, &rd->messages[i]);
        sim_net_send(sim, nd, &rd->messages[i]);
    }
    if (rd->has_snapshot)
        s_install(sim, nd, rd);
    for (size_t i = 0; i < rd->n_committed && !sim->failed; i++)
        s_apply(sim, nd, &rd->committed[i]);
    s_serve_reads(sim, nd, rd);
}

/*  Entries [lo, hi) from the disk, or none when it starts after lo (a
    snapshot compacted them); one in ten loads is lost and asked again, and
    one in fifty answered with a first entry of another term, which the core
    must refuse. */
static void s_load(sim_t *sim, sim_node_t *nd, const zkv_raft_load_t *load)
{
    if (sim_chance(sim, 100)) {
        sim->stats.loads_lost++;
        return;
    }
    const sim_disk_t *d = &nd->disk;
    zkv_raft_entry_t ents[64];
    size_t n = 0, bytes = 0;
    for (uint64_t i = load->lo; i < load->hi && i > d->snap_index && i - d->snap_index <= d->n &&
                                n < sizeof ents / sizeof ents[0];
         i++) {
        const sim_dentry_t *de = &d->ents[i - d->snap_index - 1];
        if (n > 0 && bytes + de->size > load->bytes_max)
            break;
        ents[n++] = (zkv_raft_entry_t){
            de->term, de->index, de->type, de->size,
            de->type == ZKV_RAFT_ENTRY_CONFIG ? de->conf : (const uint8_t *) &de->cmd};
        bytes += de->size;
    }
    sim->stats.loads++;
    if (n > 0 && sim_chance(sim, 20)) {
        ents[0].term = ents[0].term > 1 ? ents[0].term - 1 : ents[0].term + 1;
        int rc = zkv_raft_loaded(nd->raft, load->peer, load->lo, ents, n);
        if (rc != ZKV_EINVAL && rc != 0)
            sim_fail(sim, "api", "node %u: loaded(): %d", nd->id, rc);
        return;
    }
    int rc = zkv_raft_loaded(nd->raft, load->peer, load->lo, ents, n);
    if (rc != 0)
        sim_fail(sim, "api", "node %u: loaded(%u, %llu, %zu) refused: %d", nd->id, load->peer,
                 (unsigned long long) load->lo, n, rc);
}

void sim_node_ready(sim_t *sim, sim_node_t *nd)
{
    zkv_raft_ready_t rd;
    while (nd->up && !sim->failed && zkv_raft_ready(nd->raft, &rd) == 0) {
        s_ready_once(sim, nd, &rd);
        zkv_raft_load_t loads[16];
        size_t n_loads = rd.n_loads < 16 ? rd.n_loads : 16;
        if (n_loads)
            memcpy(loads, rd.loads, n_loads * sizeof *loads);
        zkv_raft_advance(nd->raft, &rd);
        if (sim->failed)
            return;
        for (size_t i = 0; i < n_loads && !sim->failed; i++)
            s_load(sim, nd, &loads[i]);
        s_disk_progress(sim, nd);
        if (zkv_raft_applied(nd->raft, nd->sm.applied) != 0)
            sim_fail(sim, "api", "node %u: applied(%llu) refused", nd->id,
                     (unsigned long long) nd->sm.applied);
        s_maybe_snapshot(sim, nd);
    }
}

/* ---------------------------------------------------------------- life and death */

void sim_node_boot(sim_t *sim, sim_node_t *nd)
{
    sim_disk_t *d = &nd->disk;
    zkv_raft_entry_t *ents = d->n ? malloc(d->n * sizeof *ents) : NULL;
    for (size_t i = 0; i < d->n; i++) {
        const sim_dentry_t *de = &d->ents[i];
        ents[i] = (zkv_raft_entry_t){
            de->term, de->index, de->type, de->size,
            de->type == ZKV_RAFT_ENTRY_CONFIG ? de->conf : (const uint8_t *) &de->cmd};
    }
    zkv_raft_boot_t boot = {
        .hard_state = d->hs,
        .snapshot_index = d->snap_index,
        .snapshot_term = d->snap_term,
        .snapshot_size = d->snap_index ? sizeof(sim_sm_t) : 0,
        .entries = ents,
        .n_entries = d->n,
    };
    zkv_raft_config_t cfg = sim->cfg;
    cfg.members = d->members;
    cfg.id = nd->id;
    cfg.seed = sim_rand(sim);
    int rc = zkv_raft_new(&cfg, &boot, &nd->raft);
    free(ents);
    if (rc != 0) {
        sim_fail(sim, "restart", "node %u cannot boot from its disk: %d", nd->id, rc);
        return;
    }
    nd->up = true;
    nd->sm = d->snap;
    nd->serve = d->snap;
    nd->serve_index = d->snap_index;
    nd->recv_size = 0;
    nd->last_term = 0;
    nd->last_commit = 0;
    sim_trace(sim, SIM_TR_RESTART, nd->id, 0, 0, d->hs.term, d->snap_index, d->n);
    sim_node_ready(sim, nd);
}

/*  Lose everything not durable: memory, pending writes, clients' hopes. */
void sim_node_crash(sim_t *sim, sim_node_t *nd)
{
    zkv_raft_destroy(&nd->raft);
    for (size_t i = 0; i < nd->n_writes; i++)
        free(nd->writes[i].ents);
    nd->n_writes = 0;
    nd->n_props = 0;
    nd->n_reads = 0;
    nd->up = false;
    nd->gen++;
    sim_trace(sim, SIM_TR_CRASH, nd->id, 0, 0, nd->disk.hs.term, nd->disk.snap_index, nd->disk.n);
}

void sim_node_free(sim_node_t *nd)
{
    zkv_raft_destroy(&nd->raft);
    for (size_t i = 0; i < nd->n_writes; i++)
        free(nd->writes[i].ents);
    free(nd->writes);
    free(nd->disk.ents);
    free(nd->props);
    free(nd->reads);
    memset(nd, 0, sizeof *nd);
}
