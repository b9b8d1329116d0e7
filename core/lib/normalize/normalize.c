/* SPDX-License-Identifier: MIT */
/* Username normalization behind <posthorn/normalize.h>: the RFC 8265
 * profiles (precis.c), email addresses with IDNA domains (libidn2), full
 * case folding and the identity. No global mutable state: worker threads
 * call these concurrently. */
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#include <posthorn/normalize.h>

#include "precis.h"

/* Longest input or output accepted, in bytes: far above any real login
 * name, low enough to bound the work per attempt. */
#define NORMALIZE_MAX_LEN 1024
/* Longest domain in its A-label form (RFC 1035 2.3.4, less the root). */
#define DOMAIN_MAX_LEN 253
#define LABEL_MAX_LEN 63

static const char E_UTF8[] = "username is not valid UTF-8";
static const char E_LONG[] = "username is too long";
static const char E_EMPTY[] = "username is empty";
static const char E_NOT_EMAIL[] = "username is not an email address";
static const char E_LOCAL_EMPTY[] = "username has an empty local part";
static const char E_DOMAIN[] = "username has an invalid domain";
static const char E_UNSTABLE[] = "username does not stabilize under "
                                 "normalization";

static int fail(char **out_r, const char **error_r, const char *reason)
{
    *out_r = NULL;
    *error_r = reason;
    return -1;
}

/* The checks every method starts with: length, emptiness, UTF-8. */
static const char *input_check(const char *in, size_t *len_r)
{
    ph_assert(in != NULL);
    size_t len = strnlen(in, NORMALIZE_MAX_LEN + 1);
    if (len > NORMALIZE_MAX_LEN)
        return E_LONG;
    if (len == 0)
        return E_EMPTY;
    if (u8_check((const uint8_t *)in, len) != NULL)
        return E_UTF8;
    *len_r = len;
    return NULL;
}

/* Applies one pass of a method until its output no longer changes: at
 * most three passes after the first, as RFC 8264 section 7 advises. The
 * result is then a fixed point, so normalizing it again returns it. */
static int normalize_stable(ph_normalize_fn *pass, const char *in, char **out_r,
                            const char **error_r)
{
    char *cur;
    if (pass(in, &cur, error_r) < 0)
        return fail(out_r, error_r, *error_r);
    for (int i = 0; i < 3; i++) {
        char *next;
        if (pass(cur, &next, error_r) < 0) {
            free(cur);
            return fail(out_r, error_r, *error_r);
        }
        bool same = strcmp(cur, next) == 0;
        free(cur);
        cur = next;
        if (same) {
            *out_r = cur;
            return 0;
        }
    }
    free(cur);
    return fail(out_r, error_r, E_UNSTABLE);
}

static int precis_pass(const char *in, bool case_map, char **out_r,
                       const char **error_r)
{
    size_t len;
    const char *error = input_check(in, &len);
    if (error != NULL)
        return fail(out_r, error_r, error);
    return precis_username((const uint8_t *)in, len, case_map, out_r, error_r);
}

static int precis_casefold_pass(const char *in, char **out_r,
                                const char **error_r)
{
    return precis_pass(in, true, out_r, error_r);
}

static int precis_preserve_pass(const char *in, char **out_r,
                                const char **error_r)
{
    return precis_pass(in, false, out_r, error_r);
}

/* A-labels as libidn2 returns them, checked as a host name: LDH labels
 * of 1 to 63 bytes, no empty label, no trailing dot. libidn2's own STD3
 * option silently drops offending characters, so it is not used. */
static bool hostname_ok(const char *a)
{
    size_t len = strlen(a), label = 0;
    if (len == 0 || len > DOMAIN_MAX_LEN)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char ch = a[i];
        if (ch == '.' || ch == '\0') {
            if (label == 0 || label > LABEL_MAX_LEN || a[i - 1] == '-')
                return false;
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                   (ch == '-' && label > 0)) {
            label++;
        } else {
            return false;
        }
    }
    return true;
}

/* IDNA (UTS #46 non-transitional) lookup of a domain, A-labels accepted,
 * returned as lower-cased NFC U-labels. Returns 0, or -1 if IDNA
 * rejects it. */
static int domain_to_unicode(const char *domain, char **out_r)
{
    *out_r = NULL;
    uint8_t *alabels = NULL;
    if (idn2_lookup_u8((const uint8_t *)domain, &alabels,
                       IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK)
        return -1;
    if (!hostname_ok((const char *)alabels)) {
        idn2_free(alabels);
        return -1;
    }
    char *ulabels = NULL;
    int rc = idn2_to_unicode_8z8z((const char *)alabels, &ulabels, 0);
    idn2_free(alabels);
    if (rc != IDN2_OK)
        return -1;
    size_t len;
    uint8_t *lower = u8_tolower((const uint8_t *)ulabels, strlen(ulabels), NULL,
                                UNINORM_NFC, NULL, &len);
    idn2_free(ulabels);
    ph_assert(lower != NULL);
    *out_r = ph_strndup((const char *)lower, len);
    free(lower);
    return 0;
}

/* FULLWIDTH COMMERCIAL AT: the profile's width mapping turns it into '@',
 * so it separates local part and domain just like '@'. */
static const char FULLWIDTH_AT[] = "\xef\xbc\xa0";

struct at_sign {
    const char *at; /* the last at sign, NULL if none */
    size_t len;     /* its length in bytes */
    unsigned count; /* how many there are */
};

static struct at_sign at_sign_find(const char *in)
{
    struct at_sign found = {.at = NULL, .len = 0, .count = 0};
    for (const char *p = in; *p != '\0'; p++) {
        size_t len = 0;
        if (*p == '@')
            len = 1;
        else if (strncmp(p, FULLWIDTH_AT, 3) == 0)
            len = 3;
        if (len > 0) {
            found.at = p;
            found.len = len;
            found.count++;
        }
    }
    return found;
}

/* local@domain: the local part in[0..at) through the profile, the domain
 * already in U-labels. */
static int email_join(const char *in, const char *at, const char *udomain,
                      bool case_map, char **out_r, const char **error_r)
{
    char *local;
    if (precis_username((const uint8_t *)in, (size_t)(at - in), case_map,
                        &local, error_r) < 0)
        return fail(out_r, error_r, *error_r);
    *out_r = ph_strdup_printf("%s@%s", local, udomain);
    free(local);
    return 0;
}

static int email_pass(const char *in, bool case_map, char **out_r,
                      const char **error_r)
{
    size_t len;
    const char *error = input_check(in, &len);
    if (error != NULL)
        return fail(out_r, error_r, error);
    struct at_sign sign = at_sign_find(in);
    if (sign.at == NULL)
        return fail(out_r, error_r, E_NOT_EMAIL);
    if (sign.at == in)
        return fail(out_r, error_r, E_LOCAL_EMPTY);
    char *udomain;
    if (domain_to_unicode(sign.at + sign.len, &udomain) < 0)
        return fail(out_r, error_r, E_DOMAIN);
    int ret = email_join(in, sign.at, udomain, case_map, out_r, error_r);
    free(udomain);
    return ret;
}

static int precis_casefold_email_pass(const char *in, char **out_r,
                                      const char **error_r)
{
    return email_pass(in, true, out_r, error_r);
}

static int precis_email_pass(const char *in, char **out_r, const char **error_r)
{
    return email_pass(in, false, out_r, error_r);
}

/* An address is exactly one '@' between a non-empty local part and a
 * domain IDNA accepts; anything else is a plain username. */
static int auto_pass(const char *in, char **out_r, const char **error_r)
{
    size_t len;
    const char *error = input_check(in, &len);
    if (error != NULL)
        return fail(out_r, error_r, error);
    struct at_sign sign = at_sign_find(in);
    char *udomain = NULL;
    if (sign.count == 1 && sign.at != in &&
        domain_to_unicode(sign.at + sign.len, &udomain) == 0) {
        int ret = email_join(in, sign.at, udomain, true, out_r, error_r);
        free(udomain);
        return ret;
    }
    return precis_username((const uint8_t *)in, len, true, out_r, error_r);
}

static int casefold_pass(const char *in, char **out_r, const char **error_r)
{
    size_t len;
    const char *error = input_check(in, &len);
    if (error != NULL)
        return fail(out_r, error_r, error);
    size_t flen;
    uint8_t *folded =
        u8_casefold((const uint8_t *)in, len, NULL, UNINORM_NFC, NULL, &flen);
    ph_assert(folded != NULL);
    if (flen == 0) {
        free(folded);
        return fail(out_r, error_r, E_EMPTY);
    }
    *out_r = ph_strndup((const char *)folded, flen);
    free(folded);
    return 0;
}

int ph_normalize_auto(const char *in, char **out_r, const char **error_r)
{
    return normalize_stable(auto_pass, in, out_r, error_r);
}

int ph_normalize_precis_casefold_email(const char *in, char **out_r,
                                       const char **error_r)
{
    return normalize_stable(precis_casefold_email_pass, in, out_r, error_r);
}

int ph_normalize_precis_casefold(const char *in, char **out_r,
                                 const char **error_r)
{
    return normalize_stable(precis_casefold_pass, in, out_r, error_r);
}

int ph_normalize_precis_email(const char *in, char **out_r,
                              const char **error_r)
{
    return normalize_stable(precis_email_pass, in, out_r, error_r);
}

int ph_normalize_precis(const char *in, char **out_r, const char **error_r)
{
    return normalize_stable(precis_preserve_pass, in, out_r, error_r);
}

int ph_normalize_casefold(const char *in, char **out_r, const char **error_r)
{
    return normalize_stable(casefold_pass, in, out_r, error_r);
}

int ph_normalize_noop(const char *in, char **out_r, const char **error_r)
{
    size_t len;
    const char *error = input_check(in, &len);
    if (error != NULL)
        return fail(out_r, error_r, error);
    *out_r = ph_strndup(in, len);
    return 0;
}

const char *const ph_normalize_names[] = {
    "auto",
    "precis_casefold_email",
    "precis_casefold",
    "precis_email",
    "precis",
    "casefold",
    "noop",
    NULL,
};

/* In the order of ph_normalize_names. */
static ph_normalize_fn *const normalize_fns[] = {
    ph_normalize_auto,
    ph_normalize_precis_casefold_email,
    ph_normalize_precis_casefold,
    ph_normalize_precis_email,
    ph_normalize_precis,
    ph_normalize_casefold,
    ph_normalize_noop,
};
_Static_assert(PH_N_ELEMENTS(ph_normalize_names) ==
                   PH_N_ELEMENTS(normalize_fns) + 1,
               "one function per name");

ph_normalize_fn *ph_normalize_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < PH_N_ELEMENTS(normalize_fns); i++)
        if (strcmp(ph_normalize_names[i], name) == 0)
            return normalize_fns[i];
    return NULL;
}
