/* SPDX-License-Identifier: MIT */
/* PRECIS IdentifierClass (RFC 8264) and the RFC 8265 username profiles.
 * Private to libposthorn: callers use <posthorn/normalize.h>. */
#ifndef PH_PRECIS_H
#define PH_PRECIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The derived property of RFC 8264 section 8. FREE_PVAL stands for
 * "ID_DIS or FREE_PVAL": not allowed in the IdentifierClass. */
enum precis_property {
    PRECIS_PVALID,
    PRECIS_CONTEXTJ,
    PRECIS_CONTEXTO,
    PRECIS_FREE_PVAL,
    PRECIS_DISALLOWED,
    PRECIS_UNASSIGNED,
};

enum precis_property precis_property(uint32_t cp);

/* NULL when every code point of s is PVALID or passes its contextual rule
 * (RFC 5892 appendix A), else a static reason. */
const char *precis_identifier_check(const uint32_t *s, size_t n);

/* NULL when s passes the Bidi Rule of RFC 5893 section 2 or holds no
 * right-to-left code point, else a static reason. */
const char *precis_bidi_check(const uint32_t *s, size_t n);

/* Enforces UsernameCaseMapped (case_map) or UsernameCasePreserved on the
 * valid UTF-8 s[0..n). Returns 0 and a malloc'ed NUL-terminated UTF-8
 * string, or -1 and a static reason. Runs the rules once: callers that
 * want a stable result apply it again (RFC 8264 section 7). */
int precis_username(const uint8_t *s, size_t n, bool case_map, char **out_r,
                    const char **error_r);

#endif
