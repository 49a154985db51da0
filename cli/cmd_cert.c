/*  cmd_cert: zkv cert new | show, the CurveZMQ certificates of clients and
    nodes in czmq's zcert format (cert.h). Local files only: no node is
    asked, so no certificate is needed to run them. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cert.h"
#include "commands.h"

/*  What makes name unfit for a file name or for the certificate's metadata
    (a quoted string), or NULL. */
static const char *s_name_problem(const char *name)
{
    if (!*name)
        return "is empty";
    if (strlen(name) >= ZKV_CERT_NAME_MAX)
        return "is too long (at most 63 bytes)";
    for (const unsigned char *p = (const unsigned char *) name; *p; p++) {
        if (*p == '/')
            return "has a '/' (--dir says where the files go)";
        if (*p < ' ' || *p == 0x7f || *p == '"')
            return "has a quote or a control character";
    }
    return NULL;
}

/*  mkdir -p, mode 0700 for what it makes: the secret goes there. 0, or -1
    with errno set. */
static int s_make_dir(const char *dir)
{
    char path[PATH_MAX];
    if ((size_t) snprintf(path, sizeof path, "%s", dir) >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1;; p++) {
        bool end = *p == '\0';
        if (!end && *p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -1;
        if (end)
            return 0;
        *p = '/';
    }
}

/*  DIR/NAME.cert and its _secret, unless either exists. 0, or the exit code
    after printing an error. */
static int s_paths(const char *dir, const char *name, char *path, char *secret, size_t size)
{
    if ((size_t) snprintf(path, size, "%s/%s.cert", dir, name) >= size ||
        (size_t) snprintf(secret, size, "%s_secret", path) >= size) {
        zkv_output_error("cert new: path too long: %.200s/%.64s.cert", dir, name);
        return ZKV_EXIT_USAGE;
    }
    struct stat st;
    const char *exists = lstat(path, &st) == 0 ? path : lstat(secret, &st) == 0 ? secret : NULL;
    if (exists) {
        zkv_output_error("cert new: %s exists: a certificate is never replaced (remove it, or "
                         "choose another NAME)",
                         exists);
        return ZKV_EXIT_USAGE;
    }
    if (s_make_dir(dir) != 0) {
        zkv_output_error("cert new: cannot make directory %s: %s", dir, strerror(errno));
        return ZKV_EXIT_ERROR;
    }
    return 0;
}

static int s_print_new(const zkv_globals_t *g, const zkv_cert_t *cert, const char *path,
                       const char *secret)
{
    if (g->format != ZKV_FORMAT_JSON) {
        printf("public-key: %s\npublic:     %s\nsecret:     %s\n", cert->public_key, path, secret);
        return ZKV_EXIT_OK;
    }
    json_t *doc = json_object();
    if (doc && (json_object_set_new(doc, "name", json_string(cert->name)) ||
                json_object_set_new(doc, "public_key", json_string(cert->public_key)) ||
                json_object_set_new(doc, "public", json_string(path)) ||
                json_object_set_new(doc, "secret", json_string(secret)))) {
        json_decref(doc);
        doc = NULL;
    }
    return zkv_command_json(doc);
}

static int s_new(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const char *dir = ".";
    uint64_t node_id = 0;
    const zkv_flag_t flags[] = {
        {"dir", 0, ZKV_FLAG_STRING, &dir, "DIR",
         "write the files there, made if need be (default: here)"},
        {"node-id", 0, ZKV_FLAG_U64, &node_id, "N", "a node's peer certificate: its id", 1,
         UINT32_MAX},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 1, 1, &args, &code))
        return code;
    const char *name = args.positional[0];
    const char *problem = s_name_problem(name);
    if (!*dir) {
        zkv_output_error("cert new: --dir is empty");
        return ZKV_EXIT_USAGE;
    }
    if (problem) {
        zkv_output_error("cert new: the name '%.64s' %s", name, problem);
        return ZKV_EXIT_USAGE;
    }
    char path[PATH_MAX], secret[PATH_MAX], err[PATH_MAX + 128];
    if ((code = s_paths(dir, name, path, secret, sizeof path)) != 0)
        return code;
    zkv_cert_t cert;
    if (zkv_cert_generate(&cert, name, (uint32_t) node_id) != 0) {
        zkv_output_error("cert new: this libzmq has no CURVE (built without libsodium)");
        return ZKV_EXIT_ERROR;
    }
    code = zkv_cert_save(&cert, path, err, sizeof err) == 0 ? ZKV_EXIT_OK : ZKV_EXIT_ERROR;
    explicit_bzero(cert.secret_key, sizeof cert.secret_key);
    if (code != ZKV_EXIT_OK) {
        zkv_output_error("cert new: %s", err);
        return code;
    }
    return s_print_new(g, &cert, path, secret);
}

static int s_show(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const zkv_flag_t flags[] = {{NULL}};
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 1, 1, &args, &code))
        return code;
    zkv_cert_t cert;
    char err[PATH_MAX + 128];
    /* The public part only, even from a secret file: the secret is never shown. */
    if (zkv_cert_load(&cert, args.positional[0], false, err, sizeof err) != 0) {
        zkv_output_error("cert show: %s", err);
        return ZKV_EXIT_USAGE;
    }
    if (g->format != ZKV_FORMAT_JSON) {
        printf("name:       %s\n", cert.name);
        if (cert.node_id)
            printf("node-id:    %u\n", cert.node_id);
        printf("public-key: %s\n", cert.public_key);
        return ZKV_EXIT_OK;
    }
    json_t *doc = json_object();
    if (doc && (json_object_set_new(doc, "name", json_string(cert.name)) ||
                json_object_set_new(doc, "node_id",
                                    cert.node_id ? json_integer(cert.node_id) : json_null()) ||
                json_object_set_new(doc, "public_key", json_string(cert.public_key)))) {
        json_decref(doc);
        doc = NULL;
    }
    return zkv_command_json(doc);
}

static const zkv_command_t s_cert_new = {
    "cert new",
    "cert new NAME [--dir DIR] [--node-id N]",
    "Make a key pair: DIR/NAME.cert and DIR/NAME.cert_secret",
    "Writes NAME.cert, the public key (hand it out: a client's goes into the nodes'\n"
    "allowed clients, the nodes' one to every client), and NAME.cert_secret, both\n"
    "keys, mode 0600. The certificate's name is NAME, which the nodes' access rules\n"
    "speak of; --node-id N marks a node's peer certificate. Prints the public key\n"
    "and the two paths. An existing file is never replaced (exit 2).\n\n"
    "Examples:\n  zkv cert new alice --dir ~/keys\n"
    "  zkv cert new server            # the one certificate of every node\n"
    "  zkv cert new node1 --node-id 1\n",
    s_new,
    true,
};

static const zkv_command_t s_cert_show = {
    "cert show",
    "cert show FILE",
    "Print a certificate's name, node id and public key",
    "Reads FILE (NAME.cert, or NAME.cert_secret, whose secret is never printed)\n"
    "and prints its name, its node id when it has one, and its public key.\n\n"
    "Example:\n  zkv cert show ~/.config/zkv/client.cert -w json\n",
    s_show,
    true,
};

static const zkv_command_t *const s_subcommands[] = {&s_cert_new, &s_cert_show, NULL};

static int s_cert(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    return zkv_command_dispatch(cmd, s_subcommands, g, argc, argv);
}

const zkv_command_t zkv_cmd_cert = {
    "cert",
    "cert new NAME [--dir DIR] [--node-id N] | show FILE",
    "Make or show CurveZMQ certificates",
    "Subcommands:\n"
    "  new   make a key pair: DIR/NAME.cert and DIR/NAME.cert_secret\n"
    "  show  print a certificate's name, node id and public key\n"
    "See 'zkv cert SUBCOMMAND --help' for each.\n\n"
    "Nodes speak CurveZMQ: each connection is encrypted, and a node lets in the\n"
    "clients whose public certificate is in its allowed clients. The commands that\n"
    "connect take this client's certificate from --cert, else ZKV_CERT, else\n"
    "client.cert in ZKV_CERT_DIR (default ~/.config/zkv); the nodes' public key\n"
    "from --server-key, else ZKV_SERVER_KEY, else server.cert there. Without a\n"
    "certificate they refuse to run, unless --insecure (ZKV_INSECURE=1) says the\n"
    "cluster runs without CURVE.\n\n"
    "Example:\n  zkv cert new alice       # alice.cert goes to the nodes' allowed clients\n"
    "  mkdir -p ~/.config/zkv && mv alice.cert ~/.config/zkv/client.cert\n"
    "  mv alice.cert_secret ~/.config/zkv/client.cert_secret\n"
    "  cp server.cert ~/.config/zkv/   # the nodes' public certificate\n",
    s_cert,
    true,
};
