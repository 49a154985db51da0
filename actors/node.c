/*  node: boot, then actors up in dependency order and down in reverse. */
#include "node.h"

#include "auth.h"
#include "boot.h"
#include "client.h"
#include "disk.h"
#include "dirlock.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "replication.h"
#include "storage.h"
#include "trace.h"
#include "watch.h"

struct zkv_node_t {
    zkv_dirlock_t *lock;    /* held from before boot until every actor stopped */
    zkv_metrics_t *metrics; /* written by the actors, read by http; freed after them */
    zactor_t *auth;         /* first up, last down: no CURVE socket without it */
    zactor_t *trace;
    zactor_t *disk; /* before log and storage, which hand it work, and after them */
    zactor_t *log;
    zactor_t *watch;
    zactor_t *storage;
    zactor_t *replication;
    zactor_t *client;
    zactor_t *http;
};

zkv_node_t *zkv_node_new(const zkv_config_t *config, char *err, size_t err_size)
{
    zkv_dirlock_t *lock = zkv_dirlock_new(config->data_dir, err, err_size);
    if (!lock)
        return NULL;
    zkv_boot_t boot;
    if (zkv_boot(config, &boot, err, err_size) != 0) {
        zkv_dirlock_destroy(&lock);
        return NULL;
    }
    zkv_node_t *self = zmalloc(sizeof *self);
    self->lock = lock;
    self->metrics = zkv_metrics_new(config->id);
    zkv_metrics_t *metrics = self->metrics;
    char endpoint[ZKV_HOST_SIZE_MAX + 32];
    snprintf(endpoint, sizeof endpoint, "tcp://%s:%u", config->listen, config->trace_port);
    const zkv_member_t *me = zkv_config_member(config, config->id);
    const char *failed = NULL;
    if (!metrics)
        failed = "out of memory";
    else if (!config->insecure && !(self->auth = zkv_auth_actor_new(config, metrics)))
        failed = "cannot start the ZAP handler (another in this process?)";
    else if (!(self->trace = zkv_trace_actor_new(config->id, endpoint, metrics,
                                                 config->insecure ? NULL : &config->cert)))
        failed = "cannot bind the trace endpoint";
    else if (!(self->disk = zkv_disk_actor_new(config->id, metrics)))
        failed = "cannot start the disk actor";
    else if (!(self->log = zkv_log_actor_new(config, &boot.wal, metrics)))
        failed = "cannot start the log writer";
    else if (!(self->watch = zkv_watch_actor_new(config, metrics)))
        failed = "cannot bind the watch endpoint";
    else if (!(self->storage = zkv_storage_actor_new(
                   config, &boot.kv,
                   &(zkv_storage_start_t){boot.snapshot_term, boot.members, boot.members_size,
                                          boot.snapshot_path},
                   metrics)))
        failed = "cannot start the storage actor";
    else if (!(self->replication = zkv_replication_actor_new(config, &boot.raft, boot.snapshot_path,
                                                             &boot.cluster, metrics)))
        failed = "cannot bind the peer endpoints";
    else if (!(self->client = zkv_client_actor_new(config, metrics)))
        failed = "cannot bind the client endpoint";
    else if (!(self->http = zkv_http_actor_new(config, metrics)))
        failed = "cannot bind the metrics endpoint";
    zkv_boot_clear(&boot);
    if (failed) {
        snprintf(err, err_size, "%s (listen %s, ports %u/%u/%u/%u/%u/%u)", failed, config->listen,
                 me->client_port, me->pub_port, me->router_port, config->trace_port,
                 config->watch_port, config->metrics_port);
        zkv_node_destroy(&self);
    }
    return self;
}

void zkv_node_destroy(zkv_node_t **self_p)
{
    zkv_node_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy(&self->http);
    zactor_destroy(&self->client);
    zactor_destroy(&self->replication);
    zactor_destroy(&self->storage);
    zactor_destroy(&self->watch);
    zactor_destroy(&self->log);
    zactor_destroy(&self->disk);
    zactor_destroy(&self->trace);
    zactor_destroy(&self->auth);
    zkv_dirlock_destroy(&self->lock);
    zkv_metrics_destroy(&self->metrics);
    free(self);
    *self_p = NULL;
}

void zkv_node_reload(zkv_node_t *self)
{
    if (self->auth)
        zstr_send(self->auth, "RELOAD");
    zstr_send(self->client, "RELOAD");
    zstr_send(self->watch, "RELOAD");
}

zactor_t *zkv_node_watch(zkv_node_t *self)
{
    return self->replication;
}
