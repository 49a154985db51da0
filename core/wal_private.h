/*  wal_private: the WAL's state and the helpers its source files share
    (wal.c, wal_record.c, wal_segment.c, wal_index.c, wal_recover.c). Private
    to the wal module.

    Record layout, all integers little-endian:
        0   crc      u32  CRC32C of bytes 4 .. 12 + length
        4   length   u32  payload bytes
        8   type     u8   WAL_REC_*
        9   zero     3 bytes, must be zero
        12  payload
    The CRC covers the length and the type, so a damaged length is caught.

    Segment layout: the HEADER record at offset 0, then records back to back.
    A new segment is preallocated to the segment size, so that appends do not
    grow the file: its records are followed by zeros up to the end of the
    file, and a rotated segment keeps that zero tail. The segment's size in
    the WAL is where its records end, not the file's size. No record is all
    zeros (its type byte never is), which is how recovery tells the zero tail
    from a record. */
#ifndef ZKV_WAL_PRIVATE_H
#define ZKV_WAL_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "wal.h"

/*  Record types. Payloads:
      HEADER      magic u64, version u32, zero u32, seq u64, first index u64;
                  the first record of every segment, and only there
      ENTRY       index u64, term u64, type u32, data
      HARD_STATE  term u64, commit u64, vote u32
      TRUNCATE    index u64: entries >= index are gone, the next one is index
      RESET       index u64: every entry is gone, the next one is index */
enum {
    WAL_REC_HEADER = 1,
    WAL_REC_ENTRY = 2,
    WAL_REC_HARD_STATE = 3,
    WAL_REC_TRUNCATE = 4,
    WAL_REC_RESET = 5,
};

#define WAL_MAGIC UINT64_C(0x314c41572d564b5a) /* "ZKV-WAL1" */
#define WAL_VERSION 1u
#define WAL_HEADER_PAYLOAD 32u
#define WAL_HARD_STATE_PAYLOAD 20u
#define WAL_INDEX_PAYLOAD 8u
/*  Recovery reads segments through a window that holds any one record. */
#define WAL_READER_SIZE (4u * 1024 * 1024)
#define WAL_ERROR_SIZE 512

/*  One segment file and the entries of the log that live in it. */
typedef struct {
    uint64_t seq;
    uint64_t first; /* the log's next index when the segment was started */
    int fd;
    uint64_t size;       /* bytes of records in the file; the write buffer comes after */
    uint64_t base_size;  /* bytes it started with: header, hard state */
    uint64_t live_first; /* index of the entry at offsets[0] */
    size_t live_count;   /* entries of the log in this segment */
    uint32_t *offsets;   /* record offset of each */
    size_t offsets_cap;
} wal_segment_t;

/*  Entries from start on have term, up to the next run's start. */
typedef struct {
    uint64_t start;
    uint64_t term;
} wal_term_run_t;

struct zkv_wal_t {
    const zkv_fs_t *fs;
    char *dir;
    zkv_wal_remove_fn *remove; /* NULL: dropped segments are deleted here */
    void *remove_arg;
    uint64_t segment_size;
    uint64_t initial_index; /* first index of a new WAL */
    wal_segment_t *segs;    /* oldest first; the last one takes appends */
    size_t seg_count;
    size_t seg_cap;
    uint64_t next; /* index of the next append */
    wal_term_run_t *runs;
    size_t run_count;
    size_t run_cap;
    zkv_wal_hard_state_t hard_state;
    bool has_hard_state;
    uint8_t *wbuf; /* appended records not yet written, at the newest segment's size */
    size_t wbuf_len;
    size_t wbuf_cap;
    bool dirty;        /* written since the last datasync */
    uint64_t unsynced; /* bytes appended since the last datasync */
    uint8_t *rbuf;     /* one record read back */
    size_t rbuf_cap;
    bool opened;
    bool failed; /* a write or sync failed: refuse changes */
    char error[WAL_ERROR_SIZE];
};

/*  A decoded record header. */
typedef struct {
    uint32_t crc;
    uint32_t length;
    uint8_t type;
} wal_rec_t;

/*  ---- wal_record.c: framing */

static inline size_t wal_record_size(size_t payload)
{
    return ZKV_WAL_RECORD_HEADER_SIZE + payload;
}

/*  Fills in the header of the record at rec whose payload is already in place. */
void wal_record_seal(uint8_t *rec, uint8_t type, uint32_t length);

/*  Checks the header fields (type, zero bytes, length for the type): NULL if
    plausible, else what is wrong. */
const char *wal_record_parse(const uint8_t *header, wal_rec_t *rec);

/*  Whether the CRC of a complete record matches. */
bool wal_record_crc_ok(const uint8_t *record, const wal_rec_t *rec);

void wal_record_put_header(uint8_t *payload, uint64_t seq, uint64_t first);
void wal_record_put_entry(uint8_t *payload, const zkv_wal_entry_t *entry);
void wal_record_put_hard_state(uint8_t *payload, const zkv_wal_hard_state_t *hard_state);

/*  Decoders of payloads that passed parse and the CRC check. */
void wal_record_entry(const uint8_t *payload, uint32_t length, zkv_wal_entry_t *entry);
void wal_record_hard_state(const uint8_t *payload, zkv_wal_hard_state_t *hard_state);

/*  ---- wal_segment.c: files */

/*  <dir>/<seq>-<first>.wal plus suffix. ZKV_EINVAL if it does not fit. */
int wal_segment_path(const zkv_wal_t *w, uint64_t seq, uint64_t first, const char *suffix,
                     char *path, size_t size);
void wal_segment_name(uint64_t seq, uint64_t first, char name[ZKV_WAL_NAME_SIZE + 1]);

/*  Parses a segment name; *temp says it ends in .wal.tmp. */
bool wal_segment_parse_name(const char *name, uint64_t *seq, uint64_t *first, bool *temp);

/*  Writes a new segment (header, then the hard state if there is one) to a
    temporary file, preallocates it, syncs it, renames it into place, syncs
    the directory and appends it to w->segs. */
int wal_segment_create(zkv_wal_t *w, uint64_t seq, uint64_t first);

/*  Reserves the segment's full size (at least used bytes) for the file at fd.
    ZKV_OK also where the file system cannot: the file then grows as it is
    written. ZKV_EIO with errno set otherwise. */
int wal_segment_allocate(const zkv_wal_t *w, int fd, uint64_t used);

/*  Writes the buffer to the newest segment. */
int wal_flush(zkv_wal_t *w);

/*  Makes room for a record of length payload bytes at the end of the log
    (flushing, or starting a new segment, first as needed). Returns where its
    payload goes in *payload; *offset receives the record's offset in the
    newest segment. */
int wal_reserve(zkv_wal_t *w, uint32_t length, uint64_t *offset, uint8_t **payload);

/*  Seals the record reserve handed out. */
void wal_commit(zkv_wal_t *w, uint8_t type, uint32_t length);

/*  Reads the record at offset of seg into w->rbuf (or finds it in the write
    buffer), checking framing and CRC. */
int wal_segment_read(zkv_wal_t *w, const wal_segment_t *seg, uint64_t offset, wal_rec_t *rec,
                     const uint8_t **payload);

void wal_segment_close(zkv_wal_t *w, wal_segment_t *seg);

/*  ---- wal_index.c: where entries are, in memory */

int wal_index_add(zkv_wal_t *w, wal_segment_t *seg, uint64_t offset, uint64_t index, uint64_t term);
void wal_index_truncate(zkv_wal_t *w, uint64_t index);
void wal_index_reset(zkv_wal_t *w, uint64_t next);
uint64_t wal_index_first(const zkv_wal_t *w);
/*  The segment holding index (first <= index < next) and the record offset. */
const wal_segment_t *wal_index_find(const zkv_wal_t *w, uint64_t index, uint64_t *offset);
/*  Term of the newest entry, 0 if the log is empty. */
uint64_t wal_index_last_term(const zkv_wal_t *w);
int wal_index_term(const zkv_wal_t *w, uint64_t index, uint64_t *term);
/*  Forgets the oldest count segments (already closed) and the term runs below first. */
void wal_index_drop_segments(zkv_wal_t *w, size_t count);
/*  Makes room for one more segment in w->segs. */
int wal_index_grow_segments(zkv_wal_t *w);

/*  ---- wal_recover.c */

int wal_recover(zkv_wal_t *w, zkv_wal_recovery_t *report);

/*  ---- wal.c: errors */

/*  Sets w->error and returns rc. */
int wal_error(zkv_wal_t *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*  An I/O failure while changing the log: the WAL refuses changes from now on.
    Appends strerror(errno) to the message. Returns ZKV_EIO. */
int wal_io_failed(zkv_wal_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
