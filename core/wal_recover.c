/*  wal_recover: opening a WAL directory. Every segment is read in order and
    every record checked; the records are replayed into the in-memory index.

    Segments are preallocated, so where a record does not decode and only
    zeros follow to the end of the file, the segment ends cleanly there: any
    segment, nothing reported, nothing changed. In the newest segment a bad
    record is a torn tail when no valid record follows it anywhere in the
    file (a crash cut the last write short), or when it shows a write that
    never reached the disk: a header of zeros, or a whole page of zeros where
    it lies with data after it. The page cache may have written later pages of that
    unsynced tail, so valid records can follow such a hole, but none of them
    was ever synced, let alone acknowledged. A torn tail is cut (and the
    segment preallocated again) and the caller told. Anything else is
    corruption: the open fails naming the file and offset, and nothing is
    changed on disk, so a person can look at it. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "wal_private.h"
#include "zkv_error.h"

typedef struct {
    char name[ZKV_WAL_NAME_SIZE + 1];
    uint64_t seq;
    uint64_t first;
} s_file_t;

/*  What the directory holds. */
typedef struct {
    s_file_t *files; /* segments */
    size_t count;
    size_t cap;
    s_file_t *temps; /* unfinished segments left by a crash */
    size_t temp_count;
    size_t temp_cap;
    bool nomem;
    char unexpected[NAME_MAX + 1]; /* a *.wal name that does not parse */
} s_listing_t;

/*  A window on one segment file. */
typedef struct {
    const zkv_fs_t *fs;
    int fd;
    uint64_t size;
    uint8_t *buf;
    size_t cap;     /* min(file size, WAL_READER_SIZE): holds any one record */
    uint64_t start; /* file offset of buf[0] */
    size_t len;
} s_reader_t;

/*  Where recovery found the torn tail. */
typedef struct {
    bool torn;
    uint64_t offset;
    uint64_t bytes;
} s_tail_t;

static bool s_push(s_file_t **files, size_t *count, size_t *cap, const s_file_t *file)
{
    if (*count == *cap) {
        size_t n = *cap ? 2 * *cap : 16;
        s_file_t *grown = realloc(*files, n * sizeof *grown);
        if (!grown)
            return false;
        *files = grown;
        *cap = n;
    }
    (*files)[(*count)++] = *file;
    return true;
}

static bool s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool s_list_one(const char *name, void *arg)
{
    s_listing_t *l = arg;
    s_file_t f;
    bool temp;
    if (!wal_segment_parse_name(name, &f.seq, &f.first, &temp)) {
        if (s_ends_with(name, ".wal") || s_ends_with(name, ".wal.tmp"))
            snprintf(l->unexpected, sizeof l->unexpected, "%s", name);
        return true; /* other files are not ours */
    }
    snprintf(f.name, sizeof f.name, "%.*s", ZKV_WAL_NAME_SIZE, name);
    bool ok = temp ? s_push(&l->temps, &l->temp_count, &l->temp_cap, &f)
                   : s_push(&l->files, &l->count, &l->cap, &f);
    l->nomem |= !ok;
    return ok;
}

static int s_by_seq(const void *a, const void *b)
{
    uint64_t x = ((const s_file_t *) a)->seq, y = ((const s_file_t *) b)->seq;
    return x < y ? -1 : x > y;
}

static int s_list(zkv_wal_t *w, s_listing_t *l)
{
    if (zkv_fs_list(w->fs, w->dir, s_list_one, l) != ZKV_OK)
        return wal_error(w, ZKV_EIO, "list %s: %s", w->dir, strerror(errno));
    if (l->nomem)
        return wal_error(w, ZKV_ENOMEM, "out of memory listing %s", w->dir);
    if (l->unexpected[0])
        return wal_error(w, ZKV_ECORRUPT, "%s/%s: not a segment name", w->dir, l->unexpected);
    if (l->count > 1)
        qsort(l->files, l->count, sizeof *l->files, s_by_seq);
    for (size_t i = 1; i < l->count; i++)
        if (l->files[i].seq != l->files[i - 1].seq + 1)
            return wal_error(w, ZKV_ECORRUPT, "%s: segment missing between %s and %s", w->dir,
                             l->files[i - 1].name, l->files[i].name);
    return ZKV_OK;
}

/*  Makes [off, off + n) of the file available at *p: ZKV_OK, ZKV_ETORN past
    the end of the file, ZKV_EIO. */
static int s_get(s_reader_t *r, uint64_t off, size_t n, const uint8_t **p)
{
    if (off > r->size || n > r->size - off)
        return ZKV_ETORN;
    assert(n <= r->cap);
    if (off < r->start || off + n > r->start + r->len) {
        uint64_t want = r->size - off < r->cap ? r->size - off : r->cap;
        size_t got = 0;
        int rc = zkv_fs_read_exact(r->fs, r->fd, r->buf, (size_t) want, off, &got);
        if (rc == ZKV_EIO)
            return rc;
        r->start = off;
        r->len = got;
        if (n > got)
            return ZKV_EIO; /* the file shrank under us */
    }
    *p = r->buf + (off - r->start);
    return ZKV_OK;
}

/*  Decodes the record at off: ZKV_OK with *record its first byte, ZKV_ECORRUPT
    with *why, or ZKV_EIO. */
static int s_decode(s_reader_t *r, uint64_t off, wal_rec_t *rec, const uint8_t **record,
                    const char **why)
{
    int rc = s_get(r, off, ZKV_WAL_RECORD_HEADER_SIZE, record);
    if (rc == ZKV_ETORN) {
        *why = "file ends inside a record header";
        return ZKV_ECORRUPT;
    }
    if (rc != ZKV_OK)
        return rc;
    if ((*why = wal_record_parse(*record, rec)))
        return ZKV_ECORRUPT;
    rc = s_get(r, off, wal_record_size(rec->length), record);
    if (rc == ZKV_ETORN) {
        *why = "file ends inside the record";
        return ZKV_ECORRUPT;
    }
    if (rc != ZKV_OK)
        return rc;
    if (!wal_record_crc_ok(*record, rec)) {
        *why = "checksum mismatch";
        return ZKV_ECORRUPT;
    }
    return ZKV_OK;
}

static int s_read_error(zkv_wal_t *w, const char *name, uint64_t off)
{
    return wal_error(w, ZKV_EIO, "read %s/%s at offset %" PRIu64 ": %s", w->dir, name, off,
                     strerror(errno));
}

static bool s_all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/*  *end: just past the last nonzero byte at or after from, or from if there
    is none. Reads backwards a window at a time, so that a preallocated tail
    of zeros costs a few large reads. ZKV_OK or ZKV_EIO. */
static int s_data_end(s_reader_t *r, uint64_t from, uint64_t *end)
{
    for (uint64_t hi = r->size; hi > from;) {
        size_t n = hi - from < r->cap ? (size_t) (hi - from) : r->cap;
        uint64_t lo = hi - n;
        const uint8_t *p;
        if (s_get(r, lo, n, &p) != ZKV_OK)
            return ZKV_EIO;
        if (!s_all_zero(p, n)) {
            while (p[n - 1] == 0)
                n--;
            *end = lo + n;
            return ZKV_OK;
        }
        hi = lo;
    }
    *end = from;
    return ZKV_OK;
}

#define WAL_PAGE 4096

/*  *lost: the bad record at off holds what a write that never reached the
    disk leaves: a header of zeros, or a whole page of zeros overlapping the
    record with data after it (the page cache writes whole pages, in any
    order), end being where the file's data ends. ZKV_OK or ZKV_EIO. */
static int s_lost_write(s_reader_t *r, uint64_t off, uint64_t end, bool *lost)
{
    *lost = false;
    const uint8_t *p;
    int rc = s_get(r, off, ZKV_WAL_RECORD_HEADER_SIZE, &p);
    if (rc != ZKV_OK)
        return rc == ZKV_ETORN ? ZKV_OK : rc;
    if (s_all_zero(p, ZKV_WAL_RECORD_HEADER_SIZE)) {
        *lost = true;
        return ZKV_OK;
    }
    wal_rec_t rec;
    uint64_t stop = off + ZKV_WAL_RECORD_HEADER_SIZE;
    if (!wal_record_parse(p, &rec))
        stop = off + wal_record_size(rec.length);
    for (uint64_t page = off / WAL_PAGE * WAL_PAGE; page < stop && page + WAL_PAGE <= end;
         page += WAL_PAGE) {
        if ((rc = s_get(r, page, WAL_PAGE, &p)) != ZKV_OK)
            return rc == ZKV_ETORN ? ZKV_OK : rc;
        if (s_all_zero(p, WAL_PAGE)) {
            *lost = true;
            break;
        }
    }
    return ZKV_OK;
}

/*  The record at off is bad. Only zeros after it: the clean end of the
    segment (ZKV_OK, no tail). Else a torn tail (ZKV_OK, *tail set) or
    corruption. */
static int s_bad_record(zkv_wal_t *w, s_reader_t *r, const char *name, uint64_t off,
                        const char *why, bool last, s_tail_t *tail)
{
    uint64_t end;
    if (s_data_end(r, off, &end) != ZKV_OK)
        return s_read_error(w, name, off);
    if (end == off)
        return ZKV_OK;
    if (!last)
        return wal_error(w, ZKV_ECORRUPT,
                         "%s/%s: bad record at offset %" PRIu64 ": %s (data up to offset %" PRIu64
                         ")",
                         w->dir, name, off, why, end);
    bool lost;
    if (s_lost_write(r, off, end, &lost) != ZKV_OK)
        return s_read_error(w, name, off);
    /*  Otherwise a valid record after the bad one means the bad one was
        written and damaged later, not cut short by a crash. Its type byte
        (header byte 8) is nonzero, so it starts before end - 8: the zeros
        need no look. */
    for (uint64_t p = off + 1; !lost && p + 8 < end; p++) {
        wal_rec_t rec;
        const uint8_t *record;
        const char *ignored;
        int rc = s_decode(r, p, &rec, &record, &ignored);
        if (rc == ZKV_EIO)
            return s_read_error(w, name, p);
        if (rc == ZKV_OK)
            return wal_error(w, ZKV_ECORRUPT,
                             "%s/%s: bad record at offset %" PRIu64 ": %s; a valid record "
                             "follows at offset %" PRIu64,
                             w->dir, name, off, why, p);
    }
    *tail = (s_tail_t){.torn = true, .offset = off, .bytes = end - off};
    return ZKV_OK;
}

static int s_check_header(zkv_wal_t *w, const s_file_t *f, const uint8_t *payload, bool first)
{
    uint64_t seq = zkv_le64_get(payload + 16), start = zkv_le64_get(payload + 24);
    const char *why = NULL;
    if (zkv_le64_get(payload) != WAL_MAGIC)
        why = "not a zkv WAL segment";
    else if (zkv_le32_get(payload + 8) != WAL_VERSION || zkv_le32_get(payload + 12) != 0)
        why = "unknown format version";
    else if (seq != f->seq || start != f->first)
        why = "header does not match the file name";
    else if (start == 0)
        why = "first index 0";
    if (why)
        return wal_error(w, ZKV_ECORRUPT, "%s/%s: offset 0: %s", w->dir, f->name, why);
    if (first)
        w->next = start;
    else if (start != w->next)
        return wal_error(w, ZKV_ECORRUPT,
                         "%s/%s: starts at index %" PRIu64
                         " but the log before it ends at %" PRIu64,
                         w->dir, f->name, start, w->next - 1);
    return ZKV_OK;
}

static int s_apply_entry(zkv_wal_t *w, wal_segment_t *seg, const char *name, uint64_t off,
                         const uint8_t *payload, uint32_t length)
{
    zkv_wal_entry_t e;
    wal_record_entry(payload, length, &e);
    uint64_t last_term = wal_index_last_term(w);
    if (e.index != w->next)
        return wal_error(w, ZKV_ECORRUPT,
                         "%s/%s: offset %" PRIu64 ": entry %" PRIu64 " where %" PRIu64
                         " was expected",
                         w->dir, name, off, e.index, w->next);
    if (e.term < last_term)
        return wal_error(w, ZKV_ECORRUPT,
                         "%s/%s: offset %" PRIu64 ": entry %" PRIu64 " has term %" PRIu64
                         " below the previous entry's %" PRIu64,
                         w->dir, name, off, e.index, e.term, last_term);
    if (off > UINT32_MAX)
        return wal_error(w, ZKV_ECORRUPT, "%s/%s: offset %" PRIu64 ": segment too large", w->dir,
                         name, off);
    if (wal_index_add(w, seg, off, e.index, e.term) != ZKV_OK)
        return wal_error(w, ZKV_ENOMEM, "out of memory indexing %s/%s", w->dir, name);
    return ZKV_OK;
}

static int s_apply(zkv_wal_t *w, wal_segment_t *seg, const char *name, uint64_t off,
                   const wal_rec_t *rec, const uint8_t *payload)
{
    uint64_t index = 0;
    switch (rec->type) {
    case WAL_REC_ENTRY: return s_apply_entry(w, seg, name, off, payload, rec->length);
    case WAL_REC_HARD_STATE:
        wal_record_hard_state(payload, &w->hard_state);
        w->has_hard_state = true;
        return ZKV_OK;
    case WAL_REC_TRUNCATE:
        index = zkv_le64_get(payload);
        if (index == 0 || index > w->next)
            break;
        wal_index_truncate(w, index);
        return ZKV_OK;
    case WAL_REC_RESET:
        index = zkv_le64_get(payload);
        if (index == 0)
            break;
        wal_index_reset(w, index);
        return ZKV_OK;
    default: break;
    }
    return wal_error(w, ZKV_ECORRUPT,
                     "%s/%s: offset %" PRIu64 ": record of type %u (index %" PRIu64
                     ") out of place",
                     w->dir, name, off, rec->type, index);
}

static int s_replay(zkv_wal_t *w, s_reader_t *r, const s_file_t *f, bool first, bool last,
                    s_tail_t *tail, uint64_t *records)
{
    wal_segment_t *seg = &w->segs[w->seg_count - 1];
    wal_rec_t rec;
    const uint8_t *record;
    const char *why;
    int rc = s_decode(r, 0, &rec, &record, &why);
    if (rc == ZKV_EIO)
        return s_read_error(w, f->name, 0);
    if (rc == ZKV_OK && rec.type != WAL_REC_HEADER)
        why = "first record is not a segment header";
    if (rc != ZKV_OK || rec.type != WAL_REC_HEADER)
        return wal_error(w, ZKV_ECORRUPT, "%s/%s: offset 0: %s", w->dir, f->name, why);
    rc = s_check_header(w, f, record + ZKV_WAL_RECORD_HEADER_SIZE, first);
    if (rc != ZKV_OK)
        return rc;
    seg->live_first = w->next;
    uint64_t off = wal_record_size(rec.length);
    seg->base_size = off;
    (*records)++;
    while (off < r->size) {
        rc = s_decode(r, off, &rec, &record, &why);
        if (rc == ZKV_EIO)
            return s_read_error(w, f->name, off);
        if (rc == ZKV_ECORRUPT) {
            rc = s_bad_record(w, r, f->name, off, why, last, tail);
            break;
        }
        rc = s_apply(w, seg, f->name, off, &rec, record + ZKV_WAL_RECORD_HEADER_SIZE);
        if (rc != ZKV_OK)
            return rc;
        (*records)++;
        off += wal_record_size(rec.length);
    }
    seg->size = off;
    return rc;
}

/*  Opens and replays one segment into w->segs. */
static int s_load(zkv_wal_t *w, s_reader_t *r, const s_file_t *f, bool first, bool last,
                  s_tail_t *tail, uint64_t *records)
{
    char path[PATH_MAX];
    if (wal_segment_path(w, f->seq, f->first, "", path, sizeof path) != ZKV_OK)
        return wal_error(w, ZKV_EINVAL, "segment path in %s too long", w->dir);
    if (wal_index_grow_segments(w) != ZKV_OK)
        return wal_error(w, ZKV_ENOMEM, "out of memory opening %s", path);
    int fd;
    if (zkv_fs_open(w->fs, path, last ? ZKV_FS_WRITE : ZKV_FS_READ, &fd) != ZKV_OK)
        return wal_error(w, ZKV_EIO, "open %s: %s", path, strerror(errno));
    w->segs[w->seg_count++] = (wal_segment_t){.seq = f->seq, .first = f->first, .fd = fd};
    *r = (s_reader_t){.fs = w->fs, .fd = fd, .buf = r->buf, .cap = r->cap};
    if (zkv_fs_size(w->fs, fd, &r->size) != ZKV_OK)
        return wal_error(w, ZKV_EIO, "stat %s: %s", path, strerror(errno));
    size_t want = r->size < WAL_READER_SIZE ? (size_t) r->size : WAL_READER_SIZE;
    if (want > r->cap) {
        uint8_t *buf = realloc(r->buf, want);
        if (!buf)
            return wal_error(w, ZKV_ENOMEM, "out of memory reading %s", path);
        r->buf = buf;
        r->cap = want;
    }
    return s_replay(w, r, f, first, last, tail, records);
}

/*  Cuts the torn tail off: with s_remove_temps the only changes recovery
    makes, and only once everything has been read. The rest of the segment is
    preallocated again, so that appends to it stay cheap. */
static int s_cut_tail(zkv_wal_t *w, const s_tail_t *tail, zkv_wal_recovery_t *report)
{
    if (!tail->torn)
        return ZKV_OK;
    const wal_segment_t *seg = &w->segs[w->seg_count - 1];
    char name[ZKV_WAL_NAME_SIZE + 1];
    wal_segment_name(seg->seq, seg->first, name);
    if (zkv_fs_truncate(w->fs, seg->fd, tail->offset) != ZKV_OK ||
        wal_segment_allocate(w, seg->fd, tail->offset) != ZKV_OK ||
        zkv_fs_sync(w->fs, seg->fd) != ZKV_OK)
        return wal_error(w, ZKV_EIO, "cut torn tail of %s/%s at offset %" PRIu64 ": %s", w->dir,
                         name, tail->offset, strerror(errno));
    report->torn = true;
    memcpy(report->torn_file, name, sizeof name);
    report->torn_offset = tail->offset;
    report->torn_bytes = tail->bytes;
    return ZKV_OK;
}

/*  Unfinished segments: a crash came between writing and renaming them. */
static int s_remove_temps(zkv_wal_t *w, const s_listing_t *l, zkv_wal_recovery_t *report)
{
    for (size_t i = 0; i < l->temp_count; i++) {
        char path[PATH_MAX];
        const s_file_t *t = &l->temps[i];
        if (wal_segment_path(w, t->seq, t->first, ".tmp", path, sizeof path) != ZKV_OK ||
            zkv_fs_unlink(w->fs, path) != ZKV_OK)
            return wal_error(w, ZKV_EIO, "remove %s/%s.tmp: %s", w->dir, t->name, strerror(errno));
        report->temp_removed++;
    }
    if (report->temp_removed && zkv_fs_sync_dir(w->fs, w->dir) != ZKV_OK)
        return wal_error(w, ZKV_EIO, "fsync directory %s: %s", w->dir, strerror(errno));
    return ZKV_OK;
}

static int s_replay_all(zkv_wal_t *w, const s_listing_t *l, zkv_wal_recovery_t *report)
{
    s_reader_t r = {0};
    s_tail_t tail = {0};
    int rc = ZKV_OK;
    for (size_t i = 0; i < l->count && rc == ZKV_OK; i++) {
        rc = s_load(w, &r, &l->files[i], i == 0, i + 1 == l->count, &tail, &report->records);
        report->segments++;
    }
    free(r.buf);
    if (rc == ZKV_OK)
        rc = s_cut_tail(w, &tail, report);
    return rc;
}

/*  A new WAL: its directory entry in the parent must be durable too. */
static int s_create(zkv_wal_t *w)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", w->dir);
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    if (zkv_fs_sync_dir(w->fs, parent) != ZKV_OK)
        return wal_io_failed(w, "fsync directory %s", parent);
    w->next = w->initial_index;
    return wal_segment_create(w, 1, w->initial_index);
}

int wal_recover(zkv_wal_t *w, zkv_wal_recovery_t *report)
{
    *report = (zkv_wal_recovery_t){0};
    if (zkv_fs_mkdir(w->fs, w->dir) != ZKV_OK)
        return wal_error(w, ZKV_EIO, "create directory %s: %s", w->dir, strerror(errno));
    s_listing_t l = {0};
    int rc = s_list(w, &l);
    if (rc == ZKV_OK && l.count > 0)
        rc = s_replay_all(w, &l, report);
    if (rc == ZKV_OK)
        rc = s_remove_temps(w, &l, report);
    if (rc == ZKV_OK && l.count == 0)
        rc = s_create(w);
    free(l.files);
    free(l.temps);
    return rc;
}
