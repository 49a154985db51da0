/*  wal_record: framing of WAL records (see wal_private.h) and decoding of
    their payloads. Decoding trusts only what parse and the CRC checked. */
#include <assert.h>
#include <string.h>

#include "crc32c.h"
#include "le.h"
#include "wal_private.h"

void wal_record_seal(uint8_t *rec, uint8_t type, uint32_t length)
{
    zkv_le32_put(rec + 4, length);
    rec[8] = type;
    rec[9] = rec[10] = rec[11] = 0;
    zkv_le32_put(rec, zkv_crc32c(0, rec + 4, (size_t) 8 + length));
}

/*  Smallest and largest payload of each type. */
static bool s_length_ok(uint8_t type, uint32_t length)
{
    switch (type) {
    case WAL_REC_HEADER: return length == WAL_HEADER_PAYLOAD;
    case WAL_REC_ENTRY: return length >= ZKV_WAL_ENTRY_HEADER_SIZE && length <= ZKV_WAL_PAYLOAD_MAX;
    case WAL_REC_HARD_STATE: return length == WAL_HARD_STATE_PAYLOAD;
    case WAL_REC_TRUNCATE:
    case WAL_REC_RESET: return length == WAL_INDEX_PAYLOAD;
    default: return false;
    }
}

const char *wal_record_parse(const uint8_t *header, wal_rec_t *rec)
{
    rec->crc = zkv_le32_get(header);
    rec->length = zkv_le32_get(header + 4);
    rec->type = header[8];
    if (rec->type < WAL_REC_HEADER || rec->type > WAL_REC_RESET)
        return "unknown record type";
    if (header[9] || header[10] || header[11])
        return "nonzero reserved bytes";
    if (rec->length > ZKV_WAL_PAYLOAD_MAX)
        return "length beyond the largest record";
    if (!s_length_ok(rec->type, rec->length))
        return "length wrong for the record type";
    return NULL;
}

bool wal_record_crc_ok(const uint8_t *record, const wal_rec_t *rec)
{
    return zkv_crc32c(0, record + 4, (size_t) 8 + rec->length) == rec->crc;
}

void wal_record_entry(const uint8_t *payload, uint32_t length, zkv_wal_entry_t *entry)
{
    assert(length >= ZKV_WAL_ENTRY_HEADER_SIZE);
    entry->index = zkv_le64_get(payload);
    entry->term = zkv_le64_get(payload + 8);
    entry->type = zkv_le32_get(payload + 16);
    entry->data = payload + ZKV_WAL_ENTRY_HEADER_SIZE;
    entry->size = length - ZKV_WAL_ENTRY_HEADER_SIZE;
}

void wal_record_hard_state(const uint8_t *payload, zkv_wal_hard_state_t *hard_state)
{
    hard_state->term = zkv_le64_get(payload);
    hard_state->commit = zkv_le64_get(payload + 8);
    hard_state->vote = zkv_le32_get(payload + 16);
}

void wal_record_put_header(uint8_t *payload, uint64_t seq, uint64_t first)
{
    zkv_le64_put(payload, WAL_MAGIC);
    zkv_le32_put(payload + 8, WAL_VERSION);
    zkv_le32_put(payload + 12, 0);
    zkv_le64_put(payload + 16, seq);
    zkv_le64_put(payload + 24, first);
}

void wal_record_put_entry(uint8_t *payload, const zkv_wal_entry_t *entry)
{
    zkv_le64_put(payload, entry->index);
    zkv_le64_put(payload + 8, entry->term);
    zkv_le32_put(payload + 16, entry->type);
    if (entry->size)
        memcpy(payload + ZKV_WAL_ENTRY_HEADER_SIZE, entry->data, entry->size);
}

void wal_record_put_hard_state(uint8_t *payload, const zkv_wal_hard_state_t *hard_state)
{
    zkv_le64_put(payload, hard_state->term);
    zkv_le64_put(payload + 8, hard_state->commit);
    zkv_le32_put(payload + 16, hard_state->vote);
}
