/*  btree_rec: records held beyond the tree. The tree counts as one holder;
    whoever shares a record counts too, and the last to let go frees it. The
    count's acquire-release order makes the holder's reads of a record happen
    before the tree sees the count fall to one and changes it in place, and
    every holder's before the free. */
#include <assert.h>

#include "btree.h"
#include "btree_impl.h"
#include "slab.h"

zkv_btree_rec_t *zkv_btree_last_put(const zkv_btree_t *self)
{
    assert(self->last_put != NULL);
    return self->last_put;
}

zkv_btree_rec_t *zkv_btree_rec_share(zkv_btree_rec_t *rec)
{
    uint8_t before = atomic_fetch_add_explicit(&rec->refs, 1, memory_order_relaxed);
    assert(before >= 1 && before < ZKV_BTREE_REC_HOLDERS_MAX);
    (void) before;
    return rec;
}

void zkv_btree_rec_release(zkv_btree_rec_t **rec_p)
{
    zkv_btree_rec_t *rec = *rec_p;
    if (rec == NULL)
        return;
    *rec_p = NULL;
    uint8_t before = atomic_fetch_sub_explicit(&rec->refs, 1, memory_order_acq_rel);
    assert(before >= 1);
    if (before == 1)
        zkv_slab_free(rec, s_rec_size(rec));
}

zkv_bytes_t zkv_btree_rec_key(const zkv_btree_rec_t *rec)
{
    return (zkv_bytes_t){.data = rec->data, .size = rec->key_size};
}

zkv_bytes_t zkv_btree_rec_value(const zkv_btree_rec_t *rec, zkv_btree_meta_t *meta)
{
    return s_rec_value(rec, meta);
}
