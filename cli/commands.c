/*  commands: global options, help and error reporting shared by the commands. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  Where the certificates are when nothing names them: under $HOME. */
#define S_CERT_DIR_DEFAULT ".config/zkv"

void zkv_globals_flags(zkv_globals_t *g, zkv_flag_t table[ZKV_GLOBAL_FLAGS_SIZE])
{
    const zkv_flag_t flags[] = {
        {"endpoints", 0, ZKV_FLAG_STRING, &g->endpoints, "LIST",
         "client endpoints, comma-separated (env ZKV_ENDPOINTS; default: local cluster)"},
        {"timeout", 0, ZKV_FLAG_DURATION, &g->timeout_ms, "DURATION",
         "give up on a request after this long, retries included (default 5s)"},
        {"attempt-timeout", 0, ZKV_FLAG_DURATION, &g->attempt_timeout_ms, "DURATION",
         "wait this long for one reply before trying the next endpoint (default 1s)"},
        {"write-out", 'w', ZKV_FLAG_STRING, &g->write_out, "FORMAT",
         "output format: simple, json or table (default simple)"},
        {"cert", 0, ZKV_FLAG_STRING, &g->cert, "FILE",
         "this client's certificate (env ZKV_CERT; default ~/.config/zkv/client.cert)"},
        {"server-key", 0, ZKV_FLAG_STRING, &g->server_key, "KEY|FILE",
         "the nodes' key or certificate (env ZKV_SERVER_KEY; default "
         "~/.config/zkv/server.cert)"},
        {"insecure", 0, ZKV_FLAG_BOOL, &g->insecure, NULL,
         "no CURVE, for a cluster run with --insecure (env ZKV_INSECURE=1)"},
        {NULL},
    };
    _Static_assert(sizeof flags / sizeof flags[0] <= ZKV_GLOBAL_FLAGS_SIZE, "table too small");
    memcpy(table, flags, sizeof flags);
}

/*  A variable set to anything but "" or "0". */
static bool s_env_true(const char *name)
{
    const char *value = getenv(name);
    return value && *value && strcmp(value, "0") != 0;
}

static const char *s_env(const char *name)
{
    const char *value = getenv(name);
    return value && *value ? value : NULL;
}

/*  $ZKV_CERT_DIR, else ~/.config/zkv; "" without either. shown: as said in messages. */
static void s_cert_dir(char *dir, size_t size, const char **shown)
{
    const char *home = s_env("HOME");
    *shown = s_env("ZKV_CERT_DIR");
    if (*shown)
        snprintf(dir, size, "%s", *shown);
    else if (home)
        snprintf(dir, size, "%s/" S_CERT_DIR_DEFAULT, home);
    else
        dir[0] = '\0';
    if (!*shown)
        *shown = "~/" S_CERT_DIR_DEFAULT;
}

/*  dir/name into out if the file probed (name, or name_secret) exists; else NULL. */
static const char *s_dir_file(char *out, size_t size, const char *dir, const char *name,
                              const char *probe_suffix)
{
    char probe[PATH_MAX];
    if (!dir[0] || (size_t) snprintf(out, size, "%s/%s", dir, name) >= size ||
        (size_t) snprintf(probe, sizeof probe, "%s%s", out, probe_suffix) >= sizeof probe)
        return NULL;
    return access(probe, F_OK) == 0 ? out : NULL;
}

/*  Flags win over variables, each over its own and --cert or --server-key
    over ZKV_INSECURE; at one level, CURVE and plaintext conflict. 0, or -1
    after printing an error. */
static int s_curve_named(zkv_globals_t *g)
{
    bool flags = g->cert || g->server_key;
    if (g->insecure && flags) {
        zkv_output_error("--insecure and --cert or --server-key: give one or the other");
        return -1;
    }
    if (g->insecure)
        return 0;
    g->cert = g->cert ? g->cert : s_env("ZKV_CERT");
    g->server_key = g->server_key ? g->server_key : s_env("ZKV_SERVER_KEY");
    g->insecure = !flags && s_env_true("ZKV_INSECURE");
    if (g->insecure && (g->cert || g->server_key)) {
        zkv_output_error("ZKV_INSECURE and ZKV_CERT or ZKV_SERVER_KEY are set: unset one");
        return -1;
    }
    return 0;
}

/*  The keys of a command that connects, into g->curve. 0, or -1 after
    printing an error. */
static int s_curve_finish(zkv_globals_t *g)
{
    if (s_curve_named(g))
        return -1;
    if (g->insecure)
        return 0;
    char dir[PATH_MAX];
    const char *shown;
    s_cert_dir(dir, sizeof dir, &shown);
    if (!g->cert)
        g->cert =
            s_dir_file(g->default_cert, sizeof g->default_cert, dir, "client.cert", "_secret");
    if (!g->server_key)
        g->server_key =
            s_dir_file(g->default_server, sizeof g->default_server, dir, "server.cert", "");
    if (!g->cert) {
        zkv_output_error("no client certificate: give --cert and --server-key (or ZKV_CERT and "
                         "ZKV_SERVER_KEY, or put client.cert and server.cert in %.200s), or "
                         "--insecure for a cluster run without CURVE",
                         shown);
        return -1;
    }
    if (!g->server_key) {
        zkv_output_error("no server key: give --server-key (or ZKV_SERVER_KEY, or put "
                         "server.cert in %.200s)",
                         shown);
        return -1;
    }
    g->curve = (zkv_curve_t){g->cert, g->server_key};
    return 0;
}

int zkv_globals_finish(zkv_globals_t *g, bool connects)
{
    if (!g->endpoints)
        g->endpoints = getenv("ZKV_ENDPOINTS");
    if (!g->endpoints || !*g->endpoints)
        g->endpoints = ZKV_DEFAULT_ENDPOINTS;
    if (!g->timeout_ms)
        g->timeout_ms = ZKV_CLIENT_TIMEOUT_MS_DEFAULT;
    if (!g->attempt_timeout_ms)
        g->attempt_timeout_ms = ZKV_CLIENT_ATTEMPT_MS_DEFAULT;
    if (g->write_out && zkv_format_parse(g->write_out, &g->format)) {
        zkv_output_error("unknown output format '%.32s' (simple, json or table)", g->write_out);
        return -1;
    }
    return connects ? s_curve_finish(g) : 0;
}

void zkv_command_help(const zkv_command_t *cmd, const zkv_flag_t *flags, FILE *out)
{
    zkv_globals_t unused = {0};
    zkv_flag_t globals[ZKV_GLOBAL_FLAGS_SIZE];
    zkv_globals_flags(&unused, globals);
    fprintf(out, "Usage: zkv %s\n\n%s\n", cmd->usage, cmd->summary);
    if (cmd->details)
        fprintf(out, "\n%s", cmd->details);
    if (flags && flags->name) {
        fprintf(out, "\nFlags:\n");
        zkv_flags_print(out, flags);
    }
    fprintf(out, "\nGlobal flags:\n");
    zkv_flags_print(out, globals);
}

bool zkv_command_parse(const zkv_command_t *cmd, zkv_globals_t *g, const zkv_flag_t *flags,
                       int argc, char **argv, int min, int max, zkv_args_t *args, int *code)
{
    zkv_flag_t globals[ZKV_GLOBAL_FLAGS_SIZE];
    zkv_globals_flags(g, globals);
    const zkv_flag_t *tables[] = {flags, globals, NULL};
    char err[256];
    if (zkv_flags_parse(argc, argv, tables, false, args, err, sizeof err)) {
        zkv_output_error("%s (see 'zkv %s --help')", err, cmd->name);
        *code = ZKV_EXIT_USAGE;
        return false;
    }
    if (args->help) {
        zkv_command_help(cmd, flags, stdout);
        *code = ZKV_EXIT_OK;
        return false;
    }
    if (args->count < min || args->count > max) {
        zkv_output_error("%s: %s arguments; usage: zkv %s", cmd->name,
                         args->count < min ? "missing" : "too many", cmd->usage);
        *code = ZKV_EXIT_USAGE;
        return false;
    }
    if (zkv_globals_finish(g, !cmd->local)) {
        *code = ZKV_EXIT_USAGE;
        return false;
    }
    return true;
}

int zkv_command_dispatch(const zkv_command_t *cmd, const zkv_command_t *const *subcommands,
                         zkv_globals_t *g, int argc, char **argv)
{
    zkv_flag_t globals[ZKV_GLOBAL_FLAGS_SIZE];
    zkv_globals_flags(g, globals);
    const zkv_flag_t *tables[] = {globals, NULL};
    zkv_args_t args;
    char err[256];
    if (zkv_flags_parse(argc, argv, tables, true, &args, err, sizeof err)) {
        zkv_output_error("%s (see 'zkv %s --help')", err, cmd->name);
        return ZKV_EXIT_USAGE;
    }
    if (args.consumed == argc && args.help) {
        zkv_command_help(cmd, NULL, stdout);
        return ZKV_EXIT_OK;
    }
    if (args.consumed == argc) {
        zkv_output_error("%s: missing subcommand; usage: zkv %s", cmd->name, cmd->usage);
        return ZKV_EXIT_USAGE;
    }
    const char *word = argv[args.consumed];
    size_t prefix = strlen(cmd->name) + 1;
    char help[] = "--help";
    char *help_args[] = {help};
    for (const zkv_command_t *const *sub = subcommands; *sub; sub++) {
        if (strcmp((*sub)->name + prefix, word) != 0)
            continue;
        if (args.help)
            return (*sub)->run(*sub, g, 1, help_args);
        return (*sub)->run(*sub, g, argc - args.consumed - 1, argv + args.consumed + 1);
    }
    const char *names[16];
    size_t count = 0;
    for (const zkv_command_t *const *sub = subcommands; *sub && count < 16; sub++)
        names[count++] = (*sub)->name + prefix;
    const char *near = zkv_command_suggest(word, names, count);
    if (near)
        zkv_output_error("%s: unknown subcommand '%.64s'; did you mean '%s'? (see 'zkv %s --help')",
                         cmd->name, word, near, cmd->name);
    else
        zkv_output_error("%s: unknown subcommand '%.64s' (see 'zkv %s --help')", cmd->name, word,
                         cmd->name);
    return ZKV_EXIT_USAGE;
}

zkv_client_t *zkv_command_client(const zkv_globals_t *g, size_t home, size_t inflight)
{
    zkv_client_config_t config = {
        .endpoints = g->endpoints,
        .timeout_ms = g->timeout_ms,
        .attempt_timeout_ms = g->attempt_timeout_ms,
        .home = home,
        .inflight_max = inflight,
        .curve = g->curve,
    };
    char err[256];
    zkv_client_t *client = zkv_client_new(&config, err, sizeof err);
    if (!client)
        zkv_output_error("%s", err);
    return client;
}

int zkv_command_execute(const zkv_globals_t *g, const zkv_op_t *op, zkv_command_print_fn *print)
{
    zkv_client_t *client = zkv_command_client(g, 0, 0);
    if (!client)
        return ZKV_EXIT_USAGE;
    const Zkv__Response *reply;
    int rc = zkv_client_call(client, op, &reply);
    int code = rc ? zkv_command_failed(client, rc) : print(g, op, reply);
    zkv_client_destroy(&client);
    return code;
}

int zkv_command_json(json_t *doc)
{
    if (zkv_output_json(doc)) {
        zkv_output_error("cannot print JSON (out of memory or stdout closed)");
        return ZKV_EXIT_ERROR;
    }
    return ZKV_EXIT_OK;
}

int zkv_command_failed(zkv_client_t *client, int rc)
{
    if (rc == ZKV_CLIENT_ETIMEDOUT && !zkv_client_heard(client))
        zkv_output_error("%s; %s", zkv_client_error(client), ZKV_HINT_NO_CLUSTER);
    else
        zkv_output_error("%s", zkv_client_error(client));
    return zkv_command_exit_code(rc);
}

int zkv_command_exit_code(int rc)
{
    switch (rc) {
    case ZKV_EKEYSIZE:
    case ZKV_EVALSIZE:
    case ZKV_EINVAL:
    /* Our keys or --insecure are wrong for this cluster: the command line to fix. */
    case ZKV_CLIENT_EHANDSHAKE: return ZKV_EXIT_USAGE;
    case ZKV_CLIENT_ETIMEDOUT: return ZKV_EXIT_UNAVAILABLE;
    case ZKV_EPERM: return ZKV_EXIT_NEGATIVE; /* as a request answered PERMISSION_DENIED */
    case ZKV_CLIENT_EINTR: return ZKV_EXIT_INTERRUPTED;
    default: return ZKV_EXIT_ERROR;
    }
}

int zkv_command_refused(const Zkv__Response *reply)
{
    const char *detail = reply->error && *reply->error ? reply->error : NULL;
    const char *name = zkv_client_status_name((int) reply->status);
    switch (reply->status) {
    case ZKV__STATUS__BAD_REQUEST:
    case ZKV__STATUS__KEY_TOO_LARGE:
    case ZKV__STATUS__VALUE_TOO_LARGE:
        zkv_output_error("refused by the node (%s)%s%.300s", name, detail ? ": " : "",
                         detail ? detail : "");
        return ZKV_EXIT_USAGE;
    case ZKV__STATUS__FAILED_PRECONDITION:
        zkv_output_error("%.300s", detail ? detail : "refused by the node (FAILED_PRECONDITION)");
        return ZKV_EXIT_NEGATIVE;
    case ZKV__STATUS__LEASE_NOT_FOUND:
        zkv_output_error("lease not found (never granted, revoked, or expired)");
        return ZKV_EXIT_NEGATIVE;
    case ZKV__STATUS__ALREADY_EXISTS:
        zkv_output_error("a lease with that id exists");
        return ZKV_EXIT_NEGATIVE;
    case ZKV__STATUS__PERMISSION_DENIED:
        zkv_output_error("%.300s", detail ? detail : "permission denied");
        return ZKV_EXIT_NEGATIVE;
    default:
        zkv_output_error("node error (%s)%s%.300s", name, detail ? ": " : "", detail ? detail : "");
        return ZKV_EXIT_ERROR;
    }
}

zkv_bytes_t zkv_command_bytes(const char *text)
{
    zkv_bytes_t bytes = {(const uint8_t *) text, text ? strlen(text) : 0};
    return bytes;
}

json_t *zkv_command_json_key(zkv_bytes_t key, uint64_t revision)
{
    json_t *doc = json_object();
    if (doc && (zkv_output_json_bytes(doc, "key", key.data, key.size) ||
                json_object_set_new(doc, "revision", zkv_output_json_u64(revision)))) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

int zkv_command_json_meta(json_t *doc, uint64_t create_revision, uint64_t mod_revision,
                          uint64_t version, uint64_t lease)
{
    if (json_object_set_new(doc, "create_revision", zkv_output_json_u64(create_revision)) ||
        json_object_set_new(doc, "mod_revision", zkv_output_json_u64(mod_revision)) ||
        json_object_set_new(doc, "version", zkv_output_json_u64(version)) ||
        json_object_set_new(doc, "lease", zkv_output_json_u64(lease)))
        return -1;
    return 0;
}

#define S_SUGGEST_LENGTH_MAX 32
#define S_SUGGEST_EDITS_MAX 2

/*  Edits from a to b (optimal string alignment: insert, delete, change, swap
    two neighbours), for words of at most S_SUGGEST_LENGTH_MAX bytes. */
static size_t s_edits(const char *a, size_t n, const char *b, size_t m)
{
    size_t d[S_SUGGEST_LENGTH_MAX + 1][S_SUGGEST_LENGTH_MAX + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

const char *zkv_command_suggest(const char *word, const char *const *names, size_t count)
{
    size_t n = strlen(word), best = S_SUGGEST_EDITS_MAX + 1;
    const char *found = NULL;
    for (size_t i = 0; i < count && n <= S_SUGGEST_LENGTH_MAX; i++) {
        size_t m = strlen(names[i]);
        if (m > S_SUGGEST_LENGTH_MAX)
            continue;
        size_t edits = s_edits(word, n, names[i], m);
        if (edits < best && edits < m) {
            best = edits;
            found = names[i];
        }
    }
    return found;
}

bool zkv_prefix_end(const uint8_t *prefix, size_t size, uint8_t *out, size_t *out_size)
{
    while (size > 0 && prefix[size - 1] == 0xff)
        size--;
    if (size == 0)
        return false;
    memcpy(out, prefix, size);
    out[size - 1]++;
    *out_size = size;
    return true;
}
