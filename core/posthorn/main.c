/* SPDX-License-Identifier: MIT */
/* posthorn: the program. `posthorn run` serves; the other subcommands
 * check the config, list modules and administer storage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_command commands[] = {
    {"run", "load the config and serve until stopped",
     "usage: posthorn run [--config FILE]\n"
     "\n"
     "Loads FILE (default: $POSTHORN_CONFIG, else " PH_SYSCONFDIR
     "/posthorn.conf),\n"
     "starts every endpoint and logs \"server started\" when all listeners\n"
     "are up (and sends READY=1 when NOTIFY_SOCKET is set).\n"
     "SIGTERM/SIGINT stop, SIGHUP re-reads the config: established sessions\n"
     "keep running, unchanged listen addresses keep their sockets, and a\n"
     "config that fails to load is logged while the old one keeps running.\n",
     cmd_run},
    {"check-config", "parse the config, build every instance, bind nothing",
     "usage: posthorn check-config [--config FILE]\n"
     "\n"
     "Parses FILE, loads its modules and creates every instance without\n"
     "binding any socket. Prints \"ok\", or the errors with FILE:LINE and\n"
     "exits 1.\n",
     cmd_check_config},
    {"modules", "list the modules on the module path",
     "usage: posthorn modules\n"
     "\n"
     "Lists every module found on the module path ($POSTHORN_MODULE_PATH,\n"
     "then module_dir, then " PH_MODULE_DIR "): name, kind, ABI and file,\n"
     "and every file that failed to load with the reason.\n",
     cmd_modules},
    {"version", "print the version and module ABI", "usage: posthorn version\n",
     cmd_version},
    {"accounts", "list, create or remove storage accounts, set quotas", NULL,
     cmd_accounts},
    {"mailboxes", "list, create, remove or rename mailboxes", NULL,
     cmd_mailboxes},
    {"messages", "add, list, dump, flag or remove messages", NULL,
     cmd_messages},
    {"creds", "manage the users of a password table", NULL, cmd_creds},
    {"hash", "print the crypt(3) hash of a password", NULL, cmd_hash},
    {"table", "look up, list or change the keys of a table", NULL, cmd_table},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: posthorn COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`posthorn COMMAND --help` describes one command.\n");
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    return false;
}

const char *cli_config_path(int *argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;
        int take = 0;
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) &&
            i + 1 < *argc) {
            v = argv[i + 1];
            take = 2;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            v = argv[i] + 9;
            take = 1;
        }
        if (take) {
            path = v;
            memmove(&argv[i], &argv[i + take], (size_t)(*argc - i - take + 1) * sizeof(char *));
            *argc -= take;
            i--;
        }
    }
    if (path == NULL)
        path = getenv("POSTHORN_CONFIG");
    if (path == NULL || *path == '\0')
        path = PH_SYSCONFDIR "/posthorn.conf";
    return path;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        /* Commands without a usage here print their own on --help. */
        if (commands[i].usage != NULL && cli_wants_help(argc - 1, argv + 1)) {
            fputs(commands[i].usage, stdout);
            return 0;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "posthorn: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
