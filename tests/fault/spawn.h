/*  spawn: runs a program (iptables, docker, nsenter) as a child process,
    with its output captured and a deadline, either to completion or in the
    background, polled from the driver's loop. */
#ifndef ZKV_FAULT_SPAWN_H
#define ZKV_FAULT_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPAWN_OUTPUT_SIZE 2048
#define SPAWN_ARGS_MAX 32

typedef struct {
    pid_t pid;  /* 0: nothing running */
    int out_fd; /* the child's stdout and stderr */
    int64_t deadline_ms;
    char out[SPAWN_OUTPUT_SIZE]; /* the first bytes of its output, NUL-terminated */
    size_t used;
    char what[256]; /* the command line, for messages */
} spawn_t;

/*  Start argv (NULL-terminated; PATH searched) with input on its stdin (NULL:
    none), to be killed after timeout_ms. 0, or -1 with the reason in out. */
int spawn_start(spawn_t *self, char *const argv[], const char *input, int64_t timeout_ms);

/*  Without blocking: 1 while it runs; 0 once it exited, with its exit code in
 *code (128 + signal when killed by one, 255 when it timed out or could not run). */
int spawn_poll(spawn_t *self, int *code);

/*  spawn_start, then wait. The exit code as above. */
int spawn_run(spawn_t *self, char *const argv[], const char *input, int64_t timeout_ms);

/*  The command line and its output, on one line, for an error message. Borrowed. */
const char *spawn_describe(spawn_t *self);

#endif
