/*  storage_backup: pieces of the node's newest snapshot file for a client
    that saves a backup (zkv snapshot save). */
#ifndef ZKV_STORAGE_BACKUP_H
#define ZKV_STORAGE_BACKUP_H

#include <czmq.h>
#include <stdint.h>

#include "fs.h"
#include "zkv.pb-c.h"

/*  Bytes of a snapshot file in one reply. */
#define ZKV_BACKUP_CHUNK_MAX (1024u * 1024)

/*  The encoded zkv.Response to req (a SnapshotRequest) from the snapshot
    file at path holding index ("" path: none), or an error response when
    it asks for another snapshot than that one. NULL when out of memory. */
zframe_t *zkv_storage_backup(const zkv_fs_t *fs, const char *path, uint64_t index,
                             const Zkv__Request *req);

#endif
