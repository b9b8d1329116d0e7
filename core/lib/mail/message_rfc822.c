/* SPDX-License-Identifier: MIT */
/* Lexing of structured header fields (RFC 5322 3.2, RFC 2045 5.1). */
#include <string.h>

#include "message-private.h"

void rfc822_lexer_init(struct rfc822_lexer *lx, const char *s, size_t len)
{
    memset(lx, 0, sizeof(*lx));
    lx->p = s;
    lx->end = s + len;
}

void rfc822_lexer_clear(struct rfc822_lexer *lx)
{
    ph_buf_free(&lx->comments);
}

static void skip_comment(struct rfc822_lexer *lx)
{
    /* At '('. Comments nest (RFC 5322 3.2.2); an unterminated one runs
     * to the end. */
    unsigned depth = 0;
    const char *text = lx->p + 1;
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == '\\' && lx->p + 1 < lx->end) {
            lx->p += 2;
            continue;
        }
        lx->p++;
        if (c == '(')
            depth++;
        else if (c == ')' && --depth == 0)
            break;
    }
    if (lx->keep_comments) {
        size_t n = (size_t)(lx->p - text);
        if (depth == 0 && n > 0)
            n--; /* the closing parenthesis */
        if (lx->comments.len > 0)
            ph_buf_putc(&lx->comments, ' ');
        /* Unescape quoted-pairs; nested parentheses stay. */
        for (size_t i = 0; i < n; i++) {
            if (text[i] == '\\' && i + 1 < n)
                i++;
            ph_buf_putc(&lx->comments, text[i]);
        }
    }
}

void rfc822_skip_cfws(struct rfc822_lexer *lx)
{
    while (lx->p < lx->end) {
        unsigned char c = (unsigned char)*lx->p;
        if (msg_is_wsp(c) || c == '\r' || c == '\n')
            lx->p++;
        else if (c == '(')
            skip_comment(lx);
        else
            break;
    }
}

void rfc822_read_quoted(struct rfc822_lexer *lx, struct ph_buf *out)
{
    lx->p++; /* the opening quote */
    while (lx->p < lx->end) {
        char c = *lx->p++;
        if (c == '"')
            return;
        if (c == '\\' && lx->p < lx->end)
            c = *lx->p++;
        else if (c == '\r' || c == '\n')
            continue; /* folding inside the string */
        ph_buf_putc(out, c);
    }
}

size_t rfc822_read_atom(struct rfc822_lexer *lx, const char *specials,
                        struct ph_buf *out)
{
    const char *start = lx->p;
    while (lx->p < lx->end) {
        unsigned char c = (unsigned char)*lx->p;
        if (c <= ' ' || c == 0x7f || strchr(specials, c) != NULL)
            break;
        lx->p++;
    }
    size_t n = (size_t)(lx->p - start);
    if (out != NULL && n > 0)
        ph_buf_append(out, start, n);
    return n;
}
