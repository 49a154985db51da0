/*  btree_impl: the node layout and search helpers shared by btree.c,
    btree_iter.c and btree_check.c. Private to the btree module.

    A key and its value live in one record allocation. Leaves hold record
    pointers plus each key's first 8 bytes as a big-endian integer, so most
    comparisons in a binary search touch only the node, not the records.
    Separators are not copies: sep[i] of an inner node points at the record
    that is the smallest key under child[i + 1]. */
#ifndef ZKV_BTREE_IMPL_H
#define ZKV_BTREE_IMPL_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "btree.h"

/*  Fewest entries in a non-root leaf, fewest children in a non-root inner node. */
#define ZKV_BTREE_MIN ((ZKV_BTREE_ORDER + 1) / 2)
/*  With 64-way fan-out at least, 16 levels would need more than 2^90 keys. */
#define ZKV_BTREE_HEIGHT_MAX 16

typedef struct {
    uint32_t key_size;
    uint32_t value_size;
    uint8_t data[]; /* key bytes, then value bytes */
} zkv_btree_rec_t;

typedef struct {
    uint16_t n; /* leaf: entries; inner node: children */
    bool leaf;
} zkv_btree_node_t;

typedef struct zkv_btree_leaf_t {
    zkv_btree_node_t hdr;
    struct zkv_btree_leaf_t *prev;
    struct zkv_btree_leaf_t *next;
    uint64_t pfx[ZKV_BTREE_ORDER]; /* first 8 key bytes of rec[i], big-endian, zero-padded */
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
    size_t memory;       /* see zkv_btree_memory */
    size_t alloc_budget; /* see zkv_btree_set_alloc_budget */
};

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

static inline uint64_t s_rec_prefix(const zkv_btree_rec_t *rec)
{
    return s_prefix(rec->data, rec->key_size);
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

/*  First entry of the leaf whose key is >= key; kp is the key's prefix. */
static inline size_t s_leaf_lower(const zkv_btree_leaf_t *leaf, const uint8_t *key, size_t size,
                                  uint64_t kp)
{
    size_t n = leaf->hdr.n;
    size_t lo = s_pfx_bound(leaf->pfx, n, kp, false);
    if (lo == n || leaf->pfx[lo] != kp)
        return lo;
    size_t hi = lo + s_pfx_bound(leaf->pfx + lo, n - lo, kp, true);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s_rec_cmp(leaf->rec[mid], key, size) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*  The child whose range holds key: the number of separators <= key. */
static inline size_t s_inner_child(const zkv_btree_inner_t *inner, const uint8_t *key, size_t size,
                                   uint64_t kp)
{
    size_t m = (size_t) inner->hdr.n - 1;
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
                                            size_t size, uint64_t kp)
{
    zkv_btree_node_t *node = tree->root;
    while (!node->leaf) {
        const zkv_btree_inner_t *inner = (const zkv_btree_inner_t *) node;
        node = inner->child[s_inner_child(inner, key, size, kp)];
        s_prefetch_node(node);
    }
    return (zkv_btree_leaf_t *) node;
}

#endif
