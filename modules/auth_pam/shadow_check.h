/* SPDX-License-Identifier: MIT */
/* One check against a shadow file, shared by auth.shadow's in-process mode
 * and by posthorn-pam-helper --shadow: find the user's entry, refuse a
 * locked or expired account or password (shadow(5)'s fields), and compare
 * crypt(3)'s answer in constant time. libc and libcrypt only, for the
 * (setuid) helper. Results and bounds are pam_check's. */
#ifndef POSTHORN_SHADOW_CHECK_H
#define POSTHORN_SHADOW_CHECK_H

#include <time.h>

#include "pam_check.h"

#define SHADOW_CHECK_FILE "/etc/shadow"

/* Checks user and password against the shadow file path as of now (a
 * time_t, so tests can fix the day). *reason_r is a static string for the
 * log, never the password. */
enum pam_check_result shadow_check(const char *path, const char *user,
                                   const char *password, time_t now,
                                   const char **reason_r);

#endif
