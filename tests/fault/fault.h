/*  fault: what the parts of zkv-fault share. zkv-fault drives a zkv cluster
    (local zkvd processes or the compose containers) with concurrent clients
    while a nemesis breaks it, records every operation as a history
    (docs/HISTORY.md), heals the cluster and checks linearizability,
    convergence and that every acknowledged write survived. */
#ifndef ZKV_FAULT_H
#define ZKV_FAULT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAULT_NODES_MAX 9
#define FAULT_CLIENTS_MAX 64
#define FAULT_KEYS_MAX 64
#define FAULT_ENDPOINT_SIZE 128
#define FAULT_HOST_SIZE 32
#define FAULT_ERROR_SIZE 512
#define FAULT_PATH_SIZE 1024

/*  The kinds of fault, in the order of the --faults names. */
typedef enum {
    FAULT_KILL,               /* SIGKILL (docker kill), start again after the hold */
    FAULT_STOP,               /* SIGTERM (docker stop), start again after the hold */
    FAULT_PAUSE,              /* SIGSTOP (docker pause), SIGCONT after the hold */
    FAULT_MEMBER,             /* a new node joins and is promoted; removed after the hold */
    FAULT_PARTITION_ONE,      /* one random node cut off from every other */
    FAULT_PARTITION_LEADER,   /* the leader cut off from every other */
    FAULT_PARTITION_MAJORITY, /* random halves: a minority side and a majority side */
    FAULT_PARTITION_RING,     /* majorities ring: each node sees a majority, no two the same */
    FAULT_KINDS
} fault_kind_t;

typedef enum { FAULT_TARGET_LOCAL, FAULT_TARGET_COMPOSE } fault_target_kind_t;

typedef struct {
    fault_target_kind_t target;
    int64_t duration_ms;
    int clients;
    int keys;
    uint64_t seed;
    const char *history;
    unsigned faults; /* bit per fault_kind_t */
    int64_t op_timeout_ms;
    int home_read_percent;            /* gets sent to the client's home node only */
    int64_t hold_min_ms, hold_max_ms; /* how long a fault lasts */
    int64_t gap_min_ms, gap_max_ms;   /* quiet time between faults */
    bool expect_violation;            /* pass only when the checker finds a violation */
    bool require_partitions; /* fail, instead of going on without them, when iptables cannot */
    bool require_all_faults; /* fail unless every enabled kind was injected at least once */
    bool bank;               /* transfers in transactions beside the workload (bank.h) */
    bool watch;              /* a watcher of every key, paused and moved (watchcheck.h) */
    /* local */
    const char *zkvd;
    int nodes;
    int host_base;
    uint64_t snapshot_entries; /* 0: zkvd's default */
    /* compose */
    const char *project;
    int port_base;
    const char *net_prefix;
} fault_options_t;

const char *fault_kind_name(fault_kind_t kind);
bool fault_kind_is_partition(fault_kind_t kind);

/*  Monotonic clock. */
int64_t fault_now_ms(void);
int64_t fault_now_ns(void);

/*  A line on stdout prefixed with the time since the run started; flushed. */
void fault_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fault_log_start(void);

/*  Errors of the run itself (a node that crashed, an answer that must never
    come, a command that failed): counted, printed, and the run fails. */
void fault_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fault_error_count(void);

/*  A seeded generator (splitmix64): every choice of the run comes from one. */
typedef struct {
    uint64_t state;
} fault_rng_t;

void fault_rng_seed(fault_rng_t *rng, uint64_t seed);
uint64_t fault_rng_next(fault_rng_t *rng);
/*  Uniform in [0, n). */
uint64_t fault_rng_below(fault_rng_t *rng, uint64_t n);
/*  Uniform in [lo, hi]. */
int64_t fault_rng_range(fault_rng_t *rng, int64_t lo, int64_t hi);

#endif
