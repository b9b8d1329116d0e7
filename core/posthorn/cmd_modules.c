/* SPDX-License-Identifier: MIT */
/* `posthorn modules` and `posthorn version`. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/config.h>

#include <posthorn/module.h>

#include "cli.h"
#include "module/registry.h"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("posthorn %s (module ABI %d.%d)\n", PACKAGE_VERSION, PH_ABI_MAJOR,
           PH_ABI_MINOR);
    return 0;
}

int cmd_modules(int argc, char **argv)
{
    int skip = 0;
    const char *path = cli_config_path(&argc, argv);
    /* The config's module_dir joins the path when the config is readable. */
    struct ph_cfg_node *root = NULL;
    char *err = NULL;
    if (ph_cfg_parse_file(path, NULL, &root, &err) == 0) {
        const struct ph_cfg_node *md = ph_cfg_child(root, "module_dir");
        ph_registry_set_module_dir(md && md->nargs == 1 ? md->args[0] : NULL);
        ph_cfg_free(&root);
    }
    free(err);
    if (argc > 1) {
        fprintf(stderr, "posthorn modules: unexpected argument \"%s\"\n", argv[1]);
        return 2;
    }
    const struct ph_registry_file *files;
    size_t n = ph_registry_files(&files);
    printf("module path: %s\n", ph_registry_path());
    printf("%-36s %-9s %-6s %s\n", "NAME", "KIND", "ABI", "FILE");
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ph_registry_file *f = &files[i];
        if (f->shadowed) {
            skip++;
            continue;
        }
        if (f->error != NULL) {
            bad++;
            continue;
        }
        for (const char *const *name = f->desc->names; *name; name++) {
            char abi[32];
            snprintf(abi, sizeof(abi), "%u.%u", f->desc->abi_major,
                     f->desc->abi_minor);
            printf("%-36s %-9s %-6s %s\n", *name,
                   ph_module_kind_name(f->desc->kind), abi, f->path);
        }
    }
    if (bad > 0) {
        printf("\nfiles that failed to load:\n");
        for (size_t i = 0; i < n; i++)
            if (files[i].error && !files[i].shadowed)
                printf("  %s\n", files[i].error);
    }
    if (skip > 0)
        printf("\n%d file(s) shadowed by an earlier directory of the path\n",
               skip);
    return 0;
}
