/*  log actor: PERSIST -> WAL append, one sync per drained batch -> DURABLE. */
#include "log.h"

#include <inttypes.h>

#include "actor.h"
#include "inproc.h"
#include "le.h"
#include "trace.h"
#include "zkv_error.h"

#define LOG_BATCH_MAX 4096 /* PERSIST messages folded into one sync */
#define LOG_FLAG_HARD_STATE 1
#define LOG_FLAG_SNAPSHOT 2

typedef struct {
    zsock_t *pipe;
    zsock_t *pair; /* to the replication actor */
    zkv_wal_t *wal;
    zkv_tracer_t *tracer;
    zkv_wal_entry_t *entries; /* scratch for one PERSIST */
    size_t entries_capacity;
    bool failed; /* the WAL refused a write: nothing more is acknowledged */
    uint64_t durable_id;
} log_t;

typedef struct {
    uint32_t node_id;
    zkv_wal_t *wal;
} log_args_t;

static void s_fail(log_t *self, const char *what, int rc)
{
    self->failed = true;
    zstr_sendx(self->pair, "FATAL", what, zkv_strerror(rc), zkv_wal_error(self->wal), NULL);
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

static int s_apply_state(log_t *self, zmsg_t *msg, uint8_t flags)
{
    zframe_t *hs = zmsg_pop(msg);
    zframe_t *snap = zmsg_pop(msg);
    int rc = ZKV_OK;
    if (!hs || !snap)
        rc = ZKV_EINVAL;
    else if ((flags & LOG_FLAG_SNAPSHOT) && zframe_size(snap) == 16)
        rc = zkv_wal_reset(self->wal, zkv_le64_get(zframe_data(snap)) + 1);
    if (rc == ZKV_OK && (flags & LOG_FLAG_HARD_STATE) && zframe_size(hs) == 20) {
        const uint8_t *p = zframe_data(hs);
        zkv_wal_hard_state_t state = {
            .term = zkv_le64_get(p),
            .vote = zkv_le32_get(p + 8),
            .commit = zkv_le64_get(p + 12),
        };
        rc = zkv_wal_set_hard_state(self->wal, &state);
    }
    zframe_destroy(&hs);
    zframe_destroy(&snap);
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

/*  One PERSIST: ready id, flags, hard state, snapshot, entries. */
static int s_persist(log_t *self, zmsg_t *msg)
{
    uint64_t id;
    zframe_t *flags = NULL;
    int rc = ZKV_EINVAL;
    if (zkv_msg_pop_u64(msg, &id) && (flags = zmsg_pop(msg)) && zframe_size(flags) == 1) {
        rc = s_apply_state(self, msg, zframe_data(flags)[0]);
        zframe_t *entries = rc == ZKV_OK ? zmsg_pop(msg) : NULL;
        if (rc == ZKV_OK)
            rc = s_append(self, entries);
        zframe_destroy(&entries);
        if (rc == ZKV_OK && id > self->durable_id)
            self->durable_id = id;
    }
    zframe_destroy(&flags);
    return rc;
}

static void s_handle(log_t *self, zmsg_t *msg, bool *wrote)
{
    char *command = zmsg_popstr(msg);
    assert(command); /* our own replication actor's message */
    if (streq(command, "PERSIST")) {
        int rc = s_persist(self, msg);
        if (rc != ZKV_OK)
            s_fail(self, "log write failed", rc);
        *wrote = true;
    } else if (streq(command, "DROP")) {
        uint64_t index;
        if (zkv_msg_pop_u64(msg, &index)) {
            int rc = zkv_wal_drop_before(self->wal, index);
            if (rc != ZKV_OK)
                s_fail(self, "dropping old log segments failed", rc);
        }
    } else
        assert(!"unknown log command");
    zstr_free(&command);
}

/*  Drain what is waiting, then make it durable at once. */
static void s_on_pair(log_t *self)
{
    bool wrote = false;
    uint64_t first = zkv_wal_last_index(self->wal);
    size_t messages = 0;
    for (int n = 0; n < LOG_BATCH_MAX && !self->failed; n++) {
        zmsg_t *msg = zmsg_recv(self->pair); /* does not block: NULL when none is left */
        if (!msg)
            break;
        s_handle(self, msg, &wrote);
        zmsg_destroy(&msg);
        messages++;
    }
    if (!wrote || self->failed)
        return;
    int64_t started = zclock_usecs();
    int rc = zkv_wal_sync(self->wal);
    if (rc != ZKV_OK) {
        s_fail(self, "log sync failed", rc);
        return;
    }
    /* latency: the sync alone; entries: how far the log grew (0 after a truncation). */
    uint64_t last = zkv_wal_last_index(self->wal);
    zkv_tracer_emit(self->tracer, "persist", 0, last, 0, (uint64_t) (zclock_usecs() - started),
                    "entries=%" PRIu64 " messages=%zu", last > first ? last - first : 0, messages);
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "DURABLE");
    zkv_msg_add_u64(reply, self->durable_id);
    zkv_msg_send_or_drop(&reply, self->pair);
}

static void s_log_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("log");
    log_args_t *args = arg;
    log_t self = {.pipe = pipe, .wal = args->wal};
    self.pair = zkv_actor_pair(args->node_id, "log", true);
    self.tracer = zkv_tracer_new(args->node_id);
    if (self.pair) { /* the replication actor stops first: never block on it */
        zsock_set_sndtimeo(self.pair, 0);
        zsock_set_rcvtimeo(self.pair, 0);
    }
    if (!self.pair) {
        zkv_tracer_destroy(&self.tracer);
        zkv_wal_destroy(&self.wal);
        zkv_actor_ready(pipe, 1);
        return;
    }
    zpoller_t *poller = zpoller_new(pipe, self.pair, NULL);
    zkv_actor_ready(pipe, 0);
    bool terminated = false;
    while (!terminated) {
        void *which = zpoller_wait(poller, -1);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            terminated = !command || streq(command, "$TERM");
            zstr_free(&command);
        } else if (which == self.pair)
            s_on_pair(&self);
        else if (zpoller_terminated(poller))
            terminated = true;
    }
    /* Whatever was acknowledged is durable already; a last sync is for tidiness. */
    if (!self.failed)
        zkv_wal_sync(self.wal);
    zpoller_destroy(&poller);
    zsock_destroy(&self.pair);
    zkv_tracer_destroy(&self.tracer);
    zkv_wal_destroy(&self.wal);
    free(self.entries);
}

zactor_t *zkv_log_actor_new(uint32_t node_id, zkv_wal_t **wal_p)
{
    log_args_t args = {.node_id = node_id, .wal = *wal_p};
    *wal_p = NULL;
    return zkv_actor_start(s_log_actor, &args);
}
