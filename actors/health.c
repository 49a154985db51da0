/*  health: the /health verdict (health.h). */
#include "health.h"

#include <inttypes.h>
#include <stdio.h>

#include "raft.h"

bool zkv_health_check(const zkv_metrics_t *metrics, uint64_t max_lag, char *reason,
                      size_t reason_size)
{
    uint64_t role = zkv_metric_get(&metrics->raft.role);
    uint64_t term = zkv_metric_get(&metrics->raft.term);
    uint64_t leader = zkv_metric_get(&metrics->raft.leader);
    uint64_t applied = zkv_metric_get(&metrics->raft.applied);
    uint64_t commit = zkv_metric_get(&metrics->raft.leader_commit);
    if (!leader) {
        snprintf(reason, reason_size, "no leader known (%s in term %" PRIu64 ")",
                 zkv_raft_role_name((zkv_raft_role_t) role), term);
        return false;
    }
    if (commit > applied && commit - applied > max_lag) {
        snprintf(reason, reason_size,
                 "applied index %" PRIu64 " is %" PRIu64
                 " entries behind the leader's commit %" PRIu64 " (more than %" PRIu64 ")",
                 applied, commit - applied, commit, max_lag);
        return false;
    }
    snprintf(reason, reason_size,
             "ok: leader %" PRIu64 ", term %" PRIu64 ", applied %" PRIu64
             ", leader's commit %" PRIu64,
             leader, term, applied, commit);
    return true;
}
