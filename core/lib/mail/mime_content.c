/* SPDX-License-Identifier: MIT */
/* Content-Type and Content-Disposition (RFC 2045 5.1, RFC 2183, RFC 2231). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message-private.h"

void mime_params_clear(struct mime_params *params)
{
    for (size_t i = 0; i < params->n; i++) {
        free(params->v[i].name);
        free(params->v[i].value);
    }
    free(params->v);
    memset(params, 0, sizeof(*params));
}

static void params_add(struct mime_params *params, char *name, char *value)
{
    ph_array_grow(&params->v, &params->cap, params->n + 1,
                  sizeof(params->v[0]));
    params->v[params->n].name = name;
    params->v[params->n].value = value;
    params->n++;
}

const char *mime_params_get(const struct mime_params *params, const char *name)
{
    for (size_t i = 0; i < params->n; i++)
        if (msg_ascii_eqz(params->v[i].name, strlen(params->v[i].name), name))
            return params->v[i].value;
    return NULL;
}

/* Skips to just after the next ';' outside quotes and comments. */
static void skip_to_semicolon(struct rfc822_lexer *lx)
{
    while (lx->p < lx->end) {
        rfc822_skip_cfws(lx);
        if (lx->p >= lx->end)
            break;
        if (*lx->p == ';') {
            lx->p++;
            return;
        }
        if (*lx->p == '"') {
            struct ph_buf junk = {0};
            rfc822_read_quoted(lx, &junk);
            ph_buf_free(&junk);
        } else {
            lx->p++;
        }
    }
}

/* An unquoted value, read tolerantly: a run up to ';', whitespace, a
 * comment or a quote. Strict RFC 2045 tokens stop at tspecials such as '='
 * and '/', but senders do write boundary=----=_Part_1 unquoted and mean the
 * whole run; cutting it would split the body at the wrong lines. */
static void read_loose_value(struct rfc822_lexer *lx, struct ph_buf *out)
{
    const char *start = lx->p;
    while (lx->p < lx->end) {
        unsigned char c = (unsigned char)*lx->p;
        if (c <= ' ' || c == 0x7f || c == ';' || c == '"' || c == '(')
            break;
        lx->p++;
    }
    ph_buf_append(out, start, (size_t)(lx->p - start));
}

static void parse_params(struct rfc822_lexer *lx, struct mime_params *params)
{
    while (lx->p < lx->end) {
        rfc822_skip_cfws(lx);
        if (lx->p >= lx->end)
            break;
        if (*lx->p == ';') {
            lx->p++;
            continue;
        }
        struct ph_buf name = {0}, value = {0};
        if (rfc822_read_atom(lx, MIME_TSPECIALS, &name) == 0) {
            skip_to_semicolon(lx);
            continue;
        }
        rfc822_skip_cfws(lx);
        if (lx->p >= lx->end || *lx->p != '=') {
            ph_buf_free(&name);
            skip_to_semicolon(lx);
            continue;
        }
        lx->p++;
        rfc822_skip_cfws(lx);
        if (lx->p < lx->end && *lx->p == '"')
            rfc822_read_quoted(lx, &value);
        else
            read_loose_value(lx, &value);
        params_add(params, ph_buf_steal(&name), ph_buf_steal(&value));
        skip_to_semicolon(lx);
    }
}

int mime_content_type_parse(const char *value, size_t len, char **type_r,
                            char **subtype_r, struct mime_params *params)
{
    struct rfc822_lexer lx;
    struct ph_buf type = {0}, subtype = {0};
    rfc822_lexer_init(&lx, value, len);
    rfc822_skip_cfws(&lx);
    size_t tlen = rfc822_read_atom(&lx, MIME_TSPECIALS, &type);
    rfc822_skip_cfws(&lx);
    if (tlen == 0 || lx.p >= lx.end || *lx.p != '/') {
        ph_buf_free(&type);
        return -1;
    }
    lx.p++;
    rfc822_skip_cfws(&lx);
    if (rfc822_read_atom(&lx, MIME_TSPECIALS, &subtype) == 0) {
        ph_buf_free(&type);
        return -1;
    }
    skip_to_semicolon(&lx);
    parse_params(&lx, params);
    mime_params_rfc2231_merge(params);
    *type_r = ph_buf_steal(&type);
    *subtype_r = ph_buf_steal(&subtype);
    return 0;
}

int mime_disposition_parse(const char *value, size_t len, char **type_r,
                           struct mime_params *params)
{
    struct rfc822_lexer lx;
    struct ph_buf type = {0};
    rfc822_lexer_init(&lx, value, len);
    rfc822_skip_cfws(&lx);
    if (rfc822_read_atom(&lx, MIME_TSPECIALS, &type) == 0)
        return -1;
    skip_to_semicolon(&lx);
    parse_params(&lx, params);
    mime_params_rfc2231_merge(params);
    *type_r = ph_buf_steal(&type);
    return 0;
}

/* ---- RFC 2231 continuations ---- */

struct segment {
    size_t index;     /* in params */
    size_t base_len;  /* name up to the first '*' */
    unsigned long nr; /* section number */
    bool extended;    /* name ends with '*': value is %-encoded */
    const char *name;
};

/* name*N or name*N*: a continuation segment. */
static bool parse_segment(const char *name, struct segment *seg)
{
    const char *star = strchr(name, '*');
    if (star == NULL || star == name || star[1] < '0' || star[1] > '9')
        return false;
    if (star[1] == '0' && star[2] >= '0' && star[2] <= '9')
        return false; /* no leading zeros (RFC 2231 3) */
    char *end;
    unsigned long nr = strtoul(star + 1, &end, 10);
    if (*end != '\0' && !(end[0] == '*' && end[1] == '\0'))
        return false;
    if (nr > 100000)
        return false;
    seg->base_len = (size_t)(star - name);
    seg->nr = nr;
    seg->extended = *end == '*';
    seg->name = name;
    return true;
}

static int segment_cmp(const void *a, const void *b)
{
    const struct segment *x = a, *y = b;
    size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
    for (size_t i = 0; i < n; i++) {
        int cx = msg_ascii_lower((unsigned char)x->name[i]);
        int cy = msg_ascii_lower((unsigned char)y->name[i]);
        if (cx != cy)
            return cx - cy;
    }
    if (x->base_len != y->base_len)
        return x->base_len < y->base_len ? -1 : 1;
    if (x->nr != y->nr)
        return x->nr < y->nr ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void append_pct_encoded(struct ph_buf *out, const char *s)
{
    /* RFC 2231 7: attribute-char is a token char except '*', '\'', '%'. */
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c > ' ' && c < 0x7f && strchr(MIME_TSPECIALS "*'%", c) == NULL)
            ph_buf_putc(out, (char)c);
        else
            ph_buf_printf(out, "%%%02X", c);
    }
}

void mime_params_rfc2231_merge(struct mime_params *params)
{
    size_t nseg = 0;
    struct segment *segs = NULL;
    for (size_t i = 0; i < params->n; i++) {
        struct segment s;
        if (!parse_segment(params->v[i].name, &s))
            continue;
        if (segs == NULL)
            segs = ph_malloc(sizeof(*segs) * params->n);
        s.index = i;
        segs[nseg++] = s;
    }
    if (nseg == 0)
        return;
    qsort(segs, nseg, sizeof(*segs), segment_cmp);

    /* Each group (same base name) becomes one parameter at the place of
     * its first segment; the other segments are dropped. */
    bool *drop = ph_calloc(params->n, sizeof(bool));
    for (size_t g = 0; g < nseg;) {
        size_t e = g + 1;
        while (e < nseg && segs[e].base_len == segs[g].base_len &&
               msg_ascii_eq(segs[e].name, segs[e].base_len, segs[g].name,
                            segs[g].base_len))
            e++;
        bool extended = false;
        size_t first = segs[g].index;
        for (size_t i = g; i < e; i++) {
            extended |= segs[i].extended;
            if (segs[i].index < first)
                first = segs[i].index;
        }
        struct ph_buf name = {0}, value = {0};
        ph_buf_append(&name, segs[g].name, segs[g].base_len);
        if (extended) {
            ph_buf_putc(&name, '*');
            if (!segs[g].extended)
                ph_buf_puts(&value, "''"); /* no charset, no language */
        }
        unsigned long prev_nr = ULONG_MAX;
        for (size_t i = g; i < e; i++) {
            if (segs[i].nr == prev_nr)
                continue; /* a duplicate section: the first one counts */
            prev_nr = segs[i].nr;
            const char *v = params->v[segs[i].index].value;
            if (extended && !segs[i].extended)
                append_pct_encoded(&value, v);
            else
                ph_buf_puts(&value, v);
            if (segs[i].index != first)
                drop[segs[i].index] = true;
        }
        free(params->v[first].name);
        free(params->v[first].value);
        params->v[first].name = ph_buf_steal(&name);
        params->v[first].value = ph_buf_steal(&value);
        g = e;
    }
    size_t o = 0;
    for (size_t i = 0; i < params->n; i++) {
        if (drop[i]) {
            free(params->v[i].name);
            free(params->v[i].value);
        } else {
            params->v[o++] = params->v[i];
        }
    }
    params->n = o;
    free(drop);
    free(segs);
}

char *mime_params_value(const struct mime_params *params, const char *name,
                        bool to_utf8, size_t *len_r)
{
    const char *v = mime_params_get(params, name);
    if (v != NULL) {
        *len_r = strlen(v);
        return ph_strdup(v);
    }
    char *ext = ph_strdup_printf("%s*", name);
    v = mime_params_get(params, ext);
    free(ext);
    if (v == NULL)
        return NULL;
    /* RFC 2231 4: charset'language'%XX...; a value without both quotes is
     * taken as the encoded text alone. */
    const char *q1 = strchr(v, '\''), *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    char *charset = q2 ? ph_strndup(v, (size_t)(q1 - v)) : NULL;
    const char *t = q2 ? q2 + 1 : v;
    struct ph_buf raw = {0};
    for (; *t != '\0'; t++) {
        if (t[0] == '%' && msg_hex_value((unsigned char)t[1]) >= 0 &&
            msg_hex_value((unsigned char)t[2]) >= 0) {
            ph_buf_putc(&raw, (char)(msg_hex_value((unsigned char)t[1]) * 16 +
                                     msg_hex_value((unsigned char)t[2])));
            t += 2;
        } else {
            ph_buf_putc(&raw, *t);
        }
    }
    struct charset_conv *conv = to_utf8 && charset != NULL && charset[0] != '\0'
                                    ? charset_conv_new(charset)
                                    : NULL;
    free(charset);
    if (conv == NULL) {
        *len_r = raw.len;
        return ph_buf_steal(&raw);
    }
    struct ph_buf out = {0};
    charset_conv_feed(conv, (const unsigned char *)(raw.data ? raw.data : ""),
                      raw.len, true, &out);
    charset_conv_free(&conv);
    ph_buf_free(&raw);
    *len_r = out.len;
    return ph_buf_steal(&out);
}
