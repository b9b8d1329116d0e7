/* SPDX-License-Identifier: MIT */
/* PRECIS IdentifierClass (RFC 8264 sections 8-9) with the contextual rules
 * of RFC 5892 appendix A, the Bidi Rule of RFC 5893 and the username
 * profiles of RFC 8265 sections 3.3-3.4, on libunistring's Unicode tables.
 * Everything here is a pure function of its arguments (thread-safe). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include <posthorn/common.h>

#include "precis.h"

static const char E_EMPTY[] = "username is empty";
static const char E_DISALLOWED[] = "username contains a disallowed character";
static const char E_UNASSIGNED[] = "username contains an unassigned code point";
static const char E_CONTEXT[] =
    "username contains a joiner or special character out of its context";
static const char E_BIDI[] = "username violates the bidi rule";

/* libunistring reports allocation failure as NULL; like ph_malloc, abort. */
static void *unistring_result(void *p)
{
    if (p == NULL) {
        fprintf(stderr, "posthorn: out of memory in libunistring\n");
        abort();
    }
    return p;
}

/* Exceptions (F): RFC 5892 section 2.6, by code point. */
static const struct {
    uint32_t first, last;
    enum precis_property prop;
} exceptions[] = {
    {0x00B7, 0x00B7, PRECIS_CONTEXTO},   /* MIDDLE DOT */
    {0x00DF, 0x00DF, PRECIS_PVALID},     /* LATIN SMALL LETTER SHARP S */
    {0x0375, 0x0375, PRECIS_CONTEXTO},   /* GREEK LOWER NUMERAL SIGN */
    {0x03C2, 0x03C2, PRECIS_PVALID},     /* GREEK SMALL LETTER FINAL SIGMA */
    {0x05F3, 0x05F4, PRECIS_CONTEXTO},   /* HEBREW GERESH, GERSHAYIM */
    {0x0640, 0x0640, PRECIS_DISALLOWED}, /* ARABIC TATWEEL */
    {0x0660, 0x0669, PRECIS_CONTEXTO},   /* ARABIC-INDIC DIGITS */
    {0x06F0, 0x06F9, PRECIS_CONTEXTO},   /* EXTENDED ARABIC-INDIC DIGITS */
    {0x06FD, 0x06FE, PRECIS_PVALID},     /* ARABIC SIGN SINDHI ... */
    {0x07FA, 0x07FA, PRECIS_DISALLOWED}, /* NKO LAJANYALAN */
    {0x0F0B, 0x0F0B, PRECIS_PVALID},     /* TIBETAN MARK INTERSYLLABIC TSHEG */
    {0x3007, 0x3007, PRECIS_PVALID},     /* IDEOGRAPHIC NUMBER ZERO */
    {0x302E, 0x302F, PRECIS_DISALLOWED}, /* HANGUL DOT TONE MARKS */
    {0x3031, 0x3035, PRECIS_DISALLOWED}, /* VERTICAL KANA REPEAT MARKS */
    {0x303B, 0x303B, PRECIS_DISALLOWED}, /* VERTICAL IDEOGRAPHIC ITERATION */
    {0x30FB, 0x30FB, PRECIS_CONTEXTO},   /* KATAKANA MIDDLE DOT */
};

static bool is_noncharacter(uint32_t cp)
{
    return (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
}

/* OldHangulJamo (I): Hangul_Syllable_Type L, V or T. */
static bool is_old_hangul_jamo(uint32_t cp)
{
    return (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xA960 && cp <= 0xA97C) ||
           (cp >= 0xD7B0 && cp <= 0xD7C6) || (cp >= 0xD7CB && cp <= 0xD7FB);
}

/* HasCompat (Q): toNFKC(cp) != cp. */
static bool has_compat(uint32_t cp)
{
    uint32_t buf[32];
    size_t len = PH_N_ELEMENTS(buf);
    uint32_t *r =
        unistring_result(u32_normalize(UNINORM_NFKC, &cp, 1, buf, &len));
    bool differs = len != 1 || r[0] != cp;
    if (r != buf)
        free(r);
    return differs;
}

static bool in_categories(uint32_t cp, uint32_t mask)
{
    return uc_is_general_category_withtable(cp, mask);
}

enum precis_property precis_property(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return PRECIS_DISALLOWED;
    for (size_t i = 0; i < PH_N_ELEMENTS(exceptions); i++)
        if (cp >= exceptions[i].first && cp <= exceptions[i].last)
            return exceptions[i].prop;
    /* BackwardCompatible (G) is the empty set as of RFC 8264. */
    if (in_categories(cp, UC_CATEGORY_MASK_Cn) && !is_noncharacter(cp))
        return PRECIS_UNASSIGNED;
    if (cp >= 0x21 && cp <= 0x7E)
        return PRECIS_PVALID;
    if (uc_is_property_join_control(cp))
        return PRECIS_CONTEXTJ;
    if (is_old_hangul_jamo(cp))
        return PRECIS_DISALLOWED;
    if (uc_is_property_default_ignorable_code_point(cp) || is_noncharacter(cp))
        return PRECIS_DISALLOWED;
    if (in_categories(cp, UC_CATEGORY_MASK_Cc))
        return PRECIS_DISALLOWED;
    if (has_compat(cp))
        return PRECIS_FREE_PVAL;
    if (in_categories(cp, UC_CATEGORY_MASK_Ll | UC_CATEGORY_MASK_Lu |
                              UC_CATEGORY_MASK_Lo | UC_CATEGORY_MASK_Nd |
                              UC_CATEGORY_MASK_Lm | UC_CATEGORY_MASK_Mn |
                              UC_CATEGORY_MASK_Mc))
        return PRECIS_PVALID;
    if (in_categories(cp, UC_CATEGORY_MASK_Lt | UC_CATEGORY_MASK_Nl |
                              UC_CATEGORY_MASK_No | UC_CATEGORY_MASK_Me |
                              UC_CATEGORY_MASK_Zs | UC_CATEGORY_MASK_S |
                              UC_CATEGORY_MASK_P))
        return PRECIS_FREE_PVAL;
    return PRECIS_DISALLOWED;
}

static bool script_is(uint32_t cp, const char *name)
{
    const uc_script_t *script = uc_script(cp);
    return script != NULL && strcmp(script->name, name) == 0;
}

static bool after_virama(const uint32_t *s, size_t i)
{
    return i > 0 && uc_combining_class(s[i - 1]) == UC_CCC_VR;
}

/* RFC 5892 A.1: (Joining_Type:{L,D})(Joining_Type:T)*\u200C
 * (Joining_Type:T)*(Joining_Type:{R,D}) */
static bool zwnj_between_joiners(const uint32_t *s, size_t n, size_t i)
{
    size_t b = i;
    while (b > 0 && uc_joining_type(s[b - 1]) == UC_JOINING_TYPE_T)
        b--;
    if (b == 0)
        return false;
    int before = uc_joining_type(s[b - 1]);
    if (before != UC_JOINING_TYPE_L && before != UC_JOINING_TYPE_D)
        return false;
    size_t a = i + 1;
    while (a < n && uc_joining_type(s[a]) == UC_JOINING_TYPE_T)
        a++;
    if (a == n)
        return false;
    int after = uc_joining_type(s[a]);
    return after == UC_JOINING_TYPE_R || after == UC_JOINING_TYPE_D;
}

static bool contains_range(const uint32_t *s, size_t n, uint32_t first,
                           uint32_t last)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= first && s[i] <= last)
            return true;
    return false;
}

/* The CONTEXTJ and CONTEXTO rules of RFC 5892 appendix A for s[i]. */
static bool context_allows(const uint32_t *s, size_t n, size_t i)
{
    uint32_t cp = s[i];
    switch (cp) {
    case 0x200C: /* ZERO WIDTH NON-JOINER */
        return after_virama(s, i) || zwnj_between_joiners(s, n, i);
    case 0x200D: /* ZERO WIDTH JOINER */
        return after_virama(s, i);
    case 0x00B7: /* MIDDLE DOT, only in "l·l" (Catalan) */
        return i > 0 && i + 1 < n && s[i - 1] == 0x6C && s[i + 1] == 0x6C;
    case 0x0375: /* GREEK LOWER NUMERAL SIGN */
        return i + 1 < n && script_is(s[i + 1], "Greek");
    case 0x05F3: /* HEBREW PUNCTUATION GERESH */
    case 0x05F4: /* HEBREW PUNCTUATION GERSHAYIM */
        return i > 0 && script_is(s[i - 1], "Hebrew");
    case 0x30FB: /* KATAKANA MIDDLE DOT */
        for (size_t j = 0; j < n; j++)
            if (script_is(s[j], "Hiragana") || script_is(s[j], "Katakana") ||
                script_is(s[j], "Han"))
                return true;
        return false;
    }
    if (cp >= 0x0660 && cp <= 0x0669)
        return !contains_range(s, n, 0x06F0, 0x06F9);
    if (cp >= 0x06F0 && cp <= 0x06F9)
        return !contains_range(s, n, 0x0660, 0x0669);
    return false; /* a contextual code point without a rule is invalid */
}

const char *precis_identifier_check(const uint32_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (precis_property(s[i])) {
        case PRECIS_PVALID:
            break;
        case PRECIS_CONTEXTJ:
        case PRECIS_CONTEXTO:
            if (!context_allows(s, n, i))
                return E_CONTEXT;
            break;
        case PRECIS_UNASSIGNED:
            return E_UNASSIGNED;
        case PRECIS_FREE_PVAL:
        case PRECIS_DISALLOWED:
            return E_DISALLOWED;
        }
    }
    return NULL;
}

static bool bidi_in(int bidi, const int *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == bidi)
            return true;
    return false;
}

const char *precis_bidi_check(const uint32_t *s, size_t n)
{
    static const int rtl_allowed[] = {
        UC_BIDI_R,  UC_BIDI_AL, UC_BIDI_AN, UC_BIDI_EN, UC_BIDI_ES,
        UC_BIDI_CS, UC_BIDI_ET, UC_BIDI_ON, UC_BIDI_BN, UC_BIDI_NSM,
    };
    static const int ltr_allowed[] = {
        UC_BIDI_L,  UC_BIDI_EN, UC_BIDI_ES, UC_BIDI_CS,
        UC_BIDI_ET, UC_BIDI_ON, UC_BIDI_BN, UC_BIDI_NSM,
    };
    static const int rtl_end[] = {UC_BIDI_R, UC_BIDI_AL, UC_BIDI_EN,
                                  UC_BIDI_AN};
    static const int ltr_end[] = {UC_BIDI_L, UC_BIDI_EN};

    /* RFC 8265 3.3.1: only strings with right-to-left code points (an
     * "RTL label" in RFC 5893 terms: R, AL or AN) get the rule. */
    bool has_rtl = false;
    for (size_t i = 0; i < n && !has_rtl; i++) {
        int bidi = uc_bidi_class(s[i]);
        has_rtl = bidi == UC_BIDI_R || bidi == UC_BIDI_AL || bidi == UC_BIDI_AN;
    }
    if (!has_rtl)
        return NULL;

    /* Rule 1: the first character is L, R or AL. */
    int first = uc_bidi_class(s[0]);
    bool rtl = first == UC_BIDI_R || first == UC_BIDI_AL;
    if (!rtl && first != UC_BIDI_L)
        return E_BIDI;
    /* Rules 2 and 5: allowed classes; rule 4: not both EN and AN. */
    bool has_en = false, has_an = false;
    for (size_t i = 0; i < n; i++) {
        int bidi = uc_bidi_class(s[i]);
        if (rtl ? !bidi_in(bidi, rtl_allowed, PH_N_ELEMENTS(rtl_allowed))
                : !bidi_in(bidi, ltr_allowed, PH_N_ELEMENTS(ltr_allowed)))
            return E_BIDI;
        has_en |= bidi == UC_BIDI_EN;
        has_an |= bidi == UC_BIDI_AN;
    }
    if (rtl && has_en && has_an)
        return E_BIDI;
    /* Rules 3 and 6: the last non-NSM character. */
    size_t last = n;
    while (last > 0 && uc_bidi_class(s[last - 1]) == UC_BIDI_NSM)
        last--;
    int end = uc_bidi_class(s[last - 1]); /* s[0] is not NSM, so last > 0 */
    if (rtl ? !bidi_in(end, rtl_end, PH_N_ELEMENTS(rtl_end))
            : !bidi_in(end, ltr_end, PH_N_ELEMENTS(ltr_end)))
        return E_BIDI;
    return NULL;
}

/* Width Mapping Rule: <wide> and <narrow> code points to their
 * decomposition mappings (UAX #11). Returns a malloc'ed array. */
static uint32_t *width_map(const uint32_t *s, size_t n, size_t *len_r)
{
    uint32_t *out = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        ucs4_t decomposition[UC_DECOMPOSITION_MAX_LENGTH];
        int tag;
        int dlen = uc_decomposition(s[i], &tag, decomposition);
        if (dlen > 0 && (tag == UC_DECOMP_WIDE || tag == UC_DECOMP_NARROW)) {
            ph_array_grow(&out, &cap, len + (size_t)dlen, sizeof(*out));
            memcpy(out + len, decomposition, (size_t)dlen * sizeof(*out));
            len += (size_t)dlen;
        } else {
            ph_array_grow(&out, &cap, len + 1, sizeof(*out));
            out[len++] = s[i];
        }
    }
    *len_r = len;
    return out;
}

int precis_username(const uint8_t *s, size_t n, bool case_map, char **out_r,
                    const char **error_r)
{
    *out_r = NULL;
    if (n == 0) {
        *error_r = E_EMPTY;
        return -1;
    }
    size_t ulen, wlen, clen, nlen, olen;
    uint32_t *u = unistring_result(u8_to_u32(s, n, NULL, &ulen));
    /* Preparation (RFC 8265 3.3.2 / 3.4.2): width mapping, then only
     * IdentifierClass code points. */
    uint32_t *w = width_map(u, ulen, &wlen);
    free(u);
    const char *error = precis_identifier_check(w, wlen);
    if (error != NULL) {
        free(w);
        *error_r = error;
        return -1;
    }
    /* Case Mapping Rule: toLowerCase (u32_tolower, no language), as RFC
     * 8265 3.3.1 and RFC 8264 5.2.3 recommend, not toCaseFold: folding
     * would merge userparts RFC 8265 3.6 keeps apart ("fußball" and
     * "fussball", "σ" and "ς"); full folding is the `casefold` method. */
    uint32_t *c = w;
    clen = wlen;
    if (case_map) {
        c = unistring_result(u32_tolower(w, wlen, NULL, NULL, NULL, &clen));
        free(w);
    }
    uint32_t *nfc =
        unistring_result(u32_normalize(UNINORM_NFC, c, clen, NULL, &nlen));
    free(c);
    if (nlen == 0)
        error = E_EMPTY;
    else
        error = precis_bidi_check(nfc, nlen);
    /* RFC 8264 section 7 applies the class rules after the mappings too:
     * the output must itself be an IdentifierClass string. */
    if (error == NULL)
        error = precis_identifier_check(nfc, nlen);
    if (error != NULL) {
        free(nfc);
        *error_r = error;
        return -1;
    }
    uint8_t *o = unistring_result(u32_to_u8(nfc, nlen, NULL, &olen));
    free(nfc);
    *out_r = ph_strndup((const char *)o, olen);
    free(o);
    return 0;
}
