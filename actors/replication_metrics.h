/*  replication_metrics: what the replication handler records in the node's
    metrics (metrics.h, part raft): its state, proposals, and per peer the
    messages and a sampled round trip from an append to its acknowledgement. */
#ifndef ZKV_REPLICATION_METRICS_H
#define ZKV_REPLICATION_METRICS_H

#include "metrics.h"
#include "raft.h"

/*  An append awaiting its acknowledgement, one per peer slot; older than
    the largest histogram bucket it is dropped (the peer was away). */
typedef struct {
    uint64_t index; /* 0: none */
    uint64_t sent_ns;
} zkv_rtt_sample_t;

typedef struct {
    zkv_metrics_t *m;
    uint32_t leader_seen; /* the last leader known, for leader changes */
    zkv_rtt_sample_t rtt[ZKV_MEMBERS_MAX];
} zkv_repl_metrics_t;

void zkv_repl_metrics_state(zkv_repl_metrics_t *self, const zkv_raft_status_t *st);
void zkv_repl_metrics_sent(zkv_repl_metrics_t *self, const zkv_raft_msg_t *msg);
/*  An admitted peer message; leader: the leader known before it was stepped. */
void zkv_repl_metrics_received(zkv_repl_metrics_t *self, const zkv_raft_msg_t *msg,
                               uint32_t leader);
void zkv_repl_metrics_proposed(zkv_repl_metrics_t *self, size_t commands, bool refused);

#endif
