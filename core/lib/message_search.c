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
static void fold(const char *s, size_t len, struct ph_buf *out)
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
    fold(key, len, &b);
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
    fold(text, len, &m->carry);
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
