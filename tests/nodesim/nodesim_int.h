/*  nodesim_int: the simulated world shared by nodesim.c (nodes, network,
    scheduler, checks) and nodesim_client.c (clients and their history). */
#ifndef ZKV_NODESIM_INT_H
#define ZKV_NODESIM_INT_H

#include <czmq.h>

#include "boot.h"
#include "front.h"
#include "fs_mem.h"
#include "lincheck.h"
#include "log.h"
#include "msg.h"
#include "nodesim.h"
#include "port.h"
#include "replication.h"
#include "disk.h"
#include "storage.h"
#include "watch_hub.h"
#include "zkv.pb-c.h"

#define NS_NODES_MAX 5
#define NS_KEYS 3
#define NS_CLIENTS 4
#define NS_TICK_MS 10
#define NS_ELECTION_TICKS 10
#define NS_HEARTBEAT_TICKS 2
#define NS_SNAPSHOT_ENTRIES 15
#define NS_ATTEMPT_MS 400    /* a client tries another node after this */
#define NS_DEADLINE_MS 4000  /* then gives up: a write's outcome is unknown */
#define NS_QUIET_MS 30000    /* faults healed: everything must converge within this */
#define NS_HISTORY_MAX 20000 /* client operations recorded per seed */
#define NS_TERMS_MAX 4096
/* Clients without a session (ns_clients_burst) have this bit in their id. */
#define NS_SESSIONLESS (1ull << 62)

typedef struct ns_item {
    struct ns_item *next;
    zkv_msg_t msg;
} ns_item_t;

typedef struct {
    ns_item_t *head, *tail;
    size_t n;
} ns_queue_t;

/*  A request on its way to a node's client actor. */
typedef struct ns_request {
    struct ns_request *next;
    zframe_t *routing; /* a client's index, or NS_SESSIONLESS | a burst's number */
    zframe_t *body;
} ns_request_t;

typedef struct ns_world ns_world_t;
typedef struct ns_node ns_node_t;

typedef struct {
    ns_world_t *w;
    ns_node_t *n;
    zkv_actor_id_t from;
} ns_ctx_t;

/*  A published event's position (and its hash, in the world's reference;
    its epoch, in a node's stream: a reset or a cut-off starts a new one). */
typedef struct {
    uint64_t rev;
    uint32_t seq;
    uint64_t hash;
    uint64_t epoch;
} ns_watch_rec_t;

struct ns_node {
    uint32_t id;
    bool up;
    zkv_fs_mem_t *fs;
    zkv_config_t config;
    zkv_log_t *log;
    zkv_storage_t *storage;
    zkv_repl_t *repl;
    zkv_front_t *front;
    zkv_watch_hub_t *watch;
    zkv_disk_t disk;        /* its disk actor's handler (no state of its own) */
    zkv_metrics_t *metrics; /* its handlers', kept across restarts */
    ns_watch_rec_t *pub;    /* what its watch handler published, in order */
    size_t pub_n, pub_cap;
    uint64_t pub_epoch;
    bool resubscribe;                               /* cut off: the subscriber comes back */
    ns_request_t *requests, **requests_end;         /* in arrival order */
    ns_queue_t q[ZKV_ACTOR_COUNT][ZKV_ACTOR_COUNT]; /* [to][from] */
    ns_ctx_t ctx[ZKV_ACTOR_COUNT];
    int64_t next_tick;
    bool leads;            /* as its last STATE said */
    bool disk_full;        /* its disk was given a capacity it may run into */
    bool disk_failing;     /* its disk was armed to fail a call with EIO */
    int64_t back_at;       /* stopped on a full disk: space freed and started again then */
    int64_t busy_until;    /* its replication actor has no Ready before then */
    int64_t disk_ready_at; /* its disk actor's snapshot is done no sooner */
    uint64_t booted;       /* incarnations */
};

typedef struct ns_packet {
    struct ns_packet *next;
    uint32_t from, to;
    int64_t at;
    bool last_chunk; /* the end of a snapshot */
    zframe_t *frame;
} ns_packet_t;

typedef enum { NS_LINK_UP, NS_LINK_CUT, NS_LINK_DEAD } ns_link_t;

typedef enum { NS_OP_NONE, NS_OP_OPEN, NS_OP_PUT, NS_OP_GET } ns_op_kind_t;

/*  One recorded operation on a key; strings live here so ops can point at them. */
typedef struct {
    int key;
    zkv_lincheck_op_t op;
    char value[32];
} ns_hist_t;

typedef struct {
    uint64_t id;
    bool session;
    uint64_t next_seq;
    uint64_t first_unacked;
    ns_op_kind_t kind;
    int key;
    char value[32];
    uint64_t seq;
    uint64_t op_id; /* the request id of every attempt at the current operation */
    uint32_t node;
    int64_t attempt_at; /* when the current attempt times out */
    int64_t deadline;
    size_t hist; /* its history entry (puts and gets) */
    int64_t idle_until;
    uint32_t attempts;   /* of the current operation */
    uint32_t generation; /* sessions this client has lost */
} ns_client_t;

/*  Where each acknowledged write took effect, by (client id, sequence). */
typedef struct {
    uint64_t client_id, seq, index;
} ns_effect_t;

#define NS_EFFECTS_MAX (1u << 16) /* a power of two */

/*  A lease the lease client held: when its last acknowledged keepalive (or
    grant) was sent. */
typedef struct {
    uint64_t id;
    uint64_t ttl_s;
    int64_t last_sent;
} ns_lease_t;

#define NS_LEASES_MAX 4096
#define NS_LEASE_ROUTING (NS_SESSIONLESS - 1) /* the lease client's requests */

typedef struct {
    int phase;
    bool waiting;
    uint64_t request_id;
    int64_t sent_at, next_at;
    uint64_t lease; /* held, 0: none */
    uint32_t keeps_left;
} ns_lease_client_t;

struct ns_world {
    ns_options_t opt;
    ns_stats_t *stats;
    FILE *out;
    uint64_t rng;
    int64_t now;
    uint64_t pos; /* event positions for the history */
    ns_node_t nodes[NS_NODES_MAX];
    ns_packet_t *net;
    ns_link_t links[NS_NODES_MAX + 1][NS_NODES_MAX + 1];
    int64_t link_back[NS_NODES_MAX + 1][NS_NODES_MAX + 1]; /* a dead link is made again then */
    bool faults;                                           /* off in the quiet phase */
    bool clients_stop;                                     /* no new operations */
    ns_client_t clients[NS_CLIENTS];
    uint64_t next_op;
    ns_hist_t *hist;
    size_t n_hist;
    ns_effect_t *effects;
    /* Checks. */
    uint32_t term_leader[NS_TERMS_MAX]; /* by term: the leader seen, 0 none */
    uint64_t *applied_term;             /* by index: the term applied there (0: none yet) */
    uint64_t *applied_hash;
    size_t applied_cap;
    ns_lease_client_t lease_client;
    ns_lease_t leases[NS_LEASES_MAX];
    size_t n_leases;
    ns_watch_rec_t *watch_ref; /* every event published by any node, by position */
    size_t watch_n, watch_cap;
    bool failed;
    char why[1024];
};

/* nodesim.c */
uint64_t ns_random(ns_world_t *w, uint64_t n);
void ns_fail(ns_world_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ns_note(ns_world_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*  Queue msg (taken) for node n's actor to, from actor from. */
void ns_enqueue(ns_node_t *n, zkv_actor_id_t to, zkv_actor_id_t from, zkv_msg_t *msg);
/*  Queue a request (taken) for node n's client actor. */
void ns_request_enqueue(ns_node_t *n, ns_request_t *r);

/* nodesim_watch.c */
void ns_watch_start(ns_world_t *w, ns_node_t *n);
void ns_watch_handle(ns_world_t *w, ns_node_t *n, const zkv_msg_t *msg);
void ns_watch_check(ns_world_t *w);

/* nodesim_lease.c */
void ns_lease_step(ns_world_t *w);
void ns_lease_reply(ns_world_t *w, const Zkv__Response *r);
void ns_lease_check_proposal(ns_world_t *w, ns_node_t *n, const zkv_msg_t *msg);

/* nodesim_client.c */
/*  A request (borrowed) to node n's client actor, from routing. */
void ns_request_send(ns_node_t *n, uint64_t routing, const Zkv__Request *req);
void ns_clients_init(ns_world_t *w);
/*  A message for node n's client actor, seen before the actor handles it. */
void ns_client_actor_sees(ns_world_t *w, ns_node_t *n, const zkv_msg_t *msg);
/*  Node n's client actor answers the connection routing (both borrowed). */
void ns_client_reply(ns_world_t *w, ns_node_t *n, zframe_t *routing, zframe_t *body);
/*  One client acts: starts an operation or retries one that timed out. */
void ns_clients_step(ns_world_t *w);
bool ns_clients_idle(const ns_world_t *w);
/*  A client whose session is gone pipelines writes to node n: they enter
    its log (when it leads) and must all be refused when applied. */
void ns_clients_burst(ns_world_t *w, ns_node_t *n, uint32_t writes);
/*  The final state read from a converged node, then every key's history checked. */
int ns_history_check(ns_world_t *w, const zkv_kvstore_t *final);

#endif
