/*  auth actor: the node's ZAP handler (ZeroMQ RFC 27) on
    inproc://zeromq.zap.01. libzmq asks it about every CURVE handshake on the
    node's sockets; it answers by the socket's ZAP domain (security.h): a peer
    socket lets in the keys of --peer-certs, the client and watch sockets those
    of --client-certs, the trace socket those of --trace-certs. The user id it
    returns, the certificate's name ("node-N" for a peer), reaches the front
    as the requests' User-Id property for the authorization file.

    A key it does not know makes it read that directory again, at most once a
    second, so a certificate dropped in is taken without a restart; RELOAD on
    its pipe (SIGHUP) reads every directory at once. A directory that no longer
    reads keeps the keys it had, and says so. It must start before any CURVE
    socket binds: without a handler libzmq lets every key in. */
#ifndef ZKV_AUTH_H
#define ZKV_AUTH_H

#include <czmq.h>

#include "config.h"
#include "metrics.h"

/*  NULL when the handler endpoint cannot be bound (another in the process).
    config and metrics (its auth part) must outlive the actor. */
zactor_t *zkv_auth_actor_new(const zkv_config_t *config, zkv_metrics_t *metrics);

#endif
