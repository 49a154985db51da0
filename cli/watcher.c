/*  watcher: subscribe, catch up, follow (watcher.h). */
#include "zkv.h"

#include "cert.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

#define WATCHER_TIMEOUT_MS_DEFAULT 2000
/*  Silence on the stream after which the node is asked for what came since. */
#define WATCHER_CHECK_MS 1000
#define WATCHER_POLL_MS 100
/*  The first message of a new connection (actors/watch_hub.h). */
#define WATCHER_WELCOME "\x00zkv-watch-welcome"
#define WATCHER_WELCOME_SIZE (sizeof WATCHER_WELCOME - 1)

typedef enum { S_DOWN, S_WAIT_WELCOME, S_WAIT_ACK, S_LIVE } s_state_t;

struct zkv_watcher_t {
    zkv_watcher_config_t config;
    zkv_key_filter_t filter;
    zkv_bytes_t topic; /* the subscription: what every matching key begins with */
    char endpoints[ZKV_CLIENT_ENDPOINTS_MAX][ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    size_t endpoint_count, node;
    zkv_client_t *client;
    zsock_t *sub;
    s_state_t state;
    int64_t since_ms; /* of the state, or of the last sign of life when live */
    bool started;     /* position is known */
    zkv_event_pos_t position;
    uint32_t watch_port;    /* the node's, from its last catch-up answer */
    size_t compacted_nodes; /* nodes in a row whose history starts after position */
    size_t refused_nodes;   /* nodes in a row that refused our handshake */
    bool curve;             /* the keys below are set on the SUB too */
    zkv_cert_t cert;
    char server_key[ZKV_CERT_KEY_LEN + 1];
    char error[512];
    zkv_watcher_fn *fn;
    zkv_watcher_note_fn *note;
    void *arg;
};

static size_t s_common(zkv_bytes_t a, zkv_bytes_t b)
{
    size_t n = 0;
    while (n < a.size && n < b.size && a.data[n] == b.data[n])
        n++;
    return n;
}

/*  A range's subscription: the bytes every key in it begins with. A prefix
    range [P, P with its last byte incremented) is P itself. */
static zkv_bytes_t s_topic(const zkv_watcher_config_t *c)
{
    if (!c->range)
        return c->key;
    if (c->end.size == 0)
        return (zkv_bytes_t){c->key.data, 0};
    size_t n = s_common(c->key, c->end);
    bool prefix = n + 1 == c->end.size && c->end.size <= c->key.size &&
                  c->end.data[n] == (uint8_t) (c->key.data[n] + 1);
    if (prefix && c->end.size == c->key.size)
        return c->key;
    return (zkv_bytes_t){c->key.data, n};
}

static int s_parse_endpoints(zkv_watcher_t *self, const char *list)
{
    char copy[ZKV_CLIENT_ENDPOINTS_MAX * ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    snprintf(copy, sizeof copy, "%s", list ? list : "");
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (self->endpoint_count == ZKV_CLIENT_ENDPOINTS_MAX)
            return -1;
        const char *scheme = strstr(tok, "://") ? "" : "tcp://";
        int n = snprintf(self->endpoints[self->endpoint_count], ZKV_CLIENT_ENDPOINT_SIZE_MAX,
                         "%s%s", scheme, tok);
        if (n <= 0 || n >= ZKV_CLIENT_ENDPOINT_SIZE_MAX)
            return -1;
        self->endpoint_count++;
    }
    return self->endpoint_count ? 0 : -1;
}

zkv_watcher_t *zkv_watcher_new(const zkv_watcher_config_t *config, char *err, size_t err_size)
{
    zkv_watcher_t *self = zmalloc(sizeof *self);
    self->config = *config;
    if (!self->config.timeout_ms)
        self->config.timeout_ms = WATCHER_TIMEOUT_MS_DEFAULT;
    self->filter = (zkv_key_filter_t){config->key, config->end, config->range};
    self->topic = s_topic(config);
    if (s_parse_endpoints(self, config->endpoints)) {
        snprintf(err, err_size, "bad endpoint list '%.200s'", config->endpoints);
        free(self);
        return NULL;
    }
    zkv_client_config_t cc = {.endpoints = config->endpoints,
                              .timeout_ms = self->config.timeout_ms,
                              .attempt_timeout_ms = self->config.timeout_ms,
                              .curve = config->curve};
    self->client = zkv_client_new(&cc, err, err_size);
    /* The client has read the keys for its DEALERs; the SUB needs them as well. */
    int keys = self->client
                   ? zkv_cert_client_keys(&self->cert, self->server_key, config->curve.cert,
                                          config->curve.server_key, err, err_size)
                   : -1;
    if (keys < 0) {
        zkv_watcher_destroy(&self);
        return NULL;
    }
    self->curve = keys > 0;
    if (config->start_revision) {
        self->started = true;
        self->position = (zkv_event_pos_t){config->start_revision - 1, ZKV_EVENT_SEQ_ALL};
    }
    return self;
}

void zkv_watcher_destroy(zkv_watcher_t **self_p)
{
    zkv_watcher_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy(&self->sub);
    zkv_client_destroy(&self->client);
    explicit_bzero(&self->cert, sizeof self->cert);
    free(self);
    *self_p = NULL;
}

size_t zkv_watcher_node(const zkv_watcher_t *self)
{
    return self->node;
}

void zkv_watcher_position(const zkv_watcher_t *self, uint64_t *revision, uint32_t *seq)
{
    *revision = self->position.revision;
    *seq = self->position.seq;
}

const char *zkv_watcher_error(const zkv_watcher_t *self)
{
    return self->error;
}

static void s_note(zkv_watcher_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_note(zkv_watcher_t *self, const char *fmt, ...)
{
    char line[300];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    if (self->note)
        self->note(self->arg, line);
}

/*  An event from the history or the stream: delivered once, in order. */
static void s_deliver(zkv_watcher_t *self, const Zkv__WatchEvent *e)
{
    zkv_event_pos_t at = {e->revision, e->seq};
    if (!e->kv || zkv_event_pos_cmp(at, self->position) <= 0)
        return;
    zkv_bytes_t key = {e->kv->key.data, e->kv->key.len};
    if (!zkv_key_filter_match(&self->filter, key))
        return;
    self->position = at;
    self->fn(self->arg, e);
}

/*  Everything the node's history holds after position, a page at a time.
    0; ZKV_ECOMPACTED; or the client's error (the node does not answer). */
static int s_catch_up(zkv_watcher_t *self)
{
    const char *endpoint = self->endpoints[self->node];
    for (;;) {
        /* Not started: only the watch port and the history's bounds are wanted. */
        zkv_op_t op = {.type = ZKV_OP_WATCH,
                       .endpoint = endpoint,
                       .key = self->config.key,
                       .end = self->config.end,
                       .range = self->config.range,
                       .index = self->started ? self->position.revision : UINT64_MAX,
                       .seq = self->started ? self->position.seq : ZKV_EVENT_SEQ_ALL};
        const Zkv__Response *r;
        int rc = zkv_client_call(self->client, &op, &r);
        if (rc)
            return rc;
        if (r->status == ZKV__STATUS__COMPACTED) {
            snprintf(self->error, sizeof self->error,
                     "revision %" PRIu64 " is compacted on %s: its history starts after revision "
                     "%" PRIu64 "%s",
                     self->position.revision + (self->position.seq == ZKV_EVENT_SEQ_ALL), endpoint,
                     r->compact_revision, r->compact_seq == ZKV_EVENT_SEQ_ALL ? "" : " (partly)");
            return ZKV_ECOMPACTED;
        }
        if (r->status == ZKV__STATUS__PERMISSION_DENIED) {
            snprintf(self->error, sizeof self->error, "%s: %.200s", endpoint,
                     r->error && *r->error ? r->error : "permission denied");
            return ZKV_EPERM;
        }
        if (r->status != ZKV__STATUS__OK)
            return ZKV_CLIENT_EPROTO;
        self->watch_port = r->watch_port;
        for (size_t i = 0; i < r->n_events; i++)
            s_deliver(self, r->events[i]);
        if (!r->more || r->n_events == 0)
            return 0;
    }
}

/*  host of tcp://host:port into out. */
static void s_host(const char *endpoint, char *out, size_t size)
{
    const char *p = strstr(endpoint, "://");
    p = p ? p + 3 : endpoint;
    const char *colon = strrchr(p, ':');
    size_t n = colon ? (size_t) (colon - p) : strlen(p);
    snprintf(out, size, "%.*s", (int) n, p);
}

/*  A SUB to the node's watch port, subscribed before it connects (the
    welcome is sent at once, to a connection already subscribed to it). */
static int s_subscribe(zkv_watcher_t *self)
{
    char host[ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    s_host(self->endpoints[self->node], host, sizeof host);
    zsock_destroy(&self->sub);
    self->sub = zsock_new(ZMQ_SUB);
    if (!self->sub)
        return ZKV_ENOMEM;
    zsock_set_rcvtimeo(self->sub, 0);
    /* No ZMTP heartbeats: with one due while the socket's input is stopped (a
       full queue, the watcher not reading), libzmq 4.3.4 asserts (!_io_error
       in stream_engine_base.cpp). A dead node is found by the catch-up check. */
    zsock_set_reconnect_ivl_max(self->sub, 1000);
    zsock_set_maxmsgsize(self->sub, 4 * 1024 * 1024);
    if (self->curve &&
        zkv_cert_apply_client(zsock_resolve(self->sub), &self->cert, self->server_key))
        return ZKV_EINVAL;
    zmq_setsockopt(zsock_resolve(self->sub), ZMQ_SUBSCRIBE, WATCHER_WELCOME, WATCHER_WELCOME_SIZE);
    zmq_setsockopt(zsock_resolve(self->sub), ZMQ_SUBSCRIBE, self->topic.data, self->topic.size);
    if (zsock_connect(self->sub, "tcp://%s:%u", host, self->watch_port) != 0)
        return ZKV_EINVAL;
    self->state = S_WAIT_WELCOME;
    self->since_ms = zclock_mono();
    return 0;
}

/*  Leave this node for the next one. */
static void s_next_node(zkv_watcher_t *self, const char *why)
{
    zsock_destroy(&self->sub);
    s_note(self, "watch: %s: %s; trying the next node", self->endpoints[self->node], why);
    self->node = (self->node + 1) % self->endpoint_count;
    self->state = S_DOWN;
    self->since_ms = zclock_mono();
}

/*  Catch up; on failure leave the node. ZKV_ECOMPACTED once every node's
    history has started after position; else 0 (the run goes on). */
static int s_catch_up_or_leave(zkv_watcher_t *self)
{
    int rc = s_catch_up(self);
    if (rc == 0) {
        self->compacted_nodes = self->refused_nodes = 0;
        return 0;
    }
    if (rc == ZKV_CLIENT_EINTR)
        return rc;
    if (rc == ZKV_ECOMPACTED && ++self->compacted_nodes >= self->endpoint_count)
        return rc;
    /* Our keys will not do anywhere: trying on would only repeat that. The
       rights of a key are every node's (the same --acl), so one refusal is all. */
    if (rc == ZKV_EPERM ||
        (rc == ZKV_CLIENT_EHANDSHAKE && ++self->refused_nodes >= self->endpoint_count))
        return rc;
    s_next_node(self, rc == ZKV_ECOMPACTED ? self->error : zkv_client_error(self->client));
    return 0;
}

static void s_on_ack(zkv_watcher_t *self, const Zkv__WatchEvent *e, int *rc)
{
    if (self->state != S_WAIT_ACK || !e->kv || e->kv->key.len != self->topic.size ||
        (self->topic.size && memcmp(e->kv->key.data, self->topic.data, self->topic.size)))
        return; /* another subscription's, or one already known */
    if (!self->started) {
        self->started = true;
        self->position = (zkv_event_pos_t){e->revision, ZKV_EVENT_SEQ_ALL};
    }
    *rc = s_catch_up_or_leave(self);
    if (*rc == 0 && self->state == S_WAIT_ACK) {
        self->state = S_LIVE;
        self->since_ms = zclock_mono();
    }
}

/*  One message from the stream; *rc set when the run must end. */
static bool s_on_message(zkv_watcher_t *self, int *rc)
{
    if (!self->sub)
        return false; /* the node was left while handling the last one */
    zmsg_t *msg = zmsg_recv(self->sub);
    if (!msg)
        return false;
    zframe_t *first = zmsg_first(msg);
    if (zmsg_size(msg) == 1 && zframe_size(first) == WATCHER_WELCOME_SIZE &&
        memcmp(zframe_data(first), WATCHER_WELCOME, WATCHER_WELCOME_SIZE) == 0) {
        /* A new connection: what the old one had not delivered may be lost. */
        if (self->state == S_LIVE)
            s_note(self, "watch: %s: reconnected; catching up", self->endpoints[self->node]);
        self->state = S_WAIT_ACK;
        self->since_ms = zclock_mono();
    } else if (zmsg_size(msg) == 2) {
        zframe_t *body = zmsg_next(msg);
        Zkv__WatchEvent *e = zkv__watch_event__unpack(NULL, zframe_size(body), zframe_data(body));
        if (e && e->type == ZKV__WATCH_EVENT__TYPE__SUBSCRIBED)
            s_on_ack(self, e, rc);
        else if (e && self->state == S_LIVE) {
            s_deliver(self, e);
            self->since_ms = zclock_mono();
        }
        if (e)
            zkv__watch_event__free_unpacked(e, NULL);
    }
    zmsg_destroy(&msg);
    return true;
}

/*  What the clock asks for in the current state; nonzero ends the run. */
static int s_on_time(zkv_watcher_t *self)
{
    int64_t idle = zclock_mono() - self->since_ms;
    if (self->state == S_DOWN) {
        int rc = s_catch_up_or_leave(self);
        if (rc || self->state != S_DOWN)
            return rc;
        return s_subscribe(self) == 0 ? 0 : ZKV_ENOMEM;
    }
    if (self->state == S_LIVE && idle >= WATCHER_CHECK_MS) {
        self->since_ms = zclock_mono();
        return s_catch_up_or_leave(self);
    }
    if (self->state != S_LIVE && idle >= self->config.timeout_ms) {
        /* No welcome or acknowledgement: subscribe again if the node answers. */
        int rc = s_catch_up_or_leave(self);
        if (rc == 0 && self->state != S_DOWN)
            rc = s_subscribe(self) == 0 ? 0 : ZKV_ENOMEM;
        return rc;
    }
    return 0;
}

int zkv_watcher_run(zkv_watcher_t *self, int64_t run_ms, zkv_watcher_fn *fn,
                    zkv_watcher_note_fn *note, void *arg)
{
    self->fn = fn;
    self->note = note;
    self->arg = arg;
    self->error[0] = '\0';
    int64_t end = run_ms < 0 ? INT64_MAX : zclock_mono() + run_ms;
    int rc = 0;
    while (rc == 0 && !zsys_interrupted && zclock_mono() < end) {
        rc = s_on_time(self);
        if (rc || !self->sub)
            continue;
        zmq_pollitem_t item = {zsock_resolve(self->sub), 0, ZMQ_POLLIN, 0};
        int64_t left = end - zclock_mono();
        if (zmq_poll(&item, 1, left < WATCHER_POLL_MS ? (left > 0 ? left : 0) : WATCHER_POLL_MS) >
            0)
            for (int n = 0; rc == 0 && n < 1000 && s_on_message(self, &rc); n++)
                ;
    }
    if (rc == 0 && zsys_interrupted)
        rc = ZKV_CLIENT_EINTR;
    if (rc && rc != ZKV_ECOMPACTED && !self->error[0])
        snprintf(self->error, sizeof self->error, "%s",
                 rc == ZKV_CLIENT_EINTR ? "interrupted" : zkv_client_error(self->client));
    return rc;
}
