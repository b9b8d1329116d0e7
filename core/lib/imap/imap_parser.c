/* SPDX-License-Identifier: MIT */
/* The IMAP command parser: an incremental state machine over single bytes
 * (see posthorn/imap-parser.h for the contract).
 *
 * States, for a command line `tag SP name [SP args] CRLF`:
 *
 *   START --tag char--> TAG --SP--> NAME_SP --atom char--> NAME
 *   START --CR/LF--> an empty line: an untagged error
 *   NAME --SP--> VALUE             NAME --CR/LF--> end of line
 *   VALUE --SP--> VALUE            (extra spaces are tolerated)
 *   VALUE --'('--> VALUE           (opens a list: a new level on the stack)
 *   VALUE/AFTER_VALUE --')'--> AFTER_VALUE (closes the innermost list)
 *   VALUE --'"'--> QUOTED --'\'--> QUOTED_ESC --'"' or '\'--> QUOTED
 *   QUOTED --'"'--> AFTER_VALUE
 *   VALUE --'~'--> TILDE --'{'--> LIT_DIGITS (literal8), else ATOM
 *   VALUE --'{'--> LIT_DIGITS --'+'--> LIT_PLUS --'}'--> LIT_CLOSE
 *   LIT_DIGITS --'}'--> LIT_CLOSE --CR--> LIT_CR --LF--> LIT_WAIT
 *   LIT_WAIT: the feed returns PH_IMAP_PARSE_LITERAL; the caller's decision
 *     moves on to LIT_DATA (buffer or stream), to START (a rejected
 *     synchronizing literal: the client never sends it) or to SKIP_LITERAL
 *     (a rejected non-synchronizing literal: discarded).
 *   LIT_DATA --size bytes--> AFTER_VALUE
 *   VALUE --token char--> ATOM --SP, ')', CR, LF--> AFTER_VALUE (re-reads
 *     the terminator)
 *   ATOM --'[' after BODY, BODY.PEEK, BINARY... in FETCH--> SECTION
 *   SECTION --'"'--> SECTION_QUOTED (--'\'--> SECTION_ESC) --'"'--> SECTION
 *   SECTION --']'--> SECTION_END --'<'--> PARTIAL --'>'--> AFTER_VALUE
 *   SECTION_END --SP, ')', CR, LF--> AFTER_VALUE (re-reads the terminator)
 *   AFTER_VALUE --SP--> VALUE
 *   any line state --CR--> CR --LF--> end of line: a complete command
 *     (back to START), or an error when a list is still open.
 *
 * An error reports PH_IMAP_PARSE_ERROR and goes to SKIP (or straight to
 * START when the failing byte was the LF that ended the command). SKIP
 * discards up to the end of the line; when that line ends with a
 * non-synchronizing literal header it discards the literal (SKIP_LITERAL)
 * and the following line too, since the client sent them as part of the
 * same command. A line ending in a synchronizing literal header ends the
 * command: the client waits for a continuation that never comes.
 *
 * Line mode: LINE collects bytes up to LF (LINE_SKIP after an overlong
 * line), then back to START.
 *
 * DEAD: after a fatal error; everything is discarded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/imap-parser.h>

enum state {
    S_START,
    S_TAG,
    S_NAME_SP,
    S_NAME,
    S_VALUE,
    S_AFTER_VALUE,
    S_ATOM,
    S_TILDE,
    S_SECTION,
    S_SECTION_QUOTED,
    S_SECTION_ESC,
    S_SECTION_END,
    S_PARTIAL,
    S_QUOTED,
    S_QUOTED_ESC,
    S_LIT_DIGITS,
    S_LIT_PLUS,
    S_LIT_CLOSE,
    S_LIT_CR,
    S_LIT_WAIT,
    S_LIT_DATA,
    S_CR,
    S_SKIP,
    S_SKIP_LITERAL,
    S_LINE,
    S_LINE_SKIP,
    S_DEAD,
};

/* What step() reports; EV_NONE: keep going. */
#define EV_NONE (-1)

/* Error texts, sent after "tag BAD ". */
#define E_TAG "Invalid tag"
#define E_TAG_LONG "Tag too long"
#define E_EMPTY "Empty command line"
#define E_NO_COMMAND "Missing command"
#define E_COMMAND "Invalid command name"
#define E_NUL "NUL byte in command"
#define E_CTL "Control character in command"
#define E_8BIT "8-bit character in atom"
#define E_ATOM "Invalid character in atom"
#define E_SPACE "Missing space between arguments"
#define E_RPAREN "Unexpected ')'"
#define E_LPAREN "Missing ')'"
#define E_DEPTH "Lists nested too deeply"
#define E_ARGS "Too many arguments"
#define E_LINE "Command line too long"
#define E_SIZE "Command too long"
#define E_QUOTED "Unterminated quoted string"
#define E_ESCAPE "Invalid escape in quoted string"
#define E_LIT_SIZE "Invalid literal size"
#define E_LIT_CRLF "Expected CRLF after literal size"
#define E_LIT8 "Binary literals are not supported"
#define E_LIT_LARGE "Literal too large"
#define E_SECTION "Unterminated section"
#define E_SECTION_CHAR "Invalid character in section"
#define E_AFTER_SECTION "Unexpected character after section"
#define E_PARTIAL "Invalid partial"
#define E_CR "CR not followed by LF"
#define E_LINE_MODE "Line too long"

/* The command's memory: blocks that never move, freed together. */
struct arena_block {
    struct arena_block *next;
    size_t size, used;
    /* Aligned for struct ph_imap_value. */
    _Alignas(max_align_t) char data[];
};

#define ARENA_BLOCK 4096

/* One open list (level 0: the command's arguments). */
struct level {
    struct ph_imap_value *items;
    size_t n, cap;
};

enum literal_mode { LIT_BUFFER, LIT_STREAM };

struct ph_imap_parser {
    struct ph_imap_parser_limits limits;
    enum state state;
    /* After an event that ended a command: clear it at the next feed. */
    bool clear_pending;

    struct arena_block *arena;
    struct ph_buf tok; /* the token being read (tag, name, atom, string) */
    char *tag, *name;
    size_t line_len; /* bytes of this line, CR and LF not counted */
    size_t cmd_size; /* bytes held for this command */
    size_t n_values;
    bool lf_pending; /* line mode: a CR waits for its LF */

    struct level *levels;
    size_t depth, levels_cap;

    /* Section and partial of an atom. */
    unsigned partial_state;

    /* Literal header and data. */
    uint64_t lit_size, lit_left;
    bool lit_sync, lit8, lit_overflow;
    unsigned lit_digits;
    enum literal_mode lit_mode;
    char *lit_data;
    ph_imap_literal_sink *sink;
    void *sink_context;
    struct ph_imap_literal literal;

    /* SKIP: does the line end with a literal header? */
    unsigned tail_state;
    uint64_t tail_size;
    bool tail_plus, tail_overflow;

    struct ph_imap_command command;
    struct ph_imap_parse_error error;
    char error_text[96];
};

/* ---- Character classes (RFC 3501 section 9) ----------------------------- */

static bool is_8bit(unsigned char c)
{
    return c >= 0x80;
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Characters of the parser's atom-like token: CHAR except SP, CTL, "(",
 * ")", "{" and DQUOTE. Wildcards, "\" and "]" are in, for sequence sets,
 * flags and list-mailbox; the getters check the precise shapes. */
static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '"';
}

/* ATOM-CHAR. */
static bool is_atom_char(unsigned char c)
{
    return is_token_char(c) && c != '%' && c != '*' && c != '\\' && c != ']';
}

static bool is_astring_char(unsigned char c)
{
    return is_atom_char(c) || c == ']';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool is_tag_char(unsigned char c)
{
    return is_astring_char(c) && c != '+';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* ---- Memory ------------------------------------------------------------- */

static void *arena_alloc(struct ph_imap_parser *p, size_t size)
{
    size = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    struct arena_block *b = p->arena;
    if (b == NULL || b->size - b->used < size) {
        size_t bsize = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        struct arena_block *nb = ph_malloc(sizeof(*nb) + bsize);
        nb->size = bsize;
        nb->used = 0;
        if (b != NULL && size > ARENA_BLOCK) {
            /* A big one-off: keep the current block for small ones. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            p->arena = nb;
        }
        b = nb;
    }
    void *r = b->data + b->used;
    b->used += size;
    return r;
}

static char *arena_strndup(struct ph_imap_parser *p, const char *s, size_t n)
{
    char *r = arena_alloc(p, n + 1);
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

/* Frees what the last command used, keeping one block for the next. */
static void command_clear(struct ph_imap_parser *p)
{
    struct arena_block *b = p->arena;
    if (b != NULL) {
        struct arena_block *next = b->next;
        if (b->size > ARENA_BLOCK) {
            free(b);
            p->arena = NULL;
        } else {
            b->used = 0;
            b->next = NULL;
        }
        while (next != NULL) {
            struct arena_block *n = next->next;
            free(next);
            next = n;
        }
    }
    if (p->tok.cap > ARENA_BLOCK)
        ph_buf_free(&p->tok);
    else
        ph_buf_reset(&p->tok);
    for (size_t i = 0; i < p->levels_cap; i++) {
        if (p->levels[i].cap > 64) {
            free(p->levels[i].items);
            p->levels[i].items = NULL;
            p->levels[i].cap = 0;
        }
        p->levels[i].n = 0;
    }
    p->depth = 0;
    p->tag = p->name = NULL;
    p->line_len = p->cmd_size = p->n_values = 0;
    p->lit_data = NULL;
    p->sink = NULL;
    p->sink_context = NULL;
    memset(&p->command, 0, sizeof(p->command));
    memset(&p->literal, 0, sizeof(p->literal));
    memset(&p->error, 0, sizeof(p->error));
    p->clear_pending = false;
}

/* ---- Errors ------------------------------------------------------------- */

static void tail_reset(struct ph_imap_parser *p)
{
    p->tail_state = 0;
    p->tail_size = 0;
    p->tail_plus = p->tail_overflow = false;
}

/* SKIP's look-out for a literal header at the end of the line:
 * 0 nothing, 1 after '{', 2 digits, 3 after '+', 4 after '}', 5 after CR. */
static void tail_feed(struct ph_imap_parser *p, unsigned char c)
{
    switch (p->tail_state) {
    case 1:
    case 2:
        if (is_digit(c)) {
            if (p->tail_size > (UINT64_MAX - 9) / 10)
                p->tail_overflow = true;
            p->tail_size = p->tail_size * 10 + (c - '0');
            p->tail_state = 2;
            return;
        }
        if (p->tail_state == 2 && c == '+') {
            p->tail_plus = true;
            p->tail_state = 3;
            return;
        }
        if (p->tail_state == 2 && c == '}') {
            p->tail_state = 4;
            return;
        }
        break;
    case 3:
        if (c == '}') {
            p->tail_state = 4;
            return;
        }
        break;
    case 4:
        if (c == '\r') {
            p->tail_state = 5;
            return;
        }
        break;
    default: break;
    }
    tail_reset(p);
    if (c == '{')
        p->tail_state = 1;
}

static void set_error(struct ph_imap_parser *p, const char *text, bool tagged)
{
    p->error.tag = tagged ? p->tag : NULL;
    p->error.text = text;
    p->error.fatal = false;
    p->clear_pending = true;
}

/* Fails the command at byte c (already taken): the command has ended when
 * c is its LF, otherwise the rest of it is skipped. */
static int fail_at(struct ph_imap_parser *p, unsigned char c, const char *text,
                   bool tagged)
{
    set_error(p, text, tagged);
    tail_reset(p);
    if (c == '\n') {
        p->state = S_START;
    } else {
        p->state = S_SKIP;
        tail_feed(p, c);
    }
    return PH_IMAP_PARSE_ERROR;
}

static int fail(struct ph_imap_parser *p, unsigned char c, const char *text)
{
    return fail_at(p, c, text, p->tag != NULL);
}

/* Ends the command at a literal that will not be read into it: a
 * synchronizing one is never sent, a non-synchronizing one is discarded
 * with the rest of the command. */
static void drop_literal(struct ph_imap_parser *p)
{
    tail_reset(p);
    if (p->lit_sync) {
        p->state = S_START;
    } else {
        p->lit_left = p->lit_size;
        p->state = p->lit_left > 0 ? S_SKIP_LITERAL : S_SKIP;
    }
}

static int fail_literal(struct ph_imap_parser *p, const char *text)
{
    set_error(p, text, true);
    if (p->lit_overflow && !p->lit_sync) {
        /* The client sends more bytes than we can count. */
        p->error.fatal = true;
        p->state = S_DEAD;
    } else {
        drop_literal(p);
    }
    return PH_IMAP_PARSE_ERROR;
}

/* ---- Values ------------------------------------------------------------- */

static struct ph_imap_value *add_value(struct ph_imap_parser *p)
{
    struct level *lv = &p->levels[p->depth];
    ph_array_grow(&lv->items, &lv->cap, lv->n + 1, sizeof(*lv->items));
    struct ph_imap_value *v = &lv->items[lv->n++];
    memset(v, 0, sizeof(*v));
    return v;
}

/* Counts a new value against max_args. */
static bool count_value(struct ph_imap_parser *p)
{
    return ++p->n_values <= p->limits.max_args;
}

static bool charge(struct ph_imap_parser *p, size_t bytes)
{
    if (bytes > p->limits.max_command_size - p->cmd_size)
        return false;
    p->cmd_size += bytes;
    return true;
}

static int finish_token(struct ph_imap_parser *p, unsigned char c,
                        enum ph_imap_value_type type)
{
    if (!charge(p, p->tok.len + 1 + sizeof(struct ph_imap_value)))
        return fail(p, c, E_SIZE);
    struct ph_imap_value *v = add_value(p);
    if (type == PH_IMAP_VALUE_ATOM && p->tok.len == 3 &&
        strncasecmp(p->tok.data, "NIL", 3) == 0)
        type = PH_IMAP_VALUE_NIL;
    v->type = type;
    v->len = p->tok.len;
    v->str = arena_strndup(p, p->tok.len ? p->tok.data : "", p->tok.len);
    ph_buf_reset(&p->tok);
    return EV_NONE;
}

static int open_list(struct ph_imap_parser *p, unsigned char c)
{
    if (p->depth >= p->limits.max_depth)
        return fail(p, c, E_DEPTH);
    if (!charge(p, sizeof(struct ph_imap_value)))
        return fail(p, c, E_SIZE);
    p->depth++;
    size_t old_cap = p->levels_cap;
    ph_array_grow(&p->levels, &p->levels_cap, p->depth + 1, sizeof(*p->levels));
    memset(p->levels + old_cap, 0,
           (p->levels_cap - old_cap) * sizeof(*p->levels));
    return EV_NONE;
}

static int close_list(struct ph_imap_parser *p, unsigned char c)
{
    if (p->depth == 0)
        return fail(p, c, E_RPAREN);
    struct level *lv = &p->levels[p->depth];
    struct ph_imap_value *items = NULL;
    if (lv->n > 0) {
        items = arena_alloc(p, lv->n * sizeof(*items));
        memcpy(items, lv->items, lv->n * sizeof(*items));
    }
    size_t n = lv->n;
    lv->n = 0;
    p->depth--;
    struct ph_imap_value *v = add_value(p);
    v->type = PH_IMAP_VALUE_LIST;
    v->len = n;
    v->list = items;
    return EV_NONE;
}

static int end_of_line(struct ph_imap_parser *p)
{
    p->state = S_START;
    /* RFC 3501 7.1.3: no command can be determined, an untagged BAD. */
    if (p->tag == NULL)
        return fail(p, '\n', E_EMPTY);
    if (p->name == NULL)
        return fail(p, '\n', E_NO_COMMAND);
    if (p->depth > 0)
        return fail(p, '\n', E_LPAREN);
    struct level *lv = &p->levels[0];
    struct ph_imap_value *args = NULL;
    if (lv->n > 0) {
        args = arena_alloc(p, lv->n * sizeof(*args));
        memcpy(args, lv->items, lv->n * sizeof(*args));
    }
    p->command.tag = p->tag;
    p->command.name = p->name;
    p->command.args = args;
    p->command.n_args = lv->n;
    lv->n = 0;
    p->clear_pending = true;
    return PH_IMAP_PARSE_COMMAND;
}

/* ---- Literals ----------------------------------------------------------- */

static int literal_header_done(struct ph_imap_parser *p)
{
    if (p->lit_overflow)
        return fail_literal(p, E_LIT_SIZE);
    if (p->lit8 && !p->limits.allow_literal8)
        return fail_literal(p, E_LIT8);
    p->literal.size = p->lit_size;
    p->literal.sync = p->lit_sync;
    p->literal.literal8 = p->lit8;
    p->literal.tag = p->tag;
    p->literal.name = p->name;
    p->literal.arg_index = p->levels[0].n;
    p->literal.depth = (unsigned)p->depth;
    p->state = S_LIT_WAIT;
    return PH_IMAP_PARSE_LITERAL;
}

static void literal_done(struct ph_imap_parser *p)
{
    struct ph_imap_value *v = add_value(p);
    v->literal8 = p->lit8;
    v->literal_size = p->lit_size;
    if (p->lit_mode == LIT_BUFFER) {
        v->type = PH_IMAP_VALUE_LITERAL;
        v->len = (size_t)p->lit_size;
        v->str = p->lit_data;
    } else {
        v->type = PH_IMAP_VALUE_LITERAL_STREAMED;
        p->sink(p->sink_context, NULL, 0);
    }
    p->lit_data = NULL;
    p->line_len = 0;
    p->state = S_AFTER_VALUE;
}

int ph_imap_parser_literal_accept(struct ph_imap_parser *p,
                                  const char **error_r)
{
    ph_assert(p->state == S_LIT_WAIT);
    if (p->lit_size > p->limits.max_literal_size ||
        p->lit_size + 1 + sizeof(struct ph_imap_value) >
            p->limits.max_command_size - p->cmd_size) {
        snprintf(p->error_text, sizeof(p->error_text),
                 "%s (%llu bytes, at most %llu)", E_LIT_LARGE,
                 (unsigned long long)p->lit_size,
                 (unsigned long long)(p->lit_size > p->limits.max_literal_size
                                          ? p->limits.max_literal_size
                                          : p->limits.max_command_size -
                                                p->cmd_size));
        *error_r = p->error_text;
        return -1;
    }
    p->cmd_size += (size_t)p->lit_size + 1 + sizeof(struct ph_imap_value);
    p->lit_mode = LIT_BUFFER;
    p->lit_data = arena_alloc(p, (size_t)p->lit_size + 1);
    p->lit_data[p->lit_size] = '\0';
    p->lit_left = p->lit_size;
    p->state = S_LIT_DATA;
    if (p->lit_left == 0)
        literal_done(p);
    return 0;
}

void ph_imap_parser_literal_stream(struct ph_imap_parser *p,
                                   ph_imap_literal_sink *sink, void *context)
{
    ph_assert(p->state == S_LIT_WAIT && sink != NULL);
    p->lit_mode = LIT_STREAM;
    p->sink = sink;
    p->sink_context = context;
    p->lit_left = p->lit_size;
    p->state = S_LIT_DATA;
    if (p->lit_left == 0)
        literal_done(p);
}

void ph_imap_parser_literal_reject(struct ph_imap_parser *p)
{
    ph_assert(p->state == S_LIT_WAIT);
    /* The caller answers the command: nothing more is reported for it. */
    p->clear_pending = true;
    drop_literal(p);
}

const struct ph_imap_literal *
ph_imap_parser_literal(const struct ph_imap_parser *p)
{
    return &p->literal;
}

const struct ph_imap_value *
ph_imap_parser_literal_args(const struct ph_imap_parser *p, size_t *n_r)
{
    ph_assert(p->state == S_LIT_WAIT);
    *n_r = p->literal.arg_index;
    return p->levels[0].items;
}

const struct ph_imap_value *
ph_imap_parser_literal_list(const struct ph_imap_parser *p, size_t *n_r)
{
    ph_assert(p->state == S_LIT_WAIT);
    *n_r = p->levels[p->depth].n;
    return p->levels[p->depth].items;
}

/* ---- The byte-level state machine --------------------------------------- */

/* Sections belong to FETCH's grammar alone (fetch-att, RFC 3501 9; RFC
 * 3516 BINARY): elsewhere "BODY[x" is an atom of ASTRING-CHARs, a mailbox
 * name that may be followed by more arguments ("STATUS BODY[x (UNSEEN)"). */
static bool in_fetch(const struct ph_imap_parser *p)
{
    if (p->name == NULL)
        return false;
    if (strcasecmp(p->name, "FETCH") == 0)
        return true;
    const struct level *lv = &p->levels[0];
    return strcasecmp(p->name, "UID") == 0 && lv->n > 0 &&
           lv->items[0].type == PH_IMAP_VALUE_ATOM &&
           strcasecmp(lv->items[0].str, "FETCH") == 0;
}

static bool is_section_prefix(const struct ph_buf *tok)
{
    static const char *const names[] = {"BODY", "BODY.PEEK", "BINARY",
                                        "BINARY.PEEK", "BINARY.SIZE"};
    for (size_t i = 0; i < PH_N_ELEMENTS(names); i++) {
        if (tok->len == strlen(names[i]) &&
            strncasecmp(tok->data, names[i], tok->len) == 0)
            return true;
    }
    return false;
}

static int step(struct ph_imap_parser *p, unsigned char c);

/* Ends the atom being read and reads its terminator c again. */
static int end_atom(struct ph_imap_parser *p, unsigned char c)
{
    int ev = finish_token(p, c, PH_IMAP_VALUE_ATOM);
    if (ev != EV_NONE)
        return ev;
    p->state = S_AFTER_VALUE;
    return step(p, c);
}

/* The bytes every state of a command line rejects the same way. */
static int bad_byte(struct ph_imap_parser *p, unsigned char c)
{
    if (c == '\0')
        return fail(p, c, E_NUL);
    if (is_ctl(c))
        return fail(p, c, E_CTL);
    return fail(p, c, E_8BIT);
}

static int step_value(struct ph_imap_parser *p, unsigned char c)
{
    switch (c) {
    case ' ': return EV_NONE;
    case '(':
        if (!count_value(p))
            return fail(p, c, E_ARGS);
        return open_list(p, c);
    case ')': return close_list(p, c);
    case '\r': p->state = S_CR; return EV_NONE;
    case '\n': return end_of_line(p);
    case '"':
        if (!count_value(p))
            return fail(p, c, E_ARGS);
        p->state = S_QUOTED;
        return EV_NONE;
    case '{':
    case '~':
        if (!count_value(p))
            return fail(p, c, E_ARGS);
        p->lit8 = c == '~';
        p->lit_sync = true;
        p->lit_overflow = false;
        p->lit_size = 0;
        p->lit_digits = 0;
        if (c == '~') {
            ph_buf_putc(&p->tok, '~');
            p->state = S_TILDE;
        } else {
            p->state = S_LIT_DIGITS;
        }
        return EV_NONE;
    default:
        if (!is_token_char(c))
            return bad_byte(p, c);
        if (!count_value(p))
            return fail(p, c, E_ARGS);
        ph_buf_putc(&p->tok, (char)c);
        p->state = S_ATOM;
        return EV_NONE;
    }
}

static int step_literal_header(struct ph_imap_parser *p, unsigned char c)
{
    switch (p->state) {
    case S_LIT_DIGITS:
        if (is_digit(c)) {
            if (p->lit_size > (UINT64_MAX - 9) / 10)
                p->lit_overflow = true;
            p->lit_size = p->lit_size * 10 + (c - '0');
            p->lit_digits++;
            return EV_NONE;
        }
        if (p->lit_digits > 0 && c == '+') {
            p->lit_sync = false;
            p->state = S_LIT_PLUS;
            return EV_NONE;
        }
        if (p->lit_digits > 0 && c == '}') {
            p->state = S_LIT_CLOSE;
            return EV_NONE;
        }
        return fail(p, c, E_LIT_SIZE);
    case S_LIT_PLUS:
        if (c == '}') {
            p->state = S_LIT_CLOSE;
            return EV_NONE;
        }
        return fail(p, c, E_LIT_SIZE);
    case S_LIT_CLOSE:
        if (c == '\r') {
            p->state = S_LIT_CR;
            return EV_NONE;
        }
        if (c == '\n')
            return literal_header_done(p);
        return fail(p, c, E_LIT_CRLF);
    default: /* S_LIT_CR */
        if (c == '\n')
            return literal_header_done(p);
        return fail(p, c, E_CR);
    }
}

static int step_section(struct ph_imap_parser *p, unsigned char c)
{
    switch (p->state) {
    case S_SECTION:
        if (c == ']') {
            p->state = S_SECTION_END;
        } else if (c == '"') {
            p->state = S_SECTION_QUOTED;
        } else if (c == '\r' || c == '\n') {
            return fail(p, c, E_SECTION);
        } else if (c == '\0') {
            return fail(p, c, E_NUL);
        } else if (c < 0x20 || c >= 0x7f || c == '[' || c == '{') {
            return fail(p, c, E_SECTION_CHAR);
        }
        break;
    case S_SECTION_QUOTED:
    case S_SECTION_ESC:
        if (c == '\r' || c == '\n')
            return fail(p, c, E_QUOTED);
        if (c == '\0')
            return fail(p, c, E_NUL);
        if (c < 0x20 || c >= 0x7f)
            return fail(p, c, E_SECTION_CHAR);
        if (p->state == S_SECTION_ESC) {
            if (c != '"' && c != '\\')
                return fail(p, c, E_ESCAPE);
            p->state = S_SECTION_QUOTED;
        } else if (c == '\\') {
            p->state = S_SECTION_ESC;
        } else if (c == '"') {
            p->state = S_SECTION;
        }
        break;
    case S_SECTION_END:
        if (c == '<') {
            p->partial_state = 0;
            p->state = S_PARTIAL;
            break;
        }
        if (c == ' ' || c == ')' || c == '\r' || c == '\n')
            return end_atom(p, c);
        if (c == '\0')
            return fail(p, c, E_NUL);
        return fail(p, c, E_AFTER_SECTION);
    default: /* S_PARTIAL: <number[.nz-number]> */
        if (is_digit(c) && p->partial_state != 4) {
            if (p->partial_state == 0 || p->partial_state == 2)
                p->partial_state++;
        } else if (c == '.' && p->partial_state == 1) {
            p->partial_state = 2;
        } else if (c == '>' &&
                   (p->partial_state == 1 || p->partial_state == 3)) {
            p->partial_state = 4;
        } else if (p->partial_state == 4 &&
                   (c == ' ' || c == ')' || c == '\r' || c == '\n')) {
            return end_atom(p, c);
        } else if (c == '\0') {
            return fail(p, c, E_NUL);
        } else {
            return fail(p, c, E_PARTIAL);
        }
        break;
    }
    ph_buf_putc(&p->tok, (char)c);
    return EV_NONE;
}

static int line_done(struct ph_imap_parser *p)
{
    p->state = S_START;
    p->clear_pending = true;
    return PH_IMAP_PARSE_LINE;
}

static bool line_add(struct ph_imap_parser *p, unsigned char c)
{
    if (p->tok.len >= p->limits.max_line_length)
        return false;
    ph_buf_putc(&p->tok, (char)c);
    return true;
}

/* The byte that made the line too long is never its LF. */
static int line_too_long(struct ph_imap_parser *p)
{
    set_error(p, E_LINE_MODE, false);
    p->state = S_LINE_SKIP;
    return PH_IMAP_PARSE_ERROR;
}

static int step(struct ph_imap_parser *p, unsigned char c)
{
    switch (p->state) {
    case S_START:
        if (c == '\r') {
            p->state = S_CR;
            return EV_NONE;
        }
        if (c == '\n')
            return end_of_line(p);
        if (c == '\0')
            return fail(p, c, E_NUL);
        if (!is_tag_char(c))
            return fail(p, c, E_TAG);
        ph_buf_putc(&p->tok, (char)c);
        p->state = S_TAG;
        return EV_NONE;

    case S_TAG:
        if (is_tag_char(c)) {
            if (p->tok.len >= p->limits.max_tag_length)
                return fail(p, c, E_TAG_LONG);
            ph_buf_putc(&p->tok, (char)c);
            return EV_NONE;
        }
        if (c != ' ' && c != '\r' && c != '\n')
            return fail(p, c, c == '\0' ? E_NUL : E_TAG);
        p->tag = arena_strndup(p, p->tok.data, p->tok.len);
        p->cmd_size += p->tok.len + 1;
        ph_buf_reset(&p->tok);
        p->state = S_NAME_SP;
        return c == ' ' ? EV_NONE : step(p, c);

    case S_NAME_SP:
    case S_NAME:
        if (is_atom_char(c)) {
            ph_buf_putc(&p->tok, (char)c);
            p->state = S_NAME;
            return EV_NONE;
        }
        if (c == ' ' && p->state == S_NAME_SP)
            return EV_NONE;
        if (c == ' ' || c == '\r' || c == '\n') {
            if (p->state == S_NAME) {
                p->name = arena_strndup(p, p->tok.data, p->tok.len);
                p->cmd_size += p->tok.len + 1;
                ph_buf_reset(&p->tok);
            }
            p->state = S_VALUE;
            return c == ' ' ? EV_NONE : step(p, c);
        }
        if (c == '\0')
            return fail(p, c, E_NUL);
        return fail(p, c, E_COMMAND);

    case S_VALUE: return step_value(p, c);

    case S_AFTER_VALUE:
        switch (c) {
        case ' ': p->state = S_VALUE; return EV_NONE;
        case ')': return close_list(p, c);
        case '\r': p->state = S_CR; return EV_NONE;
        case '\n': return end_of_line(p);
        case '\0': return fail(p, c, E_NUL);
        default: return fail(p, c, E_SPACE);
        }

    case S_TILDE:
        if (c == '{') {
            ph_buf_reset(&p->tok);
            p->state = S_LIT_DIGITS;
            return EV_NONE;
        }
        p->state = S_ATOM;
        return step(p, c);

    case S_ATOM:
        if (is_token_char(c)) {
            if (c == '[' && is_section_prefix(&p->tok) && in_fetch(p))
                p->state = S_SECTION;
            ph_buf_putc(&p->tok, (char)c);
            return EV_NONE;
        }
        if (c == ' ' || c == ')' || c == '\r' || c == '\n')
            return end_atom(p, c);
        if (c == '\0' || is_ctl(c) || is_8bit(c))
            return bad_byte(p, c);
        return fail(p, c, E_ATOM);

    case S_SECTION:
    case S_SECTION_QUOTED:
    case S_SECTION_ESC:
    case S_SECTION_END:
    case S_PARTIAL: return step_section(p, c);

    case S_QUOTED:
        if (c == '"') {
            int ev = finish_token(p, c, PH_IMAP_VALUE_STRING);
            if (ev == EV_NONE)
                p->state = S_AFTER_VALUE;
            return ev;
        }
        if (c == '\\') {
            p->state = S_QUOTED_ESC;
            return EV_NONE;
        }
        if (c == '\r' || c == '\n')
            return fail(p, c, E_QUOTED);
        if (c == '\0')
            return fail(p, c, E_NUL);
        ph_buf_putc(&p->tok, (char)c);
        return EV_NONE;

    case S_QUOTED_ESC:
        if (c == '"' || c == '\\') {
            ph_buf_putc(&p->tok, (char)c);
            p->state = S_QUOTED;
            return EV_NONE;
        }
        if (c == '\r' || c == '\n')
            return fail(p, c, E_QUOTED);
        if (c == '\0')
            return fail(p, c, E_NUL);
        return fail(p, c, E_ESCAPE);

    case S_LIT_DIGITS:
    case S_LIT_PLUS:
    case S_LIT_CLOSE:
    case S_LIT_CR: return step_literal_header(p, c);

    case S_CR:
        if (c == '\n')
            return end_of_line(p);
        return fail(p, c, E_CR);

    case S_SKIP:
        if (c != '\n') {
            tail_feed(p, c);
            return EV_NONE;
        }
        if (p->tail_state == 4 || p->tail_state == 5) {
            if (p->tail_plus && p->tail_overflow) {
                /* A literal too long to count: no way to find its end. */
                tail_reset(p);
                set_error(p, E_LIT_SIZE, false);
                p->error.fatal = true;
                p->state = S_DEAD;
                return PH_IMAP_PARSE_ERROR;
            } else if (p->tail_plus && p->tail_size > 0) {
                p->lit_left = p->tail_size;
                p->state = S_SKIP_LITERAL;
                tail_reset(p);
                return EV_NONE;
            } else if (p->tail_plus) {
                tail_reset(p);
                return EV_NONE; /* {0+}: the command goes on */
            } else {
                p->state = S_START;
            }
        } else {
            p->state = S_START;
        }
        tail_reset(p);
        return EV_NONE;

    case S_LINE:
        if (p->lf_pending) {
            p->lf_pending = false;
            if (c == '\n')
                return line_done(p);
            /* A CR inside the line: keep it. */
            if (!line_add(p, '\r'))
                return line_too_long(p);
        }
        if (c == '\n')
            return line_done(p);
        if (c == '\r') {
            p->lf_pending = true;
            return EV_NONE;
        }
        if (!line_add(p, c))
            return line_too_long(p);
        return EV_NONE;

    case S_LINE_SKIP:
        if (c == '\n')
            p->state = S_START;
        return EV_NONE;

    default: /* S_LIT_WAIT, S_LIT_DATA, S_SKIP_LITERAL, S_DEAD: not here */
        return EV_NONE;
    }
}

/* Does state s count toward the line length? */
static bool counts_line(enum state s)
{
    return s < S_LIT_WAIT || s == S_CR;
}

enum ph_imap_parse_event ph_imap_parser_feed(struct ph_imap_parser *p,
                                             const void *data, size_t len,
                                             size_t *used_r)
{
    const unsigned char *in = data;
    size_t i = 0;
    int ev = EV_NONE;

    if (p->clear_pending)
        command_clear(p);

    while (i < len && ev == EV_NONE) {
        switch (p->state) {
        case S_LIT_WAIT: {
            /* The caller did not decide: buffer what fits. */
            const char *error;
            if (ph_imap_parser_literal_accept(p, &error) < 0)
                ev = fail_literal(p, E_LIT_LARGE);
            continue;
        }
        case S_LIT_DATA:
        case S_SKIP_LITERAL: {
            size_t n = len - i;
            if ((uint64_t)n > p->lit_left)
                n = (size_t)p->lit_left;
            if (p->state == S_SKIP_LITERAL) {
                /* discarded */
            } else if (p->lit_mode == LIT_BUFFER) {
                memcpy(p->lit_data + (p->lit_size - p->lit_left), in + i, n);
            } else {
                p->sink(p->sink_context, in + i, n);
            }
            i += n;
            p->lit_left -= n;
            if (p->lit_left == 0) {
                if (p->state == S_SKIP_LITERAL) {
                    tail_reset(p);
                    p->state = S_SKIP;
                } else {
                    literal_done(p);
                }
            }
            continue;
        }
        case S_DEAD: i = len; continue;
        default: break;
        }
        unsigned char c = in[i++];
        if (counts_line(p->state) && c != '\r' && c != '\n' &&
            ++p->line_len > p->limits.max_line_length) {
            ev = fail(p, c, E_LINE);
            continue;
        }
        ev = step(p, c);
    }
    *used_r = i;
    return ev == EV_NONE ? PH_IMAP_PARSE_MORE : (enum ph_imap_parse_event)ev;
}

/* ---- The rest of the API ------------------------------------------------ */

void ph_imap_parser_limits_default(struct ph_imap_parser_limits *limits_r)
{
    memset(limits_r, 0, sizeof(*limits_r));
    limits_r->max_line_length = 64 * 1024;
    limits_r->max_literal_size = 64 * 1024;
    limits_r->max_command_size = 1024 * 1024;
    limits_r->max_depth = 64;
    limits_r->max_args = 10000;
    limits_r->max_tag_length = 128;
    limits_r->allow_literal8 = false;
}

struct ph_imap_parser *
ph_imap_parser_new(const struct ph_imap_parser_limits *limits)
{
    struct ph_imap_parser *p = ph_calloc(1, sizeof(*p));
    if (limits != NULL)
        p->limits = *limits;
    else
        ph_imap_parser_limits_default(&p->limits);
    if (p->limits.max_tag_length == 0)
        p->limits.max_tag_length = 1;
    ph_array_grow(&p->levels, &p->levels_cap, 1, sizeof(*p->levels));
    memset(p->levels, 0, p->levels_cap * sizeof(*p->levels));
    p->state = S_START;
    return p;
}

void ph_imap_parser_reset(struct ph_imap_parser *p)
{
    command_clear(p);
    p->state = S_START;
    p->lf_pending = false;
    tail_reset(p);
}

void ph_imap_parser_free(struct ph_imap_parser **pp)
{
    struct ph_imap_parser *p = *pp;
    if (p == NULL)
        return;
    command_clear(p);
    free(p->arena);
    ph_buf_free(&p->tok);
    for (size_t i = 0; i < p->levels_cap; i++)
        free(p->levels[i].items);
    free(p->levels);
    free(p);
    *pp = NULL;
}

bool ph_imap_parser_at_command_start(const struct ph_imap_parser *p)
{
    return p->state == S_START && (p->clear_pending || p->tag == NULL) &&
           p->tok.len == 0;
}

const struct ph_imap_command *
ph_imap_parser_command(const struct ph_imap_parser *p)
{
    return &p->command;
}

const struct ph_imap_parse_error *
ph_imap_parser_error(const struct ph_imap_parser *p)
{
    return &p->error;
}

void ph_imap_parser_line_mode(struct ph_imap_parser *p)
{
    ph_assert(p->state == S_START);
    p->lf_pending = false;
    p->state = S_LINE;
}

const char *ph_imap_parser_line(const struct ph_imap_parser *p, size_t *len_r)
{
    *len_r = p->tok.len;
    return p->tok.len ? p->tok.data : "";
}

/* ---- Getters ------------------------------------------------------------ */

static bool is_text(const struct ph_imap_value *v)
{
    return (v->type == PH_IMAP_VALUE_STRING ||
            v->type == PH_IMAP_VALUE_LITERAL) &&
           memchr(v->str, '\0', v->len) == NULL;
}

static bool all_chars(const struct ph_imap_value *v, bool (*ok)(unsigned char))
{
    if (v->len == 0)
        return false;
    for (size_t i = 0; i < v->len; i++) {
        if (!ok((unsigned char)v->str[i]))
            return false;
    }
    return true;
}

static bool is_list_char(unsigned char c)
{
    return is_astring_char(c) || c == '%' || c == '*';
}

bool ph_imap_value_is_atom(const struct ph_imap_value *v, const char *name)
{
    return v->type == PH_IMAP_VALUE_ATOM && strcasecmp(v->str, name) == 0;
}

bool ph_imap_value_get_atom(const struct ph_imap_value *v, const char **str_r)
{
    if (v->type != PH_IMAP_VALUE_ATOM && v->type != PH_IMAP_VALUE_NIL)
        return false;
    *str_r = v->str;
    return true;
}

bool ph_imap_value_get_astring(const struct ph_imap_value *v,
                               const char **str_r)
{
    if (v->type == PH_IMAP_VALUE_ATOM || v->type == PH_IMAP_VALUE_NIL) {
        if (!all_chars(v, is_astring_char))
            return false;
    } else if (!is_text(v)) {
        return false;
    }
    *str_r = v->str;
    return true;
}

bool ph_imap_value_get_string(const struct ph_imap_value *v, const char **str_r)
{
    if (!is_text(v))
        return false;
    *str_r = v->str;
    return true;
}

bool ph_imap_value_get_nstring(const struct ph_imap_value *v,
                               const char **str_r)
{
    if (v->type == PH_IMAP_VALUE_NIL) {
        *str_r = NULL;
        return true;
    }
    return ph_imap_value_get_string(v, str_r);
}

bool ph_imap_value_get_list_mailbox(const struct ph_imap_value *v,
                                    const char **str_r)
{
    if (v->type == PH_IMAP_VALUE_ATOM || v->type == PH_IMAP_VALUE_NIL) {
        if (!all_chars(v, is_list_char))
            return false;
    } else if (!is_text(v)) {
        return false;
    }
    *str_r = v->str;
    return true;
}

bool ph_imap_value_get_list(const struct ph_imap_value *v,
                            const struct ph_imap_value **items_r, size_t *n_r)
{
    if (v->type != PH_IMAP_VALUE_LIST)
        return false;
    *items_r = v->list;
    *n_r = v->len;
    return true;
}

bool ph_imap_value_get_number(const struct ph_imap_value *v, uint64_t max,
                              uint64_t *n_r)
{
    if (v->type != PH_IMAP_VALUE_ATOM || v->len == 0 ||
        (v->len > 1 && v->str[0] == '0'))
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->str[i];
        if (!is_digit(c) || (uint64_t)(c - '0') > max ||
            n > (max - (c - '0')) / 10)
            return false;
        n = n * 10 + (c - '0');
    }
    *n_r = n;
    return true;
}
