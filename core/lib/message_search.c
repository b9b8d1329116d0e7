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

int ph_message_search_text(const struct ph_message_info *info, uint64_t size,
                           bool header, ph_message_reader *read, void *read_arg,
                           ph_message_text_sink *sink, void *sink_arg)
{
    struct text_walk w = {.sink = sink, .sink_arg = sink_arg};
    if (info == NULL)
        return walk_range(&w, PH_MESSAGE_ENCODING_8BIT, NULL, 0, size, read,
                          read_arg);
    if (header && info->header != NULL) {
        struct ph_buf dec = {0};
        ph_rfc2047_decode(info->header, info->header_size, &dec);
        walk_decoded(&w, dec.data ? dec.data : "", dec.len);
        ph_buf_free(&dec);
    }
    int ret = 0;
    for (uint32_t i = 0; i < info->n_parts && !w.done && ret == 0; i++) {
        const struct ph_message_part *p = &info->parts[i];
        if (p->n_children > 0 || !(p->flags & PH_MESSAGE_PART_TEXT) ||
            p->body_size == 0)
            continue;
        ret = walk_range(&w, p->encoding, p->charset, p->body_offset,
                         p->body_size, read, read_arg);
    }
    return ret;
}
