/* SPDX-License-Identifier: MIT */
/* Shared between the directive engine (conf.c) and the graph (graph.c). */
#ifndef PH_CONF_PRIVATE_H
#define PH_CONF_PRIVATE_H

#include <posthorn/module.h>

struct ph_conf_ctx {
    /* Resolves a MODULE directive's value (`&name` or an inline
     * definition) to an instance of the directive's kind: the graph's,
     * given by whoever applies directives that may hold one (NULL: module
     * references are not allowed there). */
    int (*resolve)(struct ph_conf_ctx *ctx, const struct ph_cfg_node *node,
                   const struct ph_directive *d, struct ph_instance **inst_r,
                   char **error_r);
    void *resolve_arg;
    const struct ph_cfg_node *globals; /* the root, for PH_DF_INHERIT */
    const char *where;                 /* "imap block", for messages */
    /* The synthetic node carrying inline arguments: the only one that may
     * set a PH_DF_HIDDEN directive. */
    const struct ph_cfg_node *inline_node;
};

/* globals.c: what ph_global_hostname() and its siblings answer from now
 * on (copies are kept); graph.c sets them when it loads the globals. */
void ph_globals_set(const char *hostname, const char *state_dir,
                    const char *runtime_dir);

#endif
