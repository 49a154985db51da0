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
    uint64_t applied; /* last log index applied */
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
    free(result->previous);
    memset(result, 0, sizeof *result);
}

static bool s_bytes_equal(zkv_bytes_t a, zkv_bytes_t b)
{
    return a.size == b.size && (a.size == 0 || memcmp(a.data, b.data, a.size) == 0);
}

static bool s_session_command(const zkv_command_t *cmd)
{
    return cmd->type == ZKV_CMD_OPEN_SESSION || cmd->type == ZKV_CMD_CLOSE_SESSION;
}

static int s_validate(const zkv_command_t *cmd)
{
    if (s_session_command(cmd))
        return cmd->client_id != 0 ? ZKV_OK : ZKV_EINVAL;
    if (cmd->type != ZKV_CMD_PUT && cmd->type != ZKV_CMD_DELETE && cmd->type != ZKV_CMD_CAS)
        return ZKV_EINVAL;
    if (cmd->key.size > ZKV_KEY_SIZE_MAX)
        return ZKV_EKEYSIZE;
    if (cmd->value.size > ZKV_VALUE_SIZE_MAX || cmd->expected.size > ZKV_VALUE_SIZE_MAX)
        return ZKV_EVALSIZE;
    return ZKV_OK;
}

static int s_put(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result)
{
    void **old = cmd->return_previous ? (void **) &result->previous : NULL;
    return zkv_btree_put(self->tree, cmd->key.data, cmd->key.size, cmd->value.data, cmd->value.size,
                         &result->found, old, &result->previous_size);
}

static int s_delete(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result)
{
    int rc = zkv_btree_delete(self->tree, cmd->key.data, cmd->key.size, NULL, NULL);
    result->found = rc == ZKV_OK;
    return rc;
}

static int s_cas(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result)
{
    zkv_bytes_t current;
    int rc = zkv_btree_get(self->tree, cmd->key.data, cmd->key.size, &current);
    result->found = rc == ZKV_OK;
    bool matches = cmd->expect_absent ? !result->found
                                      : result->found && s_bytes_equal(current, cmd->expected);
    if (!matches)
        return ZKV_EMISMATCH;
    return zkv_btree_put(self->tree, cmd->key.data, cmd->key.size, cmd->value.data, cmd->value.size,
                         NULL, NULL, NULL);
}

static int s_execute(zkv_kvstore_t *self, const zkv_command_t *cmd, zkv_result_t *result)
{
    switch (cmd->type) {
    case ZKV_CMD_PUT: return s_put(self, cmd, result);
    case ZKV_CMD_DELETE: return s_delete(self, cmd, result);
    case ZKV_CMD_CAS: return s_cas(self, cmd, result);
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
    if (stored->previous) {
        result->previous = malloc(stored->previous_size ? stored->previous_size : 1);
        if (!result->previous)
            return ZKV_ENOMEM;
        memcpy(result->previous, stored->previous, stored->previous_size);
        result->previous_size = stored->previous_size;
    }
    return stored->status;
}

int zkv_kvstore_apply(zkv_kvstore_t *self, uint64_t index, const zkv_command_t *cmd,
                      zkv_result_t *result)
{
    assert(index > self->applied);
    memset(result, 0, sizeof *result);
    self->applied = index;
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
            .previous = result->previous,
            .previous_size = result->previous_size,
        };
        if (zkv_sessions_store(self->sessions, cmd->client_id, &stored) != ZKV_OK)
            result->status = ZKV_ENOMEM;
    }
    return result->status;
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

uint8_t *zkv_kvstore_encode_sessions(const zkv_kvstore_t *self, size_t *size)
{
    return zkv_sessions_encode(self->sessions, size);
}

int zkv_kvstore_restore(zkv_kvstore_t *self, uint64_t index, zkv_btree_t **tree_p,
                        const uint8_t *sessions, size_t size)
{
    zkv_sessions_t *fresh =
        zkv_sessions_decode(sessions, size, ZKV_SESSIONS_MAX, ZKV_SESSION_WINDOW);
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

static bool s_digest_visit(zkv_bytes_t key, zkv_bytes_t value, void *arg)
{
    uint64_t *h = arg;
    uint8_t sizes[16];
    zkv_le64_put(sizes, key.size);
    zkv_le64_put(sizes + 8, value.size);
    /* Sizes first, so ("ab","c") and ("a","bc") differ. */
    *h = s_fnv(*h, sizes, sizeof sizes);
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
