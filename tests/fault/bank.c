/*  bank: see bank.h. One zkv_client per bank client, driven from the
    driver's zmq_poll loop like the workload's. */
#include "bank.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zkv.h"

#define BANK_CLIENTS 2
#define BANK_ACCOUNTS 8
#define BANK_START 100
#define BANK_TOTAL (BANK_ACCOUNTS * BANK_START)
#define BANK_ATTEMPT_MS 1000
#define BANK_PREFIX "bank/a"
#define BANK_RECEIPTS "bank/r/"

typedef enum { S_INIT, S_SCAN, S_TRANSFER } s_step_t;
typedef enum { S_OK, S_FAILED, S_UNKNOWN } s_outcome_t;

/*  A transfer's receipt and what its answer said. */
typedef struct {
    char key[32];
    s_outcome_t outcome;
} s_receipt_t;

typedef struct {
    struct bank_t *bank;
    zkv_client_t *client;
    int index;
    bool busy;
    s_step_t step;
    uint64_t balance[BANK_ACCOUNTS], mod[BANK_ACCOUNTS];
    uint64_t transfers;
    size_t receipt; /* of the transfer in flight */
    /* What the transaction in flight borrows. */
    char keys[BANK_ACCOUNTS + 1][32], values[BANK_ACCOUNTS + 1][24];
    Zkv__TxnRequest txn;
    Zkv__Compare compares[2], *compare_ptrs[2];
    Zkv__TxnOp ops[BANK_ACCOUNTS + 1], *op_ptrs[BANK_ACCOUNTS + 1];
    Zkv__PutRequest puts[BANK_ACCOUNTS + 1];
} s_client_t;

struct bank_t {
    fault_rng_t rng;
    s_client_t clients[BANK_CLIENTS];
    bool stopping;
    size_t inflight;
    s_receipt_t *receipts;
    size_t n_receipts, cap_receipts;
    bank_stats_t stats;
    const target_t *target;
    int64_t op_timeout_ms;
};

bank_t *bank_new(const fault_options_t *options, const target_t *target, char *err, size_t err_size)
{
    bank_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->target = target;
    self->op_timeout_ms = options->op_timeout_ms;
    fault_rng_seed(&self->rng, options->seed ^ UINT64_C(0x62616e6b));
    for (int i = 0; i < BANK_CLIENTS; i++) {
        s_client_t *c = &self->clients[i];
        *c = (s_client_t){.bank = self, .index = i, .step = i == 0 ? S_INIT : S_SCAN};
        zkv_client_config_t config = {.curve = target_curve(target),
                                      .endpoints = target->endpoints,
                                      .timeout_ms = options->op_timeout_ms,
                                      .attempt_timeout_ms = BANK_ATTEMPT_MS,
                                      .home = (size_t) i % target->nodes,
                                      .inflight_max = 4};
        c->client = zkv_client_new(&config, err, err_size);
        if (!c->client) {
            bank_destroy(&self);
            return NULL;
        }
    }
    return self;
}

void bank_destroy(bank_t **self_p)
{
    bank_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < BANK_CLIENTS; i++)
        zkv_client_destroy(&self->clients[i].client);
    free(self->receipts);
    free(self);
    *self_p = NULL;
}

static ProtobufCBinaryData s_bin(const char *text)
{
    return (ProtobufCBinaryData){strlen(text), (uint8_t *) text};
}

static Zkv__TxnOp *s_put_op(s_client_t *c, size_t i, const char *key, const char *value)
{
    zkv__put_request__init(&c->puts[i]);
    c->puts[i].key = s_bin(key);
    c->puts[i].value = s_bin(value);
    zkv__txn_op__init(&c->ops[i]);
    c->ops[i].op_case = ZKV__TXN_OP__OP_PUT;
    c->ops[i].put = &c->puts[i];
    return c->op_ptrs[i] = &c->ops[i];
}

/*  Every account at BANK_START, unless the first one exists already. */
static void s_init_txn(s_client_t *c)
{
    zkv__txn_request__init(&c->txn);
    for (size_t i = 0; i < BANK_ACCOUNTS; i++) {
        snprintf(c->keys[i], sizeof c->keys[i], BANK_PREFIX "%zu", i);
        snprintf(c->values[i], sizeof c->values[i], "%d", BANK_START);
        s_put_op(c, i, c->keys[i], c->values[i]);
    }
    zkv__compare__init(&c->compares[0]);
    c->compares[0].key = s_bin(c->keys[0]);
    c->compares[0].target = ZKV__COMPARE__TARGET__VERSION; /* 0: absent */
    c->compare_ptrs[0] = &c->compares[0];
    c->txn.n_compares = 1;
    c->txn.compares = c->compare_ptrs;
    c->txn.n_success = BANK_ACCOUNTS;
    c->txn.success = c->op_ptrs;
}

static size_t s_new_receipt(bank_t *self, s_client_t *c)
{
    if (self->n_receipts == self->cap_receipts) {
        self->cap_receipts = self->cap_receipts ? 2 * self->cap_receipts : 256;
        self->receipts = realloc(self->receipts, self->cap_receipts * sizeof *self->receipts);
    }
    s_receipt_t *r = &self->receipts[self->n_receipts];
    snprintf(r->key, sizeof r->key, BANK_RECEIPTS "%d-%" PRIu64, c->index, ++c->transfers);
    r->outcome = S_UNKNOWN;
    return self->n_receipts++;
}

/*  Move an amount from one account to another, if neither changed since the
    scan; the receipt says it happened. false when there is nothing to move. */
static bool s_transfer_txn(bank_t *self, s_client_t *c)
{
    int from = (int) fault_rng_below(&self->rng, BANK_ACCOUNTS);
    int to = (from + 1 + (int) fault_rng_below(&self->rng, BANK_ACCOUNTS - 1)) % BANK_ACCOUNTS;
    if (c->balance[from] == 0)
        return false;
    uint64_t amount = 1 + fault_rng_below(&self->rng, c->balance[from]);
    zkv__txn_request__init(&c->txn);
    int accounts[2] = {from, to};
    uint64_t after[2] = {c->balance[from] - amount, c->balance[to] + amount};
    for (size_t i = 0; i < 2; i++) {
        snprintf(c->keys[i], sizeof c->keys[i], BANK_PREFIX "%d", accounts[i]);
        snprintf(c->values[i], sizeof c->values[i], "%" PRIu64, after[i]);
        s_put_op(c, i, c->keys[i], c->values[i]);
        zkv__compare__init(&c->compares[i]);
        c->compares[i].key = s_bin(c->keys[i]);
        c->compares[i].target = ZKV__COMPARE__TARGET__MOD;
        c->compares[i].number = c->mod[accounts[i]];
        c->compare_ptrs[i] = &c->compares[i];
    }
    c->receipt = s_new_receipt(self, c);
    snprintf(c->values[2], sizeof c->values[2], "%" PRIu64, amount);
    /* A copy: the receipts array moves as it grows, the request borrows its key. */
    snprintf(c->keys[2], sizeof c->keys[2], "%s", self->receipts[c->receipt].key);
    s_put_op(c, 2, c->keys[2], c->values[2]);
    c->txn.n_compares = 2;
    c->txn.compares = c->compare_ptrs;
    c->txn.n_success = 3;
    c->txn.success = c->op_ptrs;
    return true;
}

/*  A scan of every account: one revision, so the total must hold. */
static void s_read_balances(bank_t *self, s_client_t *c, const Zkv__Response *r)
{
    if (r->n_kvs == 0)
        return; /* not there yet: the first client puts them */
    uint64_t total = 0;
    for (size_t i = 0; i < r->n_kvs && i < BANK_ACCOUNTS; i++) {
        char text[24];
        snprintf(text, sizeof text, "%.*s",
                 (int) (r->kvs[i]->value.len < 23 ? r->kvs[i]->value.len : 23),
                 (const char *) r->kvs[i]->value.data);
        uint64_t v = strtoull(text, NULL, 10);
        c->balance[i] = v;
        c->mod[i] = r->kvs[i]->mod_revision;
        total += v;
    }
    self->stats.scans++;
    if (r->n_kvs != BANK_ACCOUNTS || total != BANK_TOTAL)
        fault_error("bank: a scan at revision %" PRIu64 " holds %zu accounts totalling %" PRIu64
                    " (want %d and %d)",
                    r->revision, r->n_kvs, total, BANK_ACCOUNTS, BANK_TOTAL);
    c->step = S_TRANSFER;
}

static void s_done(void *arg, int rc, const Zkv__Response *r)
{
    s_client_t *c = arg;
    bank_t *self = c->bank;
    c->busy = false;
    self->inflight--;
    bool ok = rc == 0 && r->status == ZKV__STATUS__OK;
    if (c->step == S_INIT && ok)
        c->step = S_SCAN; /* either branch: the accounts exist */
    else if (c->step == S_SCAN && ok)
        s_read_balances(self, c, r);
    else if (c->step == S_TRANSFER) {
        s_receipt_t *receipt = &self->receipts[c->receipt];
        receipt->outcome = !ok ? S_UNKNOWN : r->succeeded ? S_OK : S_FAILED;
        self->stats.succeeded += receipt->outcome == S_OK;
        self->stats.conflicts += receipt->outcome == S_FAILED;
        self->stats.unknown += receipt->outcome == S_UNKNOWN;
        if (rc == 0 && r->status != ZKV__STATUS__OK)
            fault_error("bank: a transfer answered %s: %s", zkv_client_status_name(r->status),
                        r->error ? r->error : "");
        c->step = S_SCAN;
    }
}

static void s_issue(bank_t *self, s_client_t *c)
{
    zkv_op_t op = {.type = ZKV_OP_TXN, .txn = &c->txn};
    if (c->step == S_INIT)
        s_init_txn(c);
    else if (c->step == S_TRANSFER && !s_transfer_txn(self, c))
        c->step = S_SCAN;
    if (c->step == S_SCAN)
        op = (zkv_op_t){.type = ZKV_OP_SCAN, .prefix = {(const uint8_t *) BANK_PREFIX, 6}};
    int rc = zkv_client_submit(c->client, &op, s_done, c);
    if (rc != 0) {
        fault_error("bank: submit: %s", zkv_client_strerror(rc));
        return;
    }
    c->busy = true;
    self->inflight++;
}

void bank_issue(bank_t *self)
{
    for (int i = 0; i < BANK_CLIENTS && !self->stopping; i++)
        if (!self->clients[i].busy)
            s_issue(self, &self->clients[i]);
}

void bank_stop(bank_t *self)
{
    self->stopping = true;
}

size_t bank_pollitems(bank_t *self, zmq_pollitem_t *items, size_t capacity)
{
    size_t n = 0;
    for (int i = 0; i < BANK_CLIENTS; i++)
        n += zkv_client_pollitems(self->clients[i].client, items + n, capacity - n);
    return n;
}

int64_t bank_wait_ms(bank_t *self)
{
    int64_t wait = -1;
    for (int i = 0; i < BANK_CLIENTS; i++) {
        int64_t w = zkv_client_wait_ms(self->clients[i].client);
        if (w >= 0 && (wait < 0 || w < wait))
            wait = w;
    }
    return wait;
}

void bank_dispatch(bank_t *self)
{
    for (int i = 0; i < BANK_CLIENTS; i++)
        zkv_client_dispatch(self->clients[i].client);
}

size_t bank_inflight(const bank_t *self)
{
    return self->inflight;
}

const bank_stats_t *bank_stats(const bank_t *self)
{
    return &self->stats;
}

/*  A linearizable scan of prefix, retried until timeout_ms; NULL after an error. */
static const Zkv__Response *s_scan(bank_t *self, const char *prefix, int64_t timeout_ms)
{
    zkv_client_t *client = self->clients[0].client;
    int64_t end = fault_now_ms() + timeout_ms;
    for (;;) {
        zkv_op_t op = {.type = ZKV_OP_SCAN, .prefix = {(const uint8_t *) prefix, strlen(prefix)}};
        const Zkv__Response *r;
        int rc = zkv_client_call(client, &op, &r);
        if (rc == 0 && r->status == ZKV__STATUS__OK && !r->more)
            return r;
        if (fault_now_ms() >= end) {
            fault_error("bank: the final scan of %s failed: %s", prefix,
                        rc ? zkv_client_strerror(rc) : zkv_client_status_name(r->status));
            return NULL;
        }
    }
}

static void s_note_key(zhashx_t *found, const ProtobufCBinaryData *key)
{
    char text[64];
    snprintf(text, sizeof text, "%.*s", (int) (key->len < 63 ? key->len : 63),
             (const char *) key->data);
    zhashx_update(found, text, "");
}

/*  Every receipt key, a page at a time, into found (key -> ""). */
static bool s_receipts(bank_t *self, zhashx_t *found, int64_t timeout_ms)
{
    zkv_client_t *client = self->clients[0].client;
    uint8_t start[64];
    size_t start_size = strlen(BANK_RECEIPTS);
    memcpy(start, BANK_RECEIPTS, start_size);
    int64_t end = fault_now_ms() + timeout_ms;
    for (;;) {
        zkv_op_t op = {.type = ZKV_OP_SCAN,
                       .start = {start, start_size},
                       .end = {(const uint8_t *) "bank/r0", 7},
                       .keys_only = true};
        const Zkv__Response *r;
        int rc = zkv_client_call(client, &op, &r);
        if (rc || r->status != ZKV__STATUS__OK) {
            if (fault_now_ms() < end)
                continue;
            fault_error("bank: the final scan of the receipts failed: %s",
                        rc ? zkv_client_strerror(rc) : zkv_client_status_name(r->status));
            return false;
        }
        for (size_t i = 0; i < r->n_kvs; i++)
            s_note_key(found, &r->kvs[i]->key);
        if (!r->more || r->n_kvs == 0)
            return true;
        /* The next page: from the last key with a zero byte after it. */
        const ProtobufCBinaryData *last = &r->kvs[r->n_kvs - 1]->key;
        start_size = last->len < sizeof start - 1 ? last->len : sizeof start - 1;
        memcpy(start, last->data, start_size);
        start[start_size++] = 0;
    }
}

int bank_check(bank_t *self, int64_t timeout_ms)
{
    int errors = fault_error_count();
    const Zkv__Response *r = s_scan(self, BANK_PREFIX, timeout_ms);
    if (r)
        s_read_balances(self, &self->clients[0], r);
    zhashx_t *found = zhashx_new();
    bool read = s_receipts(self, found, timeout_ms);
    for (size_t i = 0; read && i < self->n_receipts; i++) {
        const s_receipt_t *rc = &self->receipts[i];
        bool there = zhashx_lookup(found, rc->key) != NULL;
        if (rc->outcome == S_OK && !there)
            fault_error("bank: transfer %s answered succeeded left no receipt", rc->key);
        if (rc->outcome == S_FAILED && there)
            fault_error("bank: transfer %s answered failed left its receipt", rc->key);
    }
    self->stats.receipts = zhashx_size(found);
    zhashx_destroy(&found);
    fault_log("bank: %" PRIu64 " scans, every total %d; transfers: %" PRIu64 " succeeded, %" PRIu64
              " conflicts, %" PRIu64 " unknown; %" PRIu64 " receipts at the end",
              self->stats.scans, BANK_TOTAL, self->stats.succeeded, self->stats.conflicts,
              self->stats.unknown, self->stats.receipts);
    return fault_error_count() == errors ? 0 : -1;
}
