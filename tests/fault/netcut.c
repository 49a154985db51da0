/*  netcut: iptables commands, optionally inside a network namespace. */
#include "netcut.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "fault.h"
#include "spawn.h"

#define NETCUT_TIMEOUT_MS 10000
#define NETCUT_INPUT_SIZE (NETCUT_RULES_MAX * 96 + 256)

/*  Runs "iptables ARGS..." (or iptables-restore) where self says. Exit code. */
static int s_run(const netcut_t *self, spawn_t *sp, const char *program, const char *input,
                 const char *a1, const char *a2, const char *a3, const char *a4)
{
    char pid_text[16];
    char *argv[SPAWN_ARGS_MAX];
    size_t n = 0;
    if (self->netns_pid) {
        snprintf(pid_text, sizeof pid_text, "%d", self->netns_pid);
        argv[n++] = "nsenter";
        argv[n++] = "-t";
        argv[n++] = pid_text;
        argv[n++] = "-n";
    }
    argv[n++] = (char *) program;
    argv[n++] = "-w";
    const char *rest[] = {a1, a2, a3, a4};
    for (size_t i = 0; i < 4 && rest[i]; i++)
        argv[n++] = (char *) rest[i];
    argv[n] = NULL;
    return spawn_run(sp, argv, input, NETCUT_TIMEOUT_MS);
}

static int s_fail(spawn_t *sp, char *err, size_t err_size)
{
    snprintf(err, err_size, "%s", spawn_describe(sp));
    return -1;
}

int netcut_available(const netcut_t *self, char *err, size_t err_size)
{
    spawn_t sp;
    if (s_run(self, &sp, "iptables", NULL, "-S", "INPUT", NULL, NULL) != 0)
        return s_fail(&sp, err, err_size);
    return 0;
}

int netcut_install(const netcut_t *self, char *err, size_t err_size)
{
    spawn_t sp;
    if (netcut_set(self, NULL, 0, err, err_size) != 0)
        return -1;
    if (s_run(self, &sp, "iptables", NULL, "-C", "INPUT", "-j", self->chain) == 0)
        return 0;
    if (s_run(self, &sp, "iptables", NULL, "-I", "INPUT", "-j", self->chain) != 0)
        return s_fail(&sp, err, err_size);
    return 0;
}

int netcut_set(const netcut_t *self, const netcut_rule_t *rules, size_t count, char *err,
               size_t err_size)
{
    char input[NETCUT_INPUT_SIZE];
    size_t used = (size_t) snprintf(input, sizeof input, "*filter\n:%s - [0:0]\n-F %s\n",
                                    self->chain, self->chain);
    for (size_t i = 0; i < count && i < NETCUT_RULES_MAX; i++) {
        used += (size_t) snprintf(input + used, sizeof input - used, "-A %s -s %s/32", self->chain,
                                  rules[i].src);
        if (rules[i].dst)
            used += (size_t) snprintf(input + used, sizeof input - used, " -d %s/32", rules[i].dst);
        used += (size_t) snprintf(input + used, sizeof input - used, " -j DROP\n");
    }
    snprintf(input + used, sizeof input - used, "COMMIT\n");
    spawn_t sp;
    if (s_run(self, &sp, "iptables-restore", input, "--noflush", NULL, NULL, NULL) != 0)
        return s_fail(&sp, err, err_size);
    return 0;
}

int netcut_remove(const netcut_t *self, char *err, size_t err_size)
{
    spawn_t sp;
    /* A jump inserted twice (a crash between check and insert) is removed twice. */
    for (int i = 0; i < 8; i++)
        if (s_run(self, &sp, "iptables", NULL, "-D", "INPUT", "-j", self->chain) != 0)
            break;
    s_run(self, &sp, "iptables", NULL, "-F", self->chain, NULL, NULL);
    if (s_run(self, &sp, "iptables", NULL, "-X", self->chain, NULL, NULL) != 0 &&
        !strstr(sp.out, "No chain") && !strstr(sp.out, "does not exist"))
        return s_fail(&sp, err, err_size);
    return 0;
}

void netcut_remove_stale(void)
{
    netcut_t host = {0};
    spawn_t sp;
    if (s_run(&host, &sp, "iptables", NULL, "-S", NULL, NULL, NULL) != 0)
        return;
    const char *prefix = "-N " NETCUT_CHAIN_PREFIX;
    for (char *line = strtok(sp.out, "\n"); line; line = strtok(NULL, "\n")) {
        char *end;
        if (strncmp(line, prefix, strlen(prefix)) != 0)
            continue;
        long pid = strtol(line + strlen(prefix), &end, 10);
        if (*end || pid <= 0 || kill((pid_t) pid, 0) == 0)
            continue;
        snprintf(host.chain, sizeof host.chain, "%s%ld", NETCUT_CHAIN_PREFIX, pid);
        char err[FAULT_ERROR_SIZE];
        if (netcut_remove(&host, err, sizeof err) == 0)
            printf("netcut: removed chain %s left by a run that was killed (pid %ld)\n", host.chain,
                   pid);
        else
            printf("netcut: could not remove stale chain %s: %s\n", host.chain, err);
    }
}
