/* SPDX-License-Identifier: MIT */
/* table.static: a fixed map written in the config.
 *
 *   table.static aliases {
 *       entry postmaster admin
 *       entry team alice bob
 *   }
 *
 * An entry with several values answers all of them, in order. A key may
 * appear once. The map never changes after create, so lookups need no lock. */
#include <stdlib.h>
#include <string.h>

#include <posthorn/table-impl.h>

struct static_conf {
    struct ph_entries entries;
};

struct static_entry {
    const char *key;               /* entry's v[0], owned by the conf */
    const struct ph_strlist *line; /* v[1..] are the values */
};

struct static_ctx {
    struct static_entry *entries; /* sorted by key */
    size_t n;
};

static const struct ph_directive static_directives[] = {
    {
        .name = "entry",
        .type = PH_DT_ENTRIES,
        .offset = offsetof(struct static_conf, entries),
        .min_args = 2,
        .max_args = -1,
        .help = "entry KEY VALUE...",
    },
    {.name = NULL},
};

static int entry_cmp(const void *a, const void *b)
{
    const struct static_entry *x = a, *y = b;
    return strcmp(x->key, y->key);
}

/* Names the key and, from the block, the lines that repeat it. */
static char *duplicate_error(const struct ph_cfg_node *node, const char *key)
{
    struct ph_buf b = {0};
    ph_buf_printf(&b, "duplicate entry key \"%s\"", key);
    const char *sep = " (lines ";
    for (size_t c = 0; node != NULL && c < node->nchildren; c++) {
        const struct ph_cfg_node *e = &node->children[c];
        if (strcmp(e->name, "entry") == 0 && e->nargs > 0 &&
            strcmp(e->args[0], key) == 0) {
            ph_buf_printf(&b, "%s%d", sep, e->line);
            sep = ", ";
        }
    }
    if (strcmp(sep, ", ") == 0)
        ph_buf_putc(&b, ')');
    return ph_buf_steal(&b);
}

static int static_create(struct ph_instance *inst, void *conf_p, void **ctx_r,
                         char **error_r)
{
    const struct static_conf *conf = conf_p;
    struct static_ctx *ctx = ph_calloc(1, sizeof(*ctx));

    ctx->entries = ph_calloc(conf->entries.n, sizeof(*ctx->entries));
    for (size_t i = 0; i < conf->entries.n; i++) {
        const struct ph_strlist *line = &conf->entries.v[i];
        ph_assert(line->n >= 2);
        ctx->entries[ctx->n++] =
            (struct static_entry){.key = line->v[0], .line = line};
    }
    qsort(ctx->entries, ctx->n, sizeof(*ctx->entries), entry_cmp);
    for (size_t i = 1; i < ctx->n; i++) {
        if (strcmp(ctx->entries[i - 1].key, ctx->entries[i].key) == 0) {
            *error_r =
                duplicate_error(ph_instance_node(inst), ctx->entries[i].key);
            free(ctx->entries);
            free(ctx);
            return -1;
        }
    }
    *ctx_r = ctx;
    return 0;
}

static void static_destroy(void *ctx_p)
{
    struct static_ctx *ctx = ctx_p;
    free(ctx->entries);
    free(ctx);
}

static enum ph_lookup static_lookup(void *ctx_p, const char *key,
                                    struct ph_strlist *values_r,
                                    const char **error_r)
{
    const struct static_ctx *ctx = ctx_p;
    const struct static_entry probe = {.key = key};
    const struct static_entry *e =
        bsearch(&probe, ctx->entries, ctx->n, sizeof(*e), entry_cmp);

    if (e == NULL)
        return PH_LOOKUP_NOT_FOUND;
    for (size_t i = 1; i < e->line->n; i++)
        ph_strlist_add(values_r, e->line->v[i]);
    return PH_LOOKUP_FOUND;
}

static int static_keys(void *ctx_p, struct ph_strlist *keys_r,
                       const char **error_r)
{
    const struct static_ctx *ctx = ctx_p;
    for (size_t i = 0; i < ctx->n; i++)
        ph_strlist_add(keys_r, ctx->entries[i].key);
    return 0;
}

static const struct ph_table_vfuncs static_vfuncs = {
    .lookup = static_lookup,
    .keys = static_keys,
};

PH_MODULE(.names = (const char *const[]){"table.static", NULL},
          .kind = PH_MODULE_TABLE,
          .description = "a fixed key -> values map written in the config",
          .directives = static_directives,
          .conf_size = sizeof(struct static_conf), .create = static_create,
          .destroy = static_destroy, .iface = &static_vfuncs);
