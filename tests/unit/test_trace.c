/*  trace actor: events emitted by a tracer reach a SUB on the trace endpoint
    with their topic, and socket monitor events are published as "socket". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <czmq.h>

#include "trace.h"
#include "zkv.pb-c.h"

#define WAIT_MS 5000

/*  Receive the next event whose kind is want, within ms; NULL otherwise. */
static Zkv__TraceEvent *s_expect_within(zsock_t *sub, const char *want, char **topic_out,
                                        int64_t ms)
{
    int64_t deadline = zclock_mono() + ms;
    zpoller_t *poller = zpoller_new(sub, NULL);
    Zkv__TraceEvent *found = NULL;
    while (!found && zclock_mono() < deadline) {
        if (!zpoller_wait(poller, 100))
            continue;
        zmsg_t *msg = zmsg_recv(sub);
        assert_non_null(msg);
        assert_int_equal(zmsg_size(msg), 2);
        char *topic = zmsg_popstr(msg);
        zframe_t *body = zmsg_pop(msg);
        Zkv__TraceEvent *ev = zkv__trace_event__unpack(NULL, zframe_size(body), zframe_data(body));
        assert_non_null(ev);
        if (streq(ev->kind, want)) {
            found = ev;
            *topic_out = topic;
        } else {
            zkv__trace_event__free_unpacked(ev, NULL);
            zstr_free(&topic);
        }
        zframe_destroy(&body);
        zmsg_destroy(&msg);
    }
    zpoller_destroy(&poller);
    return found;
}

static Zkv__TraceEvent *s_expect(zsock_t *sub, const char *want, char **topic_out)
{
    return s_expect_within(sub, want, topic_out, WAIT_MS);
}

/*  Emit "role" events (term, index, peer, detail) until sub has one, at most
    tries times, waiting up to ms after each: a subscriber may join late, and
    a tracer hears of it a little later. NULL if none came. */
static Zkv__TraceEvent *s_emit_until_seen(zkv_tracer_t *tracer, zsock_t *sub, uint64_t term,
                                          uint64_t index, uint32_t peer, const char *detail,
                                          int tries, int64_t ms, char **topic_out)
{
    Zkv__TraceEvent *ev = NULL;
    for (int i = 0; i < tries && !ev; i++) {
        zkv_tracer_emit(tracer, "role", term, index, peer, 0, "%s", detail);
        ev = s_expect_within(sub, "role", topic_out, ms);
    }
    return ev;
}

static void test_events_published_with_topic(void **state)
{
    (void) state;
    zactor_t *trace = zkv_trace_actor_new(7, "tcp://127.0.0.1:*", NULL, NULL);
    assert_non_null(trace);
    zstr_send(trace, "ENDPOINT");
    char *endpoint = zstr_recv(trace);
    zsock_t *sub = zsock_new_sub(endpoint, "");
    zkv_tracer_t *tracer = zkv_tracer_new(7);

    char *topic = NULL;
    Zkv__TraceEvent *ev =
        s_emit_until_seen(tracer, sub, 3, 42, 2, "role=leader", 50, WAIT_MS, &topic);
    assert_non_null(ev);
    assert_string_equal(topic, "role 7");
    assert_int_equal(ev->node, 7);
    assert_int_equal(ev->term, 3);
    assert_int_equal(ev->index, 42);
    assert_int_equal(ev->peer, 2);
    assert_string_equal(ev->detail, "role=leader");
    assert_true(ev->time_ns > 0);
    zkv__trace_event__free_unpacked(ev, NULL);
    zstr_free(&topic);

    /* A monitored socket's connection shows up as a socket event. */
    zsock_t *router = zsock_new_router("tcp://127.0.0.1:*");
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    assert_int_equal(zkv_tracer_monitor(tracer, dealer, "peer-2"), 0);
    zclock_sleep(50); /* let the trace actor attach to the monitor first */
    assert_int_equal(zsock_connect(dealer, "%s", zsock_endpoint(router)), 0);
    ev = s_expect(sub, "socket", &topic);
    assert_non_null(ev);
    assert_string_equal(topic, "socket 7");
    assert_non_null(strstr(ev->detail, "socket=peer-2"));
    assert_non_null(strstr(ev->detail, "event=connected"));
    zkv__trace_event__free_unpacked(ev, NULL);
    zstr_free(&topic);

    zkv_tracer_unmonitor(dealer); /* else the I/O thread may block on it for good */
    zsock_destroy(&dealer);
    zsock_destroy(&router);
    zkv_tracer_destroy(&tracer);
    zsock_destroy(&sub);
    zstr_free(&endpoint);
    zactor_destroy(&trace);
}

/*  Sockets come and go with the membership: the slot of a monitor that
    stopped is reused, so the socket monitored after many others (more than
    the trace actor holds at once) still shows its events. */
static void test_stopped_monitors_free_their_slots(void **state)
{
    (void) state;
    zactor_t *trace = zkv_trace_actor_new(8, "tcp://127.0.0.1:*", NULL, NULL);
    assert_non_null(trace);
    zstr_send(trace, "ENDPOINT");
    char *endpoint = zstr_recv(trace);
    zsock_t *sub = zsock_new_sub(endpoint, "");
    zkv_tracer_t *tracer = zkv_tracer_new(8);
    char *topic = NULL;
    Zkv__TraceEvent *ev = s_emit_until_seen(tracer, sub, 1, 1, 1, "up", 50, WAIT_MS, &topic);
    assert_non_null(ev);
    zkv__trace_event__free_unpacked(ev, NULL);
    zstr_free(&topic);
    for (int i = 0; i < 48; i++) {
        zsock_t *gone = zsock_new(ZMQ_DEALER);
        assert_int_equal(zkv_tracer_monitor(tracer, gone, "gone"), 0);
        zclock_sleep(10);
        zkv_tracer_unmonitor(gone);
        zsock_destroy(&gone);
    }
    zsock_t *router = zsock_new_router("tcp://127.0.0.1:*");
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    assert_int_equal(zkv_tracer_monitor(tracer, dealer, "peer-last"), 0);
    zclock_sleep(50);
    assert_int_equal(zsock_connect(dealer, "%s", zsock_endpoint(router)), 0);
    bool seen = false;
    while (!seen && (ev = s_expect(sub, "socket", &topic)) != NULL) {
        seen = strstr(ev->detail, "socket=peer-last") && strstr(ev->detail, "event=connected");
        zkv__trace_event__free_unpacked(ev, NULL);
        zstr_free(&topic);
    }
    assert_true(seen);
    zkv_tracer_unmonitor(dealer);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
    zkv_tracer_destroy(&tracer);
    zsock_destroy(&sub);
    zstr_free(&endpoint);
    zactor_destroy(&trace);
}

/*  What else reaches the XPUB from a connection (the end of a subscription it
    never made, an empty frame, a message that is no subscription at all)
    must not make the node believe nobody watches: events keep coming to the
    subscriber that is there. */
static void test_noise_does_not_stop_tracing(void **state)
{
    (void) state;
    zactor_t *trace = zkv_trace_actor_new(9, "tcp://127.0.0.1:*", NULL, NULL);
    assert_non_null(trace);
    zstr_send(trace, "ENDPOINT");
    char *endpoint = zstr_recv(trace);
    zsock_t *sub = zsock_new_sub(endpoint, "role");
    zkv_tracer_t *tracer = zkv_tracer_new(9);
    char *topic = NULL;
    Zkv__TraceEvent *ev = s_emit_until_seen(tracer, sub, 1, 1, 0, "first", 50, WAIT_MS, &topic);
    assert_non_null(ev);
    zkv__trace_event__free_unpacked(ev, NULL);
    zstr_free(&topic);

    zsock_t *noise = zsock_new(ZMQ_XSUB);
    assert_int_equal(zsock_connect(noise, "%s", endpoint), 0);
    const char *frames[] = {"\0role", "\0", "\7not a subscription", ""};
    size_t sizes[] = {5, 1, 20, 0};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(zmq_send(zsock_resolve(noise), frames[i], sizes[i], 0), (int) sizes[i]);
    /* Past the trace actor's repeat of whether anyone watches and the
       tracer's next look at it. */
    zclock_sleep(700);
    ev = s_emit_until_seen(tracer, sub, 2, 2, 0, "after the noise", 20, 100, &topic);
    assert_non_null(ev);
    assert_string_equal(ev->detail, "after the noise");
    zkv__trace_event__free_unpacked(ev, NULL);
    zstr_free(&topic);

    zsock_destroy(&noise);
    zkv_tracer_destroy(&tracer);
    zsock_destroy(&sub);
    zstr_free(&endpoint);
    zactor_destroy(&trace);
}

static void test_bind_failure_reported(void **state)
{
    (void) state;
    zactor_t *trace = zkv_trace_actor_new(8, "tcp://256.0.0.1:1", NULL, NULL);
    assert_null(trace);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_published_with_topic),
        cmocka_unit_test(test_stopped_monitors_free_their_slots),
        cmocka_unit_test(test_noise_does_not_stop_tracing),
        cmocka_unit_test(test_bind_failure_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
