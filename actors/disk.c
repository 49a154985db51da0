/*  disk actor (disk.h). */
#include "disk.h"

#include <assert.h>
#include <inttypes.h>
#include <sys/resource.h>
#include <unistd.h>

#include "actor.h"
#include "loop.h"
#include "metrics.h"
#include "msg.h"
#include "zkv_error.h"

void zkv_snapshot_job_destroy(zkv_snapshot_job_t **job_p)
{
    zkv_snapshot_job_t *job = *job_p;
    if (!job)
        return;
    zkv_btree_view_release(&job->view);
    zkv_snapshot_meta_clear(&job->meta);
    free(job);
    *job_p = NULL;
}

zkv_snapshot_job_t *zkv_snapshot_job_of(const zkv_msg_t *msg)
{
    assert(msg->type == ZKV_MSG_WRITE_SNAPSHOT || msg->type == ZKV_MSG_SNAPSHOT_WRITTEN);
    return (zkv_snapshot_job_t *) (uintptr_t) msg->job.address;
}

static void s_write(const zkv_disk_t *self, const zkv_msg_t *msg)
{
    zkv_snapshot_job_t *job = zkv_snapshot_job_of(msg);
    uint64_t started = zkv_metrics_now_ns();
    job->rc = zkv_snapshot_write_view(self->fs, job->dir, job->view, &job->meta, job->name,
                                      job->err, sizeof job->err);
    job->nanos = zkv_metrics_now_ns() - started;
    zkv_msg_t done = {.type = ZKV_MSG_SNAPSHOT_WRITTEN, .job.address = msg->job.address};
    zkv_port_send(&self->port, ZKV_ACTOR_STORAGE, &done);
}

/*  The directory of path, in dir. */
static void s_dir_of(const char *path, char *dir, size_t size)
{
    snprintf(dir, size, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, size, ".");
}

/*  A file nobody reads any more; one left behind by a crash is removed again
    by whoever dropped it (the WAL at its next drop, storage at its next prune). */
static void s_remove(const zkv_disk_t *self, const zkv_msg_t *msg)
{
    char path[ZKV_DATA_PATH_SIZE_MAX], dir[ZKV_DATA_PATH_SIZE_MAX];
    zkv_msg_text(msg, path, sizeof path);
    s_dir_of(path, dir, sizeof dir);
    if (zkv_fs_unlink(self->fs, path) != ZKV_OK || zkv_fs_sync_dir(self->fs, dir) != ZKV_OK)
        zkv_tracer_emit(self->tracer, "disk", 0, 0, 0, 0, "remove %s failed: %s", path,
                        strerror(errno));
}

static void s_prune(const zkv_disk_t *self, const zkv_msg_t *msg)
{
    char path[ZKV_DATA_PATH_SIZE_MAX], dir[ZKV_DATA_PATH_SIZE_MAX], err[512] = "";
    zkv_msg_text(msg, path, sizeof path);
    s_dir_of(path, dir, sizeof dir);
    const char *name = strrchr(path, '/');
    if (name && zkv_snapshot_prune(self->fs, dir, name + 1, NULL, err, sizeof err) != ZKV_OK)
        zkv_tracer_emit(self->tracer, "snapshot", 0, 0, 0, 0, "prune failed: %s", err);
}

void zkv_disk_handle(const zkv_disk_t *self, const zkv_msg_t *msg)
{
    switch (msg->type) {
    case ZKV_MSG_WRITE_SNAPSHOT: s_write(self, msg); break;
    case ZKV_MSG_REMOVE: s_remove(self, msg); break;
    case ZKV_MSG_PRUNE: s_prune(self, msg); break;
    default: assert(!"not a message for the disk actor");
    }
}

/* ---------------------------------------------------------------- actor */

#define DISK_NICE 10
/*  A large file is cut this much at a time before it is removed. */
#define DISK_TRUNCATE_STEP (8u << 20)

/*  Freeing a large file's blocks in one go is one long journal transaction
    on ext4, and every WAL sync on the disk waits for it (a 300 MB snapshot:
    100-200 ms); cut from the end a step at a time, each its own transaction,
    as RocksDB's delete scheduler does. */
static int s_unlink_in_steps(void *ctx, const char *path)
{
    const zkv_fs_t *fs = zkv_fs_posix();
    int fd;
    uint64_t size = 0;
    if (zkv_fs_open(fs, path, ZKV_FS_WRITE, &fd) == ZKV_OK) {
        if (fs->size(fs->ctx, fd, &size) == ZKV_OK)
            while (size > DISK_TRUNCATE_STEP &&
                   fs->truncate(fs->ctx, fd, size - DISK_TRUNCATE_STEP) == ZKV_OK)
                size -= DISK_TRUNCATE_STEP;
        zkv_fs_close(fs, fd);
    }
    return fs->unlink(ctx, path);
}

typedef struct {
    zsock_t *storage; /* PAIR, bound: "disk-storage" */
    zsock_t *log;     /* PAIR, bound: "disk-log" */
    zkv_fs_t fs;      /* the system's, with removals in steps */
    zkv_disk_t disk;
} shell_t;

typedef struct {
    uint32_t node_id;
    zkv_metrics_t *metrics;
} disk_args_t;

static int s_shell_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    shell_t *shell = ctx;
    assert(to == ZKV_ACTOR_STORAGE);
    return zkv_msg_send(msg, shell->storage);
}

static bool s_read(shell_t *shell, zsock_t *sock)
{
    zkv_msg_t msg;
    if (!zkv_msg_recv(sock, &msg))
        return false;
    zkv_disk_handle(&shell->disk, &msg);
    zkv_msg_clear(&msg);
    return true;
}

static bool s_on_storage(void *arg)
{
    shell_t *shell = arg;
    return s_read(shell, shell->storage);
}

static bool s_on_log(void *arg)
{
    shell_t *shell = arg;
    return s_read(shell, shell->log);
}

static void s_disk_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("disk");
    /* Background work: on a busy machine the threads that answer go first
       (Linux: a thread's own nice value). */
    setpriority(PRIO_PROCESS, (id_t) gettid(), DISK_NICE);
    disk_args_t *args = arg;
    shell_t shell = {.storage = zkv_actor_pair(args->node_id, "disk-storage", true),
                     .log = zkv_actor_pair(args->node_id, "disk-log", true)};
    shell.fs = *zkv_fs_posix();
    shell.fs.unlink = s_unlink_in_steps;
    shell.disk =
        (zkv_disk_t){.fs = &shell.fs,
                     .port = {.ctx = &shell, .metrics = args->metrics, .send = s_shell_send},
                     .tracer = zkv_tracer_new(args->node_id)};
    if (!shell.storage || !shell.log) {
        zsock_destroy(&shell.storage);
        zsock_destroy(&shell.log);
        zkv_tracer_destroy(&shell.disk.tracer);
        zkv_actor_ready(pipe, 1);
        return;
    }
    zsock_set_rcvtimeo(shell.storage, 0);
    zsock_set_rcvtimeo(shell.log, 0);
    zkv_loop_t *loop = zkv_loop_new(pipe, &shell);
    zkv_loop_reader(loop, shell.storage, s_on_storage, 1);
    zkv_loop_reader(loop, shell.log, s_on_log, 1);
    zkv_actor_ready(pipe, 0);
    zkv_loop_run(loop);
    zkv_loop_destroy(&loop);
    zsock_destroy(&shell.storage);
    zsock_destroy(&shell.log);
    zkv_tracer_destroy(&shell.disk.tracer);
}

zactor_t *zkv_disk_actor_new(uint32_t node_id, zkv_metrics_t *metrics)
{
    disk_args_t args = {node_id, metrics};
    return zkv_actor_start(s_disk_actor, &args);
}
