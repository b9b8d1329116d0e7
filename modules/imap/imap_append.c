/* SPDX-License-Identifier: MIT */
/* APPEND (RFC 3501 6.3.11, UIDPLUS APPENDUID, APPENDLIMIT), MULTIAPPEND
 * (RFC 3502: several messages, all or none) and CATENATE (RFC 4469: a
 * message made of TEXT literals and URL parts).
 *
 * Everything before a literal (mailbox, flags, date, the sizes against the
 * limits) is checked before "+" is sent; the literals are streamed, in
 * order, to one unlinked temporary file while they arrive (never held in
 * memory). Once the command line is complete each message is made from
 * its literal or its parts and all of them are committed to storage as
 * one (ph_append_finish_all). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <posthorn/message.h>

#include "imap-private.h"

/* Where each literal of the command lies in the spool, in the order of
 * the arguments. */
struct spooled {
    uint64_t off, size;
};

struct imap_append {
    FILE *spool;
    bool spool_failed;
    int spool_errno; /* why it failed: ENOSPC says so to the client */
    struct spooled *lits;
    size_t nlits, cap_lits;
    uint64_t spooled; /* bytes announced so far */
};

/* The spool is an unnamed file in state_dir: on the disk that will hold the
 * mail anyway, not in a /tmp that may be a small tmpfs. */
FILE *imap_spool_open(void)
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
    struct imap_append *a = context;
    if (data == NULL || a->spool == NULL)
        return;
    if (!a->spool_failed && fwrite(data, 1, len, a->spool) != len) {
        a->spool_failed = true;
        a->spool_errno = errno;
    }
}

/* The end of the literals: what stdio still buffers must reach the disk
 * now (a failed flush's error would be lost later). */
static bool spool_flush(struct imap_append *a)
{
    if (!a->spool_failed && fflush(a->spool) != 0) {
        a->spool_failed = true;
        a->spool_errno = errno;
    }
    return !a->spool_failed;
}

static uint64_t append_limit(struct imap_session *s)
{
    if (s->srv->conf->appendlimit)
        return s->srv->conf->appendlimit;
    return s->acct ? ph_account_appendlimit(s->acct) : 0;
}

/* The largest message made: the limit, and without one the 4 GB of an
 * IMAP message (RFC 4469 4.2). */
static uint64_t message_max(struct imap_session *s)
{
    uint64_t limit = append_limit(s);
    return limit ? limit : UINT32_MAX;
}

void imap_append_abort(struct imap_session *s)
{
    struct imap_append *a = s->append;
    if (a == NULL)
        return;
    if (a->spool)
        fclose(a->spool);
    free(a->lits);
    free(a);
    s->append = NULL;
}

/* ---- One message of the arguments -------------------------------------- */

#define APPEND_SHAPE                                                           \
    "APPEND takes a mailbox, then for each message optional flags and date "   \
    "and a literal or CATENATE (TEXT literal / URL url ...)"

struct append_msg {
    struct ph_flags flags;
    time_t date;
    int tz;
    /* The message literal, or the parts of CATENATE. */
    const struct ph_imap_value *literal;
    const struct ph_imap_value *parts;
    size_t nparts;
    bool catenate; /* CATENATE was read (its list may still be coming) */
    bool utf8;     /* RFC 6855 4's "UTF8 (~{n}...)", likewise */
};

static void append_msg_clear(struct append_msg *m)
{
    ph_flags_clear(&m->flags);
}

/* CATENATE's parts (RFC 4469 5): 1*(("TEXT" SP literal) / ("URL" SP
 * astring)). */
static bool parts_valid(const struct ph_imap_value *v, size_t n)
{
    const char *url;
    if (n == 0 || n % 2 != 0)
        return false;
    for (size_t i = 0; i < n; i += 2) {
        bool text = ph_imap_value_is_atom(&v[i], "TEXT") &&
                    (v[i + 1].type == PH_IMAP_VALUE_LITERAL ||
                     v[i + 1].type == PH_IMAP_VALUE_LITERAL_STREAMED);
        bool is_url = ph_imap_value_is_atom(&v[i], "URL") &&
                      ph_imap_value_get_astring(&v[i + 1], &url);
        if (!text && !is_url)
            return false;
    }
    return true;
}

/* One append-message from args[*i..n), *i moved past it (RFC 3502 and
 * RFC 4469: [SP flag-list] [SP date-time] SP (literal / "CATENATE" SP "("
 * cat-part *(SP cat-part) ")")). 0: a whole message. 1: the arguments end
 * before its data, as they do at a literal that is still to come: m says
 * what was read (m->catenate: CATENATE without its list). -1 with the
 * answer in *status_r and *text_r (malloc'ed). */
static int append_msg_parse(const struct ph_imap_value *args, size_t n,
                            size_t *i, struct append_msg *m,
                            const char **status_r, char **text_r)
{
    memset(m, 0, sizeof(*m));
    m->date = time(NULL);
    *status_r = "BAD";
    size_t k = *i;
    if (k < n && args[k].type == PH_IMAP_VALUE_LIST) {
        const struct ph_imap_value *items;
        size_t ni;
        (void)ph_imap_value_get_list(&args[k], &items, &ni);
        if ((*text_r = imap_flags_parse(items, ni, " in APPEND", &m->flags)))
            goto fail;
        k++;
    }
    if (k < n && args[k].type == PH_IMAP_VALUE_STRING) {
        const char *err;
        if (ph_imap_date_time_parse(args[k].str, args[k].len, &m->date, &m->tz,
                                    &err) < 0) {
            char *t = imap_token_text(args[k].str);
            *text_r = ph_strdup_printf("Invalid date-time %s: expected "
                                       "\"dd-Mon-yyyy hh:mm:ss +zzzz\"",
                                       t);
            free(t);
            goto fail;
        }
        k++;
    }
    int ret = 0;
    if (k == n) {
        ret = 1;
    } else if (args[k].type == PH_IMAP_VALUE_LITERAL ||
               args[k].type == PH_IMAP_VALUE_LITERAL_STREAMED) {
        m->literal = &args[k++];
    } else if (ph_imap_value_is_atom(&args[k], "UTF8")) {
        /* utf8-literal = "UTF8" SP "(" literal8 ")" (RFC 6855 4) */
        m->utf8 = true;
        if (++k == n) {
            ret = 1;
        } else if (args[k].type != PH_IMAP_VALUE_LIST || args[k].len != 1 ||
                   (args[k].list[0].type != PH_IMAP_VALUE_LITERAL &&
                    args[k].list[0].type != PH_IMAP_VALUE_LITERAL_STREAMED) ||
                   !args[k].list[0].literal8) {
            *text_r = ph_strdup("UTF8 takes a list of one literal8 (~{n})");
            goto fail;
        } else {
            m->literal = &args[k++].list[0];
        }
    } else if (ph_imap_value_is_atom(&args[k], "CATENATE")) {
        m->catenate = true;
        if (++k == n) {
            ret = 1;
        } else if (!ph_imap_value_get_list(&args[k], &m->parts, &m->nparts) ||
                   !parts_valid(m->parts, m->nparts)) {
            *text_r = ph_strdup("CATENATE takes a list of TEXT literal and "
                                "URL url parts");
            goto fail;
        } else {
            k++;
        }
    } else {
        *text_r = ph_strdup(APPEND_SHAPE);
        goto fail;
    }
    *i = k;
    return ret;
fail:
    append_msg_clear(m);
    return -1;
}

/* The answer to a storage error of APPEND. */
static char *storage_error(int r, const char *err, const char **status_r)
{
    *status_r = "NO";
    if (r == PH_STORAGE_ERR_NOT_FOUND)
        return ph_strdup_printf("[TRYCREATE] %s", err);
    if (r == PH_STORAGE_ERR_LIMIT)
        return ph_strdup_printf("[TOOBIG] %s", err);
    return ph_strdup_printf("[%s] %s", ph_storage_err_code(r), err);
}

static char *too_many(struct imap_session *s)
{
    return ph_strdup_printf("[LIMIT] Too many messages in one APPEND (at "
                            "most %lld)",
                            (long long)s->srv->conf->max_append_messages);
}

static char *too_large_batch(struct imap_session *s)
{
    return ph_strdup_printf("[LIMIT] The messages of one APPEND are larger "
                            "than %llu bytes together",
                            (unsigned long long)s->srv->conf->max_append_size);
}

/* ---- At a literal, before "+" -------------------------------------------- */

/* Everything that decides the APPEND before the literal arrives: the
 * arguments so far, the count of messages, the sizes, the mailbox (at the
 * first literal). 0, or -1 with the answer. */
static int literal_check(struct imap_session *s,
                         const struct ph_imap_literal *lit,
                         const char **status_r, char **text_r)
{
    *status_r = "BAD";
    if (s->state == IMAP_STATE_NOT_AUTH || s->state == IMAP_STATE_LOGOUT) {
        *text_r = ph_strdup("Log in first");
        return -1;
    }
    size_t n;
    const struct ph_imap_value *args =
        ph_imap_parser_literal_args(s->parser, &n);
    char *mailbox =
        imap_mailbox_name(s, &args[0], "NONEXISTENT", status_r, text_r);
    if (mailbox == NULL)
        return -1;
    /* The messages before this one, then what this one has so far. */
    size_t i = 1, count = 1;
    struct append_msg m;
    int r;
    while ((r = append_msg_parse(args, n, &i, &m, status_r, text_r)) == 0) {
        append_msg_clear(&m);
        count++;
    }
    uint64_t size = lit->size; /* of this message's literals so far */
    if (r == 1) {
        append_msg_clear(&m);
        if ((m.catenate || m.utf8) != (lit->depth == 1)) {
            *status_r = "BAD";
            *text_r = ph_strdup(APPEND_SHAPE);
            r = -1;
        }
    }
    if (r == 1 && lit->depth == 1) {
        size_t np;
        const struct ph_imap_value *parts =
            ph_imap_parser_literal_list(s->parser, &np);
        for (size_t k = 0; k < np; k++)
            if (parts[k].type == PH_IMAP_VALUE_LITERAL_STREAMED)
                size += parts[k].literal_size;
    }
    struct imap_append *a = s->append;
    uint64_t batch = (a ? a->spooled : 0) + lit->size;
    const char *err;
    if (r == 1) {
        r = -1;
        *status_r = "NO";
        if (count > (size_t)s->srv->conf->max_append_messages)
            *text_r = too_many(s);
        else if (lit->depth == 0 && lit->size == 0)
            /* RFC 3502 6.3.11: "A zero-length message literal argument is
             * an error, and MUST return a NO." */
            *text_r = ph_strdup("[CANNOT] Empty message");
        else if (size > message_max(s))
            *text_r = ph_strdup_printf(
                "[TOOBIG] Message larger than the limit of %llu bytes",
                (unsigned long long)message_max(s));
        else if (batch > s->srv->conf->max_append_size)
            *text_r = too_large_batch(s);
        else
            r = 0;
    }
    if (r == 0 && a == NULL) {
        /* The mailbox, once: storage's answer (TRYCREATE, \Noselect)
         * before the client sends the first message. */
        struct ph_append *probe;
        int e = ph_append_begin(s->acct, mailbox, lit->size, &probe, &err);
        if (e < 0) {
            *text_r = storage_error(e, err, status_r);
            r = -1;
        } else {
            ph_append_abort(&probe);
            a = s->append = ph_calloc(1, sizeof(*a));
        }
    }
    if (r == 0 && a->spool == NULL && (a->spool = imap_spool_open()) == NULL) {
        *status_r = "NO";
        *text_r = ph_strdup_printf(
            "[%s] Cannot spool the message: %s",
            errno == ENOSPC ? "UNAVAILABLE" : "SERVERBUG",
            errno == ENOSPC ? "no space left on the disk" : strerror(errno));
        r = -1;
    }
    free(mailbox);
    return r;
}

bool imap_append_literal(struct imap_session *s,
                         const struct ph_imap_literal *lit)
{
    /* A literal mailbox name, a URL given as a literal, or one deeper in
     * a list: an ordinary literal (the command's syntax is checked at its
     * end). */
    if (lit->depth == 0 && lit->arg_index == 0)
        return false;
    if (lit->depth == 1) {
        size_t np, na;
        const struct ph_imap_value *parts =
            ph_imap_parser_literal_list(s->parser, &np);
        const struct ph_imap_value *args =
            ph_imap_parser_literal_args(s->parser, &na);
        /* CATENATE's TEXT part, or the message of "UTF8 (~{n}" (RFC 6855
         * 4: a literal8 alone in the list). */
        bool text = np > 0 && ph_imap_value_is_atom(&parts[np - 1], "TEXT") &&
                    !lit->literal8;
        bool utf8 = np == 0 && lit->literal8 && na >= 2 &&
                    ph_imap_value_is_atom(&args[na - 1], "UTF8");
        if (!text && !utf8)
            return false;
    } else if (lit->depth > 1) {
        return false;
    }
    const char *status;
    char *text;
    if (literal_check(s, lit, &status, &text) < 0) {
        /* Before "+": a client never uploads a message to have it refused.
         * RFC 3502's example (A005) and RFC 3501 7.5: after a tagged answer
         * the client sends no synchronizing literal, so the command ends
         * here; a non-synchronizing one is read and dropped with the rest
         * of the command. Either way nothing of it is stored. */
        ph_buf_printf(&s->out, "%s %s %s\r\n", lit->tag ? lit->tag : "*",
                      status, text);
        free(text);
        imap_append_abort(s);
        ph_imap_parser_literal_reject(s->parser);
        return true;
    }
    struct imap_append *a = s->append;
    ph_array_grow(&a->lits, &a->cap_lits, a->nlits + 1, sizeof(*a->lits));
    a->lits[a->nlits++] = (struct spooled){a->spooled, lit->size};
    a->spooled += lit->size;
    ph_imap_parser_literal_stream(s->parser, spool_sink, a);
    if (lit->sync)
        ph_buf_puts(&s->out, "+ Ready for literal data\r\n");
    return true;
}

/* ---- At the end of the command ------------------------------------------- */

struct builder {
    struct imap_session *s;
    struct imap_append *a;
    size_t next_lit; /* the spool's next literal */
    uint64_t total;  /* bytes of every message so far */
};

/* Copies a literal's bytes to app: a streamed one from the spool, a
 * buffered one (none here, but the grammar allows it) from the command. */
static int put_literal(struct builder *b, const struct ph_imap_value *v,
                       struct ph_append *app, const char **err)
{
    if (v->type == PH_IMAP_VALUE_LITERAL)
        return ph_append_write(app, v->str, v->len, err);
    struct imap_append *a = b->a;
    if (a == NULL || b->next_lit >= a->nlits) {
        *err = "Cannot spool the message";
        return PH_STORAGE_ERR_TEMP;
    }
    struct spooled lit = a->lits[b->next_lit++];
    char buf[65536];
    int fd = fileno(a->spool);
    while (lit.size > 0) {
        size_t want = lit.size < sizeof(buf) ? (size_t)lit.size : sizeof(buf);
        ssize_t got = pread(fd, buf, want, (off_t)lit.off);
        if (got <= 0) {
            *err = "Cannot read the spooled message back";
            return PH_STORAGE_ERR_TEMP;
        }
        int r = ph_append_write(app, buf, (size_t)got, err);
        if (r < 0)
            return r;
        lit.off += (uint64_t)got;
        lit.size -= (uint64_t)got;
    }
    return 0;
}

int imap_spool_read(FILE *f, uint64_t off, uint64_t size, ph_data_cb *cb,
                    void *arg)
{
    char buf[65536];
    int fd = fileno(f);
    while (size > 0) {
        size_t want = size < sizeof(buf) ? (size_t)size : sizeof(buf);
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got <= 0)
            return PH_STORAGE_ERR_TEMP;
        int r = cb(arg, buf, (size_t)got);
        if (r != 0)
            return r;
        off += (uint64_t)got;
        size -= (uint64_t)got;
    }
    return 0;
}

/* ---- literal8 (RFC 3516 4.4) ---- */

/* A message literal as received: in the spool at off, or buffered. */
struct received {
    FILE *f;
    uint64_t off;
    const char *mem;
};

static int received_read(void *arg, uint64_t off, uint64_t size,
                         ph_message_data_cb *cb, void *cb_arg)
{
    struct received *rc = arg;
    if (rc->mem != NULL)
        return size > 0 ? cb(cb_arg, rc->mem + off, (size_t)size) : 0;
    return imap_spool_read(rc->f, rc->off + off, size, cb, cb_arg);
}

static int parse_cb(void *arg, const void *data, size_t len)
{
    ph_message_parser_feed(arg, data, len);
    return 0;
}

struct append_out {
    struct ph_append *app;
    const char *err;
};

static int append_out_cb(void *arg, const void *data, size_t len)
{
    struct append_out *o = arg;
    return ph_append_write(o->app, data, len, &o->err);
}

/* A message sent as literal8 may hold binary content that storage would
 * change (NUL bytes, the line ends of a "binary" part): those parts go to
 * storage base64-encoded, so nothing is lost and BODY[] stays 8-bit clean
 * (RFC 3516 4.4, 6: BODY returns what BODYSTRUCTURE describes, in an
 * encoding IMAP4rev1 allows); BINARY[] gives their bytes back. Returns a
 * PH_MESSAGE_BINARY_* (AS_IS: nothing written, the caller writes the
 * literal), or a PH_STORAGE_ERR_* with *err_r. */
static int put_binary(struct builder *b, const struct ph_imap_value *v,
                      struct ph_append *app, const char **err_r)
{
    struct received rc = {.mem =
                              v->type == PH_IMAP_VALUE_LITERAL ? v->str : NULL};
    if (rc.mem == NULL) {
        if (b->a == NULL || b->next_lit >= b->a->nlits) {
            *err_r = "Cannot spool the message";
            return PH_STORAGE_ERR_TEMP;
        }
        rc.f = b->a->spool;
        rc.off = b->a->lits[b->next_lit].off;
    }
    uint64_t size = v->literal_size;
    struct ph_message_parser *parser = ph_message_parser_new(NULL);
    int r = received_read(&rc, 0, size, parse_cb, parser);
    struct ph_message_info *info = ph_message_parser_finish(&parser);
    struct append_out o = {.app = app};
    if (r == 0)
        r = ph_message_binary_encode(info, size, received_read, &rc,
                                     append_out_cb, &o);
    ph_message_info_free(&info);
    if (r < 0)
        *err_r = o.err ? o.err : "Cannot read the spooled message back";
    /* Written (or refused): the spool's next literal is the next one. */
    if (r != PH_MESSAGE_BINARY_AS_IS && rc.mem == NULL)
        b->next_lit++;
    return r;
}

/* Makes one message: begins its append and writes its literal or its
 * parts. 0, or -1 with the answer. */
static int build_message(struct builder *b, const char *mailbox,
                         const struct append_msg *m, struct ph_append **app_r,
                         const char **status_r, char **text_r)
{
    struct imap_session *s = b->s;
    uint64_t size = 0, max = message_max(s);
    if (m->literal) {
        size = m->literal->literal_size;
    } else {
        for (size_t k = 1; k < m->nparts; k += 2)
            if (m->parts[k].type != PH_IMAP_VALUE_ATOM)
                size += m->parts[k].literal_size;
    }
    const char *err;
    int r = ph_append_begin(s->acct, mailbox, size, app_r, &err);
    uint64_t written = 0;
    if (r == 0 && m->literal) {
        int bin = m->literal->literal8 ? put_binary(b, m->literal, *app_r, &err)
                                       : PH_MESSAGE_BINARY_AS_IS;
        if (bin == PH_MESSAGE_BINARY_UNENCODABLE) {
            /* RFC 3516 4.4: content the mailbox cannot store as binary. */
            ph_append_abort(app_r);
            *status_r = "NO";
            *text_r = ph_strdup("[UNKNOWN-CTE] Binary content outside a "
                                "body part's content cannot be stored");
            return -1;
        }
        if (bin < 0)
            r = bin;
        else if (bin == PH_MESSAGE_BINARY_AS_IS)
            r = put_literal(b, m->literal, *app_r, &err);
        written = m->literal->literal_size;
    }
    for (size_t k = 0; r == 0 && k < m->nparts; k += 2) {
        const struct ph_imap_value *v = &m->parts[k + 1];
        if (ph_imap_value_is_atom(&m->parts[k], "TEXT")) {
            if (v->literal_size > max - written) {
                r = PH_STORAGE_ERR_LIMIT;
                err = "The message made is larger than the append limit";
                break;
            }
            r = put_literal(b, v, *app_r, &err);
            written += v->literal_size;
        } else {
            const char *url;
            (void)ph_imap_value_get_astring(v, &url);
            if (imap_catenate_url(s, url, *app_r, &written, max, status_r,
                                  text_r) < 0) {
                ph_append_abort(app_r);
                return -1;
            }
        }
    }
    if (r == 0 && written == 0) {
        r = PH_STORAGE_ERR_INVALID;
        err = "Empty message";
    }
    if (r == 0 && written > s->srv->conf->max_append_size - b->total) {
        ph_append_abort(app_r);
        *status_r = "NO";
        *text_r = too_large_batch(s);
        return -1;
    }
    b->total += written;
    if (r < 0) {
        ph_append_abort(app_r);
        *text_r = storage_error(r, err, status_r);
        return -1;
    }
    return 0;
}

/* The messages of args[1..n), made and committed as one. 0 with the
 * tagged OK's text, or -1 with the answer. */
static int append_run(struct imap_session *s, const struct ph_imap_value *args,
                      size_t n, const char **status_r, char **text_r)
{
    *status_r = "BAD";
    if (n < 2) {
        *text_r = ph_strdup(APPEND_SHAPE);
        return -1;
    }
    char *mailbox =
        imap_mailbox_name(s, &args[0], "NONEXISTENT", status_r, text_r);
    if (mailbox == NULL)
        return -1;
    struct imap_append *a = s->append;
    int ret = 0;
    if (a != NULL && (a->spool == NULL || !spool_flush(a))) {
        *status_r = "NO";
        *text_r = ph_strdup(a->spool_errno == ENOSPC
                                ? "[UNAVAILABLE] Cannot spool the message: "
                                  "no space left on the disk"
                                : "[UNAVAILABLE] Cannot spool the message");
        ret = -1;
    }
    size_t max = (size_t)s->srv->conf->max_append_messages;
    struct append_msg *msgs = NULL;
    struct ph_append_msg *apps = NULL;
    size_t count = 0, cap_msgs = 0, cap_apps = 0;
    for (size_t i = 1; ret == 0 && i < n; count++) {
        ph_array_grow(&msgs, &cap_msgs, count + 1, sizeof(*msgs));
        ph_array_grow(&apps, &cap_apps, count + 1, sizeof(*apps));
        apps[count].app = NULL;
        if (count == max) {
            *status_r = "NO";
            *text_r = too_many(s);
            ret = -1;
        } else if ((ret = append_msg_parse(args, n, &i, &msgs[count], status_r,
                                           text_r)) > 0) {
            append_msg_clear(&msgs[count]);
            *status_r = "BAD";
            *text_r = ph_strdup(APPEND_SHAPE);
            ret = -1;
        }
        if (ret < 0)
            break;
    }
    if (ret == 0 && count > 1 &&
        !ph_storage_append_batch(s->srv->conf->storage)) {
        *status_r = "NO";
        *text_r = ph_strdup("[CANNOT] This storage appends one message at a "
                            "time");
        ret = -1;
    }
    struct builder b = {.s = s, .a = a};
    for (size_t k = 0; ret == 0 && k < count; k++) {
        ret = build_message(&b, mailbox, &msgs[k], &apps[k].app, status_r,
                            text_r);
        apps[k].flags = &msgs[k].flags;
        apps[k].internal_date = msgs[k].date;
        apps[k].internal_tz = msgs[k].tz;
    }
    if (ret == 0) {
        uint32_t *uids = ph_calloc(count, sizeof(*uids));
        uint32_t uidvalidity = 0;
        const char *err;
        int r = ph_append_finish_all(apps, count, uids, &uidvalidity, &err);
        if (r < 0) {
            *text_r = storage_error(r, err, status_r);
            ret = -1;
        } else {
            /* RFC 3502 (with UIDPLUS): the UIDs in the order appended. */
            struct ph_uidset set = {0};
            for (size_t k = 0; k < count; k++)
                ph_uidset_add(&set, uids[k]);
            char *uidset = ph_uidset_format(&set);
            *text_r = ph_strdup_printf("[APPENDUID %u %s] APPEND completed",
                                       uidvalidity, uidset);
            free(uidset);
            ph_uidset_clear(&set);
        }
        free(uids);
    }
    for (size_t k = 0; k < count; k++) {
        ph_append_abort(&apps[k].app);
        append_msg_clear(&msgs[k]);
    }
    free(apps);
    free(msgs);
    free(mailbox);
    return ret;
}

void imap_cmd_append(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    const char *status;
    char *text;
    if (append_run(s, args, n, &status, &text) < 0)
        imap_tagged(s, status, "%s", text);
    else
        imap_tagged(s, "OK", "%s", text);
    free(text);
    imap_append_abort(s);
}
