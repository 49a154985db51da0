/*  WAL: append, sync and read back; segments; truncation, reset and dropping
    of segments; hard state; recovery from a write torn at every byte of the
    last record and from a bit flipped in every byte of a log; the zero tail
    of preallocated segments; failing I/O. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fs_testutil.h"

#include "fs.h"
#include "fs_fault.h"
#include "le.h"
#include "wal.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

#define MAX_INDEX 512
#define DATA_MAX 400

/*  ---- entries whose content follows from index and term */

static size_t s_data_size(uint64_t index, uint64_t term)
{
    return (size_t) ((index * 37 + term * 11) % 161);
}

static void s_fill(uint8_t *buf, uint64_t index, uint64_t term, size_t size)
{
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t) (index * 131 + term * 7 + i * 13);
}

typedef struct {
    zkv_wal_entry_t e;
    uint8_t buf[DATA_MAX];
} s_entry_t;

static void s_make(s_entry_t *out, uint64_t index, uint64_t term, size_t size)
{
    assert_true(size <= DATA_MAX);
    s_fill(out->buf, index, term, size);
    out->e = (zkv_wal_entry_t){.index = index,
                               .term = term,
                               .type = (uint32_t) (index % 3),
                               .data = out->buf,
                               .size = size};
}

static void s_check_entry(const zkv_wal_entry_t *e, uint64_t index, uint64_t term, size_t size)
{
    uint8_t want[DATA_MAX];
    assert_int_equal(e->index, index);
    assert_int_equal(e->term, term);
    assert_int_equal(e->type, index % 3);
    assert_int_equal(e->size, size);
    s_fill(want, index, term, size);
    assert_memory_equal(e->data, want, size);
}

static void s_append(zkv_wal_t *w, uint64_t lo, uint64_t hi, uint64_t term)
{
    for (uint64_t i = lo; i <= hi; i++) {
        s_entry_t x;
        s_make(&x, i, term, s_data_size(i, term));
        assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_OK);
    }
}

/*  What the log should hold: the term of every index in [first, last]. */
typedef struct {
    uint64_t first;
    uint64_t last;
    uint64_t terms[MAX_INDEX];
    bool has_hs;
    zkv_wal_hard_state_t hs;
} s_model_t;

static void s_model_append(s_model_t *m, uint64_t lo, uint64_t hi, uint64_t term)
{
    assert_int_equal(lo, m->last + 1);
    assert_true(hi < MAX_INDEX);
    for (uint64_t i = lo; i <= hi; i++)
        m->terms[i] = term;
    m->last = hi;
}

typedef struct {
    const s_model_t *m;
    uint64_t next;
} s_visit_t;

static bool s_visit_check(const zkv_wal_entry_t *e, void *arg)
{
    s_visit_t *v = arg;
    uint64_t term = v->m->terms[v->next];
    s_check_entry(e, v->next, term, s_data_size(v->next, term));
    v->next++;
    return true;
}

/*  Every entry from from on, read back and compared; terms from memory too. */
static void s_verify_from(zkv_wal_t *w, const s_model_t *m, uint64_t from)
{
    assert_int_equal(zkv_wal_last_index(w), m->last);
    s_visit_t v = {.m = m, .next = from};
    size_t count = 0;
    if (from <= m->last)
        assert_int_equal(zkv_wal_read(w, from, m->last, 0, s_visit_check, &v, &count), ZKV_OK);
    assert_int_equal(v.next, m->last + 1);
    for (uint64_t i = from; i <= m->last; i++) {
        uint64_t term = 0;
        assert_int_equal(zkv_wal_term(w, i, &term), ZKV_OK);
        assert_int_equal(term, m->terms[i]);
    }
    zkv_wal_hard_state_t hs;
    assert_int_equal(zkv_wal_hard_state(w, &hs), m->has_hs);
    if (m->has_hs) {
        assert_int_equal(hs.term, m->hs.term);
        assert_int_equal(hs.vote, m->hs.vote);
        assert_int_equal(hs.commit, m->hs.commit);
    }
}

static void s_verify(zkv_wal_t *w, const s_model_t *m)
{
    assert_int_equal(zkv_wal_first_index(w), m->first);
    s_verify_from(w, m, m->first);
}

static zkv_wal_t *s_open_with(const zkv_fs_t *fs, const char *dir, uint64_t segment_size,
                              zkv_wal_recovery_t *report)
{
    zkv_wal_options_t opts = {.segment_size = segment_size};
    zkv_wal_t *w = zkv_wal_new(fs, dir, &opts);
    assert_non_null(w);
    int rc = zkv_wal_open(w, report);
    if (rc != ZKV_OK)
        fail_msg("open %s: %s: %s", dir, zkv_strerror(rc), zkv_wal_error(w));
    return w;
}

/*  The file system of most tests: the real one, but syncs return at once.
    These tests are about the logic; test_append_sync_read makes real syncs,
    the I/O error tests failing ones. */
static zkv_fs_fault_t *s_quick;
/*  errno of the failures s_io_errors injects. */
static int s_errnum = EIO;
static const zkv_fs_t *s_fs;

static int s_setup(void **state)
{
    (void) state;
    s_quick = zkv_fs_fault_new(zkv_fs_posix());
    assert_non_null(s_quick);
    zkv_fs_fault_skip_syncs(s_quick, true);
    s_fs = zkv_fs_fault_fs(s_quick);
    return 0;
}

static int s_teardown(void **state)
{
    (void) state;
    zkv_fs_fault_destroy(&s_quick);
    return 0;
}

static zkv_wal_t *s_open(const char *dir, uint64_t segment_size, zkv_wal_recovery_t *report)
{
    return s_open_with(s_fs, dir, segment_size, report);
}

static void s_set_hs(zkv_wal_t *w, s_model_t *m, uint64_t term, uint32_t vote, uint64_t commit)
{
    m->hs = (zkv_wal_hard_state_t){.term = term, .vote = vote, .commit = commit};
    m->has_hs = true;
    assert_int_equal(zkv_wal_set_hard_state(w, &m->hs), ZKV_OK);
}

static size_t s_count_files(const char *dir, const char *suffix)
{
    t_dirsnap_t s;
    t_dirsnap_take(dir, &s);
    size_t n = 0;
    for (size_t i = 0; i < s.count; i++) {
        size_t len = strlen(s.files[i].name), m = strlen(suffix);
        n += len >= m && strcmp(s.files[i].name + len - m, suffix) == 0;
    }
    t_dirsnap_free(&s);
    return n;
}

/*  Where the records of a segment end: walks them by their length fields up
    to the first header whose type byte is zero, and checks that only zeros
    (the unused preallocated space) follow. */
static uint64_t s_records_end(const uint8_t *data, size_t size)
{
    uint64_t off = 0;
    while (off + ZKV_WAL_RECORD_HEADER_SIZE <= size && data[off + 8] != 0)
        off += ZKV_WAL_RECORD_HEADER_SIZE + zkv_le32_get(data + off + 4);
    assert_true(off <= size);
    uint64_t nonzero = off;
    while (nonzero < size && data[nonzero] == 0)
        nonzero++;
    if (nonzero != size)
        fail_msg("nonzero byte at offset %" PRIu64 " after the records, which end at %" PRIu64,
                 nonzero, off);
    return off;
}

static uint64_t s_file_records_end(const char *path)
{
    size_t size;
    uint8_t *data = t_read_file(path, &size);
    uint64_t end = s_records_end(data, size);
    free(data);
    return end;
}

/*  Overwrites size bytes of a file at off, in place. */
static void s_poke(const char *path, uint64_t off, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, size, (off_t) off), (ssize_t) size);
    assert_int_equal(close(fd), 0);
}

/*  Whether the file system under dir reserves space (else segments grow). */
static bool s_preallocates(const char *dir)
{
    char path[4096];
    t_path(path, sizeof path, dir, "probe");
    const zkv_fs_t *fs = zkv_fs_posix();
    int fd;
    assert_int_equal(zkv_fs_open(fs, path, ZKV_FS_WRITE | ZKV_FS_CREATE, &fd), ZKV_OK);
    int rc = zkv_fs_allocate(fs, fd, 4096);
    assert_true(rc == ZKV_OK || rc == ZKV_ENOTSUP);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
    assert_int_equal(unlink(path), 0);
    return rc == ZKV_OK;
}

/*  ---- basics */

static void test_append_sync_read(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    s_model_t m = {.first = 1, .last = 0};
    zkv_wal_recovery_t rep;
    zkv_wal_t *w = s_open_with(zkv_fs_posix(), dir, 0, &rep);
    assert_false(rep.torn);
    assert_int_equal(zkv_wal_first_index(w), 1);
    assert_int_equal(zkv_wal_last_index(w), 0);

    /*  One call with a batch, then single appends; readable before the sync. */
    s_entry_t batch[10];
    for (int i = 0; i < 10; i++)
        s_make(&batch[i], (uint64_t) i + 1, 1, s_data_size((uint64_t) i + 1, 1));
    zkv_wal_entry_t es[10];
    for (int i = 0; i < 10; i++)
        es[i] = batch[i].e;
    assert_int_equal(zkv_wal_append(w, es, 10), ZKV_OK);
    s_model_append(&m, 1, 10, 1);
    s_append(w, 11, 100, 2);
    s_model_append(&m, 11, 100, 2);
    assert_true(zkv_wal_unsynced_bytes(w) > 0);
    s_verify(w, &m);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    assert_int_equal(zkv_wal_unsynced_bytes(w), 0);
    s_verify(w, &m);

    zkv_wal_entry_t e;
    void *data;
    assert_int_equal(zkv_wal_get(w, 42, &e, &data), ZKV_OK);
    s_check_entry(&e, 42, 2, s_data_size(42, 2));
    free(data);
    assert_int_equal(zkv_wal_get(w, 101, &e, &data), ZKV_ENOTFOUND);
    assert_null(data);
    assert_int_equal(zkv_wal_get(w, 0, &e, &data), ZKV_ECOMPACTED);
    uint64_t term;
    assert_int_equal(zkv_wal_term(w, 101, &term), ZKV_ENOTFOUND);
    zkv_wal_destroy(&w);
    assert_null(w);

    w = s_open_with(zkv_fs_posix(), dir, 0, &rep);
    assert_false(rep.torn);
    assert_int_equal(rep.segments, 1);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

typedef struct {
    size_t seen;
    size_t stop_after;
} s_counter_t;

static bool s_count_visit(const zkv_wal_entry_t *e, void *arg)
{
    (void) e;
    s_counter_t *c = arg;
    c->seen++;
    return c->seen < c->stop_after;
}

static void test_read_limits(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    zkv_wal_t *w = s_open(dir, 0, NULL);
    s_entry_t x;
    for (uint64_t i = 1; i <= 20; i++) {
        s_make(&x, i, 1, 100);
        assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_OK);
    }
    s_counter_t c = {.stop_after = 1000};
    size_t count;
    assert_int_equal(zkv_wal_read(w, 5, 1000, 0, s_count_visit, &c, &count), ZKV_OK);
    assert_int_equal(count, 16); /* hi is clipped to the last entry */
    c = (s_counter_t){.stop_after = 1000};
    assert_int_equal(zkv_wal_read(w, 1, 20, 350, s_count_visit, &c, &count), ZKV_OK);
    assert_int_equal(count, 3);
    c = (s_counter_t){.stop_after = 1000};
    assert_int_equal(zkv_wal_read(w, 1, 20, 10, s_count_visit, &c, &count), ZKV_OK);
    assert_int_equal(count, 1); /* at least one, whatever its size */
    c = (s_counter_t){.stop_after = 4};
    assert_int_equal(zkv_wal_read(w, 1, 20, 0, s_count_visit, &c, &count), ZKV_OK);
    assert_int_equal(count, 4);
    assert_int_equal(zkv_wal_read(w, 21, 30, 0, s_count_visit, &c, &count), ZKV_ENOTFOUND);
    assert_int_equal(count, 0);
    assert_int_equal(zkv_wal_read(w, 0, 30, 0, s_count_visit, &c, &count), ZKV_ECOMPACTED);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

static void test_invalid_appends(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    zkv_wal_t *w = s_open(dir, 0, NULL);
    s_append(w, 1, 3, 5);
    s_entry_t x;
    s_make(&x, 5, 5, 10); /* gap */
    assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_EINVAL);
    assert_non_null(strstr(zkv_wal_error(w), "entry 5"));
    s_make(&x, 3, 5, 10); /* already there */
    assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_EINVAL);
    s_make(&x, 4, 4, 10); /* term goes back */
    assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_EINVAL);
    x.e =
        (zkv_wal_entry_t){.index = 4, .term = 5, .data = x.buf, .size = ZKV_ENTRY_SIZE_MAX + 1};
    assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_EINVAL);
    assert_int_equal(zkv_wal_truncate(w, 5), ZKV_EINVAL);
    assert_int_equal(zkv_wal_truncate(w, 0), ZKV_ECOMPACTED);
    assert_int_equal(zkv_wal_reset(w, 0), ZKV_EINVAL);
    assert_int_equal(zkv_wal_last_index(w), 3);
    /*  Still usable after refused calls. */
    s_append(w, 4, 4, 6);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

/*  The largest entry, bigger than a whole segment, goes into a segment of its own. */
static void test_largest_entry(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    zkv_wal_t *w = s_open(dir, 64 * 1024, NULL);
    uint8_t *big = malloc(ZKV_ENTRY_SIZE_MAX);
    assert_non_null(big);
    for (size_t i = 0; i < ZKV_ENTRY_SIZE_MAX; i++)
        big[i] = (uint8_t) (i * 2654435761u >> 13);
    s_append(w, 1, 3, 1);
    zkv_wal_entry_t e = {.index = 4, .term = 1, .data = big, .size = ZKV_ENTRY_SIZE_MAX};
    assert_int_equal(zkv_wal_append(w, &e, 1), ZKV_OK);
    e.index = 5;
    assert_int_equal(zkv_wal_append(w, &e, 1), ZKV_OK);
    s_append(w, 6, 6, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    assert_true(zkv_wal_segment_count(w) >= 3);
    zkv_wal_destroy(&w);

    w = s_open(dir, 64 * 1024, NULL);
    assert_int_equal(zkv_wal_last_index(w), 6);
    for (uint64_t i = 4; i <= 5; i++) {
        zkv_wal_entry_t got;
        void *data;
        assert_int_equal(zkv_wal_get(w, i, &got, &data), ZKV_OK);
        assert_int_equal(got.size, ZKV_ENTRY_SIZE_MAX);
        assert_memory_equal(data, big, ZKV_ENTRY_SIZE_MAX);
        free(data);
    }
    zkv_wal_destroy(&w);
    free(big);
    t_rmtree(dir);
    free(dir);
}

/*  The largest command a client may send (a compare-and-swap with a key and
    both values at their limits, every number at its widest) fits in one
    entry, so in one WAL record. */
static void test_largest_command_fits(void **state)
{
    (void) state;
    static uint8_t key[ZKV_KEY_SIZE_MAX], value[ZKV_VALUE_SIZE_MAX];
    Zkv__CasRequest cas = ZKV__CAS_REQUEST__INIT;
    cas.key = (ProtobufCBinaryData){sizeof key, key};
    cas.expected = (ProtobufCBinaryData){sizeof value, value};
    cas.value = (ProtobufCBinaryData){sizeof value, value};
    cas.expect_absent = true;
    Zkv__Command cmd = ZKV__COMMAND__INIT;
    cmd.client_id = cmd.sequence = cmd.first_unacked = UINT64_MAX;
    cmd.op_case = ZKV__COMMAND__OP_CAS;
    cmd.cas = &cas;
    size_t size = zkv__command__get_packed_size(&cmd);
    assert_true(size > (size_t) ZKV_KEY_SIZE_MAX + 2 * ZKV_VALUE_SIZE_MAX);
    assert_true(size <= ZKV_ENTRY_SIZE_MAX);
}

/*  ---- segments */

static void test_rotation(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    bool prealloc = s_preallocates(dir);
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, 2048, NULL);
    for (uint64_t i = 1; i <= 300; i += 10) {
        s_append(w, i, i + 9, 1 + i / 100);
        s_model_append(&m, i, i + 9, 1 + i / 100);
        if (i % 50 == 1)
            s_set_hs(w, &m, 1 + i / 100, (uint32_t) i % 3, i);
        assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    }
    size_t segments = zkv_wal_segment_count(w);
    assert_true(segments >= 10);
    assert_int_equal(s_count_files(dir, ".wal"), segments);
    s_verify(w, &m);
    zkv_wal_destroy(&w);

    /*  Names give the order and the first index; the records of every
        segment stay within the size limit, and each file was preallocated
        to it. */
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    assert_string_equal(snap.files[0].name, "0000000000000001-0000000000000001.wal");
    for (size_t i = 0; i < snap.count; i++) {
        const t_file_t *f = &snap.files[i];
        assert_true(s_records_end(f->data, f->size) <= 2048);
        if (prealloc)
            assert_int_equal(f->size, 2048);
    }
    t_dirsnap_free(&snap);

    zkv_wal_recovery_t rep;
    w = s_open(dir, 2048, &rep);
    assert_int_equal(rep.segments, segments);
    assert_false(rep.torn);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

static void test_truncate_across_segments(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, 1024, NULL);
    s_append(w, 1, 120, 1);
    s_model_append(&m, 1, 120, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    size_t before = zkv_wal_segment_count(w);
    assert_true(before >= 6);

    /*  Index 40 lies several segments back. */
    assert_int_equal(zkv_wal_truncate(w, 40), ZKV_OK);
    m.last = 39;
    s_verify(w, &m);
    uint64_t term;
    assert_int_equal(zkv_wal_term(w, 40, &term), ZKV_ENOTFOUND);
    s_append(w, 40, 70, 2);
    s_model_append(&m, 40, 70, 2);
    s_verify(w, &m);
    /*  Truncating what was just appended, before any sync. */
    assert_int_equal(zkv_wal_truncate(w, 65), ZKV_OK);
    m.last = 64;
    s_append(w, 65, 80, 3);
    s_model_append(&m, 65, 80, 3);
    assert_int_equal(zkv_wal_truncate(w, 81), ZKV_OK); /* nothing to remove */
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    s_verify(w, &m);
    zkv_wal_destroy(&w);

    w = s_open(dir, 1024, NULL);
    s_verify(w, &m);
    /*  Truncate everything, then start again at the same index. */
    assert_int_equal(zkv_wal_truncate(w, 1), ZKV_OK);
    assert_int_equal(zkv_wal_last_index(w), 0);
    assert_int_equal(zkv_wal_first_index(w), 1);
    m.last = 0;
    s_append(w, 1, 5, 4);
    s_model_append(&m, 1, 5, 4);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    w = s_open(dir, 1024, NULL);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

static void test_drop_before(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, 1024, NULL);
    s_set_hs(w, &m, 1, 2, 0);
    s_append(w, 1, 200, 1);
    s_model_append(&m, 1, 200, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    size_t before = zkv_wal_segment_count(w);

    assert_int_equal(zkv_wal_drop_before(w, 150), ZKV_OK);
    size_t after = zkv_wal_segment_count(w);
    assert_true(after < before);
    assert_int_equal(s_count_files(dir, ".wal"), after);
    uint64_t first = zkv_wal_first_index(w);
    assert_true(first > 1 && first <= 150);
    m.first = first;
    s_verify(w, &m);
    zkv_wal_entry_t e;
    void *data;
    assert_int_equal(zkv_wal_get(w, first - 1, &e, &data), ZKV_ECOMPACTED);
    uint64_t term;
    assert_int_equal(zkv_wal_term(w, first - 1, &term), ZKV_ECOMPACTED);
    assert_int_equal(zkv_wal_truncate(w, first - 1), ZKV_ECOMPACTED);

    /*  The hard state was written before the dropped segments; it survives. */
    zkv_wal_destroy(&w);
    w = s_open(dir, 1024, NULL);
    s_verify(w, &m);

    /*  Dropping past the end keeps the newest segment and its entries. */
    assert_int_equal(zkv_wal_drop_before(w, 1000), ZKV_OK);
    assert_int_equal(zkv_wal_segment_count(w), 1);
    m.first = zkv_wal_first_index(w);
    s_verify(w, &m);
    s_append(w, 201, 210, 2);
    s_model_append(&m, 201, 210, 2);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    w = s_open(dir, 1024, NULL);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

/*  A truncation into an older segment, then dropping that segment: the
    remaining segments still replay to the same log. */
static void test_drop_after_truncate(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, 1024, NULL);
    s_append(w, 1, 100, 1);
    s_model_append(&m, 1, 100, 1);
    assert_int_equal(zkv_wal_truncate(w, 60), ZKV_OK);
    m.last = 59;
    s_append(w, 60, 150, 2);
    s_model_append(&m, 60, 150, 2);
    assert_int_equal(zkv_wal_drop_before(w, 120), ZKV_OK);
    m.first = zkv_wal_first_index(w);
    assert_true(m.first <= 120);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    w = s_open(dir, 1024, NULL);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

static void test_reset(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, 1024, NULL);
    s_append(w, 1, 50, 1);
    assert_int_equal(zkv_wal_reset(w, 300), ZKV_OK);
    assert_int_equal(zkv_wal_first_index(w), 300);
    assert_int_equal(zkv_wal_last_index(w), 299);
    m = (s_model_t){.first = 300, .last = 299};
    s_append(w, 300, 340, 7);
    s_model_append(&m, 300, 340, 7);
    assert_int_equal(zkv_wal_drop_before(w, 300), ZKV_OK);
    assert_int_equal(zkv_wal_first_index(w), 300);
    zkv_wal_destroy(&w);
    w = s_open(dir, 1024, NULL);
    s_verify(w, &m);
    zkv_wal_destroy(&w);

    /*  A new WAL can start anywhere. */
    char sub[4096];
    t_path(sub, sizeof sub, dir, "other");
    zkv_wal_options_t opts = {.first_index = 77};
    w = zkv_wal_new(s_fs, sub, &opts);
    assert_int_equal(zkv_wal_open(w, NULL), ZKV_OK);
    assert_int_equal(zkv_wal_first_index(w), 77);
    assert_int_equal(zkv_wal_last_index(w), 76);
    s_append(w, 77, 80, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

static void test_hard_state(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    zkv_wal_t *w = s_open(dir, 0, NULL);
    zkv_wal_hard_state_t hs;
    assert_false(zkv_wal_hard_state(w, &hs));
    assert_int_equal(hs.term, 0);
    zkv_wal_destroy(&w);
    w = s_open(dir, 0, NULL);
    assert_false(zkv_wal_hard_state(w, &hs));
    s_model_t m = {.first = 1};
    s_set_hs(w, &m, 3, 2, 0);
    s_set_hs(w, &m, 4, 0, 0);
    s_append(w, 1, 3, 4);
    s_model_append(&m, 1, 3, 4);
    s_set_hs(w, &m, UINT64_MAX - 1, UINT32_MAX, 3);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    w = s_open(dir, 0, NULL);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

/*  Unsynced appends are lost in a crash; synced ones are not. */
static void test_unsynced_lost_synced_kept(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    zkv_wal_t *w = s_open(dir, 0, NULL);
    s_append(w, 1, 10, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    s_append(w, 11, 12, 1);
    zkv_wal_destroy(&w); /* no sync: a crash before the buffer was written */
    w = s_open(dir, 0, NULL);
    assert_int_equal(zkv_wal_last_index(w), 10);
    zkv_wal_destroy(&w);
    t_rmtree(dir);
    free(dir);
}

static void test_directory_checks(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    zkv_wal_t *w = s_open(dir, 1024, NULL);
    s_append(w, 1, 60, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    assert_true(zkv_wal_segment_count(w) >= 3);
    zkv_wal_destroy(&w);
    char path[4096];

    /*  Other files are left alone; an unfinished segment is removed. */
    t_path(path, sizeof path, dir, "notes.txt");
    t_write_file(path, "x", 1);
    t_path(path, sizeof path, dir, "00000000000000ff-0000000000000100.wal.tmp");
    t_write_file(path, "partial", 7);
    zkv_wal_recovery_t rep;
    w = s_open(dir, 1024, &rep);
    assert_int_equal(rep.temp_removed, 1);
    assert_int_equal(access(path, F_OK), -1);
    zkv_wal_destroy(&w);

    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);

    /*  A stray name that looks like ours. */
    t_path(path, sizeof path, dir, "junk.wal");
    t_write_file(path, "x", 1);
    w = zkv_wal_new(s_fs, dir, NULL);
    assert_int_equal(zkv_wal_open(w, NULL), ZKV_ECORRUPT);
    assert_non_null(strstr(zkv_wal_error(w), "junk.wal"));
    zkv_wal_destroy(&w);
    unlink(path);

    /*  A missing segment in the middle. */
    const t_file_t *second = NULL;
    for (size_t i = 0; i < snap.count; i++)
        if (strncmp(snap.files[i].name, "0000000000000002-", 17) == 0)
            second = &snap.files[i];
    assert_non_null(second);
    t_path(path, sizeof path, dir, second->name);
    assert_int_equal(unlink(path), 0);
    t_dirsnap_t missing;
    t_dirsnap_take(dir, &missing);
    w = zkv_wal_new(s_fs, dir, NULL);
    assert_int_equal(zkv_wal_open(w, NULL), ZKV_ECORRUPT);
    assert_non_null(strstr(zkv_wal_error(w), "missing"));
    zkv_wal_destroy(&w);
    assert_true(t_dirsnap_matches(dir, &missing));
    t_dirsnap_free(&missing);

    /*  A segment renamed so its name disagrees with its header. */
    t_dirsnap_restore(dir, &snap);
    char renamed[4096];
    t_path(path, sizeof path, dir, snap.files[0].name);
    t_path(renamed, sizeof renamed, dir, "0000000000000001-0000000000000002.wal");
    assert_int_equal(rename(path, renamed), 0);
    w = zkv_wal_new(s_fs, dir, NULL);
    assert_int_equal(zkv_wal_open(w, NULL), ZKV_ECORRUPT);
    assert_non_null(strstr(zkv_wal_error(w), "does not match the file name"));
    zkv_wal_destroy(&w);

    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);
}

/*  ---- torn writes */

/*  Entries in the log of the torn-write tests, before the last record. */
#define TAIL_N 12

/*  Builds a log over two segments whose last record is an entry (or a hard
    state). Returns the model before that record and the record's place. */
static void s_build_tail_log(const char *dir, bool last_is_hs, s_model_t *before, uint64_t *off,
                             uint64_t *len, char *last_name)
{
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, 1024, NULL);
    s_set_hs(w, &m, 1, 1, 0);
    s_append(w, 1, TAIL_N, 1);
    s_model_append(&m, 1, TAIL_N, 1);
    s_set_hs(w, &m, 2, 3, TAIL_N - 4);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    assert_int_equal(zkv_wal_segment_count(w), 2);
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    const t_file_t *f = &snap.files[snap.count - 1];
    strcpy(last_name, f->name);
    *off = s_records_end(f->data, f->size);
    t_dirsnap_free(&snap);
    *before = m;
    if (last_is_hs) {
        s_set_hs(w, &m, 3, 2, TAIL_N - 1);
    } else {
        s_entry_t x;
        s_make(&x, TAIL_N + 1, 2, 150);
        assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_OK);
    }
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    assert_int_equal(zkv_wal_segment_count(w), 2);
    zkv_wal_destroy(&w);
    char path[4096];
    t_path(path, sizeof path, dir, last_name);
    *len = s_file_records_end(path) - *off;
    assert_true(*len > 0);
}

/*  The record at off of the file at path is entry index. */
static void s_check_entry_at(const char *path, uint64_t off, uint64_t index)
{
    size_t size;
    uint8_t *data = t_read_file(path, &size);
    assert_true(off + ZKV_WAL_RECORD_HEADER_SIZE + 8 <= size);
    assert_int_equal(data[off + 8], 2); /* an entry record */
    assert_int_equal(zkv_le64_get(data + off + ZKV_WAL_RECORD_HEADER_SIZE), index);
    free(data);
}

/*  After a cut at end: the pristine records up to end, then only zeros, up
    to the segment size where the file system preallocates. */
static void s_check_cut(const char *path, const t_file_t *pristine, uint64_t end, bool prealloc,
                        uint64_t segment_size)
{
    size_t size;
    uint8_t *data = t_read_file(path, &size);
    assert_int_equal(size, prealloc ? segment_size : end);
    assert_int_equal(s_records_end(data, size), end);
    assert_memory_equal(data, pristine->data, end);
    free(data);
}

/*  The last record cut short after cut bytes, for every cut: the file ends
    there (where segments grow with each write), or zeros follow up to the
    end of the preallocated file (a write that reached the disk only in
    part). A record of which only zeros reached the disk left nothing: the
    segment simply ends before it. */
static void s_torn_every_byte(bool last_is_hs, bool zeroed)
{
    char *dir = t_tmpdir("wal");
    bool prealloc = s_preallocates(dir);
    s_model_t before;
    uint64_t off, len;
    char name[64], path[4096];
    s_build_tail_log(dir, last_is_hs, &before, &off, &len, name);
    t_path(path, sizeof path, dir, name);
    t_dirsnap_t pristine;
    t_dirsnap_take(dir, &pristine);
    const t_file_t *last = t_dirsnap_find(&pristine, name);
    static const uint8_t zeros[ZKV_WAL_RECORD_HEADER_SIZE + ZKV_WAL_ENTRY_HEADER_SIZE + DATA_MAX];
    assert_true(len <= sizeof zeros);
    /*  Zeroing only the record's own trailing zeros would leave it whole. */
    uint64_t cuts = len;
    while (zeroed && last->data[off + cuts - 1] == 0)
        cuts--;
    uint64_t torn = 0;

    for (uint64_t cut = 0; cut < cuts; cut++) {
        t_dirsnap_restore(dir, &pristine);
        if (zeroed)
            s_poke(path, off + cut, zeros, (size_t) (len - cut));
        else
            assert_int_equal(truncate(path, (off_t) (off + cut)), 0);
        /*  What is left of the record up to its last nonzero byte: zeros
            after it cannot be told from the segment's zero tail. */
        uint64_t left = cut;
        while (left > 0 && last->data[off + left - 1] == 0)
            left--;
        t_dirsnap_t damaged;
        t_dirsnap_take(dir, &damaged);
        zkv_wal_recovery_t rep;
        zkv_wal_t *w = s_open(dir, 1024, &rep);
        assert_int_equal(rep.torn, left > 0);
        if (left > 0) {
            assert_string_equal(rep.torn_file, name);
            assert_int_equal(rep.torn_offset, off);
            assert_int_equal(rep.torn_bytes, left);
            s_check_cut(path, last, off, prealloc, 1024);
            torn++;
        } else {
            assert_true(t_dirsnap_matches(dir, &damaged));
        }
        t_dirsnap_free(&damaged);
        s_verify(w, &before);
        /*  Appending goes on where the good records end. */
        s_model_t after = before;
        s_append(w, TAIL_N + 1, TAIL_N + 2, 3);
        s_model_append(&after, TAIL_N + 1, TAIL_N + 2, 3);
        assert_int_equal(zkv_wal_sync(w), ZKV_OK);
        assert_int_equal(zkv_wal_segment_count(w), 2);
        zkv_wal_destroy(&w);
        s_check_entry_at(path, off, TAIL_N + 1);
        w = s_open(dir, 1024, &rep);
        assert_false(rep.torn);
        s_verify(w, &after);
        zkv_wal_destroy(&w);
    }
    assert_true(torn > cuts / 2);
    t_dirsnap_free(&pristine);
    t_rmtree(dir);
    free(dir);
}

static void test_torn_entry_every_byte(void **state)
{
    (void) state;
    s_torn_every_byte(false, false);
}

static void test_torn_hard_state_every_byte(void **state)
{
    (void) state;
    s_torn_every_byte(true, false);
}

static void test_torn_entry_before_zeros_every_byte(void **state)
{
    (void) state;
    s_torn_every_byte(false, true);
}

static void test_torn_hard_state_before_zeros_every_byte(void **state)
{
    (void) state;
    s_torn_every_byte(true, true);
}

/*  More zeros after the last record than the preallocation left (as a file
    system may after a crash): still the clean end of the segment. Nothing is
    reported or changed, and appends go on right after the last record. */
static void test_zero_tail(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    s_model_t m;
    uint64_t off, len;
    char name[64], path[4096];
    s_build_tail_log(dir, false, &m, &off, &len, name);
    t_path(path, sizeof path, dir, name);
    uint64_t size = t_file_size(path);
    assert_int_equal(truncate(path, (off_t) (size + 4096)), 0);
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    zkv_wal_recovery_t rep;
    zkv_wal_t *w = s_open(dir, 1024, &rep);
    assert_false(rep.torn);
    assert_int_equal(zkv_wal_last_index(w), TAIL_N + 1);
    assert_true(t_dirsnap_matches(dir, &snap));
    s_append(w, TAIL_N + 2, TAIL_N + 2, 2);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    assert_int_equal(zkv_wal_segment_count(w), 2);
    zkv_wal_destroy(&w);
    s_check_entry_at(path, off + len, TAIL_N + 2);
    assert_int_equal(t_file_size(path), size + 4096);

    w = s_open(dir, 1024, &rep);
    assert_false(rep.torn);
    s_visit_t v = {.m = &m, .next = 1};
    assert_int_equal(zkv_wal_read(w, 1, TAIL_N, 0, s_visit_check, &v, NULL), ZKV_OK);
    assert_int_equal(v.next, TAIL_N + 1);
    zkv_wal_entry_t e;
    void *data;
    assert_int_equal(zkv_wal_get(w, TAIL_N + 1, &e, &data), ZKV_OK);
    s_check_entry(&e, TAIL_N + 1, 2, 150); /* as s_build_tail_log wrote it */
    free(data);
    s_model_append(&m, TAIL_N + 1, TAIL_N + 2, 2);
    s_verify_from(w, &m, TAIL_N + 2);
    zkv_wal_destroy(&w);
    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);
}

/*  ---- bit flips */

typedef struct {
    uint64_t off;
    uint64_t len;
} s_span_t;

/*  Record boundaries of a pristine segment, from its length fields. */
static size_t s_records(const t_file_t *f, s_span_t *spans, size_t max)
{
    uint64_t end = s_records_end(f->data, f->size);
    size_t n = 0;
    uint64_t off = 0;
    while (off < end) {
        assert_true(n < max && off + 12 <= end);
        const uint8_t *p = f->data + off + 4;
        uint64_t len = 12 + ((uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16 |
                             (uint64_t) p[3] << 24);
        spans[n++] = (s_span_t){.off = off, .len = len};
        off += len;
    }
    assert_int_equal(off, end);
    return n;
}

static void test_bit_flip_every_byte(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    /*  Entries, hard states and a truncation over two segments; the last
        record is entry 12. */
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, 1536, NULL);
    s_set_hs(w, &m, 1, 1, 0);
    s_append(w, 1, 8, 1);
    s_model_append(&m, 1, 8, 1);
    assert_int_equal(zkv_wal_truncate(w, 6), ZKV_OK);
    m.last = 5;
    s_append(w, 6, 11, 2);
    s_model_append(&m, 6, 11, 2);
    s_set_hs(w, &m, 2, 3, 9);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    s_model_t before = m;
    s_append(w, 12, 12, 2);
    s_model_append(&m, 12, 12, 2);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    assert_int_equal(zkv_wal_segment_count(w), 2);
    zkv_wal_destroy(&w);

    t_dirsnap_t pristine;
    t_dirsnap_take(dir, &pristine);
    assert_int_equal(pristine.count, 2);
    size_t torn = 0, corrupt = 0;
    for (size_t fi = 0; fi < pristine.count; fi++) {
        const t_file_t *f = &pristine.files[fi];
        s_span_t spans[64];
        size_t nrec = s_records(f, spans, 64);
        char path[4096];
        t_path(path, sizeof path, dir, f->name);
        uint8_t *bytes = malloc(f->size);
        assert_non_null(bytes);
        for (size_t r = 0; r < nrec; r++) {
            bool last = fi + 1 == pristine.count && r + 1 == nrec;
            for (uint64_t pos = spans[r].off; pos < spans[r].off + spans[r].len; pos++) {
                /*  Every bit of the framing (length, CRC, type), one bit of
                    each payload byte. */
                bool framing = pos - spans[r].off < 12;
                for (int bit = framing ? 0 : (int) (pos % 8);
                     bit < (framing ? 8 : (int) (pos % 8) + 1); bit++) {
                    memcpy(bytes, f->data, f->size);
                    bytes[pos] ^= (uint8_t) (1u << bit);
                    t_write_file(path, bytes, f->size);
                    t_dirsnap_t flipped;
                    t_dirsnap_take(dir, &flipped);
                    zkv_wal_recovery_t rep;
                    w = zkv_wal_new(s_fs, dir, &(zkv_wal_options_t){.segment_size = 1536});
                    int rc = zkv_wal_open(w, &rep);
                    if (last) {
                        /*  Only the last record may go, and it is reported. */
                        if (rc != ZKV_OK)
                            fail_msg("flip %s+%" PRIu64 ": %s", f->name, pos, zkv_wal_error(w));
                        assert_true(rep.torn);
                        assert_int_equal(rep.torn_offset, spans[r].off);
                        s_verify(w, &before);
                        torn++;
                    } else {
                        char want[128];
                        snprintf(want, sizeof want, "offset %" PRIu64 ":", spans[r].off);
                        if (rc != ZKV_ECORRUPT)
                            fail_msg("flip %s+%" PRIu64 " bit %d: rc %d", f->name, pos, bit, rc);
                        assert_non_null(strstr(zkv_wal_error(w), f->name));
                        if (!strstr(zkv_wal_error(w), want))
                            fail_msg("flip at %" PRIu64 ": %s", pos, zkv_wal_error(w));
                        assert_true(t_dirsnap_matches(dir, &flipped));
                        corrupt++;
                    }
                    t_dirsnap_free(&flipped);
                    zkv_wal_destroy(&w);
                }
            }
        }
        t_write_file(path, f->data, f->size);
        free(bytes);
    }
    assert_true(torn > 0 && corrupt > 0);
    assert_true(t_dirsnap_matches(dir, &pristine));
    t_dirsnap_free(&pristine);
    t_rmtree(dir);
    free(dir);
}

/*  The length of a middle record made huge: a naive reader would take the
    rest of the file for a torn tail and cut off the good records after it. */
static void test_length_flip_mid_last_segment(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    zkv_wal_options_t opts = {.segment_size = 1024 * 1024};
    zkv_wal_t *w = s_open(dir, opts.segment_size, NULL);
    s_append(w, 1, 10, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    s_span_t spans[32];
    size_t n = s_records(&snap.files[0], spans, 32);
    char path[4096];
    t_path(path, sizeof path, dir, snap.files[0].name);
    uint8_t one = 0x01; /* length += 64 KiB: past the end of the records */
    s_poke(path, spans[n - 3].off + 6, &one, 1);
    t_dirsnap_t flipped;
    t_dirsnap_take(dir, &flipped);
    w = zkv_wal_new(s_fs, dir, &opts);
    assert_int_equal(zkv_wal_open(w, NULL), ZKV_ECORRUPT);
    assert_non_null(strstr(zkv_wal_error(w), "a valid record follows"));
    assert_true(t_dirsnap_matches(dir, &flipped));
    zkv_wal_destroy(&w);
    t_dirsnap_free(&flipped);
    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);
}

/*  ---- preallocated segments */

/*  fs_posix allocate: the file grows to the size with zeros, what was
    written stays, and a longer file is not cut. */
static void test_fs_allocate(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    if (!s_preallocates(dir)) {
        print_message("the file system under %s cannot preallocate\n", dir);
        t_rmtree(dir);
        free(dir);
        skip();
    }
    char path[4096];
    t_path(path, sizeof path, dir, "f");
    const zkv_fs_t *fs = zkv_fs_posix();
    int fd;
    assert_int_equal(zkv_fs_open(fs, path, ZKV_FS_WRITE | ZKV_FS_CREATE, &fd), ZKV_OK);
    assert_int_equal(zkv_fs_pwrite(fs, fd, "hello", 5, 0), ZKV_OK);
    assert_int_equal(zkv_fs_allocate(fs, fd, 8192), ZKV_OK);
    uint64_t size;
    assert_int_equal(zkv_fs_size(fs, fd, &size), ZKV_OK);
    assert_int_equal(size, 8192);
    assert_int_equal(zkv_fs_allocate(fs, fd, 100), ZKV_OK);
    assert_int_equal(zkv_fs_size(fs, fd, &size), ZKV_OK);
    assert_int_equal(size, 8192);
    assert_int_equal(zkv_fs_close(fs, fd), ZKV_OK);
    size_t n;
    uint8_t *data = t_read_file(path, &n);
    assert_int_equal(n, 8192);
    assert_memory_equal(data, "hello", 5);
    for (size_t i = 5; i < n; i++)
        if (data[i] != 0)
            fail_msg("byte %zu is %u", i, data[i]);
    free(data);
    t_rmtree(dir);
    free(dir);
}

/*  Entries 1..60 and hard states over several 2048-byte segments. */
static size_t s_build_segments(const char *dir, s_model_t *m)
{
    *m = (s_model_t){.first = 1};
    zkv_wal_t *w = s_open(dir, 2048, NULL);
    for (uint64_t i = 1; i <= 60; i += 10) {
        s_append(w, i, i + 9, 1 + i / 20);
        s_model_append(m, i, i + 9, 1 + i / 20);
        s_set_hs(w, m, 1 + i / 20, (uint32_t) i % 3, i);
        assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    }
    size_t segments = zkv_wal_segment_count(w);
    assert_true(segments >= 3);
    zkv_wal_destroy(&w);
    return segments;
}

/*  A log in preallocated segments opens to the same entries and hard state,
    reports nothing, changes no byte of any file, and appends right after
    its last record. */
static void test_preallocated_reopen(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    bool prealloc = s_preallocates(dir);
    s_model_t m;
    size_t segments = s_build_segments(dir, &m);
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    assert_int_equal(snap.count, segments);
    for (size_t i = 0; i < snap.count; i++) {
        assert_true(s_records_end(snap.files[i].data, snap.files[i].size) < 2048);
        if (prealloc)
            assert_int_equal(snap.files[i].size, 2048);
    }

    zkv_wal_recovery_t rep;
    zkv_wal_t *w = s_open(dir, 2048, &rep);
    assert_false(rep.torn);
    assert_int_equal(rep.segments, segments);
    assert_int_equal(rep.temp_removed, 0);
    s_verify(w, &m);
    assert_true(t_dirsnap_matches(dir, &snap));

    /*  One entry first, which fits in the newest segment: it lands where the
        records ended, the bytes before it as they were. Then enough for more
        segments. */
    const t_file_t *newest = &snap.files[snap.count - 1];
    uint64_t end = s_records_end(newest->data, newest->size);
    char path[4096];
    t_path(path, sizeof path, dir, newest->name);
    s_append(w, 61, 61, 4);
    s_model_append(&m, 61, 61, 4);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    assert_int_equal(zkv_wal_segment_count(w), segments);
    s_check_entry_at(path, end, 61);
    size_t size;
    uint8_t *data = t_read_file(path, &size);
    assert_int_equal(size, newest->size);
    assert_memory_equal(data, newest->data, end);
    free(data);
    s_append(w, 62, 120, 4);
    s_model_append(&m, 62, 120, 4);
    s_set_hs(w, &m, 4, 1, 100);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    assert_true(zkv_wal_segment_count(w) > segments);
    segments = zkv_wal_segment_count(w);
    zkv_wal_destroy(&w);

    w = s_open(dir, 2048, &rep);
    assert_false(rep.torn);
    assert_int_equal(rep.segments, segments);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);
}

/*  A crash after writes that were never synced: the page cache wrote a later
    page of them (here a copy of the last record, 4 KiB on) but not the one
    before it. In the newest segment the zeros at a record boundary are where
    the unsynced tail begins: cut there, reported, the records before intact
    and the next append in their place. In an older segment, which was
    synced whole before the next one began, the same bytes are damage: the
    open fails naming the file and both offsets, and changes nothing. */
static void test_zeros_then_record(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    zkv_wal_options_t opts = {.segment_size = 64 * 1024};
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, opts.segment_size, NULL);
    s_append(w, 1, 10, 1);
    s_model_append(&m, 1, 10, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    assert_int_equal(snap.count, 1);
    const t_file_t *f = &snap.files[0];
    s_span_t spans[32];
    size_t n = s_records(f, spans, 32);
    uint64_t end = spans[n - 1].off + spans[n - 1].len;
    char path[4096];
    t_path(path, sizeof path, dir, f->name);
    uint64_t later = (end + 4096) / 4096 * 4096 + 100;
    s_poke(path, later, f->data + spans[n - 1].off, (size_t) spans[n - 1].len);

    zkv_wal_recovery_t rep;
    w = s_open(dir, opts.segment_size, &rep);
    assert_true(rep.torn);
    assert_int_equal(rep.torn_offset, end);
    assert_int_equal(rep.torn_bytes, later + spans[n - 1].len - end);
    s_verify(w, &m);
    s_append(w, 11, 12, 2);
    s_model_append(&m, 11, 12, 2);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    s_check_entry_at(path, end, 11);
    w = s_open(dir, opts.segment_size, &rep);
    assert_false(rep.torn);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);

    /*  The same in an older segment. */
    dir = t_tmpdir("wal");
    s_model_t model;
    assert_true(s_build_segments(dir, &model) > 1);
    t_dirsnap_take(dir, &snap);
    f = &snap.files[0];
    n = s_records(f, spans, 32);
    end = spans[n - 1].off + spans[n - 1].len;
    t_path(path, sizeof path, dir, f->name); /* the copy may lie past the file's end */
    s_poke(path, end + 100, f->data + spans[n - 1].off, (size_t) spans[n - 1].len);
    t_dirsnap_t damaged;
    t_dirsnap_take(dir, &damaged);
    w = zkv_wal_new(s_fs, dir, &opts);
    assert_int_equal(zkv_wal_open(w, NULL), ZKV_ECORRUPT);
    char want[128];
    snprintf(want, sizeof want, "%s: bad record at offset %" PRIu64 ":", f->name, end);
    if (!strstr(zkv_wal_error(w), want))
        fail_msg("%s", zkv_wal_error(w));
    zkv_wal_destroy(&w);
    assert_true(t_dirsnap_matches(dir, &damaged));
    t_dirsnap_free(&damaged);
    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);
}

/*  An unsynced record whose middle page never reached the disk while a later
    page did: the whole zero page inside it marks a lost write, not damage, so
    it and everything after it go as the torn tail. A record with a byte
    damaged in place, a valid record after it, stays corruption
    (test_bit_flip_every_byte). */
static void test_lost_page_inside_record(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, 0, NULL);
    s_append(w, 1, 5, 1);
    s_model_append(&m, 1, 5, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    /*  Entry 6 spans three pages; entry 7 follows it. */
    static uint8_t big[3 * 4096];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t) (i * 7 + 1);
    zkv_wal_entry_t e6 = {.index = 6, .term = 1, .data = big, .size = sizeof big};
    assert_int_equal(zkv_wal_append(w, &e6, 1), ZKV_OK);
    s_append(w, 7, 7, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    const t_file_t *f = &snap.files[0];
    s_span_t spans[32];
    size_t n = s_records(f, spans, 32);
    const s_span_t *r6 = &spans[n - 2];
    uint64_t page = (r6->off + 4096) / 4096 * 4096;
    assert_true(page + 4096 < r6->off + r6->len);
    char path[4096];
    t_path(path, sizeof path, dir, f->name);
    static const uint8_t zeros[4096];
    s_poke(path, page, zeros, sizeof zeros);

    zkv_wal_recovery_t rep;
    w = s_open(dir, 0, &rep);
    assert_true(rep.torn);
    assert_int_equal(rep.torn_offset, r6->off);
    assert_int_equal(rep.torn_bytes, spans[n - 1].off + spans[n - 1].len - r6->off);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);
}

/*  The zero tail of an older segment is the end of its records; the next
    segment follows. A nonzero byte anywhere in that tail is damage: the open
    fails naming the file and where its records end, and changes nothing. In
    the newest segment the same byte is what a torn write leaves: cut. */
static void test_zero_tail_older_segment(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    s_model_t m;
    size_t segments = s_build_segments(dir, &m);
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    const t_file_t *first = &snap.files[0];
    uint64_t end = s_records_end(first->data, first->size);
    char path[4096];
    t_path(path, sizeof path, dir, first->name);
    /*  A zero tail whether or not the file system preallocates. */
    assert_int_equal(truncate(path, 2048), 0);
    assert_true(end + 100 < 2048);
    t_dirsnap_t tailed;
    t_dirsnap_take(dir, &tailed);
    zkv_wal_recovery_t rep;
    zkv_wal_t *w = s_open(dir, 2048, &rep);
    assert_false(rep.torn);
    assert_int_equal(rep.segments, segments);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    assert_true(t_dirsnap_matches(dir, &tailed));

    /*  A tail longer than recovery reads at once, all zeros: still fine. */
    const uint64_t long_tail = 9u << 20;
    assert_int_equal(truncate(path, (off_t) long_tail), 0);
    w = s_open(dir, 2048, &rep);
    assert_false(rep.torn);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    assert_int_equal(t_file_size(path), long_tail);
    t_dirsnap_restore(dir, &tailed);

    const struct {
        uint64_t at;
        uint64_t size; /* of the file */
    } cases[] = {
        {end, 2048},  {end + 1, 2048},       {end + 100, 2048},
        {2047, 2048}, {5u << 20, long_tail}, {long_tail - 1, long_tail},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t garbage = 0x5a;
        assert_int_equal(truncate(path, (off_t) cases[i].size), 0);
        s_poke(path, cases[i].at, &garbage, 1);
        t_dirsnap_t damaged;
        t_dirsnap_take(dir, &damaged);
        w = zkv_wal_new(s_fs, dir, &(zkv_wal_options_t){.segment_size = 2048});
        assert_int_equal(zkv_wal_open(w, NULL), ZKV_ECORRUPT);
        char want[128];
        snprintf(want, sizeof want, "%s: bad record at offset %" PRIu64 ":", first->name, end);
        if (!strstr(zkv_wal_error(w), want))
            fail_msg("garbage at %" PRIu64 ": %s", cases[i].at, zkv_wal_error(w));
        zkv_wal_destroy(&w);
        assert_true(t_dirsnap_matches(dir, &damaged));
        t_dirsnap_free(&damaged);
        t_dirsnap_restore(dir, &tailed);
    }

    /*  The same byte in the newest segment's tail. */
    const t_file_t *newest = &snap.files[snap.count - 1];
    uint64_t last_end = s_records_end(newest->data, newest->size);
    t_path(path, sizeof path, dir, newest->name);
    uint8_t garbage = 0x5a;
    s_poke(path, last_end + 100, &garbage, 1);
    w = s_open(dir, 2048, &rep);
    assert_true(rep.torn);
    assert_string_equal(rep.torn_file, newest->name);
    assert_int_equal(rep.torn_offset, last_end);
    assert_int_equal(rep.torn_bytes, 101);
    s_verify(w, &m);
    s_append(w, 61, 61, 4);
    s_model_append(&m, 61, 61, 4);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    s_check_entry_at(path, last_end, 61);
    w = s_open(dir, 2048, &rep);
    assert_false(rep.torn);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_dirsnap_free(&tailed);
    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);
}

/*  A torn record before the 64 MiB zero tail of a segment of the default
    size: found and cut without a byte-by-byte look at the zeros. */
static void test_torn_in_full_size_segment(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    bool prealloc = s_preallocates(dir);
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open(dir, 0, NULL);
    s_append(w, 1, 20, 1);
    s_model_append(&m, 1, 20, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    /*  Entry 21 whose write reached the disk in part only. */
    s_entry_t x;
    s_make(&x, 21, 1, 100);
    assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_OK);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    assert_int_equal(snap.count, 1);
    const t_file_t *f = &snap.files[0];
    if (prealloc)
        assert_int_equal(f->size, ZKV_WAL_SEGMENT_SIZE_DEFAULT);
    s_span_t spans[32];
    size_t n = s_records(f, spans, 32);
    char path[4096];
    t_path(path, sizeof path, dir, f->name);
    static const uint8_t zeros[64];
    s_poke(path, spans[n - 1].off + 40, zeros, sizeof zeros);
    assert_int_equal(truncate(path, ZKV_WAL_SEGMENT_SIZE_DEFAULT), 0);

    zkv_wal_recovery_t rep;
    w = s_open(dir, 0, &rep);
    assert_true(rep.torn);
    assert_int_equal(rep.torn_offset, spans[n - 1].off);
    assert_int_equal(rep.torn_bytes, spans[n - 1].len);
    s_verify(w, &m);
    s_append(w, 21, 30, 2);
    s_model_append(&m, 21, 30, 2);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    s_check_entry_at(path, spans[n - 1].off, 21);
    w = s_open(dir, 0, &rep);
    assert_false(rep.torn);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);
}

/*  ---- failing I/O */

#define STATES_MAX 64

/*  The log states since the last successful sync: recovery must find one. */
typedef struct {
    s_model_t states[STATES_MAX];
    size_t count;
} s_history_t;

static void s_hist_push(s_history_t *h, const s_model_t *m)
{
    assert_true(h->count < STATES_MAX);
    h->states[h->count++] = *m;
}

static void s_hist_synced(s_history_t *h, const s_model_t *m)
{
    h->count = 0;
    s_hist_push(h, m);
}

/*  Runs a fixed workload; stops at the first error, which must be ZKV_EIO. */
static int s_workload(const zkv_fs_t *fs, const char *dir, s_history_t *h)
{
    s_model_t m = {.first = 1};
    s_hist_synced(h, &m);
    zkv_wal_t *w = zkv_wal_new(fs, dir, &(zkv_wal_options_t){.segment_size = 1024});
    assert_non_null(w);
    int rc = zkv_wal_open(w, NULL);
    for (uint64_t r = 0; rc == ZKV_OK && r < 8; r++) {
        uint64_t term = 1 + r / 3;
        for (uint64_t i = m.last + 1; rc == ZKV_OK && i <= m.last + 6; i++) {
            s_entry_t x;
            s_make(&x, i, term, s_data_size(i, term));
            rc = zkv_wal_append(w, &x.e, 1);
            s_model_t next = h->states[h->count - 1];
            if (rc == ZKV_OK) {
                s_model_append(&next, i, i, term);
                s_hist_push(h, &next);
            }
        }
        if (rc == ZKV_OK) {
            m = h->states[h->count - 1];
            if (r % 2) {
                m.hs = (zkv_wal_hard_state_t){.term = term, .vote = (uint32_t) r, .commit = r};
                m.has_hs = true;
                rc = zkv_wal_set_hard_state(w, &m.hs);
                if (rc == ZKV_OK)
                    s_hist_push(h, &m);
            }
        }
        if (rc == ZKV_OK && r == 4) {
            rc = zkv_wal_truncate(w, m.last - 8);
            m.last -= 9;
            if (rc == ZKV_OK)
                s_hist_push(h, &m);
        }
        if (rc == ZKV_OK && r == 6)
            rc = zkv_wal_drop_before(w, m.last - 10);
        if (rc == ZKV_OK)
            rc = zkv_wal_sync(w);
        if (rc == ZKV_OK) {
            m = h->states[h->count - 1];
            s_hist_synced(h, &m);
        }
    }
    if (rc == ZKV_OK)
        rc = zkv_wal_reset(w, m.last + 20);
    if (rc == ZKV_OK) {
        m.first = m.last + 20;
        m.last = m.first - 1;
        s_hist_push(h, &m);
        rc = zkv_wal_sync(w);
    }
    if (rc != ZKV_OK) {
        assert_int_equal(rc, ZKV_EIO);
        /*  The failed call's errno is in the error, as the node prints it. */
        if (!strstr(zkv_wal_error(w), strerror(s_errnum)))
            fail_msg("error without '%s': '%s'", strerror(s_errnum), zkv_wal_error(w));
        /*  No more changes once a write failed. */
        if (zkv_wal_segment_count(w) > 0) {
            zkv_wal_hard_state_t hs = {0};
            assert_int_equal(zkv_wal_set_hard_state(w, &hs), ZKV_EIO);
        }
    }
    zkv_wal_destroy(&w);
    return rc;
}

/*  Whether the recovered log is one of the states since the last sync. */
static bool s_matches(zkv_wal_t *w, const s_model_t *m)
{
    if (zkv_wal_last_index(w) != m->last)
        return false;
    zkv_wal_hard_state_t hs;
    if (zkv_wal_hard_state(w, &hs) != m->has_hs)
        return false;
    if (m->has_hs && memcmp(&hs, &m->hs, sizeof hs) != 0)
        return false;
    uint64_t first = zkv_wal_first_index(w);
    if (first < m->first && m->last >= m->first)
        return false;
    for (uint64_t i = first; i <= m->last; i++) {
        zkv_wal_entry_t e;
        void *data;
        if (zkv_wal_get(w, i, &e, &data) != ZKV_OK)
            return false;
        uint64_t term = m->terms[i];
        uint8_t want[DATA_MAX];
        size_t size = s_data_size(i, term);
        s_fill(want, i, term, size);
        bool same = e.term == term && e.size == size && memcmp(data, want, size) == 0;
        free(data);
        if (!same)
            return false;
    }
    return true;
}

/*  Every failing write, sync, rename, ... of a workload, failing with errnum:
    the error names it, and the directory opens. */
static void s_io_errors(int errnum)
{
    const zkv_fs_op_t ops[] = {
        ZKV_FS_OP_PWRITE, ZKV_FS_OP_DATASYNC, ZKV_FS_OP_SYNC, ZKV_FS_OP_RENAME, ZKV_FS_OP_SYNC_DIR,
        ZKV_FS_OP_OPEN,   ZKV_FS_OP_UNLINK,   ZKV_FS_OP_LIST, ZKV_FS_OP_SIZE,   ZKV_FS_OP_ALLOCATE};
    zkv_fs_fault_t *fault = zkv_fs_fault_new(zkv_fs_posix());
    assert_non_null(fault);
    zkv_fs_fault_skip_syncs(fault, true);
    zkv_fs_fault_errno(fault, errnum);
    s_errnum = errnum;
    size_t runs = 0, failed = 0;
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (unsigned long skip = 0;; skip++) {
            char *dir = t_tmpdir("walio");
            zkv_fs_fault_disarm(fault);
            zkv_fs_fault_arm(fault, ops[o], skip, false);
            unsigned long before = zkv_fs_fault_failures(fault);
            s_history_t *h = calloc(1, sizeof *h);
            assert_non_null(h);
            int rc = s_workload(zkv_fs_fault_fs(fault), dir, h);
            bool tripped = zkv_fs_fault_failures(fault) > before;
            assert_int_equal(rc == ZKV_OK, !tripped);
            runs++;
            failed += tripped;
            /*  Whatever failed, the directory opens and holds a state the
                log passed through since its last successful sync. */
            zkv_wal_t *w = s_open(dir, 1024, NULL);
            bool found = false;
            for (size_t i = h->count; i-- > 0 && !found;)
                found = s_matches(w, &h->states[i]);
            if (!found)
                fail_msg("op %d skip %lu: recovered log %" PRIu64 "..%" PRIu64
                         " matches no state since the last sync",
                         (int) ops[o], skip, zkv_wal_first_index(w), zkv_wal_last_index(w));
            s_entry_t x;
            uint64_t next = zkv_wal_last_index(w) + 1;
            s_make(&x, next, 9, 10);
            assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_OK);
            assert_int_equal(zkv_wal_sync(w), ZKV_OK);
            zkv_wal_destroy(&w);
            free(h);
            t_rmtree(dir);
            free(dir);
            if (!tripped)
                break;
        }
    }
    assert_true(failed > 20);
    print_message("%s: %zu runs, %zu with a failure\n", strerror(errnum), runs, failed);
    zkv_fs_fault_destroy(&fault);
}

static void test_io_errors(void **state)
{
    (void) state;
    s_io_errors(EIO);
}

/*  A full disk: "No space left on device" reaches the error, not just "i/o error". */
static void test_no_space(void **state)
{
    (void) state;
    s_io_errors(ENOSPC);
}

/*  Reads and the open itself fail cleanly too, and change nothing. */
static void test_read_errors(void **state)
{
    (void) state;
    char *dir = t_tmpdir("wal");
    zkv_wal_t *w = s_open(dir, 1024, NULL);
    s_append(w, 1, 40, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    /*  A torn tail, so that the open has something to cut. */
    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    char path[4096];
    const t_file_t *newest = &snap.files[snap.count - 1];
    t_path(path, sizeof path, dir, newest->name);
    uint64_t end = s_records_end(newest->data, newest->size);
    assert_int_equal(truncate(path, (off_t) end - 3), 0);
    t_dirsnap_free(&snap);
    t_dirsnap_take(dir, &snap);

    zkv_fs_fault_t *fault = zkv_fs_fault_new(zkv_fs_posix());
    zkv_fs_fault_skip_syncs(fault, true);
    const zkv_fs_op_t ops[] = {ZKV_FS_OP_PREAD, ZKV_FS_OP_TRUNCATE, ZKV_FS_OP_ALLOCATE,
                               ZKV_FS_OP_SYNC,  ZKV_FS_OP_OPEN,     ZKV_FS_OP_LIST,
                               ZKV_FS_OP_MKDIR};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        zkv_fs_fault_disarm(fault);
        zkv_fs_fault_arm(fault, ops[o], 0, true);
        w = zkv_wal_new(zkv_fs_fault_fs(fault), dir, &(zkv_wal_options_t){.segment_size = 1024});
        assert_int_equal(zkv_wal_open(w, NULL), ZKV_EIO);
        assert_true(strlen(zkv_wal_error(w)) > 0);
        zkv_wal_destroy(&w);
        /*  A failed cut may have happened or not; the rest is untouched. */
        if (ops[o] != ZKV_FS_OP_SYNC && ops[o] != ZKV_FS_OP_ALLOCATE)
            assert_true(t_dirsnap_matches(dir, &snap));
        t_dirsnap_restore(dir, &snap);
    }

    /*  Reading entries back through a failing pread. */
    zkv_fs_fault_disarm(fault);
    w = s_open_with(zkv_fs_fault_fs(fault), dir, 1024, NULL);
    zkv_fs_fault_arm(fault, ZKV_FS_OP_PREAD, 0, true);
    zkv_wal_entry_t e;
    void *data;
    assert_int_equal(zkv_wal_get(w, 3, &e, &data), ZKV_EIO);
    assert_non_null(strstr(zkv_wal_error(w), "read"));
    zkv_fs_fault_disarm(fault);
    assert_int_equal(zkv_wal_get(w, 3, &e, &data), ZKV_OK);
    free(data);
    zkv_wal_destroy(&w);
    zkv_fs_fault_destroy(&fault);
    t_dirsnap_free(&snap);
    t_rmtree(dir);
    free(dir);
}

/*  Where the file system cannot preallocate, the WAL works the same and its
    segments grow as they are written. */
static void test_allocate_unsupported(void **state)
{
    (void) state;
    zkv_fs_fault_t *fault = zkv_fs_fault_new(zkv_fs_posix());
    assert_non_null(fault);
    zkv_fs_fault_skip_syncs(fault, true);
    zkv_fs_fault_unsupported_allocate(fault, true);
    const zkv_fs_t *fs = zkv_fs_fault_fs(fault);
    char *dir = t_tmpdir("wal");
    s_model_t m = {.first = 1};
    zkv_wal_t *w = s_open_with(fs, dir, 2048, NULL);
    s_set_hs(w, &m, 1, 1, 0);
    s_append(w, 1, 60, 1);
    s_model_append(&m, 1, 60, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    size_t segments = zkv_wal_segment_count(w);
    assert_true(segments >= 3);
    assert_int_equal(zkv_fs_fault_calls(fault, ZKV_FS_OP_ALLOCATE), segments);
    assert_int_equal(zkv_fs_fault_failures(fault), 0);
    s_verify(w, &m);
    zkv_wal_destroy(&w);

    t_dirsnap_t snap;
    t_dirsnap_take(dir, &snap);
    for (size_t i = 0; i < snap.count; i++)
        assert_int_equal(s_records_end(snap.files[i].data, snap.files[i].size), snap.files[i].size);
    t_dirsnap_free(&snap);
    zkv_wal_recovery_t rep;
    w = s_open_with(fs, dir, 2048, &rep);
    assert_false(rep.torn);
    s_verify(w, &m);
    s_append(w, 61, 80, 2);
    s_model_append(&m, 61, 80, 2);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_wal_destroy(&w);
    w = s_open_with(fs, dir, 2048, &rep);
    assert_false(rep.torn);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    zkv_fs_fault_destroy(&fault);
    t_rmtree(dir);
    free(dir);
}

/*  An allocate failing with EIO fails the creation of a segment as a failed
    write does: the unfinished file is removed and the WAL takes no more
    changes. What was synced before is all there on the next open. */
static void test_allocate_fails(void **state)
{
    (void) state;
    zkv_fs_fault_t *fault = zkv_fs_fault_new(zkv_fs_posix());
    assert_non_null(fault);
    zkv_fs_fault_skip_syncs(fault, true);
    const zkv_fs_t *fs = zkv_fs_fault_fs(fault);
    char *dir = t_tmpdir("wal");
    zkv_wal_options_t opts = {.segment_size = 2048};

    /*  The first segment, made by the open. */
    zkv_fs_fault_arm(fault, ZKV_FS_OP_ALLOCATE, 0, false);
    zkv_wal_t *w = zkv_wal_new(fs, dir, &opts);
    assert_int_equal(zkv_wal_open(w, NULL), ZKV_EIO);
    assert_non_null(strstr(zkv_wal_error(w), "fallocate"));
    zkv_wal_destroy(&w);
    assert_int_equal(s_count_files(dir, ".wal") + s_count_files(dir, ".tmp"), 0);

    /*  A later one, at rotation. */
    s_model_t m = {.first = 1};
    w = s_open_with(fs, dir, opts.segment_size, NULL);
    s_set_hs(w, &m, 1, 1, 0);
    s_append(w, 1, 5, 1);
    s_model_append(&m, 1, 5, 1);
    assert_int_equal(zkv_wal_sync(w), ZKV_OK);
    zkv_fs_fault_arm(fault, ZKV_FS_OP_ALLOCATE, 0, false);
    unsigned long before = zkv_fs_fault_failures(fault);
    int rc = ZKV_OK;
    for (uint64_t i = 6; rc == ZKV_OK; i++) {
        assert_true(i < MAX_INDEX);
        s_entry_t x;
        s_make(&x, i, 1, s_data_size(i, 1));
        rc = zkv_wal_append(w, &x.e, 1);
        if (rc == ZKV_OK)
            s_model_append(&m, i, i, 1);
    }
    assert_int_equal(rc, ZKV_EIO);
    assert_int_equal(zkv_fs_fault_failures(fault), before + 1);
    assert_non_null(strstr(zkv_wal_error(w), "fallocate"));
    zkv_fs_fault_disarm(fault);
    s_entry_t x;
    s_make(&x, m.last + 1, 1, 10);
    assert_int_equal(zkv_wal_append(w, &x.e, 1), ZKV_EIO);
    assert_int_equal(zkv_wal_set_hard_state(w, &m.hs), ZKV_EIO);
    assert_int_equal(zkv_wal_truncate(w, 2), ZKV_EIO);
    assert_int_equal(zkv_wal_sync(w), ZKV_EIO);
    zkv_wal_destroy(&w);
    assert_int_equal(s_count_files(dir, ".tmp"), 0);
    assert_int_equal(s_count_files(dir, ".wal"), 1);

    /*  The rotation synced the full segment before it made the next one. */
    zkv_wal_recovery_t rep;
    w = s_open(dir, opts.segment_size, &rep);
    assert_false(rep.torn);
    s_verify(w, &m);
    zkv_wal_destroy(&w);
    zkv_fs_fault_destroy(&fault);
    t_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_append_sync_read, t_teardown),
        cmocka_unit_test_teardown(test_read_limits, t_teardown),
        cmocka_unit_test_teardown(test_invalid_appends, t_teardown),
        cmocka_unit_test_teardown(test_largest_entry, t_teardown),
        cmocka_unit_test(test_largest_command_fits),
        cmocka_unit_test_teardown(test_rotation, t_teardown),
        cmocka_unit_test_teardown(test_truncate_across_segments, t_teardown),
        cmocka_unit_test_teardown(test_drop_before, t_teardown),
        cmocka_unit_test_teardown(test_drop_after_truncate, t_teardown),
        cmocka_unit_test_teardown(test_reset, t_teardown),
        cmocka_unit_test_teardown(test_hard_state, t_teardown),
        cmocka_unit_test_teardown(test_unsynced_lost_synced_kept, t_teardown),
        cmocka_unit_test_teardown(test_directory_checks, t_teardown),
        cmocka_unit_test_teardown(test_torn_entry_every_byte, t_teardown),
        cmocka_unit_test_teardown(test_torn_hard_state_every_byte, t_teardown),
        cmocka_unit_test_teardown(test_torn_entry_before_zeros_every_byte, t_teardown),
        cmocka_unit_test_teardown(test_torn_hard_state_before_zeros_every_byte, t_teardown),
        cmocka_unit_test_teardown(test_zero_tail, t_teardown),
        cmocka_unit_test_teardown(test_fs_allocate, t_teardown),
        cmocka_unit_test_teardown(test_preallocated_reopen, t_teardown),
        cmocka_unit_test_teardown(test_zeros_then_record, t_teardown),
        cmocka_unit_test_teardown(test_lost_page_inside_record, t_teardown),
        cmocka_unit_test_teardown(test_zero_tail_older_segment, t_teardown),
        cmocka_unit_test_teardown(test_torn_in_full_size_segment, t_teardown),
        cmocka_unit_test_teardown(test_bit_flip_every_byte, t_teardown),
        cmocka_unit_test_teardown(test_length_flip_mid_last_segment, t_teardown),
        cmocka_unit_test_teardown(test_io_errors, t_teardown),
        cmocka_unit_test_teardown(test_no_space, t_teardown),
        cmocka_unit_test_teardown(test_read_errors, t_teardown),
        cmocka_unit_test_teardown(test_allocate_unsupported, t_teardown),
        cmocka_unit_test_teardown(test_allocate_fails, t_teardown),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
