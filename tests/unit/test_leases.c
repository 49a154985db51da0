/*  leases: the replicated lease table on its own (grants, keys attached and
    walked in key order, counts, the snapshot encoding and what it refuses),
    then the lease commands as the state machine applies them (attach, detach,
    revoke with its delete events, keepalive, transactions, retries) and the
    leases a snapshot's state carries across a restore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvstore.h"
#include "le.h"
#include "leases.h"
#include "zkv_error.h"

/* ---------------------------------------------------------------- helpers */

static zkv_bytes_t s_str(const char *s)
{
    return (zkv_bytes_t){(const uint8_t *) s, strlen(s)};
}

static zkv_bytes_t s_bin(const char *s, size_t size)
{
    return (zkv_bytes_t){(const uint8_t *) s, size};
}

/*  Leases seen by zkv_leases_each, or lease changes seen by the store's callback. */
typedef struct {
    zkv_lease_change_t change[32];
    uint64_t id[32];
    uint64_t ttl[32];
    size_t n;
    size_t stop_after; /* 0: never stop early */
} s_leases_seen_t;

static bool s_collect_lease(uint64_t id, uint64_t ttl_s, void *arg)
{
    s_leases_seen_t *seen = arg;
    assert_true(seen->n < 32);
    seen->id[seen->n] = id;
    seen->ttl[seen->n++] = ttl_s;
    return seen->stop_after == 0 || seen->n < seen->stop_after;
}

static void s_collect_change(void *arg, zkv_lease_change_t change, uint64_t id, uint64_t ttl_s)
{
    s_leases_seen_t *seen = arg;
    assert_true(seen->n < 32);
    seen->change[seen->n] = change;
    s_collect_lease(id, ttl_s, seen);
}

static void s_assert_change(const s_leases_seen_t *seen, size_t i, zkv_lease_change_t change,
                            uint64_t id, uint64_t ttl_s)
{
    assert_true(i < seen->n);
    assert_int_equal(seen->change[i], change);
    assert_int_equal(seen->id[i], id);
    assert_int_equal(seen->ttl[i], ttl_s);
}

/*  Take lease id's first key and detach it, until none is left: the keys must come in want's
    order, and each detach must drop the count of attached keys by one. */
static void s_assert_drain(zkv_leases_t *t, uint64_t id, const zkv_bytes_t *want, size_t n)
{
    uint8_t key[ZKV_KEY_SIZE_MAX];
    size_t size;
    for (size_t i = 0; i < n; i++) {
        size_t keys = zkv_leases_keys(t);
        assert_true(zkv_leases_first_key(t, id, key, &size));
        assert_int_equal(size, want[i].size);
        if (size)
            assert_memory_equal(key, want[i].data, size);
        zkv_leases_detach(t, id, want[i]);
        assert_int_equal(zkv_leases_keys(t), keys - 1);
    }
    assert_false(zkv_leases_first_key(t, id, key, &size));
}

/*  A table holding (id, ttl) pairs, given flat. */
static zkv_leases_t *s_table(const uint64_t *pairs, size_t n)
{
    zkv_leases_t *t = zkv_leases_new();
    assert_non_null(t);
    for (size_t i = 0; i + 1 < n; i += 2)
        assert_int_equal(zkv_leases_grant(t, pairs[i], pairs[i + 1]), ZKV_OK);
    return t;
}

#define S_TABLE(...)                                                                               \
    s_table((const uint64_t[]){__VA_ARGS__},                                                       \
            sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t))

/*  Decode from a buffer of exactly size bytes, so that ASan sees any read past it. */
static zkv_leases_t *s_decode_exact(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    if (size)
        memcpy(copy, data, size);
    zkv_leases_t *t = zkv_leases_decode(copy, size);
    free(copy);
    return t;
}

/* ---------------------------------------------------------------- the lease table */

static void test_grant_and_find(void **state)
{
    (void) state;
    zkv_leases_t *t = zkv_leases_new();
    uint64_t ttl = 0;
    assert_int_equal(zkv_leases_find(t, 1, &ttl), ZKV_ENOLEASE);
    assert_int_equal(zkv_leases_grant(t, 1, 10), ZKV_OK);
    /* An id in use is refused, and its lease keeps its ttl. */
    assert_int_equal(zkv_leases_grant(t, 1, 20), ZKV_EEXIST);
    assert_int_equal(zkv_leases_find(t, 1, &ttl), ZKV_OK);
    assert_int_equal(ttl, 10);
    assert_int_equal(zkv_leases_grant(t, 0, 10), ZKV_EINVAL);
    assert_int_equal(zkv_leases_grant(t, 2, 0), ZKV_EINVAL);
    assert_int_equal(zkv_leases_grant(t, 2, ZKV_LEASE_TTL_MAX + 1), ZKV_EINVAL);
    assert_int_equal(zkv_leases_find(t, 2, NULL), ZKV_ENOLEASE);
    assert_int_equal(zkv_leases_grant(t, 2, ZKV_LEASE_TTL_MAX), ZKV_OK);
    assert_int_equal(zkv_leases_grant(t, UINT64_MAX, 1), ZKV_OK);
    assert_int_equal(zkv_leases_find(t, UINT64_MAX, &ttl), ZKV_OK);
    assert_int_equal(ttl, 1);
    assert_int_equal(zkv_leases_find(t, 2, NULL), ZKV_OK);
    assert_int_equal(zkv_leases_count(t), 3);
    assert_int_equal(zkv_leases_keys(t), 0);
    zkv_leases_destroy(&t);
    assert_null(t);
}

/*  Keys that are prefixes of each other (and the empty key, the smallest) come back in key
    order, and a key attached to two leases stays with one when detached from the other. */
static void test_keys_walk_in_key_order(void **state)
{
    (void) state;
    zkv_leases_t *t = S_TABLE(1, 10, 2, 10);
    zkv_bytes_t keys[] = {s_str("ab"),     s_str("a"),   s_str(""),
                          s_bin("a\0", 2), s_str("abc"), s_str("b")};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(zkv_leases_attach(t, 1, keys[i]), ZKV_OK);
    assert_int_equal(zkv_leases_attach(t, 2, s_str("a")), ZKV_OK);
    /* Attached again: still one link. */
    assert_int_equal(zkv_leases_attach(t, 1, s_str("ab")), ZKV_OK);
    assert_int_equal(zkv_leases_keys(t), 7);
    /* Detaching what is not attached changes nothing. */
    zkv_leases_detach(t, 2, s_str("ab"));
    zkv_leases_detach(t, 1, s_str("zz"));
    assert_int_equal(zkv_leases_keys(t), 7);

    zkv_bytes_t in_order[] = {s_str(""),   s_str("a"),   s_bin("a\0", 2),
                              s_str("ab"), s_str("abc"), s_str("b")};
    s_assert_drain(t, 1, in_order, 6);
    s_assert_drain(t, 2, (zkv_bytes_t[]){s_str("a")}, 1);
    assert_int_equal(zkv_leases_keys(t), 0);
    assert_int_equal(zkv_leases_count(t), 2);
    zkv_leases_destroy(&t);
}

/*  Ids are kept big-endian: 255 and 256 (and the largest id) keep their keys apart. */
static void test_neighbouring_ids_keep_their_keys(void **state)
{
    (void) state;
    zkv_leases_t *t = S_TABLE(255, 5, 256, 5, UINT64_MAX, 5);
    assert_int_equal(zkv_leases_attach(t, 256, s_str("x")), ZKV_OK);
    assert_int_equal(zkv_leases_attach(t, UINT64_MAX, s_str("")), ZKV_OK);
    uint8_t key[ZKV_KEY_SIZE_MAX];
    size_t size = 99;
    assert_false(zkv_leases_first_key(t, 255, key, &size));
    assert_false(zkv_leases_first_key(t, 257, key, &size));
    s_assert_drain(t, 256, (zkv_bytes_t[]){s_str("x")}, 1);
    s_assert_drain(t, UINT64_MAX, (zkv_bytes_t[]){s_str("")}, 1);
    zkv_leases_destroy(&t);
}

static void test_remove(void **state)
{
    (void) state;
    zkv_leases_t *t = S_TABLE(3, 30, 4, 40);
    assert_int_equal(zkv_leases_attach(t, 3, s_str("k")), ZKV_OK);
    zkv_leases_detach(t, 3, s_str("k"));
    assert_int_equal(zkv_leases_remove(t, 3), ZKV_OK);
    assert_int_equal(zkv_leases_find(t, 3, NULL), ZKV_ENOLEASE);
    assert_int_equal(zkv_leases_remove(t, 3), ZKV_ENOLEASE);
    assert_int_equal(zkv_leases_remove(t, 5), ZKV_ENOLEASE);
    assert_int_equal(zkv_leases_count(t), 1);
    /* The id is free again. */
    assert_int_equal(zkv_leases_grant(t, 3, 33), ZKV_OK);
    assert_int_equal(zkv_leases_count(t), 2);
    zkv_leases_destroy(&t);
}

static void test_each_in_id_order(void **state)
{
    (void) state;
    zkv_leases_t *t = S_TABLE(65536, 1, 7, 2, 256, 3, 255, 4, 1, 5);
    s_leases_seen_t seen = {0};
    zkv_leases_each(t, s_collect_lease, &seen);
    const uint64_t ids[] = {1, 7, 255, 256, 65536}, ttls[] = {5, 2, 4, 3, 1};
    assert_int_equal(seen.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(seen.id[i], ids[i]);
        assert_int_equal(seen.ttl[i], ttls[i]);
    }
    /* The visitor stops the walk. */
    seen = (s_leases_seen_t){.stop_after = 2};
    zkv_leases_each(t, s_collect_lease, &seen);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.id[1], 7);
    zkv_leases_destroy(&t);
}

static void test_encode_decode_round_trip(void **state)
{
    (void) state;
    zkv_leases_t *t = S_TABLE(256, 5, 1, 7, UINT64_MAX, ZKV_LEASE_TTL_MAX);
    assert_int_equal(zkv_leases_attach(t, 1, s_str("k")), ZKV_OK);
    size_t size = 0;
    uint8_t *buf = zkv_leases_encode(t, &size);
    assert_non_null(buf);
    /* The documented layout: count, then (id, ttl) in id order, little-endian. */
    assert_int_equal(size, 8 + 3 * 16);
    assert_int_equal(zkv_le64_get(buf), 3);
    assert_int_equal(zkv_le64_get(buf + 8), 1);
    assert_int_equal(zkv_le64_get(buf + 16), 7);
    assert_int_equal(zkv_le64_get(buf + 24), 256);
    assert_int_equal(zkv_le64_get(buf + 48), ZKV_LEASE_TTL_MAX);

    zkv_leases_t *back = s_decode_exact(buf, size);
    assert_non_null(back);
    assert_int_equal(zkv_leases_count(back), 3);
    /* Keys are not in the encoding: they come back from the tree. */
    assert_int_equal(zkv_leases_keys(back), 0);
    uint64_t ttl = 0;
    assert_int_equal(zkv_leases_find(back, 256, &ttl), ZKV_OK);
    assert_int_equal(ttl, 5);
    size_t again_size = 0;
    uint8_t *again = zkv_leases_encode(back, &again_size);
    assert_int_equal(again_size, size);
    assert_memory_equal(again, buf, size);

    zkv_leases_t *empty = zkv_leases_new();
    free(again);
    again = zkv_leases_encode(empty, &again_size);
    assert_int_equal(again_size, 8);
    zkv_leases_destroy(&empty);
    empty = s_decode_exact(again, again_size);
    assert_non_null(empty);
    assert_int_equal(zkv_leases_count(empty), 0);
    zkv_leases_destroy(&empty);
    free(again);
    free(buf);
    zkv_leases_destroy(&back);
    zkv_leases_destroy(&t);
}

/*  buf with the u64 at offset replaced by value must not decode. */
static void s_assert_refused(const uint8_t *buf, size_t size, size_t offset, uint64_t value)
{
    uint8_t *copy = malloc(size);
    assert_non_null(copy);
    memcpy(copy, buf, size);
    zkv_le64_put(copy + offset, value);
    zkv_leases_t *t = zkv_leases_decode(copy, size);
    if (t)
        fail_msg("decoded with %llu at offset %zu", (unsigned long long) value, offset);
    free(copy);
}

static void test_decode_refuses_malformed(void **state)
{
    (void) state;
    zkv_leases_t *t = S_TABLE(10, 1, 20, 2, 30, 3);
    size_t size = 0;
    uint8_t *buf = zkv_leases_encode(t, &size);
    assert_int_equal(size, 56);
    for (size_t n = 0; n < size; n++)
        if (s_decode_exact(buf, n))
            fail_msg("a truncation to %zu bytes decoded", n);
    uint8_t longer[57] = {0};
    memcpy(longer, buf, size);
    assert_null(s_decode_exact(longer, sizeof longer));
    /* Sanity: the bytes themselves decode, so each refusal below is about its one change. */
    zkv_leases_t *ok = s_decode_exact(buf, size);
    assert_non_null(ok);
    zkv_leases_destroy(&ok);

    s_assert_refused(buf, size, 24, 10); /* second id equal to the first */
    s_assert_refused(buf, size, 40, 15); /* third id below the second */
    s_assert_refused(buf, size, 8, 0);   /* id 0 */
    s_assert_refused(buf, size, 32, 0);  /* a ttl of 0 */
    s_assert_refused(buf, size, 48, ZKV_LEASE_TTL_MAX + 1);
    s_assert_refused(buf, size, 0, 2); /* count short of the bytes */
    s_assert_refused(buf, size, 0, 4); /* count past them */
    s_assert_refused(buf, size, 0, UINT64_MAX);
    s_assert_refused(buf, size, 0, (UINT64_MAX >> 4) + 4); /* 8 + 16 * count wraps to 56 */
    free(buf);
    zkv_leases_destroy(&t);
}

/* ---------------------------------------------------------------- the lease commands */

static zkv_command_t s_grant(uint64_t id, uint64_t ttl_s)
{
    return (zkv_command_t){.type = ZKV_CMD_LEASE_GRANT, .lease = id, .ttl_s = ttl_s};
}

static zkv_command_t s_lease_cmd(zkv_cmd_type_t type, uint64_t id)
{
    return (zkv_command_t){.type = type, .lease = id};
}

/*  An anonymous put (no session: nothing but the data changes). */
static zkv_command_t s_put(const char *key, const char *value, uint64_t lease)
{
    return (zkv_command_t){
        .type = ZKV_CMD_PUT, .key = s_str(key), .value = s_str(value), .lease = lease};
}

/*  Apply cmd at index, expecting want; its result's count. */
static uint64_t s_apply(zkv_kvstore_t *kv, uint64_t index, zkv_command_t cmd, int want)
{
    zkv_result_t r;
    int rc = zkv_kvstore_apply(kv, index, &cmd, &r);
    if (rc != want)
        fail_msg("index %llu: %s, expected %s", (unsigned long long) index, zkv_strerror(rc),
                 zkv_strerror(want));
    assert_int_equal(r.status, rc);
    uint64_t count = r.count;
    zkv_result_clear(&r);
    return count;
}

/*  key's value and lease; NULL value: absent. */
static void s_assert_key(zkv_kvstore_t *kv, const char *key, const char *value, uint64_t lease)
{
    zkv_bytes_t got;
    zkv_btree_meta_t meta;
    int rc = zkv_btree_get_meta(zkv_kvstore_tree(kv), key, strlen(key), &got, &meta);
    if (!value) {
        assert_int_equal(rc, ZKV_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, ZKV_OK);
    assert_int_equal(got.size, strlen(value));
    if (got.size)
        assert_memory_equal(got.data, value, got.size);
    assert_int_equal(meta.lease, lease);
}

static size_t s_lease_keys(const zkv_kvstore_t *kv)
{
    return zkv_leases_keys(zkv_kvstore_leases(kv));
}

static void s_assert_ttl_data(const zkv_result_t *r, uint64_t ttl_s)
{
    assert_non_null(r->data);
    assert_int_equal(r->data_size, 8);
    assert_int_equal(zkv_le64_get(r->data), ttl_s);
}

static void test_cmd_grant(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_leases_seen_t seen = {0};
    zkv_kvstore_on_lease(kv, s_collect_change, &seen);
    zkv_result_t r;
    zkv_command_t grant = s_grant(0, 30);
    /* No id: the entry's index is one no other grant can have. */
    assert_int_equal(zkv_kvstore_apply(kv, 5, &grant, &r), ZKV_OK);
    assert_int_equal(r.count, 5);
    s_assert_ttl_data(&r, 30);
    zkv_result_clear(&r);
    grant = s_grant(100, 7);
    assert_int_equal(zkv_kvstore_apply(kv, 6, &grant, &r), ZKV_OK);
    assert_int_equal(r.count, 100);
    s_assert_ttl_data(&r, 7);
    zkv_result_clear(&r);
    s_apply(kv, 7, s_grant(100, 9), ZKV_EEXIST);
    s_apply(kv, 8, s_grant(0, 0), ZKV_EINVAL);
    s_apply(kv, 9, s_grant(9, ZKV_LEASE_TTL_MAX + 1), ZKV_EINVAL);

    uint64_t ttl = 0;
    assert_int_equal(zkv_leases_find(zkv_kvstore_leases(kv), 100, &ttl), ZKV_OK);
    assert_int_equal(ttl, 7);
    assert_int_equal(zkv_leases_count(zkv_kvstore_leases(kv)), 2);
    /* Only the grants that applied reach the lessor. */
    assert_int_equal(seen.n, 2);
    s_assert_change(&seen, 0, ZKV_LEASE_GRANTED, 5, 30);
    s_assert_change(&seen, 1, ZKV_LEASE_GRANTED, 100, 7);
    zkv_kvstore_destroy(&kv);
}

/*  A put with a lease attaches its key; one whose lease does not exist changes nothing. */
static void test_put_attaches_or_is_refused(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(1, 10), ZKV_OK);
    s_apply(kv, 2, s_put("k", "v", 1), ZKV_OK);
    s_assert_key(kv, "k", "v", 1);
    assert_int_equal(s_lease_keys(kv), 1);

    uint64_t before = zkv_kvstore_digest(kv);
    s_apply(kv, 3, s_put("x", "v", 9), ZKV_ENOLEASE);
    s_apply(kv, 4, s_put("k", "other", 9), ZKV_ENOLEASE);
    assert_int_equal(zkv_kvstore_digest(kv), before);
    s_assert_key(kv, "x", NULL, 0);
    s_assert_key(kv, "k", "v", 1);
    zkv_btree_meta_t meta;
    assert_int_equal(zkv_btree_get_meta(zkv_kvstore_tree(kv), "k", 1, NULL, &meta), ZKV_OK);
    assert_int_equal(meta.mod_revision, 2);
    assert_int_equal(meta.version, 1);
    assert_int_equal(s_lease_keys(kv), 1);
    zkv_kvstore_destroy(&kv);
}

/*  A put without a lease detaches the key: the lease's revoke leaves it alone. */
static void test_put_without_lease_detaches(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(1, 10), ZKV_OK);
    s_apply(kv, 2, s_put("k", "v1", 1), ZKV_OK);
    s_apply(kv, 3, s_put("k", "v2", 0), ZKV_OK);
    s_assert_key(kv, "k", "v2", 0);
    assert_int_equal(s_lease_keys(kv), 0);
    assert_int_equal(s_apply(kv, 4, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 1), ZKV_OK), 0);
    s_assert_key(kv, "k", "v2", 0);
    zkv_kvstore_destroy(&kv);
}

static void test_key_moves_between_leases(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(1, 10), ZKV_OK);
    s_apply(kv, 2, s_grant(2, 10), ZKV_OK);
    s_apply(kv, 3, s_put("k", "v1", 1), ZKV_OK);
    s_apply(kv, 4, s_put("k", "v2", 2), ZKV_OK);
    s_assert_key(kv, "k", "v2", 2);
    assert_int_equal(s_lease_keys(kv), 1);
    uint8_t key[ZKV_KEY_SIZE_MAX];
    size_t size;
    assert_false(zkv_leases_first_key(zkv_kvstore_leases(kv), 1, key, &size));
    assert_true(zkv_leases_first_key(zkv_kvstore_leases(kv), 2, key, &size));
    assert_int_equal(size, 1);
    assert_int_equal(key[0], 'k');
    /* The old lease no longer holds it; the new one does. */
    assert_int_equal(s_apply(kv, 5, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 1), ZKV_OK), 0);
    s_assert_key(kv, "k", "v2", 2);
    assert_int_equal(s_apply(kv, 6, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 2), ZKV_OK), 1);
    s_assert_key(kv, "k", NULL, 0);
    zkv_kvstore_destroy(&kv);
}

/*  Deleting leased keys, one or by range, detaches them. */
static void test_delete_detaches(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(1, 10), ZKV_OK);
    s_apply(kv, 2, s_put("a", "1", 1), ZKV_OK);
    s_apply(kv, 3, s_put("b", "2", 1), ZKV_OK);
    s_apply(kv, 4, s_put("c", "3", 1), ZKV_OK);
    assert_int_equal(s_lease_keys(kv), 3);
    zkv_command_t del = {.type = ZKV_CMD_DELETE, .key = s_str("b")};
    assert_int_equal(s_apply(kv, 5, del, ZKV_OK), 1);
    assert_int_equal(s_lease_keys(kv), 2);
    del = (zkv_command_t){
        .type = ZKV_CMD_DELETE, .key = s_str("a"), .end = s_str("c"), .range = true};
    assert_int_equal(s_apply(kv, 6, del, ZKV_OK), 1);
    assert_int_equal(s_lease_keys(kv), 1);
    /* A key put back after its delete is not the lease's any more. */
    s_apply(kv, 7, s_put("a", "again", 0), ZKV_OK);
    assert_int_equal(s_apply(kv, 8, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 1), ZKV_OK), 1);
    s_assert_key(kv, "a", "again", 0);
    s_assert_key(kv, "c", NULL, 0);
    assert_int_equal(s_lease_keys(kv), 0);
    zkv_kvstore_destroy(&kv);
}

/*  Events seen through zkv_kvstore_on_event, their keys copied. */
typedef struct {
    zkv_event_type_t type[16];
    uint64_t revision[16];
    uint32_t seq[16];
    char key[16][16];
    size_t n;
} s_events_t;

static void s_collect_event(void *arg, const zkv_event_t *event)
{
    s_events_t *seen = arg;
    assert_true(seen->n < 16);
    assert_true(event->key.size < 16);
    seen->type[seen->n] = event->type;
    seen->revision[seen->n] = event->revision;
    seen->seq[seen->n] = event->seq;
    if (event->key.size)
        memcpy(seen->key[seen->n], event->key.data, event->key.size);
    seen->key[seen->n++][event->key.size] = '\0';
}

/*  A store with leases 1 and 2: 1 holds "", "a" and "ab"; 2 holds "b"; "c" has none. */
static zkv_kvstore_t *s_store_with_leased_keys(void)
{
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(1, 10), ZKV_OK);
    s_apply(kv, 2, s_grant(2, 20), ZKV_OK);
    s_apply(kv, 3, s_put("ab", "x", 1), ZKV_OK);
    s_apply(kv, 4, s_put("b", "y", 2), ZKV_OK);
    s_apply(kv, 5, s_put("", "e", 1), ZKV_OK);
    s_apply(kv, 6, s_put("a", "z", 1), ZKV_OK);
    s_apply(kv, 7, s_put("c", "w", 0), ZKV_OK);
    return kv;
}

static void test_revoke_deletes_exactly_its_keys(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = s_store_with_leased_keys();
    s_events_t events = {0};
    s_leases_seen_t seen = {0};
    zkv_kvstore_on_event(kv, s_collect_event, &events);
    zkv_kvstore_on_lease(kv, s_collect_change, &seen);
    assert_int_equal(s_apply(kv, 10, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 1), ZKV_OK), 3);

    const char *deleted[] = {"", "a", "ab"};
    assert_int_equal(events.n, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(events.type[i], ZKV_EVENT_DELETE);
        assert_string_equal(events.key[i], deleted[i]);
        assert_int_equal(events.revision[i], 10);
        assert_int_equal(events.seq[i], i);
        s_assert_key(kv, deleted[i], NULL, 0);
    }
    s_assert_key(kv, "b", "y", 2);
    s_assert_key(kv, "c", "w", 0);
    assert_int_equal(zkv_btree_count(zkv_kvstore_tree(kv)), 2);
    assert_int_equal(s_lease_keys(kv), 1);
    assert_int_equal(zkv_leases_find(zkv_kvstore_leases(kv), 1, NULL), ZKV_ENOLEASE);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.change[0], ZKV_LEASE_REVOKED);
    assert_int_equal(seen.id[0], 1);

    /* Gone, or never there: refused, with no event. */
    s_apply(kv, 11, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 1), ZKV_ENOLEASE);
    s_apply(kv, 12, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 77), ZKV_ENOLEASE);
    s_apply(kv, 13, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 0), ZKV_EINVAL);
    assert_int_equal(events.n, 3);
    assert_int_equal(seen.n, 1);
    zkv_kvstore_destroy(&kv);
}

static void test_keepalive(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_leases_seen_t seen = {0};
    zkv_kvstore_on_lease(kv, s_collect_change, &seen);
    s_apply(kv, 1, s_grant(3, 15), ZKV_OK);
    zkv_result_t r;
    zkv_command_t keepalive = s_lease_cmd(ZKV_CMD_LEASE_KEEPALIVE, 3);
    assert_int_equal(zkv_kvstore_apply(kv, 2, &keepalive, &r), ZKV_OK);
    s_assert_ttl_data(&r, 15);
    zkv_result_clear(&r);
    s_apply(kv, 3, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 3), ZKV_OK);
    assert_int_equal(zkv_kvstore_apply(kv, 4, &keepalive, &r), ZKV_ENOLEASE);
    assert_null(r.data);
    s_apply(kv, 5, s_lease_cmd(ZKV_CMD_LEASE_KEEPALIVE, 0), ZKV_EINVAL);

    assert_int_equal(seen.n, 3);
    s_assert_change(&seen, 0, ZKV_LEASE_GRANTED, 3, 15);
    s_assert_change(&seen, 1, ZKV_LEASE_RENEWED, 3, 15);
    s_assert_change(&seen, 2, ZKV_LEASE_REVOKED, 3, 0);
    zkv_kvstore_destroy(&kv);
}

/*  A new leader's lessor learns every lease from the store. */
static void test_each_lease_reports_granted(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(9, 90), ZKV_OK);
    s_apply(kv, 2, s_grant(2, 20), ZKV_OK);
    s_apply(kv, 3, s_grant(400, 4), ZKV_OK);
    s_leases_seen_t seen = {0};
    zkv_kvstore_on_lease(kv, s_collect_change, &seen);
    zkv_kvstore_each_lease(kv);
    assert_int_equal(seen.n, 3);
    s_assert_change(&seen, 0, ZKV_LEASE_GRANTED, 2, 20);
    s_assert_change(&seen, 1, ZKV_LEASE_GRANTED, 9, 90);
    s_assert_change(&seen, 2, ZKV_LEASE_GRANTED, 400, 4);
    zkv_kvstore_destroy(&kv);
}

/*  One put of a transaction names a lease that does not exist: the whole transaction is
    refused before any of it is written. */
static void test_txn_with_missing_lease_writes_nothing(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(1, 10), ZKV_OK);
    zkv_txn_op_t then[] = {
        {.type = ZKV_TXN_PUT, .key = s_str("t1"), .value = s_str("1"), .lease = 1},
        {.type = ZKV_TXN_PUT, .key = s_str("t2"), .value = s_str("2"), .lease = 7},
    };
    zkv_txn_t txn = {.success = then, .success_count = 2};
    zkv_command_t cmd = {.type = ZKV_CMD_TXN, .txn = &txn};
    uint64_t before = zkv_kvstore_digest(kv);
    s_apply(kv, 2, cmd, ZKV_ENOLEASE);
    s_assert_key(kv, "t1", NULL, 0);
    s_assert_key(kv, "t2", NULL, 0);
    assert_int_equal(s_lease_keys(kv), 0);
    assert_int_equal(zkv_kvstore_digest(kv), before);

    then[1].lease = 1;
    s_apply(kv, 3, cmd, ZKV_OK);
    s_assert_key(kv, "t1", "1", 1);
    s_assert_key(kv, "t2", "2", 1);
    assert_int_equal(s_lease_keys(kv), 2);
    assert_int_equal(s_apply(kv, 4, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 1), ZKV_OK), 2);
    s_assert_key(kv, "t1", NULL, 0);
    zkv_kvstore_destroy(&kv);
}

/*  Only the branch that runs is checked: a missing lease in the other one does not matter. */
static void test_txn_checks_only_the_chosen_branch(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(1, 10), ZKV_OK);
    zkv_compare_t cmp = {.key = s_str("t"), .target = ZKV_CMP_VERSION, .number = 0};
    zkv_txn_op_t then[] = {
        {.type = ZKV_TXN_PUT, .key = s_str("t"), .value = s_str("1"), .lease = 1}};
    zkv_txn_op_t otherwise[] = {
        {.type = ZKV_TXN_PUT, .key = s_str("u"), .value = s_str("2"), .lease = 7}};
    zkv_txn_t txn = {&cmp, 1, then, 1, otherwise, 1};
    zkv_command_t cmd = {.type = ZKV_CMD_TXN, .txn = &txn};
    s_apply(kv, 2, cmd, ZKV_OK);
    s_assert_key(kv, "t", "1", 1);
    /* Now the compare fails and the failure branch, with its missing lease, is chosen. */
    s_apply(kv, 3, cmd, ZKV_ENOLEASE);
    s_assert_key(kv, "u", NULL, 0);
    zkv_kvstore_destroy(&kv);
}

/*  A grant retried by its client (the first answer lost) is answered from the session: the
    same id, and no second lease at the retry's index. */
static void test_grant_retry_applies_once(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, (zkv_command_t){.type = ZKV_CMD_OPEN_SESSION, .client_id = 42}, ZKV_OK);
    s_leases_seen_t seen = {0};
    zkv_kvstore_on_lease(kv, s_collect_change, &seen);
    zkv_command_t grant = s_grant(0, 10);
    grant.client_id = 42;
    grant.sequence = 1;
    grant.first_unacked = 1;
    zkv_result_t r;
    assert_int_equal(zkv_kvstore_apply(kv, 2, &grant, &r), ZKV_OK);
    assert_false(r.duplicate);
    assert_int_equal(r.count, 2);
    zkv_result_clear(&r);

    assert_int_equal(zkv_kvstore_apply(kv, 5, &grant, &r), ZKV_OK);
    assert_true(r.duplicate);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.index, 2);
    s_assert_ttl_data(&r, 10);
    zkv_result_clear(&r);
    assert_int_equal(zkv_leases_count(zkv_kvstore_leases(kv)), 1);
    assert_int_equal(zkv_leases_find(zkv_kvstore_leases(kv), 5, NULL), ZKV_ENOLEASE);
    assert_int_equal(seen.n, 1);
    zkv_kvstore_destroy(&kv);
}

/* ---------------------------------------------------------------- snapshots */

static bool s_copy_visit(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta,
                         void *arg)
{
    int rc = zkv_btree_put(arg, key.data, key.size, value.data, value.size, meta, NULL, NULL, NULL);
    assert_int_equal(rc, ZKV_OK);
    return true;
}

/*  A copy of kv's tree, keys, values and metadata, as a snapshot would load it. */
static zkv_btree_t *s_copy_tree(zkv_kvstore_t *kv)
{
    zkv_btree_t *copy = zkv_btree_new();
    assert_non_null(copy);
    zkv_btree_range(zkv_kvstore_tree(kv), NULL, 0, NULL, 0, false, 0, s_copy_visit, copy);
    assert_int_equal(zkv_btree_count(copy), zkv_btree_count(zkv_kvstore_tree(kv)));
    return copy;
}

/*  kv's state and a copy of its tree restored into a new store. */
static zkv_kvstore_t *s_restored(zkv_kvstore_t *kv)
{
    size_t size = 0;
    uint8_t *blob = zkv_kvstore_encode_state(kv, &size);
    assert_non_null(blob);
    zkv_btree_t *tree = s_copy_tree(kv);
    zkv_kvstore_t *copy = zkv_kvstore_new();
    assert_int_equal(zkv_kvstore_restore(copy, zkv_kvstore_applied(kv), &tree, blob, size), ZKV_OK);
    assert_null(tree);
    free(blob);
    return copy;
}

static void s_assert_same_leases(zkv_kvstore_t *a, zkv_kvstore_t *b)
{
    s_leases_seen_t in_a = {0}, in_b = {0};
    zkv_leases_each(zkv_kvstore_leases(a), s_collect_lease, &in_a);
    zkv_leases_each(zkv_kvstore_leases(b), s_collect_lease, &in_b);
    assert_int_equal(in_a.n, in_b.n);
    assert_memory_equal(in_a.id, in_b.id, in_a.n * sizeof in_a.id[0]);
    assert_memory_equal(in_a.ttl, in_b.ttl, in_a.n * sizeof in_a.ttl[0]);
    assert_int_equal(s_lease_keys(a), s_lease_keys(b));
}

static void test_restore_keeps_leases_and_their_keys(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = s_store_with_leased_keys();
    s_apply(kv, 8, s_grant(3, 30), ZKV_OK); /* a lease with no key */
    zkv_kvstore_t *copy = s_restored(kv);
    assert_int_equal(zkv_leases_count(zkv_kvstore_leases(copy)), 3);
    assert_int_equal(s_lease_keys(copy), 4);
    s_assert_same_leases(kv, copy);
    assert_int_equal(zkv_kvstore_digest(copy), zkv_kvstore_digest(kv));

    /* The same revoke deletes the same keys on both. */
    assert_int_equal(s_apply(copy, 9, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 1), ZKV_OK), 3);
    assert_int_equal(s_apply(kv, 9, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 1), ZKV_OK), 3);
    s_assert_key(copy, "a", NULL, 0);
    s_assert_key(copy, "b", "y", 2);
    assert_int_equal(s_apply(copy, 10, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 2), ZKV_OK), 1);
    assert_int_equal(s_apply(kv, 10, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 2), ZKV_OK), 1);
    s_assert_same_leases(kv, copy);
    assert_int_equal(zkv_kvstore_digest(copy), zkv_kvstore_digest(kv));
    assert_int_equal(zkv_btree_count(zkv_kvstore_tree(copy)), 1);
    zkv_kvstore_destroy(&copy);
    zkv_kvstore_destroy(&kv);
}

/*  A tree whose key names a lease the state does not hold is a corrupt snapshot. */
static void test_restore_refuses_unknown_lease(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = s_store_with_leased_keys();
    size_t size = 0;
    uint8_t *blob = zkv_kvstore_encode_state(kv, &size);
    zkv_btree_t *tree = s_copy_tree(kv);
    zkv_btree_meta_t meta = {.create_revision = 8, .mod_revision = 8, .version = 1, .lease = 99};
    assert_int_equal(zkv_btree_put(tree, "z", 1, "v", 1, &meta, NULL, NULL, NULL), ZKV_OK);

    zkv_kvstore_t *other = zkv_kvstore_new();
    s_apply(other, 1, s_grant(5, 50), ZKV_OK);
    s_apply(other, 2, s_put("keep", "me", 5), ZKV_OK);
    uint64_t before = zkv_kvstore_digest(other);
    assert_int_equal(zkv_kvstore_restore(other, 20, &tree, blob, size), ZKV_ECORRUPT);
    /* Nothing changed, and the tree is still the caller's. */
    assert_non_null(tree);
    assert_int_equal(zkv_kvstore_digest(other), before);
    assert_int_equal(zkv_kvstore_applied(other), 2);
    s_assert_key(other, "keep", "me", 5);
    assert_int_equal(s_lease_keys(other), 1);
    zkv_btree_destroy(&tree);
    free(blob);
    zkv_kvstore_destroy(&other);
    zkv_kvstore_destroy(&kv);
}

static void test_digest_covers_lease_ttl(void **state)
{
    (void) state;
    zkv_kvstore_t *a = zkv_kvstore_new(), *b = zkv_kvstore_new(), *c = zkv_kvstore_new();
    s_apply(a, 1, s_grant(1, 10), ZKV_OK);
    s_apply(b, 1, s_grant(1, 11), ZKV_OK);
    s_apply(c, 1, s_grant(1, 10), ZKV_OK);
    assert_int_not_equal(zkv_kvstore_digest(a), zkv_kvstore_digest(b));
    assert_int_equal(zkv_kvstore_digest(a), zkv_kvstore_digest(c));
    zkv_kvstore_destroy(&a);
    zkv_kvstore_destroy(&b);
    zkv_kvstore_destroy(&c);
}

/*  A key of the longest size can have a lease: the lease's index puts its id
    before the key, past the store's key limit (a wide tree). */
static void test_longest_key_on_a_lease(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(7, 10), ZKV_OK);
    char *key = malloc(ZKV_KEY_SIZE_MAX + 1);
    memset(key, 'k', ZKV_KEY_SIZE_MAX);
    key[ZKV_KEY_SIZE_MAX] = '\0';
    s_apply(kv, 2, s_put(key, "v", 7), ZKV_OK);
    assert_int_equal(zkv_leases_keys(zkv_kvstore_leases(kv)), 1);
    assert_int_equal(s_apply(kv, 3, s_lease_cmd(ZKV_CMD_LEASE_REVOKE, 7), ZKV_OK), 1);
    assert_int_equal(zkv_btree_count(zkv_kvstore_tree(kv)), 0);
    free(key);
    zkv_kvstore_destroy(&kv);
}

/*  A grant without an id takes its index, or the next free id when a client
    chose that one: it never fails for want of an id. */
static void test_grant_skips_taken_ids(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    s_apply(kv, 1, s_grant(5, 10), ZKV_OK);
    s_apply(kv, 2, s_grant(6, 10), ZKV_OK);
    assert_int_equal(s_apply(kv, 5, s_grant(0, 10), ZKV_OK), 7);
    assert_int_equal(s_apply(kv, 8, s_grant(0, 10), ZKV_OK), 8);
    assert_int_equal(zkv_leases_count(zkv_kvstore_leases(kv)), 4);
    zkv_kvstore_destroy(&kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grant_and_find),
        cmocka_unit_test(test_keys_walk_in_key_order),
        cmocka_unit_test(test_neighbouring_ids_keep_their_keys),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_each_in_id_order),
        cmocka_unit_test(test_encode_decode_round_trip),
        cmocka_unit_test(test_decode_refuses_malformed),
        cmocka_unit_test(test_cmd_grant),
        cmocka_unit_test(test_put_attaches_or_is_refused),
        cmocka_unit_test(test_put_without_lease_detaches),
        cmocka_unit_test(test_key_moves_between_leases),
        cmocka_unit_test(test_delete_detaches),
        cmocka_unit_test(test_revoke_deletes_exactly_its_keys),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_each_lease_reports_granted),
        cmocka_unit_test(test_txn_with_missing_lease_writes_nothing),
        cmocka_unit_test(test_txn_checks_only_the_chosen_branch),
        cmocka_unit_test(test_grant_retry_applies_once),
        cmocka_unit_test(test_restore_keeps_leases_and_their_keys),
        cmocka_unit_test(test_restore_refuses_unknown_lease),
        cmocka_unit_test(test_digest_covers_lease_ttl),
        cmocka_unit_test(test_longest_key_on_a_lease),
        cmocka_unit_test(test_grant_skips_taken_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
