/*  integration_metrics: every node's /metrics and /health, scraped by a real
    Prometheus server (Debian's, installed by scripts/deps.sh).

    A 3-node cluster. Each node's /health says 200 once it knows the leader;
    its /metrics passes `promtool check metrics`; bad requests get 400, 404
    and 405 and the port goes on serving. Prometheus scrapes the three every
    second: all three targets are up, and after 300 puts the cluster's count
    of successful puts has risen by at least 300. The leader is killed with
    SIGKILL: Prometheus sees its target down and the survivors' leader-change
    counters rise. A second node is killed: the last one's /health answers
    503, no leader known. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "http_get.h"

#define PUTS 300
#define HTTP_MS 5000
#define PROM_WAIT_MS 60000

extern char **environ;

static pid_t s_prometheus;

static void s_stop_prometheus(void)
{
    if (s_prometheus > 0) {
        kill(s_prometheus, SIGTERM);
        waitpid(s_prometheus, NULL, 0);
        s_prometheus = 0;
    }
}

static uint16_t s_free_port(void)
{
    for (uint16_t port = (uint16_t) (20000 + getpid() % 20000); port < 60000; port += 7) {
        char *body;
        if (http_get(port, "/", 200, &body) == -1) /* nothing listens */
            return port;
        free(body);
    }
    return 0;
}

static uint16_t s_metrics_port(zkv_cluster_t *cluster, uint32_t id)
{
    return zkv_cluster_ports(cluster, id).metrics;
}

static uint16_t s_start_prometheus(zkv_cluster_t *cluster)
{
    char config[512], data[512], log[512], flag_config[600], flag_data[600], flag_listen[64];
    snprintf(config, sizeof config, "%s/prometheus.yml", zkv_cluster_dir(cluster));
    snprintf(data, sizeof data, "%s/prometheus", zkv_cluster_dir(cluster));
    snprintf(log, sizeof log, "%s/prometheus.log", zkv_cluster_dir(cluster));
    FILE *f = fopen(config, "w");
    CHECK(f, "cannot write %s", config);
    fprintf(f,
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: zkv\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%u', '127.0.0.1:%u', '127.0.0.1:%u']\n",
            s_metrics_port(cluster, 1), s_metrics_port(cluster, 2), s_metrics_port(cluster, 3));
    fclose(f);
    uint16_t port = s_free_port();
    CHECK(port, "no free port for Prometheus");
    snprintf(flag_config, sizeof flag_config, "--config.file=%s", config);
    snprintf(flag_data, sizeof flag_data, "--storage.tsdb.path=%s", data);
    snprintf(flag_listen, sizeof flag_listen, "--web.listen-address=127.0.0.1:%u", port);
    char *argv[] = {"prometheus", flag_config, flag_data, flag_listen, "--log.level=warn", NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawnp(&s_prometheus, "prometheus", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    CHECK(rc == 0, "cannot start prometheus (scripts/deps.sh installs it): %s", strerror(rc));
    h_at_fail(s_stop_prometheus);
    h_note("prometheus on 127.0.0.1:%u (pid %d), log %s", port, (int) s_prometheus, log);
    return port;
}

/*  The instant vector of query as (instance, value) pairs; -1 on an error. */
static int s_query(uint16_t port, const char *query, char instances[][64], double *values,
                   size_t capacity)
{
    char *escaped = http_escape(query), *body = NULL, path[1024];
    snprintf(path, sizeof path, "/api/v1/query?query=%s", escaped);
    free(escaped);
    int code = http_get(port, path, HTTP_MS, &body);
    json_t *root = code == 200 ? json_loads(body, 0, NULL) : NULL;
    free(body);
    json_t *result = json_object_get(json_object_get(root, "data"), "result");
    int n = json_is_array(result) ? 0 : -1;
    for (size_t i = 0; n >= 0 && i < json_array_size(result) && (size_t) n < capacity; i++) {
        json_t *item = json_array_get(result, i);
        const char *instance =
            json_string_value(json_object_get(json_object_get(item, "metric"), "instance"));
        const char *value = json_string_value(json_array_get(json_object_get(item, "value"), 1));
        snprintf(instances[n], 64, "%s", instance ? instance : "");
        values[n++] = value ? strtod(value, NULL) : -1;
    }
    json_decref(root);
    return n;
}

/*  The one value of a query that sums to a scalar-like vector; -1 when empty. */
static double s_query_one(uint16_t port, const char *query)
{
    char instances[8][64];
    double values[8];
    return s_query(port, query, instances, values, 8) == 1 ? values[0] : -1;
}

/*  Poll until query's single value is at least want. */
static double s_wait_at_least(uint16_t port, const char *query, double want)
{
    double v = -1;
    for (int64_t deadline = h_now_ms() + PROM_WAIT_MS; h_now_ms() < deadline; zclock_sleep(250))
        if ((v = s_query_one(port, query)) >= want)
            return v;
    CHECK(false, "prometheus: %s = %g, wanted at least %g", query, v, want);
    return v;
}

static int s_health(zkv_cluster_t *cluster, uint32_t id, char **body)
{
    return http_get(s_metrics_port(cluster, id), "/health", HTTP_MS, body);
}

static void s_wait_healthy(zkv_cluster_t *cluster, uint32_t id)
{
    char *body = NULL;
    int code = 0;
    for (int64_t deadline = h_now_ms() + H_LEADER_MS; h_now_ms() < deadline; zclock_sleep(100)) {
        free(body);
        if ((code = s_health(cluster, id, &body)) == 200)
            break;
    }
    CHECK(code == 200 && strncmp(body, "ok: leader ", 11) == 0, "node %u /health: %d %s", id, code,
          body ? body : "");
    h_note("node %u /health: %.*s", id, (int) strcspn(body, "\n"), body);
    free(body);
}

static void s_promtool(zkv_cluster_t *cluster, uint32_t id)
{
    char *body = NULL, path[512], cmd[700];
    int code = http_get(s_metrics_port(cluster, id), "/metrics", HTTP_MS, &body);
    CHECK(code == 200 && strstr(body, "zkv_raft_term "), "node %u /metrics: %d", id, code);
    snprintf(path, sizeof path, "%s/metrics%u.txt", zkv_cluster_dir(cluster), id);
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(body, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", path);
    int rc = system(cmd);
    CHECK(rc == 0, "node %u: `%s` failed (%d)", id, cmd, rc);
    h_note("node %u: %zu bytes of metrics, promtool check metrics passes", id, strlen(body));
    free(body);
}

static void s_bad_requests(zkv_cluster_t *cluster, uint32_t id)
{
    uint16_t port = s_metrics_port(cluster, id);
    char *body = NULL;
    /* A connection that sends half a request and waits must not hold the port. */
    int idle = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(idle, (struct sockaddr *) &addr, sizeof addr) == 0, "connect");
    CHECK(send(idle, "GET /metr", 9, 0) == 9, "send");
    CHECK(http_raw(port, "garbage\r\n\r\n", HTTP_MS, &body) == 400, "garbage not refused");
    free(body);
    CHECK(http_get(port, "/nothing", HTTP_MS, &body) == 404, "/nothing not 404");
    free(body);
    CHECK(http_raw(port, "POST /metrics HTTP/1.1\r\n\r\n", HTTP_MS, &body) == 405, "POST");
    free(body);
    CHECK(http_get(port, "/metrics", HTTP_MS, &body) == 200, "/metrics after bad requests");
    free(body);
    close(idle);
}

int main(void)
{
    uint32_t leader = 0;
    zkv_cluster_t *cluster = h_cluster_start(&(zkv_cluster_config_t){.name = "metrics"}, &leader);
    for (uint32_t id = 1; id <= 3; id++)
        s_wait_healthy(cluster, id);
    s_bad_requests(cluster, leader);
    uint16_t prom = s_start_prometheus(cluster);
    s_wait_at_least(prom, "count(up == 1)", 3);
    const char *puts = "sum(zkv_client_requests_total{op=\"put\",status=\"OK\"}) or vector(0)";
    double before = s_wait_at_least(prom, puts, 0);
    zkv_client_t *client = h_client(cluster, leader, 5000, 0);
    h_put_many(client, "m/", 0, PUTS, 32);
    zkv_client_destroy(&client);
    double after = s_wait_at_least(prom, puts, before + PUTS);
    h_note("puts counted by prometheus: %.0f before, %.0f after %d puts", before, after, PUTS);
    /* every node holds the 32-byte values in its tree, its Raft log and its watch history */
    double tree = s_wait_at_least(prom, "min(zkv_storage_tree_bytes)", PUTS * 32);
    double log = s_wait_at_least(prom, "min(zkv_raft_log_bytes)", PUTS * 32);
    double history = s_wait_at_least(prom, "min(zkv_watch_history_bytes)", PUTS * (32 + 64));
    s_wait_at_least(prom, "min(zkv_watch_history_events)", PUTS);
    h_note("memory of the least: tree %.0f, Raft log %.0f, watch history %.0f bytes", tree, log,
           history);
    for (uint32_t id = 1; id <= 3; id++)
        s_promtool(cluster, id);

    CHECK(zkv_cluster_kill(cluster, leader) == 0, "kill %u", leader);
    uint32_t next = zkv_cluster_wait_leader(cluster, H_LEADER_MS);
    CHECK(next && next != leader, "no new leader after killing %u", leader);
    char query[256];
    snprintf(query, sizeof query, "count(up{instance=\"127.0.0.1:%u\"} == 0)",
             s_metrics_port(cluster, leader));
    s_wait_at_least(prom, query, 1);
    snprintf(query, sizeof query, "min(zkv_raft_leader_changes_total{instance!=\"127.0.0.1:%u\"})",
             s_metrics_port(cluster, leader));
    s_wait_at_least(prom, query, 2);
    h_note("leader %u killed: prometheus sees its target down, %u leads, both saw the change",
           leader, next);
    s_wait_healthy(cluster, next);

    uint32_t last = h_follower(cluster, next);
    CHECK(zkv_cluster_kill(cluster, next) == 0, "kill %u", next);
    char *body = NULL;
    int code = 0;
    for (int64_t deadline = h_now_ms() + H_LEADER_MS; h_now_ms() < deadline; zclock_sleep(100)) {
        free(body);
        if ((code = s_health(cluster, last, &body)) == 503)
            break;
    }
    CHECK(code == 503 && strncmp(body, "no leader known", 15) == 0, "node %u alone: %d %s", last,
          code, body ? body : "");
    h_note("node %u alone: /health 503: %.*s", last, (int) strcspn(body, "\n"), body);
    free(body);
    s_stop_prometheus();
    h_at_fail(NULL);
    for (uint32_t id = 1; id <= 3; id++)
        if (zkv_cluster_state(cluster, id) != ZKV_NODE_RUNNING) {
            CHECK(zkv_cluster_start(cluster, id) == 0, "restart %u", id);
            /* Up before the clean stop: a node stopped while it boots is not clean. */
            CHECK(zkv_cluster_wait_applied(cluster, id, 1, H_CATCH_UP_MS) == 0, "node %u", id);
        }
    h_cluster_finish(&cluster);
    printf("integration_metrics: ok\n");
    return 0;
}
