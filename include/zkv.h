/*  zkv.h: libzkv, the C client library of zkv (pkg-config zkv; link -lzkv).
    The zkv command, its benchmark, the fault driver and the tests use it as
    any program would. Three ways to call it: the simple calls at the end
    (zkv_get, zkv_put, ...) return plain C values; zkv_client_call runs any
    operation (zkv_op_t) to completion and hands back the node's answer, a
    zkv.Response of proto/zkv.proto (zkv.pb-c.h, protobuf-c); zkv_client_submit
    starts one and calls back, for many in flight. examples/ shows each.

    One zkv_client_t is one client session: a random client id, a session
    opened on the cluster before the first write (and closed by
    zkv_client_destroy), a sequence counter for writes and the first_unacked
    bookkeeping that lets the node forget old results (Raft thesis, section
    6.3). It keeps one DEALER socket per
    node endpoint, many requests in flight, and matches replies by request id.

    Each operation is retried until it gets a final answer or its overall
    deadline passes: NOT_LEADER is followed to the named leader, UNAVAILABLE and
    TIMEOUT answers are retried after a short backoff, and an attempt that gets
    no reply within the attempt timeout moves on to the next endpoint. A retried
    write carries the same client id and sequence, so the node applies it once.
    A socket monitor on each endpoint tells a refused or dropped connection: an
    attempt there moves on at once, attempts avoid endpoints known to be down,
    and when every endpoint has refused for a whole attempt timeout the
    operation fails (ETIMEDOUT) without waiting out its deadline.

    Submitted operations make progress in zkv_client_poll (one client) or in
    zkv_client_pollitems and zkv_client_dispatch (several clients in one
    zmq_poll loop), and in zkv_client_call.

    Security: with zkv_curve_t set, every connection speaks CurveZMQ (RFC 26):
    encrypted, and the node checks this client's public key against its
    allowed clients. A node that refuses the handshake (our key, or CURVE on
    one side only) is left at once, like one that refuses the connection, and
    libzmq does not connect there again (a client whose key was refused must
    be made anew); when every node has, the operation fails at once with
    ZKV_CLIENT_EHANDSHAKE and the reason in zkv_client_error. Nodes that drop
    every handshake (the wrong server key) fail it so after an attempt timeout.

    Not thread-safe: one thread owns a client. */
#ifndef ZKV_H
#define ZKV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "zkv.pb-c.h"
#include "zkv_types.h"

/*  Endpoints a client knows at once: the configured list plus leaders and
    members it learns of. */
#define ZKV_CLIENT_ENDPOINTS_MAX 32
/*  Sockets of one client in a zmq_poll: a DEALER and a monitor per endpoint. */
#define ZKV_CLIENT_POLLITEMS_MAX (2 * ZKV_CLIENT_ENDPOINTS_MAX)
/*  Longest endpoint string, including the terminating NUL. */
#define ZKV_CLIENT_ENDPOINT_SIZE_MAX 256
/*  Defaults for the overall deadline of an operation and for one attempt. */
#define ZKV_CLIENT_TIMEOUT_MS_DEFAULT 5000
#define ZKV_CLIENT_ATTEMPT_MS_DEFAULT 1000
/*  Operations in flight on one client: default and hard limit. */
#define ZKV_CLIENT_INFLIGHT_DEFAULT 1024
#define ZKV_CLIENT_INFLIGHT_MAX 65536
/*  Writes in flight on one client; the node keeps this many results per
    session (ZKV_SESSION_WINDOW) and refuses more. */
#define ZKV_CLIENT_WINDOW 1024
/*  Largest reply accepted; a bigger one makes libzmq drop the connection. */
#define ZKV_CLIENT_REPLY_SIZE_MAX (64 * 1024 * 1024)
/*  Largest piece of a snapshot file a node puts in one reply (zkv snapshot save
    takes a bigger one for a bad reply). */
#define ZKV_CLIENT_SNAPSHOT_PIECE_MAX (1024 * 1024)
/*  Backoff after UNAVAILABLE, TIMEOUT or an unknown leader: doubles per
    failure from MIN up to MAX, with jitter. */
#define ZKV_CLIENT_BACKOFF_MS_MIN 20
#define ZKV_CLIENT_BACKOFF_MS_MAX 500
/*  Redirects followed at once before an operation backs off (a stale leader
    hint during an election can bounce a request between nodes). */
#define ZKV_CLIENT_HOPS_MAX 8

/*  Client errors, beside the ZKV_E* codes of zkv_types.h (ZKV_EKEYSIZE,
    ZKV_EVALSIZE, ZKV_EINVAL, ZKV_EBUSY, ZKV_ENOMEM):
    ETIMEDOUT  no final answer before the deadline, or every endpoint refused its
               connections for an attempt timeout; a write's outcome is unknown
    EPROTO     a reply with a status the client does not know
    EINTR      interrupted (SIGINT/SIGTERM)
    ECANCELED  zkv_client_cancel
    ESESSION   the node had forgotten this client's session (too many clients):
               the write was refused, and an earlier attempt of it may or may
               not have been applied; the client opens a new session for the
               writes that follow
    EHANDSHAKE the nodes refused the connection's handshake (our key is not
               among their allowed clients; one side without CURVE) or dropped
               it (the wrong server key): zkv_client_error says which */
#define ZKV_CLIENT_ETIMEDOUT (-101)
#define ZKV_CLIENT_EPROTO (-102)
#define ZKV_CLIENT_EINTR (-103)
#define ZKV_CLIENT_ECANCELED (-104)
#define ZKV_CLIENT_ESESSION (-105)
#define ZKV_CLIENT_EHANDSHAKE (-106)

typedef struct zkv_client_t zkv_client_t;

/*  CurveZMQ keys of a client (zkv cert new makes them). Both NULL: plaintext,
    for a cluster run without CURVE (zkvd --insecure). */
typedef struct {
    const char *cert;       /* this client's certificate: FILE or FILE_secret (the secret
                               file is read; only its owner may read it) */
    const char *server_key; /* the nodes' public key: 40 Z85 characters, or their public
                               certificate file */
} zkv_curve_t;

typedef struct {
    const char *endpoints;      /* comma-separated; a bare host:port means tcp://host:port */
    int64_t timeout_ms;         /* overall deadline of one operation; 0: default */
    int64_t attempt_timeout_ms; /* wait for one reply; 0: default; capped by timeout_ms */
    uint64_t client_id;         /* 0: random from getrandom */
    size_t home;                /* endpoint tried first and serving serializable reads */
    size_t inflight_max;        /* operations in flight at once; 0: default */
    zkv_curve_t curve;          /* keys, read once by zkv_client_new; zeroed: plaintext */
} zkv_client_config_t;

typedef enum {
    ZKV_OP_GET = 1,
    ZKV_OP_PUT,
    ZKV_OP_DELETE,
    ZKV_OP_SCAN,
    ZKV_OP_CAS,
    ZKV_OP_STATUS,
    ZKV_OP_DIGEST,          /* the node's state machine digest; pin it to compare replicas */
    ZKV_OP_SNAPSHOT,        /* a piece of the node's newest snapshot file; pin it, as a digest */
    ZKV_OP_TXN,             /* a transaction (txn): compares, then one branch of operations */
    ZKV_OP_WATCH,           /* a watcher's catch-up from the node's history; pin it, as a digest */
    ZKV_OP_LEASE_GRANT,     /* ttl_s, lease (0: the node picks); reply lease_id, ttl */
    ZKV_OP_LEASE_REVOKE,    /* lease: revoked, its keys deleted */
    ZKV_OP_LEASE_KEEPALIVE, /* lease: renewed; reply ttl */
    ZKV_OP_LEASE_LIST,      /* every lease, as the leader reckons its time left */
    /* Membership and leadership: no session, so neither client id nor sequence. A
       retry after a lost reply may find its own change done (FAILED_PRECONDITION). */
    ZKV_OP_MEMBER_LIST, /* the answering node's view, like a serializable read */
    ZKV_OP_MEMBER_ADD,  /* this and the rest go to the leader, like writes */
    ZKV_OP_MEMBER_PROMOTE,
    ZKV_OP_MEMBER_REMOVE,
    ZKV_OP_MOVE_LEADER,
    /* Sent by the client itself around its writes; zkv_client_submit refuses them. */
    ZKV_OP_OPEN_SESSION,
    ZKV_OP_CLOSE_SESSION,
} zkv_op_type_t;

/*  The member a membership change names. */
typedef struct {
    uint32_t id;          /* add, promote, remove; move leader: the new leader */
    const char *host;     /* add, with the ports below; borrowed like byte fields */
    uint16_t pub_port;    /* the leader's appends and heartbeats */
    uint16_t router_port; /* acks, votes, catch-up, snapshots */
    uint16_t client_port;
    bool learner; /* add: join as a learner, to be promoted once caught up */
} zkv_client_member_t;

/*  One operation. Byte fields are borrowed: they must stay valid until the
    operation completes. Fields an operation does not use are ignored. */
typedef struct {
    zkv_op_type_t type;
    zkv_bytes_t key;             /* get, put, delete, cas */
    zkv_bytes_t value;           /* put; cas: the new value */
    zkv_bytes_t expected;        /* cas with target VALUE, unless expect_absent */
    bool expect_absent;          /* cas: succeed only when the key is absent */
    Zkv__Compare__Target target; /* cas: what is compared (VALUE: expected) */
    uint64_t expected_number;    /* cas with target VERSION, MOD or CREATE */
    bool range;                  /* delete: every key in [key, end); an empty end: no bound */
    const Zkv__TxnRequest *txn;  /* txn: borrowed like the byte fields */
    uint64_t lease;              /* put: attach the key to it (0: none); the lease operations' id */
    uint64_t ttl_s;              /* lease grant: seconds */
    bool return_previous;        /* put: the reply carries the replaced value */
    bool serializable;           /* get, scan: any node may serve it from its own state */
    zkv_bytes_t prefix;          /* scan: either a prefix, */
    zkv_bytes_t start;           /* or the range [start, end); empty end: no bound */
    zkv_bytes_t end;             /* and delete with range */
    uint32_t limit;              /* scan: 0 means the node's maximum */
    bool reverse;                /* scan */
    bool keys_only;              /* scan */
    const char *endpoint;        /* send only here, never redirected (status, digest or snapshot
                                    of one member) */
    bool once;                   /* with endpoint: one attempt; no reply in the attempt timeout, a
                                    refused connection or a non-final answer ends it (ETIMEDOUT) */
    uint64_t index;              /* snapshot: 0 for the first piece, then the index it announced;
                                    watch: the revision of the position to catch up after */
    uint32_t seq;                /* watch: the position's seq (UINT32_MAX: all of index) */
    uint64_t offset;             /* snapshot: where the piece starts in the file */
    /* Membership changes and move leader. */
    zkv_client_member_t member;
} zkv_op_t;

/*  Called once per submitted operation, from zkv_client_dispatch, zkv_client_poll,
    zkv_client_call or zkv_client_cancel. rc 0: reply holds a final answer
    (OK, NOT_FOUND, CAS_FAILED, BAD_REQUEST, KEY_TOO_LARGE, VALUE_TOO_LARGE,
    INTERNAL, FAILED_PRECONDITION, COMPACTED; NOT_LEADER too for an operation pinned to one
    endpoint). rc < 0: reply is NULL. The reply is borrowed until the next
    dispatch on this client; the callback may submit new operations. */
typedef void(zkv_client_done_fn)(void *arg, int rc, const Zkv__Response *reply);

typedef struct {
    uint64_t operations; /* submitted */
    uint64_t attempts;   /* requests sent: first tries and retries */
    uint64_t retries;    /* attempts after the first of an operation */
    uint64_t redirects;  /* NOT_LEADER answers followed to a named leader */
    uint64_t no_reply;   /* attempts that got no reply within the attempt timeout */
    uint64_t down;       /* attempts ended by a refused or dropped connection */
    uint64_t refused;    /* UNAVAILABLE, TIMEOUT or NOT_LEADER without a leader */
    uint64_t stale;      /* replies to an attempt already superseded or finished */
    uint64_t malformed;  /* frames that are not a Response to this client */
} zkv_client_stats_t;

/*  A new client, its sockets connecting in the background. NULL when the
    configuration is invalid (a message is written to err: a certificate that
    cannot be read, or given without the server's key) or memory runs out. */
zkv_client_t *zkv_client_new(const zkv_client_config_t *config, char *err, size_t err_size);

/*  Close every socket; operations still in flight are dropped without a callback. */
void zkv_client_destroy(zkv_client_t **self_p);

/*  Run one operation to completion. 0: *reply holds the final answer, borrowed
    until the next call on this client; or a negative error (see zkv_client_error
    for a description). Other submitted operations make progress meanwhile; on
    SIGINT/SIGTERM (czmq's zsys_interrupted) every operation in flight is
    canceled and ZKV_CLIENT_EINTR returned. */
int zkv_client_call(zkv_client_t *self, const zkv_op_t *op, const Zkv__Response **reply);

/*  Start an operation. 0, or ZKV_EKEYSIZE/ZKV_EVALSIZE (refused before sending,
    with the node's limits), ZKV_EINVAL (bad operation or endpoint), ZKV_EBUSY
    (inflight_max operations or ZKV_CLIENT_WINDOW writes in flight: wait for
    some to complete). On error done is never called. */
int zkv_client_submit(zkv_client_t *self, const zkv_op_t *op, zkv_client_done_fn *done, void *arg);

/*  Wait up to max_wait_ms (or the next retry timer, if sooner) for replies, then
    dispatch. Returns the number of operations completed. */
int zkv_client_poll(zkv_client_t *self, int64_t max_wait_ms);

/*  Fill items (up to capacity; ZKV_CLIENT_POLLITEMS_MAX holds them all) with
    this client's sockets for zmq_poll: its DEALERs, then the socket monitors
    of the endpoints not known to be connected (a connection that drops is
    read at the next dispatch); returns how many. The set changes as
    connections come and go and the client learns of new endpoints: fill it
    before each poll. */
size_t zkv_client_pollitems(zkv_client_t *self, zmq_pollitem_t *items, size_t capacity);

/*  Milliseconds until this client's next timer fires (attempt timeout, backoff,
    deadline); 0 if one is due; -1 with nothing in flight. */
int64_t zkv_client_wait_ms(const zkv_client_t *self);

/*  Without blocking: take in every reply that has arrived, resend what is due,
    fail what is past its deadline. Returns the number of operations completed. */
int zkv_client_dispatch(zkv_client_t *self);

/*  Complete every operation in flight with ZKV_CLIENT_ECANCELED. Writes among
    them may or may not have been applied. */
void zkv_client_cancel(zkv_client_t *self);

/*  Operations in flight. */
size_t zkv_client_inflight(const zkv_client_t *self);

uint64_t zkv_client_id(const zkv_client_t *self);
/*  The sequence the next write will get. */
uint64_t zkv_client_next_sequence(const zkv_client_t *self);
/*  The lowest write sequence still awaiting a reply (next_sequence when none). */
uint64_t zkv_client_first_unacked(const zkv_client_t *self);
/*  Whether any node has ever answered this client: false after a failure
    means nothing is listening at its endpoints, or nothing that answers. */
bool zkv_client_heard(const zkv_client_t *self);
/*  The endpoint believed to lead, or NULL when unknown. */
const char *zkv_client_leader(const zkv_client_t *self);
void zkv_client_stats(const zkv_client_t *self, zkv_client_stats_t *stats);

/*  A one-line description of the last operation that failed with an error:
    what happened, where, after how many attempts. Borrowed. */
const char *zkv_client_error(const zkv_client_t *self);

/*  Constant text for a client or ZKV_E* error code. */
const char *zkv_client_strerror(int rc);

/*  Constant name of a response status ("OK", "NOT_LEADER", ...). */
const char *zkv_client_status_name(int status);

/*  Normalise one endpoint: "host:port" becomes "tcp://host:port". 0, or -1 when
    it is empty, too long or has spaces or control characters. */
int zkv_client_endpoint_normalize(const char *text, size_t length, char *out, size_t out_size);

/*  Split a comma-separated endpoint list into normalised endpoints. Returns the
    count, or -1 with a message in err (empty, too many, or a bad entry). */
int zkv_client_endpoints_parse(const char *list, char out[][ZKV_CLIENT_ENDPOINT_SIZE_MAX],
                               size_t capacity, char *err, size_t err_size);

/* ---------------------------------------------------------------- watch */

/*  The watcher follows the changes of a key or a key range, every event once
    and in order, across reconnections, cut-offs and node failures: the
    client side of zkv's watch (proto/zkv.proto, WatchRequest).

    On one node at a time: subscribe to its watch port (PUB) and wait for the
    connection's welcome and the subscription's acknowledgement; catch up
    from its history, through the client port, after the position of the last
    event delivered; then follow the stream, dropping what is at or before
    that position. A new welcome (the connection was dropped: the node cut
    its subscribers off, or it restarted) means catch up again. A second of
    silence is checked with a catch-up request, which also finds whatever a
    lost connection missed; a node that does not answer is left for the next
    one, where the watcher resumes from its position. Used by zkv watch, the
    integration tests and the fault driver. Not thread-safe. */
typedef struct zkv_watcher_t zkv_watcher_t;

typedef struct {
    const char *endpoints; /* client endpoints, comma-separated, as for zkv_client_config_t */
    zkv_bytes_t key;       /* borrowed: one key, or with range */
    zkv_bytes_t end;       /* the range [key, end); empty: no upper bound */
    bool range;
    uint64_t start_revision; /* deliver events from this revision on; 0: from now */
    int64_t timeout_ms;      /* one request or one wait for the stream; 0: 5 s */
    zkv_curve_t curve;       /* as for zkv_client_config_t, on the watch port too */
} zkv_watcher_config_t;

/*  An event, borrowed for the call. */
typedef void(zkv_watcher_fn)(void *arg, const Zkv__WatchEvent *event);

/*  Notes for the user (a resync, a node left): one line, borrowed for the call. */
typedef void(zkv_watcher_note_fn)(void *arg, const char *note);

/*  NULL with a message in err when the configuration is invalid. */
zkv_watcher_t *zkv_watcher_new(const zkv_watcher_config_t *config, char *err, size_t err_size);
void zkv_watcher_destroy(zkv_watcher_t **self_p);

/*  Deliver events for up to run_ms (-1: until interrupted or an error),
    trying node after node while none answers. 0 when the time is up;
    ZKV_CLIENT_EINTR on SIGINT/SIGTERM; ZKV_ECOMPACTED when every node's
    history starts after the position (zkv_watcher_error says which
    revisions); ZKV_CLIENT_EHANDSHAKE when every node in a row refused our
    handshake (zkv_watcher_error says why); ZKV_EPERM when our key may not
    read what is watched (the nodes' --acl); ZKV_ENOMEM. Can be called again
    to go on. */
int zkv_watcher_run(zkv_watcher_t *self, int64_t run_ms, zkv_watcher_fn *fn,
                    zkv_watcher_note_fn *note, void *arg);

/*  The node followed now: its place in the endpoint list, from 0. */
size_t zkv_watcher_node(const zkv_watcher_t *self);

/*  The position of the last event delivered (revision, seq). */
void zkv_watcher_position(const zkv_watcher_t *self, uint64_t *revision, uint32_t *seq);

/*  Why the last run failed. */
const char *zkv_watcher_error(const zkv_watcher_t *self);

/* ---------------------------------------------------------------- simple calls */

/*  The error a response's status means: ZKV_OK, ZKV_ENOTFOUND, ZKV_EMISMATCH
    (CAS_FAILED), ZKV_EINVAL (BAD_REQUEST), ZKV_EKEYSIZE, ZKV_EVALSIZE,
    ZKV_EPENDING (FAILED_PRECONDITION), ZKV_ETOOBIG, ZKV_ECOMPACTED,
    ZKV_ENOLEASE, ZKV_EEXIST, ZKV_EPERM (PERMISSION_DENIED); ZKV_CLIENT_EPROTO
    for any other. */
int zkv_client_status_error(int status);

/*  A value and its metadata, copied out of the reply: data is malloc'd, with
    a NUL after its size bytes; zkv_value_free releases it. */
typedef struct {
    uint8_t *data;
    size_t size;
    uint64_t create_revision; /* log index of the key's creation */
    uint64_t mod_revision;    /* ... and of its last change */
    uint64_t version;         /* changes since its creation, 1 after it */
    uint64_t lease;           /* 0: none */
    uint64_t revision;        /* the node's applied index the read was served at */
} zkv_value_t;

/*  Synchronous calls, each to completion with the client's retries (as
    zkv_client_call): 0, or an error of zkv_client_status_error or of the
    client. Reads are linearizable. */
int zkv_get(zkv_client_t *client, const void *key, size_t key_size, zkv_value_t *value);
void zkv_value_free(zkv_value_t *value);
int zkv_put(zkv_client_t *client, const void *key, size_t key_size, const void *value,
            size_t value_size);
/*  ZKV_ENOTFOUND when the key was absent. */
int zkv_delete(zkv_client_t *client, const void *key, size_t key_size);
/*  Replace the value only while it is expected (expected NULL: only while the
    key is absent); ZKV_EMISMATCH otherwise. */
int zkv_cas(zkv_client_t *client, const void *key, size_t key_size, const void *expected,
            size_t expected_size, const void *value, size_t value_size);

/*  Called for each key of a scan in order, borrowed for the call; false stops. */
typedef bool(zkv_scan_fn)(void *arg, zkv_bytes_t key, zkv_bytes_t value);

/*  The keys under prefix (size 0: every key), at most limit (0: the node's
    maximum, 10,000; a zkv_op_t scan goes on from where one stops). */
int zkv_scan(zkv_client_t *client, const void *prefix, size_t prefix_size, uint32_t limit,
             zkv_scan_fn *fn, void *arg);

/*  This library's version, "MAJOR.MINOR.PATCH". */
const char *zkv_version(void);

#endif
