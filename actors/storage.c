/*  storage actor: APPLY -> kvstore -> RESULTS; SERVE -> reads -> REPLY;
    snapshots taken and installed. */
#include "storage.h"

#include <assert.h>
#include <inttypes.h>

#include "actor.h"
#include "command.h"
#include "inproc.h"
#include "loop.h"
#include "msg.h"
#include "port.h"
#include "response.h"
#include "snapshot.h"
#include "disk.h"
#include "storage_backup.h"
#include "storage_read.h"
#include "trace.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

#define STORAGE_DRAIN_MAX 1024 /* messages read from one socket before the other's turn */
/*  Read replies on their way to the client actor, in bytes, past which
    reads are refused (busy, retry) until it has taken them: the count of
    requests in flight bounds them, but not their size. */
#ifndef ZKV_REPLY_TRANSIT_MAX
#define ZKV_REPLY_TRANSIT_MAX (64u * 1024 * 1024)
#endif

struct zkv_storage_t {
    zkv_port_t port;
    zkv_config_t config;
    zkv_kvstore_t *kv;
    zkv_tracer_t *tracer; /* borrowed; NULL: none */
    const zkv_fs_t *fs;
    char snap_dir[ZKV_DATA_SUBDIR_SIZE_MAX];
    uint64_t last_term;        /* term of the last applied entry */
    uint64_t snapshot_index;   /* newest snapshot taken or installed */
    uint64_t bytes_since;      /* entry bytes applied since it */
    zkv_snapshot_recv_t *recv; /* a snapshot arriving from the leader */
    uint64_t recv_index;       /* ... and which one */
    uint64_t recv_term;
    zkv_packer_t results; /* of the entries being applied */
    zkv_packer_t events;  /* the changes they make, for the watch actor */
    zkv_packer_t leases;  /* the lease changes, for the client actor's lessor */
    bool events_lost;     /* one did not fit: the watch actor must forget */
    uint8_t *members;     /* the membership applied: a packed zkv.ClusterConfig */
    size_t members_size;
    char snapshot_name[ZKV_SNAPSHOT_NAME_SIZE + 1]; /* of snapshot_index ("": none) */
    zkv_snapshot_job_t *job;                        /* a snapshot being written (NULL: none) */
    zkv_backup_waiter_t *backups;                   /* waiting for it */
    uint64_t transit_base; /* replies in transit at the start: lost with a simulated crash */
};

typedef zkv_storage_t storage_t;

/* ---------------------------------------------------------------- apply */

/*  Apply one entry; a write's result joins the RESULTS batch for the client actor. */
/*  The membership snapshots are taken in from now on (the core checked it
    decodes before it took the entry). */
/*  size bytes of data in a new allocation (never NULL on success, even for 0). */
static uint8_t *s_copy(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (copy && size)
        memcpy(copy, data, size);
    return copy;
}

static void s_set_members(storage_t *self, const uint8_t *data, size_t size)
{
    uint8_t *copy = s_copy(data, size);
    if (!copy)
        return; /* the older one stays: a snapshot's endpoints are only a hint */
    free(self->members);
    self->members = copy;
    self->members_size = size;
}

static void s_apply_entry(storage_t *self, const zkv_raft_entry_t *e)
{
    zkv_decoded_command_t dc;
    self->last_term = e->term;
    self->bytes_since += e->size;
    if (e->type == ZKV_RAFT_ENTRY_CONFIG)
        s_set_members(self, e->data, e->size);
    if (e->type != ZKV_RAFT_ENTRY_NORMAL || !zkv_command_decode(e->data, e->size, &dc)) {
        /* No-ops, configuration entries and (never proposed by us) undecodable
           commands change nothing, identically on every node. */
        zkv_kvstore_skip(self->kv, e->index);
        return;
    }
    zkv_result_t r;
    zkv_kvstore_apply(self->kv, e->index, &dc.cmd, &r);
    zkv_write_result_t w = {
        .client_id = dc.cmd.client_id,
        .sequence = dc.cmd.sequence,
        .status = r.status,
        .found = r.found,
        .has_data = r.data != NULL,
        .index = r.index,
        .count = r.count,
        .cmd_type = (uint8_t) dc.cmd.type,
        .data = r.data,
        .data_size = r.data_size,
    };
    /* Out of memory, the result is not sent: the request times out and its
       retry gets the session table's answer. */
    zkv_pack_result(&self->results, &w);
    zkv_result_clear(&r);
    zkv_command_clear(&dc);
}

static void s_on_event(void *arg, const zkv_event_t *event)
{
    storage_t *self = arg;
    if (!self->events_lost && !zkv_pack_event(&self->events, event))
        self->events_lost = true;
}

/*  The changes of the entries just applied; after a loss (out of memory),
    none of them, and the watch actor forgets up to here. */
static void s_send_events(storage_t *self, uint64_t applied)
{
    zkv_packer_t *events = &self->events;
    if (!self->events_lost && events->size == 0)
        return;
    zframe_t *body = self->events_lost ? NULL : zframe_new(events->data, events->size);
    bool lost = !body;
    if (lost)
        zkv_events_release(events->data, events->size);
    zkv_packer_clear(events);
    zkv_msg_t out = {.type = ZKV_MSG_EVENTS, .events = {lost, applied}, .body = body};
    zkv_port_send(&self->port, ZKV_ACTOR_WATCH, &out);
    self->events_lost = false;
}

static void s_on_lease(void *arg, zkv_lease_change_t change, uint64_t id, uint64_t ttl_s)
{
    storage_t *self = arg;
    zkv_pack_lease(&self->leases, (int) change, id, ttl_s);
}

/*  The lease changes just applied (reset: the whole table, after a restart
    or an install), for the client actor's lessor. */
static void s_send_leases(storage_t *self, bool reset)
{
    if (reset)
        zkv_kvstore_each_lease(self->kv);
    if (!reset && self->leases.size == 0)
        return;
    zkv_msg_t out = {
        .type = ZKV_MSG_LEASES, .leases.reset = reset, .body = zkv_packer_frame(&self->leases)};
    zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &out);
}

static void s_metrics(storage_t *self, uint64_t entries)
{
    zkv_metrics_t *m = self->port.metrics;
    zkv_metric_add(&m->storage.applied_entries, entries);
    zkv_metric_set(&m->storage.keys, zkv_btree_count(zkv_kvstore_tree(self->kv)));
    zkv_metric_set(&m->storage.tree_bytes, zkv_btree_memory(zkv_kvstore_tree(self->kv)));
    zkv_metric_set(&m->storage.sessions, zkv_kvstore_sessions(self->kv));
    zkv_metric_set(&m->storage.leases, zkv_leases_count(zkv_kvstore_leases(self->kv)));
}

void zkv_storage_announce(zkv_storage_t *self)
{
    s_metrics(self, 0);
    zkv_msg_t out = {.type = ZKV_MSG_EVENTS, .events = {1, zkv_kvstore_applied(self->kv)}};
    zkv_port_send(&self->port, ZKV_ACTOR_WATCH, &out);
}

static void s_start_snapshot(storage_t *self);

static bool s_snapshot_due(const storage_t *self)
{
    return zkv_kvstore_applied(self->kv) - self->snapshot_index >= self->config.snapshot_entries ||
           self->bytes_since >= self->config.snapshot_bytes;
}

static void s_apply(storage_t *self, const zkv_msg_t *msg)
{
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    uint64_t first = 0;
    zkv_raft_entry_t e;
    int more;
    while ((more = zkv_unpack_entry(&in, &e)) == 1) {
        assert(e.index == zkv_kvstore_applied(self->kv) + 1); /* our own actor's */
        if (!first)
            first = e.index;
        s_apply_entry(self, &e);
    }
    assert(more == 0);
    uint64_t applied = zkv_kvstore_applied(self->kv);
    zkv_tracer_emit(self->tracer, "apply", self->last_term, applied, 0, 0,
                    "applied=%" PRIu64 " entries=%" PRIu64, applied, applied - first + 1);
    s_send_leases(self, false);
    s_metrics(self, first ? applied - first + 1 : 0);
    zkv_msg_t out = {.type = ZKV_MSG_RESULTS,
                     .results = {applied, zkv_btree_count(zkv_kvstore_tree(self->kv))},
                     .body = zkv_packer_frame(&self->results)};
    zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &out);
    s_send_events(self, applied);
    zkv_msg_t done = {.type = ZKV_MSG_APPLIED, .applied.index = applied};
    zkv_port_send(&self->port, ZKV_ACTOR_REPLICATION, &done);

    if (s_snapshot_due(self))
        s_start_snapshot(self);
}

/* ---------------------------------------------------------------- reads */

static void s_snapshot_path(storage_t *self, const char *name, char *path, size_t size);

static void s_backup_reply(void *arg, uint64_t context, const Zkv__Request *req)
{
    storage_t *self = arg;
    char path[ZKV_DATA_PATH_SIZE_MAX] = "";
    if (self->snapshot_name[0])
        s_snapshot_path(self, self->snapshot_name, path, sizeof path);
    zframe_t *frame = zkv_storage_backup(self->fs, path, self->snapshot_index, req);
    if (!frame)
        return;
    zkv_msg_t reply = {.type = ZKV_MSG_REPLY, .reply.context = context, .body = frame};
    zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &reply);
}

static void s_backup_failed(void *arg, uint64_t context, const Zkv__Request *req)
{
    storage_t *self = arg;
    zkv_msg_t reply = {.type = ZKV_MSG_REPLY,
                       .reply.context = context,
                       .body = zkv_storage_backup_error(req, ZKV__STATUS__UNAVAILABLE,
                                                        "the node could not write a snapshot")};
    if (reply.body)
        zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &reply);
}

/*  A piece of the newest snapshot for a backup; the first one asked for is
    of everything applied (unless the newest already is): it waits for one. */
static void s_backup(storage_t *self, const zkv_msg_t *msg)
{
    Zkv__Request *req = zkv__request__unpack(NULL, zframe_size(msg->body), zframe_data(msg->body));
    if (!req || req->body_case != ZKV__REQUEST__BODY_SNAPSHOT) {
        if (req)
            zkv__request__free_unpacked(req, NULL);
        return;
    }
    uint64_t applied = zkv_kvstore_applied(self->kv);
    if (req->snapshot->index == 0 && req->snapshot->offset == 0 &&
        (applied > self->snapshot_index || !self->snapshot_name[0])) {
        if (zkv_backup_wait(&self->backups, msg->backup.context, applied, msg->body))
            s_start_snapshot(self);
    } else
        s_backup_reply(self, msg->backup.context, req);
    zkv__request__free_unpacked(req, NULL);
}

uint64_t zkv_storage_replies_in_transit(const zkv_storage_t *self)
{
    return zkv_metrics_replies_in_transit(self->port.metrics) - self->transit_base;
}

static void s_serve(storage_t *self, const zkv_msg_t *msg)
{
    assert(msg->serve.index <= zkv_kvstore_applied(self->kv)); /* ReadIndex's promise */
    if (msg->type == ZKV_MSG_BACKUP) {
        s_backup(self, msg);
        return;
    }
    if (zkv_storage_replies_in_transit(self) >= ZKV_REPLY_TRANSIT_MAX) {
        zkv_msg_t busy = {.type = ZKV_MSG_READFAIL,
                          .readfail = {msg->serve.context, (uint64_t) ZKV_EBUSY}};
        zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &busy);
        return;
    }
    zframe_t *response = zkv_storage_read(self->kv, zframe_data(msg->body), zframe_size(msg->body));
    if (!response)
        return;
    /* Counted before it goes, so that the client actor never takes more than was counted. */
    zkv_metric_t *sent = &self->port.metrics->storage.reply_bytes;
    uint64_t size = zframe_size(response);
    zkv_metric_add(sent, size);
    zkv_msg_t reply = {
        .type = ZKV_MSG_REPLY, .reply = {msg->serve.context, size}, .body = response};
    if (zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &reply) != 0)
        zkv_metric_set(sent, zkv_metric_get(sent) - size);
}

/* ---------------------------------------------------------------- snapshots */

static void s_snapshot_path(storage_t *self, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", self->snap_dir, name);
}

/*  A new snapshot is durable: replication reads chunks from it and drops the log before it. */
static void s_announce_snapshot(storage_t *self, uint64_t index, uint64_t term, const char *name)
{
    char path[ZKV_DATA_PATH_SIZE_MAX];
    s_snapshot_path(self, name, path, sizeof path);
    const zkv_fs_t *fs = self->fs;
    int fd;
    uint64_t size = 0;
    if (zkv_fs_open(fs, path, ZKV_FS_READ, &fd) == ZKV_OK) {
        fs->size(fs->ctx, fd, &size);
        zkv_fs_close(fs, fd);
    }
    zkv_metric_set(&self->port.metrics->storage.snapshot_bytes, size);
    zkv_msg_t msg = {
        .type = ZKV_MSG_SNAPSHOT, .snapshot = {index, term, size}, .body = zkv_msg_text_body(path)};
    zkv_port_send(&self->port, ZKV_ACTOR_REPLICATION, &msg);
}

/*  Everything applied, written by the disk actor from a view of the
    tree while applies go on; one at a time. */
static void s_start_snapshot(storage_t *self)
{
    if (self->job)
        return;
    zkv_snapshot_job_t *job = calloc(1, sizeof *job);
    if (!job)
        return;
    snprintf(job->dir, sizeof job->dir, "%s", self->snap_dir);
    uint64_t index = zkv_kvstore_applied(self->kv);
    job->meta = (zkv_snapshot_meta_t){.index = index, .term = self->last_term};
    job->meta.config = s_copy(self->members, self->members_size);
    job->meta.config_size = self->members_size;
    job->meta.app = zkv_kvstore_encode_state(self->kv, &job->meta.app_size);
    job->view = zkv_btree_view_new(zkv_kvstore_tree(self->kv));
    zkv_msg_t msg = {.type = ZKV_MSG_WRITE_SNAPSHOT, .job.address = (uintptr_t) job};
    if (!job->meta.config || !job->meta.app || !job->view ||
        zkv_port_send(&self->port, ZKV_ACTOR_DISK, &msg) != 0) {
        /* The log still holds everything: try again after the next batch. */
        zkv_metric_add(&self->port.metrics->storage.snapshot_failures, 1);
        zkv_tracer_emit(self->tracer, "snapshot", self->last_term, index, 0, 0,
                        "not started: out of memory");
        zkv_snapshot_job_destroy(&job);
        return;
    }
    job->bytes = self->bytes_since;
    self->bytes_since = 0;
    self->job = job;
}

static void s_snapshot_taken(storage_t *self, const zkv_snapshot_job_t *job)
{
    uint64_t index = job->meta.index;
#if ZKV_NODE_PLANTED_BUG == 14
    /* TEST-ONLY planted bug (sim_node_planted_snapshot_late_index): the
       snapshot is announced at what is applied when it is done, past what
       it holds, and the log is dropped up to there. */
    index = zkv_kvstore_applied(self->kv);
#endif
    if (index <= self->snapshot_index)
        return; /* an installed one overtook it: the next PRUNE removes it */
    self->snapshot_index = index;
    zkv_metric_set(&self->port.metrics->storage.snapshot_index, index);
    snprintf(self->snapshot_name, sizeof self->snapshot_name, "%s", job->name);
    char path[ZKV_DATA_PATH_SIZE_MAX];
    s_snapshot_path(self, job->name, path, sizeof path);
    zkv_msg_t prune = {.type = ZKV_MSG_PRUNE, .body = zkv_msg_text_body(path)};
    zkv_port_send(&self->port, ZKV_ACTOR_DISK, &prune);
    zkv_tracer_emit(self->tracer, "snapshot", job->meta.term, index, 0, 0,
                    "taken file=%s keys=%zu ms=%" PRIu64, job->name,
                    zkv_btree_view_count(job->view), job->nanos / 1000000);
    s_announce_snapshot(self, index, job->meta.term, job->name);
}

static void s_snapshot_written(storage_t *self, const zkv_msg_t *msg)
{
    zkv_snapshot_job_t *job = zkv_snapshot_job_of(msg);
    assert(job == self->job);
    self->job = NULL;
    zkv_metrics_t *m = self->port.metrics;
    bool ok = job->rc == ZKV_OK;
    zkv_metric_add(ok ? &m->storage.snapshots : &m->storage.snapshot_failures, 1);
    if (ok) {
        zkv_hist_duration(&m->storage.snapshot_seconds, job->nanos);
        s_snapshot_taken(self, job);
    } else {
        /* The log still holds everything: try again after the next batch. */
        self->bytes_since += job->bytes;
        zkv_tracer_emit(self->tracer, "snapshot", job->meta.term, job->meta.index, 0, 0,
                        "write failed: %s %s", zkv_strerror(job->rc), job->err);
    }
    zkv_snapshot_job_destroy(&job);
    /* Backups that came before it get it; those after it need another. */
    if (!ok)
        zkv_backup_answer(&self->backups, 0, true, s_backup_failed, self);
    else if (zkv_backup_answer(&self->backups, self->snapshot_index, false, s_backup_reply, self))
        s_start_snapshot(self);
    else if (s_snapshot_due(self)) /* more was applied while it was written */
        s_start_snapshot(self);
}

static void s_chunk(storage_t *self, const zkv_msg_t *msg)
{
    uint64_t index = msg->chunk.snapshot_index, term = msg->chunk.snapshot_term;
    zframe_t *data = msg->body;
    if (msg->chunk.offset == 0) {
        zkv_snapshot_recv_destroy(&self->recv);
        self->recv = zkv_snapshot_recv_new(self->fs, self->snap_dir, index, term);
        self->recv_index = index;
        self->recv_term = term;
    }
    if (self->recv && (index != self->recv_index || term != self->recv_term))
        zkv_tracer_emit(self->tracer, "snapshot", term, index, 0, 0,
                        "chunk of another snapshot than %" PRIu64 " term %" PRIu64 " dropped",
                        self->recv_index, self->recv_term);
    else if (self->recv && zkv_snapshot_recv_write(self->recv, msg->chunk.offset, zframe_data(data),
                                                   zframe_size(data)) != ZKV_OK)
        zkv_tracer_emit(self->tracer, "snapshot", term, index, 0, 0, "chunk refused: %s",
                        zkv_snapshot_recv_error(self->recv));
}

/*  A snapshot that was put in place but cannot be restored must not be
    found by the next boot. */
static void s_unlink_snapshot(storage_t *self, const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", self->snap_dir, name);
    zkv_fs_unlink(self->fs, path);
    zkv_fs_sync_dir(self->fs, self->snap_dir);
}

/*  The received snapshot replaces the state machine. Any failure leaves the
    state machine and the directory as they were: the leader sends it again. */
static int s_install(storage_t *self, uint64_t index, uint64_t term, char *name)
{
    zkv_btree_t *tree = NULL;
    zkv_snapshot_meta_t meta = {0};
    /* A snapshot other than the one received (chunks lost or refused) is an
       error; the transfer under way, if any, goes on. */
    if (!self->recv || self->recv_index != index || self->recv_term != term) {
        zsys_error("zkvd: snapshot %" PRIu64 " term %" PRIu64 " from the leader: not received",
                   index, term);
        return ZKV_EINVAL;
    }
    int rc = zkv_snapshot_recv_finish(self->recv, &tree, &meta, name);
    if (rc == ZKV_OK) {
        rc = zkv_kvstore_restore(self->kv, meta.index, &tree, meta.app, meta.app_size);
        if (rc != ZKV_OK)
            s_unlink_snapshot(self, name);
    }
    if (rc == ZKV_OK) {
        if (meta.config)
            s_set_members(self, meta.config, meta.config_size);
        self->last_term = meta.term;
        self->snapshot_index = meta.index;
        zkv_metric_set(&self->port.metrics->storage.snapshot_index, meta.index);
        snprintf(self->snapshot_name, sizeof self->snapshot_name, "%s", name);
        self->bytes_since = 0;
#if ZKV_NODE_PLANTED_BUG == 12
        /* TEST-ONLY planted bug (sim_node_planted_no_watch_reset): the watch
           history goes on over an installed snapshot, a hole in its changes. */
#else
        zkv_storage_announce(self); /* the changes up to the snapshot are unknown */
#endif
        s_send_leases(self, true);
        /* Older snapshots stay until the log's restart after this one is
           durable (PRUNE): a crash before that must find a usable directory. */
    }
    if (rc != ZKV_OK)
        zsys_error("zkvd: snapshot %" PRIu64 " from the leader: %s: %s", index, zkv_strerror(rc),
                   zkv_snapshot_recv_error(self->recv));
    zkv_tracer_emit(self->tracer, "snapshot", term, index, 0, 0, "install %s: %s",
                    rc == ZKV_OK ? "done" : "failed",
                    rc == ZKV_OK ? name : zkv_snapshot_recv_error(self->recv));
    zkv_btree_destroy(&tree);
    zkv_snapshot_meta_clear(&meta);
    zkv_snapshot_recv_destroy(&self->recv);
    return rc;
}

static void s_on_install(storage_t *self, const zkv_msg_t *msg)
{
    char name[ZKV_SNAPSHOT_NAME_SIZE + 1] = "";
    int rc = s_install(self, msg->install.index, msg->install.term, name);
    char path[ZKV_DATA_PATH_SIZE_MAX];
    s_snapshot_path(self, name, path, sizeof path);
    /* 2: our disk failed (a full one, say); the node stops rather than fill
       it again with every retry. 1: the transfer failed; the leader resends. */
    uint64_t status = rc == ZKV_OK ? 0 : rc == ZKV_EIO ? 2 : 1;
    if (rc == ZKV_OK)
        zkv_metric_add(&self->port.metrics->storage.installs, 1);
#if ZKV_NODE_PLANTED_BUG == 10
    /* TEST-ONLY planted bug (sim_node_planted_full_disk_retry): a full disk
       is taken for a failed transfer; the node asks again forever. */
    status = rc == ZKV_OK ? 0 : 1;
#endif
    zkv_msg_t out = {.type = ZKV_MSG_INSTALLED,
                     .installed = {msg->install.index, status},
                     .body = zkv_msg_text_body(path)};
    zkv_port_send(&self->port, ZKV_ACTOR_REPLICATION, &out);
}

/*  The log now restarts after the installed snapshot at path: the older
    snapshots are of no more use (the disk actor removes them). */
static void s_prune(storage_t *self, const zkv_msg_t *msg)
{
    zkv_msg_t prune = {.type = ZKV_MSG_PRUNE, .body = zframe_dup(msg->body)};
    zkv_port_send(&self->port, ZKV_ACTOR_DISK, &prune);
}

/* ---------------------------------------------------------------- handler */

/*  The client actor's status says how far we are and how many keys there
    are; after a restart it knows before anything new is applied. */
static void s_count(storage_t *self)
{
    s_send_leases(self, true);
    zkv_msg_t out = {
        .type = ZKV_MSG_RESULTS,
        .results = {zkv_kvstore_applied(self->kv), zkv_btree_count(zkv_kvstore_tree(self->kv))}};
    zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &out);
}

void zkv_storage_handle(zkv_storage_t *self, const zkv_msg_t *msg)
{
    switch (msg->type) {
    case ZKV_MSG_APPLY: s_apply(self, msg); break;
    case ZKV_MSG_SERVE:
    case ZKV_MSG_BACKUP: s_serve(self, msg); break;
    case ZKV_MSG_CHUNK: s_chunk(self, msg); break;
    case ZKV_MSG_INSTALL: s_on_install(self, msg); break;
    case ZKV_MSG_PRUNE: s_prune(self, msg); break;
    case ZKV_MSG_COUNT: s_count(self); break;
    case ZKV_MSG_SNAPSHOT_WRITTEN: s_snapshot_written(self, msg); break;
    default: assert(!"not a message for storage");
    }
}

bool zkv_storage_stop_snapshot(zkv_storage_t *self)
{
    if (self->job)
        zkv_btree_view_stop(self->job->view);
    return self->job != NULL;
}

const zkv_kvstore_t *zkv_storage_kv(const zkv_storage_t *self)
{
    return self->kv;
}

zkv_storage_t *zkv_storage_new(const zkv_config_t *config, const zkv_fs_t *fs, zkv_kvstore_t **kv_p,
                               const zkv_storage_start_t *start, const zkv_port_t *port,
                               zkv_tracer_t *tracer)
{
    zkv_storage_t *self = zmalloc(sizeof *self);
    s_set_members(self, start->members, start->members_size);
    if (!self->members) {
        free(self);
        return NULL;
    }
    uint64_t last_term = start->last_term;
    self->port = *port;
    self->config = *config;
    self->kv = *kv_p;
    *kv_p = NULL;
    zkv_kvstore_on_event(self->kv, s_on_event, self);
    zkv_kvstore_on_lease(self->kv, s_on_lease, self);
    self->last_term = last_term;
    self->fs = fs;
    self->tracer = tracer;
    snprintf(self->snap_dir, sizeof self->snap_dir, "%s/snap", self->config.data_dir);
    self->snapshot_index = zkv_kvstore_applied(self->kv);
    zkv_metric_set(&self->port.metrics->storage.snapshot_index, self->snapshot_index);
    self->transit_base = zkv_storage_replies_in_transit(self);
    const char *slash = start->snapshot_path ? strrchr(start->snapshot_path, '/') : NULL;
    snprintf(self->snapshot_name, sizeof self->snapshot_name, "%s", slash ? slash + 1 : "");
    return self;
}

void zkv_storage_destroy(zkv_storage_t **self_p)
{
    zkv_storage_t *self = *self_p;
    if (!self)
        return;
    zkv_snapshot_job_destroy(&self->job);
    zkv_backup_waiters_free(&self->backups);
    zkv_snapshot_recv_destroy(&self->recv);
    zkv_packer_free(&self->results);
    zkv_events_release(self->events.data, self->events.size);
    zkv_packer_free(&self->events);
    zkv_packer_free(&self->leases);
    zkv_kvstore_destroy(&self->kv);
    free(self->members);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- actor */

typedef struct {
    zsock_t *replication; /* PAIR, bound: "storage" */
    zsock_t *client;      /* PAIR, bound: "client-storage" */
    zsock_t *watch;       /* PAIR, connected: "watch" */
    zsock_t *disk;        /* PAIR, connected: "disk-storage" */
    zkv_tracer_t *tracer;
    zkv_storage_t *storage;
} shell_t;

typedef struct {
    const zkv_config_t *config;
    zkv_kvstore_t *kv;
    const zkv_storage_start_t *start;
    zkv_metrics_t *metrics;
} storage_args_t;

static int s_shell_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    shell_t *shell = ctx;
    assert(to == ZKV_ACTOR_REPLICATION || to == ZKV_ACTOR_CLIENT || to == ZKV_ACTOR_WATCH ||
           to == ZKV_ACTOR_DISK);
    zsock_t *sock = to == ZKV_ACTOR_CLIENT  ? shell->client
                    : to == ZKV_ACTOR_WATCH ? shell->watch
                    : to == ZKV_ACTOR_DISK  ? shell->disk
                                            : shell->replication;
    return zkv_msg_send(msg, sock);
}

static bool s_read(shell_t *shell, zsock_t *sock)
{
    zkv_msg_t msg;
    if (!zkv_msg_recv(sock, &msg))
        return false;
    zkv_storage_handle(shell->storage, &msg);
    zkv_msg_clear(&msg);
    return true;
}

static bool s_on_replication(void *arg)
{
    shell_t *shell = arg;
    return s_read(shell, shell->replication);
}

static bool s_on_client(void *arg)
{
    shell_t *shell = arg;
    return s_read(shell, shell->client);
}

static bool s_on_disk(void *arg)
{
    shell_t *shell = arg;
    return s_read(shell, shell->disk);
}

/*  No job outlives its tree: a snapshot under way is cut short and its
    answer awaited (the disk actor stops after this one). */
static void s_shell_destroy(shell_t *shell)
{
    if (shell->storage && zkv_storage_stop_snapshot(shell->storage)) {
        zsock_set_rcvtimeo(shell->disk, -1);
        zkv_msg_t msg;
        while (zkv_storage_stop_snapshot(shell->storage) && zkv_msg_recv(shell->disk, &msg)) {
            zkv_storage_handle(shell->storage, &msg);
            zkv_msg_clear(&msg);
        }
    }
    zkv_storage_destroy(&shell->storage);
    zsock_destroy(&shell->disk);
    zkv_tracer_destroy(&shell->tracer);
    zsock_destroy(&shell->replication);
    zsock_destroy(&shell->client);
    zsock_destroy(&shell->watch);
}

static void s_storage_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("storage");
    storage_args_t *args = arg;
    shell_t shell = {0};
    uint32_t id = args->config->id;
    shell.tracer = zkv_tracer_new(id);
    zkv_port_t port = {.ctx = &shell, .metrics = args->metrics, .send = s_shell_send};
    shell.storage =
        zkv_storage_new(args->config, zkv_fs_posix(), &args->kv, args->start, &port, shell.tracer);
    shell.replication = zkv_actor_pair(id, "storage", true);
    shell.client = zkv_actor_pair(id, "client-storage", true);
    shell.watch = zkv_actor_pair(id, "watch", false);
    shell.disk = zkv_actor_pair(id, "disk-storage", false);
    if (!shell.storage || !shell.replication || !shell.client || !shell.watch || !shell.disk) {
        s_shell_destroy(&shell);
        zkv_actor_ready(pipe, 1);
        return;
    }
    /* The client and replication actors stop first: never block on them.
       Read until empty (zkv_msg_recv then says 0) before polling again. */
    zsock_t *socks[] = {shell.replication, shell.client, shell.watch, shell.disk};
    for (size_t i = 0; i < 4; i++) {
        zsock_set_sndtimeo(socks[i], 0);
        zsock_set_rcvtimeo(socks[i], 0);
    }
    zkv_storage_announce(shell.storage);
    zkv_loop_t *loop = zkv_loop_new(pipe, &shell);
    zkv_loop_reader(loop, shell.replication, s_on_replication, STORAGE_DRAIN_MAX);
    zkv_loop_reader(loop, shell.client, s_on_client, STORAGE_DRAIN_MAX);
    zkv_loop_reader(loop, shell.disk, s_on_disk, 1);
    zkv_actor_ready(pipe, 0);
    zkv_loop_run(loop);
    zkv_loop_destroy(&loop);
    s_shell_destroy(&shell);
}

zactor_t *zkv_storage_actor_new(const zkv_config_t *config, zkv_kvstore_t **kv_p,
                                const zkv_storage_start_t *start, zkv_metrics_t *metrics)
{
    storage_args_t args = {config, *kv_p, start, metrics};
    *kv_p = NULL;
    return zkv_actor_start(s_storage_actor, &args);
}
