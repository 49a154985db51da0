/*  restore: a data directory for a new cluster from a backup (zkvd
    --restore FILE, a file `zkv snapshot save` wrote). The file is checked
    whole (one flipped byte and it is refused), written as the directory's
    snapshot with the membership of --peers in place of the one it was taken
    in, and the directory's cluster file names a new cluster: its id comes
    from --peers and the snapshot, the same on every node restored from the
    same file with the same --peers, and another than the old cluster's. The
    log starts after the snapshot. Every member of the new cluster is
    restored from the same file before any of them starts. */
#ifndef ZKV_RESTORE_H
#define ZKV_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*  0 with the snapshot's index in *index, or -1 with one line in err (a
    damaged file, a data directory already in use, a write that failed). */
int zkv_restore(const zkv_config_t *config, const char *file, uint64_t *index, char *err,
                size_t err_size);

#endif
