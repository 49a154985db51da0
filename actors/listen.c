/*  listen: resolve a node's listen host, and name a port that cannot be bound. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool s_numeric(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

int zkv_listen_resolve(zkv_config_t *config, char *err, size_t err_size)
{
    const char *host = config->listen;
    if (strcmp(host, "*") == 0 || s_numeric(host) || if_nametoindex(host) != 0)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &found);
    if (rc != 0 || !found) {
        snprintf(err, err_size,
                 "cannot listen on '%s' (--listen, else this member's host in --peers): %s; "
                 "give an IPv4 address such as 127.0.0.1 or 0.0.0.0",
                 host, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    char numeric[INET_ADDRSTRLEN];
    const struct sockaddr_in *in = (const struct sockaddr_in *) found->ai_addr;
    inet_ntop(AF_INET, &in->sin_addr, numeric, sizeof numeric);
    freeaddrinfo(found);
    snprintf(config->listen, sizeof config->listen, "%s", numeric);
    return 0;
}

/*  Bind a TCP socket to host:port as libzmq would (SO_REUSEADDR), then close
    it. 0, or the errno of the failure. */
static int s_try_bind(const char *host, uint16_t port)
{
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *) &addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &addr;
    socklen_t size = sizeof *v4;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    if (strcmp(host, "*") == 0)
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &v4->sin_addr) != 1) {
        memset(&addr, 0, sizeof addr);
        if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1)
            return 0; /* an interface name: left to libzmq */
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        size = sizeof *v6;
    }
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    int rc = bind(fd, (struct sockaddr *) &addr, size) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

int zkv_listen_check(const zkv_config_t *config, char *err, size_t err_size)
{
    const zkv_member_t *me = zkv_config_member(config, config->id);
    if (!me)
        return 0;
    const struct {
        uint16_t port;
        const char *role;
    } ports[] = {
        {config->trace_port, "the trace port, --trace-port"},
        {config->watch_port, "the watch port, --watch-port"},
        {me->pub_port, "the peer PUB port, in --peers"},
        {me->router_port, "the peer ROUTER port, in --peers"},
        {me->client_port, "the client port, in --peers"},
        {config->metrics_port, "the metrics port, --metrics-port"},
    };
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        int rc = s_try_bind(config->listen, ports[i].port);
        if (rc) {
            snprintf(err, err_size, "cannot bind tcp://%s:%u (%s): %s", config->listen,
                     ports[i].port, ports[i].role, strerror(rc));
            return -1;
        }
    }
    return 0;
}
