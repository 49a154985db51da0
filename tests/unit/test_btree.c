/*  B+ tree: edge cases of the API, allocation failure, and a long randomized run
    against a simple model (a sorted key universe with a presence bitmap).
    ZKV_SEED=<n> replays the randomized run with another seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "btree.h"
#include "seed_testutil.h"
#include "splitmix.h"
#include "zkv_error.h"

#define SEED_DEFAULT 0x5eed2026u

/* ---------------------------------------------------------------- helpers */

static uint64_t s_rand(uint64_t *state)
{
    return zkv_splitmix64(state);
}

static size_t s_below(uint64_t *state, size_t n)
{
    return (size_t) (s_rand(state) % n);
}

static void s_assert_ok(const zkv_btree_t *tree)
{
    char why[256];
    int rc = zkv_btree_check(tree, why, sizeof why);
    if (rc != ZKV_OK)
        fail_msg("zkv_btree_check: %s", why);
}

static int s_keycmp(const void *a, size_t an, const void *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return (an > bn) - (an < bn);
}

static void s_put(zkv_btree_t *tree, const char *key, const char *value)
{
    bool replaced = true;
    assert_int_equal(
        zkv_btree_put(tree, key, strlen(key), value, strlen(value), NULL, &replaced, NULL, NULL),
        ZKV_OK);
    assert_false(replaced);
}

static void s_assert_value(const zkv_btree_t *tree, const void *key, size_t key_size,
                           const void *value, size_t value_size)
{
    zkv_bytes_t got;
    assert_int_equal(zkv_btree_get(tree, key, key_size, &got), ZKV_OK);
    assert_int_equal(got.size, value_size);
    if (value_size > 0)
        assert_memory_equal(got.data, value, value_size);
}

/*  Scan results, as borrowed views; valid until the tree changes. */
typedef struct {
    zkv_bytes_t *keys;
    zkv_bytes_t *values;
    size_t n;
    size_t cap;
    size_t stop_after; /* 0: never stop early */
} s_seen_t;

static bool s_collect(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta, void *arg)
{
    (void) meta;
    s_seen_t *seen = arg;
    if (seen->n == seen->cap) {
        seen->cap = seen->cap ? seen->cap * 2 : 64;
        seen->keys = realloc(seen->keys, seen->cap * sizeof(zkv_bytes_t));
        seen->values = realloc(seen->values, seen->cap * sizeof(zkv_bytes_t));
        assert_non_null(seen->keys);
        assert_non_null(seen->values);
    }
    seen->keys[seen->n] = key;
    seen->values[seen->n] = value;
    seen->n++;
    return seen->stop_after == 0 || seen->n < seen->stop_after;
}

static void s_seen_free(s_seen_t *seen)
{
    free(seen->keys);
    free(seen->values);
    memset(seen, 0, sizeof *seen);
}

static void s_assert_key(zkv_bytes_t got, const char *want)
{
    assert_int_equal(got.size, strlen(want));
    assert_memory_equal(got.data, want, got.size);
}

/*  Run a range scan and compare the keys, in order, with want (NULL-terminated). */
static void s_assert_range(const zkv_btree_t *tree, const char *start, const char *end,
                           bool reverse, size_t limit, const char *const *want)
{
    s_seen_t seen = {0};
    size_t n = zkv_btree_range(tree, start, start ? strlen(start) : 0, end, end ? strlen(end) : 0,
                               reverse, limit, s_collect, &seen);
    size_t want_n = 0;
    while (want[want_n] != NULL)
        want_n++;
    assert_int_equal(n, want_n);
    assert_int_equal(seen.n, want_n);
    for (size_t i = 0; i < want_n; i++)
        s_assert_key(seen.keys[i], want[i]);
    s_seen_free(&seen);
}

/*  Keys "k00000000".. in ascending order, enough to make a tree 2-3 levels high. */
static void s_key_of(size_t i, char *buf, size_t size)
{
    snprintf(buf, size, "k%08zu", i);
}

/* ------------------------------------------------------------ edge cases */

static void test_empty_tree(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    assert_non_null(tree);
    assert_int_equal(zkv_btree_count(tree), 0);
    assert_true(zkv_btree_memory(tree) > 0);
    s_assert_ok(tree);
    zkv_bytes_t v;
    assert_int_equal(zkv_btree_get(tree, "a", 1, &v), ZKV_ENOTFOUND);
    assert_int_equal(zkv_btree_get(tree, NULL, 0, &v), ZKV_ENOTFOUND);
    assert_int_equal(zkv_btree_delete(tree, "a", 1, NULL, NULL), ZKV_ENOTFOUND);
    const char *none[] = {NULL};
    s_assert_range(tree, NULL, NULL, false, 0, none);
    s_assert_range(tree, NULL, NULL, true, 0, none);
    assert_int_equal(zkv_btree_prefix(tree, "", 0, false, 0, NULL, NULL), 0);
    zkv_btree_iter_t *it = zkv_btree_iter_new(tree);
    assert_non_null(it);
    assert_false(zkv_btree_iter_valid(it));
    zkv_btree_iter_first(it);
    assert_false(zkv_btree_iter_valid(it));
    zkv_btree_iter_last(it);
    assert_false(zkv_btree_iter_valid(it));
    zkv_btree_iter_seek(it, "", 0);
    assert_false(zkv_btree_iter_valid(it));
    zkv_btree_iter_seek_before(it, "\xff", 1);
    assert_false(zkv_btree_iter_valid(it));
    zkv_btree_iter_destroy(&it);
    assert_null(it);
    zkv_btree_destroy(&tree);
    assert_null(tree);
    zkv_btree_destroy(&tree);
}

static void test_put_get_replace_old_value(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    bool replaced = true;
    void *old = (void *) 1;
    size_t old_size = 99;
    assert_int_equal(zkv_btree_put(tree, "k", 1, "one", 3, NULL, &replaced, &old, &old_size),
                     ZKV_OK);
    assert_false(replaced);
    assert_null(old);
    assert_int_equal(old_size, 0);
    s_assert_value(tree, "k", 1, "one", 3);

    /* same size: in place */
    assert_int_equal(zkv_btree_put(tree, "k", 1, "two", 3, NULL, &replaced, &old, &old_size),
                     ZKV_OK);
    assert_true(replaced);
    assert_int_equal(old_size, 3);
    assert_memory_equal(old, "one", 3);
    free(old);
    s_assert_value(tree, "k", 1, "two", 3);

    /* other size: a new record */
    assert_int_equal(zkv_btree_put(tree, "k", 1, "three", 5, NULL, &replaced, &old, &old_size),
                     ZKV_OK);
    assert_true(replaced);
    assert_int_equal(old_size, 3);
    assert_memory_equal(old, "two", 3);
    free(old);
    s_assert_value(tree, "k", 1, "three", 5);

    /* a value borrowed from the tree itself may be put back */
    zkv_bytes_t v;
    assert_int_equal(zkv_btree_get(tree, "k", 1, &v), ZKV_OK);
    assert_int_equal(zkv_btree_put(tree, "k", 1, v.data, v.size, NULL, NULL, NULL, NULL), ZKV_OK);
    s_assert_value(tree, "k", 1, "three", 5);
    assert_int_equal(zkv_btree_get(tree, "k", 1, &v), ZKV_OK);
    assert_int_equal(zkv_btree_put(tree, "k", 1, v.data + 1, 2, NULL, NULL, NULL, NULL), ZKV_OK);
    s_assert_value(tree, "k", 1, "hr", 2);

    /* delete hands back the old value */
    assert_int_equal(zkv_btree_delete(tree, "k", 1, &old, &old_size), ZKV_OK);
    assert_int_equal(old_size, 2);
    assert_memory_equal(old, "hr", 2);
    free(old);
    assert_int_equal(zkv_btree_delete(tree, "k", 1, &old, &old_size), ZKV_ENOTFOUND);
    assert_null(old);
    assert_int_equal(old_size, 0);
    assert_int_equal(zkv_btree_count(tree), 0);
    s_assert_ok(tree);
    zkv_btree_destroy(&tree);
}

static void test_empty_key_and_value(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    size_t base = zkv_btree_memory(tree);
    bool replaced;
    void *old;
    size_t old_size;
    assert_int_equal(zkv_btree_put(tree, NULL, 0, NULL, 0, NULL, &replaced, NULL, NULL), ZKV_OK);
    assert_false(replaced);
    s_put(tree, "a", "");
    s_assert_value(tree, "", 0, NULL, 0);
    s_assert_value(tree, "a", 1, NULL, 0);
    /* the old value of an empty value is a non-NULL, empty copy */
    assert_int_equal(zkv_btree_put(tree, "", 0, "x", 1, NULL, &replaced, &old, &old_size), ZKV_OK);
    assert_true(replaced);
    assert_non_null(old);
    assert_int_equal(old_size, 0);
    free(old);
    /* the empty key sorts first */
    zkv_btree_iter_t *it = zkv_btree_iter_new(tree);
    zkv_btree_iter_first(it);
    assert_int_equal(zkv_btree_iter_key(it).size, 0);
    assert_int_equal(zkv_btree_iter_value(it).size, 1);
    zkv_btree_iter_seek_before(it, "", 0);
    assert_false(zkv_btree_iter_valid(it));
    zkv_btree_iter_destroy(&it);
    assert_int_equal(zkv_btree_delete(tree, "", 0, NULL, NULL), ZKV_OK);
    assert_int_equal(zkv_btree_delete(tree, "a", 1, &old, &old_size), ZKV_OK);
    assert_non_null(old);
    assert_int_equal(old_size, 0);
    free(old);
    assert_int_equal(zkv_btree_memory(tree), base);
    s_assert_ok(tree);
    zkv_btree_destroy(&tree);
}

static void test_binary_key_order(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    /* inserted out of order; the expected order is memcmp, then length */
    static const struct {
        const char *key;
        size_t size;
    } keys[] = {
        {"b", 1},
        {"a\0", 2},
        {"a", 1},
        {"\0", 1},
        {"", 0},
        {"a\0\0", 3},
        {"a\0\1", 3},
        {"\xff", 1},
        {"abcdefgh", 8},
        {"abcdefgh\0", 9},
        {"abcdefg", 7},
        {"abcdefgi", 8},
        {"abcdefgh\xff", 9},
    };
    size_t n = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(
            zkv_btree_put(tree, keys[i].key, keys[i].size, &i, sizeof i, NULL, NULL, NULL, NULL),
            ZKV_OK);
    assert_int_equal(zkv_btree_count(tree), n);
    s_seen_t seen = {0};
    assert_int_equal(zkv_btree_range(tree, NULL, 0, NULL, 0, false, 0, s_collect, &seen), n);
    for (size_t i = 1; i < n; i++)
        assert_true(s_keycmp(seen.keys[i - 1].data, seen.keys[i - 1].size, seen.keys[i].data,
                             seen.keys[i].size) < 0);
    assert_int_equal(seen.keys[0].size, 0);
    assert_int_equal(seen.keys[1].size, 1); /* "\0" */
    assert_int_equal(seen.keys[2].size, 1); /* "a" */
    assert_int_equal(seen.keys[3].size, 2); /* "a\0" */
    s_seen_free(&seen);
    for (size_t i = 0; i < n; i++)
        s_assert_value(tree, keys[i].key, keys[i].size, &i, sizeof i);
    assert_int_equal(zkv_btree_get(tree, "a\0\0\0", 4, NULL), ZKV_ENOTFOUND);
    assert_int_equal(zkv_btree_get(tree, "abcdefgh\0\0", 10, NULL), ZKV_ENOTFOUND);
    s_assert_ok(tree);
    zkv_btree_destroy(&tree);
}

static void test_size_limits(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    uint8_t *key = calloc(1, ZKV_KEY_SIZE_MAX + 1);
    uint8_t *value = malloc(ZKV_VALUE_SIZE_MAX + 1);
    assert_non_null(key);
    assert_non_null(value);
    memset(key, 'k', ZKV_KEY_SIZE_MAX + 1);
    for (size_t i = 0; i <= ZKV_VALUE_SIZE_MAX; i++)
        value[i] = (uint8_t) (i * 31 + 7);
    s_put(tree, "small", "v");
    size_t count = zkv_btree_count(tree);
    size_t memory = zkv_btree_memory(tree);
    bool replaced = true;

    assert_int_equal(
        zkv_btree_put(tree, key, ZKV_KEY_SIZE_MAX + 1, "v", 1, NULL, &replaced, NULL, NULL),
        ZKV_EKEYSIZE);
    assert_false(replaced);
    assert_int_equal(
        zkv_btree_put(tree, "big", 3, value, ZKV_VALUE_SIZE_MAX + 1, NULL, NULL, NULL, NULL),
        ZKV_EVALSIZE);
    assert_int_equal(
        zkv_btree_put(tree, "small", 5, value, ZKV_VALUE_SIZE_MAX + 1, NULL, &replaced, NULL, NULL),
        ZKV_EVALSIZE);
    assert_false(replaced);
    assert_int_equal(zkv_btree_count(tree), count);
    assert_int_equal(zkv_btree_memory(tree), memory);
    s_assert_value(tree, "small", 5, "v", 1);
    assert_int_equal(zkv_btree_get(tree, key, ZKV_KEY_SIZE_MAX + 1, NULL), ZKV_ENOTFOUND);
    assert_int_equal(zkv_btree_delete(tree, key, ZKV_KEY_SIZE_MAX + 1, NULL, NULL), ZKV_ENOTFOUND);
    assert_int_equal(zkv_btree_prefix(tree, key, ZKV_KEY_SIZE_MAX + 1, false, 0, NULL, NULL), 0);

    assert_int_equal(zkv_btree_put(tree, key, ZKV_KEY_SIZE_MAX, value, ZKV_VALUE_SIZE_MAX, NULL,
                                   NULL, NULL, NULL),
                     ZKV_OK);
    s_assert_value(tree, key, ZKV_KEY_SIZE_MAX, value, ZKV_VALUE_SIZE_MAX);
    /* beside key and value: the key's size, the holders' count, then varints of value size
       and flags (4 bytes for 2^23), create_revision 0 and version 0 (a byte each) */
    assert_int_equal(zkv_btree_memory(tree),
                     memory + ZKV_KEY_SIZE_MAX + ZKV_VALUE_SIZE_MAX + 2 + 1 + 4 + 1 + 1);
    /* a prefix as long as the longest key finds it; 0xff-padded prefixes too */
    assert_int_equal(zkv_btree_prefix(tree, key, ZKV_KEY_SIZE_MAX, true, 0, NULL, NULL), 1);
    assert_int_equal(zkv_btree_prefix(tree, key, 100, false, 0, NULL, NULL), 1);
    s_assert_ok(tree);
    free(key);
    free(value);
    zkv_btree_destroy(&tree);
}

static void test_range_edges(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    const char *keys[] = {"b", "d", "f", "h"};
    for (size_t i = 0; i < 4; i++)
        s_put(tree, keys[i], keys[i]);
    const char *none[] = {NULL};
    const char *all[] = {"b", "d", "f", "h", NULL};
    const char *all_rev[] = {"h", "f", "d", "b", NULL};
    const char *df[] = {"d", "f", NULL};
    const char *fd[] = {"f", "d", NULL};
    const char *b[] = {"b", NULL};
    const char *h[] = {"h", NULL};
    s_assert_range(tree, NULL, NULL, false, 0, all);
    s_assert_range(tree, NULL, NULL, true, 0, all_rev);
    s_assert_range(tree, "c", "g", false, 0, df);
    s_assert_range(tree, "d", "h", false, 0, (const char *[]){"d", "f", NULL});
    s_assert_range(tree, "c", "g", true, 0, fd);
    s_assert_range(tree, "d", "f", true, 0, (const char *[]){"d", NULL});
    s_assert_range(tree, "c", "d", false, 0, none); /* empty range */
    s_assert_range(tree, "c", "d", true, 0, none);
    s_assert_range(tree, "d", "d", false, 0, none); /* start == end */
    s_assert_range(tree, "f", "c", false, 0, none); /* start > end */
    s_assert_range(tree, "f", "c", true, 0, none);
    s_assert_range(tree, "i", NULL, false, 0, none);
    s_assert_range(tree, NULL, "b", true, 0, none);
    s_assert_range(tree, NULL, "a", false, 0, none);
    s_assert_range(tree, NULL, NULL, false, 1, b); /* limit 1 */
    s_assert_range(tree, NULL, NULL, true, 1, h);
    s_assert_range(tree, "", NULL, false, 0, all); /* the empty key is the smallest */
    s_assert_range(tree, "a", "z", false, 10, all);
    s_assert_range(tree, "a", "z", true, 3, (const char *[]){"h", "f", "d", NULL});
    /* visit returning false stops the scan; that entry counts */
    s_seen_t seen = {.stop_after = 2};
    assert_int_equal(zkv_btree_range(tree, NULL, 0, NULL, 0, false, 0, s_collect, &seen), 2);
    s_seen_free(&seen);
    assert_int_equal(zkv_btree_range(tree, NULL, 0, NULL, 0, false, 0, NULL, NULL), 4);
    zkv_btree_destroy(&tree);
}

static void test_prefix_scans(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    const char *keys[] = {"a", "ab", "abc", "abd", "ac", "b", "\xff", "\xff\xff", "\xff\xff\x01"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        s_put(tree, keys[i], "v");
    s_seen_t seen = {0};
    assert_int_equal(zkv_btree_prefix(tree, "ab", 2, false, 0, s_collect, &seen), 3);
    s_assert_key(seen.keys[0], "ab");
    s_assert_key(seen.keys[2], "abd");
    s_seen_free(&seen);
    assert_int_equal(zkv_btree_prefix(tree, "ab", 2, true, 0, s_collect, &seen), 3);
    s_assert_key(seen.keys[0], "abd");
    s_assert_key(seen.keys[2], "ab");
    s_seen_free(&seen);
    assert_int_equal(zkv_btree_prefix(tree, "ab", 2, true, 1, s_collect, &seen), 1);
    s_assert_key(seen.keys[0], "abd");
    s_seen_free(&seen);
    assert_int_equal(zkv_btree_prefix(tree, "ab", 2, false, 0, NULL, NULL), 3);
    assert_int_equal(zkv_btree_prefix(tree, "abz", 3, false, 0, NULL, NULL), 0); /* no match */
    assert_int_equal(zkv_btree_prefix(tree, "abz", 3, true, 0, NULL, NULL), 0);
    assert_int_equal(zkv_btree_prefix(tree, "0", 1, true, 0, NULL, NULL), 0);
    assert_int_equal(zkv_btree_prefix(tree, "a", 1, false, 0, NULL, NULL), 5);
    assert_int_equal(zkv_btree_prefix(tree, "a", 1, false, 2, NULL, NULL), 2);
    assert_int_equal(zkv_btree_prefix(tree, "", 0, false, 0, NULL, NULL), 9);
    assert_int_equal(zkv_btree_prefix(tree, NULL, 0, true, 0, NULL, NULL), 9);
    /* prefixes ending in 0xff have no simple successor */
    assert_int_equal(zkv_btree_prefix(tree, "\xff", 1, false, 0, NULL, NULL), 3);
    assert_int_equal(zkv_btree_prefix(tree, "\xff\xff", 2, true, 0, s_collect, &seen), 2);
    s_assert_key(seen.keys[0], "\xff\xff\x01");
    s_assert_key(seen.keys[1], "\xff\xff");
    s_seen_free(&seen);
    zkv_btree_destroy(&tree);
}

static void test_iter_boundaries(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    enum { N = 5000 }; /* many leaves */
    char key[32];
    for (size_t i = 0; i < N; i++) {
        s_key_of(i * 2 + 1, key, sizeof key); /* odd numbers only */
        s_put(tree, key, key);
    }
    s_assert_ok(tree);
    zkv_btree_iter_t *it = zkv_btree_iter_new(tree);
    char want[32];

    zkv_btree_iter_seek(it, "", 0); /* before everything */
    s_key_of(1, want, sizeof want);
    s_assert_key(zkv_btree_iter_key(it), want);
    zkv_btree_iter_prev(it);
    assert_false(zkv_btree_iter_valid(it));

    zkv_btree_iter_seek(it, "z", 1); /* past everything */
    assert_false(zkv_btree_iter_valid(it));
    zkv_btree_iter_seek_before(it, "z", 1);
    s_key_of(2 * N - 1, want, sizeof want);
    s_assert_key(zkv_btree_iter_key(it), want);
    zkv_btree_iter_next(it);
    assert_false(zkv_btree_iter_valid(it));

    s_key_of(1, key, sizeof key); /* exactly the first key */
    zkv_btree_iter_seek_before(it, key, strlen(key));
    assert_false(zkv_btree_iter_valid(it));
    zkv_btree_iter_seek(it, key, strlen(key));
    s_assert_key(zkv_btree_iter_key(it), key);

    /* every gap and every key, both ways, across leaf boundaries */
    for (size_t i = 2; i < 2 * N; i += 37) {
        s_key_of(i, key, sizeof key);
        zkv_btree_iter_seek(it, key, strlen(key));
        s_key_of(i % 2 ? i : i + 1, want, sizeof want);
        s_assert_key(zkv_btree_iter_key(it), want);
        zkv_btree_iter_seek_before(it, key, strlen(key));
        s_key_of(i % 2 ? i - 2 : i - 1, want, sizeof want);
        s_assert_key(zkv_btree_iter_key(it), want);
    }

    /* a full walk each way visits every key once, in order */
    size_t n = 0;
    for (zkv_btree_iter_first(it); zkv_btree_iter_valid(it); zkv_btree_iter_next(it)) {
        s_key_of(2 * n + 1, want, sizeof want);
        s_assert_key(zkv_btree_iter_key(it), want);
        s_assert_key(zkv_btree_iter_value(it), want);
        n++;
    }
    assert_int_equal(n, N);
    n = 0;
    for (zkv_btree_iter_last(it); zkv_btree_iter_valid(it); zkv_btree_iter_prev(it)) {
        s_key_of(2 * (N - 1 - n) + 1, want, sizeof want);
        s_assert_key(zkv_btree_iter_key(it), want);
        n++;
    }
    assert_int_equal(n, N);
    zkv_btree_iter_destroy(&it);
    zkv_btree_destroy(&tree);
}

/*  Ascending, descending and interleaved insert orders, then delete all in
    another order: the tree ends empty, checked, at its base memory. */
static void s_fill_and_drain(size_t n, size_t insert_stride, size_t delete_stride)
{
    zkv_btree_t *tree = zkv_btree_new();
    size_t base = zkv_btree_memory(tree);
    char key[32];
    for (size_t i = 0; i < n; i++) {
        s_key_of((i * insert_stride) % n, key, sizeof key);
        s_put(tree, key, "value");
        if (i % 997 == 0)
            s_assert_ok(tree);
    }
    assert_int_equal(zkv_btree_count(tree), n);
    s_assert_ok(tree);
    for (size_t i = 0; i < n; i++) {
        s_key_of((i * delete_stride) % n, key, sizeof key);
        assert_int_equal(zkv_btree_delete(tree, key, strlen(key), NULL, NULL), ZKV_OK);
        if (i % 997 == 0)
            s_assert_ok(tree);
    }
    assert_int_equal(zkv_btree_count(tree), 0);
    assert_int_equal(zkv_btree_memory(tree), base);
    s_assert_ok(tree);
    zkv_btree_destroy(&tree);
}

static void test_delete_everything(void **state)
{
    (void) state;
    enum { N = 40000 };                /* three levels */
    s_fill_and_drain(N, 1, 1);         /* ascending, ascending */
    s_fill_and_drain(N, N - 1, 1);     /* descending, ascending */
    s_fill_and_drain(N, 1, N - 1);     /* ascending, descending */
    s_fill_and_drain(N, 7919, 104729); /* scattered (both strides prime to N) */
}

/*  With an allocation budget of b the insert must fail until b covers the
    record and every node a split needs; each failure leaves the tree as it was. */
static void test_enomem_leaves_tree_unchanged(void **state)
{
    (void) state;
    enum { N = 20000 }; /* past the first split of a full root inner node */
    zkv_btree_t *tree = zkv_btree_new();
    char key[32];
    size_t most = 0;
    for (size_t i = 0; i < N; i++) {
        s_key_of(i, key, sizeof key);
        size_t count = zkv_btree_count(tree), memory = zkv_btree_memory(tree);
        for (size_t budget = 0;; budget++) {
            zkv_btree_set_alloc_budget(tree, budget);
            int rc = zkv_btree_put(tree, key, strlen(key), "v", 1, NULL, NULL, NULL, NULL);
            if (rc == ZKV_OK) {
                most = budget > most ? budget : most;
                break;
            }
            assert_int_equal(rc, ZKV_ENOMEM);
            assert_int_equal(zkv_btree_count(tree), count);
            assert_int_equal(zkv_btree_memory(tree), memory);
            assert_int_equal(zkv_btree_get(tree, key, strlen(key), NULL), ZKV_ENOTFOUND);
            if (budget > 0)
                s_assert_ok(tree);
        }
    }
    /* record, leaf, inner node, new root */
    assert_int_equal(most, 4);
    s_assert_ok(tree);

    /* replace: the old-value copy and a resized record may each fail */
    void *old = NULL;
    size_t old_size = 0;
    s_key_of(5, key, sizeof key);
    zkv_btree_set_alloc_budget(tree, 0);
    assert_int_equal(zkv_btree_put(tree, key, strlen(key), "w", 1, NULL, NULL, &old, &old_size),
                     ZKV_ENOMEM);
    assert_null(old);
    assert_int_equal(zkv_btree_put(tree, key, strlen(key), "w", 1, NULL, NULL, NULL, NULL), ZKV_OK);
    zkv_btree_set_alloc_budget(tree, 1);
    assert_int_equal(zkv_btree_put(tree, key, strlen(key), "ww", 2, NULL, NULL, &old, &old_size),
                     ZKV_ENOMEM);
    assert_null(old);
    s_assert_value(tree, key, strlen(key), "w", 1);
    zkv_btree_set_alloc_budget(tree, 2);
    assert_int_equal(zkv_btree_put(tree, key, strlen(key), "ww", 2, NULL, NULL, &old, &old_size),
                     ZKV_OK);
    assert_memory_equal(old, "w", 1);
    free(old);

    /* delete allocates only for the old value, never to rebalance */
    zkv_btree_set_alloc_budget(tree, 0);
    assert_int_equal(zkv_btree_delete(tree, key, strlen(key), &old, &old_size), ZKV_ENOMEM);
    s_assert_value(tree, key, strlen(key), "ww", 2);
    for (size_t i = 0; i < N; i++) {
        s_key_of(i, key, sizeof key);
        assert_int_equal(zkv_btree_delete(tree, key, strlen(key), NULL, NULL), ZKV_OK);
        if (i % 500 == 0)
            s_assert_ok(tree);
    }
    zkv_btree_set_alloc_budget(tree, SIZE_MAX);
    assert_int_equal(zkv_btree_count(tree), 0);
    s_assert_ok(tree);
    zkv_btree_destroy(&tree);
}

/*  Memory moves by exactly a record's size while no node splits or merges, and
    the node overhead stays under 64 bytes a key even with half-full leaves. */
static void test_memory_accounting(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    size_t base = zkv_btree_memory(tree);
    /* key size, holders; value size and flags, create 0, version 0 */
    const size_t header = 2 + 1 + 3;
    char key[32];
    for (size_t i = 0; i < 100; i++) { /* one leaf: no node allocated */
        size_t before = zkv_btree_memory(tree);
        s_key_of(i, key, sizeof key);
        assert_int_equal(zkv_btree_put(tree, key, strlen(key), key, i % 7, NULL, NULL, NULL, NULL),
                         ZKV_OK);
        assert_int_equal(zkv_btree_memory(tree), before + header + strlen(key) + i % 7);
    }
    size_t before = zkv_btree_memory(tree);
    s_key_of(3, key, sizeof key);
    assert_int_equal(
        zkv_btree_put(tree, key, strlen(key), "0123456789", 10, NULL, NULL, NULL, NULL), ZKV_OK);
    assert_int_equal(zkv_btree_memory(tree), before + 10 - 3);
    assert_int_equal(zkv_btree_delete(tree, key, strlen(key), NULL, NULL), ZKV_OK);
    assert_int_equal(zkv_btree_memory(tree), before - 3 - header - strlen(key));
    zkv_btree_destroy(&tree);

    /* A load in key order, either way, fills its leaves: under 20 bytes of nodes a key
       (a leaf is 16 bytes an entry), where splits alone leave them half full (33). */
    enum { N = 50000 };
    for (int descending = 0; descending < 2; descending++) {
        tree = zkv_btree_new();
        size_t payload = 0;
        for (size_t i = 0; i < N; i++) {
            s_key_of(descending ? N - 1 - i : i, key, sizeof key);
            assert_int_equal(zkv_btree_put(tree, key, strlen(key), key, 16, NULL, NULL, NULL, NULL),
                             ZKV_OK);
            payload += strlen(key) + 16 + header;
        }
        size_t overhead = (zkv_btree_memory(tree) - base - payload) / N;
        assert_true(overhead < 20);
        s_assert_ok(tree);
        zkv_btree_destroy(&tree);
    }
}

static void s_assert_meta(const zkv_btree_meta_t *got, const zkv_btree_meta_t *want)
{
    assert_int_equal(got->create_revision, want->create_revision);
    assert_int_equal(got->mod_revision, want->mod_revision);
    assert_int_equal(got->version, want->version);
    assert_int_equal(got->lease, want->lease);
}

static bool s_meta_visit(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                         void *arg)
{
    (void) key;
    (void) value;
    *(zkv_btree_meta_t *) arg = *meta;
    return false;
}

/*  Every metadata a record can hold comes back through get, iterator, scan
    and view, whatever the value's size, also after a replace in place or by
    a record of another size; a key written once below revision 2^21 costs 7
    bytes beside its key and value. */
static void test_meta_round_trip(void **state)
{
    (void) state;
    const zkv_btree_meta_t metas[] = {
        {0, 0, 0, 0},
        {1, 1, 1, 0},
        {1000000, 1000000, 1, 0},
        {5, 9, 3, 0},
        {9, 5, 1, 7}, /* mod below create: kept as given */
        {UINT64_MAX, UINT64_MAX, 1, UINT64_MAX},
        {UINT64_MAX, 0, UINT64_MAX, 1},
    };
    const size_t sizes[] = {0, 1, 15, 16, 255, 256, 2047, 2048, ZKV_VALUE_SIZE_MAX};
    const size_t n_metas = sizeof metas / sizeof metas[0], n_sizes = sizeof sizes / sizeof sizes[0];
    uint8_t *value = malloc(ZKV_VALUE_SIZE_MAX);
    assert_non_null(value);
    for (size_t i = 0; i < ZKV_VALUE_SIZE_MAX; i++)
        value[i] = (uint8_t) (i * 31 + 7);
    zkv_btree_t *tree = zkv_btree_new();
    for (size_t round = 0; round < n_metas * n_sizes * 2; round++) {
        const zkv_btree_meta_t *want = &metas[round % n_metas];
        size_t size = sizes[(round / n_metas) % n_sizes];
        bool with_view = round % 3 == 0;
        zkv_btree_view_t *view = with_view ? zkv_btree_view_new(tree) : NULL;
        assert_int_equal(zkv_btree_put(tree, "k", 1, value, size, want, NULL, NULL, NULL), ZKV_OK);
        zkv_bytes_t got;
        zkv_btree_meta_t meta;
        assert_int_equal(zkv_btree_get_meta(tree, "k", 1, &got, &meta), ZKV_OK);
        s_assert_meta(&meta, want);
        assert_int_equal(got.size, size);
        if (size > 0)
            assert_memory_equal(got.data, value, size);
        zkv_btree_iter_t *it = zkv_btree_iter_new(tree);
        zkv_btree_iter_first(it);
        meta = zkv_btree_iter_meta(it);
        s_assert_meta(&meta, want);
        assert_int_equal(zkv_btree_iter_value(it).size, size);
        zkv_btree_iter_destroy(&it);
        memset(&meta, 0xa5, sizeof meta);
        assert_int_equal(zkv_btree_range(tree, NULL, 0, NULL, 0, false, 0, s_meta_visit, &meta), 1);
        s_assert_meta(&meta, want);
        zkv_btree_view_release(&view);
        view = zkv_btree_view_new(tree);
        memset(&meta, 0xa5, sizeof meta);
        assert_int_equal(zkv_btree_view_each(view, s_meta_visit, &meta), 1);
        s_assert_meta(&meta, want);
        zkv_btree_view_release(&view);
        s_assert_ok(tree);
    }
    zkv_btree_destroy(&tree);

    tree = zkv_btree_new();
    size_t before = zkv_btree_memory(tree);
    const zkv_btree_meta_t once = {(1u << 21) - 1, (1u << 21) - 1, 1, 0};
    assert_int_equal(
        zkv_btree_put(tree, "0123456789abcdef", 16, value, 256, &once, NULL, NULL, NULL), ZKV_OK);
    assert_int_equal(zkv_btree_memory(tree) - before, 16 + 256 + 8);
    zkv_btree_destroy(&tree);
    free(value);
}

/* ---------------------------------------------------- randomized vs model */

enum { UNIVERSE = 60000, OPS = 1000000, CHECK_EVERY = 1000, COMPARE_EVERY = 100000 };

typedef struct {
    uint8_t *data;
    size_t size;
} s_buf_t;

typedef struct {
    s_buf_t *keys; /* sorted, distinct */
    size_t n;
    uint64_t *present; /* bitmap over keys */
    s_buf_t *values;
    size_t count;
} s_model_t;

/*  Keys with shared prefixes, embedded zero bytes, the empty key and long keys. */
static size_t s_gen_key(uint64_t *rng, uint8_t *buf)
{
    static const uint8_t alphabet[] = {0x00, 0x01, 'a', 'b', 0xfe, 0xff};
    size_t size = 0;
    switch (s_below(rng, 6)) {
    case 0:
        size = s_below(rng, 13);
        for (size_t i = 0; i < size; i++)
            buf[i] = alphabet[s_below(rng, sizeof alphabet)];
        break;
    case 1: size = (size_t) sprintf((char *) buf, "user/%zu", s_below(rng, 100000000)); break;
    case 2:
    case 3:
        size = 8 + s_below(rng, 17);
        for (size_t i = 0; i < size; i++)
            buf[i] = (uint8_t) s_rand(rng);
        break;
    case 4:
        memcpy(buf, "longlonglonglong", 16);
        size = 16 + s_below(rng, 300);
        for (size_t i = 16; i < size; i++)
            buf[i] = alphabet[s_below(rng, 3)];
        break;
    default:
        size = 8 + s_below(rng, 5);
        memset(buf, 0, 8);
        for (size_t i = 8; i < size; i++)
            buf[i] = alphabet[s_below(rng, sizeof alphabet)];
        break;
    }
    return size;
}

static int s_buf_cmp(const void *a, const void *b)
{
    const s_buf_t *x = a, *y = b;
    return s_keycmp(x->data, x->size, y->data, y->size);
}

static void s_model_init(s_model_t *m, uint64_t *rng)
{
    uint8_t buf[512];
    m->keys = calloc(UNIVERSE, sizeof(s_buf_t));
    for (size_t i = 0; i < UNIVERSE; i++) {
        m->keys[i].size = s_gen_key(rng, buf);
        m->keys[i].data = malloc(m->keys[i].size + 1);
        memcpy(m->keys[i].data, buf, m->keys[i].size);
    }
    qsort(m->keys, UNIVERSE, sizeof(s_buf_t), s_buf_cmp);
    m->n = 0;
    for (size_t i = 0; i < UNIVERSE; i++) {
        if (m->n > 0 && s_buf_cmp(&m->keys[m->n - 1], &m->keys[i]) == 0)
            free(m->keys[i].data);
        else
            m->keys[m->n++] = m->keys[i];
    }
    m->present = calloc((m->n + 63) / 64, sizeof(uint64_t));
    m->values = calloc(m->n, sizeof(s_buf_t));
    m->count = 0;
}

static void s_model_free(s_model_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->keys[i].data);
        free(m->values[i].data);
    }
    free(m->keys);
    free(m->values);
    free(m->present);
}

static bool s_has(const s_model_t *m, size_t id)
{
    return (m->present[id / 64] >> (id % 64)) & 1;
}

/*  First present id >= id, or m->n. */
static size_t s_next_present(const s_model_t *m, size_t id)
{
    while (id < m->n) {
        uint64_t w = m->present[id / 64] >> (id % 64);
        if (w != 0)
            return id + (size_t) __builtin_ctzll(w);
        id = (id / 64 + 1) * 64;
    }
    return m->n;
}

/*  Last present id <= id, or SIZE_MAX. */
static size_t s_prev_present(const s_model_t *m, size_t id)
{
    while (id != SIZE_MAX) {
        uint64_t w = m->present[id / 64] << (63 - id % 64);
        if (w != 0)
            return id - (size_t) __builtin_clzll(w);
        id = (id / 64) * 64 - 1;
    }
    return SIZE_MAX;
}

/*  First id whose key is >= key. */
static size_t s_lower(const s_model_t *m, const uint8_t *key, size_t size)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s_keycmp(m->keys[mid].data, m->keys[mid].size, key, size) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*  First id past the block of keys that start with prefix. */
static size_t s_prefix_end(const s_model_t *m, const uint8_t *prefix, size_t size)
{
    size_t lo = s_lower(m, prefix, size), hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const s_buf_t *k = &m->keys[mid];
        if (k->size >= size && (size == 0 || memcmp(k->data, prefix, size) == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void s_model_set(s_model_t *m, size_t id, const uint8_t *value, size_t size)
{
    if (!s_has(m, id)) {
        m->present[id / 64] |= 1ull << (id % 64);
        m->count++;
    }
    free(m->values[id].data);
    m->values[id].data = malloc(size + 1);
    memcpy(m->values[id].data, value, size);
    m->values[id].size = size;
}

static void s_model_del(s_model_t *m, size_t id)
{
    m->present[id / 64] &= ~(1ull << (id % 64));
    m->count--;
    free(m->values[id].data);
    m->values[id].data = NULL;
    m->values[id].size = 0;
}

static void s_assert_entry(const s_model_t *m, size_t id, zkv_bytes_t key, zkv_bytes_t value)
{
    assert_true(id < m->n);
    assert_int_equal(key.size, m->keys[id].size);
    if (key.size > 0)
        assert_memory_equal(key.data, m->keys[id].data, key.size);
    assert_int_equal(value.size, m->values[id].size);
    if (value.size > 0)
        assert_memory_equal(value.data, m->values[id].data, value.size);
}

static void s_full_compare(const zkv_btree_t *tree, const s_model_t *m)
{
    s_seen_t seen = {0};
    assert_int_equal(zkv_btree_range(tree, NULL, 0, NULL, 0, false, 0, s_collect, &seen), m->count);
    size_t id = s_next_present(m, 0);
    for (size_t i = 0; i < seen.n; i++) {
        s_assert_entry(m, id, seen.keys[i], seen.values[i]);
        id = s_next_present(m, id + 1);
    }
    assert_int_equal(id, m->n);
    s_seen_free(&seen);
}

/*  The state of one randomized run. */
typedef struct {
    zkv_btree_t *tree;
    zkv_btree_iter_t *it;
    s_model_t m;
    uint64_t rng;
    size_t window_lo; /* puts and deletes pick ids in [window_lo, window_lo + window) */
    size_t window;
    unsigned put_pct; /* of mutations */
    uint8_t key_buf[512];
    uint8_t value_buf[400];
} s_run_t;

static size_t s_pick_id(s_run_t *r)
{
    return r->window_lo + s_below(&r->rng, r->window);
}

/*  A probe key: a universe key, one of its prefixes, or a fresh random key. */
static s_buf_t s_probe(s_run_t *r, uint8_t *buf)
{
    s_buf_t k;
    size_t id = s_below(&r->rng, r->m.n);
    switch (s_below(&r->rng, 4)) {
    case 0:
        k.size = s_gen_key(&r->rng, buf);
        k.data = buf;
        break;
    case 1:
        k.size = s_below(&r->rng, r->m.keys[id].size + 1);
        k.data = r->m.keys[id].data;
        break;
    default: k = r->m.keys[id]; break;
    }
    return k;
}

static void s_op_put(s_run_t *r)
{
    size_t id = s_pick_id(r);
    size_t size =
        s_below(&r->rng, 8) == 0 ? s_below(&r->rng, sizeof r->value_buf) : s_below(&r->rng, 24);
    for (size_t i = 0; i < size; i++)
        r->value_buf[i] = (uint8_t) s_rand(&r->rng);
    bool want_old = s_below(&r->rng, 2);
    bool replaced = false;
    void *old = NULL;
    size_t old_size = 0;
    const s_buf_t *k = &r->m.keys[id];
    assert_int_equal(zkv_btree_put(r->tree, k->data, k->size, r->value_buf, size, NULL, &replaced,
                                   want_old ? &old : NULL, &old_size),
                     ZKV_OK);
    assert_int_equal(replaced, s_has(&r->m, id));
    if (want_old && replaced) {
        assert_non_null(old);
        assert_int_equal(old_size, r->m.values[id].size);
        if (old_size > 0)
            assert_memory_equal(old, r->m.values[id].data, old_size);
    } else {
        assert_null(old);
    }
    free(old);
    s_model_set(&r->m, id, r->value_buf, size);
}

static void s_op_delete(s_run_t *r)
{
    size_t id = s_pick_id(r);
    if (s_below(&r->rng, 2)) { /* aim at a present key */
        size_t p = s_next_present(&r->m, id);
        id = p < r->m.n ? p : id;
    }
    bool want_old = s_below(&r->rng, 2);
    void *old = NULL;
    size_t old_size = 0;
    const s_buf_t *k = &r->m.keys[id];
    int rc = zkv_btree_delete(r->tree, k->data, k->size, want_old ? &old : NULL, &old_size);
    if (!s_has(&r->m, id)) {
        assert_int_equal(rc, ZKV_ENOTFOUND);
        assert_null(old);
        return;
    }
    assert_int_equal(rc, ZKV_OK);
    if (want_old) {
        assert_int_equal(old_size, r->m.values[id].size);
        if (old_size > 0)
            assert_memory_equal(old, r->m.values[id].data, old_size);
        free(old);
    }
    s_model_del(&r->m, id);
}

static void s_op_get(s_run_t *r)
{
    uint8_t buf[512];
    s_buf_t k = s_probe(r, buf);
    size_t id = s_lower(&r->m, k.data, k.size);
    bool in = id < r->m.n && s_buf_cmp(&r->m.keys[id], &k) == 0 && s_has(&r->m, id);
    zkv_bytes_t v;
    int rc = zkv_btree_get(r->tree, k.data, k.size, &v);
    assert_int_equal(rc, in ? ZKV_OK : ZKV_ENOTFOUND);
    if (in)
        s_assert_entry(&r->m, id, (zkv_bytes_t){k.data, k.size}, v);
}

/*  Limits stay small on a big tree so the run keeps its pace. */
static size_t s_pick_limit(s_run_t *r)
{
    if (r->m.count < 3000 && s_below(&r->rng, 4) == 0)
        return 0;
    return 1 + s_below(&r->rng, 40);
}

/*  Compare scan results with the model walked from id. */
static void s_compare_seen(s_run_t *r, const s_seen_t *seen, size_t id, bool reverse)
{
    for (size_t i = 0; i < seen->n; i++) {
        s_assert_entry(&r->m, id, seen->keys[i], seen->values[i]);
        id = reverse ? s_prev_present(&r->m, id - 1) : s_next_present(&r->m, id + 1);
    }
}

/*  How many present ids a walk from id meets inside [lo, hi), at most limit (0: all). */
static size_t s_model_walk(const s_model_t *m, size_t id, bool reverse, size_t lo, size_t hi,
                           size_t limit)
{
    size_t n = 0;
    while (id != SIZE_MAX && id < m->n && id >= lo && id < hi && (limit == 0 || n < limit)) {
        n++;
        id = reverse ? s_prev_present(m, id - 1) : s_next_present(m, id + 1);
    }
    return n;
}

static void s_op_range(s_run_t *r)
{
    uint8_t sbuf[512], ebuf[512];
    s_buf_t s = s_probe(r, sbuf), e = s_probe(r, ebuf);
    bool has_s = s_below(&r->rng, 8) != 0, has_e = s_below(&r->rng, 8) != 0;
    bool reverse = s_below(&r->rng, 2);
    size_t limit = s_pick_limit(r);
    s_seen_t seen = {.stop_after = s_below(&r->rng, 10) == 0 ? 1 + s_below(&r->rng, 5) : 0};
    size_t got = zkv_btree_range(r->tree, has_s ? s.data : NULL, s.size, has_e ? e.data : NULL,
                                 e.size, reverse, limit, s_collect, &seen);
    size_t lo = has_s ? s_lower(&r->m, s.data, s.size) : 0;
    size_t hi = has_e ? s_lower(&r->m, e.data, e.size) : r->m.n;
    bool empty = has_s && has_e && s_keycmp(s.data, s.size, e.data, e.size) >= 0;
    size_t first =
        reverse ? (hi > 0 ? s_prev_present(&r->m, hi - 1) : SIZE_MAX) : s_next_present(&r->m, lo);
    size_t want = empty ? 0 : s_model_walk(&r->m, first, reverse, lo, hi, limit);
    if (seen.stop_after != 0 && want > seen.stop_after)
        want = seen.stop_after;
    assert_int_equal(got, want);
    assert_int_equal(seen.n, want);
    s_compare_seen(r, &seen, first, reverse);
    s_seen_free(&seen);
}

static void s_op_prefix(s_run_t *r)
{
    uint8_t buf[512];
    s_buf_t p = s_probe(r, buf);
    bool reverse = s_below(&r->rng, 2);
    size_t limit = s_pick_limit(r);
    s_seen_t seen = {0};
    size_t got = zkv_btree_prefix(r->tree, p.data, p.size, reverse, limit, s_collect, &seen);
    size_t lo = s_lower(&r->m, p.data, p.size), hi = s_prefix_end(&r->m, p.data, p.size);
    size_t first =
        reverse ? (hi > 0 ? s_prev_present(&r->m, hi - 1) : SIZE_MAX) : s_next_present(&r->m, lo);
    size_t want = s_model_walk(&r->m, first, reverse, lo, hi, limit);
    assert_int_equal(got, want);
    assert_int_equal(seen.n, want);
    s_compare_seen(r, &seen, first, reverse);
    s_seen_free(&seen);
}

/*  Position the cursor somehow, then step back and forth comparing with the model. */
static void s_op_iter(s_run_t *r)
{
    uint8_t buf[512];
    s_buf_t k = s_probe(r, buf);
    size_t id;
    switch (s_below(&r->rng, 4)) {
    case 0:
        zkv_btree_iter_first(r->it);
        id = s_next_present(&r->m, 0);
        break;
    case 1:
        zkv_btree_iter_last(r->it);
        id = r->m.n ? s_prev_present(&r->m, r->m.n - 1) : SIZE_MAX;
        break;
    case 2:
        zkv_btree_iter_seek(r->it, k.data, k.size);
        id = s_next_present(&r->m, s_lower(&r->m, k.data, k.size));
        break;
    default:
        zkv_btree_iter_seek_before(r->it, k.data, k.size);
        id = s_lower(&r->m, k.data, k.size);
        id = id > 0 ? s_prev_present(&r->m, id - 1) : SIZE_MAX;
        break;
    }
    for (size_t step = 0; step < 12; step++) {
        bool valid = id != SIZE_MAX && id < r->m.n;
        assert_int_equal(zkv_btree_iter_valid(r->it), valid);
        if (!valid)
            return;
        s_assert_entry(&r->m, id, zkv_btree_iter_key(r->it), zkv_btree_iter_value(r->it));
        if (s_below(&r->rng, 3) == 0) {
            zkv_btree_iter_prev(r->it);
            id = id > 0 ? s_prev_present(&r->m, id - 1) : SIZE_MAX;
        } else {
            zkv_btree_iter_next(r->it);
            id = s_next_present(&r->m, id + 1);
        }
    }
}

/*  Phases: a window of the key universe (from a handful of keys, so the root
    splits and collapses, to all of it, three levels) that grows or shrinks. */
static void s_new_phase(s_run_t *r)
{
    static const size_t windows[] = {40, 300, 3000, UNIVERSE};
    r->window = windows[s_below(&r->rng, 4)];
    if (r->window > r->m.n)
        r->window = r->m.n;
    r->window_lo = s_below(&r->rng, r->m.n - r->window + 1);
    static const unsigned put_pcts[] = {95, 80, 50, 25, 5};
    r->put_pct = put_pcts[s_below(&r->rng, 5)];
}

static void s_run_op(s_run_t *r)
{
    size_t dice = s_below(&r->rng, 100);
    if (dice < 70) {
        if (s_below(&r->rng, 100) < r->put_pct)
            s_op_put(r);
        else
            s_op_delete(r);
    } else if (dice < 80) {
        s_op_get(r);
    } else if (dice < 87) {
        s_op_range(r);
    } else if (dice < 93) {
        s_op_prefix(r);
    } else {
        s_op_iter(r);
    }
}

static void test_randomized_against_model(void **state)
{
    (void) state;
    s_run_t r = {.rng = t_seed(SEED_DEFAULT)};
    s_model_init(&r.m, &r.rng);
    r.tree = zkv_btree_new();
    r.it = zkv_btree_iter_new(r.tree);
    size_t base = zkv_btree_memory(r.tree);
    size_t high = 0;
    for (size_t op = 1; op <= OPS; op++) {
        if (op % 20000 == 1)
            s_new_phase(&r);
        s_run_op(&r);
        assert_int_equal(zkv_btree_count(r.tree), r.m.count);
        high = r.m.count > high ? r.m.count : high;
        if (op % CHECK_EVERY == 0)
            s_assert_ok(r.tree);
        if (op % COMPARE_EVERY == 0)
            s_full_compare(r.tree, &r.m);
    }
    s_assert_ok(r.tree);
    s_full_compare(r.tree, &r.m);
    printf("[ model    ] %zu keys in the universe, %zu at the end, %zu at most\n", r.m.n, r.m.count,
           high);
    /* drain: back to the base memory */
    for (size_t id = s_next_present(&r.m, 0); id < r.m.n; id = s_next_present(&r.m, id + 1))
        assert_int_equal(zkv_btree_delete(r.tree, r.m.keys[id].data, r.m.keys[id].size, NULL, NULL),
                         ZKV_OK);
    assert_int_equal(zkv_btree_memory(r.tree), base);
    s_assert_ok(r.tree);
    zkv_btree_iter_destroy(&r.it);
    zkv_btree_destroy(&r.tree);
    s_model_free(&r.m);
}

/*  A wide tree takes keys 8 bytes past the store's limit; a plain one does not. */
static void test_wide_keys(void **state)
{
    (void) state;
    size_t size = ZKV_BTREE_WIDE_KEY_SIZE_MAX;
    uint8_t *key = malloc(size + 1);
    memset(key, 'w', size + 1);
    zkv_btree_t *plain = zkv_btree_new(), *wide = zkv_btree_new_wide();
    assert_int_equal(zkv_btree_put(plain, key, size, "v", 1, NULL, NULL, NULL, NULL), ZKV_EKEYSIZE);
    assert_int_equal(zkv_btree_put(wide, key, size, "v", 1, NULL, NULL, NULL, NULL), ZKV_OK);
    assert_int_equal(zkv_btree_put(wide, key, size + 1, "v", 1, NULL, NULL, NULL, NULL),
                     ZKV_EKEYSIZE);
    assert_int_equal(zkv_btree_get(wide, key, size, NULL), ZKV_OK);
    assert_int_equal(zkv_btree_prefix(wide, key, size, false, 0, NULL, NULL), 1);
    char why[256];
    assert_int_equal(zkv_btree_check(wide, why, sizeof why), 0);
    assert_int_equal(zkv_btree_delete(wide, key, size, NULL, NULL), ZKV_OK);
    zkv_btree_destroy(&plain);
    zkv_btree_destroy(&wide);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_tree),
        cmocka_unit_test(test_put_get_replace_old_value),
        cmocka_unit_test(test_empty_key_and_value),
        cmocka_unit_test(test_binary_key_order),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_range_edges),
        cmocka_unit_test(test_prefix_scans),
        cmocka_unit_test(test_iter_boundaries),
        cmocka_unit_test(test_delete_everything),
        cmocka_unit_test(test_enomem_leaves_tree_unchanged),
        cmocka_unit_test(test_memory_accounting),
        cmocka_unit_test(test_meta_round_trip),
        cmocka_unit_test(test_wide_keys),
        cmocka_unit_test(test_randomized_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
