/*  http_get: one HTTP/1.1 request to 127.0.0.1, for the tests of a node's
    metrics port and of a Prometheus server's API. */
#ifndef ZKV_HTTP_GET_H
#define ZKV_HTTP_GET_H

#include <stddef.h>
#include <stdint.h>

/*  Send raw (a whole request, or anything) to 127.0.0.1:port and read until
    the server closes or timeout_ms passes. The status code of the answer (0:
    none readable, -1: no connection) and its body, malloc'd, in *body_p. */
int http_raw(uint16_t port, const char *raw, int64_t timeout_ms, char **body_p);

/*  GET path (already URL-encoded). */
int http_get(uint16_t port, const char *path, int64_t timeout_ms, char **body_p);

/*  s with every byte outside unreserved characters percent-encoded (malloc'd). */
char *http_escape(const char *s);

#endif
