/*  history: reads a zkv operation history (JSON lines, one event per line;
    format and meaning in docs/HISTORY.md), validates every field, pairs each
    invoke with the next completion of the same process and splits the
    operations by key, ready for lincheck. Malformed input is an error with
    the line number, never a crash. */
#ifndef ZKV_HISTORY_H
#define ZKV_HISTORY_H

#include <stddef.h>

#include "lincheck.h"

/*  Longest accepted line, in bytes. */
#define ZKV_HISTORY_LINE_SIZE_MAX (1u << 20)
/*  Largest accepted file, in bytes. */
#define ZKV_HISTORY_FILE_SIZE_MAX (1ULL << 32)
/*  A buffer this large holds any error message. */
#define ZKV_HISTORY_ERROR_SIZE 512

typedef struct zkv_history_t zkv_history_t;

/*  Parses text[0..size). name is used in error messages ("name:line: why").
    Returns 0, ZKV_EINVAL with a message in err for malformed input, or
    ZKV_ENOMEM. */
int zkv_history_parse(const char *name, const char *text, size_t size, zkv_history_t **self_p,
                      char *err, size_t err_size);

/*  Reads and parses a file; ZKV_EIO when it cannot be read. */
int zkv_history_load(const char *path, zkv_history_t **self_p, char *err, size_t err_size);

void zkv_history_destroy(zkv_history_t **self_p);

/*  Adds the state read from every node after the faults healed, as JSON lines
    {"key": "k1", "value": "v17"} (value null or a missing key = absent):
    one read per key that comes after every event of the history. Keys absent
    from the dump are read as absent. At most once per history. */
int zkv_history_add_final(zkv_history_t *self, const char *name, const char *text, size_t size,
                          char *err, size_t err_size);
int zkv_history_load_final(zkv_history_t *self, const char *path, char *err, size_t err_size);

/*  Events read (blank lines excluded). */
size_t zkv_history_event_count(const zkv_history_t *self);

/*  Keys in order of first appearance, and each key's operations in order of
    their invoke. Positions in the ops are line numbers. */
size_t zkv_history_key_count(const zkv_history_t *self);
const char *zkv_history_key(const zkv_history_t *self, size_t key);
size_t zkv_history_ops(const zkv_history_t *self, size_t key, const zkv_lincheck_op_t **ops_p);

/*  Reads a whole file into a NUL-terminated buffer the caller frees.
    Returns 0, ZKV_EIO (errno set) or ZKV_ENOMEM. */
int zkv_history_read_file(const char *path, char **text_p, size_t *size_p);

#endif
