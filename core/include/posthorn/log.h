/* SPDX-License-Identifier: MIT */
/* posthorn SDK: logging. One event a line, key=value fields:
 *   2026-11-26T09:30:00.123Z level=info mod=imap event=login user=bob
 * Values with spaces or quotes go through ph_log_escape() first. */
#ifndef POSTHORN_LOG_H
#define POSTHORN_LOG_H

#include <posthorn/common.h>

enum ph_log_level {
    PH_LOG_DEBUG,
    PH_LOG_INFO,
    PH_LOG_WARN,
    PH_LOG_ERROR,
};

enum ph_log_target {
    PH_LOG_TARGET_STDERR,
    PH_LOG_TARGET_SYSLOG,
    PH_LOG_TARGET_FILE,
    PH_LOG_TARGET_OFF,
};

void ph_log(enum ph_log_level level, const char *fmt, ...) PH_PRINTF(2, 3);
#define ph_log_debug(...) ph_log(PH_LOG_DEBUG, __VA_ARGS__)
#define ph_log_info(...) ph_log(PH_LOG_INFO, __VA_ARGS__)
#define ph_log_warn(...) ph_log(PH_LOG_WARN, __VA_ARGS__)
#define ph_log_error(...) ph_log(PH_LOG_ERROR, __VA_ARGS__)

/* Is debug output on (the global `debug` directive)? Modules with their own
 * `debug` directive OR it with this. */
bool ph_log_debug_enabled(void);

/* Sets where log lines go. path is used for PH_LOG_TARGET_FILE. Returns -1
 * with *error_r set when the file cannot be opened. */
int ph_log_set_target(enum ph_log_target target, const char *path,
                      const char **error_r) PH_WUR;
void ph_log_set_debug(bool on);

/* Sets key=value fields that end every line this thread logs from now on,
 * until it sets others or NULL: an endpoint sets "session=ID" while a
 * thread works for one connection, so that what storage, auth and table
 * modules log on its behalf names it too. At most 127 bytes are kept.
 * (ABI 1.4) */
void ph_log_set_context(const char *fields);
/* This thread's context ("" when none), to save and restore around a
 * nested one. (ABI 1.4) */
const char *ph_log_context(void);

/* Quotes a value for a key=value field when it needs it (spaces, quotes,
 * '=', control bytes); returns a newly allocated string. */
char *ph_log_escape(const char *value);

#endif
