/*  peer_socket: how a node's sockets to other members are made: liveness
    bounded by an election timeout, and connections from the node's own
    listen address. The replication actor's sockets and the log actor's
    DEALER to the leader share it. */
#ifndef ZKV_PEER_SOCKET_H
#define ZKV_PEER_SOCKET_H

#include <czmq.h>
#include <stdint.h>

#include "config.h"

#define ZKV_PEER_RECONNECT_MS 100
/*  A connection that hears nothing, or leaves data unacknowledged, for this
    many election timeouts is closed and made again. */
#define ZKV_PEER_DEAD_ELECTIONS 2

/*  One election timeout (election_ticks * tick_ms), bounded: the unit of
    the peer sockets' liveness. */
int zkv_peer_election_ms(const zkv_config_t *config);

/*  ZMTP heartbeats, TCP_USER_TIMEOUT, connect timeout and reconnect backoff
    bounded by election timeouts (before connect or bind). */
void zkv_peer_socket_liveness(const zkv_config_t *config, zsock_t *sock);

/*  Connect sock to host:port, from the node's listen address when it is a
    specific one; the endpoint goes into buf, to disconnect from it later. */
int zkv_peer_socket_connect(const zkv_config_t *config, zsock_t *sock, const char *host,
                            uint16_t port, char *buf, size_t size);

#endif
