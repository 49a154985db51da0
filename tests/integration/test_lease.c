/*  integration_lease: leases end when they should, on every replica, and not
    before; kept alive, they outlive the leader; the lock recipe hands over
    when its holder dies.

    A 3-node cluster. Lease A (2 s) holds 20 keys and gets no keepalive: the
    keys are still on every node until 2 s after the grant was sent, and gone
    from every node soon after (the time is printed; the bound asserted is
    TTL + the longest election timeout + 3 s for a loaded machine); a watcher
    of their prefix sees each one's DELETE. Lease B (3 s) holds 20 keys and is
    kept alive every second while the leader is killed with SIGKILL: 9 s
    later every key is on both nodes left and, once it restarts, on the third.
    Then `zkv lock L --ttl 2 -- sleep 60` takes the lock and is killed; a
    second `zkv lock L -- true` gets it once the first lease expires. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "zkv.h"

#define KEYS 20
#define TTL_A 2
#define TTL_B 3
/*  The cluster's longest election timeout: 2 x 30 ticks of 10 ms. */
#define ELECTION_MAX_MS 600
#define SLACK_MS 3000

static uint64_t s_grant(zkv_client_t *client, uint64_t ttl_s)
{
    zkv_op_t op = {.type = ZKV_OP_LEASE_GRANT, .ttl_s = ttl_s};
    const Zkv__Response *r;
    int rc = zkv_client_call(client, &op, &r);
    CHECK(rc == 0 && r->status == ZKV__STATUS__OK, "lease grant: %s",
          rc ? zkv_client_strerror(rc) : zkv_client_status_name(r->status));
    CHECK(r->lease_id && r->ttl == ttl_s, "granted %" PRIu64 " with ttl %" PRIu64, r->lease_id,
          r->ttl);
    return r->lease_id;
}

/*  Every node has applied everything the leader has committed. */
static void s_settle(zkv_cluster_t *cluster)
{
    zkv_node_status_t st;
    CHECK(zkv_cluster_status(cluster, h_leader(cluster), &st) == 0, "status");
    for (uint32_t id = 1; id <= 3; id++)
        if (zkv_cluster_state(cluster, id) == ZKV_NODE_RUNNING)
            CHECK(zkv_cluster_wait_applied(cluster, id, st.commit, H_CATCH_UP_MS) == 0,
                  "node %u did not apply %" PRIu64, id, st.commit);
}

static void s_put_leased(zkv_client_t *client, const char *prefix, uint64_t lease)
{
    for (int i = 0; i < KEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%02d", prefix, i);
        zkv_op_t op = {.type = ZKV_OP_PUT,
                       .key = {(const uint8_t *) key, strlen(key)},
                       .value = {(const uint8_t *) "v", 1},
                       .lease = lease};
        const Zkv__Response *r;
        int rc = zkv_client_call(client, &op, &r);
        CHECK(rc == 0 && r->status == ZKV__STATUS__OK, "put %s: %s", key,
              rc ? zkv_client_strerror(rc) : zkv_client_status_name(r->status));
    }
}

/*  Keys of prefix on node id, read from its own state. */
static size_t s_count_on(zkv_client_t *client, zkv_cluster_t *cluster, uint32_t id,
                         const char *prefix)
{
    zkv_op_t op = {.type = ZKV_OP_SCAN,
                   .prefix = {(const uint8_t *) prefix, strlen(prefix)},
                   .serializable = true,
                   .keys_only = true,
                   .endpoint = zkv_cluster_client_endpoint(cluster, id)};
    const Zkv__Response *r;
    int rc = zkv_client_call(client, &op, &r);
    CHECK(rc == 0 && r->status == ZKV__STATUS__OK, "scan on node %u: %s", id,
          rc ? zkv_client_strerror(rc) : zkv_client_status_name(r->status));
    return r->n_kvs;
}

typedef struct {
    size_t deletes;
} s_seen_t;

static void s_on_event(void *arg, const Zkv__WatchEvent *e)
{
    s_seen_t *seen = arg;
    seen->deletes += e->type == ZKV__WATCH_EVENT__TYPE__DELETE;
}

/*  Lease A: no keepalive. */
static void s_expiry(zkv_cluster_t *cluster, zkv_client_t *client, zkv_watcher_t *w)
{
    s_seen_t seen = {0};
    CHECK(zkv_watcher_run(w, 300, s_on_event, NULL, &seen) == 0, "watch: %s",
          zkv_watcher_error(w)); /* subscribed before the keys come */
    int64_t sent = h_now_ms();
    uint64_t lease = s_grant(client, TTL_A);
    s_put_leased(client, "a/", lease);
    s_settle(cluster);
    /* Not before the ttl, counted from before the grant was sent: checks that
       end after that point prove nothing and are not counted. */
    size_t checked = 0;
    while (h_now_ms() < sent + TTL_A * 1000 - 200) {
        for (uint32_t id = 1; id <= 3; id++) {
            size_t n = s_count_on(client, cluster, id, "a/");
            if (h_now_ms() < sent + TTL_A * 1000) {
                CHECK(n == KEYS,
                      "node %u holds %zu of lease %" PRIu64 "'s keys %" PRId64
                      " ms after its grant",
                      id, n, lease, h_now_ms() - sent);
                checked++;
            }
        }
        CHECK(zkv_watcher_run(w, 50, s_on_event, NULL, &seen) == 0, "watch");
    }
    CHECK(checked >= 3, "no check ended before the lease's ttl");
    int64_t bound = sent + TTL_A * 1000 + ELECTION_MAX_MS + SLACK_MS, gone_at = 0;
    for (size_t left = 3 * KEYS; left > 0; gone_at = h_now_ms()) {
        CHECK(h_now_ms() < bound,
              "%zu keys of lease %" PRIu64 " left %" PRId64 " ms after its "
              "grant",
              left, lease, h_now_ms() - sent);
        left = 0;
        for (uint32_t id = 1; id <= 3; id++)
            left += s_count_on(client, cluster, id, "a/");
        CHECK(zkv_watcher_run(w, 20, s_on_event, NULL, &seen) == 0, "watch");
    }
    h_note("lease %" PRIu64 " (ttl %d s): its keys on every node until %zu checks before the "
           "ttl, gone from every node %" PRId64 " ms after the grant was sent",
           lease, TTL_A, checked, gone_at - sent);
    for (int64_t end = h_now_ms() + H_CATCH_UP_MS; seen.deletes < KEYS;) {
        CHECK(h_now_ms() < end, "the watcher saw %zu deletes of %d", seen.deletes, KEYS);
        CHECK(zkv_watcher_run(w, 100, s_on_event, NULL, &seen) == 0, "watch");
    }
    CHECK(seen.deletes == KEYS, "the watcher saw %zu deletes of %d", seen.deletes, KEYS);
}

static void s_keepalive(zkv_client_t *client, uint64_t lease)
{
    zkv_op_t op = {.type = ZKV_OP_LEASE_KEEPALIVE, .lease = lease};
    const Zkv__Response *r;
    int rc = zkv_client_call(client, &op, &r);
    CHECK(rc == 0 && r->status == ZKV__STATUS__OK, "keepalive of %" PRIu64 ": %s", lease,
          rc ? zkv_client_strerror(rc) : zkv_client_status_name(r->status));
}

/*  Lease B: kept alive through the death of the leader. */
static void s_survival(zkv_cluster_t *cluster, zkv_client_t *client)
{
    uint64_t lease = s_grant(client, TTL_B);
    s_put_leased(client, "b/", lease);
    uint32_t leader = h_leader(cluster);
    int64_t start = h_now_ms();
    bool killed = false;
    while (h_now_ms() < start + 3 * TTL_B * 1000) {
        s_keepalive(client, lease);
        if (!killed && h_now_ms() >= start + 1500) {
            CHECK(zkv_cluster_kill(cluster, leader) == 0, "kill leader %u", leader);
            h_note("leader %u killed (SIGKILL); lease %" PRIu64 " kept alive", leader, lease);
            killed = true;
        }
        zclock_sleep(1000);
    }
    s_settle(cluster);
    for (uint32_t id = 1; id <= 3; id++)
        if (id != leader)
            CHECK(s_count_on(client, cluster, id, "b/") == KEYS, "node %u lost lease keys", id);
    CHECK(zkv_cluster_start(cluster, leader) == 0, "start node %u again", leader);
    s_settle(cluster);
    CHECK(s_count_on(client, cluster, leader, "b/") == KEYS, "node %u lost lease keys", leader);
    h_note("%d s after the grant, with node %u killed and back: every key of lease %" PRIu64
           " on every node",
           3 * TTL_B, leader, lease);
}

/*  `zkv lock` holds L until killed; the next contender gets it once the
    holder's lease expires. */
static void s_lock(zkv_cluster_t *cluster, zkv_client_t *client, const char *endpoints)
{
    pid_t holder = fork();
    CHECK(holder >= 0, "fork");
    if (holder == 0) {
        setpgid(0, 0);
        execl(ZKV_CLI_PATH, "zkv", "--endpoints", endpoints, "lock", "L", "--ttl", "2", "--",
              "sleep", "60", (char *) NULL);
        _exit(127);
    }
    setpgid(holder, holder);
    for (int64_t end = h_now_ms() + 10000; s_count_on(client, cluster, 1, "L/") == 0;) {
        CHECK(h_now_ms() < end, "zkv lock never took the lock");
        zclock_sleep(50);
    }
    kill(-holder, SIGKILL); /* zkv and its command */
    waitpid(holder, NULL, 0);
    int64_t killed = h_now_ms();
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "timeout 30 %s --endpoints %s lock L -- true", ZKV_CLI_PATH,
             endpoints);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "the second zkv lock: %d", rc);
    h_note("zkv lock's holder killed; the next got the lock %" PRId64 " ms later",
           h_now_ms() - killed);
    CHECK(s_count_on(client, cluster, 1, "L/") == 0, "the lock's keys outlived their holders");
}

int main(void)
{
    zkv_cluster_config_t config = {.name = "lease"};
    uint32_t leader;
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    zkv_client_t *client = h_client(cluster, leader, 10000, 16);
    char endpoints[1024];
    snprintf(endpoints, sizeof endpoints, "%s,%s,%s", zkv_cluster_client_endpoint(cluster, 1),
             zkv_cluster_client_endpoint(cluster, 2), zkv_cluster_client_endpoint(cluster, 3));
    zkv_watcher_config_t wc = {.endpoints = endpoints,
                               .key = {(const uint8_t *) "a/", 2},
                               .end = {(const uint8_t *) "a0", 2},
                               .range = true,
                               .curve = zkv_cluster_curve(cluster)};
    char err[256];
    zkv_watcher_t *w = zkv_watcher_new(&wc, err, sizeof err);
    CHECK(w, "watcher: %s", err);
    s_expiry(cluster, client, w);
    zkv_watcher_destroy(&w);
    s_survival(cluster, client);
    s_lock(cluster, client, endpoints);
    zkv_client_destroy(&client);
    h_cluster_finish(&cluster);
    return 0;
}
