/*  integration_restore: back up a cluster and bring it back as a new one.
    A 3-node cluster takes 100,000 keys; `zkv snapshot save` writes a backup
    and verifies it; every node is stopped and its data directory removed;
    `zkvd --restore` makes three data directories for a new cluster on other
    ports from the file; the new cluster elects a leader, every member holds
    the same digest as the old cluster and `zkv check` agrees, and it takes
    writes. A copy of the file with one flipped byte is refused, and so is a
    restore into a directory that holds a node's data. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define KEYS 100000

static uint64_t s_digest(zkv_client_t *client, zkv_cluster_t *cluster, uint32_t id)
{
    zkv_op_t op = {.type = ZKV_OP_DIGEST, .endpoint = zkv_cluster_client_endpoint(cluster, id)};
    const Zkv__Response *reply;
    int rc = zkv_client_call(client, &op, &reply);
    CHECK(rc == 0 && reply->status == ZKV__STATUS__OK, "digest of node %u: %s", id,
          rc ? zkv_client_strerror(rc) : zkv_client_status_name(reply->status));
    return reply->digest;
}

/*  Every node has applied what the leader has, so their digests compare. */
static void s_settle(zkv_cluster_t *cluster, uint32_t leader)
{
    zkv_node_status_t st;
    CHECK(zkv_cluster_status(cluster, leader, &st) == 0, "status of leader %u", leader);
    for (uint32_t id = 1; id <= zkv_cluster_size(cluster); id++)
        CHECK(zkv_cluster_wait_applied(cluster, id, st.commit, H_CATCH_UP_MS) == 0,
              "node %u did not apply %" PRIu64, id, st.commit);
}

static int s_run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 255;
}

static int s_restore(zkv_cluster_t *cluster, uint32_t id, const char *file, const char *dir)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s --restore '%s' --id %u --peers '%s' --data-dir '%s' >>'%s/restore.log' 2>&1",
             ZKV_ZKVD_PATH, file, id, zkv_cluster_peers(cluster), dir, zkv_cluster_dir(cluster));
    return s_run(cmd);
}

static bool s_log_has(zkv_cluster_t *cluster, const char *text)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "grep -q '%s' '%s/restore.log'", text, zkv_cluster_dir(cluster));
    return s_run(cmd) == 0;
}

/*  The old cluster: keys, a backup, then gone. Returns its digest. */
static uint64_t s_back_up(const char *file)
{
    zkv_cluster_config_t config = {.name = "backup", .snapshot_entries = 20000};
    uint32_t leader;
    zkv_cluster_t *old = h_cluster_start(&config, &leader);
    zkv_client_t *client = h_client(old, leader, 30000, 256);
    h_put_many(client, "r", 0, KEYS, 256);
    h_note("%d keys written", KEYS);
    s_settle(old, leader);
    uint64_t digest = s_digest(client, old, 1);
    for (uint32_t id = 2; id <= 3; id++)
        CHECK(s_digest(client, old, id) == digest, "node %u differs before the backup", id);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --endpoints %s snapshot save '%s'", ZKV_CLI_PATH,
             zkv_cluster_client_endpoint(old, 2), file);
    CHECK(s_run(cmd) == 0, "%s failed", cmd);
    h_note("backup saved from node 2; digest %016" PRIx64, digest);
    zkv_client_destroy(&client);
    for (uint32_t id = 1; id <= 3; id++)
        h_stop_clean(old, id);
    h_cluster_forget(old);
    zkv_cluster_destroy(&old); /* every data directory goes with it */
    return digest;
}

static void s_refusals(zkv_cluster_t *cluster, const char *file)
{
    char bad[1200], cmd[6000], dir[1200];
    snprintf(bad, sizeof bad, "%s/flipped.snap", zkv_cluster_dir(cluster));
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s' && size=$(stat -c %%s '%s') && "
             "printf '\\x5a' | dd of='%s' bs=1 seek=$((size / 2)) conv=notrunc status=none",
             file, bad, bad, bad);
    CHECK(s_run(cmd) == 0, "%s", cmd);
    snprintf(dir, sizeof dir, "%s/flipped-node", zkv_cluster_dir(cluster));
    CHECK(s_restore(cluster, 1, bad, dir) == 1, "a backup with a flipped byte was restored");
    CHECK(s_log_has(cluster, "not a usable backup"), "the refusal does not say why");
    CHECK(s_restore(cluster, 1, file, zkv_cluster_data_dir(cluster, 1)) == 1,
          "a restore over a node's data went ahead");
    CHECK(s_log_has(cluster, "already holds a node"), "the refusal does not say why");
    h_note("a damaged backup and a used directory were refused");
}

int main(void)
{
    char file[1024];
    const char *tmp = getenv("TMPDIR");
    snprintf(file, sizeof file, "%s/zkv-restore-%d.snap", tmp && *tmp ? tmp : "/tmp",
             (int) getpid());
    uint64_t digest = s_back_up(file);
    zkv_cluster_config_t config = {.name = "restored"};
    zkv_cluster_t *cluster = h_cluster_new(&config);
    for (uint32_t id = 1; id <= 3; id++)
        CHECK(s_restore(cluster, id, file, zkv_cluster_data_dir(cluster, id)) == 0,
              "restore of node %u failed", id);
    s_refusals(cluster, file);
    CHECK(zkv_cluster_start_all(cluster) == 0, "start the restored cluster");
    uint32_t leader = h_leader(cluster);
    zkv_client_t *client = h_client(cluster, leader, 30000, 64);
    s_settle(cluster, leader);
    for (uint32_t id = 1; id <= 3; id++)
        CHECK(s_digest(client, cluster, id) == digest, "restored node %u's digest differs", id);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s --endpoints %s check >/dev/null", ZKV_CLI_PATH,
             zkv_cluster_endpoints(cluster));
    CHECK(s_run(cmd) == 0, "zkv check does not agree");
    h_note("the restored cluster holds digest %016" PRIx64 " on every node", digest);
    h_put_many(client, "after", 0, 100, 16);
    h_expect_many(client, "r", KEYS - 100, 100, NULL, H_CATCH_UP_MS);
    zkv_client_destroy(&client);
    remove(file);
    h_cluster_finish(&cluster);
    return 0;
}
