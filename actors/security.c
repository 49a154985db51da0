/*  security: the node's CURVE options and their checks at start (security.h). */
#include "security.h"

#include <stdlib.h>

#include "acl.h"
#include "acl_file.h"

static int s_check_dir(const char *flag, const char *dir, char *err, size_t err_size)
{
    zkv_cert_t *certs = NULL;
    size_t count = 0;
    char why[512];
    int rc = zkv_cert_load_dir(dir, &certs, &count, why, sizeof why);
    free(certs);
    if (rc != 0)
        return zkv_config_fail(err, err_size, "--%s: %s", flag, why);
    return 0;
}

/*  The members' certificates must name distinct node ids, ours among them
    with our own public key. */
static int s_check_peers(const zkv_config_t *config, char *err, size_t err_size)
{
    zkv_cert_t *certs = NULL;
    size_t count = 0;
    char why[512];
    if (zkv_cert_load_dir(config->peer_certs, &certs, &count, why, sizeof why) != 0)
        return zkv_config_fail(err, err_size, "--peer-certs: %s", why);
    int rc = 0;
    bool mine = false;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (certs[i].node_id == 0)
            rc = zkv_config_fail(err, err_size,
                                 "--peer-certs: %s has no node-id (zkv cert new --node-id)",
                                 certs[i].name);
        for (size_t j = 0; j < i && rc == 0; j++)
            if (certs[j].node_id == certs[i].node_id)
                rc = zkv_config_fail(err, err_size, "--peer-certs: %s and %s both claim node-id %u",
                                     certs[j].name, certs[i].name, certs[i].node_id);
        if (certs[i].node_id == config->id)
            mine = strcmp(certs[i].public_key, config->peer_cert.public_key) == 0;
    }
    free(certs);
    if (rc == 0 && !mine)
        rc = zkv_config_fail(
            err, err_size,
            "--peer-certs %s has no certificate with node-id %u and --peer-cert's key",
            config->peer_certs, config->id);
    return rc;
}

static int s_load_pair(const char *flag, const char *path, zkv_cert_t *cert, char *err,
                       size_t err_size)
{
    char why[512];
    if (zkv_cert_load(cert, path, true, why, sizeof why) != 0)
        return zkv_config_fail(err, err_size, "--%s: %s", flag, why);
    return 0;
}

int zkv_security_load(zkv_config_t *config, char *err, size_t err_size)
{
    if (config->restore[0])
        return 0;
    bool any = config->cert_path[0] || config->peer_cert_path[0] || config->peer_certs[0] ||
               config->client_certs[0] || config->trace_certs[0] || config->acl_path[0];
    if (config->insecure)
        return any ? zkv_config_fail(err, err_size,
                                     "--insecure and certificates both given: choose one")
                   : 0;
    if (!config->cert_path[0] || !config->peer_cert_path[0] || !config->peer_certs[0] ||
        !config->client_certs[0])
        return zkv_config_fail(err, err_size,
                               "no certificates: give --server-cert, --peer-cert, --peer-certs and "
                               "--client-certs (zkv cert new makes them; docs/SECURITY.md), or "
                               "--insecure to run without CURVE");
    if (!config->trace_certs[0])
        snprintf(config->trace_certs, sizeof config->trace_certs, "%s", config->client_certs);
    if (s_load_pair("server-cert", config->cert_path, &config->cert, err, err_size) != 0 ||
        s_load_pair("peer-cert", config->peer_cert_path, &config->peer_cert, err, err_size) != 0)
        return -1;
    if (config->peer_cert.node_id != 0 && config->peer_cert.node_id != config->id)
        return zkv_config_fail(err, err_size, "--peer-cert %s is node %u's, not node %u's",
                               config->peer_cert_path, config->peer_cert.node_id, config->id);
    if (s_check_peers(config, err, err_size) != 0 ||
        s_check_dir("client-certs", config->client_certs, err, err_size) != 0 ||
        s_check_dir("trace-certs", config->trace_certs, err, err_size) != 0)
        return -1;
    if (config->acl_path[0]) {
        zkv_acl_t *acl = zkv_acl_file_load(config->acl_path, err, err_size);
        if (!acl)
            return -1;
        zkv_acl_destroy(&acl);
    }
    return 0;
}

int zkv_security_server(const zkv_config_t *config, zsock_t *sock, const char *domain)
{
    if (config->insecure)
        return 0;
    bool peer = strcmp(domain, ZKV_ZAP_PEER) == 0;
    const zkv_cert_t *cert = peer ? &config->peer_cert : &config->cert;
    if (zkv_cert_apply_server(zsock_resolve(sock), cert, domain) == 0)
        return 0;
    zsys_error("zkvd: cannot make the %s socket a CURVE server: %s", domain, zmq_strerror(errno));
    return -1;
}

int zkv_security_peer_client(const zkv_config_t *config, zsock_t *sock, uint32_t id, char *err,
                             size_t err_size)
{
    if (config->insecure)
        return 0;
    zkv_cert_t *certs = NULL;
    size_t count = 0;
    char why[512];
    if (zkv_cert_load_dir(config->peer_certs, &certs, &count, why, sizeof why) != 0) {
        free(certs);
        return zkv_config_fail(err, err_size, "--peer-certs: %s", why);
    }
    int rc = zkv_config_fail(err, err_size, "--peer-certs %s has no certificate of member %u",
                             config->peer_certs, id);
    for (size_t i = 0; i < count; i++)
        if (certs[i].node_id == id) {
            rc = zkv_cert_apply_client(zsock_resolve(sock), &config->peer_cert,
                                       certs[i].public_key) == 0
                     ? 0
                     : zkv_config_fail(err, err_size, "cannot set CURVE keys: %s",
                                       zmq_strerror(errno));
            break;
        }
    free(certs);
    return rc;
}
