/* SPDX-License-Identifier: MIT */
/* BODY[section]: parsing the section-spec and mapping it to bytes
 * (RFC 3501 6.4.5, 9). */
#include <stdlib.h>
#include <string.h>

#include "message-private.h"

struct scur {
    const char *p, *end;
};

static bool keyword(struct scur *c, const char *kw)
{
    size_t n = strlen(kw);
    if ((size_t)(c->end - c->p) < n || !msg_ascii_eq(c->p, n, kw, n))
        return false;
    c->p += n;
    return true;
}

/* header-fld-name = astring: atom, quoted string or literal. */
static int read_astring(struct scur *c, struct ph_buf *out,
                        const char **error_r)
{
    if (c->p < c->end && *c->p == '"') {
        for (c->p++; c->p < c->end && *c->p != '"'; c->p++) {
            if (*c->p == '\\' && c->p + 1 < c->end)
                c->p++;
            if (*c->p == '\r' || *c->p == '\n' || *c->p == '\0')
                break;
            ph_buf_putc(out, *c->p);
        }
        if (c->p >= c->end || *c->p != '"') {
            *error_r = "Unterminated quoted header field name";
            return -1;
        }
        c->p++;
        return 0;
    }
    if (c->p < c->end && *c->p == '{') {
        size_t n = 0;
        const char *d = ++c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < 1000000)
            n = n * 10 + (size_t)(*c->p++ - '0');
        if (c->p == d || (size_t)(c->end - c->p) < 3 || c->p[0] != '}' ||
            c->p[1] != '\r' || c->p[2] != '\n' ||
            (size_t)(c->end - c->p - 3) < n) {
            *error_r = "Bad literal in header field list";
            return -1;
        }
        c->p += 3;
        ph_buf_append(out, c->p, n);
        c->p += n;
        return 0;
    }
    /* ASTRING-CHAR: ATOM-CHAR or ']' (RFC 3501 9); not '(' ')' '{' SP
     * CTL '%' '*' '"' '\'. */
    const char *start = c->p;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch <= ' ' || ch >= 0x7f || strchr("(){%*\"\\", ch) != NULL)
            break;
        c->p++;
    }
    if (c->p == start) {
        *error_r = "Expected a header field name";
        return -1;
    }
    ph_buf_append(out, start, (size_t)(c->p - start));
    return 0;
}

static int read_header_list(struct scur *c, struct ph_strlist *fields,
                            const char **error_r)
{
    if (c->p >= c->end || *c->p != ' ') {
        *error_r = "Expected a space and a header field list";
        return -1;
    }
    c->p++;
    if (c->p >= c->end || *c->p != '(') {
        *error_r = "Expected a header field list";
        return -1;
    }
    c->p++;
    for (;;) {
        struct ph_buf name = {0};
        if (read_astring(c, &name, error_r) < 0) {
            ph_buf_free(&name);
            return -1;
        }
        ph_strlist_add_owned(fields, ph_buf_steal(&name));
        if (c->p < c->end && *c->p == ')') {
            c->p++;
            return 0;
        }
        if (c->p >= c->end || *c->p != ' ') {
            *error_r = "Expected a space or ')' in header field list";
            return -1;
        }
        c->p++;
    }
}

int ph_message_section_parse(const char *spec, size_t len,
                             struct ph_message_section *sec_r,
                             const char **error_r)
{
    struct scur c = {spec, spec + len};
    size_t cap = 0;
    memset(sec_r, 0, sizeof(*sec_r));
    sec_r->text = PH_MESSAGE_SECTION_ALL;

    while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
        if (*c.p == '0') {
            *error_r = "Section part numbers start at 1";
            goto fail;
        }
        uint64_t n = 0;
        while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
            n = n * 10 + (uint64_t)(*c.p++ - '0');
            if (n > UINT32_MAX - 1) {
                *error_r = "Section part number too large";
                goto fail;
            }
        }
        ph_array_grow(&sec_r->path, &cap, sec_r->path_len + 1,
                      sizeof(uint32_t));
        sec_r->path[sec_r->path_len++] = (uint32_t)n;
        if (c.p >= c.end)
            return 0;
        if (*c.p != '.') {
            *error_r = "Expected '.' after a section part number";
            goto fail;
        }
        c.p++;
        if (c.p >= c.end) {
            *error_r = "Section ends with '.'";
            goto fail;
        }
    }
    if (c.p >= c.end)
        return 0; /* BODY[]: the whole message */

    if (keyword(&c, "HEADER.FIELDS.NOT")) {
        sec_r->text = PH_MESSAGE_SECTION_HEADER_FIELDS_NOT;
    } else if (keyword(&c, "HEADER.FIELDS")) {
        sec_r->text = PH_MESSAGE_SECTION_HEADER_FIELDS;
    } else if (keyword(&c, "HEADER")) {
        sec_r->text = PH_MESSAGE_SECTION_HEADER;
    } else if (keyword(&c, "TEXT")) {
        sec_r->text = PH_MESSAGE_SECTION_TEXT;
    } else if (sec_r->path_len > 0 && keyword(&c, "MIME")) {
        sec_r->text = PH_MESSAGE_SECTION_MIME;
    } else {
        *error_r = "Unknown section text (expected HEADER, "
                   "HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME)";
        goto fail;
    }
    if (sec_r->text == PH_MESSAGE_SECTION_HEADER_FIELDS ||
        sec_r->text == PH_MESSAGE_SECTION_HEADER_FIELDS_NOT) {
        if (read_header_list(&c, &sec_r->fields, error_r) < 0)
            goto fail;
    }
    if (c.p != c.end) {
        *error_r = "Unexpected characters after section";
        goto fail;
    }
    return 0;
fail:
    ph_message_section_clear(sec_r);
    return -1;
}

void ph_message_section_clear(struct ph_message_section *sec)
{
    free(sec->path);
    sec->path = NULL;
    sec->path_len = 0;
    ph_strlist_clear(&sec->fields);
}

/* The n-th child of node idx, or NONE. */
static uint32_t nth_child(const struct ph_message_info *info, uint32_t idx,
                          uint32_t n)
{
    uint32_t c = info->parts[idx].first_child;
    for (uint32_t i = 1; i < n && c != PH_MESSAGE_PART_NONE; i++)
        c = info->parts[c].next_sibling;
    return c;
}

uint32_t ph_message_section_part(const struct ph_message_info *info,
                                 const uint32_t *path, size_t path_len)
{
    /* Walk the part numbers. A message node stands for its own part 1
     * when it is not a multipart (RFC 3501 6.4.5: "every message has at
     * least one part number"). */
    uint32_t cur = 0;
    bool as_message = true;
    for (size_t i = 0; i < path_len; i++) {
        uint32_t n = path[i];
        const struct ph_message_part *pt = &info->parts[cur];
        if (!as_message && (pt->flags & PH_MESSAGE_PART_RFC822) &&
            pt->first_child != PH_MESSAGE_PART_NONE) {
            /* The parts of an embedded message. */
            cur = pt->first_child;
            pt = &info->parts[cur];
            as_message = true;
        }
        if (pt->flags & PH_MESSAGE_PART_MULTIPART) {
            cur = nth_child(info, cur, n);
            if (cur == PH_MESSAGE_PART_NONE)
                return PH_MESSAGE_PART_NONE;
        } else if (!as_message || n != 1) {
            return PH_MESSAGE_PART_NONE;
        }
        as_message = false;
    }
    return cur;
}

enum ph_message_section_lookup
ph_message_section_lookup(const struct ph_message_info *info,
                          const struct ph_message_section *sec,
                          uint64_t *offset_r, uint64_t *size_r)
{
    *offset_r = *size_r = 0;
    uint32_t cur = ph_message_section_part(info, sec->path, sec->path_len);
    if (cur == PH_MESSAGE_PART_NONE)
        return PH_MESSAGE_SECTION_ABSENT;

    const struct ph_message_part *pt = &info->parts[cur];
    switch (sec->text) {
    case PH_MESSAGE_SECTION_ALL:
        if (sec->path_len == 0) {
            *offset_r = 0;
            *size_r = info->size;
        } else {
            *offset_r = pt->body_offset;
            *size_r = pt->body_size;
        }
        return PH_MESSAGE_SECTION_FOUND;
    case PH_MESSAGE_SECTION_MIME:
        *offset_r = pt->header_offset;
        *size_r = pt->header_size;
        return PH_MESSAGE_SECTION_FOUND;
    case PH_MESSAGE_SECTION_HEADER:
    case PH_MESSAGE_SECTION_HEADER_FIELDS:
    case PH_MESSAGE_SECTION_HEADER_FIELDS_NOT:
    case PH_MESSAGE_SECTION_TEXT: break;
    }
    if (sec->path_len > 0) {
        /* HEADER and TEXT of a part need a message/rfc822 part. */
        if (!(pt->flags & PH_MESSAGE_PART_RFC822) ||
            pt->first_child == PH_MESSAGE_PART_NONE)
            return PH_MESSAGE_SECTION_ABSENT;
        pt = &info->parts[pt->first_child];
    }
    if (sec->text == PH_MESSAGE_SECTION_TEXT) {
        *offset_r = pt->body_offset;
        *size_r = pt->body_size;
    } else {
        *offset_r = pt->header_offset;
        *size_r = pt->header_size;
    }
    return PH_MESSAGE_SECTION_FOUND;
}

int ph_message_section_range(const struct ph_message_info *info,
                             const char *spec, uint64_t *offset_r,
                             uint64_t *size_r, const char **error_r)
{
    struct ph_message_section sec;
    if (ph_message_section_parse(spec, strlen(spec), &sec, error_r) < 0)
        return -1;
    enum ph_message_section_lookup r =
        ph_message_section_lookup(info, &sec, offset_r, size_r);
    ph_message_section_clear(&sec);
    return r == PH_MESSAGE_SECTION_FOUND ? 1 : 0;
}

void ph_message_range_partial(uint64_t *offset, uint64_t *size, uint64_t start,
                              uint64_t count)
{
    if (start >= *size) {
        *offset += *size;
        *size = 0;
        return;
    }
    *offset += start;
    *size -= start;
    if (count < *size)
        *size = count;
}
