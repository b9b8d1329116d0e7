/* SPDX-License-Identifier: MIT */
/* IMAP syntax for FETCH values: strings, ENVELOPE and its addresses
 * (RFC 3501 4.3, 7.4.2, 9). */
#include <string.h>

#include "message-private.h"

/* ---- Strings ---- */

static bool needs_literal(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
            return true;
    }
    return false;
}

void imap_append_nstring(struct ph_buf *out, const char *s, size_t len)
{
    if (s == NULL) {
        ph_buf_puts(out, "NIL");
        return;
    }
    if (needs_literal(s, len)) {
        ph_buf_printf(out, "{%zu}\r\n", len);
        size_t run = 0;
        for (size_t i = 0; i < len; i++) {
            if (s[i] == '\0') {
                ph_buf_append(out, s + run, i - run);
                ph_buf_putc(out, (char)0x80);
                run = i + 1;
            }
        }
        ph_buf_append(out, s + run, len - run);
        return;
    }
    ph_buf_putc(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            ph_buf_append(out, s + run, i - run);
            ph_buf_putc(out, '\\');
            run = i;
        }
    }
    ph_buf_append(out, s + run, len - run);
    ph_buf_putc(out, '"');
}

void imap_append_nstringz(struct ph_buf *out, const char *s)
{
    imap_append_nstring(out, s, s == NULL ? 0 : strlen(s));
}

void imap_append_nstring_unfold(struct ph_buf *out, const char *s, size_t len)
{
    if (s == NULL) {
        ph_buf_puts(out, "NIL");
        return;
    }
    struct ph_buf b = {0};
    message_header_unfold(s, len, &b);
    imap_append_nstring(out, b.data == NULL ? "" : b.data, b.len);
    ph_buf_free(&b);
}

/* ---- Validation of stored values ---- */

struct vcursor {
    const char *p, *end;
};

static bool value_valid(struct vcursor *c, unsigned depth);

static bool list_valid(struct vcursor *c, unsigned depth)
{
    c->p++; /* '(' */
    bool first = true;
    while (c->p < c->end && *c->p != ')') {
        /* Items are separated by one space; bodies in a multipart and
         * addresses in a list follow each other without one. */
        if (!first && *c->p == ' ')
            c->p++;
        if (!value_valid(c, depth + 1))
            return false;
        first = false;
    }
    if (c->p >= c->end)
        return false;
    c->p++;
    return true;
}

static bool value_valid(struct vcursor *c, unsigned depth)
{
    if (depth > 1000 || c->p >= c->end)
        return false;
    char ch = *c->p;
    if (ch == '(')
        return list_valid(c, depth);
    if (ch == '"') {
        for (c->p++; c->p < c->end; c->p++) {
            unsigned char q = (unsigned char)*c->p;
            if (q == '"') {
                c->p++;
                return true;
            }
            if (q == '\\') {
                if (++c->p >= c->end || (*c->p != '"' && *c->p != '\\'))
                    return false;
            } else if (q == '\0' || q == '\r' || q == '\n' || q >= 0x80) {
                return false;
            }
        }
        return false;
    }
    if (ch == '{') {
        uint64_t n = 0;
        const char *d = ++c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (n > UINT64_MAX / 16)
                return false;
            n = n * 10 + (uint64_t)(*c->p++ - '0');
        }
        if (c->p == d || (size_t)(c->end - c->p) < 3 || c->p[0] != '}' ||
            c->p[1] != '\r' || c->p[2] != '\n')
            return false;
        c->p += 3;
        if (n > (uint64_t)(c->end - c->p) || memchr(c->p, '\0', n) != NULL)
            return false;
        c->p += n;
        return true;
    }
    if (ch >= '0' && ch <= '9') {
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
        return true;
    }
    if ((size_t)(c->end - c->p) >= 3 && memcmp(c->p, "NIL", 3) == 0) {
        c->p += 3;
        return true;
    }
    return false;
}

bool imap_value_valid(const char *s, size_t len)
{
    struct vcursor c = {s, s + len};
    return value_valid(&c, 0) && c.p == c.end;
}

/* ---- Addresses (RFC 5322 3.4, with the obsolete syntax of 4.4) ---- */

struct addr {
    struct ph_buf name, route, mailbox, domain;
    bool has_name, has_route, has_mailbox, has_domain;
};

struct addr_writer {
    struct ph_buf *out;
    size_t count;
    /* Instead of IMAP: one search form per mailbox and group name. */
    struct ph_strlist *forms;
    /* Instead of IMAP: the first address, without placeholders. */
    struct message_address *first;
};

static void addr_clear(struct addr *a)
{
    ph_buf_free(&a->name);
    ph_buf_free(&a->route);
    ph_buf_free(&a->mailbox);
    ph_buf_free(&a->domain);
    memset(a, 0, sizeof(*a));
}

static void put_field(struct ph_buf *out, bool has, const struct ph_buf *b)
{
    if (has)
        imap_append_nstring(out, b->data == NULL ? "" : b->data, b->len);
    else
        ph_buf_puts(out, "NIL");
}

/* "Name <local@domain>", or what of it the address has, with the name's
 * encoded words decoded (RFC 2047) as SEARCH compares header values. */
static void emit_form(struct addr_writer *w, const struct addr *a)
{
    struct ph_buf f = {0};
    bool name = a->has_name && a->name.len > 0;
    bool addr = (a->has_mailbox && a->mailbox.len > 0) ||
                (a->has_domain && a->domain.len > 0);
    if (name)
        ph_rfc2047_decode(a->name.data, a->name.len, &f);
    if (name && addr)
        ph_buf_puts(&f, " <");
    if (a->has_mailbox && a->mailbox.len > 0)
        ph_buf_append(&f, a->mailbox.data, a->mailbox.len);
    if (a->has_domain && a->domain.len > 0) {
        ph_buf_putc(&f, '@');
        ph_buf_append(&f, a->domain.data, a->domain.len);
    }
    if (name && addr)
        ph_buf_putc(&f, '>');
    if (f.len > 0)
        ph_strlist_add_owned(w->forms, ph_buf_steal(&f));
    ph_buf_free(&f);
}

static void copy_field(struct ph_buf *to, bool *has_to, bool has,
                       const struct ph_buf *from)
{
    *has_to = has;
    if (has)
        ph_buf_append(to, from->data == NULL ? "" : from->data, from->len);
}

static void emit_raw(struct addr_writer *w, const struct addr *a)
{
    if (w->first != NULL) {
        if (w->count++ > 0)
            return;
        copy_field(&w->first->name, &w->first->has_name, a->has_name,
                   &a->name);
        copy_field(&w->first->mailbox, &w->first->has_mailbox,
                   a->has_mailbox, &a->mailbox);
        copy_field(&w->first->domain, &w->first->has_domain, a->has_domain,
                   &a->domain);
        return;
    }
    if (w->forms != NULL) {
        w->count++;
        emit_form(w, a);
        return;
    }
    ph_buf_puts(w->out, w->count++ == 0 ? "((" : "(");
    put_field(w->out, a->has_name, &a->name);
    ph_buf_putc(w->out, ' ');
    put_field(w->out, a->has_route, &a->route);
    ph_buf_putc(w->out, ' ');
    put_field(w->out, a->has_mailbox, &a->mailbox);
    ph_buf_putc(w->out, ' ');
    put_field(w->out, a->has_domain, &a->domain);
    ph_buf_putc(w->out, ')');
}

/* A mailbox. RFC 3501 gives no spelling for a missing part; a NIL host would
 * read as group syntax, so placeholders stand in (as Dovecot's do). */
static void emit_mailbox(struct addr_writer *w, struct addr *a)
{
    if (w->forms != NULL || w->first != NULL) {
        emit_raw(w, a);
        return;
    }
    if (a->has_name && a->name.len == 0)
        a->has_name = false;
    if (!a->has_mailbox || a->mailbox.len == 0) {
        a->has_mailbox = true;
        ph_buf_reset(&a->mailbox);
        ph_buf_puts(&a->mailbox, "MISSING_MAILBOX");
    }
    if (!a->has_domain || a->domain.len == 0) {
        a->has_domain = true;
        ph_buf_reset(&a->domain);
        ph_buf_puts(&a->domain, "MISSING_DOMAIN");
    }
    emit_raw(w, a);
}

/* Forgets comments collected during a lookahead that was undone. */
static void comments_truncate(struct rfc822_lexer *lx, size_t len)
{
    if (lx->comments.data != NULL) {
        lx->comments.len = len;
        lx->comments.data[len] = '\0';
    }
}

static bool at(struct rfc822_lexer *lx, char c)
{
    return lx->p < lx->end && *lx->p == c;
}

/* phrase = 1*word / obs-phrase (word *(word / "." / CFWS)): the words
 * joined by one space, quoted strings unquoted, comments dropped. Returns
 * the number of words. */
static size_t read_phrase(struct rfc822_lexer *lx, struct ph_buf *out)
{
    size_t words = 0;
    for (;;) {
        const char *before = lx->p;
        rfc822_skip_cfws(lx);
        /* Tokens keep one space where the field had whitespace or a
         * comment between them, none where they touched ("Q. Public",
         * "J.Doe"). */
        bool space = words > 0 && lx->p != before;
        if (lx->p >= lx->end)
            break;
        struct ph_buf w = {0};
        if (*lx->p == '"') {
            rfc822_read_quoted(lx, &w);
        } else if (*lx->p == '.' && words > 0) {
            /* obs-phrase: word *(word / "." / CFWS) */
            lx->p++;
            ph_buf_putc(&w, '.');
        } else if (rfc822_read_atom(lx, RFC822_SPECIALS, &w) == 0) {
            ph_buf_free(&w);
            break;
        }
        if (space)
            ph_buf_putc(out, ' ');
        ph_buf_append(out, w.data == NULL ? "" : w.data, w.len);
        ph_buf_free(&w);
        words++;
    }
    return words;
}

/* local-part = dot-atom / quoted-string / obs-local-part. Returns false
 * when there is none. */
static bool read_local_part(struct rfc822_lexer *lx, struct ph_buf *out)
{
    bool any = false;
    for (;;) {
        rfc822_skip_cfws(lx);
        if (at(lx, '"')) {
            rfc822_read_quoted(lx, out);
            any = true;
        } else if (rfc822_read_atom(lx, RFC822_SPECIALS, out) > 0) {
            any = true;
        } else {
            return any;
        }
        const char *save = lx->p;
        size_t csave = lx->comments.len;
        rfc822_skip_cfws(lx);
        if (!at(lx, '.')) {
            lx->p = save;
            comments_truncate(lx, csave);
            return true;
        }
        lx->p++;
        ph_buf_putc(out, '.');
    }
}

/* domain = dot-atom / domain-literal / obs-domain */
static void read_domain(struct rfc822_lexer *lx, struct ph_buf *out)
{
    for (;;) {
        rfc822_skip_cfws(lx);
        if (at(lx, '[')) {
            const char *start = lx->p;
            while (lx->p < lx->end && *lx->p != ']') {
                if (*lx->p == '\\' && lx->p + 1 < lx->end)
                    lx->p++;
                lx->p++;
            }
            if (lx->p < lx->end)
                lx->p++;
            for (const char *q = start; q < lx->p; q++)
                if (*q != '\r' && *q != '\n')
                    ph_buf_putc(out, *q);
        } else if (rfc822_read_atom(lx, RFC822_SPECIALS, out) == 0) {
            return;
        }
        const char *save = lx->p;
        size_t csave = lx->comments.len;
        rfc822_skip_cfws(lx);
        if (!at(lx, '.')) {
            lx->p = save;
            comments_truncate(lx, csave);
            return;
        }
        lx->p++;
        ph_buf_putc(out, '.');
    }
}

/* angle-addr = "<" [obs-route] addr-spec ">"; at '<'. false when the
 * closing '>' is not where it should be. */
static bool read_angle_addr(struct rfc822_lexer *lx, struct addr *a)
{
    lx->p++;
    rfc822_skip_cfws(lx);
    if (at(lx, '@')) {
        /* obs-route = obs-domain-list ":" */
        a->has_route = true;
        for (;;) {
            rfc822_skip_cfws(lx);
            if (at(lx, ',')) {
                lx->p++;
                continue;
            }
            if (!at(lx, '@'))
                break;
            lx->p++;
            if (a->route.len > 0)
                ph_buf_putc(&a->route, ',');
            ph_buf_putc(&a->route, '@');
            read_domain(lx, &a->route);
        }
        if (at(lx, ':'))
            lx->p++;
        rfc822_skip_cfws(lx);
    }
    if (!at(lx, '>')) {
        a->has_mailbox = read_local_part(lx, &a->mailbox);
        rfc822_skip_cfws(lx);
        if (at(lx, '@')) {
            lx->p++;
            a->has_domain = true;
            read_domain(lx, &a->domain);
        }
    }
    rfc822_skip_cfws(lx);
    if (!at(lx, '>'))
        return false;
    lx->p++;
    return true;
}

/* One mailbox (name-addr / addr-spec). Returns false on a syntax error
 * after which the rest of the list cannot be trusted. */
static bool parse_mailbox(struct rfc822_lexer *lx, struct addr_writer *w)
{
    struct addr a = {0};
    const char *start = lx->p;
    bool ok = true;

    size_t words = read_phrase(lx, &a.name);
    rfc822_skip_cfws(lx);
    if (at(lx, '<')) {
        a.has_name = words > 0;
        ok = read_angle_addr(lx, &a);
        if (!ok && w->forms == NULL && w->first == NULL) {
            /* As Dovecot marks it: the address is unusable. */
            a.has_domain = true;
            ph_buf_reset(&a.domain);
            ph_buf_puts(&a.domain, "SYNTAX_ERROR");
        }
        emit_mailbox(w, &a);
        addr_clear(&a);
        return ok;
    }
    /* addr-spec, named by its trailing comment if any:
     * "user@example.com (Real Name)". */
    ph_buf_reset(&a.name);
    lx->p = start;
    ph_buf_reset(&lx->comments);
    lx->keep_comments = true;
    a.has_mailbox = read_local_part(lx, &a.mailbox);
    rfc822_skip_cfws(lx);
    if (at(lx, '@')) {
        lx->p++;
        a.has_domain = true;
        read_domain(lx, &a.domain);
        rfc822_skip_cfws(lx);
    } else if (lx->p < lx->end && strchr(RFC822_SPECIALS, *lx->p) == NULL) {
        /* More words: no address but a name ("Big Bug bb@bug.com"). */
        lx->keep_comments = false;
        lx->p = start;
        ph_buf_reset(&a.mailbox);
        a.has_mailbox = false;
        a.has_domain = false;
        read_phrase(lx, &a.name);
        a.has_name = true;
        ok = false;
    } else if (lx->p < lx->end && !at(lx, ',') && !at(lx, ';')) {
        ok = false; /* a mailbox followed by garbage */
    }
    lx->keep_comments = false;
    if (!a.has_name && lx->comments.len > 0) {
        a.has_name = true;
        ph_buf_append(&a.name, lx->comments.data, lx->comments.len);
    }
    emit_mailbox(w, &a);
    addr_clear(&a);
    return ok;
}

/* address = mailbox / group. */
static bool parse_address(struct rfc822_lexer *lx, struct addr_writer *w)
{
    const char *start = lx->p;
    struct ph_buf name = {0};
    size_t words = read_phrase(lx, &name);
    rfc822_skip_cfws(lx);
    if (words == 0 || !at(lx, ':')) {
        ph_buf_free(&name);
        lx->p = start;
        return parse_mailbox(lx, w);
    }
    /* group = display-name ":" [group-list] ";" [CFWS] */
    lx->p++;
    struct addr g = {0};
    if (w->forms != NULL) {
        g.has_name = true;
        g.name = name;
    } else {
        g.has_mailbox = true;
        g.mailbox = name;
    }
    emit_raw(w, &g);
    addr_clear(&g);
    bool ok = true;
    for (;;) {
        rfc822_skip_cfws(lx);
        if (lx->p >= lx->end)
            break;
        if (at(lx, ';')) {
            lx->p++;
            break;
        }
        if (at(lx, ',')) {
            lx->p++;
            continue;
        }
        if (!parse_mailbox(lx, w)) {
            ok = false;
            break;
        }
        rfc822_skip_cfws(lx);
        if (!at(lx, ',') && !at(lx, ';') && lx->p < lx->end) {
            ok = false;
            break;
        }
    }
    struct addr end = {0};
    emit_raw(w, &end);
    return ok;
}

static void address_list_parse(const char *value, size_t len,
                               struct addr_writer *w)
{
    struct rfc822_lexer lx;
    rfc822_lexer_init(&lx, value, len);
    for (;;) {
        rfc822_skip_cfws(&lx);
        if (lx.p >= lx.end)
            break;
        if (at(&lx, ',')) {
            lx.p++; /* obs-addr-list: empty elements */
            continue;
        }
        if (!parse_address(&lx, w))
            break;
        rfc822_skip_cfws(&lx);
        if (lx.p < lx.end && !at(&lx, ','))
            break; /* garbage after an address */
    }
    rfc822_lexer_clear(&lx);
}

void ph_message_address_forms(const char *value, size_t len,
                              struct ph_strlist *out)
{
    struct addr_writer w = {.forms = out};
    address_list_parse(value, len, &w);
}

bool message_address_first(const char *value, size_t len,
                           struct message_address *addr_r)
{
    memset(addr_r, 0, sizeof(*addr_r));
    struct addr_writer w = {.first = addr_r};
    address_list_parse(value, len, &w);
    return w.count > 0;
}

void message_address_clear(struct message_address *addr)
{
    ph_buf_free(&addr->name);
    ph_buf_free(&addr->mailbox);
    ph_buf_free(&addr->domain);
}

void message_address_write(const char *value, size_t len, struct ph_buf *out)
{
    struct addr_writer w = {out, 0, NULL, NULL};
    address_list_parse(value, len, &w);
    ph_buf_puts(out, w.count == 0 ? "NIL" : ")");
}

/* ---- ENVELOPE ---- */

enum env_field {
    ENV_DATE,
    ENV_SUBJECT,
    ENV_FROM,
    ENV_SENDER,
    ENV_REPLY_TO,
    ENV_TO,
    ENV_CC,
    ENV_BCC,
    ENV_IN_REPLY_TO,
    ENV_MESSAGE_ID,
    ENV_COUNT
};

static const char *const env_names[ENV_COUNT] = {
    [ENV_DATE] = "Date",
    [ENV_SUBJECT] = "Subject",
    [ENV_FROM] = "From",
    [ENV_SENDER] = "Sender",
    [ENV_REPLY_TO] = "Reply-To",
    [ENV_TO] = "To",
    [ENV_CC] = "Cc",
    [ENV_BCC] = "Bcc",
    [ENV_IN_REPLY_TO] = "In-Reply-To",
    [ENV_MESSAGE_ID] = "Message-ID",
};

static bool is_address_field(enum env_field i)
{
    return i == ENV_FROM || i == ENV_SENDER || i == ENV_REPLY_TO ||
           i == ENV_TO || i == ENV_CC || i == ENV_BCC;
}

void message_envelope_write(const char *hdr, size_t len, struct ph_buf *out)
{
    struct message_field first[ENV_COUNT];
    bool have[ENV_COUNT] = {false};
    /* Address fields: every occurrence adds to the list (a message with
     * two From fields shows both, as Dovecot does). */
    struct ph_buf addrs[ENV_COUNT] = {{0}};
    size_t counts[ENV_COUNT] = {0};
    struct message_field f;
    size_t pos = 0;
    while (message_header_next(hdr, len, &pos, &f)) {
        if (f.name == NULL)
            continue;
        for (size_t i = 0; i < ENV_COUNT; i++) {
            if (!msg_ascii_eqz(f.name, f.name_len, env_names[i]))
                continue;
            if (is_address_field((enum env_field)i)) {
                struct addr_writer w = {&addrs[i], counts[i], NULL, NULL};
                address_list_parse(f.value, f.value_len, &w);
                counts[i] = w.count;
            } else if (!have[i]) {
                first[i] = f;
                have[i] = true;
            }
        }
    }

    ph_buf_putc(out, '(');
    for (size_t i = 0; i < ENV_COUNT; i++) {
        if (i > 0)
            ph_buf_putc(out, ' ');
        if (!is_address_field((enum env_field)i)) {
            if (have[i])
                imap_append_nstring_unfold(out, first[i].value,
                                           first[i].value_len);
            else
                ph_buf_puts(out, "NIL");
            continue;
        }
        size_t src = i;
        /* RFC 3501 7.4.2: Sender and Reply-To default to From. */
        if ((i == ENV_SENDER || i == ENV_REPLY_TO) && counts[i] == 0)
            src = ENV_FROM;
        if (counts[src] == 0) {
            ph_buf_puts(out, "NIL");
            continue;
        }
        ph_buf_append(out, addrs[src].data, addrs[src].len);
        ph_buf_putc(out, ')');
    }
    ph_buf_putc(out, ')');
    for (size_t i = 0; i < ENV_COUNT; i++)
        ph_buf_free(&addrs[i]);
}
