/*  client: the zkv client library, shared by the zkv command, its benchmark,
    the integration tests and the fault driver.

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

    Two ways to use it: zkv_client_call runs one operation to completion;
    zkv_client_submit starts one and calls back when it is done, driven by
    zkv_client_poll (one client) or by zkv_client_pollitems and
    zkv_client_dispatch (several clients in one zmq_poll loop).

    Not thread-safe: one thread owns a client. */
#ifndef ZKV_CLIENT_H
#define ZKV_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "btree.h"
#include "zkv.pb-c.h"

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

/*  Client errors, beside the ZKV_E* codes of zkv_error.h (ZKV_EKEYSIZE,
    ZKV_EVALSIZE, ZKV_EINVAL, ZKV_EBUSY, ZKV_ENOMEM):
    ETIMEDOUT  no final answer before the deadline, or every endpoint refused its
               connections for an attempt timeout; a write's outcome is unknown
    EPROTO     a reply with a status the client does not know
    EINTR      interrupted (SIGINT/SIGTERM)
    ECANCELED  zkv_client_cancel
    ESESSION   the node had forgotten this client's session (too many clients):
               the write was refused, and an earlier attempt of it may or may
               not have been applied; the client opens a new session for the
               writes that follow */
#define ZKV_CLIENT_ETIMEDOUT (-101)
#define ZKV_CLIENT_EPROTO (-102)
#define ZKV_CLIENT_EINTR (-103)
#define ZKV_CLIENT_ECANCELED (-104)
#define ZKV_CLIENT_ESESSION (-105)

typedef struct zkv_client_t zkv_client_t;

typedef struct {
    const char *endpoints;      /* comma-separated; a bare host:port means tcp://host:port */
    int64_t timeout_ms;         /* overall deadline of one operation; 0: default */
    int64_t attempt_timeout_ms; /* wait for one reply; 0: default; capped by timeout_ms */
    uint64_t client_id;         /* 0: random from getrandom */
    size_t home;                /* endpoint tried first and serving serializable reads */
    size_t inflight_max;        /* operations in flight at once; 0: default */
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
    zkv_bytes_t key;      /* get, put, delete, cas */
    zkv_bytes_t value;    /* put; cas: the new value */
    zkv_bytes_t expected; /* cas with target VALUE, unless expect_absent */
    bool expect_absent;   /* cas: succeed only when the key is absent */
    Zkv__Compare__Target target; /* cas: what is compared (VALUE: expected) */
    uint64_t expected_number;    /* cas with target VERSION, MOD or CREATE */
    bool range;                  /* delete: every key in [key, end); an empty end: no bound */
    const Zkv__TxnRequest *txn;  /* txn: borrowed like the byte fields */
    uint64_t lease;              /* put: attach the key to it (0: none); the lease operations' id */
    uint64_t ttl_s;              /* lease grant: seconds */
    bool return_previous; /* put: the reply carries the replaced value */
    bool serializable;    /* get, scan: any node may serve it from its own state */
    zkv_bytes_t prefix;   /* scan: either a prefix, */
    zkv_bytes_t start;    /* or the range [start, end); empty end: no bound */
    zkv_bytes_t end;      /* and delete with range */
    uint32_t limit;       /* scan: 0 means the node's maximum */
    bool reverse;         /* scan */
    bool keys_only;       /* scan */
    const char *endpoint; /* send only here, never redirected (status, digest or snapshot
                             of one member) */
    bool once;            /* with endpoint: one attempt; no reply in the attempt timeout, a
                             refused connection or a non-final answer ends it (ETIMEDOUT) */
    uint64_t index;       /* snapshot: 0 for the first piece, then the index it announced;
                             watch: the revision of the position to catch up after */
    uint32_t seq;         /* watch: the position's seq (UINT32_MAX: all of index) */
    uint64_t offset;      /* snapshot: where the piece starts in the file */
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
    configuration is invalid (a message is written to err) or memory runs out. */
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

#endif
