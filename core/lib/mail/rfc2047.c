/* SPDX-License-Identifier: MIT */
/* RFC 2047 encoded words in header values, decoded to UTF-8 for SEARCH. */
#include <stdlib.h>
#include <string.h>

#include <posthorn/base64.h>

#include "message-private.h"

struct eword {
    const char *start, *end; /* the whole "=?...?=" */
    const char *charset;
    size_t charset_len;
    char encoding; /* 'B' or 'Q' */
    const char *text;
    size_t text_len;
};

static bool is_token_char(unsigned char c)
{
    return c > ' ' && c < 0x7f && strchr("()<>@,;:\"/[]?.=", c) == NULL;
}

/* encoded-word = "=?" charset ["*" language] "?" encoding "?" text "?=" */
static bool parse_eword(const char *p, const char *end, struct eword *w)
{
    if (end - p < 8 || p[0] != '=' || p[1] != '?')
        return false;
    const char *q = p + 2;
    w->charset = q;
    while (q < end && (is_token_char((unsigned char)*q) || *q == '.'))
        q++;
    w->charset_len = (size_t)(q - w->charset);
    if (w->charset_len == 0 || end - q < 5 || *q != '?')
        return false;
    char enc = (char)msg_ascii_lower((unsigned char)q[1]);
    if ((enc != 'b' && enc != 'q') || q[2] != '?')
        return false;
    w->encoding = enc == 'b' ? 'B' : 'Q';
    q += 3;
    w->text = q;
    while (q + 1 < end && !(q[0] == '?' && q[1] == '=')) {
        unsigned char c = (unsigned char)*q;
        if (c <= ' ' || c >= 0x7f)
            return false; /* no whitespace in encoded-text */
        q++;
    }
    if (q + 1 >= end)
        return false;
    w->text_len = (size_t)(q - w->text);
    w->start = p;
    w->end = q + 2;
    return true;
}

static void decode_text(const struct eword *w, struct ph_buf *out)
{
    const unsigned char *t = (const unsigned char *)w->text;
    size_t n = w->text_len;
    if (w->encoding == 'B') {
        struct ph_base64_decoder dec = {0};
        ph_base64_decoder_feed(&dec, t, n, out);
        return;
    }
    /* Q (RFC 2047 4.2): "_" is a space, "=XX" a byte. */
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '_') {
            ph_buf_putc(out, ' ');
        } else if (t[i] == '=' && i + 2 < n && msg_hex_value(t[i + 1]) >= 0 &&
                   msg_hex_value(t[i + 2]) >= 0) {
            ph_buf_putc(out, (char)(msg_hex_value(t[i + 1]) * 16 +
                                    msg_hex_value(t[i + 2])));
            i += 2;
        } else {
            ph_buf_putc(out, (char)t[i]);
        }
    }
}

/* Converts the decoded bytes of a run of words in one charset. */
static bool flush_run(const char *charset, size_t charset_len,
                      struct ph_buf *raw, struct ph_buf *out)
{
    char *cs = ph_strndup(charset, charset_len);
    struct charset_conv *conv = charset_conv_new(cs);
    free(cs);
    if (conv == NULL)
        return false;
    charset_conv_feed(conv, (const unsigned char *)raw->data, raw->len, true,
                      out);
    charset_conv_free(&conv);
    return true;
}

void ph_rfc2047_decode(const char *in, size_t len, struct ph_buf *out)
{
    const char *p = in, *end = in + len;
    /* Bytes of consecutive words in the same charset are converted
     * together: a multibyte character may be split between two words. */
    struct ph_buf raw = {0};
    const char *run_charset = NULL, *run_start = NULL;
    size_t run_charset_len = 0;
    const char *gap = NULL; /* whitespace after the last word */

    while (p < end) {
        struct eword w;
        if (*p == '=' && parse_eword(p, end, &w)) {
            bool same = run_charset != NULL &&
                        msg_ascii_eq(run_charset, run_charset_len, w.charset,
                                     w.charset_len);
            if (run_charset != NULL && !same) {
                if (!flush_run(run_charset, run_charset_len, &raw, out))
                    ph_buf_append(out, run_start, (size_t)(gap - run_start));
                ph_buf_reset(&raw);
                run_charset = NULL;
            }
            /* Whitespace between two encoded words is dropped (RFC 2047
             * 6.2); otherwise it was written out already. */
            if (run_charset == NULL) {
                run_charset = w.charset;
                run_charset_len = w.charset_len;
                run_start = w.start;
            }
            decode_text(&w, &raw);
            p = w.end;
            gap = p;
            continue;
        }
        if (run_charset != NULL) {
            if (msg_is_wsp((unsigned char)*p) || *p == '\r' || *p == '\n') {
                /* Maybe between two words: decide at the next token. */
                const char *q = p;
                while (q < end && (msg_is_wsp((unsigned char)*q) ||
                                   *q == '\r' || *q == '\n'))
                    q++;
                struct eword next;
                if (q < end && *q == '=' && parse_eword(q, end, &next)) {
                    p = q;
                    continue;
                }
            }
            if (!flush_run(run_charset, run_charset_len, &raw, out))
                ph_buf_append(out, run_start, (size_t)(gap - run_start));
            ph_buf_reset(&raw);
            run_charset = NULL;
        }
        if (*p != '\r' && *p != '\n')
            ph_buf_putc(out, *p);
        p++;
    }
    if (run_charset != NULL &&
        !flush_run(run_charset, run_charset_len, &raw, out))
        ph_buf_append(out, run_start, (size_t)(gap - run_start));
    ph_buf_free(&raw);
    if (out->data == NULL)
        ph_buf_append(out, "", 0);
}
