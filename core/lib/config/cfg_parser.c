/* SPDX-License-Identifier: MIT */
/* Config syntax: logical lines -> a tree of blocks for one file.
 *
 * A block header ends with a bare `{`; its block ends with a line that holds
 * only `}`. On one line, `name { }` is an empty block and `name { d args }`
 * a block holding the single directive `d args` (the short form of
 * `auth pass_table static { entry USER HASH }`). Nothing else may share a
 * line with a brace, so that every error can say which line is wrong. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_private.h"

struct syntax {
    struct cfg_lexer lx;
    char **error_r;
};

PH_PRINTF(3, 4)
static int syntax_fail(struct syntax *sx, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *sx->error_r = cfg_error_vformat(sx->lx.file, line, fmt, ap);
    va_end(ap);
    return -1;
}

void cfg_raw_free(struct cfg_raw *raw)
{
    cfg_tokens_free(raw->toks, raw->ntoks);
    for (size_t i = 0; i < raw->nchildren; i++)
        cfg_raw_free(&raw->children[i]);
    free(raw->children);
    memset(raw, 0, sizeof(*raw));
}

/* Where the line opens a block: sets *open (`{` last), *empty (`{ }`
 * last) or *one (`{ d args }`: *brace is the index of `{`). Fails on any
 * other brace. */
static int find_braces(struct syntax *sx, const struct cfg_line *l, bool *open,
                       bool *empty, bool *one, size_t *brace)
{
    const struct cfg_token *t = l->toks;
    size_t n = l->ntoks;
    *open = *empty = *one = false;
    if (cfg_token_is(&t[0], "{"))
        return syntax_fail(sx, t[0].line,
                           "unexpected '{': a block needs a directive name "
                           "before it");
    for (size_t k = 1; k < n; k++) {
        if (cfg_token_is(&t[k], "}"))
            return syntax_fail(sx, t[k].line,
                               "'}' must be on a line of its own");
        if (!cfg_token_is(&t[k], "{"))
            continue;
        if (k == n - 1) {
            *open = true;
            return 0;
        }
        if (k == n - 2 && cfg_token_is(&t[n - 1], "}")) {
            *empty = true;
            return 0;
        }
        if (!cfg_token_is(&t[n - 1], "}"))
            return syntax_fail(sx, t[k].line,
                               "'{' must be the last token on the line");
        for (size_t j = k + 1; j < n - 1; j++)
            if (cfg_token_is(&t[j], "{") || cfg_token_is(&t[j], "}"))
                return syntax_fail(sx, t[j].line,
                                   "a block on one line holds one directive "
                                   "without braces");
        *one = true;
        *brace = k;
        return 0;
    }
    return 0;
}

/* Reads parent's children up to its closing `}` (or the end of the file for
 * the root, depth 0). */
static int parse_block(struct syntax *sx, struct cfg_raw *parent, int depth)
{
    for (;;) {
        struct cfg_line l;
        int r = cfg_lexer_next(&sx->lx, &l, sx->error_r);
        if (r < 0)
            return -1;
        if (r == 0) {
            if (depth == 0)
                return 0;
            return syntax_fail(sx, sx->lx.eof_line,
                               "block opened at %s:%d is not closed",
                               sx->lx.file, parent->line);
        }
        if (cfg_token_is(&l.toks[0], "}")) {
            int line = l.line;
            size_t n = l.ntoks;
            cfg_tokens_free(l.toks, l.ntoks);
            if (depth == 0)
                return syntax_fail(sx, line,
                                   "unexpected '}': no block is open");
            if (n > 1)
                return syntax_fail(sx, line,
                                   "'}' must be on a line of its own");
            return 0;
        }
        bool open, empty, one;
        size_t brace = 0;
        if (find_braces(sx, &l, &open, &empty, &one, &brace) < 0) {
            cfg_tokens_free(l.toks, l.ntoks);
            return -1;
        }
        struct cfg_raw inner = {0};
        if (one) {
            /* Move `d args` out into the block's only directive. */
            inner.ntoks = l.ntoks - brace - 2;
            inner.toks = ph_calloc(inner.ntoks, sizeof(*inner.toks));
            memcpy(inner.toks, &l.toks[brace + 1],
                   inner.ntoks * sizeof(*inner.toks));
            inner.line = inner.toks[0].line;
            free(l.toks[brace].text);
            free(l.toks[l.ntoks - 1].text);
            l.ntoks = brace + 2; /* what follows is moved or freed */
        }
        size_t keep = l.ntoks - (open ? 1 : empty || one ? 2 : 0);
        for (size_t i = keep; i < l.ntoks && !one; i++)
            free(l.toks[i].text);
        ph_array_grow(&parent->children, &parent->cap, parent->nchildren + 1,
                      sizeof(*parent->children));
        struct cfg_raw *child = &parent->children[parent->nchildren++];
        *child = (struct cfg_raw){
            .toks = l.toks,
            .ntoks = keep,
            .has_block = open || empty || one,
            .line = l.line,
        };
        if (one) {
            child->children = ph_calloc(1, sizeof(*child->children));
            child->children[0] = inner;
            child->nchildren = child->cap = 1;
        }
        if (child->has_block && depth >= PH_CFG_MAX_DEPTH)
            return syntax_fail(sx, child->line,
                               "blocks nested deeper than %d levels",
                               PH_CFG_MAX_DEPTH);
        if (open && parse_block(sx, child, depth + 1) < 0)
            return -1;
    }
}

int cfg_raw_parse(const char *data, size_t len, const char *file,
                  struct cfg_raw *root, char **error_r)
{
    struct syntax sx = {.error_r = error_r};
    cfg_lexer_init(&sx.lx, data, len, file);
    memset(root, 0, sizeof(*root));
    root->has_block = true;
    return parse_block(&sx, root, 0);
}
