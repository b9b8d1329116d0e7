/* SPDX-License-Identifier: MIT */
/* The stored form of a ph_message_info.
 *
 * Layout, version 1 (integers are unsigned LEB128 varints; a string is its
 * length then its bytes; an nstring is 0 for NULL or length + 1):
 *   "PHMI" 0x01
 *   size lines has_date zigzag(date) zigzag(date_tz_offset)
 *   string envelope, bodystructure, body, header
 *   nstring subject, from, to, cc, bcc, message_id
 *   n_parts, then per part:
 *     parent+1 first_child+1 next_sibling+1 n_children flags encoding
 *     header_offset header_size body_offset body_size body_lines
 *     string type, subtype; nstring charset
 * Index fields store NONE as 0 and index i as i + 1. */
#include <stdlib.h>
#include <string.h>

#include "message-private.h"

#define MAGIC "PHMI"
#define VERSION 1
#define KNOWN_FLAGS                                                            \
    (PH_MESSAGE_PART_MULTIPART | PH_MESSAGE_PART_RFC822 |                      \
     PH_MESSAGE_PART_MESSAGE | PH_MESSAGE_PART_TEXT |                          \
     PH_MESSAGE_PART_LIMITED | PH_MESSAGE_PART_HEADER_TRUNCATED)

static void put_varint(struct ph_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            tmp[n] |= 0x80;
        n++;
    } while (v != 0);
    ph_buf_append(b, tmp, n);
}

static uint64_t zigzag(int64_t v)
{
    return v < 0 ? ~((uint64_t)v << 1) : (uint64_t)v << 1;
}

static void put_bytes(struct ph_buf *b, const char *s, size_t len)
{
    put_varint(b, len);
    ph_buf_append(b, s, len);
}

static void put_string(struct ph_buf *b, const char *s)
{
    put_bytes(b, s, strlen(s));
}

static void put_nstring(struct ph_buf *b, const char *s)
{
    if (s == NULL) {
        put_varint(b, 0);
        return;
    }
    size_t len = strlen(s);
    put_varint(b, (uint64_t)len + 1);
    ph_buf_append(b, s, len);
}

static uint64_t index_out(uint32_t idx)
{
    return idx == PH_MESSAGE_PART_NONE ? 0 : (uint64_t)idx + 1;
}

void ph_message_info_serialize(const struct ph_message_info *info, void **buf_r,
                               size_t *len_r)
{
    struct ph_buf b = {0};
    ph_buf_append(&b, MAGIC, 4);
    ph_buf_putc(&b, VERSION);
    put_varint(&b, info->size);
    put_varint(&b, info->lines);
    put_varint(&b, info->has_date ? 1 : 0);
    put_varint(&b, zigzag((int64_t)info->date));
    put_varint(&b, zigzag(info->date_tz_offset));
    put_string(&b, info->envelope);
    put_string(&b, info->bodystructure);
    put_string(&b, info->body);
    put_bytes(&b, info->header, info->header_size);
    put_nstring(&b, info->subject);
    put_nstring(&b, info->from);
    put_nstring(&b, info->to);
    put_nstring(&b, info->cc);
    put_nstring(&b, info->bcc);
    put_nstring(&b, info->message_id);
    put_varint(&b, info->n_parts);
    for (uint32_t i = 0; i < info->n_parts; i++) {
        const struct ph_message_part *p = &info->parts[i];
        put_varint(&b, index_out(p->parent));
        put_varint(&b, index_out(p->first_child));
        put_varint(&b, index_out(p->next_sibling));
        put_varint(&b, p->n_children);
        put_varint(&b, p->flags);
        put_varint(&b, p->encoding);
        put_varint(&b, p->header_offset);
        put_varint(&b, p->header_size);
        put_varint(&b, p->body_offset);
        put_varint(&b, p->body_size);
        put_varint(&b, p->body_lines);
        put_string(&b, p->type);
        put_string(&b, p->subtype);
        put_nstring(&b, p->charset);
    }
    *len_r = b.len;
    *buf_r = ph_buf_steal(&b);
}

/* ---- Reading ---- */

struct reader {
    const unsigned char *p, *end;
    const char *error;
};

static bool fail(struct reader *r, const char *error)
{
    if (r->error == NULL)
        r->error = error;
    return false;
}

static bool get_varint(struct reader *r, uint64_t *v_r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return fail(r, "truncated message info");
        unsigned char c = *r->p++;
        if (shift == 63 && (c & 0x7e) != 0)
            return fail(r, "integer out of range in message info");
        v |= (uint64_t)(c & 0x7f) << shift;
        if ((c & 0x80) == 0) {
            /* One spelling per value: a stored info is canonical. */
            if (c == 0 && shift > 0)
                return fail(r, "non-canonical integer in message info");
            *v_r = v;
            return true;
        }
    }
    return fail(r, "integer out of range in message info");
}

static bool get_u32(struct reader *r, uint32_t *v_r)
{
    uint64_t v;
    if (!get_varint(r, &v))
        return false;
    if (v > UINT32_MAX)
        return fail(r, "integer out of range in message info");
    *v_r = (uint32_t)v;
    return true;
}

static bool get_index(struct reader *r, uint32_t n_parts, uint32_t *idx_r)
{
    uint64_t v;
    if (!get_varint(r, &v))
        return false;
    if (v > n_parts)
        return fail(r, "part index out of range in message info");
    *idx_r = v == 0 ? PH_MESSAGE_PART_NONE : (uint32_t)(v - 1);
    return true;
}

/* A malloc'ed copy; text fields may not hold NUL (binary: header). */
static bool get_bytes(struct reader *r, bool binary, char **s_r, size_t *len_r)
{
    uint64_t len;
    if (!get_varint(r, &len))
        return false;
    if (len > (uint64_t)(r->end - r->p))
        return fail(r, "truncated message info");
    if (!binary && memchr(r->p, '\0', (size_t)len) != NULL)
        return fail(r, "NUL in a message info string");
    *s_r = ph_strndup((const char *)r->p, (size_t)len);
    r->p += len;
    if (len_r != NULL)
        *len_r = (size_t)len;
    return true;
}

static bool get_nstring(struct reader *r, char **s_r)
{
    uint64_t len;
    if (!get_varint(r, &len))
        return false;
    if (len == 0) {
        *s_r = NULL;
        return true;
    }
    len--;
    if (len > (uint64_t)(r->end - r->p))
        return fail(r, "truncated message info");
    if (memchr(r->p, '\0', (size_t)len) != NULL)
        return fail(r, "NUL in a message info string");
    *s_r = ph_strndup((const char *)r->p, (size_t)len);
    r->p += len;
    return true;
}

static bool range_ok(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

/* The part tree must be what the parser builds: depth-first order,
 * consistent links, children inside their parent's body. */
static bool check_parts(struct reader *r, const struct ph_message_info *info)
{
    const struct ph_message_part *parts = info->parts;
    uint32_t n = info->n_parts;
    uint64_t linked = 0;

    if (parts[0].parent != PH_MESSAGE_PART_NONE ||
        parts[0].next_sibling != PH_MESSAGE_PART_NONE ||
        !(parts[0].flags & PH_MESSAGE_PART_MESSAGE) ||
        parts[0].header_offset != 0)
        return fail(r, "bad root part in message info");
    for (uint32_t i = 0; i < n; i++) {
        const struct ph_message_part *p = &parts[i];
        if ((p->flags & ~(uint32_t)KNOWN_FLAGS) != 0 ||
            p->encoding > PH_MESSAGE_ENCODING_OTHER)
            return fail(r, "unknown part flags in message info");
        if (!range_ok(p->header_offset, p->header_size, info->size) ||
            !range_ok(p->body_offset, p->body_size, info->size) ||
            p->header_offset + p->header_size != p->body_offset ||
            p->body_lines > p->body_size)
            return fail(r, "part range outside the message in message info");
        bool multi = (p->flags & PH_MESSAGE_PART_MULTIPART) != 0;
        bool rfc822 = (p->flags & PH_MESSAGE_PART_RFC822) != 0;
        if ((multi && rfc822) || (rfc822 && p->n_children != 1) ||
            (!multi && !rfc822 && p->n_children != 0))
            return fail(r, "part kind and children disagree in message info");
        if (i > 0) {
            if (p->parent >= i)
                return fail(r, "part order broken in message info");
            const struct ph_message_part *pp = &parts[p->parent];
            bool is_message = (p->flags & PH_MESSAGE_PART_MESSAGE) != 0;
            if (is_message != ((pp->flags & PH_MESSAGE_PART_RFC822) != 0))
                return fail(r, "message node misplaced in message info");
            if (p->header_offset < pp->body_offset ||
                p->body_offset + p->body_size >
                    pp->body_offset + pp->body_size ||
                (is_message && p->header_offset != pp->body_offset))
                return fail(r, "part outside its parent in message info");
        }
        /* The children chain: increasing indexes, all with this parent. */
        uint32_t count = 0, prev = i;
        for (uint32_t c = p->first_child; c != PH_MESSAGE_PART_NONE;
             c = parts[c].next_sibling) {
            if (c <= prev || parts[c].parent != i || ++count > p->n_children)
                return fail(r, "broken child list in message info");
            prev = c;
        }
        if (count != p->n_children)
            return fail(r, "broken child list in message info");
        linked += count;
    }
    if (linked != (uint64_t)n - 1)
        return fail(r, "parts missing from the tree in message info");
    return true;
}

int ph_message_info_deserialize(const void *buf, size_t len,
                                struct ph_message_info **info_r,
                                const char **error_r)
{
    struct reader r = {buf, (const unsigned char *)buf + len, NULL};
    struct ph_message_info *info = ph_calloc(1, sizeof(*info));
    bool ok = false;

    if (len < 5 || memcmp(buf, MAGIC, 4) != 0) {
        fail(&r, "not a message info");
        goto out;
    }
    if (r.p[4] != VERSION) {
        fail(&r, "unsupported message info version");
        goto out;
    }
    r.p += 5;
    uint64_t has_date, date, tz;
    if (!get_varint(&r, &info->size) || !get_varint(&r, &info->lines) ||
        !get_varint(&r, &has_date) || !get_varint(&r, &date) ||
        !get_varint(&r, &tz))
        goto out;
    int64_t d = (int64_t)(date >> 1) ^ -(int64_t)(date & 1);
    int64_t t = (int64_t)(tz >> 1) ^ -(int64_t)(tz & 1);
    if (has_date > 1 || (time_t)d != d || t < -24 * 60 || t > 24 * 60 ||
        info->lines > info->size) {
        fail(&r, "bad header values in message info");
        goto out;
    }
    info->has_date = has_date == 1;
    info->date = (time_t)d;
    info->date_tz_offset = (int)t;
    if (!get_bytes(&r, false, &info->envelope, NULL) ||
        !get_bytes(&r, false, &info->bodystructure, NULL) ||
        !get_bytes(&r, false, &info->body, NULL) ||
        !get_bytes(&r, true, &info->header, &info->header_size) ||
        !get_nstring(&r, &info->subject) || !get_nstring(&r, &info->from) ||
        !get_nstring(&r, &info->to) || !get_nstring(&r, &info->cc) ||
        !get_nstring(&r, &info->bcc) || !get_nstring(&r, &info->message_id))
        goto out;
    if (!imap_value_valid(info->envelope, strlen(info->envelope)) ||
        info->envelope[0] != '(' ||
        !imap_value_valid(info->bodystructure, strlen(info->bodystructure)) ||
        info->bodystructure[0] != '(' ||
        !imap_value_valid(info->body, strlen(info->body)) ||
        info->body[0] != '(') {
        fail(&r, "bad FETCH value in message info");
        goto out;
    }
    uint32_t n;
    if (!get_u32(&r, &n))
        goto out;
    /* Each part takes at least 14 bytes: no allocation beyond the input. */
    if (n == 0 || n > (size_t)(r.end - r.p) / 14) {
        fail(&r, "bad part count in message info");
        goto out;
    }
    info->parts = ph_calloc(n, sizeof(struct ph_message_part));
    info->n_parts = n;
    for (uint32_t i = 0; i < n; i++) {
        struct ph_message_part *p = &info->parts[i];
        if (!get_index(&r, n, &p->parent) ||
            !get_index(&r, n, &p->first_child) ||
            !get_index(&r, n, &p->next_sibling) ||
            !get_u32(&r, &p->n_children) || !get_u32(&r, &p->flags) ||
            !get_u32(&r, &p->encoding) || !get_varint(&r, &p->header_offset) ||
            !get_varint(&r, &p->header_size) ||
            !get_varint(&r, &p->body_offset) ||
            !get_varint(&r, &p->body_size) || !get_varint(&r, &p->body_lines) ||
            !get_bytes(&r, false, &p->type, NULL) ||
            !get_bytes(&r, false, &p->subtype, NULL) ||
            !get_nstring(&r, &p->charset))
            goto out;
    }
    if (r.p != r.end) {
        fail(&r, "trailing bytes after message info");
        goto out;
    }
    if (!check_parts(&r, info))
        goto out;
    if (info->header_size > info->parts[0].header_size) {
        fail(&r, "header longer than the message's in message info");
        goto out;
    }
    ok = true;
out:
    if (!ok) {
        *error_r = r.error;
        ph_message_info_free(&info);
        return -1;
    }
    *info_r = info;
    return 0;
}
