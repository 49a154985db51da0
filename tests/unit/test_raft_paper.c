/*  core/raft against the rules of the Raft paper (Ongaro and Ousterhout,
    "In Search of an Understandable Consensus Algorithm") and thesis; each
    test is named after the rule it checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "raft_fixture.h"

static void s_paper_config(fx_t *fx)
{
    fx->cfg.pre_vote = false;
    fx->cfg.check_quorum = false;
}

static zkv_raft_t *s_raft(fx_t *fx, uint32_t id)
{
    return fx->nodes[id].raft;
}

static void s_step(fx_t *fx, uint32_t to, zkv_raft_msg_t m)
{
    m.to = to;
    assert_int_equal(zkv_raft_step(s_raft(fx, to), &m), ZKV_OK);
    fx_ready(fx, to);
}

/*  §5.2: a node that times out becomes a candidate, wins with a majority of
    votes and then appends a no-op of its term (§8). */
static void test_election_majority_wins_and_appends_noop(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx_start_all(&fx);
    fx_tick(&fx, 1, 25); /* past any randomized timeout in [10, 20) */
    fx_deliver_all(&fx);
    zkv_raft_status_t s = fx_status(&fx, 1);
    assert_int_equal(s.role, ZKV_RAFT_LEADER);
    assert_int_equal(s.term, 1);
    assert_int_equal(s.last_index, 1);
    zkv_raft_entry_t e;
    assert_int_equal(zkv_raft_entry_at(s_raft(&fx, 1), 1, &e), ZKV_OK);
    assert_int_equal(e.type, ZKV_RAFT_ENTRY_NOOP);
    assert_int_equal(e.term, 1);
    assert_int_equal(s.commit, 1);
    assert_int_equal(fx_status(&fx, 2).leader, 1);
    assert_int_equal(fx_status(&fx, 3).leader, 1);
    fx_free(&fx);
}

/*  §5.4.1: a voter denies its vote to a candidate whose log is less up to
    date (older last term, or same last term and shorter). */
static void test_vote_rejected_for_stale_log(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    s_paper_config(&fx);
    const uint64_t terms[] = {1, 1, 2};
    fx_start_log(&fx, 1, terms, 3, 2);

    zkv_raft_msg_t v = {.type = ZKV_RAFT_MSG_VOTE, .from = 2, .term = 3, .index = 5, .log_term = 1};
    s_step(&fx, 1, v); /* longer log, older last term */
    const zkv_raft_msg_t *r = fx_find(&fx, ZKV_RAFT_MSG_VOTE_RESPONSE, 2);
    assert_non_null(r);
    assert_true(r->reject);
    fx_clear_queue(&fx);

    v.index = 2;
    v.log_term = 2;
    s_step(&fx, 1, v); /* same last term, shorter */
    r = fx_find(&fx, ZKV_RAFT_MSG_VOTE_RESPONSE, 2);
    assert_non_null(r);
    assert_true(r->reject);
    assert_int_equal(fx.nodes[1].hs.vote, ZKV_RAFT_NONE);
    fx_clear_queue(&fx);

    v.from = 3;
    v.index = 3;
    s_step(&fx, 1, v); /* as up to date */
    r = fx_find(&fx, ZKV_RAFT_MSG_VOTE_RESPONSE, 3);
    assert_non_null(r);
    assert_false(r->reject);
    assert_int_equal(r->term, 3);
    assert_int_equal(fx.nodes[1].hs.vote, 3); /* durable before the grant left */
    assert_int_equal(fx.nodes[1].hs.term, 3);
    fx_free(&fx);
}

/*  §5.2: at most one vote per term, first come first served. */
static void test_one_vote_per_term(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    s_paper_config(&fx);
    fx_start_all(&fx);
    zkv_raft_msg_t v = {.type = ZKV_RAFT_MSG_VOTE, .from = 2, .term = 1};
    s_step(&fx, 1, v);
    v.from = 3;
    s_step(&fx, 1, v);
    const zkv_raft_msg_t *r2 = fx_find(&fx, ZKV_RAFT_MSG_VOTE_RESPONSE, 2);
    const zkv_raft_msg_t *r3 = fx_find(&fx, ZKV_RAFT_MSG_VOTE_RESPONSE, 3);
    assert_non_null(r2);
    assert_non_null(r3);
    assert_false(r2->reject);
    assert_true(r3->reject);
    fx_free(&fx);
}

/*  §5.3 Figure 7: whatever the follower's log (a)-(f), the new leader of
    term 8 makes it equal to its own: missing entries filled, extra and
    conflicting ones cut. Backtracking jumps by term: at most one rejection. */
static void s_figure7(const uint64_t *fterms, size_t fn)
{
    static const uint64_t lead[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
    fx_t fx;
    fx_init(&fx, 3, 3);
    s_paper_config(&fx);
    fx_start_log(&fx, 1, lead, 10, 7);
    fx_start_log(&fx, 2, fterms, fn, 7);
    /* Node 3 stays down; a vote from it is enough to win. */
    zkv_raft_campaign(s_raft(&fx, 1));
    fx_ready(&fx, 1);
    zkv_raft_msg_t v = {.type = ZKV_RAFT_MSG_VOTE_RESPONSE, .from = 3, .term = 8};
    s_step(&fx, 1, v);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    fx_deliver_all(&fx);
    fx_tick(&fx, 1, 1); /* a heartbeat carries the commit index */
    fx_deliver_all(&fx);

    uint64_t t1[32], t2[32];
    uint64_t last1 = fx_terms(&fx, 1, t1, 32);
    uint64_t last2 = fx_terms(&fx, 2, t2, 32);
    assert_int_equal(last1, 11);
    assert_int_equal(last2, 11);
    assert_memory_equal(t1, t2, 11 * sizeof *t1);
    assert_int_equal(t1[10], 8);
    assert_int_equal(fx_status(&fx, 1).commit, 11);
    assert_int_equal(fx_status(&fx, 2).commit, 11);
    assert_true(fx.rejects <= 1);
    fx_free(&fx);
}

static void test_figure7_leader_repairs_follower_logs(void **state)
{
    (void) state;
    static const uint64_t a[] = {1, 1, 1, 4, 4, 5, 5, 6, 6};
    static const uint64_t b[] = {1, 1, 1, 4};
    static const uint64_t c[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6};
    static const uint64_t d[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7};
    static const uint64_t e[] = {1, 1, 1, 4, 4, 4, 4};
    static const uint64_t f[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
    s_figure7(a, 9);
    s_figure7(b, 4);
    s_figure7(c, 11);
    s_figure7(d, 12);
    s_figure7(e, 7);
    s_figure7(f, 11);
}

/*  The Figure 8 cluster at (b): S1 and S2 hold index 2 of term 2, S5 holds
    index 2 of term 3, S3 and S4 only index 1. */
static void s_figure8_cluster(fx_t *fx)
{
    static const uint64_t l12[] = {1, 2}, l34[] = {1}, l5[] = {1, 3};
    fx_init(fx, 5, 5);
    s_paper_config(fx);
    fx_start_log(fx, 1, l12, 2, 3);
    fx_start_log(fx, 2, l12, 2, 3);
    fx_start_log(fx, 3, l34, 1, 3);
    fx_start_log(fx, 4, l34, 1, 3);
    fx_start_log(fx, 5, l5, 2, 4);
}

/*  §5.4.2 Figure 8 (c)-(d): S1, leader of term 4, sees its term-2 entry at
    index 2 on a majority (S1, S2, S3) but must not count it committed: S5
    can still win term 5 (its last term 3 beats theirs) and overwrite it. */
static void test_figure8_old_term_entry_not_committed_by_counting(void **state)
{
    (void) state;
    fx_t fx;
    s_figure8_cluster(&fx);
    zkv_raft_campaign(s_raft(&fx, 1));
    fx_ready(&fx, 1);
    fx_clear_queue(&fx);
    zkv_raft_msg_t v = {.type = ZKV_RAFT_MSG_VOTE_RESPONSE, .term = 4};
    v.from = 2;
    s_step(&fx, 1, v);
    v.from = 3;
    s_step(&fx, 1, v);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    assert_int_equal(fx_status(&fx, 1).term, 4);
    fx_clear_queue(&fx); /* its no-op of term 4 reaches nobody */
    zkv_raft_msg_t ack = {.type = ZKV_RAFT_MSG_APPEND_RESPONSE, .term = 4, .index = 2};
    ack.from = 2;
    s_step(&fx, 1, ack);
    ack.from = 3;
    s_step(&fx, 1, ack);
    assert_true(fx_status(&fx, 1).commit < 2);
    assert_int_equal(fx.nodes[1].applied, 0);

    /* (d): S1 crashes; S5 is elected and replaces index 2 everywhere. */
    fx_stop(&fx, 1);
    fx_clear_queue(&fx);
    fx_elect(&fx, 5);
    assert_int_equal(fx_status(&fx, 5).role, ZKV_RAFT_LEADER);
    uint64_t t;
    for (uint32_t id = 2; id <= 4; id++) {
        assert_int_equal(zkv_raft_term_at(s_raft(&fx, id), 2, &t), ZKV_OK);
        assert_int_equal(t, 3);
    }
    fx_free(&fx);
}

/*  §5.4.2 Figure 8 (e): once an entry of the leader's own term is on a
    majority, it and every entry before it (index 2 of term 2) commit. */
static void test_figure8_current_term_entry_commits_older_ones(void **state)
{
    (void) state;
    fx_t fx;
    s_figure8_cluster(&fx);
    for (uint32_t id = 4; id <= 5; id++)
        fx.drop[1][id] = fx.drop[id][1] = true;
    zkv_raft_campaign(s_raft(&fx, 1));
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    assert_int_equal(fx_status(&fx, 1).commit, 3);
    assert_int_equal(fx.nodes[1].applied, 3);
    assert_int_equal(fx.nodes[1].applied_values[2], 2);
    uint64_t t;
    assert_int_equal(zkv_raft_term_at(s_raft(&fx, 3), 2, &t), ZKV_OK);
    assert_int_equal(t, 2);
    fx_free(&fx);
}

/*  §5.3: a follower rejects an append whose previous entry it lacks (a gap)
    and says where its log ends; it never takes entries past the gap. */
static void test_append_with_gap_rejected_with_hint(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    s_paper_config(&fx);
    const uint64_t terms[] = {1, 1, 1};
    fx_start_log(&fx, 2, terms, 3, 1);
    uint64_t val = 42;
    zkv_raft_entry_t e = {1, 7, ZKV_RAFT_ENTRY_NORMAL, sizeof val, (const uint8_t *) &val};
    zkv_raft_msg_t m = {
        .type = ZKV_RAFT_MSG_APPEND,
        .from = 1,
        .to = ZKV_RAFT_BROADCAST,
        .term = 1,
        .index = 6,
        .log_term = 1,
        .entries = &e,
        .n_entries = 1,
        .commit = 7,
    };
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &m), ZKV_OK);
    fx_ready(&fx, 2);
    const zkv_raft_msg_t *r = fx_find(&fx, ZKV_RAFT_MSG_APPEND_RESPONSE, 1);
    assert_non_null(r);
    assert_true(r->reject);
    assert_int_equal(r->index, 6);
    assert_int_equal(r->reject_hint, 3);
    assert_int_equal(r->hint_term, 1);
    zkv_raft_status_t s = fx_status(&fx, 2);
    assert_int_equal(s.last_index, 3);
    assert_int_equal(s.commit, 0);
    assert_int_equal(fx.nodes[2].applied, 0);
    fx_free(&fx);
}

/*  §5.3: a conflicting suffix is cut and replaced; a matching prefix stays. */
static void test_conflicting_suffix_truncated(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    s_paper_config(&fx);
    const uint64_t terms[] = {1, 1, 2, 2, 2};
    fx_start_log(&fx, 2, terms, 5, 2);
    uint64_t vals[2] = {100, 101};
    zkv_raft_entry_t e[2] = {
        {3, 3, ZKV_RAFT_ENTRY_NORMAL, 8, (const uint8_t *) &vals[0]},
        {3, 4, ZKV_RAFT_ENTRY_NORMAL, 8, (const uint8_t *) &vals[1]},
    };
    zkv_raft_msg_t m = {.type = ZKV_RAFT_MSG_APPEND,
                        .from = 1,
                        .to = 2,
                        .term = 3,
                        .index = 2,
                        .log_term = 1,
                        .entries = e,
                        .n_entries = 2,
                        .commit = 4};
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &m), ZKV_OK);
    fx_ready(&fx, 2);
    uint64_t t[8];
    assert_int_equal(fx_terms(&fx, 2, t, 8), 4);
    assert_int_equal(t[1], 1);
    assert_int_equal(t[2], 3);
    assert_int_equal(t[3], 3);
    assert_int_equal(fx.nodes[2].n_disk, 4); /* the durable log was cut too */
    assert_int_equal(fx.nodes[2].applied, 4);
    assert_int_equal(fx.nodes[2].applied_values[3], 100);
    const zkv_raft_msg_t *r = fx_find(&fx, ZKV_RAFT_MSG_APPEND_RESPONSE, 1);
    assert_non_null(r);
    assert_false(r->reject);
    assert_int_equal(r->index, 4);
    fx_free(&fx);
}

/*  §9.6: a node cut off from the cluster keeps asking for pre-votes, never
    raising its term; healed, it rejoins without deposing the leader. */
static void test_prevote_does_not_bump_terms(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    uint64_t term = fx_status(&fx, 1).term;
    fx_isolate(&fx, 3, true);
    fx_run(&fx, 100);
    assert_int_equal(fx_status(&fx, 3).term, term);
    assert_int_not_equal(fx_status(&fx, 3).role, ZKV_RAFT_LEADER);
    fx_isolate(&fx, 3, false);
    fx_run(&fx, 5);
    for (uint32_t id = 1; id <= 3; id++) {
        assert_int_equal(fx_status(&fx, id).term, term);
        assert_int_equal(fx_status(&fx, id).leader, 1);
    }
    fx_free(&fx);
}

/*  Without pre-vote the same partition raises the isolated node's term and,
    healed, it deposes the healthy leader: what §9.6 prevents. */
static void test_without_prevote_isolated_node_disrupts(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.pre_vote = false;
    fx.cfg.check_quorum = false;
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    uint64_t term = fx_status(&fx, 1).term;
    fx_isolate(&fx, 3, true);
    fx_run(&fx, 100);
    assert_true(fx_status(&fx, 3).term > term);
    fx_isolate(&fx, 3, false);
    fx_run(&fx, 40);
    assert_true(fx_status(&fx, 1).term > term);
    fx_free(&fx);
}

/*  §6.2 check-quorum: a leader that hears from no quorum for an election
    timeout steps down. */
static void test_check_quorum_leader_steps_down(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    uint64_t term = fx_status(&fx, 1).term;
    fx_isolate(&fx, 1, true);
    fx_tick(&fx, 1, (int) fx.cfg.election_ticks * 2);
    zkv_raft_status_t s = fx_status(&fx, 1);
    assert_int_equal(s.role, ZKV_RAFT_FOLLOWER);
    assert_int_equal(s.term, term); /* steps down without raising its term */
    assert_int_equal(s.leader, ZKV_RAFT_NONE);
    fx_free(&fx);
}

/*  §6.2 leader lease: a follower that heard from its leader within the
    election timeout ignores a vote request of a higher term entirely. */
static void test_check_quorum_lease_ignores_votes(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.pre_vote = false;
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    uint64_t term = fx_status(&fx, 2).term;
    zkv_raft_msg_t v = {
        .type = ZKV_RAFT_MSG_VOTE, .from = 3, .term = term + 1, .index = 99, .log_term = term};
    s_step(&fx, 2, v);
    assert_int_equal(fx_status(&fx, 2).term, term);
    assert_null(fx_find(&fx, ZKV_RAFT_MSG_VOTE_RESPONSE, 3));
    v.force = true; /* a leadership transfer overrides the lease */
    s_step(&fx, 2, v);
    assert_int_equal(fx_status(&fx, 2).term, term + 1);
    assert_non_null(fx_find(&fx, ZKV_RAFT_MSG_VOTE_RESPONSE, 3));
    fx_free(&fx);
}

/*  §7: a follower behind the leader's compaction point receives the
    snapshot in chunks, installs it and continues from the log after it; a
    restart comes back from its snapshot plus log. */
static void test_snapshot_install(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.snapshot_chunk_size = 8;
    fx.cfg.max_inflight = 2;
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    fx_stop(&fx, 3);
    for (uint64_t v = 1; v <= 10; v++)
        assert_int_equal(fx_propose(&fx, 1, v), ZKV_OK);
    fx_deliver_all(&fx);
    assert_int_equal(fx.nodes[1].applied, 11);
    fx_snapshot(&fx, 1, 36);
    assert_int_equal(fx_status(&fx, 1).first_index, 12);
    assert_int_equal(fx_propose(&fx, 1, 1000), ZKV_OK);
    fx_deliver_all(&fx);

    fx_restart(&fx, 3);
    fx_run(&fx, 30);
    fx_node_t *n3 = &fx.nodes[3];
    assert_true(fx.by_type[ZKV_RAFT_MSG_SNAPSHOT] >= 5); /* 36 bytes in chunks of 8 */
    assert_int_equal(n3->snap_index, 11);
    assert_int_equal(n3->snap_size, 36);
    assert_memory_equal(n3->snap_img, fx.nodes[1].snap_img, 36);
    assert_int_equal(n3->applied, fx.nodes[1].applied);
    assert_int_equal(n3->sum, 55 + 1000);
    assert_int_equal(fx_status(&fx, 3).first_index, 12);

    fx_restart(&fx, 3);
    assert_int_equal(fx_status(&fx, 3).snapshot_index, 11);
    fx_run(&fx, 3);
    assert_int_equal(n3->sum, 55 + 1000);
    assert_int_equal(n3->applied, fx.nodes[1].applied);
    fx_free(&fx);
}

/*  §7: a follower that already holds the snapshot's last entry does not
    take the snapshot; the leader goes back to appends. */
static void test_snapshot_not_needed_when_entry_held(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    s_paper_config(&fx);
    const uint64_t terms[] = {1, 1, 1, 1};
    fx_start_log(&fx, 2, terms, 4, 1);
    zkv_raft_msg_t m = {.type = ZKV_RAFT_MSG_SNAPSHOT,
                        .from = 1,
                        .term = 1,
                        .snapshot = {.index = 3, .term = 1, .size = 4},
                        .chunk_size = 4,
                        .chunk = (const uint8_t *) "abcd",
                        .chunk_last = true};
    s_step(&fx, 2, m);
    const zkv_raft_msg_t *r = fx_find(&fx, ZKV_RAFT_MSG_SNAPSHOT_RESPONSE, 1);
    assert_non_null(r);
    assert_true(r->chunk_last);
    assert_true(r->reject);
    zkv_raft_status_t s = fx_status(&fx, 2);
    assert_int_equal(s.last_index, 4);
    assert_int_equal(s.snapshot_index, 0);
    assert_int_equal(s.commit, 3);
    fx_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_election_majority_wins_and_appends_noop),
        cmocka_unit_test(test_vote_rejected_for_stale_log),
        cmocka_unit_test(test_one_vote_per_term),
        cmocka_unit_test(test_figure7_leader_repairs_follower_logs),
        cmocka_unit_test(test_figure8_old_term_entry_not_committed_by_counting),
        cmocka_unit_test(test_figure8_current_term_entry_commits_older_ones),
        cmocka_unit_test(test_append_with_gap_rejected_with_hint),
        cmocka_unit_test(test_conflicting_suffix_truncated),
        cmocka_unit_test(test_prevote_does_not_bump_terms),
        cmocka_unit_test(test_without_prevote_isolated_node_disrupts),
        cmocka_unit_test(test_check_quorum_leader_steps_down),
        cmocka_unit_test(test_check_quorum_lease_ignores_votes),
        cmocka_unit_test(test_snapshot_install),
        cmocka_unit_test(test_snapshot_not_needed_when_entry_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
