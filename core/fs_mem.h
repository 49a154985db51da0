/*  fs_mem: a zkv_fs_t held in memory that models what a crash keeps, for
    deterministic simulation: the WAL and snapshots run on it in one process
    and are "crashed" between any two of their calls. No real I/O, no clock,
    no randomness but the splitmix64 state a caller passes in.

    The model (the guarantees of POSIX fsync as ext4 gives them):
    - A file has a volatile state, what reads see now, and a durable state,
      what survives a crash. pwrite, truncate and allocate change the
      volatile state only; datasync and sync (no difference here) make the
      file's data and size durable. A sync failed on purpose (fail, stop)
      makes nothing durable.
    - That a name refers to a file (open with CREATE, rename, unlink) and
      that a directory exists (mkdir) are changes to the parent directory,
      durable only once sync_dir of that directory succeeds. A file created
      and datasynced whose directory was never synced is gone after a crash;
      a rename not followed by sync_dir is undone. A directory whose own
      entry is not durable is lost at a crash with everything under it.
    - zkv_fs_mem_crash throws away everything not durable and invalidates
      every open handle: later calls with them fail ZKV_EIO (errno EBADF).
      In ZKV_FS_MEM_TORN mode each file also keeps a random prefix of its
      unsynced changes (writes, truncations, allocations) in the order they
      were made, the last kept write possibly cut at a random byte: a torn
      tail. Directory changes are never partly kept.
    - Paths are plain strings: "a/b", "./a/b", "/a/b" and "a//b/" name the
      same entry; "", "." and "/" name the root, which always exists. Open
      and mkdir need the parent directory to exist (ZKV_ENOTFOUND, ENOENT).
    - Space: the bytes in use are the sizes of the files that a name or an
      open handle reaches now (a file only a not yet synced unlink keeps is
      free). With a capacity set, a write that would pass it writes what
      fits and fails ZKV_EIO with errno ENOSPC; allocate past it reserves
      nothing and fails the same way. Unlink and truncate make room again.
    - Directories are never renamed or unlinked (ZKV_EIO, ENOTSUP or EISDIR).
    - Faults: zkv_fs_mem_fail makes a chosen call fail, a pwrite writing
      half its bytes first, as fs_fault does; zkv_fs_mem_stop_after stops
      the whole file system after a number of calls (every call fails EIO
      until the crash), which is how a test crashes the code in the middle
      of one of its operations.
    - list gives the names of a directory in strcmp order, so that the code
      on top runs the same way every time. File handles are never reused.

    Every sync copies the unsynced changes into the durable state, so the
    cost follows the bytes written, not the file sizes. Not thread-safe. */
#ifndef ZKV_FS_MEM_H
#define ZKV_FS_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"
#include "fs_fault.h"

typedef struct zkv_fs_mem_t zkv_fs_mem_t;

/*  What a crash keeps of a file's unsynced changes. */
typedef enum {
    ZKV_FS_MEM_LOSE_UNSYNCED, /* nothing */
    ZKV_FS_MEM_TORN,          /* a random prefix, the last write possibly cut */
} zkv_fs_mem_crash_mode_t;

/*  An empty file system: the root directory only, no capacity limit. NULL
    when out of memory. */
zkv_fs_mem_t *zkv_fs_mem_new(void);

/*  Frees every file, durable or not, and every handle still open. */
void zkv_fs_mem_destroy(zkv_fs_mem_t **self_p);

/*  The interface to hand to the code under test; valid while self lives. */
const zkv_fs_t *zkv_fs_mem_fs(zkv_fs_mem_t *self);

/*  A power cut: every file and directory entry goes back to its durable
    state (plus a torn tail in ZKV_FS_MEM_TORN mode, drawn from *rng, which
    may be NULL in the other mode), handles are invalidated, a stop is lifted
    and armed failures are disarmed. ZKV_OK, or ZKV_ENOMEM when a file could
    not be rebuilt (then destroy is all that is left to do). */
int zkv_fs_mem_crash(zkv_fs_mem_t *self, zkv_fs_mem_crash_mode_t mode, uint64_t *rng);

/*  After skip more successful calls of op, the next one fails with ZKV_EIO
    and errno err_no (EIO or ENOSPC, say); if sticky, every one after it as
    well. Replaces an earlier arm of op. */
void zkv_fs_mem_fail(zkv_fs_mem_t *self, zkv_fs_op_t op, unsigned long skip, int err_no,
                     bool sticky);

/*  Stop failing anything on purpose (the capacity limit stays). */
void zkv_fs_mem_disarm(zkv_fs_mem_t *self);

/*  After calls more calls of any kind, every call fails ZKV_EIO (errno EIO)
    until the next crash: the machine is dead but has not rebooted. ULONG_MAX
    cancels a stop that has not fired. */
void zkv_fs_mem_stop_after(zkv_fs_mem_t *self, unsigned long calls);

/*  Whether a stop has fired. */
bool zkv_fs_mem_stopped(const zkv_fs_mem_t *self);

/*  Bytes that files may take in all; UINT64_MAX (the default) for no limit. */
void zkv_fs_mem_set_capacity(zkv_fs_mem_t *self, uint64_t bytes);

/*  Bytes in use now (see the model above). */
uint64_t zkv_fs_mem_used(const zkv_fs_mem_t *self);

/*  Calls of op so far, failed ones included. */
unsigned long zkv_fs_mem_calls(const zkv_fs_mem_t *self, zkv_fs_op_t op);

/*  Successful datasyncs and syncs of files so far. */
unsigned long zkv_fs_mem_syncs(const zkv_fs_mem_t *self);

/*  Bytes of file data a crash would keep in ZKV_FS_MEM_LOSE_UNSYNCED mode:
    the durable sizes of the files with a durable name. */
uint64_t zkv_fs_mem_durable_bytes(const zkv_fs_mem_t *self);

#endif
