/*  cmd_snapshot: zkv snapshot save FILE, a backup, as etcdctl snapshot save.
    One node (the first of --endpoints) takes a snapshot of what it has applied
    and sends the file a piece at a time; every piece is asked of that node
    alone, so that all come from one file. They are written to FILE.part
    beside FILE, which is synced and verified whole with the loader the node
    itself uses (every checksum, and the index the node announced) before it
    is renamed to FILE: whatever is at FILE is a whole, verified snapshot. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "snapshot.h"
#include "zkv_error.h"

/*  Times a save starts again because the node replaced its snapshot midway. */
#define S_RESTARTS_MAX 3

typedef struct {
    const char *file;                            /* FILE, as given */
    char part[PATH_MAX];                         /* FILE.part */
    char dir[PATH_MAX];                          /* FILE's directory, to sync the rename */
    char endpoint[ZKV_CLIENT_ENDPOINT_SIZE_MAX]; /* the node asked */
    const zkv_fs_t *fs;
    int fd;            /* FILE.part while it is written, else -1 */
    bool created;      /* FILE.part is ours: removed unless the save succeeds */
    uint64_t index;    /* announced by the first piece; 0 before it */
    uint64_t size;     /* of the whole file, announced with the index */
    uint64_t received; /* bytes written: the offset of the next piece */
} s_save_t;

/* ---------------------------------------------------------------- the file */

/*  FILE.part and FILE's directory; false when a path is too long. */
static bool s_paths(s_save_t *s, const char *file)
{
    s->file = file;
    const char *slash = strrchr(file, '/');
    int n = slash ? snprintf(s->dir, sizeof s->dir, "%.*s", (int) (slash - file), file)
                  : snprintf(s->dir, sizeof s->dir, ".");
    if (slash == file)
        snprintf(s->dir, sizeof s->dir, "/");
    int m = snprintf(s->part, sizeof s->part, "%s.part", file);
    return n >= 0 && (size_t) n < sizeof s->dir && m >= 0 && (size_t) m < sizeof s->part;
}

/*  Whether FILE may be written, before any node is asked; FILE.part is
    created here. */
static int s_check_target(const zkv_command_t *cmd, s_save_t *s, bool force)
{
    struct stat st;
    bool exists = stat(s->file, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) {
        zkv_output_error("%s: %.300s is a directory", cmd->name, s->file);
        return ZKV_EXIT_USAGE;
    }
    if (exists && !force) {
        zkv_output_error("%s: %.300s exists (--force replaces it)", cmd->name, s->file);
        return ZKV_EXIT_USAGE;
    }
    if (zkv_fs_open(s->fs, s->part, ZKV_FS_WRITE | ZKV_FS_CREATE | ZKV_FS_TRUNC, &s->fd) !=
        ZKV_OK) {
        zkv_output_error("%s: cannot create %.300s: %s", cmd->name, s->part, strerror(errno));
        return ZKV_EXIT_USAGE;
    }
    s->created = true;
    return ZKV_EXIT_OK;
}

/*  Close and remove FILE.part: nothing of a failed save stays behind. */
static void s_discard(s_save_t *s)
{
    if (s->fd >= 0)
        zkv_fs_close(s->fs, s->fd);
    s->fd = -1;
    if (s->created)
        zkv_fs_unlink(s->fs, s->part);
}

static int s_io_failed(const char *what, const char *path)
{
    zkv_output_error("snapshot save: cannot %s %.300s: %s", what, path, strerror(errno));
    return ZKV_EXIT_ERROR;
}

/* ---------------------------------------------------------------- pieces */

/*  Check a piece against what the first one announced, and write it. */
static int s_piece(s_save_t *s, const Zkv__Response *reply)
{
    uint64_t size = reply->snapshot_size, length = reply->chunk.len;
    bool first = s->received == 0;
    const char *bad = NULL;
    if (reply->snapshot_index == 0)
        bad = "no snapshot index";
    else if (!first && (reply->snapshot_index != s->index || size != s->size))
        bad = "the snapshot's index or size changed midway";
    else if (size < ZKV_SNAPSHOT_HEADER_SIZE + ZKV_SNAPSHOT_TRAILER_SIZE ||
             size > ZKV_SNAPSHOT_FILE_SIZE_MAX)
        bad = "a snapshot size out of range";
    else if (length == 0 || length > ZKV_CLIENT_SNAPSHOT_PIECE_MAX || length > size - s->received)
        bad = "a piece that is empty, over 1 MiB or past the snapshot's end";
    if (bad) {
        zkv_output_error("bad reply from %s: %s", s->endpoint, bad);
        return ZKV_EXIT_ERROR;
    }
    s->index = reply->snapshot_index;
    s->size = size;
    if (zkv_fs_pwrite(s->fs, s->fd, reply->chunk.data, length, s->received) != ZKV_OK)
        return s_io_failed("write", s->part);
    s->received += length;
    return ZKV_EXIT_OK;
}

/*  Every piece into FILE.part, starting again (from offset 0, for a new
    snapshot) when the node replaced its snapshot meanwhile. */
static int s_fetch(s_save_t *s, zkv_client_t *client)
{
    for (int restarts = 0;;) {
        zkv_op_t op = {.type = ZKV_OP_SNAPSHOT,
                       .endpoint = s->endpoint,
                       .index = s->index,
                       .offset = s->received};
        const Zkv__Response *reply;
        int rc = zkv_client_call(client, &op, &reply);
        if (rc)
            return zkv_command_failed(client, rc);
        bool replaced = reply->status == ZKV__STATUS__FAILED_PRECONDITION;
        if (replaced && restarts == S_RESTARTS_MAX) {
            zkv_output_error("snapshot save: given up after %d restarts: %.300s", S_RESTARTS_MAX,
                             reply->error ? reply->error : "");
            return ZKV_EXIT_NEGATIVE;
        }
        if (replaced) {
            restarts++;
            s->index = s->size = s->received = 0;
            if (zkv_fs_truncate(s->fs, s->fd, 0) != ZKV_OK)
                return s_io_failed("truncate", s->part);
            continue;
        }
        if (reply->status != ZKV__STATUS__OK)
            return zkv_command_refused(reply);
        int code = s_piece(s, reply);
        if (code != ZKV_EXIT_OK || s->received == s->size)
            return code;
    }
}

/* ---------------------------------------------------------------- the end */

/*  The whole file as the node loads a snapshot: every checksum, and the index
    the node announced. */
static int s_verify(const s_save_t *s)
{
    char err[512];
    zkv_snapshot_meta_t meta = {0};
    int rc = zkv_snapshot_load(s->fs, s->part, NULL, &meta, err, sizeof err);
    uint64_t index = meta.index;
    zkv_snapshot_meta_clear(&meta);
    if (rc == ZKV_OK && index == s->index)
        return ZKV_EXIT_OK;
    if (rc == ZKV_OK)
        snprintf(err, sizeof err, "it holds index %llu, not the %llu announced",
                 (unsigned long long) index, (unsigned long long) s->index);
    zkv_output_error("snapshot save: the snapshot from %s does not verify (%.300s); nothing saved",
                     s->endpoint, err);
    return rc == ZKV_OK || rc == ZKV_ECORRUPT ? ZKV_EXIT_NEGATIVE : ZKV_EXIT_ERROR;
}

/*  Durable, verified, then in place: FILE appears whole or not at all. */
static int s_finish(s_save_t *s)
{
    if (zkv_fs_sync(s->fs, s->fd) != ZKV_OK)
        return s_io_failed("fsync", s->part);
    int rc = zkv_fs_close(s->fs, s->fd);
    s->fd = -1;
    if (rc != ZKV_OK)
        return s_io_failed("close", s->part);
    int code = s_verify(s);
    if (code != ZKV_EXIT_OK)
        return code;
    if (zkv_fs_rename(s->fs, s->part, s->file) != ZKV_OK)
        return s_io_failed("rename to", s->file);
    /* The rename is durable only once the directory is. */
    if (zkv_fs_sync_dir(s->fs, s->dir) != ZKV_OK)
        return s_io_failed("fsync the directory", s->dir);
    return ZKV_EXIT_OK;
}

static int s_print(const zkv_globals_t *g, const s_save_t *s)
{
    if (g->format != ZKV_FORMAT_JSON) {
        printf("saved snapshot at index %llu (%llu bytes) to %s\n", (unsigned long long) s->index,
               (unsigned long long) s->size, s->file);
        return ZKV_EXIT_OK;
    }
    json_t *doc = json_object();
    if (doc && (zkv_output_json_bytes(doc, "file", (const uint8_t *) s->file, strlen(s->file)) ||
                json_object_set_new(doc, "index", zkv_output_json_u64(s->index)) ||
                json_object_set_new(doc, "size", zkv_output_json_u64(s->size)))) {
        json_decref(doc);
        doc = NULL;
    }
    return zkv_command_json(doc);
}

/* ---------------------------------------------------------------- command */

/*  The client, pinned to the first endpoint, and the pieces into place. */
static int s_run(const zkv_globals_t *g, s_save_t *s)
{
    zkv_client_t *client = zkv_command_client(g, 0, 0);
    if (!client)
        return ZKV_EXIT_USAGE;
    size_t first = strcspn(g->endpoints, ",");
    int rc = zkv_client_endpoint_normalize(g->endpoints, first, s->endpoint, sizeof s->endpoint);
    assert(rc == 0); /* zkv_command_client took the whole list */
    int code = s_fetch(s, client);
    zkv_client_destroy(&client);
    if (code == ZKV_EXIT_OK)
        code = s_finish(s);
    return code;
}

static int s_save(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    bool force = false;
    const zkv_flag_t flags[] = {
        {"force", 0, ZKV_FLAG_BOOL, &force, NULL, "replace FILE if it exists"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 1, 1, &args, &code))
        return code;
    s_save_t *s = calloc(1, sizeof *s);
    if (!s) {
        zkv_output_error("out of memory");
        return ZKV_EXIT_ERROR;
    }
    s->fs = zkv_fs_posix();
    s->fd = -1;
    if (!s_paths(s, args.positional[0])) {
        zkv_output_error("%s: path too long: %.300s", cmd->name, args.positional[0]);
        code = ZKV_EXIT_USAGE;
    } else {
        code = s_check_target(cmd, s, force);
    }
    if (code == ZKV_EXIT_OK)
        code = s_run(g, s);
    if (code == ZKV_EXIT_OK)
        code = s_print(g, s);
    else
        s_discard(s);
    free(s);
    return code;
}

static const zkv_command_t s_snapshot_save = {
    "snapshot save",
    "snapshot save FILE [--force]",
    "Save a backup of one node's data to FILE",
    "Asks the first endpoint of --endpoints, and only that node, for a snapshot of\n"
    "everything it has applied (a follower's may lag the leader's a little), and\n"
    "copies the snapshot file a piece at a time into FILE.part beside FILE. The\n"
    "copy is synced and verified whole (every checksum, and the index the node\n"
    "announced), then renamed to FILE. Prints 'saved snapshot at index N (B bytes)\n"
    "to FILE' (-w json: {\"file\":..,\"index\":N,\"size\":B}). An existing FILE is\n"
    "refused (exit 2) unless --force. When the node replaces its snapshot midway the\n"
    "save starts again, 3 times at most, then exits 1. A copy that does not verify\n"
    "is removed, and zkv exits 1 saying why. zkvd --restore FILE makes the data\n"
    "directories of a new cluster from it (docs/OPERATING.md).\n\n"
    "Examples:\n  zkv snapshot save backup.snap\n"
    "  zkv snapshot save /backups/zkv.snap --force --endpoints 127.0.0.1:7101\n",
    s_save,
};

static const zkv_command_t *const s_subcommands[] = {&s_snapshot_save, NULL};

static int s_snapshot(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    return zkv_command_dispatch(cmd, s_subcommands, g, argc, argv);
}

const zkv_command_t zkv_cmd_snapshot = {
    "snapshot",
    "snapshot save FILE [--force]",
    "Save a backup of one node's data",
    "Subcommands:\n"
    "  save      save the first endpoint's snapshot to FILE, verified\n"
    "See 'zkv snapshot save --help'.\n\n"
    "Example:\n  zkv snapshot save backup.snap\n",
    s_snapshot,
};
