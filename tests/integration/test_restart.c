/*  integration_restart: nodes stopped with SIGTERM and started again on the
    same data directory rejoin and keep their data: a follower, then the
    leader (a new one is elected; the old one comes back as a follower),
    then all three at once. And one node started alone, with no peer to
    learn from, serves from its own disk what its snapshot holds. */
#include <string.h>

#include "harness.h"

#define KEYS 1000
#define SNAPSHOT_ENTRIES 100
/*  Keys surely inside a node's last snapshot: at most SNAPSHOT_ENTRIES
    applied since it, and at most the write window of 64 out of order. */
#define KEYS_IN_SNAPSHOT (KEYS - SNAPSHOT_ENTRIES - 100)

static void s_expect_everywhere(zkv_cluster_t *cluster, zkv_client_t *client, const char *prefix)
{
    h_expect_many(client, prefix, 0, KEYS, NULL, H_CATCH_UP_MS);
    for (uint32_t id = 1; id <= 3; id++)
        h_expect_many(client, prefix, 0, KEYS, zkv_cluster_client_endpoint(cluster, id),
                      H_CATCH_UP_MS);
}

/*  The node is back as a follower of leader, in the leader's term. */
static void s_expect_follower(zkv_cluster_t *cluster, uint32_t id, uint32_t leader)
{
    int64_t deadline = h_now_ms() + H_CATCH_UP_MS;
    zkv_node_status_t st = {0}, lst = {0};
    while (h_now_ms() < deadline) {
        if (zkv_cluster_status(cluster, id, &st) == 0 &&
            zkv_cluster_status(cluster, leader, &lst) == 0 && streq(st.role, "follower") &&
            st.leader == leader && st.term == lst.term)
            return;
    }
    CHECK(false, "node %u is %s of leader %u in term %llu; leader %u is in term %llu", id, st.role,
          st.leader, (unsigned long long) st.term, leader, (unsigned long long) lst.term);
}

static uint32_t s_restart_follower(zkv_cluster_t *cluster, zkv_client_t *client, uint32_t leader)
{
    uint32_t f = h_follower(cluster, leader);
    h_stop_clean(cluster, f);
    h_put_many(client, "b-", 0, KEYS, 64);
    CHECK(zkv_cluster_start(cluster, f) == 0, "start node %u", f);
    s_expect_follower(cluster, f, leader);
    s_expect_everywhere(cluster, client, "a-");
    s_expect_everywhere(cluster, client, "b-");
    h_note("follower %u restarted, rejoined and serves old and new keys", f);
    return f;
}

static uint32_t s_restart_leader(zkv_cluster_t *cluster, zkv_client_t *client, uint32_t leader)
{
    h_stop_clean(cluster, leader);
    uint32_t next = h_leader(cluster);
    CHECK(next != leader, "node %u still leads after its stop", next);
    h_put_many(client, "c-", 0, KEYS, 64);
    CHECK(zkv_cluster_start(cluster, leader) == 0, "start node %u", leader);
    s_expect_follower(cluster, leader, next);
    s_expect_everywhere(cluster, client, "a-");
    s_expect_everywhere(cluster, client, "c-");
    h_note("old leader %u restarted as a follower of %u and serves every key", leader, next);
    return next;
}

/*  The node's newest snapshot is within SNAPSHOT_ENTRIES of what it applied:
    the snapshot writer (at nice 10) may lag behind on a loaded machine. */
static void s_wait_snapshot(zkv_cluster_t *cluster, uint32_t id)
{
    zkv_node_status_t st = {0};
    double snapshot = -1;
    for (int64_t deadline = h_now_ms() + H_CATCH_UP_MS; h_now_ms() < deadline; zclock_sleep(50)) {
        snapshot = h_metric(cluster, id, "zkv_snapshot_index");
        if (zkv_cluster_status(cluster, id, &st) == 0 && snapshot >= 0 &&
            snapshot + SNAPSHOT_ENTRIES >= (double) st.applied)
            return;
    }
    CHECK(false, "node %u: newest snapshot at %.0f, applied %llu", id, snapshot,
          (unsigned long long) st.applied);
}

/*  Alone, a node cannot commit anything new, but its snapshot is its own. */
static void s_alone(zkv_cluster_t *cluster, zkv_client_t *client, uint32_t id)
{
    CHECK(zkv_cluster_start(cluster, id) == 0, "start node %u alone", id);
    const char *endpoint = zkv_cluster_client_endpoint(cluster, id);
    h_expect_many(client, "c-", 0, KEYS_IN_SNAPSHOT, endpoint, H_CATCH_UP_MS);
    zkv_node_status_t st;
    CHECK(zkv_cluster_status(cluster, id, &st) == 0, "status of node %u", id);
    CHECK(!streq(st.role, "leader"), "node %u leads alone", id);
    CHECK(st.keys >= KEYS_IN_SNAPSHOT, "node %u reports %llu keys", id,
          (unsigned long long) st.keys);
    h_note("node %u, started alone, serves the %d keys of its snapshot (%llu keys, applied %llu)",
           id, KEYS_IN_SNAPSHOT, (unsigned long long) st.keys, (unsigned long long) st.applied);
}

int main(void)
{
    uint32_t leader;
    zkv_cluster_config_t config = {.name = "restart", .snapshot_entries = SNAPSHOT_ENTRIES};
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    zkv_client_t *client = h_client(cluster, leader, 10000, 128);
    h_put_many(client, "a-", 0, KEYS, 64);
    s_restart_follower(cluster, client, leader);
    leader = s_restart_leader(cluster, client, leader);

    for (uint32_t id = 1; id <= 3; id++)
        s_wait_snapshot(cluster, id);
    for (uint32_t id = 1; id <= 3; id++)
        h_stop_clean(cluster, id);
    s_alone(cluster, client, leader);
    for (uint32_t id = 1; id <= 3; id++)
        if (id != leader)
            CHECK(zkv_cluster_start(cluster, id) == 0, "start node %u", id);
    h_leader(cluster);
    s_expect_everywhere(cluster, client, "a-");
    s_expect_everywhere(cluster, client, "b-");
    s_expect_everywhere(cluster, client, "c-");
    h_note("all three stopped and started again: every key everywhere");
    zkv_client_destroy(&client);

    h_cluster_finish(&cluster);
    return 0;
}
