/*  peer_codec: zkv_raft_msg_t <-> zkv.PeerMessage. */
#include "peer_codec.h"

#include "membership.h"
#include "zkv.pb-c.h"
#include "zkv_error.h"

#define STACK_ENTRIES 64

/* ---------------------------------------------------------------- encode */

static void s_encode_snapshot(const zkv_raft_snapshot_meta_t *meta, Zkv__SnapshotMeta *pb)
{
    zkv__snapshot_meta__init(pb);
    pb->index = meta->index;
    pb->term = meta->term;
    pb->size = meta->size;
    pb->config.data = (uint8_t *) meta->config_data;
    pb->config.len = meta->config_size;
}

zframe_t *zkv_peer_encode(const zkv_raft_msg_t *msg, uint64_t cluster_id)
{
    Zkv__PeerMessage pb = ZKV__PEER_MESSAGE__INIT;
    pb.cluster_id = cluster_id;
    pb.type = (Zkv__PeerMessageType) msg->type;
    pb.from = msg->from;
    pb.to = msg->to;
    pb.term = msg->term;
    pb.log_term = msg->log_term;
    pb.index = msg->index;
    pb.commit = msg->commit;
    pb.reject = msg->reject;
    pb.reject_hint = msg->reject_hint;
    pb.hint_term = msg->hint_term;
    pb.context = msg->context;
    pb.force = msg->force;
    pb.chunk_offset = msg->chunk_offset;
    pb.chunk.data = (uint8_t *) msg->chunk;
    pb.chunk.len = msg->chunk ? msg->chunk_size : 0;
    pb.chunk_last = msg->chunk_last;

    Zkv__SnapshotMeta snap;
    if (msg->type == ZKV_RAFT_MSG_SNAPSHOT || msg->snapshot.index) {
        s_encode_snapshot(&msg->snapshot, &snap);
        pb.snapshot = &snap;
    }

    Zkv__Entry stack_entries[STACK_ENTRIES];
    Zkv__Entry *stack_ptrs[STACK_ENTRIES];
    Zkv__Entry *entries = stack_entries;
    Zkv__Entry **ptrs = stack_ptrs;
    if (msg->n_entries > STACK_ENTRIES) {
        entries = malloc(msg->n_entries * sizeof *entries);
        ptrs = malloc(msg->n_entries * sizeof *ptrs);
    }
    zframe_t *frame = NULL;
    if (entries && ptrs) {
        for (size_t i = 0; i < msg->n_entries; i++) {
            const zkv_raft_entry_t *e = &msg->entries[i];
            zkv__entry__init(&entries[i]);
            entries[i].term = e->term;
            entries[i].index = e->index;
            entries[i].type = (Zkv__EntryType) e->type;
            entries[i].data.data = (uint8_t *) e->data;
            entries[i].data.len = e->size;
            ptrs[i] = &entries[i];
        }
        pb.n_entries = msg->n_entries;
        pb.entries = ptrs;
        frame = zframe_new(NULL, zkv__peer_message__get_packed_size(&pb));
        if (frame)
            zkv__peer_message__pack(&pb, zframe_data(frame));
    }
    if (entries != stack_entries)
        free(entries);
    if (ptrs != stack_ptrs)
        free(ptrs);
    return frame;
}

/* ---------------------------------------------------------------- decode */

struct zkv_peer_decoded_t {
    Zkv__PeerMessage *pb;
    zkv_raft_entry_t *entries;
};

void zkv_peer_decoded_destroy(zkv_peer_decoded_t **self_p)
{
    zkv_peer_decoded_t *self = *self_p;
    if (!self)
        return;
    if (self->pb)
        zkv__peer_message__free_unpacked(self->pb, NULL);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

static bool s_decode_snapshot(const Zkv__SnapshotMeta *pb, zkv_raft_snapshot_meta_t *meta)
{
    meta->index = pb->index;
    meta->term = pb->term;
    meta->size = pb->size;
    if (pb->config.len == 0)
        return true;
    meta->config_data = pb->config.data;
    meta->config_size = pb->config.len;
    return zkv_membership_decode_raft(NULL, pb->config.data, pb->config.len, &meta->members) ==
           ZKV_OK;
}

static bool s_decode_entries(zkv_peer_decoded_t *self, zkv_raft_msg_t *msg)
{
    const Zkv__PeerMessage *pb = self->pb;
    if (pb->n_entries == 0)
        return true;
    if (pb->n_entries > ZKV_RAFT_MSG_ENTRIES_MAX)
        return false;
    self->entries = calloc(pb->n_entries, sizeof *self->entries);
    if (!self->entries)
        return false;
    for (size_t i = 0; i < pb->n_entries; i++) {
        const Zkv__Entry *e = pb->entries[i];
        /* A frame is far below 4 GiB (PEER_MSG_SIZE_MAX), so the size fits;
           whether it is over ZKV_ENTRY_SIZE_MAX is the core's to refuse and
           the replication actor's to count. */
        if (e->data.len > UINT32_MAX || (uint32_t) e->type > ZKV_RAFT_ENTRY_CONFIG)
            return false;
        self->entries[i] = (zkv_raft_entry_t){
            .term = e->term,
            .index = e->index,
            .type = (uint32_t) e->type,
            .size = (uint32_t) e->data.len,
            .data = e->data.data,
        };
    }
    msg->entries = self->entries;
    msg->n_entries = pb->n_entries;
    return true;
}

zkv_peer_decoded_t *zkv_peer_decode(const uint8_t *data, size_t size, zkv_raft_msg_t *msg,
                                    uint64_t *cluster_id)
{
    memset(msg, 0, sizeof *msg);
    *cluster_id = 0;
    zkv_peer_decoded_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pb = zkv__peer_message__unpack(NULL, size, data);
    const Zkv__PeerMessage *pb = self->pb;
    bool ok = pb && (int) pb->type >= (int) ZKV_RAFT_MSG_APPEND &&
              (int) pb->type <= (int) ZKV__PEER_MESSAGE_TYPE__READ_INDEX_RESPONSE &&
              pb->from != 0 && pb->chunk.len <= ZKV_RAFT_CHUNK_SIZE_MAX;
    if (ok) {
        *cluster_id = pb->cluster_id;
        msg->type = (zkv_raft_msg_type_t) pb->type;
        msg->from = pb->from;
        msg->to = pb->to;
        msg->term = pb->term;
        msg->log_term = pb->log_term;
        msg->index = pb->index;
        msg->commit = pb->commit;
        msg->reject = pb->reject;
        msg->reject_hint = pb->reject_hint;
        msg->hint_term = pb->hint_term;
        msg->context = pb->context;
        msg->force = pb->force;
        msg->chunk_offset = pb->chunk_offset;
        msg->chunk = pb->chunk.len ? pb->chunk.data : NULL;
        msg->chunk_size = pb->chunk.len;
        msg->chunk_last = pb->chunk_last;
        ok = (!pb->snapshot || s_decode_snapshot(pb->snapshot, &msg->snapshot)) &&
             s_decode_entries(self, msg);
    }
    if (!ok)
        zkv_peer_decoded_destroy(&self);
    return self;
}
