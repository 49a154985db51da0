/*  disk actor: the node's slow disk work, off the paths that answer clients.
    It writes the storage actor's snapshots from a view of its tree (btree.h)
    while applies, reads and replies go on, and removes the files the log and
    storage no longer need (WAL segments, older snapshots): removing a large
    file frees its extents and cached pages, tens of milliseconds that a WAL
    sync or an apply would otherwise wait out.

    storage -> disk   WRITE_SNAPSHOT: a job storage owns; the disk actor
                      reads it, writes the file and fills in the outcome
    disk -> storage   SNAPSHOT_WRITTEN: the same job, done
    storage -> disk   PRUNE: the snapshots older than the one at body go
    log -> disk       REMOVE: the file at body goes (in the order sent)

    Storage touches nothing of a job between the two but its view's stop
    (zkv_btree_view_stop), and releases the view once the answer is in. */
#ifndef ZKV_DISK_H
#define ZKV_DISK_H

#include <czmq.h>

#include "fs.h"
#include "port.h"
#include "snapshot.h"
#include "trace.h"
#include "zkv_limits.h"

typedef struct {
    /* what to write (storage's) */
    char dir[ZKV_DATA_SUBDIR_SIZE_MAX];
    zkv_btree_view_t *view;
    zkv_snapshot_meta_t meta; /* config and app owned by the job */
    uint64_t bytes;           /* entry bytes applied before it, for storage's trigger */
    /* the outcome (the disk actor's) */
    int rc;
    char name[ZKV_SNAPSHOT_NAME_SIZE + 1];
    char err[512];
    uint64_t nanos; /* writing took */
} zkv_snapshot_job_t;

/*  A job and its messages: WRITE_SNAPSHOT and SNAPSHOT_WRITTEN carry its address. */
void zkv_snapshot_job_destroy(zkv_snapshot_job_t **job_p);
zkv_snapshot_job_t *zkv_snapshot_job_of(const zkv_msg_t *msg);

/*  The handler: files on fs, answers through port; it keeps no state of its own. */
typedef struct {
    const zkv_fs_t *fs;
    zkv_port_t port;
    zkv_tracer_t *tracer; /* borrowed; NULL: none */
} zkv_disk_t;

void zkv_disk_handle(const zkv_disk_t *self, const zkv_msg_t *msg);

/*  Started before the log and storage actors and stopped after them. */
zactor_t *zkv_disk_actor_new(uint32_t node_id, zkv_metrics_t *metrics);

#endif
