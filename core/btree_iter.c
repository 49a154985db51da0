/*  btree_iter: ordered access to the B+ tree: cursors, range and prefix scans.
    A position is a leaf and an index in it; stepping follows the leaf links, so
    a scan costs one descent and then touches only leaves. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "btree.h"
#include "btree_impl.h"

/*  A position; leaf NULL means past either end. */
typedef struct {
    const zkv_btree_leaf_t *leaf;
    size_t pos;
} s_cursor_t;

struct zkv_btree_iter_t {
    const zkv_btree_t *tree;
    s_cursor_t at;
};

/*  Non-root leaves are never empty, so stepping onto a neighbour lands on an entry. */
static void s_first(const zkv_btree_t *tree, s_cursor_t *c)
{
    const zkv_btree_node_t *node = tree->root;
    while (!node->leaf)
        node = ((const zkv_btree_inner_t *) node)->child[0];
    c->leaf = node->n > 0 ? (const zkv_btree_leaf_t *) node : NULL;
    c->pos = 0;
}

static void s_last(const zkv_btree_t *tree, s_cursor_t *c)
{
    const zkv_btree_node_t *node = tree->root;
    while (!node->leaf)
        node = ((const zkv_btree_inner_t *) node)->child[node->n - 1];
    c->leaf = node->n > 0 ? (const zkv_btree_leaf_t *) node : NULL;
    c->pos = node->n > 0 ? (size_t) node->n - 1 : 0;
}

static void s_next(s_cursor_t *c)
{
    assert(c->leaf != NULL && c->pos < c->leaf->hdr.n);
    if (++c->pos == c->leaf->hdr.n) {
        c->leaf = c->leaf->next;
        c->pos = 0;
        assert(c->leaf == NULL || c->leaf->hdr.n > 0);
    }
}

static void s_prev(s_cursor_t *c)
{
    assert(c->leaf != NULL && c->pos < c->leaf->hdr.n);
    if (c->pos == 0) {
        c->leaf = c->leaf->prev;
        assert(c->leaf == NULL || c->leaf->hdr.n > 0);
        c->pos = c->leaf != NULL ? (size_t) c->leaf->hdr.n - 1 : 0;
    } else {
        c->pos--;
    }
}

/*  First key >= key. */
static void s_seek(const zkv_btree_t *tree, const void *key, size_t key_size, s_cursor_t *c)
{
    const zkv_btree_leaf_t *leaf = s_find_leaf(tree, key, key_size);
    bool maybe;
    c->leaf = leaf;
    c->pos = s_leaf_lower(leaf, key, key_size, &maybe);
    if (c->pos == leaf->hdr.n) {
        c->leaf = leaf->next;
        c->pos = 0;
    }
}

/*  Last key < key. */
static void s_seek_before(const zkv_btree_t *tree, const void *key, size_t key_size, s_cursor_t *c)
{
    const zkv_btree_leaf_t *leaf = s_find_leaf(tree, key, key_size);
    bool maybe;
    size_t pos = s_leaf_lower(leaf, key, key_size, &maybe);
    if (pos > 0) {
        c->leaf = leaf;
        c->pos = pos - 1;
    } else {
        c->leaf = leaf->prev;
        c->pos = c->leaf != NULL ? (size_t) c->leaf->hdr.n - 1 : 0;
    }
}

static const zkv_btree_rec_t *s_rec(const s_cursor_t *c)
{
    assert(c->leaf != NULL && c->pos < c->leaf->hdr.n);
    return c->leaf->rec[c->pos];
}

static zkv_bytes_t s_key(const zkv_btree_rec_t *rec)
{
    return (zkv_bytes_t){.data = rec->data, .size = rec->key_size};
}

zkv_btree_iter_t *zkv_btree_iter_new(const zkv_btree_t *tree)
{
    assert(tree != NULL);
    zkv_btree_iter_t *self = malloc(sizeof(zkv_btree_iter_t));
    if (self != NULL) {
        self->tree = tree;
        self->at.leaf = NULL;
        self->at.pos = 0;
    }
    return self;
}

void zkv_btree_iter_destroy(zkv_btree_iter_t **self_p)
{
    assert(self_p != NULL);
    free(*self_p);
    *self_p = NULL;
}

void zkv_btree_iter_first(zkv_btree_iter_t *self)
{
    s_first(self->tree, &self->at);
}

void zkv_btree_iter_last(zkv_btree_iter_t *self)
{
    s_last(self->tree, &self->at);
}

void zkv_btree_iter_seek(zkv_btree_iter_t *self, const void *key, size_t key_size)
{
    s_seek(self->tree, key, key_size, &self->at);
}

void zkv_btree_iter_seek_before(zkv_btree_iter_t *self, const void *key, size_t key_size)
{
    s_seek_before(self->tree, key, key_size, &self->at);
}

bool zkv_btree_iter_valid(const zkv_btree_iter_t *self)
{
    return self->at.leaf != NULL;
}

void zkv_btree_iter_next(zkv_btree_iter_t *self)
{
    s_next(&self->at);
}

void zkv_btree_iter_prev(zkv_btree_iter_t *self)
{
    s_prev(&self->at);
}

zkv_bytes_t zkv_btree_iter_key(const zkv_btree_iter_t *self)
{
    return s_key(s_rec(&self->at));
}

zkv_bytes_t zkv_btree_iter_value(const zkv_btree_iter_t *self)
{
    return s_rec_value(s_rec(&self->at), NULL);
}

zkv_btree_meta_t zkv_btree_iter_meta(const zkv_btree_iter_t *self)
{
    zkv_btree_meta_t meta;
    s_rec_value(s_rec(&self->at), &meta);
    return meta;
}

size_t zkv_btree_range(const zkv_btree_t *self, const void *start, size_t start_size,
                       const void *end, size_t end_size, bool reverse, size_t limit,
                       zkv_btree_visit_fn visit, void *arg)
{
    if (start != NULL && end != NULL && s_cmp(start, start_size, end, end_size) >= 0)
        return 0;
    s_cursor_t c;
    if (!reverse && start != NULL)
        s_seek(self, start, start_size, &c);
    else if (!reverse)
        s_first(self, &c);
    else if (end != NULL)
        s_seek_before(self, end, end_size, &c);
    else
        s_last(self, &c);
    size_t visited = 0;
    while (c.leaf != NULL && (limit == 0 || visited < limit)) {
        const zkv_btree_rec_t *rec = s_rec(&c);
        if (!reverse && end != NULL && s_rec_cmp(rec, end, end_size) >= 0)
            break;
        if (reverse && start != NULL && s_rec_cmp(rec, start, start_size) < 0)
            break;
        visited++;
        if (visit != NULL) {
            zkv_btree_meta_t meta;
            zkv_bytes_t value = s_rec_value(rec, &meta);
            if (!visit(s_key(rec), value, &meta, arg))
                break;
        }
        if (reverse)
            s_prev(&c);
        else
            s_next(&c);
    }
    return visited;
}

size_t zkv_btree_prefix(const zkv_btree_t *self, const void *prefix, size_t prefix_size,
                        bool reverse, size_t limit, zkv_btree_visit_fn visit, void *arg)
{
    if (prefix_size > self->key_size_max)
        return 0;
    /* Keys with the prefix are exactly [prefix, successor), where the successor
       drops trailing 0xff bytes and increments the last one; none is left when
       the prefix is all 0xff (or empty), and then every key >= prefix matches. */
    uint8_t end[ZKV_BTREE_WIDE_KEY_SIZE_MAX];
    size_t end_size = prefix_size;
    if (prefix_size > 0)
        memcpy(end, prefix, prefix_size);
    while (end_size > 0 && end[end_size - 1] == 0xff)
        end_size--;
    if (end_size == 0)
        return zkv_btree_range(self, prefix, prefix_size, NULL, 0, reverse, limit, visit, arg);
    end[end_size - 1]++;
    return zkv_btree_range(self, prefix, prefix_size, end, end_size, reverse, limit, visit, arg);
}
