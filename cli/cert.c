/*  cert: CURVE certificates in zcert's file format (cert.h).

    The format is czmq's ZPL subset that zcert writes: sections "metadata" and
    "curve", one indented `name = "value"` per line, # comments. It is read
    here line by line rather than through zconfig so that a wrong file gets
    one precise line, not a parser's messages on stderr. */
#include "cert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define CERT_FILE_MAX 16384
#define CERT_PATH_MAX 4096

static bool s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool s_valid_key(const char *z85)
{
    uint8_t raw[32];
    return strlen(z85) == ZKV_CERT_KEY_LEN && zmq_z85_decode(raw, z85) != NULL;
}

int zkv_cert_generate(zkv_cert_t *cert, const char *name, uint32_t node_id)
{
    memset(cert, 0, sizeof *cert);
    snprintf(cert->name, sizeof cert->name, "%s", name ? name : "");
    cert->node_id = node_id;
    return zmq_curve_keypair(cert->public_key, cert->secret_key) == 0 ? 0 : -1;
}

static int s_write(const zkv_cert_t *cert, const char *path, bool secret, char *err,
                   size_t err_size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
    if (fd < 0) {
        snprintf(err, err_size, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    char node[32] = "";
    if (cert->node_id)
        snprintf(node, sizeof node, "    node-id = \"%u\"\n", cert->node_id);
    char text[1024];
    int n = snprintf(text, sizeof text,
                     "#   ZeroMQ CURVE %s Certificate (zkv cert new)\n%s\n"
                     "metadata\n    name = \"%s\"\n%s"
                     "curve\n    public-key = \"%s\"\n%s%s%s",
                     secret ? "**Secret**" : "Public",
                     secret ? "#   Keep it secret: mode 0600, only where its holder runs.\n"
                            : "#   Give it to whoever must recognise this key.\n",
                     cert->name, node, cert->public_key, secret ? "    secret-key = \"" : "",
                     secret ? cert->secret_key : "", secret ? "\"\n" : "");
    errno = 0;
    bool ok =
        n > 0 && (size_t) n < sizeof text && write(fd, text, (size_t) n) == n && fsync(fd) == 0;
    if (!ok) {
        snprintf(err, err_size, "cannot write %s: %s", path,
                 errno ? strerror(errno) : "short write");
        /* A partial file would block the next try: save never replaces one. */
        unlink(path);
    }
    close(fd);
    return ok ? 0 : -1;
}

int zkv_cert_save(const zkv_cert_t *cert, const char *path, char *err, size_t err_size)
{
    char secret[CERT_PATH_MAX];
    if ((size_t) snprintf(secret, sizeof secret, "%s_secret", path) >= sizeof secret) {
        snprintf(err, err_size, "path too long: %s", path);
        return -1;
    }
    if (s_write(cert, secret, true, err, err_size) != 0)
        return -1;
    if (s_write(cert, path, false, err, err_size) != 0) {
        unlink(secret);
        return -1;
    }
    return 0;
}

/*  `key = "value"` into key and value (both in line, modified); false if not. */
static bool s_split(char *line, char **key, char **value)
{
    char *eq = strchr(line, '=');
    if (!eq)
        return false;
    char *end = eq;
    while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = '\0';
    char *v = eq + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' '))
        v[--n] = '\0';
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v[n - 1] = '\0';
        v++;
    }
    *key = line;
    *value = v;
    return true;
}

/*  A key of any other length stays empty, so that the file is refused: cut to
    40 characters, a longer one could pass for valid. */
static void s_key(char key[ZKV_CERT_KEY_LEN + 1], const char *value)
{
    key[0] = '\0';
    if (strlen(value) == ZKV_CERT_KEY_LEN)
        memcpy(key, value, ZKV_CERT_KEY_LEN + 1);
}

static void s_field(zkv_cert_t *cert, const char *section, const char *key, const char *value)
{
    if (strcmp(section, "curve") == 0 && strcmp(key, "public-key") == 0)
        s_key(cert->public_key, value);
    else if (strcmp(section, "curve") == 0 && strcmp(key, "secret-key") == 0)
        s_key(cert->secret_key, value);
    else if (strcmp(section, "metadata") == 0 && strcmp(key, "name") == 0)
        snprintf(cert->name, sizeof cert->name, "%s", value);
    else if (strcmp(section, "metadata") == 0 && strcmp(key, "node-id") == 0)
        cert->node_id = (uint32_t) strtoul(value, NULL, 10);
}

/*  Parse text (a NUL-terminated file's contents, modified). */
static int s_parse(zkv_cert_t *cert, char *text, bool secret)
{
    char section[32] = "";
    char *save = NULL;
    /* strtok_r: the node loads certificates in more than one thread. */
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *s = line + strspn(line, " \t");
        if (*s == '#' || *s == '\0' || *s == '\r')
            continue;
        char *key, *value;
        if (s == line)
            snprintf(section, sizeof section, "%.*s", (int) strcspn(s, " \t\r"), s);
        else if (s_split(s, &key, &value))
            s_field(cert, section, key, value);
    }
    if (!s_valid_key(cert->public_key) || (secret && !s_valid_key(cert->secret_key)))
        return -1;
    return 0;
}

static int s_read(const char *path, bool secret, char *text, size_t size, char *err,
                  size_t err_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, err_size, "cannot read certificate %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (secret && (st.st_mode & 077)) {
        snprintf(err, err_size,
                 "secret key file %s may be read by others (mode %04o): chmod 600 it", path,
                 (unsigned) (st.st_mode & 07777));
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, text, size - 1);
    close(fd);
    if (n < 0 || (size_t) n == size - 1) {
        snprintf(err, err_size, "%s is not a certificate (%s)", path,
                 n < 0 ? strerror(errno) : "too large");
        return -1;
    }
    text[n] = '\0';
    return 0;
}

/*  "dir/alice.cert" and "dir/alice.cert_secret" are alice's. */
static void s_name_from_path(zkv_cert_t *cert, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);
    if (s_ends_with(base, "_secret"))
        n -= strlen("_secret");
    if (n >= 5 && memcmp(base + n - 5, ".cert", 5) == 0)
        n -= 5;
    snprintf(cert->name, sizeof cert->name, "%.*s", (int) n, base);
}

int zkv_cert_load(zkv_cert_t *cert, const char *path, bool secret, char *err, size_t err_size)
{
    memset(cert, 0, sizeof *cert);
    char file[CERT_PATH_MAX];
    bool add_suffix = secret && !s_ends_with(path, "_secret");
    if ((size_t) snprintf(file, sizeof file, "%s%s", path, add_suffix ? "_secret" : "") >=
        sizeof file) {
        snprintf(err, err_size, "path too long: %s", path);
        return -1;
    }
    char *text = malloc(CERT_FILE_MAX);
    if (!text || s_read(file, secret, text, CERT_FILE_MAX, err, err_size) != 0) {
        free(text);
        return -1;
    }
    int rc = s_parse(cert, text, secret);
    free(text);
    if (rc != 0) {
        snprintf(err, err_size, "%s is not a zcert %s certificate (no valid curve %s)", file,
                 secret ? "secret" : "public", secret ? "public-key and secret-key" : "public-key");
        return -1;
    }
    if (!secret)
        cert->secret_key[0] = '\0';
    if (cert->name[0] == '\0')
        s_name_from_path(cert, path);
    return 0;
}

int zkv_cert_server_key(char key[ZKV_CERT_KEY_LEN + 1], const char *key_or_path, char *err,
                        size_t err_size)
{
    bool is_file = access(key_or_path, F_OK) == 0;
    if (s_valid_key(key_or_path) && !is_file) {
        snprintf(key, ZKV_CERT_KEY_LEN + 1, "%s", key_or_path);
        return 0;
    }
    if (!is_file) {
        snprintf(err, err_size,
                 "server key '%.64s' is neither 40 Z85 characters nor a certificate file",
                 key_or_path);
        return -1;
    }
    zkv_cert_t cert;
    if (zkv_cert_load(&cert, key_or_path, false, err, err_size) != 0)
        return -1;
    snprintf(key, ZKV_CERT_KEY_LEN + 1, "%s", cert.public_key);
    return 0;
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static void s_free_names(char **names, size_t count)
{
    for (size_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}

/*  The names of dir's *.cert files, sorted: a new array of new strings. */
static char **s_list(const char *dir, size_t *count, char *err, size_t err_size)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, err_size, "cannot read certificate directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d)) != NULL;) {
        if (!s_ends_with(e->d_name, ".cert"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(names, (cap + 1) * sizeof *names);
            ok = grown != NULL;
            names = grown ? grown : names;
        }
        /* A short list would refuse keys that are allowed: fail instead. */
        if (ok && (names[n] = strdup(e->d_name)) != NULL)
            n++;
        else
            ok = false;
    }
    closedir(d);
    if (ok && !names)
        ok = (names = calloc(1, sizeof *names)) != NULL;
    if (!ok) {
        snprintf(err, err_size, "cannot read certificate directory %s: out of memory", dir);
        s_free_names(names, n);
        return NULL;
    }
    qsort(names, n, sizeof *names, s_by_name);
    *count = n;
    return names;
}

int zkv_cert_load_dir(const char *dir, zkv_cert_t **certs, size_t *count, char *err,
                      size_t err_size)
{
    size_t n = 0;
    char **names = s_list(dir, &n, err, err_size);
    if (!names)
        return -1;
    *certs = calloc(n ? n : 1, sizeof **certs);
    int rc = *certs ? 0 : -1;
    if (rc != 0)
        snprintf(err, err_size, "cannot read certificate directory %s: out of memory", dir);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[CERT_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (zkv_cert_load(&(*certs)[i], path, false, err, err_size) != 0)
            rc = -1;
    }
    s_free_names(names, n);
    *count = rc == 0 ? n : 0;
    if (rc != 0) {
        free(*certs);
        *certs = NULL;
    }
    return rc;
}

int zkv_cert_client_keys(zkv_cert_t *mine, char server_key[ZKV_CERT_KEY_LEN + 1],
                         const char *cert_path, const char *server_key_or_path, char *err,
                         size_t err_size)
{
    if (!cert_path && !server_key_or_path)
        return 0;
    if (!cert_path || !server_key_or_path) {
        snprintf(err, err_size, "%s",
                 cert_path ? "a client certificate needs the server's key too (server_key)"
                           : "the server's key needs a client certificate too (cert)");
        return -1;
    }
    if (zkv_cert_load(mine, cert_path, true, err, err_size) != 0 ||
        zkv_cert_server_key(server_key, server_key_or_path, err, err_size) != 0)
        return -1;
    return 1;
}

int zkv_cert_apply_client(void *zmq_socket, const zkv_cert_t *mine, const char *server_key)
{
    if (zmq_setsockopt(zmq_socket, ZMQ_CURVE_PUBLICKEY, mine->public_key, ZKV_CERT_KEY_LEN) ||
        zmq_setsockopt(zmq_socket, ZMQ_CURVE_SECRETKEY, mine->secret_key, ZKV_CERT_KEY_LEN) ||
        zmq_setsockopt(zmq_socket, ZMQ_CURVE_SERVERKEY, server_key, ZKV_CERT_KEY_LEN))
        return -1;
    return 0;
}

int zkv_cert_apply_server(void *zmq_socket, const zkv_cert_t *mine, const char *zap_domain)
{
    int on = 1;
    if (zmq_setsockopt(zmq_socket, ZMQ_ZAP_DOMAIN, zap_domain, strlen(zap_domain)) ||
        zmq_setsockopt(zmq_socket, ZMQ_CURVE_SERVER, &on, sizeof on) ||
        zmq_setsockopt(zmq_socket, ZMQ_CURVE_PUBLICKEY, mine->public_key, ZKV_CERT_KEY_LEN) ||
        zmq_setsockopt(zmq_socket, ZMQ_CURVE_SECRETKEY, mine->secret_key, ZKV_CERT_KEY_LEN))
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- handshake failures */

static void s_auth_failure(char *out, size_t size, const char *endpoint, uint32_t status)
{
    if (status == 400)
        snprintf(out, size, "the node at %s refused our key (not in its allowed clients)",
                 endpoint);
    else
        snprintf(out, size, "the node at %s could not check our key (ZAP status %u)", endpoint,
                 status);
}

bool zkv_cert_handshake_failure(char *out, size_t size, const char *endpoint, uint16_t event,
                                uint32_t value, bool curve)
{
    bool mismatch = value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH;
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: s_auth_failure(out, size, endpoint, value); return true;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if (mismatch && curve)
            snprintf(out, size,
                     "the node at %s does not speak CURVE (it runs --insecure? then zkv "
                     "--insecure)",
                     endpoint);
        else if (mismatch)
            snprintf(out, size, "the node at %s requires CURVE (give --cert and --server-key)",
                     endpoint);
        else
            snprintf(out, size, "the node at %s broke the %s handshake (protocol error 0x%x)",
                     endpoint, curve ? "CURVE" : "ZMTP", value);
        return true;
    default:
        /* A CURVE server that cannot read our HELLO (we hold the wrong server key)
           drops the connection without a word; so, now and then, does one side of
           a mechanism mismatch, its reset beating its greeting; so does a node
           going down. */
        snprintf(out, size, "the node at %s closed the connection during the %s", endpoint,
                 curve ? "CURVE handshake (is --server-key the nodes' key? does it run "
                         "--insecure?)"
                       : "handshake (does it require CURVE? then give --cert and --server-key)");
        return false;
    }
}
