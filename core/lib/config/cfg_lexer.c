/* SPDX-License-Identifier: MIT */
/* Config lexer: splits a file into logical lines of whitespace-separated
 * tokens. Quoting, comments and `\` continuations end here; braces, macros
 * and {env:VAR} are only marked (quoted or not) for the layers above. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_private.h"

void cfg_lexer_init(struct cfg_lexer *lx, const char *data, size_t len,
                    const char *file)
{
    lx->begin = lx->p = data;
    lx->end = data + len;
    lx->file = file;
    lx->line = 1;
    lx->eof_line = 1;
}

void cfg_tokens_free(struct cfg_token *toks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(toks[i].text);
    free(toks);
}

bool cfg_token_is(const struct cfg_token *t, const char *c)
{
    return !t->quoted && strcmp(t->text, c) == 0;
}

static bool is_space(char c)
{
    /* '\r' is a space so that CRLF files read like LF ones. */
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

char *cfg_error_vformat(const char *file, int line, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    const char *text = msg ? msg : "out of memory";
    char *error = line > 0 ? ph_strdup_printf("%s:%d: %s", file, line, text)
                           : ph_strdup_printf("%s: %s", file, text);
    free(msg);
    return error;
}

PH_PRINTF(4, 5)
static int lex_fail(const struct cfg_lexer *lx, int line, char **error_r,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *error_r = cfg_error_vformat(lx->file, line, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads a "..." token; lx->p is on the opening quote. */
static int lex_quoted(struct cfg_lexer *lx, char **text_r, char **error_r)
{
    int line = lx->line;
    struct ph_buf b = {0};
    ph_buf_append(&b, "", 0);
    lx->p++;
    for (;;) {
        if (lx->p == lx->end || *lx->p == '\n') {
            ph_buf_free(&b);
            return lex_fail(lx, line, error_r, "unterminated quoted string");
        }
        char c = *lx->p;
        if (c == '\0') {
            ph_buf_free(&b);
            return lex_fail(lx, line, error_r, "unexpected NUL byte");
        }
        if (c == '"') {
            lx->p++;
            break;
        }
        if (c == '\\' && lx->p + 1 < lx->end &&
            (lx->p[1] == '"' || lx->p[1] == '\\')) {
            c = lx->p[1];
            lx->p++;
        }
        /* Any other backslash stays as written: regexps, Windows paths. */
        lx->p++;
        ph_buf_putc(&b, c);
        if (b.len > PH_CFG_MAX_TOKEN) {
            ph_buf_free(&b);
            return lex_fail(lx, line, error_r, "token longer than %d bytes",
                            PH_CFG_MAX_TOKEN);
        }
    }
    if (lx->p < lx->end && *lx->p != '\n' && !is_space(*lx->p)) {
        ph_buf_free(&b);
        return lex_fail(lx, line, error_r,
                        "a closing quote must be followed by a space");
    }
    *text_r = ph_buf_steal(&b);
    return 0;
}

static int lex_word(struct cfg_lexer *lx, char **text_r, char **error_r)
{
    const char *start = lx->p;
    while (lx->p < lx->end && *lx->p != '\n' && *lx->p != '\0' &&
           !is_space(*lx->p))
        lx->p++;
    size_t n = (size_t)(lx->p - start);
    if (n > PH_CFG_MAX_TOKEN)
        return lex_fail(lx, lx->line, error_r, "token longer than %d bytes",
                        PH_CFG_MAX_TOKEN);
    *text_r = ph_strndup(start, n);
    return 0;
}

/* A line whose last token is a bare `\` goes on with the next line. */
static bool drop_continuation(struct cfg_line *l)
{
    if (l->ntoks == 0 || !cfg_token_is(&l->toks[l->ntoks - 1], "\\"))
        return false;
    free(l->toks[--l->ntoks].text);
    return true;
}

int cfg_lexer_next(struct cfg_lexer *lx, struct cfg_line *out, char **error_r)
{
    struct cfg_line l = {0};
    for (;;) {
        while (lx->p < lx->end && is_space(*lx->p))
            lx->p++;
        if (lx->p == lx->end) {
            bool nl = lx->p > lx->begin && lx->p[-1] == '\n';
            lx->eof_line = nl && lx->line > 1 ? lx->line - 1 : lx->line;
            /* A `\` on the last line continues onto nothing. */
            drop_continuation(&l);
            break;
        }
        char c = *lx->p;
        if (c == '\0') {
            cfg_tokens_free(l.toks, l.ntoks);
            return lex_fail(lx, lx->line, error_r, "unexpected NUL byte");
        }
        if (c == '\n') {
            lx->p++;
            lx->line++;
            if (drop_continuation(&l) || l.ntoks == 0)
                continue;
            break;
        }
        if (c == '#') {
            while (lx->p < lx->end && *lx->p != '\n') {
                if (*lx->p == '\0') {
                    cfg_tokens_free(l.toks, l.ntoks);
                    return lex_fail(lx, lx->line, error_r,
                                    "unexpected NUL byte");
                }
                lx->p++;
            }
            continue;
        }
        struct cfg_token t = {.line = lx->line, .quoted = c == '"'};
        int r = t.quoted ? lex_quoted(lx, &t.text, error_r)
                         : lex_word(lx, &t.text, error_r);
        if (r < 0) {
            cfg_tokens_free(l.toks, l.ntoks);
            return -1;
        }
        if (l.ntoks == 0)
            l.line = t.line;
        ph_array_grow(&l.toks, &l.cap, l.ntoks + 1, sizeof(*l.toks));
        l.toks[l.ntoks++] = t;
    }
    if (l.ntoks == 0) {
        free(l.toks);
        return 0;
    }
    *out = l;
    return 1;
}
