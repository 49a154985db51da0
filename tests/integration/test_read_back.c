/*  integration_read_back: a follower that falls behind the Raft log a node
    keeps in memory catches up from entries its leader reads back from its
    write-ahead log, not from a snapshot. Nodes keep 16 KiB of applied entry
    data (--log-memory-bytes) and snapshot only every 100,000 entries; a
    follower is stopped while KEYS keys are written (far more than 16 KiB of
    entries), then started again: it must apply everything and serve every
    key with no snapshot installed, while the leader's Raft log holds much
    less than what was written. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define KEYS 3000
#define LOG_MEMORY "16384"

int main(void)
{
    static const char *const args[] = {"--log-memory-bytes", LOG_MEMORY, NULL};
    zkv_cluster_config_t config = {.name = "read_back", .snapshot_entries = 100000, .args = args};
    uint32_t leader;
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    zkv_client_t *client = h_client(cluster, leader, 10000, 128);
    h_put_many(client, "a-", 0, 100, 64);

    uint32_t f = h_follower(cluster, leader);
    h_stop_clean(cluster, f);
    h_put_many(client, "b-", 0, KEYS, 64);
    double log_bytes = h_metric(cluster, leader, "zkv_raft_log_bytes");
    double written = h_metric(cluster, leader, "zkv_wal_written_bytes_total");
    CHECK(log_bytes > 0 && written > 0, "leader %u metrics: log %.0f, written %.0f", leader,
          log_bytes, written);
    /* The entry array (index, term, size of each) stays; their data does not. */
    CHECK(log_bytes < written / 2, "leader %u keeps %.0f bytes of log for %.0f written", leader,
          log_bytes, written);

    CHECK(zkv_cluster_start(cluster, f) == 0, "start node %u", f);
    zkv_node_status_t st;
    CHECK(zkv_cluster_status(cluster, leader, &st) == 0, "status of leader %u", leader);
    CHECK(zkv_cluster_wait_applied(cluster, f, st.commit, H_CATCH_UP_MS) == 0,
          "node %u did not apply up to %" PRIu64, f, st.commit);
    h_expect_many(client, "b-", 0, KEYS, zkv_cluster_client_endpoint(cluster, f), H_CATCH_UP_MS);
    double installs = h_metric(cluster, f, "zkv_snapshot_installs_total");
    CHECK(installs == 0, "node %u installed %.0f snapshots", f, installs);
    h_note("follower %u caught up on %d keys without a snapshot; the leader's Raft log holds "
           "%.0f bytes after %.0f written",
           f, KEYS, log_bytes, written);
    zkv_client_destroy(&client);
    h_cluster_finish(&cluster);
    return 0;
}
