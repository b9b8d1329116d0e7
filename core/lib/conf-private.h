/* SPDX-License-Identifier: MIT */
/* Shared between the directive engine (conf.c) and the graph (graph.c). */
#ifndef PH_CONF_PRIVATE_H
#define PH_CONF_PRIVATE_H

#include <posthorn/module.h>

struct ph_graph;

struct ph_conf_ctx {
    struct ph_graph *graph;
    const struct ph_cfg_node *globals; /* the root, for PH_DF_INHERIT */
    const char *where;                 /* "imap block", for messages */
    /* The synthetic node carrying inline arguments: the only one that may
     * set a PH_DF_HIDDEN directive. */
    const struct ph_cfg_node *inline_node;
};

/* Resolves a MODULE directive's value (`&name` or an inline definition) to
 * an instance of the directive's kind. Implemented in graph.c. */
int ph_graph_resolve(struct ph_conf_ctx *ctx, const struct ph_cfg_node *node,
                     const struct ph_directive *d, struct ph_instance **inst_r,
                     char **error_r);

#endif
