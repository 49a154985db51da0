/*  zkv-fault: a fault run against a zkv cluster. Several logical clients
    put, get, delete and cas on a few keys for a set time while the nemesis
    kills, stops, pauses and partitions nodes; every operation goes to the
    history. Then everything is healed and checked: one leader, every node
    at the same applied index with the same digest, the final state read
    linearizably, and the history with that final state linearizable.

    One thread, one zmq_poll loop over every client's sockets; the nemesis
    runs from the same loop by the monotonic clock. Exit 0 only when all of
    it holds (with --expect-violation: only when the checker finds one). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bank.h"
#include "checks.h"
#include "zkv.h"
#include "fault.h"
#include "guard.h"
#include "monitor.h"
#include "nemesis.h"
#include "options.h"
#include "record.h"
#include "summary.h"
#include "target.h"
#include "watchcheck.h"
#include "workload.h"

#define MAIN_POLL_MAX_MS 100
#define MAIN_ITEMS_MAX                                                                             \
    ((FAULT_CLIENTS_MAX + 3) * ZKV_CLIENT_ENDPOINTS_MAX + ZKV_CLIENT_ENDPOINTS_MAX)
#define MAIN_PROGRESS_MS 10000
#define MAIN_CHECK_LOCAL_MS 1000
#define MAIN_CHECK_COMPOSE_MS 5000
#define MAIN_EARLY_CHECK_MS 10000
#define MAIN_HEAL_MS 60000
#define MAIN_LEADER_MS 60000
#define MAIN_CONVERGE_MS 60000
#define MAIN_FINAL_MS 30000
#define MAIN_PATH_SIZE 1024
#define MAIN_WATCH_MS 20 /* the watcher reads at least this often */

typedef struct {
    fault_options_t o;
    char history[MAIN_PATH_SIZE];
    char final[MAIN_PATH_SIZE];
    char digests[MAIN_PATH_SIZE];
    target_t *target;
    record_t *record;
    workload_t *workload;
    bank_t *bank;        /* NULL without --bank */
    watchcheck_t *watch; /* NULL without --watch */
    monitor_t *monitor;
    nemesis_t *nemesis;
    int64_t started_ms;
    int64_t ran_ms;
    uint64_t events;
    bool early_violation;
    /* results */
    int converge; /* 0 equal, 1 differ, -1 not converged */
    char converge_text[512];
    long final_keys;
    int verdict; /* zkv_lincheck_verdict_t, or -1 */
    size_t keys_bad;
} s_run_t;

/* ---------------------------------------------------------------- setup */

static void s_paths(s_run_t *run)
{
    if (run->o.history)
        snprintf(run->history, sizeof run->history, "%s", run->o.history);
    else
        snprintf(run->history, sizeof run->history, "zkv-fault-%" PRIu64 ".jsonl", run->o.seed);
    char base[MAIN_PATH_SIZE];
    snprintf(base, sizeof base, "%s", run->history);
    size_t n = strlen(base);
    if (n > 6 && strcmp(base + n - 6, ".jsonl") == 0)
        base[n - 6] = 0;
    snprintf(run->final, sizeof run->final, "%.1000s.final.jsonl", base);
    snprintf(run->digests, sizeof run->digests, "%.1000s.digests.txt", base);
}

static void s_print_faults(const fault_options_t *o, char *out, size_t size)
{
    out[0] = 0;
    for (int k = 0; k < FAULT_KINDS; k++)
        if (o->faults & (1u << k))
            snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? "," : "",
                     fault_kind_name((fault_kind_t) k));
    if (!out[0])
        snprintf(out, size, "none");
}

static int s_setup(s_run_t *run)
{
    char err[FAULT_ERROR_SIZE], faults[256];
    s_print_faults(&run->o, faults, sizeof faults);
    fault_log("zkv-fault: target %s, seed %" PRIu64 ", %lld s, %d clients, %d keys, faults %s",
              run->o.target == FAULT_TARGET_LOCAL ? "local" : "compose", run->o.seed,
              (long long) (run->o.duration_ms / 1000), run->o.clients, run->o.keys, faults);
    fault_log("history: %s", run->history);
    run->target = run->o.target == FAULT_TARGET_LOCAL
                      ? target_local_new(&run->o, err, sizeof err)
                      : target_compose_new(&run->o, err, sizeof err);
    if (!run->target) {
        fault_error("%s", err);
        return -1;
    }
    if (!run->target->partitions) {
        bool wanted = run->o.faults & ~((1u << FAULT_PARTITION_ONE) - 1);
        if (wanted && run->o.require_partitions)
            fault_error("partitions required but not possible: %s", run->target->partitions_why);
        else if (wanted)
            fault_log("partitions: NOT RUN (%s); the other faults go on",
                      run->target->partitions_why);
    }
    run->record = record_open(run->history, err, sizeof err);
    if (run->record)
        run->workload = workload_new(&run->o, run->target, run->record, err, sizeof err);
    if (run->workload && run->o.bank &&
        !(run->bank = bank_new(&run->o, run->target, err, sizeof err))) {
        fault_error("%s", err);
        return -1;
    }
    if (run->workload && run->o.watch &&
        !(run->watch = watchcheck_new(&run->o, run->target, err, sizeof err))) {
        fault_error("%s", err);
        return -1;
    }
    if (run->workload)
        run->monitor = monitor_new(run->target, err, sizeof err);
    if (run->monitor)
        run->nemesis = nemesis_new(run->target, &run->o);
    if (!run->nemesis) {
        fault_error("%s", err);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- the loop */

static int64_t s_min_wait(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    return b < 0 || a < b ? a : b;
}

/*  One round: issue, wait for something to happen, take it in, let the nemesis act. */
static void s_round(s_run_t *run, int64_t nemesis_wait, int64_t until_ms)
{
    static zmq_pollitem_t items[MAIN_ITEMS_MAX];
    workload_issue(run->workload);
    size_t n = workload_pollitems(run->workload, items, MAIN_ITEMS_MAX);
    n += monitor_pollitems(run->monitor, items + n, MAIN_ITEMS_MAX - n);
    int64_t wait = s_min_wait(workload_wait_ms(run->workload), monitor_wait_ms(run->monitor));
    if (run->bank) {
        bank_issue(run->bank);
        n += bank_pollitems(run->bank, items + n, MAIN_ITEMS_MAX - n);
        wait = s_min_wait(wait, bank_wait_ms(run->bank));
    }
    if (run->watch) {
        n += watchcheck_pollitems(run->watch, items + n, MAIN_ITEMS_MAX - n);
        wait = s_min_wait(wait, watchcheck_wait_ms(run->watch));
        wait = s_min_wait(wait, MAIN_WATCH_MS);
    }
    wait = s_min_wait(wait, nemesis_wait);
    wait = s_min_wait(wait, until_ms - fault_now_ms());
    wait = s_min_wait(wait, MAIN_POLL_MAX_MS);
    zmq_poll(items, (int) n, wait < 0 ? 0 : (long) wait);
    workload_dispatch(run->workload);
    if (run->bank)
        bank_dispatch(run->bank);
    if (run->watch && run->started_ms)
        watchcheck_step(run->watch, fault_now_ms() - run->started_ms);
    monitor_step(run->monitor);
}

static uint64_t s_operations(const workload_stats_t *st)
{
    uint64_t total = 0;
    for (int f = 0; f < WL_KINDS; f++)
        for (int o = 0; o < WL_OUTCOMES; o++)
            total += st->count[f][o];
    return total;
}

/*  With --expect-violation: is there one already? (Open operations count as info.) */
static bool s_violation_so_far(s_run_t *run)
{
    record_flush(run->record);
    size_t bad;
    return checks_history(run->history, NULL, true, &bad) == ZKV_LINCHECK_VIOLATION;
}

/*  When the loop's chores are next due. */
typedef struct {
    int64_t check, progress, early;
} s_due_t;

/*  The chores between rounds: check the nodes, flush the history, say how
    far the run is, and (--expect-violation) look for a violation. false to stop. */
static bool s_chores(s_run_t *run, s_due_t *due)
{
    int64_t now = fault_now_ms();
    if (now >= due->check) {
        run->target->ops->check(run->target, false);
        record_flush(run->record);
        due->check = now + (run->o.target == FAULT_TARGET_LOCAL ? MAIN_CHECK_LOCAL_MS
                                                                : MAIN_CHECK_COMPOSE_MS);
    }
    if (now >= due->progress) {
        fault_log("progress: %" PRIu64 " operations, %zu in flight",
                  s_operations(workload_stats(run->workload)), workload_inflight(run->workload));
        due->progress = now + MAIN_PROGRESS_MS;
    }
    if (!run->o.expect_violation || now < due->early)
        return true;
    due->early = now + MAIN_EARLY_CHECK_MS;
    if (!s_violation_so_far(run))
        return true;
    fault_log("the checker found a violation already: stopping early");
    run->early_violation = true;
    return false;
}

static void s_loop(s_run_t *run)
{
    int64_t now = fault_now_ms(), end = now + run->o.duration_ms;
    s_due_t due = {now, now + MAIN_PROGRESS_MS, now + MAIN_EARLY_CHECK_MS};
    int64_t nemesis_wait = 0;
    run->started_ms = now;
    while (fault_now_ms() < end) {
        s_round(run, nemesis_wait, end);
        nemesis_wait = nemesis_step(run->nemesis, monitor_leader(run->monitor));
        if (!s_chores(run, &due))
            break;
    }
    run->ran_ms = fault_now_ms() - run->started_ms;
}

/*  No new operations; heal; let the operations in flight finish (each has its deadline). */
static void s_wind_down(s_run_t *run)
{
    workload_stop(run->workload);
    if (run->bank)
        bank_stop(run->bank);
    fault_log("workload stopped after %.1f s; %zu operations in flight; healing",
              (double) run->ran_ms / 1000, workload_inflight(run->workload));
    nemesis_end(run->nemesis);
    target_heal_all(run->target, MAIN_HEAL_MS);
    int64_t until = fault_now_ms() + run->o.op_timeout_ms + 2000;
    while ((workload_inflight(run->workload) || (run->bank && bank_inflight(run->bank))) &&
           fault_now_ms() < until)
        s_round(run, -1, until);
    if (workload_inflight(run->workload)) {
        fault_error("%zu operations still in flight past their deadline; canceled",
                    workload_inflight(run->workload));
        workload_cancel(run->workload);
    }
    run->events = record_events(run->record);
    if (record_close(&run->record) != 0)
        fault_error("writing the history %s failed", run->history);
}

/* ---------------------------------------------------------------- after */

static void s_final_checks(s_run_t *run)
{
    char err[FAULT_ERROR_SIZE];
    checks_t *checks = checks_new(run->target, err, sizeof err);
    run->converge = -1;
    run->final_keys = -1;
    run->verdict = -1;
    if (!checks) {
        fault_error("%s", err);
        return;
    }
    uint32_t leader = checks_wait_leader(checks, MAIN_LEADER_MS);
    if (!leader)
        fault_error("no leader agreed on within %d ms of healing", MAIN_LEADER_MS);
    else {
        fault_log("after healing: node %u leads", leader);
        run->converge = checks_converge(checks, leader, run->digests, MAIN_CONVERGE_MS,
                                        run->converge_text, sizeof run->converge_text);
        run->final_keys = checks_final_state(checks, run->final, MAIN_FINAL_MS);
        if (run->bank)
            bank_check(run->bank, MAIN_FINAL_MS);
        if (run->watch)
            watchcheck_final(run->watch, MAIN_FINAL_MS);
    }
    checks_destroy(&checks);
    fault_log("checking the history%s", run->final_keys >= 0 ? " with the final state" : "");
    run->verdict = checks_history(run->history, run->final_keys >= 0 ? run->final : NULL, false,
                                  &run->keys_bad);
}

/*  Local nodes end with SIGTERM: each must exit 0 with no sanitizer report. */
static void s_stop_nodes(s_run_t *run)
{
    target_t *t = run->target;
    if (run->o.target == FAULT_TARGET_LOCAL)
        fault_log("stopping every node (SIGTERM): each must exit 0 with no sanitizer report");
    if (run->o.target == FAULT_TARGET_LOCAL)
        for (uint32_t id = 1; id <= t->nodes; id++)
            if (t->state[id] == TARGET_NODE_UP && t->ops->stop(t, id) == 0 &&
                target_wait_settled(t, MAIN_HEAL_MS) != 0)
                fault_error("node %u did not stop", id);
    t->ops->check(t, true);
}

static bool s_summary(s_run_t *run)
{
    summary_t s = {.options = &run->o,
                   .history = run->history,
                   .final = run->final,
                   .digests = run->digests,
                   .target = run->target,
                   .workload = run->workload ? workload_stats(run->workload) : NULL,
                   .nemesis = run->nemesis ? nemesis_stats(run->nemesis) : NULL,
                   .events = run->events,
                   .leader_changes = run->monitor ? monitor_leader_changes(run->monitor) : 0,
                   .ran_ms = run->ran_ms,
                   .early_violation = run->early_violation,
                   .converge = run->converge,
                   .converge_text = run->converge_text,
                   .final_keys = run->final_keys,
                   .verdict = run->verdict,
                   .keys_bad = run->keys_bad};
    return summary_print(&s);
}

static void s_teardown(s_run_t *run)
{
    workload_destroy(&run->workload);
    bank_destroy(&run->bank);
    watchcheck_destroy(&run->watch);
    monitor_destroy(&run->monitor);
    nemesis_destroy(&run->nemesis);
    record_close(&run->record);
    target_destroy(&run->target);
    guard_release();
}

int main(int argc, char **argv)
{
    static s_run_t run = {.converge = -1, .final_keys = -1, .verdict = -1};
    int rc = options_parse(&run.o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    s_paths(&run);
    fault_log_start();
    if (run.o.target == FAULT_TARGET_LOCAL) {
        netcut_t chain = {0};
        snprintf(chain.chain, sizeof chain.chain, "%s%d", NETCUT_CHAIN_PREFIX, (int) getpid());
        if (guard_start(&chain) != 0)
            fault_error("cannot start the cleanup guard");
    }
    if (s_setup(&run) == 0) {
        s_loop(&run);
        s_wind_down(&run);
        s_final_checks(&run);
        s_stop_nodes(&run);
    }
    bool pass = s_summary(&run);
    s_teardown(&run);
    return pass ? 0 : 1;
}
