/*  cmd_txn: zkv txn, etcdctl's transaction syntax read from stdin or a file:
    compares, a blank line, the operations if they all hold, a blank line,
    the operations otherwise. One log entry applies the whole transaction. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/*  Lines per section accepted here; the node takes at most 128 (its limit). */
#define TXN_LINES_MAX 1024
/*  Words on one line (del --from A --to B has five). */
#define TXN_WORDS_MAX 6
/*  Input bytes read. */
#define TXN_INPUT_MAX (8u * 1024 * 1024)

typedef struct {
    Zkv__TxnRequest req;
    Zkv__Compare *compares;
    Zkv__Compare **compare_ptrs;
    Zkv__TxnOp *ops; /* success, then failure */
    Zkv__TxnOp **op_ptrs;
    Zkv__PutRequest *puts;
    Zkv__DeleteRequest *dels;
    Zkv__GetRequest *gets;
    uint8_t *ends; /* ZKV_KEY_SIZE_MAX per op: a del --prefix's end */
    size_t op_count;
    char *input;
} s_txn_t;

typedef struct {
    uint8_t *data[TXN_WORDS_MAX];
    size_t size[TXN_WORDS_MAX];
    size_t count;
} s_words_t;

static int s_hex(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/*  A double-quoted word at *p, unescaped in place into out; false if unterminated. */
static bool s_quoted(char **p, uint8_t *out, size_t *size)
{
    char *s = *p + 1;
    size_t n = 0;
    for (; *s && *s != '"'; s++) {
        if (*s != '\\') {
            out[n++] = (uint8_t) *s;
            continue;
        }
        s++;
        if (*s == 'x' && s_hex(s[1]) >= 0 && s_hex(s[2]) >= 0) {
            out[n++] = (uint8_t) (s_hex(s[1]) * 16 + s_hex(s[2]));
            s += 2;
        } else if (*s == 'n' || *s == 't' || *s == '"' || *s == '\\')
            out[n++] = *s == 'n' ? '\n' : *s == 't' ? '\t' : (uint8_t) *s;
        else
            return false;
    }
    if (*s != '"')
        return false;
    *p = s + 1;
    *size = n;
    return true;
}

/*  Split a line into words: bare, or double-quoted with \" \\ \n \t \xHH.
    Separators are spaces, tabs, and in compares '(', ')' and ','. */
static bool s_split(char *line, const char *seps, s_words_t *w)
{
    w->count = 0;
    char *p = line;
    for (;;) {
        while (*p && strchr(seps, *p))
            p++;
        if (!*p)
            return true;
        if (w->count == TXN_WORDS_MAX)
            return false;
        uint8_t *start = (uint8_t *) p;
        if (*p == '"') {
            if (!s_quoted(&p, start, &w->size[w->count]))
                return false;
        } else {
            while (*p && !strchr(seps, *p) && *p != '"')
                p++;
            w->size[w->count] = (size_t) ((uint8_t *) p - start);
        }
        w->data[w->count++] = start;
        if (*p && strchr(seps, *p))
            *p++ = '\0';
    }
}

static bool s_is(const s_words_t *w, size_t i, const char *text)
{
    return i < w->count && w->size[i] == strlen(text) && memcmp(w->data[i], text, w->size[i]) == 0;
}

static ProtobufCBinaryData s_word(const s_words_t *w, size_t i)
{
    return (ProtobufCBinaryData){w->size[i], w->data[i]};
}

static bool s_target(const s_words_t *w, Zkv__Compare__Target *target)
{
    static const struct {
        const char *name;
        Zkv__Compare__Target target;
    } names[] = {
        {"value", ZKV__COMPARE__TARGET__VALUE},     {"val", ZKV__COMPARE__TARGET__VALUE},
        {"version", ZKV__COMPARE__TARGET__VERSION}, {"ver", ZKV__COMPARE__TARGET__VERSION},
        {"mod", ZKV__COMPARE__TARGET__MOD},         {"m", ZKV__COMPARE__TARGET__MOD},
        {"create", ZKV__COMPARE__TARGET__CREATE},   {"c", ZKV__COMPARE__TARGET__CREATE},
        {"lease", ZKV__COMPARE__TARGET__LEASE},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (s_is(w, 0, names[i].name)) {
            *target = names[i].target;
            return true;
        }
    return false;
}

static bool s_result(const s_words_t *w, Zkv__Compare__Result *result)
{
    const char *ops[] = {"=", "!=", ">", "<"};
    const Zkv__Compare__Result results[] = {
        ZKV__COMPARE__RESULT__EQUAL, ZKV__COMPARE__RESULT__NOT_EQUAL, ZKV__COMPARE__RESULT__GREATER,
        ZKV__COMPARE__RESULT__LESS};
    for (size_t i = 0; i < 4; i++)
        if (s_is(w, 2, ops[i])) {
            *result = results[i];
            return true;
        }
    return false;
}

static bool s_number(const s_words_t *w, size_t i, uint64_t *out)
{
    char text[24];
    if (w->size[i] == 0 || w->size[i] >= sizeof text)
        return false;
    memcpy(text, w->data[i], w->size[i]);
    text[w->size[i]] = '\0';
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end || text[0] == '-')
        return false;
    *out = v;
    return true;
}

/*  TARGET("KEY") OP "VALUE" */
static bool s_parse_compare(char *line, Zkv__Compare *c)
{
    s_words_t w;
    zkv__compare__init(c);
    if (!s_split(line, " \t(),", &w) || w.count != 4 || !s_target(&w, &c->target) ||
        !s_result(&w, &c->result))
        return false;
    c->key = s_word(&w, 1);
    if (c->target == ZKV__COMPARE__TARGET__VALUE) {
        c->value = s_word(&w, 3);
        return true;
    }
    return s_number(&w, 3, &c->number);
}

/*  put KEY VALUE | get KEY | del KEY | del --prefix P | del --from A [--to B] */
static bool s_parse_op(s_txn_t *t, char *line, size_t i)
{
    s_words_t w;
    Zkv__TxnOp *op = &t->ops[i];
    zkv__txn_op__init(op);
    if (!s_split(line, " \t", &w) || w.count < 2)
        return false;
    if (s_is(&w, 0, "put") && w.count == 3) {
        zkv__put_request__init(&t->puts[i]);
        t->puts[i].key = s_word(&w, 1);
        t->puts[i].value = s_word(&w, 2);
        op->op_case = ZKV__TXN_OP__OP_PUT;
        op->put = &t->puts[i];
        return true;
    }
    if (s_is(&w, 0, "get") && w.count == 2) {
        zkv__get_request__init(&t->gets[i]);
        t->gets[i].key = s_word(&w, 1);
        op->op_case = ZKV__TXN_OP__OP_GET;
        op->get = &t->gets[i];
        return true;
    }
    if (!s_is(&w, 0, "del"))
        return false;
    Zkv__DeleteRequest *d = &t->dels[i];
    zkv__delete_request__init(d);
    op->op_case = ZKV__TXN_OP__OP_DELETE;
    op->delete_ = d;
    if (w.count == 2) {
        d->key = s_word(&w, 1);
        return true;
    }
    d->range = true;
    d->key = s_word(&w, 2);
    if (s_is(&w, 1, "--prefix") && w.count == 3) {
        uint8_t *end = t->ends + i * ZKV_KEY_SIZE_MAX;
        if (d->key.len <= ZKV_KEY_SIZE_MAX &&
            zkv_prefix_end(d->key.data, d->key.len, end, &d->end.len))
            d->end.data = end;
        return true;
    }
    if (s_is(&w, 1, "--from") && (w.count == 3 || (w.count == 5 && s_is(&w, 3, "--to")))) {
        if (w.count == 5)
            d->end = s_word(&w, 4);
        return true;
    }
    return false;
}

/*  The whole input as a string; NULL after an error. */
static char *s_read_input(const char *path)
{
    FILE *in = !path || strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!in) {
        zkv_output_error("cannot open %.200s: %m", path);
        return NULL;
    }
    char *text = malloc(TXN_INPUT_MAX + 1);
    size_t n = text ? fread(text, 1, TXN_INPUT_MAX + 1, in) : 0;
    bool failed = !text || ferror(in) || n > TXN_INPUT_MAX;
    if (in != stdin)
        fclose(in);
    if (failed) {
        zkv_output_error("cannot read the transaction (at most %u bytes)", TXN_INPUT_MAX);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

/*  Split text into lines and sections (ended by an empty line); counts[k]
    lines in section k. false: more than three sections or too many lines. */
static bool s_sections(char *text, char **lines, size_t counts[3])
{
    size_t section = 0, total = 0;
    counts[0] = counts[1] = counts[2] = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len == 0) {
            if (++section > 2)
                return false;
            continue;
        }
        if (total == 3 * TXN_LINES_MAX)
            return false;
        lines[total++] = line;
        counts[section]++;
    }
    return true;
}

static bool s_alloc(s_txn_t *t, size_t compares, size_t ops)
{
    t->compares = calloc(compares + 1, sizeof *t->compares);
    t->compare_ptrs = calloc(compares + 1, sizeof *t->compare_ptrs);
    t->ops = calloc(ops + 1, sizeof *t->ops);
    t->op_ptrs = calloc(ops + 1, sizeof *t->op_ptrs);
    t->puts = calloc(ops + 1, sizeof *t->puts);
    t->dels = calloc(ops + 1, sizeof *t->dels);
    t->gets = calloc(ops + 1, sizeof *t->gets);
    t->ends = malloc((ops + 1) * ZKV_KEY_SIZE_MAX);
    t->op_count = ops;
    return t->compares && t->compare_ptrs && t->ops && t->op_ptrs && t->puts && t->dels &&
           t->gets && t->ends;
}

static void s_free(s_txn_t *t)
{
    free(t->compares);
    free(t->compare_ptrs);
    free(t->ops);
    free(t->op_ptrs);
    free(t->puts);
    free(t->dels);
    free(t->gets);
    free(t->ends);
    free(t->input);
}

/*  Parse the input into t->req; 0, or -1 after an error. */
static int s_parse(s_txn_t *t, const char *path)
{
    char **lines = malloc(3 * TXN_LINES_MAX * sizeof *lines);
    size_t counts[3];
    t->input = s_read_input(path);
    int rc = -1;
    if (!t->input)
        ; /* s_read_input said why */
    else if (!lines)
        zkv_output_error("out of memory");
    else if (!s_sections(t->input, lines, counts))
        zkv_output_error("txn: at most three sections (compares, then, else) of %d lines",
                         TXN_LINES_MAX);
    else if (!s_alloc(t, counts[0], counts[1] + counts[2]))
        zkv_output_error("out of memory");
    else
        rc = 0;
    for (size_t i = 0; rc == 0 && i < counts[0]; i++)
        if (!s_parse_compare(lines[i], &t->compares[i])) {
            zkv_output_error("txn: not a compare (e.g. mod(\"k\") > \"5\"): %.200s", lines[i]);
            rc = -1;
        } else
            t->compare_ptrs[i] = &t->compares[i];
    for (size_t i = 0; rc == 0 && i < t->op_count; i++)
        if (!s_parse_op(t, lines[counts[0] + i], i)) {
            zkv_output_error("txn: not an operation (put K V, get K, del K, del --prefix P, "
                             "del --from A [--to B]): %.200s",
                             lines[counts[0] + i]);
            rc = -1;
        } else
            t->op_ptrs[i] = &t->ops[i];
    zkv__txn_request__init(&t->req);
    if (rc == 0) {
        t->req = (Zkv__TxnRequest) ZKV__TXN_REQUEST__INIT;
        t->req.n_compares = counts[0];
        t->req.compares = t->compare_ptrs;
        t->req.n_success = counts[1];
        t->req.success = t->op_ptrs;
        t->req.n_failure = counts[2];
        t->req.failure = t->op_ptrs + counts[1];
    }
    free(lines);
    return rc;
}

static const char *s_op_name(const Zkv__TxnOp *op)
{
    return op->op_case == ZKV__TXN_OP__OP_PUT   ? "put"
           : op->op_case == ZKV__TXN_OP__OP_GET ? "get"
                                                : "del";
}

static ProtobufCBinaryData s_op_key(const Zkv__TxnOp *op)
{
    return op->op_case == ZKV__TXN_OP__OP_PUT   ? op->put->key
           : op->op_case == ZKV__TXN_OP__OP_GET ? op->get->key
                                                : op->delete_->key;
}

static json_t *s_json_result(const Zkv__TxnOp *op, const Zkv__TxnResult *r)
{
    ProtobufCBinaryData key = s_op_key(op);
    json_t *item = json_object();
    if (!item || json_object_set_new(item, "op", json_string(s_op_name(op))) ||
        zkv_output_json_bytes(item, "key", key.data, key.len) ||
        json_object_set_new(item, "found", json_boolean(r->found)))
        goto fail;
    if (op->op_case == ZKV__TXN_OP__OP_DELETE &&
        json_object_set_new(item, "deleted", zkv_output_json_u64(r->deleted)))
        goto fail;
    if (op->op_case == ZKV__TXN_OP__OP_GET && r->kv &&
        (zkv_output_json_bytes(item, "value", r->kv->value.data, r->kv->value.len) ||
         zkv_command_json_meta(item, r->kv->create_revision, r->kv->mod_revision, r->kv->version,
                               r->kv->lease)))
        goto fail;
    if (r->status == ZKV__STATUS__RESULT_TOO_LARGE &&
        json_object_set_new(item, "error", json_string("result too large")))
        goto fail;
    return item;
fail:
    json_decref(item);
    return NULL;
}

static int s_print_json(const Zkv__Response *reply, Zkv__TxnOp *const *ops)
{
    json_t *doc = json_object(), *results = json_array();
    bool failed = !doc || !results;
    for (size_t i = 0; !failed && i < reply->n_results; i++)
        failed = json_array_append_new(results, s_json_result(ops[i], reply->results[i])) != 0;
    if (!failed)
        failed = json_object_set_new(doc, "succeeded", json_boolean(reply->succeeded)) ||
                 json_object_set_new(doc, "revision", zkv_output_json_u64(reply->revision)) ||
                 json_object_set(doc, "results", results);
    json_decref(results);
    if (failed) {
        json_decref(doc);
        doc = NULL;
    }
    return zkv_command_json(doc);
}

/*  As etcdctl: SUCCESS or FAILURE, then per operation OK, the key and value
    read (nothing for an absent key), or the number of keys deleted. */
static void s_print_simple(const Zkv__Response *reply, Zkv__TxnOp *const *ops)
{
    printf("%s\n", reply->succeeded ? "SUCCESS" : "FAILURE");
    for (size_t i = 0; i < reply->n_results; i++) {
        const Zkv__TxnResult *r = reply->results[i];
        printf("\n");
        if (r->status == ZKV__STATUS__RESULT_TOO_LARGE)
            printf("(result too large)\n");
        else if (ops[i]->op_case == ZKV__TXN_OP__OP_PUT)
            printf("OK\n");
        else if (ops[i]->op_case == ZKV__TXN_OP__OP_DELETE)
            printf("%llu\n", (unsigned long long) r->deleted);
        else if (r->kv) {
            ProtobufCBinaryData key = s_op_key(ops[i]);
            zkv_output_line(stdout, key.data, key.len);
            zkv_output_line(stdout, r->kv->value.data, r->kv->value.len);
        }
    }
}

static int s_txn_print(const zkv_globals_t *g, const zkv_op_t *op, const Zkv__Response *reply)
{
    if (reply->status != ZKV__STATUS__OK)
        return zkv_command_refused(reply);
    const Zkv__TxnRequest *req = op->txn;
    size_t expected = reply->succeeded ? req->n_success : req->n_failure;
    if (reply->n_results != expected) {
        zkv_output_error("bad reply: %zu results for %zu operations", reply->n_results, expected);
        return ZKV_EXIT_ERROR;
    }
    Zkv__TxnOp *const *ops = reply->succeeded ? req->success : req->failure;
    if (g->format == ZKV_FORMAT_JSON)
        return s_print_json(reply, ops);
    s_print_simple(reply, ops);
    return ZKV_EXIT_OK;
}

static int s_txn(const zkv_command_t *cmd, zkv_globals_t *g, int argc, char **argv)
{
    const char *file = NULL;
    const zkv_flag_t flags[] = {
        {"file", 0, ZKV_FLAG_STRING, &file, "PATH", "read the transaction from PATH, not stdin"},
        {NULL},
    };
    zkv_args_t args;
    int code;
    if (!zkv_command_parse(cmd, g, flags, argc, argv, 0, 0, &args, &code))
        return code;
    s_txn_t t = {0};
    if (s_parse(&t, file)) {
        s_free(&t);
        return ZKV_EXIT_USAGE;
    }
    zkv_op_t op = {.type = ZKV_OP_TXN, .txn = &t.req};
    code = zkv_command_execute(g, &op, s_txn_print);
    s_free(&t);
    return code;
}

const zkv_command_t zkv_cmd_txn = {
    "txn",
    "txn [--file PATH]",
    "Apply a transaction: compares, then one of two lists of operations",
    "Reads, as etcdctl txn does, from stdin (or PATH): compares, one per line,\n"
    "then an empty line, the operations to run if every compare holds, an empty\n"
    "line, and the operations to run otherwise. The whole transaction is one log\n"
    "entry: applied atomically, all its writes at one revision, each operation\n"
    "seeing the ones before it.\n\n"
    "Compares: TARGET(\"KEY\") OP \"ARG\", TARGET one of value (val), version\n"
    "(ver), mod (m), create (c), lease; OP one of = != > <. An absent key has\n"
    "version, mod and create 0; a value compare on an absent key never holds.\n"
    "Operations: put KEY VALUE, get KEY, del KEY, del --prefix P,\n"
    "del --from A [--to B]. Words may be double-quoted, with \\\" \\\\ \\n \\t \\xHH.\n"
    "Limits: 128 compares and 128 operations per branch, no key written twice in\n"
    "a branch, the request within one log entry (2 MiB + 68 KiB), 4 MiB of values\n"
    "returned (a get past it says 'result too large'; the writes still apply).\n\n"
    "Prints SUCCESS or FAILURE, then for each operation of the branch that ran:\n"
    "OK (put), the key and value (get; nothing if absent), the number deleted\n"
    "(del). -w json: {\"succeeded\":..,\"revision\":..,\"results\":[..]}.\n\n"
    "Example (move 30 from a to b if a has not changed since revision 41):\n"
    "  printf 'mod(\"acct/a\") = \"41\"\\n\\nput acct/a 70\\nput acct/b 30\\n\\nget acct/a\\n'"
    " | zkv txn\n",
    s_txn,
};
