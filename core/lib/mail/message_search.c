/* SPDX-License-Identifier: MIT */
/* Case-insensitive substring matching for SEARCH (RFC 3501 6.4.4: "a
 * case-insensitive substring search"), with Unicode full case folding. */
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unistr.h>

#include "message-private.h"

struct ph_message_matcher {
    char *key; /* folded */
    size_t key_len;
    struct ph_buf carry; /* the last key_len - 1 folded bytes fed */
    bool matched;
};

/* Folded copy of s: Unicode case folding for valid UTF-8, ASCII folding
 * otherwise (8-bit text in an unknown charset). */
void ph_message_fold(const char *s, size_t len, struct ph_buf *out)
{
    if (len == 0)
        return;
    if (u8_check((const uint8_t *)s, len) == NULL) {
        size_t flen = 0;
        uint8_t *f =
            u8_casefold((const uint8_t *)s, len, NULL, NULL, NULL, &flen);
        if (f != NULL) {
            ph_buf_append(out, f, flen);
            free(f);
            return;
        }
    }
    size_t start = out->len;
    ph_buf_append(out, s, len);
    for (size_t i = 0; i < len; i++)
        out->data[start + i] =
            (char)msg_ascii_lower((unsigned char)out->data[start + i]);
}

struct ph_message_matcher *ph_message_matcher_new(const char *key, size_t len)
{
    struct ph_message_matcher *m = ph_calloc(1, sizeof(*m));
    struct ph_buf b = {0};
    ph_message_fold(key, len, &b);
    m->key_len = b.len;
    m->key = ph_buf_steal(&b);
    m->matched = m->key_len == 0;
    return m;
}

bool ph_message_matcher_feed(struct ph_message_matcher *m, const char *text,
                             size_t len)
{
    if (m->matched || len == 0)
        return m->matched;
    ph_message_fold(text, len, &m->carry);
    if (m->carry.len >= m->key_len &&
        memmem(m->carry.data, m->carry.len, m->key, m->key_len) != NULL) {
        m->matched = true;
        ph_buf_free(&m->carry);
        return true;
    }
    /* A match may begin in the last key_len - 1 bytes. */
    size_t keep = m->key_len - 1;
    if (m->carry.len > keep) {
        memmove(m->carry.data, m->carry.data + m->carry.len - keep, keep);
        m->carry.len = keep;
        m->carry.data[keep] = '\0';
    }
    return false;
}

void ph_message_matcher_reset(struct ph_message_matcher *m)
{
    ph_buf_reset(&m->carry);
    m->matched = m->key_len == 0;
}

void ph_message_matcher_free(struct ph_message_matcher **m)
{
    if (*m == NULL)
        return;
    free((*m)->key);
    ph_buf_free(&(*m)->carry);
    free(*m);
    *m = NULL;
}

bool ph_message_text_contains(const char *text, size_t text_len,
                              const char *key, size_t key_len)
{
    struct ph_message_matcher *m = ph_message_matcher_new(key, key_len);
    bool found = ph_message_matcher_feed(m, text, text_len);
    ph_message_matcher_free(&m);
    return found;
}

/* ---- The text SEARCH compares ------------------------------------------- */

struct text_walk {
    struct ph_message_decoder *dec;
    ph_message_text_sink *sink;
    void *sink_arg;
    bool done; /* the sink has seen enough */
};

static void walk_decoded(void *context, const char *data, size_t len)
{
    struct text_walk *w = context;
    if (!w->done && w->sink(w->sink_arg, data, len))
        w->done = true;
}

static int walk_raw(void *arg, const void *data, size_t len)
{
    struct text_walk *w = arg;
    if (!w->done)
        ph_message_decoder_feed(w->dec, data, len);
    return 0;
}

/* One range of the message through a decoder to the sink. */
static int walk_range(struct text_walk *w, enum ph_message_encoding encoding,
                      const char *charset, uint64_t offset, uint64_t size,
                      ph_message_reader *read, void *read_arg)
{
    w->dec = ph_message_decoder_new(encoding, charset, walk_decoded, w);
    int ret = read(read_arg, offset, size, walk_raw, w);
    ph_message_decoder_finish(&w->dec);
    return ret;
}

/* A part header is read up to this size, as the parser keeps one. */
#define PART_HEADER_MAX (1024 * 1024)

static void walk_piece(struct text_walk *w, const char *data, size_t len)
{
    walk_decoded(w, data, len);
    /* Pieces end with a line break, so that no match joins two of them. */
    walk_decoded(w, "\n", 1);
}

static int read_into(void *arg, const void *data, size_t len)
{
    ph_buf_append(arg, data, len);
    return 0;
}

/* The file name parameter of a field (name of Content-Type, filename of
 * Content-Disposition): RFC 2231 continuations joined, an extended value
 * converted from its charset, RFC 2047 words decoded (senders put them in
 * quoted names although RFC 2047 5 does not allow it). */
static void walk_file_name(struct text_walk *w, const struct message_field *f,
                           bool type)
{
    struct mime_params params = {0};
    char *t = NULL, *sub = NULL;
    int r = type ? mime_content_type_parse(f->value, f->value_len, &t, &sub,
                                           &params)
                 : mime_disposition_parse(f->value, f->value_len, &t, &params);
    size_t len;
    char *v = r < 0 ? NULL
                    : mime_params_value(&params, type ? "name" : "filename",
                                        true, &len);
    if (v != NULL) {
        struct ph_buf dec = {0};
        ph_rfc2047_decode(v, len, &dec);
        walk_piece(w, dec.data ? dec.data : "", dec.len);
        ph_buf_free(&dec);
        free(v);
    }
    free(t);
    free(sub);
    mime_params_clear(&params);
}

/* One header block: its RFC 2047-decoded text, then the file names its
 * Content-Type and Content-Disposition carry, decoded. */
static void walk_header(struct text_walk *w, const char *hdr, size_t len)
{
    struct ph_buf dec = {0};
    ph_rfc2047_decode(hdr, len, &dec);
    walk_piece(w, dec.data ? dec.data : "", dec.len);
    ph_buf_free(&dec);
    bool seen_type = false, seen_disp = false;
    size_t pos = 0;
    struct message_field f;
    while (!w->done && message_header_next(hdr, len, &pos, &f)) {
        if (f.name == NULL)
            continue;
        if (!seen_type && msg_ascii_eqz(f.name, f.name_len, "Content-Type")) {
            seen_type = true;
            walk_file_name(w, &f, true);
        } else if (!seen_disp &&
                   msg_ascii_eqz(f.name, f.name_len, "Content-Disposition")) {
            seen_disp = true;
            walk_file_name(w, &f, false);
        }
    }
}

int ph_message_search_text(const struct ph_message_info *info, uint64_t size,
                           enum ph_message_text what, ph_message_reader *read,
                           void *read_arg, ph_message_text_sink *sink,
                           void *sink_arg)
{
    struct text_walk w = {.sink = sink, .sink_arg = sink_arg};
    if (info == NULL)
        return what == PH_MESSAGE_TEXT_HEADERS
                   ? 0
                   : walk_range(&w, PH_MESSAGE_ENCODING_8BIT, NULL, 0, size,
                                read, read_arg);
    int ret = 0;
    /* Every header first: the message's, each part's MIME header and each
     * embedded message's, so that BODY is what follows them (one text of
     * storage.sqlite serves both). */
    for (uint32_t i = 0; what != PH_MESSAGE_TEXT_BODY && i < info->n_parts &&
                         !w.done && ret == 0;
         i++) {
        const struct ph_message_part *p = &info->parts[i];
        if (i == 0) {
            walk_header(&w, info->header ? info->header : "",
                        info->header ? info->header_size : 0);
            continue;
        }
        if (p->header_size == 0)
            continue;
        struct ph_buf hdr = {0};
        ret = read(read_arg, p->header_offset,
                   p->header_size < PART_HEADER_MAX ? p->header_size
                                                    : PART_HEADER_MAX,
                   read_into, &hdr);
        if (ret == 0)
            walk_header(&w, hdr.data ? hdr.data : "", hdr.len);
        ph_buf_free(&hdr);
    }
    for (uint32_t i = 0; what != PH_MESSAGE_TEXT_HEADERS && i < info->n_parts &&
                         !w.done && ret == 0;
         i++) {
        const struct ph_message_part *p = &info->parts[i];
        if (p->n_children > 0 || !(p->flags & PH_MESSAGE_PART_TEXT) ||
            p->body_size == 0)
            continue;
        ret = walk_range(&w, p->encoding, p->charset, p->body_offset,
                         p->body_size, read, read_arg);
        if (ret == 0)
            walk_decoded(&w, "\n", 1);
    }
    return ret;
}
