/*  msg: the typed messages the actors of one node exchange, and their codec.

    One struct per message, all in one tagged union; zkv_msg_send and
    zkv_msg_recv are the only code that knows the layout on the wire: frame 1
    is the type (1 byte) and the message's numbers (8-byte little-endian
    each, in the order of its struct), frame 2, for the types that carry one,
    the body: a packed batch (entries, commands, results; see inproc.h), a
    request, a response, snapshot bytes, a path or a text. The body travels
    as the zframe it was built in, so a batch is never copied.

    replication -> log      PERSIST, DROP
    log -> replication      DURABLE, FATAL
    replication -> storage  APPLY, SERVE, CHUNK, INSTALL, PRUNE
    storage -> replication  APPLIED, SNAPSHOT, INSTALLED
    client -> replication   PROPOSE, READ, ADMIN
    replication -> client   STATE, READFAIL, REJECTED, MEMBERS, REPLY (to ADMIN)
    client -> storage       SERVE, COUNT, BACKUP
    storage -> client       RESULTS, REPLY
    storage -> client       LEASES
    storage -> watch        EVENTS
    client -> watch         SERVE (a watch catch-up)
    watch -> client         REPLY
    storage -> disk         WRITE_SNAPSHOT, PRUNE
    disk -> storage         SNAPSHOT_WRITTEN
    log -> disk             REMOVE

    The actors are our own threads: a message that does not decode is a bug
    and is asserted on, never taken for input. */
#ifndef ZKV_MSG_H
#define ZKV_MSG_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    ZKV_MSG_PERSIST = 1, /* a Ready's hard state, snapshot and entries to write */
    ZKV_MSG_DROP,        /* log segments before index are not needed any more */
    ZKV_MSG_DURABLE,     /* every PERSIST up to ready_id is on disk */
    ZKV_MSG_FATAL,       /* the disk failed: body is why; the node stops */
    ZKV_MSG_APPLY,       /* committed entries, in order */
    ZKV_MSG_SERVE,       /* a read to serve once index is applied (0: at once) */
    ZKV_MSG_CHUNK,       /* a piece of a snapshot arriving from the leader */
    ZKV_MSG_INSTALL,     /* the received snapshot replaces the state machine */
    ZKV_MSG_PRUNE,       /* the log restarts after the snapshot at body: older ones go */
    ZKV_MSG_APPLIED,     /* the state machine has applied up to index */
    ZKV_MSG_SNAPSHOT,    /* a new snapshot (path in body) is durable */
    ZKV_MSG_INSTALLED,   /* the answer to INSTALL: status 0 installed, 1 failed (asked
                            again), 2 our disk failed (the node stops) */
    ZKV_MSG_PROPOSE,     /* encoded zkv.Commands to propose */
    ZKV_MSG_READ,        /* a linearizable read: ReadIndex first */
    ZKV_MSG_STATE,       /* the node's Raft state, for the client actor */
    ZKV_MSG_READFAIL,    /* a read that cannot be served (status is a ZKV_E* code) */
    ZKV_MSG_REJECTED,    /* proposals refused (status), the commands in body */
    ZKV_MSG_COUNT,       /* at start: answered by RESULTS without results */
    ZKV_MSG_RESULTS,     /* applied index, keys, and the results of writes */
    ZKV_MSG_REPLY,       /* a read's (or an ADMIN's) encoded zkv.Response */
    ZKV_MSG_ADMIN,       /* a membership or leadership zkv.Request, answered by REPLY */
    ZKV_MSG_MEMBERS,     /* the membership in effect (a packed zkv.ClusterConfig) */
    ZKV_MSG_BACKUP,      /* a piece of the newest snapshot (zkv.SnapshotRequest), by REPLY */
    ZKV_MSG_EVENTS,      /* the changes of applied entries (reset: forget those up to revision) */
    ZKV_MSG_LEASES,      /* leases granted, renewed, revoked (reset: these are all there are) */
    ZKV_MSG_WRITE_SNAPSHOT,   /* write this job's snapshot (disk.h) */
    ZKV_MSG_SNAPSHOT_WRITTEN, /* ... done: the outcome is in the job */
    ZKV_MSG_REMOVE,           /* the file at body is not needed any more */
    ZKV_MSG_LOAD,             /* read entries [lo, hi) back from the log, for peer */
    ZKV_MSG_LOADED,           /* ... the entries read from lo on (none: the log starts later) */
    ZKV_MSG_ACK, /* once PERSIST ready_id is durable, send this acknowledgement to the leader
                    at body (host) and port */
    ZKV_MSG_TYPE_MAX = ZKV_MSG_ACK
} zkv_msg_type_t;

/*  PERSIST flags. */
#define ZKV_MSG_PERSIST_HARD_STATE 1
#define ZKV_MSG_PERSIST_SNAPSHOT 2

/*  Most numbers a message carries. */
#define ZKV_MSG_WORDS_MAX 7

typedef struct {
    zkv_msg_type_t type;
    union {
        uint64_t words[ZKV_MSG_WORDS_MAX]; /* the codec's view of the fields below */
        struct {
            uint64_t ready_id, flags, term, vote, commit, snapshot_index, snapshot_term;
        } persist;
        struct {
            uint64_t index;
        } drop, applied;
        struct {
            uint64_t ready_id;
        } durable;
        struct {
            uint64_t context, index;
        } serve;
        struct {
            uint64_t snapshot_index, snapshot_term, offset;
        } chunk;
        struct {
            uint64_t index, term, size;
        } install, snapshot;
        struct {
            uint64_t index, status;
        } installed;
        struct {
            uint64_t context;
        } read, admin, backup;
        struct {
            uint64_t context;
            uint64_t transit; /* bytes the storage actor counted as on their way (metrics.h) */
        } reply;
        struct {
            uint64_t cluster_id, config_index;
        } members;
        struct {
            uint64_t role, term, leader, commit, applied;
        } state;
        struct {
            uint64_t context, status;
        } readfail;
        struct {
            uint64_t status;
        } rejected;
        struct {
            uint64_t applied, keys;
        } results;
        struct {
            uint64_t reset, revision;
        } events;
        struct {
            uint64_t reset;
        } leases;
        struct {
            uint64_t address; /* a zkv_snapshot_job_t in this process, the storage actor's */
        } job;
        struct {
            uint64_t peer, lo, hi, bytes_max;
        } load;
        struct {
            uint64_t peer, lo;
        } loaded;
        struct {
            uint64_t ready_id, from, to, term, index, cluster_id, port;
        } ack;
    };
    zframe_t *body; /* owned; NULL for types without one (sent empty when left NULL) */
} zkv_msg_t;

/*  Send *msg on sock, taking its body; the message is cleared. 0 when sent;
    -1 when it could not go (a peer actor gone at shutdown, with a send
    timeout of 0): then it is dropped. */
int zkv_msg_send(zkv_msg_t *msg, zsock_t *sock);

/*  The next message waiting on sock: 1 with it in *msg (the caller clears
    it), 0 when none is waiting (a socket with a receive timeout of 0). */
int zkv_msg_recv(zsock_t *sock, zkv_msg_t *msg);

/*  Free the body (an EVENTS body lets go of its records); the message is empty again. */
void zkv_msg_clear(zkv_msg_t *msg);

/*  The body as a NUL-terminated string in buf (paths, texts); "" without one. */
const char *zkv_msg_text(const zkv_msg_t *msg, char *buf, size_t size);

/*  A body holding text (a path, a reason). */
zframe_t *zkv_msg_text_body(const char *text);

/*  The type's name, e.g. "PERSIST", for traces and tests. */
const char *zkv_msg_type_name(zkv_msg_type_t type);

#endif
