/*  client: one zkv client session over DEALER sockets, one per node endpoint.

    Request ids name an attempt: the low bits are the operation's slot, the high
    bits a generation counted per attempt. A reply is matched to its slot in
    O(1); a reply to an earlier attempt of the same operation still counts when
    it is final (the node answered the same client id and sequence), and any
    other reply is stale and ignored.

    A socket monitor per endpoint says when a connection is refused or drops:
    an attempt there ends at once and the next endpoint is tried, and when
    every endpoint has refused for a whole attempt timeout the operation fails
    without waiting out its deadline (nothing listens there). A handshake the
    node refuses (our CURVE key, or one side without CURVE) is final: libzmq
    does not connect there again, and the operation fails at once, with the
    reason in words.

    The per-request path allocates nothing in steady state: requests are packed
    into one reused buffer, and replies are decoded into an arena that is reset
    at the start of every dispatch. */
#include "zkv.h"

#include "cert.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define S_SLOT_BITS 24
#define S_SLOT_MASK ((UINT64_C(1) << S_SLOT_BITS) - 1)
#define S_GEN_MAX (UINT64_C(1) << (64 - S_SLOT_BITS))
#define S_NO_SLOT UINT32_MAX
/*  Replies taken from one socket per dispatch, so one busy socket cannot starve others. */
#define S_RECV_BATCH 256
/*  First arena chunk, kept across resets; bigger replies get chunks of their own. */
#define S_ARENA_CHUNK_SIZE (64 * 1024)
#define S_ARENA_ALIGN 16
#define S_ERROR_SIZE 512
/*  Socket high-water marks: enough for every operation in flight to be queued
    twice (a retry beside a stale first try). */
#define S_HWM_MIN 1000
/*  How long a destroyed client's socket may take to send its session's close. */
#define S_CLOSE_LINGER_MS 100
/*  The connection events that change what the client believes of an endpoint. */
#define S_LINK_EVENTS                                                                              \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_CLOSED | ZMQ_EVENT_DISCONNECTED |                   \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
/*  Handshakes dropped in a row before the client names it as the cause. */
#define S_DROPPED_HANDSHAKES_MIN 2
/*  Longest pause between libzmq's attempts to reach a node that is down: each
    failed attempt is a monitor event, and few events keep an idle client's
    unread monitor queue small. */
#define S_RECONNECT_IVL_MAX_MS 1000
/*  Endpoints named in one error message, at most this many characters. */
#define S_ERROR_LIST_MAX 300

_Static_assert(ZKV_CLIENT_INFLIGHT_MAX <= (1 << S_SLOT_BITS), "slot index must fit its bits");
_Static_assert(ZKV_CLIENT_ENDPOINTS_MAX <= 32, "an operation's tried endpoints are 32 bits");
/*  A snapshot piece comes with a few fields beside it; far less than this. */
_Static_assert(ZKV_CLIENT_REPLY_SIZE_MAX >= ZKV_CLIENT_SNAPSHOT_PIECE_MAX + 64 * 1024,
               "a reply must hold a whole snapshot piece");

/* ---------------------------------------------------------------- arena */

typedef struct s_chunk_t {
    struct s_chunk_t *next;
    size_t size;
    size_t used;
    unsigned char data[];
} s_chunk_t;

typedef struct {
    ProtobufCAllocator allocator; /* handed to protobuf-c's unpack */
    s_chunk_t *base;              /* kept across resets */
    s_chunk_t *head;              /* chunk being filled; extra chunks chain to base */
} s_arena_t;

static s_chunk_t *s_chunk_new(size_t size)
{
    s_chunk_t *chunk = malloc(sizeof *chunk + size);
    if (chunk) {
        chunk->next = NULL;
        chunk->size = size;
        chunk->used = 0;
    }
    return chunk;
}

static void *s_chunk_take(s_chunk_t *chunk, size_t size)
{
    uintptr_t base = (uintptr_t) chunk->data;
    uintptr_t at = (base + chunk->used + S_ARENA_ALIGN - 1) & ~(uintptr_t) (S_ARENA_ALIGN - 1);
    if (at - base > chunk->size || size > chunk->size - (at - base))
        return NULL;
    chunk->used = at - base + size;
    return (void *) at;
}

static void *s_arena_alloc(void *data, size_t size)
{
    s_arena_t *arena = data;
    void *p = s_chunk_take(arena->head, size);
    if (p)
        return p;
    size_t want = size + S_ARENA_ALIGN;
    s_chunk_t *chunk = s_chunk_new(want > S_ARENA_CHUNK_SIZE ? want : S_ARENA_CHUNK_SIZE);
    if (!chunk)
        return NULL;
    chunk->next = arena->head;
    arena->head = chunk;
    return s_chunk_take(chunk, size);
}

static void s_arena_free(void *data, void *pointer)
{
    /* Freed all at once by s_arena_reset. */
    (void) data;
    (void) pointer;
}

static void s_arena_reset(s_arena_t *arena)
{
    while (arena->head != arena->base) {
        s_chunk_t *next = arena->head->next;
        free(arena->head);
        arena->head = next;
    }
    arena->base->used = 0;
}

static int s_arena_init(s_arena_t *arena)
{
    arena->base = arena->head = s_chunk_new(S_ARENA_CHUNK_SIZE);
    arena->allocator.alloc = s_arena_alloc;
    arena->allocator.free = s_arena_free;
    arena->allocator.allocator_data = arena;
    return arena->base ? 0 : -1;
}

/* ---------------------------------------------------------------- state */

/*  What the socket monitor last said of an endpoint: UP once a ZMTP handshake
    succeeded, DOWN after a refused, failed or dropped connection (libzmq keeps
    trying), UNKNOWN before either (a connection still being made). */
typedef enum { S_LINK_UNKNOWN, S_LINK_UP, S_LINK_DOWN } s_link_t;

typedef struct {
    char name[ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    zsock_t *sock;
    void *handle;     /* the libzmq socket, for zmq_poll and zmq_msg_recv */
    zsock_t *monitor; /* PAIR: the DEALER's connection events */
    s_link_t link;
    int64_t up_until_ms; /* when an UP link last went down; 0: never up */
    /* The last failed handshake since the last good one, for the error text:
       its monitor event (0: none) and value; refused: for good. */
    uint16_t handshake_event;
    uint32_t handshake_value;
    bool refused;
    uint32_t dropped_handshakes; /* in a row, the connection made each time */
    /* A handshake succeeded once: our keys are good there, so a dropped one
       since is the node going down (behind a proxy such as Docker's, which
       accepts while nothing listens behind it, every one is). */
    bool admitted;
} s_endpoint_t;

/*  S_HELD: a write waiting for the session to open. */
typedef enum { S_FREE, S_SENT, S_WAITING, S_HELD } s_state_t;

/*  The cluster's memory of this client: writes go out only once it is open. */
typedef enum { S_SESSION_NONE, S_SESSION_OPENING, S_SESSION_OPEN } s_session_t;

/*  Why the latest attempt of an operation failed, for the error text. */
typedef enum {
    S_PROBLEM_NONE,
    S_PROBLEM_NO_REPLY,
    S_PROBLEM_UNAVAILABLE,
    S_PROBLEM_NODE_TIMEOUT,
    S_PROBLEM_NO_LEADER,
    S_PROBLEM_SEND,
    S_PROBLEM_DOWN,
} s_problem_t;

typedef struct {
    s_state_t state;
    zkv_op_t op;
    bool pinned;        /* op.endpoint given: never leave it */
    uint64_t sequence;  /* writes only */
    uint64_t first_gen; /* generation of the first attempt */
    uint64_t gen;       /* generation of the current attempt */
    int endpoint;       /* target of the current or next attempt */
    int64_t start_ms;
    int64_t deadline_ms; /* overall */
    int64_t timer_ms;    /* S_SENT: attempt timeout; S_WAITING: resend time */
    uint32_t attempts;
    uint32_t failures; /* consecutive, for the backoff */
    uint32_t hops;     /* redirects since the last backoff */
    uint32_t tried;    /* endpoints an attempt went to, one bit each */
    s_problem_t problem;
    int problem_endpoint;
    zkv_client_done_fn *done;
    void *arg;
    uint32_t next_free;
} s_op_t;

struct zkv_client_t {
    uint64_t id;
    uint64_t old_id; /* before the session last expired: its late replies are stale */
    s_session_t session;
    bool heard;       /* some node has answered */
    int64_t links_ms; /* when the monitors were last read */
    int64_t timeout_ms;
    int64_t attempt_ms;
    s_endpoint_t endpoints[ZKV_CLIENT_ENDPOINTS_MAX];
    size_t endpoint_count;
    int leader; /* endpoint believed to lead, or -1 */
    int cursor; /* where leader-bound operations go while the leader is unknown */
    int home;   /* first choice for serializable reads */
    int hwm;
    s_op_t *ops;
    uint32_t capacity;      /* the caller's operations, plus one for the session's opening */
    uint32_t user_capacity; /* operations a caller may have in flight */
    size_t internal;        /* of inflight: the session's opening */
    uint32_t free_head;
    size_t inflight;
    uint64_t gen;
    uint64_t next_sequence;
    uint64_t first_unacked;
    bool pending[ZKV_CLIENT_WINDOW]; /* write sequences awaiting a reply, by sequence % window */
    int64_t next_timer_ms;           /* no timer fires before this; may be early, never late */
    uint64_t completions;
    uint8_t *pack;
    size_t pack_size;
    s_arena_t arena;
    uint64_t rng;
    zkv_client_stats_t stats;
    bool curve; /* the keys below are set on every DEALER */
    zkv_cert_t cert;
    char server_key[ZKV_CERT_KEY_LEN + 1];
    char error[S_ERROR_SIZE];
};

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t s_random(zkv_client_t *self)
{
    /* xorshift64*: jitter only, no need for more. */
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    return self->rng * UINT64_C(2685821657736338717);
}

static bool s_is_write(zkv_op_type_t type)
{
    return type == ZKV_OP_PUT || type == ZKV_OP_DELETE || type == ZKV_OP_CAS ||
           type == ZKV_OP_TXN || type == ZKV_OP_LEASE_GRANT || type == ZKV_OP_LEASE_REVOKE ||
           type == ZKV_OP_LEASE_KEEPALIVE;
}

/*  Membership and leadership requests stand outside any session. */
static bool s_is_admin(zkv_op_type_t type)
{
    return type >= ZKV_OP_MEMBER_LIST && type <= ZKV_OP_MOVE_LEADER;
}

/*  Writes and membership changes must reach the leader; serializable reads,
    status, digest, snapshot pieces and the member list are served by
    whichever node they reach. A follower serves a linearizable read too (it
    asks the leader for the read index), but the leader serves it with one
    round trip less: measured on one 2-core machine, sending them to their
    home endpoints gave 0.90x the reads per second of sending them to the
    leader (bench/ab, 64 in flight), so they go to the leader when known. */
static bool s_leader_bound(const zkv_op_t *op)
{
    bool read = op->type == ZKV_OP_GET || op->type == ZKV_OP_SCAN;
    if (op->type == ZKV_OP_LEASE_LIST)
        return true;
    bool session = op->type == ZKV_OP_OPEN_SESSION || op->type == ZKV_OP_CLOSE_SESSION;
    bool change = s_is_admin(op->type) && op->type != ZKV_OP_MEMBER_LIST;
    return s_is_write(op->type) || session || change || (read && !op->serializable);
}

/* ---------------------------------------------------------------- endpoints */

int zkv_client_endpoint_normalize(const char *text, size_t length, char *out, size_t out_size)
{
    while (length > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        length--;
    }
    while (length > 0 && (text[length - 1] == ' ' || text[length - 1] == '\t'))
        length--;
    if (length == 0)
        return -1;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c <= ' ' || c == 0x7f)
            return -1;
    }
    bool has_scheme = memmem(text, length, "://", 3) != NULL;
    int n = snprintf(out, out_size, "%s%.*s", has_scheme ? "" : "tcp://", (int) length, text);
    return n > 0 && (size_t) n < out_size ? 0 : -1;
}

/*  What is wrong with a normalised tcp endpoint's port, or NULL: libzmq would
    refuse it only when connecting, with a bare "Invalid argument". */
static const char *s_port_problem(const char *name)
{
    if (strncmp(name, "tcp://", 6) != 0)
        return NULL;
    const char *colon = strrchr(name + 6, ':');
    if (!colon || !colon[1])
        return "no port (HOST:PORT)";
    uint64_t port = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return "the port is not a number";
        if (port <= 65535)
            port = port * 10 + (uint64_t) (*p - '0');
    }
    return port >= 1 && port <= 65535 ? NULL : "the port is out of range (1 to 65535)";
}

int zkv_client_endpoints_parse(const char *list, char out[][ZKV_CLIENT_ENDPOINT_SIZE_MAX],
                               size_t capacity, char *err, size_t err_size)
{
    size_t count = 0;
    const char *p = list ? list : "";
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t length = comma ? (size_t) (comma - p) : strlen(p);
        if (count == capacity) {
            snprintf(err, err_size, "too many endpoints (at most %zu)", capacity);
            return -1;
        }
        if (zkv_client_endpoint_normalize(p, length, out[count], ZKV_CLIENT_ENDPOINT_SIZE_MAX)) {
            snprintf(err, err_size, "bad endpoint '%.*s' in '%.200s'",
                     (int) (length > 200 ? 200 : length), p, list ? list : "");
            return -1;
        }
        const char *problem = s_port_problem(out[count]);
        if (problem) {
            snprintf(err, err_size, "bad endpoint '%.*s': %s", (int) (length > 200 ? 200 : length),
                     p, problem);
            return -1;
        }
        count++;
        if (!comma)
            return (int) count;
        p = comma + 1;
    }
}

static int s_endpoint_find(const zkv_client_t *self, const char *name)
{
    for (size_t i = 0; i < self->endpoint_count; i++)
        if (strcmp(self->endpoints[i].name, name) == 0)
            return (int) i;
    return -1;
}

static atomic_uint s_monitor_serial;

/*  A PAIR that receives sock's connection events; made before sock connects,
    so that none is missed. NULL when libzmq refuses. */
static zsock_t *s_monitor_new(zsock_t *sock)
{
    char address[64];
    snprintf(address, sizeof address, "inproc://zkv-client-link-%u",
             atomic_fetch_add(&s_monitor_serial, 1));
    if (zmq_socket_monitor(zsock_resolve(sock), address, S_LINK_EVENTS) != 0)
        return NULL;
    zsock_t *monitor = zsock_new(ZMQ_PAIR);
    if (monitor) {
        zsock_set_linger(monitor, 0);
        /* libzmq's monitor blocks its I/O thread on a full queue: no limit here. */
        zsock_set_rcvhwm(monitor, 0);
        if (zsock_connect(monitor, "%s", address) != 0)
            zsock_destroy(&monitor);
    }
    if (!monitor)
        zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
    return monitor;
}

/*  Close an endpoint's sockets. The monitor stops first: closing the DEALER
    raises events, and libzmq's monitor blocks its thread sending one to a PAIR
    that is gone. */
static void s_endpoint_close(s_endpoint_t *e)
{
    if (e->sock && e->monitor)
        zmq_socket_monitor(e->handle, NULL, 0);
    zsock_destroy(&e->sock);
    zsock_destroy(&e->monitor);
}

/*  Add a normalised endpoint and connect to it; its index, or -1 when the table
    is full or libzmq refuses the endpoint. */
static int s_endpoint_add(zkv_client_t *self, const char *name)
{
    if (self->endpoint_count == ZKV_CLIENT_ENDPOINTS_MAX)
        return -1;
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return -1;
    zsock_set_linger(sock, 0);
    zsock_set_sndhwm(sock, self->hwm);
    zsock_set_rcvhwm(sock, self->hwm);
    zsock_set_maxmsgsize(sock, ZKV_CLIENT_REPLY_SIZE_MAX);
    zsock_set_reconnect_ivl_max(sock, S_RECONNECT_IVL_MAX_MS);
    if (self->curve && zkv_cert_apply_client(zsock_resolve(sock), &self->cert, self->server_key)) {
        zsock_destroy(&sock);
        return -1;
    }
    s_endpoint_t *e = &self->endpoints[self->endpoint_count];
    memset(e, 0, sizeof *e);
    e->sock = sock;
    e->handle = zsock_resolve(sock);
    e->monitor = s_monitor_new(sock);
    if (!e->monitor || zsock_connect(sock, "%s", name) != 0) {
        s_endpoint_close(e);
        return -1;
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    return (int) self->endpoint_count++;
}

/*  The index of an endpoint named by a node (leader hint) or a caller, adding it
    if new; -1 when it is malformed or cannot be added. */
static int s_endpoint_lookup(zkv_client_t *self, const char *text)
{
    char name[ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    if (zkv_client_endpoint_normalize(text, strlen(text), name, sizeof name))
        return -1;
    int at = s_endpoint_find(self, name);
    return at >= 0 ? at : s_endpoint_add(self, name);
}

/* ---------------------------------------------------------------- lifecycle */

static uint64_t s_random_id(void)
{
    uint64_t id = 0;
    while (id == 0) {
        if (getrandom(&id, sizeof id, 0) != (ssize_t) sizeof id) {
            /* getrandom cannot fail for 8 bytes once the pool is ready; fall back anyway. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            id = ((uint64_t) ts.tv_nsec << 32) ^ (uint64_t) ts.tv_sec ^ ((uint64_t) getpid() << 16);
        }
    }
    return id;
}

static int s_config_check(const zkv_client_config_t *config, size_t count, char *err,
                          size_t err_size)
{
    if (config->timeout_ms < 0 || config->attempt_timeout_ms < 0) {
        snprintf(err, err_size, "timeouts must not be negative");
        return -1;
    }
    if (config->inflight_max > ZKV_CLIENT_INFLIGHT_MAX) {
        snprintf(err, err_size, "at most %d operations in flight per client",
                 ZKV_CLIENT_INFLIGHT_MAX);
        return -1;
    }
    if (config->home >= count) {
        snprintf(err, err_size, "home endpoint %zu out of range (%zu endpoints)", config->home,
                 count);
        return -1;
    }
    return 0;
}

static int s_init(zkv_client_t *self, const zkv_client_config_t *config, size_t capacity)
{
    self->id = config->client_id ? config->client_id : s_random_id();
    self->rng = self->id;
    self->timeout_ms = config->timeout_ms ? config->timeout_ms : ZKV_CLIENT_TIMEOUT_MS_DEFAULT;
    self->attempt_ms =
        config->attempt_timeout_ms ? config->attempt_timeout_ms : ZKV_CLIENT_ATTEMPT_MS_DEFAULT;
    if (self->attempt_ms > self->timeout_ms)
        self->attempt_ms = self->timeout_ms;
    self->leader = -1;
    self->home = self->cursor = (int) config->home;
    self->user_capacity = (uint32_t) capacity;
    self->capacity = (uint32_t) capacity + 1;
    self->hwm = capacity * 2 > S_HWM_MIN ? (int) capacity * 2 : S_HWM_MIN;
    self->next_sequence = self->first_unacked = 1;
    self->next_timer_ms = INT64_MAX;
    self->ops = calloc(self->capacity, sizeof *self->ops);
    if (!self->ops || s_arena_init(&self->arena))
        return -1;
    for (uint32_t i = 0; i < self->capacity; i++)
        self->ops[i].next_free = i + 1 < self->capacity ? i + 1 : S_NO_SLOT;
    self->free_head = 0;
    return 0;
}

/*  Read the keys once: every DEALER, and those added later for leaders a node
    names, gets them. 0, or -1 with one line in err. */
static int s_curve_init(zkv_client_t *self, const zkv_curve_t *curve, char *err, size_t err_size)
{
    int rc = zkv_cert_client_keys(&self->cert, self->server_key, curve->cert, curve->server_key,
                                  err, err_size);
    if (rc > 0 && !zmq_has("curve")) {
        snprintf(err, err_size, "this libzmq has no CURVE (built without libsodium)");
        rc = -1;
    }
    self->curve = rc > 0;
    return rc < 0 ? -1 : 0;
}

zkv_client_t *zkv_client_new(const zkv_client_config_t *config, char *err, size_t err_size)
{
    char(*names)[ZKV_CLIENT_ENDPOINT_SIZE_MAX] = malloc(sizeof(*names) * ZKV_CLIENT_ENDPOINTS_MAX);
    zkv_client_t *self = calloc(1, sizeof *self);
    int count = -1;
    if (!names || !self) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    count = zkv_client_endpoints_parse(config->endpoints, names, ZKV_CLIENT_ENDPOINTS_MAX, err,
                                       err_size);
    if (count < 0 || s_config_check(config, (size_t) count, err, err_size) ||
        s_curve_init(self, &config->curve, err, err_size))
        goto fail;
    size_t capacity = config->inflight_max ? config->inflight_max : ZKV_CLIENT_INFLIGHT_DEFAULT;
    if (s_init(self, config, capacity)) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    for (int i = 0; i < count; i++) {
        if (s_endpoint_find(self, names[i]) >= 0) {
            snprintf(err, err_size, "endpoint %s listed twice", names[i]);
            goto fail;
        }
        if (s_endpoint_add(self, names[i]) < 0) {
            snprintf(err, err_size, "cannot connect to %s: %s", names[i], zmq_strerror(errno));
            goto fail;
        }
    }
    free(names);
    return self;
fail:
    free(names);
    zkv_client_destroy(&self);
    return NULL;
}

static int s_pack(zkv_client_t *self, const s_op_t *op, uint32_t slot, size_t *size);

/*  Tell the cluster this client is done, so its session does not hold a slot
    until it is evicted. Best effort: the socket lingers briefly to send it. */
static void s_close_session(zkv_client_t *self)
{
    int at = self->leader >= 0 ? self->leader : self->cursor;
    if (self->session != S_SESSION_OPEN || at < 0 || (size_t) at >= self->endpoint_count)
        return;
    s_op_t close = {.op.type = ZKV_OP_CLOSE_SESSION};
    size_t size;
    if (s_pack(self, &close, 0, &size) == 0) {
        zsock_set_linger(self->endpoints[at].sock, S_CLOSE_LINGER_MS);
        zmq_send(self->endpoints[at].handle, self->pack, size, ZMQ_DONTWAIT);
    }
    self->session = S_SESSION_NONE;
}

void zkv_client_destroy(zkv_client_t **self_p)
{
    zkv_client_t *self = *self_p;
    if (!self)
        return;
    s_close_session(self);
    for (size_t i = 0; i < self->endpoint_count; i++)
        s_endpoint_close(&self->endpoints[i]);
    if (self->arena.base) {
        s_arena_reset(&self->arena);
        free(self->arena.base);
    }
    free(self->ops);
    free(self->pack);
    explicit_bzero(&self->cert, sizeof self->cert);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- requests */

static ProtobufCBinaryData s_bin(zkv_bytes_t bytes)
{
    ProtobufCBinaryData bin = {bytes.size, (uint8_t *) bytes.data};
    return bin;
}

/*  Fill the request body; the sub-messages live in the caller's frame. */
typedef struct {
    Zkv__GetRequest get;
    Zkv__PutRequest put;
    Zkv__DeleteRequest del;
    Zkv__ScanRequest scan;
    Zkv__CasRequest cas;
    Zkv__StatusRequest status;
    Zkv__DigestRequest digest;
    Zkv__SnapshotRequest snapshot;
    Zkv__OpenSessionRequest open;
    Zkv__CloseSessionRequest close;
    Zkv__MemberListRequest member_list;
    Zkv__Member member;
    Zkv__MemberAddRequest member_add;
    Zkv__MemberPromoteRequest member_promote;
    Zkv__MemberRemoveRequest member_remove;
    Zkv__MoveLeaderRequest move_leader;
    Zkv__WatchRequest watch;
    Zkv__LeaseGrantRequest lease_grant;
    Zkv__LeaseRevokeRequest lease_revoke;
    Zkv__LeaseKeepAliveRequest lease_keepalive;
    Zkv__LeaseListRequest lease_list;
} s_bodies_t;

/*  The bodies without data of their own: status, digest, member list and the
    session's. */
static void s_bare_body(Zkv__Request *request, s_bodies_t *b, zkv_op_type_t type)
{
    switch (type) {
    case ZKV_OP_STATUS:
        zkv__status_request__init(&b->status);
        request->body_case = ZKV__REQUEST__BODY_STATUS;
        request->status = &b->status;
        break;
    case ZKV_OP_DIGEST:
        zkv__digest_request__init(&b->digest);
        request->body_case = ZKV__REQUEST__BODY_DIGEST;
        request->digest = &b->digest;
        break;
    case ZKV_OP_OPEN_SESSION:
        zkv__open_session_request__init(&b->open);
        request->body_case = ZKV__REQUEST__BODY_OPEN_SESSION;
        request->open_session = &b->open;
        break;
    case ZKV_OP_CLOSE_SESSION:
        zkv__close_session_request__init(&b->close);
        request->body_case = ZKV__REQUEST__BODY_CLOSE_SESSION;
        request->close_session = &b->close;
        break;
    case ZKV_OP_MEMBER_LIST:
        zkv__member_list_request__init(&b->member_list);
        request->body_case = ZKV__REQUEST__BODY_MEMBER_LIST;
        request->member_list = &b->member_list;
        break;
    default: assert(!"not a bare request"); break;
    }
}

static void s_member_add_body(Zkv__Request *request, s_bodies_t *b, const zkv_client_member_t *m)
{
    zkv__member__init(&b->member);
    b->member.id = m->id;
    b->member.host = (char *) m->host;
    b->member.pub_port = m->pub_port;
    b->member.router_port = m->router_port;
    b->member.client_port = m->client_port;
    b->member.learner = m->learner;
    zkv__member_add_request__init(&b->member_add);
    b->member_add.member = &b->member;
    request->body_case = ZKV__REQUEST__BODY_MEMBER_ADD;
    request->member_add = &b->member_add;
}

/*  The changes that name a member by its id alone. */
static void s_member_id_body(Zkv__Request *request, s_bodies_t *b, const zkv_op_t *op)
{
    switch (op->type) {
    case ZKV_OP_MEMBER_PROMOTE:
        zkv__member_promote_request__init(&b->member_promote);
        b->member_promote.id = op->member.id;
        request->body_case = ZKV__REQUEST__BODY_MEMBER_PROMOTE;
        request->member_promote = &b->member_promote;
        break;
    case ZKV_OP_MEMBER_REMOVE:
        zkv__member_remove_request__init(&b->member_remove);
        b->member_remove.id = op->member.id;
        request->body_case = ZKV__REQUEST__BODY_MEMBER_REMOVE;
        request->member_remove = &b->member_remove;
        break;
    case ZKV_OP_MOVE_LEADER:
        zkv__move_leader_request__init(&b->move_leader);
        b->move_leader.id = op->member.id;
        request->body_case = ZKV__REQUEST__BODY_MOVE_LEADER;
        request->move_leader = &b->move_leader;
        break;
    default: assert(!"not a change by id"); break;
    }
}

static void s_scan_body(Zkv__Request *request, s_bodies_t *b, const zkv_op_t *op,
                        Zkv__Consistency consistency)
{
    zkv__scan_request__init(&b->scan);
    b->scan.prefix = s_bin(op->prefix);
    b->scan.start = s_bin(op->start);
    b->scan.end = s_bin(op->end);
    b->scan.limit = op->limit;
    b->scan.reverse = op->reverse;
    b->scan.keys_only = op->keys_only;
    b->scan.consistency = consistency;
    request->body_case = ZKV__REQUEST__BODY_SCAN;
    request->scan = &b->scan;
}

static void s_lease_body(Zkv__Request *request, s_bodies_t *b, const zkv_op_t *op)
{
    switch (op->type) {
    case ZKV_OP_LEASE_GRANT:
        zkv__lease_grant_request__init(&b->lease_grant);
        b->lease_grant.ttl = op->ttl_s;
        b->lease_grant.id = op->lease;
        request->body_case = ZKV__REQUEST__BODY_LEASE_GRANT;
        request->lease_grant = &b->lease_grant;
        break;
    case ZKV_OP_LEASE_REVOKE:
        zkv__lease_revoke_request__init(&b->lease_revoke);
        b->lease_revoke.id = op->lease;
        request->body_case = ZKV__REQUEST__BODY_LEASE_REVOKE;
        request->lease_revoke = &b->lease_revoke;
        break;
    case ZKV_OP_LEASE_KEEPALIVE:
        zkv__lease_keep_alive_request__init(&b->lease_keepalive);
        b->lease_keepalive.id = op->lease;
        request->body_case = ZKV__REQUEST__BODY_LEASE_KEEPALIVE;
        request->lease_keepalive = &b->lease_keepalive;
        break;
    default:
        zkv__lease_list_request__init(&b->lease_list);
        request->body_case = ZKV__REQUEST__BODY_LEASE_LIST;
        request->lease_list = &b->lease_list;
        break;
    }
}

static void s_body(Zkv__Request *request, s_bodies_t *b, const zkv_op_t *op)
{
    Zkv__Consistency consistency =
        op->serializable ? ZKV__CONSISTENCY__SERIALIZABLE : ZKV__CONSISTENCY__LINEARIZABLE;
    switch (op->type) {
    case ZKV_OP_GET:
        zkv__get_request__init(&b->get);
        b->get.key = s_bin(op->key);
        b->get.consistency = consistency;
        request->body_case = ZKV__REQUEST__BODY_GET;
        request->get = &b->get;
        break;
    case ZKV_OP_PUT:
        zkv__put_request__init(&b->put);
        b->put.key = s_bin(op->key);
        b->put.value = s_bin(op->value);
        b->put.return_previous = op->return_previous;
        b->put.lease = op->lease;
        request->body_case = ZKV__REQUEST__BODY_PUT;
        request->put = &b->put;
        break;
    case ZKV_OP_DELETE:
        zkv__delete_request__init(&b->del);
        b->del.key = s_bin(op->key);
        b->del.range = op->range;
        b->del.end = s_bin(op->end);
        request->body_case = ZKV__REQUEST__BODY_DELETE;
        request->delete_ = &b->del;
        break;
    case ZKV_OP_SCAN: s_scan_body(request, b, op, consistency); break;
    case ZKV_OP_SNAPSHOT:
        zkv__snapshot_request__init(&b->snapshot);
        b->snapshot.index = op->index;
        b->snapshot.offset = op->offset;
        request->body_case = ZKV__REQUEST__BODY_SNAPSHOT;
        request->snapshot = &b->snapshot;
        break;
    case ZKV_OP_MEMBER_ADD: s_member_add_body(request, b, &op->member); break;
    case ZKV_OP_MEMBER_PROMOTE:
    case ZKV_OP_MEMBER_REMOVE:
    case ZKV_OP_MOVE_LEADER: s_member_id_body(request, b, op); break;
    case ZKV_OP_CAS:
        zkv__cas_request__init(&b->cas);
        b->cas.key = s_bin(op->key);
        b->cas.expected = s_bin(op->expected);
        b->cas.expect_absent = op->expect_absent;
        b->cas.value = s_bin(op->value);
        b->cas.target = op->target;
        b->cas.expected_number = op->expected_number;
        request->body_case = ZKV__REQUEST__BODY_CAS;
        request->cas = &b->cas;
        break;
    case ZKV_OP_TXN:
        request->body_case = ZKV__REQUEST__BODY_TXN;
        request->txn = (Zkv__TxnRequest *) op->txn;
        break;
    case ZKV_OP_LEASE_GRANT:
    case ZKV_OP_LEASE_REVOKE:
    case ZKV_OP_LEASE_KEEPALIVE:
    case ZKV_OP_LEASE_LIST: s_lease_body(request, b, op); break;
    case ZKV_OP_WATCH:
        zkv__watch_request__init(&b->watch);
        b->watch.key = s_bin(op->key);
        b->watch.end = s_bin(op->end);
        b->watch.range = op->range;
        b->watch.after_revision = op->index;
        b->watch.after_seq = op->seq;
        b->watch.limit = op->limit;
        request->body_case = ZKV__REQUEST__BODY_WATCH;
        request->watch = &b->watch;
        break;
    default: s_bare_body(request, b, op->type); break;
    }
}

static int s_pack(zkv_client_t *self, const s_op_t *op, uint32_t slot, size_t *size)
{
    Zkv__Request request;
    s_bodies_t bodies;
    zkv__request__init(&request);
    bool admin = s_is_admin(op->op.type);
    request.client_id = admin ? 0 : self->id;
    request.sequence = op->sequence;
    request.first_unacked = admin ? 0 : self->first_unacked;
    request.request_id = op->gen << S_SLOT_BITS | slot;
    s_body(&request, &bodies, &op->op);
    *size = zkv__request__get_packed_size(&request);
    if (*size > self->pack_size) {
        uint8_t *grown = realloc(self->pack, *size);
        if (!grown)
            return -1;
        self->pack = grown;
        self->pack_size = *size;
    }
    zkv__request__pack(&request, self->pack);
    return 0;
}

/* ---------------------------------------------------------------- timers */

static void s_timer_note(zkv_client_t *self, int64_t at_ms)
{
    if (at_ms < self->next_timer_ms)
        self->next_timer_ms = at_ms;
}

static int64_t s_backoff_ms(zkv_client_t *self, uint32_t failures)
{
    int64_t ms = ZKV_CLIENT_BACKOFF_MS_MIN;
    for (uint32_t i = 1; i < failures && ms < ZKV_CLIENT_BACKOFF_MS_MAX; i++)
        ms *= 2;
    if (ms > ZKV_CLIENT_BACKOFF_MS_MAX)
        ms = ZKV_CLIENT_BACKOFF_MS_MAX;
    /* Between half and all of it, so clients that failed together do not retry together. */
    return ms / 2 + (int64_t) (s_random(self) % (uint64_t) (ms / 2 + 1));
}

/* ---------------------------------------------------------------- completion */

static void s_sequence_done(zkv_client_t *self, uint64_t sequence)
{
    self->pending[sequence % ZKV_CLIENT_WINDOW] = false;
    while (self->first_unacked < self->next_sequence &&
           !self->pending[self->first_unacked % ZKV_CLIENT_WINDOW])
        self->first_unacked++;
}

static void s_complete(zkv_client_t *self, s_op_t *op, int rc, const Zkv__Response *reply)
{
    zkv_client_done_fn *done = op->done;
    void *arg = op->arg;
    if (op->sequence)
        s_sequence_done(self, op->sequence);
    uint32_t slot = (uint32_t) (op - self->ops);
    op->state = S_FREE;
    op->next_free = self->free_head;
    self->free_head = slot;
    self->inflight--;
    self->completions++;
    done(arg, rc, reply);
}

static void s_format_ms(char *out, size_t size, int64_t ms)
{
    if (ms % 1000 == 0)
        snprintf(out, size, "%llds", (long long) (ms / 1000));
    else
        snprintf(out, size, "%lldms", (long long) ms);
}

static const char *s_problem_text(s_problem_t problem)
{
    switch (problem) {
    case S_PROBLEM_NO_REPLY: return "did not reply";
    case S_PROBLEM_UNAVAILABLE: return "answered UNAVAILABLE";
    case S_PROBLEM_NODE_TIMEOUT: return "answered TIMEOUT";
    case S_PROBLEM_NO_LEADER: return "answered NOT_LEADER without naming a leader";
    case S_PROBLEM_SEND: return "could not be sent to (queue full)";
    case S_PROBLEM_DOWN: return "refused or closed the connection";
    case S_PROBLEM_NONE: break;
    }
    return "gave no answer";
}

/*  What a timed-out operation may have left behind. */
static const char *s_outcome_text(const s_op_t *op)
{
    if (op->sequence)
        return "; the write may or may not have been applied";
    if (s_is_admin(op->op.type) && s_leader_bound(&op->op))
        return "; the change may or may not have been made";
    return "";
}

/*  "A, B, C": the endpoints op's attempts went to. */
static void s_tried_list(const zkv_client_t *self, const s_op_t *op, char *out, size_t size)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < self->endpoint_count && used < size; i++) {
        if (!(op->tried & (UINT32_C(1) << i)))
            continue;
        bool full = used > S_ERROR_LIST_MAX;
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "",
                         full ? "..." : self->endpoints[i].name);
        used += n > 0 ? (size_t) n : 0;
        if (full)
            return;
    }
}

/*  The endpoint whose failed handshake explains op's failure: its own when
    pinned, else the first of those with one; -1 when none failed one. */
static int s_handshake_endpoint(const zkv_client_t *self, const s_op_t *op)
{
    if (op->pinned)
        return self->endpoints[op->endpoint].handshake_event ? op->endpoint : -1;
    for (size_t i = 0; i < self->endpoint_count; i++)
        if (self->endpoints[i].handshake_event)
            return (int) i;
    return -1;
}

/*  Fail op with the reason a handshake failed, after head; false when no
    handshake failure explains it. */
static bool s_fail_handshake(zkv_client_t *self, s_op_t *op, const char *head)
{
    int at = s_handshake_endpoint(self, op);
    if (at < 0)
        return false;
    const s_endpoint_t *e = &self->endpoints[at];
    char why[S_ERROR_SIZE];
    zkv_cert_handshake_failure(why, sizeof why, e->name, e->handshake_event, e->handshake_value,
                               self->curve);
    snprintf(self->error, sizeof self->error, "%.100s%.360s%s", head, why, s_outcome_text(op));
    s_complete(self, op, ZKV_CLIENT_EHANDSHAKE, NULL);
    return true;
}

static void s_fail_deadline(zkv_client_t *self, s_op_t *op, int64_t now)
{
    char took[32], head[100], tried[S_ERROR_SIZE];
    s_format_ms(took, sizeof took, now - op->start_ms);
    snprintf(head, sizeof head, "timed out after %s (%u attempt%s): ", took, op->attempts,
             op->attempts == 1 ? "" : "s");
    if (!self->heard && s_fail_handshake(self, op, head))
        return;
    s_tried_list(self, op, tried, sizeof tried);
    if (!self->heard && op->tried)
        snprintf(self->error, sizeof self->error, "%.64snothing answered at %.360s%s", head, tried,
                 s_outcome_text(op));
    else
        snprintf(self->error, sizeof self->error, "%s%s %s%s", head,
                 op->problem_endpoint >= 0 ? self->endpoints[op->problem_endpoint].name
                                           : "the cluster",
                 s_problem_text(op->problem), s_outcome_text(op));
    s_complete(self, op, ZKV_CLIENT_ETIMEDOUT, NULL);
}

/* ---------------------------------------------------------------- links */

/*  Whether endpoint e has been down, never up, since the time since. */
static bool s_down_since(const s_endpoint_t *e, int64_t since)
{
    return e->link == S_LINK_DOWN && e->up_until_ms < since;
}

/*  The first endpoint from `from` on, wrapping, that is not known to be down;
    `from` itself when every one is. */
static int s_usable(const zkv_client_t *self, int from)
{
    int n = (int) self->endpoint_count;
    for (int k = 0; k < n; k++) {
        int i = (from + k) % n;
        if (self->endpoints[i].link != S_LINK_DOWN)
            return i;
    }
    return from;
}

static bool s_all_down(const zkv_client_t *self)
{
    return self->endpoints[s_usable(self, 0)].link == S_LINK_DOWN;
}

/*  Whether op can hope for nothing more from endpoint e: it refused our
    handshake for good, or has refused or dropped its connections for a whole
    attempt timeout (a node that restarts within it is waited for). */
static bool s_gone(const zkv_client_t *self, const s_endpoint_t *e, const s_op_t *op, int64_t now)
{
    return e->refused || (now - op->start_ms >= self->attempt_ms && s_down_since(e, op->start_ms));
}

/*  Every endpoint op may use is gone: nothing listens there, or nothing that
    lets us in, and its deadline would not change that. */
static bool s_unreachable(const zkv_client_t *self, const s_op_t *op, int64_t now)
{
    if (op->pinned)
        return s_gone(self, &self->endpoints[op->endpoint], op, now);
    for (size_t i = 0; i < self->endpoint_count; i++)
        if (!s_gone(self, &self->endpoints[i], op, now))
            return false;
    return true;
}

static void s_fail_unreachable(zkv_client_t *self, s_op_t *op, int64_t now)
{
    if (s_fail_handshake(self, op, ""))
        return;
    char tried[S_ERROR_SIZE];
    s_tried_list(self, op, tried, sizeof tried);
    snprintf(self->error, sizeof self->error,
             "nothing answers at %.360s (connection refused; %u attempt%s in %lldms)%s", tried,
             op->attempts, op->attempts == 1 ? "" : "s", (long long) (now - op->start_ms),
             s_outcome_text(op));
    s_complete(self, op, ZKV_CLIENT_ETIMEDOUT, NULL);
}

/* ---------------------------------------------------------------- attempts */

/*  Where the next attempt of op goes: its own endpoint when pinned, else the
    leader when known (for what must reach it) or its own, or the next one up
    if that one is down. */
static int s_target(const zkv_client_t *self, const s_op_t *op)
{
    if (op->pinned)
        return op->endpoint;
    bool to_leader = s_leader_bound(&op->op) && self->leader >= 0;
    return s_usable(self, to_leader ? self->leader : op->endpoint);
}

static void s_attempt_failed(zkv_client_t *self, s_op_t *op, s_problem_t problem, bool rotate,
                             bool backoff, int64_t now);

static void s_send(zkv_client_t *self, s_op_t *op, int64_t now)
{
    uint32_t slot = (uint32_t) (op - self->ops);
    op->endpoint = s_target(self, op);
    op->gen = ++self->gen;
    assert(self->gen < S_GEN_MAX);
    if (op->attempts++ == 0)
        op->first_gen = op->gen;
    else
        self->stats.retries++;
    self->stats.attempts++;
    size_t size;
    s_endpoint_t *e = &self->endpoints[op->endpoint];
    if (e->refused) {
        /* libzmq will not connect there again: a request queued there would wait in vain. */
        s_attempt_failed(self, op, S_PROBLEM_DOWN, true, true, now);
        return;
    }
    if (s_pack(self, op, slot, &size) || zmq_send(e->handle, self->pack, size, ZMQ_DONTWAIT) < 0) {
        s_attempt_failed(self, op, S_PROBLEM_SEND, true, true, now);
        return;
    }
    op->state = S_SENT;
    op->tried |= UINT32_C(1) << op->endpoint;
    int64_t at = now + self->attempt_ms;
    /* Sent to a node that is down: be back when op may be found unreachable. */
    if (e->link == S_LINK_DOWN && op->start_ms + self->attempt_ms > now)
        at = op->start_ms + self->attempt_ms;
    op->timer_ms = at < op->deadline_ms ? at : op->deadline_ms;
    s_timer_note(self, op->timer_ms);
}

static void s_attempt_failed(zkv_client_t *self, s_op_t *op, s_problem_t problem, bool rotate,
                             bool backoff, int64_t now)
{
    op->problem = problem;
    op->problem_endpoint = op->endpoint;
    if (rotate && self->leader == op->endpoint)
        self->leader = -1;
    if (rotate && !op->pinned) {
        int next = (op->endpoint + 1) % (int) self->endpoint_count;
        if (self->cursor == op->endpoint)
            self->cursor = next;
        op->endpoint = next;
    }
    if (s_unreachable(self, op, now) || (op->op.once && problem == S_PROBLEM_DOWN)) {
        s_fail_unreachable(self, op, now);
        return;
    }
    if (now >= op->deadline_ms || op->op.once) {
        s_fail_deadline(self, op, now);
        return;
    }
    if (!backoff) {
        s_send(self, op, now);
        return;
    }
    op->hops = 0;
    int64_t at = now + s_backoff_ms(self, ++op->failures);
    /* Be back when op may be found unreachable, not a backoff later. */
    if (now < op->start_ms + self->attempt_ms && at > op->start_ms + self->attempt_ms)
        at = op->start_ms + self->attempt_ms;
    op->state = S_WAITING;
    op->timer_ms = at < op->deadline_ms ? at : op->deadline_ms;
    s_timer_note(self, op->timer_ms);
}

/*  NOT_LEADER: follow a named leader at once, a few hops at most; without a
    name (an election is on), back off and try the next endpoint. */
static void s_redirect(zkv_client_t *self, s_op_t *op, const Zkv__Response *reply, int64_t now)
{
    int to = -1;
    if (reply->leader_endpoint && reply->leader_endpoint[0])
        to = s_endpoint_lookup(self, reply->leader_endpoint);
    if (to < 0 || to == op->endpoint) {
        self->stats.refused++;
        s_attempt_failed(self, op, S_PROBLEM_NO_LEADER, true, true, now);
        return;
    }
    self->stats.redirects++;
    self->leader = self->cursor = to;
    op->endpoint = to;
    bool hop = ++op->hops <= ZKV_CLIENT_HOPS_MAX;
    op->problem = S_PROBLEM_NO_LEADER;
    op->problem_endpoint = to;
    if (hop)
        s_send(self, op, now);
    else
        s_attempt_failed(self, op, S_PROBLEM_NO_LEADER, false, true, now);
}

/* ---------------------------------------------------------------- replies */

static bool s_status_final(int status)
{
    switch (status) {
    case ZKV__STATUS__OK:
    case ZKV__STATUS__NOT_FOUND:
    case ZKV__STATUS__CAS_FAILED:
    case ZKV__STATUS__BAD_REQUEST:
    case ZKV__STATUS__KEY_TOO_LARGE:
    case ZKV__STATUS__VALUE_TOO_LARGE:
    case ZKV__STATUS__INTERNAL:
    case ZKV__STATUS__COMPACTED:
    case ZKV__STATUS__LEASE_NOT_FOUND:
    case ZKV__STATUS__ALREADY_EXISTS:
    case ZKV__STATUS__PERMISSION_DENIED:
    case ZKV__STATUS__FAILED_PRECONDITION: return true;
    default: return false;
    }
}

/*  The operation a reply belongs to, or NULL when it is stale or not ours. */
static s_op_t *s_match(zkv_client_t *self, const Zkv__Response *reply)
{
    uint64_t slot = reply->request_id & S_SLOT_MASK;
    uint64_t gen = reply->request_id >> S_SLOT_BITS;
    if (reply->client_id != 0 && reply->client_id != self->id) {
        if (reply->client_id == self->old_id)
            self->stats.stale++;
        else
            self->stats.malformed++;
        return NULL;
    }
    if (slot >= self->capacity) {
        self->stats.malformed++;
        return NULL;
    }
    s_op_t *op = &self->ops[slot];
    if (op->state == S_FREE || gen < op->first_gen || gen > op->gen ||
        (reply->sequence != 0 && reply->sequence != op->sequence)) {
        self->stats.stale++;
        return NULL;
    }
    return op;
}

/*  The node forgot this client. None of its writes may be retried in a new
    session (one may have been applied before the old session was
    forgotten), so every write in flight ends here; later writes open a
    session under a new id. */
static void s_session_expired(zkv_client_t *self, s_op_t *expired)
{
    self->old_id = self->id;
    self->id = s_random_id();
    self->session = S_SESSION_NONE;
    snprintf(self->error, sizeof self->error,
             "the cluster had forgotten this client's session (too many clients): the write "
             "was refused%s",
             expired->attempts > 1 ? "; an earlier attempt may or may not have been applied" : "");
    s_complete(self, expired, ZKV_CLIENT_ESESSION, NULL);
    for (uint32_t i = 0; i < self->capacity; i++)
        if (self->ops[i].state != S_FREE && self->ops[i].sequence)
            s_complete(self, &self->ops[i], ZKV_CLIENT_ESESSION, NULL);
}

static void s_on_reply(zkv_client_t *self, int from, const Zkv__Response *reply, int64_t now)
{
    s_op_t *op = s_match(self, reply);
    if (!op)
        return;
    bool current = (reply->request_id >> S_SLOT_BITS) == op->gen && op->state == S_SENT &&
                   from == op->endpoint;
    int status = (int) reply->status;
    if (status == ZKV__STATUS__SESSION_EXPIRED) {
        s_session_expired(self, op);
        return;
    }
    if (s_status_final(status) || (op->pinned && status == ZKV__STATUS__NOT_LEADER)) {
        /* A follower that served a linearizable read names the leader: the
           next ones go there (a round trip less). */
        if (!op->pinned && status != ZKV__STATUS__NOT_LEADER && reply->leader_endpoint &&
            reply->leader_endpoint[0]) {
            int leader = s_endpoint_lookup(self, reply->leader_endpoint);
            if (leader >= 0)
                self->leader = self->cursor = leader;
        }
        s_complete(self, op, 0, reply);
        return;
    }
    if (!current) {
        /* A retry is already out; this non-final answer to an older attempt says nothing new. */
        self->stats.stale++;
        return;
    }
    switch (status) {
    case ZKV__STATUS__NOT_LEADER: s_redirect(self, op, reply, now); return;
    case ZKV__STATUS__UNAVAILABLE:
        self->stats.refused++;
        s_attempt_failed(self, op, S_PROBLEM_UNAVAILABLE, true, true, now);
        return;
    case ZKV__STATUS__TIMEOUT:
        self->stats.refused++;
        s_attempt_failed(self, op, S_PROBLEM_NODE_TIMEOUT, false, true, now);
        return;
    default:
        snprintf(self->error, sizeof self->error, "%s answered with unknown status %d",
                 self->endpoints[from].name, status);
        s_complete(self, op, ZKV_CLIENT_EPROTO, NULL);
        return;
    }
}

static void s_on_frame(zkv_client_t *self, int from, zmq_msg_t *msg, int64_t now)
{
    Zkv__Response *reply =
        zkv__response__unpack(&self->arena.allocator, zmq_msg_size(msg), zmq_msg_data(msg));
    if (!reply) {
        self->stats.malformed++;
        return;
    }
    self->heard = true;
    s_on_reply(self, from, reply, now);
}

/*  Take what has arrived on one socket, without blocking. */
static void s_drain(zkv_client_t *self, int from)
{
    void *handle = self->endpoints[from].handle;
    for (int n = 0; n < S_RECV_BATCH; n++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        if (zmq_msg_more(&msg)) {
            /* One frame per reply; a multi-frame message is not ours to parse. */
            self->stats.malformed++;
            while (zmq_msg_more(&msg) && zmq_msg_recv(&msg, handle, 0) >= 0) {
            }
        } else {
            s_on_frame(self, from, &msg, s_now_ms());
        }
        zmq_msg_close(&msg);
    }
}

/*  Endpoint at refused, failed or dropped a connection: attempts waiting there
    move on now; with every endpoint down, after a backoff. */
static void s_link_down(zkv_client_t *self, int at, int64_t now)
{
    s_endpoint_t *e = &self->endpoints[at];
    if (e->link == S_LINK_UP)
        e->up_until_ms = now;
    e->link = S_LINK_DOWN;
    if (self->leader == at)
        self->leader = -1;
    if (self->cursor == at)
        self->cursor = s_usable(self, at);
    bool all_down = s_all_down(self);
    for (uint32_t i = 0; i < self->capacity; i++) {
        s_op_t *op = &self->ops[i];
        if (op->state != S_SENT || op->endpoint != at)
            continue;
        self->stats.down++;
        s_attempt_failed(self, op, S_PROBLEM_DOWN, true, all_down || op->pinned, now);
    }
}

/*  Note what a connection event says of an endpoint's handshake. A node
    going down drops a handshake once, then refuses connections; one that
    drops every handshake (the wrong server key, CURVE on one side only, its
    reset beating its greeting) is worth naming. */
static void s_note_handshake(zkv_client_t *self, s_endpoint_t *e, uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED || (event == ZMQ_EVENT_CLOSED && !e->refused)) {
        e->handshake_event = 0;
        e->dropped_handshakes = 0;
        e->refused = false;
        return;
    }
    bool dropped = event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (dropped && (e->admitted || ++e->dropped_handshakes < S_DROPPED_HANDSHAKES_MIN))
        return;
    if (dropped || event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
        event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        e->handshake_event = event;
        e->handshake_value = value;
        e->refused = zkv_cert_handshake_failure(NULL, 0, e->name, event, value, self->curve);
    }
}

/*  Take the connection events of one endpoint, without blocking. */
static void s_drain_link(zkv_client_t *self, int at, int64_t now)
{
    void *handle = zsock_resolve(self->endpoints[at].monitor);
    for (;;) {
        zmq_msg_t head, address;
        zmq_msg_init(&head);
        zmq_msg_init(&address);
        int size = zmq_msg_recv(&head, handle, ZMQ_DONTWAIT);
        if (size >= 0 && zmq_msg_more(&head))
            zmq_msg_recv(&address, handle, 0);
        uint16_t event = 0;
        uint32_t value = 0;
        if (size >= (int) (sizeof event + sizeof value)) {
            memcpy(&event, zmq_msg_data(&head), sizeof event);
            memcpy(&value, (uint8_t *) zmq_msg_data(&head) + sizeof event, sizeof value);
        }
        zmq_msg_close(&head);
        zmq_msg_close(&address);
        if (size < 0)
            return;
        s_note_handshake(self, &self->endpoints[at], event, value);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            self->endpoints[at].link = S_LINK_UP;
            self->endpoints[at].admitted = true;
        } else if (event) {
            s_link_down(self, at, now);
        }
    }
}

static void s_timers(zkv_client_t *self, int64_t now)
{
    self->next_timer_ms = INT64_MAX;
    for (uint32_t i = 0; i < self->capacity; i++) {
        s_op_t *op = &self->ops[i];
        if (op->state == S_FREE)
            continue;
        if (op->timer_ms > now) {
            s_timer_note(self, op->timer_ms);
            continue;
        }
        if (op->state == S_SENT) {
            self->stats.no_reply++;
            s_attempt_failed(self, op, S_PROBLEM_NO_REPLY, true, false, now);
        } else if (op->state == S_HELD) {
            /* The session's opening, due no later, fails it with the reason. */
            if (self->session != S_SESSION_OPENING)
                s_fail_deadline(self, op, now);
        } else if (now >= op->deadline_ms) {
            s_fail_deadline(self, op, now);
        } else if (s_unreachable(self, op, now)) {
            s_fail_unreachable(self, op, now);
        } else {
            s_send(self, op, now);
        }
    }
}

/* ---------------------------------------------------------------- public */

static int s_check_sizes(zkv_client_t *self, const zkv_op_t *op)
{
    if (op->key.size > ZKV_KEY_SIZE_MAX) {
        snprintf(self->error, sizeof self->error, "key of %zu bytes is over the limit of %d",
                 op->key.size, ZKV_KEY_SIZE_MAX);
        return ZKV_EKEYSIZE;
    }
    if (op->prefix.size > ZKV_KEY_SIZE_MAX || op->start.size > ZKV_KEY_SIZE_MAX ||
        op->end.size > ZKV_KEY_SIZE_MAX) {
        snprintf(self->error, sizeof self->error, "scan bound over the key limit of %d bytes",
                 ZKV_KEY_SIZE_MAX);
        return ZKV_EKEYSIZE;
    }
    size_t value = op->value.size > op->expected.size ? op->value.size : op->expected.size;
    if (value > ZKV_VALUE_SIZE_MAX) {
        snprintf(self->error, sizeof self->error, "value of %zu bytes is over the limit of %d",
                 value, ZKV_VALUE_SIZE_MAX);
        return ZKV_EVALSIZE;
    }
    return 0;
}

static int s_check(zkv_client_t *self, const zkv_op_t *op, int *endpoint)
{
    if (op->type < ZKV_OP_GET || op->type > ZKV_OP_MOVE_LEADER ||
        (op->type == ZKV_OP_TXN && !op->txn)) {
        snprintf(self->error, sizeof self->error, "unknown operation %d", (int) op->type);
        return ZKV_EINVAL;
    }
    int rc = s_check_sizes(self, op);
    if (rc)
        return rc;
    if (self->inflight - self->internal >= self->user_capacity) {
        snprintf(self->error, sizeof self->error, "%u operations already in flight",
                 self->user_capacity);
        return ZKV_EBUSY;
    }
    if (s_is_write(op->type) && self->next_sequence - self->first_unacked >= ZKV_CLIENT_WINDOW) {
        snprintf(self->error, sizeof self->error, "%d writes already in flight", ZKV_CLIENT_WINDOW);
        return ZKV_EBUSY;
    }
    *endpoint = -1;
    if (op->once && !op->endpoint) {
        snprintf(self->error, sizeof self->error, "a single attempt needs an endpoint");
        return ZKV_EINVAL;
    }
    if (op->endpoint && (*endpoint = s_endpoint_lookup(self, op->endpoint)) < 0) {
        snprintf(self->error, sizeof self->error, "cannot use endpoint '%.200s'", op->endpoint);
        return ZKV_EINVAL;
    }
    return 0;
}

static s_op_t *s_take_slot(zkv_client_t *self)
{
    s_op_t *op = &self->ops[self->free_head];
    self->free_head = op->next_free;
    self->inflight++;
    memset(op, 0, sizeof *op);
    return op;
}

static s_op_t *s_start(zkv_client_t *self, const zkv_op_t *op, int pinned_at,
                       zkv_client_done_fn *done, void *arg, int64_t now)
{
    s_op_t *o = s_take_slot(self);
    o->op = *op;
    o->pinned = pinned_at >= 0;
    o->endpoint = o->pinned ? pinned_at : s_leader_bound(op) ? self->cursor : self->home;
    o->problem_endpoint = -1;
    o->done = done;
    o->arg = arg;
    o->start_ms = now;
    o->deadline_ms = now + self->timeout_ms;
    return o;
}

/*  The session's opening ended: held writes go out, or fail with it. */
static void s_session_done(void *arg, int rc, const Zkv__Response *reply)
{
    zkv_client_t *self = arg;
    self->internal--;
    bool open = rc == 0 && reply && reply->status == ZKV__STATUS__OK;
    self->session = open ? S_SESSION_OPEN : S_SESSION_NONE;
    if (!open && rc == 0) {
        snprintf(self->error, sizeof self->error, "refused: %s %s",
                 zkv_client_status_name((int) reply->status), reply->error);
        rc = ZKV_CLIENT_EPROTO;
    }
    if (!open) {
        char why[S_ERROR_SIZE];
        snprintf(why, sizeof why, "%s", self->error);
        snprintf(self->error, sizeof self->error,
                 "opening the client's session failed (%.400s): the write was not sent", why);
    }
    int64_t now = s_now_ms();
    for (uint32_t i = 0; i < self->capacity; i++) {
        s_op_t *op = &self->ops[i];
        if (op->state != S_HELD)
            continue;
        if (open)
            s_send(self, op, now);
        else
            s_complete(self, op, rc, NULL);
    }
}

/*  Writes wait for the session: a write the node takes without one is refused. */
static void s_hold(zkv_client_t *self, s_op_t *o, int64_t now)
{
    o->state = S_HELD;
    o->timer_ms = o->deadline_ms;
    s_timer_note(self, o->timer_ms);
    if (self->session != S_SESSION_NONE)
        return;
    self->session = S_SESSION_OPENING;
    self->internal++;
    zkv_op_t open = {.type = ZKV_OP_OPEN_SESSION};
    s_send(self, s_start(self, &open, -1, s_session_done, self, now), now);
}

int zkv_client_submit(zkv_client_t *self, const zkv_op_t *op, zkv_client_done_fn *done, void *arg)
{
    assert(self && op && done);
    int pinned_at;
    int rc = s_check(self, op, &pinned_at);
    if (rc)
        return rc;
    bool write = s_is_write(op->type);
    int64_t now = s_now_ms();
    s_op_t *o = s_start(self, op, pinned_at, done, arg, now);
    if (write) {
        o->sequence = self->next_sequence++;
        self->pending[o->sequence % ZKV_CLIENT_WINDOW] = true;
    }
    self->stats.operations++;
    if (write && self->session != S_SESSION_OPEN)
        s_hold(self, o, now);
    else
        s_send(self, o, now);
    return 0;
}

/*  The DEALERs, then the monitors: every one, or (links_up false) those of
    endpoints not known to be up. Polling a socket costs system calls, and a
    busy client reads its monitors at its next dispatch anyway. */
static size_t s_pollitems(zkv_client_t *self, zmq_pollitem_t *items, size_t capacity, bool links_up)
{
    size_t n = 0;
    for (size_t i = 0; i < 2 * self->endpoint_count && n < capacity; i++) {
        const s_endpoint_t *e = &self->endpoints[i % self->endpoint_count];
        if (i >= self->endpoint_count && e->link == S_LINK_UP && !links_up)
            continue;
        items[n].socket = i < self->endpoint_count ? e->handle : zsock_resolve(e->monitor);
        items[n].fd = 0;
        items[n].events = ZMQ_POLLIN;
        items[n++].revents = 0;
    }
    return n;
}

size_t zkv_client_pollitems(zkv_client_t *self, zmq_pollitem_t *items, size_t capacity)
{
    return s_pollitems(self, items, capacity, false);
}

int64_t zkv_client_wait_ms(const zkv_client_t *self)
{
    if (self->inflight == 0)
        return -1;
    int64_t wait = self->next_timer_ms - s_now_ms();
    return wait > 0 ? wait : 0;
}

int zkv_client_dispatch(zkv_client_t *self)
{
    uint64_t before = self->completions;
    s_arena_reset(&self->arena);
    for (size_t i = 0; i < self->endpoint_count; i++)
        s_drain(self, (int) i);
    int64_t now = s_now_ms();
    /* Connection events can wait a millisecond: reading an empty monitor costs
       a system call, too much on every dispatch of a busy client. */
    if (now != self->links_ms) {
        self->links_ms = now;
        for (size_t i = 0; i < self->endpoint_count; i++)
            s_drain_link(self, (int) i, now);
    }
    if (now >= self->next_timer_ms)
        s_timers(self, now);
    return (int) (self->completions - before);
}

int zkv_client_poll(zkv_client_t *self, int64_t max_wait_ms)
{
    zmq_pollitem_t items[ZKV_CLIENT_POLLITEMS_MAX];
    size_t n = s_pollitems(self, items, ZKV_CLIENT_POLLITEMS_MAX, true);
    int64_t wait = zkv_client_wait_ms(self);
    if (wait < 0 || wait > max_wait_ms)
        wait = max_wait_ms;
    zmq_poll(items, (int) n, (long) wait);
    for (size_t i = self->endpoint_count; i < n; i++)
        if (items[i].revents & ZMQ_POLLIN)
            self->links_ms = -1; /* a monitor has news: read it now */
    return zkv_client_dispatch(self);
}

void zkv_client_cancel(zkv_client_t *self)
{
    for (uint32_t i = 0; i < self->capacity; i++)
        if (self->ops[i].state != S_FREE) {
            snprintf(self->error, sizeof self->error, "canceled");
            s_complete(self, &self->ops[i], ZKV_CLIENT_ECANCELED, NULL);
        }
}

typedef struct {
    bool done;
    int rc;
    const Zkv__Response *reply;
} s_sync_t;

static void s_sync_done(void *arg, int rc, const Zkv__Response *reply)
{
    s_sync_t *sync = arg;
    sync->done = true;
    sync->rc = rc;
    sync->reply = reply;
}

int zkv_client_call(zkv_client_t *self, const zkv_op_t *op, const Zkv__Response **reply)
{
    s_sync_t sync = {false, 0, NULL};
    *reply = NULL;
    int rc = zkv_client_submit(self, op, s_sync_done, &sync);
    if (rc)
        return rc;
    while (!sync.done) {
        if (zsys_interrupted) {
            zkv_client_cancel(self);
            snprintf(self->error, sizeof self->error, "interrupted");
            return ZKV_CLIENT_EINTR;
        }
        zkv_client_poll(self, ZKV_CLIENT_TIMEOUT_MS_DEFAULT);
    }
    *reply = sync.reply;
    return sync.rc;
}

size_t zkv_client_inflight(const zkv_client_t *self)
{
    return self->inflight - self->internal;
}

uint64_t zkv_client_id(const zkv_client_t *self)
{
    return self->id;
}

uint64_t zkv_client_next_sequence(const zkv_client_t *self)
{
    return self->next_sequence;
}

uint64_t zkv_client_first_unacked(const zkv_client_t *self)
{
    return self->first_unacked;
}

bool zkv_client_heard(const zkv_client_t *self)
{
    return self->heard;
}

const char *zkv_client_leader(const zkv_client_t *self)
{
    return self->leader >= 0 ? self->endpoints[self->leader].name : NULL;
}

void zkv_client_stats(const zkv_client_t *self, zkv_client_stats_t *stats)
{
    *stats = self->stats;
}

const char *zkv_client_error(const zkv_client_t *self)
{
    return self->error[0] ? self->error : "no error";
}

const char *zkv_client_strerror(int rc)
{
    switch (rc) {
    case ZKV_CLIENT_ETIMEDOUT: return "timed out";
    case ZKV_CLIENT_EPROTO: return "unexpected reply";
    case ZKV_CLIENT_EINTR: return "interrupted";
    case ZKV_CLIENT_ECANCELED: return "canceled";
    case ZKV_CLIENT_ESESSION: return "session expired";
    case ZKV_CLIENT_EHANDSHAKE: return "handshake refused";
    default: return zkv_strerror(rc);
    }
}

const char *zkv_client_status_name(int status)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&zkv__status__descriptor, status);
    return v ? v->name : "UNKNOWN";
}
