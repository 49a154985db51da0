/*  txn: compares and multi-key transactions on the tree, applied from one log
    entry (etcd's Txn: if every compare holds, the success operations run,
    otherwise the failure ones, in order, each seeing the ones before it).

    A compare reads one key's value or metadata. An absent key has version,
    create and mod revision and lease 0, so "version = 0" tests absence and
    "version > 0" existence; a compare on the value of an absent key never
    holds.

    The results of a transaction's operations are kept as bytes (in the
    session of its client, so that a retry is answered with them) and read
    back with zkv_txn_results_next. Deterministic: depends only on the tree,
    the transaction and the log index. */
#ifndef ZKV_TXN_H
#define ZKV_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btree.h"

/*  Compares in one transaction, and operations in each of its branches. */
#define ZKV_TXN_OPS_MAX 128
/*  Bytes of results one transaction may return (gets and previous values);
    a get or previous value past it is answered ZKV_ETOOBIG, the writes
    still apply. */
#define ZKV_TXN_RESULT_SIZE_MAX (4u * 1024 * 1024)

typedef enum {
    ZKV_CMP_VALUE = 0,
    ZKV_CMP_VERSION = 1,
    ZKV_CMP_CREATE = 2,
    ZKV_CMP_MOD = 3,
    ZKV_CMP_LEASE = 4,
} zkv_cmp_target_t;

typedef enum {
    ZKV_CMP_EQUAL = 0,
    ZKV_CMP_NOT_EQUAL = 1,
    ZKV_CMP_GREATER = 2,
    ZKV_CMP_LESS = 3,
} zkv_cmp_result_t;

/*  Byte fields are borrowed from the caller. */
typedef struct {
    zkv_bytes_t key;
    zkv_cmp_target_t target;
    zkv_cmp_result_t result;
    zkv_bytes_t value; /* target VALUE: compared by key order (memcmp, then length) */
    uint64_t number;   /* the other targets */
} zkv_compare_t;

typedef enum {
    ZKV_TXN_PUT = 1,
    ZKV_TXN_DELETE = 2,
    ZKV_TXN_GET = 3,
} zkv_txn_op_type_t;

typedef struct {
    zkv_txn_op_type_t type;
    zkv_bytes_t key;
    zkv_bytes_t value;    /* put */
    zkv_bytes_t end;      /* delete with range */
    bool range;           /* delete every key in [key, end); an empty end: no upper bound */
    bool return_previous; /* put: hand back the value it replaced */
    uint64_t lease;       /* put: attach the key to this lease (0: none) */
} zkv_txn_op_t;

typedef struct {
    const zkv_compare_t *compares;
    size_t compare_count;
    const zkv_txn_op_t *success;
    size_t success_count;
    const zkv_txn_op_t *failure;
    size_t failure_count;
} zkv_txn_t;

/*  One operation's outcome. */
typedef struct {
    zkv_txn_op_type_t type;
    int status;            /* ZKV_OK, ZKV_ENOTFOUND (get, delete of nothing), ZKV_ETOOBIG */
    bool found;            /* get: the key exists; put: it replaced one */
    uint64_t count;        /* delete: keys removed */
    bool has_value;        /* get: value and meta; put: the previous value */
    zkv_bytes_t value;     /* borrowed from the encoded results */
    zkv_btree_meta_t meta; /* get: the key's */
} zkv_txn_op_result_t;

/*  Whether the compare holds on tree. */
bool zkv_compare_holds(const zkv_btree_t *tree, const zkv_compare_t *cmp);

/*  ZKV_OK when every count and size is within the limits, the types and
    targets known, and no branch writes a key twice; else ZKV_EINVAL,
    ZKV_EKEYSIZE or ZKV_EVALSIZE, with *why (if not NULL) saying which. */
int zkv_txn_validate(const zkv_txn_t *txn, const char **why);

/*  The hooks a transaction's writes go through (the store keeps revisions,
    leases and watch events on them). Each returns ZKV_OK or an error that
    aborts the transaction. */
typedef struct {
    /*  Whether op can run (a put's lease exists), for every operation of the
        chosen branch before any runs: ZKV_OK, or the error of the whole
        transaction, which then changes nothing. */
    int (*check)(void *arg, const zkv_txn_op_t *op);
    int (*put)(void *arg, const zkv_txn_op_t *op, bool *found, void **previous,
               size_t *previous_size);
    int (*delete)(void *arg, const zkv_txn_op_t *op, uint64_t *count);
    void *arg;
} zkv_txn_store_t;

/*  Evaluate the compares and run the branch they choose on tree, through
    store for writes. *succeeded says which branch ran; *results receives the
    encoded results (malloc'd, the caller frees) of its operations. ZKV_OK, an
    error of store->check (nothing changed), or ZKV_ENOMEM from a write (the
    writes before it stay: the store stops the node). */
int zkv_txn_apply(const zkv_btree_t *tree, const zkv_txn_t *txn, const zkv_txn_store_t *store,
                  bool *succeeded, uint8_t **results, size_t *results_size);

/*  Reads encoded results one at a time: *pos starts at 0. 1 with *out set, 0
    at the end, -1 when the bytes are malformed. */
int zkv_txn_results_next(const uint8_t *data, size_t size, size_t *pos, zkv_txn_op_result_t *out);

#endif
