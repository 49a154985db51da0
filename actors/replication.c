/*  replication: the Ready loop of the Raft core, as a handler (zkv_repl_*)
    that any shell can run: the czmq actor (replication_actor.c) over inproc
    and peer sockets, or the node simulation over queues. */
#include "replication.h"

#include <inttypes.h>

#include "inproc.h"
#include "le.h"
#include "peer_codec.h"
#include "replication_cluster.h"
#include "replication_metrics.h"
#include "zkv_error.h"

#define PROPOSE_BATCH_MAX 4096

struct zkv_repl_t {
    zkv_port_t port;
    zkv_config_t config;
    const zkv_fs_t *fs;
    zkv_raft_t *raft;
    zkv_tracer_t *tracer; /* borrowed; NULL: none */
    zhashx_t *reads;      /* context -> request frame awaiting ReadIndex */
    /* Installing a leader's snapshot: the Ready that carries it waits for
       storage's INSTALLED; meanwhile the shell hands in only storage's
       messages, and what else storage says waits too (the core takes no
       calls inside a Ready). */
    bool installing;
    zkv_raft_ready_t install_rd;
    zlist_t *deferred; /* zkv_msg_t *: storage messages that came during an install */
    /* The snapshot chunks are read from, for followers behind the log. */
    char snapshot_path[ZKV_DATA_PATH_SIZE_MAX];
    int snapshot_fd;         /* on fs; -1: none */
    uint64_t snapshot_index; /* of the file at snapshot_fd */
    uint8_t *chunk_buf;
    size_t chunk_buf_size;
    uint64_t compact_index;  /* a snapshot whose log is still to be dropped (0: none) */
    uint64_t prune_ready_id; /* older snapshots go once this Ready is durable (0: none) */
    uint64_t compact_size;
    /* Last state told to the client actor; unsent while it was not there. */
    zkv_raft_status_t told;
    bool state_unsent;
    uint64_t match_regressions; /* the count last traced */
    bool fatal;
    uint64_t refused;         /* peer messages refused as malformed or over a limit */
    zkv_packer_t packer;      /* entries of PERSIST and APPLY */
    zkv_raft_entry_t *loaded; /* scratch for entries read back (LOADED) */
    size_t loaded_cap;
    zkv_repl_cluster_t cluster;
    zkv_repl_metrics_t metrics;
#if ZKV_NODE_PLANTED_BUG == 3
    uint64_t planted_recv_term;
#endif
};

typedef zkv_repl_t repl_t;

/* ---------------------------------------------------------------- sending */

/*  A snapshot chunk leaves the core without its bytes: read them from the file. */
static bool s_attach_chunk(repl_t *self, zkv_raft_msg_t *msg)
{
    if (self->snapshot_fd < 0 || msg->snapshot.index != self->snapshot_index ||
        msg->chunk_size > ZKV_RAFT_CHUNK_SIZE_MAX)
        return false;
    if (msg->chunk_size > self->chunk_buf_size) {
        uint8_t *grown = realloc(self->chunk_buf, msg->chunk_size);
        if (!grown)
            return false;
        self->chunk_buf = grown;
        self->chunk_buf_size = msg->chunk_size;
    }
    size_t got = 0;
    if (zkv_fs_pread(self->fs, self->snapshot_fd, self->chunk_buf, msg->chunk_size,
                     msg->chunk_offset, &got) != ZKV_OK ||
        got != msg->chunk_size)
        return false;
    msg->chunk = self->chunk_buf;
    return true;
}

static void s_trace_message(repl_t *self, const zkv_raft_msg_t *msg)
{
    if (msg->type == ZKV_RAFT_MSG_APPEND && msg->n_entries > 0)
        zkv_tracer_emit(self->tracer, "append", msg->term, msg->index + msg->n_entries, msg->to, 0,
                        "to=%s entries=%zu prev=%" PRIu64 " commit=%" PRIu64,
                        msg->to ? "peer" : "all", msg->n_entries, msg->index, msg->commit);
    else if (msg->type == ZKV_RAFT_MSG_APPEND_RESPONSE && !msg->reject)
        zkv_tracer_emit(self->tracer, "ack", msg->term, msg->index, msg->to, 0,
                        "sent match=%" PRIu64, msg->index);
    else if (msg->type == ZKV_RAFT_MSG_VOTE || msg->type == ZKV_RAFT_MSG_PRE_VOTE)
        zkv_tracer_emit(self->tracer, "vote", msg->term, msg->index, msg->to, 0,
                        "%s request last_term=%" PRIu64, zkv_raft_msg_type_name(msg->type),
                        msg->log_term);
    else if (msg->type == ZKV_RAFT_MSG_VOTE_RESPONSE || msg->type == ZKV_RAFT_MSG_PRE_VOTE_RESPONSE)
        zkv_tracer_emit(self->tracer, "vote", msg->term, 0, msg->to, 0, "%s %s",
                        zkv_raft_msg_type_name(msg->type), msg->reject ? "rejected" : "granted");
    else if (msg->type == ZKV_RAFT_MSG_SNAPSHOT)
        zkv_tracer_emit(self->tracer, "snapshot", msg->term, msg->snapshot.index, msg->to, 0,
                        "chunk offset=%" PRIu64 " size=%zu last=%d", msg->chunk_offset,
                        msg->chunk_size, msg->chunk_last);
}

static void s_send_peer(repl_t *self, const zkv_raft_msg_t *in)
{
    zkv_raft_msg_t msg = *in;
    if (msg.type == ZKV_RAFT_MSG_SNAPSHOT && !msg.chunk && msg.chunk_size &&
        !s_attach_chunk(self, &msg))
        return; /* the core retries after its timeout */
    s_trace_message(self, &msg);
    zkv_repl_metrics_sent(&self->metrics, &msg);
    self->port.peer(self->port.ctx, &msg, self->cluster.file.cluster_id);
}

/*  Entries packed into one body. An entry that cannot be packed for want of
    memory cannot be written or applied either: the node stops rather than
    lose it (NULL then). */
static zframe_t *s_pack_entries(repl_t *self, const zkv_raft_entry_t *entries, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = zkv_pack_entry(&self->packer, &entries[i]);
    zframe_t *frame = zkv_packer_frame(&self->packer);
    if (ok && frame)
        return frame;
    zframe_destroy(&frame);
    zsys_error("zkvd: out of memory passing %zu entries on", n);
    self->fatal = true;
    return NULL;
}

/*  installed false: storage could not install rd's snapshot; only the hard
    state is written (the log must not restart after a snapshot not on disk). */
static void s_persist(repl_t *self, const zkv_raft_ready_t *rd, bool installed)
{
    bool snapshot = rd->has_snapshot && installed;
    zkv_msg_t msg = {.type = ZKV_MSG_PERSIST,
                     .persist = {
                         .ready_id = rd->id,
                         .flags = (rd->hard_state_changed ? ZKV_MSG_PERSIST_HARD_STATE : 0) |
                                  (snapshot ? ZKV_MSG_PERSIST_SNAPSHOT : 0),
                         .term = rd->hard_state.term,
                         .vote = rd->hard_state.vote,
                         .commit = rd->hard_state.commit,
                         .snapshot_index = rd->snapshot.index,
                         .snapshot_term = rd->snapshot.term,
                     }};
    msg.body = s_pack_entries(self, rd->entries, installed ? rd->n_entries : 0);
    if (msg.body)
        zkv_port_send(&self->port, ZKV_ACTOR_LOG, &msg);
}

/*  The follower's acknowledgement of rd's entries goes with them to the log
    actor, which sends it to the leader once they are durable. A leader not
    in the membership we know (a node joining) hears it when it asks again. */
static void s_ack_after_persist(repl_t *self, const zkv_raft_ready_t *rd)
{
    const zkv_raft_msg_t *a = &rd->ack;
    const zkv_member_t *leader = zkv_membership_find(&self->cluster.current, a->to);
    if (!leader)
        leader = zkv_membership_find(&self->cluster.peers, a->to);
    if (!leader)
        return;
    zkv_msg_t msg = {.type = ZKV_MSG_ACK,
                     .ack = {rd->id, a->from, a->to, a->term, a->index,
                             self->cluster.file.cluster_id, leader->router_port},
                     .body = zkv_msg_text_body(leader->host)};
    zkv_repl_metrics_sent(&self->metrics, a);
    if (msg.body)
        zkv_port_send(&self->port, ZKV_ACTOR_LOG, &msg);
}

static void s_apply(repl_t *self, const zkv_raft_ready_t *rd)
{
    zkv_msg_t msg = {.type = ZKV_MSG_APPLY,
                     .body = s_pack_entries(self, rd->committed, rd->n_committed)};
    if (msg.body)
        zkv_port_send(&self->port, ZKV_ACTOR_STORAGE, &msg);
}

static void s_read_failed(repl_t *self, uint64_t context, int status)
{
    zkv_msg_t fail = {.type = ZKV_MSG_READFAIL, .readfail = {context, (uint64_t) (int64_t) status}};
    zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &fail);
}

static void s_serve_reads(repl_t *self, const zkv_raft_ready_t *rd)
{
    for (size_t i = 0; i < rd->n_reads; i++) {
        const zkv_raft_read_t *read = &rd->reads[i];
        char key[24];
        snprintf(key, sizeof key, "%" PRIx64, read->context);
        zframe_t *request = zhashx_lookup(self->reads, key);
        if (!request)
            continue;
        if (read->status == ZKV_OK) {
            zkv_msg_t msg = {.type = ZKV_MSG_SERVE,
                             .serve = {read->context, read->index},
                             .body = zframe_dup(request)};
            zkv_port_send(&self->port, ZKV_ACTOR_STORAGE, &msg);
        } else
            s_read_failed(self, read->context, read->status);
        zhashx_delete(self->reads, key);
    }
}

static void s_tell_state(repl_t *self)
{
    zkv_raft_status_t st;
    zkv_raft_status(self->raft, &st);
    zkv_repl_metrics_state(&self->metrics, &st);
    if (st.role != self->told.role || st.term != self->told.term || st.leader != self->told.leader)
        zkv_tracer_emit(self->tracer, "role", st.term, st.last_index, st.leader, 0,
                        "role=%s leader=%u vote=%u", zkv_raft_role_name(st.role), st.leader,
                        st.vote);
    if (st.commit != self->told.commit)
        zkv_tracer_emit(self->tracer, "commit", st.term, st.commit, 0, 0,
                        "commit=%" PRIu64 " durable=%" PRIu64, st.commit, st.durable_index);
    if (!self->state_unsent && st.role == self->told.role && st.term == self->told.term &&
        st.leader == self->told.leader && st.commit == self->told.commit &&
        st.applied == self->told.applied)
        return;
    self->told = st;
    zkv_msg_t msg = {.type = ZKV_MSG_STATE,
                     .state = {st.role, st.term, st.leader, st.commit, st.applied}};
    /* At start the client actor may not be connected yet: again next round. */
    self->state_unsent = zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &msg) != 0;
}

/*  The snapshot file chunks are read from from now on. */
static void s_adopt_snapshot(repl_t *self, const zkv_msg_t *msg, uint64_t index)
{
    if (self->snapshot_fd >= 0)
        zkv_fs_close(self->fs, self->snapshot_fd);
    self->snapshot_index = index;
    zkv_msg_text(msg, self->snapshot_path, sizeof self->snapshot_path);
    if (zkv_fs_open(self->fs, self->snapshot_path, ZKV_FS_READ, &self->snapshot_fd) != ZKV_OK)
        self->snapshot_fd = -1;
}

static void s_chunks(repl_t *self, const zkv_raft_ready_t *rd)
{
    for (size_t i = 0; i < rd->n_chunks; i++) {
        const zkv_raft_chunk_t *c = &rd->chunks[i];
        zkv_msg_t msg = {.type = ZKV_MSG_CHUNK,
                         .chunk = {c->snapshot_index, c->snapshot_term, c->offset},
                         .body = zframe_new(c->data, c->size)};
#if ZKV_NODE_PLANTED_BUG == 3
        msg.chunk.snapshot_term = self->planted_recv_term;
#endif
        zkv_port_send(&self->port, ZKV_ACTOR_STORAGE, &msg);
    }
}

/*  The rest of a Ready, in the order the core's contract asks for: persist,
    send, apply, serve. installed false: its snapshot could not be installed. */
static void s_finish_ready(repl_t *self, zkv_raft_ready_t *rd, bool installed)
{
    if (rd->must_persist)
        s_persist(self, rd, installed);
    if (rd->has_ack)
        s_ack_after_persist(self, rd);
    for (size_t i = 0; i < rd->n_messages; i++)
        s_send_peer(self, &rd->messages[i]);
    if (rd->n_committed)
        s_apply(self, rd);
    if (rd->n_reads)
        s_serve_reads(self, rd);
    for (size_t i = 0; i < rd->n_loads; i++) {
        const zkv_raft_load_t *l = &rd->loads[i];
        zkv_msg_t load = {.type = ZKV_MSG_LOAD, .load = {l->peer, l->lo, l->hi, l->bytes_max}};
        zkv_port_send(&self->port, ZKV_ACTOR_LOG, &load);
    }
    zkv_repl_cluster_ready(&self->cluster, self->raft, rd, &self->port, self->tracer);
    zkv_raft_advance(self->raft, rd);
    if (!installed)
        zkv_raft_snapshot_failed(self->raft, rd->id);
}

/*  A follower's snapshot from the leader: storage installs it before anything
    after it is persisted or applied. The Ready waits for INSTALLED, and the
    actor reads only storage until then. */
static void s_start_install(repl_t *self, const zkv_raft_ready_t *rd)
{
    self->installing = true;
    self->install_rd = *rd;
    zkv_msg_t msg = {.type = ZKV_MSG_INSTALL,
                     .install = {rd->snapshot.index, rd->snapshot.term, rd->snapshot.size}};
    zkv_port_send(&self->port, ZKV_ACTOR_STORAGE, &msg);
}

/*  Store the chunks, then either wait for an install or finish the Ready. */
static void s_process_ready(repl_t *self)
{
    zkv_raft_ready_t rd;
    while (!self->installing && !self->fatal && zkv_raft_has_ready(self->raft) &&
           zkv_raft_ready(self->raft, &rd) == ZKV_OK) {
        s_chunks(self, &rd);
        if (rd.has_snapshot)
            s_start_install(self, &rd);
        else
            s_finish_ready(self, &rd, true);
    }
    s_tell_state(self);
}

/* ---------------------------------------------------------------- receiving */

/*  A rejection that showed a follower holding less than it acknowledged
    (it lost durable entries): rare and worth an operator's eye. */
static void s_trace_regression(repl_t *self, const zkv_raft_msg_t *msg)
{
    zkv_raft_status_t st;
    zkv_raft_status(self->raft, &st);
    if (st.match_regressions == self->match_regressions)
        return;
    self->match_regressions = st.match_regressions;
    zkv_raft_progress_t pr = {0};
    zkv_raft_progress(self->raft, msg->from, &pr);
    zkv_tracer_emit(self->tracer, "peer", st.term, msg->reject_hint, msg->from, 0,
                    "follower holds less than it acknowledged: match reset, probing from %" PRIu64
                    " (regressions=%" PRIu64 ")",
                    pr.next, st.match_regressions);
}

static size_t s_largest_entry(const zkv_raft_msg_t *msg)
{
    size_t largest = 0;
    for (size_t i = 0; i < msg->n_entries; i++)
        if (msg->entries[i].size > largest)
            largest = msg->entries[i].size;
    return largest;
}

/*  The core refused a message (an entry over ZKV_ENTRY_SIZE_MAX, a bad
    field): nothing of it is persisted; it is counted and traced. */
static void s_refused(repl_t *self, const zkv_raft_msg_t *msg)
{
    self->refused++;
    zkv_metric_add(&self->port.metrics->raft.peer_refused, 1);
    zkv_tracer_emit(self->tracer, "peer", msg->term, msg->index, msg->from, 0,
                    "refused %s from %u: entries=%zu largest=%zu limit=%u (refused %" PRIu64 ")",
                    zkv_raft_msg_type_name(msg->type), msg->from, msg->n_entries,
                    s_largest_entry(msg), ZKV_ENTRY_SIZE_MAX, self->refused);
}

void zkv_repl_peer(zkv_repl_t *self, const uint8_t *data, size_t size, uint32_t sender)
{
    zkv_raft_msg_t msg;
    uint64_t cluster_id;
    zkv_peer_decoded_t *decoded = zkv_peer_decode(data, size, &msg, &cluster_id);
    if (decoded && sender && msg.from != sender) {
        zkv_tracer_emit(self->tracer, "peer", 0, 0, sender, 0,
                        "message of member %u's key claims to be from %u: dropped", sender,
                        msg.from);
        zkv_metric_add(&self->port.metrics->raft.peer_refused, 1);
        zkv_peer_decoded_destroy(&decoded);
        return;
    }
    if (!decoded) {
        self->refused++;
        zkv_metric_add(&self->port.metrics->raft.peer_refused, 1);
        zkv_tracer_emit(self->tracer, "peer", 0, 0, 0, 0,
                        "malformed peer message dropped (refused %" PRIu64 ")", self->refused);
        return;
    }
    /* A SUB hears every leader's broadcasts; only ours and everyone's matter. */
    if ((msg.to == self->config.id || msg.to == ZKV_RAFT_BROADCAST) &&
        msg.from != self->config.id &&
        zkv_repl_cluster_admit(&self->cluster, self->raft, &msg, cluster_id, &self->port,
                               self->tracer)) {
        if (msg.type == ZKV_RAFT_MSG_APPEND_RESPONSE && !msg.reject)
            zkv_tracer_emit(self->tracer, "ack", msg.term, msg.index, msg.from, 0, "match=%" PRIu64,
                            msg.index);
        else if (msg.type == ZKV_RAFT_MSG_APPEND && msg.n_entries > 0)
            zkv_tracer_emit(self->tracer, "append", msg.term, msg.index + msg.n_entries, msg.from,
                            0, "received entries=%zu prev=%" PRIu64 " commit=%" PRIu64,
                            msg.n_entries, msg.index, msg.commit);
#if ZKV_NODE_PLANTED_BUG == 3
        /* TEST-ONLY planted bug (sim_node_planted_snapshot_term): the term
           chunks are stored under comes from every SNAPSHOT message, also
           from one the core then refuses. */
        if (msg.type == ZKV_RAFT_MSG_SNAPSHOT)
            self->planted_recv_term = msg.snapshot.term;
#endif
        zkv_repl_metrics_received(&self->metrics, &msg, (uint32_t) self->told.leader);
        int rc = zkv_raft_step(self->raft, &msg);
        if (rc == ZKV_EINVAL)
            s_refused(self, &msg);
        else if (msg.type == ZKV_RAFT_MSG_APPEND_RESPONSE && msg.reject)
            s_trace_regression(self, &msg);
    }
    zkv_peer_decoded_destroy(&decoded);
}

static void s_propose(repl_t *self, zkv_msg_t *msg)
{
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    zkv_raft_buf_t bufs[PROPOSE_BATCH_MAX];
    size_t n = 0;
    const uint8_t *data;
    size_t size;
    int more;
    while ((more = zkv_unpack_record(&in, &data, &size)) == 1 && n < PROPOSE_BATCH_MAX)
        bufs[n++] = (zkv_raft_buf_t){data, size};
    int rc = more == 1 ? ZKV_EBUSY : more < 0 ? ZKV_EINVAL : ZKV_OK;
    if (rc == ZKV_OK && n)
        rc = zkv_raft_propose(self->raft, bufs, n, NULL, NULL);
    zkv_repl_metrics_proposed(&self->metrics, n, rc != ZKV_OK);
    if (rc != ZKV_OK) {
        zkv_msg_t rejected = {.type = ZKV_MSG_REJECTED,
                              .rejected.status = (uint64_t) (int64_t) rc,
                              .body = msg->body};
        msg->body = NULL;
        zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &rejected);
    }
}

static void s_read_index(repl_t *self, zkv_msg_t *msg)
{
    uint64_t context = msg->read.context;
    int rc = zkv_raft_read_index(self->raft, context);
    if (rc != ZKV_OK) {
        s_read_failed(self, context, rc);
        return;
    }
    char key[24];
    snprintf(key, sizeof key, "%" PRIx64, context);
    zhashx_update(self->reads, key, msg->body);
    msg->body = NULL;
}

/*  Drop the log a snapshot covers, once the core agrees: it refuses
    (ZKV_EBUSY) while the snapshot is ahead of the durable log, and then the
    log is kept until a later DURABLE report lets it through. */
static void s_compact(repl_t *self)
{
    if (!self->compact_index)
        return;
    int rc = zkv_raft_compact(self->raft, self->compact_index, self->compact_size);
    if (rc == ZKV_EBUSY)
        return;
    if (rc == ZKV_OK) {
        zkv_msg_t drop = {.type = ZKV_MSG_DROP, .drop.index = self->compact_index + 1};
        zkv_port_send(&self->port, ZKV_ACTOR_LOG, &drop);
    }
    self->compact_index = 0;
}

/*  The log's restart after an installed snapshot is durable: a crash can no
    longer need the snapshots before it. */
static void s_prune(repl_t *self, uint64_t durable_id)
{
    if (!self->prune_ready_id || durable_id < self->prune_ready_id)
        return;
    self->prune_ready_id = 0;
    zkv_msg_t msg = {.type = ZKV_MSG_PRUNE, .body = zkv_msg_text_body(self->snapshot_path)};
    zkv_port_send(&self->port, ZKV_ACTOR_STORAGE, &msg);
}

/*  Entries the log read back for a follower: to the core, which checks them. */
static void s_loaded(repl_t *self, const zkv_msg_t *msg)
{
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    size_t n = 0;
    zkv_raft_entry_t e;
    int more;
    while ((more = zkv_unpack_entry(&in, &e)) == 1) {
        if (n == self->loaded_cap) {
            size_t cap = self->loaded_cap ? 2 * self->loaded_cap : 256;
            zkv_raft_entry_t *grown = realloc(self->loaded, cap * sizeof *grown);
            if (!grown)
                return; /* asked again after an election timeout */
            self->loaded = grown;
            self->loaded_cap = cap;
        }
        self->loaded[n++] = e;
    }
    assert(more == 0); /* our own log actor's */
    int rc =
        zkv_raft_loaded(self->raft, (uint32_t) msg->loaded.peer, msg->loaded.lo, self->loaded, n);
    if (rc != ZKV_OK)
        zsys_warning("zkvd: entries read back from %" PRIu64 " for node %" PRIu64 " refused: %s",
                     msg->loaded.lo, msg->loaded.peer, zkv_strerror(rc));
}

static void s_on_log(repl_t *self, const zkv_msg_t *msg)
{
    if (msg->type == ZKV_MSG_DURABLE) {
        zkv_raft_persisted(self->raft, msg->durable.ready_id);
        s_prune(self, msg->durable.ready_id);
        s_compact(self);
    } else if (msg->type == ZKV_MSG_LOADED) {
        s_loaded(self, msg);
    } else if (msg->type == ZKV_MSG_FATAL) {
        char why[1024];
        zsys_error("zkvd: %s", zkv_msg_text(msg, why, sizeof why));
        self->fatal = true;
    } else
        assert(!"not a message for replication from the log actor");
}

static void s_new_snapshot(repl_t *self, const zkv_msg_t *msg)
{
    /* Not newer than ours: taken while a newer one from the leader was installed. */
    if (msg->snapshot.index <= self->snapshot_index)
        return;
    s_adopt_snapshot(self, msg, msg->snapshot.index);
    self->compact_index = msg->snapshot.index;
    self->compact_size = msg->snapshot.size;
    s_compact(self);
}

static void s_handle_storage(repl_t *self, const zkv_msg_t *msg)
{
    if (msg->type == ZKV_MSG_APPLIED)
        zkv_raft_applied(self->raft, msg->applied.index);
    else if (msg->type == ZKV_MSG_SNAPSHOT)
        s_new_snapshot(self, msg);
    /* else INSTALLED after a failed install's retry: nothing waits for it */
}

/*  Storage answered the install: the waiting Ready goes on, then whatever
    storage said meanwhile, then every socket is read again. */
static void s_installed(repl_t *self, const zkv_msg_t *msg)
{
    zkv_raft_ready_t *rd = &self->install_rd;
    bool ok = msg->installed.status == 0 && msg->installed.index == rd->snapshot.index;
    if (ok) {
        s_adopt_snapshot(self, msg, msg->installed.index);
        self->prune_ready_id = rd->id;
    } else if (msg->installed.status == 2)
        self->fatal = true; /* our disk failed; storage said how */
    else
        zsys_error("zkvd: installing the leader's snapshot %" PRIu64 " failed; asking for it again",
                   rd->snapshot.index);
    self->installing = false;
    s_finish_ready(self, rd, ok);
    for (zkv_msg_t *m = zlist_pop(self->deferred); m; m = zlist_pop(self->deferred)) {
        s_handle_storage(self, m);
        zkv_msg_clear(m);
        free(m);
    }
}

static void s_on_storage(repl_t *self, zkv_msg_t *msg)
{
    if (self->installing && msg->type == ZKV_MSG_INSTALLED)
        s_installed(self, msg);
    else if (self->installing) {
        zkv_msg_t *later = zmalloc(sizeof *later);
        *later = *msg;
        msg->body = NULL;
        zlist_append(self->deferred, later);
    } else
        s_handle_storage(self, msg);
}

/* ---------------------------------------------------------------- handler */

void zkv_repl_handle(zkv_repl_t *self, zkv_actor_id_t from, zkv_msg_t *msg)
{
    assert(!self->installing || from == ZKV_ACTOR_STORAGE);
    if (from == ZKV_ACTOR_STORAGE)
        s_on_storage(self, msg);
    else if (from == ZKV_ACTOR_LOG)
        s_on_log(self, msg);
    else if (msg->type == ZKV_MSG_PROPOSE)
        s_propose(self, msg);
    else if (msg->type == ZKV_MSG_READ)
        s_read_index(self, msg);
    else if (msg->type == ZKV_MSG_ADMIN)
        zkv_repl_cluster_request(&self->cluster, self->raft, msg, &self->port);
    else
        assert(!"not a message for replication");
}

void zkv_repl_tick(zkv_repl_t *self)
{
    assert(!self->installing);
    zkv_raft_tick(self->raft);
    zkv_repl_cluster_tick(&self->cluster, self->raft, &self->port);
}

void zkv_repl_ready(zkv_repl_t *self)
{
    if (!self->installing)
        s_process_ready(self);
}

bool zkv_repl_installing(const zkv_repl_t *self)
{
    return self->installing;
}

bool zkv_repl_fatal(const zkv_repl_t *self)
{
    return self->fatal || (self->cluster.stop && self->cluster.file.state != ZKV_CLUSTER_REMOVED);
}

bool zkv_repl_removed(const zkv_repl_t *self)
{
    return self->cluster.stop && self->cluster.file.state == ZKV_CLUSTER_REMOVED;
}

uint64_t zkv_repl_cluster_id(const zkv_repl_t *self)
{
    return self->cluster.file.cluster_id;
}

const zkv_raft_t *zkv_repl_raft(const zkv_repl_t *self)
{
    return self->raft;
}

static void s_read_destroy(void **item)
{
    zframe_t *frame = *item;
    zframe_destroy(&frame);
    *item = NULL;
}

zkv_repl_t *zkv_repl_new(const zkv_config_t *config, const zkv_fs_t *fs, zkv_raft_t **raft_p,
                         const char *snapshot_path, const zkv_cluster_file_t *cluster,
                         const zkv_port_t *port, zkv_tracer_t *tracer)
{
    zkv_repl_t *self = zmalloc(sizeof *self);
    zkv_repl_cluster_init(&self->cluster, config, fs, cluster);
    self->port = *port;
    self->metrics.m = port->metrics;
    self->config = *config;
    self->fs = fs;
    self->raft = *raft_p;
    *raft_p = NULL;
    self->tracer = tracer;
    self->snapshot_fd = -1;
    self->told.role = (zkv_raft_role_t) -1;
    snprintf(self->snapshot_path, sizeof self->snapshot_path, "%s", snapshot_path);
    if (self->snapshot_path[0] &&
        zkv_fs_open(fs, self->snapshot_path, ZKV_FS_READ, &self->snapshot_fd) != ZKV_OK)
        self->snapshot_fd = -1;
    zkv_raft_status_t st;
    zkv_raft_status(self->raft, &st);
    self->snapshot_index = st.snapshot_index;
    self->deferred = zlist_new();
    self->reads = zhashx_new();
    zhashx_set_destructor(self->reads, s_read_destroy);
    return self;
}

void zkv_repl_destroy(zkv_repl_t **self_p)
{
    zkv_repl_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->reads);
    zkv_raft_destroy(&self->raft);
    if (self->snapshot_fd >= 0)
        zkv_fs_close(self->fs, self->snapshot_fd);
    free(self->chunk_buf);
    zkv_packer_free(&self->packer);
    free(self->loaded);
    for (zkv_msg_t *m = zlist_pop(self->deferred); m; m = zlist_pop(self->deferred)) {
        zkv_msg_clear(m);
        free(m);
    }
    zlist_destroy(&self->deferred);
    free(self);
    *self_p = NULL;
}
