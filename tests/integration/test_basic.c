/*  integration_basic: three zkvd processes elect a leader, and every operation
    works through any node: a client that starts at a follower is redirected
    to the leader (NOT_LEADER), and a follower serves serializable reads from
    its own state. Ends with a clean stop of every node. */
#include <string.h>

#include "harness.h"

static zkv_bytes_t s_bytes(const char *text)
{
    return (zkv_bytes_t){(const uint8_t *) text, strlen(text)};
}

static bool s_value_is(const Zkv__Response *reply, const char *text)
{
    return reply->value.len == strlen(text) &&
           memcmp(reply->value.data, text, reply->value.len) == 0;
}

static const Zkv__Response *s_call(zkv_client_t *client, const zkv_op_t *op)
{
    const Zkv__Response *reply;
    int rc = zkv_client_call(client, op, &reply);
    CHECK(rc == 0, "call: %s (%s)", zkv_client_strerror(rc), zkv_client_error(client));
    return reply;
}

/*  Whether every node names the same leader in the same term; why not in why. */
static bool s_agree(zkv_cluster_t *cluster, uint32_t leader, char *why, size_t size)
{
    zkv_node_status_t st[3];
    for (uint32_t id = 1; id <= 3; id++)
        if (zkv_cluster_status(cluster, id, &st[id - 1]) != 0) {
            snprintf(why, size, "node %u does not answer status", id);
            return false;
        }
    for (uint32_t id = 1; id <= 3; id++) {
        const zkv_node_status_t *s = &st[id - 1];
        if (s->id != id || s->leader != leader || s->term != st[0].term ||
            !streq(s->role, id == leader ? "leader" : "follower")) {
            snprintf(why, size, "node %u (says id %u) is %s of %u in term %llu", id, s->id, s->role,
                     s->leader, (unsigned long long) s->term);
            return false;
        }
    }
    return true;
}

/*  Every node names the same leader in the same term (the third may hear of
    it a little after the majority that elected it). */
static void s_check_status(zkv_cluster_t *cluster, uint32_t leader)
{
    char why[256] = "";
    int64_t deadline = h_now_ms() + H_LEADER_MS;
    while (!s_agree(cluster, leader, why, sizeof why) && h_now_ms() < deadline) {
    }
    CHECK(s_agree(cluster, leader, why, sizeof why), "leader %u: %s", leader, why);
}

/*  Put, get, delete through a client that starts at node home. */
static void s_kv_through(zkv_cluster_t *cluster, uint32_t home, uint32_t leader)
{
    zkv_client_t *client = h_client(cluster, home, 5000, 0);
    char key[32], value[64], got[64];
    snprintf(key, sizeof key, "basic-%u", home);
    snprintf(value, sizeof value, "through node %u", home);
    int rc = h_put(client, key, value);
    CHECK(rc == ZKV__STATUS__OK, "put via node %u: %d (%s)", home, rc, zkv_client_error(client));
    zkv_client_stats_t stats;
    zkv_client_stats(client, &stats);
    if (home != leader)
        CHECK(stats.redirects >= 1, "a put that started at follower %u was not redirected", home);
    rc = h_get(client, key, false, NULL, got, sizeof got);
    CHECK(rc == ZKV__STATUS__OK && streq(got, value), "get via node %u: %d '%s'", home, rc, got);
    bool found = false;
    rc = h_del(client, key, &found);
    CHECK(rc == ZKV__STATUS__OK && found, "delete via node %u: %d found=%d", home, rc, found);
    rc = h_get(client, key, false, NULL, got, sizeof got);
    CHECK(rc == ZKV__STATUS__NOT_FOUND, "get after delete via node %u: %d", home, rc);
    rc = h_del(client, key, &found);
    CHECK(rc == ZKV__STATUS__NOT_FOUND && !found, "second delete via node %u: %d", home, rc);
    CHECK(h_put(client, key, value) == ZKV__STATUS__OK, "put again via node %u", home);
    zkv_client_destroy(&client);
}

static void s_cas(zkv_client_t *client)
{
    zkv_op_t op = {
        .type = ZKV_OP_CAS, .key = s_bytes("cas"), .value = s_bytes("one"), .expect_absent = true};
    CHECK(s_call(client, &op)->status == ZKV__STATUS__OK, "cas on an absent key");
    CHECK(s_call(client, &op)->status == ZKV__STATUS__CAS_FAILED, "cas expecting absence again");
    op = (zkv_op_t){.type = ZKV_OP_CAS,
                    .key = s_bytes("cas"),
                    .expected = s_bytes("wrong"),
                    .value = s_bytes("two")};
    CHECK(s_call(client, &op)->status == ZKV__STATUS__CAS_FAILED, "cas with a wrong value");
    op.expected = s_bytes("one");
    CHECK(s_call(client, &op)->status == ZKV__STATUS__OK, "cas with the right value");
    op = (zkv_op_t){.type = ZKV_OP_PUT,
                    .key = s_bytes("cas"),
                    .value = s_bytes("three"),
                    .return_previous = true};
    const Zkv__Response *reply = s_call(client, &op);
    CHECK(reply->status == ZKV__STATUS__OK && reply->found && s_value_is(reply, "two"),
          "put returning the previous value: status %d found %d", reply->status, reply->found);
}

static void s_check_scan(zkv_client_t *client, zkv_op_t op, size_t count, size_t first_i, bool more,
                         const char *what)
{
    const Zkv__Response *reply = s_call(client, &op);
    CHECK(reply->status == ZKV__STATUS__OK, "%s: status %d", what, reply->status);
    CHECK(reply->n_kvs == count && reply->more == more, "%s: %zu keys (more %d), wanted %zu (%d)",
          what, reply->n_kvs, reply->more, count, more);
    for (size_t k = 0; k < count; k++) {
        size_t i = op.reverse ? first_i - k : first_i + k;
        char key[H_KEY_SIZE], value[H_VALUE_SIZE];
        h_key(key, "scan-", i);
        h_value(value, "scan-", i);
        const Zkv__KeyValue *kv = reply->kvs[k];
        CHECK(kv->key.len == strlen(key) && memcmp(kv->key.data, key, kv->key.len) == 0,
              "%s: key %zu is not %s", what, k, key);
        CHECK(op.keys_only ? kv->value.len == 0
                           : kv->value.len == strlen(value) &&
                                 memcmp(kv->value.data, value, kv->value.len) == 0,
              "%s: wrong value at %s", what, key);
    }
}

static void s_scans(zkv_client_t *client)
{
    h_put_many(client, "scan-", 0, 30, 30);
    zkv_op_t op = {.type = ZKV_OP_SCAN, .prefix = s_bytes("scan-")};
    s_check_scan(client, op, 30, 0, false, "prefix scan");
    op.limit = 10;
    s_check_scan(client, op, 10, 0, true, "prefix scan, limit 10");
    op.reverse = true;
    s_check_scan(client, op, 10, 29, true, "reverse prefix scan, limit 10");
    op = (zkv_op_t){
        .type = ZKV_OP_SCAN, .start = s_bytes("scan-000005"), .end = s_bytes("scan-000010")};
    s_check_scan(client, op, 5, 5, false, "range scan");
    op.keys_only = true;
    s_check_scan(client, op, 5, 5, false, "range scan, keys only");
}

#define FOLLOWER_READS 200

/*  A follower's own state, pinned to it: every key written, once it has caught up. */
static void s_follower_reads(zkv_cluster_t *cluster, zkv_client_t *client, uint32_t follower,
                             uint32_t leader)
{
    const char *endpoint = zkv_cluster_client_endpoint(cluster, follower);
    h_expect_many(client, "bulk-", 0, 300, endpoint, H_CATCH_UP_MS);
    zkv_op_t op = {.type = ZKV_OP_SCAN,
                   .prefix = s_bytes("scan-"),
                   .serializable = true,
                   .endpoint = endpoint};
    s_check_scan(client, op, 30, 0, false, "serializable scan on a follower");
    /* A linearizable read pinned to a follower sees every write acknowledged
       before it (the follower asks the leader for a read index and waits to
       apply it), where its own state may not have the last one yet. */
    for (int i = 0; i < FOLLOWER_READS; i++) {
        char value[32];
        snprintf(value, sizeof value, "v%d", i);
        zkv_op_t put = {.type = ZKV_OP_PUT, .key = s_bytes("fr"), .value = s_bytes(value)};
        const Zkv__Response *reply = s_call(client, &put);
        CHECK(reply->status == ZKV__STATUS__OK, "put fr=%s: status %d", value, reply->status);
        zkv_op_t get = {.type = ZKV_OP_GET, .key = s_bytes("fr"), .endpoint = endpoint};
        reply = s_call(client, &get);
        CHECK(reply->status == ZKV__STATUS__OK && reply->value.len == strlen(value) &&
                  memcmp(reply->value.data, value, reply->value.len) == 0,
              "linearizable get pinned to follower %u after put fr=%s: status %d, %.*s", follower,
              value, reply->status, (int) reply->value.len, (const char *) reply->value.data);
        CHECK(reply->leader_endpoint &&
                  strcmp(reply->leader_endpoint, zkv_cluster_client_endpoint(cluster, leader)) == 0,
              "follower %u served a linearizable read without naming leader %u", follower, leader);
    }
}

int main(void)
{
    uint32_t leader;
    zkv_cluster_config_t config = {.name = "basic"};
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    s_check_status(cluster, leader);
    for (uint32_t home = 1; home <= 3; home++)
        s_kv_through(cluster, home, leader);
    h_note("put/get/delete through every node");

    uint32_t follower = h_follower(cluster, leader);
    zkv_client_t *client = h_client(cluster, follower, 10000, 0);
    s_cas(client);
    s_scans(client);
    h_put_many(client, "bulk-", 0, 300, 64);
    CHECK(h_count_many(client, "bulk-", 0, 300, NULL, 64) == 300, "linearizable bulk reads");
    h_note("cas, scans and 300 writes through follower %u", follower);
    for (uint32_t id = 1; id <= 3; id++)
        if (id != leader)
            s_follower_reads(cluster, client, id, leader);
    h_note("serializable and linearizable reads served by both followers");
    zkv_client_destroy(&client);

    h_cluster_finish(&cluster);
    return 0;
}
