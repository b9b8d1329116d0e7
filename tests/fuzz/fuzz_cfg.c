/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the config parser. The input holds up to four files
 * separated by lines "%%": posthorn.conf, then a.conf, b and sub/c.conf,
 * which `import` reaches through an in-memory read_file (no disk). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/config.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFILES 4

struct fuzz_fs {
    const char *data[NFILES];
    size_t len[NFILES];
};

static const char *const fuzz_names[NFILES] = {
    "posthorn.conf",
    "a.conf",
    "b",
    "sub/c.conf",
};

static int fuzz_read(void *ctx, const char *path, char **data_r, size_t *len_r)
{
    const struct fuzz_fs *fs = ctx;
    for (size_t i = 0; i < NFILES; i++) {
        if (fs->data[i] == NULL || strcmp(path, fuzz_names[i]) != 0)
            continue;
        char *copy = malloc(fs->len[i] + 1);
        if (copy == NULL)
            abort();
        memcpy(copy, fs->data[i], fs->len[i]);
        *data_r = copy;
        *len_r = fs->len[i];
        return 0;
    }
    errno = ENOENT;
    return -1;
}

static const char *fuzz_getenv(void *ctx, const char *name)
{
    (void)ctx;
    if (strcmp(name, "HOME") == 0)
        return "/home/x";
    if (strcmp(name, "MACRO") == 0)
        return "$(a) {env:HOME}";
    return NULL;
}

/* Checks what the API promises about every node. */
static size_t walk(const struct ph_cfg_node *n, int depth)
{
    if (n->name == NULL || n->file == NULL || n->args == NULL ||
        n->args[n->nargs] != NULL || depth > PH_CFG_MAX_DEPTH + 1 ||
        (depth > 0 && !n->has_block && n->nchildren > 0) ||
        (depth > 0 && n->line < 1) || (depth > 0 && n->name[0] == '\0'))
        abort();
    size_t sum = strlen(n->name) + strlen(n->file);
    for (size_t i = 0; i < n->nargs; i++)
        sum += strlen(n->args[i]);
    for (size_t i = 0; i < n->nchildren; i++)
        sum += walk(&n->children[i], depth + 1);
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_fs fs = {0};
    const char *p = (const char *)data, *end = p + size;
    for (size_t i = 0; i < NFILES; i++) {
        const char *sep = NULL;
        for (const char *q = p; q + 4 <= end; q++) {
            if (memcmp(q, "\n%%\n", 4) == 0) {
                sep = q;
                break;
            }
        }
        fs.data[i] = p;
        fs.len[i] = (size_t)((sep && i + 1 < NFILES ? sep : end) - p);
        if (sep == NULL || i + 1 == NFILES)
            break;
        p = sep + 4;
    }
    struct ph_cfg_parse_opts opts = {
        .read_file = fuzz_read,
        .read_ctx = &fs,
        .getenv = fuzz_getenv,
    };
    struct ph_cfg_node *root = NULL;
    char *error = NULL;
    if (ph_cfg_parse_buffer(fs.data[0], fs.len[0], fuzz_names[0], &opts, &root,
                            &error) < 0) {
        if (root != NULL || error == NULL || strstr(error, ": ") == NULL)
            abort();
        free(error);
        return 0;
    }
    if (error != NULL)
        abort();
    (void)walk(root, 0);
    if (root->nchildren > 0) {
        char *msg = ph_cfg_error(&root->children[0], "x %s", "y");
        free(msg);
    }
    ph_cfg_free(&root);
    return 0;
}
