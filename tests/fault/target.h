/*  target: the cluster under test behind one interface, so that the nemesis
    and the final checks do not care whether a node is a local zkvd process
    (target_local.c: signals, iptables on per-node loopback addresses) or a
    compose container (target_compose.c: docker kill/stop/start/pause,
    iptables inside each container's network namespace).

    Actions only start things: a node told to stop may take a while to go, a
    docker command runs in the background. target_settled says when the last
    action has finished; the nemesis starts the next one only then. */
#ifndef ZKV_FAULT_TARGET_H
#define ZKV_FAULT_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fault.h"
#include "zkv.h"

typedef enum { TARGET_NODE_UP, TARGET_NODE_DOWN, TARGET_NODE_PAUSED } target_node_t;

/*  Which links are cut: cut[a][b] for node ids a, b (1-based; symmetric). */
typedef struct {
    bool cut[FAULT_NODES_MAX + 1][FAULT_NODES_MAX + 1];
} target_links_t;

typedef struct target_t target_t;

/*  Each action updates state[id]; 0, or -1 after reporting why (fault_error). */
typedef struct {
    int (*kill)(target_t *self, uint32_t id);
    int (*stop)(target_t *self, uint32_t id);
    int (*start)(target_t *self, uint32_t id);
    int (*pause)(target_t *self, uint32_t id);
    int (*resume)(target_t *self, uint32_t id);
    /*  Replace the set of cut links (none: heal). Synchronous. */
    int (*cut)(target_t *self, const target_links_t *links);
    /*  Membership: a new node (an id never used) is added as a learner, started
        with --join and promoted once caught up; *id receives it. Later it is
        removed (after a leadership transfer to it when move_leader: the leader
        removes itself) and must stop by itself. Synchronous, bounded. NULL
        where the target has no spare nodes. */
    int (*grow)(target_t *self, uint32_t *id);
    int (*shrink)(target_t *self, uint32_t id, bool move_leader);
    /*  The last action is done (a stopped node has exited, a command has returned). */
    bool (*settled)(target_t *self);
    /*  Nodes that died on their own, sanitizer reports, exits that were not clean:
        each is a fault_error. Called now and then, and with final at the end. */
    void (*check)(target_t *self, bool final);
    void (*destroy)(target_t *self);
} target_ops_t;

struct target_t {
    const target_ops_t *ops;
    void *impl;
    size_t nodes;
    char endpoints[FAULT_NODES_MAX *
                   FAULT_ENDPOINT_SIZE]; /* every client endpoint, comma-separated */
    char endpoint[FAULT_NODES_MAX + 1][FAULT_ENDPOINT_SIZE]; /* by id */
    bool partitions; /* cut works here; false: the partition faults are left out */
    char partitions_why[FAULT_ERROR_SIZE];    /* when not, why */
    target_node_t state[FAULT_NODES_MAX + 1]; /* by id, as the last action left it */
    char cert[FAULT_PATH_SIZE];               /* the client's certificate; "": plaintext */
    char server_key[FAULT_PATH_SIZE];         /* the nodes' public key or its file */
};

/*  The credentials of the target's clients, for zkv_client_config_t. */
zkv_curve_t target_curve(const target_t *self);

/*  Start the cluster (local) or attach to it (compose). NULL with a message in err. */
target_t *target_local_new(const fault_options_t *options, char *err, size_t err_size);
target_t *target_compose_new(const fault_options_t *options, char *err, size_t err_size);

/*  Heal everything: cuts removed, paused nodes resumed, down nodes started. Waits
    (bounded) for each step to settle. 0, or -1 after an error already reported. */
int target_heal_all(target_t *self, int64_t timeout_ms);

/*  Wait (bounded) for the last action to settle. 0, or -1 on timeout. */
int target_wait_settled(target_t *self, int64_t timeout_ms);

void target_destroy(target_t **self_p);

#endif
