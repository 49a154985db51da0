/*  kvstore: the replicated state machine. Applies committed commands to the
    B+ tree, once per (client id, sequence) however often a client retries, and
    saves and restores its client sessions with snapshots.

    Deterministic: every decision depends only on the commands and their log
    indexes, so every node that applies the same log holds the same state.

    Sessions follow the Raft thesis, section 6.3: a client opens a session
    (a command of its own in the log), numbers its writes, may keep several in
    flight, and tells with each the lowest sequence it still awaits
    (first_unacked); results below it are forgotten. A write whose client has
    no session (never opened, closed, or evicted to make room) is refused with
    ZKV_ESESSION and changes nothing: a forgotten client's retry can never
    apply twice. */
#ifndef ZKV_KVSTORE_H
#define ZKV_KVSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btree.h"
#include "leases.h"
#include "txn.h"
#include "watch_history.h"

/*  Sessions held at once; opening one more forgets the least recently active. */
#ifndef ZKV_SESSIONS_MAX /* the node simulation builds a variant with a tiny table */
#define ZKV_SESSIONS_MAX 65536
#endif
/*  Writes one client may have in flight (results kept per session). */
#define ZKV_SESSION_WINDOW 1024

typedef enum {
    ZKV_CMD_PUT = 1,
    ZKV_CMD_DELETE = 2,
    ZKV_CMD_CAS = 3,
    ZKV_CMD_OPEN_SESSION = 4,    /* client_id's session; no key */
    ZKV_CMD_CLOSE_SESSION = 5,   /* found: there was one */
    ZKV_CMD_TXN = 6,             /* found: the compares held */
    ZKV_CMD_LEASE_GRANT = 7,     /* lease (0: the entry's index) for ttl_s; count: its id */
    ZKV_CMD_LEASE_REVOKE = 8,    /* lease and its keys deleted; count: keys deleted */
    ZKV_CMD_LEASE_KEEPALIVE = 9, /* lease renewed (each node reckons expiry from here) */
} zkv_cmd_type_t;

/*  A decoded log command; byte fields are borrowed from the caller. */
typedef struct {
    zkv_cmd_type_t type;
    uint64_t client_id;     /* 0: anonymous, applied without deduplication or session */
    uint64_t sequence;      /* from 1, per client */
    uint64_t first_unacked; /* lowest sequence the client still awaits */
    zkv_bytes_t key;
    zkv_bytes_t value;     /* put, cas */
    zkv_bytes_t end;       /* delete with range */
    bool range;            /* delete every key in [key, end); an empty end: no upper bound */
    zkv_compare_t compare; /* cas: the put applies only if it holds (its key is key) */
    bool return_previous;  /* put: hand back the value it replaced */
    const zkv_txn_t *txn;  /* txn */
    uint64_t lease;        /* put: attach the key to it (0: none); the lease commands' id */
    uint64_t ttl_s;        /* lease grant: its time to live in seconds */
} zkv_command_t;

typedef struct {
    int status;     /* ZKV_OK, ZKV_ENOTFOUND (delete of an absent key or an empty range),
                       ZKV_EMISMATCH (cas), ZKV_EKEYSIZE, ZKV_EVALSIZE,
                       ZKV_EINVAL (bad command, or a sequence already forgotten),
                       ZKV_ESESSION (the client has no session),
                       ZKV_EBUSY (more than ZKV_SESSION_WINDOW in flight, or
                       ZKV_LEASES_MAX leases), ZKV_ENOLEASE (a put's or a lease
                       command's lease does not exist), ZKV_EEXIST (a grant's id) */
    bool found;     /* the key existed before the command; txn: the compares held */
    bool duplicate; /* a retry: the stored result of the first application */
    uint64_t index; /* log index at which the command took effect */
    uint64_t count; /* delete, lease revoke: keys removed; lease grant: its id */
    uint8_t *data;  /* malloc'd: put's previous value when asked for and found; txn's
                       results (zkv_txn_results_next); lease grant and keepalive: the
                       ttl in seconds, 8 bytes little-endian */
    size_t data_size;
} zkv_result_t;

typedef struct zkv_kvstore_t zkv_kvstore_t;

zkv_kvstore_t *zkv_kvstore_new(void);
void zkv_kvstore_destroy(zkv_kvstore_t **self_p);

/*  Apply the command committed at index (indexes must increase). Fills result;
    the caller frees result->data. Returns result->status. A command that
    fails changes nothing but its session. Every key it writes gets index as
    its mod revision (and create revision when it is new) and one more
    version; a transaction's keys all get the same. */
int zkv_kvstore_apply(zkv_kvstore_t *self, uint64_t index, const zkv_command_t *cmd,
                      zkv_result_t *result);

/*  Called for every change an applied command makes, in order, seq counting
    from 0 within its index: a key written (its new value and metadata) or
    deleted. The event's bytes are borrowed for the call. */
typedef void (*zkv_kvstore_event_fn)(void *arg, const zkv_event_t *event);
void zkv_kvstore_on_event(zkv_kvstore_t *self, zkv_kvstore_event_fn fn, void *arg);

/*  Called for every lease granted, kept alive or revoked, as applied (and by
    zkv_kvstore_each_lease, as granted, for every lease held). */
typedef enum { ZKV_LEASE_GRANTED, ZKV_LEASE_RENEWED, ZKV_LEASE_REVOKED } zkv_lease_change_t;
typedef void (*zkv_kvstore_lease_fn)(void *arg, zkv_lease_change_t change, uint64_t id,
                                     uint64_t ttl_s);
void zkv_kvstore_on_lease(zkv_kvstore_t *self, zkv_kvstore_lease_fn fn, void *arg);

/*  Report every lease held through the lease callback, as granted. */
void zkv_kvstore_each_lease(zkv_kvstore_t *self);

/*  The lease table, for inspection. */
const zkv_leases_t *zkv_kvstore_leases(const zkv_kvstore_t *self);

/*  Record that index was applied without a command (no-op and config entries). */
void zkv_kvstore_skip(zkv_kvstore_t *self, uint64_t index);

/*  Last index applied. */
uint64_t zkv_kvstore_applied(const zkv_kvstore_t *self);

/*  The data, for reads and snapshots; owned by the store. */
zkv_btree_t *zkv_kvstore_tree(zkv_kvstore_t *self);

/*  Number of client sessions held. */
size_t zkv_kvstore_sessions(const zkv_kvstore_t *self);

/*  Sessions forgotten to make room since start (counted, not replicated state). */
uint64_t zkv_kvstore_sessions_evicted(const zkv_kvstore_t *self);

/*  Encode what a snapshot keeps besides the tree (sessions, leases): a malloc'd
    buffer the caller frees, or NULL when out of memory. */
uint8_t *zkv_kvstore_encode_state(const zkv_kvstore_t *self, size_t *size);

/*  Replace the tree (ownership passes to the store; *tree_p is NULLed) and the
    state with those of a snapshot taken at index, after validating the state
    bytes (of this version or an older one). ZKV_OK or ZKV_ECORRUPT (the store
    is unchanged and the tree stays the caller's). */
int zkv_kvstore_restore(zkv_kvstore_t *self, uint64_t index, zkv_btree_t **tree_p,
                        const uint8_t *state, size_t size);

/*  64-bit FNV-1a digest of every key, value and metadata in order, then every
    lease, to compare replicas. */
uint64_t zkv_kvstore_digest(const zkv_kvstore_t *self);

/*  Release a result's memory. */
void zkv_result_clear(zkv_result_t *result);

#endif
