/*  watchcheck: a watcher of every key through the fault run (--watch). It
    follows the changes from revision 1 and builds the store from them
    alone; a third of the way in it stops reading for 4 s while a filler
    writes 16 KiB values (its node's queue fills, the node cuts it off); two
    thirds in, its node is killed and started again 3 s later. At the end,
    once the faults are healed, the state its events built must equal a
    linearizable scan of every key, with the same revisions and versions;
    every put must have come with the version after the key's last one (an
    event lost or seen twice shows there). */
#ifndef ZKV_FAULT_WATCHCHECK_H
#define ZKV_FAULT_WATCHCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "fault.h"
#include "target.h"

typedef struct watchcheck_t watchcheck_t;

watchcheck_t *watchcheck_new(const fault_options_t *options, target_t *target, char *err,
                             size_t err_size);
void watchcheck_destroy(watchcheck_t **self_p);

/*  Between rounds of the loop: read what came (unless paused), the filler,
    the kill and restart of the watcher's node. elapsed_ms since the start. */
void watchcheck_step(watchcheck_t *self, int64_t elapsed_ms);

/*  The filler's sockets, and when its client next needs a turn. */
size_t watchcheck_pollitems(watchcheck_t *self, zmq_pollitem_t *items, size_t capacity);
int64_t watchcheck_wait_ms(watchcheck_t *self);

/*  After healing: the events' state against a scan. 0 when equal. */
int watchcheck_final(watchcheck_t *self, int64_t timeout_ms);

#endif
