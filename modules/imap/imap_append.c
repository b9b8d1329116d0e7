/* SPDX-License-Identifier: MIT */
/* APPEND (RFC 3501 6.3.11, UIDPLUS APPENDUID, APPENDLIMIT). The message
 * literal is checked against the limit before "+" is sent, streamed to an
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

void imap_append_literal(struct imap_session *s,
                         const struct ph_imap_literal *lit)
{
    const char *tag = lit->tag ? lit->tag : "*";
    uint64_t limit = append_limit(s);
    if (s->state == IMAP_STATE_NOT_AUTH || s->state == IMAP_STATE_LOGOUT) {
        ph_buf_printf(&s->out, "%s BAD Log in first\r\n", tag);
    } else if (s->app_spool != NULL) {
        ph_buf_printf(&s->out, "%s BAD Only one message per APPEND\r\n", tag);
    } else if (limit && lit->size > limit) {
        ph_buf_printf(
            &s->out,
            "%s NO [TOOBIG] Message larger than the limit of %llu bytes\r\n",
            tag, (unsigned long long)limit);
    } else if ((s->app_spool = spool_open()) == NULL) {
        ph_buf_printf(&s->out, "%s NO [%s] Cannot spool the message: %s\r\n",
                      tag, errno == ENOSPC ? "UNAVAILABLE" : "SERVERBUG",
                      errno == ENOSPC ? "no space left on the disk"
                                      : strerror(errno));
    } else {
        s->app_spool_failed = false;
        s->app_spool_errno = 0;
        s->app_size = lit->size;
        ph_imap_parser_literal_stream(s->parser, spool_sink, s);
        if (lit->sync)
            ph_buf_puts(&s->out, "+ Ready for literal data\r\n");
        return;
    }
    ph_imap_parser_literal_reject(s->parser);
}

static void append_done(struct imap_session *s)
{
    if (s->app_spool) {
        fclose(s->app_spool);
        s->app_spool = NULL;
    }
}

void imap_cmd_append(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    const struct ph_imap_value *flv = NULL, *datev = NULL, *msg;
    if (n < 2 || n > 4)
        goto bad;
    msg = &args[n - 1];
    for (size_t i = 1; i + 1 < n; i++) {
        if (args[i].type == PH_IMAP_VALUE_LIST && flv == NULL && datev == NULL)
            flv = &args[i];
        else if (args[i].type == PH_IMAP_VALUE_STRING && datev == NULL)
            datev = &args[i];
        else
            goto bad;
    }
    if (msg->type != PH_IMAP_VALUE_LITERAL_STREAMED &&
        msg->type != PH_IMAP_VALUE_LITERAL)
        goto bad;
    struct ph_flags flags = {0};
    if (flv) {
        const struct ph_imap_value *items;
        size_t ni;
        (void)ph_imap_value_get_list(flv, &items, &ni);
        char *ferr = imap_flags_parse(items, ni, " in APPEND", &flags);
        if (ferr != NULL) {
            ph_flags_clear(&flags);
            append_done(s);
            imap_tagged(s, "BAD", "%s", ferr);
            free(ferr);
            return;
        }
    }
    time_t date = time(NULL);
    int tz = 0;
    if (datev) {
        const char *err;
        if (ph_imap_date_time_parse(datev->str, datev->len, &date, &tz, &err) <
            0) {
            ph_flags_clear(&flags);
            append_done(s);
            imap_tagged(s, "BAD", "Invalid date-time: %s", err);
            return;
        }
    }
    char *mailbox = imap_mailbox_arg(s, &args[0]);
    if (mailbox == NULL) {
        ph_flags_clear(&flags);
        append_done(s);
        return;
    }
    const char *err = NULL;
    uint64_t size = msg->type == PH_IMAP_VALUE_LITERAL ? msg->len : s->app_size;
    int r = 0;
    if (msg->type == PH_IMAP_VALUE_LITERAL_STREAMED &&
        (s->app_spool == NULL || !spool_flush(s))) {
        r = PH_STORAGE_ERR_TEMP;
        err = s->app_spool_errno == ENOSPC
                  ? "Cannot spool the message: no space left on the disk"
                  : "Cannot spool the message";
    }
    if (r == 0 && size == 0) {
        r = PH_STORAGE_ERR_INVALID;
        err = "Empty message";
    }
    if (r == 0)
        r = ph_append_begin(s->acct, mailbox, size, &s->app, &err);
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
        r = ph_append_finish(&s->app, &flags, date, tz, &uid, &uidvalidity,
                             &err);
    if (s->app)
        ph_append_abort(&s->app);
    append_done(s);
    ph_flags_clear(&flags);
    free(mailbox);
    if (r == PH_STORAGE_ERR_NOT_FOUND)
        imap_tagged(s, "NO", "[TRYCREATE] %s", err);
    else if (r == PH_STORAGE_ERR_LIMIT)
        imap_tagged(s, "NO", "[TOOBIG] %s", err);
    else if (r < 0)
        imap_storage_no(s, r, err);
    else
        imap_tagged(s, "OK", "[APPENDUID %u %u] APPEND completed", uidvalidity,
                    uid);
    return;
bad:
    append_done(s);
    imap_tagged(
        s, "BAD",
        "APPEND takes a mailbox, optional flags and date, and a literal");
}
