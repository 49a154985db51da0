/*  boot: a node's state recovered from its data directory. The cluster file
    says which cluster the node belongs to (written at the first start: a
    new cluster's id from --peers, or none yet with --join); a node removed
    from its cluster refuses to start. The newest valid snapshot restores
    the state machine and the membership as of it; the write-ahead log after
    it and the last hard state restart the Raft core. A log that does not continue the
    snapshot (ends before it, or holds its index in another term) restarts
    after it. A corrupt log or a gap between the snapshot and the log stops
    the node with one clear line. */
#ifndef ZKV_BOOT_H
#define ZKV_BOOT_H

#include <stdint.h>

#include "cluster_file.h"
#include "config.h"
#include "fs.h"
#include "kvstore.h"
#include "raft.h"
#include "wal.h"

typedef struct {
    const zkv_fs_t *fs; /* what it was recovered from */
    zkv_kvstore_t *kv;
    zkv_wal_t *wal;
    zkv_raft_t *raft;
    uint64_t snapshot_index; /* 0: no snapshot */
    uint64_t snapshot_term;
    uint64_t snapshot_size;   /* bytes of its file: what a leader sends a follower */
    char snapshot_path[ZKV_DATA_PATH_SIZE_MAX]; /* "" when there is none */
    zkv_cluster_file_t cluster;
    /* The membership as of the snapshot (the cluster's first one without a
       snapshot), a packed zkv.ClusterConfig. */
    uint8_t *members;
    size_t members_size;
} zkv_boot_t;

/*  Recover into boot. 0, or -1 with one line in err (boot is then cleared). */
int zkv_boot(const zkv_config_t *config, zkv_boot_t *boot, char *err, size_t err_size);

/*  The same on fs, with the Raft core's random seed (0: a random one). */
int zkv_boot_on(const zkv_config_t *config, const zkv_fs_t *fs, uint64_t seed, zkv_boot_t *boot,
                char *err, size_t err_size);

/*  Free what boot still holds. */
void zkv_boot_clear(zkv_boot_t *boot);

#endif
