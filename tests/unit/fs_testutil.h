/*  fs_testutil: scratch directories for the WAL and snapshot tests, and
    copies of a directory's files kept in memory, to restore them after damaging
    them on purpose and to prove that a failed open changed nothing.
    Include after <cmocka.h>. */
#ifndef ZKV_FS_TESTUTIL_H
#define ZKV_FS_TESTUTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*  Directories made by t_tmpdir and not yet removed; t_teardown removes
    them when a test fails half-way. */
#define T_DIRS_MAX 16
static char *t_dirs[T_DIRS_MAX];

static inline int t_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

/*  A fresh directory under /tmp; the caller frees the name after t_rmtree. */
static inline char *t_tmpdir(const char *tag)
{
    char templ[256];
    snprintf(templ, sizeof templ, "/tmp/zkv-test-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(templ));
    int slot = 0;
    while (slot < T_DIRS_MAX && t_dirs[slot])
        slot++;
    assert_true(slot < T_DIRS_MAX);
    t_dirs[slot] = strdup(templ);
    char *dir = strdup(templ);
    assert_non_null(dir);
    assert_non_null(t_dirs[slot]);
    return dir;
}

static inline void t_rmtree(const char *dir)
{
    assert_int_equal(nftw(dir, t_rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
    for (int i = 0; i < T_DIRS_MAX; i++)
        if (t_dirs[i] && strcmp(t_dirs[i], dir) == 0) {
            free(t_dirs[i]);
            t_dirs[i] = NULL;
        }
}

/*  cmocka teardown: removes what a failed test left. */
static inline int t_teardown(void **state)
{
    (void) state;
    for (int i = 0; i < T_DIRS_MAX; i++)
        if (t_dirs[i]) {
            nftw(t_dirs[i], t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
            free(t_dirs[i]);
            t_dirs[i] = NULL;
        }
    return 0;
}

static inline void t_path(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t) n < size);
}

static inline uint8_t *t_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    uint8_t *data = malloc((size_t) n + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    *size = (size_t) n;
    return data;
}

static inline void t_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static inline uint64_t t_file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t) st.st_size;
}

typedef struct {
    char *name;
    uint8_t *data;
    size_t size;
} t_file_t;

/*  Every file of a directory, by name. */
typedef struct {
    t_file_t *files;
    size_t count;
} t_dirsnap_t;

static inline int t_by_name(const void *a, const void *b)
{
    return strcmp(((const t_file_t *) a)->name, ((const t_file_t *) b)->name);
}

static inline void t_dirsnap_take(const char *dir, t_dirsnap_t *s)
{
    *s = (t_dirsnap_t){0};
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        s->files = realloc(s->files, (s->count + 1) * sizeof *s->files);
        assert_non_null(s->files);
        char path[4096];
        t_path(path, sizeof path, dir, e->d_name);
        t_file_t *f = &s->files[s->count++];
        f->name = strdup(e->d_name);
        f->data = t_read_file(path, &f->size);
    }
    closedir(d);
    if (s->count > 1)
        qsort(s->files, s->count, sizeof *s->files, t_by_name);
}

static inline void t_dirsnap_free(t_dirsnap_t *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->files[i].name);
        free(s->files[i].data);
    }
    free(s->files);
    *s = (t_dirsnap_t){0};
}

static inline bool t_dirsnap_same(const t_dirsnap_t *a, const t_dirsnap_t *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        const t_file_t *x = &a->files[i], *y = &b->files[i];
        if (strcmp(x->name, y->name) || x->size != y->size || memcmp(x->data, y->data, x->size))
            return false;
    }
    return true;
}

/*  Whether dir holds exactly the files of s. */
static inline bool t_dirsnap_matches(const char *dir, const t_dirsnap_t *s)
{
    t_dirsnap_t now;
    t_dirsnap_take(dir, &now);
    bool same = t_dirsnap_same(&now, s);
    t_dirsnap_free(&now);
    return same;
}

/*  Makes dir hold exactly the files of s again. */
static inline void t_dirsnap_restore(const char *dir, const t_dirsnap_t *s)
{
    t_dirsnap_t now;
    t_dirsnap_take(dir, &now);
    char path[4096];
    for (size_t i = 0; i < now.count; i++) {
        t_path(path, sizeof path, dir, now.files[i].name);
        assert_int_equal(unlink(path), 0);
    }
    t_dirsnap_free(&now);
    for (size_t i = 0; i < s->count; i++) {
        t_path(path, sizeof path, dir, s->files[i].name);
        t_write_file(path, s->files[i].data, s->files[i].size);
    }
}

static inline const t_file_t *t_dirsnap_find(const t_dirsnap_t *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->files[i].name, name) == 0)
            return &s->files[i];
    return NULL;
}

#endif
