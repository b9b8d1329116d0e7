/* SPDX-License-Identifier: MIT */
/* table.identity: every key maps to itself. Useful as a chain step or as an
 * explicit "no mapping" where a table is required. */
#include <posthorn/table-impl.h>

static const struct ph_directive identity_directives[] = {
    {.name = NULL},
};

static int identity_create(struct ph_instance *inst, void *conf, void **ctx_r,
                           char **error_r)
{
    *ctx_r = NULL;
    return 0;
}

static void identity_destroy(void *ctx) {}

static enum ph_lookup identity_lookup(void *ctx, const char *key,
                                      struct ph_strlist *values_r,
                                      const char **error_r)
{
    ph_strlist_add(values_r, key);
    return PH_LOOKUP_FOUND;
}

static const struct ph_table_vfuncs identity_vfuncs = {
    .lookup = identity_lookup,
};

PH_MODULE(.names = (const char *const[]){"table.identity", NULL},
          .kind = PH_MODULE_TABLE, .description = "maps every key to itself",
          .directives = identity_directives, .conf_size = 0,
          .create = identity_create, .destroy = identity_destroy,
          .iface = &identity_vfuncs);
