/*  btree_view: a frozen tree for another thread.

    Taking a view collects the leaves (a pointer per leaf, about 1/64 of a
    pointer per key) and moves the tree's generation on. btree.c keeps the
    view's leaves and records frozen: it copies a leaf of the view's
    generation before changing it (s_leaf_own), never changes a record in
    place while a view is out, and hands every leaf and record it lets go
    of to the view (s_leaf_retire, s_rec_leave), which frees them on release. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "btree.h"
#include "btree_impl.h"
#include "zkv_error.h"

static void s_collect(zkv_btree_node_t *node, zkv_btree_view_t *view)
{
    if (node->leaf) {
        view->leaves[view->n_leaves++] = (zkv_btree_leaf_t *) node;
        return;
    }
    zkv_btree_inner_t *inner = (zkv_btree_inner_t *) node;
    for (size_t i = 0; i < inner->hdr.n; i++)
        s_collect(inner->child[i], view);
}

zkv_btree_view_t *zkv_btree_view_new(zkv_btree_t *tree)
{
    if (tree->view != NULL)
        return NULL;
    zkv_btree_view_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    /* Every leaf but the root is at least half full. */
    size_t most = tree->count / ZKV_BTREE_MIN + 1;
    self->leaves = malloc(most * sizeof self->leaves[0]);
    if (self->leaves == NULL) {
        free(self);
        return NULL;
    }
    s_collect(tree->root, self);
    assert(self->n_leaves <= most);
    self->count = tree->count;
    self->gen = tree->gen++;
    self->tree = tree;
    tree->view = self;
    return self;
}

size_t zkv_btree_view_count(const zkv_btree_view_t *self)
{
    return self->count;
}

size_t zkv_btree_view_each(const zkv_btree_view_t *self, zkv_btree_visit_fn visit, void *arg)
{
    size_t visited = 0;
    for (size_t l = 0; l < self->n_leaves; l++) {
        const zkv_btree_leaf_t *leaf = self->leaves[l];
        for (size_t i = 0; i < leaf->hdr.n; i++) {
            if (atomic_load_explicit(&self->stop, memory_order_relaxed))
                return visited;
            const zkv_btree_rec_t *r = leaf->rec[i];
            zkv_bytes_t key = {r->data, r->key_size};
            zkv_btree_meta_t meta;
            zkv_bytes_t value = s_rec_value(r, &meta);
            visited++;
            if (!visit(key, value, &meta, arg))
                return visited;
        }
    }
    return visited;
}

void zkv_btree_view_stop(zkv_btree_view_t *self)
{
    atomic_store_explicit(&self->stop, true, memory_order_relaxed);
}

/*  Capacity for need pointers in *array (cap of them now): the new array,
    or NULL when out of memory (the old one stays). */
static void *s_grow(void *array, size_t *cap, size_t need)
{
    if (need <= *cap)
        return array;
    size_t grown = *cap ? *cap * 2 : 256;
    while (grown < need)
        grown *= 2;
    void *p = realloc(array, grown * sizeof(void *));
    if (p != NULL)
        *cap = grown;
    return p;
}

int zkv_btree_view_reserve_(zkv_btree_view_t *self, size_t recs, size_t leaves)
{
    zkv_btree_rec_t **r = s_grow(self->retired, &self->retired_cap, self->retired_n + recs);
    if (r == NULL)
        return ZKV_ENOMEM;
    self->retired = r;
    zkv_btree_leaf_t **l = s_grow(self->old_leaves, &self->old_cap, self->old_n + leaves);
    if (l == NULL)
        return ZKV_ENOMEM;
    self->old_leaves = l;
    return ZKV_OK;
}

void zkv_btree_view_release(zkv_btree_view_t **self_p)
{
    zkv_btree_view_t *self = *self_p;
    if (self == NULL)
        return;
    for (size_t i = 0; i < self->retired_n; i++)
        zkv_btree_rec_release(&self->retired[i]);
    for (size_t i = 0; i < self->old_n; i++)
        free(self->old_leaves[i]);
    zkv_btree_t *tree = self->tree;
    assert(tree->view == self);
    tree->view = NULL;
    if (tree->doomed)
        zkv_btree_destroy(&tree);
    free(self->retired);
    free(self->old_leaves);
    free(self->leaves);
    free(self);
    *self_p = NULL;
}
