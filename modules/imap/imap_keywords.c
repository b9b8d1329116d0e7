/* SPDX-License-Identifier: MIT */
/* The keywords a session has announced. RFC 3501 7.2.6: FLAGS lists the
 * flags defined in the mailbox, and a client learns keywords from it; a
 * keyword new to the mailbox (a STORE or APPEND in any session, on any
 * node) must reach every session that has the mailbox selected in an
 * untagged FLAGS (read-write: and PERMANENTFLAGS) before the first FETCH
 * that carries it. Every path that writes FLAGS in a FETCH learns the
 * message's keywords first and announces what was new.
 *
 * All keywords of the mailbox are listed, without a cap: storage keeps
 * keywords per message (no per-mailbox list a limit could be checked
 * against in the transaction of every STORE, APPEND and COPY on every
 * node), and a keyword is an atom of at most 255 bytes. The list counts
 * to max_session_memory like the message view it stands beside: SELECT of
 * a mailbox whose keywords do not fit answers NO [LIMIT]. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap-private.h"

/* The first position whose keyword is not below kw (case-insensitive). */
static size_t lower_bound(const struct imap_session *s, const char *kw,
                          bool *found_r)
{
    size_t lo = 0, hi = s->nkeywords;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcasecmp(s->keywords[mid], kw) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found_r = lo < s->nkeywords && strcasecmp(s->keywords[lo], kw) == 0;
    return lo;
}

void imap_keywords_learn(struct imap_session *s, char *const *kw, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool found;
        size_t at = lower_bound(s, kw[i], &found);
        if (found)
            continue;
        ph_array_grow(&s->keywords, &s->cap_keywords, s->nkeywords + 1,
                      sizeof(*s->keywords));
        memmove(&s->keywords[at + 1], &s->keywords[at],
                (s->nkeywords - at) * sizeof(*s->keywords));
        s->keywords[at] = ph_strdup(kw[i]);
        s->nkeywords++;
        s->keywords_bytes += strlen(kw[i]) + 1;
        s->keywords_unannounced = true;
    }
}

static void write_list(struct imap_session *s)
{
    ph_buf_puts(&s->out, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for (size_t i = 0; i < s->nkeywords; i++) {
        ph_buf_putc(&s->out, ' ');
        ph_buf_puts(&s->out, s->keywords[i]);
    }
}

void imap_keywords_write(struct imap_session *s, bool selecting)
{
    ph_buf_puts(&s->out, "* FLAGS (");
    write_list(s);
    ph_buf_puts(&s->out, ")\r\n");
    if (!s->readonly) {
        ph_buf_puts(&s->out, "* OK [PERMANENTFLAGS (");
        write_list(s);
        ph_buf_puts(&s->out, " \\*)] Flags permitted\r\n");
    } else if (selecting) {
        ph_buf_puts(&s->out, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
    }
    s->keywords_unannounced = false;
}

void imap_keywords_announce(struct imap_session *s)
{
    if (s->keywords_unannounced)
        imap_keywords_write(s, false);
}

void imap_keywords_reset(struct imap_session *s)
{
    for (size_t i = 0; i < s->nkeywords; i++)
        free(s->keywords[i]);
    free(s->keywords);
    s->keywords = NULL;
    s->nkeywords = s->cap_keywords = s->keywords_bytes = 0;
    s->keywords_unannounced = false;
}

size_t imap_keywords_memory(const struct imap_session *s)
{
    return s->keywords_bytes + s->cap_keywords * sizeof(*s->keywords);
}
