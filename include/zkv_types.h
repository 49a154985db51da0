/*  zkv_types: what libzkv (zkv.h) and the node share: the error codes, the
    byte string type and the sizes of keys and values. Include zkv.h; this
    part is also the node's own definition of them (core/zkv_error.h,
    core/zkv_limits.h), so that client and node cannot disagree. */
#ifndef ZKV_TYPES_H
#define ZKV_TYPES_H

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
} zkv_error_t;

/*  Constant text for an error code; never NULL. */
const char *zkv_strerror(int code);

#endif
