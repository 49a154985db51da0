/*  history: JSON lines -> per-key operations for lincheck.

    Each line is decoded with jansson and every field checked before it is
    used; the first bad line stops the parse with "name:line: why". An
    invoke opens an operation for its process; the next ok, fail or info of
    that process closes it. Operations still open at the end stay INFO. */
#include "history.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zkv_error.h"

typedef struct {
    char *name;
    zkv_lincheck_op_t *ops; /* own their value and expected strings */
    size_t count;
    size_t cap;
} s_key_t;

struct zkv_history_t {
    json_t *key_index; /* key -> index into keys */
    s_key_t *keys;
    size_t key_count;
    size_t key_cap;
    json_t *open;       /* process (decimal) -> [key index, op index] */
    json_t *final_keys; /* keys in the final state dump -> true */
    size_t events;
    uint64_t last_line;
    bool has_final;
};

enum { S_INVOKE = -1 }; /* an event's type: S_INVOKE or a zkv_lincheck_outcome_t */

/*  One decoded line; strings are borrowed from the JSON object. */
typedef struct {
    long long process;
    int type;
    zkv_lincheck_f_t f;
    const char *key;
    const char *value;
    const char *expected;
    long long time_ns;
} s_event_t;

/*  Where a line is, for messages. */
typedef struct {
    const char *name;
    uint64_t line;
    char *err;
    size_t err_size;
} s_where_t;

static int s_fail(const s_where_t *where, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int s_fail(const s_where_t *where, const char *format, ...)
{
    if (!where->err || where->err_size == 0)
        return ZKV_EINVAL;
    int n = snprintf(where->err, where->err_size, "%s:%llu: ", where->name,
                     (unsigned long long) where->line);
    if (n >= 0 && (size_t) n < where->err_size) {
        va_list args;
        va_start(args, format);
        vsnprintf(where->err + n, where->err_size - (size_t) n, format, args);
        va_end(args);
    }
    return ZKV_EINVAL;
}

static char *s_strdup_or_null(const char *s, bool *nomem)
{
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *nomem = true;
    return copy;
}

static bool s_same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* ---- fields ------------------------------------------------------------------ */

static int s_enum_field(const s_where_t *where, json_t *obj, const char *field,
                        const char *const *names, int count, int *out)
{
    json_t *v = json_object_get(obj, field);
    if (!v)
        return s_fail(where, "missing field \"%s\"", field);
    if (!json_is_string(v))
        return s_fail(where, "field \"%s\" must be a string", field);
    for (int i = 0; i < count; i++) {
        if (strcmp(json_string_value(v), names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return s_fail(where, "field \"%s\" has an unknown value \"%s\"", field, json_string_value(v));
}

static int s_int_field(const s_where_t *where, json_t *obj, const char *field, long long *out)
{
    json_t *v = json_object_get(obj, field);
    if (!v)
        return s_fail(where, "missing field \"%s\"", field);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return s_fail(where, "field \"%s\" must be a non-negative integer", field);
    *out = (long long) json_integer_value(v);
    return 0;
}

/*  A string or null; a missing field is null. */
static int s_nullable_field(const s_where_t *where, json_t *obj, const char *field,
                            const char **out)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return s_fail(where, "field \"%s\" must be a string or null", field);
    *out = json_string_value(v);
    return 0;
}

static int s_decode_event(const s_where_t *where, json_t *obj, s_event_t *ev)
{
    static const char *const types[] = {"ok", "fail", "info", "invoke"};
    static const char *const fs[] = {"put", "get", "delete", "cas"};
    int type = 0, f = 0;
    int rc = s_int_field(where, obj, "process", &ev->process);
    if (rc == 0)
        rc = s_enum_field(where, obj, "type", types, 4, &type);
    if (rc == 0)
        rc = s_enum_field(where, obj, "f", fs, 4, &f);
    if (rc == 0 && !json_is_string(json_object_get(obj, "key")))
        rc = s_fail(where, "field \"key\" must be a string");
    if (rc == 0)
        rc = s_nullable_field(where, obj, "value", &ev->value);
    if (rc == 0)
        rc = s_nullable_field(where, obj, "expected", &ev->expected);
    if (rc == 0)
        rc = s_int_field(where, obj, "time", &ev->time_ns);
    if (rc != 0)
        return rc;
    ev->type = type == 3 ? S_INVOKE : type;
    ev->f = (zkv_lincheck_f_t) f;
    ev->key = json_string_value(json_object_get(obj, "key"));
    return 0;
}

/* ---- keys and open operations --------------------------------------------------- */

static int s_key_find_or_add(zkv_history_t *self, const char *key, size_t *index)
{
    json_t *found = json_object_get(self->key_index, key);
    if (found) {
        *index = (size_t) json_integer_value(found);
        return 0;
    }
    if (self->key_count == self->key_cap) {
        size_t cap = self->key_cap ? self->key_cap * 2 : 16;
        s_key_t *keys = realloc(self->keys, cap * sizeof *keys);
        if (!keys)
            return ZKV_ENOMEM;
        self->keys = keys;
        self->key_cap = cap;
    }
    s_key_t *k = &self->keys[self->key_count];
    *k = (s_key_t){strdup(key), NULL, 0, 0};
    if (!k->name ||
        json_object_set_new(self->key_index, key, json_integer((json_int_t) self->key_count))) {
        free(k->name);
        return ZKV_ENOMEM;
    }
    *index = self->key_count++;
    return 0;
}

static zkv_lincheck_op_t *s_op_append(s_key_t *key)
{
    if (key->count == key->cap) {
        size_t cap = key->cap ? key->cap * 2 : 64;
        zkv_lincheck_op_t *ops = realloc(key->ops, cap * sizeof *ops);
        if (!ops)
            return NULL;
        key->ops = ops;
        key->cap = cap;
    }
    zkv_lincheck_op_t *op = &key->ops[key->count++];
    memset(op, 0, sizeof *op);
    return op;
}

static void s_process_name(long long process, char *buf, size_t size)
{
    snprintf(buf, size, "%lld", process);
}

/* ---- invoke and completion ------------------------------------------------------- */

static int s_check_invoke(const s_where_t *where, const s_event_t *ev)
{
    bool writes = ev->f == ZKV_LINCHECK_PUT || ev->f == ZKV_LINCHECK_CAS;
    if (writes && !ev->value)
        return s_fail(where, "a %s invoke needs a string \"value\"", zkv_lincheck_f_name(ev->f));
    if (!writes && ev->value)
        return s_fail(where, "a %s invoke must have \"value\" null", zkv_lincheck_f_name(ev->f));
    if (ev->f != ZKV_LINCHECK_CAS && ev->expected)
        return s_fail(where, "only cas has an \"expected\" value");
    return 0;
}

static int s_invoke(zkv_history_t *self, const s_where_t *where, const s_event_t *ev)
{
    char pname[32];
    s_process_name(ev->process, pname, sizeof pname);
    json_t *open = json_object_get(self->open, pname);
    if (open) {
        const s_key_t *k = &self->keys[json_integer_value(json_array_get(open, 0))];
        const zkv_lincheck_op_t *prev = &k->ops[json_integer_value(json_array_get(open, 1))];
        return s_fail(where, "process %lld invokes again while its %s from line %llu is open",
                      ev->process, zkv_lincheck_f_name(prev->f),
                      (unsigned long long) prev->call_pos);
    }
    int rc = s_check_invoke(where, ev);
    size_t key = 0;
    if (rc == 0)
        rc = s_key_find_or_add(self, ev->key, &key);
    zkv_lincheck_op_t *op = rc == 0 ? s_op_append(&self->keys[key]) : NULL;
    if (rc != 0 || !op)
        return rc != 0 ? rc : ZKV_ENOMEM;
    bool nomem = false;
    *op = (zkv_lincheck_op_t){ev->f,
                              ZKV_LINCHECK_INFO,
                              s_strdup_or_null(ev->value, &nomem),
                              s_strdup_or_null(ev->expected, &nomem),
                              where->line,
                              0,
                              ev->process,
                              ev->time_ns,
                              -1};
    json_t *ref = json_pack("[I,I]", (json_int_t) key, (json_int_t) (self->keys[key].count - 1));
    if (nomem || !ref || json_object_set_new(self->open, pname, ref) != 0)
        return ZKV_ENOMEM;
    return 0;
}

/*  The completion must describe the operation its process invoked. */
static int s_check_completion(const s_where_t *where, const s_event_t *ev,
                              const zkv_lincheck_op_t *op, const char *key)
{
    const char *f = zkv_lincheck_f_name(op->f);
    unsigned long long line = (unsigned long long) op->call_pos;
    if (ev->f != op->f)
        return s_fail(where, "process %lld completes a %s, but its invoke at line %llu is a %s",
                      ev->process, zkv_lincheck_f_name(ev->f), line, f);
    if (strcmp(ev->key, key) != 0)
        return s_fail(where, "key \"%s\" differs from \"%s\" of the invoke at line %llu", ev->key,
                      key, line);
    if (ev->time_ns < op->call_time_ns)
        return s_fail(where, "time %lld is before the invoke's time %lld (line %llu)", ev->time_ns,
                      (long long) op->call_time_ns, line);
    if (ev->expected && !s_same(ev->expected, op->expected))
        return s_fail(where, "\"expected\" differs from the invoke at line %llu", line);
    if (op->f == ZKV_LINCHECK_GET) {
        if (ev->value && ev->type != ZKV_LINCHECK_OK)
            return s_fail(where, "a get that is not ok must have \"value\" null");
        return 0;
    }
    if (ev->value && !s_same(ev->value, op->value))
        return s_fail(where, "\"value\" differs from the invoke at line %llu", line);
    return 0;
}

static int s_complete(zkv_history_t *self, const s_where_t *where, const s_event_t *ev)
{
    char pname[32];
    s_process_name(ev->process, pname, sizeof pname);
    json_t *open = json_object_get(self->open, pname);
    if (!open)
        return s_fail(where,
                      "process %lld completes an operation it never invoked (or already "
                      "completed)",
                      ev->process);
    s_key_t *k = &self->keys[json_integer_value(json_array_get(open, 0))];
    zkv_lincheck_op_t *op = &k->ops[json_integer_value(json_array_get(open, 1))];
    int rc = s_check_completion(where, ev, op, k->name);
    if (rc != 0)
        return rc;
    if (op->f == ZKV_LINCHECK_GET && ev->value) {
        bool nomem = false;
        op->value = s_strdup_or_null(ev->value, &nomem);
        if (nomem)
            return ZKV_ENOMEM;
    }
    op->outcome = (zkv_lincheck_outcome_t) ev->type;
    op->ret_pos = where->line;
    op->ret_time_ns = ev->time_ns;
    json_object_del(self->open, pname);
    return 0;
}

/* ---- lines ------------------------------------------------------------------------ */

static bool s_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/*  Decodes one line into a JSON object; *obj_p NULL means a blank line. */
static int s_decode_line(const s_where_t *where, const char *s, size_t len, json_t **obj_p)
{
    *obj_p = NULL;
    if (s_blank(s, len))
        return 0;
    if (len > ZKV_HISTORY_LINE_SIZE_MAX)
        return s_fail(where, "line longer than %u bytes", ZKV_HISTORY_LINE_SIZE_MAX);
    json_error_t error;
    json_t *obj = json_loadb(s, len, JSON_REJECT_DUPLICATES, &error);
    if (!obj)
        return s_fail(where, "invalid JSON: %s (column %d)", error.text, error.column);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return s_fail(where, "not a JSON object");
    }
    *obj_p = obj;
    return 0;
}

typedef int (*s_line_fn)(zkv_history_t *self, const s_where_t *where, json_t *obj);

/*  Calls fn for each non-blank line, stopping at the first error. */
static int s_for_each_line(zkv_history_t *self, s_where_t *where, const char *text, size_t size,
                           s_line_fn fn)
{
    const char *end = text + size;
    for (const char *s = text; s < end; where->line++) {
        const char *nl = memchr(s, '\n', (size_t) (end - s));
        size_t len = (size_t) ((nl ? nl : end) - s);
        json_t *obj;
        int rc = s_decode_line(where, s, len, &obj);
        if (rc == 0 && obj)
            rc = fn(self, where, obj);
        json_decref(obj);
        if (rc != 0)
            return rc;
        s = nl ? nl + 1 : end;
    }
    return 0;
}

static int s_history_line(zkv_history_t *self, const s_where_t *where, json_t *obj)
{
    s_event_t ev = {0};
    int rc = s_decode_event(where, obj, &ev);
    if (rc != 0)
        return rc;
    self->events++;
    self->last_line = where->line;
    return ev.type == S_INVOKE ? s_invoke(self, where, &ev) : s_complete(self, where, &ev);
}

int zkv_history_parse(const char *name, const char *text, size_t size, zkv_history_t **self_p,
                      char *err, size_t err_size)
{
    assert(self_p && (text || size == 0));
    if (err && err_size)
        err[0] = '\0';
    zkv_history_t *self = calloc(1, sizeof *self);
    if (self) {
        self->key_index = json_object();
        self->open = json_object();
    }
    int rc = self && self->key_index && self->open ? 0 : ZKV_ENOMEM;
    s_where_t where = {name, 1, err, err_size};
    if (rc == 0)
        rc = s_for_each_line(self, &where, text, size, s_history_line);
    if (rc == ZKV_ENOMEM && err && err_size)
        snprintf(err, err_size, "%s: out of memory", name);
    if (rc != 0)
        zkv_history_destroy(&self);
    *self_p = self;
    return rc;
}

void zkv_history_destroy(zkv_history_t **self_p)
{
    assert(self_p);
    zkv_history_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->key_count; i++) {
        for (size_t j = 0; j < self->keys[i].count; j++) {
            free((char *) self->keys[i].ops[j].value);
            free((char *) self->keys[i].ops[j].expected);
        }
        free(self->keys[i].ops);
        free(self->keys[i].name);
    }
    free(self->keys);
    json_decref(self->key_index);
    json_decref(self->open);
    json_decref(self->final_keys);
    free(self);
    *self_p = NULL;
}

/* ---- the final state ------------------------------------------------------------- */

/*  A read of the final state, after every event of the history. */
static int s_add_final_read(zkv_history_t *self, size_t key, const char *value)
{
    zkv_lincheck_op_t *op = s_op_append(&self->keys[key]);
    bool nomem = false;
    if (!op)
        return ZKV_ENOMEM;
    *op = (zkv_lincheck_op_t){ZKV_LINCHECK_GET,
                              ZKV_LINCHECK_OK,
                              s_strdup_or_null(value, &nomem),
                              NULL,
                              self->last_line + 1,
                              self->last_line + 2,
                              -1,
                              -1,
                              -1};
    return nomem ? ZKV_ENOMEM : 0;
}

static int s_final_line(zkv_history_t *self, const s_where_t *where, json_t *obj)
{
    json_t *key = json_object_get(obj, "key");
    const char *value;
    if (!json_is_string(key))
        return s_fail(where, "field \"key\" must be a string");
    int rc = s_nullable_field(where, obj, "value", &value);
    if (rc != 0)
        return rc;
    size_t index;
    if (json_object_get(self->final_keys, json_string_value(key)))
        return s_fail(where, "key \"%s\" appears twice", json_string_value(key));
    rc = s_key_find_or_add(self, json_string_value(key), &index);
    if (rc == 0 && json_object_set_new(self->final_keys, json_string_value(key), json_true()))
        rc = ZKV_ENOMEM;
    return rc == 0 ? s_add_final_read(self, index, value) : rc;
}

int zkv_history_add_final(zkv_history_t *self, const char *name, const char *text, size_t size,
                          char *err, size_t err_size)
{
    assert(self && (text || size == 0));
    s_where_t where = {name, 1, err, err_size};
    if (self->has_final)
        return s_fail(&where, "the history already has a final state");
    self->has_final = true;
    self->final_keys = json_object();
    if (!self->final_keys)
        return ZKV_ENOMEM;
    size_t history_keys = self->key_count;
    int rc = s_for_each_line(self, &where, text, size, s_final_line);
    for (size_t i = 0; rc == 0 && i < history_keys; i++)
        if (!json_object_get(self->final_keys, self->keys[i].name))
            rc = s_add_final_read(self, i, NULL);
    if (rc == ZKV_ENOMEM && err && err_size)
        snprintf(err, err_size, "%s: out of memory", name);
    return rc;
}

/*  Doubles the buffer, refusing to pass ZKV_HISTORY_FILE_SIZE_MAX. */
static int s_grow(char **text_p, size_t *cap_p)
{
    if (*cap_p > ZKV_HISTORY_FILE_SIZE_MAX) {
        errno = EFBIG;
        return ZKV_EIO;
    }
    char *grown = realloc(*text_p, *cap_p * 2);
    if (!grown)
        return ZKV_ENOMEM;
    *text_p = grown;
    *cap_p *= 2;
    return 0;
}

int zkv_history_read_file(const char *path, char **text_p, size_t *size_p)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ZKV_EIO;
    size_t size = 0, cap = 1 << 16;
    char *text = malloc(cap);
    int rc = text ? 0 : ZKV_ENOMEM;
    while (rc == 0) {
        size_t n = fread(text + size, 1, cap - size - 1, f);
        size += n;
        if (n == 0)
            break;
        if (size + 1 == cap)
            rc = s_grow(&text, &cap);
    }
    if (rc == 0 && ferror(f))
        rc = ZKV_EIO;
    int saved = errno;
    fclose(f);
    errno = saved;
    if (rc != 0) {
        free(text);
        return rc;
    }
    text[size] = '\0';
    *text_p = text;
    *size_p = size;
    return 0;
}

static int s_load(const char *path, char **text_p, size_t *size_p, char *err, size_t err_size)
{
    int rc = zkv_history_read_file(path, text_p, size_p);
    if (rc != 0 && err && err_size)
        snprintf(err, err_size, "%s: %s", path,
                 rc == ZKV_EIO && errno ? strerror(errno) : zkv_strerror(rc));
    return rc;
}

int zkv_history_load(const char *path, zkv_history_t **self_p, char *err, size_t err_size)
{
    char *text;
    size_t size;
    *self_p = NULL;
    int rc = s_load(path, &text, &size, err, err_size);
    if (rc != 0)
        return rc;
    rc = zkv_history_parse(path, text, size, self_p, err, err_size);
    free(text);
    return rc;
}

int zkv_history_load_final(zkv_history_t *self, const char *path, char *err, size_t err_size)
{
    char *text;
    size_t size;
    int rc = s_load(path, &text, &size, err, err_size);
    if (rc != 0)
        return rc;
    rc = zkv_history_add_final(self, path, text, size, err, err_size);
    free(text);
    return rc;
}

size_t zkv_history_event_count(const zkv_history_t *self)
{
    return self->events;
}

size_t zkv_history_key_count(const zkv_history_t *self)
{
    return self->key_count;
}

const char *zkv_history_key(const zkv_history_t *self, size_t key)
{
    assert(key < self->key_count);
    return self->keys[key].name;
}

size_t zkv_history_ops(const zkv_history_t *self, size_t key, const zkv_lincheck_op_t **ops_p)
{
    assert(key < self->key_count);
    *ops_p = self->keys[key].ops;
    return self->keys[key].count;
}
