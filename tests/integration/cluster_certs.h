/*  cluster_certs: the certificates of a test cluster, made fresh in its
    directory: certs/server.cert (the client-facing key pair every node
    shares), certs/peers/nodeN.cert (node-id N) for N in 1..nodes, and
    certs/clients/admin.cert, the client the tests use. Secret halves beside
    each public file, mode 0600. */
#ifndef ZKV_CLUSTER_CERTS_H
#define ZKV_CLUSTER_CERTS_H

#include <stddef.h>

/*  0, or -1 with one line in err. */
int zkv_cluster_certs_make(const char *dir, size_t nodes, char *err, size_t err_size);

/*  A new client certificate dir/certs/clients/NAME.cert (allowed once the
    nodes read their directory again: at once for a key they do not know). */
int zkv_cluster_certs_client(const char *dir, const char *name, char *err, size_t err_size);

#endif
