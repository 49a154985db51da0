/*  storage_backup: a snapshot file, a piece per request. */
#include "storage_backup.h"

#include <stdlib.h>

#include "response.h"
#include "zkv_error.h"

zframe_t *zkv_storage_backup_error(const Zkv__Request *req, Zkv__Status status, const char *error)
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
        return zkv_storage_backup_error(req, ZKV__STATUS__UNAVAILABLE, "no snapshot yet");
    if (want->index != 0 && want->index != index)
        return zkv_storage_backup_error(req, ZKV__STATUS__FAILED_PRECONDITION,
                                        "the node took a newer snapshot meanwhile: start again");
    int fd;
    uint64_t size = 0;
    if (zkv_fs_open(fs, path, ZKV_FS_READ, &fd) != ZKV_OK)
        return zkv_storage_backup_error(req, ZKV__STATUS__UNAVAILABLE,
                                        "the snapshot file cannot be opened");
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
        frame = zkv_storage_backup_error(req, ZKV__STATUS__INTERNAL,
                                         "the snapshot file cannot be read");
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

struct zkv_backup_waiter {
    zkv_backup_waiter_t *next;
    uint64_t context, need;
    zframe_t *request;
};

bool zkv_backup_wait(zkv_backup_waiter_t **list, uint64_t context, uint64_t need,
                     const zframe_t *request)
{
    zkv_backup_waiter_t *w = calloc(1, sizeof *w);
    if (!w || !(w->request = zframe_dup((zframe_t *) request))) {
        free(w);
        return false;
    }
    w->context = context;
    w->need = need;
    while (*list)
        list = &(*list)->next;
    *list = w;
    return true;
}

size_t zkv_backup_answer(zkv_backup_waiter_t **list, uint64_t index, bool every,
                         zkv_backup_answer_fn *fn, void *arg)
{
    size_t left = 0;
    while (*list) {
        zkv_backup_waiter_t *w = *list;
        if (!every && w->need > index) {
            left++;
            list = &w->next;
            continue;
        }
        *list = w->next;
        Zkv__Request *req =
            zkv__request__unpack(NULL, zframe_size(w->request), zframe_data(w->request));
        if (req) { /* it unpacked when it came */
            fn(arg, w->context, req);
            zkv__request__free_unpacked(req, NULL);
        }
        zframe_destroy(&w->request);
        free(w);
    }
    return left;
}

void zkv_backup_waiters_free(zkv_backup_waiter_t **list)
{
    while (*list) {
        zkv_backup_waiter_t *w = *list;
        *list = w->next;
        zframe_destroy(&w->request);
        free(w);
    }
}
