/*  snapshot: writing a snapshot file. The tree is streamed in key order
    through a fixed buffer into a temporary file, which is fsynced and renamed
    into place only once complete, so a crash leaves either the old set of
    snapshots or the new one (plus a temporary file that prune removes). */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "le.h"
#include "snapshot_private.h"
#include "zkv_error.h"

int snap_error(char *err, size_t err_size, int rc, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return rc;
}

void zkv_snapshot_meta_clear(zkv_snapshot_meta_t *meta)
{
    free(meta->config);
    free(meta->app);
    *meta = (zkv_snapshot_meta_t){0};
}

void zkv_snapshot_name(uint64_t index, uint64_t term, char name[ZKV_SNAPSHOT_NAME_SIZE + 1])
{
    snprintf(name, ZKV_SNAPSHOT_NAME_SIZE + 1, "%016" PRIx64 "-%016" PRIx64 ".snap", index, term);
}

int snap_path(char *path, size_t size, const char *dir, const char *name, const char *suffix)
{
    int n = snprintf(path, size, "%s/%s%s", dir, name, suffix);
    return n >= 0 && (size_t) n < size ? ZKV_OK : ZKV_EINVAL;
}

int snap_make_dir(const zkv_fs_t *fs, const char *dir, char *err, size_t err_size)
{
    if (zkv_fs_mkdir(fs, dir) != ZKV_OK)
        return snap_error(err, err_size, ZKV_EIO, "create directory %s: %s", dir, strerror(errno));
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    if (zkv_fs_sync_dir(fs, parent) != ZKV_OK)
        return snap_error(err, err_size, ZKV_EIO, "fsync directory %s: %s", parent,
                          strerror(errno));
    return ZKV_OK;
}

/*  Appends through a buffer, keeping the CRC of everything written. */
typedef struct {
    const zkv_fs_t *fs;
    int fd;
    uint64_t offset; /* file offset of buf[0] */
    uint8_t *buf;
    size_t len;
    uint32_t crc;
    int rc; /* first failure; later writes are skipped */
    int saved_errno;
    uint64_t written_back; /* the file is on the disk up to here */
} s_writer_t;

/*  Out to the disk every few megabytes: the WAL's syncs, which wait behind
    whatever is queued, then never find the whole snapshot queued ahead. A
    failure here shows again at the final sync. */
static void s_write_back(s_writer_t *w)
{
    if (w->rc == ZKV_OK && w->offset - w->written_back >= SNAP_WRITEBACK_BYTES) {
        zkv_fs_writeback(w->fs, w->fd, w->written_back, w->offset - w->written_back);
        w->written_back = w->offset;
    }
}

static void s_flush(s_writer_t *w)
{
    if (w->rc == ZKV_OK && w->len > 0 &&
        zkv_fs_pwrite(w->fs, w->fd, w->buf, w->len, w->offset) != ZKV_OK) {
        w->rc = ZKV_EIO;
        w->saved_errno = errno;
    }
    w->offset += w->len;
    w->len = 0;
    s_write_back(w);
}

static void s_put(s_writer_t *w, const void *data, size_t size)
{
    if (w->rc != ZKV_OK || size == 0)
        return;
    w->crc = zkv_crc32c(w->crc, data, size);
    if (w->len + size > SNAP_WRITE_BUFFER_SIZE)
        s_flush(w);
    if (size >= SNAP_WRITE_BUFFER_SIZE) {
        /*  A large value goes straight to the file. */
        if (w->rc == ZKV_OK && zkv_fs_pwrite(w->fs, w->fd, data, size, w->offset) != ZKV_OK) {
            w->rc = ZKV_EIO;
            w->saved_errno = errno;
        }
        w->offset += size;
        s_write_back(w);
        return;
    }
    memcpy(w->buf + w->len, data, size);
    w->len += size;
}

static void s_put_header(s_writer_t *w, const zkv_snapshot_meta_t *meta, uint64_t count)
{
    uint8_t h[ZKV_SNAPSHOT_HEADER_SIZE] = {0};
    zkv_le64_put(h, SNAP_MAGIC);
    zkv_le32_put(h + 8, SNAP_VERSION);
    zkv_le64_put(h + 16, meta->index);
    zkv_le64_put(h + 24, meta->term);
    zkv_le64_put(h + 32, count);
    zkv_le64_put(h + 40, meta->config_size);
    zkv_le64_put(h + 48, meta->app_size);
    zkv_le32_put(h + 56, zkv_crc32c(0, h, 56));
    s_put(w, h, sizeof h);
}

static bool s_put_record(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                         void *arg)
{
    s_writer_t *w = arg;
    uint8_t h[SNAP_RECORD_HEADER_SIZE];
    zkv_le32_put(h, (uint32_t) key.size);
    zkv_le32_put(h + 4, (uint32_t) value.size);
    zkv_le64_put(h + 8, meta->create_revision);
    zkv_le64_put(h + 16, meta->mod_revision);
    zkv_le64_put(h + 24, meta->version);
    zkv_le64_put(h + 32, meta->lease);
    s_put(w, h, sizeof h);
    s_put(w, key.data, key.size);
    s_put(w, value.data, value.size);
    return w->rc == ZKV_OK;
}

static void s_put_trailer(s_writer_t *w)
{
    uint8_t t[ZKV_SNAPSHOT_TRAILER_SIZE];
    zkv_le64_put(t, SNAP_END_MAGIC);
    zkv_le64_put(t + 8, w->offset + w->len + ZKV_SNAPSHOT_TRAILER_SIZE);
    s_put(w, t, 16);
    zkv_le32_put(t + 16, w->crc);
    s_put(w, t + 16, 4);
    s_flush(w);
}

/*  The entries to write: a tree's, or a view's. */
typedef struct {
    const zkv_btree_t *tree;
    const zkv_btree_view_t *view;
} s_source_t;

/*  Header, blobs, records and trailer into the open temporary file. */
static int s_write_body(s_writer_t *w, s_source_t src, const zkv_snapshot_meta_t *meta)
{
    uint64_t count = src.view ? zkv_btree_view_count(src.view) : zkv_btree_count(src.tree);
    s_put_header(w, meta, count);
    s_put(w, meta->config, meta->config_size);
    s_put(w, meta->app, meta->app_size);
    size_t visited = src.view
                         ? zkv_btree_view_each(src.view, s_put_record, w)
                         : zkv_btree_range(src.tree, NULL, 0, NULL, 0, false, 0, s_put_record, w);
    if (w->rc == ZKV_OK && visited != count) {
        assert(src.view); /* a view stopped early (zkv_btree_view_stop) */
        w->rc = ZKV_ESTOPPED;
    }
    s_put_trailer(w);
    return w->rc;
}

static int s_check_meta(const zkv_snapshot_meta_t *meta, char *err, size_t err_size)
{
    if (meta->index == 0)
        return snap_error(err, err_size, ZKV_EINVAL, "snapshot at index 0");
    if (meta->config_size > ZKV_SNAPSHOT_CONFIG_SIZE_MAX || (meta->config_size && !meta->config))
        return snap_error(err, err_size, ZKV_EINVAL, "configuration of %zu bytes",
                          meta->config_size);
    if (meta->app_size > ZKV_SNAPSHOT_APP_SIZE_MAX || (meta->app_size && !meta->app))
        return snap_error(err, err_size, ZKV_EINVAL, "application state of %zu bytes",
                          meta->app_size);
    return ZKV_OK;
}

/*  Writes the temporary file and renames it into place. */
static int s_write_file(const zkv_fs_t *fs, const char *temp, const char *path, s_source_t src,
                        const zkv_snapshot_meta_t *meta, char *err, size_t err_size)
{
    s_writer_t w = {.fs = fs, .buf = malloc(SNAP_WRITE_BUFFER_SIZE)};
    if (!w.buf)
        return snap_error(err, err_size, ZKV_ENOMEM, "out of memory writing %s", temp);
    if (zkv_fs_open(fs, temp, ZKV_FS_WRITE | ZKV_FS_CREATE | ZKV_FS_TRUNC, &w.fd) != ZKV_OK) {
        int rc = snap_error(err, err_size, ZKV_EIO, "create %s: %s", temp, strerror(errno));
        free(w.buf);
        return rc;
    }
    const char *what = NULL;
    if (s_write_body(&w, src, meta) != ZKV_OK) {
        errno = w.saved_errno;
        what = "write";
    } else if (zkv_fs_sync(fs, w.fd) != ZKV_OK)
        what = "fsync";
    int saved = errno;
    if (zkv_fs_close(fs, w.fd) != ZKV_OK && !what) {
        what = "close";
        saved = errno;
    }
    if (!what && zkv_fs_rename(fs, temp, path) != ZKV_OK) {
        what = "rename";
        saved = errno;
    }
    free(w.buf);
    if (w.rc == ZKV_ESTOPPED) {
        zkv_fs_unlink(fs, temp);
        return snap_error(err, err_size, ZKV_ESTOPPED, "stopped writing %s", temp);
    }
    if (what) {
        zkv_fs_unlink(fs, temp);
        return snap_error(err, err_size, ZKV_EIO, "%s %s: %s", what, temp, strerror(saved));
    }
    return ZKV_OK;
}

static int s_write(const zkv_fs_t *fs, const char *dir, s_source_t src,
                   const zkv_snapshot_meta_t *meta, char name[ZKV_SNAPSHOT_NAME_SIZE + 1],
                   char *err, size_t err_size)
{
    int rc = s_check_meta(meta, err, err_size);
    if (rc != ZKV_OK)
        return rc;
    char file[ZKV_SNAPSHOT_NAME_SIZE + 1], temp[PATH_MAX], path[PATH_MAX];
    zkv_snapshot_name(meta->index, meta->term, file);
    if (snap_path(temp, sizeof temp, dir, file, SNAP_TEMP_SUFFIX) != ZKV_OK ||
        snap_path(path, sizeof path, dir, file, "") != ZKV_OK)
        return snap_error(err, err_size, ZKV_EINVAL, "snapshot path in %s too long", dir);
    rc = snap_make_dir(fs, dir, err, err_size);
    if (rc == ZKV_OK)
        rc = s_write_file(fs, temp, path, src, meta, err, err_size);
    if (rc != ZKV_OK)
        return rc;
    /*  The rename is durable only once the directory is. */
    if (zkv_fs_sync_dir(fs, dir) != ZKV_OK) {
        rc = snap_error(err, err_size, ZKV_EIO, "fsync directory %s: %s", dir, strerror(errno));
        zkv_fs_unlink(fs, path);
        return rc;
    }
    if (name)
        memcpy(name, file, sizeof file);
    return ZKV_OK;
}

int zkv_snapshot_write(const zkv_fs_t *fs, const char *dir, const zkv_btree_t *tree,
                       const zkv_snapshot_meta_t *meta, char name[ZKV_SNAPSHOT_NAME_SIZE + 1],
                       char *err, size_t err_size)
{
    return s_write(fs, dir, (s_source_t){.tree = tree}, meta, name, err, err_size);
}

int zkv_snapshot_write_view(const zkv_fs_t *fs, const char *dir, const zkv_btree_view_t *view,
                            const zkv_snapshot_meta_t *meta, char name[ZKV_SNAPSHOT_NAME_SIZE + 1],
                            char *err, size_t err_size)
{
    return s_write(fs, dir, (s_source_t){.view = view}, meta, name, err, err_size);
}
