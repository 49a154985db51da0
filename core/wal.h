/*  wal: the durable write-ahead log of Raft entries and Raft hard state.

    Records go to segment files in one directory, each record framed as CRC32C,
    length, type and payload. A segment is named <seq>-<first index>.wal (16 hex
    digits each) and a new one is started when the current one would grow past
    the segment size. A new segment is preallocated to the segment size, so
    that a sync after an append need not commit a new file size. Appends are
    buffered; zkv_wal_sync writes and fdatasyncs everything appended since the
    last sync in one go (group commit: the caller batches).

    The log is the run of entries [first, last]. Appending requires index
    last + 1; zkv_wal_truncate removes a suffix (Raft's conflicting entries) by
    logging a truncation record, so nothing written is rewritten in place.
    zkv_wal_drop_before deletes whole segments after a snapshot.

    Opening recovers: every segment is read and checked. Zeros from the end of
    a segment's records to the end of its file are its unused preallocated
    space. A torn record at the very end of the newest segment (a crash
    mid-write) is cut off and reported; a bad record anywhere else fails the
    open with ZKV_ECORRUPT, a message naming file and offset, and no file
    changed.

    Only an index of where each entry lies is held in memory (4 bytes per entry
    plus one item per run of equal terms); entry data is read back from disk.

    After any failed write, sync, rename or delete the WAL refuses further
    changes (ZKV_EIO): what reached the disk is unknown until it is opened
    again. Reads go on. Not thread-safe. */
#ifndef ZKV_WAL_H
#define ZKV_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "zkv_limits.h"

/*  Entry record payload: index, term, type, then data. */
#define ZKV_WAL_ENTRY_HEADER_SIZE 20u
/*  Largest payload of any record; a length field above it is corruption. */
#define ZKV_WAL_PAYLOAD_MAX (ZKV_WAL_ENTRY_HEADER_SIZE + ZKV_ENTRY_SIZE_MAX)
/*  Record framing: CRC32C, length, type, three zero bytes. */
#define ZKV_WAL_RECORD_HEADER_SIZE 12u
#define ZKV_WAL_SEGMENT_SIZE_DEFAULT (64u * 1024 * 1024)
#define ZKV_WAL_SEGMENT_SIZE_MIN 1024u
/*  Offsets within a segment are held in 32 bits. */
#define ZKV_WAL_SEGMENT_SIZE_MAX (1024u * 1024 * 1024)
/*  Appended bytes held before they are written out even without a sync. */
#define ZKV_WAL_BUFFER_SIZE (256u * 1024)
/*  Length of a segment file name, without the terminating zero. */
#define ZKV_WAL_NAME_SIZE 37

typedef struct zkv_wal_t zkv_wal_t;

typedef struct {
    uint64_t index;
    uint64_t term;
    uint32_t type; /* opaque to the WAL (zkv.EntryType) */
    const void *data;
    size_t size;
} zkv_wal_entry_t;

/*  Raft state that must be durable before a vote or an append is answered. */
typedef struct {
    uint64_t term;
    uint32_t vote;
    uint64_t commit;
} zkv_wal_hard_state_t;

typedef struct {
    uint64_t segment_size; /* preallocate, and rotate past, this many bytes; 0: the default */
    uint64_t first_index;  /* index of the first entry of a new, empty WAL; 0: 1 */
} zkv_wal_options_t;

/*  What opening found. */
typedef struct {
    size_t segments;                       /* segment files read */
    uint64_t records;                      /* valid records replayed */
    bool torn;                             /* a torn record at the tail was cut off */
    char torn_file[ZKV_WAL_NAME_SIZE + 1]; /* the segment that was cut */
    uint64_t torn_offset;                  /* the segment's records now end here */
    uint64_t torn_bytes;                   /* bytes cut off, up to the last nonzero one */
    size_t temp_removed;                   /* unfinished segment files left by a crash, deleted */
} zkv_wal_recovery_t;

/*  Called for each entry read, in order; entry->data is valid during the call
    only, and the WAL must not be changed from inside it. Return false to stop. */
typedef bool (*zkv_wal_visit_fn)(const zkv_wal_entry_t *entry, void *arg);

/*  A WAL on dir, not yet opened. options may be NULL. NULL if out of memory or
    dir is too long. fs must outlive the WAL. */
zkv_wal_t *zkv_wal_new(const zkv_fs_t *fs, const char *dir, const zkv_wal_options_t *options);

/*  Closes the files without writing anything: entries not yet synced are lost,
    as in a crash. Call zkv_wal_sync first for a clean close. */
void zkv_wal_destroy(zkv_wal_t **self_p);

/*  Creates dir if missing, then recovers (see above). report may be NULL.
    ZKV_OK, ZKV_EIO, ZKV_ECORRUPT or ZKV_ENOMEM; zkv_wal_error says why. */
int zkv_wal_open(zkv_wal_t *self, zkv_wal_recovery_t *report);

/*  The last error's description, naming file and offset where there is one. */
const char *zkv_wal_error(const zkv_wal_t *self);

/*  Appends count entries; entries[i].index must be last + 1 + i and each size at
    most ZKV_ENTRY_SIZE_MAX (else ZKV_EINVAL, nothing appended). Durable
    only after zkv_wal_sync. ZKV_OK, ZKV_EINVAL or ZKV_EIO. */
int zkv_wal_append(zkv_wal_t *self, const zkv_wal_entry_t *entries, size_t count);

/*  Records the hard state; durable after the next zkv_wal_sync. */
int zkv_wal_set_hard_state(zkv_wal_t *self, const zkv_wal_hard_state_t *hard_state);

/*  Writes and fdatasyncs everything appended since the last sync. */
int zkv_wal_sync(zkv_wal_t *self);

/*  Removes every entry with index >= index (first <= index <= last + 1). The
    next append is at index. ZKV_ECOMPACTED if index < first, ZKV_EINVAL if
    index > last + 1. Durable after the next sync. */
int zkv_wal_truncate(zkv_wal_t *self, uint64_t index);

/*  Discards every entry; the next append is at next_index (> 0). For a
    follower whose log a snapshot replaces. Durable after the next sync. */
int zkv_wal_reset(zkv_wal_t *self, uint64_t next_index);

/*  Entries below index are no longer needed (a snapshot covers them): syncs,
    then deletes every segment, oldest first, that holds no entry >= index,
    never the newest. Entries in a kept segment stay readable, so first may
    remain below index. */
int zkv_wal_drop_before(zkv_wal_t *self, uint64_t index);

/*  Segments dropped go to remove(path, arg), in order, instead of being
    deleted here: removing a large file takes long enough to hold up the
    syncs behind it. remove must delete them in that order (a crash between
    two deletions then leaves the log contiguous) and sync their directory. */
typedef void(zkv_wal_remove_fn)(const char *path, void *arg);
void zkv_wal_on_remove(zkv_wal_t *self, zkv_wal_remove_fn *remove, void *arg);

/*  Visits entries from lo to hi inclusive in order, stopping after hi, when
    visit returns false, or once bytes_max bytes of data were visited (0: no
    limit; at least one entry is visited). *count (if not NULL) receives the
    number visited. ZKV_ECOMPACTED if lo < first, ZKV_ENOTFOUND if lo > last,
    ZKV_ECORRUPT if a record no longer checks, ZKV_EIO. */
int zkv_wal_read(zkv_wal_t *self, uint64_t lo, uint64_t hi, size_t bytes_max,
                 zkv_wal_visit_fn visit, void *arg, size_t *count);

/*  One entry with a malloc'd copy of its data in *data (the caller frees it;
    entry->data points at it too). Errors as for zkv_wal_read. */
int zkv_wal_get(zkv_wal_t *self, uint64_t index, zkv_wal_entry_t *entry, void **data);

/*  Term of the entry at index, from memory. ZKV_OK, ZKV_ECOMPACTED or ZKV_ENOTFOUND. */
int zkv_wal_term(const zkv_wal_t *self, uint64_t index, uint64_t *term);

/*  First entry's index; last + 1 when the log is empty. */
uint64_t zkv_wal_first_index(const zkv_wal_t *self);

/*  Last entry's index; first - 1 when the log is empty. */
uint64_t zkv_wal_last_index(const zkv_wal_t *self);

/*  The last hard state recorded; false (and *hard_state zeroed) if none ever was. */
bool zkv_wal_hard_state(const zkv_wal_t *self, zkv_wal_hard_state_t *hard_state);

/*  Segment files in the directory now, and the size each is preallocated to. */
size_t zkv_wal_segment_count(const zkv_wal_t *self);
uint64_t zkv_wal_segment_size(const zkv_wal_t *self);

/*  Bytes appended but not yet synced. */
uint64_t zkv_wal_unsynced_bytes(const zkv_wal_t *self);

#endif
