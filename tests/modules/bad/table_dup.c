/* SPDX-License-Identifier: MIT */
/* Built twice (table_dup_a.so, table_dup_b.so): two files claiming one name. */
#include <posthorn/table-impl.h>

static int dup_create(struct ph_instance *i, void *c, void **ctx, char **e)
{
    (void)i; (void)c; (void)ctx; (void)e;
    return 0;
}

static const struct ph_table_vfuncs dup_vf;

PH_MODULE(.names = (const char *const[]){"table.dup", NULL},
          .kind = PH_MODULE_TABLE, .create = dup_create, .iface = &dup_vf);
