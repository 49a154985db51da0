/*  zkv_types: what libzkv (zkv.h) and the node share: the error codes, the
    byte string type, the sizes of keys and values, and the positions and key
    ranges of watches (core/zkv_types.c implements them for both). Include zkv.h; this
    part is also the node's own definition of them (core/zkv_error.h,
    core/zkv_limits.h), so that client and node cannot disagree. */
#ifndef ZKV_TYPES_H
#define ZKV_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Largest key and value a node accepts. */
#define ZKV_KEY_SIZE_MAX 4096
#define ZKV_VALUE_SIZE_MAX (1024 * 1024)

/*  Bytes, borrowed: data need not be NUL-terminated, size may be 0. */
typedef struct {
    const uint8_t *data;
    size_t size;
} zkv_bytes_t;

/*  0 on success, or a negative code. The client library adds its own
    (ZKV_CLIENT_E*, zkv.h); zkv_client_strerror describes both. */
typedef enum {
    ZKV_OK = 0,
    ZKV_ENOMEM = -1,      /* allocation failed */
    ZKV_EINVAL = -2,      /* argument or message field out of range */
    ZKV_EKEYSIZE = -3,    /* key larger than ZKV_KEY_SIZE_MAX */
    ZKV_EVALSIZE = -4,    /* value larger than ZKV_VALUE_SIZE_MAX */
    ZKV_ENOTFOUND = -5,   /* no such key or index */
    ZKV_EIO = -6,         /* read, write or fsync failed (see errno) */
    ZKV_ECORRUPT = -7,    /* a checksum or framing check failed */
    ZKV_ETORN = -8,       /* a record was cut short at the tail */
    ZKV_ECOMPACTED = -9,  /* the index lies before the first retained entry */
    ZKV_ENOTLEADER = -10, /* only the leader can do this */
    ZKV_EBUSY = -11,      /* a limit was hit; retry later */
    ZKV_EMISMATCH = -12,  /* compare-and-swap expectation not met */
    ZKV_ESTOPPED = -13,   /* the component is shutting down */
    ZKV_ENOTSUP = -14,    /* the file system cannot do this */
    ZKV_ESESSION = -15,   /* the client has no session (never opened, closed or evicted) */
    ZKV_EPENDING = -16,   /* a membership change is still in progress */
    ZKV_ELAGGING = -17,   /* the learner has not caught up with the leader */
    ZKV_ETOOBIG = -18,    /* a result over its limit (a transaction's reads) */
    ZKV_ENOLEASE = -19,   /* no such lease (never granted, revoked or expired) */
    ZKV_EEXIST = -20,     /* it exists already (a lease granted with an id in use) */
    ZKV_EPERM = -21,      /* the client's key has no right to do this */
} zkv_error_t;

/*  A place in the stream of changes: everything up to and including (revision, seq) seen.
    ZKV_EVENT_SEQ_ALL as seq: every change of that revision seen (an event's own seq is always
    below it). Positions are ordered by revision, then seq. */
#define ZKV_EVENT_SEQ_ALL UINT32_MAX
typedef struct {
    uint64_t revision;
    uint32_t seq;
} zkv_event_pos_t;

/*  Compare positions: <0, 0, >0. */
int zkv_event_pos_cmp(zkv_event_pos_t a, zkv_event_pos_t b);

/*  Which keys a watcher wants: key == start exactly (when !range), or start <= key < end
    (range; end.size 0: no upper bound). Key order: memcmp on the common length, then the
    shorter first (the node's order). */
typedef struct {
    zkv_bytes_t start;
    zkv_bytes_t end;
    bool range;
} zkv_key_filter_t;
bool zkv_key_filter_match(const zkv_key_filter_t *filter, zkv_bytes_t key);

/*  Constant text for an error code; never NULL. */
const char *zkv_strerror(int code);

#endif
