/*  cmd_trace: follow the trace PUB sockets of one or more nodes and print one
    line per event. Every message is two frames, the topic "<kind> <node id>"
    and a TraceEvent; --kind becomes SUB prefix subscriptions, --node is
    filtered here. Runs until Ctrl-C, --count events or --duration.

    PUB/SUB says nothing of a missing publisher, so a monitor on the SUB
    watches the connections: once every endpoint is connected, or after
    --attempt-timeout, one line on stderr says which are and which do not
    answer (and why a handshake failed); later connections, losses and
    handshake failures get a line each. When every node has refused our
    handshake for good, trace ends: libzmq does not connect there again. */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert.h"
#include "commands.h"

/*  Kinds one --kind may list. */
#define S_KINDS_MAX 16
#define S_KIND_SIZE_MAX 32
/*  Events queued in the SUB socket before libzmq drops: a burst of appends
    should not be lost to a slow terminal. */
#define S_RCVHWM 100000
#define S_POLL_MS 100
#define S_LINK_ADDRESS "inproc://zkv-trace-link"
/*  A handshake failure in words: the endpoint and a sentence. */
#define S_WHY_SIZE (ZKV_CLIENT_ENDPOINT_SIZE_MAX + 128)
#define S_LINK_EVENTS                                                                              \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CLOSED |                   \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
/*  Handshakes dropped in a row before one is named: a node going down drops
    one, then refuses connections. */
#define S_DROPPED_HANDSHAKES_MIN 2

typedef struct {
    const zkv_globals_t *g;
    char names[ZKV_CLIENT_ENDPOINTS_MAX][ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    bool up[ZKV_CLIENT_ENDPOINTS_MAX];
    char why[ZKV_CLIENT_ENDPOINTS_MAX][S_WHY_SIZE]; /* the last handshake failure; "": none */
    bool refused[ZKV_CLIENT_ENDPOINTS_MAX];         /* for good */
    uint32_t dropped[ZKV_CLIENT_ENDPOINTS_MAX];     /* handshakes, in a row */
    size_t count;
    bool curve; /* the SUB speaks CURVE with these keys */
    zkv_cert_t cert;
    char server_key[ZKV_CERT_KEY_LEN + 1];
    zsock_t *monitor; /* PAIR: the SUB's connection events */
    bool said;        /* the first line on the connections is out */
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

/* ---------------------------------------------------------------- links */

/*  The endpoints that are (up) or are not connected, comma-separated. */
static void s_list(const s_trace_t *t, bool up, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < t->count && used < size; i++)
        if (t->up[i] == up) {
            int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", t->names[i]);
            used += n > 0 ? (size_t) n : 0;
        }
}

/*  The first handshake failure of an endpoint not connected, or NULL. */
static const char *s_why(const s_trace_t *t)
{
    for (size_t i = 0; i < t->count; i++)
        if (!t->up[i] && t->why[i][0])
            return t->why[i];
    return NULL;
}

/*  One line on stderr: which endpoints are connected, which do not answer. */
static void s_say_links(s_trace_t *t)
{
    char up[400], down[400], why[S_WHY_SIZE + 2] = "";
    s_list(t, true, up, sizeof up);
    s_list(t, false, down, sizeof down);
    if (s_why(t))
        snprintf(why, sizeof why, "%s; ", s_why(t));
    t->said = true;
    if (!up[0] && why[0])
        fprintf(stderr, "zkv: trace: nothing answers at %s; %swaiting\n", down, why);
    else if (!up[0])
        fprintf(stderr, "zkv: trace: nothing answers at %s; waiting (%s)\n", down,
                "is a cluster running? scripts/run.sh starts a local one; --trace-endpoints or "
                "ZKV_TRACE_ENDPOINTS names another");
    else if (down[0])
        fprintf(stderr,
                "zkv: trace: connected to %s; nothing answers at %s; %swaiting for events\n", up,
                down, why);
    else
        fprintf(stderr, "zkv: trace: connected to %s; waiting for events\n", up);
}

/*  What an event says of endpoint i; after the first line, each change gets one. */
static void s_link_event(s_trace_t *t, size_t i, uint16_t event, uint32_t value)
{
    bool up = event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
    if (up || event == ZMQ_EVENT_CLOSED) {
        t->why[i][0] = '\0';
        t->dropped[i] = 0;
    }
    if (up || event == ZMQ_EVENT_DISCONNECTED) {
        if (t->up[i] != up && t->said)
            fprintf(stderr, "zkv: trace: %s %s\n", up ? "connected to" : "lost", t->names[i]);
        t->up[i] = up;
    }
    bool dropped = event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if ((dropped && ++t->dropped[i] < S_DROPPED_HANDSHAKES_MIN) ||
        (!dropped && event != ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
         event != ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
        return;
    char why[sizeof t->why[0]];
    t->refused[i] =
        zkv_cert_handshake_failure(why, sizeof why, t->names[i], event, value, t->curve);
    if (strcmp(why, t->why[i]) != 0 && t->said)
        fprintf(stderr, "zkv: trace: %s\n", why);
    snprintf(t->why[i], sizeof t->why[i], "%s", why);
}

/*  Take the SUB's connection events. */
static void s_links(s_trace_t *t)
{
    void *handle = zsock_resolve(t->monitor);
    zmq_msg_t head, address;
    zmq_msg_init(&head);
    zmq_msg_init(&address);
    while (zmq_msg_recv(&head, handle, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&head) &&
           zmq_msg_recv(&address, handle, 0) >= 0) {
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&head) >= sizeof event + sizeof value) {
            memcpy(&event, zmq_msg_data(&head), sizeof event);
            memcpy(&value, (uint8_t *) zmq_msg_data(&head) + sizeof event, sizeof value);
        }
        for (size_t i = 0; i < t->count; i++)
            if (strlen(t->names[i]) == zmq_msg_size(&address) &&
                memcmp(t->names[i], zmq_msg_data(&address), zmq_msg_size(&address)) == 0)
                s_link_event(t, i, event, value);
    }
    zmq_msg_close(&head);
    zmq_msg_close(&address);
}

static bool s_all_refused(const s_trace_t *t)
{
    for (size_t i = 0; i < t->count; i++)
        if (!t->refused[i])
            return false;
    return true;
}

static bool s_all_up(const s_trace_t *t)
{
    for (size_t i = 0; i < t->count; i++)
        if (!t->up[i])
            return false;
    return true;
}

/* ---------------------------------------------------------------- follow */

static int s_follow(s_trace_t *t, zsock_t *sub, int64_t duration_ms)
{
    int64_t start = zclock_mono();
    int64_t end = duration_ms ? start + duration_ms : INT64_MAX;
    void *handle = zsock_resolve(sub);
    while (!zsys_interrupted && (!t->count_max || t->printed < t->count_max)) {
        int64_t now = zclock_mono();
        if (now >= end)
            break;
        if (!t->said && (s_all_up(t) || now - start >= t->g->attempt_timeout_ms))
            s_say_links(t);
        zmq_pollitem_t items[] = {{handle, 0, ZMQ_POLLIN, 0},
                                  {zsock_resolve(t->monitor), 0, ZMQ_POLLIN, 0}};
        long wait = end - now < S_POLL_MS ? (long) (end - now) : S_POLL_MS;
        if (zmq_poll(items, 2, wait) <= 0)
            continue;
        if (items[1].revents & ZMQ_POLLIN)
            s_links(t);
        if (s_all_refused(t)) {
            zkv_output_error("trace: %s", t->why[0]);
            return ZKV_EXIT_USAGE;
        }
        if ((items[0].revents & ZMQ_POLLIN) && s_drain(t, handle)) {
            zkv_output_error("cannot print the event (out of memory or stdout closed)");
            return ZKV_EXIT_ERROR;
        }
    }
    return ZKV_EXIT_OK;
}

/*  Close the SUB, its monitor stopped first: closing raises events, and libzmq's
    monitor blocks its thread sending one to a PAIR that is gone. */
static void s_close(zsock_t **sub_p)
{
    if (*sub_p)
        zmq_socket_monitor(zsock_resolve(*sub_p), NULL, 0);
    zsock_destroy(sub_p);
}

/*  The SUB, its monitor in t, connected to every endpoint; NULL after an error. */
static zsock_t *s_connect(s_trace_t *t, const char *list)
{
    char err[256];
    int count =
        zkv_client_endpoints_parse(list, t->names, ZKV_CLIENT_ENDPOINTS_MAX, err, sizeof err);
    if (count < 0) {
        zkv_output_error("trace endpoints: %s", err);
        return NULL;
    }
    t->count = (size_t) count;
    int keys = zkv_cert_client_keys(&t->cert, t->server_key, t->g->curve.cert,
                                    t->g->curve.server_key, err, sizeof err);
    if (keys < 0) {
        zkv_output_error("%s", err);
        return NULL;
    }
    t->curve = keys > 0;
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (t->curve && sub && zkv_cert_apply_client(zsock_resolve(sub), &t->cert, t->server_key))
        zsock_destroy(&sub);
    if (sub && zmq_socket_monitor(zsock_resolve(sub), S_LINK_ADDRESS, S_LINK_EVENTS) == 0) {
        t->monitor = zsock_new(ZMQ_PAIR);
        if (t->monitor) {
            zsock_set_rcvhwm(t->monitor, 0); /* a full monitor queue blocks libzmq */
            zsock_connect(t->monitor, "%s", S_LINK_ADDRESS);
        }
    }
    if (!sub || !t->monitor) {
        zkv_output_error("cannot make a SUB socket");
        s_close(&sub);
        return NULL;
    }
    zsock_set_rcvhwm(sub, S_RCVHWM);
    zsock_set_linger(sub, 0);
    for (int i = 0; i < count; i++)
        if (zsock_connect(sub, "%s", t->names[i]) != 0) {
            zkv_output_error("cannot connect to %s: %s", t->names[i], zmq_strerror(zmq_errno()));
            s_close(&sub);
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
    zsock_t *sub = s_connect(&t, endpoints);
    code = ZKV_EXIT_USAGE;
    if (sub && !s_subscribe(sub, kinds))
        code = s_follow(&t, sub, duration_ms);
    s_close(&sub);
    zsock_destroy(&t.monitor);
    explicit_bzero(&t.cert, sizeof t.cert);
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
    "client and socket. Once connected (or after --attempt-timeout) one line on\n"
    "stderr says which nodes are connected and which do not answer, and trace\n"
    "waits for events; it keeps trying the silent ones. Malformed messages are\n"
    "skipped.\n\n"
    "Examples:\n  zkv trace\n  zkv trace --kind role,vote --node 2\n"
    "  zkv trace --count 100 -w json --trace-endpoints 127.0.0.1:7401\n",
    s_trace,
};
