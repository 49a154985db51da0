/*  fs_fault: fault injection over another zkv_fs_t, for tests. */
#include <errno.h>
#include <stdlib.h>

#include "fs_fault.h"
#include "zkv_error.h"

typedef struct {
    bool armed;
    bool sticky;
    bool tripped;       /* a sticky arm has fired */
    unsigned long skip; /* successful calls left before the failure */
    unsigned long calls;
} s_op_state_t;

struct zkv_fs_fault_t {
    const zkv_fs_t *inner;
    zkv_fs_t fs; /* ctx points back at this struct */
    s_op_state_t ops[ZKV_FS_OP_COUNT];
    unsigned long failures;
    bool skip_syncs;
    bool no_allocate; /* allocate answers ZKV_ENOTSUP */
    int errnum;       /* errno of a failure: EIO unless told */
};

/*  Counts the call and says whether it must fail. */
static bool s_fails(zkv_fs_fault_t *self, zkv_fs_op_t op)
{
    s_op_state_t *s = &self->ops[op];
    s->calls++;
    if (!s->armed)
        return false;
    if (s->tripped || s->skip == 0) {
        s->tripped = s->sticky;
        s->armed = s->sticky;
        self->failures++;
        errno = self->errnum;
        return true;
    }
    s->skip--;
    return false;
}

#define S_SELF zkv_fs_fault_t *self = (zkv_fs_fault_t *) ctx

static int s_open(void *ctx, const char *path, int flags, int *fd)
{
    S_SELF;
    return s_fails(self, ZKV_FS_OP_OPEN) ? ZKV_EIO : zkv_fs_open(self->inner, path, flags, fd);
}

static int s_close(void *ctx, int fd)
{
    S_SELF;
    bool fail = s_fails(self, ZKV_FS_OP_CLOSE);
    int rc = zkv_fs_close(self->inner, fd);
    if (fail) {
        errno = self->errnum;
        return ZKV_EIO;
    }
    return rc;
}

static int s_pread(void *ctx, int fd, void *buf, size_t size, uint64_t offset, size_t *got)
{
    S_SELF;
    if (s_fails(self, ZKV_FS_OP_PREAD))
        return ZKV_EIO;
    return zkv_fs_pread(self->inner, fd, buf, size, offset, got);
}

static int s_pwrite(void *ctx, int fd, const void *buf, size_t size, uint64_t offset)
{
    S_SELF;
    if (s_fails(self, ZKV_FS_OP_PWRITE)) {
        (void) zkv_fs_pwrite(self->inner, fd, buf, size / 2, offset);
        errno = self->errnum;
        return ZKV_EIO;
    }
    return zkv_fs_pwrite(self->inner, fd, buf, size, offset);
}

static int s_datasync(void *ctx, int fd)
{
    S_SELF;
    if (s_fails(self, ZKV_FS_OP_DATASYNC))
        return ZKV_EIO;
    return self->skip_syncs ? ZKV_OK : zkv_fs_datasync(self->inner, fd);
}

static int s_writeback(void *ctx, int fd, uint64_t offset, uint64_t size)
{
    S_SELF;
    return self->skip_syncs ? ZKV_OK : zkv_fs_writeback(self->inner, fd, offset, size);
}

static int s_sync(void *ctx, int fd)
{
    S_SELF;
    if (s_fails(self, ZKV_FS_OP_SYNC))
        return ZKV_EIO;
    return self->skip_syncs ? ZKV_OK : zkv_fs_sync(self->inner, fd);
}

static int s_truncate(void *ctx, int fd, uint64_t size)
{
    S_SELF;
    return s_fails(self, ZKV_FS_OP_TRUNCATE) ? ZKV_EIO : zkv_fs_truncate(self->inner, fd, size);
}

static int s_allocate(void *ctx, int fd, uint64_t size)
{
    S_SELF;
    if (s_fails(self, ZKV_FS_OP_ALLOCATE))
        return ZKV_EIO;
    if (self->no_allocate) {
        errno = EOPNOTSUPP;
        return ZKV_ENOTSUP;
    }
    return zkv_fs_allocate(self->inner, fd, size);
}

static int s_size(void *ctx, int fd, uint64_t *size)
{
    S_SELF;
    return s_fails(self, ZKV_FS_OP_SIZE) ? ZKV_EIO : zkv_fs_size(self->inner, fd, size);
}

static int s_rename(void *ctx, const char *from, const char *to)
{
    S_SELF;
    return s_fails(self, ZKV_FS_OP_RENAME) ? ZKV_EIO : zkv_fs_rename(self->inner, from, to);
}

static int s_unlink(void *ctx, const char *path)
{
    S_SELF;
    return s_fails(self, ZKV_FS_OP_UNLINK) ? ZKV_EIO : zkv_fs_unlink(self->inner, path);
}

static int s_mkdir(void *ctx, const char *path)
{
    S_SELF;
    return s_fails(self, ZKV_FS_OP_MKDIR) ? ZKV_EIO : zkv_fs_mkdir(self->inner, path);
}

static int s_list(void *ctx, const char *dir, zkv_fs_list_fn fn, void *arg)
{
    S_SELF;
    return s_fails(self, ZKV_FS_OP_LIST) ? ZKV_EIO : zkv_fs_list(self->inner, dir, fn, arg);
}

static int s_sync_dir(void *ctx, const char *dir)
{
    S_SELF;
    if (s_fails(self, ZKV_FS_OP_SYNC_DIR))
        return ZKV_EIO;
    return self->skip_syncs ? ZKV_OK : zkv_fs_sync_dir(self->inner, dir);
}

zkv_fs_fault_t *zkv_fs_fault_new(const zkv_fs_t *inner)
{
    zkv_fs_fault_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->inner = inner;
    self->errnum = EIO;
    self->fs = (zkv_fs_t){
        .ctx = self,
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
    return self;
}

void zkv_fs_fault_destroy(zkv_fs_fault_t **self_p)
{
    if (*self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

const zkv_fs_t *zkv_fs_fault_fs(zkv_fs_fault_t *self)
{
    return &self->fs;
}

void zkv_fs_fault_arm(zkv_fs_fault_t *self, zkv_fs_op_t op, unsigned long skip, bool sticky)
{
    s_op_state_t *s = &self->ops[op];
    s->armed = true;
    s->sticky = sticky;
    s->tripped = false;
    s->skip = skip;
}

void zkv_fs_fault_errno(zkv_fs_fault_t *self, int errnum)
{
    self->errnum = errnum;
}

void zkv_fs_fault_skip_syncs(zkv_fs_fault_t *self, bool skip)
{
    self->skip_syncs = skip;
}

void zkv_fs_fault_unsupported_allocate(zkv_fs_fault_t *self, bool unsupported)
{
    self->no_allocate = unsupported;
}

void zkv_fs_fault_disarm(zkv_fs_fault_t *self)
{
    for (int i = 0; i < ZKV_FS_OP_COUNT; i++) {
        self->ops[i].armed = false;
        self->ops[i].tripped = false;
    }
}

unsigned long zkv_fs_fault_calls(const zkv_fs_fault_t *self, zkv_fs_op_t op)
{
    return self->ops[op].calls;
}

unsigned long zkv_fs_fault_failures(const zkv_fs_fault_t *self)
{
    return self->failures;
}
