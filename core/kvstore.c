/*  kvstore: committed commands -> B+ tree, deduplicated by client session. */
#include "kvstore_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "zkv_error.h"

zkv_kvstore_t *zkv_kvstore_new(void)
{
    zkv_kvstore_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->tree = zkv_btree_new();
    self->sessions = zkv_sessions_new(ZKV_SESSIONS_MAX, ZKV_SESSION_WINDOW);
    self->leases = zkv_leases_new();
    if (!self->tree || !self->sessions || !self->leases)
        zkv_kvstore_destroy(&self);
    return self;
}

void zkv_kvstore_destroy(zkv_kvstore_t **self_p)
{
    assert(self_p);
    zkv_kvstore_t *self = *self_p;
    if (!self)
        return;
    zkv_btree_destroy(&self->tree);
    zkv_sessions_destroy(&self->sessions);
    zkv_leases_destroy(&self->leases);
    free(self);
    *self_p = NULL;
}

void zkv_result_clear(zkv_result_t *result)
{
    free(result->data);
    memset(result, 0, sizeof *result);
}

static bool s_session_command(const zkv_command_t *cmd)
{
    return cmd->type == ZKV_CMD_OPEN_SESSION || cmd->type == ZKV_CMD_CLOSE_SESSION;
}

static int s_validate(const zkv_command_t *cmd)
{
    if (s_session_command(cmd))
        return cmd->client_id != 0 ? ZKV_OK : ZKV_EINVAL;
    if (cmd->type == ZKV_CMD_TXN)
        return cmd->txn ? zkv_txn_validate(cmd->txn, NULL) : ZKV_EINVAL;
    if (cmd->type == ZKV_CMD_LEASE_GRANT)
        return cmd->ttl_s && cmd->ttl_s <= ZKV_LEASE_TTL_MAX ? ZKV_OK : ZKV_EINVAL;
    if (cmd->type == ZKV_CMD_LEASE_REVOKE || cmd->type == ZKV_CMD_LEASE_KEEPALIVE)
        return cmd->lease ? ZKV_OK : ZKV_EINVAL;
    if (cmd->type != ZKV_CMD_PUT && cmd->type != ZKV_CMD_DELETE && cmd->type != ZKV_CMD_CAS)
        return ZKV_EINVAL;
    if (cmd->key.size > ZKV_KEY_SIZE_MAX || cmd->end.size > ZKV_KEY_SIZE_MAX)
        return ZKV_EKEYSIZE;
    if (cmd->value.size > ZKV_VALUE_SIZE_MAX || cmd->compare.value.size > ZKV_VALUE_SIZE_MAX)
        return ZKV_EVALSIZE;
    if (cmd->type == ZKV_CMD_CAS &&
        (cmd->compare.target > ZKV_CMP_LEASE || cmd->compare.result > ZKV_CMP_LESS))
        return ZKV_EINVAL;
    return ZKV_OK;
}

static void s_emit(zkv_kvstore_t *self, zkv_event_type_t type, zkv_bytes_t key, zkv_bytes_t value,
                   const zkv_btree_meta_t *meta, zkv_btree_rec_t *rec)
{
    zkv_event_t event = {.type = type,
                         .revision = self->applied,
                         .seq = self->event_seq++,
                         .key = key,
                         .value = value,
                         .meta = *meta,
                         .rec = rec};
    if (self->on_event)
        self->on_event(self->event_arg, &event);
}

/*  The one way a key is written: its metadata follows from what it held. A
    lease link is made before the write and the old one dropped after it, so
    a failure (out of memory) changes nothing. */
static int s_write(zkv_kvstore_t *self, zkv_bytes_t key, zkv_bytes_t value, uint64_t lease,
                   bool *found, void **previous, size_t *previous_size)
{
    if (lease && zkv_leases_find(self->leases, lease, NULL) != ZKV_OK)
        return ZKV_ENOLEASE;
    zkv_btree_meta_t meta = {0};
    bool existed = zkv_btree_get_meta(self->tree, key.data, key.size, NULL, &meta) == ZKV_OK;
    uint64_t old_lease = meta.lease;
    bool relink = old_lease != lease;
    if (relink && lease && zkv_leases_attach(self->leases, lease, key) != ZKV_OK)
        return ZKV_ENOMEM;
    meta.create_revision = existed ? meta.create_revision : self->applied;
    meta.mod_revision = self->applied;
    meta.version = existed ? meta.version + 1 : 1;
    meta.lease = lease;
    int rc = zkv_btree_put(self->tree, key.data, key.size, value.data, value.size, &meta, found,
                           previous, previous_size);
    uint64_t unlink = rc == ZKV_OK ? old_lease : lease;
    if (relink && unlink)
        zkv_leases_detach(self->leases, unlink, key);
    if (rc == ZKV_OK) {
        /* The event reads the tree's record: one the watch history may share. */
        zkv_btree_rec_t *rec = zkv_btree_last_put(self->tree);
        s_emit(self, ZKV_EVENT_PUT, zkv_btree_rec_key(rec), zkv_btree_rec_value(rec, NULL), &meta,
               rec);
    }
    return rc;
}

static void s_emit_delete(zkv_kvstore_t *self, zkv_bytes_t key)
{
    zkv_btree_meta_t meta = {.mod_revision = self->applied};
    s_emit(self, ZKV_EVENT_DELETE, key, (zkv_bytes_t){0}, &meta, NULL);
}

int kvstore_delete_key(zkv_kvstore_t *self, zkv_bytes_t key)
{
    zkv_btree_meta_t meta = {0};
    if (zkv_btree_get_meta(self->tree, key.data, key.size, NULL, &meta) != ZKV_OK)
        return ZKV_ENOTFOUND;
    if (meta.lease)
        zkv_leases_detach(self->leases, meta.lease, key);
    int rc = zkv_btree_delete(self->tree, key.data, key.size, NULL, NULL);
    assert(rc == ZKV_OK);
    s_emit_delete(self, key);
    return rc;
}

static bool s_in_range(zkv_bytes_t key, zkv_bytes_t end)
{
    if (end.size == 0)
        return true;
    size_t n = key.size < end.size ? key.size : end.size;
    int c = n ? memcmp(key.data, end.data, n) : 0;
    return c < 0 || (c == 0 && key.size < end.size);
}

/*  Deletes key, or with range every key in [key, end); *count says how many. */
static int s_remove(zkv_kvstore_t *self, zkv_bytes_t key, zkv_bytes_t end, bool range,
                    uint64_t *count)
{
    *count = 0;
    if (!range) {
        *count = kvstore_delete_key(self, key) == ZKV_OK;
        return ZKV_OK;
    }
    zkv_btree_iter_t *it = zkv_btree_iter_new(self->tree);
    if (!it)
        return ZKV_ENOMEM;
    memcpy(self->scratch, key.data, key.size);
    size_t at_size = key.size;
    /* Deleting invalidates the cursor: seek again, from the key just deleted. */
    for (zkv_btree_iter_seek(it, self->scratch, at_size); zkv_btree_iter_valid(it);
         zkv_btree_iter_seek(it, self->scratch, at_size)) {
        zkv_bytes_t at = zkv_btree_iter_key(it);
        if (!s_in_range(at, end))
            break;
        memcpy(self->scratch, at.data, at.size);
        at_size = at.size;
        int rc = kvstore_delete_key(self, (zkv_bytes_t){self->scratch, at_size});
        assert(rc == ZKV_OK);
        (*count)++;
    }
    zkv_btree_iter_destroy(&it);
    return ZKV_OK;
}

static int s_txn_put(void *arg, const zkv_txn_op_t *op, bool *found, void **previous,
                     size_t *previous_size)
{
    return s_write(arg, op->key, op->value, op->lease, found, previous, previous_size);
}

static int s_txn_delete(void *arg, const zkv_txn_op_t *op, uint64_t *count)
{
    return s_remove(arg, op->key, op->end, op->range, count);
}

static int s_txn_check(void *arg, const zkv_txn_op_t *op)
{
    zkv_kvstore_t *self = arg;
    if (op->type != ZKV_TXN_PUT || !op->lease)
        return ZKV_OK;
    return zkv_leases_find(self->leases, op->lease, NULL);
}

static int s_txn(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result)
{
    zkv_txn_store_t store = {s_txn_check, s_txn_put, s_txn_delete, self};
    return zkv_txn_apply(self->tree, cmd->txn, &store, &result->found, &result->data,
                         &result->data_size);
}

static int s_execute(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result)
{
    void **old = cmd->return_previous ? (void **) &result->data : NULL;
    int rc;
    switch (cmd->type) {
    case ZKV_CMD_PUT:
        return s_write(self, cmd->key, cmd->value, cmd->lease, &result->found, old,
                       &result->data_size);
    case ZKV_CMD_DELETE:
        rc = s_remove(self, cmd->key, cmd->end, cmd->range, &result->count);
        result->found = result->count > 0;
        return rc == ZKV_OK && !result->found ? ZKV_ENOTFOUND : rc;
    case ZKV_CMD_CAS:
        result->found = zkv_btree_get(self->tree, cmd->key.data, cmd->key.size, NULL) == ZKV_OK;
        if (!zkv_compare_holds(self->tree, &cmd->compare))
            return ZKV_EMISMATCH;
        return s_write(self, cmd->key, cmd->value, 0, NULL, NULL, NULL);
    case ZKV_CMD_TXN: return s_txn(self, cmd, result);
    case ZKV_CMD_LEASE_GRANT: return kvstore_lease_grant(self, cmd, result);
    case ZKV_CMD_LEASE_REVOKE: return kvstore_lease_revoke(self, cmd->lease, result);
    case ZKV_CMD_LEASE_KEEPALIVE: return kvstore_lease_keepalive(self, cmd->lease, result);
    case ZKV_CMD_OPEN_SESSION:
    case ZKV_CMD_CLOSE_SESSION: break;
    }
    return ZKV_EINVAL;
}

static int s_from_session(zkv_sessions_t *sessions, const zkv_command_t *cmd, uint64_t index,
                          zkv_result_t *result, bool *apply)
{
    const zkv_stored_result_t *stored;
    *apply = false;
    switch (zkv_sessions_check(sessions, index, cmd->client_id, cmd->sequence, cmd->first_unacked,
                               &stored)) {
    case ZKV_SESSION_NEW: *apply = true; return ZKV_OK;
    case ZKV_SESSION_FORGOTTEN: return ZKV_EINVAL;
    case ZKV_SESSION_FULL: return ZKV_EBUSY;
    case ZKV_SESSION_EXPIRED: return ZKV_ESESSION;
    case ZKV_SESSION_DUPLICATE: break;
    }
    result->duplicate = true;
    result->found = stored->found;
    result->index = stored->index;
    result->count = stored->count;
    if (stored->data) {
        result->data = malloc(stored->data_size ? stored->data_size : 1);
        if (!result->data)
            return ZKV_ENOMEM;
        memcpy(result->data, stored->data, stored->data_size);
        result->data_size = stored->data_size;
    }
    return stored->status;
}

int zkv_kvstore_apply(zkv_kvstore_t *self, uint64_t index, const zkv_command_t *cmd,
                      zkv_result_t *result)
{
    assert(index > self->applied);
    memset(result, 0, sizeof *result);
    self->applied = index;
    self->event_seq = 0;
    result->index = index;
    result->status = s_validate(cmd);
    if (result->status != ZKV_OK)
        return result->status;
    if (cmd->type == ZKV_CMD_OPEN_SESSION)
        return result->status = zkv_sessions_open(self->sessions, index, cmd->client_id);
    if (cmd->type == ZKV_CMD_CLOSE_SESSION) {
        result->found = zkv_sessions_close(self->sessions, cmd->client_id);
        return result->status;
    }
    bool apply = true;
    if (cmd->client_id != 0) {
        result->status = s_from_session(self->sessions, cmd, index, result, &apply);
        if (!apply)
            return result->status;
    }
    result->status = s_execute(self, cmd, result);
    if (cmd->client_id != 0 && result->status != ZKV_ENOMEM) {
        zkv_stored_result_t stored = {
            .sequence = cmd->sequence,
            .status = result->status,
            .found = result->found,
            .index = index,
            .count = result->count,
            .data = result->data,
            .data_size = result->data_size,
        };
        if (zkv_sessions_store(self->sessions, cmd->client_id, &stored) != ZKV_OK)
            result->status = ZKV_ENOMEM;
    }
    return result->status;
}

void zkv_kvstore_on_event(zkv_kvstore_t *self, zkv_kvstore_event_fn fn, void *arg)
{
    self->on_event = fn;
    self->event_arg = arg;
}

void zkv_kvstore_skip(zkv_kvstore_t *self, uint64_t index)
{
    assert(index > self->applied);
    self->applied = index;
}

uint64_t zkv_kvstore_applied(const zkv_kvstore_t *self)
{
    return self->applied;
}

zkv_btree_t *zkv_kvstore_tree(zkv_kvstore_t *self)
{
    return self->tree;
}

size_t zkv_kvstore_sessions(const zkv_kvstore_t *self)
{
    return zkv_sessions_count(self->sessions);
}

uint64_t zkv_kvstore_sessions_evicted(const zkv_kvstore_t *self)
{
    return zkv_sessions_evicted(self->sessions);
}
