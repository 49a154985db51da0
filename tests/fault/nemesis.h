/*  nemesis: the fault schedule, driven by the monotonic clock from the
    driver's loop. Faults come one at a time: a quiet gap, a fault held for a
    while, its repair, the next gap. The kinds come in rounds, each round
    every enabled kind once in a seeded random order, so a run long enough
    for one round has injected every kind. Nodes and sides are chosen from
    the seed too; the leader comes from the monitor. */
#ifndef ZKV_FAULT_NEMESIS_H
#define ZKV_FAULT_NEMESIS_H

#include <stdint.h>

#include "fault.h"
#include "target.h"

typedef struct nemesis_t nemesis_t;

typedef struct {
    uint64_t injected[FAULT_KINDS];
} nemesis_stats_t;

nemesis_t *nemesis_new(target_t *target, const fault_options_t *options);
void nemesis_destroy(nemesis_t **self_p);

/*  Act when due; leader is the monitor's (0: unknown). Returns the
    milliseconds until the nemesis wants to run again. */
int64_t nemesis_step(nemesis_t *self, uint32_t leader);

/*  The fault in force, if any, is repaired now (synchronously, bounded). */
void nemesis_end(nemesis_t *self);

const nemesis_stats_t *nemesis_stats(const nemesis_t *self);

#endif
