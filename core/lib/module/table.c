/* SPDX-License-Identifier: MIT */
/* Table caller API: dispatch to the instance's vtable. */
#include <posthorn/table-impl.h>

static const struct ph_table_vfuncs *vf(struct ph_instance *t)
{
    ph_assert(ph_instance_kind(t) == PH_MODULE_TABLE);
    return ph_instance_iface(t);
}

enum ph_lookup ph_table_lookup(struct ph_instance *t, const char *key,
                               struct ph_strlist *values_r,
                               const char **error_r)
{
    *error_r = NULL;
    enum ph_lookup r = vf(t)->lookup(ph_instance_ctx(t), key, values_r, error_r);
    if (r == PH_LOOKUP_TEMPFAIL && *error_r == NULL)
        *error_r = "temporary failure";
    return r;
}

bool ph_table_is_mutable(struct ph_instance *t)
{
    return vf(t)->set != NULL;
}

int ph_table_set(struct ph_instance *t, const char *key,
                 const char *const *values, size_t nvalues,
                 const char **error_r)
{
    if (vf(t)->set == NULL) {
        *error_r = "this table cannot be changed";
        return -1;
    }
    return vf(t)->set(ph_instance_ctx(t), key, values, nvalues, error_r);
}

int ph_table_remove(struct ph_instance *t, const char *key,
                    const char **error_r)
{
    if (vf(t)->remove == NULL) {
        *error_r = "this table cannot be changed";
        return -1;
    }
    return vf(t)->remove(ph_instance_ctx(t), key, error_r);
}

int ph_table_keys(struct ph_instance *t, struct ph_strlist *keys_r,
                  const char **error_r)
{
    if (vf(t)->keys == NULL) {
        *error_r = "this table cannot list its keys";
        return -1;
    }
    return vf(t)->keys(ph_instance_ctx(t), keys_r, error_r);
}
