/*  loop: the actors' poll loop (loop.h). */
#include "loop.h"

typedef struct {
    zsock_t *sock;
    zkv_loop_read_fn *fn;
    int drain_max;
    bool paused;
} s_reader_t;

struct zkv_loop_t {
    zsock_t *pipe;
    void *self;
    s_reader_t readers[ZKV_LOOP_READERS_MAX];
    size_t n_readers;
    zkv_loop_round_fn *on_round;
    zkv_loop_command_fn *on_command;
    int64_t wait_ms;
};

zkv_loop_t *zkv_loop_new(zsock_t *pipe, void *self)
{
    zkv_loop_t *loop = zmalloc(sizeof *loop);
    loop->pipe = pipe;
    loop->self = self;
    loop->wait_ms = -1;
    return loop;
}

void zkv_loop_destroy(zkv_loop_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

void zkv_loop_reader(zkv_loop_t *self, zsock_t *sock, zkv_loop_read_fn *fn, int drain_max)
{
    assert(self->n_readers < ZKV_LOOP_READERS_MAX && sock && fn && drain_max > 0);
    self->readers[self->n_readers++] = (s_reader_t){sock, fn, drain_max, false};
}

void zkv_loop_pause(zkv_loop_t *self, zsock_t *sock, bool paused)
{
    for (size_t i = 0; i < self->n_readers; i++)
        if (self->readers[i].sock == sock)
            self->readers[i].paused = paused;
}

void zkv_loop_on_round(zkv_loop_t *self, zkv_loop_round_fn *fn, int64_t first_wait_ms)
{
    self->on_round = fn;
    self->wait_ms = first_wait_ms;
}

void zkv_loop_on_command(zkv_loop_t *self, zkv_loop_command_fn *fn)
{
    self->on_command = fn;
}

/*  Poll the pipe and the readers not paused; true when the pipe said $TERM or broke. */
static bool s_wait(zkv_loop_t *self)
{
    zmq_pollitem_t items[1 + ZKV_LOOP_READERS_MAX];
    size_t n = 0;
    items[n++] = (zmq_pollitem_t){zsock_resolve(self->pipe), 0, ZMQ_POLLIN, 0};
    for (size_t i = 0; i < self->n_readers; i++)
        if (!self->readers[i].paused)
            items[n++] = (zmq_pollitem_t){zsock_resolve(self->readers[i].sock), 0, ZMQ_POLLIN, 0};
    long timeout = self->wait_ms > LONG_MAX ? LONG_MAX : (long) self->wait_ms;
    if (zmq_poll(items, (int) n, timeout) < 0)
        return errno != EINTR;
    if (!(items[0].revents & ZMQ_POLLIN))
        return false;
    char *command = zstr_recv(self->pipe);
    bool term = !command || streq(command, "$TERM");
    if (!term && self->on_command)
        self->on_command(self->self, command);
    zstr_free(&command);
    return term;
}

int zkv_loop_run(zkv_loop_t *self)
{
    for (;;) {
        if (s_wait(self))
            return 0;
        for (size_t i = 0; i < self->n_readers; i++) {
            s_reader_t *r = &self->readers[i];
            for (int n = 0; !r->paused && n < r->drain_max && r->fn(self->self); n++)
                ;
        }
        if (self->on_round) {
            self->wait_ms = self->on_round(self->self);
            if (self->wait_ms == ZKV_LOOP_STOP)
                return 1;
        }
    }
}
