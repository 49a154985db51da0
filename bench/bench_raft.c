/*  bench_raft: entries committed per second by core/raft alone.

    Three zkv_raft_t in one process, no faults: the leader proposes batches,
    every message is copied (as serialization would) and delivered at once,
    persistence completes as soon as a Ready is handed over, committed entries
    are "applied" by counting them. What remains is the core's own cost plus
    a memcpy per message, so the figure bounds how fast the core can go.

    bench_raft [--entries N] [--size BYTES] [--batch B ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "raft.h"

#define NODES 3
#define QUEUE_MAX 4096
#define ARENA_SIZE (64u * 1024 * 1024)

/*  Messages in flight: copies in a bump arena, one per wave (double buffered). */
typedef struct {
    zkv_raft_msg_t *msgs[QUEUE_MAX];
    uint32_t to[QUEUE_MAX];
    size_t n;
    uint8_t *arena;
    size_t used;
} wave_t;

typedef struct {
    zkv_raft_t *nodes[NODES + 1];
    wave_t waves[2];
    int cur; /* wave being filled */
    uint64_t applied[NODES + 1];
    uint64_t committed_total;
} bench_t;

static void *s_bump(wave_t *w, size_t size)
{
    size = (size + 15) & ~(size_t) 15;
    if (w->used + size > ARENA_SIZE) {
        fprintf(stderr, "bench_raft: wave arena full\n");
        exit(1);
    }
    void *p = w->arena + w->used;
    w->used += size;
    return p;
}

static void s_queue(bench_t *b, uint32_t from, const zkv_raft_msg_t *m)
{
    wave_t *w = &b->waves[b->cur];
    size_t bytes = 0;
    for (size_t i = 0; i < m->n_entries; i++)
        bytes += m->entries[i].size;
    zkv_raft_msg_t *c = s_bump(w, sizeof *c + m->n_entries * sizeof *m->entries + bytes);
    *c = *m;
    zkv_raft_entry_t *e = (zkv_raft_entry_t *) (c + 1);
    uint8_t *d = (uint8_t *) (e + m->n_entries);
    memcpy(e, m->entries, m->n_entries * sizeof *e);
    for (size_t i = 0; i < m->n_entries; i++) {
        if (e[i].size) {
            memcpy(d, e[i].data, e[i].size);
            e[i].data = d;
            d += e[i].size;
        }
    }
    c->entries = m->n_entries ? e : NULL;
    for (uint32_t id = 1; id <= NODES; id++) {
        if (id == from || (m->to != ZKV_RAFT_BROADCAST && m->to != id))
            continue;
        if (w->n == QUEUE_MAX) {
            fprintf(stderr, "bench_raft: queue full\n");
            exit(1);
        }
        w->msgs[w->n] = c;
        w->to[w->n++] = id;
    }
}

static void s_ready(bench_t *b, uint32_t id)
{
    zkv_raft_t *r = b->nodes[id];
    zkv_raft_ready_t rd;
    while (zkv_raft_ready(r, &rd) == 0) {
        for (size_t i = 0; i < rd.n_messages; i++)
            s_queue(b, id, &rd.messages[i]);
        if (rd.n_committed) {
            b->applied[id] = rd.committed[rd.n_committed - 1].index;
            if (id == 1)
                b->committed_total += rd.n_committed;
        }
        zkv_raft_advance(r, &rd);
        if (rd.must_persist)
            zkv_raft_persisted(r, rd.id);
        zkv_raft_applied(r, b->applied[id]);
    }
}

/*  Deliver waves until no message is left. */
static void s_run(bench_t *b)
{
    for (uint32_t id = 1; id <= NODES; id++)
        s_ready(b, id);
    while (b->waves[b->cur].n > 0) {
        wave_t *w = &b->waves[b->cur];
        b->cur ^= 1;
        b->waves[b->cur].n = 0;
        b->waves[b->cur].used = 0;
        for (size_t i = 0; i < w->n; i++) {
            zkv_raft_step(b->nodes[w->to[i]], w->msgs[i]);
            s_ready(b, w->to[i]);
        }
        w->n = 0;
        w->used = 0;
    }
}

static void s_setup(bench_t *b)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < 2; i++) {
        b->waves[i].arena = malloc(ARENA_SIZE);
        if (!b->waves[i].arena)
            exit(1);
    }
    uint32_t voters[NODES] = {1, 2, 3};
    for (uint32_t id = 1; id <= NODES; id++) {
        zkv_raft_config_t cfg;
        zkv_raft_config_default(&cfg, id, voters, NODES);
        cfg.max_uncommitted = 1 << 20;
        cfg.max_apply_entries = 1 << 16;
        if (zkv_raft_new(&cfg, NULL, &b->nodes[id]) != 0)
            exit(1);
    }
    zkv_raft_campaign(b->nodes[1]);
    s_run(b);
    zkv_raft_status_t s;
    zkv_raft_status(b->nodes[1], &s);
    if (s.role != ZKV_RAFT_LEADER) {
        fprintf(stderr, "bench_raft: no leader\n");
        exit(1);
    }
    b->committed_total = 0;
}

static void s_teardown(bench_t *b)
{
    for (uint32_t id = 1; id <= NODES; id++)
        zkv_raft_destroy(&b->nodes[id]);
    free(b->waves[0].arena);
    free(b->waves[1].arena);
}

/*  Drop the log everyone applied (and holds durably), as snapshots would. */
static void s_compact(bench_t *b)
{
    for (uint32_t id = 1; id <= NODES; id++) {
        zkv_raft_status_t s;
        zkv_raft_status(b->nodes[id], &s);
        uint64_t at = s.applied < s.durable_index ? s.applied : s.durable_index;
        zkv_raft_compact(b->nodes[id], at, 0);
    }
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void s_bench(size_t batch, uint64_t entries, size_t size)
{
    bench_t b;
    s_setup(&b);
    uint8_t *payload = calloc(batch, size ? size : 1);
    zkv_raft_buf_t *bufs = calloc(batch, sizeof *bufs);
    for (size_t i = 0; i < batch; i++)
        bufs[i] = (zkv_raft_buf_t){payload + i * size, size};
    uint64_t rounds = (entries + batch - 1) / batch;
    double t0 = s_now();
    for (uint64_t r = 0; r < rounds; r++) {
        if (zkv_raft_propose(b.nodes[1], bufs, batch, NULL, NULL) != 0) {
            fprintf(stderr, "bench_raft: propose failed\n");
            exit(1);
        }
        s_run(&b);
        if ((r & 255) == 255)
            s_compact(&b);
    }
    zkv_raft_tick(b.nodes[1]); /* a heartbeat brings the last commit to followers */
    s_run(&b);
    double secs = s_now() - t0;
    for (uint32_t id = 1; id <= NODES; id++)
        if (b.applied[id] != rounds * batch + 1) {
            fprintf(stderr, "bench_raft: node %u applied %llu of %llu\n", id,
                    (unsigned long long) b.applied[id], (unsigned long long) (rounds * batch + 1));
            exit(1);
        }
    printf("batch %4zu: %9llu entries of %zu bytes in %6.3f s = %10.0f entries/s "
           "(%8.0f rounds/s)\n",
           batch, (unsigned long long) b.committed_total, size, secs,
           (double) b.committed_total / secs, (double) rounds / secs);
    free(payload);
    free(bufs);
    s_teardown(&b);
}

int main(int argc, char **argv)
{
    uint64_t entries = 2000000;
    size_t size = 64;
    size_t batches[8] = {1, 16, 256};
    size_t n_batches = 3, given = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--entries") && i + 1 < argc)
            entries = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc && given < 8)
            batches[given++] = strtoul(argv[++i], NULL, 10), n_batches = given;
        else {
            fprintf(stderr, "usage: bench_raft [--entries N] [--size BYTES] [--batch B ...]\n");
            return 2;
        }
    }
    printf("$");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nbench_raft: %d nodes in one process, no faults, every message copied, "
           "persistence immediate\n",
           NODES);
    for (size_t i = 0; i < n_batches; i++) {
        uint64_t n = batches[i] == 1 && entries > 200000 ? entries / 10 : entries;
        s_bench(batches[i] ? batches[i] : 1, n, size);
    }
    return 0;
}
