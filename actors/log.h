/*  log actor: the node's durable log writer.

    Receives PERSIST batches from the replication actor, writes them to the
    write-ahead log, and after draining everything waiting makes it durable
    with one sync (group commit), then sends a follower's acknowledgement of
    those entries to the leader itself (ACK) and reports the highest ready
    id now on disk. See msg.h for the messages. */
#ifndef ZKV_LOG_ACTOR_H
#define ZKV_LOG_ACTOR_H

#include <czmq.h>
#include <stdint.h>

#include "port.h"
#include "trace.h"
#include "wal.h"

/*  The handler: what the actor does, without its socket and thread. */
typedef struct zkv_log_t zkv_log_t;

/*  On an opened WAL, which it takes over (*wal_p is NULLed); it sends DURABLE
    and FATAL through port, acknowledgements through port.ack. tracer is
    borrowed (NULL: none). */
zkv_log_t *zkv_log_new(zkv_wal_t **wal_p, const zkv_port_t *port, zkv_tracer_t *tracer);
void zkv_log_destroy(zkv_log_t **self_p);

/*  A PERSIST or DROP: written, not yet synced; an ACK: sent once durable. */
void zkv_log_handle(zkv_log_t *self, const zkv_msg_t *msg);

/*  The end of a drained round: one sync for everything written, then DURABLE. */
void zkv_log_round(zkv_log_t *self);

/*  The WAL refused a write or sync: nothing more is written or acknowledged. */
bool zkv_log_failed(const zkv_log_t *self);

/*  The WAL as written so far (synced or not), for inspection. */
const zkv_wal_t *zkv_log_wal(const zkv_log_t *self);

/*  Start the log actor on an opened WAL, which it takes over (*wal_p is
    NULLed). It binds the node's inproc "log" endpoint, and sends a
    follower's acknowledgements to the leader over a DEALER of its own. */
zactor_t *zkv_log_actor_new(const zkv_config_t *config, zkv_wal_t **wal_p, zkv_metrics_t *metrics);

#endif
