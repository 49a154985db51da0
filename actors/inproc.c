#include "inproc.h"

#include "le.h"

zframe_t *zkv_entry_frame(const zkv_raft_entry_t *entry)
{
    zframe_t *frame = zframe_new(NULL, ZKV_ENTRY_FRAME_HEADER + entry->size);
    if (!frame)
        return NULL;
    uint8_t *p = zframe_data(frame);
    zkv_le64_put(p, entry->index);
    zkv_le64_put(p + 8, entry->term);
    zkv_le32_put(p + 16, entry->type);
    if (entry->size)
        memcpy(p + ZKV_ENTRY_FRAME_HEADER, entry->data, entry->size);
    return frame;
}

bool zkv_entry_unframe(zframe_t *frame, zkv_raft_entry_t *entry)
{
    if (!frame || zframe_size(frame) < ZKV_ENTRY_FRAME_HEADER)
        return false;
    const uint8_t *p = zframe_data(frame);
    entry->index = zkv_le64_get(p);
    entry->term = zkv_le64_get(p + 8);
    entry->type = zkv_le32_get(p + 16);
    entry->size = (uint32_t) (zframe_size(frame) - ZKV_ENTRY_FRAME_HEADER);
    entry->data = p + ZKV_ENTRY_FRAME_HEADER;
    return true;
}

void zkv_msg_add_u64(zmsg_t *msg, uint64_t value)
{
    uint8_t buf[8];
    zkv_le64_put(buf, value);
    zmsg_addmem(msg, buf, sizeof buf);
}

bool zkv_msg_pop_u64(zmsg_t *msg, uint64_t *value)
{
    zframe_t *frame = zmsg_pop(msg);
    bool ok = frame && zframe_size(frame) == 8;
    if (ok)
        *value = zkv_le64_get(zframe_data(frame));
    zframe_destroy(&frame);
    return ok;
}

#define RESULT_HEADER 30

zframe_t *zkv_result_frame(const zkv_write_result_t *result)
{
    size_t extra = result->has_previous ? result->previous_size : 0;
    zframe_t *frame = zframe_new(NULL, RESULT_HEADER + extra);
    if (!frame)
        return NULL;
    uint8_t *p = zframe_data(frame);
    zkv_le64_put(p, result->client_id);
    zkv_le64_put(p + 8, result->sequence);
    zkv_le32_put(p + 16, (uint32_t) result->status);
    p[20] = result->found;
    p[21] = result->has_previous;
    zkv_le64_put(p + 22, result->index);
    if (extra)
        memcpy(p + RESULT_HEADER, result->previous, extra);
    return frame;
}

bool zkv_result_unframe(zframe_t *frame, zkv_write_result_t *result)
{
    if (!frame || zframe_size(frame) < RESULT_HEADER)
        return false;
    const uint8_t *p = zframe_data(frame);
    result->client_id = zkv_le64_get(p);
    result->sequence = zkv_le64_get(p + 8);
    result->status = (int32_t) zkv_le32_get(p + 16);
    result->found = p[20];
    result->has_previous = p[21];
    result->index = zkv_le64_get(p + 22);
    result->previous = p + RESULT_HEADER;
    result->previous_size = zframe_size(frame) - RESULT_HEADER;
    return true;
}

int zkv_msg_send_or_drop(zmsg_t **msg_p, zsock_t *sock)
{
    int rc = zmsg_send(msg_p, sock);
    zmsg_destroy(msg_p); /* what a failed send leaves */
    return rc;
}
