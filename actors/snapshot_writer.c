/*  snapshot writer actor (snapshot_writer.h). */
#include "snapshot_writer.h"

#include <assert.h>

#include "actor.h"
#include "loop.h"
#include "metrics.h"
#include "msg.h"

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

void zkv_snapshot_writer_handle(const zkv_port_t *port, const zkv_msg_t *msg)
{
    assert(msg->type == ZKV_MSG_WRITE_SNAPSHOT);
    zkv_snapshot_job_t *job = zkv_snapshot_job_of(msg);
    uint64_t started = zkv_metrics_now_ns();
    job->rc = zkv_snapshot_write_view(job->fs, job->dir, job->view, &job->meta, job->name,
                                      job->err, sizeof job->err);
    job->nanos = zkv_metrics_now_ns() - started;
    zkv_msg_t done = {.type = ZKV_MSG_SNAPSHOT_WRITTEN, .job.address = msg->job.address};
    zkv_port_send(port, ZKV_ACTOR_STORAGE, &done);
}

/* ---------------------------------------------------------------- actor */

typedef struct {
    zsock_t *pair; /* to the storage actor */
    zkv_port_t port;
} shell_t;

static int s_shell_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    shell_t *shell = ctx;
    assert(to == ZKV_ACTOR_STORAGE);
    return zkv_msg_send(msg, shell->pair);
}

static bool s_on_pair(void *arg)
{
    shell_t *shell = arg;
    zkv_msg_t msg;
    if (!zkv_msg_recv(shell->pair, &msg))
        return false;
    zkv_snapshot_writer_handle(&shell->port, &msg);
    zkv_msg_clear(&msg);
    return true;
}

static void s_writer_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("snapshot");
    uint32_t node_id = *(const uint32_t *) arg;
    shell_t shell = {.pair = zkv_actor_pair(node_id, "snapshot", false)};
    shell.port = (zkv_port_t){.ctx = &shell, .send = s_shell_send};
    if (!shell.pair) {
        zkv_actor_ready(pipe, 1);
        return;
    }
    zsock_set_rcvtimeo(shell.pair, 0);
    zkv_loop_t *loop = zkv_loop_new(pipe, &shell);
    zkv_loop_reader(loop, shell.pair, s_on_pair, 1);
    zkv_actor_ready(pipe, 0);
    zkv_loop_run(loop);
    zkv_loop_destroy(&loop);
    zsock_destroy(&shell.pair);
}

zactor_t *zkv_snapshot_writer_actor_new(uint32_t node_id)
{
    return zkv_actor_start(s_writer_actor, &node_id);
}
