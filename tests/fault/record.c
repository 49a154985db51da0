/*  record: the history file. Values are written as JSON strings; a byte
    that is not printable ASCII becomes \u00XX, so whatever a node answers,
    the line stays valid JSON and distinct answers stay distinct. */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

struct record_t {
    FILE *file;
    uint64_t events;
    int failed;
};

record_t *record_open(const char *path, char *err, size_t err_size)
{
    record_t *self = calloc(1, sizeof *self);
    if (self)
        self->file = fopen(path, "w");
    if (!self || !self->file) {
        snprintf(err, err_size, "history %s: %s", path, strerror(errno));
        free(self);
        return NULL;
    }
    return self;
}

int record_close(record_t **self_p)
{
    record_t *self = *self_p;
    if (!self)
        return 0;
    int rc = self->failed || fflush(self->file) != 0 || ferror(self->file) ? -1 : 0;
    if (fclose(self->file) != 0)
        rc = -1;
    free(self);
    *self_p = NULL;
    return rc;
}

void record_json_string(FILE *f, record_str_t s)
{
    if (!s.data) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < s.size; i++) {
        unsigned char c = (unsigned char) s.data[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static record_str_t s_cstr(const char *text)
{
    return (record_str_t){text, strlen(text)};
}

void record_event(record_t *self, int64_t process, const char *type, const char *f, const char *key,
                  record_str_t value, record_str_t expected)
{
    FILE *out = self->file;
    fprintf(out,
            "{\"process\": %lld, \"type\": \"%s\", \"f\": \"%s\", \"key\": ", (long long) process,
            type, f);
    record_json_string(out, s_cstr(key));
    fputs(", \"value\": ", out);
    record_json_string(out, value);
    fputs(", \"expected\": ", out);
    record_json_string(out, expected);
    if (fprintf(out, ", \"time\": %lld}\n", (long long) fault_now_ns()) < 0)
        self->failed = 1;
    self->events++;
}

void record_flush(record_t *self)
{
    if (fflush(self->file) != 0)
        self->failed = 1;
}

uint64_t record_events(const record_t *self)
{
    return self->events;
}
