/*  http_request: request heads parsed, bad ones refused, responses written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_request.h"

static zkv_http_parse_t s_parse(const char *text, zkv_http_request_t *req)
{
    return zkv_http_parse(text, strlen(text), req);
}

static void test_complete(void **state)
{
    (void) state;
    zkv_http_request_t req;
    assert_int_equal(s_parse("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", &req),
                     ZKV_HTTP_COMPLETE);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.path, "/metrics");
    assert_int_equal(s_parse("HEAD /health?verbose=1 HTTP/1.0\r\n\r\n", &req), ZKV_HTTP_COMPLETE);
    assert_string_equal(req.method, "HEAD");
    assert_string_equal(req.path, "/health");
}

static void test_incomplete(void **state)
{
    (void) state;
    zkv_http_request_t req;
    assert_int_equal(s_parse("", &req), ZKV_HTTP_INCOMPLETE);
    assert_int_equal(s_parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &req), ZKV_HTTP_INCOMPLETE);
    assert_int_equal(s_parse("GET /metrics HTTP/1.1\r\n\r", &req), ZKV_HTTP_INCOMPLETE);
}

static void test_malformed(void **state)
{
    (void) state;
    zkv_http_request_t req;
    const char *bad[] = {
        "garbage\r\n\r\n",
        "GET\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n", /* not an origin-form target */
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET /metrics HTTP/1.1 x\r\n\r\n",
        " /metrics HTTP/1.1\r\n\r\n",
        "GETTTTTTTTTTTTTTTTTTTTTTT /metrics HTTP/1.1\r\n\r\n", /* method too long */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (s_parse(bad[i], &req) != ZKV_HTTP_MALFORMED)
            fail_msg("accepted: %s", bad[i]);
    char *long_path = malloc(600);
    strcpy(long_path, "GET /");
    memset(long_path + 5, 'a', 300);
    strcpy(long_path + 305, " HTTP/1.1\r\n\r\n");
    assert_int_equal(s_parse(long_path, &req), ZKV_HTTP_MALFORMED);
    free(long_path);
    /* A head that never ends is refused once it reaches the limit. */
    char *endless = calloc(1, ZKV_HTTP_HEAD_MAX + 1);
    memset(endless, 'x', ZKV_HTTP_HEAD_MAX);
    assert_int_equal(zkv_http_parse(endless, ZKV_HTTP_HEAD_MAX - 1, &req), ZKV_HTTP_INCOMPLETE);
    assert_int_equal(zkv_http_parse(endless, ZKV_HTTP_HEAD_MAX, &req), ZKV_HTTP_MALFORMED);
    free(endless);
}

static void test_response(void **state)
{
    (void) state;
    size_t size = 0;
    char *r = zkv_http_response(503, "text/plain", "no leader\n", 10, false, &size);
    const char *expected = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                           "Content-Length: 10\r\nConnection: close\r\n\r\nno leader\n";
    assert_int_equal(size, strlen(expected));
    assert_memory_equal(r, expected, size);
    free(r);
    r = zkv_http_response(200, "text/plain", "ok\n", 3, true, &size);
    assert_memory_equal(r + size - 4, "\r\n\r\n", 4); /* no body after the head */
    assert_non_null(memmem(r, size, "Content-Length: 3\r\n", 19));
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
