/*  metrics: histogram buckets, peer slots, the Prometheus text, the health
    verdict, and the status read out of an encoded response. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "health.h"
#include "metrics.h"
#include "response.h"

static uint64_t s_bucket_sum(const zkv_hist_t *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= ZKV_HIST_BOUNDS; i++)
        n += zkv_metric_get(&h->bucket[i]);
    return n;
}

static void test_duration_buckets(void **state)
{
    (void) state;
    zkv_hist_t h = {0};
    zkv_hist_duration(&h, 0);            /* <= 50 us */
    zkv_hist_duration(&h, 50000);        /* a bound is in its own bucket (le) */
    zkv_hist_duration(&h, 50001);        /* next: <= 100 us */
    zkv_hist_duration(&h, 10000000000u); /* <= 10 s */
    zkv_hist_duration(&h, 10000000001u); /* +Inf */
    assert_int_equal(zkv_metric_get(&h.bucket[0]), 2);
    assert_int_equal(zkv_metric_get(&h.bucket[1]), 1);
    assert_int_equal(zkv_metric_get(&h.bucket[ZKV_HIST_BOUNDS - 1]), 1);
    assert_int_equal(zkv_metric_get(&h.bucket[ZKV_HIST_BOUNDS]), 1);
    assert_int_equal(s_bucket_sum(&h), 5);
    assert_int_equal(zkv_metric_get(&h.sum), 50000 + 50001 + 10000000000u + 10000000001u);
}

static void test_size_buckets(void **state)
{
    (void) state;
    zkv_hist_t h = {0};
    zkv_hist_size(&h, 1);
    zkv_hist_size(&h, 2);
    zkv_hist_size(&h, 3);
    zkv_hist_size(&h, 65536);
    zkv_hist_size(&h, 65537);
    assert_int_equal(zkv_metric_get(&h.bucket[0]), 1);
    assert_int_equal(zkv_metric_get(&h.bucket[1]), 1);
    assert_int_equal(zkv_metric_get(&h.bucket[2]), 1); /* 3 <= 4 */
    assert_int_equal(zkv_metric_get(&h.bucket[16]), 1);
    assert_int_equal(zkv_metric_get(&h.bucket[17]), 1);
}

static void test_peer_slots(void **state)
{
    (void) state;
    zkv_metrics_t *m = zkv_metrics_new(1);
    zkv_peer_metrics_t *p2 = zkv_metrics_peer(m, 2);
    assert_non_null(p2);
    assert_ptr_equal(zkv_metrics_peer(m, 2), p2);
    assert_ptr_not_equal(zkv_metrics_peer(m, 3), p2);
    for (uint32_t id = 4; id < 4 + ZKV_MEMBERS_MAX - 2; id++)
        assert_non_null(zkv_metrics_peer(m, id));
    assert_null(zkv_metrics_peer(m, 100)); /* every slot taken */
    zkv_link_metrics_t *l = zkv_metrics_link(m, 7);
    assert_non_null(l);
    zkv_metric_set(&l->id, 0); /* freed, as a removed member's is */
    assert_ptr_equal(zkv_metrics_link(m, 8), l);
    zkv_metrics_destroy(&m);
    assert_null(m);
}

/*  The value of the series that starts a line exactly as prefix does. */
static const char *s_series(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (strncmp(line, prefix, n) == 0 && line[n] == ' ')
            return line + n + 1;
    return NULL;
}

static void s_assert_series(const char *text, const char *prefix, const char *value)
{
    const char *v = s_series(text, prefix);
    if (!v)
        fail_msg("no series %s", prefix);
    if (strncmp(v, value, strlen(value)) != 0 || v[strlen(value)] != '\n')
        fail_msg("%s: expected %s, got %.20s", prefix, value, v);
}

static void test_text(void **state)
{
    (void) state;
    zkv_metrics_t *m = zkv_metrics_new(3);
    zkv_metric_set(&m->raft.role, 3);
    zkv_metric_set(&m->raft.term, 7);
    zkv_metric_set(&m->raft.leader, 3);
    zkv_metric_add(&m->client.requests[11][1], 5); /* put, OK */
    zkv_metric_add(&m->client.requests[10][4], 2); /* get, NOT_LEADER */
    zkv_hist_duration(&m->client.latency[11], 300000);
    zkv_hist_duration(&m->client.latency[11], 2000000000);
    zkv_peer_metrics_t *p = zkv_metrics_peer(m, 2);
    zkv_hist_duration(&p->round_trip, 1000000);
    size_t size = 0;
    char *text = zkv_metrics_text(m, &size);
    assert_non_null(text);
    assert_int_equal(strlen(text), size);
    s_assert_series(text, "zkv_node_id", "3");
    s_assert_series(text, "zkv_raft_state{state=\"leader\"}", "1");
    s_assert_series(text, "zkv_raft_state{state=\"follower\"}", "0");
    s_assert_series(text, "zkv_raft_term", "7");
    s_assert_series(text, "zkv_raft_has_leader", "1");
    s_assert_series(text, "zkv_client_requests_total{op=\"put\",status=\"OK\"}", "5");
    s_assert_series(text, "zkv_client_requests_total{op=\"get\",status=\"NOT_LEADER\"}", "2");
    assert_null(s_series(text, "zkv_client_requests_total{op=\"scan\",status=\"OK\"}"));
    /* Cumulative buckets; the count is the +Inf bucket. */
    s_assert_series(text, "zkv_client_request_duration_seconds_bucket{op=\"put\",le=\"0.00025\"}",
                    "0");
    s_assert_series(text, "zkv_client_request_duration_seconds_bucket{op=\"put\",le=\"0.0005\"}",
                    "1");
    s_assert_series(text, "zkv_client_request_duration_seconds_bucket{op=\"put\",le=\"2.5\"}", "2");
    s_assert_series(text, "zkv_client_request_duration_seconds_bucket{op=\"put\",le=\"+Inf\"}",
                    "2");
    s_assert_series(text, "zkv_client_request_duration_seconds_count{op=\"put\"}", "2");
    s_assert_series(text, "zkv_client_request_duration_seconds_sum{op=\"put\"}", "2.000300000");
    s_assert_series(text, "zkv_peer_round_trip_seconds_count{peer=\"2\"}", "1");
    s_assert_series(text, "zkv_wal_fsync_entries_count", "0");
    assert_non_null(s_series(text, "process_resident_memory_bytes"));
    assert_non_null(strstr(text, "# TYPE zkv_client_requests_total counter\n"));
    assert_non_null(strstr(text, "# TYPE zkv_peer_round_trip_seconds histogram\n"));
    free(text);
    zkv_metrics_destroy(&m);
}

static void test_health(void **state)
{
    (void) state;
    zkv_metrics_t *m = zkv_metrics_new(1);
    char reason[256];
    zkv_metric_set(&m->raft.role, 1);
    zkv_metric_set(&m->raft.term, 4);
    assert_false(zkv_health_check(m, 100, reason, sizeof reason));
    assert_string_equal(reason, "no leader known (pre-candidate in term 4)");
    zkv_metric_set(&m->raft.role, 0);
    zkv_metric_set(&m->raft.leader, 2);
    zkv_metric_set(&m->raft.leader_commit, 1000);
    zkv_metric_set(&m->raft.applied, 899);
    assert_false(zkv_health_check(m, 100, reason, sizeof reason));
    assert_non_null(strstr(reason, "applied index 899 is 101 entries behind"));
    zkv_metric_set(&m->raft.applied, 900);
    assert_true(zkv_health_check(m, 100, reason, sizeof reason));
    assert_string_equal(reason, "ok: leader 2, term 4, applied 900, leader's commit 1000");
    zkv_metric_set(&m->raft.applied, 1005); /* ahead of a commit heard a moment ago */
    assert_true(zkv_health_check(m, 0, reason, sizeof reason));
    zkv_metrics_destroy(&m);
}

static void test_response_status(void **state)
{
    (void) state;
    Zkv__Response r = ZKV__RESPONSE__INIT;
    uint8_t buf[256];
    r.status = ZKV__STATUS__NOT_FOUND;
    size_t n = zkv__response__pack(&r, buf);
    assert_int_equal(zkv_response_status(buf, n), ZKV__STATUS__NOT_FOUND);
    r.client_id = UINT64_MAX; /* ten bytes of varint before it */
    r.sequence = 300;
    r.status = ZKV__STATUS__ALREADY_EXISTS;
    r.error = "x";
    n = zkv__response__pack(&r, buf);
    assert_int_equal(zkv_response_status(buf, n), ZKV__STATUS__ALREADY_EXISTS);
    assert_int_equal(zkv_response_status(buf, 3), ZKV__STATUS__STATUS_UNSPECIFIED); /* cut */
    r.status = ZKV__STATUS__STATUS_UNSPECIFIED; /* proto3: not written at all */
    n = zkv__response__pack(&r, buf);
    assert_int_equal(zkv_response_status(buf, n), ZKV__STATUS__STATUS_UNSPECIFIED);
    assert_int_equal(zkv_response_status(buf, 0), ZKV__STATUS__STATUS_UNSPECIFIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_buckets), cmocka_unit_test(test_size_buckets),
        cmocka_unit_test(test_peer_slots),       cmocka_unit_test(test_text),
        cmocka_unit_test(test_health),           cmocka_unit_test(test_response_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
