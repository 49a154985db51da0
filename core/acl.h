/*  acl: who may do what on which keys. A node knows each client by its CURVE
    public key, and the key's certificate names a user; the authorization file
    grants users rights on key prefixes. This is its parser and the checks the
    node makes on every request; the caller reads the file (again on SIGHUP)
    and passes its text. Pure: no I/O, no clock, nothing shared.

    ---- The authorization file (copy into docs as it stands) ----

        # comment; blank lines ignored
        # USER     RIGHTS   PREFIX...
        admin      admin
        app        rw       app/ config/
        reporter   r        app/ "metrics x/" \x00bin/
        *          r        public/

    One rule per line: a user, a rights word, then prefixes, separated by
    spaces or tabs.

    USER    the name in a client's certificate, or `*` for every
            authenticated client (the name `*` is reserved). The rules of `*`
            add to each user's own.
    RIGHTS  r      read: get, scan/range, watch.
            rw     read and write: put, delete, cas, txn, and the leases
                   attached to its keys. (There is no write without read.)
            admin  everything: read and write on every key, and the cluster
                   operations (member add/remove, move leader, snapshot and
                   backup, compaction, lease grant/revoke without a key).
            admin takes no prefixes; r and rw need at least one.
    PREFIX  grants every key that starts with it. `""` or a lone `*` grants
            every key. A token in double quotes may hold spaces and tabs. In
            any token, \xHH is the byte HH (two hex digits), \\ a backslash
            and \" a quote; any other backslash is an error, as is a quote
            inside an unquoted token. Longest prefix: 4096 bytes (a key's).

    A `#` that begins a token starts a comment to the end of the line (quote
    the token, or write \x23, for a prefix that starts with `#`). Lines end
    with LF or CRLF; other control bytes (NUL included) must be escaped.
    Several lines for one user add up; a user without rules has no rights.
    Limits: a line of at most 64 KiB, at most 100,000 rules (one per prefix
    of an r or rw line, one per admin line). A file that breaks any of this
    is refused whole, with the first error as "line N: what".

    ---- End of the file format ----

    A NULL acl means the node has no authorization file: every check below
    then answers true. A NULL user is a client without a name (not
    authenticated): with an acl, it may do nothing, not even what `*` may.
    Rights are a non-empty mask of zkv_acl_right_t (asserted); a check
    answers true only when every right of the mask is granted. */
#ifndef ZKV_ACL_H
#define ZKV_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "zkv_types.h"

/*  Longest line, without its line ending. */
#define ZKV_ACL_LINE_SIZE_MAX (64u * 1024)
/*  Most rules in one file. */
#define ZKV_ACL_RULES_MAX 100000

typedef enum {
    ZKV_ACL_READ = 1,
    ZKV_ACL_WRITE = 2,
    ZKV_ACL_ADMIN = 4, /* the cluster operations; implies READ and WRITE on every key */
} zkv_acl_right_t;

typedef struct zkv_acl_t zkv_acl_t;

/*  The rules in text (size bytes; need not end with a NUL or a newline).
    NULL when it is malformed, with "line N: what" in err (if not NULL;
    cut to err_size), or when memory runs out ("out of memory"). */
zkv_acl_t *zkv_acl_parse(const char *text, size_t size, char *err, size_t err_size);
void zkv_acl_destroy(zkv_acl_t **self_p);

/*  Rules as written (see the limits above); 0 for a NULL acl. */
size_t zkv_acl_rules(const zkv_acl_t *self);

/*  Whether user may do rights on key. */
bool zkv_acl_allows_key(const zkv_acl_t *self, const char *user, zkv_bytes_t key, unsigned rights);

/*  Whether user may do rights on every key of [start, end); an empty end
    (size 0) means no upper bound. True only when, for each right, one
    granted prefix alone covers the whole range: start begins with the
    prefix, and end <= the prefix's successor (the smallest key greater than
    every key with that prefix: "app/" -> "app0", "a\xff" -> "b"). A prefix
    of 0xff bytes only, or the empty one, has no successor and covers any
    end. Ranges that only several prefixes together cover are refused. */
bool zkv_acl_allows_range(const zkv_acl_t *self, const char *user, zkv_bytes_t start,
                          zkv_bytes_t end, unsigned rights);

/*  Whether user may do rights on every key that starts with prefix (a scan
    or watch by prefix; the empty prefix is every key). The key prefix is
    itself one of them, and the granted prefix that covers it covers them
    all, so this is zkv_acl_allows_key on prefix, named for what it means. */
bool zkv_acl_allows_prefix(const zkv_acl_t *self, const char *user, zkv_bytes_t prefix,
                           unsigned rights);

/*  Whether user may do the operations not tied to keys: admin only. */
bool zkv_acl_allows_admin(const zkv_acl_t *self, const char *user);

#endif
