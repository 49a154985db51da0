/*  zkv: the command-line client of the zkv key-value store. Parses the global
    flags, finds the command and hands it the rest of the command line. */
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "zkv_version.h"

static const zkv_command_t *const s_commands[] = {
    &zkv_cmd_put,      &zkv_cmd_get,   &zkv_cmd_del,   &zkv_cmd_scan,   &zkv_cmd_cas,
    &zkv_cmd_status,   &zkv_cmd_trace, &zkv_cmd_bench, &zkv_cmd_member, &zkv_cmd_move_leader,
    &zkv_cmd_snapshot, &zkv_cmd_check, &zkv_cmd_txn,   &zkv_cmd_watch,  &zkv_cmd_lease,
    &zkv_cmd_lock,     &zkv_cmd_cert,
};
#define S_COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

static void s_help(FILE *out)
{
    zkv_globals_t unused = {0};
    zkv_flag_t globals[ZKV_GLOBAL_FLAGS_SIZE];
    zkv_globals_flags(&unused, globals);
    fprintf(out, "zkv: command-line client of the zkv replicated key-value store\n\n"
                 "Usage: zkv [global flags] COMMAND [arguments] [flags]\n"
                 "       zkv --version\n\nCommands:\n");
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        fprintf(out, "  %-11s %s\n", s_commands[i]->name, s_commands[i]->summary);
    fprintf(out, "  %-11s %s\n", "help", "Show this text, or a command's ('zkv help put')");
    fprintf(out, "\nGlobal flags (before or after the command):\n");
    zkv_flags_print(out, globals);
    fprintf(out, "\nExit status: 0 success; 1 key not found, compare failed, a membership\n"
                 "change the cluster's state forbids, a backup that does not verify or members\n"
                 "that do not agree (check); 2 bad usage, a request refused as invalid, no\n"
                 "certificate or one the nodes refuse (see 'zkv cert --help'); 3 no\n"
                 "answer in time (cluster unreachable or without a leader; a write's outcome is\n"
                 "then unknown); 4 node error, bad reply or a local file that cannot be\n"
                 "written; 130 interrupted. Errors are one line on stderr: \"zkv: <error>\".\n"
                 "See docs/CLI.md for every command, output format and the retry rules.\n");
}

static const zkv_command_t *s_find(const char *name)
{
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        if (strcmp(s_commands[i]->name, name) == 0)
            return s_commands[i];
    return NULL;
}

/*  "unknown command", with the nearest command's name when it is near. */
static void s_unknown(const char *context, const char *word)
{
    const char *names[S_COMMAND_COUNT + 1];
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        names[i] = s_commands[i]->name;
    names[S_COMMAND_COUNT] = "help";
    const char *near = zkv_command_suggest(word, names, S_COMMAND_COUNT + 1);
    if (near)
        zkv_output_error("%sunknown command '%.64s'; did you mean '%s'? (see 'zkv --help')",
                         context, word, near);
    else
        zkv_output_error("%sunknown command '%.64s' (see 'zkv --help')", context, word);
}

/*  "zkv help", "zkv help CMD" and, for a command with subcommands, "zkv help CMD SUB". */
static int s_run_help(int argc, char **argv)
{
    if (argc == 0) {
        s_help(stdout);
        return ZKV_EXIT_OK;
    }
    const zkv_command_t *cmd = s_find(argv[0]);
    if (!cmd) {
        s_unknown("help: ", argv[0]);
        return ZKV_EXIT_USAGE;
    }
    bool has_subcommands = cmd == &zkv_cmd_member || cmd == &zkv_cmd_snapshot ||
                           cmd == &zkv_cmd_lease || cmd == &zkv_cmd_cert;
    if (argc > 2 || (argc == 2 && !has_subcommands)) {
        zkv_output_error("help: too many arguments (see 'zkv --help')");
        return ZKV_EXIT_USAGE;
    }
    zkv_globals_t globals = {0};
    char help[] = "--help";
    char *args[] = {argc == 2 ? argv[1] : help, help};
    return cmd->run(cmd, &globals, argc, args);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("zkv %s\n", ZKV_VERSION);
        return ZKV_EXIT_OK;
    }
    zkv_globals_t globals = {0};
    zkv_flag_t flags[ZKV_GLOBAL_FLAGS_SIZE];
    zkv_globals_flags(&globals, flags);
    const zkv_flag_t *tables[] = {flags, NULL};
    zkv_args_t args;
    char err[256];
    if (zkv_flags_parse(argc - 1, argv + 1, tables, true, &args, err, sizeof err)) {
        zkv_output_error("%s (see 'zkv --help')", err);
        return ZKV_EXIT_USAGE;
    }
    int at = 1 + args.consumed;
    if (args.help) {
        s_help(stdout);
        return ZKV_EXIT_OK;
    }
    if (at >= argc) {
        zkv_output_error("no command given (see 'zkv --help')");
        return ZKV_EXIT_USAGE;
    }
    if (strcmp(argv[at], "help") == 0)
        return s_run_help(argc - at - 1, argv + at + 1);
    const zkv_command_t *cmd = s_find(argv[at]);
    if (!cmd) {
        s_unknown("", argv[at]);
        return ZKV_EXIT_USAGE;
    }
    /* czmq logs to stdout by default; stdout is for output only. */
    zsys_set_logstream(stderr);
    int code = cmd->run(cmd, &globals, argc - at - 1, argv + at + 1);
    fflush(stdout);
    return code;
}
