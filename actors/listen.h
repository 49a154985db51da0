/*  listen: the address and ports a node binds, checked so that a mistake is
    one clear line. libzmq binds to an address or an interface name, never to
    a host name ("tcp://localhost:7401" fails with "No such device"), so a
    name is resolved first; and when binding failed, each port is tried again
    to name the one that cannot be bound, its role and the reason. */
#ifndef ZKV_LISTEN_H
#define ZKV_LISTEN_H

#include <stddef.h>

#include "config.h"

/*  Replace config->listen by its numeric IPv4 address when it is a host name.
    An address, "*" or an interface name is kept. 0, or -1 with one line in err
    when the name does not resolve. */
int zkv_listen_resolve(zkv_config_t *config, char *err, size_t err_size);

/*  Try to bind each port this node listens on, one after the other, and let
    it go again. 0 when all can be bound; -1 with one line in err, such as
    "cannot bind tcp://127.0.0.1:7401 (the trace port): Address already in use". */
int zkv_listen_check(const zkv_config_t *config, char *err, size_t err_size);

#endif
