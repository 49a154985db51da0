/*  netcut: cuts links between nodes with iptables DROP rules in a chain of
    our own, jumped to from INPUT. For local processes the chain is in the
    host's namespace (ZKVF<pid>, rules on the nodes' own loopback addresses,
    never 127.0.0.1); for containers it is in each container's namespace,
    entered with nsenter. Rules are replaced all at once with
    iptables-restore, so a change is one command. */
#ifndef ZKV_FAULT_NETCUT_H
#define ZKV_FAULT_NETCUT_H

#include <stddef.h>

#define NETCUT_CHAIN_PREFIX "ZKVF"
#define NETCUT_CHAIN_SIZE 32
#define NETCUT_RULES_MAX 128

/*  Where the commands run: the host (netns_pid 0) or a process's network namespace. */
typedef struct {
    int netns_pid;
    char chain[NETCUT_CHAIN_SIZE];
} netcut_t;

/*  One DROP rule: packets from src (and to dst, when not NULL). */
typedef struct {
    const char *src;
    const char *dst;
} netcut_rule_t;

/*  iptables can be run here; 0, or -1 with why in err. */
int netcut_available(const netcut_t *self, char *err, size_t err_size);

/*  Create the chain (empty) and the jump from INPUT. 0, or -1 with why in err. */
int netcut_install(const netcut_t *self, char *err, size_t err_size);

/*  The chain holds exactly these rules afterwards (none: everything flows). */
int netcut_set(const netcut_t *self, const netcut_rule_t *rules, size_t count, char *err,
               size_t err_size);

/*  Remove the jump and the chain. 0, or -1 with why in err. */
int netcut_remove(const netcut_t *self, char *err, size_t err_size);

/*  Host chains ZKVF<pid> left by a zkv-fault run that was killed (its pid
    gone): removed, each reported on stdout. */
void netcut_remove_stale(void);

#endif
