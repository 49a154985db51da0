/*  fake_node: a stand-in for zkvd's client face, to test the zkv command end to
    end before the real node exists. One process, no Raft: a ROUTER that
    answers Requests from a sorted in-memory table, and a PUB that publishes a
    TraceEvent ("client <id>") for every request it answers.

    A follower answers writes and linearizable reads with NOT_LEADER and the
    leader's endpoint, as the node will. Scans stop at --page-max keys with
    more=true, to exercise the client's paging. Status lists this node and the
    --member entries.

    Usage: fake_node [--id N] [--follower LEADER_ENDPOINT] [--page-max N]
                     [--member ID=ENDPOINT]...
    Prints "client=<endpoint> trace=<endpoint>" on stdout once bound, then
    serves until SIGTERM or SIGINT. */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "zkv.pb-c.h"

#define MEMBERS_MAX 8

typedef struct {
    uint8_t *key;
    size_t key_size;
    uint8_t *value;
    size_t value_size;
} entry_t;

typedef struct {
    uint32_t id;
    const char *leader; /* set on a follower */
    uint32_t page_max;
    uint32_t member_ids[MEMBERS_MAX];
    const char *member_endpoints[MEMBERS_MAX];
    size_t members;
    zsock_t *router;
    zsock_t *pub;
    char endpoint[256];
    entry_t *entries;
    size_t count;
    size_t capacity;
    uint64_t revision;
    uint8_t *scratch; /* freed once the reply is sent */
} node_t;

/* ---------------------------------------------------------------- table */

static int s_compare(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t common = an < bn ? an : bn;
    int c = common ? memcmp(a, b, common) : 0; /* empty bytes may have NULL data */
    return c ? c : (an > bn) - (an < bn);
}

/*  Index of the first entry >= key. */
static size_t s_lower(const node_t *n, const uint8_t *key, size_t size)
{
    size_t lo = 0, hi = n->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s_compare(n->entries[mid].key, n->entries[mid].key_size, key, size) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static entry_t *s_find(node_t *n, ProtobufCBinaryData key)
{
    size_t at = s_lower(n, key.data, key.len);
    if (at < n->count &&
        s_compare(n->entries[at].key, n->entries[at].key_size, key.data, key.len) == 0)
        return &n->entries[at];
    return NULL;
}

static uint8_t *s_dup(ProtobufCBinaryData bin)
{
    uint8_t *copy = malloc(bin.len ? bin.len : 1);
    if (bin.len)
        memcpy(copy, bin.data, bin.len);
    return copy;
}

static void s_set(node_t *n, ProtobufCBinaryData key, ProtobufCBinaryData value)
{
    entry_t *e = s_find(n, key);
    if (!e) {
        if (n->count == n->capacity) {
            n->capacity = n->capacity ? n->capacity * 2 : 64;
            n->entries = realloc(n->entries, n->capacity * sizeof *n->entries);
        }
        size_t at = s_lower(n, key.data, key.len);
        memmove(n->entries + at + 1, n->entries + at, (n->count - at) * sizeof *n->entries);
        n->count++;
        e = &n->entries[at];
        e->key = s_dup(key);
        e->key_size = key.len;
    } else {
        free(e->value);
    }
    e->value = s_dup(value);
    e->value_size = value.len;
}

static void s_remove(node_t *n, entry_t *e)
{
    free(e->key);
    free(e->value);
    size_t at = (size_t) (e - n->entries);
    memmove(e, e + 1, (n->count - at - 1) * sizeof *e);
    n->count--;
}

/* ---------------------------------------------------------------- requests */

static ProtobufCBinaryData s_bin(const entry_t *e)
{
    ProtobufCBinaryData bin = {e->value_size, e->value};
    return bin;
}

static void s_put(node_t *n, const Zkv__PutRequest *put, Zkv__Response *r)
{
    entry_t *e = s_find(n, put->key);
    r->found = e != NULL;
    if (e && put->return_previous) {
        /* s_set frees the old value; the reply keeps a copy until it is sent. */
        ProtobufCBinaryData previous = s_bin(e);
        n->scratch = s_dup(previous);
        r->value.data = n->scratch;
        r->value.len = previous.len;
    }
    s_set(n, put->key, put->value);
    r->revision = ++n->revision;
    r->status = ZKV__STATUS__OK;
}

static void s_cas(node_t *n, const Zkv__CasRequest *cas, Zkv__Response *r)
{
    entry_t *e = s_find(n, cas->key);
    bool ok = cas->expect_absent ? e == NULL
                                 : e && s_compare(e->value, e->value_size, cas->expected.data,
                                                  cas->expected.len) == 0;
    r->status = ok ? ZKV__STATUS__OK : ZKV__STATUS__CAS_FAILED;
    if (ok)
        s_set(n, cas->key, cas->value);
    r->revision = ok ? ++n->revision : n->revision;
}

static bool s_in_scan(const Zkv__ScanRequest *s, const entry_t *e)
{
    if (s->prefix.len)
        return e->key_size >= s->prefix.len && memcmp(e->key, s->prefix.data, s->prefix.len) == 0;
    if (s_compare(e->key, e->key_size, s->start.data, s->start.len) < 0)
        return false;
    return s->end.len == 0 || s_compare(e->key, e->key_size, s->end.data, s->end.len) < 0;
}

static void s_scan(node_t *n, const Zkv__ScanRequest *s, Zkv__Response *r)
{
    uint32_t limit = s->limit && s->limit < n->page_max ? s->limit : n->page_max;
    r->kvs = calloc(limit + 1, sizeof *r->kvs);
    for (size_t i = 0; i < n->count; i++) {
        const entry_t *e = &n->entries[s->reverse ? n->count - 1 - i : i];
        if (!s_in_scan(s, e))
            continue;
        if (r->n_kvs == limit) {
            r->more = true;
            break;
        }
        Zkv__KeyValue *kv = malloc(sizeof *kv);
        zkv__key_value__init(kv);
        kv->key.data = e->key;
        kv->key.len = e->key_size;
        if (!s->keys_only)
            kv->value = s_bin(e);
        r->kvs[r->n_kvs++] = kv;
    }
    r->status = ZKV__STATUS__OK;
    r->revision = n->revision;
}

static void s_status(node_t *n, Zkv__Response *r, Zkv__MemberStatus *self,
                     Zkv__MemberStatus *others, Zkv__MemberStatus **list)
{
    self->id = n->id;
    self->client_endpoint = n->endpoint;
    self->role = n->leader ? "follower" : "leader";
    self->term = 3;
    self->commit_index = self->applied_index = n->revision;
    self->leader_id = n->leader ? 0 : n->id;
    self->keys = n->count;
    r->member = self;
    list[0] = self;
    for (size_t i = 0; i < n->members; i++) {
        zkv__member_status__init(&others[i]);
        others[i].id = n->member_ids[i];
        others[i].client_endpoint = (char *) n->member_endpoints[i];
        list[i + 1] = &others[i];
    }
    r->members = list;
    r->n_members = n->members + 1;
    r->status = ZKV__STATUS__OK;
}

static bool s_needs_leader(const Zkv__Request *q)
{
    switch (q->body_case) {
    case ZKV__REQUEST__BODY_PUT:
    case ZKV__REQUEST__BODY_DELETE:
    case ZKV__REQUEST__BODY_CAS:
    case ZKV__REQUEST__BODY_OPEN_SESSION:
    case ZKV__REQUEST__BODY_CLOSE_SESSION: return true;
    case ZKV__REQUEST__BODY_GET: return q->get->consistency == ZKV__CONSISTENCY__LINEARIZABLE;
    case ZKV__REQUEST__BODY_SCAN: return q->scan->consistency == ZKV__CONSISTENCY__LINEARIZABLE;
    default: return false;
    }
}

static void s_handle(node_t *n, const Zkv__Request *q, Zkv__Response *r)
{
    entry_t *e;
    if (n->leader && s_needs_leader(q)) {
        r->status = ZKV__STATUS__NOT_LEADER;
        r->leader_endpoint = (char *) n->leader;
        return;
    }
    switch (q->body_case) {
    case ZKV__REQUEST__BODY_GET:
        e = s_find(n, q->get->key);
        r->status = e ? ZKV__STATUS__OK : ZKV__STATUS__NOT_FOUND;
        r->found = e != NULL;
        if (e)
            r->value = s_bin(e);
        r->revision = n->revision;
        break;
    case ZKV__REQUEST__BODY_PUT: s_put(n, q->put, r); break;
    case ZKV__REQUEST__BODY_DELETE:
        e = s_find(n, q->delete_->key);
        r->status = e ? ZKV__STATUS__OK : ZKV__STATUS__NOT_FOUND;
        r->found = e != NULL;
        if (e) {
            s_remove(n, e);
            r->revision = ++n->revision;
        }
        break;
    case ZKV__REQUEST__BODY_CAS: s_cas(n, q->cas, r); break;
    case ZKV__REQUEST__BODY_SCAN: s_scan(n, q->scan, r); break;
    case ZKV__REQUEST__BODY_OPEN_SESSION:
    case ZKV__REQUEST__BODY_CLOSE_SESSION: r->status = ZKV__STATUS__OK; break;
    default: r->status = ZKV__STATUS__BAD_REQUEST; r->error = "unknown request";
    }
}

static void s_trace(node_t *n, const Zkv__Response *r, int64_t started_us)
{
    Zkv__TraceEvent event;
    zkv__trace_event__init(&event);
    event.node = n->id;
    event.time_ns = (uint64_t) zclock_time() * 1000000;
    event.kind = "client";
    event.index = r->revision;
    event.term = 3;
    event.latency_us = (uint64_t) (zclock_usecs() - started_us) + 1;
    char detail[64];
    snprintf(detail, sizeof detail, "status=%s", r->status == ZKV__STATUS__OK ? "ok" : "other");
    event.detail = detail;
    zframe_t *body = zframe_new(NULL, zkv__trace_event__get_packed_size(&event));
    zkv__trace_event__pack(&event, zframe_data(body));
    zstr_sendfm(n->pub, "client %u", n->id);
    zframe_send(&body, n->pub, 0);
}

static void s_reply(node_t *n, zframe_t **identity, Zkv__Response *r)
{
    zframe_t *body = zframe_new(NULL, zkv__response__get_packed_size(r));
    zkv__response__pack(r, zframe_data(body));
    zframe_send(identity, n->router, ZFRAME_MORE);
    zframe_send(&body, n->router, 0);
}

static void s_on_request(node_t *n)
{
    int64_t started = zclock_usecs();
    zmsg_t *msg = zmsg_recv(n->router);
    if (!msg)
        return;
    zframe_t *identity = zmsg_pop(msg);
    zframe_t *frame = zmsg_pop(msg);
    Zkv__Request *q =
        frame ? zkv__request__unpack(NULL, zframe_size(frame), zframe_data(frame)) : NULL;
    Zkv__Response r;
    zkv__response__init(&r);
    Zkv__MemberStatus self, others[MEMBERS_MAX], *list[MEMBERS_MAX + 1];
    zkv__member_status__init(&self);
    if (!q) {
        r.status = ZKV__STATUS__BAD_REQUEST;
        r.error = "malformed request";
    } else {
        r.client_id = q->client_id;
        r.sequence = q->sequence;
        r.request_id = q->request_id;
        if (q->body_case == ZKV__REQUEST__BODY_STATUS)
            s_status(n, &r, &self, others, list);
        else
            s_handle(n, q, &r);
    }
    s_reply(n, &identity, &r);
    s_trace(n, &r, started);
    for (size_t i = 0; i < r.n_kvs; i++)
        free(r.kvs[i]);
    free(r.kvs);
    free(n->scratch);
    n->scratch = NULL;
    zkv__request__free_unpacked(q, NULL);
    zframe_destroy(&identity);
    zframe_destroy(&frame);
    zmsg_destroy(&msg);
}

/* ---------------------------------------------------------------- main */

static int s_args(node_t *n, int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--id") == 0)
            n->id = (uint32_t) atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--follower") == 0)
            n->leader = argv[i + 1];
        else if (strcmp(argv[i], "--page-max") == 0)
            n->page_max = (uint32_t) atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--member") == 0 && n->members < MEMBERS_MAX &&
                 strchr(argv[i + 1], '=')) {
            n->member_ids[n->members] = (uint32_t) atoi(argv[i + 1]);
            n->member_endpoints[n->members++] = strchr(argv[i + 1], '=') + 1;
        } else
            return -1;
    }
    return argc % 2 == 1 && n->page_max > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    node_t n = {.id = 1, .page_max = 1000};
    if (s_args(&n, argc, argv)) {
        fprintf(stderr, "usage: fake_node [--id N] [--follower ENDPOINT] [--page-max N] "
                        "[--member ID=ENDPOINT]...\n");
        return 2;
    }
    zsys_set_logstream(stderr);
    n.router = zsock_new(ZMQ_ROUTER);
    n.pub = zsock_new(ZMQ_PUB);
    int port = zsock_bind(n.router, "tcp://127.0.0.1:*");
    int trace_port = zsock_bind(n.pub, "tcp://127.0.0.1:*");
    if (port < 0 || trace_port < 0)
        return 1;
    snprintf(n.endpoint, sizeof n.endpoint, "tcp://127.0.0.1:%d", port);
    printf("client=%s trace=tcp://127.0.0.1:%d\n", n.endpoint, trace_port);
    fflush(stdout);
    zpoller_t *poller = zpoller_new(n.router, NULL);
    while (zpoller_wait(poller, -1) == n.router)
        s_on_request(&n);
    zpoller_destroy(&poller);
    zsock_destroy(&n.router);
    zsock_destroy(&n.pub);
    while (n.count > 0)
        s_remove(&n, &n.entries[n.count - 1]);
    free(n.entries);
    return 0;
}
