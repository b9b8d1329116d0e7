/* SPDX-License-Identifier: MIT */
/* posthorn SDK: using a table (caller side). */
#ifndef POSTHORN_TABLE_H
#define POSTHORN_TABLE_H

#include <posthorn/common.h>

struct ph_instance;

/* Three distinct answers, never an overloaded NULL. */
enum ph_lookup {
    PH_LOOKUP_FOUND = 0,
    PH_LOOKUP_NOT_FOUND = 1,
    PH_LOOKUP_TEMPFAIL = -1,
};

/* Looks key up. FOUND appends one or more values to *values_r (the caller
 * owns and clears the list); TEMPFAIL sets *error_r to a static or
 * instance-owned text. */
enum ph_lookup ph_table_lookup(struct ph_instance *table, const char *key,
                               struct ph_strlist *values_r,
                               const char **error_r) PH_WUR;

/* Mutation, for the admin CLI; only some tables support it. */
bool ph_table_is_mutable(struct ph_instance *table);
/* Sets key to values (replacing). 0 or -1. */
int ph_table_set(struct ph_instance *table, const char *key,
                 const char *const *values, size_t nvalues,
                 const char **error_r) PH_WUR;
/* 1 removed, 0 was not there, -1 error. */
int ph_table_remove(struct ph_instance *table, const char *key,
                    const char **error_r) PH_WUR;
/* Appends every key, sorted. 0 or -1. */
int ph_table_keys(struct ph_instance *table, struct ph_strlist *keys_r,
                  const char **error_r) PH_WUR;

#endif
