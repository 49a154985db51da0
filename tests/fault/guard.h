/*  guard: a small child process that removes our iptables chain if the
    driver dies without doing it (a crash, SIGKILL, a ctest timeout), so a
    cut link never outlives the run. It waits on a pipe: a byte means the
    driver cleaned up itself; end of file without one means it died. */
#ifndef ZKV_FAULT_GUARD_H
#define ZKV_FAULT_GUARD_H

#include "netcut.h"

/*  Fork the guard for this chain. Call before any thread starts. 0, or -1. */
int guard_start(const netcut_t *chain);

/*  The driver removed the chain itself: the guard exits without doing anything. */
void guard_release(void);

#endif
