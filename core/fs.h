/*  fs: the file operations the WAL and snapshots do their I/O through.

    The core never calls the operating system itself: whoever opens a WAL or
    writes a snapshot passes a zkv_fs_t, normally zkv_fs_posix(). Tests wrap it
    (zkv_fs_fault) to make a chosen write, sync or rename fail.

    Every operation returns ZKV_OK, ZKV_ENOTFOUND (open, unlink, rename or list
    of a missing path), ZKV_ENOTSUP (allocate, where the file system cannot) or
    ZKV_EIO, and leaves errno set on failure so that the caller can say why.
    Files are named by plain int handles. */
#ifndef ZKV_FS_H
#define ZKV_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Flags of open. */
enum {
    ZKV_FS_READ = 0,   /* read only */
    ZKV_FS_WRITE = 1,  /* read and write */
    ZKV_FS_CREATE = 2, /* create if missing (with ZKV_FS_WRITE) */
    ZKV_FS_EXCL = 4,   /* with ZKV_FS_CREATE: fail if it exists */
    ZKV_FS_TRUNC = 8,  /* empty it on open (with ZKV_FS_WRITE) */
};

/*  Called for each name in a directory (not "." or ".."); return false to stop. */
typedef bool (*zkv_fs_list_fn)(const char *name, void *arg);

typedef struct zkv_fs_t zkv_fs_t;
struct zkv_fs_t {
    void *ctx; /* handed to every operation */
    int (*open)(void *ctx, const char *path, int flags, int *fd);
    int (*close)(void *ctx, int fd);
    /*  Reads up to size bytes at offset; *got < size only at end of file. */
    int (*pread)(void *ctx, int fd, void *buf, size_t size, uint64_t offset, size_t *got);
    /*  Writes all size bytes at offset or fails (a failed write may have written part). */
    int (*pwrite)(void *ctx, int fd, const void *buf, size_t size, uint64_t offset);
    /*  fdatasync: data and the size, enough for appends to an existing file. */
    int (*datasync)(void *ctx, int fd);
    /*  fsync: data and all metadata. */
    int (*sync)(void *ctx, int fd);
    /*  Writes [offset, offset + size) out to the disk and waits for it, with
        no promise of durability (a sync must still follow): a large file
        then goes out as it is made rather than in one burst at its sync,
        which other files' syncs would queue behind. */
    int (*writeback)(void *ctx, int fd, uint64_t offset, uint64_t size);
    int (*truncate)(void *ctx, int fd, uint64_t size);
    /*  Makes the file at least size bytes long with the space reserved, the
        new bytes reading as zeros; a longer file is left as it is. Writes
        into reserved space then change no file size, so fdatasync has less
        to commit. ZKV_ENOTSUP where the file system cannot reserve space. */
    int (*allocate)(void *ctx, int fd, uint64_t size);
    int (*size)(void *ctx, int fd, uint64_t *size);
    /*  Atomically replaces to if it exists. */
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    /*  ZKV_OK also when the directory already exists. */
    int (*mkdir)(void *ctx, const char *path);
    int (*list)(void *ctx, const char *dir, zkv_fs_list_fn fn, void *arg);
    /*  Makes creations, renames and removals of entries in dir durable. */
    int (*sync_dir)(void *ctx, const char *dir);
};

/*  The operating system's files. Borrowed, never destroyed. */
const zkv_fs_t *zkv_fs_posix(void);

/*  Short forms of the calls through the table. */
static inline int zkv_fs_open(const zkv_fs_t *fs, const char *path, int flags, int *fd)
{
    return fs->open(fs->ctx, path, flags, fd);
}

static inline int zkv_fs_close(const zkv_fs_t *fs, int fd)
{
    return fs->close(fs->ctx, fd);
}

static inline int zkv_fs_pread(const zkv_fs_t *fs, int fd, void *buf, size_t size, uint64_t offset,
                               size_t *got)
{
    return fs->pread(fs->ctx, fd, buf, size, offset, got);
}

static inline int zkv_fs_writeback(const zkv_fs_t *fs, int fd, uint64_t offset, uint64_t size)
{
    return fs->writeback(fs->ctx, fd, offset, size);
}

static inline int zkv_fs_pwrite(const zkv_fs_t *fs, int fd, const void *buf, size_t size,
                                uint64_t offset)
{
    return fs->pwrite(fs->ctx, fd, buf, size, offset);
}

static inline int zkv_fs_datasync(const zkv_fs_t *fs, int fd)
{
    return fs->datasync(fs->ctx, fd);
}

static inline int zkv_fs_sync(const zkv_fs_t *fs, int fd)
{
    return fs->sync(fs->ctx, fd);
}

static inline int zkv_fs_truncate(const zkv_fs_t *fs, int fd, uint64_t size)
{
    return fs->truncate(fs->ctx, fd, size);
}

static inline int zkv_fs_allocate(const zkv_fs_t *fs, int fd, uint64_t size)
{
    return fs->allocate(fs->ctx, fd, size);
}

static inline int zkv_fs_size(const zkv_fs_t *fs, int fd, uint64_t *size)
{
    return fs->size(fs->ctx, fd, size);
}

static inline int zkv_fs_rename(const zkv_fs_t *fs, const char *from, const char *to)
{
    return fs->rename(fs->ctx, from, to);
}

static inline int zkv_fs_unlink(const zkv_fs_t *fs, const char *path)
{
    return fs->unlink(fs->ctx, path);
}

static inline int zkv_fs_mkdir(const zkv_fs_t *fs, const char *path)
{
    return fs->mkdir(fs->ctx, path);
}

static inline int zkv_fs_list(const zkv_fs_t *fs, const char *dir, zkv_fs_list_fn fn, void *arg)
{
    return fs->list(fs->ctx, dir, fn, arg);
}

static inline int zkv_fs_sync_dir(const zkv_fs_t *fs, const char *dir)
{
    return fs->sync_dir(fs->ctx, dir);
}

/*  Reads exactly size bytes at offset: ZKV_OK, ZKV_EIO, or ZKV_ETORN when the
    file ends first (*got, if not NULL, says how many bytes were there). */
int zkv_fs_read_exact(const zkv_fs_t *fs, int fd, void *buf, size_t size, uint64_t offset,
                      size_t *got);

#endif
