#include "storage_read.h"

#include "response.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

typedef struct {
    Zkv__KeyValue *kvs;
    Zkv__KeyValue **ptrs;
    size_t count;
    size_t limit;
    size_t bytes;
    bool keys_only;
    bool cut; /* stopped by ZKV_SCAN_BYTES_MAX */
} scan_t;

static bool s_collect(zkv_bytes_t key, zkv_bytes_t value, const zkv_btree_meta_t *meta, void *arg)
{
    scan_t *scan = arg;
    if (scan->count == scan->limit)
        return false;
    size_t size = key.size + (scan->keys_only ? 0 : value.size);
    if (scan->count > 0 && scan->bytes + size > ZKV_SCAN_BYTES_MAX) {
        scan->cut = true;
        return false;
    }
    scan->bytes += size;
    Zkv__KeyValue *kv = &scan->kvs[scan->count];
    zkv__key_value__init(kv);
    kv->key.data = (uint8_t *) key.data;
    kv->key.len = key.size;
    kv->create_revision = meta->create_revision;
    kv->mod_revision = meta->mod_revision;
    kv->version = meta->version;
    kv->lease = meta->lease;
    if (!scan->keys_only) {
        kv->value.data = (uint8_t *) value.data;
        kv->value.len = value.size;
    }
    scan->ptrs[scan->count++] = kv;
    return true;
}

static void s_scan(zkv_kvstore_t *kv, const Zkv__ScanRequest *req, Zkv__Response *r, scan_t *scan)
{
    size_t limit = req->limit && req->limit < ZKV_SCAN_LIMIT_MAX ? req->limit : ZKV_SCAN_LIMIT_MAX;
    scan->kvs = malloc((limit + 1) * sizeof *scan->kvs);
    scan->ptrs = malloc((limit + 1) * sizeof *scan->ptrs);
    if (!scan->kvs || !scan->ptrs) {
        r->status = ZKV__STATUS__INTERNAL;
        r->error = "out of memory";
        return;
    }
    /* One more than asked for tells whether there is more. */
    scan->limit = limit + 1;
    scan->keys_only = req->keys_only;
    const zkv_btree_t *tree = zkv_kvstore_tree(kv);
    if (req->prefix.len)
        zkv_btree_prefix(tree, req->prefix.data, req->prefix.len, req->reverse, limit + 1,
                         s_collect, scan);
    else
        zkv_btree_range(tree, req->start.len ? req->start.data : NULL, req->start.len,
                        req->end.len ? req->end.data : NULL, req->end.len, req->reverse, limit + 1,
                        s_collect, scan);
    r->more = scan->cut || scan->count > limit;
    r->n_kvs = scan->count > limit ? limit : scan->count;
    r->kvs = scan->ptrs;
    r->status = ZKV__STATUS__OK;
}

zframe_t *zkv_storage_read(zkv_kvstore_t *kv, const uint8_t *request, size_t size)
{
    Zkv__Request *req = zkv__request__unpack(NULL, size, request);
    if (!req)
        return NULL; /* validated by the client actor before it came here */
    Zkv__Response r = ZKV__RESPONSE__INIT;
    r.client_id = req->client_id;
    r.request_id = req->request_id;
    r.revision = zkv_kvstore_applied(kv);
    scan_t scan = {0};
    if (req->body_case == ZKV__REQUEST__BODY_GET) {
        zkv_bytes_t value;
        zkv_btree_meta_t meta;
        r.found = zkv_btree_get_meta(zkv_kvstore_tree(kv), req->get->key.data, req->get->key.len,
                                     &value, &meta) == ZKV_OK;
        r.status = r.found ? ZKV__STATUS__OK : ZKV__STATUS__NOT_FOUND;
        if (r.found) {
            r.value.data = (uint8_t *) value.data;
            r.value.len = value.size;
            r.create_revision = meta.create_revision;
            r.mod_revision = meta.mod_revision;
            r.version = meta.version;
            r.lease = meta.lease;
        }
    } else if (req->body_case == ZKV__REQUEST__BODY_SCAN)
        s_scan(kv, req->scan, &r, &scan);
    else if (req->body_case == ZKV__REQUEST__BODY_DIGEST) {
        r.digest = zkv_kvstore_digest(kv);
        r.status = ZKV__STATUS__OK;
    } else {
        r.status = ZKV__STATUS__BAD_REQUEST;
        r.error = "not a read";
    }
    zframe_t *frame = zkv_response_frame(&r);
    free(scan.kvs);
    free(scan.ptrs);
    zkv__request__free_unpacked(req, NULL);
    return frame;
}
