/* SPDX-License-Identifier: MIT */
/* One PAM check, shared by auth.pam's in-process mode and by
 * posthorn-pam-helper: pam_start, a conversation that answers password
 * prompts, pam_authenticate, pam_acct_mgmt, pam_end. libc and libpam only,
 * so that the (setuid) helper links nothing else. */
#ifndef POSTHORN_PAM_CHECK_H
#define POSTHORN_PAM_CHECK_H

#include <stdbool.h>

/* Bounds of what reaches PAM, the same in both modes. */
#define PAM_CHECK_MAX_USER 256
#define PAM_CHECK_MAX_PASSWORD 1024
#define PAM_CHECK_MAX_SERVICE 64

/* Also the helper's exit codes. */
enum pam_check_result {
    PAM_CHECK_OK = 0,
    PAM_CHECK_REJECTED = 1, /* wrong password, unknown user, account refused */
    PAM_CHECK_ERROR = 2,    /* PAM could not decide (setup, conversation) */
};

/* A service name is safe to look up as a file: [A-Za-z0-9_.-], no leading
 * dot, at most PAM_CHECK_MAX_SERVICE bytes. */
bool pam_check_service_valid(const char *service);

/* Runs the PAM stack of service for user with password. *reason_r is a
 * static string for the log (never the password). */
enum pam_check_result pam_check(const char *service, const char *user,
                                const char *password, const char **reason_r);

#endif
