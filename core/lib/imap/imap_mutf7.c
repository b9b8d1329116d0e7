/* SPDX-License-Identifier: MIT */
/* Modified UTF-7 (RFC 3501 section 5.1.3) <-> UTF-8, canonical forms only:
 * a name decodes only if encoding the result gives the same bytes back. */
#include <stdlib.h>
#include <string.h>

#include <uninorm.h>

#include <posthorn/base64.h>
#include <posthorn/imap-util.h>

#define E_CHAR "Invalid character in mailbox name"
#define E_UNTERMINATED "Unterminated &-sequence in mailbox name"
#define E_BASE64 "Invalid modified BASE64 in mailbox name"
#define E_CANONICAL "Mailbox name is not canonical modified UTF-7"
#define E_UTF16 "Invalid UTF-16 in mailbox name"
#define E_UTF8 "Mailbox name is not valid UTF-8"
#define E_NUL "NUL in mailbox name"

static bool is_printable(uint32_t c)
{
    return c >= 0x20 && c <= 0x7e;
}

static void put_utf8(struct ph_buf *out, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    ph_buf_append(out, b, n);
}

/* Decodes one "&...-" sequence starting after the "&"; *pos ends after
 * the "-". */
static int decode_run(const char *in, size_t len, size_t *pos,
                      struct ph_buf *out, const char **error_r)
{
    uint32_t bits = 0, high = 0;
    unsigned nbits = 0;
    size_t units = 0;
    size_t i = *pos;
    for (;; i++) {
        if (i == len) {
            *error_r = E_UNTERMINATED;
            return -1;
        }
        unsigned char c = (unsigned char)in[i];
        if (c == '-')
            break;
        int v = ph_base64_value(PH_BASE64_IMAP, c);
        if (v < 0) {
            *error_r = is_printable(c) ? E_BASE64 : E_CHAR;
            return -1;
        }
        bits = (bits << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits < 16)
            continue;
        nbits -= 16;
        uint32_t u = (bits >> nbits) & 0xffff;
        bits &= (1u << nbits) - 1;
        units++;
        if (high != 0) {
            if (u < 0xdc00 || u > 0xdfff) {
                *error_r = E_UTF16;
                return -1;
            }
            put_utf8(out, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
            high = 0;
        } else if (u >= 0xd800 && u <= 0xdbff) {
            high = u;
        } else if (u >= 0xdc00 && u <= 0xdfff) {
            *error_r = E_UTF16;
            return -1;
        } else if (u == 0) {
            *error_r = E_NUL;
            return -1;
        } else if (is_printable(u)) {
            *error_r = E_CANONICAL;
            return -1;
        } else {
            put_utf8(out, u);
        }
    }
    /* "&-" is handled by the caller: an empty run is never valid here. */
    if (units == 0 || nbits >= 6 || bits != 0) {
        *error_r = E_CANONICAL;
        return -1;
    }
    if (high != 0) {
        *error_r = E_UTF16;
        return -1;
    }
    *pos = i + 1;
    return 0;
}

int ph_imap_mutf7_to_utf8(const char *in, size_t len, struct ph_buf *out,
                          const char **error_r)
{
    size_t i = 0;
    bool after_run = false; /* the previous byte ended an encoded run */
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        if (!is_printable(c)) {
            *error_r = E_CHAR;
            return -1;
        }
        if (c != '&') {
            ph_buf_putc(out, (char)c);
            i++;
            after_run = false;
            continue;
        }
        if (i + 1 == len) {
            *error_r = E_UNTERMINATED;
            return -1;
        }
        if (in[i + 1] == '-') {
            ph_buf_putc(out, '&');
            i += 2;
            after_run = false;
            continue;
        }
        /* Two runs in a row: the encoder writes one. */
        if (after_run) {
            *error_r = E_CANONICAL;
            return -1;
        }
        i++;
        if (decode_run(in, len, &i, out, error_r) < 0)
            return -1;
        after_run = true;
    }
    return 0;
}

/* Reads one strict UTF-8 code point at s[*i]; -1 when invalid. */
static int32_t next_utf8(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[*i];
    uint32_t cp, min;
    size_t n;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if (c >= 0xc2 && c <= 0xdf) {
        cp = c & 0x1f;
        n = 1;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        cp = c & 0x0f;
        n = 2;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        cp = c & 0x07;
        n = 3;
        min = 0x10000;
    } else {
        return -1;
    }
    if (len - *i <= n)
        return -1;
    for (size_t k = 1; k <= n; k++) {
        unsigned char cc = s[*i + k];
        if ((cc & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *i += n + 1;
    return (int32_t)cp;
}

/* Modified BASE64 of UTF-16 units, without padding. */
struct b64_writer {
    struct ph_buf *out;
    uint32_t bits;
    unsigned nbits;
};

static void b64_put16(struct b64_writer *w, uint32_t u)
{
    w->bits = (w->bits << 16) | u;
    w->nbits += 16;
    const char *chars = ph_base64_chars(PH_BASE64_IMAP);
    while (w->nbits >= 6) {
        w->nbits -= 6;
        ph_buf_putc(w->out, chars[(w->bits >> w->nbits) & 0x3f]);
    }
    w->bits &= (1u << w->nbits) - 1;
}

static void b64_finish(struct b64_writer *w)
{
    if (w->nbits > 0) {
        const char *chars = ph_base64_chars(PH_BASE64_IMAP);
        ph_buf_putc(w->out, chars[(w->bits << (6 - w->nbits)) & 0x3f]);
    }
    w->bits = 0;
    w->nbits = 0;
}

int ph_imap_utf8_to_mutf7(const char *in, size_t len, struct ph_buf *out,
                          const char **error_r)
{
    const unsigned char *s = (const unsigned char *)in;
    struct b64_writer w = {.out = out};
    bool in_run = false;
    size_t i = 0;
    while (i < len) {
        int32_t cp = next_utf8(s, len, &i);
        if (cp < 0) {
            *error_r = E_UTF8;
            return -1;
        }
        if (cp == 0) {
            *error_r = E_NUL;
            return -1;
        }
        if (is_printable((uint32_t)cp)) {
            if (in_run) {
                b64_finish(&w);
                ph_buf_putc(out, '-');
                in_run = false;
            }
            ph_buf_puts(out, cp == '&' ? "&-" : (char[]){(char)cp, '\0'});
            continue;
        }
        if (!in_run) {
            ph_buf_putc(out, '&');
            in_run = true;
        }
        if (cp >= 0x10000) {
            uint32_t v = (uint32_t)cp - 0x10000;
            b64_put16(&w, 0xd800 + (v >> 10));
            b64_put16(&w, 0xdc00 + (v & 0x3ff));
        } else {
            b64_put16(&w, (uint32_t)cp);
        }
    }
    if (in_run) {
        b64_finish(&w);
        ph_buf_putc(out, '-');
    }
    return 0;
}

/* ---- UTF-8 mailbox names (RFC 6855 3, RFC 9051 5.1) --------------------- */

bool ph_imap_utf8_valid(const char *in, size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < len)
        if (next_utf8(s, len, &i) < 0)
            return false;
    return true;
}

int ph_imap_mailbox_name_check(const char *in, size_t len, const char **error_r)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    bool ascii = true;
    while (i < len) {
        int32_t cp = next_utf8(s, len, &i);
        if (cp < 0) {
            *error_r = E_UTF8;
            return -1;
        }
        /* RFC 6855 3: "MUST NOT contain control characters (U+0000-U+001F
         * and U+0080-U+009F), a delete character (U+007F), a line
         * separator (U+2028), or a paragraph separator (U+2029)". */
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
            cp == 0x2029) {
            *error_r = "Control character or line separator in mailbox name";
            return -1;
        }
        ascii = ascii && cp < 0x80;
    }
    if (ascii)
        return 0;
    /* Net-Unicode (RFC 5198 2) is in Normalization Form C. */
    size_t nlen = 0;
    uint8_t *nfc = u8_normalize(UNINORM_NFC, s, len, NULL, &nlen);
    bool same = nfc != NULL && nlen == len && memcmp(nfc, s, len) == 0;
    free(nfc);
    if (!same) {
        *error_r = "Mailbox name is not in Unicode Normalization Form C";
        return -1;
    }
    return 0;
}
