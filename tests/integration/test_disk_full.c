/*  integration_disk_full: a follower whose data directory is on a small
    tmpfs runs out of space, first while following (its log and its own
    snapshots fill the disk), then while installing the leader's snapshot
    after a restart with the disk nearly full. Each time it must stop with
    the real cause on stderr ("No space left on device" and what it was
    writing) while the other two keep serving and lose no acknowledged
    write; once the tmpfs is enlarged it must start from its own directory
    (no wipe), catch up and serve every key. Needs root (mount): skipped
    (77) where mounting a tmpfs is not permitted. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "harness.h"

#define FOLLOWER 3
#define SNAPSHOT_ENTRIES 200
#define VALUE_SIZE (32 * 1024)
#define DISK_MB 8 /* as mounted: "size=8m" */
#define BIG_DISK_MB 64
#define FILL_KEYS_MAX 600 /* ~19 MiB of values: far past the follower's 8 MiB */
#define AWAY_KEYS 300     /* written while it is down: the others compact past it */
#define EXIT_MS 60000

static char s_mount[64];
static bool s_mounted;

static void s_unmount(void)
{
    if (s_mounted && umount2(s_mount, MNT_DETACH) == 0)
        s_mounted = false;
    if (s_mount[0] && !s_mounted)
        rmdir(s_mount);
}

/*  A tmpfs of size_mb at s_mount; false (and why in err) when not permitted. */
static bool s_mount_small(char *err, size_t size)
{
    snprintf(s_mount, sizeof s_mount, "/tmp/zkv-disk-full-XXXXXX");
    if (!mkdtemp(s_mount)) {
        snprintf(err, size, "mkdtemp: %s", strerror(errno));
        s_mount[0] = 0;
        return false;
    }
    if (mount("tmpfs", s_mount, "tmpfs", 0, "size=8m") != 0) {
        snprintf(err, size, "mount -t tmpfs on %s: %s", s_mount, strerror(errno));
        rmdir(s_mount);
        s_mount[0] = 0;
        return false;
    }
    s_mounted = true;
    return true;
}

static void s_resize(uint64_t bytes)
{
    char options[64];
    snprintf(options, sizeof options, "size=%llu", (unsigned long long) bytes);
    CHECK(mount("tmpfs", s_mount, "tmpfs", MS_REMOUNT, options) == 0, "remount %s %s: %s",
          s_mount, options, strerror(errno));
    h_note("tmpfs resized: %s", options);
}

static uint64_t s_used(void)
{
    struct statvfs st;
    CHECK(statvfs(s_mount, &st) == 0, "statvfs %s: %s", s_mount, strerror(errno));
    return (uint64_t) (st.f_blocks - st.f_bfree) * st.f_frsize;
}

static void s_value(uint8_t *buf, size_t i)
{
    for (size_t k = 0; k < VALUE_SIZE; k++)
        buf[k] = (uint8_t) ('a' + (k * 13 + i * 7) % 26);
}

/*  Put key i; every put must be acknowledged (the leader and one follower suffice). */
static void s_put(zkv_client_t *client, size_t i)
{
    static uint8_t value[VALUE_SIZE];
    char key[32];
    snprintf(key, sizeof key, "k-%04zu", i);
    s_value(value, i);
    zkv_op_t op = {.type = ZKV_OP_PUT,
                   .key = {(const uint8_t *) key, strlen(key)},
                   .value = {value, sizeof value}};
    const Zkv__Response *reply;
    int rc = zkv_client_call(client, &op, &reply);
    CHECK(rc == 0 && reply->status == ZKV__STATUS__OK, "put %s: %d", key, rc);
}

/*  Every key below count, through endpoint (serializable) or the leader. */
static bool s_all_there(zkv_client_t *client, size_t count, const char *endpoint)
{
    static uint8_t value[VALUE_SIZE];
    for (size_t i = 0; i < count; i++) {
        char key[32];
        snprintf(key, sizeof key, "k-%04zu", i);
        s_value(value, i);
        zkv_op_t op = {.type = ZKV_OP_GET,
                       .key = {(const uint8_t *) key, strlen(key)},
                       .serializable = endpoint != NULL,
                       .endpoint = endpoint};
        const Zkv__Response *reply;
        if (zkv_client_call(client, &op, &reply) != 0 || reply->status != ZKV__STATUS__OK ||
            reply->value.len != VALUE_SIZE || memcmp(reply->value.data, value, VALUE_SIZE) != 0)
            return false;
    }
    return true;
}

static size_t s_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t) st.st_size : 0;
}

/*  Where the follower's output files end now. */
static void s_output_ends(zkv_cluster_t *cluster, size_t at[2])
{
    at[0] = s_file_size(zkv_cluster_stdout_path(cluster, FOLLOWER));
    at[1] = s_file_size(zkv_cluster_stderr_path(cluster, FOLLOWER));
}

/*  A line of the follower's output (stdout: czmq's log; stderr) after at that
    holds both texts, into line. */
static bool s_find_line(zkv_cluster_t *cluster, const size_t at[2], const char *a, const char *b,
                        char *line, size_t size)
{
    const char *paths[2] = {zkv_cluster_stdout_path(cluster, FOLLOWER),
                            zkv_cluster_stderr_path(cluster, FOLLOWER)};
    bool found = false;
    for (int i = 0; i < 2 && !found; i++) {
        FILE *f = fopen(paths[i], "r");
        if (!f)
            continue;
        fseek(f, (long) at[i], SEEK_SET);
        while (!found && fgets(line, (int) size, f))
            found = strstr(line, a) && strstr(line, b);
        fclose(f);
    }
    return found;
}

/*  The follower said why it stopped: no space, and what it was writing. */
static void s_expect_cause(zkv_cluster_t *cluster, size_t at[2], const char *what)
{
    char line[1024];
    CHECK(s_find_line(cluster, at, "No space left on device", what, line, sizeof line),
          "the follower's output has no line naming 'No space left on device' and '%s'", what);
    h_note("the follower said: %.*s", (int) strcspn(line, "\n"), line);
    s_output_ends(cluster, at);
}

/*  The follower stops on its own within EXIT_MS, exit status 1. */
static void s_expect_exit(zkv_cluster_t *cluster)
{
    int wstatus = 0;
    int rc = zkv_cluster_wait_exit(cluster, FOLLOWER, EXIT_MS, &wstatus);
    CHECK(rc == 0, "the follower did not stop within %d ms of its disk filling", EXIT_MS);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 1, "the follower ended with %s",
          zkv_cluster_wstatus_text(wstatus));
}

static void s_start_follower(zkv_cluster_t *cluster, const char *dir)
{
    CHECK(zkv_cluster_start_on(cluster, FOLLOWER, dir) == 0, "start the follower on %s", dir);
}

/*  Writes go on until the follower stops; the others acknowledge them all. */
static size_t s_fill(zkv_cluster_t *cluster, zkv_client_t *client, size_t at[2])
{
    size_t i = 0;
    for (; i < FILL_KEYS_MAX && zkv_cluster_state(cluster, FOLLOWER) == ZKV_NODE_RUNNING; i++)
        s_put(client, i);
    CHECK(i < FILL_KEYS_MAX, "the follower kept up with %d keys of %d KiB on %d MiB",
          FILL_KEYS_MAX, VALUE_SIZE / 1024, DISK_MB);
    s_expect_exit(cluster);
    h_note("the follower stopped after %zu keys (%llu KiB used of its disk)", i,
           (unsigned long long) (s_used() / 1024));
    s_expect_cause(cluster, at, "log");
    return i;
}

/*  Restarted with little room left, it must install the leader's snapshot. */
static void s_install_on_full_disk(zkv_cluster_t *cluster, const char *dir, size_t at[2])
{
    s_resize(s_used() + 2 * 1024 * 1024);
    s_start_follower(cluster, dir);
    s_expect_exit(cluster);
    s_expect_cause(cluster, at, "snapshot");
}

static void s_recover(zkv_cluster_t *cluster, zkv_client_t *client, const char *dir, size_t keys)
{
    s_resize((uint64_t) BIG_DISK_MB << 20);
    s_start_follower(cluster, dir);
    const char *endpoint = zkv_cluster_client_endpoint(cluster, FOLLOWER);
    int64_t started = h_now_ms(), deadline = started + H_CATCH_UP_MS;
    bool caught_up = false;
    while (!caught_up && h_now_ms() < deadline) {
        h_check_alive(cluster);
        caught_up = s_all_there(client, keys, endpoint);
    }
    CHECK(caught_up, "the follower does not serve all %zu keys %d ms after its restart", keys,
          H_CATCH_UP_MS);
    h_note("the follower restarted from its own directory and serves all %zu keys (%lld ms)", keys,
           (long long) (h_now_ms() - started));
}

int main(void)
{
    char why[256];
    if (!s_mount_small(why, sizeof why)) {
        printf("skip: %s\n", why);
        return 77;
    }
    atexit(s_unmount);
    h_at_fail(s_unmount);
    const char *const args[] = {"--wal-segment-bytes", "1048576", NULL};
    zkv_cluster_config_t config = {
        .name = "disk_full", .snapshot_entries = SNAPSHOT_ENTRIES, .args = args};
    zkv_cluster_t *cluster = h_cluster_new(&config);
    CHECK(zkv_cluster_start(cluster, 1) == 0 && zkv_cluster_start(cluster, 2) == 0, "start");
    uint32_t leader = h_leader(cluster);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/node%u", s_mount, FOLLOWER);
    s_start_follower(cluster, dir);
    zkv_client_t *client = h_client(cluster, leader, 10000, 64);
    size_t at[2] = {0, 0};
    size_t keys = s_fill(cluster, client, at);
    for (size_t i = keys; i < keys + AWAY_KEYS; i++)
        s_put(client, i);
    keys += AWAY_KEYS;
    CHECK(s_all_there(client, keys, NULL), "the leader lost an acknowledged write");
    h_note("the others acknowledged and serve all %zu keys", keys);
    s_install_on_full_disk(cluster, dir, at);
    s_recover(cluster, client, dir, keys);
    CHECK(s_all_there(client, keys, NULL), "the cluster lost an acknowledged write");
    zkv_client_destroy(&client);
    h_cluster_finish(&cluster);
    s_unmount();
    return 0;
}
