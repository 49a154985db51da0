/*  B+ tree views: a view keeps every entry as it was when taken while the
    tree goes on changing (in place, by splits and merges, by replacing and
    deleting records), also read by another thread meanwhile; the records it
    kept are freed on release (ASan sees a use after free or a leak).
    ZKV_SEED=<n> replays the randomized part with another seed. */
#include <pthread.h>
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

#define SEED_DEFAULT 0x71e3u
#define KEYS 20000

static void s_assert_ok(const zkv_btree_t *tree)
{
    char why[256];
    if (zkv_btree_check(tree, why, sizeof why) != ZKV_OK)
        fail_msg("zkv_btree_check: %s", why);
}

static void s_key(size_t i, char *buf, size_t size)
{
    snprintf(buf, size, "key/%08zu", i);
}

/*  Values of every size from 0 to 40 bytes: a replace is sometimes of the
    same size (in place without a view), sometimes not. */
static size_t s_value(size_t i, uint64_t version, char *buf)
{
    size_t n = (i + version / 2) % 41;
    for (size_t k = 0; k < n; k++)
        buf[k] = (char) ('a' + (i * 7 + version + k) % 26);
    return n;
}

static void s_put(zkv_btree_t *tree, size_t i, uint64_t version)
{
    char key[32], value[64];
    s_key(i, key, sizeof key);
    size_t n = s_value(i, version, value);
    zkv_btree_meta_t meta = {.version = version, .mod_revision = i};
    assert_int_equal(zkv_btree_put(tree, key, strlen(key), value, n, &meta, NULL, NULL, NULL),
                     ZKV_OK);
}

/*  What the view must show: the version of each key (0: absent). */
typedef struct {
    uint64_t version[KEYS];
    size_t seen;
    size_t next; /* keys below it were checked */
    int errors;
} s_expect_t;

static bool s_check_visit(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                          void *arg)
{
    s_expect_t *e = arg;
    char want_key[32], want_value[64];
    size_t i = 0;
    for (size_t k = 4; k < key.size; k++)
        i = i * 10 + (size_t) (key.data[k] - '0');
    if (key.size != 12 || i >= KEYS) {
        e->errors++;
        return false;
    }
    s_key(i, want_key, sizeof want_key);
    size_t n = e->version[i] ? s_value(i, e->version[i], want_value) : 0;
    bool ok = i >= e->next && e->version[i] != 0 && key.size == strlen(want_key) &&
              memcmp(key.data, want_key, key.size) == 0 && meta->version == e->version[i] &&
              value.size == n && (n == 0 || memcmp(value.data, want_value, n) == 0);
    e->errors += !ok;
    e->seen++;
    e->next = i + 1;
    return true;
}

static size_t s_present(const s_expect_t *e)
{
    size_t n = 0;
    for (size_t i = 0; i < KEYS; i++)
        n += e->version[i] != 0;
    return n;
}

/*  How far the view is from want: wrong entries, plus one for a count that
    is off (as each_ returned it, or as visited). Any thread. */
static int s_view_errors(const zkv_btree_view_t *view, const s_expect_t *want)
{
    s_expect_t e = *want;
    e.seen = e.next = 0;
    e.errors = 0;
    size_t present = s_present(want);
    size_t visited = zkv_btree_view_each(view, s_check_visit, &e);
    return e.errors + (visited != present) + (e.seen != present);
}

static void s_assert_view(const zkv_btree_view_t *view, const s_expect_t *want)
{
    assert_int_equal(s_view_errors(view, want), 0);
}

/*  One random change: a put of a new or existing key, or a delete. */
static void s_change(zkv_btree_t *tree, uint64_t *rng, uint64_t *version)
{
    size_t i = (size_t) (zkv_splitmix64(rng) % KEYS);
    char key[32];
    s_key(i, key, sizeof key);
    if (zkv_splitmix64(rng) % 3 == 0) {
        int rc = zkv_btree_delete(tree, key, strlen(key), NULL, NULL);
        assert_true(rc == ZKV_OK || rc == ZKV_ENOTFOUND);
        version[i] = 0;
    } else {
        s_put(tree, i, ++version[i]);
    }
}

/*  Many rounds of: take a view, change much of the tree (splits, merges,
    every kind of replace), check the view still shows the tree as it was,
    release it; the tree stays sound and its memory exact throughout. */
static void test_view_keeps_the_past(void **state)
{
    (void) state;
    uint64_t rng = t_seed(SEED_DEFAULT);
    zkv_btree_t *tree = zkv_btree_new();
    size_t base = zkv_btree_memory(tree);
    s_expect_t *now = calloc(1, sizeof *now), *then = calloc(1, sizeof *then);
    for (size_t i = 0; i < KEYS; i += 2) {
        s_put(tree, i, 1);
        now->version[i] = 1;
    }
    for (int round = 0; round < 20; round++) {
        *then = *now;
        zkv_btree_view_t *view = zkv_btree_view_new(tree);
        assert_non_null(view);
        assert_null(zkv_btree_view_new(tree)); /* one at a time */
        assert_int_equal(zkv_btree_view_count(view), s_present(then));
        for (int k = 0; k < 5000; k++)
            s_change(tree, &rng, now->version);
        s_assert_ok(tree);
        assert_int_equal(zkv_btree_count(tree), s_present(now));
        s_assert_view(view, then);
        zkv_btree_view_release(&view);
        assert_null(view);
        s_assert_ok(tree);
    }
    for (size_t i = 0; i < KEYS; i++) {
        char key[32];
        s_key(i, key, sizeof key);
        zkv_btree_delete(tree, key, strlen(key), NULL, NULL);
    }
    assert_int_equal(zkv_btree_memory(tree), base);
    zkv_btree_destroy(&tree);
    free(now);
    free(then);
}

/*  A tree destroyed while a view is out goes when the view is released. */
static void test_destroy_with_view_out(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    s_expect_t *e = calloc(1, sizeof *e);
    for (size_t i = 0; i < 3000; i++) {
        s_put(tree, i, 7);
        e->version[i] = 7;
    }
    zkv_btree_view_t *view = zkv_btree_view_new(tree);
    s_put(tree, 5, 8); /* one record kept for the view, too */
    zkv_btree_destroy(&tree);
    assert_null(tree);
    s_assert_view(view, e);
    zkv_btree_view_release(&view);
    free(e);
}

/*  While a view is out a change may need room to keep a record: without
    it, ZKV_ENOMEM and the tree as it was. */
static void test_enomem_with_view_out(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    for (size_t i = 0; i < 100; i++)
        s_put(tree, i, 1);
    zkv_btree_view_t *view = zkv_btree_view_new(tree);
    char key[32], value[64];
    s_key(3, key, sizeof key);
    size_t n = s_value(3, 1, value);
    size_t memory = zkv_btree_memory(tree);
    zkv_btree_set_alloc_budget(tree, 0);
    assert_int_equal(zkv_btree_delete(tree, key, strlen(key), NULL, NULL), ZKV_ENOMEM);
    assert_int_equal(zkv_btree_put(tree, key, strlen(key), value, n, NULL, NULL, NULL, NULL),
                     ZKV_ENOMEM);
    assert_int_equal(zkv_btree_memory(tree), memory);
    assert_int_equal(zkv_btree_count(tree), 100);
    zkv_btree_set_alloc_budget(tree, SIZE_MAX);
    assert_int_equal(zkv_btree_delete(tree, key, strlen(key), NULL, NULL), ZKV_OK);
    s_assert_ok(tree);
    zkv_btree_view_release(&view);

    /* Inserts in key order, a view taken now and then: full leaves hand entries to a
       sibling the view holds (copied first) or split; every allocation may fail. */
    for (size_t i = 100; i < 3000; i++) {
        if (i % 300 == 0) {
            zkv_btree_view_release(&view);
            view = zkv_btree_view_new(tree);
        }
        s_key(i, key, sizeof key);
        n = s_value(i, 1, value);
        for (size_t budget = 0;; budget++) {
            size_t count = zkv_btree_count(tree);
            memory = zkv_btree_memory(tree);
            zkv_btree_set_alloc_budget(tree, budget);
            int rc = zkv_btree_put(tree, key, strlen(key), value, n, NULL, NULL, NULL, NULL);
            zkv_btree_set_alloc_budget(tree, SIZE_MAX);
            if (rc == ZKV_OK)
                break;
            assert_int_equal(rc, ZKV_ENOMEM);
            assert_int_equal(zkv_btree_count(tree), count);
            assert_int_equal(zkv_btree_memory(tree), memory);
            assert_int_equal(zkv_btree_get(tree, key, strlen(key), NULL), ZKV_ENOTFOUND);
        }
        if (i % 50 == 0)
            s_assert_ok(tree);
    }
    s_assert_ok(tree);
    zkv_btree_view_release(&view);
    zkv_btree_destroy(&tree);
}

/*  Another thread reads the view while this one changes the tree, as the
    storage actor's snapshot writer does. */
typedef struct {
    const zkv_btree_view_t *view;
    const s_expect_t *want;
    int errors;
} s_reader_t;

static void *s_reader(void *arg)
{
    s_reader_t *r = arg;
    for (int pass = 0; pass < 5; pass++)
        r->errors += s_view_errors(r->view, r->want);
    return NULL;
}

static void test_view_read_by_another_thread(void **state)
{
    (void) state;
    uint64_t rng = SEED_DEFAULT;
    zkv_btree_t *tree = zkv_btree_new();
    s_expect_t *now = calloc(1, sizeof *now), *then = calloc(1, sizeof *then);
    for (size_t i = 0; i < KEYS; i++) {
        s_put(tree, i, 1);
        now->version[i] = 1;
    }
    *then = *now;
    zkv_btree_view_t *view = zkv_btree_view_new(tree);
    s_reader_t r = {view, then, 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_reader, &r), 0);
    for (int k = 0; k < 40000; k++)
        s_change(tree, &rng, now->version);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(r.errors, 0);
    zkv_btree_view_release(&view);
    s_assert_ok(tree);
    zkv_btree_destroy(&tree);
    free(now);
    free(then);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_keeps_the_past),
        cmocka_unit_test(test_destroy_with_view_out),
        cmocka_unit_test(test_enomem_with_view_out),
        cmocka_unit_test(test_view_read_by_another_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
