/*  monitor: asks every node for its status a few times a second, in the
    driver's poll loop, to know the leader (for the nemesis, which isolates
    or kills it) and to count leader changes for the summary. */
#ifndef ZKV_FAULT_MONITOR_H
#define ZKV_FAULT_MONITOR_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "target.h"

typedef struct monitor_t monitor_t;

monitor_t *monitor_new(const target_t *target, char *err, size_t err_size);
void monitor_destroy(monitor_t **self_p);

size_t monitor_pollitems(monitor_t *self, zmq_pollitem_t *items, size_t capacity);
/*  Milliseconds until the monitor has something to do. */
int64_t monitor_wait_ms(monitor_t *self);
/*  Take in answers; ask again when due. */
void monitor_step(monitor_t *self);

/*  The leader with the highest term any node reported, or 0. */
uint32_t monitor_leader(const monitor_t *self);
/*  Changes of (leader, term) seen after the first leader. */
uint64_t monitor_leader_changes(const monitor_t *self);

#endif
