/*  storage_backup: a snapshot file, a piece per request. */
#include "storage_backup.h"

#include <stdlib.h>

#include "response.h"
#include "zkv_error.h"

static zframe_t *s_error(const Zkv__Request *req, Zkv__Status status, const char *error)
{
    Zkv__Response r = ZKV__RESPONSE__INIT;
    r.request_id = req->request_id;
    r.status = status;
    r.error = (char *) error;
    return zkv_response_frame(&r);
}

zframe_t *zkv_storage_backup(const zkv_fs_t *fs, const char *path, uint64_t index,
                             const Zkv__Request *req)
{
    const Zkv__SnapshotRequest *want = req->snapshot;
    if (!path[0])
        return s_error(req, ZKV__STATUS__UNAVAILABLE, "no snapshot yet");
    if (want->index != 0 && want->index != index)
        return s_error(req, ZKV__STATUS__FAILED_PRECONDITION,
                       "the node took a newer snapshot meanwhile: start again");
    int fd;
    uint64_t size = 0;
    if (zkv_fs_open(fs, path, ZKV_FS_READ, &fd) != ZKV_OK)
        return s_error(req, ZKV__STATUS__UNAVAILABLE, "the snapshot file cannot be opened");
    int rc = zkv_fs_size(fs, fd, &size);
    uint64_t offset = want->offset < size ? want->offset : size;
    size_t n =
        size - offset < ZKV_BACKUP_CHUNK_MAX ? (size_t) (size - offset) : ZKV_BACKUP_CHUNK_MAX;
    uint8_t *buf = malloc(n ? n : 1);
    size_t got = 0;
    if (rc == ZKV_OK)
        rc = buf ? zkv_fs_pread(fs, fd, buf, n, offset, &got) : ZKV_ENOMEM;
    zkv_fs_close(fs, fd);
    zframe_t *frame;
    if (rc != ZKV_OK || got != n) {
        frame = s_error(req, ZKV__STATUS__INTERNAL, "the snapshot file cannot be read");
    } else {
        Zkv__Response r = ZKV__RESPONSE__INIT;
        r.request_id = req->request_id;
        r.status = ZKV__STATUS__OK;
        r.snapshot_index = index;
        r.snapshot_size = size;
        r.chunk = (ProtobufCBinaryData){n, buf};
        frame = zkv_response_frame(&r);
    }
    free(buf);
    return frame;
}
