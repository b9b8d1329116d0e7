/* SPDX-License-Identifier: MIT */
/* Small helpers of libposthorn: allocation, strings, buffers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/common.h>

static void *oom(size_t size)
{
    fprintf(stderr, "posthorn: out of memory allocating %zu bytes\n", size);
    abort();
}

void *ph_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    return p ? p : oom(size);
}

void *ph_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    return p ? p : oom(n * size);
}

void *ph_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    return q ? q : oom(size);
}

void ph_array_grow(void *arr_p, size_t *cap, size_t need, size_t elem_size)
{
    void **arr = arr_p;
    if (need <= *cap)
        return;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / elem_size)
            oom(SIZE_MAX);
        ncap *= 2;
    }
    *arr = ph_realloc(*arr, ncap * elem_size);
    *cap = ncap;
}

char *ph_strdup(const char *s)
{
    return ph_strndup(s, strlen(s));
}

char *ph_strndup(const char *s, size_t n)
{
    char *p = ph_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *ph_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        oom(0);
    va_end(ap);
    return s;
}

void ph_strlist_add_owned(struct ph_strlist *l, char *s)
{
    ph_array_grow(&l->v, &l->cap, l->n + 2, sizeof(char *));
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
}

void ph_strlist_add(struct ph_strlist *l, const char *s)
{
    ph_strlist_add_owned(l, ph_strdup(s));
}

void ph_strlist_clear(struct ph_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

bool ph_strlist_contains(const struct ph_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

void ph_buf_append(struct ph_buf *b, const void *data, size_t len)
{
    ph_array_grow(&b->data, &b->cap, b->len + len + 1, 1);
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void ph_buf_puts(struct ph_buf *b, const char *s)
{
    ph_buf_append(b, s, strlen(s));
}

void ph_buf_putc(struct ph_buf *b, char c)
{
    ph_buf_append(b, &c, 1);
}

void ph_buf_printf(struct ph_buf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    ph_array_grow(&b->data, &b->cap, b->len + (size_t)n + 1, 1);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void ph_buf_reset(struct ph_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ph_buf_free(struct ph_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *ph_buf_steal(struct ph_buf *b)
{
    char *s = b->data ? b->data : ph_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

bool ph_consttime_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const unsigned char *x = a, *y = b;
    unsigned char diff = alen != blen;
    /* Walk the longer-of-the-two length so time does not depend on where
     * the first difference is. */
    size_t n = alen > blen ? alen : blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char cx = i < alen ? x[i] : 0;
        unsigned char cy = i < blen ? y[i] : 0;
        diff |= cx ^ cy;
    }
    return diff == 0;
}
