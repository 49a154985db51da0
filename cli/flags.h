/*  flags: command-line parsing for zkv, in the manner of Go's flag package as
    etcdctl uses it: "--name value", "--name=value", "-n value", boolean flags
    without a value, flags before and after positional arguments, and "--" to
    end the flags (for keys that begin with a dash). Also durations such as
    "500ms", "5s", "2m", "1h" (a bare number means seconds). */
#ifndef ZKV_FLAGS_H
#define ZKV_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*  Longest duration accepted: one day. */
#define ZKV_DURATION_MS_MAX (24LL * 3600 * 1000)
/*  Positional arguments any command takes, at most. */
#define ZKV_FLAGS_POSITIONAL_MAX 64

typedef enum {
    ZKV_FLAG_BOOL,     /* bool *; takes no value */
    ZKV_FLAG_STRING,   /* const char ** (borrowed from argv) */
    ZKV_FLAG_U64,      /* uint64_t *, between min and max */
    ZKV_FLAG_DURATION, /* int64_t * milliseconds, 1 ms .. ZKV_DURATION_MS_MAX */
    ZKV_FLAG_RATIO,    /* double *, 0..1 */
} zkv_flag_type_t;

typedef struct {
    const char *name; /* long name without "--"; NULL ends a table */
    char short_name;  /* one letter used as "-x", or 0 */
    zkv_flag_type_t type;
    void *target;
    const char *value_name; /* in help: "LIST", "N", "DURATION" */
    const char *help;
    uint64_t min; /* ZKV_FLAG_U64 bounds; max 0 means UINT64_MAX */
    uint64_t max;
    bool *seen; /* set when the flag was given, if not NULL */
} zkv_flag_t;

typedef struct {
    char *positional[ZKV_FLAGS_POSITIONAL_MAX + 1]; /* and room for a NULL after them */
    int count;
    int consumed; /* arguments parsed, when stopping at the first positional */
    bool help;    /* -h or --help was given */
} zkv_args_t;

/*  Parse argv[0..argc) against tables (a NULL-terminated array of flag tables).
    With stop_at_positional, stop at the first positional argument (it is not
    consumed). 0, or -1 with a one-line message in err. */
int zkv_flags_parse(int argc, char **argv, const zkv_flag_t *const *tables, bool stop_at_positional,
                    zkv_args_t *args, char *err, size_t err_size);

/*  Print the flags of a table, one per line, for help text. */
void zkv_flags_print(FILE *out, const zkv_flag_t *table);

/*  Parse a duration into milliseconds. 0, or -1 when malformed, zero or too long. */
int zkv_duration_parse(const char *text, int64_t *ms);

/*  Parse a decimal unsigned integer, all of text. 0 or -1. */
int zkv_u64_parse(const char *text, uint64_t *value);

#endif
