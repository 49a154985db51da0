/*  cluster_file: <data-dir>/cluster, which cluster a node belongs to: the
    cluster's id, the node's standing (member, joining, removed) and the
    membership before the log's first entry (--peers for a node that started
    the cluster, none for one that joined). Written once at the first start
    and when the standing changes, atomically (a new file renamed over the
    old, both synced); a checksum guards it, so a damaged file stops the node
    with one line instead of making it a member of nothing. */
#ifndef ZKV_CLUSTER_FILE_H
#define ZKV_CLUSTER_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "fs.h"
#include "membership.h"

#define ZKV_CLUSTER_FILE_NAME "cluster"

typedef enum {
    ZKV_CLUSTER_MEMBER = 0,  /* zkv.ClusterFile.MEMBER */
    ZKV_CLUSTER_JOINING = 1, /* waits for the leader to add it */
    ZKV_CLUSTER_REMOVED = 2, /* must not start again */
} zkv_cluster_state_t;

typedef struct {
    uint64_t cluster_id; /* 0: not known yet (joining) */
    zkv_cluster_state_t state;
    zkv_membership_t initial;
} zkv_cluster_file_t;

/*  Read dir's cluster file: ZKV_OK, ZKV_ENOTFOUND (none yet), or
    ZKV_ECORRUPT / ZKV_EIO with one line in err. */
int zkv_cluster_file_load(const zkv_fs_t *fs, const char *dir, zkv_cluster_file_t *file, char *err,
                          size_t err_size);

/*  Write it durably. ZKV_OK, ZKV_EIO or ZKV_ENOMEM. */
int zkv_cluster_file_save(const zkv_fs_t *fs, const char *dir, const zkv_cluster_file_t *file);

const char *zkv_cluster_state_name(zkv_cluster_state_t state);

#endif
