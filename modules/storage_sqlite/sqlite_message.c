/* SPDX-License-Identifier: MIT */
/* storage.sqlite: open mailboxes (fetch, read, store, copy, expunge,
 * changes, \Recent) and appends.
 *
 * No connection is held while a caller's callback runs: rows are read in
 * batches into memory, the connection goes back to the pool, then the
 * callbacks run. So a callback may call storage again, and a slow client
 * never pins a connection or a read transaction. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <posthorn/log.h>

#include "sqlite_private.h"

#define FETCH_BATCH 256
#define READ_CHUNK (128 * 1024)
#define APPEND_MEM_MAX (256 * 1024) /* larger appends spill to a file */
#define BLOB_CHUNK (64 * 1024)
/* Under SQLite's default limit of 10^9 bytes for a row. */
#define BODY_MAX (900u * 1024 * 1024)

static const struct ph_uid_range all_uids = {1, UINT32_MAX};

/* The ranges of set, or every UID for NULL. */
static const struct ph_uid_range *set_ranges(const struct ph_uidset *set,
                                             size_t *n_r)
{
    if (set == NULL) {
        *n_r = 1;
        return &all_uids;
    }
    *n_r = set->n;
    return set->r;
}

static int uid_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void sq_uidset_add_many(struct ph_uidset *s, uint32_t *v, size_t n)
{
    if (n == 0)
        return;
    qsort(v, n, sizeof(*v), uid_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[j + 1] <= v[j] + 1)
            j++;
        if (s->n == 0 || (uint64_t)s->r[s->n - 1].hi + 1 < v[i]) {
            ph_array_grow(&s->r, &s->cap, s->n + 1, sizeof(*s->r));
            s->r[s->n++] = (struct ph_uid_range){v[i], v[j]};
        } else {
            ph_uidset_add_range(s, v[i], v[j]);
        }
        i = j + 1;
    }
}

/* ---- Message rows ------------------------------------------------------- */

struct msg_row {
    uint32_t uid;
    uint64_t modseq;
    uint32_t flags;
    char *keywords; /* space-separated, or NULL */
    int64_t internal_date;
    int internal_tz;
    uint64_t size;
    int64_t body_id;
    void *info;
    size_t info_size;
    char *envelope, *bodystructure, *body; /* SQ_MSG_RANGE_FETCH */
};

struct msg_rows {
    struct msg_row *v;
    size_t n, cap;
};

static void rows_clear(struct msg_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++) {
        free(rows->v[i].keywords);
        free(rows->v[i].info);
        free(rows->v[i].envelope);
        free(rows->v[i].bodystructure);
        free(rows->v[i].body);
    }
    free(rows->v);
    *rows = (struct msg_rows){0};
}

static char *column_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    return v != NULL ? ph_strdup((const char *)v) : NULL;
}

/* Appends the rows of a statement whose columns are MSG_COLUMNS + info,
 * and maybe the three FETCH values. */
static int rows_read(struct sq_ctx *ctx, struct sq_conn *c, sqlite3_stmt *st,
                     struct msg_rows *rows, const char **error_r)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ph_array_grow(&rows->v, &rows->cap, rows->n + 1, sizeof(*rows->v));
        struct msg_row *r = &rows->v[rows->n++];
        const unsigned char *kw = sqlite3_column_text(st, 3);
        *r = (struct msg_row){
            .uid = (uint32_t)sqlite3_column_int64(st, 0),
            .modseq = (uint64_t)sqlite3_column_int64(st, 1),
            .flags = (uint32_t)sqlite3_column_int64(st, 2),
            .keywords =
                kw != NULL && kw[0] ? ph_strdup((const char *)kw) : NULL,
            .internal_date = sqlite3_column_int64(st, 4),
            .internal_tz = sqlite3_column_int(st, 5),
            .size = (uint64_t)sqlite3_column_int64(st, 6),
            .body_id = sqlite3_column_int64(st, 7),
        };
        if (sqlite3_column_type(st, 8) == SQLITE_BLOB) {
            int n = sqlite3_column_bytes(st, 8);
            r->info = ph_malloc(n > 0 ? (size_t)n : 1);
            if (n > 0)
                memcpy(r->info, sqlite3_column_blob(st, 8), (size_t)n);
            r->info_size = (size_t)n;
        }
        if (sqlite3_column_count(st) > 9) {
            r->envelope = column_strdup(st, 9);
            r->bodystructure = column_strdup(st, 10);
            r->body = column_strdup(st, 11);
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sq_fail(ctx, c, rc, "messages", error_r);
}

/* Calls cb for each row; returns cb's first non-zero value. */
static int rows_deliver(const struct sq_mailbox *mb, struct msg_rows *rows,
                        ph_meta_cb *cb, void *arg)
{
    char **kw = NULL;
    size_t cap = 0;
    int ret = 0;
    for (size_t i = 0; i < rows->n && ret == 0; i++) {
        struct msg_row *r = &rows->v[i];
        size_t nkw = ph_keywords_split(r->keywords, &kw, &cap);
        struct ph_message_meta meta = {
            .uid = r->uid,
            .modseq = r->modseq,
            .flags = r->flags,
            .keywords = kw,
            .nkeywords = nkw,
            .recent = ph_uidset_contains(&mb->recent, r->uid),
            .internal_date = (time_t)r->internal_date,
            .internal_tz = r->internal_tz,
            .size = r->size,
            .info = r->info,
            .info_size = r->info_size,
            .envelope = r->envelope,
            .bodystructure = r->bodystructure,
            .body = r->body,
        };
        ret = cb(arg, &meta);
    }
    free(kw);
    return ret;
}

/* ---- Mailbox handles ---------------------------------------------------- */

static struct sq_mailbox *mbox(struct ph_mailbox *mb)
{
    return (struct sq_mailbox *)mb;
}

int sq_mb_row(struct sq_mailbox *mb, struct sq_conn *c, struct sq_mbox *row_r,
              const char **error_r)
{
    int ret = sq_mbox_by_id(mb->ctx, c, mb->id, row_r, error_r);
    if (ret < 0)
        return ret;
    if (ret == 0 || row_r->noselect ||
        row_r->uidvalidity != mb->pub.uidvalidity) {
        *error_r = "Mailbox was deleted";
        return PH_STORAGE_ERR_NOT_FOUND;
    }
    return 0;
}

/* Takes \Recent for the UIDs no session has claimed (RFC 3501 2.3.1.4)
 * below seen->uidnext, seen being a row read before: one write
 * transaction moves the mailbox's recent_uid there, so of two sessions
 * exactly one gets each new message, and every message of seen's snapshot
 * is decided when this returns. */
static int recent_claim(struct sq_mailbox *mb, struct sq_conn *c,
                        const struct sq_mbox *seen, const char **error_r)
{
    struct sq_ctx *ctx = mb->ctx;
    struct sq_mbox row = {0};
    uint32_t upto = seen->uidnext;
    if (seen->recent_uid >= upto) /* recent_uid never goes back */
        return 0;
    int ret = sq_write_begin_light(ctx, c, error_r);
    if (ret < 0)
        return ret;
    ret = sq_mb_row(mb, c, &row, error_r);
    if (ret == 0 && row.recent_uid < upto) {
        sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_SET_RECENT);
        sqlite3_bind_int64(st, 1, mb->id);
        sqlite3_bind_int64(st, 2, upto);
        int rc = sq_step_done(st);
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "recent", error_r);
    }
    if (ret == 0)
        ret = sq_write_commit(ctx, c, error_r);
    else
        sq_write_rollback(ctx, c);
    if (ret == 0 && row.recent_uid < upto)
        ph_uidset_add_range(&mb->recent, row.recent_uid, upto - 1);
    return ret;
}

/* A read-only handle shows \Recent for what no session has claimed in
 * row's snapshot and takes nothing (RFC 3501 6.3.2: EXAMINE must not
 * cause messages to lose \Recent). What it showed once it keeps. */
static void recent_peek(struct sq_mailbox *mb, const struct sq_mbox *row)
{
    if (row->recent_uid < row->uidnext)
        ph_uidset_add_range(&mb->recent, row->recent_uid, row->uidnext - 1);
}

int sq_mailbox_open(struct ph_account *acct, const char *name, bool readonly,
                    struct ph_mailbox **mb_r, const char **error_r)
{
    struct sq_account *a = (struct sq_account *)acct;
    struct sq_ctx *ctx = a->ctx;
    struct sq_conn *c = NULL;
    struct sq_mbox row = {0};
    struct sq_mailbox *mb = NULL;
    int ret = 0;
    char *canon = sq_name(name, &ret, error_r);

    if (canon == NULL)
        return ret;
    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    ret = sq_mbox_by_name(ctx, c, a->id, canon, &row, error_r);
    if (ret == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (ret > 0 && row.noselect) {
        *error_r = "Mailbox is not selectable";
        ret = PH_STORAGE_ERR_NOT_ALLOWED;
    }
    if (ret < 0)
        goto out;
    mb = ph_calloc(1, sizeof(*mb));
    mb->pub.v = &sq_vfuncs;
    mb->pub.acct = acct;
    mb->pub.name = canon;
    mb->pub.uidvalidity = row.uidvalidity;
    mb->pub.readonly = readonly;
    mb->ctx = ctx;
    mb->id = row.id;
    mb->account_id = a->id;
    canon = NULL;
    ret = 0;
    if (readonly)
        recent_peek(mb, &row);
    else
        ret = recent_claim(mb, c, &row, error_r);
    if (ret < 0) {
        sq_mailbox_close(&mb->pub);
        goto out;
    }
    *mb_r = &mb->pub;
out:
    sq_conn_put(ctx, &c);
    free(canon);
    return ret;
}

void sq_mailbox_close(struct ph_mailbox *pub)
{
    struct sq_mailbox *mb = mbox(pub);
    sq_watch_remove(mb);
    ph_uidset_clear(&mb->recent);
    free(mb->pub.name);
    free(mb);
}

int sq_fetch(struct ph_mailbox *pub, const struct ph_uidset *set, unsigned what,
             ph_meta_cb *cb, void *arg, const char **error_r)
{
    struct sq_mailbox *mb = mbox(pub);
    struct sq_ctx *ctx = mb->ctx;
    struct msg_rows rows = {0};
    size_t nranges;
    const struct ph_uid_range *ranges = set_ranges(set, &nranges);
    bool checked = false;
    int ret = 0;

    for (size_t i = 0; i < nranges && ret == 0; i++) {
        uint64_t next = ranges[i].lo;
        while (ret == 0 && next <= ranges[i].hi) {
            struct sq_conn *c = NULL;
            if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
                break;
            if (!checked) {
                struct sq_mbox row;
                ret = sq_mb_row(mb, c, &row, error_r);
                checked = true;
            }
            if (ret == 0) {
                sqlite3_stmt *st =
                    sq_stmt(c, what & PH_META_FETCH  ? SQ_MSG_RANGE_FETCH
                               : what & PH_META_INFO ? SQ_MSG_RANGE_INFO
                                                     : SQ_MSG_RANGE);
                sqlite3_bind_int64(st, 1, mb->id);
                sqlite3_bind_int64(st, 2, (int64_t)next);
                sqlite3_bind_int64(st, 3, ranges[i].hi);
                sqlite3_bind_int(st, 4, FETCH_BATCH);
                if (what & PH_META_FETCH)
                    sqlite3_bind_int(st, 5, (what & PH_META_INFO) != 0);
                ret = rows_read(ctx, c, st, &rows, error_r);
            }
            sq_conn_put(ctx, &c);
            if (ret < 0)
                break;
            ret = rows_deliver(mb, &rows, cb, arg);
            if (rows.n < FETCH_BATCH)
                next = (uint64_t)ranges[i].hi + 1;
            else
                next = (uint64_t)rows.v[rows.n - 1].uid + 1;
            rows_clear(&rows);
        }
    }
    rows_clear(&rows);
    return ret;
}

/* Reads one chunk of a body; the blob is opened per chunk so that no
 * connection is held while the caller writes to a slow client. */
static int read_chunk(struct sq_ctx *ctx, int64_t body_id, uint64_t size,
                      uint64_t offset, void *buf, size_t len,
                      const char **error_r)
{
    struct sq_conn *c = NULL;
    sqlite3_blob *blob = NULL;
    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    int rc =
        sqlite3_blob_open(c->db, "main", "bodies", "data", body_id, 0, &blob);
    if (rc == SQLITE_ERROR) {
        *error_r = "Message was expunged";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (rc != SQLITE_OK) {
        ret = sq_fail(ctx, c, rc, "read", error_r);
    } else if ((uint64_t)sqlite3_blob_bytes(blob) != size) {
        ph_log_error("%s event=corrupt db=%s body=%" PRId64 " reason=size",
                     SQ_MOD, ctx->path, body_id);
        *error_r = "Stored message is damaged";
        ret = PH_STORAGE_ERR_CORRUPTED;
    } else if ((rc = sqlite3_blob_read(blob, buf, (int)len, (int)offset)) !=
               SQLITE_OK) {
        ret = sq_fail(ctx, c, rc, "read", error_r);
    }
    sqlite3_blob_close(blob);
    sq_conn_put(ctx, &c);
    return ret;
}

int sq_read(struct ph_mailbox *pub, uint32_t uid, uint64_t offset, uint64_t len,
            ph_data_cb *cb, void *arg, const char **error_r)
{
    struct sq_mailbox *mb = mbox(pub);
    struct sq_ctx *ctx = mb->ctx;
    struct sq_conn *c = NULL;
    int64_t body_id = 0;
    uint64_t size = 0;

    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = sq_stmt(c, SQ_MSG_BODY);
    sqlite3_bind_int64(st, 1, mb->id);
    sqlite3_bind_int64(st, 2, uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        body_id = sqlite3_column_int64(st, 0);
        size = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        *error_r = "No such message";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (rc != SQLITE_ROW) {
        ret = sq_fail(ctx, c, rc, "read", error_r);
    }
    sq_conn_put(ctx, &c);
    if (ret < 0)
        return ret;

    uint64_t end = offset > size ? size : offset;
    end += len < size - end ? len : size - end;
    char *buf = ph_malloc(READ_CHUNK);
    for (uint64_t pos = offset; pos < end && ret == 0;) {
        size_t n = end - pos < READ_CHUNK ? (size_t)(end - pos) : READ_CHUNK;
        ret = read_chunk(ctx, body_id, size, pos, buf, n, error_r);
        if (ret == 0)
            ret = cb(arg, buf, n);
        pos += n;
    }
    free(buf);
    return ret;
}

/* Collects the rows of set, in a transaction. */
static int rows_collect(struct sq_mailbox *mb, struct sq_conn *c,
                        const struct ph_uidset *set, struct msg_rows *rows,
                        const char **error_r)
{
    size_t nranges;
    const struct ph_uid_range *ranges = set_ranges(set, &nranges);
    for (size_t i = 0; i < nranges; i++) {
        sqlite3_stmt *st = sq_stmt(c, SQ_MSG_RANGE);
        sqlite3_bind_int64(st, 1, mb->id);
        sqlite3_bind_int64(st, 2, ranges[i].lo);
        sqlite3_bind_int64(st, 3, ranges[i].hi);
        sqlite3_bind_int(st, 4, -1);
        int ret = rows_read(mb->ctx, c, st, rows, error_r);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int set_modseq(struct sq_ctx *ctx, struct sq_conn *c, int64_t id,
                      uint64_t modseq, const char **error_r)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_SET_MODSEQ);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (int64_t)modseq);
    int rc = sq_step_done(st);
    return rc == SQLITE_DONE ? 0 : sq_fail(ctx, c, rc, "modseq", error_r);
}

/* Applies op to one row; true when its flags change. */
static bool store_apply(struct msg_row *r, enum ph_store_op op,
                        const struct ph_flags *flags)
{
    return ph_flags_apply(&r->flags, &r->keywords, op, flags);
}

int sq_store(struct ph_mailbox *pub, const struct ph_uidset *set,
             enum ph_store_op op, const struct ph_flags *flags,
             uint64_t unchangedsince, struct ph_uidset *modified_r,
             ph_meta_cb *cb, void *arg, const char **error_r)
{
    struct sq_mailbox *mb = mbox(pub);
    struct sq_ctx *ctx = mb->ctx;
    struct sq_conn *c = NULL;
    struct msg_rows rows = {0}, changed = {0};
    struct sq_mbox row = {0};
    uint64_t modseq = 0;
    uint32_t *mod = NULL; /* UNCHANGEDSINCE failed for these */
    size_t nmod = 0, mod_cap = 0;

    if (mb->pub.readonly) {
        *error_r = "Mailbox is read-only";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    int ret = ph_flags_check(flags, error_r);
    if (ret < 0)
        return ret;
    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        return ret;
    if ((ret = sq_write_begin_light(ctx, c, error_r)) < 0)
        goto out;
    ret = sq_mb_row(mb, c, &row, error_r);
    if (ret == 0)
        ret = rows_collect(mb, c, set, &rows, error_r);
    modseq = row.highestmodseq + 1;
    for (size_t i = 0; i < rows.n && ret == 0; i++) {
        struct msg_row *r = &rows.v[i];
        if (unchangedsince != 0 && r->modseq > unchangedsince) {
            ph_array_grow(&mod, &mod_cap, nmod + 1, sizeof(*mod));
            mod[nmod++] = r->uid;
            continue;
        }
        if (!store_apply(r, op, flags))
            continue;
        r->modseq = modseq;
        sqlite3_stmt *st = sq_stmt(c, SQ_MSG_SET_FLAGS);
        sqlite3_bind_int64(st, 1, mb->id);
        sqlite3_bind_int64(st, 2, r->uid);
        sqlite3_bind_int64(st, 3, r->flags);
        if (r->keywords != NULL)
            sqlite3_bind_text(st, 4, r->keywords, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (int64_t)modseq);
        int rc = sq_step_done(st);
        if (rc != SQLITE_DONE) {
            ret = sq_fail(ctx, c, rc, "store", error_r);
            break;
        }
        ph_array_grow(&changed.v, &changed.cap, changed.n + 1,
                      sizeof(*changed.v));
        changed.v[changed.n++] = *r;
        *r = (struct msg_row){0};
    }
    if (ret == 0 && changed.n > 0)
        ret = set_modseq(ctx, c, mb->id, modseq, error_r);
    if (ret == 0)
        ret = sq_write_commit(ctx, c, error_r);
    else
        sq_write_rollback(ctx, c);
out:
    sq_conn_put(ctx, &c);
    if (ret == 0 && modified_r != NULL)
        sq_uidset_add_many(modified_r, mod, nmod);
    free(mod);
    if (ret == 0 && changed.n > 0) {
        sq_notify(ctx, mb->id);
        if (cb != NULL)
            ret = rows_deliver(mb, &changed, cb, arg);
    }
    rows_clear(&rows);
    rows_clear(&changed);
    return ret;
}

static int expunge_rows(struct sq_ctx *ctx, struct sq_conn *c, int64_t id,
                        const uint32_t *uids, size_t n, uint64_t modseq,
                        const char **error_r)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = sq_stmt(c, SQ_MSG_DELETE);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, uids[i]);
        int rc = sq_step_done(st);
        if (rc == SQLITE_DONE) {
            st = sq_stmt(c, SQ_TOMB_INSERT);
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, uids[i]);
            sqlite3_bind_int64(st, 3, (int64_t)modseq);
            rc = sq_step_done(st);
        }
        if (rc != SQLITE_DONE)
            return sq_fail(ctx, c, rc, "expunge", error_r);
    }
    return n > 0 ? set_modseq(ctx, c, id, modseq, error_r) : 0;
}

int sq_copy(struct ph_mailbox *pub, const struct ph_uidset *set,
            const char *dest, bool move, struct ph_uidset *src_r,
            struct ph_uidset *dst_r, uint32_t *dest_uidvalidity_r,
            const char **error_r)
{
    struct sq_mailbox *mb = mbox(pub);
    struct sq_ctx *ctx = mb->ctx;
    struct sq_conn *c = NULL;
    struct msg_rows rows = {0};
    struct sq_mbox src = {0}, dst = {0};
    uint32_t *uids = NULL;
    int ret = 0;
    char *canon = sq_name(dest, &ret, error_r);

    if (canon == NULL)
        return ret;
    if (move && mb->pub.readonly) {
        free(canon);
        *error_r = "Mailbox is read-only";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = sq_write_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = sq_mb_row(mb, c, &src, error_r);
    if (ret == 0) {
        ret = sq_mbox_by_name(ctx, c, mb->account_id, canon, &dst, error_r);
        if (ret == 0) {
            *error_r = "Mailbox does not exist";
            ret = PH_STORAGE_ERR_NOT_FOUND;
        } else if (ret > 0 && dst.noselect) {
            *error_r = "Mailbox is not selectable";
            ret = PH_STORAGE_ERR_NOT_ALLOWED;
        } else if (ret > 0) {
            ret = 0;
        }
    }
    if (ret == 0)
        ret = rows_collect(mb, c, set, &rows, error_r);
    if (ret == 0 && (uint64_t)dst.uidnext + rows.n > UINT32_MAX) {
        *error_r = "Destination mailbox has run out of UIDs";
        ret = PH_STORAGE_ERR_LIMIT;
    }
    uint32_t uid = dst.uidnext;
    uint64_t dst_modseq = dst.highestmodseq + 1;
    for (size_t i = 0; i < rows.n && ret == 0; i++) {
        const struct msg_row *r = &rows.v[i];
        sqlite3_stmt *st = sq_stmt(c, SQ_MSG_INSERT);
        sqlite3_bind_int64(st, 1, dst.id);
        sqlite3_bind_int64(st, 2, uid++);
        sqlite3_bind_int64(st, 3, (int64_t)dst_modseq);
        sqlite3_bind_int64(st, 4, r->flags);
        if (r->keywords != NULL)
            sqlite3_bind_text(st, 5, r->keywords, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, r->internal_date);
        sqlite3_bind_int(st, 7, r->internal_tz);
        sqlite3_bind_int64(st, 8, (int64_t)r->size);
        sqlite3_bind_int64(st, 9, r->body_id);
        int rc = sq_step_done(st);
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "copy", error_r);
    }
    if (ret == 0 && rows.n > 0) {
        sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_SET_NEXT);
        sqlite3_bind_int64(st, 1, dst.id);
        sqlite3_bind_int64(st, 2, uid);
        sqlite3_bind_int64(st, 3, (int64_t)dst_modseq);
        int rc = sq_step_done(st);
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "copy", error_r);
    }
    uids = ph_malloc((rows.n + 1) * sizeof(*uids));
    for (size_t i = 0; i < rows.n; i++)
        uids[i] = rows.v[i].uid;
    if (ret == 0 && move && rows.n > 0) {
        ret = expunge_rows(ctx, c, src.id, uids, rows.n, src.highestmodseq + 1,
                           error_r);
    }
    if (ret == 0)
        ret = sq_write_commit(ctx, c, error_r);
    else
        sq_write_rollback(ctx, c);
    if (ret == 0) {
        if (rows.n > 0)
            sq_notify(ctx, dst.id);
        if (move && rows.n > 0)
            sq_notify(ctx, src.id);
        if (src_r != NULL)
            sq_uidset_add_many(src_r, uids, rows.n);
        if (dst_r != NULL && rows.n > 0)
            ph_uidset_add_range(dst_r, dst.uidnext,
                                dst.uidnext + (uint32_t)(rows.n - 1));
        if (dest_uidvalidity_r != NULL)
            *dest_uidvalidity_r = dst.uidvalidity;
    }
out:
    sq_conn_put(ctx, &c);
    rows_clear(&rows);
    free(uids);
    free(canon);
    return ret;
}

int sq_expunge(struct ph_mailbox *pub, const struct ph_uidset *set,
               struct ph_uidset *expunged_r, const char **error_r)
{
    struct sq_mailbox *mb = mbox(pub);
    struct sq_ctx *ctx = mb->ctx;
    struct sq_conn *c = NULL;
    struct sq_mbox row = {0};
    uint32_t *uids = NULL;
    size_t n = 0, cap = 0;

    if (mb->pub.readonly) {
        *error_r = "Mailbox is read-only";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    if ((ret = sq_write_begin_light(ctx, c, error_r)) < 0)
        goto out;
    ret = sq_mb_row(mb, c, &row, error_r);
    size_t nranges;
    const struct ph_uid_range *ranges = set_ranges(set, &nranges);
    for (size_t i = 0; i < nranges && ret == 0; i++) {
        sqlite3_stmt *st = sq_stmt(c, SQ_MSG_DELETED);
        sqlite3_bind_int64(st, 1, mb->id);
        sqlite3_bind_int64(st, 2, ranges[i].lo);
        sqlite3_bind_int64(st, 3, ranges[i].hi);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            ph_array_grow(&uids, &cap, n + 1, sizeof(*uids));
            uids[n++] = (uint32_t)sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "expunge", error_r);
    }
    if (ret == 0)
        ret = expunge_rows(ctx, c, mb->id, uids, n, row.highestmodseq + 1,
                           error_r);
    if (ret == 0)
        ret = sq_write_commit(ctx, c, error_r);
    else
        sq_write_rollback(ctx, c);
    if (ret == 0 && n > 0) {
        sq_notify(ctx, mb->id);
        if (expunged_r != NULL)
            sq_uidset_add_many(expunged_r, uids, n);
    }
out:
    sq_conn_put(ctx, &c);
    free(uids);
    return ret;
}

/* The UIDs a one-column statement returns, added to s. */
static int uids_select(struct sq_ctx *ctx, struct sq_conn *c, sqlite3_stmt *st,
                       struct ph_uidset *s, const char **error_r)
{
    uint32_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ph_array_grow(&v, &cap, n + 1, sizeof(*v));
        v[n++] = (uint32_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        sq_uidset_add_many(s, v, n);
    free(v);
    return rc == SQLITE_DONE ? 0 : sq_fail(ctx, c, rc, "changes", error_r);
}

/* What changed in (modseq, H], H being HIGHESTMODSEQ when the call starts:
 * a change made meanwhile is left for the next call, which asks from H.
 * The modseq indexes find what changed, so a NOOP in a large mailbox does
 * not scan it. */
int sq_changes(struct ph_mailbox *pub, uint64_t modseq,
               struct ph_uidset *expunged_r, uint64_t *highest_r,
               ph_meta_cb *cb, void *arg, const char **error_r)
{
    struct sq_mailbox *mb = mbox(pub);
    struct sq_ctx *ctx = mb->ctx;
    struct sq_conn *c = NULL;
    struct sq_mbox row = {0};
    struct msg_rows rows = {0};
    struct ph_uidset changed = {0};

    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    if ((ret = sq_read_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = sq_mb_row(mb, c, &row, error_r);
    bool any = ret == 0 && modseq < row.highestmodseq;
    if (any && expunged_r != NULL) {
        sqlite3_stmt *st = sq_stmt(c, SQ_TOMB_SINCE);
        sqlite3_bind_int64(st, 1, mb->id);
        sqlite3_bind_int64(st, 2, (int64_t)modseq);
        sqlite3_bind_int64(st, 3, (int64_t)row.highestmodseq);
        ret = uids_select(ctx, c, st, expunged_r, error_r);
    }
    if (any && ret == 0 && cb != NULL) {
        sqlite3_stmt *st = sq_stmt(c, SQ_MSG_CHANGED_UIDS);
        sqlite3_bind_int64(st, 1, mb->id);
        sqlite3_bind_int64(st, 2, (int64_t)modseq);
        sqlite3_bind_int64(st, 3, (int64_t)row.highestmodseq);
        ret = uids_select(ctx, c, st, &changed, error_r);
    }
    sq_read_end(c);
    /* \Recent is decided for every new message of the snapshot before any
     * is delivered: taken after the read, so that an APPEND between the two
     * never reaches the caller without it. */
    if (ret == 0 && mb->pub.readonly)
        recent_peek(mb, &row);
    else if (ret == 0)
        ret = recent_claim(mb, c, &row, error_r);
    sq_conn_put(ctx, &c);

    for (size_t i = 0; i < changed.n && ret == 0; i++) {
        uint64_t next = changed.r[i].lo;
        while (ret == 0 && next <= changed.r[i].hi) {
            if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
                break;
            sqlite3_stmt *st = sq_stmt(c, SQ_MSG_CHANGED);
            sqlite3_bind_int64(st, 1, mb->id);
            sqlite3_bind_int64(st, 2, (int64_t)next);
            sqlite3_bind_int64(st, 3, changed.r[i].hi);
            sqlite3_bind_int64(st, 4, (int64_t)modseq);
            sqlite3_bind_int64(st, 5, (int64_t)row.highestmodseq);
            sqlite3_bind_int(st, 6, FETCH_BATCH);
            ret = rows_read(ctx, c, st, &rows, error_r);
            sq_conn_put(ctx, &c);
            if (ret < 0)
                break;
            ret = rows_deliver(mb, &rows, cb, arg);
            next = rows.n < FETCH_BATCH ? (uint64_t)changed.r[i].hi + 1
                                        : (uint64_t)rows.v[rows.n - 1].uid + 1;
            rows_clear(&rows);
        }
    }
    if (ret == 0 && highest_r != NULL)
        *highest_r = row.highestmodseq;
out:
    sq_conn_put(ctx, &c);
    rows_clear(&rows);
    ph_uidset_clear(&changed);
    return ret;
}

/* ---- Appends ------------------------------------------------------------ */

/* The bytes wait in memory (small messages) or in an unlinked temporary
 * file beside the database (large ones) until append_finish: so the write
 * transaction lasts only as long as copying them into the blob, never as
 * long as the client takes to send them. */
struct sq_append {
    struct sq_ctx *ctx;
    int64_t mailbox_id;
    uint64_t written;
    struct ph_buf mem;
    int fd;
};

static void append_free(struct sq_append *app)
{
    if (app->fd >= 0)
        close(app->fd);
    ph_buf_free(&app->mem);
    free(app);
}

int sq_append_begin(struct ph_account *acct, const char *mailbox, uint64_t size,
                    void **handle_r, const char **error_r)
{
    struct sq_account *a = (struct sq_account *)acct;
    struct sq_ctx *ctx = a->ctx;
    struct sq_conn *c = NULL;
    struct sq_mbox row = {0};
    int ret = 0;
    char *canon = sq_name(mailbox, &ret, error_r);

    if (canon == NULL)
        return ret;
    if (size > BODY_MAX) {
        free(canon);
        *error_r = "Message is too large for this storage";
        return PH_STORAGE_ERR_LIMIT;
    }
    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    ret = sq_mbox_by_name(ctx, c, a->id, canon, &row, error_r);
    if (ret == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (ret > 0 && row.noselect) {
        *error_r = "Mailbox is not selectable";
        ret = PH_STORAGE_ERR_NOT_ALLOWED;
    }
    if (ret > 0) {
        struct sq_append *app = ph_calloc(1, sizeof(*app));
        app->ctx = ctx;
        app->mailbox_id = row.id;
        app->fd = -1;
        *handle_r = app;
        ret = 0;
    }
out:
    sq_conn_put(ctx, &c);
    free(canon);
    return ret;
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

static int spill_open(struct sq_append *app, const char **error_r)
{
    char *dir = ph_strdup(app->ctx->path), *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    char *tmpl =
        ph_strdup_printf("%s/.append-XXXXXX", slash != NULL ? dir : ".");
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd >= 0)
        unlink(tmpl);
    int saved = errno;
    free(dir);
    if (fd < 0 || write_all(fd, app->mem.data, app->mem.len) < 0) {
        ph_log_error("%s event=tempfile_failed file=%s reason=\"%s\"", SQ_MOD,
                     tmpl, strerror(saved));
        free(tmpl);
        if (fd >= 0)
            close(fd);
        *error_r = "Cannot store the message for now";
        return PH_STORAGE_ERR_TEMP;
    }
    free(tmpl);
    app->fd = fd;
    ph_buf_free(&app->mem);
    return 0;
}

int sq_append_write(void *handle, const void *data, size_t len,
                    const char **error_r)
{
    struct sq_append *app = handle;
    /* The account's limit is the core's (ph_append_write). */
    if (app->written + len > BODY_MAX) {
        *error_r = "Message is too large for this storage";
        return PH_STORAGE_ERR_LIMIT;
    }
    app->written += len;
    if (app->fd < 0 && app->mem.len + len <= APPEND_MEM_MAX) {
        ph_buf_append(&app->mem, data, len);
        return 0;
    }
    int ret = app->fd < 0 ? spill_open(app, error_r) : 0;
    if (ret == 0 && write_all(app->fd, data, len) < 0) {
        ph_log_error("%s event=tempfile_failed reason=\"%s\"", SQ_MOD,
                     strerror(errno));
        *error_r = "Cannot store the message for now";
        ret = PH_STORAGE_ERR_TEMP;
    }
    return ret;
}

/* Copies the waiting bytes into the body blob, in pieces. */
static int blob_fill(struct sq_append *app, struct sq_conn *c, int64_t body_id,
                     const char **error_r)
{
    struct sq_ctx *ctx = app->ctx;
    sqlite3_blob *blob = NULL;
    int rc =
        sqlite3_blob_open(c->db, "main", "bodies", "data", body_id, 1, &blob);
    if (rc != SQLITE_OK)
        return sq_fail(ctx, c, rc, "append_blob", error_r);
    char *buf = app->fd >= 0 ? ph_malloc(BLOB_CHUNK) : NULL;
    int ret = 0;
    for (uint64_t pos = 0; pos < app->written && ret == 0;) {
        size_t n = app->written - pos < BLOB_CHUNK
                       ? (size_t)(app->written - pos)
                       : BLOB_CHUNK;
        const void *src = buf;
        if (app->fd < 0) {
            src = app->mem.data + pos;
        } else {
            ssize_t got = pread(app->fd, buf, n, (off_t)pos);
            if (got != (ssize_t)n) {
                ph_log_error("%s event=tempfile_failed reason=\"short read\"",
                             SQ_MOD);
                *error_r = "Cannot store the message for now";
                ret = PH_STORAGE_ERR_TEMP;
                break;
            }
        }
        rc = sqlite3_blob_write(blob, src, (int)n, (int)pos);
        if (rc != SQLITE_OK)
            ret = sq_fail(ctx, c, rc, "append_blob", error_r);
        pos += n;
    }
    free(buf);
    rc = sqlite3_blob_close(blob);
    if (ret == 0 && rc != SQLITE_OK)
        ret = sq_fail(ctx, c, rc, "append_blob", error_r);
    return ret;
}

/* Reads the waiting bytes for sq_body_text_make(). */
static int append_reader(void *arg, uint64_t offset, uint64_t size,
                         ph_message_data_cb *cb, void *cb_arg)
{
    struct sq_append *app = arg;
    if (offset > app->written || size > app->written - offset)
        return -1;
    if (app->fd < 0)
        return cb(cb_arg, app->mem.data + offset, (size_t)size);
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

int sq_append_finish(void *handle, const struct ph_append_meta *meta,
                     uint32_t *uid_r, uint32_t *uidvalidity_r,
                     const char **error_r)
{
    struct sq_append *app = handle;
    struct sq_ctx *ctx = app->ctx;
    struct sq_conn *c = NULL;
    struct sq_mbox row = {0};
    char *keywords = NULL;
    struct sq_body_text text = {0};
    /* The structure, parsed once for the text and the values kept. */
    struct ph_message_info *mi = sq_info_read(meta->info, meta->info_size);

    int ret = ph_flags_check(meta->flags, error_r);
    if (ret < 0)
        goto out;
    /* The text for SEARCH is decoded and folded before the write lock is
     * taken: other writers do not wait for it. */
    if (sq_body_text_make(mi, app->written, append_reader, app, &text) != 0) {
        ph_log_error("%s event=tempfile_failed reason=\"short read\"", SQ_MOD);
        *error_r = "Cannot store the message for now";
        ret = PH_STORAGE_ERR_TEMP;
        goto out;
    }
    struct ph_strlist kw = {0};
    for (size_t i = 0; i < meta->flags->keywords.n; i++)
        if (!ph_keywords_has(&kw, meta->flags->keywords.v[i]))
            ph_strlist_add(&kw, meta->flags->keywords.v[i]);
    keywords = ph_keywords_join(&kw);
    ph_strlist_clear(&kw);

    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = sq_write_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = sq_mbox_by_id(ctx, c, app->mailbox_id, &row, error_r);
    if (ret == 0 || (ret > 0 && row.noselect)) {
        *error_r = "Mailbox was deleted";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (ret > 0 && row.uidnext == UINT32_MAX) {
        *error_r = "Mailbox has run out of UIDs";
        ret = PH_STORAGE_ERR_LIMIT;
    } else if (ret > 0) {
        ret = 0;
    }
    uint64_t modseq = row.highestmodseq + 1;
    int rc = SQLITE_DONE;
    int64_t body_id = 0;
    if (ret == 0) {
        sqlite3_stmt *st = sq_stmt(c, SQ_BODY_INSERT);
        sqlite3_bind_int64(st, 1, (int64_t)app->written);
        sqlite3_bind_blob(st, 2, meta->info != NULL ? meta->info : "",
                          (int)meta->info_size, SQLITE_STATIC);
        rc = sq_step_done(st);
        body_id = sqlite3_last_insert_rowid(c->db);
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "append", error_r);
    }
    if (ret == 0) {
        rc = sq_body_values_insert(sq_stmt(c, SQ_HDR_INSERT),
                                   sq_stmt(c, SQ_FETCH_VALUES_INSERT), body_id,
                                   mi);
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "append", error_r);
    }
    if (ret == 0) {
        rc = sq_body_text_insert(sq_stmt(c, SQ_TEXT_INSERT), body_id, &text);
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "append", error_r);
    }
    if (ret == 0)
        ret = blob_fill(app, c, body_id, error_r);
    if (ret == 0) {
        sqlite3_stmt *st = sq_stmt(c, SQ_MSG_INSERT);
        sqlite3_bind_int64(st, 1, app->mailbox_id);
        sqlite3_bind_int64(st, 2, row.uidnext);
        sqlite3_bind_int64(st, 3, (int64_t)modseq);
        sqlite3_bind_int64(st, 4, meta->flags->system);
        if (keywords != NULL)
            sqlite3_bind_text(st, 5, keywords, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, (int64_t)meta->internal_date);
        sqlite3_bind_int(st, 7, meta->internal_tz);
        sqlite3_bind_int64(st, 8, (int64_t)app->written);
        sqlite3_bind_int64(st, 9, body_id);
        rc = sq_step_done(st);
        if (rc == SQLITE_DONE) {
            st = sq_stmt(c, SQ_MBOX_SET_NEXT);
            sqlite3_bind_int64(st, 1, app->mailbox_id);
            sqlite3_bind_int64(st, 2, (int64_t)row.uidnext + 1);
            sqlite3_bind_int64(st, 3, (int64_t)modseq);
            rc = sq_step_done(st);
        }
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "append", error_r);
    }
    /* The message becomes visible, and durable, at this commit only. */
    if (ret == 0)
        ret = sq_write_commit(ctx, c, error_r);
    else
        sq_write_rollback(ctx, c);
    if (ret == 0) {
        sq_notify(ctx, app->mailbox_id);
        if (text.indexable)
            sq_indexer_kick(ctx);
        *uid_r = row.uidnext;
        *uidvalidity_r = row.uidvalidity;
        sq_debug(ctx,
                 "event=appended mailbox_id=%" PRId64 " uid=%u size=%" PRIu64,
                 app->mailbox_id, row.uidnext, app->written);
    }
out:
    sq_conn_put(ctx, &c);
    free(keywords);
    ph_buf_free(&text.text);
    ph_message_info_free(&mi);
    append_free(app);
    return ret;
}

void sq_append_abort(void *handle)
{
    append_free(handle);
}
