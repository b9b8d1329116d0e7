/* SPDX-License-Identifier: MIT */
/* storage.pgsql: open mailboxes (fetch, read, store, copy, expunge,
 * changes, \Recent) and appends.
 *
 * As in storage.sqlite, no connection is held while a caller's callback
 * runs: rows are read in batches, the connection goes back to the pool,
 * then the callbacks run. Every write transaction locks the mailbox row
 * (FOR UPDATE) before it reads UIDNEXT or HIGHESTMODSEQ: that lock is what
 * orders writers on different nodes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <posthorn/log.h>

#include "pgsql_private.h"

#define FETCH_BATCH 256
#define APPEND_MEM_MAX (256 * 1024) /* larger appends spill to a file */
#define CHUNK_SIZE (256 * 1024)     /* of body_chunks.data */
/* bytea values stay well under PostgreSQL's 1 GB; and as storage.sqlite. */
#define BODY_MAX (900u * 1024 * 1024)

static const struct ph_uid_range all_uids = {1, UINT32_MAX};

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

void pg_uidset_add_many(struct ph_uidset *s, uint32_t *v, size_t n)
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

/* "{1,2,3}": a bigint[] parameter (the values are ours, numbers only). */
static char *uid_array(const uint32_t *uids, size_t n)
{
    struct ph_buf b = {0};
    ph_buf_putc(&b, '{');
    for (size_t i = 0; i < n; i++)
        ph_buf_printf(&b, i > 0 ? ",%u" : "%u", uids[i]);
    ph_buf_putc(&b, '}');
    return ph_buf_steal(&b);
}

/* ---- Message rows ------------------------------------------------------- */

#define MSG_COLUMNS                                                            \
    "m.uid, m.modseq, m.flags, m.keywords, m.internal_date, m.internal_tz, "   \
    "m.size, m.body_id"

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
    }
    free(rows->v);
    *rows = (struct msg_rows){0};
}

/* Appends row i of a result whose first columns are MSG_COLUMNS, and
 * b.info at info_col unless that is -1. */
static int row_read(struct pg_ctx *ctx, PGresult *res, int i, int info_col,
                    struct msg_rows *rows, const char **error_r)
{
    ph_array_grow(&rows->v, &rows->cap, rows->n + 1, sizeof(*rows->v));
    struct msg_row *r = &rows->v[rows->n++];
    const char *kw = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3);
    *r = (struct msg_row){
        .uid = (uint32_t)pg_int(res, i, 0),
        .modseq = (uint64_t)pg_int(res, i, 1),
        .flags = (uint32_t)pg_int(res, i, 2),
        .keywords = kw != NULL && kw[0] ? ph_strdup(kw) : NULL,
        .internal_date = pg_int(res, i, 4),
        .internal_tz = (int)pg_int(res, i, 5),
        .size = (uint64_t)pg_int(res, i, 6),
        .body_id = pg_int(res, i, 7),
    };
    if (info_col >= 0 && !PQgetisnull(res, i, info_col)) {
        size_t n = 0;
        unsigned char *raw = PQunescapeBytea(
            (const unsigned char *)PQgetvalue(res, i, info_col), &n);
        if (raw == NULL) {
            ph_log_error("%s event=corrupt db=%s body=%" PRId64 " reason=info",
                         PG_MOD, ctx->target, r->body_id);
            *error_r = "Stored message is damaged";
            return PH_STORAGE_ERR_CORRUPTED;
        }
        r->info = ph_malloc(n > 0 ? n : 1);
        memcpy(r->info, raw, n);
        r->info_size = n;
        PQfreemem(raw);
    }
    return 0;
}

/* Appends the rows of a result whose columns are MSG_COLUMNS [+ info]. */
static int rows_read(struct pg_ctx *ctx, PGresult *res, struct msg_rows *rows,
                     const char **error_r)
{
    int ret = 0;
    int info_col = PQnfields(res) > 8 ? 8 : -1;
    for (int i = 0; i < PQntuples(res) && ret == 0; i++)
        ret = row_read(ctx, res, i, info_col, rows, error_r);
    PQclear(res);
    return ret;
}

static int row_cmp(const void *a, const void *b)
{
    const struct msg_row *x = a, *y = b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Calls cb for each row; returns cb's first non-zero value. */
static int rows_deliver(const struct pg_mbox_handle *mb, struct msg_rows *rows,
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
        };
        ret = cb(arg, &meta);
    }
    free(kw);
    return ret;
}

/* ---- Mailbox handles ---------------------------------------------------- */

static struct pg_mbox_handle *mbox(struct ph_mailbox *mb)
{
    return (struct pg_mbox_handle *)mb;
}

int pg_mb_row(struct pg_mbox_handle *mb, struct pg_conn *c, bool lock,
              struct pg_mbox *row_r, const char **error_r)
{
    int ret = pg_mbox_by_id(mb->ctx, c, mb->id, lock, row_r, error_r);
    if (ret < 0)
        return ret;
    if (ret == 0 || row_r->noselect ||
        row_r->uidvalidity != mb->pub.uidvalidity) {
        *error_r = "Mailbox was deleted";
        return PH_STORAGE_ERR_NOT_FOUND;
    }
    return 0;
}

/* Takes \Recent for the UIDs no session has claimed (RFC 3501 2.3.1.4):
 * recent_uid moves to uidnext under the mailbox's row lock, so of two
 * sessions, on any nodes, exactly one gets each new message. Every woken
 * session of a mailbox comes here: most find nothing to take in the plain
 * read and lock nothing; the others race in one conditional UPDATE
 * (pg_mbox_claim_recent), never in a transaction of their own. */
static int recent_claim(struct pg_mbox_handle *mb, struct pg_conn *c,
                        struct pg_mbox *row_r, const char **error_r)
{
    struct pg_mbox row = {0}, claimed_row = {0};
    uint32_t claimed = 0;
    int ret = pg_mb_row(mb, c, false, &row, error_r);
    /* The row read here serves changes() too: one round trip less. */
    *row_r = row;
    if (ret < 0 || row.recent_uid >= row.uidnext)
        return ret;
    ret = pg_mbox_claim_recent(mb->ctx, c, mb->id, mb->pub.uidvalidity,
                               &claimed_row, &claimed, error_r);
    if (ret <= 0)
        return ret; /* an error, or another session took them */
    if (claimed < claimed_row.uidnext)
        ph_uidset_add_range(&mb->recent, claimed, claimed_row.uidnext - 1);
    *row_r = claimed_row;
    return 0;
}

/* A read-only handle shows \Recent for what no session has claimed in
 * row's snapshot and takes nothing (RFC 3501 6.3.2: EXAMINE must not
 * cause messages to lose \Recent). What it showed once it keeps. */
static void recent_peek(struct pg_mbox_handle *mb, const struct pg_mbox *row)
{
    if (row->recent_uid < row->uidnext)
        ph_uidset_add_range(&mb->recent, row->recent_uid, row->uidnext - 1);
}

int pg_mailbox_open(struct ph_account *acct, const char *name, bool readonly,
                    struct ph_mailbox **mb_r, const char **error_r)
{
    struct pg_account *a = (struct pg_account *)acct;
    struct pg_ctx *ctx = a->ctx;
    struct pg_conn *c = NULL;
    struct pg_mbox row = {0};
    struct pg_mbox_handle *mb = NULL;
    int ret = 0;
    char *canon = pg_name(name, &ret, error_r);

    if (canon == NULL)
        return ret;
    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    ret = pg_mbox_by_name(ctx, c, a->id, canon, false, &row, error_r);
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
    mb->pub.v = &pg_vfuncs;
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
        pg_mailbox_close(&mb->pub);
        goto out;
    }
    *mb_r = &mb->pub;
out:
    pg_conn_put(ctx, &c);
    free(canon);
    return ret;
}

void pg_mailbox_close(struct ph_mailbox *pub)
{
    struct pg_mbox_handle *mb = mbox(pub);
    pg_watch_remove(mb);
    ph_uidset_clear(&mb->recent);
    free(mb->pub.name);
    free(mb);
}

int pg_fetch(struct ph_mailbox *pub, const struct ph_uidset *set, unsigned what,
             ph_meta_cb *cb, void *arg, const char **error_r)
{
    struct pg_mbox_handle *mb = mbox(pub);
    struct pg_ctx *ctx = mb->ctx;
    struct msg_rows rows = {0};
    size_t nranges;
    const struct ph_uid_range *ranges = set_ranges(set, &nranges);
    bool checked = false;
    int ret = 0, err = 0;

    for (size_t i = 0; i < nranges && ret == 0; i++) {
        uint64_t next = ranges[i].lo;
        while (ret == 0 && next <= ranges[i].hi) {
            struct pg_conn *c = NULL;
            if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
                break;
            if (!checked) {
                struct pg_mbox row;
                ret = pg_mb_row(mb, c, false, &row, error_r);
                checked = true;
            }
            if (ret == 0) {
                PGresult *res = pg_query(
                    ctx, c, "fetch",
                    what & PH_META_INFO
                        ? "SELECT " MSG_COLUMNS ", b.info FROM messages m "
                          "JOIN bodies b ON b.id = m.body_id "
                          "WHERE m.mailbox_id = $1 AND m.uid >= $2 "
                          "AND m.uid <= $3 ORDER BY m.uid LIMIT $4"
                        : "SELECT " MSG_COLUMNS " FROM messages m "
                          "WHERE m.mailbox_id = $1 AND m.uid >= $2 "
                          "AND m.uid <= $3 ORDER BY m.uid LIMIT $4",
                    false,
                    PG_ARGS(PA_I(mb->id), PA_I(next), PA_I(ranges[i].hi),
                            PA_I(FETCH_BATCH)),
                    &err, error_r);
                ret = res != NULL ? rows_read(ctx, res, &rows, error_r) : err;
            }
            pg_conn_put(ctx, &c);
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

/* Reads one chunk of a body, as binary; a connection is taken per chunk so
 * that none is held while the caller writes to a slow client. *got_r is
 * the chunk's length; *data_r is freed with PQclear(*res_r). */
static int read_chunk(struct pg_ctx *ctx, int64_t body_id, int64_t seq,
                      PGresult **res_r, const char **data_r, size_t *got_r,
                      const char **error_r)
{
    struct pg_conn *c = NULL;
    int err = 0;
    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    PGresult *res =
        pg_query(ctx, c, "read",
                 "SELECT data FROM body_chunks WHERE body_id = $1 AND seq = $2",
                 true, PG_ARGS(PA_I(body_id), PA_I(seq)), &err, error_r);
    pg_conn_put(ctx, &c);
    if (res == NULL)
        return err;
    if (PQntuples(res) == 0) {
        PQclear(res);
        *error_r = "Message was expunged";
        return PH_STORAGE_ERR_NOT_FOUND;
    }
    *res_r = res;
    *data_r = PQgetvalue(res, 0, 0);
    *got_r = (size_t)PQgetlength(res, 0, 0);
    return 0;
}

int pg_read(struct ph_mailbox *pub, uint32_t uid, uint64_t offset, uint64_t len,
            ph_data_cb *cb, void *arg, const char **error_r)
{
    struct pg_mbox_handle *mb = mbox(pub);
    struct pg_ctx *ctx = mb->ctx;
    struct pg_conn *c = NULL;
    int64_t body_id = 0;
    uint64_t size = 0;
    int err = 0;

    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    PGresult *res = pg_query(
        ctx, c, "read",
        "SELECT body_id, size FROM messages WHERE mailbox_id = $1 AND uid = $2",
        false, PG_ARGS(PA_I(mb->id), PA_I(uid)), &err, error_r);
    pg_conn_put(ctx, &c);
    if (res == NULL)
        return err;
    if (PQntuples(res) == 0) {
        PQclear(res);
        *error_r = "No such message";
        return PH_STORAGE_ERR_NOT_FOUND;
    }
    body_id = pg_int(res, 0, 0);
    size = (uint64_t)pg_int(res, 0, 1);
    PQclear(res);

    uint64_t end = offset > size ? size : offset;
    end += len < size - end ? len : size - end;
    /* Only the chunks [offset, end) covers are read. */
    for (uint64_t pos = offset; pos < end && ret == 0;) {
        int64_t seq = (int64_t)(pos / CHUNK_SIZE);
        uint64_t base = (uint64_t)seq * CHUNK_SIZE;
        uint64_t want = end - base < CHUNK_SIZE ? end - base : CHUNK_SIZE;
        PGresult *chunk = NULL;
        const char *data = NULL;
        size_t got = 0;
        ret = read_chunk(ctx, body_id, seq, &chunk, &data, &got, error_r);
        if (ret == 0 && got < want) {
            ph_log_error("%s event=corrupt db=%s body=%" PRId64
                         " reason=short_chunk",
                         PG_MOD, ctx->target, body_id);
            *error_r = "Stored message is damaged";
            ret = PH_STORAGE_ERR_CORRUPTED;
        }
        if (ret == 0)
            ret = cb(arg, data + (pos - base), (size_t)(want - (pos - base)));
        PQclear(chunk);
        pos = base + want;
    }
    return ret;
}

/* Collects the rows of set, in the caller's transaction. */
static int rows_collect(struct pg_mbox_handle *mb, struct pg_conn *c,
                        const struct ph_uidset *set, struct msg_rows *rows,
                        const char **error_r)
{
    size_t nranges;
    const struct ph_uid_range *ranges = set_ranges(set, &nranges);
    for (size_t i = 0; i < nranges; i++) {
        int err = 0;
        PGresult *res = pg_query(
            mb->ctx, c, "messages",
            "SELECT " MSG_COLUMNS " FROM messages m WHERE m.mailbox_id = $1 "
            "AND m.uid >= $2 AND m.uid <= $3 ORDER BY m.uid",
            false,
            PG_ARGS(PA_I(mb->id), PA_I(ranges[i].lo), PA_I(ranges[i].hi)), &err,
            error_r);
        if (res == NULL)
            return err;
        int ret = rows_read(mb->ctx, res, rows, error_r);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int set_modseq(struct pg_ctx *ctx, struct pg_conn *c, int64_t id,
                      uint64_t modseq, const char **error_r)
{
    return pg_exec(ctx, c, "modseq",
                   "UPDATE mailboxes SET highestmodseq = $2 WHERE id = $1",
                   PG_ARGS(PA_I(id), PA_I(modseq)), error_r);
}

/* Applies op to one row; true when its flags change. */
static bool store_apply(struct msg_row *r, enum ph_store_op op,
                        const struct ph_flags *flags)
{
    return ph_flags_apply(&r->flags, &r->keywords, op, flags);
}

int pg_store(struct ph_mailbox *pub, const struct ph_uidset *set,
             enum ph_store_op op, const struct ph_flags *flags,
             uint64_t unchangedsince, struct ph_uidset *modified_r,
             ph_meta_cb *cb, void *arg, const char **error_r)
{
    struct pg_mbox_handle *mb = mbox(pub);
    struct pg_ctx *ctx = mb->ctx;
    struct pg_conn *c = NULL;
    struct msg_rows rows = {0}, changed = {0};
    struct pg_mbox row = {0};
    uint32_t *mod = NULL; /* UNCHANGEDSINCE failed for these */
    size_t nmod = 0, mod_cap = 0;

    if (mb->pub.readonly) {
        *error_r = "Mailbox is read-only";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    int ret = ph_flags_check(flags, error_r);
    if (ret < 0)
        return ret;
    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        return ret;
    if ((ret = pg_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = pg_mb_row(mb, c, true, &row, error_r);
    if (ret == 0)
        ret = rows_collect(mb, c, set, &rows, error_r);
    uint64_t modseq = row.highestmodseq + 1;
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
        ret = pg_exec(ctx, c, "store",
                      "UPDATE messages SET flags = $3, keywords = $4, "
                      "modseq = $5 WHERE mailbox_id = $1 AND uid = $2",
                      PG_ARGS(PA_I(mb->id), PA_I(r->uid), PA_I(r->flags),
                              PA_S(r->keywords), PA_I(modseq)),
                      error_r);
        if (ret < 0)
            break;
        ph_array_grow(&changed.v, &changed.cap, changed.n + 1,
                      sizeof(*changed.v));
        changed.v[changed.n++] = *r;
        *r = (struct msg_row){0};
    }
    if (ret == 0 && changed.n > 0)
        ret = set_modseq(ctx, c, mb->id, modseq, error_r);
    if (ret == 0 && changed.n > 0)
        ret = pg_announce(ctx, c, mb->id, error_r);
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
out:
    pg_conn_put(ctx, &c);
    if (ret == 0 && modified_r != NULL)
        pg_uidset_add_many(modified_r, mod, nmod);
    free(mod);
    if (ret == 0 && changed.n > 0) {
        pg_wake_local(ctx, mb->id);
        if (cb != NULL)
            ret = rows_deliver(mb, &changed, cb, arg);
    }
    rows_clear(&rows);
    rows_clear(&changed);
    return ret;
}

/* Deletes uids of mailbox id, leaving tombstones at modseq. */
static int expunge_rows(struct pg_ctx *ctx, struct pg_conn *c, int64_t id,
                        const uint32_t *uids, size_t n, uint64_t modseq,
                        const char **error_r)
{
    if (n == 0)
        return 0;
    char *arr = uid_array(uids, n);
    int ret = pg_exec(ctx, c, "expunge",
                      "DELETE FROM messages WHERE mailbox_id = $1 "
                      "AND uid = ANY ($2::bigint[])",
                      PG_ARGS(PA_I(id), PA_S(arr)), error_r);
    if (ret == 0)
        ret = pg_exec(ctx, c, "expunge",
                      "INSERT INTO tombstones (mailbox_id, uid, modseq) "
                      "SELECT $1, u, $3 FROM unnest($2::bigint[]) AS u "
                      "ON CONFLICT (mailbox_id, uid) "
                      "DO UPDATE SET modseq = excluded.modseq",
                      PG_ARGS(PA_I(id), PA_S(arr), PA_I(modseq)), error_r);
    free(arr);
    if (ret == 0)
        ret = set_modseq(ctx, c, id, modseq, error_r);
    if (ret == 0)
        ret = pg_announce(ctx, c, id, error_r);
    return ret;
}

int pg_copy(struct ph_mailbox *pub, const struct ph_uidset *set,
            const char *dest, bool move, struct ph_uidset *src_r,
            struct ph_uidset *dst_r, uint32_t *dest_uidvalidity_r,
            const char **error_r)
{
    struct pg_mbox_handle *mb = mbox(pub);
    struct pg_ctx *ctx = mb->ctx;
    struct pg_conn *c = NULL;
    struct msg_rows rows = {0};
    struct pg_mbox src = {0}, dst = {0};
    uint32_t *uids = NULL;
    int ret = 0;
    char *canon = pg_name(dest, &ret, error_r);

    if (canon == NULL)
        return ret;
    if (move && mb->pub.readonly) {
        free(canon);
        *error_r = "Mailbox is read-only";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = pg_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = pg_mbox_by_name(ctx, c, mb->account_id, canon, false, &dst, error_r);
    if (ret == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (ret > 0) {
        /* Two locks, always in id order: two COPYs in opposite directions
         * must not deadlock. */
        int64_t dst_id = dst.id;
        int found = 1;
        if (dst_id < mb->id)
            found = pg_mbox_by_id(ctx, c, dst_id, true, &dst, error_r);
        ret = found > 0 ? pg_mb_row(mb, c, true, &src, error_r) : found;
        if (ret == 0 && dst_id > mb->id) {
            found = pg_mbox_by_id(ctx, c, dst_id, true, &dst, error_r);
            ret = found < 0 ? found : 0;
        }
        if (ret == 0 && found == 0) {
            *error_r = "Mailbox does not exist";
            ret = PH_STORAGE_ERR_NOT_FOUND;
        } else if (ret == 0) {
            ret = 1;
        }
    }
    if (ret > 0 && dst.noselect) {
        *error_r = "Mailbox is not selectable";
        ret = PH_STORAGE_ERR_NOT_ALLOWED;
    } else if (ret > 0) {
        ret = 0;
    }
    if (ret == 0 && dst.id == src.id)
        dst = src;
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
        ret = pg_exec(ctx, c, "copy",
                      "INSERT INTO messages (mailbox_id, uid, modseq, flags, "
                      "keywords, internal_date, internal_tz, size, body_id) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                      PG_ARGS(PA_I(dst.id), PA_I(uid), PA_I(dst_modseq),
                              PA_I(r->flags), PA_S(r->keywords),
                              PA_I(r->internal_date), PA_I(r->internal_tz),
                              PA_I(r->size), PA_I(r->body_id)),
                      error_r);
        uid++;
    }
    if (ret == 0 && rows.n > 0)
        ret = pg_exec(ctx, c, "copy",
                      "UPDATE mailboxes SET uidnext = $2, highestmodseq = $3 "
                      "WHERE id = $1",
                      PG_ARGS(PA_I(dst.id), PA_I(uid), PA_I(dst_modseq)),
                      error_r);
    if (ret == 0 && rows.n > 0)
        ret = pg_announce(ctx, c, dst.id, error_r);
    uids = ph_malloc((rows.n + 1) * sizeof(*uids));
    for (size_t i = 0; i < rows.n; i++)
        uids[i] = rows.v[i].uid;
    if (ret == 0 && move && rows.n > 0)
        ret = expunge_rows(ctx, c, src.id, uids, rows.n, src.highestmodseq + 1,
                           error_r);
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
    if (ret == 0) {
        if (rows.n > 0)
            pg_wake_local(ctx, dst.id);
        if (move && rows.n > 0)
            pg_wake_local(ctx, src.id);
        if (src_r != NULL)
            pg_uidset_add_many(src_r, uids, rows.n);
        if (dst_r != NULL && rows.n > 0)
            ph_uidset_add_range(dst_r, dst.uidnext,
                                dst.uidnext + (uint32_t)(rows.n - 1));
        if (dest_uidvalidity_r != NULL)
            *dest_uidvalidity_r = dst.uidvalidity;
    }
out:
    pg_conn_put(ctx, &c);
    rows_clear(&rows);
    free(uids);
    free(canon);
    return ret;
}

int pg_expunge(struct ph_mailbox *pub, const struct ph_uidset *set,
               struct ph_uidset *expunged_r, const char **error_r)
{
    struct pg_mbox_handle *mb = mbox(pub);
    struct pg_ctx *ctx = mb->ctx;
    struct pg_conn *c = NULL;
    struct pg_mbox row = {0};
    uint32_t *uids = NULL;
    size_t n = 0, cap = 0;

    if (mb->pub.readonly) {
        *error_r = "Mailbox is read-only";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    if ((ret = pg_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = pg_mb_row(mb, c, true, &row, error_r);
    size_t nranges;
    const struct ph_uid_range *ranges = set_ranges(set, &nranges);
    for (size_t i = 0; i < nranges && ret == 0; i++) {
        int err = 0;
        PGresult *res = pg_query(
            ctx, c, "expunge",
            "SELECT uid FROM messages WHERE mailbox_id = $1 AND uid >= $2 "
            "AND uid <= $3 AND (flags & 8) <> 0 ORDER BY uid",
            false,
            PG_ARGS(PA_I(mb->id), PA_I(ranges[i].lo), PA_I(ranges[i].hi)), &err,
            error_r);
        if (res == NULL) {
            ret = err;
            break;
        }
        for (int j = 0; j < PQntuples(res); j++) {
            ph_array_grow(&uids, &cap, n + 1, sizeof(*uids));
            uids[n++] = (uint32_t)pg_int(res, j, 0);
        }
        PQclear(res);
    }
    if (ret == 0)
        ret = expunge_rows(ctx, c, mb->id, uids, n, row.highestmodseq + 1,
                           error_r);
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
    if (ret == 0 && n > 0) {
        pg_wake_local(ctx, mb->id);
        if (expunged_r != NULL)
            pg_uidset_add_many(expunged_r, uids, n);
    }
out:
    pg_conn_put(ctx, &c);
    free(uids);
    return ret;
}

/* The UIDs of a one-column result, added to s. */
static void uids_add(PGresult *res, struct ph_uidset *s)
{
    size_t n = (size_t)PQntuples(res);
    uint32_t *v = ph_malloc((n + 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (uint32_t)pg_int(res, (int)i, 0);
    pg_uidset_add_many(s, v, n);
    free(v);
    PQclear(res);
}

/* What changed in (modseq, H], H being HIGHESTMODSEQ when the call starts.
 * Every change up to H is committed once H is visible (it was given under
 * the row lock, which the commit releases), so no transaction is needed
 * for a consistent answer; later ones are left for the next call.
 *
 * Every session watching a mailbox comes here after each change to it, so
 * the usual answer costs two round trips: the row (with the \Recent claim)
 * and one statement for the tombstones and the first batch of changed
 * rows. Only more than a batch of changed rows takes the UIDs first, then
 * batches by UID range: a changes() from modseq 0 over a large mailbox
 * then reads each row once instead of scanning the modseq range again per
 * batch. */
int pg_changes(struct ph_mailbox *pub, uint64_t modseq,
               struct ph_uidset *expunged_r, uint64_t *highest_r,
               ph_meta_cb *cb, void *arg, const char **error_r)
{
    struct pg_mbox_handle *mb = mbox(pub);
    struct pg_ctx *ctx = mb->ctx;
    struct pg_conn *c = NULL;
    struct pg_mbox row = {0};
    struct msg_rows rows = {0};
    struct ph_uidset changed = {0};
    uint32_t *gone = NULL;
    size_t ngone = 0, gone_cap = 0;
    bool more = false;
    int err = 0;

    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    ret = mb->pub.readonly ? pg_mb_row(mb, c, false, &row, error_r)
                           : recent_claim(mb, c, &row, error_r);
    /* The new messages delivered below are all under row.uidnext. */
    if (ret == 0 && mb->pub.readonly)
        recent_peek(mb, &row);
    bool any = ret == 0 && modseq < row.highestmodseq &&
               (expunged_r != NULL || cb != NULL);
    if (any) {
        /* gone: a tombstone (only its uid counts), else a message row.
         * $4/$5 switch the halves the caller did not ask for off. No ORDER
         * BY over the union: sorting it costs more than the round trip
         * saved; the rows are put in UID order here. */
        PGresult *res = pg_query(
            ctx, c, "changes",
            "(SELECT " MSG_COLUMNS ", false AS gone FROM messages m "
            "WHERE $5::boolean AND m.mailbox_id = $1 AND m.modseq > $2 "
            "AND m.modseq <= $3 ORDER BY m.uid LIMIT $6) "
            "UNION ALL SELECT t.uid, t.modseq, 0, NULL, 0, 0, 0, 0, true "
            "FROM tombstones t WHERE $4::boolean AND t.mailbox_id = $1 "
            "AND t.modseq > $2 AND t.modseq <= $3",
            false,
            PG_ARGS(PA_I(mb->id), PA_I(modseq), PA_I(row.highestmodseq),
                    PA_I(expunged_r != NULL), PA_I(cb != NULL),
                    PA_I(FETCH_BATCH)),
            &err, error_r);
        if (res == NULL)
            ret = err;
        size_t nrows = 0;
        for (int i = 0; res != NULL && i < PQntuples(res) && ret == 0; i++) {
            if (pg_int(res, i, 8)) {
                ph_array_grow(&gone, &gone_cap, ngone + 1, sizeof(*gone));
                gone[ngone++] = (uint32_t)pg_int(res, i, 0);
            } else {
                ret = row_read(ctx, res, i, -1, &rows, error_r);
                nrows++;
            }
        }
        PQclear(res);
        if (rows.n > 1)
            qsort(rows.v, rows.n, sizeof(*rows.v), row_cmp);
        if (ret == 0 && expunged_r != NULL)
            pg_uidset_add_many(expunged_r, gone, ngone);
        more = ret == 0 && nrows == FETCH_BATCH;
    }
    if (more) {
        PGresult *res = pg_query(
            ctx, c, "changes",
            "SELECT uid FROM messages WHERE mailbox_id = $1 "
            "AND modseq > $2 AND modseq <= $3 AND uid > $4",
            false,
            PG_ARGS(PA_I(mb->id), PA_I(modseq), PA_I(row.highestmodseq),
                    PA_I(rows.v[rows.n - 1].uid)),
            &err, error_r);
        if (res != NULL)
            uids_add(res, &changed);
        else
            ret = err;
    }
    pg_conn_put(ctx, &c);
    if (ret == 0 && rows.n > 0)
        ret = rows_deliver(mb, &rows, cb, arg);
    rows_clear(&rows);

    for (size_t i = 0; i < changed.n && ret == 0; i++) {
        uint64_t next = changed.r[i].lo;
        while (ret == 0 && next <= changed.r[i].hi) {
            if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
                break;
            PGresult *res = pg_query(
                ctx, c, "changes",
                "SELECT " MSG_COLUMNS " FROM messages m "
                "WHERE m.mailbox_id = $1 AND m.uid >= $2 AND m.uid <= $3 "
                "AND m.modseq > $4 AND m.modseq <= $5 ORDER BY m.uid LIMIT $6",
                false,
                PG_ARGS(PA_I(mb->id), PA_I(next), PA_I(changed.r[i].hi),
                        PA_I(modseq), PA_I(row.highestmodseq),
                        PA_I(FETCH_BATCH)),
                &err, error_r);
            ret = res != NULL ? rows_read(ctx, res, &rows, error_r) : err;
            pg_conn_put(ctx, &c);
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
    pg_conn_put(ctx, &c);
    rows_clear(&rows);
    ph_uidset_clear(&changed);
    free(gone);
    return ret;
}

/* ---- Appends ------------------------------------------------------------ */

/* The bytes wait in memory (small messages) or in an unlinked temporary
 * file (large ones) until append_finish: so the transaction lasts only as
 * long as sending them to the server, never as long as the client takes. */
struct pg_append {
    struct pg_ctx *ctx;
    int64_t mailbox_id;
    uint64_t written;
    struct ph_buf mem;
    int fd;
};

static void append_free(struct pg_append *app)
{
    if (app->fd >= 0)
        close(app->fd);
    ph_buf_free(&app->mem);
    free(app);
}

int pg_append_begin(struct ph_account *acct, const char *mailbox, uint64_t size,
                    void **handle_r, const char **error_r)
{
    struct pg_account *a = (struct pg_account *)acct;
    struct pg_ctx *ctx = a->ctx;
    struct pg_conn *c = NULL;
    struct pg_mbox row = {0};
    int ret = 0;
    char *canon = pg_name(mailbox, &ret, error_r);

    if (canon == NULL)
        return ret;
    if (size > BODY_MAX) {
        free(canon);
        *error_r = "Message is too large for this storage";
        return PH_STORAGE_ERR_LIMIT;
    }
    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    ret = pg_mbox_by_name(ctx, c, a->id, canon, false, &row, error_r);
    if (ret == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (ret > 0 && row.noselect) {
        *error_r = "Mailbox is not selectable";
        ret = PH_STORAGE_ERR_NOT_ALLOWED;
    }
    if (ret > 0) {
        struct pg_append *app = ph_calloc(1, sizeof(*app));
        app->ctx = ctx;
        app->mailbox_id = row.id;
        app->fd = -1;
        *handle_r = app;
        ret = 0;
    }
out:
    pg_conn_put(ctx, &c);
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

/* The spill file goes to state_dir (the server's own), else TMPDIR. */
static int spill_open(struct pg_append *app, const char **error_r)
{
    const char *dir = ph_global_state_dir();
    if (dir == NULL)
        dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    char *tmpl = ph_strdup_printf("%s/.append-XXXXXX", dir);
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd >= 0)
        unlink(tmpl);
    int saved = errno;
    if (fd < 0 || write_all(fd, app->mem.data, app->mem.len) < 0) {
        ph_log_error("%s event=tempfile_failed file=%s reason=\"%s\"", PG_MOD,
                     tmpl, strerror(fd < 0 ? saved : errno));
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

int pg_append_write(void *handle, const void *data, size_t len,
                    const char **error_r)
{
    struct pg_append *app = handle;
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
        ph_log_error("%s event=tempfile_failed reason=\"%s\"", PG_MOD,
                     strerror(errno));
        *error_r = "Cannot store the message for now";
        ret = PH_STORAGE_ERR_TEMP;
    }
    return ret;
}

/* Sends the waiting bytes as the body's chunks. */
static int body_fill(struct pg_append *app, struct pg_conn *c, int64_t body_id,
                     const char **error_r)
{
    struct pg_ctx *ctx = app->ctx;
    char *buf = app->fd >= 0 ? ph_malloc(CHUNK_SIZE) : NULL;
    int ret = 0;
    int64_t seq = 0;
    /* An empty message still has its one (empty) chunk. */
    for (uint64_t pos = 0; ret == 0 && (pos < app->written || seq == 0);
         seq++) {
        size_t n = app->written - pos < CHUNK_SIZE
                       ? (size_t)(app->written - pos)
                       : CHUNK_SIZE;
        const void *src = app->mem.data != NULL ? app->mem.data + pos : "";
        if (app->fd >= 0) {
            ssize_t got = pread(app->fd, buf, n, (off_t)pos);
            if (got != (ssize_t)n) {
                ph_log_error("%s event=tempfile_failed reason=\"short read\"",
                             PG_MOD);
                *error_r = "Cannot store the message for now";
                ret = PH_STORAGE_ERR_TEMP;
                break;
            }
            src = buf;
        }
        ret = pg_exec(ctx, c, "append_body",
                      "INSERT INTO body_chunks (body_id, seq, data) "
                      "VALUES ($1, $2, $3)",
                      PG_ARGS(PA_I(body_id), PA_I(seq), PA_B(src, n)), error_r);
        pos += n;
    }
    free(buf);
    return ret;
}

int pg_append_finish(void *handle, const struct ph_append_meta *meta,
                     uint32_t *uid_r, uint32_t *uidvalidity_r,
                     const char **error_r)
{
    struct pg_append *app = handle;
    struct pg_ctx *ctx = app->ctx;
    struct pg_conn *c = NULL;
    struct pg_mbox row = {0};
    char *keywords = NULL;
    int64_t body_id = 0;
    int err = 0;

    int ret = ph_flags_check(meta->flags, error_r);
    if (ret < 0)
        goto out;
    struct ph_strlist kw = {0};
    for (size_t i = 0; i < meta->flags->keywords.n; i++)
        if (!ph_keywords_has(&kw, meta->flags->keywords.v[i]))
            ph_strlist_add(&kw, meta->flags->keywords.v[i]);
    keywords = ph_keywords_join(&kw);
    ph_strlist_clear(&kw);

    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = pg_begin(ctx, c, error_r)) < 0)
        goto out;
    /* The body first, before the mailbox lock: other writers of the
     * mailbox wait only for the message row, not for the bytes. */
    PGresult *res = pg_query(
        ctx, c, "append",
        "INSERT INTO bodies (size, info) VALUES ($1, $2) RETURNING id", false,
        PG_ARGS(PA_I(app->written),
                PA_B(meta->info != NULL ? meta->info : "", meta->info_size)),
        &err, error_r);
    if (res == NULL) {
        ret = err;
    } else {
        body_id = pg_int(res, 0, 0);
        PQclear(res);
        ret = body_fill(app, c, body_id, error_r);
    }
    if (ret == 0) {
        ret = pg_mbox_by_id(ctx, c, app->mailbox_id, true, &row, error_r);
        if (ret == 0 || (ret > 0 && row.noselect)) {
            *error_r = "Mailbox was deleted";
            ret = PH_STORAGE_ERR_NOT_FOUND;
        } else if (ret > 0 && row.uidnext == UINT32_MAX) {
            *error_r = "Mailbox has run out of UIDs";
            ret = PH_STORAGE_ERR_LIMIT;
        } else if (ret > 0) {
            ret = 0;
        }
    }
    uint64_t modseq = row.highestmodseq + 1;
    if (ret == 0)
        ret = pg_exec(ctx, c, "append",
                      "INSERT INTO messages (mailbox_id, uid, modseq, flags, "
                      "keywords, internal_date, internal_tz, size, body_id) "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                      PG_ARGS(PA_I(app->mailbox_id), PA_I(row.uidnext),
                              PA_I(modseq), PA_I(meta->flags->system),
                              PA_S(keywords), PA_I(meta->internal_date),
                              PA_I(meta->internal_tz), PA_I(app->written),
                              PA_I(body_id)),
                      error_r);
    if (ret == 0)
        ret = pg_exec(ctx, c, "append",
                      "UPDATE mailboxes SET uidnext = $2, highestmodseq = $3 "
                      "WHERE id = $1",
                      PG_ARGS(PA_I(app->mailbox_id),
                              PA_I((int64_t)row.uidnext + 1), PA_I(modseq)),
                      error_r);
    if (ret == 0)
        ret = pg_announce(ctx, c, app->mailbox_id, error_r);
    /* The message becomes visible, and durable, at this commit only. */
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
    if (ret == 0) {
        pg_wake_local(ctx, app->mailbox_id);
        *uid_r = row.uidnext;
        *uidvalidity_r = row.uidvalidity;
        pg_debug(ctx,
                 "event=appended mailbox_id=%" PRId64 " uid=%u size=%" PRIu64,
                 app->mailbox_id, row.uidnext, app->written);
    }
out:
    pg_conn_put(ctx, &c);
    free(keywords);
    append_free(app);
    return ret;
}

void pg_append_abort(void *handle)
{
    append_free(handle);
}
