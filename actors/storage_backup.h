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

/*  An error response to req. NULL when out of memory. */
zframe_t *zkv_storage_backup_error(const Zkv__Request *req, Zkv__Status status, const char *error);

/*  Backups whose first piece waits for a snapshot of everything applied
    when they came (it is being written), in arrival order. */
typedef struct zkv_backup_waiter zkv_backup_waiter_t;

/*  Keep the BACKUP (its context and request) until a snapshot at need or
    newer; false when out of memory. */
bool zkv_backup_wait(zkv_backup_waiter_t **list, uint64_t context, uint64_t need,
                     const zframe_t *request);

/*  Hand fn every waiter a snapshot at index serves (with every: all of them),
    which leave the list; returns how many are still waiting. */
typedef void(zkv_backup_answer_fn)(void *arg, uint64_t context, const Zkv__Request *req);
size_t zkv_backup_answer(zkv_backup_waiter_t **list, uint64_t index, bool every,
                         zkv_backup_answer_fn *fn, void *arg);

void zkv_backup_waiters_free(zkv_backup_waiter_t **list);

#endif
