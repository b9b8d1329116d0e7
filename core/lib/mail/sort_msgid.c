/* SPDX-License-Identifier: MIT */
/* Message IDs for THREAD (RFC 5322 3.6.4 and 4.5.4, RFC 5256 section 3):
 * finding the valid ones in a field and normalizing their quoting. */
#include <stdlib.h>
#include <string.h>

#include <posthorn/sort.h>

#include "message-private.h"

struct idlex {
    const char *p, *end;
};

static bool at(const struct idlex *lx, char c)
{
    return lx->p < lx->end && *lx->p == c;
}

/* CFWS: whitespace, line breaks and nested comments. */
static void skip_cfws(struct idlex *lx)
{
    unsigned depth = 0;
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (depth > 0 && c == '\\' && lx->p + 1 < lx->end) {
            lx->p += 2;
            continue;
        }
        if (c == '(')
            depth++;
        else if (c == ')' && depth > 0)
            depth--;
        else if (depth == 0 && !msg_is_wsp((unsigned char)c) && c != '\r' &&
                 c != '\n')
            return;
        lx->p++;
    }
}

/* RFC 5322 atext, and 8-bit bytes (RFC 6532 allows UTF-8 there). */
static bool is_atext(unsigned char c)
{
    static const char special[] = "!#$%&'*+-/=?^_`{|}~";
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c >= 0x80 ||
           (c != 0 && memchr(special, c, sizeof(special) - 1) != NULL);
}

static size_t read_atom(struct idlex *lx, struct ph_buf *out)
{
    const char *start = lx->p;
    while (lx->p < lx->end && is_atext((unsigned char)*lx->p))
        lx->p++;
    ph_buf_append(out, start, (size_t)(lx->p - start));
    return (size_t)(lx->p - start);
}

/* A quoted-string at '"': its content, unescaped and unfolded. false when
 * it does not end. */
static bool read_quoted(struct idlex *lx, struct ph_buf *out)
{
    lx->p++;
    while (lx->p < lx->end) {
        char c = *lx->p++;
        if (c == '"')
            return true;
        if (c == '\\' && lx->p < lx->end)
            c = *lx->p++;
        else if (c == '\r' || c == '\n')
            continue;
        if (c == '\0')
            return false;
        ph_buf_putc(out, c);
    }
    return false;
}

/* dot-atom-text = 1*atext *("." 1*atext) */
static bool is_dot_atom_text(const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.' ? s[i + 1] == '.' : !is_atext((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* Words separated by dots, with CFWS around them, joined by dots into out:
 * id-left (dot-atom-text / obs-id-left, whose words may be quoted) and
 * the dot-atom forms of id-right. */
static bool read_dotted(struct idlex *lx, bool quoted_words, struct ph_buf *out)
{
    for (;;) {
        skip_cfws(lx);
        if (quoted_words && at(lx, '"')) {
            if (!read_quoted(lx, out))
                return false;
        } else if (read_atom(lx, out) == 0) {
            return false;
        }
        skip_cfws(lx);
        if (!at(lx, '.'))
            return true;
        lx->p++;
        ph_buf_putc(out, '.');
    }
}

/* id-right = dot-atom-text / no-fold-literal / obs-id-right (domain). */
static bool read_id_right(struct idlex *lx, struct ph_buf *out)
{
    skip_cfws(lx);
    if (!at(lx, '['))
        return read_dotted(lx, false, out);
    ph_buf_putc(out, '[');
    lx->p++;
    while (lx->p < lx->end && *lx->p != ']') {
        char c = *lx->p++;
        if (c == '\\' && lx->p < lx->end)
            c = *lx->p++;
        if (c == '[' || c == '\0')
            return false;
        if (!msg_is_wsp((unsigned char)c) && c != '\r' && c != '\n')
            ph_buf_putc(out, c);
    }
    if (!at(lx, ']'))
        return false;
    lx->p++;
    ph_buf_putc(out, ']');
    return true;
}

/* The msg-id after a '<' at lx->p, normalized into out. */
static bool read_msgid(struct idlex *lx, struct ph_buf *out)
{
    struct ph_buf left = {0};
    bool ok = read_dotted(lx, true, &left);
    skip_cfws(lx);
    ok = ok && at(lx, '@');
    if (ok) {
        lx->p++;
        ph_buf_putc(out, '<');
        if (is_dot_atom_text(left.data, left.len)) {
            ph_buf_append(out, left.data, left.len);
        } else {
            ph_buf_putc(out, '"');
            for (size_t i = 0; i < left.len; i++) {
                if (left.data[i] == '"' || left.data[i] == '\\')
                    ph_buf_putc(out, '\\');
                ph_buf_putc(out, left.data[i]);
            }
            ph_buf_putc(out, '"');
        }
        ph_buf_putc(out, '@');
        ok = read_id_right(lx, out);
    }
    skip_cfws(lx);
    ok = ok && at(lx, '>');
    if (ok) {
        lx->p++;
        ph_buf_putc(out, '>');
    }
    ph_buf_free(&left);
    return ok;
}

bool ph_msgid_next(const char *value, size_t len, size_t *pos,
                   struct ph_buf *out)
{
    size_t p = *pos;
    while (p < len) {
        const char *lt = memchr(value + p, '<', len - p);
        if (lt == NULL)
            break;
        size_t mark = out->len;
        struct idlex lx = {lt + 1, value + len};
        if (read_msgid(&lx, out) && out->len - mark <= PH_MSGID_MAX) {
            *pos = (size_t)(lx.p - value);
            return true;
        }
        /* Invalid: forget what was written and look after this '<'. */
        out->len = mark;
        if (out->data != NULL)
            out->data[mark] = '\0';
        p = (size_t)(lt - value) + 1;
    }
    *pos = len;
    return false;
}

void ph_thread_references(const char *references, size_t references_len,
                          const char *in_reply_to, size_t in_reply_to_len,
                          struct ph_buf *out)
{
    struct ph_buf ids = {0};
    size_t *ends = NULL, n = 0, cap = 0, pos = 0;
    while (references != NULL &&
           ph_msgid_next(references, references_len, &pos, &ids)) {
        ph_array_grow(&ends, &cap, n + 1, sizeof(*ends));
        ends[n++] = ids.len;
    }
    if (n > 0) {
        size_t first =
            n > PH_THREAD_MAX_REFERENCES ? n - PH_THREAD_MAX_REFERENCES : 0;
        for (size_t k = first; k < n; k++) {
            size_t s = k == 0 ? 0 : ends[k - 1];
            if (k > first)
                ph_buf_putc(out, ' ');
            ph_buf_append(out, ids.data + s, ends[k] - s);
        }
    } else if (in_reply_to != NULL) {
        size_t p = 0;
        (void)ph_msgid_next(in_reply_to, in_reply_to_len, &p, out);
    }
    free(ends);
    ph_buf_free(&ids);
}
