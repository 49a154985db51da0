/*  peer_socket: liveness and connections of the sockets to other members. */
#include "peer_socket.h"

/*  A ZMTP ping every 1/PEER_PINGS_PER_ELECTION of an election timeout. */
#define PEER_PINGS_PER_ELECTION 2
#define PEER_LIVENESS_MS_MAX 600000 /* whatever the flags say; libzmq's TTL stops at 6553 s */

int zkv_peer_election_ms(const zkv_config_t *config)
{
    uint64_t election_ms = (uint64_t) config->election_ticks * config->tick_ms;
    return (int) (election_ms < PEER_LIVENESS_MS_MAX ? election_ms : PEER_LIVENESS_MS_MAX);
}

/*  A cut link leaves connections that look alive while TCP backs off its
    retransmissions; after repeated cuts the next try can be a minute away.
    Heartbeats and TCP_USER_TIMEOUT close such a connection, and a connect
    attempt and the reconnect backoff are bounded by an election timeout, so
    a healed link carries traffic again within about one. */
void zkv_peer_socket_liveness(const zkv_config_t *config, zsock_t *sock)
{
#if ZKV_NODE_PLANTED_BUG == 7
    (void) config;
    (void) sock;
    return;
#endif
    int ms = zkv_peer_election_ms(config);
    int ping_ms = ms / PEER_PINGS_PER_ELECTION > 0 ? ms / PEER_PINGS_PER_ELECTION : 1;
    zsock_set_heartbeat_ivl(sock, ping_ms);
    zsock_set_heartbeat_timeout(sock, ZKV_PEER_DEAD_ELECTIONS * ms);
    zsock_set_heartbeat_ttl(sock, ZKV_PEER_DEAD_ELECTIONS * ms);
    zsock_set_tcp_maxrt(sock, ZKV_PEER_DEAD_ELECTIONS * ms);
    zsock_set_connect_timeout(sock, ms);
    zsock_set_reconnect_ivl(sock, ZKV_PEER_RECONNECT_MS);
    zsock_set_reconnect_ivl_max(sock, ms > ZKV_PEER_RECONNECT_MS ? ms : ZKV_PEER_RECONNECT_MS);
}

/*  From our own listen address when it is a specific one, so that a link
    between two nodes is identified by its two addresses (a test cuts one
    link with a firewall rule on exactly that pair). */
int zkv_peer_socket_connect(const zkv_config_t *config, zsock_t *sock, const char *host,
                            uint16_t port, char *buf, size_t size)
{
    const char *src = config->listen;
    bool any = streq(src, "0.0.0.0") || streq(src, "*") || streq(src, "::");
    if (any)
        snprintf(buf, size, "tcp://%s:%u", host, port);
    else
        snprintf(buf, size, "tcp://%s:0;%s:%u", src, host, port);
    return zsock_connect(sock, "%s", buf);
}
