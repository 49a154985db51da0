/*  wal_segment: segment files. Names, creation (atomic: a temporary file is
    written, preallocated and synced, then renamed into place), the write
    buffer in front of the newest segment, rotation, and reading one record
    back. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal_private.h"
#include "hex.h"
#include "zkv_error.h"

#define S_TEMP_SUFFIX ".tmp"

void wal_segment_name(uint64_t seq, uint64_t first, char name[ZKV_WAL_NAME_SIZE + 1])
{
    snprintf(name, ZKV_WAL_NAME_SIZE + 1, "%016" PRIx64 "-%016" PRIx64 ".wal", seq, first);
}

int wal_segment_path(const zkv_wal_t *w, uint64_t seq, uint64_t first, const char *suffix,
                     char *path, size_t size)
{
    char name[ZKV_WAL_NAME_SIZE + 1];
    wal_segment_name(seq, first, name);
    int n = snprintf(path, size, "%s/%s%s", w->dir, name, suffix);
    return n >= 0 && (size_t) n < size ? ZKV_OK : ZKV_EINVAL;
}

bool wal_segment_parse_name(const char *name, uint64_t *seq, uint64_t *first, bool *temp)
{
    size_t len = strlen(name);
    if (len != ZKV_WAL_NAME_SIZE && len != ZKV_WAL_NAME_SIZE + strlen(S_TEMP_SUFFIX))
        return false;
    if (name[16] != '-' || memcmp(name + 33, ".wal", 4) != 0)
        return false;
    *temp = len > ZKV_WAL_NAME_SIZE;
    if (*temp && strcmp(name + ZKV_WAL_NAME_SIZE, S_TEMP_SUFFIX) != 0)
        return false;
    return zkv_hex16_parse(name, seq) && zkv_hex16_parse(name + 17, first);
}

/*  The first records of a new segment: header, then the current hard state so
    that deleting older segments never loses it. Returns the bytes used. */
static size_t s_initial_records(const zkv_wal_t *w, uint64_t seq, uint64_t first, uint8_t *buf)
{
    wal_record_put_header(buf + ZKV_WAL_RECORD_HEADER_SIZE, seq, first);
    wal_record_seal(buf, WAL_REC_HEADER, WAL_HEADER_PAYLOAD);
    size_t used = wal_record_size(WAL_HEADER_PAYLOAD);
    if (w->has_hard_state) {
        wal_record_put_hard_state(buf + used + ZKV_WAL_RECORD_HEADER_SIZE, &w->hard_state);
        wal_record_seal(buf + used, WAL_REC_HARD_STATE, WAL_HARD_STATE_PAYLOAD);
        used += wal_record_size(WAL_HARD_STATE_PAYLOAD);
    }
    return used;
}

int wal_segment_allocate(const zkv_wal_t *w, int fd, uint64_t used)
{
    int rc = zkv_fs_allocate(w->fs, fd, used > w->segment_size ? used : w->segment_size);
    return rc == ZKV_OK || rc == ZKV_ENOTSUP ? ZKV_OK : ZKV_EIO;
}

/*  Writes, preallocates and syncs the temporary file and renames it into place. */
static int s_write_new(zkv_wal_t *w, const char *temp, const char *path, const uint8_t *buf,
                       size_t size, int *fd)
{
    const zkv_fs_t *fs = w->fs;
    if (zkv_fs_open(fs, temp, ZKV_FS_WRITE | ZKV_FS_CREATE | ZKV_FS_TRUNC, fd) != ZKV_OK)
        return wal_io_failed(w, "create %s", temp);
    const char *what = NULL;
    if (zkv_fs_pwrite(fs, *fd, buf, size, 0) != ZKV_OK)
        what = "write";
    else if (wal_segment_allocate(w, *fd, size) != ZKV_OK)
        what = "fallocate";
    else if (zkv_fs_sync(fs, *fd) != ZKV_OK)
        what = "fsync";
    else if (zkv_fs_rename(fs, temp, path) != ZKV_OK)
        what = "rename";
    if (what) {
        int rc = wal_io_failed(w, "%s %s", what, temp);
        zkv_fs_close(fs, *fd);
        zkv_fs_unlink(fs, temp);
        return rc;
    }
    return ZKV_OK;
}

int wal_segment_create(zkv_wal_t *w, uint64_t seq, uint64_t first)
{
    char temp[PATH_MAX], path[PATH_MAX];
    if (wal_segment_path(w, seq, first, S_TEMP_SUFFIX, temp, sizeof temp) != ZKV_OK ||
        wal_segment_path(w, seq, first, "", path, sizeof path) != ZKV_OK)
        return wal_error(w, ZKV_EINVAL, "segment path in %s too long", w->dir);
    if (wal_index_grow_segments(w) != ZKV_OK)
        return wal_error(w, ZKV_ENOMEM, "out of memory for segment %s", path);
    uint8_t buf[wal_record_size(WAL_HEADER_PAYLOAD) + wal_record_size(WAL_HARD_STATE_PAYLOAD)];
    size_t size = s_initial_records(w, seq, first, buf);
    int fd = -1;
    int rc = s_write_new(w, temp, path, buf, size, &fd);
    if (rc != ZKV_OK)
        return rc;
    /*  Until the directory is synced the new name may vanish in a crash. */
    if (zkv_fs_sync_dir(w->fs, w->dir) != ZKV_OK) {
        rc = wal_io_failed(w, "fsync directory %s", w->dir);
        zkv_fs_close(w->fs, fd);
        return rc;
    }
    w->segs[w->seg_count++] = (wal_segment_t){
        .seq = seq,
        .first = first,
        .fd = fd,
        .size = size,
        .base_size = size,
        .live_first = first,
    };
    return ZKV_OK;
}

void wal_segment_close(zkv_wal_t *w, wal_segment_t *seg)
{
    if (seg->fd >= 0)
        zkv_fs_close(w->fs, seg->fd);
    seg->fd = -1;
    free(seg->offsets);
    seg->offsets = NULL;
    seg->offsets_cap = 0;
    seg->live_count = 0;
}

static const char *s_name(const wal_segment_t *seg, char name[ZKV_WAL_NAME_SIZE + 1])
{
    wal_segment_name(seg->seq, seg->first, name);
    return name;
}

int wal_flush(zkv_wal_t *w)
{
    if (w->wbuf_len == 0)
        return ZKV_OK;
    wal_segment_t *seg = &w->segs[w->seg_count - 1];
    if (zkv_fs_pwrite(w->fs, seg->fd, w->wbuf, w->wbuf_len, seg->size) != ZKV_OK) {
        char name[ZKV_WAL_NAME_SIZE + 1];
        return wal_io_failed(w, "write %s/%s at offset %" PRIu64, w->dir, s_name(seg, name),
                             seg->size);
    }
    seg->size += w->wbuf_len;
    w->wbuf_len = 0;
    w->dirty = true;
    return ZKV_OK;
}

/*  The newest segment is complete and durable before the next one exists, so
    only the newest can ever end in a torn record. */
static int s_rotate(zkv_wal_t *w)
{
    wal_segment_t *seg = &w->segs[w->seg_count - 1];
    int rc = wal_flush(w);
    if (rc != ZKV_OK)
        return rc;
    if (zkv_fs_datasync(w->fs, seg->fd) != ZKV_OK) {
        char name[ZKV_WAL_NAME_SIZE + 1];
        return wal_io_failed(w, "fdatasync %s/%s", w->dir, s_name(seg, name));
    }
    w->dirty = false;
    w->unsynced = 0;
    return wal_segment_create(w, seg->seq + 1, w->next);
}

static int s_grow_buffer(zkv_wal_t *w, size_t need)
{
    if (need <= w->wbuf_cap)
        return ZKV_OK;
    size_t cap = w->wbuf_cap ? w->wbuf_cap : ZKV_WAL_BUFFER_SIZE;
    while (cap < need)
        cap *= 2;
    uint8_t *buf = realloc(w->wbuf, cap);
    if (!buf)
        return wal_error(w, ZKV_ENOMEM, "out of memory for the write buffer");
    w->wbuf = buf;
    w->wbuf_cap = cap;
    return ZKV_OK;
}

int wal_reserve(zkv_wal_t *w, uint32_t length, uint64_t *offset, uint8_t **payload)
{
    assert(length <= ZKV_WAL_PAYLOAD_MAX);
    size_t need = wal_record_size(length);
    const wal_segment_t *seg = &w->segs[w->seg_count - 1];
    uint64_t used = seg->size + w->wbuf_len;
    int rc = ZKV_OK;
    /*  A record larger than a whole segment still goes into a fresh one. */
    if (used > seg->base_size && used + need > w->segment_size)
        rc = s_rotate(w);
    else if (w->wbuf_len > 0 && w->wbuf_len + need > ZKV_WAL_BUFFER_SIZE)
        rc = wal_flush(w);
    if (rc == ZKV_OK)
        rc = s_grow_buffer(w, w->wbuf_len + need);
    if (rc != ZKV_OK)
        return rc;
    seg = &w->segs[w->seg_count - 1];
    *offset = seg->size + w->wbuf_len;
    assert(*offset <= UINT32_MAX);
    *payload = w->wbuf + w->wbuf_len + ZKV_WAL_RECORD_HEADER_SIZE;
    return ZKV_OK;
}

void wal_commit(zkv_wal_t *w, uint8_t type, uint32_t length)
{
    wal_record_seal(w->wbuf + w->wbuf_len, type, length);
    w->wbuf_len += wal_record_size(length);
    w->unsynced += wal_record_size(length);
}

static int s_grow_read_buffer(zkv_wal_t *w, size_t need)
{
    if (need <= w->rbuf_cap)
        return ZKV_OK;
    uint8_t *buf = realloc(w->rbuf, need);
    if (!buf)
        return wal_error(w, ZKV_ENOMEM, "out of memory reading a record");
    w->rbuf = buf;
    w->rbuf_cap = need;
    return ZKV_OK;
}

/*  A record in the write buffer was framed by us a moment ago. */
static int s_read_buffered(zkv_wal_t *w, const wal_segment_t *seg, uint64_t offset, wal_rec_t *rec,
                           const uint8_t **payload)
{
    assert(seg == &w->segs[w->seg_count - 1]);
    size_t at = (size_t) (offset - seg->size);
    assert(at + ZKV_WAL_RECORD_HEADER_SIZE <= w->wbuf_len);
    const char *why = wal_record_parse(w->wbuf + at, rec);
    assert(why == NULL);
    (void) why;
    *payload = w->wbuf + at + ZKV_WAL_RECORD_HEADER_SIZE;
    return ZKV_OK;
}

int wal_segment_read(zkv_wal_t *w, const wal_segment_t *seg, uint64_t offset, wal_rec_t *rec,
                     const uint8_t **payload)
{
    if (offset >= seg->size)
        return s_read_buffered(w, seg, offset, rec, payload);
    char name[ZKV_WAL_NAME_SIZE + 1];
    s_name(seg, name);
    int rc = s_grow_read_buffer(w, ZKV_WAL_RECORD_HEADER_SIZE);
    if (rc != ZKV_OK)
        return rc;
    rc = zkv_fs_read_exact(w->fs, seg->fd, w->rbuf, ZKV_WAL_RECORD_HEADER_SIZE, offset, NULL);
    const char *why = NULL;
    if (rc == ZKV_OK)
        why = wal_record_parse(w->rbuf, rec);
    if (rc == ZKV_OK && !why) {
        size_t size = wal_record_size(rec->length);
        rc = s_grow_read_buffer(w, size);
        if (rc != ZKV_OK)
            return rc;
        rc = zkv_fs_read_exact(w->fs, seg->fd, w->rbuf, size, offset, NULL);
        if (rc == ZKV_OK && !wal_record_crc_ok(w->rbuf, rec))
            why = "checksum mismatch";
    }
    if (rc == ZKV_EIO)
        return wal_error(w, ZKV_EIO, "read %s/%s at offset %" PRIu64 ": %s", w->dir, name, offset,
                         strerror(errno));
    if (rc == ZKV_ETORN)
        why = "file ends inside the record";
    if (why)
        return wal_error(w, ZKV_ECORRUPT, "%s/%s: record at offset %" PRIu64 ": %s", w->dir, name,
                         offset, why);
    *payload = w->rbuf + ZKV_WAL_RECORD_HEADER_SIZE;
    return ZKV_OK;
}
