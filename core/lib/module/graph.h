/* SPDX-License-Identifier: MIT */
/* The module graph: a parsed config turned into shared instances.
 * Private to libposthorn and the posthorn program (not installed). */
#ifndef PH_GRAPH_H
#define PH_GRAPH_H

#include <sys/types.h>

#include <posthorn/config.h>
#include <posthorn/module.h>

struct ph_graph;

#define PH_GRAPH_NO_ENDPOINTS 0x01 /* CLI: create instances, skip endpoints */
#define PH_GRAPH_LAZY 0x02         /* CLI: only what is asked for, no
                                      "unused block" check */
#define PH_GRAPH_ALL 0x04          /* CLI: endpoints and every top-level
                                      instance, used or not */
#define PH_GRAPH_APPLY_LOG 0x08    /* run: the `log` global takes effect
                                      before any instance is created */

/* Parses a file and builds its graph: globals, then every endpoint, then
 * whatever they reference. Returns 0 or -1 with "FILE:LINE: ..." in
 * *error_r. */
int ph_graph_load_file(const char *path, unsigned flags,
                       struct ph_graph **graph_r, char **error_r) PH_WUR;
/* Same from text (tests). */
int ph_graph_load_string(const char *text, unsigned flags,
                         struct ph_graph **graph_r, char **error_r) PH_WUR;

/* Points the log at g's `log` global (stderr, syslog, off or a file under
 * state_dir). -1 with "log TARGET: why" in *error_r. */
int ph_graph_apply_log_target(const struct ph_graph *g, char **error_r) PH_WUR;

/* Finds (with PH_GRAPH_LAZY: creates) a top-level instance by name or
 * alias. NULL with *error_r when it is not defined or fails to build. */
struct ph_instance *ph_graph_instance(struct ph_graph *g, const char *name,
                                      char **error_r);
/* SIGHUP with an unchanged configuration: parses path and, when it holds
 * the same directives as g's (file positions aside), calls reload() on
 * every instance of g and returns 1 (errors of reload() are logged; the
 * instances keep running). Returns 0 when the configuration changed (the
 * caller builds a new graph), -1 when path cannot be parsed. */
int ph_graph_reload_if_same(struct ph_graph *g, const char *path,
                            char **error_r) PH_WUR;

/* Every instance created so far, in creation order (the CLI looks for the
 * one it administers). */
size_t ph_graph_instance_count(const struct ph_graph *g);
struct ph_instance *ph_graph_instance_at(const struct ph_graph *g, size_t i);

/* Endpoints in config order. */
/* The globals `user` and `group`, resolved: false when not set. */
bool ph_graph_run_as(const struct ph_graph *g, const char **user_r,
                     uid_t *uid_r, gid_t *gid_r);
size_t ph_graph_endpoint_count(const struct ph_graph *g);
struct ph_instance *ph_graph_endpoint(const struct ph_graph *g, size_t i);

/* The directives every instance of a kind takes besides its module's own
 * (storage: appendlimit, auto_create, ...), parsed by the core into a
 * struct of size bytes kept after the module's conf. The kind's layer
 * (core/lib/storage) sets them when the library loads: the graph knows
 * no kind's rows. A module built before ABI 1.4 gets none (it declares
 * its own). Local to libposthorn. */
void ph_graph_kind_directives(enum ph_module_kind kind,
                              const struct ph_directive *rows, size_t size);
/* The struct of the kind's directives for inst, or NULL (none, or a module
 * built before ABI 1.4). */
const void *ph_instance_kind_conf(const struct ph_instance *inst);


#endif
