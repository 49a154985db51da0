/*  test_client: the client library against fake nodes, and the histogram.

    A fake node is a czmq actor with a ROUTER on tcp://127.0.0.1:<ephemeral>
    that records every request it gets and answers as scripted: serve, redirect
    (NOT_LEADER), refuse (UNAVAILABLE), stay silent, drop the first replies,
    answer a batch in reverse order, or surround each answer with noise. The
    records come back over the actor's pipe, so the tests can check what went
    over the wire: client ids, sequences, first_unacked and request ids.
    Session requests (open, close) are answered at once as the mode says
    (served even by a silent node) and recorded only when asked for.

    A fake node may be a CURVE server, as zkvd is: the test runs a ZAP handler
    (RFC 27) that lets in one client key and refuses every other. */
#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "zkv.h"
#include "cert.h"
#include "histogram.h"

/* ---------------------------------------------------------------- fake node */

typedef enum {
    FAKE_SERVE,
    FAKE_NOT_LEADER,
    FAKE_UNAVAILABLE,
    FAKE_SILENT,
    FAKE_REVERSE
} fake_mode_t;

typedef struct {
    fake_mode_t mode;
    char leader[ZKV_CLIENT_ENDPOINT_SIZE_MAX]; /* FAKE_NOT_LEADER: the hint, may be empty */
    bool serve_naming_leader;                  /* FAKE_SERVE: gets answered naming leader */
    int drop_first;                            /* record but do not answer the first N */
    int batch;                                 /* FAKE_REVERSE: answer once N are held */
    bool noise;              /* garbage and stray replies, then the answer twice */
    bool record_sessions;    /* record session requests too */
    bool silent_sessions;    /* never answer session requests */
    int expire_writes;       /* answer the first N writes SESSION_EXPIRED */
    const zkv_cert_t *curve; /* a CURVE server with this certificate; NULL: plaintext */
} fake_config_t;

#define RECORDS_MAX 2048
#define HELD_MAX 64

typedef struct {
    uint64_t client_id;
    uint64_t sequence;
    uint64_t first_unacked;
    uint64_t request_id;
    int body;
    char key[64];
} record_t;

typedef struct {
    zframe_t *identity;
    Zkv__Request *request;
} held_t;

typedef struct {
    fake_config_t config;
    zsock_t *router;
    record_t *records;
    size_t count;
    held_t held[HELD_MAX];
    int nheld;
} fake_t;

static void s_send_reply(fake_t *f, zframe_t *identity, const Zkv__Response *reply)
{
    size_t size = zkv__response__get_packed_size(reply);
    zframe_t *body = zframe_new(NULL, size);
    zkv__response__pack(reply, zframe_data(body));
    zframe_t *id = zframe_dup(identity);
    zframe_send(&id, f->router, ZFRAME_MORE);
    zframe_send(&body, f->router, 0);
}

static void s_answer(fake_t *f, zframe_t *identity, const Zkv__Request *req)
{
    Zkv__Response reply;
    zkv__response__init(&reply);
    reply.client_id = req->client_id;
    reply.sequence = req->sequence;
    reply.request_id = req->request_id;
    reply.status = ZKV__STATUS__OK;
    Zkv__MemberStatus member;
    zkv__member_status__init(&member);
    bool write = req->body_case == ZKV__REQUEST__BODY_PUT ||
                 req->body_case == ZKV__REQUEST__BODY_DELETE ||
                 req->body_case == ZKV__REQUEST__BODY_CAS;
    if (write && f->config.expire_writes > 0) {
        f->config.expire_writes--;
        reply.status = ZKV__STATUS__SESSION_EXPIRED;
    } else if (f->config.mode == FAKE_NOT_LEADER) {
        reply.status = ZKV__STATUS__NOT_LEADER;
        reply.leader_endpoint = f->config.leader;
    } else if (f->config.mode == FAKE_UNAVAILABLE) {
        reply.status = ZKV__STATUS__UNAVAILABLE;
    } else if (req->body_case == ZKV__REQUEST__BODY_GET) {
        reply.value = req->get->key; /* echo the key, so matching can be checked */
        reply.found = true;
        if (f->config.serve_naming_leader) /* a follower serving a linearizable read */
            reply.leader_endpoint = f->config.leader;
    } else if (req->body_case == ZKV__REQUEST__BODY_DIGEST) {
        reply.digest = UINT64_C(0xfeedface12345678);
    } else if (req->body_case == ZKV__REQUEST__BODY_STATUS) {
        member.id = 7;
        member.role = "leader";
        reply.member = &member;
    }
    if (f->config.noise) {
        zframe_t *junk = zframe_new("\xff\xfe garbage", 10);
        zframe_t *id = zframe_dup(identity);
        zframe_send(&id, f->router, ZFRAME_MORE);
        zframe_send(&junk, f->router, 0);
        Zkv__Response stray = reply;
        stray.request_id = req->request_id ^ (UINT64_C(1) << 40);
        s_send_reply(f, identity, &stray);
        s_send_reply(f, identity, &reply);
    }
    s_send_reply(f, identity, &reply);
}

static void s_record(fake_t *f, const Zkv__Request *req)
{
    if (f->count == RECORDS_MAX)
        return;
    record_t *r = &f->records[f->count++];
    memset(r, 0, sizeof *r);
    r->client_id = req->client_id;
    r->sequence = req->sequence;
    r->first_unacked = req->first_unacked;
    r->request_id = req->request_id;
    r->body = req->body_case;
    const ProtobufCBinaryData *key = req->body_case == ZKV__REQUEST__BODY_GET   ? &req->get->key
                                     : req->body_case == ZKV__REQUEST__BODY_PUT ? &req->put->key
                                                                                : NULL;
    if (key)
        memcpy(r->key, key->data, key->len < sizeof r->key - 1 ? key->len : sizeof r->key - 1);
}

static void s_release_reversed(fake_t *f)
{
    while (f->nheld > 0) {
        held_t *h = &f->held[--f->nheld];
        s_answer(f, h->identity, h->request);
        zframe_destroy(&h->identity);
        zkv__request__free_unpacked(h->request, NULL);
    }
}

static void s_on_request(fake_t *f)
{
    zmsg_t *msg = zmsg_recv(f->router);
    zframe_t *identity = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    Zkv__Request *req =
        body ? zkv__request__unpack(NULL, zframe_size(body), zframe_data(body)) : NULL;
    bool session = req && (req->body_case == ZKV__REQUEST__BODY_OPEN_SESSION ||
                           req->body_case == ZKV__REQUEST__BODY_CLOSE_SESSION);
    if (session) {
        if (f->config.record_sessions)
            s_record(f, req);
        if (!f->config.silent_sessions)
            s_answer(f, identity, req);
    } else if (req) {
        s_record(f, req);
        bool drop = f->config.drop_first > 0 || f->config.mode == FAKE_SILENT;
        if (f->config.drop_first > 0)
            f->config.drop_first--;
        if (!drop && f->config.mode == FAKE_REVERSE && f->nheld < HELD_MAX) {
            f->held[f->nheld].identity = identity;
            f->held[f->nheld++].request = req;
            identity = NULL;
            req = NULL;
            if (f->nheld == f->config.batch)
                s_release_reversed(f);
        } else if (!drop) {
            s_answer(f, identity, req);
        }
    }
    zkv__request__free_unpacked(req, NULL);
    zframe_destroy(&identity);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
}

/*  Pipe commands: $TERM; RECORDS (answer: one frame holding the records). */
static bool s_on_pipe(fake_t *f, zsock_t *pipe)
{
    char *command = zstr_recv(pipe);
    bool go_on = command && strcmp(command, "$TERM") != 0;
    if (go_on && strcmp(command, "RECORDS") == 0) {
        zframe_t *frame = zframe_new(f->records, f->count * sizeof(record_t));
        zframe_send(&frame, pipe, 0);
    }
    zstr_free(&command);
    return go_on;
}

static void s_fake_actor(zsock_t *pipe, void *args)
{
    fake_t f = {.config = *(fake_config_t *) args};
    f.records = calloc(RECORDS_MAX, sizeof(record_t));
    f.router = zsock_new(ZMQ_ROUTER);
    /* No cmocka assertion off the test's thread: a port of -1 fails fake_start. */
    bool secure = !f.config.curve ||
                  zkv_cert_apply_server(zsock_resolve(f.router), f.config.curve, "zkv") == 0;
    int port = secure ? zsock_bind(f.router, "tcp://127.0.0.1:*") : -1;
    zsock_signal(pipe, 0);
    zstr_sendf(pipe, "tcp://127.0.0.1:%d", port);
    zpoller_t *poller = zpoller_new(pipe, f.router, NULL);
    for (;;) {
        zsock_t *which = zpoller_wait(poller, -1);
        if (which == f.router)
            s_on_request(&f);
        else if (which != pipe || !s_on_pipe(&f, pipe))
            break;
    }
    while (f.nheld > 0) {
        held_t *h = &f.held[--f.nheld];
        zframe_destroy(&h->identity);
        zkv__request__free_unpacked(h->request, NULL);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&f.router);
    free(f.records);
}

typedef struct {
    zactor_t *actor;
    char endpoint[ZKV_CLIENT_ENDPOINT_SIZE_MAX];
} fake_node_t;

static void fake_start(fake_node_t *node, fake_config_t config)
{
    node->actor = zactor_new(s_fake_actor, &config);
    assert_non_null(node->actor);
    char *endpoint = zstr_recv(node->actor);
    assert_non_null(endpoint);
    assert_null(strstr(endpoint, ":-1"));
    snprintf(node->endpoint, sizeof node->endpoint, "%s", endpoint);
    zstr_free(&endpoint);
}

static void fake_stop(fake_node_t *node)
{
    zactor_destroy(&node->actor);
}

/*  The node's records so far; the caller frees them. */
static record_t *fake_records(fake_node_t *node, size_t *count)
{
    zstr_send(node->actor, "RECORDS");
    zframe_t *frame = zframe_recv(node->actor);
    assert_non_null(frame);
    *count = zframe_size(frame) / sizeof(record_t);
    record_t *records = malloc(zframe_size(frame) + 1);
    memcpy(records, zframe_data(frame), zframe_size(frame));
    zframe_destroy(&frame);
    return records;
}

/* ---------------------------------------------------------------- helpers */

static zkv_client_t *client_for(const char *endpoints, int64_t timeout_ms, int64_t attempt_ms)
{
    zkv_client_config_t config = {
        .endpoints = endpoints, .timeout_ms = timeout_ms, .attempt_timeout_ms = attempt_ms};
    char err[256];
    zkv_client_t *client = zkv_client_new(&config, err, sizeof err);
    if (!client)
        fail_msg("zkv_client_new: %s", err);
    return client;
}

static zkv_op_t put_op(const char *key, const char *value)
{
    zkv_op_t op = {.type = ZKV_OP_PUT,
                   .key = {(const uint8_t *) key, strlen(key)},
                   .value = {(const uint8_t *) value, strlen(value)}};
    return op;
}

static zkv_op_t get_op(const char *key)
{
    zkv_op_t op = {.type = ZKV_OP_GET, .key = {(const uint8_t *) key, strlen(key)}};
    return op;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- tests */

/*  NOT_LEADER names the leader; the client follows it (here with the request
    that opens its session, which goes first), and its write goes there with
    the same client id and succeeds. The leader was not in the endpoint list. */
static void test_not_leader_redirects_write(void **state)
{
    (void) state;
    fake_node_t leader, follower;
    fake_start(&leader, (fake_config_t){.mode = FAKE_SERVE, .record_sessions = true});
    fake_config_t config = {.mode = FAKE_NOT_LEADER, .record_sessions = true};
    snprintf(config.leader, sizeof config.leader, "%s", leader.endpoint);
    fake_start(&follower, config);
    zkv_client_t *client = client_for(follower.endpoint, 2000, 500);

    zkv_op_t op = put_op("k", "v");
    const Zkv__Response *reply;
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    assert_string_equal(zkv_client_leader(client), leader.endpoint);
    zkv_client_stats_t stats;
    zkv_client_stats(client, &stats);
    assert_int_equal(stats.redirects, 1);

    size_t nf, nl;
    record_t *rf = fake_records(&follower, &nf);
    record_t *rl = fake_records(&leader, &nl);
    assert_int_equal(nf, 1);
    assert_int_equal(nl, 2);
    assert_int_equal(rf[0].body, ZKV__REQUEST__BODY_OPEN_SESSION);
    assert_int_equal(rl[0].body, ZKV__REQUEST__BODY_OPEN_SESSION);
    assert_int_equal(rf[0].client_id, zkv_client_id(client));
    assert_int_equal(rl[0].client_id, zkv_client_id(client));
    assert_int_equal(rl[1].client_id, zkv_client_id(client));
    assert_int_equal(rf[0].sequence, 0);
    assert_int_equal(rl[1].sequence, 1);
    assert_int_equal(rl[1].body, ZKV__REQUEST__BODY_PUT);
    assert_int_not_equal(rf[0].request_id, rl[0].request_id);

    /* The next write goes straight to the known leader. */
    op = put_op("k2", "v");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    free(rl);
    rl = fake_records(&leader, &nl);
    free(rf);
    rf = fake_records(&follower, &nf);
    assert_int_equal(nf, 1);
    assert_int_equal(nl, 3);
    assert_int_equal(rl[2].sequence, 2);
    free(rf);
    free(rl);
    zkv_client_destroy(&client);
    fake_stop(&follower);
    fake_stop(&leader);
}

/*  A follower that serves a linearizable read names the leader: the next
    read goes there; a serializable one stays at its home endpoint. */
static void test_read_served_naming_leader(void **state)
{
    (void) state;
    fake_node_t leader, follower;
    fake_start(&leader, (fake_config_t){.mode = FAKE_SERVE});
    fake_config_t config = {.mode = FAKE_SERVE, .serve_naming_leader = true};
    snprintf(config.leader, sizeof config.leader, "%s", leader.endpoint);
    fake_start(&follower, config);
    char endpoints[2 * ZKV_CLIENT_ENDPOINT_SIZE_MAX + 2];
    snprintf(endpoints, sizeof endpoints, "%s,%s", follower.endpoint, leader.endpoint);
    zkv_client_t *client = client_for(endpoints, 2000, 500);
    const Zkv__Response *reply;
    zkv_op_t op = get_op("a");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    assert_string_equal(zkv_client_leader(client), leader.endpoint);
    op = get_op("b");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    op.serializable = true;
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    size_t nf, nl;
    record_t *rf = fake_records(&follower, &nf);
    record_t *rl = fake_records(&leader, &nl);
    assert_int_equal(nf, 2);
    assert_int_equal(nl, 1);
    assert_string_equal(rf[0].key, "a");
    assert_string_equal(rl[0].key, "b");
    assert_string_equal(rf[1].key, "b"); /* the serializable one */
    free(rf);
    free(rl);
    zkv_client_destroy(&client);
    fake_stop(&follower);
    fake_stop(&leader);
}

/*  A reply lost: the retry carries the same client id and sequence; the next
    write gets a new sequence, and first_unacked moves past the acknowledged one. */
static void test_retry_keeps_sequence(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node, (fake_config_t){.mode = FAKE_SERVE, .drop_first = 1});
    zkv_client_t *client = client_for(node.endpoint, 3000, 150);
    assert_int_equal(zkv_client_first_unacked(client), 1);

    zkv_op_t op = put_op("k", "v1");
    const Zkv__Response *reply;
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    assert_int_equal(zkv_client_first_unacked(client), 2);
    op = put_op("k", "v2");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    op = get_op("k");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);

    size_t n;
    record_t *r = fake_records(&node, &n);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r[i].client_id, zkv_client_id(client));
    assert_int_equal(r[0].sequence, 1); /* dropped */
    assert_int_equal(r[1].sequence, 1); /* the retry */
    assert_int_not_equal(r[0].request_id, r[1].request_id);
    assert_int_equal(r[0].first_unacked, 1);
    assert_int_equal(r[1].first_unacked, 1);
    assert_int_equal(r[2].sequence, 2);
    assert_int_equal(r[2].first_unacked, 2);
    assert_int_equal(r[3].sequence, 0); /* reads take no sequence */
    assert_int_equal(r[3].first_unacked, 3);
    zkv_client_stats_t stats;
    zkv_client_stats(client, &stats);
    assert_int_equal(stats.no_reply, 1);
    assert_int_equal(stats.retries, 1);
    free(r);
    zkv_client_destroy(&client);
    fake_stop(&node);
}

typedef struct {
    zkv_client_t *client;
    int done;
    uint64_t first_unacked_seen[8];
} batch_t;

static void s_write_done(void *arg, int rc, const Zkv__Response *reply)
{
    batch_t *b = arg;
    assert_int_equal(rc, 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    b->first_unacked_seen[b->done++] = zkv_client_first_unacked(b->client);
}

/*  Three writes in flight, answered newest first: first_unacked stays at the
    oldest unanswered one, then jumps past all three. */
static void test_first_unacked_with_writes_in_flight(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node, (fake_config_t){.mode = FAKE_REVERSE, .batch = 3});
    zkv_client_t *client = client_for(node.endpoint, 3000, 1000);
    batch_t b = {.client = client};
    zkv_op_t ops[3] = {put_op("a", "1"), put_op("b", "2"), put_op("c", "3")};
    for (int i = 0; i < 3; i++)
        assert_int_equal(zkv_client_submit(client, &ops[i], s_write_done, &b), 0);
    assert_int_equal(zkv_client_next_sequence(client), 4);
    assert_int_equal(zkv_client_first_unacked(client), 1);
    int64_t give_up = now_ms() + 3000;
    while (b.done < 3 && now_ms() < give_up)
        zkv_client_poll(client, 100);
    assert_int_equal(b.done, 3);
    assert_int_equal(b.first_unacked_seen[0], 1); /* sequence 3 answered */
    assert_int_equal(b.first_unacked_seen[1], 1); /* sequence 2 */
    assert_int_equal(b.first_unacked_seen[2], 4); /* sequence 1: all done */
    assert_int_equal(zkv_client_inflight(client), 0);

    size_t n;
    record_t *r = fake_records(&node, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(r[i].sequence, i + 1);
        assert_int_equal(r[i].first_unacked, 1);
    }
    free(r);
    zkv_client_destroy(&client);
    fake_stop(&node);
}

/*  UNAVAILABLE from the first endpoint: the request moves to the next one. */
static void test_unavailable_moves_to_next_endpoint(void **state)
{
    (void) state;
    fake_node_t down, up;
    fake_start(&down, (fake_config_t){.mode = FAKE_UNAVAILABLE});
    fake_start(&up, (fake_config_t){.mode = FAKE_SERVE});
    char endpoints[600];
    snprintf(endpoints, sizeof endpoints, "%s,%s", down.endpoint, up.endpoint);
    zkv_client_t *client = client_for(endpoints, 2000, 500);

    zkv_op_t op = get_op("key");
    const Zkv__Response *reply;
    int64_t start = now_ms();
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    assert_memory_equal(reply->value.data, "key", 3);
    assert_true(now_ms() - start < 500); /* one short backoff, no attempt timeout */
    zkv_client_stats_t stats;
    zkv_client_stats(client, &stats);
    assert_int_equal(stats.refused, 1);
    size_t nd, nu;
    free(fake_records(&down, &nd));
    free(fake_records(&up, &nu));
    assert_int_equal(nd, 1);
    assert_int_equal(nu, 1);
    zkv_client_destroy(&client);
    fake_stop(&up);
    fake_stop(&down);
}

/*  Nobody answers: a clean ETIMEDOUT at the deadline, after retries of the same
    write (same client id and sequence) on every endpoint. */
static void test_deadline_when_nobody_answers(void **state)
{
    (void) state;
    fake_node_t a, b;
    fake_start(&a, (fake_config_t){.mode = FAKE_SILENT});
    fake_start(&b, (fake_config_t){.mode = FAKE_SILENT});
    char endpoints[600];
    snprintf(endpoints, sizeof endpoints, "%s,%s", a.endpoint, b.endpoint);
    zkv_client_t *client = client_for(endpoints, 400, 100);

    zkv_op_t op = put_op("k", "v");
    const Zkv__Response *reply = (const Zkv__Response *) &op;
    int64_t start = now_ms();
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_ETIMEDOUT);
    int64_t took = now_ms() - start;
    assert_null(reply);
    /* Never gives up before its deadline; the upper bound only catches a hang
       (a loaded machine may delay the last attempt's timer). */
    assert_true(took >= 390 && took < 3000);
    assert_non_null(strstr(zkv_client_error(client), "timed out after"));
    assert_non_null(strstr(zkv_client_error(client), "may or may not have been applied"));
    assert_int_equal(zkv_client_inflight(client), 0);
    assert_int_equal(zkv_client_first_unacked(client), 2); /* abandoned, not awaited */

    size_t na, nb;
    record_t *ra = fake_records(&a, &na);
    record_t *rb = fake_records(&b, &nb);
    /* a, b, a, b in turn: at least one silent attempt moved on to b. */
    assert_true(na >= 1 && nb >= 1 && na + nb >= 2);
    for (size_t i = 0; i < na; i++)
        assert_int_equal(ra[i].sequence, 1);
    for (size_t i = 0; i < nb; i++) {
        assert_int_equal(rb[i].sequence, 1);
        assert_int_equal(rb[i].client_id, ra[0].client_id);
    }
    free(ra);
    free(rb);
    zkv_client_destroy(&client);
    fake_stop(&a);
    fake_stop(&b);
}

typedef struct {
    char key[16];
    int completions;
} pending_read_t;

static void s_match_done(void *arg, int rc, const Zkv__Response *reply)
{
    /* The fake echoes the key as the value: the reply must be this read's. */
    pending_read_t *read = arg;
    assert_int_equal(rc, 0);
    assert_int_equal(reply->value.len, strlen(read->key));
    assert_memory_equal(reply->value.data, read->key, strlen(read->key));
    read->completions++;
}

/*  Sixteen reads in flight, answered in reverse: each reply reaches the
    request it answers. */
static void test_out_of_order_replies_match(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node, (fake_config_t){.mode = FAKE_REVERSE, .batch = 16});
    zkv_client_t *client = client_for(node.endpoint, 3000, 1000);
    pending_read_t reads[16];
    memset(reads, 0, sizeof reads);
    for (int i = 0; i < 16; i++) {
        snprintf(reads[i].key, sizeof reads[i].key, "key-%02d", i);
        zkv_op_t op = get_op(reads[i].key);
        assert_int_equal(zkv_client_submit(client, &op, s_match_done, &reads[i]), 0);
    }
    int done = 0;
    int64_t give_up = now_ms() + 3000;
    while (done < 16 && now_ms() < give_up)
        done += zkv_client_poll(client, 100);
    assert_int_equal(done, 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(reads[i].completions, 1);
    size_t n;
    record_t *r = fake_records(&node, &n);
    assert_int_equal(n, 16);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r[i].sequence, 0);
    free(r);
    zkv_client_destroy(&client);
    fake_stop(&node);
}

/*  Garbage frames, replies with foreign request ids and duplicate answers are
    counted and ignored; the real answer still completes the request once. */
static void test_noise_is_ignored(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node, (fake_config_t){.mode = FAKE_SERVE, .noise = true});
    zkv_client_t *client = client_for(node.endpoint, 2000, 500);
    for (int i = 0; i < 3; i++) {
        zkv_op_t op = get_op("x");
        const Zkv__Response *reply;
        assert_int_equal(zkv_client_call(client, &op, &reply), 0);
        assert_int_equal(reply->status, ZKV__STATUS__OK);
    }
    /* Let the trailing duplicates of the last answer arrive. */
    int64_t until = now_ms() + 200;
    while (now_ms() < until)
        zkv_client_poll(client, 50);
    zkv_client_stats_t stats;
    zkv_client_stats(client, &stats);
    assert_int_equal(stats.malformed, 3);
    assert_int_equal(stats.stale, 6);
    assert_int_equal(stats.operations, 3);
    zkv_client_destroy(&client);
    fake_stop(&node);
}

/*  Oversized keys and values are refused before anything is sent. */
static void test_oversized_refused_client_side(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node, (fake_config_t){.mode = FAKE_SERVE});
    zkv_client_t *client = client_for(node.endpoint, 2000, 500);
    static uint8_t big[ZKV_VALUE_SIZE_MAX + 1];
    const Zkv__Response *reply;

    zkv_op_t op = {.type = ZKV_OP_PUT, .key = {big, ZKV_KEY_SIZE_MAX + 1}, .value = {big, 1}};
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_EKEYSIZE);
    assert_non_null(strstr(zkv_client_error(client), "4097"));
    op.key.size = 1;
    op.value.size = ZKV_VALUE_SIZE_MAX + 1;
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_EVALSIZE);
    zkv_op_t cas = {.type = ZKV_OP_CAS, .key = {big, 1}, .expected = {big, sizeof big}};
    assert_int_equal(zkv_client_call(client, &cas, &reply), ZKV_EVALSIZE);
    zkv_op_t scan = {.type = ZKV_OP_SCAN, .prefix = {big, ZKV_KEY_SIZE_MAX + 1}};
    assert_int_equal(zkv_client_call(client, &scan, &reply), ZKV_EKEYSIZE);
    assert_int_equal(zkv_client_next_sequence(client), 1);

    size_t n;
    free(fake_records(&node, &n));
    assert_int_equal(n, 0);
    /* At the limits exactly, the request goes out. */
    op.key.size = ZKV_KEY_SIZE_MAX;
    op.value.size = ZKV_VALUE_SIZE_MAX;
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    free(fake_records(&node, &n));
    assert_int_equal(n, 1);
    zkv_client_destroy(&client);
    fake_stop(&node);
}

static void s_count_canceled(void *arg, int rc, const Zkv__Response *reply)
{
    assert_int_equal(rc, ZKV_CLIENT_ECANCELED);
    assert_null(reply);
    (*(int *) arg)++;
}

/*  No more than ZKV_CLIENT_WINDOW writes in flight; reads are still taken;
    cancel completes everything. */
static void test_write_window_and_cancel(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node, (fake_config_t){.mode = FAKE_SILENT});
    zkv_client_config_t config = {.endpoints = node.endpoint, .inflight_max = 2048};
    char err[256];
    zkv_client_t *client = zkv_client_new(&config, err, sizeof err);
    assert_non_null(client);
    int canceled = 0;
    zkv_op_t op = put_op("k", "v");
    for (int i = 0; i < ZKV_CLIENT_WINDOW; i++)
        assert_int_equal(zkv_client_submit(client, &op, s_count_canceled, &canceled), 0);
    assert_int_equal(zkv_client_submit(client, &op, s_count_canceled, &canceled), ZKV_EBUSY);
    zkv_op_t read = get_op("k");
    assert_int_equal(zkv_client_submit(client, &read, s_count_canceled, &canceled), 0);
    assert_int_equal(zkv_client_inflight(client), ZKV_CLIENT_WINDOW + 1);
    zkv_client_cancel(client);
    assert_int_equal(canceled, ZKV_CLIENT_WINDOW + 1);
    assert_int_equal(zkv_client_inflight(client), 0);
    assert_int_equal(zkv_client_first_unacked(client), zkv_client_next_sequence(client));
    assert_int_equal(zkv_client_submit(client, &op, s_count_canceled, &canceled), 0);
    zkv_client_destroy(&client);
    fake_stop(&node);
}

/*  An operation pinned to one endpoint is never redirected: status and
    digest ask that member, whatever it says. */
static void test_pinned_status_not_redirected(void **state)
{
    (void) state;
    fake_node_t leader, follower;
    fake_start(&leader, (fake_config_t){.mode = FAKE_SERVE});
    fake_config_t config = {.mode = FAKE_NOT_LEADER};
    snprintf(config.leader, sizeof config.leader, "%s", leader.endpoint);
    fake_start(&follower, config);
    zkv_client_t *client = client_for(leader.endpoint, 2000, 500);

    zkv_op_t op = {.type = ZKV_OP_STATUS, .endpoint = follower.endpoint};
    const Zkv__Response *reply;
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__NOT_LEADER);
    op.endpoint = leader.endpoint;
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    assert_non_null(reply->member);
    assert_int_equal(reply->member->id, 7);
    /* A digest goes to the member it is pinned to, too. */
    zkv_op_t digest = {.type = ZKV_OP_DIGEST, .endpoint = leader.endpoint};
    assert_int_equal(zkv_client_call(client, &digest, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    assert_true(reply->digest == UINT64_C(0xfeedface12345678));
    size_t n;
    record_t *r = fake_records(&leader, &n);
    assert_int_equal(n, 2);
    assert_int_equal(r[1].body, ZKV__REQUEST__BODY_DIGEST);
    assert_int_equal(r[1].sequence, 0);
    free(r);
    zkv_client_destroy(&client);
    fake_stop(&follower);
    fake_stop(&leader);
}

/*  NOT_LEADER without a name (an election): back off, try the next endpoint. */
static void test_not_leader_without_hint_rotates(void **state)
{
    (void) state;
    fake_node_t lost, leader;
    fake_start(&lost, (fake_config_t){.mode = FAKE_NOT_LEADER});
    fake_start(&leader, (fake_config_t){.mode = FAKE_SERVE});
    char endpoints[600];
    snprintf(endpoints, sizeof endpoints, "%s,%s", lost.endpoint, leader.endpoint);
    zkv_client_t *client = client_for(endpoints, 2000, 500);
    zkv_op_t op = put_op("k", "v");
    const Zkv__Response *reply;
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    size_t n;
    record_t *r = fake_records(&leader, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].sequence, 1);
    free(r);
    zkv_client_destroy(&client);
    fake_stop(&leader);
    fake_stop(&lost);
}

static void test_endpoint_lists(void **state)
{
    (void) state;
    char out[ZKV_CLIENT_ENDPOINTS_MAX][ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    char err[256];
    assert_int_equal(zkv_client_endpoints_parse("127.0.0.1:7101, tcp://h:2 ,ipc:///tmp/x", out,
                                                ZKV_CLIENT_ENDPOINTS_MAX, err, sizeof err),
                     3);
    assert_string_equal(out[0], "tcp://127.0.0.1:7101");
    assert_string_equal(out[1], "tcp://h:2");
    assert_string_equal(out[2], "ipc:///tmp/x");
    assert_int_equal(zkv_client_endpoints_parse("a:1,,b:2", out, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad endpoint"));
    assert_int_equal(zkv_client_endpoints_parse("", out, 4, err, sizeof err), -1);
    assert_int_equal(zkv_client_endpoints_parse("a:1,b:1,c:1", out, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "too many"));
    char one[16];
    assert_int_equal(zkv_client_endpoint_normalize("h:1", 3, one, sizeof one), 0);
    assert_int_equal(zkv_client_endpoint_normalize("a b:1", 5, one, sizeof one), -1);
    assert_int_equal(zkv_client_endpoint_normalize("averyveryverylonghost:1", 23, one, sizeof one),
                     -1);

    zkv_client_config_t config = {.endpoints = "a:1,a:1"};
    assert_null(zkv_client_new(&config, err, sizeof err));
    assert_non_null(strstr(err, "twice"));
    config.endpoints = "a:1";
    config.home = 1;
    assert_null(zkv_client_new(&config, err, sizeof err));
}

/*  A port out of range is refused with the reason, before libzmq says "Invalid argument". */
static void test_endpoint_ports(void **state)
{
    (void) state;
    char out[4][ZKV_CLIENT_ENDPOINT_SIZE_MAX];
    char err[256];
    assert_int_equal(zkv_client_endpoints_parse("h:65535,tcp://h:1", out, 4, err, sizeof err), 2);
    assert_int_equal(zkv_client_endpoints_parse("127.0.0.1:99999", out, 4, err, sizeof err), -1);
    assert_string_equal(err,
                        "bad endpoint '127.0.0.1:99999': the port is out of range (1 to 65535)");
    assert_int_equal(zkv_client_endpoints_parse("h:0", out, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(zkv_client_endpoints_parse("h:1,h", out, 4, err, sizeof err), -1);
    assert_string_equal(err, "bad endpoint 'h': no port (HOST:PORT)");
    assert_int_equal(zkv_client_endpoints_parse("h:7x", out, 4, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a number"));
}

/*  The first endpoint refuses connections (nothing listens there): the
    operation goes on to the next at once, not after the attempt timeout, and
    later ones skip it. */
static void test_refused_endpoint_skipped(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node, (fake_config_t){.mode = FAKE_SERVE});
    char endpoints[600];
    snprintf(endpoints, sizeof endpoints, "tcp://127.0.0.1:1,%s", node.endpoint);
    zkv_client_t *client = client_for(endpoints, 5000, 2000);
    const Zkv__Response *reply;
    for (int i = 0; i < 3; i++) {
        zkv_op_t op = i == 1 ? put_op("k", "v") : get_op("k");
        int64_t start = now_ms();
        assert_int_equal(zkv_client_call(client, &op, &reply), 0);
        assert_int_equal(reply->status, ZKV__STATUS__OK);
        assert_true(now_ms() - start < 1000); /* far below the attempt timeout */
    }
    assert_true(zkv_client_heard(client));
    zkv_client_stats_t stats;
    zkv_client_stats(client, &stats);
    assert_int_equal(stats.no_reply, 0);
    zkv_client_destroy(&client);
    fake_stop(&node);
}

/*  Nothing listens at any endpoint: the operation fails once every endpoint has
    refused for an attempt timeout, long before its deadline, naming them all. */
static void test_every_endpoint_refused(void **state)
{
    (void) state;
    zkv_client_t *client = client_for("127.0.0.1:1,127.0.0.1:2", 20000, 300);
    zkv_op_t op = get_op("k");
    const Zkv__Response *reply;
    int64_t start = now_ms();
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_ETIMEDOUT);
    int64_t took = now_ms() - start;
    assert_true(took >= 290 && took < 3000);
    assert_false(zkv_client_heard(client));
    assert_non_null(strstr(zkv_client_error(client),
                           "nothing answers at tcp://127.0.0.1:1, tcp://127.0.0.1:2"));
    /* A write: its session cannot open, and the write is not sent. */
    op = put_op("k", "v");
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_ETIMEDOUT);
    assert_non_null(strstr(zkv_client_error(client), "the write was not sent"));
    zkv_client_destroy(&client);
}

/*  A single attempt (zkv status): a refused connection ends it at once, silence
    after the attempt timeout, never the whole deadline. */
static void test_single_attempt(void **state)
{
    (void) state;
    fake_node_t silent;
    fake_start(&silent, (fake_config_t){.mode = FAKE_SILENT});
    zkv_client_t *client = client_for(silent.endpoint, 20000, 300);
    zkv_op_t op = {.type = ZKV_OP_STATUS, .endpoint = "tcp://127.0.0.1:1", .once = true};
    const Zkv__Response *reply;
    int64_t start = now_ms();
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_ETIMEDOUT);
    assert_true(now_ms() - start < 250);
    op.endpoint = silent.endpoint;
    start = now_ms();
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_ETIMEDOUT);
    int64_t took = now_ms() - start;
    assert_true(took >= 290 && took < 3000);
    size_t n;
    free(fake_records(&silent, &n));
    assert_int_equal(n, 1);
    zkv_op_t unpinned = {.type = ZKV_OP_STATUS, .once = true};
    assert_int_equal(zkv_client_call(client, &unpinned, &reply), ZKV_EINVAL);
    zkv_client_destroy(&client);
    fake_stop(&silent);
}

/* ---------------------------------------------------------------- CURVE */

/*  A ZAP handler (RFC 27): 200 for the one allowed client key, 400 for any
    other. Request: version, request id, domain, address, routing id,
    mechanism, then the client's key (32 bytes) for CURVE. Reply: version,
    request id, status code, status text, user id, metadata. */
static void s_zap_actor(zsock_t *pipe, void *args)
{
    uint8_t allowed[32];
    memcpy(allowed, args, sizeof allowed);
    zsock_t *handler = zsock_new_rep("inproc://zeromq.zap.01");
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, handler, NULL);
    while (zpoller_wait(poller, -1) == handler) {
        zmsg_t *request = zmsg_recv(handler);
        zframe_t *frames[7] = {NULL};
        for (size_t i = 0; i < 7; i++)
            frames[i] = i ? zmsg_next(request) : zmsg_first(request);
        bool curve = zmsg_size(request) == 7 && zframe_streq(frames[5], "CURVE") &&
                     zframe_size(frames[6]) == 32;
        bool ok = curve && memcmp(zframe_data(frames[6]), allowed, 32) == 0;
        zmsg_t *reply = zmsg_new();
        zframe_t *request_id = zframe_dup(frames[1]);
        zmsg_addstr(reply, "1.0");
        zmsg_append(reply, &request_id);
        zmsg_addstr(reply, ok ? "200" : "400");
        zmsg_addstr(reply, ok ? "OK" : "not an allowed client");
        zmsg_addstr(reply, "");
        zmsg_addmem(reply, "", 0);
        zmsg_send(&reply, handler);
        zmsg_destroy(&request);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&handler);
}

/*  The keys of a CURVE test: the node's certificate, an allowed client's
    and a stranger's, saved where the client reads them. */
typedef struct {
    char dir[128];
    zkv_cert_t server, allowed, stranger;
    char allowed_path[256], stranger_path[256];
    zactor_t *zap;
    fake_node_t node; /* a CURVE node */
} curve_t;

static void s_save(curve_t *c, zkv_cert_t *cert, const char *name, char *path, size_t size)
{
    char err[512];
    assert_int_equal(zkv_cert_generate(cert, name, 0), 0);
    snprintf(path, size, "%s/%s.cert", c->dir, name);
    if (zkv_cert_save(cert, path, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static int curve_setup(void **state)
{
    curve_t *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    snprintf(c->dir, sizeof c->dir, "%s/test_client.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(c->dir)) {
        free(c);
        return -1;
    }
    char path[256];
    s_save(c, &c->server, "server", path, sizeof path);
    s_save(c, &c->allowed, "alice", c->allowed_path, sizeof c->allowed_path);
    s_save(c, &c->stranger, "mallory", c->stranger_path, sizeof c->stranger_path);
    uint8_t key[32];
    zmq_z85_decode(key, c->allowed.public_key);
    c->zap = zactor_new(s_zap_actor, key);
    fake_start(&c->node, (fake_config_t){.mode = FAKE_SERVE, .curve = &c->server});
    *state = c;
    return 0;
}

static int curve_teardown(void **state)
{
    curve_t *c = *state;
    fake_stop(&c->node);
    zactor_destroy(&c->zap);
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s'", c->dir);
    int rc = system(command);
    free(c);
    return rc;
}

static zkv_client_t *curve_client(const char *endpoint, const char *cert, const char *server_key)
{
    zkv_client_config_t config = {.endpoints = endpoint,
                                  .timeout_ms = 10000,
                                  .attempt_timeout_ms = 3000,
                                  .curve = {cert, server_key}};
    char err[512];
    zkv_client_t *client = zkv_client_new(&config, err, sizeof err);
    if (!client)
        fail_msg("zkv_client_new: %s", err);
    return client;
}

/*  A client whose key the node allows is served, its requests encrypted. */
static void test_curve_allowed_key(void **state)
{
    curve_t *c = *state;
    zkv_client_t *client = curve_client(c->node.endpoint, c->allowed_path, c->server.public_key);
    const Zkv__Response *reply;
    zkv_op_t op = put_op("k", "v");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    op = get_op("k");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    assert_true(zkv_client_heard(client));
    zkv_client_destroy(&client);
}

/*  Any other key is refused at once, not after the attempt timeout, and the
    error says so; a write is not sent. */
static void test_curve_unknown_key_refused(void **state)
{
    curve_t *c = *state;
    zkv_client_t *client = curve_client(c->node.endpoint, c->stranger_path, c->server.public_key);
    const Zkv__Response *reply;
    zkv_op_t op = get_op("k");
    int64_t start = now_ms();
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_EHANDSHAKE);
    assert_true(now_ms() - start < 1000);
    char want[512];
    snprintf(want, sizeof want, "the node at %s refused our key (not in its allowed clients)",
             c->node.endpoint);
    assert_string_equal(zkv_client_error(client), want);
    assert_false(zkv_client_heard(client));
    op = put_op("k", "v");
    start = now_ms();
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_EHANDSHAKE);
    assert_true(now_ms() - start < 1000);
    assert_non_null(strstr(zkv_client_error(client), "refused our key"));
    assert_non_null(strstr(zkv_client_error(client), "the write was not sent"));
    size_t n;
    free(fake_records(&c->node, &n));
    assert_int_equal(n, 0);
    zkv_client_destroy(&client);
}

/*  CURVE on one side only: refused, the error saying which side; at once,
    or, when the node's reset beats its greeting (libzmq's race), once
    handshakes have been dropped for an attempt timeout. */
static void test_curve_mechanism_mismatch(void **state)
{
    curve_t *c = *state;
    zkv_client_t *client = client_for(c->node.endpoint, 10000, 1000);
    const Zkv__Response *reply;
    zkv_op_t op = get_op("k");
    int64_t start = now_ms();
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_EHANDSHAKE);
    assert_true(now_ms() - start < 3000);
    assert_non_null(strstr(zkv_client_error(client), "CURVE"));
    assert_non_null(strstr(zkv_client_error(client), "give --cert and --server-key)"));
    zkv_client_destroy(&client);
    fake_node_t plain;
    fake_start(&plain, (fake_config_t){.mode = FAKE_SERVE});
    zkv_client_config_t config = {.endpoints = plain.endpoint,
                                  .attempt_timeout_ms = 1000,
                                  .curve = {c->allowed_path, c->server.public_key}};
    char err[512];
    client = zkv_client_new(&config, err, sizeof err);
    assert_non_null(client);
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_EHANDSHAKE);
    assert_non_null(strstr(zkv_client_error(client), "CURVE"));
    assert_non_null(strstr(zkv_client_error(client), "--insecure"));
    zkv_client_destroy(&client);
    fake_stop(&plain);
}

/*  The wrong server key: the node drops every handshake, which a node going
    down might do once, so the client waits an attempt timeout, then says
    what it saw. */
static void test_curve_wrong_server_key(void **state)
{
    curve_t *c = *state;
    zkv_client_config_t config = {.endpoints = c->node.endpoint,
                                  .timeout_ms = 10000,
                                  .attempt_timeout_ms = 1000,
                                  .curve = {c->allowed_path, c->stranger.public_key}};
    char err[512];
    zkv_client_t *client = zkv_client_new(&config, err, sizeof err);
    assert_non_null(client);
    const Zkv__Response *reply;
    zkv_op_t op = get_op("k");
    int64_t start = now_ms();
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_EHANDSHAKE);
    int64_t took = now_ms() - start;
    assert_true(took >= 990 && took < 3000);
    assert_non_null(strstr(zkv_client_error(client), "during the CURVE handshake (is "));
    zkv_client_destroy(&client);
}

/*  A listener that takes every connection and closes it at once: what a
    proxy in front of a node that is down (Docker's) does. Its fd, on port. */
static int s_closing_listener(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* libzmq closes the node's listener in its I/O thread, a moment later. */
    int rc = -1;
    for (int i = 0; i < 200 && (rc = bind(fd, (struct sockaddr *) &addr, sizeof addr)) != 0; i++)
        zclock_sleep(10);
    assert_int_equal(rc, 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

typedef struct {
    int rc, done;
} s_outcome_t;

static void s_outcome_done(void *arg, int rc, const Zkv__Response *reply)
{
    (void) reply;
    s_outcome_t *o = arg;
    o->rc = rc;
    o->done = 1;
}

/*  A node that let us in once and then drops every handshake (down behind
    a proxy) is a node that does not answer, not one that refuses our keys:
    the read times out, and says nothing of keys. */
static void test_curve_dropped_after_admitted(void **state)
{
    curve_t *c = *state;
    zkv_client_config_t config = {.endpoints = c->node.endpoint,
                                  .timeout_ms = 2500,
                                  .attempt_timeout_ms = 500,
                                  .curve = {c->allowed_path, c->server.public_key}};
    char err[512];
    zkv_client_t *client = zkv_client_new(&config, err, sizeof err);
    assert_non_null(client);
    const Zkv__Response *reply;
    zkv_op_t op = get_op("k");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    fake_stop(&c->node);
    int listener = s_closing_listener(atoi(strrchr(c->node.endpoint, ':') + 1));
    s_outcome_t outcome = {0};
    assert_int_equal(zkv_client_submit(client, &op, s_outcome_done, &outcome), 0);
    int closed = 0;
    for (int64_t end = now_ms() + 5000; !outcome.done && now_ms() < end;) {
        zkv_client_poll(client, 10);
        for (int fd; (fd = accept(listener, NULL, NULL)) >= 0; closed++)
            close(fd);
    }
    close(listener);
    fake_start(&c->node, (fake_config_t){.mode = FAKE_SERVE, .curve = &c->server});
    assert_true(outcome.done);
    assert_true(closed >= 2); /* enough drops to have called it a refusal before */
    assert_int_equal(outcome.rc, ZKV_CLIENT_ETIMEDOUT);
    assert_null(strstr(zkv_client_error(client), "handshake"));
    zkv_client_destroy(&client);
}

/*  Keys that cannot be used: no client at all, and the reason in err. */
static void test_curve_config_refused(void **state)
{
    curve_t *c = *state;
    char err[512], secret[300];
    zkv_client_config_t config = {.endpoints = c->node.endpoint, .curve = {c->allowed_path}};
    assert_null(zkv_client_new(&config, err, sizeof err));
    assert_non_null(strstr(err, "server's key"));
    config.curve = (zkv_curve_t){NULL, c->server.public_key};
    assert_null(zkv_client_new(&config, err, sizeof err));
    config.curve = (zkv_curve_t){c->allowed_path, "not a key"};
    assert_null(zkv_client_new(&config, err, sizeof err));
    assert_non_null(strstr(err, "neither 40 Z85 characters"));
    snprintf(secret, sizeof secret, "%s_secret", c->allowed_path);
    assert_int_equal(chmod(secret, 0644), 0);
    config.curve = (zkv_curve_t){c->allowed_path, c->server.public_key};
    assert_null(zkv_client_new(&config, err, sizeof err));
    assert_non_null(strstr(err, "chmod 600"));
    zkv_watcher_config_t wc = {.endpoints = c->node.endpoint, .curve = config.curve};
    assert_null(zkv_watcher_new(&wc, err, sizeof err));
    assert_non_null(strstr(err, "chmod 600"));
}

/* ---------------------------------------------------------------- histogram */

static void assert_near(uint64_t got, uint64_t want)
{
    double error = got > want ? (double) (got - want) : (double) (want - got);
    if (error > (double) want * 0.01)
        fail_msg("%llu is not within 1%% of %llu", (unsigned long long) got,
                 (unsigned long long) want);
}

static void test_histogram_uniform(void **state)
{
    (void) state;
    zkv_histogram_t *h = zkv_histogram_new();
    assert_int_equal(zkv_histogram_percentile(h, 50), 0);
    for (uint64_t v = 1; v <= 100000; v++)
        zkv_histogram_record(h, v);
    assert_int_equal(zkv_histogram_count(h), 100000);
    assert_int_equal(zkv_histogram_min(h), 1);
    assert_int_equal(zkv_histogram_max(h), 100000);
    assert_near(zkv_histogram_percentile(h, 50), 50000);
    assert_near(zkv_histogram_percentile(h, 90), 90000);
    assert_near(zkv_histogram_percentile(h, 99), 99000);
    assert_near(zkv_histogram_percentile(h, 99.9), 99900);
    assert_int_equal(zkv_histogram_percentile(h, 100), 100000);
    assert_true(zkv_histogram_percentile(h, 50) >= 50000); /* never below the true value */
    assert_true(zkv_histogram_mean(h) > 50000.4 && zkv_histogram_mean(h) < 50000.6);
    zkv_histogram_destroy(&h);
    assert_null(h);
}

static void test_histogram_exact_small_values(void **state)
{
    (void) state;
    zkv_histogram_t *h = zkv_histogram_new();
    for (uint64_t v = 0; v < 200; v++)
        zkv_histogram_record(h, v);
    assert_int_equal(zkv_histogram_percentile(h, 50), 99);
    assert_int_equal(zkv_histogram_percentile(h, 0), 0);
    assert_int_equal(zkv_histogram_percentile(h, 99), 197);
    zkv_histogram_destroy(&h);
}

/*  A latency profile with a slow tail: 99% at ~1 ms, 1% at ~1 s (in ns). */
static void test_histogram_tail_and_merge(void **state)
{
    (void) state;
    zkv_histogram_t *fast = zkv_histogram_new();
    zkv_histogram_t *slow = zkv_histogram_new();
    for (int i = 0; i < 9900; i++)
        zkv_histogram_record(fast, 1000000 + (uint64_t) i);
    for (int i = 0; i < 100; i++)
        zkv_histogram_record(slow, 1000000000 + (uint64_t) i * 1000);
    zkv_histogram_merge(fast, slow);
    assert_int_equal(zkv_histogram_count(fast), 10000);
    assert_near(zkv_histogram_percentile(fast, 50), 1004950);
    assert_near(zkv_histogram_percentile(fast, 99), 1009899);
    assert_near(zkv_histogram_percentile(fast, 99.5), 1000050000);
    assert_int_equal(zkv_histogram_max(fast), 1000099000);
    zkv_histogram_record(fast, UINT64_MAX);
    assert_int_equal(zkv_histogram_percentile(fast, 100), UINT64_MAX);
    zkv_histogram_reset(fast);
    assert_int_equal(zkv_histogram_count(fast), 0);
    assert_int_equal(zkv_histogram_max(fast), 0);
    zkv_histogram_destroy(&fast);
    zkv_histogram_destroy(&slow);
}

/*  The session opens once, before the first write; reads do not wait for it;
    destroying the client closes it. */
static void test_session_opened_once_and_closed(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node, (fake_config_t){.mode = FAKE_SERVE, .record_sessions = true});
    zkv_client_t *client = client_for(node.endpoint, 2000, 500);
    uint64_t id = zkv_client_id(client);
    const Zkv__Response *reply;
    zkv_op_t op = get_op("a");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    op = put_op("k1", "v");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    op = put_op("k2", "v");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    zkv_client_destroy(&client);
    size_t n = 0;
    record_t *r = NULL;
    for (int tries = 0; tries < 200 && n < 5; tries++) {
        free(r);
        zclock_sleep(10);
        r = fake_records(&node, &n);
    }
    assert_int_equal(n, 5);
    int bodies[] = {ZKV__REQUEST__BODY_GET, ZKV__REQUEST__BODY_OPEN_SESSION, ZKV__REQUEST__BODY_PUT,
                    ZKV__REQUEST__BODY_PUT, ZKV__REQUEST__BODY_CLOSE_SESSION};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r[i].body, bodies[i]);
        assert_int_equal(r[i].client_id, id);
    }
    assert_int_equal(r[1].sequence, 0);
    assert_int_equal(r[2].sequence, 1);
    assert_int_equal(r[3].sequence, 2);
    free(r);
    fake_stop(&node);
}

/*  SESSION_EXPIRED: the write fails (it must not be retried in a new
    session), and the next write opens a session under a new client id. */
static void test_session_expired_ends_writes(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node,
               (fake_config_t){.mode = FAKE_SERVE, .record_sessions = true, .expire_writes = 1});
    zkv_client_t *client = client_for(node.endpoint, 2000, 500);
    uint64_t first_id = zkv_client_id(client);
    const Zkv__Response *reply;
    zkv_op_t op = put_op("k1", "v");
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_ESESSION);
    assert_non_null(strstr(zkv_client_error(client), "forgotten"));
    uint64_t second_id = zkv_client_id(client);
    assert_int_not_equal(second_id, first_id);
    op = put_op("k2", "v");
    assert_int_equal(zkv_client_call(client, &op, &reply), 0);
    assert_int_equal(reply->status, ZKV__STATUS__OK);
    size_t n;
    record_t *r = fake_records(&node, &n);
    assert_int_equal(n, 4);
    assert_int_equal(r[0].body, ZKV__REQUEST__BODY_OPEN_SESSION);
    assert_int_equal(r[0].client_id, first_id);
    assert_int_equal(r[1].client_id, first_id);
    assert_int_equal(r[2].body, ZKV__REQUEST__BODY_OPEN_SESSION);
    assert_int_equal(r[2].client_id, second_id);
    assert_int_equal(r[3].body, ZKV__REQUEST__BODY_PUT);
    assert_int_equal(r[3].client_id, second_id);
    free(r);
    zkv_client_destroy(&client);
    fake_stop(&node);
}

/*  The session never opens: the write fails at its deadline, never sent. */
static void test_session_open_unanswered(void **state)
{
    (void) state;
    fake_node_t node;
    fake_start(&node, (fake_config_t){.mode = FAKE_SERVE, .silent_sessions = true});
    zkv_client_t *client = client_for(node.endpoint, 300, 100);
    const Zkv__Response *reply;
    zkv_op_t op = put_op("k", "v");
    assert_int_equal(zkv_client_call(client, &op, &reply), ZKV_CLIENT_ETIMEDOUT);
    assert_non_null(strstr(zkv_client_error(client), "the write was not sent"));
    assert_int_equal(zkv_client_inflight(client), 0);
    size_t n;
    free(fake_records(&node, &n));
    assert_int_equal(n, 0);
    zkv_client_destroy(&client);
    fake_stop(&node);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_leader_redirects_write),
        cmocka_unit_test(test_read_served_naming_leader),
        cmocka_unit_test(test_session_opened_once_and_closed),
        cmocka_unit_test(test_session_expired_ends_writes),
        cmocka_unit_test(test_session_open_unanswered),
        cmocka_unit_test(test_retry_keeps_sequence),
        cmocka_unit_test(test_first_unacked_with_writes_in_flight),
        cmocka_unit_test(test_unavailable_moves_to_next_endpoint),
        cmocka_unit_test(test_deadline_when_nobody_answers),
        cmocka_unit_test(test_out_of_order_replies_match),
        cmocka_unit_test(test_noise_is_ignored),
        cmocka_unit_test(test_oversized_refused_client_side),
        cmocka_unit_test(test_write_window_and_cancel),
        cmocka_unit_test(test_pinned_status_not_redirected),
        cmocka_unit_test(test_not_leader_without_hint_rotates),
        cmocka_unit_test(test_endpoint_lists),
        cmocka_unit_test(test_endpoint_ports),
        cmocka_unit_test(test_refused_endpoint_skipped),
        cmocka_unit_test(test_every_endpoint_refused),
        cmocka_unit_test(test_single_attempt),
        cmocka_unit_test_setup_teardown(test_curve_allowed_key, curve_setup, curve_teardown),
        cmocka_unit_test_setup_teardown(test_curve_unknown_key_refused, curve_setup,
                                        curve_teardown),
        cmocka_unit_test_setup_teardown(test_curve_mechanism_mismatch, curve_setup, curve_teardown),
        cmocka_unit_test_setup_teardown(test_curve_wrong_server_key, curve_setup, curve_teardown),
        cmocka_unit_test_setup_teardown(test_curve_dropped_after_admitted, curve_setup,
                                        curve_teardown),
        cmocka_unit_test_setup_teardown(test_curve_config_refused, curve_setup, curve_teardown),
        cmocka_unit_test(test_histogram_uniform),
        cmocka_unit_test(test_histogram_exact_small_values),
        cmocka_unit_test(test_histogram_tail_and_merge),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return failed;
}
