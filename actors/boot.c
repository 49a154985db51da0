/*  boot: snapshot + WAL -> kvstore, WAL and Raft core, ready for the actors. */
#include "boot.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "membership.h"
#include "snapshot.h"
#include "zkv_error.h"

typedef struct {
    zkv_raft_entry_t *entries;
    size_t count;
    size_t capacity;
    bool failed;
} loaded_t;

static int s_fail(zkv_boot_t *boot, char *err, size_t err_size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
    zkv_boot_clear(boot);
    return -1;
}

static bool s_count_file(const char *name, void *arg)
{
    (void) name;
    ++*(size_t *) arg;
    return true;
}

/*  A data directory from before cluster files: a member of the cluster its
    --peers describe, as it always was. */
static bool s_has_log(const zkv_config_t *config, const zkv_fs_t *fs)
{
    char dir[ZKV_DATA_SUBDIR_SIZE_MAX];
    size_t n = 0;
    snprintf(dir, sizeof dir, "%s/wal", config->data_dir);
    zkv_fs_list(fs, dir, s_count_file, &n);
    snprintf(dir, sizeof dir, "%s/snap", config->data_dir);
    zkv_fs_list(fs, dir, s_count_file, &n);
    return n > 0;
}

static int s_new_cluster_file(const zkv_config_t *config, zkv_boot_t *boot, char *err,
                              size_t err_size)
{
    zkv_cluster_file_t *c = &boot->cluster;
    memset(c, 0, sizeof *c);
    if (config->join && !s_has_log(config, boot->fs)) {
        c->state = ZKV_CLUSTER_JOINING; /* id and membership come from the leader */
    } else {
        zkv_membership_from_config(config, &c->initial);
        c->cluster_id = zkv_membership_cluster_id(&c->initial);
    }
    if (zkv_cluster_file_save(boot->fs, config->data_dir, c) != ZKV_OK)
        return s_fail(boot, err, err_size, "cannot write %s/%s", config->data_dir,
                      ZKV_CLUSTER_FILE_NAME);
    return 0;
}

static int s_load_cluster(const zkv_config_t *config, zkv_boot_t *boot, char *err, size_t err_size)
{
    char why[512] = "";
    int rc = zkv_cluster_file_load(boot->fs, config->data_dir, &boot->cluster, why, sizeof why);
    if (rc == ZKV_ENOTFOUND)
        return s_new_cluster_file(config, boot, err, err_size);
    if (rc != ZKV_OK)
        return s_fail(boot, err, err_size, "%s", why);
    if (boot->cluster.state == ZKV_CLUSTER_REMOVED)
        return s_fail(boot, err, err_size,
                      "node %u was removed from cluster %016" PRIx64
                      " and cannot come back: an id is never reused; to add this machine again, "
                      "empty %s and add it with a new id (zkv member add, then zkvd --join)",
                      config->id, boot->cluster.cluster_id, config->data_dir);
    return 0;
}

/*  The membership the snapshot was taken in; snapshots older than
    membership changes hold no endpoints: the cluster's first one then. */
static void s_snapshot_members(zkv_boot_t *boot, const zkv_snapshot_meta_t *meta)
{
    zkv_membership_t m;
    if (!meta->config || zkv_membership_decode(meta->config, meta->config_size, &m) != ZKV_OK)
        return;
    uint8_t *copy = malloc(meta->config_size ? meta->config_size : 1);
    if (!copy)
        return;
    memcpy(copy, meta->config, meta->config_size);
    free(boot->members);
    boot->members = copy;
    boot->members_size = meta->config_size;
}

static int s_load_snapshot(const zkv_config_t *config, zkv_boot_t *boot, char *err, size_t err_size)
{
    char dir[ZKV_DATA_SUBDIR_SIZE_MAX], name[ZKV_SNAPSHOT_NAME_SIZE + 1], why[512] = "";
    snprintf(dir, sizeof dir, "%s/snap", config->data_dir);
    zkv_btree_t *tree = NULL;
    zkv_snapshot_meta_t meta = {0};
    size_t refused = 0;
    int rc = zkv_snapshot_load_latest(boot->fs, dir, &tree, &meta, name, &refused, why, sizeof why);
    if (rc == ZKV_ENOTFOUND && refused == 0)
        return 0;
    if (rc != ZKV_OK)
        return s_fail(boot, err, err_size, "snapshot in %s: %s: %s", dir, zkv_strerror(rc), why);
    rc = zkv_kvstore_restore(boot->kv, meta.index, &tree, meta.app, meta.app_size);
    zkv_btree_destroy(&tree);
    s_snapshot_members(boot, &meta);
    boot->snapshot_index = meta.index;
    boot->snapshot_term = meta.term;
    snprintf(boot->snapshot_path, sizeof boot->snapshot_path, "%s/%s", dir, name);
    const zkv_fs_t *fs = boot->fs;
    int fd;
    if (zkv_fs_open(fs, boot->snapshot_path, ZKV_FS_READ, &fd) == ZKV_OK) {
        fs->size(fs->ctx, fd, &boot->snapshot_size);
        zkv_fs_close(fs, fd);
    }
    zkv_snapshot_meta_clear(&meta);
    if (rc != ZKV_OK)
        return s_fail(boot, err, err_size, "snapshot %s: client sessions do not decode",
                      boot->snapshot_path);
    if (refused)
        fprintf(stderr, "zkvd: %zu newer snapshot(s) in %s failed their checks (%s); using %s\n",
                refused, dir, why, name);
    return 0;
}

static bool s_collect(const zkv_wal_entry_t *e, void *arg)
{
    loaded_t *loaded = arg;
    if (loaded->count == loaded->capacity) {
        size_t cap = loaded->capacity ? loaded->capacity * 2 : 1024;
        zkv_raft_entry_t *grown = realloc(loaded->entries, cap * sizeof *grown);
        if (!grown) {
            loaded->failed = true;
            return false;
        }
        loaded->entries = grown;
        loaded->capacity = cap;
    }
    uint8_t *data = NULL;
    if (e->size && !(data = malloc(e->size))) {
        loaded->failed = true;
        return false;
    }
    if (e->size)
        memcpy(data, e->data, e->size);
    loaded->entries[loaded->count++] = (zkv_raft_entry_t){.term = e->term,
                                                          .index = e->index,
                                                          .type = e->type,
                                                          .size = (uint32_t) e->size,
                                                          .data = data};
    return true;
}

static void s_loaded_free(loaded_t *loaded)
{
    for (size_t i = 0; i < loaded->count; i++)
        free((void *) loaded->entries[i].data);
    free(loaded->entries);
}

/*  Whether the log's entries after the snapshot continue it. A log that
    holds the snapshot's own entry continues it only with the same term (a
    crash between a follower's install and its log reset leaves the old log,
    stale entries and all); one that starts right after it was restarted there
    (or its older segments were dropped). A log that ends before it holds
    nothing to keep. */
static bool s_wal_continues(const zkv_wal_t *wal, uint64_t index, uint64_t term)
{
    uint64_t held;
    if (zkv_wal_last_index(wal) < index)
        return false;
    if (zkv_wal_term(wal, index, &held) == ZKV_OK)
#if ZKV_NODE_PLANTED_BUG == 4
        /* TEST-ONLY planted bug (sim_node_planted_stale_log): a log that
           reaches the snapshot is kept, whatever the term of its entries. */
        return (void) term, true;
#else
        return held == term;
#endif
    return zkv_wal_first_index(wal) == index + 1;
}

/*  The log restarts after the snapshot: what it held does not belong to it. */
static int s_reset_wal(zkv_boot_t *boot, const char *dir, char *err, size_t err_size)
{
    uint64_t index = boot->snapshot_index, held = 0;
    zkv_wal_term(boot->wal, index, &held);
    fprintf(stderr,
            "zkvd: the log in %s (%" PRIu64 "..%" PRIu64 ", term %" PRIu64 " at %" PRIu64
            ") does not continue snapshot %" PRIu64 " of term %" PRIu64 ": restarted after it\n",
            dir, zkv_wal_first_index(boot->wal), zkv_wal_last_index(boot->wal), held, index, index,
            boot->snapshot_term);
    int rc = zkv_wal_reset(boot->wal, index + 1);
    if (rc == ZKV_OK)
        rc = zkv_wal_sync(boot->wal);
    if (rc != ZKV_OK)
        return s_fail(boot, err, err_size, "write-ahead log in %s: %s", dir,
                      zkv_wal_error(boot->wal));
    return 0;
}

static int s_open_wal(const zkv_config_t *config, zkv_boot_t *boot, char *err, size_t err_size)
{
    char dir[ZKV_DATA_SUBDIR_SIZE_MAX];
    snprintf(dir, sizeof dir, "%s/wal", config->data_dir);
    zkv_wal_options_t options = {.first_index = boot->snapshot_index + 1,
                                 .segment_size = config->wal_segment_bytes};
    boot->wal = zkv_wal_new(boot->fs, dir, &options);
    zkv_wal_recovery_t report;
    int rc = boot->wal ? zkv_wal_open(boot->wal, &report) : ZKV_ENOMEM;
    if (rc != ZKV_OK)
        return s_fail(boot, err, err_size, "write-ahead log in %s: %s", dir,
                      boot->wal ? zkv_wal_error(boot->wal) : zkv_strerror(rc));
    if (report.torn)
        fprintf(stderr,
                "zkvd: cut a torn record off the log tail: %s at offset %" PRIu64 " (%" PRIu64
                " bytes)\n",
                report.torn_file, report.torn_offset, report.torn_bytes);
    uint64_t first = zkv_wal_first_index(boot->wal), last = zkv_wal_last_index(boot->wal);
    if (last >= first && first > boot->snapshot_index + 1)
        return s_fail(boot, err, err_size,
                      "write-ahead log in %s starts at %" PRIu64
                      " but the snapshot ends at %" PRIu64 ": entries are missing",
                      dir, first, boot->snapshot_index);
    if (boot->snapshot_index &&
        !s_wal_continues(boot->wal, boot->snapshot_index, boot->snapshot_term))
        return s_reset_wal(boot, dir, err, err_size);
    return 0;
}

static void s_raft_config(const zkv_config_t *config, const zkv_boot_t *boot, uint64_t seed,
                          zkv_raft_config_t *rc)
{
    zkv_raft_config_default(rc, config->id, NULL, 0);
    if (zkv_membership_decode_raft(NULL, boot->members, boot->members_size, &rc->members) != ZKV_OK)
        memset(&rc->members, 0, sizeof rc->members);
    rc->members_data = boot->members;
    rc->members_size = boot->members_size;
    rc->decode_config = zkv_membership_decode_raft;
    rc->election_ticks = config->election_ticks;
    rc->heartbeat_ticks = config->heartbeat_ticks;
    if (config->snapshot_chunk_bytes)
        rc->snapshot_chunk_size = config->snapshot_chunk_bytes;
    rc->log_memory_bytes = (size_t) config->log_memory_bytes;
    rc->writer_acks = true; /* the log actor sends them (log.c) */
    if (seed == 0 && getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (uint64_t) time(NULL);
    rc->seed = seed ^ config->id;
}

static int s_start_raft(const zkv_config_t *config, uint64_t seed, zkv_boot_t *boot, char *err,
                        size_t err_size)
{
    loaded_t loaded = {0};
    uint64_t lo = boot->snapshot_index + 1, last = zkv_wal_last_index(boot->wal);
    int rc = ZKV_OK;
    if (lo <= last)
        rc = zkv_wal_read(boot->wal, lo, last, 0, s_collect, &loaded, NULL);
    if (rc == ZKV_OK && loaded.failed)
        rc = ZKV_ENOMEM;
    zkv_wal_hard_state_t hs;
    zkv_wal_hard_state(boot->wal, &hs);
    /* The commit index may be persisted lazily (past the log) or belong to a
       log the snapshot replaced: it lies between the snapshot and the log's end. */
    uint64_t commit = hs.commit < last ? hs.commit : last;
    if (commit < boot->snapshot_index)
        commit = boot->snapshot_index;
    zkv_raft_boot_t rboot = {
        .hard_state = {.term = hs.term, .vote = hs.vote, .commit = commit},
        .snapshot_index = boot->snapshot_index,
        .snapshot_term = boot->snapshot_term,
        .snapshot_size = boot->snapshot_size,
        .entries = loaded.entries,
        .n_entries = loaded.count,
    };
    zkv_raft_config_t rconfig;
    s_raft_config(config, boot, seed, &rconfig);
    if (rc == ZKV_OK)
        rc = zkv_raft_new(&rconfig, &rboot, &boot->raft);
    s_loaded_free(&loaded);
    if (rc != ZKV_OK)
        return s_fail(boot, err, err_size, "cannot restart Raft from the log: %s",
                      rc == ZKV_EINVAL ? "the log and hard state disagree" : zkv_strerror(rc));
    return 0;
}

int zkv_boot_on(const zkv_config_t *config, const zkv_fs_t *fs, uint64_t seed, zkv_boot_t *boot,
                char *err, size_t err_size)
{
    memset(boot, 0, sizeof *boot);
    boot->fs = fs;
    boot->kv = zkv_kvstore_new();
    if (!boot->kv)
        return s_fail(boot, err, err_size, "out of memory");
    if (s_load_cluster(config, boot, err, err_size) != 0)
        return -1;
    boot->members = zkv_membership_encode(&boot->cluster.initial, &boot->members_size);
    if (!boot->members)
        return s_fail(boot, err, err_size, "out of memory");
    if (s_load_snapshot(config, boot, err, err_size) != 0 ||
        s_open_wal(config, boot, err, err_size) != 0)
        return -1;
    return s_start_raft(config, seed, boot, err, err_size);
}

int zkv_boot(const zkv_config_t *config, zkv_boot_t *boot, char *err, size_t err_size)
{
    return zkv_boot_on(config, zkv_fs_posix(), 0, boot, err, err_size);
}

void zkv_boot_clear(zkv_boot_t *boot)
{
    zkv_kvstore_destroy(&boot->kv);
    zkv_wal_destroy(&boot->wal);
    zkv_raft_destroy(&boot->raft);
    free(boot->members);
    boot->members = NULL;
}
