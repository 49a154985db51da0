/*  config: flags and ZKV_* environment variables -> zkv_config_t, validated
    so that a misconfigured node stops at start with one clear line. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "security.h"
#include "wal.h"

typedef enum { OPT_U32, OPT_U64, OPT_U16, OPT_STRING, OPT_MEMBERS, OPT_BOOL } opt_type_t;

typedef struct {
    const char *flag; /* without the leading dashes */
    const char *env;
    opt_type_t type;
    size_t offset;
    size_t size; /* strings: buffer size */
    const char *help;
} option_t;

#define FIELD(f) offsetof(zkv_config_t, f), sizeof(((zkv_config_t *) 0)->f)

static const option_t s_options[] = {
    {"id", "ZKV_ID", OPT_U32, FIELD(id), "this node's id, one of the ids in --peers (required)"},
    {"peers", "ZKV_PEERS", OPT_MEMBERS, 0, 0,
     "every member, ID=HOST:PUB_PORT:ROUTER_PORT:CLIENT_PORT,... (required)"},
    {"join", "ZKV_JOIN", OPT_BOOL, FIELD(join),
     "join a running cluster that added this node (zkv member add); only at the first start"},
    {"restore", "ZKV_RESTORE", OPT_STRING, FIELD(restore),
     "make the data directory of a new cluster from this backup file, then exit"},
    {"listen", "ZKV_LISTEN", OPT_STRING, FIELD(listen),
     "address to bind, e.g. 0.0.0.0 (default: this member's HOST)"},
    {"data-dir", "ZKV_DATA_DIR", OPT_STRING, FIELD(data_dir),
     "write-ahead log and snapshots, one node only (default: data/node<ID>)"},
    {"trace-port", "ZKV_TRACE_PORT", OPT_U16, FIELD(trace_port),
     "PUB port of trace events (default: 7400+ID)"},
    {"metrics-port", "ZKV_METRICS_PORT", OPT_U16, FIELD(metrics_port),
     "HTTP port of GET /metrics and /health (default: 7500+ID)"},
    {"health-max-lag", "ZKV_HEALTH_MAX_LAG", OPT_U64, FIELD(health_max_lag),
     "/health fails past this many entries applied behind the leader (default 1000)"},
    {"watch-port", "ZKV_WATCH_PORT", OPT_U16, FIELD(watch_port),
     "PUB port of the changes, for watchers (default: 7600+ID)"},
    {"watch-history-events", "ZKV_WATCH_HISTORY_EVENTS", OPT_U64, FIELD(watch_history_events),
     "changes kept for watchers to catch up from (default 100000)"},
    {"watch-history-bytes", "ZKV_WATCH_HISTORY_BYTES", OPT_U64, FIELD(watch_history_bytes),
     "... and at most this many bytes of them (default 67108864)"},
    {"watch-queue", "ZKV_WATCH_QUEUE", OPT_U32, FIELD(watch_queue),
     "messages queued for one watcher before it holds the stream up (default 10000)"},
    {"snapshot-entries", "ZKV_SNAPSHOT_ENTRIES", OPT_U64, FIELD(snapshot_entries),
     "snapshot after this many applied entries (default 100000)"},
    {"snapshot-bytes", "ZKV_SNAPSHOT_BYTES", OPT_U64, FIELD(snapshot_bytes),
     "... or after this many bytes of log (default 67108864)"},
    {"log-memory-bytes", "ZKV_LOG_MEMORY_BYTES", OPT_U64, FIELD(log_memory_bytes),
     "at most this much applied entry data kept in memory for followers that lag; older "
     "entries are read back from the log (default 8388608; 0: all since the snapshot)"},
    {"wal-segment-bytes", "ZKV_WAL_SEGMENT_BYTES", OPT_U64, FIELD(wal_segment_bytes),
     "size of a log segment file, preallocated (default 67108864)"},
    {"server-cert", "ZKV_SERVER_CERT", OPT_STRING, FIELD(cert_path),
     "secret certificate of the client, watch and trace sockets, shared by the members"},
    {"peer-cert", "ZKV_PEER_CERT", OPT_STRING, FIELD(peer_cert_path),
     "this node's own secret certificate for the peer sockets (node-id = --id)"},
    {"peer-certs", "ZKV_PEER_CERTS", OPT_STRING, FIELD(peer_certs),
     "directory of the members' public peer certificates (*.cert)"},
    {"client-certs", "ZKV_CLIENT_CERTS", OPT_STRING, FIELD(client_certs),
     "directory of the public certificates of the clients allowed (*.cert)"},
    {"trace-certs", "ZKV_TRACE_CERTS", OPT_STRING, FIELD(trace_certs),
     "directory of the trace subscribers allowed (default: --client-certs)"},
    {"acl", "ZKV_ACL", OPT_STRING, FIELD(acl_path),
     "authorization file: each client's rights on key prefixes (default: all)"},
    {"insecure", "ZKV_INSECURE", OPT_BOOL, FIELD(insecure),
     "no CURVE: plaintext and no authentication on any socket"},
    {"tick-ms", "ZKV_TICK_MS", OPT_U32, FIELD(tick_ms), "length of one Raft tick (default 10)"},
    {"election-ticks", "ZKV_ELECTION_TICKS", OPT_U32, FIELD(election_ticks),
     "election timeout in ticks, randomised up to twice this (default 30)"},
    {"heartbeat-ticks", "ZKV_HEARTBEAT_TICKS", OPT_U32, FIELD(heartbeat_ticks),
     "heartbeat interval in ticks (default 5)"},
};
#define OPTION_COUNT (sizeof s_options / sizeof s_options[0])

int zkv_config_fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
    return -1;
}

void zkv_config_usage(FILE *out)
{
    fprintf(out, "usage: zkvd [flags]\n\n"
                 "A zkv node. Every flag can also be given as the environment variable shown;\n"
                 "a flag wins over its variable.\n\n");
    for (size_t i = 0; i < OPTION_COUNT; i++)
        fprintf(out, "  --%-18s %-22s %s\n", s_options[i].flag, s_options[i].env,
                s_options[i].help);
    fprintf(out, "  --%-18s %-22s %s\n", "help", "", "print this text");
    fprintf(out, "  --%-18s %-22s %s\n", "version", "", "print the version");
    fprintf(out, "\nexample: zkvd --id 1 --peers 1=127.0.0.1:7201:7301:7101,"
                 "2=127.0.0.1:7202:7302:7102,3=127.0.0.1:7203:7303:7103\n");
}

static bool s_parse_u64(const char *text, uint64_t max, uint64_t *out)
{
    if (!text[0] || !isdigit((unsigned char) text[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/*  One port, the text from start to end, into *port; NULL, or what is wrong. */
static const char *s_parse_port(const char *start, const char *end, uint16_t *port, char *why,
                                size_t why_size)
{
    char text[16];
    size_t n = (size_t) (end - start);
    uint64_t v = 0;
    snprintf(text, sizeof text, "%.*s", (int) (n < sizeof text ? n : sizeof text - 1), start);
    if (n == 0 || n >= sizeof text || !s_parse_u64(text, UINT64_MAX, &v))
        snprintf(why, why_size, "port '%.*s' is not a number", (int) (n > 20 ? 20 : n), start);
    else if (v == 0 || v > 65535)
        snprintf(why, why_size, "port %s is out of range (1 to 65535)", text);
    else {
        *port = (uint16_t) v;
        return NULL;
    }
    return why;
}

/*  HOST:PUB:ROUTER:CLIENT; the host may itself hold colons only if bracketed,
    so split on the last three colons. NULL, or what is wrong. */
static const char *s_parse_address(const char *text, zkv_member_t *m, char *why, size_t why_size)
{
    const char *c3 = strrchr(text, ':');
    const char *c2 = c3 ? c3 - 1 : text;
    while (c2 > text && *c2 != ':')
        c2--;
    const char *c1 = c2 > text ? c2 - 1 : text;
    while (c1 > text && *c1 != ':')
        c1--;
    if (!c3 || c1 <= text || *c1 != ':' || *c2 != ':')
        return "not HOST:PUB:ROUTER:CLIENT";
    size_t host_size = (size_t) (c1 - text);
    if (host_size >= sizeof m->host)
        return "the host is too long";
    memcpy(m->host, text, host_size);
    m->host[host_size] = 0;
    const char *starts[3] = {c1 + 1, c2 + 1, c3 + 1};
    const char *ends[3] = {c2, c3, text + strlen(text)};
    uint16_t *dest[3] = {&m->pub_port, &m->router_port, &m->client_port};
    for (int i = 0; i < 3; i++)
        if (s_parse_port(starts[i], ends[i], dest[i], why, why_size))
            return why;
    return NULL;
}

static int s_parse_members(zkv_config_t *config, const char *text, char *err, size_t err_size)
{
    char *copy = strdup(text);
    if (!copy)
        return zkv_config_fail(err, err_size, "out of memory");
    config->member_count = 0;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        uint64_t id;
        zkv_member_t m = {0};
        char why[64];
        const char *problem = NULL;
        if (config->member_count == ZKV_MEMBERS_MAX)
            rc = zkv_config_fail(err, err_size, "--peers: more than %d members", ZKV_MEMBERS_MAX);
        else if (!eq)
            rc = zkv_config_fail(err, err_size, "--peers: '%s' is not ID=HOST:PUB:ROUTER:CLIENT",
                                 tok);
        else {
            *eq = 0;
            if (!s_parse_u64(tok, UINT32_MAX, &id) || id == 0)
                rc = zkv_config_fail(err, err_size, "--peers: bad member id '%s'", tok);
            else if ((problem = s_parse_address(eq + 1, &m, why, sizeof why)))
                rc = zkv_config_fail(err, err_size,
                                     "--peers: member %s: %s in '%s' (HOST:PUB:ROUTER:CLIENT)", tok,
                                     problem, eq + 1);
            else {
                m.id = (uint32_t) id;
                config->members[config->member_count++] = m;
            }
        }
    }
    free(copy);
    if (rc == 0 && config->member_count == 0)
        rc = zkv_config_fail(err, err_size, "--peers: empty");
    return rc;
}

static int s_set(zkv_config_t *config, const option_t *opt, const char *value, char *err,
                 size_t err_size)
{
    uint8_t *field = (uint8_t *) config + opt->offset;
    uint64_t v;
    switch (opt->type) {
    case OPT_MEMBERS: return s_parse_members(config, value, err, err_size);
    case OPT_STRING:
        if (strlen(value) >= opt->size)
            return zkv_config_fail(err, err_size, "--%s: too long", opt->flag);
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case OPT_BOOL:
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes"))
            *(bool *) field = true;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") ||
                 !value[0])
            *(bool *) field = false;
        else
            return zkv_config_fail(err, err_size, "--%s: '%s' is not true or false", opt->flag,
                                   value);
        return 0;
    case OPT_U16:
    case OPT_U32:
    case OPT_U64: break;
    }
    uint64_t max = opt->type == OPT_U16 ? 65535 : opt->type == OPT_U32 ? UINT32_MAX : UINT64_MAX;
    if (!s_parse_u64(value, max, &v))
        return zkv_config_fail(err, err_size, "--%s: '%s' is not a number in range", opt->flag,
                               value);
    if (opt->type == OPT_U16)
        *(uint16_t *) field = (uint16_t) v;
    else if (opt->type == OPT_U32)
        *(uint32_t *) field = (uint32_t) v;
    else
        *(uint64_t *) field = v;
    return 0;
}

static const char *s_getenv(char **env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

static const option_t *s_find_flag(const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    if (strncmp(arg, "--", 2) != 0)
        return NULL;
    arg += 2;
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t) (eq - arg) : strlen(arg);
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (strlen(s_options[i].flag) == n && strncmp(s_options[i].flag, arg, n) == 0) {
            *inline_value = eq ? eq + 1 : NULL;
            return &s_options[i];
        }
    return NULL;
}

static void s_defaults(zkv_config_t *config)
{
    memset(config, 0, sizeof *config);
    config->snapshot_entries = 100000;
    config->log_memory_bytes = 8u << 20;
    config->snapshot_bytes = 64ull << 20;
    config->watch_history_events = 100000;
    config->watch_history_bytes = 64ull << 20;
    config->watch_queue = 10000;
    config->health_max_lag = 1000;
    config->wal_segment_bytes = ZKV_WAL_SEGMENT_SIZE_DEFAULT;
    config->tick_ms = 10;
    config->election_ticks = 30;
    config->heartbeat_ticks = 5;
}

/*  Two members on one host and port, or one member with a port twice, would
    fail to bind (or worse, one would reach the other): refused at parse time. */
static int s_check_member_ports(const zkv_config_t *config, char *err, size_t err_size)
{
    static const char *const names[3] = {"PUB", "ROUTER", "CLIENT"};
    for (size_t i = 0; i < config->member_count; i++) {
        const zkv_member_t *a = &config->members[i];
        const uint16_t pa[3] = {a->pub_port, a->router_port, a->client_port};
        for (size_t j = i; j < config->member_count; j++) {
            const zkv_member_t *b = &config->members[j];
            const uint16_t pb[3] = {b->pub_port, b->router_port, b->client_port};
            if (j != i && strcmp(a->host, b->host) != 0)
                continue;
            for (int x = 0; x < 3; x++)
                for (int y = j == i ? x + 1 : 0; y < 3; y++) {
                    if (pa[x] != pb[y])
                        continue;
                    if (j == i)
                        return zkv_config_fail(err, err_size,
                                               "--peers: member %u uses port %u as %s and %s",
                                               a->id, pa[x], names[x], names[y]);
                    return zkv_config_fail(err, err_size,
                                           "--peers: members %u and %u both use %s:%u (%s and %s)",
                                           a->id, b->id, a->host, pa[x], names[x], names[y]);
                }
        }
    }
    return 0;
}

/*  This node's own ports: its member's three and its trace, watch and metrics ports. */
static int s_check_own_ports(const zkv_config_t *config, char *err, size_t err_size)
{
    const zkv_member_t *me = zkv_config_member(config, config->id);
    const uint16_t ports[] = {me->pub_port,       me->router_port,    me->client_port,
                              config->trace_port, config->watch_port, config->metrics_port};
    static const char *const names[] = {"its PUB port", "its ROUTER port", "its CLIENT port",
                                        "--trace-port", "--watch-port",    "--metrics-port"};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
        for (size_t j = i + 1; j < sizeof ports / sizeof ports[0]; j++)
            if (ports[i] == ports[j])
                return zkv_config_fail(err, err_size,
                                       "node %u would listen on port %u twice: %s and %s",
                                       config->id, ports[i], names[i], names[j]);
    return s_check_member_ports(config, err, err_size);
}

static int s_validate(zkv_config_t *config, char *err, size_t err_size)
{
    if (config->id == 0)
        return zkv_config_fail(err, err_size, "--id is required (a nonzero member id)");
    if (config->member_count == 0)
        return zkv_config_fail(err, err_size, "--peers is required");
    for (size_t i = 0; i < config->member_count; i++)
        for (size_t j = i + 1; j < config->member_count; j++)
            if (config->members[i].id == config->members[j].id)
                return zkv_config_fail(err, err_size, "--peers: member id %u appears twice",
                                       config->members[i].id);
    const zkv_member_t *self = zkv_config_member(config, config->id);
    if (!self)
        return zkv_config_fail(err, err_size, "--id %u is not one of the members in --peers",
                               config->id);
    if (config->tick_ms == 0 || config->heartbeat_ticks == 0 ||
        config->election_ticks <= config->heartbeat_ticks)
        return zkv_config_fail(err, err_size,
                               "--tick-ms and --heartbeat-ticks must be > 0 and "
                               "--election-ticks greater than --heartbeat-ticks");
    if (config->snapshot_entries == 0)
        return zkv_config_fail(err, err_size, "--snapshot-entries must be > 0");
    if (config->watch_history_events == 0 || config->watch_history_bytes == 0 ||
        config->watch_queue == 0)
        return zkv_config_fail(
            err, err_size,
            "--watch-history-events, --watch-history-bytes and --watch-queue must be > 0");
    if (config->wal_segment_bytes < ZKV_WAL_SEGMENT_SIZE_MIN ||
        config->wal_segment_bytes > ZKV_WAL_SEGMENT_SIZE_MAX)
        return zkv_config_fail(err, err_size, "--wal-segment-bytes must be between %u and %u",
                               ZKV_WAL_SEGMENT_SIZE_MIN, ZKV_WAL_SEGMENT_SIZE_MAX);
    if (!config->listen[0])
        snprintf(config->listen, sizeof config->listen, "%s", self->host);
    if (!config->trace_port)
        config->trace_port = (uint16_t) (7400 + config->id % 600);
    if (!config->watch_port)
        config->watch_port = (uint16_t) (7600 + config->id % 600);
    if (!config->metrics_port)
        config->metrics_port = (uint16_t) (7500 + config->id % 600);
    if (!config->data_dir[0])
        snprintf(config->data_dir, sizeof config->data_dir, "data/node%u", config->id);
    return s_check_own_ports(config, err, err_size);
}

/*  The data directory must exist (it is created, with its parent) and be writable. */
static int s_check_data_dir(const char *dir, char *err, size_t err_size)
{
    char path[sizeof((zkv_config_t *) 0)->data_dir];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return zkv_config_fail(err, err_size, "--data-dir %s: cannot create %s: %s", dir,
                                       path, strerror(errno));
            *p = '/';
        }
    struct stat st;
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return zkv_config_fail(err, err_size, "--data-dir %s: %s", dir, strerror(errno));
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return zkv_config_fail(err, err_size, "--data-dir %s: not a directory", dir);
    /* access() says yes to root whatever the mode; a real file proves it. */
    char probe[sizeof path + 16];
    snprintf(probe, sizeof probe, "%s/.zkv-probe", path);
    FILE *f = fopen(probe, "w");
    if (!f)
        return zkv_config_fail(err, err_size, "--data-dir %s: not writable: %s", dir,
                               strerror(errno));
    fclose(f);
    unlink(probe);
    return 0;
}

int zkv_config_parse(zkv_config_t *config, int argc, char **argv, char **env, FILE *out, char *err,
                     size_t err_size)
{
    s_defaults(config);
    for (size_t i = 0; i < OPTION_COUNT; i++) {
        const char *v = s_getenv(env, s_options[i].env);
        if (v && s_set(config, &s_options[i], v, err, err_size) != 0)
            return -1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            zkv_config_usage(out);
            return 1;
        }
        const char *value;
        const option_t *opt = s_find_flag(argv[i], &value);
        if (!opt)
            return zkv_config_fail(err, err_size, "unknown flag '%s' (see zkvd --help)", argv[i]);
        if (!value && opt->type == OPT_BOOL)
            value = "true";
        if (!value) {
            if (i + 1 >= argc)
                return zkv_config_fail(err, err_size, "--%s needs a value", opt->flag);
            value = argv[++i];
        }
        if (s_set(config, opt, value, err, err_size) != 0)
            return -1;
    }
    if (s_validate(config, err, err_size) != 0 || zkv_security_load(config, err, err_size) != 0)
        return -1;
    return s_check_data_dir(config->data_dir, err, err_size);
}

const zkv_member_t *zkv_config_member(const zkv_config_t *config, uint32_t id)
{
    for (size_t i = 0; i < config->member_count; i++)
        if (config->members[i].id == id)
            return &config->members[i];
    return NULL;
}
