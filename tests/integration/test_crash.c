/*  integration_crash: kill -9 under load. Several clients keep many writes in
    flight; the leader is killed with SIGKILL; a new leader must be agreed
    within a bound, and every write that was acknowledged (before or after
    the crash) must read back linearizably. Then all three nodes are killed
    at once and restarted: every acknowledged write is still there. Then,
    still under load, each node in turn is killed and restarted. */
#include <string.h>

#include "harness.h"

#define WRITERS 4
#define WINDOW 64           /* writes in flight per writer */
#define KEYS_MAX 100000     /* per writer */
#define LOAD_MS 1500        /* writing before the crash, and after the new leader */
#define NEW_LEADER_MS 10000 /* the bound asserted on the election after the crash */
#define DRAIN_MS 30000
#define READ_WINDOW 256
#define ROUNDS 3 /* rolling kill -9 and restart, one node at a time */
#define ROUND_MS 700
#define SNAPSHOT_ENTRIES 5000 /* so that restarts boot from snapshots and catch up by them */

typedef enum { KEY_UNSENT = 0, KEY_INFLIGHT, KEY_ACKED, KEY_UNKNOWN } key_state_t;

typedef struct writer_s writer_t;

typedef struct {
    writer_t *writer;
    size_t i;
    int64_t submitted_ms;
    char key[H_KEY_SIZE];
    char value[H_VALUE_SIZE];
} slot_t;

struct writer_s {
    uint32_t n;
    zkv_client_t *client;
    uint8_t *state; /* key_state_t per key number */
    size_t next;
    slot_t slots[WINDOW];
    size_t free[WINDOW];
    size_t free_count;
    size_t acked, unknown, refused;
    int refused_status;
};

typedef struct {
    writer_t writers[WRITERS];
    int64_t kill_ms;      /* when the leader was killed; 0 before */
    int64_t first_ack_ms; /* first ack of a write submitted after the kill */
} load_t;

static load_t s_load;

static void s_key(char *buf, uint32_t writer, size_t i)
{
    snprintf(buf, H_KEY_SIZE, "crash-w%u-%06zu", writer, i);
}

static void s_value(char *buf, uint32_t writer, size_t i)
{
    snprintf(buf, H_VALUE_SIZE, "v-w%u-%06zu-%040zu", writer, i, i * 104729u);
}

static void s_write_done(void *arg, int rc, const Zkv__Response *reply)
{
    slot_t *slot = arg;
    writer_t *w = slot->writer;
    if (rc == 0 && reply->status == ZKV__STATUS__OK) {
        w->state[slot->i] = KEY_ACKED;
        w->acked++;
        if (s_load.kill_ms && slot->submitted_ms > s_load.kill_ms && !s_load.first_ack_ms)
            s_load.first_ack_ms = h_now_ms();
    } else if (rc == ZKV_CLIENT_ETIMEDOUT) {
        w->state[slot->i] = KEY_UNKNOWN;
        w->unknown++;
    } else {
        w->state[slot->i] = KEY_UNKNOWN;
        w->refused++;
        w->refused_status = rc ? rc : (int) reply->status;
    }
    w->free[w->free_count++] = (size_t) (slot - w->slots);
}

static void s_submit(writer_t *w)
{
    while (w->free_count > 0 && w->next < KEYS_MAX) {
        slot_t *slot = &w->slots[w->free[w->free_count - 1]];
        slot->writer = w;
        slot->i = w->next;
        slot->submitted_ms = h_now_ms();
        s_key(slot->key, w->n, slot->i);
        s_value(slot->value, w->n, slot->i);
        zkv_op_t op = {.type = ZKV_OP_PUT,
                       .key = {(const uint8_t *) slot->key, strlen(slot->key)},
                       .value = {(const uint8_t *) slot->value, strlen(slot->value)}};
        int rc = zkv_client_submit(w->client, &op, s_write_done, slot);
        if (rc == ZKV_EBUSY)
            return;
        CHECK(rc == 0, "submit: %s", zkv_client_strerror(rc));
        w->free_count--;
        w->state[w->next++] = KEY_INFLIGHT;
    }
}

/*  Run every writer's client for up to ms, submitting new writes when asked. */
static void s_drive(int64_t ms, bool submit)
{
    int64_t until = h_now_ms() + ms;
    do {
        zmq_pollitem_t items[WRITERS * ZKV_CLIENT_ENDPOINTS_MAX];
        size_t n = 0;
        int64_t wait = until - h_now_ms();
        for (size_t k = 0; k < WRITERS; k++) {
            writer_t *w = &s_load.writers[k];
            if (submit)
                s_submit(w);
            n += zkv_client_pollitems(w->client, items + n, ZKV_CLIENT_ENDPOINTS_MAX);
            int64_t next = zkv_client_wait_ms(w->client);
            if (next >= 0 && next < wait)
                wait = next;
        }
        zmq_poll(items, (int) n, (long) (wait > 0 ? wait : 0));
        for (size_t k = 0; k < WRITERS; k++)
            zkv_client_dispatch(s_load.writers[k].client);
    } while (h_now_ms() < until);
}

/*  Drive until done() or timeout_ms; whether done() came true. */
static bool s_drive_until(bool (*done)(void), int64_t timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    while (!done() && h_now_ms() < deadline)
        s_drive(100, true);
    return done();
}

static size_t s_inflight(void)
{
    size_t n = 0;
    for (size_t k = 0; k < WRITERS; k++)
        n += zkv_client_inflight(s_load.writers[k].client);
    return n;
}

static size_t s_acked(void)
{
    size_t n = 0;
    for (size_t k = 0; k < WRITERS; k++)
        n += s_load.writers[k].acked;
    return n;
}

static size_t s_target;

static bool s_reached_target(void)
{
    return s_acked() >= s_target;
}

static bool s_acked_since_kill(void)
{
    return s_load.first_ack_ms != 0;
}

/*  Attempts, retries, redirects... of the first writer, for a failure message. */
static const char *s_stats(void)
{
    static char text[256];
    zkv_client_stats_t st;
    zkv_client_stats(s_load.writers[0].client, &st);
    snprintf(text, sizeof text,
             "writer 0: %llu attempts, %llu retries, %llu redirects, %llu without reply, %llu "
             "refused; last error: %s",
             (unsigned long long) st.attempts, (unsigned long long) st.retries,
             (unsigned long long) st.redirects, (unsigned long long) st.no_reply,
             (unsigned long long) st.refused, zkv_client_error(s_load.writers[0].client));
    return text;
}

static void s_writers_start(zkv_cluster_t *cluster)
{
    for (uint32_t k = 0; k < WRITERS; k++) {
        writer_t *w = &s_load.writers[k];
        w->n = k;
        w->client = h_client(cluster, k % 3 + 1, 10000, WINDOW);
        w->state = calloc(KEYS_MAX, 1);
        CHECK(w->state, "out of memory");
        for (size_t s = 0; s < WINDOW; s++)
            w->free[w->free_count++] = s;
    }
}

/* ---------------------------------------------------------------- reading back */

typedef struct {
    char key[H_KEY_SIZE];
    char value[H_VALUE_SIZE];
    bool acked;
    bool free;
} read_slot_t;

typedef struct {
    read_slot_t slots[READ_WINDOW];
    size_t verified; /* acknowledged and read back with their value */
    size_t lost;     /* acknowledged and missing or wrong */
    size_t corrupt;  /* unacknowledged and present with a wrong value */
    char first_lost[H_KEY_SIZE + 64];
} reader_t;

static reader_t s_reader;

static void s_read_done(void *arg, int rc, const Zkv__Response *reply)
{
    read_slot_t *slot = arg;
    slot->free = true;
    bool ok = rc == 0 && reply->status == ZKV__STATUS__OK &&
              reply->value.len == strlen(slot->value) &&
              memcmp(reply->value.data, slot->value, reply->value.len) == 0;
    bool absent = rc == 0 && reply->status == ZKV__STATUS__NOT_FOUND;
    if (slot->acked && ok)
        s_reader.verified++;
    else if (slot->acked) {
        if (!s_reader.lost++)
            snprintf(s_reader.first_lost, sizeof s_reader.first_lost, "%s (rc %d status %d)",
                     slot->key, rc, rc == 0 ? (int) reply->status : 0);
    } else if (!ok && !absent)
        s_reader.corrupt++;
}

static read_slot_t *s_free_slot(void)
{
    for (size_t s = 0; s < READ_WINDOW; s++)
        if (s_reader.slots[s].free)
            return &s_reader.slots[s];
    return NULL;
}

/*  Read every key written (acknowledged or not) linearizably. */
static void s_verify(zkv_cluster_t *cluster, const char *when)
{
    memset(&s_reader, 0, sizeof s_reader);
    for (size_t s = 0; s < READ_WINDOW; s++)
        s_reader.slots[s].free = true;
    zkv_client_t *client = h_client(cluster, 1, 10000, READ_WINDOW);
    int64_t started = h_now_ms();
    for (uint32_t k = 0; k < WRITERS; k++) {
        writer_t *w = &s_load.writers[k];
        for (size_t i = 0; i < w->next; i++) {
            read_slot_t *slot;
            while (!(slot = s_free_slot()))
                zkv_client_poll(client, 100);
            slot->free = false;
            slot->acked = w->state[i] == KEY_ACKED;
            s_key(slot->key, k, i);
            s_value(slot->value, k, i);
            zkv_op_t op = {.type = ZKV_OP_GET,
                           .key = {(const uint8_t *) slot->key, strlen(slot->key)}};
            CHECK(zkv_client_submit(client, &op, s_read_done, slot) == 0, "submit read");
        }
    }
    while (zkv_client_inflight(client) > 0)
        zkv_client_poll(client, 100);
    zkv_client_destroy(&client);
    size_t acked = s_acked();
    CHECK(s_reader.lost == 0, "%s: %zu of %zu acknowledged writes lost; first: %s", when,
          s_reader.lost, acked, s_reader.first_lost);
    CHECK(s_reader.verified == acked, "%s: verified %zu of %zu", when, s_reader.verified, acked);
    CHECK(s_reader.corrupt == 0, "%s: %zu keys hold a value never written", when, s_reader.corrupt);
    h_note("%s: all %zu acknowledged writes read back linearizably (%lld ms)", when, acked,
           (long long) (h_now_ms() - started));
}

/* ---------------------------------------------------------------- the test */

/*  Write on while waiting for a leader other than the one killed; its id. */
static uint32_t s_wait_new_leader(zkv_cluster_t *cluster, uint32_t old)
{
    uint32_t leader = 0;
    while (!leader && h_now_ms() - s_load.kill_ms < NEW_LEADER_MS + 5000) {
        s_drive(100, true);
        leader = zkv_cluster_wait_leader(cluster, 0);
        h_check_alive(cluster);
    }
    int64_t took = h_now_ms() - s_load.kill_ms;
    CHECK(leader && leader != old, "no new leader %lld ms after killing node %u", (long long) took,
          old);
    CHECK(took <= NEW_LEADER_MS, "new leader %u took %lld ms (bound %d)", leader, (long long) took,
          NEW_LEADER_MS);
    h_note("new leader: node %u, agreed %lld ms after kill -9 of node %u", leader, (long long) took,
           old);
    return leader;
}

static void s_drain(void)
{
    int64_t deadline = h_now_ms() + DRAIN_MS;
    while (s_inflight() > 0 && h_now_ms() < deadline)
        s_drive(100, false);
    CHECK(s_inflight() == 0, "%zu writes still in flight after %d ms", s_inflight(), DRAIN_MS);
    size_t unknown = 0, refused = 0;
    for (size_t k = 0; k < WRITERS; k++) {
        unknown += s_load.writers[k].unknown;
        refused += s_load.writers[k].refused;
        CHECK(s_load.writers[k].refused == 0, "writer %zu: %zu writes refused, the last with %d", k,
              s_load.writers[k].refused, s_load.writers[k].refused_status);
    }
    h_note("writes: %zu acknowledged, %zu with unknown outcome (timed out), %zu refused", s_acked(),
           unknown, refused);
}

/*  Each node in turn: killed under load, started again under load. */
static void s_rolling(zkv_cluster_t *cluster)
{
    size_t before = s_acked();
    for (uint32_t round = 0; round < ROUNDS; round++) {
        uint32_t id = round % 3 + 1;
        s_drive(ROUND_MS, true);
        CHECK(zkv_cluster_kill(cluster, id) == 0, "kill node %u", id);
        s_drive(ROUND_MS, true);
        h_check_alive(cluster);
        CHECK(zkv_cluster_start(cluster, id) == 0, "start node %u", id);
    }
    s_target = before + 1;
    CHECK(s_drive_until(s_reached_target, H_CATCH_UP_MS),
          "no write acknowledged during the rolling restarts; %s", s_stats());
    s_drain();
    uint32_t leader = h_leader(cluster);
    zkv_node_status_t st;
    CHECK(zkv_cluster_status(cluster, leader, &st) == 0, "status of leader %u", leader);
    for (uint32_t id = 1; id <= 3; id++)
        CHECK(zkv_cluster_wait_applied(cluster, id, st.commit, H_CATCH_UP_MS) == 0,
              "node %u did not apply up to %llu", id, (unsigned long long) st.commit);
    h_note("rolling kill -9: every node restarted and applied up to %llu",
           (unsigned long long) st.commit);
}

int main(void)
{
    uint32_t leader;
    zkv_cluster_config_t config = {.name = "crash", .snapshot_entries = SNAPSHOT_ENTRIES};
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    s_writers_start(cluster);
    s_drive(LOAD_MS, true);
    s_target = 1;
    CHECK(s_drive_until(s_reached_target, H_CATCH_UP_MS), "no write acknowledged; %s", s_stats());
    size_t before = s_acked();
    h_note("%zu writes acknowledged, %zu in flight: kill -9 leader %u", before, s_inflight(),
           leader);

    s_load.kill_ms = h_now_ms();
    CHECK(zkv_cluster_kill(cluster, leader) == 0, "kill node %u", leader);
    uint32_t next = s_wait_new_leader(cluster, leader);
    CHECK(s_drive_until(s_acked_since_kill, H_CATCH_UP_MS),
          "no write submitted after the crash was acknowledged; %s", s_stats());
    s_drive(LOAD_MS, true);
    h_note("first write submitted after the crash acknowledged %lld ms after it",
           (long long) (s_load.first_ack_ms - s_load.kill_ms));
    s_drain();
    CHECK(s_acked() > before, "no write acknowledged after the crash");
    s_verify(cluster, "after kill -9 of the leader");

    for (uint32_t id = 1; id <= 3; id++)
        if (id != leader)
            CHECK(zkv_cluster_kill(cluster, id) == 0, "kill node %u", id);
    h_note("kill -9 of nodes %u and the rest; restarting all three", next);
    CHECK(zkv_cluster_start_all(cluster) == 0, "restart the nodes");
    h_leader(cluster);
    s_verify(cluster, "after kill -9 of every node and a restart");
    s_rolling(cluster);
    s_verify(cluster, "after rolling kill -9 and restarts under load");

    for (size_t k = 0; k < WRITERS; k++) {
        zkv_client_destroy(&s_load.writers[k].client);
        free(s_load.writers[k].state);
    }
    h_cluster_finish(&cluster);
    return 0;
}
