/*  fake_node: a stand-in for zkvd's client face, to test the zkv command end to
    end before the real node exists. One process, no Raft: a ROUTER that
    answers Requests from a sorted in-memory table, and a PUB that publishes a
    TraceEvent ("client <id>") for every request it answers.

    A follower answers writes, linearizable reads and membership changes with
    NOT_LEADER and the leader's endpoint, as the node will. Scans stop at
    --page-max keys with more=true, to exercise the client's paging. Status
    lists this node and the --member entries.

    Membership: cluster 1234abcd5678ef00 of voters 1, 2 and 3 (host 127.0.0.1,
    ports 720N, 730N and 710N) at config index 7, which member add, promote and
    remove change as the leader would, each refusing what the cluster's state
    forbids with FAILED_PRECONDITION; move-leader to a voter answers OK and
    changes nothing. A membership request with a client id or sequence is a
    BAD_REQUEST: it belongs to no session. --config replaces that membership
    (ID=self: this node's own endpoint), so that zkv check finds fake nodes.

    A digest is --digest (hex) at revision --applied, the revision writes
    count from; --lag N answers the first N digests one revision behind.

    Backups (zkv snapshot save): with --snapshot-dir, a real snapshot file of
    SNAPSHOT_KEYS keys at SNAPSHOT_INDEX is written there at start and served
    --piece bytes at a time, read from the file at each request (a test may
    damage it). --no-snapshot-yet N answers the first N requests UNAVAILABLE,
    --replaced N the first N requests for a later piece FAILED_PRECONDITION, as
    a node that took a newer snapshot meanwhile.

    Plaintext, as zkvd --insecure, unless --curve names the node's certificate
    (the secret file is read): then its sockets are CURVE servers, and czmq's
    zauth lets in the clients whose public certificates are in --allow DIR
    (which also checks that czmq reads the files zkv cert new writes).

    Usage: fake_node [--id N] [--follower LEADER_ENDPOINT] [--page-max N]
                     [--member ID=ENDPOINT]... [--config ID=ENDPOINT|self]...
                     [--applied N] [--digest HEX] [--lag N]
                     [--snapshot-dir DIR] [--piece N] [--no-snapshot-yet N] [--replaced N]
                     [--curve CERT --allow DIR]
    Prints "client=<endpoint> trace=<endpoint>" on stdout once bound, then
    "request <body>" for each request it receives, and serves until SIGTERM
    or SIGINT. */
#include <czmq.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert.h"
#include "snapshot.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

#define MEMBERS_MAX 8
#define CLUSTER_ID UINT64_C(0x1234abcd5678ef00)
#define CONFIG_INDEX 7
#define HOST_SIZE 64
#define SNAPSHOT_INDEX 42
#define SNAPSHOT_TERM 3
#define SNAPSHOT_KEYS 300
#define DIGEST_DEFAULT UINT64_C(0x0123456789abcdef)

typedef struct {
    uint8_t *key;
    size_t key_size;
    uint8_t *value;
    size_t value_size;
    uint64_t create_revision, mod_revision, version;
} entry_t;

/*  One member of the fake membership. */
typedef struct {
    uint32_t id;
    bool learner;
    char host[HOST_SIZE];
    uint32_t ports[3]; /* pub, router, client */
} member_t;

/*  The protobuf form of the membership, rebuilt for each answer. */
typedef struct {
    Zkv__ClusterConfig config;
    Zkv__Member members[MEMBERS_MAX];
    Zkv__Member *list[MEMBERS_MAX];
    char peers[MEMBERS_MAX][HOST_SIZE + 32];
    char clients[MEMBERS_MAX][HOST_SIZE + 32];
} config_reply_t;

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
    member_t config[MEMBERS_MAX];
    size_t config_count;
    uint32_t removed[MEMBERS_MAX];
    size_t removed_count;
    uint64_t config_index;
    char error[128]; /* the reply's error text */
    config_reply_t config_reply;
    const char *config_args[MEMBERS_MAX]; /* --config ID=ENDPOINT */
    size_t config_arg_count;
    uint64_t digest;
    uint64_t lag; /* digests still to answer one revision behind */
    const char *snapshot_dir;
    char snapshot_path[1024]; /* empty: no snapshot */
    uint64_t piece;
    uint64_t no_snapshot_yet; /* snapshot requests still to answer UNAVAILABLE */
    uint64_t replaced;        /* later pieces still to refuse as of a replaced snapshot */
    const char *curve;        /* the node's certificate: CURVE on */
    const char *allow;        /* the allowed clients' certificates */
    zactor_t *auth;           /* zauth, the ZAP handler */
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

/*  At the next revision, as the callers then count it. */
static void s_set(node_t *n, ProtobufCBinaryData key, ProtobufCBinaryData value)
{
    entry_t *e = s_find(n, key);
    uint64_t revision = n->revision + 1;
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
        e->create_revision = revision;
        e->version = 0;
    } else {
        free(e->value);
    }
    e->value = s_dup(value);
    e->value_size = value.len;
    e->mod_revision = revision;
    e->version++;
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
    if (cas->target == ZKV__COMPARE__TARGET__VERSION)
        ok = (e ? e->version : 0) == cas->expected_number;
    else if (cas->target == ZKV__COMPARE__TARGET__MOD)
        ok = (e ? e->mod_revision : 0) == cas->expected_number;
    r->status = ok ? ZKV__STATUS__OK : ZKV__STATUS__CAS_FAILED;
    if (ok)
        s_set(n, cas->key, cas->value);
    r->revision = ok ? ++n->revision : n->revision;
}

/*  One key, or every key in [key, end) (empty end: no bound). */
static void s_delete(node_t *n, const Zkv__DeleteRequest *d, Zkv__Response *r)
{
    for (size_t i = 0; i < n->count;) {
        entry_t *e = &n->entries[i];
        bool hit = d->range ? s_compare(e->key, e->key_size, d->key.data, d->key.len) >= 0 &&
                                  (d->end.len == 0 ||
                                   s_compare(e->key, e->key_size, d->end.data, d->end.len) < 0)
                            : s_compare(e->key, e->key_size, d->key.data, d->key.len) == 0;
        if (hit) {
            s_remove(n, e);
            r->deleted++;
        } else
            i++;
    }
    r->found = r->deleted > 0;
    r->status = r->found ? ZKV__STATUS__OK : ZKV__STATUS__NOT_FOUND;
    r->revision = r->found ? ++n->revision : n->revision;
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
        kv->create_revision = e->create_revision;
        kv->mod_revision = e->mod_revision;
        kv->version = e->version;
        r->kvs[r->n_kvs++] = kv;
    }
    r->status = ZKV__STATUS__OK;
    r->revision = n->revision;
}

static void s_self(node_t *n, Zkv__MemberStatus *self)
{
    self->id = n->id;
    self->client_endpoint = n->endpoint;
    self->role = n->leader ? "follower" : "leader";
    self->term = 3;
    self->commit_index = self->applied_index = n->revision;
    self->leader_id = n->leader ? 0 : n->id;
    self->keys = n->count;
}

static void s_status(node_t *n, Zkv__Response *r, Zkv__MemberStatus *self,
                     Zkv__MemberStatus *others, Zkv__MemberStatus **list)
{
    s_self(n, self);
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

/* ---------------------------------------------------------------- membership */

/*  ID=tcp://HOST:PORT or ID=self as a member; false when malformed. */
static bool s_config_arg(node_t *n, const char *arg, member_t *m)
{
    const char *endpoint = strchr(arg, '=') + 1;
    if (strcmp(endpoint, "self") == 0)
        endpoint = n->endpoint;
    const char *colon = strrchr(endpoint, ':');
    if (strncmp(endpoint, "tcp://", 6) != 0 || !colon || colon - endpoint - 6 >= HOST_SIZE)
        return false;
    m->id = (uint32_t) atoi(arg);
    snprintf(m->host, sizeof m->host, "%.*s", (int) (colon - endpoint - 6), endpoint + 6);
    m->ports[0] = 7200 + m->id;
    m->ports[1] = 7300 + m->id;
    m->ports[2] = (uint32_t) atoi(colon + 1);
    return true;
}

static int s_config_init(node_t *n)
{
    n->config_index = CONFIG_INDEX;
    for (size_t i = 0; i < n->config_arg_count; i++)
        if (!s_config_arg(n, n->config_args[i], &n->config[n->config_count++]))
            return -1;
    if (n->config_count)
        return 0;
    for (uint32_t id = 1; id <= 3; id++) {
        member_t *m = &n->config[n->config_count++];
        m->id = id;
        snprintf(m->host, sizeof m->host, "127.0.0.1");
        m->ports[0] = 7200 + id;
        m->ports[1] = 7300 + id;
        m->ports[2] = 7100 + id;
    }
    return 0;
}

static member_t *s_member(node_t *n, uint32_t id)
{
    for (size_t i = 0; i < n->config_count; i++)
        if (n->config[i].id == id)
            return &n->config[i];
    return NULL;
}

static bool s_was_removed(const node_t *n, uint32_t id)
{
    for (size_t i = 0; i < n->removed_count; i++)
        if (n->removed[i] == id)
            return true;
    return false;
}

/*  OK with the membership, the cluster id and this node's status. */
static void s_config_reply(node_t *n, Zkv__Response *r, Zkv__MemberStatus *self)
{
    config_reply_t *c = &n->config_reply;
    zkv__cluster_config__init(&c->config);
    for (size_t i = 0; i < n->config_count; i++) {
        const member_t *m = &n->config[i];
        Zkv__Member *pb = &c->members[i];
        zkv__member__init(pb);
        pb->id = m->id;
        pb->learner = m->learner;
        pb->host = (char *) m->host;
        pb->pub_port = m->ports[0];
        pb->router_port = m->ports[1];
        pb->client_port = m->ports[2];
        snprintf(c->peers[i], sizeof c->peers[i], "tcp://%s:%u", m->host, m->ports[0]);
        snprintf(c->clients[i], sizeof c->clients[i], "tcp://%s:%u", m->host, m->ports[2]);
        pb->peer_endpoint = c->peers[i];
        pb->client_endpoint = c->clients[i];
        c->list[i] = pb;
    }
    c->config.members = c->list;
    c->config.n_members = n->config_count;
    c->config.removed = n->removed;
    c->config.n_removed = n->removed_count;
    r->config = &c->config;
    r->cluster_id = CLUSTER_ID;
    r->config_index = n->config_index;
    s_self(n, self);
    r->member = self;
    r->status = ZKV__STATUS__OK;
}

static void s_refuse(node_t *n, Zkv__Response *r, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void s_refuse(node_t *n, Zkv__Response *r, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(n->error, sizeof n->error, format, ap);
    va_end(ap);
    r->status = ZKV__STATUS__FAILED_PRECONDITION;
    r->error = n->error;
}

static bool s_member_valid(const Zkv__Member *m)
{
    return m && m->id && m->host[0] && strlen(m->host) < HOST_SIZE && m->pub_port &&
           m->pub_port <= 65535 && m->router_port && m->router_port <= 65535 && m->client_port &&
           m->client_port <= 65535;
}

static void s_member_add(node_t *n, const Zkv__Member *m, Zkv__Response *r, Zkv__MemberStatus *self)
{
    if (!s_member_valid(m)) {
        r->status = ZKV__STATUS__BAD_REQUEST;
        r->error = "bad member";
    } else if (s_member(n, m->id)) {
        s_refuse(n, r, "member %u exists", m->id);
    } else if (s_was_removed(n, m->id)) {
        s_refuse(n, r, "member %u was removed", m->id);
    } else if (n->config_count == MEMBERS_MAX) {
        s_refuse(n, r, "no room for member %u", m->id);
    } else {
        member_t *added = &n->config[n->config_count++];
        added->id = m->id;
        added->learner = m->learner;
        snprintf(added->host, sizeof added->host, "%s", m->host);
        added->ports[0] = m->pub_port;
        added->ports[1] = m->router_port;
        added->ports[2] = m->client_port;
        n->config_index++;
        s_config_reply(n, r, self);
    }
}

static void s_member_promote(node_t *n, uint32_t id, Zkv__Response *r, Zkv__MemberStatus *self)
{
    member_t *m = s_member(n, id);
    if (!m) {
        s_refuse(n, r, "no member %u", id);
    } else if (!m->learner) {
        s_refuse(n, r, "member %u is a voter", id);
    } else {
        m->learner = false;
        n->config_index++;
        s_config_reply(n, r, self);
    }
}

static void s_member_remove(node_t *n, uint32_t id, Zkv__Response *r, Zkv__MemberStatus *self)
{
    member_t *m = s_member(n, id);
    if (!m) {
        s_refuse(n, r, "no member %u", id);
        return;
    }
    size_t at = (size_t) (m - n->config);
    memmove(m, m + 1, (n->config_count - at - 1) * sizeof *m);
    n->config_count--;
    if (n->removed_count < MEMBERS_MAX)
        n->removed[n->removed_count++] = id;
    n->config_index++;
    s_config_reply(n, r, self);
}

static void s_move_leader(node_t *n, uint32_t id, Zkv__Response *r)
{
    const member_t *m = s_member(n, id);
    if (!m || m->learner)
        s_refuse(n, r, "no voter %u", id);
    else
        r->status = ZKV__STATUS__OK;
}

static bool s_is_membership(const Zkv__Request *q)
{
    return q->body_case >= ZKV__REQUEST__BODY_MEMBER_LIST &&
           q->body_case <= ZKV__REQUEST__BODY_MOVE_LEADER;
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
    default: return s_is_membership(q) && q->body_case != ZKV__REQUEST__BODY_MEMBER_LIST;
    }
}

/*  A follower sends what needs the leader there, as the node does. */
static bool s_not_leader(const node_t *n, const Zkv__Request *q, Zkv__Response *r)
{
    if (!n->leader || !s_needs_leader(q))
        return false;
    r->status = ZKV__STATUS__NOT_LEADER;
    r->leader_endpoint = (char *) n->leader;
    return true;
}

static void s_membership(node_t *n, const Zkv__Request *q, Zkv__Response *r,
                         Zkv__MemberStatus *self)
{
    if (q->client_id || q->sequence) {
        r->status = ZKV__STATUS__BAD_REQUEST;
        r->error = "a membership request belongs to no session";
        return;
    }
    if (s_not_leader(n, q, r))
        return;
    switch (q->body_case) {
    case ZKV__REQUEST__BODY_MEMBER_ADD: s_member_add(n, q->member_add->member, r, self); break;
    case ZKV__REQUEST__BODY_MEMBER_PROMOTE:
        s_member_promote(n, q->member_promote->id, r, self);
        break;
    case ZKV__REQUEST__BODY_MEMBER_REMOVE: s_member_remove(n, q->member_remove->id, r, self); break;
    case ZKV__REQUEST__BODY_MOVE_LEADER: s_move_leader(n, q->move_leader->id, r); break;
    default: s_config_reply(n, r, self); break;
    }
}

/* ---------------------------------------------------------------- digest and backup */

static void s_digest(node_t *n, Zkv__Response *r)
{
    r->status = ZKV__STATUS__OK;
    r->digest = n->digest;
    r->revision = n->revision;
    if (n->lag > 0 && n->revision > 0) {
        n->lag--;
        r->revision--;
    }
}

/*  The snapshot the node serves: SNAPSHOT_KEYS keys, values of varied sizes. */
static int s_snapshot_write(node_t *n)
{
    zkv_btree_t *tree = zkv_btree_new();
    char key[32], value[64];
    for (int i = 0; tree && i < SNAPSHOT_KEYS; i++) {
        int k = snprintf(key, sizeof key, "key/%04d", i);
        int v = snprintf(value, sizeof value, "value %d %.*s", i, i % 40,
                         "abcdefghijklmnopqrstuvwxyz0123456789ABCD");
        if (zkv_btree_put(tree, key, (size_t) k, value, (size_t) v, NULL, NULL, NULL, NULL) !=
            ZKV_OK)
            zkv_btree_destroy(&tree);
    }
    zkv_snapshot_meta_t meta = {.index = SNAPSHOT_INDEX, .term = SNAPSHOT_TERM};
    char name[ZKV_SNAPSHOT_NAME_SIZE + 1], err[256];
    int rc = tree ? zkv_snapshot_write(zkv_fs_posix(), n->snapshot_dir, tree, &meta, name, err,
                                       sizeof err)
                  : ZKV_ENOMEM;
    zkv_btree_destroy(&tree);
    if (rc != ZKV_OK) {
        fprintf(stderr, "fake_node: snapshot: %s\n", rc == ZKV_ENOMEM ? "out of memory" : err);
        return -1;
    }
    snprintf(n->snapshot_path, sizeof n->snapshot_path, "%s/%s", n->snapshot_dir, name);
    return 0;
}

/*  A piece of the snapshot file, as the node's storage_backup answers. */
static void s_snapshot(node_t *n, const Zkv__SnapshotRequest *want, Zkv__Response *r)
{
    bool later = want->index != 0 || want->offset != 0;
    int fd = -1;
    off_t size = -1;
    if (n->no_snapshot_yet > 0 || !n->snapshot_path[0]) {
        n->no_snapshot_yet -= n->no_snapshot_yet > 0;
        r->status = ZKV__STATUS__UNAVAILABLE;
        r->error = "no snapshot yet";
    } else if ((want->index != 0 && want->index != SNAPSHOT_INDEX) || (later && n->replaced > 0)) {
        n->replaced -= later && n->replaced > 0;
        r->status = ZKV__STATUS__FAILED_PRECONDITION;
        r->error = "the node took a newer snapshot meanwhile: start again";
    } else if ((fd = open(n->snapshot_path, O_RDONLY)) < 0 || (size = lseek(fd, 0, SEEK_END)) < 0) {
        r->status = ZKV__STATUS__INTERNAL;
        r->error = "the snapshot file cannot be read";
    } else {
        uint64_t offset = want->offset < (uint64_t) size ? want->offset : (uint64_t) size;
        uint64_t length = (uint64_t) size - offset < n->piece ? (uint64_t) size - offset : n->piece;
        n->scratch = malloc(length + 1);
        ssize_t got = pread(fd, n->scratch, length, (off_t) offset);
        r->status = got == (ssize_t) length ? ZKV__STATUS__OK : ZKV__STATUS__INTERNAL;
        r->snapshot_index = SNAPSHOT_INDEX;
        r->snapshot_size = (uint64_t) size;
        r->chunk.data = n->scratch;
        r->chunk.len = (size_t) length;
    }
    if (fd >= 0)
        close(fd);
}

/* ---------------------------------------------------------------- answers */

static void s_handle(node_t *n, const Zkv__Request *q, Zkv__Response *r)
{
    entry_t *e;
    if (s_not_leader(n, q, r))
        return;
    switch (q->body_case) {
    case ZKV__REQUEST__BODY_GET:
        e = s_find(n, q->get->key);
        r->status = e ? ZKV__STATUS__OK : ZKV__STATUS__NOT_FOUND;
        r->found = e != NULL;
        if (e) {
            r->value = s_bin(e);
            r->create_revision = e->create_revision;
            r->mod_revision = e->mod_revision;
            r->version = e->version;
        }
        r->revision = n->revision;
        break;
    case ZKV__REQUEST__BODY_PUT: s_put(n, q->put, r); break;
    case ZKV__REQUEST__BODY_DELETE: s_delete(n, q->delete_, r); break;
    case ZKV__REQUEST__BODY_CAS: s_cas(n, q->cas, r); break;
    case ZKV__REQUEST__BODY_SCAN: s_scan(n, q->scan, r); break;
    case ZKV__REQUEST__BODY_DIGEST: s_digest(n, r); break;
    case ZKV__REQUEST__BODY_SNAPSHOT: s_snapshot(n, q->snapshot, r); break;
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

/*  "request <body>" on stdout: the tests see what reached the node. */
static void s_log(const Zkv__Request *q)
{
    const ProtobufCFieldDescriptor *body =
        q ? protobuf_c_message_descriptor_get_field(&zkv__request__descriptor,
                                                    (unsigned) q->body_case)
          : NULL;
    printf("request %s\n", body ? body->name : "malformed");
    fflush(stdout);
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
    s_log(q);
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
        else if (s_is_membership(q))
            s_membership(n, q, &r, &self);
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

/*  A --flag taking a decimal number. */
static bool s_number(const char *flag, const char *name, const char *value, uint64_t *out)
{
    if (strcmp(flag, name) != 0)
        return false;
    *out = strtoull(value, NULL, 10);
    return true;
}

static int s_args(node_t *n, int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *flag = argv[i], *value = argv[i + 1];
        if (strcmp(flag, "--id") == 0)
            n->id = (uint32_t) atoi(value);
        else if (strcmp(flag, "--follower") == 0)
            n->leader = value;
        else if (strcmp(flag, "--page-max") == 0)
            n->page_max = (uint32_t) atoi(value);
        else if (strcmp(flag, "--digest") == 0)
            n->digest = strtoull(value, NULL, 16);
        else if (strcmp(flag, "--member") == 0 && n->members < MEMBERS_MAX && strchr(value, '=')) {
            n->member_ids[n->members] = (uint32_t) atoi(value);
            n->member_endpoints[n->members++] = strchr(value, '=') + 1;
        } else if (strcmp(flag, "--config") == 0 && n->config_arg_count < MEMBERS_MAX &&
                   strchr(value, '='))
            n->config_args[n->config_arg_count++] = value;
        else if (strcmp(flag, "--snapshot-dir") == 0)
            n->snapshot_dir = value;
        else if (strcmp(flag, "--curve") == 0)
            n->curve = value;
        else if (strcmp(flag, "--allow") == 0)
            n->allow = value;
        else if (!s_number(flag, "--applied", value, &n->revision) &&
                 !s_number(flag, "--lag", value, &n->lag) &&
                 !s_number(flag, "--piece", value, &n->piece) &&
                 !s_number(flag, "--no-snapshot-yet", value, &n->no_snapshot_yet) &&
                 !s_number(flag, "--replaced", value, &n->replaced))
            return -1;
    }
    bool curve_ok = (n->curve != NULL) == (n->allow != NULL);
    return argc % 2 == 1 && n->page_max > 0 && n->piece > 0 && curve_ok ? 0 : -1;
}

/*  With --curve: zauth for the allowed clients, and both sockets CURVE
    servers. 0, or -1 after saying why. */
static int s_secure(node_t *n)
{
    if (!n->curve)
        return 0;
    zkv_cert_t cert;
    char err[512];
    if (zkv_cert_load(&cert, n->curve, true, err, sizeof err) != 0) {
        fprintf(stderr, "fake_node: %s\n", err);
        return -1;
    }
    n->auth = zactor_new(zauth, NULL);
    zstr_sendx(n->auth, "CURVE", n->allow, NULL);
    zsock_wait(n->auth);
    if (zkv_cert_apply_server(zsock_resolve(n->router), &cert, "client") ||
        zkv_cert_apply_server(zsock_resolve(n->pub), &cert, "trace")) {
        fprintf(stderr, "fake_node: libzmq refuses CURVE\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    node_t n = {.id = 1, .page_max = 1000, .digest = DIGEST_DEFAULT, .piece = 1000};
    if (s_args(&n, argc, argv)) {
        fprintf(stderr, "usage: fake_node [--id N] [--follower ENDPOINT] [--page-max N] "
                        "[--member ID=ENDPOINT]... [--config ID=ENDPOINT|self]... "
                        "[--applied N] [--digest HEX] [--lag N] [--snapshot-dir DIR] "
                        "[--piece N] [--no-snapshot-yet N] [--replaced N] "
                        "[--curve CERT --allow DIR]\n");
        return 2;
    }
    zsys_set_logstream(stderr);
    if (n.snapshot_dir && s_snapshot_write(&n))
        return 1;
    n.router = zsock_new(ZMQ_ROUTER);
    n.pub = zsock_new(ZMQ_PUB);
    if (s_secure(&n))
        return 1;
    int port = zsock_bind(n.router, "tcp://127.0.0.1:*");
    int trace_port = zsock_bind(n.pub, "tcp://127.0.0.1:*");
    if (port < 0 || trace_port < 0)
        return 1;
    snprintf(n.endpoint, sizeof n.endpoint, "tcp://127.0.0.1:%d", port);
    if (s_config_init(&n)) {
        fprintf(stderr, "fake_node: --config wants ID=tcp://HOST:PORT or ID=self\n");
        return 2;
    }
    printf("client=%s trace=tcp://127.0.0.1:%d\n", n.endpoint, trace_port);
    fflush(stdout);
    zpoller_t *poller = zpoller_new(n.router, NULL);
    while (zpoller_wait(poller, -1) == n.router)
        s_on_request(&n);
    zpoller_destroy(&poller);
    zsock_destroy(&n.router);
    zsock_destroy(&n.pub);
    zactor_destroy(&n.auth);
    while (n.count > 0)
        s_remove(&n, &n.entries[n.count - 1]);
    free(n.entries);
    return 0;
}
