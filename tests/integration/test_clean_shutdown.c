/*  integration_clean_shutdown: under AddressSanitizer (the test build's
    zkvd is the sanitized one) with leak detection on, a workload that
    touches every path a short run can reach: every operation, snapshots,
    a follower restarted and caught up, the leader stopped with writes in
    flight, a node stopped with SIGINT. Every stop must end in exit status 0
    within the bound and leave no sanitizer report on the node's stderr. */
#include <signal.h>
#include <string.h>

#include "harness.h"

#define STREAM_WRITES 2000
#define WINDOW 128

static zkv_bytes_t s_bytes(const char *text)
{
    return (zkv_bytes_t){(const uint8_t *) text, strlen(text)};
}

/*  Every operation once or more, through a client that starts at a follower. */
static void s_workload(zkv_cluster_t *cluster, zkv_client_t *client)
{
    h_put_many(client, "w-", 0, 1000, 64);
    CHECK(h_count_many(client, "w-", 0, 1000, NULL, 64) == 1000, "linearizable reads");
    for (uint32_t id = 1; id <= 3; id++)
        h_expect_many(client, "w-", 0, 1000, zkv_cluster_client_endpoint(cluster, id),
                      H_CATCH_UP_MS);
    const Zkv__Response *reply;
    zkv_op_t scan = {.type = ZKV_OP_SCAN, .prefix = s_bytes("w-"), .limit = 100};
    CHECK(zkv_client_call(client, &scan, &reply) == 0 && reply->n_kvs == 100 && reply->more,
          "scan");
    zkv_op_t cas = {
        .type = ZKV_OP_CAS, .key = s_bytes("cas"), .value = s_bytes("1"), .expect_absent = true};
    CHECK(zkv_client_call(client, &cas, &reply) == 0 && reply->status == ZKV__STATUS__OK, "cas");
    bool found;
    CHECK(h_del(client, "w-000001", &found) == ZKV__STATUS__OK && found, "delete");
    zkv_op_t put = {.type = ZKV_OP_PUT,
                    .key = s_bytes("w-000002"),
                    .value = s_bytes("x"),
                    .return_previous = true};
    CHECK(zkv_client_call(client, &put, &reply) == 0 && reply->found, "put returning previous");
    for (uint32_t id = 1; id <= 3; id++) {
        zkv_node_status_t st;
        CHECK(zkv_cluster_status(cluster, id, &st) == 0, "status of node %u", id);
    }
    h_note("workload: 1000 puts, reads of three kinds, scan, cas, delete, status");
}

/*  A follower stopped cleanly, writes go on, it comes back and catches up
    (by a snapshot: the others take one every 100 entries). */
static void s_follower_restart(zkv_cluster_t *cluster, zkv_client_t *client, uint32_t f)
{
    h_stop_clean(cluster, f);
    h_put_many(client, "r-", 0, 1000, 64);
    CHECK(zkv_cluster_start(cluster, f) == 0, "start node %u", f);
    h_expect_many(client, "r-", 0, 1000, zkv_cluster_client_endpoint(cluster, f), H_CATCH_UP_MS);
    h_note("node %u restarted and caught up", f);
}

typedef struct {
    size_t done;
    size_t ok;
} stream_t;

static void s_stream_done(void *arg, int rc, const Zkv__Response *reply)
{
    stream_t *stream = arg;
    stream->done++;
    stream->ok += rc == 0 && reply->status == ZKV__STATUS__OK;
}

/*  The leader gets SIGTERM while many writes are in flight; every write
    still completes one way or the other once a new leader is there. */
static uint32_t s_stop_leader_under_load(zkv_cluster_t *cluster, uint32_t leader)
{
    zkv_client_t *client = h_client(cluster, leader, 15000, WINDOW);
    stream_t stream = {0};
    static char keys[STREAM_WRITES][H_KEY_SIZE], values[STREAM_WRITES][H_VALUE_SIZE];
    size_t submitted = 0;
    bool stopped = false;
    int64_t deadline = h_now_ms() + 60000;
    while (stream.done < STREAM_WRITES && h_now_ms() < deadline) {
        while (submitted < STREAM_WRITES) {
            h_key(keys[submitted], "s-", submitted);
            h_value(values[submitted], "s-", submitted);
            zkv_op_t op = {.type = ZKV_OP_PUT,
                           .key = s_bytes(keys[submitted]),
                           .value = s_bytes(values[submitted])};
            int rc = zkv_client_submit(client, &op, s_stream_done, &stream);
            if (rc == ZKV_EBUSY)
                break;
            CHECK(rc == 0, "submit: %s", zkv_client_strerror(rc));
            submitted++;
        }
        if (!stopped && stream.done >= STREAM_WRITES / 4) {
            h_note("SIGTERM to leader %u with %zu writes in flight", leader,
                   zkv_client_inflight(client));
            h_stop_clean(cluster, leader);
            stopped = true;
        }
        zkv_client_poll(client, 100);
    }
    CHECK(stopped && stream.done == STREAM_WRITES, "%zu of %d writes completed", stream.done,
          STREAM_WRITES);
    zkv_client_destroy(&client);
    h_note("%zu of %d writes acknowledged across the leader's stop", stream.ok, STREAM_WRITES);
    uint32_t next = h_leader(cluster);
    CHECK(next != leader, "node %u leads after its stop", next);
    return next;
}

int main(void)
{
#ifdef ZKV_TEST_ASAN
    h_note("zkvd is built with AddressSanitizer; nodes run with ASAN_OPTIONS=detect_leaks=1");
#else
    h_note("zkvd is built without sanitizers: only exit status and stderr are checked");
#endif
    static const char *const env[] = {"ASAN_OPTIONS=detect_leaks=1",
                                      "UBSAN_OPTIONS=print_stacktrace=1", NULL};
    uint32_t leader;
    zkv_cluster_config_t config = {.name = "shutdown", .snapshot_entries = 100, .env = env};
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    uint32_t f = h_follower(cluster, leader);
    zkv_client_t *client = h_client(cluster, f, 10000, 128);
    s_workload(cluster, client);
    s_follower_restart(cluster, client, f);
    zkv_client_destroy(&client);

    uint32_t next = s_stop_leader_under_load(cluster, leader);
    CHECK(zkv_cluster_start(cluster, leader) == 0, "start node %u", leader);
    client = h_client(cluster, next, 10000, 128);
    h_expect_many(client, "r-", 0, 1000, zkv_cluster_client_endpoint(cluster, leader),
                  H_CATCH_UP_MS);
    zkv_client_destroy(&client);

    /* One node with SIGINT, the rest with SIGTERM: each exits 0, reports nothing. */
    h_check_alive(cluster);
    int wstatus = -1;
    CHECK(zkv_cluster_signal(cluster, f, SIGINT) == 0, "SIGINT to node %u", f);
    CHECK(zkv_cluster_wait_exit(cluster, f, H_STOP_MS, &wstatus) == 0,
          "node %u did not stop within %d ms of SIGINT", f, H_STOP_MS);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "node %u stopped on SIGINT with %s", f,
          zkv_cluster_wstatus_text(wstatus));
    h_check_stderr(cluster, f);
    h_note("node %u stopped cleanly on SIGINT", f);
    for (uint32_t id = 1; id <= 3; id++)
        if (id != f)
            h_stop_clean(cluster, id);
    h_cluster_forget(cluster);
    zkv_cluster_destroy(&cluster);
    h_note("passed");
    return 0;
}
