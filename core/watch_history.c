/*  watch_history: a ring of the newest events, each slot pointing at the
    tree's record of a put (shared) or at a block of its own (a delete).
    Positions increase from the oldest slot to the newest, so a scan finds
    where to start by binary search, and the oldest event is always the next
    to go. */
#include "watch_history.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "zkv_error.h"

/*  Slots of the first ring; it doubles from there up to events_max. */
#define S_RING_INITIAL 16

/*  A kept event's own copy of its bytes, when it shares no record of the
    tree's (a delete): metadata, sizes, then key and value. */
typedef struct {
    zkv_btree_meta_t meta;
    uint32_t key_size;
    uint32_t value_size;
    uint8_t bytes[];
} s_block_t;

/*  One kept event: a put shares the tree's record of it, so that an event
    costs its slot while the tree still holds the key's value. */
typedef struct {
    uint64_t revision;
    uint32_t seq;
    uint8_t type; /* zkv_event_type_t */
    bool shared;  /* data is a zkv_btree_rec_t, else an s_block_t */
    void *data;
} s_slot_t;

_Static_assert(sizeof(s_slot_t) + sizeof(s_block_t) <= ZKV_WATCH_HISTORY_EVENT_OVERHEAD,
               "the per-event overhead must cover a ring slot and a block header");
_Static_assert(ZKV_KEY_SIZE_MAX <= UINT32_MAX && ZKV_VALUE_SIZE_MAX <= UINT32_MAX,
               "block sizes are 32 bits");

struct zkv_watch_history_t {
    s_slot_t *ring; /* capacity slots; count of them in use from head on, wrapping */
    size_t capacity;
    size_t head; /* slot of the oldest event */
    size_t count;
    size_t bytes; /* charged by the kept events */
    size_t events_max;
    size_t bytes_max;
    zkv_event_pos_t compacted; /* the last position forgotten */
};

zkv_watch_history_t *zkv_watch_history_new(size_t events_max, size_t bytes_max)
{
    assert(events_max > 0);
    assert(bytes_max > 0);
    zkv_watch_history_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->events_max = events_max;
    self->bytes_max = bytes_max;
    self->compacted = (zkv_event_pos_t){0, ZKV_EVENT_SEQ_ALL};
    return self;
}

/*  The i-th oldest kept event. */
static s_slot_t *s_at(const zkv_watch_history_t *self, size_t i)
{
    assert(i < self->count);
    size_t j = self->head + i;
    return &self->ring[j >= self->capacity ? j - self->capacity : j];
}

static zkv_event_pos_t s_slot_pos(const s_slot_t *slot)
{
    return (zkv_event_pos_t){slot->revision, slot->seq};
}

static zkv_event_t s_slot_event(const s_slot_t *slot)
{
    zkv_event_t event = {
        .type = (zkv_event_type_t) slot->type, .revision = slot->revision, .seq = slot->seq};
    if (slot->shared) {
        event.rec = slot->data;
        event.key = zkv_btree_rec_key(event.rec);
        event.value = zkv_btree_rec_value(event.rec, &event.meta);
        return event;
    }
    const s_block_t *block = slot->data;
    event.key = (zkv_bytes_t){block->bytes, block->key_size};
    event.value = (zkv_bytes_t){block->bytes + block->key_size, block->value_size};
    event.meta = block->meta;
    return event;
}

static size_t s_event_bytes(const zkv_event_t *event)
{
    return event->key.size + event->value.size + ZKV_WATCH_HISTORY_EVENT_OVERHEAD;
}

static size_t s_slot_bytes(const s_slot_t *slot)
{
    zkv_event_t event = s_slot_event(slot);
    return s_event_bytes(&event);
}

static void s_slot_free(s_slot_t *slot)
{
    if (slot->shared) {
        zkv_btree_rec_t *rec = slot->data;
        zkv_btree_rec_release(&rec);
    } else {
        free(slot->data);
    }
    slot->data = NULL;
}

/*  Forget the n oldest events; compacted follows the last one. */
static void s_evict(zkv_watch_history_t *self, size_t n)
{
    assert(n <= self->count);
    for (size_t i = 0; i < n; i++) {
        s_slot_t *slot = s_at(self, 0);
        assert(zkv_event_pos_cmp(s_slot_pos(slot), self->compacted) > 0);
        self->compacted = s_slot_pos(slot);
        self->bytes -= s_slot_bytes(slot);
        s_slot_free(slot);
        self->head = self->head + 1 == self->capacity ? 0 : self->head + 1;
        self->count--;
    }
    assert(self->count > 0 || self->bytes == 0);
}

void zkv_watch_history_destroy(zkv_watch_history_t **self_p)
{
    assert(self_p);
    zkv_watch_history_t *self = *self_p;
    if (!self)
        return;
    s_evict(self, self->count);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

/*  A bigger ring with the same events, the oldest in slot 0; ZKV_ENOMEM leaves the old one. */
static int s_grow(zkv_watch_history_t *self)
{
    assert(self->capacity < self->events_max);
    size_t capacity = S_RING_INITIAL;
    if (self->capacity != 0)
        capacity = self->capacity > self->events_max / 2 ? self->events_max : self->capacity * 2;
    capacity = capacity < self->events_max ? capacity : self->events_max;
    s_slot_t *ring = calloc(capacity, sizeof *ring);
    if (!ring)
        return ZKV_ENOMEM;
    for (size_t i = 0; i < self->count; i++)
        ring[i] = *s_at(self, i);
    free(self->ring);
    self->ring = ring;
    self->capacity = capacity;
    self->head = 0;
    assert(self->count < self->capacity);
    return ZKV_OK;
}

/*  How many of the oldest events must go for one more of size bytes to fit both limits. */
static size_t s_drop_count(const zkv_watch_history_t *self, size_t size)
{
    assert(size <= self->bytes_max);
    size_t drop = 0;
    size_t bytes = self->bytes;
    while (self->count - drop + 1 > self->events_max || bytes + size > self->bytes_max) {
        assert(drop < self->count);
        bytes -= s_slot_bytes(s_at(self, drop));
        drop++;
    }
    return drop;
}

/*  Put the event in the slot after the newest: its record shared, or its bytes copied into
    block. */
static void s_push(zkv_watch_history_t *self, const zkv_event_t *event, s_block_t *block)
{
    assert(self->count < self->capacity);
    size_t j = self->head + self->count;
    s_slot_t *slot = &self->ring[j >= self->capacity ? j - self->capacity : j];
    *slot = (s_slot_t){.revision = event->revision,
                       .seq = event->seq,
                       .type = (uint8_t) event->type,
                       .shared = block == NULL,
                       .data = block ? (void *) block : zkv_btree_rec_share(event->rec)};
    if (block) {
        block->meta = event->meta;
        block->key_size = (uint32_t) event->key.size;
        block->value_size = (uint32_t) event->value.size;
        if (event->key.size)
            memcpy(block->bytes, event->key.data, event->key.size);
        if (event->value.size)
            memcpy(block->bytes + event->key.size, event->value.data, event->value.size);
    }
    self->count++;
    self->bytes += s_event_bytes(event);
    assert(s_slot_bytes(slot) == s_event_bytes(event));
}

/*  The caller's half of the contract: what a change may look like. */
static void s_assert_event(const zkv_event_t *event)
{
    assert(event->type == ZKV_EVENT_PUT || event->type == ZKV_EVENT_DELETE);
    assert(event->seq < ZKV_EVENT_SEQ_ALL);
    assert(event->key.size <= ZKV_KEY_SIZE_MAX && (event->key.data || !event->key.size));
    assert(event->value.size <= ZKV_VALUE_SIZE_MAX && (event->value.data || !event->value.size));
    assert(event->meta.mod_revision == event->revision);
    assert(event->type == ZKV_EVENT_PUT ||
           (event->value.size == 0 && event->meta.create_revision == 0 &&
            event->meta.version == 0 && event->meta.lease == 0 && event->rec == NULL));
    assert(!event->rec || (zkv_btree_rec_key(event->rec).data == event->key.data &&
                           zkv_btree_rec_value(event->rec, NULL).data == event->value.data));
}

int zkv_watch_history_append(zkv_watch_history_t *self, const zkv_event_t *event)
{
    assert(self && event);
    s_assert_event(event);
    zkv_event_pos_t pos = {event->revision, event->seq};
    assert(zkv_event_pos_cmp(pos, self->compacted) > 0);
    assert(zkv_event_pos_cmp(pos, zkv_watch_history_newest(self)) > 0);
    size_t size = s_event_bytes(event);
    if (size > self->bytes_max) {
        /* It would evict everything, itself last. */
        s_evict(self, self->count);
        self->compacted = pos;
        return ZKV_OK;
    }
    s_block_t *block = NULL;
    if (!event->rec && !(block = malloc(sizeof *block + event->key.size + event->value.size)))
        return ZKV_ENOMEM;
    /* Grow before evicting, so that running out of memory changes nothing. */
    size_t drop = s_drop_count(self, size);
    if (self->count - drop == self->capacity && s_grow(self) != ZKV_OK) {
        free(block);
        return ZKV_ENOMEM;
    }
    s_evict(self, drop);
    s_push(self, event, block);
    assert(self->count <= self->events_max && self->bytes <= self->bytes_max);
    return ZKV_OK;
}

void zkv_watch_history_reset(zkv_watch_history_t *self, uint64_t revision)
{
    assert(self);
    s_evict(self, self->count);
    self->head = 0;
    self->compacted = (zkv_event_pos_t){revision, ZKV_EVENT_SEQ_ALL};
    assert(self->count == 0 && self->bytes == 0);
}

zkv_event_pos_t zkv_watch_history_compacted(const zkv_watch_history_t *self)
{
    assert(self);
    return self->compacted;
}

zkv_event_pos_t zkv_watch_history_newest(const zkv_watch_history_t *self)
{
    assert(self);
    return self->count ? s_slot_pos(s_at(self, self->count - 1)) : self->compacted;
}

size_t zkv_watch_history_count(const zkv_watch_history_t *self)
{
    assert(self);
    return self->count;
}

size_t zkv_watch_history_bytes(const zkv_watch_history_t *self)
{
    assert(self);
    return self->bytes;
}

/*  Index (from the oldest) of the first kept event after pos; count when there is none. */
static size_t s_first_after(const zkv_watch_history_t *self, zkv_event_pos_t pos)
{
    size_t lo = 0;
    size_t hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (zkv_event_pos_cmp(s_slot_pos(s_at(self, mid)), pos) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    assert(lo == self->count || zkv_event_pos_cmp(s_slot_pos(s_at(self, lo)), pos) > 0);
    assert(lo == 0 || zkv_event_pos_cmp(s_slot_pos(s_at(self, lo - 1)), pos) <= 0);
    return lo;
}

int zkv_watch_history_scan(const zkv_watch_history_t *self, zkv_event_pos_t after,
                           const zkv_key_filter_t *filter, size_t limit, zkv_event_visit_fn visit,
                           void *arg, zkv_event_pos_t *next)
{
    assert(self && visit);
    if (zkv_event_pos_cmp(after, self->compacted) < 0)
        return ZKV_ECOMPACTED;
    zkv_event_pos_t newest = zkv_watch_history_newest(self);
    /* A watcher ahead of the history (it asked for the future) stays where it is. */
    zkv_event_pos_t at = zkv_event_pos_cmp(after, newest) > 0 ? after : newest;
    size_t visited = 0;
    for (size_t i = s_first_after(self, after); i < self->count; i++) {
        const s_slot_t *slot = s_at(self, i);
        zkv_event_t event = s_slot_event(slot);
        if (filter && !zkv_key_filter_match(filter, event.key))
            continue;
        visited++;
        if (!visit(&event, arg) || visited == limit) {
            at = s_slot_pos(slot);
            break;
        }
    }
    assert(zkv_event_pos_cmp(at, after) >= 0);
    if (next)
        *next = at;
    return ZKV_OK;
}
