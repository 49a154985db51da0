/*  client_simple: get, put, delete, cas and scan as plain synchronous C calls
    (zkv.h), over zkv_client_call. */
#include "zkv.h"

#include <stdlib.h>
#include <string.h>

#include "zkv_version.h"

int zkv_client_status_error(int status)
{
    switch (status) {
    case ZKV__STATUS__OK: return ZKV_OK;
    case ZKV__STATUS__NOT_FOUND: return ZKV_ENOTFOUND;
    case ZKV__STATUS__CAS_FAILED: return ZKV_EMISMATCH;
    case ZKV__STATUS__BAD_REQUEST: return ZKV_EINVAL;
    case ZKV__STATUS__KEY_TOO_LARGE: return ZKV_EKEYSIZE;
    case ZKV__STATUS__VALUE_TOO_LARGE: return ZKV_EVALSIZE;
    case ZKV__STATUS__FAILED_PRECONDITION: return ZKV_EPENDING;
    case ZKV__STATUS__RESULT_TOO_LARGE: return ZKV_ETOOBIG;
    case ZKV__STATUS__COMPACTED: return ZKV_ECOMPACTED;
    case ZKV__STATUS__LEASE_NOT_FOUND: return ZKV_ENOLEASE;
    case ZKV__STATUS__ALREADY_EXISTS: return ZKV_EEXIST;
    case ZKV__STATUS__PERMISSION_DENIED: return ZKV_EPERM;
    default: return ZKV_CLIENT_EPROTO;
    }
}

/*  Run op; 0 with the answer in *reply, or the error its status means. */
static int s_call(zkv_client_t *client, const zkv_op_t *op, const Zkv__Response **reply)
{
    int rc = zkv_client_call(client, op, reply);
    return rc ? rc : zkv_client_status_error((*reply)->status);
}

static zkv_bytes_t s_bytes(const void *data, size_t size)
{
    return (zkv_bytes_t){data, size};
}

int zkv_get(zkv_client_t *client, const void *key, size_t key_size, zkv_value_t *value)
{
    memset(value, 0, sizeof *value);
    zkv_op_t op = {.type = ZKV_OP_GET, .key = s_bytes(key, key_size)};
    const Zkv__Response *r;
    int rc = s_call(client, &op, &r);
    if (rc)
        return rc;
    if (!r->found)
        return ZKV_ENOTFOUND;
    value->data = malloc(r->value.len + 1); /* a NUL after it, for text */
    if (!value->data)
        return ZKV_ENOMEM;
    memcpy(value->data, r->value.data, r->value.len);
    value->data[r->value.len] = 0;
    value->size = r->value.len;
    value->revision = r->revision;
    value->create_revision = r->create_revision;
    value->mod_revision = r->mod_revision;
    value->version = r->version;
    value->lease = r->lease;
    return ZKV_OK;
}

void zkv_value_free(zkv_value_t *value)
{
    free(value->data);
    memset(value, 0, sizeof *value);
}

int zkv_put(zkv_client_t *client, const void *key, size_t key_size, const void *value,
            size_t value_size)
{
    zkv_op_t op = {
        .type = ZKV_OP_PUT, .key = s_bytes(key, key_size), .value = s_bytes(value, value_size)};
    const Zkv__Response *r;
    return s_call(client, &op, &r);
}

int zkv_delete(zkv_client_t *client, const void *key, size_t key_size)
{
    zkv_op_t op = {.type = ZKV_OP_DELETE, .key = s_bytes(key, key_size)};
    const Zkv__Response *r;
    int rc = s_call(client, &op, &r);
    return rc ? rc : r->found ? ZKV_OK : ZKV_ENOTFOUND;
}

int zkv_cas(zkv_client_t *client, const void *key, size_t key_size, const void *expected,
            size_t expected_size, const void *value, size_t value_size)
{
    zkv_op_t op = {.type = ZKV_OP_CAS,
                   .key = s_bytes(key, key_size),
                   .expected = s_bytes(expected, expected_size),
                   .expect_absent = expected == NULL,
                   .target = ZKV__COMPARE__TARGET__VALUE,
                   .value = s_bytes(value, value_size)};
    const Zkv__Response *r;
    return s_call(client, &op, &r);
}

int zkv_scan(zkv_client_t *client, const void *prefix, size_t prefix_size, uint32_t limit,
             zkv_scan_fn *fn, void *arg)
{
    zkv_op_t op = {.type = ZKV_OP_SCAN, .prefix = s_bytes(prefix, prefix_size), .limit = limit};
    const Zkv__Response *r;
    int rc = s_call(client, &op, &r);
    if (rc)
        return rc;
    for (size_t i = 0; i < r->n_kvs; i++)
        if (!fn(arg, s_bytes(r->kvs[i]->key.data, r->kvs[i]->key.len),
                s_bytes(r->kvs[i]->value.data, r->kvs[i]->value.len)))
            break;
    return ZKV_OK;
}

const char *zkv_version(void)
{
    return ZKV_VERSION;
}
