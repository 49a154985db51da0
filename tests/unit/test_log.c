/*  log: the log handler's acknowledgements (writer_acks): one leaves only
    after the sync that makes its entries durable, a newer one replaces one
    not sent yet, and one of a term older than a hard state written since is
    dropped. The handler runs on an in-memory file system; its port records
    what it sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fs_mem.h"
#include "inproc.h"
#include "log.h"
#include "zkv_error.h"

#define ACKS_MAX 8

typedef struct {
    zkv_raft_msg_t acks[ACKS_MAX];
    char hosts[ACKS_MAX][32];
    uint16_t ports[ACKS_MAX];
    size_t n_acks;
    uint64_t durable; /* the last DURABLE's ready id */
} sent_t;

typedef struct {
    zkv_fs_mem_t *mem;
    zkv_metrics_t *metrics;
    zkv_log_t *log;
    sent_t sent;
} fx_t;

static int s_send(void *ctx, zkv_actor_id_t to, zkv_msg_t *msg)
{
    sent_t *sent = ctx;
    if (to == ZKV_ACTOR_REPLICATION && msg->type == ZKV_MSG_DURABLE)
        sent->durable = msg->durable.ready_id;
    zkv_msg_clear(msg);
    return 0;
}

static void s_ack(void *ctx, const zkv_raft_msg_t *msg, uint64_t cluster_id, const char *host,
                  uint16_t port)
{
    (void) cluster_id;
    sent_t *sent = ctx;
    assert_true(sent->n_acks < ACKS_MAX);
    sent->acks[sent->n_acks] = *msg;
    snprintf(sent->hosts[sent->n_acks], sizeof sent->hosts[0], "%s", host);
    sent->ports[sent->n_acks++] = port;
}

static void s_start(fx_t *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->mem = zkv_fs_mem_new();
    assert_non_null(fx->mem);
    const zkv_fs_t *fs = zkv_fs_mem_fs(fx->mem);
    assert_int_equal(zkv_fs_mkdir(fs, "wal"), ZKV_OK);
    zkv_wal_t *wal = zkv_wal_new(fs, "wal", NULL);
    assert_non_null(wal);
    assert_int_equal(zkv_wal_open(wal, NULL), ZKV_OK);
    fx->metrics = zkv_metrics_new(2);
    zkv_port_t port = {.ctx = &fx->sent, .metrics = fx->metrics, .send = s_send, .ack = s_ack};
    fx->log = zkv_log_new(&wal, &port, NULL);
    assert_non_null(fx->log);
}

static void s_stop(fx_t *fx)
{
    zkv_log_destroy(&fx->log);
    zkv_metrics_destroy(&fx->metrics);
    zkv_fs_mem_destroy(&fx->mem);
}

/*  PERSIST of ready_id: entries [first, last] of term, with a hard state
    of that term when hs. */
static void s_persist(fx_t *fx, uint64_t ready_id, uint64_t term, uint64_t first, uint64_t last,
                      bool hs)
{
    zkv_packer_t packer = {0};
    for (uint64_t i = first; i <= last; i++) {
        zkv_raft_entry_t e = {.index = i,
                              .term = term,
                              .type = ZKV_RAFT_ENTRY_NORMAL,
                              .data = (const uint8_t *) "v",
                              .size = 1};
        assert_true(zkv_pack_entry(&packer, &e));
    }
    zkv_msg_t msg = {.type = ZKV_MSG_PERSIST,
                     .persist = {.ready_id = ready_id,
                                 .flags = hs ? ZKV_MSG_PERSIST_HARD_STATE : 0,
                                 .term = term,
                                 .vote = 1},
                     .body = zkv_packer_frame(&packer)};
    zkv_packer_free(&packer);
    zkv_log_handle(fx->log, &msg);
    zkv_msg_clear(&msg);
}

static void s_hand_ack(fx_t *fx, uint64_t ready_id, uint64_t term, uint64_t index)
{
    zkv_msg_t msg = {.type = ZKV_MSG_ACK,
                     .ack = {ready_id, 2, 1, term, index, 77, 7301},
                     .body = zkv_msg_text_body("node1")};
    zkv_log_handle(fx->log, &msg);
    zkv_msg_clear(&msg);
}

/*  Handed over with its PERSIST, the ack leaves after the round's sync, to
    the leader's host and port, saying what it was given. */
static void test_ack_leaves_after_the_sync(void **state)
{
    (void) state;
    fx_t fx;
    s_start(&fx);
    s_persist(&fx, 1, 1, 1, 3, true);
    s_hand_ack(&fx, 1, 1, 3);
    assert_int_equal(fx.sent.n_acks, 0); /* written, not synced */
    zkv_log_round(fx.log);
    assert_int_equal(fx.sent.durable, 1);
    assert_int_equal(fx.sent.n_acks, 1);
    const zkv_raft_msg_t *a = &fx.sent.acks[0];
    assert_int_equal(a->type, ZKV_RAFT_MSG_APPEND_RESPONSE);
    assert_int_equal(a->from, 2);
    assert_int_equal(a->to, 1);
    assert_int_equal(a->term, 1);
    assert_int_equal(a->index, 3);
    assert_false(a->reject);
    assert_string_equal(fx.sent.hosts[0], "node1");
    assert_int_equal(fx.sent.ports[0], 7301);
    zkv_log_round(fx.log); /* nothing new: not sent again */
    assert_int_equal(fx.sent.n_acks, 1);

    /* Its PERSIST synced in a round before it came: it leaves at the next. */
    s_persist(&fx, 2, 1, 4, 4, false);
    zkv_log_round(fx.log);
    s_hand_ack(&fx, 2, 1, 4);
    zkv_log_round(fx.log);
    assert_int_equal(fx.sent.n_acks, 2);
    assert_int_equal(fx.sent.acks[1].index, 4);
    s_stop(&fx);
}

/*  Two in one round: the newer says more and goes alone. One of a term
    older than a hard state written meanwhile is dropped. */
static void test_newer_ack_replaces_and_old_term_drops(void **state)
{
    (void) state;
    fx_t fx;
    s_start(&fx);
    s_persist(&fx, 1, 1, 1, 2, true);
    s_hand_ack(&fx, 1, 1, 2);
    s_persist(&fx, 2, 1, 3, 5, false);
    s_hand_ack(&fx, 2, 1, 5);
    zkv_log_round(fx.log);
    assert_int_equal(fx.sent.n_acks, 1);
    assert_int_equal(fx.sent.acks[0].index, 5);

    s_persist(&fx, 3, 1, 6, 6, false);
    s_hand_ack(&fx, 3, 1, 6);
    s_persist(&fx, 4, 2, 7, 7, true); /* a new term before the sync */
    zkv_log_round(fx.log);
    assert_int_equal(fx.sent.durable, 4);
    assert_int_equal(fx.sent.n_acks, 1);
    s_stop(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ack_leaves_after_the_sync),
        cmocka_unit_test(test_newer_ack_replaces_and_old_term_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
