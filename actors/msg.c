/*  msg: the codec of the actors' messages (msg.h). */
#include "msg.h"

#include "inproc.h"
#include "le.h"

typedef struct {
    const char *name;
    uint8_t words; /* numbers after the type byte */
    bool body;
} s_layout_t;

static const s_layout_t s_layouts[ZKV_MSG_TYPE_MAX + 1] = {
    [ZKV_MSG_PERSIST] = {"PERSIST", 7, true},
    [ZKV_MSG_DROP] = {"DROP", 1, false},
    [ZKV_MSG_DURABLE] = {"DURABLE", 1, false},
    [ZKV_MSG_FATAL] = {"FATAL", 0, true},
    [ZKV_MSG_APPLY] = {"APPLY", 0, true},
    [ZKV_MSG_SERVE] = {"SERVE", 2, true},
    [ZKV_MSG_CHUNK] = {"CHUNK", 3, true},
    [ZKV_MSG_INSTALL] = {"INSTALL", 3, false},
    [ZKV_MSG_PRUNE] = {"PRUNE", 0, true},
    [ZKV_MSG_APPLIED] = {"APPLIED", 1, false},
    [ZKV_MSG_SNAPSHOT] = {"SNAPSHOT", 3, true},
    [ZKV_MSG_INSTALLED] = {"INSTALLED", 2, true},
    [ZKV_MSG_PROPOSE] = {"PROPOSE", 0, true},
    [ZKV_MSG_READ] = {"READ", 1, true},
    [ZKV_MSG_STATE] = {"STATE", 5, false},
    [ZKV_MSG_READFAIL] = {"READFAIL", 2, false},
    [ZKV_MSG_REJECTED] = {"REJECTED", 1, true},
    [ZKV_MSG_COUNT] = {"COUNT", 0, false},
    [ZKV_MSG_RESULTS] = {"RESULTS", 2, true},
    [ZKV_MSG_REPLY] = {"REPLY", 2, true},
    [ZKV_MSG_ADMIN] = {"ADMIN", 1, true},
    [ZKV_MSG_MEMBERS] = {"MEMBERS", 2, true},
    [ZKV_MSG_BACKUP] = {"BACKUP", 1, true},
    [ZKV_MSG_EVENTS] = {"EVENTS", 2, true},
    [ZKV_MSG_LEASES] = {"LEASES", 1, true},
    [ZKV_MSG_WRITE_SNAPSHOT] = {"WRITE_SNAPSHOT", 1, false},
    [ZKV_MSG_SNAPSHOT_WRITTEN] = {"SNAPSHOT_WRITTEN", 1, false},
    [ZKV_MSG_REMOVE] = {"REMOVE", 0, true},
    [ZKV_MSG_LOAD] = {"LOAD", 4, false},
    [ZKV_MSG_LOADED] = {"LOADED", 2, true},
    [ZKV_MSG_ACK] = {"ACK", 7, true},
};

static const s_layout_t *s_layout(zkv_msg_type_t type)
{
    assert(type >= 1 && type <= ZKV_MSG_TYPE_MAX);
    const s_layout_t *layout = &s_layouts[type];
    assert(layout->name && layout->words <= ZKV_MSG_WORDS_MAX);
    return layout;
}

int zkv_msg_send(zkv_msg_t *msg, zsock_t *sock)
{
    const s_layout_t *layout = s_layout(msg->type);
    assert(layout->body || !msg->body);
    uint8_t header[1 + 8 * ZKV_MSG_WORDS_MAX];
    header[0] = (uint8_t) msg->type;
    for (uint8_t i = 0; i < layout->words; i++)
        zkv_le64_put(header + 1 + 8 * i, msg->words[i]);
    size_t size = 1 + 8 * (size_t) layout->words;
    zframe_t *head = zframe_new(header, size);
    int rc = zframe_send(&head, sock, layout->body ? ZFRAME_MORE : 0);
    if (rc == 0 && layout->body) {
        zframe_t *body = msg->body ? msg->body : zframe_new_empty();
        /* PAIR sockets deliver a message whole or not at all: the head waits for this. */
        rc = zframe_send(&body, sock, 0);
        msg->body = body; /* not sent: what it holds goes with the clear below */
    }
    zframe_destroy(&head);
    zkv_msg_clear(msg);
    return rc == 0 ? 0 : -1;
}

int zkv_msg_recv(zsock_t *sock, zkv_msg_t *msg)
{
    memset(msg, 0, sizeof *msg);
    zframe_t *head = zframe_recv(sock);
    if (!head)
        return 0;
    assert(zframe_size(head) >= 1);
    const uint8_t *p = zframe_data(head);
    msg->type = (zkv_msg_type_t) p[0];
    const s_layout_t *layout = s_layout(msg->type);
    assert(zframe_size(head) == 1 + 8 * (size_t) layout->words);
    for (uint8_t i = 0; i < layout->words; i++)
        msg->words[i] = zkv_le64_get(p + 1 + 8 * i);
    assert(zframe_more(head) == layout->body);
    if (layout->body) {
        msg->body = zframe_recv(sock);
        assert(msg->body && !zframe_more(msg->body));
    }
    zframe_destroy(&head);
    return 1;
}

void zkv_msg_clear(zkv_msg_t *msg)
{
    if (msg->type == ZKV_MSG_EVENTS && msg->body)
        zkv_events_release(zframe_data(msg->body), zframe_size(msg->body));
    zframe_destroy(&msg->body);
    memset(msg, 0, sizeof *msg);
}

const char *zkv_msg_text(const zkv_msg_t *msg, char *buf, size_t size)
{
    size_t n = msg->body ? zframe_size(msg->body) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(buf, zframe_data(msg->body), n);
    buf[n] = 0;
    return buf;
}

zframe_t *zkv_msg_text_body(const char *text)
{
    return zframe_new(text, strlen(text));
}

const char *zkv_msg_type_name(zkv_msg_type_t type)
{
    return type >= 1 && type <= ZKV_MSG_TYPE_MAX && s_layouts[type].name ? s_layouts[type].name
                                                                         : "?";
}
