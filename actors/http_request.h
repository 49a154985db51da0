/*  http_request: the little HTTP/1.x a metrics endpoint needs, without
    sockets: a request line out of the bytes a connection sent so far, and a
    whole response to send back before the connection closes. */
#ifndef ZKV_HTTP_REQUEST_H
#define ZKV_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

/*  A request's head (line and headers) longer than this is refused. */
#define ZKV_HTTP_HEAD_MAX 8192

typedef struct {
    char method[16];
    char path[256]; /* without the query string */
} zkv_http_request_t;

typedef enum {
    ZKV_HTTP_INCOMPLETE = 0, /* the head has not ended yet: read more */
    ZKV_HTTP_COMPLETE = 1,   /* *req holds the request */
    ZKV_HTTP_MALFORMED = -1, /* not HTTP/1.x, or a head over ZKV_HTTP_HEAD_MAX */
} zkv_http_parse_t;

/*  The bytes a connection sent so far (a body, which GET has not, is ignored). */
zkv_http_parse_t zkv_http_parse(const char *data, size_t size, zkv_http_request_t *req);

/*  A response with status code (200, 400, 404, 405, 503), its body of
    content_type (without one when head_only, as HEAD asks), and
    "Connection: close". malloc'd, *size_p its length; NULL when out of memory. */
char *zkv_http_response(int code, const char *content_type, const char *body, size_t body_size,
                        bool head_only, size_t *size_p);

#endif
