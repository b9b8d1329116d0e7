/* SPDX-License-Identifier: MIT */
/* The module graph: globals, then endpoints, then every instance they
 * reference, created once and shared. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <posthorn/log.h>
#include <posthorn/normalize.h>
#include <posthorn/tls.h>

#include "config/conf-private.h"
#include "graph.h"
#include "registry.h"

#define GRAPH_OWNS_ROOT 0x100 /* ph_graph_load_*() parsed the tree itself */

enum inst_state { INST_DEFINED, INST_CREATING, INST_CREATED, INST_FAILED };

struct ph_instance {
    struct ph_graph *graph;
    char *name;   /* instance name; for inline ones "directive@file:line" */
    char *module; /* "storage.sqlite" */
    char *where;  /* "FILE:LINE" */
    char *label;  /* "storage.sqlite block local_mailboxes", for messages */
    const struct ph_module_desc *desc;
    const struct ph_cfg_node *node; /* the defining directive */
    char *const *inline_args;
    size_t ninline;
    struct ph_cfg_node *wrapper; /* synthetic block with inline args */
    struct ph_cfg_node *inline_node;
    void *conf, *ctx;
    /* The module's rows and its kind's (ph_graph_kind_directives), and
     * where the kind's struct sits in conf; NULL and 0 without kind rows. */
    struct ph_directive *rows;
    size_t kind_off;
    enum inst_state state;
    bool toplevel, endpoint, referenced;
};

struct globals_conf {
    char *hostname;
    char *state_dir;
    char *runtime_dir;
    struct ph_tls_conf tls;
    struct ph_strlist log;
    bool debug;
    const struct ph_cfg_node *auth_map;
    int auth_map_normalize;
    char *module_dir;
    char *user, *group;
    /* Resolved from user/group: what `posthorn run` drops to. */
    bool run_as;
    uid_t run_uid;
    gid_t run_gid;
};

#define G_OFF(f) offsetof(struct globals_conf, f)
static const struct ph_directive global_directives[] = {
    {.name = "hostname", .type = PH_DT_STRING, .offset = G_OFF(hostname)},
    {.name = "state_dir", .type = PH_DT_STRING, .offset = G_OFF(state_dir)},
    {.name = "runtime_dir", .type = PH_DT_STRING, .offset = G_OFF(runtime_dir)},
    {.name = "tls", .type = PH_DT_CUSTOM, .offset = G_OFF(tls),
     .parse = ph_tls_conf_parse, .free = ph_tls_conf_free},
    {.name = "log", .type = PH_DT_LIST, .offset = G_OFF(log), .min_args = 1,
     .max_args = 1, .def = "stderr"},
    {.name = "debug", .type = PH_DT_BOOL, .offset = G_OFF(debug), .def = "no"},
    {.name = "user", .type = PH_DT_STRING, .offset = G_OFF(user)},
    {.name = "group", .type = PH_DT_STRING, .offset = G_OFF(group)},
    {.name = "auth_map", .type = PH_DT_BLOCK, .offset = G_OFF(auth_map),
     .min_args = 1, .max_args = -1},
    {.name = "auth_map_normalize", .type = PH_DT_ENUM,
     .offset = G_OFF(auth_map_normalize), .values = ph_normalize_names},
    {.name = "module_dir", .type = PH_DT_STRING, .offset = G_OFF(module_dir)},
    {.name = NULL},
};

struct ph_graph {
    atomic_int refs;
    struct ph_cfg_node *root;
    unsigned flags;
    struct globals_conf globals;
    struct ph_instance **all; /* every instance, in definition order */
    size_t nall, all_cap;
    struct ph_instance **created; /* in the order create() succeeded */
    size_t ncreated, created_cap;
    struct ph_instance **endpoints;
    size_t nendpoints, endpoints_cap;
};

const char *ph_instance_name(const struct ph_instance *i) { return i->name; }
const char *ph_instance_module(const struct ph_instance *i) { return i->module; }
enum ph_module_kind ph_instance_kind(const struct ph_instance *i) { return i->desc->kind; }
void *ph_instance_ctx(const struct ph_instance *i) { return i->ctx; }
const void *ph_instance_iface(const struct ph_instance *i) { return i->desc->iface; }
uint32_t ph_instance_abi_minor(const struct ph_instance *i) { return i->desc->abi_minor; }
const char *ph_instance_where(const struct ph_instance *i) { return i->where; }
const void *ph_instance_kind_conf(const struct ph_instance *i)
{
    return i->rows != NULL ? (const char *)i->conf + i->kind_off : NULL;
}

static struct {
    const struct ph_directive *rows;
    size_t size;
} kind_rows[PH_MODULE_TABLE + 1];

void ph_graph_kind_directives(enum ph_module_kind kind,
                              const struct ph_directive *rows, size_t size)
{
    ph_assert((size_t)kind < PH_N_ELEMENTS(kind_rows));
    kind_rows[kind].rows = rows;
    kind_rows[kind].size = size;
}

/* The module's table with its kind's rows after it, rebased past its conf;
 * a module row of the same name gives way to the kind's (the value is the
 * core's to read). NULL when the instance takes no kind rows. */
static struct ph_directive *kind_table(struct ph_instance *inst,
                                       size_t *conf_size_r)
{
    const struct ph_module_desc *d = inst->desc;
    const struct ph_directive *extra =
        (size_t)d->kind < PH_N_ELEMENTS(kind_rows) ? kind_rows[d->kind].rows
                                                    : NULL;
    if (extra == NULL || d->abi_minor < 4)
        return NULL;
    size_t n = 0, m = 0;
    while (d->directives != NULL && d->directives[n].name != NULL)
        n++;
    while (extra[m].name != NULL)
        m++;
    struct ph_directive *t = ph_calloc(n + m + 1, sizeof(*t));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool theirs = false;
        for (size_t j = 0; j < m && !theirs; j++)
            theirs = strcmp(extra[j].name, d->directives[i].name) == 0;
        if (!theirs)
            t[k++] = d->directives[i];
    }
    inst->kind_off = (d->conf_size + 15) & ~(size_t)15;
    for (size_t j = 0; j < m; j++) {
        t[k] = extra[j];
        t[k++].offset += inst->kind_off;
    }
    *conf_size_r = inst->kind_off + kind_rows[d->kind].size;
    return t;
}
const struct ph_cfg_node *ph_instance_node(const struct ph_instance *i) { return i->node; }
struct ph_graph *ph_instance_graph(struct ph_instance *i) { return i->graph; }


static const char *const global_names[] = {
    "hostname", "state_dir", "runtime_dir", "tls", "log", "debug",
    "auth_map", "auth_map_normalize", "module_dir", "user", "group", NULL,
};

static bool is_global(const char *name)
{
    for (size_t i = 0; global_names[i]; i++)
        if (strcmp(global_names[i], name) == 0)
            return true;
    return false;
}

static struct ph_instance *instance_new(struct ph_graph *g, const char *name,
                                        const char *module,
                                        const struct ph_module_desc *desc,
                                        const struct ph_cfg_node *node)
{
    struct ph_instance *i = ph_calloc(1, sizeof(*i));
    i->graph = g;
    i->name = ph_strdup(name);
    i->module = ph_strdup(module);
    i->desc = desc;
    i->node = node;
    i->where = ph_strdup_printf("%s:%d", node->file, node->line);
    ph_array_grow(&g->all, &g->all_cap, g->nall + 1, sizeof(*g->all));
    g->all[g->nall++] = i;
    return i;
}

static struct ph_instance *find_def(struct ph_graph *g, const char *name)
{
    for (size_t i = 0; i < g->nall; i++) {
        struct ph_instance *inst = g->all[i];
        if (!inst->toplevel || inst->endpoint)
            continue;
        if (strcmp(inst->name, name) == 0)
            return inst;
        for (size_t a = 1; a < inst->node->nargs; a++)
            if (strcmp(inst->node->args[a], name) == 0)
                return inst;
    }
    return NULL;
}

/* Builds the block the module's directive table is applied to: the
 * defining node's block, with the inline arguments as one more directive. */
static int build_block(struct ph_instance *inst, const struct ph_cfg_node **block_r,
                       char **error_r)
{
    const struct ph_cfg_node *node = inst->node;
    if (inst->ninline == 0) {
        *block_r = node;
        return 0;
    }
    const struct ph_directive *row = NULL;
    for (const struct ph_directive *d = inst->desc->directives;
         d && inst->desc->inline_directive && d->name; d++)
        if (strcmp(d->name, inst->desc->inline_directive) == 0)
            row = d;
    if (row == NULL) {
        *error_r = ph_cfg_error(node, "module %s takes no inline arguments "
                                "(got \"%s\")", inst->module,
                                inst->inline_args[0]);
        return -1;
    }
    struct ph_cfg_node *s = ph_calloc(1, sizeof(*s));
    s->name = (char *)row->name;
    s->args = (char **)inst->inline_args;
    s->nargs = inst->ninline;
    s->file = node->file;
    s->line = node->line;
    size_t extra = 0;
    if (row->type == PH_DT_MODULE) {
        /* The block configures the inline module, not this one. */
        s->children = node->children;
        s->nchildren = node->nchildren;
        s->has_block = node->has_block;
    } else {
        extra = node->nchildren;
    }
    struct ph_cfg_node *w = ph_calloc(1, sizeof(*w));
    w->name = node->name;
    w->file = node->file;
    w->line = node->line;
    w->has_block = true;
    w->nchildren = 1 + extra;
    w->children = ph_calloc(w->nchildren, sizeof(*w->children));
    w->children[0] = *s;
    for (size_t c = 0; c < extra; c++)
        w->children[1 + c] = node->children[c];
    free(s);
    inst->wrapper = w;
    inst->inline_node = &w->children[0];
    *block_r = w;
    return 0;
}

static int graph_resolve(struct ph_conf_ctx *ctx, const struct ph_cfg_node *node,
                         const struct ph_directive *d,
                         struct ph_instance **inst_r, char **error_r);

static int instance_create(struct ph_instance *inst, char **error_r)
{
    struct ph_graph *g = inst->graph;
    if (inst->state == INST_CREATED)
        return 0;
    if (inst->state == INST_CREATING) {
        *error_r = ph_cfg_error(inst->node, "%s refers to itself through a "
                                "chain of references", inst->label);
        return -1;
    }
    if (inst->state == INST_FAILED) {
        *error_r = ph_cfg_error(inst->node, "%s failed to build", inst->label);
        return -1;
    }
    inst->state = INST_CREATING;
    const struct ph_cfg_node *block;
    if (build_block(inst, &block, error_r) < 0)
        goto fail;
    size_t conf_size = inst->desc->conf_size;
    inst->rows = kind_table(inst, &conf_size);
    const struct ph_directive *rows =
        inst->rows != NULL ? inst->rows : inst->desc->directives;
    inst->conf = ph_calloc(1, conf_size ? conf_size : 1);
    struct ph_conf_ctx ctx = {
        .resolve = graph_resolve,
        .resolve_arg = g,
        .globals = g->root,
        .where = inst->label,
        .inline_node = inst->inline_node,
    };
    if (rows != NULL && ph_conf_apply(block, rows, inst->conf, &ctx, error_r) < 0)
        goto fail;
    if (rows == NULL && block->nchildren > 0) {
        *error_r = ph_cfg_error(&block->children[0],
                                "unknown directive \"%s\" in %s",
                                block->children[0].name, inst->label);
        goto fail;
    }
    char *msg = NULL;
    if (inst->desc->create(inst, inst->conf, &inst->ctx, &msg) < 0) {
        *error_r = ph_cfg_error(inst->node, "%s: %s", inst->label,
                                msg ? msg : "failed to start");
        free(msg);
        goto fail;
    }
    inst->state = INST_CREATED;
    ph_array_grow(&g->created, &g->created_cap, g->ncreated + 1,
                  sizeof(*g->created));
    g->created[g->ncreated++] = inst;
    return 0;
fail:
    inst->state = INST_FAILED;
    return -1;
}

static int graph_resolve(struct ph_conf_ctx *ctx, const struct ph_cfg_node *node,
                         const struct ph_directive *d,
                         struct ph_instance **inst_r, char **error_r)
{
    struct ph_graph *g = ctx->resolve_arg;
    const char *arg = node->args[0];
    struct ph_instance *inst;

    if (arg[0] == '&') {
        if (node->nargs > 1 || node->has_block) {
            *error_r = ph_cfg_error(node, "\"%s %s\" refers to an instance and "
                                    "takes no further arguments or block",
                                    node->name, arg);
            return -1;
        }
        inst = find_def(g, arg + 1);
        if (inst == NULL) {
            *error_r = ph_cfg_error(node, "%s: no top-level block defines "
                                    "\"%s\"", node->name, arg + 1);
            return -1;
        }
        inst->referenced = true;
    } else {
        const struct ph_module_desc *desc = NULL;
        char *name = NULL, *err = NULL;
        if (d->prefix != NULL) {
            name = ph_strdup_printf("%s.%s", d->prefix, arg);
            if (ph_registry_find(name, &desc, NULL, &err) < 0) {
                char *err2 = NULL;
                if (strchr(arg, '.') &&
                    ph_registry_find(arg, &desc, NULL, &err2) == 0) {
                    free(name);
                    name = ph_strdup(arg);
                    free(err);
                    err = NULL;
                }
                free(err2);
            }
        } else {
            name = ph_strdup(arg);
            if (ph_registry_find(name, &desc, NULL, &err) < 0)
                desc = NULL;
        }
        if (desc == NULL) {
            *error_r = ph_cfg_error(node, "%s: %s", node->name, err);
            free(err);
            free(name);
            return -1;
        }
        char *iname = ph_strdup_printf("%s@%s:%d", node->name, node->file,
                                       node->line);
        inst = instance_new(g, iname, name, desc, node);
        inst->label = ph_strdup_printf("%s block (%s at %s:%d)", name,
                                       node->name, node->file, node->line);
        inst->inline_args = node->args + 1;
        inst->ninline = node->nargs - 1;
        inst->referenced = true;
        free(iname);
        free(name);
    }
    if (inst->desc->kind != d->kind) {
        *error_r = ph_cfg_error(node, "%s: module %s is a%s %s, not a%s %s",
                                node->name, inst->module,
                                inst->desc->kind == PH_MODULE_AUTH ||
                                        inst->desc->kind == PH_MODULE_ENDPOINT
                                    ? "n" : "",
                                ph_module_kind_name(inst->desc->kind),
                                d->kind == PH_MODULE_AUTH ||
                                        d->kind == PH_MODULE_ENDPOINT
                                    ? "n" : "",
                                ph_module_kind_name(d->kind));
        return -1;
    }
    if (instance_create(inst, error_r) < 0)
        return -1;
    *inst_r = inst;
    return 0;
}

/* `user` and `group`: the account `posthorn run` serves as once its
 * listeners are bound. Run as root, the state and runtime directories are
 * given to it here, before any instance creates a file in them (files are
 * created owned like their directory). */
static int resolve_run_as(struct globals_conf *gc, char **error_r)
{
    if (gc->user == NULL) {
        if (gc->group != NULL) {
            *error_r = ph_strdup("group needs user");
            return -1;
        }
        return 0;
    }
    char buf[16384];
    struct passwd pw, *pwp = NULL;
    if (getpwnam_r(gc->user, &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL) {
        *error_r = ph_strdup_printf("user %s: no such user", gc->user);
        return -1;
    }
    gc->run_uid = pw.pw_uid;
    gc->run_gid = pw.pw_gid;
    if (gc->group != NULL) {
        struct group gr, *grp = NULL;
        if (getgrnam_r(gc->group, &gr, buf, sizeof(buf), &grp) != 0 ||
            grp == NULL) {
            *error_r = ph_strdup_printf("group %s: no such group", gc->group);
            return -1;
        }
        gc->run_gid = gr.gr_gid;
    }
    gc->run_as = true;
    if (geteuid() != 0)
        return 0;
    const char *dirs[] = {gc->state_dir, gc->runtime_dir};
    for (size_t i = 0; i < PH_N_ELEMENTS(dirs); i++) {
        struct stat st;
        if (stat(dirs[i], &st) == 0 && st.st_uid == 0 &&
            chown(dirs[i], gc->run_uid, gc->run_gid) < 0) {
            *error_r = ph_strdup_printf("cannot give %s to user %s: %s",
                                        dirs[i], gc->user, strerror(errno));
            return -1;
        }
    }
    return 0;
}

bool ph_graph_run_as(const struct ph_graph *g, const char **user_r,
                     uid_t *uid_r, gid_t *gid_r)
{
    *user_r = g->globals.user;
    *uid_r = g->globals.run_uid;
    *gid_r = g->globals.run_gid;
    return g->globals.run_as;
}

static int make_dir(const char *path, char **error_r)
{
    char *copy = ph_strdup(path);
    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
                *error_r = ph_strdup_printf("cannot create directory %s: %s",
                                            copy, strerror(errno));
                free(copy);
                return -1;
            }
            *p = c;
            if (c == '\0')
                break;
        }
    }
    free(copy);
    return 0;
}

static int load_globals(struct ph_graph *g, char **error_r)
{
    /* A view of the root holding only the global directives. */
    struct ph_cfg_node view = *g->root;
    view.children = ph_calloc(g->root->nchildren + 1, sizeof(*view.children));
    view.nchildren = 0;
    for (size_t i = 0; i < g->root->nchildren; i++)
        if (is_global(g->root->children[i].name))
            view.children[view.nchildren++] = g->root->children[i];
    struct ph_conf_ctx ctx = {
        .resolve = graph_resolve, .resolve_arg = g, .where = "global scope"};
    int r = ph_conf_apply(&view, global_directives, &g->globals, &ctx, error_r);
    free(view.children);
    if (r < 0)
        return -1;

    struct globals_conf *gc = &g->globals;
    if (gc->hostname == NULL) {
        char host[256] = "localhost";
        gethostname(host, sizeof(host) - 1);
        gc->hostname = ph_strdup(host);
    }
    if (gc->state_dir == NULL)
        gc->state_dir = ph_strdup(PH_LOCALSTATEDIR "/lib/posthorn");
    if (gc->state_dir[0] != '/') {
        char cwd[4096];
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            *error_r = ph_strdup_printf("cannot resolve state_dir: %s",
                                        strerror(errno));
            return -1;
        }
        char *abs = ph_strdup_printf("%s/%s", cwd, gc->state_dir);
        free(gc->state_dir);
        gc->state_dir = abs;
    }
    if (gc->runtime_dir == NULL)
        gc->runtime_dir = ph_strdup_printf("%s/run", gc->state_dir);
    else if (gc->runtime_dir[0] != '/') {
        char *abs = ph_strdup_printf("%s/%s", gc->state_dir, gc->runtime_dir);
        free(gc->runtime_dir);
        gc->runtime_dir = abs;
    }
    if (make_dir(gc->state_dir, error_r) < 0 ||
        make_dir(gc->runtime_dir, error_r) < 0)
        return -1;
    if (resolve_run_as(gc, error_r) < 0)
        return -1;
    ph_globals_set(gc->hostname, gc->state_dir, gc->runtime_dir);
    ph_registry_set_module_dir(gc->module_dir);
    return 0;
}

static const char *graph_log_target(const struct ph_graph *g);

static int define_toplevel(struct ph_graph *g, const struct ph_cfg_node *node,
                           char **error_r)
{
    const struct ph_module_desc *desc;
    char *err = NULL;
    if (ph_registry_find(node->name, &desc, NULL, &err) < 0) {
        if (strchr(node->name, '.') == NULL)
            *error_r = ph_cfg_error(node, "unknown directive \"%s\" at top "
                                    "level: not a global directive, an "
                                    "endpoint or a module instance",
                                    node->name);
        else
            *error_r = ph_cfg_error(node, "%s", err);
        free(err);
        return -1;
    }
    if (desc->kind == PH_MODULE_ENDPOINT) {
        struct ph_instance *inst = instance_new(g, node->name, node->name,
                                                desc, node);
        inst->toplevel = inst->endpoint = inst->referenced = true;
        inst->label = ph_strdup_printf("%s block", node->name);
        inst->inline_args = node->args;
        inst->ninline = node->nargs;
        ph_array_grow(&g->endpoints, &g->endpoints_cap, g->nendpoints + 1,
                      sizeof(*g->endpoints));
        g->endpoints[g->nendpoints++] = inst;
        return 0;
    }
    if (node->nargs == 0) {
        *error_r = ph_cfg_error(node, "%s block needs an instance name: "
                                "%s NAME { ... }", node->name, node->name);
        return -1;
    }
    for (size_t a = 0; a < node->nargs; a++) {
        struct ph_instance *other = find_def(g, node->args[a]);
        if (other != NULL) {
            *error_r = ph_cfg_error(node, "instance name \"%s\" is already "
                                    "used at %s", node->args[a], other->where);
            return -1;
        }
        for (size_t b = 0; b < a; b++)
            if (strcmp(node->args[a], node->args[b]) == 0) {
                *error_r = ph_cfg_error(node, "instance name \"%s\" is given "
                                        "twice", node->args[a]);
                return -1;
            }
    }
    struct ph_instance *inst = instance_new(g, node->args[0], node->name,
                                            desc, node);
    inst->toplevel = true;
    inst->label = ph_strdup_printf("%s block %s", node->name, node->args[0]);
    return 0;
}

int ph_graph_apply_log_target(const struct ph_graph *g, char **error_r)
{
    const char *t = graph_log_target(g);
    const char *err = NULL;
    int r;
    if (strcmp(t, "stderr") == 0)
        r = ph_log_set_target(PH_LOG_TARGET_STDERR, NULL, &err);
    else if (strcmp(t, "syslog") == 0)
        r = ph_log_set_target(PH_LOG_TARGET_SYSLOG, NULL, &err);
    else if (strcmp(t, "off") == 0)
        r = ph_log_set_target(PH_LOG_TARGET_OFF, NULL, &err);
    else {
        char *p = ph_state_path(t);
        r = ph_log_set_target(PH_LOG_TARGET_FILE, p, &err);
        if (r < 0)
            *error_r = ph_strdup_printf("log %s: %s", p, err);
        free(p);
        return r;
    }
    if (r < 0)
        *error_r = ph_strdup_printf("log %s: %s", t, err);
    return r;
}

static int graph_load(const struct ph_cfg_node *root, unsigned flags,
                      struct ph_graph **graph_r, char **error_r)
{
    struct ph_graph *g = ph_calloc(1, sizeof(*g));
    atomic_init(&g->refs, 1);
    g->root = (struct ph_cfg_node *)root;
    g->flags = flags;
    *graph_r = NULL;
    if (load_globals(g, error_r) < 0)
        goto fail;
    if ((flags & PH_GRAPH_APPLY_LOG) && ph_graph_apply_log_target(g, error_r) < 0)
        goto fail;
    for (size_t i = 0; i < root->nchildren; i++) {
        const struct ph_cfg_node *node = &root->children[i];
        if (!is_global(node->name) && define_toplevel(g, node, error_r) < 0)
            goto fail;
    }
    if (!(flags & PH_GRAPH_NO_ENDPOINTS)) {
        for (size_t i = 0; i < g->nendpoints; i++)
            if (instance_create(g->endpoints[i], error_r) < 0)
                goto fail;
    }
    if (!(flags & (PH_GRAPH_LAZY | PH_GRAPH_NO_ENDPOINTS | PH_GRAPH_ALL))) {
        for (size_t i = 0; i < g->nall; i++) {
            struct ph_instance *inst = g->all[i];
            if (inst->toplevel && !inst->referenced) {
                *error_r = ph_cfg_error(inst->node, "unused configuration "
                                        "block %s", inst->name);
                goto fail;
            }
        }
    }
    if ((flags & (PH_GRAPH_NO_ENDPOINTS | PH_GRAPH_ALL)) &&
        !(flags & PH_GRAPH_LAZY)) {
        /* Build every top-level instance, referenced or not. */
        for (size_t i = 0; i < g->nall; i++)
            if (g->all[i]->toplevel && !g->all[i]->endpoint &&
                instance_create(g->all[i], error_r) < 0)
                goto fail;
    }
    ph_log_set_debug(g->globals.debug);
    *graph_r = g;
    return 0;
fail:
    g->root = NULL; /* the caller still owns it */
    ph_graph_unref(&g);
    return -1;
}

int ph_graph_load_file(const char *path, unsigned flags,
                       struct ph_graph **graph_r, char **error_r)
{
    struct ph_cfg_node *root;
    if (ph_cfg_parse_file(path, NULL, &root, error_r) < 0)
        return -1;
    if (graph_load(root, flags, graph_r, error_r) < 0) {
        ph_cfg_free(&root);
        return -1;
    }
    (*graph_r)->flags |= GRAPH_OWNS_ROOT;
    return 0;
}

int ph_graph_load_string(const char *text, unsigned flags,
                         struct ph_graph **graph_r, char **error_r)
{
    struct ph_cfg_node *root;
    if (ph_cfg_parse_buffer(text, strlen(text), "posthorn.conf", NULL, &root,
                            error_r) < 0)
        return -1;
    if (graph_load(root, flags, graph_r, error_r) < 0) {
        ph_cfg_free(&root);
        return -1;
    }
    (*graph_r)->flags |= GRAPH_OWNS_ROOT;
    return 0;
}

struct ph_instance *ph_graph_instance(struct ph_graph *g, const char *name,
                                      char **error_r)
{
    struct ph_instance *inst = find_def(g, name);
    if (inst == NULL) {
        *error_r = ph_strdup_printf("no configuration block named %s", name);
        return NULL;
    }
    inst->referenced = true;
    if (instance_create(inst, error_r) < 0)
        return NULL;
    return inst;
}

static bool cfg_equal(const struct ph_cfg_node *a, const struct ph_cfg_node *b)
{
    if (strcmp(a->name, b->name) != 0 || a->nargs != b->nargs ||
        a->nchildren != b->nchildren || a->has_block != b->has_block)
        return false;
    for (size_t i = 0; i < a->nargs; i++)
        if (strcmp(a->args[i], b->args[i]) != 0)
            return false;
    for (size_t i = 0; i < a->nchildren; i++)
        if (!cfg_equal(&a->children[i], &b->children[i]))
            return false;
    return true;
}

int ph_graph_reload_if_same(struct ph_graph *g, const char *path,
                            char **error_r)
{
    struct ph_cfg_node *root;
    if (ph_cfg_parse_file(path, NULL, &root, error_r) < 0)
        return -1;
    bool same = g->root != NULL && cfg_equal(root, g->root);
    ph_cfg_free(&root);
    if (!same)
        return 0;
    for (size_t i = 0; i < g->ncreated; i++) {
        struct ph_instance *inst = g->created[i];
        char *msg = NULL;
        if (inst->desc->reload == NULL || inst->desc->reload(inst->ctx, &msg) == 0)
            continue;
        char *e = ph_log_escape(msg ? msg : "reload failed");
        ph_log_error("event=instance_reload_failed instance=%s at=%s error=%s",
                     inst->name, inst->where, e);
        free(e);
        free(msg);
    }
    return 1;
}

size_t ph_graph_instance_count(const struct ph_graph *g)
{
    return g->ncreated;
}

struct ph_instance *ph_graph_instance_at(const struct ph_graph *g, size_t i)
{
    return i < g->ncreated ? g->created[i] : NULL;
}

size_t ph_graph_endpoint_count(const struct ph_graph *g)
{
    return g->nendpoints;
}

struct ph_instance *ph_graph_endpoint(const struct ph_graph *g, size_t i)
{
    return i < g->nendpoints ? g->endpoints[i] : NULL;
}

/* The global `log` target as written: stderr, syslog, off or a path. */
static const char *graph_log_target(const struct ph_graph *g)
{
    return g->globals.log.n ? g->globals.log.v[0] : "stderr";
}

void ph_graph_ref(struct ph_graph *g)
{
    atomic_fetch_add(&g->refs, 1);
}

void ph_graph_unref(struct ph_graph **gp)
{
    struct ph_graph *g = *gp;
    *gp = NULL;
    if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    /* Dependents were created after what they use: destroy backwards. */
    for (size_t i = g->ncreated; i-- > 0;) {
        struct ph_instance *inst = g->created[i];
        if (inst->desc->destroy)
            inst->desc->destroy(inst->ctx);
        inst->ctx = NULL;
    }
    for (size_t i = 0; i < g->nall; i++) {
        struct ph_instance *inst = g->all[i];
        const struct ph_directive *rows =
            inst->rows != NULL ? inst->rows : inst->desc->directives;
        if (inst->conf && rows)
            ph_conf_release(rows, inst->conf);
        free(inst->conf);
        free(inst->rows);
        if (inst->wrapper) {
            free(inst->wrapper->children);
            free(inst->wrapper);
        }
        free(inst->name);
        free(inst->module);
        free(inst->where);
        free(inst->label);
        free(inst);
    }
    ph_conf_release(global_directives, &g->globals);
    free(g->all);
    free(g->created);
    free(g->endpoints);
    if (g->flags & GRAPH_OWNS_ROOT)
        ph_cfg_free(&g->root);
    free(g);
}
