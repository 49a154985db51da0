/*  spawn: fork/exec with pipes. The child only calls async-signal-safe
    functions before exec (the driver has threads: czmq, libzmq). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"

#define SPAWN_POLL_MS 5
#define SPAWN_TIMED_OUT 255

static void s_what(spawn_t *self, char *const argv[])
{
    size_t used = 0;
    self->what[0] = 0;
    for (size_t i = 0; argv[i] && used < sizeof self->what; i++)
        used += (size_t) snprintf(self->what + used, sizeof self->what - used, "%s%s", i ? " " : "",
                                  argv[i]);
}

static int s_failed(spawn_t *self, const char *what)
{
    snprintf(self->out, sizeof self->out, "%s: %s", what, strerror(errno));
    return -1;
}

static void s_child(char *const argv[], int in_fd, int out_fd)
{
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        _exit(127);
    execvp(argv[0], argv);
    static const char msg[] = "exec failed\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void) ignored;
    _exit(127);
}

int spawn_start(spawn_t *self, char *const argv[], const char *input, int64_t timeout_ms)
{
    memset(self, 0, sizeof *self);
    s_what(self, argv);
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return s_failed(self, "pipe");
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return s_failed(self, "pipe");
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        s_child(argv, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return s_failed(self, "fork");
    }
    /* Inputs are a few rules: far below a pipe's buffer, so this cannot block. */
    if (input) {
        ssize_t ignored = write(in[1], input, strlen(input));
        (void) ignored;
    }
    close(in[1]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    self->pid = pid;
    self->out_fd = out[0];
    self->deadline_ms = fault_now_ms() + timeout_ms;
    return 0;
}

static void s_drain(spawn_t *self)
{
    char buf[512];
    ssize_t n;
    while ((n = read(self->out_fd, buf, sizeof buf)) > 0) {
        size_t room = sizeof self->out - 1 - self->used;
        size_t take = (size_t) n < room ? (size_t) n : room;
        memcpy(self->out + self->used, buf, take);
        self->used += take;
        self->out[self->used] = 0;
    }
}

static int s_finish(spawn_t *self, int wstatus, bool timed_out)
{
    s_drain(self);
    close(self->out_fd);
    self->pid = 0;
    if (timed_out)
        return SPAWN_TIMED_OUT;
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    return WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus) : SPAWN_TIMED_OUT;
}

int spawn_poll(spawn_t *self, int *code)
{
    if (!self->pid) {
        *code = SPAWN_TIMED_OUT;
        return 0;
    }
    s_drain(self);
    int wstatus = 0;
    pid_t got = waitpid(self->pid, &wstatus, WNOHANG);
    if (got == self->pid || (got < 0 && errno != EINTR)) {
        *code = s_finish(self, wstatus, false);
        return 0;
    }
    if (fault_now_ms() < self->deadline_ms)
        return 1;
    kill(self->pid, SIGKILL);
    waitpid(self->pid, &wstatus, 0);
    snprintf(self->out + self->used, sizeof self->out - self->used, " [timed out, killed]");
    *code = s_finish(self, wstatus, true);
    return 0;
}

int spawn_run(spawn_t *self, char *const argv[], const char *input, int64_t timeout_ms)
{
    if (spawn_start(self, argv, input, timeout_ms) != 0)
        return SPAWN_TIMED_OUT;
    int code;
    while (spawn_poll(self, &code) == 1) {
        struct pollfd pfd = {.fd = self->out_fd, .events = POLLIN};
        poll(&pfd, 1, SPAWN_POLL_MS);
    }
    return code;
}

const char *spawn_describe(spawn_t *self)
{
    static char text[SPAWN_OUTPUT_SIZE + 300];
    size_t n = strlen(self->out);
    while (n > 0 && (self->out[n - 1] == '\n' || self->out[n - 1] == ' '))
        self->out[--n] = 0;
    for (size_t i = 0; i < n; i++)
        if (self->out[i] == '\n')
            self->out[i] = ' ';
    snprintf(text, sizeof text, "'%s': %s", self->what, n ? self->out : "(no output)");
    return text;
}
