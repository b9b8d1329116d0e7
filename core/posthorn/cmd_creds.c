/* SPDX-License-Identifier: MIT */
/* `posthorn creds` and `posthorn hash`: passwords of an auth provider that
 * manages its users (auth.pass_table over a table.file). Passwords come
 * from -p or one line of standard input and are never printed or logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/auth.h>

#include "cli.h"
#include "module/graph.h"

static const char creds_usage[] =
    "usage: posthorn creds list\n"
    "       posthorn creds create USER [-p PASSWORD]\n"
    "       posthorn creds password USER [-p PASSWORD]\n"
    "       posthorn creds remove USER\n"
    "\n"
    "Manages the users of the config's password table (auth.pass_table over\n"
    "a writable table such as table.file). Without -p the password is read\n"
    "from one line of standard input. --cfg-block NAME picks the auth\n"
    "instance when the config has several; --config FILE the config.\n";

static const char hash_usage[] =
    "usage: posthorn hash [--hash yescrypt|bcrypt|sha512-crypt|sha256-crypt] "
    "[-p PASSWORD]\n"
    "\n"
    "Prints the crypt(3) hash of a password (read from one line of standard\n"
    "input without -p), for tables edited by hand.\n";

/* Removes "OPT VALUE" from argv and returns VALUE, or NULL. */
static const char *take_option(int *argc, char **argv, const char *opt)
{
    for (int i = 1; i + 1 < *argc; i++) {
        if (strcmp(argv[i], opt) == 0) {
            const char *v = argv[i + 1];
            memmove(&argv[i], &argv[i + 2],
                    (size_t)(*argc - i - 1) * sizeof(char *));
            *argc -= 2;
            return v;
        }
    }
    return NULL;
}

/* One line of standard input, without its line end. */
static char *read_password(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static char *get_password(const char *given)
{
    char *p = given ? ph_strdup(given) : read_password();
    if (p == NULL || *p == '\0') {
        fprintf(stderr, "posthorn: no password given (-p or one line on "
                        "standard input)\n");
        free(p);
        return NULL;
    }
    return p;
}

static void wipe_free(char *p)
{
    if (p != NULL) {
        explicit_bzero(p, strlen(p));
        free(p);
    }
}

int cmd_hash(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(hash_usage, stdout);
        return 0;
    }
    const char *method = take_option(&argc, argv, "--hash");
    const char *given = take_option(&argc, argv, "-p");
    if (argc != 1) {
        fputs(hash_usage, stderr);
        return 2;
    }
    char *password = get_password(given);
    if (password == NULL)
        return 1;
    const char *err;
    char *hash = ph_password_hash(password, method, &err);
    wipe_free(password);
    if (hash == NULL) {
        fprintf(stderr, "posthorn: %s\n", err);
        return 1;
    }
    printf("%s\n", hash);
    free(hash);
    return 0;
}

/* The auth instance to manage: --cfg-block NAME, else the only one in the
 * config that manages users. */
static struct ph_instance *find_auth(struct ph_graph *g, const char *block)
{
    char *err = NULL;
    if (block != NULL) {
        struct ph_instance *inst = ph_graph_instance(g, block, &err);
        if (inst == NULL) {
            fprintf(stderr, "posthorn: %s\n", err);
            free(err);
            return NULL;
        }
        if (ph_instance_kind(inst) != PH_MODULE_AUTH || !ph_auth_can_manage(inst)) {
            fprintf(stderr, "posthorn: %s is a %s that cannot manage users\n",
                    block, ph_instance_module(inst));
            return NULL;
        }
        return inst;
    }
    struct ph_instance *found = NULL;
    for (size_t i = 0; i < ph_graph_instance_count(g); i++) {
        struct ph_instance *inst = ph_graph_instance_at(g, i);
        if (ph_instance_kind(inst) != PH_MODULE_AUTH || !ph_auth_can_manage(inst))
            continue;
        if (found != NULL) {
            fprintf(stderr, "posthorn: several password tables in the config "
                            "(%s and %s): pick one with --cfg-block NAME\n",
                    ph_instance_where(found), ph_instance_where(inst));
            return NULL;
        }
        found = inst;
    }
    if (found == NULL)
        fprintf(stderr, "posthorn: the config has no password table "
                        "(auth.pass_table over a writable table)\n");
    return found;
}

int cmd_creds(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(creds_usage, stdout);
        return 0;
    }
    const char *path = cli_config_path(&argc, argv);
    const char *block = take_option(&argc, argv, "--cfg-block");
    const char *given = take_option(&argc, argv, "-p");
    if (argc < 2) {
        fputs(creds_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    bool needs_user = strcmp(sub, "list") != 0;
    if ((needs_user && argc != 3) || (!needs_user && argc != 2)) {
        fputs(creds_usage, stderr);
        return 2;
    }
    struct ph_graph *g;
    char *cerr = NULL;
    /* The whole graph, endpoints created but never started: an inline
     * `auth pass_table ...` inside an endpoint is found too. */
    if (ph_graph_load_file(path, PH_GRAPH_ALL, &g, &cerr) < 0) {
        fprintf(stderr, "posthorn: %s\n", cerr);
        free(cerr);
        return 1;
    }
    int rc = 0;
    const char *err = NULL;
    struct ph_instance *auth = find_auth(g, block);
    if (auth == NULL) {
        rc = 1;
    } else if (strcmp(sub, "list") == 0) {
        struct ph_strlist users = {0};
        if (ph_auth_list_users(auth, &users, &err) < 0)
            rc = 1;
        for (size_t i = 0; i < users.n; i++)
            printf("%s\n", users.v[i]);
        ph_strlist_clear(&users);
    } else if (strcmp(sub, "create") == 0 || strcmp(sub, "password") == 0) {
        struct ph_strlist users = {0};
        if (ph_auth_list_users(auth, &users, &err) < 0) {
            rc = 1;
        } else if (ph_strlist_contains(&users, argv[2]) == (sub[0] == 'c')) {
            fprintf(stderr, "posthorn: user %s %s\n", argv[2],
                    sub[0] == 'c' ? "already exists (use creds password)"
                                  : "does not exist (use creds create)");
            rc = 1;
        } else {
            char *password = get_password(given);
            if (password == NULL)
                rc = 1;
            else if (ph_auth_set_password(auth, argv[2], password, &err) < 0)
                rc = 1;
            wipe_free(password);
        }
        ph_strlist_clear(&users);
    } else if (strcmp(sub, "remove") == 0) {
        int r = ph_auth_remove_user(auth, argv[2], &err);
        if (r < 0) {
            rc = 1;
        } else if (r == 0) {
            fprintf(stderr, "posthorn: user %s does not exist\n", argv[2]);
            rc = 1;
        }
    } else {
        fputs(creds_usage, stderr);
        rc = 2;
    }
    if (rc == 1 && err != NULL)
        fprintf(stderr, "posthorn: creds %s: %s\n", sub, err);
    ph_graph_unref(&g);
    return rc;
}
