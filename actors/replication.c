/*  replication actor: the Ready loop of the Raft core over ZeroMQ. */
#include "replication.h"

#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#include "actor.h"
#include "inproc.h"
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
    zpoller_t *poller;
    zhashx_t *reads;   /* context -> request frame awaiting ReadIndex */
    zlist_t *deferred; /* storage messages that came during an install */
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

/*  An entry that cannot be packed for want of memory cannot be written or
    applied either: the node stops rather than lose it. */
static bool s_add_entries(repl_t *self, zmsg_t *msg, const zkv_raft_entry_t *entries, size_t n)
{
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = zkv_pack_entry(&self->packer, &entries[i]);
    zframe_t *frame = zkv_packer_frame(&self->packer);
    if (ok && frame)
        return zmsg_append(msg, &frame) == 0;
    zframe_destroy(&frame);
    zsys_error("zkvd: out of memory passing %zu entries on", n);
    self->fatal = true;
    return false;
}

/*  installed false: storage could not install rd's snapshot; only the hard
    state is written (the log must not restart after a snapshot not on disk). */
static void s_persist(repl_t *self, const zkv_raft_ready_t *rd, bool installed)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "PERSIST");
    zkv_msg_add_u64(msg, rd->id);
    bool snapshot = rd->has_snapshot && installed;
    uint8_t flags = (rd->hard_state_changed ? 1 : 0) | (snapshot ? 2 : 0);
    zmsg_addmem(msg, &flags, 1);
    uint8_t hs[20];
    zkv_le64_put(hs, rd->hard_state.term);
    zkv_le32_put(hs + 8, rd->hard_state.vote);
    zkv_le64_put(hs + 12, rd->hard_state.commit);
    zmsg_addmem(msg, hs, rd->hard_state_changed ? sizeof hs : 0);
    uint8_t snap[16];
    zkv_le64_put(snap, rd->snapshot.index);
    zkv_le64_put(snap + 8, rd->snapshot.term);
    zmsg_addmem(msg, snap, snapshot ? sizeof snap : 0);
    if (s_add_entries(self, msg, rd->entries, installed ? rd->n_entries : 0))
        zmsg_send(&msg, self->log);
    zmsg_destroy(&msg);
}

static void s_apply(repl_t *self, const zkv_raft_ready_t *rd)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "APPLY");
    if (s_add_entries(self, msg, rd->committed, rd->n_committed))
        zmsg_send(&msg, self->storage);
    zmsg_destroy(&msg);
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
        zmsg_t *msg = zmsg_new();
        if (read->status == ZKV_OK) {
            zmsg_addstr(msg, "SERVE");
            zkv_msg_add_u64(msg, read->context);
            zkv_msg_add_u64(msg, read->index);
            zframe_t *copy = zframe_dup(request);
            zmsg_append(msg, &copy);
            zmsg_send(&msg, self->storage);
        } else {
            zmsg_addstr(msg, "READFAIL");
            zkv_msg_add_u64(msg, read->context);
            zkv_msg_add_u64(msg, (uint64_t) (int64_t) read->status);
            zkv_msg_send_or_drop(&msg, self->client);
        }
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
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "STATE");
    zkv_msg_add_u64(msg, st.role);
    zkv_msg_add_u64(msg, st.term);
    zkv_msg_add_u64(msg, st.leader);
    zkv_msg_add_u64(msg, st.commit);
    zkv_msg_add_u64(msg, st.applied);
    /* At start the client actor may not be connected yet: again next round. */
    self->state_unsent = zkv_msg_send_or_drop(&msg, self->client) != 0;
}

static void s_handle_storage(repl_t *self, zmsg_t *msg);

/*  The snapshot file chunks are read from from now on (the path is the next frame). */
static void s_adopt_snapshot(repl_t *self, zmsg_t *msg, uint64_t index)
{
    char *path = zmsg_popstr(msg);
    if (!path)
        return;
    if (self->snapshot_fd >= 0)
        close(self->snapshot_fd);
    self->snapshot_index = index;
    snprintf(self->snapshot_path, sizeof self->snapshot_path, "%s", path);
    self->snapshot_fd = open(self->snapshot_path, O_RDONLY | O_CLOEXEC);
    zstr_free(&path);
}

/*  A follower's snapshot from the leader: storage installs it before anything
    after it is persisted or applied. Other storage messages that come while
    waiting are handled after this Ready. false: it could not (the core then
    asks the leader for the snapshot again). */
static bool s_install(repl_t *self, const zkv_raft_ready_t *rd)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "INSTALL");
    zkv_msg_add_u64(msg, rd->snapshot.index);
    zkv_msg_add_u64(msg, rd->snapshot.term);
    zkv_msg_add_u64(msg, rd->snapshot.size);
    zmsg_send(&msg, self->storage);
    for (;;) {
        zmq_pollitem_t item = {zsock_resolve(self->storage), 0, ZMQ_POLLIN, 0};
        zmsg_t *reply = zmq_poll(&item, 1, -1) == 1 ? zmsg_recv(self->storage) : NULL;
        if (!reply)
            return false;
        char *command = zmsg_popstr(reply);
        bool done = command && streq(command, "INSTALLED");
        uint64_t index = 0, status = 1;
        bool ok = done && zkv_msg_pop_u64(reply, &index) && zkv_msg_pop_u64(reply, &status) &&
                  status == 0 && index == rd->snapshot.index;
        if (done && !ok && status == 2)
            self->fatal = true; /* our disk failed; storage said how */
        else if (done && !ok)
            zsys_error("zkvd: installing the leader's snapshot %" PRIu64
                       " failed; asking for it again",
                       rd->snapshot.index);
        else if (ok) {
            s_adopt_snapshot(self, reply, index);
            self->prune_ready_id = rd->id;
        }
        if (!done)
            zmsg_pushstr(reply, command ? command : "");
        zstr_free(&command);
        if (done) {
            zmsg_destroy(&reply);
            return ok;
        }
        /* The core takes no calls inside a Ready: after it. */
        zlist_append(self->deferred, reply);
    }
}

static void s_chunks(repl_t *self, const zkv_raft_ready_t *rd)
{
    for (size_t i = 0; i < rd->n_chunks; i++) {
        zmsg_t *msg = zmsg_new();
        zmsg_addstr(msg, "CHUNK");
        zkv_msg_add_u64(msg, rd->chunks[i].snapshot_index);
        zkv_msg_add_u64(msg, rd->chunks[i].snapshot_term);
        zkv_msg_add_u64(msg, rd->chunks[i].offset);
        zmsg_addmem(msg, rd->chunks[i].data, rd->chunks[i].size);
        zmsg_send(&msg, self->storage);
    }
}

/*  The order the core's contract asks for: store, persist, send, apply, serve. */
static void s_process_ready(repl_t *self)
{
    zkv_raft_ready_t rd;
    while (!self->fatal && zkv_raft_has_ready(self->raft) &&
           zkv_raft_ready(self->raft, &rd) == ZKV_OK) {
        s_chunks(self, &rd);
        bool installed = !rd.has_snapshot || s_install(self, &rd);
        if (rd.must_persist)
            s_persist(self, &rd, installed);
        for (size_t i = 0; i < rd.n_messages; i++)
            s_send_peer(self, &rd.messages[i]);
        if (rd.n_committed)
            s_apply(self, &rd);
        if (rd.n_reads)
            s_serve_reads(self, &rd);
        zkv_raft_advance(self->raft, &rd);
        if (!installed)
            zkv_raft_snapshot_failed(self->raft, rd.id);
        for (zmsg_t *m = zlist_pop(self->deferred); m; m = zlist_pop(self->deferred)) {
            s_handle_storage(self, m);
            zmsg_destroy(&m);
        }
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

static bool s_on_sub(repl_t *self)
{
    zframe_t *frame = zframe_recv(self->sub);
    if (!frame)
        return false;
    s_on_peer(self, frame);
    zframe_destroy(&frame);
    return true;
}

static bool s_on_router(repl_t *self)
{
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

static void s_propose(repl_t *self, zmsg_t *msg)
{
    zframe_t *commands = zmsg_pop(msg);
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, commands);
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
    if (rc != ZKV_OK && commands) {
        zmsg_t *rejected = zmsg_new();
        zmsg_addstr(rejected, "REJECTED");
        zkv_msg_add_u64(rejected, (uint64_t) (int64_t) rc);
        zmsg_append(rejected, &commands);
        zkv_msg_send_or_drop(&rejected, self->client);
    }
    zframe_destroy(&commands);
}

static void s_read_index(repl_t *self, zmsg_t *msg)
{
    uint64_t context;
    zframe_t *request = NULL;
    if (!zkv_msg_pop_u64(msg, &context) || !(request = zmsg_pop(msg)))
        return;
    int rc = zkv_raft_read_index(self->raft, context);
    if (rc == ZKV_OK) {
        char key[24];
        snprintf(key, sizeof key, "%" PRIx64, context);
        zhashx_update(self->reads, key, request);
        return;
    }
    zframe_destroy(&request);
    zmsg_t *fail = zmsg_new();
    zmsg_addstr(fail, "READFAIL");
    zkv_msg_add_u64(fail, context);
    zkv_msg_add_u64(fail, (uint64_t) (int64_t) rc);
    zkv_msg_send_or_drop(&fail, self->client);
}

static bool s_on_client(repl_t *self)
{
    zmsg_t *msg = zmsg_recv(self->client);
    if (!msg)
        return false;
    char *command = zmsg_popstr(msg);
    if (command && streq(command, "PROPOSE"))
        s_propose(self, msg);
    else if (command && streq(command, "READ"))
        s_read_index(self, msg);
    zstr_free(&command);
    zmsg_destroy(&msg);
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
        zmsg_t *drop = zmsg_new();
        zmsg_addstr(drop, "DROP");
        zkv_msg_add_u64(drop, self->compact_index + 1);
        zkv_msg_send_or_drop(&drop, self->log);
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
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "PRUNE");
    zmsg_addstr(msg, self->snapshot_path);
    zkv_msg_send_or_drop(&msg, self->storage);
}

static bool s_on_log(repl_t *self)
{
    zmsg_t *msg = zmsg_recv(self->log);
    if (!msg)
        return false;
    char *command = zmsg_popstr(msg);
    uint64_t id;
    if (command && streq(command, "DURABLE") && zkv_msg_pop_u64(msg, &id)) {
        zkv_raft_persisted(self->raft, id);
        s_prune(self, id);
        s_compact(self);
    } else if (command && streq(command, "FATAL")) {
        char *what = zmsg_popstr(msg);
        char *why = zmsg_popstr(msg);
        char *detail = zmsg_popstr(msg);
        zsys_error("zkvd: %s: %s: %s", what ? what : "?", why ? why : "?", detail ? detail : "");
        zstr_free(&what);
        zstr_free(&why);
        zstr_free(&detail);
        self->fatal = true;
    }
    zstr_free(&command);
    zmsg_destroy(&msg);
    return true;
}

static void s_new_snapshot(repl_t *self, zmsg_t *msg)
{
    uint64_t index, term, size;
    /* Not newer than ours: taken while a newer one from the leader was installed. */
    if (!zkv_msg_pop_u64(msg, &index) || !zkv_msg_pop_u64(msg, &term) ||
        !zkv_msg_pop_u64(msg, &size) || index <= self->snapshot_index)
        return;
    s_adopt_snapshot(self, msg, index);
    self->compact_index = index;
    self->compact_size = size;
    s_compact(self);
}

static void s_handle_storage(repl_t *self, zmsg_t *msg)
{
    char *command = zmsg_popstr(msg);
    uint64_t index;
    if (command && streq(command, "APPLIED") && zkv_msg_pop_u64(msg, &index))
        zkv_raft_applied(self->raft, index);
    else if (command && streq(command, "SNAPSHOT"))
        s_new_snapshot(self, msg);
    zstr_free(&command);
}

static bool s_on_storage(repl_t *self)
{
    zmsg_t *msg = zmsg_recv(self->storage);
    if (!msg)
        return false;
    s_handle_storage(self, msg);
    zmsg_destroy(&msg);
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
    zpoller_destroy(&self->poller);
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
    for (zmsg_t *m = self->deferred ? zlist_pop(self->deferred) : NULL; m;
         m = zlist_pop(self->deferred))
        zmsg_destroy(&m);
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
    self->poller = zpoller_new(self->pipe, self->client, self->log, self->storage, self->sub,
                               self->router, NULL);
    return self->poller ? 0 : -1;
}

typedef bool (*handler_fn)(repl_t *self);

/*  Take everything waiting on every socket before the next Ready, so that one
    round batches as much as it can. The sockets do not block on receive
    (s_repl_init): a handler says false when its socket is empty, which costs
    libzmq one call, where asking each socket first would cost two. */
static void s_drain(repl_t *self)
{
    handler_fn handlers[] = {s_on_client, s_on_log, s_on_storage, s_on_sub, s_on_router};
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        for (int n = 0; n < DRAIN_MAX && handlers[i](self); n++)
            ;
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
    bool terminated = false;
    while (!terminated) {
        int64_t wait = self.next_tick - zclock_mono();
        void *which = zpoller_wait(self.poller, wait > 0 ? (int) wait : 0);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            terminated = !command || streq(command, "$TERM");
            zstr_free(&command);
            continue;
        }
        if (zpoller_terminated(self.poller))
            break;
        s_drain(&self);
        s_tick(&self);
        s_process_ready(&self);
        if (self.fatal) {
            zstr_send(pipe, "FATAL");
            break;
        }
    }
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
