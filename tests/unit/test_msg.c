/*  msg: every message between a node's actors survives the trip through a
    PAIR socket field by field, its body byte for byte; a body left NULL
    arrives empty; and the codec carries exactly the fields each message's
    struct has (one too few would lose the last one silently). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "msg.h"

#define FIELDS(member) (sizeof(((zkv_msg_t *) 0)->member) / sizeof(uint64_t))

static const struct {
    zkv_msg_type_t type;
    size_t fields;
    bool body;
} s_expected[] = {
    {ZKV_MSG_PERSIST, FIELDS(persist), true},
    {ZKV_MSG_DROP, FIELDS(drop), false},
    {ZKV_MSG_DURABLE, FIELDS(durable), false},
    {ZKV_MSG_FATAL, 0, true},
    {ZKV_MSG_APPLY, 0, true},
    {ZKV_MSG_SERVE, FIELDS(serve), true},
    {ZKV_MSG_CHUNK, FIELDS(chunk), true},
    {ZKV_MSG_INSTALL, FIELDS(install), false},
    {ZKV_MSG_PRUNE, 0, true},
    {ZKV_MSG_APPLIED, FIELDS(applied), false},
    {ZKV_MSG_SNAPSHOT, FIELDS(snapshot), true},
    {ZKV_MSG_INSTALLED, FIELDS(installed), true},
    {ZKV_MSG_PROPOSE, 0, true},
    {ZKV_MSG_READ, FIELDS(read), true},
    {ZKV_MSG_STATE, FIELDS(state), false},
    {ZKV_MSG_READFAIL, FIELDS(readfail), false},
    {ZKV_MSG_REJECTED, FIELDS(rejected), true},
    {ZKV_MSG_COUNT, 0, false},
    {ZKV_MSG_RESULTS, FIELDS(results), true},
    {ZKV_MSG_REPLY, FIELDS(reply), true},
    {ZKV_MSG_ADMIN, FIELDS(admin), true},
    {ZKV_MSG_MEMBERS, FIELDS(members), true},
    {ZKV_MSG_BACKUP, FIELDS(backup), true},
    {ZKV_MSG_EVENTS, FIELDS(events), true},
    {ZKV_MSG_LEASES, FIELDS(leases), true},
    {ZKV_MSG_WRITE_SNAPSHOT, FIELDS(job), false},
    {ZKV_MSG_SNAPSHOT_WRITTEN, FIELDS(job), false},
    {ZKV_MSG_REMOVE, 0, true},
    {ZKV_MSG_LOAD, 4, false},
    {ZKV_MSG_LOADED, 2, true},
    {ZKV_MSG_ACK, FIELDS(ack), true},
};
#define S_TYPES (sizeof s_expected / sizeof s_expected[0])

typedef struct {
    zsock_t *a;
    zsock_t *b;
} pair_t;

static int s_setup(void **state)
{
    static int n;
    pair_t *p = calloc(1, sizeof *p);
    char bind[64], connect[64];
    snprintf(bind, sizeof bind, "@inproc://test-msg-%d", n);
    snprintf(connect, sizeof connect, ">inproc://test-msg-%d", n++);
    p->a = zsock_new_pair(bind);
    p->b = zsock_new_pair(connect);
    assert_non_null(p->a);
    assert_non_null(p->b);
    zsock_set_rcvtimeo(p->a, 0);
    *state = p;
    return 0;
}

static int s_teardown(void **state)
{
    pair_t *p = *state;
    zsock_destroy(&p->a);
    zsock_destroy(&p->b);
    free(p);
    return 0;
}

static void test_every_type_round_trips(void **state)
{
    (void) state;
    zsock_t *a = zsock_new_pair("@inproc://test-msg-types");
    zsock_t *b = zsock_new_pair(">inproc://test-msg-types");
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(S_TYPES, ZKV_MSG_TYPE_MAX);
    for (size_t t = 0; t < S_TYPES; t++) {
        zkv_msg_t out = {.type = s_expected[t].type};
        for (size_t i = 0; i < ZKV_MSG_WORDS_MAX; i++)
            out.words[i] = i < s_expected[t].fields ? 0x0102030405060708ull * (i + 1) + t : 0;
        char text[32];
        snprintf(text, sizeof text, "body of %s", zkv_msg_type_name(out.type));
        if (s_expected[t].body)
            out.body = zkv_msg_text_body(text);
        zkv_msg_t copy = out;
        assert_int_equal(zkv_msg_send(&out, b), 0);
        assert_null(out.body); /* taken */
        zkv_msg_t in;
        assert_int_equal(zkv_msg_recv(a, &in), 1);
        assert_int_equal(in.type, copy.type);
        for (size_t i = 0; i < ZKV_MSG_WORDS_MAX; i++)
            assert_int_equal(in.words[i], copy.words[i]);
        char got[64];
        assert_string_equal(zkv_msg_text(&in, got, sizeof got), s_expected[t].body ? text : "");
        assert_true(s_expected[t].body == (in.body != NULL));
        zkv_msg_clear(&in);
    }
    zsock_destroy(&a);
    zsock_destroy(&b);
}

static void test_named_fields_and_empty_body(void **state)
{
    pair_t *p = *state;
    zkv_msg_t persist = {.type = ZKV_MSG_PERSIST,
                         .persist = {.ready_id = 9,
                                     .flags = ZKV_MSG_PERSIST_SNAPSHOT,
                                     .term = 3,
                                     .vote = 2,
                                     .commit = 40,
                                     .snapshot_index = 41,
                                     .snapshot_term = 5}};
    assert_int_equal(zkv_msg_send(&persist, p->b), 0);
    zkv_msg_t in;
    assert_int_equal(zkv_msg_recv(p->a, &in), 1);
    assert_int_equal(in.persist.ready_id, 9);
    assert_int_equal(in.persist.snapshot_index, 41);
    assert_int_equal(in.persist.snapshot_term, 5);
    assert_non_null(in.body);
    assert_int_equal(zframe_size(in.body), 0);
    zkv_msg_clear(&in);
    assert_int_equal(zkv_msg_recv(p->a, &in), 0); /* nothing left */
}

static void test_send_without_peer_drops(void **state)
{
    (void) state;
    zsock_t *lonely = zsock_new_pair("@inproc://test-msg-nobody");
    zsock_set_sndtimeo(lonely, 0);
    zkv_msg_t msg = {.type = ZKV_MSG_APPLY, .body = zkv_msg_text_body("x")};
    assert_int_equal(zkv_msg_send(&msg, lonely), -1);
    assert_null(msg.body); /* dropped, not leaked */
    zsock_destroy(&lonely);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test_setup_teardown(test_named_fields_and_empty_body, s_setup, s_teardown),
        cmocka_unit_test(test_send_without_peer_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
