/*  security_attack: what test_security does as an attacker: peer messages
    forged with a member's id, a loopback capture of a put, a watch
    subscription past the rights of its key, certificates a node must refuse. */
#ifndef ZKV_SECURITY_ATTACK_H
#define ZKV_SECURITY_ATTACK_H

#include <stdint.h>

#include "cluster.h"
#include "zkv.h"

#define SEC_FORGED_KEY "hacked"

typedef struct {
    zkv_cluster_t *cluster;
    uint32_t leader;
    uint64_t term;
    uint64_t cluster_id; /* learnt from a member list: the attacker knows everything but keys */
} sec_attack_t;

void sec_attack_cluster_id(sec_attack_t *self, zkv_client_t *admin);

/*  To each follower's peer ROUTER: an APPEND as the leader putting
    SEC_FORGED_KEY at the next index, a forced VOTE 1000 terms ahead from
    vote_from (0: the other follower), a TIMEOUT_NOW from the leader. cert
    NULL: plaintext; else CURVE with that key and the follower's true public
    key. */
void sec_attack_peers(const sec_attack_t *self, const char *cert, uint32_t vote_from);

/*  Capture the loopback with tcpdump while admin puts value (tagged) and
    reads it back: 1 when the value's bytes are in the capture, 0 if not. */
int sec_capture_put(zkv_cluster_t *cluster, zkv_client_t *admin, const char *tag,
                    const char *value);

/*  A SUB with the reader's key subscribed to every key gets nothing of
    secret/, while one subscribed to app/ gets its changes. */
void sec_watch_gate(zkv_cluster_t *cluster, const char *reader_cert, const char *server_key,
                    zkv_client_t *admin);

/*  zkvd stops at once, with one line, on a secret key others may read, a
    file that is no certificate, another node's peer certificate, no
    certificates, and --insecure beside certificates. */
void sec_bad_certificates(void);

#endif
