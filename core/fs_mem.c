/*  fs_mem: an in-memory file system that knows what a crash keeps (see
    fs_mem.h for the model). A file is a node with its current bytes, its
    durable bytes and the changes made since its last sync; current always
    equals durable with those changes applied, so a sync replays them onto
    the durable bytes and a torn crash replays a prefix of them. Names live
    in one table sorted by path, each with the node it refers to now and the
    one it refers to after a crash. Nodes no name and no handle reaches are
    freed by a sweep after every call that can drop a reference. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "fs_mem.h"
#include "splitmix.h"
#include "zkv_error.h"

#define S_PATH_MAX 4096
/*  Largest file: as large as a WAL segment may be. */
#define S_FILE_SIZE_MAX (UINT64_C(1) << 30)

typedef struct {
    uint8_t *data;
    size_t size;
    size_t cap;
} s_buf_t;

typedef enum { S_WRITE, S_TRUNCATE, S_ALLOCATE } s_kind_t;

/*  One unsynced change to a file. */
typedef struct {
    s_kind_t kind;
    uint64_t at;   /* write: offset; truncate, allocate: the size */
    uint8_t *data; /* write: a copy of the bytes */
    size_t size;   /* write: their number */
} s_change_t;

typedef struct {
    bool dir;
    bool reached; /* sweep mark */
    s_buf_t now;
    s_buf_t durable;
    s_change_t *changes; /* since the last sync, oldest first */
    size_t change_count;
    size_t change_cap;
} s_node_t;

typedef struct {
    char *path;        /* normalized: no leading, trailing or double slash */
    s_node_t *now;     /* what the name refers to now, or NULL */
    s_node_t *durable; /* what it refers to after a crash, or NULL */
} s_entry_t;

typedef struct {
    int fd;
    bool writable;
    s_node_t *node;
} s_handle_t;

typedef struct {
    bool armed;
    bool sticky;
    unsigned long skip;
    unsigned long calls;
    int err_no;
} s_arm_t;

struct zkv_fs_mem_t {
    zkv_fs_t fs;        /* ctx points back at this struct */
    s_entry_t *entries; /* sorted by path */
    size_t entry_count;
    size_t entry_cap;
    s_node_t **nodes; /* every node alive */
    size_t node_count;
    size_t node_cap;
    s_handle_t *handles; /* by fd, ascending */
    size_t handle_count;
    size_t handle_cap;
    int next_fd;
    s_arm_t arms[ZKV_FS_OP_COUNT];
    bool stopping;
    bool stopped;
    unsigned long stop_left;
    uint64_t capacity;
    unsigned long syncs;
};

/*  Grows an array of items of size item to hold one more; false if out of memory. */
static bool s_reserve(void **items, size_t *cap, size_t count, size_t item)
{
    if (count < *cap)
        return true;
    size_t n = *cap ? 2 * *cap : 16;
    void *grown = realloc(*items, n * item);
    if (!grown)
        return false;
    *items = grown;
    *cap = n;
    return true;
}

static int s_fail(int err_no)
{
    errno = err_no;
    return ZKV_EIO;
}

static int s_missing(void)
{
    errno = ENOENT;
    return ZKV_ENOTFOUND;
}

/*  ---- byte buffers */

/*  Sets the size, bytes past the old size reading as zeros. */
static bool s_buf_resize(s_buf_t *b, size_t size)
{
    if (size > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < size)
            cap *= 2;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown)
            return false;
        b->data = grown;
        b->cap = cap;
    }
    if (size > b->size)
        memset(b->data + b->size, 0, size - b->size);
    b->size = size;
    return true;
}

/*  Applies the first bytes of c (all of c but for a write cut short). */
static bool s_apply(s_buf_t *b, const s_change_t *c, size_t bytes)
{
    switch (c->kind) {
    case S_WRITE:
        assert(bytes <= c->size);
        if (bytes == 0)
            return true;
        if (c->at + bytes > b->size && !s_buf_resize(b, (size_t) c->at + bytes))
            return false;
        memcpy(b->data + c->at, c->data, bytes);
        return true;
    case S_TRUNCATE: return s_buf_resize(b, (size_t) c->at);
    case S_ALLOCATE: return c->at <= b->size || s_buf_resize(b, (size_t) c->at);
    }
    return false;
}

/*  ---- nodes */

static s_node_t *s_node_new(zkv_fs_mem_t *self, bool dir)
{
    if (!s_reserve((void **) &self->nodes, &self->node_cap, self->node_count, sizeof(s_node_t *)))
        return NULL;
    s_node_t *node = calloc(1, sizeof *node);
    if (node) {
        node->dir = dir;
        self->nodes[self->node_count++] = node;
    }
    return node;
}

static void s_forget_changes(s_node_t *node)
{
    for (size_t i = 0; i < node->change_count; i++)
        free(node->changes[i].data);
    node->change_count = 0;
}

static void s_node_free(s_node_t *node)
{
    s_forget_changes(node);
    free(node->changes);
    free(node->now.data);
    free(node->durable.data);
    free(node);
}

/*  Records change c (its data already copied) and applies it to the current bytes. */
static int s_change(s_node_t *node, s_change_t c)
{
    assert(!node->dir);
    if (!s_reserve((void **) &node->changes, &node->change_cap, node->change_count, sizeof c) ||
        !s_apply(&node->now, &c, c.size)) {
        free(c.data);
        return s_fail(ENOMEM);
    }
    node->changes[node->change_count++] = c;
    return ZKV_OK;
}

/*  Makes the node's current bytes durable. */
static int s_node_sync(s_node_t *node)
{
    for (size_t i = 0; i < node->change_count; i++) {
        const s_change_t *c = &node->changes[i];
        if (!s_apply(&node->durable, c, c->size))
            return s_fail(ENOMEM); /* a prefix became durable, as a failed fsync may do */
    }
    s_forget_changes(node);
    assert(node->change_count == 0);
    assert(node->durable.size == node->now.size);
    return ZKV_OK;
}

/*  ---- paths and names */

/*  Normalizes path into out: components joined by single slashes, "." left
    out, the root "". False if too long or it holds "..". */
static bool s_norm(const char *path, char out[S_PATH_MAX])
{
    size_t len = 0;
    while (*path) {
        while (*path == '/')
            path++;
        size_t n = strcspn(path, "/");
        if (n == 2 && path[0] == '.' && path[1] == '.')
            return false;
        if (n > 0 && !(n == 1 && path[0] == '.')) {
            if (len + n + 2 > S_PATH_MAX)
                return false;
            if (len > 0)
                out[len++] = '/';
            memcpy(out + len, path, n);
            len += n;
        }
        path += n;
    }
    out[len] = '\0';
    return true;
}

/*  Length of the parent's path in a normalized path ("" for the root's children). */
static size_t s_parent_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t) (slash - path) : 0;
}

static bool s_is_child(const char *path, const char *dir, size_t dir_len)
{
    return s_parent_len(path) == dir_len && strncmp(path, dir, dir_len) == 0 &&
           (dir_len == 0 || path[dir_len] == '/');
}

/*  Index of path in the table, or where it would go (*found false). */
static size_t s_find(const zkv_fs_mem_t *self, const char *path, bool *found)
{
    size_t lo = 0, hi = self->entry_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(self->entries[mid].path, path);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/*  The node path refers to now, or NULL. The root has none but exists. */
static s_node_t *s_lookup(const zkv_fs_mem_t *self, const char *path)
{
    bool found;
    size_t i = s_find(self, path, &found);
    return found ? self->entries[i].now : NULL;
}

static bool s_dir_exists(const zkv_fs_mem_t *self, const char *path, size_t len)
{
    if (len == 0)
        return true;
    char dir[S_PATH_MAX];
    memcpy(dir, path, len);
    dir[len] = '\0';
    const s_node_t *node = s_lookup(self, dir);
    return node && node->dir;
}

/*  The entry of path, added empty if missing; NULL if out of memory. */
static s_entry_t *s_entry(zkv_fs_mem_t *self, const char *path)
{
    bool found;
    size_t i = s_find(self, path, &found);
    if (found)
        return &self->entries[i];
    if (!s_reserve((void **) &self->entries, &self->entry_cap, self->entry_count,
                   sizeof(s_entry_t)))
        return NULL;
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    memmove(&self->entries[i + 1], &self->entries[i], (self->entry_count - i) * sizeof(s_entry_t));
    self->entry_count++;
    self->entries[i] = (s_entry_t){.path = copy};
    return &self->entries[i];
}

/*  Drops entries that refer to nothing and frees the nodes nothing reaches. */
static void s_sweep(zkv_fs_mem_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->entry_count; i++) {
        s_entry_t *e = &self->entries[i];
        if (!e->now && !e->durable) {
            free(e->path);
            continue;
        }
        if (e->now)
            e->now->reached = true;
        if (e->durable)
            e->durable->reached = true;
        self->entries[kept++] = *e;
    }
    self->entry_count = kept;
    for (size_t i = 0; i < self->handle_count; i++)
        self->handles[i].node->reached = true;
    kept = 0;
    for (size_t i = 0; i < self->node_count; i++) {
        s_node_t *node = self->nodes[i];
        if (!node->reached) {
            s_node_free(node);
            continue;
        }
        node->reached = false;
        self->nodes[kept++] = node;
    }
    self->node_count = kept;
}

/*  ---- faults and handles */

/*  Counts a call of op: 0 if it may go on, else the errno it fails with. */
static int s_fault(zkv_fs_mem_t *self, zkv_fs_op_t op)
{
    s_arm_t *a = &self->arms[op];
    a->calls++;
    if (self->stopping && !self->stopped && self->stop_left-- == 0)
        self->stopped = true;
    if (self->stopped)
        return EIO;
    if (!a->armed)
        return 0;
    if (a->skip > 0) {
        a->skip--;
        return 0;
    }
    a->armed = a->sticky;
    return a->err_no;
}

static s_handle_t *s_handle(zkv_fs_mem_t *self, int fd)
{
    size_t lo = 0, hi = self->handle_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->handles[mid].fd == fd)
            return &self->handles[mid];
        if (self->handles[mid].fd < fd)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/*  The handle fd, checked for writing if write; NULL with errno EBADF. */
static s_handle_t *s_usable(zkv_fs_mem_t *self, int fd, bool write)
{
    s_handle_t *h = s_handle(self, fd);
    if (!h || (write && !h->writable)) {
        errno = EBADF;
        return NULL;
    }
    assert(!h->node->dir);
    return h;
}

/*  Bytes the files reached now may still grow by. */
static uint64_t s_room(const zkv_fs_mem_t *self)
{
    if (self->capacity == UINT64_MAX)
        return UINT64_MAX;
    uint64_t used = zkv_fs_mem_used(self);
    return used >= self->capacity ? 0 : self->capacity - used;
}

#define S_SELF zkv_fs_mem_t *self = (zkv_fs_mem_t *) ctx

/*  ---- the interface */

/*  The file at path, created if missing and allowed; errno set on failure. */
static int s_open_node(zkv_fs_mem_t *self, const char *path, int flags, s_node_t **node)
{
    if (!s_dir_exists(self, path, s_parent_len(path)))
        return s_missing();
    *node = s_lookup(self, path);
    if (*node && (*node)->dir)
        return s_fail(EISDIR);
    if (*node && (flags & ZKV_FS_CREATE) && (flags & ZKV_FS_EXCL))
        return s_fail(EEXIST);
    if (*node)
        return ZKV_OK;
    if (!(flags & ZKV_FS_CREATE))
        return s_missing();
    s_entry_t *e = s_entry(self, path);
    if (!e || !(*node = s_node_new(self, false)))
        return s_fail(ENOMEM);
    e->now = *node;
    return ZKV_OK;
}

static int s_open(void *ctx, const char *path, int flags, int *fd)
{
    S_SELF;
    int err_no = s_fault(self, ZKV_FS_OP_OPEN);
    if (err_no)
        return s_fail(err_no);
    char p[S_PATH_MAX];
    if (!s_norm(path, p))
        return s_fail(ENAMETOOLONG);
    if (p[0] == '\0')
        return s_fail(EISDIR);
    if (!s_reserve((void **) &self->handles, &self->handle_cap, self->handle_count,
                   sizeof(s_handle_t)))
        return s_fail(ENOMEM);
    s_node_t *node = NULL;
    int rc = s_open_node(self, p, flags, &node);
    bool write = (flags & ZKV_FS_WRITE) != 0;
    if (rc == ZKV_OK && write && (flags & ZKV_FS_TRUNC) && node->now.size > 0)
        rc = s_change(node, (s_change_t){.kind = S_TRUNCATE, .at = 0});
    if (rc != ZKV_OK) {
        int saved = errno;
        s_sweep(self);
        errno = saved;
        return rc;
    }
    assert(self->next_fd < INT32_MAX);
    *fd = self->next_fd++;
    self->handles[self->handle_count++] = (s_handle_t){.fd = *fd, .writable = write, .node = node};
    return ZKV_OK;
}

static int s_close(void *ctx, int fd)
{
    S_SELF;
    int err_no = s_fault(self, ZKV_FS_OP_CLOSE);
    s_handle_t *h = s_handle(self, fd);
    if (!h)
        return s_fail(err_no ? err_no : EBADF);
    size_t i = (size_t) (h - self->handles);
    memmove(h, h + 1, (self->handle_count - i - 1) * sizeof *h);
    self->handle_count--;
    s_sweep(self);
    return err_no ? s_fail(err_no) : ZKV_OK; /* closed all the same */
}

static int s_pread(void *ctx, int fd, void *buf, size_t size, uint64_t offset, size_t *got)
{
    S_SELF;
    int err_no = s_fault(self, ZKV_FS_OP_PREAD);
    if (err_no)
        return s_fail(err_no);
    const s_handle_t *h = s_usable(self, fd, false);
    if (!h)
        return ZKV_EIO;
    const s_buf_t *b = &h->node->now;
    size_t n = 0;
    if (offset < b->size)
        n = b->size - offset < size ? b->size - (size_t) offset : size;
    if (n > 0)
        memcpy(buf, b->data + offset, n);
    *got = n;
    return ZKV_OK;
}

/*  Writes the first size bytes of buf, no more than there is room for:
    ZKV_OK if all of them fit. */
static int s_write(zkv_fs_mem_t *self, s_node_t *node, const void *buf, size_t size,
                   uint64_t offset)
{
    if (offset > S_FILE_SIZE_MAX || size > S_FILE_SIZE_MAX - offset)
        return s_fail(EFBIG);
    uint64_t end = offset + size, room = s_room(self);
    bool fits = end <= node->now.size || end - node->now.size <= room;
    if (!fits)
        end = node->now.size + room;
    size_t n = end > offset ? (size_t) (end - offset) : 0;
    if (n > 0) {
        s_change_t c = {.kind = S_WRITE, .at = offset, .data = malloc(n), .size = n};
        if (!c.data)
            return s_fail(ENOMEM);
        memcpy(c.data, buf, n);
        int rc = s_change(node, c);
        if (rc != ZKV_OK)
            return rc;
    }
    return fits ? ZKV_OK : s_fail(ENOSPC);
}

static int s_pwrite(void *ctx, int fd, const void *buf, size_t size, uint64_t offset)
{
    S_SELF;
    int err_no = s_fault(self, ZKV_FS_OP_PWRITE);
    s_handle_t *h = s_usable(self, fd, true);
    if (!h)
        return ZKV_EIO;
    if (err_no) {
        /*  Cut short, as by a full disk; a stopped machine writes nothing. */
        if (!self->stopped)
            (void) s_write(self, h->node, buf, size / 2, offset);
        return s_fail(err_no);
    }
    return size == 0 ? ZKV_OK : s_write(self, h->node, buf, size, offset);
}

static int s_sync_fd(zkv_fs_mem_t *self, zkv_fs_op_t op, int fd)
{
    int err_no = s_fault(self, op);
    if (err_no)
        return s_fail(err_no);
    s_handle_t *h = s_usable(self, fd, false);
    if (!h)
        return ZKV_EIO;
    int rc = s_node_sync(h->node);
    if (rc == ZKV_OK)
        self->syncs++;
    return rc;
}

static int s_datasync(void *ctx, int fd)
{
    S_SELF;
    return s_sync_fd(self, ZKV_FS_OP_DATASYNC, fd);
}

/*  Nothing to spread out: memory has no queue that syncs wait in. */
static int s_writeback(void *ctx, int fd, uint64_t offset, uint64_t size)
{
    (void) ctx;
    (void) fd;
    (void) offset;
    (void) size;
    return ZKV_OK;
}

static int s_sync(void *ctx, int fd)
{
    S_SELF;
    return s_sync_fd(self, ZKV_FS_OP_SYNC, fd);
}

/*  Truncate and allocate: a new size, all or nothing against the room left. */
static int s_resize(zkv_fs_mem_t *self, zkv_fs_op_t op, int fd, uint64_t size, s_kind_t kind)
{
    int err_no = s_fault(self, op);
    if (err_no)
        return s_fail(err_no);
    s_handle_t *h = s_usable(self, fd, true);
    if (!h)
        return ZKV_EIO;
    s_node_t *node = h->node;
    if (size > S_FILE_SIZE_MAX)
        return s_fail(EFBIG);
    if (size == node->now.size || (kind == S_ALLOCATE && size < node->now.size))
        return ZKV_OK;
    if (size > node->now.size && size - node->now.size > s_room(self))
        return s_fail(ENOSPC);
    return s_change(node, (s_change_t){.kind = kind, .at = size});
}

static int s_truncate(void *ctx, int fd, uint64_t size)
{
    S_SELF;
    return s_resize(self, ZKV_FS_OP_TRUNCATE, fd, size, S_TRUNCATE);
}

static int s_allocate(void *ctx, int fd, uint64_t size)
{
    S_SELF;
    return s_resize(self, ZKV_FS_OP_ALLOCATE, fd, size, S_ALLOCATE);
}

static int s_size(void *ctx, int fd, uint64_t *size)
{
    S_SELF;
    int err_no = s_fault(self, ZKV_FS_OP_SIZE);
    if (err_no)
        return s_fail(err_no);
    const s_handle_t *h = s_usable(self, fd, false);
    if (!h)
        return ZKV_EIO;
    *size = h->node->now.size;
    return ZKV_OK;
}

/*  Normalizes path into out after counting the call of op: ZKV_OK or the failure. */
static int s_enter(zkv_fs_mem_t *self, zkv_fs_op_t op, const char *path, char out[S_PATH_MAX])
{
    int err_no = s_fault(self, op);
    if (err_no)
        return s_fail(err_no);
    return s_norm(path, out) ? ZKV_OK : s_fail(ENAMETOOLONG);
}

static int s_rename(void *ctx, const char *from, const char *to)
{
    S_SELF;
    char f[S_PATH_MAX], t[S_PATH_MAX];
    int rc = s_enter(self, ZKV_FS_OP_RENAME, from, f);
    if (rc != ZKV_OK)
        return rc;
    if (!s_norm(to, t))
        return s_fail(ENAMETOOLONG);
    s_node_t *node = s_lookup(self, f), *old = s_lookup(self, t);
    if (!node || !s_dir_exists(self, t, s_parent_len(t)))
        return s_missing();
    if (node->dir || (old && old->dir))
        return s_fail(node->dir ? ENOTSUP : EISDIR); /* directories are never renamed */
    if (node == old)
        return ZKV_OK;
    s_entry_t *e = s_entry(self, t);
    if (!e)
        return s_fail(ENOMEM);
    e->now = node;
    bool found;
    size_t i = s_find(self, f, &found); /* after s_entry, which may move entries */
    assert(found && self->entries[i].now == node);
    self->entries[i].now = NULL;
    s_sweep(self);
    return ZKV_OK;
}

static int s_unlink(void *ctx, const char *path)
{
    S_SELF;
    char p[S_PATH_MAX];
    int rc = s_enter(self, ZKV_FS_OP_UNLINK, path, p);
    if (rc != ZKV_OK)
        return rc;
    bool found;
    size_t i = s_find(self, p, &found);
    if (!found || !self->entries[i].now)
        return s_missing();
    if (self->entries[i].now->dir)
        return s_fail(EISDIR);
    self->entries[i].now = NULL;
    s_sweep(self);
    return ZKV_OK;
}

static int s_mkdir(void *ctx, const char *path)
{
    S_SELF;
    char p[S_PATH_MAX];
    int rc = s_enter(self, ZKV_FS_OP_MKDIR, path, p);
    if (rc != ZKV_OK || p[0] == '\0')
        return rc;
    const s_node_t *node = s_lookup(self, p);
    if (node)
        return node->dir ? ZKV_OK : s_fail(ENOTDIR);
    if (!s_dir_exists(self, p, s_parent_len(p)))
        return s_missing();
    s_entry_t *e = s_entry(self, p);
    if (!e || !(e->now = s_node_new(self, true))) {
        s_sweep(self);
        return s_fail(ENOMEM);
    }
    return ZKV_OK;
}

/*  ZKV_OK if p names a directory now, else the failure. */
static int s_check_dir(const zkv_fs_mem_t *self, const char *p)
{
    if (p[0] == '\0')
        return ZKV_OK;
    const s_node_t *node = s_lookup(self, p);
    if (!node)
        return s_missing();
    return node->dir ? ZKV_OK : s_fail(ENOTDIR);
}

static int s_list(void *ctx, const char *dir, zkv_fs_list_fn fn, void *arg)
{
    S_SELF;
    char p[S_PATH_MAX];
    int rc = s_enter(self, ZKV_FS_OP_LIST, dir, p);
    if (rc == ZKV_OK)
        rc = s_check_dir(self, p);
    if (rc != ZKV_OK)
        return rc;
    size_t len = strlen(p), count = self->entry_count;
    /*  The table is in strcmp order of paths, so of names within a directory. */
    for (size_t i = 0; i < self->entry_count; i++) {
        const s_entry_t *e = &self->entries[i];
        if (!e->now || !s_is_child(e->path, p, len))
            continue;
        if (!fn(e->path + (len ? len + 1 : 0), arg))
            break;
        assert(self->entry_count == count); /* fn must not change the file system */
    }
    (void) count;
    return ZKV_OK;
}

static int s_sync_dir(void *ctx, const char *dir)
{
    S_SELF;
    char p[S_PATH_MAX];
    int rc = s_enter(self, ZKV_FS_OP_SYNC_DIR, dir, p);
    if (rc == ZKV_OK)
        rc = s_check_dir(self, p);
    if (rc != ZKV_OK)
        return rc;
    size_t len = strlen(p);
    for (size_t i = 0; i < self->entry_count; i++) {
        s_entry_t *e = &self->entries[i];
        if (s_is_child(e->path, p, len))
            e->durable = e->now;
    }
    s_sweep(self);
    return ZKV_OK;
}

/*  ---- crashes */

/*  A file after a crash: its durable bytes, in torn mode with a random
    prefix of its changes, the last one kept possibly a part of a write. */
static int s_crash_node(s_node_t *node, zkv_fs_mem_crash_mode_t mode, uint64_t *rng)
{
    size_t n = node->change_count;
    if (mode == ZKV_FS_MEM_TORN && n > 0) {
        size_t keep = (size_t) (zkv_splitmix64(rng) % (n + 1));
        bool ok = true;
        for (size_t i = 0; i < keep && ok; i++)
            ok = s_apply(&node->durable, &node->changes[i], node->changes[i].size);
        const s_change_t *cut = keep < n ? &node->changes[keep] : NULL;
        if (ok && cut && cut->kind == S_WRITE)
            (void) s_apply(&node->durable, cut, (size_t) (zkv_splitmix64(rng) % cut->size));
    }
    s_forget_changes(node);
    node->now.size = 0;
    if (!s_buf_resize(&node->now, node->durable.size))
        return ZKV_ENOMEM;
    if (node->durable.size > 0)
        memcpy(node->now.data, node->durable.data, node->durable.size);
    return ZKV_OK;
}

/*  Names go back to their durable state; a name whose directory is not
    durable goes with it. Parents come before children in the table. */
static void s_crash_names(zkv_fs_mem_t *self)
{
    for (size_t i = 0; i < self->entry_count; i++) {
        s_entry_t *e = &self->entries[i];
        e->now = e->durable;
        if (e->now && !s_dir_exists(self, e->path, s_parent_len(e->path)))
            e->now = e->durable = NULL;
    }
}

int zkv_fs_mem_crash(zkv_fs_mem_t *self, zkv_fs_mem_crash_mode_t mode, uint64_t *rng)
{
    assert(mode == ZKV_FS_MEM_LOSE_UNSYNCED || rng);
    self->handle_count = 0;
    s_crash_names(self);
    s_sweep(self);
    int rc = ZKV_OK;
    for (size_t i = 0; i < self->node_count; i++)
        if (!self->nodes[i]->dir && s_crash_node(self->nodes[i], mode, rng) != ZKV_OK)
            rc = ZKV_ENOMEM;
    self->stopping = false;
    self->stopped = false;
    zkv_fs_mem_disarm(self);
    return rc;
}

/*  ---- the rest of the public calls */

zkv_fs_mem_t *zkv_fs_mem_new(void)
{
    zkv_fs_mem_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = UINT64_MAX;
    self->next_fd = 3; /* as if 0, 1 and 2 were taken: a bug that uses 0 shows */
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

void zkv_fs_mem_destroy(zkv_fs_mem_t **self_p)
{
    zkv_fs_mem_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->entry_count; i++)
        free(self->entries[i].path);
    for (size_t i = 0; i < self->node_count; i++)
        s_node_free(self->nodes[i]);
    free(self->entries);
    free(self->nodes);
    free(self->handles);
    free(self);
    *self_p = NULL;
}

const zkv_fs_t *zkv_fs_mem_fs(zkv_fs_mem_t *self)
{
    return &self->fs;
}

void zkv_fs_mem_fail(zkv_fs_mem_t *self, zkv_fs_op_t op, unsigned long skip, int err_no,
                     bool sticky)
{
    assert(op < ZKV_FS_OP_COUNT && err_no != 0);
    s_arm_t *a = &self->arms[op];
    a->armed = true;
    a->sticky = sticky;
    a->skip = skip;
    a->err_no = err_no;
}

void zkv_fs_mem_disarm(zkv_fs_mem_t *self)
{
    for (int i = 0; i < ZKV_FS_OP_COUNT; i++)
        self->arms[i].armed = false;
}

void zkv_fs_mem_stop_after(zkv_fs_mem_t *self, unsigned long calls)
{
    self->stopping = calls != ULONG_MAX;
    self->stopped = false;
    self->stop_left = calls;
}

bool zkv_fs_mem_stopped(const zkv_fs_mem_t *self)
{
    return self->stopped;
}

void zkv_fs_mem_set_capacity(zkv_fs_mem_t *self, uint64_t bytes)
{
    self->capacity = bytes;
}

/*  Sums the sizes of the files marked, clearing the marks. */
static uint64_t s_sum_marked(const zkv_fs_mem_t *self, bool durable)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < self->node_count; i++) {
        s_node_t *node = self->nodes[i];
        if (node->reached && !node->dir)
            sum += durable ? node->durable.size : node->now.size;
        node->reached = false;
    }
    return sum;
}

uint64_t zkv_fs_mem_used(const zkv_fs_mem_t *self)
{
    for (size_t i = 0; i < self->entry_count; i++)
        if (self->entries[i].now)
            self->entries[i].now->reached = true;
    for (size_t i = 0; i < self->handle_count; i++)
        self->handles[i].node->reached = true;
    return s_sum_marked(self, false);
}

uint64_t zkv_fs_mem_durable_bytes(const zkv_fs_mem_t *self)
{
    for (size_t i = 0; i < self->entry_count; i++)
        if (self->entries[i].durable)
            self->entries[i].durable->reached = true;
    return s_sum_marked(self, true);
}

unsigned long zkv_fs_mem_calls(const zkv_fs_mem_t *self, zkv_fs_op_t op)
{
    assert(op < ZKV_FS_OP_COUNT);
    return self->arms[op].calls;
}

unsigned long zkv_fs_mem_syncs(const zkv_fs_mem_t *self)
{
    return self->syncs;
}
