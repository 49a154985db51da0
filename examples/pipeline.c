/*  pipeline: many writes in flight on one client, the asynchronous form.
    zkv_client_submit starts a put and returns at once; zkv_client_poll
    waits for replies and calls each operation's callback. The window of
    writes in flight is what makes it fast: one round trip carries many.

        cc pipeline.c $(pkg-config --cflags --libs zkv) -o pipeline
        ./pipeline [COUNT [IN_FLIGHT [ENDPOINTS]]]   (default 10000, 256)

    Writes COUNT keys under example/pipeline/, reads a sample back, deletes
    them, prints the rate. Exits 0 when every write was acknowledged.

    CURVE: $ZKV_CERT (this client's certificate) and $ZKV_SERVER_KEY (the
    nodes' public key or its file); for scripts/run.sh's cluster,
      ZKV_CERT=~/.config/zkv/client.cert ZKV_SERVER_KEY=~/.config/zkv/server.cert
    Unset: plaintext, for a cluster run with --insecure. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, also under -std=c99 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zkv.h>

#define LOCAL_CLUSTER "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
#define KEY_SIZE 48

typedef struct {
    size_t done, failed;
    int first_error;
} tally_t;

/*  Called once per put from zkv_client_poll: rc 0 means a final answer. */
static void s_done(void *arg, int rc, const Zkv__Response *reply)
{
    tally_t *t = arg;
    t->done++;
    int error = rc ? rc : zkv_client_status_error(reply->status);
    if (error) {
        t->failed++;
        if (!t->first_error)
            t->first_error = error;
    }
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    size_t window = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
    const char *endpoints = argc > 3 ? argv[3] : getenv("ZKV_ENDPOINTS");
    char err[256];
    zkv_client_config_t config = {.endpoints = endpoints ? endpoints : LOCAL_CLUSTER,
                                  .inflight_max = window,
                                  .curve = {getenv("ZKV_CERT"), getenv("ZKV_SERVER_KEY")}};
    zkv_client_t *c = zkv_client_new(&config, err, sizeof err);
    if (!c || count == 0 || window == 0) {
        fprintf(stderr, "pipeline: %s\n", c ? "COUNT and IN_FLIGHT must be > 0" : err);
        return 1;
    }
    /* A put borrows its key and value until it completes: one buffer per key. */
    char(*keys)[KEY_SIZE] = calloc(count, KEY_SIZE);
    tally_t t = {0};
    double started = s_now();
    for (size_t next = 0; keys && t.done < count;) {
        while (next < count && next - t.done < window) {
            snprintf(keys[next], KEY_SIZE, "example/pipeline/%08zu", next);
            zkv_op_t op = {.type = ZKV_OP_PUT,
                           .key = {(const uint8_t *) keys[next], strlen(keys[next])},
                           .value = {(const uint8_t *) "value", 5}};
            if (zkv_client_submit(c, &op, s_done, &t) != 0)
                break; /* ZKV_EBUSY: as many in flight as the client takes; poll first */
            next++;
        }
        if (zkv_client_poll(c, 1000) < 0)
            break;
    }
    double seconds = s_now() - started;
    printf("%zu puts, %zu in flight: %.0f puts/s, %zu failed\n", t.done, window,
           (double) t.done / seconds, t.failed);
    zkv_value_t v;
    int rc = zkv_get(c, keys[count / 2], strlen(keys[count / 2]), &v);
    printf("get %s: %s\n", keys[count / 2], rc ? zkv_client_strerror(rc) : (char *) v.data);
    if (!rc)
        zkv_value_free(&v);
    zkv_op_t del = {.type = ZKV_OP_DELETE,
                    .key = {(const uint8_t *) "example/pipeline/", 17},
                    .end = {(const uint8_t *) "example/pipeline0", 17},
                    .range = true};
    const Zkv__Response *r;
    int drc = zkv_client_call(c, &del, &r);
    printf("deleted %llu keys\n", drc ? 0ull : (unsigned long long) r->deleted);
    bool ok = keys && t.done == count && t.failed == 0 && rc == 0 && drc == 0;
    if (t.failed)
        fprintf(stderr, "pipeline: first failure: %s\n", zkv_client_strerror(t.first_error));
    free(keys);
    zkv_client_destroy(&c);
    return ok ? 0 : 1;
}
