/*  dirlock: an flock on <data-dir>/LOCK, with the holder's pid in it. */
#include "dirlock.h"

#include "zkv_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct zkv_dirlock_t {
    int fd;
};

/*  The holder writes its pid just after it locks: a reader that comes in
    between finds the file empty and says so. */
static void s_refuse(int fd, const char *dir, char *err, size_t err_size)
{
    char text[32] = "";
    ssize_t got = pread(fd, text, sizeof text - 1, 0);
    long pid = got > 0 ? strtol(text, NULL, 10) : 0;
    if (pid > 0)
        snprintf(err, err_size, "data directory %s is in use by pid %ld", dir, pid);
    else
        snprintf(err, err_size, "data directory %s is in use by another process", dir);
}

static int s_write_pid(int fd)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long) getpid());
    if (ftruncate(fd, 0) != 0)
        return -1;
    return pwrite(fd, text, (size_t) n, 0) == n ? 0 : -1;
}

zkv_dirlock_t *zkv_dirlock_new(const char *dir, char *err, size_t err_size)
{
    char path[ZKV_DATA_PATH_SIZE_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, ZKV_DIRLOCK_NAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, err_size, "data directory %s: cannot open %s: %s", dir, path,
                 strerror(errno));
        return NULL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            s_refuse(fd, dir, err, err_size);
        else
            snprintf(err, err_size, "data directory %s: cannot lock %s: %s", dir, path,
                     strerror(errno));
        close(fd);
        return NULL;
    }
    if (s_write_pid(fd) != 0) {
        snprintf(err, err_size, "data directory %s: cannot write %s: %s", dir, path,
                 strerror(errno));
        close(fd);
        return NULL;
    }
    zkv_dirlock_t *self = malloc(sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        close(fd);
        return NULL;
    }
    self->fd = fd;
    return self;
}

void zkv_dirlock_destroy(zkv_dirlock_t **self_p)
{
    zkv_dirlock_t *self = *self_p;
    if (!self)
        return;
    close(self->fd); /* releases the lock */
    free(self);
    *self_p = NULL;
}
