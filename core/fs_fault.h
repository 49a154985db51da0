/*  fs_fault: a zkv_fs_t that passes every call to another one, except the
    calls it was told to fail. Tests use it to check that a failing write,
    sync or rename comes back as ZKV_EIO with errno's text (EIO, or ENOSPC
    for a full disk) and leaves what recovery can read.

    A failing pwrite first writes half of its bytes, as a write cut short by a
    full disk would. A failing close still closes the file. A failing
    allocate reserves nothing. */
#ifndef ZKV_FS_FAULT_H
#define ZKV_FS_FAULT_H

#include <stdbool.h>

#include "fs.h"

typedef enum {
    ZKV_FS_OP_OPEN,
    ZKV_FS_OP_CLOSE,
    ZKV_FS_OP_PREAD,
    ZKV_FS_OP_PWRITE,
    ZKV_FS_OP_DATASYNC,
    ZKV_FS_OP_SYNC,
    ZKV_FS_OP_TRUNCATE,
    ZKV_FS_OP_SIZE,
    ZKV_FS_OP_RENAME,
    ZKV_FS_OP_UNLINK,
    ZKV_FS_OP_MKDIR,
    ZKV_FS_OP_LIST,
    ZKV_FS_OP_SYNC_DIR,
    ZKV_FS_OP_ALLOCATE,
    ZKV_FS_OP_COUNT
} zkv_fs_op_t;

typedef struct zkv_fs_fault_t zkv_fs_fault_t;

/*  Wraps inner, which must outlive the wrapper. NULL when out of memory. */
zkv_fs_fault_t *zkv_fs_fault_new(const zkv_fs_t *inner);
void zkv_fs_fault_destroy(zkv_fs_fault_t **self_p);

/*  The interface to hand to the code under test; valid while self lives. */
const zkv_fs_t *zkv_fs_fault_fs(zkv_fs_fault_t *self);

/*  After skip more successful calls of op, fail the next one with EIO; if
    sticky, fail every one after it as well. Replaces an earlier arm of op. */
void zkv_fs_fault_arm(zkv_fs_fault_t *self, zkv_fs_op_t op, unsigned long skip, bool sticky);

/*  The errno that failures leave from now on (EIO until set): ENOSPC makes
    them the calls of a full disk. */
void zkv_fs_fault_errno(zkv_fs_fault_t *self, int errnum);

/*  With skip, fsync, fdatasync and directory syncs succeed without reaching
    the disk (calls are still counted and armed failures still fire): for
    tests about logic rather than durability, which would otherwise wait on
    thousands of syncs. */
void zkv_fs_fault_skip_syncs(zkv_fs_fault_t *self, bool skip);

/*  With unsupported, allocate answers ZKV_ENOTSUP (errno EOPNOTSUPP) without
    reaching the inner file system, as one that cannot reserve space would.
    An armed failure of allocate still fires first. */
void zkv_fs_fault_unsupported_allocate(zkv_fs_fault_t *self, bool unsupported);

/*  Stop failing anything. */
void zkv_fs_fault_disarm(zkv_fs_fault_t *self);

/*  Calls of op so far, failed ones included. */
unsigned long zkv_fs_fault_calls(const zkv_fs_fault_t *self, zkv_fs_op_t op);

/*  Calls failed on purpose so far. */
unsigned long zkv_fs_fault_failures(const zkv_fs_fault_t *self);

#endif
