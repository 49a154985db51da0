/*  fs_posix: zkv_fs_t on the operating system's files (open, pread, pwrite,
    fdatasync, fallocate, rename, ...). The only place the WAL and snapshots
    meet the disk. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "zkv_error.h"

static int s_fail(void)
{
    return errno == ENOENT ? ZKV_ENOTFOUND : ZKV_EIO;
}

static int s_open(void *ctx, const char *path, int flags, int *fd)
{
    (void) ctx;
    int oflags = O_CLOEXEC | ((flags & ZKV_FS_WRITE) ? O_RDWR : O_RDONLY);
    if (flags & ZKV_FS_CREATE)
        oflags |= O_CREAT;
    if (flags & ZKV_FS_EXCL)
        oflags |= O_EXCL;
    if (flags & ZKV_FS_TRUNC)
        oflags |= O_TRUNC;
    int f;
    do
        f = open(path, oflags, 0644);
    while (f < 0 && errno == EINTR);
    if (f < 0)
        return s_fail();
    *fd = f;
    return ZKV_OK;
}

static int s_close(void *ctx, int fd)
{
    (void) ctx;
    /*  Linux releases the descriptor even when close reports an error; never retry. */
    return close(fd) == 0 || errno == EINTR ? ZKV_OK : ZKV_EIO;
}

static int s_pread(void *ctx, int fd, void *buf, size_t size, uint64_t offset, size_t *got)
{
    (void) ctx;
    size_t done = 0;
    while (done < size) {
        ssize_t n = pread(fd, (char *) buf + done, size - done, (off_t) (offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ZKV_EIO;
        if (n == 0)
            break;
        done += (size_t) n;
    }
    *got = done;
    return ZKV_OK;
}

static int s_pwrite(void *ctx, int fd, const void *buf, size_t size, uint64_t offset)
{
    (void) ctx;
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fd, (const char *) buf + done, size - done, (off_t) (offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return ZKV_EIO;
        }
        done += (size_t) n;
    }
    return ZKV_OK;
}

static int s_datasync(void *ctx, int fd)
{
    (void) ctx;
    return fdatasync(fd) == 0 ? ZKV_OK : ZKV_EIO;
}

static int s_sync(void *ctx, int fd)
{
    (void) ctx;
    return fsync(fd) == 0 ? ZKV_OK : ZKV_EIO;
}

static int s_writeback(void *ctx, int fd, uint64_t offset, uint64_t size)
{
    (void) ctx;
    unsigned flags =
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    return sync_file_range(fd, (off_t) offset, (off_t) size, flags) == 0 ? ZKV_OK : ZKV_EIO;
}

static int s_truncate(void *ctx, int fd, uint64_t size)
{
    (void) ctx;
    return ftruncate(fd, (off_t) size) == 0 ? ZKV_OK : ZKV_EIO;
}

static int s_allocate(void *ctx, int fd, uint64_t size)
{
    (void) ctx;
    if (size == 0)
        return ZKV_OK;
    int rc;
    do
        rc = fallocate(fd, 0, 0, (off_t) size);
    while (rc != 0 && errno == EINTR);
    if (rc == 0)
        return ZKV_OK;
    /*  EINVAL: the file system does not take this mode (or any). */
    return errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL ? ZKV_ENOTSUP : ZKV_EIO;
}

static int s_size(void *ctx, int fd, uint64_t *size)
{
    (void) ctx;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ZKV_EIO;
    *size = (uint64_t) st.st_size;
    return ZKV_OK;
}

static int s_rename(void *ctx, const char *from, const char *to)
{
    (void) ctx;
    return rename(from, to) == 0 ? ZKV_OK : s_fail();
}

static int s_unlink(void *ctx, const char *path)
{
    (void) ctx;
    return unlink(path) == 0 ? ZKV_OK : s_fail();
}

static int s_mkdir(void *ctx, const char *path)
{
    (void) ctx;
    if (mkdir(path, 0755) == 0)
        return ZKV_OK;
    if (errno != EEXIST)
        return s_fail();
    struct stat st;
    if (stat(path, &st) != 0)
        return s_fail();
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return ZKV_EIO;
    }
    return ZKV_OK;
}

static int s_list(void *ctx, const char *dir, zkv_fs_list_fn fn, void *arg)
{
    (void) ctx;
    DIR *d = opendir(dir);
    if (!d)
        return s_fail();
    int rc = ZKV_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno != 0)
                rc = ZKV_EIO;
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!fn(e->d_name, arg))
            break;
    }
    int saved = errno;
    closedir(d);
    errno = saved;
    return rc;
}

static int s_sync_dir(void *ctx, const char *dir)
{
    (void) ctx;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return s_fail();
    int rc = fsync(fd) == 0 ? ZKV_OK : ZKV_EIO;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static const zkv_fs_t s_posix = {
    .ctx = NULL,
    .open = s_open,
    .close = s_close,
    .pread = s_pread,
    .pwrite = s_pwrite,
    .datasync = s_datasync,
    .writeback = s_writeback,
    .sync = s_sync,
    .truncate = s_truncate,
    .allocate = s_allocate,
    .size = s_size,
    .rename = s_rename,
    .unlink = s_unlink,
    .mkdir = s_mkdir,
    .list = s_list,
    .sync_dir = s_sync_dir,
};

const zkv_fs_t *zkv_fs_posix(void)
{
    return &s_posix;
}
