/*  integration_rejoin: a follower cut off from its peers again and again
    rejoins soon after the last heal. Three nodes on their own loopback
    addresses; one follower is cut from both peers (iptables DROP on each
    address pair, both directions) for CUT_MS and healed for HEAL_MS, CYCLES
    times, while writes go on; after the final heal its applied index must
    reach the leader's within REJOIN_MS, a liveness bound for a loaded
    machine, and the time it took is printed. Dead connections left by a cut
    must be dropped and remade, not left in TCP's retransmission backoff,
    which grows over the cycles: the cycles add up to about a minute, as in
    the run that found the problem (with 4 cycles it was not always seen).
    ZKV_REJOIN_MS moves the bound, to measure a build that misses it.

    Needs root and a working iptables: otherwise one line and exit 77
    (skipped). The rules live in a chain of our own (ZKVF<pid>), removed at
    the end, on a failed CHECK too, and by the next run should this one be
    killed. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "netcut.h"

#define CYCLES 9
#define CUT_MS 5000
#define HEAL_MS 1500
#define REJOIN_MS 10000
#define BATCH 20
/*  Keys are rewritten in a space this big: the log still outruns a cut node by
    more than a snapshot interval (so a rejoin may take an InstallSnapshot), but
    the snapshot stays small. Ever new keys made it grow with the machine's
    speed, to 900,000 keys after ten cycles, whose install under ASan alone
    could take the whole bound: that is a measure of install speed
    (docs/PERFORMANCE.md), not of rejoining. */
#define KEY_SPACE 20000
_Static_assert(KEY_SPACE % BATCH == 0, "a batch never wraps");
#define SKIP 77

static netcut_t s_net;
static bool s_net_installed;

static void s_net_remove(void)
{
    char err[512];
    if (s_net_installed && netcut_remove(&s_net, err, sizeof err) != 0)
        fprintf(stderr, "integration_rejoin: cannot remove chain %s: %s\n", s_net.chain, err);
    s_net_installed = false;
}

/*  The chain, or exit 77 with one line when iptables cannot be used here. */
static void s_net_install(void)
{
    char err[512];
    snprintf(s_net.chain, sizeof s_net.chain, "%s%d", NETCUT_CHAIN_PREFIX, (int) getpid());
    netcut_remove_stale();
    if (geteuid() != 0 || netcut_available(&s_net, err, sizeof err) != 0 ||
        netcut_install(&s_net, err, sizeof err) != 0) {
        printf("integration_rejoin: skipped, iptables is not usable here (%s)\n",
               geteuid() != 0 ? "not root" : err);
        netcut_remove(&s_net, err, sizeof err);
        exit(SKIP);
    }
    s_net_installed = true;
    h_at_fail(s_net_remove);
}

/*  Cut node id from every other node, both directions, or heal every link. */
static void s_cut(zkv_cluster_t *cluster, uint32_t id, bool cut)
{
    netcut_rule_t rules[2 * ZKV_CLUSTER_NODES_MAX] = {{0}};
    size_t n = 0;
    for (uint32_t other = 1; cut && other <= zkv_cluster_size(cluster); other++)
        if (other != id) {
            const char *a = zkv_cluster_host(cluster, id), *b = zkv_cluster_host(cluster, other);
            rules[n++] = (netcut_rule_t){a, b};
            rules[n++] = (netcut_rule_t){b, a};
        }
    char err[512];
    CHECK(netcut_set(&s_net, rules, n, err, sizeof err) == 0, "iptables: %s", err);
}

/*  Writes in batches for ms; the next write's number (its key: modulo KEY_SPACE). */
static size_t s_write_for(zkv_client_t *client, size_t next, int64_t ms)
{
    int64_t end = h_now_ms() + ms;
    while (h_now_ms() < end) {
        h_put_many(client, "r-", next % KEY_SPACE, BATCH, BATCH);
        next += BATCH;
    }
    return next;
}

static uint64_t s_applied(zkv_cluster_t *cluster, uint32_t id)
{
    zkv_node_status_t st;
    CHECK(zkv_cluster_status(cluster, id, &st) == 0, "status of node %u", id);
    return st.applied;
}

int main(void)
{
    s_net_install();
    uint32_t leader;
    zkv_cluster_config_t config = {.name = "rejoin",
                                   .host_base = (uint8_t) (15 + 10 * (getpid() % 23))};
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    zkv_client_t *client = h_client(cluster, leader, 10000, 64);
    uint32_t cut = h_follower(cluster, leader);
    size_t next = s_write_for(client, 0, 500);
    for (int i = 0; i < CYCLES; i++) {
        s_cut(cluster, cut, true);
        next = s_write_for(client, next, CUT_MS);
        s_cut(cluster, cut, false);
        next = s_write_for(client, next, HEAL_MS);
        h_note("cycle %d: node %u cut %d ms, healed %d ms; %zu writes; applied %llu, "
               "leader %llu",
               i + 1, cut, CUT_MS, HEAL_MS, next, (unsigned long long) s_applied(cluster, cut),
               (unsigned long long) s_applied(cluster, leader));
    }
    s_cut(cluster, cut, true);
    next = s_write_for(client, next, CUT_MS);
    s_cut(cluster, cut, false);
    int64_t healed = h_now_ms();
    uint32_t now_leader = h_leader(cluster);
    uint64_t target = s_applied(cluster, now_leader);
    const char *bound = getenv("ZKV_REJOIN_MS");
    int64_t bound_ms = bound ? strtoll(bound, NULL, 10) : REJOIN_MS;
    int rc = zkv_cluster_wait_applied(cluster, cut, target, bound_ms);
    int64_t took = h_now_ms() - healed;
    CHECK(rc == 0, "node %u applied %llu, not the leader's %llu, %lld ms after the final heal",
          cut, (unsigned long long) s_applied(cluster, cut), (unsigned long long) target,
          (long long) took);
    h_note("node %u reached the leader's applied index %llu %lld ms after the final heal", cut,
           (unsigned long long) target, (long long) took);
    s_net_remove();
    zkv_client_destroy(&client);
    h_cluster_finish(&cluster);
    return 0;
}
