/*  cert: CURVE certificates (CurveZMQ, RFC 26) in czmq's zcert file format.

    A certificate is two files: NAME (the public key and metadata, safe to
    hand out) and NAME_secret (both keys, mode 0600). Nodes and clients name
    either file; the secret one is found by its suffix. Metadata: "name" (who
    holds the key; the node's authorization file speaks of this name) and, on a
    node's peer certificate, "node-id". Also what a client needs beside: its
    keys from the paths a user gives, and a failed handshake told in words. */
#ifndef ZKV_CERT_H
#define ZKV_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZKV_CERT_KEY_LEN 40 /* a 32-byte key in Z85 */
#define ZKV_CERT_NAME_MAX 64

typedef struct {
    char public_key[ZKV_CERT_KEY_LEN + 1];
    char secret_key[ZKV_CERT_KEY_LEN + 1]; /* "" when only the public part was loaded */
    char name[ZKV_CERT_NAME_MAX];          /* metadata name; else the file name sans .cert */
    uint32_t node_id;                      /* metadata node-id; 0 when none */
} zkv_cert_t;

/*  A new key pair. 0, or -1 when libzmq has no CURVE (built without libsodium). */
int zkv_cert_generate(zkv_cert_t *cert, const char *name, uint32_t node_id);

/*  Write path (public) and path_secret (0600, not replacing an existing file).
    0, or -1 with one line in err. */
int zkv_cert_save(const zkv_cert_t *cert, const char *path, char *err, size_t err_size);

/*  Load a certificate. With secret, from the secret file (path, or path_secret
    when path does not end in _secret), refused unless only its owner may read
    it. 0, or -1 with one line in err naming the file and what is wrong. */
int zkv_cert_load(zkv_cert_t *cert, const char *path, bool secret, char *err, size_t err_size);

/*  A server's public key: 40 Z85 characters, or a certificate file holding it. */
int zkv_cert_server_key(char key[ZKV_CERT_KEY_LEN + 1], const char *key_or_path, char *err,
                        size_t err_size);

/*  Every public certificate (*.cert) in dir, sorted by file name: a new array
    in *certs (free it) and its length in *count. 0, or -1 with one line in err. */
int zkv_cert_load_dir(const char *dir, zkv_cert_t **certs, size_t *count, char *err,
                      size_t err_size);

/*  A client's keys, from the paths a user gives: its certificate (the secret
    file is read) and the server's key (zkv_cert_server_key). 1 when both load;
    0 when neither is given (NULL: plaintext); -1 with one line in err when one
    is given without the other or either does not load. */
int zkv_cert_client_keys(zkv_cert_t *mine, char server_key[ZKV_CERT_KEY_LEN + 1],
                         const char *cert_path, const char *server_key_or_path, char *err,
                         size_t err_size);

/*  Socket options. A client: our key pair, the server's public key (set
    before each connect: libzmq takes the options in force at zmq_connect).
    A server: our key pair and the ZAP domain its handler checks keys in.
    0, or -1 when libzmq refuses them (built without CURVE): a server must
    not go on, it would run in plaintext. */
int zkv_cert_apply_client(void *zmq_socket, const zkv_cert_t *mine, const char *server_key);
int zkv_cert_apply_server(void *zmq_socket, const zkv_cert_t *mine, const char *zap_domain);

/*  Why a client's handshake with the node at endpoint failed, one line for an
    error message ("the node at E refused our key (not in its allowed
    clients)"), from a socket monitor's ZMQ_EVENT_HANDSHAKE_FAILED_* event and
    its value (the ZAP status code, or the ZMTP protocol error); curve: whether
    the client spoke CURVE. true when the failure is final: after an AUTH or
    PROTOCOL failure libzmq does not connect there again. */
bool zkv_cert_handshake_failure(char *out, size_t size, const char *endpoint, uint16_t event,
                                uint32_t value, bool curve);

#endif
