/* SPDX-License-Identifier: MIT */
/* `posthorn table`: look keys up in a table of the config, list its keys
 * and change the tables that can be changed, through the same module code
 * the server runs (like postmap -q). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/table.h>

#include "cli.h"
#include "module/graph.h"

/* Exit codes of `table lookup` beside 0 (found), 1 (error), 2 (usage). */
#define TABLE_EXIT_NOT_FOUND 3
#define TABLE_EXIT_TEMPFAIL 4

static const char table_usage[] =
    "usage: posthorn table lookup [--cfg-block NAME] KEY\n"
    "       posthorn table keys [--cfg-block NAME]\n"
    "       posthorn table set [--cfg-block NAME] KEY [VALUE...]\n"
    "       posthorn table remove [--cfg-block NAME] KEY\n"
    "\n"
    "Asks a table of the config (--config FILE) through its module, as the\n"
    "server would. lookup prints each value on a line and exits 0 when KEY\n"
    "is found, 3 when it is not, 4 on a temporary failure; keys lists every\n"
    "key of the tables that can list them; set and remove change writable\n"
    "tables (table.file; remove exits 3 when KEY was not there).\n"
    "--cfg-block NAME picks the table by its instance\n"
    "name; without it the config must hold exactly one table.\n";

/* Removes "OPT VALUE" or "OPT=VALUE" from argv and returns VALUE, or NULL. */
static const char *take_option(int *argc, char **argv, const char *opt)
{
    size_t n = strlen(opt);
    for (int i = 1; i < *argc; i++) {
        int take = 0;
        const char *v = NULL;
        if (strcmp(argv[i], opt) == 0 && i + 1 < *argc) {
            v = argv[i + 1];
            take = 2;
        } else if (strncmp(argv[i], opt, n) == 0 && argv[i][n] == '=') {
            v = argv[i] + n + 1;
            take = 1;
        }
        if (take) {
            memmove(&argv[i], &argv[i + take],
                    (size_t)(*argc - i - take + 1) * sizeof(char *));
            *argc -= take;
            return v;
        }
    }
    return NULL;
}

/* The table to ask: --cfg-block NAME, else the only table in the config. */
static struct ph_instance *find_table(struct ph_graph *g, const char *block)
{
    if (block != NULL) {
        char *err = NULL;
        struct ph_instance *inst = ph_graph_instance(g, block, &err);
        if (inst == NULL) {
            fprintf(stderr, "posthorn: %s\n", err);
            free(err);
            return NULL;
        }
        if (ph_instance_kind(inst) != PH_MODULE_TABLE) {
            fprintf(stderr,
                    "posthorn: configuration block %s is a %s, not a "
                    "table\n",
                    block, ph_instance_module(inst));
            return NULL;
        }
        return inst;
    }
    struct ph_instance *found = NULL;
    for (size_t i = 0; i < ph_graph_instance_count(g); i++) {
        struct ph_instance *inst = ph_graph_instance_at(g, i);
        if (ph_instance_kind(inst) != PH_MODULE_TABLE)
            continue;
        if (found != NULL) {
            fprintf(stderr,
                    "posthorn: several tables in the config (%s and "
                    "%s): pick one with --cfg-block NAME\n",
                    ph_instance_where(found), ph_instance_where(inst));
            return NULL;
        }
        found = inst;
    }
    if (found == NULL)
        fprintf(stderr, "posthorn: the config defines no table\n");
    return found;
}

static int table_lookup(struct ph_instance *t, const char *key)
{
    struct ph_strlist values = {0};
    const char *err = NULL;
    int rc = 0;
    switch (ph_table_lookup(t, key, &values, &err)) {
    case PH_LOOKUP_FOUND:
        for (size_t i = 0; i < values.n; i++)
            printf("%s\n", values.v[i]);
        break;
    case PH_LOOKUP_NOT_FOUND:
        fprintf(stderr, "posthorn: %s: not found\n", key);
        rc = TABLE_EXIT_NOT_FOUND;
        break;
    case PH_LOOKUP_TEMPFAIL:
        fprintf(stderr, "posthorn: %s: temporary failure: %s\n", key, err);
        rc = TABLE_EXIT_TEMPFAIL;
        break;
    }
    ph_strlist_clear(&values);
    return rc;
}

int cmd_table(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(table_usage, stdout);
        return 0;
    }
    const char *path = cli_config_path(&argc, argv);
    const char *block = take_option(&argc, argv, "--cfg-block");
    if (argc < 2) {
        fputs(table_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    bool known = strcmp(sub, "lookup") == 0 || strcmp(sub, "keys") == 0 ||
                 strcmp(sub, "set") == 0 || strcmp(sub, "remove") == 0;
    if (!known || (strcmp(sub, "keys") == 0 && argc != 2) ||
        (strcmp(sub, "set") == 0 && argc < 3) ||
        (strcmp(sub, "lookup") == 0 && argc != 3) ||
        (strcmp(sub, "remove") == 0 && argc != 3)) {
        fputs(table_usage, stderr);
        return 2;
    }

    /* With a name, only that instance (and what it uses) is built; without
     * one every instance is, inline ones too, to find the only table. */
    struct ph_graph *g;
    char *cerr = NULL;
    unsigned flags =
        block != NULL ? PH_GRAPH_LAZY | PH_GRAPH_NO_ENDPOINTS : PH_GRAPH_ALL;
    if (ph_graph_load_file(path, flags, &g, &cerr) < 0) {
        fprintf(stderr, "posthorn: %s\n", cerr);
        free(cerr);
        return 1;
    }
    struct ph_instance *t = find_table(g, block);
    const char *err = NULL;
    int rc = 0;
    if (t == NULL) {
        rc = 1;
    } else if (strcmp(sub, "lookup") == 0) {
        rc = table_lookup(t, argv[2]);
    } else if (strcmp(sub, "keys") == 0) {
        struct ph_strlist keys = {0};
        if (ph_table_keys(t, &keys, &err) < 0)
            rc = 1;
        for (size_t i = 0; i < keys.n; i++)
            printf("%s\n", keys.v[i]);
        ph_strlist_clear(&keys);
    } else if (strcmp(sub, "set") == 0) {
        if (ph_table_set(t, argv[2], (const char *const *)argv + 3,
                         (size_t)argc - 3, &err) < 0)
            rc = 1;
    } else {
        int r = ph_table_remove(t, argv[2], &err);
        if (r < 0) {
            rc = 1;
        } else if (r == 0) {
            fprintf(stderr, "posthorn: %s: not found\n", argv[2]);
            rc = TABLE_EXIT_NOT_FOUND;
        }
    }
    if (rc == 1 && err != NULL)
        fprintf(stderr, "posthorn: table %s: %s (%s)\n", sub, err,
                ph_instance_module(t));
    ph_graph_unref(&g);
    return rc;
}
