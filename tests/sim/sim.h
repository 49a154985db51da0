/*  sim: a deterministic simulation of a zkv Raft cluster in one process.

    Several zkv_raft_t instances, a seeded PRNG and a simulated network that
    delays, drops, duplicates and reorders messages and cuts links (also one
    way). Each node has a simulated disk that holds only what the node was
    told is durable; writes complete after a random delay, in order, and a
    crash loses the rest. Clients propose unique values to a small key-value
    state machine and read through ReadIndex. Invariants are checked as
    events happen and after every step; the first violation stops the seed
    and prints it with a replay command and the tail of the trace.

    A step is one tick of simulated time (SIM_TICK units): every live node
    ticks once, at its own phase, and every event due in that window runs in
    time order. */
#ifndef ZKV_SIM_H
#define ZKV_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft.h"

#define SIM_MAX_NODES 8 /* 5 voters, a learner and nodes that join later */
#define SIM_KEYS 4
#define SIM_TICK 8   /* time units per tick */
#define SIM_TRACE 48 /* events kept for a failure report */
#define SIM_LIVENESS_TICKS 300

/*  The command in every NORMAL entry: put key = value (values are unique). */
typedef struct {
    uint64_t key;
    uint64_t value;
} sim_cmd_t;

/*  The replicated state machine; its snapshot image is this struct. */
typedef struct {
    uint64_t value[SIM_KEYS];
    uint64_t windex[SIM_KEYS]; /* log index of the write that set value */
    uint64_t hash;             /* of the contents, updated per write */
    uint64_t applied;
} sim_sm_t;

typedef struct {
    uint64_t term;
    uint64_t index;
    uint32_t type;
    uint32_t size;
    sim_cmd_t cmd;
    uint8_t conf[ZKV_RAFT_MEMBERS_SIZE_MAX]; /* CONFIG entries: the membership */
} sim_dentry_t;

/*  What survives a crash. */
typedef struct {
    zkv_raft_hard_state_t hs;
    uint64_t snap_index;
    uint64_t snap_term;
    sim_sm_t snap;
    zkv_raft_members_t members; /* as of snap_index: what the node boots with */
    sim_dentry_t *ents;         /* from snap_index + 1 on */
    size_t n;
    size_t cap;
} sim_disk_t;

/*  A Ready's writes on their way to the disk. */
typedef struct {
    uint64_t id;
    uint64_t done_at; /* time the write becomes durable */
    zkv_raft_hard_state_t hs;
    bool has_snap;
    zkv_raft_snapshot_meta_t meta;
    sim_sm_t snap;
    sim_dentry_t *ents;
    size_t n;
    bool has_ack; /* writer_acks: send ack once durable */
    zkv_raft_msg_t ack;
    uint64_t ack_term; /* the term of the entry ack.index when it was made */
} sim_write_t;

typedef struct {
    uint64_t index;
    uint64_t term;
    sim_cmd_t cmd;
} sim_prop_t;

typedef struct {
    uint64_t ctx;
    uint64_t key;
    uint64_t invoke_commit; /* highest commit index known anywhere when issued */
} sim_read_t;

typedef struct {
    uint32_t id;
    bool voter;
    bool up;
    uint32_t gen;        /* incremented by a crash: stale disk events are ignored */
    uint32_t phase;      /* tick offset within a step */
    uint64_t restart_at; /* step at which a crashed node comes back */
    zkv_raft_t *raft;
    sim_disk_t disk;
    sim_write_t *writes; /* FIFO */
    size_t n_writes;
    size_t cap_writes;
    sim_sm_t sm;
    sim_sm_t serve; /* snapshot this node serves as a leader */
    uint64_t serve_index;
    uint8_t recv[sizeof(sim_sm_t)]; /* incoming snapshot chunks */
    size_t recv_size;
    sim_prop_t *props; /* proposals waiting to apply, by index */
    size_t n_props;
    size_t cap_props;
    sim_read_t *reads;
    size_t n_reads;
    size_t cap_reads;
    uint64_t last_term; /* for monotonicity within a life */
    uint64_t last_commit;
} sim_node_t;

typedef struct {
    uint64_t time;
    uint64_t seq;
    uint8_t kind;
    uint8_t node;
    uint32_t gen;
    void *ptr;
} sim_ev_t;

enum { SIM_EV_TICK, SIM_EV_MSG, SIM_EV_DISK };

typedef struct {
    uint32_t step;
    uint8_t kind;
    uint8_t node;
    uint8_t peer;
    uint8_t mtype;
    uint64_t a, b, c;
} sim_trace_t;

enum {
    SIM_TR_MSG,
    SIM_TR_ROLE,
    SIM_TR_CRASH,
    SIM_TR_RESTART,
    SIM_TR_CUT,
    SIM_TR_HEAL,
    SIM_TR_PROPOSE,
    SIM_TR_READ,
    SIM_TR_SNAPSHOT,
    SIM_TR_TRANSFER,
    SIM_TR_NET,
    SIM_TR_LIVENESS,
    SIM_TR_WRITE,
    SIM_TR_DURABLE,
    SIM_TR_CONFIG,
};

/*  What the checker knows about one log index once it is committed. */
typedef struct {
    uint64_t term;  /* of the entry, once applied somewhere (0: not yet) */
    uint64_t data;  /* hash of the entry */
    uint64_t state; /* state machine hash after applying it */
    uint64_t cterm; /* lowest term in which a node saw it committed (0: none) */
    uint64_t eterm; /* term of the entry it saw committed */
} sim_committed_t;

/*  (index, term) -> what the entry is and what precedes it. */
typedef struct {
    uint64_t index;
    uint64_t term;
    uint64_t data;
    uint64_t prev_term;
} sim_reg_t;

typedef struct {
    uint64_t index;
    uint64_t value;
} sim_write_rec_t;

/*  A membership some log held at index (of term). */
typedef struct {
    uint64_t index;
    uint64_t term;
    zkv_raft_members_t members;
} sim_conf_t;

typedef struct {
    uint64_t seeds, steps, elections, commits, reads, stale_reads_failed, crashes, cuts,
        snapshots_sent, snapshots_taken, transfers, messages, dropped, proposals, acked,
        config_changes, config_refused, joins, removals, loads, loads_lost;
} sim_stats_t;

typedef struct {
    /* options */
    uint64_t seed;
    uint32_t n_voters;
    uint32_t n_nodes;
    uint32_t steps;
    bool trace_live;

    /* randomness and time */
    uint64_t rng;
    uint64_t now;
    uint32_t step;
    uint64_t ev_seq;

    zkv_raft_config_t cfg;
    sim_node_t nodes[SIM_MAX_NODES + 1]; /* by id */

    /* network */
    sim_ev_t *heap;
    size_t n_heap;
    size_t cap_heap;
    bool cut[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* cut[from][to] */
    uint32_t drop_permille;
    uint32_t dup_permille;
    uint32_t max_delay; /* units */
    uint32_t long_delay_permille;
    uint32_t disk_sync_percent;
    uint32_t disk_max_delay;
    uint64_t snap_every;    /* applied entries between local snapshots */
    uint32_t changes;       /* permille of steps that ask for a membership change */
    uint32_t storm;         /* fault rate multiplier: 1, or more for a storm seed */
    uint32_t hunt_permille; /* chance a new leader is cut off or crashed at once */
    uint32_t elected;       /* the last new leader, for the hunt */
    uint32_t elected_step;
    bool calm; /* liveness phase: no faults */

    /* clients */
    uint64_t next_value;
    uint64_t next_ctx;
    uint64_t max_acked_index;

    /* checker state */
    uint32_t *leader_of; /* by term */
    size_t cap_leader_of;
    uint32_t *votes; /* by term * (SIM_MAX_NODES + 1) + voter: candidate granted */
    size_t cap_votes;
    sim_committed_t *committed; /* by index */
    size_t cap_committed;
    uint64_t max_committed;   /* highest index applied somewhere */
    uint64_t max_declared;    /* highest index some node holds committed */
    uint64_t max_commit_seen; /* highest commit index any node reported */
    sim_reg_t *reg;
    size_t cap_reg;
    size_t n_reg;
    sim_conf_t *confs; /* every membership seen in a log */
    size_t n_confs;
    size_t cap_confs;
    zkv_raft_members_t cconf;           /* the latest committed membership (applied somewhere) */
    uint64_t cconf_index;               /* ... its entry's index (0: the first one) */
    sim_write_rec_t *history[SIM_KEYS]; /* committed writes per key, by index */
    size_t n_history[SIM_KEYS];
    size_t cap_history[SIM_KEYS];

    /* verdict */
    bool failed;
    char invariant[64];
    char detail[512];
    sim_trace_t trace[SIM_TRACE];
    uint64_t n_trace;
    sim_stats_t stats;
} sim_t;

/* sim_main.c */
uint64_t sim_rand(sim_t *sim);
uint32_t sim_below(sim_t *sim, uint32_t n);
bool sim_chance(sim_t *sim, uint32_t permille);
void sim_fail(sim_t *sim, const char *invariant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sim_trace(sim_t *sim, uint8_t kind, uint32_t node, uint32_t peer, uint32_t mtype, uint64_t a,
               uint64_t b, uint64_t c);

/* sim_net.c */
void sim_heap_push(sim_t *sim, sim_ev_t ev);
bool sim_heap_pop_before(sim_t *sim, uint64_t end, sim_ev_t *ev);
void sim_net_send(sim_t *sim, sim_node_t *from, const zkv_raft_msg_t *m);
void sim_net_deliver(sim_t *sim, sim_ev_t *ev);
void sim_net_free(sim_t *sim);
void sim_faults(sim_t *sim);
void sim_heal(sim_t *sim);
void sim_hunt_commit(sim_t *sim, sim_node_t *nd, const zkv_raft_ready_t *rd);
/* A node up that says it leads (the lowest id), or 0. */
uint32_t sim_leader(sim_t *sim);

/* sim_node.c */
void sim_node_boot(sim_t *sim, sim_node_t *nd);
void sim_node_crash(sim_t *sim, sim_node_t *nd);
void sim_node_ready(sim_t *sim, sim_node_t *nd);
void sim_node_disk_event(sim_t *sim, sim_node_t *nd, uint32_t gen);
void sim_node_free(sim_node_t *nd);
uint64_t sim_sm_hash_put(uint64_t hash, uint64_t key, uint64_t old, uint64_t value);
uint64_t sim_entry_hash(const zkv_raft_entry_t *e);

/* sim_check.c */
void sim_check_ready(sim_t *sim, sim_node_t *nd, const zkv_raft_ready_t *rd);
void sim_check_message(sim_t *sim, sim_node_t *nd, const zkv_raft_msg_t *m);
/*  ... an acknowledgement sent by the writer (writer_acks), of the entry of
    ack_term it was made for: the node may have overwritten it in memory
    since (a newer leader), as a network may deliver any ack late. */
void sim_check_message_as(sim_t *sim, sim_node_t *nd, const zkv_raft_msg_t *m, uint64_t ack_term);
void sim_check_apply(sim_t *sim, sim_node_t *nd, const zkv_raft_entry_t *e);
void sim_check_install(sim_t *sim, sim_node_t *nd, const sim_sm_t *img, uint64_t index);
void sim_check_read(sim_t *sim, sim_node_t *nd, const sim_read_t *r, const zkv_raft_read_t *rr);
void sim_check_step(sim_t *sim);
void sim_check_hs_write(sim_t *sim, sim_node_t *nd, const zkv_raft_hard_state_t *hs);
void sim_check_free(sim_t *sim);
/* Ids in m whose role (none, learner, voter) differs from their role in c. */
uint32_t sim_conf_changes(const zkv_raft_members_t *c, const zkv_raft_members_t *m);

/* sim_config.c */
void sim_membership(sim_t *sim);
void sim_node_join(sim_t *sim, uint32_t id);
bool sim_member(const zkv_raft_members_t *m, uint32_t id);

#endif
