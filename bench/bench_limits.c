/*  bench_limits: what this machine allows a replicated write, measured with
    nothing of zkv in the way, so that zkv's own figures can be read as a
    fraction of it (bench/compare prints both).

    - disk: 4 KiB appends to a fresh file in --dir, each followed by one
      fdatasync, for --seconds: syncs per second, p50 and p99 of one
      append + sync. The file is preallocated (fallocate), as zkv's log
      segments are, so that a sync need not commit a new file size too
      (where the filesystem cannot, the file grows and the report says so).
      A log write can be no faster than this, and a replicated write needs
      one on the leader and one on a follower.
      Then the same with 3 files appended and synced at once by 3 threads,
      as 3 nodes on one disk do: their syncs wait for each other.
    - network: a ZeroMQ DEALER and ROUTER over tcp on 127.0.0.1, in two
      contexts as two processes would be, 64-byte messages echoed by the
      ROUTER: p50 and p99 of one round trip with 1 message in flight, then
      round trips per second with 64 in flight. A write needs at least one
      such round trip from leader to follower and back.
    - thread hand-off: a ZeroMQ PAIR pair over inproc between two threads
      of one context, each blocking in zmq_poll as zkv's actors do, 64-byte
      messages echoed, 1 in flight: p50 and p99 of one round trip with the
      two threads pinned to two different CPUs (only where the process may
      use 2 CPUs or more), then with both pinned to one CPU. A replicated
      write crosses about a dozen hand-offs between threads; on this kind
      of VM, waking a thread on another CPU costs far more than on the same
      CPU. Left unpinned, the scheduler picks which of the two a run
      measures, and picks differently from run to run.

    Prints a small table, or one JSON object with --json. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define APPEND_SIZE 4096
#define FILE_SIZE_MAX (512L * 1024 * 1024) /* start over past this, to bound the disk used */
#define MESSAGE_SIZE 64
#define WINDOW 64              /* messages in flight in the throughput test */
#define SAMPLES_MAX (4u << 20) /* latency samples kept per test */
#define WARMUP_ROUND_TRIPS 2000
#define WRITERS 3 /* the nodes of a cluster on one disk */

typedef struct {
    double ops_per_s;
    double p50_us;
    double p99_us;
} s_figures_t;

typedef struct {
    const char *dir;
    double seconds;
    bool json;
} s_options_t;

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

/*  Sorts the samples; fills the percentiles in microseconds. */
static void s_percentiles(double *samples, size_t n, s_figures_t *out)
{
    if (n == 0)
        return;
    qsort(samples, n, sizeof *samples, s_by_value);
    out->p50_us = samples[n / 2] * 1e6;
    out->p99_us = samples[(size_t) ((double) (n - 1) * 0.99)] * 1e6;
}

static void s_die(const char *what)
{
    fprintf(stderr, "bench_limits: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ------------------------------------------------------------------ disk */

static int s_open_scratch(const char *dir, char *path, size_t size)
{
    snprintf(path, size, "%s/bench_limits.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        s_die(dir);
    return fd;
}

static bool s_preallocated = true; /* false once a filesystem could not */

/*  Appends and syncs until `end`; returns the number of samples taken. */
static size_t s_append_until(const char *dir, double end, double *samples, size_t samples_max)
{
    char path[4096];
    int fd = s_open_scratch(dir, path, sizeof path);
    if (fallocate(fd, 0, 0, FILE_SIZE_MAX) != 0)
        s_preallocated = false;
    char block[APPEND_SIZE];
    memset(block, 'z', sizeof block);
    size_t n = 0;
    off_t size = 0;
    double now = s_now();
    while (now < end && n < samples_max) {
        if (size >= FILE_SIZE_MAX)
            size = 0; /* overwriting is no slower than filling unwritten space */
        double t0 = now;
        if (pwrite(fd, block, sizeof block, size) != (ssize_t) sizeof block)
            s_die(path);
        if (fdatasync(fd) != 0)
            s_die(path);
        size += APPEND_SIZE;
        now = s_now();
        samples[n++] = now - t0;
    }
    close(fd);
    unlink(path);
    return n;
}

static s_figures_t s_disk(const s_options_t *options, double *samples)
{
    double start = s_now();
    size_t n = s_append_until(options->dir, start + options->seconds, samples, SAMPLES_MAX);
    s_figures_t out = {.ops_per_s = (double) n / (s_now() - start)};
    s_percentiles(samples, n, &out);
    return out;
}

typedef struct {
    const char *dir;
    double end;
    double *samples;
    size_t n;
} s_writer_t;

static void *s_writer(void *arg)
{
    s_writer_t *w = arg;
    w->n = s_append_until(w->dir, w->end, w->samples, SAMPLES_MAX / WRITERS);
    return NULL;
}

/*  WRITERS threads at once, each on its own file; the samples of all of
    them together. */
static s_figures_t s_disk_parallel(const s_options_t *options, double *samples)
{
    s_writer_t writers[WRITERS];
    pthread_t threads[WRITERS];
    double start = s_now();
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = (s_writer_t){options->dir, start + options->seconds,
                                  samples + (size_t) i * (SAMPLES_MAX / WRITERS), 0};
        if (pthread_create(&threads[i], NULL, s_writer, &writers[i]) != 0)
            s_die("pthread_create");
    }
    size_t n = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(threads[i], NULL);
        memmove(samples + n, writers[i].samples, writers[i].n * sizeof *samples);
        n += writers[i].n;
    }
    s_figures_t out = {.ops_per_s = (double) n / (s_now() - start)};
    s_percentiles(samples, n, &out);
    return out;
}

/* --------------------------------------------------------------- network */

/*  The ROUTER side: echoes every message to its sender until it gets an
    empty one. */
static void *s_echo(void *arg)
{
    void *router = arg;
    for (;;) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&id, router, 0) < 0 || zmq_msg_recv(&body, router, 0) < 0)
            s_die("router receive");
        bool stop = zmq_msg_size(&body) == 0;
        if (zmq_msg_send(&id, router, ZMQ_SNDMORE) < 0 || zmq_msg_send(&body, router, 0) < 0)
            s_die("router send");
        if (stop)
            return NULL;
    }
}

static void s_send(void *socket, const char *payload, size_t size)
{
    if (zmq_send(socket, payload, size, 0) != (int) size)
        s_die("zmq send");
}

static void s_recv(void *dealer)
{
    char buffer[MESSAGE_SIZE];
    if (zmq_recv(dealer, buffer, sizeof buffer, 0) < 0)
        s_die("dealer receive");
}

/*  One message in flight: every round trip timed, the answer taken by
    `receive`. */
static s_figures_t s_one_in_flight(void *socket, double seconds, double *samples,
                                   void (*receive)(void *socket))
{
    char payload[MESSAGE_SIZE];
    memset(payload, 'z', sizeof payload);
    for (int i = 0; i < WARMUP_ROUND_TRIPS; i++) {
        s_send(socket, payload, sizeof payload);
        receive(socket);
    }
    size_t n = 0;
    double start = s_now(), end = start + seconds, now = start;
    while (now < end && n < SAMPLES_MAX) {
        double t0 = now;
        s_send(socket, payload, sizeof payload);
        receive(socket);
        now = s_now();
        samples[n++] = now - t0;
    }
    s_figures_t out = {.ops_per_s = (double) n / (now - start)};
    s_percentiles(samples, n, &out);
    return out;
}

/*  WINDOW messages in flight: a new one leaves as each answer comes back. */
static double s_window(void *dealer, double seconds)
{
    char payload[MESSAGE_SIZE];
    memset(payload, 'z', sizeof payload);
    for (int i = 0; i < WINDOW; i++)
        s_send(dealer, payload, sizeof payload);
    uint64_t n = 0;
    double start = s_now(), end = start + seconds, now = start;
    while (now < end) {
        s_recv(dealer);
        s_send(dealer, payload, sizeof payload);
        if (++n % 256 == 0)
            now = s_now();
    }
    now = s_now();
    for (int i = 0; i < WINDOW; i++)
        s_recv(dealer);
    return (double) n / (now - start);
}

static void s_network(const s_options_t *options, double *samples, s_figures_t *one,
                      double *window_per_s)
{
    /* Two contexts, each with its own I/O thread, as two processes have. */
    void *server_ctx = zmq_ctx_new(), *client_ctx = zmq_ctx_new();
    void *router = zmq_socket(server_ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(client_ctx, ZMQ_DEALER);
    if (!router || !dealer || zmq_bind(router, "tcp://127.0.0.1:*") != 0)
        s_die("zmq socket");
    char endpoint[256];
    size_t size = sizeof endpoint;
    if (zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &size) != 0 ||
        zmq_connect(dealer, endpoint) != 0)
        s_die("zmq connect");
    pthread_t echo;
    if (pthread_create(&echo, NULL, s_echo, router) != 0)
        s_die("pthread_create");

    *one = s_one_in_flight(dealer, options->seconds, samples, s_recv);
    *window_per_s = s_window(dealer, options->seconds);

    s_send(dealer, "", 0);
    s_recv(dealer);
    pthread_join(echo, NULL);
    int linger = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(client_ctx);
    zmq_ctx_term(server_ctx);
}

/* ------------------------------------------------------ thread hand-off */

/*  Receives after blocking in zmq_poll, as an actor's loop does, rather
    than inside zmq_recv. */
static int s_poll_recv(void *socket, char *buffer, size_t size)
{
    zmq_pollitem_t item = {.socket = socket, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, -1) != 1)
        s_die("zmq_poll");
    int received = zmq_recv(socket, buffer, size, 0);
    if (received < 0)
        s_die("inproc receive");
    return received;
}

static void s_poll_recv_reply(void *socket)
{
    char buffer[MESSAGE_SIZE];
    s_poll_recv(socket, buffer, sizeof buffer);
}

/*  The other end of the PAIR: echoes every message until an empty one. */
static void *s_inproc_echo(void *arg)
{
    void *pair = arg;
    for (;;) {
        char buffer[MESSAGE_SIZE];
        int size = s_poll_recv(pair, buffer, sizeof buffer);
        if (zmq_send(pair, buffer, (size_t) size, 0) != size)
            s_die("inproc send");
        if (size == 0)
            return NULL;
    }
}

/*  Where the two threads of the hand-off test run: the caller stays on
    the CPU it is on; the echo thread goes to that CPU too, or to another
    one the caller may use. Returns false when there is no such other CPU. */
static bool s_pick_cpus(const cpu_set_t *allowed, bool same_cpu, int *main_cpu, int *echo_cpu)
{
    *main_cpu = sched_getcpu();
    if (*main_cpu < 0)
        s_die("sched_getcpu");
    *echo_cpu = *main_cpu;
    if (same_cpu)
        return true;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (cpu != *main_cpu && CPU_ISSET(cpu, allowed)) {
            *echo_cpu = cpu;
            return true;
        }
    }
    return false;
}

static void s_one_cpu(int cpu, cpu_set_t *set)
{
    CPU_ZERO(set);
    CPU_SET(cpu, set);
}

/*  One round trip at a time between two threads of one context, pinned to
    one CPU with `same_cpu`, else to two different ones. The caller's own
    affinity is put back afterwards. Returns false, measuring nothing, when
    the process may use only one CPU and `same_cpu` is false. */
static bool s_inproc(const s_options_t *options, double *samples, bool same_cpu, s_figures_t *out)
{
    cpu_set_t original;
    if (pthread_getaffinity_np(pthread_self(), sizeof original, &original) != 0)
        s_die("pthread_getaffinity_np");
    int main_cpu, echo_cpu;
    if (!s_pick_cpus(&original, same_cpu, &main_cpu, &echo_cpu))
        return false;

    /* The context's own threads start with the first socket: created
       before pinning, they keep the process's whole set of CPUs. */
    void *ctx = zmq_ctx_new();
    void *main_end = zmq_socket(ctx, ZMQ_PAIR), *echo_end = zmq_socket(ctx, ZMQ_PAIR);
    if (!main_end || !echo_end || zmq_bind(main_end, "inproc://bench_limits") != 0 ||
        zmq_connect(echo_end, "inproc://bench_limits") != 0)
        s_die("zmq inproc socket");

    cpu_set_t main_set, echo_set;
    s_one_cpu(main_cpu, &main_set);
    s_one_cpu(echo_cpu, &echo_set);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (pthread_setaffinity_np(pthread_self(), sizeof main_set, &main_set) != 0 ||
        pthread_attr_setaffinity_np(&attr, sizeof echo_set, &echo_set) != 0)
        s_die("pin to a CPU");
    pthread_t echo;
    if (pthread_create(&echo, &attr, s_inproc_echo, echo_end) != 0)
        s_die("pthread_create");
    pthread_attr_destroy(&attr);

    *out = s_one_in_flight(main_end, options->seconds, samples, s_poll_recv_reply);

    s_send(main_end, "", 0);
    s_poll_recv_reply(main_end);
    pthread_join(echo, NULL);
    if (pthread_setaffinity_np(pthread_self(), sizeof original, &original) != 0)
        s_die("restore CPU affinity");
    zmq_close(echo_end);
    zmq_close(main_end);
    zmq_ctx_term(ctx);
    return true;
}

/* ---------------------------------------------------------------- output */

static void s_usage(FILE *out)
{
    fprintf(out, "usage: bench_limits [--dir DIR] [--seconds S] [--json]\n"
                 "  --dir DIR     where the 4 KiB appends go (default .): the data disk\n"
                 "  --seconds S   length of each of the six tests (default 3)\n"
                 "  --json        print one JSON object instead of a table\n");
}

static s_options_t s_parse(int argc, char **argv)
{
    s_options_t options = {.dir = ".", .seconds = 3.0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            options.dir = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            options.seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            options.json = true;
        else {
            s_usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
            exit(strcmp(argv[i], "--help") == 0 ? 0 : 2);
        }
    }
    if (options.seconds <= 0) {
        s_usage(stderr);
        exit(2);
    }
    return options;
}

/*  `value` with `unit` after it, or `absent` when there is none. */
static void s_format_optional(char *buffer, size_t size, bool present, double value,
                              const char *unit, const char *absent)
{
    if (present)
        snprintf(buffer, size, "%.1f%s", value, unit);
    else
        snprintf(buffer, size, "%s", absent);
}

int main(int argc, char **argv)
{
    s_options_t options = s_parse(argc, argv);
    double *samples = malloc(SAMPLES_MAX * sizeof *samples);
    if (!samples)
        s_die("malloc");
    s_figures_t disk = s_disk(&options, samples);
    s_figures_t disk_parallel = s_disk_parallel(&options, samples);
    s_figures_t one = {0};
    double window_per_s = 0;
    s_network(&options, samples, &one, &window_per_s);
    s_figures_t cross_cpu = {0}, same_cpu = {0};
    bool have_cross_cpu = s_inproc(&options, samples, false, &cross_cpu);
    s_inproc(&options, samples, true, &same_cpu);
    free(samples);

    /* null in JSON, n/a in the table, where the test could not run */
    char cross_cpu_p50[32], cross_cpu_p99[32];
    const char *unit = options.json ? "" : " us", *absent = options.json ? "null" : "n/a";
    s_format_optional(cross_cpu_p50, sizeof cross_cpu_p50, have_cross_cpu, cross_cpu.p50_us, unit,
                      absent);
    s_format_optional(cross_cpu_p99, sizeof cross_cpu_p99, have_cross_cpu, cross_cpu.p99_us, unit,
                      absent);

    if (options.json) {
        printf(
            "{\"preallocated\":%s,\"fdatasync_per_s\":%.0f,\"fdatasync_p50_us\":%.1f,\"fdatasync_"
            "p99_us\":%.1f,"
            "\"writers\":%d,\"parallel_fdatasync_per_s\":%.0f,\"parallel_fdatasync_p50_us\":%.1f,"
            "\"parallel_fdatasync_p99_us\":%.1f,\"zmq_rtt_p50_us\":%.1f,\"zmq_rtt_p99_us\":%.1f,"
            "\"zmq_window\":%d,"
            "\"zmq_window_round_trips_per_s\":%.0f,\"inproc_rtt_cross_cpu_p50_us\":%s,"
            "\"inproc_rtt_cross_cpu_p99_us\":%s,\"inproc_rtt_same_cpu_p50_us\":%.1f,"
            "\"inproc_rtt_same_cpu_p99_us\":%.1f}\n",
            s_preallocated ? "true" : "false", disk.ops_per_s, disk.p50_us, disk.p99_us, WRITERS,
            disk_parallel.ops_per_s, disk_parallel.p50_us, disk_parallel.p99_us, one.p50_us,
            one.p99_us, WINDOW, window_per_s, cross_cpu_p50, cross_cpu_p99, same_cpu.p50_us,
            same_cpu.p99_us);
        return 0;
    }
    printf("disk (%s): 4 KiB append + fdatasync  %8.0f /s   p50 %7.1f us   p99 %7.1f us%s\n",
           options.dir, disk.ops_per_s, disk.p50_us, disk.p99_us,
           s_preallocated ? "" : "   (the file could not be preallocated: it grew)");
    printf("disk (%s): same, %d files at once   %8.0f /s   p50 %7.1f us   p99 %7.1f us\n",
           options.dir, WRITERS, disk_parallel.ops_per_s, disk_parallel.p50_us,
           disk_parallel.p99_us);
    printf("ZeroMQ DEALER/ROUTER, tcp 127.0.0.1, %d B, 1 in flight   p50 %7.1f us   p99 %7.1f us\n",
           MESSAGE_SIZE, one.p50_us, one.p99_us);
    printf("ZeroMQ DEALER/ROUTER, tcp 127.0.0.1, %d B, %d in flight  %8.0f round trips/s\n",
           MESSAGE_SIZE, WINDOW, window_per_s);
    printf("ZeroMQ PAIR, inproc, 2 threads, two CPUs, %d B, 1 in flight"
           "  p50 %10s   p99 %10s\n",
           MESSAGE_SIZE, cross_cpu_p50, cross_cpu_p99);
    printf("ZeroMQ PAIR, inproc, 2 threads, one CPU, %d B, 1 in flight"
           "   p50 %7.1f us   p99 %7.1f us\n",
           MESSAGE_SIZE, same_cpu.p50_us, same_cpu.p99_us);
    return 0;
}
