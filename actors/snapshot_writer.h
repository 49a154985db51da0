/*  snapshot writer actor: writes the storage actor's snapshots from a view
    of its tree (btree.h) on a thread of its own, so that applies, reads and
    replies go on while a large snapshot is written.

    storage -> writer   WRITE_SNAPSHOT: a job storage owns; the writer reads
                        it, writes the file and fills in the outcome
    writer -> storage   SNAPSHOT_WRITTEN: the same job, done

    Storage touches nothing of a job between the two but its view's stop
    (zkv_btree_view_stop), and releases the view once the answer is in. */
#ifndef ZKV_SNAPSHOT_WRITER_H
#define ZKV_SNAPSHOT_WRITER_H

#include <czmq.h>

#include "fs.h"
#include "port.h"
#include "snapshot.h"
#include "zkv_limits.h"

typedef struct {
    /* what to write (storage's) */
    const zkv_fs_t *fs;
    char dir[ZKV_DATA_SUBDIR_SIZE_MAX];
    zkv_btree_view_t *view;
    zkv_snapshot_meta_t meta; /* config and app owned by the job */
    uint64_t bytes;           /* entry bytes applied before it, for storage's trigger */
    /* the outcome (the writer's) */
    int rc;
    char name[ZKV_SNAPSHOT_NAME_SIZE + 1];
    char err[512];
    uint64_t nanos; /* writing took */
} zkv_snapshot_job_t;

/*  A job and its message: WRITE_SNAPSHOT and SNAPSHOT_WRITTEN carry its address. */
void zkv_snapshot_job_destroy(zkv_snapshot_job_t **job_p);
zkv_snapshot_job_t *zkv_snapshot_job_of(const zkv_msg_t *msg);

/*  The handler: write the job of a WRITE_SNAPSHOT and answer through port. */
void zkv_snapshot_writer_handle(const zkv_port_t *port, const zkv_msg_t *msg);

/*  Started and stopped by the storage actor, inside its own lifetime, so that
    no job outlives the tree it views. */
zactor_t *zkv_snapshot_writer_actor_new(uint32_t node_id);

#endif
