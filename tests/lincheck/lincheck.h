/*  lincheck: decides whether the operations on one key form a linearizable
    history of a register whose state is either absent or a string.

    Wing & Gong's search with Lowe's memoization, in the shape of porcupine's
    checkSingle: a doubly linked list of call and return events, lift/unlift,
    a stack for backtracking and a cache of (set of linearized operations,
    register state) pairs already explored. Pure: no I/O, no clock, no
    randomness. The history format and the exact semantics are in
    docs/HISTORY.md. */
#ifndef ZKV_LINCHECK_H
#define ZKV_LINCHECK_H

#include <stddef.h>
#include <stdint.h>

/*  Default search budget per key, in steps (one step tries or undoes one
    operation). Large enough for a few thousand operations per key with
    indeterminate ones among them; hitting it gives UNKNOWN, never a pass. */
#define ZKV_LINCHECK_STEPS_DEFAULT 200000000ULL
/*  Default limit on the memoization cache per key; hitting it gives UNKNOWN. */
#define ZKV_LINCHECK_CACHE_BYTES_DEFAULT (2ULL << 30)
/*  How many of the last linearized operations a violation report keeps. */
#define ZKV_LINCHECK_TAIL_MAX 8
/*  Largest number of operations on one key. */
#define ZKV_LINCHECK_OPS_MAX (1u << 28)

typedef enum {
    ZKV_LINCHECK_PUT,
    ZKV_LINCHECK_GET,
    ZKV_LINCHECK_DELETE,
    ZKV_LINCHECK_CAS,
} zkv_lincheck_f_t;

typedef enum {
    ZKV_LINCHECK_OK,   /* took effect exactly once, between call and return */
    ZKV_LINCHECK_FAIL, /* certainly took no effect: ignored by the check */
    ZKV_LINCHECK_INFO, /* may or may not have taken effect, at any time after the call */
} zkv_lincheck_outcome_t;

/*  One operation on one key. Positions order events in real time: A precedes
    B iff A.ret_pos < B.call_pos. Every position used by the check (call_pos
    of each operation that is not dropped, ret_pos of each OK one) must be
    distinct. Strings are borrowed; equal strings are the same value. */
typedef struct {
    zkv_lincheck_f_t f;
    zkv_lincheck_outcome_t outcome;
    const char *value;    /* put, cas: value written; get: value read; NULL = absent */
    const char *expected; /* cas: value expected; NULL = expect the key absent */
    uint64_t call_pos;    /* position of the invoke event */
    uint64_t ret_pos;     /* position of the completion; 0 = none (INFO only) */
    int64_t process;      /* for reports; negative = the final read of the state */
    int64_t call_time_ns; /* for reports */
    int64_t ret_time_ns;  /* for reports; negative = no completion */
} zkv_lincheck_op_t;

typedef enum {
    ZKV_LINCHECK_LINEARIZABLE,
    ZKV_LINCHECK_VIOLATION,
    ZKV_LINCHECK_UNKNOWN, /* the budget ran out first */
} zkv_lincheck_verdict_t;

typedef struct {
    uint64_t steps_max;       /* 0 = no limit */
    uint64_t cache_bytes_max; /* 0 = no limit */
} zkv_lincheck_limits_t;

typedef struct zkv_lincheck_result_t zkv_lincheck_result_t;

/*  Limits with the defaults above. */
zkv_lincheck_limits_t zkv_lincheck_limits_default(void);

/*  Checks ops[0..count) of one key. limits may be NULL for the defaults.
    Returns 0 and a result, ZKV_EINVAL for inconsistent positions or fields,
    ZKV_ENOMEM. The result refers to ops by index. */
int zkv_lincheck_check(const zkv_lincheck_op_t *ops, size_t count,
                       const zkv_lincheck_limits_t *limits, zkv_lincheck_result_t **result_p);

void zkv_lincheck_result_destroy(zkv_lincheck_result_t **self_p);

zkv_lincheck_verdict_t zkv_lincheck_result_verdict(const zkv_lincheck_result_t *self);

/*  Search steps taken. */
uint64_t zkv_lincheck_result_steps(const zkv_lincheck_result_t *self);

/*  For a violation: the longest linearizable prefix the search found, its
    length, and the indices of its last operations (up to
    ZKV_LINCHECK_TAIL_MAX, oldest first). */
size_t zkv_lincheck_result_prefix_length(const zkv_lincheck_result_t *self);
size_t zkv_lincheck_result_prefix_tail(const zkv_lincheck_result_t *self, const size_t **ops_p);

/*  For a violation: the register after that prefix (NULL = absent; borrowed
    from the ops). */
const char *zkv_lincheck_result_state(const zkv_lincheck_result_t *self);

/*  For a violation: indices of the operations that real time allowed next
    after that prefix, in order of their calls; none fits the register there.
    The one that returned first is among them. */
size_t zkv_lincheck_result_stuck(const zkv_lincheck_result_t *self, const size_t **ops_p);

/*  A readable report of the result for the same ops; the caller frees it.
    NULL when out of memory. */
char *zkv_lincheck_result_describe(const zkv_lincheck_result_t *self, const zkv_lincheck_op_t *ops,
                                   size_t count);

/*  "put", "get", ...; "ok", "fail", "info"; "linearizable", ... */
const char *zkv_lincheck_f_name(zkv_lincheck_f_t f);
const char *zkv_lincheck_outcome_name(zkv_lincheck_outcome_t outcome);
const char *zkv_lincheck_verdict_name(zkv_lincheck_verdict_t verdict);

#endif
