/*  config: flags and environment variables, and the misconfigurations that must
    stop a node at start with one clear line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "config.h"
#include "listen.h"

#define PEERS "1=127.0.0.1:7201:7301:7101,2=127.0.0.1:7202:7302:7102,3=127.0.0.1:7203:7303:7103"

static char s_dir[64];

static int s_setup(void **state)
{
    (void) state;
    snprintf(s_dir, sizeof s_dir, "/tmp/zkv-config-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void) state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system(cmd);
}

/*  Parse argv, plaintext (--insecure first) unless it names certificates. */
static int s_parse(zkv_config_t *c, char **argv, char **env, char *err)
{
    char *args[64];
    int argc = 0;
    bool certs = false, help = false;
    for (int i = 0; argv[i]; i++) {
        certs = certs || strstr(argv[i], "cert") != NULL;
        help = help || strcmp(argv[i], "--help") == 0;
    }
    args[argc++] = argv[0];
    if (!certs && !help)
        args[argc++] = "--insecure";
    for (int i = 1; argv[i] && argc < 63; i++)
        args[argc++] = argv[i];
    args[argc] = NULL;
    FILE *out = fopen("/dev/null", "w");
    int rc = zkv_config_parse(c, argc, args, env, out, err, 256);
    fclose(out);
    return rc;
}

static void test_flags(void **state)
{
    (void) state;
    char dir[128], err[256] = "";
    snprintf(dir, sizeof dir, "%s/a/b", s_dir);
    char *argv[] = {
        "zkvd", "--id", "2", "--peers", PEERS, "--data-dir", dir, "--snapshot-entries=500", NULL};
    zkv_config_t c;
    assert_int_equal(s_parse(&c, argv, NULL, err), 0);
    assert_int_equal(c.id, 2);
    assert_int_equal(c.member_count, 3);
    assert_string_equal(c.members[2].host, "127.0.0.1");
    assert_int_equal(c.members[2].pub_port, 7203);
    assert_int_equal(c.members[2].router_port, 7303);
    assert_int_equal(c.members[2].client_port, 7103);
    assert_int_equal(c.snapshot_entries, 500);
    assert_int_equal(c.trace_port, 7402);
    assert_string_equal(c.listen, "127.0.0.1");
    struct stat st;
    assert_int_equal(stat(dir, &st), 0); /* created with its parent */
}

static void test_env_and_flag_precedence(void **state)
{
    (void) state;
    char dir_env[128], err[256] = "";
    snprintf(dir_env, sizeof dir_env, "ZKV_DATA_DIR=%s/env", s_dir);
    char *env[] = {"ZKV_ID=3",       "ZKV_PEERS=" PEERS,   dir_env,
                   "ZKV_TICK_MS=20", "ZKV_LISTEN=0.0.0.0", NULL};
    char *argv[] = {"zkvd", "--tick-ms", "5", NULL};
    zkv_config_t c;
    assert_int_equal(s_parse(&c, argv, env, err), 0);
    assert_int_equal(c.id, 3);
    assert_int_equal(c.tick_ms, 5);
    assert_string_equal(c.listen, "0.0.0.0");
}

static void s_expect_error(char **argv, char **env, const char *needle)
{
    char err[256] = "";
    zkv_config_t c;
    assert_int_equal(s_parse(&c, argv, env, err), -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
    assert_null(strchr(err, '\n'));
}

static void test_misconfigurations(void **state)
{
    (void) state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/d", s_dir);
    char *dup[] = {"zkvd", "--id", "1", "--data-dir", dir, "--peers", "1=h:1:2:3,1=h:4:5:6", NULL};
    s_expect_error(dup, NULL, "appears twice");
    char *missing[] = {"zkvd", "--id", "4", "--data-dir", dir, "--peers", PEERS, NULL};
    s_expect_error(missing, NULL, "not one of the members");
    char *no_id[] = {"zkvd", "--peers", PEERS, NULL};
    s_expect_error(no_id, NULL, "--id is required");
    char *bad_port[] = {"zkvd", "--id", "1", "--peers", "1=h:1:2:70000", NULL};
    s_expect_error(bad_port, NULL, "port 70000 is out of range (1 to 65535)");
    char *zero_port[] = {"zkvd", "--id", "1", "--peers", "1=h:0:2:3", NULL};
    s_expect_error(zero_port, NULL, "member 1: port 0 is out of range");
    char *word_port[] = {"zkvd", "--id", "1", "--peers", "1=h:1:x:3", NULL};
    s_expect_error(word_port, NULL, "port 'x' is not a number");
    char *unknown[] = {"zkvd", "--bogus", NULL};
    s_expect_error(unknown, NULL, "unknown flag");
    char *no_value[] = {"zkvd", "--id", NULL};
    s_expect_error(no_value, NULL, "needs a value");
    char *not_number[] = {"zkvd", "--id", "x1", NULL};
    s_expect_error(not_number, NULL, "not a number");
    char *bad_env[] = {"ZKV_ID=-1", NULL};
    char *none[] = {"zkvd", NULL};
    s_expect_error(none, bad_env, "--id");
}

/*  A port used twice is refused at parse time, not at bind (or never, when two
    members on one host would reach each other's socket). */
static void test_ports_used_twice(void **state)
{
    (void) state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/ports", s_dir);
    char *same_member[] = {"zkvd", "--id", "1", "--data-dir", dir, "--peers", "1=h:7201:7201:7101",
                           NULL};
    s_expect_error(same_member, NULL, "node 1 would listen on port 7201 twice");
    char *other_member[] = {
        "zkvd", "--id", "1", "--data-dir", dir, "--peers", "1=h:7201:7301:7101,2=h:7202:7302:7302",
        NULL};
    s_expect_error(other_member, NULL, "member 2 uses port 7302 as ROUTER and CLIENT");
    char *two_members[] = {
        "zkvd", "--id", "1", "--data-dir", dir, "--peers", "1=h:7201:7301:7101,2=h:7202:7301:7102",
        NULL};
    s_expect_error(two_members, NULL, "members 1 and 2 both use h:7301 (ROUTER and ROUTER)");
    char *trace[] = {"zkvd", "--id",         "1",    "--data-dir", dir, "--peers",
                     PEERS,  "--trace-port", "7101", NULL};
    s_expect_error(trace, NULL, "port 7101 twice: its CLIENT port and --trace-port");
    /* The same ports on other hosts are fine. */
    char err[256] = "";
    char *hosts[] = {
        "zkvd", "--id", "1", "--data-dir", dir, "--peers", "1=a:7201:7301:7101,2=b:7201:7301:7101",
        NULL};
    zkv_config_t c;
    assert_int_equal(s_parse(&c, hosts, NULL, err), 0);
}

/*  libzmq binds no host name: localhost becomes its address; an unknown name is
    one clear line. */
static void test_listen_resolve(void **state)
{
    (void) state;
    zkv_config_t c = {0};
    char err[256] = "";
    snprintf(c.listen, sizeof c.listen, "localhost");
    assert_int_equal(zkv_listen_resolve(&c, err, sizeof err), 0);
    assert_string_equal(c.listen, "127.0.0.1");
    snprintf(c.listen, sizeof c.listen, "0.0.0.0");
    assert_int_equal(zkv_listen_resolve(&c, err, sizeof err), 0);
    assert_string_equal(c.listen, "0.0.0.0");
    snprintf(c.listen, sizeof c.listen, "nosuch.invalid");
    assert_int_equal(zkv_listen_resolve(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot listen on 'nosuch.invalid'"));
}

/*  A port in use is named with its role and the reason. */
static void test_listen_port_in_use(void **state)
{
    (void) state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t size = sizeof addr;
    assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &addr, &size), 0);
    unsigned busy = ntohs(addr.sin_port);
    char dir[128], peers[128], trace[16], err[256] = "";
    snprintf(dir, sizeof dir, "%s/in-use", s_dir);
    snprintf(peers, sizeof peers, "1=127.0.0.1:1:2:%u", busy);
    snprintf(trace, sizeof trace, "%u", busy == 65535 ? 65534 : busy + 1);
    char *argv[] = {
        "zkvd", "--id",         "1", "--peers",        peers, "--data-dir", dir, "--trace-port",
        trace,  "--watch-port", "3", "--metrics-port", "4",   NULL};
    zkv_config_t c;
    assert_int_equal(s_parse(&c, argv, NULL, err), 0);
    c.trace_port = 0; /* only the busy port may fail: the others need no privilege */
    c.watch_port = c.metrics_port = c.members[0].pub_port = c.members[0].router_port = 0;
    assert_int_equal(zkv_listen_check(&c, err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want,
             "cannot bind tcp://127.0.0.1:%u (the client port, in --peers): ", busy);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "Address already in use"));
    close(fd);
    assert_int_equal(zkv_listen_check(&c, err, sizeof err), 0);
}

static void test_data_dir_not_usable(void **state)
{
    (void) state;
    char file[128];
    snprintf(file, sizeof file, "%s/plain-file", s_dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    char *argv[] = {"zkvd", "--id", "1", "--peers", PEERS, "--data-dir", file, NULL};
    s_expect_error(argv, NULL, "not a directory");
    char below[160];
    snprintf(below, sizeof below, "%s/sub", file);
    char *argv2[] = {"zkvd", "--id", "1", "--peers", PEERS, "--data-dir", below, NULL};
    s_expect_error(argv2, NULL, "--data-dir");
}

static void test_help(void **state)
{
    (void) state;
    char err[256] = "";
    char *argv[] = {"zkvd", "--help", NULL};
    zkv_config_t c;
    assert_int_equal(s_parse(&c, argv, NULL, err), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_env_and_flag_precedence),
        cmocka_unit_test(test_misconfigurations),
        cmocka_unit_test(test_ports_used_twice),
        cmocka_unit_test(test_listen_resolve),
        cmocka_unit_test(test_listen_port_in_use),
        cmocka_unit_test(test_data_dir_not_usable),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
