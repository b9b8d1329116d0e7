/* SPDX-License-Identifier: MIT */
/* The SQL mail store: appends, and what is kept beside each body.
 *
 * The bytes wait in memory (small messages) or in an unlinked temporary
 * file in spill_dir (large ones) until append_finish, so the transaction
 * lasts only as long as storing them, never as long as the client takes to
 * send them. Beside the bytes each body gets, at APPEND (and made anew at a
 * schema upgrade that changes them):
 *   - fetch_values: ENVELOPE, BODYSTRUCTURE and BODY as FETCH sends them;
 *   - header_values: the decoded values of ph_sqlstore_header_fields
 *     (ph_message_header_values), for SEARCH FROM/TO/CC/BCC/SUBJECT;
 *   - body_text: the folded text SEARCH TEXT and BODY compare
 *     (ph_message_search_text: the headers, header_len bytes, then the
 *     text of BODY), not kept over TEXT_MAX (SEARCH then reads the
 *     message);
 *   - sort_values: the keys of SORT and THREAD (sqlstore_sort.c), a
 *     few header fields' worth of work, made as the body is stored.
 * The text is made before the transaction: other writers do not wait
 * for it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unistr.h>

#include <posthorn/sort.h>

#include "sqlstore-private.h"

#define APPEND_MEM_MAX (256 * 1024) /* larger appends spill to a file */
#define TEXT_MAX (16u * 1024 * 1024)

struct sqls_append {
    struct ph_sqlstore *s;
    int64_t mailbox_id, account_id;
    uint64_t written;
    struct ph_buf mem;
    int fd;
};

static void append_free(struct sqls_append *app)
{
    if (app->fd >= 0)
        close(app->fd);
    ph_buf_free(&app->mem);
    free(app);
}

int sqls_append_begin(struct ph_account *acct, const char *mailbox,
                      uint64_t size, void **handle_r, const char **error_r)
{
    struct sqls_account *a = (struct sqls_account *)acct;
    struct ph_sql_conn *c = NULL;
    struct sqls_mbox row = {0};
    int ret = 0;
    char *canon = sqls_name(mailbox, &ret, error_r);
    if (canon == NULL)
        return ret;
    /* The account's limit is the core's (ph_append_begin). */
    if (size > a->s->d->body_max)
        ret = sqls_fail(PH_STORAGE_ERR_LIMIT,
                        "Message is too large for this storage", error_r);
    else if ((ret = ph_sql_get(a->s->sql, &c, error_r)) == 0)
        ret = sqls_mbox_get(c, PH_SQS_MBOX_BY_NAME, a->id, canon, &row,
                            error_r);
    ph_sql_put(a->s->sql, &c);
    /* A literal that cannot fit is refused before it is read (the check
     * that counts is the commit's, with the account's row locked). */
    struct ph_quota q;
    uint64_t add[PH_QUOTA_N] = {
        [PH_QUOTA_STORAGE] = size, [PH_QUOTA_MESSAGE] = 1};
    if (ret == 1 && !row.noselect &&
        (ret = sqls_quota_get(acct, &q, error_r)) == 0)
        ret = sqls_quota_check(&q, add, error_r) < 0 ? PH_STORAGE_ERR_OVERQUOTA
                                                     : 1;
    free(canon);
    if (ret == 0)
        return sqls_fail(PH_STORAGE_ERR_NOT_FOUND, "Mailbox does not exist",
                         error_r);
    if (ret > 0 && row.noselect)
        return sqls_fail(PH_STORAGE_ERR_NOT_ALLOWED,
                         "Mailbox is not selectable", error_r);
    if (ret < 0)
        return ret;
    struct sqls_append *app = ph_calloc(1, sizeof(*app));
    app->s = a->s;
    app->account_id = a->id;
    app->mailbox_id = row.id;
    app->fd = -1;
    *handle_r = app;
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int spill_fail(struct sqls_append *app, const char *file,
                      const char *why, const char **error_r)
{
    ph_log_error("mod=%s event=tempfile_failed file=%s reason=\"%s\"",
                 app->s->log_mod, file, why);
    return sqls_fail(PH_STORAGE_ERR_TEMP, "Cannot store the message for now",
                     error_r);
}

static int spill_open(struct sqls_append *app, const char **error_r)
{
    char *tmpl = ph_strdup_printf("%s/.append-XXXXXX", app->s->spill_dir);
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd >= 0)
        unlink(tmpl);
    int ret = 0;
    if (fd < 0 || write_all(fd, app->mem.data, app->mem.len) < 0) {
        ret = spill_fail(app, tmpl, strerror(errno), error_r);
        if (fd >= 0)
            close(fd);
    } else {
        app->fd = fd;
        ph_buf_free(&app->mem);
    }
    free(tmpl);
    return ret;
}

int sqls_append_write(void *handle, const void *data, size_t len,
                      const char **error_r)
{
    struct sqls_append *app = handle;
    if (app->written + len > app->s->d->body_max)
        return sqls_fail(PH_STORAGE_ERR_LIMIT,
                         "Message is too large for this storage", error_r);
    app->written += len;
    if (app->fd < 0 && app->mem.len + len <= APPEND_MEM_MAX) {
        ph_buf_append(&app->mem, data, len);
        return 0;
    }
    int ret = app->fd < 0 ? spill_open(app, error_r) : 0;
    if (ret == 0 && write_all(app->fd, data, len) < 0)
        ret = spill_fail(app, "-", strerror(errno), error_r);
    return ret;
}

/* Reads the waiting bytes (a ph_message_reader). */
static int append_reader(void *arg, uint64_t offset, uint64_t size,
                         ph_message_data_cb *cb, void *cb_arg)
{
    struct sqls_append *app = arg;
    if (offset > app->written || size > app->written - offset)
        return -1;
    if (app->fd < 0)
        return size > 0 ? cb(cb_arg, app->mem.data + offset, (size_t)size) : 0;
    char buf[16384];
    while (size > 0) {
        size_t n = size < sizeof(buf) ? (size_t)size : sizeof(buf);
        if (pread(app->fd, buf, n, (off_t)offset) != (ssize_t)n)
            return -1;
        int r = cb(cb_arg, buf, n);
        if (r != 0)
            return r;
        offset += n;
        size -= n;
    }
    return 0;
}

/* ---- What is kept beside a body -------------------------------------------- */

struct text {
    struct ph_buf text;
    size_t header_len, header_chars;
    bool kept, utf8, nul;
    bool over; /* while making it */
    struct ph_buf preview; /* RFC 8970 (ph_message_preview) */
};

static void text_free(struct text *t)
{
    ph_buf_free(&t->text);
    ph_buf_free(&t->preview);
}

static bool text_sink(void *arg, const char *data, size_t len)
{
    struct text *t = arg;
    /* Folding may lengthen text a little (ß is ss): bounded after. */
    if (t->text.len + len > TEXT_MAX) {
        t->over = true;
        return true;
    }
    ph_message_fold(data, len, &t->text);
    return false;
}

/* TEXT's text is the headers, then BODY's: header_len marks where BODY
 * begins. mi NULL: the whole message. */
static int text_make(const struct ph_message_info *mi, uint64_t size,
                     ph_message_reader *read, void *read_arg, struct text *t)
{
    *t = (struct text){0};
    int ret = ph_message_search_text(mi, size, PH_MESSAGE_TEXT_HEADERS, read,
                                     read_arg, text_sink, t);
    t->header_len = t->text.len;
    if (ret == 0 && !t->over)
        ret = ph_message_search_text(mi, size, PH_MESSAGE_TEXT_BODY, read,
                                     read_arg, text_sink, t);
    if (ret == 0)
        ret = ph_message_preview(mi, read, read_arg, &t->preview);
    t->kept = ret == 0 && !t->over && t->text.len <= TEXT_MAX;
    if (!t->kept)
        ph_buf_free(&t->text);
    const char *p = t->text.data ? t->text.data : "";
    t->utf8 = t->kept && u8_check((const uint8_t *)p, t->text.len) == NULL;
    t->nul = memchr(p, '\0', t->text.len) != NULL;
    /* A text not kept is freed: header_len then bounds nothing. */
    for (size_t i = 0; i < t->header_len && i < t->text.len; i++)
        t->header_chars += ((unsigned char)p[i] & 0xc0) != 0x80;
    return ret;
}

static struct ph_message_info *info_read(const void *info, size_t info_size)
{
    struct ph_message_info *mi = NULL;
    const char *err;
    if (info == NULL ||
        ph_message_info_deserialize(info, info_size, &mi, &err) < 0)
        return NULL;
    return mi;
}

/* fetch_values, header_values and body_text of a body. An info that does
 * not read back (mi NULL) gets no values: FETCH then reads the info (and
 * reports it), SEARCH finds no header, as the endpoint would. */
static int derived_insert(struct ph_sqlstore *s, struct ph_sql_conn *c,
                          int64_t body_id, const struct ph_message_info *mi,
                          const struct text *t, const char **error_r)
{
    unsigned flags = s->d->text_flags;
    int ret = 0;
    if (mi != NULL)
        ret = ph_sql_exec(c, PH_SQS_FETCH_VALUES_INSERT, error_r,
                          PH_SQL_I(body_id), PH_SQL_S(mi->envelope),
                          PH_SQL_S(mi->bodystructure), PH_SQL_S(mi->body));
    for (int f = 0; mi != NULL && f < PH_SQLSTORE_HEADER_FIELDS && ret == 0;
         f++) {
        struct ph_strlist vals = {0};
        ph_message_header_values(mi, ph_sqlstore_header_fields[f], &vals);
        for (size_t i = 0; i < vals.n && ret == 0; i++) {
            struct ph_buf folded = {0};
            struct ph_sql_value v = PH_SQL_S(vals.v[i]);
            if (flags & PH_SQLSTORE_HDR_FOLDED) {
                ph_message_fold(vals.v[i], strlen(vals.v[i]), &folded);
                v = PH_SQL_B(folded.data ? folded.data : "", folded.len);
            }
            ret = ph_sql_exec(c, PH_SQS_HDR_INSERT, error_r, PH_SQL_I(body_id),
                              PH_SQL_I(f), PH_SQL_I(i), v);
            ph_buf_free(&folded);
        }
        ph_strlist_clear(&vals);
    }
    if (ret == 0)
        ret = sqls_sort_values_insert(c, body_id, mi, error_r);
    if (ret == 0)
        ret = ph_sql_exec(
            c, PH_SQS_PREVIEW_INSERT, error_r, PH_SQL_I(body_id),
            PH_SQL_SN(t->preview.data ? t->preview.data : "", t->preview.len));
    if (ret < 0)
        return ret;
    /* Text that is not UTF-8, or is kept raw, never enters an index:
     * state 0. */
    bool as_text = t->kept && (!(flags & PH_SQLSTORE_TEXT_RAW) ||
                               (t->utf8 && !t->nul));
    int state = t->utf8 && as_text
                    ? (flags & PH_SQLSTORE_TEXT_PENDING ? -1 : 1)
                    : 0;
    const char *p = t->text.data ? t->text.data : "";
    struct ph_sql_value null = {.type = PH_SQL_NULL};
    return ph_sql_exec(c, PH_SQS_TEXT_INSERT, error_r, PH_SQL_I(body_id),
                       PH_SQL_I(t->header_len), PH_SQL_I(t->header_chars),
                       PH_SQL_I(t->text.len), PH_SQL_I(state),
                       as_text ? PH_SQL_SN(p, t->text.len) : null,
                       t->kept && !as_text ? PH_SQL_B(p, t->text.len) : null);
}

/* ---- Bodies' bytes ---------------------------------------------------------- */

struct chunk_writer {
    struct ph_sql_conn *c;
    struct ph_buf buf;
};

static int chunk_collect(void *arg, const void *data, size_t len)
{
    ph_buf_append(&((struct chunk_writer *)arg)->buf, data, len);
    return 0;
}

/* The default: rows of chunk_size bytes; an empty body has one empty
 * chunk. */
static int body_write(struct ph_sqlstore *s, struct ph_sql_conn *c,
                      int64_t body_id, uint64_t size, ph_message_reader *read,
                      void *read_arg, const char **error_r)
{
    if (s->d->body_write != NULL)
        return s->d->body_write(c, body_id, size, read, read_arg, error_r);
    struct chunk_writer w = {.c = c};
    int ret = 0;
    uint64_t pos = 0;
    for (int64_t seq = 0; ret == 0 && (pos < size || seq == 0); seq++) {
        uint64_t n = size - pos < s->d->chunk_size ? size - pos
                                                   : s->d->chunk_size;
        ph_buf_reset(&w.buf);
        if (read(read_arg, pos, n, chunk_collect, &w) != 0)
            return sqls_fail(PH_STORAGE_ERR_TEMP,
                             "Cannot store the message for now", error_r);
        ret = ph_sql_exec(c, PH_SQS_BODY_CHUNK_INSERT, error_r,
                          PH_SQL_I(body_id), PH_SQL_I(seq),
                          PH_SQL_B(w.buf.data ? w.buf.data : "", w.buf.len));
        pos += n;
    }
    ph_buf_free(&w.buf);
    return ret;
}

struct body_src {
    struct ph_sqlstore *s;
    struct ph_sql_conn *c;
    int64_t id;
    uint64_t size;
};

/* Reads a stored body in its transaction (a ph_message_reader). */
static int body_reader(void *arg, uint64_t offset, uint64_t size,
                       ph_message_data_cb *cb, void *cb_arg)
{
    struct body_src *b = arg;
    size_t chunk = b->s->d->chunk_size;
    char *buf = ph_malloc(chunk);
    const char *err;
    int ret = 0;
    while (ret == 0 && size > 0) {
        uint64_t base = offset / chunk * chunk;
        size_t n = (size_t)(base + chunk - offset < size ? base + chunk - offset
                                                         : size);
        ret = sqls_body_read(b->s, b->c, b->id, b->size, offset, buf, n, &err);
        if (ret == 0)
            ret = cb(cb_arg, buf, n);
        offset += n;
        size -= n;
    }
    free(buf);
    return ret;
}

static int feed_parser(void *arg, const void *data, size_t len)
{
    ph_message_parser_feed(arg, data, len);
    return 0;
}

/* ---- EMAILID and THREADID (RFC 8474 5) ------------------------------------
 */

/* The IDs a message threads by, bounded: its references (ph_thread_
 * references: References, else In-Reply-To) root first, then its own
 * Message-ID. Of a long References field the root and the closest
 * ancestors count. */
#define THREAD_IDS_MAX 20

static void thread_ids(const struct ph_message_info *mi, struct ph_strlist *ids)
{
    struct ph_sort_keys k;
    ph_sort_keys_from_info(mi, 0, &k);
    struct ph_strlist refs = {0};
    struct ph_buf b = {0};
    size_t pos = 0;
    const char *r = k.references ? k.references : "";
    while (ph_msgid_next(r, strlen(r), &pos, &b)) {
        ph_strlist_add(&refs, b.data);
        ph_buf_reset(&b);
    }
    ph_buf_free(&b);
    for (size_t i = 0; i < refs.n; i++)
        if (i == 0 || refs.n - i < THREAD_IDS_MAX)
            ph_strlist_add(ids, refs.v[i]);
    if (k.message_id != NULL && k.message_id[0] != '\0')
        ph_strlist_add(ids, k.message_id);
    ph_strlist_clear(&refs);
    ph_sort_keys_clear(&k);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The thread of a new body: that of the first of its IDs the account has
 * seen (its root's, when two threads meet: a THREADID once given never
 * changes, RFC 8474 5.2, so threads are not merged), else a new one; then
 * every ID of it that has none yet joins that thread, so that a reply
 * stored before its parent still brings the parent in. */
int sqls_objects_insert(struct ph_sql_conn *c, int64_t body_id,
                        int64_t account_id, const struct ph_message_info *mi,
                        const char **error_r)
{
    char emailid[SQLS_OBJECTID_LEN + 1], threadid[PH_OBJECTID_MAX + 1] = "";
    struct ph_strlist ids = {0};
    int ret = 0;
    if (mi != NULL && account_id != 0)
        thread_ids(mi, &ids);
    for (size_t i = 0; i < ids.n && ret == 0 && threadid[0] == '\0'; i++) {
        struct ph_sql_cursor *cur = NULL;
        ret = ph_sql_query(c, PH_SQS_THREAD_GET, &cur, error_r,
                           PH_SQL_I(account_id),
                           PH_SQL_B(ids.v[i], strlen(ids.v[i])));
        if (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1) {
            char *t = ph_sql_strdup(cur, 0);
            if (t != NULL && strlen(t) <= PH_OBJECTID_MAX)
                strcpy(threadid, t);
            free(t);
            ret = 0;
        }
        ph_sql_close(&cur);
    }
    if (threadid[0] == '\0')
        sqls_objectid_new('T', threadid);
    /* In one order: two appends that name the same IDs wait for each
     * other's index entries, never both for the other's. */
    if (ids.n > 1)
        qsort(ids.v, ids.n, sizeof(*ids.v), str_cmp);
    for (size_t i = 0; i < ids.n && ret == 0; i++)
        ret = ph_sql_exec(
            c, PH_SQS_THREAD_INSERT, error_r, PH_SQL_I(account_id),
            PH_SQL_B(ids.v[i], strlen(ids.v[i])), PH_SQL_S(threadid));
    ph_strlist_clear(&ids);
    sqls_objectid_new('M', emailid);
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_OBJECTS_INSERT, error_r, PH_SQL_I(body_id),
                          PH_SQL_S(emailid), PH_SQL_S(threadid));
    return ret;
}

/* A body stored before object ids (the schema upgrade) gets them once,
 * in the order the re-derivation takes bodies (by id: as they came). */
static int objects_keep(struct ph_sql_conn *c, int64_t body_id,
                        const struct ph_message_info *mi, const char **error_r)
{
    int64_t one = 0, account_id = 0;
    int ret =
        ph_sql_one(c, PH_SQS_OBJECTS_GET, &one, error_r, PH_SQL_I(body_id));
    if (ret != 0)
        return ret < 0 ? ret : 0;
    ret = ph_sql_one(c, PH_SQS_BODY_ACCOUNT, &account_id, error_r,
                     PH_SQL_I(body_id));
    return ret < 0 ? ret
                   : sqls_objects_insert(c, body_id, account_id, mi, error_r);
}

int sqls_rederive_body(struct ph_sqlstore *s, struct ph_sql_conn *c,
                       int64_t body_id, const char **error_r)
{
    struct body_src b = {s, c, body_id, 0};
    int64_t size = 0;
    int ret = ph_sql_one(c, PH_SQS_BODY_GET, &size, error_r, PH_SQL_I(body_id));
    if (ret <= 0)
        return ret; /* gone meanwhile */
    b.size = (uint64_t)size;
    struct ph_message_parser *parser = ph_message_parser_new(NULL);
    struct ph_message_info *mi = NULL;
    struct text t = {0};
    ret = 0;
    if (body_reader(&b, 0, b.size, feed_parser, parser) != 0) {
        /* Bytes that do not read back: the structure stays as it is,
         * without derived values (FETCH and SEARCH then report it). */
        ph_log_warn("mod=%s event=rederive_skipped db=%s body=%" PRId64
                    " reason=unreadable",
                    s->log_mod, s->db, body_id);
        ph_message_parser_free(&parser);
    } else {
        mi = ph_message_parser_finish(&parser);
        if (text_make(mi, b.size, body_reader, &b, &t) != 0)
            text_free(&t), t = (struct text){0};
        void *info;
        size_t info_size;
        ph_message_info_serialize(mi, &info, &info_size);
        ret = ph_sql_exec(c, PH_SQS_BODY_SET_INFO, error_r, PH_SQL_I(body_id),
                          PH_SQL_B(info, info_size));
        free(info);
    }
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_FETCH_VALUES_DELETE, error_r,
                          PH_SQL_I(body_id));
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_HDR_DELETE, error_r, PH_SQL_I(body_id));
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_TEXT_DELETE, error_r, PH_SQL_I(body_id));
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_SORT_VALUES_DELETE, error_r,
                          PH_SQL_I(body_id));
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_PREVIEW_DELETE, error_r, PH_SQL_I(body_id));
    if (ret == 0)
        ret = derived_insert(s, c, body_id, mi, &t, error_r);
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_MSG_SET_SORT, error_r, PH_SQL_I(body_id));
    if (ret == 0)
        ret = objects_keep(c, body_id, mi, error_r);
    text_free(&t);
    ph_message_info_free(&mi);
    return ret;
}

/* ---- Finishing -------------------------------------------------------------- */

/* One message of a commit, made ready before its transaction. */
struct append_op {
    struct sqls_append *app;
    const struct ph_append_meta *meta;
    struct ph_message_info *mi;
    struct text text;
    char *keywords;
};

/* A commit of n messages to one mailbox (MULTIAPPEND: all or none). */
struct append_batch {
    struct append_op *ops;
    size_t n;
    struct sqls_mbox row; /* out: the mailbox the messages went into */
};

/* A body and what is kept beside it; *body_id_r its row. */
static int body_store(struct ph_sql_conn *c, struct append_op *o,
                      int64_t *body_id_r, const char **error_r)
{
    struct sqls_append *app = o->app;
    int ret = ph_sql_one(
        c, PH_SQS_BODY_INSERT, body_id_r, error_r, PH_SQL_I(app->written),
        PH_SQL_B(o->meta->info ? o->meta->info : "", o->meta->info_size));
    if (ret == 1)
        ret = body_write(app->s, c, *body_id_r, app->written, append_reader,
                         app, error_r);
    if (ret == 0)
        ret = derived_insert(app->s, c, *body_id_r, o->mi, &o->text, error_r);
    if (ret == 0)
        ret = sqls_objects_insert(c, *body_id_r, app->account_id, o->mi,
                                  error_r);
    return ret;
}

static int append_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct append_batch *b = arg;
    int64_t mailbox_id = b->ops[0].app->mailbox_id;
    int64_t *body_ids = ph_calloc(b->n, sizeof(*body_ids));
    int ret = 0;
    /* The bodies first, before the mailbox row is locked: writers of the
     * mailbox on other nodes wait only for the message rows. */
    for (size_t i = 0; i < b->n && ret == 0; i++)
        ret = body_store(c, &b->ops[i], &body_ids[i], error_r);
    /* The account's row before the mailbox's (sqlstore_quota.c), and the
     * whole batch checked against the limits at once (RFC 3502: all or
     * none; RFC 9208 5: OVERQUOTA). */
    struct ph_quota q;
    uint64_t add[PH_QUOTA_N] = {[PH_QUOTA_MESSAGE] = b->n};
    for (size_t i = 0; i < b->n; i++)
        add[PH_QUOTA_STORAGE] += b->ops[i].app->written;
    if (ret == 0)
        ret = sqls_quota_lock(b->ops[0].app->s, c, b->ops[0].app->account_id,
                              &q, error_r);
    if (ret == 0)
        ret = sqls_quota_check(&q, add, error_r);
    if (ret == 0)
        ret = sqls_mbox_get(c, PH_SQS_MBOX_BY_ID_LOCK, mailbox_id, NULL,
                            &b->row, error_r);
    if (ret == 0 || (ret == 1 && b->row.noselect))
        ret =
            sqls_fail(PH_STORAGE_ERR_NOT_FOUND, "Mailbox was deleted", error_r);
    else if (ret == 1 && (uint64_t)b->row.uidnext + b->n > UINT32_MAX)
        ret = sqls_fail(PH_STORAGE_ERR_LIMIT, "Mailbox has run out of UIDs",
                        error_r);
    else if (ret == 1)
        ret = 0;
    /* Each message takes its own UID and modseq, in order. */
    for (size_t i = 0; i < b->n && ret == 0; i++) {
        const struct append_op *o = &b->ops[i];
        ret = ph_sql_exec(
            c, PH_SQS_MSG_INSERT, error_r, PH_SQL_I(mailbox_id),
            PH_SQL_I((int64_t)b->row.uidnext + (int64_t)i),
            PH_SQL_I((int64_t)(b->row.highestmodseq + 1 + i)),
            PH_SQL_I(o->meta->flags->system), PH_SQL_S(o->keywords),
            PH_SQL_I(o->meta->internal_date), PH_SQL_I(o->meta->internal_tz),
            PH_SQL_I(o->app->written), PH_SQL_I(body_ids[i]));
    }
    if (ret == 0)
        ret =
            ph_sql_exec(c, PH_SQS_MBOX_SET_NEXT, error_r, PH_SQL_I(mailbox_id),
                        PH_SQL_I((int64_t)b->row.uidnext + (int64_t)b->n),
                        PH_SQL_I((int64_t)(b->row.highestmodseq + b->n)));
    if (ret == 0)
        ph_sql_mark(c, mailbox_id);
    free(body_ids);
    return ret;
}

/* The text, the structure and the keywords of a message, made before the
 * transaction: other writers do not wait for them. */
static int op_prepare(struct append_op *o, struct sqls_append *app,
                      const struct ph_append_meta *meta, const char **error_r)
{
    *o = (struct append_op){.app = app, .meta = meta};
    /* The structure, parsed once for the text and the values kept. */
    o->mi = info_read(meta->info, meta->info_size);
    int ret = ph_flags_check(meta->flags, error_r);
    if (ret == 0 &&
        text_make(o->mi, app->written, append_reader, app, &o->text) != 0)
        ret = spill_fail(app, "-", "short read", error_r);
    if (ret == 0) {
        struct ph_strlist kw = {0};
        for (size_t i = 0; i < meta->flags->keywords.n; i++)
            if (!ph_keywords_has(&kw, meta->flags->keywords.v[i]))
                ph_strlist_add(&kw, meta->flags->keywords.v[i]);
        o->keywords = ph_keywords_join(&kw);
        ph_strlist_clear(&kw);
    }
    return ret;
}

static void op_clear(struct append_op *o)
{
    free(o->keywords);
    text_free(&o->text);
    ph_message_info_free(&o->mi);
    if (o->app != NULL)
        append_free(o->app);
}

int sqls_append_finish_all(void *const *handles,
                           const struct ph_append_meta *metas, size_t n,
                           uint32_t *uids_r, uint32_t *uidvalidity_r,
                           const char **error_r)
{
    struct append_batch b = {.ops = ph_calloc(n, sizeof(*b.ops)), .n = n};
    const struct sqls_append *first = handles[0];
    struct ph_sqlstore *s = first->s;
    uint64_t total = 0;
    bool text = false;
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        struct sqls_append *app = handles[i];
        if (ret == 0 && app->mailbox_id != first->mailbox_id)
            ret = sqls_fail(PH_STORAGE_ERR_INVALID,
                            "A batch of appends goes to one mailbox", error_r);
        if (ret == 0)
            ret = op_prepare(&b.ops[i], app, &metas[i], error_r);
        else
            b.ops[i].app = app; /* freed below */
        total += app->written;
        text |= b.ops[i].text.utf8;
    }
    /* The messages become visible, and durable, at the commit only. */
    if (ret == 0)
        ret = ph_sql_txn(s->sql, PH_SQL_WRITE,
                         total > APPEND_MEM_MAX ? PH_SQL_ALONE : 0, append_txn,
                         &b, error_r);
    if (ret == 0) {
        if (text && (s->d->text_flags & PH_SQLSTORE_TEXT_PENDING))
            sqls_indexer_kick(s);
        for (size_t i = 0; i < n; i++)
            uids_r[i] = b.row.uidnext + (uint32_t)i;
        *uidvalidity_r = b.row.uidvalidity;
        ph_sqlstore_debug(s,
                          "event=appended mailbox_id=%" PRId64
                          " uid=%u count=%zu size=%" PRIu64,
                          first->mailbox_id, b.row.uidnext, n, total);
    }
    for (size_t i = 0; i < n; i++)
        op_clear(&b.ops[i]);
    free(b.ops);
    return ret;
}

int sqls_append_finish(void *handle, const struct ph_append_meta *meta,
                       uint32_t *uid_r, uint32_t *uidvalidity_r,
                       const char **error_r)
{
    return sqls_append_finish_all(&handle, meta, 1, uid_r, uidvalidity_r,
                                  error_r);
}

void sqls_append_abort(void *handle)
{
    append_free(handle);
}
