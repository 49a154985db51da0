/*  snapshot_dir: the snapshots of a directory. Finding the newest one that
    loads, and removing the ones a newer snapshot has made useless. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot_private.h"
#include "hex.h"
#include "zkv_error.h"

bool snap_parse_name(const char *name, uint64_t *index, uint64_t *term, const char **suffix)
{
    if (strlen(name) < ZKV_SNAPSHOT_NAME_SIZE || name[16] != '-' ||
        memcmp(name + 33, ".snap", 5) != 0)
        return false;
    *suffix = name + ZKV_SNAPSHOT_NAME_SIZE;
    if (**suffix && strcmp(*suffix, SNAP_TEMP_SUFFIX) && strcmp(*suffix, SNAP_RECV_SUFFIX))
        return false;
    return zkv_hex16_parse(name, index) && zkv_hex16_parse(name + 17, term);
}

typedef struct {
    uint64_t index;
    uint64_t term;
    char name[ZKV_SNAPSHOT_NAME_SIZE + 8];
} s_entry_t;

typedef struct {
    s_entry_t *entries;
    size_t count;
    size_t cap;
    bool nomem;
} s_listing_t;

static bool s_list_one(const char *name, void *arg)
{
    s_listing_t *l = arg;
    s_entry_t e;
    const char *suffix;
    if (!snap_parse_name(name, &e.index, &e.term, &suffix))
        return true;
    snprintf(e.name, sizeof e.name, "%s", name);
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        s_entry_t *grown = realloc(l->entries, cap * sizeof *grown);
        if (!grown) {
            l->nomem = true;
            return false;
        }
        l->entries = grown;
        l->cap = cap;
    }
    l->entries[l->count++] = e;
    return true;
}

/*  Newest first. */
static int s_newer_first(const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? 1 : -1;
    return x->term < y->term ? 1 : x->term > y->term ? -1 : 0;
}

static int s_list(const zkv_fs_t *fs, const char *dir, s_listing_t *l, char *err, size_t err_size)
{
    *l = (s_listing_t){0};
    int rc = zkv_fs_list(fs, dir, s_list_one, l);
    if (rc == ZKV_ENOTFOUND)
        return snap_error(err, err_size, rc, "no directory %s", dir);
    if (rc != ZKV_OK)
        return snap_error(err, err_size, ZKV_EIO, "list %s: %s", dir, strerror(errno));
    if (l->nomem)
        return snap_error(err, err_size, ZKV_ENOMEM, "out of memory listing %s", dir);
    if (l->count > 1)
        qsort(l->entries, l->count, sizeof *l->entries, s_newer_first);
    return ZKV_OK;
}

/*  Loads one candidate; a file whose header disagrees with its name is refused. */
static int s_try(const zkv_fs_t *fs, const char *dir, const s_entry_t *e, zkv_btree_t **tree_p,
                 zkv_snapshot_meta_t *meta, char *err, size_t err_size)
{
    char path[PATH_MAX];
    if (snap_path(path, sizeof path, dir, e->name, "") != ZKV_OK)
        return snap_error(err, err_size, ZKV_EINVAL, "snapshot path in %s too long", dir);
    zkv_btree_t *tree = NULL;
    zkv_snapshot_meta_t m = {0};
    uint64_t index, term;
    int rc = snap_load(fs, path, tree_p ? &tree : NULL, meta ? &m : NULL, false, &index, &term, err,
                       err_size);
    if (rc == ZKV_OK && (index != e->index || term != e->term)) {
        rc = snap_error(err, err_size, ZKV_ECORRUPT,
                        "%s: offset 16: holds index %" PRIu64 " term %" PRIu64
                        ", not what its name says",
                        path, index, term);
        zkv_btree_destroy(&tree);
        zkv_snapshot_meta_clear(&m);
    }
    if (rc == ZKV_OK) {
        if (tree_p)
            *tree_p = tree;
        if (meta)
            *meta = m;
    }
    return rc;
}

int zkv_snapshot_load_latest(const zkv_fs_t *fs, const char *dir, zkv_btree_t **tree_p,
                             zkv_snapshot_meta_t *meta, char name[ZKV_SNAPSHOT_NAME_SIZE + 1],
                             size_t *refused, char *err, size_t err_size)
{
    if (refused)
        *refused = 0;
    if (err && err_size)
        err[0] = '\0';
    s_listing_t l;
    int rc = s_list(fs, dir, &l, err, err_size);
    if (rc != ZKV_OK)
        return rc;
    size_t bad = 0;
    bool found = false;
    char first[512] = "", why[512];
    for (size_t i = 0; i < l.count && !found && rc == ZKV_OK; i++) {
        const s_entry_t *e = &l.entries[i];
        if (strlen(e->name) != ZKV_SNAPSHOT_NAME_SIZE)
            continue; /* temporary or received files */
        rc = s_try(fs, dir, e, tree_p, meta, why, sizeof why);
        if (rc == ZKV_ECORRUPT) {
            if (bad++ == 0)
                memcpy(first, why, sizeof why);
            rc = ZKV_OK;
        } else if (rc == ZKV_OK) {
            found = true;
            if (name)
                memcpy(name, e->name, ZKV_SNAPSHOT_NAME_SIZE + 1);
        } else
            snap_error(err, err_size, rc, "%s", why);
    }
    free(l.entries);
    if (refused)
        *refused = bad;
    if (rc == ZKV_OK && bad > 0)
        snap_error(err, err_size, rc, "%s", first);
    if (rc == ZKV_OK && !found)
        rc = snap_error(err, err_size, ZKV_ENOTFOUND, "no valid snapshot in %s%s%s", dir,
                        bad ? "; refused: " : "", first);
    return rc;
}

/*  Whether (index, term) a comes before b. */
static bool s_older(uint64_t ai, uint64_t at, uint64_t bi, uint64_t bt)
{
    return ai < bi || (ai == bi && at < bt);
}

static bool s_prunable(const s_entry_t *e, uint64_t index, uint64_t term)
{
    const char *suffix = e->name + ZKV_SNAPSHOT_NAME_SIZE;
    bool older = s_older(e->index, e->term, index, term);
    /* A newer one may be under way in the background (storage's writer). */
    if (strcmp(suffix, SNAP_TEMP_SUFFIX) == 0)
        return !s_older(index, term, e->index, e->term);
    if (strcmp(suffix, SNAP_RECV_SUFFIX) == 0)
        return older || (e->index == index && e->term == term);
    return older;
}

int zkv_snapshot_prune(const zkv_fs_t *fs, const char *dir, const char *keep, size_t *removed,
                       char *err, size_t err_size)
{
    uint64_t index, term;
    const char *suffix;
    if (removed)
        *removed = 0;
    if (!snap_parse_name(keep, &index, &term, &suffix) || *suffix)
        return snap_error(err, err_size, ZKV_EINVAL, "%s is not a snapshot name", keep);
    s_listing_t l;
    int rc = s_list(fs, dir, &l, err, err_size);
    size_t n = 0;
    for (size_t i = 0; rc == ZKV_OK && i < l.count; i++) {
        char path[PATH_MAX];
        if (!s_prunable(&l.entries[i], index, term))
            continue;
        if (snap_path(path, sizeof path, dir, l.entries[i].name, "") != ZKV_OK)
            rc = snap_error(err, err_size, ZKV_EINVAL, "snapshot path in %s too long", dir);
        else if (zkv_fs_unlink(fs, path) != ZKV_OK)
            rc = snap_error(err, err_size, ZKV_EIO, "remove %s: %s", path, strerror(errno));
        else
            n++;
    }
    free(l.entries);
    if (removed)
        *removed = n;
    if (rc == ZKV_OK && n > 0 && zkv_fs_sync_dir(fs, dir) != ZKV_OK)
        rc = snap_error(err, err_size, ZKV_EIO, "fsync directory %s: %s", dir, strerror(errno));
    return rc;
}
