/*  digests: parse "node-id digest" lines and find the nodes that disagree
    with the majority. */
#include "digests.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zkv_error.h"

typedef struct {
    char id[ZKV_LINCHECK_DIGESTS_TOKEN_MAX + 1];
    char digest[ZKV_LINCHECK_DIGESTS_TOKEN_MAX + 1];
} s_node_t;

struct zkv_lincheck_digests_t {
    s_node_t *nodes;
    size_t count;
    size_t reference; /* index of a node with the most common digest */
    size_t *outliers;
    size_t outlier_count;
};

static int s_fail(char *err, size_t err_size, const char *name, size_t line, const char *why)
{
    if (err && err_size)
        snprintf(err, err_size, "%s:%zu: %s", name, line, why);
    return ZKV_EINVAL;
}

/*  Copies the next token of s[*at..len) into out; false if there is none or
    it is too long. */
static bool s_token(const char *s, size_t len, size_t *at, char *out, bool *too_long)
{
    size_t i = *at;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
        i++;
    size_t start = i;
    while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
        i++;
    *at = i;
    if (i - start > ZKV_LINCHECK_DIGESTS_TOKEN_MAX) {
        *too_long = true;
        return false;
    }
    memcpy(out, s + start, i - start);
    out[i - start] = '\0';
    return i > start;
}

/*  Reads one line into self->nodes[self->count]; *blank for an empty line. */
static const char *s_parse_line(zkv_lincheck_digests_t *self, const char *s, size_t len,
                                bool *blank)
{
    s_node_t *node = &self->nodes[self->count];
    size_t at = 0;
    bool too_long = false;
    bool has_id = s_token(s, len, &at, node->id, &too_long);
    *blank = !has_id && !too_long;
    if (*blank)
        return NULL;
    if (self->count == ZKV_LINCHECK_DIGESTS_NODES_MAX)
        return "too many nodes";
    char extra[ZKV_LINCHECK_DIGESTS_TOKEN_MAX + 1];
    if (too_long || !s_token(s, len, &at, node->digest, &too_long) ||
        s_token(s, len, &at, extra, &too_long) || too_long)
        return "expected \"node-id digest\" (two tokens, each at most 256 bytes)";
    if (memchr(s, '\0', len))
        return "NUL byte in line";
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->nodes[i].id, node->id) == 0)
            return "node id listed twice";
    self->count++;
    return NULL;
}

static size_t s_same_digest(const zkv_lincheck_digests_t *self, size_t i)
{
    size_t n = 0;
    for (size_t j = 0; j < self->count; j++)
        n += strcmp(self->nodes[i].digest, self->nodes[j].digest) == 0;
    return n;
}

static int s_find_outliers(zkv_lincheck_digests_t *self)
{
    size_t best = 0;
    for (size_t i = 0; i < self->count; i++) {
        size_t n = s_same_digest(self, i);
        if (n > best) {
            best = n;
            self->reference = i;
        }
    }
    self->outliers = malloc(self->count * sizeof *self->outliers);
    if (!self->outliers)
        return ZKV_ENOMEM;
    const char *ref = self->nodes[self->reference].digest;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->nodes[i].digest, ref) != 0)
            self->outliers[self->outlier_count++] = i;
    return 0;
}

int zkv_lincheck_digests_parse(const char *name, const char *text, size_t size,
                               zkv_lincheck_digests_t **self_p, char *err, size_t err_size)
{
    assert(self_p && (text || size == 0));
    zkv_lincheck_digests_t *self = calloc(1, sizeof *self);
    if (self)
        self->nodes = malloc((ZKV_LINCHECK_DIGESTS_NODES_MAX + 1) * sizeof *self->nodes);
    int rc = self && self->nodes ? 0 : ZKV_ENOMEM;
    size_t line = 1;
    const char *end = text + size;
    for (const char *s = text; rc == 0 && s < end; line++) {
        const char *nl = memchr(s, '\n', (size_t) (end - s));
        size_t len = (size_t) ((nl ? nl : end) - s);
        bool blank;
        const char *why = s_parse_line(self, s, len, &blank);
        if (why)
            rc = s_fail(err, err_size, name, line, why);
        s = nl ? nl + 1 : end;
    }
    if (rc == 0 && self->count == 0)
        rc = s_fail(err, err_size, name, line, "no nodes listed");
    if (rc == 0)
        rc = s_find_outliers(self);
    if (rc != 0)
        zkv_lincheck_digests_destroy(&self);
    *self_p = self;
    return rc;
}

void zkv_lincheck_digests_destroy(zkv_lincheck_digests_t **self_p)
{
    assert(self_p);
    zkv_lincheck_digests_t *self = *self_p;
    if (!self)
        return;
    free(self->nodes);
    free(self->outliers);
    free(self);
    *self_p = NULL;
}

size_t zkv_lincheck_digests_count(const zkv_lincheck_digests_t *self)
{
    return self->count;
}

const char *zkv_lincheck_digests_reference(const zkv_lincheck_digests_t *self)
{
    return self->nodes[self->reference].digest;
}

size_t zkv_lincheck_digests_outlier_count(const zkv_lincheck_digests_t *self)
{
    return self->outlier_count;
}

const char *zkv_lincheck_digests_outlier(const zkv_lincheck_digests_t *self, size_t i)
{
    assert(i < self->outlier_count);
    return self->nodes[self->outliers[i]].id;
}

bool zkv_lincheck_digests_agree(const zkv_lincheck_digests_t *self)
{
    return self->outlier_count == 0;
}

char *zkv_lincheck_digests_describe(const zkv_lincheck_digests_t *self)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return NULL;
    const char *ref = zkv_lincheck_digests_reference(self);
    if (self->outlier_count == 0)
        fprintf(out, "converged: all %zu nodes report digest %s\n", self->count, ref);
    else
        fprintf(out, "diverged: %zu of %zu nodes report digest %s; these differ:\n",
                self->count - self->outlier_count, self->count, ref);
    for (size_t i = 0; i < self->outlier_count; i++) {
        const s_node_t *node = &self->nodes[self->outliers[i]];
        fprintf(out, "  node %s: digest %s\n", node->id, node->digest);
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
