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

/* ABI 1.6: one check through a helper program, the protocol of maddy's
 * auth.external and of posthorn-pam-helper: the program (argv[0] is path)
 * reads the username and the password, each ending in "\n", on stdin and
 * exits 0 (accepted), 1 (rejected) or 2 (could not decide); what it writes
 * to stderr goes to the log. Killed after timeout_ms. mod and instance
 * name the caller in the log lines; debug logs rejections too. Never logs
 * the password. Blocking: call it from check(). */
enum ph_auth_result ph_auth_helper_check(const char *mod, const char *instance,
                                         const char *path, char *const argv[],
                                         int64_t timeout_ms, bool debug,
                                         const char *username,
                                         const char *password,
                                         const char **error_r);

#endif
