/*  fs_mem: the in-memory file system that models crashes. The same checks of
    the interface run on fs_posix and fs_mem; then what a crash keeps and
    loses, torn tails, injected failures and a full disk; then the real WAL
    and snapshots crashed at seeded points on it (a failing seed is printed:
    ZKV_SEED=<n> runs that one alone). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fs_testutil.h"

#include "btree.h"
#include "fs.h"
#include "fs_mem.h"
#include "snapshot.h"
#include "splitmix.h"
#include "wal.h"
#include "zkv_error.h"

#define ERR_SIZE 512
#define SEEDS 300

/*  ---- small helpers over any zkv_fs_t */

static void s_put(const zkv_fs_t *fs, const char *path, const char *text, bool sync)
{
    int fd;
    assert_int_equal(zkv_fs_open(fs, path, ZKV_FS_WRITE | ZKV_FS_CREATE | ZKV_FS_TRUNC, &fd),
                     ZKV_OK);
    assert_int_equal(zkv_fs_pwrite(fs, fd, text, strlen(text), 0), ZKV_OK);
    if (sync)
        assert_int_equal(zkv_fs_datasync(fs, fd), ZKV_OK);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
}

/*  The file's content as a string, or NULL if it does not exist. */
static char *s_get(const zkv_fs_t *fs, const char *path)
{
    int fd;
    int rc = zkv_fs_open(fs, path, ZKV_FS_READ, &fd);
    if (rc == ZKV_ENOTFOUND)
        return NULL;
    assert_int_equal(rc, ZKV_OK);
    uint64_t size;
    assert_int_equal(zkv_fs_size(fs, fd, &size), ZKV_OK);
    char *text = calloc(1, (size_t) size + 1);
    assert_non_null(text);
    assert_int_equal(zkv_fs_read_exact(fs, fd, text, (size_t) size, 0, NULL), ZKV_OK);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
    return text;
}

static void s_expect(const zkv_fs_t *fs, const char *path, const char *want)
{
    char *got = s_get(fs, path);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

typedef struct {
    char names[16][64];
    size_t count;
} s_names_t;

static bool s_collect(const char *name, void *arg)
{
    s_names_t *n = arg;
    assert_true(n->count < 16);
    snprintf(n->names[n->count++], 64, "%s", name);
    return true;
}

/*  ---- 1. the interface: one body run on fs_posix and on fs_mem */

static void s_open_flags(const zkv_fs_t *fs, const char *a)
{
    int fd;
    errno = 0;
    assert_int_equal(zkv_fs_open(fs, a, ZKV_FS_READ, &fd), ZKV_ENOTFOUND);
    assert_int_equal(errno, ENOENT);
    s_put(fs, a, "hello", false);
    assert_int_equal(zkv_fs_open(fs, a, ZKV_FS_WRITE | ZKV_FS_CREATE | ZKV_FS_EXCL, &fd), ZKV_EIO);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(zkv_fs_open(fs, a, ZKV_FS_WRITE | ZKV_FS_CREATE, &fd), ZKV_OK);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
    s_expect(fs, a, "hello"); /* CREATE alone keeps the content */
    assert_int_equal(zkv_fs_open(fs, a, ZKV_FS_WRITE | ZKV_FS_TRUNC, &fd), ZKV_OK);
    uint64_t size = 1;
    assert_int_equal(zkv_fs_size(fs, fd, &size), ZKV_OK);
    assert_int_equal(size, 0);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
    assert_int_equal(zkv_fs_open(fs, a, ZKV_FS_READ, &fd), ZKV_OK);
    assert_int_equal(zkv_fs_pwrite(fs, fd, "x", 1, 0), ZKV_EIO); /* read only */
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
}

static void s_read_write(const zkv_fs_t *fs, const char *a)
{
    int fd;
    assert_int_equal(zkv_fs_open(fs, a, ZKV_FS_WRITE | ZKV_FS_CREATE | ZKV_FS_TRUNC, &fd), ZKV_OK);
    char buf[16];
    size_t got = 99;
    assert_int_equal(zkv_fs_pread(fs, fd, buf, sizeof buf, 0, &got), ZKV_OK);
    assert_int_equal(got, 0); /* at the end of an empty file */
    assert_int_equal(zkv_fs_pwrite(fs, fd, "abc", 3, 5), ZKV_OK);
    assert_int_equal(zkv_fs_pread(fs, fd, buf, sizeof buf, 0, &got), ZKV_OK);
    assert_int_equal(got, 8);
    assert_memory_equal(buf, "\0\0\0\0\0abc", 8); /* the gap reads as zeros */
    assert_int_equal(zkv_fs_pread(fs, fd, buf, 4, 6, &got), ZKV_OK);
    assert_int_equal(got, 2);
    assert_int_equal(zkv_fs_pread(fs, fd, buf, 4, 8, &got), ZKV_OK);
    assert_int_equal(got, 0);
    assert_int_equal(zkv_fs_pread(fs, fd, buf, 4, 100, &got), ZKV_OK);
    assert_int_equal(got, 0);
    assert_int_equal(zkv_fs_read_exact(fs, fd, buf, 4, 6, &got), ZKV_ETORN);
    assert_int_equal(zkv_fs_truncate(fs, fd, 2), ZKV_OK);
    assert_int_equal(zkv_fs_truncate(fs, fd, 4), ZKV_OK);
    assert_int_equal(zkv_fs_pread(fs, fd, buf, sizeof buf, 0, &got), ZKV_OK);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "\0\0\0\0", 4); /* truncated bytes do not come back */
    int rc = zkv_fs_allocate(fs, fd, 64);
    uint64_t size;
    assert_int_equal(zkv_fs_size(fs, fd, &size), ZKV_OK);
    assert_true(rc == ZKV_OK ? size == 64 : rc == ZKV_ENOTSUP && size == 4);
    rc = zkv_fs_allocate(fs, fd, 8); /* never shrinks */
    assert_true(rc == ZKV_OK || rc == ZKV_ENOTSUP);
    assert_int_equal(zkv_fs_size(fs, fd, &size), ZKV_OK);
    assert_true(size >= 4);
    assert_int_equal(zkv_fs_datasync(fs, fd), ZKV_OK);
    assert_int_equal(zkv_fs_sync(fs, fd), ZKV_OK);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
}

static void s_names(const zkv_fs_t *fs, const char *dir)
{
    char path[512], sub[512];
    const char *names[] = {"b.wal", "a.snap", "c", "a", "0001-x.wal"};
    for (size_t i = 0; i < 5; i++) {
        t_path(path, sizeof path, dir, names[i]);
        s_put(fs, path, names[i], false);
    }
    t_path(sub, sizeof sub, dir, "sub");
    assert_int_equal(zkv_fs_mkdir(fs, sub), ZKV_OK);
    assert_int_equal(zkv_fs_mkdir(fs, sub), ZKV_OK); /* already there */
    t_path(path, sizeof path, sub, "inner");
    s_put(fs, path, "inner", false);
    t_path(path, sizeof path, dir, "a");
    assert_int_equal(zkv_fs_mkdir(fs, path), ZKV_EIO); /* a file */
    t_path(path, sizeof path, dir, "none/deeper");
    assert_int_equal(zkv_fs_mkdir(fs, path), ZKV_ENOTFOUND);
    s_names_t got = {0};
    assert_int_equal(zkv_fs_list(fs, dir, s_collect, &got), ZKV_OK);
    assert_int_equal(got.count, 6);
    const char *want[] = {"0001-x.wal", "a", "a.snap", "b.wal", "c", "sub"};
    qsort(got.names, got.count, sizeof got.names[0], (int (*)(const void *, const void *)) strcmp);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(got.names[i], want[i]);
    t_path(path, sizeof path, dir, "none");
    assert_int_equal(zkv_fs_list(fs, path, s_collect, &got), ZKV_ENOTFOUND);
    assert_int_equal(zkv_fs_sync_dir(fs, dir), ZKV_OK);
}

static void s_rename_unlink(const zkv_fs_t *fs, const char *dir)
{
    char a[512], b[512];
    t_path(a, sizeof a, dir, "ra");
    t_path(b, sizeof b, dir, "rb");
    s_put(fs, a, "first", false);
    s_put(fs, b, "second", false);
    int fd;
    assert_int_equal(zkv_fs_open(fs, b, ZKV_FS_READ, &fd), ZKV_OK);
    assert_int_equal(zkv_fs_rename(fs, a, b), ZKV_OK); /* replaces */
    s_expect(fs, b, "first");
    s_expect(fs, a, NULL);
    char buf[8];
    size_t got;
    assert_int_equal(zkv_fs_pread(fs, fd, buf, sizeof buf, 0, &got), ZKV_OK);
    assert_int_equal(got, 6); /* the replaced file stays readable while open */
    assert_memory_equal(buf, "second", 6);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
    errno = 0;
    assert_int_equal(zkv_fs_rename(fs, a, b), ZKV_ENOTFOUND);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(zkv_fs_unlink(fs, b), ZKV_OK);
    errno = 0;
    assert_int_equal(zkv_fs_unlink(fs, b), ZKV_ENOTFOUND);
    assert_int_equal(errno, ENOENT);
    s_expect(fs, b, NULL);
}

static void s_semantics(const zkv_fs_t *fs, const char *dir)
{
    char a[512];
    t_path(a, sizeof a, dir, "f");
    s_open_flags(fs, a);
    s_read_write(fs, a);
    s_rename_unlink(fs, dir);
    assert_int_equal(zkv_fs_unlink(fs, a), ZKV_OK);
    s_names(fs, dir);
}

static void test_semantics_posix(void **state)
{
    (void) state;
    char *dir = t_tmpdir("fsmem");
    s_semantics(zkv_fs_posix(), dir);
    t_rmtree(dir);
    free(dir);
}

static void test_semantics_mem(void **state)
{
    (void) state;
    zkv_fs_mem_t *m = zkv_fs_mem_new();
    assert_non_null(m);
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    assert_int_equal(zkv_fs_mkdir(fs, "/tmp"), ZKV_OK);
    assert_int_equal(zkv_fs_mkdir(fs, "/tmp/d"), ZKV_OK);
    s_semantics(fs, "/tmp/d");
    /*  One name, however it is spelled; and the list really is sorted. */
    s_expect(fs, "tmp//d/./c", "c");
    s_names_t got = {0};
    assert_int_equal(zkv_fs_list(fs, "tmp/d", s_collect, &got), ZKV_OK);
    for (size_t i = 1; i < got.count; i++)
        assert_true(strcmp(got.names[i - 1], got.names[i]) < 0);
    assert_int_equal(zkv_fs_unlink(fs, "tmp/d/sub"), ZKV_EIO); /* a directory */
    zkv_fs_mem_destroy(&m);
    assert_null(m);
}

/*  ---- 2. what a crash keeps */

/*  A file system with the durable directory d. */
static zkv_fs_mem_t *s_mem(void)
{
    zkv_fs_mem_t *m = zkv_fs_mem_new();
    assert_non_null(m);
    assert_int_equal(zkv_fs_mkdir(zkv_fs_mem_fs(m), "d"), ZKV_OK);
    assert_int_equal(zkv_fs_sync_dir(zkv_fs_mem_fs(m), "."), ZKV_OK);
    return m;
}

static void s_crash(zkv_fs_mem_t *m)
{
    assert_int_equal(zkv_fs_mem_crash(m, ZKV_FS_MEM_LOSE_UNSYNCED, NULL), ZKV_OK);
}

static void test_crash_loses_unsynced_data(void **state)
{
    (void) state;
    zkv_fs_mem_t *m = s_mem();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    s_put(fs, "d/a", "never synced", false);
    assert_int_equal(zkv_fs_sync_dir(fs, "d"), ZKV_OK);
    s_crash(m);
    s_expect(fs, "d/a", ""); /* the name was durable, the data was not */
    zkv_fs_mem_destroy(&m);
}

static void test_crash_keeps_synced_data(void **state)
{
    (void) state;
    zkv_fs_mem_t *m = s_mem();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    s_put(fs, "d/a", "synced", true);
    assert_int_equal(zkv_fs_sync_dir(fs, "d"), ZKV_OK);
    int fd;
    assert_int_equal(zkv_fs_open(fs, "d/a", ZKV_FS_WRITE, &fd), ZKV_OK);
    assert_int_equal(zkv_fs_pwrite(fs, fd, " and more", 9, 6), ZKV_OK);
    assert_int_equal(zkv_fs_truncate(fs, fd, 3), ZKV_OK);
    assert_int_equal(zkv_fs_mem_durable_bytes(m), 6);
    s_crash(m);
    s_expect(fs, "d/a", "synced");
    /*  The handle died with the machine. */
    char c;
    size_t got;
    errno = 0;
    assert_int_equal(zkv_fs_pread(fs, fd, &c, 1, 0, &got), ZKV_EIO);
    assert_int_equal(errno, EBADF);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_EIO);
    zkv_fs_mem_destroy(&m);
}

static void test_crash_loses_unsynced_create(void **state)
{
    (void) state;
    zkv_fs_mem_t *m = s_mem();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    s_put(fs, "d/a", "synced data, unsynced name", true);
    assert_int_equal(zkv_fs_mkdir(fs, "d/sub"), ZKV_OK);
    assert_int_equal(zkv_fs_sync_dir(fs, "d/sub"), ZKV_OK);
    s_put(fs, "d/sub/b", "in a directory that is not durable", true);
    assert_int_equal(zkv_fs_sync_dir(fs, "d/sub"), ZKV_OK);
    assert_int_equal(zkv_fs_mem_durable_bytes(m), 34);
    s_crash(m);
    s_expect(fs, "d/a", NULL);
    s_expect(fs, "d/sub/b", NULL);
    assert_int_equal(zkv_fs_list(fs, "d/sub", s_collect, &(s_names_t){0}), ZKV_ENOTFOUND);
    assert_int_equal(zkv_fs_mem_durable_bytes(m), 0);
    assert_int_equal(zkv_fs_mem_used(m), 0);
    zkv_fs_mem_destroy(&m);
}

static void test_crash_undoes_rename_and_unlink(void **state)
{
    (void) state;
    zkv_fs_mem_t *m = s_mem();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    s_put(fs, "d/snap", "old", true);
    s_put(fs, "d/gone", "kept", true);
    assert_int_equal(zkv_fs_sync_dir(fs, "d"), ZKV_OK);
    s_put(fs, "d/snap.tmp", "new", true);
    assert_int_equal(zkv_fs_rename(fs, "d/snap.tmp", "d/snap"), ZKV_OK);
    assert_int_equal(zkv_fs_unlink(fs, "d/gone"), ZKV_OK);
    s_expect(fs, "d/snap", "new");
    s_crash(m);
    s_expect(fs, "d/snap", "old");
    s_expect(fs, "d/snap.tmp", NULL); /* created after the last sync_dir */
    s_expect(fs, "d/gone", "kept");
    /*  The same with sync_dir: the rename sticks. */
    s_put(fs, "d/snap.tmp", "new", true);
    assert_int_equal(zkv_fs_rename(fs, "d/snap.tmp", "d/snap"), ZKV_OK);
    assert_int_equal(zkv_fs_sync_dir(fs, "d"), ZKV_OK);
    s_crash(m);
    s_expect(fs, "d/snap", "new");
    s_expect(fs, "d/snap.tmp", NULL);
    zkv_fs_mem_destroy(&m);
}

/*  Appends "0123456789" one write at a time after a synced "ab", then
    crashes torn: what is left must be "ab" and a prefix of the digits. */
static void s_torn_once(uint64_t seed, bool *none, bool *all, bool *cut)
{
    zkv_fs_mem_t *m = s_mem();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    s_put(fs, "d/log", "ab", true);
    assert_int_equal(zkv_fs_sync_dir(fs, "d"), ZKV_OK);
    int fd;
    assert_int_equal(zkv_fs_open(fs, "d/log", ZKV_FS_WRITE, &fd), ZKV_OK);
    const char *digits = "0123456789";
    for (int i = 0; i < 5; i++)
        assert_int_equal(zkv_fs_pwrite(fs, fd, digits + 2 * i, 2, 2 + 2 * (uint64_t) i), ZKV_OK);
    uint64_t rng = seed;
    assert_int_equal(zkv_fs_mem_crash(m, ZKV_FS_MEM_TORN, &rng), ZKV_OK);
    char *got = s_get(fs, "d/log");
    assert_non_null(got);
    size_t n = strlen(got);
    if (n < 2 || memcmp(got, "ab", 2) || strncmp(got + 2, digits, n - 2))
        fail_msg("seed %" PRIu64 ": torn crash left \"%s\"", seed, got);
    *none |= n == 2;
    *all |= n == 12;
    *cut |= n % 2 == 1;
    free(got);
    zkv_fs_mem_destroy(&m);
}

static void test_crash_torn_keeps_a_prefix(void **state)
{
    (void) state;
    bool none = false, all = false, cut = false;
    for (uint64_t seed = 1; seed <= 200; seed++)
        s_torn_once(seed, &none, &all, &cut);
    assert_true(none && all && cut); /* every kind of tail shows up */
}

/*  ---- failures on purpose and a full disk */

static void test_fail_and_stop(void **state)
{
    (void) state;
    zkv_fs_mem_t *m = s_mem();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    int fd;
    assert_int_equal(zkv_fs_open(fs, "d/a", ZKV_FS_WRITE | ZKV_FS_CREATE, &fd), ZKV_OK);
    zkv_fs_mem_fail(m, ZKV_FS_OP_PWRITE, 1, ENOSPC, false);
    assert_int_equal(zkv_fs_pwrite(fs, fd, "1234", 4, 0), ZKV_OK);
    errno = 0;
    assert_int_equal(zkv_fs_pwrite(fs, fd, "abcd", 4, 4), ZKV_EIO);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(zkv_fs_pwrite(fs, fd, "x", 1, 6), ZKV_OK); /* not sticky */
    assert_int_equal(zkv_fs_mem_calls(m, ZKV_FS_OP_PWRITE), 3);
    zkv_fs_mem_fail(m, ZKV_FS_OP_DATASYNC, 0, EIO, true);
    for (int i = 0; i < 3; i++)
        assert_int_equal(zkv_fs_datasync(fs, fd), ZKV_EIO);
    assert_int_equal(zkv_fs_mem_syncs(m), 0);
    zkv_fs_mem_disarm(m);
    assert_int_equal(zkv_fs_datasync(fs, fd), ZKV_OK);
    assert_int_equal(zkv_fs_mem_syncs(m), 1);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
    assert_int_equal(zkv_fs_sync_dir(fs, "d"), ZKV_OK);
    s_expect(fs, "d/a", "1234abx"); /* the failed write wrote half */
    zkv_fs_mem_stop_after(m, 2);
    assert_int_equal(zkv_fs_open(fs, "d/a", ZKV_FS_WRITE, &fd), ZKV_OK);
    assert_int_equal(zkv_fs_pwrite(fs, fd, "zz", 2, 0), ZKV_OK);
    assert_false(zkv_fs_mem_stopped(m));
    assert_int_equal(zkv_fs_datasync(fs, fd), ZKV_EIO);
    assert_true(zkv_fs_mem_stopped(m));
    assert_int_equal(zkv_fs_sync_dir(fs, "d"), ZKV_EIO);
    s_crash(m);
    assert_false(zkv_fs_mem_stopped(m));
    s_expect(fs, "d/a", "1234abx");
    zkv_fs_mem_destroy(&m);
}

static void test_capacity(void **state)
{
    (void) state;
    zkv_fs_mem_t *m = s_mem();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    zkv_fs_mem_set_capacity(m, 10);
    s_put(fs, "d/a", "123456", true);
    int fd;
    assert_int_equal(zkv_fs_open(fs, "d/b", ZKV_FS_WRITE | ZKV_FS_CREATE, &fd), ZKV_OK);
    errno = 0;
    assert_int_equal(zkv_fs_pwrite(fs, fd, "abcdef", 6, 0), ZKV_EIO);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(zkv_fs_mem_used(m), 10); /* what fitted was written */
    assert_int_equal(zkv_fs_pwrite(fs, fd, "ABCD", 4, 0), ZKV_OK); /* overwrites need no room */
    errno = 0;
    assert_int_equal(zkv_fs_allocate(fs, fd, 5), ZKV_EIO);
    assert_int_equal(errno, ENOSPC);
    assert_int_equal(zkv_fs_truncate(fs, fd, 2), ZKV_OK);
    assert_int_equal(zkv_fs_allocate(fs, fd, 4), ZKV_OK);
    assert_int_equal(zkv_fs_unlink(fs, "d/a"), ZKV_OK);
    assert_int_equal(zkv_fs_mem_used(m), 4);
    assert_int_equal(zkv_fs_pwrite(fs, fd, "abcdef", 6, 4), ZKV_OK);
    char buf[16];
    size_t got;
    assert_int_equal(zkv_fs_pread(fs, fd, buf, sizeof buf, 0, &got), ZKV_OK);
    assert_int_equal(got, 10);
    assert_memory_equal(buf, "AB\0\0abcdef", 10);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
    zkv_fs_mem_destroy(&m);
}

/*  ---- 3. the WAL crashed at seeded points */

#define SIM_INDEX_MAX 8192
#define SIM_DATA_MAX 300
#define SIM_WAL_DIR "data/wal"

static void s_fill(uint8_t *buf, uint64_t index, uint64_t term, size_t size)
{
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t) (index * 131 + term * 7 + i * 13 + 1);
}

/*  The hard state set n-th: its fields follow from n, so a damaged one shows. */
static zkv_wal_hard_state_t s_hard_state(uint64_t n)
{
    return (zkv_wal_hard_state_t){.term = n, .vote = (uint32_t) (n % 5), .commit = n * 3};
}

typedef struct {
    uint64_t seed;
    uint64_t rng;
    zkv_fs_mem_t *m;
    zkv_wal_t *wal;
    uint64_t terms[SIM_INDEX_MAX + 1]; /* of the entry last appended at each index */
    uint16_t sizes[SIM_INDEX_MAX + 1];
    uint64_t last;    /* last index appended */
    uint64_t acked;   /* entries up to here were appended before a successful sync */
    uint64_t dropped; /* the highest index drop_before was asked for */
    uint64_t term;
    uint64_t hs_set;   /* the hard states set so far */
    uint64_t hs_acked; /* the last one set before a successful sync; 0: none */
    /*  What the runs saw, for the summary. */
    unsigned long crashes, torn_cut, temps, open_failed, stopped_mid_op;
} s_sim_t;

static uint64_t s_rand(s_sim_t *s, uint64_t n)
{
    return zkv_splitmix64(&s->rng) % n;
}

typedef struct {
    s_sim_t *s;
    uint64_t next;
} s_visit_t;

static bool s_visit(const zkv_wal_entry_t *e, void *arg)
{
    s_visit_t *v = arg;
    s_sim_t *s = v->s;
    uint8_t want[SIM_DATA_MAX];
    s_fill(want, e->index, e->term, e->size);
    if (e->index != v->next || e->term != s->terms[e->index] || e->size != s->sizes[e->index] ||
        e->type != e->index % 3 || memcmp(e->data, want, e->size) != 0)
        fail_msg("seed %" PRIu64 ": entry %" PRIu64 " recovered wrong", s->seed, v->next);
    v->next++;
    return true;
}

/*  What opening found must hold every acknowledged entry and hard state. */
static void s_sim_check(s_sim_t *s)
{
    uint64_t first = zkv_wal_first_index(s->wal), last = zkv_wal_last_index(s->wal);
    if (last < s->acked || last > s->last || first > (s->dropped > 1 ? s->dropped : 1))
        fail_msg("seed %" PRIu64 ": recovered [%" PRIu64 ", %" PRIu64
                 "], acknowledged up to %" PRIu64 ", appended up to %" PRIu64,
                 s->seed, first, last, s->acked, s->last);
    s_visit_t v = {.s = s, .next = first};
    if (last >= first && zkv_wal_read(s->wal, first, last, 0, s_visit, &v, NULL) != ZKV_OK)
        fail_msg("seed %" PRIu64 ": read: %s", s->seed, zkv_wal_error(s->wal));
    assert_int_equal(v.next, last + 1);
    zkv_wal_hard_state_t hs;
    bool has = zkv_wal_hard_state(s->wal, &hs);
    if (has && (hs.term > s->hs_set || hs.vote != s_hard_state(hs.term).vote ||
                hs.commit != s_hard_state(hs.term).commit))
        fail_msg("seed %" PRIu64 ": hard state %" PRIu64 " recovered wrong", s->seed, hs.term);
    if (s->hs_acked && (!has || hs.term < s->hs_acked))
        fail_msg("seed %" PRIu64 ": hard state %" PRIu64 " lost", s->seed, s->hs_acked);
    /*  Whatever survived is durable now, and the log goes on from there. */
    s->last = s->acked = last;
    s->hs_acked = s->hs_set = has ? hs.term : 0;
    if (last >= first && s->terms[last] > s->term)
        s->term = s->terms[last];
}

/*  Opens the WAL, perhaps with a crash in the middle of recovery first. */
static void s_sim_open(s_sim_t *s)
{
    const zkv_fs_t *fs = zkv_fs_mem_fs(s->m);
    zkv_wal_options_t opts = {.segment_size = 1024 * (1 + s_rand(s, 4))};
    for (bool stop = s_rand(s, 4) == 0;; stop = false) {
        if (stop)
            zkv_fs_mem_stop_after(s->m, s_rand(s, 30));
        s->wal = zkv_wal_new(fs, SIM_WAL_DIR, &opts);
        assert_non_null(s->wal);
        zkv_wal_recovery_t report;
        int rc = zkv_wal_open(s->wal, &report);
        if (rc == ZKV_OK) {
            zkv_fs_mem_stop_after(s->m, ULONG_MAX); /* the stop came too late */
            s->torn_cut += report.torn;
            s->temps += report.temp_removed;
            return;
        }
        if (rc != ZKV_EIO || !zkv_fs_mem_stopped(s->m))
            fail_msg("seed %" PRIu64 ": open failed: %s", s->seed, zkv_wal_error(s->wal));
        s->open_failed++;
        zkv_wal_destroy(&s->wal);
        assert_int_equal(zkv_fs_mem_crash(s->m, ZKV_FS_MEM_LOSE_UNSYNCED, NULL), ZKV_OK);
    }
}

static int s_sim_append(s_sim_t *s)
{
    size_t n = 1 + (size_t) s_rand(s, 6);
    if (s->last + n > SIM_INDEX_MAX)
        return ZKV_OK;
    if (s_rand(s, 8) == 0)
        s->term++;
    zkv_wal_entry_t e[6];
    uint8_t data[6][SIM_DATA_MAX];
    for (size_t i = 0; i < n; i++) {
        uint64_t index = s->last + 1 + i;
        size_t size = (size_t) s_rand(s, SIM_DATA_MAX);
        s_fill(data[i], index, s->term, size);
        e[i] = (zkv_wal_entry_t){
            .index = index, .term = s->term, .type = index % 3, .data = data[i], .size = size};
        s->terms[index] = s->term;
        s->sizes[index] = (uint16_t) size;
    }
    int rc = zkv_wal_append(s->wal, e, n);
    /*  A failed append may have written some of the batch, even durably (a
        rotation syncs): after a crash they may be there. */
    s->last += n;
    return rc;
}

/*  One call on the WAL, chosen at random. */
static int s_sim_step(s_sim_t *s)
{
    uint64_t r = s_rand(s, 20);
    if (r < 12)
        return s_sim_append(s);
    if (r < 14) {
        zkv_wal_hard_state_t hs = s_hard_state(s->hs_set + 1);
        int rc = zkv_wal_set_hard_state(s->wal, &hs);
        s->hs_set += rc == ZKV_OK;
        return rc;
    }
    int rc;
    if (r < 19)
        rc = zkv_wal_sync(s->wal);
    else {
        uint64_t index = s->acked / 2 + 1;
        s->dropped = index > s->dropped ? index : s->dropped;
        rc = zkv_wal_drop_before(s->wal, index); /* syncs first */
    }
    if (rc == ZKV_OK) {
        s->acked = s->last;
        s->hs_acked = s->hs_set;
    }
    return rc;
}

static void s_sim_run(s_sim_t *s, unsigned cycles)
{
    zkv_fs_mem_t *m = s->m;
    for (unsigned cycle = 0; cycle < cycles; cycle++) {
        s_sim_open(s);
        s_sim_check(s);
        if (s_rand(s, 4) != 0)
            zkv_fs_mem_stop_after(m, s_rand(s, 300));
        for (int step = 0; step < 60; step++) {
            if (s_sim_step(s) == ZKV_OK)
                continue;
            if (!zkv_fs_mem_stopped(m))
                fail_msg("seed %" PRIu64 ": %s", s->seed, zkv_wal_error(s->wal));
            s->stopped_mid_op++;
            break;
        }
        bool torn = s_rand(s, 2);
        assert_int_equal(zkv_fs_mem_crash(m, torn ? ZKV_FS_MEM_TORN : ZKV_FS_MEM_LOSE_UNSYNCED,
                                          &s->rng),
                         ZKV_OK);
        s->crashes++;
        zkv_wal_destroy(&s->wal);
    }
    s_sim_open(s);
    s_sim_check(s);
    zkv_wal_destroy(&s->wal);
}

/*  A fresh file system with the durable directory "data", like a node's. */
static zkv_fs_mem_t *s_data_dir(void)
{
    zkv_fs_mem_t *m = zkv_fs_mem_new();
    assert_non_null(m);
    assert_int_equal(zkv_fs_mkdir(zkv_fs_mem_fs(m), "data"), ZKV_OK);
    assert_int_equal(zkv_fs_sync_dir(zkv_fs_mem_fs(m), "."), ZKV_OK);
    return m;
}

/*  ZKV_SEED, if set, picks the one seed to run. */
static uint64_t s_seeds(uint64_t *from)
{
    const char *env = getenv("ZKV_SEED");
    *from = env ? strtoull(env, NULL, 10) : 1;
    return env ? 1 : SEEDS;
}

static void test_wal_crash_sim(void **state)
{
    (void) state;
    uint64_t from, count = s_seeds(&from);
    s_sim_t *s = calloc(1, sizeof *s), total = {0};
    assert_non_null(s);
    for (uint64_t seed = from; seed < from + count; seed++) {
        *s = (s_sim_t){.seed = seed, .rng = seed, .m = s_data_dir(), .term = 1};
        s_sim_run(s, 4);
        zkv_fs_mem_destroy(&s->m);
        total.crashes += s->crashes;
        total.torn_cut += s->torn_cut;
        total.temps += s->temps;
        total.open_failed += s->open_failed;
        total.stopped_mid_op += s->stopped_mid_op;
    }
    print_message("wal: %" PRIu64 " seeds, %lu crashes (%lu in the middle of a call, %lu more "
                  "during recovery), %lu torn tails cut, %lu unfinished segments removed\n",
                  count, total.crashes, total.stopped_mid_op, total.open_failed, total.torn_cut,
                  total.temps);
    free(s);
}

/*  ---- snapshots crashed at seeded points */

#define SIM_SNAP_DIR "data/snap"

/*  The tree of snapshot version v: 40 * v keys whose values name v. */
static zkv_btree_t *s_tree(unsigned v)
{
    zkv_btree_t *t = zkv_btree_new();
    assert_non_null(t);
    for (unsigned i = 0; i < 40 * v; i++) {
        char key[16], value[32];
        int kn = snprintf(key, sizeof key, "k%05u", i);
        int vn = snprintf(value, sizeof value, "v%u-%u", v, i);
        assert_int_equal(
            zkv_btree_put(t, key, (size_t) kn, value, (size_t) vn, NULL, NULL, NULL, NULL), ZKV_OK);
    }
    return t;
}

static int s_snap_write(const zkv_fs_t *fs, unsigned v, char *err)
{
    zkv_btree_t *t = s_tree(v);
    zkv_snapshot_meta_t meta = {.index = 10 * v, .term = v, .app = "app", .app_size = 3};
    int rc = zkv_snapshot_write(fs, SIM_SNAP_DIR, t, &meta, NULL, err, ERR_SIZE);
    zkv_btree_destroy(&t);
    return rc;
}

/*  Loads the newest snapshot, which must be one of versions lo..hi and whole. */
static unsigned s_snap_load(const zkv_fs_t *fs, uint64_t seed, unsigned lo, unsigned hi)
{
    zkv_btree_t *t = NULL;
    zkv_snapshot_meta_t meta = {0};
    char err[ERR_SIZE];
    size_t refused;
    int rc = zkv_snapshot_load_latest(fs, SIM_SNAP_DIR, &t, &meta, NULL, &refused, err, sizeof err);
    if (rc != ZKV_OK || refused != 0)
        fail_msg("seed %" PRIu64 ": load: %s", seed, err);
    unsigned v = (unsigned) meta.term;
    if (v < lo || v > hi || meta.index != 10 * v || meta.app_size != 3)
        fail_msg("seed %" PRIu64 ": snapshot %u loaded, %u to %u expected", seed, v, lo, hi);
    zkv_btree_t *want = s_tree(v);
    assert_int_equal(zkv_btree_count(t), zkv_btree_count(want));
    for (unsigned i = 0; i < 40 * v; i++) {
        char key[16];
        int kn = snprintf(key, sizeof key, "k%05u", i);
        zkv_bytes_t a, b;
        assert_int_equal(zkv_btree_get(t, key, (size_t) kn, &a), ZKV_OK);
        assert_int_equal(zkv_btree_get(want, key, (size_t) kn, &b), ZKV_OK);
        assert_int_equal(a.size, b.size);
        assert_memory_equal(a.data, b.data, a.size);
    }
    zkv_btree_destroy(&t);
    zkv_btree_destroy(&want);
    zkv_snapshot_meta_clear(&meta);
    return v;
}

/*  Version 1 is written; version 2 is written with a crash at a seeded
    call, then the older ones pruned with another. */
static void s_snap_once(uint64_t seed, unsigned long *completed)
{
    uint64_t rng = seed;
    zkv_fs_mem_t *m = s_data_dir();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    char err[ERR_SIZE];
    assert_int_equal(s_snap_write(fs, 1, err), ZKV_OK);
    zkv_fs_mem_crash_mode_t mode = zkv_splitmix64(&rng) % 2 ? ZKV_FS_MEM_TORN
                                                            : ZKV_FS_MEM_LOSE_UNSYNCED;
    zkv_fs_mem_stop_after(m, zkv_splitmix64(&rng) % 12);
    int rc = s_snap_write(fs, 2, err);
    if (rc != ZKV_OK && !zkv_fs_mem_stopped(m))
        fail_msg("seed %" PRIu64 ": write: %s", seed, err);
    *completed += rc == ZKV_OK;
    assert_int_equal(zkv_fs_mem_crash(m, mode, &rng), ZKV_OK);
    unsigned v = s_snap_load(fs, seed, rc == ZKV_OK ? 2 : 1, 2);
    char keep[ZKV_SNAPSHOT_NAME_SIZE + 1];
    zkv_snapshot_name(10 * v, v, keep);
    zkv_fs_mem_stop_after(m, zkv_splitmix64(&rng) % 6);
    (void) zkv_snapshot_prune(fs, SIM_SNAP_DIR, keep, NULL, err, sizeof err);
    assert_int_equal(zkv_fs_mem_crash(m, mode, &rng), ZKV_OK);
    assert_int_equal(s_snap_load(fs, seed, v, v), v);
    zkv_fs_mem_destroy(&m);
}

static void test_snapshot_crash_sim(void **state)
{
    (void) state;
    uint64_t from, count = s_seeds(&from);
    unsigned long completed = 0;
    for (uint64_t seed = from; seed < from + count; seed++)
        s_snap_once(seed, &completed);
    print_message("snapshot: %" PRIu64 " seeds, the second write completed before the crash "
                  "in %lu\n",
                  count, completed);
    assert_true(count < 50 || (completed > 0 && completed < count));
}

/*  ---- 4. a full disk under the WAL */

static zkv_wal_t *s_wal_open(const zkv_fs_t *fs)
{
    zkv_wal_options_t opts = {.segment_size = 4096};
    zkv_wal_t *w = zkv_wal_new(fs, SIM_WAL_DIR, &opts);
    assert_non_null(w);
    int rc = zkv_wal_open(w, NULL);
    if (rc != ZKV_OK)
        fail_msg("open: %s", zkv_wal_error(w));
    return w;
}

/*  Appends and syncs entries of 200 bytes until a call fails; returns the
    last index acknowledged and leaves the failure in *rc. */
static uint64_t s_fill_wal(zkv_wal_t *w, int *rc)
{
    uint64_t acked = zkv_wal_last_index(w);
    for (uint64_t i = acked + 1; i < SIM_INDEX_MAX; i++) {
        uint8_t data[200];
        s_fill(data, i, 1, sizeof data);
        zkv_wal_entry_t e = {.index = i, .term = 1, .type = i % 3, .data = data, .size = 200};
        if ((*rc = zkv_wal_append(w, &e, 1)) != ZKV_OK || (*rc = zkv_wal_sync(w)) != ZKV_OK)
            return acked;
        acked = i;
    }
    fail_msg("the disk never filled");
    return 0;
}

static void s_check_wal(const zkv_fs_t *fs, uint64_t acked)
{
    s_sim_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    for (uint64_t i = 1; i <= SIM_INDEX_MAX; i++) {
        s->terms[i] = 1;
        s->sizes[i] = 200;
    }
    s->acked = acked;
    s->last = SIM_INDEX_MAX;
    s->wal = s_wal_open(fs);
    s_sim_check(s);
    zkv_wal_destroy(&s->wal);
    free(s);
}

static void test_wal_disk_full(void **state)
{
    (void) state;
    zkv_fs_mem_t *m = s_data_dir();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    zkv_wal_t *w = s_wal_open(fs);
    zkv_fs_mem_set_capacity(m, zkv_fs_mem_used(m) + 8192 + 1000); /* two segments and a bit */
    int rc;
    uint64_t acked = s_fill_wal(w, &rc);
    assert_int_equal(rc, ZKV_EIO);
    assert_true(acked > 20);
    if (!strstr(zkv_wal_error(w), "No space left on device"))
        fail_msg("error: %s", zkv_wal_error(w));
    print_message("full disk: %s, %" PRIu64 " entries acknowledged\n", zkv_wal_error(w), acked);
    assert_int_equal(zkv_wal_sync(w), ZKV_EIO); /* refuses changes from now on */
    zkv_fs_mem_set_capacity(m, UINT64_MAX);
    assert_int_equal(zkv_fs_mem_crash(m, ZKV_FS_MEM_LOSE_UNSYNCED, NULL), ZKV_OK);
    zkv_wal_destroy(&w);
    s_check_wal(fs, acked);
    zkv_fs_mem_destroy(&m);
}

static void test_wal_write_enospc(void **state)
{
    (void) state;
    zkv_fs_mem_t *m = s_data_dir();
    const zkv_fs_t *fs = zkv_fs_mem_fs(m);
    zkv_wal_t *w = s_wal_open(fs);
    zkv_fs_mem_fail(m, ZKV_FS_OP_PWRITE, 30, ENOSPC, true);
    int rc;
    uint64_t acked = s_fill_wal(w, &rc);
    assert_int_equal(rc, ZKV_EIO);
    if (!strstr(zkv_wal_error(w), "No space left on device"))
        fail_msg("error: %s", zkv_wal_error(w));
    uint64_t rng = 7;
    assert_int_equal(zkv_fs_mem_crash(m, ZKV_FS_MEM_TORN, &rng), ZKV_OK);
    zkv_wal_destroy(&w);
    s_check_wal(fs, acked);
    zkv_fs_mem_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_semantics_posix, t_teardown),
        cmocka_unit_test(test_semantics_mem),
        cmocka_unit_test(test_crash_loses_unsynced_data),
        cmocka_unit_test(test_crash_keeps_synced_data),
        cmocka_unit_test(test_crash_loses_unsynced_create),
        cmocka_unit_test(test_crash_undoes_rename_and_unlink),
        cmocka_unit_test(test_crash_torn_keeps_a_prefix),
        cmocka_unit_test(test_fail_and_stop),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_wal_crash_sim),
        cmocka_unit_test(test_snapshot_crash_sim),
        cmocka_unit_test(test_wal_disk_full),
        cmocka_unit_test(test_wal_write_enospc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
