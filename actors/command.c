/*  command: zkv.Command -> zkv_command_t. Enum values pass through as they
    came: the state machine refuses unknown ones, identically on every node. */
#include "command.h"

#include <stdlib.h>
#include <string.h>

#include "zkv.pb-c.h"
#include "zkv_error.h"

static zkv_bytes_t s_bytes(ProtobufCBinaryData b)
{
    return (zkv_bytes_t){b.data, b.len};
}

static void s_compare(const Zkv__Compare *in, zkv_compare_t *out)
{
    *out = (zkv_compare_t){.key = s_bytes(in->key),
                           .target = (zkv_cmp_target_t) in->target,
                           .result = (zkv_cmp_result_t) in->result,
                           .value = s_bytes(in->value),
                           .number = in->number};
}

/*  A CAS is a compare for equality on its key. */
static void s_cas(const Zkv__CasRequest *in, zkv_command_t *cmd)
{
    cmd->type = ZKV_CMD_CAS;
    cmd->key = s_bytes(in->key);
    cmd->value = s_bytes(in->value);
    zkv_compare_t *c = &cmd->compare;
    *c = (zkv_compare_t){.key = cmd->key, .result = ZKV_CMP_EQUAL};
    if (in->target != ZKV__COMPARE__TARGET__VALUE) {
        c->target = (zkv_cmp_target_t) in->target;
        c->number = in->expected_number;
    } else if (in->expect_absent)
        c->target = ZKV_CMP_VERSION; /* version 0: absent */
    else {
        c->target = ZKV_CMP_VALUE;
        c->value = s_bytes(in->expected);
    }
}

static bool s_op(const Zkv__TxnOp *in, zkv_txn_op_t *out)
{
    memset(out, 0, sizeof *out);
    switch (in->op_case) {
    case ZKV__TXN_OP__OP_PUT:
        out->type = ZKV_TXN_PUT;
        out->key = s_bytes(in->put->key);
        out->value = s_bytes(in->put->value);
        out->return_previous = in->put->return_previous;
        out->lease = in->put->lease;
        return true;
    case ZKV__TXN_OP__OP_DELETE:
        out->type = ZKV_TXN_DELETE;
        out->key = s_bytes(in->delete_->key);
        out->end = s_bytes(in->delete_->end);
        out->range = in->delete_->range;
        return true;
    case ZKV__TXN_OP__OP_GET:
        out->type = ZKV_TXN_GET;
        out->key = s_bytes(in->get->key);
        return true;
    default: return false;
    }
}

static bool s_txn(const Zkv__TxnRequest *in, zkv_decoded_command_t *dc)
{
    size_t ops = in->n_success + in->n_failure;
    dc->compares = malloc((in->n_compares ? in->n_compares : 1) * sizeof *dc->compares);
    dc->ops = malloc((ops ? ops : 1) * sizeof *dc->ops);
    if (!dc->compares || !dc->ops)
        return false;
    for (size_t i = 0; i < in->n_compares; i++)
        s_compare(in->compares[i], &dc->compares[i]);
    for (size_t i = 0; i < in->n_success; i++)
        if (!s_op(in->success[i], &dc->ops[i]))
            return false;
    for (size_t i = 0; i < in->n_failure; i++)
        if (!s_op(in->failure[i], &dc->ops[in->n_success + i]))
            return false;
    dc->txn = (zkv_txn_t){dc->compares,  in->n_compares,          dc->ops,
                          in->n_success, dc->ops + in->n_success, in->n_failure};
    dc->cmd.type = ZKV_CMD_TXN;
    dc->cmd.txn = &dc->txn;
    return true;
}

static bool s_body(const Zkv__Command *c, zkv_decoded_command_t *dc)
{
    zkv_command_t *cmd = &dc->cmd;
    switch (c->op_case) {
    case ZKV__COMMAND__OP_PUT:
        cmd->type = ZKV_CMD_PUT;
        cmd->key = s_bytes(c->put->key);
        cmd->value = s_bytes(c->put->value);
        cmd->return_previous = c->put->return_previous;
        cmd->lease = c->put->lease;
        return true;
    case ZKV__COMMAND__OP_DELETE:
        cmd->type = ZKV_CMD_DELETE;
        cmd->key = s_bytes(c->delete_->key);
        cmd->end = s_bytes(c->delete_->end);
        cmd->range = c->delete_->range;
        return true;
    case ZKV__COMMAND__OP_CAS: s_cas(c->cas, cmd); return true;
    case ZKV__COMMAND__OP_TXN: return s_txn(c->txn, dc);
    case ZKV__COMMAND__OP_LEASE_GRANT:
        cmd->type = ZKV_CMD_LEASE_GRANT;
        cmd->lease = c->lease_grant->id;
        cmd->ttl_s = c->lease_grant->ttl;
        return true;
    case ZKV__COMMAND__OP_LEASE_REVOKE:
        cmd->type = ZKV_CMD_LEASE_REVOKE;
        cmd->lease = c->lease_revoke->id;
        return true;
    case ZKV__COMMAND__OP_LEASE_KEEPALIVE:
        cmd->type = ZKV_CMD_LEASE_KEEPALIVE;
        cmd->lease = c->lease_keepalive->id;
        return true;
    case ZKV__COMMAND__OP_OPEN_SESSION: cmd->type = ZKV_CMD_OPEN_SESSION; return true;
    case ZKV__COMMAND__OP_CLOSE_SESSION: cmd->type = ZKV_CMD_CLOSE_SESSION; return true;
    default: return false;
    }
}

bool zkv_command_decode(const void *data, size_t size, zkv_decoded_command_t *dc)
{
    memset(dc, 0, sizeof *dc);
    dc->pb = zkv__command__unpack(NULL, size, data);
    if (!dc->pb)
        return false;
    dc->cmd.client_id = dc->pb->client_id;
    dc->cmd.sequence = dc->pb->sequence;
    dc->cmd.first_unacked = dc->pb->first_unacked;
    if (!s_body(dc->pb, dc)) {
        zkv_command_clear(dc);
        return false;
    }
    return true;
}

void zkv_command_clear(zkv_decoded_command_t *dc)
{
    if (dc->pb)
        zkv__command__free_unpacked(dc->pb, NULL);
    free(dc->compares);
    free(dc->ops);
    memset(dc, 0, sizeof *dc);
}

int zkv_command_check_txn(const Zkv__TxnRequest *txn, const char **why)
{
    zkv_decoded_command_t dc = {0};
    int rc = ZKV_OK;
    if (txn->n_compares > ZKV_TXN_OPS_MAX || txn->n_success > ZKV_TXN_OPS_MAX ||
        txn->n_failure > ZKV_TXN_OPS_MAX) {
        *why = "more than 128 compares or operations in a branch";
        return ZKV_EINVAL;
    }
    if (!s_txn(txn, &dc)) {
        *why = "an operation of unknown type, or out of memory";
        rc = ZKV_EINVAL;
    } else
        rc = zkv_txn_validate(&dc.txn, why);
    zkv_command_clear(&dc);
    return rc;
}
