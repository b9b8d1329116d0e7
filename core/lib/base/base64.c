/* SPDX-License-Identifier: MIT */
/* BASE64 (RFC 4648 section 4) and IMAP's modified BASE64 (RFC 3501 section
 * 5.1.3): the tables, a strict one-shot decoder, an encoder and the lenient
 * streaming decoder of message bodies. */
#include <posthorn/base64.h>

#define E_LENGTH "Invalid BASE64 length"
#define E_CHAR "Invalid character in BASE64"
#define E_PADDING "Invalid BASE64 padding"
#define E_SPACE "BASE64 data too long"

/* Values plus one, so that 0 (every byte not named) means "not in it". */
#define COMMON_VALUES                                                          \
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,          \
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,       \
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,    \
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,    \
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,    \
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,    \
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,    \
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,    \
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,    \
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,    \
    ['8'] = 61, ['9'] = 62, ['+'] = 63

static const unsigned char standard_values[256] = {COMMON_VALUES, ['/'] = 64};
static const unsigned char imap_values[256] = {COMMON_VALUES, [','] = 64};

static const char standard_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char imap_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int ph_base64_value(enum ph_base64_alphabet alphabet, unsigned char c)
{
    const unsigned char *values =
        alphabet == PH_BASE64_IMAP ? imap_values : standard_values;
    return (int)values[c] - 1;
}

const char *ph_base64_chars(enum ph_base64_alphabet alphabet)
{
    return alphabet == PH_BASE64_IMAP ? imap_chars : standard_chars;
}

void ph_base64_encode(const void *in, size_t len, struct ph_buf *out)
{
    const unsigned char *s = in;
    const char *chars = standard_chars;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        char q[4] = {chars[v >> 18], chars[(v >> 12) & 0x3f],
                     chars[(v >> 6) & 0x3f], chars[v & 0x3f]};
        ph_buf_append(out, q, 4);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        char q[4] = {chars[v >> 18], chars[(v >> 12) & 0x3f], '=', '='};
        ph_buf_append(out, q, 4);
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        char q[4] = {chars[v >> 18], chars[(v >> 12) & 0x3f],
                     chars[(v >> 6) & 0x3f], '='};
        ph_buf_append(out, q, 4);
    }
}

int ph_base64_decode(const char *in, size_t len, void *out, size_t *out_len,
                     const char **error_r)
{
    if (len % 4 != 0) {
        *error_r = E_LENGTH;
        return -1;
    }
    size_t npad = 0;
    if (len > 0 && in[len - 1] == '=')
        npad = in[len - 2] == '=' ? 2 : 1;
    size_t need = len / 4 * 3 - npad;
    if (need > *out_len) {
        *error_r = E_SPACE;
        return -1;
    }
    unsigned char *o = out;
    size_t n = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < len - npad; i++) {
        unsigned char v = standard_values[(unsigned char)in[i]];
        if (v == 0) {
            *error_r = in[i] == '=' ? E_PADDING : E_CHAR;
            return -1;
        }
        acc = acc << 6 | (uint32_t)(v - 1);
        if (i % 4 == 3) {
            o[n++] = (unsigned char)(acc >> 16);
            o[n++] = (unsigned char)(acc >> 8);
            o[n++] = (unsigned char)acc;
            acc = 0;
        }
    }
    /* The bits the padding leaves over must be zero (RFC 4648 3.5). */
    if ((npad == 1 && (acc & 0x3) != 0) || (npad == 2 && (acc & 0xf) != 0)) {
        *error_r = E_PADDING;
        return -1;
    }
    if (npad == 1) {
        o[n++] = (unsigned char)(acc >> 10);
        o[n++] = (unsigned char)(acc >> 2);
    } else if (npad == 2) {
        o[n++] = (unsigned char)(acc >> 4);
    }
    *out_len = n;
    return 0;
}

void ph_base64_decoder_feed(struct ph_base64_decoder *dec, const void *in,
                            size_t len, struct ph_buf *out)
{
    const unsigned char *s = in;
    unsigned char buf[4096];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') {
            dec->acc = 0;
            dec->bits = 0;
            continue;
        }
        unsigned char v = standard_values[s[i]];
        if (v == 0)
            continue;
        dec->acc = (dec->acc << 6) | (uint32_t)(v - 1);
        dec->bits += 6;
        if (dec->bits >= 8) {
            dec->bits -= 8;
            buf[n++] = (unsigned char)(dec->acc >> dec->bits);
            dec->acc &= (1u << dec->bits) - 1;
            if (n == sizeof(buf)) {
                ph_buf_append(out, buf, n);
                n = 0;
            }
        }
    }
    ph_buf_append(out, buf, n);
}
