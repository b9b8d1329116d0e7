/* SPDX-License-Identifier: MIT */
/* An IMAP session: socket I/O, driving the command parser, the seq -> UID
 * view of the selected mailbox and the untagged updates. Everything lives
 * in struct imap_session, so a worker can leave it parked at any point
 * between parser events. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "imap-private.h"

struct imap_session *imap_session_new(struct imap_server *srv, int fd,
                                      const char *addr, unsigned port,
                                      bool implicit_tls)
{
    /* Unique in the process: the one name of a connection in the log. */
    static atomic_uint_fast64_t last_id;
    struct imap_session *s = ph_calloc(1, sizeof(*s));
    s->srv = srv;
    s->graph = srv->graph;
    ph_graph_ref(s->graph);
    s->fd = fd;
    s->implicit_tls = implicit_tls;
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    if (port)
        snprintf(s->peer, sizeof(s->peer), "client=%s port=%u", addr, port);
    else
        snprintf(s->peer, sizeof(s->peer), "client=%s", addr);
    snprintf(s->log_ctx, sizeof(s->log_ctx), "session=%llu",
             (unsigned long long)atomic_fetch_add(&last_id, 1) + 1);
    struct ph_imap_parser_limits lim;
    ph_imap_parser_limits_default(&lim);
    lim.max_line_length = (size_t)srv->conf->max_line_length;
    lim.max_literal_size = srv->conf->max_literal_size;
    lim.max_command_size = (size_t)srv->conf->max_command_size;
    lim.max_depth = (unsigned)srv->conf->max_nesting;
    lim.max_args = (size_t)srv->conf->max_arguments;
    lim.allow_literal8 = true; /* BINARY: APPEND's message (RFC 3516 4.4) */
    s->parser = ph_imap_parser_new(&lim);
    s->state = IMAP_STATE_NOT_AUTH;
    s->last_active_ms = imap_now_ms();
    return s;
}

void imap_session_stop_watch(struct imap_session *s)
{
    const char *err;
    if (s->mb && s->idling && ph_mailbox_watch(s->mb, NULL, NULL, &err) < 0)
        ph_log_warn("mod=imap event=unwatch_failed error=\"%s\"", err);
    imap_idle_set(s, false);
}

static void close_mailbox(struct imap_session *s)
{
    imap_session_stop_watch(s);
    if (s->mb)
        ph_mailbox_close(&s->mb);
    imap_view_reset(s);
}

void imap_session_free(struct imap_session **sp)
{
    struct imap_session *s = *sp;
    if (s == NULL)
        return;
    *sp = NULL;
    close_mailbox(s);
    imap_append_abort(s);
    ph_account_release(&s->acct);
    ph_imap_parser_free(&s->parser);
    ph_buf_free(&s->out);
    ph_uidset_clear(&s->pending_expunge);
    free(s->user);
    free(s->login_key);
    free(s->tag);
    free(s->idle_tag);
    if (s->sasl_user.data)
        memset(s->sasl_user.data, 0, s->sasl_user.len);
    ph_buf_free(&s->sasl_user);
    free(s->uids);
    free(s->reported);
    free(s->delayed_reply);
    imap_compress_free(s);
    ph_tls_session_free(&s->tls_sess);
    close(s->fd);
    if (s->graph)
        ph_graph_unref(&s->graph);
    free(s);
}

void imap_io_debug(struct imap_session *s, const char *dir, const char *data,
                   size_t len)
{
    if (!s->srv->conf->io_debug)
        return;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t shown = n > 0 && p[n - 1] == '\r' ? n - 1 : n;
        char *line = ph_strndup(p, shown);
        if (*dir == 'C') {
            /* Mask passwords and SASL payloads: LOGIN's arguments after the
             * user name and the literals that follow (a line that ends in
             * "{N}"), AUTHENTICATE's initial response and the line after it
             * (a response the client did not wait to be asked for). */
            if (s->io_in_sasl || s->io_mask_next) {
                free(line);
                line = ph_strdup("<masked>");
                s->io_mask_next = shown > 0 && p[shown - 1] == '}';
            } else {
                char *sp1 = strchr(line, ' ');
                char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
                bool login = sp1 && strncasecmp(sp1 + 1, "LOGIN ", 6) == 0;
                bool authenticate =
                    sp1 && strncasecmp(sp1 + 1, "AUTHENTICATE ", 13) == 0;
                if (login || authenticate) {
                    char *sp3 = sp2 ? strchr(sp2 + 1, ' ') : NULL;
                    if (sp3) {
                        sp3[1] = '\0';
                        char *m = ph_strdup_printf("%s<masked>", line);
                        free(line);
                        line = m;
                    }
                    /* A LOGIN complete on its line leaves the next line,
                     * a command, in the clear. */
                    s->io_mask_next =
                        authenticate || (shown > 0 && p[shown - 1] == '}');
                }
            }
        }
        char *esc = ph_log_escape(line);
        /* With the session id (the thread's log context) and the client's
         * port, parallel sessions from one address are told apart. */
        ph_log_info("mod=imap event=io %s dir=%s data=%s", s->peer, dir, esc);
        free(esc);
        free(line);
        p += n + (nl ? 1 : 0);
    }
}

/* Inside a command a client gets a minute per step (a continuation line, a
 * chunk of a slow write): a worker is held meanwhile. Between commands the
 * session is parked and idle_timeout applies. */
#define IMAP_STEP_TIMEOUT_MS 60000
#define IMAP_HANDSHAKE_TIMEOUT_MS 30000

static int wait_fd(struct imap_session *s, short events)
{
    struct pollfd pfd = {.fd = s->fd, .events = events};
    int64_t timeout = s->srv->conf->idle_timeout < IMAP_STEP_TIMEOUT_MS
                          ? s->srv->conf->idle_timeout
                          : IMAP_STEP_TIMEOUT_MS;
    bool stall = (events & POLLOUT) != 0;
    if (stall)
        imap_reactor_stall(s, true);
    int r;
    do
        r = poll(&pfd, 1, timeout > INT32_MAX ? INT32_MAX : (int)timeout);
    while (r < 0 && errno == EINTR);
    if (stall)
        imap_reactor_stall(s, false);
    return r > 0 ? 0 : -1;
}

/* The TLS layer's waits for the client to read (ph_tls_set_wait_hook). */
static void tls_stall(void *arg, bool begin)
{
    imap_reactor_stall(arg, begin);
}

int imap_transport_write(struct imap_session *s, const char *data, size_t len)
{
    if (s->tls_sess) {
        if (ph_tls_write_all(s->tls_sess, data, len) < 0) {
            if (s->srv->conf->io_errors)
                ph_log_warn(
                    "mod=imap event=io_error client=%s op=write error=\"%s\"",
                    s->addr, ph_tls_error(s->tls_sess));
            goto fail;
        }
        return 0;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w =
            send(s->fd, data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(s, POLLOUT) < 0)
                goto fail_errno;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            goto fail_errno;
        }
    }
    return 0;
fail_errno:
    if (s->srv->conf->io_errors)
        ph_log_warn("mod=imap event=io_error client=%s op=write error=\"%s\"",
                    s->addr, strerror(errno));
fail:
    s->io_failed = true;
    s->closing = true;
    return -1;
}

/* sync: the end of a batch, which the client must be able to read in full
 * (with COMPRESS, a flush of the compressor; else output may wait in it). */
static int flush_out(struct imap_session *s, bool sync)
{
    s->unflushed = 0;
    if (s->io_failed) {
        ph_buf_reset(&s->out);
        return -1;
    }
    if (s->out.len == 0 && !(sync && s->zlib))
        return 0;
    imap_io_debug(s, "S", s->out.data, s->out.len);
    int r = s->zlib ? imap_compress_write(s, s->out.data, s->out.len, sync)
                    : imap_transport_write(s, s->out.data, s->out.len);
    if (r < 0) {
        s->io_failed = true;
        s->closing = true;
    }
    ph_buf_reset(&s->out);
    return r;
}

int imap_flush(struct imap_session *s)
{
    return flush_out(s, true);
}

int imap_out_check(struct imap_session *s)
{
    return s->out.len >= IMAP_OUT_HIGH_WATER ? flush_out(s, false) : 0;
}

size_t imap_session_memory(const struct imap_session *s)
{
    return s->cmd_literal_bytes + s->out.len + s->cap_uids * sizeof(*s->uids) +
           s->cap_recent * sizeof(*s->recent) +
           s->cap_reported * sizeof(*s->reported) +
           s->pending_expunge.cap * sizeof(*s->pending_expunge.r) +
           s->saved.cap * sizeof(*s->saved.ranges) +
           imap_sort_cache_memory(s->sort_cache) +
           imap_binary_cache_memory(s->binary_cache) + imap_keywords_memory(s) +
           imap_updates_memory(s) + s->sasl_user.cap;
}

bool imap_memory_fits(const struct imap_session *s, uint64_t more)
{
    uint64_t cap = s->srv->conf->max_session_memory;
    uint64_t have = imap_session_memory(s);
    return have <= cap && more <= cap - have;
}

void imap_reply(struct imap_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    if (text) {
        ph_buf_puts(&s->out, text);
        free(text);
    }
    ph_buf_puts(&s->out, "\r\n");
    (void)imap_out_check(s);
}

void imap_tagged(struct imap_session *s, const char *status, const char *fmt,
                 ...)
{
    bool selected = s->mb && s->state == IMAP_STATE_SELECTED;
    if (selected)
        imap_send_updates(s, s->allow_expunge);
    /* RFC 7162 3.2: MODSEQ values went out while expunges with lower
     * modseqs wait; the client must not take them for its HIGHESTMODSEQ
     * ("the server MUST send the HIGHESTMODSEQ response code with a lower
     * value than the EXPUNGE's mod-sequence"). */
    if (selected && s->condstore && s->modseq_sent && s->pending_expunge.n > 0)
        ph_buf_printf(&s->out,
                      "* OK [HIGHESTMODSEQ %llu] Expunges are pending\r\n",
                      (unsigned long long)s->pending_modseq);
    va_list ap;
    va_start(ap, fmt);
    char *text;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    s->tagged = status;
    ph_buf_printf(&s->out, "%s %s ", s->tag ? s->tag : "*", status);
    if (selected && s->ok_highestmodseq && strcmp(status, "OK") == 0)
        ph_buf_printf(&s->out, "[HIGHESTMODSEQ %llu] ",
                      (unsigned long long)imap_highestmodseq(s));
    ph_buf_printf(&s->out, "%s\r\n", text ? text : "");
    free(text);
}

void imap_capability_write(struct imap_session *s, struct ph_buf *out)
{
    const struct imap_conf *c = s->srv->conf;
    /* RFC 9051 Appendix A: both, and a client turns IMAP4rev2 on with
     * ENABLE. */
    ph_buf_puts(out, c->imap4rev2 ? "IMAP4rev1 IMAP4rev2 " : "IMAP4rev1 ");
    /* RFC 7888 5: LITERAL- or LITERAL+, never both. */
    ph_buf_puts(out, c->literal_minus ? "LITERAL- " : "LITERAL+ ");
    ph_buf_puts(out, "SASL-IR ID ENABLE IDLE NAMESPACE CHILDREN "
                     "UNSELECT MOVE UIDPLUS");
    /* RFC 3502: all or none, which the storage must commit as one. */
    if (ph_storage_append_batch(c->storage))
        ph_buf_puts(out, " MULTIAPPEND");
    ph_buf_puts(
        out,
        " CATENATE SPECIAL-USE CREATE-SPECIAL-USE "
        "CONDSTORE QRESYNC ESEARCH SEARCHRES WITHIN SORT SORT=DISPLAY ESORT "
        "CONTEXT=SEARCH CONTEXT=SORT PARTIAL "
        "LIST-EXTENDED LIST-STATUS STATUS=SIZE UTF8=ACCEPT "
        "THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS BINARY");
    /* RFC 8474, RFC 8970: only what the storage keeps. */
    if (ph_storage_has(c->storage, PH_META_OBJECTID))
        ph_buf_puts(out, " OBJECTID");
    if (ph_storage_has(c->storage, PH_META_PREVIEW))
        ph_buf_puts(out, " PREVIEW");
    imap_quota_capability_write(s, out);
    uint64_t limit = c->appendlimit;
    if (limit == 0 && s->acct)
        limit = ph_account_appendlimit(s->acct);
    if (limit > 0)
        ph_buf_printf(out, " APPENDLIMIT=%llu", (unsigned long long)limit);
    else
        ph_buf_puts(out, " APPENDLIMIT");
    if (s->state != IMAP_STATE_NOT_AUTH) {
        /* RFC 4978 3: COMPRESS is a command of the authenticated state. */
        ph_buf_puts(out, " COMPRESS=DEFLATE");
        return;
    }
    if (s->srv->tls_enabled && !s->tls)
        ph_buf_puts(out, " STARTTLS");
    if (!s->tls && !s->srv->insecure_auth) {
        ph_buf_puts(out, " LOGINDISABLED");
        return;
    }
    ph_buf_puts(out, " AUTH=PLAIN");
    if (c->sasl_login)
        ph_buf_puts(out, " AUTH=LOGIN");
}

ssize_t imap_transport_read(struct imap_session *s, char *buf, size_t size)
{
    while (s->tls_sess) {
        ssize_t n = ph_tls_read_nb(s->tls_sess, buf, size);
        if (n > 0)
            return n;
        if (n == PH_TLS_WANT_READ)
            return 0;
        if (n == PH_TLS_WANT_WRITE) {
            if (wait_fd(s, POLLOUT) < 0)
                return -1;
            continue;
        }
        if (n < 0 && s->srv->conf->io_errors)
            ph_log_warn(
                "mod=imap event=io_error client=%s op=read error=\"%s\"",
                s->addr, ph_tls_error(s->tls_sess));
        return -1;
    }
    for (;;) {
        ssize_t n = recv(s->fd, buf, size, MSG_DONTWAIT);
        if (n > 0)
            return n;
        if (n == 0)
            return -1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (s->srv->conf->io_errors)
            ph_log_warn(
                "mod=imap event=io_error client=%s op=read error=\"%s\"",
                s->addr, strerror(errno));
        return -1;
    }
}

/* Reads what the client sent into inbuf. 1: data, 0: nothing now (EAGAIN),
 * -1: EOF or error. */
static int read_some(struct imap_session *s)
{
    if (s->zlib)
        return imap_compress_read(s);
    ssize_t n = imap_transport_read(s, s->inbuf, sizeof(s->inbuf));
    if (n <= 0)
        return (int)n;
    s->inpos = 0;
    s->inlen = (size_t)n;
    imap_io_debug(s, "C", s->inbuf, (size_t)n);
    return 1;
}

/* ---- The seq -> UID view ------------------------------------------------ */

void imap_view_reset(struct imap_session *s)
{
    free(s->uids);
    free(s->recent);
    s->uids = NULL;
    s->recent = NULL;
    s->nuids = s->cap_uids = s->cap_recent = 0;
    s->nrecent = 0;
    s->modseq = s->pending_modseq = 0;
    ph_uidset_clear(&s->pending_expunge);
    imap_keywords_reset(s);
    /* RFC 5182 2.1: "Upon successful completion of a SELECT or an EXAMINE
     * command ... the current search result variable is reset to the
     * empty sequence." */
    ph_imap_seqset_clear(&s->saved);
    imap_sort_cache_free(&s->sort_cache);
    imap_binary_cache_free(&s->binary_cache);
    /* RFC 5267 4.3: "Updates will cease when the mailbox is no longer
     * selected". */
    imap_updates_free(s);
}

size_t imap_view_lower_bound(const struct imap_session *s, uint32_t uid)
{
    size_t lo = 0, hi = s->nuids;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->uids[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t imap_view_seq(const struct imap_session *s, uint32_t uid)
{
    size_t lo = imap_view_lower_bound(s, uid);
    return lo < s->nuids && s->uids[lo] == uid ? (uint32_t)lo + 1 : 0;
}

bool imap_view_walk_next(const struct imap_session *s, struct imap_view_walk *w,
                         size_t *pos_r)
{
    while (w->k < w->set->n) {
        const struct ph_uid_range *r = &w->set->r[w->k];
        if (w->i < s->nuids && s->uids[w->i] < r->lo) {
            size_t j = imap_view_lower_bound(s, r->lo);
            w->i = j > w->i ? j : w->i;
        }
        if (w->i < s->nuids && s->uids[w->i] <= r->hi) {
            *pos_r = w->i++;
            return true;
        }
        w->k++;
    }
    return false;
}

void imap_view_partial(const struct imap_session *s,
                       const struct ph_imap_partial *p, struct ph_uidset *set)
{
    size_t n = 0, pos, start, end;
    struct imap_view_walk walk = {.set = set};
    while (imap_view_walk_next(s, &walk, &pos))
        n++;
    ph_imap_partial_slice(p, n, &start, &end);
    struct ph_uidset part = {0};
    walk = (struct imap_view_walk){.set = set};
    for (size_t i = 0; i < end && imap_view_walk_next(s, &walk, &pos); i++)
        if (i >= start)
            imap_uidset_append(&part, s->uids[pos], s->uids[pos]);
    ph_uidset_clear(set);
    *set = part;
}

int imap_parse_set(struct imap_session *s, const struct ph_imap_value *v,
                   bool uid, struct ph_uidset *set_r)
{
    const char *str, *err;
    if (!ph_imap_value_get_atom(v, &str)) {
        imap_tagged(s, "BAD", "Invalid sequence set");
        return -1;
    }
    struct ph_imap_seqset set;
    if (strcmp(str, "$") == 0) {
        /* RFC 5182 2.1: the saved result, in a sequence set or a UID set
         * alike; expunged messages have left it; empty, it is "a valid,
         * but non-matching list of messages". */
        memset(set_r, 0, sizeof(*set_r));
        struct ph_uidset saved = {0};
        for (size_t i = 0; i < s->saved.n; i++)
            imap_uidset_append(&saved, s->saved.ranges[i].lo,
                               s->saved.ranges[i].hi);
        struct imap_view_walk walk = {.set = &saved};
        size_t pos;
        while (imap_view_walk_next(s, &walk, &pos))
            imap_uidset_append(set_r, s->uids[pos], s->uids[pos]);
        ph_uidset_clear(&saved);
        return 0;
    }
    uint32_t star =
        uid ? (s->nuids ? s->uids[s->nuids - 1] : 0) : (uint32_t)s->nuids;
    if (ph_imap_seqset_parse(str, strlen(str), star,
                             (size_t)s->srv->conf->max_sequence_ranges, &set,
                             &err) < 0) {
        ph_imap_seqset_clear(&set);
        imap_tagged(s, "BAD", "%s", err);
        return -1;
    }
    if (!uid &&
        ((set.has_star && star == 0) || ph_imap_seqset_max(&set) > s->nuids)) {
        ph_imap_seqset_clear(&set);
        /* RFC 3501 9: seq-number is at most the number of messages. */
        imap_tagged(s, "BAD",
                    "Invalid message sequence number (the mailbox has %zu "
                    "message%s)",
                    s->nuids, s->nuids == 1 ? "" : "s");
        return -1;
    }
    memset(set_r, 0, sizeof(*set_r));
    for (size_t i = 0; i < set.n; i++) {
        if (uid) {
            for (size_t k = imap_view_lower_bound(s, set.ranges[i].lo);
                 k < s->nuids && s->uids[k] <= set.ranges[i].hi; k++)
                ph_uidset_add(set_r, s->uids[k]);
        } else {
            for (uint32_t q = set.ranges[i].lo; q <= set.ranges[i].hi; q++)
                ph_uidset_add(set_r, s->uids[q - 1]);
        }
    }
    ph_imap_seqset_clear(&set);
    /* Only gaps in the view make ranges here, but a command's working set
     * counts against the session all the same. */
    if (!imap_memory_fits(s, set_r->cap * sizeof(*set_r->r))) {
        ph_uidset_clear(set_r);
        imap_tagged(s, "NO", "%s", IMAP_LIMIT_TEXT);
        return -1;
    }
    return 0;
}

char *imap_token_text(const char *token)
{
    /* Tokens come from the client: bounded, and never a byte that could
     * end or bend the response line. */
    enum { MAX = 60 };
    size_t len = strlen(token);
    char *t =
        ph_strdup_printf("\"%.*s%s\"", MAX, token, len > MAX ? "..." : "");
    for (char *c = t + 1; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    return t;
}

char *imap_flags_parse(const struct ph_imap_value *items, size_t n,
                       const char *where, struct ph_flags *flags)
{
    for (size_t i = 0; i < n; i++) {
        const struct ph_imap_value *v = &items[i];
        const char *name;
        /* flag-keyword = atom, and NIL is an atom: a keyword named NIL. */
        if (!ph_imap_value_get_atom(v, &name))
            return ph_strdup_printf("Invalid flag%s: a %s is no flag", where,
                                    v->type == PH_IMAP_VALUE_LIST ? "list"
                                                                  : "string");
        if (ph_flags_add_name(flags, name) == 0)
            continue;
        const char *why = strcasecmp(name, "\\Recent") == 0
                              ? "\\Recent is set by the server only"
                          : name[0] == '\\' ? "no such system flag"
                          : v->len > 255 ? "keywords are at most 255 characters"
                                         : "a keyword is an atom (RFC 3501 9)";
        char *t = imap_token_text(name);
        char *error = ph_strdup_printf("Invalid flag %s%s: %s", t, where, why);
        free(t);
        return error;
    }
    return NULL;
}

void imap_write_exists(struct imap_session *s)
{
    ph_buf_printf(&s->out, "* %zu EXISTS\r\n", s->nuids);
    /* RFC 9051 Appendix E 12: IMAP4rev2 has no RECENT response. */
    if (!s->rev2)
        ph_buf_printf(&s->out, "* %u RECENT\r\n", s->nrecent);
}

void imap_write_flags(struct ph_buf *out, uint32_t flags, char *const *keywords,
                      size_t nkeywords, bool recent)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {{PH_FLAG_SEEN, "\\Seen"},
                 {PH_FLAG_ANSWERED, "\\Answered"},
                 {PH_FLAG_FLAGGED, "\\Flagged"},
                 {PH_FLAG_DELETED, "\\Deleted"},
                 {PH_FLAG_DRAFT, "\\Draft"}};
    ph_buf_putc(out, '(');
    bool first = true;
    for (size_t i = 0; i < PH_N_ELEMENTS(names); i++) {
        if (flags & names[i].bit) {
            ph_buf_printf(out, "%s%s", first ? "" : " ", names[i].name);
            first = false;
        }
    }
    if (recent) {
        ph_buf_printf(out, "%s\\Recent", first ? "" : " ");
        first = false;
    }
    for (size_t i = 0; i < nkeywords; i++) {
        ph_buf_printf(out, "%s%s", first ? "" : " ", keywords[i]);
        first = false;
    }
    ph_buf_putc(out, ')');
}

/* ---- Untagged updates (RFC 3501 5.5, 7.4.1) ----------------------------- */

void imap_reported_add(struct imap_session *s, uint32_t uid, uint64_t modseq)
{
    ph_array_grow(&s->reported, &s->cap_reported, s->nreported + 1,
                  sizeof(*s->reported));
    s->reported[s->nreported].uid = uid;
    s->reported[s->nreported++].modseq = modseq;
}

static int cmp_reported(const void *a, const void *b)
{
    uint32_t x = ((const struct imap_reported *)a)->uid;
    uint32_t y = ((const struct imap_reported *)b)->uid;
    return x < y ? -1 : x > y;
}

static bool already_reported(const struct imap_session *s, uint32_t uid,
                             uint64_t modseq)
{
    struct imap_reported key = {.uid = uid};
    const struct imap_reported *r =
        s->nreported ? bsearch(&key, s->reported, s->nreported, sizeof(key),
                               cmp_reported)
                     : NULL;
    return r && r->modseq == modseq;
}

struct changes_ctx {
    struct imap_session *s;
    struct added_msg {
        uint32_t uid;
        bool recent;
    } * added;
    size_t nadded, cap;
    struct flag_change {
        uint32_t uid;
        uint64_t modseq;
        char *flags;
    } * changed;
    size_t nchanged, capchanged;
    /* With update contexts: every message of the view whose flags
     * changed, reported already or not. */
    uint32_t *flagged;
    size_t nflagged, capflagged;
};

static int changes_cb(void *arg, const struct ph_message_meta *m)
{
    struct changes_ctx *c = arg;
    struct imap_session *s = c->s;
    uint32_t last = s->nuids ? s->uids[s->nuids - 1] : 0;
    if (m->uid > last) {
        /* No FETCH for it now, but its keywords are the mailbox's. */
        imap_keywords_learn(s, m->keywords, m->nkeywords);
        ph_array_grow(&c->added, &c->cap, c->nadded + 1, sizeof(*c->added));
        c->added[c->nadded].uid = m->uid;
        c->added[c->nadded++].recent = m->recent;
        return 0;
    }
    if (imap_view_seq(s, m->uid) == 0)
        return 0;
    if (s->nupdates > 0) {
        ph_array_grow(&c->flagged, &c->capflagged, c->nflagged + 1,
                      sizeof(*c->flagged));
        c->flagged[c->nflagged++] = m->uid;
    }
    if (!already_reported(s, m->uid, m->modseq)) {
        imap_keywords_learn(s, m->keywords, m->nkeywords);
        struct ph_buf b = {0};
        imap_write_flags(&b, m->flags, m->keywords, m->nkeywords,
                         imap_recent(s, m->recent));
        ph_array_grow(&c->changed, &c->capchanged, c->nchanged + 1,
                      sizeof(*c->changed));
        c->changed[c->nchanged].uid = m->uid;
        c->changed[c->nchanged].modseq = m->modseq;
        c->changed[c->nchanged++].flags = ph_buf_steal(&b);
    }
    return 0;
}

static int cmp_uid(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_added(const void *a, const void *b)
{
    uint32_t x = ((const struct added_msg *)a)->uid;
    uint32_t y = ((const struct added_msg *)b)->uid;
    return x < y ? -1 : x > y;
}

/* With CONDSTORE, updates go in modseq order, so that a client that
 * follows the MODSEQ of each FETCH as it comes misses nothing when the
 * connection drops; else in UID order, as storage gives them. */
static int cmp_changed(const void *a, const void *b)
{
    const struct flag_change *x = a, *y = b;
    if (x->modseq != y->modseq)
        return x->modseq < y->modseq ? -1 : 1;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

void imap_send_expunges(struct imap_session *s, const struct ph_uidset *set)
{
    size_t kept = 0;
    if (s->qresync) {
        /* RFC 7162 3.2.10.2: VANISHED instead of EXPUNGE, naming only
         * messages the client has been told of. */
        struct ph_uidset shown = {0};
        struct imap_view_walk walk = {.set = set};
        size_t pos;
        while (imap_view_walk_next(s, &walk, &pos))
            imap_uidset_append(&shown, s->uids[pos], s->uids[pos]);
        imap_write_vanished(s, false, &shown);
        ph_uidset_clear(&shown);
    } else {
        /* Descending, so each number is right after the ones before it
         * went. */
        for (size_t i = s->nuids; i > 0; i--)
            if (ph_uidset_contains(set, s->uids[i - 1])) {
                ph_buf_printf(&s->out, "* %zu EXPUNGE\r\n", i);
                (void)imap_out_check(s);
            }
    }
    for (size_t i = 0; i < s->nuids; i++) {
        if (!ph_uidset_contains(set, s->uids[i])) {
            s->recent[kept] = s->recent[i];
            s->uids[kept++] = s->uids[i];
        } else if (s->recent[i]) {
            s->nrecent--;
        }
    }
    s->nuids = kept;
}

void imap_send_updates(struct imap_session *s, bool allow_expunge)
{
    if (s->mb == NULL)
        return;
    struct changes_ctx c = {.s = s};
    struct ph_uidset expunged = {0};
    if (s->nreported > 1)
        qsort(s->reported, s->nreported, sizeof(*s->reported), cmp_reported);
    uint64_t highest = s->modseq;
    const char *err;
    int r = ph_mailbox_changes(s->mb, s->modseq, &expunged, &highest,
                               changes_cb, &c, &err);
    if (r < 0) {
        ph_log_warn("mod=imap event=changes_failed user=%s error=\"%s\"",
                    s->user, err);
    } else {
        /* Only what the view holds waits: the session's own expunges
         * come back here, and messages never announced are not told. */
        struct imap_view_walk walk = {.set = &expunged};
        size_t pos;
        while (imap_view_walk_next(s, &walk, &pos)) {
            if (s->pending_expunge.n == 0)
                s->pending_modseq = s->modseq;
            imap_uidset_append(&s->pending_expunge, s->uids[pos], s->uids[pos]);
        }
        s->modseq = highest;
        imap_updates_expunged(s, &expunged);
    }
    imap_keywords_announce(s);
    if (allow_expunge && s->pending_expunge.n > 0) {
        imap_send_expunges(s, &s->pending_expunge);
        ph_uidset_clear(&s->pending_expunge);
    }
    if (c.nadded > 0) {
        qsort(c.added, c.nadded, sizeof(*c.added), cmp_added);
        ph_array_grow(&s->uids, &s->cap_uids, s->nuids + c.nadded,
                      sizeof(uint32_t));
        ph_array_grow(&s->recent, &s->cap_recent, s->nuids + c.nadded,
                      sizeof(bool));
        for (size_t i = 0; i < c.nadded; i++) {
            s->uids[s->nuids] = c.added[i].uid;
            s->recent[s->nuids++] = c.added[i].recent;
            if (c.added[i].recent)
                s->nrecent++;
        }
        imap_write_exists(s);
    }
    if (s->condstore && c.nchanged > 1)
        qsort(c.changed, c.nchanged, sizeof(*c.changed), cmp_changed);
    for (size_t i = 0; i < c.nchanged; i++) {
        uint32_t seq = imap_view_seq(s, c.changed[i].uid);
        if (seq)
            imap_write_flag_fetch(s, seq, c.changed[i].uid, c.changed[i].modseq,
                                  c.changed[i].flags, s->rev2);
        free(c.changed[i].flags);
    }
    /* RFC 5267 4.3.3: an ADDTO of new messages "MUST be sent after the
     * EXISTS notification itself". */
    if (s->nupdates > 0 && c.nflagged + c.nadded > 0) {
        /* In UID order, so that the set is built in linear time. */
        struct ph_uidset touched = {0};
        if (c.nflagged > 1)
            qsort(c.flagged, c.nflagged, sizeof(*c.flagged), cmp_uid);
        for (size_t i = 0; i < c.nflagged; i++)
            imap_uidset_append(&touched, c.flagged[i], c.flagged[i]);
        for (size_t i = 0; i < c.nadded; i++)
            imap_uidset_append(&touched, c.added[i].uid, c.added[i].uid);
        imap_updates_touched(s, &touched);
        ph_uidset_clear(&touched);
    }
    free(c.flagged);
    free(c.changed);
    free(c.added);
    ph_uidset_clear(&expunged);
    s->nreported = 0;
}

/* ---- Running ------------------------------------------------------------ */

/* RFC 7888 5: with LITERAL- advertised, "non-synchronizing literals used
 * in any command MUST NOT be larger than 4096 bytes". */
#define IMAP_LITERAL_MINUS_MAX 4096

static void refuse_literal(struct imap_session *s,
                           const struct ph_imap_literal *lit,
                           const char *status, const char *text)
{
    ph_buf_printf(&s->out, "%s %s %s\r\n", lit->tag ? lit->tag : "*", status,
                  text);
    ph_imap_parser_literal_reject(s->parser);
    s->cmd_literal_bytes = 0;
}

static void handle_literal(struct imap_session *s)
{
    const struct ph_imap_literal *lit = ph_imap_parser_literal(s->parser);
    bool append = lit->name && strcasecmp(lit->name, "APPEND") == 0;
    if (s->srv->conf->literal_minus && !lit->sync &&
        lit->size > IMAP_LITERAL_MINUS_MAX) {
        /* "proceeds as described in Section 4": the literal is read and
         * the command refused; "If responding to an APPEND command, the
         * tagged BAD response MUST contain the TOOBIG response code". */
        if (append)
            imap_append_abort(s);
        refuse_literal(s, lit, "BAD",
                       append ? "[TOOBIG] Non-synchronizing literals are "
                                "limited to 4096 bytes (LITERAL-)"
                              : "Non-synchronizing literals are limited to "
                                "4096 bytes (LITERAL-)");
        return;
    }
    if (append && imap_append_literal(s, lit))
        return;
    if (lit->literal8) {
        /* RFC 3516 7: literal8 is APPEND's message. */
        refuse_literal(s, lit, "BAD",
                       "A binary literal (~{n}) is only "
                       "allowed for APPEND's message");
        return;
    }
    const char *err;
    /* A command that cannot run is refused before "+": the client sends
     * no literal for it (RFC 3501 7.5), least of all a password in the
     * clear where plaintext logins are off. */
    char *refusal = lit->name ? imap_command_refusal(s, lit->name, NULL) : NULL;
    const char *plain = NULL;
    if (refusal == NULL && lit->name && strcasecmp(lit->name, "LOGIN") == 0)
        plain = imap_plaintext_refusal(s, "LOGIN");
    if (refusal != NULL || plain != NULL) {
        refuse_literal(s, lit, refusal ? "BAD" : "NO",
                       refusal ? refusal : plain);
        free(refusal);
        return;
    }
    /* The parser's own limits (BAD) first; then the session's (NO). */
    if (lit->size <= s->srv->conf->max_literal_size &&
        !imap_memory_fits(s, lit->size)) {
        /* RFC 7888 4: a non-synchronizing literal is read and dropped. */
        refuse_literal(s, lit, "NO", IMAP_LIMIT_TEXT);
        return;
    }
    if (ph_imap_parser_literal_accept(s->parser, &err) < 0) {
        refuse_literal(s, lit, "BAD", err);
        return;
    }
    s->cmd_literal_bytes += lit->size;
    if (lit->sync)
        ph_buf_puts(&s->out, "+ Ready for literal data\r\n");
}

static void handle_line(struct imap_session *s)
{
    size_t len;
    const char *line = ph_imap_parser_line(s->parser, &len);
    if (s->idling) {
        imap_idle_done(s, len == 4 && strncasecmp(line, "DONE", 4) == 0);
        return;
    }
    if (s->sasl_step != IMAP_SASL_NONE) {
        imap_sasl_line(s, line, len);
        return;
    }
    ph_buf_puts(&s->out, "* BAD Unexpected line\r\n");
}

static bool end_session(struct imap_session *s)
{
    (void)imap_flush(s);
    if (s->tls_sess && s->tls && !s->io_failed)
        (void)ph_tls_bye(s->tls_sess);
    return false;
}

static void log_tls(struct imap_session *s)
{
    if (s->srv->conf->debug || ph_log_debug_enabled())
        ph_log_info("mod=imap event=tls client=%s protocol=%s cipher=%s",
                    s->addr, ph_tls_protocol(s->tls_sess),
                    ph_tls_cipher(s->tls_sess));
}

/* Implicit TLS and STARTTLS: the handshake runs in steps and the session parks
 * while it waits for the client, so slow or silent clients hold no worker. 0:
 * done, 1: parked, -1: failed (logged). */
static int handshake_step(struct imap_session *s)
{
    if (s->tls_sess == NULL) {
        char *err = NULL;
        if (ph_tls_session_new(s->srv->tls_srv, s->fd, &s->tls_sess, &err) <
            0) {
            ph_log_warn("mod=imap event=tls_failed client=%s error=\"%s\"",
                        s->addr, err);
            free(err);
            return -1;
        }
        ph_tls_set_timeout(s->tls_sess, IMAP_STEP_TIMEOUT_MS);
        ph_tls_set_wait_hook(s->tls_sess, tls_stall, s);
        s->park_timeout_ms = IMAP_HANDSHAKE_TIMEOUT_MS;
    }
    for (;;) {
        int r = ph_tls_handshake_nb(s->tls_sess);
        if (r == 0) {
            s->tls = true;
            s->park_timeout_ms = 0;
            log_tls(s);
            return 0;
        }
        if (r == PH_TLS_WANT_READ) {
            if (imap_reactor_park(s))
                return 1;
            if (atomic_load(&s->shutting_down))
                return -1;
            continue;
        }
        if (r == PH_TLS_WANT_WRITE) {
            if (wait_fd(s, POLLOUT) < 0)
                return -1;
            continue;
        }
        char *e = ph_log_escape(ph_tls_error(s->tls_sess));
        ph_log_warn("mod=imap event=tls_failed client=%s error=%s", s->addr, e);
        free(e);
        return -1;
    }
}

bool imap_session_run(struct imap_session *s)
{
    if (!s->greeted) {
        /* Nothing may go out in the clear on a tls:// port. */
        if (s->timed_out || atomic_load(&s->shutting_down))
            return false;
        if (s->implicit_tls && !s->tls) {
            int r = handshake_step(s);
            if (r != 0)
                return r > 0;
        }
        s->greeted = true;
        ph_buf_puts(&s->out, "* OK [CAPABILITY ");
        imap_capability_write(s, &s->out);
        ph_buf_puts(&s->out, "] posthorn ready\r\n");
        if (imap_flush(s) < 0)
            return false;
    }
    for (;;) {
        if (s->starttls_pending) {
            /* Mid-handshake nothing goes out, not even a BYE. */
            if (s->timed_out || atomic_load(&s->shutting_down))
                return false;
            int r = handshake_step(s);
            if (r != 0)
                return r > 0;
            s->starttls_pending = false;
        }
        if (s->timed_out) {
            ph_buf_puts(&s->out, "* BYE Autologout; idle for too long\r\n");
            return end_session(s);
        }
        if (atomic_load(&s->shutting_down)) {
            ph_buf_puts(&s->out, "* BYE Server shutting down\r\n");
            return end_session(s);
        }
        if (s->resume_at_ms) {
            if (imap_now_ms() < s->resume_at_ms) {
                (void)imap_reactor_take_wake(s); /* not idling: moot */
                if (imap_reactor_park(s))
                    return true;
                continue;
            }
            s->resume_at_ms = 0;
            ph_buf_puts(&s->out, s->delayed_reply);
            free(s->delayed_reply);
            s->delayed_reply = NULL;
            if (imap_flush(s) < 0)
                return false;
        }
        if (imap_reactor_take_wake(s) && s->idling) {
            imap_send_updates(s, true);
            if (imap_flush(s) < 0)
                return false;
        }
        while (s->inpos < s->inlen && !s->closing) {
            size_t used;
            enum ph_imap_parse_event ev = ph_imap_parser_feed(
                s->parser, s->inbuf + s->inpos, s->inlen - s->inpos, &used);
            s->inpos += used;
            switch (ev) {
            case PH_IMAP_PARSE_MORE: break;
            case PH_IMAP_PARSE_COMMAND:
                imap_dispatch(s, ph_imap_parser_command(s->parser));
                s->cmd_literal_bytes = 0;
                s->unflushed++;
                break;
            case PH_IMAP_PARSE_LITERAL: handle_literal(s); break;
            case PH_IMAP_PARSE_LINE: handle_line(s); break;
            case PH_IMAP_PARSE_ERROR: {
                const struct ph_imap_parse_error *e =
                    ph_imap_parser_error(s->parser);
                s->cmd_literal_bytes = 0;
                s->unflushed++;
                imap_append_abort(s);
                if (s->idling) {
                    imap_idle_done(s, false);
                    break;
                }
                if (s->sasl_step != IMAP_SASL_NONE) {
                    imap_sasl_line(s, NULL, 0);
                    break;
                }
                ph_buf_printf(&s->out, "%s BAD %s\r\n", e->tag ? e->tag : "*",
                              e->text);
                if (e->fatal) {
                    ph_buf_puts(&s->out,
                                "* BYE Cannot continue after this error\r\n");
                    s->closing = true;
                }
                break;
            }
            }
            /* Answers to pipelined commands go out in batches; the
             * socket is read again only once they are written. */
            if ((s->inpos == s->inlen || s->closing || s->resume_at_ms ||
                 s->starttls_pending || s->out.len >= IMAP_OUT_HIGH_WATER ||
                 s->unflushed >=
                     (size_t)s->srv->conf->max_pipelined_commands) &&
                imap_flush(s) < 0)
                return false;
            if (s->resume_at_ms || s->starttls_pending)
                break;
        }
        if (s->resume_at_ms || s->starttls_pending)
            continue;
        if (s->closing)
            return end_session(s);
        s->inpos = s->inlen = 0;
        int r = read_some(s);
        if (r < 0 && atomic_load(&s->shutting_down)) {
            /* The end of input is the server's own SHUT_RD: say why. */
            ph_buf_puts(&s->out, "* BYE Server shutting down\r\n");
            return end_session(s);
        }
        if (r < 0)
            return end_session(s);
        /* Bytes TLS already decrypted never make the socket readable. */
        if (r == 0 && s->tls_sess && ph_tls_pending(s->tls_sess) > 0)
            continue;
        if (r == 0 && imap_reactor_park(s))
            return true;
    }
}
