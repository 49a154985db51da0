/*  workload: the logical clients. Each has at most one operation in flight
    on a small key space: put (a value written once in the whole run:
    "p<process>-<n>"), linearizable get (some sent to the client's home node
    only, so that every node is asked), delete, and cas expecting a value
    recently seen on that key (or the key absent). Every operation is
    recorded: the invoke before it is sent, the completion when it ends.
    A client whose write ended unknown (info) continues as a new process, so
    no process ever has two operations open in the history. */
#ifndef ZKV_FAULT_WORKLOAD_H
#define ZKV_FAULT_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "fault.h"
#include "record.h"
#include "target.h"

typedef enum { WL_PUT, WL_GET, WL_DELETE, WL_CAS, WL_KINDS } wl_f_t;
typedef enum { WL_OK, WL_FAIL, WL_INFO, WL_OUTCOMES } wl_outcome_t;

typedef struct {
    uint64_t count[WL_KINDS][WL_OUTCOMES];
    uint64_t home_reads;      /* gets sent to the home node only */
    uint64_t home_not_leader; /* of those, refused there (a follower): fail */
    uint64_t timeouts;        /* operations the client library gave up on */
    uint64_t cas_absent;      /* cas expecting the key absent */
} workload_stats_t;

typedef struct workload_t workload_t;

workload_t *workload_new(const fault_options_t *options, const target_t *target, record_t *record,
                         char *err, size_t err_size);
void workload_destroy(workload_t **self_p);

/*  Start an operation on every idle client (nothing once stopped). */
void workload_issue(workload_t *self);
/*  No new operations from now on. */
void workload_stop(workload_t *self);
/*  Complete every operation still in flight as given up (info; fail for gets). */
void workload_cancel(workload_t *self);

size_t workload_pollitems(workload_t *self, zmq_pollitem_t *items, size_t capacity);
/*  Milliseconds until some client's timer fires; -1 when nothing is in flight. */
int64_t workload_wait_ms(workload_t *self);
/*  Take in replies, fire timers; completions are recorded here. */
void workload_dispatch(workload_t *self);

size_t workload_inflight(const workload_t *self);
const workload_stats_t *workload_stats(const workload_t *self);
const char *workload_f_name(wl_f_t f);
const char *workload_outcome_name(wl_outcome_t outcome);
const char *workload_key(const workload_t *self, int key);

#endif
