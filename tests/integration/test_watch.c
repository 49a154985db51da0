/*  integration_watch: a watcher sees every change once and in order, through
    the failure of its node and a pause past its queue.

    A 3-node cluster (watch queue of 50 messages) takes puts of 2 KiB values,
    deletes, range deletes and transactions on 64 keys, 64 in flight, for
    14 s (longer if the cut-off comes late). A watcher of the prefix follows it from revision 1 in
   the same thread: its node is killed at 3 s and started again at 6 s (it goes on at another node),
   and it stops reading at 8 s until a node's metrics count a cut-off (its node holds the stream up,
   then cuts it off: it catches up when it reads again; how long that takes depends on the write
   rate and the socket buffers, so the test waits for it rather than guess). Every event is checked
   against the state the events before it built (a put's version one more than the key's, its create
   revision kept, a delete of a key that exists); at the end that state equals a linearizable scan
   at the revision of the last write, every key with its value and metadata. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "http_get.h"
#include "zkv.h"

#define KEYS 64
#define INFLIGHT 64
#define VALUE_SIZE 2048
#define RUN_MS 14000
#define KILL_AT_MS 3000
#define BACK_AT_MS 6000
#define PAUSE_FROM_MS 8000
#define PAUSE_MAX_MS 30000 /* the node must cut the paused watcher off within this */
#define AFTER_PAUSE_MS 3000
#define SCRAPE_EVERY_MS 250

typedef struct {
    bool present;
    uint64_t create, mod, version;
    uint8_t value[VALUE_SIZE];
    size_t size;
} s_key_t;

/*  One write in flight: everything it borrows to the client lives here. */
typedef struct slot {
    struct s_test *t;
    bool busy;
    char keys[3][16];
    uint8_t value[VALUE_SIZE];
    Zkv__TxnRequest txn;
    Zkv__TxnOp ops[3], *op_ptrs[3];
    Zkv__PutRequest puts[2];
    Zkv__DeleteRequest del;
} s_slot_t;

typedef struct s_test {
    s_key_t model[KEYS];
    uint64_t events, last_revision;
    uint64_t reconnects, node_changes;
    uint64_t writes, max_index;
    uint64_t rng;
    s_slot_t slots[INFLIGHT];
} s_test_t;

static uint64_t s_rand(s_test_t *t, uint64_t n)
{
    t->rng = t->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (t->rng >> 33) % n;
}

static int s_key_index(const ProtobufCBinaryData *key)
{
    CHECK(key->len == 4 && memcmp(key->data, "w/", 2) == 0, "an event of another key");
    int i = (key->data[2] - '0') * 10 + (key->data[3] - '0');
    CHECK(i >= 0 && i < KEYS, "an event of another key");
    return i;
}

static void s_on_event(void *arg, const Zkv__WatchEvent *e)
{
    s_test_t *t = arg;
    CHECK(e->revision >= t->last_revision, "event %" PRIu64 " after %" PRIu64, e->revision,
          t->last_revision);
    t->last_revision = e->revision;
    t->events++;
    s_key_t *k = &t->model[s_key_index(&e->kv->key)];
    if (e->type == ZKV__WATCH_EVENT__TYPE__DELETE) {
        CHECK(k->present, "a delete at %" PRIu64 " of a key the events say is absent", e->revision);
        k->present = false;
        return;
    }
    uint64_t version = k->present ? k->version + 1 : 1;
    CHECK(e->kv->version == version,
          "put at %" PRIu64 ".%u: version %" PRIu64 ", want %" PRIu64
          " (an event missed or seen twice)",
          e->revision, e->seq, e->kv->version, version);
    CHECK(e->kv->create_revision == (k->present ? k->create : e->revision) &&
              e->kv->mod_revision == e->revision,
          "put at %" PRIu64 ": create %" PRIu64 " mod %" PRIu64, e->revision,
          e->kv->create_revision, e->kv->mod_revision);
    CHECK(e->kv->value.len <= VALUE_SIZE, "value of %zu bytes", e->kv->value.len);
    *k = (s_key_t){true, e->kv->create_revision, e->revision, version, {0}, e->kv->value.len};
    memcpy(k->value, e->kv->value.data, e->kv->value.len);
}

static void s_on_note(void *arg, const char *note)
{
    s_test_t *t = arg;
    h_note("%s", note);
    t->reconnects += strstr(note, "reconnected") != NULL;
    t->node_changes += strstr(note, "next node") != NULL;
}

/* ---------------------------------------------------------------- writes */

static void s_done(void *arg, int rc, const Zkv__Response *reply)
{
    s_slot_t *slot = arg;
    slot->busy = false;
    if (rc == 0 && reply->status == ZKV__STATUS__OK) {
        slot->t->writes++;
        if (reply->revision > slot->t->max_index)
            slot->t->max_index = reply->revision;
    }
}

static zkv_bytes_t s_key(s_slot_t *slot, int k, int i)
{
    snprintf(slot->keys[k], sizeof slot->keys[k], "w/%02d", i);
    return (zkv_bytes_t){(const uint8_t *) slot->keys[k], 4};
}

static ProtobufCBinaryData s_bin(zkv_bytes_t b)
{
    return (ProtobufCBinaryData){b.size, (uint8_t *) b.data};
}

/*  Puts of two keys and the delete of a third, in one entry. */
static void s_txn(s_test_t *t, s_slot_t *slot, zkv_op_t *op)
{
    int a = (int) s_rand(t, KEYS), b = (a + 1 + (int) s_rand(t, KEYS - 2)) % KEYS;
    int c = (b + 1) % KEYS == a ? (b + 2) % KEYS : (b + 1) % KEYS;
    zkv__txn_request__init(&slot->txn);
    for (int i = 0; i < 2; i++) {
        zkv__put_request__init(&slot->puts[i]);
        slot->puts[i].key = s_bin(s_key(slot, i, i ? b : a));
        slot->puts[i].value = (ProtobufCBinaryData){1 + s_rand(t, VALUE_SIZE), slot->value};
        zkv__txn_op__init(&slot->ops[i]);
        slot->ops[i].op_case = ZKV__TXN_OP__OP_PUT;
        slot->ops[i].put = &slot->puts[i];
    }
    zkv__delete_request__init(&slot->del);
    slot->del.key = s_bin(s_key(slot, 2, c));
    zkv__txn_op__init(&slot->ops[2]);
    slot->ops[2].op_case = ZKV__TXN_OP__OP_DELETE;
    slot->ops[2].delete_ = &slot->del;
    for (int i = 0; i < 3; i++)
        slot->op_ptrs[i] = &slot->ops[i];
    slot->txn.n_success = 3;
    slot->txn.success = slot->op_ptrs;
    *op = (zkv_op_t){.type = ZKV_OP_TXN, .txn = &slot->txn};
}

static void s_write(s_test_t *t, zkv_client_t *client, s_slot_t *slot)
{
    for (size_t i = 0; i < VALUE_SIZE; i += 8)
        memcpy(slot->value + i, &(uint64_t){s_rand(t, UINT64_MAX)}, 8);
    uint64_t dice = s_rand(t, 100);
    int i = (int) s_rand(t, KEYS);
    zkv_op_t op = {.type = ZKV_OP_PUT, .key = s_key(slot, 0, i)};
    if (dice < 60)
        op.value = (zkv_bytes_t){slot->value, 1 + s_rand(t, VALUE_SIZE)};
    else if (dice < 78)
        op.type = ZKV_OP_DELETE;
    else if (dice < 95)
        s_txn(t, slot, &op);
    else
        op = (zkv_op_t){.type = ZKV_OP_DELETE,
                        .key = s_key(slot, 0, i),
                        .range = true,
                        .end = s_key(slot, 1, i + 3 < KEYS ? i + 3 : KEYS - 1)};
    slot->t = t;
    if (zkv_client_submit(client, &op, s_done, slot) == 0)
        slot->busy = true;
}

static void s_fill(s_test_t *t, zkv_client_t *client)
{
    for (size_t i = 0; i < INFLIGHT; i++)
        if (!t->slots[i].busy)
            s_write(t, client, &t->slots[i]);
}

/* ---------------------------------------------------------------- the run */

/*  The cut-offs all nodes' metrics count (a node that does not answer: 0). */
static uint64_t s_cut_offs(zkv_cluster_t *cluster)
{
    static const char name[] = "\nzkv_watch_cut_offs_total ";
    uint64_t sum = 0;
    for (uint32_t id = 1; id <= 3; id++) {
        char *body = NULL;
        int code = http_get(zkv_cluster_ports(cluster, id).metrics, "/metrics", 1000, &body);
        const char *at = code == 200 ? strstr(body, name) : NULL;
        if (at)
            sum += strtoull(at + sizeof name - 1, NULL, 10);
        free(body);
    }
    return sum;
}

/*  Not reading from PAUSE_FROM_MS until a node counts one more cut-off. */
typedef struct {
    int64_t from, to, scraped;
    uint64_t cut_offs;
} s_pause_t;

static bool s_paused(s_pause_t *p, zkv_cluster_t *cluster, int64_t now)
{
    if (p->to || now < PAUSE_FROM_MS)
        return false;
    if (!p->from) {
        p->from = now;
        p->cut_offs = s_cut_offs(cluster);
        h_note("the watcher stops reading (%" PRIu64 " cut-offs so far)", p->cut_offs);
    }
    if (now - p->scraped < SCRAPE_EVERY_MS)
        return true;
    p->scraped = now;
    if (s_cut_offs(cluster) <= p->cut_offs) {
        CHECK(now - p->from < PAUSE_MAX_MS, "no node cut the paused watcher off in %d ms",
              PAUSE_MAX_MS);
        return true;
    }
    p->to = now;
    h_note("a node cut the watcher off after %" PRId64 " ms; it reads again", now - p->from);
    return false;
}

/*  Writes and watches for RUN_MS and AFTER_PAUSE_MS past the pause; the
    faults at their times. */
static void s_run(s_test_t *t, zkv_cluster_t *cluster, zkv_client_t *client, zkv_watcher_t *w)
{
    int64_t start = h_now_ms();
    bool killed = false, back = false;
    s_pause_t pause = {0};
    for (int64_t now = 0; now < RUN_MS || !pause.to || now < pause.to + AFTER_PAUSE_MS;
         now = h_now_ms() - start) {
        s_fill(t, client);
        zkv_client_poll(client, 5);
        if (!s_paused(&pause, cluster, now))
            CHECK(zkv_watcher_run(w, 5, s_on_event, s_on_note, t) == 0, "watch: %s",
                  zkv_watcher_error(w));
        if (!killed && now >= KILL_AT_MS) {
            killed = true;
            CHECK(zkv_cluster_kill(cluster, 1) == 0, "kill node 1");
            h_note("node 1 (the watcher's) killed; %" PRIu64 " events so far", t->events);
        }
        if (!back && now >= BACK_AT_MS) {
            back = true;
            CHECK(zkv_cluster_start(cluster, 1) == 0, "start node 1");
            h_note("node 1 started again");
        }
    }
    for (int64_t end = h_now_ms() + H_CATCH_UP_MS; h_now_ms() < end;) {
        bool busy = false;
        for (size_t i = 0; i < INFLIGHT; i++)
            busy |= t->slots[i].busy;
        if (!busy)
            break;
        zkv_client_poll(client, 10);
    }
    h_note("%" PRIu64 " writes acknowledged (last index %" PRIu64 "), %" PRIu64 " events",
           t->writes, t->max_index, t->events);
}

/*  The state the events built equals every key a scan returns. */
static bool s_matches(const s_test_t *t, const Zkv__Response *scan, char *why, size_t size)
{
    size_t n = 0;
    for (int i = 0; i < KEYS; i++) {
        const s_key_t *k = &t->model[i];
        if (!k->present)
            continue;
        const Zkv__KeyValue *kv = n < scan->n_kvs ? scan->kvs[n] : NULL;
        char key[8];
        snprintf(key, sizeof key, "w/%02d", i);
        if (!kv || kv->key.len != 4 || memcmp(kv->key.data, key, 4) != 0) {
            snprintf(why, size, "%s: the events have it, the scan %s", key,
                     kv ? "has another key there" : "ends before it");
            return false;
        }
        if (kv->value.len != k->size || memcmp(kv->value.data, k->value, k->size) != 0 ||
            kv->create_revision != k->create || kv->mod_revision != k->mod ||
            kv->version != k->version) {
            snprintf(why, size,
                     "%s: scan mod %" PRIu64 " version %" PRIu64 ", events mod %" PRIu64
                     " version %" PRIu64,
                     key, kv->mod_revision, kv->version, k->mod, k->version);
            return false;
        }
        n++;
    }
    if (n != scan->n_kvs)
        snprintf(why, size, "the scan has %zu keys, the events %zu", scan->n_kvs, n);
    return n == scan->n_kvs;
}

static void s_compare(s_test_t *t, zkv_client_t *client, zkv_watcher_t *w)
{
    zkv_op_t op = {.type = ZKV_OP_SCAN, .prefix = {(const uint8_t *) "w/", 2}};
    const Zkv__Response *scan;
    int rc = zkv_client_call(client, &op, &scan);
    CHECK(rc == 0 && scan->status == ZKV__STATUS__OK && !scan->more, "scan: %s",
          rc ? zkv_client_strerror(rc) : zkv_client_status_name(scan->status));
    CHECK(scan->revision >= t->max_index, "scan at %" PRIu64 " before the last write %" PRIu64,
          scan->revision, t->max_index);
    char why[256] = "";
    for (int64_t end = h_now_ms() + H_CATCH_UP_MS; !s_matches(t, scan, why, sizeof why);) {
        CHECK(h_now_ms() < end, "the events never built the scanned state: %s", why);
        CHECK(zkv_watcher_run(w, 200, s_on_event, s_on_note, t) == 0, "watch: %s",
              zkv_watcher_error(w));
    }
    h_note("the events built the scanned state at %" PRIu64 ": %zu keys", scan->revision,
           scan->n_kvs);
}

int main(void)
{
    const char *args[] = {"--watch-queue", "50", NULL};
    zkv_cluster_config_t config = {.name = "watch", .args = args};
    uint32_t leader;
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    zkv_client_t *client = h_client(cluster, leader, 10000, INFLIGHT);
    char endpoints[1024];
    snprintf(endpoints, sizeof endpoints, "%s,%s,%s", zkv_cluster_client_endpoint(cluster, 1),
             zkv_cluster_client_endpoint(cluster, 2), zkv_cluster_client_endpoint(cluster, 3));
    zkv_watcher_config_t wc = {.endpoints = endpoints,
                               .key = {(const uint8_t *) "w/", 2},
                               .end = {(const uint8_t *) "w0", 2},
                               .range = true,
                               .start_revision = 1,
                               .curve = zkv_cluster_curve(cluster)};
    char err[256];
    zkv_watcher_t *w = zkv_watcher_new(&wc, err, sizeof err);
    CHECK(w, "watcher: %s", err);
    s_test_t *t = calloc(1, sizeof *t);
    t->rng = (uint64_t) h_now_ms() | 1;
    s_run(t, cluster, client, w);
    s_compare(t, client, w);
    CHECK(t->node_changes >= 1, "the watcher never went on at another node");
    CHECK(t->reconnects >= 1, "the watcher was never cut off (paused past its queue)");
    h_note("%" PRIu64 " node changes, %" PRIu64 " reconnections", t->node_changes, t->reconnects);
    zkv_watcher_destroy(&w);
    zkv_client_destroy(&client);
    free(t);
    h_cluster_finish(&cluster);
    return 0;
}
