/*  checks: what is asked of the cluster once the faults are healed and the
    workload has stopped. A leader; convergence (every node applied the same
    index, then the state digests compared); the final state read
    linearizably with a full scan; and the history checked with it
    (docs/HISTORY.md, "Final state"). */
#ifndef ZKV_FAULT_CHECKS_H
#define ZKV_FAULT_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lincheck.h"
#include "target.h"

typedef struct checks_t checks_t;

checks_t *checks_new(const target_t *target, char *err, size_t err_size);
void checks_destroy(checks_t **self_p);

/*  The leader a majority of the nodes agree on, or 0 after timeout_ms. */
uint32_t checks_wait_leader(checks_t *self, int64_t timeout_ms);

/*  Wait until every node has applied the same index, at least the leader's
    commit index; then compare digests, written as "id digest" lines to
    digests_path. 0: converged and equal; 1: digests differ; -1: never reached
    the same index within timeout_ms. A description in summary. */
int checks_converge(checks_t *self, uint32_t leader, const char *digests_path, int64_t timeout_ms,
                    char *summary, size_t summary_size);

/*  Read every key of the workload linearizably (a full scan that skips the
    bank/ and fill/ keys of --bank and --watch, retried until timeout_ms) and
    write it to final_path as JSON lines. The number of keys, or -1. */
long checks_final_state(checks_t *self, const char *final_path, int64_t timeout_ms);

/*  Check the history (with the final state when final_path is not NULL).
    Prints one line per key, each violation in full, unless quiet. The
    verdict, or -1 when the history could not be read (reported). */
int checks_history(const char *history_path, const char *final_path, bool quiet, size_t *keys_bad);

#endif
