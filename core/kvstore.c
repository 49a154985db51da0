/*  kvstore: committed commands -> B+ tree, deduplicated by client session. */
#include "kvstore.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "sessions.h"
#include "zkv_error.h"

struct zkv_kvstore_t {
    zkv_btree_t *tree;
    zkv_sessions_t *sessions;
    uint64_t applied;                  /* last log index applied */
    uint8_t scratch[ZKV_KEY_SIZE_MAX]; /* the key a range delete is at */
    zkv_kvstore_event_fn on_event;
    void *event_arg;
    uint32_t event_seq; /* changes made so far at applied */
};

zkv_kvstore_t *zkv_kvstore_new(void)
{
    zkv_kvstore_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->tree = zkv_btree_new();
    self->sessions = zkv_sessions_new(ZKV_SESSIONS_MAX, ZKV_SESSION_WINDOW);
    if (!self->tree || !self->sessions)
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
                   const zkv_btree_meta_t *meta)
{
    zkv_event_t event = {.type = type,
                         .revision = self->applied,
                         .seq = self->event_seq++,
                         .key = key,
                         .value = value,
                         .meta = *meta};
    if (self->on_event)
        self->on_event(self->event_arg, &event);
}

/*  The one way a key is written: its metadata follows from what it held. */
static int s_write(zkv_kvstore_t *self, zkv_bytes_t key, zkv_bytes_t value, uint64_t lease,
                   bool *found, void **previous, size_t *previous_size)
{
    zkv_btree_meta_t meta = {0};
    bool existed = zkv_btree_get_meta(self->tree, key.data, key.size, NULL, &meta) == ZKV_OK;
    meta.create_revision = existed ? meta.create_revision : self->applied;
    meta.mod_revision = self->applied;
    meta.version = existed ? meta.version + 1 : 1;
    meta.lease = lease;
    int rc = zkv_btree_put(self->tree, key.data, key.size, value.data, value.size, &meta, found,
                           previous, previous_size);
    if (rc == ZKV_OK)
        s_emit(self, ZKV_EVENT_PUT, key, value, &meta);
    return rc;
}

static void s_emit_delete(zkv_kvstore_t *self, zkv_bytes_t key)
{
    zkv_btree_meta_t meta = {.mod_revision = self->applied};
    s_emit(self, ZKV_EVENT_DELETE, key, (zkv_bytes_t){0}, &meta);
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
        int rc = zkv_btree_delete(self->tree, key.data, key.size, NULL, NULL);
        *count = rc == ZKV_OK;
        if (rc == ZKV_OK)
            s_emit_delete(self, key);
        return rc == ZKV_ENOTFOUND ? ZKV_OK : rc;
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
        int rc = zkv_btree_delete(self->tree, self->scratch, at_size, NULL, NULL);
        assert(rc == ZKV_OK);
        (*count)++;
        s_emit_delete(self, (zkv_bytes_t){self->scratch, at_size});
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

static int s_txn(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result)
{
    zkv_txn_store_t store = {s_txn_put, s_txn_delete, self};
    return zkv_txn_apply(self->tree, cmd->txn, &store, &result->found, &result->data,
                         &result->data_size);
}

static int s_execute(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result)
{
    void **old = cmd->return_previous ? (void **) &result->data : NULL;
    int rc;
    switch (cmd->type) {
    case ZKV_CMD_PUT:
        return s_write(self, cmd->key, cmd->value, 0, &result->found, old, &result->data_size);
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

/*  "ZKVSTAT2": the state blob's format 2 (sessions in their format 2); a blob
    without it is format 1, the sessions alone in their format 1. */
#define STATE_MAGIC_V2 UINT64_C(0x3254415453564b5a)

uint8_t *zkv_kvstore_encode_state(const zkv_kvstore_t *self, size_t *size)
{
    size_t sessions_size;
    uint8_t *sessions = zkv_sessions_encode(self->sessions, &sessions_size);
    uint8_t *blob = sessions ? malloc(8 + sessions_size) : NULL;
    if (blob) {
        zkv_le64_put(blob, STATE_MAGIC_V2);
        memcpy(blob + 8, sessions, sessions_size);
        *size = 8 + sessions_size;
    }
    free(sessions);
    return blob;
}

int zkv_kvstore_restore(zkv_kvstore_t *self, uint64_t index, zkv_btree_t **tree_p,
                        const uint8_t *state, size_t size)
{
    int format = 1;
    if (size >= 8 && zkv_le64_get(state) == STATE_MAGIC_V2) {
        format = 2;
        state += 8;
        size -= 8;
    }
    zkv_sessions_t *fresh =
        zkv_sessions_decode(state, size, format, ZKV_SESSIONS_MAX, ZKV_SESSION_WINDOW);
    if (!fresh)
        return ZKV_ECORRUPT;
    zkv_sessions_destroy(&self->sessions);
    self->sessions = fresh;
    zkv_btree_destroy(&self->tree);
    self->tree = *tree_p;
    *tree_p = NULL;
    self->applied = index;
    return ZKV_OK;
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t s_fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

static bool s_digest_visit(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                           void *arg)
{
    uint64_t *h = arg;
    uint8_t fixed[48];
    zkv_le64_put(fixed, key.size);
    zkv_le64_put(fixed + 8, value.size);
    zkv_le64_put(fixed + 16, meta->create_revision);
    zkv_le64_put(fixed + 24, meta->mod_revision);
    zkv_le64_put(fixed + 32, meta->version);
    zkv_le64_put(fixed + 40, meta->lease);
    /* Sizes first, so ("ab","c") and ("a","bc") differ. */
    *h = s_fnv(*h, fixed, sizeof fixed);
    *h = s_fnv(*h, key.data, key.size);
    *h = s_fnv(*h, value.data, value.size);
    return true;
}

uint64_t zkv_kvstore_digest(const zkv_kvstore_t *self)
{
    uint64_t h = FNV_OFFSET;
    zkv_btree_range(self->tree, NULL, 0, NULL, 0, false, 0, s_digest_visit, &h);
    return h;
}
