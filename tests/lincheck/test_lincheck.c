/*  The linearizability checker on hand-made histories (each one a known
    anomaly or a known-good overlap), on random histories from a simulated
    atomic register (valid by construction) and on mutations of them that are
    invalid by construction, and against a brute-force search on small
    random histories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "history.h"
#include "lincheck.h"
#include "register_sim.h"
#include "zkv_error.h"
#include "splitmix.h"

#define OP(f_, out_, v_, e_, p_, c_, r_)                                                           \
    {                                                                                              \
        .f = ZKV_LINCHECK_##f_, .outcome = ZKV_LINCHECK_##out_, .value = v_, .expected = e_,       \
        .process = p_, .call_pos = c_, .ret_pos = r_, .call_time_ns = (c_) *100,                   \
        .ret_time_ns = (r_) ? (r_) *100 : -1                                                       \
    }
#define PUT(p, v, c, r) OP(PUT, OK, v, NULL, p, c, r)
#define GET(p, v, c, r) OP(GET, OK, v, NULL, p, c, r)
#define DEL(p, c, r) OP(DELETE, OK, NULL, NULL, p, c, r)
#define CAS(p, e, v, c, r) OP(CAS, OK, v, e, p, c, r)
#define PUT_INFO(p, v, c) OP(PUT, INFO, v, NULL, p, c, 0)
#define CAS_INFO(p, e, v, c) OP(CAS, INFO, v, e, p, c, 0)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define VERDICT(ops) s_verdict(ops, COUNT(ops))

#define LIN ZKV_LINCHECK_LINEARIZABLE
#define BAD ZKV_LINCHECK_VIOLATION

static zkv_lincheck_verdict_t s_verdict(const zkv_lincheck_op_t *ops, size_t count)
{
    zkv_lincheck_result_t *result;
    assert_int_equal(zkv_lincheck_check(ops, count, NULL, &result), 0);
    zkv_lincheck_verdict_t verdict = zkv_lincheck_result_verdict(result);
    char *report = zkv_lincheck_result_describe(result, ops, count);
    assert_non_null(report);
    zkv_lincheck_result_destroy(&result);
    assert_null(result);
    free(report);
    return verdict;
}

/* ---- hand-made histories ------------------------------------------------------ */

static void test_empty_and_sequential(void **state)
{
    (void) state;
    assert_int_equal(s_verdict(NULL, 0), LIN);
    const zkv_lincheck_op_t seq[] = {GET(0, NULL, 1, 2),  PUT(0, "a", 3, 4),  GET(0, "a", 5, 6),
                                     PUT(0, "b", 7, 8),   GET(0, "b", 9, 10), DEL(0, 11, 12),
                                     GET(0, NULL, 13, 14)};
    assert_int_equal(VERDICT(seq), LIN);
    const zkv_lincheck_op_t wrong[] = {PUT(0, "a", 1, 2), GET(0, NULL, 3, 4)};
    assert_int_equal(VERDICT(wrong), BAD);
}

/*  Reads overlapping a put may see the old or the new value. */
static void test_concurrent_overlaps(void **state)
{
    (void) state;
    const zkv_lincheck_op_t ops[] = {
        PUT(0, "a", 1, 6),   GET(1, NULL, 2, 3),  GET(2, "a", 4, 9),   PUT(3, "b", 5, 11),
        GET(1, "b", 10, 13), GET(0, "b", 12, 14), GET(2, "b", 15, 16),
    };
    assert_int_equal(VERDICT(ops), LIN);
    /* A read that sees the new value before the put returned, then another
       that starts later and still sees the new value. */
    const zkv_lincheck_op_t early[] = {PUT(0, "a", 1, 2), PUT(1, "b", 3, 10), GET(2, "b", 4, 5),
                                       GET(3, "b", 6, 7)};
    assert_int_equal(VERDICT(early), LIN);
    /* ... but once a reader saw the new value, a later reader cannot see the old. */
    const zkv_lincheck_op_t flicker[] = {PUT(0, "a", 1, 2), PUT(1, "b", 3, 10), GET(2, "b", 4, 5),
                                         GET(3, "a", 6, 7)};
    assert_int_equal(VERDICT(flicker), BAD);
}

static void test_stale_read_after_ack(void **state)
{
    (void) state;
    const zkv_lincheck_op_t ops[] = {PUT(0, "a", 1, 2), PUT(0, "b", 3, 4), GET(1, "a", 5, 6)};
    zkv_lincheck_result_t *result;
    assert_int_equal(zkv_lincheck_check(ops, COUNT(ops), NULL, &result), 0);
    assert_int_equal(zkv_lincheck_result_verdict(result), BAD);
    /* The report names the prefix (a), the state, and the put that cannot go
       over "a" while the read of "a" is still to come. */
    assert_int_equal(zkv_lincheck_result_prefix_length(result), 1);
    const size_t *tail, *stuck;
    assert_int_equal(zkv_lincheck_result_prefix_tail(result, &tail), 1);
    assert_int_equal(tail[0], 0);
    assert_string_equal(zkv_lincheck_result_state(result), "a");
    assert_int_equal(zkv_lincheck_result_stuck(result, &stuck), 1);
    assert_int_equal(stuck[0], 1);
    char *report = zkv_lincheck_result_describe(result, ops, COUNT(ops));
    assert_string_equal(
        report,
        "not linearizable: 1 of 3 operations linearized, then none of those real "
        "time allows next fits\n"
        "  the last linearized operations:\n"
        "    #0 process 0 put \"a\" ok, lines 1-2, t=100..200 ns\n"
        "  the register then holds \"a\"\n"
        "  allowed next by real time, none fitting:\n"
        "    #1 process 0 put \"b\" ok, lines 3-4, t=300..400 ns (would overwrite the value)\n"
        "  the value is still to be read, and no write left brings it back:\n"
        "    #2 process 1 get -> \"a\" ok, lines 5-6, t=500..600 ns\n");
    free(report);
    zkv_lincheck_result_destroy(&result);
}

/*  An acknowledged put that later reads never see, though nothing overwrote
    or deleted it: the register keeps the value it had before. */
static void test_lost_acknowledged_write(void **state)
{
    (void) state;
    const zkv_lincheck_op_t lost[] = {PUT(0, "a", 1, 2), PUT(1, "b", 3, 4), GET(2, "a", 5, 6),
                                      GET(0, "a", 7, 8)};
    assert_int_equal(VERDICT(lost), BAD);
    const zkv_lincheck_op_t lost_first[] = {PUT(0, "a", 1, 2), GET(1, NULL, 3, 4)};
    assert_int_equal(VERDICT(lost_first), BAD);
    /* The same reads are fine while the put is still in flight. */
    const zkv_lincheck_op_t in_flight[] = {PUT(0, "a", 1, 2), PUT(1, "b", 3, 9), GET(2, "a", 5, 6),
                                           GET(0, "a", 7, 8)};
    assert_int_equal(VERDICT(in_flight), LIN);
}

static void test_read_of_value_never_written(void **state)
{
    (void) state;
    const zkv_lincheck_op_t ops[] = {PUT(0, "a", 1, 10), GET(1, "z", 2, 3)};
    assert_int_equal(VERDICT(ops), BAD);
    const zkv_lincheck_op_t alone[] = {GET(0, "z", 1, 2)};
    assert_int_equal(VERDICT(alone), BAD);
}

/*  Two puts overlap; one reader sees a then b, the other b then a. Each put
    takes effect once, so no single order explains both. */
static void test_readers_disagree_on_order(void **state)
{
    (void) state;
    const zkv_lincheck_op_t ops[] = {
        PUT(0, "a", 1, 20), PUT(1, "b", 2, 21), GET(2, "a", 3, 4),
        GET(2, "b", 5, 6),  GET(3, "b", 7, 8),  GET(3, "a", 9, 10),
    };
    zkv_lincheck_result_t *result;
    assert_int_equal(zkv_lincheck_check(ops, COUNT(ops), NULL, &result), 0);
    assert_int_equal(zkv_lincheck_result_verdict(result), BAD);
    const size_t *stuck;
    assert_true(zkv_lincheck_result_stuck(result, &stuck) >= 1);
    zkv_lincheck_result_destroy(&result);
    /* When both readers agree, it is fine. */
    const zkv_lincheck_op_t agree[] = {
        PUT(0, "a", 1, 20), PUT(1, "b", 2, 21), GET(2, "a", 3, 4),
        GET(2, "b", 5, 6),  GET(3, "b", 7, 8),  GET(3, "b", 9, 10),
    };
    assert_int_equal(VERDICT(agree), LIN);
}

static void test_info_write_that_applied(void **state)
{
    (void) state;
    const zkv_lincheck_op_t seen[] = {PUT(0, "a", 1, 2), PUT_INFO(1, "b", 3), GET(2, "b", 5, 6)};
    assert_int_equal(VERDICT(seen), LIN);
    /* It may take effect long after its client gave up: after c here. */
    const zkv_lincheck_op_t late[] = {PUT(0, "a", 1, 2), PUT_INFO(1, "b", 3), PUT(0, "c", 4, 5),
                                      GET(2, "c", 6, 7), GET(2, "b", 8, 9)};
    assert_int_equal(VERDICT(late), LIN);
    /* Seen only by a later cas that expected its value. */
    const zkv_lincheck_op_t by_cas[] = {PUT(0, "a", 1, 2), CAS_INFO(1, "a", "b", 3),
                                        CAS(2, "b", "c", 4, 5), GET(2, "c", 6, 7)};
    assert_int_equal(VERDICT(by_cas), LIN);
    /* But not before it was invoked, and only once. */
    const zkv_lincheck_op_t early[] = {GET(2, "b", 1, 2), PUT_INFO(1, "b", 3)};
    assert_int_equal(VERDICT(early), BAD);
    const zkv_lincheck_op_t twice[] = {PUT(0, "a", 1, 2), PUT_INFO(1, "b", 3), GET(2, "b", 4, 5),
                                       PUT(0, "c", 6, 7), GET(2, "b", 8, 9)};
    assert_int_equal(VERDICT(twice), BAD);
}

static void test_info_write_that_did_not_apply(void **state)
{
    (void) state;
    const zkv_lincheck_op_t ops[] = {PUT(0, "a", 1, 2), PUT_INFO(1, "b", 3), GET(2, "a", 5, 6),
                                     GET(2, "a", 7, 8)};
    assert_int_equal(VERDICT(ops), LIN);
    /* A delete that may not have happened. */
    const zkv_lincheck_op_t del[] = {PUT(0, "a", 1, 2), OP(DELETE, INFO, NULL, NULL, 1, 3, 4),
                                     GET(2, "a", 5, 6)};
    assert_int_equal(VERDICT(del), LIN);
    /* An indeterminate cas whose expectation never holds is not forced in. */
    const zkv_lincheck_op_t cas[] = {PUT(0, "a", 1, 2), CAS_INFO(1, "z", "b", 3),
                                     GET(2, "a", 5, 6)};
    assert_int_equal(VERDICT(cas), LIN);
}

static void test_cas_semantics(void **state)
{
    (void) state;
    const zkv_lincheck_op_t ok[] = {PUT(0, "a", 1, 2), CAS(0, "a", "b", 3, 4), GET(1, "b", 5, 6)};
    assert_int_equal(VERDICT(ok), LIN);
    const zkv_lincheck_op_t wrong_expect[] = {PUT(0, "a", 1, 2), CAS(0, "x", "b", 3, 4)};
    assert_int_equal(VERDICT(wrong_expect), BAD);
    const zkv_lincheck_op_t on_absent[] = {CAS(0, NULL, "a", 1, 2), GET(1, "a", 3, 4)};
    assert_int_equal(VERDICT(on_absent), LIN);
    const zkv_lincheck_op_t absent_expected[] = {PUT(0, "x", 1, 2), CAS(0, NULL, "a", 3, 4)};
    assert_int_equal(VERDICT(absent_expected), BAD);
    /* A failed cas took no effect, whatever it says. */
    const zkv_lincheck_op_t failed[] = {PUT(0, "a", 1, 2), OP(CAS, FAIL, "b", "a", 1, 3, 4),
                                        GET(1, "a", 5, 6)};
    assert_int_equal(VERDICT(failed), LIN);
    const zkv_lincheck_op_t failed_seen[] = {PUT(0, "a", 1, 2), OP(CAS, FAIL, "b", "a", 1, 3, 4),
                                             GET(1, "b", 5, 6)};
    assert_int_equal(VERDICT(failed_seen), BAD);
    /* Two cas from the same value cannot both succeed, unless the value came back. */
    const zkv_lincheck_op_t both[] = {PUT(0, "a", 1, 2), CAS(1, "a", "b", 3, 6),
                                      CAS(2, "a", "c", 4, 7)};
    assert_int_equal(VERDICT(both), BAD);
    const zkv_lincheck_op_t info_cas[] = {PUT(0, "a", 1, 2), CAS_INFO(1, "a", "b", 3),
                                          GET(2, "b", 4, 5)};
    assert_int_equal(VERDICT(info_cas), LIN);
}

static void test_delete_then_get_null(void **state)
{
    (void) state;
    const zkv_lincheck_op_t ops[] = {PUT(0, "a", 1, 2), DEL(0, 3, 4), GET(1, NULL, 5, 6),
                                     DEL(1, 7, 8), GET(0, NULL, 9, 10)};
    assert_int_equal(VERDICT(ops), LIN);
    const zkv_lincheck_op_t resurrect[] = {PUT(0, "a", 1, 2), DEL(0, 3, 4), GET(1, "a", 5, 6)};
    assert_int_equal(VERDICT(resurrect), BAD);
}

/*  Failed puts and deletes, and reads that failed or timed out, carry nothing. */
static void test_dropped_operations(void **state)
{
    (void) state;
    const zkv_lincheck_op_t ops[] = {PUT(0, "a", 1, 2), OP(GET, FAIL, NULL, NULL, 1, 3, 4),
                                     OP(GET, INFO, "zz", NULL, 2, 5, 0),
                                     OP(DELETE, FAIL, NULL, NULL, 1, 6, 7), GET(1, "a", 8, 9)};
    assert_int_equal(VERDICT(ops), LIN);
    const zkv_lincheck_op_t put_failed[] = {PUT(0, "a", 1, 2), OP(PUT, FAIL, "b", NULL, 1, 3, 4),
                                            GET(1, "b", 5, 6)};
    assert_int_equal(VERDICT(put_failed), BAD);
}

static void test_budget_gives_unknown(void **state)
{
    (void) state;
    const zkv_lincheck_op_t ops[] = {PUT(0, "a", 1, 2), GET(0, "a", 3, 4), PUT(0, "b", 5, 6),
                                     GET(0, "b", 7, 8)};
    zkv_lincheck_limits_t limits = {3, 0};
    zkv_lincheck_result_t *result;
    assert_int_equal(zkv_lincheck_check(ops, COUNT(ops), &limits, &result), 0);
    assert_int_equal(zkv_lincheck_result_verdict(result), ZKV_LINCHECK_UNKNOWN);
    assert_int_equal(zkv_lincheck_result_steps(result), 3);
    char *report = zkv_lincheck_result_describe(result, ops, COUNT(ops));
    assert_non_null(strstr(report, "unknown: gave up after 3 steps (step limit)"));
    free(report);
    zkv_lincheck_result_destroy(&result);
    /* A cache too small for even one entry. */
    limits = (zkv_lincheck_limits_t){0, 64};
    assert_int_equal(zkv_lincheck_check(ops, COUNT(ops), &limits, &result), 0);
    assert_int_equal(zkv_lincheck_result_verdict(result), ZKV_LINCHECK_UNKNOWN);
    zkv_lincheck_result_destroy(&result);
    limits = (zkv_lincheck_limits_t){4, 0};
    assert_int_equal(zkv_lincheck_check(ops, COUNT(ops), &limits, &result), 0);
    assert_int_equal(zkv_lincheck_result_verdict(result), LIN);
    zkv_lincheck_result_destroy(&result);
}

static void test_rejects_inconsistent_ops(void **state)
{
    (void) state;
    zkv_lincheck_result_t *result;
    const zkv_lincheck_op_t backwards[] = {PUT(0, "a", 4, 3)};
    assert_int_equal(zkv_lincheck_check(backwards, 1, NULL, &result), ZKV_EINVAL);
    assert_null(result);
    const zkv_lincheck_op_t same_pos[] = {PUT(0, "a", 1, 3), GET(1, "a", 3, 4)};
    assert_int_equal(zkv_lincheck_check(same_pos, 2, NULL, &result), ZKV_EINVAL);
    const zkv_lincheck_op_t no_value[] = {PUT(0, NULL, 1, 2)};
    assert_int_equal(zkv_lincheck_check(no_value, 1, NULL, &result), ZKV_EINVAL);
    zkv_lincheck_op_t bad_f[] = {PUT(0, "a", 1, 2)};
    bad_f[0].f = (zkv_lincheck_f_t) 9;
    assert_int_equal(zkv_lincheck_check(bad_f, 1, NULL, &result), ZKV_EINVAL);
}

/* ---- random histories from a simulated atomic register ------------------------- */

typedef struct {
    uint64_t s;
} s_rng_t;

static uint64_t s_rand(s_rng_t *rng)
{
    return zkv_splitmix64(&rng->s);
}

static int s_below(s_rng_t *rng, int n)
{
    return (int) (s_rand(rng) % (uint64_t) n);
}

static bool s_chance(s_rng_t *rng, int percent)
{
    return s_below(rng, 100) < percent;
}

static zkv_history_t *s_sim_parse(uint64_t seed, int processes, int keys, long ticks,
                                  int info_percent)
{
    zkv_lincheck_sim_params_t params = {seed, processes, keys, ticks, info_percent};
    size_t size;
    char *text = zkv_lincheck_sim_history(&params, &size);
    assert_non_null(text);
    zkv_history_t *history;
    char err[ZKV_HISTORY_ERROR_SIZE];
    int rc = zkv_history_parse("sim", text, size, &history, err, sizeof err);
    if (rc != 0)
        fail_msg("seed %llu: %s", (unsigned long long) seed, err);
    free(text);
    return history;
}

static void test_random_valid(void **state)
{
    (void) state;
    size_t total_ops = 0, info_ops = 0;
    for (uint64_t seed = 1; seed <= 400; seed++) {
        zkv_history_t *history = s_sim_parse(seed, 2 + (int) (seed % 5), 1 + (int) (seed % 3), 250,
                                             5 + (int) (seed % 20));
        for (size_t k = 0; k < zkv_history_key_count(history); k++) {
            const zkv_lincheck_op_t *ops;
            size_t count = zkv_history_ops(history, k, &ops);
            for (size_t i = 0; i < count; i++)
                info_ops += ops[i].outcome == ZKV_LINCHECK_INFO;
            total_ops += count;
            zkv_lincheck_verdict_t verdict = s_verdict(ops, count);
            if (verdict != LIN)
                fail_msg("seed %llu key %zu: a valid history judged %s", (unsigned long long) seed,
                         k, zkv_lincheck_verdict_name(verdict));
        }
        zkv_history_destroy(&history);
    }
    /* The generator must really produce overlaps and info operations. */
    assert_true(total_ops > 20000);
    assert_true(info_ops > total_ops / 10);
}

/* ---- mutations that make a valid history provably invalid ---------------------------- */

typedef enum {
    S_MUT_NEVER_WRITTEN, /* a read returns a value no operation wrote */
    S_MUT_FUTURE,        /* a read returns a value whose write was invoked after it returned */
    S_MUT_OVERWRITTEN,   /* a read returns a value that an acknowledged write overwrote before */
    S_MUT_LOST,          /* a read returns absent after an acknowledged write, with no delete */
    S_MUT_SHIFT,         /* a read is moved to end before the write of its value is invoked */
    S_MUT_COUNT
} s_mutation_t;

static bool s_is_ok_get(const zkv_lincheck_op_t *op)
{
    return op->f == ZKV_LINCHECK_GET && op->outcome == ZKV_LINCHECK_OK;
}

static bool s_writes_value(const zkv_lincheck_op_t *op)
{
    return (op->f == ZKV_LINCHECK_PUT || op->f == ZKV_LINCHECK_CAS) &&
           op->outcome != ZKV_LINCHECK_FAIL;
}

static bool s_acked_write(const zkv_lincheck_op_t *op)
{
    return op->f != ZKV_LINCHECK_GET && op->outcome == ZKV_LINCHECK_OK;
}

/*  The write of each value is unique, so reading W's value needs W placed
    before the read, after its call. */
static bool s_mutate_future(zkv_lincheck_op_t *ops, size_t n, size_t g)
{
    for (size_t w = 0; w < n; w++) {
        if (s_writes_value(&ops[w]) && ops[w].call_pos > ops[g].ret_pos) {
            ops[g].value = ops[w].value;
            return true;
        }
    }
    return false;
}

/*  W acked, then W2 (a different value or absent) invoked after W returned
    and acked before the read was invoked: W's value is gone for good. */
static bool s_mutate_overwritten(zkv_lincheck_op_t *ops, size_t n, size_t g)
{
    for (size_t w = 0; w < n; w++) {
        if (!s_acked_write(&ops[w]) || ops[w].f == ZKV_LINCHECK_DELETE)
            continue;
        for (size_t w2 = 0; w2 < n; w2++) {
            if (s_acked_write(&ops[w2]) && ops[w].ret_pos < ops[w2].call_pos &&
                ops[w2].ret_pos < ops[g].call_pos) {
                ops[g].value = ops[w].value;
                return true;
            }
        }
    }
    return false;
}

/*  An acked put or cas returned before the read began, and no delete could
    have come before the read returned: the key cannot be absent. */
static bool s_mutate_lost(zkv_lincheck_op_t *ops, size_t n, size_t g)
{
    bool written = false;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].f == ZKV_LINCHECK_DELETE && ops[i].outcome != ZKV_LINCHECK_FAIL &&
            ops[i].call_pos < ops[g].ret_pos)
            return false;
        written |= s_acked_write(&ops[i]) && ops[i].f != ZKV_LINCHECK_DELETE &&
                   ops[i].ret_pos < ops[g].call_pos;
    }
    if (written)
        ops[g].value = NULL;
    return written;
}

/*  Spreads the positions out and moves the read right before W's call. */
static bool s_mutate_shift(zkv_lincheck_op_t *ops, size_t n, size_t g)
{
    if (!ops[g].value)
        return false;
    for (size_t w = 0; w < n; w++) {
        if (!s_writes_value(&ops[w]) || strcmp(ops[w].value, ops[g].value) != 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            ops[i].call_pos *= 4;
            ops[i].ret_pos *= 4;
        }
        ops[g].call_pos = ops[w].call_pos - 2;
        ops[g].ret_pos = ops[w].call_pos - 1;
        return true;
    }
    return false;
}

static bool s_mutate(zkv_lincheck_op_t *ops, size_t n, size_t g, s_mutation_t m)
{
    switch (m) {
    case S_MUT_NEVER_WRITTEN: ops[g].value = "never-written"; return true;
    case S_MUT_FUTURE: return s_mutate_future(ops, n, g);
    case S_MUT_OVERWRITTEN: return s_mutate_overwritten(ops, n, g);
    case S_MUT_LOST: return s_mutate_lost(ops, n, g);
    case S_MUT_SHIFT: return s_mutate_shift(ops, n, g);
    case S_MUT_COUNT: break;
    }
    return false;
}

/*  Tries mutation m on each ok read from a random start; true when applied. */
static bool s_mutate_some_read(s_rng_t *rng, zkv_lincheck_op_t *ops, size_t n, s_mutation_t m)
{
    size_t start = (size_t) s_below(rng, (int) n);
    for (size_t k = 0; k < n; k++) {
        size_t g = (start + k) % n;
        if (s_is_ok_get(&ops[g]) && s_mutate(ops, n, g, m))
            return true;
    }
    return false;
}

static void test_random_mutated_invalid(void **state)
{
    (void) state;
    int applied[S_MUT_COUNT] = {0};
    for (uint64_t seed = 1; seed <= 300; seed++) {
        zkv_history_t *history =
            s_sim_parse(seed * 7919, 2 + (int) (seed % 4), 1 + (int) (seed % 2), 120, 8);
        s_rng_t rng = {seed};
        for (size_t k = 0; k < zkv_history_key_count(history); k++) {
            const zkv_lincheck_op_t *ops;
            size_t count = zkv_history_ops(history, k, &ops);
            zkv_lincheck_op_t *copy = malloc(count * sizeof *copy);
            s_mutation_t m = (s_mutation_t) ((seed + k) % S_MUT_COUNT);
            memcpy(copy, ops, count * sizeof *copy);
            if (count && s_mutate_some_read(&rng, copy, count, m)) {
                applied[m]++;
                zkv_lincheck_verdict_t verdict = s_verdict(copy, count);
                if (verdict != BAD)
                    fail_msg("seed %llu key %zu mutation %d: judged %s",
                             (unsigned long long) seed * 7919, k, (int) m,
                             zkv_lincheck_verdict_name(verdict));
            }
            free(copy);
        }
        zkv_history_destroy(&history);
    }
    for (int m = 0; m < S_MUT_COUNT; m++)
        if (applied[m] < 30)
            fail_msg("mutation %d applied only %d times", m, applied[m]);
}

/*  ops are linearizable, and the search takes at most per_op steps an operation. */
static void s_assert_cheap(const zkv_lincheck_op_t *ops, size_t count, uint64_t per_op)
{
    zkv_lincheck_result_t *result;
    assert_int_equal(zkv_lincheck_check(ops, count, NULL, &result), 0);
    assert_int_equal(zkv_lincheck_result_verdict(result), LIN);
    if (zkv_lincheck_result_steps(result) > per_op * count)
        fail_msg("%llu steps for %zu operations",
                 (unsigned long long) zkv_lincheck_result_steps(result), count);
    zkv_lincheck_result_destroy(&result);
}

/*  Memoization keeps the search cheap on a long valid history with many
    indeterminate operations: about 50 steps per operation here. Without the
    cache the default budget runs out. */
static void test_long_history_stays_cheap(void **state)
{
    (void) state;
    zkv_history_t *history = s_sim_parse(42, 10, 1, 16000, 20);
    const zkv_lincheck_op_t *ops;
    size_t count = zkv_history_ops(history, 0, &ops);
    assert_true(count > 3000);
    s_assert_cheap(ops, count, 200);
    zkv_history_destroy(&history);
}

/*  A get that fits is placed at once and never undone alone. Each round: a
    put, then gets in call order alternating between its value and the one
    before, all returning after every call. Placing the put first and undoing
    one get at a time would try every subset of the new value's readers
    (2^12 a round) before putting the old value's readers first. */
static void test_concurrent_gets_stay_cheap(void **state)
{
    (void) state;
    enum { ROUNDS = 16, READERS = 24 };
    static char values[ROUNDS][8];
    zkv_lincheck_op_t ops[ROUNDS * (READERS + 1)];
    size_t n = 0;
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(values[r], sizeof values[r], "v%d", r);
        const char *old = r ? values[r - 1] : NULL;
        int64_t base = 100 * (int64_t) r;
        ops[n++] = (zkv_lincheck_op_t) PUT(0, values[r], base + 1, base + 90);
        for (int g = 0; g < READERS; g++) {
            int64_t ret = base + 40 + g / 2 + (g % 2 ? 0 : READERS);
            ops[n++] = (zkv_lincheck_op_t) GET(g + 1, g % 2 ? old : values[r], base + 2 + g, ret);
        }
    }
    s_assert_cheap(ops, n, 10);
}

/*  A put open across a thousand writes and reads of another process, read
    only at the end: placed early, it is refused as soon as a write would
    overwrite its value, instead of being found wrong at the last read and
    moved one place at a time (1.4 million steps). */
static void test_long_open_put_stays_cheap(void **state)
{
    (void) state;
    enum { ROUNDS = 1000 };
    static char values[ROUNDS][8];
    zkv_lincheck_op_t ops[2 * ROUNDS + 2];
    size_t n = 0;
    int64_t pos = 1;
    ops[n++] = (zkv_lincheck_op_t) PUT(0, "open", 1, 4 * ROUNDS + 3);
    for (int r = 0; r < ROUNDS; r++) {
        snprintf(values[r], sizeof values[r], "w%d", r);
        ops[n++] = (zkv_lincheck_op_t) PUT(1, values[r], pos + 1, pos + 2);
        ops[n++] = (zkv_lincheck_op_t) GET(1, values[r], pos + 3, pos + 4);
        pos += 4;
    }
    ops[n++] = (zkv_lincheck_op_t) GET(1, "open", 4 * ROUNDS + 4, 4 * ROUNDS + 5);
    s_assert_cheap(ops, n, 10);
}

/* ---- against brute force ------------------------------------------------------------ */

static bool s_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool s_ignored(const zkv_lincheck_op_t *op)
{
    return op->outcome == ZKV_LINCHECK_FAIL ||
           (op->outcome == ZKV_LINCHECK_INFO && op->f == ZKV_LINCHECK_GET);
}

/*  Every order of the operations that respects real time, each INFO one
    placed or left out; true if one is a legal register sequence. */
static bool s_brute(const zkv_lincheck_op_t *ops, size_t n, uint32_t done, const char *reg)
{
    bool all_ok_done = true;
    for (size_t i = 0; i < n; i++)
        if (!(done >> i & 1) && ops[i].outcome == ZKV_LINCHECK_OK)
            all_ok_done = false;
    if (all_ok_done)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (done >> i & 1)
            continue;
        bool blocked = false;
        for (size_t j = 0; j < n; j++)
            blocked |= j != i && !(done >> j & 1) && ops[j].outcome == ZKV_LINCHECK_OK &&
                       ops[j].ret_pos < ops[i].call_pos;
        const zkv_lincheck_op_t *op = &ops[i];
        const char *next = reg;
        if (blocked)
            continue;
        if (op->f == ZKV_LINCHECK_GET && !s_same(reg, op->value))
            continue;
        if (op->f == ZKV_LINCHECK_CAS && !s_same(reg, op->expected))
            continue;
        if (op->f == ZKV_LINCHECK_PUT || op->f == ZKV_LINCHECK_CAS)
            next = op->value;
        else if (op->f == ZKV_LINCHECK_DELETE)
            next = NULL;
        if (s_brute(ops, n, done | 1u << i, next))
            return true;
    }
    return false;
}

static const char *s_small_value(s_rng_t *rng, bool may_be_null)
{
    static const char *const values[] = {"a", "b", "c", NULL};
    return values[s_below(rng, may_be_null ? 4 : 3)];
}

/*  n operations on random distinct positions; values repeat on purpose. */
static void s_small_history(s_rng_t *rng, zkv_lincheck_op_t *ops, size_t n)
{
    uint64_t pos[16];
    for (size_t i = 0; i < 2 * n; i++)
        pos[i] = i + 1;
    for (size_t i = 2 * n - 1; i > 0; i--) {
        size_t j = (size_t) s_below(rng, (int) i + 1);
        uint64_t t = pos[i];
        pos[i] = pos[j];
        pos[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t a = pos[2 * i], b = pos[2 * i + 1];
        int r = s_below(rng, 100);
        ops[i] = (zkv_lincheck_op_t){(zkv_lincheck_f_t) s_below(rng, 4),
                                     r < 70   ? ZKV_LINCHECK_OK
                                     : r < 85 ? ZKV_LINCHECK_INFO
                                              : ZKV_LINCHECK_FAIL,
                                     s_small_value(rng, true),
                                     s_small_value(rng, true),
                                     a < b ? a : b,
                                     a < b ? b : a,
                                     (int64_t) i,
                                     0,
                                     0};
        if (ops[i].f == ZKV_LINCHECK_PUT || ops[i].f == ZKV_LINCHECK_CAS)
            ops[i].value = s_small_value(rng, false);
        if (ops[i].outcome == ZKV_LINCHECK_INFO && s_chance(rng, 50))
            ops[i].ret_pos = 0;
    }
}

static void test_agrees_with_brute_force(void **state)
{
    (void) state;
    int valid = 0, invalid = 0;
    zkv_lincheck_op_t ops[8];
    for (uint64_t seed = 1; seed <= 20000; seed++) {
        s_rng_t rng = {seed};
        size_t n = 1 + (size_t) s_below(&rng, 8);
        s_small_history(&rng, ops, n);
        uint32_t dropped = 0;
        for (size_t i = 0; i < n; i++)
            dropped |= (uint32_t) s_ignored(&ops[i]) << i;
        bool expect = s_brute(ops, n, dropped, NULL);
        zkv_lincheck_verdict_t got = s_verdict(ops, n);
        if (got != (expect ? LIN : BAD))
            fail_msg("seed %llu: brute force says %d, checker says %s", (unsigned long long) seed,
                     expect, zkv_lincheck_verdict_name(got));
        valid += expect;
        invalid += !expect;
    }
    /* Both answers must be common, or the comparison proves little. */
    assert_true(valid > 600);
    assert_true(invalid > 600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_sequential),
        cmocka_unit_test(test_concurrent_overlaps),
        cmocka_unit_test(test_stale_read_after_ack),
        cmocka_unit_test(test_lost_acknowledged_write),
        cmocka_unit_test(test_read_of_value_never_written),
        cmocka_unit_test(test_readers_disagree_on_order),
        cmocka_unit_test(test_info_write_that_applied),
        cmocka_unit_test(test_info_write_that_did_not_apply),
        cmocka_unit_test(test_cas_semantics),
        cmocka_unit_test(test_delete_then_get_null),
        cmocka_unit_test(test_dropped_operations),
        cmocka_unit_test(test_budget_gives_unknown),
        cmocka_unit_test(test_rejects_inconsistent_ops),
        cmocka_unit_test(test_random_valid),
        cmocka_unit_test(test_random_mutated_invalid),
        cmocka_unit_test(test_long_history_stays_cheap),
        cmocka_unit_test(test_concurrent_gets_stay_cheap),
        cmocka_unit_test(test_long_open_put_stays_cheap),
        cmocka_unit_test(test_agrees_with_brute_force),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
