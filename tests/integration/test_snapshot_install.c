/*  integration_snapshot_install: a follower that was away while the others
    took snapshots and dropped their logs (--snapshot-entries 200, thousands
    of writes) can only catch up by InstallSnapshot. A follower killed and
    restarted: it reports "install done" on its trace, the leader traced the
    chunks it sent it, its data directory holds the snapshot it received
    (newer than anything it applied itself) and its serializable reads return
    every key. Then a follower frozen with SIGSTOP while the others compact
    catches up too; and a follower killed while the others compact and then
    restart from their snapshots gets the snapshot a leader booted from. */
#include <dirent.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define SNAPSHOT_ENTRIES 200
#define KEYS_A 3000
#define KEYS_B 2000
#define KEYS_C 1500
#define TRACE_MS 10000
#define TRACE_SETTLE_MS 700
#define BIG_KEYS 30
#define BIG_VALUE_SIZE (100 * 1024)

/*  Big values, so that the snapshot takes several chunks (1 MiB each). */
static void s_big_value(uint8_t *buf, size_t i)
{
    for (size_t k = 0; k < BIG_VALUE_SIZE; k++)
        buf[k] = (uint8_t) ('a' + (k * 31 + i * 7) % 26);
}

static void s_put_big(zkv_client_t *client)
{
    static uint8_t value[BIG_VALUE_SIZE];
    for (size_t i = 0; i < BIG_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "big-%02zu", i);
        s_big_value(value, i);
        zkv_op_t op = {.type = ZKV_OP_PUT,
                       .key = {(const uint8_t *) key, strlen(key)},
                       .value = {value, sizeof value}};
        const Zkv__Response *reply;
        int rc = zkv_client_call(client, &op, &reply);
        CHECK(rc == 0 && reply->status == ZKV__STATUS__OK, "put %s: %d", key, rc);
    }
}

static void s_check_big(zkv_client_t *client, const char *endpoint)
{
    static uint8_t value[BIG_VALUE_SIZE];
    for (size_t i = 0; i < BIG_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "big-%02zu", i);
        s_big_value(value, i);
        zkv_op_t op = {.type = ZKV_OP_GET,
                       .key = {(const uint8_t *) key, strlen(key)},
                       .serializable = true,
                       .endpoint = endpoint};
        const Zkv__Response *reply;
        int rc = zkv_client_call(client, &op, &reply);
        CHECK(rc == 0 && reply->status == ZKV__STATUS__OK && reply->value.len == sizeof value &&
                  memcmp(reply->value.data, value, sizeof value) == 0,
              "serializable get %s from %s: rc %d", key, endpoint, rc);
    }
}

/*  The newest snapshot in the node's snap directory: its index, 0 when none;
    name receives its file name. */
static uint64_t s_newest_snapshot(zkv_cluster_t *cluster, uint32_t id, char *name, size_t size)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/snap", zkv_cluster_data_dir(cluster, id));
    DIR *dir = opendir(path);
    uint64_t newest = 0;
    if (name && size)
        name[0] = 0;
    for (struct dirent *e; dir && (e = readdir(dir));) {
        uint64_t index, term;
        char tail[8] = "";
        if (sscanf(e->d_name, "%16" SCNx64 "-%16" SCNx64 "%7s", &index, &term, tail) == 3 &&
            streq(tail, ".snap") && index > newest) {
            newest = index;
            if (name && size)
                snprintf(name, size, "%.63s", e->d_name);
        }
    }
    if (dir)
        closedir(dir);
    return newest;
}

static bool s_has_file(zkv_cluster_t *cluster, uint32_t id, const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/snap/%s", zkv_cluster_data_dir(cluster, id), name);
    return access(path, F_OK) == 0;
}

static uint64_t s_applied(zkv_cluster_t *cluster, uint32_t id)
{
    zkv_node_status_t st;
    CHECK(zkv_cluster_status(cluster, id, &st) == 0, "status of node %u", id);
    return st.applied;
}

/*  Wait for "install done: <name>" on the follower's trace; check the file
    is in its data directory, at an index past what it applied itself. The
    time it took since since_ms. */
static int64_t s_expect_install(zkv_cluster_t *cluster, h_trace_t *trace, uint32_t id,
                                uint64_t applied_before, int64_t since_ms)
{
    h_event_t event;
    int64_t deadline = h_now_ms() + H_CATCH_UP_MS;
    bool done = false;
    while (!done && h_now_ms() < deadline) {
        done = h_trace_wait(trace, "snapshot", "install done", 0, 200, &event);
        h_check_alive(cluster);
    }
    CHECK(done, "node %u reported no snapshot install within %d ms", id, H_CATCH_UP_MS);
    int64_t took = h_now_ms() - since_ms;
    const char *name = strstr(event.detail, ": ");
    CHECK(name && strlen(name + 2) == 38, "install event without a file name: '%s'", event.detail);
    name += 2;
    CHECK(s_has_file(cluster, id, name), "node %u's snap directory has no %s", id, name);
    uint64_t index = strtoull(name, NULL, 16);
    CHECK(index == event.index && index > applied_before + SNAPSHOT_ENTRIES,
          "installed snapshot %s at index %" PRIu64 ", node had applied %" PRIu64, name, index,
          applied_before);
    h_note("node %u installed snapshot %s (index %" PRIu64 ") %lld ms after it came back", id, name,
           index, (long long) took);
    return took;
}

/*  The other nodes' traces: one of them (whichever leads) sent the follower
    the last chunk of a snapshot past what it had applied. */
static void s_expect_sent(h_trace_t *trace, uint32_t to, uint64_t applied_before)
{
    h_event_t event;
    CHECK(h_trace_wait(trace, "snapshot", "last=1", to, TRACE_MS, &event),
          "no leader traced a last snapshot chunk to node %u", to);
    CHECK(event.index > applied_before, "node %u was sent snapshot %" PRIu64 ", had %" PRIu64, to,
          event.index, applied_before);
    CHECK(!strstr(event.detail, "offset=0 "), "the snapshot took one chunk: %s", event.detail);
    h_note("node %u sent node %u snapshot %" PRIu64 " (%s)", event.node, to, event.index,
           event.detail);
}

/*  Both others compacted past what the follower holds: it cannot be sent
    entries. (A follower applies, and snapshots, a little after the leader.) */
static void s_expect_compacted(zkv_cluster_t *cluster, uint32_t away, uint64_t applied_before)
{
    for (uint32_t id = 1; id <= 3; id++) {
        if (id == away)
            continue;
        uint64_t newest = 0;
        int64_t deadline = h_now_ms() + H_CATCH_UP_MS;
        while ((newest = s_newest_snapshot(cluster, id, NULL, 0)) <=
                   applied_before + SNAPSHOT_ENTRIES &&
               h_now_ms() < deadline) {
            struct timespec pause = {0, 20 * 1000000};
            nanosleep(&pause, NULL);
        }
        CHECK(newest > applied_before + SNAPSHOT_ENTRIES,
              "node %u's newest snapshot is at %" PRIu64 ", node %u has %" PRIu64, id, newest, away,
              applied_before);
    }
}

/*  Wait for any event of a node that just started: its trace now works for
    the actor that sent it. Each of the node's actors learns that somebody
    watches on its own, within TRACE_SETTLE_MS (the trace actor repeats the
    news every 500 ms; a tracer looks for it at most every 50 ms): an event
    emitted before then, like the storage actor's "install done", may be
    dropped unseen. */
static void s_trace_ready(h_trace_t *trace, uint32_t id)
{
    CHECK(h_trace_wait(trace, NULL, NULL, 0, TRACE_MS, NULL),
          "no trace event from node %u within %d ms of its start", id, TRACE_MS);
    zclock_sleep(TRACE_SETTLE_MS);
}

/*  Every event of the nodes but skip, known to come through once each has
    sent one (writes make every node trace something). */
static h_trace_t *s_watch_others(zkv_cluster_t *cluster, zkv_client_t *client, uint32_t skip)
{
    h_trace_t *trace = NULL;
    bool seen[4] = {false};
    seen[skip] = true;
    for (uint32_t id = 1; id <= 3; id++)
        if (id != skip && !trace)
            trace = h_trace_open(cluster, id, "");
        else if (id != skip)
            h_trace_add(trace, cluster, id);
    int64_t deadline = h_now_ms() + TRACE_MS;
    while (!(seen[1] && seen[2] && seen[3]) && h_now_ms() < deadline) {
        CHECK(h_put(client, "ping", "1") == ZKV__STATUS__OK, "put ping");
        h_event_t event;
        while (h_trace_wait(trace, NULL, NULL, 0, 20, &event))
            if (event.node >= 1 && event.node <= 3)
                seen[event.node] = true;
    }
    CHECK(seen[1] && seen[2] && seen[3], "no trace events from the nodes but %u", skip);
    return trace;
}

/*  Killed; the others take snapshots and drop their logs (and, when asked,
    restart from those snapshots); started again. The others are frozen while
    it starts, so that its trace is watched before any snapshot can reach it. */
static int64_t s_killed_follower(zkv_cluster_t *cluster, zkv_client_t *client, uint32_t f,
                                 const char *prefix, size_t count, bool restart_others)
{
    uint64_t applied = s_applied(cluster, f);
    char before[64];
    uint64_t had = s_newest_snapshot(cluster, f, before, sizeof before);
    CHECK(zkv_cluster_kill(cluster, f) == 0, "kill node %u", f);
    s_put_big(client);
    h_put_many(client, prefix, 0, count, 128);
    s_expect_compacted(cluster, f, applied);
    h_note("%zu keys written while node %u was down (at index %" PRIu64 ", snapshot '%s')", count,
           f, applied, before);
    for (uint32_t id = 1; id <= 3; id++)
        if (id != f && restart_others) {
            h_stop_clean(cluster, id);
            CHECK(zkv_cluster_start(cluster, id) == 0, "start node %u", id);
        }
    if (restart_others)
        h_note("the others restarted from their snapshots, leader %u", h_leader(cluster));
    h_trace_t *others = s_watch_others(cluster, client, f);

    for (uint32_t id = 1; id <= 3; id++)
        if (id != f)
            CHECK(zkv_cluster_pause(cluster, id) == 0, "pause node %u", id);
    CHECK(zkv_cluster_start(cluster, f) == 0, "start node %u", f);
    h_trace_t *ftrace = h_trace_open(cluster, f, "");
    s_trace_ready(ftrace, f);
    int64_t back = h_now_ms();
    for (uint32_t id = 1; id <= 3; id++)
        if (id != f)
            CHECK(zkv_cluster_resume(cluster, id) == 0, "resume node %u", id);
    int64_t took = s_expect_install(cluster, ftrace, f, applied, back);
    s_expect_sent(others, f, applied);
    CHECK(s_newest_snapshot(cluster, f, NULL, 0) > had, "node %u has no newer snapshot", f);
    h_trace_close(&ftrace);
    h_trace_close(&others);
    h_expect_many(client, prefix, 0, count, zkv_cluster_client_endpoint(cluster, f), H_CATCH_UP_MS);
    s_check_big(client, zkv_cluster_client_endpoint(cluster, f));
    h_check_alive(cluster);
    h_note("node %u, restarted, serves all %zu keys and %d values of %d KiB from its own state", f,
           count, BIG_KEYS, BIG_VALUE_SIZE / 1024);
    return took;
}

/*  Frozen (SIGSTOP) while the others compact. Its connections stay up, and
    the leader's PUB queues every broadcast it misses (up to its high-water
    mark), so it may well catch up from those without a snapshot: what is
    checked is that it catches up, whichever way. */
static void s_paused_follower(zkv_cluster_t *cluster, zkv_client_t *client, uint32_t leader,
                              uint32_t f)
{
    uint64_t applied = s_applied(cluster, f);
    h_trace_t *ftrace = h_trace_open(cluster, f, "snapshot ");
    CHECK(zkv_cluster_pause(cluster, f) == 0, "pause node %u", f);
    h_put_many(client, "snap-b-", 0, KEYS_B, 128);
    s_expect_compacted(cluster, f, applied);
    zkv_node_status_t lst;
    CHECK(zkv_cluster_status(cluster, leader, &lst) == 0, "status of leader %u", leader);
    int64_t back = h_now_ms();
    CHECK(zkv_cluster_resume(cluster, f) == 0, "resume node %u", f);
    CHECK(zkv_cluster_wait_applied(cluster, f, lst.commit, H_CATCH_UP_MS) == 0,
          "node %u, resumed, did not apply up to %" PRIu64 " within %d ms", f, lst.commit,
          H_CATCH_UP_MS);
    int64_t took = h_now_ms() - back;
    const char *endpoint = zkv_cluster_client_endpoint(cluster, f);
    h_expect_many(client, "snap-b-", 0, KEYS_B, endpoint, H_CATCH_UP_MS);
    h_expect_many(client, "snap-a-", 0, KEYS_A, endpoint, H_CATCH_UP_MS);
    bool installed = h_trace_wait(ftrace, "snapshot", "install done", 0, 0, NULL);
    h_note("node %u, frozen at %" PRIu64 " during %d writes, caught up %lld ms after SIGCONT (%s)",
           f, applied, KEYS_B, (long long) took,
           installed ? "by a snapshot" : "from the queued broadcasts");
    h_trace_close(&ftrace);
}

int main(void)
{
    uint32_t leader;
    zkv_cluster_config_t config = {.name = "snapinst", .snapshot_entries = SNAPSHOT_ENTRIES};
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    uint32_t f = h_follower(cluster, leader);
    zkv_client_t *client = h_client(cluster, leader, 10000, 128);
    h_put_many(client, "warm-", 0, 2 * SNAPSHOT_ENTRIES, 64);
    CHECK(zkv_cluster_wait_applied(cluster, f, 2 * SNAPSHOT_ENTRIES, H_CATCH_UP_MS) == 0,
          "node %u does not catch up", f);

    int64_t install_ms = s_killed_follower(cluster, client, f, "snap-a-", KEYS_A, false);
    leader = h_leader(cluster);
    f = h_follower(cluster, leader);
    s_paused_follower(cluster, client, leader, f);
    h_expect_many(client, "warm-", 0, 2 * SNAPSHOT_ENTRIES, zkv_cluster_client_endpoint(cluster, f),
                  H_CATCH_UP_MS);
    /* A leader that booted from its snapshot sends that one. */
    leader = h_leader(cluster);
    f = h_follower(cluster, leader);
    int64_t again_ms = s_killed_follower(cluster, client, f, "snap-c-", KEYS_C, true);
    h_expect_many(client, "snap-a-", 0, KEYS_A, zkv_cluster_client_endpoint(cluster, f),
                  H_CATCH_UP_MS);
    h_note("snapshot install: %lld ms from the others' SIGCONT to install done (%lld ms from "
           "leaders that booted from their snapshot)",
           (long long) install_ms, (long long) again_ms);
    zkv_client_destroy(&client);

    h_cluster_finish(&cluster);
    return 0;
}
