/*  sessions: client id -> results of its writes still in flight. A chained
    hash table of sessions, each keeping its results sorted by sequence, and a
    list of them from least to most recently active (every log index touches
    at most one session, so that order is the order of last_index). */
#include "sessions.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "btree.h"
#include "le.h"
#include "zkv_error.h"

typedef struct session_s {
    uint64_t client_id;
    uint64_t last_index;    /* last log index that touched it: the eviction order */
    uint64_t first_unacked; /* results below it are forgotten */
    zkv_stored_result_t *results;
    size_t count;
    size_t capacity;
    struct session_s *next; /* hash chain */
    struct session_s *older, *newer; /* activity list */
} session_t;

struct zkv_sessions_t {
    session_t **buckets;
    size_t bucket_count; /* a power of two */
    size_t count;
    size_t max_sessions;
    size_t window;
    session_t *oldest, *newest;
    uint64_t evicted; /* sessions forgotten to make room */
};

static size_t s_bucket(const zkv_sessions_t *self, uint64_t client_id)
{
    uint64_t h = client_id * 0x9e3779b97f4a7c15ull;
    return (size_t) (h >> 32) & (self->bucket_count - 1);
}

zkv_sessions_t *zkv_sessions_new(size_t max_sessions, size_t window)
{
    assert(max_sessions > 0 && window > 0);
    zkv_sessions_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->bucket_count = 64;
    self->buckets = calloc(self->bucket_count, sizeof *self->buckets);
    if (!self->buckets) {
        free(self);
        return NULL;
    }
    self->max_sessions = max_sessions;
    self->window = window;
    return self;
}

static void s_results_forget(session_t *session, size_t n)
{
    assert(n <= session->count);
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        free(session->results[i].data);
    memmove(session->results, session->results + n,
            (session->count - n) * sizeof *session->results);
    session->count -= n;
}

static void s_session_free(session_t *session)
{
    s_results_forget(session, session->count);
    free(session->results);
    free(session);
}

void zkv_sessions_destroy(zkv_sessions_t **self_p)
{
    assert(self_p);
    zkv_sessions_t *self = *self_p;
    if (!self)
        return;
    for (size_t b = 0; b < self->bucket_count; b++) {
        session_t *s = self->buckets[b];
        while (s) {
            session_t *next = s->next;
            s_session_free(s);
            s = next;
        }
    }
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

size_t zkv_sessions_count(const zkv_sessions_t *self)
{
    return self->count;
}

static session_t *s_find(const zkv_sessions_t *self, uint64_t client_id)
{
    session_t *s = self->buckets[s_bucket(self, client_id)];
    while (s && s->client_id != client_id)
        s = s->next;
    return s;
}

static int s_grow(zkv_sessions_t *self)
{
    size_t old_count = self->bucket_count;
    session_t **old = self->buckets;
    session_t **fresh = calloc(old_count * 2, sizeof *fresh);
    if (!fresh)
        return ZKV_ENOMEM;
    self->buckets = fresh;
    self->bucket_count = old_count * 2;
    for (size_t b = 0; b < old_count; b++) {
        session_t *s = old[b];
        while (s) {
            session_t *next = s->next;
            size_t nb = s_bucket(self, s->client_id);
            s->next = fresh[nb];
            fresh[nb] = s;
            s = next;
        }
    }
    free(old);
    return ZKV_OK;
}

static void s_list_remove(zkv_sessions_t *self, session_t *s)
{
    if (s->older)
        s->older->newer = s->newer;
    else
        self->oldest = s->newer;
    if (s->newer)
        s->newer->older = s->older;
    else
        self->newest = s->older;
    s->older = s->newer = NULL;
}

static void s_list_append(zkv_sessions_t *self, session_t *s)
{
    s->older = self->newest;
    s->newer = NULL;
    if (self->newest)
        self->newest->newer = s;
    else
        self->oldest = s;
    self->newest = s;
}

/*  The session became active at index: it moves to the newest end. */
static void s_touch(zkv_sessions_t *self, session_t *s, uint64_t index)
{
    assert(index >= s->last_index);
    s->last_index = index;
    if (self->newest != s) {
        s_list_remove(self, s);
        s_list_append(self, s);
    }
}

static void s_remove(zkv_sessions_t *self, session_t *victim)
{
    session_t **link = &self->buckets[s_bucket(self, victim->client_id)];
    while (*link != victim)
        link = &(*link)->next;
    *link = victim->next;
    s_list_remove(self, victim);
    self->count--;
    s_session_free(victim);
}

static session_t *s_insert(zkv_sessions_t *self, uint64_t client_id)
{
    if (self->count >= self->max_sessions) {
        s_remove(self, self->oldest);
        self->evicted++;
    }
    if (self->count + 1 > self->bucket_count && s_grow(self) != ZKV_OK)
        return NULL;
    session_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->client_id = client_id;
    size_t b = s_bucket(self, client_id);
    s->next = self->buckets[b];
    self->buckets[b] = s;
    s_list_append(self, s);
    self->count++;
    return s;
}

int zkv_sessions_open(zkv_sessions_t *self, uint64_t index, uint64_t client_id)
{
    assert(client_id != 0);
    session_t *s = s_find(self, client_id);
    if (!s && !(s = s_insert(self, client_id)))
        return ZKV_ENOMEM;
    s_touch(self, s, index);
    return ZKV_OK;
}

bool zkv_sessions_close(zkv_sessions_t *self, uint64_t client_id)
{
    session_t *s = s_find(self, client_id);
    if (s)
        s_remove(self, s);
    return s != NULL;
}

uint64_t zkv_sessions_evicted(const zkv_sessions_t *self)
{
    return self->evicted;
}

/*  Index of the first result with sequence >= seq. */
static size_t s_lower_bound(const session_t *s, uint64_t seq)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->results[mid].sequence < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

zkv_session_verdict_t zkv_sessions_check(zkv_sessions_t *self, uint64_t index, uint64_t client_id,
                                         uint64_t sequence, uint64_t first_unacked,
                                         const zkv_stored_result_t **stored)
{
    *stored = NULL;
    session_t *s = s_find(self, client_id);
#if ZKV_KVSTORE_PLANTED_BUG == 1
    /* TEST-ONLY planted bug (sim_node_planted_implicit_session): an unknown
       client's write opens its session, so a forgotten client's retry applies
       again. */
    if (!s && !(s = s_insert(self, client_id)))
        return ZKV_SESSION_FULL;
#endif
    if (!s)
        return ZKV_SESSION_EXPIRED;
    s_touch(self, s, index);
    if (first_unacked > s->first_unacked) {
        s->first_unacked = first_unacked;
        s_results_forget(s, s_lower_bound(s, first_unacked));
    }
    if (sequence < s->first_unacked)
        return ZKV_SESSION_FORGOTTEN;
    size_t at = s_lower_bound(s, sequence);
    if (at < s->count && s->results[at].sequence == sequence) {
        *stored = &s->results[at];
        return ZKV_SESSION_DUPLICATE;
    }
    if (s->count >= self->window)
        return ZKV_SESSION_FULL;
    return ZKV_SESSION_NEW;
}

int zkv_sessions_store(zkv_sessions_t *self, uint64_t client_id, const zkv_stored_result_t *result)
{
    session_t *s = s_find(self, client_id);
    assert(s && s->count < self->window);
    if (s->count == s->capacity) {
        size_t cap = s->capacity ? s->capacity * 2 : 4;
        zkv_stored_result_t *grown = realloc(s->results, cap * sizeof *grown);
        if (!grown)
            return ZKV_ENOMEM;
        s->results = grown;
        s->capacity = cap;
    }
    zkv_stored_result_t copy = *result;
    copy.data = NULL;
    if (result->data) {
        copy.data = malloc(result->data_size ? result->data_size : 1);
        if (!copy.data)
            return ZKV_ENOMEM;
        memcpy(copy.data, result->data, result->data_size);
    }
    size_t at = s_lower_bound(s, result->sequence);
    assert(at == s->count || s->results[at].sequence != result->sequence);
    memmove(s->results + at + 1, s->results + at, (s->count - at) * sizeof *s->results);
    s->results[at] = copy;
    s->count++;
    return ZKV_OK;
}

/* ---------------------------------------------------------------- encoding */

#define SESSION_HEADER_SIZE (8 + 8 + 8 + 4)
#define RESULT_HEADER_SIZE_V1 (8 + 4 + 1 + 8 + 1 + 4)
#define RESULT_HEADER_SIZE (RESULT_HEADER_SIZE_V1 + 8)

static int s_compare_ids(const void *a, const void *b)
{
    uint64_t x = (*(session_t *const *) a)->client_id;
    uint64_t y = (*(session_t *const *) b)->client_id;
    return x < y ? -1 : x > y;
}

static uint8_t *s_encode_result(uint8_t *p, const zkv_stored_result_t *r)
{
    zkv_le64_put(p, r->sequence);
    zkv_le32_put(p + 8, (uint32_t) r->status);
    p[12] = r->found;
    zkv_le64_put(p + 13, r->index);
    p[21] = r->data != NULL;
    zkv_le32_put(p + 22, (uint32_t) r->data_size);
    zkv_le64_put(p + 26, r->count);
    p += RESULT_HEADER_SIZE;
    if (r->data_size)
        memcpy(p, r->data, r->data_size);
    return p + r->data_size;
}

uint8_t *zkv_sessions_encode(const zkv_sessions_t *self, size_t *size)
{
    session_t **all = malloc((self->count ? self->count : 1) * sizeof *all);
    if (!all)
        return NULL;
    size_t n = 0, total = 8;
    for (size_t b = 0; b < self->bucket_count; b++)
        for (session_t *s = self->buckets[b]; s; s = s->next) {
            all[n++] = s;
            total += SESSION_HEADER_SIZE;
            for (size_t i = 0; i < s->count; i++)
                total += RESULT_HEADER_SIZE + s->results[i].data_size;
        }
    qsort(all, n, sizeof *all, s_compare_ids);
    uint8_t *buf = malloc(total);
    if (buf) {
        uint8_t *p = buf;
        zkv_le64_put(p, n);
        p += 8;
        for (size_t k = 0; k < n; k++) {
            const session_t *s = all[k];
            zkv_le64_put(p, s->client_id);
            zkv_le64_put(p + 8, s->last_index);
            zkv_le64_put(p + 16, s->first_unacked);
            zkv_le32_put(p + 24, (uint32_t) s->count);
            p += SESSION_HEADER_SIZE;
            for (size_t i = 0; i < s->count; i++)
                p = s_encode_result(p, &s->results[i]);
        }
        assert((size_t) (p - buf) == total);
        *size = total;
    }
    free(all);
    return buf;
}

typedef struct {
    const uint8_t *p;
    size_t left;
    int format;
} reader_t;

static const uint8_t *s_take(reader_t *r, size_t n)
{
    if (r->left < n)
        return NULL;
    const uint8_t *at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

/*  Decode one result; false when malformed. */
static bool s_decode_result(reader_t *r, zkv_stored_result_t *out)
{
    const uint8_t *h = s_take(r, r->format == 1 ? RESULT_HEADER_SIZE_V1 : RESULT_HEADER_SIZE);
    if (!h || h[12] > 1 || h[21] > 1)
        return false;
    out->count = r->format == 1 ? 0 : zkv_le64_get(h + 26);
    out->sequence = zkv_le64_get(h);
    out->status = (int32_t) zkv_le32_get(h + 8);
    out->found = h[12];
    out->index = zkv_le64_get(h + 13);
    out->data_size = zkv_le32_get(h + 22);
    bool has_data = h[21];
    if (out->data_size > ZKV_STORED_DATA_SIZE_MAX || (!has_data && out->data_size))
        return false;
    const uint8_t *bytes = s_take(r, out->data_size);
    if (!bytes)
        return false;
    /* A borrowed pointer: zkv_sessions_store copies it. */
    out->data = has_data ? (uint8_t *) bytes : NULL;
    return true;
}

static bool s_decode_session(zkv_sessions_t *self, reader_t *r, uint64_t *last_id)
{
    const uint8_t *h = s_take(r, SESSION_HEADER_SIZE);
    if (!h)
        return false;
    uint64_t id = zkv_le64_get(h);
    uint32_t count = zkv_le32_get(h + 24);
    if ((self->count > 0 && id <= *last_id) || count > self->window)
        return false;
    *last_id = id;
    session_t *s = s_insert(self, id);
    if (!s)
        return false;
    s->last_index = zkv_le64_get(h + 8);
    s->first_unacked = zkv_le64_get(h + 16);
    uint64_t previous_seq = 0;
    for (uint32_t i = 0; i < count; i++) {
        zkv_stored_result_t result;
        if (!s_decode_result(r, &result) || result.sequence < s->first_unacked ||
            (i > 0 && result.sequence <= previous_seq))
            return false;
        previous_seq = result.sequence;
        if (zkv_sessions_store(self, id, &result) != ZKV_OK)
            return false;
    }
    return true;
}

static int s_compare_activity(const void *a, const void *b)
{
    const session_t *x = *(session_t *const *) a, *y = *(session_t *const *) b;
    if (x->last_index != y->last_index)
        return x->last_index < y->last_index ? -1 : 1;
    return x->client_id < y->client_id ? -1 : x->client_id > y->client_id;
}

/*  Decoded in id order: put the activity list back in last_index order. */
static bool s_relink_by_activity(zkv_sessions_t *self)
{
    session_t **all = malloc((self->count ? self->count : 1) * sizeof *all);
    if (!all)
        return false;
    size_t n = 0;
    for (session_t *s = self->oldest; s; s = s->newer)
        all[n++] = s;
    qsort(all, n, sizeof *all, s_compare_activity);
    self->oldest = self->newest = NULL;
    for (size_t i = 0; i < n; i++)
        s_list_append(self, all[i]);
    free(all);
    return true;
}

zkv_sessions_t *zkv_sessions_decode(const uint8_t *data, size_t size, int format,
                                    size_t max_sessions, size_t window)
{
    if (format != 1 && format != ZKV_SESSIONS_FORMAT)
        return NULL;
    reader_t r = {data, size, format};
    const uint8_t *h = s_take(&r, 8);
    if (!h)
        return NULL;
    uint64_t n = zkv_le64_get(h);
    if (n > max_sessions)
        return NULL;
    zkv_sessions_t *self = zkv_sessions_new(max_sessions, window);
    if (!self)
        return NULL;
    uint64_t last_id = 0;
    for (uint64_t k = 0; k < n; k++)
        if (!s_decode_session(self, &r, &last_id)) {
            zkv_sessions_destroy(&self);
            return NULL;
        }
    if (r.left != 0 || !s_relink_by_activity(self))
        zkv_sessions_destroy(&self);
    return self;
}
