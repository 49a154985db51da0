/*  raft: the Raft consensus core of zkv, as a pure state machine.

    No threads, sockets, clocks, files or global state. The host (the node's
    replication actor, a test, the simulation) drives it with events:

        zkv_raft_tick         one unit of logical time passed
        zkv_raft_step         a peer message arrived
        zkv_raft_propose      append commands (leader only)
        zkv_raft_read_index   start a linearizable read (leader only)
        zkv_raft_persisted    a Ready's writes became durable
        zkv_raft_applied      the state machine applied up to an index
        zkv_raft_compact      the host took a snapshot; drop the log before it

    and, after any of them, collects what must happen next:

        while (zkv_raft_has_ready(raft)) {
            zkv_raft_ready(raft, &rd);
            1. store rd.chunks (pieces of a snapshot arriving from the leader);
               if rd.must_persist, hand rd.snapshot, rd.hard_state and
               rd.entries to the log writer, in that order (may be asynchronous);
            2. send every message of rd.messages (all of them may leave now);
               with writer_acks, rd.ack once rd is durable (see below);
            3. if rd.has_snapshot, restore the state machine from the snapshot
               assembled from the stored chunks; then apply rd.committed in order;
            4. serve rd.reads (each is safe now: its read index is applied);
            zkv_raft_advance(raft, &rd);
        }
        later, when the writer reports rd.id durable: zkv_raft_persisted(raft, rd.id)
        later, when the state machine has applied index i: zkv_raft_applied(raft, i)

    Durability contract (what makes the asynchronous writer safe):
    - Every message in a Ready may be sent at once. The core itself holds back
      any message that depends on state not yet durable and releases it in a
      later Ready, after zkv_raft_persisted() has covered that state:
        * anything said in a term, or after a vote, that is not durable yet
          (vote grants, campaign requests, rejections and acks in a new term);
        * append acknowledgements: a follower acknowledges index i only once
          entries up to i are reported durable (it never acks what it merely
          handed out for writing); with writer_acks, the acknowledgement of a
          Ready's entries comes in that Ready as rd.ack instead, and the
          writer sends it once the Ready is durable, unless it has written
          a newer term by then (it drops it, as the core drops what it held);
        * the final answer to an InstallSnapshot, after the snapshot is durable.
      A leader's appends and heartbeats are never held: its term and vote were
      durable before it could be elected, so they go out in parallel with the
      leader's own write of the same entries.
    - The leader counts itself toward a commit only up to its own durable index.
    - rd.hard_state.commit may be persisted lazily; on restart the core clamps
      it to the last durable entry.
    - Writes must become durable in Ready order: zkv_raft_persisted(id) says
      that every Ready up to id is durable.
    - rd.entries may start at or below the writer's last stored index (a
      follower's log was overwritten by a new leader): the writer drops its
      stored entries from rd.entries[0].index on, then appends.
    - rd.has_snapshot: the writer stores the snapshot as the node's snapshot
      and drops every stored entry; entries that follow start after it.
      Such a Ready's chunks end with that snapshot's last one: chunks of a
      later snapshot stepped in the same round come in the next Ready, so the
      host may store every chunk, then install. A host that cannot install
      it writes the hard state only and says so (zkv_raft_snapshot_failed).

    Restart: pass the durable hard state, the last snapshot's metadata and the
    durable entries after it in zkv_raft_boot_t; restore the state machine from
    the snapshot first (applied = snapshot index); the core then hands out the
    committed entries after it again.

    Pointers in a Ready stay valid until zkv_raft_advance(); between
    zkv_raft_ready() and zkv_raft_advance() only the const getters may be
    called. The host copies what it keeps (it serializes messages, writes
    entries), so nothing in the core outlives a round. */
#ifndef ZKV_RAFT_H
#define ZKV_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zkv_limits.h"

/*  Node id 0 means "nobody" (no vote, no known leader) and, as a message's
    destination, "every follower" (a broadcast, one PUB message). */
#define ZKV_RAFT_NONE 0
#define ZKV_RAFT_BROADCAST 0

/*  Voters and learners (ZKV_MEMBERS_MAX each) and entry data
    (ZKV_ENTRY_SIZE_MAX: a bigger proposal or entry from a peer is
    ZKV_EINVAL) are bounded in zkv_limits.h, shared with the WAL and the node. */
/*  Largest snapshot chunk a follower accepts, whatever the leader's config. */
#define ZKV_RAFT_CHUNK_SIZE_MAX (16u * 1024 * 1024)
/*  Most entries one incoming message may carry; more is ZKV_EINVAL. */
#define ZKV_RAFT_MSG_ENTRIES_MAX 65536
/*  Largest config.max_msg_bytes: with the one entry that may pass it, the
    most entry data one append carries. */
#define ZKV_RAFT_MSG_BYTES_MAX (4u * 1024 * 1024)
/*  Largest inflight window (config.max_inflight). */
#define ZKV_RAFT_INFLIGHT_MAX 1024

typedef struct zkv_raft_t zkv_raft_t;

typedef enum {
    ZKV_RAFT_FOLLOWER = 0,
    ZKV_RAFT_PRE_CANDIDATE = 1, /* asking for pre-votes, term not raised (§9.6) */
    ZKV_RAFT_CANDIDATE = 2,
    ZKV_RAFT_LEADER = 3,
} zkv_raft_role_t;

/*  Values equal zkv.EntryType in proto/zkv.proto. */
typedef enum {
    ZKV_RAFT_ENTRY_NORMAL = 0, /* data is a state machine command */
    ZKV_RAFT_ENTRY_NOOP = 1,   /* a leader's first entry of its term (§8); no data */
    ZKV_RAFT_ENTRY_CONFIG = 2, /* a new membership (see zkv_raft_propose_config) */
} zkv_raft_entry_type_t;

/*  One log entry. data points into the core's log (or, in an incoming
    message, into the host's buffer); it is never NULL when size > 0. */
typedef struct {
    uint64_t term;
    uint64_t index;
    uint32_t type; /* zkv_raft_entry_type_t */
    uint32_t size; /* bytes at data */
    const uint8_t *data;
} zkv_raft_entry_t;

/*  One command to propose. */
typedef struct {
    const void *data;
    size_t size; /* at most ZKV_ENTRY_SIZE_MAX */
} zkv_raft_buf_t;

/*  Voters decide elections and commits; learners receive the log only. */
typedef struct {
    uint32_t voters[ZKV_MEMBERS_MAX];
    uint32_t n_voters;
    uint32_t learners[ZKV_MEMBERS_MAX];
    uint32_t n_learners;
} zkv_raft_members_t;

/*  Reads the membership out of a CONFIG entry's data: ZKV_OK, or ZKV_EINVAL
    for data that is not one. The host owns the format (it may carry more,
    such as endpoints); NULL in the config means the core's own
    (zkv_raft_members_encode). */
typedef int (*zkv_raft_decode_config_t)(void *ctx, const uint8_t *data, size_t size,
                                        zkv_raft_members_t *members);

/*  Bytes zkv_raft_members_encode writes at most. */
#define ZKV_RAFT_MEMBERS_SIZE_MAX (8 + 8 * ZKV_MEMBERS_MAX)
/*  Largest CONFIG entry (a membership in the host's format, which may carry
    endpoints and more): the core keeps the one in effect and the
    snapshot's, as the host wrote them. */
#define ZKV_RAFT_CONFIG_SIZE_MAX (32u * 1024)

/*  State that must be durable before the messages that depend on it leave. */
typedef struct {
    uint64_t term;   /* current term */
    uint32_t vote;   /* candidate voted for in term, or ZKV_RAFT_NONE */
    uint64_t commit; /* commit index; may be persisted lazily */
} zkv_raft_hard_state_t;

/*  What a snapshot covers: the state machine after applying index. */
typedef struct {
    uint64_t index;             /* last entry the snapshot includes (0: none) */
    uint64_t term;              /* term of that entry */
    uint64_t size;              /* bytes of the snapshot image */
    zkv_raft_members_t members; /* configuration as of index */
    /* ... in the host's format (a CONFIG entry's data), of which members
       are the ids; at most ZKV_RAFT_CONFIG_SIZE_MAX bytes */
    const uint8_t *config_data;
    size_t config_size;
} zkv_raft_snapshot_meta_t;

/*  Values equal zkv.PeerMessageType in proto/zkv.proto. */
typedef enum {
    ZKV_RAFT_MSG_APPEND = 1,
    ZKV_RAFT_MSG_APPEND_RESPONSE = 2,
    ZKV_RAFT_MSG_VOTE = 3,
    ZKV_RAFT_MSG_VOTE_RESPONSE = 4,
    ZKV_RAFT_MSG_PRE_VOTE = 5,
    ZKV_RAFT_MSG_PRE_VOTE_RESPONSE = 6,
    ZKV_RAFT_MSG_HEARTBEAT = 7,
    ZKV_RAFT_MSG_HEARTBEAT_RESPONSE = 8,
    ZKV_RAFT_MSG_SNAPSHOT = 9,
    ZKV_RAFT_MSG_SNAPSHOT_RESPONSE = 10,
    ZKV_RAFT_MSG_TIMEOUT_NOW = 11,
    /* 12 is the host's (zkv.PeerMessageType REMOVED): never stepped. */
    ZKV_RAFT_MSG_READ_INDEX = 13,
    ZKV_RAFT_MSG_READ_INDEX_RESPONSE = 14,
} zkv_raft_msg_type_t;

/*  A peer message; field for field the plain-C form of zkv.PeerMessage. A
    field a type does not use is zero.

    APPEND               index/log_term: the entry before entries; commit:
                         leader's commit. to = ZKV_RAFT_BROADCAST: the same
                         append for every follower (one PUB message).
    APPEND_RESPONSE      reject = false: index is the follower's durable match
                         (it holds the leader's entries up to index on disk).
                         reject = true: index is the rejected append's index;
                         reject_hint/hint_term the follower's best guess of
                         the last entry that may match (the largest index at
                         or before both its last index and the append's
                         index whose term is <= the append's log_term), so
                         the leader jumps back a term at a time (§5.3).
    VOTE, PRE_VOTE       index/log_term: the candidate's last entry; term: the
                         term it stands in (for PRE_VOTE, its term + 1 without
                         having raised it); force: a leadership transfer, the
                         receiver ignores its leader lease.
    *_VOTE_RESPONSE      reject = false grants.
    HEARTBEAT            commit: leader's commit (the follower commits only
                         up to what it verified, see raft_replication.c);
                         context: ReadIndex round (0: none). Broadcast when
                         config.broadcast.
    HEARTBEAT_RESPONSE   context echoed; commit: the follower's commit index
                         (if behind, the leader sends an append it can verify).
    SNAPSHOT             one chunk of InstallSnapshot: snapshot (meta),
                         chunk_offset, chunk/chunk_size, chunk_last. In a
                         Ready the chunk pointer is NULL: the host attaches
                         bytes [chunk_offset, chunk_offset + chunk_size) of
                         its snapshot at snapshot.index (or drops the message
                         if it no longer has that snapshot).
    SNAPSHOT_RESPONSE    index: the snapshot's index; chunk_offset: bytes the
                         follower holds, where the next chunk starts;
                         reject: the chunk did not fit (resume at
                         chunk_offset); chunk_last: the follower is done
                         with this snapshot (installed and durable, or
                         reject: it did not need it).
    TIMEOUT_NOW          leadership transfer: campaign at once (§3.10).
    READ_INDEX           a follower asks its leader for a read index for the
                         reads it holds (§6.4); context: the follower's
                         request number.
    READ_INDEX_RESPONSE  context echoed; index: the read index, given once a
                         quorum confirmed the leader after the request came;
                         reject: the receiver cannot give one (not the leader,
                         too many reads waiting). */
typedef struct {
    zkv_raft_msg_type_t type;
    uint32_t from;
    uint32_t to; /* ZKV_RAFT_BROADCAST: every other member */
    uint64_t term;
    uint64_t log_term;
    uint64_t index;
    const zkv_raft_entry_t *entries;
    size_t n_entries;
    uint64_t commit;
    bool reject;
    uint64_t reject_hint;
    uint64_t hint_term;
    uint64_t context; /* heartbeat: ReadIndex round (0: none); read index request number */
    bool force;       /* zkv.PeerMessage.force */
    zkv_raft_snapshot_meta_t snapshot;
    uint64_t chunk_offset;
    const uint8_t *chunk;
    size_t chunk_size;
    bool chunk_last;
} zkv_raft_msg_t;

/*  A piece of a snapshot arriving from the leader; the host stores it at
    offset in a file (or buffer) for snapshot_index. offset 0 starts a new
    snapshot: discard any partial one. snapshot_term is the term of the
    snapshot the core accepted the chunk for (never that of a message it
    dropped). */
typedef struct {
    uint64_t snapshot_index;
    uint64_t snapshot_term;
    uint64_t offset;
    const uint8_t *data;
    size_t size;
} zkv_raft_chunk_t;

/*  ReadIndex rounds a leader keeps in flight: a read admitted while one is
    on its way starts the next at once (each costs one heartbeat to every
    peer); a follower keeps one request to its leader in flight. */
#define ZKV_RAFT_READ_ROUNDS 4u

/*  A linearizable read that is ready (status 0: serve it now from the state
    machine, which has applied index or more) or failed (status
    ZKV_ENOTLEADER: leadership was lost before it was confirmed). */
typedef struct {
    uint64_t context; /* the host's id from zkv_raft_read_index */
    uint64_t index;   /* read index: commit index when the read was admitted */
    int status;
} zkv_raft_read_t;

/*  Entries [lo, hi) of the durable log, for peer: at most bytes_max bytes
    of data (at least one entry), answered by zkv_raft_loaded. */
typedef struct {
    uint32_t peer;
    uint64_t lo, hi;
    size_t bytes_max;
} zkv_raft_load_t;

/*  Everything one round asks of the host; see the top of this file. */
typedef struct {
    uint64_t id;       /* this Ready's sequence number (from 1) */
    bool must_persist; /* call zkv_raft_persisted(id) once durable */

    /* Soft state: not persisted. */
    zkv_raft_role_t role;
    uint64_t term;
    uint32_t leader;   /* known leader, or ZKV_RAFT_NONE */
    bool soft_changed; /* role, term or leader changed since the last Ready */
    uint64_t commit;   /* current commit index */

    /* 1. Persist: snapshot, then hard state, then entries. */
    bool hard_state_changed; /* term or vote changed: must be persisted */
    zkv_raft_hard_state_t hard_state;
    bool has_snapshot; /* install and persist this snapshot; drop the log */
    zkv_raft_snapshot_meta_t snapshot;
    const zkv_raft_entry_t *entries; /* append (see the contract above) */
    size_t n_entries;
    const zkv_raft_chunk_t *chunks; /* store before persisting the snapshot */
    size_t n_chunks;

    /* 2. Send. */
    const zkv_raft_msg_t *messages;
    size_t n_messages;
    /* ... and, with writer_acks, once this Ready is durable: a follower's
       acknowledgement of the entries it writes (or drop it: it is resent
       when the leader asks again). */
    bool has_ack;
    zkv_raft_msg_t ack;

    /* 3. Apply, in order, after the snapshot if any. */
    const zkv_raft_entry_t *committed;
    size_t n_committed;

    /* 4. Serve. */
    const zkv_raft_read_t *reads;
    size_t n_reads;

    /* 5. Load: entries to read back from the durable log, once what this
       Ready persists is written (zkv_raft_loaded answers each). */
    const zkv_raft_load_t *loads;
    size_t n_loads;

    /* The membership in effect: the latest CONFIG entry in the log, or the
       snapshot's (config_index 0: the boot configuration). Changed since
       the last Ready: the host opens and closes peer connections. */
    bool config_changed;
    uint64_t config_index;
    zkv_raft_members_t members;
    const uint8_t *config_data; /* ... in the host's format */
    size_t config_size;
} zkv_raft_ready_t;

typedef struct {
    uint32_t id; /* this node */
    /* The membership as of the boot snapshot (of index 0 without one); the
       CONFIG entries after it change it. Empty for a node that joins an
       existing cluster: it learns the membership from the leader. */
    zkv_raft_members_t members;
    /* The same in the host's format (copied), what the host gets back as
       Ready.config_data; NULL with the core's own format (encoded then). */
    const void *members_data;
    size_t members_size;
    zkv_raft_decode_config_t decode_config; /* NULL: zkv_raft_members_decode */
    void *decode_ctx;
    uint32_t election_ticks;    /* election timeout is random in [e, 2e) ticks */
    uint32_t heartbeat_ticks;   /* leader heartbeat period; < election_ticks */
    uint64_t seed;              /* seeds the election timeout PRNG */
    bool pre_vote;              /* §9.6: ask before raising the term */
    bool check_quorum;          /* leader steps down without a live quorum; lease on votes */
    bool broadcast;             /* in-sync appends and heartbeats as one broadcast */
    uint32_t max_inflight;      /* appends in flight per replicating follower */
    uint32_t max_msg_entries;   /* entries per append */
    size_t max_msg_bytes;       /* entry bytes per append (at least one entry) */
    uint32_t max_uncommitted;   /* entries past commit before propose says ZKV_EBUSY */
    uint32_t max_apply_entries; /* committed entries per Ready */
    uint32_t max_reads;         /* reads waiting for confirmation or apply */
    size_t snapshot_chunk_size; /* bytes per InstallSnapshot chunk */
    /* A learner is promoted only once its match is within this many
       entries of the leader's last index (and it is being replicated to). */
    uint32_t max_learner_lag;
    /* Data of entries applied and durable kept in memory: what a member may
       still be sent (a leader's followers, from their match on), and of it
       at most the newest this many bytes (0: all, until a snapshot compacts
       the log). Older entries a follower still needs are read back from the
       host's log (Ready.loads, zkv_raft_loaded). */
    size_t log_memory_bytes;
    /* A follower's acknowledgement of new entries comes in the Ready that
       writes them (Ready.ack), for the writer to send once they are
       durable, rather than in a Ready after zkv_raft_persisted: the writer
       sends it without waking the host (etcd's asynchronous storage writes). */
    bool writer_acks;
} zkv_raft_config_t;

/*  Durable state to restart from; zero-filled (or NULL) for a new node. */
typedef struct {
    zkv_raft_hard_state_t hard_state;
    uint64_t snapshot_index; /* last snapshot (0: none) */
    uint64_t snapshot_term;
    uint64_t snapshot_size;
    const zkv_raft_entry_t *entries; /* durable entries from snapshot_index + 1 on */
    size_t n_entries;
} zkv_raft_boot_t;

/*  Observable state, for status displays and tests. */
typedef struct {
    uint32_t id;
    zkv_raft_role_t role;
    bool voter;   /* in the membership in effect, as a voter */
    bool learner; /* ... as a learner; neither: joining or removed */
    uint64_t term;
    uint32_t vote;
    uint32_t leader;
    uint64_t commit;
    uint64_t applied;
    uint64_t first_index;    /* first entry in memory */
    uint64_t last_index;     /* last entry */
    uint64_t durable_index;  /* last entry reported durable */
    uint64_t snapshot_index; /* log compacted up to here */
    uint64_t log_bytes;      /* memory the log since the snapshot holds: data and entries */
    uint32_t transferee;     /* leadership transfer target, or ZKV_RAFT_NONE */
    /* Leader: followers found holding less than they had acknowledged. */
    uint64_t match_regressions;
    uint64_t config_index; /* of the membership in effect (0: from boot or a snapshot) */
    zkv_raft_members_t members;
} zkv_raft_status_t;

typedef enum {
    ZKV_RAFT_PROBE = 0,     /* one append at a time until the match is found */
    ZKV_RAFT_REPLICATE = 1, /* pipelined appends, up to max_inflight */
    ZKV_RAFT_SNAPSHOT = 2,  /* InstallSnapshot in progress */
} zkv_raft_progress_state_t;

/*  The leader's view of one follower. */
typedef struct {
    zkv_raft_progress_state_t state;
    uint64_t match;           /* highest index known durable on the follower */
    uint64_t next;            /* next index to send */
    uint32_t inflight;        /* appends sent and not acknowledged */
    bool active;              /* heard from since the last check-quorum round */
    uint64_t snapshot_offset; /* bytes of the snapshot acknowledged */
} zkv_raft_progress_t;

/*  Defaults: election 10 ticks, heartbeat 1, pre-vote, check-quorum and
    broadcast on, 256 in flight, 4096 entries or 1 MiB per message, 65536
    uncommitted, 4096 applied per Ready, 4096 reads, 1 MiB chunks. */
void zkv_raft_config_default(zkv_raft_config_t *config, uint32_t id, const uint32_t *voters,
                             uint32_t n_voters);

/*  Create a node from config and its durable state (boot may be NULL).
    ZKV_OK, ZKV_EINVAL (bad config or boot) or ZKV_ENOMEM. */
int zkv_raft_new(const zkv_raft_config_t *config, const zkv_raft_boot_t *boot, zkv_raft_t **raft_p);
void zkv_raft_destroy(zkv_raft_t **raft_p);

/*  One unit of time: election timeouts, heartbeats, check-quorum. */
void zkv_raft_tick(zkv_raft_t *raft);

/*  Handle a peer message. ZKV_OK (also for stale messages, ignored), or
    ZKV_EINVAL for a malformed one (unknown sender, bad fields), ignored. */
int zkv_raft_step(zkv_raft_t *raft, const zkv_raft_msg_t *msg);

/*  Append n commands as consecutive NORMAL entries; *first_index and *term
    (if not NULL) say where they went: a command is committed when index
    first_index + i is applied with that term. ZKV_ENOTLEADER, ZKV_EBUSY
    (leadership transfer, or max_uncommitted reached), ZKV_EINVAL. */
int zkv_raft_propose(zkv_raft_t *raft, const zkv_raft_buf_t *cmds, size_t n, uint64_t *first_index,
                     uint64_t *term);

/*  Propose a new membership (data: a CONFIG entry's, in the host's format).
    It takes effect on each node as soon as it is in its log (Raft thesis
    §4.1), and differs from the one in effect in one member only: one id
    added (voter or learner), removed, promoted or demoted, at least one
    voter left. ZKV_ENOTLEADER; ZKV_EPENDING while the last change is not
    committed, or this leader has not yet committed an entry of its term;
    ZKV_ELAGGING when a learner to promote is not caught up (see
    max_learner_lag); ZKV_EBUSY during a leadership transfer; ZKV_EINVAL
    for data that does not decode or is not one such change. A leader that
    removes itself goes on leading until the change commits, then hands
    over to the most up-to-date voter and steps down for good. */
int zkv_raft_propose_config(zkv_raft_t *raft, const void *data, size_t size, uint64_t *index,
                            uint64_t *term);

/*  The core's own CONFIG entry format: ZKV_RAFT_MEMBERS_SIZE_MAX bytes at
    most; encode returns the size written (0 if cap is too small). */
size_t zkv_raft_members_encode(const zkv_raft_members_t *members, uint8_t *buf, size_t cap);
int zkv_raft_members_decode(void *ctx, const uint8_t *data, size_t size,
                            zkv_raft_members_t *members);

/*  The membership in effect at index (>= the snapshot index): ZKV_OK, or
    ZKV_ECOMPACTED / ZKV_ENOTFOUND outside the log. */
int zkv_raft_config_at(const zkv_raft_t *raft, uint64_t index, zkv_raft_members_t *members);

/*  Start a linearizable read (§6.4 ReadIndex) identified by context. It comes
    back in a Ready's reads once a quorum confirmed leadership after the call
    and the state machine applied its read index. A follower that knows its
    leader asks it for the read index (READ_INDEX, one request for every read
    waiting, one request in flight) and serves the read once it has applied
    that index itself; the read fails with ZKV_ENOTLEADER when the leader
    refuses, when this node leaves the term or the follower role first, or
    when no answer comes within an election timeout. ZKV_ENOTLEADER at once
    without a leader known (the host redirects the client); ZKV_EBUSY when
    max_reads are waiting. */
int zkv_raft_read_index(zkv_raft_t *raft, uint64_t context);

/*  Hand leadership to voter to (§3.10): proposals are refused (ZKV_EBUSY)
    until it completes or aborts after an election timeout. */
int zkv_raft_transfer_leadership(zkv_raft_t *raft, uint32_t to);

/*  Start an election now (as when the election timeout fires). */
int zkv_raft_campaign(zkv_raft_t *raft);

bool zkv_raft_has_ready(const zkv_raft_t *raft);

/*  Fill rd with this round's work. ZKV_OK, or ZKV_ENOTFOUND when there is none. */
int zkv_raft_ready(zkv_raft_t *raft, zkv_raft_ready_t *rd);

/*  The host finished handing out rd (sent, applied or queued its parts). */
void zkv_raft_advance(zkv_raft_t *raft, const zkv_raft_ready_t *rd);

/*  Every Ready up to ready_id is durable. ZKV_EINVAL for an id not yet handed out. */
int zkv_raft_persisted(zkv_raft_t *raft, uint64_t ready_id);

/*  The host could not install the snapshot of Ready ready_id (rd.has_snapshot):
    it wrote only that Ready's hard state (not the snapshot, not its entries)
    and calls this right after zkv_raft_advance() of that Ready. The core drops
    the Ready's entries and its final answer to the leader, asks the leader to
    send the snapshot again from offset 0, and until a snapshot is installed
    takes no entries and does not campaign (its state machine lacks the
    snapshot its log now starts at). ZKV_EINVAL if ready_id is not the last
    Ready or handed out no snapshot. */
int zkv_raft_snapshot_failed(zkv_raft_t *raft, uint64_t ready_id);

/*  The state machine applied every committed entry up to index (at most the
    last handed out). Lower values than before are ignored. */
int zkv_raft_applied(zkv_raft_t *raft, uint64_t index);

/*  The host's answer to a load for peer from lo: the entries it read, in
    order from lo (n >= 1), or n = 0 when its log no longer holds lo (a
    snapshot compacted it: the peer then gets the snapshot). An answer the
    leader no longer waits for is ignored; entries that do not match its log
    (index or term) are ZKV_EINVAL and change nothing. The data is copied. */
int zkv_raft_loaded(zkv_raft_t *raft, uint32_t peer, uint64_t lo, const zkv_raft_entry_t *entries,
                    size_t n);

/*  The host took a durable snapshot of size bytes of its state machine at
    applied index: the log up to index is dropped from memory. The host may
    take a snapshot only at an index <= both applied and the durable index
    (zkv_raft_status): entries it stores past the durable index may be stale
    (a truncation on its way to disk) and must not follow a snapshot. If
    snapshots are written asynchronously, the one with the highest index
    wins. ZKV_EINVAL (past applied), ZKV_EBUSY (past durable: retry later),
    ZKV_OK (also when not past the last snapshot: nothing to do). */
int zkv_raft_compact(zkv_raft_t *raft, uint64_t index, uint64_t size);

void zkv_raft_status(const zkv_raft_t *raft, zkv_raft_status_t *status);

/*  Term of the entry at index. ZKV_OK, ZKV_ECOMPACTED (before the snapshot)
    or ZKV_ENOTFOUND (after the last entry). The snapshot's own index has its
    term. */
int zkv_raft_term_at(const zkv_raft_t *raft, uint64_t index, uint64_t *term);

/*  The entry at index (its data valid until the log changes): ZKV_ECOMPACTED
    before the first entry whose data is in memory, ZKV_ENOTFOUND past the last. */
int zkv_raft_entry_at(const zkv_raft_t *raft, uint64_t index, zkv_raft_entry_t *entry);

/*  The leader's view of a peer. ZKV_ENOTLEADER, or ZKV_ENOTFOUND for an unknown id. */
int zkv_raft_progress(const zkv_raft_t *raft, uint32_t peer, zkv_raft_progress_t *progress);

const char *zkv_raft_role_name(zkv_raft_role_t role);
const char *zkv_raft_msg_type_name(zkv_raft_msg_type_t type);

#endif
