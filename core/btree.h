/*  btree: the in-memory B+ tree that holds zkv's data.

    Keys and values are binary-safe byte strings, ordered by memcmp on the
    common prefix, then by length (so "a" < "a\0" < "b"). Order ZKV_BTREE_ORDER:
    an inner node holds at most that many children, a leaf that many entries;
    every node but the root is at least half full (ceil(ORDER / 2) = 64 entries
    or children), and an inner root has at least 2 children. Leaves are linked
    both ways for ordered scans in either direction.

    The empty key is a valid key (the smallest one), and empty values are
    allowed; both cost nothing special here, and refusing them is the caller's
    policy to make.

    Not thread-safe: one owner (the storage actor) at a time, except for a
    view (below), which another thread may read. */
#ifndef ZKV_BTREE_H
#define ZKV_BTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zkv_limits.h"

#define ZKV_BTREE_ORDER 128
/*  The longest key of a wide tree: a store's key behind an 8-byte id, as an
    index of keys by owner needs (the lease table's). */
#define ZKV_BTREE_WIDE_KEY_SIZE_MAX (ZKV_KEY_SIZE_MAX + 8)

typedef struct zkv_btree_t zkv_btree_t;
typedef struct zkv_btree_iter_t zkv_btree_iter_t;
typedef struct zkv_btree_view_t zkv_btree_view_t;
typedef struct zkv_btree_rec_t zkv_btree_rec_t;

/*  zkv_bytes_t (zkv_types.h): here a borrowed view of bytes inside the tree,
    valid until the tree is next modified. */

/*  What the store keeps beside each value (zeros where nobody sets it): the
    log indexes of the key's creation and last change, how often it changed
    since its creation, and the lease it is attached to (0: none). */
typedef struct {
    uint64_t create_revision;
    uint64_t mod_revision;
    uint64_t version;
    uint64_t lease;
} zkv_btree_meta_t;

/*  Called for each entry of a scan, in order; return false to stop early. */
typedef bool (*zkv_btree_visit_fn)(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                                   void *arg);

/*  A tree of keys up to ZKV_KEY_SIZE_MAX bytes; a wide one, up to
    ZKV_BTREE_WIDE_KEY_SIZE_MAX (the limits below say ZKV_KEY_SIZE_MAX for
    the first). */
zkv_btree_t *zkv_btree_new(void);
zkv_btree_t *zkv_btree_new_wide(void);
/*  With a view out, the tree goes when the view is released. */
void zkv_btree_destroy(zkv_btree_t **self_p);

/*  ZKV_OK with *value set, or ZKV_ENOTFOUND. */
int zkv_btree_get(const zkv_btree_t *self, const void *key, size_t key_size, zkv_bytes_t *value);

/*  As get, with the key's metadata copied into *meta (if not NULL). */
int zkv_btree_get_meta(const zkv_btree_t *self, const void *key, size_t key_size,
                       zkv_bytes_t *value, zkv_btree_meta_t *meta);

/*  Insert or replace, with meta (NULL: zeros) as the key's metadata. *replaced (if not NULL) says
   whether the key existed. If old_value is not NULL and the key existed, *old_value receives a
   malloc'd copy of the previous value (the caller frees it) and *old_size its size; otherwise
    *old_value is NULL. ZKV_OK, ZKV_EKEYSIZE, ZKV_EVALSIZE or ZKV_ENOMEM; on error
    the tree is unchanged. */
int zkv_btree_put(zkv_btree_t *self, const void *key, size_t key_size, const void *value,
                  size_t value_size, const zkv_btree_meta_t *meta, bool *replaced, void **old_value,
                  size_t *old_size);

/*  Remove key, rebalancing by borrowing from or merging with a sibling. ZKV_OK or
    ZKV_ENOTFOUND. old_value/old_size as for put; asking for the old value and a
    view being out are the only ways delete can fail with ZKV_ENOMEM, and then
    the tree is unchanged. */
int zkv_btree_delete(zkv_btree_t *self, const void *key, size_t key_size, void **old_value,
                     size_t *old_size);

/*  A record is one key with its value and metadata, in one block. Another
    thread may share it (the watch history keeps a put's record rather than
    a copy of it): the tree then changes it no more and the last holder
    frees it. At most ZKV_BTREE_REC_HOLDERS_MAX holders, the tree's included. */
#define ZKV_BTREE_REC_HOLDERS_MAX 8

/*  The record the last successful put wrote: borrowed, valid until the tree
    next changes. Owner's thread. */
zkv_btree_rec_t *zkv_btree_last_put(const zkv_btree_t *self);
/*  Any thread that holds rec: one more holder; returns rec. */
zkv_btree_rec_t *zkv_btree_rec_share(zkv_btree_rec_t *rec);
/*  Any thread: a holder lets go of *rec_p (NULL: nothing); the last frees it. */
void zkv_btree_rec_release(zkv_btree_rec_t **rec_p);
/*  Any holder: the record's key; its value, with its metadata into *meta when not NULL. */
zkv_bytes_t zkv_btree_rec_key(const zkv_btree_rec_t *rec);
zkv_bytes_t zkv_btree_rec_value(const zkv_btree_rec_t *rec, zkv_btree_meta_t *meta);

/*  A view: every entry as it is now, readable by another thread while the
    owner goes on changing the tree (a snapshot is written from one). While it
    is out, the tree changes no record in place and frees none: a replaced or
    deleted record waits in the view until it is released. One view at a time;
    NULL when one is out or out of memory. Owner's thread. Costs a pointer a key
    while out, plus the records let go of meanwhile. */
zkv_btree_view_t *zkv_btree_view_new(zkv_btree_t *tree);

/*  Any thread, while the view is out: its number of entries, and each of them
    in key order through visit (which may stop it early by returning false);
    returns how many were visited. */
size_t zkv_btree_view_count(const zkv_btree_view_t *self);
size_t zkv_btree_view_each(const zkv_btree_view_t *self, zkv_btree_visit_fn visit, void *arg);

/*  Any thread: a zkv_btree_view_each under way (or to come) stops early. */
void zkv_btree_view_stop(zkv_btree_view_t *self);

/*  Owner's thread, once no other thread reads the view: frees the records it
    kept, and the tree itself if it was destroyed meanwhile. */
void zkv_btree_view_release(zkv_btree_view_t **self_p);

/*  Number of keys. */
size_t zkv_btree_count(const zkv_btree_t *self);

/*  Bytes the tree has allocated: nodes, keys, values and their headers. Exact sum of
    the sizes requested from malloc; malloc's own per-block overhead (8-16 bytes a
    block with glibc), iterators and views (with the records they keep) are not
    included. */
size_t zkv_btree_memory(const zkv_btree_t *self);

/*  Visit keys in [start, end) in order (reverse: from the last key below end down
    to start). start NULL: from the first key; end NULL: to the last. At most limit
    entries (0: no limit). Returns how many were visited, counting the one for which
    visit returned false; visit may be NULL to only count. visit must not modify
    the tree. */
size_t zkv_btree_range(const zkv_btree_t *self, const void *start, size_t start_size,
                       const void *end, size_t end_size, bool reverse, size_t limit,
                       zkv_btree_visit_fn visit, void *arg);

/*  Visit every key that begins with prefix, in order or reversed; limit as for range. */
size_t zkv_btree_prefix(const zkv_btree_t *self, const void *prefix, size_t prefix_size,
                        bool reverse, size_t limit, zkv_btree_visit_fn visit, void *arg);

/*  Fault injection for tests: the tree may make `allocations` more allocations,
    then every further one fails (so the operation returns ZKV_ENOMEM) until this is
    called again. SIZE_MAX, the default, means no limit. */
void zkv_btree_set_alloc_budget(zkv_btree_t *self, size_t allocations);

/*  Verify every structural invariant: keys sorted within and across nodes,
    separators bound their subtrees, all leaves at one depth, every node but the
    root at least half full, leaf links consistent, count and memory match. 0, or
    ZKV_ECORRUPT with a description written to why. For tests. */
int zkv_btree_check(const zkv_btree_t *self, char *why, size_t why_size);

/*  Cursor over the tree; invalidated by any modification of the tree. A new cursor
    is not valid until positioned. NULL if out of memory. */
zkv_btree_iter_t *zkv_btree_iter_new(const zkv_btree_t *tree);
void zkv_btree_iter_destroy(zkv_btree_iter_t **self_p);
void zkv_btree_iter_first(zkv_btree_iter_t *self);
void zkv_btree_iter_last(zkv_btree_iter_t *self);
/*  Position at the first key >= key. */
void zkv_btree_iter_seek(zkv_btree_iter_t *self, const void *key, size_t key_size);
/*  Position at the last key < key. */
void zkv_btree_iter_seek_before(zkv_btree_iter_t *self, const void *key, size_t key_size);
bool zkv_btree_iter_valid(const zkv_btree_iter_t *self);
void zkv_btree_iter_next(zkv_btree_iter_t *self);
void zkv_btree_iter_prev(zkv_btree_iter_t *self);
zkv_bytes_t zkv_btree_iter_key(const zkv_btree_iter_t *self);
zkv_bytes_t zkv_btree_iter_value(const zkv_btree_iter_t *self);
zkv_btree_meta_t zkv_btree_iter_meta(const zkv_btree_iter_t *self);

#endif
