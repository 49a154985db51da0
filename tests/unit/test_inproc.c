/*  Packed batches between actors: what is packed reads back, record by
    record, and a damaged frame is reported, never read past its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "inproc.h"
#include "msg.h"
#include "slab.h"
#include "zkv_error.h"
#include "le.h"

static void test_entries_round_trip(void **state)
{
    (void) state;
    zkv_packer_t packer = {0};
    uint8_t data[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t) (i * 7);
    /* Sizes 0 .. 2999 make the buffer grow several times. */
    for (uint32_t i = 0; i < 300; i++) {
        zkv_raft_entry_t e = {
            .index = 100 + i, .term = 7, .type = i % 2, .data = data, .size = i * 10};
        assert_true(zkv_pack_entry(&packer, &e));
    }
    zframe_t *frame = zkv_packer_frame(&packer);
    assert_non_null(frame);
    assert_int_equal(packer.size, 0);
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, frame);
    uint32_t n = 0;
    zkv_raft_entry_t e;
    int rc;
    while ((rc = zkv_unpack_entry(&in, &e)) == 1) {
        assert_int_equal(e.index, 100 + n);
        assert_int_equal(e.term, 7);
        assert_int_equal(e.type, n % 2);
        assert_int_equal(e.size, n * 10);
        assert_memory_equal(e.data, data, e.size);
        n++;
    }
    assert_int_equal(n, 300);
    assert_int_equal(rc, 0);
    assert_int_equal(zkv_unpack_entry(&in, &e), 0);
    zframe_destroy(&frame);
    zkv_packer_free(&packer);
}

static void test_empty_batch(void **state)
{
    (void) state;
    zkv_packer_t packer = {0};
    zframe_t *frame = zkv_packer_frame(&packer);
    assert_non_null(frame);
    assert_int_equal(zframe_size(frame), 0);
    zkv_unpacker_t in;
    const uint8_t *rec;
    size_t size;
    zkv_unpacker_init(&in, frame);
    assert_int_equal(zkv_unpack_record(&in, &rec, &size), 0);
    zkv_unpacker_init(&in, NULL); /* a message without the frame */
    assert_int_equal(zkv_unpack_record(&in, &rec, &size), 0);
    zframe_destroy(&frame);
}

static void test_results_round_trip(void **state)
{
    (void) state;
    zkv_packer_t packer = {0};
    zkv_write_result_t a = {
        .client_id = 9, .sequence = 3, .status = -4, .found = true, .index = 77};
    zkv_write_result_t b = {.client_id = 1,
                            .sequence = 2,
                            .has_data = true,
                            .index = 78,
                            .count = 12345,
                            .cmd_type = 6,
                            .data = (const uint8_t *) "old",
                            .data_size = 3};
    assert_true(zkv_pack_result(&packer, &a));
    assert_true(zkv_pack_result(&packer, &b));
    zframe_t *frame = zkv_packer_frame(&packer);
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, frame);
    zkv_write_result_t r;
    assert_int_equal(zkv_unpack_result(&in, &r), 1);
    assert_int_equal(r.client_id, 9);
    assert_int_equal(r.sequence, 3);
    assert_int_equal(r.status, -4);
    assert_true(r.found);
    assert_false(r.has_data);
    assert_int_equal(r.index, 77);
    assert_int_equal(zkv_unpack_result(&in, &r), 1);
    assert_true(r.has_data);
    assert_int_equal(r.count, 12345);
    assert_int_equal(r.cmd_type, 6);
    assert_int_equal(r.data_size, 3);
    assert_memory_equal(r.data, "old", 3);
    assert_int_equal(zkv_unpack_result(&in, &r), 0);
    zframe_destroy(&frame);
    zkv_packer_free(&packer);
}

/*  Every cut of a packed frame, and a length that claims more than is left:
    the reader stops with -1 inside the frame and says so only once. */
static void test_damaged_frames(void **state)
{
    (void) state;
    zkv_packer_t packer = {0};
    for (uint32_t i = 0; i < 3; i++) {
        zkv_raft_entry_t e = {
            .index = i + 1, .term = 1, .data = (const uint8_t *) "abcdef", .size = 6};
        assert_true(zkv_pack_entry(&packer, &e));
    }
    zframe_t *whole = zkv_packer_frame(&packer);
    size_t total = zframe_size(whole);
    for (size_t cut = 1; cut < total; cut++) {
        zframe_t *frame = zframe_new(zframe_data(whole), cut);
        zkv_unpacker_t in;
        zkv_unpacker_init(&in, frame);
        const uint8_t *rec;
        size_t size;
        int rc, records = 0;
        while ((rc = zkv_unpack_record(&in, &rec, &size)) == 1) {
            assert_true(rec + size <= zframe_data(frame) + cut);
            records++;
        }
        /* A cut on a record boundary is a shorter, valid batch. */
        bool boundary = cut % (total / 3) == 0;
        assert_int_equal(rc, boundary ? 0 : -1);
        assert_int_equal(records, (int) (cut / (total / 3)));
        assert_int_equal(zkv_unpack_record(&in, &rec, &size), 0);
        zframe_destroy(&frame);
    }
    uint8_t forged[8];
    zkv_le32_put(forged, UINT32_MAX);
    zframe_t *frame = zframe_new(forged, sizeof forged);
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, frame);
    const uint8_t *rec;
    size_t size;
    assert_int_equal(zkv_unpack_record(&in, &rec, &size), -1);
    zframe_destroy(&frame);
    zframe_destroy(&whole);
    zkv_packer_free(&packer);
}

/*  Records too short for an entry (20 bytes) or a result (39): -1, and the
    next record still reads. */
static void test_short_records_refused(void **state)
{
    (void) state;
    size_t sizes[] = {19, 20, 38, 39};
    zkv_packer_t packer = {0};
    for (size_t i = 0; i < 4; i++)
        memset(zkv_pack_record(&packer, sizes[i]), 0, sizes[i]);
    zframe_t *frame = zkv_packer_frame(&packer);
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, frame);
    zkv_raft_entry_t e;
    assert_int_equal(zkv_unpack_entry(&in, &e), -1);
    assert_int_equal(zkv_unpack_entry(&in, &e), 1);
    assert_int_equal(e.size, 0);
    zkv_write_result_t r;
    assert_int_equal(zkv_unpack_result(&in, &r), -1);
    assert_int_equal(zkv_unpack_result(&in, &r), 1);
    assert_int_equal(zkv_unpack_result(&in, &r), 0);
    zframe_destroy(&frame);
    zkv_packer_free(&packer);
}

/*  A put's record travels in place of its bytes and outlives the tree while
    the message holds it; a delete's key travels copied. Clearing the message,
    read or not, lets go of the records (LeakSanitizer sees one kept). */
static void test_events_share_records(void **state)
{
    (void) state;
    zkv_btree_t *tree = zkv_btree_new();
    zkv_btree_meta_t meta = {.create_revision = 3, .mod_revision = 9, .version = 4, .lease = 7};
    assert_int_equal(zkv_btree_put(tree, "key", 3, "value", 5, &meta, NULL, NULL, NULL), ZKV_OK);
    zkv_btree_rec_t *rec = zkv_btree_last_put(tree);
    zkv_event_t put = {.type = ZKV_EVENT_PUT, .revision = 9, .seq = 2, .meta = meta, .rec = rec};
    put.key = zkv_btree_rec_key(rec);
    put.value = zkv_btree_rec_value(rec, NULL);
    zkv_event_t del = {
        .type = ZKV_EVENT_DELETE, .revision = 9, .seq = 3, .key = {(const uint8_t *) "gone", 4}};
    del.meta.mod_revision = 9;
    zkv_packer_t packer = {0};
    zkv_msg_t msgs[2];
    for (int m = 0; m < 2; m++) {
        assert_true(zkv_pack_event(&packer, &put));
        assert_true(zkv_pack_event(&packer, &del));
        msgs[m] = (zkv_msg_t){.type = ZKV_MSG_EVENTS, .body = zkv_packer_frame(&packer)};
    }
    zkv_btree_destroy(&tree); /* the two messages' holds keep the record */
    zkv_unpacker_t in;
    zkv_unpacker_init(&in, msgs[0].body);
    zkv_event_t e;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(zkv_unpack_event(&in, &e), 1);
        assert_int_equal(e.type, i == 0 ? ZKV_EVENT_PUT : ZKV_EVENT_DELETE);
        assert_int_equal(e.seq, 2 + i);
        assert_ptr_equal(e.rec, i == 0 ? rec : NULL);
        assert_memory_equal(e.key.data, i == 0 ? "key" : "gone", e.key.size);
        assert_int_equal(e.value.size, i == 0 ? 5 : 0);
        assert_int_equal(e.meta.lease, i == 0 ? 7 : 0);
        assert_int_equal(e.meta.version, i == 0 ? 4 : 0);
    }
    assert_int_equal(zkv_unpack_event(&in, &e), 0);
    zkv_msg_clear(&msgs[0]);
    zkv_msg_clear(&msgs[1]); /* unread */
    assert_int_equal(zkv_slab_live(), 0);
    zkv_packer_free(&packer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries_round_trip),    cmocka_unit_test(test_empty_batch),
        cmocka_unit_test(test_results_round_trip),    cmocka_unit_test(test_damaged_frames),
        cmocka_unit_test(test_short_records_refused), cmocka_unit_test(test_events_share_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
