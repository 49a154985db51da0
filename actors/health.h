/*  health: whether a node is fit to serve, from its metrics (GET /health).

    Healthy when it knows a leader and has applied the log to within max_lag
    entries of the leader's commit index as last heard from the leader (its
    own on the leader). A node without a leader cannot serve writes or
    linearizable reads; one far behind serves stale serializable reads and
    would be slow to take over. */
#ifndef ZKV_HEALTH_H
#define ZKV_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/*  true when healthy; either way one line (no newline) in reason. */
bool zkv_health_check(const zkv_metrics_t *metrics, uint64_t max_lag, char *reason,
                      size_t reason_size);

#endif
