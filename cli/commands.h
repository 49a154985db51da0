/*  commands: what the zkv commands share: global options, exit codes, help,
    argument parsing, making a client, and turning failures into one line on
    stderr and an exit code. Each cmd_*.c defines its zkv_command_t. */
#ifndef ZKV_COMMANDS_H
#define ZKV_COMMANDS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "zkv.h"
#include "flags.h"
#include "output.h"

#define ZKV_DEFAULT_ENDPOINTS "tcp://127.0.0.1:7101,tcp://127.0.0.1:7102,tcp://127.0.0.1:7103"
#define ZKV_DEFAULT_TRACE_ENDPOINTS "tcp://127.0.0.1:7401,tcp://127.0.0.1:7402,tcp://127.0.0.1:7403"
/*  Said after "nothing answers at ...". */
#define ZKV_HINT_NO_CLUSTER                                                                        \
    "is a cluster running? scripts/run.sh starts a local one; --endpoints or ZKV_ENDPOINTS "       \
    "names another"
/*  The global flags' table: the flags and the NULL after them. */
#define ZKV_GLOBAL_FLAGS_SIZE 8

typedef enum {
    ZKV_EXIT_OK = 0,
    ZKV_EXIT_NEGATIVE = 1,    /* a definite "no": key not found, compare failed, a change
                                 the cluster's state forbids */
    ZKV_EXIT_USAGE = 2,       /* bad command line, or a request refused as invalid */
    ZKV_EXIT_UNAVAILABLE = 3, /* no answer in time: cluster unreachable or without a leader */
    ZKV_EXIT_ERROR = 4,       /* the node failed (INTERNAL), a bad reply, out of memory */
    ZKV_EXIT_INTERRUPTED = 130,
} zkv_exit_t;

/*  Global flags, accepted before or after the command. */
typedef struct {
    const char *endpoints;      /* --endpoints, else $ZKV_ENDPOINTS, else the local cluster */
    int64_t timeout_ms;         /* --timeout: overall deadline of one request */
    int64_t attempt_timeout_ms; /* --attempt-timeout: wait for one reply */
    const char *write_out;      /* -w */
    zkv_format_t format;
    const char *cert;            /* --cert, else $ZKV_CERT, else $ZKV_CERT_DIR/client.cert */
    const char *server_key;      /* --server-key, else $ZKV_SERVER_KEY, else .../server.cert */
    bool insecure;               /* --insecure, else ZKV_INSECURE=1: plaintext */
    zkv_curve_t curve;           /* what every connection uses, once finished; zeroed: plaintext */
    char default_cert[PATH_MAX]; /* the certificate directory's files, when they are used */
    char default_server[PATH_MAX];
} zkv_globals_t;

typedef struct zkv_command_t zkv_command_t;
struct zkv_command_t {
    const char *name;
    const char *usage;   /* after "zkv " */
    const char *summary; /* one line, for zkv --help */
    const char *details; /* paragraphs and examples for zkv CMD --help */
    int (*run)(const zkv_command_t *self, zkv_globals_t *globals, int argc, char **argv);
    bool local; /* works on local files alone: needs no certificate */
};

extern const zkv_command_t zkv_cmd_put;
extern const zkv_command_t zkv_cmd_get;
extern const zkv_command_t zkv_cmd_del;
extern const zkv_command_t zkv_cmd_scan;
extern const zkv_command_t zkv_cmd_cas;
extern const zkv_command_t zkv_cmd_status;
extern const zkv_command_t zkv_cmd_trace;
extern const zkv_command_t zkv_cmd_bench;
extern const zkv_command_t zkv_cmd_member;
extern const zkv_command_t zkv_cmd_move_leader;
extern const zkv_command_t zkv_cmd_snapshot;
extern const zkv_command_t zkv_cmd_check;
extern const zkv_command_t zkv_cmd_txn;
extern const zkv_command_t zkv_cmd_watch;
extern const zkv_command_t zkv_cmd_lease;
extern const zkv_command_t zkv_cmd_lock;
extern const zkv_command_t zkv_cmd_cert;

/*  Print the final answer to op; the exit code. */
typedef int(zkv_command_print_fn)(const zkv_globals_t *globals, const zkv_op_t *op,
                                  const Zkv__Response *reply);

/*  The global flag table, its targets in globals; ends with a NULL name. */
void zkv_globals_flags(zkv_globals_t *globals, zkv_flag_t table[ZKV_GLOBAL_FLAGS_SIZE]);

/*  Apply defaults and the environment after parsing; for a command that
    connects, find its keys (globals->curve): flags, else variables, else the
    certificate directory, else an error unless --insecure. 0, or -1 after
    printing an error. */
int zkv_globals_finish(zkv_globals_t *globals, bool connects);

/*  Print a command's help: usage, details, its flags, the global flags. */
void zkv_command_help(const zkv_command_t *cmd, const zkv_flag_t *flags, FILE *out);

/*  Parse a command's arguments with its flags and the global ones; expects
    between min and max positional arguments. true: go on. false: help was
    printed or the command line is wrong; return *code. */
bool zkv_command_parse(const zkv_command_t *cmd, zkv_globals_t *globals, const zkv_flag_t *flags,
                       int argc, char **argv, int min, int max, zkv_args_t *args, int *code);

/*  Run "CMD SUBCOMMAND ...": subcommands ends with NULL, and each one's name is
    "CMD SUBCOMMAND". Global flags and -h may come before the subcommand. */
int zkv_command_dispatch(const zkv_command_t *cmd, const zkv_command_t *const *subcommands,
                         zkv_globals_t *globals, int argc, char **argv);

/*  A client for the global endpoints and timeouts; NULL after printing an error. */
zkv_client_t *zkv_command_client(const zkv_globals_t *globals, size_t home, size_t inflight);

/*  Run one request on a client of its own (retries and redirects happen there)
    and print its answer; the exit code. */
int zkv_command_execute(const zkv_globals_t *globals, const zkv_op_t *op,
                        zkv_command_print_fn *print);

/*  Print a JSON document (see zkv_output_json); the exit code. */
int zkv_command_json(json_t *doc);

/*  Report a client error (rc < 0) on stderr; the exit code. */
int zkv_command_failed(zkv_client_t *client, int rc);

/*  The exit code of a client error (rc < 0). */
int zkv_command_exit_code(int rc);

/*  Report a reply whose status the command does not print (BAD_REQUEST,
    KEY_TOO_LARGE, INTERNAL, ...) on stderr; the exit code. FAILED_PRECONDITION
    prints the node's reason alone, and is a definite "no". */
int zkv_command_refused(const Zkv__Response *reply);

/*  Argument bytes, without the NUL. */
zkv_bytes_t zkv_command_bytes(const char *text);

/*  {"key": KEY, "revision": R}, or NULL when out of memory. */
json_t *zkv_command_json_key(zkv_bytes_t key, uint64_t revision);

/*  Add a key's metadata to a JSON object (create_revision, mod_revision,
    version, lease); 0 or -1. */
int zkv_command_json_meta(json_t *doc, uint64_t create_revision, uint64_t mod_revision,
                          uint64_t version, uint64_t lease);

/*  The first key after every key that begins with prefix: prefix with its
    last byte below 0xff incremented and the rest cut, into out (room for
    ZKV_KEY_SIZE_MAX bytes). false when there is none (every key from prefix
    on begins with it). */
bool zkv_prefix_end(const uint8_t *prefix, size_t size, uint8_t *out, size_t *out_size);

/*  The name in names (count of them) nearest to word, for "did you mean ...?":
    NULL when none is within 2 edits (a letter added, dropped, changed, or two
    swapped) and shorter than the change. */
const char *zkv_command_suggest(const char *word, const char *const *names, size_t count);

/*  A lease id (decimal, nonzero); false after saying why on stderr. */
bool zkv_lease_id_parse(const char *text, uint64_t *id);

#endif
