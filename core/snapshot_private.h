/*  snapshot_private: format constants and helpers shared by snapshot.c,
    snapshot_load.c, snapshot_dir.c and snapshot_stream.c. Private to the
    snapshot module; the format itself is described in snapshot.h. */
#ifndef ZKV_SNAPSHOT_PRIVATE_H
#define ZKV_SNAPSHOT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

#define SNAP_MAGIC UINT64_C(0x3150414e53564b5a)     /* "ZKVSNAP1" */
#define SNAP_END_MAGIC UINT64_C(0x31444e4553564b5a) /* "ZKVSEND1" */
/*  Version 2 added each key's metadata to its record; version 1 files still load
    (their keys get zero metadata). */
#define SNAP_VERSION 2u
#define SNAP_VERSION_OLDEST 1u
/*  Bytes of a record before its key: key size, value size, and from version 2
    create revision, mod revision, version and lease. */
#define SNAP_RECORD_HEADER_SIZE_V1 8u
#define SNAP_RECORD_HEADER_SIZE 40u
/*  Buffered writes go out in pieces this large. */
#define SNAP_WRITE_BUFFER_SIZE (256u * 1024)
/*  Written out to the disk this often while writing (zkv_fs_writeback). */
#define SNAP_WRITEBACK_BYTES (1u * 1024 * 1024)
/*  Loading reads through a window that holds any one record. */
#define SNAP_READ_BUFFER_SIZE (4u * 1024 * 1024)
#define SNAP_TEMP_SUFFIX ".tmp"
#define SNAP_RECV_SUFFIX ".recv"

/*  Formats into err (if not NULL) and returns rc. */
int snap_error(char *err, size_t err_size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*  Parses <index>-<term>.snap followed by nothing, ".tmp" or ".recv"; *suffix
    points at what follows ".snap". */
bool snap_parse_name(const char *name, uint64_t *index, uint64_t *term, const char **suffix);

/*  dir/name+suffix into path; ZKV_EINVAL if it does not fit. */
int snap_path(char *path, size_t size, const char *dir, const char *name, const char *suffix);

/*  Creates dir if missing and makes its entry in the parent durable. */
int snap_make_dir(const zkv_fs_t *fs, const char *dir, char *err, size_t err_size);

/*  The one loader behind load, read_meta, load_latest and recv_finish. With
    meta_only it stops after the blobs and skips the whole-file CRC. *index and
    *term receive the header's. */
int snap_load(const zkv_fs_t *fs, const char *path, zkv_btree_t **tree_p, zkv_snapshot_meta_t *meta,
              bool meta_only, uint64_t *index, uint64_t *term, char *err, size_t err_size);

#endif
