/*  trace: the trace actor (inproc PULL -> tcp XPUB, socket monitors) and the
    tracer handle other actors emit events through.

    Tracing costs nothing while nobody watches: the XPUB counts subscriptions,
    and the actor tells every tracer, on an inproc PUB, whether anyone is
    subscribed (on each change and every TRACE_STATE_MS, so a tracer created
    later learns it too). A tracer drops events unformatted while nobody is. */
#include "trace.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "security.h"
#include "actor.h"
#include "zkv.pb-c.h"

#define TRACE_QUEUE_MAX 10000 /* events queued per tracer before they are dropped */
#define TRACE_MONITORS_MAX 32
#define TRACE_DETAIL_MAX 512
#define MONITOR_COMMAND "$MONITOR"
/*  A subscriber only sends subscriptions (topic prefixes); libzmq drops a
    connection whose frame header claims more, instead of allocating it. */
#define TRACE_INPUT_SIZE_MAX 4096
#define TRACE_TOPIC_MAX 64      /* longer topics (no real one is) are not counted */
#define TRACE_STATE_MS 500      /* the actor repeats whether anyone watches */
#define TRACE_CHECK_NS 50000000 /* a tracer looks for that news at most this often */
#define TRACE_DRAIN_MAX 1024    /* events forwarded per wake-up */

static atomic_uint s_monitor_counter;

static void s_inproc_endpoint(char *buf, size_t size, uint32_t node_id)
{
    snprintf(buf, size, "inproc://zkv-trace-%u", node_id);
}

static void s_state_endpoint(char *buf, size_t size, uint32_t node_id)
{
    snprintf(buf, size, "inproc://zkv-trace-state-%u", node_id);
}

static uint64_t s_clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static uint64_t s_now_ns(void)
{
    return s_clock_ns(CLOCK_REALTIME);
}

/* ---------------------------------------------------------------- tracer */

struct zkv_tracer_t {
    zsock_t *push;
    zsock_t *state; /* SUB: "1" someone watches, "0" nobody */
    uint32_t node_id;
    bool watched;
    uint64_t checked_ns; /* monotonic time the state was last looked at */
};

zkv_tracer_t *zkv_tracer_new(uint32_t node_id)
{
    zkv_tracer_t *self = zmalloc(sizeof *self);
    char endpoint[64];
    s_inproc_endpoint(endpoint, sizeof endpoint, node_id);
    self->node_id = node_id;
    self->push = zsock_new(ZMQ_PUSH);
    assert(self->push);
    zsock_set_sndhwm(self->push, TRACE_QUEUE_MAX);
    zsock_set_linger(self->push, 0);
    int rc = zsock_connect(self->push, "%s", endpoint);
    assert(rc == 0);
    s_state_endpoint(endpoint, sizeof endpoint, node_id);
    self->state = zsock_new_sub(NULL, "");
    assert(self->state);
    rc = zsock_connect(self->state, "%s", endpoint);
    assert(rc == 0);
    return self;
}

/*  Whether anyone watches, as last told; looked up at most every TRACE_CHECK_NS. */
static bool s_watched(zkv_tracer_t *self)
{
    if (!self)
        return false; /* a handler run without a node (the simulation) traces nothing */
    uint64_t now = s_clock_ns(CLOCK_MONOTONIC);
    if (now - self->checked_ns < TRACE_CHECK_NS)
        return self->watched;
    self->checked_ns = now;
    while (zsock_events(self->state) & ZMQ_POLLIN) {
        char *news = zstr_recv(self->state);
        if (news)
            self->watched = streq(news, "1");
        zstr_free(&news);
    }
    return self->watched;
}

void zkv_tracer_destroy(zkv_tracer_t **self_p)
{
    assert(self_p);
    zkv_tracer_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy(&self->push);
    zsock_destroy(&self->state);
    free(self);
    *self_p = NULL;
}

/*  Two frames, topic and event, sent without ever blocking. */
static void s_publish(void *socket, uint32_t node_id, const Zkv__TraceEvent *event)
{
    char topic[64];
    int n = snprintf(topic, sizeof topic, "%s %u", event->kind, node_id);
    size_t size = zkv__trace_event__get_packed_size(event);
    uint8_t stack[1024];
    uint8_t *buf = size <= sizeof stack ? stack : malloc(size);
    if (!buf)
        return;
    zkv__trace_event__pack(event, buf);
    if (zmq_send(socket, topic, (size_t) n, ZMQ_SNDMORE | ZMQ_DONTWAIT) == n)
        zmq_send(socket, buf, size, ZMQ_DONTWAIT);
    if (buf != stack)
        free(buf);
}

void zkv_tracer_emit(zkv_tracer_t *self, const char *kind, uint64_t term, uint64_t index,
                     uint32_t peer, uint64_t latency_us, const char *fmt, ...)
{
    if (!s_watched(self))
        return;
    char detail[TRACE_DETAIL_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(detail, sizeof detail, fmt, args);
    va_end(args);
    Zkv__TraceEvent event = ZKV__TRACE_EVENT__INIT;
    event.node = self->node_id;
    event.time_ns = s_now_ns();
    event.kind = (char *) kind;
    event.detail = detail;
    event.term = term;
    event.index = index;
    event.peer = peer;
    event.latency_us = latency_us;
    s_publish(zsock_resolve(self->push), self->node_id, &event);
}

int zkv_tracer_monitor(zkv_tracer_t *self, zsock_t *socket, const char *name)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://zkv-monitor-%u-%u", self->node_id,
             atomic_fetch_add(&s_monitor_counter, 1));
    int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_ACCEPTED |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                 ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_MONITOR_STOPPED;
    if (zmq_socket_monitor(zsock_resolve(socket), endpoint, events) != 0)
        return -1;
    /* The monitor endpoint exists now; the trace actor connects to it. */
    return zstr_sendx(self->push, MONITOR_COMMAND, endpoint, name, NULL);
}

void zkv_tracer_unmonitor(zsock_t *socket)
{
    if (socket)
        zmq_socket_monitor(zsock_resolve(socket), NULL, 0);
}

/* ---------------------------------------------------------------- actor */

typedef struct {
    zsock_t *pipe;
    zsock_t *pull;
    zsock_t *pub;          /* XPUB: the public endpoint; it hears (un)subscriptions */
    zsock_t *state;        /* PUB: whether anyone watches, to the tracers */
    zhashx_t *topics;      /* hex of a subscribed topic -> how many subscribe to it */
    int64_t subscriptions; /* their sum */
    int64_t state_sent_ms;
    zpoller_t *poller;
    zsock_t *monitors[TRACE_MONITORS_MAX];
    char *monitor_names[TRACE_MONITORS_MAX];
    size_t monitor_count;
    uint32_t node_id;
    zkv_metrics_t *metrics; /* NULL: none */
    bool terminated;
} trace_t;

static const char *s_event_name(uint16_t event)
{
    switch (event) {
    case ZMQ_EVENT_CONNECTED: return "connected";
    case ZMQ_EVENT_DISCONNECTED: return "disconnected";
    case ZMQ_EVENT_ACCEPTED: return "accepted";
    case ZMQ_EVENT_CONNECT_RETRIED: return "connect-retried";
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return "handshake-succeeded";
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return "handshake-failed";
    case ZMQ_EVENT_MONITOR_STOPPED: return "monitor-stopped";
    default: return "other";
    }
}

static void s_add_monitor(trace_t *self, zmsg_t *msg)
{
    char *endpoint = zmsg_popstr(msg);
    char *name = zmsg_popstr(msg);
    if (endpoint && name && self->monitor_count < TRACE_MONITORS_MAX) {
        zsock_t *pair = zsock_new(ZMQ_PAIR);
        if (pair && zsock_connect(pair, "%s", endpoint) == 0) {
            self->monitors[self->monitor_count] = pair;
            self->monitor_names[self->monitor_count++] = name;
            zpoller_add(self->poller, pair);
            name = NULL;
        } else
            zsock_destroy(&pair);
    }
    zstr_free(&endpoint);
    zstr_free(&name);
}

/*  A monitor that stopped (its socket closed or unmonitored, as peers come
    and go with the membership) frees its slot for the next one. */
static void s_drop_monitor(trace_t *self, size_t which)
{
    zpoller_remove(self->poller, self->monitors[which]);
    zsock_destroy(&self->monitors[which]);
    zstr_free(&self->monitor_names[which]);
    self->monitor_count--;
    self->monitors[which] = self->monitors[self->monitor_count];
    self->monitor_names[which] = self->monitor_names[self->monitor_count];
}

/*  A peer DEALER's connection is usable once its handshake is done
    (ZMQ_IMMEDIATE queues nothing before). */
static void s_link_event(trace_t *self, const char *name, uint16_t event)
{
    unsigned id = 0;
    int end = 0;
    if (!self->metrics || sscanf(name, "peer-%u%n", &id, &end) != 1 || name[end] || !id)
        return;
    zkv_link_metrics_t *link = zkv_metrics_link(self->metrics, id);
    if (link && event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        zkv_metric_set(&link->connected, 1);
    else if (link && event == ZMQ_EVENT_DISCONNECTED)
        zkv_metric_set(&link->connected, 0);
    else if (link && event == ZMQ_EVENT_MONITOR_STOPPED) { /* a member removed */
        zkv_metric_set(&link->connected, 0);
        zkv_metric_set(&link->id, 0);
    }
}

static void s_monitor_event(trace_t *self, size_t which)
{
    zmsg_t *msg = zmsg_recv(self->monitors[which]);
    if (!msg)
        return;
    zframe_t *head = zmsg_first(msg);
    zframe_t *addr = zmsg_next(msg);
    uint16_t event = 0;
    if (head && zframe_size(head) == 6) {
        memcpy(&event, zframe_data(head), 2);
        s_link_event(self, self->monitor_names[which], event);
        char *endpoint = addr ? zframe_strdup(addr) : strdup("");
        char detail[TRACE_DETAIL_MAX];
        snprintf(detail, sizeof detail, "socket=%s event=%s endpoint=%s",
                 self->monitor_names[which], s_event_name(event), endpoint ? endpoint : "");
        free(endpoint);
        Zkv__TraceEvent ev = ZKV__TRACE_EVENT__INIT;
        ev.node = self->node_id;
        ev.time_ns = s_now_ns();
        ev.kind = "socket";
        ev.detail = detail;
        s_publish(zsock_resolve(self->pub), self->node_id, &ev);
    }
    zmsg_destroy(&msg);
    if (event == ZMQ_EVENT_MONITOR_STOPPED)
        s_drop_monitor(self, which);
}

/*  Events arrive already framed; a "$MONITOR" message asks to watch a socket.
    Everything waiting is forwarded in one wake-up. */
static void s_forward(trace_t *self)
{
    for (int n = 0; n < TRACE_DRAIN_MAX; n++) {
        if (n > 0 && !(zsock_events(self->pull) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv(self->pull);
        if (!msg)
            return;
        zframe_t *first = zmsg_first(msg);
        if (first && zframe_streq(first, MONITOR_COMMAND)) {
            zframe_t *command = zmsg_pop(msg);
            zframe_destroy(&command);
            s_add_monitor(self, msg);
        } else
            zmsg_send(&msg, self->pub);
        zmsg_destroy(&msg);
    }
}

static void s_send_state(trace_t *self)
{
    zstr_send(self->state, self->subscriptions > 0 ? "1" : "0");
    self->state_sent_ms = zclock_mono();
}

/*  A subscription (first byte 1) or its end (0), one per subscriber and
    topic (XPUB_VERBOSER), also when a subscriber goes away. libzmq passes on
    an end a connection never subscribed to, and other messages a peer sends
    (a ZMTP 1.0 peer's noise, say): only the end of a topic someone
    subscribed to counts, and anything else is ignored, so that noise cannot
    make the node stop tracing while somebody watches. */
static void s_subscription(trace_t *self)
{
    zframe_t *frame = zframe_recv(self->pub);
    size_t size = frame ? zframe_size(frame) : 0;
    const uint8_t *data = frame ? zframe_data(frame) : NULL;
    if (size >= 1 && size <= 1 + TRACE_TOPIC_MAX && (data[0] == 0 || data[0] == 1)) {
        char key[2 * TRACE_TOPIC_MAX + 2] = "t"; /* non-empty for the empty topic */
        for (size_t i = 1; i < size; i++)
            snprintf(key + 1 + 2 * (i - 1), 3, "%02x", data[i]);
        uintptr_t count = (uintptr_t) zhashx_lookup(self->topics, key);
        bool before = self->subscriptions > 0;
        if (data[0] == 1) {
            zhashx_update(self->topics, key, (void *) (count + 1));
            self->subscriptions++;
        } else if (count > 0) {
            if (count == 1)
                zhashx_delete(self->topics, key);
            else
                zhashx_update(self->topics, key, (void *) (count - 1));
            self->subscriptions--;
        }
        if (before != (self->subscriptions > 0))
            s_send_state(self);
    }
    zframe_destroy(&frame);
}

static void s_trace_destroy(trace_t *self)
{
    for (size_t i = 0; i < self->monitor_count; i++) {
        zsock_destroy(&self->monitors[i]);
        zstr_free(&self->monitor_names[i]);
    }
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->pull);
    zsock_destroy(&self->pub);
    zsock_destroy(&self->state);
    zhashx_destroy(&self->topics);
}

typedef struct {
    uint32_t node_id;
    char endpoint[256];
    zkv_metrics_t *metrics;
    const zkv_cert_t *cert;
} trace_args_t;

static void s_trace_actor(zsock_t *pipe, void *arg)
{
    zkv_actor_name("trace");
    trace_args_t *args = arg;
    trace_t self = {.pipe = pipe, .node_id = args->node_id, .metrics = args->metrics};
    char inproc[64], state[64];
    s_inproc_endpoint(inproc, sizeof inproc, args->node_id);
    s_state_endpoint(state, sizeof state, args->node_id);
    self.topics = zhashx_new();
    self.pull = zsock_new(ZMQ_PULL);
    self.pub = zsock_new(ZMQ_XPUB);
    self.state = zsock_new(ZMQ_PUB);
    bool curve_failed = false;
    if (self.pub) {
        zsock_set_maxmsgsize(self.pub, TRACE_INPUT_SIZE_MAX);
        zsock_set_xpub_verboser(self.pub, 1);
        zsock_set_sndtimeo(self.pub, 0);
        curve_failed =
            args->cert && zkv_cert_apply_server(zsock_resolve(self.pub), args->cert, ZKV_ZAP_TRACE);
    }
    if (!self.topics || !self.pull || !self.pub || !self.state || curve_failed ||
        zsock_bind(self.pull, "%s", inproc) != 0 || zsock_bind(self.state, "%s", state) != 0 ||
        zsock_bind(self.pub, "%s", args->endpoint) < 0) {
        s_trace_destroy(&self);
        zkv_actor_ready(pipe, 1);
        return;
    }
    zsock_set_linger(self.pub, 0);
    self.poller = zpoller_new(pipe, self.pull, self.pub, NULL);
    zkv_actor_ready(pipe, 0);
    while (!self.terminated) {
        void *which = zpoller_wait(self.poller, TRACE_STATE_MS);
        if (zclock_mono() - self.state_sent_ms >= TRACE_STATE_MS)
            s_send_state(&self);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            self.terminated = !command || streq(command, "$TERM");
            if (command && streq(command, "ENDPOINT"))
                zstr_send(pipe, zsock_endpoint(self.pub));
            zstr_free(&command);
        } else if (which == self.pull)
            s_forward(&self);
        else if (which == self.pub)
            s_subscription(&self);
        else if (which)
            for (size_t i = 0; i < self.monitor_count; i++)
                if (which == self.monitors[i]) {
                    s_monitor_event(&self, i);
                    break;
                }
        if (zpoller_terminated(self.poller))
            break;
    }
    s_trace_destroy(&self);
}

zactor_t *zkv_trace_actor_new(uint32_t node_id, const char *endpoint, zkv_metrics_t *metrics,
                              const zkv_cert_t *cert)
{
    trace_args_t args = {.node_id = node_id, .metrics = metrics, .cert = cert};
    snprintf(args.endpoint, sizeof args.endpoint, "%s", endpoint);
    return zkv_actor_start(s_trace_actor, &args);
}
