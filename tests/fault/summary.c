/*  summary: see summary.h. */
#include "summary.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lincheck.h"

static void s_operations(const workload_stats_t *st, uint64_t events, const char *history)
{
    uint64_t total = 0;
    for (int f = 0; f < WL_KINDS; f++)
        for (int o = 0; o < WL_OUTCOMES; o++)
            total += st->count[f][o];
    printf("  operations: %" PRIu64 " (%" PRIu64 " events in %s)\n", total, events, history);
    for (int f = 0; f < WL_KINDS; f++)
        printf("    %-6s ok %6" PRIu64 "  fail %6" PRIu64 "  info %6" PRIu64 "\n",
               workload_f_name((wl_f_t) f), st->count[f][WL_OK], st->count[f][WL_FAIL],
               st->count[f][WL_INFO]);
    printf("    gets sent to the client's home node only: %" PRIu64 " (%" PRIu64
           " refused there, not the leader); given up by the client: %" PRIu64 "\n",
           st->home_reads, st->home_not_leader, st->timeouts);
}

/*  Faults by kind; false when --require-all-faults and one kind never ran. */
static bool s_faults(const summary_t *s)
{
    bool all = true;
    const char *sep = "";
    printf("  faults injected:");
    for (int k = 0; k < FAULT_KINDS; k++) {
        if (!(s->options->faults & (1u << k)) || (k == FAULT_MEMBER && !s->target->ops->grow))
            continue;
        uint64_t n = s->nemesis->injected[k];
        printf("%s %s %" PRIu64, sep, fault_kind_name((fault_kind_t) k), n);
        sep = ",";
        all = all && n > 0;
    }
    printf("%s; leader changes seen: %" PRIu64 "\n", sep[0] ? "" : " none", s->leader_changes);
    unsigned partitions = s->options->faults & ~((1u << FAULT_PARTITION_ONE) - 1);
    if (partitions && !s->target->partitions)
        printf("  partitions: NOT RUN: %s\n", s->target->partitions_why);
    if ((s->options->faults & (1u << FAULT_MEMBER)) && !s->target->ops->grow)
        printf("  member: NOT RUN: the target has no spare nodes\n");
    if (!all && s->options->require_all_faults) {
        printf("  not every kind of fault was injected (--require-all-faults)\n");
        return false;
    }
    return !(partitions && !s->target->partitions && s->options->require_partitions);
}

static const char *s_verdict(int verdict)
{
    if (verdict < 0)
        return "NOT CHECKED";
    return verdict == ZKV_LINCHECK_LINEARIZABLE ? "linearizable"
           : verdict == ZKV_LINCHECK_VIOLATION  ? "NOT LINEARIZABLE"
                                                : "UNKNOWN (search budget ran out)";
}

static void s_checks(const summary_t *s)
{
    printf("  convergence: %s\n", s->converge_text[0] ? s->converge_text : "not checked");
    if (s->final_keys >= 0)
        printf("  final state: %ld keys read by a linearizable scan (%s)\n", s->final_keys,
               s->final);
    else
        printf("  final state: NOT READ\n");
    printf("  history: %s", s_verdict(s->verdict));
    if (s->verdict == ZKV_LINCHECK_VIOLATION || s->verdict == ZKV_LINCHECK_UNKNOWN)
        printf(" (%zu keys)", s->keys_bad);
    printf("%s\n", s->early_violation ? ", found while running" : "");
}

bool summary_print(const summary_t *s)
{
    const fault_options_t *o = s->options;
    printf("\nzkv-fault summary\n  target %s, seed %" PRIu64 ", ran %.1f s of %lld s, %d clients, "
           "%d keys\n",
           o->target == FAULT_TARGET_LOCAL ? "local" : "compose", o->seed,
           (double) s->ran_ms / 1000, (long long) (o->duration_ms / 1000), o->clients, o->keys);
    bool faults_ok = true;
    if (s->workload) {
        s_operations(s->workload, s->events, s->history);
        faults_ok = s_faults(s);
        s_checks(s);
    }
    int errors = fault_error_count();
    printf("  run errors: %d\n", errors);
    bool pass;
    if (o->expect_violation)
        pass = s->verdict == ZKV_LINCHECK_VIOLATION && errors == 0;
    else
        pass = errors == 0 && faults_ok && s->converge == 0 && s->final_keys >= 0 &&
               s->verdict == ZKV_LINCHECK_LINEARIZABLE;
    printf("  result: %s%s\n", pass ? "PASS" : "FAIL",
           o->expect_violation ? " (a violation was expected: the node under test is broken on "
                                 "purpose)"
                               : "");
    printf("  check again: zkv-lincheck --final %s %s; zkv-lincheck --digests %s\n", s->final,
           s->history, s->digests);
    fflush(stdout);
    return pass;
}
