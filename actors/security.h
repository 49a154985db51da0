/*  security: CURVE (CurveZMQ) on a node's TCP sockets (docs/SECURITY.md).

    Clients, watchers and trace subscribers meet one server key pair shared by
    the members (--server-cert), so a client needs one server key for the cluster; the
    peer sockets use each node's own pair (--peer-cert), and a node reaches a
    member with that member's public key from --peer-certs. Whom a node lets in
    is the auth actor's to decide (auth.h), by the ZAP domain a socket names.
    With --insecure nothing here does anything. */
#ifndef ZKV_SECURITY_H
#define ZKV_SECURITY_H

#include <czmq.h>

#include "config.h"

#define ZKV_ZAP_CLIENT "client" /* client ROUTER and watch XPUB: --client-certs */
#define ZKV_ZAP_TRACE "trace"   /* trace XPUB: --trace-certs */
#define ZKV_ZAP_PEER "peer"     /* peer PUB and ROUTER: --peer-certs */

/*  Check the flags and load the key pairs into config (after the rest is
    validated). -1 with one line in err: a missing flag, a secret file others
    may read, a file that is not a certificate, a directory that cannot be read,
    an authorization file that does not parse. */
int zkv_security_load(zkv_config_t *config, char *err, size_t err_size);

/*  Make sock a CURVE server of domain (before its bind). -1, logged, when
    libzmq refuses: the socket must not be bound, or it would be plaintext. */
int zkv_security_server(const zkv_config_t *config, zsock_t *sock, const char *domain);

/*  Make sock a CURVE client of member id's peer sockets (before each
    connect). -1 with one line in err when --peer-certs has no certificate
    for that member. */
int zkv_security_peer_client(const zkv_config_t *config, zsock_t *sock, uint32_t id, char *err,
                             size_t err_size);

#endif
