/* SPDX-License-Identifier: MIT */
/* posthorn SDK: the module contract.
 *
 * Every module file (.so) exports exactly one descriptor under the symbol
 * `posthorn_module`, written with PH_MODULE(...):
 *
 *   PH_MODULE(
 *       .names = (const char *const[]){"table.static", NULL},
 *       .kind = PH_MODULE_TABLE,
 *       .directives = static_directives,
 *       .conf_size = sizeof(struct static_conf),
 *       .create = static_create,
 *       .destroy = static_destroy,
 *       .iface = &static_vfuncs,
 *   );
 *
 * The core reads the module's block against its directive table, fills a
 * zeroed conf struct of conf_size bytes (defaults first), and hands it to
 * create(). The module never parses its block by hand. */
#ifndef POSTHORN_MODULE_H
#define POSTHORN_MODULE_H

#include <posthorn/common.h>
#include <posthorn/config.h>

enum ph_module_kind {
    PH_MODULE_ENDPOINT = 1,
    PH_MODULE_AUTH = 2,
    PH_MODULE_STORAGE = 3,
    PH_MODULE_TABLE = 4,
};

/* "endpoint", "auth", "storage", "table". */
const char *ph_module_kind_name(enum ph_module_kind kind);

/* Directive value types and the C type each one fills at `offset`. */
enum ph_dtype {
    PH_DT_BOOL = 1, /* bool: yes/no/true/false/on/off; no argument = yes */
    PH_DT_INT,      /* int64_t, within [min, max] when max > min */
    PH_DT_SIZE,     /* uint64_t bytes: 4096, 32K, 32M, 1G */
    PH_DT_DURATION, /* int64_t milliseconds: 500ms, 30s, 1h 30m */
    PH_DT_STRING,   /* char * (owned by the conf) */
    PH_DT_ENUM,     /* int: index into values[] */
    PH_DT_LIST,     /* struct ph_strlist: all arguments; with PH_DF_REPEAT
                       the arguments of every occurrence, appended */
    PH_DT_ENTRIES,  /* struct ph_entries: one argument list per occurrence
                       (`entry KEY VALUE...` lines); implies PH_DF_REPEAT */
    PH_DT_MODULE,   /* struct ph_instance *, or struct ph_instance_list with
                       PH_DF_REPEAT: `&name` or an inline definition */
    PH_DT_BLOCK,    /* const struct ph_cfg_node *: the directive itself, for
                       the module to read with ph_conf_apply() */
    PH_DT_CUSTOM,   /* parsed by the directive's parse callback */
};

#define PH_DF_REQUIRED 0x01 /* missing directive is an error */
#define PH_DF_REPEAT 0x02   /* may appear more than once */
#define PH_DF_INHERIT 0x04  /* absent here: take the global directive */
#define PH_DF_HIDDEN 0x08   /* set only through inline arguments */

struct ph_conf_ctx;
struct ph_instance;

struct ph_directive {
    const char *name;
    enum ph_dtype type;
    unsigned flags;
    size_t offset; /* of the field in the module's conf struct */
    const char *def; /* default, as it would be written in the config */
    int min_args, max_args; /* LIST/ENTRIES/CUSTOM; max_args < 0: no limit */
    int64_t min, max;       /* INT range, used when max > min */
    const char *const *values; /* ENUM: NULL-terminated accepted words */
    enum ph_module_kind kind;  /* MODULE: the kind the slot accepts */
    const char *prefix; /* MODULE: namespace tried first ("table" makes
                           `storage_map email_localpart` mean
                           table.email_localpart) */
    /* CUSTOM: parse node into field; return -1 with a message (without
     * file:line, the core adds it) on error. */
    int (*parse)(const struct ph_cfg_node *node, void *field,
                 struct ph_conf_ctx *ctx, char **error_r);
    void (*free)(void *field); /* CUSTOM: release what parse stored */
    const char *help;
};

struct ph_entries {
    struct ph_strlist *v;
    size_t n;
};

struct ph_instance_list {
    struct ph_instance **v;
    size_t n;
};

struct ph_module_desc {
    uint32_t abi_major; /* must equal the core's PH_ABI_MAJOR */
    uint32_t abi_minor; /* the core's PH_ABI_MINOR must be >= this */
    uint32_t size;      /* sizeof(struct ph_module_desc) when built */
    const char *const *names; /* NULL-terminated: "auth.pam", ... */
    enum ph_module_kind kind;
    const char *description; /* one line for `posthorn modules` */
    const struct ph_directive *directives; /* ends with {.name = NULL} */
    size_t conf_size;
    /* The directive that receives an inline definition's arguments:
     * `table.file /etc/x` is read as `file /etc/x`. When that directive is
     * a MODULE slot, the inline block goes to it as well, so
     * `auth pass_table static { entry u h }` configures the table. NULL:
     * the module takes no inline arguments. */
    const char *inline_directive;

    /* Builds an instance from a filled conf (which stays valid until
     * destroy). Returns 0, or -1 with a malloc'ed message. */
    int (*create)(struct ph_instance *inst, void *conf, void **ctx_r,
                  char **error_r);
    void (*destroy)(void *ctx);
    /* Optional: re-reads external state (certificates, files). SIGHUP
     * rebuilds the graph when the configuration changed; when it did not,
     * the running graph is kept and reload() is called on each instance. */
    int (*reload)(void *ctx, char **error_r);
    const void *iface; /* the kind's vtable: struct ph_table_vfuncs, ... */
};

#define PH_MODULE_SYMBOL "posthorn_module"

#define PH_MODULE(...)                                                         \
    PH_EXPORT extern const struct ph_module_desc posthorn_module;              \
    const struct ph_module_desc posthorn_module = {                            \
        .abi_major = PH_ABI_MAJOR,                                             \
        .abi_minor = PH_ABI_MINOR,                                             \
        .size = sizeof(struct ph_module_desc),                                 \
        __VA_ARGS__}

/* Instances: what a module sees of itself and of the instances it uses. */
const char *ph_instance_name(const struct ph_instance *inst);
/* The module name it was created as: "table.email_localpart_optional". */
const char *ph_instance_module(const struct ph_instance *inst);
enum ph_module_kind ph_instance_kind(const struct ph_instance *inst);
void *ph_instance_ctx(const struct ph_instance *inst);
const void *ph_instance_iface(const struct ph_instance *inst);
/* The ABI minor the instance's module was built for (its descriptor's
 * abi_minor): the core reads a vtable slot or struct field added in minor
 * M only from modules built for M or later. (ABI 1.1) */
uint32_t ph_instance_abi_minor(const struct ph_instance *inst);
/* Where the instance was defined, for log lines: "FILE:LINE". */
const char *ph_instance_where(const struct ph_instance *inst);
/* The directive that defined the instance (its block holds the module's
 * directives in config order). */
const struct ph_cfg_node *ph_instance_node(const struct ph_instance *inst);

/* Sessions hold a reference to the graph their instances belong to, so a
 * reload can swap graphs under them; the last unref destroys the graph. */
struct ph_graph;
struct ph_graph *ph_instance_graph(struct ph_instance *inst);
void ph_graph_ref(struct ph_graph *g);
void ph_graph_unref(struct ph_graph **g);

/* Global settings every module may consult. */
const char *ph_global_hostname(void);
const char *ph_global_state_dir(void);
const char *ph_global_runtime_dir(void);
/* Resolves a relative path against state_dir (malloc'ed result). */
char *ph_state_path(const char *path);

/* Reads a nested block against a sub-table into a struct (for PH_DT_BLOCK
 * directives). Errors carry file:line. Call ph_conf_release() on the struct
 * when done. */
int ph_conf_apply(const struct ph_cfg_node *block,
                  const struct ph_directive *table, void *conf,
                  struct ph_conf_ctx *ctx, char **error_r) PH_WUR;
void ph_conf_release(const struct ph_directive *table, void *conf);

/* Value parsers shared by the core and CUSTOM directives. Each returns 0 or
 * -1 with a static message naming what was expected. */
int ph_parse_bool(const char *s, bool *out_r, const char **error_r) PH_WUR;
int ph_parse_int(const char *s, int64_t *out_r, const char **error_r) PH_WUR;
int ph_parse_size(const char *s, uint64_t *out_r, const char **error_r) PH_WUR;
/* Several arguments are summed: "1h" "30m". */
int ph_parse_duration(char *const *args, size_t nargs, int64_t *ms_r,
                      const char **error_r) PH_WUR;

#endif
