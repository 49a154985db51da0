/*  actors/membership and actors/cluster_file: the membership's codec and
    single changes, the cluster id, and the cluster file's durability and
    damage checks (on fs_mem, crashed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_file.h"
#include "fs_mem.h"
#include "membership.h"
#include "zkv_error.h"

static zkv_member_t s_member(uint32_t id, bool learner)
{
    zkv_member_t m = {.id = id,
                      .pub_port = (uint16_t) (7200 + id),
                      .router_port = (uint16_t) (7300 + id),
                      .client_port = (uint16_t) (7100 + id),
                      .learner = learner};
    strcpy(m.host, "127.0.0.1");
    return m;
}

static zkv_membership_t s_three(void)
{
    zkv_membership_t m = {0};
    for (uint32_t id = 1; id <= 3; id++)
        m.members[m.count++] = s_member(id, false);
    return m;
}

static void test_codec_round_trip(void **state)
{
    (void) state;
    zkv_membership_t m = s_three(), out;
    zkv_member_t four = s_member(4, true);
    char err[128];
    assert_int_equal(zkv_membership_add(&m, &four, err, sizeof err), ZKV_OK);
    assert_int_equal(zkv_membership_remove(&m, 2, err, sizeof err), ZKV_OK);
    size_t size = 0;
    uint8_t *data = zkv_membership_encode(&m, &size);
    assert_non_null(data);
    assert_int_equal(zkv_membership_decode(data, size, &out), ZKV_OK);
    assert_int_equal(out.count, 3);
    assert_int_equal(out.n_removed, 1);
    assert_int_equal(out.removed[0], 2);
    assert_true(zkv_membership_find(&out, 4)->learner);
    assert_int_equal(zkv_membership_find(&out, 4)->router_port, 7304);
    zkv_raft_members_t ids;
    assert_int_equal(zkv_membership_decode_raft(NULL, data, size, &ids), ZKV_OK);
    assert_int_equal(ids.n_voters, 2);
    assert_int_equal(ids.n_learners, 1);
    assert_int_equal(zkv_membership_decode(data, size - 1, &out), ZKV_EINVAL);
    free(data);
}

static void test_changes_checked(void **state)
{
    (void) state;
    zkv_membership_t m = s_three();
    char err[128] = "";
    zkv_member_t two = s_member(2, false), nine = s_member(9, true);
    assert_int_equal(zkv_membership_add(&m, &two, err, sizeof err), ZKV_EINVAL);
    assert_string_equal(err, "member 2 exists");
    assert_int_equal(zkv_membership_promote(&m, 1, err, sizeof err), ZKV_EINVAL);
    assert_int_equal(zkv_membership_remove(&m, 7, err, sizeof err), ZKV_EINVAL);
    assert_string_equal(err, "no member 7");
    assert_int_equal(zkv_membership_remove(&m, 3, err, sizeof err), ZKV_OK);
    zkv_member_t three = s_member(3, true);
    assert_int_equal(zkv_membership_add(&m, &three, err, sizeof err), ZKV_EINVAL);
    assert_non_null(strstr(err, "was removed"));
    assert_int_equal(zkv_membership_remove(&m, 2, err, sizeof err), ZKV_OK);
    assert_int_equal(zkv_membership_remove(&m, 1, err, sizeof err), ZKV_EINVAL);
    assert_string_equal(err, "cannot remove the last voter");
    assert_int_equal(zkv_membership_add(&m, &nine, err, sizeof err), ZKV_OK);
    assert_int_equal(zkv_membership_promote(&m, 9, err, sizeof err), ZKV_OK);
    assert_false(zkv_membership_find(&m, 9)->learner);
}

static void test_cluster_id(void **state)
{
    (void) state;
    zkv_membership_t a = s_three(), b = s_three();
    zkv_member_t tmp = b.members[0];
    b.members[0] = b.members[2];
    b.members[2] = tmp; /* same members, another order */
    assert_int_equal(zkv_membership_cluster_id(&a), zkv_membership_cluster_id(&b));
    b.members[1].client_port++;
    assert_int_not_equal(zkv_membership_cluster_id(&a), zkv_membership_cluster_id(&b));
    assert_int_not_equal(zkv_membership_cluster_id(&a), 0);
}

static void test_cluster_file_survives_crash_and_detects_damage(void **state)
{
    (void) state;
    zkv_fs_mem_t *mem = zkv_fs_mem_new();
    const zkv_fs_t *fs = zkv_fs_mem_fs(mem);
    assert_int_equal(zkv_fs_mkdir(fs, "d"), ZKV_OK);
    assert_int_equal(zkv_fs_sync_dir(fs, ""), ZKV_OK);
    zkv_cluster_file_t file = {.cluster_id = 0xabc, .state = ZKV_CLUSTER_MEMBER}, out;
    file.initial = s_three();
    char err[256];
    assert_int_equal(zkv_cluster_file_load(fs, "d", &out, err, sizeof err), ZKV_ENOTFOUND);
    assert_int_equal(zkv_cluster_file_save(fs, "d", &file), ZKV_OK);
    uint64_t rng = 7;
    assert_int_equal(zkv_fs_mem_crash(mem, ZKV_FS_MEM_TORN, &rng), ZKV_OK);
    assert_int_equal(zkv_cluster_file_load(fs, "d", &out, err, sizeof err), ZKV_OK);
    assert_int_equal(out.cluster_id, 0xabc);
    assert_int_equal(out.initial.count, 3);
    file.state = ZKV_CLUSTER_REMOVED;
    assert_int_equal(zkv_cluster_file_save(fs, "d", &file), ZKV_OK);
    assert_int_equal(zkv_fs_mem_crash(mem, ZKV_FS_MEM_TORN, &rng), ZKV_OK);
    assert_int_equal(zkv_cluster_file_load(fs, "d", &out, err, sizeof err), ZKV_OK);
    assert_int_equal(out.state, ZKV_CLUSTER_REMOVED);
    /* One flipped byte. */
    int fd;
    uint8_t byte;
    size_t got;
    assert_int_equal(zkv_fs_open(fs, "d/cluster", ZKV_FS_WRITE, &fd), ZKV_OK);
    assert_int_equal(zkv_fs_pread(fs, fd, &byte, 1, 12, &got), ZKV_OK);
    byte ^= 0x10;
    assert_int_equal(zkv_fs_pwrite(fs, fd, &byte, 1, 12), ZKV_OK);
    zkv_fs_close(fs, fd);
    assert_int_equal(zkv_cluster_file_load(fs, "d", &out, err, sizeof err), ZKV_ECORRUPT);
    assert_non_null(strstr(err, "damaged"));
    zkv_fs_mem_destroy(&mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_round_trip),
        cmocka_unit_test(test_changes_checked),
        cmocka_unit_test(test_cluster_id),
        cmocka_unit_test(test_cluster_file_survives_crash_and_detects_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
