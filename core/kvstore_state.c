/*  kvstore_state: what a snapshot keeps besides the tree (sessions and the
    lease table), and the digest replicas are compared by. */
#include <stdlib.h>
#include <string.h>

#include "kvstore_int.h"
#include "le.h"
#include "zkv_error.h"

/*  The state blob. Format 3, written: "ZKVSTAT3", the sessions' size (u64),
    the sessions (their format 2), the lease table. Format 2: "ZKVSTAT2" and
    the sessions. Format 1 (no magic): the sessions in their format 1. */
#define STATE_MAGIC_V2 UINT64_C(0x3254415453564b5a)
#define STATE_MAGIC_V3 UINT64_C(0x3354415453564b5a)

uint8_t *zkv_kvstore_encode_state(const zkv_kvstore_t *self, size_t *size)
{
    size_t sessions_size = 0, leases_size = 0;
    uint8_t *sessions = zkv_sessions_encode(self->sessions, &sessions_size);
    uint8_t *leases = zkv_leases_encode(self->leases, &leases_size);
    uint8_t *blob = sessions && leases ? malloc(16 + sessions_size + leases_size) : NULL;
    if (blob) {
        zkv_le64_put(blob, STATE_MAGIC_V3);
        zkv_le64_put(blob + 8, sessions_size);
        memcpy(blob + 16, sessions, sessions_size);
        memcpy(blob + 16 + sessions_size, leases, leases_size);
        *size = 16 + sessions_size + leases_size;
    }
    free(sessions);
    free(leases);
    return blob;
}

typedef struct {
    zkv_leases_t *leases;
    bool ok;
} s_relink_t;

static bool s_attach_visit(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                           void *arg)
{
    (void) value;
    s_relink_t *r = arg;
    if (meta->lease && (zkv_leases_find(r->leases, meta->lease, NULL) != ZKV_OK ||
                        zkv_leases_attach(r->leases, meta->lease, key) != ZKV_OK))
        r->ok = false;
    return r->ok;
}

/*  The sessions and leases of a state blob; the leases' keys from tree. */
static int s_decode_state(const uint8_t *state, size_t size, const zkv_btree_t *tree,
                          zkv_sessions_t **sessions, zkv_leases_t **leases)
{
    int format = 1;
    size_t sessions_size = size;
    uint64_t magic = size >= 8 ? zkv_le64_get(state) : 0;
    if (magic == STATE_MAGIC_V2 || magic == STATE_MAGIC_V3) {
        format = magic == STATE_MAGIC_V2 ? 2 : 3;
        size_t head = format == 2 ? 8 : 16;
        if (size < head || (format == 3 && zkv_le64_get(state + 8) > size - head))
            return ZKV_ECORRUPT;
        sessions_size = format == 2 ? size - 8 : zkv_le64_get(state + 8);
        state += head;
        size -= head;
    }
    *sessions = zkv_sessions_decode(state, sessions_size, format == 1 ? 1 : 2, ZKV_SESSIONS_MAX,
                                    ZKV_SESSION_WINDOW);
    *leases = format == 3 ? zkv_leases_decode(state + sessions_size, size - sessions_size)
                          : zkv_leases_new();
    s_relink_t r = {*leases, *leases != NULL};
    if (r.ok)
        zkv_btree_range(tree, NULL, 0, NULL, 0, false, 0, s_attach_visit, &r);
    if (*sessions && r.ok)
        return ZKV_OK;
    zkv_sessions_destroy(sessions);
    zkv_leases_destroy(leases);
    return ZKV_ECORRUPT;
}

int zkv_kvstore_restore(zkv_kvstore_t *self, uint64_t index, zkv_btree_t **tree_p,
                        const uint8_t *state, size_t size)
{
    zkv_sessions_t *sessions;
    zkv_leases_t *leases;
    int rc = s_decode_state(state, size, *tree_p, &sessions, &leases);
    if (rc != ZKV_OK)
        return rc;
    zkv_sessions_destroy(&self->sessions);
    self->sessions = sessions;
    zkv_leases_destroy(&self->leases);
    self->leases = leases;
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

static bool s_digest_lease(uint64_t id, uint64_t ttl_s, void *arg)
{
    uint8_t fixed[16];
    zkv_le64_put(fixed, id);
    zkv_le64_put(fixed + 8, ttl_s);
    *(uint64_t *) arg = s_fnv(*(uint64_t *) arg, fixed, sizeof fixed);
    return true;
}

uint64_t zkv_kvstore_digest(const zkv_kvstore_t *self)
{
    uint64_t h = FNV_OFFSET;
    zkv_btree_range(self->tree, NULL, 0, NULL, 0, false, 0, s_digest_visit, &h);
    zkv_leases_each(self->leases, s_digest_lease, &h);
    return h;
}
