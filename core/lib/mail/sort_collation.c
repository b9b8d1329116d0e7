/* SPDX-License-Identifier: MIT */
/* Collations for SORT and THREAD (RFC 4790, RFC 5051): keys whose byte
 * order is the collation's order. */
#include <string.h>
#include <strings.h>

#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include <posthorn/sort.h>

#include "message-private.h"

static const char *const collation_names[] = {
    [PH_COLLATION_UNICODE_CASEMAP] = "i;unicode-casemap",
    [PH_COLLATION_ASCII_CASEMAP] = "i;ascii-casemap",
    [PH_COLLATION_OCTET] = "i;octet",
};

bool ph_collation_lookup(const char *name, size_t len,
                         enum ph_collation *coll_r)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(collation_names); i++) {
        if (msg_ascii_eqz(name, len, collation_names[i])) {
            *coll_r = (enum ph_collation)i;
            return true;
        }
    }
    return false;
}

const char *ph_collation_name(enum ph_collation coll)
{
    ph_assert((size_t)coll < PH_N_ELEMENTS(collation_names));
    return collation_names[coll];
}

static bool is_hangul_syllable(ucs4_t c)
{
    return c >= 0xAC00 && c <= 0xD7A3;
}

/* RFC 5051 section 2 steps (2) and (3) for one character: the titlecase
 * mapping, then the decomposition, each piece of which goes through both
 * again. Canonical decompositions are at most four levels deep. */
static void casemap_char(ucs4_t c, unsigned depth, struct ph_buf *out)
{
    c = uc_totitle(c);
    ucs4_t dec[UC_DECOMPOSITION_MAX_LENGTH];
    int n = is_hangul_syllable(c) || depth > 8
                ? -1
                : uc_canonical_decomposition(c, dec);
    if (n > 0) {
        for (int i = 0; i < n; i++)
            casemap_char(dec[i], depth + 1, out);
        return;
    }
    if (c == 0)
        return;
    uint8_t u[6];
    int ulen = u8_uctomb(u, c, (ptrdiff_t)sizeof(u));
    if (ulen > 0)
        ph_buf_append(out, u, (size_t)ulen);
}

static void append_without_nul(const char *s, size_t len, struct ph_buf *out)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0') {
            ph_buf_append(out, s + run, i - run);
            run = i + 1;
        }
    }
    ph_buf_append(out, s + run, len - run);
}

static void unicode_casemap_key(const char *s, size_t len, struct ph_buf *out)
{
    if (len == 0)
        return; /* s may be NULL for an empty string */
    /* NULs go first, then the test for UTF-8: a key is NUL-free, and the
     * key of a key must be itself ("\xdb\0\x99" is not UTF-8, but its
     * key "\xdb\x99" is). */
    struct ph_buf clean = {0};
    if (memchr(s, '\0', len) != NULL) {
        append_without_nul(s, len, &clean);
        s = clean.data != NULL ? clean.data : "";
        len = clean.len;
    }
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    if (u8_check(p, len) != NULL) {
        /* RFC 5051: what cannot be converted to Unicode is binary. */
        ph_buf_append(out, s, len);
        ph_buf_free(&clean);
        return;
    }
    while (p < end) {
        if (*p < 0x80) {
            /* ASCII has no decompositions; titlecase is uppercase. */
            if (*p != 0)
                ph_buf_putc(out, (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p));
            p++;
            continue;
        }
        ucs4_t c;
        int n = u8_mbtouc_unsafe(&c, p, (size_t)(end - p));
        casemap_char(c, 0, out);
        p += n;
    }
    ph_buf_free(&clean);
}

void ph_collation_key(enum ph_collation coll, const char *s, size_t len,
                      struct ph_buf *out)
{
    switch (coll) {
    case PH_COLLATION_UNICODE_CASEMAP: unicode_casemap_key(s, len, out); return;
    case PH_COLLATION_ASCII_CASEMAP:
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c != 0)
                ph_buf_putc(out, (char)(c >= 'a' && c <= 'z' ? c - 32 : c));
        }
        return;
    case PH_COLLATION_OCTET: append_without_nul(s, len, out); return;
    }
    ph_assert(!"unknown collation");
}

int ph_sort_key_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n == 0 ? 0 : memcmp(a, b, n);
    if (r != 0)
        return r;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int ph_collation_compare(enum ph_collation coll, const char *a, size_t alen,
                         const char *b, size_t blen)
{
    struct ph_buf ka = {0}, kb = {0};
    ph_collation_key(coll, a, alen, &ka);
    ph_collation_key(coll, b, blen, &kb);
    int r = ph_sort_key_compare(ka.data, ka.len, kb.data, kb.len);
    ph_buf_free(&ka);
    ph_buf_free(&kb);
    return r;
}
