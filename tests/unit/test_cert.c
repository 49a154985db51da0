/*  test_cert: CURVE certificates (cli/cert.h) on disk: the round trip, what a
    secret file's mode must be, the files refused and why, server keys given
    either way, a directory of allowed clients, and the words for a failed
    handshake. Each test works in a directory of its own under $TMPDIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "cert.h"

/* ---------------------------------------------------------------- helpers */

typedef struct {
    char dir[256];       /* short: the paths made from it fit PATH_MAX */
    char path[PATH_MAX]; /* dir/alice.cert, saved by setup */
    char secret[PATH_MAX];
    zkv_cert_t cert;
    char err[1024];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(f->dir, sizeof f->dir, "%s/test_cert.XXXXXX", tmp);
    if (!mkdtemp(f->dir))
        return -1;
    umask(022);
    snprintf(f->path, sizeof f->path, "%s/alice.cert", f->dir);
    snprintf(f->secret, sizeof f->secret, "%s/alice.cert_secret", f->dir);
    if (zkv_cert_generate(&f->cert, "alice", 7) != 0 ||
        zkv_cert_save(&f->cert, f->path, f->err, sizeof f->err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char command[PATH_MAX + 16];
    snprintf(command, sizeof command, "rm -rf '%s'", f->dir);
    int rc = system(command);
    free(f);
    return rc;
}

/*  dir/name with the text, at mode. */
static void write_file(const fixture_t *f, const char *name, const char *text, mode_t mode,
                       char *path, size_t size)
{
    snprintf(path, size, "%s/%s", f->dir, name);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(text, out);
    fclose(out);
    assert_int_equal(chmod(path, mode), 0);
}

/*  A zcert file's text with these keys; a secret file when secret_key is set. */
static void cert_text(char *out, size_t size, const char *public_key, const char *secret_key)
{
    snprintf(out, size,
             "#   ZeroMQ CURVE Certificate\n\nmetadata\ncurve\n    public-key = \"%s\"\n%s%s%s",
             public_key, secret_key ? "    secret-key = \"" : "", secret_key ? secret_key : "",
             secret_key ? "\"\n" : "");
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* ---------------------------------------------------------------- tests */

/*  Saved and loaded back: the public file alone, then the secret one named
    either way; the secret file is 0600, the public one readable by all. */
static void test_round_trip(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(strlen(f->cert.public_key), ZKV_CERT_KEY_LEN);
    assert_int_equal(mode_of(f->secret), 0600);
    assert_int_equal(mode_of(f->path), 0644);
    zkv_cert_t got;
    assert_int_equal(zkv_cert_load(&got, f->path, false, f->err, sizeof f->err), 0);
    assert_string_equal(got.public_key, f->cert.public_key);
    assert_string_equal(got.secret_key, "");
    assert_string_equal(got.name, "alice");
    assert_int_equal(got.node_id, 7);
    const char *paths[] = {f->path, f->secret};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(zkv_cert_load(&got, paths[i], true, f->err, sizeof f->err), 0);
        assert_string_equal(got.public_key, f->cert.public_key);
        assert_string_equal(got.secret_key, f->cert.secret_key);
        assert_string_equal(got.name, "alice");
    }
    /* The public part of a secret file, as zkv cert show reads it: no secret. */
    assert_int_equal(zkv_cert_load(&got, f->secret, false, f->err, sizeof f->err), 0);
    assert_string_equal(got.secret_key, "");
}

/*  A secret others may read is refused, with the file and the cure named. */
static void test_secret_mode_refused(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(chmod(f->secret, 0644), 0);
    zkv_cert_t got;
    assert_int_equal(zkv_cert_load(&got, f->path, true, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, f->secret));
    assert_non_null(strstr(f->err, "0644"));
    assert_non_null(strstr(f->err, "chmod 600"));
    assert_int_equal(chmod(f->secret, 0640), 0);
    assert_int_equal(zkv_cert_load(&got, f->path, true, f->err, sizeof f->err), -1);
    /* The public file may be read by anyone. */
    assert_int_equal(zkv_cert_load(&got, f->path, false, f->err, sizeof f->err), 0);
}

static void test_garbage_refused(void **state)
{
    fixture_t *f = *state;
    char path[PATH_MAX];
    zkv_cert_t got;
    write_file(f, "garbage.cert", "hello\nworld = 3\n\x01\x02\n", 0644, path, sizeof path);
    assert_int_equal(zkv_cert_load(&got, path, false, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, path));
    assert_non_null(strstr(f->err, "is not a zcert public certificate"));
    write_file(f, "empty.cert", "", 0644, path, sizeof path);
    assert_int_equal(zkv_cert_load(&got, path, false, f->err, sizeof f->err), -1);
    snprintf(path, sizeof path, "%s/absent.cert", f->dir);
    assert_int_equal(zkv_cert_load(&got, path, false, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "No such file"));
}

/*  A key a character short, or one too long (not cut to a valid one). */
static void test_bad_key_length_refused(void **state)
{
    fixture_t *f = *state;
    char text[512], path[PATH_MAX], key[ZKV_CERT_KEY_LEN + 2];
    zkv_cert_t got;
    memcpy(key, f->cert.public_key, ZKV_CERT_KEY_LEN - 1);
    key[ZKV_CERT_KEY_LEN - 1] = '\0';
    cert_text(text, sizeof text, key, NULL);
    write_file(f, "short.cert", text, 0644, path, sizeof path);
    assert_int_equal(zkv_cert_load(&got, path, false, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "no valid curve public-key"));
    snprintf(key, sizeof key, "%s0", f->cert.public_key);
    cert_text(text, sizeof text, key, NULL);
    write_file(f, "long.cert", text, 0644, path, sizeof path);
    assert_int_equal(zkv_cert_load(&got, path, false, f->err, sizeof f->err), -1);
    /* A whole key of the right length loads; without metadata, named by its file. */
    cert_text(text, sizeof text, f->cert.public_key, NULL);
    write_file(f, "bob.cert", text, 0644, path, sizeof path);
    assert_int_equal(zkv_cert_load(&got, path, false, f->err, sizeof f->err), 0);
    assert_string_equal(got.name, "bob");
}

/*  The public certificate copied where the secret belongs is refused as one. */
static void test_public_as_secret_refused(void **state)
{
    fixture_t *f = *state;
    char text[512], path[PATH_MAX];
    zkv_cert_t got;
    cert_text(text, sizeof text, f->cert.public_key, NULL);
    write_file(f, "bob.cert_secret", text, 0600, path, sizeof path);
    assert_int_equal(zkv_cert_load(&got, path, true, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, path));
    assert_non_null(strstr(f->err, "not a zcert secret certificate"));
    /* Named by its public file, the secret one is read and found wanting. */
    snprintf(path, sizeof path, "%s/bob.cert", f->dir);
    assert_int_equal(zkv_cert_load(&got, path, true, f->err, sizeof f->err), -1);
    /* A secret file's own name, without metadata, loses the suffix. */
    cert_text(text, sizeof text, f->cert.public_key, f->cert.secret_key);
    write_file(f, "carol.cert_secret", text, 0600, path, sizeof path);
    assert_int_equal(zkv_cert_load(&got, path, true, f->err, sizeof f->err), 0);
    assert_string_equal(got.name, "carol");
}

static void test_server_key(void **state)
{
    fixture_t *f = *state;
    char key[ZKV_CERT_KEY_LEN + 1];
    assert_int_equal(zkv_cert_server_key(key, f->cert.public_key, f->err, sizeof f->err), 0);
    assert_string_equal(key, f->cert.public_key);
    memset(key, 0, sizeof key);
    assert_int_equal(zkv_cert_server_key(key, f->path, f->err, sizeof f->err), 0);
    assert_string_equal(key, f->cert.public_key);
    char short_key[ZKV_CERT_KEY_LEN];
    memcpy(short_key, f->cert.public_key, ZKV_CERT_KEY_LEN - 1);
    short_key[ZKV_CERT_KEY_LEN - 1] = '\0';
    assert_int_equal(zkv_cert_server_key(key, short_key, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "neither 40 Z85 characters nor a certificate file"));
    char not_z85[ZKV_CERT_KEY_LEN + 1];
    memset(not_z85, '"', ZKV_CERT_KEY_LEN);
    not_z85[ZKV_CERT_KEY_LEN] = '\0';
    assert_int_equal(zkv_cert_server_key(key, not_z85, f->err, sizeof f->err), -1);
}

/*  Every *.cert, sorted by file name; secret files and others left out. */
static void test_load_dir(void **state)
{
    fixture_t *f = *state;
    char path[PATH_MAX];
    zkv_cert_t bob;
    assert_int_equal(zkv_cert_generate(&bob, "bob", 0), 0);
    snprintf(path, sizeof path, "%s/0-bob.cert", f->dir);
    assert_int_equal(zkv_cert_save(&bob, path, f->err, sizeof f->err), 0);
    write_file(f, "notes.txt", "not a certificate\n", 0644, path, sizeof path);
    zkv_cert_t *certs = NULL;
    size_t count = 0;
    assert_int_equal(zkv_cert_load_dir(f->dir, &certs, &count, f->err, sizeof f->err), 0);
    assert_int_equal(count, 2);
    assert_string_equal(certs[0].name, "bob");
    assert_string_equal(certs[0].public_key, bob.public_key);
    assert_string_equal(certs[1].name, "alice");
    assert_string_equal(certs[0].secret_key, "");
    free(certs);
    /* One bad certificate: the directory is refused, naming it. */
    write_file(f, "bad.cert", "nothing here\n", 0644, path, sizeof path);
    assert_int_equal(zkv_cert_load_dir(f->dir, &certs, &count, f->err, sizeof f->err), -1);
    assert_null(certs);
    assert_non_null(strstr(f->err, "bad.cert"));
    snprintf(path, sizeof path, "%s/absent", f->dir);
    assert_int_equal(zkv_cert_load_dir(path, &certs, &count, f->err, sizeof f->err), -1);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(zkv_cert_load_dir(path, &certs, &count, f->err, sizeof f->err), 0);
    assert_int_equal(count, 0);
    free(certs);
}

/*  Neither file is ever replaced, and a failed save leaves nothing behind. */
static void test_save_refuses_overwrite(void **state)
{
    fixture_t *f = *state;
    zkv_cert_t other;
    assert_int_equal(zkv_cert_generate(&other, "alice", 0), 0);
    assert_int_equal(zkv_cert_save(&other, f->path, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "File exists"));
    zkv_cert_t got;
    assert_int_equal(zkv_cert_load(&got, f->path, true, f->err, sizeof f->err), 0);
    assert_string_equal(got.secret_key, f->cert.secret_key);
    /* The public file alone in the way: no secret file is left. */
    assert_int_equal(unlink(f->secret), 0);
    assert_int_equal(zkv_cert_save(&other, f->path, f->err, sizeof f->err), -1);
    assert_int_equal(access(f->secret, F_OK), -1);
}

static void test_client_keys(void **state)
{
    fixture_t *f = *state;
    zkv_cert_t mine;
    char key[ZKV_CERT_KEY_LEN + 1];
    assert_int_equal(zkv_cert_client_keys(&mine, key, NULL, NULL, f->err, sizeof f->err), 0);
    assert_int_equal(zkv_cert_client_keys(&mine, key, f->path, NULL, f->err, sizeof f->err), -1);
    assert_non_null(strstr(f->err, "server's key"));
    assert_int_equal(
        zkv_cert_client_keys(&mine, key, NULL, f->cert.public_key, f->err, sizeof f->err), -1);
    assert_int_equal(
        zkv_cert_client_keys(&mine, key, f->path, f->cert.public_key, f->err, sizeof f->err), 1);
    assert_string_equal(mine.secret_key, f->cert.secret_key);
    assert_string_equal(key, f->cert.public_key);
}

static void test_handshake_words(void **state)
{
    fixture_t *f = *state;
    const char *at = "tcp://127.0.0.1:7101";
    char *out = f->err;
    size_t size = sizeof f->err;
    assert_true(
        zkv_cert_handshake_failure(out, size, at, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400, true));
    assert_string_equal(
        out, "the node at tcp://127.0.0.1:7101 refused our key (not in its allowed clients)");
    uint32_t mismatch = ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH;
    assert_true(zkv_cert_handshake_failure(out, size, at, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                           mismatch, true));
    assert_non_null(strstr(out, "does not speak CURVE (it runs --insecure? then zkv --insecure)"));
    assert_true(zkv_cert_handshake_failure(out, size, at, ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                           mismatch, false));
    assert_non_null(strstr(out, "requires CURVE (give --cert and --server-key)"));
    /* A dropped handshake may be a node going down: not final. */
    assert_false(
        zkv_cert_handshake_failure(out, size, at, ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 32, true));
    assert_non_null(strstr(out, "--server-key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_mode_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_key_length_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_as_secret_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_refuses_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_words, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
