/*  txn: compares, branch choice, and the encoding of operation results. */
#include "txn.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "zkv_error.h"

/*  A result as encoded: type u8, status i32, found u8, has_value u8, count u64,
    create, mod, version, lease u64, value size u32, then the value. */
#define RESULT_HEADER_SIZE (1 + 4 + 1 + 1 + 8 + 32 + 4)

static int s_order(int c)
{
    return (c > 0) - (c < 0);
}

static int s_bytes_order(zkv_bytes_t a, zkv_bytes_t b)
{
    size_t n = a.size < b.size ? a.size : b.size;
    int c = n ? memcmp(a.data, b.data, n) : 0;
    return c ? s_order(c) : (a.size > b.size) - (a.size < b.size);
}

static bool s_outcome(int order, zkv_cmp_result_t result)
{
    switch (result) {
    case ZKV_CMP_EQUAL: return order == 0;
    case ZKV_CMP_NOT_EQUAL: return order != 0;
    case ZKV_CMP_GREATER: return order > 0;
    case ZKV_CMP_LESS: return order < 0;
    }
    return false;
}

static uint64_t s_meta_number(const zkv_btree_meta_t *meta, zkv_cmp_target_t target)
{
    switch (target) {
    case ZKV_CMP_VERSION: return meta->version;
    case ZKV_CMP_CREATE: return meta->create_revision;
    case ZKV_CMP_MOD: return meta->mod_revision;
    case ZKV_CMP_LEASE: return meta->lease;
    case ZKV_CMP_VALUE: break;
    }
    return 0;
}

bool zkv_compare_holds(const zkv_btree_t *tree, const zkv_compare_t *cmp)
{
    zkv_bytes_t value;
    zkv_btree_meta_t meta = {0};
    bool found = zkv_btree_get_meta(tree, cmp->key.data, cmp->key.size, &value, &meta) == ZKV_OK;
    if (cmp->target == ZKV_CMP_VALUE)
        return found && s_outcome(s_bytes_order(value, cmp->value), cmp->result);
    uint64_t have = s_meta_number(&meta, cmp->target);
    return s_outcome((have > cmp->number) - (have < cmp->number), cmp->result);
}

static int s_invalid(const char **why, int rc, const char *text)
{
    if (why)
        *why = text;
    return rc;
}

static int s_validate_compare(const zkv_compare_t *c, const char **why)
{
    if (c->target > ZKV_CMP_LEASE || c->result > ZKV_CMP_LESS)
        return s_invalid(why, ZKV_EINVAL, "unknown compare target or result");
    if (c->key.size > ZKV_KEY_SIZE_MAX)
        return s_invalid(why, ZKV_EKEYSIZE, "key larger than 4096 bytes");
    if (c->value.size > ZKV_VALUE_SIZE_MAX)
        return s_invalid(why, ZKV_EVALSIZE, "value larger than 1048576 bytes");
    return ZKV_OK;
}

/*  Whether a delete op removes key. */
static bool s_deletes(const zkv_txn_op_t *del, zkv_bytes_t key)
{
    if (!del->range)
        return s_bytes_order(del->key, key) == 0;
    return s_bytes_order(key, del->key) >= 0 &&
           (del->end.size == 0 || s_bytes_order(key, del->end) < 0);
}

/*  Two writes of one key in a branch (etcd refuses them too): which would a
    watcher see last at the transaction's one revision? */
static bool s_writes_twice(const zkv_txn_op_t *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ops[i].type != ZKV_TXN_PUT)
            continue;
        for (size_t j = 0; j < n; j++) {
            if (j == i)
                continue;
            if (ops[j].type == ZKV_TXN_PUT && j > i && s_bytes_order(ops[i].key, ops[j].key) == 0)
                return true;
            if (ops[j].type == ZKV_TXN_DELETE && s_deletes(&ops[j], ops[i].key))
                return true;
        }
    }
    return false;
}

static int s_validate_ops(const zkv_txn_op_t *ops, size_t n, const char **why)
{
    if (n > ZKV_TXN_OPS_MAX)
        return s_invalid(why, ZKV_EINVAL, "more than 128 operations in a branch");
    for (size_t i = 0; i < n; i++) {
        if (ops[i].type < ZKV_TXN_PUT || ops[i].type > ZKV_TXN_GET)
            return s_invalid(why, ZKV_EINVAL, "unknown operation");
        if (ops[i].key.size > ZKV_KEY_SIZE_MAX || ops[i].end.size > ZKV_KEY_SIZE_MAX)
            return s_invalid(why, ZKV_EKEYSIZE, "key larger than 4096 bytes");
        if (ops[i].value.size > ZKV_VALUE_SIZE_MAX)
            return s_invalid(why, ZKV_EVALSIZE, "value larger than 1048576 bytes");
    }
    if (s_writes_twice(ops, n))
        return s_invalid(why, ZKV_EINVAL, "a key written twice in one branch");
    return ZKV_OK;
}

int zkv_txn_validate(const zkv_txn_t *txn, const char **why)
{
    if (txn->compare_count > ZKV_TXN_OPS_MAX)
        return s_invalid(why, ZKV_EINVAL, "more than 128 compares");
    for (size_t i = 0; i < txn->compare_count; i++) {
        int rc = s_validate_compare(&txn->compares[i], why);
        if (rc != ZKV_OK)
            return rc;
    }
    int rc = s_validate_ops(txn->success, txn->success_count, why);
    return rc != ZKV_OK ? rc : s_validate_ops(txn->failure, txn->failure_count, why);
}

/*  Encoded results, grown as operations run. */
typedef struct {
    uint8_t *buf;
    size_t len, cap;
    size_t values; /* value bytes so far, against ZKV_TXN_RESULT_SIZE_MAX */
} s_out_t;

static int s_emit(s_out_t *out, zkv_txn_op_result_t *r)
{
    if (r->has_value && out->values + r->value.size > ZKV_TXN_RESULT_SIZE_MAX) {
        r->status = ZKV_ETOOBIG;
        r->has_value = false;
        r->value = (zkv_bytes_t){0};
    }
    size_t need = out->len + RESULT_HEADER_SIZE + r->value.size;
    if (need > out->cap) {
        size_t cap = out->cap ? out->cap : 256;
        while (cap < need)
            cap *= 2;
        uint8_t *grown = realloc(out->buf, cap);
        if (!grown)
            return ZKV_ENOMEM;
        out->buf = grown;
        out->cap = cap;
    }
    uint8_t *p = out->buf + out->len;
    p[0] = (uint8_t) r->type;
    zkv_le32_put(p + 1, (uint32_t) r->status);
    p[5] = r->found;
    p[6] = r->has_value;
    zkv_le64_put(p + 7, r->count);
    zkv_le64_put(p + 15, r->meta.create_revision);
    zkv_le64_put(p + 23, r->meta.mod_revision);
    zkv_le64_put(p + 31, r->meta.version);
    zkv_le64_put(p + 39, r->meta.lease);
    zkv_le32_put(p + 47, (uint32_t) r->value.size);
    if (r->value.size)
        memcpy(p + RESULT_HEADER_SIZE, r->value.data, r->value.size);
    out->len = need;
    out->values += r->value.size;
    return ZKV_OK;
}

static int s_get(const zkv_btree_t *tree, const zkv_txn_op_t *op, s_out_t *out)
{
    zkv_txn_op_result_t r = {.type = op->type};
    r.found = zkv_btree_get_meta(tree, op->key.data, op->key.size, &r.value, &r.meta) == ZKV_OK;
    r.status = r.found ? ZKV_OK : ZKV_ENOTFOUND;
    r.has_value = r.found;
    if (!r.found)
        r.value = (zkv_bytes_t){0};
    return s_emit(out, &r);
}

static int s_put(const zkv_txn_store_t *store, const zkv_txn_op_t *op, s_out_t *out)
{
    zkv_txn_op_result_t r = {.type = op->type};
    void *previous = NULL;
    size_t previous_size = 0;
    int rc = store->put(store->arg, op, &r.found, op->return_previous ? &previous : NULL,
                        &previous_size);
    if (rc != ZKV_OK)
        return rc;
    r.has_value = previous != NULL;
    r.value = (zkv_bytes_t){previous, previous_size};
    rc = s_emit(out, &r);
    free(previous);
    return rc;
}

static int s_delete(const zkv_txn_store_t *store, const zkv_txn_op_t *op, s_out_t *out)
{
    zkv_txn_op_result_t r = {.type = op->type};
    int rc = store->delete (store->arg, op, &r.count);
    if (rc != ZKV_OK)
        return rc;
    r.found = r.count > 0;
    r.status = r.found ? ZKV_OK : ZKV_ENOTFOUND;
    return s_emit(out, &r);
}

int zkv_txn_apply(const zkv_btree_t *tree, const zkv_txn_t *txn, const zkv_txn_store_t *store,
                  bool *succeeded, uint8_t **results, size_t *results_size)
{
    assert(zkv_txn_validate(txn, NULL) == ZKV_OK);
    bool ok = true;
    for (size_t i = 0; i < txn->compare_count && ok; i++)
        ok = zkv_compare_holds(tree, &txn->compares[i]);
    const zkv_txn_op_t *ops = ok ? txn->success : txn->failure;
    size_t n = ok ? txn->success_count : txn->failure_count;
    for (size_t i = 0; i < n; i++) {
        int rc = store->check(store->arg, &ops[i]);
        if (rc != ZKV_OK)
            return rc;
    }
    s_out_t out = {0};
    int rc = ZKV_OK;
    for (size_t i = 0; i < n && rc == ZKV_OK; i++) {
        switch (ops[i].type) {
        case ZKV_TXN_GET: rc = s_get(tree, &ops[i], &out); break;
        case ZKV_TXN_PUT: rc = s_put(store, &ops[i], &out); break;
        case ZKV_TXN_DELETE: rc = s_delete(store, &ops[i], &out); break;
        }
    }
    if (rc == ZKV_OK && !out.buf && !(out.buf = malloc(1)))
        rc = ZKV_ENOMEM;
    if (rc != ZKV_OK) {
        free(out.buf);
        return rc;
    }
    *succeeded = ok;
    *results = out.buf;
    *results_size = out.len;
    return ZKV_OK;
}

int zkv_txn_results_next(const uint8_t *data, size_t size, size_t *pos, zkv_txn_op_result_t *out)
{
    if (*pos == size)
        return 0;
    if (*pos > size || size - *pos < RESULT_HEADER_SIZE)
        return -1;
    const uint8_t *p = data + *pos;
    *out = (zkv_txn_op_result_t){
        .type = p[0],
        .status = (int32_t) zkv_le32_get(p + 1),
        .found = p[5],
        .has_value = p[6],
        .count = zkv_le64_get(p + 7),
        .meta = {zkv_le64_get(p + 15), zkv_le64_get(p + 23), zkv_le64_get(p + 31),
                 zkv_le64_get(p + 39)},
    };
    size_t value_size = zkv_le32_get(p + 47);
    if (out->type < ZKV_TXN_PUT || out->type > ZKV_TXN_GET || p[5] > 1 || p[6] > 1 ||
        value_size > size - *pos - RESULT_HEADER_SIZE)
        return -1;
    out->value = (zkv_bytes_t){p + RESULT_HEADER_SIZE, value_size};
    *pos += RESULT_HEADER_SIZE + value_size;
    return 1;
}
