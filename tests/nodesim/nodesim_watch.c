/*  nodesim_watch: every node's watch handler under simulation, with one
    subscriber that takes everything. Each event a node publishes is checked
    against the same position published by any node (replicas change the same
    keys the same way at the same revision), each node's stream must go
    forward between its resets, and at the end no epoch of a node's stream
    may skip an event some node published inside it. */
#include <stdlib.h>
#include <string.h>

#include "nodesim_int.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

static uint64_t s_mix(uint64_t h, const void *data, size_t size)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < size; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t s_event_hash(const Zkv__WatchEvent *e)
{
    uint64_t h = 0xcbf29ce484222325ull, nums[5] = {e->type, 0, 0, 0, 0};
    if (e->kv) {
        nums[1] = e->kv->create_revision;
        nums[2] = e->kv->mod_revision;
        nums[3] = e->kv->version;
        nums[4] = e->kv->lease;
        h = s_mix(h, e->kv->key.data, e->kv->key.len);
        h = s_mix(h, "\xff", 1);
        h = s_mix(h, e->kv->value.data, e->kv->value.len);
    }
    return s_mix(h, nums, sizeof nums);
}

static ns_watch_rec_t *s_find(ns_world_t *w, uint64_t rev, uint32_t seq)
{
    size_t lo = 0, hi = w->watch_n;
    while (lo < hi) { /* kept sorted by position */
        size_t mid = (lo + hi) / 2;
        const ns_watch_rec_t *r = &w->watch_ref[mid];
        if (r->rev < rev || (r->rev == rev && r->seq < seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == w->watch_n || w->watch_ref[lo].rev != rev || w->watch_ref[lo].seq != seq) {
        if (w->watch_n == w->watch_cap) {
            w->watch_cap = w->watch_cap ? 2 * w->watch_cap : 1024;
            w->watch_ref = realloc(w->watch_ref, w->watch_cap * sizeof *w->watch_ref);
        }
        memmove(w->watch_ref + lo + 1, w->watch_ref + lo, (w->watch_n - lo) * sizeof *w->watch_ref);
        w->watch_ref[lo] = (ns_watch_rec_t){rev, seq, 0, 0};
        w->watch_n++;
    }
    return &w->watch_ref[lo];
}

static void s_node_record(ns_node_t *n, uint64_t rev, uint32_t seq)
{
    if (n->pub_n == n->pub_cap) {
        n->pub_cap = n->pub_cap ? 2 * n->pub_cap : 1024;
        n->pub = realloc(n->pub, n->pub_cap * sizeof *n->pub);
    }
    n->pub[n->pub_n++] = (ns_watch_rec_t){rev, seq, 0, n->pub_epoch};
}

static int s_publish(void *ctx, zframe_t **topic, zframe_t **body)
{
    ns_ctx_t *c = ctx;
    ns_world_t *w = c->w;
    ns_node_t *n = c->n;
    Zkv__WatchEvent *e = zkv__watch_event__unpack(NULL, zframe_size(*body), zframe_data(*body));
    if (!e || !e->kv)
        ns_fail(w, "node %u published a message that is not a watch event", n->id);
    else if (e->type != ZKV__WATCH_EVENT__TYPE__SUBSCRIBED) {
        w->stats->watch_events++;
        bool topic_ok = zframe_size(*topic) == e->kv->key.len &&
                        memcmp(zframe_data(*topic), e->kv->key.data, e->kv->key.len) == 0;
        ns_watch_rec_t *ref = s_find(w, e->revision, e->seq);
        uint64_t hash = s_event_hash(e);
        if (!topic_ok)
            ns_fail(w, "node %u published an event under another topic", n->id);
        else if (ref->hash && ref->hash != hash)
            ns_fail(w, "node %u published event %" PRIu64 ".%u unlike another node's", n->id,
                    e->revision, e->seq);
        ref->hash = hash;
        const ns_watch_rec_t *last = n->pub_n ? &n->pub[n->pub_n - 1] : NULL;
        if (last && last->epoch == n->pub_epoch &&
            (last->rev > e->revision || (last->rev == e->revision && last->seq >= e->seq)))
            ns_fail(w, "node %u published %" PRIu64 ".%u after %" PRIu64 ".%u", n->id, e->revision,
                    e->seq, last->rev, last->seq);
        s_node_record(n, e->revision, e->seq);
    }
    if (e)
        zkv__watch_event__free_unpacked(e, NULL);
    zframe_destroy(topic);
    zframe_destroy(body);
    return 0;
}

static void s_cut_off(void *ctx)
{
    ns_ctx_t *c = ctx;
    c->n->pub_epoch++;
    c->w->stats->watch_cut_offs++;
    /* The subscriber comes back. */
    c->n->resubscribe = true;
}

static int64_t s_now(void *ctx)
{
    ns_ctx_t *c = ctx;
    return c->w->now;
}

static int s_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    ns_ctx_t *c = ctx;
    ns_enqueue(c->n, to, ZKV_ACTOR_WATCH, msg);
    return 0;
}

void ns_watch_start(ns_world_t *w, ns_node_t *n)
{
    (void) w;
    zkv_port_t port = {.ctx = &n->ctx[ZKV_ACTOR_WATCH],
                       .metrics = n->metrics,
                       .send = s_send,
                       .now_ms = s_now,
                       .publish = s_publish,
                       .cut_off = s_cut_off};
    n->watch = zkv_watch_hub_new(&n->config, &port, NULL);
    n->pub_epoch++;
    zkv_watch_hub_subscription(n->watch, NULL, 0, true);
}

void ns_watch_handle(ns_world_t *w, ns_node_t *n, const zkv_msg_t *msg)
{
    (void) w;
    zkv_watch_hub_handle(n->watch, msg);
    if (n->resubscribe) {
        n->resubscribe = false;
        zkv_watch_hub_subscription(n->watch, NULL, 0, true);
    }
}

/*  Every epoch of every node's stream holds each known event between its
    first and last: nothing was skipped. */
void ns_watch_check(ns_world_t *w)
{
    for (uint32_t i = 0; i < w->opt.nodes && !w->failed; i++) {
        const ns_node_t *n = &w->nodes[i];
        for (size_t a = 0, b; a < n->pub_n && !w->failed; a = b) {
            for (b = a + 1; b < n->pub_n && n->pub[b].epoch == n->pub[a].epoch; b++)
                ;
            const ns_watch_rec_t *first = &n->pub[a], *last = &n->pub[b - 1];
            size_t known = 0;
            for (size_t k = 0; k < w->watch_n; k++) {
                const ns_watch_rec_t *r = &w->watch_ref[k];
                bool after_first =
                    r->rev > first->rev || (r->rev == first->rev && r->seq >= first->seq);
                bool before_last =
                    r->rev < last->rev || (r->rev == last->rev && r->seq <= last->seq);
                known += after_first && before_last;
            }
            if (known != b - a)
                ns_fail(w,
                        "node %u published %zu events from %" PRIu64 ".%u to %" PRIu64
                        ".%u where %zu are known",
                        n->id, b - a, first->rev, first->seq, last->rev, last->seq, known);
        }
    }
}
