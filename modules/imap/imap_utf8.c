/* SPDX-License-Identifier: MIT */
/* UTF-8 on the wire once a client enabled UTF8=ACCEPT (RFC 6855) or
 * IMAP4rev2 (RFC 9051): quoted strings and APPEND's "UTF8" data item. */
#include <string.h>

#include "imap-private.h"

static bool quoted_valid(const struct ph_imap_value *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].type == PH_IMAP_VALUE_STRING &&
            !ph_imap_utf8_valid(v[i].str, v[i].len))
            return false;
        if (v[i].type == PH_IMAP_VALUE_LIST &&
            !quoted_valid(v[i].list, v[i].len))
            return false;
    }
    return true;
}

bool imap_quoted_utf8_check(struct imap_session *s,
                            const struct ph_imap_value *args, size_t n)
{
    if (quoted_valid(args, n))
        return true;
    /* RFC 6855 3: "the server MUST reject, with a "BAD" response, any
     * octet sequences with the high bit set that fail to comply with the
     * formal syntax requirements of UTF-8". */
    imap_tagged(s, "BAD", "Quoted string is not valid UTF-8");
    return false;
}

