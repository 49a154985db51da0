/*  record: writes the history, one JSON line per event (docs/HISTORY.md).
    The driver is one thread: it records an invoke before it sends the
    request and the completion after the answer, so the order of the lines
    is the real-time order the checker relies on. */
#ifndef ZKV_FAULT_RECORD_H
#define ZKV_FAULT_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct record_t record_t;

/*  A string value of an event, or null (data NULL). */
typedef struct {
    const char *data;
    size_t size;
} record_str_t;

#define RECORD_NULL ((record_str_t){NULL, 0})

/*  Creates (truncates) the file. NULL with a message in err. */
record_t *record_open(const char *path, char *err, size_t err_size);

/*  Flushes and closes; 0, or -1 when a write failed somewhere. */
int record_close(record_t **self_p);

/*  type: invoke, ok, fail, info. f: put, get, delete, cas. */
void record_event(record_t *self, int64_t process, const char *type, const char *f, const char *key,
                  record_str_t value, record_str_t expected);

/*  Pushes what was written to the file (the checker may read it meanwhile). */
void record_flush(record_t *self);

uint64_t record_events(const record_t *self);

/*  Writes s as a JSON string (null when s.data is NULL). */
void record_json_string(FILE *out, record_str_t s);

#endif
