/*  watch_history: the bounded per-node history of recent changes that
    watchers catch up from.

    Each change is an event at a position (log index, then its place among
    that index's changes). The history keeps the newest events within two
    limits, a count and a byte budget, and remembers where it stopped knowing:
    a watcher at or after that point can catch up from here; one before it
    must start again from a snapshot of the store.

    Pure: no threads, clocks or I/O. Not thread-safe: one owner at a time. */
#ifndef ZKV_WATCH_HISTORY_H
#define ZKV_WATCH_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btree.h" /* zkv_bytes_t, zkv_btree_meta_t */

typedef enum { ZKV_EVENT_PUT = 0, ZKV_EVENT_DELETE = 1 } zkv_event_type_t;

/*  One change. Byte fields are borrowed (by append: copied in, or shared with rec; by scan:
    valid until the next append or reset). Keys are at most ZKV_KEY_SIZE_MAX bytes, values
    ZKV_VALUE_SIZE_MAX. */
typedef struct {
    zkv_event_type_t type;
    uint64_t revision; /* the log index of the change */
    uint32_t seq;      /* its place among the changes of that revision, from 0 */
    zkv_bytes_t key;
    zkv_bytes_t value;     /* put; empty for a delete */
    zkv_btree_meta_t meta; /* put: the key's after it; delete: zeros but mod_revision = revision */
    /* A put: the tree's record of it, which key, value and meta are read from (borrowed), or
       NULL when they are not a record's. The history shares a record rather than copying it. */
    zkv_btree_rec_t *rec;
} zkv_event_t;

/*  What one kept event costs against bytes_max beyond its key and value: at most its ring
    slot and a block header (checked at compile time). A budget, not a measure of the heap:
    a put's key and value are charged though the tree may hold the record too, and malloc's
    own headers and unused ring slots are not counted. */
#define ZKV_WATCH_HISTORY_EVENT_OVERHEAD 64u

typedef struct zkv_watch_history_t zkv_watch_history_t;

/*  At most events_max events and bytes_max bytes (key + value + ZKV_WATCH_HISTORY_EVENT_OVERHEAD
    per event) kept; both > 0. NULL when out of memory. A new history starts with compacted =
    {0, ZKV_EVENT_SEQ_ALL}: nothing is missing yet. The ring grows by doubling up to events_max,
    so a large events_max costs nothing until it is used. */
zkv_watch_history_t *zkv_watch_history_new(size_t events_max, size_t bytes_max);
void zkv_watch_history_destroy(zkv_watch_history_t **self_p);

/*  Append a change after the newest one (its position must be greater than the newest event's
    and than compacted: asserted). Evicts the oldest events, one at a time, until both limits
    hold; compacted becomes the position of the last evicted event. An event larger than
    bytes_max alone is not kept: it is counted as evicted at once (compacted = its position, and
    every older event goes too). ZKV_OK or ZKV_ENOMEM (then nothing changed). */
int zkv_watch_history_append(zkv_watch_history_t *self, const zkv_event_t *event);

/*  Forget every event: changes up to and including (revision, ZKV_EVENT_SEQ_ALL) are unknown
    from now on (a snapshot was installed, or the node started from one at that index).
    revision may be lower than the newest event's (a node restarts its log) - then later
    appends start after it again. */
void zkv_watch_history_reset(zkv_watch_history_t *self, uint64_t revision);

/*  The newest position nothing is known before-or-at: a watcher at position p can catch up
    iff p >= compacted. */
zkv_event_pos_t zkv_watch_history_compacted(const zkv_watch_history_t *self);
/*  Position of the newest event kept, or compacted when none is kept. */
zkv_event_pos_t zkv_watch_history_newest(const zkv_watch_history_t *self);
size_t zkv_watch_history_count(const zkv_watch_history_t *self);
/*  Bytes charged against bytes_max by the kept events. */
size_t zkv_watch_history_bytes(const zkv_watch_history_t *self);

typedef bool (*zkv_event_visit_fn)(const zkv_event_t *event, void *arg); /* false: stop */

/*  Visit, oldest first, the kept events after position `after` whose keys match filter (NULL:
    every key), at most limit of them (0: no limit). ZKV_ECOMPACTED when after < compacted
    (nothing visited). Otherwise ZKV_OK, with *next (if not NULL) set to the position up to
    which the history has been looked at: the position of the last event visited when the
    limit or the visitor stopped it, else newest - or after itself when that is later, so
    *next never goes back. A caller paging through continues from *next without re-reading,
    and one whose filter matched nothing still advances. The first event after `after` is
    found by binary search. visit must not append to or reset the history. */
int zkv_watch_history_scan(const zkv_watch_history_t *self, zkv_event_pos_t after,
                           const zkv_key_filter_t *filter, size_t limit, zkv_event_visit_fn visit,
                           void *arg, zkv_event_pos_t *next);

/*  Compare positions: <0, 0, >0. */
int zkv_event_pos_cmp(zkv_event_pos_t a, zkv_event_pos_t b);

#endif
