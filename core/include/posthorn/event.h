/* SPDX-License-Identifier: MIT */
/* posthorn SDK: events. An event is a name and typed fields, emitted once:
 * the log writes it as its key=value line, and every sink (the openmetrics
 * module) sees the same fields to count it. A module emits an event where
 * it would have logged a line, so metrics and logs never disagree.
 * (ABI 1.6) */
#ifndef POSTHORN_EVENT_H
#define POSTHORN_EVENT_H

#include <posthorn/log.h>

/* A field: a string (escaped for the log when it needs it) or a number. */
struct ph_event_field {
    const char *key;
    const char *str; /* NULL: num is the value */
    int64_t num;
};

/* v must not be NULL (NULL marks a number). */
#define PH_EV_STR(k, v) ((struct ph_event_field){.key = (k), .str = (v)})
#define PH_EV_NUM(k, v) ((struct ph_event_field){.key = (k), .num = (int64_t)(v)})

/* Emits event name of module mod: when log is true, one line at level
 * ("mod=M event=NAME k=v ..."; PH_LOG_DEBUG lines only with debug on),
 * and to every sink whether logged or not. */
void ph_event_emit(bool log, enum ph_log_level level, const char *mod,
                   const char *name, const struct ph_event_field *fields,
                   size_t n);

#define PH_EVENT(log, level, mod, name, ...)                                   \
    do {                                                                       \
        const struct ph_event_field ph_ev_fields_[] = {__VA_ARGS__};           \
        ph_event_emit((log), (level), (mod), (name), ph_ev_fields_,            \
                      PH_N_ELEMENTS(ph_ev_fields_));                           \
    } while (0)

/* A field's value by key, NULL when absent or a number; num_r gets a
 * number field's value. */
const char *ph_event_str(const struct ph_event_field *fields, size_t n,
                         const char *key);
bool ph_event_num(const struct ph_event_field *fields, size_t n,
                  const char *key, int64_t *num_r);

/* Sinks run on the emitting thread, many at once: they must be quick and
 * thread-safe, and must not emit. Removing waits for calls in progress. */
typedef void ph_event_sink_fn(void *ctx, const char *mod, const char *name,
                              const struct ph_event_field *fields, size_t n);
void ph_event_sink_add(ph_event_sink_fn *fn, void *ctx);
void ph_event_sink_remove(ph_event_sink_fn *fn, void *ctx);

#endif
