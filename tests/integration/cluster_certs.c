/*  cluster_certs: a test cluster's certificates (cluster_certs.h). */
#include "cluster_certs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cert.h"

static int s_make(const char *path, const char *name, uint32_t node_id, char *err, size_t err_size)
{
    zkv_cert_t cert;
    if (zkv_cert_generate(&cert, name, node_id) != 0) {
        snprintf(err, err_size, "libzmq has no CURVE");
        return -1;
    }
    return zkv_cert_save(&cert, path, err, err_size);
}

static int s_mkdir(const char *path, char *err, size_t err_size)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    snprintf(err, err_size, "mkdir %s: %s", path, strerror(errno));
    return -1;
}

int zkv_cluster_certs_client(const char *dir, const char *name, char *err, size_t err_size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/certs/clients/%s.cert", dir, name);
    return s_make(path, name, 0, err, err_size);
}

int zkv_cluster_certs_make(const char *dir, size_t nodes, char *err, size_t err_size)
{
    char path[1024];
    const char *subdirs[] = {"certs", "certs/peers", "certs/clients"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, subdirs[i]);
        if (s_mkdir(path, err, err_size) != 0)
            return -1;
    }
    snprintf(path, sizeof path, "%s/certs/server.cert", dir);
    if (s_make(path, "server", 0, err, err_size) != 0)
        return -1;
    for (size_t id = 1; id <= nodes; id++) {
        char name[32];
        snprintf(name, sizeof name, "node%zu", id);
        snprintf(path, sizeof path, "%s/certs/peers/%s.cert", dir, name);
        if (s_make(path, name, (uint32_t) id, err, err_size) != 0)
            return -1;
    }
    return zkv_cluster_certs_client(dir, "admin", err, err_size);
}
