/* SPDX-License-Identifier: MIT */
/* APPEND (RFC 3501 6.3.11, UIDPLUS APPENDUID, APPENDLIMIT). Everything
 * before the message literal (mailbox, flags, date, the size against the
 * limit) is checked before "+" is sent; the message is then streamed to an
 * unlinked temporary file while it arrives (never held in memory), and
 * handed to storage's append pipeline once the command line is complete. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "imap-private.h"

/* The spool is an unnamed file in state_dir: on the disk that will hold the
 * mail anyway, not in a /tmp that may be a small tmpfs. */
static FILE *spool_open(void)
{
    const char *dir = ph_global_state_dir();
    int fd = -1;
    if (dir != NULL) {
        fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
            /* A file system without O_TMPFILE: create, then unlink. */
            char *path = ph_strdup_printf("%s/.append-XXXXXX", dir);
            fd = mkostemp(path, O_CLOEXEC);
            if (fd >= 0)
                (void)unlink(path);
            free(path);
        }
    }
    if (fd < 0)
        return tmpfile();
    FILE *f = fdopen(fd, "w+");
    if (f == NULL)
        close(fd);
    return f;
}

static void spool_sink(void *context, const void *data, size_t len)
{
    struct imap_session *s = context;
    if (data == NULL || s->app_spool == NULL)
        return;
    if (!s->app_spool_failed && fwrite(data, 1, len, s->app_spool) != len) {
        s->app_spool_failed = true;
        s->app_spool_errno = errno;
    }
}

/* The end of the literal: what stdio still buffers must reach the disk
 * now (rewind would drop a failed flush's error). */
static bool spool_flush(struct imap_session *s)
{
    if (!s->app_spool_failed && fflush(s->app_spool) != 0) {
        s->app_spool_failed = true;
        s->app_spool_errno = errno;
    }
    return !s->app_spool_failed;
}

static uint64_t append_limit(struct imap_session *s)
{
    if (s->srv->conf->appendlimit)
        return s->srv->conf->appendlimit;
    return s->acct ? ph_account_appendlimit(s->acct) : 0;
}

/* Ends an APPEND in progress: its spool and its storage append. */
void imap_append_abort(struct imap_session *s)
{
    if (s->app_spool) {
        fclose(s->app_spool);
        s->app_spool = NULL;
    }
    if (s->app)
        ph_append_abort(&s->app);
}

/* APPEND's arguments before its message (RFC 3501 6.3.11, 9: mailbox
 * [SP flag-list] [SP date-time] SP literal). */
#define APPEND_SHAPE                                                           \
    "APPEND takes a mailbox, optional flags and date, and a literal"
struct append_args {
    char *mailbox;
    struct ph_flags flags;
    time_t date;
    int tz;
};

static void append_args_clear(struct append_args *a)
{
    free(a->mailbox);
    ph_flags_clear(&a->flags);
}

/* Reads args[0..n), the arguments before the message literal. 0, or -1
 * with the answer in *status_r ("BAD", "NO") and *text_r (malloc'ed). */
static int append_args_parse(const struct imap_session *s,
                             const struct ph_imap_value *args, size_t n,
                             struct append_args *a, const char **status_r,
                             char **text_r)
{
    memset(a, 0, sizeof(*a));
    a->date = time(NULL);
    *status_r = "BAD";
    const struct ph_imap_value *flv = NULL, *datev = NULL;
    if (n < 1 || n > 3)
        goto shape;
    for (size_t i = 1; i < n; i++) {
        if (args[i].type == PH_IMAP_VALUE_LIST && flv == NULL && datev == NULL)
            flv = &args[i];
        else if (args[i].type == PH_IMAP_VALUE_STRING && datev == NULL)
            datev = &args[i];
        else
            goto shape;
    }
    if (flv) {
        const struct ph_imap_value *items;
        size_t ni;
        (void)ph_imap_value_get_list(flv, &items, &ni);
        if ((*text_r = imap_flags_parse(items, ni, " in APPEND", &a->flags))) {
            append_args_clear(a);
            return -1;
        }
    }
    const char *err;
    if (datev && ph_imap_date_time_parse(datev->str, datev->len, &a->date,
                                         &a->tz, &err) < 0) {
        append_args_clear(a);
        char *t = imap_token_text(datev->str);
        *text_r = ph_strdup_printf(
            "Invalid date-time %s: expected \"dd-Mon-yyyy hh:mm:ss +zzzz\"", t);
        free(t);
        return -1;
    }
    a->mailbox =
        imap_mailbox_name(s, &args[0], "NONEXISTENT", status_r, text_r);
    if (a->mailbox == NULL) {
        append_args_clear(a);
        return -1;
    }
    return 0;
shape:
    *text_r = ph_strdup(APPEND_SHAPE);
    return -1;
}

/* The answer to ph_append_begin's error. */
static char *begin_error(int r, const char *err, const char **status_r)
{
    *status_r = "NO";
    if (r == PH_STORAGE_ERR_NOT_FOUND)
        return ph_strdup_printf("[TRYCREATE] %s", err);
    if (r == PH_STORAGE_ERR_LIMIT)
        return ph_strdup_printf("[TOOBIG] %s", err);
    return ph_strdup_printf("[%s] %s", ph_storage_err_code(r), err);
}

/* Everything that decides the APPEND before its message arrives: the
 * arguments, the size, the mailbox (storage's append begins here). 0, or
 * -1 with the answer. */
static int append_check(struct imap_session *s,
                        const struct ph_imap_literal *lit,
                        const char **status_r, char **text_r)
{
    *status_r = "BAD";
    if (s->state == IMAP_STATE_NOT_AUTH || s->state == IMAP_STATE_LOGOUT) {
        *text_r = ph_strdup("Log in first");
        return -1;
    }
    if (s->app_spool != NULL || s->app != NULL) {
        /* MULTIAPPEND is not offered: the first message goes too. */
        imap_append_abort(s);
        *text_r = ph_strdup("Only one message per APPEND");
        return -1;
    }
    size_t n;
    const struct ph_imap_value *args =
        ph_imap_parser_literal_args(s->parser, &n);
    struct append_args a;
    if (lit->depth == 1) /* "UTF8 (~{n}": the atom is no argument */
        n--;
    if (append_args_parse(s, args, n, &a, status_r, text_r) < 0)
        return -1;
    uint64_t limit = append_limit(s);
    const char *err;
    int r = 0;
    *status_r = "NO";
    if (lit->size == 0) {
        *text_r = ph_strdup("[CANNOT] Empty message");
        r = -1;
    } else if (limit && lit->size > limit) {
        *text_r = ph_strdup_printf(
            "[TOOBIG] Message larger than the limit of %llu bytes",
            (unsigned long long)limit);
        r = -1;
    } else if ((r = ph_append_begin(s->acct, a.mailbox, lit->size, &s->app,
                                    &err)) < 0) {
        *text_r = begin_error(r, err, status_r);
    } else if ((s->app_spool = spool_open()) == NULL) {
        *text_r = ph_strdup_printf(
            "[%s] Cannot spool the message: %s",
            errno == ENOSPC ? "UNAVAILABLE" : "SERVERBUG",
            errno == ENOSPC ? "no space left on the disk" : strerror(errno));
        imap_append_abort(s);
        r = -1;
    }
    append_args_clear(&a);
    return r < 0 ? -1 : 0;
}

void imap_append_literal(struct imap_session *s,
                         const struct ph_imap_literal *lit)
{
    const char *status;
    char *text;
    if (append_check(s, lit, &status, &text) < 0) {
        /* Before "+": a client never uploads a message to have it refused
         * (RFC 3501 7.5: it sends no synchronizing literal after a tagged
         * answer; a non-synchronizing one is read and dropped). */
        ph_buf_printf(&s->out, "%s %s %s\r\n", lit->tag ? lit->tag : "*",
                      status, text);
        free(text);
        ph_imap_parser_literal_reject(s->parser);
        return;
    }
    s->app_spool_failed = false;
    s->app_spool_errno = 0;
    s->app_size = lit->size;
    ph_imap_parser_literal_stream(s->parser, spool_sink, s);
    if (lit->sync)
        ph_buf_puts(&s->out, "+ Ready for literal data\r\n");
}

void imap_cmd_append(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    const struct ph_imap_value *msg = n > 0 ? &args[n - 1] : NULL;
    size_t nbefore = n - 1;
    const char *status;
    char *text;
    struct append_args a;
    if (!imap_append_utf8_form(args, n, &msg, &nbefore) &&
        (msg == NULL || (msg->type != PH_IMAP_VALUE_LITERAL_STREAMED &&
                         msg->type != PH_IMAP_VALUE_LITERAL))) {
        imap_append_abort(s);
        imap_tagged(s, "BAD", APPEND_SHAPE);
        return;
    }
    if (append_args_parse(s, args, nbefore, &a, &status, &text) < 0) {
        imap_append_abort(s);
        imap_tagged(s, status, "%s", text);
        free(text);
        return;
    }
    const char *err = NULL;
    uint64_t size = msg->type == PH_IMAP_VALUE_LITERAL ? msg->len : s->app_size;
    int r = 0;
    if (msg->type == PH_IMAP_VALUE_LITERAL_STREAMED &&
        (s->app_spool == NULL || s->app == NULL || !spool_flush(s))) {
        r = PH_STORAGE_ERR_TEMP;
        err = s->app_spool_errno == ENOSPC
                  ? "Cannot spool the message: no space left on the disk"
                  : "Cannot spool the message";
    }
    if (r == 0 && size == 0) {
        r = PH_STORAGE_ERR_INVALID;
        err = "Empty message";
    }
    /* A streamed message began at its literal (imap_append_literal). */
    if (r == 0 && s->app == NULL)
        r = ph_append_begin(s->acct, a.mailbox, size, &s->app, &err);
    if (r == 0 && msg->type == PH_IMAP_VALUE_LITERAL) {
        r = ph_append_write(s->app, msg->str, msg->len, &err);
    } else if (r == 0) {
        rewind(s->app_spool);
        char buf[65536];
        size_t got;
        while (r == 0 && (got = fread(buf, 1, sizeof(buf), s->app_spool)) > 0)
            r = ph_append_write(s->app, buf, got, &err);
    }
    uint32_t uid = 0, uidvalidity = 0;
    if (r == 0)
        r = ph_append_finish(&s->app, &a.flags, a.date, a.tz, &uid,
                             &uidvalidity, &err);
    imap_append_abort(s);
    append_args_clear(&a);
    if (r < 0) {
        text = begin_error(r, err, &status);
        imap_tagged(s, status, "%s", text);
        free(text);
    } else {
        imap_tagged(s, "OK", "[APPENDUID %u %u] APPEND completed", uidvalidity,
                    uid);
    }
}
