/* SPDX-License-Identifier: MIT */
/* IDLE (RFC 2177): the session parks in the reactor with a storage watch;
 * a change wakes it, a worker sends the updates, and it parks again until
 * the client's DONE. */
#include <stdlib.h>

#include <posthorn/event.h>

#include "imap-private.h"

/* Every change of s->idling goes through here: openmetrics counts the
 * sessions in IDLE from these events (not logged). */
void imap_idle_set(struct imap_session *s, bool on)
{
    if (s->idling == on)
        return;
    s->idling = on;
    ph_event_emit(false, PH_LOG_INFO, "imap", on ? "idle_start" : "idle_end",
                  NULL, 0);
}

void imap_cmd_idle(struct imap_session *s, const struct ph_imap_value *args,
                   size_t n)
{
    (void)args;
    if (n != 0) {
        imap_tagged(s, "BAD", "IDLE takes no arguments");
        return;
    }
    if (s->mb) {
        const char *err;
        if (ph_mailbox_watch(s->mb, imap_session_wake, s, &err) < 0) {
            imap_tagged(s, "NO", "[UNAVAILABLE] Cannot watch the mailbox: %s",
                        err);
            return;
        }
        imap_send_updates(s, true);
    }
    free(s->idle_tag);
    s->idle_tag = ph_strdup(s->tag);
    imap_idle_set(s, true);
    ph_buf_puts(&s->out, "+ idling\r\n");
    ph_imap_parser_line_mode(s->parser);
}

void imap_idle_done(struct imap_session *s, bool done)
{
    imap_idle_set(s, false);
    if (s->mb) {
        const char *err;
        if (ph_mailbox_watch(s->mb, NULL, NULL, &err) < 0)
            ph_log_warn("mod=imap event=unwatch_failed error=\"%s\"", err);
    }
    (void)imap_reactor_take_wake(s);
    free(s->tag);
    s->tag = s->idle_tag;
    s->idle_tag = NULL;
    s->allow_expunge = true;
    if (done)
        imap_tagged(s, "OK", "IDLE terminated");
    else
        imap_tagged(s, "BAD", "Expected DONE");
}
