/*  log actor: PERSIST -> WAL append, one sync per drained batch -> DURABLE.
    The handler (zkv_log_*) and, below it, the czmq actor that runs it. */
#include "log.h"

#include <inttypes.h>

#include "actor.h"
#include "inproc.h"
#include "loop.h"
#include "msg.h"
#include "peer_codec.h"
#include "peer_socket.h"
#include "port.h"
#include "security.h"
#include "trace.h"
#include "zkv_error.h"

#define LOG_BATCH_MAX 4096 /* PERSIST messages folded into one sync */
#define LOG_ACK_HWM 1000   /* acknowledgements waiting for the leader's connection */

struct zkv_log_t {
    zkv_port_t port;
    zkv_wal_t *wal;
    zkv_tracer_t *tracer;     /* borrowed; NULL: no tracing */
    zkv_wal_entry_t *entries; /* scratch for one PERSIST */
    size_t entries_capacity;
    bool failed;     /* the WAL refused a write: nothing more is acknowledged */
    bool wrote;      /* this round: a sync is due */
    uint64_t first;  /* last index before this round's writes */
    size_t messages; /* this round's */
    uint64_t durable_id;
    zkv_msg_t ack; /* the latest ACK to send (type 0: none), its body the leader's host */
};

typedef zkv_log_t log_t;

static void s_fail(log_t *self, const char *what, int rc)
{
    self->failed = true;
    char text[1024];
    snprintf(text, sizeof text, "%s: %s: %s", what, zkv_strerror(rc), zkv_wal_error(self->wal));
    zkv_msg_t fatal = {.type = ZKV_MSG_FATAL, .body = zkv_msg_text_body(text)};
    zkv_port_send(&self->port, ZKV_ACTOR_REPLICATION, &fatal);
}

static bool s_reserve(log_t *self, size_t n)
{
    if (n <= self->entries_capacity)
        return true;
    size_t capacity = self->entries_capacity ? self->entries_capacity * 2 : 256;
    if (capacity < n)
        capacity = n;
    zkv_wal_entry_t *grown = realloc(self->entries, capacity * sizeof *grown);
    if (!grown)
        return false;
    self->entries = grown;
    self->entries_capacity = capacity;
    return true;
}

static int s_apply_state(log_t *self, const zkv_msg_t *msg)
{
    int rc = ZKV_OK;
    uint64_t flags = msg->persist.flags;
    if (flags & ZKV_MSG_PERSIST_SNAPSHOT)
        rc = zkv_wal_reset(self->wal, msg->persist.snapshot_index + 1);
    if (rc == ZKV_OK && (flags & ZKV_MSG_PERSIST_HARD_STATE)) {
        zkv_wal_hard_state_t state = {
            .term = msg->persist.term,
            .vote = (uint32_t) msg->persist.vote,
            .commit = msg->persist.commit,
        };
        rc = zkv_wal_set_hard_state(self->wal, &state);
    }
    return rc;
}

/*  Entries may begin at or below the last stored one: a new leader overwrote
    the suffix. Drop it, then append. */
static int s_append(log_t *self, zframe_t *packed)
{
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, packed);
    size_t n = 0;
    zkv_raft_entry_t e;
    int more;
    while ((more = zkv_unpack_entry(&in, &e)) == 1) {
        if (!s_reserve(self, n + 1))
            return ZKV_ENOMEM;
        self->entries[n++] = (zkv_wal_entry_t){e.index, e.term, e.type, e.data, e.size};
    }
    if (more < 0)
        return ZKV_EINVAL;
    if (n == 0)
        return ZKV_OK;
    if (self->entries[0].index <= zkv_wal_last_index(self->wal)) {
        int rc = zkv_wal_truncate(self->wal, self->entries[0].index);
        if (rc != ZKV_OK)
            return rc;
    }
    return zkv_wal_append(self->wal, self->entries, n);
}

/*  One PERSIST: hard state, snapshot, entries. */
static int s_persist(log_t *self, const zkv_msg_t *msg)
{
    int rc = s_apply_state(self, msg);
    if (rc == ZKV_OK)
        rc = s_append(self, msg->body);
    if (rc == ZKV_OK && msg->persist.ready_id > self->durable_id)
        self->durable_id = msg->persist.ready_id;
    return rc;
}

static bool s_load_visit(const zkv_wal_entry_t *e, void *arg)
{
    zkv_raft_entry_t entry = {
        .index = e->index, .term = e->term, .type = e->type, .data = e->data, .size = e->size};
    return zkv_pack_entry(arg, &entry);
}

/*  Entries a leader's follower needs that its Raft core let go of. What
    cannot be read (compacted, or the disk failed) is answered with none. */
static void s_load(log_t *self, const zkv_msg_t *msg)
{
    zkv_packer_t out = {0};
    int rc = ZKV_ENOTFOUND;
    if (msg->load.lo < msg->load.hi) /* the log's hi is inclusive */
        rc = zkv_wal_read(self->wal, msg->load.lo, msg->load.hi - 1, msg->load.bytes_max,
                          s_load_visit, &out, NULL);
    zframe_t *body = zkv_packer_frame(&out);
    zkv_packer_free(&out);
    if (rc != ZKV_OK || !body) {
        zframe_destroy(&body);
        body = zframe_new_empty();
    }
    zkv_msg_t loaded = {
        .type = ZKV_MSG_LOADED, .loaded = {msg->load.peer, msg->load.lo}, .body = body};
    zkv_port_send(&self->port, ZKV_ACTOR_REPLICATION, &loaded);
}

/*  A newer acknowledgement replaces one not sent yet: it says more. */
static void s_hold_ack(log_t *self, const zkv_msg_t *msg)
{
    zkv_msg_clear(&self->ack);
    self->ack = (zkv_msg_t){.type = ZKV_MSG_ACK, .ack = msg->ack, .body = zframe_dup(msg->body)};
}

/*  The acknowledgement whose entries are durable, unless a newer term was
    written since (the Raft core drops what it held in such a term too). */
static void s_send_ack(log_t *self)
{
    if (self->ack.type != ZKV_MSG_ACK || self->ack.ack.ready_id > self->durable_id)
        return;
    zkv_wal_hard_state_t hs;
    zkv_wal_hard_state(self->wal, &hs);
    char host[ZKV_HOST_SIZE_MAX];
    zkv_msg_text(&self->ack, host, sizeof host);
    if (self->ack.ack.term >= hs.term && host[0] && self->port.ack) {
        zkv_raft_msg_t m = {.type = ZKV_RAFT_MSG_APPEND_RESPONSE,
                            .from = (uint32_t) self->ack.ack.from,
                            .to = (uint32_t) self->ack.ack.to,
                            .term = self->ack.ack.term,
                            .index = self->ack.ack.index};
        self->port.ack(self->port.ctx, &m, self->ack.ack.cluster_id, host,
                       (uint16_t) self->ack.ack.port);
        zkv_tracer_emit(self->tracer, "ack", m.term, m.index, m.to, 0, "sent match=%" PRIu64,
                        m.index);
    }
    zkv_msg_clear(&self->ack);
}

void zkv_log_handle(zkv_log_t *self, const zkv_msg_t *msg)
{
    if (self->failed)
        return;
    if (msg->type == ZKV_MSG_LOAD) {
        s_load(self, msg);
        return;
    }
    if (msg->type == ZKV_MSG_ACK) {
        s_hold_ack(self, msg);
        return;
    }
    if (!self->wrote && !self->messages)
        self->first = zkv_wal_last_index(self->wal);
    self->messages++;
    int rc = ZKV_OK;
    if (msg->type == ZKV_MSG_PERSIST) {
        if ((rc = s_persist(self, msg)) != ZKV_OK)
            s_fail(self, "log write failed", rc);
        self->wrote = true;
    } else if (msg->type == ZKV_MSG_DROP) {
        if ((rc = zkv_wal_drop_before(self->wal, msg->drop.index)) != ZKV_OK)
            s_fail(self, "dropping old log segments failed", rc);
    } else
        assert(!"unknown log message");
}

static void s_metrics(log_t *self, uint64_t started_ns, uint64_t entries, uint64_t bytes)
{
    zkv_metrics_t *m = self->port.metrics;
    zkv_hist_since(&m->wal.fsync_seconds, started_ns);
    zkv_hist_size(&m->wal.entries_per_fsync, entries);
    zkv_metric_add(&m->wal.written_bytes, bytes);
    size_t segments = zkv_wal_segment_count(self->wal);
    zkv_metric_set(&m->wal.segments, segments);
    zkv_metric_set(&m->wal.bytes, segments * zkv_wal_segment_size(self->wal));
}

void zkv_log_round(zkv_log_t *self)
{
    bool wrote = self->wrote;
    size_t messages = self->messages;
    self->wrote = false;
    self->messages = 0;
    if (self->failed)
        return;
    if (!wrote) {
        s_send_ack(self); /* its entries were synced in an earlier round */
        return;
    }
    int64_t started = zclock_usecs();
    uint64_t started_ns = zkv_metrics_now_ns();
    uint64_t bytes = zkv_wal_unsynced_bytes(self->wal);
#if ZKV_NODE_PLANTED_BUG == 2
    /* TEST-ONLY planted bug (sim_node_planted_ack_before_sync): report writes
       durable without syncing them; a crash may lose them. */
    int rc = ZKV_OK;
#else
    int rc = zkv_wal_sync(self->wal);
#endif
    if (rc != ZKV_OK) {
        s_fail(self, "log sync failed", rc);
        return;
    }
    /* latency: the sync alone; entries: how far the log grew (0 after a truncation). */
    uint64_t last = zkv_wal_last_index(self->wal);
    s_metrics(self, started_ns, last > self->first ? last - self->first : 0, bytes);
    zkv_tracer_emit(self->tracer, "persist", 0, last, 0, (uint64_t) (zclock_usecs() - started),
                    "entries=%" PRIu64 " messages=%zu", last > self->first ? last - self->first : 0,
                    messages);
    s_send_ack(self);
    zkv_msg_t durable = {.type = ZKV_MSG_DURABLE, .durable.ready_id = self->durable_id};
    zkv_port_send(&self->port, ZKV_ACTOR_REPLICATION, &durable);
}

bool zkv_log_failed(const zkv_log_t *self)
{
    return self->failed;
}

const zkv_wal_t *zkv_log_wal(const zkv_log_t *self)
{
    return self->wal;
}

/*  A dropped segment goes to the disk actor, whose deletion holds up no sync. */
static void s_remove(const char *path, void *arg)
{
    log_t *self = arg;
    zkv_msg_t msg = {.type = ZKV_MSG_REMOVE, .body = zkv_msg_text_body(path)};
    zkv_port_send(&self->port, ZKV_ACTOR_DISK, &msg);
}

zkv_log_t *zkv_log_new(zkv_wal_t **wal_p, const zkv_port_t *port, zkv_tracer_t *tracer)
{
    zkv_log_t *self = zmalloc(sizeof *self);
    self->wal = *wal_p;
    *wal_p = NULL;
    self->port = *port;
    self->tracer = tracer;
    zkv_wal_on_remove(self->wal, s_remove, self);
    return self;
}

void zkv_log_destroy(zkv_log_t **self_p)
{
    zkv_log_t *self = *self_p;
    if (!self)
        return;
    /* Whatever was acknowledged is durable already; a last sync is for tidiness. */
    if (!self->failed)
        zkv_wal_sync(self->wal);
    zkv_wal_destroy(&self->wal);
    zkv_msg_clear(&self->ack);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- actor */

typedef struct {
    zkv_config_t config;
    zsock_t *pair;   /* to the replication actor */
    zsock_t *disk;   /* PAIR, connected: "disk-log" */
    zsock_t *leader; /* DEALER to the leader's ROUTER, for acknowledgements */
    char leader_key[ZKV_HOST_SIZE_MAX + 32]; /* whom it reaches: "id@host:port" */
    zkv_tracer_t *tracer;
    zkv_log_t *log;
} shell_t;

typedef struct {
    const zkv_config_t *config;
    zkv_wal_t *wal;
    zkv_metrics_t *metrics;
} log_args_t;

/*  A DEALER to the leader's ROUTER under the node's peer certificate, made
    again when the leader or its address changes. Until it connects, what is
    sent waits in it (up to LOG_ACK_HWM); a leader it cannot be made for
    (no certificate of it) hears us when it asks again. */
static zsock_t *s_leader_dealer(shell_t *shell, uint32_t id, const char *host, uint16_t port)
{
    char key[sizeof shell->leader_key];
    snprintf(key, sizeof key, "%u@%s:%u", id, host, port);
    if (streq(key, shell->leader_key))
        return shell->leader;
    zsock_destroy(&shell->leader);
    snprintf(shell->leader_key, sizeof shell->leader_key, "%s", key);
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_sndhwm(sock, LOG_ACK_HWM);
    zsock_set_sndtimeo(sock, 0);
    zsock_set_linger(sock, 0);
    zkv_peer_socket_liveness(&shell->config, sock);
    char err[512] = "cannot connect", endpoint[ZKV_HOST_SIZE_MAX * 2 + 64];
    if (zkv_security_peer_client(&shell->config, sock, id, err, sizeof err) != 0 ||
        zkv_peer_socket_connect(&shell->config, sock, host, port, endpoint, sizeof endpoint) != 0) {
        zsys_error("zkvd: log actor: not acknowledging to leader %u: %s", id, err);
        zsock_destroy(&sock);
    }
    shell->leader = sock;
    return sock;
}

static void s_shell_ack(void *ctx, const zkv_raft_msg_t *msg, uint64_t cluster_id, const char *host,
                        uint16_t port)
{
    shell_t *shell = ctx;
    zsock_t *sock = s_leader_dealer(shell, msg->to, host, port);
    zframe_t *frame = sock ? zkv_peer_encode(msg, cluster_id) : NULL;
    if (!frame)
        return;
    zframe_send(&frame, sock, ZFRAME_DONTWAIT); /* a lost ack is asked for again */
    zframe_destroy(&frame);
}

static int s_shell_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    shell_t *shell = ctx;
    assert(to == ZKV_ACTOR_REPLICATION || to == ZKV_ACTOR_DISK);
    return zkv_msg_send(msg, to == ZKV_ACTOR_DISK ? shell->disk : shell->pair);
}

static bool s_on_pair(void *arg)
{
    shell_t *shell = arg;
    zkv_msg_t msg;
    if (zkv_log_failed(shell->log) || !zkv_msg_recv(shell->pair, &msg))
        return false;
    zkv_log_handle(shell->log, &msg);
    zkv_msg_clear(&msg);
    return true;
}

/*  After a drained round: make it durable at once. */
static int64_t s_on_round(void *arg)
{
    shell_t *shell = arg;
    zkv_log_round(shell->log);
    return -1;
}

static void s_log_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("log");
    log_args_t *args = arg;
    uint32_t node_id = args->config->id;
    shell_t shell = {.config = *args->config,
                     .pair = zkv_actor_pair(node_id, "log", true),
                     .disk = zkv_actor_pair(node_id, "disk-log", false)};
    if (shell.pair) { /* the replication actor stops first: never block on it */
        zsock_set_sndtimeo(shell.pair, 0);
        zsock_set_rcvtimeo(shell.pair, 0);
    }
    if (shell.disk)
        zsock_set_sndtimeo(shell.disk, 0);
    shell.tracer = zkv_tracer_new(node_id);
    zkv_port_t port = {
        .ctx = &shell, .metrics = args->metrics, .send = s_shell_send, .ack = s_shell_ack};
    shell.log = zkv_log_new(&args->wal, &port, shell.tracer);
    if (!shell.pair || !shell.disk) {
        zsock_destroy(&shell.pair);
        zsock_destroy(&shell.disk);
        zkv_log_destroy(&shell.log);
        zkv_tracer_destroy(&shell.tracer);
        zkv_actor_ready(pipe, 1);
        return;
    }
    zkv_loop_t *loop = zkv_loop_new(pipe, &shell);
    zkv_loop_reader(loop, shell.pair, s_on_pair, LOG_BATCH_MAX);
    zkv_loop_on_round(loop, s_on_round, -1);
    zkv_actor_ready(pipe, 0);
    zkv_loop_run(loop);
    zkv_loop_destroy(&loop);
    zkv_log_destroy(&shell.log);
    zsock_destroy(&shell.leader);
    zsock_destroy(&shell.pair);
    zsock_destroy(&shell.disk);
    zkv_tracer_destroy(&shell.tracer);
}

zactor_t *zkv_log_actor_new(const zkv_config_t *config, zkv_wal_t **wal_p, zkv_metrics_t *metrics)
{
    log_args_t args = {.config = config, .wal = *wal_p, .metrics = metrics};
    *wal_p = NULL;
    return zkv_actor_start(s_log_actor, &args);
}
