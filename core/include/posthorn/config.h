/* SPDX-License-Identifier: MIT */
/* posthorn SDK: the parsed configuration tree.
 *
 * The parser (maddy's language) turns a file into a tree of nodes with
 * macros, {env:VAR}, imports and snippets already expanded, so everything
 * above it sees plain directives. Each node keeps the file and line it came
 * from for error messages. */
#ifndef POSTHORN_CONFIG_H
#define POSTHORN_CONFIG_H

#include <posthorn/common.h>

struct ph_cfg_node {
    char *name;  /* the directive's first token */
    char **args; /* the remaining tokens of its line; NULL-terminated */
    size_t nargs;
    struct ph_cfg_node *children; /* contents of its block */
    size_t nchildren;
    bool has_block;   /* `{ }` was present, even when empty */
    const char *file; /* owned by the tree; never NULL */
    int line;         /* 0 for the root */
};

/* Limits the parser enforces on hostile config input. */
#define PH_CFG_MAX_DEPTH 16        /* nested blocks */
#define PH_CFG_MAX_IMPORT_DEPTH 8  /* import within import */
#define PH_CFG_MAX_TOKEN 65536     /* bytes in one token */
#define PH_CFG_MAX_FILE (16 << 20) /* bytes in one file */
/* Caps on the whole parse, so that macros and imports cannot blow up. */
#define PH_CFG_MAX_TOKENS 1000000   /* names and arguments after expansion */
#define PH_CFG_MAX_TOTAL (64 << 20) /* bytes read plus bytes expanded */

/* Reads a file for `import`. Returns 0 and a malloc'ed buffer, or -1 with
 * errno set. Tests and the fuzzer replace it to run without a filesystem. */
typedef int ph_cfg_read_fn(void *ctx, const char *path, char **data_r,
                           size_t *len_r);

struct ph_cfg_parse_opts {
    ph_cfg_read_fn *read_file; /* NULL: read from disk */
    void *read_ctx;
    /* NULL: getenv(). Returning NULL means the variable is unset and expands
     * to the empty string, as in maddy. */
    const char *(*getenv)(void *ctx, const char *name);
    void *getenv_ctx;
};

/* Parses the file at path. On success *root_r is a node named "" whose
 * children are the top-level directives. On failure returns -1 and sets
 * *error_r to "FILE:LINE: what went wrong" (malloc'ed). */
int ph_cfg_parse_file(const char *path, const struct ph_cfg_parse_opts *opts,
                      struct ph_cfg_node **root_r, char **error_r) PH_WUR;

/* Same, from a buffer; name is used in messages and as the base for
 * relative imports. */
int ph_cfg_parse_buffer(const char *data, size_t len, const char *name,
                        const struct ph_cfg_parse_opts *opts,
                        struct ph_cfg_node **root_r, char **error_r) PH_WUR;

/* Frees a whole tree; takes only the root that a parse returned. */
void ph_cfg_free(struct ph_cfg_node **root);

/* Looks up the first direct child with the given name, or NULL. */
const struct ph_cfg_node *ph_cfg_child(const struct ph_cfg_node *node,
                                       const char *name);

/* Formats "FILE:LINE: " + message into a new string ("FILE: " for the root,
 * which has no line). */
char *ph_cfg_error(const struct ph_cfg_node *node, const char *fmt, ...)
    PH_PRINTF(2, 3);

#endif
