/*  security: CURVE on every socket and the authorization file, tried the
    way a stranger and clients of each standing would (docs/SECURITY.md).

    The same attacks run first against a cluster started with --insecure,
    where they must work (a forged vote moves every term, a put's value
    crosses the loopback in the clear): that proves the attacks are real and
    the checks able to fail. Then against a cluster with CURVE and an --acl
    file, where they must change nothing while the cluster goes on serving
    the clients it knows. Last, a node refuses certificates it must not use,
    with one line. Needs root for tcpdump on the loopback. */
#include <czmq.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cert.h"
#include "cluster_certs.h"
#include "harness.h"
#include "http_get.h"
#include "security_attack.h"
#include "zkv.pb-c.h"

#define SETTLE_MS 2000 /* how long an attack gets to show an effect */
#define REFUSED_MS 3000

static char s_secret_value[64];

static zkv_client_t *s_client(zkv_cluster_t *cluster, const char *cert, const char *server_key)
{
    zkv_client_config_t cc = {.endpoints = zkv_cluster_endpoints(cluster),
                              .timeout_ms = REFUSED_MS,
                              .attempt_timeout_ms = 1000,
                              .curve = {cert, server_key}};
    char err[512];
    zkv_client_t *c = zkv_client_new(&cc, err, sizeof err);
    CHECK(c, "client with %s: %s", cert ? cert : "no key", err);
    return c;
}

/*  The status of one operation (rc when the client itself failed). */
static int s_call(zkv_client_t *c, const zkv_op_t *op)
{
    const Zkv__Response *reply = NULL;
    int rc = zkv_client_call(c, op, &reply);
    return rc != 0 ? rc : (int) reply->status;
}

static int s_put(zkv_client_t *c, const char *key, const char *value)
{
    zkv_op_t op = {.type = ZKV_OP_PUT,
                   .key = {(const uint8_t *) key, strlen(key)},
                   .value = {(const uint8_t *) value, strlen(value)}};
    return s_call(c, &op);
}

static int s_get(zkv_client_t *c, const char *key)
{
    zkv_op_t op = {.type = ZKV_OP_GET, .key = {(const uint8_t *) key, strlen(key)}};
    return s_call(c, &op);
}

static int s_scan(zkv_client_t *c, const char *prefix)
{
    zkv_op_t op = {.type = ZKV_OP_SCAN, .prefix = {(const uint8_t *) prefix, strlen(prefix)}};
    return s_call(c, &op);
}

/*  Every node's term, leader and commit, and whether key exists on any. */
typedef struct {
    uint64_t term[4];
    uint32_t leader[4];
    uint64_t commit[4];
} s_view_t;

static s_view_t s_view(zkv_cluster_t *cluster)
{
    s_view_t v = {0};
    for (uint32_t id = 1; id <= 3; id++) {
        zkv_node_status_t st;
        CHECK(zkv_cluster_status(cluster, id, &st) == 0, "status of node %u", id);
        v.term[id] = st.term;
        v.leader[id] = st.leader;
        v.commit[id] = st.commit;
    }
    return v;
}

/*  The view once every node has the leader's commit: what an attack must not move. */
static s_view_t s_settled_view(zkv_cluster_t *cluster, uint32_t leader)
{
    zkv_node_status_t st;
    CHECK(zkv_cluster_status(cluster, leader, &st) == 0, "status of the leader");
    for (uint32_t id = 1; id <= 3; id++)
        CHECK(zkv_cluster_wait_applied(cluster, id, st.commit, H_CATCH_UP_MS) == 0,
              "node %u reaches commit %" PRIu64, id, st.commit);
    usleep(200000); /* and has heard it: a heartbeat or two */
    return s_view(cluster);
}

/* ---------------------------------------------------------------- plaintext */

static void s_insecure_control(void)
{
    h_note("control: a cluster with --insecure");
    zkv_cluster_config_t config = {.name = "sec-plain", .election_ticks = 100, .insecure = true};
    uint32_t leader;
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    zkv_client_t *admin = s_client(cluster, NULL, NULL);
    CHECK(s_put(admin, "warm", "up") == ZKV__STATUS__OK, "put on the plaintext cluster");
    s_view_t before = s_view(cluster);
    sec_attack_t attack = {.cluster = cluster, .leader = leader, .term = before.term[leader]};
    sec_attack_cluster_id(&attack, admin);
    sec_attack_peers(&attack, NULL, 0);
    uint64_t moved = 0;
    for (int64_t end = h_now_ms() + SETTLE_MS * 5; !moved && h_now_ms() < end; usleep(50000)) {
        s_view_t after = s_view(cluster);
        for (uint32_t id = 1; id <= 3; id++)
            if (after.term[id] > before.term[id] + 500)
                moved = after.term[id];
    }
    CHECK(moved, "the forged vote moved no term on a plaintext cluster: the attack is not real");
    h_note("forged peer messages moved the term %" PRIu64 " -> %" PRIu64 " (as expected here)",
           before.term[leader], moved);
    leader = h_leader(cluster);
    CHECK(sec_capture_put(cluster, admin, "plain", s_secret_value) == 1,
          "the value is not in the plaintext capture: the capture sees nothing");
    h_note("a put's value is in the plaintext loopback capture (as expected here)");
    zkv_client_destroy(&admin);
    h_cluster_finish(&cluster);
}

/* ---------------------------------------------------------------- CURVE */

static const char s_acl[] = "# USER RIGHTS PREFIX...\n"
                            "admin   admin\n"
                            "reader  r     app/\n"
                            "writer  rw    app/\n";

static void s_strangers(zkv_cluster_t *cluster, const char *stranger, const char *server_key)
{
    zkv_client_t *none = s_client(cluster, NULL, NULL);
    int rc = s_put(none, "app/x", "no key");
    CHECK(rc < 0, "a client without a key got status %d", rc);
    h_note("a client without a key: %s", zkv_client_strerror(rc));
    zkv_client_destroy(&none);
    zkv_client_t *unknown = s_client(cluster, stranger, server_key);
    rc = s_get(unknown, "app/x");
    CHECK(rc < 0, "a client with an unknown key got status %d", rc);
    h_note("a client with an unknown key: %s", zkv_client_strerror(rc));
    zkv_client_destroy(&unknown);
}

static void s_ignore_event(void *arg, const Zkv__WatchEvent *event)
{
    (void) arg;
    (void) event;
}

/*  A watcher of a prefix its key may not read stops with ZKV_EPERM. */
static void s_watch_denied(zkv_cluster_t *cluster, const char *cert, const char *server_key)
{
    zkv_watcher_config_t wc = {.endpoints = zkv_cluster_endpoints(cluster),
                               .key = {(const uint8_t *) "secret/", 7},
                               .end = {(const uint8_t *) "secret0", 7},
                               .range = true,
                               .curve = {cert, server_key}};
    char err[512];
    zkv_watcher_t *w = zkv_watcher_new(&wc, err, sizeof err);
    CHECK(w, "watcher: %s", err);
    int64_t started = h_now_ms();
    int rc = zkv_watcher_run(w, REFUSED_MS * 2, s_ignore_event, NULL, NULL);
    CHECK(rc == ZKV_EPERM, "a watcher of secret/ with the reader's key: %d (%s)", rc,
          zkv_watcher_error(w));
    h_note("a watcher of secret/ with the reader's key stops in %" PRId64 " ms: %s",
           h_now_ms() - started, zkv_watcher_error(w));
    zkv_watcher_destroy(&w);
}

/*  The value of one series in node id's /metrics, or -1. */
static long long s_metric(zkv_cluster_t *cluster, uint32_t id, const char *series)
{
    char *body = NULL;
    int status = http_get(zkv_cluster_ports(cluster, id).metrics, "/metrics", 2000, &body);
    const char *at = status == 200 && body ? strstr(body, series) : NULL;
    long long v = at ? strtoll(at + strlen(series), NULL, 10) : -1;
    free(body);
    return v;
}

/*  Every refused handshake so far is on some node's zkv_auth_handshakes_total. */
static void s_refusals_counted(zkv_cluster_t *cluster)
{
    const char *series[] = {"zkv_auth_handshakes_total{domain=\"peer\",result=\"refused\"} ",
                            "zkv_auth_handshakes_total{domain=\"client\",result=\"refused\"} ",
                            "zkv_auth_handshakes_total{domain=\"peer\",result=\"accepted\"} "};
    for (size_t i = 0; i < 3; i++) {
        long long sum = 0;
        for (uint32_t id = 1; id <= 3; id++)
            sum += s_metric(cluster, id, series[i]);
        CHECK(sum > 0, "%sis %lld over the three nodes", series[i], sum);
    }
    h_note("the nodes' metrics count the refused handshakes, peer and client");
}

static void s_rights(zkv_cluster_t *cluster, const char *dir, const char *server_key)
{
    char reader_cert[600], writer_cert[600];
    snprintf(reader_cert, sizeof reader_cert, "%s/certs/clients/reader.cert", dir);
    snprintf(writer_cert, sizeof writer_cert, "%s/certs/clients/writer.cert", dir);
    zkv_client_t *reader = s_client(cluster, reader_cert, server_key);
    zkv_client_t *writer = s_client(cluster, writer_cert, server_key);
    const int denied = ZKV__STATUS__PERMISSION_DENIED, ok = ZKV__STATUS__OK;
    CHECK(s_put(writer, "app/1", "w") == ok, "writer put app/1");
    CHECK(s_get(reader, "app/1") == ok, "reader get app/1");
    CHECK(s_scan(reader, "app/") == ok, "reader scan app/");
    CHECK(s_put(reader, "app/1", "r") == denied, "reader put app/1 not denied");
    CHECK(s_put(writer, "other/1", "w") == denied, "writer put other/1 not denied");
    CHECK(s_get(reader, "other/1") == denied, "reader get other/1 not denied");
    CHECK(s_scan(reader, "") == denied, "reader scan of every key not denied");
    CHECK(s_scan(reader, "ap") == denied, "reader scan ap (wider than app/) not denied");
    zkv_op_t move = {.type = ZKV_OP_MOVE_LEADER, .member = {.id = 1}};
    CHECK(s_call(writer, &move) == denied, "writer move-leader not denied");
    zkv_value_t v = {0};
    zkv_client_t *admin = h_client(cluster, 1, 10000, 0);
    CHECK(zkv_get(admin, "app/1", 5, &v) == 0 && v.size == 1 && v.data[0] == 'w',
          "app/1 changed by a denied put");
    zkv_value_free(&v);
    CHECK(zkv_get(admin, "other/1", 7, &v) == ZKV_ENOTFOUND, "other/1 written by a denied put");
    h_note("reader and writer: allowed what the file grants, PERMISSION_DENIED for the rest");
    s_watch_denied(cluster, reader_cert, server_key);
    sec_watch_gate(cluster, reader_cert, server_key, admin);
    zkv_client_destroy(&admin);
    zkv_client_destroy(&reader);
    zkv_client_destroy(&writer);
}

/*  SIGHUP reads --acl again: the reader may write once the file says so. */
static void s_reload(zkv_cluster_t *cluster, const char *acl_path, const char *dir,
                     const char *server_key)
{
    FILE *f = fopen(acl_path, "w");
    CHECK(f && fputs("admin admin\nreader rw app/\n", f) >= 0 && fclose(f) == 0, "rewrite acl");
    for (uint32_t id = 1; id <= 3; id++)
        CHECK(zkv_cluster_signal(cluster, id, SIGHUP) == 0, "SIGHUP node %u", id);
    char reader_cert[600];
    snprintf(reader_cert, sizeof reader_cert, "%s/certs/clients/reader.cert", dir);
    zkv_client_t *reader = s_client(cluster, reader_cert, server_key);
    int rc = ZKV__STATUS__PERMISSION_DENIED;
    for (int64_t end = h_now_ms() + SETTLE_MS; rc != ZKV__STATUS__OK && h_now_ms() < end;
         usleep(50000))
        rc = s_put(reader, "app/2", "r");
    CHECK(rc == ZKV__STATUS__OK, "reader put after the reload: status %d", rc);
    h_note("after SIGHUP the new rules hold (reader writes app/2)");
    zkv_client_destroy(&reader);
}

static void s_curve(void)
{
    h_note("a cluster with CURVE and --acl");
    char tmp[] = "/tmp/zkv-sec-XXXXXX";
    CHECK(mkdtemp(tmp), "mkdtemp");
    char acl_path[600], stranger[600];
    snprintf(acl_path, sizeof acl_path, "%s/acl", tmp);
    FILE *f = fopen(acl_path, "w");
    CHECK(f && fputs(s_acl, f) >= 0 && fclose(f) == 0, "write %s", acl_path);
    const char *args[] = {"--acl", acl_path, NULL};
    zkv_cluster_config_t config = {.name = "sec-curve", .election_ticks = 100, .args = args};
    zkv_cluster_t *cluster = h_cluster_new(&config);
    const char *dir = zkv_cluster_dir(cluster);
    char err[512];
    CHECK(zkv_cluster_certs_client(dir, "reader", err, sizeof err) == 0, "%s", err);
    CHECK(zkv_cluster_certs_client(dir, "writer", err, sizeof err) == 0, "%s", err);
    zkv_cert_t other;
    snprintf(stranger, sizeof stranger, "%s/stranger.cert", tmp);
    CHECK(zkv_cert_generate(&other, "stranger", 0) == 0 &&
              zkv_cert_save(&other, stranger, err, sizeof err) == 0,
          "stranger: %s", err);
    CHECK(zkv_cluster_start_all(cluster) == 0, "start");
    uint32_t leader = h_leader(cluster);
    zkv_curve_t curve = zkv_cluster_curve(cluster);
    zkv_client_t *admin = h_client(cluster, leader, 10000, 0);
    CHECK(zkv_put(admin, "warm", 4, "up", 2) == 0, "admin put");

    s_view_t before = s_settled_view(cluster, leader);
    sec_attack_t attack = {.cluster = cluster, .leader = leader, .term = before.term[leader]};
    sec_attack_cluster_id(&attack, admin);
    sec_attack_peers(&attack, NULL, 0);     /* plaintext */
    sec_attack_peers(&attack, stranger, 0); /* CURVE, a key no member has */
    /* A member's own key, its messages posing as the leader's: dropped too. */
    char member[700];
    snprintf(member, sizeof member, "%s/certs/peers/node%u.cert", dir, leader % 3 + 1);
    sec_attack_peers(&attack, member, leader);
    usleep(SETTLE_MS * 1000);
    s_view_t after = s_view(cluster);
    for (uint32_t id = 1; id <= 3; id++)
        CHECK(after.term[id] == before.term[id] && after.leader[id] == before.leader[id] &&
                  after.commit[id] == before.commit[id],
              "node %u moved: term %" PRIu64 " -> %" PRIu64 ", leader %u -> %u, commit %" PRIu64
              " -> %" PRIu64,
              id, before.term[id], after.term[id], before.leader[id], after.leader[id],
              before.commit[id], after.commit[id]);
    zkv_value_t v = {0};
    CHECK(zkv_get(admin, SEC_FORGED_KEY, strlen(SEC_FORGED_KEY), &v) == ZKV_ENOTFOUND,
          "the forged append's key exists");
    h_note("forged APPEND, forced VOTE and TIMEOUT_NOW from strangers and from a member posing "
           "as the leader: no term, leader or commit moved");

    s_strangers(cluster, stranger, curve.server_key);
    s_refusals_counted(cluster);
    s_rights(cluster, dir, curve.server_key);
    CHECK(sec_capture_put(cluster, admin, "curve", s_secret_value) == 0,
          "the value crossed the loopback in the clear");
    h_note("a put's value is not in the loopback capture");
    s_reload(cluster, acl_path, dir, curve.server_key);
    CHECK(zkv_put(admin, "after", 5, "all", 3) == 0, "the cluster serves its admin after it all");
    zkv_client_destroy(&admin);
    h_cluster_finish(&cluster);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0, "%s", cmd);
}

int main(void)
{
    snprintf(s_secret_value, sizeof s_secret_value, "zkv-secret-%08x-%d", (unsigned) rand(),
             (int) getpid());
    s_insecure_control();
    s_curve();
    sec_bad_certificates();
    h_note("passed");
    return 0;
}
