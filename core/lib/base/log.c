/* SPDX-License-Identifier: MIT */
/* Logging: one event a line, key=value fields, to stderr, syslog or a file. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/time.h>
#include <time.h>

#include <posthorn/log.h>

/* A reload sets the target and debug while workers log: both are read
 * without the lock, so they are atomic; log_file is used under it. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic enum ph_log_target log_target = PH_LOG_TARGET_STDERR;
static FILE *log_file;
static atomic_bool log_debug;
static _Thread_local char log_context[128];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool ph_log_debug_enabled(void)
{
    return atomic_load_explicit(&log_debug, memory_order_relaxed);
}

void ph_log_set_debug(bool on)
{
    atomic_store_explicit(&log_debug, on, memory_order_relaxed);
}

void ph_log_set_context(const char *fields)
{
    snprintf(log_context, sizeof(log_context), "%s", fields ? fields : "");
}

const char *ph_log_context(void)
{
    return log_context;
}

int ph_log_set_target(enum ph_log_target target, const char *path,
                      const char **error_r)
{
    FILE *f = NULL;
    if (target == PH_LOG_TARGET_FILE) {
        f = fopen(path, "ae");
        if (f == NULL) {
            *error_r = strerror(errno);
            return -1;
        }
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_lock);
    if (log_file != NULL)
        fclose(log_file);
    log_file = f;
    if (target == PH_LOG_TARGET_SYSLOG && log_target != PH_LOG_TARGET_SYSLOG)
        openlog("posthorn", LOG_PID | LOG_NDELAY, LOG_MAIL);
    atomic_store(&log_target, target);
    pthread_mutex_unlock(&log_lock);
    return 0;
}

void ph_log(enum ph_log_level level, const char *fmt, ...)
{
    if (level == PH_LOG_DEBUG && !ph_log_debug_enabled())
        return;
    enum ph_log_target target = atomic_load(&log_target);
    if (target == PH_LOG_TARGET_OFF)
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The thread's context ends the line (a long message is cut to make
     * room for it: the session id matters more than the tail). */
    size_t clen = strlen(log_context);
    if (clen > 0) {
        size_t len = n < 0 ? 0 : (size_t)n;
        if (len > sizeof(msg) - 2 - clen)
            len = sizeof(msg) - 2 - clen;
        msg[len] = ' ';
        memcpy(msg + len + 1, log_context, clen + 1);
    }
    /* One event is one line, whatever the message held. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    if (target == PH_LOG_TARGET_SYSLOG) {
        static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
        syslog(prio[level], "level=%s %s", level_names[level], msg);
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    pthread_mutex_lock(&log_lock);
    FILE *out = target == PH_LOG_TARGET_FILE && log_file ? log_file : stderr;
    fprintf(out, "%s.%03dZ level=%s %s\n", ts, (int)(tv.tv_usec / 1000),
            level_names[level], msg);
    fflush(out);
    pthread_mutex_unlock(&log_lock);
}

char *ph_log_escape(const char *value)
{
    bool plain = *value != '\0';
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
            plain = false;
    if (plain)
        return ph_strdup(value);
    struct ph_buf b = {0};
    ph_buf_putc(&b, '"');
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '\\')
            ph_buf_printf(&b, "\\%c", *p);
        else if (*p < ' ' || *p == 0x7f)
            ph_buf_printf(&b, "\\x%02x", *p);
        else
            ph_buf_putc(&b, (char)*p);
    }
    ph_buf_putc(&b, '"');
    return ph_buf_steal(&b);
}

/* An invariant broke: an assertion report is a log event, then the end. */
void ph_assert_fail(const char *expr, const char *file, int line,
                    const char *func)
{
    ph_log_error("event=assert expr=\"%s\" at=%s:%d func=%s", expr, file, line,
                 func);
    fprintf(stderr, "posthorn: assertion failed: %s at %s:%d (%s)\n", expr,
            file, line, func);
    abort();
}
