/* SPDX-License-Identifier: MIT */
/* PREVIEW (RFC 8970): a message's first characters of text, as a person
 * would read them.
 *
 * The text is the first text/plain or text/html leaf of the message
 * itself that has any (else of the messages it carries); an HTML leaf
 * whose multipart/alternative has a text/plain sibling gives way to it. Its
 * body is decoded (transfer encoding, then charset to UTF-8, bad bytes U+FFFD:
 * ph_message_decoder); HTML loses its markup (tags, comments, and what
 * script, style, head and title hold), and its common entities are
 * decoded; every run of white space and control characters becomes one
 * space; the text is cut after PH_MESSAGE_PREVIEW_CHARS characters, never
 * inside one (3.3: "SHOULD limit ... to 200 preview characters"). At most
 * PREVIEW_READ_MAX bytes of a part are read, of at most PREVIEW_TRIES
 * parts. */
#include <string.h>
#include <strings.h>
#include <unistr.h>

#include <posthorn/message.h>

#define PREVIEW_READ_MAX (256 * 1024)
#define PREVIEW_TRIES 8 /* text parts read for one preview, at most */
#define TAG_NAME_MAX 16
#define ENTITY_MAX 12

enum html_state { H_TEXT, H_TAG, H_COMMENT, H_ENTITY };

struct preview {
    struct ph_buf *out;
    size_t chars;
    bool space; /* white space is pending */
    bool done;
    /* HTML only. */
    bool html;
    enum html_state st;
    char name[TAG_NAME_MAX + 1];
    size_t name_len;
    bool name_done, closing;
    char quote;   /* inside an attribute value quoted so */
    char skip[8]; /* the element whose content is skipped, or "" */
    char ent[ENTITY_MAX + 1];
    size_t ent_len;
    unsigned dashes; /* of a comment's end */
};

static bool is_space(ucs4_t c)
{
    return c <= 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200b) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000 || c == 0xfeff;
}

static void emit(struct preview *p, ucs4_t c)
{
    if (p->done || p->skip[0] != '\0')
        return;
    if (is_space(c)) {
        p->space = p->chars > 0;
        return;
    }
    if (p->space) {
        if (p->chars + 1 >= PH_MESSAGE_PREVIEW_CHARS) {
            p->done = true;
            return;
        }
        ph_buf_putc(p->out, ' ');
        p->chars++;
        p->space = false;
    }
    uint8_t u[6];
    int n = u8_uctomb(u, c, sizeof(u));
    if (n <= 0)
        n = u8_uctomb(u, 0xfffd, sizeof(u));
    ph_buf_append(p->out, u, (size_t)n);
    if (++p->chars >= PH_MESSAGE_PREVIEW_CHARS)
        p->done = true;
}

/* HTML 4's names of U+00A0 to U+00FF, in order (HTML 4.01 24.2). */
static const char *const latin1_names[96] = {
    "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar",
    "sect",   "uml",    "copy",   "ordf",   "laquo",  "not",    "shy",
    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",   "acute",
    "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",
    "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc",
    "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil", "Egrave", "Eacute",
    "Ecirc",  "Euml",   "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",
    "Ntilde", "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",   "times",
    "Oslash", "Ugrave", "Uacute", "Ucirc",  "Uuml",   "Yacute", "THORN",
    "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",
    "aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave",
    "iacute", "icirc",  "iuml",   "eth",    "ntilde", "ograve", "oacute",
    "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave", "uacute",
    "ucirc",  "uuml",   "yacute", "thorn",  "yuml"};

/* The entity in p->ent ("amp", "#39", "#x27"), or false. */
static bool entity_value(const struct preview *p, ucs4_t *c_r)
{
    static const struct {
        const char *name;
        ucs4_t c;
    } names[] = {{"amp", '&'},      {"lt", '<'},        {"gt", '>'},
                 {"quot", '"'},     {"apos", '\''},     {"hellip", 0x2026},
                 {"mdash", 0x2014}, {"ndash", 0x2013},  {"rsquo", 0x2019},
                 {"lsquo", 0x2018}, {"rdquo", 0x201d},  {"ldquo", 0x201c},
                 {"bdquo", 0x201e}, {"sbquo", 0x201a},  {"euro", 0x20ac},
                 {"trade", 0x2122}, {"bull", 0x2022},   {"zwnj", 0x200c},
                 {"zwj", 0x200d},   {"thinsp", 0x2009}, {"ensp", 0x2002},
                 {"emsp", 0x2003}};
    const char *e = p->ent;
    if (e[0] == '#') {
        bool hex = e[1] == 'x' || e[1] == 'X';
        const char *d = e + (hex ? 2 : 1);
        uint32_t v = 0;
        if (*d == '\0')
            return false;
        for (; *d; d++) {
            int x = *d >= '0' && *d <= '9'          ? *d - '0'
                    : hex && *d >= 'a' && *d <= 'f' ? *d - 'a' + 10
                    : hex && *d >= 'A' && *d <= 'F' ? *d - 'A' + 10
                                                    : -1;
            if (x < 0 || v > 0x10ffff)
                return false;
            v = v * (hex ? 16 : 10) + (uint32_t)x;
        }
        *c_r =
            v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ? 0xfffd : v;
        return true;
    }
    for (size_t i = 0; i < PH_N_ELEMENTS(names); i++)
        if (strcmp(names[i].name, e) == 0) {
            *c_r = names[i].c;
            return true;
        }
    for (size_t i = 0; i < PH_N_ELEMENTS(latin1_names); i++)
        if (strcmp(latin1_names[i], e) == 0) {
            *c_r = 0xa0 + (ucs4_t)i;
            return true;
        }
    return false;
}

static bool name_is(const struct preview *p, const char *const *list)
{
    for (; *list; list++)
        if (strcasecmp(p->name, *list) == 0)
            return true;
    return false;
}

static void tag_end(struct preview *p)
{
    static const char *const skipped[] = {"script", "style", "head", "title",
                                          NULL};
    static const char *const blocks[] = {
        "br", "p",  "div", "li", "tr", "td",    "th",         "h1", "h2", "h3",
        "h4", "h5", "h6",  "ul", "ol", "table", "blockquote", "hr", NULL};
    p->name[p->name_len] = '\0';
    if (p->skip[0] != '\0') {
        if (p->closing && strcasecmp(p->name, p->skip) == 0)
            p->skip[0] = '\0';
    } else if (!p->closing && name_is(p, skipped)) {
        strcpy(p->skip, p->name);
    } else if (name_is(p, blocks)) {
        emit(p, ' ');
    }
}

static void html_char(struct preview *p, ucs4_t c)
{
    switch (p->st) {
    case H_TEXT:
        if (c == '<') {
            p->st = H_TAG;
            p->name_len = 0;
            p->name_done = p->closing = false;
            p->quote = 0;
        } else if (c == '&' && p->skip[0] == '\0') {
            p->st = H_ENTITY;
            p->ent_len = 0;
        } else {
            emit(p, c);
        }
        return;
    case H_ENTITY: {
        bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '#';
        if (word && p->ent_len < ENTITY_MAX) {
            p->ent[p->ent_len++] = (char)c;
            return;
        }
        p->ent[p->ent_len] = '\0';
        ucs4_t v;
        p->st = H_TEXT;
        if (c == ';' && entity_value(p, &v)) {
            emit(p, v);
            return;
        }
        /* Not an entity: the text as it was. */
        emit(p, '&');
        for (size_t i = 0; i < p->ent_len; i++)
            emit(p, (unsigned char)p->ent[i]);
        html_char(p, c);
        return;
    }
    case H_COMMENT:
        if (c == '>' && p->dashes >= 2)
            p->st = H_TEXT;
        p->dashes = c == '-' ? p->dashes + 1 : 0;
        return;
    case H_TAG:
        if (p->quote) {
            if (c == (ucs4_t)p->quote)
                p->quote = 0;
            return;
        }
        if (c == '>') {
            p->st = H_TEXT;
            tag_end(p);
            return;
        }
        if (!p->name_done && p->name_len == 0 && c == '/' && !p->closing) {
            p->closing = true;
            return;
        }
        if (!p->name_done && c < 0x80 && !is_space(c) && c != '/' &&
            p->name_len < TAG_NAME_MAX) {
            p->name[p->name_len++] = (char)c;
            if (p->name_len == 3 && memcmp(p->name, "!--", 3) == 0) {
                p->st = H_COMMENT;
                p->dashes = 0;
            }
            return;
        }
        p->name_done = true;
        if (c == '"' || c == '\'')
            p->quote = (char)c;
        return;
    }
}

static void decoded(void *arg, const char *data, size_t len)
{
    struct preview *p = arg;
    const uint8_t *s = (const uint8_t *)data, *end = s + len;
    while (s < end && !p->done) {
        ucs4_t c;
        int n = u8_mbtouc(&c, s, (size_t)(end - s));
        s += n > 0 ? n : 1;
        if (p->html)
            html_char(p, c);
        else
            emit(p, c);
    }
}

struct raw {
    struct ph_message_decoder *dec;
    struct preview *p;
};

static int raw_cb(void *arg, const void *data, size_t len)
{
    struct raw *r = arg;
    ph_message_decoder_feed(r->dec, data, len);
    return r->p->done ? 1 : 0; /* enough: the read stops */
}

static bool is_leaf(const struct ph_message_part *p, const char *subtype)
{
    return p->n_children == 0 && !(p->flags & PH_MESSAGE_PART_LIMITED) &&
           strcmp(p->type, "text") == 0 && strcmp(p->subtype, subtype) == 0;
}

/* Whether part i is the message's own (no message/rfc822 above it). */
static bool own_part(const struct ph_message_info *info, uint32_t i)
{
    for (uint32_t up = info->parts[i].parent; up != PH_MESSAGE_PART_NONE;
         up = info->parts[up].parent)
        if (info->parts[up].flags & PH_MESSAGE_PART_RFC822)
            return false;
    return true;
}

/* The text part leaf i stands for, or PH_MESSAGE_PART_NONE: itself, or,
 * for HTML, its text/plain alternative. */
static uint32_t candidate(const struct ph_message_info *info, uint32_t i)
{
    const struct ph_message_part *p = &info->parts[i];
    bool plain = is_leaf(p, "plain"), html = is_leaf(p, "html");
    if ((!plain && !html) || p->body_size == 0)
        return PH_MESSAGE_PART_NONE;
    if (html && p->parent != PH_MESSAGE_PART_NONE &&
        strcmp(info->parts[p->parent].subtype, "alternative") == 0)
        for (uint32_t k = info->parts[p->parent].first_child;
             k != PH_MESSAGE_PART_NONE; k = info->parts[k].next_sibling)
            if (is_leaf(&info->parts[k], "plain") &&
                info->parts[k].body_size > 0)
                return k;
    return i;
}

static int part_preview(const struct ph_message_part *part,
                        ph_message_reader *read, void *read_arg,
                        struct ph_buf *out)
{
    struct preview p = {.out = out, .html = strcmp(part->subtype, "html") == 0};
    /* No charset: US-ASCII (RFC 2045 5.2), which the decoder checks as
     * UTF-8, as it does an unknown one. */
    struct raw r = {
        ph_message_decoder_new(part->encoding,
                               part->charset ? part->charset : "us-ascii",
                               decoded, &p),
        &p};
    uint64_t n =
        part->body_size < PREVIEW_READ_MAX ? part->body_size : PREVIEW_READ_MAX;
    int ret = read(read_arg, part->body_offset, n, raw_cb, &r);
    ph_message_decoder_finish(&r.dec);
    return ret == 1 ? 0 : ret;
}

int ph_message_preview(const struct ph_message_info *info,
                       ph_message_reader *read, void *read_arg,
                       struct ph_buf *out)
{
    ph_buf_reset(out);
    if (info == NULL)
        return 0;
    /* The message's own text first; a message that only carries others
     * (a forward as an attachment, a bounce) shows theirs. A part whose
     * text is all markup or white space gives way to the next. */
    unsigned tries = 0;
    for (int own = 1; own >= 0; own--)
        for (uint32_t i = 0; i < info->n_parts && tries < PREVIEW_TRIES; i++) {
            if (own_part(info, i) != (own != 0))
                continue;
            uint32_t k = candidate(info, i);
            if (k == PH_MESSAGE_PART_NONE)
                continue;
            tries++;
            int ret = part_preview(&info->parts[k], read, read_arg, out);
            if (ret != 0 || out->len > 0)
                return ret;
        }
    return 0;
}
