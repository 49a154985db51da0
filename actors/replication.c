/*  replication actor: the Ready loop of the Raft core over ZeroMQ. */
#include "replication.h"

#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "actor.h"
#include "inproc.h"
#include "loop.h"
#include "msg.h"
#include "le.h"
#include "peer_codec.h"
#include "trace.h"
#include "zkv_error.h"

#define PEER_PUB_HWM 100000
#define PEER_DEALER_HWM 10000
#define PEER_RECONNECT_MS 100
/*  Peer connection liveness, in election timeouts (election_ticks *
    tick_ms): a ZMTP ping every 1/PEER_PINGS_PER_ELECTION of one; a
    connection that hears nothing, or leaves data unacknowledged, for
    PEER_DEAD_ELECTIONS of them is closed and made again. */
#define PEER_PINGS_PER_ELECTION 2
#define PEER_DEAD_ELECTIONS 2
#define PEER_LIVENESS_MS_MAX 600000 /* whatever the flags say; libzmq's TTL stops at 6553 s */
#define DRAIN_MAX 4096 /* messages taken from one socket before the others get a turn */
#define PROPOSE_BATCH_MAX 4096
#define TICK_CATCH_UP_MAX 10 /* after a stall, tick at most this often at once */
/*  Protobuf framing of one entry in a PeerMessage: tag, length, term,
    index, type. */
#define PEER_ENTRY_FRAMING_MAX 40u
/*  The largest append: max_msg_bytes at its limit, the one entry that may
    pass it, and the framing of as many entries as a message may hold. */
#define PEER_APPEND_SIZE_MAX                                                                       \
    (ZKV_RAFT_MSG_BYTES_MAX + ZKV_ENTRY_SIZE_MAX +                                                 \
     ZKV_RAFT_MSG_ENTRIES_MAX * PEER_ENTRY_FRAMING_MAX)
/*  Largest peer frame read from the network: a snapshot chunk at its limit
    or the largest append, with room for the rest of the message. libzmq
    drops a connection whose frame header claims more, instead of
    allocating it. */
#define PEER_MSG_SIZE_MAX                                                                          \
    ((PEER_APPEND_SIZE_MAX > ZKV_RAFT_CHUNK_SIZE_MAX ? PEER_APPEND_SIZE_MAX                        \
                                                     : ZKV_RAFT_CHUNK_SIZE_MAX) +                  \
     1024 * 1024)

typedef struct {
    uint32_t id;
    zsock_t *dealer;
} peer_t;

typedef struct {
    zsock_t *pipe;
    zkv_config_t config;
    zkv_raft_t *raft;
    zkv_tracer_t *tracer;
    zsock_t *log;
    zsock_t *storage;
    zsock_t *client;
    zsock_t *pub;
    zsock_t *sub;
    zsock_t *router;
    peer_t peers[ZKV_MEMBERS_MAX];
    size_t peer_count;
    zhashx_t *reads;   /* context -> request frame awaiting ReadIndex */
    zkv_loop_t *loop;
    /* Installing a leader's snapshot: the Ready that carries it waits for
       storage's INSTALLED; meanwhile only storage is read, and what else it
       says waits too (the core takes no calls inside a Ready). */
    bool installing;
    zkv_raft_ready_t install_rd;
    zlist_t *deferred; /* zkv_msg_t *: storage messages that came during an install */
    int64_t next_tick;
    /* The snapshot chunks are read from, for followers behind the log. */
    char snapshot_path[ZKV_DATA_PATH_SIZE_MAX];
    int snapshot_fd;
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
    uint64_t refused; /* peer messages refused as malformed or over a limit */
    zkv_packer_t packer; /* entries of PERSIST and APPLY */
} repl_t;

/* ---------------------------------------------------------------- sending */

static zsock_t *s_dealer_for(repl_t *self, uint32_t id)
{
    for (size_t i = 0; i < self->peer_count; i++)
        if (self->peers[i].id == id)
            return self->peers[i].dealer;
    return NULL;
}

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
    ssize_t got =
        pread(self->snapshot_fd, self->chunk_buf, msg->chunk_size, (off_t) msg->chunk_offset);
    if (got != (ssize_t) msg->chunk_size)
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
    zsock_t *to = msg.to == ZKV_RAFT_BROADCAST ? self->pub : s_dealer_for(self, msg.to);
    zframe_t *frame = to ? zkv_peer_encode(&msg) : NULL;
    if (!frame)
        return;
    s_trace_message(self, &msg);
    /* Never block on a peer: a dropped message is a lost one, and Raft copes. */
    zsock_set_sndtimeo(to, 0);
    zframe_send(&frame, to, ZFRAME_DONTWAIT);
    zframe_destroy(&frame);
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
        zkv_msg_send(&msg, self->log);
}

static void s_apply(repl_t *self, const zkv_raft_ready_t *rd)
{
    zkv_msg_t msg = {.type = ZKV_MSG_APPLY,
                     .body = s_pack_entries(self, rd->committed, rd->n_committed)};
    if (msg.body)
        zkv_msg_send(&msg, self->storage);
}

static void s_read_failed(repl_t *self, uint64_t context, int status)
{
    zkv_msg_t fail = {.type = ZKV_MSG_READFAIL,
                      .readfail = {context, (uint64_t) (int64_t) status}};
    zkv_msg_send(&fail, self->client);
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
            zkv_msg_send(&msg, self->storage);
        } else
            s_read_failed(self, read->context, read->status);
        zhashx_delete(self->reads, key);
    }
}

static void s_tell_state(repl_t *self)
{
    zkv_raft_status_t st;
    zkv_raft_status(self->raft, &st);
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
    self->state_unsent = zkv_msg_send(&msg, self->client) != 0;
}

/*  The snapshot file chunks are read from from now on. */
static void s_adopt_snapshot(repl_t *self, const zkv_msg_t *msg, uint64_t index)
{
    if (self->snapshot_fd >= 0)
        close(self->snapshot_fd);
    self->snapshot_index = index;
    zkv_msg_text(msg, self->snapshot_path, sizeof self->snapshot_path);
    self->snapshot_fd = open(self->snapshot_path, O_RDONLY | O_CLOEXEC);
}

static void s_chunks(repl_t *self, const zkv_raft_ready_t *rd)
{
    for (size_t i = 0; i < rd->n_chunks; i++) {
        const zkv_raft_chunk_t *c = &rd->chunks[i];
        zkv_msg_t msg = {.type = ZKV_MSG_CHUNK,
                         .chunk = {c->snapshot_index, c->snapshot_term, c->offset},
                         .body = zframe_new(c->data, c->size)};
        zkv_msg_send(&msg, self->storage);
    }
}

/*  The rest of a Ready, in the order the core's contract asks for: persist,
    send, apply, serve. installed false: its snapshot could not be installed. */
static void s_finish_ready(repl_t *self, zkv_raft_ready_t *rd, bool installed)
{
    if (rd->must_persist)
        s_persist(self, rd, installed);
    for (size_t i = 0; i < rd->n_messages; i++)
        s_send_peer(self, &rd->messages[i]);
    if (rd->n_committed)
        s_apply(self, rd);
    if (rd->n_reads)
        s_serve_reads(self, rd);
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
    zkv_msg_send(&msg, self->storage);
    zsock_t *others[] = {self->client, self->log, self->sub, self->router};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        zkv_loop_pause(self->loop, others[i], true);
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
    zkv_tracer_emit(self->tracer, "peer", msg->term, msg->index, msg->from, 0,
                    "refused %s from %u: entries=%zu largest=%zu limit=%u (refused %" PRIu64 ")",
                    zkv_raft_msg_type_name(msg->type), msg->from, msg->n_entries,
                    s_largest_entry(msg), ZKV_ENTRY_SIZE_MAX, self->refused);
}

static void s_on_peer(repl_t *self, zframe_t *frame)
{
    zkv_raft_msg_t msg;
    zkv_peer_decoded_t *decoded = zkv_peer_decode(zframe_data(frame), zframe_size(frame), &msg);
    if (!decoded) {
        self->refused++;
        zkv_tracer_emit(self->tracer, "peer", 0, 0, 0, 0,
                        "malformed peer message dropped (refused %" PRIu64 ")", self->refused);
        return;
    }
    /* The SUB hears every leader's broadcasts; only ours and everyone's matter. */
    if ((msg.to == self->config.id || msg.to == ZKV_RAFT_BROADCAST) &&
        msg.from != self->config.id) {
        if (msg.type == ZKV_RAFT_MSG_APPEND_RESPONSE && !msg.reject)
            zkv_tracer_emit(self->tracer, "ack", msg.term, msg.index, msg.from, 0, "match=%" PRIu64,
                            msg.index);
        else if (msg.type == ZKV_RAFT_MSG_APPEND && msg.n_entries > 0)
            zkv_tracer_emit(self->tracer, "append", msg.term, msg.index + msg.n_entries, msg.from,
                            0, "received entries=%zu prev=%" PRIu64 " commit=%" PRIu64,
                            msg.n_entries, msg.index, msg.commit);
        int rc = zkv_raft_step(self->raft, &msg);
        if (rc == ZKV_EINVAL)
            s_refused(self, &msg);
        else if (msg.type == ZKV_RAFT_MSG_APPEND_RESPONSE && msg.reject)
            s_trace_regression(self, &msg);
    }
    zkv_peer_decoded_destroy(&decoded);
}

static bool s_on_sub(void *arg)
{
    repl_t *self = arg;
    zframe_t *frame = zframe_recv(self->sub);
    if (!frame)
        return false;
    s_on_peer(self, frame);
    zframe_destroy(&frame);
    return true;
}

static bool s_on_router(void *arg)
{
    repl_t *self = arg;
    zmsg_t *msg = zmsg_recv(self->router);
    if (!msg)
        return false;
    if (zmsg_size(msg) == 2) {
        zframe_t *identity = zmsg_pop(msg);
        zframe_t *body = zmsg_pop(msg);
        s_on_peer(self, body);
        zframe_destroy(&identity);
        zframe_destroy(&body);
    }
    zmsg_destroy(&msg);
    return true;
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
    if (rc != ZKV_OK) {
        zkv_msg_t rejected = {.type = ZKV_MSG_REJECTED,
                              .rejected.status = (uint64_t) (int64_t) rc,
                              .body = msg->body};
        msg->body = NULL;
        zkv_msg_send(&rejected, self->client);
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

static bool s_on_client(void *arg)
{
    repl_t *self = arg;
    zkv_msg_t msg;
    if (!zkv_msg_recv(self->client, &msg))
        return false;
    if (msg.type == ZKV_MSG_PROPOSE)
        s_propose(self, &msg);
    else if (msg.type == ZKV_MSG_READ)
        s_read_index(self, &msg);
    else
        assert(!"not a message for replication from the client actor");
    zkv_msg_clear(&msg);
    return true;
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
        zkv_msg_send(&drop, self->log);
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
    zkv_msg_send(&msg, self->storage);
}

static bool s_on_log(void *arg)
{
    repl_t *self = arg;
    zkv_msg_t msg;
    if (!zkv_msg_recv(self->log, &msg))
        return false;
    if (msg.type == ZKV_MSG_DURABLE) {
        zkv_raft_persisted(self->raft, msg.durable.ready_id);
        s_prune(self, msg.durable.ready_id);
        s_compact(self);
    } else if (msg.type == ZKV_MSG_FATAL) {
        char why[1024];
        zsys_error("zkvd: %s", zkv_msg_text(&msg, why, sizeof why));
        self->fatal = true;
    } else
        assert(!"not a message for replication from the log actor");
    zkv_msg_clear(&msg);
    return true;
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
    zsock_t *others[] = {self->client, self->log, self->sub, self->router};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        zkv_loop_pause(self->loop, others[i], false);
}

static bool s_on_storage(void *arg)
{
    repl_t *self = arg;
    zkv_msg_t msg;
    if (!zkv_msg_recv(self->storage, &msg))
        return false;
    if (self->installing && msg.type == ZKV_MSG_INSTALLED)
        s_installed(self, &msg);
    else if (self->installing) {
        zkv_msg_t *later = zmalloc(sizeof *later);
        *later = msg;
        msg.body = NULL;
        zlist_append(self->deferred, later);
    } else
        s_handle_storage(self, &msg);
    zkv_msg_clear(&msg);
    return true;
}

/* ---------------------------------------------------------------- setup */

static void s_read_destroy(void **item)
{
    zframe_t *frame = *item;
    zframe_destroy(&frame);
    *item = NULL;
}

/*  Connect from our own listen address when it is a specific one, so that a
    link between two nodes is identified by its two addresses (a test cuts one
    link with a firewall rule on exactly that pair). */
static int s_connect_peer(repl_t *self, zsock_t *sock, const char *host, uint16_t port)
{
    const char *src = self->config.listen;
    bool any = streq(src, "0.0.0.0") || streq(src, "*") || streq(src, "::");
    if (any)
        return zsock_connect(sock, "tcp://%s:%u", host, port);
    return zsock_connect(sock, "tcp://%s:0;%s:%u", src, host, port);
}

/*  A cut link leaves connections that look alive while TCP backs off its
    retransmissions; after repeated cuts the next try can be a minute away.
    Heartbeats and TCP_USER_TIMEOUT close such a connection, and a connect
    attempt and the reconnect backoff are bounded by an election timeout, so
    a healed link carries traffic again within about one. */
static void s_set_liveness(const repl_t *self, zsock_t *sock)
{
    uint64_t election_ms = (uint64_t) self->config.election_ticks * self->config.tick_ms;
    int ms = (int) (election_ms < PEER_LIVENESS_MS_MAX ? election_ms : PEER_LIVENESS_MS_MAX);
    int ping_ms = ms / PEER_PINGS_PER_ELECTION > 0 ? ms / PEER_PINGS_PER_ELECTION : 1;
    zsock_set_heartbeat_ivl(sock, ping_ms);
    zsock_set_heartbeat_timeout(sock, PEER_DEAD_ELECTIONS * ms);
    zsock_set_heartbeat_ttl(sock, PEER_DEAD_ELECTIONS * ms);
    zsock_set_tcp_maxrt(sock, PEER_DEAD_ELECTIONS * ms);
    zsock_set_connect_timeout(sock, ms);
    zsock_set_reconnect_ivl(sock, PEER_RECONNECT_MS);
    zsock_set_reconnect_ivl_max(sock, ms > PEER_RECONNECT_MS ? ms : PEER_RECONNECT_MS);
}

static int s_bind_peers(repl_t *self)
{
    const zkv_member_t *me = zkv_config_member(&self->config, self->config.id);
    self->pub = zsock_new(ZMQ_PUB);
    self->sub = zsock_new(ZMQ_SUB);
    self->router = zsock_new(ZMQ_ROUTER);
    if (!self->pub || !self->sub || !self->router)
        return -1;
    zsock_set_sndhwm(self->pub, PEER_PUB_HWM);
    zsock_set_rcvhwm(self->sub, PEER_PUB_HWM);
    zsock_set_rcvhwm(self->router, PEER_PUB_HWM);
    zsock_set_maxmsgsize(self->pub, PEER_MSG_SIZE_MAX);
    zsock_set_maxmsgsize(self->sub, PEER_MSG_SIZE_MAX);
    zsock_set_maxmsgsize(self->router, PEER_MSG_SIZE_MAX);
    zsock_set_subscribe(self->sub, "");
    s_set_liveness(self, self->pub);
    s_set_liveness(self, self->sub);
    s_set_liveness(self, self->router);
    zkv_tracer_monitor(self->tracer, self->sub, "peer-sub");
    zkv_tracer_monitor(self->tracer, self->router, "peer-router");
    if (zsock_bind(self->pub, "tcp://%s:%u", self->config.listen, me->pub_port) < 0 ||
        zsock_bind(self->router, "tcp://%s:%u", self->config.listen, me->router_port) < 0)
        return -1;
    for (size_t i = 0; i < self->config.member_count; i++) {
        const zkv_member_t *m = &self->config.members[i];
        if (m->id == self->config.id)
            continue;
        s_connect_peer(self, self->sub, m->host, m->pub_port);
        peer_t *p = &self->peers[self->peer_count++];
        p->id = m->id;
        p->dealer = zsock_new(ZMQ_DEALER);
        if (!p->dealer)
            return -1;
        zsock_set_sndhwm(p->dealer, PEER_DEALER_HWM);
        zsock_set_maxmsgsize(p->dealer, PEER_MSG_SIZE_MAX);
        zsock_set_immediate(p->dealer, 1);
        s_set_liveness(self, p->dealer);
        char name[32];
        snprintf(name, sizeof name, "peer-%u", m->id);
        zkv_tracer_monitor(self->tracer, p->dealer, name);
        s_connect_peer(self, p->dealer, m->host, m->router_port);
    }
    return 0;
}

/*  Stop a socket's monitor before the socket closes: libzmq leaks an event it
    cannot deliver while closing. */
static void s_close_monitored(zsock_t **sock_p)
{
    if (*sock_p)
        zmq_socket_monitor(zsock_resolve(*sock_p), NULL, 0);
    zsock_destroy(sock_p);
}

static void s_repl_destroy(repl_t *self)
{
    zkv_loop_destroy(&self->loop);
    for (size_t i = 0; i < self->peer_count; i++)
        s_close_monitored(&self->peers[i].dealer);
    zsock_destroy(&self->pub);
    s_close_monitored(&self->sub);
    s_close_monitored(&self->router);
    zsock_destroy(&self->log);
    zsock_destroy(&self->storage);
    zsock_destroy(&self->client);
    zhashx_destroy(&self->reads);
    zkv_tracer_destroy(&self->tracer);
    zkv_raft_destroy(&self->raft);
    if (self->snapshot_fd >= 0)
        close(self->snapshot_fd);
    free(self->chunk_buf);
    zkv_packer_free(&self->packer);
    for (zkv_msg_t *m = self->deferred ? zlist_pop(self->deferred) : NULL; m;
         m = zlist_pop(self->deferred)) {
        zkv_msg_clear(m);
        free(m);
    }
    zlist_destroy(&self->deferred);
}

typedef struct {
    const zkv_config_t *config;
    zkv_raft_t *raft;
    const char *snapshot_path;
} repl_args_t;

static int s_repl_init(repl_t *self, repl_args_t *args)
{
    self->config = *args->config;
    self->raft = args->raft;
    self->snapshot_fd = -1;
    self->told.role = (zkv_raft_role_t) -1;
    snprintf(self->snapshot_path, sizeof self->snapshot_path, "%s", args->snapshot_path);
    if (self->snapshot_path[0])
        self->snapshot_fd = open(self->snapshot_path, O_RDONLY | O_CLOEXEC);
    zkv_raft_status_t st;
    zkv_raft_status(self->raft, &st);
    self->snapshot_index = st.snapshot_index;
    self->deferred = zlist_new();
    self->tracer = zkv_tracer_new(self->config.id);
    self->reads = zhashx_new();
    zhashx_set_destructor(self->reads, s_read_destroy);
    self->log = zkv_actor_pair(self->config.id, "log", false);
    self->storage = zkv_actor_pair(self->config.id, "storage", false);
    self->client = zkv_actor_pair(self->config.id, "client-replication", true);
    if (!self->log || !self->storage || !self->client || s_bind_peers(self) != 0)
        return -1;
    zsock_set_sndtimeo(self->client, 0); /* the client actor stops first */
    zsock_t *inputs[] = {self->client, self->log, self->storage, self->sub, self->router};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        zsock_set_rcvtimeo(inputs[i], 0);
    /* Everything waiting on every socket is taken before the next Ready, so
       that one round batches as much as it can. */
    self->loop = zkv_loop_new(self->pipe, self);
    zkv_loop_reader(self->loop, self->client, s_on_client, DRAIN_MAX);
    zkv_loop_reader(self->loop, self->log, s_on_log, DRAIN_MAX);
    zkv_loop_reader(self->loop, self->storage, s_on_storage, DRAIN_MAX);
    zkv_loop_reader(self->loop, self->sub, s_on_sub, DRAIN_MAX);
    zkv_loop_reader(self->loop, self->router, s_on_router, DRAIN_MAX);
    return 0;
}

static void s_tick(repl_t *self)
{
    int64_t now = zclock_mono();
    if (now - self->next_tick > (int64_t) self->config.tick_ms * TICK_CATCH_UP_MAX)
        self->next_tick = now - (int64_t) self->config.tick_ms * TICK_CATCH_UP_MAX;
    while (self->next_tick <= now) {
        zkv_raft_tick(self->raft);
        self->next_tick += self->config.tick_ms;
    }
}

/*  After each round: the core's ticks that are due, then its Ready; the next
    round waits for input at most until the next tick. */
static int64_t s_on_round(void *arg)
{
    repl_t *self = arg;
    if (self->installing)
        return -1; /* only INSTALLED (or $TERM) moves things on */
    s_tick(self);
    s_process_ready(self);
    if (self->fatal)
        return ZKV_LOOP_STOP;
    int64_t wait = self->next_tick - zclock_mono();
    return wait > 0 ? wait : 0;
}

static void s_repl_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("replication");
    repl_t self = {.pipe = pipe};
    if (s_repl_init(&self, arg) != 0) {
        s_repl_destroy(&self);
        zkv_actor_ready(pipe, 1);
        return;
    }
    zkv_actor_ready(pipe, 0);
    self.next_tick = zclock_mono() + self.config.tick_ms;
    zkv_loop_on_round(self.loop, s_on_round, self.config.tick_ms);
    if (zkv_loop_run(self.loop) == 1)
        zstr_send(pipe, "FATAL");
    s_repl_destroy(&self);
}

zactor_t *zkv_replication_actor_new(const zkv_config_t *config, zkv_raft_t **raft_p,
                                    const char *snapshot_path)
{
    repl_args_t args = {config, *raft_p, snapshot_path};
    zactor_t *actor = zkv_actor_start(s_repl_actor, &args);
    /* Started or not, the actor has taken the core (and destroyed it on failure). */
    *raft_p = NULL;
    return actor;
}
