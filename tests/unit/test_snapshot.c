/*  Snapshots: round trip of a large tree and its metadata; an empty tree;
    damaged files (flipped bits, truncation, well-framed but invalid content)
    refused with a message; the newest valid snapshot found and older ones
    pruned; leftovers of a crash; streaming in chunks; failing I/O. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fs_testutil.h"

#include "btree.h"
#include "crc32c.h"
#include "fs.h"
#include "fs_fault.h"
#include "le.h"
#include "snapshot.h"
#include "zkv_error.h"

#define ERR_SIZE 512

static size_t s_key(uint8_t *buf, uint32_t i)
{
    size_t n = (size_t) snprintf((char *) buf, 32, "key-%08" PRIu32, i);
    size_t extra = i % 50; /* binary tails, zeros included */
    for (size_t j = 0; j < extra; j++)
        buf[n + j] = (uint8_t) (i * 31 + j * 17);
    return n + extra;
}

static size_t s_value_size(uint32_t i)
{
    if (i % 25000 == 7)
        return ZKV_VALUE_SIZE_MAX; /* a few of the largest values */
    return (size_t) ((i * 7919u) % 301);
}

static void s_value(uint8_t *buf, uint32_t i, size_t size)
{
    for (size_t j = 0; j < size; j++)
        buf[j] = (uint8_t) (i * 13 + j * 7);
}

static zkv_btree_t *s_tree(uint32_t keys)
{
    zkv_btree_t *tree = zkv_btree_new();
    assert_non_null(tree);
    uint8_t *value = malloc(ZKV_VALUE_SIZE_MAX);
    assert_non_null(value);
    uint8_t key[128];
    for (uint32_t i = 0; i < keys; i++) {
        size_t ks = s_key(key, i), vs = s_value_size(i);
        s_value(value, i, vs);
        assert_int_equal(zkv_btree_put(tree, key, ks, value, vs, NULL, NULL, NULL, NULL), ZKV_OK);
    }
    free(value);
    assert_int_equal(zkv_btree_count(tree), keys);
    return tree;
}

/*  Same keys and values in the same order. */
static void s_same_tree(const zkv_btree_t *a, const zkv_btree_t *b)
{
    assert_int_equal(zkv_btree_count(a), zkv_btree_count(b));
    zkv_btree_iter_t *x = zkv_btree_iter_new(a), *y = zkv_btree_iter_new(b);
    assert_non_null(x);
    assert_non_null(y);
    size_t n = 0;
    for (zkv_btree_iter_first(x), zkv_btree_iter_first(y); zkv_btree_iter_valid(x);
         zkv_btree_iter_next(x), zkv_btree_iter_next(y)) {
        assert_true(zkv_btree_iter_valid(y));
        zkv_bytes_t ka = zkv_btree_iter_key(x), kb = zkv_btree_iter_key(y);
        zkv_bytes_t va = zkv_btree_iter_value(x), vb = zkv_btree_iter_value(y);
        assert_int_equal(ka.size, kb.size);
        assert_memory_equal(ka.data, kb.data, ka.size);
        assert_int_equal(va.size, vb.size);
        if (va.size)
            assert_memory_equal(va.data, vb.data, va.size);
        n++;
    }
    assert_false(zkv_btree_iter_valid(y));
    assert_int_equal(n, zkv_btree_count(a));
    zkv_btree_iter_destroy(&x);
    zkv_btree_iter_destroy(&y);
}

typedef struct {
    zkv_snapshot_meta_t meta;
    uint8_t config[300];
    uint8_t app[10000];
} s_meta_t;

static void s_make_meta(s_meta_t *m, uint64_t index, uint64_t term)
{
    for (size_t i = 0; i < sizeof m->config; i++)
        m->config[i] = (uint8_t) (i * 3 + index);
    for (size_t i = 0; i < sizeof m->app; i++)
        m->app[i] = (uint8_t) (i * 5 + term);
    m->meta = (zkv_snapshot_meta_t){.index = index,
                                    .term = term,
                                    .config = m->config,
                                    .config_size = sizeof m->config,
                                    .app = m->app,
                                    .app_size = sizeof m->app};
}

static void s_same_meta(const zkv_snapshot_meta_t *a, const zkv_snapshot_meta_t *b)
{
    assert_int_equal(a->index, b->index);
    assert_int_equal(a->term, b->term);
    assert_int_equal(a->config_size, b->config_size);
    assert_int_equal(a->app_size, b->app_size);
    if (a->config_size)
        assert_memory_equal(a->config, b->config, a->config_size);
    if (a->app_size)
        assert_memory_equal(a->app, b->app, a->app_size);
}

static void s_write(const char *dir, const zkv_btree_t *tree, const zkv_snapshot_meta_t *meta,
                    char *name)
{
    char err[ERR_SIZE];
    int rc = zkv_snapshot_write(zkv_fs_posix(), dir, tree, meta, name, err, sizeof err);
    if (rc != ZKV_OK)
        fail_msg("write: %s", err);
}

static void s_path_of(char *path, const char *dir, const char *name)
{
    t_path(path, 4096, dir, name);
}

static void test_round_trip_100k(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snap");
    zkv_btree_t *tree = s_tree(100000);
    s_meta_t m;
    s_make_meta(&m, 123456789, 42);
    char name[ZKV_SNAPSHOT_NAME_SIZE + 1], path[4096], err[ERR_SIZE];
    s_write(dir, tree, &m.meta, name);
    assert_string_equal(name, "00000000075bcd15-000000000000002a.snap");
    s_path_of(path, dir, name);

    zkv_btree_t *loaded = NULL;
    zkv_snapshot_meta_t meta;
    int rc = zkv_snapshot_load(zkv_fs_posix(), path, &loaded, &meta, err, sizeof err);
    if (rc != ZKV_OK)
        fail_msg("load: %s", err);
    s_same_tree(tree, loaded);
    s_same_meta(&m.meta, &meta);
    assert_int_equal(zkv_btree_check(loaded, err, sizeof err), ZKV_OK);
    zkv_snapshot_meta_clear(&meta);
    assert_null(meta.config);

    /*  Verify only; metadata only. */
    assert_int_equal(zkv_snapshot_load(zkv_fs_posix(), path, NULL, NULL, err, sizeof err), ZKV_OK);
    assert_int_equal(zkv_snapshot_read_meta(zkv_fs_posix(), path, &meta, err, sizeof err), ZKV_OK);
    s_same_meta(&m.meta, &meta);
    zkv_snapshot_meta_clear(&meta);

    /*  Nothing but the snapshot is left in the directory. */
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    assert_int_equal(snap.count, 1);
    t_dirsnap_free(&snap);

    zkv_btree_destroy(&loaded);
    zkv_btree_destroy(&tree);
    t_rmtree(dir);
    free(dir);
}

static void test_empty_tree(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snap");
    zkv_btree_t *tree = zkv_btree_new();
    zkv_snapshot_meta_t in = {.index = 1, .term = 1};
    char name[ZKV_SNAPSHOT_NAME_SIZE + 1], path[4096], err[ERR_SIZE];
    s_write(dir, tree, &in, name);
    s_path_of(path, dir, name);
    assert_int_equal(t_file_size(path), ZKV_SNAPSHOT_HEADER_SIZE + ZKV_SNAPSHOT_TRAILER_SIZE);
    zkv_btree_t *loaded = NULL;
    zkv_snapshot_meta_t meta;
    assert_int_equal(zkv_snapshot_load(zkv_fs_posix(), path, &loaded, &meta, err, sizeof err),
                     ZKV_OK);
    assert_int_equal(zkv_btree_count(loaded), 0);
    s_same_meta(&in, &meta);
    zkv_snapshot_meta_clear(&meta);
    zkv_btree_destroy(&loaded);

    /*  Metadata out of range is refused before anything is written. */
    zkv_snapshot_meta_t bad = {.index = 0, .term = 1};
    assert_int_equal(zkv_snapshot_write(zkv_fs_posix(), dir, tree, &bad, NULL, err, sizeof err),
                     ZKV_EINVAL);
    bad = (zkv_snapshot_meta_t){.index = 2, .term = 1, .config_size = 10};
    assert_int_equal(zkv_snapshot_write(zkv_fs_posix(), dir, tree, &bad, NULL, err, sizeof err),
                     ZKV_EINVAL);
    bad.config_size = ZKV_SNAPSHOT_CONFIG_SIZE_MAX + 1;
    bad.config = in.config;
    assert_int_equal(zkv_snapshot_write(zkv_fs_posix(), dir, tree, &bad, NULL, err, sizeof err),
                     ZKV_EINVAL);
    zkv_btree_destroy(&tree);
    t_rmtree(dir);
    free(dir);
}

/*  A load that must fail: ZKV_ECORRUPT, a message with the path and an
    offset, and neither the tree nor the metadata touched. */
static void s_refused(const char *path)
{
    char err[ERR_SIZE] = "";
    zkv_btree_t *tree = NULL;
    zkv_snapshot_meta_t meta = {.index = 99};
    int rc = zkv_snapshot_load(zkv_fs_posix(), path, &tree, &meta, err, sizeof err);
    if (rc != ZKV_ECORRUPT)
        fail_msg("expected ZKV_ECORRUPT, got %d: %s", rc, err);
    assert_null(tree);
    assert_int_equal(meta.index, 99);
    assert_null(meta.config);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "offset"));
}

static void test_corrupt_refused(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snap");
    zkv_btree_t *tree = zkv_btree_new();
    uint8_t key[128], value[400];
    for (uint32_t i = 0; i < 60; i++) {
        size_t ks = s_key(key, i), vs = (size_t) (i * 7 % 40);
        s_value(value, i, vs);
        assert_int_equal(zkv_btree_put(tree, key, ks, value, vs, NULL, NULL, NULL, NULL), ZKV_OK);
    }
    s_meta_t m;
    s_make_meta(&m, 77, 3);
    m.meta.app_size = 100;
    char name[ZKV_SNAPSHOT_NAME_SIZE + 1], path[4096];
    s_write(dir, tree, &m.meta, name);
    s_path_of(path, dir, name);
    size_t size;
    uint8_t *good = t_read_file(path, &size);
    uint8_t *bytes = malloc(size + 64);
    assert_non_null(bytes);

    /*  A flipped bit anywhere. */
    size_t flips = 0;
    for (size_t pos = 0; pos < size; pos++) {
        memcpy(bytes, good, size);
        bytes[pos] ^= (uint8_t) (1u << (pos % 8));
        t_write_file(path, bytes, size);
        s_refused(path);
        flips++;
    }
    /*  Cut short at every length, or extended. */
    for (size_t len = 0; len < size; len++) {
        t_write_file(path, good, len);
        s_refused(path);
    }
    memcpy(bytes, good, size);
    memset(bytes + size, 0, 64);
    t_write_file(path, bytes, size + 64);
    s_refused(path);
    print_message("snapshot of %zu bytes: %zu flips and %zu cuts refused\n", size, flips, size);

    t_write_file(path, good, size);
    char err[ERR_SIZE];
    assert_int_equal(zkv_snapshot_load(zkv_fs_posix(), path, NULL, NULL, err, sizeof err), ZKV_OK);
    free(bytes);
    free(good);
    zkv_btree_destroy(&tree);
    t_rmtree(dir);
    free(dir);
}

/*  ---- files with valid checksums but invalid content: the checks behind
    the CRC must hold on their own. */

typedef struct {
    uint8_t *data;
    size_t size;
    size_t cap;
} s_buf_t;

static void s_bput(s_buf_t *b, const void *data, size_t size)
{
    if (b->size + size > b->cap) {
        b->cap = (b->size + size) * 2;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    memcpy(b->data + b->size, data, size);
    b->size += size;
}

/*  Crafted files are of format version 2 unless set otherwise. */
static uint32_t s_craft_version = 2;

static void s_bput_header(s_buf_t *b, uint64_t count, uint64_t config_size, uint64_t app_size)
{
    uint8_t h[ZKV_SNAPSHOT_HEADER_SIZE] = {0};
    memcpy(h, "ZKVSNAP1", 8);
    zkv_le32_put(h + 8, s_craft_version);
    zkv_le64_put(h + 16, 5);
    zkv_le64_put(h + 24, 1);
    zkv_le64_put(h + 32, count);
    zkv_le64_put(h + 40, config_size);
    zkv_le64_put(h + 48, app_size);
    zkv_le32_put(h + 56, zkv_crc32c(0, h, 56));
    s_bput(b, h, sizeof h);
}

/*  A record with the given sizes and metadata (create, mod, version, lease = 1, 2, 3, 4),
    and only the key's bytes after it. */
static void s_bput_record(s_buf_t *b, const char *key, uint32_t key_size, uint32_t value_size)
{
    uint8_t h[40];
    zkv_le32_put(h, key_size);
    zkv_le32_put(h + 4, value_size);
    for (int i = 0; i < 4; i++)
        zkv_le64_put(h + 8 + 8 * i, (uint64_t) i + 1);
    s_bput(b, h, s_craft_version == 1 ? 8 : 40);
    s_bput(b, key, strlen(key));
}

/*  Seals with a correct trailer and writes it out. */
static void s_bfinish(s_buf_t *b, const char *path)
{
    uint8_t t[ZKV_SNAPSHOT_TRAILER_SIZE];
    memcpy(t, "ZKVSEND1", 8);
    zkv_le64_put(t + 8, b->size + ZKV_SNAPSHOT_TRAILER_SIZE);
    s_bput(b, t, 16);
    zkv_le32_put(t + 16, zkv_crc32c(0, b->data, b->size));
    s_bput(b, t + 16, 4);
    t_write_file(path, b->data, b->size);
    free(b->data);
    *b = (s_buf_t){0};
}

static void s_refused_because(const char *path, const char *why)
{
    char err[ERR_SIZE] = "";
    zkv_btree_t *tree = NULL;
    assert_int_equal(zkv_snapshot_load(zkv_fs_posix(), path, &tree, NULL, err, sizeof err),
                     ZKV_ECORRUPT);
    assert_null(tree);
    if (!strstr(err, why))
        fail_msg("expected \"%s\" in: %s", why, err);
}

/*  The crafted file at path loads, and key "a" has metadata 1, 2, 3, 4 times scale. */
static void s_assert_crafted_meta(const char *path, uint64_t scale)
{
    char err[ERR_SIZE];
    zkv_btree_t *tree = NULL;
    assert_int_equal(zkv_snapshot_load(zkv_fs_posix(), path, &tree, NULL, err, sizeof err), ZKV_OK);
    zkv_btree_meta_t meta;
    assert_int_equal(zkv_btree_get_meta(tree, "a", 1, NULL, &meta), ZKV_OK);
    assert_int_equal(meta.create_revision, 1 * scale);
    assert_int_equal(meta.mod_revision, 2 * scale);
    assert_int_equal(meta.version, 3 * scale);
    assert_int_equal(meta.lease, 4 * scale);
    zkv_btree_destroy(&tree);
}

static void test_invalid_content_refused(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snap");
    char path[4096];
    s_path_of(path, dir, "crafted.snap");
    s_buf_t b = {0};

    /*  The well-formed base case loads, so the cases below test one thing each. */
    s_bput_header(&b, 2, 0, 0);
    s_bput_record(&b, "a", 1, 0);
    s_bput_record(&b, "b", 1, 0);
    s_bfinish(&b, path);
    char err[ERR_SIZE];
    assert_int_equal(zkv_snapshot_load(zkv_fs_posix(), path, NULL, NULL, err, sizeof err), ZKV_OK);
    s_assert_crafted_meta(path, 1);
    /*  Version 1 (no metadata in records) still loads: its keys get zeros. */
    s_craft_version = 1;
    s_bput_header(&b, 2, 0, 0);
    s_bput_record(&b, "a", 1, 0);
    s_bput_record(&b, "b", 1, 0);
    s_bfinish(&b, path);
    s_assert_crafted_meta(path, 0);
    s_craft_version = 2;

    s_bput_header(&b, 2, 0, 0);
    s_bput_record(&b, "b", 1, 0);
    s_bput_record(&b, "a", 1, 0);
    s_bfinish(&b, path);
    s_refused_because(path, "keys out of order");

    s_bput_header(&b, 2, 0, 0);
    s_bput_record(&b, "a", 1, 0);
    s_bput_record(&b, "a", 1, 0);
    s_bfinish(&b, path);
    s_refused_because(path, "keys out of order");

    s_bput_header(&b, 1, 0, 0);
    s_bput_record(&b, "a", ZKV_KEY_SIZE_MAX + 1, 0);
    s_bfinish(&b, path);
    s_refused_because(path, "key or value size out of range");

    s_bput_header(&b, 1, 0, 0);
    s_bput_record(&b, "a", 1, 0xffffffffu);
    s_bfinish(&b, path);
    s_refused_because(path, "key or value size out of range");

    s_bput_header(&b, 1, 0, 0);
    s_bput_record(&b, "a", 1, 1000); /* within limits, past the end */
    s_bfinish(&b, path);
    s_refused_because(path, "runs past the end");

    s_bput_header(&b, UINT64_MAX, 0, 0);
    s_bput_record(&b, "a", 1, 0);
    s_bfinish(&b, path);
    s_refused_because(path, "key count");

    s_bput_header(&b, 1, 0, 0);
    s_bput_record(&b, "a", 1, 0);
    s_bput_record(&b, "b", 1, 0); /* one record more than counted */
    s_bfinish(&b, path);
    s_refused_because(path, "data after the last record");

    s_bput_header(&b, 0, UINT64_MAX, 0);
    s_bfinish(&b, path);
    s_refused_because(path, "configuration size");

    s_bput_header(&b, 0, 0, UINT64_C(1) << 40);
    s_bfinish(&b, path);
    s_refused_because(path, "application state size");

    s_bput_header(&b, 0, 0, 0);
    b.data[8] = 3; /* a future version, header CRC redone */
    zkv_le32_put(b.data + 56, zkv_crc32c(0, b.data, 56));
    s_bfinish(&b, path);
    s_refused_because(path, "version");

    t_rmtree(dir);
    free(dir);
}

/*  ---- the directory */

static void test_latest_and_prune(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snap");
    char err[ERR_SIZE], name[ZKV_SNAPSHOT_NAME_SIZE + 1], path[4096];
    const zkv_fs_t *fs = zkv_fs_posix();

    /*  Nothing there yet, or no directory at all. */
    zkv_btree_t *tree = NULL;
    assert_int_equal(zkv_snapshot_load_latest(fs, dir, &tree, NULL, name, NULL, err, sizeof err),
                     ZKV_ENOTFOUND);
    char missing[4096];
    s_path_of(missing, dir, "nope");
    assert_int_equal(
        zkv_snapshot_load_latest(fs, missing, &tree, NULL, name, NULL, err, sizeof err),
        ZKV_ENOTFOUND);

    zkv_btree_t *trees[3];
    const uint64_t at[3][2] = {{10, 1}, {20, 1}, {30, 2}};
    for (int i = 0; i < 3; i++) {
        trees[i] = s_tree(100 * (uint32_t) (i + 1));
        s_meta_t m;
        s_make_meta(&m, at[i][0], at[i][1]);
        s_write(dir, trees[i], &m.meta, name);
    }
    /*  The newest loads. */
    zkv_snapshot_meta_t meta;
    size_t refused;
    assert_int_equal(
        zkv_snapshot_load_latest(fs, dir, &tree, &meta, name, &refused, err, sizeof err), ZKV_OK);
    assert_int_equal(refused, 0);
    assert_int_equal(meta.index, 30);
    s_same_tree(trees[2], tree);
    zkv_btree_destroy(&tree);
    zkv_snapshot_meta_clear(&meta);

    /*  Damage the newest: the one before it loads, the damage is reported. */
    zkv_snapshot_name(30, 2, name);
    s_path_of(path, dir, name);
    size_t size;
    uint8_t *bytes = t_read_file(path, &size);
    bytes[size - 1] ^= 0x10; /* in the trailer's CRC */
    t_write_file(path, bytes, size);
    free(bytes);
    /*  A file whose content is not what its name says, and a crash's leftover. */
    char from[4096], to[4096];
    zkv_snapshot_name(20, 1, name);
    s_path_of(from, dir, name);
    zkv_snapshot_name(25, 1, name);
    s_path_of(to, dir, name);
    bytes = t_read_file(from, &size);
    t_write_file(to, bytes, size);
    free(bytes);
    zkv_snapshot_name(15, 1, name);
    s_path_of(path, dir, name);
    strcat(path, ".tmp");
    t_write_file(path, "half a snapshot", 15);

    assert_int_equal(
        zkv_snapshot_load_latest(fs, dir, &tree, &meta, name, &refused, err, sizeof err), ZKV_OK);
    assert_int_equal(refused, 2);
    assert_string_equal(name, "0000000000000014-0000000000000001.snap");
    assert_non_null(strstr(err, "000000000000001e-0000000000000002.snap"));
    assert_non_null(strstr(err, "checksum"));
    assert_int_equal(meta.index, 20);
    s_same_tree(trees[1], tree);
    zkv_btree_destroy(&tree);
    zkv_snapshot_meta_clear(&meta);

    /*  Prune: older snapshots and the leftover go; the newer damaged ones stay. */
    size_t removed;
    assert_int_equal(zkv_snapshot_prune(fs, dir, name, &removed, err, sizeof err), ZKV_OK);
    assert_int_equal(removed, 2);
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    assert_int_equal(snap.count, 3);
    assert_non_null(t_dirsnap_find(&snap, "0000000000000014-0000000000000001.snap"));
    assert_non_null(t_dirsnap_find(&snap, "0000000000000019-0000000000000001.snap"));
    assert_non_null(t_dirsnap_find(&snap, "000000000000001e-0000000000000002.snap"));
    t_dirsnap_free(&snap);
    assert_int_equal(zkv_snapshot_prune(fs, dir, "junk", &removed, err, sizeof err), ZKV_EINVAL);

    /*  All damaged: nothing loads. */
    s_path_of(path, dir, "0000000000000014-0000000000000001.snap");
    assert_int_equal(truncate(path, 100), 0);
    assert_int_equal(
        zkv_snapshot_load_latest(fs, dir, &tree, NULL, name, &refused, err, sizeof err),
        ZKV_ENOTFOUND);
    assert_int_equal(refused, 3);
    assert_null(tree);
    assert_non_null(strstr(err, "no valid snapshot"));

    for (int i = 0; i < 3; i++)
        zkv_btree_destroy(&trees[i]);
    t_rmtree(dir);
    free(dir);
}

/*  A crash in the middle of writing leaves only the temporary file; the
    earlier snapshot is what loads, and the next write replaces the leftover. */
static void test_tmp_from_crash(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snap");
    char err[ERR_SIZE], name[ZKV_SNAPSHOT_NAME_SIZE + 1], path[4096];
    zkv_btree_t *tree = s_tree(500);
    s_meta_t m;
    s_make_meta(&m, 100, 3);
    s_write(dir, tree, &m.meta, name);
    /*  The next snapshot's write, cut off halfway. */
    s_path_of(path, dir, name);
    size_t size;
    uint8_t *bytes = t_read_file(path, &size);
    s_path_of(path, dir, "00000000000000c8-0000000000000003.snap.tmp");
    t_write_file(path, bytes, size / 2);
    free(bytes);

    zkv_btree_t *loaded = NULL;
    assert_int_equal(
        zkv_snapshot_load_latest(zkv_fs_posix(), dir, &loaded, NULL, name, NULL, err, sizeof err),
        ZKV_OK);
    assert_string_equal(name, "0000000000000064-0000000000000003.snap");
    s_same_tree(tree, loaded);
    zkv_btree_destroy(&loaded);

    m.meta.index = 200;
    s_write(dir, tree, &m.meta, name);
    assert_string_equal(name, "00000000000000c8-0000000000000003.snap");
    assert_int_equal(access(path, F_OK), -1); /* written over and renamed */
    size_t removed;
    assert_int_equal(zkv_snapshot_prune(zkv_fs_posix(), dir, name, &removed, err, sizeof err),
                     ZKV_OK);
    assert_int_equal(removed, 1);
    zkv_btree_destroy(&tree);
    t_rmtree(dir);
    free(dir);
}

/*  A temporary file newer than the snapshot kept may be a write still under
    way in the background: prune leaves it; an older one is a leftover. */
static void test_prune_keeps_newer_tmp(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snap");
    char err[ERR_SIZE], name[ZKV_SNAPSHOT_NAME_SIZE + 1], older[4096], newer[4096];
    zkv_btree_t *tree = s_tree(50);
    s_meta_t m;
    s_make_meta(&m, 100, 3);
    s_write(dir, tree, &m.meta, name);
    s_path_of(older, dir, "0000000000000032-0000000000000003.snap.tmp");
    s_path_of(newer, dir, "00000000000000c8-0000000000000003.snap.tmp");
    t_write_file(older, (const uint8_t *) "x", 1);
    t_write_file(newer, (const uint8_t *) "x", 1);
    size_t removed;
    assert_int_equal(zkv_snapshot_prune(zkv_fs_posix(), dir, name, &removed, err, sizeof err),
                     ZKV_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(access(older, F_OK), -1);
    assert_int_equal(access(newer, F_OK), 0);
    zkv_btree_destroy(&tree);
    t_rmtree(dir);
    free(dir);
}

/*  Written from a view, a snapshot holds the tree as it was when the view
    was taken, whatever happened to the tree since. */
static void test_write_view(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snap");
    char err[ERR_SIZE], name[ZKV_SNAPSHOT_NAME_SIZE + 1], path[4096];
    zkv_btree_t *tree = s_tree(3000), *then = s_tree(3000);
    zkv_btree_view_t *view = zkv_btree_view_new(tree);
    assert_non_null(view);
    uint8_t key[128];
    for (uint32_t i = 0; i < 3000; i++) {
        size_t ks = s_key(key, i);
        if (i % 2)
            assert_int_equal(zkv_btree_put(tree, key, ks, "v", 1, NULL, NULL, NULL, NULL), ZKV_OK);
        else
            assert_int_equal(zkv_btree_delete(tree, key, ks, NULL, NULL), ZKV_OK);
        ks = s_key(key, 10000 + i);
        assert_int_equal(zkv_btree_put(tree, key, ks, "n", 1, NULL, NULL, NULL, NULL), ZKV_OK);
    }
    s_meta_t m;
    s_make_meta(&m, 100, 3);
    assert_int_equal(
        zkv_snapshot_write_view(zkv_fs_posix(), dir, view, &m.meta, name, err, sizeof err), ZKV_OK);
    zkv_btree_view_release(&view);
    s_path_of(path, dir, name);
    zkv_btree_t *loaded = NULL;
    assert_int_equal(zkv_snapshot_load(zkv_fs_posix(), path, &loaded, NULL, err, sizeof err),
                     ZKV_OK);
    s_same_tree(then, loaded);
    zkv_btree_destroy(&loaded);
    zkv_btree_destroy(&then);
    zkv_btree_destroy(&tree);
    t_rmtree(dir);
    free(dir);
}

/*  ---- streaming */

/*  Sends the file at path to recv in chunks of chunk bytes; flip (if not
    SIZE_MAX) damages one byte on the way, stop_at (if not SIZE_MAX) ends early. */
static void s_send(const char *path, zkv_snapshot_recv_t *recv, size_t chunk, size_t flip,
                   uint64_t stop_at)
{
    zkv_snapshot_file_t *file;
    char err[ERR_SIZE];
    assert_int_equal(zkv_snapshot_file_open(zkv_fs_posix(), path, &file, err, sizeof err), ZKV_OK);
    uint64_t size = zkv_snapshot_file_size(file);
    uint8_t *buf = malloc(chunk);
    assert_non_null(buf);
    uint64_t offset = 0;
    while (offset < size && offset < stop_at) {
        size_t got;
        assert_int_equal(zkv_snapshot_file_read(file, offset, buf, chunk, &got), ZKV_OK);
        assert_true(got > 0);
        if (flip != SIZE_MAX && flip >= offset && flip < offset + got)
            buf[flip - offset] ^= 0x01;
        assert_int_equal(zkv_snapshot_recv_offset(recv), offset);
        assert_int_equal(zkv_snapshot_recv_write(recv, offset, buf, got), ZKV_OK);
        offset += got;
    }
    size_t got;
    assert_int_equal(zkv_snapshot_file_read(file, size, buf, chunk, &got), ZKV_OK);
    assert_int_equal(got, 0);
    assert_int_equal(zkv_snapshot_file_read(file, size + 1, buf, chunk, &got), ZKV_EINVAL);
    free(buf);
    zkv_snapshot_file_destroy(&file);
    assert_null(file);
}

static void test_stream_chunks(void **state)
{
    (void) state;
    char *src = t_tmpdir("snapsrc"), *dst = t_tmpdir("snapdst");
    zkv_btree_t *tree = s_tree(10000);
    s_meta_t m;
    s_make_meta(&m, 5000, 9);
    char name[ZKV_SNAPSHOT_NAME_SIZE + 1], got_name[ZKV_SNAPSHOT_NAME_SIZE + 1], path[4096];
    s_write(src, tree, &m.meta, name);
    s_path_of(path, src, name);
    const zkv_fs_t *fs = zkv_fs_posix();

    /*  In order, in odd-sized chunks: validated, loaded, put in place. */
    zkv_snapshot_recv_t *recv = zkv_snapshot_recv_new(fs, dst, 5000, 9);
    assert_non_null(recv);
    assert_int_equal(zkv_snapshot_recv_write(recv, 5, "x", 1), ZKV_EINVAL);
    s_send(path, recv, 65537, SIZE_MAX, UINT64_MAX);
    zkv_btree_t *loaded = NULL;
    zkv_snapshot_meta_t meta;
    int rc = zkv_snapshot_recv_finish(recv, &loaded, &meta, got_name);
    if (rc != ZKV_OK)
        fail_msg("finish: %s", zkv_snapshot_recv_error(recv));
    assert_string_equal(got_name, name);
    s_same_tree(tree, loaded);
    s_same_meta(&m.meta, &meta);
    zkv_btree_destroy(&loaded);
    zkv_snapshot_meta_clear(&meta);
    zkv_snapshot_recv_destroy(&recv);
    char copy[4096];
    s_path_of(copy, dst, name);
    size_t a_size, b_size;
    uint8_t *a = t_read_file(path, &a_size), *b = t_read_file(copy, &b_size);
    assert_int_equal(a_size, b_size);
    assert_memory_equal(a, b, a_size);
    free(a);
    free(b);
    assert_int_equal(unlink(copy), 0);

    /*  Damaged on the way, cut short, or not the snapshot announced: refused,
        and nothing left behind. */
    struct {
        size_t flip;
        uint64_t stop_at;
        uint64_t index;
    } bad[] = {{12345, UINT64_MAX, 5000}, {SIZE_MAX, 200000, 5000}, {SIZE_MAX, UINT64_MAX, 5001}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        recv = zkv_snapshot_recv_new(fs, dst, bad[i].index, 9);
        s_send(path, recv, 100000, bad[i].flip, bad[i].stop_at);
        loaded = NULL;
        assert_int_equal(zkv_snapshot_recv_finish(recv, &loaded, NULL, NULL), ZKV_ECORRUPT);
        assert_null(loaded);
        assert_non_null(strstr(zkv_snapshot_recv_error(recv), ".recv"));
        zkv_snapshot_recv_destroy(&recv);
        t_dirsnap_t snap;
        t_dirsnap_take(dst, &snap);
        assert_int_equal(snap.count, 0);
        t_dirsnap_free(&snap);
    }

    /*  Nothing received: nothing to finish. */
    recv = zkv_snapshot_recv_new(fs, dst, 1, 1);
    assert_int_equal(zkv_snapshot_recv_finish(recv, NULL, NULL, NULL), ZKV_EINVAL);
    zkv_snapshot_recv_destroy(&recv);

    zkv_btree_destroy(&tree);
    t_rmtree(src);
    t_rmtree(dst);
    free(src);
    free(dst);
}

/*  ---- failing I/O */

static void test_io_errors(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snap");
    char err[ERR_SIZE], name[ZKV_SNAPSHOT_NAME_SIZE + 1], path[4096];
    zkv_btree_t *tree = s_tree(3000);
    s_meta_t m;
    s_make_meta(&m, 10, 1);
    s_write(dir, tree, &m.meta, name); /* the good one that must survive */
    s_path_of(path, dir, name);
    t_dirsnap_t before;
    t_dirsnap_take(dir, &before);

    zkv_fs_fault_t *fault = zkv_fs_fault_new(zkv_fs_posix());
    const zkv_fs_t *fs = zkv_fs_fault_fs(fault);
    const zkv_fs_op_t ops[] = {ZKV_FS_OP_PWRITE,   ZKV_FS_OP_SYNC, ZKV_FS_OP_RENAME,
                               ZKV_FS_OP_SYNC_DIR, ZKV_FS_OP_OPEN, ZKV_FS_OP_MKDIR,
                               ZKV_FS_OP_CLOSE};
    size_t failures = 0;
    s_make_meta(&m, 11, 1);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (unsigned long skip = 0;; skip++) {
            zkv_fs_fault_disarm(fault);
            zkv_fs_fault_arm(fault, ops[o], skip, false);
            unsigned long was = zkv_fs_fault_failures(fault);
            err[0] = '\0';
            int rc = zkv_snapshot_write(fs, dir, tree, &m.meta, name, err, sizeof err);
            if (zkv_fs_fault_failures(fault) == was) {
                assert_int_equal(rc, ZKV_OK);
                break;
            }
            failures++;
            if (rc != ZKV_EIO)
                fail_msg("op %d skip %lu: %d %s", (int) ops[o], skip, rc, err);
            assert_true(strlen(err) > 0);
            /*  Nothing left of the failed write; the old snapshot intact. */
            assert_true(t_dirsnap_matches(dir, &before));
        }
        s_path_of(path, dir, name);
        assert_int_equal(unlink(path), 0);
    }
    assert_true(failures >= 7);

    /*  Reads that fail are I/O errors, not corruption: the caller must not
        take a good snapshot for a bad one. */
    const zkv_fs_op_t read_ops[] = {ZKV_FS_OP_PREAD, ZKV_FS_OP_OPEN, ZKV_FS_OP_SIZE,
                                    ZKV_FS_OP_LIST};
    zkv_snapshot_name(10, 1, name);
    s_path_of(path, dir, name);
    for (size_t o = 0; o < sizeof read_ops / sizeof read_ops[0]; o++) {
        zkv_fs_fault_disarm(fault);
        zkv_fs_fault_arm(fault, read_ops[o], 0, true);
        zkv_btree_t *loaded = NULL;
        size_t refused;
        int rc = zkv_snapshot_load_latest(fs, dir, &loaded, NULL, name, &refused, err, sizeof err);
        assert_int_equal(rc, ZKV_EIO);
        assert_int_equal(refused, 0);
        assert_null(loaded);
        if (read_ops[o] != ZKV_FS_OP_LIST)
            assert_int_equal(zkv_snapshot_load(fs, path, &loaded, NULL, err, sizeof err), ZKV_EIO);
    }

    /*  A failing write while receiving. */
    zkv_fs_fault_disarm(fault);
    char dst[4096];
    s_path_of(dst, dir, "recv");
    zkv_snapshot_recv_t *recv = zkv_snapshot_recv_new(fs, dst, 10, 1);
    zkv_fs_fault_arm(fault, ZKV_FS_OP_PWRITE, 1, false);
    assert_int_equal(zkv_snapshot_recv_write(recv, 0, "abc", 3), ZKV_OK);
    assert_int_equal(zkv_snapshot_recv_write(recv, 3, "def", 3), ZKV_EIO);
    assert_int_equal(zkv_snapshot_recv_write(recv, 3, "def", 3), ZKV_EIO);
    assert_int_equal(zkv_snapshot_recv_finish(recv, NULL, NULL, NULL), ZKV_EIO);
    zkv_snapshot_recv_destroy(&recv);
    t_dirsnap_t snap;
    t_dirsnap_take(dst, &snap);
    assert_int_equal(snap.count, 0);
    t_dirsnap_free(&snap);

    zkv_fs_fault_destroy(&fault);
    t_dirsnap_free(&before);
    zkv_btree_destroy(&tree);
    t_rmtree(dir);
    free(dir);
}

/*  A disk that fills while a snapshot arrives: the write's ENOSPC is what
    every later chunk and the finish report, never "nothing to finish"; the
    partial file goes. The same for a create that fails. */
static void test_recv_no_space(void **state)
{
    (void) state;
    char *dir = t_tmpdir("snaprecv");
    zkv_fs_fault_t *fault = zkv_fs_fault_new(zkv_fs_posix());
    const zkv_fs_t *fs = zkv_fs_fault_fs(fault);
    zkv_fs_fault_errno(fault, ENOSPC);
    const zkv_fs_op_t ops[] = {ZKV_FS_OP_PWRITE, ZKV_FS_OP_OPEN};
    const char *calls[] = {"write ", "create "};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        zkv_fs_fault_disarm(fault);
        zkv_snapshot_recv_t *recv = zkv_snapshot_recv_new(fs, dir, 10, 1);
        assert_non_null(recv);
        zkv_fs_fault_arm(fault, ops[o], 0, false);
        assert_int_equal(zkv_snapshot_recv_write(recv, 0, "abc", 3), ZKV_EIO);
        assert_int_equal(zkv_snapshot_recv_write(recv, 3, "def", 3), ZKV_EIO);
        assert_int_equal(zkv_snapshot_recv_finish(recv, NULL, NULL, NULL), ZKV_EIO);
        const char *err = zkv_snapshot_recv_error(recv);
        if (!strstr(err, "No space left on device") || strncmp(err, calls[o], strlen(calls[o])))
            fail_msg("finish after a failed %s: '%s'", calls[o], err);
        assert_null(strstr(err, "nothing to finish"));
        zkv_snapshot_recv_destroy(&recv);
        t_dirsnap_t snap;
        t_dirsnap_take(dir, &snap);
        assert_int_equal(snap.count, 0);
        t_dirsnap_free(&snap);
    }
    zkv_fs_fault_destroy(&fault);
    t_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_round_trip_100k, t_teardown),
        cmocka_unit_test_teardown(test_empty_tree, t_teardown),
        cmocka_unit_test_teardown(test_corrupt_refused, t_teardown),
        cmocka_unit_test_teardown(test_invalid_content_refused, t_teardown),
        cmocka_unit_test_teardown(test_latest_and_prune, t_teardown),
        cmocka_unit_test_teardown(test_tmp_from_crash, t_teardown),
        cmocka_unit_test_teardown(test_prune_keeps_newer_tmp, t_teardown),
        cmocka_unit_test_teardown(test_write_view, t_teardown),
        cmocka_unit_test_teardown(test_stream_chunks, t_teardown),
        cmocka_unit_test_teardown(test_io_errors, t_teardown),
        cmocka_unit_test_teardown(test_recv_no_space, t_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
