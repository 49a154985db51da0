/*  output: formats, JSON helpers, escaping and aligned tables for zkv. */
#include "output.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int zkv_format_parse(const char *text, zkv_format_t *format)
{
    if (strcmp(text, "simple") == 0)
        *format = ZKV_FORMAT_SIMPLE;
    else if (strcmp(text, "json") == 0)
        *format = ZKV_FORMAT_JSON;
    else if (strcmp(text, "table") == 0)
        *format = ZKV_FORMAT_TABLE;
    else
        return -1;
    return 0;
}

void zkv_output_error(const char *format, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, format);
    vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if ((unsigned char) *p < ' ' || *p == 0x7f)
            *p = ' ';
    fflush(stdout);
    fprintf(stderr, "zkv: %s\n", line);
}

void zkv_output_line(FILE *out, const uint8_t *data, size_t size)
{
    if (size)
        fwrite(data, 1, size, out);
    fputc('\n', out);
}

char *zkv_output_base64(const uint8_t *data, size_t size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((size + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < size; i += 3) {
        uint32_t chunk = (uint32_t) data[i] << 16;
        if (i + 1 < size)
            chunk |= (uint32_t) data[i + 1] << 8;
        if (i + 2 < size)
            chunk |= data[i + 2];
        *p++ = alphabet[chunk >> 18 & 63];
        *p++ = alphabet[chunk >> 12 & 63];
        *p++ = i + 1 < size ? alphabet[chunk >> 6 & 63] : '=';
        *p++ = i + 2 < size ? alphabet[chunk & 63] : '=';
    }
    *p = '\0';
    return out;
}

int zkv_output_json_bytes(json_t *object, const char *name, const uint8_t *data, size_t size)
{
    /* json_stringn refuses bytes that are not UTF-8: that is the test. */
    json_t *text = json_stringn(size ? (const char *) data : "", size);
    if (text)
        return json_object_set_new(object, name, text);
    char *encoded = zkv_output_base64(data, size);
    char field[128];
    snprintf(field, sizeof field, "%s_base64", name);
    int rc = encoded ? json_object_set_new(object, field, json_string(encoded)) : -1;
    free(encoded);
    return rc;
}

json_t *zkv_output_json_u64(uint64_t value)
{
    if (value > (uint64_t) INT64_MAX)
        return json_real((double) value);
    return json_integer((json_int_t) value);
}

int zkv_output_json(json_t *value)
{
    if (!value)
        return -1;
    int rc = json_dumpf(value, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(value);
    if (rc == 0)
        fputc('\n', stdout);
    return rc;
}

/*  Length of the valid UTF-8 sequence at p (1-4), or 0 when it is not one. */
static size_t s_utf8_length(const uint8_t *p, size_t avail)
{
    uint32_t c = p[0];
    size_t n;
    uint32_t min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) || (c >= 0x80 && c < 0xa0))
        return 0;
    return n;
}

char *zkv_output_escape(const uint8_t *data, size_t size, size_t max_chars)
{
    /* Each byte turns into at most 4 characters, plus "..." and the NUL. */
    char *out = malloc(size * 4 + 4);
    if (!out)
        return NULL;
    size_t o = 0, chars = 0;
    for (size_t i = 0; i < size;) {
        if (max_chars && chars == max_chars) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        size_t n = s_utf8_length(data + i, size - i);
        if (n == 1 && data[i] >= ' ' && data[i] != 0x7f && data[i] != '\\') {
            out[o++] = (char) data[i];
        } else if (n == 1 && data[i] == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else if (n > 1) {
            memcpy(out + o, data + i, n);
            o += n;
        } else {
            n = 1;
            o += (size_t) sprintf(out + o, "\\x%02x", data[i]);
        }
        i += n;
        chars++;
    }
    out[o] = '\0';
    return out;
}

/* ---------------------------------------------------------------- tables */

struct zkv_table_t {
    size_t columns;
    size_t rows; /* including the header row */
    size_t capacity;
    char **cells; /* rows * columns */
};

static int s_table_append(zkv_table_t *self, const char *const *cells)
{
    if (self->rows == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 8;
        char **grown = realloc(self->cells, capacity * self->columns * sizeof *grown);
        if (!grown)
            return -1;
        self->cells = grown;
        self->capacity = capacity;
    }
    char **row = self->cells + self->rows * self->columns;
    for (size_t c = 0; c < self->columns; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "");
        if (!row[c]) {
            while (c-- > 0)
                free(row[c]);
            return -1;
        }
    }
    self->rows++;
    return 0;
}

zkv_table_t *zkv_table_new(size_t columns, const char *const *headers)
{
    zkv_table_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->columns = columns;
    if (s_table_append(self, headers))
        zkv_table_destroy(&self);
    return self;
}

void zkv_table_destroy(zkv_table_t **self_p)
{
    zkv_table_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->rows * self->columns; i++)
        free(self->cells[i]);
    free(self->cells);
    free(self);
    *self_p = NULL;
}

int zkv_table_add(zkv_table_t *self, const char *const *cells)
{
    return s_table_append(self, cells);
}

/*  Characters shown for a UTF-8 string: bytes that do not continue a sequence. */
static size_t s_width(const char *text)
{
    size_t width = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        width += (*p & 0xc0) != 0x80;
    return width;
}

static void s_rule(const size_t *widths, size_t columns, FILE *out)
{
    for (size_t c = 0; c < columns; c++) {
        fputc('+', out);
        for (size_t i = 0; i < widths[c] + 2; i++)
            fputc('-', out);
    }
    fputs("+\n", out);
}

static void s_row(char *const *row, const size_t *widths, size_t columns, bool boxed, FILE *out)
{
    for (size_t c = 0; c < columns; c++) {
        size_t pad = widths[c] - s_width(row[c]);
        if (boxed)
            fprintf(out, "| %s%*s ", row[c], (int) pad, "");
        else if (c + 1 < columns)
            fprintf(out, "%s%*s  ", row[c], (int) pad, "");
        else
            fputs(row[c], out);
    }
    fputs(boxed ? "|\n" : "\n", out);
}

void zkv_table_print(const zkv_table_t *self, FILE *out, bool boxed)
{
    size_t *widths = calloc(self->columns, sizeof *widths);
    if (!widths)
        return;
    for (size_t r = 0; r < self->rows; r++)
        for (size_t c = 0; c < self->columns; c++) {
            size_t w = s_width(self->cells[r * self->columns + c]);
            widths[c] = w > widths[c] ? w : widths[c];
        }
    if (boxed)
        s_rule(widths, self->columns, out);
    for (size_t r = 0; r < self->rows; r++) {
        s_row(self->cells + r * self->columns, widths, self->columns, boxed, out);
        if (boxed && r == 0)
            s_rule(widths, self->columns, out);
    }
    if (boxed)
        s_rule(widths, self->columns, out);
    free(widths);
}
