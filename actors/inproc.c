#include "inproc.h"

#include "le.h"

#define RECORD_HEADER 4
#define ENTRY_HEADER 20
#define RESULT_HEADER 39
#define PACKER_KEEP_MAX (4u << 20) /* a buffer past this is not kept for the next batch */

uint8_t *zkv_pack_record(zkv_packer_t *self, size_t size)
{
    if (size > UINT32_MAX)
        return NULL;
    size_t need = self->size + RECORD_HEADER + size;
    if (need > self->capacity) {
        size_t capacity = self->capacity ? self->capacity : 4096;
        while (capacity < need)
            capacity *= 2;
        uint8_t *grown = realloc(self->data, capacity);
        if (!grown)
            return NULL;
        self->data = grown;
        self->capacity = capacity;
    }
    uint8_t *record = self->data + self->size;
    zkv_le32_put(record, (uint32_t) size);
    self->size = need;
    return record + RECORD_HEADER;
}

zframe_t *zkv_packer_frame(zkv_packer_t *self)
{
    zframe_t *frame = zframe_new(self->data, self->size);
    zkv_packer_clear(self);
    return frame;
}

void zkv_packer_clear(zkv_packer_t *self)
{
    self->size = 0;
    if (self->capacity > PACKER_KEEP_MAX)
        zkv_packer_free(self);
}

void zkv_packer_free(zkv_packer_t *self)
{
    free(self->data);
    *self = (zkv_packer_t){0};
}

void zkv_unpacker_init(zkv_unpacker_t *self, zframe_t *frame)
{
    self->at = frame ? zframe_data(frame) : NULL;
    self->end = frame ? self->at + zframe_size(frame) : NULL;
}

int zkv_unpack_record(zkv_unpacker_t *self, const uint8_t **data, size_t *size)
{
    if (self->at == self->end)
        return 0;
    size_t left = (size_t) (self->end - self->at);
    if (left < RECORD_HEADER || zkv_le32_get(self->at) > left - RECORD_HEADER) {
        self->at = self->end;
        return -1;
    }
    *size = zkv_le32_get(self->at);
    *data = self->at + RECORD_HEADER;
    self->at += RECORD_HEADER + *size;
    return 1;
}

bool zkv_pack_entry(zkv_packer_t *self, const zkv_raft_entry_t *entry)
{
    uint8_t *p = zkv_pack_record(self, ENTRY_HEADER + (size_t) entry->size);
    if (!p)
        return false;
    zkv_le64_put(p, entry->index);
    zkv_le64_put(p + 8, entry->term);
    zkv_le32_put(p + 16, entry->type);
    if (entry->size)
        memcpy(p + ENTRY_HEADER, entry->data, entry->size);
    return true;
}

static bool s_entry_read(const uint8_t *data, size_t size, zkv_raft_entry_t *entry)
{
    if (size < ENTRY_HEADER)
        return false;
    entry->index = zkv_le64_get(data);
    entry->term = zkv_le64_get(data + 8);
    entry->type = zkv_le32_get(data + 16);
    entry->size = (uint32_t) (size - ENTRY_HEADER);
    entry->data = data + ENTRY_HEADER;
    return true;
}

int zkv_unpack_entry(zkv_unpacker_t *self, zkv_raft_entry_t *entry)
{
    const uint8_t *data;
    size_t size;
    int rc = zkv_unpack_record(self, &data, &size);
    return rc == 1 && !s_entry_read(data, size, entry) ? -1 : rc;
}

bool zkv_pack_result(zkv_packer_t *self, const zkv_write_result_t *result)
{
    size_t extra = result->has_data ? result->data_size : 0;
    uint8_t *p = zkv_pack_record(self, RESULT_HEADER + extra);
    if (!p)
        return false;
    zkv_le64_put(p, result->client_id);
    zkv_le64_put(p + 8, result->sequence);
    zkv_le32_put(p + 16, (uint32_t) result->status);
    p[20] = result->found;
    p[21] = result->has_data;
    zkv_le64_put(p + 22, result->index);
    zkv_le64_put(p + 30, result->count);
    p[38] = result->cmd_type;
    if (extra)
        memcpy(p + RESULT_HEADER, result->data, extra);
    return true;
}

static bool s_result_read(const uint8_t *data, size_t size, zkv_write_result_t *result)
{
    if (size < RESULT_HEADER)
        return false;
    result->client_id = zkv_le64_get(data);
    result->sequence = zkv_le64_get(data + 8);
    result->status = (int32_t) zkv_le32_get(data + 16);
    result->found = data[20];
    result->has_data = data[21];
    result->index = zkv_le64_get(data + 22);
    result->count = zkv_le64_get(data + 30);
    result->cmd_type = data[38];
    result->data = data + RESULT_HEADER;
    result->data_size = size - RESULT_HEADER;
    return true;
}

int zkv_unpack_result(zkv_unpacker_t *self, zkv_write_result_t *result)
{
    const uint8_t *data;
    size_t size;
    int rc = zkv_unpack_record(self, &data, &size);
    return rc == 1 && !s_result_read(data, size, result) ? -1 : rc;
}

#define EVENT_HEADER (1 + 8 + 4 + 32 + 4)
#define EVENT_SHARED_SIZE (1 + 8 + 4 + sizeof(void *))
/*  In the type byte: a put whose record travels, not its bytes. */
#define EVENT_SHARED 0x80

bool zkv_pack_event(zkv_packer_t *self, const zkv_event_t *event)
{
    if (event->rec) {
        uint8_t *p = zkv_pack_record(self, EVENT_SHARED_SIZE);
        if (!p)
            return false;
        p[0] = (uint8_t) event->type | EVENT_SHARED;
        zkv_le64_put(p + 1, event->revision);
        zkv_le32_put(p + 9, event->seq);
        zkv_btree_rec_t *rec = zkv_btree_rec_share(event->rec);
        memcpy(p + 13, &rec, sizeof rec);
        return true;
    }
    uint8_t *p = zkv_pack_record(self, EVENT_HEADER + event->key.size + event->value.size);
    if (!p)
        return false;
    p[0] = (uint8_t) event->type;
    zkv_le64_put(p + 1, event->revision);
    zkv_le32_put(p + 9, event->seq);
    zkv_le64_put(p + 13, event->meta.create_revision);
    zkv_le64_put(p + 21, event->meta.mod_revision);
    zkv_le64_put(p + 29, event->meta.version);
    zkv_le64_put(p + 37, event->meta.lease);
    zkv_le32_put(p + 45, (uint32_t) event->key.size);
    if (event->key.size)
        memcpy(p + EVENT_HEADER, event->key.data, event->key.size);
    if (event->value.size)
        memcpy(p + EVENT_HEADER + event->key.size, event->value.data, event->value.size);
    return true;
}

/*  The record a shared put's bytes hold (NULL: not one). */
static zkv_btree_rec_t *s_event_rec(const uint8_t *data, size_t size)
{
    zkv_btree_rec_t *rec = NULL;
    if (size == EVENT_SHARED_SIZE && data[0] == (ZKV_EVENT_PUT | EVENT_SHARED))
        memcpy(&rec, data + 13, sizeof rec);
    return rec;
}

static bool s_event_read(const uint8_t *data, size_t size, zkv_event_t *event)
{
    zkv_btree_rec_t *rec = s_event_rec(data, size);
    if (rec) {
        *event = (zkv_event_t){
            .type = ZKV_EVENT_PUT,
            .revision = zkv_le64_get(data + 1),
            .seq = zkv_le32_get(data + 9),
            .key = zkv_btree_rec_key(rec),
            .rec = rec,
        };
        event->value = zkv_btree_rec_value(rec, &event->meta);
        return true;
    }
    if (size < EVENT_HEADER || data[0] > ZKV_EVENT_DELETE)
        return false;
    size_t key_size = zkv_le32_get(data + 45);
    if (key_size > size - EVENT_HEADER)
        return false;
    *event = (zkv_event_t){
        .type = (zkv_event_type_t) data[0],
        .revision = zkv_le64_get(data + 1),
        .seq = zkv_le32_get(data + 9),
        .meta = {zkv_le64_get(data + 13), zkv_le64_get(data + 21), zkv_le64_get(data + 29),
                 zkv_le64_get(data + 37)},
        .key = {data + EVENT_HEADER, key_size},
        .value = {data + EVENT_HEADER + key_size, size - EVENT_HEADER - key_size},
    };
    return true;
}

int zkv_unpack_event(zkv_unpacker_t *self, zkv_event_t *event)
{
    const uint8_t *data;
    size_t size;
    int rc = zkv_unpack_record(self, &data, &size);
    return rc == 1 && !s_event_read(data, size, event) ? -1 : rc;
}

void zkv_events_release(const uint8_t *data, size_t size)
{
    zkv_unpacker_t in = {.at = data, .end = data + size};
    const uint8_t *record;
    size_t record_size;
    while (zkv_unpack_record(&in, &record, &record_size) == 1) {
        zkv_btree_rec_t *rec = s_event_rec(record, record_size);
        zkv_btree_rec_release(&rec);
    }
}

bool zkv_pack_lease(zkv_packer_t *self, int change, uint64_t id, uint64_t ttl_s)
{
    uint8_t *p = zkv_pack_record(self, 17);
    if (!p)
        return false;
    p[0] = (uint8_t) change;
    zkv_le64_put(p + 1, id);
    zkv_le64_put(p + 9, ttl_s);
    return true;
}

int zkv_unpack_lease(zkv_unpacker_t *self, int *change, uint64_t *id, uint64_t *ttl_s)
{
    const uint8_t *data;
    size_t size;
    int rc = zkv_unpack_record(self, &data, &size);
    if (rc != 1)
        return rc;
    if (size != 17)
        return -1;
    *change = data[0];
    *id = zkv_le64_get(data + 1);
    *ttl_s = zkv_le64_get(data + 9);
    return 1;
}
