/* SPDX-License-Identifier: MIT */
/* APPEND of binary content (RFC 3516 4.4): the leaf parts whose bytes
 * storage would change (a NUL, or a line end of a "binary" part) are
 * re-encoded in base64, everything else is kept byte for byte. */
#include <stdlib.h>
#include <string.h>

#include <posthorn/base64.h>

#include "message-private.h"

#define READ_CHUNK 65536
#define B64_LINE 57 /* octets per 76-character line (RFC 2045 6.8) */

struct scan {
    bool binary; /* the part says "binary": its CR and LF are data */
    bool prev_cr;
    uint64_t nul, bare; /* NULs; CRs or LFs that are not one CRLF */
    bool cr_pending;    /* a CR whose LF may come in the next chunk */
};

static int scan_cb(void *arg, const void *data, size_t len)
{
    struct scan *sc = arg;
    const unsigned char *s = data;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0')
            sc->nul++;
        if (!sc->binary)
            continue;
        if (sc->cr_pending && s[i] != '\n')
            sc->bare++; /* a CR alone */
        if (s[i] == '\n' && !sc->cr_pending)
            sc->bare++; /* an LF alone */
        sc->cr_pending = s[i] == '\r';
    }
    return 0;
}

static bool plain_leaf(const struct ph_message_part *pt)
{
    return pt->first_child == PH_MESSAGE_PART_NONE &&
           (pt->encoding == PH_MESSAGE_ENCODING_7BIT ||
            pt->encoding == PH_MESSAGE_ENCODING_8BIT ||
            pt->encoding == PH_MESSAGE_ENCODING_BINARY);
}

static int hdr_cb(void *arg, const void *data, size_t len)
{
    ph_buf_append(arg, data, len);
    return 0;
}

struct out_ctx {
    ph_message_data_cb *cb;
    void *arg;
    unsigned char pending[B64_LINE];
    size_t npending;
    bool first_line;
    struct ph_buf line;
};

static int b64_line(struct out_ctx *o, const unsigned char *in, size_t len)
{
    ph_buf_reset(&o->line);
    if (!o->first_line)
        ph_buf_puts(&o->line, "\r\n");
    o->first_line = false;
    ph_base64_encode(in, len, &o->line);
    return o->cb(o->arg, o->line.data, o->line.len);
}

static int b64_cb(void *arg, const void *data, size_t len)
{
    struct out_ctx *o = arg;
    const unsigned char *s = data;
    int r = 0;
    while (len > 0 && r == 0) {
        size_t n = B64_LINE - o->npending < len ? B64_LINE - o->npending : len;
        memcpy(o->pending + o->npending, s, n);
        o->npending += n;
        s += n;
        len -= n;
        if (o->npending == B64_LINE) {
            r = b64_line(o, o->pending, B64_LINE);
            o->npending = 0;
        }
    }
    return r;
}

int ph_message_binary_encode(const struct ph_message_info *info, uint64_t size,
                             ph_message_reader *read, void *read_arg,
                             ph_message_data_cb *out, void *out_arg)
{
    /* Which leaves change, and are they all the NULs there are? */
    bool *change =
        ph_calloc(info->n_parts ? info->n_parts : 1, sizeof(*change));
    struct scan all = {0};
    int r = read(read_arg, 0, size, scan_cb, &all);
    uint64_t nul_in_leaves = 0;
    size_t n_change = 0;
    for (uint32_t i = 0; r == 0 && i < info->n_parts; i++) {
        const struct ph_message_part *pt = &info->parts[i];
        if (!plain_leaf(pt) || pt->body_size == 0)
            continue;
        struct scan sc = {.binary = pt->encoding == PH_MESSAGE_ENCODING_BINARY};
        r = read(read_arg, pt->body_offset, pt->body_size, scan_cb, &sc);
        if (sc.cr_pending)
            sc.bare++;
        if (sc.nul > 0 || sc.bare > 0) {
            change[i] = true;
            n_change++;
            nul_in_leaves += sc.nul;
        }
    }
    if (r == 0 && nul_in_leaves < all.nul)
        r = PH_MESSAGE_BINARY_UNENCODABLE;
    if (r != 0 || n_change == 0) {
        free(change);
        return r; /* 0 is PH_MESSAGE_BINARY_AS_IS */
    }
    /* Parts are in depth-first order, which is byte order. */
    struct out_ctx o = {.cb = out, .arg = out_arg};
    uint64_t at = 0;
    for (uint32_t i = 0; r == 0 && i < info->n_parts; i++) {
        const struct ph_message_part *pt = &info->parts[i];
        if (!change[i])
            continue;
        struct ph_buf hdr = {0}, fixed = {0};
        if (pt->header_offset > at)
            r = read(read_arg, at, pt->header_offset - at, out, out_arg);
        if (r == 0)
            r = read(read_arg, pt->header_offset, pt->header_size, hdr_cb,
                     &hdr);
        if (r == 0) {
            ph_message_header_set_encoding(hdr.data ? hdr.data : "", hdr.len,
                                           "base64", &fixed);
            r = out(out_arg, fixed.data, fixed.len);
        }
        ph_buf_free(&hdr);
        ph_buf_free(&fixed);
        o.first_line = true;
        o.npending = 0;
        if (r == 0)
            r = read(read_arg, pt->body_offset, pt->body_size, b64_cb, &o);
        if (r == 0 && o.npending > 0)
            r = b64_line(&o, o.pending, o.npending);
        at = pt->body_offset + pt->body_size;
        /* The CRLF before a boundary belongs to the boundary; at the end
         * of the message the last line gets its own. */
        if (r == 0 && at >= size)
            r = out(out_arg, "\r\n", 2);
    }
    if (r == 0 && at < size)
        r = read(read_arg, at, size - at, out, out_arg);
    ph_buf_free(&o.line);
    free(change);
    return r == 0 ? PH_MESSAGE_BINARY_ENCODED : r;
}
