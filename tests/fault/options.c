/*  options: zkv-fault's flags. */
#include "options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void s_usage(FILE *out)
{
    fprintf(
        out,
        "usage: zkv-fault [options]\n"
        "  --target local|compose   local zkvd processes (default) or a compose project\n"
        "  --duration SECONDS       workload and faults (default 60)\n"
        "  --clients N              concurrent logical clients, 1..%d (default 6)\n"
        "  --keys N                 key space k0..k(N-1), 1..%d (default 8)\n"
        "  --seed N                 the workload's and the nemesis's choices (default: random)\n"
        "  --history PATH           the history, JSON lines (default zkv-fault-SEED.jsonl);\n"
        "                           PATH.final.jsonl and PATH.digests.txt beside it\n"
        "  --faults LIST            comma-separated, or all / none (default all):\n"
        "                           kill,stop,pause,member,partition-one,partition-leader,\n"
        "                           partition-majority,partition-ring (member: a node joins,\n"
        "                           is promoted, and leaves again; local target only)\n"
        "  --hold-ms MIN-MAX        how long a fault lasts (default 3000-7000)\n"
        "  --gap-ms MIN-MAX         quiet time between faults (default 1000-3000)\n"
        "  --op-timeout-ms MS       a client gives up on an operation after this (default 4000)\n"
        "  --home-reads PERCENT     gets sent only to the client's home node (default 20)\n"
        "  --require-partitions     fail when iptables cannot cut links here\n"
        "  --require-all-faults     fail unless every enabled kind of fault was injected\n"
        "  --expect-violation       pass only if the checker finds a violation (planted bugs)\n"
        "  --bank                   also transfers between accounts in transactions: the total\n"
        "                           never changes, each answer matches its receipt\n"
        "  --watch                  also a watcher of every key, paused past its queue and its\n"
        "                           node killed: its events must build the final state\n"
        "local:   --zkvd PATH  --nodes N (default 3)  --host-base B (nodes on 127.0.0.B+id)\n"
        "         --snapshot-entries N (zkvd's flag: small values make snapshots and\n"
        "         InstallSnapshot part of the run)\n"
        "compose: --project NAME (default zkv-fault)  --port-base P (client ports P+1..P+3,\n"
        "         default 61200)  --net-prefix A.B.C (nodes at A.B.C.11-13, default 172.28.73)\n"
        "exit: 0 pass, 1 fail (violation, divergence, run errors), 2 usage\n",
        FAULT_CLIENTS_MAX, FAULT_KEYS_MAX);
}

static int s_number(const char *text, long long lo, long long hi, long long *out)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int s_range(const char *text, int64_t *lo, int64_t *hi)
{
    char *end;
    long long a = strtoll(text, &end, 10);
    if (end == text || *end != '-')
        return -1;
    char *end2;
    long long b = strtoll(end + 1, &end2, 10);
    if (end2 == end + 1 || *end2 || a < 0 || b < a)
        return -1;
    *lo = a;
    *hi = b;
    return 0;
}

static int s_faults(const char *list, unsigned *mask)
{
    *mask = 0;
    if (strcmp(list, "none") == 0)
        return 0;
    if (strcmp(list, "all") == 0) {
        *mask = (1u << FAULT_KINDS) - 1;
        return 0;
    }
    char copy[512];
    snprintf(copy, sizeof copy, "%s", list);
    char *save;
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < FAULT_KINDS && strcmp(name, fault_kind_name((fault_kind_t) k)) != 0)
            k++;
        if (k == FAULT_KINDS) {
            fprintf(stderr, "zkv-fault: unknown fault '%s'\n", name);
            return -1;
        }
        *mask |= 1u << k;
    }
    return 0;
}

static void s_defaults(fault_options_t *o)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *o = (fault_options_t){
        .target = FAULT_TARGET_LOCAL,
        .duration_ms = 60000,
        .clients = 6,
        .keys = 8,
        .seed = ((uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 20) ^ (uint64_t) getpid()) %
                1000000000,
        .faults = (1u << FAULT_KINDS) - 1,
        .op_timeout_ms = 4000,
        .home_read_percent = 20,
        .hold_min_ms = 3000,
        .hold_max_ms = 7000,
        .gap_min_ms = 1000,
        .gap_max_ms = 3000,
        .nodes = 3,
        .host_base = 10 + 10 * (int) (getpid() % 24),
        .project = "zkv-fault",
        .port_base = 61200,
        .net_prefix = "172.28.73"};
}

enum {
    O_TARGET = 256,
    O_DURATION,
    O_CLIENTS,
    O_KEYS,
    O_SEED,
    O_HISTORY,
    O_FAULTS,
    O_HOLD,
    O_GAP,
    O_OP_TIMEOUT,
    O_HOME_READS,
    O_REQ_PART,
    O_REQ_ALL,
    O_EXPECT,
    O_BANK,
    O_WATCH,
    O_ZKVD,
    O_NODES,
    O_HOST_BASE,
    O_SNAPSHOT_ENTRIES,
    O_PROJECT,
    O_PORT_BASE,
    O_NET_PREFIX,
    O_HELP
};

static const struct option s_options[] = {
    {"target", required_argument, NULL, O_TARGET},
    {"duration", required_argument, NULL, O_DURATION},
    {"clients", required_argument, NULL, O_CLIENTS},
    {"keys", required_argument, NULL, O_KEYS},
    {"seed", required_argument, NULL, O_SEED},
    {"history", required_argument, NULL, O_HISTORY},
    {"faults", required_argument, NULL, O_FAULTS},
    {"hold-ms", required_argument, NULL, O_HOLD},
    {"gap-ms", required_argument, NULL, O_GAP},
    {"op-timeout-ms", required_argument, NULL, O_OP_TIMEOUT},
    {"home-reads", required_argument, NULL, O_HOME_READS},
    {"require-partitions", no_argument, NULL, O_REQ_PART},
    {"require-all-faults", no_argument, NULL, O_REQ_ALL},
    {"expect-violation", no_argument, NULL, O_EXPECT},
    {"bank", no_argument, NULL, O_BANK},
    {"watch", no_argument, NULL, O_WATCH},
    {"zkvd", required_argument, NULL, O_ZKVD},
    {"nodes", required_argument, NULL, O_NODES},
    {"host-base", required_argument, NULL, O_HOST_BASE},
    {"snapshot-entries", required_argument, NULL, O_SNAPSHOT_ENTRIES},
    {"project", required_argument, NULL, O_PROJECT},
    {"port-base", required_argument, NULL, O_PORT_BASE},
    {"net-prefix", required_argument, NULL, O_NET_PREFIX},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static const char *s_flag_name(int c)
{
    for (const struct option *opt = s_options; opt->name; opt++)
        if (opt->val == c)
            return opt->name;
    return "?";
}

/*  A flag with a number: its bounds and where it goes. */
typedef struct {
    int flag;
    long long lo, hi, scale;
} s_numeric_t;

static const s_numeric_t s_numerics[] = {
    {O_DURATION, 1, 86400, 1000},     {O_CLIENTS, 1, FAULT_CLIENTS_MAX, 1},
    {O_KEYS, 1, FAULT_KEYS_MAX, 1},   {O_SEED, 0, INT64_MAX, 1},
    {O_OP_TIMEOUT, 100, 600000, 1},   {O_HOME_READS, 0, 100, 1},
    {O_NODES, 1, FAULT_NODES_MAX, 1}, {O_HOST_BASE, 2, 240, 1},
    {O_PORT_BASE, 1024, 65000, 1},    {O_SNAPSHOT_ENTRIES, 1, INT64_MAX, 1},
};

static void s_store(fault_options_t *o, int flag, long long v)
{
    switch (flag) {
    case O_DURATION: o->duration_ms = v; break;
    case O_CLIENTS: o->clients = (int) v; break;
    case O_KEYS: o->keys = (int) v; break;
    case O_SEED: o->seed = (uint64_t) v; break;
    case O_OP_TIMEOUT: o->op_timeout_ms = v; break;
    case O_HOME_READS: o->home_read_percent = (int) v; break;
    case O_NODES: o->nodes = (int) v; break;
    case O_HOST_BASE: o->host_base = (int) v; break;
    case O_PORT_BASE: o->port_base = (int) v; break;
    case O_SNAPSHOT_ENTRIES: o->snapshot_entries = (uint64_t) v; break;
    }
}

/*  One flag with a value; 0, or -1 when the value is bad. */
static int s_apply(fault_options_t *o, int c, const char *arg)
{
    for (size_t i = 0; i < sizeof s_numerics / sizeof s_numerics[0]; i++) {
        const s_numeric_t *n = &s_numerics[i];
        long long v;
        if (n->flag != c)
            continue;
        if (s_number(arg, n->lo, n->hi, &v) != 0)
            return -1;
        s_store(o, c, v * n->scale);
        return 0;
    }
    switch (c) {
    case O_TARGET:
        o->target = strcmp(arg, "compose") == 0 ? FAULT_TARGET_COMPOSE : FAULT_TARGET_LOCAL;
        return strcmp(arg, "compose") == 0 || strcmp(arg, "local") == 0 ? 0 : -1;
    case O_HISTORY: o->history = arg; return 0;
    case O_FAULTS: return s_faults(arg, &o->faults);
    case O_HOLD: return s_range(arg, &o->hold_min_ms, &o->hold_max_ms);
    case O_GAP: return s_range(arg, &o->gap_min_ms, &o->gap_max_ms);
    case O_ZKVD: o->zkvd = arg; return 0;
    case O_PROJECT: o->project = arg; return 0;
    case O_NET_PREFIX: o->net_prefix = arg; return 0;
    }
    return -1;
}

int options_parse(fault_options_t *o, int argc, char **argv)
{
    s_defaults(o);
    for (int c; (c = getopt_long(argc, argv, "h", s_options, NULL)) != -1;) {
        if (c == O_HELP || c == 'h') {
            s_usage(stdout);
            return 1;
        }
        if (c == O_REQ_PART)
            o->require_partitions = true;
        else if (c == O_REQ_ALL)
            o->require_all_faults = true;
        else if (c == O_EXPECT)
            o->expect_violation = true;
        else if (c == O_BANK)
            o->bank = true;
        else if (c == O_WATCH)
            o->watch = true;
        else if (c == '?' || s_apply(o, c, optarg) != 0) {
            if (c != '?')
                fprintf(stderr, "zkv-fault: bad value '%s' for --%s\n", optarg, s_flag_name(c));
            s_usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        s_usage(stderr);
        return -1;
    }
    return 0;
}
