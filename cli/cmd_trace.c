/*  cmd_trace: follow the trace PUB sockets of one or more nodes and print one
    line per event. Every message is two frames, the topic "<kind> <node id>"
    and a TraceEvent; --kind becomes SUB prefix subscriptions, --node is
    filtered here. Runs until Ctrl-C, --count events or --duration. */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"

/*  Kinds one --kind may list. */
#define S_KINDS_MAX 16
#define S_KIND_SIZE_MAX 32
/*  Events queued in the SUB socket before libzmq drops: a burst of appends
    should not be lost to a slow terminal. */
#define S_RCVHWM 100000
#define S_POLL_MS 100

typedef struct {
    const zkv_globals_t *g;
    uint64_t node;
    bool node_set;
    uint64_t count_max; /* 0: no limit */
    uint64_t printed;
    uint64_t malformed;
} s_trace_t;

/*  Subscribe to each kind of a comma-separated list ("role,vote"), or to
    everything. 0, or -1 after an error. */
static int s_subscribe(zsock_t *sub, const char *kinds)
{
    if (!kinds) {
        zsock_set_subscribe(sub, "");
        return 0;
    }
    size_t count = 0;
    for (const char *p = kinds;; p++) {
        size_t length = strcspn(p, ",");
        char topic[S_KIND_SIZE_MAX + 2];
        bool bad = length == 0 || length > S_KIND_SIZE_MAX || memchr(p, ' ', length);
        if (bad || ++count > S_KINDS_MAX) {
            zkv_output_error("--kind wants up to %d comma-separated kinds such as role,vote",
                             S_KINDS_MAX);
            return -1;
        }
        /* The space keeps "role" from also matching a kind "roles". */
        snprintf(topic, sizeof topic, "%.*s ", (int) length, p);
        zsock_set_subscribe(sub, topic);
        p += length;
        if (!*p)
            return 0;
    }
}

static void s_time(uint64_t time_ns, char *out, size_t size)
{
    time_t sec = (time_t) (time_ns / 1000000000u);
    struct tm tm;
    char stamp[32] = "?";
    if (localtime_r(&sec, &tm))
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out, size, "%s.%03u", stamp, (unsigned) (time_ns / 1000000u % 1000u));
}

static int s_print_json(const Zkv__TraceEvent *e, const char *when)
{
    json_t *o = json_object();
    if (!o)
        return -1;
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "time_ns", zkv_output_json_u64(e->time_ns));
    json_object_set_new(o, "node", json_integer(e->node));
    zkv_output_json_bytes(o, "kind", (const uint8_t *) e->kind, strlen(e->kind));
    json_object_set_new(o, "term", zkv_output_json_u64(e->term));
    json_object_set_new(o, "index", zkv_output_json_u64(e->index));
    if (e->peer)
        json_object_set_new(o, "peer", json_integer(e->peer));
    if (e->latency_us)
        json_object_set_new(o, "latency_us", zkv_output_json_u64(e->latency_us));
    zkv_output_json_bytes(o, "detail", (const uint8_t *) e->detail, strlen(e->detail));
    return zkv_output_json(o);
}

static int s_print_line(const Zkv__TraceEvent *e, const char *when)
{
    char *kind = zkv_output_escape((const uint8_t *) e->kind, strlen(e->kind), S_KIND_SIZE_MAX);
    char *detail = zkv_output_escape((const uint8_t *) e->detail, strlen(e->detail), 0);
    char extra[64] = "";
    int n = 0;
    if (e->peer)
        n = snprintf(extra, sizeof extra, " peer=%u", e->peer);
    if (e->latency_us && n >= 0 && (size_t) n < sizeof extra)
        snprintf(extra + n, sizeof extra - (size_t) n, " latency=%.3fms",
                 (double) e->latency_us / 1000.0);
    if (kind && detail)
        printf("%s node=%u %-8s term=%llu index=%llu%s %s\n", when, e->node, kind,
               (unsigned long long) e->term, (unsigned long long) e->index, extra, detail);
    int rc = kind && detail ? 0 : -1;
    free(kind);
    free(detail);
    return rc;
}

/*  Decode and print one event; malformed ones are counted, not printed. 0, or
    -1 when printing failed. */
static int s_event(s_trace_t *t, const zmq_msg_t *body)
{
    Zkv__TraceEvent *e =
        zkv__trace_event__unpack(NULL, zmq_msg_size(body), zmq_msg_data((zmq_msg_t *) body));
    if (!e) {
        t->malformed++;
        return 0;
    }
    int rc = 0;
    if (!t->node_set || e->node == t->node) {
        char when[48];
        s_time(e->time_ns, when, sizeof when);
        rc = t->g->format == ZKV_FORMAT_JSON ? s_print_json(e, when) : s_print_line(e, when);
        t->printed++;
        fflush(stdout);
    }
    zkv__trace_event__free_unpacked(e, NULL);
    return rc;
}

/*  Take every message waiting on the socket. 0, or -1 when printing failed. */
static int s_drain(s_trace_t *t, void *handle)
{
    while (!t->count_max || t->printed < t->count_max) {
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        int rc = 0;
        if (zmq_msg_recv(&topic, handle, ZMQ_DONTWAIT) < 0)
            rc = 1;
        else if (!zmq_msg_more(&topic) || zmq_msg_recv(&body, handle, 0) < 0)
            t->malformed++;
        else if (zmq_msg_more(&body)) {
            t->malformed++;
            while (zmq_msg_more(&body) && zmq_msg_recv(&body, handle, 0) >= 0) {
            }
        } else
            rc = s_event(t, &body);
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
        if (rc)
            return rc < 0 ? -1 : 0;
    }
    return 0;
}

static int s_follow(s_trace_t *t, zsock_t *sub, int64_t duration_ms)
{
    int64_t end = duration_ms ? zclock_mono() + duration_ms : INT64_MAX;
    void *handle = zsock_resolve(sub);
    while (!zsys_interrupted && (!t->count_max || t->printed < t->count_max)) {
        int64_t now = zclock_mono();
        if (now >= end)
            break;
        zmq_pollitem_t item = {handle, 0, ZMQ_POLLIN, 0};
        long wait = end - now < S_POLL_MS ? (long) (end - now) : S_POLL_MS;
        if (zmq_poll(&item, 1, wait) > 0 && s_drain(t, handle)) {
            zkv_output_error("cannot print the event (out of memory or stdout closed)");
            return ZKV_EXIT_ERROR;
        }
    }
    return ZKV_EXIT_OK;
}

static zsock_t *s_connect(const char *list)
{
    char names[ZKV_CLIENT_ENDPOINTS_MAX][ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    char err[256];
    int count = zkv_client_endpoints_parse(list, names, ZKV_CLIENT_ENDPOINTS_MAX, err, sizeof err);
    if (count < 0) {
        zkv_output_error("trace endpoints: %s", err);
        return NULL;
    }
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub) {
        zkv_output_error("cannot make a SUB socket");
        return NULL;
    }
    zsock_set_rcvhwm(sub, S_RCVHWM);
    zsock_set_linger(sub, 0);
    for (int i = 0; i < count; i++)
        if (zsock_connect(sub, "%s", names[i]) != 0) {
            zkv_output_error("cannot connect to %s: %s", names[i], zmq_strerror(zmq_errno()));
            zsock_destroy(&sub);
            return NULL;
        }
    return sub;
}

static int s_trace(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const char *endpoints = NULL, *kinds = NULL;
    int64_t duration_ms = 0;
    s_trace_t t = {.g = g};
    const zkv_flag_t flags[] = {
        {"trace-endpoints", 0, ZKV_FLAG_STRING, &endpoints, "LIST",
         "trace endpoints (env ZKV_TRACE_ENDPOINTS; default the local cluster's)"},
        {"kind", 0, ZKV_FLAG_STRING, &kinds, "K1,K2", "only these kinds of event"},
        {"node", 0, ZKV_FLAG_U64, &t.node, "N", "only events of node N", 1, UINT32_MAX,
         &t.node_set},
        {"count", 0, ZKV_FLAG_U64, &t.count_max, "N", "stop after N events", 1, 0},
        {"duration", 0, ZKV_FLAG_DURATION, &duration_ms, "DURATION", "stop after this long"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 0, &args, &code))
        return code;
    if (!endpoints)
        endpoints = getenv("ZKV_TRACE_ENDPOINTS");
    if (!endpoints || !*endpoints)
        endpoints = ZKV_DEFAULT_TRACE_ENDPOINTS;
    zsock_t *sub = s_connect(endpoints);
    if (!sub)
        return ZKV_EXIT_USAGE;
    code = s_subscribe(sub, kinds) ? ZKV_EXIT_USAGE : s_follow(&t, sub, duration_ms);
    zsock_destroy(&sub);
    return code;
}

const zkv_command_t zkv_cmd_trace = {
    "trace",
    "trace [--trace-endpoints LIST] [--kind K1,K2] [--node N] [--count N]",
    "Follow the nodes' trace events",
    "Subscribes to the trace PUB socket of every listed node and prints one line\n"
    "per event: local time to the millisecond, node, kind, term, index, the peer\n"
    "and the latency when set, and the detail (key=value pairs). -w json prints\n"
    "one JSON object per line. Runs until Ctrl-C, --count events or --duration.\n"
    "Kinds include role, vote, append, ack, persist, commit, apply, snapshot,\n"
    "client and socket. PUB/SUB cannot tell a silent node from an absent one: with no node\n"
    "running, trace just waits. Malformed messages are skipped.\n\n"
    "Examples:\n  zkv trace\n  zkv trace --kind role,vote --node 2\n"
    "  zkv trace --count 100 -w json --trace-endpoints 127.0.0.1:7401\n",
    s_trace,
};
