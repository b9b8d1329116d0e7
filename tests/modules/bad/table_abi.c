/* SPDX-License-Identifier: MIT */
/* A module built for another ABI major: the registry must refuse it. */
#include <posthorn/table-impl.h>

static int abi_create(struct ph_instance *i, void *c, void **ctx, char **e)
{
    (void)i; (void)c; (void)ctx; (void)e;
    return 0;
}

static const struct ph_table_vfuncs abi_vf;

PH_EXPORT extern const struct ph_module_desc posthorn_module;
const struct ph_module_desc posthorn_module = {
    .abi_major = PH_ABI_MAJOR + 1,
    .abi_minor = 0,
    .size = sizeof(struct ph_module_desc),
    .names = (const char *const[]){"table.abi", NULL},
    .kind = PH_MODULE_TABLE,
    .create = abi_create,
    .iface = &abi_vf,
};
