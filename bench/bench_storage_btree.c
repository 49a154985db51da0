/*  bench_storage_btree: single-thread figures for the B+ tree. N keys of 16
    bytes with 100-byte values: puts in random order, gets in another random
    order (all hits), one full ordered scan, deletes of every key in random
    order; then memory overhead per key from zkv_btree_memory and from the
    process RSS. Two key shapes: random bytes, and "key:%012zu" whose first 8
    bytes are all alike (the worst case for the tree's cached 8-byte prefixes). */
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_storage.h"
#include "btree.h"
#include "zkv_error.h"
#include "splitmix.h"

#define KEY_SIZE 16
#define VALUE_SIZE 100

typedef struct {
    double put_s;
    double get_s;
    double delete_s;
    double scan_s;
    size_t memory; /* zkv_btree_memory after the inserts */
    size_t base;   /* zkv_btree_memory of the empty tree */
    long rss_kib;  /* VmRSS after the inserts */
    long rss_kib_before;
} s_result_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t s_rand(uint64_t *state)
{
    return zkv_splitmix64(state);
}

static void s_shuffle(size_t *order, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t) (s_rand(rng) % i);
        size_t t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/*  VmRSS in KiB, or -1 where /proc is missing. */
static long s_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/*  Random bytes; the index in the last 8 bytes keeps them distinct. */
static void s_keys_random(uint8_t *keys, size_t n)
{
    uint64_t rng = 0x6b657973ull;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = s_rand(&rng);
        for (int b = 0; b < 8; b++) {
            keys[i * KEY_SIZE + b] = (uint8_t) (r >> (56 - 8 * b));
            keys[i * KEY_SIZE + 8 + b] = (uint8_t) ((uint64_t) i >> (56 - 8 * b));
        }
    }
}

static void s_keys_shared_prefix(uint8_t *keys, size_t n)
{
    char buf[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "key:%012zu", i);
        memcpy(keys + i * KEY_SIZE, buf, KEY_SIZE);
    }
}

static bool s_count_visit(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                          void *arg)
{
    (void) meta;
    size_t *bytes = arg;
    *bytes += key.size + value.size;
    return true;
}

static int s_fail(const char *what, int rc)
{
    fprintf(stderr, "bench_btree: %s: %s\n", what, zkv_strerror(rc));
    return 1;
}

static int s_insert_all(zkv_btree_t *tree, const uint8_t *keys, const size_t *order, size_t n,
                        const uint8_t *value)
{
    for (size_t i = 0; i < n; i++) {
        int rc = zkv_btree_put(tree, keys + order[i] * KEY_SIZE, KEY_SIZE, value, VALUE_SIZE, NULL,
                               NULL, NULL, NULL);
        if (rc != ZKV_OK)
            return s_fail("put", rc);
    }
    return zkv_btree_count(tree) == n ? 0 : s_fail("count after puts", ZKV_ECORRUPT);
}

static int s_get_all(const zkv_btree_t *tree, const uint8_t *keys, const size_t *order, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        zkv_bytes_t v;
        int rc = zkv_btree_get(tree, keys + order[i] * KEY_SIZE, KEY_SIZE, &v);
        if (rc != ZKV_OK)
            return s_fail("get", rc);
        bytes += v.size;
    }
    return bytes == n * VALUE_SIZE ? 0 : s_fail("value sizes", ZKV_ECORRUPT);
}

static int s_delete_all(zkv_btree_t *tree, const uint8_t *keys, const size_t *order, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = zkv_btree_delete(tree, keys + order[i] * KEY_SIZE, KEY_SIZE, NULL, NULL);
        if (rc != ZKV_OK)
            return s_fail("delete", rc);
    }
    return zkv_btree_count(tree) == 0 ? 0 : s_fail("count after deletes", ZKV_ECORRUPT);
}

/*  One round over n keys: put, get, scan, delete, each phase timed alone. */
static int s_round(const uint8_t *keys, size_t *order, size_t n, s_result_t *res)
{
    uint8_t value[VALUE_SIZE];
    memset(value, 'v', sizeof value);
    uint64_t rng = 0x62747265ull;
    zkv_btree_t *tree = zkv_btree_new();
    if (tree == NULL)
        return s_fail("new", ZKV_ENOMEM);
    res->base = zkv_btree_memory(tree);
    s_shuffle(order, n, &rng);
    res->rss_kib_before = s_rss_kib();

    double t = s_now();
    int rc = s_insert_all(tree, keys, order, n, value);
    res->put_s = s_now() - t;
    res->memory = zkv_btree_memory(tree);
    res->rss_kib = s_rss_kib();

    s_shuffle(order, n, &rng);
    t = s_now();
    rc = rc ? rc : s_get_all(tree, keys, order, n);
    res->get_s = s_now() - t;

    size_t bytes = 0;
    t = s_now();
    size_t seen = rc ? 0 : zkv_btree_range(tree, NULL, 0, NULL, 0, false, 0, s_count_visit, &bytes);
    res->scan_s = s_now() - t;
    if (rc == 0 && (seen != n || bytes != n * (KEY_SIZE + VALUE_SIZE)))
        rc = s_fail("scan", ZKV_ECORRUPT);

    s_shuffle(order, n, &rng);
    t = s_now();
    rc = rc ? rc : s_delete_all(tree, keys, order, n);
    res->delete_s = s_now() - t;
    zkv_btree_destroy(&tree);
    /* hand the freed heap back so the next round's RSS growth starts from scratch */
    malloc_trim(0);
    return rc;
}

static void s_print_row(const char *name, size_t n, const s_result_t *r)
{
    double kv = (double) n * (KEY_SIZE + VALUE_SIZE);
    printf("%-22s %11.0f %11.0f %11.0f %13.0f %10.1f %10.1f %9.1f\n", name, (double) n / r->put_s,
           (double) n / r->get_s, (double) n / r->delete_s, (double) n / r->scan_s,
           ((double) (r->memory - r->base) - kv) / (double) n,
           ((double) (r->rss_kib - r->rss_kib_before) * 1024.0 - kv) / (double) n,
           (double) r->rss_kib / 1024.0);
}

int bench_btree_run(size_t keys)
{
    if (keys == 0) {
        fprintf(stderr, "bench_btree: --keys must be at least 1\n");
        return 1;
    }
    uint8_t *key_bytes = malloc(keys * KEY_SIZE);
    size_t *order = malloc(keys * sizeof(size_t));
    if (key_bytes == NULL || order == NULL) {
        free(key_bytes);
        free(order);
        return s_fail("bench arrays", ZKV_ENOMEM);
    }
    printf("B+ tree (order %d), %zu keys of %d bytes, %d-byte values, one thread\n",
           ZKV_BTREE_ORDER, keys, KEY_SIZE, VALUE_SIZE);
    printf("%-22s %11s %11s %11s %13s %10s %10s %9s\n", "keys", "put/s", "get/s", "delete/s",
           "scan keys/s", "mem B/key", "RSS B/key", "RSS MiB");
    static const struct {
        const char *name;
        void (*make)(uint8_t *, size_t);
    } shapes[] = {
        {"random bytes", s_keys_random},
        {"\"key:%012zu\"", s_keys_shared_prefix},
    };
    int rc = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && rc == 0; s++) {
        s_result_t res;
        shapes[s].make(key_bytes, keys);
        rc = s_round(key_bytes, order, keys, &res);
        if (rc == 0)
            s_print_row(shapes[s].name, keys, &res);
    }
    printf("mem B/key: zkv_btree_memory beyond key and value bytes (requested sizes, no malloc\n"
           "overhead); RSS B/key: growth of VmRSS during the puts beyond key and value bytes;\n"
           "RSS MiB: VmRSS after the puts, including the bench's own key and order arrays.\n");
    free(key_bytes);
    free(order);
    return rc;
}
