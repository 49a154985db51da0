/*  integration_data_dir_lock: one process per data directory. With node 2
    (say) serving, a zkvd started as another member on node 2's data
    directory must exit non-zero with one line naming node 2's pid, before it
    reads or writes anything there: node 2's files are as they were, its lock
    file still names it, and it goes on serving writes and reads. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define KEYS 200
#define REFUSE_MS 10000
#define SETTLE_MS 500
#define LISTING_SIZE 8192

/*  "name size mtime_ns" of every file under dir but LOCK, one a line. */
static void s_list(const char *dir, char *out, size_t size)
{
    out[0] = 0;
    const char *subdirs[] = {"", "/wal", "/snap"};
    for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s%s", dir, subdirs[i]);
        DIR *d = opendir(path);
        if (!d)
            continue;
        for (struct dirent *e; (e = readdir(d));) {
            char file[1500];
            struct stat st;
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            if (streq(e->d_name, "LOCK") || stat(file, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            size_t used = strlen(out);
            snprintf(out + used, size - used, "%s %lld %lld.%09ld\n", file, (long long) st.st_size,
                     (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        }
        closedir(d);
    }
}

static bool s_file_contains(const char *path, const char *text)
{
    char *data = NULL;
    size_t size = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    FILE *mem = open_memstream(&data, &size);
    char buf[4096];
    for (size_t got; (got = fread(buf, 1, sizeof buf, f)) > 0;)
        fwrite(buf, 1, got, mem);
    fclose(f);
    fclose(mem);
    bool found = strstr(data, text) != NULL;
    free(data);
    return found;
}

/*  Start node other on owner's data directory: it must be refused. */
static void s_expect_refused(zkv_cluster_t *cluster, uint32_t other, uint32_t owner)
{
    const char *dir = zkv_cluster_data_dir(cluster, owner);
    CHECK(zkv_cluster_start_on(cluster, other, dir) == 0, "start node %u on %s", other, dir);
    int wstatus = 0;
    CHECK(zkv_cluster_wait_exit(cluster, other, REFUSE_MS, &wstatus) == 0,
          "node %u, started on node %u's data directory, still runs after %d ms", other, owner,
          REFUSE_MS);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0, "node %u ended with %s", other,
          zkv_cluster_wstatus_text(wstatus));
    char line[1300];
    snprintf(line, sizeof line, "zkvd: data directory %s is in use by pid %ld", dir,
             (long) zkv_cluster_pid(cluster, owner));
    CHECK(s_file_contains(zkv_cluster_stderr_path(cluster, other), line),
          "node %u's stderr lacks '%s'", other, line);
    h_note("node %u on node %u's data directory: %s, '%s'", other, owner,
           zkv_cluster_wstatus_text(wstatus), line);
}

int main(void)
{
    uint32_t leader;
    zkv_cluster_config_t config = {.name = "data-dir-lock"};
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    zkv_client_t *client = h_client(cluster, leader, 10000, 64);
    h_put_many(client, "a-", 0, KEYS, 32);
    uint32_t owner = h_follower(cluster, leader), other = 6 - leader - owner;
    h_expect_many(client, "a-", 0, KEYS, zkv_cluster_client_endpoint(cluster, owner),
                  H_CATCH_UP_MS);
    h_stop_clean(cluster, other);
    usleep(SETTLE_MS * 1000);

    static char before[LISTING_SIZE], after[LISTING_SIZE];
    const char *dir = zkv_cluster_data_dir(cluster, owner);
    s_list(dir, before, sizeof before);
    s_expect_refused(cluster, other, owner);
    s_list(dir, after, sizeof after);
    CHECK(streq(before, after), "node %u's files changed:\n%s---- now:\n%s", owner, before, after);
    char lock[1200], pid[32];
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    snprintf(pid, sizeof pid, "%ld\n", (long) zkv_cluster_pid(cluster, owner));
    CHECK(s_file_contains(lock, pid), "%s does not name pid %s", lock, pid);

    h_put_many(client, "b-", 0, KEYS, 32);
    h_expect_many(client, "b-", 0, KEYS, zkv_cluster_client_endpoint(cluster, owner),
                  H_CATCH_UP_MS);
    h_note("node %u's files unchanged, and it serves new writes", owner);
    CHECK(zkv_cluster_start(cluster, other) == 0, "start node %u", other);
    h_expect_many(client, "b-", 0, KEYS, zkv_cluster_client_endpoint(cluster, other),
                  H_CATCH_UP_MS);
    zkv_client_destroy(&client);
    h_cluster_finish(&cluster);
    return 0;
}
