/*  btree: the B+ tree of btree.h. Lookup, insert with splits, delete with
    borrow and merge. Iteration and scans live in btree_iter.c, the invariant
    check in btree_check.c, the node layout in btree_impl.h.

    Because separators point at records instead of holding copies, no split,
    borrow or merge allocates a key, and a delete never allocates (except the
    old-value copy a caller asks for). The price: deleting or replacing a leaf's
    first record must repoint the one separator that names it.

    An insert allocates everything it may need (record, split nodes) before it
    touches the tree, so ZKV_ENOMEM always leaves the tree as it was.

    A node's common bytes (btree_impl.h) shrink when an entry that does not
    share them comes in, and grow only after a split, by at least
    ZKV_BTREE_GROW_MIN bytes: either re-caches every entry of the node, which
    reads every record, so it must stay rare. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "btree.h"
#include "btree_impl.h"
#include "slab.h"
#include "zkv_error.h"

/*  Smallest growth of a node's common bytes worth re-caching its entries. */
#define ZKV_BTREE_GROW_MIN 4

/*  Where a key is, or would go: the inner nodes above its leaf and the child
    index taken in each. */
typedef struct {
    zkv_btree_inner_t *node[ZKV_BTREE_HEIGHT_MAX];
    size_t idx[ZKV_BTREE_HEIGHT_MAX];
    size_t depth; /* inner levels on the path */
    zkv_btree_leaf_t *leaf;
    size_t pos; /* first entry of leaf >= key */
    bool found;
} s_path_t;

/*  Every allocation of the tree takes one from its budget first: false when it is spent. */
static bool s_budget_take(zkv_btree_t *self)
{
    if (self->alloc_budget == 0)
        return false;
    if (self->alloc_budget != SIZE_MAX)
        self->alloc_budget--;
    return true;
}

/*  Counted allocations are the tree's own and add to its memory. */
static void *s_alloc(zkv_btree_t *self, size_t size, bool counted)
{
    void *p = s_budget_take(self) ? malloc(size) : NULL;
    if (p != NULL && counted)
        self->memory += size;
    return p;
}

static void s_uncount(zkv_btree_t *self, size_t size)
{
    assert(self->memory >= size);
    self->memory -= size;
}

static void s_free(zkv_btree_t *self, void *p, size_t size)
{
    s_uncount(self, size);
    free(p);
}

/*  The tree lets go of a record (freed unless someone shares it). */
static void s_rec_free(zkv_btree_t *self, zkv_btree_rec_t *rec)
{
    s_uncount(self, s_rec_size(rec));
    zkv_btree_rec_release(&rec);
}

/*  A record the tree no longer holds: let go of, or kept for the view that holds it. */
static void s_rec_leave(zkv_btree_t *self, zkv_btree_rec_t *rec)
{
    zkv_btree_view_t *view = self->view;
    if (view == NULL) {
        s_rec_free(self, rec);
        return;
    }
    assert(view->retired_n < view->retired_cap); /* reserved before the change began */
    s_uncount(self, s_rec_size(rec));
    view->retired[view->retired_n++] = rec;
}

/*  Before a change that may drop a record and leaves leaves: ZKV_OK or ZKV_ENOMEM. */
static int s_drop_reserve(zkv_btree_t *self, size_t leaves)
{
    if (self->view == NULL)
        return ZKV_OK;
    if (self->alloc_budget == 0)
        return ZKV_ENOMEM;
    return zkv_btree_view_reserve_(self->view, 1, leaves);
}

static zkv_btree_rec_t *s_rec_new(zkv_btree_t *self, const void *key, size_t key_size,
                                  const void *value, size_t value_size,
                                  const zkv_btree_meta_t *meta)
{
    uint8_t tail[S_REC_TAIL_MAX];
    size_t tail_size = s_rec_tail(tail, value_size, meta);
    size_t size = offsetof(zkv_btree_rec_t, data) + key_size + tail_size + value_size;
    zkv_btree_rec_t *rec = s_budget_take(self) ? zkv_slab_alloc(size) : NULL;
    if (rec == NULL)
        return NULL;
    self->memory += size;
    rec->key_size = (uint16_t) key_size;
    atomic_init(&rec->refs, 1);
    if (key_size > 0)
        memcpy(rec->data, key, key_size);
    memcpy(rec->data + key_size, tail, tail_size);
    if (value_size > 0)
        memcpy(rec->data + key_size + tail_size, value, value_size);
    return rec;
}

/*  The caller's copy of a value: never NULL on success, even for 0 bytes. */
static void *s_value_copy(zkv_btree_t *self, const zkv_btree_rec_t *rec)
{
    zkv_bytes_t value = s_rec_value(rec, NULL);
    void *copy = s_alloc(self, value.size > 0 ? value.size : 1, false);
    if (copy != NULL && value.size > 0)
        memcpy(copy, value.data, value.size);
    return copy;
}

static zkv_btree_leaf_t *s_leaf_new(zkv_btree_t *self)
{
    zkv_btree_leaf_t *leaf = s_alloc(self, sizeof(zkv_btree_leaf_t), true);
    if (leaf != NULL) {
        leaf->hdr.n = 0;
        leaf->hdr.leaf = true;
        leaf->hdr.skip = 0;
        leaf->prev = NULL;
        leaf->next = NULL;
        leaf->hdr.gen = self->gen;
    }
    return leaf;
}

static zkv_btree_inner_t *s_inner_new(zkv_btree_t *self)
{
    zkv_btree_inner_t *inner = s_alloc(self, sizeof(zkv_btree_inner_t), true);
    if (inner != NULL) {
        inner->hdr.n = 0;
        inner->hdr.leaf = false;
        inner->hdr.skip = 0;
    }
    return inner;
}

static bool s_frozen(const zkv_btree_t *self, const zkv_btree_node_t *node)
{
    return self->view != NULL && node->leaf && node->gen <= self->view->gen;
}

/*  A leaf of the view's leaves the tree: kept for the view (room reserved). */
static void s_leaf_retire(zkv_btree_t *self, zkv_btree_leaf_t *leaf)
{
    zkv_btree_view_t *view = self->view;
    assert(view->old_n < view->old_cap);
    assert(self->memory >= sizeof *leaf);
    self->memory -= sizeof *leaf;
    view->old_leaves[view->old_n++] = leaf;
}

static void s_node_free(zkv_btree_t *self, zkv_btree_node_t *node)
{
    if (s_frozen(self, node))
        s_leaf_retire(self, (zkv_btree_leaf_t *) node);
    else
        s_free(self, node, node->leaf ? sizeof(zkv_btree_leaf_t) : sizeof(zkv_btree_inner_t));
}

/*  Leaf i of parent (NULL: the root), to be changed: itself, or while a view
    holds it a copy that takes its place. NULL when out of memory, with
    nothing changed. Room to retire it must be reserved. */
static zkv_btree_leaf_t *s_leaf_own(zkv_btree_t *self, zkv_btree_inner_t *parent, size_t i)
{
    zkv_btree_node_t *node = parent ? parent->child[i] : self->root;
    zkv_btree_leaf_t *leaf = (zkv_btree_leaf_t *) node;
    if (!s_frozen(self, node))
        return leaf;
    zkv_btree_leaf_t *copy = s_alloc(self, sizeof *copy, true);
    if (copy == NULL)
        return NULL;
    memcpy(copy, leaf, sizeof *copy);
    copy->hdr.gen = self->gen;
    if (parent)
        parent->child[i] = &copy->hdr;
    else
        self->root = &copy->hdr;
    /* The view walks its own list of leaves, never these links. */
    if (copy->prev != NULL)
        copy->prev->next = copy;
    if (copy->next != NULL)
        copy->next->prev = copy;
    s_leaf_retire(self, leaf);
    return copy;
}

/*  The path's leaf, owned (s_leaf_own). */
static bool s_path_own(zkv_btree_t *self, s_path_t *path)
{
    zkv_btree_inner_t *parent = path->depth ? path->node[path->depth - 1] : NULL;
    zkv_btree_leaf_t *leaf = s_leaf_own(self, parent, parent ? path->idx[path->depth - 1] : 0);
    if (leaf != NULL)
        path->leaf = leaf;
    return leaf != NULL;
}

/*  A node's entries: leaf records or inner separators, with their cached bytes. */
static size_t s_entries(zkv_btree_node_t *node, zkv_btree_rec_t ***recs, uint64_t **pfx)
{
    if (node->leaf) {
        zkv_btree_leaf_t *leaf = (zkv_btree_leaf_t *) node;
        *recs = leaf->rec;
        *pfx = leaf->pfx;
        return node->n;
    }
    zkv_btree_inner_t *inner = (zkv_btree_inner_t *) node;
    *recs = inner->sep;
    *pfx = inner->pfx;
    assert(node->n >= 1);
    return (size_t) node->n - 1;
}

static size_t s_common_len(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
    size_t m = a_size < b_size ? a_size : b_size;
    m = m < ZKV_BTREE_COMMON_MAX ? m : ZKV_BTREE_COMMON_MAX;
    size_t i = 0;
    while (i < m && a[i] == b[i])
        i++;
    return i;
}

/*  Give the node the common bytes common[0, skip), which every entry must
    begin with, and re-cache every entry. */
static void s_recache(zkv_btree_node_t *node, const uint8_t *common, size_t skip)
{
    assert(skip <= ZKV_BTREE_COMMON_MAX);
    if (skip > 0 && common != node->common)
        memmove(node->common, common, skip);
    node->skip = (uint8_t) skip;
    zkv_btree_rec_t **recs;
    uint64_t *pfx;
    size_t n = s_entries(node, &recs, &pfx);
    for (size_t i = 0; i < n; i++)
        pfx[i] = s_rec_prefix(recs[i], skip);
}

/*  Returns the cached bytes for rec as an entry of node, first cutting the
    node's common bytes down to what rec shares. The node's current entries
    must all be valid records. */
static uint64_t s_admit(zkv_btree_node_t *node, const zkv_btree_rec_t *rec)
{
    size_t c = s_common_len(rec->data, rec->key_size, node->common, node->skip);
    if (c < node->skip)
        s_recache(node, node->common, c);
    return s_rec_prefix(rec, node->skip);
}

/*  Entries [from, to) of node just came from src: cache them for node's
    common bytes, cut down to what both nodes share. */
static void s_adopt(zkv_btree_node_t *node, const zkv_btree_node_t *src, const uint64_t *src_pfx,
                    size_t from, size_t to)
{
    zkv_btree_rec_t **recs;
    uint64_t *pfx;
    s_entries(node, &recs, &pfx);
    size_t c = s_common_len(node->common, node->skip, src->common, src->skip);
    if (c == node->skip && c == src->skip)
        memcpy(pfx + from, src_pfx, (to - from) * sizeof(pfx[0]));
    else if (c < node->skip)
        s_recache(node, node->common, c);
    else
        for (size_t i = from; i < to; i++)
            pfx[i] = s_rec_prefix(recs[i], node->skip);
}

/*  After a split the node's entries span less; adopt their longer common
    bytes when that gains enough (a sorted run shares what its ends share). */
static void s_maybe_grow(zkv_btree_node_t *node)
{
    zkv_btree_rec_t **recs;
    uint64_t *pfx;
    size_t n = s_entries(node, &recs, &pfx);
    assert(n > 0);
    const zkv_btree_rec_t *first = recs[0], *last = recs[n - 1];
    size_t c = s_common_len(first->data, first->key_size, last->data, last->key_size);
    if (c >= (size_t) node->skip + ZKV_BTREE_GROW_MIN)
        s_recache(node, first->data, c);
}

static zkv_btree_t *s_new(size_t key_size_max)
{
    zkv_btree_t *self = malloc(sizeof(zkv_btree_t));
    if (self == NULL)
        return NULL;
    self->key_size_max = key_size_max;
    self->count = 0;
    self->memory = sizeof(zkv_btree_t);
    self->alloc_budget = SIZE_MAX;
    self->height = 1;
    self->view = NULL;
    self->last_put = NULL;
    self->doomed = false;
    self->gen = 1;
    zkv_btree_leaf_t *root = s_leaf_new(self);
    if (root == NULL) {
        free(self);
        return NULL;
    }
    self->root = &root->hdr;
    return self;
}

zkv_btree_t *zkv_btree_new(void)
{
    return s_new(ZKV_KEY_SIZE_MAX);
}

zkv_btree_t *zkv_btree_new_wide(void)
{
    return s_new(ZKV_BTREE_WIDE_KEY_SIZE_MAX);
}

static void s_destroy_node(zkv_btree_t *self, zkv_btree_node_t *node)
{
    if (node->leaf) {
        zkv_btree_leaf_t *leaf = (zkv_btree_leaf_t *) node;
        for (size_t i = 0; i < leaf->hdr.n; i++)
            s_rec_free(self, leaf->rec[i]);
    } else {
        zkv_btree_inner_t *inner = (zkv_btree_inner_t *) node;
        for (size_t i = 0; i < inner->hdr.n; i++)
            s_destroy_node(self, inner->child[i]);
    }
    s_node_free(self, node);
}

void zkv_btree_destroy(zkv_btree_t **self_p)
{
    assert(self_p != NULL);
    zkv_btree_t *self = *self_p;
    if (self == NULL)
        return;
    *self_p = NULL;
    if (self->view != NULL) {
        self->doomed = true;
        return;
    }
    s_destroy_node(self, self->root);
    assert(self->memory == sizeof(zkv_btree_t));
    free(self);
}

size_t zkv_btree_count(const zkv_btree_t *self)
{
    return self->count;
}

size_t zkv_btree_memory(const zkv_btree_t *self)
{
    return self->memory;
}

void zkv_btree_set_alloc_budget(zkv_btree_t *self, size_t allocations)
{
    self->alloc_budget = allocations;
}

int zkv_btree_get(const zkv_btree_t *self, const void *key, size_t key_size, zkv_bytes_t *value)
{
    return zkv_btree_get_meta(self, key, key_size, value, NULL);
}

int zkv_btree_get_meta(const zkv_btree_t *self, const void *key, size_t key_size,
                       zkv_bytes_t *value, zkv_btree_meta_t *meta)
{
    if (key_size > self->key_size_max)
        return ZKV_ENOTFOUND;
    const zkv_btree_leaf_t *leaf = s_find_leaf(self, key, key_size);
    bool maybe;
    size_t pos = s_leaf_lower(leaf, key, key_size, &maybe);
    if (!maybe || s_rec_cmp(leaf->rec[pos], key, key_size) != 0)
        return ZKV_ENOTFOUND;
    zkv_bytes_t v = s_rec_value(leaf->rec[pos], meta);
    if (value != NULL)
        *value = v;
    return ZKV_OK;
}

static void s_descend(const zkv_btree_t *self, const void *key, size_t key_size, s_path_t *path)
{
    zkv_btree_node_t *node = self->root;
    path->depth = 0;
    while (!node->leaf) {
        zkv_btree_inner_t *inner = (zkv_btree_inner_t *) node;
        size_t i = s_inner_child(inner, key, key_size);
        assert(path->depth < ZKV_BTREE_HEIGHT_MAX);
        path->node[path->depth] = inner;
        path->idx[path->depth] = i;
        path->depth++;
        node = inner->child[i];
        s_prefetch_node(node);
    }
    assert(path->depth + 1 == self->height);
    zkv_btree_leaf_t *leaf = (zkv_btree_leaf_t *) node;
    bool maybe;
    size_t pos = s_leaf_lower(leaf, key, key_size, &maybe);
    path->leaf = leaf;
    path->pos = pos;
    path->found = maybe && s_rec_cmp(leaf->rec[pos], key, key_size) == 0;
}

/*  Slot i must be counted in the node's n; the rec is stored before it is
    admitted so that a re-cache sees no stale pointer. */
static void s_set_sep(zkv_btree_inner_t *inner, size_t i, zkv_btree_rec_t *rec)
{
    assert(i + 1 < inner->hdr.n);
    inner->sep[i] = rec;
    inner->pfx[i] = s_admit(&inner->hdr, rec);
}

/*  The leaf's first record changed from old to rec: repoint the one separator
    naming old. It sits where the path last turned right of a child 0; a path
    that never did leads to the leftmost leaf, which no separator names. */
static void s_repoint_sep(const s_path_t *path, const zkv_btree_rec_t *old, zkv_btree_rec_t *rec)
{
    for (size_t d = path->depth; d-- > 0;) {
        if (path->idx[d] > 0) {
            assert(path->node[d]->sep[path->idx[d] - 1] == old);
            s_set_sep(path->node[d], path->idx[d] - 1, rec);
            return;
        }
    }
}

static bool s_path_leftmost(const s_path_t *path)
{
    for (size_t d = 0; d < path->depth; d++)
        if (path->idx[d] > 0)
            return false;
    return true;
}

static int s_replace(zkv_btree_t *self, s_path_t *path, const void *value, size_t value_size,
                     const zkv_btree_meta_t *meta, void **old_value, size_t *old_size)
{
    zkv_btree_rec_t *old = path->leaf->rec[path->pos];
    void *copy = NULL;
    if (s_drop_reserve(self, 1) != ZKV_OK || !s_path_own(self, path))
        return ZKV_ENOMEM;
    if (old_value != NULL && (copy = s_value_copy(self, old)) == NULL)
        return ZKV_ENOMEM;
    zkv_bytes_t previous = s_rec_value(old, NULL);
    uint8_t tail[S_REC_TAIL_MAX];
    size_t tail_size = s_rec_tail(tail, value_size, meta);
    uint8_t *at = old->data + old->key_size;
    /* Neither a view nor another thread may see it change. */
    bool alone = self->view == NULL && atomic_load_explicit(&old->refs, memory_order_acquire) == 1;
    if (alone && previous.size == value_size && previous.data == at + tail_size) {
        /* memmove: value may point into this very record */
        if (value_size > 0)
            memmove(at + tail_size, value, value_size);
        memcpy(at, tail, tail_size);
    } else {
        zkv_btree_rec_t *rec = s_rec_new(self, old->data, old->key_size, value, value_size, meta);
        if (rec == NULL) {
            free(copy);
            return ZKV_ENOMEM;
        }
        path->leaf->rec[path->pos] = rec;
        if (path->pos == 0)
            s_repoint_sep(path, old, rec);
        s_rec_leave(self, old);
        old = rec;
    }
    self->last_put = old;
    if (old_value != NULL) {
        *old_value = copy;
        if (old_size != NULL)
            *old_size = previous.size;
    }
    return ZKV_OK;
}

/*  Nodes an insert may need, allocated up front. */
typedef struct {
    zkv_btree_leaf_t *leaf;
    zkv_btree_inner_t *inner[ZKV_BTREE_HEIGHT_MAX];
    size_t inners;
    size_t used;
} s_spare_t;

static void s_spare_release(zkv_btree_t *self, s_spare_t *spare)
{
    if (spare->leaf != NULL)
        s_node_free(self, &spare->leaf->hdr);
    for (size_t i = spare->used; i < spare->inners; i++)
        s_node_free(self, &spare->inner[i]->hdr);
}

/*  A full leaf splits; so does each full inner node above it, and a full root
    needs a new root above it. */
static int s_spare_reserve(zkv_btree_t *self, const s_path_t *path, s_spare_t *spare)
{
    spare->leaf = NULL;
    spare->inners = 0;
    spare->used = 0;
    if (path->leaf->hdr.n < ZKV_BTREE_ORDER)
        return ZKV_OK;
    size_t need = 0;
    size_t d = path->depth;
    while (d > 0 && path->node[d - 1]->hdr.n == ZKV_BTREE_ORDER) {
        need++;
        d--;
    }
    if (d == 0)
        need++;
    assert(need < ZKV_BTREE_HEIGHT_MAX);
    spare->leaf = s_leaf_new(self);
    if (spare->leaf == NULL)
        return ZKV_ENOMEM;
    for (; spare->inners < need; spare->inners++) {
        spare->inner[spare->inners] = s_inner_new(self);
        if (spare->inner[spare->inners] == NULL) {
            s_spare_release(self, spare);
            return ZKV_ENOMEM;
        }
    }
    return ZKV_OK;
}

static void s_leaf_insert_at(zkv_btree_leaf_t *leaf, size_t pos, zkv_btree_rec_t *rec)
{
    size_t n = leaf->hdr.n;
    assert(n < ZKV_BTREE_ORDER && pos <= n);
    uint64_t p = s_admit(&leaf->hdr, rec);
    memmove(leaf->pfx + pos + 1, leaf->pfx + pos, (n - pos) * sizeof(leaf->pfx[0]));
    memmove(leaf->rec + pos + 1, leaf->rec + pos, (n - pos) * sizeof(leaf->rec[0]));
    leaf->pfx[pos] = p;
    leaf->rec[pos] = rec;
    leaf->hdr.n = (uint16_t) (n + 1);
}

/*  The right half of a split starts with the common bytes of the whole. */
static void s_split_common(zkv_btree_node_t *left, zkv_btree_node_t *right)
{
    right->skip = left->skip;
    memcpy(right->common, left->common, left->skip);
    s_maybe_grow(left);
    s_maybe_grow(right);
}

/*  Split a full leaf around the new record: ORDER + 1 entries, the left one
    keeps the larger half. right is linked in after left. */
static void s_leaf_split(zkv_btree_leaf_t *left, size_t pos, zkv_btree_rec_t *rec,
                         zkv_btree_leaf_t *right)
{
    enum { TOTAL = ZKV_BTREE_ORDER + 1, LEFT = (TOTAL + 1) / 2 };
    uint64_t pfx[TOTAL];
    zkv_btree_rec_t *recs[TOTAL];
    assert(left->hdr.n == ZKV_BTREE_ORDER && pos <= ZKV_BTREE_ORDER);
    uint64_t p = s_admit(&left->hdr, rec);
    memcpy(pfx, left->pfx, pos * sizeof(pfx[0]));
    memcpy(recs, left->rec, pos * sizeof(recs[0]));
    pfx[pos] = p;
    recs[pos] = rec;
    memcpy(pfx + pos + 1, left->pfx + pos, (ZKV_BTREE_ORDER - pos) * sizeof(pfx[0]));
    memcpy(recs + pos + 1, left->rec + pos, (ZKV_BTREE_ORDER - pos) * sizeof(recs[0]));

    memcpy(left->pfx, pfx, LEFT * sizeof(pfx[0]));
    memcpy(left->rec, recs, LEFT * sizeof(recs[0]));
    memcpy(right->pfx, pfx + LEFT, (TOTAL - LEFT) * sizeof(pfx[0]));
    memcpy(right->rec, recs + LEFT, (TOTAL - LEFT) * sizeof(recs[0]));
    left->hdr.n = LEFT;
    right->hdr.n = TOTAL - LEFT;
    s_split_common(&left->hdr, &right->hdr);

    right->next = left->next;
    right->prev = left;
    if (right->next != NULL)
        right->next->prev = right;
    left->next = right;
}

/*  A full leaf whose sibling under the same parent has room hands entries to
    it instead of splitting: direction -1 the left one, +1 the right one, 0
    none. A load in key order then fills its leaves instead of leaving each
    one half full. */
static int s_shift_side(const s_path_t *path)
{
    if (path->depth == 0 || path->leaf->hdr.n < ZKV_BTREE_ORDER)
        return 0;
    const zkv_btree_inner_t *parent = path->node[path->depth - 1];
    size_t i = path->idx[path->depth - 1];
    if (i > 0 && parent->child[i - 1]->n < ZKV_BTREE_ORDER - 1)
        return -1;
    if (i + 1 < parent->hdr.n && parent->child[i + 1]->n < ZKV_BTREE_ORDER - 1)
        return 1;
    return 0;
}

/*  Half the sibling's room (at least 2): random inserts do not fill it at
    once, and the new record fits on either side. */
static size_t s_shift_count(const zkv_btree_leaf_t *sibling)
{
    size_t room = ZKV_BTREE_ORDER - sibling->hdr.n;
    assert(room >= 2);
    return room / 2;
}

/*  Child i of parent is full: move its first entries to the left sibling,
    then insert rec at pos of the entries as they were. */
static void s_leaf_shift_left(zkv_btree_inner_t *parent, size_t i, size_t pos, zkv_btree_rec_t *rec)
{
    zkv_btree_leaf_t *left = (zkv_btree_leaf_t *) parent->child[i - 1];
    zkv_btree_leaf_t *leaf = (zkv_btree_leaf_t *) parent->child[i];
    size_t ln = left->hdr.n, n = leaf->hdr.n, k = s_shift_count(left);
    assert(pos > 0); /* the leaf is not the leftmost one */
    memcpy(left->rec + ln, leaf->rec, k * sizeof(left->rec[0]));
    left->hdr.n = (uint16_t) (ln + k);
    s_adopt(&left->hdr, &leaf->hdr, leaf->pfx, ln, ln + k);
    memmove(leaf->pfx, leaf->pfx + k, (n - k) * sizeof(leaf->pfx[0]));
    memmove(leaf->rec, leaf->rec + k, (n - k) * sizeof(leaf->rec[0]));
    leaf->hdr.n = (uint16_t) (n - k);
    if (pos <= k)
        s_leaf_insert_at(left, ln + pos, rec);
    else
        s_leaf_insert_at(leaf, pos - k, rec);
    s_set_sep(parent, i - 1, leaf->rec[0]);
}

/*  Child i of parent is full: move its last entries to the right sibling,
    then insert rec at pos of the entries as they were. */
static void s_leaf_shift_right(zkv_btree_inner_t *parent, size_t i, size_t pos,
                               zkv_btree_rec_t *rec)
{
    zkv_btree_leaf_t *leaf = (zkv_btree_leaf_t *) parent->child[i];
    zkv_btree_leaf_t *right = (zkv_btree_leaf_t *) parent->child[i + 1];
    size_t rn = right->hdr.n, k = s_shift_count(right), keep = leaf->hdr.n - k;
    memmove(right->pfx + k, right->pfx, rn * sizeof(right->pfx[0]));
    memmove(right->rec + k, right->rec, rn * sizeof(right->rec[0]));
    memcpy(right->rec, leaf->rec + keep, k * sizeof(right->rec[0]));
    right->hdr.n = (uint16_t) (rn + k);
    s_adopt(&right->hdr, &leaf->hdr, leaf->pfx + keep, 0, k);
    leaf->hdr.n = (uint16_t) keep;
    if (pos <= keep)
        s_leaf_insert_at(leaf, pos, rec);
    else
        s_leaf_insert_at(right, pos - keep, rec);
    s_set_sep(parent, i, right->rec[0]);
}

/*  Put child at index ci and its separator (the smallest record under it) at ci - 1. */
static void s_inner_insert_at(zkv_btree_inner_t *inner, size_t ci, zkv_btree_rec_t *sep,
                              zkv_btree_node_t *child)
{
    size_t n = inner->hdr.n;
    assert(n < ZKV_BTREE_ORDER && ci >= 1 && ci <= n);
    size_t si = ci - 1;
    memmove(inner->pfx + si + 1, inner->pfx + si, (n - 1 - si) * sizeof(inner->pfx[0]));
    memmove(inner->sep + si + 1, inner->sep + si, (n - 1 - si) * sizeof(inner->sep[0]));
    memmove(inner->child + ci + 1, inner->child + ci, (n - ci) * sizeof(inner->child[0]));
    inner->child[ci] = child;
    inner->hdr.n = (uint16_t) (n + 1);
    s_set_sep(inner, si, sep);
}

/*  Split a full inner node around the new child: ORDER + 1 children. Returns
    the separator that moves up, which names the smallest record under right. */
static zkv_btree_rec_t *s_inner_split(zkv_btree_inner_t *left, size_t ci, zkv_btree_rec_t *sep,
                                      zkv_btree_node_t *child, zkv_btree_inner_t *right)
{
    enum { TOTAL = ZKV_BTREE_ORDER + 1, LEFT = (TOTAL + 1) / 2 };
    zkv_btree_node_t *children[TOTAL];
    zkv_btree_rec_t *seps[TOTAL - 1];
    uint64_t pfx[TOTAL - 1];
    size_t si = ci - 1, after = ZKV_BTREE_ORDER - 1 - si;
    assert(left->hdr.n == ZKV_BTREE_ORDER && ci >= 1 && ci <= ZKV_BTREE_ORDER);
    uint64_t p = s_admit(&left->hdr, sep);
    memcpy(children, left->child, ci * sizeof(children[0]));
    children[ci] = child;
    memcpy(children + ci + 1, left->child + ci, (ZKV_BTREE_ORDER - ci) * sizeof(children[0]));
    memcpy(seps, left->sep, si * sizeof(seps[0]));
    memcpy(pfx, left->pfx, si * sizeof(pfx[0]));
    seps[si] = sep;
    pfx[si] = p;
    memcpy(seps + si + 1, left->sep + si, after * sizeof(seps[0]));
    memcpy(pfx + si + 1, left->pfx + si, after * sizeof(pfx[0]));

    memcpy(left->child, children, LEFT * sizeof(children[0]));
    memcpy(left->sep, seps, (LEFT - 1) * sizeof(seps[0]));
    memcpy(left->pfx, pfx, (LEFT - 1) * sizeof(pfx[0]));
    memcpy(right->child, children + LEFT, (TOTAL - LEFT) * sizeof(children[0]));
    memcpy(right->sep, seps + LEFT, (TOTAL - 1 - LEFT) * sizeof(seps[0]));
    memcpy(right->pfx, pfx + LEFT, (TOTAL - 1 - LEFT) * sizeof(pfx[0]));
    left->hdr.n = LEFT;
    right->hdr.n = TOTAL - LEFT;
    s_split_common(&left->hdr, &right->hdr);
    return seps[LEFT - 1];
}

/*  Insert a record that is not in the tree, with nodes reserved by s_spare_reserve. */
static void s_insert(zkv_btree_t *self, const s_path_t *path, zkv_btree_rec_t *rec,
                     s_spare_t *spare)
{
    zkv_btree_leaf_t *leaf = path->leaf;
    /* A separator naming this leaf is its smallest key and <= the new key, so
       a new first record happens only in the leftmost leaf, named by none. */
    assert(path->pos > 0 || s_path_leftmost(path));
    if (leaf->hdr.n < ZKV_BTREE_ORDER) {
        s_leaf_insert_at(leaf, path->pos, rec);
        return;
    }
    s_leaf_split(leaf, path->pos, rec, spare->leaf);
    zkv_btree_rec_t *sep = spare->leaf->rec[0];
    zkv_btree_node_t *child = &spare->leaf->hdr;
    spare->leaf = NULL;
    for (size_t d = path->depth; d-- > 0;) {
        zkv_btree_inner_t *inner = path->node[d];
        if (inner->hdr.n < ZKV_BTREE_ORDER) {
            s_inner_insert_at(inner, path->idx[d] + 1, sep, child);
            return;
        }
        zkv_btree_inner_t *right = spare->inner[spare->used++];
        sep = s_inner_split(inner, path->idx[d] + 1, sep, child, right);
        child = &right->hdr;
    }
    zkv_btree_inner_t *root = spare->inner[spare->used++];
    root->child[0] = self->root;
    root->child[1] = child;
    root->sep[0] = sep;
    root->hdr.n = 2;
    /* all of its one separator; later ones cut it down */
    s_recache(&root->hdr, sep->data,
              sep->key_size < ZKV_BTREE_COMMON_MAX ? sep->key_size : ZKV_BTREE_COMMON_MAX);
    self->root = &root->hdr;
    self->height++;
    assert(self->height <= ZKV_BTREE_HEIGHT_MAX);
}

int zkv_btree_put(zkv_btree_t *self, const void *key, size_t key_size, const void *value,
                  size_t value_size, const zkv_btree_meta_t *meta, bool *replaced, void **old_value,
                  size_t *old_size)
{
    if (replaced != NULL)
        *replaced = false;
    if (old_value != NULL)
        *old_value = NULL;
    if (old_size != NULL)
        *old_size = 0;
    if (key_size > self->key_size_max)
        return ZKV_EKEYSIZE;
    if (value_size > ZKV_VALUE_SIZE_MAX)
        return ZKV_EVALSIZE;
    s_path_t path;
    s_descend(self, key, key_size, &path);
    if (path.found) {
        int rc = s_replace(self, &path, value, value_size, meta, old_value, old_size);
        if (rc == ZKV_OK && replaced != NULL)
            *replaced = true;
        return rc;
    }
    /* the leaf, and the sibling it may hand entries to */
    if (s_drop_reserve(self, 2) != ZKV_OK || !s_path_own(self, &path))
        return ZKV_ENOMEM;
    int side = s_shift_side(&path);
    zkv_btree_inner_t *parent = side ? path.node[path.depth - 1] : NULL;
    size_t i = side ? path.idx[path.depth - 1] : 0;
    if (side && !s_leaf_own(self, parent, i + (size_t) side))
        return ZKV_ENOMEM;
    zkv_btree_rec_t *rec = s_rec_new(self, key, key_size, value, value_size, meta);
    if (rec == NULL)
        return ZKV_ENOMEM;
    s_spare_t spare = {0};
    if (!side && s_spare_reserve(self, &path, &spare) != ZKV_OK) {
        s_rec_free(self, rec);
        return ZKV_ENOMEM;
    }
    self->last_put = rec;
    if (side < 0)
        s_leaf_shift_left(parent, i, path.pos, rec);
    else if (side > 0)
        s_leaf_shift_right(parent, i, path.pos, rec);
    else
        s_insert(self, &path, rec, &spare);
    assert(spare.leaf == NULL && spare.used == spare.inners);
    self->count++;
    return ZKV_OK;
}

static void s_leaf_remove_at(zkv_btree_leaf_t *leaf, size_t pos)
{
    size_t n = leaf->hdr.n;
    assert(pos < n);
    memmove(leaf->pfx + pos, leaf->pfx + pos + 1, (n - pos - 1) * sizeof(leaf->pfx[0]));
    memmove(leaf->rec + pos, leaf->rec + pos + 1, (n - pos - 1) * sizeof(leaf->rec[0]));
    leaf->hdr.n = (uint16_t) (n - 1);
}

/*  Drop child ci and the separator before it (ci >= 1). */
static void s_inner_remove_at(zkv_btree_inner_t *inner, size_t ci)
{
    size_t n = inner->hdr.n;
    assert(ci >= 1 && ci < n);
    size_t si = ci - 1;
    memmove(inner->pfx + si, inner->pfx + si + 1, (n - 2 - si) * sizeof(inner->pfx[0]));
    memmove(inner->sep + si, inner->sep + si + 1, (n - 2 - si) * sizeof(inner->sep[0]));
    memmove(inner->child + ci, inner->child + ci + 1, (n - 1 - ci) * sizeof(inner->child[0]));
    inner->hdr.n = (uint16_t) (n - 1);
}

/*  Move the last entry of the left sibling to the front of child i. */
static void s_leaf_borrow_left(zkv_btree_inner_t *parent, size_t i)
{
    zkv_btree_leaf_t *left = (zkv_btree_leaf_t *) parent->child[i - 1];
    zkv_btree_leaf_t *leaf = (zkv_btree_leaf_t *) parent->child[i];
    zkv_btree_rec_t *rec = left->rec[left->hdr.n - 1];
    s_leaf_remove_at(left, left->hdr.n - 1);
    s_leaf_insert_at(leaf, 0, rec);
    s_set_sep(parent, i - 1, rec);
}

/*  Move the first entry of the right sibling to the end of child i. */
static void s_leaf_borrow_right(zkv_btree_inner_t *parent, size_t i)
{
    zkv_btree_leaf_t *leaf = (zkv_btree_leaf_t *) parent->child[i];
    zkv_btree_leaf_t *right = (zkv_btree_leaf_t *) parent->child[i + 1];
    zkv_btree_rec_t *rec = right->rec[0];
    s_leaf_remove_at(right, 0);
    s_leaf_insert_at(leaf, leaf->hdr.n, rec);
    s_set_sep(parent, i, right->rec[0]);
}

/*  Fold child i + 1 into child i and free it. */
static void s_leaf_merge(zkv_btree_t *self, zkv_btree_inner_t *parent, size_t i)
{
    zkv_btree_leaf_t *left = (zkv_btree_leaf_t *) parent->child[i];
    zkv_btree_leaf_t *right = (zkv_btree_leaf_t *) parent->child[i + 1];
    size_t ln = left->hdr.n, rn = right->hdr.n;
    assert(ln + rn <= ZKV_BTREE_ORDER);
    memcpy(left->rec + ln, right->rec, rn * sizeof(left->rec[0]));
    left->hdr.n = (uint16_t) (ln + rn);
    s_adopt(&left->hdr, &right->hdr, right->pfx, ln, ln + rn);
    left->next = right->next;
    if (left->next != NULL)
        left->next->prev = left;
    s_inner_remove_at(parent, i + 1);
    s_node_free(self, &right->hdr);
}

/*  Rotate the last child of the left sibling through the parent into child i. */
static void s_inner_borrow_left(zkv_btree_inner_t *parent, size_t i)
{
    zkv_btree_inner_t *left = (zkv_btree_inner_t *) parent->child[i - 1];
    zkv_btree_inner_t *node = (zkv_btree_inner_t *) parent->child[i];
    size_t n = node->hdr.n, ln = left->hdr.n;
    zkv_btree_rec_t *up = left->sep[ln - 2];
    memmove(node->pfx + 1, node->pfx, (n - 1) * sizeof(node->pfx[0]));
    memmove(node->sep + 1, node->sep, (n - 1) * sizeof(node->sep[0]));
    memmove(node->child + 1, node->child, n * sizeof(node->child[0]));
    node->child[0] = left->child[ln - 1];
    node->hdr.n = (uint16_t) (n + 1);
    left->hdr.n = (uint16_t) (ln - 1);
    s_set_sep(node, 0, parent->sep[i - 1]);
    s_set_sep(parent, i - 1, up);
}

/*  Rotate the first child of the right sibling through the parent into child i. */
static void s_inner_borrow_right(zkv_btree_inner_t *parent, size_t i)
{
    zkv_btree_inner_t *node = (zkv_btree_inner_t *) parent->child[i];
    zkv_btree_inner_t *right = (zkv_btree_inner_t *) parent->child[i + 1];
    size_t n = node->hdr.n, rn = right->hdr.n;
    zkv_btree_rec_t *down = parent->sep[i], *up = right->sep[0];
    node->child[n] = right->child[0];
    node->hdr.n = (uint16_t) (n + 1);
    memmove(right->pfx, right->pfx + 1, (rn - 2) * sizeof(right->pfx[0]));
    memmove(right->sep, right->sep + 1, (rn - 2) * sizeof(right->sep[0]));
    memmove(right->child, right->child + 1, (rn - 1) * sizeof(right->child[0]));
    right->hdr.n = (uint16_t) (rn - 1);
    s_set_sep(node, n - 1, down);
    s_set_sep(parent, i, up);
}

/*  Fold child i + 1 into child i, pulling their separator down, and free it. */
static void s_inner_merge(zkv_btree_t *self, zkv_btree_inner_t *parent, size_t i)
{
    zkv_btree_inner_t *left = (zkv_btree_inner_t *) parent->child[i];
    zkv_btree_inner_t *right = (zkv_btree_inner_t *) parent->child[i + 1];
    size_t ln = left->hdr.n, rn = right->hdr.n;
    assert(ln + rn <= ZKV_BTREE_ORDER);
    left->sep[ln - 1] = parent->sep[i];
    memcpy(left->sep + ln, right->sep, (rn - 1) * sizeof(left->sep[0]));
    memcpy(left->child + ln, right->child, rn * sizeof(left->child[0]));
    left->hdr.n = (uint16_t) (ln + rn);
    s_adopt(&left->hdr, &right->hdr, right->pfx, ln, ln + rn - 1);
    s_set_sep(left, ln - 1, parent->sep[i]);
    s_inner_remove_at(parent, i + 1);
    s_node_free(self, &right->hdr);
}

/*  Child i of parent fell below the minimum: borrow from a sibling that can
    spare an entry, else merge with one (the two then fit in one node). */
static void s_fix_child(zkv_btree_t *self, zkv_btree_inner_t *parent, size_t i)
{
    size_t n = parent->hdr.n;
    assert(n >= 2 && i < n);
    bool leaf = parent->child[i]->leaf;
    size_t left_n = i > 0 ? parent->child[i - 1]->n : 0;
    size_t right_n = i + 1 < n ? parent->child[i + 1]->n : 0;
    if (left_n > ZKV_BTREE_MIN) {
        if (leaf)
            s_leaf_borrow_left(parent, i);
        else
            s_inner_borrow_left(parent, i);
    } else if (right_n > ZKV_BTREE_MIN) {
        if (leaf)
            s_leaf_borrow_right(parent, i);
        else
            s_inner_borrow_right(parent, i);
    } else {
        size_t at = i > 0 ? i - 1 : i;
        if (leaf)
            s_leaf_merge(self, parent, at);
        else
            s_inner_merge(self, parent, at);
    }
}

/*  Walk up from the leaf fixing underfull nodes; a root left with one child
    hands the root role to it. */
static void s_rebalance(zkv_btree_t *self, const s_path_t *path)
{
    zkv_btree_node_t *node = &path->leaf->hdr;
    for (size_t d = path->depth; d-- > 0;) {
        if (node->n >= ZKV_BTREE_MIN)
            return;
        s_fix_child(self, path->node[d], path->idx[d]);
        node = &path->node[d]->hdr;
    }
    assert(node == self->root);
    if (!node->leaf && node->n == 1) {
        self->root = ((zkv_btree_inner_t *) node)->child[0];
        s_node_free(self, node);
        self->height--;
    }
}

/*  A leaf that will fall below the minimum borrows from or merges with a
    sibling: own them first, so that no allocation fails half way. */
static bool s_own_siblings(zkv_btree_t *self, const s_path_t *path)
{
    if (path->depth == 0 || path->leaf->hdr.n > ZKV_BTREE_MIN || self->view == NULL)
        return true;
    zkv_btree_inner_t *parent = path->node[path->depth - 1];
    size_t i = path->idx[path->depth - 1];
    if (i > 0 && !s_leaf_own(self, parent, i - 1))
        return false;
    return i + 1 >= parent->hdr.n || s_leaf_own(self, parent, i + 1);
}

int zkv_btree_delete(zkv_btree_t *self, const void *key, size_t key_size, void **old_value,
                     size_t *old_size)
{
    if (old_value != NULL)
        *old_value = NULL;
    if (old_size != NULL)
        *old_size = 0;
    if (key_size > self->key_size_max)
        return ZKV_ENOTFOUND;
    s_path_t path;
    s_descend(self, key, key_size, &path);
    if (!path.found)
        return ZKV_ENOTFOUND;
    /* The leaf, and the siblings a rebalance may change or merge. */
    if (s_drop_reserve(self, 4) != ZKV_OK || !s_path_own(self, &path) ||
        !s_own_siblings(self, &path))
        return ZKV_ENOMEM;
    zkv_btree_leaf_t *leaf = path.leaf;
    zkv_btree_rec_t *rec = leaf->rec[path.pos];
    if (old_value != NULL) {
        if ((*old_value = s_value_copy(self, rec)) == NULL)
            return ZKV_ENOMEM;
        if (old_size != NULL)
            *old_size = s_rec_value(rec, NULL).size;
    }
    s_leaf_remove_at(leaf, path.pos);
    /* Only the root leaf can become empty; any other holds ZKV_BTREE_MIN - 1 now. */
    assert(leaf->hdr.n > 0 || path.depth == 0);
    if (path.pos == 0 && leaf->hdr.n > 0)
        s_repoint_sep(&path, rec, leaf->rec[0]);
    s_rec_leave(self, rec);
    self->count--;
    s_rebalance(self, &path);
    return ZKV_OK;
}
