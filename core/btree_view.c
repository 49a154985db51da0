/*  btree_view: a frozen list of the tree's records for another thread.

    Taking a view copies the leaves' record pointers, a few milliseconds for
    a million keys; the records themselves are shared. btree.c keeps them
    frozen: while a view is out it copies a record it would change in place,
    and hands every record it lets go of to the view (s_rec_drop). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "btree.h"
#include "btree_impl.h"
#include "zkv_error.h"

zkv_btree_view_t *zkv_btree_view_new(zkv_btree_t *tree)
{
    if (tree->view != NULL)
        return NULL;
    zkv_btree_view_t *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->rec = malloc((tree->count ? tree->count : 1) * sizeof self->rec[0]);
    if (self->rec == NULL) {
        free(self);
        return NULL;
    }
    zkv_btree_node_t *node = tree->root;
    while (!node->leaf)
        node = ((zkv_btree_inner_t *) node)->child[0];
    for (const zkv_btree_leaf_t *leaf = (zkv_btree_leaf_t *) node; leaf; leaf = leaf->next) {
        memcpy(self->rec + self->count, leaf->rec, leaf->hdr.n * sizeof self->rec[0]);
        self->count += leaf->hdr.n;
    }
    assert(self->count == tree->count);
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
    for (size_t i = 0; i < self->count; i++) {
        if (atomic_load_explicit(&self->stop, memory_order_relaxed))
            return i;
        const zkv_btree_rec_t *r = self->rec[i];
        zkv_bytes_t key = {r->data, r->key_size};
        zkv_bytes_t value = {r->data + r->key_size, r->value_size};
        if (!visit(key, value, &r->meta, arg))
            return i + 1;
    }
    return self->count;
}

void zkv_btree_view_stop(zkv_btree_view_t *self)
{
    atomic_store_explicit(&self->stop, true, memory_order_relaxed);
}

int zkv_btree_view_reserve_(zkv_btree_view_t *self)
{
    if (self->retired_n < self->retired_cap)
        return ZKV_OK;
    size_t cap = self->retired_cap ? self->retired_cap * 2 : 1024;
    zkv_btree_rec_t **grown = realloc(self->retired, cap * sizeof grown[0]);
    if (grown == NULL)
        return ZKV_ENOMEM;
    self->retired = grown;
    self->retired_cap = cap;
    return ZKV_OK;
}

void zkv_btree_view_release(zkv_btree_view_t **self_p)
{
    zkv_btree_view_t *self = *self_p;
    if (self == NULL)
        return;
    for (size_t i = 0; i < self->retired_n; i++)
        free(self->retired[i]);
    zkv_btree_t *tree = self->tree;
    assert(tree->view == self);
    tree->view = NULL;
    if (tree->doomed)
        zkv_btree_destroy(&tree);
    free(self->retired);
    free(self->rec);
    free(self);
    *self_p = NULL;
}
