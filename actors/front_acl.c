/*  front_acl: rights of a request (front_acl.h). */
#include "front_acl.h"

static zkv_bytes_t s_bytes(ProtobufCBinaryData b)
{
    return (zkv_bytes_t){b.data, b.len};
}

static bool s_key(const zkv_acl_t *acl, const char *user, ProtobufCBinaryData key, unsigned r)
{
    return zkv_acl_allows_key(acl, user, s_bytes(key), r);
}

/*  One key, or [key, end) when range. */
static bool s_keys(const zkv_acl_t *acl, const char *user, ProtobufCBinaryData key, bool range,
                   ProtobufCBinaryData end, unsigned r)
{
    return range ? zkv_acl_allows_range(acl, user, s_bytes(key), s_bytes(end), r)
                 : s_key(acl, user, key, r);
}

static bool s_scan(const zkv_acl_t *acl, const char *user, const Zkv__ScanRequest *scan)
{
    if (scan->prefix.len)
        return zkv_acl_allows_prefix(acl, user, s_bytes(scan->prefix), ZKV_ACL_READ);
    return zkv_acl_allows_range(acl, user, s_bytes(scan->start), s_bytes(scan->end), ZKV_ACL_READ);
}

static bool s_op(const zkv_acl_t *acl, const char *user, const Zkv__TxnOp *op)
{
    switch (op->op_case) {
    case ZKV__TXN_OP__OP_PUT: return s_key(acl, user, op->put->key, ZKV_ACL_WRITE);
    case ZKV__TXN_OP__OP_DELETE:
        return s_keys(acl, user, op->delete_->key, op->delete_->range, op->delete_->end,
                      ZKV_ACL_WRITE);
    case ZKV__TXN_OP__OP_GET: return s_key(acl, user, op->get->key, ZKV_ACL_READ);
    default: return true; /* refused as malformed before it does anything */
    }
}

static bool s_txn(const zkv_acl_t *acl, const char *user, const Zkv__TxnRequest *txn)
{
    for (size_t i = 0; i < txn->n_compares; i++)
        if (!s_key(acl, user, txn->compares[i]->key, ZKV_ACL_READ))
            return false;
    for (size_t i = 0; i < txn->n_success; i++)
        if (!s_op(acl, user, txn->success[i]))
            return false;
    for (size_t i = 0; i < txn->n_failure; i++)
        if (!s_op(acl, user, txn->failure[i]))
            return false;
    return true;
}

bool zkv_front_acl_allows(const zkv_acl_t *acl, const char *user, const Zkv__Request *req,
                          const char **what)
{
    if (!acl)
        return true;
    *what = "read";
    switch (req->body_case) {
    case ZKV__REQUEST__BODY_GET: return user && s_key(acl, user, req->get->key, ZKV_ACL_READ);
    case ZKV__REQUEST__BODY_SCAN: return user && s_scan(acl, user, req->scan);
    case ZKV__REQUEST__BODY_WATCH:
        return user &&
               s_keys(acl, user, req->watch->key, req->watch->range, req->watch->end, ZKV_ACL_READ);
    case ZKV__REQUEST__BODY_PUT:
        *what = "write";
        return user && s_key(acl, user, req->put->key, ZKV_ACL_WRITE);
    case ZKV__REQUEST__BODY_DELETE:
        *what = "write";
        return user && s_keys(acl, user, req->delete_->key, req->delete_->range, req->delete_->end,
                              ZKV_ACL_WRITE);
    case ZKV__REQUEST__BODY_CAS:
        *what = "read and write";
        return user && s_key(acl, user, req->cas->key, ZKV_ACL_READ | ZKV_ACL_WRITE);
    case ZKV__REQUEST__BODY_TXN: *what = "read or write"; return user && s_txn(acl, user, req->txn);
    case ZKV__REQUEST__BODY_DIGEST:
    case ZKV__REQUEST__BODY_SNAPSHOT:
    case ZKV__REQUEST__BODY_MEMBER_ADD:
    case ZKV__REQUEST__BODY_MEMBER_PROMOTE:
    case ZKV__REQUEST__BODY_MEMBER_REMOVE:
    case ZKV__REQUEST__BODY_MOVE_LEADER:
        *what = "administer the cluster";
        return user && zkv_acl_allows_admin(acl, user);
    default: *what = "connect"; return user != NULL;
    }
}
