/*  node: the supervisor. Locks the data directory (dirlock), recovers the
    node's state from it, starts the actors in dependency order (trace, log,
    storage, replication, client) and stops them in reverse, so that nothing
    is lost on the way out: clients stop being served first, the log writer
    syncs last; the lock goes after them. */
#ifndef ZKV_NODE_H
#define ZKV_NODE_H

#include <czmq.h>

#include "config.h"

typedef struct zkv_node_t zkv_node_t;

/*  Lock the data directory, recover and start. NULL with one line in err
    when another process holds the data directory, it is corrupt or an
    endpoint cannot be bound. */
zkv_node_t *zkv_node_new(const zkv_config_t *config, char *err, size_t err_size);

/*  Stop every actor and free everything. */
void zkv_node_destroy(zkv_node_t **self_p);

/*  SIGHUP: read the certificate directories and the authorization file again. */
void zkv_node_reload(zkv_node_t *self);

/*  The actor whose pipe says "FATAL" when the node can no longer go on (a
    failed disk write): poll it beside the signals. */
zactor_t *zkv_node_watch(zkv_node_t *self);

#endif
