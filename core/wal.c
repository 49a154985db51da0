/*  wal: the public calls of the write-ahead log (see wal.h). Framing lives in
    wal_record.c, files in wal_segment.c, the in-memory index in wal_index.c
    and opening in wal_recover.c. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "wal_private.h"
#include "zkv_error.h"

int wal_error(zkv_wal_t *w, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
    return rc;
}

int wal_io_failed(zkv_wal_t *w, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t) n < sizeof w->error)
        snprintf(w->error + n, sizeof w->error - (size_t) n, ": %s", strerror(saved));
    w->failed = true;
    return ZKV_EIO;
}

zkv_wal_t *zkv_wal_new(const zkv_fs_t *fs, const char *dir, const zkv_wal_options_t *options)
{
    assert(fs && dir);
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0 || len + ZKV_WAL_NAME_SIZE + 8 >= PATH_MAX)
        return NULL;
    zkv_wal_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dir = strndup(dir, len);
    if (!self->dir) {
        free(self);
        return NULL;
    }
    self->fs = fs;
    self->segment_size = ZKV_WAL_SEGMENT_SIZE_DEFAULT;
    self->initial_index = 1;
    if (options && options->segment_size)
        self->segment_size = options->segment_size;
    if (options && options->first_index)
        self->initial_index = options->first_index;
    assert(self->segment_size >= ZKV_WAL_SEGMENT_SIZE_MIN);
    assert(self->segment_size <= ZKV_WAL_SEGMENT_SIZE_MAX);
    self->next = self->initial_index;
    return self;
}

void zkv_wal_destroy(zkv_wal_t **self_p)
{
    zkv_wal_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->seg_count; i++)
        wal_segment_close(self, &self->segs[i]);
    free(self->segs);
    free(self->runs);
    free(self->wbuf);
    free(self->rbuf);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

/*  Back to the state of zkv_wal_new, after a failed open. */
static void s_forget(zkv_wal_t *self)
{
    for (size_t i = 0; i < self->seg_count; i++)
        wal_segment_close(self, &self->segs[i]);
    self->seg_count = 0;
    self->run_count = 0;
    self->next = self->initial_index;
    self->has_hard_state = false;
    self->hard_state = (zkv_wal_hard_state_t){0};
    self->failed = false;
}

int zkv_wal_open(zkv_wal_t *self, zkv_wal_recovery_t *report)
{
    assert(!self->opened);
    zkv_wal_recovery_t ignored;
    int rc = wal_recover(self, report ? report : &ignored);
    if (rc != ZKV_OK) {
        s_forget(self);
        return rc;
    }
    self->opened = true;
    self->error[0] = '\0';
    return ZKV_OK;
}

const char *zkv_wal_error(const zkv_wal_t *self)
{
    return self->error;
}

/*  Changes are refused before open and after a failed write. */
static int s_writable(zkv_wal_t *self)
{
    assert(self->opened);
    if (self->failed)
        return ZKV_EIO;
    return ZKV_OK;
}

static int s_check_entries(zkv_wal_t *self, const zkv_wal_entry_t *entries, size_t count)
{
    uint64_t term = wal_index_last_term(self);
    for (size_t i = 0; i < count; i++) {
        const zkv_wal_entry_t *e = &entries[i];
        if (e->index != self->next + i)
            return wal_error(self, ZKV_EINVAL,
                             "append of entry %" PRIu64 " where %" PRIu64 " is next", e->index,
                             self->next + i);
        if (e->size > ZKV_ENTRY_SIZE_MAX)
            return wal_error(self, ZKV_EINVAL, "entry %" PRIu64 " of %zu bytes is too large",
                             e->index, e->size);
        if (e->term < term)
            return wal_error(self, ZKV_EINVAL,
                             "entry %" PRIu64 " has term %" PRIu64
                             " below the previous entry's %" PRIu64,
                             e->index, e->term, term);
        term = e->term;
    }
    return ZKV_OK;
}

int zkv_wal_append(zkv_wal_t *self, const zkv_wal_entry_t *entries, size_t count)
{
    int rc = s_writable(self);
    if (rc == ZKV_OK)
        rc = s_check_entries(self, entries, count);
    for (size_t i = 0; i < count && rc == ZKV_OK; i++) {
        uint32_t length = (uint32_t) (ZKV_WAL_ENTRY_HEADER_SIZE + entries[i].size);
        uint64_t offset;
        uint8_t *payload;
        rc = wal_reserve(self, length, &offset, &payload);
        if (rc != ZKV_OK)
            break;
        wal_record_put_entry(payload, &entries[i]);
        rc = wal_index_add(self, &self->segs[self->seg_count - 1], offset, entries[i].index,
                           entries[i].term);
        if (rc != ZKV_OK)
            return wal_error(self, rc, "out of memory indexing entry %" PRIu64, entries[i].index);
        wal_commit(self, WAL_REC_ENTRY, length);
    }
    return rc;
}

int zkv_wal_set_hard_state(zkv_wal_t *self, const zkv_wal_hard_state_t *hard_state)
{
    int rc = s_writable(self);
    uint64_t offset;
    uint8_t *payload;
    if (rc == ZKV_OK)
        rc = wal_reserve(self, WAL_HARD_STATE_PAYLOAD, &offset, &payload);
    if (rc != ZKV_OK)
        return rc;
    wal_record_put_hard_state(payload, hard_state);
    wal_commit(self, WAL_REC_HARD_STATE, WAL_HARD_STATE_PAYLOAD);
    self->hard_state = *hard_state;
    self->has_hard_state = true;
    return ZKV_OK;
}

int zkv_wal_sync(zkv_wal_t *self)
{
    int rc = s_writable(self);
    if (rc == ZKV_OK)
        rc = wal_flush(self);
    if (rc != ZKV_OK || !self->dirty)
        return rc;
    const wal_segment_t *seg = &self->segs[self->seg_count - 1];
    if (zkv_fs_datasync(self->fs, seg->fd) != ZKV_OK) {
        char name[ZKV_WAL_NAME_SIZE + 1];
        wal_segment_name(seg->seq, seg->first, name);
        return wal_io_failed(self, "fdatasync %s/%s", self->dir, name);
    }
    self->dirty = false;
    self->unsynced = 0;
    return ZKV_OK;
}

/*  Logs a TRUNCATE or RESET record. */
static int s_log_index(zkv_wal_t *self, uint8_t type, uint64_t index)
{
    uint64_t offset;
    uint8_t *payload;
    int rc = wal_reserve(self, WAL_INDEX_PAYLOAD, &offset, &payload);
    if (rc != ZKV_OK)
        return rc;
    zkv_le64_put(payload, index);
    wal_commit(self, type, WAL_INDEX_PAYLOAD);
    return ZKV_OK;
}

int zkv_wal_truncate(zkv_wal_t *self, uint64_t index)
{
    int rc = s_writable(self);
    if (rc != ZKV_OK)
        return rc;
    if (index < wal_index_first(self))
        return wal_error(self, ZKV_ECOMPACTED, "truncate at %" PRIu64 " before the first entry",
                         index);
    if (index > self->next)
        return wal_error(self, ZKV_EINVAL, "truncate at %" PRIu64 " past the last entry", index);
    if (index == self->next)
        return ZKV_OK;
    rc = s_log_index(self, WAL_REC_TRUNCATE, index);
    if (rc == ZKV_OK)
        wal_index_truncate(self, index);
    return rc;
}

int zkv_wal_reset(zkv_wal_t *self, uint64_t next_index)
{
    int rc = s_writable(self);
    if (rc != ZKV_OK)
        return rc;
    if (next_index == 0)
        return wal_error(self, ZKV_EINVAL, "reset to index 0");
    rc = s_log_index(self, WAL_REC_RESET, next_index);
    if (rc == ZKV_OK)
        wal_index_reset(self, next_index);
    return rc;
}

/*  Whether no entry >= index lives in seg. */
static bool s_droppable(const wal_segment_t *seg, uint64_t index)
{
    return seg->live_count == 0 || seg->live_first + seg->live_count <= index;
}

void zkv_wal_on_remove(zkv_wal_t *self, zkv_wal_remove_fn *remove, void *arg)
{
    self->remove = remove;
    self->remove_arg = arg;
}

int zkv_wal_drop_before(zkv_wal_t *self, uint64_t index)
{
    /*  Records that make older segments' entries dead must be durable before
        those segments go. */
    int rc = zkv_wal_sync(self);
    if (rc != ZKV_OK)
        return rc;
    size_t n = 0;
    while (n + 1 < self->seg_count && s_droppable(&self->segs[n], index))
        n++;
    size_t dropped = 0;
    for (; dropped < n; dropped++) {
        wal_segment_t *seg = &self->segs[dropped];
        char path[PATH_MAX];
        rc = wal_segment_path(self, seg->seq, seg->first, "", path, sizeof path);
        assert(rc == ZKV_OK);
        if (self->remove) {
            wal_segment_close(self, seg);
            self->remove(path, self->remove_arg);
            continue;
        }
        if (zkv_fs_unlink(self->fs, path) != ZKV_OK) {
            rc = wal_io_failed(self, "remove %s", path);
            break;
        }
        wal_segment_close(self, seg);
    }
    if (dropped > 0)
        wal_index_drop_segments(self, dropped);
    if (rc == ZKV_OK && dropped > 0 && !self->remove &&
        zkv_fs_sync_dir(self->fs, self->dir) != ZKV_OK)
        rc = wal_io_failed(self, "fsync directory %s", self->dir);
    return rc;
}

/*  Checks that the record at offset is the entry the index says it is. */
static int s_read_entry(zkv_wal_t *self, uint64_t index, zkv_wal_entry_t *entry)
{
    uint64_t offset;
    const wal_segment_t *seg = wal_index_find(self, index, &offset);
    assert(seg);
    wal_rec_t rec;
    const uint8_t *payload;
    int rc = wal_segment_read(self, seg, offset, &rec, &payload);
    if (rc != ZKV_OK)
        return rc;
    if (rec.type == WAL_REC_ENTRY)
        wal_record_entry(payload, rec.length, entry);
    if (rec.type != WAL_REC_ENTRY || entry->index != index) {
        char name[ZKV_WAL_NAME_SIZE + 1];
        wal_segment_name(seg->seq, seg->first, name);
        return wal_error(self, ZKV_ECORRUPT,
                         "%s/%s: offset %" PRIu64 ": not entry %" PRIu64 " as indexed", self->dir,
                         name, offset, index);
    }
    return ZKV_OK;
}

static int s_check_range(zkv_wal_t *self, uint64_t lo)
{
    uint64_t first = wal_index_first(self);
    if (lo < first)
        return wal_error(self, ZKV_ECOMPACTED, "entry %" PRIu64 " is before the first, %" PRIu64,
                         lo, first);
    if (lo >= self->next)
        return wal_error(self, ZKV_ENOTFOUND, "entry %" PRIu64 " is past the last, %" PRIu64, lo,
                         self->next - 1);
    return ZKV_OK;
}

int zkv_wal_read(zkv_wal_t *self, uint64_t lo, uint64_t hi, size_t bytes_max,
                 zkv_wal_visit_fn visit, void *arg, size_t *count)
{
    assert(self->opened);
    size_t visited = 0, bytes = 0;
    int rc = s_check_range(self, lo);
    if (hi >= self->next)
        hi = self->next - 1;
    for (uint64_t i = lo; rc == ZKV_OK && i <= hi; i++) {
        zkv_wal_entry_t e;
        rc = s_read_entry(self, i, &e);
        if (rc != ZKV_OK)
            break;
        if (visited > 0 && bytes_max && bytes + e.size > bytes_max)
            break;
        visited++;
        bytes += e.size;
        if (!visit(&e, arg))
            break;
    }
    if (count)
        *count = visited;
    return rc;
}

int zkv_wal_get(zkv_wal_t *self, uint64_t index, zkv_wal_entry_t *entry, void **data)
{
    assert(self->opened);
    *data = NULL;
    int rc = s_check_range(self, index);
    if (rc == ZKV_OK)
        rc = s_read_entry(self, index, entry);
    if (rc != ZKV_OK)
        return rc;
    *data = malloc(entry->size ? entry->size : 1);
    if (!*data)
        return wal_error(self, ZKV_ENOMEM, "out of memory reading entry %" PRIu64, index);
    memcpy(*data, entry->data, entry->size);
    entry->data = *data;
    return ZKV_OK;
}

int zkv_wal_term(const zkv_wal_t *self, uint64_t index, uint64_t *term)
{
    return wal_index_term(self, index, term);
}

uint64_t zkv_wal_first_index(const zkv_wal_t *self)
{
    return wal_index_first(self);
}

uint64_t zkv_wal_last_index(const zkv_wal_t *self)
{
    return self->next - 1;
}

bool zkv_wal_hard_state(const zkv_wal_t *self, zkv_wal_hard_state_t *hard_state)
{
    *hard_state = self->hard_state;
    return self->has_hard_state;
}

size_t zkv_wal_segment_count(const zkv_wal_t *self)
{
    return self->seg_count;
}

uint64_t zkv_wal_segment_size(const zkv_wal_t *self)
{
    return self->segment_size;
}

uint64_t zkv_wal_unsynced_bytes(const zkv_wal_t *self)
{
    return self->unsynced;
}
