/*  Membership changes in core/raft: one change at a time through the log,
    learners that catch up before promotion, a leader that removes itself,
    a change undone by truncation, restarts and snapshots that carry the
    membership, and the core's CONFIG entry format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "raft_fixture.h"

static zkv_raft_t *s_raft(fx_t *fx, uint32_t id)
{
    return fx->nodes[id].raft;
}

/*  n voters 1..n leading from 1, and nodes n+1..total started as joiners
    (no membership: they learn it from the leader). */
static void s_cluster_lease(fx_t *fx, uint32_t n, uint32_t total, bool lease)
{
    fx_init(fx, total, n);
    fx->cfg.check_quorum = lease;
    fx->cfg.members.n_learners = 0;
    fx->cfg.max_learner_lag = 0;
    for (uint32_t id = 1; id <= total; id++) {
        fx->nodes[id].own_members = id > n;
        fx_start(fx, id, NULL);
    }
    fx_elect(fx, 1);
    assert_int_equal(fx_status(fx, 1).role, ZKV_RAFT_LEADER);
    fx_run(fx, 1);
}

static void s_cluster(fx_t *fx, uint32_t n, uint32_t total)
{
    s_cluster_lease(fx, n, total, true);
}

static zkv_raft_members_t s_members(const uint32_t *voters, uint32_t nv, const uint32_t *learners,
                                    uint32_t nl)
{
    zkv_raft_members_t m = {.n_voters = nv, .n_learners = nl};
    for (uint32_t i = 0; i < nv; i++)
        m.voters[i] = voters[i];
    for (uint32_t i = 0; i < nl; i++)
        m.learners[i] = learners[i];
    return m;
}

static int s_change(fx_t *fx, uint32_t leader, zkv_raft_members_t m)
{
    uint8_t buf[ZKV_RAFT_MEMBERS_SIZE_MAX];
    size_t n = zkv_raft_members_encode(&m, buf, sizeof buf);
    assert_true(n > 0);
    int rc = zkv_raft_propose_config(s_raft(fx, leader), buf, n, NULL, NULL);
    fx_ready(fx, leader);
    return rc;
}

static size_t s_sent_by(const fx_t *fx, uint32_t from, zkv_raft_msg_type_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->nq; i++)
        n += fx->q[i].m.from == from && fx->q[i].m.type == type;
    return n;
}

/*  Grow 3 -> 4: a joiner added as a learner gets the log without counting;
    once promoted it counts, so the old three alone no longer commit. */
static void test_learner_joins_then_promoted(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3, 4);
    assert_false(fx_status(&fx, 4).voter);
    assert_false(fx_status(&fx, 4).learner);
    fx_propose(&fx, 1, 5);
    fx_deliver_all(&fx);
    uint32_t v3[] = {1, 2, 3}, l4[] = {4}, v4[] = {1, 2, 3, 4};
    assert_int_equal(s_change(&fx, 1, s_members(v3, 3, l4, 1)), ZKV_OK);
    fx_deliver_all(&fx);
    fx_run(&fx, 3);
    assert_true(fx_status(&fx, 4).learner);
    assert_int_equal(fx.nodes[4].sum, 5);
    assert_int_equal(fx_status(&fx, 4).members.n_learners, 1);
    /* A lagging learner is not promoted. */
    fx_isolate(&fx, 4, true);
    fx_propose(&fx, 1, 6);
    fx_deliver_all(&fx);
    assert_int_equal(s_change(&fx, 1, s_members(v4, 4, NULL, 0)), ZKV_ELAGGING);
    fx_isolate(&fx, 4, false);
    fx_run(&fx, 3);
    assert_int_equal(s_change(&fx, 1, s_members(v4, 4, NULL, 0)), ZKV_OK);
    fx_deliver_all(&fx);
    fx_run(&fx, 2);
    assert_true(fx_status(&fx, 4).voter);
    /* Quorum is now 3 of 4: the leader and one follower cannot commit. */
    fx_isolate(&fx, 3, true);
    fx_isolate(&fx, 4, true);
    uint64_t commit = fx_status(&fx, 1).commit;
    fx_propose(&fx, 1, 7);
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 1).commit, commit);
    fx_isolate(&fx, 4, false);
    fx_run(&fx, 2);
    assert_true(fx_status(&fx, 1).commit > commit);
    fx_free(&fx);
}

/*  A second change waits for the first to commit; a change is one member;
    the last voter stays. */
static void test_one_change_at_a_time(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3, 5);
    uint32_t v3[] = {1, 2, 3}, v2[] = {1, 2}, l4[] = {4}, l45[] = {4, 5}, v1[] = {1};
    fx_isolate(&fx, 2, true);
    fx_isolate(&fx, 3, true);
    assert_int_equal(s_change(&fx, 1, s_members(v3, 3, l4, 1)), ZKV_OK);
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 1).config_index, fx_status(&fx, 1).last_index);
    assert_int_equal(s_change(&fx, 1, s_members(v3, 3, l45, 2)), ZKV_EPENDING);
    fx_isolate(&fx, 2, false);
    fx_isolate(&fx, 3, false);
    fx_run(&fx, 3);
    assert_int_equal(fx_status(&fx, 1).commit, fx_status(&fx, 1).config_index);
    assert_int_equal(s_change(&fx, 1, s_members(v3, 3, l45, 2)), ZKV_OK);
    fx_run(&fx, 3);
    assert_int_equal(s_change(&fx, 1, s_members(v2, 2, NULL, 0)), ZKV_EINVAL); /* three at once */
    assert_int_equal(s_change(&fx, 1, s_members(v1, 1, l45, 2)), ZKV_EINVAL);  /* two voters */
    assert_int_equal(s_change(&fx, 1, s_members(NULL, 0, NULL, 0)), ZKV_EINVAL);
    uint8_t junk[3] = {1, 2, 3};
    assert_int_equal(zkv_raft_propose_config(s_raft(&fx, 1), junk, 3, NULL, NULL), ZKV_EINVAL);
    assert_int_equal(s_change(&fx, 2, s_members(v3, 3, l4, 1)), ZKV_ENOTLEADER);
    fx_free(&fx);
}

/*  A new leader proposes no change before it commits an entry of its term. */
static void test_new_leader_waits_for_its_term(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3, 4);
    assert_int_equal(zkv_raft_transfer_leadership(s_raft(&fx, 1), 2), ZKV_OK);
    fx_ready(&fx, 1);
    while (fx_status(&fx, 2).role != ZKV_RAFT_LEADER && fx_deliver_one(&fx))
        ;
    assert_int_equal(fx_status(&fx, 2).role, ZKV_RAFT_LEADER);
    /* Its no-op cannot commit: the acks are lost. */
    fx.drop[1][2] = fx.drop[3][2] = true;
    fx_deliver_all(&fx);
    uint32_t v3[] = {1, 2, 3}, l4[] = {4};
    zkv_raft_members_t m = s_members(v3, 3, l4, 1);
    assert_int_equal(s_change(&fx, 2, m), ZKV_EPENDING);
    fx.drop[1][2] = fx.drop[3][2] = false;
    fx_run(&fx, 2);
    assert_int_equal(s_change(&fx, 2, m), ZKV_OK);
    fx_free(&fx);
}

/*  The leader removes itself: it leads until the change commits, then hands
    over and never campaigns again. */
static void test_leader_removes_itself(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3, 3);
    uint32_t v23[] = {2, 3};
    fx_isolate(&fx, 2, true);
    fx_isolate(&fx, 3, true);
    assert_int_equal(s_change(&fx, 1, s_members(v23, 2, NULL, 0)), ZKV_OK);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    assert_false(fx_status(&fx, 1).voter);
    assert_int_equal(fx_propose(&fx, 1, 8), ZKV_OK); /* still leads */
    fx_clear_queue(&fx);
    fx_isolate(&fx, 2, false);
    fx_isolate(&fx, 3, false);
    fx_run(&fx, 2);
    zkv_raft_status_t s1 = fx_status(&fx, 1);
    assert_int_equal(s1.role, ZKV_RAFT_FOLLOWER);
    assert_true(fx.by_type[ZKV_RAFT_MSG_TIMEOUT_NOW] >= 1);
    fx_run(&fx, 30);
    uint32_t leader = fx_status(&fx, 2).leader;
    assert_true(leader == 2 || leader == 3);
    assert_int_equal(fx_status(&fx, leader).role, ZKV_RAFT_LEADER);
    assert_int_equal(fx.nodes[leader].sum, 8);
    /* Node 1, cut off from the leader for long, stays quiet. */
    fx_isolate(&fx, 1, true);
    fx_clear_queue(&fx);
    fx_tick(&fx, 1, 100);
    fx_ready(&fx, 1);
    assert_int_equal(s_sent_by(&fx, 1, ZKV_RAFT_MSG_PRE_VOTE), 0);
    assert_int_equal(s_sent_by(&fx, 1, ZKV_RAFT_MSG_VOTE), 0);
    assert_int_equal(zkv_raft_campaign(s_raft(&fx, 1)), ZKV_EINVAL);
    fx_free(&fx);
}

/*  A change in a follower's log that a new leader overwrites is undone
    there; a restart rebuilds the membership from the log. */
static void test_truncated_change_undone_and_restart(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster_lease(&fx, 5, 6, false);
    uint32_t v5[] = {1, 2, 3, 4, 5}, l6[] = {6};
    for (uint32_t id = 3; id <= 6; id++)
        fx_isolate(&fx, id, true);
    assert_int_equal(s_change(&fx, 1, s_members(v5, 5, l6, 1)), ZKV_OK);
    fx_deliver_all(&fx);
    uint64_t at = fx_status(&fx, 2).config_index;
    assert_true(at > 0);
    assert_int_equal(fx_status(&fx, 2).members.n_learners, 1);
    /* 1 and 2 cut off; 3 leads 3, 4, 5 and overwrites index at. */
    fx_isolate(&fx, 1, true);
    fx_isolate(&fx, 2, true);
    for (uint32_t id = 3; id <= 5; id++)
        fx_isolate(&fx, id, false);
    fx_isolate(&fx, 6, true);
    for (uint32_t id = 3; id <= 5; id++)
        fx.drop[id][1] = fx.drop[id][2] = true;
    zkv_raft_campaign(s_raft(&fx, 3));
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 3).role, ZKV_RAFT_LEADER);
    fx_propose(&fx, 3, 1);
    fx_deliver_all(&fx);
    fx_isolate(&fx, 2, false);
    fx.drop[2][1] = fx.drop[1][2] = true;
    fx_run(&fx, 3);
    assert_int_equal(fx_status(&fx, 2).leader, 3);
    assert_int_equal(fx_status(&fx, 2).config_index, 0);
    assert_int_equal(fx_status(&fx, 2).members.n_learners, 0);
    /* Node 1 still has the change in its log; it survives a restart. */
    assert_int_equal(fx_status(&fx, 1).config_index, at);
    fx_restart(&fx, 1);
    assert_int_equal(fx_status(&fx, 1).config_index, at);
    assert_int_equal(fx_status(&fx, 1).members.learners[0], 6);
    fx_free(&fx);
}

/*  A snapshot carries the membership as of its index to a joiner. */
static void test_snapshot_carries_membership(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3, 4);
    uint32_t v3[] = {1, 2, 3}, l4[] = {4};
    fx_isolate(&fx, 4, true);
    assert_int_equal(s_change(&fx, 1, s_members(v3, 3, l4, 1)), ZKV_OK);
    fx_propose(&fx, 1, 3);
    fx_deliver_all(&fx);
    fx_run(&fx, 2);
    fx_snapshot(&fx, 1, 64);
    assert_int_equal(fx.nodes[1].snap_members.n_learners, 1);
    fx_isolate(&fx, 4, false);
    fx_run(&fx, 10);
    zkv_raft_status_t s4 = fx_status(&fx, 4);
    assert_true(s4.learner);
    assert_int_equal(s4.snapshot_index, fx.nodes[1].snap_index);
    assert_int_equal(fx.nodes[4].sum, 3);
    fx_restart(&fx, 4);
    assert_true(fx_status(&fx, 4).learner);
    fx_free(&fx);
}

static void test_members_codec(void **state)
{
    (void) state;
    uint32_t v[] = {1, 2, 3}, l[] = {7};
    zkv_raft_members_t m = s_members(v, 3, l, 1), out;
    uint8_t buf[ZKV_RAFT_MEMBERS_SIZE_MAX];
    size_t n = zkv_raft_members_encode(&m, buf, sizeof buf);
    assert_int_equal(n, 8 + 4 * 4);
    assert_int_equal(zkv_raft_members_decode(NULL, buf, n, &out), ZKV_OK);
    assert_memory_equal(&m, &out, sizeof m);
    assert_int_equal(zkv_raft_members_decode(NULL, buf, n - 1, &out), ZKV_EINVAL);
    assert_int_equal(zkv_raft_members_encode(&m, buf, 10), 0);
    buf[8] = 0; /* voter id 0 */
    buf[9] = buf[10] = buf[11] = 0;
    assert_int_equal(zkv_raft_members_decode(NULL, buf, n, &out), ZKV_EINVAL);
    n = zkv_raft_members_encode(&(zkv_raft_members_t){.voters = {1, 1}, .n_voters = 2}, buf,
                                sizeof buf);
    assert_int_equal(zkv_raft_members_decode(NULL, buf, n, &out), ZKV_EINVAL);
}

/*  A CONFIG entry from a peer that does not decode is a malformed message. */
static void test_bad_config_entry_rejected(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3, 3);
    uint8_t junk[5] = {9, 9, 9, 9, 9};
    zkv_raft_status_t s = fx_status(&fx, 2);
    zkv_raft_entry_t e = {s.term, s.last_index + 1, ZKV_RAFT_ENTRY_CONFIG, 5, junk};
    uint64_t prev_term = 0;
    zkv_raft_term_at(s_raft(&fx, 2), s.last_index, &prev_term);
    zkv_raft_msg_t m = {.type = ZKV_RAFT_MSG_APPEND,
                        .from = 1,
                        .to = 2,
                        .term = s.term,
                        .index = s.last_index,
                        .log_term = prev_term,
                        .entries = &e,
                        .n_entries = 1};
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &m), ZKV_EINVAL);
    assert_int_equal(fx_status(&fx, 2).last_index, s.last_index);
    fx_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learner_joins_then_promoted),
        cmocka_unit_test(test_one_change_at_a_time),
        cmocka_unit_test(test_new_leader_waits_for_its_term),
        cmocka_unit_test(test_leader_removes_itself),
        cmocka_unit_test(test_truncated_change_undone_and_restart),
        cmocka_unit_test(test_snapshot_carries_membership),
        cmocka_unit_test(test_members_codec),
        cmocka_unit_test(test_bad_config_entry_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
