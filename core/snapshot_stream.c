/*  snapshot_stream: a snapshot file as raw bytes, for InstallSnapshot. The
    leader reads chunks by offset; the follower appends them to a .recv file,
    then validates it with the loader before renaming it into place, so a
    damaged or incomplete transfer never becomes a snapshot. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_private.h"
#include "zkv_error.h"

struct zkv_snapshot_file_t {
    const zkv_fs_t *fs;
    int fd;
    uint64_t size;
};

int zkv_snapshot_file_open(const zkv_fs_t *fs, const char *path, zkv_snapshot_file_t **file_p,
                           char *err, size_t err_size)
{
    zkv_snapshot_file_t *self = calloc(1, sizeof *self);
    if (!self)
        return snap_error(err, err_size, ZKV_ENOMEM, "out of memory opening %s", path);
    self->fs = fs;
    int rc = zkv_fs_open(fs, path, ZKV_FS_READ, &self->fd);
    if (rc != ZKV_OK) {
        free(self);
        return snap_error(err, err_size, rc == ZKV_ENOTFOUND ? rc : ZKV_EIO, "open %s: %s", path,
                          strerror(errno));
    }
    if (zkv_fs_size(fs, self->fd, &self->size) != ZKV_OK) {
        rc = snap_error(err, err_size, ZKV_EIO, "stat %s: %s", path, strerror(errno));
        zkv_snapshot_file_destroy(&self);
        return rc;
    }
    *file_p = self;
    return ZKV_OK;
}

void zkv_snapshot_file_destroy(zkv_snapshot_file_t **file_p)
{
    zkv_snapshot_file_t *self = *file_p;
    if (!self)
        return;
    zkv_fs_close(self->fs, self->fd);
    free(self);
    *file_p = NULL;
}

uint64_t zkv_snapshot_file_size(const zkv_snapshot_file_t *self)
{
    return self->size;
}

int zkv_snapshot_file_read(zkv_snapshot_file_t *self, uint64_t offset, void *buf, size_t size,
                           size_t *got)
{
    *got = 0;
    if (offset > self->size)
        return ZKV_EINVAL;
    if (size > self->size - offset)
        size = (size_t) (self->size - offset);
    int rc = zkv_fs_read_exact(self->fs, self->fd, buf, size, offset, got);
    return rc == ZKV_OK ? ZKV_OK : ZKV_EIO;
}

struct zkv_snapshot_recv_t {
    const zkv_fs_t *fs;
    char *dir;
    uint64_t index;
    uint64_t term;
    char name[ZKV_SNAPSHOT_NAME_SIZE + 1];
    char path[PATH_MAX]; /* the .recv file */
    int fd;              /* -1 until the first chunk */
    uint64_t received;
    int failed; /* the error that ended the transfer (0: none); error says why */
    bool finished;
    char error[512];
};

static int s_fail(zkv_snapshot_recv_t *self, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(zkv_snapshot_recv_t *self, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
    return rc;
}

zkv_snapshot_recv_t *zkv_snapshot_recv_new(const zkv_fs_t *fs, const char *dir, uint64_t index,
                                           uint64_t term)
{
    zkv_snapshot_recv_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dir = strdup(dir);
    zkv_snapshot_name(index, term, self->name);
    if (!self->dir ||
        snap_path(self->path, sizeof self->path, dir, self->name, SNAP_RECV_SUFFIX) != ZKV_OK) {
        free(self->dir);
        free(self);
        return NULL;
    }
    self->fs = fs;
    self->index = index;
    self->term = term;
    self->fd = -1;
    return self;
}

void zkv_snapshot_recv_destroy(zkv_snapshot_recv_t **self_p)
{
    zkv_snapshot_recv_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0) {
        zkv_fs_close(self->fs, self->fd);
        if (!self->finished)
            zkv_fs_unlink(self->fs, self->path);
    }
    free(self->dir);
    free(self);
    *self_p = NULL;
}

static int s_start(zkv_snapshot_recv_t *self)
{
    int rc = snap_make_dir(self->fs, self->dir, self->error, sizeof self->error);
    if (rc != ZKV_OK)
        return rc;
    if (zkv_fs_open(self->fs, self->path, ZKV_FS_WRITE | ZKV_FS_CREATE | ZKV_FS_TRUNC, &self->fd) !=
        ZKV_OK) {
        self->fd = -1;
        return s_fail(self, ZKV_EIO, "create %s: %s", self->path, strerror(errno));
    }
    return ZKV_OK;
}

int zkv_snapshot_recv_write(zkv_snapshot_recv_t *self, uint64_t offset, const void *chunk,
                            size_t size)
{
    if (self->failed) /* error still says why */
        return self->failed;
    if (self->finished)
        return s_fail(self, ZKV_EINVAL, "%s: no more chunks accepted", self->path);
    if (offset != self->received)
        return s_fail(self, ZKV_EINVAL, "%s: chunk at offset %" PRIu64 ", expected %" PRIu64,
                      self->path, offset, self->received);
    if (size > ZKV_SNAPSHOT_FILE_SIZE_MAX - self->received)
        return s_fail(self, ZKV_EINVAL, "%s: larger than any snapshot", self->path);
    int rc = self->fd < 0 ? s_start(self) : ZKV_OK;
    if (rc != ZKV_OK) {
        self->failed = rc;
        return rc;
    }
    if (size && zkv_fs_pwrite(self->fs, self->fd, chunk, size, offset) != ZKV_OK) {
        self->failed = ZKV_EIO;
        return s_fail(self, ZKV_EIO, "write %s at offset %" PRIu64 ": %s", self->path, offset,
                      strerror(errno));
    }
    self->received += size;
    return ZKV_OK;
}

uint64_t zkv_snapshot_recv_offset(const zkv_snapshot_recv_t *self)
{
    return self->received;
}

/*  Checks the received file as a snapshot, and as the one announced. */
static int s_validate(zkv_snapshot_recv_t *self, zkv_btree_t **tree, zkv_snapshot_meta_t *meta)
{
    uint64_t index, term;
    int rc = snap_load(self->fs, self->path, tree, meta, false, &index, &term, self->error,
                       sizeof self->error);
    if (rc == ZKV_OK && (index != self->index || term != self->term)) {
        if (tree)
            zkv_btree_destroy(tree);
        if (meta)
            zkv_snapshot_meta_clear(meta);
        rc = s_fail(self, ZKV_ECORRUPT,
                    "%s: offset 16: holds index %" PRIu64 " term %" PRIu64
                    ", not the announced %" PRIu64 " term %" PRIu64,
                    self->path, index, term, self->index, self->term);
    }
    return rc;
}

/*  Renames the validated file into place and makes that durable. */
static int s_install(zkv_snapshot_recv_t *self)
{
    char path[PATH_MAX];
    if (snap_path(path, sizeof path, self->dir, self->name, "") != ZKV_OK)
        return s_fail(self, ZKV_EINVAL, "snapshot path in %s too long", self->dir);
    if (zkv_fs_rename(self->fs, self->path, path) != ZKV_OK)
        return s_fail(self, ZKV_EIO, "rename %s: %s", self->path, strerror(errno));
    if (zkv_fs_sync_dir(self->fs, self->dir) != ZKV_OK) {
        int rc = s_fail(self, ZKV_EIO, "fsync directory %s: %s", self->dir, strerror(errno));
        zkv_fs_unlink(self->fs, path);
        return rc;
    }
    return ZKV_OK;
}

int zkv_snapshot_recv_finish(zkv_snapshot_recv_t *self, zkv_btree_t **tree_p,
                             zkv_snapshot_meta_t *meta, char name[ZKV_SNAPSHOT_NAME_SIZE + 1])
{
    /*  A failed write (a full disk) is the reason, not the file it left. */
    if (self->failed)
        return self->failed;
    if (self->finished || self->fd < 0)
        return s_fail(self, ZKV_EINVAL, "%s: nothing to finish", self->path);
    if (zkv_fs_sync(self->fs, self->fd) != ZKV_OK) {
        self->failed = ZKV_EIO;
        return s_fail(self, ZKV_EIO, "fsync %s: %s", self->path, strerror(errno));
    }
    zkv_btree_t *tree = NULL;
    zkv_snapshot_meta_t m = {0};
    int rc = s_validate(self, tree_p ? &tree : NULL, meta ? &m : NULL);
    if (rc == ZKV_OK)
        rc = s_install(self);
    if (rc != ZKV_OK) {
        self->failed = rc;
        zkv_btree_destroy(&tree);
        zkv_snapshot_meta_clear(&m);
        return rc;
    }
    self->finished = true;
    if (tree_p)
        *tree_p = tree;
    if (meta)
        *meta = m;
    if (name)
        memcpy(name, self->name, sizeof self->name);
    return ZKV_OK;
}

const char *zkv_snapshot_recv_error(const zkv_snapshot_recv_t *self)
{
    return self->error;
}
