/*  sim_net: the event queue, the lossy network and the fault schedule. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* ---------------------------------------------------------------- event heap */

static bool s_before(const sim_ev_t *a, const sim_ev_t *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void sim_heap_push(sim_t *sim, sim_ev_t ev)
{
    if (sim->n_heap == sim->cap_heap) {
        sim->cap_heap = sim->cap_heap ? sim->cap_heap * 2 : 256;
        sim->heap = realloc(sim->heap, sim->cap_heap * sizeof *sim->heap);
        if (!sim->heap)
            abort();
    }
    ev.seq = sim->ev_seq++;
    size_t i = sim->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!s_before(&ev, &sim->heap[p]))
            break;
        sim->heap[i] = sim->heap[p];
        i = p;
    }
    sim->heap[i] = ev;
}

bool sim_heap_pop_before(sim_t *sim, uint64_t end, sim_ev_t *ev)
{
    if (sim->n_heap == 0 || sim->heap[0].time >= end)
        return false;
    *ev = sim->heap[0];
    sim_ev_t last = sim->heap[--sim->n_heap];
    size_t i = 0, n = sim->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s_before(&sim->heap[c + 1], &sim->heap[c]))
            c++;
        if (!s_before(&sim->heap[c], &last))
            break;
        sim->heap[i] = sim->heap[c];
        i = c;
    }
    if (n > 0)
        sim->heap[i] = last;
    return true;
}

void sim_net_free(sim_t *sim)
{
    for (size_t i = 0; i < sim->n_heap; i++)
        if (sim->heap[i].kind == SIM_EV_MSG)
            free(sim->heap[i].ptr);
    free(sim->heap);
    sim->heap = NULL;
    sim->n_heap = sim->cap_heap = 0;
}

/* ---------------------------------------------------------------- network */

/*  One allocation per message copy: the message, its entries, their data,
    a snapshot chunk and the snapshot's membership. */
static zkv_raft_msg_t *s_clone(const zkv_raft_msg_t *m)
{
    size_t bytes = 0;
    for (size_t i = 0; i < m->n_entries; i++)
        bytes += m->entries[i].size;
    size_t ents = m->n_entries * sizeof(zkv_raft_entry_t);
    size_t conf = m->snapshot.config_size;
    zkv_raft_msg_t *c = malloc(sizeof *c + ents + bytes + m->chunk_size + conf);
    if (!c)
        abort();
    *c = *m; /* a broadcast keeps to = 0, as a SUB socket would see it */
    zkv_raft_entry_t *e = (zkv_raft_entry_t *) (c + 1);
    uint8_t *data = (uint8_t *) e + ents;
    for (size_t i = 0; i < m->n_entries; i++) {
        e[i] = m->entries[i];
        if (e[i].size) {
            memcpy(data, m->entries[i].data, e[i].size);
            e[i].data = data;
            data += e[i].size;
        }
    }
    c->entries = m->n_entries ? e : NULL;
    if (m->chunk_size) {
        memcpy(data, m->chunk, m->chunk_size);
        c->chunk = data;
        data += m->chunk_size;
    }
    if (conf) {
        memcpy(data, m->snapshot.config_data, conf);
        c->snapshot.config_data = data;
    }
    return c;
}

static uint64_t s_delay(sim_t *sim)
{
    uint64_t d = 1 + sim_below(sim, sim->max_delay);
    if (sim_chance(sim, sim->long_delay_permille))
        d += SIM_TICK * (2 + sim_below(sim, 8)); /* overtaken by later messages */
    return d;
}

static void s_send_to(sim_t *sim, uint32_t from, const zkv_raft_msg_t *m, uint32_t to)
{
    sim->stats.messages++;
    if (sim->cut[from][to] || sim_chance(sim, sim->drop_permille)) {
        sim->stats.dropped++;
        return;
    }
    int copies = sim_chance(sim, sim->dup_permille) ? 2 : 1;
    for (int i = 0; i < copies; i++) {
        sim_ev_t ev = {.time = sim->now + s_delay(sim), .kind = SIM_EV_MSG, .node = (uint8_t) to};
        ev.ptr = s_clone(m);
        sim_heap_push(sim, ev);
    }
}

void sim_net_send(sim_t *sim, sim_node_t *from, const zkv_raft_msg_t *m)
{
    zkv_raft_msg_t c = *m;
    if (c.type == ZKV_RAFT_MSG_SNAPSHOT) {
        /* The host attaches the bytes, if it still has that snapshot. */
        if (from->serve_index != c.snapshot.index || c.snapshot.size != sizeof(sim_sm_t))
            return;
        c.chunk = (const uint8_t *) &from->serve + c.chunk_offset;
        sim->stats.snapshots_sent += c.chunk_last;
    }
    if (c.to != ZKV_RAFT_BROADCAST) {
        s_send_to(sim, from->id, &c, c.to);
        return;
    }
    for (uint32_t id = 1; id <= sim->n_nodes; id++)
        if (id != from->id)
            s_send_to(sim, from->id, &c, id);
}

void sim_net_deliver(sim_t *sim, sim_ev_t *ev)
{
    zkv_raft_msg_t *m = ev->ptr;
    sim_node_t *nd = &sim->nodes[ev->node];
    if (nd->up) {
        bool snap = m->type == ZKV_RAFT_MSG_SNAPSHOT || m->type == ZKV_RAFT_MSG_SNAPSHOT_RESPONSE;
        if (m->type != ZKV_RAFT_MSG_HEARTBEAT && m->type != ZKV_RAFT_MSG_HEARTBEAT_RESPONSE)
            sim_trace(sim, SIM_TR_MSG, ev->node, m->from, m->type, m->term,
                      m->type == ZKV_RAFT_MSG_SNAPSHOT ? m->snapshot.index : m->index,
                      (snap ? m->chunk_offset : m->n_entries) | (uint64_t) m->reject << 32);
        int rc = zkv_raft_step(nd->raft, m);
        if (rc != 0)
            sim_fail(sim, "well-formed-input", "node %u refused a %s from %u: %d", nd->id,
                     zkv_raft_msg_type_name(m->type), m->from, rc);
        else
            sim_node_ready(sim, nd);
    }
    free(m);
}

/* ---------------------------------------------------------------- faults */

void sim_heal(sim_t *sim)
{
    memset(sim->cut, 0, sizeof sim->cut);
    sim_trace(sim, SIM_TR_HEAL, 0, 0, 0, 0, 0, 0);
}

uint32_t sim_leader(sim_t *sim)
{
    for (uint32_t id = 1; id <= sim->n_nodes; id++) {
        zkv_raft_status_t s;
        if (!sim->nodes[id].up)
            continue;
        zkv_raft_status(sim->nodes[id].raft, &s);
        if (s.role == ZKV_RAFT_LEADER)
            return id;
    }
    return 0;
}

static void s_isolate(sim_t *sim, uint32_t id, bool in, bool out)
{
    for (uint32_t j = 1; j <= sim->n_nodes; j++) {
        if (j == id)
            continue;
        sim->cut[id][j] |= out;
        sim->cut[j][id] |= in;
    }
}

/*  A random partition: an isolated node or leader, a minority/majority
    split, a one-way cut of one node or one link. */
static void s_partition(sim_t *sim)
{
    uint32_t n = sim->n_nodes, kind = sim_below(sim, 6);
    uint32_t victim = 1 + sim_below(sim, n);
    uint32_t leader = sim_leader(sim);
    if (kind == 1 && leader)
        victim = leader;
    switch (kind) {
    case 0:
    case 1: s_isolate(sim, victim, true, true); break;
    case 2: { /* split into two sides */
        bool side[SIM_MAX_NODES + 1];
        for (uint32_t i = 1; i <= n; i++)
            side[i] = sim_chance(sim, 500);
        for (uint32_t i = 1; i <= n; i++)
            for (uint32_t j = 1; j <= n; j++)
                if (side[i] != side[j])
                    sim->cut[i][j] = true;
        break;
    }
    case 3: s_isolate(sim, victim, sim_chance(sim, 500), true); break; /* deaf or mute */
    case 4: s_isolate(sim, victim, true, false); break;
    default: {
        uint32_t to = 1 + sim_below(sim, n);
        if (to != victim)
            sim->cut[victim][to] = true; /* one link, one way */
        break;
    }
    }
    sim->stats.cuts++;
    sim_trace(sim, SIM_TR_CUT, victim, 0, kind, 0, 0, 0);
}

static void s_net_params(sim_t *sim)
{
    static const uint32_t drops[] = {0, 0, 0, 10, 50, 200};
    static const uint32_t delays[] = {2, SIM_TICK, 2 * SIM_TICK, 4 * SIM_TICK};
    sim->drop_permille = drops[sim_below(sim, 6)];
    sim->dup_permille = sim_chance(sim, 300) ? 20 : 0;
    sim->max_delay = delays[sim_below(sim, 4)];
    sim->long_delay_permille = sim_chance(sim, 300) ? 10 : 0;
    sim->disk_sync_percent = sim_below(sim, 101);
    sim->disk_max_delay = 1 + sim_below(sim, 3 * SIM_TICK);
    sim_trace(sim, SIM_TR_NET, 0, 0, 0, sim->drop_permille, sim->max_delay, sim->dup_permille);
}

static void s_crash(sim_t *sim)
{
    uint32_t id = 1 + sim_below(sim, sim->n_nodes);
    uint32_t leader = sim_leader(sim);
    if (leader && sim_chance(sim, 400))
        id = leader;
    sim_node_t *nd = &sim->nodes[id];
    if (!nd->up)
        return;
    sim_node_crash(sim, nd);
    nd->restart_at = sim->step + 2 + sim_below(sim, 60 / sim->storm);
    sim->stats.crashes++;
}

static void s_transfer(sim_t *sim)
{
    uint32_t leader = sim_leader(sim);
    uint32_t to = 1 + sim_below(sim, sim->n_voters);
    if (!leader || to == leader)
        return;
    if (zkv_raft_transfer_leadership(sim->nodes[leader].raft, to) == 0) {
        sim->stats.transfers++;
        sim_trace(sim, SIM_TR_TRANSFER, leader, to, 0, 0, 0, 0);
        sim_node_ready(sim, &sim->nodes[leader]);
    }
}

/*  A leader elected a moment ago that just advanced its commit index is
    cut off before this Ready's messages leave: its followers hold some of
    its log but not the rest, the stuff of Figure 8. */
void sim_hunt_commit(sim_t *sim, sim_node_t *nd, const zkv_raft_ready_t *rd)
{
    if (rd->role != ZKV_RAFT_LEADER || rd->commit <= nd->last_commit || sim->calm ||
        sim->step > sim->elected_step + 4 || !sim_chance(sim, sim->hunt_permille / 2))
        return;
    s_isolate(sim, nd->id, true, true);
    sim->stats.cuts++;
    sim_trace(sim, SIM_TR_CUT, nd->id, 0, 9, rd->commit, 0, 0);
}

/*  A leader elected a moment ago is crashed or cut off, a few ticks in. */
static void s_hunt(sim_t *sim)
{
    uint32_t id = sim->elected;
    if (!id || sim->step < sim->elected_step + sim_below(sim, 4))
        return;
    sim->elected = 0;
    if (!sim_chance(sim, sim->hunt_permille) || !sim->nodes[id].up)
        return;
    if (sim_chance(sim, 500)) {
        s_isolate(sim, id, true, true);
        sim->stats.cuts++;
        sim_trace(sim, SIM_TR_CUT, id, 0, 1, 0, 0, 0);
    } else {
        sim_node_crash(sim, &sim->nodes[id]);
        sim->nodes[id].restart_at = sim->step + 1 + sim_below(sim, 10);
        sim->stats.crashes++;
    }
}

/*  Once per step: maybe change the network, cut or heal links, crash or
    restart nodes, start a leadership transfer. */
void sim_faults(sim_t *sim)
{
    for (uint32_t id = 1; id <= sim->n_nodes; id++) {
        sim_node_t *nd = &sim->nodes[id];
        if (!nd->up && (sim->calm || sim->step >= nd->restart_at))
            sim_node_boot(sim, nd);
    }
    if (sim->calm)
        return;
    s_hunt(sim);
    uint32_t k = sim->storm;
    if (sim_chance(sim, 5 * k))
        s_net_params(sim);
    if (sim_chance(sim, 7 * k))
        s_partition(sim);
    if (sim_chance(sim, 8 * k))
        sim_heal(sim);
    if (sim_chance(sim, 4 * k))
        s_crash(sim);
    if (sim_chance(sim, 3 * k))
        s_transfer(sim);
}
