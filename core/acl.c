/*  acl: the authorization file's parser and the per-request checks (acl.h).

    Parsing decodes every token into one arena (never larger than the text,
    so pointers into it stay put), collects (user, rights, prefix) rules,
    then sorts them by user and builds, for each user, a sorted set of the
    prefixes it may read and another of those it may write. Each set is made
    prefix-free (a prefix under a shorter one of the same set is dropped: it
    grants nothing more), so the only prefix that can start a key is the
    greatest one <= the key, and a check is two binary searches. */
#include "acl.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RIGHTS_ALL (ZKV_ACL_READ | ZKV_ACL_WRITE | ZKV_ACL_ADMIN)

typedef struct {
    const char *name; /* in the arena */
    bool admin;
    zkv_bytes_t *read; /* sorted and prefix-free: see the top of the file */
    size_t read_count;
    zkv_bytes_t *write;
    size_t write_count;
} s_user_t;

struct zkv_acl_t {
    uint8_t *arena;    /* every user name (with its NUL) and prefix */
    zkv_bytes_t *sets; /* one allocation behind every user's read and write sets */
    s_user_t *users;   /* sorted by name; `*` is not among them */
    size_t user_count;
    s_user_t any; /* the rules of `*` */
    size_t rules;
};

/* ------------------------------------------------------------ key order */

static int s_memcmp(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n ? memcmp(a, b, n) : 0; /* data may be NULL when a size is 0 */
}

/*  The node's key order: memcmp on the common length, then the shorter first. */
static int s_cmp(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
    int c = s_memcmp(a, b, a_size < b_size ? a_size : b_size);
    if (c)
        return c;
    return (a_size > b_size) - (a_size < b_size);
}

static bool s_starts_with(zkv_bytes_t key, const zkv_bytes_t *prefix)
{
    return key.size >= prefix->size && s_memcmp(key.data, prefix->data, prefix->size) == 0;
}

/*  Whether end <= the successor of prefix (or prefix has none). The successor
    is the prefix less its trailing 0xff bytes, with its last byte plus one. */
static bool s_within_successor(zkv_bytes_t end, const zkv_bytes_t *prefix)
{
    size_t n = prefix->size;
    while (n > 0 && prefix->data[n - 1] == 0xff)
        n--;
    if (n == 0)
        return true;
    if (end.size == 0)
        return false; /* no upper bound: past any successor */
    size_t head = n - 1;
    if (end.size <= head)
        return s_memcmp(end.data, prefix->data, end.size) <= 0; /* equal: end is shorter */
    int c = s_memcmp(end.data, prefix->data, head);
    if (c)
        return c < 0;
    unsigned last = prefix->data[head] + 1u;
    if (end.data[head] != last)
        return end.data[head] < last;
    return end.size == n;
}

/* ---------------------------------------------------------------- checks */

/*  The one prefix of set that can start key: the greatest <= key. */
static const zkv_bytes_t *s_candidate(const zkv_bytes_t *set, size_t count, zkv_bytes_t key)
{
    size_t lo = 0, hi = count; /* finds the first prefix > key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s_cmp(set[mid].data, set[mid].size, key.data, key.size) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || !s_starts_with(key, &set[lo - 1]))
        return NULL;
    return &set[lo - 1];
}

/*  Whether user u has right (one bit) on start, or on [start, *end) when end. */
static bool s_user_has(const s_user_t *u, unsigned right, zkv_bytes_t start, const zkv_bytes_t *end)
{
    if (!u)
        return false;
    if (right == ZKV_ACL_ADMIN)
        return u->admin;
    const zkv_bytes_t *set = right == ZKV_ACL_READ ? u->read : u->write;
    size_t count = right == ZKV_ACL_READ ? u->read_count : u->write_count;
    const zkv_bytes_t *prefix = s_candidate(set, count, start);
    return prefix && (!end || s_within_successor(*end, prefix));
}

static int s_user_find_cmp(const void *name, const void *user)
{
    return strcmp(name, ((const s_user_t *) user)->name);
}

static bool s_allows(const zkv_acl_t *self, const char *user, zkv_bytes_t start,
                     const zkv_bytes_t *end, unsigned rights)
{
    assert(rights != 0 && (rights & ~(unsigned) S_RIGHTS_ALL) == 0);
    assert(start.data || start.size == 0);
    if (!self)
        return true;
    if (!user)
        return false;
    const s_user_t *own =
        bsearch(user, self->users, self->user_count, sizeof *self->users, s_user_find_cmp);
    for (unsigned right = 1; right <= ZKV_ACL_ADMIN; right <<= 1) {
        if ((rights & right) && !s_user_has(own, right, start, end) &&
            !s_user_has(&self->any, right, start, end))
            return false;
    }
    return true;
}

bool zkv_acl_allows_key(const zkv_acl_t *self, const char *user, zkv_bytes_t key, unsigned rights)
{
    return s_allows(self, user, key, NULL, rights);
}

bool zkv_acl_allows_range(const zkv_acl_t *self, const char *user, zkv_bytes_t start,
                          zkv_bytes_t end, unsigned rights)
{
    assert(end.data || end.size == 0);
    return s_allows(self, user, start, &end, rights);
}

bool zkv_acl_allows_prefix(const zkv_acl_t *self, const char *user, zkv_bytes_t prefix,
                           unsigned rights)
{
    return s_allows(self, user, prefix, NULL, rights);
}

bool zkv_acl_allows_admin(const zkv_acl_t *self, const char *user)
{
    return s_allows(self, user, (zkv_bytes_t){NULL, 0}, NULL, ZKV_ACL_ADMIN);
}

size_t zkv_acl_rules(const zkv_acl_t *self)
{
    return self ? self->rules : 0;
}

void zkv_acl_destroy(zkv_acl_t **self_p)
{
    zkv_acl_t *self = *self_p;
    if (!self)
        return;
    free(self->arena);
    free(self->sets);
    free(self->users);
    free(self);
    *self_p = NULL;
}

/* --------------------------------------------------------------- parsing */

/*  One rule as parsed: admin is READ|WRITE|ADMIN on the empty prefix. */
typedef struct {
    const char *user;
    zkv_bytes_t prefix;
    unsigned rights;
} s_rule_t;

typedef struct {
    const char *text; /* the whole file */
    size_t size;
    size_t next;     /* where the line after this one starts */
    size_t line;     /* this line's number, from 1 */
    const char *cur; /* the rest of this line */
    const char *end;
    uint8_t *arena; /* decoded bytes; size + 1 bytes, which they never exceed */
    size_t arena_used;
    s_rule_t *rules;
    size_t rule_count;
    size_t rule_room;
    char *err;
    size_t err_size;
} s_parser_t;

/*  A decoded token, in the arena after arena_used (until committed). */
typedef struct {
    uint8_t *data;
    size_t size;
    bool star; /* the bare token `*` */
} s_token_t;

static int s_fail(s_parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_fail(s_parser_t *p, const char *fmt, ...)
{
    if (!p->err || p->err_size == 0)
        return -1;
    int n = snprintf(p->err, p->err_size, "line %zu: ", p->line);
    if (n >= 0 && (size_t) n < p->err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->err_size - (size_t) n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int s_out_of_memory(s_parser_t *p)
{
    if (p->err && p->err_size > 0)
        snprintf(p->err, p->err_size, "out of memory");
    return -1;
}

/*  Take the next line into cur..end: 1, 0 at the end of the text, -1 when
    it is too long or holds a control byte. */
static int s_next_line(s_parser_t *p)
{
    if (p->next >= p->size)
        return 0;
    const char *start = p->text + p->next;
    const char *nl = memchr(start, '\n', p->size - p->next);
    size_t len = nl ? (size_t) (nl - start) : p->size - p->next;
    p->next += len + (nl != NULL);
    p->line++;
    if (len > 0 && start[len - 1] == '\r')
        len--;
    if (len > ZKV_ACL_LINE_SIZE_MAX)
        return s_fail(p, "line longer than %u bytes", ZKV_ACL_LINE_SIZE_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) start[i];
        if (c < 0x20 && c != '\t')
            return s_fail(p, "control byte 0x%02x (write it as \\x%02x)", c, c);
    }
    p->cur = start;
    p->end = start + len;
    return 1;
}

static int s_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*  Decode the escape at cur (a backslash) into *out. */
static int s_escape(s_parser_t *p, uint8_t *out)
{
    const char *s = p->cur + 1;
    if (s < p->end && (*s == '\\' || *s == '"')) {
        *out = (uint8_t) *s;
        p->cur += 2;
        return 0;
    }
    if (s < p->end && *s == 'x' && p->end - s >= 3 && s_hex(s[1]) >= 0 && s_hex(s[2]) >= 0) {
        *out = (uint8_t) (s_hex(s[1]) << 4 | s_hex(s[2]));
        p->cur += 4;
        return 0;
    }
    return s_fail(p, "bad escape (\\xHH, \\\\ or \\\" only)");
}

static bool s_blank(char c)
{
    return c == ' ' || c == '\t';
}

/*  Decode one token's bytes from cur, which is past its opening quote if quoted. */
static int s_token_body(s_parser_t *p, s_token_t *tok, bool quoted)
{
    for (;;) {
        if (p->cur == p->end) {
            if (quoted)
                return s_fail(p, "unterminated quote");
            return 0;
        }
        char c = *p->cur;
        if (quoted && c == '"') {
            p->cur++;
            if (p->cur < p->end && !s_blank(*p->cur))
                return s_fail(p, "text after a closing quote");
            return 0;
        }
        if (!quoted && s_blank(c))
            return 0;
        if (!quoted && c == '"')
            return s_fail(p, "quote inside a token (quote the whole token)");
        assert(p->arena_used + tok->size < p->size + 1);
        if (c == '\\') {
            if (s_escape(p, &tok->data[tok->size]) < 0)
                return -1;
        } else {
            tok->data[tok->size] = (uint8_t) c;
            p->cur++;
        }
        tok->size++;
    }
}

/*  The next token of the line: 1, 0 at its end (or at a comment), -1 on error. */
static int s_token(s_parser_t *p, s_token_t *tok)
{
    while (p->cur < p->end && s_blank(*p->cur))
        p->cur++;
    if (p->cur == p->end || *p->cur == '#')
        return 0;
    const char *start = p->cur;
    bool quoted = *start == '"';
    p->cur += quoted;
    *tok = (s_token_t){p->arena + p->arena_used, 0, false};
    if (s_token_body(p, tok, quoted) < 0)
        return -1;
    tok->star = !quoted && p->cur - start == 1 && *start == '*';
    return 1;
}

static int s_add_rule(s_parser_t *p, const char *user, zkv_bytes_t prefix, unsigned rights)
{
    if (p->rule_count == ZKV_ACL_RULES_MAX)
        return s_fail(p, "more than %u rules", (unsigned) ZKV_ACL_RULES_MAX);
    if (p->rule_count == p->rule_room) {
        size_t room = p->rule_room ? 2 * p->rule_room : 64;
        s_rule_t *rules = realloc(p->rules, room * sizeof *rules);
        if (!rules)
            return s_out_of_memory(p);
        p->rules = rules;
        p->rule_room = room;
    }
    p->rules[p->rule_count++] = (s_rule_t){user, prefix, rights};
    return 0;
}

/*  The rights a word grants, or 0 when it is not a rights word. */
static unsigned s_rights(const uint8_t *word, size_t size)
{
    if (size == 1 && word[0] == 'r')
        return ZKV_ACL_READ;
    if (size == 2 && memcmp(word, "rw", 2) == 0)
        return ZKV_ACL_READ | ZKV_ACL_WRITE;
    if (size == 5 && memcmp(word, "admin", 5) == 0)
        return S_RIGHTS_ALL;
    return 0;
}

/*  The user of a line, committed to the arena with a NUL: its name, or NULL. */
static const char *s_parse_user(s_parser_t *p, const s_token_t *tok)
{
    if (tok->size == 0) {
        s_fail(p, "missing user (an empty name)");
        return NULL;
    }
    if (memchr(tok->data, 0, tok->size)) {
        s_fail(p, "user name holds a NUL byte");
        return NULL;
    }
    p->arena_used += tok->size;
    assert(p->arena_used < p->size + 1);
    p->arena[p->arena_used++] = 0;
    return (const char *) tok->data;
}

/*  The rest of a line after its user: rights, then prefixes. */
static int s_parse_grants(s_parser_t *p, const char *user)
{
    s_token_t tok;
    int rc = s_token(p, &tok);
    if (rc <= 0)
        return rc < 0 ? -1 : s_fail(p, "missing rights (r, rw or admin)");
    unsigned rights = s_rights(tok.data, tok.size);
    if (!rights && s_rights((const uint8_t *) user, strlen(user)))
        return s_fail(p, "missing user (the line starts with rights)");
    if (!rights)
        return s_fail(p, "unknown rights (r, rw or admin)");
    size_t prefixes = 0;
    while ((rc = s_token(p, &tok)) > 0) {
        if (rights & ZKV_ACL_ADMIN)
            return s_fail(p, "admin takes no prefixes");
        if (tok.size > ZKV_KEY_SIZE_MAX)
            return s_fail(p, "prefix longer than %u bytes", (unsigned) ZKV_KEY_SIZE_MAX);
        size_t size = tok.star ? 0 : tok.size;
        if (s_add_rule(p, user, (zkv_bytes_t){tok.data, size}, rights) < 0)
            return -1;
        p->arena_used += size;
        prefixes++;
    }
    if (rc < 0)
        return -1;
    if (rights & ZKV_ACL_ADMIN)
        return s_add_rule(p, user, (zkv_bytes_t){p->arena, 0}, rights);
    if (prefixes == 0)
        return s_fail(p, "%s needs at least one prefix", rights & ZKV_ACL_WRITE ? "rw" : "r");
    return 0;
}

static int s_parse_lines(s_parser_t *p)
{
    int rc;
    while ((rc = s_next_line(p)) > 0) {
        s_token_t tok;
        rc = s_token(p, &tok);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue; /* blank or a comment */
        const char *user = s_parse_user(p, &tok);
        if (!user || s_parse_grants(p, user) < 0)
            return -1;
    }
    return rc;
}

/* -------------------------------------------------------------- building */

static int s_rule_cmp(const void *a, const void *b)
{
    const s_rule_t *x = a, *y = b;
    int c = strcmp(x->user, y->user);
    if (c)
        return c;
    return s_cmp(x->prefix.data, x->prefix.size, y->prefix.data, y->prefix.size);
}

/*  Into set, the prefixes of rules (sorted by prefix) that grant right,
    without those under another one: returns how many. */
static size_t s_fill_set(zkv_bytes_t *set, const s_rule_t *rules, size_t count, unsigned right)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (!(rules[i].rights & right))
            continue;
        /*  Sorted: a prefix under an earlier one lies right after the last kept. */
        if (n > 0 && s_starts_with(rules[i].prefix, &set[n - 1]))
            continue;
        set[n++] = rules[i].prefix;
    }
    return n;
}

/*  One user's sets from its rules (sorted by prefix), at *sets, which moves past them. */
static void s_fill_user(s_user_t *u, const s_rule_t *rules, size_t count, zkv_bytes_t **sets)
{
    u->name = rules[0].user;
    for (size_t i = 0; i < count; i++)
        u->admin = u->admin || (rules[i].rights & ZKV_ACL_ADMIN);
    u->read = *sets;
    u->read_count = s_fill_set(u->read, rules, count, ZKV_ACL_READ);
    u->write = u->read + u->read_count;
    u->write_count = s_fill_set(u->write, rules, count, ZKV_ACL_WRITE);
    *sets = u->write + u->write_count;
}

static int s_build(zkv_acl_t *self, s_rule_t *rules, size_t count)
{
    if (count > 1) /* rules is NULL when there are none */
        qsort(rules, count, sizeof *rules, s_rule_cmp);
    self->sets = malloc((2 * count + 1) * sizeof *self->sets);
    self->users = malloc((count + 1) * sizeof *self->users);
    if (!self->sets || !self->users)
        return -1;
    zkv_bytes_t *sets = self->sets;
    for (size_t i = 0, j; i < count; i = j) {
        for (j = i + 1; j < count && strcmp(rules[i].user, rules[j].user) == 0; j++)
            ;
        bool any = strcmp(rules[i].user, "*") == 0;
        s_user_t *u = any ? &self->any : &self->users[self->user_count++];
        *u = (s_user_t){0};
        s_fill_user(u, rules + i, j - i, &sets);
    }
    assert(sets <= self->sets + 2 * count);
    self->rules = count;
    return 0;
}

zkv_acl_t *zkv_acl_parse(const char *text, size_t size, char *err, size_t err_size)
{
    assert(text || size == 0);
    if (err && err_size > 0)
        err[0] = 0;
    s_parser_t p = {.text = text, .size = size, .err = err, .err_size = err_size};
    zkv_acl_t *self = calloc(1, sizeof *self);
    p.arena = malloc(size + 1);
    if (!self || !p.arena) {
        s_out_of_memory(&p);
        free(p.arena);
        free(self);
        return NULL;
    }
    self->arena = p.arena;
    int rc = s_parse_lines(&p);
    if (rc == 0 && s_build(self, p.rules, p.rule_count) < 0)
        rc = s_out_of_memory(&p);
    free(p.rules);
    if (rc < 0)
        zkv_acl_destroy(&self);
    return self;
}
