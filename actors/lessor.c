/*  lessor: leases by id, and a heap of deadlines with stale entries left
    in it (each carries its lease's generation) until they come up. */
#include "lessor.h"

#include <czmq.h>

typedef struct {
    uint64_t id;
    uint64_t ttl_s;
    int64_t deadline_ms;
    uint64_t generation; /* bumped at every new deadline */
} s_lease_t;

typedef struct {
    int64_t deadline_ms;
    uint64_t id;
    uint64_t generation;
} s_due_t;

struct zkv_lessor_t {
    zhashx_t *leases; /* id (its 8 bytes, in the lease) -> s_lease_t */
    s_due_t *heap;
    size_t heap_n, heap_cap;
};

static size_t s_hash(const void *key)
{
    uint64_t id;
    memcpy(&id, key, sizeof id);
    return (size_t) (id * 0x9e3779b97f4a7c15ull >> 16);
}

static int s_compare(const void *a, const void *b)
{
    uint64_t x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    return (x > y) - (x < y);
}

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

zkv_lessor_t *zkv_lessor_new(void)
{
    zkv_lessor_t *self = zmalloc(sizeof *self);
    self->leases = zhashx_new();
    zhashx_set_key_hasher(self->leases, s_hash);
    zhashx_set_key_comparator(self->leases, s_compare);
    zhashx_set_key_duplicator(self->leases, NULL);
    zhashx_set_key_destructor(self->leases, NULL);
    zhashx_set_destructor(self->leases, s_free);
    return self;
}

void zkv_lessor_destroy(zkv_lessor_t **self_p)
{
    zkv_lessor_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy(&self->leases);
    free(self->heap);
    free(self);
    *self_p = NULL;
}

static bool s_before(const s_due_t *a, const s_due_t *b)
{
    return a->deadline_ms < b->deadline_ms;
}

static void s_push(zkv_lessor_t *self, const s_lease_t *lease)
{
    if (self->heap_n == self->heap_cap) {
        self->heap_cap = self->heap_cap ? 2 * self->heap_cap : 64;
        self->heap = realloc(self->heap, self->heap_cap * sizeof *self->heap);
        assert(self->heap);
    }
    size_t i = self->heap_n++;
    self->heap[i] = (s_due_t){lease->deadline_ms, lease->id, lease->generation};
    while (i > 0 && s_before(&self->heap[i], &self->heap[(i - 1) / 2])) {
        s_due_t t = self->heap[i];
        self->heap[i] = self->heap[(i - 1) / 2];
        self->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static void s_pop(zkv_lessor_t *self)
{
    assert(self->heap_n > 0);
    self->heap[0] = self->heap[--self->heap_n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < self->heap_n && s_before(&self->heap[l], &self->heap[m]))
            m = l;
        if (r < self->heap_n && s_before(&self->heap[r], &self->heap[m]))
            m = r;
        if (m == i)
            break;
        s_due_t t = self->heap[i];
        self->heap[i] = self->heap[m];
        self->heap[m] = t;
        i = m;
    }
}

static void s_set_deadline(zkv_lessor_t *self, s_lease_t *lease, int64_t deadline_ms)
{
    lease->deadline_ms = deadline_ms;
    lease->generation++;
    s_push(self, lease);
}

/*  Every renewal leaves a stale entry behind, and a follower never pops
    them: past twice the live ones, the heap is made again from the leases. */
static void s_compact(zkv_lessor_t *self)
{
    size_t live = zhashx_size(self->leases);
    if (self->heap_n <= 2 * live + 64)
        return;
    self->heap_n = 0;
    for (s_lease_t *l = zhashx_first(self->leases); l; l = zhashx_next(self->leases))
        s_push(self, l);
}

static bool s_stale(zkv_lessor_t *self, const s_due_t *due)
{
    const s_lease_t *lease = zhashx_lookup(self->leases, &due->id);
    return !lease || lease->generation != due->generation;
}

void zkv_lessor_update(zkv_lessor_t *self, zkv_lease_change_t change, uint64_t id, uint64_t ttl_s,
                       int64_t now_ms)
{
    s_lease_t *lease = zhashx_lookup(self->leases, &id);
    if (change == ZKV_LEASE_REVOKED) {
        if (lease)
            zhashx_delete(self->leases, &id);
        s_compact(self);
        return;
    }
    if (!lease) {
        lease = zmalloc(sizeof *lease);
        lease->id = id;
        zhashx_insert(self->leases, &lease->id, lease);
    }
    lease->ttl_s = ttl_s;
#if ZKV_NODE_PLANTED_BUG == 13
    /* TEST-ONLY planted bug (sim_node_planted_early_lease_expiry): half the ttl. */
    s_set_deadline(self, lease, now_ms + (int64_t) ttl_s * 500);
#else
    s_set_deadline(self, lease, now_ms + (int64_t) ttl_s * 1000);
#endif
    s_compact(self);
}

void zkv_lessor_promote(zkv_lessor_t *self, int64_t now_ms, int64_t extend_ms)
{
    self->heap_n = 0; /* every entry is stale now */
    for (s_lease_t *lease = zhashx_first(self->leases); lease; lease = zhashx_next(self->leases))
        s_set_deadline(self, lease, now_ms + (int64_t) lease->ttl_s * 1000 + extend_ms);
}

bool zkv_lessor_expired(zkv_lessor_t *self, int64_t now_ms, uint64_t *id)
{
    while (self->heap_n > 0 && self->heap[0].deadline_ms <= now_ms) {
        s_due_t due = self->heap[0];
        s_pop(self);
        if (s_stale(self, &due))
            continue; /* revoked or renewed since */
        s_lease_t *lease = zhashx_lookup(self->leases, &due.id);
        s_set_deadline(self, lease, now_ms + ZKV_LESSOR_RETRY_MS);
        *id = due.id;
        return true;
    }
    return false;
}

int64_t zkv_lessor_next_ms(zkv_lessor_t *self, int64_t now_ms)
{
    while (self->heap_n > 0 && s_stale(self, &self->heap[0]))
        s_pop(self);
    if (self->heap_n == 0)
        return -1;
    int64_t wait = self->heap[0].deadline_ms - now_ms;
    return wait > 0 ? wait : 0;
}

size_t zkv_lessor_count(const zkv_lessor_t *self)
{
    return zhashx_size(self->leases);
}

size_t zkv_lessor_deadlines(const zkv_lessor_t *self)
{
    return self->heap_n;
}

static int s_by_id(const void *a, const void *b)
{
    const s_lease_t *x = *(const s_lease_t *const *) a, *y = *(const s_lease_t *const *) b;
    return (x->id > y->id) - (x->id < y->id);
}

void zkv_lessor_each(const zkv_lessor_t *self, int64_t now_ms, zkv_lessor_visit_fn visit, void *arg)
{
    size_t n = zhashx_size(self->leases), i = 0;
    s_lease_t **all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        return;
    for (s_lease_t *l = zhashx_first(self->leases); l; l = zhashx_next(self->leases))
        all[i++] = l;
    qsort(all, n, sizeof *all, s_by_id);
    for (i = 0; i < n; i++)
        visit(arg, all[i]->id, all[i]->ttl_s, all[i]->deadline_ms - now_ms);
    free(all);
}
