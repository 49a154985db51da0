/*  integration_bad_input: what a node does with input it must not trust.

    Client port (raw DEALER): random bytes, every truncation of a Request,
    multi-frame garbage, a value of 1 MiB + 1, a key of 4 KiB + 1 in every
    request that carries one, a request without a body, a write with a client
    id but no sequence: each gets exactly one error reply (BAD_REQUEST,
    VALUE_TOO_LARGE, KEY_TOO_LARGE) echoing the request id when there was one.
    Plain TCP garbage on every port. Peer ports: random and malformed frames
    and PeerMessages from non-members on a node's ROUTER (through a DEALER),
    and on its SUB (from a fake node 3 that binds node 3's PUB port); frame
    headers claiming 2^63 bytes on every port, and a 9 MiB request. After
    each round the nodes are alive, the term has not moved, and a normal put
    and get work; at the end the real node 3 joins and catches up. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define REPLY_MS 5000
#define RANDOM_MESSAGES 200
#define NOISE_ROUND_MS 300 /* between rounds of noise until every node has traced some */
#define RANDOM_SIZE_MAX 300

static uint64_t s_rng;

static uint64_t s_random(void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * UINT64_C(2685821657736338717);
}

static void s_fill(uint8_t *buf, size_t size)
{
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t) s_random();
}

/* ---------------------------------------------------------------- raw client */

static zsock_t *s_dealer(const char *endpoint)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    CHECK(sock, "dealer");
    zsock_set_linger(sock, 0);
    zsock_set_rcvtimeo(sock, REPLY_MS);
    CHECK(zsock_connect(sock, "%s", endpoint) == 0, "connect %s", endpoint);
    return sock;
}

/*  Send frames as one message; the one reply, decoded. */
static Zkv__Response *s_exchange(zsock_t *sock, const uint8_t *const *frames, const size_t *sizes,
                                 size_t count, const char *what)
{
    zmsg_t *msg = zmsg_new();
    for (size_t i = 0; i < count; i++)
        zmsg_addmem(msg, frames[i], sizes[i]);
    CHECK(zmsg_send(&msg, sock) == 0, "send %s", what);
    zmsg_t *reply = zmsg_recv(sock);
    CHECK(reply, "no reply within %d ms to %s", REPLY_MS, what);
    CHECK(zmsg_size(reply) == 1, "reply to %s has %zu frames", what, zmsg_size(reply));
    zframe_t *frame = zmsg_first(reply);
    Zkv__Response *r = zkv__response__unpack(NULL, zframe_size(frame), zframe_data(frame));
    CHECK(r, "reply to %s is not a zkv.Response", what);
    zmsg_destroy(&reply);
    return r;
}

static void s_expect(zsock_t *sock, const uint8_t *data, size_t size, int status,
                     uint64_t request_id, const char *what)
{
    const uint8_t *frames[] = {data};
    size_t sizes[] = {size};
    Zkv__Response *r = s_exchange(sock, frames, sizes, 1, what);
    CHECK((int) r->status == status, "%s: status %s (%s), wanted %s", what,
          zkv_client_status_name(r->status), r->error, zkv_client_status_name(status));
    CHECK(r->request_id == request_id, "%s: request id %llu, wanted %llu", what,
          (unsigned long long) r->request_id, (unsigned long long) request_id);
    zkv__response__free_unpacked(r, NULL);
}

/*  What the node should answer to these bytes, decoded the way it does. */
static int s_predict(const uint8_t *data, size_t size, uint64_t *request_id)
{
    Zkv__Request *req = zkv__request__unpack(NULL, size, data);
    *request_id = req ? req->request_id : 0;
    int status =
        !req || req->body_case == ZKV__REQUEST__BODY__NOT_SET ? ZKV__STATUS__BAD_REQUEST : -1;
    if (req)
        zkv__request__free_unpacked(req, NULL);
    return status;
}

static void s_random_requests(zsock_t *sock)
{
    uint8_t buf[RANDOM_SIZE_MAX];
    size_t sent = 0;
    while (sent < RANDOM_MESSAGES) {
        size_t size = s_random() % RANDOM_SIZE_MAX;
        s_fill(buf, size);
        uint64_t request_id;
        if (s_predict(buf, size, &request_id) < 0)
            continue; /* by chance a valid request: not garbage */
        s_expect(sock, buf, size, ZKV__STATUS__BAD_REQUEST, request_id, "random bytes");
        sent++;
    }
}

static uint8_t *s_pack(const Zkv__Request *req, size_t *size)
{
    *size = zkv__request__get_packed_size(req);
    uint8_t *buf = malloc(*size ? *size : 1);
    CHECK(buf, "out of memory");
    zkv__request__pack(req, buf);
    return buf;
}

static void s_truncated_requests(zsock_t *sock)
{
    uint8_t value[100];
    s_fill(value, sizeof value);
    Zkv__PutRequest put = ZKV__PUT_REQUEST__INIT;
    put.key = (ProtobufCBinaryData){5, (uint8_t *) "trunc"};
    put.value = (ProtobufCBinaryData){sizeof value, value};
    Zkv__Request req = ZKV__REQUEST__INIT;
    req.client_id = 0x1234567890;
    req.sequence = 1;
    req.first_unacked = 1;
    req.request_id = 0xabcdef;
    req.body_case = ZKV__REQUEST__BODY_PUT;
    req.put = &put;
    size_t size;
    uint8_t *full = s_pack(&req, &size);
    for (size_t cut = 0; cut < size; cut++) {
        uint64_t request_id;
        CHECK(s_predict(full, cut, &request_id) == ZKV__STATUS__BAD_REQUEST,
              "a request cut at %zu bytes decodes with a body", cut);
        char what[64];
        snprintf(what, sizeof what, "a put cut at %zu of %zu bytes", cut, size);
        s_expect(sock, full, cut, ZKV__STATUS__BAD_REQUEST, request_id, what);
    }
    free(full);
}

static void s_multi_frame(zsock_t *sock)
{
    uint8_t a[64], b[64], c[64];
    for (size_t n = 0; n < 30; n++) {
        s_fill(a, sizeof a);
        s_fill(b, sizeof b);
        s_fill(c, sizeof c);
        const uint8_t *frames[] = {a, b, c};
        size_t sizes[] = {s_random() % 64, s_random() % 64, s_random() % 64};
        Zkv__Response *r = s_exchange(sock, frames, sizes, 2 + n % 2, "multi-frame garbage");
        CHECK(r->status == ZKV__STATUS__BAD_REQUEST, "multi-frame garbage: %s",
              zkv_client_status_name(r->status));
        zkv__response__free_unpacked(r, NULL);
    }
    /* A REQ-style empty delimiter in front of a good request is two frames, too. */
    Zkv__Request req = ZKV__REQUEST__INIT;
    Zkv__StatusRequest status = ZKV__STATUS_REQUEST__INIT;
    req.body_case = ZKV__REQUEST__BODY_STATUS;
    req.status = &status;
    size_t size;
    uint8_t *good = s_pack(&req, &size);
    const uint8_t *frames[] = {(const uint8_t *) "", good};
    size_t sizes[] = {0, size};
    Zkv__Response *r = s_exchange(sock, frames, sizes, 2, "empty frame + status request");
    CHECK(r->status == ZKV__STATUS__BAD_REQUEST, "empty delimiter: %s",
          zkv_client_status_name(r->status));
    zkv__response__free_unpacked(r, NULL);
    free(good);
}

/* ---------------------------------------------------------------- limits */

typedef struct {
    Zkv__Request req;
    Zkv__GetRequest get;
    Zkv__PutRequest put;
    Zkv__DeleteRequest del;
    Zkv__CasRequest cas;
    Zkv__ScanRequest scan;
} request_t;

static void s_request(request_t *r, Zkv__Request__BodyCase body, uint64_t request_id)
{
    memset(r, 0, sizeof *r);
    zkv__request__init(&r->req);
    zkv__get_request__init(&r->get);
    zkv__put_request__init(&r->put);
    zkv__delete_request__init(&r->del);
    zkv__cas_request__init(&r->cas);
    zkv__scan_request__init(&r->scan);
    r->req.request_id = request_id;
    r->req.body_case = body;
    r->req.get = &r->get; /* the union: one pointer, set per body below */
    switch (body) {
    case ZKV__REQUEST__BODY_PUT: r->req.put = &r->put; break;
    case ZKV__REQUEST__BODY_DELETE: r->req.delete_ = &r->del; break;
    case ZKV__REQUEST__BODY_CAS: r->req.cas = &r->cas; break;
    case ZKV__REQUEST__BODY_SCAN: r->req.scan = &r->scan; break;
    default: break;
    }
}

static void s_send_request(zsock_t *sock, const request_t *r, int status, const char *what)
{
    size_t size;
    uint8_t *buf = s_pack(&r->req, &size);
    s_expect(sock, buf, size, status, r->req.request_id, what);
    free(buf);
}

static void s_oversized(zsock_t *sock, bool leader)
{
    static uint8_t big[ZKV_VALUE_SIZE_MAX + 1], key[ZKV_KEY_SIZE_MAX + 1];
    memset(big, 'v', sizeof big);
    memset(key, 'k', sizeof key);
    ProtobufCBinaryData big_value = {sizeof big, big}, long_key = {sizeof key, key};
    ProtobufCBinaryData short_key = {3, (uint8_t *) "key"};
    request_t r;
    s_request(&r, ZKV__REQUEST__BODY_PUT, 101);
    r.put.key = short_key;
    r.put.value = big_value;
    s_send_request(sock, &r, ZKV__STATUS__VALUE_TOO_LARGE, "put of 1 MiB + 1");
    s_request(&r, ZKV__REQUEST__BODY_CAS, 102);
    r.cas.key = short_key;
    r.cas.value = big_value;
    s_send_request(sock, &r, ZKV__STATUS__VALUE_TOO_LARGE, "cas to 1 MiB + 1");
    s_request(&r, ZKV__REQUEST__BODY_CAS, 103);
    r.cas.key = short_key;
    r.cas.expected = big_value;
    s_send_request(sock, &r, ZKV__STATUS__VALUE_TOO_LARGE, "cas expecting 1 MiB + 1");

    Zkv__Request__BodyCase bodies[] = {ZKV__REQUEST__BODY_PUT, ZKV__REQUEST__BODY_GET,
                                       ZKV__REQUEST__BODY_DELETE, ZKV__REQUEST__BODY_CAS};
    for (size_t i = 0; i < 4; i++) {
        s_request(&r, bodies[i], 200 + i);
        r.put.key = r.get.key = r.del.key = r.cas.key = long_key;
        s_send_request(sock, &r, ZKV__STATUS__KEY_TOO_LARGE, "a key of 4 KiB + 1");
    }
    for (size_t i = 0; i < 3; i++) {
        s_request(&r, ZKV__REQUEST__BODY_SCAN, 300 + i);
        *(i == 0 ? &r.scan.prefix : i == 1 ? &r.scan.start : &r.scan.end) = long_key;
        s_send_request(sock, &r, ZKV__STATUS__KEY_TOO_LARGE, "a scan bound of 4 KiB + 1");
    }
    /* Exactly at the limits is fine (writes on the leader only). */
    s_request(&r, ZKV__REQUEST__BODY_PUT, 400);
    r.put.key = (ProtobufCBinaryData){ZKV_KEY_SIZE_MAX, key};
    r.put.value = (ProtobufCBinaryData){ZKV_VALUE_SIZE_MAX, big};
    s_send_request(sock, &r, leader ? ZKV__STATUS__OK : ZKV__STATUS__NOT_LEADER,
                   "a put of a 4 KiB key and a 1 MiB value");
}

/*  A frame over the node's request limit (8 MiB) is not read: the node hangs
    up, unanswered. The DEALER connects again and the next request works. */
static void s_over_limit(zsock_t *sock)
{
    size_t size = 9u << 20;
    uint8_t *big = calloc(1, size);
    CHECK(big, "out of memory");
    zsock_set_rcvtimeo(sock, 1000);
    CHECK(zmq_send(zsock_resolve(sock), big, size, 0) == (int) size, "send 9 MiB");
    zmsg_t *reply = zmsg_recv(sock);
    CHECK(!reply, "a reply to a 9 MiB request");
    zsock_set_rcvtimeo(sock, REPLY_MS);
    free(big);
    request_t r;
    s_request(&r, ZKV__REQUEST__BODY__NOT_SET, 79);
    s_send_request(sock, &r, ZKV__STATUS__BAD_REQUEST, "a request after a 9 MiB one");
}

static void s_malformed_requests(zsock_t *sock)
{
    request_t r;
    s_request(&r, ZKV__REQUEST__BODY__NOT_SET, 77);
    s_send_request(sock, &r, ZKV__STATUS__BAD_REQUEST, "a request without a body");
    s_request(&r, ZKV__REQUEST__BODY_PUT, 78);
    r.req.client_id = 99;
    r.put.key = (ProtobufCBinaryData){3, (uint8_t *) "key"};
    s_send_request(sock, &r, ZKV__STATUS__BAD_REQUEST, "a write with a client id, sequence 0");
    /* An unknown field number, and an unknown body field number. */
    static const uint8_t unknown[] = {0x20, 0x05, 0xf8, 0x01, 0x01, 0x82, 0x02, 0x00};
    s_expect(sock, unknown, sizeof unknown, ZKV__STATUS__BAD_REQUEST, 5, "unknown fields");
    /* Four MiB of noise in one frame. */
    size_t size = 4u << 20;
    uint8_t *noise = malloc(size);
    CHECK(noise, "out of memory");
    uint64_t request_id;
    do
        s_fill(noise, size);
    while (s_predict(noise, size, &request_id) < 0);
    s_expect(sock, noise, size, ZKV__STATUS__BAD_REQUEST, request_id, "4 MiB of noise");
    free(noise);
    s_over_limit(sock);
}

/* ---------------------------------------------------------------- checks between rounds */

static uint64_t s_term(zkv_cluster_t *cluster, uint32_t id)
{
    zkv_node_status_t st;
    CHECK(zkv_cluster_status(cluster, id, &st) == 0, "node %u does not answer status", id);
    return st.term;
}

/*  The nodes are alive, in the same term, and serve a put and a get. */
static void s_still_serving(zkv_cluster_t *cluster, uint64_t term, const char *after)
{
    h_check_alive(cluster);
    for (uint32_t id = 1; id <= 2; id++)
        CHECK(s_term(cluster, id) == term, "after %s node %u is in term %llu, was %llu", after, id,
              (unsigned long long) s_term(cluster, id), (unsigned long long) term);
    zkv_client_t *client = h_client(cluster, 1, 5000, 0);
    char value[64];
    CHECK(h_put(client, "after", after) == ZKV__STATUS__OK, "put after %s", after);
    CHECK(h_get(client, "after", false, NULL, value, sizeof value) == ZKV__STATUS__OK &&
              streq(value, after),
          "get after %s: '%s'", after, value);
    zkv_client_destroy(&client);
    h_note("still serving after %s", after);
}

/* ---------------------------------------------------------------- peers */

/*  Plain TCP, no ZeroMQ handshake: noise, then hang up. */
static void s_tcp_noise(uint16_t port)
{
    for (int n = 0; n < 5; n++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0, "socket");
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHECK(connect(fd, (struct sockaddr *) &addr, sizeof addr) == 0, "connect to port %u", port);
        uint8_t buf[1000];
        s_fill(buf, sizeof buf);
        if (n == 0) /* a ZMTP signature, then garbage */
            memcpy(buf, "\xff\0\0\0\0\0\0\0\1\x7f", 10);
        ssize_t sent = send(fd, buf, 1 + s_random() % sizeof buf, MSG_NOSIGNAL);
        (void) sent; /* the node may hang up first */
        close(fd);
    }
}

/*  A ZMTP/2.0 greeting as a socket of type, then a frame header claiming
    2^63 bytes: the node must hang up, not try to allocate that. */
static void s_tcp_huge_frame(uint16_t port, uint8_t type)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0, "socket");
    struct timeval timeout = {REPLY_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *) &addr, sizeof addr) == 0, "connect to port %u", port);
    uint8_t greeting[] = {0xff, 0,    0,    0,    0,    0,    0,    0,    1,    0x7f, 0x01,
                          type, 0x02, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK(send(fd, greeting, sizeof greeting, MSG_NOSIGNAL) == (ssize_t) sizeof greeting,
          "send to port %u", port);
    uint8_t buf[256];
    ssize_t got;
    while ((got = recv(fd, buf, sizeof buf, 0)) > 0) {
    }
    CHECK(got == 0, "port %u kept a connection that announced a 2^63-byte frame", port);
    close(fd);
}

/*  Well-formed protobuf, wrong content: no such type, no sender, a sender
    that is not a member, a bad entry, a bad snapshot, not for us, term 0. */
static size_t s_junk_peer_messages(zframe_t **out, size_t capacity, uint64_t term)
{
    static uint8_t data[64] = "not a command";
    Zkv__Entry entries[3], bad_entry = ZKV__ENTRY__INIT;
    Zkv__Entry *entry_ptrs[3], *bad_ptrs[1] = {&bad_entry};
    for (size_t i = 0; i < 3; i++) {
        zkv__entry__init(&entries[i]);
        entries[i].term = term;
        entries[i].index = i + 1;
        entries[i].data = (ProtobufCBinaryData){sizeof data, data};
        entry_ptrs[i] = &entries[i];
    }
    bad_entry.type = 9;
    Zkv__Member member = ZKV__MEMBER__INIT; /* id 0 */
    Zkv__Member *member_ptrs[1] = {&member};
    Zkv__ClusterConfig config = ZKV__CLUSTER_CONFIG__INIT;
    config.n_members = 1;
    config.members = member_ptrs;
    uint8_t packed[64];
    Zkv__SnapshotMeta meta = ZKV__SNAPSHOT_META__INIT;
    meta.index = 10;
    meta.term = term;
    meta.config = (ProtobufCBinaryData){zkv__cluster_config__pack(&config, packed), packed};
    size_t n = 0;
    for (int kind = 0; kind < 9 && n < capacity; kind++) {
        Zkv__PeerMessage pm = ZKV__PEER_MESSAGE__INIT;
        pm.type = ZKV__PEER_MESSAGE_TYPE__APPEND;
        pm.from = 42; /* not a member */
        pm.term = term + 5;
        pm.n_entries = 3;
        pm.entries = entry_ptrs;
        if (kind == 0)
            pm.type = 99;
        else if (kind == 1)
            pm.from = 0;
        else if (kind == 3) {
            pm.entries = bad_ptrs;
            pm.n_entries = 1;
        } else if (kind == 4) {
            pm.type = ZKV__PEER_MESSAGE_TYPE__SNAPSHOT;
            pm.n_entries = 0;
            pm.snapshot = &meta;
            pm.chunk = (ProtobufCBinaryData){sizeof data, data};
        } else if (kind == 5 || kind == 8) {
            pm.type =
                kind == 5 ? ZKV__PEER_MESSAGE_TYPE__VOTE : ZKV__PEER_MESSAGE_TYPE__TIMEOUT_NOW;
            pm.n_entries = 0;
        } else if (kind == 6) {
            pm.from = 3;
            pm.to = 7; /* no such node */
        } else if (kind == 7) {
            pm.from = 3;
            pm.term = 0;
        }
        out[n++] = h_peer_frame(&pm);
    }
    return n;
}

static void s_send_noise(zsock_t *sock, uint64_t term)
{
    uint8_t buf[RANDOM_SIZE_MAX];
    for (int n = 0; n < RANDOM_MESSAGES; n++) {
        size_t frames = 1 + (n % 7 == 0 ? s_random() % 4 : 0);
        zmsg_t *msg = zmsg_new();
        for (size_t f = 0; f < frames; f++) {
            size_t size = s_random() % sizeof buf;
            s_fill(buf, size);
            zmsg_addmem(msg, buf, size);
        }
        zmsg_send(&msg, sock);
    }
    zframe_t *junk[16];
    size_t count = s_junk_peer_messages(junk, 16, term);
    for (size_t i = 0; i < count; i++)
        zframe_send(&junk[i], sock, 0);
}

/*  Which of nodes 1 and 2 traced a malformed peer message, waiting up to ms. */
static void s_note_dropped(h_trace_t *trace, bool seen[3], int64_t ms)
{
    int64_t deadline = h_now_ms() + ms;
    h_event_t event;
    while (!(seen[1] && seen[2]) && h_now_ms() < deadline)
        if (h_trace_wait(trace, "peer", "malformed", 0, deadline - h_now_ms(), &event) &&
            event.node >= 1 && event.node <= 2)
            seen[event.node] = true;
}

/*  The nodes' traces say they dropped malformed peer messages: the noise got
    there. The senders repeat a round of noise every NOISE_ROUND_MS until both
    have, so that a connection a node makes late still gets some, and watch
    both nodes at once, so that one node's events never hide the other's. */
static void s_expect_dropped(const char *from, const bool seen[3])
{
    for (uint32_t id = 1; id <= 2; id++)
        CHECK(seen[id], "node %u traced no malformed peer message from %s within %d ms", id, from,
              REPLY_MS);
}

/*  A DEALER into each node's ROUTER, as a peer would connect. */
static void s_router_noise(zkv_cluster_t *cluster, uint64_t term, h_trace_t *trace)
{
    bool seen[3] = {false, false, false};
    for (int64_t deadline = h_now_ms() + REPLY_MS;
         !(seen[1] && seen[2]) && h_now_ms() < deadline;) {
        for (uint32_t id = 1; id <= 2; id++) {
            char endpoint[64];
            snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%u",
                     zkv_cluster_ports(cluster, id).router);
            zsock_t *sock = s_dealer(endpoint);
            zsock_set_linger(sock, 2000); /* closed at once: let what was sent go out */
            s_send_noise(sock, term);
            zsock_destroy(&sock);
        }
        s_note_dropped(trace, seen, NOISE_ROUND_MS);
    }
    s_expect_dropped("a DEALER on its ROUTER port", seen);
}

/*  Node 3 is not started: the test binds its PUB port (as an XPUB, to see
    nodes 1 and 2 subscribe) and its ROUTER port, and speaks noise. */
static void s_fake_node3(zkv_cluster_t *cluster, uint64_t term, h_trace_t *trace)
{
    zkv_node_ports_t ports = zkv_cluster_ports(cluster, 3);
    zsock_t *xpub = zsock_new(ZMQ_XPUB);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    CHECK(xpub && router, "sockets");
    zsock_set_xpub_verbose(xpub, 1); /* every subscriber's subscription, not the first only */
    zsock_set_linger(xpub, 2000);
    CHECK(zsock_bind(xpub, "tcp://127.0.0.1:%u", ports.pub) == (int) ports.pub,
          "bind node 3's PUB port %u", ports.pub);
    CHECK(zsock_bind(router, "tcp://127.0.0.1:%u", ports.router) == (int) ports.router,
          "bind node 3's ROUTER port %u", ports.router);
    zsock_set_rcvtimeo(xpub, H_LEADER_MS);
    zframe_t *sub = zframe_recv(xpub);
    CHECK(sub && zframe_size(sub) >= 1 && zframe_data(sub)[0] == 1,
          "no node subscribed to node 3's port within %d ms", H_LEADER_MS);
    zframe_destroy(&sub);
    bool seen[3] = {false, false, false};
    zsock_set_rcvtimeo(router, 0);
    for (int64_t deadline = h_now_ms() + REPLY_MS;
         !(seen[1] && seen[2]) && h_now_ms() < deadline;) {
        s_send_noise(xpub, term);
        /* Whatever nodes 1 and 2 sent node 3 is answered with noise too. */
        for (zmsg_t *msg; (msg = zmsg_recv(router));) {
            zframe_t *identity = zmsg_pop(msg);
            zmsg_destroy(&msg);
            uint8_t buf[100];
            s_fill(buf, sizeof buf);
            zframe_send(&identity, router, ZFRAME_MORE);
            zmq_send(zsock_resolve(router), buf, sizeof buf, 0);
        }
        s_note_dropped(trace, seen, NOISE_ROUND_MS);
    }
    s_expect_dropped("the fake node 3's PUB", seen);
    zsock_destroy(&xpub);
    zsock_destroy(&router);
}

/* ---------------------------------------------------------------- the test */

static void s_client_rounds(zkv_cluster_t *cluster, uint32_t id, bool leader, uint64_t term)
{
    zsock_t *sock = s_dealer(zkv_cluster_client_endpoint(cluster, id));
    s_random_requests(sock);
    s_truncated_requests(sock);
    s_multi_frame(sock);
    s_malformed_requests(sock);
    s_still_serving(cluster, term, leader ? "garbage to the leader" : "garbage to a follower");
    s_oversized(sock, leader);
    s_still_serving(cluster, term,
                    leader ? "oversized requests to the leader"
                           : "oversized requests to a follower");
    zsock_destroy(&sock);
}

int main(void)
{
    const char *seed = getenv("ZKV_TEST_SEED");
    s_rng = seed ? strtoull(seed, NULL, 0) : 0x5eed0001;
    h_note("seed 0x%llx (ZKV_TEST_SEED replays it)", (unsigned long long) s_rng);
    /* Long election timeouts: a term that moves is the noise's doing, not a
       busy machine's. */
    /* Plaintext: the noise must reach the parsers, as an authenticated
       member's or client's would (test_security shows strangers stopped at
       the handshake). */
    zkv_cluster_config_t config = {.name = "badinput", .election_ticks = 100, .insecure = true};
    zkv_cluster_t *cluster = h_cluster_new(&config);
    /* Nodes 1 and 2 make a majority; node 3's ports are the fake's. */
    CHECK(zkv_cluster_start(cluster, 1) == 0 && zkv_cluster_start(cluster, 2) == 0, "start");
    uint32_t leader = h_leader(cluster);
    uint64_t term = s_term(cluster, leader);
    h_trace_t *trace = h_trace_open(cluster, 1, "peer ");
    h_trace_add(trace, cluster, 2);

    for (uint32_t id = 1; id <= 2; id++)
        s_client_rounds(cluster, id, id == leader, term);
    for (uint32_t id = 1; id <= 2; id++) {
        zkv_node_ports_t ports = zkv_cluster_ports(cluster, id);
        uint16_t each[] = {ports.client, ports.pub, ports.router, ports.trace};
        for (size_t p = 0; p < 4; p++)
            s_tcp_noise(each[p]);
        s_tcp_huge_frame(ports.client, ZMQ_DEALER);
        s_tcp_huge_frame(ports.router, ZMQ_DEALER);
        s_tcp_huge_frame(ports.pub, ZMQ_SUB);
        s_tcp_huge_frame(ports.trace, ZMQ_SUB);
    }
    s_still_serving(cluster, term, "plain TCP noise on every port");
    s_router_noise(cluster, term, trace);
    s_still_serving(cluster, term, "noise on the peer ROUTER ports");
    s_fake_node3(cluster, term, trace);
    s_still_serving(cluster, term, "noise from a fake node 3 to the SUB sockets");
    h_trace_close(&trace);

    CHECK(zkv_cluster_start(cluster, 3) == 0, "start node 3");
    zkv_client_t *client = h_client(cluster, 1, 10000, 0);
    const char *last = "noise from a fake node 3 to the SUB sockets";
    char value[64] = "";
    int64_t deadline = h_now_ms() + H_CATCH_UP_MS;
    while (!streq(value, last) && h_now_ms() < deadline)
        h_get(client, "after", true, zkv_cluster_client_endpoint(cluster, 3), value, sizeof value);
    CHECK(streq(value, last), "node 3 did not catch up: '%s'", value);
    zkv_client_destroy(&client);
    h_note("the real node 3 joined and caught up");
    h_cluster_finish(&cluster);
    return 0;
}
