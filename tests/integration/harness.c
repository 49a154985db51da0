/*  harness: checks, clients, bulk operations and trace events for the integration tests. */
#include "harness.h"

#include "cert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "http_get.h"
#include "zkv.pb-c.h"

#define CLUSTERS_MAX 4
#define RETRY_PAUSE_MS 200

static zkv_cluster_t *s_clusters[CLUSTERS_MAX];
static int64_t s_started_ms;

int64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double s_elapsed(void)
{
    if (!s_started_ms)
        s_started_ms = h_now_ms();
    return (double) (h_now_ms() - s_started_ms) / 1000.0;
}

void h_note(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    printf("[%7.3fs] ", s_elapsed());
    vprintf(fmt, args);
    printf("\n");
    fflush(stdout);
    va_end(args);
}

static void (*s_at_fail)(void);

void h_at_fail(void (*fn)(void))
{
    s_at_fail = fn;
}

_Noreturn void h_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    fflush(stdout);
    fprintf(stderr, "\nFAILED at %s:%d [%7.3fs]: %s\n    ", file, line, s_elapsed(), cond);
    va_list args;
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\n\n");
    for (size_t i = 0; i < CLUSTERS_MAX; i++)
        if (s_clusters[i])
            zkv_cluster_dump(s_clusters[i], stderr);
    /* Kill the nodes, remove the directories; then leave without the exit
       handlers that would report the clients and buffers left open here. */
    if (s_at_fail)
        s_at_fail();
    zkv_cluster_cleanup();
    _exit(1);
}

/* ---------------------------------------------------------------- cluster */

zkv_cluster_t *h_cluster_new(const zkv_cluster_config_t *config)
{
    s_elapsed();
    char err[512];
    zkv_cluster_t *cluster = zkv_cluster_new(config, err, sizeof err);
    CHECK(cluster, "cannot make the cluster: %s", err);
    for (size_t i = 0; i < CLUSTERS_MAX; i++)
        if (!s_clusters[i]) {
            s_clusters[i] = cluster;
            break;
        }
    h_note("cluster in %s, peers %s", zkv_cluster_dir(cluster), zkv_cluster_peers(cluster));
    return cluster;
}

zkv_cluster_t *h_cluster_start(const zkv_cluster_config_t *config, uint32_t *leader)
{
    zkv_cluster_t *cluster = h_cluster_new(config);
    CHECK(zkv_cluster_start_all(cluster) == 0, "cannot start the nodes");
    uint32_t id = h_leader(cluster);
    if (leader)
        *leader = id;
    return cluster;
}

void h_cluster_forget(zkv_cluster_t *cluster)
{
    for (size_t i = 0; i < CLUSTERS_MAX; i++)
        if (s_clusters[i] == cluster)
            s_clusters[i] = NULL;
}

void h_cluster_finish(zkv_cluster_t **cluster_p)
{
    zkv_cluster_t *cluster = *cluster_p;
    h_check_alive(cluster);
    for (uint32_t id = 1; id <= zkv_cluster_size(cluster); id++)
        h_stop_clean(cluster, id);
    h_cluster_forget(cluster);
    zkv_cluster_destroy(cluster_p);
    h_note("passed");
}

uint32_t h_leader(zkv_cluster_t *cluster)
{
    int64_t started = h_now_ms();
    uint32_t leader = zkv_cluster_wait_leader(cluster, H_LEADER_MS);
    h_check_alive(cluster);
    CHECK(leader != 0, "no leader agreed by a majority within %d ms", H_LEADER_MS);
    h_note("leader: node %u (after %lld ms)", leader, (long long) (h_now_ms() - started));
    return leader;
}

uint32_t h_follower(zkv_cluster_t *cluster, uint32_t leader)
{
    for (uint32_t id = 1; id <= zkv_cluster_size(cluster); id++)
        if (id != leader && zkv_cluster_state(cluster, id) == ZKV_NODE_RUNNING)
            return id;
    CHECK(false, "no running follower besides leader %u", leader);
}

void h_check_stderr(zkv_cluster_t *cluster, uint32_t id)
{
    char line[512] = "";
    int rc = zkv_cluster_stderr_check(cluster, id, line, sizeof line);
    CHECK(rc == 0, "node %u stderr (%s): %s", id, zkv_cluster_stderr_path(cluster, id),
          rc < 0 ? "cannot be read" : line);
}

void h_stop_clean(zkv_cluster_t *cluster, uint32_t id)
{
    int wstatus = -1;
    int64_t started = h_now_ms();
    int rc = zkv_cluster_stop(cluster, id, H_STOP_MS, &wstatus);
    CHECK(rc == 0, "node %u did not stop within %d ms of SIGTERM (%s)", id, H_STOP_MS,
          zkv_cluster_wstatus_text(wstatus));
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "node %u stopped with %s", id,
          zkv_cluster_wstatus_text(wstatus));
    h_check_stderr(cluster, id);
    h_note("node %u stopped cleanly in %lld ms", id, (long long) (h_now_ms() - started));
}

void h_check_alive(zkv_cluster_t *cluster)
{
    uint32_t gone = zkv_cluster_find_exited(cluster);
    CHECK(gone == 0, "node %u exited on its own: %s", gone,
          zkv_cluster_wstatus_text(gone ? zkv_cluster_wstatus(cluster, gone) : -1));
}

/* ---------------------------------------------------------------- clients */

zkv_client_t *h_client(zkv_cluster_t *cluster, uint32_t home, int64_t timeout_ms,
                       size_t inflight_max)
{
    zkv_client_config_t config = {
        .endpoints = zkv_cluster_endpoints(cluster),
        .timeout_ms = timeout_ms,
        .attempt_timeout_ms = timeout_ms > 1000 ? 1000 : 0,
        .home = home - 1,
        .inflight_max = inflight_max,
        .curve = zkv_cluster_curve(cluster),
    };
    char err[256];
    zkv_client_t *client = zkv_client_new(&config, err, sizeof err);
    CHECK(client, "client: %s", err);
    return client;
}

static zkv_bytes_t s_bytes(const char *text)
{
    return (zkv_bytes_t){(const uint8_t *) text, strlen(text)};
}

static int s_call(zkv_client_t *client, const zkv_op_t *op, const Zkv__Response **reply)
{
    int rc = zkv_client_call(client, op, reply);
    return rc < 0 ? rc : (int) (*reply)->status;
}

int h_put(zkv_client_t *client, const char *key, const char *value)
{
    zkv_op_t op = {.type = ZKV_OP_PUT, .key = s_bytes(key), .value = s_bytes(value)};
    const Zkv__Response *reply;
    return s_call(client, &op, &reply);
}

int h_del(zkv_client_t *client, const char *key, bool *found)
{
    zkv_op_t op = {.type = ZKV_OP_DELETE, .key = s_bytes(key)};
    const Zkv__Response *reply;
    int rc = s_call(client, &op, &reply);
    if (found)
        *found = rc > 0 && reply->found;
    return rc;
}

int h_get(zkv_client_t *client, const char *key, bool serializable, const char *endpoint,
          char *value, size_t size)
{
    zkv_op_t op = {.type = ZKV_OP_GET,
                   .key = s_bytes(key),
                   .serializable = serializable,
                   .endpoint = endpoint};
    const Zkv__Response *reply;
    int rc = s_call(client, &op, &reply);
    if (value && size)
        value[0] = 0;
    if (rc == ZKV__STATUS__OK && value && size)
        snprintf(value, size, "%.*s", (int) reply->value.len, (const char *) reply->value.data);
    return rc;
}

/* ---------------------------------------------------------------- many at once */

void h_key(char *buf, const char *prefix, size_t i)
{
    snprintf(buf, H_KEY_SIZE, "%s%06zu", prefix, i);
}

void h_value(char *buf, const char *prefix, size_t i)
{
    snprintf(buf, H_VALUE_SIZE, "value-%s%06zu-%0*zu", prefix, i, 40, i * 7919);
}

typedef struct {
    char key[H_KEY_SIZE];
    char value[H_VALUE_SIZE];
    size_t i;
    struct bulk_s *bulk;
} slot_t;

typedef struct bulk_s {
    const char *prefix;
    bool write;
    size_t done;
    size_t good; /* writes OK; reads present with the right value */
    int first_bad_rc;
    size_t first_bad_i;
    slot_t *slots;
    size_t *free_slots;
    size_t free_count;
} bulk_t;

static void s_bulk_done(void *arg, int rc, const Zkv__Response *reply)
{
    slot_t *slot = arg;
    bulk_t *bulk = slot->bulk;
    int status = rc < 0 ? rc : (int) reply->status;
    bool good = status == ZKV__STATUS__OK;
    if (good && !bulk->write) {
        char expected[H_VALUE_SIZE];
        h_value(expected, bulk->prefix, slot->i);
        good = reply->value.len == strlen(expected) &&
               memcmp(reply->value.data, expected, reply->value.len) == 0;
    }
    if (good)
        bulk->good++;
    else if (!bulk->first_bad_rc) {
        bulk->first_bad_rc = status ? status : -1000;
        bulk->first_bad_i = slot->i;
    }
    bulk->done++;
    bulk->free_slots[bulk->free_count++] = (size_t) (slot - bulk->slots);
}

/*  count operations on keys first.., window in flight; every one completes
    (the client's deadline bounds each). */
static void s_bulk(zkv_client_t *client, bulk_t *bulk, size_t first, size_t count,
                   const char *endpoint, size_t window)
{
    bulk->slots = calloc(window, sizeof *bulk->slots);
    bulk->free_slots = calloc(window, sizeof *bulk->free_slots);
    CHECK(bulk->slots && bulk->free_slots, "out of memory");
    for (size_t k = 0; k < window; k++)
        bulk->free_slots[bulk->free_count++] = k;
    size_t next = 0;
    while (bulk->done < count) {
        while (next < count && bulk->free_count > 0) {
            slot_t *slot = &bulk->slots[bulk->free_slots[--bulk->free_count]];
            slot->bulk = bulk;
            slot->i = first + next;
            h_key(slot->key, bulk->prefix, slot->i);
            h_value(slot->value, bulk->prefix, slot->i);
            zkv_op_t op = {.type = bulk->write ? ZKV_OP_PUT : ZKV_OP_GET,
                           .key = s_bytes(slot->key),
                           .value = bulk->write ? s_bytes(slot->value) : (zkv_bytes_t){0},
                           .serializable = endpoint != NULL,
                           .endpoint = endpoint};
            int rc = zkv_client_submit(client, &op, s_bulk_done, slot);
            if (rc == ZKV_EBUSY) {
                bulk->free_slots[bulk->free_count++] = (size_t) (slot - bulk->slots);
                break;
            }
            CHECK(rc == 0, "submit: %s", zkv_client_strerror(rc));
            next++;
        }
        zkv_client_poll(client, 100);
    }
    free(bulk->slots);
    free(bulk->free_slots);
}

void h_put_many(zkv_client_t *client, const char *prefix, size_t first, size_t count, size_t window)
{
    bulk_t bulk = {.prefix = prefix, .write = true};
    s_bulk(client, &bulk, first, count, NULL, window);
    CHECK(bulk.good == count, "%zu of %zu puts of %s* failed; the first, key %zu: %s (%s)",
          count - bulk.good, count, prefix, bulk.first_bad_i,
          bulk.first_bad_rc < 0 ? zkv_client_strerror(bulk.first_bad_rc)
                                : zkv_client_status_name(bulk.first_bad_rc),
          zkv_client_error(client));
}

size_t h_count_many(zkv_client_t *client, const char *prefix, size_t first, size_t count,
                    const char *endpoint, size_t window)
{
    bulk_t bulk = {.prefix = prefix, .write = false};
    s_bulk(client, &bulk, first, count, endpoint, window);
    return bulk.good;
}

void h_expect_many(zkv_client_t *client, const char *prefix, size_t first, size_t count,
                   const char *endpoint, int64_t timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    size_t good;
    while ((good = h_count_many(client, prefix, first, count, endpoint, 256)) < count &&
           h_now_ms() < deadline) {
        struct timespec pause = {0, RETRY_PAUSE_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    CHECK(good == count, "only %zu of %zu keys %s* read back %s within %lld ms", good, count,
          prefix, endpoint ? endpoint : "linearizably", (long long) timeout_ms);
}

/* ---------------------------------------------------------------- trace */

zframe_t *h_peer_frame(const Zkv__PeerMessage *pm)
{
    zframe_t *frame = zframe_new(NULL, zkv__peer_message__get_packed_size(pm));
    CHECK(frame, "out of memory");
    zkv__peer_message__pack(pm, zframe_data(frame));
    return frame;
}

void h_secure(const zkv_cluster_t *cluster, zsock_t *sock)
{
    zkv_curve_t curve = zkv_cluster_curve(cluster);
    if (!curve.cert)
        return;
    zkv_cert_t mine;
    char key[ZKV_CERT_KEY_LEN + 1], err[512];
    CHECK(zkv_cert_load(&mine, curve.cert, true, err, sizeof err) == 0, "%s", err);
    CHECK(zkv_cert_server_key(key, curve.server_key, err, sizeof err) == 0, "%s", err);
    zkv_cert_apply_client(zsock_resolve(sock), &mine, key);
}

struct h_trace_t {
    zsock_t *sub;
};

h_trace_t *h_trace_open(zkv_cluster_t *cluster, uint32_t id, const char *topic)
{
    h_trace_t *self = calloc(1, sizeof *self);
    CHECK(self, "out of memory");
    self->sub = zsock_new(ZMQ_SUB);
    CHECK(self->sub, "trace socket");
    zsock_set_rcvhwm(self->sub, 0);
    zsock_set_reconnect_ivl(self->sub, 10);
    zsock_set_subscribe(self->sub, topic);
    h_secure(cluster, self->sub);
    h_trace_add(self, cluster, id);
    return self;
}

void h_trace_add(h_trace_t *self, zkv_cluster_t *cluster, uint32_t id)
{
    CHECK(zsock_connect(self->sub, "%s", zkv_cluster_trace_endpoint(cluster, id)) == 0,
          "connect to node %u's trace", id);
}

void h_trace_close(h_trace_t **self_p)
{
    h_trace_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy(&self->sub);
    free(self);
    *self_p = NULL;
}

static bool s_event_matches(const Zkv__TraceEvent *e, const char *kind, const char *text,
                            uint32_t peer)
{
    return e->kind && (!kind || streq(e->kind, kind)) &&
           (!text || (e->detail && strstr(e->detail, text))) && (!peer || e->peer == peer);
}

bool h_trace_wait(h_trace_t *self, const char *kind, const char *text, uint32_t peer,
                  int64_t timeout_ms, h_event_t *event)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    zpoller_t *poller = zpoller_new(self->sub, NULL);
    bool found = false;
    while (!found && h_now_ms() < deadline) {
        if (!zpoller_wait(poller, (int) (deadline - h_now_ms())))
            continue;
        zmsg_t *msg = zmsg_recv(self->sub);
        zframe_t *body = msg && zmsg_size(msg) == 2 ? zmsg_last(msg) : NULL;
        Zkv__TraceEvent *e =
            body ? zkv__trace_event__unpack(NULL, zframe_size(body), zframe_data(body)) : NULL;
        if (e && s_event_matches(e, kind, text, peer)) {
            found = true;
            if (event) {
                event->node = e->node;
                snprintf(event->kind, sizeof event->kind, "%s", e->kind);
                snprintf(event->detail, sizeof event->detail, "%s", e->detail ? e->detail : "");
                event->term = e->term;
                event->index = e->index;
                event->peer = e->peer;
            }
        }
        if (e)
            zkv__trace_event__free_unpacked(e, NULL);
        zmsg_destroy(&msg);
    }
    zpoller_destroy(&poller);
    return found;
}

double h_metric(zkv_cluster_t *cluster, uint32_t id, const char *name)
{
    char *body = NULL;
    double value = -1;
    if (http_get(zkv_cluster_ports(cluster, id).metrics, "/metrics", 5000, &body) == 200) {
        size_t len = strlen(name);
        for (const char *line = body; line && *line; line = strchr(line, '\n')) {
            line += *line == '\n';
            if (strncmp(line, name, len) == 0 && line[len] == ' ') {
                value = strtod(line + len + 1, NULL);
                break;
            }
        }
    }
    free(body);
    return value;
}
