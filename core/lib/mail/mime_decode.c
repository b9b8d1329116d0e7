/* SPDX-License-Identifier: MIT */
/* Body decoding for SEARCH: Content-Transfer-Encoding (RFC 2045 6.7, 6.8)
 * and charset conversion to UTF-8, streaming in bounded chunks. */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/base64.h>

#include "message-private.h"

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */
#define CHUNK 4096

/* ---- Charsets ---- */

struct charset_conv {
    iconv_t cd;                /* (iconv_t)-1: UTF-8 checked by hand */
    unsigned char pending[16]; /* a character cut by a chunk end */
    size_t npending;
};

static bool charset_is_utf8_like(const char *cs)
{
    static const char *const names[] = {"utf-8", "utf8", "us-ascii", "ascii",
                                        "ansi_x3.4-1968"};
    for (size_t i = 0; i < PH_N_ELEMENTS(names); i++)
        if (msg_ascii_eqz(cs, strlen(cs), names[i]))
            return true;
    return false;
}

struct charset_conv *charset_conv_new(const char *charset)
{
    /* An RFC 2231 language suffix ("iso-8859-1*de") is no part of it. */
    char *cs = ph_strdup(charset);
    char *star = strchr(cs, '*');
    if (star != NULL)
        *star = '\0';
    struct charset_conv *conv = ph_calloc(1, sizeof(*conv));
    conv->cd = (iconv_t)-1;
    if (!charset_is_utf8_like(cs)) {
        /* Names iconv spells differently. */
        const char *name = cs;
        if (msg_ascii_eqz(cs, strlen(cs), "ks_c_5601-1987"))
            name = "CP949";
        else if (msg_ascii_eqz(cs, strlen(cs), "gb2312"))
            name = "GB18030"; /* a superset, as mail clients treat it */
        conv->cd = iconv_open("UTF-8", name);
        if (conv->cd == (iconv_t)-1) {
            free(conv);
            conv = NULL;
        }
    }
    free(cs);
    return conv;
}

void charset_conv_free(struct charset_conv **conv)
{
    if (*conv == NULL)
        return;
    if ((*conv)->cd != (iconv_t)-1)
        iconv_close((*conv)->cd);
    free(*conv);
    *conv = NULL;
}

/* Looks at the UTF-8 sequence starting at s (n bytes available). Returns
 * its length when valid; 0 when it is cut short by the end of the input;
 * otherwise minus the length of its maximal valid prefix (at least 1), to
 * be replaced by one U+FFFD (Unicode 15, section 3.9, "U+FFFD Substitution
 * of Maximal Subparts"). */
static int utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    int len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (i == 1) {
            /* No overlong forms, surrogates or code points past 10FFFF. */
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
            else if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        }
        if (s[i] < lo || s[i] > hi)
            return -i;
    }
    return len;
}

static void utf8_check_feed(struct charset_conv *conv, const unsigned char *in,
                            size_t len, bool last, struct ph_buf *out)
{
    size_t i = 0;
    while (i < len) {
        int n = utf8_seq(in + i, len - i);
        if (n > 0) {
            size_t run = i;
            i += (size_t)n;
            while (i < len && (n = utf8_seq(in + i, len - i)) > 0)
                i += (size_t)n;
            ph_buf_append(out, in + run, i - run);
        } else if (n == 0 && !last) {
            memcpy(conv->pending, in + i, len - i);
            conv->npending = len - i;
            return;
        } else {
            ph_buf_puts(out, REPLACEMENT);
            i += n == 0 ? len - i : (size_t)-n;
        }
    }
}

static void iconv_feed(struct charset_conv *conv, const unsigned char *in,
                       size_t len, bool last, struct ph_buf *out)
{
    char obuf[CHUNK];
    char *ip = (char *)(uintptr_t)in;
    size_t ileft = len;
    while (ileft > 0) {
        char *op = obuf;
        size_t oleft = sizeof(obuf);
        size_t r = iconv(conv->cd, &ip, &ileft, &op, &oleft);
        ph_buf_append(out, obuf, sizeof(obuf) - oleft);
        if (r != (size_t)-1)
            break;
        if (errno == E2BIG)
            continue;
        if (errno == EINVAL && !last && ileft < sizeof(conv->pending)) {
            memcpy(conv->pending, ip, ileft);
            conv->npending = ileft;
            return;
        }
        /* EILSEQ, or a cut character at the end: replace one byte. */
        ph_buf_puts(out, REPLACEMENT);
        ip++;
        ileft--;
    }
    if (last) {
        char *op = obuf;
        size_t oleft = sizeof(obuf);
        (void)iconv(conv->cd, NULL, NULL, &op, &oleft);
        ph_buf_append(out, obuf, sizeof(obuf) - oleft);
    }
}

static void conv_chunk(struct charset_conv *conv, const unsigned char *in,
                       size_t len, bool last, struct ph_buf *out)
{
    if (conv->cd == (iconv_t)-1)
        utf8_check_feed(conv, in, len, last, out);
    else
        iconv_feed(conv, in, len, last, out);
}

void charset_conv_feed(struct charset_conv *conv, const unsigned char *in,
                       size_t len, bool last, struct ph_buf *out)
{
    if (conv->npending == 0) {
        conv_chunk(conv, in, len, last, out);
        return;
    }
    /* Complete the character cut at the end of the previous chunk. */
    struct ph_buf tmp = {0};
    ph_buf_append(&tmp, conv->pending, conv->npending);
    ph_buf_append(&tmp, in, len);
    conv->npending = 0;
    conv_chunk(conv, (const unsigned char *)tmp.data, tmp.len, last, out);
    ph_buf_free(&tmp);
}

/* ---- Quoted-printable ---- */

static void qp_flush_pending(struct qp_state *st, struct ph_buf *out)
{
    ph_buf_append(out, st->pending, st->npending);
    st->npending = 0;
}

/* The pending bytes are "=", "=X", "=" + whitespace, or whitespace. */
void qp_decode_step(struct qp_state *st, const unsigned char *in, size_t len,
                    struct ph_buf *out)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = in[i];
        if (st->cr && c != '\n') {
            /* A bare CR: no line end. */
            st->cr = false;
            qp_flush_pending(st, out);
            ph_buf_putc(out, '\r');
            continue;
        }
        unsigned char *pd = st->pending;
        size_t np = st->npending;
        if (c == '\r') {
            st->cr = true;
            i++;
            continue;
        }
        if (c == '\n') {
            bool had_cr = st->cr;
            st->cr = false;
            i++;
            if (np > 0 && pd[0] == '=' && (np == 1 || msg_is_wsp(pd[1]))) {
                st->npending = 0; /* soft line break */
                continue;
            }
            if (np > 0 && pd[0] == '=')
                qp_flush_pending(st, out); /* "=X" then a line end */
            st->npending = 0;              /* trailing whitespace is padding */
            ph_buf_puts(out, had_cr ? "\r\n" : "\n");
            continue;
        }
        if (np > 0 && pd[0] == '=') {
            if (np == 1 && msg_hex_value(c) >= 0) {
                pd[st->npending++] = c;
                i++;
                continue;
            }
            if (np == 2 && msg_hex_value(pd[1]) >= 0 && msg_hex_value(c) >= 0) {
                ph_buf_putc(
                    out, (char)(msg_hex_value(pd[1]) * 16 + msg_hex_value(c)));
                st->npending = 0;
                i++;
                continue;
            }
            if (msg_is_wsp(c) && (np == 1 || msg_is_wsp(pd[np - 1])) &&
                np < QP_PENDING_MAX) {
                pd[st->npending++] = c; /* "=" then padding, then EOL? */
                i++;
                continue;
            }
            qp_flush_pending(st, out); /* not an escape: literal */
            continue;
        }
        if (msg_is_wsp(c)) {
            if (np == QP_PENDING_MAX)
                qp_flush_pending(st, out);
            pd[st->npending++] = c;
            i++;
            continue;
        }
        qp_flush_pending(st, out);
        if (c == '=') {
            pd[0] = '=';
            st->npending = 1;
        } else {
            ph_buf_putc(out, (char)c);
        }
        i++;
    }
}

void qp_decode_finish(struct qp_state *st, struct ph_buf *out)
{
    /* "=" at the very end is a soft break; "=X" is literal; trailing
     * whitespace is padding. */
    if (st->npending == 2 && st->pending[0] == '=' &&
        !msg_is_wsp(st->pending[1]))
        qp_flush_pending(st, out);
    st->npending = 0;
    if (st->cr)
        ph_buf_putc(out, '\r');
    st->cr = false;
}

/* ---- Line ends of decoded text ---- */

void ph_text_crlf_feed(struct ph_text_crlf *st, const void *in, size_t len,
                       struct ph_buf *out)
{
    const char *s = in;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\n' && !(i > 0 ? s[i - 1] == '\r' : st->cr)) {
            ph_buf_append(out, s + run, i - run);
            ph_buf_putc(out, '\r');
            run = i;
        }
    }
    ph_buf_append(out, s + run, len - run);
    if (len > 0)
        st->cr = s[len - 1] == '\r';
}

/* ---- The decoder ---- */

struct ph_message_decoder {
    enum ph_message_encoding encoding;
    struct charset_conv *conv; /* NULL: raw bytes out */
    bool convert;
    struct ph_base64_decoder b64;
    struct qp_state qp;
    ph_message_decoder_cb *cb;
    void *context;
    struct ph_buf decoded, text;
};

struct ph_message_decoder *
ph_message_decoder_new(enum ph_message_encoding encoding, const char *charset,
                       ph_message_decoder_cb *cb, void *context)
{
    struct ph_message_decoder *d = ph_calloc(1, sizeof(*d));
    d->encoding = encoding;
    d->cb = cb;
    d->context = context;
    if (charset != NULL) {
        d->convert = true;
        d->conv = charset_conv_new(charset);
        if (d->conv == NULL)
            d->conv = charset_conv_new("utf-8"); /* unknown: check only */
    }
    return d;
}

static void emit(struct ph_message_decoder *d, bool last)
{
    struct ph_buf *src = &d->decoded;
    if (d->convert) {
        charset_conv_feed(d->conv, (const unsigned char *)d->decoded.data,
                          d->decoded.len, last, &d->text);
        ph_buf_reset(&d->decoded);
        src = &d->text;
    }
    if (src->len > 0)
        d->cb(d->context, src->data, src->len);
    ph_buf_reset(src);
}

void ph_message_decoder_feed(struct ph_message_decoder *d, const void *data,
                             size_t len)
{
    const unsigned char *in = data;
    while (len > 0) {
        size_t n = len < CHUNK ? len : CHUNK;
        switch (d->encoding) {
        case PH_MESSAGE_ENCODING_BASE64:
            ph_base64_decoder_feed(&d->b64, in, n, &d->decoded);
            break;
        case PH_MESSAGE_ENCODING_QUOTED_PRINTABLE:
            qp_decode_step(&d->qp, in, n, &d->decoded);
            break;
        default: ph_buf_append(&d->decoded, in, n); break;
        }
        emit(d, false);
        in += n;
        len -= n;
    }
}

void ph_message_decoder_finish(struct ph_message_decoder **dec)
{
    struct ph_message_decoder *d = *dec;
    if (d == NULL)
        return;
    *dec = NULL;
    if (d->encoding == PH_MESSAGE_ENCODING_QUOTED_PRINTABLE)
        qp_decode_finish(&d->qp, &d->decoded);
    emit(d, true);
    charset_conv_free(&d->conv);
    ph_buf_free(&d->decoded);
    ph_buf_free(&d->text);
    free(d);
}
