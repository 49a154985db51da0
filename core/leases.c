/*  leases: two B+ trees, id -> ttl and (id, key) -> nothing (leases.h). */
#include "leases.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "zkv_error.h"

struct zkv_leases_t {
    zkv_btree_t *table; /* id (8 bytes, big-endian) -> ttl (8 bytes, little-endian) */
    zkv_btree_t *keys;  /* id (8 bytes, big-endian) then the key -> empty; a wide tree */
    uint8_t scratch[8 + ZKV_KEY_SIZE_MAX];
};

static void s_id(uint8_t out[8], uint64_t id)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t) (id >> (56 - 8 * i));
}

static uint64_t s_id_get(const uint8_t in[8])
{
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = id << 8 | in[i];
    return id;
}

zkv_leases_t *zkv_leases_new(void)
{
    zkv_leases_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->table = zkv_btree_new();
    self->keys = zkv_btree_new_wide(); /* an id before a key of up to ZKV_KEY_SIZE_MAX */
    if (!self->table || !self->keys)
        zkv_leases_destroy(&self);
    return self;
}

void zkv_leases_destroy(zkv_leases_t **self_p)
{
    zkv_leases_t *self = *self_p;
    if (!self)
        return;
    zkv_btree_destroy(&self->table);
    zkv_btree_destroy(&self->keys);
    free(self);
    *self_p = NULL;
}

int zkv_leases_grant(zkv_leases_t *self, uint64_t id, uint64_t ttl_s)
{
    if (id == 0 || ttl_s == 0 || ttl_s > ZKV_LEASE_TTL_MAX)
        return ZKV_EINVAL;
    if (zkv_leases_find(self, id, NULL) == ZKV_OK)
        return ZKV_EEXIST;
    if (zkv_btree_count(self->table) >= ZKV_LEASES_MAX)
        return ZKV_EBUSY;
    uint8_t key[8], value[8];
    s_id(key, id);
    zkv_le64_put(value, ttl_s);
    return zkv_btree_put(self->table, key, 8, value, 8, NULL, NULL, NULL, NULL);
}

int zkv_leases_find(const zkv_leases_t *self, uint64_t id, uint64_t *ttl_s)
{
    uint8_t key[8];
    s_id(key, id);
    zkv_bytes_t value;
    if (zkv_btree_get(self->table, key, 8, &value) != ZKV_OK)
        return ZKV_ENOLEASE;
    assert(value.size == 8);
    if (ttl_s)
        *ttl_s = zkv_le64_get(value.data);
    return ZKV_OK;
}

/*  (id, key) into scratch; its size. */
static size_t s_entry(zkv_leases_t *self, uint64_t id, zkv_bytes_t key)
{
    assert(key.size <= ZKV_KEY_SIZE_MAX);
    s_id(self->scratch, id);
    if (key.size)
        memcpy(self->scratch + 8, key.data, key.size);
    return 8 + key.size;
}

int zkv_leases_attach(zkv_leases_t *self, uint64_t id, zkv_bytes_t key)
{
    assert(zkv_leases_find(self, id, NULL) == ZKV_OK);
    size_t size = s_entry(self, id, key);
    return zkv_btree_put(self->keys, self->scratch, size, NULL, 0, NULL, NULL, NULL, NULL);
}

void zkv_leases_detach(zkv_leases_t *self, uint64_t id, zkv_bytes_t key)
{
    size_t size = s_entry(self, id, key);
    zkv_btree_delete(self->keys, self->scratch, size, NULL, NULL);
}

typedef struct {
    uint8_t *key;
    size_t *size;
    bool found;
} s_first_t;

static bool s_take_first(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                         void *arg)
{
    (void) value;
    (void) meta;
    s_first_t *f = arg;
    assert(key.size >= 8);
    *f->size = key.size - 8;
    if (*f->size)
        memcpy(f->key, key.data + 8, *f->size);
    f->found = true;
    return false;
}

bool zkv_leases_first_key(const zkv_leases_t *self, uint64_t id, uint8_t *key, size_t *size)
{
    uint8_t prefix[8];
    s_id(prefix, id);
    s_first_t f = {key, size, false};
    zkv_btree_prefix(self->keys, prefix, 8, false, 1, s_take_first, &f);
    return f.found;
}

int zkv_leases_remove(zkv_leases_t *self, uint64_t id)
{
    uint8_t key[8];
    s_id(key, id);
    assert(!zkv_leases_first_key(self, id, self->scratch, &(size_t){0}));
    return zkv_btree_delete(self->table, key, 8, NULL, NULL) == ZKV_OK ? ZKV_OK : ZKV_ENOLEASE;
}

size_t zkv_leases_count(const zkv_leases_t *self)
{
    return zkv_btree_count(self->table);
}

size_t zkv_leases_keys(const zkv_leases_t *self)
{
    return zkv_btree_count(self->keys);
}

typedef struct {
    zkv_leases_visit_fn visit;
    void *arg;
} s_each_t;

static bool s_each_visit(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                         void *arg)
{
    (void) meta;
    s_each_t *e = arg;
    return e->visit(s_id_get(key.data), zkv_le64_get(value.data), e->arg);
}

void zkv_leases_each(const zkv_leases_t *self, zkv_leases_visit_fn visit, void *arg)
{
    s_each_t e = {visit, arg};
    zkv_btree_range(self->table, NULL, 0, NULL, 0, false, 0, s_each_visit, &e);
}

static bool s_encode_visit(uint64_t id, uint64_t ttl_s, void *arg)
{
    uint8_t **p = arg;
    zkv_le64_put(*p, id);
    zkv_le64_put(*p + 8, ttl_s);
    *p += 16;
    return true;
}

uint8_t *zkv_leases_encode(const zkv_leases_t *self, size_t *size)
{
    size_t n = zkv_leases_count(self);
    uint8_t *buf = malloc(8 + 16 * n), *p = buf;
    if (!buf)
        return NULL;
    zkv_le64_put(p, n);
    p += 8;
    zkv_leases_each(self, s_encode_visit, &p);
    assert((size_t) (p - buf) == 8 + 16 * n);
    *size = 8 + 16 * n;
    return buf;
}

zkv_leases_t *zkv_leases_decode(const uint8_t *data, size_t size)
{
    if (size < 8)
        return NULL;
    uint64_t n = zkv_le64_get(data);
    if (n > ZKV_LEASES_MAX || size != 8 + 16 * n)
        return NULL;
    zkv_leases_t *self = zkv_leases_new();
    uint64_t last = 0;
    for (uint64_t i = 0; self && i < n; i++) {
        uint64_t id = zkv_le64_get(data + 8 + 16 * i), ttl = zkv_le64_get(data + 16 + 16 * i);
        if (id <= last || zkv_leases_grant(self, id, ttl) != ZKV_OK)
            zkv_leases_destroy(&self);
        last = id;
    }
    return self;
}
