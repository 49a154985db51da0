/*  integration_membership: a cluster changes its members while it takes
    writes. Three nodes start it; node 4 and node 5 join (added as learners,
    started with --join, caught up by InstallSnapshot, promoted); the leader
    removes itself (it hands over and exits, and refuses to start again);
    a follower whose data directory is lost is replaced by node 6. Every
    membership change runs while a writer keeps puts in flight; at the end
    every acknowledged put is read back from every member, and a node whose
    --peers describe another cluster is refused by it and stops. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NODES 6
#define KEYS_MAX 200000
#define WINDOW 16
#define CHANGE_MS 20000

typedef struct {
    zkv_client_t *client;
    size_t next;
    size_t inflight;
    size_t acked_count;
    bool acked[KEYS_MAX];
} writer_t;

/*  One put in flight; its key and value are borrowed by the client until it
    completes, however long its retries take. */
typedef struct {
    writer_t *w;
    size_t i;
    char key[H_KEY_SIZE];
    char value[H_VALUE_SIZE];
} put_t;

static void s_put_done(void *arg, int rc, const Zkv__Response *reply)
{
    put_t *p = arg;
    p->w->inflight--;
    if (rc == 0 && reply->status == ZKV__STATUS__OK) {
        p->w->acked[p->i] = true;
        p->w->acked_count++;
    }
    free(p);
}

/*  Keep WINDOW puts in flight. */
static void s_fill(writer_t *w)
{
    while (w->inflight < WINDOW && w->next < KEYS_MAX) {
        put_t *p = malloc(sizeof *p);
        CHECK(p, "out of memory");
        p->w = w;
        p->i = w->next++;
        h_key(p->key, "m", p->i);
        h_value(p->value, "m", p->i);
        zkv_op_t op = {.type = ZKV_OP_PUT,
                       .key = {(const uint8_t *) p->key, strlen(p->key)},
                       .value = {(const uint8_t *) p->value, strlen(p->value)}};
        int rc = zkv_client_submit(w->client, &op, s_put_done, p);
        if (rc == ZKV_EBUSY) { /* a write still retried holds the session's window */
            w->next--;
            free(p);
            return;
        }
        CHECK(rc == 0, "submit a put: %s", zkv_client_strerror(rc));
        w->inflight++;
    }
}

typedef struct {
    bool done;
    int rc;
    Zkv__Status status;
    char error[256];
} admin_t;

static void s_admin_done(void *arg, int rc, const Zkv__Response *reply)
{
    admin_t *a = arg;
    a->done = true;
    a->rc = rc;
    a->status = rc == 0 ? reply->status : ZKV__STATUS__STATUS_UNSPECIFIED;
    snprintf(a->error, sizeof a->error, "%s", rc == 0 && reply->error ? reply->error : "");
}

/*  One membership or leadership request, while the writer writes. */
static admin_t s_admin(zkv_client_t *admin, writer_t *w, const zkv_op_t *op)
{
    admin_t a = {0};
    CHECK(zkv_client_submit(admin, op, s_admin_done, &a) == 0, "submit a member request");
    int64_t deadline = h_now_ms() + CHANGE_MS;
    while (!a.done && h_now_ms() < deadline) {
        s_fill(w);
        zkv_client_poll(admin, 5);
        zkv_client_poll(w->client, 5);
    }
    CHECK(a.done, "a member request got no answer within %d ms", CHANGE_MS);
    return a;
}

static void s_change(zkv_client_t *admin, writer_t *w, zkv_op_type_t type, uint32_t id,
                     zkv_cluster_t *cluster, bool learner)
{
    zkv_node_ports_t ports = zkv_cluster_ports(cluster, id);
    zkv_op_t op = {.type = type,
                   .member = {.id = id,
                              .host = zkv_cluster_host(cluster, id),
                              .pub_port = ports.pub,
                              .router_port = ports.router,
                              .client_port = ports.client,
                              .learner = learner}};
    admin_t a = s_admin(admin, w, &op);
    CHECK(a.rc == 0 && a.status == ZKV__STATUS__OK, "member request %d for %u: %s %s", (int) type,
          id, a.rc ? zkv_client_strerror(a.rc) : zkv_client_status_name(a.status), a.error);
    h_note("member request %d for node %u done; %zu puts acknowledged", (int) type, id,
           w->acked_count);
}

/*  A joiner is promoted once caught up; until then the leader says it is not. */
static void s_promote(zkv_client_t *admin, writer_t *w, uint32_t id)
{
    int64_t deadline = h_now_ms() + H_CATCH_UP_MS;
    zkv_op_t op = {.type = ZKV_OP_MEMBER_PROMOTE, .member = {.id = id}};
    admin_t a;
    while ((a = s_admin(admin, w, &op)).status == ZKV__STATUS__FAILED_PRECONDITION &&
           strstr(a.error, "caught up") && h_now_ms() < deadline)
        ;
    CHECK(a.rc == 0 && a.status == ZKV__STATUS__OK, "promote %u: %s %s", id,
          a.rc ? zkv_client_strerror(a.rc) : zkv_client_status_name(a.status), a.error);
    h_note("node %u promoted", id);
}

static void s_drain(writer_t *w)
{
    int64_t deadline = h_now_ms() + H_CATCH_UP_MS;
    while (w->inflight > 0 && h_now_ms() < deadline)
        zkv_client_poll(w->client, 10);
    CHECK(w->inflight == 0, "%zu puts still in flight", w->inflight);
}

/*  For a failure report: which nodes hold key i, and what they applied. */
static void s_explain(zkv_client_t *reader, zkv_cluster_t *cluster, size_t i)
{
    char key[H_KEY_SIZE], got[H_VALUE_SIZE];
    h_key(key, "m", i);
    for (uint32_t id = 1; id <= NODES; id++) {
        zkv_node_status_t st;
        if (zkv_cluster_state(cluster, id) != ZKV_NODE_RUNNING ||
            zkv_cluster_status(cluster, id, &st) != 0)
            continue;
        int rc =
            h_get(reader, key, true, zkv_cluster_client_endpoint(cluster, id), got, sizeof got);
        h_note("node %u: %s %s (applied %" PRIu64 ", leader %u, term %" PRIu64 ")", id, key,
               rc == ZKV__STATUS__OK ? got : zkv_client_status_name(rc), st.applied, st.leader,
               st.term);
    }
}

/*  Every acknowledged put, read from one member's own state. */
static void s_verify(zkv_client_t *reader, zkv_cluster_t *cluster, uint32_t id, const writer_t *w)
{
    const char *endpoint = zkv_cluster_client_endpoint(cluster, id);
    size_t missing = 0, first = 0;
    for (size_t i = 0; i < w->next; i++) {
        if (!w->acked[i])
            continue;
        char key[H_KEY_SIZE], value[H_VALUE_SIZE], got[H_VALUE_SIZE];
        h_key(key, "m", i);
        h_value(value, "m", i);
        int64_t deadline = h_now_ms() + H_CATCH_UP_MS;
        int rc;
        while ((rc = h_get(reader, key, true, endpoint, got, sizeof got)) != ZKV__STATUS__OK &&
               h_now_ms() < deadline)
            usleep(100000);
        if (rc != ZKV__STATUS__OK || strcmp(got, value) != 0) {
            if (!missing++)
                first = i;
        }
    }
    if (missing)
        s_explain(reader, cluster, first);
    CHECK(missing == 0, "node %u lacks %zu acknowledged puts, the first m%zu", id, missing, first);
    h_note("node %u holds all %zu acknowledged puts", id, w->acked_count);
}

static bool s_stderr_has(zkv_cluster_t *cluster, uint32_t id, const char *text)
{
    FILE *f = fopen(zkv_cluster_stderr_path(cluster, id), "r");
    char line[1024];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    if (f)
        fclose(f);
    return found;
}

static void s_grow(zkv_cluster_t *cluster, zkv_client_t *admin, writer_t *w, uint32_t id)
{
    s_change(admin, w, ZKV_OP_MEMBER_ADD, id, cluster, true);
    CHECK(zkv_cluster_start(cluster, id) == 0, "start node %u", id);
    s_promote(admin, w, id);
}

static void s_remove_leader(zkv_cluster_t *cluster, zkv_client_t *admin, writer_t *w)
{
    uint32_t leader = h_leader(cluster);
    s_change(admin, w, ZKV_OP_MEMBER_REMOVE, leader, cluster, false);
    int wstatus = -1;
    CHECK(zkv_cluster_wait_exit(cluster, leader, H_STOP_MS, &wstatus) == 0,
          "removed leader %u still runs", leader);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "removed node %u: %s", leader,
          zkv_cluster_wstatus_text(wstatus));
    CHECK(s_stderr_has(cluster, leader, "removed from the cluster"), "node %u did not say why",
          leader);
    uint32_t next = h_leader(cluster);
    CHECK(next != leader, "the removed node still leads");
    /* It never comes back. */
    CHECK(zkv_cluster_start(cluster, leader) == 0, "restart node %u", leader);
    CHECK(zkv_cluster_wait_exit(cluster, leader, H_STOP_MS, &wstatus) == 0 && WIFEXITED(wstatus) &&
              WEXITSTATUS(wstatus) != 0,
          "removed node %u started again", leader);
    CHECK(s_stderr_has(cluster, leader, "was removed from cluster"), "node %u: no reason given",
          leader);
    h_note("leader %u removed itself; node %u leads", leader, next);
}

/*  A follower's disk dies: it goes, node 6 comes in its place. */
static uint32_t s_replace(zkv_cluster_t *cluster, zkv_client_t *admin, writer_t *w)
{
    uint32_t leader = h_leader(cluster), lost = 0;
    for (uint32_t id = 1; id <= 5 && !lost; id++)
        if (id != leader && zkv_cluster_state(cluster, id) == ZKV_NODE_RUNNING)
            lost = id;
    CHECK(lost, "no follower to lose");
    zkv_cluster_kill(cluster, lost);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", zkv_cluster_data_dir(cluster, lost));
    CHECK(system(cmd) == 0, "%s", cmd);
    s_change(admin, w, ZKV_OP_MEMBER_REMOVE, lost, cluster, false);
    s_grow(cluster, admin, w, 6);
    h_note("node %u replaced by node 6", lost);
    return lost;
}

/*  A fresh node started as a new cluster with --peers naming every node,
    itself too: the members drop its messages, and it stops once it hears
    the leader of another cluster. */
static void s_phantom(zkv_cluster_t *cluster, uint32_t id)
{
    const char *peers = zkv_cluster_peers_all(cluster);
    char dir[1100], id_text[16], log[1200];
    snprintf(dir, sizeof dir, "%s/phantom", zkv_cluster_dir(cluster));
    snprintf(log, sizeof log, "%s/phantom.err", zkv_cluster_dir(cluster));
    snprintf(id_text, sizeof id_text, "%u", id);
    char cmd[8192], security[4096];
    zkv_cluster_security_args(cluster, id, security, sizeof security);
    snprintf(cmd, sizeof cmd, "timeout 20 %s --id %s --peers '%s' --data-dir '%s'%s >'%s' 2>&1",
             ZKV_ZKVD_PATH, id_text, peers, dir, security, log);
    int rc = system(cmd);
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "a phantom node was not refused: %d", rc);
    snprintf(cmd, sizeof cmd, "grep -q 'belongs to cluster' '%s'", log);
    CHECK(system(cmd) == 0, "the phantom node did not say why it stopped");
    h_note("a node with other --peers was refused and stopped");
}

int main(void)
{
    zkv_cluster_config_t config = {
        .name = "membership", .nodes = NODES, .initial = 3, .snapshot_entries = 2000};
    zkv_cluster_t *cluster = h_cluster_new(&config);
    for (uint32_t id = 1; id <= 3; id++)
        CHECK(zkv_cluster_start(cluster, id) == 0, "start node %u", id);
    h_leader(cluster);
    static writer_t w;
    w.client = h_client(cluster, 1, 10000, 4 * WINDOW);
    zkv_client_t *admin = h_client(cluster, 1, CHANGE_MS, 4);
    for (int i = 0; i < 300; i++) {
        s_fill(&w);
        zkv_client_poll(w.client, 5);
    }
    s_grow(cluster, admin, &w, 4);
    s_grow(cluster, admin, &w, 5);
    s_remove_leader(cluster, admin, &w);
    uint32_t lost = s_replace(cluster, admin, &w);
    s_drain(&w);
    CHECK(w.acked_count > 1000, "only %zu puts acknowledged", w.acked_count);
    for (uint32_t id = 1; id <= NODES; id++)
        if (zkv_cluster_state(cluster, id) == ZKV_NODE_RUNNING)
            s_verify(admin, cluster, id, &w);
    s_phantom(cluster, lost);
    zkv_client_destroy(&w.client);
    zkv_client_destroy(&admin);
    h_check_alive(cluster);
    for (uint32_t id = 1; id <= NODES; id++)
        if (zkv_cluster_state(cluster, id) == ZKV_NODE_RUNNING)
            h_stop_clean(cluster, id);
    h_cluster_forget(cluster);
    zkv_cluster_destroy(&cluster);
    h_note("passed");
    return 0;
}
