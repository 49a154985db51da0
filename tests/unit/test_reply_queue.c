/*  actors/reply_queue: byte budgets for replies a client has not read. A
    reply that would take its connection past its budget is shed; the bytes
    come back when libzmq is done with a reply (read, or the connection
    closed); idle connections are forgotten. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reply_queue.h"

#define REPLY_SIZE 400

static zframe_t *s_reply(void)
{
    zframe_t *f = zframe_new(NULL, REPLY_SIZE);
    memset(zframe_data(f), 'r', REPLY_SIZE);
    return f;
}

/*  The routing id of dealer's connection, from one request. */
static zframe_t *s_routing(zsock_t *router, zsock_t *dealer)
{
    zstr_send(dealer, "hello");
    zmsg_t *msg = zmsg_recv(router);
    assert_non_null(msg);
    zframe_t *routing = zmsg_pop(msg);
    zmsg_destroy(&msg);
    return routing;
}

/*  Wait for libzmq to release replies; the router's commands (a closed
    peer) are processed only when the socket is used, as the node does. */
static void s_wait_bytes(zkv_reply_queue_t *q, zsock_t *router, size_t bytes)
{
    for (int i = 0; i < 200 && zkv_reply_queue_bytes(q) != bytes; i++) {
        zsock_events(router);
        zclock_sleep(10);
    }
    assert_int_equal(zkv_reply_queue_bytes(q), bytes);
}

static void test_budget_sheds_and_bytes_come_back(void **state)
{
    (void) state;
    zsock_t *router = zsock_new_router("inproc://reply-queue-test");
    zsock_t *dealer = zsock_new_dealer(">inproc://reply-queue-test");
    zsock_t *other = zsock_new_dealer(">inproc://reply-queue-test");
    zkv_reply_queue_t *q = zkv_reply_queue_new(2 * REPLY_SIZE, 3 * REPLY_SIZE);
    zframe_t *a = s_routing(router, dealer);
    zframe_t *b = s_routing(router, other);
    for (int i = 0; i < 3; i++) {
        zframe_t *body = s_reply();
        assert_int_equal(zkv_reply_queue_send(q, router, a, &body), i < 2 ? 0 : -1);
        assert_null(body);
    }
    assert_int_equal(zkv_reply_queue_shed(q), 1);
    assert_int_equal(zkv_reply_queue_bytes(q), 2 * REPLY_SIZE);
    zframe_t *body = s_reply(); /* the node's budget: one more fits, then none */
    assert_int_equal(zkv_reply_queue_send(q, router, b, &body), 0);
    body = s_reply();
    assert_int_equal(zkv_reply_queue_send(q, router, b, &body), -1);

    zframe_t *got = zframe_recv(dealer); /* read: its bytes come back */
    assert_int_equal(zframe_size(got), REPLY_SIZE);
    zframe_destroy(&got);
    s_wait_bytes(q, router, 2 * REPLY_SIZE);
    zsock_destroy(&other); /* gone: libzmq drops its queue, the bytes come back */
    s_wait_bytes(q, router, REPLY_SIZE);
    zkv_reply_queue_sweep(q);
    assert_int_equal(zkv_reply_queue_conns(q), 1);
    zkv_reply_conn_hold(zkv_reply_queue_conn(q, a)); /* pending: kept after its reply */
    got = zframe_recv(dealer);
    zframe_destroy(&got);
    s_wait_bytes(q, router, 0);
    zkv_reply_queue_sweep(q);
    assert_int_equal(zkv_reply_queue_conns(q), 1);
    zkv_reply_conn_release(zkv_reply_queue_conn(q, a));
    zkv_reply_queue_sweep(q);
    assert_int_equal(zkv_reply_queue_conns(q), 0);

    zframe_destroy(&a);
    zframe_destroy(&b);
    zkv_reply_queue_destroy(&q);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_sheds_and_bytes_come_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
