/* SPDX-License-Identifier: MIT */
/* posthorn SDK: BASE64 (RFC 4648 section 4) and the modified BASE64 of IMAP
 * mailbox names (RFC 3501 section 5.1.3: ',' instead of '/', no padding). */
#ifndef POSTHORN_BASE64_H
#define POSTHORN_BASE64_H

#include <posthorn/common.h>

enum ph_base64_alphabet {
    PH_BASE64_STANDARD, /* A-Z a-z 0-9 + / */
    PH_BASE64_IMAP,     /* A-Z a-z 0-9 + , */
};

/* The 6-bit value of c in the alphabet, or -1 when c is not in it ('=' is
 * not). */
int ph_base64_value(enum ph_base64_alphabet alphabet, unsigned char c);
/* The 64 characters of the alphabet, in value order. */
const char *ph_base64_chars(enum ph_base64_alphabet alphabet);

/* The length of the encoding of n bytes, padding included. */
#define PH_BASE64_ENCODED_LEN(n) (((n) + 2) / 3 * 4)
/* Enough room for the bytes that n characters decode to. */
#define PH_BASE64_DECODED_MAX(n) ((n) / 4 * 3)

/* Appends the padded standard BASE64 of in to out. */
void ph_base64_encode(const void *in, size_t len, struct ph_buf *out);

/* Strict one-shot decoding of standard BASE64, as SASL wants it: the length
 * is a multiple of 4, every character is in the alphabet, '=' only pads the
 * last quantum (one or two of them) and the padding bits are zero. On
 * entry *out_len is the size of out, PH_BASE64_DECODED_MAX(len) is always
 * enough; on success it is the number of bytes written. -1 with *error_r. */
int ph_base64_decode(const char *in, size_t len, void *out, size_t *out_len,
                     const char **error_r) PH_WUR;

/* Lenient streaming decoding of standard BASE64, as message bodies need it
 * (RFC 2045 6.8): input comes in chunks of any size, bytes outside the
 * alphabet (line ends, garbage) are skipped and '=' drops a partial
 * quantum. Start from a zeroed struct; nothing needs finishing. */
struct ph_base64_decoder {
    uint32_t acc;
    unsigned bits;
};
/* Appends the bytes that in decodes to. */
void ph_base64_decoder_feed(struct ph_base64_decoder *dec, const void *in,
                            size_t len, struct ph_buf *out);

#endif
