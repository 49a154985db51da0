/*  actors/boot: recovery from a data directory, for every state a crash can
    leave during a follower's snapshot install (the snapshot renamed into
    place, its log restart not yet durable) and for the states it must keep.
    Each test builds the directory on disk with the snapshot and WAL code,
    boots, and checks the applied and last index and the keys. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fs_testutil.h"
#include "boot.h"
#include "fs_fault.h"
#include "snapshot.h"
#include "zkv_error.h"

/*  A one-node configuration on dir. */
static void s_config(zkv_config_t *config, const char *dir)
{
    memset(config, 0, sizeof *config);
    config->id = 1;
    config->member_count = 1;
    config->members[0] = (zkv_member_t){.id = 1, .host = "127.0.0.1", 1, 2, 3};
    snprintf(config->data_dir, sizeof config->data_dir, "%s", dir);
    config->election_ticks = 10;
    config->heartbeat_ticks = 1;
}

/*  A snapshot at index and term holding key "k<index>". */
static void s_snapshot(const char *dir, uint64_t index, uint64_t term)
{
    char snap[1100], key[32];
    snprintf(snap, sizeof snap, "%s/snap", dir);
    int n = snprintf(key, sizeof key, "k%" PRIu64, index);
    zkv_btree_t *tree = zkv_btree_new();
    assert_int_equal(zkv_btree_put(tree, key, (size_t) n, "v", 1, NULL, NULL, NULL, NULL), ZKV_OK);
    zkv_kvstore_t *kv = zkv_kvstore_new();
    zkv_snapshot_meta_t meta = {.index = index, .term = term, .config = "c", .config_size = 1};
    meta.app = zkv_kvstore_encode_state(kv, &meta.app_size);
    assert_int_equal(zkv_snapshot_write(zkv_fs_posix(), snap, tree, &meta, NULL, NULL, 0), ZKV_OK);
    free(meta.app);
    zkv_kvstore_destroy(&kv);
    zkv_btree_destroy(&tree);
}

/*  A WAL from first on holding terms[i] at first + i, and a hard state. */
static void s_wal(const char *dir, uint64_t first, const uint64_t *terms, size_t n,
                  zkv_wal_hard_state_t hs)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/wal", dir);
    zkv_wal_options_t options = {.first_index = first};
    zkv_wal_t *wal = zkv_wal_new(zkv_fs_posix(), path, &options);
    assert_int_equal(zkv_wal_open(wal, NULL), ZKV_OK);
    for (size_t i = 0; i < n; i++) {
        zkv_wal_entry_t e = {.index = first + i, .term = terms[i], .type = ZKV_RAFT_ENTRY_NOOP};
        assert_int_equal(zkv_wal_append(wal, &e, 1), ZKV_OK);
    }
    assert_int_equal(zkv_wal_set_hard_state(wal, &hs), ZKV_OK);
    assert_int_equal(zkv_wal_sync(wal), ZKV_OK);
    zkv_wal_destroy(&wal);
}

static void s_boot_ok(const char *dir, zkv_boot_t *boot)
{
    zkv_config_t config;
    s_config(&config, dir);
    char err[1024] = "";
    int rc = zkv_boot(&config, boot, err, sizeof err);
    if (rc != 0)
        fail_msg("boot failed: %s", err);
}

static bool s_has_key(const zkv_boot_t *boot, const char *key)
{
    zkv_bytes_t value;
    return zkv_btree_get(zkv_kvstore_tree(boot->kv), key, strlen(key), &value) == ZKV_OK;
}

/*  Boots dir twice (the first boot's repair must itself be a bootable state)
    and checks snapshot, applied, last and commit index and the keys. */
static void s_expect(const char *dir, uint64_t snapshot, uint64_t last, uint64_t commit,
                     const char *key)
{
    for (int round = 0; round < 2; round++) {
        zkv_boot_t boot;
        s_boot_ok(dir, &boot);
        zkv_raft_status_t st;
        zkv_raft_status(boot.raft, &st);
        assert_int_equal(boot.snapshot_index, snapshot);
        assert_int_equal(st.snapshot_index, snapshot);
        assert_int_equal(st.applied, snapshot);
        assert_int_equal(zkv_kvstore_applied(boot.kv), snapshot);
        assert_int_equal(st.last_index, last);
        assert_int_equal(zkv_wal_last_index(boot.wal), last);
        assert_int_equal(st.commit, commit);
        assert_true(s_has_key(&boot, key));
        zkv_boot_clear(&boot);
    }
}

/*  Crash after the install renamed snapshot 10 of term 3 into place and
    before the log's reset was durable: the old log holds entry 10 of term 2
    and stale entries 11..20 of term 2 after it. They do not belong to the
    snapshot: the log restarts at 11. The older snapshot is still there (it
    goes only once the reset is durable); the newest one is used. */
static void test_boot_stale_entries_after_snapshot(void **state)
{
    (void) state;
    char *dir = t_tmpdir("boot");
    s_snapshot(dir, 5, 1);
    s_snapshot(dir, 10, 3);
    uint64_t terms[20];
    for (size_t i = 0; i < 20; i++)
        terms[i] = i < 5 ? 1 : 2;
    s_wal(dir, 1, terms, 20, (zkv_wal_hard_state_t){.term = 3, .commit = 20});
    s_expect(dir, 10, 10, 10, "k10");
    t_rmtree(dir);
    free(dir);
}

/*  The same crash with the log holding exactly up to the snapshot's index in
    an older term: nothing follows, but the stale entry at 10 must not stay
    in front of what the leader sends next. */
static void test_boot_stale_entry_at_snapshot_index(void **state)
{
    (void) state;
    char *dir = t_tmpdir("boot");
    s_snapshot(dir, 10, 3);
    uint64_t terms[10] = {1, 1, 2, 2, 2, 2, 2, 2, 2, 2};
    s_wal(dir, 1, terms, 10, (zkv_wal_hard_state_t){.term = 2, .vote = 1, .commit = 4});
    zkv_boot_t boot;
    s_boot_ok(dir, &boot);
    assert_int_equal(zkv_wal_first_index(boot.wal), 11);
    zkv_raft_status_t st;
    zkv_raft_status(boot.raft, &st);
    assert_int_equal(st.term, 3); /* the snapshot's term: no vote in it */
    assert_int_equal(st.vote, 0);
    zkv_boot_clear(&boot);
    s_expect(dir, 10, 10, 10, "k10");
    t_rmtree(dir);
    free(dir);
}

/*  Crash before the reset with a log that ends below the snapshot. */
static void test_boot_log_behind_snapshot(void **state)
{
    (void) state;
    char *dir = t_tmpdir("boot");
    s_snapshot(dir, 10, 3);
    uint64_t terms[7] = {1, 1, 1, 2, 2, 2, 2};
    s_wal(dir, 1, terms, 7, (zkv_wal_hard_state_t){.term = 2, .commit = 7});
    s_expect(dir, 10, 10, 10, "k10");
    t_rmtree(dir);
    free(dir);
}

/*  A log that holds the snapshot's entry in its term continues it: the
    entries after it stay, the commit index is clamped to the log's end. */
static void test_boot_matching_log_kept(void **state)
{
    (void) state;
    char *dir = t_tmpdir("boot");
    s_snapshot(dir, 10, 3);
    uint64_t terms[15] = {1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4};
    s_wal(dir, 1, terms, 15, (zkv_wal_hard_state_t){.term = 4, .commit = 30});
    s_expect(dir, 10, 15, 15, "k10");
    t_rmtree(dir);
    free(dir);
}

/*  A log restarted right after the snapshot (a durable install) keeps its
    entries; a commit index below the snapshot is raised to it. */
static void test_boot_log_restarted_after_snapshot_kept(void **state)
{
    (void) state;
    char *dir = t_tmpdir("boot");
    s_snapshot(dir, 10, 3);
    uint64_t terms[4] = {3, 3, 4, 4};
    s_wal(dir, 11, terms, 4, (zkv_wal_hard_state_t){.term = 4, .commit = 2});
    s_expect(dir, 10, 14, 10, "k10");
    t_rmtree(dir);
    free(dir);
}

/*  Whether snapshot 30 of term 2 is in dir's snap directory. */
static bool s_installed(const char *dir)
{
    char path[1200], name[ZKV_SNAPSHOT_NAME_SIZE + 1];
    zkv_snapshot_name(30, 2, name);
    snprintf(path, sizeof path, "%s/snap/%s", dir, name);
    return access(path, F_OK) == 0;
}

/*  A follower installs snapshot 30 of term 2 over snapshot 10 and log
    11..20, as storage and the log actor do: receive, finish, restart the log
    after it, sync, prune. fs fails as armed. ZKV_OK or the first failure. */
static int s_install(const zkv_fs_t *fs, const char *dir, const char *source)
{
    char snap[1100], wal_dir[1100], path[1200], name[ZKV_SNAPSHOT_NAME_SIZE + 1];
    snprintf(snap, sizeof snap, "%s/snap", dir);
    snprintf(wal_dir, sizeof wal_dir, "%s/wal", dir);
    zkv_snapshot_name(30, 2, name);
    snprintf(path, sizeof path, "%s/snap/%s", source, name);
    zkv_snapshot_file_t *file;
    assert_int_equal(zkv_snapshot_file_open(zkv_fs_posix(), path, &file, NULL, 0), ZKV_OK);
    zkv_snapshot_recv_t *recv = zkv_snapshot_recv_new(fs, snap, 30, 2);
    uint8_t chunk[64];
    size_t got = 1;
    int rc = ZKV_OK;
    for (uint64_t at = 0; rc == ZKV_OK && got > 0; at += got) {
        assert_int_equal(zkv_snapshot_file_read(file, at, chunk, sizeof chunk, &got), ZKV_OK);
        rc = got ? zkv_snapshot_recv_write(recv, at, chunk, got) : ZKV_OK;
    }
    zkv_snapshot_file_destroy(&file);
    if (rc == ZKV_OK)
        rc = zkv_snapshot_recv_finish(recv, NULL, NULL, NULL);
    zkv_snapshot_recv_destroy(&recv);
    zkv_wal_t *wal = rc == ZKV_OK ? zkv_wal_new(fs, wal_dir, NULL) : NULL;
    if (wal && (rc = zkv_wal_open(wal, NULL)) == ZKV_OK && (rc = zkv_wal_reset(wal, 31)) == ZKV_OK)
        rc = zkv_wal_sync(wal);
    zkv_wal_destroy(&wal);
    return rc == ZKV_OK ? zkv_snapshot_prune(fs, snap, name, NULL, NULL, 0) : rc;
}

/*  The disk fills (ENOSPC) at every write, sync, rename, ... of an install in
    turn: the node, restarted with space back, boots from what is left, on
    the old snapshot and its log or on the new one. */
static void test_boot_after_install_on_full_disk(void **state)
{
    (void) state;
    char *source = t_tmpdir("bootsrc");
    s_snapshot(source, 30, 2);
    const zkv_fs_op_t ops[] = {ZKV_FS_OP_OPEN,     ZKV_FS_OP_PWRITE, ZKV_FS_OP_SYNC,
                               ZKV_FS_OP_DATASYNC, ZKV_FS_OP_RENAME, ZKV_FS_OP_SYNC_DIR,
                               ZKV_FS_OP_ALLOCATE, ZKV_FS_OP_UNLINK, ZKV_FS_OP_MKDIR};
    zkv_fs_fault_t *fault = zkv_fs_fault_new(zkv_fs_posix());
    zkv_fs_fault_errno(fault, ENOSPC);
    size_t failures = 0;
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (unsigned long skip = 0;; skip++) {
            char *dir = t_tmpdir("boot");
            uint64_t terms[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
            s_snapshot(dir, 10, 1);
            s_wal(dir, 11, terms, 10, (zkv_wal_hard_state_t){.term = 1, .commit = 20});
            zkv_fs_fault_disarm(fault);
            zkv_fs_fault_arm(fault, ops[o], skip, false);
            unsigned long before = zkv_fs_fault_failures(fault);
            int rc = s_install(zkv_fs_fault_fs(fault), dir, source);
            bool tripped = zkv_fs_fault_failures(fault) > before;
            assert_true(tripped || rc == ZKV_OK);
            failures += tripped;
            if (s_installed(dir))
                s_expect(dir, 30, 30, 30, "k30");
            else
                s_expect(dir, 10, 20, 20, "k10");
            t_rmtree(dir);
            free(dir);
            if (!tripped)
                break;
        }
    }
    assert_true(failures >= 9);
    zkv_fs_fault_destroy(&fault);
    t_rmtree(source);
    free(source);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_boot_stale_entries_after_snapshot, t_teardown),
        cmocka_unit_test_teardown(test_boot_stale_entry_at_snapshot_index, t_teardown),
        cmocka_unit_test_teardown(test_boot_log_behind_snapshot, t_teardown),
        cmocka_unit_test_teardown(test_boot_matching_log_kept, t_teardown),
        cmocka_unit_test_teardown(test_boot_log_restarted_after_snapshot_kept, t_teardown),
        cmocka_unit_test_teardown(test_boot_after_install_on_full_disk, t_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
