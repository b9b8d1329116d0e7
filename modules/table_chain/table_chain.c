/* SPDX-License-Identifier: MIT */
/* table.chain: feeds a key through several tables in turn.
 *
 *   table.chain local_users {
 *       optional_step regexp "([^+]+)[+].*@(.+)" "$1@$2"
 *       step email_localpart
 *       step &users
 *   }
 *
 * Every value a step answers is a key for the next step (fan-out, with
 * duplicates dropped and at most CHAIN_MAX_VALUES values in flight). A key
 * that a step does not find drops out of the chain; an optional_step passes
 * it on unchanged instead. The chain answers not found when no key is left,
 * and a temporary failure of any step is the chain's. Steps run in the order
 * the block lists them, step and optional_step lines mixed. */
#include <stdlib.h>
#include <string.h>

#include <posthorn/table-impl.h>

#define CHAIN_MAX_VALUES 100
#define CHAIN_TOO_MANY "table.chain: a key fans out to more than 100 values"

struct chain_conf {
    struct ph_instance_list steps;
    struct ph_instance_list optional_steps;
};

struct chain_step {
    struct ph_instance *table;
    bool optional;
};

struct chain_ctx {
    struct chain_step *steps;
    size_t n;
};

static const struct ph_directive chain_directives[] = {
    {
        .name = "step",
        .type = PH_DT_MODULE,
        .flags = PH_DF_REPEAT,
        .offset = offsetof(struct chain_conf, steps),
        .kind = PH_MODULE_TABLE,
        .prefix = "table",
        .help = "step TABLE: a key it does not find leaves the chain",
    },
    {
        .name = "optional_step",
        .type = PH_DT_MODULE,
        .flags = PH_DF_REPEAT,
        .offset = offsetof(struct chain_conf, optional_steps),
        .kind = PH_MODULE_TABLE,
        .prefix = "table",
        .help = "optional_step TABLE: a key it does not find passes on",
    },
    {.name = NULL},
};

static int chain_create(struct ph_instance *inst, void *conf_p, void **ctx_r,
                        char **error_r)
{
    const struct chain_conf *conf = conf_p;
    const struct ph_cfg_node *node = ph_instance_node(inst);
    size_t total = conf->steps.n + conf->optional_steps.n;

    if (total == 0) {
        *error_r = ph_strdup("needs at least one step or optional_step");
        return -1;
    }

    /* The core fills the two lists in config order; the block tells how
     * they interleave. */
    struct chain_ctx *ctx = ph_calloc(1, sizeof(*ctx));
    ctx->steps = ph_calloc(total, sizeof(*ctx->steps));
    size_t si = 0, oi = 0;
    for (size_t c = 0; node != NULL && c < node->nchildren; c++) {
        const char *name = node->children[c].name;
        if (strcmp(name, "step") == 0 && si < conf->steps.n)
            ctx->steps[ctx->n++] =
                (struct chain_step){.table = conf->steps.v[si++]};
        else if (strcmp(name, "optional_step") == 0 &&
                 oi < conf->optional_steps.n)
            ctx->steps[ctx->n++] = (struct chain_step){
                .table = conf->optional_steps.v[oi++], .optional = true};
    }
    ph_assert(si == conf->steps.n && oi == conf->optional_steps.n);
    *ctx_r = ctx;
    return 0;
}

static void chain_destroy(void *ctx_p)
{
    struct chain_ctx *ctx = ctx_p;
    free(ctx->steps);
    free(ctx);
}

/* Adds v (owned) to l unless it is there; false when l is full. */
static bool keys_add(struct ph_strlist *l, char *v)
{
    if (ph_strlist_contains(l, v)) {
        free(v);
        return true;
    }
    if (l->n >= CHAIN_MAX_VALUES) {
        free(v);
        return false;
    }
    ph_strlist_add_owned(l, v);
    return true;
}

static enum ph_lookup chain_lookup(void *ctx_p, const char *key,
                                   struct ph_strlist *values_r,
                                   const char **error_r)
{
    const struct chain_ctx *ctx = ctx_p;
    struct ph_strlist keys = {0}, next = {0};
    enum ph_lookup ret = PH_LOOKUP_NOT_FOUND;

    ph_strlist_add(&keys, key);
    for (size_t s = 0; s < ctx->n; s++) {
        const struct chain_step *step = &ctx->steps[s];
        for (size_t k = 0; k < keys.n; k++) {
            struct ph_strlist found = {0};
            enum ph_lookup r =
                ph_table_lookup(step->table, keys.v[k], &found, error_r);
            if (r == PH_LOOKUP_TEMPFAIL) {
                ph_strlist_clear(&found);
                ret = PH_LOOKUP_TEMPFAIL;
                goto out;
            }
            if (r == PH_LOOKUP_NOT_FOUND && step->optional)
                ph_strlist_add(&found, keys.v[k]);
            bool fits = true;
            /* Taken over one by one, so found keeps nothing to free twice. */
            for (size_t v = 0; v < found.n; v++) {
                if (fits)
                    fits = keys_add(&next, found.v[v]);
                else
                    free(found.v[v]);
            }
            found.n = 0;
            ph_strlist_clear(&found);
            if (!fits) {
                *error_r = CHAIN_TOO_MANY;
                ret = PH_LOOKUP_TEMPFAIL;
                goto out;
            }
        }
        ph_strlist_clear(&keys);
        keys = next;
        next = (struct ph_strlist){0};
        if (keys.n == 0)
            goto out;
    }
    for (size_t k = 0; k < keys.n; k++)
        ph_strlist_add(values_r, keys.v[k]);
    ret = PH_LOOKUP_FOUND;
out:
    ph_strlist_clear(&keys);
    ph_strlist_clear(&next);
    return ret;
}

static const struct ph_table_vfuncs chain_vfuncs = {
    .lookup = chain_lookup,
};

PH_MODULE(.names = (const char *const[]){"table.chain", NULL},
          .kind = PH_MODULE_TABLE,
          .description = "passes a key through several tables in turn",
          .directives = chain_directives,
          .conf_size = sizeof(struct chain_conf), .create = chain_create,
          .destroy = chain_destroy, .iface = &chain_vfuncs);
