/*  log actor: the node's durable log writer.

    Receives PERSIST batches from the replication actor, writes them to the
    write-ahead log, and after draining everything waiting makes it durable
    with one sync (group commit), then reports the highest ready id now on
    disk. See inproc.h for the messages. */
#ifndef ZKV_LOG_ACTOR_H
#define ZKV_LOG_ACTOR_H

#include <czmq.h>
#include <stdint.h>

#include "wal.h"

/*  Start the log actor on an opened WAL, which it takes over (*wal_p is
    NULLed). It binds the node's inproc "log" endpoint. */
zactor_t *zkv_log_actor_new(uint32_t node_id, zkv_wal_t **wal_p);

#endif
