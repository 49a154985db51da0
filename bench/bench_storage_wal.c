/*  bench_storage_wal: the WAL's group commit. Entries of 150 bytes (a 16-byte
    key, a 100-byte value and their command encoding) are appended in batches
    of 1, 16 and 256, with one zkv_wal_sync (one fdatasync) per batch, for a
    fixed time each, into a fresh directory under the given one that is
    removed afterwards. Prints records/s, fsyncs/s, MB/s and the commit latency
    of a batch; then how fast the largest log is recovered on open. */
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_storage.h"
#include "fs.h"
#include "wal.h"
#include "zkv_error.h"

#define DATA_SIZE 150
#define SECONDS_PER_BATCH 2.0
#define SAMPLES_MAX 1000000

typedef struct {
    size_t batch;
    uint64_t records;
    uint64_t syncs;
    uint64_t bytes; /* record bytes written, framing included */
    double seconds;
    double p50_us; /* append + sync of one batch */
    double p99_us;
} s_result_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int s_by_value(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static zkv_wal_t *s_open(const char *dir, zkv_wal_recovery_t *report)
{
    zkv_wal_t *wal = zkv_wal_new(zkv_fs_posix(), dir, NULL);
    if (!wal) {
        fprintf(stderr, "bench_storage: cannot make a WAL on %s\n", dir);
        return NULL;
    }
    int rc = zkv_wal_open(wal, report);
    if (rc != ZKV_OK) {
        fprintf(stderr, "bench_storage: open %s: %s\n", dir, zkv_wal_error(wal));
        zkv_wal_destroy(&wal);
    }
    return wal;
}

/*  Appends batches of the given size for SECONDS_PER_BATCH. */
static int s_run(const char *dir, size_t batch, s_result_t *out)
{
    zkv_wal_t *wal = s_open(dir, NULL);
    if (!wal)
        return -1;
    zkv_wal_entry_t *entries = calloc(batch, sizeof *entries);
    uint8_t(*data)[DATA_SIZE] = calloc(batch, DATA_SIZE);
    double *samples = malloc(SAMPLES_MAX * sizeof *samples);
    if (!entries || !data || !samples) {
        fprintf(stderr, "bench_storage: out of memory\n");
        free(entries);
        free(data);
        free(samples);
        zkv_wal_destroy(&wal);
        return -1;
    }
    *out = (s_result_t){.batch = batch};
    uint64_t index = zkv_wal_last_index(wal) + 1;
    int rc = ZKV_OK;
    double start = s_now(), now = start;
    while (rc == ZKV_OK && now - start < SECONDS_PER_BATCH && out->syncs < SAMPLES_MAX) {
        for (size_t i = 0; i < batch; i++, index++) {
            memset(data[i], 'v', DATA_SIZE);
            snprintf((char *) data[i], 17, "key-%012" PRIu64, index);
            entries[i] =
                (zkv_wal_entry_t){.index = index, .term = 1, .data = data[i], .size = DATA_SIZE};
        }
        double t0 = now;
        rc = zkv_wal_append(wal, entries, batch);
        if (rc == ZKV_OK)
            rc = zkv_wal_sync(wal);
        now = s_now();
        samples[out->syncs++] = (now - t0) * 1e6;
        out->records += batch;
    }
    out->seconds = now - start;
    out->bytes =
        out->records * (ZKV_WAL_RECORD_HEADER_SIZE + ZKV_WAL_ENTRY_HEADER_SIZE + DATA_SIZE);
    qsort(samples, out->syncs, sizeof *samples, s_by_value);
    out->p50_us = samples[out->syncs / 2];
    out->p99_us = samples[out->syncs * 99 / 100];
    if (rc != ZKV_OK)
        fprintf(stderr, "bench_storage: %s: %s\n", zkv_strerror(rc), zkv_wal_error(wal));
    zkv_wal_destroy(&wal);
    free(entries);
    free(data);
    free(samples);
    return rc == ZKV_OK ? 0 : -1;
}

static void s_print(const s_result_t *r)
{
    printf("  %5zu  %9" PRIu64 "  %8" PRIu64 "  %11.0f  %9.0f  %7.1f  %9.0f  %9.0f\n", r->batch,
           r->records, r->syncs, (double) r->records / r->seconds, (double) r->syncs / r->seconds,
           (double) r->bytes / r->seconds / 1e6, r->p50_us, r->p99_us);
}

/*  Opens the log written last and times its recovery. */
static int s_recover(const char *dir)
{
    zkv_wal_recovery_t report;
    double t0 = s_now();
    zkv_wal_t *wal = s_open(dir, &report);
    double s = s_now() - t0;
    if (!wal)
        return -1;
    printf("  recovery: %" PRIu64 " records in %zu segment(s) read in %.3f s (%.0f records/s)\n",
           report.records, report.segments, s, (double) report.records / s);
    zkv_wal_destroy(&wal);
    return 0;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

int bench_wal_run(const char *dir)
{
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/zkv-bench-wal-XXXXXX", dir);
    if (!mkdtemp(root)) {
        perror("bench_storage: mkdtemp");
        return -1;
    }
    printf("WAL: %d-byte entries, one fdatasync per batch, %.0f s per batch size, in %s\n",
           DATA_SIZE, SECONDS_PER_BATCH, dir);
    printf("  %5s  %9s  %8s  %11s  %9s  %7s  %9s  %9s\n", "batch", "records", "fsyncs", "records/s",
           "fsyncs/s", "MB/s", "p50 us", "p99 us");
    const size_t batches[] = {1, 16, 256};
    int rc = 0;
    char sub[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof batches / sizeof batches[0] && rc == 0; i++) {
        snprintf(sub, sizeof sub, "%s/batch-%zu", root, batches[i]);
        s_result_t r;
        rc = s_run(sub, batches[i], &r);
        if (rc == 0)
            s_print(&r);
    }
    if (rc == 0)
        rc = s_recover(sub);
    if (nftw(root, s_remove, 16, FTW_DEPTH | FTW_PHYS) != 0)
        perror("bench_storage: remove the scratch directory");
    return rc;
}
