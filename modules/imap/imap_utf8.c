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

bool imap_append_utf8_form(const struct ph_imap_value *args, size_t n,
                           const struct ph_imap_value **msg_r,
                           size_t *nbefore_r)
{
    /* utf8-literal = "UTF8" SP "(" literal8 ")" */
    if (n < 2 || !ph_imap_value_is_atom(&args[n - 2], "UTF8") ||
        args[n - 1].type != PH_IMAP_VALUE_LIST || args[n - 1].len != 1)
        return false;
    const struct ph_imap_value *m = &args[n - 1].list[0];
    if ((m->type != PH_IMAP_VALUE_LITERAL &&
         m->type != PH_IMAP_VALUE_LITERAL_STREAMED) ||
        !m->literal8)
        return false;
    *msg_r = m;
    *nbefore_r = n - 2;
    return true;
}
