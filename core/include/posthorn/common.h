/* SPDX-License-Identifier: MIT */
/* posthorn SDK: common macros and small helpers every module may use. */
#ifndef POSTHORN_COMMON_H
#define POSTHORN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Module ABI. The major changes when a struct or vtable in these headers
 * changes incompatibly; the minor when something is only added. */
#define PH_ABI_MAJOR 1
#define PH_ABI_MINOR 7

#if defined(__GNUC__)
#define PH_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define PH_WUR __attribute__((warn_unused_result))
#define PH_NORETURN __attribute__((noreturn))
#define PH_EXPORT __attribute__((visibility("default")))
#define PH_UNUSED __attribute__((unused))
#else
#define PH_PRINTF(fmt, args)
#define PH_WUR
#define PH_NORETURN
#define PH_EXPORT
#define PH_UNUSED
#endif

#define PH_N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* An always-on assertion for invariants: logs file:line and aborts. */
#define ph_assert(expr)                                                        \
    ((expr) ? (void)0 : ph_assert_fail(#expr, __FILE__, __LINE__, __func__))
PH_NORETURN void ph_assert_fail(const char *expr, const char *file, int line,
                                const char *func);

/* Allocation that never returns NULL: out of memory aborts the process. */
void *ph_malloc(size_t size);
void *ph_calloc(size_t n, size_t size);
void *ph_realloc(void *p, size_t size);
/* Grows *arr (of elem_size items) so that it holds at least need items. */
void ph_array_grow(void *arr_p, size_t *cap, size_t need, size_t elem_size);
char *ph_strdup(const char *s);
char *ph_strndup(const char *s, size_t n);
char *ph_strdup_printf(const char *fmt, ...) PH_PRINTF(1, 2);

/* A growable, NULL-terminated list of owned strings. */
struct ph_strlist {
    char **v;
    size_t n, cap;
};
void ph_strlist_add(struct ph_strlist *l, const char *s);
void ph_strlist_add_owned(struct ph_strlist *l, char *s);
void ph_strlist_clear(struct ph_strlist *l);
bool ph_strlist_contains(const struct ph_strlist *l, const char *s);

/* A growable byte buffer; data is always NUL-terminated for convenience. */
struct ph_buf {
    char *data;
    size_t len, cap;
};
void ph_buf_append(struct ph_buf *b, const void *data, size_t len);
void ph_buf_puts(struct ph_buf *b, const char *s);
void ph_buf_printf(struct ph_buf *b, const char *fmt, ...) PH_PRINTF(2, 3);
void ph_buf_putc(struct ph_buf *b, char c);
void ph_buf_reset(struct ph_buf *b);
void ph_buf_free(struct ph_buf *b);
/* Hands the data to the caller (NUL-terminated, never NULL) and empties b. */
char *ph_buf_steal(struct ph_buf *b);

/* Constant-time comparison of two byte strings of possibly unequal length. */
bool ph_consttime_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
