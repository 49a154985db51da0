/*  guard: see guard.h. */
#include "guard.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "fault.h"

static int s_write_fd = -1;

static void s_guard(const netcut_t *chain, int read_fd)
{
    /* Ctrl-C or a SIGTERM to the whole process group must not stop the cleanup. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    char byte;
    ssize_t n;
    do
        n = read(read_fd, &byte, 1);
    while (n < 0);
    if (n == 1)
        _exit(0);
    char err[FAULT_ERROR_SIZE];
    if (netcut_remove(chain, err, sizeof err) == 0)
        fprintf(stderr, "zkv-fault guard: the driver died; iptables chain %s is gone\n",
                chain->chain);
    else
        fprintf(stderr, "zkv-fault guard: removing iptables chain %s failed: %s\n", chain->chain,
                err);
    _exit(0);
}

int guard_start(const netcut_t *chain)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[1]);
        s_guard(chain, fds[0]);
    }
    close(fds[0]);
    s_write_fd = fds[1];
    return 0;
}

void guard_release(void)
{
    if (s_write_fd < 0)
        return;
    ssize_t ignored = write(s_write_fd, "x", 1);
    (void) ignored;
    close(s_write_fd);
    s_write_fd = -1;
}
