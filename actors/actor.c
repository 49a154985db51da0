#include "actor.h"

#include <pthread.h>

void zkv_actor_name(const char *name)
{
    char thread_name[16]; /* the kernel keeps 15 characters */
    snprintf(thread_name, sizeof thread_name, "zkv-%s", name);
    pthread_setname_np(pthread_self(), thread_name);
}

void zkv_actor_ready(zsock_t *pipe, int status)
{
    zsock_signal(pipe, 0);
    zsock_signal(pipe, (byte) status);
}

zactor_t *zkv_actor_start(zactor_fn *fn, void *args)
{
    zactor_t *actor = zactor_new(fn, args);
    if (actor && zsock_wait(actor) != 0)
        zactor_destroy(&actor);
    return actor;
}

void zkv_actor_endpoint(char *buf, size_t size, uint32_t node_id, const char *name)
{
    snprintf(buf, size, "inproc://zkv-%u-%s", node_id, name);
}

zsock_t *zkv_actor_pair(uint32_t node_id, const char *name, bool bind)
{
    char endpoint[128];
    zkv_actor_endpoint(endpoint, sizeof endpoint, node_id, name);
    zsock_t *sock = zsock_new(ZMQ_PAIR);
    if (!sock)
        return NULL;
    zsock_set_sndhwm(sock, 0);
    zsock_set_rcvhwm(sock, 0);
    int rc = bind ? zsock_bind(sock, "%s", endpoint) : zsock_connect(sock, "%s", endpoint);
    if (rc != 0)
        zsock_destroy(&sock);
    return sock;
}
