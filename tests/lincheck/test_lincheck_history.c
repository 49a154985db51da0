/*  History parsing (pairing, validation with line numbers), the final-state
    read and the digest comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "digests.h"
#include "history.h"
#include "lincheck.h"
#include "zkv_error.h"

#define EV(p, type, f, key, value, expected, time)                                                 \
    "{\"process\":" #p ",\"type\":\"" type "\",\"f\":\"" f "\",\"key\":\"" key                     \
    "\",\"value\":" value ",\"expected\":" expected ",\"time\":" #time "}\n"

static zkv_history_t *s_parse(const char *text)
{
    zkv_history_t *history;
    char err[ZKV_HISTORY_ERROR_SIZE];
    int rc = zkv_history_parse("h", text, strlen(text), &history, err, sizeof err);
    if (rc != 0)
        fail_msg("unexpected error: %s", err);
    return history;
}

/*  The parse fails with exactly this message. */
static void s_expect_error(const char *text, const char *message)
{
    zkv_history_t *history = (zkv_history_t *) 1;
    char err[ZKV_HISTORY_ERROR_SIZE];
    assert_int_equal(zkv_history_parse("h", text, strlen(text), &history, err, sizeof err),
                     ZKV_EINVAL);
    assert_null(history);
    if (strcmp(err, message) != 0)
        fail_msg("expected \"%s\", got \"%s\"", message, err);
}

static zkv_lincheck_verdict_t s_key_verdict(const zkv_history_t *history, const char *key)
{
    for (size_t k = 0; k < zkv_history_key_count(history); k++) {
        if (strcmp(zkv_history_key(history, k), key) != 0)
            continue;
        const zkv_lincheck_op_t *ops;
        size_t count = zkv_history_ops(history, k, &ops);
        zkv_lincheck_result_t *result;
        assert_int_equal(zkv_lincheck_check(ops, count, NULL, &result), 0);
        zkv_lincheck_verdict_t verdict = zkv_lincheck_result_verdict(result);
        zkv_lincheck_result_destroy(&result);
        return verdict;
    }
    fail_msg("no key %s", key);
    return ZKV_LINCHECK_UNKNOWN;
}

static void test_pairs_invokes_with_completions(void **state)
{
    (void) state;
    zkv_history_t *h = s_parse(EV(1, "invoke", "put", "k1", "\"v1\"", "null",
                                  10) EV(2, "invoke", "get", "k1", "null", "null",
                                         11) "\n" EV(2, "ok", "get", "k1", "\"v1\"", "null", 12)
                                   EV(1, "ok", "put", "k1", "null", "null", 13)
                                       EV(1, "invoke", "cas", "k2", "\"v2\"", "null", 14)
                                           EV(1, "fail", "cas", "k2", "\"v2\"", "null", 15)
                                               EV(3, "invoke", "delete", "k1", "null", "null", 16));
    assert_int_equal(zkv_history_event_count(h), 7);
    assert_int_equal(zkv_history_key_count(h), 2);
    assert_string_equal(zkv_history_key(h, 0), "k1");
    const zkv_lincheck_op_t *ops;
    assert_int_equal(zkv_history_ops(h, 0, &ops), 3);
    /* Positions are line numbers; the blank line 3 still counts. */
    assert_int_equal(ops[0].f, ZKV_LINCHECK_PUT);
    assert_int_equal(ops[0].outcome, ZKV_LINCHECK_OK);
    assert_string_equal(ops[0].value, "v1");
    assert_int_equal(ops[0].call_pos, 1);
    assert_int_equal(ops[0].ret_pos, 5);
    assert_int_equal(ops[0].call_time_ns, 10);
    assert_int_equal(ops[0].ret_time_ns, 13);
    assert_int_equal(ops[1].f, ZKV_LINCHECK_GET);
    assert_string_equal(ops[1].value, "v1");
    assert_int_equal(ops[1].process, 2);
    assert_int_equal(ops[1].ret_pos, 4);
    /* Never completed: indeterminate, no return. */
    assert_int_equal(ops[2].f, ZKV_LINCHECK_DELETE);
    assert_int_equal(ops[2].outcome, ZKV_LINCHECK_INFO);
    assert_int_equal(ops[2].ret_pos, 0);
    assert_int_equal(ops[2].ret_time_ns, -1);
    assert_int_equal(zkv_history_ops(h, 1, &ops), 1);
    assert_int_equal(ops[0].outcome, ZKV_LINCHECK_FAIL);
    assert_null(ops[0].expected);
    zkv_history_destroy(&h);
    assert_null(h);
}

/*  An invoke that never completes may or may not have happened. */
static void test_invoke_without_completion(void **state)
{
    (void) state;
    zkv_history_t *h = s_parse(EV(1, "invoke", "put", "k", "\"a\"", "null", 1) EV(
        1, "ok", "put", "k", "\"a\"", "null", 2) EV(2, "invoke", "put", "k", "\"b\"", "null", 3)
                                   EV(3, "invoke", "get", "k", "null", "null", 4)
                                       EV(3, "ok", "get", "k", "\"b\"", "null", 5)
                                           EV(4, "invoke", "put", "k", "\"c\"", "null", 6)
                                               EV(3, "invoke", "get", "k", "null", "null", 7)
                                                   EV(3, "ok", "get", "k", "\"b\"", "null", 8));
    assert_int_equal(s_key_verdict(h, "k"), ZKV_LINCHECK_LINEARIZABLE);
    zkv_history_destroy(&h);
    /* ... but it cannot be seen before it was invoked. */
    h = s_parse(EV(3, "invoke", "get", "k", "null", "null", 1) EV(
        3, "ok", "get", "k", "\"b\"", "null", 2) EV(2, "invoke", "put", "k", "\"b\"", "null", 3));
    assert_int_equal(s_key_verdict(h, "k"), ZKV_LINCHECK_VIOLATION);
    zkv_history_destroy(&h);
}

static void test_malformed_lines(void **state)
{
    (void) state;
    const char *ok = EV(1, "invoke", "put", "k", "\"a\"", "null", 1);
    char text[1024];
    struct {
        const char *line;
        const char *message;
    } cases[] = {
        {"{\"process\":1,",
         "h:2: invalid JSON: string or '}' expected near end of file (column 13)"},
        {"[1,2]", "h:2: not a JSON object"},
        {"{\"process\":1} x", "h:2: invalid JSON: end of file expected near 'x' (column 15)"},
        {"{\"type\":\"ok\"}", "h:2: missing field \"process\""},
        {"{\"process\":-1}", "h:2: field \"process\" must be a non-negative integer"},
        {"{\"process\":\"1\"}", "h:2: field \"process\" must be a non-negative integer"},
        {"{\"process\":1,\"process\":2}",
         "h:2: invalid JSON: duplicate object key near '\"process\"' (column 22)"},
        {"{\"process\":2,\"type\":\"done\"}", "h:2: field \"type\" has an unknown value \"done\""},
        {"{\"process\":2,\"type\":\"ok\",\"f\":\"inc\"}",
         "h:2: field \"f\" has an unknown value \"inc\""},
        {"{\"process\":2,\"type\":\"ok\",\"f\":\"get\",\"key\":7}",
         "h:2: field \"key\" must be a string"},
        {"{\"process\":2,\"type\":\"ok\",\"f\":\"get\",\"key\":\"k\",\"value\":3}",
         "h:2: field \"value\" must be a string or null"},
        {"{\"process\":2,\"type\":\"ok\",\"f\":\"get\",\"key\":\"k\",\"expected\":[]}",
         "h:2: field \"expected\" must be a string or null"},
        {"{\"process\":2,\"type\":\"ok\",\"f\":\"get\",\"key\":\"k\"}",
         "h:2: missing field \"time\""},
        {"{\"process\":2,\"type\":\"ok\",\"f\":\"get\",\"key\":\"k\",\"time\":1.5}",
         "h:2: field \"time\" must be a non-negative integer"},
        {EV(2, "ok", "get", "k", "null", "null", 2),
         "h:2: process 2 completes an operation it never invoked (or already completed)"},
        {EV(1, "invoke", "get", "k", "null", "null", 2),
         "h:2: process 1 invokes again while its put from line 1 is open"},
        {EV(1, "ok", "get", "k", "null", "null", 2),
         "h:2: process 1 completes a get, but its invoke at line 1 is a put"},
        {EV(1, "ok", "put", "j", "null", "null", 2),
         "h:2: key \"j\" differs from \"k\" of the invoke at line 1"},
        {EV(1, "ok", "put", "k", "\"b\"", "null", 2),
         "h:2: \"value\" differs from the invoke at line 1"},
        {EV(1, "ok", "put", "k", "null", "\"x\"", 2),
         "h:2: \"expected\" differs from the invoke at line 1"},
        {EV(1, "ok", "put", "k", "null", "null", 0),
         "h:2: time 0 is before the invoke's time 1 (line 1)"},
        {EV(2, "invoke", "put", "k", "null", "null", 2),
         "h:2: a put invoke needs a string \"value\""},
        {EV(2, "invoke", "cas", "k", "null", "\"a\"", 2),
         "h:2: a cas invoke needs a string \"value\""},
        {EV(2, "invoke", "get", "k", "\"a\"", "null", 2),
         "h:2: a get invoke must have \"value\" null"},
        {EV(2, "invoke", "delete", "k", "null", "\"a\"", 2),
         "h:2: only cas has an \"expected\" value"},
        {EV(2, "invoke", "get", "k\\u0000x", "null", "null", 2),
         "h:2: invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near "
         "'\"k\\u0000x\"' (column 55)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, "%s%s\n%s", ok, cases[i].line, ok);
        s_expect_error(text, cases[i].message);
    }
    s_expect_error(EV(2, "invoke", "get", "k", "null", "null", 1)
                       EV(2, "fail", "get", "k", "\"a\"", "null", 2),
                   "h:2: a get that is not ok must have \"value\" null");
}

static void test_line_limit_and_binary_input(void **state)
{
    (void) state;
    size_t size = ZKV_HISTORY_LINE_SIZE_MAX + 10;
    char *text = malloc(size);
    memset(text, ' ', size);
    text[0] = 'x';
    char err[ZKV_HISTORY_ERROR_SIZE];
    zkv_history_t *h;
    assert_int_equal(zkv_history_parse("big", text, size, &h, err, sizeof err), ZKV_EINVAL);
    assert_string_equal(err, "big:1: line longer than 1048576 bytes");
    /* Random bytes: an error, never a crash. */
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < 4096; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        text[i] = (char) x;
    }
    assert_int_equal(zkv_history_parse("bin", text, 4096, &h, err, sizeof err), ZKV_EINVAL);
    assert_memory_equal(err, "bin:", 4);
    free(text);
    /* Empty input and blank lines: no events. */
    assert_int_equal(zkv_history_parse("e", "\n \r\n\t\n", 6, &h, err, sizeof err), 0);
    assert_int_equal(zkv_history_event_count(h), 0);
    assert_int_equal(zkv_history_key_count(h), 0);
    zkv_history_destroy(&h);
}

static const char *s_final_base = EV(1, "invoke", "put", "k1", "\"a\"", "null", 1)
    EV(1, "ok", "put", "k1", "\"a\"", "null", 2) EV(2, "invoke", "put", "k2", "\"b\"", "null", 3)
        EV(2, "info", "put", "k2", "\"b\"", "null", 4);

static zkv_history_t *s_with_final(const char *final, int expect_rc, const char *message)
{
    zkv_history_t *h = s_parse(s_final_base);
    char err[ZKV_HISTORY_ERROR_SIZE] = "";
    assert_int_equal(zkv_history_add_final(h, "f", final, strlen(final), err, sizeof err),
                     expect_rc);
    if (message)
        assert_string_equal(err, message);
    return h;
}

static void test_final_state(void **state)
{
    (void) state;
    zkv_history_t *h = s_with_final(
        "{\"key\":\"k1\",\"value\":\"a\"}\n{\"key\":\"k2\",\"value\":\"b\"}\n", 0, NULL);
    assert_int_equal(s_key_verdict(h, "k1"), ZKV_LINCHECK_LINEARIZABLE);
    assert_int_equal(s_key_verdict(h, "k2"), ZKV_LINCHECK_LINEARIZABLE);
    const zkv_lincheck_op_t *ops;
    assert_int_equal(zkv_history_ops(h, 0, &ops), 2);
    assert_int_equal(ops[1].process, -1);
    assert_int_equal(ops[1].call_pos, 5);
    char err[ZKV_HISTORY_ERROR_SIZE];
    assert_int_equal(zkv_history_add_final(h, "f", "", 0, err, sizeof err), ZKV_EINVAL);
    assert_string_equal(err, "f:1: the history already has a final state");
    zkv_history_destroy(&h);
    /* The indeterminate put may also never have happened. */
    h = s_with_final("{\"key\":\"k1\",\"value\":\"a\"}\n", 0, NULL);
    assert_int_equal(s_key_verdict(h, "k2"), ZKV_LINCHECK_LINEARIZABLE);
    zkv_history_destroy(&h);
}

/*  Acknowledged writes must be in the final state. */
static void test_final_state_catches_lost_writes(void **state)
{
    (void) state;
    zkv_history_t *h = s_with_final("{\"key\":\"k2\",\"value\":\"b\"}\n", 0, NULL);
    assert_int_equal(s_key_verdict(h, "k1"), ZKV_LINCHECK_VIOLATION);
    zkv_history_destroy(&h);
    h = s_with_final("{\"key\":\"k1\",\"value\":null}\n", 0, NULL);
    assert_int_equal(s_key_verdict(h, "k1"), ZKV_LINCHECK_VIOLATION);
    zkv_history_destroy(&h);
    h = s_with_final("{\"key\":\"k1\",\"value\":\"zz\"}\n", 0, NULL);
    assert_int_equal(s_key_verdict(h, "k1"), ZKV_LINCHECK_VIOLATION);
    zkv_history_destroy(&h);
    /* A key nobody wrote cannot hold a value. */
    h = s_with_final("{\"key\":\"k1\",\"value\":\"a\"}\n{\"key\":\"k9\",\"value\":\"q\"}\n", 0,
                     NULL);
    assert_int_equal(s_key_verdict(h, "k9"), ZKV_LINCHECK_VIOLATION);
    zkv_history_destroy(&h);
    h = s_with_final("{\"key\":\"k1\",\"value\":\"a\"}\n{\"key\":\"k1\",\"value\":\"a\"}\n",
                     ZKV_EINVAL, "f:2: key \"k1\" appears twice");
    zkv_history_destroy(&h);
    h = s_with_final("{\"key\":1}\n", ZKV_EINVAL, "f:1: field \"key\" must be a string");
    zkv_history_destroy(&h);
}

static zkv_lincheck_digests_t *s_digests(const char *text, int expect_rc, const char *message)
{
    zkv_lincheck_digests_t *d;
    char err[ZKV_HISTORY_ERROR_SIZE] = "";
    assert_int_equal(zkv_lincheck_digests_parse("d", text, strlen(text), &d, err, sizeof err),
                     expect_rc);
    if (message)
        assert_string_equal(err, message);
    return d;
}

static void test_digests(void **state)
{
    (void) state;
    zkv_lincheck_digests_t *d = s_digests("n1 aa\n\nn2\taa\r\nn3 aa", 0, NULL);
    assert_int_equal(zkv_lincheck_digests_count(d), 3);
    assert_true(zkv_lincheck_digests_agree(d));
    assert_string_equal(zkv_lincheck_digests_reference(d), "aa");
    char *report = zkv_lincheck_digests_describe(d);
    assert_string_equal(report, "converged: all 3 nodes report digest aa\n");
    free(report);
    zkv_lincheck_digests_destroy(&d);
    assert_null(d);
    d = s_digests("n1 bb\nn2 aa\nn3 aa\nn4 cc\n", 0, NULL);
    assert_false(zkv_lincheck_digests_agree(d));
    assert_string_equal(zkv_lincheck_digests_reference(d), "aa");
    assert_int_equal(zkv_lincheck_digests_outlier_count(d), 2);
    assert_string_equal(zkv_lincheck_digests_outlier(d, 0), "n1");
    assert_string_equal(zkv_lincheck_digests_outlier(d, 1), "n4");
    report = zkv_lincheck_digests_describe(d);
    assert_string_equal(report, "diverged: 2 of 4 nodes report digest aa; these differ:\n"
                                "  node n1: digest bb\n  node n4: digest cc\n");
    free(report);
    zkv_lincheck_digests_destroy(&d);
    /* A tie: the first listed digest is the reference. */
    d = s_digests("n1 bb\nn2 aa\n", 0, NULL);
    assert_string_equal(zkv_lincheck_digests_reference(d), "bb");
    assert_string_equal(zkv_lincheck_digests_outlier(d, 0), "n2");
    zkv_lincheck_digests_destroy(&d);
    const char *expect = "d:2: expected \"node-id digest\" (two tokens, each at most 256 bytes)";
    assert_null(s_digests("n1 aa\nn2\n", ZKV_EINVAL, expect));
    assert_null(s_digests("n1 aa\nn2 aa bb\n", ZKV_EINVAL, expect));
    assert_null(s_digests("n1 aa\nn1 aa\n", ZKV_EINVAL, "d:2: node id listed twice"));
    assert_null(s_digests("\n\n", ZKV_EINVAL, "d:3: no nodes listed"));
    char long_line[400];
    memset(long_line, 'x', sizeof long_line);
    long_line[sizeof long_line - 1] = '\0';
    long_line[3] = ' ';
    assert_null(s_digests(long_line, ZKV_EINVAL,
                          "d:1: expected \"node-id digest\" (two tokens, each at most 256 bytes)"));
}

static void test_load_files(void **state)
{
    (void) state;
    char path[] = "/tmp/zkv-lincheck-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text =
        EV(0, "invoke", "put", "k", "\"a\"", "null", 1) EV(0, "ok", "put", "k", "\"a\"", "null", 2);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    zkv_history_t *h;
    char err[ZKV_HISTORY_ERROR_SIZE];
    assert_int_equal(zkv_history_load(path, &h, err, sizeof err), 0);
    assert_int_equal(zkv_history_event_count(h), 2);
    /* The history doubles as a (malformed) final state: a clear error. */
    assert_int_equal(zkv_history_load_final(h, path, err, sizeof err), ZKV_EINVAL);
    assert_non_null(strstr(err, ":2: key \"k\" appears twice"));
    zkv_history_destroy(&h);
    unlink(path);
    assert_int_equal(zkv_history_load(path, &h, err, sizeof err), ZKV_EIO);
    assert_null(h);
    assert_non_null(strstr(err, "No such file or directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_invokes_with_completions),
        cmocka_unit_test(test_invoke_without_completion),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_line_limit_and_binary_input),
        cmocka_unit_test(test_final_state),
        cmocka_unit_test(test_final_state_catches_lost_writes),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_load_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
