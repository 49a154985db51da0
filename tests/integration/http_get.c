/*  http_get (http_get.h). */
#include "http_get.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int s_connect(uint16_t port, int64_t timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int http_raw(uint16_t port, const char *raw, int64_t timeout_ms, char **body_p)
{
    *body_p = NULL;
    int fd = s_connect(port, timeout_ms);
    if (fd < 0)
        return -1;
    size_t len = strlen(raw);
    if (send(fd, raw, len, MSG_NOSIGNAL) != (ssize_t) len) {
        close(fd);
        return 0;
    }
    size_t size = 0, cap = 65536;
    char *buf = malloc(cap + 1);
    for (ssize_t n; buf && (n = recv(fd, buf + size, cap - size, 0)) > 0;) {
        size += (size_t) n;
        if (size == cap) {
            char *grown = realloc(buf, 2 * cap + 1);
            if (!grown)
                break;
            buf = grown;
            cap *= 2;
        }
    }
    close(fd);
    if (!buf)
        return 0;
    buf[size] = 0;
    int code = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
        code = 0;
    char *body = strstr(buf, "\r\n\r\n");
    *body_p = strdup(body ? body + 4 : "");
    free(buf);
    return code;
}

int http_get(uint16_t port, const char *path, int64_t timeout_ms, char **body_p)
{
    char raw[4096];
    snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n",
             path, port);
    return http_raw(port, raw, timeout_ms, body_p);
}

char *http_escape(const char *s)
{
    char *out = malloc(3 * strlen(s) + 1), *o = out;
    for (; out && *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            *o++ = (char) c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    if (out)
        *o = 0;
    return out;
}
