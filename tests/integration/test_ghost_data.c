/*  integration_ghost_data: the experiment the Java project failed. A follower
    is down (SIGTERM) or frozen (SIGSTOP) while a write goes through the
    leader; once back, it catches up: its own serializable reads return the
    write, and a linearizable read through any node returns it at once. */
#include <string.h>

#include "harness.h"

static void s_linearizable_everywhere(zkv_cluster_t *cluster, const char *key, const char *want)
{
    for (uint32_t home = 1; home <= 3; home++) {
        if (zkv_cluster_state(cluster, home) != ZKV_NODE_RUNNING)
            continue;
        zkv_client_t *client = h_client(cluster, home, 10000, 0);
        char got[64];
        int rc = h_get(client, key, false, NULL, got, sizeof got);
        CHECK(rc == ZKV__STATUS__OK && streq(got, want),
              "linearizable get %s through node %u: %d '%s' (%s)", key, home, rc, got,
              zkv_client_error(client));
        zkv_client_destroy(&client);
    }
}

/*  Poll the node's own state until it has key = want; the time since since_ms. */
static int64_t s_wait_serializable(zkv_cluster_t *cluster, zkv_client_t *client, uint32_t id,
                                   const char *key, const char *want, int64_t since_ms)
{
    int64_t deadline = h_now_ms() + H_CATCH_UP_MS;
    const char *endpoint = zkv_cluster_client_endpoint(cluster, id);
    char got[64] = "";
    int rc = -1;
    while (h_now_ms() < deadline) {
        rc = h_get(client, key, true, endpoint, got, sizeof got);
        if (rc == ZKV__STATUS__OK && streq(got, want))
            return h_now_ms() - since_ms;
        CHECK(rc == ZKV__STATUS__NOT_FOUND || rc == ZKV_CLIENT_ETIMEDOUT,
              "serializable get %s on node %u: %d '%s'", key, id, rc, got);
    }
    CHECK(false, "node %u still has no %s=%s after %d ms (last: %d '%s')", id, key, want,
          H_CATCH_UP_MS, rc, got);
}

int main(void)
{
    uint32_t leader;
    zkv_cluster_config_t config = {.name = "ghost"};
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    uint32_t ghost = h_follower(cluster, leader);
    zkv_client_t *client = h_client(cluster, leader, 10000, 0);
    CHECK(h_put(client, "before", "1") == ZKV__STATUS__OK, "first put");
    s_wait_serializable(cluster, client, ghost, "before", "1", h_now_ms());

    /* Down with SIGTERM, then started again on its data directory. */
    h_stop_clean(cluster, ghost);
    CHECK(h_put(client, "999", "GhostData") == ZKV__STATUS__OK, "put 999 while node %u is down",
          ghost);
    s_linearizable_everywhere(cluster, "999", "GhostData");
    int64_t back = h_now_ms();
    CHECK(zkv_cluster_start(cluster, ghost) == 0, "restart node %u", ghost);
    zkv_client_t *via_ghost = h_client(cluster, ghost, 10000, 0);
    char got[64];
    int rc = h_get(via_ghost, "999", false, NULL, got, sizeof got);
    CHECK(rc == ZKV__STATUS__OK && streq(got, "GhostData"),
          "linearizable get through node %u just restarted: %d '%s'", ghost, rc, got);
    int64_t ms = s_wait_serializable(cluster, client, ghost, "999", "GhostData", back);
    h_note("node %u, restarted, serves 999=GhostData itself %lld ms after its start", ghost,
           (long long) ms);
    s_linearizable_everywhere(cluster, "999", "GhostData");

    /* Frozen with SIGSTOP: it misses a write and then a few hundred more. */
    CHECK(zkv_cluster_pause(cluster, ghost) == 0, "pause node %u", ghost);
    CHECK(h_put(client, "998", "GhostData2") == ZKV__STATUS__OK, "put 998 while %u is paused",
          ghost);
    h_put_many(client, "ghost-", 0, 500, 64);
    back = h_now_ms();
    CHECK(zkv_cluster_resume(cluster, ghost) == 0, "resume node %u", ghost);
    rc = h_get(via_ghost, "998", false, NULL, got, sizeof got);
    CHECK(rc == ZKV__STATUS__OK && streq(got, "GhostData2"),
          "linearizable get through node %u just resumed: %d '%s'", ghost, rc, got);
    ms = s_wait_serializable(cluster, client, ghost, "998", "GhostData2", back);
    h_note("node %u, resumed, serves 998=GhostData2 itself %lld ms after SIGCONT", ghost,
           (long long) ms);
    h_expect_many(client, "ghost-", 0, 500, zkv_cluster_client_endpoint(cluster, ghost),
                  H_CATCH_UP_MS);
    h_note("node %u serves the 500 writes it missed", ghost);
    zkv_client_destroy(&via_ghost);
    zkv_client_destroy(&client);

    h_cluster_finish(&cluster);
    return 0;
}
