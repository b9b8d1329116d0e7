/* SPDX-License-Identifier: MIT */
/* The address-splitting tables, one file for three names:
 *
 *   table.email_localpart           user@example.org -> user; no '@': not found
 *   table.email_localpart_optional  the same, but a key without '@' is
 *                                   returned as it is
 *   table.email_with_domain D...    user -> user@D for every domain given, in
 *                                   order; a key that has an '@': not found
 *
 * The address is split at its last '@', so a quoted local part that holds an
 * '@' ("a@b"@example.org) stays whole. An empty local part or domain
 * (@example.org, user@) is not an address, and the empty key is no name:
 * both are not found. */
#include <stdlib.h>
#include <string.h>

#include <posthorn/table-impl.h>

enum localpart_mode {
    MODE_LOCALPART,
    MODE_LOCALPART_OPTIONAL,
    MODE_WITH_DOMAIN,
};

struct localpart_conf {
    struct ph_strlist domains;
};

struct localpart_ctx {
    enum localpart_mode mode;
    const struct ph_strlist *domains; /* in the conf, valid until destroy */
};

static const struct ph_directive localpart_directives[] = {
    {
        .name = "domains",
        .type = PH_DT_LIST,
        .flags = PH_DF_REPEAT,
        .offset = offsetof(struct localpart_conf, domains),
        .min_args = 1,
        .max_args = -1,
        .help = "table.email_with_domain: the domains to append",
    },
    {.name = NULL},
};

static int localpart_create(struct ph_instance *inst, void *conf_p,
                            void **ctx_r, char **error_r)
{
    const struct localpart_conf *conf = conf_p;
    const char *module = ph_instance_module(inst);
    enum localpart_mode mode;

    if (strcmp(module, "table.email_with_domain") == 0)
        mode = MODE_WITH_DOMAIN;
    else if (strcmp(module, "table.email_localpart_optional") == 0)
        mode = MODE_LOCALPART_OPTIONAL;
    else
        mode = MODE_LOCALPART;

    if (mode != MODE_WITH_DOMAIN && conf->domains.n > 0) {
        *error_r = ph_strdup("takes no arguments (only "
                             "table.email_with_domain takes domains)");
        return -1;
    }
    if (mode == MODE_WITH_DOMAIN) {
        if (conf->domains.n == 0) {
            *error_r = ph_strdup("needs at least one domain");
            return -1;
        }
        for (size_t i = 0; i < conf->domains.n; i++) {
            const char *d = conf->domains.v[i];
            if (*d == '\0' || strpbrk(d, "@ \t\r\n") != NULL) {
                *error_r = ph_strdup_printf("invalid domain \"%s\"", d);
                return -1;
            }
        }
    }

    struct localpart_ctx *ctx = ph_calloc(1, sizeof(*ctx));
    ctx->mode = mode;
    ctx->domains = &conf->domains;
    *ctx_r = ctx;
    return 0;
}

static void localpart_destroy(void *ctx)
{
    free(ctx);
}

static enum ph_lookup localpart_lookup(void *ctx_p, const char *key,
                                       struct ph_strlist *values_r,
                                       const char **error_r)
{
    const struct localpart_ctx *ctx = ctx_p;
    const char *at = strrchr(key, '@');

    if (ctx->mode == MODE_WITH_DOMAIN) {
        if (at != NULL || *key == '\0')
            return PH_LOOKUP_NOT_FOUND;
        for (size_t i = 0; i < ctx->domains->n; i++)
            ph_strlist_add_owned(
                values_r, ph_strdup_printf("%s@%s", key, ctx->domains->v[i]));
        return PH_LOOKUP_FOUND;
    }

    if (at == NULL) {
        if (ctx->mode != MODE_LOCALPART_OPTIONAL || *key == '\0')
            return PH_LOOKUP_NOT_FOUND;
        ph_strlist_add(values_r, key);
        return PH_LOOKUP_FOUND;
    }
    if (at == key || at[1] == '\0')
        return PH_LOOKUP_NOT_FOUND;
    ph_strlist_add_owned(values_r, ph_strndup(key, (size_t)(at - key)));
    return PH_LOOKUP_FOUND;
}

static const struct ph_table_vfuncs localpart_vfuncs = {
    .lookup = localpart_lookup,
};

PH_MODULE(.names = (const char *const[]){"table.email_localpart",
                                         "table.email_localpart_optional",
                                         "table.email_with_domain", NULL},
          .kind = PH_MODULE_TABLE,
          .description =
              "splits an address into its local part, or adds domains",
          .directives = localpart_directives,
          .conf_size = sizeof(struct localpart_conf),
          .inline_directive = "domains", .create = localpart_create,
          .destroy = localpart_destroy, .iface = &localpart_vfuncs);
