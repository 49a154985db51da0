/*  btree_impl: the node layout and search helpers shared by btree.c,
    btree_iter.c and btree_check.c. Private to the btree module.

    A key and its value live in one record allocation. Leaves hold record
    pointers plus 8 bytes of each key as a big-endian integer, so most
    comparisons in a binary search touch only the node, not the records.
    Separators are not copies: sep[i] of an inner node points at the record
    that is the smallest key under child[i + 1].

    Every node keeps the bytes its entries (leaf keys, inner separators) all
    begin with, up to ZKV_BTREE_COMMON_MAX, and caches the 8 bytes after them.
    Keys like "user/000123" then still differ within the cached bytes; a search
    key that does not share a node's common bytes falls before or after all of
    its entries without a look at any record. */
#ifndef ZKV_BTREE_IMPL_H
#define ZKV_BTREE_IMPL_H

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "btree.h"

/*  Fewest entries in a non-root leaf, fewest children in a non-root inner node. */
#define ZKV_BTREE_MIN ((ZKV_BTREE_ORDER + 1) / 2)
/*  With 64-way fan-out at least, 16 levels would need more than 2^90 keys. */
#define ZKV_BTREE_HEIGHT_MAX 16
/*  Most common bytes a node remembers. */
#define ZKV_BTREE_COMMON_MAX 24

/*  A record is the key's size, its holders' count, the key, then its value's
    size and metadata as varints, then the value: 9 bytes beside the key and
    a value below 2^11 bytes of a key written once below revision 2^28, where
    fixed fields would take 40. The first varint is
    value_size << 3 | flags; create_revision follows, then mod_revision,
    version and lease, each only when its flag says it is not the usual
    (mod_revision = create_revision, version 1, no lease). refs counts its
    holders: the tree (or the view it was retired to) and anyone it was
    shared with (btree.h); the last one frees it. */
struct zkv_btree_rec_t {
    uint16_t key_size;
    _Atomic uint8_t refs;
    uint8_t data[];
};

static_assert(ZKV_BTREE_WIDE_KEY_SIZE_MAX <= UINT16_MAX, "a record's key size is 16 bits");

enum { S_REC_MOD = 1, S_REC_VERSION = 2, S_REC_LEASE = 4, S_REC_FLAG_BITS = 3 };
/*  Most bytes of a record beside its key and value. */
#define S_REC_TAIL_MAX (5 * 10)

typedef struct {
    uint16_t n; /* leaf: entries; inner node: children */
    bool leaf;
    uint8_t skip; /* every entry's key begins with common[0, skip) */
    uint8_t common[ZKV_BTREE_COMMON_MAX];
    uint32_t gen; /* a leaf's: the tree's generation when it was made */
} zkv_btree_node_t;

typedef struct zkv_btree_leaf_t {
    zkv_btree_node_t hdr;
    struct zkv_btree_leaf_t *prev;
    struct zkv_btree_leaf_t *next;
    uint64_t pfx[ZKV_BTREE_ORDER]; /* key bytes [skip, skip + 8) of rec[i], big-endian, 0-padded */
    zkv_btree_rec_t *rec[ZKV_BTREE_ORDER];
} zkv_btree_leaf_t;

typedef struct {
    zkv_btree_node_t hdr;
    uint64_t pfx[ZKV_BTREE_ORDER - 1];
    zkv_btree_rec_t *sep[ZKV_BTREE_ORDER - 1]; /* smallest record under child[i + 1] */
    zkv_btree_node_t *child[ZKV_BTREE_ORDER];
} zkv_btree_inner_t;

struct zkv_btree_t {
    zkv_btree_node_t *root;
    size_t height; /* levels; 1 while the root is a leaf */
    size_t count;
    size_t memory;             /* see zkv_btree_memory */
    size_t alloc_budget;       /* see zkv_btree_set_alloc_budget */
    size_t key_size_max;       /* ZKV_KEY_SIZE_MAX, or ZKV_BTREE_WIDE_KEY_SIZE_MAX */
    zkv_btree_view_t *view;    /* out: its leaves and records are neither changed nor freed */
    bool doomed;               /* destroyed while a view was out: it goes with the view */
    zkv_btree_rec_t *last_put; /* see zkv_btree_last_put */
    uint32_t gen;              /* of the leaves made now; a view moves it on */
};

/*  The view's leaves and what the tree let go of since (btree_view.c). A
    leaf of generation gen or older is the view's: the tree copies it before
    a change (s_leaf_own). */
struct zkv_btree_view_t {
    zkv_btree_t *tree;
    zkv_btree_leaf_t **leaves; /* in key order */
    size_t n_leaves;
    size_t count;
    uint32_t gen;
    zkv_btree_rec_t **retired; /* freed when the view is released */
    size_t retired_n, retired_cap;
    zkv_btree_leaf_t **old_leaves; /* likewise */
    size_t old_n, old_cap;
    _Atomic bool stop; /* zkv_btree_view_stop */
};

static inline uint8_t *s_varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t) v;
    return p;
}

static inline const uint8_t *s_varint_get(const uint8_t *p, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t b = *p++;
        x |= (uint64_t) (b & 0x7f) << shift;
        if (b < 0x80)
            break;
    }
    *v = x;
    return p;
}

/*  Writes the bytes between key and value to tail (S_REC_TAIL_MAX room);
    returns their number. */
static inline size_t s_rec_tail(uint8_t *tail, size_t value_size, const zkv_btree_meta_t *meta)
{
    static const zkv_btree_meta_t zero;
    const zkv_btree_meta_t *m = meta ? meta : &zero;
    unsigned flags = (m->mod_revision != m->create_revision ? S_REC_MOD : 0) |
                     (m->version != 1 ? S_REC_VERSION : 0) | (m->lease != 0 ? S_REC_LEASE : 0);
    uint8_t *p = s_varint_put(tail, (uint64_t) value_size << S_REC_FLAG_BITS | flags);
    p = s_varint_put(p, m->create_revision);
    if (flags & S_REC_MOD)
        p = s_varint_put(p, m->mod_revision);
    if (flags & S_REC_VERSION)
        p = s_varint_put(p, m->version);
    if (flags & S_REC_LEASE)
        p = s_varint_put(p, m->lease);
    return (size_t) (p - tail);
}

/*  The record's value; its metadata too when meta is not NULL. */
static inline zkv_bytes_t s_rec_value(const zkv_btree_rec_t *rec, zkv_btree_meta_t *meta)
{
    const uint8_t *p = rec->data + rec->key_size;
    uint64_t head;
    p = s_varint_get(p, &head);
    unsigned flags = (unsigned) head & ((1u << S_REC_FLAG_BITS) - 1);
    zkv_btree_meta_t m;
    p = s_varint_get(p, &m.create_revision);
    m.mod_revision = m.create_revision;
    m.version = 1;
    m.lease = 0;
    if (flags & S_REC_MOD)
        p = s_varint_get(p, &m.mod_revision);
    if (flags & S_REC_VERSION)
        p = s_varint_get(p, &m.version);
    if (flags & S_REC_LEASE)
        p = s_varint_get(p, &m.lease);
    if (meta != NULL)
        *meta = m;
    return (zkv_bytes_t){.data = p, .size = (size_t) (head >> S_REC_FLAG_BITS)};
}

static inline size_t s_rec_size(const zkv_btree_rec_t *rec)
{
    zkv_bytes_t value = s_rec_value(rec, NULL);
    return (size_t) ((const uint8_t *) value.data - (const uint8_t *) rec) + value.size;
}

/*  Room for recs more retired records and leaves more retired leaves: ZKV_OK
    or ZKV_ENOMEM. */
int zkv_btree_view_reserve_(zkv_btree_view_t *view, size_t recs, size_t leaves);

/*  Prefix order agrees with key order: pfx(a) < pfx(b) implies a < b, and only
    equal prefixes need the full comparison. */
static inline uint64_t s_prefix(const uint8_t *key, size_t size)
{
    uint64_t p = 0;
    if (size >= 8) {
        memcpy(&p, key, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        p = __builtin_bswap64(p);
#endif
        return p;
    }
    for (size_t i = 0; i < size; i++)
        p |= (uint64_t) key[i] << (56 - 8 * i);
    return p;
}

/*  The cached bytes of an entry in a node with the given skip. */
static inline uint64_t s_rec_prefix(const zkv_btree_rec_t *rec, size_t skip)
{
    assert(rec->key_size >= skip);
    return s_prefix(rec->data + skip, rec->key_size - skip);
}

static inline int s_cmp(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
    size_t n = a_size < b_size ? a_size : b_size;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return (a_size > b_size) - (a_size < b_size);
}

static inline int s_rec_cmp(const zkv_btree_rec_t *rec, const uint8_t *key, size_t size)
{
    return s_cmp(rec->data, rec->key_size, key, size);
}

/*  First i in a[0..n) with a[i] >= x (or > x when upper), without branches on data. */
static inline size_t s_pfx_bound(const uint64_t *a, size_t n, uint64_t x, bool upper)
{
    if (n == 0)
        return 0;
    const uint64_t *base = a;
    while (n > 1) {
        size_t half = n / 2;
        bool right = upper ? base[half] <= x : base[half] < x;
        base = right ? base + half : base;
        n -= half;
    }
    bool past = upper ? *base <= x : *base < x;
    return (size_t) (base - a) + past;
}

/*  Where key falls against a node's common bytes: < 0 before all entries, > 0
    after all, 0 sharing them, with *kp set to the key's cached bytes. */
static inline int s_node_enter(const zkv_btree_node_t *node, const uint8_t *key, size_t size,
                               uint64_t *kp)
{
    size_t skip = node->skip;
    if (skip == 0) {
        *kp = s_prefix(key, size);
        return 0;
    }
    int c = memcmp(key, node->common, size < skip ? size : skip);
    if (c != 0 || size < skip)
        return c != 0 ? c : -1;
    *kp = s_prefix(key + skip, size - skip);
    return 0;
}

/*  First entry of the leaf whose key is >= key. *maybe says whether that
    entry's cached bytes equal the key's, so that it may be the key itself. */
static inline size_t s_leaf_lower(const zkv_btree_leaf_t *leaf, const uint8_t *key, size_t size,
                                  bool *maybe)
{
    size_t n = leaf->hdr.n;
    uint64_t kp = 0;
    int side = s_node_enter(&leaf->hdr, key, size, &kp);
    *maybe = false;
    if (side != 0)
        return side < 0 ? 0 : n;
    size_t lo = s_pfx_bound(leaf->pfx, n, kp, false);
    if (lo == n || leaf->pfx[lo] != kp)
        return lo;
    size_t hi = lo + s_pfx_bound(leaf->pfx + lo, n - lo, kp, true), run_end = hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s_rec_cmp(leaf->rec[mid], key, size) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *maybe = lo < run_end;
    return lo;
}

/*  The child whose range holds key: the number of separators <= key. */
static inline size_t s_inner_child(const zkv_btree_inner_t *inner, const uint8_t *key, size_t size)
{
    size_t m = (size_t) inner->hdr.n - 1;
    uint64_t kp = 0;
    int side = s_node_enter(&inner->hdr, key, size, &kp);
    if (side != 0)
        return side < 0 ? 0 : m;
    size_t lo = s_pfx_bound(inner->pfx, m, kp, false);
    if (lo == m || inner->pfx[lo] != kp)
        return lo;
    size_t hi = lo + s_pfx_bound(inner->pfx + lo, m - lo, kp, true);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s_rec_cmp(inner->sep[mid], key, size) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*  Ask for every cache line of a node's prefix array at once: a binary search
    then waits for about one memory round trip instead of one per probe. */
static inline void s_prefetch_node(const zkv_btree_node_t *node)
{
    const char *p = (const char *) node;
    for (size_t off = 0; off < offsetof(zkv_btree_leaf_t, rec); off += 64)
        __builtin_prefetch(p + off);
}

static inline zkv_btree_leaf_t *s_find_leaf(const zkv_btree_t *tree, const uint8_t *key,
                                            size_t size)
{
    zkv_btree_node_t *node = tree->root;
    while (!node->leaf) {
        const zkv_btree_inner_t *inner = (const zkv_btree_inner_t *) node;
        node = inner->child[s_inner_child(inner, key, size)];
        s_prefetch_node(node);
    }
    return (zkv_btree_leaf_t *) node;
}

#endif
