/* SPDX-License-Identifier: MIT */
/* A module that needs a symbol nothing provides: dlopen fails, and the
 * registry must report dlopen's reason, not libltdl's "file not found".
 * A data symbol, since functions would be bound lazily on first call. */
#include <posthorn/table-impl.h>

extern int ph_test_symbol_that_does_not_exist;

static int unres_create(struct ph_instance *i, void *c, void **ctx, char **e)
{
    (void)i; (void)c; (void)ctx; (void)e;
    return ph_test_symbol_that_does_not_exist;
}

static const struct ph_table_vfuncs unres_vf;

PH_MODULE(.names = (const char *const[]){"table.unresolved", NULL},
          .kind = PH_MODULE_TABLE, .create = unres_create, .iface = &unres_vf);
