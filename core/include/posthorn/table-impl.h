/* SPDX-License-Identifier: MIT */
/* posthorn SDK: implementing a table module.
 *
 * Tables are called from many worker threads at once: lookup must be
 * thread-safe. set/remove/keys may be NULL (the table is read-only). */
#ifndef POSTHORN_TABLE_IMPL_H
#define POSTHORN_TABLE_IMPL_H

#include <posthorn/module.h>
#include <posthorn/table.h>

struct ph_table_vfuncs {
    enum ph_lookup (*lookup)(void *ctx, const char *key,
                             struct ph_strlist *values_r,
                             const char **error_r);
    int (*set)(void *ctx, const char *key, const char *const *values,
               size_t nvalues, const char **error_r);
    int (*remove)(void *ctx, const char *key, const char **error_r);
    int (*keys)(void *ctx, struct ph_strlist *keys_r, const char **error_r);
};

#endif
