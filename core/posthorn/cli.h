/* SPDX-License-Identifier: MIT */
/* The posthorn program's subcommands. */
#ifndef PH_CLI_H
#define PH_CLI_H

#include <stdbool.h>

struct cli_command {
    const char *name;
    const char *summary;
    const char *usage; /* full --help text */
    int (*run)(int argc, char **argv);
};

/* The config file: --config FILE, else $POSTHORN_CONFIG, else the
 * installed default. Removes the option from argv. */
const char *cli_config_path(int *argc, char **argv);
/* True when argv holds -h or --help. */
bool cli_wants_help(int argc, char **argv);

int cmd_run(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_modules(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_accounts(int argc, char **argv);
int cmd_mailboxes(int argc, char **argv);
int cmd_messages(int argc, char **argv);
int cmd_creds(int argc, char **argv);
int cmd_hash(int argc, char **argv);
int cmd_table(int argc, char **argv);

#endif
