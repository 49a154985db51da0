/*  sim_config: membership changes as simulation events.

    Now and then the leader is asked for one change: a new node joins as a
    learner (it boots with no membership and learns it from the leader), a
    learner is promoted, a voter (the leader itself, sometimes) or a learner
    is removed. Ids are never reused: a removed node stays up, outside the
    cluster, and must stay quiet (removed-quiet, sim_check.c). A change is
    sometimes asked for twice in a row, so that a leader that would take a
    second one before the first commits gets the chance (single-change). */
#include <string.h>

#include "sim.h"

enum { S_ADD_LEARNER, S_PROMOTE, S_REMOVE_VOTER, S_REMOVE_LEARNER };

/*  The highest commit index any node holds now. */
static uint64_t s_commit_known(sim_t *sim)
{
    uint64_t c = sim->max_commit_seen;
    for (uint32_t id = 1; id <= sim->n_nodes; id++) {
        zkv_raft_status_t s;
        if (!sim->nodes[id].up)
            continue;
        zkv_raft_status(sim->nodes[id].raft, &s);
        if (s.commit > c)
            c = s.commit;
    }
    return c;
}

static void s_drop(uint32_t *ids, uint32_t *n, uint32_t at)
{
    ids[at] = ids[--*n];
}

/*  The membership after op on m, and who it is about (0: op not possible). */
static uint32_t s_next(sim_t *sim, int op, zkv_raft_members_t *m)
{
    uint32_t who = 0;
    switch (op) {
    case S_ADD_LEARNER:
        if (sim->n_nodes >= SIM_MAX_NODES || m->n_learners >= ZKV_MEMBERS_MAX)
            return 0;
        who = sim->n_nodes + 1;
        m->learners[m->n_learners++] = who;
        return who;
    case S_PROMOTE:
        if (m->n_learners == 0 || m->n_voters >= 5)
            return 0;
        uint32_t at = sim_below(sim, m->n_learners);
        who = m->learners[at];
        s_drop(m->learners, &m->n_learners, at);
        m->voters[m->n_voters++] = who;
        return who;
    case S_REMOVE_VOTER:
        if (m->n_voters < 3)
            return 0;
        at = sim_below(sim, m->n_voters);
        who = m->voters[at];
        s_drop(m->voters, &m->n_voters, at);
        return who;
    default:
        if (m->n_learners == 0)
            return 0;
        at = sim_below(sim, m->n_learners);
        who = m->learners[at];
        s_drop(m->learners, &m->n_learners, at);
        return who;
    }
}

/*  A new node: an empty disk and no membership. */
void sim_node_join(sim_t *sim, uint32_t id)
{
    sim_node_t *nd = &sim->nodes[id];
    nd->id = id;
    nd->phase = sim_below(sim, SIM_TICK);
    sim->n_nodes = id;
    sim->stats.joins++;
    sim_node_boot(sim, nd);
}

static void s_change(sim_t *sim, uint32_t leader)
{
    sim_node_t *ld = &sim->nodes[leader];
    zkv_raft_status_t s;
    zkv_raft_status(ld->raft, &s);
    zkv_raft_members_t m = s.members;
    int op = (int) sim_below(sim, 4);
    uint32_t who = s_next(sim, op, &m);
    if (!who)
        return;
    uint8_t buf[ZKV_RAFT_MEMBERS_SIZE_MAX];
    size_t n = zkv_raft_members_encode(&m, buf, sizeof buf);
    uint64_t index = 0, term = 0, known = s_commit_known(sim);
    int rc = zkv_raft_propose_config(ld->raft, buf, n, &index, &term);
    sim_trace(sim, SIM_TR_CONFIG, leader, who, (uint32_t) op, index, term, (uint64_t) rc);
    if (rc != 0) {
        sim->stats.config_refused++;
        return;
    }
    /* The membership before this one must be committed: some node said so. */
    if (s.config_index > known) {
        sim_fail(sim, "single-change",
                 "leader %u proposes a change at %llu while the one at %llu is not committed "
                 "(highest commit anywhere %llu)",
                 leader, (unsigned long long) index, (unsigned long long) s.config_index,
                 (unsigned long long) known);
        return;
    }
    sim->stats.config_changes++;
    sim->stats.removals += op == S_REMOVE_VOTER || op == S_REMOVE_LEARNER;
    if (op == S_ADD_LEARNER)
        sim_node_join(sim, who);
    sim_node_ready(sim, ld);
}

void sim_membership(sim_t *sim)
{
    if (!sim->changes || !sim_chance(sim, sim->changes))
        return;
    uint32_t leader = sim_leader(sim);
    if (!leader)
        return;
    s_change(sim, leader);
    if (!sim->failed && sim->nodes[leader].up && sim_chance(sim, 300))
        s_change(sim, leader);
}
