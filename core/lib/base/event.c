/* SPDX-License-Identifier: MIT */
/* Events: one emission, a log line and the sinks (event.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/event.h>

#define MAX_SINKS 8

struct sink {
    ph_event_sink_fn *fn;
    void *ctx;
};

/* Few sinks, added at start and reload: a read-write lock, and a count
 * read first so that emitting with no sink takes no lock. */
static pthread_rwlock_t sinks_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct sink sinks[MAX_SINKS];
static atomic_int nsinks;

void ph_event_sink_add(ph_event_sink_fn *fn, void *ctx)
{
    pthread_rwlock_wrlock(&sinks_lock);
    int n = atomic_load(&nsinks);
    ph_assert(n < MAX_SINKS);
    sinks[n] = (struct sink){fn, ctx};
    atomic_store(&nsinks, n + 1);
    pthread_rwlock_unlock(&sinks_lock);
}

void ph_event_sink_remove(ph_event_sink_fn *fn, void *ctx)
{
    pthread_rwlock_wrlock(&sinks_lock);
    int n = atomic_load(&nsinks);
    for (int i = 0; i < n; i++) {
        if (sinks[i].fn == fn && sinks[i].ctx == ctx) {
            sinks[i] = sinks[n - 1];
            atomic_store(&nsinks, n - 1);
            break;
        }
    }
    pthread_rwlock_unlock(&sinks_lock);
}

const char *ph_event_str(const struct ph_event_field *fields, size_t n,
                         const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].key, key) == 0)
            return fields[i].str;
    return NULL;
}

bool ph_event_num(const struct ph_event_field *fields, size_t n,
                  const char *key, int64_t *num_r)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fields[i].key, key) == 0 && fields[i].str == NULL) {
            *num_r = fields[i].num;
            return true;
        }
    }
    return false;
}

void ph_event_emit(bool log, enum ph_log_level level, const char *mod,
                   const char *name, const struct ph_event_field *fields,
                   size_t n)
{
    if (atomic_load(&nsinks) > 0) {
        pthread_rwlock_rdlock(&sinks_lock);
        int ns = atomic_load(&nsinks);
        for (int i = 0; i < ns; i++)
            sinks[i].fn(sinks[i].ctx, mod, name, fields, n);
        pthread_rwlock_unlock(&sinks_lock);
    }
    if (!log || (level == PH_LOG_DEBUG && !ph_log_debug_enabled()))
        return; /* the fields are not even formatted */
    struct ph_buf line = {0};
    ph_buf_printf(&line, "mod=%s event=%s", mod, name);
    for (size_t i = 0; i < n; i++) {
        if (fields[i].str == NULL) {
            ph_buf_printf(&line, " %s=%lld", fields[i].key,
                          (long long)fields[i].num);
        } else {
            char *v = ph_log_escape(fields[i].str);
            ph_buf_printf(&line, " %s=%s", fields[i].key, v);
            free(v);
        }
    }
    ph_buf_putc(&line, '\0');
    ph_log(level, "%s", line.data);
    ph_buf_free(&line);
}
