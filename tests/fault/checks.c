/*  checks: see checks.h. Blocking calls are fine here: the workload is over. */
#include "checks.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zkv.h"
#include "digests.h"
#include "history.h"
#include "record.h"

#define CHECKS_CALL_MS 2000
#define CHECKS_POLL_MS 200

struct checks_t {
    const target_t *target;
    zkv_client_t *client;
};

typedef struct {
    bool ok;
    char role[16];
    uint64_t term, commit, applied;
    uint32_t leader;
} s_status_t;

static void s_sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

checks_t *checks_new(const target_t *target, char *err, size_t err_size)
{
    checks_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    self->target = target;
    zkv_client_config_t config = {.curve = target_curve(target),
                                  .endpoints = target->endpoints,
                                  .timeout_ms = CHECKS_CALL_MS};
    self->client = zkv_client_new(&config, err, err_size);
    if (!self->client) {
        free(self);
        return NULL;
    }
    return self;
}

void checks_destroy(checks_t **self_p)
{
    checks_t *self = *self_p;
    if (!self)
        return;
    zkv_client_destroy(&self->client);
    free(self);
    *self_p = NULL;
}

static s_status_t s_status(checks_t *self, uint32_t id)
{
    s_status_t st = {0};
    zkv_op_t op = {.type = ZKV_OP_STATUS, .endpoint = self->target->endpoint[id]};
    const Zkv__Response *r;
    if (zkv_client_call(self->client, &op, &r) != 0 || r->status != ZKV__STATUS__OK || !r->member)
        return st;
    st.ok = true;
    snprintf(st.role, sizeof st.role, "%s", r->member->role ? r->member->role : "");
    st.term = r->member->term;
    st.commit = r->member->commit_index;
    st.applied = r->member->applied_index;
    st.leader = r->member->leader_id;
    return st;
}

/*  The leader of the highest term that a majority names, or 0. */
static uint32_t s_agreed(const s_status_t *st, size_t n)
{
    uint32_t best = 0;
    for (uint32_t id = 1; id <= n; id++)
        if (st[id].ok && strcmp(st[id].role, "leader") == 0 &&
            (!best || st[id].term > st[best].term))
            best = id;
    size_t agree = 0;
    for (uint32_t id = 1; best && id <= n; id++)
        agree += st[id].ok && st[id].term == st[best].term && st[id].leader == best;
    return agree > n / 2 ? best : 0;
}

uint32_t checks_wait_leader(checks_t *self, int64_t timeout_ms)
{
    int64_t deadline = fault_now_ms() + timeout_ms;
    size_t n = self->target->nodes;
    do {
        s_status_t st[FAULT_NODES_MAX + 1];
        for (uint32_t id = 1; id <= n; id++)
            st[id] = s_status(self, id);
        uint32_t leader = s_agreed(st, n);
        if (leader)
            return leader;
        s_sleep_ms(CHECKS_POLL_MS);
    } while (fault_now_ms() < deadline);
    return 0;
}

/*  Every node's applied index and digest; false when one did not answer. */
static bool s_digests(checks_t *self, uint64_t *revision, uint64_t *digest)
{
    for (uint32_t id = 1; id <= self->target->nodes; id++) {
        zkv_op_t op = {.type = ZKV_OP_DIGEST, .endpoint = self->target->endpoint[id]};
        const Zkv__Response *r;
        if (zkv_client_call(self->client, &op, &r) != 0 || r->status != ZKV__STATUS__OK)
            return false;
        revision[id] = r->revision;
        digest[id] = r->digest;
    }
    return true;
}

static bool s_same_index(const uint64_t *revision, size_t n, uint64_t commit)
{
    for (uint32_t id = 1; id <= n; id++)
        if (revision[id] != revision[1] || revision[id] < commit)
            return false;
    return true;
}

static int s_compare(const uint64_t *digest, size_t n, const char *path, char *summary,
                     size_t summary_size)
{
    char text[FAULT_NODES_MAX * 64];
    size_t used = 0;
    for (uint32_t id = 1; id <= n; id++)
        used += (size_t) snprintf(text + used, sizeof text - used, "%u %016" PRIx64 "\n", id,
                                  digest[id]);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        fault_error("cannot write %s", path);
    zkv_lincheck_digests_t *digests;
    char err[256];
    if (zkv_lincheck_digests_parse(path, text, used, &digests, err, sizeof err) != 0) {
        fault_error("digests: %s", err);
        return 1;
    }
    char *report = zkv_lincheck_digests_describe(digests);
    printf("%s", report ? report : "");
    free(report);
    bool agree = zkv_lincheck_digests_agree(digests);
    snprintf(summary + strlen(summary), summary_size - strlen(summary), ", digests %s (%s)",
             agree ? "equal" : "DIFFER", zkv_lincheck_digests_reference(digests));
    zkv_lincheck_digests_destroy(&digests);
    return agree ? 0 : 1;
}

int checks_converge(checks_t *self, uint32_t leader, const char *digests_path, int64_t timeout_ms,
                    char *summary, size_t summary_size)
{
    int64_t deadline = fault_now_ms() + timeout_ms;
    size_t n = self->target->nodes;
    uint64_t revision[FAULT_NODES_MAX + 1] = {0}, digest[FAULT_NODES_MAX + 1] = {0};
    uint64_t commit = 0;
    bool same = false;
    do {
        s_status_t st = s_status(self, leader);
        commit = st.ok ? st.commit : commit;
        same = st.ok && s_digests(self, revision, digest) && s_same_index(revision, n, commit);
        if (!same)
            s_sleep_ms(CHECKS_POLL_MS);
    } while (!same && fault_now_ms() < deadline);
    for (uint32_t id = 1; id <= n; id++)
        fault_log("node %u: applied index %" PRIu64 ", digest %016" PRIx64, id, revision[id],
                  digest[id]);
    if (!same) {
        snprintf(summary, summary_size, "NOT CONVERGED within %lld ms (leader commit %" PRIu64 ")",
                 (long long) timeout_ms, commit);
        return -1;
    }
    snprintf(summary, summary_size, "%zu nodes at index %" PRIu64, n, revision[1]);
    return s_compare(digest, n, digests_path, summary, summary_size);
}

/* ---------------------------------------------------------------- final state */

/*  One page of a linearizable scan from start; the response, borrowed. */
static const Zkv__Response *s_scan_page(checks_t *self, const uint8_t *start, size_t size)
{
    zkv_op_t op = {.type = ZKV_OP_SCAN, .start = {start, size}};
    const Zkv__Response *r;
    if (zkv_client_call(self->client, &op, &r) != 0 || r->status != ZKV__STATUS__OK)
        return NULL;
    return r;
}

/*  Keys of the other checks (bank.c, watchcheck.c), not the workload's. */
static bool s_not_workload(const ProtobufCBinaryData *key)
{
    return (key->len >= 5 && memcmp(key->data, "bank/", 5) == 0) ||
           (key->len >= 5 && memcmp(key->data, "fill/", 5) == 0);
}

/*  The whole scan into f. The number of keys, or -1 when a page failed. */
static long s_scan_all(checks_t *self, FILE *f)
{
    uint8_t start[ZKV_KEY_SIZE_MAX + 1];
    size_t start_size = 0;
    long keys = 0;
    for (;;) {
        const Zkv__Response *r = s_scan_page(self, start, start_size);
        if (!r)
            return -1;
        for (size_t i = 0; i < r->n_kvs; i++) {
            const Zkv__KeyValue *kv = r->kvs[i];
            if (s_not_workload(&kv->key))
                continue;
            fputs("{\"key\": ", f);
            record_json_string(f, (record_str_t){(const char *) kv->key.data, kv->key.len});
            fputs(", \"value\": ", f);
            record_json_string(f, (record_str_t){(const char *) kv->value.data, kv->value.len});
            fputs("}\n", f);
            keys++;
        }
        if (!r->more || r->n_kvs == 0 || r->kvs[r->n_kvs - 1]->key.len > ZKV_KEY_SIZE_MAX)
            return keys;
        /* The next page starts just after the last key: the key with a 0 byte appended. */
        const Zkv__KeyValue *last = r->kvs[r->n_kvs - 1];
        memcpy(start, last->key.data, last->key.len);
        start[last->key.len] = 0;
        start_size = last->key.len + 1;
    }
}

long checks_final_state(checks_t *self, const char *final_path, int64_t timeout_ms)
{
    int64_t deadline = fault_now_ms() + timeout_ms;
    do {
        FILE *f = fopen(final_path, "w");
        if (!f) {
            fault_error("cannot write %s", final_path);
            return -1;
        }
        long keys = s_scan_all(self, f);
        if (fclose(f) != 0) {
            fault_error("cannot write %s", final_path);
            return -1;
        }
        if (keys >= 0)
            return keys;
        fault_log("final scan failed (%s); again", zkv_client_error(self->client));
        s_sleep_ms(CHECKS_POLL_MS);
    } while (fault_now_ms() < deadline);
    fault_error("no linearizable scan succeeded within %lld ms", (long long) timeout_ms);
    return -1;
}

/* ---------------------------------------------------------------- history */

static int s_load(const char *history_path, const char *final_path, zkv_history_t **history)
{
    char err[ZKV_HISTORY_ERROR_SIZE];
    int rc = zkv_history_load(history_path, history, err, sizeof err);
    if (rc == 0 && final_path)
        rc = zkv_history_load_final(*history, final_path, err, sizeof err);
    if (rc != 0) {
        fault_error("checker: %s", rc == ZKV_EINVAL || rc == ZKV_EIO ? err : zkv_strerror(rc));
        zkv_history_destroy(history);
    }
    return rc;
}

static zkv_lincheck_verdict_t s_check_key(const zkv_history_t *history, size_t key, bool quiet)
{
    const zkv_lincheck_op_t *ops;
    size_t count = zkv_history_ops(history, key, &ops);
    zkv_lincheck_result_t *result;
    int64_t start = fault_now_ms();
    if (zkv_lincheck_check(ops, count, NULL, &result) != 0) {
        printf("key \"%s\": unknown: out of memory\n", zkv_history_key(history, key));
        return ZKV_LINCHECK_UNKNOWN;
    }
    zkv_lincheck_verdict_t verdict = zkv_lincheck_result_verdict(result);
    if (!quiet) {
        char *report = zkv_lincheck_result_describe(result, ops, count);
        printf("key \"%s\" (%zu operations, %lld ms): %s", zkv_history_key(history, key), count,
               (long long) (fault_now_ms() - start), report ? report : "out of memory\n");
        free(report);
    }
    zkv_lincheck_result_destroy(&result);
    return verdict;
}

int checks_history(const char *history_path, const char *final_path, bool quiet, size_t *keys_bad)
{
    zkv_history_t *history;
    if (s_load(history_path, final_path, &history) != 0)
        return -1;
    size_t keys = zkv_history_key_count(history), bad = 0, unknown = 0;
    for (size_t k = 0; k < keys; k++) {
        zkv_lincheck_verdict_t verdict = s_check_key(history, k, quiet);
        bad += verdict == ZKV_LINCHECK_VIOLATION;
        unknown += verdict == ZKV_LINCHECK_UNKNOWN;
    }
    zkv_history_destroy(&history);
    *keys_bad = bad ? bad : unknown;
    return bad       ? ZKV_LINCHECK_VIOLATION
           : unknown ? ZKV_LINCHECK_UNKNOWN
                     : ZKV_LINCHECK_LINEARIZABLE;
}
