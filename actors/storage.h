/*  storage actor: owns the state machine (kvstore: the B+ tree and client
    sessions). Applies committed entries and reports each write's result to
    the client actor, serves reads, takes a snapshot every so many entries (its
    disk actor writes it from a view of the tree while applies go on) and
    installs the snapshots a leader sends. See msg.h for the messages. */
#ifndef ZKV_STORAGE_ACTOR_H
#define ZKV_STORAGE_ACTOR_H

#include <czmq.h>

#include "config.h"
#include "fs.h"
#include "kvstore.h"
#include "port.h"
#include "trace.h"

/*  The handler: what the actor does, without its sockets and thread. */
typedef struct zkv_storage_t zkv_storage_t;

/*  What storage starts from besides the state machine. */
typedef struct {
    uint64_t last_term;     /* of the last applied entry (the snapshot's, after a restart) */
    const uint8_t *members; /* the membership as of it, a packed zkv.ClusterConfig (copied) */
    size_t members_size;
    const char *snapshot_path; /* the snapshot it was restored from ("" or NULL: none) */
} zkv_storage_start_t;

/*  On a recovered state machine, which it takes over (*kv_p is NULLed),
    snapshots in <data dir>/snap on fs; it sends RESULTS and REPLY to the
    client actor, APPLIED, SNAPSHOT and INSTALLED to replication, and the
    changes it applies (EVENTS) to the watch actor through port. tracer is borrowed (NULL: none).
   The membership it applies (CONFIG entries, installed snapshots) goes into the snapshots it takes.
   NULL when out of memory. */
zkv_storage_t *zkv_storage_new(const zkv_config_t *config, const zkv_fs_t *fs, zkv_kvstore_t **kv_p,
                               const zkv_storage_start_t *start, const zkv_port_t *port,
                               zkv_tracer_t *tracer);
void zkv_storage_destroy(zkv_storage_t **self_p);

/*  Tell the watch actor where the changes start: nothing before the state
    machine's applied index is known to it. Once, before any message. */
void zkv_storage_announce(zkv_storage_t *self);

/*  One message from replication (APPLY, SERVE, CHUNK, INSTALL, PRUNE), the
    client actor (SERVE, COUNT, BACKUP) or the disk actor (SNAPSHOT_WRITTEN). */
void zkv_storage_handle(zkv_storage_t *self, const zkv_msg_t *msg);

/*  A snapshot being written stops soon (the node is stopping): true while
    one is out, until its SNAPSHOT_WRITTEN is handled. */
bool zkv_storage_stop_snapshot(zkv_storage_t *self);

/*  Bytes of read replies passed to the client actor that it has not taken
    yet (beyond ZKV_REPLY_TRANSIT_MAX reads are refused, busy). */
uint64_t zkv_storage_replies_in_transit(const zkv_storage_t *self);

/*  The state machine, for inspection. */
const zkv_kvstore_t *zkv_storage_kv(const zkv_storage_t *self);

/*  Start the storage actor on a recovered state machine, which it takes over
    (*kv_p is NULLed); metrics outlives it, as for every actor. */
zactor_t *zkv_storage_actor_new(const zkv_config_t *config, zkv_kvstore_t **kv_p,
                                const zkv_storage_start_t *start, zkv_metrics_t *metrics);

#endif
