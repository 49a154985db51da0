/*  reply_queue: byte budgets for client replies held in libzmq (reply_queue.h). */
#include "reply_queue.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/*  After the bytes held fell this much, free heap goes back to the system:
    glibc may keep freed blocks below its mmap threshold (64 KiB replies). */
#define REPLY_TRIM_BYTES (16u * 1024 * 1024)

/*  Bytes held, shared with libzmq's threads: one reference for the owner
    and one per reply in flight, the last one frees it. */
typedef struct {
    atomic_size_t bytes;
    atomic_uint refs;
} s_counter_t;

struct zkv_reply_conn_t {
    s_counter_t *queued;
    uint32_t pending;
};

struct zkv_reply_queue_t {
    zhashx_t *conns; /* routing id in hex -> zkv_reply_conn_t */
    s_counter_t *total;
    size_t conn_bytes_max;
    size_t total_bytes_max;
    size_t peak; /* most bytes held since the last trim */
    uint64_t shed;
};

/*  One reply inside libzmq: the frame whose bytes it sends. */
typedef struct {
    zframe_t *body;
    s_counter_t *conn;
    s_counter_t *total;
    size_t size;
} s_reply_t;

static s_counter_t *s_counter_new(void)
{
    s_counter_t *c = malloc(sizeof *c);
    if (c) {
        atomic_init(&c->bytes, 0);
        atomic_init(&c->refs, 1);
    }
    return c;
}

static void s_counter_hold(s_counter_t *c, size_t size)
{
    atomic_fetch_add(&c->refs, 1);
    atomic_fetch_add(&c->bytes, size);
}

static void s_counter_release(s_counter_t *c, size_t size)
{
    size_t was = atomic_fetch_sub(&c->bytes, size);
    assert(was >= size);
    (void) was;
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        free(c);
}

/*  libzmq is done with a reply (sent, dropped, or its connection closed);
    called in libzmq's I/O thread or in ours. */
static void s_reply_free(void *data, void *hint)
{
    (void) data;
    s_reply_t *r = hint;
    s_counter_release(r->conn, r->size);
    s_counter_release(r->total, r->size);
    zframe_destroy(&r->body);
    free(r);
}

static void s_conn_destroy(void **item)
{
    zkv_reply_conn_t *conn = *item;
    s_counter_release(conn->queued, 0);
    free(conn);
    *item = NULL;
}

zkv_reply_queue_t *zkv_reply_queue_new(size_t conn_bytes_max, size_t total_bytes_max)
{
    zkv_reply_queue_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->conns = zhashx_new();
    self->total = s_counter_new();
    self->conn_bytes_max = conn_bytes_max;
    self->total_bytes_max = total_bytes_max;
    if (!self->conns || !self->total) {
        zkv_reply_queue_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->conns, s_conn_destroy);
    return self;
}

void zkv_reply_queue_destroy(zkv_reply_queue_t **self_p)
{
    zkv_reply_queue_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->conns);
    if (self->total)
        s_counter_release(self->total, 0); /* replies still in libzmq keep it */
    free(self);
    *self_p = NULL;
}

zkv_reply_conn_t *zkv_reply_queue_conn(zkv_reply_queue_t *self, zframe_t *routing)
{
    char *key = zframe_strhex(routing);
    if (!key)
        return NULL;
    zkv_reply_conn_t *conn = zhashx_lookup(self->conns, key);
    if (!conn && (conn = calloc(1, sizeof *conn)) != NULL) {
        conn->queued = s_counter_new();
        if (!conn->queued || zhashx_insert(self->conns, key, conn) != 0) {
            free(conn->queued);
            free(conn);
            conn = NULL;
        }
    }
    free(key);
    return conn;
}

uint32_t zkv_reply_conn_pending(const zkv_reply_conn_t *conn)
{
    return conn->pending;
}

void zkv_reply_conn_hold(zkv_reply_conn_t *conn)
{
    conn->pending++;
}

void zkv_reply_conn_release(zkv_reply_conn_t *conn)
{
    assert(conn->pending > 0);
    conn->pending--;
}

static bool s_over_budget(const zkv_reply_queue_t *self, const zkv_reply_conn_t *conn,
                          size_t size)
{
    return atomic_load(&conn->queued->bytes) + size > self->conn_bytes_max ||
           atomic_load(&self->total->bytes) + size > self->total_bytes_max;
}

/*  A zero-copy message of body's bytes, counted until libzmq frees it. */
static int s_reply_msg(zkv_reply_queue_t *self, zkv_reply_conn_t *conn, zframe_t *body,
                       zmq_msg_t *msg)
{
    s_reply_t *r = malloc(sizeof *r);
    if (!r)
        return -1;
    *r = (s_reply_t){body, conn->queued, self->total, zframe_size(body)};
    s_counter_hold(r->conn, r->size);
    s_counter_hold(r->total, r->size);
    if (zmq_msg_init_data(msg, zframe_data(body), r->size, s_reply_free, r) != 0) {
        r->body = NULL; /* still the caller's */
        s_reply_free(NULL, r);
        return -1;
    }
    return 0;
}

int zkv_reply_queue_send(zkv_reply_queue_t *self, zsock_t *router, zframe_t *routing,
                         zframe_t **body_p)
{
    zframe_t *body = *body_p;
    *body_p = NULL;
    zkv_reply_conn_t *conn = zkv_reply_queue_conn(self, routing);
    zmq_msg_t msg;
    if (!conn || s_over_budget(self, conn, zframe_size(body)) ||
        s_reply_msg(self, conn, body, &msg) != 0) {
        self->shed++;
        zframe_destroy(&body);
        return -1;
    }
    size_t now = atomic_load(&self->total->bytes);
    self->peak = now > self->peak ? now : self->peak;
    zframe_t *to = zframe_dup(routing);
    zframe_send(&to, router, ZFRAME_MORE);
    if (zmq_msg_send(&msg, zsock_resolve(router), ZMQ_DONTWAIT) < 0)
        zmq_msg_close(&msg); /* frees the reply through s_reply_free */
    return 0;
}

void zkv_reply_queue_sweep(zkv_reply_queue_t *self)
{
    zlistx_t *idle = zlistx_new();
    if (!idle)
        return;
    for (zkv_reply_conn_t *c = zhashx_first(self->conns); c; c = zhashx_next(self->conns))
        if (c->pending == 0 && atomic_load(&c->queued->bytes) == 0)
            zlistx_add_end(idle, (void *) zhashx_cursor(self->conns));
    /* The keys belong to the table: each is deleted after it is used. */
    for (const char *key = zlistx_first(idle); key; key = zlistx_first(idle)) {
        zlistx_detach_cur(idle);
        zhashx_delete(self->conns, key);
    }
    zlistx_destroy(&idle);
    size_t now = atomic_load(&self->total->bytes);
    if (self->peak - now >= REPLY_TRIM_BYTES) {
#ifdef __GLIBC__
        malloc_trim(0);
#endif
        self->peak = now;
    }
}

size_t zkv_reply_queue_bytes(const zkv_reply_queue_t *self)
{
    return atomic_load(&self->total->bytes);
}

uint64_t zkv_reply_queue_shed(const zkv_reply_queue_t *self)
{
    return self->shed;
}

size_t zkv_reply_queue_conns(const zkv_reply_queue_t *self)
{
    return zhashx_size(self->conns);
}
