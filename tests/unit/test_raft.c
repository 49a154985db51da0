/*  core/raft: the host contract (durability before messages, Ready), the
    PUB/SUB shape of replication (broadcast vs catch-up), pipelining,
    ReadIndex, leadership transfer, learners, restart and input validation.
    The paper's own cases are in test_raft_paper.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "raft_fixture.h"

static zkv_raft_t *s_raft(fx_t *fx, uint32_t id)
{
    return fx->nodes[id].raft;
}

/*  A settled cluster of n voters with node 1 leading. */
static void s_cluster(fx_t *fx, uint32_t n)
{
    fx_init(fx, n, n);
    fx_start_all(fx);
    fx_elect(fx, 1);
    assert_int_equal(fx_status(fx, 1).role, ZKV_RAFT_LEADER);
}

static size_t s_acks_from(const fx_t *fx, uint32_t from, uint64_t min_index)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->nq; i++) {
        const zkv_raft_msg_t *m = &fx->q[i].m;
        n += m->type == ZKV_RAFT_MSG_APPEND_RESPONSE && m->from == from && !m->reject &&
             m->index >= min_index;
    }
    return n;
}

/* ---------------------------------------------------------------- durability */

/*  A follower acknowledges entries only after the host reported them
    durable, never when they are merely handed out for writing. */
static void test_follower_acks_only_durable_entries(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx.nodes[2].manual_persist = true;
    assert_int_equal(fx_propose(&fx, 1, 7), ZKV_OK);
    uint64_t index = fx_status(&fx, 1).last_index;
    fx.drop[1][3] = true;
    fx_deliver_one(&fx); /* the append reaches node 2 */
    fx_deliver_one(&fx);
    assert_int_equal(fx_status(&fx, 2).last_index, index);
    assert_int_equal(s_acks_from(&fx, 2, index), 0);
    assert_true(fx_status(&fx, 1).commit < index);

    assert_int_equal(zkv_raft_persisted(s_raft(&fx, 2), fx.nodes[2].last_ready), ZKV_OK);
    fx_ready(&fx, 2);
    assert_int_equal(s_acks_from(&fx, 2, index), 1);
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 1).commit, index);
    fx_free(&fx);
}

/*  With writer_acks a follower's acknowledgement comes with the write of
    its entries, for the writer to send once they are durable; the core
    does not send it again after zkv_raft_persisted, and one the writer
    lost is sent again when the leader's heartbeat finds the follower
    behind. */
static void test_writer_acks_leave_with_the_write(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.writer_acks = true;
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    fx_node_t *f = &fx.nodes[2];
    f->manual_persist = true;
    fx.drop[1][3] = true;
    fx.drop[3][1] = true;
    assert_int_equal(fx_propose(&fx, 1, 7), ZKV_OK);
    uint64_t index = fx_status(&fx, 1).last_index;
    fx_deliver_all(&fx);
    assert_true(f->has_ack);
    assert_int_equal(f->ack.type, ZKV_RAFT_MSG_APPEND_RESPONSE);
    assert_int_equal(f->ack.to, 1);
    assert_int_equal(f->ack.index, index);
    assert_int_equal(s_acks_from(&fx, 2, index), 0);

    assert_int_equal(zkv_raft_persisted(s_raft(&fx, 2), f->last_ready), ZKV_OK);
    fx_ready(&fx, 2);
    assert_int_equal(s_acks_from(&fx, 2, index), 0); /* the writer's to send */
    fx_send(&fx, 2, &f->ack);
    f->has_ack = false;
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 1).commit, index);

    /* The next one is lost on its way: the leader's heartbeat repairs it. */
    assert_int_equal(fx_propose(&fx, 1, 8), ZKV_OK);
    index = fx_status(&fx, 1).last_index;
    fx_deliver_all(&fx);
    assert_true(f->has_ack && f->ack.index == index);
    f->has_ack = false;
    assert_int_equal(zkv_raft_persisted(s_raft(&fx, 2), f->last_ready), ZKV_OK);
    fx_ready(&fx, 2);
    assert_true(fx_status(&fx, 1).commit < index);
    fx_run(&fx, 3);
    assert_int_equal(fx_status(&fx, 1).commit, index);
    fx_free(&fx);
}

/*  A vote grant leaves only once the vote is durable. */
static void test_vote_grant_held_until_durable(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.pre_vote = false;
    fx_start_all(&fx);
    fx.nodes[2].manual_persist = true;
    zkv_raft_msg_t v = {.type = ZKV_RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 1};
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &v), ZKV_OK);
    zkv_raft_ready_t rd;
    assert_int_equal(zkv_raft_ready(s_raft(&fx, 2), &rd), ZKV_OK);
    assert_true(rd.must_persist);
    assert_true(rd.hard_state_changed);
    assert_int_equal(rd.hard_state.vote, 1);
    assert_int_equal(rd.n_messages, 0);
    zkv_raft_advance(s_raft(&fx, 2), &rd);
    assert_false(zkv_raft_has_ready(s_raft(&fx, 2)));
    assert_int_equal(zkv_raft_persisted(s_raft(&fx, 2), rd.id), ZKV_OK);
    assert_int_equal(zkv_raft_ready(s_raft(&fx, 2), &rd), ZKV_OK);
    assert_int_equal(rd.n_messages, 1);
    assert_int_equal(rd.messages[0].type, ZKV_RAFT_MSG_VOTE_RESPONSE);
    assert_false(rd.messages[0].reject);
    assert_false(rd.must_persist);
    zkv_raft_advance(s_raft(&fx, 2), &rd);
    assert_int_equal(zkv_raft_persisted(s_raft(&fx, 2), rd.id + 5), ZKV_EINVAL);
    fx_free(&fx);
}

/*  A candidate's own vote counts once durable: a single voter becomes
    leader only after its term and vote were persisted. */
static void test_single_voter_leads_after_durable_vote(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 1, 1);
    fx_start_all(&fx);
    fx.nodes[1].manual_persist = true;
    assert_int_equal(zkv_raft_campaign(s_raft(&fx, 1)), ZKV_OK);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_CANDIDATE);
    fx_ready(&fx, 1);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_CANDIDATE);
    zkv_raft_persisted(s_raft(&fx, 1), fx.nodes[1].last_ready);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    fx_free(&fx);
}

/*  The leader counts itself toward a commit only up to its durable index. */
static void test_leader_counts_only_its_durable_entries(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx_stop(&fx, 3);
    fx.nodes[1].manual_persist = true;
    assert_int_equal(fx_propose(&fx, 1, 5), ZKV_OK);
    uint64_t index = fx_status(&fx, 1).last_index;
    fx_deliver_all(&fx); /* node 2 acks; the leader's own write is pending */
    assert_true(fx_status(&fx, 1).commit < index);
    zkv_raft_persisted(s_raft(&fx, 1), fx.nodes[1].last_ready);
    assert_int_equal(fx_status(&fx, 1).commit, index);
    fx_free(&fx);
}

/* ---------------------------------------------------------------- replication */

/*  New entries reach every in-sync follower as one broadcast append. */
static void test_in_sync_followers_get_one_broadcast(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 5);
    size_t b = fx.bcast_sent[ZKV_RAFT_MSG_APPEND], p = fx.p2p_sent[ZKV_RAFT_MSG_APPEND];
    assert_int_equal(fx_propose(&fx, 1, 1), ZKV_OK);
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_APPEND], b + 1);
    assert_int_equal(fx.p2p_sent[ZKV_RAFT_MSG_APPEND], p);
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 1).commit, 2);
    fx_free(&fx);
}

/*  A follower that missed a broadcast rejects the next one (a gap), drops
    to probing and is caught up point to point while the others stay on
    broadcasts. */
static void test_follower_behind_caught_up_point_to_point(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx.drop[1][3] = true;
    assert_int_equal(fx_propose(&fx, 1, 10), ZKV_OK);
    fx_deliver_all(&fx);
    fx.drop[1][3] = false;
    size_t p = fx.p2p_sent[ZKV_RAFT_MSG_APPEND];
    assert_int_equal(fx_propose(&fx, 1, 11), ZKV_OK);
    fx_deliver_all(&fx);
    zkv_raft_progress_t pr;
    assert_int_equal(zkv_raft_progress(s_raft(&fx, 1), 3, &pr), ZKV_OK);
    assert_int_equal(pr.state, ZKV_RAFT_REPLICATE);
    assert_int_equal(pr.match, 3);
    assert_true(fx.p2p_sent[ZKV_RAFT_MSG_APPEND] > p);
    assert_true(fx.rejects >= 1);
    assert_int_equal(fx_status(&fx, 3).last_index, 3);
    size_t b = fx.bcast_sent[ZKV_RAFT_MSG_APPEND];
    assert_int_equal(fx_propose(&fx, 1, 12), ZKV_OK);
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_APPEND], b + 1); /* back in sync */
    fx_free(&fx);
}

/*  Without broadcast every follower gets its own append. */
static void test_broadcast_off_sends_per_follower(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.broadcast = false;
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    size_t p = fx.p2p_sent[ZKV_RAFT_MSG_APPEND];
    assert_int_equal(fx_propose(&fx, 1, 1), ZKV_OK);
    assert_int_equal(fx.p2p_sent[ZKV_RAFT_MSG_APPEND], p + 2);
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_APPEND], 0);
    fx_run(&fx, 1);
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_HEARTBEAT], 0);
    assert_int_equal(fx_status(&fx, 3).commit, 2);
    fx_free(&fx);
}

/*  A replicating follower gets up to max_inflight appends before any ack. */
static void test_pipelined_appends_up_to_window(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.max_inflight = 4;
    fx.cfg.max_msg_entries = 1;
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    size_t b = fx.bcast_sent[ZKV_RAFT_MSG_APPEND];
    for (uint64_t v = 1; v <= 10; v++)
        assert_int_equal(fx_propose(&fx, 1, v), ZKV_OK);
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_APPEND], b + 4);
    zkv_raft_progress_t pr;
    assert_int_equal(zkv_raft_progress(s_raft(&fx, 1), 2, &pr), ZKV_OK);
    assert_int_equal(pr.inflight, 4);
    assert_int_equal(pr.next, 6);
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 1).commit, 11);
    assert_int_equal(fx_status(&fx, 2).last_index, 11);
    fx_free(&fx);
}

/*  Many proposals in one call become consecutive entries in few messages. */
static void test_batch_proposal_many_entries_per_message(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    uint64_t vals[100];
    zkv_raft_buf_t bufs[100];
    for (int i = 0; i < 100; i++) {
        vals[i] = (uint64_t) i + 1;
        bufs[i] = (zkv_raft_buf_t){&vals[i], sizeof vals[i]};
    }
    uint64_t first = 0, term = 0;
    size_t b = fx.bcast_sent[ZKV_RAFT_MSG_APPEND];
    assert_int_equal(zkv_raft_propose(s_raft(&fx, 1), bufs, 100, &first, &term), ZKV_OK);
    assert_int_equal(first, 2);
    assert_int_equal(term, fx_status(&fx, 1).term);
    fx_ready(&fx, 1);
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_APPEND], b + 1);
    fx_deliver_all(&fx);
    assert_int_equal(fx.nodes[1].applied, 101);
    fx_run(&fx, 1); /* the commit index reaches followers with the next heartbeat */
    assert_int_equal(fx.nodes[3].applied, 101);
    assert_int_equal(fx.nodes[3].sum, 5050);
    fx_free(&fx);
}

/*  A broadcast heartbeat carries one commit index; a follower commits only
    what it verified against this leader in this term. */
static void test_heartbeat_commit_capped_by_verified(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    const uint64_t terms[] = {1, 1, 1};
    fx_start_log(&fx, 2, terms, 3, 1);
    zkv_raft_msg_t hb = {.type = ZKV_RAFT_MSG_HEARTBEAT,
                         .from = 1,
                         .to = ZKV_RAFT_BROADCAST,
                         .term = 2,
                         .commit = 3};
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &hb), ZKV_OK);
    fx_ready(&fx, 2);
    assert_int_equal(fx_status(&fx, 2).commit, 0);
    const zkv_raft_msg_t *r = fx_find(&fx, ZKV_RAFT_MSG_HEARTBEAT_RESPONSE, 1);
    assert_non_null(r);
    assert_int_equal(r->commit, 0);
    zkv_raft_msg_t ap = {.type = ZKV_RAFT_MSG_APPEND,
                         .from = 1,
                         .to = 2,
                         .term = 2,
                         .index = 2,
                         .log_term = 1,
                         .commit = 3};
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &ap), ZKV_OK);
    assert_int_equal(fx_status(&fx, 2).commit, 2); /* verified up to 2 only */
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &hb), ZKV_OK);
    assert_int_equal(fx_status(&fx, 2).commit, 2);
    ap.index = 3;
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &ap), ZKV_OK);
    assert_int_equal(fx_status(&fx, 2).commit, 3);
    fx_free(&fx);
}

static int s_step_sized_append(fx_t *fx, uint32_t id, const uint8_t *data, size_t size)
{
    zkv_raft_entry_t e = {
        .term = 2, .index = 4, .type = ZKV_RAFT_ENTRY_NORMAL, .size = size, .data = data};
    zkv_raft_msg_t ap = {.type = ZKV_RAFT_MSG_APPEND,
                         .from = 1,
                         .to = id,
                         .term = 2,
                         .index = 3,
                         .log_term = 1,
                         .entries = &e,
                         .n_entries = 1};
    return zkv_raft_step(s_raft(fx, id), &ap);
}

/*  One entry-size limit (zkv_limits.h) for the core and the WAL: an entry from a
    peer one byte over it is refused whole, with nothing to persist and the
    log unchanged; one at the limit is taken and handed to the host to write. */
static void test_peer_entry_size_limit(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    const uint64_t terms[] = {1, 1, 1};
    fx_start_log(&fx, 2, terms, 3, 1);
    fx_ready(&fx, 2);
    uint8_t *data = calloc(1, ZKV_ENTRY_SIZE_MAX + 1);
    assert_non_null(data);
    zkv_raft_t *raft = s_raft(&fx, 2);

    assert_int_equal(s_step_sized_append(&fx, 2, data, ZKV_ENTRY_SIZE_MAX + 1), ZKV_EINVAL);
    assert_false(zkv_raft_has_ready(raft));
    assert_int_equal(fx_status(&fx, 2).last_index, 3);
    assert_int_equal(fx_status(&fx, 2).term, 1);

    assert_int_equal(s_step_sized_append(&fx, 2, data, ZKV_ENTRY_SIZE_MAX), ZKV_OK);
    zkv_raft_ready_t rd;
    assert_int_equal(zkv_raft_ready(raft, &rd), ZKV_OK);
    assert_true(rd.must_persist);
    assert_int_equal(rd.n_entries, 1);
    assert_int_equal(rd.entries[0].index, 4);
    assert_int_equal(rd.entries[0].size, ZKV_ENTRY_SIZE_MAX);
    zkv_raft_advance(raft, &rd);
    assert_int_equal(fx_status(&fx, 2).last_index, 4);
    free(data);
    fx_free(&fx);
}

/*  A follower that restarted with the whole log but a lagging commit index
    learns the commit from an append the leader sends on its heartbeat answer. */
static void test_restarted_follower_catches_up_commit(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    for (uint64_t v = 1; v <= 3; v++)
        fx_propose(&fx, 1, v);
    fx_deliver_all(&fx);
    fx.nodes[2].hs.commit = 1; /* as if the commit were persisted lazily */
    fx_restart(&fx, 2);
    assert_int_equal(fx_status(&fx, 2).commit, 1);
    fx_run(&fx, 2);
    assert_int_equal(fx_status(&fx, 2).commit, 4);
    assert_int_equal(fx.nodes[2].sum, 6);
    fx_free(&fx);
}

/*  Drop node id's last k durable entries and restart it, as a follower whose
    torn WAL tail was cut at boot or that came back from an older backup. */
static void s_restart_shorter(fx_t *fx, uint32_t id, size_t k)
{
    fx_node_t *nd = &fx->nodes[id];
    assert_true(nd->n_disk > k);
    for (size_t i = nd->n_disk - k; i < nd->n_disk; i++)
        free((void *) nd->disk[i].data);
    nd->n_disk -= k;
    uint64_t last = nd->disk[nd->n_disk - 1].index;
    if (nd->hs.commit > last)
        nd->hs.commit = last;
    fx_restart(fx, id);
}

/*  A follower whose log is shorter than it acknowledged (outside Raft's
    fault model) is repaired: the leader takes its rejection as the truth,
    lowers match and next, counts the regression, and the follower catches
    up in a few rounds with a few messages instead of a probe loop. */
static void test_follower_log_shorter_than_match_repaired(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    for (uint64_t v = 1; v <= 8; v++)
        fx_propose(&fx, 1, v);
    fx_deliver_all(&fx);
    uint64_t last = fx_status(&fx, 1).last_index;
    zkv_raft_progress_t p;
    assert_int_equal(zkv_raft_progress(s_raft(&fx, 1), 2, &p), ZKV_OK);
    assert_int_equal(p.match, last);
    assert_int_equal(fx_status(&fx, 1).match_regressions, 0);

    s_restart_shorter(&fx, 2, 3);
    assert_int_equal(fx_status(&fx, 2).last_index, last - 3);
    fx_propose(&fx, 1, 9); /* new writes go on meanwhile */
    size_t before = fx.delivered;
    for (int round = 0; round < 5 && fx_status(&fx, 2).commit < last + 1; round++)
        fx_run(&fx, 1);
    size_t messages = fx.delivered - before;
    print_message("repair: %zu messages, regressions %" PRIu64 "\n", messages,
                  fx_status(&fx, 1).match_regressions);
    assert_int_equal(fx_status(&fx, 2).last_index, last + 1);
    assert_int_equal(fx_status(&fx, 2).commit, last + 1);
    assert_int_equal(fx.nodes[2].sum, 45);
    assert_true(messages <= 40);
    assert_int_equal(fx_status(&fx, 1).match_regressions, 1);
    assert_int_equal(zkv_raft_progress(s_raft(&fx, 1), 2, &p), ZKV_OK);
    assert_int_equal(p.match, last + 1);
    assert_int_equal(p.state, ZKV_RAFT_REPLICATE);
    fx_free(&fx);
}

/*  The same when the leader has compacted its log past what the follower
    still holds: the hint moved through the leader's log stops at the
    leader's snapshot, at or above the follower's old match, and such a
    rejection looked stale; the follower's own hint shows what it lacks, and
    it gets the snapshot. (sim_node found it: a lost tail after a snapshot.) */
static void test_follower_behind_compacted_leader_repaired(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    for (uint64_t v = 1; v <= 8; v++)
        fx_propose(&fx, 1, v);
    fx_deliver_all(&fx);
    uint64_t last = fx_status(&fx, 1).last_index;
    fx_snapshot(&fx, 1, 64);
    assert_int_equal(fx_status(&fx, 1).snapshot_index, last);
    s_restart_shorter(&fx, 2, 1);
    assert_int_equal(fx_status(&fx, 2).last_index, last - 1);
    for (int round = 0; round < 10 && fx_status(&fx, 2).commit < last; round++)
        fx_run(&fx, 1);
    assert_int_equal(fx_status(&fx, 2).commit, last);
    assert_int_equal(fx_status(&fx, 2).snapshot_index, last);
    assert_int_equal(fx_status(&fx, 1).match_regressions, 1);
    fx_free(&fx);
}

/*  The same for a follower restored from an older backup, whose log is as
    long as what it acknowledged but holds entries of an old term that a
    later leader replaced: its hint, moved back through the leader's log, is
    below match. It is repaired, its stale suffix cut, in a few messages. */
static void test_follower_restored_from_backup_repaired(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    const uint64_t now[] = {1, 1, 1, 3, 3, 3, 3, 3};
    const uint64_t backup[] = {1, 1, 1, 2, 2, 2, 2, 2, 2, 2};
    for (uint32_t id = 1; id <= 3; id++)
        fx_start_log(&fx, id, now, 8, 3);
    fx_elect(&fx, 1);
    fx_propose(&fx, 1, 5);
    fx_deliver_all(&fx);
    uint64_t last = fx_status(&fx, 1).last_index;
    zkv_raft_progress_t p;
    assert_int_equal(zkv_raft_progress(s_raft(&fx, 1), 2, &p), ZKV_OK);
    assert_int_equal(p.match, last);

    fx_stop(&fx, 2);
    for (size_t i = 0; i < fx.nodes[2].n_disk; i++)
        free((void *) fx.nodes[2].disk[i].data);
    fx.nodes[2].n_disk = 0;
    fx_start_log(&fx, 2, backup, 10, 3);
    fx_propose(&fx, 1, 6);
    size_t before = fx.delivered;
    for (int round = 0; round < 5 && fx_status(&fx, 2).commit < last + 1; round++)
        fx_run(&fx, 1);
    size_t messages = fx.delivered - before;
    print_message("restore: %zu messages\n", messages);
    uint64_t t1[16], t2[16];
    assert_int_equal(fx_terms(&fx, 2, t2, 16), last + 1);
    assert_int_equal(fx_terms(&fx, 1, t1, 16), last + 1);
    assert_memory_equal(t1, t2, (last + 1) * sizeof *t1);
    assert_int_equal(fx_status(&fx, 2).commit, last + 1);
    assert_true(messages <= 40);
    assert_true(fx_status(&fx, 1).match_regressions >= 1);
    fx_free(&fx);
}

/*  A stale leader learns the new term from a follower's answer and steps down. */
static void test_stale_leader_steps_down_on_answer(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.check_quorum = false; /* node 1 would step down by itself */
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    fx_isolate(&fx, 1, true);
    fx_elect(&fx, 2);
    assert_int_equal(fx_status(&fx, 2).role, ZKV_RAFT_LEADER);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    fx_isolate(&fx, 1, false);
    fx_tick(&fx, 1, 1);
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_FOLLOWER);
    assert_int_equal(fx_status(&fx, 1).term, fx_status(&fx, 2).term);
    fx_free(&fx);
}

/* ---------------------------------------------------------------- ReadIndex */

/*  §6.4: reads that arrive together are confirmed by one heartbeat round
    and released with the commit index as their read index. */
static void test_read_index_one_round_serves_batch(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    uint64_t commit = fx_status(&fx, 1).commit;
    size_t hb = fx.bcast_sent[ZKV_RAFT_MSG_HEARTBEAT];
    for (uint64_t ctx = 1; ctx <= 3; ctx++)
        assert_int_equal(zkv_raft_read_index(s_raft(&fx, 1), ctx), ZKV_OK);
    fx_ready(&fx, 1);
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_HEARTBEAT], hb + 1);
    const zkv_raft_msg_t *h = fx_find(&fx, ZKV_RAFT_MSG_HEARTBEAT, 2);
    assert_non_null(h);
    assert_int_not_equal(h->context, 0);
    assert_int_equal(fx.nodes[1].n_reads, 0);
    fx_deliver_all(&fx);
    assert_int_equal(fx.nodes[1].n_reads, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(fx.nodes[1].reads[i].context, i + 1);
        assert_int_equal(fx.nodes[1].reads[i].index, commit);
        assert_int_equal(fx.nodes[1].reads[i].status, ZKV_OK);
    }
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_HEARTBEAT], hb + 1);
    fx_free(&fx);
}

/*  Drop every queued message of one type (a lost broadcast). */
static void s_drop_queued(fx_t *fx, zkv_raft_msg_type_t type)
{
    size_t keep = 0;
    for (size_t i = 0; i < fx->nq; i++) {
        if (fx->q[i].m.type == type)
            fx_msg_free(&fx->q[i]);
        else
            fx->q[keep++] = fx->q[i];
    }
    fx->nq = keep;
}

static void s_read(fx_t *fx, uint32_t id, uint64_t ctx)
{
    assert_int_equal(zkv_raft_read_index(s_raft(fx, id), ctx), ZKV_OK);
    fx_ready(fx, id);
}

/*  Rounds in flight: a read admitted while a round is on its way starts the
    next at once, up to ZKV_RAFT_READ_ROUNDS; a quorum's answer to a round
    confirms it and every earlier one, never a later one. */
static void test_read_rounds_pipelined(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    size_t hb = fx.bcast_sent[ZKV_RAFT_MSG_HEARTBEAT];
    for (uint64_t ctx = 1; ctx <= ZKV_RAFT_READ_ROUNDS + 1; ctx++)
        s_read(&fx, 1, ctx);
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_HEARTBEAT], hb + ZKV_RAFT_READ_ROUNDS);
    /* Every round lost but the last started: its answers confirm the rest. */
    const zkv_raft_msg_t *last = &fx.q[fx.nq - 1].m;
    uint64_t last_round = last->context;
    assert_int_equal(last->type, ZKV_RAFT_MSG_HEARTBEAT);
    assert_int_equal(fx.q[0].m.context + ZKV_RAFT_READ_ROUNDS - 1, last_round);
    fx_msg_t keep = fx.q[fx.nq - 1];
    fx.nq--;
    s_drop_queued(&fx, ZKV_RAFT_MSG_HEARTBEAT);
    fx.q[fx.nq++] = keep;
    fx_deliver_all(&fx);
    /* The read past the bound waited for a free round, then had its own. */
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_HEARTBEAT], hb + ZKV_RAFT_READ_ROUNDS + 1);
    assert_int_equal(fx.nodes[1].n_reads, ZKV_RAFT_READ_ROUNDS + 1);
    for (size_t i = 0; i <= ZKV_RAFT_READ_ROUNDS; i++)
        assert_int_equal(fx.nodes[1].reads[i].context, i + 1);
    /* Answers to an earlier round do not confirm a later one. */
    size_t n = fx.nodes[1].n_reads;
    s_read(&fx, 1, 10);
    s_read(&fx, 1, 11);
    assert_true(fx_deliver_one(&fx) && fx_deliver_one(&fx)); /* the first round */
    s_drop_queued(&fx, ZKV_RAFT_MSG_HEARTBEAT);              /* the second, lost */
    fx_deliver_all(&fx);
    assert_int_equal(fx.nodes[1].n_reads, n + 1);
    assert_int_equal(fx.nodes[1].reads[n].context, 10);
    /* The next heartbeat carries the last round again. */
    fx_tick(&fx, 1, (int) fx.cfg.heartbeat_ticks);
    fx_deliver_all(&fx);
    assert_int_equal(fx.nodes[1].n_reads, n + 2);
    assert_int_equal(fx.nodes[1].reads[n + 1].context, 11);
    fx_free(&fx);
}

/*  A confirmed read waits until the state machine applied its read index. */
static void test_read_released_only_after_apply(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx.nodes[1].manual_apply = true;
    fx_propose(&fx, 1, 3);
    fx_deliver_all(&fx);
    uint64_t commit = fx_status(&fx, 1).commit;
    assert_true(fx_status(&fx, 1).applied < commit);
    assert_int_equal(zkv_raft_read_index(s_raft(&fx, 1), 77), ZKV_OK);
    fx_deliver_all(&fx);
    assert_int_equal(fx.nodes[1].n_reads, 0);
    assert_int_equal(zkv_raft_applied(s_raft(&fx, 1), commit), ZKV_OK);
    fx_ready(&fx, 1);
    assert_int_equal(fx.nodes[1].n_reads, 1);
    assert_int_equal(fx.nodes[1].reads[0].index, commit);
    fx_free(&fx);
}

/*  A new leader confirms no read before it committed its term's no-op. */
static void test_read_waits_for_noop_commit(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx_start_all(&fx);
    zkv_raft_campaign(s_raft(&fx, 1));
    fx_ready(&fx, 1);
    /* deliver until leader, then hold back the acks of the no-op */
    while (fx_status(&fx, 1).role != ZKV_RAFT_LEADER && fx_deliver_one(&fx))
        ;
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    fx.drop[2][1] = fx.drop[3][1] = true;
    fx_deliver_all(&fx);
    assert_int_equal(zkv_raft_read_index(s_raft(&fx, 1), 5), ZKV_OK);
    size_t hb = fx.bcast_sent[ZKV_RAFT_MSG_HEARTBEAT];
    fx_ready(&fx, 1);
    assert_int_equal(fx.bcast_sent[ZKV_RAFT_MSG_HEARTBEAT], hb);
    fx.drop[2][1] = fx.drop[3][1] = false;
    fx_run(&fx, 2);
    assert_int_equal(fx.nodes[1].n_reads, 1);
    assert_int_equal(fx.nodes[1].reads[0].index, fx_status(&fx, 1).commit);
    assert_int_equal(fx.nodes[1].reads[0].status, ZKV_OK);
    fx_free(&fx);
}

/*  A leader that loses its quorum fails the reads it could not confirm. */
static void test_unconfirmed_reads_fail_on_step_down(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx_isolate(&fx, 1, true);
    assert_int_equal(zkv_raft_read_index(s_raft(&fx, 1), 8), ZKV_OK);
    fx_tick(&fx, 1, (int) fx.cfg.election_ticks * 2);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_FOLLOWER);
    assert_int_equal(fx.nodes[1].n_reads, 1);
    assert_int_equal(fx.nodes[1].reads[0].context, 8);
    assert_int_equal(fx.nodes[1].reads[0].status, ZKV_ENOTLEADER);
    fx_free(&fx);
}

/*  §6.4 on a follower: the reads that arrive together go to the leader as
    one request, which the leader answers only once a quorum confirmed it,
    with its commit index; the follower releases them at that index. */
static void test_follower_read_asks_leader(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx_propose(&fx, 1, 7);
    fx_deliver_all(&fx);
    uint64_t commit = fx_status(&fx, 1).commit;
    for (uint64_t ctx = 1; ctx <= 2; ctx++)
        assert_int_equal(zkv_raft_read_index(s_raft(&fx, 2), ctx), ZKV_OK);
    fx_ready(&fx, 2);
    assert_int_equal(fx_count(&fx, ZKV_RAFT_MSG_READ_INDEX, 1), 1);
    while (fx.by_type[ZKV_RAFT_MSG_READ_INDEX] == 0 && fx_deliver_one(&fx))
        ;
    fx.drop[2][1] = fx.drop[3][1] = true; /* no quorum answers the leader's round */
    fx_deliver_all(&fx);
    assert_int_equal(fx.by_type[ZKV_RAFT_MSG_READ_INDEX_RESPONSE], 0);
    assert_int_equal(fx.nodes[2].n_reads, 0);
    fx.drop[2][1] = fx.drop[3][1] = false;
    fx_run(&fx, 2); /* the round's heartbeat again, answered */
    assert_int_equal(fx.by_type[ZKV_RAFT_MSG_READ_INDEX_RESPONSE], 1);
    assert_int_equal(fx.by_type[ZKV_RAFT_MSG_READ_INDEX], 1);
    assert_int_equal(fx.nodes[2].n_reads, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(fx.nodes[2].reads[i].context, i + 1);
        assert_int_equal(fx.nodes[2].reads[i].index, commit);
        assert_int_equal(fx.nodes[2].reads[i].status, ZKV_OK);
    }
    assert_int_equal(fx.nodes[1].n_reads, 0); /* the leader serves none itself */
    fx_free(&fx);
}

/*  The follower serves only once its own state machine has applied the
    leader's read index. */
static void test_follower_read_waits_for_its_apply(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx.nodes[2].manual_apply = true;
    fx_propose(&fx, 1, 3);
    fx_deliver_all(&fx);
    fx_run(&fx, 1);
    uint64_t commit = fx_status(&fx, 1).commit;
    assert_true(fx_status(&fx, 2).applied < commit);
    assert_int_equal(zkv_raft_read_index(s_raft(&fx, 2), 5), ZKV_OK);
    fx_run(&fx, 2);
    assert_int_equal(fx.by_type[ZKV_RAFT_MSG_READ_INDEX_RESPONSE], 1);
    assert_int_equal(fx.nodes[2].n_reads, 0);
    assert_int_equal(zkv_raft_applied(s_raft(&fx, 2), commit - 1), ZKV_OK);
    fx_ready(&fx, 2);
    assert_int_equal(fx.nodes[2].n_reads, 0);
    assert_int_equal(zkv_raft_applied(s_raft(&fx, 2), commit), ZKV_OK);
    fx_ready(&fx, 2);
    assert_int_equal(fx.nodes[2].n_reads, 1);
    assert_int_equal(fx.nodes[2].reads[0].index, commit);
    assert_int_equal(fx.nodes[2].reads[0].status, ZKV_OK);
    fx_free(&fx);
}

/*  No answer (the leader is cut off): the read fails within an election
    timeout; a follower that knows no leader refuses at once. */
static void test_follower_read_fails_without_answer(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx.drop[1][2] = fx.drop[2][1] = true;
    assert_int_equal(zkv_raft_read_index(s_raft(&fx, 2), 11), ZKV_OK);
    fx_ready(&fx, 2);
    assert_int_equal(fx_count(&fx, ZKV_RAFT_MSG_READ_INDEX, 1), 1);
    fx_tick(&fx, 2, (int) fx.cfg.election_ticks);
    assert_int_equal(fx.nodes[2].n_reads, 1);
    assert_int_equal(fx.nodes[2].reads[0].context, 11);
    assert_int_equal(fx.nodes[2].reads[0].status, ZKV_ENOTLEADER);
    fx_tick(&fx, 2, (int) fx.cfg.election_ticks * 2);
    assert_int_not_equal(fx_status(&fx, 2).role, ZKV_RAFT_FOLLOWER);
    assert_int_equal(zkv_raft_read_index(s_raft(&fx, 2), 12), ZKV_ENOTLEADER);
    fx_free(&fx);
}

/*  A node that is not the leader refuses a request for a read index, and
    the asker fails its reads at once; an answer to another request, or from
    another node than its leader, changes nothing. */
static void test_read_index_refused_by_follower(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx_clear_queue(&fx);
    zkv_raft_msg_t ask = {.type = ZKV_RAFT_MSG_READ_INDEX,
                          .from = 2,
                          .to = 3,
                          .term = fx_status(&fx, 3).term,
                          .context = 4};
    assert_int_equal(zkv_raft_step(s_raft(&fx, 3), &ask), ZKV_OK);
    fx_ready(&fx, 3);
    const zkv_raft_msg_t *no = fx_find(&fx, ZKV_RAFT_MSG_READ_INDEX_RESPONSE, 2);
    assert_non_null(no);
    assert_true(no->reject);
    assert_int_equal(no->context, 4);
    fx_clear_queue(&fx);
    assert_int_equal(zkv_raft_read_index(s_raft(&fx, 2), 21), ZKV_OK);
    fx_ready(&fx, 2);
    const zkv_raft_msg_t *q = fx_find(&fx, ZKV_RAFT_MSG_READ_INDEX, 1);
    assert_non_null(q);
    zkv_raft_msg_t answer = {.type = ZKV_RAFT_MSG_READ_INDEX_RESPONSE,
                             .from = 3,
                             .to = 2,
                             .term = q->term,
                             .context = q->context,
                             .index = 1};
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &answer), ZKV_OK); /* not its leader */
    answer.from = 1;
    answer.context = q->context + 1;
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &answer), ZKV_OK); /* another request */
    fx_ready(&fx, 2);
    assert_int_equal(fx.nodes[2].n_reads, 0);
    answer.context = q->context;
    answer.reject = true;
    assert_int_equal(zkv_raft_step(s_raft(&fx, 2), &answer), ZKV_OK);
    fx_ready(&fx, 2);
    assert_int_equal(fx.nodes[2].n_reads, 1);
    assert_int_equal(fx.nodes[2].reads[0].status, ZKV_ENOTLEADER);
    fx_free(&fx);
}

/* ---------------------------------------------------------------- transfer */

/*  §3.10: the target, once up to date, is told to campaign and wins; the
    old leader takes no proposals meanwhile. */
static void test_leadership_transfer(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    uint64_t term = fx_status(&fx, 1).term;
    fx.drop[1][3] = true;
    fx_propose(&fx, 1, 4);
    fx_deliver_all(&fx);
    fx.drop[1][3] = false;
    assert_int_equal(zkv_raft_transfer_leadership(s_raft(&fx, 1), 3), ZKV_OK);
    assert_int_equal(fx_status(&fx, 1).transferee, 3);
    assert_int_equal(fx_propose(&fx, 1, 5), ZKV_EBUSY);
    fx_run(&fx, 3);
    assert_int_equal(fx_status(&fx, 3).role, ZKV_RAFT_LEADER);
    assert_int_equal(fx_status(&fx, 3).term, term + 1);
    assert_int_equal(fx_status(&fx, 1).leader, 3);
    assert_int_equal(fx.by_type[ZKV_RAFT_MSG_TIMEOUT_NOW], 1);
    assert_int_equal(fx.by_type[ZKV_RAFT_MSG_PRE_VOTE], 2); /* only the first election */
    fx_free(&fx);
}

/*  A transfer to a node that never answers is abandoned after an election
    timeout; proposals are taken again. */
static void test_leadership_transfer_aborts(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    fx_stop(&fx, 3);
    assert_int_equal(zkv_raft_transfer_leadership(s_raft(&fx, 1), 3), ZKV_OK);
    assert_int_equal(zkv_raft_transfer_leadership(s_raft(&fx, 2), 3), ZKV_ENOTLEADER);
    fx_run(&fx, (int) fx.cfg.election_ticks);
    assert_int_equal(fx_status(&fx, 1).role, ZKV_RAFT_LEADER);
    assert_int_equal(fx_status(&fx, 1).transferee, ZKV_RAFT_NONE);
    assert_int_equal(fx_propose(&fx, 1, 5), ZKV_OK);
    fx_free(&fx);
}

/* ---------------------------------------------------------------- learners */

/*  A learner receives the log but never campaigns or counts, and is not
    asked for votes; asked anyway (by a candidate whose membership has it as
    a voter, thesis §4.1), it answers like any node. */
static void test_learner_receives_log_never_votes_or_counts(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 2);
    fx_start_all(&fx);
    assert_int_equal(zkv_raft_campaign(s_raft(&fx, 3)), ZKV_EINVAL);
    fx_tick(&fx, 3, 100);
    assert_int_equal(fx_status(&fx, 3).term, 0);
    assert_true(fx_status(&fx, 3).learner);
    fx_elect(&fx, 1);
    assert_int_equal(fx.by_type[ZKV_RAFT_MSG_PRE_VOTE], 1); /* not asked */
    fx_propose(&fx, 1, 9);
    fx_deliver_all(&fx);
    fx_run(&fx, 1);
    assert_int_equal(fx.nodes[3].applied, 2);
    assert_int_equal(fx.nodes[3].sum, 9);
    /* With voter 2 gone, leader + learner are no quorum. */
    fx_stop(&fx, 2);
    fx_propose(&fx, 1, 10);
    fx_deliver_all(&fx);
    assert_int_equal(fx_status(&fx, 3).last_index, 3);
    assert_int_equal(fx_status(&fx, 1).commit, 2);
    zkv_raft_msg_t v = {.type = ZKV_RAFT_MSG_VOTE,
                        .from = 1,
                        .to = 3,
                        .term = 9,
                        .index = 9,
                        .log_term = 9,
                        .force = true};
    fx_clear_queue(&fx);
    assert_int_equal(zkv_raft_step(s_raft(&fx, 3), &v), ZKV_OK);
    fx_ready(&fx, 3);
    const zkv_raft_msg_t *r = fx_find(&fx, ZKV_RAFT_MSG_VOTE_RESPONSE, 1);
    assert_non_null(r);
    assert_false(r->reject);
    assert_int_equal(fx_status(&fx, 3).role, ZKV_RAFT_FOLLOWER);
    fx_free(&fx);
}

/* ---------------------------------------------------------------- restart, limits */

/*  Restart from durable state hands out the committed entries again. */
static void test_restart_replays_committed_entries(void **state)
{
    (void) state;
    fx_t fx;
    s_cluster(&fx, 3);
    for (uint64_t v = 1; v <= 5; v++)
        fx_propose(&fx, 1, v);
    fx_deliver_all(&fx);
    fx_run(&fx, 1);
    assert_int_equal(fx.nodes[3].sum, 15);
    fx_restart(&fx, 3);
    assert_int_equal(fx.nodes[3].sum, 0);
    fx_ready(&fx, 3);
    assert_int_equal(fx.nodes[3].sum, 15);
    assert_int_equal(fx.nodes[3].applied, 6);
    assert_int_equal(fx_status(&fx, 3).term, fx_status(&fx, 1).term);
    fx_free(&fx);
}

static void test_step_rejects_malformed_messages(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx_start_all(&fx);
    zkv_raft_t *r = s_raft(&fx, 2);
    zkv_raft_msg_t ok = {.type = ZKV_RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 1};
    assert_int_equal(zkv_raft_step(r, &ok), ZKV_OK);
    zkv_raft_msg_t m = ok;
    m.from = ZKV_RAFT_NONE;
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL);
    m = ok;
    m.from = 2;
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL);
    m = ok;
    m.to = 3;
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL);
    m = ok;
    m.term = 0;
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL);
    m = ok;
    m.type = (zkv_raft_msg_type_t) 40;
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL);
    m = ok;
    m.type = ZKV_RAFT_MSG_VOTE;
    m.to = ZKV_RAFT_BROADCAST;
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL);
    uint64_t val = 1;
    zkv_raft_entry_t e = {1, 5, ZKV_RAFT_ENTRY_NORMAL, 8, (const uint8_t *) &val};
    m = (zkv_raft_msg_t){.type = ZKV_RAFT_MSG_APPEND,
                         .from = 1,
                         .to = 2,
                         .term = 1,
                         .index = 0,
                         .entries = &e,
                         .n_entries = 1};
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL); /* index not prev + 1 */
    e.index = 1;
    e.term = 2;
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL); /* entry term past the message's */
    e.term = 1;
    e.data = NULL;
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL);
    m = (zkv_raft_msg_t){.type = ZKV_RAFT_MSG_SNAPSHOT,
                         .from = 1,
                         .to = 2,
                         .term = 1,
                         .snapshot = {.index = 3, .term = 1, .size = 4},
                         .chunk_offset = 2,
                         .chunk_size = 4,
                         .chunk = (const uint8_t *) "abcd"};
    assert_int_equal(zkv_raft_step(r, &m), ZKV_EINVAL); /* past the snapshot's end */
    fx_free(&fx);
}

/* ---------------------------------------------------------------- snapshots */

/*  A chunk of the snapshot at index/term, of a size-byte image, from a leader. */
static zkv_raft_msg_t s_chunk(uint32_t from, uint64_t term, uint64_t index, uint64_t snap_term,
                              uint64_t size, uint64_t offset, size_t n)
{
    static const uint8_t bytes[64];
    return (zkv_raft_msg_t){.type = ZKV_RAFT_MSG_SNAPSHOT,
                            .from = from,
                            .to = 2,
                            .term = term,
                            .snapshot = {.index = index, .term = snap_term, .size = size},
                            .chunk_offset = offset,
                            .chunk = bytes,
                            .chunk_size = n,
                            .chunk_last = offset + n == size};
}

/*  The host stores a chunk under the term of the snapshot the core accepted
    it for: a deposed leader's chunk of another snapshot term, stepped in the
    same round, is dropped and changes nothing in the Ready. */
static void test_chunk_carries_accepted_snapshot_term(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx_start_all(&fx);
    zkv_raft_t *r = s_raft(&fx, 2);
    zkv_raft_msg_t m = s_chunk(3, 3, 5, 3, 16, 0, 8);
    assert_int_equal(zkv_raft_step(r, &m), ZKV_OK);
    m = s_chunk(1, 2, 7, 2, 16, 0, 8); /* node 1 led term 2 */
    assert_int_equal(zkv_raft_step(r, &m), ZKV_OK);
    m = s_chunk(3, 3, 5, 3, 16, 8, 8);
    assert_int_equal(zkv_raft_step(r, &m), ZKV_OK);
    zkv_raft_ready_t rd;
    assert_int_equal(zkv_raft_ready(r, &rd), ZKV_OK);
    assert_int_equal(rd.n_chunks, 2);
    for (size_t i = 0; i < rd.n_chunks; i++) {
        assert_int_equal(rd.chunks[i].snapshot_index, 5);
        assert_int_equal(rd.chunks[i].snapshot_term, 3);
        assert_int_equal(rd.chunks[i].offset, 8 * i);
    }
    assert_true(rd.has_snapshot);
    assert_int_equal(rd.snapshot.term, 3);
    zkv_raft_advance(r, &rd);
    fx_free(&fx);
}

/*  The last chunk of snapshot 5 and the first of snapshot 9 stepped before
    one Ready: that Ready installs 5 and hands out only its chunks, so the
    host finishes 5's file before 9's first chunk starts another; 9's chunk
    comes, bytes intact, in the next Ready. */
static void test_install_ready_holds_later_snapshot_chunks(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx_start_all(&fx);
    zkv_raft_t *r = s_raft(&fx, 2);
    zkv_raft_msg_t m = s_chunk(1, 2, 5, 2, 16, 0, 8);
    assert_int_equal(zkv_raft_step(r, &m), ZKV_OK);
    zkv_raft_ready_t rd;
    assert_int_equal(zkv_raft_ready(r, &rd), ZKV_OK);
    assert_int_equal(rd.n_chunks, 1);
    zkv_raft_advance(r, &rd);
    m = s_chunk(1, 2, 5, 2, 16, 8, 8);
    assert_int_equal(zkv_raft_step(r, &m), ZKV_OK);
    m = s_chunk(1, 2, 9, 2, 24, 0, 8);
    m.chunk = (const uint8_t *) "S2-bytes";
    assert_int_equal(zkv_raft_step(r, &m), ZKV_OK);
    assert_int_equal(zkv_raft_ready(r, &rd), ZKV_OK);
    assert_true(rd.has_snapshot);
    assert_int_equal(rd.snapshot.index, 5);
    assert_int_equal(rd.n_chunks, 1);
    assert_int_equal(rd.chunks[0].snapshot_index, 5);
    assert_int_equal(rd.chunks[0].offset, 8);
    zkv_raft_advance(r, &rd);
    assert_true(zkv_raft_has_ready(r));
    assert_int_equal(zkv_raft_ready(r, &rd), ZKV_OK);
    assert_false(rd.has_snapshot);
    assert_int_equal(rd.n_chunks, 1);
    assert_int_equal(rd.chunks[0].snapshot_index, 9);
    assert_int_equal(rd.chunks[0].offset, 0);
    assert_int_equal(rd.chunks[0].size, 8);
    assert_memory_equal(rd.chunks[0].data, "S2-bytes", 8);
    zkv_raft_advance(r, &rd);
    fx_free(&fx);
}

/*  A host that cannot install a received snapshot writes the hard state
    only and reports it: the follower does not answer that it installed,
    the leader sends the snapshot again, and the second install succeeds. */
static void test_failed_install_retried(void **state)
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
    fx_snapshot(&fx, 1, 36);
    assert_int_equal(fx_propose(&fx, 1, 1000), ZKV_OK);
    fx_deliver_all(&fx);

    fx_restart(&fx, 3);
    fx_node_t *n3 = &fx.nodes[3];
    n3->fail_install = true;
    fx_run(&fx, 40);
    assert_false(n3->fail_install);                       /* it did fail once */
    assert_true(fx.by_type[ZKV_RAFT_MSG_SNAPSHOT] >= 10); /* 36 bytes in chunks of 8, twice */
    assert_int_equal(n3->snap_index, 11);
    assert_memory_equal(n3->snap_img, fx.nodes[1].snap_img, 36);
    assert_int_equal(n3->sum, 55 + 1000);
    assert_int_equal(n3->applied, fx.nodes[1].applied);
    assert_int_equal(fx_status(&fx, 3).snapshot_index, 11);
    fx_free(&fx);
}

/*  Entries stepped after an install and before its Ready go into that Ready
    and, when the install fails, away with it: so must what they let the
    follower commit, or a heartbeat would commit past its log. (sim_node
    found it: an install failing on a full disk.) */
static void test_failed_install_forgets_later_commit(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx_start_all(&fx);
    zkv_raft_t *r = s_raft(&fx, 2);
    zkv_raft_msg_t chunk = s_chunk(1, 2, 5, 2, 8, 0, 8);
    assert_int_equal(zkv_raft_step(r, &chunk), ZKV_OK);
    zkv_raft_entry_t ents[3];
    for (int i = 0; i < 3; i++)
        ents[i] = (zkv_raft_entry_t){.index = 6 + (uint64_t) i, .term = 2};
    zkv_raft_msg_t append = {.type = ZKV_RAFT_MSG_APPEND,
                             .from = 1,
                             .to = 2,
                             .term = 2,
                             .index = 5,
                             .log_term = 2,
                             .entries = ents,
                             .n_entries = 3,
                             .commit = 8};
    assert_int_equal(zkv_raft_step(r, &append), ZKV_OK);
    zkv_raft_ready_t rd;
    assert_int_equal(zkv_raft_ready(r, &rd), ZKV_OK);
    assert_true(rd.has_snapshot);
    assert_int_equal(rd.n_entries, 3);
    zkv_raft_advance(r, &rd);
    assert_int_equal(zkv_raft_snapshot_failed(r, rd.id), ZKV_OK);
    zkv_raft_status_t st;
    zkv_raft_status(r, &st);
    assert_int_equal(st.last_index, 5);
    assert_true(st.commit <= st.last_index);
    zkv_raft_msg_t heartbeat = {
        .type = ZKV_RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 2, .commit = 8};
    assert_int_equal(zkv_raft_step(r, &heartbeat), ZKV_OK); /* asserted before */
    zkv_raft_status(r, &st);
    assert_true(st.commit <= st.last_index);
    fx_free(&fx);
}

/*  zkv_raft_snapshot_failed names the last Ready, and one with a snapshot. */
static void test_snapshot_failed_validates_ready(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx_start_all(&fx);
    zkv_raft_t *r = s_raft(&fx, 2);
    zkv_raft_msg_t m = s_chunk(1, 2, 5, 2, 8, 0, 8);
    assert_int_equal(zkv_raft_step(r, &m), ZKV_OK);
    zkv_raft_ready_t rd;
    assert_int_equal(zkv_raft_ready(r, &rd), ZKV_OK);
    assert_true(rd.has_snapshot);
    zkv_raft_advance(r, &rd);
    assert_int_equal(zkv_raft_snapshot_failed(r, rd.id + 1), ZKV_EINVAL);
    assert_int_equal(zkv_raft_snapshot_failed(r, rd.id), ZKV_OK);
    assert_int_equal(zkv_raft_snapshot_failed(r, rd.id), ZKV_EINVAL);
    assert_int_equal(zkv_raft_campaign(r), ZKV_EINVAL);     /* no state machine to lead with */
    assert_int_equal(zkv_raft_persisted(r, rd.id), ZKV_OK); /* its hard state */
    assert_int_equal(fx_status(&fx, 2).durable_index, 0);
    assert_int_equal(zkv_raft_ready(r, &rd), ZKV_OK);
    assert_int_equal(rd.n_messages, 1); /* no "installed": only "send it again" */
    assert_int_equal(rd.messages[0].type, ZKV_RAFT_MSG_SNAPSHOT_RESPONSE);
    assert_true(rd.messages[0].reject);
    assert_false(rd.messages[0].chunk_last);
    assert_int_equal(rd.messages[0].chunk_offset, 0);
    zkv_raft_advance(r, &rd);
    fx_free(&fx);
}

static void test_config_and_limits(void **state)
{
    (void) state;
    uint32_t voters[] = {1, 2, 3};
    zkv_raft_config_t c;
    zkv_raft_t *r = NULL;
    zkv_raft_config_default(&c, 4, voters, 3); /* no member: joining or removed */
    assert_int_equal(zkv_raft_new(&c, NULL, &r), ZKV_OK);
    zkv_raft_status_t st;
    zkv_raft_status(r, &st);
    assert_false(st.voter);
    assert_false(st.learner);
    assert_int_equal(zkv_raft_campaign(r), ZKV_EINVAL);
    zkv_raft_destroy(&r);
    c.members.n_voters = 0;
    c.members.learners[c.members.n_learners++] = 4;
    assert_int_equal(zkv_raft_new(&c, NULL, &r), ZKV_EINVAL); /* learners and no voter */
    zkv_raft_config_default(&c, 1, voters, 3);
    c.election_ticks = 1;
    assert_int_equal(zkv_raft_new(&c, NULL, &r), ZKV_EINVAL);
    zkv_raft_config_default(&c, 1, voters, 3);
    c.members.learners[c.members.n_learners++] = 2;
    assert_int_equal(zkv_raft_new(&c, NULL, &r), ZKV_EINVAL); /* voter and learner */
    assert_null(r);

    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.max_uncommitted = 3;
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    fx_stop(&fx, 2);
    fx_stop(&fx, 3);
    assert_int_equal(fx_propose(&fx, 1, 1), ZKV_OK);
    assert_int_equal(fx_propose(&fx, 1, 2), ZKV_OK);
    assert_int_equal(fx_propose(&fx, 1, 3), ZKV_OK);
    assert_int_equal(fx_propose(&fx, 1, 4), ZKV_EBUSY);
    zkv_raft_buf_t big = {"x", ZKV_ENTRY_SIZE_MAX + 1};
    assert_int_equal(zkv_raft_propose(s_raft(&fx, 1), &big, 1, NULL, NULL), ZKV_EINVAL);
    uint64_t applied = fx_status(&fx, 1).applied;
    assert_int_equal(zkv_raft_compact(s_raft(&fx, 1), applied + 1, 10), ZKV_EINVAL);
    assert_int_equal(zkv_raft_applied(s_raft(&fx, 1), 100), ZKV_EINVAL);
    fx_free(&fx);
}

/* ---------------------------------------------------------------- entries read back */

/*  Three nodes keeping 1 KiB of applied entry data; 20 entries of 8 bytes
    everywhere and a snapshot of them on the leader, then node 3 cut off
    while 300 more commit, then healed (not yet delivered to). */
static void s_lagging_follower(fx_t *fx, bool manual_load)
{
    fx_init(fx, 3, 3);
    fx->cfg.log_memory_bytes = 1024;
    fx_start_all(fx);
    fx_elect(fx, 1);
    fx->nodes[1].manual_load = manual_load;
    for (uint64_t v = 1; v <= 20; v++) {
        assert_int_equal(fx_propose(fx, 1, v), ZKV_OK);
        fx_deliver_all(fx);
    }
    fx_snapshot(fx, 1, 64);
    fx_isolate(fx, 3, true);
    for (uint64_t v = 21; v <= 320; v++) {
        assert_int_equal(fx_propose(fx, 1, v), ZKV_OK);
        fx_deliver_all(fx);
    }
    assert_int_equal(fx_status(fx, 1).commit, fx_status(fx, 1).last_index);
    fx_isolate(fx, 3, false);
}

/*  The leader lets go of applied entries' data past its window, keeping
    their terms, and a follower that fell behind gets them read back from
    the leader's log: it catches up to the same state. */
static void test_log_memory_reads_back(void **state)
{
    (void) state;
    fx_t fx;
    s_lagging_follower(&fx, false);
    zkv_raft_t *leader = s_raft(&fx, 1);
    zkv_raft_entry_t e;
    uint64_t term;
    assert_int_equal(zkv_raft_entry_at(leader, 40, &e), ZKV_ECOMPACTED);
    assert_int_equal(zkv_raft_term_at(leader, 40, &term), ZKV_OK);
    uint64_t last = fx_status(&fx, 1).last_index;
    assert_int_equal(zkv_raft_entry_at(leader, last, &e), ZKV_OK);
    assert_true(fx_status(&fx, 3).last_index < 40);
    fx_run(&fx, 40);
    assert_int_equal(fx_status(&fx, 3).commit, last);
    assert_int_equal(fx.nodes[3].applied, last);
    assert_int_equal(fx.nodes[3].sum, fx.nodes[1].sum);
    assert_true(fx.nodes[1].loads_answered > 0);
    fx_free(&fx);
}

/*  Applied data nobody may be sent goes at once, within the window: a leader
    keeps it from its followers' match on (a cut-off follower's entries
    stay), a follower keeps none. */
static void test_log_data_follows_the_followers(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.log_memory_bytes = 1024; /* blocks of 256 bytes; 100 entries of 8 fit the window */
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    for (uint64_t v = 1; v <= 100; v++) {
        assert_int_equal(fx_propose(&fx, 1, v), ZKV_OK);
        fx_deliver_all(&fx);
    }
    zkv_raft_entry_t e;
    for (uint32_t id = 1; id <= 3; id++)
        assert_int_equal(zkv_raft_entry_at(s_raft(&fx, id), 10, &e), ZKV_ECOMPACTED);
    uint64_t cut = fx_status(&fx, 1).last_index;
    fx_isolate(&fx, 3, true);
    for (uint64_t v = 101; v <= 160; v++) {
        assert_int_equal(fx_propose(&fx, 1, v), ZKV_OK);
        fx_deliver_all(&fx);
    }
    assert_true(fx_status(&fx, 1).applied >= cut + 60);
    assert_int_equal(zkv_raft_entry_at(s_raft(&fx, 1), cut + 1, &e), ZKV_OK);
    assert_int_equal(zkv_raft_entry_at(s_raft(&fx, 2), cut + 1, &e), ZKV_ECOMPACTED);
    fx_isolate(&fx, 3, false);
    fx_run(&fx, 20);
    assert_int_equal(fx_status(&fx, 3).commit, fx_status(&fx, 1).commit);
    assert_int_equal(fx.nodes[1].loads_answered, 0); /* nothing had to be read back */
    fx_free(&fx);
}

/*  The entry array follows the log down as well as up: after a snapshot
    compacts 2,000 entries away it holds a few hundred slots, not 2,916. */
static void test_log_array_shrinks_after_compaction(void **state)
{
    (void) state;
    fx_t fx;
    fx_init(&fx, 3, 3);
    fx.cfg.log_memory_bytes = 1024; /* data blocks of 256 bytes: the array is the rest */
    fx_start_all(&fx);
    fx_elect(&fx, 1);
    for (uint64_t v = 1; v <= 2000; v++) {
        assert_int_equal(fx_propose(&fx, 1, v), ZKV_OK);
        fx_deliver_all(&fx);
    }
    size_t grown = fx_status(&fx, 1).log_bytes;
    assert_true(grown >= 2000 * sizeof(zkv_raft_entry_t));
    fx_snapshot(&fx, 1, 64);
    assert_int_equal(fx_propose(&fx, 1, 2001), ZKV_OK); /* an advance releases */
    fx_deliver_all(&fx);
    size_t after = fx_status(&fx, 1).log_bytes;
    assert_true(after < 2000 * sizeof(zkv_raft_entry_t) / 4);
    fx_free(&fx);
}

/*  Only an answer that matches the log goes out: a wrong term is refused,
    an answer nobody waits for is ignored, and an empty one (the host's log
    was compacted) sends the snapshot instead. */
static void test_load_answers_checked(void **state)
{
    (void) state;
    fx_t fx;
    s_lagging_follower(&fx, true);
    fx_node_t *nd = &fx.nodes[1];
    for (int i = 0; i < 40 && nd->n_loads == 0; i++)
        fx_run(&fx, 1);
    assert_int_equal(nd->n_loads, 1); /* one load at a time for a follower */
    zkv_raft_load_t load = nd->loads[0];
    assert_int_equal(load.peer, 3);
    assert_true(load.lo < load.hi && load.lo <= fx_status(&fx, 3).last_index + 1);
    size_t at = 0;
    while (nd->disk[at].index < load.lo)
        at++;
    zkv_raft_entry_t ents[4];
    memcpy(ents, nd->disk + at, sizeof ents);
    size_t appends = fx.p2p_sent[ZKV_RAFT_MSG_APPEND];

    ents[0].term++;
    assert_int_equal(zkv_raft_loaded(nd->raft, 3, load.lo, ents, 4), ZKV_EINVAL);
    ents[0].term--;
    assert_int_equal(zkv_raft_loaded(nd->raft, 3, load.lo + 1, ents + 1, 3), ZKV_OK);
    fx_ready(&fx, 1);
    assert_int_equal(fx.p2p_sent[ZKV_RAFT_MSG_APPEND], appends);

    assert_int_equal(zkv_raft_loaded(nd->raft, 3, load.lo, ents, 4), ZKV_OK);
    fx_ready(&fx, 1);
    assert_true(fx.p2p_sent[ZKV_RAFT_MSG_APPEND] > appends);
    /* answered: the same answer again is one nobody waits for */
    appends = fx.p2p_sent[ZKV_RAFT_MSG_APPEND];
    assert_int_equal(zkv_raft_loaded(nd->raft, 3, load.lo, ents, 4), ZKV_OK);
    fx_ready(&fx, 1);
    assert_int_equal(fx.p2p_sent[ZKV_RAFT_MSG_APPEND], appends);

    nd->n_loads = 0;
    for (int i = 0; i < 40 && nd->n_loads == 0; i++)
        fx_run(&fx, 1);
    assert_int_equal(nd->n_loads, 1);
    assert_int_equal(zkv_raft_loaded(nd->raft, 3, nd->loads[0].lo, NULL, 0), ZKV_OK);
    zkv_raft_progress_t p;
    assert_int_equal(zkv_raft_progress(nd->raft, 3, &p), ZKV_OK);
    assert_int_equal(p.state, ZKV_RAFT_SNAPSHOT);
    fx_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follower_acks_only_durable_entries),
        cmocka_unit_test(test_writer_acks_leave_with_the_write),
        cmocka_unit_test(test_vote_grant_held_until_durable),
        cmocka_unit_test(test_single_voter_leads_after_durable_vote),
        cmocka_unit_test(test_leader_counts_only_its_durable_entries),
        cmocka_unit_test(test_in_sync_followers_get_one_broadcast),
        cmocka_unit_test(test_follower_behind_caught_up_point_to_point),
        cmocka_unit_test(test_broadcast_off_sends_per_follower),
        cmocka_unit_test(test_pipelined_appends_up_to_window),
        cmocka_unit_test(test_batch_proposal_many_entries_per_message),
        cmocka_unit_test(test_heartbeat_commit_capped_by_verified),
        cmocka_unit_test(test_peer_entry_size_limit),
        cmocka_unit_test(test_restarted_follower_catches_up_commit),
        cmocka_unit_test(test_follower_log_shorter_than_match_repaired),
        cmocka_unit_test(test_follower_restored_from_backup_repaired),
        cmocka_unit_test(test_follower_behind_compacted_leader_repaired),
        cmocka_unit_test(test_stale_leader_steps_down_on_answer),
        cmocka_unit_test(test_read_index_one_round_serves_batch),
        cmocka_unit_test(test_read_rounds_pipelined),
        cmocka_unit_test(test_read_released_only_after_apply),
        cmocka_unit_test(test_read_waits_for_noop_commit),
        cmocka_unit_test(test_unconfirmed_reads_fail_on_step_down),
        cmocka_unit_test(test_follower_read_asks_leader),
        cmocka_unit_test(test_follower_read_waits_for_its_apply),
        cmocka_unit_test(test_follower_read_fails_without_answer),
        cmocka_unit_test(test_read_index_refused_by_follower),
        cmocka_unit_test(test_leadership_transfer),
        cmocka_unit_test(test_leadership_transfer_aborts),
        cmocka_unit_test(test_learner_receives_log_never_votes_or_counts),
        cmocka_unit_test(test_restart_replays_committed_entries),
        cmocka_unit_test(test_step_rejects_malformed_messages),
        cmocka_unit_test(test_chunk_carries_accepted_snapshot_term),
        cmocka_unit_test(test_install_ready_holds_later_snapshot_chunks),
        cmocka_unit_test(test_failed_install_retried),
        cmocka_unit_test(test_snapshot_failed_validates_ready),
        cmocka_unit_test(test_failed_install_forgets_later_commit),
        cmocka_unit_test(test_config_and_limits),
        cmocka_unit_test(test_log_memory_reads_back),
        cmocka_unit_test(test_log_array_shrinks_after_compaction),
        cmocka_unit_test(test_log_data_follows_the_followers),
        cmocka_unit_test(test_load_answers_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
