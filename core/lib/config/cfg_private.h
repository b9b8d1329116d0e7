/* SPDX-License-Identifier: MIT */
/* The config parser's private layers: the lexer (bytes -> logical lines of
 * tokens) and the syntax pass (lines -> one file's tree of blocks, nothing
 * expanded). cfg.c expands macros, {env:VAR}, imports and snippets on top. */
#ifndef PH_CFG_PRIVATE_H
#define PH_CFG_PRIVATE_H

#include <stdarg.h>

#include <posthorn/config.h>

/* Every error of the config parser: "FILE:LINE: message", or "FILE: message"
 * when line is 0 (the file as a whole). Malloc'ed. */
char *cfg_error_vformat(const char *file, int line, const char *fmt, va_list ap)
    PH_PRINTF(3, 0);

struct cfg_token {
    char *text;
    int line;
    bool quoted; /* was written "..."; never a brace, a macro list or `\` */
};

/* One directive's tokens: a physical line, or several joined by `\`. */
struct cfg_line {
    struct cfg_token *toks;
    size_t ntoks, cap;
    int line; /* of the first token */
};

struct cfg_lexer {
    const char *begin, *p, *end;
    const char *file; /* for messages */
    int line;
    int eof_line; /* the last line that has content, set at the end */
};

void cfg_lexer_init(struct cfg_lexer *lx, const char *data, size_t len,
                    const char *file);
/* Reads the next logical line that has at least one token into *out (which
 * the caller then owns). Returns 1, 0 at the end of input, or -1 with
 * *error_r set to "FILE:LINE: message" (malloc'ed). */
int cfg_lexer_next(struct cfg_lexer *lx, struct cfg_line *out,
                   char **error_r) PH_WUR;
void cfg_tokens_free(struct cfg_token *toks, size_t n);

/* Is t the unquoted token c (a brace, `=`, `\`)? */
bool cfg_token_is(const struct cfg_token *t, const char *c);

/* A directive as written: braces matched, nothing expanded. */
struct cfg_raw {
    struct cfg_token *toks; /* toks[0] is the name; the braces are dropped */
    size_t ntoks;
    struct cfg_raw *children;
    size_t nchildren, cap;
    bool has_block;
    int line;
};

/* Parses one file into root's children. file names it in messages. Returns
 * 0, or -1 with *error_r set; root is always left for cfg_raw_free(). */
int cfg_raw_parse(const char *data, size_t len, const char *file,
                  struct cfg_raw *root, char **error_r) PH_WUR;
void cfg_raw_free(struct cfg_raw *raw);

#endif
