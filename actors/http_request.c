/*  http_request: parsing a request head and writing a response (http_request.h). */
#include "http_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/*  "METHOD SP TARGET SP HTTP/1.x" of exactly the line at data. */
static bool s_request_line(const char *line, size_t size, zkv_http_request_t *req)
{
    const char *sp1 = memchr(line, ' ', size);
    if (!sp1 || sp1 == line || (size_t) (sp1 - line) >= sizeof req->method)
        return false;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', size - (size_t) (target - line));
    if (!sp2 || sp2 == target || *target != '/')
        return false;
    size_t version = size - (size_t) (sp2 + 1 - line);
    if (version != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return false;
    const char *query = memchr(target, '?', (size_t) (sp2 - target));
    size_t path = (size_t) ((query ? query : sp2) - target);
    if (path >= sizeof req->path)
        return false;
    memcpy(req->method, line, (size_t) (sp1 - line));
    req->method[sp1 - line] = 0;
    memcpy(req->path, target, path);
    req->path[path] = 0;
    for (size_t i = 0; i < path; i++)
        if ((unsigned char) req->path[i] <= ' ' || req->path[i] == 0x7f)
            return false;
    return true;
}

zkv_http_parse_t zkv_http_parse(const char *data, size_t size, zkv_http_request_t *req)
{
    size_t scan = size < ZKV_HTTP_HEAD_MAX ? size : ZKV_HTTP_HEAD_MAX;
    const char *end = NULL;
    for (size_t i = 3; i < scan && !end; i++)
        if (memcmp(data + i - 3, "\r\n\r\n", 4) == 0)
            end = data + i - 3;
    if (!end)
        return size >= ZKV_HTTP_HEAD_MAX ? ZKV_HTTP_MALFORMED : ZKV_HTTP_INCOMPLETE;
    const char *eol = memchr(data, '\r', (size_t) (end - data) + 1);
    if (!eol || !s_request_line(data, (size_t) (eol - data), req))
        return ZKV_HTTP_MALFORMED;
    return ZKV_HTTP_COMPLETE;
}

char *zkv_http_response(int code, const char *content_type, const char *body, size_t body_size,
                        bool head_only, size_t *size_p)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, s_reason(code), content_type, body_size);
    size_t sent_body = head_only ? 0 : body_size;
    char *out = malloc((size_t) n + sent_body);
    if (!out)
        return NULL;
    memcpy(out, head, (size_t) n);
    if (sent_body)
        memcpy(out + n, body, sent_body);
    *size_p = (size_t) n + sent_body;
    return out;
}
