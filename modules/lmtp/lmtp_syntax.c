/* SPDX-License-Identifier: MIT */
/* LMTP's command lines and DATA stream. The grammar is RFC 5321 4.1 with
 * RFC 6531's UTF-8 additions, hand-written because no Debian library parses
 * SMTP's server side on its own. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <unistr.h>

#include "lmtp-syntax.h"

struct verb_name {
    const char *name;
    enum lmtp_verb verb;
};

static const struct verb_name verbs[] = {
    {"LHLO", LMTP_VERB_LHLO}, {"MAIL", LMTP_VERB_MAIL},
    {"RCPT", LMTP_VERB_RCPT}, {"DATA", LMTP_VERB_DATA},
    {"BDAT", LMTP_VERB_BDAT}, {"RSET", LMTP_VERB_RSET},
    {"NOOP", LMTP_VERB_NOOP}, {"QUIT", LMTP_VERB_QUIT},
    {"VRFY", LMTP_VERB_VRFY}, {"HELP", LMTP_VERB_HELP},
    {"STARTTLS", LMTP_VERB_STARTTLS},
};

/* The reading side of one line: p walks to end. */
struct cursor {
    const char *p, *end;
};

static int refuse(struct lmtp_refusal *ref, int code, const char *enhanced,
                  const char *text)
{
    ref->code = code;
    ref->enhanced = enhanced;
    ref->text = text;
    return -1;
}

static bool at_end(const struct cursor *c) { return c->p >= c->end; }

static bool is_alnum(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (ch >= '0' && ch <= '9');
}

/* RFC 5322 3.2.3 atext, with RFC 6531 3.3's UTF8-non-ascii (checked as
 * UTF-8 once the whole part is read). */
static bool is_atext(unsigned char ch)
{
    return is_alnum(ch) || ch >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~", ch);
}

/* Takes a case-insensitive literal word; true and moves past it. */
static bool take_word(struct cursor *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || strncasecmp(c->p, w, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool take_char(struct cursor *c, char ch)
{
    if (at_end(c) || *c->p != ch)
        return false;
    c->p++;
    return true;
}

/* One or more spaces: RFC 5321 wants one, but senders that pad are common
 * and the meaning is not in doubt. */
static bool take_spaces(struct cursor *c)
{
    if (!take_char(c, ' '))
        return false;
    while (take_char(c, ' '))
        ;
    return true;
}

/* Domain (RFC 5321 4.1.2) or, with allow_literal, an address-literal
 * (4.1.3). Labels may carry UTF-8 (RFC 6531 3.3's U-labels); *utf8 says
 * whether they did. Leaves c after the domain; NULL if malformed. */
static char *parse_domain(struct cursor *c, bool allow_literal, bool *utf8)
{
    const char *start = c->p;
    if (allow_literal && take_char(c, '[')) {
        while (!at_end(c) && *c->p != ']') {
            unsigned char ch = (unsigned char)*c->p;
            if (ch < 33 || ch > 126 || ch == '[' || ch == '\\')
                return NULL;
            c->p++;
        }
        if (!take_char(c, ']'))
            return NULL;
        size_t n = (size_t)(c->p - start) - 2;
        char tmp[LMTP_MAX_DOMAIN + 1];
        if (n == 0 || n > LMTP_MAX_DOMAIN)
            return NULL;
        memcpy(tmp, start + 1, n);
        tmp[n] = '\0';
        unsigned char addr[16];
        if (strncasecmp(tmp, "IPv6:", 5) == 0) {
            if (inet_pton(AF_INET6, tmp + 5, addr) != 1)
                return NULL;
        } else if (strchr(tmp, ':') == NULL) {
            if (inet_pton(AF_INET, tmp, addr) != 1)
                return NULL;
        } else {
            /* General-address-literal: Standardized-tag ":" 1*dcontent,
             * the tag an Ldh-str. */
            const char *colon = strchr(tmp, ':');
            if (colon == tmp || colon[1] == '\0' || colon[-1] == '-')
                return NULL;
            for (const char *q = tmp; q < colon; q++)
                if (!is_alnum((unsigned char)*q) && *q != '-')
                    return NULL;
        }
        return ph_strndup(start, (size_t)(c->p - start));
    }
    bool label_start = true;
    while (!at_end(c)) {
        unsigned char ch = (unsigned char)*c->p;
        if (is_alnum(ch) || ch >= 0x80) {
            if (ch >= 0x80)
                *utf8 = true;
            label_start = false;
        } else if (ch == '-') {
            if (label_start)
                return NULL;
        } else if (ch == '.') {
            if (label_start || c->p[-1] == '-')
                return NULL;
            label_start = true;
        } else {
            break;
        }
        c->p++;
    }
    size_t n = (size_t)(c->p - start);
    if (n == 0 || label_start || c->p[-1] == '-' || n > LMTP_MAX_DOMAIN)
        return NULL;
    if (*utf8 && u8_check((const uint8_t *)start, n) != NULL)
        return NULL;
    return ph_strndup(start, n);
}

/* Local-part = Dot-string / Quoted-string, unquoted into out. */
static bool parse_local(struct cursor *c, struct ph_buf *out, bool *utf8)
{
    if (take_char(c, '"')) {
        for (;;) {
            if (at_end(c))
                return false;
            unsigned char ch = (unsigned char)*c->p++;
            if (ch == '"')
                break;
            if (ch == '\\') {
                if (at_end(c))
                    return false;
                ch = (unsigned char)*c->p++;
                if (ch < 32 || ch > 126)
                    return false;
            } else if (ch < 32 || ch == 127) {
                return false;
            }
            if (ch >= 0x80)
                *utf8 = true;
            ph_buf_putc(out, (char)ch);
        }
    } else {
        bool atom_start = true;
        while (!at_end(c)) {
            unsigned char ch = (unsigned char)*c->p;
            if (ch == '.') {
                if (atom_start)
                    return false;
                atom_start = true;
            } else if (is_atext(ch)) {
                if (ch >= 0x80)
                    *utf8 = true;
                atom_start = false;
            } else {
                break;
            }
            ph_buf_putc(out, (char)ch);
            c->p++;
        }
        if (atom_start)
            return false;
    }
    if (out->len > LMTP_MAX_LOCAL_PART)
        return false;
    return !*utf8 || u8_check((const uint8_t *)out->data, out->len) == NULL;
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">", or "<>" when allow_null, or
 * "<Postmaster>" when allow_postmaster. */
static bool parse_path(struct cursor *c, struct lmtp_path *path,
                       bool allow_null, bool allow_postmaster)
{
    const char *start = c->p;
    if (!take_char(c, '<'))
        return false;
    if (allow_null && take_char(c, '>')) {
        path->null = true;
        return true;
    }
    if (allow_postmaster) {
        struct cursor save = *c;
        if (take_word(c, "Postmaster") && take_char(c, '>')) {
            path->postmaster = true;
            path->local = ph_strdup("Postmaster");
            return true;
        }
        *c = save;
    }
    /* A source route is accepted and ignored (RFC 5321 4.1.2, and C). */
    if (!at_end(c) && *c->p == '@') {
        do {
            bool u = false;
            if (!take_char(c, '@'))
                return false;
            char *d = parse_domain(c, false, &u);
            if (d == NULL)
                return false;
            free(d);
        } while (take_char(c, ','));
        if (!take_char(c, ':'))
            return false;
    }
    struct ph_buf local = {0};
    bool utf8 = false;
    if (!parse_local(c, &local, &utf8) || !take_char(c, '@')) {
        ph_buf_free(&local);
        return false;
    }
    path->local = ph_buf_steal(&local);
    path->domain = parse_domain(c, true, &utf8);
    path->utf8 = utf8;
    return path->domain != NULL && take_char(c, '>') &&
           c->p - start <= LMTP_MAX_PATH;
}

static bool parse_number(const char *s, size_t n, uint64_t *v)
{
    if (n == 0 || n > 19)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *v = x;
    return true;
}

/* Mail-parameters (RFC 5321 4.1.2): SIZE (RFC 1870), BODY (RFC 6152,
 * RFC 3030), SMTPUTF8 (RFC 6531); anything else is not implemented. */
static int parse_mail_params(struct cursor *c, struct lmtp_command *cmd,
                             struct lmtp_refusal *ref)
{
    while (take_spaces(c)) {
        if (at_end(c))
            break;
        const char *k = c->p;
        while (!at_end(c) && *c->p != ' ' && *c->p != '=')
            c->p++;
        size_t kn = (size_t)(c->p - k);
        const char *v = NULL;
        size_t vn = 0;
        if (take_char(c, '=')) {
            v = c->p;
            while (!at_end(c) && *c->p != ' ')
                c->p++;
            vn = (size_t)(c->p - v);
            if (vn == 0 || memchr(v, '=', vn) != NULL)
                return refuse(ref, 501, "5.5.4", "Malformed parameter");
        }
        if (kn == 0 || !is_alnum((unsigned char)k[0]))
            return refuse(ref, 501, "5.5.4", "Malformed parameter");
        for (size_t i = 0; i < kn; i++)
            if (!is_alnum((unsigned char)k[i]) && k[i] != '-')
                return refuse(ref, 501, "5.5.4", "Malformed parameter");
        if (kn == 4 && strncasecmp(k, "SIZE", 4) == 0) {
            if (cmd->has_size)
                return refuse(ref, 501, "5.5.4", "SIZE given twice");
            if (v == NULL || !parse_number(v, vn, &cmd->size))
                return refuse(ref, 501, "5.5.4", "SIZE needs a number");
            cmd->has_size = true;
        } else if (kn == 4 && strncasecmp(k, "BODY", 4) == 0) {
            if (cmd->body != LMTP_BODY_NONE)
                return refuse(ref, 501, "5.5.4", "BODY given twice");
            if (v != NULL && vn == 4 && strncasecmp(v, "7BIT", 4) == 0)
                cmd->body = LMTP_BODY_7BIT;
            else if (v != NULL && vn == 8 && strncasecmp(v, "8BITMIME", 8) == 0)
                cmd->body = LMTP_BODY_8BITMIME;
            else if (v != NULL && vn == 10 &&
                     strncasecmp(v, "BINARYMIME", 10) == 0)
                cmd->body = LMTP_BODY_BINARYMIME;
            else
                return refuse(ref, 501, "5.5.4",
                              "BODY is 7BIT, 8BITMIME or BINARYMIME");
        } else if (kn == 8 && strncasecmp(k, "SMTPUTF8", 8) == 0) {
            if (v != NULL || cmd->smtputf8)
                return refuse(ref, 501, "5.5.4", "SMTPUTF8 takes no value");
            cmd->smtputf8 = true;
        } else {
            return refuse(ref, 555, "5.5.4",
                          "MAIL FROM parameter not implemented");
        }
    }
    return at_end(c) ? 0 : refuse(ref, 501, "5.5.4", "Malformed parameter");
}

static int parse_mail(struct cursor *c, struct lmtp_command *cmd,
                      struct lmtp_refusal *ref)
{
    if (!take_char(c, ' ') || !take_word(c, "FROM:"))
        return refuse(ref, 501, "5.5.2", "Syntax: MAIL FROM:<address>");
    while (take_char(c, ' '))
        ;
    if (!parse_path(c, &cmd->path, true, false))
        return refuse(ref, 501, "5.1.7", "Bad sender address syntax");
    if (parse_mail_params(c, cmd, ref) < 0)
        return -1;
    /* RFC 6531 3.5: a non-ASCII sender without SMTPUTF8. */
    if (cmd->path.utf8 && !cmd->smtputf8)
        return refuse(ref, 550, "5.6.7",
                      "Non-ASCII address without SMTPUTF8");
    return 0;
}

static int parse_rcpt(struct cursor *c, struct lmtp_command *cmd,
                      struct lmtp_refusal *ref)
{
    if (!take_char(c, ' ') || !take_word(c, "TO:"))
        return refuse(ref, 501, "5.5.2", "Syntax: RCPT TO:<address>");
    while (take_char(c, ' '))
        ;
    if (!parse_path(c, &cmd->path, false, true))
        return refuse(ref, 501, "5.1.3", "Bad recipient address syntax");
    while (take_char(c, ' '))
        ;
    /* No RCPT parameter is offered (no DSN): RFC 5321 4.1.1.11. */
    if (!at_end(c))
        return refuse(ref, 555, "5.5.4", "RCPT TO parameter not implemented");
    return 0;
}

static int parse_bdat(struct cursor *c, struct lmtp_command *cmd,
                      struct lmtp_refusal *ref)
{
    /* bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ] (RFC 3030 2) */
    if (!take_char(c, ' '))
        return refuse(ref, 501, "5.5.4", "Syntax: BDAT size [LAST]");
    const char *n = c->p;
    while (!at_end(c) && *c->p != ' ')
        c->p++;
    if (!parse_number(n, (size_t)(c->p - n), &cmd->chunk))
        return refuse(ref, 501, "5.5.4", "Syntax: BDAT size [LAST]");
    if (take_char(c, ' ')) {
        if (!take_word(c, "LAST"))
            return refuse(ref, 501, "5.5.4", "Syntax: BDAT size [LAST]");
        cmd->last = true;
    }
    return at_end(c) ? 0 : refuse(ref, 501, "5.5.4", "Syntax: BDAT size [LAST]");
}

int lmtp_command_parse(const char *line, size_t len, struct lmtp_command *cmd,
                       struct lmtp_refusal *ref)
{
    memset(cmd, 0, sizeof(*cmd));
    if (len > LMTP_MAX_LINE - 2)
        return refuse(ref, 500, "5.5.2", "Line too long");
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 32 || ch == 127)
            return refuse(ref, 500, "5.5.2", "Control character in command");
    }
    struct cursor c = {line, line + len};
    const char *v = c.p;
    while (!at_end(&c) && *c.p != ' ')
        c.p++;
    size_t vn = (size_t)(c.p - v);
    for (size_t i = 0; i < PH_N_ELEMENTS(verbs); i++) {
        if (strlen(verbs[i].name) == vn &&
            strncasecmp(verbs[i].name, v, vn) == 0) {
            cmd->verb = verbs[i].verb;
            break;
        }
    }
    switch (cmd->verb) {
    case LMTP_VERB_UNKNOWN:
        if ((vn == 4 && (strncasecmp(v, "HELO", 4) == 0 ||
                         strncasecmp(v, "EHLO", 4) == 0)))
            return refuse(ref, 500, "5.5.1",
                          "This is LMTP: greet with LHLO (RFC 2033 4.1)");
        return refuse(ref, 500, "5.5.1", "Unknown command");
    case LMTP_VERB_LHLO: {
        bool utf8 = false;
        if (!take_spaces(&c))
            return refuse(ref, 501, "5.5.4", "Syntax: LHLO hostname");
        cmd->arg = parse_domain(&c, true, &utf8);
        while (take_char(&c, ' '))
            ;
        if (cmd->arg == NULL || !at_end(&c))
            return refuse(ref, 501, "5.5.4", "Syntax: LHLO hostname");
        return 0;
    }
    case LMTP_VERB_MAIL:
        return parse_mail(&c, cmd, ref);
    case LMTP_VERB_RCPT:
        return parse_rcpt(&c, cmd, ref);
    case LMTP_VERB_BDAT:
        return parse_bdat(&c, cmd, ref);
    case LMTP_VERB_VRFY:
        if (!take_spaces(&c) || at_end(&c))
            return refuse(ref, 501, "5.5.4", "Syntax: VRFY address");
        cmd->arg = ph_strndup(c.p, (size_t)(c.end - c.p));
        return 0;
    case LMTP_VERB_NOOP:
    case LMTP_VERB_HELP:
        /* "NOOP" [ SP String ], "HELP" [ SP String ]: the string is
         * ignored. */
        return 0;
    case LMTP_VERB_DATA:
    case LMTP_VERB_RSET:
    case LMTP_VERB_QUIT:
    case LMTP_VERB_STARTTLS:
        while (take_char(&c, ' '))
            ;
        return at_end(&c) ? 0
                          : refuse(ref, 501, "5.5.4", "No arguments allowed");
    }
    return refuse(ref, 500, "5.5.1", "Unknown command");
}

void lmtp_command_clear(struct lmtp_command *cmd)
{
    free(cmd->path.local);
    free(cmd->path.domain);
    free(cmd->arg);
    memset(cmd, 0, sizeof(*cmd));
}

char *lmtp_path_text(const struct lmtp_path *p)
{
    if (p->null || p->local == NULL)
        return ph_strdup("<>");
    struct ph_buf b = {0};
    ph_buf_putc(&b, '<');
    /* The least quoting (RFC 5321 4.1.2): a dot-atom stays bare. */
    bool bare = p->local[0] != '.' && p->local[0] != '\0';
    for (const char *s = p->local; bare && *s; s++)
        bare = (is_atext((unsigned char)*s) ||
                (*s == '.' && s[1] != '.' && s[1] != '\0'));
    if (bare) {
        ph_buf_puts(&b, p->local);
    } else {
        ph_buf_putc(&b, '"');
        for (const char *s = p->local; *s; s++) {
            if (*s == '"' || *s == '\\')
                ph_buf_putc(&b, '\\');
            ph_buf_putc(&b, *s);
        }
        ph_buf_putc(&b, '"');
    }
    if (p->domain != NULL) {
        ph_buf_putc(&b, '@');
        ph_buf_puts(&b, p->domain);
    }
    ph_buf_putc(&b, '>');
    return ph_buf_steal(&b);
}

/* DATA states: at a line's start, after a leading '.', after ".\r", inside
 * a line, after a '\r' inside a line. */
enum { D_BOL = 0, D_DOT, D_DOT_CR, D_MID, D_CR };

static void put_crlf(struct ph_buf *out) { ph_buf_append(out, "\r\n", 2); }

size_t lmtp_data_feed(struct lmtp_data *d, const char *in, size_t len,
                      struct ph_buf *out)
{
    size_t i = 0;
    while (i < len && !d->done) {
        char ch = in[i];
        switch (d->state) {
        case D_BOL:
            if (ch == '.') {
                d->state = D_DOT;
                i++;
                continue;
            }
            d->state = D_MID;
            continue; /* the same byte, as a line's content */
        case D_DOT:
            if (ch == '\r') {
                d->state = D_DOT_CR;
                i++;
            } else if (ch == '\n') {
                d->done = true; /* ".\n": the end, as a bare-LF sender means */
                i++;
            } else {
                d->state = D_MID; /* the dot was stuffing: dropped */
            }
            continue;
        case D_DOT_CR:
            if (ch == '\n') {
                d->done = true;
                i++;
                continue;
            }
            d->state = D_CR; /* "." then a bare CR: content after the dot */
            continue;
        case D_CR:
            if (ch == '\n') {
                put_crlf(out);
                d->state = D_BOL;
                i++;
                continue;
            }
            ph_buf_putc(out, '\r'); /* a bare CR stays as it was */
            d->state = D_MID;
            if (ch == '\r') {
                d->state = D_CR;
                i++;
            }
            continue;
        case D_MID: {
            /* Copy the run up to the next CR or LF at once. */
            size_t j = i;
            while (j < len && in[j] != '\r' && in[j] != '\n')
                j++;
            if (j > i)
                ph_buf_append(out, in + i, j - i);
            i = j;
            if (i < len) {
                if (in[i] == '\n') {
                    put_crlf(out); /* a bare LF ends a line as CRLF */
                    d->state = D_BOL;
                } else {
                    d->state = D_CR;
                }
                i++;
            }
            continue;
        }
        }
    }
    return i;
}
