/*  watchcheck: see watchcheck.h. */
#include "watchcheck.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "zkv.h"

#define WC_PAUSE_MS 4000
#define WC_DOWN_MS 3000
#define WC_FILL_VALUE 16384
#define WC_FILL_INFLIGHT 16
#define WC_FILL_KEYS 64
/*  Fill values per pause: past what the queues and socket buffers hold
    (the nodes' --watch-queue 100, the watcher's 1,000, some MB in the
    kernel), well within a node's history (64 MiB): the watcher is cut off,
    not compacted away. */
#define WC_FILL_MAX 2500
/*  A watcher behind every node's history (each restarted node's starts at
    its snapshot) starts again from a scan, as a client would; once. */
#define WC_RESTARTS_MAX 1

/*  What the events say a key holds. */
typedef struct {
    uint8_t *value;
    size_t size;
    uint64_t mod, version;
} s_key_t;

struct watchcheck_t {
    target_t *target;
    zkv_watcher_t *watcher;
    zkv_client_t *filler;
    uint8_t fill[WC_FILL_VALUE];
    char fill_keys[WC_FILL_KEYS][16];
    size_t fill_inflight;
    uint64_t fill_n;
    zhashx_t *model; /* key (a string; the run's keys are text) -> s_key_t */
    int64_t pause_at, kill_at;
    uint32_t killed; /* node id down by us, 0: none */
    int64_t killed_at;
    uint64_t events, reconnects, node_changes;
    uint64_t fill_pause; /* fill values of this pause */
    uint64_t restarts;   /* watches started again from a scan (compacted everywhere) */
    uint64_t lenient_to; /* events up to here may repeat what the scan's pages had */
    bool failed;         /* the watcher stopped with an error (reported once) */
};

static void s_key_free(void **item)
{
    s_key_t *k = *item;
    if (k)
        free(k->value);
    free(k);
    *item = NULL;
}

watchcheck_t *watchcheck_new(const fault_options_t *options, target_t *target, char *err,
                             size_t err_size)
{
    watchcheck_t *self = zmalloc(sizeof *self);
    self->target = target;
    self->model = zhashx_new();
    zhashx_set_destructor(self->model, s_key_free);
    self->pause_at = options->duration_ms / 3;
    self->kill_at = 2 * options->duration_ms / 3;
    zkv_watcher_config_t wc = {.curve = target_curve(target),
                               .endpoints = target->endpoints,
                               .range = true,
                               .start_revision = 1};
    self->watcher = zkv_watcher_new(&wc, err, err_size);
    zkv_client_config_t cc = {.endpoints = target->endpoints,
                              .timeout_ms = 10000,
                              .inflight_max = WC_FILL_INFLIGHT,
                              .curve = target_curve(target)};
    self->filler = self->watcher ? zkv_client_new(&cc, err, err_size) : NULL;
    if (!self->filler) {
        watchcheck_destroy(&self);
        return NULL;
    }
    for (size_t i = 0; i < WC_FILL_VALUE; i++)
        self->fill[i] = (uint8_t) ('a' + i % 26);
    for (int i = 0; i < WC_FILL_KEYS; i++)
        snprintf(self->fill_keys[i], sizeof self->fill_keys[i], "fill/%02d", i);
    return self;
}

void watchcheck_destroy(watchcheck_t **self_p)
{
    watchcheck_t *self = *self_p;
    if (!self)
        return;
    zkv_watcher_destroy(&self->watcher);
    zkv_client_destroy(&self->filler);
    zhashx_destroy(&self->model);
    free(self);
    *self_p = NULL;
}

static void s_on_event(void *arg, const Zkv__WatchEvent *e)
{
    watchcheck_t *self = arg;
    char key[128];
    snprintf(key, sizeof key, "%.*s", (int) (e->kv->key.len < 127 ? e->kv->key.len : 127),
             (const char *) e->kv->key.data);
    s_key_t *k = zhashx_lookup(self->model, key);
    self->events++;
    /* After a restart from a scan of several pages (several revisions): the
       events up to its last page's may repeat what a page had. */
    bool lenient = e->revision <= self->lenient_to;
    if (e->type == ZKV__WATCH_EVENT__TYPE__DELETE) {
        if (!k && !lenient)
            fault_error("watch: a delete of %s at %" PRIu64 " that no event created", key,
                        e->revision);
        zhashx_delete(self->model, key);
        return;
    }
    uint64_t version = k ? k->version + 1 : 1;
    if (e->kv->version != version && !lenient)
        fault_error("watch: %s at %" PRIu64 ".%u has version %" PRIu64 ", its events say %" PRIu64,
                    key, e->revision, e->seq, e->kv->version, version);
    if (!k) {
        k = zmalloc(sizeof *k);
        zhashx_insert(self->model, key, k);
    }
    free(k->value);
    k->size = e->kv->value.len;
    k->value = malloc(k->size ? k->size : 1);
    memcpy(k->value, e->kv->value.data, k->size);
    k->mod = e->revision;
    k->version = e->kv->version;
}

static void s_on_note(void *arg, const char *note)
{
    watchcheck_t *self = arg;
    fault_log("%s", note);
    self->reconnects += strstr(note, "reconnected") != NULL;
    self->node_changes += strstr(note, "next node") != NULL;
}

static void s_fill_done(void *arg, int rc, const Zkv__Response *reply)
{
    (void) rc;
    (void) reply;
    watchcheck_t *self = arg;
    self->fill_inflight--;
}

/*  While the watcher is paused: big values, to fill its queue. */
static void s_fill(watchcheck_t *self)
{
    while (self->fill_inflight < WC_FILL_INFLIGHT && self->fill_pause < WC_FILL_MAX) {
        const char *key = self->fill_keys[self->fill_n++ % WC_FILL_KEYS];
        zkv_op_t op = {.type = ZKV_OP_PUT,
                       .key = {(const uint8_t *) key, strlen(key)},
                       .value = {self->fill, WC_FILL_VALUE}};
        if (zkv_client_submit(self->filler, &op, s_fill_done, self) != 0)
            return;
        self->fill_inflight++;
        self->fill_pause++;
    }
}

/*  Kill the node the watcher follows; start it again after WC_DOWN_MS. */
static void s_kill_its_node(watchcheck_t *self, int64_t elapsed_ms)
{
    if (!self->killed && self->kill_at && elapsed_ms >= self->kill_at) {
        uint32_t id = (uint32_t) zkv_watcher_node(self->watcher) + 1;
        self->kill_at = 0;
        if (self->target->state[id] == TARGET_NODE_UP && self->target->ops->settled(self->target) &&
            self->target->ops->kill(self->target, id) == 0) {
            fault_log("watch: node %u, the watcher's, killed", id);
            self->killed = id;
            self->killed_at = elapsed_ms;
        }
    }
    if (self->killed && elapsed_ms >= self->killed_at + WC_DOWN_MS &&
        self->target->ops->settled(self->target)) {
        if (self->target->state[self->killed] == TARGET_NODE_DOWN)
            self->target->ops->start(self->target, self->killed);
        self->killed = 0;
    }
}

static int s_scan_into_model(watchcheck_t *self, uint64_t *revision, uint64_t *last);

/*  Every node's history starts after the watcher's position: take the state
    from a linearizable scan and watch from the revision after it. */
static int s_restart(watchcheck_t *self)
{
    uint64_t revision = 0;
    if (s_scan_into_model(self, &revision, &self->lenient_to) != 0)
        return -1;
    zkv_watcher_destroy(&self->watcher);
    zkv_watcher_config_t wc = {.endpoints = self->target->endpoints,
                               .range = true,
                               .start_revision = revision + 1,
                               .curve = target_curve(self->target)};
    char err[256];
    self->watcher = zkv_watcher_new(&wc, err, sizeof err);
    if (!self->watcher)
        return -1;
    self->restarts++;
    fault_log("watch: behind every node's history: started again from a scan at revision %" PRIu64
              " (%zu keys)",
              revision, zhashx_size(self->model));
    return 0;
}

void watchcheck_step(watchcheck_t *self, int64_t elapsed_ms)
{
    bool paused = elapsed_ms >= self->pause_at && elapsed_ms < self->pause_at + WC_PAUSE_MS;
    if (paused)
        s_fill(self);
    zkv_client_dispatch(self->filler);
    int rc =
        paused || self->failed ? 0 : zkv_watcher_run(self->watcher, 1, s_on_event, s_on_note, self);
    if (rc == ZKV_ECOMPACTED && self->restarts < WC_RESTARTS_MAX)
        rc = s_restart(self);
    if (rc != 0) {
        fault_error("watch: %s", zkv_watcher_error(self->watcher));
        self->failed = true;
    }
    s_kill_its_node(self, elapsed_ms);
}

size_t watchcheck_pollitems(watchcheck_t *self, zmq_pollitem_t *items, size_t capacity)
{
    return zkv_client_pollitems(self->filler, items, capacity);
}

int64_t watchcheck_wait_ms(watchcheck_t *self)
{
    return zkv_client_wait_ms(self->filler);
}

/*  Whether the model equals every key a linearizable scan (a page at a
    time) returns; *why says the first difference. -1: the scan failed. */
static int s_compare(watchcheck_t *self, char *why, size_t size)
{
    uint8_t start[ZKV_KEY_SIZE_MAX + 1];
    size_t start_size = 0, seen = 0;
    for (;;) {
        zkv_op_t op = {.type = ZKV_OP_SCAN, .start = {start, start_size}};
        const Zkv__Response *r;
        int rc = zkv_client_call(self->filler, &op, &r);
        if (rc || r->status != ZKV__STATUS__OK)
            return -1;
        for (size_t i = 0; i < r->n_kvs; i++) {
            const Zkv__KeyValue *kv = r->kvs[i];
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int) (kv->key.len < 127 ? kv->key.len : 127),
                     (const char *) kv->key.data);
            const s_key_t *k = zhashx_lookup(self->model, key);
            if (!k || k->size != kv->value.len || memcmp(k->value, kv->value.data, k->size) ||
                k->mod != kv->mod_revision || k->version != kv->version) {
                snprintf(why, size, "%s: scan mod %" PRIu64 " version %" PRIu64 ", events %s", key,
                         kv->mod_revision, kv->version, k ? "differ" : "lack it");
                return 1;
            }
            seen++;
        }
        if (!r->more || r->n_kvs == 0)
            break;
        const ProtobufCBinaryData *last = &r->kvs[r->n_kvs - 1]->key;
        memcpy(start, last->data, last->len);
        start_size = last->len;
        start[start_size++] = 0;
    }
    if (seen != zhashx_size(self->model)) {
        snprintf(why, size, "the scan has %zu keys, the events %zu", seen,
                 zhashx_size(self->model));
        return 1;
    }
    return 0;
}

int watchcheck_final(watchcheck_t *self, int64_t timeout_ms)
{
    if (self->failed)
        return -1; /* said already */
    char why[256] = "";
    int64_t end = fault_now_ms() + timeout_ms;
    int rc;
    while ((rc = s_compare(self, why, sizeof why)) != 0 && fault_now_ms() < end)
        if (zkv_watcher_run(self->watcher, 500, s_on_event, s_on_note, self) != 0)
            break;
    if (rc != 0)
        fault_error("watch: the events never built the scanned state: %s",
                    rc < 0 ? "the scan failed" : why);
    fault_log("watch: %" PRIu64 " events built %zu keys%s; %" PRIu64 " reconnections, %" PRIu64
              " node changes, %" PRIu64 " restarts from a scan",
              self->events, zhashx_size(self->model), rc == 0 ? ", the scanned state" : "",
              self->reconnects, self->node_changes, self->restarts);
    return rc == 0 ? 0 : -1;
}

/*  The model made again from a linearizable scan of every key (a page at a
    time); *revision: the first page's, *last: the last one's. 0, or -1 when
    the scan failed. */
static int s_scan_into_model(watchcheck_t *self, uint64_t *revision, uint64_t *last_revision)
{
    uint8_t start[ZKV_KEY_SIZE_MAX + 1];
    size_t start_size = 0;
    zhashx_purge(self->model);
    *revision = 0;
    for (;;) {
        zkv_op_t op = {.type = ZKV_OP_SCAN, .start = {start, start_size}};
        const Zkv__Response *r;
        if (zkv_client_call(self->filler, &op, &r) != 0 || r->status != ZKV__STATUS__OK)
            return -1;
        if (!*revision)
            *revision = r->revision;
        *last_revision = r->revision;
        for (size_t i = 0; i < r->n_kvs; i++) {
            const Zkv__KeyValue *kv = r->kvs[i];
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int) (kv->key.len < 127 ? kv->key.len : 127),
                     (const char *) kv->key.data);
            s_key_t *k = zmalloc(sizeof *k);
            k->size = kv->value.len;
            k->value = malloc(k->size ? k->size : 1);
            memcpy(k->value, kv->value.data, k->size);
            k->mod = kv->mod_revision;
            k->version = kv->version;
            zhashx_update(self->model, key, k);
        }
        if (!r->more || r->n_kvs == 0)
            return 0;
        const ProtobufCBinaryData *last = &r->kvs[r->n_kvs - 1]->key;
        memcpy(start, last->data, last->len);
        start_size = last->len;
        start[start_size++] = 0;
    }
}
