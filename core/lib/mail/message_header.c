/* SPDX-License-Identifier: MIT */
/* Header blocks: splitting into fields, unfolding, HEADER.FIELDS. */
#include <string.h>

#include "message-private.h"

bool msg_ascii_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (msg_ascii_lower((unsigned char)a[i]) !=
            msg_ascii_lower((unsigned char)b[i]))
            return false;
    return true;
}

bool msg_ascii_eqz(const char *a, size_t alen, const char *b)
{
    return msg_ascii_eq(a, alen, b, strlen(b));
}

char *msg_ascii_lower_dup(const char *s, size_t len)
{
    char *d = ph_malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        d[i] = (char)msg_ascii_lower((unsigned char)s[i]);
    d[len] = '\0';
    return d;
}

/* Offset just past the line that starts at pos (its LF included). */
static size_t line_end(const char *hdr, size_t len, size_t pos)
{
    const char *lf = memchr(hdr + pos, '\n', len - pos);
    return lf ? (size_t)(lf - hdr) + 1 : len;
}

static bool is_blank_line(const char *hdr, size_t len, size_t pos)
{
    return hdr[pos] == '\n' ||
           (hdr[pos] == '\r' && pos + 1 < len && hdr[pos + 1] == '\n');
}

bool message_header_next(const char *hdr, size_t len, size_t *pos,
                         struct message_field *field_r)
{
    size_t start = *pos;
    if (start >= len || is_blank_line(hdr, len, start))
        return false;
    /* A field is its first line and every line that begins with WSP. */
    size_t end = line_end(hdr, len, start);
    while (end < len && msg_is_wsp((unsigned char)hdr[end]))
        end = line_end(hdr, len, end);
    *pos = end;

    size_t vend = end;
    if (vend > start && hdr[vend - 1] == '\n')
        vend--;
    if (vend > start && hdr[vend - 1] == '\r')
        vend--;
    field_r->start = start;
    field_r->end = end;
    const char *colon = memchr(hdr + start, ':', vend - start);
    /* A colon on a continuation line does not make a name. */
    const char *lf = memchr(hdr + start, '\n', vend - start);
    if (colon == NULL || (lf != NULL && lf < colon) ||
        msg_is_wsp((unsigned char)hdr[start])) {
        field_r->name = NULL;
        field_r->name_len = 0;
        field_r->value = hdr + start;
        field_r->value_len = vend - start;
        return true;
    }
    size_t nlen = (size_t)(colon - (hdr + start));
    /* RFC 5322 4.5 (obsolete syntax): WSP between name and colon. */
    while (nlen > 0 && msg_is_wsp((unsigned char)hdr[start + nlen - 1]))
        nlen--;
    field_r->name = hdr + start;
    field_r->name_len = nlen;
    field_r->value = colon + 1;
    field_r->value_len = (size_t)(hdr + vend - (colon + 1));
    return true;
}

void message_header_unfold(const char *value, size_t len, struct ph_buf *out)
{
    size_t i = 0;
    while (i < len && (msg_is_wsp((unsigned char)value[i]) ||
                       value[i] == '\r' || value[i] == '\n'))
        i++;
    size_t run = i;
    for (; i < len; i++) {
        if (value[i] == '\r' || value[i] == '\n') {
            ph_buf_append(out, value + run, i - run);
            run = i + 1;
        }
    }
    ph_buf_append(out, value + run, len - run);
}

char *message_header_get(const char *hdr, size_t len, const char *name)
{
    size_t pos = 0;
    struct message_field f;
    while (message_header_next(hdr, len, &pos, &f)) {
        if (f.name != NULL && msg_ascii_eqz(f.name, f.name_len, name)) {
            struct ph_buf b = {0};
            message_header_unfold(f.value, f.value_len, &b);
            return ph_buf_steal(&b);
        }
    }
    return NULL;
}

static void filter_fields(const char *hdr, size_t len,
                          const struct ph_strlist *names, bool not,
                          struct ph_buf *out)
{
    size_t pos = 0;
    struct message_field f;
    while (message_header_next(hdr, len, &pos, &f)) {
        bool match = false;
        for (size_t i = 0; f.name != NULL && i < names->n && !match; i++)
            match = msg_ascii_eqz(f.name, f.name_len, names->v[i]);
        if (match == not )
            continue;
        ph_buf_append(out, hdr + f.start, f.end - f.start);
        /* The last field of a block without a blank line may lack its
         * EOL; the result still has one line per field. */
        if (hdr[f.end - 1] != '\n')
            ph_buf_puts(out, "\r\n");
    }
}

/* Does the header block end with a blank line (or consist of one)? */
static bool ends_blank(const char *hdr, size_t len)
{
    return (len >= 1 && hdr[0] == '\n') ||
           (len >= 2 && hdr[0] == '\r' && hdr[1] == '\n') ||
           (len >= 2 && hdr[len - 1] == '\n' &&
            (hdr[len - 2] == '\n' ||
             (len >= 3 && hdr[len - 2] == '\r' && hdr[len - 3] == '\n')));
}

void ph_message_header_filter(const char *hdr, size_t len,
                              const struct ph_strlist *names, bool not,
                              struct ph_buf *out)
{
    filter_fields(hdr, len, names, not, out);
    /* RFC 3501 6.4.5: the blank line is always there, except for a
     * message that has no body and no blank line. */
    if (ends_blank(hdr, len))
        ph_buf_puts(out, "\r\n");
}

void ph_message_header_set_encoding(const char *hdr, size_t len,
                                    const char *encoding, struct ph_buf *out)
{
    static char *const cte[] = {"Content-Transfer-Encoding"};
    const struct ph_strlist names = {.v = (char **)cte, .n = 1};
    filter_fields(hdr, len, &names, true, out);
    ph_buf_printf(out, "Content-Transfer-Encoding: %s\r\n", encoding);
    /* A part whose body is changed has one: the blank line that ends the
     * header is kept, or made. */
    ph_buf_puts(out, "\r\n");
}
