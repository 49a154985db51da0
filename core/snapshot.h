/*  snapshot: the whole B+ tree and its metadata in one file.

    A snapshot is written to <dir>/<index>-<term>.snap (16 hex digits each)
    atomically: into a temporary file, fsynced, renamed, and the directory
    fsynced. The tree is streamed through a buffer, never copied. The file is
    checked as a whole by a CRC32C in its trailer, the header by its own CRC,
    and every length field against its limit and the file size before it is
    trusted; loading fails with ZKV_ECORRUPT and a message naming file and
    offset otherwise.

    A leader streams the file's raw bytes to a follower in chunks
    (zkv_snapshot_file_*); the follower writes them with zkv_snapshot_recv_*,
    which validates the received file with the same code that loads it before
    putting it in place.

    Format, integers little-endian:
      header (64 bytes): magic "ZKVSNAP1", version u32, flags u32 (0), index u64,
        term u64, key count u64, config size u64, app size u64, CRC32C of the
        previous 56 bytes u32, zero u32
      config bytes, app bytes
      key count records, keys strictly ascending: key size u32, value size u32,
        key, value
      trailer (20 bytes): magic "ZKVSEND1", file size u64, CRC32C of every byte
        before it u32 */
#ifndef ZKV_SNAPSHOT_H
#define ZKV_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "btree.h"
#include "fs.h"

#define ZKV_SNAPSHOT_HEADER_SIZE 64u
#define ZKV_SNAPSHOT_TRAILER_SIZE 20u
/*  Cluster configuration blob. */
#define ZKV_SNAPSHOT_CONFIG_SIZE_MAX (1024u * 1024)
/*  Application blob (the state machine's client sessions). */
#define ZKV_SNAPSHOT_APP_SIZE_MAX (UINT64_C(1) << 30)
/*  Whole file; a received snapshot may not grow past it either. */
#define ZKV_SNAPSHOT_FILE_SIZE_MAX (UINT64_C(64) << 30)
/*  A good chunk size for streaming a snapshot to a follower. */
#define ZKV_SNAPSHOT_CHUNK_SIZE (1024u * 1024)
/*  Length of a snapshot file name, without the terminating zero. */
#define ZKV_SNAPSHOT_NAME_SIZE 38

/*  What a snapshot holds besides the tree. Writing borrows config and app;
    loading fills them with malloc'd copies that zkv_snapshot_meta_clear frees. */
typedef struct {
    uint64_t index; /* last log index the snapshot includes */
    uint64_t term;  /* its term */
    void *config;   /* the cluster configuration, encoded by the caller */
    size_t config_size;
    void *app; /* the state machine's own state, encoded by it */
    size_t app_size;
} zkv_snapshot_meta_t;

/*  Frees what loading put into meta and zeroes it. */
void zkv_snapshot_meta_clear(zkv_snapshot_meta_t *meta);

/*  <index>-<term>.snap */
void zkv_snapshot_name(uint64_t index, uint64_t term, char name[ZKV_SNAPSHOT_NAME_SIZE + 1]);

/*  Writes tree and meta to dir (created if missing) as described above; name
    (if not NULL) receives the file name. ZKV_OK, ZKV_EINVAL (meta out of
    range), ZKV_EIO or ZKV_ENOMEM; err (if not NULL) says why. On failure
    nothing is left behind. */
int zkv_snapshot_write(const zkv_fs_t *fs, const char *dir, const zkv_btree_t *tree,
                       const zkv_snapshot_meta_t *meta, char name[ZKV_SNAPSHOT_NAME_SIZE + 1],
                       char *err, size_t err_size);

/*  The same from a view of a tree (btree.h), on any thread: what the storage
    actor's snapshot writer does while the tree goes on changing. A view
    stopped meanwhile ends it with ZKV_ESTOPPED, nothing left behind. */
int zkv_snapshot_write_view(const zkv_fs_t *fs, const char *dir, const zkv_btree_view_t *view,
                            const zkv_snapshot_meta_t *meta, char name[ZKV_SNAPSHOT_NAME_SIZE + 1],
                            char *err, size_t err_size);

/*  Reads and checks the whole file at path. With tree_p, *tree_p receives a new
    tree holding its keys; with meta, its metadata. Either may be NULL (both:
    verify only). ZKV_OK, ZKV_ECORRUPT, ZKV_ENOTFOUND, ZKV_EIO or ZKV_ENOMEM;
    on failure *tree_p and meta are left untouched. */
int zkv_snapshot_load(const zkv_fs_t *fs, const char *path, zkv_btree_t **tree_p,
                      zkv_snapshot_meta_t *meta, char *err, size_t err_size);

/*  Only the header and the blobs (checked by the header CRC and the trailer,
    not the whole-file CRC): what a leader sends along with the chunks. */
int zkv_snapshot_read_meta(const zkv_fs_t *fs, const char *path, zkv_snapshot_meta_t *meta,
                           char *err, size_t err_size);

/*  Loads the newest snapshot in dir that loads, newest by index then term.
    Newer ones that fail the checks are skipped and counted in *refused (if not
    NULL), and err describes the first of them; they are not removed. name
    receives the loaded file's name. ZKV_ENOTFOUND if none loads. A read error
    (ZKV_EIO) stops the search rather than falling back to an older snapshot. */
int zkv_snapshot_load_latest(const zkv_fs_t *fs, const char *dir, zkv_btree_t **tree_p,
                             zkv_snapshot_meta_t *meta, char name[ZKV_SNAPSHOT_NAME_SIZE + 1],
                             size_t *refused, char *err, size_t err_size);

/*  Deletes the snapshots in dir older than keep (a name in dir), temporary
    files not newer than keep (of interrupted writes: a newer one may still be
    being written), and received files not newer than keep.
    *removed (if not NULL) counts them. */
int zkv_snapshot_prune(const zkv_fs_t *fs, const char *dir, const char *keep, size_t *removed,
                       char *err, size_t err_size);

/*  ---- sending: a snapshot file's raw bytes by offset. The file stays
    readable while open even if a newer snapshot prunes it. */

typedef struct zkv_snapshot_file_t zkv_snapshot_file_t;

int zkv_snapshot_file_open(const zkv_fs_t *fs, const char *path, zkv_snapshot_file_t **file_p,
                           char *err, size_t err_size);
void zkv_snapshot_file_destroy(zkv_snapshot_file_t **file_p);
uint64_t zkv_snapshot_file_size(const zkv_snapshot_file_t *self);

/*  Up to size bytes at offset; *got < size only at the end of the file.
    ZKV_OK, ZKV_EINVAL (offset past the end) or ZKV_EIO. */
int zkv_snapshot_file_read(zkv_snapshot_file_t *self, uint64_t offset, void *buf, size_t size,
                           size_t *got);

/*  ---- receiving: chunks in order into <dir>/<name>.recv, then validated and
    renamed into place. */

typedef struct zkv_snapshot_recv_t zkv_snapshot_recv_t;

/*  A snapshot at index and term is about to arrive. NULL if out of memory or
    the path is too long. */
zkv_snapshot_recv_t *zkv_snapshot_recv_new(const zkv_fs_t *fs, const char *dir, uint64_t index,
                                           uint64_t term);

/*  Removes the partial file unless finish succeeded. */
void zkv_snapshot_recv_destroy(zkv_snapshot_recv_t **self_p);

/*  The next chunk: offset must be the bytes received so far. ZKV_OK, ZKV_EINVAL
    (wrong offset, or the file would pass ZKV_SNAPSHOT_FILE_SIZE_MAX) or ZKV_EIO.
    After a failed write or create every call returns that failure, and the
    error keeps saying why (errno's text: "No space left on device"). */
int zkv_snapshot_recv_write(zkv_snapshot_recv_t *self, uint64_t offset, const void *chunk,
                            size_t size);

/*  Bytes received so far: where the next chunk starts. */
uint64_t zkv_snapshot_recv_offset(const zkv_snapshot_recv_t *self);

/*  After the last chunk: fsyncs, loads it as zkv_snapshot_load does (tree_p
    and meta as there), checks that it is the snapshot announced, renames it to
    its final name (name, if not NULL) and fsyncs the directory. ZKV_OK,
    ZKV_ECORRUPT, ZKV_EIO, ZKV_ENOMEM, ZKV_EINVAL (nothing received); after a
    failed write, that failure and its error. */
int zkv_snapshot_recv_finish(zkv_snapshot_recv_t *self, zkv_btree_t **tree_p,
                             zkv_snapshot_meta_t *meta, char name[ZKV_SNAPSHOT_NAME_SIZE + 1]);

/*  The last error's description. */
const char *zkv_snapshot_recv_error(const zkv_snapshot_recv_t *self);

#endif
