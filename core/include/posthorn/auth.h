/* SPDX-License-Identifier: MIT */
/* posthorn SDK: using an authentication provider (caller side). */
#ifndef POSTHORN_AUTH_H
#define POSTHORN_AUTH_H

#include <posthorn/common.h>

struct ph_instance;

enum ph_auth_result {
    PH_AUTH_OK = 0,
    PH_AUTH_FAILED = 1,    /* wrong password, unknown or disabled user */
    PH_AUTH_TEMPFAIL = -1, /* the provider could not decide: try later */
};

/* Checks a username (already normalized and mapped by the endpoint) and a
 * password. *error_r explains FAILED or TEMPFAIL for the log; it never
 * contains the password. Blocking: call it from a worker thread. */
enum ph_auth_result ph_auth_check(struct ph_instance *auth,
                                  const char *username, const char *password,
                                  const char **error_r) PH_WUR;

/* User management, for the admin CLI; only some providers support it. */
bool ph_auth_can_manage(struct ph_instance *auth);
int ph_auth_set_password(struct ph_instance *auth, const char *username,
                         const char *password, const char **error_r) PH_WUR;
/* 1 removed, 0 was not there, -1 error. */
int ph_auth_remove_user(struct ph_instance *auth, const char *username,
                        const char **error_r) PH_WUR;
int ph_auth_list_users(struct ph_instance *auth, struct ph_strlist *users_r,
                       const char **error_r) PH_WUR;

/* Password hashing with libcrypt, shared by auth modules and the CLI.
 * method: "yescrypt" (default when NULL), "bcrypt", "sha512-crypt",
 * "sha256-crypt". Returns a malloc'ed hash or NULL with a reason. */
char *ph_password_hash(const char *password, const char *method,
                       const char **error_r);
/* Verifies password against a stored hash: any crypt(3) format libcrypt
 * knows ($y$, $2b$, $6$, $5$, ...) and maddy's "bcrypt:" prefix form.
 * Compares in constant time. */
bool ph_password_verify(const char *password, const char *hash);

#endif
