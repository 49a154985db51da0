/*  security_attack: the attacker's side of test_security (security_attack.h). */
#include "security_attack.h"

#include <czmq.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cert.h"
#include "cluster_certs.h"
#include "harness.h"
#include "zkv.pb-c.h"

#define CAPTURE_START_MS 5000
#define WATCH_MS 3000

void sec_attack_cluster_id(sec_attack_t *self, zkv_client_t *admin)
{
    zkv_op_t op = {.type = ZKV_OP_MEMBER_LIST};
    const Zkv__Response *reply = NULL;
    CHECK(zkv_client_call(admin, &op, &reply) == 0 && reply->cluster_id, "member list");
    self->cluster_id = reply->cluster_id;
}

/*  The APPEND a leader would send: SEC_FORGED_KEY at the index after commit. */
static void s_send_append(const sec_attack_t *self, zsock_t *sock, uint32_t to, uint64_t commit)
{
    Zkv__PutRequest put = ZKV__PUT_REQUEST__INIT;
    put.key = (ProtobufCBinaryData){strlen(SEC_FORGED_KEY), (uint8_t *) SEC_FORGED_KEY};
    put.value = (ProtobufCBinaryData){10, (uint8_t *) "evil-value"};
    Zkv__Command cmd = ZKV__COMMAND__INIT;
    cmd.op_case = ZKV__COMMAND__OP_PUT;
    cmd.put = &put;
    uint8_t data[256];
    Zkv__Entry entry = ZKV__ENTRY__INIT, *entries[1] = {&entry};
    entry.term = self->term;
    entry.index = commit + 1;
    entry.data = (ProtobufCBinaryData){zkv__command__pack(&cmd, data), data};
    Zkv__PeerMessage pm = ZKV__PEER_MESSAGE__INIT;
    pm.type = ZKV__PEER_MESSAGE_TYPE__APPEND;
    pm.from = self->leader;
    pm.to = to;
    pm.term = self->term;
    pm.log_term = self->term;
    pm.index = commit;
    pm.n_entries = 1;
    pm.entries = entries;
    pm.commit = commit + 1;
    pm.cluster_id = self->cluster_id;
    zframe_t *frame = h_peer_frame(&pm);
    zframe_send(&frame, sock, 0);
}

static void s_send_vote_and_timeout(const sec_attack_t *self, zsock_t *sock, uint32_t to,
                                    uint32_t other)
{
    Zkv__PeerMessage vote = ZKV__PEER_MESSAGE__INIT;
    vote.type = ZKV__PEER_MESSAGE_TYPE__VOTE;
    vote.from = other;
    vote.to = to;
    vote.term = self->term + 1000;
    vote.log_term = self->term + 1000;
    vote.index = 1u << 30;
    vote.force = true;
    vote.cluster_id = self->cluster_id;
    zframe_t *frame = h_peer_frame(&vote);
    zframe_send(&frame, sock, 0);
    Zkv__PeerMessage now = ZKV__PEER_MESSAGE__INIT;
    now.type = ZKV__PEER_MESSAGE_TYPE__TIMEOUT_NOW;
    now.from = self->leader;
    now.to = to;
    now.term = self->term;
    now.cluster_id = self->cluster_id;
    frame = h_peer_frame(&now);
    zframe_send(&frame, sock, 0);
}

/*  A DEALER into node id's peer ROUTER, as a stranger with cert (or none). */
static zsock_t *s_dealer(const sec_attack_t *self, uint32_t id, const char *cert)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    CHECK(sock, "dealer");
    zsock_set_linger(sock, 1000);
    if (cert) {
        zkv_cert_t mine, target;
        char path[700], err[512];
        snprintf(path, sizeof path, "%s/certs/peers/node%u.cert", zkv_cluster_dir(self->cluster),
                 id);
        CHECK(zkv_cert_load(&mine, cert, true, err, sizeof err) == 0, "%s", err);
        CHECK(zkv_cert_load(&target, path, false, err, sizeof err) == 0, "%s", err);
        zkv_cert_apply_client(zsock_resolve(sock), &mine, target.public_key);
    }
    CHECK(zsock_connect(sock, "tcp://127.0.0.1:%u", zkv_cluster_ports(self->cluster, id).router) ==
              0,
          "connect to node %u's peer ROUTER", id);
    return sock;
}

void sec_attack_peers(const sec_attack_t *self, const char *cert, uint32_t vote_from)
{
    for (uint32_t id = 1; id <= 3; id++) {
        if (id == self->leader)
            continue;
        uint32_t other = vote_from ? vote_from : 6 - id - self->leader;
        zkv_node_status_t st;
        CHECK(zkv_cluster_status(self->cluster, id, &st) == 0, "status of node %u", id);
        zsock_t *sock = s_dealer(self, id, cert);
        s_send_append(self, sock, id, st.commit);
        s_send_vote_and_timeout(self, sock, id, other);
        zsock_destroy(&sock); /* lingers until sent, or for a second when it cannot be */
    }
}

/* ---------------------------------------------------------------- capture */

static pid_t s_tcpdump(const char *pcap, const char *log)
{
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("tcpdump", "tcpdump", "--immediate-mode", "-Z", "root", "-i", "lo", "-n", "-U", "-w",
               pcap, "tcp", (char *) NULL);
        _exit(127);
    }
    for (int64_t end = h_now_ms() + CAPTURE_START_MS; h_now_ms() < end; usleep(20000)) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = fopen(log, "r");
        if (f) {
            text = calloc(1, 4096);
            size = text ? fread(text, 1, 4095, f) : 0;
            fclose(f);
        }
        bool listening = size && strstr(text, "listening on lo");
        free(text);
        if (listening)
            return pid;
        int status;
        CHECK(waitpid(pid, &status, WNOHANG) == 0,
              "tcpdump exited (%s); it needs root and the tcpdump package (scripts/deps.sh)", log);
    }
    CHECK(false, "tcpdump did not start listening on lo within %d ms", CAPTURE_START_MS);
}

static void *s_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    CHECK(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = malloc((size_t) n + 1);
    CHECK(data && fread(data, 1, (size_t) n, f) == (size_t) n, "read %s", path);
    fclose(f);
    *size = (size_t) n;
    return data;
}

int sec_capture_put(zkv_cluster_t *cluster, zkv_client_t *admin, const char *tag, const char *value)
{
    char pcap[700], log[700], key[64];
    snprintf(pcap, sizeof pcap, "%s/%s.pcap", zkv_cluster_dir(cluster), tag);
    snprintf(log, sizeof log, "%s/%s.tcpdump", zkv_cluster_dir(cluster), tag);
    snprintf(key, sizeof key, "capture/%s", tag);
    pid_t pid = s_tcpdump(pcap, log);
    zkv_value_t v = {0};
    CHECK(zkv_put(admin, key, strlen(key), value, strlen(value)) == 0, "put %s", key);
    CHECK(zkv_get(admin, key, strlen(key), &v) == 0 && v.size == strlen(value), "get %s", key);
    zkv_value_free(&v);
    usleep(300000); /* the followers' copies cross the loopback too */
    kill(pid, SIGINT);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "wait for tcpdump");
    size_t size;
    char *data = s_read_file(pcap, &size);
    /* Something was captured, or a missing value would prove nothing. */
    size_t log_size;
    char *log_text = s_read_file(log, &log_size);
    log_text[log_size] = '\0';
    CHECK(size > 1000, "the capture %s holds only %zu bytes; tcpdump said: %s", pcap, size,
          log_text);
    free(log_text);
    bool found = memmem(data, size, value, strlen(value)) != NULL;
    free(data);
    return found ? 1 : 0;
}

/* ---------------------------------------------------------------- watch */

static zsock_t *s_watch_sub(zkv_cluster_t *cluster, uint32_t id, const char *cert,
                            const char *server_key, const char *topic)
{
    zsock_t *sub = zsock_new(ZMQ_SUB);
    zkv_cert_t mine;
    char key[ZKV_CERT_KEY_LEN + 1], err[512];
    CHECK(sub && zkv_cert_load(&mine, cert, true, err, sizeof err) == 0 &&
              zkv_cert_server_key(key, server_key, err, sizeof err) == 0,
          "watch subscriber: %s", err);
    zkv_cert_apply_client(zsock_resolve(sub), &mine, key);
    zsock_set_subscribe(sub, topic);
    zsock_set_rcvtimeo(sub, 100);
    CHECK(zsock_connect(sub, "tcp://127.0.0.1:%u", zkv_cluster_ports(cluster, id).watch) == 0,
          "connect to the watch port");
    return sub;
}

/*  Whether sub got a message holding needle within ms. */
static bool s_got(zsock_t *sub, const char *needle, int64_t ms)
{
    for (int64_t end = h_now_ms() + ms; h_now_ms() < end;) {
        zmsg_t *msg = zmsg_recv(sub);
        if (!msg)
            continue;
        bool hit = false;
        for (zframe_t *f = zmsg_first(msg); f && !hit; f = zmsg_next(msg))
            hit = memmem(zframe_data(f), zframe_size(f), needle, strlen(needle)) != NULL;
        zmsg_destroy(&msg);
        if (hit)
            return true;
    }
    return false;
}

void sec_watch_gate(zkv_cluster_t *cluster, const char *reader_cert, const char *server_key,
                    zkv_client_t *admin)
{
    uint32_t id = h_leader(cluster);
    zsock_t *everything = s_watch_sub(cluster, id, reader_cert, server_key, "");
    zsock_t *app = s_watch_sub(cluster, id, reader_cert, server_key, "app/");
    usleep(500000); /* the subscriptions reach the node */
    bool app_seen = false;
    bool secret_seen = false;
    for (int round = 0; round < 10 && !app_seen; round++) {
        char value[32];
        snprintf(value, sizeof value, "round-%d", round);
        CHECK(zkv_put(admin, "secret/1", 8, value, strlen(value)) == 0, "put secret/1");
        CHECK(zkv_put(admin, "app/w", 5, value, strlen(value)) == 0, "put app/w");
        secret_seen = secret_seen || s_got(everything, "secret/1", WATCH_MS / 10);
        app_seen = s_got(app, "app/w", WATCH_MS / 10);
    }
    CHECK(app_seen, "the reader's subscription to app/ got nothing: the check below proves "
                    "nothing");
    secret_seen = secret_seen || s_got(everything, "secret/1", WATCH_MS);
    CHECK(!secret_seen, "the reader's subscription to every key got secret/1");
    h_note("watch port: a subscription past the key's rights gets nothing, app/ gets app/w");
    zsock_destroy(&everything);
    zsock_destroy(&app);
}

/* ---------------------------------------------------------------- bad certificates */

/*  Run zkvd with args; its exit status and stderr (one line expected). */
static int s_zkvd(const char *const *args, char *out, size_t size)
{
    const char *zkvd = getenv("ZKV_ZKVD");
    char cmd[4096];
    size_t n = (size_t) snprintf(cmd, sizeof cmd, "%s", zkvd && *zkvd ? zkvd : ZKV_ZKVD_PATH);
    for (const char *const *a = args; *a && n < sizeof cmd; a++)
        n += (size_t) snprintf(cmd + n, sizeof cmd - n, " '%s'", *a);
    snprintf(cmd + n, sizeof cmd - n, " 2>&1 >/dev/null");
    FILE *p = popen(cmd, "r");
    CHECK(p, "popen");
    size_t got = fread(out, 1, size - 1, p);
    out[got] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void s_refused(const char *what, const char *const *args, const char *expect)
{
    char out[2048];
    int rc = s_zkvd(args, out, sizeof out);
    const char *nl = strchr(out, '\n');
    CHECK(rc == 2 && nl && nl[1] == '\0' && strstr(out, expect),
          "%s: zkvd exited %d with '%s' (expected exit 2 and one line with '%s')", what, rc, out,
          expect);
    h_note("%s: %.*s", what, (int) (nl - out), out);
}

void sec_bad_certificates(void)
{
    char dir[] = "/tmp/zkv-badcert-XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    char err[512], data[600], server[600], peer[600], peers[600], clients[600], other[600];
    CHECK(zkv_cluster_certs_make(dir, 2, err, sizeof err) == 0, "%s", err);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(server, sizeof server, "%s/certs/server.cert", dir);
    snprintf(peer, sizeof peer, "%s/certs/peers/node1.cert", dir);
    snprintf(other, sizeof other, "%s/certs/peers/node2.cert", dir);
    snprintf(peers, sizeof peers, "%s/certs/peers", dir);
    snprintf(clients, sizeof clients, "%s/certs/clients", dir);
    const char *peers_flag = "1=127.0.0.1:1:2:3,2=127.0.0.1:4:5:6";
#define ZKVD(...)                                                                                  \
    (const char *const[]){"--id", "1", "--peers", peers_flag, "--data-dir", data, __VA_ARGS__, NULL}
    s_refused("no certificates", ZKVD("--tick-ms", "10"), "--insecure");
    s_refused("insecure and certificates", ZKVD("--insecure", "--server-cert", server),
              "choose one");
    s_refused("another node's peer certificate",
              ZKVD("--server-cert", server, "--peer-cert", other, "--peer-certs", peers,
                   "--client-certs", clients),
              "node 2's");
    char secret[700];
    snprintf(secret, sizeof secret, "%s_secret", server);
    CHECK(chmod(secret, 0644) == 0, "chmod");
    s_refused("a secret key others may read",
              ZKVD("--server-cert", server, "--peer-cert", peer, "--peer-certs", peers,
                   "--client-certs", clients),
              "chmod 600");
    FILE *f = fopen(secret, "w");
    CHECK(f && fputs("metadata\n    name = \"x\"\ncurve\n    public-key = \"short\"\n", f) >= 0 &&
              fclose(f) == 0 && chmod(secret, 0600) == 0,
          "garble %s", secret);
    s_refused("a file that is no certificate",
              ZKVD("--server-cert", server, "--peer-cert", peer, "--peer-certs", peers,
                   "--client-certs", clients),
              "is not a zcert");
#undef ZKVD
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "%s", cmd);
}
