/*  digests: the convergence check after the faults heal. Every node reports a
    digest of its state machine; all must be equal. Input is one
    "node-id digest" pair per line (two whitespace-separated tokens; blank
    lines skipped); what a digest is, is the node's business. */
#ifndef ZKV_LINCHECK_DIGESTS_H
#define ZKV_LINCHECK_DIGESTS_H

#include <stdbool.h>
#include <stddef.h>

/*  Most nodes and longest token accepted. */
#define ZKV_LINCHECK_DIGESTS_NODES_MAX 1024
#define ZKV_LINCHECK_DIGESTS_TOKEN_MAX 256

typedef struct zkv_lincheck_digests_t zkv_lincheck_digests_t;

/*  Parses the pairs; ZKV_EINVAL with "name:line: why" in err for a malformed
    line, a repeated node id or no node at all; ZKV_ENOMEM. */
int zkv_lincheck_digests_parse(const char *name, const char *text, size_t size,
                               zkv_lincheck_digests_t **self_p, char *err, size_t err_size);

void zkv_lincheck_digests_destroy(zkv_lincheck_digests_t **self_p);

size_t zkv_lincheck_digests_count(const zkv_lincheck_digests_t *self);

/*  The digest most nodes report (ties go to the one listed first). */
const char *zkv_lincheck_digests_reference(const zkv_lincheck_digests_t *self);

/*  Nodes whose digest differs from the reference, in input order. */
size_t zkv_lincheck_digests_outlier_count(const zkv_lincheck_digests_t *self);
const char *zkv_lincheck_digests_outlier(const zkv_lincheck_digests_t *self, size_t i);

bool zkv_lincheck_digests_agree(const zkv_lincheck_digests_t *self);

/*  A readable report; the caller frees it. NULL when out of memory. */
char *zkv_lincheck_digests_describe(const zkv_lincheck_digests_t *self);

#endif
