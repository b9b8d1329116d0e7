/* SPDX-License-Identifier: MIT */
/* posthorn SDK: implementing an authentication provider.
 *
 * check() runs on worker threads, many at once: it must be thread-safe and
 * may block. The user-management functions are optional (NULL). */
#ifndef POSTHORN_AUTH_IMPL_H
#define POSTHORN_AUTH_IMPL_H

#include <posthorn/auth.h>
#include <posthorn/module.h>

struct ph_auth_vfuncs {
    enum ph_auth_result (*check)(void *ctx, const char *username,
                                 const char *password, const char **error_r);
    int (*set_password)(void *ctx, const char *username, const char *password,
                        const char **error_r);
    int (*remove_user)(void *ctx, const char *username, const char **error_r);
    int (*list_users)(void *ctx, struct ph_strlist *users_r,
                      const char **error_r);
};

#endif
