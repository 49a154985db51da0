/*  basic: put, get, compare-and-swap, scan and delete, one synchronous call
    each, against a zkv cluster.

        cc basic.c $(pkg-config --cflags --libs zkv) -o basic
        ./basic [ENDPOINTS]      (default: $ZKV_ENDPOINTS, else the local cluster)

    Exits 0 when every step did what zkv promises, 1 otherwise.

    CURVE: $ZKV_CERT (this client's certificate) and $ZKV_SERVER_KEY (the
    nodes' public key or its file); for scripts/run.sh's cluster,
      ZKV_CERT=~/.config/zkv/client.cert ZKV_SERVER_KEY=~/.config/zkv/server.cert
    Unset: plaintext, for a cluster run with --insecure. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zkv.h>

#define LOCAL_CLUSTER "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"

static bool s_check(const char *step, int rc, int want)
{
    printf("%-28s %s\n", step, zkv_client_strerror(rc));
    if (rc == want)
        return true;
    fprintf(stderr, "basic: %s: expected %s\n", step, zkv_client_strerror(want));
    return false;
}

static bool s_print(void *arg, zkv_bytes_t key, zkv_bytes_t value)
{
    (*(int *) arg)++;
    printf("  %.*s = %.*s\n", (int) key.size, (const char *) key.data, (int) value.size,
           (const char *) value.data);
    return true;
}

static bool s_run(zkv_client_t *c)
{
    const char *key = "example/basic/greeting";
    size_t ks = strlen(key);
    zkv_value_t v;
    int found = 0;
    bool ok = s_check("put greeting=hello", zkv_put(c, key, ks, "hello", 5), ZKV_OK) &&
              s_check("get greeting", zkv_get(c, key, ks, &v), ZKV_OK);
    if (!ok)
        return false;
    printf("  value %s, version %llu, written at revision %llu\n", (char *) v.data,
           (unsigned long long) v.version, (unsigned long long) v.mod_revision);
    ok = v.size == 5 && memcmp(v.data, "hello", 5) == 0 && v.version >= 1;
    zkv_value_free(&v);
    return ok &&
           s_check("cas hello -> bonjour", zkv_cas(c, key, ks, "hello", 5, "bonjour", 7), ZKV_OK) &&
           s_check("cas hello -> hi (stale)", zkv_cas(c, key, ks, "hello", 5, "hi", 2),
                   ZKV_EMISMATCH) &&
           s_check("put other", zkv_put(c, "example/basic/other", 19, "x", 1), ZKV_OK) &&
           s_check("scan example/basic/", zkv_scan(c, "example/basic/", 14, 0, s_print, &found),
                   ZKV_OK) &&
           found == 2 && s_check("delete greeting", zkv_delete(c, key, ks), ZKV_OK) &&
           s_check("delete greeting again", zkv_delete(c, key, ks), ZKV_ENOTFOUND) &&
           s_check("get greeting", zkv_get(c, key, ks, &v), ZKV_ENOTFOUND) &&
           s_check("delete other", zkv_delete(c, "example/basic/other", 19), ZKV_OK);
}

int main(int argc, char **argv)
{
    const char *endpoints = argc > 1 ? argv[1] : getenv("ZKV_ENDPOINTS");
    char err[256];
    /* The client's certificate and the nodes' public key, where zkv takes them
       from too (unset: plaintext, for a cluster run with --insecure). */
    zkv_client_config_t config = {.endpoints = endpoints ? endpoints : LOCAL_CLUSTER,
                                  .curve = {getenv("ZKV_CERT"), getenv("ZKV_SERVER_KEY")}};
    zkv_client_t *c = zkv_client_new(&config, err, sizeof err);
    if (!c) {
        fprintf(stderr, "basic: %s\n", err);
        return 1;
    }
    printf("libzkv %s\n", zkv_version());
    bool ok = s_run(c);
    if (!ok)
        fprintf(stderr, "basic: %s\n", zkv_client_error(c));
    zkv_client_destroy(&c);
    return ok ? 0 : 1;
}
