/*  zkvd: one zkv node. Runs until SIGINT or SIGTERM, then stops cleanly. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <czmq.h>

#include "config.h"
#include "listen.h"
#include "node.h"
#include "restore.h"
#include "slab.h"
#include "zkv_version.h"

extern char **environ;

/*  Signals arrive on a file descriptor polled beside the node, in this thread
    only: every actor thread inherits the blocked mask. */
static int s_signal_fd(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
        return -1;
    return signalfd(-1, &mask, SFD_CLOEXEC);
}

static int s_run(zkv_node_t *node, int sfd)
{
    zmq_pollitem_t items[] = {
        {zsock_resolve(zkv_node_watch(node)), 0, ZMQ_POLLIN, 0},
        {NULL, sfd, ZMQ_POLLIN, 0},
    };
    while (true) {
        if (zmq_poll(items, 2, -1) < 0)
            continue;
        if (items[1].revents & ZMQ_POLLIN) {
            struct signalfd_siginfo info;
            if (read(sfd, &info, sizeof info) != sizeof info)
                continue;
            if (info.ssi_signo == SIGHUP) {
                fprintf(stderr, "zkvd: hangup, reading certificates and --acl again\n");
                zkv_node_reload(node);
                continue;
            }
            fprintf(stderr, "zkvd: %s, stopping\n", strsignal((int) info.ssi_signo));
            return 0;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            char *what = zstr_recv(zkv_node_watch(node));
            bool fatal = what && streq(what, "FATAL");
            bool removed = what && streq(what, "REMOVED");
            zstr_free(&what);
            if (fatal) {
                fprintf(stderr, "zkvd: stopping after a fatal error\n");
                return 1;
            }
            if (removed) {
                fprintf(stderr, "zkvd: removed from the cluster, stopped\n");
                return 0;
            }
        }
    }
}

/*  The node could not start: after a failed bind, with every socket closed
    (zsys_shutdown), try each port again to say which one and why. */
static int s_failed(const zkv_config_t *config, const char *err)
{
    zsys_shutdown();
    char why[512];
    bool unbound = strncmp(err, "cannot bind", strlen("cannot bind")) == 0;
    fprintf(stderr, "zkvd: %s\n", unbound && zkv_listen_check(config, why, sizeof why) ? why : err);
    return 1;
}

/*  LeakSanitizer does not see into the slabs the records live in: a sanitized build counts
    them instead, and one not freed at a clean stop is a leak. */
static int s_check_records(int rc)
{
#ifdef __SANITIZE_ADDRESS__
    if (zkv_slab_live() != 0) {
        fprintf(stderr, "zkvd: %zu records were not freed at shutdown\n", zkv_slab_live());
        abort();
    }
#endif
    return rc;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--version") == 0) {
            printf("zkvd %s\n", ZKV_VERSION);
            return 0;
        }
    zkv_config_t config;
    char err[512];
    int rc = zkv_config_parse(&config, argc, argv, environ, stdout, err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc == 0 && !config.restore[0])
        rc = zkv_listen_resolve(&config, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "zkvd: %s\n", err);
        return 2;
    }
    if (config.restore[0]) {
        uint64_t index = 0;
        if (zkv_restore(&config, config.restore, &index, err, sizeof err) != 0) {
            fprintf(stderr, "zkvd: %s\n", err);
            return 1;
        }
        printf("zkvd: restored %s (snapshot at index %" PRIu64 ") into %s as node %u of a new "
               "cluster; start every member without --restore\n",
               config.restore, index, config.data_dir, config.id);
        return 0;
    }
    int sfd = s_signal_fd();
    if (sfd < 0) {
        fprintf(stderr, "zkvd: cannot watch signals: %s\n", strerror(errno));
        return 1;
    }
    /* Signals are ours to handle: czmq must not install its own. */
    zsys_handler_set(NULL);
    if (config.insecure)
        fprintf(stderr, "zkvd: WARNING: --insecure: no CURVE. Every port is plaintext and open: "
                        "anyone who reaches it can read and write every key and speak as a "
                        "member\n");
    zkv_node_t *node = zkv_node_new(&config, err, sizeof err);
    if (!node) {
        close(sfd);
        return s_failed(&config, err);
    }
    rc = s_run(node, sfd);
    zkv_node_destroy(&node);
    close(sfd);
    zsys_shutdown();
    return s_check_records(rc);
}
