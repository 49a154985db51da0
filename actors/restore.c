/*  restore: backup file -> <data-dir>/snap and <data-dir>/cluster. */
#include "restore.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "btree.h"
#include "cluster_file.h"
#include "fs.h"
#include "membership.h"
#include "snapshot.h"
#include "zkv_error.h"

static int s_fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
    return -1;
}

static bool s_count(const char *name, void *arg)
{
    (void) name;
    ++*(size_t *) arg;
    return true;
}

/*  A directory that holds a cluster file, a log or a snapshot is some
    node's: restoring over it would mix two histories. */
static bool s_in_use(const zkv_fs_t *fs, const char *dir)
{
    char path[ZKV_DATA_SUBDIR_SIZE_MAX];
    size_t n = 0;
    const char *subs[] = {"wal", "snap"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
        zkv_fs_list(fs, path, s_count, &n);
    }
    zkv_cluster_file_t file;
    char why[256];
    return n > 0 || zkv_cluster_file_load(fs, dir, &file, why, sizeof why) != ZKV_ENOTFOUND;
}

static uint64_t s_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int s_write(const zkv_config_t *config, const zkv_fs_t *fs, zkv_btree_t *tree,
                   zkv_snapshot_meta_t *meta, char *err, size_t err_size)
{
    zkv_cluster_file_t file = {.state = ZKV_CLUSTER_MEMBER};
    zkv_membership_from_config(config, &file.initial);
    uint64_t from = s_mix(meta->index ^ s_mix(meta->term));
    file.cluster_id = (zkv_membership_cluster_id(&file.initial) ^ from) | 1;
    size_t size = 0;
    uint8_t *members = zkv_membership_encode(&file.initial, &size);
    if (!members)
        return s_fail(err, err_size, "out of memory");
    free(meta->config);
    meta->config = members;
    meta->config_size = size;
    char dir[ZKV_DATA_SUBDIR_SIZE_MAX], why[512] = "";
    snprintf(dir, sizeof dir, "%s/snap", config->data_dir);
    if (zkv_snapshot_write(fs, dir, tree, meta, NULL, why, sizeof why) != ZKV_OK)
        return s_fail(err, err_size, "cannot write the snapshot into %s: %s", dir, why);
    if (zkv_cluster_file_save(fs, config->data_dir, &file) != ZKV_OK)
        return s_fail(err, err_size, "cannot write %s/%s", config->data_dir, ZKV_CLUSTER_FILE_NAME);
    return 0;
}

int zkv_restore(const zkv_config_t *config, const char *file, uint64_t *index, char *err,
                size_t err_size)
{
    const zkv_fs_t *fs = zkv_fs_posix();
    if (s_in_use(fs, config->data_dir))
        return s_fail(err, err_size,
                      "--restore: %s already holds a node's data; restore into an empty directory",
                      config->data_dir);
    zkv_btree_t *tree = NULL;
    zkv_snapshot_meta_t meta = {0};
    char why[512] = "";
    int rc = zkv_snapshot_load(fs, file, &tree, &meta, why, sizeof why);
    if (rc != ZKV_OK)
        return s_fail(err, err_size, "--restore %s: not a usable backup (%s): %s", file,
                      zkv_strerror(rc), why);
    int result = s_write(config, fs, tree, &meta, err, err_size);
    *index = meta.index;
    zkv_btree_destroy(&tree);
    zkv_snapshot_meta_clear(&meta);
    return result;
}
