/*  target_local: zkvd processes from the integration tests' fixture, each
    on its own loopback address (127.0.0.<host_base + id>). Faults are
    signals to the node's pid; a partition is iptables DROP rules on pairs of
    node addresses in a chain of our own. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zkv.h"
#include "cluster.h"
#include "netcut.h"
#include "target.h"

/*  An ASan node on two busy cores may take a while to stop cleanly. */
#define LOCAL_STOP_MS 20000
#define LOCAL_LEADER_MS 30000
/*  Nodes kept for the membership fault beyond --nodes (ids are never reused). */
#define LOCAL_SPARES 4
/*  A joiner copies the state and the log before it can be promoted. */
#define LOCAL_CATCH_UP_MS 30000

typedef struct {
    zkv_cluster_t *cluster;
    zkv_client_t *admin; /* membership changes */
    uint32_t next_spare; /* the next never-used id */
    netcut_t net;
    bool net_installed;
    bool stopping[FAULT_NODES_MAX + 1];
    int64_t stop_deadline_ms[FAULT_NODES_MAX + 1];
} local_t;

static local_t *s_local(target_t *self)
{
    return self->impl;
}

static int s_kill(target_t *self, uint32_t id)
{
    if (zkv_cluster_kill(s_local(self)->cluster, id) != 0) {
        fault_error("kill node %u: it was not running", id);
        return -1;
    }
    self->state[id] = TARGET_NODE_DOWN;
    return 0;
}

static int s_stop(target_t *self, uint32_t id)
{
    local_t *local = s_local(self);
    if (zkv_cluster_signal(local->cluster, id, SIGTERM) != 0 ||
        (self->state[id] == TARGET_NODE_PAUSED &&
         zkv_cluster_signal(local->cluster, id, SIGCONT) != 0)) {
        fault_error("stop node %u: it was not running", id);
        return -1;
    }
    local->stopping[id] = true;
    local->stop_deadline_ms[id] = fault_now_ms() + LOCAL_STOP_MS;
    self->state[id] = TARGET_NODE_DOWN;
    return 0;
}

static int s_start(target_t *self, uint32_t id)
{
    if (zkv_cluster_start(s_local(self)->cluster, id) != 0) {
        fault_error("start node %u failed", id);
        return -1;
    }
    self->state[id] = TARGET_NODE_UP;
    return 0;
}

static int s_pause(target_t *self, uint32_t id)
{
    if (zkv_cluster_pause(s_local(self)->cluster, id) != 0) {
        fault_error("pause node %u: it was not running", id);
        return -1;
    }
    self->state[id] = TARGET_NODE_PAUSED;
    return 0;
}

static int s_resume(target_t *self, uint32_t id)
{
    if (zkv_cluster_resume(s_local(self)->cluster, id) != 0) {
        fault_error("resume node %u: it was not paused", id);
        return -1;
    }
    self->state[id] = TARGET_NODE_UP;
    return 0;
}

static int s_cut(target_t *self, const target_links_t *links)
{
    local_t *local = s_local(self);
    netcut_rule_t rules[NETCUT_RULES_MAX];
    size_t n = 0;
    for (uint32_t a = 1; a <= self->nodes; a++)
        for (uint32_t b = 1; b <= self->nodes; b++)
            if (a != b && links->cut[a][b] && n < NETCUT_RULES_MAX)
                rules[n++] = (netcut_rule_t){zkv_cluster_host(local->cluster, a),
                                             zkv_cluster_host(local->cluster, b)};
    char err[FAULT_ERROR_SIZE];
    if (netcut_set(&local->net, rules, n, err, sizeof err) != 0) {
        fault_error("iptables: %s", err);
        return -1;
    }
    return 0;
}

/*  A node told to stop has exited (with status 0, or it is an error). */
static bool s_stopped(target_t *self, uint32_t id)
{
    local_t *local = s_local(self);
    if (zkv_cluster_state(local->cluster, id) == ZKV_NODE_DOWN) {
        int ws = zkv_cluster_wstatus(local->cluster, id);
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            fault_error("node %u stopped by SIGTERM: %s (want exit 0); stderr %s", id,
                        zkv_cluster_wstatus_text(ws), zkv_cluster_stderr_path(local->cluster, id));
        return true;
    }
    if (fault_now_ms() < local->stop_deadline_ms[id])
        return false;
    fault_error("node %u did not exit within %d ms of SIGTERM; killed", id, LOCAL_STOP_MS);
    zkv_cluster_kill(local->cluster, id);
    return true;
}

static bool s_settled(target_t *self)
{
    local_t *local = s_local(self);
    bool settled = true;
    for (uint32_t id = 1; id <= self->nodes; id++) {
        if (local->stopping[id] && s_stopped(self, id))
            local->stopping[id] = false;
        settled = settled && !local->stopping[id];
    }
    return settled;
}

static void s_check(target_t *self, bool final)
{
    local_t *local = s_local(self);
    for (uint32_t id = 1; id <= zkv_cluster_size(local->cluster); id++) {
        if (!local->stopping[id] && self->state[id] != TARGET_NODE_DOWN &&
            zkv_cluster_state(local->cluster, id) == ZKV_NODE_DOWN) {
            fault_error("node %u exited on its own: %s; stderr %s", id,
                        zkv_cluster_wstatus_text(zkv_cluster_wstatus(local->cluster, id)),
                        zkv_cluster_stderr_path(local->cluster, id));
            self->state[id] = TARGET_NODE_DOWN;
        }
        char line[512];
        if (final && zkv_cluster_stderr_check(local->cluster, id, line, sizeof line) == 1)
            fault_error("node %u: sanitizer report in %s: %s", id,
                        zkv_cluster_stderr_path(local->cluster, id), line);
    }
}

static void s_destroy(target_t *self)
{
    local_t *local = s_local(self);
    char err[FAULT_ERROR_SIZE];
    if (local->net_installed && netcut_remove(&local->net, err, sizeof err) != 0)
        fault_error("removing iptables chain %s: %s", local->net.chain, err);
    if (local->cluster && fault_error_count() > 0)
        setenv("ZKV_KEEP_TEST_DIRS", "1", 1); /* the node logs are the evidence */
    zkv_client_destroy(&local->admin);
    zkv_cluster_destroy(&local->cluster);
    free(local);
}

/* ---------------------------------------------------------------- membership */

/*  One membership or leadership request: OK, or a run error. A change in
    progress (the answer to an earlier attempt not yet given) is waited out. */
static int s_admin(local_t *local, zkv_op_type_t type, uint32_t id, bool learner,
                   Zkv__Status *status)
{
    int64_t deadline = fault_now_ms() + LOCAL_CATCH_UP_MS;
    zkv_cluster_t *c = local->cluster;
    zkv_node_ports_t ports = zkv_cluster_ports(c, id);
    zkv_op_t op = {.type = type,
                   .member = {.id = id,
                              .host = zkv_cluster_host(c, id),
                              .pub_port = ports.pub,
                              .router_port = ports.router,
                              .client_port = ports.client,
                              .learner = learner}};
    const Zkv__Response *reply;
    int rc;
    while ((rc = zkv_client_call(local->admin, &op, &reply)) == 0 &&
           reply->status == ZKV__STATUS__FAILED_PRECONDITION &&
           strstr(reply->error, "in progress") && fault_now_ms() < deadline)
        usleep(100 * 1000);
    *status = rc == 0 ? reply->status : ZKV__STATUS__STATUS_UNSPECIFIED;
    if (rc == 0 && reply->status == ZKV__STATUS__OK)
        return 0;
    if (type != ZKV_OP_MEMBER_PROMOTE || *status != ZKV__STATUS__FAILED_PRECONDITION)
        fault_error("member request %d for node %u: %s %s", (int) type, id,
                    rc ? zkv_client_strerror(rc) : zkv_client_status_name(reply->status),
                    rc ? "" : reply->error);
    return -1;
}

static int s_grow(target_t *self, uint32_t *id)
{
    local_t *local = s_local(self);
    uint32_t spare = local->next_spare;
    Zkv__Status status;
    if (spare > zkv_cluster_size(local->cluster)) {
        fault_log("member: no spare node left");
        return -1;
    }
    local->next_spare++;
    if (s_admin(local, ZKV_OP_MEMBER_ADD, spare, true, &status) != 0)
        return -1;
    if (zkv_cluster_start(local->cluster, spare) != 0) {
        fault_error("member: node %u does not start", spare);
        return -1;
    }
    self->state[spare] = TARGET_NODE_UP;
    int64_t deadline = fault_now_ms() + LOCAL_CATCH_UP_MS;
    while (s_admin(local, ZKV_OP_MEMBER_PROMOTE, spare, false, &status) != 0) {
        if (status != ZKV__STATUS__FAILED_PRECONDITION || fault_now_ms() > deadline) {
            fault_error("member: node %u was not promoted within %d ms", spare, LOCAL_CATCH_UP_MS);
            return -1;
        }
        usleep(100 * 1000);
    }
    *id = spare;
    return 0;
}

static int s_shrink(target_t *self, uint32_t id, bool move_leader)
{
    local_t *local = s_local(self);
    Zkv__Status status;
    if (move_leader && s_admin(local, ZKV_OP_MOVE_LEADER, id, false, &status) != 0)
        return -1;
    if (s_admin(local, ZKV_OP_MEMBER_REMOVE, id, false, &status) != 0)
        return -1;
    int wstatus = -1;
    if (zkv_cluster_wait_exit(local->cluster, id, LOCAL_STOP_MS, &wstatus) != 0) {
        /* Stopped now, with its threads' stacks in its stderr if it hangs. */
        zkv_cluster_stop(local->cluster, id, LOCAL_STOP_MS, &wstatus);
        fault_error("member: removed node %u did not stop by itself within %d ms (then: %s)", id,
                    LOCAL_STOP_MS, zkv_cluster_wstatus_text(wstatus));
        return -1;
    }
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        fault_error("member: removed node %u stopped with %s", id,
                    zkv_cluster_wstatus_text(wstatus));
        return -1;
    }
    self->state[id] = TARGET_NODE_DOWN;
    return 0;
}

static const target_ops_t s_ops = {s_kill, s_stop,   s_start,   s_pause, s_resume, s_cut,
                                   s_grow, s_shrink, s_settled, s_check, s_destroy};

/*  The chain, when iptables works here; why not in self->partitions_why. */
static void s_setup_partitions(target_t *self, local_t *local)
{
    snprintf(local->net.chain, sizeof local->net.chain, "%s%d", NETCUT_CHAIN_PREFIX,
             (int) getpid());
    char err[FAULT_ERROR_SIZE];
    if (netcut_available(&local->net, err, sizeof err) != 0) {
        snprintf(self->partitions_why, sizeof self->partitions_why, "iptables unusable: %.400s",
                 err);
        return;
    }
    netcut_remove_stale();
    if (netcut_install(&local->net, err, sizeof err) != 0) {
        snprintf(self->partitions_why, sizeof self->partitions_why, "iptables: %.400s", err);
        return;
    }
    local->net_installed = true;
    self->partitions = true;
}

static int s_start_cluster(target_t *self, local_t *local, const fault_options_t *options,
                           char *err, size_t err_size)
{
    size_t spares = (size_t) options->nodes + LOCAL_SPARES <= FAULT_NODES_MAX
                        ? LOCAL_SPARES
                        : (size_t) (FAULT_NODES_MAX - options->nodes);
    /* A short watch queue: the paused watcher (--watch) overflows it. */
    static const char *const watch_args[] = {"--watch-queue", "100", NULL};
    zkv_cluster_config_t config = {.name = "fault",
                                   .nodes = (size_t) options->nodes + spares,
                                   .initial = (size_t) options->nodes,
                                   .zkvd = options->zkvd,
                                   .host_base = (uint8_t) options->host_base,
                                   .snapshot_entries = options->snapshot_entries,
                                   .args = options->watch ? watch_args : NULL};
    local->cluster = zkv_cluster_new(&config, err, err_size);
    if (!local->cluster)
        return -1;
    zkv_curve_t curve = zkv_cluster_curve(local->cluster);
    snprintf(self->cert, sizeof self->cert, "%s", curve.cert ? curve.cert : "");
    snprintf(self->server_key, sizeof self->server_key, "%s",
             curve.server_key ? curve.server_key : "");
    self->nodes = (size_t) options->nodes;
    local->next_spare = (uint32_t) self->nodes + 1;
    for (uint32_t id = local->next_spare; id <= zkv_cluster_size(local->cluster); id++)
        self->state[id] = TARGET_NODE_DOWN;
    size_t used = 0;
    for (uint32_t id = 1; id <= self->nodes; id++) {
        const char *e = zkv_cluster_client_endpoint(local->cluster, id);
        snprintf(self->endpoint[id], sizeof self->endpoint[id], "%s", e);
        used += (size_t) snprintf(self->endpoints + used, sizeof self->endpoints - used, "%s%s",
                                  id > 1 ? "," : "", e);
        if (zkv_cluster_start(local->cluster, id) != 0) {
            snprintf(err, err_size, "starting node %u failed", id);
            return -1;
        }
    }
    zkv_client_config_t cc = {
        .curve = target_curve(self), .endpoints = self->endpoints, .timeout_ms = 10000};
    local->admin = zkv_client_new(&cc, err, err_size);
    if (!local->admin)
        return -1;
    uint32_t leader = zkv_cluster_wait_leader(local->cluster, LOCAL_LEADER_MS);
    if (!leader) {
        zkv_cluster_dump(local->cluster, stdout);
        snprintf(err, err_size, "no leader within %d ms of the start", LOCAL_LEADER_MS);
        return -1;
    }
    fault_log("local: %zu zkvd nodes in %s (node logs there), peers %s; leader node %u",
              self->nodes, zkv_cluster_dir(local->cluster), zkv_cluster_peers(local->cluster),
              leader);
    return 0;
}

target_t *target_local_new(const fault_options_t *options, char *err, size_t err_size)
{
    target_t *self = calloc(1, sizeof *self);
    local_t *local = calloc(1, sizeof *local);
    if (!self || !local) {
        free(self);
        free(local);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->ops = &s_ops;
    self->impl = local;
    s_setup_partitions(self, local);
    if (s_start_cluster(self, local, options, err, err_size) != 0) {
        target_destroy(&self);
        return NULL;
    }
    return self;
}
