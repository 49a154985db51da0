/*  integration_sessions: exactly-once writes in the raw client protocol.

    A write whose client id has no session is refused (SESSION_EXPIRED) and
    changes nothing. Client A opens a session and puts x=from-A; B puts
    x=from-B; then more clients than the node keeps sessions for open one and
    write once each, so A's session is forgotten; A resends its put byte for
    byte (as after a lost reply): it must be refused, and x must still be
    from-B. A retry within a live session is answered from the session with
    the first application's revision. Session requests without a client id,
    or with a sequence, are bad requests. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kvstore.h"

#define REPLY_MS 10000
#define WINDOW 512 /* requests in flight while opening many sessions */
#define OTHER_CLIENTS (ZKV_SESSIONS_MAX + 500)

static zsock_t *s_dealer(const zkv_cluster_t *cluster, const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    CHECK(sock, "dealer");
    zsock_set_linger(sock, 0);
    zsock_set_rcvtimeo(sock, REPLY_MS);
    zsock_set_sndhwm(sock, 0);
    zsock_set_rcvhwm(sock, 0);
    h_secure(cluster, sock);
    CHECK(zsock_connect(sock, "%s", endpoint) == 0, "connect %s", endpoint);
    return sock;
}

static void s_send(zsock_t *sock, const Zkv__Request *req)
{
    size_t size = zkv__request__get_packed_size(req);
    zframe_t *frame = zframe_new(NULL, size);
    zkv__request__pack(req, zframe_data(frame));
    CHECK(zframe_send(&frame, sock, 0) == 0, "send");
}

static Zkv__Response *s_recv(zsock_t *sock, const char *what)
{
    zframe_t *frame = zframe_recv(sock);
    CHECK(frame, "no reply within %d ms to %s", REPLY_MS, what);
    Zkv__Response *r = zkv__response__unpack(NULL, zframe_size(frame), zframe_data(frame));
    CHECK(r, "reply to %s is not a zkv.Response", what);
    zframe_destroy(&frame);
    return r;
}

/*  One request, its one reply; CHECKs the status. */
static Zkv__Response *s_call(zsock_t *sock, const Zkv__Request *req, int status, const char *what)
{
    s_send(sock, req);
    Zkv__Response *r = s_recv(sock, what);
    CHECK((int) r->status == status, "%s: %s (%s), wanted %s", what,
          zkv_client_status_name((int) r->status), r->error, zkv_client_status_name(status));
    return r;
}

static void s_expect(zsock_t *sock, const Zkv__Request *req, int status, const char *what)
{
    zkv__response__free_unpacked(s_call(sock, req, status, what), NULL);
}

static Zkv__Request s_open(uint64_t client_id)
{
    static Zkv__OpenSessionRequest open = ZKV__OPEN_SESSION_REQUEST__INIT;
    Zkv__Request req = ZKV__REQUEST__INIT;
    req.client_id = client_id;
    req.body_case = ZKV__REQUEST__BODY_OPEN_SESSION;
    req.open_session = &open;
    return req;
}

/*  A put of key=value as client with sequence 1; put must outlive the request. */
static Zkv__Request s_put(Zkv__PutRequest *put, uint64_t client, const char *key,
                          const char *value)
{
    zkv__put_request__init(put);
    put->key = (ProtobufCBinaryData){strlen(key), (uint8_t *) key};
    put->value = (ProtobufCBinaryData){strlen(value), (uint8_t *) value};
    Zkv__Request req = ZKV__REQUEST__INIT;
    req.client_id = client;
    req.sequence = 1;
    req.first_unacked = 1;
    req.body_case = ZKV__REQUEST__BODY_PUT;
    req.put = put;
    return req;
}

static void s_expect_value(zkv_client_t *client, const char *key, const char *want)
{
    char value[64] = "";
    int status = h_get(client, key, false, NULL, value, sizeof value);
    CHECK(status == ZKV__STATUS__OK && streq(value, want), "%s is '%s' (status %d), wanted '%s'",
          key, value, status, want);
}

/*  OTHER_CLIENTS clients open a session and put once each, WINDOW requests in flight. */
static void s_many_clients(zsock_t *sock)
{
    Zkv__PutRequest put;
    size_t sent = 0, answered = 0, total = 2 * (size_t) OTHER_CLIENTS;
    while (answered < total) {
        while (sent < total && sent - answered < WINDOW) {
            uint64_t client = 0x1000000 + sent / 2;
            Zkv__Request req = sent % 2 ? s_put(&put, client, "other", "v") : s_open(client);
            req.request_id = sent++;
            s_send(sock, &req);
        }
        Zkv__Response *r = s_recv(sock, "a session or a write of the many clients");
        CHECK(r->status == ZKV__STATUS__OK, "request %llu of the many clients: %s (%s)",
              (unsigned long long) r->request_id, zkv_client_status_name((int) r->status),
              r->error);
        zkv__response__free_unpacked(r, NULL);
        answered++;
    }
}

static void s_bad_session_requests(zsock_t *sock)
{
    Zkv__Request req = s_open(0);
    s_expect(sock, &req, ZKV__STATUS__BAD_REQUEST, "open without a client id");
    req = s_open(77);
    req.sequence = 3;
    s_expect(sock, &req, ZKV__STATUS__BAD_REQUEST, "open with a sequence");
}

int main(void)
{
    zkv_cluster_config_t config = {.name = "sessions"};
    uint32_t leader;
    zkv_cluster_t *cluster = h_cluster_start(&config, &leader);
    zkv_client_t *client = h_client(cluster, leader, 10000, 16);
    zsock_t *sock = s_dealer(cluster, zkv_cluster_client_endpoint(cluster, leader));
    Zkv__PutRequest put;

    Zkv__Request stranger = s_put(&put, 0x5, "x", "stranger");
    s_expect(sock, &stranger, ZKV__STATUS__SESSION_EXPIRED, "a write without a session");
    CHECK(h_get(client, "x", false, NULL, NULL, 0) == ZKV__STATUS__NOT_FOUND, "x was written");
    s_bad_session_requests(sock);

    Zkv__Request open = s_open(0xA);
    s_expect(sock, &open, ZKV__STATUS__OK, "A opens");
    Zkv__Request a = s_put(&put, 0xA, "x", "from-A");
    Zkv__Response *first = s_call(sock, &a, ZKV__STATUS__OK, "A's put");
    Zkv__Response *again = s_call(sock, &a, ZKV__STATUS__OK, "A's put resent in its session");
    CHECK(again->revision == first->revision, "the retry applied again at %llu (first at %llu)",
          (unsigned long long) again->revision, (unsigned long long) first->revision);
    zkv__response__free_unpacked(first, NULL);
    zkv__response__free_unpacked(again, NULL);

    Zkv__PutRequest put_b;
    open = s_open(0xB);
    s_expect(sock, &open, ZKV__STATUS__OK, "B opens");
    Zkv__Request b = s_put(&put_b, 0xB, "x", "from-B");
    s_expect(sock, &b, ZKV__STATUS__OK, "B's put");
    h_note("A and B wrote x; now %d more clients open sessions", OTHER_CLIENTS);
    s_many_clients(sock);
    a = s_put(&put, 0xA, "x", "from-A");
    s_expect(sock, &a, ZKV__STATUS__SESSION_EXPIRED,
             "A's put resent after its session was evicted");
    s_expect_value(client, "x", "from-B");
    h_note("A's late retry was refused; x is still from-B");

    zkv_client_destroy(&client);
    zsock_destroy(&sock);
    h_cluster_finish(&cluster);
    return 0;
}
