/*  cmd_bench: a load generator in one thread. N clients (each its own DEALER
    sockets, client id and write window) keep up to --inflight requests in
    flight between them, multiplexed by one zmq_poll; each request's latency,
    retries included, goes into a log-linear histogram from CLOCK_MONOTONIC.
    Request records and key buffers are allocated once, up front.

    Its keys live under --prefix (bench/), deleted with one range delete at the
    end. A run stops early when the cluster does not answer: at the first
    request that timed out with no node ever answering its connection, or once
    no request has succeeded for a whole --timeout. */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "histogram.h"

#define S_CONNS_MAX 1024
#define S_INFLIGHT_MAX (S_CONNS_MAX * ZKV_CLIENT_WINDOW)
#define S_PROGRESS_MS 250
#define S_PROGRESS_WIDTH 30

typedef struct s_bench_t s_bench_t;

/*  One request in flight: its start time and the key it carries. */
typedef struct {
    s_bench_t *bench;
    int64_t start_ns;
    uint8_t *key;
    uint32_t conn;
    uint32_t next_free;
} s_req_t;

typedef struct {
    uint64_t conns;
    uint64_t inflight;
    uint64_t key_size;
    uint64_t value_size;
    uint64_t key_space;
    bool sequential;
    double read_ratio;
    bool serializable;
    uint64_t count;      /* requests to complete; 0 in duration mode */
    int64_t duration_ms; /* 0 in count mode */
    const char *prefix;  /* before every key */
    bool keep_keys;      /* leave the keys under prefix at the end */
} s_params_t;

struct s_bench_t {
    const zkv_globals_t *g;
    s_params_t p;
    zkv_client_t **clients;
    size_t *quota; /* requests in flight allowed per client */
    zmq_pollitem_t *items;
    size_t *item_end; /* each client's items end here */
    s_req_t *reqs;
    uint32_t free_head;
    uint8_t *keys;
    uint8_t *value;
    zkv_histogram_t *latency; /* nanoseconds */
    uint64_t submitted;
    uint64_t succeeded;
    uint64_t failed;
    uint64_t canceled;
    uint64_t next_key;
    uint64_t puts; /* submitted */
    uint64_t rng;
    int64_t start_ns;
    int64_t last_ns; /* last completion */
    int64_t last_ok_ns;
    bool stopping;
    bool give_up;      /* the cluster does not answer: cancel what is in flight */
    int64_t deleted;   /* keys deleted at the end; -1: none deleted */
    char stopped[128]; /* why the run stopped early, if it did */
    char first_error[512];
    int first_error_code;
};

static int64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t s_random(s_bench_t *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * UINT64_C(2685821657736338717);
}

/* ---------------------------------------------------------------- requests */

static void s_note_error(s_bench_t *b, int code, const char *text)
{
    b->failed++;
    if (!b->first_error[0]) {
        snprintf(b->first_error, sizeof b->first_error, "%s", text);
        b->first_error_code = code;
    }
}

/*  A request found no answer in time, or no node let us in (rc). With no node
    ever answering, or none of the requests answered for a whole --timeout, the
    run ends: waiting out every other request's deadline would tell nothing more. */
static void s_timed_out(s_bench_t *b, zkv_client_t *client, int rc, int64_t now)
{
    char text[sizeof b->first_error];
    bool heard = zkv_client_heard(client);
    bool hint = !heard && rc == ZKV_CLIENT_ETIMEDOUT;
    snprintf(text, sizeof text, "%s%s%s", zkv_client_error(client), hint ? "; " : "",
             hint ? ZKV_HINT_NO_CLUSTER : "");
    s_note_error(b, zkv_command_exit_code(rc), text);
    if (b->give_up)
        return;
    if (!heard)
        snprintf(b->stopped, sizeof b->stopped, "no node answered");
    else if (now - b->last_ok_ns >= b->g->timeout_ms * 1000000)
        snprintf(b->stopped, sizeof b->stopped, "no request succeeded for %lld ms",
                 (long long) b->g->timeout_ms);
    b->give_up = b->stopped[0] != 0;
}

static void s_done(void *arg, int rc, const Zkv__Response *reply)
{
    s_req_t *req = arg;
    s_bench_t *b = req->bench;
    int64_t now = s_now_ns();
    uint32_t index = (uint32_t) (req - b->reqs);
    req->next_free = b->free_head;
    b->free_head = index;
    if (rc == ZKV_CLIENT_ECANCELED) {
        b->canceled++;
        return;
    }
    b->last_ns = now;
    if (rc == 0 && (reply->status == ZKV__STATUS__OK || reply->status == ZKV__STATUS__NOT_FOUND)) {
        b->succeeded++;
        b->last_ok_ns = now;
        zkv_histogram_record(b->latency, (uint64_t) (now - req->start_ns));
    } else if (rc == ZKV_CLIENT_ETIMEDOUT || rc == ZKV_CLIENT_EHANDSHAKE) {
        s_timed_out(b, b->clients[req->conn], rc, now);
    } else if (rc == 0) {
        char text[256];
        snprintf(text, sizeof text, "node answered %s: %.200s",
                 zkv_client_status_name((int) reply->status), reply->error ? reply->error : "");
        s_note_error(b, ZKV_EXIT_ERROR, text);
    } else {
        s_note_error(b, ZKV_EXIT_ERROR, zkv_client_error(b->clients[req->conn]));
    }
}

static void s_fill_key(s_bench_t *b, uint8_t *key)
{
    uint64_t n = b->p.sequential ? b->next_key++ % b->p.key_space : s_random(b) % b->p.key_space;
    char digits[32];
    int length = snprintf(digits, sizeof digits, "%llu", (unsigned long long) n);
    size_t prefix = strlen(b->p.prefix);
    size_t pad = b->p.key_size - prefix - (size_t) length;
    memcpy(key, b->p.prefix, prefix);
    memset(key + prefix, '0', pad);
    memcpy(key + prefix + pad, digits, (size_t) length);
}

/*  Start one request on client c. 0, or an error from zkv_client_submit. */
static int s_submit(s_bench_t *b, size_t c)
{
    s_req_t *req = &b->reqs[b->free_head];
    s_fill_key(b, req->key);
    bool read = b->p.read_ratio > 0 &&
                (double) (s_random(b) >> 11) / (double) (UINT64_C(1) << 53) < b->p.read_ratio;
    zkv_op_t op = {.type = read ? ZKV_OP_GET : ZKV_OP_PUT,
                   .key = {req->key, b->p.key_size},
                   .value = {b->value, read ? 0 : b->p.value_size},
                   .serializable = b->p.serializable};
    req->start_ns = s_now_ns();
    req->conn = (uint32_t) c;
    int rc = zkv_client_submit(b->clients[c], &op, s_done, req);
    if (rc == 0) {
        b->free_head = req->next_free;
        b->submitted++;
        b->puts += !read;
    }
    return rc;
}

/*  Top up every client to its share of the requests in flight. 0, or -1 after
    an error that ends the run. */
static int s_fill(s_bench_t *b)
{
    for (size_t c = 0; c < b->p.conns; c++) {
        while (zkv_client_inflight(b->clients[c]) < b->quota[c]) {
            if ((b->p.count && b->submitted >= b->p.count) || b->free_head >= b->p.inflight)
                return 0;
            int rc = s_submit(b, c);
            if (rc == ZKV_EBUSY)
                break;
            if (rc) {
                zkv_output_error("%s", zkv_client_error(b->clients[c]));
                return -1;
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- loop */

static size_t s_inflight(const s_bench_t *b)
{
    size_t n = 0;
    for (size_t c = 0; c < b->p.conns; c++)
        n += zkv_client_inflight(b->clients[c]);
    return n;
}

static long s_wait_ms(s_bench_t *b, size_t *items)
{
    int64_t wait = S_PROGRESS_MS;
    *items = 0;
    for (size_t c = 0; c < b->p.conns; c++) {
        *items += zkv_client_pollitems(b->clients[c], b->items + *items, ZKV_CLIENT_POLLITEMS_MAX);
        b->item_end[c] = *items;
        int64_t w = zkv_client_wait_ms(b->clients[c]);
        if (w >= 0 && w < wait)
            wait = w;
    }
    return (long) wait;
}

/*  Dispatch the clients with a readable socket or a timer due. */
static void s_dispatch(s_bench_t *b)
{
    size_t begin = 0;
    for (size_t c = 0; c < b->p.conns; c++) {
        bool ready = zkv_client_wait_ms(b->clients[c]) == 0;
        for (size_t i = begin; i < b->item_end[c] && !ready; i++)
            ready = b->items[i].revents & ZMQ_POLLIN;
        begin = b->item_end[c];
        if (ready)
            zkv_client_dispatch(b->clients[c]);
    }
}

static void s_progress(const s_bench_t *b, int64_t now, bool done)
{
    double fraction = b->p.count ? (double) (b->succeeded + b->failed) / (double) b->p.count
                                 : (double) (now - b->start_ns) / 1e6 / (double) b->p.duration_ms;
    if (fraction > 1)
        fraction = 1;
    if (done) {
        fputs("\r\033[K", stderr);
        return;
    }
    int filled = (int) (fraction * S_PROGRESS_WIDTH);
    double seconds = (double) (now - b->start_ns) / 1e9;
    fprintf(stderr, "\r[%.*s%*s] %3d%% %llu ok %llu errors %.0f ops/s", filled,
            "##############################", S_PROGRESS_WIDTH - filled, "", (int) (fraction * 100),
            (unsigned long long) b->succeeded, (unsigned long long) b->failed,
            seconds > 0 ? (double) b->succeeded / seconds : 0.0);
}

static int s_loop(s_bench_t *b)
{
    bool tty = isatty(STDERR_FILENO);
    int64_t next_progress = 0;
    int64_t end_ns = b->p.duration_ms ? b->start_ns + b->p.duration_ms * 1000000 : INT64_MAX;
    for (;;) {
        if (!b->stopping && s_fill(b))
            return -1;
        bool all_sent = b->p.count && b->submitted >= b->p.count;
        if (s_inflight(b) == 0 && (b->stopping || all_sent))
            break;
        size_t items;
        long wait = s_wait_ms(b, &items);
        zmq_poll(b->items, (int) items, wait);
        s_dispatch(b);
        int64_t now = s_now_ns();
        if ((zsys_interrupted || b->give_up) && !b->stopping) {
            b->stopping = true;
            for (size_t c = 0; c < b->p.conns; c++)
                zkv_client_cancel(b->clients[c]);
        }
        if (now >= end_ns)
            b->stopping = true;
        if (tty && now >= next_progress) {
            s_progress(b, now, false);
            next_progress = now + S_PROGRESS_MS * 1000000;
        }
    }
    if (tty)
        s_progress(b, s_now_ns(), true);
    return 0;
}

/* ---------------------------------------------------------------- results */

static double s_ms(uint64_t ns)
{
    return (double) ns / 1e6;
}

static const double s_percentiles[] = {50, 90, 99, 99.9};
static const char *const s_percentile_names[] = {"p50", "p90", "p99", "p99.9"};
#define S_PERCENTILES 4

static void s_totals(const s_bench_t *b, zkv_client_stats_t *total)
{
    memset(total, 0, sizeof *total);
    for (size_t c = 0; c < b->p.conns; c++) {
        zkv_client_stats_t s;
        zkv_client_stats(b->clients[c], &s);
        total->retries += s.retries;
        total->redirects += s.redirects;
    }
}

static json_t *s_json(const s_bench_t *b, double seconds)
{
    zkv_client_stats_t stats;
    s_totals(b, &stats);
    json_t *latency = json_object();
    for (int i = 0; latency && i < S_PERCENTILES; i++)
        json_object_set_new(
            latency, s_percentile_names[i],
            json_real(s_ms(zkv_histogram_percentile(b->latency, s_percentiles[i]))));
    if (latency) {
        json_object_set_new(latency, "max", json_real(s_ms(zkv_histogram_max(b->latency))));
        json_object_set_new(latency, "mean", json_real(zkv_histogram_mean(b->latency) / 1e6));
    }
    return json_pack("{s:I, s:I, s:I, s:f, s:f, s:o, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, "
                     "s:f, s:s, s:b}}",
                     "requests", (json_int_t) (b->succeeded + b->failed), "errors",
                     (json_int_t) b->failed, "canceled", (json_int_t) b->canceled, "duration_s",
                     seconds, "throughput_ops", seconds > 0 ? (double) b->succeeded / seconds : 0.0,
                     "latency_ms", latency, "retries", (json_int_t) stats.retries, "redirects",
                     (json_int_t) stats.redirects, "config", "conns", (json_int_t) b->p.conns,
                     "inflight", (json_int_t) b->p.inflight, "key_size", (json_int_t) b->p.key_size,
                     "value_size", (json_int_t) b->p.value_size, "key_space",
                     (json_int_t) b->p.key_space, "read_ratio", b->p.read_ratio, "consistency",
                     b->p.serializable ? "s" : "l", "sequential_keys", b->p.sequential);
}

static void s_keys_note(const s_bench_t *b, char *out, size_t size);

static int s_report_text(const s_bench_t *b, double seconds)
{
    const char *headers[] = {"METRIC", "VALUE"};
    zkv_table_t *table = zkv_table_new(2, headers);
    char v[8][64];
    snprintf(v[0], 64, "%llu", (unsigned long long) (b->succeeded + b->failed));
    snprintf(v[1], 64, "%llu", (unsigned long long) b->failed);
    snprintf(v[2], 64, "%.3f s", seconds);
    snprintf(v[3], 64, "%.1f ops/s", seconds > 0 ? (double) b->succeeded / seconds : 0.0);
    const char *names[] = {"requests", "errors", "duration", "throughput"};
    for (int i = 0; table && i < 4; i++) {
        const char *row[] = {names[i], v[i]};
        if (zkv_table_add(table, row))
            zkv_table_destroy(&table);
    }
    for (int i = 0; table && i <= S_PERCENTILES; i++) {
        uint64_t ns = i < S_PERCENTILES ? zkv_histogram_percentile(b->latency, s_percentiles[i])
                                        : zkv_histogram_max(b->latency);
        char name[32];
        snprintf(name, sizeof name, "latency %s",
                 i < S_PERCENTILES ? s_percentile_names[i] : "max");
        snprintf(v[4], 64, "%.3f ms", s_ms(ns));
        const char *row[] = {name, v[4]};
        if (zkv_table_add(table, row))
            zkv_table_destroy(&table);
    }
    if (!table) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    zkv_table_print(table, stdout, b->g->format == ZKV_FORMAT_TABLE);
    zkv_table_destroy(&table);
    char keys[256];
    s_keys_note(b, keys, sizeof keys);
    if (keys[0])
        printf("keys: %s\n", keys);
    if (b->stopped[0])
        printf("stopped early: %s\n", b->stopped);
    if (b->failed)
        printf("first error: %s\n", b->first_error);
    return ZKV_EXIT_OK;
}

static int s_report(const s_bench_t *b)
{
    double seconds = b->last_ns > b->start_ns ? (double) (b->last_ns - b->start_ns) / 1e9 : 0;
    int code;
    if (b->g->format == ZKV_FORMAT_JSON) {
        json_t *doc = s_json(b, seconds);
        if (doc) {
            json_object_set_new(doc, "prefix", json_string(b->p.prefix));
            json_object_set_new(doc, "deleted",
                                b->deleted >= 0 ? json_integer(b->deleted) : json_null());
            json_object_set_new(doc, "stopped",
                                b->stopped[0] ? json_string(b->stopped) : json_null());
        }
        code = zkv_output_json(doc) ? ZKV_EXIT_ERROR : ZKV_EXIT_OK;
        if (code)
            zkv_output_error("cannot print JSON (out of memory or stdout closed)");
    } else {
        code = s_report_text(b, seconds);
    }
    if (code == ZKV_EXIT_OK && b->succeeded == 0 && b->failed > 0) {
        zkv_output_error("every request failed; first: %s", b->first_error);
        code = b->first_error_code;
    }
    return code;
}

/* ---------------------------------------------------------------- setup */

static int s_check(const s_params_t *p)
{
    char digits[32];
    int needed = snprintf(digits, sizeof digits, "%llu", (unsigned long long) (p->key_space - 1));
    size_t prefix = strlen(p->prefix);
    if (p->key_size < prefix + (uint64_t) needed) {
        zkv_output_error("--key-size %llu is too small for --prefix '%.64s' and --key-space %llu "
                         "(keys are %zu + %d bytes)",
                         (unsigned long long) p->key_size, p->prefix,
                         (unsigned long long) p->key_space, prefix, needed);
        return -1;
    }
    if (p->inflight < p->conns) {
        zkv_output_error("--inflight (%llu) must be at least --conns (%llu)",
                         (unsigned long long) p->inflight, (unsigned long long) p->conns);
        return -1;
    }
    if ((p->inflight + p->conns - 1) / p->conns > ZKV_CLIENT_WINDOW) {
        zkv_output_error("at most %d requests in flight per connection; raise --conns",
                         ZKV_CLIENT_WINDOW);
        return -1;
    }
    return 0;
}

static int s_alloc(s_bench_t *b)
{
    size_t n = b->p.inflight;
    b->clients = calloc(b->p.conns, sizeof *b->clients);
    b->quota = calloc(b->p.conns, sizeof *b->quota);
    b->item_end = calloc(b->p.conns, sizeof *b->item_end);
    b->items = calloc(b->p.conns * ZKV_CLIENT_POLLITEMS_MAX, sizeof *b->items);
    b->reqs = calloc(n, sizeof *b->reqs);
    b->keys = malloc(n * b->p.key_size);
    b->value = malloc(b->p.value_size ? b->p.value_size : 1);
    b->latency = zkv_histogram_new();
    if (!b->clients || !b->quota || !b->item_end || !b->items || !b->reqs || !b->keys ||
        !b->value || !b->latency)
        return -1;
    for (size_t i = 0; i < n; i++) {
        b->reqs[i].bench = b;
        b->reqs[i].key = b->keys + i * b->p.key_size;
        b->reqs[i].next_free = (uint32_t) (i + 1);
    }
    for (size_t i = 0; i < b->p.value_size; i++)
        b->value[i] = (uint8_t) ('a' + s_random(b) % 26);
    return 0;
}

static int s_setup(s_bench_t *b)
{
    char names[ZKV_CLIENT_ENDPOINTS_MAX][ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    char err[256];
    int endpoints = zkv_client_endpoints_parse(b->g->endpoints, names, ZKV_CLIENT_ENDPOINTS_MAX,
                                               err, sizeof err);
    if (endpoints < 0) {
        zkv_output_error("%s", err);
        return ZKV_EXIT_USAGE;
    }
    b->rng = (uint64_t) s_now_ns() | 1;
    /* czmq allows 1024 sockets by default; a client has two per endpoint. */
    size_t sockets = b->p.conns * (size_t) endpoints * 2 + 64;
    if (sockets > 1024)
        zsys_set_max_sockets(sockets);
    if (s_alloc(b)) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    for (size_t c = 0; c < b->p.conns; c++) {
        b->quota[c] = b->p.inflight / b->p.conns + (c < b->p.inflight % b->p.conns);
        b->clients[c] = zkv_command_client(b->g, c % (size_t) endpoints, b->quota[c]);
        if (!b->clients[c])
            return ZKV_EXIT_USAGE;
    }
    return ZKV_EXIT_OK;
}

static void s_teardown(s_bench_t *b)
{
    for (size_t c = 0; b->clients && c < b->p.conns; c++)
        zkv_client_destroy(&b->clients[c]);
    free(b->clients);
    free(b->quota);
    free(b->item_end);
    free(b->items);
    free(b->reqs);
    free(b->keys);
    free(b->value);
    zkv_histogram_destroy(&b->latency);
}

/*  Delete the keys under the prefix with one range delete, on the first
    connection (its session is open). */
static void s_cleanup(s_bench_t *b)
{
    b->deleted = -1;
    if (b->p.keep_keys || !b->puts || !b->p.prefix[0] || zsys_interrupted || b->give_up)
        return;
    uint8_t end[ZKV_KEY_SIZE_MAX];
    size_t end_size = 0;
    size_t prefix = strlen(b->p.prefix);
    if (!zkv_prefix_end((const uint8_t *) b->p.prefix, prefix, end, &end_size))
        end_size = 0;
    zkv_op_t op = {.type = ZKV_OP_DELETE,
                   .key = {(const uint8_t *) b->p.prefix, prefix},
                   .end = {end, end_size},
                   .range = true};
    const Zkv__Response *reply;
    if (zkv_client_call(b->clients[0], &op, &reply) == 0 &&
        (reply->status == ZKV__STATUS__OK || reply->status == ZKV__STATUS__NOT_FOUND))
        b->deleted = (int64_t) reply->deleted;
}

/*  What became of the keys written, for the report; "" when none were. */
static void s_keys_note(const s_bench_t *b, char *out, size_t size)
{
    out[0] = 0;
    if (b->deleted >= 0)
        snprintf(out, size, "deleted %lld keys under '%.64s'", (long long) b->deleted, b->p.prefix);
    else if (b->puts && b->succeeded && b->p.prefix[0])
        snprintf(out, size, "left under '%.64s' (zkv del --prefix '%.64s' deletes them)",
                 b->p.prefix, b->p.prefix);
    else if (b->puts && b->succeeded)
        snprintf(out, size, "left in place (no --prefix)");
}

static int s_run(s_bench_t *b)
{
    if (s_check(&b->p))
        return ZKV_EXIT_USAGE;
    int code = s_setup(b);
    if (code == ZKV_EXIT_OK) {
        b->start_ns = b->last_ns = b->last_ok_ns = s_now_ns();
        if (s_loop(b))
            code = ZKV_EXIT_ERROR;
        else {
            s_cleanup(b);
            code = s_report(b);
        }
    }
    s_teardown(b);
    return code;
}

static int s_bench(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const char *consistency = NULL;
    bool count_seen = false, duration_seen = false;
    s_bench_t b = {.g = g,
                   .p = {.conns = 1,
                         .inflight = 1,
                         .key_size = 16,
                         .value_size = 256,
                         .key_space = 100000,
                         .count = 10000,
                         .prefix = "bench/"}};
    const zkv_flag_t flags[] = {
        {"conns", 0, ZKV_FLAG_U64, &b.p.conns, "N", "client connections (default 1)", 1,
         S_CONNS_MAX},
        {"inflight", 0, ZKV_FLAG_U64, &b.p.inflight, "N",
         "requests in flight in total, spread over the connections (default 1)", 1, S_INFLIGHT_MAX},
        {"key-size", 0, ZKV_FLAG_U64, &b.p.key_size, "B", "bytes per key (default 16)", 1,
         ZKV_KEY_SIZE_MAX},
        {"value-size", 0, ZKV_FLAG_U64, &b.p.value_size, "B", "bytes per value (default 256)", 0,
         ZKV_VALUE_SIZE_MAX},
        {"key-space", 0, ZKV_FLAG_U64, &b.p.key_space, "N", "distinct keys (default 100000)", 1, 0},
        {"sequential-keys", 0, ZKV_FLAG_BOOL, &b.p.sequential, NULL,
         "keys 0, 1, 2, ... instead of random ones"},
        {"read-ratio", 0, ZKV_FLAG_RATIO, &b.p.read_ratio, "R",
         "fraction of requests that are gets, 0..1 (default 0: all puts)"},
        {"consistency", 0, ZKV_FLAG_STRING, &consistency, "l|s", "of the gets (default l)"},
        {"count", 0, ZKV_FLAG_U64, &b.p.count, "N", "requests to make (default 10000)", 1, 0,
         &count_seen},
        {"duration", 0, ZKV_FLAG_DURATION, &b.p.duration_ms, "DURATION",
         "run this long instead of --count", 0, 0, &duration_seen},
        {"prefix", 0, ZKV_FLAG_STRING, &b.p.prefix, "P",
         "every key begins with P (default bench/)"},
        {"keep-keys", 0, ZKV_FLAG_BOOL, &b.p.keep_keys, NULL,
         "leave the keys written; by default every key under --prefix is deleted at the end"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 0, &args, &code))
        return code;
    if (count_seen && duration_seen) {
        zkv_output_error("bench: give --count or --duration, not both");
        return ZKV_EXIT_USAGE;
    }
    if (duration_seen)
        b.p.count = 0;
    if (consistency && strcmp(consistency, "l") && strcmp(consistency, "s")) {
        zkv_output_error("--consistency wants l or s, not '%.32s'", consistency);
        return ZKV_EXIT_USAGE;
    }
    b.p.serializable = consistency && strcmp(consistency, "s") == 0;
    return s_run(&b);
}

const zkv_command_t zkv_cmd_bench = {
    "bench",
    "bench [--conns N] [--inflight N] [--count N | --duration D] [flags]",
    "Measure throughput and latency",
    "Runs puts (and gets, with --read-ratio) from one process over --conns client\n"
    "connections, each with its own client id, keeping --inflight requests in\n"
    "flight between them. Writes and linearizable reads follow the leader;\n"
    "serializable reads stay on the connection's own node (connections start\n"
    "on the endpoints in turn). Keys are --prefix (bench/) and a decimal number\n"
    "below --key-space, zero-padded to --key-size bytes in all; at the end one\n"
    "range delete removes every key under the prefix, unless --keep-keys. Latency\n"
    "is measured per request, retries included, into a histogram with about 1%\n"
    "precision; a progress bar is shown on stderr when it is a terminal. Prints\n"
    "requests, errors, duration, throughput (successful requests per second),\n"
    "latency p50/p90/p99/p99.9/max in ms and what became of the keys; -w json\n"
    "prints one object. Ctrl-C stops early and prints the results so far; so does\n"
    "a cluster that does not answer (no node ever answered, or no request\n"
    "succeeded for --timeout). Exits 0 unless every request failed.\n\n"
    "Examples:\n  zkv bench --conns 8 --inflight 64 --count 100000\n"
    "  zkv bench --read-ratio 0.9 --consistency s --duration 30s -w json\n",
    s_bench,
};
