/*  metrics: a node's counters, gauges and histograms, and their Prometheus
    text (GET /metrics on the HTTP port, actors/http.c).

    The one block of memory a node's actors share. Each part below has one
    writer, the handler named beside it, which updates it with relaxed atomic
    loads and stores (no read-modify-write: a plain move on x86-64); the HTTP
    actor reads it on a scrape. Nothing a handler decides depends on what is
    here, nor on the clock durations are read from, so the node simulation
    stays deterministic while it runs the same code. */
#ifndef ZKV_METRICS_H
#define ZKV_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zkv_limits.h"

typedef struct {
    _Atomic uint64_t v;
} zkv_metric_t;

/*  Bucket upper bounds of the two histogram kinds: durations from 50 us to
    10 s, and sizes (entries, commands) from 1 to 65,536 in powers of two. */
#define ZKV_HIST_BOUNDS 17
typedef struct {
    zkv_metric_t bucket[ZKV_HIST_BOUNDS + 1]; /* not cumulative; the last is +Inf */
    zkv_metric_t sum;                         /* nanoseconds, or the sizes */
} zkv_hist_t;

/*  Labels of client requests: the zkv.Request body case (0: malformed) and
    the zkv.Status of the answer. */
#define ZKV_METRICS_OPS 32
#define ZKV_METRICS_STATUSES 20
#define ZKV_METRICS_DOMAINS 3

typedef struct {
    zkv_metric_t id;       /* the peer's node id; 0: unused slot */
    zkv_hist_t round_trip; /* an append to this peer until its ack */
    zkv_metric_t sent, received;
} zkv_peer_metrics_t;

typedef struct {
    zkv_metric_t id;        /* 0: unused slot */
    zkv_metric_t connected; /* the DEALER to it has a connection that completed its handshake */
} zkv_link_metrics_t;

typedef struct {
    uint32_t node_id;
    int64_t started_unix_s;
    struct { /* replication */
        zkv_metric_t term, role, leader, leader_changes;
        zkv_metric_t commit, applied, leader_commit; /* the leader's commit as last heard */
        zkv_metric_t proposals, proposals_refused;
        zkv_hist_t proposal_batch;
        zkv_metric_t peer_refused; /* malformed peer messages dropped */
        zkv_metric_t log_bytes;
        zkv_peer_metrics_t peers[ZKV_MEMBERS_MAX];
    } raft;
    struct { /* log */
        zkv_hist_t fsync_seconds;
        zkv_hist_t entries_per_fsync;
        zkv_metric_t written_bytes, bytes, segments;
    } wal;
    struct { /* storage */
        zkv_metric_t applied_entries, keys, sessions, leases;
        zkv_metric_t tree_bytes;
        zkv_metric_t snapshots, snapshot_bytes, snapshot_index, snapshot_failures;
        zkv_hist_t snapshot_seconds;
        zkv_metric_t installs;
        zkv_metric_t reply_bytes; /* of read replies passed to the client actor */
    } storage;
    struct { /* client (front) */
        zkv_metric_t requests[ZKV_METRICS_OPS][ZKV_METRICS_STATUSES];
        zkv_hist_t latency[ZKV_METRICS_OPS];
        zkv_metric_t in_flight, reply_bytes, replies_shed;
        zkv_metric_t replies_taken_bytes; /* of those replies, taken from the storage actor */
    } client;
    struct { /* watch */
        zkv_metric_t events, cut_offs, catch_ups;
        zkv_metric_t history_events, history_bytes;
    } watch;
    struct { /* trace: the peer sockets' monitor events */
        zkv_link_metrics_t links[ZKV_MEMBERS_MAX];
    } trace;
    struct { /* auth: CURVE handshakes by ZAP domain: peer, client, trace (security.h) */
        zkv_metric_t accepted[ZKV_METRICS_DOMAINS], refused[ZKV_METRICS_DOMAINS];
    } auth;
} zkv_metrics_t;

/*  A zeroed block for node node_id. */
zkv_metrics_t *zkv_metrics_new(uint32_t node_id);
void zkv_metrics_destroy(zkv_metrics_t **self_p);

/*  Monotonic nanoseconds, for durations. */
uint64_t zkv_metrics_now_ns(void);

static inline uint64_t zkv_metric_get(const zkv_metric_t *m)
{
    return atomic_load_explicit(&((zkv_metric_t *) m)->v, memory_order_relaxed);
}

/*  Only the part's one writer may call these. */
static inline void zkv_metric_set(zkv_metric_t *m, uint64_t value)
{
    atomic_store_explicit(&m->v, value, memory_order_relaxed);
}

static inline void zkv_metric_add(zkv_metric_t *m, uint64_t n)
{
    zkv_metric_set(m, zkv_metric_get(m) + n);
}

void zkv_hist_duration(zkv_hist_t *h, uint64_t ns);
void zkv_hist_size(zkv_hist_t *h, uint64_t n);

/*  Since started_ns (zkv_metrics_now_ns). */
static inline void zkv_hist_since(zkv_hist_t *h, uint64_t started_ns)
{
    zkv_hist_duration(h, zkv_metrics_now_ns() - started_ns);
}

/*  Bytes of read replies the storage actor passed on and the client actor has
    not taken yet. */
uint64_t zkv_metrics_replies_in_transit(const zkv_metrics_t *self);

/*  The slot of peer id, taken when new (NULL when every slot is in use):
    the replication handler's and the trace actor's. */
zkv_peer_metrics_t *zkv_metrics_peer(zkv_metrics_t *self, uint32_t id);
zkv_link_metrics_t *zkv_metrics_link(zkv_metrics_t *self, uint32_t id);

/*  The Prometheus text exposition (format 0.0.4) of every metric, with the
    process's own (RSS, CPU, open files). A malloc'd string, *size_p its
    length; NULL when memory runs out. */
char *zkv_metrics_text(const zkv_metrics_t *self, size_t *size_p);

#endif
