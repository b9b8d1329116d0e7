/* SPDX-License-Identifier: MIT */
/* CRLF normalization of stored messages (see message.h for the rules). */
#include <string.h>

#include "message-private.h"

void ph_crlf_normalizer_init(struct ph_crlf_normalizer *n)
{
    memset(n, 0, sizeof(*n));
}

size_t ph_crlf_normalize(struct ph_crlf_normalizer *n, const void *in,
                         size_t len, void *out)
{
    const unsigned char *s = in;
    unsigned char *d = out;
    size_t o = 0;
    n->in_size += len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c == '\r') {
            if (n->pending_cr == 2) {
                /* Three CRs: the first is a bare one. */
                d[o++] = '\r';
                n->bare_cr_count++;
            } else {
                n->pending_cr++;
            }
            continue;
        }
        if (c == '\n') {
            /* LF, CR LF and CR CR LF all end a line with one CRLF. */
            d[o++] = '\r';
            d[o++] = '\n';
            n->pending_cr = 0;
            continue;
        }
        for (; n->pending_cr > 0; n->pending_cr--) {
            d[o++] = '\r';
            n->bare_cr_count++;
        }
        if (c == '\0') {
            c = 0x80;
            n->nul_count++;
        }
        d[o++] = c;
    }
    n->out_size += o;
    return o;
}

size_t ph_crlf_normalize_finish(struct ph_crlf_normalizer *n, void *out)
{
    unsigned char *d = out;
    size_t o = 0;
    for (; n->pending_cr > 0; n->pending_cr--) {
        d[o++] = '\r';
        n->bare_cr_count++;
    }
    n->out_size += o;
    return o;
}

char *ph_crlf_normalize_buf(const void *in, size_t len, size_t *len_r)
{
    struct ph_crlf_normalizer n;
    ph_crlf_normalizer_init(&n);
    if (len > (SIZE_MAX - 3) / 2)
        ph_assert(!"message too large to normalize");
    char *out = ph_malloc(2 * len + 3);
    size_t o = ph_crlf_normalize(&n, in, len, out);
    o += ph_crlf_normalize_finish(&n, out + o);
    out[o] = '\0';
    *len_r = o;
    return out;
}
