/*  kvstore: commands applied once per (client, sequence), writes refused
    without an open session, sessions that survive a snapshot round trip, and
    a digest that tells replicas apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvstore.h"
#include "sessions.h"
#include "zkv_error.h"

static zkv_bytes_t s_str(const char *s)
{
    return (zkv_bytes_t){(const uint8_t *) s, strlen(s)};
}

static zkv_command_t s_put(uint64_t client, uint64_t seq, const char *key, const char *value)
{
    return (zkv_command_t){.type = ZKV_CMD_PUT,
                           .client_id = client,
                           .sequence = seq,
                           .first_unacked = 1,
                           .key = s_str(key),
                           .value = s_str(value)};
}

/*  A store whose sessions for ids are open, as a snapshot at index 0 leaves it. */
static zkv_kvstore_t *s_kv_open(const uint64_t *ids, size_t n)
{
    zkv_sessions_t *sessions = zkv_sessions_new(ZKV_SESSIONS_MAX, ZKV_SESSION_WINDOW);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(zkv_sessions_open(sessions, 0, ids[i]), ZKV_OK);
    size_t size;
    uint8_t *sessions_blob = zkv_sessions_encode(sessions, &size);
    /* The state blob: its format's magic, then the sessions. */
    uint8_t *blob = malloc(size + 8);
    memcpy(blob, "ZKVSTAT2", 8);
    memcpy(blob + 8, sessions_blob, size);
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_btree_t *tree = zkv_btree_new();
    assert_int_equal(zkv_kvstore_restore(kv, 0, &tree, blob, size + 8), ZKV_OK);
    free(blob);
    free(sessions_blob);
    zkv_sessions_destroy(&sessions);
    return kv;
}

#define S_KV_OPEN(...)                                                                             \
    s_kv_open((const uint64_t[]){__VA_ARGS__},                                                     \
              sizeof((const uint64_t[]){__VA_ARGS__}) / sizeof(uint64_t))

static void s_assert_value(zkv_kvstore_t *kv, const char *key, const char *want)
{
    zkv_bytes_t got;
    int rc = zkv_btree_get(zkv_kvstore_tree(kv), key, strlen(key), &got);
    if (!want) {
        assert_int_equal(rc, ZKV_ENOTFOUND);
        return;
    }
    assert_int_equal(rc, ZKV_OK);
    assert_int_equal(got.size, strlen(want));
    assert_memory_equal(got.data, want, got.size);
}

static void test_put_get_delete(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = S_KV_OPEN(7);
    zkv_result_t r;
    zkv_command_t put = s_put(7, 1, "100", "Alice");
    assert_int_equal(zkv_kvstore_apply(kv, 1, &put, &r), ZKV_OK);
    assert_false(r.found);
    assert_int_equal(r.index, 1);
    s_assert_value(kv, "100", "Alice");

    zkv_command_t del = {.type = ZKV_CMD_DELETE,
                         .client_id = 7,
                         .sequence = 2,
                         .first_unacked = 2,
                         .key = s_str("100")};
    assert_int_equal(zkv_kvstore_apply(kv, 2, &del, &r), ZKV_OK);
    assert_true(r.found);
    s_assert_value(kv, "100", NULL);
    del.sequence = 3;
    assert_int_equal(zkv_kvstore_apply(kv, 3, &del, &r), ZKV_ENOTFOUND);
    assert_int_equal(zkv_kvstore_applied(kv), 3);
    zkv_kvstore_destroy(&kv);
    assert_null(kv);
}

static void test_retried_write_applies_once(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = S_KV_OPEN(9, 10);
    zkv_result_t r;
    zkv_command_t a = s_put(9, 1, "k", "first");
    assert_int_equal(zkv_kvstore_apply(kv, 1, &a, &r), ZKV_OK);
    zkv_command_t other = s_put(10, 1, "k", "second");
    assert_int_equal(zkv_kvstore_apply(kv, 2, &other, &r), ZKV_OK);
    /* The retry of client 9's write, committed again later, must not undo client 10's. */
    assert_int_equal(zkv_kvstore_apply(kv, 3, &a, &r), ZKV_OK);
    assert_true(r.duplicate);
    assert_int_equal(r.index, 1);
    s_assert_value(kv, "k", "second");
    zkv_kvstore_destroy(&kv);
}

static void test_pipelined_sequences_out_of_order(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = S_KV_OPEN(5);
    zkv_result_t r;
    /* Sequence 2 commits before 1: both apply, each once. */
    zkv_command_t two = s_put(5, 2, "b", "2");
    zkv_command_t one = s_put(5, 1, "a", "1");
    assert_int_equal(zkv_kvstore_apply(kv, 1, &two, &r), ZKV_OK);
    assert_false(r.duplicate);
    assert_int_equal(zkv_kvstore_apply(kv, 2, &one, &r), ZKV_OK);
    assert_false(r.duplicate);
    assert_int_equal(zkv_kvstore_apply(kv, 3, &one, &r), ZKV_OK);
    assert_true(r.duplicate);
    /* Once the client says it has seen everything below 3, sequence 1 is forgotten. */
    zkv_command_t three = s_put(5, 3, "c", "3");
    three.first_unacked = 3;
    assert_int_equal(zkv_kvstore_apply(kv, 4, &three, &r), ZKV_OK);
    assert_int_equal(zkv_kvstore_apply(kv, 5, &one, &r), ZKV_EINVAL);
    s_assert_value(kv, "a", "1");
    zkv_kvstore_destroy(&kv);
}

static void test_cas(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_result_t r;
    /* Absent: version 0. */
    zkv_command_t cas = {.type = ZKV_CMD_CAS,
                         .key = s_str("x"),
                         .compare = {.key = s_str("x"), .target = ZKV_CMP_VERSION},
                         .value = s_str("v1")};
    assert_int_equal(zkv_kvstore_apply(kv, 1, &cas, &r), ZKV_OK);
    assert_int_equal(zkv_kvstore_apply(kv, 2, &cas, &r), ZKV_EMISMATCH);
    s_assert_value(kv, "x", "v1");
    cas.compare.target = ZKV_CMP_VALUE;
    cas.compare.value = s_str("v0");
    cas.value = s_str("v2");
    assert_int_equal(zkv_kvstore_apply(kv, 3, &cas, &r), ZKV_EMISMATCH);
    assert_true(r.found);
    cas.compare.value = s_str("v1");
    assert_int_equal(zkv_kvstore_apply(kv, 4, &cas, &r), ZKV_OK);
    s_assert_value(kv, "x", "v2");
    /* cas on an absent key with an expected value fails. */
    cas.key = cas.compare.key = s_str("y");
    assert_int_equal(zkv_kvstore_apply(kv, 5, &cas, &r), ZKV_EMISMATCH);
    assert_false(r.found);
    s_assert_value(kv, "y", NULL);
    zkv_kvstore_destroy(&kv);
}

static void test_return_previous_and_its_retry(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = S_KV_OPEN(3);
    zkv_result_t r;
    zkv_command_t put = s_put(3, 1, "k", "old");
    assert_int_equal(zkv_kvstore_apply(kv, 1, &put, &r), ZKV_OK);
    assert_null(r.data);
    zkv_command_t again = s_put(3, 2, "k", "new");
    again.return_previous = true;
    assert_int_equal(zkv_kvstore_apply(kv, 2, &again, &r), ZKV_OK);
    assert_true(r.found);
    assert_int_equal(r.data_size, 3);
    assert_memory_equal(r.data, "old", 3);
    zkv_result_clear(&r);
    assert_int_equal(zkv_kvstore_apply(kv, 3, &again, &r), ZKV_OK);
    assert_true(r.duplicate);
    assert_int_equal(r.data_size, 3);
    assert_memory_equal(r.data, "old", 3);
    zkv_result_clear(&r);
    zkv_kvstore_destroy(&kv);
}

static void test_bad_commands_change_nothing(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = S_KV_OPEN(1);
    zkv_result_t r;
    uint64_t before = zkv_kvstore_digest(kv);
    char *big = calloc(ZKV_KEY_SIZE_MAX + 2, 1);
    memset(big, 'k', ZKV_KEY_SIZE_MAX + 1);
    zkv_command_t put = s_put(1, 1, big, "v");
    assert_int_equal(zkv_kvstore_apply(kv, 1, &put, &r), ZKV_EKEYSIZE);
    zkv_command_t bogus = s_put(1, 1, "k", "v");
    bogus.type = (zkv_cmd_type_t) 99;
    assert_int_equal(zkv_kvstore_apply(kv, 2, &bogus, &r), ZKV_EINVAL);
    assert_int_equal(zkv_kvstore_digest(kv), before);
    assert_int_equal(zkv_btree_count(zkv_kvstore_tree(kv)), 0);
    free(big);
    zkv_kvstore_destroy(&kv);
}

static void test_window_full_refuses(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = S_KV_OPEN(4);
    zkv_result_t r;
    uint64_t index = 0;
    for (uint64_t seq = 1; seq <= ZKV_SESSION_WINDOW; seq++) {
        zkv_command_t put = s_put(4, seq, "k", "v");
        assert_int_equal(zkv_kvstore_apply(kv, ++index, &put, &r), ZKV_OK);
    }
    zkv_command_t over = s_put(4, ZKV_SESSION_WINDOW + 1, "other", "v");
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &over, &r), ZKV_EBUSY);
    s_assert_value(kv, "other", NULL);
    over.first_unacked = ZKV_SESSION_WINDOW;
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &over, &r), ZKV_OK);
    s_assert_value(kv, "other", "v");
    zkv_kvstore_destroy(&kv);
}

static void test_sessions_survive_restore(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_result_t r;
    for (uint64_t c = 1; c <= 50; c++) {
        zkv_command_t open = {.type = ZKV_CMD_OPEN_SESSION, .client_id = c};
        assert_int_equal(zkv_kvstore_apply(kv, 2 * c - 1, &open, &r), ZKV_OK);
        zkv_command_t put = s_put(c, 1, "k", "v");
        put.return_previous = c % 2;
        assert_int_equal(zkv_kvstore_apply(kv, 2 * c, &put, &r), ZKV_OK);
        zkv_result_clear(&r);
    }
    size_t size;
    uint8_t *blob = zkv_kvstore_encode_state(kv, &size);
    assert_non_null(blob);

    zkv_kvstore_t *copy = zkv_kvstore_new();
    zkv_btree_t *tree = zkv_btree_new();
    /* As the 50 puts at indexes 2, 4, ... 100 left it. */
    zkv_btree_meta_t meta = {.create_revision = 2, .mod_revision = 100, .version = 50};
    assert_int_equal(zkv_btree_put(tree, "k", 1, "v", 1, &meta, NULL, NULL, NULL), ZKV_OK);
    assert_int_equal(zkv_kvstore_restore(copy, 100, &tree, blob, size), ZKV_OK);
    assert_null(tree);
    assert_int_equal(zkv_kvstore_applied(copy), 100);
    assert_int_equal(zkv_kvstore_sessions(copy), 50);
    /* A retry after the restore is still recognised. */
    zkv_command_t retry = s_put(17, 1, "k", "changed");
    assert_int_equal(zkv_kvstore_apply(copy, 110, &retry, &r), ZKV_OK);
    assert_true(r.duplicate);
    assert_int_equal(r.data_size, 1); /* client 17 asked for the previous value */
    zkv_result_clear(&r);
    s_assert_value(copy, "k", "v");
    assert_int_equal(zkv_kvstore_digest(copy), zkv_kvstore_digest(kv));

    size_t size2;
    uint8_t *blob2 = zkv_kvstore_encode_state(copy, &size2);
    zkv_kvstore_destroy(&copy);

    /* Every truncation and many corruptions are refused without a crash. */
    for (size_t cut = 0; cut < size - 8; cut++) {
        zkv_sessions_t *s =
            zkv_sessions_decode(blob + 8, cut, 2, ZKV_SESSIONS_MAX, ZKV_SESSION_WINDOW);
        assert_null(s);
    }
    zkv_sessions_t *too_many = zkv_sessions_decode(blob + 8, size - 8, 2, 10, ZKV_SESSION_WINDOW);
    assert_null(too_many);
    free(blob);
    free(blob2);
    zkv_kvstore_destroy(&kv);
}

static void test_eviction_is_least_recent(void **state)
{
    (void) state;
    zkv_sessions_t *s = zkv_sessions_new(3, 8);
    const zkv_stored_result_t *stored;
    zkv_stored_result_t result = {.sequence = 1, .status = ZKV_OK};
    for (uint64_t c = 1; c <= 3; c++) {
        assert_int_equal(zkv_sessions_open(s, c, c), ZKV_OK);
        assert_int_equal(zkv_sessions_check(s, c + 10, c, 1, 1, &stored), ZKV_SESSION_NEW);
        result.index = c + 10;
        assert_int_equal(zkv_sessions_store(s, c, &result), ZKV_OK);
    }
    /* Client 1 becomes the most recent; client 2 is then the one evicted by client 4. */
    assert_int_equal(zkv_sessions_check(s, 20, 1, 1, 1, &stored), ZKV_SESSION_DUPLICATE);
    assert_int_equal(zkv_sessions_open(s, 21, 4), ZKV_OK);
    assert_int_equal(zkv_sessions_count(s), 3);
    assert_int_equal(zkv_sessions_evicted(s), 1);
    assert_int_equal(zkv_sessions_check(s, 22, 3, 1, 1, &stored), ZKV_SESSION_DUPLICATE);
    assert_int_equal(zkv_sessions_check(s, 23, 1, 1, 1, &stored), ZKV_SESSION_DUPLICATE);
    /* The forgotten client's retry is refused, never taken for a new write. */
    assert_int_equal(zkv_sessions_check(s, 24, 2, 1, 1, &stored), ZKV_SESSION_EXPIRED);
    assert_int_equal(zkv_sessions_count(s), 3);
    zkv_sessions_destroy(&s);
}

/*  The eviction order survives a snapshot: decoded sessions come back in
    order of activity, not of client id. */
static void test_eviction_order_survives_restore(void **state)
{
    (void) state;
    zkv_sessions_t *s = zkv_sessions_new(3, 8);
    const zkv_stored_result_t *stored;
    assert_int_equal(zkv_sessions_open(s, 1, 30), ZKV_OK);
    assert_int_equal(zkv_sessions_open(s, 2, 10), ZKV_OK);
    assert_int_equal(zkv_sessions_open(s, 3, 20), ZKV_OK);
    assert_int_equal(zkv_sessions_check(s, 4, 30, 1, 1, &stored), ZKV_SESSION_NEW);
    size_t size;
    uint8_t *blob = zkv_sessions_encode(s, &size);
    zkv_sessions_t *copy = zkv_sessions_decode(blob, size, ZKV_SESSIONS_FORMAT, 3, 8);
    assert_non_null(copy);
    /* Least recent is 10, then 20, then 30 (touched last), in both. */
    zkv_sessions_t *both[] = {s, copy};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(zkv_sessions_open(both[k], 5, 40), ZKV_OK);
        assert_int_equal(zkv_sessions_check(both[k], 6, 10, 1, 1, &stored), ZKV_SESSION_EXPIRED);
        assert_int_equal(zkv_sessions_open(both[k], 7, 50), ZKV_OK);
        assert_int_equal(zkv_sessions_check(both[k], 8, 20, 1, 1, &stored), ZKV_SESSION_EXPIRED);
        assert_int_equal(zkv_sessions_check(both[k], 9, 30, 1, 1, &stored), ZKV_SESSION_NEW);
    }
    free(blob);
    zkv_sessions_destroy(&s);
    zkv_sessions_destroy(&copy);
}

/*  A write from a client that never opened a session changes nothing. */
static void test_write_without_session_refused(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_result_t r;
    zkv_command_t put = s_put(42, 1, "k", "v");
    assert_int_equal(zkv_kvstore_apply(kv, 1, &put, &r), ZKV_ESESSION);
    s_assert_value(kv, "k", NULL);
    assert_int_equal(zkv_kvstore_sessions(kv), 0);
    zkv_command_t anonymous = s_put(0, 0, "k", "v");
    assert_int_equal(zkv_kvstore_apply(kv, 2, &anonymous, &r), ZKV_OK);
    s_assert_value(kv, "k", "v");
    zkv_command_t no_id = {.type = ZKV_CMD_OPEN_SESSION, .client_id = 0};
    assert_int_equal(zkv_kvstore_apply(kv, 3, &no_id, &r), ZKV_EINVAL);
    zkv_kvstore_destroy(&kv);
}

/*  Client A's write is applied but its reply lost; B overwrites the key; so
    many clients open sessions that A's is forgotten; A's retry must be
    refused, never applied again over B's acknowledged write. */
static void test_evicted_client_retry_refused(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_result_t r;
    uint64_t index = 0;
    zkv_command_t open = {.type = ZKV_CMD_OPEN_SESSION, .client_id = 0xA};
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &open, &r), ZKV_OK);
    zkv_command_t a = s_put(0xA, 1, "x", "from-A");
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &a, &r), ZKV_OK);
    open.client_id = 0xB;
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &open, &r), ZKV_OK);
    zkv_command_t b = s_put(0xB, 1, "x", "from-B");
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &b, &r), ZKV_OK);
    for (uint64_t c = 1; c <= 70000; c++) {
        open.client_id = 0x100000 + c;
        assert_int_equal(zkv_kvstore_apply(kv, ++index, &open, &r), ZKV_OK);
        zkv_command_t once = s_put(open.client_id, 1, "other", "v");
        assert_int_equal(zkv_kvstore_apply(kv, ++index, &once, &r), ZKV_OK);
    }
    assert_int_equal(zkv_kvstore_sessions(kv), ZKV_SESSIONS_MAX);
    assert_int_equal(zkv_kvstore_sessions_evicted(kv), 70002 - ZKV_SESSIONS_MAX);
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &a, &r), ZKV_ESESSION);
    s_assert_value(kv, "x", "from-B");
    zkv_kvstore_destroy(&kv);
}

/*  A closed session is gone: a late retry of its write is refused. */
static void test_close_session(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = S_KV_OPEN(6);
    zkv_result_t r;
    zkv_command_t put = s_put(6, 1, "k", "v1");
    assert_int_equal(zkv_kvstore_apply(kv, 1, &put, &r), ZKV_OK);
    zkv_command_t close = {.type = ZKV_CMD_CLOSE_SESSION, .client_id = 6};
    assert_int_equal(zkv_kvstore_apply(kv, 2, &close, &r), ZKV_OK);
    assert_true(r.found);
    assert_int_equal(zkv_kvstore_sessions(kv), 0);
    assert_int_equal(zkv_kvstore_apply(kv, 3, &close, &r), ZKV_OK);
    assert_false(r.found);
    zkv_command_t del = {.type = ZKV_CMD_DELETE, .client_id = 6, .sequence = 2, .key = s_str("k")};
    assert_int_equal(zkv_kvstore_apply(kv, 4, &del, &r), ZKV_ESESSION);
    s_assert_value(kv, "k", "v1");
    zkv_kvstore_destroy(&kv);
}

static void test_digest_distinguishes(void **state)
{
    (void) state;
    zkv_kvstore_t *a = zkv_kvstore_new();
    zkv_kvstore_t *b = zkv_kvstore_new();
    zkv_result_t r;
    zkv_command_t pa = s_put(0, 0, "ab", "c");
    zkv_command_t pb = s_put(0, 0, "a", "bc");
    assert_int_equal(zkv_kvstore_apply(a, 1, &pa, &r), ZKV_OK);
    assert_int_equal(zkv_kvstore_apply(b, 1, &pb, &r), ZKV_OK);
    assert_int_not_equal(zkv_kvstore_digest(a), zkv_kvstore_digest(b));
    zkv_kvstore_destroy(&a);
    zkv_kvstore_destroy(&b);
}

static zkv_btree_meta_t s_meta(zkv_kvstore_t *kv, const char *key)
{
    zkv_btree_meta_t meta = {0};
    zkv_btree_get_meta(zkv_kvstore_tree(kv), key, strlen(key), NULL, &meta);
    return meta;
}

static void s_assert_meta(zkv_kvstore_t *kv, const char *key, uint64_t create, uint64_t mod,
                          uint64_t version)
{
    zkv_btree_meta_t meta = s_meta(kv, key);
    assert_int_equal(meta.create_revision, create);
    assert_int_equal(meta.mod_revision, mod);
    assert_int_equal(meta.version, version);
}

/*  create_revision and mod_revision are log indexes; version counts changes
    since creation, and starts again after a delete. */
static void test_revisions(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_result_t r;
    zkv_command_t put = s_put(0, 0, "k", "a");
    assert_int_equal(zkv_kvstore_apply(kv, 3, &put, &r), ZKV_OK);
    s_assert_meta(kv, "k", 3, 3, 1);
    put.value = s_str("b");
    assert_int_equal(zkv_kvstore_apply(kv, 7, &put, &r), ZKV_OK);
    s_assert_meta(kv, "k", 3, 7, 2);
    /* A failed CAS changes nothing; a CAS that holds is a change like a put. */
    zkv_command_t cas = {.type = ZKV_CMD_CAS,
                         .key = s_str("k"),
                         .value = s_str("c"),
                         .compare = {.key = s_str("k"), .target = ZKV_CMP_MOD, .number = 3}};
    assert_int_equal(zkv_kvstore_apply(kv, 8, &cas, &r), ZKV_EMISMATCH);
    s_assert_meta(kv, "k", 3, 7, 2);
    cas.compare.number = 7;
    assert_int_equal(zkv_kvstore_apply(kv, 9, &cas, &r), ZKV_OK);
    s_assert_meta(kv, "k", 3, 9, 3);
    cas.compare = (zkv_compare_t){.key = s_str("k"), .target = ZKV_CMP_VERSION, .number = 3};
    assert_int_equal(zkv_kvstore_apply(kv, 10, &cas, &r), ZKV_OK);
    s_assert_meta(kv, "k", 3, 10, 4);
    zkv_command_t del = {.type = ZKV_CMD_DELETE, .key = s_str("k")};
    assert_int_equal(zkv_kvstore_apply(kv, 11, &del, &r), ZKV_OK);
    assert_int_equal(r.count, 1);
    put.value = s_str("again");
    assert_int_equal(zkv_kvstore_apply(kv, 12, &put, &r), ZKV_OK);
    s_assert_meta(kv, "k", 12, 12, 1);
    zkv_kvstore_destroy(&kv);
}

static void test_range_delete(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_result_t r;
    const char *keys[] = {"a", "b", "b/1", "b/2", "b0", "c"};
    uint64_t index = 0;
    for (size_t i = 0; i < 6; i++) {
        zkv_command_t put = s_put(0, 0, keys[i], "v");
        assert_int_equal(zkv_kvstore_apply(kv, ++index, &put, &r), ZKV_OK);
    }
    /* The prefix "b/" is the range [b/, b0). */
    zkv_command_t del = {
        .type = ZKV_CMD_DELETE, .key = s_str("b/"), .end = s_str("b0"), .range = true};
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &del, &r), ZKV_OK);
    assert_int_equal(r.count, 2);
    assert_true(r.found);
    s_assert_value(kv, "b", "v");
    s_assert_value(kv, "b/1", NULL);
    s_assert_value(kv, "b0", "v");
    /* An empty range is NOT_FOUND and changes nothing. */
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &del, &r), ZKV_ENOTFOUND);
    assert_int_equal(r.count, 0);
    /* No upper bound: from "b" to the end. */
    del = (zkv_command_t){.type = ZKV_CMD_DELETE, .key = s_str("b"), .range = true};
    assert_int_equal(zkv_kvstore_apply(kv, ++index, &del, &r), ZKV_OK);
    assert_int_equal(r.count, 3);
    assert_int_equal(zkv_btree_count(zkv_kvstore_tree(kv)), 1);
    s_assert_value(kv, "a", "v");
    zkv_kvstore_destroy(&kv);
}

/*  A transfer between two accounts if the source still has the version read. */
static void test_txn(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = S_KV_OPEN(4);
    zkv_result_t r;
    zkv_command_t put = s_put(0, 0, "acct/a", "100");
    assert_int_equal(zkv_kvstore_apply(kv, 1, &put, &r), ZKV_OK);
    zkv_compare_t cmp = {.key = s_str("acct/a"), .target = ZKV_CMP_VERSION, .number = 1};
    zkv_txn_op_t then[] = {
        {.type = ZKV_TXN_PUT, .key = s_str("acct/a"), .value = s_str("70")},
        {.type = ZKV_TXN_PUT, .key = s_str("acct/b"), .value = s_str("30")},
        {.type = ZKV_TXN_GET, .key = s_str("acct/b")},
    };
    zkv_txn_op_t otherwise[] = {{.type = ZKV_TXN_GET, .key = s_str("acct/a")}};
    zkv_txn_t txn = {&cmp, 1, then, 3, otherwise, 1};
    zkv_command_t cmd = {
        .type = ZKV_CMD_TXN, .client_id = 4, .sequence = 1, .first_unacked = 1, .txn = &txn};
    assert_int_equal(zkv_kvstore_apply(kv, 2, &cmd, &r), ZKV_OK);
    assert_true(r.found);
    s_assert_meta(kv, "acct/a", 1, 2, 2);
    s_assert_meta(kv, "acct/b", 2, 2, 1);
    /* The get saw the put before it. */
    size_t pos = 0;
    zkv_txn_op_result_t op;
    assert_int_equal(zkv_txn_results_next(r.data, r.data_size, &pos, &op), 1);
    assert_int_equal(op.type, ZKV_TXN_PUT);
    assert_true(op.found);
    assert_int_equal(zkv_txn_results_next(r.data, r.data_size, &pos, &op), 1);
    assert_false(op.found);
    assert_int_equal(zkv_txn_results_next(r.data, r.data_size, &pos, &op), 1);
    assert_int_equal(op.type, ZKV_TXN_GET);
    assert_int_equal(op.status, ZKV_OK);
    assert_int_equal(op.value.size, 2);
    assert_memory_equal(op.value.data, "30", 2);
    assert_int_equal(op.meta.mod_revision, 2);
    assert_int_equal(zkv_txn_results_next(r.data, r.data_size, &pos, &op), 0);
    uint8_t *first = r.data;
    size_t first_size = r.data_size;
    r.data = NULL;
    zkv_result_clear(&r);

    /* The retry, committed again, is answered with the same results and changes nothing. */
    assert_int_equal(zkv_kvstore_apply(kv, 3, &cmd, &r), ZKV_OK);
    assert_true(r.duplicate);
    assert_true(r.found);
    assert_int_equal(r.index, 2);
    assert_int_equal(r.data_size, first_size);
    assert_memory_equal(r.data, first, first_size);
    s_assert_meta(kv, "acct/a", 1, 2, 2);
    zkv_result_clear(&r);
    free(first);

    /* A new one with the same compare takes the other branch. */
    cmd.sequence = 2;
    assert_int_equal(zkv_kvstore_apply(kv, 4, &cmd, &r), ZKV_OK);
    assert_false(r.found);
    pos = 0;
    assert_int_equal(zkv_txn_results_next(r.data, r.data_size, &pos, &op), 1);
    assert_memory_equal(op.value.data, "70", 2);
    assert_int_equal(zkv_txn_results_next(r.data, r.data_size, &pos, &op), 0);
    zkv_result_clear(&r);
    s_assert_value(kv, "acct/a", "70");
    zkv_kvstore_destroy(&kv);
}

/*  A key written twice in one branch, past the limits, or of an unknown kind:
    refused, nothing changes. */
static void test_txn_refused(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_result_t r;
    zkv_txn_op_t ops[ZKV_TXN_OPS_MAX + 1];
    for (size_t i = 0; i < ZKV_TXN_OPS_MAX + 1; i++)
        ops[i] = (zkv_txn_op_t){.type = ZKV_TXN_GET, .key = s_str("x")};
    ops[0] = (zkv_txn_op_t){.type = ZKV_TXN_PUT, .key = s_str("p/1"), .value = s_str("v")};
    ops[1] = (zkv_txn_op_t){.type = ZKV_TXN_PUT, .key = s_str("p/1"), .value = s_str("w")};
    zkv_txn_t txn = {NULL, 0, ops, 2, NULL, 0};
    zkv_command_t cmd = {.type = ZKV_CMD_TXN, .txn = &txn};
    const char *why = NULL;
    assert_int_equal(zkv_txn_validate(&txn, &why), ZKV_EINVAL);
    assert_string_equal(why, "a key written twice in one branch");
    assert_int_equal(zkv_kvstore_apply(kv, 1, &cmd, &r), ZKV_EINVAL);
    ops[1] = (zkv_txn_op_t){
        .type = ZKV_TXN_DELETE, .key = s_str("p/"), .end = s_str("p0"), .range = true};
    assert_int_equal(zkv_kvstore_apply(kv, 2, &cmd, &r), ZKV_EINVAL);
    ops[1].key = s_str("q/");
    ops[1].end = s_str("q0");
    txn.success_count = ZKV_TXN_OPS_MAX + 1;
    assert_int_equal(zkv_kvstore_apply(kv, 3, &cmd, &r), ZKV_EINVAL);
    txn.success_count = ZKV_TXN_OPS_MAX;
    ops[2].type = 9;
    assert_int_equal(zkv_kvstore_apply(kv, 4, &cmd, &r), ZKV_EINVAL);
    assert_int_equal(zkv_btree_count(zkv_kvstore_tree(kv)), 0);
    ops[2].type = ZKV_TXN_GET;
    assert_int_equal(zkv_kvstore_apply(kv, 5, &cmd, &r), ZKV_OK);
    assert_int_equal(zkv_btree_count(zkv_kvstore_tree(kv)), 1);
    zkv_result_clear(&r);
    zkv_kvstore_destroy(&kv);
}

/*  Each compare target and result, on a present and an absent key. */
static void test_compares(void **state)
{
    (void) state;
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_result_t r;
    zkv_command_t put = s_put(0, 0, "k", "m");
    assert_int_equal(zkv_kvstore_apply(kv, 5, &put, &r), ZKV_OK);
    const zkv_btree_t *t = zkv_kvstore_tree(kv);
    struct {
        const char *key;
        zkv_cmp_target_t target;
        zkv_cmp_result_t result;
        const char *value;
        uint64_t number;
        bool holds;
    } cases[] = {
        {"k", ZKV_CMP_VALUE, ZKV_CMP_EQUAL, "m", 0, true},
        {"k", ZKV_CMP_VALUE, ZKV_CMP_GREATER, "l", 0, true},
        {"k", ZKV_CMP_VALUE, ZKV_CMP_LESS, "m\x01", 0, true},
        {"k", ZKV_CMP_VALUE, ZKV_CMP_NOT_EQUAL, "m", 0, false},
        {"absent", ZKV_CMP_VALUE, ZKV_CMP_NOT_EQUAL, "m", 0, false},
        {"absent", ZKV_CMP_VERSION, ZKV_CMP_EQUAL, "", 0, true},
        {"k", ZKV_CMP_VERSION, ZKV_CMP_GREATER, "", 0, true},
        {"k", ZKV_CMP_CREATE, ZKV_CMP_EQUAL, "", 5, true},
        {"k", ZKV_CMP_MOD, ZKV_CMP_LESS, "", 5, false},
        {"k", ZKV_CMP_MOD, ZKV_CMP_LESS, "", 6, true},
        {"k", ZKV_CMP_LEASE, ZKV_CMP_EQUAL, "", 0, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zkv_compare_t c = {s_str(cases[i].key), cases[i].target, cases[i].result,
                           s_str(cases[i].value), cases[i].number};
        if (zkv_compare_holds(t, &c) != cases[i].holds)
            fail_msg("case %zu", i);
    }
    zkv_kvstore_destroy(&kv);
}

/*  A snapshot's state of format 1 (before revisions: no magic, no count in a
    result) still restores, and its sessions still answer retries. */
static void test_state_format_1_restores(void **state)
{
    (void) state;
    uint8_t blob[8 + 28 + 26] = {0};
    blob[0] = 1;  /* one session */
    blob[8] = 7;  /* client 7 */
    blob[16] = 3; /* last index */
    blob[24] = 1; /* first unacked */
    blob[32] = 1; /* one result */
    uint8_t *res = blob + 36;
    res[0] = 1;  /* sequence 1 */
    res[12] = 1; /* found */
    res[13] = 3; /* index 3 */
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_btree_t *tree = zkv_btree_new();
    assert_int_equal(zkv_kvstore_restore(kv, 3, &tree, blob, sizeof blob), ZKV_OK);
    zkv_result_t r;
    zkv_command_t retry = s_put(7, 1, "k", "v");
    assert_int_equal(zkv_kvstore_apply(kv, 4, &retry, &r), ZKV_OK);
    assert_true(r.duplicate);
    assert_int_equal(r.index, 3);
    s_assert_value(kv, "k", NULL);
    zkv_kvstore_destroy(&kv);
}

/*  Replicas with equal keys and values but other revisions differ. */
static void test_digest_covers_revisions(void **state)
{
    (void) state;
    zkv_kvstore_t *a = zkv_kvstore_new(), *b = zkv_kvstore_new();
    zkv_result_t r;
    zkv_command_t put = s_put(0, 0, "k", "v");
    assert_int_equal(zkv_kvstore_apply(a, 1, &put, &r), ZKV_OK);
    assert_int_equal(zkv_kvstore_apply(b, 2, &put, &r), ZKV_OK);
    assert_int_not_equal(zkv_kvstore_digest(a), zkv_kvstore_digest(b));
    zkv_kvstore_destroy(&a);
    zkv_kvstore_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_delete),
        cmocka_unit_test(test_retried_write_applies_once),
        cmocka_unit_test(test_pipelined_sequences_out_of_order),
        cmocka_unit_test(test_cas),
        cmocka_unit_test(test_return_previous_and_its_retry),
        cmocka_unit_test(test_bad_commands_change_nothing),
        cmocka_unit_test(test_window_full_refuses),
        cmocka_unit_test(test_sessions_survive_restore),
        cmocka_unit_test(test_eviction_is_least_recent),
        cmocka_unit_test(test_eviction_order_survives_restore),
        cmocka_unit_test(test_write_without_session_refused),
        cmocka_unit_test(test_evicted_client_retry_refused),
        cmocka_unit_test(test_close_session),
        cmocka_unit_test(test_digest_distinguishes),
        cmocka_unit_test(test_revisions),
        cmocka_unit_test(test_range_delete),
        cmocka_unit_test(test_txn),
        cmocka_unit_test(test_txn_refused),
        cmocka_unit_test(test_compares),
        cmocka_unit_test(test_state_format_1_restores),
        cmocka_unit_test(test_digest_covers_revisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
