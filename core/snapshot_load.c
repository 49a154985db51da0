/*  snapshot_load: reading a snapshot file back. Nothing in the file is
    trusted before it is checked: the header by its CRC, every length against
    its limit and what is left of the file, keys for strict order, and the whole
    file by the trailer's CRC, before the tree and metadata are handed out. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "le.h"
#include "snapshot_private.h"
#include "zkv_error.h"

/*  Reads the file front to back through a window, keeping the CRC. */
typedef struct {
    const zkv_fs_t *fs;
    int fd;
    const char *path;
    uint64_t end; /* where the records stop: the trailer's offset */
    uint64_t pos; /* file offset of the next byte to take */
    uint8_t *buf;
    size_t cap;
    size_t head; /* buf[head] holds the byte at pos */
    size_t len;  /* bytes buffered from head on */
    uint32_t crc;
    char *err;
    size_t err_size;
} s_reader_t;

/*  Header fields. */
typedef struct {
    uint64_t index;
    uint64_t term;
    uint64_t count;
    uint64_t config_size;
    uint64_t app_size;
    size_t record_header_size; /* by format version */
} s_header_t;

static int s_corrupt(s_reader_t *r, uint64_t offset, const char *why)
{
    return snap_error(r->err, r->err_size, ZKV_ECORRUPT, "%s: offset %" PRIu64 ": %s", r->path,
                      offset, why);
}

/*  Takes the next n bytes (n <= cap), which must lie before r->end. */
static int s_take(s_reader_t *r, size_t n, const uint8_t **p)
{
    if (n > r->end - r->pos)
        return s_corrupt(r, r->pos, "runs past the end of the data");
    if (n > r->len) {
        memmove(r->buf, r->buf + r->head, r->len);
        r->head = 0;
        size_t want = r->cap - r->len;
        if (want > r->end - r->pos - r->len)
            want = (size_t) (r->end - r->pos - r->len);
        size_t got = 0;
        int rc = zkv_fs_read_exact(r->fs, r->fd, r->buf + r->len, want, r->pos + r->len, &got);
        if (rc != ZKV_OK)
            return snap_error(r->err, r->err_size, ZKV_EIO, "read %s at offset %" PRIu64 ": %s",
                              r->path, r->pos + r->len,
                              rc == ZKV_ETORN ? "file shrank" : strerror(errno));
        r->len += got;
    }
    *p = r->buf + r->head;
    r->crc = zkv_crc32c(r->crc, *p, n);
    r->head += n;
    r->len -= n;
    r->pos += n;
    return ZKV_OK;
}

/*  Takes n bytes into dst (NULL: skip them), in window-sized pieces. */
static int s_copy(s_reader_t *r, uint8_t *dst, uint64_t n)
{
    while (n > 0) {
        size_t piece = n < r->cap ? (size_t) n : r->cap;
        const uint8_t *p;
        int rc = s_take(r, piece, &p);
        if (rc != ZKV_OK)
            return rc;
        if (dst) {
            memcpy(dst, p, piece);
            dst += piece;
        }
        n -= piece;
    }
    return ZKV_OK;
}

static int s_header(s_reader_t *r, uint64_t size, s_header_t *h)
{
    const uint8_t *p;
    int rc = s_take(r, ZKV_SNAPSHOT_HEADER_SIZE, &p);
    if (rc != ZKV_OK)
        return rc;
    if (zkv_le64_get(p) != SNAP_MAGIC)
        return s_corrupt(r, 0, "not a zkv snapshot");
    if (zkv_le32_get(p + 56) != zkv_crc32c(0, p, 56))
        return s_corrupt(r, 0, "header checksum mismatch");
    uint32_t version = zkv_le32_get(p + 8);
    if (version < SNAP_VERSION_OLDEST || version > SNAP_VERSION || zkv_le32_get(p + 12) ||
        zkv_le32_get(p + 60))
        return s_corrupt(r, 8, "unknown format version or flags");
    *h = (s_header_t){.index = zkv_le64_get(p + 16),
                      .term = zkv_le64_get(p + 24),
                      .count = zkv_le64_get(p + 32),
                      .config_size = zkv_le64_get(p + 40),
                      .app_size = zkv_le64_get(p + 48),
                      .record_header_size =
                          version == 1 ? SNAP_RECORD_HEADER_SIZE_V1 : SNAP_RECORD_HEADER_SIZE};
    uint64_t room = size - ZKV_SNAPSHOT_HEADER_SIZE - ZKV_SNAPSHOT_TRAILER_SIZE;
    if (h->config_size > ZKV_SNAPSHOT_CONFIG_SIZE_MAX || h->config_size > room)
        return s_corrupt(r, 40, "configuration size out of range");
    room -= h->config_size;
    if (h->app_size > ZKV_SNAPSHOT_APP_SIZE_MAX || h->app_size > room)
        return s_corrupt(r, 48, "application state size out of range");
    room -= h->app_size;
    if (h->count > room / h->record_header_size)
        return s_corrupt(r, 32, "key count larger than the file can hold");
    return ZKV_OK;
}

static int s_trailer(s_reader_t *r, uint64_t size, uint8_t t[ZKV_SNAPSHOT_TRAILER_SIZE])
{
    int rc = zkv_fs_read_exact(r->fs, r->fd, t, ZKV_SNAPSHOT_TRAILER_SIZE,
                               size - ZKV_SNAPSHOT_TRAILER_SIZE, NULL);
    if (rc != ZKV_OK)
        return snap_error(r->err, r->err_size, ZKV_EIO, "read trailer of %s: %s", r->path,
                          strerror(errno));
    if (zkv_le64_get(t) != SNAP_END_MAGIC || zkv_le64_get(t + 8) != size)
        return s_corrupt(r, size - ZKV_SNAPSHOT_TRAILER_SIZE,
                         "bad trailer: the file is truncated or extended");
    return ZKV_OK;
}

/*  malloc'd copy of the next size bytes (at least 1 byte allocated). */
static int s_blob(s_reader_t *r, uint64_t size, void **out)
{
    *out = malloc(size ? (size_t) size : 1);
    if (!*out)
        return snap_error(r->err, r->err_size, ZKV_ENOMEM, "out of memory loading %s", r->path);
    return s_copy(r, *out, size);
}

/*  Key order of the tree: memcmp over the common prefix, then length. */
static int s_compare(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/*  A record's sizes and metadata (zeros in a version 1 file). */
static void s_record_header(const uint8_t *p, size_t size, uint32_t *key_size, uint32_t *value_size,
                            zkv_btree_meta_t *meta)
{
    *key_size = zkv_le32_get(p);
    *value_size = zkv_le32_get(p + 4);
    *meta = (zkv_btree_meta_t){0};
    if (size == SNAP_RECORD_HEADER_SIZE_V1)
        return;
    meta->create_revision = zkv_le64_get(p + 8);
    meta->mod_revision = zkv_le64_get(p + 16);
    meta->version = zkv_le64_get(p + 24);
    meta->lease = zkv_le64_get(p + 32);
}

static int s_records(s_reader_t *r, const s_header_t *h, zkv_btree_t *tree)
{
    uint8_t prev[ZKV_KEY_SIZE_MAX];
    size_t prev_size = 0;
    for (uint64_t i = 0; i < h->count; i++) {
        uint64_t at = r->pos;
        const uint8_t *p;
        int rc = s_take(r, h->record_header_size, &p);
        if (rc != ZKV_OK)
            return rc;
        uint32_t key_size, value_size;
        zkv_btree_meta_t meta;
        s_record_header(p, h->record_header_size, &key_size, &value_size, &meta);
        if (key_size > ZKV_KEY_SIZE_MAX || value_size > ZKV_VALUE_SIZE_MAX)
            return s_corrupt(r, at, "key or value size out of range");
        rc = s_take(r, (size_t) key_size + value_size, &p);
        if (rc != ZKV_OK)
            return rc;
        if (i > 0 && s_compare(prev, prev_size, p, key_size) >= 0)
            return s_corrupt(r, at, "keys out of order");
        memcpy(prev, p, key_size);
        prev_size = key_size;
        if (tree && zkv_btree_put(tree, p, key_size, p + key_size, value_size, &meta, NULL, NULL,
                                  NULL) != ZKV_OK)
            return snap_error(r->err, r->err_size, ZKV_ENOMEM, "out of memory loading %s", r->path);
    }
    if (r->pos != r->end)
        return s_corrupt(r, r->pos, "data after the last record");
    return ZKV_OK;
}

/*  Blobs into meta, records into tree, then the whole-file CRC. */
static int s_body(s_reader_t *r, const s_header_t *h, const uint8_t *trailer, bool meta_only,
                  zkv_btree_t *tree, zkv_snapshot_meta_t *meta)
{
    int rc = ZKV_OK;
    if (meta) {
        rc = s_blob(r, h->config_size, &meta->config);
        if (rc == ZKV_OK)
            rc = s_blob(r, h->app_size, &meta->app);
    } else
        rc = s_copy(r, NULL, h->config_size + h->app_size);
    if (rc != ZKV_OK || meta_only)
        return rc;
    rc = s_records(r, h, tree);
    if (rc != ZKV_OK)
        return rc;
    uint32_t crc = zkv_crc32c(r->crc, trailer, 16);
    if (crc != zkv_le32_get(trailer + 16))
        return s_corrupt(r, r->end + 16, "checksum mismatch");
    return ZKV_OK;
}

static int s_open(s_reader_t *r, uint64_t *size)
{
    int rc = zkv_fs_open(r->fs, r->path, ZKV_FS_READ, &r->fd);
    if (rc != ZKV_OK)
        return snap_error(r->err, r->err_size, rc == ZKV_ENOTFOUND ? rc : ZKV_EIO, "open %s: %s",
                          r->path, strerror(errno));
    if (zkv_fs_size(r->fs, r->fd, size) != ZKV_OK)
        rc = snap_error(r->err, r->err_size, ZKV_EIO, "stat %s: %s", r->path, strerror(errno));
    else if (*size < ZKV_SNAPSHOT_HEADER_SIZE + ZKV_SNAPSHOT_TRAILER_SIZE)
        rc = s_corrupt(r, 0, "too short for a snapshot");
    else if (*size > ZKV_SNAPSHOT_FILE_SIZE_MAX)
        rc = s_corrupt(r, 0, "larger than any snapshot");
    if (rc == ZKV_OK) {
        r->end = *size - ZKV_SNAPSHOT_TRAILER_SIZE;
        r->cap = *size < SNAP_READ_BUFFER_SIZE ? (size_t) *size : SNAP_READ_BUFFER_SIZE;
        r->buf = malloc(r->cap);
        if (!r->buf)
            rc = snap_error(r->err, r->err_size, ZKV_ENOMEM, "out of memory loading %s", r->path);
    }
    if (rc != ZKV_OK)
        zkv_fs_close(r->fs, r->fd);
    return rc;
}

int snap_load(const zkv_fs_t *fs, const char *path, zkv_btree_t **tree_p, zkv_snapshot_meta_t *meta,
              bool meta_only, uint64_t *index, uint64_t *term, char *err, size_t err_size)
{
    s_reader_t r = {.fs = fs, .path = path, .err = err, .err_size = err_size};
    uint64_t size;
    int rc = s_open(&r, &size);
    if (rc != ZKV_OK)
        return rc;
    uint8_t trailer[ZKV_SNAPSHOT_TRAILER_SIZE];
    s_header_t h = {0};
    zkv_snapshot_meta_t m = {0};
    zkv_btree_t *tree = NULL;
    rc = s_trailer(&r, size, trailer);
    if (rc == ZKV_OK)
        rc = s_header(&r, size, &h);
    if (rc == ZKV_OK && tree_p && !meta_only && !(tree = zkv_btree_new()))
        rc = snap_error(err, err_size, ZKV_ENOMEM, "out of memory loading %s", path);
    if (rc == ZKV_OK)
        rc = s_body(&r, &h, trailer, meta_only, tree, meta ? &m : NULL);
    zkv_fs_close(fs, r.fd);
    free(r.buf);
    if (rc != ZKV_OK) {
        zkv_btree_destroy(&tree);
        zkv_snapshot_meta_clear(&m);
        return rc;
    }
    m.index = h.index;
    m.term = h.term;
    m.config_size = (size_t) h.config_size;
    m.app_size = (size_t) h.app_size;
    if (meta)
        *meta = m;
    if (tree_p && !meta_only)
        *tree_p = tree;
    *index = h.index;
    *term = h.term;
    return ZKV_OK;
}

int zkv_snapshot_load(const zkv_fs_t *fs, const char *path, zkv_btree_t **tree_p,
                      zkv_snapshot_meta_t *meta, char *err, size_t err_size)
{
    uint64_t index, term;
    return snap_load(fs, path, tree_p, meta, false, &index, &term, err, err_size);
}

int zkv_snapshot_read_meta(const zkv_fs_t *fs, const char *path, zkv_snapshot_meta_t *meta,
                           char *err, size_t err_size)
{
    uint64_t index, term;
    return snap_load(fs, path, NULL, meta, true, &index, &term, err, err_size);
}
