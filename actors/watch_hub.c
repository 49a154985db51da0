/*  watch_hub: history, publishing and catch-up (watch_hub.h). */
#include "watch_hub.h"

#include <assert.h>
#include <inttypes.h>

#include "inproc.h"
#include "response.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

struct zkv_watch_hub_t {
    zkv_port_t port;
    zkv_tracer_t *tracer; /* borrowed; NULL: none */
    uint16_t watch_port;
    zkv_watch_history_t *history;
    zkv_event_pos_t published; /* every event up to here was published (or nobody listened) */
    int64_t blocked_since_ms;  /* 0: publishing is not held up */
    int64_t subscriptions;     /* subscribe messages less unsubscribe ones */
    uint64_t cut_offs;
};

zkv_watch_hub_t *zkv_watch_hub_new(const zkv_config_t *config, const zkv_port_t *port,
                                   zkv_tracer_t *tracer)
{
    assert(port->send && port->now_ms && port->publish && port->cut_off);
    zkv_watch_hub_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->port = *port;
    self->tracer = tracer;
    self->watch_port = config->watch_port;
    self->history =
        zkv_watch_history_new(config->watch_history_events, config->watch_history_bytes);
    if (!self->history) {
        free(self);
        return NULL;
    }
    self->published = zkv_watch_history_newest(self->history);
    return self;
}

void zkv_watch_hub_destroy(zkv_watch_hub_t **self_p)
{
    zkv_watch_hub_t *self = *self_p;
    if (!self)
        return;
    zkv_watch_history_destroy(&self->history);
    free(self);
    *self_p = NULL;
}

const zkv_watch_history_t *zkv_watch_hub_history(const zkv_watch_hub_t *self)
{
    return self->history;
}

/* ---------------------------------------------------------------- encoding */

/*  An event as a zkv.WatchEvent, pointing into event's bytes. */
static void s_event_pb(const zkv_event_t *e, Zkv__WatchEvent *pb, Zkv__KeyValue *kv)
{
    zkv__watch_event__init(pb);
    zkv__key_value__init(kv);
    pb->type =
        e->type == ZKV_EVENT_PUT ? ZKV__WATCH_EVENT__TYPE__PUT : ZKV__WATCH_EVENT__TYPE__DELETE;
    pb->revision = e->revision;
    pb->seq = e->seq;
    pb->kv = kv;
    kv->key = (ProtobufCBinaryData){e->key.size, (uint8_t *) e->key.data};
    kv->value = (ProtobufCBinaryData){e->value.size, (uint8_t *) e->value.data};
    kv->create_revision = e->meta.create_revision;
    kv->mod_revision = e->meta.mod_revision;
    kv->version = e->meta.version;
    kv->lease = e->meta.lease;
}

static zframe_t *s_pack_event(const Zkv__WatchEvent *pb)
{
    zframe_t *frame = zframe_new(NULL, zkv__watch_event__get_packed_size(pb));
    if (frame)
        zkv__watch_event__pack(pb, zframe_data(frame));
    return frame;
}

/*  Publish one message; false when a subscriber's queue is full. */
static bool s_publish(zkv_watch_hub_t *self, zkv_bytes_t topic, const Zkv__WatchEvent *pb)
{
    zframe_t *head = zframe_new(topic.data, topic.size);
    zframe_t *body = s_pack_event(pb);
    if (!head || !body) {
        zframe_destroy(&head);
        zframe_destroy(&body);
        return true; /* out of memory: the watchers' catch-up will find it */
    }
    return self->port.publish(self->port.ctx, &head, &body) == 0;
}

/* ---------------------------------------------------------------- publishing */

static bool s_publish_visit(const zkv_event_t *event, void *arg)
{
    zkv_watch_hub_t *self = arg;
    Zkv__WatchEvent pb;
    Zkv__KeyValue kv;
    s_event_pb(event, &pb, &kv);
    if (!s_publish(self, event->key, &pb))
        return false;
    zkv_metric_add(&self->port.metrics->watch.events, 1);
    self->published = (zkv_event_pos_t){event->revision, event->seq};
    return true;
}

static void s_cut_off(zkv_watch_hub_t *self, const char *why)
{
    self->port.cut_off(self->port.ctx);
    self->cut_offs++;
    zkv_metric_add(&self->port.metrics->watch.cut_offs, 1);
    self->published = zkv_watch_history_newest(self->history);
    self->blocked_since_ms = 0;
    self->subscriptions = 0;
    zkv_tracer_emit(self->tracer, "watch", 0, self->published.revision, 0, 0,
                    "cut_off=%" PRIu64 " why=%s", self->cut_offs, why);
}

/*  Publish what the history holds past published, until a full queue stops it. */
static void s_publish_pending(zkv_watch_hub_t *self)
{
    zkv_event_pos_t newest = zkv_watch_history_newest(self->history);
    if (zkv_event_pos_cmp(self->published, newest) >= 0)
        return;
    if (self->subscriptions <= 0) {
        self->published = newest; /* nobody listens: a new watcher catches up first */
        self->blocked_since_ms = 0;
        return;
    }
    if (zkv_event_pos_cmp(self->published, zkv_watch_history_compacted(self->history)) < 0) {
        s_cut_off(self, "evicted_unpublished");
        return;
    }
    zkv_watch_history_scan(self->history, self->published, NULL, 0, s_publish_visit, self, NULL);
    bool done = zkv_event_pos_cmp(self->published, newest) >= 0;
    int64_t now = self->port.now_ms(self->port.ctx);
    if (done)
        self->blocked_since_ms = 0;
    else if (!self->blocked_since_ms)
        self->blocked_since_ms = now ? now : 1;
    else if (now - self->blocked_since_ms >= ZKV_WATCH_BLOCKED_MS_MAX)
        s_cut_off(self, "subscriber_full");
}

static void s_events(zkv_watch_hub_t *self, const zkv_msg_t *msg)
{
    if (msg->events.reset) {
        zkv_watch_history_reset(self->history, msg->events.revision);
        /* What was not published is gone: everyone must catch up again. */
        if (zkv_event_pos_cmp(self->published, zkv_watch_history_newest(self->history)) < 0 ||
            self->subscriptions > 0)
            s_cut_off(self, "reset");
        self->published = zkv_watch_history_newest(self->history);
    }
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msg->body);
    zkv_event_t event;
    int more;
    while ((more = zkv_unpack_event(&in, &event)) == 1)
        if (zkv_watch_history_append(self->history, &event) != ZKV_OK) {
            /* Out of memory: forget up to here rather than keep a hole. */
            zkv_watch_history_reset(self->history, event.revision);
            s_cut_off(self, "out_of_memory");
        }
    assert(more == 0); /* our own actor's */
    zkv_metrics_t *m = self->port.metrics;
    zkv_metric_set(&m->watch.history_events, zkv_watch_history_count(self->history));
    zkv_metric_set(&m->watch.history_bytes, zkv_watch_history_bytes(self->history));
    s_publish_pending(self);
}

void zkv_watch_hub_subscription(zkv_watch_hub_t *self, const uint8_t *prefix, size_t size,
                                bool subscribe)
{
    self->subscriptions += subscribe ? 1 : -1;
    if (!subscribe)
        return;
    /* What went unpublished for lack of listeners the new watcher finds in
       its catch-up, which follows this acknowledgement. */
    Zkv__WatchEvent pb;
    Zkv__KeyValue kv;
    zkv_event_t ack = {.key = {prefix, size}};
    zkv_event_pos_t newest = zkv_watch_history_newest(self->history);
    ack.revision = newest.revision;
    s_event_pb(&ack, &pb, &kv);
    pb.type = ZKV__WATCH_EVENT__TYPE__SUBSCRIBED;
    /* Ahead of anything held up: the watcher drops that when it comes, as
       its catch-up will have had it. A full queue: the watcher times out. */
    s_publish(self, ack.key, &pb);
}

int64_t zkv_watch_hub_tick(zkv_watch_hub_t *self)
{
    s_publish_pending(self);
    return self->blocked_since_ms ? ZKV_WATCH_RETRY_MS : -1;
}

/* ---------------------------------------------------------------- catch-up */

typedef struct {
    Zkv__WatchEvent *events;
    Zkv__WatchEvent **ptrs;
    Zkv__KeyValue *kvs;
    size_t count, limit;
    size_t bytes;
    bool full; /* stopped by a limit */
} s_reply_t;

static bool s_collect(const zkv_event_t *event, void *arg)
{
    s_reply_t *r = arg;
    size_t size = event->key.size + event->value.size;
    if (r->count == r->limit || (r->count > 0 && r->bytes + size > ZKV_WATCH_REPLY_BYTES_MAX)) {
        r->full = true;
        return false;
    }
    s_event_pb(event, &r->events[r->count], &r->kvs[r->count]);
    r->ptrs[r->count] = &r->events[r->count];
    r->count++;
    r->bytes += size;
    return true;
}

/*  The events of the history after req's position, into resp. */
static void s_catch_up(zkv_watch_hub_t *self, const Zkv__WatchRequest *req, Zkv__Response *resp,
                       s_reply_t *r)
{
    zkv_event_pos_t after = {req->after_revision, req->after_seq};
    zkv_key_filter_t filter = {
        {req->key.data, req->key.len}, {req->end.data, req->end.len}, req->range};
    r->limit = req->limit && req->limit < ZKV_WATCH_REPLY_EVENTS_MAX ? req->limit
                                                                     : ZKV_WATCH_REPLY_EVENTS_MAX;
    r->events = calloc(r->limit + 1, sizeof *r->events);
    r->ptrs = calloc(r->limit + 1, sizeof *r->ptrs);
    r->kvs = calloc(r->limit + 1, sizeof *r->kvs);
    if (!r->events || !r->ptrs || !r->kvs) {
        resp->status = ZKV__STATUS__INTERNAL;
        resp->error = "out of memory";
        return;
    }
    zkv_event_pos_t next = after;
    int rc = zkv_watch_history_scan(self->history, after, &filter, 0, s_collect, r, &next);
    resp->status = rc == ZKV_OK ? ZKV__STATUS__OK : ZKV__STATUS__COMPACTED;
    if (rc != ZKV_OK)
        resp->error = "the position lies before this node's history of changes";
    /* Stopped by a limit: resume after the last event returned. */
    if (r->full && r->count)
        next = (zkv_event_pos_t){r->events[r->count - 1].revision, r->events[r->count - 1].seq};
    resp->n_events = r->count;
    resp->events = r->ptrs;
    resp->more = r->full;
    resp->next_revision = next.revision;
    resp->next_seq = next.seq;
}

static void s_serve(zkv_watch_hub_t *self, const zkv_msg_t *msg)
{
    Zkv__Request *req = zkv__request__unpack(NULL, zframe_size(msg->body), zframe_data(msg->body));
    assert(req && req->body_case == ZKV__REQUEST__BODY_WATCH); /* the client actor checked */
    Zkv__Response resp = ZKV__RESPONSE__INIT;
    resp.client_id = req->client_id;
    resp.request_id = req->request_id;
    zkv_event_pos_t compacted = zkv_watch_history_compacted(self->history);
    resp.compact_revision = compacted.revision;
    resp.compact_seq = compacted.seq;
    resp.revision = zkv_watch_history_newest(self->history).revision;
    resp.watch_port = self->watch_port;
    s_reply_t r = {0};
    s_catch_up(self, req->watch, &resp, &r);
    zkv_metric_add(&self->port.metrics->watch.catch_ups, 1);
    zkv_msg_t out = {.type = ZKV_MSG_REPLY,
                     .reply.context = msg->serve.context,
                     .body = zkv_response_frame(&resp)};
    zkv_port_send(&self->port, ZKV_ACTOR_CLIENT, &out);
    free(r.events);
    free(r.ptrs);
    free(r.kvs);
    zkv__request__free_unpacked(req, NULL);
}

void zkv_watch_hub_handle(zkv_watch_hub_t *self, const zkv_msg_t *msg)
{
    switch (msg->type) {
    case ZKV_MSG_EVENTS: s_events(self, msg); break;
    case ZKV_MSG_SERVE: s_serve(self, msg); break;
    default: assert(!"a message the watch actor does not take"); break;
    }
}
