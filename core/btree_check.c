/*  btree_check: zkv_btree_check, a full walk that verifies every invariant the
    B+ tree relies on. Meant for tests; it costs a visit of every entry. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "btree.h"
#include "btree_impl.h"
#include "zkv_error.h"

typedef struct {
    const zkv_btree_t *tree;
    char *why;
    size_t why_size;
    const zkv_btree_leaf_t *prev_leaf; /* the leaf before the current one, in key order */
    const zkv_btree_rec_t *prev_rec;   /* the greatest key seen so far */
    size_t count;
    size_t memory;
} s_check_t;

/*  The bounds a subtree's keys must respect: lo <= key < hi; NULL is unbounded. */
typedef struct {
    const zkv_btree_rec_t *lo;
    const zkv_btree_rec_t *hi;
} s_bounds_t;

static int s_fail(s_check_t *c, const char *fmt, ...)
{
    if (c->why != NULL && c->why_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->why_size, fmt, ap);
        va_end(ap);
    }
    return ZKV_ECORRUPT;
}

static int s_rec_order(const zkv_btree_rec_t *a, const zkv_btree_rec_t *b)
{
    return s_cmp(a->data, a->key_size, b->data, b->key_size);
}

static bool s_in_bounds(const zkv_btree_rec_t *rec, s_bounds_t b)
{
    return (b.lo == NULL || s_rec_order(rec, b.lo) >= 0) &&
           (b.hi == NULL || s_rec_order(rec, b.hi) < 0);
}

/*  The entry begins with the node's common bytes and has the right cached bytes. */
static bool s_entry_ok(const zkv_btree_node_t *node, const zkv_btree_rec_t *rec, uint64_t pfx)
{
    size_t skip = node->skip;
    return skip <= ZKV_BTREE_COMMON_MAX && rec->key_size >= skip &&
           (skip == 0 || memcmp(rec->data, node->common, skip) == 0) &&
           pfx == s_rec_prefix(rec, skip);
}

static int s_check_fill(s_check_t *c, const zkv_btree_node_t *node, size_t depth)
{
    bool root = depth == 1;
    size_t min = root ? (node->leaf ? 0 : 2) : ZKV_BTREE_MIN;
    if (node->n < min || node->n > ZKV_BTREE_ORDER)
        return s_fail(c, "%s at depth %zu holds %u, outside [%zu, %d]",
                      node->leaf ? "leaf" : "inner node", depth, node->n, min, ZKV_BTREE_ORDER);
    if (node->leaf != (depth == c->tree->height))
        return s_fail(c, "%s at depth %zu, but the tree is %zu high",
                      node->leaf ? "leaf" : "inner node", depth, c->tree->height);
    return ZKV_OK;
}

static int s_check_leaf(s_check_t *c, const zkv_btree_leaf_t *leaf, s_bounds_t b)
{
    if (leaf->prev != c->prev_leaf)
        return s_fail(c, "leaf %zu: prev link does not point at the leaf before it", c->count);
    if (c->prev_leaf != NULL && c->prev_leaf->next != leaf)
        return s_fail(c, "leaf before key %zu: next link skips a leaf", c->count);
    c->prev_leaf = leaf;
    for (size_t i = 0; i < leaf->hdr.n; i++) {
        const zkv_btree_rec_t *rec = leaf->rec[i];
        if (rec == NULL)
            return s_fail(c, "key %zu: null record", c->count);
        if (rec->key_size > c->tree->key_size_max ||
            s_rec_value(rec, NULL).size > ZKV_VALUE_SIZE_MAX)
            return s_fail(c, "key %zu: key or value size over the limit", c->count);
        if (!s_entry_ok(&leaf->hdr, rec, leaf->pfx[i]))
            return s_fail(c, "key %zu: lacks the leaf's common bytes or its cached bytes are stale",
                          c->count);
        if (c->prev_rec != NULL && s_rec_order(c->prev_rec, rec) >= 0)
            return s_fail(c, "key %zu: not greater than the key before it", c->count);
        if (!s_in_bounds(rec, b))
            return s_fail(c, "key %zu: outside the separators above its leaf", c->count);
        c->prev_rec = rec;
        c->count++;
        c->memory += s_rec_size(rec);
    }
    c->memory += sizeof(zkv_btree_leaf_t);
    return ZKV_OK;
}

static int s_check_node(s_check_t *c, const zkv_btree_node_t *node, size_t depth, s_bounds_t b,
                        const zkv_btree_rec_t **min);

static int s_check_inner(s_check_t *c, const zkv_btree_inner_t *inner, size_t depth, s_bounds_t b)
{
    size_t n = inner->hdr.n;
    for (size_t i = 0; i + 1 < n; i++) {
        const zkv_btree_rec_t *sep = inner->sep[i];
        if (sep == NULL || !s_entry_ok(&inner->hdr, sep, inner->pfx[i]))
            return s_fail(c,
                          "inner node at depth %zu: separator %zu null, lacks the common bytes "
                          "or its cached bytes are stale",
                          depth, i);
        if (!s_in_bounds(sep, b) || (i > 0 && s_rec_order(inner->sep[i - 1], sep) >= 0))
            return s_fail(c, "inner node at depth %zu: separator %zu out of order", depth, i);
    }
    c->memory += sizeof(zkv_btree_inner_t);
    for (size_t i = 0; i < n; i++) {
        s_bounds_t cb = {.lo = i > 0 ? inner->sep[i - 1] : b.lo,
                         .hi = i + 1 < n ? inner->sep[i] : b.hi};
        const zkv_btree_rec_t *min = NULL;
        int rc = s_check_node(c, inner->child[i], depth + 1, cb, &min);
        if (rc != ZKV_OK)
            return rc;
        if (i > 0 && min != inner->sep[i - 1])
            return s_fail(c,
                          "inner node at depth %zu: separator %zu is not the smallest "
                          "record of the subtree right of it",
                          depth, i - 1);
    }
    return ZKV_OK;
}

/*  Checks the subtree under node; *min receives its smallest record. */
static int s_check_node(s_check_t *c, const zkv_btree_node_t *node, size_t depth, s_bounds_t b,
                        const zkv_btree_rec_t **min)
{
    if (node == NULL)
        return s_fail(c, "null child at depth %zu", depth);
    int rc = s_check_fill(c, node, depth);
    if (rc != ZKV_OK)
        return rc;
    if (node->leaf) {
        const zkv_btree_leaf_t *leaf = (const zkv_btree_leaf_t *) node;
        *min = leaf->hdr.n > 0 ? leaf->rec[0] : NULL;
        return s_check_leaf(c, leaf, b);
    }
    const zkv_btree_inner_t *inner = (const zkv_btree_inner_t *) node;
    rc = s_check_inner(c, inner, depth, b);
    if (rc == ZKV_OK) {
        /* the first leaf under this node was checked first: its first record */
        const zkv_btree_node_t *first = node;
        while (!first->leaf)
            first = ((const zkv_btree_inner_t *) first)->child[0];
        *min = ((const zkv_btree_leaf_t *) first)->rec[0];
    }
    return rc;
}

int zkv_btree_check(const zkv_btree_t *self, char *why, size_t why_size)
{
    s_check_t c = {.tree = self, .why = why, .why_size = why_size};
    if (why != NULL && why_size > 0)
        why[0] = '\0';
    if (self->root == NULL || self->height < 1 || self->height > ZKV_BTREE_HEIGHT_MAX)
        return s_fail(&c, "no root, or height %zu out of range", self->height);
    const zkv_btree_rec_t *min = NULL;
    s_bounds_t unbounded = {NULL, NULL};
    int rc = s_check_node(&c, self->root, 1, unbounded, &min);
    if (rc != ZKV_OK)
        return rc;
    if (c.prev_leaf->next != NULL)
        return s_fail(&c, "last leaf has a next link");
    if (c.count != self->count)
        return s_fail(&c, "count says %zu, leaves hold %zu", self->count, c.count);
    c.memory += sizeof(zkv_btree_t);
    if (c.memory != self->memory)
        return s_fail(&c, "memory says %zu, nodes and records add up to %zu", self->memory,
                      c.memory);
    return ZKV_OK;
}
