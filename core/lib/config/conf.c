/* SPDX-License-Identifier: MIT */
/* The directive engine: reads a block against a module's directive table.
 * Modules declare directives as data; every "unknown directive", argument
 * count and value error is written here, once, with file:line. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/config.h>
#include <posthorn/module.h>

#include "conf-private.h"

int ph_parse_bool(const char *s, bool *out_r, const char **error_r)
{
    static const char *const yes[] = {"yes", "true", "on"};
    static const char *const no[] = {"no", "false", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out_r = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out_r = false;
            return 0;
        }
    }
    *error_r = "expected yes or no";
    return -1;
}

int ph_parse_int(const char *s, int64_t *out_r, const char **error_r)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || isspace((unsigned char)*s)) {
        *error_r = "expected an integer";
        return -1;
    }
    if (errno == ERANGE) {
        *error_r = "integer out of range";
        return -1;
    }
    *out_r = v;
    return 0;
}

int ph_parse_size(const char *s, uint64_t *out_r, const char **error_r)
{
    *error_r = "expected a size like 4096, 512K, 32M or 1G";
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -1;
    unsigned shift = 0;
    if (*end != '\0') {
        switch (toupper((unsigned char)*end)) {
        case 'B': shift = 0; break;
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        case 'T': shift = 40; break;
        default: return -1;
        }
        end++;
        /* Accept "32M", "32MB", "32MiB" alike. */
        if (shift > 0 && (strcasecmp(end, "b") == 0 || strcasecmp(end, "ib") == 0))
            end += strlen(end);
        if (*end != '\0')
            return -1;
    }
    if (shift > 0 && v > (UINT64_MAX >> shift)) {
        *error_r = "size out of range";
        return -1;
    }
    *out_r = (uint64_t)v << shift;
    return 0;
}

/* One duration word: "90s", "1h", "500ms", "1h30m". */
static int parse_duration_word(const char *s, int64_t *ms_r, const char **error_r)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    *error_r = "expected a duration like 500ms, 30s, 5m or 1h 30m";
    int64_t total = 0;
    const char *p = s;
    if (*p == '\0')
        return -1;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno == ERANGE)
            return -1;
        size_t ulen = 0;
        while (isalpha((unsigned char)end[ulen]))
            ulen++;
        int64_t mul = -1;
        for (size_t i = 0; i < PH_N_ELEMENTS(units); i++)
            if (strlen(units[i].unit) == ulen &&
                strncmp(end, units[i].unit, ulen) == 0)
                mul = units[i].ms;
        if (mul < 0 || v > INT64_MAX / mul || total > INT64_MAX - v * mul) {
            if (mul >= 0)
                *error_r = "duration out of range";
            return -1;
        }
        total += v * mul;
        p = end + ulen;
    }
    *ms_r = total;
    return 0;
}

int ph_parse_duration(char *const *args, size_t nargs, int64_t *ms_r,
                      const char **error_r)
{
    int64_t total = 0;
    if (nargs == 0) {
        *error_r = "expected a duration like 500ms, 30s, 5m or 1h 30m";
        return -1;
    }
    for (size_t i = 0; i < nargs; i++) {
        int64_t v;
        if (parse_duration_word(args[i], &v, error_r) < 0)
            return -1;
        if (total > INT64_MAX - v) {
            *error_r = "duration out of range";
            return -1;
        }
        total += v;
    }
    *ms_r = total;
    return 0;
}

const char *ph_module_kind_name(enum ph_module_kind kind)
{
    switch (kind) {
    case PH_MODULE_ENDPOINT: return "endpoint";
    case PH_MODULE_AUTH: return "auth";
    case PH_MODULE_STORAGE: return "storage";
    case PH_MODULE_TABLE: return "table";
    }
    return "unknown";
}

static const char *plural(long n)
{
    return n == 1 ? "" : "s";
}

/* Argument count limits per type: min and max (-1: no limit). */
static void arg_limits(const struct ph_directive *d, int *min_r, int *max_r)
{
    switch (d->type) {
    case PH_DT_BOOL: *min_r = 0; *max_r = 1; return;
    case PH_DT_INT:
    case PH_DT_SIZE:
    case PH_DT_STRING:
    case PH_DT_ENUM: *min_r = 1; *max_r = 1; return;
    case PH_DT_DURATION:
    case PH_DT_MODULE: *min_r = 1; *max_r = -1; return;
    case PH_DT_BLOCK: *min_r = 0; *max_r = -1; break;
    case PH_DT_LIST:
    case PH_DT_ENTRIES:
    case PH_DT_CUSTOM: *min_r = 1; *max_r = -1; break;
    }
    if (d->min_args != 0 || d->max_args != 0) {
        *min_r = d->min_args;
        *max_r = d->max_args;
    }
}

static char *count_error(const struct ph_cfg_node *node, const char *where,
                         int min, int max)
{
    char want[64];
    if (min == max)
        snprintf(want, sizeof(want), "%d argument%s", min, plural(min));
    else if (max < 0)
        snprintf(want, sizeof(want), "at least %d argument%s", min, plural(min));
    else
        snprintf(want, sizeof(want), "%d to %d arguments", min, max);
    return ph_cfg_error(node, "directive \"%s\" in %s takes %s, got %zu",
                        node->name, where, want, node->nargs);
}

static void release_field(const struct ph_directive *d, void *conf)
{
    void *field = (char *)conf + d->offset;
    switch (d->type) {
    case PH_DT_STRING: {
        char **s = field;
        free(*s);
        *s = NULL;
        break;
    }
    case PH_DT_LIST:
        ph_strlist_clear(field);
        break;
    case PH_DT_ENTRIES: {
        struct ph_entries *e = field;
        for (size_t i = 0; i < e->n; i++)
            ph_strlist_clear(&e->v[i]);
        free(e->v);
        e->v = NULL;
        e->n = 0;
        break;
    }
    case PH_DT_MODULE:
        if (d->flags & PH_DF_REPEAT) {
            struct ph_instance_list *l = field;
            free(l->v);
            l->v = NULL;
            l->n = 0;
        } else {
            /* Instances belong to the graph. */
            *(struct ph_instance **)field = NULL;
        }
        break;
    case PH_DT_CUSTOM:
        if (d->free)
            d->free(field);
        break;
    default:
        break;
    }
}

/* Applies one directive node to its field. */
static int apply_one(const struct ph_directive *d, const struct ph_cfg_node *node,
                     void *conf, struct ph_conf_ctx *ctx, char **error_r)
{
    void *field = (char *)conf + d->offset;
    const char *verr = NULL;
    int min = 0, max = -1;
    arg_limits(d, &min, &max);
    if ((int)node->nargs < min || (max >= 0 && (int)node->nargs > max)) {
        *error_r = count_error(node, ctx->where, min, max);
        return -1;
    }
    if (node->has_block && d->type != PH_DT_MODULE && d->type != PH_DT_BLOCK &&
        d->type != PH_DT_CUSTOM) {
        *error_r = ph_cfg_error(node, "directive \"%s\" in %s takes no block",
                                node->name, ctx->where);
        return -1;
    }
    switch (d->type) {
    case PH_DT_BOOL:
        if (node->nargs == 0)
            *(bool *)field = true;
        else if (ph_parse_bool(node->args[0], field, &verr) < 0)
            goto bad_value;
        return 0;
    case PH_DT_INT: {
        int64_t v;
        if (ph_parse_int(node->args[0], &v, &verr) < 0)
            goto bad_value;
        if (d->max > d->min && (v < d->min || v > d->max)) {
            *error_r = ph_cfg_error(node,
                                    "bad value \"%s\" for \"%s\" in %s: "
                                    "expected an integer from %" PRId64
                                    " to %" PRId64,
                                    node->args[0], d->name, ctx->where, d->min,
                                    d->max);
            return -1;
        }
        *(int64_t *)field = v;
        return 0;
    }
    case PH_DT_SIZE:
        if (ph_parse_size(node->args[0], field, &verr) < 0)
            goto bad_value;
        return 0;
    case PH_DT_DURATION:
        if (ph_parse_duration(node->args, node->nargs, field, &verr) < 0)
            goto bad_value;
        return 0;
    case PH_DT_STRING:
        free(*(char **)field);
        *(char **)field = ph_strdup(node->args[0]);
        return 0;
    case PH_DT_ENUM: {
        for (int i = 0; d->values && d->values[i]; i++) {
            if (strcmp(d->values[i], node->args[0]) == 0) {
                *(int *)field = i;
                return 0;
            }
        }
        struct ph_buf b = {0};
        for (int i = 0; d->values && d->values[i]; i++)
            ph_buf_printf(&b, "%s%s", i ? ", " : "", d->values[i]);
        *error_r = ph_cfg_error(node,
                                "bad value \"%s\" for \"%s\" in %s: expected "
                                "one of %s",
                                node->args[0], d->name, ctx->where,
                                b.data ? b.data : "");
        ph_buf_free(&b);
        return -1;
    }
    case PH_DT_LIST: {
        struct ph_strlist *l = field;
        if (!(d->flags & PH_DF_REPEAT))
            ph_strlist_clear(l);
        for (size_t i = 0; i < node->nargs; i++)
            ph_strlist_add(l, node->args[i]);
        return 0;
    }
    case PH_DT_ENTRIES: {
        struct ph_entries *e = field;
        e->v = ph_realloc(e->v, (e->n + 1) * sizeof(*e->v));
        struct ph_strlist *l = &e->v[e->n++];
        memset(l, 0, sizeof(*l));
        for (size_t i = 0; i < node->nargs; i++)
            ph_strlist_add(l, node->args[i]);
        return 0;
    }
    case PH_DT_MODULE: {
        struct ph_instance *inst;
        if (ctx->resolve == NULL) {
            *error_r = ph_cfg_error(node, "%s: module references are not "
                                    "allowed here", node->name);
            return -1;
        }
        if (ctx->resolve(ctx, node, d, &inst, error_r) < 0)
            return -1;
        if (d->flags & PH_DF_REPEAT) {
            struct ph_instance_list *l = field;
            l->v = ph_realloc(l->v, (l->n + 1) * sizeof(*l->v));
            l->v[l->n++] = inst;
        } else {
            *(struct ph_instance **)field = inst;
        }
        return 0;
    }
    case PH_DT_BLOCK:
        *(const struct ph_cfg_node **)field = node;
        return 0;
    case PH_DT_CUSTOM: {
        char *msg = NULL;
        if (d->parse(node, field, ctx, &msg) < 0) {
            *error_r = ph_cfg_error(node, "%s in %s: %s", d->name, ctx->where,
                                    msg ? msg : "invalid");
            free(msg);
            return -1;
        }
        return 0;
    }
    }
    *error_r = ph_cfg_error(node, "directive \"%s\" has an unknown type",
                            d->name);
    return -1;

bad_value:
    *error_r = ph_cfg_error(node, "bad value \"%s\" for \"%s\" in %s: %s",
                            node->nargs ? node->args[0] : "", d->name,
                            ctx->where, verr);
    return -1;
}

static struct ph_cfg_node *node_from_text(const char *name, const char *text,
                                          const struct ph_cfg_node *owner)
{
    struct ph_cfg_node *n = ph_calloc(1, sizeof(*n));
    n->name = ph_strdup(name);
    n->file = owner ? owner->file : "(default)";
    n->line = owner ? owner->line : 0;
    char *copy = ph_strdup(text), *save = NULL;
    struct ph_strlist args = {0};
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
        ph_strlist_add(&args, t);
    free(copy);
    n->args = args.v ? args.v : ph_calloc(1, sizeof(char *));
    n->nargs = args.n;
    return n;
}

static void free_default_node(struct ph_cfg_node *n)
{
    for (size_t i = 0; i < n->nargs; i++)
        free(n->args[i]);
    free(n->args);
    free(n->name);
    free(n);
}

int ph_conf_apply(const struct ph_cfg_node *block,
                  const struct ph_directive *table, void *conf,
                  struct ph_conf_ctx *ctx, char **error_r)
{
    size_t nd = 0;
    while (table[nd].name)
        nd++;
    const struct ph_cfg_node **seen = ph_calloc(nd + 1, sizeof(*seen));
    int ret = -1;

    for (size_t c = 0; block && c < block->nchildren; c++) {
        const struct ph_cfg_node *node = &block->children[c];
        size_t i;
        for (i = 0; i < nd; i++)
            if (strcmp(table[i].name, node->name) == 0 &&
                (!(table[i].flags & PH_DF_HIDDEN) || node == ctx->inline_node))
                break;
        if (i == nd) {
            *error_r = ph_cfg_error(node, "unknown directive \"%s\" in %s",
                                    node->name, ctx->where);
            goto out;
        }
        bool repeat = table[i].flags & PH_DF_REPEAT ||
                      table[i].type == PH_DT_ENTRIES;
        if (seen[i] != NULL && !repeat) {
            *error_r = ph_cfg_error(node,
                                    "duplicate directive \"%s\" in %s (first "
                                    "at %s:%d)",
                                    node->name, ctx->where, seen[i]->file,
                                    seen[i]->line);
            goto out;
        }
        if (apply_one(&table[i], node, conf, ctx, error_r) < 0)
            goto out;
        if (seen[i] == NULL)
            seen[i] = node;
    }
    /* What the block did not say: the global (when inherited), else the
     * default as if written in the config, else an error when required. */
    for (size_t i = 0; i < nd; i++) {
        if (seen[i] != NULL)
            continue;
        if ((table[i].flags & PH_DF_INHERIT) && ctx->globals) {
            const struct ph_cfg_node *g = ph_cfg_child(ctx->globals, table[i].name);
            if (g != NULL) {
                if (apply_one(&table[i], g, conf, ctx, error_r) < 0)
                    goto out;
                continue;
            }
        }
        if (table[i].def != NULL) {
            struct ph_cfg_node *n =
                node_from_text(table[i].name, table[i].def, block);
            int r = apply_one(&table[i], n, conf, ctx, error_r);
            free_default_node(n);
            if (r < 0)
                goto out;
            continue;
        }
        if (table[i].flags & PH_DF_REQUIRED) {
            *error_r = block ? ph_cfg_error(block,
                                            "missing required directive "
                                            "\"%s\" in %s",
                                            table[i].name, ctx->where)
                             : ph_strdup_printf("missing required directive "
                                                "\"%s\" in %s",
                                                table[i].name, ctx->where);
            goto out;
        }
    }
    ret = 0;
out:
    free(seen);
    return ret;
}

void ph_conf_release(const struct ph_directive *table, void *conf)
{
    if (conf == NULL)
        return;
    for (size_t i = 0; table[i].name; i++)
        release_field(&table[i], conf);
}
