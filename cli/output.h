/*  output: how zkv prints. Three formats (-w): simple (values as raw bytes,
    like etcdctl), json (one JSON document per line, jansson) and table
    (bordered, for people); plus the one-line "zkv: <error>" on stderr.

    JSON and binary data: a key or value that is valid UTF-8 becomes a JSON
    string (control characters escaped by JSON's rules, NUL as \u0000); any
    other bytes become base64 under the name with "_base64" appended
    ("value_base64" instead of "value"). Table cells show valid UTF-8 as is and
    every other byte, and control characters, as \xNN. */
#ifndef ZKV_OUTPUT_H
#define ZKV_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*  Table cells longer than this many characters are cut, ending in "...". */
#define ZKV_OUTPUT_CELL_MAX 64

typedef enum { ZKV_FORMAT_SIMPLE, ZKV_FORMAT_JSON, ZKV_FORMAT_TABLE } zkv_format_t;

/*  "simple", "json" or "table". 0 or -1. */
int zkv_format_parse(const char *text, zkv_format_t *format);

/*  "zkv: <message>" and a newline on stderr; newlines and other control
    characters in the message become spaces so it stays one line. */
void zkv_output_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

/*  Write the bytes as they are, then a newline. */
void zkv_output_line(FILE *out, const uint8_t *data, size_t size);

/*  Set name on a JSON object to the bytes, as a string or base64 (see above).
    0, or -1 when memory runs out. */
int zkv_output_json_bytes(json_t *object, const char *name, const uint8_t *data, size_t size);

/*  A JSON number for an unsigned 64-bit value (a real beyond INT64_MAX). */
json_t *zkv_output_json_u64(uint64_t value);

/*  Print a JSON value on one line on stdout and release it. 0, or -1 when it is
    NULL (memory ran out) or cannot be written. */
int zkv_output_json(json_t *value);

/*  A printable, NUL-terminated copy of bytes (see above), cut after max_chars
    characters (0: no limit). The caller frees it; NULL when memory runs out. */
char *zkv_output_escape(const uint8_t *data, size_t size, size_t max_chars);

/*  Standard base64 of the bytes, NUL-terminated; the caller frees it. */
char *zkv_output_base64(const uint8_t *data, size_t size);

/*  Rows of cells printed in aligned columns. */
typedef struct zkv_table_t zkv_table_t;

zkv_table_t *zkv_table_new(size_t columns, const char *const *headers);
void zkv_table_destroy(zkv_table_t **self_p);
/*  Append a row; the cells (columns of them) are copied. 0 or -1. */
int zkv_table_add(zkv_table_t *self, const char *const *cells);
/*  Print with +---+ borders (boxed) or as plain space-separated columns. */
void zkv_table_print(const zkv_table_t *self, FILE *out, bool boxed);

#endif
