/*  sim_raft: run the Raft simulation over many seeds.

    sim_raft [--nodes 3|5] [--seeds N] [--first-seed S] [--steps M]
             [--seed N] [--trace] [--keep-going] [--expect-violation[=inv,inv]]

    --seed N replays one seed exactly (the failure report prints the command);
    --trace prints every traced event as it happens; --keep-going runs every
    seed and counts the failing ones. --expect-violation inverts the verdict,
    for the planted-bug builds: exit 0 only if some seed reports a violation
    (of one of the named invariants, if given). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"
#include "splitmix.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#ifndef ZKV_RAFT_PLANTED_BUG
#define ZKV_RAFT_PLANTED_BUG 0
#endif

/* For the SIGABRT handler: what was running when a core assertion fired. */
static volatile uint64_t g_seed;
static volatile uint32_t g_nodes, g_steps;
static volatile bool g_expect;

/* ---------------------------------------------------------------- helpers */

uint64_t sim_rand(sim_t *sim)
{
    return zkv_splitmix64(&sim->rng);
}

uint32_t sim_below(sim_t *sim, uint32_t n)
{
    return n ? (uint32_t) (sim_rand(sim) % n) : 0;
}

bool sim_chance(sim_t *sim, uint32_t permille)
{
    return permille > 0 && sim_below(sim, 1000) < permille;
}

void sim_fail(sim_t *sim, const char *invariant, const char *fmt, ...)
{
    if (sim->failed)
        return;
    sim->failed = true;
    snprintf(sim->invariant, sizeof sim->invariant, "%s", invariant);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sim->detail, sizeof sim->detail, fmt, ap);
    va_end(ap);
}

static void s_trace_print(const sim_trace_t *t, FILE *out)
{
    static const char *kinds[] = {"msg",     "leader",   "crash", "restart",  "cut",
                                  "heal",    "propose",  "read",  "snapshot", "transfer",
                                  "network", "liveness", "write", "durable",  "config"};
    fprintf(out, "  step %5u  %-8s node %u", t->step, kinds[t->kind], t->node);
    switch (t->kind) {
    case SIM_TR_MSG:
        fprintf(out, " <- %u %s term %llu index %llu %s %llu%s\n", t->peer,
                zkv_raft_msg_type_name((zkv_raft_msg_type_t) t->mtype), (unsigned long long) t->a,
                (unsigned long long) t->b,
                t->mtype == ZKV_RAFT_MSG_SNAPSHOT || t->mtype == ZKV_RAFT_MSG_SNAPSHOT_RESPONSE
                    ? "offset"
                    : "entries",
                (unsigned long long) (t->c & 0xffffffffu), (t->c >> 32) ? " reject" : "");
        break;
    case SIM_TR_ROLE: fprintf(out, " term %llu\n", (unsigned long long) t->a); break;
    case SIM_TR_CRASH:
    case SIM_TR_RESTART:
        fprintf(out, " disk: term %llu snapshot %llu entries %llu\n", (unsigned long long) t->a,
                (unsigned long long) t->b, (unsigned long long) t->c);
        break;
    case SIM_TR_PROPOSE:
    case SIM_TR_READ:
        fprintf(out, " index %llu term %llu value/ctx %llu\n", (unsigned long long) t->a,
                (unsigned long long) t->b, (unsigned long long) t->c);
        break;
    case SIM_TR_WRITE:
        fprintf(out, " ready %llu entries %llu..%llu of term %llu%s\n", (unsigned long long) t->a,
                (unsigned long long) (t->b >> 32), (unsigned long long) (t->b & 0xffffffffu),
                (unsigned long long) t->c, t->mtype ? " + snapshot" : "");
        break;
    case SIM_TR_DURABLE: fprintf(out, " through ready %llu\n", (unsigned long long) t->a); break;
    case SIM_TR_CONFIG:
        fprintf(out, " %s %u: index %llu term %llu, rc %lld\n",
                (const char *[]){"add learner", "promote", "remove voter",
                                 "remove learner"}[t->mtype & 3],
                t->peer, (unsigned long long) t->a, (unsigned long long) t->b, (long long) t->c);
        break;
    case SIM_TR_NET:
        fprintf(out, " drop %llu/1000 delay %llu dup %llu/1000\n", (unsigned long long) t->a,
                (unsigned long long) t->b, (unsigned long long) t->c);
        break;
    default:
        fprintf(out, " peer %u kind %u %llu %llu\n", t->peer, t->mtype, (unsigned long long) t->a,
                (unsigned long long) t->b);
        break;
    }
}

void sim_trace(sim_t *sim, uint8_t kind, uint32_t node, uint32_t peer, uint32_t mtype, uint64_t a,
               uint64_t b, uint64_t c)
{
    sim_trace_t *t = &sim->trace[sim->n_trace++ % SIM_TRACE];
    *t = (sim_trace_t){sim->step, kind, (uint8_t) node, (uint8_t) peer, (uint8_t) mtype, a, b, c};
    if (sim->trace_live)
        s_trace_print(t, stdout);
}

/* ---------------------------------------------------------------- clients */

/*  Mostly a node that thinks it leads; sometimes anyone. */
static sim_node_t *s_pick(sim_t *sim)
{
    uint32_t leaders[SIM_MAX_NODES], n = 0;
    for (uint32_t id = 1; id <= sim->n_nodes; id++) {
        zkv_raft_status_t s;
        if (!sim->nodes[id].up)
            continue;
        zkv_raft_status(sim->nodes[id].raft, &s);
        if (s.role == ZKV_RAFT_LEADER)
            leaders[n++] = id;
    }
    uint32_t id =
        n && !sim_chance(sim, 200) ? leaders[sim_below(sim, n)] : 1 + sim_below(sim, sim->n_nodes);
    return sim->nodes[id].up ? &sim->nodes[id] : NULL;
}

static void *s_grow(void *v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return v;
    *cap = *cap ? *cap * 2 : 16;
    v = realloc(v, *cap * size);
    if (!v)
        abort();
    return v;
}

static bool s_propose(sim_t *sim, sim_node_t *nd, uint32_t n)
{
    sim_cmd_t cmds[4];
    zkv_raft_buf_t bufs[4];
    for (uint32_t i = 0; i < n; i++) {
        cmds[i] = (sim_cmd_t){sim_below(sim, SIM_KEYS), ++sim->next_value};
        bufs[i] = (zkv_raft_buf_t){&cmds[i], sizeof cmds[i]};
    }
    uint64_t first = 0, term = 0;
    if (zkv_raft_propose(nd->raft, bufs, n, &first, &term) != 0)
        return false;
    nd->props = s_grow(nd->props, &nd->cap_props, nd->n_props + n, sizeof *nd->props);
    for (uint32_t i = 0; i < n; i++)
        nd->props[nd->n_props++] = (sim_prop_t){first + i, term, cmds[i]};
    sim->stats.proposals += n;
    sim_trace(sim, SIM_TR_PROPOSE, nd->id, 0, 0, first, term, cmds[0].value);
    sim_node_ready(sim, nd);
    return true;
}

static void s_read(sim_t *sim, sim_node_t *nd)
{
    uint64_t ctx = ++sim->next_ctx;
    if (zkv_raft_read_index(nd->raft, ctx) != 0)
        return;
    nd->reads = s_grow(nd->reads, &nd->cap_reads, nd->n_reads + 1, sizeof *nd->reads);
    nd->reads[nd->n_reads++] = (sim_read_t){ctx, sim_below(sim, SIM_KEYS), sim->max_commit_seen};
    sim_trace(sim, SIM_TR_READ, nd->id, 0, 0, sim->max_commit_seen, 0, ctx);
    sim_node_ready(sim, nd);
}

static void s_clients(sim_t *sim)
{
    if (sim_chance(sim, 400)) {
        sim_node_t *nd = s_pick(sim);
        if (nd)
            s_propose(sim, nd, 1 + sim_below(sim, 4));
    }
    if (sim_chance(sim, 250)) {
        /* Half at the leader, half anywhere: a follower asks its leader. */
        uint32_t any = 1 + sim_below(sim, sim->n_nodes);
        sim_node_t *nd = sim_chance(sim, 500) ? s_pick(sim)
                         : sim->nodes[any].up ? &sim->nodes[any]
                                              : NULL;
        if (nd)
            s_read(sim, nd);
    }
}

/* ---------------------------------------------------------------- one seed */

static void s_step(sim_t *sim)
{
    uint64_t start = (uint64_t) sim->step * SIM_TICK, end = start + SIM_TICK;
    sim->now = start;
    sim_faults(sim);
    if (!sim->calm) {
        s_clients(sim);
        sim_membership(sim);
    }
    for (uint32_t id = 1; id <= sim->n_nodes; id++) {
        sim_node_t *nd = &sim->nodes[id];
        if (nd->up) {
            sim_ev_t ev = {.time = start + nd->phase,
                           .kind = SIM_EV_TICK,
                           .node = (uint8_t) id,
                           .gen = nd->gen};
            sim_heap_push(sim, ev);
        }
    }
    sim_ev_t ev;
    while (!sim->failed && sim_heap_pop_before(sim, end, &ev)) {
        sim->now = ev.time;
        sim_node_t *nd = &sim->nodes[ev.node];
        switch (ev.kind) {
        case SIM_EV_TICK:
            if (nd->up && nd->gen == ev.gen) {
                zkv_raft_tick(nd->raft);
                sim_node_ready(sim, nd);
            }
            break;
        case SIM_EV_MSG: sim_net_deliver(sim, &ev); break;
        case SIM_EV_DISK: sim_node_disk_event(sim, nd, ev.gen); break;
        }
    }
    sim->now = end;
    if (!sim->failed)
        sim_check_step(sim);
    sim->step++;
    sim->stats.steps++;
}

static void s_configure(sim_t *sim)
{
    static const uint32_t inflight[] = {1, 2, 4, 16, 64};
    static const uint32_t per_msg[] = {1, 2, 3, 8, 64};
    static const size_t chunks[] = {16, 40, 100};
    static const uint64_t snaps[] = {10, 30, 100, 1000000};
    uint32_t voters[SIM_MAX_NODES];
    for (uint32_t i = 0; i < sim->n_voters; i++)
        voters[i] = i + 1;
    zkv_raft_config_default(&sim->cfg, 1, voters, sim->n_voters);
    sim->n_nodes = sim->n_voters;
    if (sim_chance(sim, 200)) /* a learner */
        sim->cfg.members.learners[sim->cfg.members.n_learners++] = ++sim->n_nodes;
    sim->cfg.heartbeat_ticks = sim_chance(sim, 250) ? 1 : 2;
    sim->cfg.pre_vote = sim->cfg.check_quorum = !sim_chance(sim, 100);
    sim->cfg.broadcast = !sim_chance(sim, 200);
    sim->cfg.max_inflight = inflight[sim_below(sim, 5)];
    sim->cfg.max_msg_entries = per_msg[sim_below(sim, 5)];
    sim->cfg.max_msg_bytes = 1024;
    sim->cfg.snapshot_chunk_size = chunks[sim_below(sim, 3)];
    sim->cfg.max_uncommitted = 256;
    sim->cfg.max_reads = 64;
    sim->snap_every = snaps[sim_below(sim, 4)];
    sim->changes = sim_chance(sim, 600) ? 2 + sim_below(sim, 20) : 0;
    sim->cfg.max_learner_lag = sim_below(sim, 3) * 8;
    /* Half the seeds keep every entry's data; the others let go of it and read it back. */
    static const size_t memory[] = {0, 0, 1024, 2048, 4096};
    sim->cfg.log_memory_bytes = memory[sim_below(sim, 5)];
    sim->storm = sim_chance(sim, 300) ? 8 : 1; /* leaders come and go every few ticks */
    /* Cut down new leaders before their no-op commits: leaves logs with
       tails of old terms, the stuff of Figure 8. */
    sim->hunt_permille = sim_chance(sim, 500) ? 300 + sim_below(sim, 700) : 0;
    sim->drop_permille = 0;
    sim->max_delay = SIM_TICK;
    sim->disk_sync_percent = 50;
    sim->disk_max_delay = SIM_TICK;
    /* Odd seeds: followers' acknowledgements leave with their writes. */
    sim->cfg.writer_acks = sim->seed % 2 == 1;
}

static void s_init(sim_t *sim, uint64_t seed, uint32_t voters, uint32_t steps, bool trace)
{
    memset(sim, 0, sizeof *sim);
    sim->seed = seed;
    sim->n_voters = voters;
    sim->steps = steps;
    sim->trace_live = trace;
    sim->rng = seed * 0x2545f4914f6cdd1dull + voters;
    s_configure(sim);
    sim->cconf = sim->cfg.members;
    for (uint32_t id = 1; id <= sim->n_nodes; id++) {
        sim_node_t *nd = &sim->nodes[id];
        nd->id = id;
        nd->voter = id <= voters;
        nd->phase = sim_below(sim, SIM_TICK);
        nd->disk.members = sim->cfg.members;
        sim_node_boot(sim, nd);
    }
}

static void s_free(sim_t *sim)
{
    for (uint32_t id = 1; id <= sim->n_nodes; id++)
        sim_node_free(&sim->nodes[id]);
    sim_net_free(sim);
    sim_check_free(sim);
}

/*  The nodes that must take part once the cluster heals: the members of
    the membership the latest leader holds (removed nodes stay outside). */
static zkv_raft_members_t s_final_members(sim_t *sim)
{
    zkv_raft_members_t m = sim->cconf;
    uint64_t term = 0;
    for (uint32_t id = 1; id <= sim->n_nodes; id++) {
        zkv_raft_status_t s;
        if (!sim->nodes[id].up)
            continue;
        zkv_raft_status(sim->nodes[id].raft, &s);
        if (s.role == ZKV_RAFT_LEADER && s.term >= term) {
            term = s.term;
            m = s.members;
        }
    }
    return m;
}

/*  The one leader every member follows, or 0. */
static uint32_t s_stable_leader(sim_t *sim)
{
    zkv_raft_members_t m = s_final_members(sim);
    uint32_t leader = 0;
    uint64_t term = 0;
    for (uint32_t id = 1; id <= sim->n_nodes; id++) {
        zkv_raft_status_t s;
        if (!sim_member(&m, id))
            continue;
        if (!sim->nodes[id].up)
            return 0;
        zkv_raft_status(sim->nodes[id].raft, &s);
        if (!leader) {
            leader = s.leader;
            term = s.term;
        }
        if (s.leader == 0 || s.leader != leader || s.term != term)
            return 0;
    }
    return leader;
}

static bool s_all_applied(sim_t *sim, uint64_t index)
{
    zkv_raft_members_t m = s_final_members(sim);
    for (uint32_t id = 1; id <= sim->n_nodes; id++)
        if (sim_member(&m, id) && (!sim->nodes[id].up || sim->nodes[id].sm.applied < index))
            return false;
    return true;
}

/*  A member of the committed membership or of one some log holds past it
    (a joiner whose addition is not committed yet will have to catch up). */
static bool s_may_take_part(const sim_t *sim, uint32_t id)
{
    if (sim_member(&sim->cconf, id))
        return true;
    for (size_t i = 0; i < sim->n_confs; i++)
        if (sim->confs[i].index > sim->cconf_index && sim_member(&sim->confs[i].members, id))
            return true;
    return false;
}

/*  How far the slowest node is behind the longest log: the backlog that
    must drain (at worst one entry per round trip) before all is applied. */
static uint64_t s_backlog(sim_t *sim)
{
    uint64_t min = UINT64_MAX, max = 0;
    for (uint32_t id = 1; id <= sim->n_nodes; id++) {
        zkv_raft_status_t s;
        if (!s_may_take_part(sim, id))
            continue;
        zkv_raft_status(sim->nodes[id].raft, &s);
        if (sim->nodes[id].sm.applied < min)
            min = sim->nodes[id].sm.applied;
        if (s.last_index > max)
            max = s.last_index;
    }
    return max > min ? max - min : 0;
}

/*  Heal everything. A leader must emerge that all follow and a new proposal
    must commit (liveness); then every node must apply it and every
    acknowledged proposal (no-lost-ack). Each within SIM_LIVENESS_TICKS plus
    two ticks per entry of backlog at the time of healing (a configuration
    with one entry per message and one message in flight moves about one
    entry per round trip). */
static const sim_committed_t *s_committed_at(const sim_t *sim, uint64_t index)
{
    return index && index < sim->cap_committed ? &sim->committed[index] : NULL;
}

/*  A leader that everybody follows commits a new proposal (re-proposed if a
    leadership change loses it). Returns its index, or 0 after a failure. */
static uint64_t s_live_commit(sim_t *sim, uint64_t bound)
{
    uint64_t index = 0, term = 0;
    for (uint64_t t = 0; t < bound && !sim->failed; t++) {
        s_step(sim);
        const sim_committed_t *c = s_committed_at(sim, index);
        if (c && c->term == term)
            return index;
        uint32_t leader = s_stable_leader(sim);
        if (!leader)
            continue;
        sim_node_t *ld = &sim->nodes[leader];
        zkv_raft_status_t s;
        zkv_raft_status(ld->raft, &s);
        if (s.term != term || (c && c->term))
            index = 0;
        if (!index && s_propose(sim, ld, 1)) {
            index = ld->props[ld->n_props - 1].index;
            term = ld->props[ld->n_props - 1].term;
        }
    }
    if (!sim->failed)
        sim_fail(sim, "liveness",
                 "no stable leader committed a new proposal within %llu ticks of healing",
                 (unsigned long long) bound);
    return 0;
}

/*  Every node applies index and every acknowledged proposal. */
static void s_live_catch_up(sim_t *sim, uint64_t bound, uint64_t index)
{
    for (uint64_t t = 0; t < bound && !sim->failed; t++) {
        if (s_all_applied(sim, index) && s_all_applied(sim, sim->max_acked_index)) {
            sim_trace(sim, SIM_TR_LIVENESS, 0, 0, 0, index, t, 0);
            return;
        }
        s_step(sim);
    }
    if (!sim->failed)
        sim_fail(sim, "no-lost-ack",
                 "index %llu (acknowledged up to %llu) not applied everywhere %llu ticks after "
                 "it committed",
                 (unsigned long long) index, (unsigned long long) sim->max_acked_index,
                 (unsigned long long) bound);
}

static void s_liveness(sim_t *sim)
{
    sim->calm = true;
    sim_heal(sim);
    sim->drop_permille = sim->dup_permille = sim->long_delay_permille = 0;
    sim->max_delay = SIM_TICK;
    sim->disk_max_delay = SIM_TICK;
    s_step(sim); /* crashed nodes come back */
    uint64_t bound = SIM_LIVENESS_TICKS + 2 * s_backlog(sim);
    uint64_t index = sim->failed ? 0 : s_live_commit(sim, bound);
    if (index)
        s_live_catch_up(sim, bound, index);
}

static void s_report(const sim_t *sim)
{
    fprintf(stdout, "sim_raft: VIOLATION seed=%llu nodes=%u step=%u invariant=%s: %s\n",
            (unsigned long long) sim->seed, sim->n_voters, sim->step, sim->invariant, sim->detail);
    fprintf(stdout, "  replay: sim_raft --nodes %u --steps %u --seed %llu [--trace]\n",
            sim->n_voters, sim->steps, (unsigned long long) sim->seed);
    fprintf(stdout,
            "  config: nodes %u (learners %u) heartbeat %u pre-vote %d broadcast %d "
            "inflight %u entries/msg %u chunk %zu snapshot every %llu storm %u\n",
            sim->n_nodes, sim->cfg.members.n_learners, sim->cfg.heartbeat_ticks, sim->cfg.pre_vote,
            sim->cfg.broadcast, sim->cfg.max_inflight, sim->cfg.max_msg_entries,
            sim->cfg.snapshot_chunk_size, (unsigned long long) sim->snap_every, sim->storm);
    fprintf(stdout, "  last %d events:\n", SIM_TRACE);
    uint64_t from = sim->n_trace > SIM_TRACE ? sim->n_trace - SIM_TRACE : 0;
    for (uint64_t i = from; i < sim->n_trace; i++)
        s_trace_print(&sim->trace[i % SIM_TRACE], stdout);
}

/*  Run one seed; true if no invariant was violated. */
static bool s_run_seed(sim_t *sim, uint64_t seed, uint32_t voters, uint32_t steps, bool trace,
                       sim_stats_t *total)
{
    g_seed = seed;
    s_init(sim, seed, voters, steps, trace);
    while (!sim->failed && sim->step < steps)
        s_step(sim);
    if (!sim->failed)
        s_liveness(sim);
    bool ok = !sim->failed;
    sim->stats.seeds = 1;
    uint64_t *t = (uint64_t *) total;
    const uint64_t *s = (const uint64_t *) &sim->stats;
    for (size_t i = 0; i < sizeof *total / sizeof *t; i++)
        t[i] += s[i];
    s_free(sim);
    return ok;
}

static void s_on_abort(int sig)
{
    (void) sig;
    char buf[256];
    int n = snprintf(buf, sizeof buf,
                     "sim_raft: VIOLATION seed=%llu nodes=%u invariant=core-assertion (message "
                     "above)\n  replay: sim_raft --nodes %u --steps %u --seed %llu\n",
                     (unsigned long long) g_seed, g_nodes, g_nodes, g_steps,
                     (unsigned long long) g_seed);
    if (n > 0 && write(STDOUT_FILENO, buf, (size_t) n) < 0)
        _exit(3);
    _exit(g_expect ? 0 : 1);
}

#if defined(__SANITIZE_ADDRESS__)
/*  A sanitizer report names no seed; say which one to replay. */
static void s_on_sanitizer_death(void)
{
    fprintf(stdout,
            "sim_raft: sanitizer error in seed=%llu nodes=%u\n"
            "  replay: sim_raft --nodes %u --steps %u --seed %llu\n",
            (unsigned long long) g_seed, g_nodes, g_nodes, g_steps, (unsigned long long) g_seed);
    fflush(stdout);
}
#endif

typedef struct {
    uint32_t nodes, steps;
    uint64_t first, seeds;
    bool trace, expect, keep_going;
    const char *expect_list;
} s_opts_t;

static int s_usage(void)
{
    fprintf(stderr, "usage: sim_raft [--nodes 3|5] [--seeds N] [--first-seed S] [--steps M] "
                    "[--seed N] [--trace] [--keep-going] [--expect-violation[=inv,...]]\n");
    return 2;
}

static int s_parse(int argc, char **argv, s_opts_t *o)
{
    *o = (s_opts_t){.nodes = 3, .steps = 2000, .first = 1, .seeds = 100};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--trace"))
            o->trace = true;
        else if (!strcmp(a, "--keep-going"))
            o->keep_going = true;
        else if (!strncmp(a, "--expect-violation", 18)) {
            o->expect = true;
            o->expect_list = a[18] == '=' ? a + 19 : NULL;
        } else if (!v)
            return -1;
        else if (!strcmp(a, "--nodes"))
            o->nodes = (uint32_t) strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--steps"))
            o->steps = (uint32_t) strtoul(v, NULL, 10), i++;
        else if (!strcmp(a, "--seeds"))
            o->seeds = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--first-seed"))
            o->first = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--seed"))
            o->first = strtoull(v, NULL, 10), o->seeds = 1, i++;
        else
            return -1;
    }
    return o->nodes >= 1 && o->nodes <= 5 && o->seeds > 0 ? 0 : -1;
}

static bool s_expected(const char *list, const char *inv)
{
    if (!list)
        return true;
    size_t n = strlen(inv);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (len == n && !strncmp(p, inv, n))
            return true;
        p += len + (end != NULL);
    }
    return false;
}

int main(int argc, char **argv)
{
    s_opts_t o;
    if (s_parse(argc, argv, &o) != 0)
        return s_usage();
    g_nodes = o.nodes;
    g_steps = o.steps;
    g_expect = o.expect && s_expected(o.expect_list, "core-assertion");
    signal(SIGABRT, s_on_abort);
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_set_death_callback(s_on_sanitizer_death);
#endif
    setvbuf(stdout, NULL, _IOLBF, 0);
    static sim_t sim;
    sim_stats_t total = {0};
    clock_t t0 = clock();
    uint64_t seed = o.first, failed = 0;
    for (; seed < o.first + o.seeds; seed++) {
        if (s_run_seed(&sim, seed, o.nodes, o.steps, o.trace, &total))
            continue;
        s_report(&sim);
        failed++;
        if (o.keep_going)
            continue;
        if (!o.expect)
            return 1;
        bool ok = s_expected(o.expect_list, sim.invariant);
        printf("sim_raft: planted bug %d %s by invariant %s at seed %llu (after %llu seeds)\n",
               ZKV_RAFT_PLANTED_BUG, ok ? "caught" : "caught, but not", sim.invariant,
               (unsigned long long) seed, (unsigned long long) (seed - o.first + 1));
        return ok ? 0 : 1;
    }
    double secs = (double) (clock() - t0) / CLOCKS_PER_SEC;
    printf("sim_raft: nodes=%u seeds=%llu..%llu steps=%u: %s in %.1fs\n", o.nodes,
           (unsigned long long) o.first, (unsigned long long) (seed - 1), o.steps,
           failed     ? "FAILED"
           : o.expect ? "NO violation found"
                      : "ok",
           secs);
    if (failed)
        printf("  %llu of %llu seeds violated an invariant\n", (unsigned long long) failed,
               (unsigned long long) o.seeds);
    printf("  %llu steps, %llu elections, %llu entries committed, %llu proposals acked of %llu, "
           "%llu reads served (%llu failed over), %llu crashes, %llu partitions, %llu transfers, "
           "%llu snapshots taken, %llu sent, %llu messages (%llu dropped)\n",
           (unsigned long long) total.steps, (unsigned long long) total.elections,
           (unsigned long long) total.commits, (unsigned long long) total.acked,
           (unsigned long long) total.proposals, (unsigned long long) total.reads,
           (unsigned long long) total.stale_reads_failed, (unsigned long long) total.crashes,
           (unsigned long long) total.cuts, (unsigned long long) total.transfers,
           (unsigned long long) total.snapshots_taken, (unsigned long long) total.snapshots_sent,
           (unsigned long long) total.messages, (unsigned long long) total.dropped);
    printf("  %llu membership changes (%llu refused), %llu nodes joined, %llu removed\n",
           (unsigned long long) total.config_changes, (unsigned long long) total.config_refused,
           (unsigned long long) total.joins, (unsigned long long) total.removals);
    printf("  %llu loads of entries from disk answered, %llu lost\n",
           (unsigned long long) total.loads, (unsigned long long) total.loads_lost);
    return (failed > 0) == o.expect ? 0 : 1;
}
