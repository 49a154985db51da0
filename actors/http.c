/*  http actor (http.h). */
#include "http.h"

#include "actor.h"
#include "health.h"
#include "http_request.h"
#include "loop.h"

#define HTTP_DRAIN_MAX 64
#define HTTP_ID_SIZE_MAX 256 /* a ZMQ_STREAM routing id is 5 bytes */

typedef struct {
    uint8_t id[HTTP_ID_SIZE_MAX];
    size_t id_size;
    char head[ZKV_HTTP_HEAD_MAX];
    size_t size;
    int64_t opened_ms;
} conn_t;

typedef struct {
    zsock_t *stream;
    const zkv_metrics_t *metrics;
    uint64_t health_max_lag;
    conn_t *conns[ZKV_HTTP_CONNECTIONS_MAX];
} http_t;

static void s_send(http_t *self, const uint8_t *id, size_t id_size, const void *data, size_t size)
{
    void *sock = zsock_resolve(self->stream);
    if (zmq_send(sock, id, id_size, ZMQ_SNDMORE) == (int) id_size)
        zmq_send(sock, data, size, 0);
}

/*  An empty message after the id closes the connection. */
static void s_close(http_t *self, size_t slot)
{
    conn_t *c = self->conns[slot];
    s_send(self, c->id, c->id_size, "", 0);
    free(c);
    self->conns[slot] = NULL;
}

static void s_answer(http_t *self, size_t slot, int code, const char *type, const char *body,
                     size_t body_size, bool head_only)
{
    conn_t *c = self->conns[slot];
    size_t size = 0;
    char *response = zkv_http_response(code, type, body, body_size, head_only, &size);
    if (response)
        s_send(self, c->id, c->id_size, response, size);
    free(response);
    s_close(self, slot);
}

static void s_route(http_t *self, size_t slot, const zkv_http_request_t *req)
{
    static const char *text = "text/plain; charset=utf-8";
    bool head = strcmp(req->method, "HEAD") == 0;
    if (!head && strcmp(req->method, "GET") != 0) {
        s_answer(self, slot, 405, text, "only GET and HEAD\n", 18, false);
    } else if (strcmp(req->path, "/metrics") == 0) {
        size_t size = 0;
        char *body = zkv_metrics_text(self->metrics, &size);
        if (body)
            s_answer(self, slot, 200, "text/plain; version=0.0.4; charset=utf-8", body, size, head);
        else
            s_answer(self, slot, 503, text, "out of memory\n", 14, head);
        free(body);
    } else if (strcmp(req->path, "/health") == 0) {
        char reason[256];
        bool ok = zkv_health_check(self->metrics, self->health_max_lag, reason, sizeof reason - 1);
        strcat(reason, "\n");
        s_answer(self, slot, ok ? 200 : 503, text, reason, strlen(reason), head);
    } else
        s_answer(self, slot, 404, text, "not found: try /metrics or /health\n", 35, head);
}

static size_t s_find(http_t *self, const zframe_t *id)
{
    for (size_t i = 0; i < ZKV_HTTP_CONNECTIONS_MAX; i++) {
        conn_t *c = self->conns[i];
        if (c && c->id_size == zframe_size((zframe_t *) id) &&
            memcmp(c->id, zframe_data((zframe_t *) id), c->id_size) == 0)
            return i;
    }
    return ZKV_HTTP_CONNECTIONS_MAX;
}

/*  A new connection (an empty message for an id not seen): a slot, or closed. */
static void s_open(http_t *self, zframe_t *id)
{
    for (size_t i = 0; i < ZKV_HTTP_CONNECTIONS_MAX; i++)
        if (!self->conns[i]) {
            conn_t *c = calloc(1, sizeof *c);
            if (!c)
                break;
            memcpy(c->id, zframe_data(id), zframe_size(id));
            c->id_size = zframe_size(id);
            c->opened_ms = zclock_mono();
            self->conns[i] = c;
            return;
        }
    s_send(self, zframe_data(id), zframe_size(id), "", 0);
}

static void s_data(http_t *self, size_t slot, zframe_t *data)
{
    conn_t *c = self->conns[slot];
    size_t room = sizeof c->head - c->size;
    size_t n = zframe_size(data) < room ? zframe_size(data) : room;
    memcpy(c->head + c->size, zframe_data(data), n);
    c->size += n;
    zkv_http_request_t req;
    zkv_http_parse_t rc = zkv_http_parse(c->head, c->size, &req);
    if (rc == ZKV_HTTP_COMPLETE)
        s_route(self, slot, &req);
    else if (rc == ZKV_HTTP_MALFORMED)
        s_answer(self, slot, 400, "text/plain; charset=utf-8", "bad request\n", 12, false);
}

static bool s_on_stream(void *arg)
{
    http_t *self = arg;
    zframe_t *id = zframe_recv(self->stream);
    if (!id)
        return false;
    zframe_t *data = zsock_rcvmore(self->stream) ? zframe_recv(self->stream) : NULL;
    if (data && zframe_size(id) <= HTTP_ID_SIZE_MAX) {
        size_t slot = s_find(self, id);
        if (slot == ZKV_HTTP_CONNECTIONS_MAX) {
            if (zframe_size(data) == 0)
                s_open(self, id);
        } else if (zframe_size(data) == 0) {
            free(self->conns[slot]); /* the peer closed it */
            self->conns[slot] = NULL;
        } else
            s_data(self, slot, data);
    }
    zframe_destroy(&data);
    zframe_destroy(&id);
    return true;
}

static int64_t s_on_round(void *arg)
{
    http_t *self = arg;
    int64_t now = zclock_mono();
    for (size_t i = 0; i < ZKV_HTTP_CONNECTIONS_MAX; i++)
        if (self->conns[i] && now - self->conns[i]->opened_ms > ZKV_HTTP_IDLE_MS)
            s_close(self, i);
    return ZKV_HTTP_IDLE_MS;
}

typedef struct {
    const zkv_config_t *config;
    const zkv_metrics_t *metrics;
} args_t;

static void s_http_actor(zsock_t *pipe, void *arg)
{
    const args_t *args = arg;
    zkv_actor_name("http");
    http_t self = {.metrics = args->metrics,
                   .health_max_lag = args->config->health_max_lag,
                   .stream = zsock_new(ZMQ_STREAM)};
    if (!self.stream || zsock_bind(self.stream, "tcp://%s:%u", args->config->listen,
                                   args->config->metrics_port) < 0) {
        zsock_destroy(&self.stream);
        zkv_actor_ready(pipe, 1);
        return;
    }
    zsock_set_rcvtimeo(self.stream, 0);
    zsock_set_sndtimeo(self.stream, 0);
    zsock_set_linger(self.stream, 0);
    zkv_loop_t *loop = zkv_loop_new(pipe, &self);
    zkv_loop_reader(loop, self.stream, s_on_stream, HTTP_DRAIN_MAX);
    zkv_loop_on_round(loop, s_on_round, ZKV_HTTP_IDLE_MS);
    zkv_actor_ready(pipe, 0);
    zkv_loop_run(loop);
    zkv_loop_destroy(&loop);
    for (size_t i = 0; i < ZKV_HTTP_CONNECTIONS_MAX; i++)
        free(self.conns[i]);
    zsock_destroy(&self.stream);
}

zactor_t *zkv_http_actor_new(const zkv_config_t *config, const zkv_metrics_t *metrics)
{
    args_t args = {config, metrics};
    return zkv_actor_start(s_http_actor, &args);
}
