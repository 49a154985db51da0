/*  lessor: when a lease expires on this node's clock (time passed in): at its deadline and
    not a millisecond before, again after ZKV_LESSOR_RETRY_MS until revoked, later after a
    renewal, whole again after a promotion; and a randomized run of many leases against a
    model (a deadline per lease). ZKV_SEED=<n> replays the randomized run with another seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lessor.h"
#include "seed_testutil.h"
#include "splitmix.h"

#define SEED_DEFAULT 0x1e55012026u
#define RETRY ZKV_LESSOR_RETRY_MS
/*  A monotonic clock's value far from zero, so nothing leans on time starting at 0. */
#define T0 1000000

/* ---------------------------------------------------------------- helpers */

static zkv_lessor_t *s_lessor(void)
{
    zkv_lessor_t *l = zkv_lessor_new();
    assert_non_null(l);
    return l;
}

static void s_grant(zkv_lessor_t *l, uint64_t id, uint64_t ttl_s, int64_t now_ms)
{
    zkv_lessor_update(l, ZKV_LEASE_GRANTED, id, ttl_s, now_ms);
}

/*  The one lease due at now_ms is id, and after it none is. */
static void s_assert_expires(zkv_lessor_t *l, int64_t now_ms, uint64_t want)
{
    uint64_t id = 0;
    if (!zkv_lessor_expired(l, now_ms, &id))
        fail_msg("nothing expired at %lld, expected %llu", (long long) now_ms,
                 (unsigned long long) want);
    assert_int_equal(id, want);
    assert_false(zkv_lessor_expired(l, now_ms, &id));
}

static void s_assert_none(zkv_lessor_t *l, int64_t now_ms)
{
    uint64_t id = 0;
    if (zkv_lessor_expired(l, now_ms, &id))
        fail_msg("lease %llu expired at %lld", (unsigned long long) id, (long long) now_ms);
}

/*  What zkv_lessor_each visited. */
typedef struct {
    uint64_t id[8];
    uint64_t ttl[8];
    int64_t remaining[8];
    size_t n;
} s_seen_t;

static void s_collect(void *arg, uint64_t id, uint64_t ttl_s, int64_t remaining_ms)
{
    s_seen_t *seen = arg;
    assert_true(seen->n < 8);
    seen->id[seen->n] = id;
    seen->ttl[seen->n] = ttl_s;
    seen->remaining[seen->n++] = remaining_ms;
}

static void s_assert_seen(const s_seen_t *seen, size_t i, uint64_t id, uint64_t ttl_s,
                          int64_t remaining_ms)
{
    assert_true(i < seen->n);
    assert_int_equal(seen->id[i], id);
    assert_int_equal(seen->ttl[i], ttl_s);
    assert_int_equal(seen->remaining[i], remaining_ms);
}

/* ---------------------------------------------------------------- tests */

/*  Due at grant + ttl, then asked for again every ZKV_LESSOR_RETRY_MS until revoked: a
    revoke proposed and lost (a leader change, a full queue) is proposed again. */
static void test_expires_at_deadline_then_retries(void **state)
{
    (void) state;
    zkv_lessor_t *l = s_lessor();
    s_grant(l, 7, 2, T0);
    assert_int_equal(zkv_lessor_count(l), 1);
    s_assert_none(l, T0 + 1999);
    s_assert_expires(l, T0 + 2000, 7);
    s_assert_none(l, T0 + 2000 + RETRY - 1);
    s_assert_expires(l, T0 + 2000 + RETRY, 7);
    s_assert_none(l, T0 + 2000 + 2 * RETRY - 1);
    s_assert_expires(l, T0 + 2000 + 2 * RETRY, 7);
    /* Asking is not revoking: the lease is still held. */
    assert_int_equal(zkv_lessor_count(l), 1);
    zkv_lessor_destroy(&l);
    assert_null(l);
}

static void test_renewal_pushes_deadline(void **state)
{
    (void) state;
    zkv_lessor_t *l = s_lessor();
    s_grant(l, 1, 2, T0);
    zkv_lessor_update(l, ZKV_LEASE_RENEWED, 1, 2, T0 + 1500);
    s_assert_none(l, T0 + 2000);
    s_assert_none(l, T0 + 3499);
    s_assert_expires(l, T0 + 3500, 1);
    /* A keepalive applied before the revoke: the retry is off, the lease has its ttl again. */
    zkv_lessor_update(l, ZKV_LEASE_RENEWED, 1, 2, T0 + 3600);
    s_assert_none(l, T0 + 3500 + RETRY);
    s_assert_none(l, T0 + 5599);
    s_assert_expires(l, T0 + 5600, 1);
    zkv_lessor_destroy(&l);
}

static void test_revoked_never_returns(void **state)
{
    (void) state;
    zkv_lessor_t *l = s_lessor();
    s_grant(l, 1, 1, T0);
    s_grant(l, 2, 1, T0);
    s_grant(l, 3, 1, T0);
    /* One revoked before its deadline, one after it came up. */
    zkv_lessor_update(l, ZKV_LEASE_REVOKED, 1, 0, T0 + 10);
    uint64_t a = 0, b = 0;
    assert_true(zkv_lessor_expired(l, T0 + 1000, &a));
    assert_true(zkv_lessor_expired(l, T0 + 1000, &b));
    assert_true((a == 2 && b == 3) || (a == 3 && b == 2));
    s_assert_none(l, T0 + 1000);
    zkv_lessor_update(l, ZKV_LEASE_REVOKED, 2, 0, T0 + 1001);
    zkv_lessor_update(l, ZKV_LEASE_REVOKED, 99, 0, T0 + 1001); /* unknown: nothing */
    assert_int_equal(zkv_lessor_count(l), 1);
    s_assert_expires(l, T0 + 1000 + RETRY, 3);
    zkv_lessor_update(l, ZKV_LEASE_REVOKED, 3, 0, T0 + 2500);
    assert_int_equal(zkv_lessor_count(l), 0);
    s_assert_none(l, T0 + 2000 + RETRY);
    s_assert_none(l, INT64_MAX / 2);
    zkv_lessor_destroy(&l);
}

/*  A new leader gives every lease its whole ttl and the extension, whatever its deadline
    was: one about to expire, one already due and reported. */
static void test_promote_gives_every_lease_its_ttl(void **state)
{
    (void) state;
    zkv_lessor_t *l = s_lessor();
    s_grant(l, 1, 10, T0 - 9000); /* due at T0 + 1000 */
    s_grant(l, 2, 2, T0 - 5000);  /* due at T0 - 3000 */
    s_assert_expires(l, T0 - 3000, 2);
    zkv_lessor_promote(l, T0, 500);
    s_assert_none(l, T0 + 1000);
    s_assert_none(l, T0 - 2000 + RETRY); /* the retry is gone too */
    s_assert_none(l, T0 + 2499);
    s_assert_expires(l, T0 + 2500, 2);
    zkv_lessor_update(l, ZKV_LEASE_REVOKED, 2, 0, T0 + 2600);
    s_assert_none(l, T0 + 10499);
    s_assert_expires(l, T0 + 10500, 1);
    assert_int_equal(zkv_lessor_count(l), 1);
    zkv_lessor_destroy(&l);
}

static void test_next_ms(void **state)
{
    (void) state;
    zkv_lessor_t *l = s_lessor();
    assert_int_equal(zkv_lessor_next_ms(l, T0), -1);
    s_grant(l, 1, 2, T0);
    assert_int_equal(zkv_lessor_next_ms(l, T0), 2000);
    assert_int_equal(zkv_lessor_next_ms(l, T0 + 500), 1500);
    s_grant(l, 2, 1, T0 + 500);
    assert_int_equal(zkv_lessor_next_ms(l, T0 + 500), 1000);
    /* Past a deadline: now, never a negative wait. */
    assert_int_equal(zkv_lessor_next_ms(l, T0 + 5000), 0);
    s_assert_expires(l, T0 + 1500, 2);
    assert_int_equal(zkv_lessor_next_ms(l, T0 + 1500), 500);
    s_assert_expires(l, T0 + 2000, 1);
    assert_int_equal(zkv_lessor_next_ms(l, T0 + 2000), RETRY - 500);
    zkv_lessor_promote(l, T0 + 3000, 250);
    assert_int_equal(zkv_lessor_next_ms(l, T0 + 3000), 1250);
    zkv_lessor_destroy(&l);
}

static void test_each_in_id_order_with_remaining(void **state)
{
    (void) state;
    zkv_lessor_t *l = s_lessor();
    s_grant(l, 300, 3, T0);
    s_grant(l, 2, 5, T0);
    s_grant(l, 70000, 1, T0 + 100);
    zkv_lessor_update(l, ZKV_LEASE_RENEWED, 2, 5, T0 + 200);
    s_seen_t seen = {0};
    zkv_lessor_each(l, T0 + 500, s_collect, &seen);
    assert_int_equal(seen.n, 3);
    s_assert_seen(&seen, 0, 2, 5, 4700);
    s_assert_seen(&seen, 1, 300, 3, 2500);
    s_assert_seen(&seen, 2, 70000, 1, 600);

    /* Reported as due: it has the retry's time left. Revoked: not listed. */
    s_assert_expires(l, T0 + 1100, 70000);
    seen = (s_seen_t){0};
    zkv_lessor_each(l, T0 + 1100, s_collect, &seen);
    s_assert_seen(&seen, 2, 70000, 1, RETRY);
    zkv_lessor_update(l, ZKV_LEASE_REVOKED, 300, 0, T0 + 1200);
    seen = (s_seen_t){0};
    zkv_lessor_each(l, T0 + 1200, s_collect, &seen);
    assert_int_equal(seen.n, 2);
    s_assert_seen(&seen, 0, 2, 5, 4000);
    s_assert_seen(&seen, 1, 70000, 1, RETRY - 100);
    zkv_lessor_destroy(&l);
}

/* ---------------------------------------------------------------- model */

#define LEASES 10000
#define TTL_MAX_S 30
#define STEPS_MAX 2000000

/*  Lease id is model[id - 1]; ids are never reused. */
typedef struct {
    uint64_t ttl_s;
    int64_t deadline_ms;
    bool alive;
} s_model_t;

typedef struct {
    int64_t deadline_ms;
    uint64_t id;
} s_due_t;

typedef struct {
    uint64_t rng;
    zkv_lessor_t *lessor;
    s_model_t model[LEASES];
    size_t granted; /* ids 1..granted used */
    size_t alive;
    int64_t now_ms;
    int64_t next_ms;      /* the model's next deadline; INT64_MAX with no lease */
    s_due_t want[LEASES]; /* due now, by the model */
    s_due_t got[LEASES];  /* due now, by the lessor, as it said */
    size_t each_next;     /* zkv_lessor_each: the model's leases passed so far */
    uint64_t expiries;
} s_run_t;

static uint64_t s_below(s_run_t *r, uint64_t n)
{
    return zkv_splitmix64(&r->rng) % n;
}

static int s_due_cmp(const void *a, const void *b)
{
    const s_due_t *x = a, *y = b;
    if (x->deadline_ms != y->deadline_ms)
        return x->deadline_ms < y->deadline_ms ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/*  A lease granted so far, picked at random, if it is still alive; else NULL. */
static s_model_t *s_pick_alive(s_run_t *r)
{
    if (r->granted == 0)
        return NULL;
    s_model_t *m = &r->model[s_below(r, r->granted)];
    return m->alive ? m : NULL;
}

static uint64_t s_id_of(const s_run_t *r, const s_model_t *m)
{
    return (uint64_t) (m - r->model) + 1;
}

static void s_revoke(s_run_t *r, s_model_t *m)
{
    zkv_lessor_update(r->lessor, ZKV_LEASE_REVOKED, s_id_of(r, m), 0, r->now_ms);
    m->alive = false;
    r->alive--;
}

/*  What storage applies between two looks at the clock: grants, keepalives, revokes, and
    now and then a change of leader. */
static void s_apply_changes(s_run_t *r)
{
    for (uint64_t i = s_below(r, 4); i > 0 && r->granted < LEASES; i--) {
        s_model_t *m = &r->model[r->granted++];
        *m = (s_model_t){1 + s_below(r, TTL_MAX_S), 0, true};
        m->deadline_ms = r->now_ms + (int64_t) m->ttl_s * 1000;
        r->alive++;
        s_grant(r->lessor, r->granted, m->ttl_s, r->now_ms);
    }
    for (int i = 0; i < 3; i++) {
        s_model_t *m = s_pick_alive(r);
        if (m && i < 2) {
            m->deadline_ms = r->now_ms + (int64_t) m->ttl_s * 1000;
            zkv_lessor_update(r->lessor, ZKV_LEASE_RENEWED, s_id_of(r, m), m->ttl_s, r->now_ms);
        } else if (m && s_below(r, 4) == 0) {
            s_revoke(r, m);
        }
    }
    if (s_below(r, 3000) == 0) {
        int64_t extend_ms = (int64_t) s_below(r, 2000);
        zkv_lessor_promote(r->lessor, r->now_ms, extend_ms);
        for (size_t i = 0; i < r->granted; i++)
            r->model[i].deadline_ms = r->now_ms + (int64_t) r->model[i].ttl_s * 1000 + extend_ms;
    }
}

/*  The model's leases due at now, into want by deadline; how many. */
static size_t s_model_due(s_run_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->granted; i++)
        if (r->model[i].alive && r->model[i].deadline_ms <= r->now_ms)
            r->want[n++] = (s_due_t){r->model[i].deadline_ms, i + 1};
    qsort(r->want, n, sizeof r->want[0], s_due_cmp);
    return n;
}

/*  Every lease the lessor calls due, in the order it does: each due by the model, none
    earlier than the one before, together exactly the model's. */
static void s_drain(s_run_t *r)
{
    size_t want_n = s_model_due(r), got_n = 0;
    uint64_t id;
    while (zkv_lessor_expired(r->lessor, r->now_ms, &id)) {
        assert_true(id >= 1 && id <= r->granted);
        const s_model_t *m = &r->model[id - 1];
        if (!m->alive || m->deadline_ms > r->now_ms || got_n == want_n)
            fail_msg("lease %llu due at %lld, alive %d, deadline %lld", (unsigned long long) id,
                     (long long) r->now_ms, m->alive, (long long) m->deadline_ms);
        assert_true(got_n == 0 || m->deadline_ms >= r->got[got_n - 1].deadline_ms);
        r->got[got_n++] = (s_due_t){m->deadline_ms, id};
    }
    qsort(r->got, got_n, sizeof r->got[0], s_due_cmp);
    if (got_n != want_n)
        fail_msg("at %lld: %zu due, the lessor said %zu", (long long) r->now_ms, want_n, got_n);
    assert_memory_equal(r->got, r->want, want_n * sizeof r->want[0]);
    r->expiries += got_n;
    /* The leader proposes each revoke; about half are applied before the retry. */
    for (size_t i = 0; i < got_n; i++) {
        s_model_t *m = &r->model[r->got[i].id - 1];
        m->deadline_ms = r->now_ms + RETRY;
        if (s_below(r, 2) == 0)
            s_revoke(r, m);
    }
}

/*  The wait the lessor asks for never lets a deadline pass unseen. */
static void s_check_next(s_run_t *r)
{
    r->next_ms = INT64_MAX;
    for (size_t i = 0; i < r->granted; i++)
        if (r->model[i].alive && r->model[i].deadline_ms < r->next_ms)
            r->next_ms = r->model[i].deadline_ms;
    int64_t wait = zkv_lessor_next_ms(r->lessor, r->now_ms);
    assert_int_equal(zkv_lessor_count(r->lessor), r->alive);
    if (r->alive == 0)
        return;
    assert_true(wait > 0);
    assert_true(r->now_ms + wait <= r->next_ms);
}

/*  Small steps, the lessor's own wait, or right up to the model's next deadline. */
static void s_advance(s_run_t *r)
{
    int64_t wait = zkv_lessor_next_ms(r->lessor, r->now_ms);
    switch (s_below(r, 3)) {
    case 0: r->now_ms += (int64_t) s_below(r, 50); break;
    case 1: r->now_ms += wait > 0 ? wait : 1; break;
    default:
        if (r->next_ms != INT64_MAX && r->next_ms - 1 > r->now_ms)
            r->now_ms = r->next_ms - (int64_t) s_below(r, 2);
    }
}

/*  Every lease in id order, with the model's ttl and time left. */
static void s_check_each_visit(void *arg, uint64_t id, uint64_t ttl_s, int64_t remaining_ms)
{
    s_run_t *r = arg;
    while (r->each_next < r->granted && !r->model[r->each_next].alive)
        r->each_next++;
    assert_int_equal(id, ++r->each_next);
    assert_int_equal(ttl_s, r->model[id - 1].ttl_s);
    assert_int_equal(remaining_ms, r->model[id - 1].deadline_ms - r->now_ms);
}

static void s_check_each(s_run_t *r)
{
    r->each_next = 0;
    zkv_lessor_each(r->lessor, r->now_ms, s_check_each_visit, r);
    while (r->each_next < r->granted && !r->model[r->each_next].alive)
        r->each_next++;
    assert_int_equal(r->each_next, r->granted);
}

static void test_many_leases_against_model(void **state)
{
    (void) state;
    s_run_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->rng = t_seed(SEED_DEFAULT);
    fflush(stdout);
    r->lessor = s_lessor();
    r->now_ms = T0;
    r->next_ms = INT64_MAX;
    size_t steps = 0;
    for (; steps < STEPS_MAX && (r->granted < LEASES || r->alive > 0); steps++) {
        s_advance(r);
        s_apply_changes(r);
        s_drain(r);
        s_check_next(r);
        if (steps % 256 == 0)
            s_check_each(r);
    }
    assert_true(steps < STEPS_MAX);
    /* Once the deadlines of revoked leases have come up, nothing is left to wait for. */
    s_assert_none(r->lessor, r->now_ms + (TTL_MAX_S + 2) * 1000 + RETRY);
    assert_int_equal(zkv_lessor_next_ms(r->lessor, r->now_ms), -1);
    printf("[ model    ] %zu leases, %llu expiries, %zu steps, %lld ms\n", r->granted,
           (unsigned long long) r->expiries, steps, (long long) (r->now_ms - T0));
    zkv_lessor_destroy(&r->lessor);
    free(r);
}

/*  A follower renews and never expires anything: what it holds stays
    bounded by its leases, not by its renewals. */
static void test_renewals_do_not_pile_up(void **state)
{
    (void) state;
    zkv_lessor_t *l = s_lessor();
    for (uint64_t id = 1; id <= 10; id++)
        s_grant(l, id, 5, 0);
    for (int64_t t = 1; t <= 200000; t++)
        zkv_lessor_update(l, ZKV_LEASE_RENEWED, (uint64_t) t % 10 + 1, 5, t);
    assert_int_equal(zkv_lessor_count(l), 10);
    assert_true(zkv_lessor_deadlines(l) <= 2 * 10 + 64);
    zkv_lessor_destroy(&l);
}

/*  With every lease revoked, nothing is due: the stale deadlines do not count. */
static void test_next_ms_without_leases(void **state)
{
    (void) state;
    zkv_lessor_t *l = s_lessor();
    s_grant(l, 1, 2, 0);
    zkv_lessor_update(l, ZKV_LEASE_REVOKED, 1, 0, 10);
    assert_int_equal(zkv_lessor_next_ms(l, 20), -1);
    s_grant(l, 2, 2, 0);
    zkv_lessor_update(l, ZKV_LEASE_RENEWED, 2, 2, 1000);
    assert_int_equal(zkv_lessor_next_ms(l, 1000), 2000);
    zkv_lessor_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expires_at_deadline_then_retries),
        cmocka_unit_test(test_renewal_pushes_deadline),
        cmocka_unit_test(test_revoked_never_returns),
        cmocka_unit_test(test_promote_gives_every_lease_its_ttl),
        cmocka_unit_test(test_next_ms),
        cmocka_unit_test(test_each_in_id_order_with_remaining),
        cmocka_unit_test(test_many_leases_against_model),
        cmocka_unit_test(test_renewals_do_not_pile_up),
        cmocka_unit_test(test_next_ms_without_leases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
