/*  acl: the authorization file (its format, each error with its line, the
    limits), then the checks: rights words, `*` rules, quoted and escaped
    prefixes, keys and ranges at their edges (binary keys, the empty key,
    an end equal to the successor, prefixes without one), the NULL acl, and
    a seeded comparison with a naive checker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"
#include "seed_testutil.h"
#include "splitmix.h"

/* ---------------------------------------------------------------- helpers */

enum { R = ZKV_ACL_READ, W = ZKV_ACL_WRITE, RW = ZKV_ACL_READ | ZKV_ACL_WRITE };

static zkv_bytes_t s_str(const char *s)
{
    return (zkv_bytes_t){(const uint8_t *) s, strlen(s)};
}

static zkv_bytes_t s_bin(const char *s, size_t size)
{
    return (zkv_bytes_t){(const uint8_t *) s, size};
}

static zkv_acl_t *s_parse(const char *text)
{
    char err[256];
    zkv_acl_t *acl = zkv_acl_parse(text, strlen(text), err, sizeof err);
    if (!acl)
        fail_msg("%s", err);
    return acl;
}

/*  text must be refused with exactly want. */
static void s_assert_error(const char *text, size_t size, const char *want)
{
    char err[256];
    memset(err, 'x', sizeof err);
    zkv_acl_t *acl = zkv_acl_parse(text, size, err, sizeof err);
    if (acl)
        fail_msg("accepted: %s", text);
    assert_string_equal(err, want);
}

static bool s_key(const zkv_acl_t *acl, const char *user, const char *key, unsigned rights)
{
    return zkv_acl_allows_key(acl, user, s_str(key), rights);
}

static bool s_range(const zkv_acl_t *acl, const char *user, const char *start, const char *end,
                    unsigned rights)
{
    return zkv_acl_allows_range(acl, user, s_str(start), s_str(end), rights);
}

/*  A text of lines, each `line` count times. */
static char *s_repeat(const char *line, size_t count, size_t *size)
{
    size_t n = strlen(line);
    char *text = malloc(n * count + 1);
    assert_non_null(text);
    for (size_t i = 0; i < count; i++)
        memcpy(text + i * n, line, n);
    text[n * count] = 0;
    *size = n * count;
    return text;
}

/* ----------------------------------------------------------------- format */

static const char s_example[] = "# comment; blank lines ignored\n"
                                "# USER     RIGHTS   PREFIX...\n"
                                "admin      admin\n"
                                "app        rw       app/ config/\n"
                                "reporter   r        app/ \"metrics x/\" \\x00bin/\n"
                                "*          r        public/\n";

static void test_example_file(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse(s_example);
    assert_int_equal(zkv_acl_rules(acl), 7);
    assert_true(zkv_acl_allows_admin(acl, "admin"));
    assert_true(s_key(acl, "admin", "anything", RW | ZKV_ACL_ADMIN));
    assert_true(s_key(acl, "app", "config/x", RW));
    assert_false(zkv_acl_allows_admin(acl, "app"));
    assert_true(s_key(acl, "reporter", "metrics x/cpu", R));
    assert_false(s_key(acl, "reporter", "metrics", R));
    assert_true(zkv_acl_allows_key(acl, "reporter", s_bin("\0bin/ls", 7), R));
    assert_false(zkv_acl_allows_key(acl, "reporter", s_bin("\0bin", 4), R));
    assert_false(s_key(acl, "reporter", "app/x", W));
    assert_true(s_key(acl, "reporter", "public/x", R));
    zkv_acl_destroy(&acl);
    assert_null(acl);
    zkv_acl_destroy(&acl);
}

static void test_blank_lines_comments_and_line_endings(void **state)
{
    (void) state;
    const char *text = "\n   \n\t# indented comment\r\n"
                       "a\tr\tx# \"#q\" \\x23y  # trailing comment \"unterminated\r\n"
                       "\r\n"
                       "b rw b/"; /* no final newline */
    zkv_acl_t *acl = s_parse(text);
    assert_int_equal(zkv_acl_rules(acl), 4);
    assert_true(s_key(acl, "a", "#y1", R)); /* only a token's first # starts a comment */
    assert_true(s_key(acl, "a", "x#", R));
    assert_true(s_key(acl, "a", "#q", R));
    assert_false(s_key(acl, "a", "trailing", R));
    assert_true(s_key(acl, "b", "b/1", RW));
    zkv_acl_destroy(&acl);

    acl = s_parse("");
    assert_int_equal(zkv_acl_rules(acl), 0);
    assert_false(s_key(acl, "a", "x", R));
    zkv_acl_destroy(&acl);
    acl = zkv_acl_parse(NULL, 0, NULL, 0);
    assert_non_null(acl);
    zkv_acl_destroy(&acl);
}

static void test_each_error_names_its_line(void **state)
{
    (void) state;
    const struct {
        const char *text;
        const char *err;
    } cases[] = {
        {"app rx app/\n", "line 1: unknown rights (r, rw or admin)"},
        {"app R app/\n", "line 1: unknown rights (r, rw or admin)"},
        {"# c\nrw app/\n", "line 2: missing user (the line starts with rights)"},
        {"\"\" r app/\n", "line 1: missing user (an empty name)"},
        {"a r a/\napp\n", "line 2: missing rights (r, rw or admin)"},
        {"app # r a/\n", "line 1: missing rights (r, rw or admin)"},
        {"\n\nroot admin app/\n", "line 3: admin takes no prefixes"},
        {"root admin *\n", "line 1: admin takes no prefixes"},
        {"app r\n", "line 1: r needs at least one prefix"},
        {"a r x\napp rw # none\n", "line 2: rw needs at least one prefix"},
        {"app r \\q\n", "line 1: bad escape (\\xHH, \\\\ or \\\" only)"},
        {"app r ab\\x4\n", "line 1: bad escape (\\xHH, \\\\ or \\\" only)"},
        {"app r \\xg0\n", "line 1: bad escape (\\xHH, \\\\ or \\\" only)"},
        {"app r a\\\n", "line 1: bad escape (\\xHH, \\\\ or \\\" only)"},
        {"app r \"a\\\"\n", "line 1: unterminated quote"},
        {"a r a\n\napp r \"app/\nb r b\n", "line 3: unterminated quote"},
        {"app r \"a\"b\n", "line 1: text after a closing quote"},
        {"app r a\"b\"\n", "line 1: quote inside a token (quote the whole token)"},
        {"app r a\x01z\n", "line 1: control byte 0x01 (write it as \\x01)"},
        {"app r a\rz\n", "line 1: control byte 0x0d (write it as \\x0d)"},
        {"a\\x00b r app/\n", "line 1: user name holds a NUL byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_assert_error(cases[i].text, strlen(cases[i].text), cases[i].err);
    s_assert_error("a r a\nb r \0\n", 12, "line 2: control byte 0x00 (write it as \\x00)");
}

static void test_error_fits_its_buffer(void **state)
{
    (void) state;
    char err[8];
    assert_null(zkv_acl_parse("app\n", 4, err, sizeof err));
    assert_string_equal(err, "line 1:");
    assert_null(zkv_acl_parse("app\n", 4, NULL, 0));
    assert_null(zkv_acl_parse("app\n", 4, err, 0));
}

static void test_line_size_limit(void **state)
{
    (void) state;
    size_t size;
    char *text = s_repeat("x", ZKV_ACL_LINE_SIZE_MAX + 2, &size);
    memcpy(text, "a r k #", 7);         /* a comment counts too */
    text[ZKV_ACL_LINE_SIZE_MAX] = '\r'; /* the line ending does not */
    text[ZKV_ACL_LINE_SIZE_MAX + 1] = '\n';
    zkv_acl_t *acl = s_parse(text);
    assert_int_equal(zkv_acl_rules(acl), 1);
    zkv_acl_destroy(&acl);

    text[ZKV_ACL_LINE_SIZE_MAX] = '#';
    s_assert_error(text, size, "line 1: line longer than 65536 bytes");
    free(text);
}

static void test_prefix_size_limit(void **state)
{
    (void) state;
    char text[ZKV_KEY_SIZE_MAX + 16];
    memcpy(text, "a r ", 4);
    memset(text + 4, 'k', ZKV_KEY_SIZE_MAX);
    strcpy(text + 4 + ZKV_KEY_SIZE_MAX, "\n");
    zkv_acl_t *acl = s_parse(text);
    zkv_acl_destroy(&acl);
    strcpy(text + 4 + ZKV_KEY_SIZE_MAX, "k\n");
    s_assert_error(text, strlen(text), "line 1: prefix longer than 4096 bytes");
}

static void test_rules_limit(void **state)
{
    (void) state;
    size_t size;
    char *text = s_repeat("u r a b c d e f g h i j\n", ZKV_ACL_RULES_MAX / 10, &size);
    zkv_acl_t *acl = s_parse(text);
    assert_int_equal(zkv_acl_rules(acl), ZKV_ACL_RULES_MAX);
    zkv_acl_destroy(&acl);
    free(text);

    text = s_repeat("u r a\n", ZKV_ACL_RULES_MAX + 1, &size);
    s_assert_error(text, size, "line 100001: more than 100000 rules");
    free(text);
}

/* ----------------------------------------------------------------- rights */

static void test_rights_words(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("reader r k/\nwriter rw k/\nroot admin\n");
    assert_true(s_key(acl, "reader", "k/1", R));
    assert_false(s_key(acl, "reader", "k/1", W));
    assert_false(s_key(acl, "reader", "k/1", RW));
    assert_true(s_key(acl, "writer", "k/1", R));
    assert_true(s_key(acl, "writer", "k/1", W));
    assert_true(s_key(acl, "writer", "k/1", RW));
    assert_false(s_key(acl, "writer", "k/1", ZKV_ACL_ADMIN));
    assert_false(s_key(acl, "writer", "j/1", R));
    assert_true(s_key(acl, "root", "", RW | ZKV_ACL_ADMIN));
    assert_true(s_range(acl, "root", "", "", RW));
    assert_true(zkv_acl_allows_admin(acl, "root"));
    assert_false(zkv_acl_allows_admin(acl, "writer"));
    assert_false(zkv_acl_allows_admin(acl, "nobody"));
    zkv_acl_destroy(&acl);
}

static void test_lines_of_one_user_add_up(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("u r a/\nv r v/\nu rw b/\nu r c/ a/x\n");
    assert_int_equal(zkv_acl_rules(acl), 5);
    assert_true(s_key(acl, "u", "a/x", R));
    assert_false(s_key(acl, "u", "a/x", W));
    assert_true(s_key(acl, "u", "b/x", RW));
    assert_true(s_key(acl, "u", "c/x", R));
    assert_false(s_key(acl, "u", "v/x", R));
    zkv_acl_destroy(&acl);
}

static void test_user_without_rules_has_none(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("u rw \"\"\n");
    assert_false(s_key(acl, "v", "", R));
    assert_false(s_key(acl, "U", "x", R));
    assert_false(s_key(acl, "u2", "x", R));
    assert_false(s_key(acl, "", "x", R));
    assert_false(s_key(acl, NULL, "x", R));
    assert_false(s_range(acl, "v", "a", "b", R));
    assert_false(zkv_acl_allows_admin(acl, "v"));
    zkv_acl_destroy(&acl);
}

static void test_star_rules_add_to_every_user(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("app rw app/\n* r public/\n* rw scratch/\n");
    assert_true(s_key(acl, "app", "app/x", RW));
    assert_true(s_key(acl, "app", "public/x", R));
    assert_false(s_key(acl, "app", "public/x", W));
    assert_true(s_key(acl, "stranger", "public/x", R));
    assert_true(s_key(acl, "stranger", "scratch/x", RW));
    assert_false(s_key(acl, "stranger", "app/x", R));
    assert_true(s_range(acl, "app", "public/", "public0", R));
    /*  `*` is every authenticated client: not one without a name. */
    assert_false(s_key(acl, NULL, "public/x", R));
    assert_false(zkv_acl_allows_admin(acl, "app"));
    zkv_acl_destroy(&acl);

    acl = s_parse("* admin\n");
    assert_true(zkv_acl_allows_admin(acl, "anyone"));
    assert_false(zkv_acl_allows_admin(acl, NULL));
    zkv_acl_destroy(&acl);
}

static void test_null_acl_allows_everything(void **state)
{
    (void) state;
    assert_int_equal(zkv_acl_rules(NULL), 0);
    assert_true(s_key(NULL, "u", "x", RW | ZKV_ACL_ADMIN));
    assert_true(s_key(NULL, NULL, "", R));
    assert_true(s_range(NULL, "u", "b", "a", W));
    assert_true(s_range(NULL, NULL, "", "", RW));
    assert_true(zkv_acl_allows_prefix(NULL, NULL, s_str(""), RW));
    assert_true(zkv_acl_allows_admin(NULL, "u"));
    assert_true(zkv_acl_allows_admin(NULL, NULL));
}

/* --------------------------------------------------------------- prefixes */

static void test_quoted_and_escaped_prefixes(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("u r \"a b\t/\" \\x00\\xFf\\xab q\\\\\\\" \"\\x41\\\"\" \"*\"\n");
    assert_int_equal(zkv_acl_rules(acl), 5);
    assert_true(s_key(acl, "u", "a b\t/c", R));
    assert_false(s_key(acl, "u", "a", R));
    assert_false(s_key(acl, "u", "b\t/c", R));
    assert_true(zkv_acl_allows_key(acl, "u", s_bin("\0\xff\xab", 3), R));
    assert_false(zkv_acl_allows_key(acl, "u", s_bin("\0\xff", 2), R));
    assert_true(s_key(acl, "u", "q\\\"z", R));
    assert_true(s_key(acl, "u", "A\"", R));
    assert_true(s_key(acl, "u", "*x", R)); /* a quoted star is the key "*" */
    assert_false(s_key(acl, "u", "x", R));
    zkv_acl_destroy(&acl);

    acl = s_parse("\"spaced user\" r s/\nu\\x41 r a/\n");
    assert_true(s_key(acl, "spaced user", "s/1", R));
    assert_true(s_key(acl, "uA", "a/1", R));
    zkv_acl_destroy(&acl);
}

static void test_empty_prefix_and_lone_star_grant_every_key(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("q r \"\"\ns rw *\n");
    const char *users[] = {"q", "s"};
    for (size_t i = 0; i < 2; i++) {
        assert_true(s_key(acl, users[i], "", R));
        assert_true(zkv_acl_allows_key(acl, users[i], s_bin("\xff\xff", 2), R));
        assert_true(s_range(acl, users[i], "", "", R));
        assert_true(zkv_acl_allows_range(acl, users[i], s_bin("\0", 1), s_bin("\xff", 1), R));
    }
    assert_false(s_key(acl, "q", "x", W));
    assert_true(s_range(acl, "s", "", "", RW));
    zkv_acl_destroy(&acl);
}

/* ------------------------------------------------------------ keys' edges */

static void test_key_edges(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("u r app/ \\x00 \\xff\\xff k\\x00\n");
    assert_false(s_key(acl, "u", "", R)); /* the empty key: only "" holds it */
    assert_false(s_key(acl, "u", "app", R));
    assert_true(s_key(acl, "u", "app/", R)); /* the prefix itself */
    assert_false(s_key(acl, "u", "apq", R));
    assert_false(s_key(acl, "u", "ap", R)); /* prefix longer than the key */
    assert_true(zkv_acl_allows_key(acl, "u", s_bin("\0", 1), R));
    assert_true(zkv_acl_allows_key(acl, "u", s_bin("\0\0", 2), R));
    assert_false(zkv_acl_allows_key(acl, "u", s_bin("\1", 1), R));
    assert_true(zkv_acl_allows_key(acl, "u", s_bin("\xff\xff\x00", 3), R));
    assert_false(zkv_acl_allows_key(acl, "u", s_bin("\xff", 1), R));
    assert_false(zkv_acl_allows_key(acl, "u", s_bin("\xff\xfe", 2), R));
    assert_true(zkv_acl_allows_key(acl, "u", s_bin("k\0z", 3), R));
    assert_false(s_key(acl, "u", "k", R));
    assert_false(zkv_acl_allows_key(acl, "u", s_bin("k\1", 2), R));
    zkv_acl_destroy(&acl);
}

/*  A prefix under another of the same user's grants nothing more; only the
    greatest prefix <= a key can start it once those are dropped. */
static void test_nested_prefixes(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("u r a\\x00x ab abc abd b a\nu rw a\\x00\\x01\n");
    assert_true(zkv_acl_allows_key(acl, "u", s_bin("a\1", 2), R)); /* after "a\0x" */
    assert_true(s_key(acl, "u", "abz", R));
    assert_true(s_key(acl, "u", "a", R));
    assert_false(s_key(acl, "u", "c", R));
    assert_true(zkv_acl_allows_key(acl, "u", s_bin("a\0\1q", 4), RW));
    assert_false(zkv_acl_allows_key(acl, "u", s_bin("a\0\2", 3), W));
    zkv_acl_destroy(&acl);
}

/* ---------------------------------------------------------------- ranges */

/*  The classic bug: checking only where a range starts. */
static void test_range_is_checked_at_both_ends(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("u r app/\nv r app\n");
    assert_true(s_range(acl, "u", "app/", "app0", R)); /* end = the successor of "app/" */
    assert_true(s_range(acl, "u", "app/x", "app/y", R));
    assert_false(s_range(acl, "u", "app/", "apq", R)); /* holds "app0", "app1"... */
    assert_false(s_range(acl, "u", "app/", "b", R));
    assert_false(s_range(acl, "u", "app/", "", R));
    assert_false(zkv_acl_allows_range(acl, "u", s_str("app/"), s_bin("app0\0", 5), R));
    assert_true(s_range(acl, "v", "app", "apq", R)); /* end = the successor of "app" */
    assert_false(zkv_acl_allows_range(acl, "v", s_str("app"), s_bin("apq\0", 4), R));
    assert_false(s_range(acl, "v", "ap", "apq", R)); /* starts before the prefix */
    /*  By prefix: the same as the range from it to its successor. */
    assert_true(zkv_acl_allows_prefix(acl, "u", s_str("app/"), R));
    assert_true(zkv_acl_allows_prefix(acl, "u", s_str("app/x"), R));
    assert_false(zkv_acl_allows_prefix(acl, "u", s_str("app"), R));
    assert_false(zkv_acl_allows_prefix(acl, "u", s_str(""), R));
    assert_false(zkv_acl_allows_prefix(acl, "u", s_str("app/"), W));
    assert_true(zkv_acl_allows_prefix(acl, "v", s_str("app"), R));
    zkv_acl_destroy(&acl);
}

static void test_range_successor_edges(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("u r a\\xff\\xff \\xff\\xff\nv r abc\nw r a\\x00\n");
    zkv_bytes_t aff = s_bin("a\xff\xff", 3);
    assert_true(zkv_acl_allows_range(acl, "u", aff, s_str("b"), R));
    assert_false(zkv_acl_allows_range(acl, "u", aff, s_bin("b\0", 2), R));
    assert_true(zkv_acl_allows_range(acl, "u", aff, s_bin("a\xff\xff\xff", 4), R));
    assert_false(zkv_acl_allows_range(acl, "u", aff, s_str(""), R));
    /*  Only 0xff bytes: no successor, so no end is too far. */
    zkv_bytes_t ff = s_bin("\xff\xff", 2);
    assert_true(zkv_acl_allows_range(acl, "u", ff, s_str(""), R));
    assert_true(zkv_acl_allows_range(acl, "u", ff, s_bin("\xff\xff\xff\xff", 4), R));
    assert_false(zkv_acl_allows_range(acl, "u", s_bin("\xff", 1), s_str(""), R));
    /*  Ends around "abd", the successor of "abc". */
    assert_true(s_range(acl, "v", "abc", "abd", R));
    assert_true(s_range(acl, "v", "abc", "abcz", R));
    assert_true(s_range(acl, "v", "abc", "ab", R)); /* below the start: no key */
    assert_true(zkv_acl_allows_range(acl, "v", s_str("abc"), s_bin("abc\xff", 4), R));
    assert_false(zkv_acl_allows_range(acl, "v", s_str("abc"), s_bin("abd\0", 4), R));
    assert_false(s_range(acl, "v", "abc", "abe", R));
    assert_false(s_range(acl, "v", "abc", "b", R));
    zkv_bytes_t a0 = s_bin("a\0", 2);
    assert_true(zkv_acl_allows_range(acl, "w", a0, s_bin("a\1", 2), R));
    assert_false(zkv_acl_allows_range(acl, "w", a0, s_bin("a\1\0", 3), R));
    zkv_acl_destroy(&acl);
}

static void test_range_needs_one_prefix_alone(void **state)
{
    (void) state;
    zkv_acl_t *acl = s_parse("u r a b\n* r c\nu rw a/\n");
    assert_true(s_range(acl, "u", "a", "b", R));
    assert_false(s_range(acl, "u", "a", "c", R)); /* "a" and "b" only together */
    assert_true(s_range(acl, "u", "c1", "d", R)); /* from `*` */
    /*  Each right from its own prefix: read from "a", write from "a/". */
    assert_true(s_range(acl, "u", "a/1", "a/2", RW));
    assert_false(s_range(acl, "u", "a1", "a2", RW));
    assert_false(s_range(acl, "u", "c1", "c2", W));
    zkv_acl_destroy(&acl);
}

/* ------------------------------------------------ against a naive checker */

#define S_RULES 12
#define S_KEY_MAX 4

typedef struct {
    int user; /* 0: "u", 1: "v", 2: `*` */
    unsigned rights;
    uint8_t prefix[S_KEY_MAX];
    size_t size;
} s_naive_rule_t;

static const uint8_t s_alphabet[] = {0x00, 'a', 'b', 0xff};

static size_t s_random_bytes(uint64_t *rng, uint8_t *out, size_t max)
{
    size_t size = zkv_splitmix64(rng) % (max + 1);
    for (size_t i = 0; i < size; i++)
        out[i] = s_alphabet[zkv_splitmix64(rng) % sizeof s_alphabet];
    return size;
}

static int s_naive_cmp(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
    for (size_t i = 0; i < a_size && i < b_size; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return a_size < b_size ? -1 : a_size > b_size;
}

/*  Into out, the smallest key above every key that starts with key: its size,
    0 when there is none (no upper bound, as in a range). */
static size_t s_successor(zkv_bytes_t key, uint8_t *out)
{
    size_t n = key.size;
    while (n > 0 && key.data[n - 1] == 0xff)
        n--;
    if (n)
        memcpy(out, key.data, n);
    if (n)
        out[n - 1]++;
    return n;
}

/*  Does rule r alone give its right on [start, end) (or on start, when !end)? */
static bool s_naive_covers(const s_naive_rule_t *r, zkv_bytes_t start, const zkv_bytes_t *end)
{
    if (start.size < r->size || (r->size && memcmp(start.data, r->prefix, r->size)))
        return false;
    if (!end)
        return true;
    uint8_t succ[S_KEY_MAX];
    size_t n = s_successor((zkv_bytes_t){r->prefix, r->size}, succ);
    if (n == 0)
        return true;
    return end->size > 0 && s_naive_cmp(end->data, end->size, succ, n) <= 0;
}

static bool s_naive(const s_naive_rule_t *rules, int user, zkv_bytes_t start,
                    const zkv_bytes_t *end, unsigned rights)
{
    for (unsigned right = 1; right <= W; right <<= 1) {
        bool ok = !(rights & right);
        for (size_t i = 0; i < S_RULES && !ok; i++)
            ok = (rules[i].user == user || rules[i].user == 2) && (rules[i].rights & right) &&
                 s_naive_covers(&rules[i], start, end);
        if (!ok)
            return false;
    }
    return true;
}

static zkv_acl_t *s_random_acl(uint64_t *rng, s_naive_rule_t *rules)
{
    static const char *names[] = {"u", "v", "*"};
    char text[S_RULES * 32], *t = text;
    for (size_t i = 0; i < S_RULES; i++) {
        s_naive_rule_t *r = &rules[i];
        r->user = (int) (zkv_splitmix64(rng) % 3);
        r->rights = zkv_splitmix64(rng) % 2 ? R : RW;
        r->size = s_random_bytes(rng, r->prefix, S_KEY_MAX - 1);
        t += sprintf(t, "%s %s \"", names[r->user], r->rights == R ? "r" : "rw");
        for (size_t j = 0; j < r->size; j++)
            t += sprintf(t, "\\x%02x", r->prefix[j]);
        t += sprintf(t, "\"\n");
    }
    return s_parse(text);
}

/*  Every key of the alphabet up to S_KEY_MAX bytes in [start, end) has right. */
static void s_assert_every_key(const zkv_acl_t *acl, const char *user, zkv_bytes_t start,
                               zkv_bytes_t end, unsigned rights)
{
    uint8_t key[S_KEY_MAX];
    for (size_t size = 0; size <= S_KEY_MAX; size++) {
        for (size_t code = 0; code < (size_t) 1 << (2 * size); code++) {
            for (size_t i = 0; i < size; i++)
                key[i] = s_alphabet[(code >> (2 * i)) & 3];
            if (s_naive_cmp(key, size, start.data, start.size) < 0 ||
                (end.size && s_naive_cmp(key, size, end.data, end.size) >= 0))
                continue;
            assert_true(zkv_acl_allows_key(acl, user, (zkv_bytes_t){key, size}, rights));
        }
    }
}

static void test_agrees_with_a_naive_checker(void **state)
{
    (void) state;
    uint64_t rng = t_seed(20240611);
    static const char *users[] = {"u", "v", "w"}; /* "w" has only the rules of `*` */
    for (int round = 0; round < 200; round++) {
        s_naive_rule_t rules[S_RULES];
        zkv_acl_t *acl = s_random_acl(&rng, rules);
        for (int i = 0; i < 100; i++) {
            uint8_t a[S_KEY_MAX], b[S_KEY_MAX];
            zkv_bytes_t start = {a, s_random_bytes(&rng, a, S_KEY_MAX)};
            zkv_bytes_t end = {b, s_random_bytes(&rng, b, S_KEY_MAX)};
            int user = (int) (zkv_splitmix64(&rng) % 3);
            unsigned rights = (unsigned) (zkv_splitmix64(&rng) % 3) + 1;
            bool key = zkv_acl_allows_key(acl, users[user], start, rights);
            assert_int_equal(key, s_naive(rules, user, start, NULL, rights));
            bool range = zkv_acl_allows_range(acl, users[user], start, end, rights);
            assert_int_equal(range, s_naive(rules, user, start, &end, rights));
            if (range)
                s_assert_every_key(acl, users[user], start, end, rights);
            zkv_bytes_t succ = {b, s_successor(start, b)};
            assert_int_equal(zkv_acl_allows_prefix(acl, users[user], start, rights),
                             s_naive(rules, user, start, &succ, rights));
        }
        zkv_acl_destroy(&acl);
    }
}

/*  Lines pieced together from the format's own fragments, good and bad:
    parsed or refused, never a fault (run under the sanitizers). */
static size_t s_random_text(uint64_t *rng, char *text, size_t room)
{
    static const char *users[] = {"a", "*", "\"a b\"", "\"\"", "r", "a\\x41", "#", ""};
    static const char *rights[] = {"r", "rw", "admin", "w", "\"r\"", ""};
    static const char *prefixes[] = {"p/",   "*",    "\"\"", "\"x y",      "\\xff",  "\\x0", "\\\\",
                                     "a\"b", "\\\"", "# c",  "\\xFF\\x00", "\"q\"z", "\t"};
    static const char *ends[] = {"\n", "\r\n", "\r", "\x01\n"};
    size_t n = 0;
    for (uint64_t lines = zkv_splitmix64(rng) % 5; lines > 0; lines--) {
        n += (size_t) snprintf(text + n, room - n, "%s %s", users[zkv_splitmix64(rng) % 8],
                               rights[zkv_splitmix64(rng) % 6]);
        for (uint64_t k = zkv_splitmix64(rng) % 4; k > 0; k--)
            n += (size_t) snprintf(text + n, room - n, " %s", prefixes[zkv_splitmix64(rng) % 13]);
        n += (size_t) snprintf(text + n, room - n, "%s", ends[zkv_splitmix64(rng) % 4]);
    }
    assert_true(n < room);
    return n - (n > 0 && zkv_splitmix64(rng) % 2); /* sometimes without the last newline */
}

static void test_random_text(void **state)
{
    (void) state;
    uint64_t rng = t_seed(7);
    char text[512], err[128];
    size_t parsed = 0;
    for (int round = 0; round < 20000; round++) {
        size_t size = s_random_text(&rng, text, sizeof text);
        zkv_acl_t *acl = zkv_acl_parse(text, size, err, sizeof err);
        if (!acl) {
            assert_true(strncmp(err, "line ", 5) == 0);
            continue;
        }
        parsed += zkv_acl_rules(acl) > 0;
        assert_true(zkv_acl_rules(acl) <= 4 * 3);
        zkv_acl_allows_range(acl, "a", s_str("p/"), s_str("p0"), R);
        zkv_acl_allows_key(acl, "a b", s_bin("\xff\0", 2), RW);
        zkv_acl_destroy(&acl);
    }
    assert_true(parsed > 100); /* the fragments make good files too */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_blank_lines_comments_and_line_endings),
        cmocka_unit_test(test_each_error_names_its_line),
        cmocka_unit_test(test_error_fits_its_buffer),
        cmocka_unit_test(test_line_size_limit),
        cmocka_unit_test(test_prefix_size_limit),
        cmocka_unit_test(test_rules_limit),
        cmocka_unit_test(test_rights_words),
        cmocka_unit_test(test_lines_of_one_user_add_up),
        cmocka_unit_test(test_user_without_rules_has_none),
        cmocka_unit_test(test_star_rules_add_to_every_user),
        cmocka_unit_test(test_null_acl_allows_everything),
        cmocka_unit_test(test_quoted_and_escaped_prefixes),
        cmocka_unit_test(test_empty_prefix_and_lone_star_grant_every_key),
        cmocka_unit_test(test_key_edges),
        cmocka_unit_test(test_nested_prefixes),
        cmocka_unit_test(test_range_is_checked_at_both_ends),
        cmocka_unit_test(test_range_successor_edges),
        cmocka_unit_test(test_range_needs_one_prefix_alone),
        cmocka_unit_test(test_agrees_with_a_naive_checker),
        cmocka_unit_test(test_random_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
