/*  raft_int: the private state of zkv_raft_t, shared by the raft_*.c files
    only. One file per concern: raft.c (lifecycle, Ready, outbox), raft_log.c,
    raft_step.c (term rules, dispatch), raft_election.c, raft_replication.c,
    raft_read.c, raft_snapshot.c, raft_transfer.c.

    ZKV_RAFT_PLANTED_BUG (tests only, see tests/sim/CMakeLists.txt) compiles a
    deliberately broken variant, to prove the simulation catches each bug. The
    normal build defines nothing and none of those blocks is active. */
#ifndef ZKV_RAFT_INT_H
#define ZKV_RAFT_INT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"
#include "zkv_error.h"

#ifndef ZKV_RAFT_PLANTED_BUG
#define ZKV_RAFT_PLANTED_BUG 0
#endif

/*  Entry data lives in blocks of at least this many bytes, or a quarter of
    cfg.log_memory_bytes when that is smaller (the memory the log lets go of
    comes in blocks), but at least RAFT_BLOCK_SIZE_MIN. */
#define RAFT_BLOCK_SIZE (64u * 1024)
#define RAFT_BLOCK_SIZE_MIN 256u

/*  A block of entry data. Blocks form a FIFO: appends go to the tail, a
    compaction frees whole blocks from the head. Truncation never reuses
    space, so data a message still points to stays intact until advance. */
typedef struct raft_block_t {
    struct raft_block_t *next;
    size_t cap;
    size_t used;
    uint64_t max_index; /* highest index whose data was written here */
    uint8_t data[];
} raft_block_t;

/*  The log since the last snapshot: entries[off .. off + len) hold indices
    snap_index + 1 .. snap_index + len. */
typedef struct {
    zkv_raft_entry_t *ents;
    size_t off;
    size_t len;
    size_t cap;
    uint64_t snap_index; /* the entry before the first one kept */
    uint64_t snap_term;
    raft_block_t *head;
    raft_block_t *tail;
    size_t block_size;   /* the smallest block */
    size_t block_bytes;  /* allocated for the blocks */
    uint64_t data_first; /* entries before it keep index, term, type and size, not data */
    uint64_t unstable;   /* first index not yet handed out for persistence */
    uint64_t durable;    /* last index reported durable, matching this log */
    uint64_t commit;
    uint64_t applying; /* last index handed out to apply */
    uint64_t applied;  /* last index the host reported applied */
} raft_log_t;

/*  The leader's view of one member (self included, for quorum counting;
    self is there even when it is no member: joining, or removed). */
typedef struct {
    uint32_t id;
    bool voter;
    bool member; /* a voter or a learner in the membership in effect */
    bool self;
    zkv_raft_progress_state_t state;
    uint64_t match;
    uint64_t next;
    bool probe_sent;   /* probe: waiting for an answer before sending again */
    bool active;       /* heard from in this check-quorum round */
    int8_t vote;       /* election: 1 granted, -1 rejected, 0 unknown */
    uint64_t read_ack; /* highest ReadIndex round acknowledged in this term */
    uint64_t *infl;    /* ring of the last index of each append in flight (from infl_free) */
    uint32_t infl_head;
    uint32_t infl_count;
    uint64_t snap_index; /* snapshot being sent */
    uint64_t snap_term;
    uint64_t snap_size;
    uint64_t snap_sent;  /* bytes sent */
    uint64_t snap_acked; /* bytes the follower holds */
    bool snap_sent_all;
    uint32_t snap_idle; /* ticks without an answer */
    uint64_t load_lo;   /* entries from here are being read back for it (0: none) */
    uint32_t load_idle; /* ticks that load has waited */
} raft_peer_t;

/*  A read waiting for its round (round 0: not in one yet) or for apply. On
    a leader, from is the follower that asked for it (0: a read of its own);
    on a follower, the round is the number of its request to the leader. */
typedef struct {
    uint64_t context;
    uint64_t index;
    uint64_t round;
    uint32_t from;
} raft_read_t;

/*  A message held until the Ready with id tag is durable. */
typedef struct {
    zkv_raft_msg_t msg;
    uint64_t tag;
} raft_held_t;

/*  What a Ready handed out for persistence, to match zkv_raft_persisted(). */
typedef struct {
    uint64_t id;
    uint64_t last_index; /* last entry or snapshot index handed out */
    uint64_t last_term;
} raft_record_t;

/*  A growable array; s_grow in raft.c. */
#define RAFT_VEC(type)                                                                             \
    struct {                                                                                       \
        type *v;                                                                                   \
        size_t n;                                                                                  \
        size_t cap;                                                                                \
    }

/*  Entries read back for a follower, then their data, in one allocation. */
typedef struct raft_loaded_t {
    struct raft_loaded_t *next; /* retired: freed at the next advance */
    uint32_t peer;
    uint64_t lo;
    size_t n;
    zkv_raft_entry_t ents[];
} raft_loaded_t;

/*  A CONFIG entry whose data is no longer in the log's memory. */
typedef struct {
    uint64_t index;
    zkv_raft_members_t members;
    size_t size;
    uint8_t data[ZKV_RAFT_CONFIG_SIZE_MAX];
} raft_conf_kept_t;

/*  Voters and learners of a membership, and self if it is neither. */
#define RAFT_PEERS_MAX (2 * ZKV_MEMBERS_MAX + 1)

struct zkv_raft_t {
    zkv_raft_config_t cfg;
    uint32_t id;
    raft_peer_t peers[RAFT_PEERS_MAX];
    uint32_t n_peers;
    uint32_t n_voters;
    raft_peer_t *self;
    /* Inflight rings, one per possible peer, allocated once: a membership
       change never fails for memory. */
    uint64_t *infl_pool;
    uint64_t *infl_free[RAFT_PEERS_MAX];
    uint32_t n_infl_free;

    /* Membership (raft_config.c): the one in effect is the latest CONFIG
       entry in the log (conf_index), or conf_snap, the one as of the
       snapshot index (conf_index 0). */
    zkv_raft_members_t conf;
    zkv_raft_members_t conf_snap;
    uint8_t conf_data[ZKV_RAFT_CONFIG_SIZE_MAX]; /* the host's form of conf */
    size_t conf_size;
    uint8_t conf_snap_data[ZKV_RAFT_CONFIG_SIZE_MAX];
    size_t conf_snap_size;
    /* CONFIG entries above the snapshot whose data the log let go of. */
    RAFT_VEC(raft_conf_kept_t) conf_kept;
    uint8_t recv_conf[ZKV_RAFT_CONFIG_SIZE_MAX]; /* recv_meta's, kept past its message */
    size_t recv_conf_size;
    uint64_t conf_index;
    uint64_t conf_version; /* bumped by every change, for Ready.config_changed */
    uint64_t rd_conf_version;
    uint64_t term_start; /* leader: index of its term's first entry */

    /* Persistent state (§5.1 Figure 2). */
    uint64_t term;
    uint32_t vote;

    /* Volatile state. */
    zkv_raft_role_t role;
    uint32_t leader;
    raft_log_t log;
    uint64_t verified; /* follower: log equals the leader's up to here, this term */
    uint64_t acked;    /* follower: highest ack sent this term */
    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t timeout; /* randomized election timeout */
    uint64_t rng;
    bool campaign_force; /* this election follows a TimeoutNow */
    uint32_t transferee;
    uint64_t snap_size; /* our latest snapshot, for InstallSnapshot */
    /* Followers found holding less than they acknowledged (status). */
    uint64_t match_regressions;

    /* Durability of term and vote: they were (or will be) handed out in the
       Ready hs_ready_id; messages wait until that one is persisted. */
    bool hs_dirty;
    uint64_t hs_ready_id;
    uint64_t next_ready_id;
    uint64_t persisted_id;
    RAFT_VEC(raft_record_t) records;

    /* Messages for the next Ready; entries of message i start at out_off[i]. */
    RAFT_VEC(zkv_raft_msg_t) out;
    RAFT_VEC(size_t) out_off;
    RAFT_VEC(zkv_raft_entry_t) out_ents;
    RAFT_VEC(raft_held_t) held;

    /* Incoming InstallSnapshot. */
    bool recv_active;
    uint64_t recv_term;
    zkv_raft_snapshot_meta_t recv_meta;
    uint64_t recv_next; /* next offset expected */
    RAFT_VEC(uint8_t) chunk_bytes;
    RAFT_VEC(zkv_raft_chunk_t) chunks; /* data holds an offset into chunk_bytes until Ready */
    bool snap_pending;                 /* install recv_meta in the next Ready */
    zkv_raft_snapshot_meta_t snap_install;
    size_t snap_chunks;     /* chunks up to the install's last one: the rest wait a Ready */
    uint64_t snap_ready_id; /* the Ready that handed out the last install */
    bool snap_lost;         /* the host failed to install the snapshot the log starts at */
    uint64_t lost_rejected; /* append index last rejected while snap_lost, plus one */

    /* ReadIndex (§6.4). */
    RAFT_VEC(raft_read_t) reads;        /* in admission order */
    size_t reads_waiting;               /* reads not yet in a round */
    uint64_t read_round;                /* last round started */
    uint64_t read_confirmed;            /* last round a quorum acknowledged (answered) */
    uint32_t read_ask_elapsed;          /* follower: ticks its request has waited */
    RAFT_VEC(zkv_raft_read_t) read_out; /* released or failed, for the next Ready */
    size_t reads_released;              /* reads[0 .. this) are in read_out */

    /* Entries read back from the host's log (raft_load.c): loads for the
       next Ready; the last answer for each follower, sent from until its
       next load; answers let go of, which appends may still point into
       until the next advance. */
    RAFT_VEC(zkv_raft_load_t) loads;
    RAFT_VEC(raft_loaded_t *) loaded;
    raft_loaded_t *retired;
    uint64_t drop_tried; /* the first index to keep data of, when last let go of */

    /* Ready bookkeeping. */
    bool in_ready;
    zkv_raft_role_t rd_role;
    uint64_t rd_term;
    uint32_t rd_leader;
};

/* ---------------------------------------------------------------- raft_load.c */
/*  pr's entries from pr->next, whose data the log let go of: those last read
    back for it, with *n cut to what they hold; else NULL, and the host is
    asked for them (one load at a time). */
const zkv_raft_entry_t *raft_load_entries(zkv_raft_t *raft, raft_peer_t *pr, size_t *n);
/*  Leader tick: a load unanswered for an election timeout is asked again. */
void raft_load_tick(zkv_raft_t *raft, raft_peer_t *pr);
/*  At advance: the loads and loaded data of the Ready are done with; the
    data of entries applied and durable that no member needs, or beyond the
    memory window, goes. */
void raft_load_advance(zkv_raft_t *raft);
/*  Whether an advance would let go of entry data no member needs or beyond the memory
    window, not tried yet. */
bool raft_load_droppable(const zkv_raft_t *raft);
void raft_load_free(zkv_raft_t *raft);

/* ---------------------------------------------------------------- raft.c */
bool raft_grow(void **v, size_t *cap, size_t need, size_t size);
#define RAFT_VEC_PUSH(vec, item)                                                                   \
    (raft_grow((void **) &(vec).v, &(vec).cap, (vec).n + 1, sizeof *(vec).v)                       \
         ? ((vec).v[(vec).n++] = (item), true)                                                     \
         : false)
raft_peer_t *raft_peer(zkv_raft_t *raft, uint32_t id);
const raft_peer_t *raft_peer_const(const zkv_raft_t *raft, uint32_t id);
uint32_t raft_quorum(const zkv_raft_t *raft);
/*  The largest value a quorum of voters has reached (match indexes, read
    rounds): the quorum-th largest of value() over the voters. */
typedef uint64_t raft_peer_value_fn(const zkv_raft_t *raft, const raft_peer_t *pr);
uint64_t raft_quorum_value(const zkv_raft_t *raft, raft_peer_value_fn *value);
bool raft_hs_durable(const zkv_raft_t *raft);
void raft_set_term(zkv_raft_t *raft, uint64_t term);
void raft_set_vote(zkv_raft_t *raft, uint32_t vote);
/* Queue a message; held until the current term and vote are durable, and
   until the Ready after_ready (0: none) is durable. entries are copied. */
void raft_send(zkv_raft_t *raft, zkv_raft_msg_t *msg, const zkv_raft_entry_t *entries, size_t n,
               uint64_t after_ready);
uint64_t raft_random(zkv_raft_t *raft);

/* ---------------------------------------------------------------- raft_log.c */
void raft_log_init(raft_log_t *log, uint64_t snap_index, uint64_t snap_term, size_t memory);
void raft_log_free(raft_log_t *log);
uint64_t raft_log_last(const raft_log_t *log);
uint64_t raft_log_last_term(const raft_log_t *log);
int raft_log_term(const raft_log_t *log, uint64_t index, uint64_t *term);
/* Term at index, or 0 where unknown. */
uint64_t raft_log_term_or0(const raft_log_t *log, uint64_t index);
const zkv_raft_entry_t *raft_log_entry(const raft_log_t *log, uint64_t index);
/* Append e (e->index == last + 1), copying its data. */
int raft_log_append(raft_log_t *log, const zkv_raft_entry_t *e);
void raft_log_truncate(raft_log_t *log, uint64_t from);
void raft_log_compact(raft_log_t *log, uint64_t index);
void raft_log_reset(raft_log_t *log, uint64_t index, uint64_t term);
void raft_log_release(raft_log_t *log);
uint64_t raft_log_droppable(const raft_log_t *log, uint64_t keep, size_t window);
void raft_log_drop_data(raft_log_t *log, uint64_t first);
uint64_t raft_log_find_conflict_by_term(const raft_log_t *log, uint64_t index, uint64_t term,
                                        uint64_t *found_term);
bool raft_log_up_to_date(const raft_log_t *log, uint64_t last_index, uint64_t last_term);
/* Number of entries from index on (at most max_n) fitting max_bytes (at least one). */
size_t raft_log_span(const raft_log_t *log, uint64_t index, size_t max_n, size_t max_bytes);
void raft_log_commit_to(raft_log_t *log, uint64_t index);

/* ---------------------------------------------------------------- raft_step.c */
int raft_step_validate(const zkv_raft_t *raft, const zkv_raft_msg_t *m);

/* ---------------------------------------------------------------- raft_election.c */
void raft_become_follower(zkv_raft_t *raft, uint64_t term, uint32_t leader);
void raft_campaign(zkv_raft_t *raft, bool pre_vote, bool force);
void raft_election_tick(zkv_raft_t *raft);
void raft_handle_vote(zkv_raft_t *raft, const zkv_raft_msg_t *m);
void raft_handle_vote_response(zkv_raft_t *raft, const zkv_raft_msg_t *m);
void raft_poll(zkv_raft_t *raft);
bool raft_in_lease(const zkv_raft_t *raft);
bool raft_promotable(const zkv_raft_t *raft);

/* ---------------------------------------------------------------- raft_replication.c */
void raft_reset_progress(zkv_raft_t *raft);
void raft_leader_tick(zkv_raft_t *raft);
int raft_leader_append(zkv_raft_t *raft, const zkv_raft_buf_t *cmds, size_t n, uint32_t type);
void raft_bcast_from(zkv_raft_t *raft, uint64_t from);
bool raft_send_append(zkv_raft_t *raft, raft_peer_t *pr, bool allow_empty);
void raft_send_appends(zkv_raft_t *raft, raft_peer_t *pr);
void raft_send_heartbeats(zkv_raft_t *raft, uint64_t context);
void raft_handle_append(zkv_raft_t *raft, const zkv_raft_msg_t *m);
void raft_handle_append_response(zkv_raft_t *raft, const zkv_raft_msg_t *m);
void raft_handle_heartbeat(zkv_raft_t *raft, const zkv_raft_msg_t *m);
void raft_handle_heartbeat_response(zkv_raft_t *raft, const zkv_raft_msg_t *m);
bool raft_maybe_commit(zkv_raft_t *raft);
void raft_maybe_ack(zkv_raft_t *raft);
/*  With writer_acks: the acknowledgement rd's writer sends once rd is durable. */
void raft_ready_ack(zkv_raft_t *raft, zkv_raft_ready_t *rd);
void raft_progress_probe(zkv_raft_t *raft, raft_peer_t *pr, uint64_t next);

/* ---------------------------------------------------------------- raft_read.c */
bool raft_read_startable(const zkv_raft_t *raft);
void raft_read_kick(zkv_raft_t *raft);
void raft_read_ack(zkv_raft_t *raft, raft_peer_t *pr, uint64_t round);
void raft_read_fail_unconfirmed(zkv_raft_t *raft);
void raft_read_tick(zkv_raft_t *raft);
/* READ_INDEX_RESPONSE to a follower's request context: index, or 0 to refuse. */
void raft_read_answer(zkv_raft_t *raft, uint32_t to, uint64_t context, uint64_t index);
void raft_handle_read_index(zkv_raft_t *raft, const zkv_raft_msg_t *m);
void raft_handle_read_index_response(zkv_raft_t *raft, const zkv_raft_msg_t *m);
bool raft_read_releasable(const zkv_raft_t *raft);
uint64_t raft_read_context(const zkv_raft_t *raft);
/* Move releasable reads to read_out. */
void raft_read_collect(zkv_raft_t *raft);
void raft_read_advance(zkv_raft_t *raft);

/* ---------------------------------------------------------------- raft_snapshot.c */
void raft_snapshot_start(zkv_raft_t *raft, raft_peer_t *pr);
void raft_snapshot_tick(zkv_raft_t *raft, raft_peer_t *pr);
void raft_handle_snapshot(zkv_raft_t *raft, const zkv_raft_msg_t *m);
void raft_handle_snapshot_response(zkv_raft_t *raft, const zkv_raft_msg_t *m);
/* Answer an append while snap_lost so that the leader falls back to a snapshot. */
void raft_reject_for_snapshot(zkv_raft_t *raft, uint32_t to, uint64_t index);

/* ---------------------------------------------------------------- raft_config.c */
bool raft_members_valid(const zkv_raft_members_t *m);
/* Use m as the membership in effect: rebuild the peers, keeping the
   progress of those that stay. */
void raft_config_use(zkv_raft_t *raft, const zkv_raft_members_t *m, uint64_t index,
                     const uint8_t *data, size_t size);
/* Log entries from index from on changed (appended, truncated, reset). */
void raft_config_track(zkv_raft_t *raft, uint64_t from);
/* Entries up to index are about to be compacted away. */
void raft_config_compacting(zkv_raft_t *raft, uint64_t index);
/*  Keep the CONFIG entries in [lo, hi) before their data goes; false when out of memory. */
bool raft_config_keep(zkv_raft_t *raft, uint64_t lo, uint64_t hi);
/* The log was reset to a snapshot whose membership is m (data in the host's form). */
void raft_config_reset(zkv_raft_t *raft, const zkv_raft_members_t *m, const uint8_t *data,
                       size_t size);
/* Leader: the commit index moved; a leader its own change removed steps down. */
void raft_config_committed(zkv_raft_t *raft);
int raft_config_decode(const zkv_raft_t *raft, const zkv_raft_entry_t *e, zkv_raft_members_t *m);

/* ---------------------------------------------------------------- raft_transfer.c */
void raft_transfer_check(zkv_raft_t *raft, raft_peer_t *pr);
void raft_handle_timeout_now(zkv_raft_t *raft, const zkv_raft_msg_t *m);

#endif
