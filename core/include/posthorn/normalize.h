/* SPDX-License-Identifier: MIT */
/* posthorn SDK: username normalization (RFC 8265 PRECIS profiles).
 *
 * Names as used by `auth_map_normalize`, `storage_map_normalize`, ...:
 *   auto                   precis_casefold_email for a valid address,
 *                          else precis_casefold
 *   precis_casefold_email  UsernameCaseMapped on the local part, the domain
 *                          IDNA-mapped to U-labels and lower-cased
 *   precis_casefold        UsernameCaseMapped on the whole string
 *   precis_email           UsernameCasePreserved + the domain as above
 *   precis                 UsernameCasePreserved on the whole string
 *   casefold               Unicode full case folding only
 *   noop                   unchanged (must still be valid UTF-8) */
#ifndef POSTHORN_NORMALIZE_H
#define POSTHORN_NORMALIZE_H

#include <posthorn/common.h>

/* Returns 0 and a malloc'ed result, or -1 with a static reason the input
 * is not acceptable (disallowed code point, empty, bad UTF-8, ...). */
typedef int ph_normalize_fn(const char *in, char **out_r,
                            const char **error_r);

/* NULL when the name is unknown. */
ph_normalize_fn *ph_normalize_find(const char *name);
/* NULL-terminated list of the names above, for an ENUM directive. */
extern const char *const ph_normalize_names[];

int ph_normalize_auto(const char *in, char **out_r, const char **error_r);
int ph_normalize_precis_casefold_email(const char *in, char **out_r,
                                       const char **error_r);
int ph_normalize_precis_casefold(const char *in, char **out_r,
                                 const char **error_r);
int ph_normalize_precis_email(const char *in, char **out_r,
                              const char **error_r);
int ph_normalize_precis(const char *in, char **out_r, const char **error_r);
int ph_normalize_casefold(const char *in, char **out_r, const char **error_r);
int ph_normalize_noop(const char *in, char **out_r, const char **error_r);

#endif
