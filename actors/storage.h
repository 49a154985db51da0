/*  storage actor: owns the state machine (kvstore: the B+ tree and client
    sessions). Applies committed entries and reports each write's result to
    the client actor, serves reads, takes a snapshot every so many entries and
    installs the snapshots a leader sends. See inproc.h for the messages. */
#ifndef ZKV_STORAGE_ACTOR_H
#define ZKV_STORAGE_ACTOR_H

#include <czmq.h>

#include "config.h"
#include "kvstore.h"

/*  Start the storage actor on a recovered state machine, which it takes over
    (*kv_p is NULLed). last_term: the term of the last applied entry (the
    snapshot's, after a restart). */
zactor_t *zkv_storage_actor_new(const zkv_config_t *config, zkv_kvstore_t **kv_p,
                                uint64_t last_term);

#endif
