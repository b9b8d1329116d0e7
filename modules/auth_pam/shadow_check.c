/* SPDX-License-Identifier: MIT */
/* Shadow file checks: shadow_check.h says what and why. */
#include <crypt.h>
#include <errno.h>
#include <shadow.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shadow_check.h"

/* The same length and every byte equal, in time that depends on the
 * length only. */
static bool same(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na != nb;
    for (size_t i = 0; i < na && i < nb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* shadow(5): sp_expire is the day (since 1970-01-01) from which the
 * account is expired; a password older than sp_max days, and past
 * sp_inact more days of grace, no longer logs in; sp_lstchg 0 means the
 * password must be changed first. -1: the field is empty. */
static const char *expired(const struct spwd *sp, time_t now)
{
    long today = (long)(now / 86400);
    if (sp->sp_expire >= 0 && today >= sp->sp_expire)
        return "the account has expired";
    if (sp->sp_lstchg == 0)
        return "the password must be changed first";
    if (sp->sp_lstchg > 0 && sp->sp_max >= 0 && sp->sp_inact >= 0 &&
        today >= sp->sp_lstchg + sp->sp_max + sp->sp_inact)
        return "the password has expired";
    return NULL;
}

enum pam_check_result shadow_check(const char *path, const char *user,
                                   const char *password, time_t now,
                                   const char **reason_r)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        *reason_r = errno == EACCES ? "cannot read the shadow file (permission)"
                                    : "cannot open the shadow file";
        return PAM_CHECK_ERROR;
    }
    /* A fresh buffer per call: fgetspent_r is reentrant, workers check at
     * once. */
    char buf[4096];
    struct spwd entry, *sp = NULL;
    enum pam_check_result r = PAM_CHECK_REJECTED;
    *reason_r = "no such user";
    for (;;) {
        int e = fgetspent_r(f, &entry, buf, sizeof(buf), &sp);
        if (e == ENOENT)
            break;
        if (e != 0) {
            /* ERANGE is a line longer than buf: glibc rewinds to it for a
             * retry with a bigger buffer, and no real entry is that long.
             * (Malformed lines glibc skips itself.) */
            *reason_r = e == ERANGE ? "a line of the shadow file is too long"
                                    : "cannot read the shadow file";
            r = PAM_CHECK_ERROR;
            break;
        }
        if (strcmp(sp->sp_namp, user) != 0)
            continue;
        const char *hash = sp->sp_pwdp;
        const char *why = expired(sp, now);
        if (hash[0] != '$') {
            /* "!..." locked, "*" or "" no password login. */
            *reason_r = "the account is locked or has no password";
        } else if (why != NULL) {
            *reason_r = why;
        } else {
            struct crypt_data *data = calloc(1, sizeof(*data));
            if (data == NULL) {
                *reason_r = "out of memory";
                r = PAM_CHECK_ERROR;
                break;
            }
            const char *h = crypt_rn(password, hash, data, sizeof(*data));
            bool ok = h != NULL && h[0] != '*' && same(h, hash);
            explicit_bzero(data, sizeof(*data));
            free(data);
            *reason_r = ok ? "accepted" : "wrong password";
            r = ok ? PAM_CHECK_OK : PAM_CHECK_REJECTED;
        }
        break;
    }
    explicit_bzero(buf, sizeof(buf));
    fclose(f);
    return r;
}
