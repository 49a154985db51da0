/*  zkv-lincheck: checks a recorded zkv history for linearizability, key by
    key, optionally with the final state read after the faults healed; or
    compares the state digests of the nodes. Exit codes: 0 linearizable (or
    converged), 1 not linearizable (or diverged), 2 usage or input error,
    3 unknown (the search budget ran out). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digests.h"
#include "history.h"
#include "lincheck.h"
#include "zkv_error.h"

enum { S_EXIT_OK = 0, S_EXIT_VIOLATION = 1, S_EXIT_USAGE = 2, S_EXIT_UNKNOWN = 3 };

typedef struct {
    zkv_lincheck_limits_t limits;
    const char *final_path;
    const char *digests_path;
    const char *history_path;
} s_args_t;

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: zkv-lincheck [--budget STEPS] [--cache-mb MB] [--final STATE.jsonl] "
            "HISTORY.jsonl\n"
            "       zkv-lincheck --digests DIGESTS.txt\n"
            "  --budget STEPS     search steps per key before giving up (default %llu, 0 = none)\n"
            "  --cache-mb MB      memo cache per key before giving up (default %llu, 0 = none)\n"
            "  --final FILE       state read after healing, JSON lines {\"key\":..,\"value\":..};\n"
            "                     checked as one more read of every key after the history\n"
            "  --digests FILE     \"node-id digest\" lines: do all nodes agree?\n"
            "exit: 0 linearizable/converged, 1 not, 2 usage or input error, 3 unknown\n",
            (unsigned long long) ZKV_LINCHECK_STEPS_DEFAULT,
            (unsigned long long) (ZKV_LINCHECK_CACHE_BYTES_DEFAULT >> 20));
}

static int s_parse_count(const char *text, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!text[0] || text[0] == '-')
        return -1;
    *out = strtoull(text, &end, 10);
    return errno || *end ? -1 : 0;
}

static int s_parse_args(int argc, char **argv, s_args_t *args)
{
    static const struct option options[] = {
        {"budget", required_argument, NULL, 'b'}, {"cache-mb", required_argument, NULL, 'c'},
        {"final", required_argument, NULL, 'f'},  {"digests", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    args->limits = zkv_lincheck_limits_default();
    unsigned long long n;
    for (int c; (c = getopt_long(argc, argv, "h", options, NULL)) != -1;) {
        if (c == 'b' && s_parse_count(optarg, &n) == 0)
            args->limits.steps_max = n;
        else if (c == 'c' && s_parse_count(optarg, &n) == 0 && n <= (1ULL << 40))
            args->limits.cache_bytes_max = n << 20;
        else if (c == 'f')
            args->final_path = optarg;
        else if (c == 'd')
            args->digests_path = optarg;
        else if (c == 'h')
            return 1;
        else
            return -1;
    }
    if (args->digests_path)
        return optind == argc && !args->final_path ? 0 : -1;
    if (optind != argc - 1)
        return -1;
    args->history_path = argv[optind];
    return 0;
}

static int s_digests(const char *path)
{
    char *text, err[ZKV_HISTORY_ERROR_SIZE];
    size_t size;
    int rc = zkv_history_read_file(path, &text, &size);
    if (rc != 0) {
        fprintf(stderr, "zkv-lincheck: %s: %s\n", path,
                rc == ZKV_EIO ? strerror(errno) : zkv_strerror(rc));
        return S_EXIT_USAGE;
    }
    zkv_lincheck_digests_t *digests;
    rc = zkv_lincheck_digests_parse(path, text, size, &digests, err, sizeof err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "zkv-lincheck: %s\n", rc == ZKV_EINVAL ? err : zkv_strerror(rc));
        return S_EXIT_USAGE;
    }
    char *report = zkv_lincheck_digests_describe(digests);
    fputs(report ? report : "out of memory\n", stdout);
    free(report);
    int code = zkv_lincheck_digests_agree(digests) ? S_EXIT_OK : S_EXIT_VIOLATION;
    zkv_lincheck_digests_destroy(&digests);
    return code;
}

static double s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/*  Checks one key, prints its line, returns its verdict. */
static zkv_lincheck_verdict_t s_check_key(const zkv_history_t *history, size_t key,
                                          const zkv_lincheck_limits_t *limits)
{
    const zkv_lincheck_op_t *ops;
    size_t count = zkv_history_ops(history, key, &ops);
    zkv_lincheck_result_t *result;
    double start = s_now_ms();
    int rc = zkv_lincheck_check(ops, count, limits, &result);
    double ms = s_now_ms() - start;
    printf("key \"%s\" (%.0f ms): ", zkv_history_key(history, key), ms);
    if (rc != 0) {
        /* Positions come from line numbers, so only memory can fail here. */
        printf("unknown: %s\n", zkv_strerror(rc));
        return ZKV_LINCHECK_UNKNOWN;
    }
    char *report = zkv_lincheck_result_describe(result, ops, count);
    fputs(report ? report : "out of memory\n", stdout);
    free(report);
    zkv_lincheck_verdict_t verdict = zkv_lincheck_result_verdict(result);
    zkv_lincheck_result_destroy(&result);
    return verdict;
}

static int s_load(const s_args_t *args, zkv_history_t **history_p)
{
    char err[ZKV_HISTORY_ERROR_SIZE];
    int rc = zkv_history_load(args->history_path, history_p, err, sizeof err);
    if (rc == 0 && args->final_path)
        rc = zkv_history_load_final(*history_p, args->final_path, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "zkv-lincheck: %s\n", err);
        zkv_history_destroy(history_p);
    }
    return rc;
}

static int s_check(const s_args_t *args)
{
    zkv_history_t *history;
    if (s_load(args, &history) != 0)
        return S_EXIT_USAGE;
    size_t keys = zkv_history_key_count(history);
    printf("%s: %zu events on %zu keys%s\n", args->history_path, zkv_history_event_count(history),
           keys, args->final_path ? ", with final state" : "");
    size_t bad = 0, unknown = 0;
    for (size_t k = 0; k < keys; k++) {
        zkv_lincheck_verdict_t verdict = s_check_key(history, k, &args->limits);
        bad += verdict == ZKV_LINCHECK_VIOLATION;
        unknown += verdict == ZKV_LINCHECK_UNKNOWN;
    }
    zkv_history_destroy(&history);
    if (bad) {
        printf("verdict: NOT LINEARIZABLE (%zu of %zu keys)\n", bad, keys);
        return S_EXIT_VIOLATION;
    }
    if (unknown) {
        printf("verdict: UNKNOWN (%zu of %zu keys ran out of budget)\n", unknown, keys);
        return S_EXIT_UNKNOWN;
    }
    printf("verdict: linearizable (%zu keys)\n", keys);
    return S_EXIT_OK;
}

int main(int argc, char **argv)
{
    s_args_t args = {0};
    int rc = s_parse_args(argc, argv, &args);
    if (rc != 0) {
        s_usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? S_EXIT_OK : S_EXIT_USAGE;
    }
    return args.digests_path ? s_digests(args.digests_path) : s_check(&args);
}
