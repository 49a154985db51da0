/*  summary: the run's result in a few lines, and whether it passed. */
#ifndef ZKV_FAULT_SUMMARY_H
#define ZKV_FAULT_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>

#include "fault.h"
#include "nemesis.h"
#include "target.h"
#include "workload.h"

typedef struct {
    const fault_options_t *options;
    const char *history, *final, *digests;
    const target_t *target;           /* NULL when setup failed */
    const workload_stats_t *workload; /* NULL when setup failed */
    const nemesis_stats_t *nemesis;   /* NULL when setup failed */
    uint64_t events;
    uint64_t leader_changes;
    int64_t ran_ms;
    bool early_violation;
    int converge; /* 0 equal digests, 1 they differ, -1 never converged */
    const char *converge_text;
    long final_keys; /* -1: the final read failed */
    int verdict;     /* zkv_lincheck_verdict_t, -1: not checked */
    size_t keys_bad;
} summary_t;

/*  Prints the summary; true when the run passed. */
bool summary_print(const summary_t *s);

#endif
