/*  sim_node: runs nodesim over many seeds; a failing seed prints the command
    that replays it.

    sim_node [--nodes N] [--steps N] [--seeds N] [--first-seed S] [--seed S] [--trace] */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "slab.h"
#include "nodesim.h"

/*  An invariant asserted inside the node's code (a committed entry never
    changes, say) is a violation too: say which seed and fail (exit 3). */
static char s_on_abort[256];

static void s_abort_handler(int sig)
{
    (void) sig;
    ssize_t n = write(STDOUT_FILENO, s_on_abort, strlen(s_on_abort));
    (void) n;
    _exit(3);
}

static int s_usage(void)
{
    fprintf(stderr, "usage: sim_node [--nodes 3|5] [--steps N] [--seeds N] [--first-seed S] "
                    "[--seed S] [--trace]\n");
    return 2;
}

static void s_add(ns_stats_t *total, const ns_stats_t *st)
{
    total->steps += st->steps;
    total->crashes += st->crashes;
    total->torn += st->torn;
    total->cuts += st->cuts;
    total->ops += st->ops;
    total->ok_writes += st->ok_writes;
    total->info += st->info;
    total->installs += st->installs;
    total->snapshots += st->snapshots;
    total->late_snapshots += st->late_snapshots;
    total->stale_installs += st->stale_installs;
    total->leaders += st->leaders;
    total->packets += st->packets;
    total->lost_tails += st->lost_tails;
    total->full_disks += st->full_disks;
    total->disk_stops += st->disk_stops;
    total->failing_disks += st->failing_disks;
    total->bad_peer += st->bad_peer;
    total->mid_call += st->mid_call;
    total->bursts += st->bursts;
    total->burst_writes += st->burst_writes;
    total->watch_events += st->watch_events;
    total->watch_cut_offs += st->watch_cut_offs;
    total->leases += st->leases;
    total->expiries += st->expiries;
}

/*  One seed; on a violation, the command that replays it. */
static int s_seed(ns_options_t *opt, uint64_t s, const char *me, ns_stats_t *total)
{
    opt->seed = s;
    snprintf(s_on_abort, sizeof s_on_abort,
             "VIOLATION seed %" PRIu64 ": an assertion failed (above)\n"
             "replay: %s --nodes %u --steps %u --seed %" PRIu64 " --trace\n",
             s, me, opt->nodes, opt->steps, s);
    fflush(stdout);
    ns_stats_t st;
    if (ns_run(opt, &st, stdout) != 0) {
        printf("replay: %s --nodes %u --steps %u --seed %" PRIu64 " --trace\n", me, opt->nodes,
               opt->steps, s);
        return 1;
    }
    /* Every node is gone: so is every record its trees and watch history held. */
    if (zkv_slab_live() != 0) {
        printf("VIOLATION seed %" PRIu64 ": %zu records never freed\n"
               "replay: %s --nodes %u --steps %u --seed %" PRIu64 "\n",
               s, zkv_slab_live(), me, opt->nodes, opt->steps, s);
        return 1;
    }
    s_add(total, &st);
    return 0;
}

static void s_print_total(const ns_options_t *opt, uint64_t seeds, uint64_t first,
                          const ns_stats_t *t)
{
    printf("sim_node: %" PRIu64 " seeds from %" PRIu64 ", %u nodes: %" PRIu64 " steps, %" PRIu64
           " crashes (%" PRIu64 " torn, %" PRIu64 " inside a call), %" PRIu64 " cuts, %" PRIu64
           " leaders, %" PRIu64 " installs (%" PRIu64 " over a stale log), %" PRIu64
           " snapshots (%" PRIu64 " written after more was applied), %" PRIu64
           " lost tails, %" PRIu64 " full disks, %" PRIu64 " failing disks (%" PRIu64
           " stops), %" PRIu64 " oversized appends, %" PRIu64 " bursts (%" PRIu64
           " writes without a session), %" PRIu64 " peer messages, %" PRIu64 " client ops (%" PRIu64
           " writes acknowledged, %" PRIu64 " unknown), %" PRIu64 " watch events (%" PRIu64
           " stream restarts), %" PRIu64 " leases (%" PRIu64
           " revokes on expiry): every check held\n",
           seeds, first, opt->nodes, t->steps, t->crashes, t->torn, t->mid_call, t->cuts,
           t->leaders, t->installs, t->stale_installs, t->snapshots, t->late_snapshots,
           t->lost_tails, t->full_disks, t->failing_disks, t->disk_stops, t->bad_peer, t->bursts,
           t->burst_writes, t->packets, t->ops, t->ok_writes, t->info, t->watch_events,
           t->watch_cut_offs, t->leases, t->expiries);
}

int main(int argc, char **argv)
{
    ns_options_t opt = {.nodes = 3, .steps = 20000};
    uint64_t seeds = 100, first = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--trace"))
            opt.trace = true;
        else if (!v)
            return s_usage();
        else if (!strcmp(a, "--nodes"))
            opt.nodes = (uint32_t) strtoul(v, NULL, 10);
        else if (!strcmp(a, "--steps"))
            opt.steps = (uint32_t) strtoul(v, NULL, 10);
        else if (!strcmp(a, "--seeds"))
            seeds = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--first-seed"))
            first = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--seed")) {
            first = strtoull(v, NULL, 10);
            seeds = 1;
        } else
            return s_usage();
        if (strcmp(a, "--trace"))
            i++;
    }
    if (opt.nodes != 3 && opt.nodes != 5)
        return s_usage();
    ns_stats_t total = {0};
    const char *me = strrchr(argv[0], '/');
    me = me ? me + 1 : argv[0];
    signal(SIGABRT, s_abort_handler);
    for (uint64_t s = first; s < first + seeds; s++)
        if (s_seed(&opt, s, me, &total) != 0)
            return 1;
    s_print_total(&opt, seeds, first, &total);
    return 0;
}
