/*  integration_greedy_client: a client that never reads its replies cannot
    grow a node without bound. One node holds a 64 KiB value; a raw DEALER
    sends 20,000 gets of it and reads nothing (20,000 replies are 1.3 GB).
    The reply bytes the node holds (zkv_client_reply_bytes) must stay within
    the budget of one connection and fall to none once the greedy client has
    gone; another client must still be served promptly meanwhile; and the
    node's RSS (VmRSS) must stay within a bound over its baseline and come
    back down near it. The figures are printed: the purpose is "bounded",
    not speed. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define GREEDY_GETS 20000
#define GREEDY_VALUE_SIZE (64 * 1024)
#define GREEDY_CONN_BYTES_MAX (64.0 * 1024 * 1024) /* the node's budget for one connection */
#define GREEDY_OTHER_BYTES_MAX (64.0 * 1024)       /* the other client's small replies */
/*  Sent in bursts, so that the node answers nearly every get with the value
    rather than "too many requests in flight": small replies would fill the
    ROUTER's queue of 4,096 before the byte budget mattered. */
#define GREEDY_BURST 500
#define GREEDY_PAUSE_MS 25
#define GREEDY_SETTLE_MS 6000   /* to serve (or shed) every get */
#define GREEDY_RELEASE_MS 15000 /* for the bytes and the RSS to come down */
#define GREEDY_PROMPT_MS 2000   /* another client's get, meanwhile */

/*  RSS over the baseline while the greedy client is there, and after it
    left. Without sanitizers it peaked at +65 to +85 MB (the node holding its
    64 MiB budget of replies) and came back to +0 MB. Under AddressSanitizer
    RSS is mostly its allocator's, whose free chunks go back to the system
    only at intervals: with the node holding the same 64 MiB it peaked
    anywhere from +84 to +353 MB with the machine's load. There the RSS
    bounds are only a net for unbounded growth (+1.45 GB before the
    budgets); the budget itself is checked in bytes. */
#ifdef ZKV_TEST_ASAN
#define GREEDY_GROWTH_MAX_KB (700 * 1024)
#define GREEDY_RESIDUE_MAX_KB (200 * 1024)
#else
#define GREEDY_GROWTH_MAX_KB (200 * 1024)
#define GREEDY_RESIDUE_MAX_KB (50 * 1024)
#endif

static long s_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    CHECK(f, "open %s", path);
    long kb = -1;
    while (kb < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    CHECK(kb > 0, "no VmRSS in %s", path);
    return kb;
}

/*  A DEALER that queues everything it sends and reads as little as it can. */
static zsock_t *s_greedy(const zkv_cluster_t *cluster, const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    CHECK(sock, "dealer");
    zsock_set_linger(sock, 0);
    zsock_set_sndhwm(sock, 0);
    zsock_set_rcvhwm(sock, 1);
    zsock_set_rcvbuf(sock, 64 * 1024);
    h_secure(cluster, sock);
    CHECK(zsock_connect(sock, "%s", endpoint) == 0, "connect %s", endpoint);
    return sock;
}

static void s_send_gets(zsock_t *sock, const char *key)
{
    Zkv__GetRequest get = ZKV__GET_REQUEST__INIT;
    get.key.data = (uint8_t *) key;
    get.key.len = strlen(key);
    Zkv__Request req = ZKV__REQUEST__INIT;
    req.body_case = ZKV__REQUEST__BODY_GET;
    req.get = &get;
    uint8_t buf[256];
    for (uint64_t i = 1; i <= GREEDY_GETS; i++) {
        req.request_id = i;
        size_t size = zkv__request__pack(&req, buf);
        CHECK(zsock_send(sock, "b", buf, size) == 0, "send get %llu", (unsigned long long) i);
        if (i % GREEDY_BURST == 0)
            zclock_sleep(GREEDY_PAUSE_MS);
    }
}

typedef struct {
    long rss_kb;        /* the most RSS seen */
    double reply_bytes; /* the most reply bytes the node said it held */
} peak_t;

/*  The peaks over ms, while another client's get is answered in time. */
static peak_t s_watch(zkv_cluster_t *cluster, uint32_t id, zkv_client_t *other, int64_t ms)
{
    pid_t pid = zkv_cluster_pid(cluster, id);
    peak_t peak = {0, 0};
    int64_t end = h_now_ms() + ms;
    while (h_now_ms() < end) {
        long kb = s_rss_kb(pid);
        peak.rss_kb = kb > peak.rss_kb ? kb : peak.rss_kb;
        double held = h_metric(cluster, id, "zkv_client_reply_bytes");
        CHECK(held >= 0, "no zkv_client_reply_bytes from node %u", id);
        peak.reply_bytes = held > peak.reply_bytes ? held : peak.reply_bytes;
        char value[64];
        int64_t start = h_now_ms();
        int rc = h_get(other, "small", false, NULL, value, sizeof value);
        int64_t took = h_now_ms() - start;
        CHECK(rc == ZKV__STATUS__OK && streq(value, "ok"), "other client's get: %d", rc);
        CHECK(took < GREEDY_PROMPT_MS, "other client's get took %lld ms", (long long) took);
        zclock_sleep(100);
    }
    return peak;
}

/*  Once the node holds no reply bytes (or ms passed): what it still holds. */
static double s_wait_replies_gone(zkv_cluster_t *cluster, uint32_t id, int64_t ms)
{
    int64_t end = h_now_ms() + ms;
    double held;
    while ((held = h_metric(cluster, id, "zkv_client_reply_bytes")) != 0 && h_now_ms() < end)
        zclock_sleep(200);
    return held;
}

/*  The RSS once it has come down to within GREEDY_RESIDUE_MAX_KB of base
    (or ms passed), and a second more for the node's sweeps to finish. */
static long s_wait_release(pid_t pid, long base, int64_t ms)
{
    int64_t end = h_now_ms() + ms;
    while (s_rss_kb(pid) - base > GREEDY_RESIDUE_MAX_KB && h_now_ms() < end)
        zclock_sleep(200);
    zclock_sleep(1000);
    return s_rss_kb(pid);
}

/*  Under AddressSanitizer: no quarantine, and free memory goes back to the
    system as soon as it can, so that RSS is as near as it gets to what
    zkvd itself holds (use after free is the other tests' concern). */
#ifdef ZKV_TEST_ASAN
static const char *const s_env[] = {"ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=0:"
                                    "thread_local_quarantine_size_kb=0:"
                                    "allocator_release_to_os_interval_ms=0",
                                    NULL};
#else
static const char *const *s_env = NULL;
#endif

int main(void)
{
    zkv_cluster_config_t config = {.name = "greedy", .nodes = 1, .env = s_env};
    uint32_t leader;
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    pid_t pid = zkv_cluster_pid(cluster, leader);
    zkv_client_t *client = h_client(cluster, leader, 5000, 0);
    char *big = malloc(GREEDY_VALUE_SIZE + 1);
    CHECK(big, "out of memory");
    memset(big, 'v', GREEDY_VALUE_SIZE);
    big[GREEDY_VALUE_SIZE] = '\0';
    CHECK(h_put(client, "big", big) == ZKV__STATUS__OK, "put big");
    CHECK(h_put(client, "small", "ok") == ZKV__STATUS__OK, "put small");
    free(big);
    long base = s_rss_kb(pid);

    zsock_t *greedy = s_greedy(cluster, zkv_cluster_client_endpoint(cluster, leader));
    s_send_gets(greedy, "big");
    peak_t peak = s_watch(cluster, leader, client, GREEDY_SETTLE_MS);
    h_note("greedy client: baseline %ld KB, peak %ld KB (+%ld MB), reply bytes held at most "
           "%.0f, with %d gets unread",
           base, peak.rss_kb, (peak.rss_kb - base) / 1024, peak.reply_bytes, GREEDY_GETS);
    CHECK(peak.reply_bytes > GREEDY_VALUE_SIZE, "the node held no unread replies: %.0f bytes",
          peak.reply_bytes);
    CHECK(peak.reply_bytes <= GREEDY_CONN_BYTES_MAX + GREEDY_OTHER_BYTES_MAX,
          "the node held %.0f reply bytes, over one connection's budget", peak.reply_bytes);
    CHECK(peak.rss_kb - base < GREEDY_GROWTH_MAX_KB, "RSS grew by %ld MB",
          (peak.rss_kb - base) / 1024);

    zsock_destroy(&greedy);
    double held = s_wait_replies_gone(cluster, leader, GREEDY_RELEASE_MS);
    CHECK(held == 0, "the node still holds %.0f reply bytes after the client left", held);
    long after = s_wait_release(pid, base, GREEDY_RELEASE_MS);
    h_note("greedy client gone: RSS %ld KB (+%ld MB over the baseline)", after,
           (after - base) / 1024);
    CHECK(after - base <= GREEDY_RESIDUE_MAX_KB, "RSS still %ld MB over the baseline",
          (after - base) / 1024);
    s_watch(cluster, leader, client, 200);
    zkv_client_destroy(&client);
    h_cluster_finish(&cluster);
    return 0;
}
