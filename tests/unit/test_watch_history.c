/*  watch_history: scans from a position, eviction by count and by bytes and
    where it leaves compacted, reset, key filters, paging with limit and
    *next, and a randomized run against a model (every event ever appended).
    ZKV_SEED=<n> replays the randomized run with another seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "seed_testutil.h"
#include "slab.h"
#include "splitmix.h"
#include "watch_history.h"
#include "zkv_error.h"

#define SEED_DEFAULT 0x5eed2026u
#define ALL ZKV_EVENT_SEQ_ALL
#define OVERHEAD ZKV_WATCH_HISTORY_EVENT_OVERHEAD

/* ---------------------------------------------------------------- helpers */

static zkv_bytes_t s_str(const char *s)
{
    return (zkv_bytes_t){(const uint8_t *) s, strlen(s)};
}

static zkv_event_pos_t s_pos(uint64_t revision, uint32_t seq)
{
    return (zkv_event_pos_t){revision, seq};
}

static zkv_event_t s_put_event(uint64_t revision, uint32_t seq, const char *key, const char *value)
{
    return (zkv_event_t){.type = ZKV_EVENT_PUT,
                         .revision = revision,
                         .seq = seq,
                         .key = s_str(key),
                         .value = s_str(value),
                         .meta = {.create_revision = 1, .mod_revision = revision, .version = 2}};
}

static zkv_event_t s_delete_event(uint64_t revision, uint32_t seq, const char *key)
{
    return (zkv_event_t){.type = ZKV_EVENT_DELETE,
                         .revision = revision,
                         .seq = seq,
                         .key = s_str(key),
                         .meta = {.mod_revision = revision}};
}

static void s_put(zkv_watch_history_t *h, uint64_t revision, uint32_t seq, const char *key,
                  const char *value)
{
    zkv_event_t event = s_put_event(revision, seq, key, value);
    assert_int_equal(zkv_watch_history_append(h, &event), ZKV_OK);
}

static void s_assert_pos(zkv_event_pos_t got, uint64_t revision, uint32_t seq)
{
    assert_int_equal(got.revision, revision);
    assert_int_equal(got.seq, seq);
}

/*  Scan results, as borrowed views: valid until the history next changes. */
typedef struct {
    zkv_event_t *events;
    size_t n;
    size_t cap;
    size_t stop_after; /* 0: never stop early */
} s_seen_t;

static bool s_collect(const zkv_event_t *event, void *arg)
{
    s_seen_t *seen = arg;
    if (seen->n == seen->cap) {
        seen->cap = seen->cap ? seen->cap * 2 : 64;
        seen->events = realloc(seen->events, seen->cap * sizeof *seen->events);
        assert_non_null(seen->events);
    }
    seen->events[seen->n++] = *event;
    return seen->stop_after == 0 || seen->n < seen->stop_after;
}

static void s_seen_free(s_seen_t *seen)
{
    free(seen->events);
    memset(seen, 0, sizeof *seen);
}

/*  A value written by s_fill: its number (values are not zero-terminated). */
static size_t s_number(zkv_bytes_t value)
{
    size_t n = 0;
    for (size_t i = 0; i < value.size; i++)
        n = n * 10 + (size_t) (value.data[i] - '0');
    return n;
}

/*  Scan with no filter nor limit; ZKV_OK expected, *next returned. */
static zkv_event_pos_t s_scan_all(const zkv_watch_history_t *h, zkv_event_pos_t after,
                                  s_seen_t *seen)
{
    zkv_event_pos_t next = {0xdead, 0xbeef};
    assert_int_equal(zkv_watch_history_scan(h, after, NULL, 0, s_collect, seen, &next), ZKV_OK);
    return next;
}

/*  The revisions of what a scan from after visited, seq folded in as revision * 10 + seq. */
static void s_assert_scan(const zkv_watch_history_t *h, zkv_event_pos_t after, const uint64_t *want,
                          size_t want_n)
{
    s_seen_t seen = {0};
    zkv_event_pos_t next = s_scan_all(h, after, &seen);
    assert_int_equal(seen.n, want_n);
    for (size_t i = 0; i < want_n; i++)
        assert_int_equal(seen.events[i].revision * 10 + seen.events[i].seq, want[i]);
    zkv_event_pos_t newest = zkv_watch_history_newest(h);
    assert_int_equal(zkv_event_pos_cmp(next, newest), 0);
    s_seen_free(&seen);
}

#define S_ASSERT_SCAN(h, after, ...)                                                               \
    s_assert_scan(h, after, (const uint64_t[]){__VA_ARGS__},                                       \
                  sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t))

static void s_assert_compacted(const zkv_watch_history_t *h, zkv_event_pos_t before)
{
    s_seen_t seen = {0};
    zkv_event_pos_t next = {7, 7};
    assert_int_equal(zkv_watch_history_scan(h, before, NULL, 0, s_collect, &seen, &next),
                     ZKV_ECOMPACTED);
    assert_int_equal(seen.n, 0);
    s_assert_pos(next, 7, 7);
}

/* ---------------------------------------------------------------- tests */

static void test_new_history_is_empty(void **state)
{
    (void) state;
    zkv_watch_history_t *h = zkv_watch_history_new(4, 1024);
    assert_non_null(h);
    assert_int_equal(zkv_watch_history_count(h), 0);
    assert_int_equal(zkv_watch_history_bytes(h), 0);
    s_assert_pos(zkv_watch_history_compacted(h), 0, ALL);
    s_assert_pos(zkv_watch_history_newest(h), 0, ALL);
    s_seen_t seen = {0};
    s_assert_pos(s_scan_all(h, s_pos(0, ALL), &seen), 0, ALL);
    assert_int_equal(seen.n, 0);
    s_assert_compacted(h, s_pos(0, 0));
    zkv_watch_history_destroy(&h);
    assert_null(h);
    zkv_watch_history_destroy(&h);
}

static void test_scan_returns_events_after_position(void **state)
{
    (void) state;
    zkv_watch_history_t *h = zkv_watch_history_new(16, 4096);
    for (uint64_t rev = 1; rev <= 5; rev++)
        s_put(h, rev, 0, "k", "vv");
    assert_int_equal(zkv_watch_history_count(h), 5);
    assert_int_equal(zkv_watch_history_bytes(h), 5 * (1 + 2 + OVERHEAD));
    S_ASSERT_SCAN(h, s_pos(2, 0), 30, 40, 50);
    S_ASSERT_SCAN(h, s_pos(0, ALL), 10, 20, 30, 40, 50);
    s_seen_t seen = {0};
    s_assert_pos(s_scan_all(h, s_pos(5, 0), &seen), 5, 0);
    assert_int_equal(seen.n, 0);
    s_assert_pos(s_scan_all(h, s_pos(3, 0), &seen), 5, 0);
    assert_int_equal(seen.n, 2);
    const zkv_event_t *e = &seen.events[0];
    assert_int_equal(e->type, ZKV_EVENT_PUT);
    s_assert_pos(s_pos(e->revision, e->seq), 4, 0);
    assert_memory_equal(e->key.data, "k", 1);
    assert_int_equal(e->value.size, 2);
    assert_memory_equal(e->value.data, "vv", 2);
    assert_int_equal(e->meta.create_revision, 1);
    assert_int_equal(e->meta.mod_revision, 4);
    assert_int_equal(e->meta.version, 2);
    s_seen_free(&seen);
    zkv_watch_history_destroy(&h);
}

static void test_positions_with_seq_all(void **state)
{
    (void) state;
    assert_true(zkv_event_pos_cmp(s_pos(3, ALL), s_pos(3, 2)) > 0);
    assert_true(zkv_event_pos_cmp(s_pos(3, ALL), s_pos(4, 0)) < 0);
    assert_true(zkv_event_pos_cmp(s_pos(3, 0), s_pos(2, ALL)) > 0);
    assert_int_equal(zkv_event_pos_cmp(s_pos(3, ALL), s_pos(3, ALL)), 0);
    assert_int_equal(zkv_event_pos_cmp(s_pos(UINT64_MAX, 1), s_pos(UINT64_MAX, 1)), 0);
    zkv_watch_history_t *h = zkv_watch_history_new(16, 4096);
    s_put(h, 3, 0, "a", "");
    s_put(h, 3, 1, "b", "");
    s_put(h, 3, 2, "c", "");
    s_put(h, 4, 0, "d", "");
    s_put(h, 7, 0, "e", "");
    s_put(h, 7, 1, "f", "");
    S_ASSERT_SCAN(h, s_pos(2, ALL), 30, 31, 32, 40, 70, 71);
    S_ASSERT_SCAN(h, s_pos(3, ALL), 40, 70, 71);
    S_ASSERT_SCAN(h, s_pos(3, 1), 32, 40, 70, 71);
    S_ASSERT_SCAN(h, s_pos(5, ALL), 70, 71);
    S_ASSERT_SCAN(h, s_pos(6, 3), 70, 71);
    S_ASSERT_SCAN(h, s_pos(7, 0), 71);
    s_seen_t seen = {0};
    s_assert_pos(s_scan_all(h, s_pos(7, ALL), &seen), 7, ALL);
    s_assert_pos(s_scan_all(h, s_pos(9, 0), &seen), 9, 0);
    assert_int_equal(seen.n, 0);
    s_seen_free(&seen);
    zkv_watch_history_destroy(&h);
}

static void test_resume_in_the_middle_of_a_revision(void **state)
{
    (void) state;
    zkv_watch_history_t *h = zkv_watch_history_new(16, 4096);
    s_put(h, 9, 0, "x", "1");
    /* One transaction at index 10: three changes. */
    s_put(h, 10, 0, "a", "A");
    zkv_event_t del = s_delete_event(10, 1, "b");
    assert_int_equal(zkv_watch_history_append(h, &del), ZKV_OK);
    s_put(h, 10, 2, "c", "C");
    s_put(h, 11, 0, "d", "D");
    s_seen_t seen = {0};
    zkv_event_pos_t next;
    assert_int_equal(zkv_watch_history_scan(h, s_pos(9, ALL), NULL, 2, s_collect, &seen, &next),
                     ZKV_OK);
    assert_int_equal(seen.n, 2);
    s_assert_pos(next, 10, 1);
    assert_int_equal(seen.events[1].type, ZKV_EVENT_DELETE);
    assert_int_equal(seen.events[1].value.size, 0);
    assert_int_equal(seen.events[1].meta.mod_revision, 10);
    assert_int_equal(seen.events[1].meta.version, 0);
    seen.n = 0;
    s_assert_pos(s_scan_all(h, next, &seen), 11, 0);
    assert_int_equal(seen.n, 2);
    s_assert_pos(s_pos(seen.events[0].revision, seen.events[0].seq), 10, 2);
    assert_memory_equal(seen.events[0].key.data, "c", 1);
    s_assert_pos(s_pos(seen.events[1].revision, seen.events[1].seq), 11, 0);
    s_seen_free(&seen);
    zkv_watch_history_destroy(&h);
}

static void test_eviction_by_count(void **state)
{
    (void) state;
    zkv_watch_history_t *h = zkv_watch_history_new(3, 1 << 20);
    s_put(h, 1, 0, "a", "1");
    s_put(h, 1, 1, "b", "2");
    s_put(h, 2, 0, "c", "3");
    s_assert_pos(zkv_watch_history_compacted(h), 0, ALL);
    s_put(h, 3, 0, "d", "4");
    s_put(h, 3, 1, "e", "5");
    assert_int_equal(zkv_watch_history_count(h), 3);
    assert_int_equal(zkv_watch_history_bytes(h), 3 * (2 + OVERHEAD));
    s_assert_pos(zkv_watch_history_compacted(h), 1, 1);
    s_assert_compacted(h, s_pos(1, 0));
    s_assert_compacted(h, s_pos(0, ALL));
    S_ASSERT_SCAN(h, s_pos(1, 1), 20, 30, 31);
    S_ASSERT_SCAN(h, s_pos(2, 0), 30, 31);
    s_put(h, 4, 0, "f", "6");
    s_assert_pos(zkv_watch_history_compacted(h), 2, 0);
    s_assert_compacted(h, s_pos(1, ALL));
    S_ASSERT_SCAN(h, s_pos(2, 0), 30, 31, 40);
    zkv_watch_history_destroy(&h);
}

static void test_eviction_by_bytes(void **state)
{
    (void) state;
    /* Room for three events of 2 bytes each, and a little more. */
    zkv_watch_history_t *h = zkv_watch_history_new(100, 3 * (OVERHEAD + 2) + 5);
    for (uint64_t rev = 1; rev <= 4; rev++)
        s_put(h, rev, 0, "k", "v");
    assert_int_equal(zkv_watch_history_count(h), 3);
    assert_int_equal(zkv_watch_history_bytes(h), 3 * (OVERHEAD + 2));
    s_assert_pos(zkv_watch_history_compacted(h), 1, 0);
    /* 7 bytes more than the others: two must go to make room. */
    s_put(h, 5, 0, "k", "12345678");
    assert_int_equal(zkv_watch_history_count(h), 2);
    assert_int_equal(zkv_watch_history_bytes(h), 2 * OVERHEAD + 2 + 9);
    s_assert_pos(zkv_watch_history_compacted(h), 3, 0);
    s_assert_compacted(h, s_pos(2, ALL));
    S_ASSERT_SCAN(h, s_pos(3, 0), 40, 50);
    zkv_watch_history_destroy(&h);
}

/*  A put of the tree's shares its record: the event keeps what was written
    after the tree replaced, deleted and destroyed it, and eviction lets go of
    it (ASan sees a use after free or a leak). */
static void test_puts_share_the_tree_records(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    zkv_watch_history_t *h = zkv_watch_history_new(2, 1000);
    for (uint64_t rev = 1; rev <= 3; rev++) {
        char value[8];
        snprintf(value, sizeof value, "v%llu", (unsigned long long) rev);
        zkv_btree_meta_t meta = {.create_revision = 1, .mod_revision = rev, .version = rev};
        assert_int_equal(zkv_btree_put(tree, "k", 1, value, 2, &meta, NULL, NULL, NULL), ZKV_OK);
        zkv_btree_rec_t *rec = zkv_btree_last_put(tree);
        zkv_event_t event = {.type = ZKV_EVENT_PUT, .revision = rev, .rec = rec};
        event.key = zkv_btree_rec_key(rec);
        event.value = zkv_btree_rec_value(rec, &event.meta);
        assert_int_equal(zkv_watch_history_append(h, &event), ZKV_OK);
    }
    assert_int_equal(zkv_watch_history_count(h), 2);
    assert_int_equal(zkv_watch_history_bytes(h), 2 * (OVERHEAD + 3));
    assert_int_equal(zkv_btree_delete(tree, "k", 1, NULL, NULL), ZKV_OK);
    zkv_btree_destroy(&tree);
    s_seen_t seen = {0};
    s_scan_all(h, s_pos(1, 0), &seen);
    assert_int_equal(seen.n, 2);
    for (size_t i = 0; i < 2; i++) {
        char value[8];
        snprintf(value, sizeof value, "v%zu", i + 2);
        assert_int_equal(seen.events[i].revision, i + 2);
        assert_int_equal(seen.events[i].meta.version, i + 2);
        assert_int_equal(seen.events[i].meta.mod_revision, i + 2);
        assert_int_equal(seen.events[i].meta.create_revision, 1);
        assert_int_equal(seen.events[i].value.size, 2);
        assert_memory_equal(seen.events[i].value.data, value, 2);
        assert_int_equal(seen.events[i].key.size, 1);
        assert_memory_equal(seen.events[i].key.data, "k", 1);
    }
    s_seen_free(&seen);
    zkv_watch_history_destroy(&h);
    assert_int_equal(zkv_slab_live(), 0); /* the history let go of what it held */
}

static void test_event_bigger_than_bytes_max(void **state)
{
    (void) state;
    zkv_watch_history_t *h = zkv_watch_history_new(100, OVERHEAD + 10);
    s_put(h, 1, 0, "k", "v");
    s_put(h, 2, 0, "k", "v");
    /* Exactly bytes_max: kept, alone. */
    s_put(h, 3, 0, "k", "123456789");
    assert_int_equal(zkv_watch_history_count(h), 1);
    assert_int_equal(zkv_watch_history_bytes(h), OVERHEAD + 10);
    s_assert_pos(zkv_watch_history_compacted(h), 2, 0);
    s_put(h, 3, 1, "a", "a");
    /* One byte over: not kept, and everything before it is forgotten too. */
    s_put(h, 4, 0, "k", "1234567890");
    assert_int_equal(zkv_watch_history_count(h), 0);
    assert_int_equal(zkv_watch_history_bytes(h), 0);
    s_assert_pos(zkv_watch_history_compacted(h), 4, 0);
    s_assert_pos(zkv_watch_history_newest(h), 4, 0);
    s_assert_compacted(h, s_pos(3, ALL));
    s_assert_scan(h, s_pos(4, 0), NULL, 0);
    s_put(h, 4, 1, "small", "x");
    S_ASSERT_SCAN(h, s_pos(4, 0), 41);
    zkv_watch_history_destroy(&h);
}

static void test_reset(void **state)
{
    (void) state;
    zkv_watch_history_t *h = zkv_watch_history_new(8, 4096);
    for (uint64_t rev = 1; rev <= 5; rev++)
        s_put(h, rev, 0, "k", "v");
    zkv_watch_history_reset(h, 100);
    assert_int_equal(zkv_watch_history_count(h), 0);
    assert_int_equal(zkv_watch_history_bytes(h), 0);
    s_assert_pos(zkv_watch_history_compacted(h), 100, ALL);
    s_assert_pos(zkv_watch_history_newest(h), 100, ALL);
    s_assert_compacted(h, s_pos(5, 0));
    s_assert_compacted(h, s_pos(100, 0));
    s_assert_scan(h, s_pos(100, ALL), NULL, 0);
    s_put(h, 101, 0, "k", "v");
    s_put(h, 101, 1, "k", "v");
    S_ASSERT_SCAN(h, s_pos(100, ALL), 1010, 1011);
    /* The node restarts its log from a snapshot at 50: below the newest event. */
    zkv_watch_history_reset(h, 50);
    assert_int_equal(zkv_watch_history_count(h), 0);
    s_assert_pos(zkv_watch_history_compacted(h), 50, ALL);
    s_assert_compacted(h, s_pos(49, ALL));
    s_put(h, 51, 0, "k", "v");
    s_put(h, 52, 0, "k", "v");
    S_ASSERT_SCAN(h, s_pos(50, ALL), 510, 520);
    S_ASSERT_SCAN(h, s_pos(51, 0), 520);
    zkv_watch_history_destroy(&h);
}

/*  Whether the filter {start, end, range} matches key; NULL end: open-ended. */
static bool s_match(const char *start, size_t start_size, const char *end, size_t end_size,
                    bool range, const char *key, size_t key_size)
{
    zkv_key_filter_t f = {.start = {(const uint8_t *) start, start_size},
                          .end = {(const uint8_t *) end, end_size},
                          .range = range};
    return zkv_key_filter_match(&f, (zkv_bytes_t){(const uint8_t *) key, key_size});
}

#define EXACT(s, k) s_match(s, sizeof(s) - 1, NULL, 0, false, k, sizeof(k) - 1)
#define RANGE(s, e, k) s_match(s, sizeof(s) - 1, e, sizeof(e) - 1, true, k, sizeof(k) - 1)

static void test_filter_match(void **state)
{
    (void) state;
    assert_true(EXACT("a", "a"));
    assert_false(EXACT("a", "ab"));
    assert_false(EXACT("a", "a\0"));
    assert_false(EXACT("ab", "a"));
    assert_false(EXACT("a", ""));
    assert_true(EXACT("", ""));
    assert_false(EXACT("", "a"));
    /* ["a", "b"): prefixes and the zero byte sort between. */
    assert_true(RANGE("a", "b", "a"));
    assert_true(RANGE("a", "b", "a\0"));
    assert_true(RANGE("a", "b", "abc"));
    assert_true(RANGE("a", "b", "a\xff"));
    assert_false(RANGE("a", "b", "b"));
    assert_false(RANGE("a", "b", ""));
    assert_false(RANGE("ab", "b", "a"));
    assert_true(RANGE("ab", "b", "ab"));
    assert_false(RANGE("a", "ab", "ab"));
    assert_true(RANGE("a", "ab", "aa\xff"));
    assert_false(RANGE("b", "a", "a"));
    assert_false(RANGE("b", "a", "b"));
    /* Open-ended: end.size 0. */
    assert_true(RANGE("ab", "", "ab"));
    assert_true(RANGE("ab", "", "\xff"));
    assert_true(RANGE("ab", "", "a\xff"));
    assert_false(RANGE("ab", "", "aa\xff"));
    assert_true(RANGE("", "", ""));
    assert_true(RANGE("", "", "\x00"));
    assert_true(RANGE("", "a", ""));
    assert_false(RANGE("", "a", "a"));
    assert_true(RANGE("\x80", "", "\xff"));
    assert_false(RANGE("\x80", "", "\x7f"));
}

/*  The keys, in order, that a scan from the start with filter visits. */
static void s_assert_filtered(const zkv_watch_history_t *h, zkv_key_filter_t filter,
                              const char *const *want, size_t want_n)
{
    s_seen_t seen = {0};
    zkv_event_pos_t next;
    assert_int_equal(zkv_watch_history_scan(h, s_pos(0, ALL), &filter, 0, s_collect, &seen, &next),
                     ZKV_OK);
    assert_int_equal(zkv_event_pos_cmp(next, zkv_watch_history_newest(h)), 0);
    assert_int_equal(seen.n, want_n);
    for (size_t i = 0; i < want_n; i++) {
        assert_int_equal(seen.events[i].key.size, strlen(want[i]));
        assert_memory_equal(seen.events[i].key.data, want[i], strlen(want[i]));
    }
    s_seen_free(&seen);
}

#define S_ASSERT_FILTERED(h, filter, ...)                                                          \
    s_assert_filtered(h, filter, (const char *const[]){__VA_ARGS__},                               \
                      sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

static zkv_key_filter_t s_filter(const char *start, const char *end, bool range)
{
    return (zkv_key_filter_t){s_str(start), s_str(end), range};
}

static void test_filtered_scans(void **state)
{
    (void) state;
    zkv_watch_history_t *h = zkv_watch_history_new(64, 1 << 16);
    const char *keys[] = {"ab", "", "a", "abc", "b", "a", "ba", "", "abd"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        s_put(h, i + 1, 0, keys[i], "v");
    S_ASSERT_FILTERED(h, s_filter("a", "", false), "a", "a");
    S_ASSERT_FILTERED(h, s_filter("", "", false), "", "");
    S_ASSERT_FILTERED(h, s_filter("ab", "", false), "ab");
    S_ASSERT_FILTERED(h, s_filter("a", "b", true), "ab", "a", "abc", "a", "abd");
    S_ASSERT_FILTERED(h, s_filter("ab", "abd", true), "ab", "abc");
    S_ASSERT_FILTERED(h, s_filter("ab", "", true), "ab", "abc", "b", "ba", "abd");
    S_ASSERT_FILTERED(h, s_filter("", "", true), "ab", "", "a", "abc", "b", "a", "ba", "", "abd");
    S_ASSERT_FILTERED(h, s_filter("", "a", true), "", "");
    S_ASSERT_FILTERED(h, s_filter("b", "", true), "b", "ba");
    /* Nothing matches: nothing visited, and *next still reaches the newest. */
    s_assert_filtered(h, s_filter("zz", "", false), NULL, 0);
    s_assert_filtered(h, s_filter("b", "a", true), NULL, 0);
    zkv_watch_history_destroy(&h);
}

/*  Event i: key keys[i % 5], value i in decimal; three events a revision from revision + 1. */
static const char *const s_paging_keys[] = {"a", "b", "c", "aa", "ab"};

static void s_fill(zkv_watch_history_t *h, size_t n, uint64_t revision)
{
    char value[32];
    for (size_t i = 0; i < n; i++) {
        uint32_t seq = (uint32_t) (i % 3 == 0 ? 0 : i % 3);
        revision += seq == 0;
        snprintf(value, sizeof value, "%zu", i);
        s_put(h, revision, seq, s_paging_keys[i % 5], value);
    }
}

/*  Page through with filter "a" <= key < "b" and limit, the visitor stopping at stop_after. */
static void s_page(const zkv_watch_history_t *h, size_t limit, size_t stop_after, size_t n)
{
    zkv_key_filter_t filter = s_filter("a", "b", true);
    zkv_event_pos_t at = zkv_watch_history_compacted(h);
    size_t want = 0, pages = 0;
    for (;;) {
        s_seen_t seen = {.stop_after = stop_after};
        zkv_event_pos_t next;
        assert_int_equal(zkv_watch_history_scan(h, at, &filter, limit, s_collect, &seen, &next),
                         ZKV_OK);
        for (size_t i = 0; i < seen.n; i++, want++) {
            while (want % 5 == 1 || want % 5 == 2)
                want++; /* "b" and "c" do not match */
            assert_int_equal(s_number(seen.events[i].value), want);
        }
        bool stopped = (limit && seen.n == limit) || (stop_after && seen.n == stop_after);
        if (seen.n > 0 && stopped) {
            zkv_event_t *last = &seen.events[seen.n - 1];
            s_assert_pos(next, last->revision, last->seq);
        }
        assert_true(zkv_event_pos_cmp(next, at) > 0 || seen.n == 0);
        at = next;
        pages++;
        s_seen_free(&seen);
        if (!stopped)
            break;
    }
    assert_int_equal(want, n);
    assert_int_equal(zkv_event_pos_cmp(at, zkv_watch_history_newest(h)), 0);
    assert_true(pages >= n * 3 / 5 / (limit ? limit : n));
}

static void test_limit_and_next_page_through(void **state)
{
    (void) state;
    zkv_watch_history_t *h = zkv_watch_history_new(4096, 1 << 22);
    s_fill(h, 1000, 0);
    assert_int_equal(zkv_watch_history_count(h), 1000);
    s_page(h, 7, 0, 1000);
    s_page(h, 1, 0, 1000);
    s_page(h, 0, 5, 1000);
    s_page(h, 4, 3, 1000);
    s_page(h, 600, 0, 1000);
    s_page(h, 0, 0, 1000);
    zkv_watch_history_destroy(&h);
}

/*  Wrapped ring, thousands of events: a scan from any kept position starts right after it. */
static void test_scan_from_recent_positions_of_a_long_history(void **state)
{
    (void) state;
    zkv_watch_history_t *h = zkv_watch_history_new(3000, 1 << 24);
    s_fill(h, 10001, 0);
    assert_int_equal(zkv_watch_history_count(h), 3000);
    s_seen_t all = {0};
    s_scan_all(h, zkv_watch_history_compacted(h), &all);
    assert_int_equal(all.n, 3000);
    assert_int_equal(s_number(all.events[0].value), 7001);
    for (size_t i = 0; i + 1 < all.n; i += (i > 2900 ? 1 : 37)) {
        s_seen_t seen = {0};
        zkv_event_pos_t after = s_pos(all.events[i].revision, all.events[i].seq);
        zkv_event_pos_t next;
        assert_int_equal(zkv_watch_history_scan(h, after, NULL, 1, s_collect, &seen, &next),
                         ZKV_OK);
        assert_int_equal(seen.n, 1);
        assert_ptr_equal(seen.events[0].value.data, all.events[i + 1].value.data);
        s_assert_pos(next, all.events[i + 1].revision, all.events[i + 1].seq);
        /* After the whole revision: the first event of the next one. */
        seen.n = 0;
        after.seq = ALL;
        assert_int_equal(zkv_watch_history_scan(h, after, NULL, 1, s_collect, &seen, &next),
                         ZKV_OK);
        size_t j = i + 1;
        while (j < all.n && all.events[j].revision == after.revision)
            j++;
        assert_int_equal(seen.n, j < all.n);
        if (j < all.n)
            assert_ptr_equal(seen.events[0].value.data, all.events[j].value.data);
        s_seen_free(&seen);
    }
    s_seen_free(&all);
    zkv_watch_history_destroy(&h);
}

/*  The ring must double while it wraps: a big event evicted by bytes leaves the oldest slot
    free, the next append fills slot 0, and the one after finds the ring full. */
static void test_ring_grows_while_wrapped(void **state)
{
    (void) state;
    const size_t unit = OVERHEAD + 2; /* key "k", value "v" */
    zkv_watch_history_t *h = zkv_watch_history_new(64, 20 * unit);
    char big[5 * (OVERHEAD + 2)] = {0};
    memset(big, 'B', 5 * unit - OVERHEAD - 1); /* with key "k": five units */
    s_put(h, 1, 0, "k", big);
    for (uint64_t rev = 2; rev <= 16; rev++)
        s_put(h, rev, 0, "k", "v");
    assert_int_equal(zkv_watch_history_count(h), 16);
    assert_int_equal(zkv_watch_history_bytes(h), 20 * unit);
    s_put(h, 17, 0, "k", "v");
    s_assert_pos(zkv_watch_history_compacted(h), 1, 0);
    for (uint64_t rev = 18; rev <= 21; rev++)
        s_put(h, rev, 0, "k", "v");
    assert_int_equal(zkv_watch_history_count(h), 20);
    S_ASSERT_SCAN(h, s_pos(1, 0), 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160,
                  170, 180, 190, 200, 210);
    S_ASSERT_SCAN(h, s_pos(15, 0), 160, 170, 180, 190, 200, 210);
    zkv_watch_history_destroy(&h);
}

static void test_large_limits_allocate_as_they_go(void **state)
{
    (void) state;
    /* A ring of SIZE_MAX slots made up front would fail at once. */
    zkv_watch_history_t *h = zkv_watch_history_new(SIZE_MAX, SIZE_MAX);
    assert_non_null(h);
    s_fill(h, 5000, 0);
    assert_int_equal(zkv_watch_history_count(h), 5000);
    s_assert_pos(zkv_watch_history_compacted(h), 0, ALL);
    S_ASSERT_SCAN(h, s_pos(1666, 0), 16661, 16662, 16670, 16671);
    zkv_watch_history_destroy(&h);
}

/* ---------------------------------------------------------------- model */

#define ROUNDS 60
#define OPS_PER_ROUND 10000

/*  One event as appended, with its bytes copied. */
typedef struct {
    zkv_event_pos_t pos;
    zkv_event_type_t type;
    uint8_t key[3];
    size_t key_size;
    uint8_t value[40];
    size_t value_size;
    zkv_btree_meta_t meta;
} s_rec_t;

/*  Every event ever appended; the history should keep all[kept..n). */
typedef struct {
    s_rec_t *all;
    size_t n;
    size_t cap;
    size_t kept;
    size_t bytes; /* of all[kept..n) */
    size_t events_max;
    size_t bytes_max;
    zkv_event_pos_t compacted;
} s_model_t;

typedef struct {
    uint64_t rng;
    s_model_t m;
    zkv_watch_history_t *h;
    size_t appends, resets, scans, pages, evicted_all;
} s_run_t;

static size_t s_below(uint64_t *state, size_t n)
{
    return (size_t) (zkv_splitmix64(state) % n);
}

static size_t s_rec_bytes(const s_rec_t *rec)
{
    return rec->key_size + rec->value_size + OVERHEAD;
}

static zkv_event_pos_t s_model_newest(const s_model_t *m)
{
    return m->n > m->kept ? m->all[m->n - 1].pos : m->compacted;
}

static void s_model_forget_oldest(s_model_t *m)
{
    assert_true(m->kept < m->n);
    m->compacted = m->all[m->kept].pos;
    m->bytes -= s_rec_bytes(&m->all[m->kept]);
    m->kept++;
}

/*  The contract, word for word: add it, then evict the oldest until both limits hold. */
static void s_model_append(s_model_t *m, const s_rec_t *rec)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 256;
        m->all = realloc(m->all, m->cap * sizeof *m->all);
        assert_non_null(m->all);
    }
    m->all[m->n++] = *rec;
    m->bytes += s_rec_bytes(rec);
    while (m->n - m->kept > m->events_max || m->bytes > m->bytes_max)
        s_model_forget_oldest(m);
}

static void s_model_reset(s_model_t *m, uint64_t revision)
{
    while (m->kept < m->n)
        s_model_forget_oldest(m);
    m->compacted = s_pos(revision, ALL);
}

static int s_keycmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return (an > bn) - (an < bn);
}

static bool s_model_match(const zkv_key_filter_t *f, const s_rec_t *rec)
{
    if (!f)
        return true;
    int from_start = s_keycmp(rec->key, rec->key_size, f->start.data, f->start.size);
    if (!f->range)
        return from_start == 0;
    return from_start >= 0 &&
           (f->end.size == 0 || s_keycmp(rec->key, rec->key_size, f->end.data, f->end.size) < 0);
}

/*  What a scan should do: ZKV_ECOMPACTED, or the events (indexes into all) it visits and *next. */
static int s_model_scan(const s_model_t *m, zkv_event_pos_t after, const zkv_key_filter_t *f,
                        size_t limit, size_t stop_after, size_t *want, size_t *want_n,
                        zkv_event_pos_t *next)
{
    if (zkv_event_pos_cmp(after, m->compacted) < 0)
        return ZKV_ECOMPACTED;
    zkv_event_pos_t newest = s_model_newest(m);
    *next = zkv_event_pos_cmp(after, newest) > 0 ? after : newest;
    *want_n = 0;
    for (size_t i = m->kept; i < m->n; i++) {
        if (zkv_event_pos_cmp(m->all[i].pos, after) <= 0 || !s_model_match(f, &m->all[i]))
            continue;
        want[(*want_n)++] = i;
        if (*want_n == limit || *want_n == stop_after) {
            *next = m->all[i].pos;
            break;
        }
    }
    return ZKV_OK;
}

/*  0 to 3 bytes from an alphabet with both extremes, so prefixes and 0x00/0xff abound. */
static size_t s_random_key(uint64_t *rng, uint8_t *key)
{
    static const uint8_t alphabet[] = {0x00, 'a', 'b', 0xff};
    size_t size = s_below(rng, 4);
    for (size_t i = 0; i < size; i++)
        key[i] = alphabet[s_below(rng, sizeof alphabet)];
    return size;
}

/*  The next event: in the newest revision, or in a later one. */
static s_rec_t s_random_rec(s_run_t *r)
{
    s_rec_t rec = {0};
    zkv_event_pos_t newest = s_model_newest(&r->m);
    if (newest.seq != ALL && s_below(&r->rng, 2))
        rec.pos = s_pos(newest.revision, newest.seq + 1);
    else
        rec.pos = s_pos(newest.revision + 1 + s_below(&r->rng, 3), 0);
    rec.type = s_below(&r->rng, 5) == 0 ? ZKV_EVENT_DELETE : ZKV_EVENT_PUT;
    rec.key_size = s_random_key(&r->rng, rec.key);
    rec.meta.mod_revision = rec.pos.revision;
    if (rec.type == ZKV_EVENT_PUT) {
        rec.value_size = s_below(&r->rng, sizeof rec.value + 1);
        for (size_t i = 0; i < rec.value_size; i++)
            rec.value[i] = (uint8_t) zkv_splitmix64(&r->rng);
        rec.meta.create_revision = 1 + s_below(&r->rng, rec.pos.revision);
        rec.meta.version = 1 + s_below(&r->rng, 9);
        rec.meta.lease = s_below(&r->rng, 3);
    }
    return rec;
}

static void s_op_append(s_run_t *r)
{
    s_rec_t rec = s_random_rec(r);
    zkv_event_t event = {.type = rec.type,
                         .revision = rec.pos.revision,
                         .seq = rec.pos.seq,
                         .key = {rec.key, rec.key_size},
                         .value = {rec.value, rec.value_size},
                         .meta = rec.meta};
    assert_int_equal(zkv_watch_history_append(r->h, &event), ZKV_OK);
    s_model_append(&r->m, &rec);
    r->appends++;
    r->evicted_all += r->m.kept == r->m.n;
}

static void s_op_reset(s_run_t *r)
{
    uint64_t newest = s_model_newest(&r->m).revision;
    uint64_t shift = s_below(&r->rng, 11);
    uint64_t revision = newest + shift >= 5 ? newest + shift - 5 : 0;
    zkv_watch_history_reset(r->h, revision);
    s_model_reset(&r->m, revision);
    r->resets++;
}

/*  Mostly around the kept window, sometimes exactly on an event or on compacted. */
static zkv_event_pos_t s_random_pos(s_run_t *r)
{
    const s_model_t *m = &r->m;
    size_t dice = s_below(&r->rng, 8);
    if (dice == 0)
        return m->compacted;
    if (dice < 3 && m->n > m->kept)
        return m->all[m->kept + s_below(&r->rng, m->n - m->kept)].pos;
    static const uint32_t seqs[] = {0, 1, 2, 3, ALL};
    uint64_t low = m->compacted.revision > 2 ? m->compacted.revision - 2 : 0;
    uint64_t high = s_model_newest(m).revision + 2;
    return s_pos(low + s_below(&r->rng, (size_t) (high - low + 1)), seqs[s_below(&r->rng, 5)]);
}

/*  NULL (every key), an exact key or a range; start and end hold the keys' bytes. */
static const zkv_key_filter_t *s_random_filter(s_run_t *r, zkv_key_filter_t *f, uint8_t *start,
                                               uint8_t *end)
{
    if (s_below(&r->rng, 6) == 0)
        return NULL;
    f->start = (zkv_bytes_t){start, s_random_key(&r->rng, start)};
    f->end = (zkv_bytes_t){end, s_random_key(&r->rng, end)}; /* ignored when exact */
    f->range = s_below(&r->rng, 2);
    return f;
}

static void s_assert_same_event(const zkv_event_t *e, const s_rec_t *rec)
{
    assert_int_equal(zkv_event_pos_cmp(s_pos(e->revision, e->seq), rec->pos), 0);
    assert_int_equal(e->type, rec->type);
    assert_int_equal(e->key.size, rec->key_size);
    assert_int_equal(e->value.size, rec->value_size);
    if (rec->key_size)
        assert_memory_equal(e->key.data, rec->key, rec->key_size);
    if (rec->value_size)
        assert_memory_equal(e->value.data, rec->value, rec->value_size);
    assert_memory_equal(&e->meta, &rec->meta, sizeof rec->meta);
}

static void s_op_scan(s_run_t *r)
{
    zkv_key_filter_t filter;
    uint8_t start[3], end[3];
    const zkv_key_filter_t *f = s_random_filter(r, &filter, start, end);
    zkv_event_pos_t after = s_random_pos(r);
    size_t limit = s_below(&r->rng, 3) == 0 ? 0 : 1 + s_below(&r->rng, 5);
    size_t stop_after = s_below(&r->rng, 3) == 0 ? 1 + s_below(&r->rng, 4) : 0;
    s_seen_t seen = {.stop_after = stop_after};
    zkv_event_pos_t next = {7, 7}, want_next = {7, 7};
    size_t *want = malloc((r->m.n - r->m.kept + 1) * sizeof *want);
    size_t want_n = 0;
    int rc = zkv_watch_history_scan(r->h, after, f, limit, s_collect, &seen, &next);
    assert_int_equal(rc,
                     s_model_scan(&r->m, after, f, limit, stop_after, want, &want_n, &want_next));
    assert_int_equal(seen.n, want_n);
    for (size_t i = 0; i < want_n; i++)
        s_assert_same_event(&seen.events[i], &r->m.all[want[i]]);
    assert_int_equal(zkv_event_pos_cmp(next, want_next), 0);
    free(want);
    s_seen_free(&seen);
    r->scans++;
}

/*  Page with a limit from a valid position: together, the pages are one unlimited scan. */
static void s_op_page(s_run_t *r)
{
    zkv_key_filter_t filter;
    uint8_t start[3], end[3];
    const zkv_key_filter_t *f = s_random_filter(r, &filter, start, end);
    zkv_event_pos_t at = s_random_pos(r);
    if (zkv_event_pos_cmp(at, r->m.compacted) < 0)
        at = r->m.compacted;
    size_t limit = 1 + s_below(&r->rng, 4);
    size_t *want = malloc((r->m.n - r->m.kept + 1) * sizeof *want);
    size_t want_n = 0;
    zkv_event_pos_t want_next;
    assert_int_equal(s_model_scan(&r->m, at, f, 0, 0, want, &want_n, &want_next), ZKV_OK);
    s_seen_t seen = {0};
    size_t before;
    do {
        before = seen.n;
        assert_int_equal(zkv_watch_history_scan(r->h, at, f, limit, s_collect, &seen, &at), ZKV_OK);
    } while (seen.n - before == limit);
    assert_int_equal(seen.n, want_n);
    for (size_t i = 0; i < want_n; i++)
        s_assert_same_event(&seen.events[i], &r->m.all[want[i]]);
    assert_int_equal(zkv_event_pos_cmp(at, want_next), 0);
    free(want);
    s_seen_free(&seen);
    r->pages++;
}

static void s_assert_state(const s_run_t *r)
{
    const s_model_t *m = &r->m;
    assert_int_equal(zkv_watch_history_count(r->h), m->n - m->kept);
    assert_int_equal(zkv_watch_history_bytes(r->h), m->bytes);
    assert_int_equal(zkv_event_pos_cmp(zkv_watch_history_compacted(r->h), m->compacted), 0);
    assert_int_equal(zkv_event_pos_cmp(zkv_watch_history_newest(r->h), s_model_newest(m)), 0);
}

/*  New limits, often small enough that single events do not fit. */
static void s_new_round(s_run_t *r)
{
    zkv_watch_history_destroy(&r->h);
    free(r->m.all);
    size_t events_max = s_below(&r->rng, 4) == 0 ? 1000 : 1 + s_below(&r->rng, 64);
    size_t bytes_max;
    switch (s_below(&r->rng, 8)) {
    case 0: bytes_max = 1 + s_below(&r->rng, OVERHEAD + 30); break;
    case 1: bytes_max = (size_t) 1 << 20; break;
    default: bytes_max = OVERHEAD + s_below(&r->rng, 40 * (OVERHEAD + 20)); break;
    }
    r->m = (s_model_t){.events_max = events_max, .bytes_max = bytes_max};
    r->m.compacted = s_pos(0, ALL);
    r->h = zkv_watch_history_new(events_max, bytes_max);
    assert_non_null(r->h);
    if (s_below(&r->rng, 2)) {
        uint64_t revision = s_below(&r->rng, 1000);
        zkv_watch_history_reset(r->h, revision);
        s_model_reset(&r->m, revision);
    }
}

static void s_run_op(s_run_t *r)
{
    size_t dice = s_below(&r->rng, 100);
    if (dice < 60)
        s_op_append(r);
    else if (dice < 62)
        s_op_reset(r);
    else if (dice < 97)
        s_op_scan(r);
    else
        s_op_page(r);
    s_assert_state(r);
}

static void test_randomized_against_model(void **state)
{
    (void) state;
    s_run_t r = {.rng = t_seed(SEED_DEFAULT)};
    for (size_t round = 0; round < ROUNDS; round++) {
        s_new_round(&r);
        for (size_t op = 0; op < OPS_PER_ROUND; op++)
            s_run_op(&r);
    }
    printf("[ model    ] %zu appends, %zu resets, %zu scans, %zu paged scans, "
           "%zu appends that left nothing kept\n",
           r.appends, r.resets, r.scans, r.pages, r.evicted_all);
    zkv_watch_history_destroy(&r.h);
    free(r.m.all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_history_is_empty),
        cmocka_unit_test(test_scan_returns_events_after_position),
        cmocka_unit_test(test_positions_with_seq_all),
        cmocka_unit_test(test_resume_in_the_middle_of_a_revision),
        cmocka_unit_test(test_eviction_by_count),
        cmocka_unit_test(test_eviction_by_bytes),
        cmocka_unit_test(test_puts_share_the_tree_records),
        cmocka_unit_test(test_event_bigger_than_bytes_max),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_filter_match),
        cmocka_unit_test(test_filtered_scans),
        cmocka_unit_test(test_limit_and_next_page_through),
        cmocka_unit_test(test_scan_from_recent_positions_of_a_long_history),
        cmocka_unit_test(test_ring_grows_while_wrapped),
        cmocka_unit_test(test_large_limits_allocate_as_they_go),
        cmocka_unit_test(test_randomized_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
