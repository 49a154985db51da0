/*  Records shared beyond the tree: a shared record keeps the key, value and
    metadata it had while the tree replaces, deletes and destroys, also read
    and let go of by another thread meanwhile; the last holder frees it (ASan
    sees a use after free or a leak). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "btree.h"
#include "slab.h"
#include "zkv_error.h"

static zkv_btree_rec_t *s_put(zkv_btree_t *tree, const char *key, const char *value,
                              uint64_t version)
{
    zkv_btree_meta_t meta = {.create_revision = 1, .mod_revision = version, .version = version};
    assert_int_equal(
        zkv_btree_put(tree, key, strlen(key), value, strlen(value), &meta, NULL, NULL, NULL),
        ZKV_OK);
    return zkv_btree_last_put(tree);
}

static void s_assert_rec(const zkv_btree_rec_t *rec, const char *key, const char *value,
                         uint64_t version)
{
    zkv_bytes_t k = zkv_btree_rec_key(rec);
    zkv_btree_meta_t meta;
    zkv_bytes_t v = zkv_btree_rec_value(rec, &meta);
    assert_int_equal(k.size, strlen(key));
    assert_memory_equal(k.data, key, k.size);
    assert_int_equal(v.size, strlen(value));
    assert_memory_equal(v.data, value, v.size);
    assert_int_equal(meta.version, version);
    assert_int_equal(meta.mod_revision, version);
}

static void test_shared_record_outlives_the_key(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    size_t empty = zkv_btree_memory(tree);
    zkv_btree_rec_t *held = zkv_btree_rec_share(s_put(tree, "key", "one", 2));
    /* The same sizes: without the share this would be written in place. */
    zkv_btree_rec_t *now = s_put(tree, "key", "two", 3);
    assert_ptr_not_equal(now, held);
    s_assert_rec(held, "key", "one", 2);
    s_assert_rec(now, "key", "two", 3);
    assert_int_equal(zkv_btree_delete(tree, "key", 3, NULL, NULL), ZKV_OK);
    assert_int_equal(zkv_btree_memory(tree), empty); /* the tree no longer counts it */
    s_assert_rec(held, "key", "one", 2);
    zkv_btree_rec_release(&held);
    assert_null(held);

    /* The tree goes first: its records stay with whoever shares them. */
    held = zkv_btree_rec_share(s_put(tree, "other", "three", 3));
    zkv_btree_destroy(&tree);
    s_assert_rec(held, "other", "three", 3);
    zkv_btree_rec_release(&held);
    zkv_btree_rec_release(&held);         /* NULL: nothing */
    assert_int_equal(zkv_slab_live(), 0); /* every record freed, once */
}

static void test_unshared_record_changes_in_place(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    zkv_btree_rec_t *rec = s_put(tree, "key", "one", 2);
    assert_ptr_equal(s_put(tree, "key", "two", 3), rec);
    zkv_btree_rec_t *held = zkv_btree_rec_share(rec);
    zkv_btree_rec_release(&held);
    /* Let go of again: in place once more. */
    assert_ptr_equal(s_put(tree, "key", "six", 6), rec);
    s_assert_rec(rec, "key", "six", 6);
    zkv_btree_destroy(&tree);
}

/*  A writer shares the record of every put with a reader thread through a
    small queue and keeps replacing the same keys with values of the same
    size; the reader checks each record still says what was written. */
#define QUEUE_SIZE 64
#define KEYS 16 /* fewer than QUEUE_SIZE: a key is written again while the reader holds it */
#define ROUNDS 2000

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    zkv_btree_rec_t *queue[QUEUE_SIZE];
    uint64_t round[QUEUE_SIZE]; /* what each record was written with */
    size_t head, count;
    bool done;
    size_t checked, wrong;
} s_pipe_t;

static void s_value_of(uint64_t round, char *buf, size_t size)
{
    snprintf(buf, size, "value-%08llu", (unsigned long long) round);
}

/*  Versions 2 .. 121: a record's metadata takes the same room throughout, so a replace is in
    place unless the record is shared. */
static uint64_t s_version(uint64_t round)
{
    return 2 + round % 120;
}

static void *s_reader(void *arg)
{
    s_pipe_t *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->count == 0 && !p->done)
            pthread_cond_wait(&p->changed, &p->lock);
        if (p->count == 0) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        zkv_btree_rec_t *rec = p->queue[p->head];
        uint64_t round = p->round[p->head];
        p->head = (p->head + 1) % QUEUE_SIZE;
        p->count--;
        pthread_cond_signal(&p->changed);
        pthread_mutex_unlock(&p->lock);
        zkv_btree_meta_t meta;
        zkv_bytes_t value = zkv_btree_rec_value(rec, &meta);
        char want[32];
        s_value_of(round, want, sizeof want);
        if (meta.version != s_version(round) || value.size != strlen(want) ||
            memcmp(value.data, want, value.size) != 0)
            p->wrong++;
        p->checked++;
        zkv_btree_rec_release(&rec);
    }
}

static void test_shared_with_another_thread(void **state)
{
    (void) state;
    s_pipe_t p = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, s_reader, &p), 0);
    zkv_btree_t *tree = zkv_btree_new();
    for (uint64_t round = 0; round < ROUNDS; round++)
        for (size_t k = 0; k < KEYS; k++) {
            char key[16], value[32];
            snprintf(key, sizeof key, "key/%03zu", k);
            s_value_of(round, value, sizeof value);
            zkv_btree_rec_t *rec = zkv_btree_rec_share(s_put(tree, key, value, s_version(round)));
            pthread_mutex_lock(&p.lock);
            while (p.count == QUEUE_SIZE)
                pthread_cond_wait(&p.changed, &p.lock);
            p.queue[(p.head + p.count) % QUEUE_SIZE] = rec;
            p.round[(p.head + p.count) % QUEUE_SIZE] = round;
            p.count++;
            pthread_cond_signal(&p.changed);
            pthread_mutex_unlock(&p.lock);
        }
    zkv_btree_destroy(&tree); /* while the reader may hold the last records */
    pthread_mutex_lock(&p.lock);
    p.done = true;
    pthread_cond_signal(&p.changed);
    pthread_mutex_unlock(&p.lock);
    assert_int_equal(pthread_join(reader, NULL), 0);
    assert_int_equal(p.checked, KEYS * ROUNDS);
    assert_int_equal(p.wrong, 0);
    assert_int_equal(zkv_slab_live(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_record_outlives_the_key),
        cmocka_unit_test(test_unshared_record_changes_in_place),
        cmocka_unit_test(test_shared_with_another_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
