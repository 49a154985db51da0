#include "response.h"

#include "txn.h"
#include "zkv_error.h"

Zkv__Status zkv_status_from_error(int code)
{
    switch (code) {
    case ZKV_OK: return ZKV__STATUS__OK;
    case ZKV_ENOTFOUND: return ZKV__STATUS__NOT_FOUND;
    case ZKV_EMISMATCH: return ZKV__STATUS__CAS_FAILED;
    case ZKV_ENOTLEADER: return ZKV__STATUS__NOT_LEADER;
    case ZKV_EKEYSIZE: return ZKV__STATUS__KEY_TOO_LARGE;
    case ZKV_EVALSIZE: return ZKV__STATUS__VALUE_TOO_LARGE;
    case ZKV_EINVAL: return ZKV__STATUS__BAD_REQUEST;
    case ZKV_ESESSION: return ZKV__STATUS__SESSION_EXPIRED;
    case ZKV_ETOOBIG: return ZKV__STATUS__RESULT_TOO_LARGE;
    case ZKV_ENOLEASE: return ZKV__STATUS__LEASE_NOT_FOUND;
    case ZKV_EEXIST: return ZKV__STATUS__ALREADY_EXISTS;
    case ZKV_EPERM: return ZKV__STATUS__PERMISSION_DENIED;
    case ZKV_EBUSY:
    case ZKV_ESTOPPED: return ZKV__STATUS__UNAVAILABLE;
    default: return ZKV__STATUS__INTERNAL;
    }
}

zframe_t *zkv_response_frame(const Zkv__Response *response)
{
    zframe_t *frame = zframe_new(NULL, zkv__response__get_packed_size(response));
    if (frame)
        zkv__response__pack(response, zframe_data(frame));
    return frame;
}

/*  A varint at data[*pos]; false past the end or over 10 bytes. */
static bool s_varint(const uint8_t *data, size_t size, size_t *pos, uint64_t *value)
{
    *value = 0;
    for (unsigned shift = 0; *pos < size && shift < 64; shift += 7) {
        uint8_t b = data[(*pos)++];
        *value |= (uint64_t) (b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

Zkv__Status zkv_response_status(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    uint64_t tag, value;
    while (s_varint(data, size, &pos, &tag) && (tag & 7) == 0 && (tag >> 3) <= 3 &&
           s_varint(data, size, &pos, &value))
        if (tag >> 3 == 3)
            return (Zkv__Status) value;
    return ZKV__STATUS__STATUS_UNSPECIFIED;
}

static size_t s_count_results(const uint8_t *data, size_t size)
{
    size_t n = 0, pos = 0;
    zkv_txn_op_result_t op;
    int rc;
    while ((rc = zkv_txn_results_next(data, size, &pos, &op)) == 1)
        n++;
    return rc == 0 ? n : SIZE_MAX;
}

static void s_txn_result(const zkv_txn_op_result_t *op, Zkv__TxnResult *out, Zkv__KeyValue *kv)
{
    zkv__txn_result__init(out);
    out->status = zkv_status_from_error(op->status);
    out->found = op->found;
    out->deleted = op->count;
    if (!op->has_value)
        return;
    zkv__key_value__init(kv);
    kv->value.data = (uint8_t *) op->value.data;
    kv->value.len = op->value.size;
    kv->create_revision = op->meta.create_revision;
    kv->mod_revision = op->meta.mod_revision;
    kv->version = op->meta.version;
    kv->lease = op->meta.lease;
    out->kv = kv;
}

int zkv_response_txn(Zkv__Response *r, const uint8_t *data, size_t size, zkv_txn_response_t *txn)
{
    size_t n = s_count_results(data, size);
    if (n == SIZE_MAX)
        return ZKV_ECORRUPT;
    txn->results = malloc((n ? n : 1) * sizeof *txn->results);
    txn->ptrs = malloc((n ? n : 1) * sizeof *txn->ptrs);
    txn->kvs = malloc((n ? n : 1) * sizeof *txn->kvs);
    if (!txn->results || !txn->ptrs || !txn->kvs)
        return ZKV_ENOMEM;
    size_t pos = 0;
    zkv_txn_op_result_t op;
    for (size_t i = 0; i < n; i++) {
        zkv_txn_results_next(data, size, &pos, &op);
        s_txn_result(&op, &txn->results[i], &txn->kvs[i]);
        txn->ptrs[i] = &txn->results[i];
    }
    r->results = txn->ptrs;
    r->n_results = n;
    return ZKV_OK;
}

void zkv_response_txn_free(zkv_txn_response_t *txn)
{
    free(txn->results);
    free(txn->ptrs);
    free(txn->kvs);
    *txn = (zkv_txn_response_t){0};
}

zframe_t *zkv_response_add_leader(zframe_t *frame, const char *endpoint)
{
    size_t n = strlen(endpoint), size = zframe_size(frame);
    if (n == 0 || n > 127) /* one varint byte of length: endpoints are shorter */
        return frame;
    zframe_t *out = zframe_new(NULL, size + 2 + n);
    if (!out)
        return frame;
    uint8_t *p = zframe_data(out);
    memcpy(p, zframe_data(frame), size);
    p[size] = (5 << 3) | 2; /* Response.leader_endpoint, length-delimited */
    p[size + 1] = (uint8_t) n;
    memcpy(p + size + 2, endpoint, n);
    zframe_destroy(&frame);
    return out;
}
