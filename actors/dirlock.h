/*  dirlock: one process per data directory. A node holds an exclusive flock
    on <data-dir>/LOCK for its whole life, taken before anything in the
    directory is read or written, so that a second zkvd started on the same
    directory (by mistake, with another --id) refuses to start instead of
    writing into the first one's log. The holder's pid is written into the
    file so that the refusal can name it. The kernel drops the lock when the
    process dies, however it dies; the file itself is never removed. */
#ifndef ZKV_DIRLOCK_H
#define ZKV_DIRLOCK_H

#include <stddef.h>

#define ZKV_DIRLOCK_NAME "LOCK"

typedef struct zkv_dirlock_t zkv_dirlock_t;

/*  Lock dir. NULL with one line in err when another process holds it ("data
    directory X is in use by pid N") or the lock file cannot be opened. */
zkv_dirlock_t *zkv_dirlock_new(const char *dir, char *err, size_t err_size);

/*  Release the lock. */
void zkv_dirlock_destroy(zkv_dirlock_t **self_p);

#endif
