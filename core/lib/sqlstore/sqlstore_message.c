/* SPDX-License-Identifier: MIT */
/* The SQL mail store: open mailboxes (fetch, read, store, copy, expunge,
 * changes, \Recent).
 *
 * No connection is held while a caller's callback runs: rows are read in
 * batches, the connection goes back to the pool, then the callbacks run.
 * So a callback may call storage again, and a slow client never pins a
 * connection or a transaction. Every write transaction reads the mailbox
 * row with its _LOCK statement before it reads UIDNEXT or HIGHESTMODSEQ:
 * where rows lock, that lock orders writers on different nodes. */
#include <stdlib.h>
#include <string.h>

#include "sqlstore-private.h"

static const struct ph_uid_range all_uids = {1, UINT32_MAX};

/* The ranges of set, or every UID for NULL. */
static const struct ph_uid_range *set_ranges(const struct ph_uidset *set,
                                             size_t *n_r)
{
    *n_r = set != NULL ? set->n : 1;
    return set != NULL ? set->r : &all_uids;
}

static struct sqls_mailbox *mbox(struct ph_mailbox *mb)
{
    return (struct sqls_mailbox *)mb;
}

/* ---- \Recent -------------------------------------------------------------- */

struct claim_op {
    struct sqls_mailbox *mb;
    struct sqls_mbox row; /* in: as read; out: as after the claim */
    uint32_t from, to;    /* out: what this handle took */
};

/* Moves recent_uid to UIDNEXT with a compare-and-set: of sessions racing
 * on any nodes, one moves it from each value; a loser reads the row again
 * and claims what is left, so every message below the UIDNEXT read first
 * is decided when this returns. */
static int claim_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct claim_op *o = arg;
    struct sqls_mbox row = o->row;
    o->from = o->to = 0;
    int ret = 0;
    while (ret == 0 && row.recent_uid < row.uidnext) {
        uint64_t won = 0;
        ret = ph_sql_exec_a(
            c, PH_SQS_MBOX_CLAIM_RECENT,
            PH_SQL_ARGS(PH_SQL_I(o->mb->id), PH_SQL_I(o->mb->pub.uidvalidity),
                        PH_SQL_I(row.recent_uid), PH_SQL_I(row.uidnext)),
            &won, error_r);
        if (ret == 0 && won > 0) {
            o->from = row.recent_uid;
            o->to = row.uidnext;
            row.recent_uid = row.uidnext;
            break;
        }
        if (ret == 0)
            ret = sqls_mb_row(o->mb, c, PH_SQS_MBOX_BY_ID, &row, error_r);
    }
    if (ret == 0)
        o->row = row;
    return ret;
}

/* Takes \Recent for the UIDs no session has claimed below row->uidnext
 * (RFC 3501 2.3.1.4), or, read-only, shows them and takes nothing (6.3.2:
 * EXAMINE must not cause messages to lose \Recent). What a handle took or
 * showed once it keeps. */
static int recent_decide(struct sqls_mailbox *mb, struct sqls_mbox *row,
                         const char **error_r)
{
    if (row->recent_uid >= row->uidnext) /* recent_uid never goes back */
        return 0;
    if (mb->pub.readonly) {
        ph_uidset_add_range(&mb->recent, row->recent_uid, row->uidnext - 1);
        return 0;
    }
    struct claim_op o = {.mb = mb, .row = *row};
    int ret = ph_sql_txn(mb->s->sql, PH_SQL_WRITE_ONE, 0, claim_txn, &o,
                         error_r);
    if (ret == 0 && o.from < o.to)
        ph_uidset_add_range(&mb->recent, o.from, o.to - 1);
    if (ret == 0)
        *row = o.row;
    return ret;
}

/* ---- Opening --------------------------------------------------------------- */

int sqls_mailbox_open(struct ph_account *acct, const char *name, bool readonly,
                      struct ph_mailbox **mb_r, const char **error_r)
{
    struct sqls_account *a = (struct sqls_account *)acct;
    struct ph_sql_conn *c = NULL;
    struct sqls_mbox row = {0};
    int ret = 0;
    char *canon = sqls_name(name, &ret, error_r);
    if (canon == NULL)
        return ret;
    if ((ret = ph_sql_get(a->s->sql, &c, error_r)) == 0)
        ret = sqls_mbox_get(c, PH_SQS_MBOX_BY_NAME, a->id, canon, &row,
                            error_r);
    ph_sql_put(a->s->sql, &c);
    if (ret == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NOT_FOUND, "Mailbox does not exist",
                        error_r);
    else if (ret > 0 && row.noselect)
        ret = sqls_fail(PH_STORAGE_ERR_NOT_ALLOWED,
                        "Mailbox is not selectable", error_r);
    if (ret < 0) {
        free(canon);
        return ret;
    }
    struct sqls_mailbox *mb = ph_calloc(1, sizeof(*mb));
    mb->pub.v = &ph_sqlstore_vfuncs;
    mb->pub.acct = acct;
    mb->pub.name = canon;
    mb->pub.uidvalidity = row.uidvalidity;
    mb->pub.readonly = readonly;
    mb->s = a->s;
    mb->id = row.id;
    mb->account_id = a->id;
    ret = recent_decide(mb, &row, error_r);
    if (ret < 0) {
        sqls_mailbox_close(&mb->pub);
        return ret;
    }
    *mb_r = &mb->pub;
    return 0;
}

void sqls_mailbox_close(struct ph_mailbox *pub)
{
    struct sqls_mailbox *mb = mbox(pub);
    sqls_watch_remove(mb);
    ph_uidset_clear(&mb->recent);
    free(mb->pub.name);
    free(mb);
}

/* ---- Reading --------------------------------------------------------------- */

/* Hands out the rows of r that stmt reads (its arguments: mailbox_id, lo,
 * hi, limit, then more's nmore), a batch per connection, none held while
 * cb runs. *checked: the mailbox row was read (once is enough). */
static int rows_batches(struct sqls_mailbox *mb, int stmt, int ncols,
                        struct ph_uid_range r, const struct ph_sql_value *more,
                        size_t nmore, bool *checked, ph_meta_cb *cb, void *arg,
                        const char **error_r)
{
    struct msg_rows rows = {0};
    struct ph_sql_value v[7] = {
        PH_SQL_I(mb->id), {0}, PH_SQL_I(r.hi), PH_SQL_I(SQLS_BATCH)};
    memcpy(v + 4, more, nmore * sizeof(*more));
    int ret = 0;
    for (uint64_t next = r.lo; ret == 0 && next <= r.hi;) {
        struct ph_sql_conn *c = NULL;
        struct ph_sql_cursor *cur = NULL;
        struct sqls_mbox row;
        v[1] = PH_SQL_I(next);
        if ((ret = ph_sql_get(mb->s->sql, &c, error_r)) < 0)
            break;
        if (!*checked)
            ret = sqls_mb_row(mb, c, PH_SQS_MBOX_BY_ID, &row, error_r);
        *checked = true;
        if (ret == 0)
            ret = ph_sql_query_a(c, stmt, 4 + nmore, v, &cur, error_r);
        if (ret == 0)
            ret = sqls_rows_read(cur, ncols, &rows, error_r);
        ph_sql_close(&cur);
        ph_sql_put(mb->s->sql, &c);
        if (ret == 0)
            ret = sqls_rows_deliver(mb, &rows, cb, arg);
        next = rows.n < SQLS_BATCH ? (uint64_t)r.hi + 1
                                   : (uint64_t)rows.v[rows.n - 1].uid + 1;
        sqls_rows_clear(&rows);
    }
    return ret;
}

int sqls_fetch(struct ph_mailbox *pub, const struct ph_uidset *set,
               unsigned what, ph_meta_cb *cb, void *arg, const char **error_r)
{
    size_t nranges;
    const struct ph_uid_range *ranges = set_ranges(set, &nranges);
    bool checked = false;
    int ret = 0;
    int stmt = what & PH_META_FETCH  ? PH_SQS_MSG_RANGE_FETCH
               : what & PH_META_INFO ? PH_SQS_MSG_RANGE_INFO
                                     : PH_SQS_MSG_RANGE;
    int ncols = what & PH_META_FETCH ? 12 : what & PH_META_INFO ? 9 : 8;
    struct ph_sql_value more[3] = {PH_SQL_I((what & PH_META_INFO) != 0),
                                   PH_SQL_I((what & PH_META_FETCH) != 0),
                                   PH_SQL_I((what & PH_META_PREVIEW) != 0)};
    size_t nmore = stmt == PH_SQS_MSG_RANGE_FETCH;
    if (what & (PH_META_OBJECTID | PH_META_PREVIEW)) {
        stmt = PH_SQS_MSG_RANGE_OBJECTS;
        ncols = 15;
        nmore = 3;
    }
    if (what & PH_META_GHOSTS) {
        if (!mbox(pub)->s->ghosts)
            return 0;
        stmt = PH_SQS_MSG_GHOSTS;
        ncols = 15;
        nmore = 3;
    }
    for (size_t i = 0; i < nranges && ret == 0; i++)
        ret = rows_batches(mbox(pub), stmt, ncols, ranges[i], more, nmore,
                           &checked, cb, arg, error_r);
    return ret;
}

int sqls_read(struct ph_mailbox *pub, uint32_t uid, uint64_t offset,
              uint64_t len, ph_data_cb *cb, void *arg, const char **error_r)
{
    struct sqls_mailbox *mb = mbox(pub);
    struct ph_sqlstore *s = mb->s;
    struct ph_sql_conn *c = NULL;
    struct ph_sql_cursor *cur = NULL;
    int64_t body_id = 0;
    uint64_t size = 0;
    int ret = ph_sql_get(s->sql, &c, error_r);
    if (ret == 0)
        ret = ph_sql_query(c, PH_SQS_MSG_BODY, &cur, error_r, PH_SQL_I(mb->id),
                           PH_SQL_I(uid));
    /* Expunged: a ghost while its body stays (RFC 2180 4.1.1). */
    if (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 0 && s->ghosts) {
        ph_sql_close(&cur);
        ret = ph_sql_query(c, PH_SQS_TOMB_BODY, &cur, error_r, PH_SQL_I(mb->id),
                           PH_SQL_I(uid));
        if (ret == 0)
            ret = ph_sql_next(cur, error_r);
    }
    if (ret == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NOT_FOUND, "No such message", error_r);
    if (ret == 1) {
        body_id = ph_sql_int(cur, 0);
        size = (uint64_t)ph_sql_int(cur, 1);
        ret = 0;
    }
    ph_sql_close(&cur);
    ph_sql_put(s->sql, &c);
    uint64_t end = offset > size ? size : offset;
    end += len < size - end ? len : size - end;
    size_t chunk = s->d->chunk_size;
    char *buf = ret == 0 && end > offset ? ph_malloc(chunk) : NULL;
    /* A connection per chunk: none is held while the caller writes to a
     * slow client. The bytes outlive the message by body_grace, so a
     * message expunged meanwhile still reads to its end. */
    for (uint64_t pos = offset; pos < end && ret == 0;) {
        uint64_t base = pos / chunk * chunk;
        size_t n = (size_t)((end < base + chunk ? end : base + chunk) - pos);
        if ((ret = ph_sql_get(s->sql, &c, error_r)) < 0)
            break;
        ret = sqls_body_read(s, c, body_id, size, pos, buf, n, error_r);
        ph_sql_put(s->sql, &c);
        if (ret == 0)
            ret = cb(arg, buf, n);
        pos += n;
    }
    free(buf);
    return ret;
}

/* ---- Writing --------------------------------------------------------------- */

/* Collects the rows of set, in the caller's transaction. */
static int rows_collect(struct sqls_mailbox *mb, struct ph_sql_conn *c,
                        const struct ph_uidset *set, struct msg_rows *rows,
                        const char **error_r)
{
    size_t nranges;
    const struct ph_uid_range *ranges = set_ranges(set, &nranges);
    int ret = 0;
    for (size_t i = 0; i < nranges && ret == 0; i++) {
        struct ph_sql_cursor *cur = NULL;
        ret = ph_sql_query(c, PH_SQS_MSG_RANGE, &cur, error_r, PH_SQL_I(mb->id),
                           PH_SQL_I(ranges[i].lo), PH_SQL_I(ranges[i].hi),
                           PH_SQL_I(INT64_MAX));
        if (ret == 0)
            ret = sqls_rows_read(cur, 8, rows, error_r);
        ph_sql_close(&cur);
    }
    return ret;
}

struct store_op {
    struct sqls_mailbox *mb;
    const struct ph_uidset *set;
    enum ph_store_op op;
    const struct ph_flags *flags;
    uint64_t unchangedsince;
    struct msg_rows changed; /* out */
    uint32_t *mod;           /* out: UNCHANGEDSINCE failed for these */
    size_t nmod, mod_cap;
};

static int store_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct store_op *o = arg;
    struct msg_rows rows = {0};
    struct sqls_mbox row = {0};
    sqls_rows_clear(&o->changed);
    o->nmod = 0;
    int ret = sqls_mb_row(o->mb, c, PH_SQS_MBOX_BY_ID_LOCK, &row, error_r);
    if (ret == 0)
        ret = rows_collect(o->mb, c, o->set, &rows, error_r);
    uint64_t modseq = row.highestmodseq + 1;
    for (size_t i = 0; i < rows.n && ret == 0; i++) {
        struct msg_row *r = &rows.v[i];
        if (o->unchangedsince != 0 && r->modseq > o->unchangedsince) {
            ph_array_grow(&o->mod, &o->mod_cap, o->nmod + 1, sizeof(*o->mod));
            o->mod[o->nmod++] = r->uid;
            continue;
        }
        if (!ph_flags_apply(&r->flags, &r->keywords, o->op, o->flags))
            continue;
        r->modseq = modseq;
        ret = ph_sql_exec(c, PH_SQS_MSG_SET_FLAGS, error_r, PH_SQL_I(o->mb->id),
                          PH_SQL_I(r->uid), PH_SQL_I(r->flags),
                          PH_SQL_S(r->keywords), PH_SQL_I(modseq));
        ph_array_grow(&o->changed.v, &o->changed.cap, o->changed.n + 1,
                      sizeof(*o->changed.v));
        o->changed.v[o->changed.n++] = *r;
        *r = (struct msg_row){0};
    }
    if (ret == 0 && o->changed.n > 0) {
        ret = ph_sql_exec(c, PH_SQS_MBOX_SET_MODSEQ, error_r,
                          PH_SQL_I(o->mb->id), PH_SQL_I(modseq));
        ph_sql_mark(c, o->mb->id);
    }
    sqls_rows_clear(&rows);
    return ret;
}

int sqls_store(struct ph_mailbox *pub, const struct ph_uidset *set,
               enum ph_store_op op, const struct ph_flags *flags,
               uint64_t unchangedsince, struct ph_uidset *modified_r,
               ph_meta_cb *cb, void *arg, const char **error_r)
{
    struct store_op o = {.mb = mbox(pub),
                         .set = set,
                         .op = op,
                         .flags = flags,
                         .unchangedsince = unchangedsince};
    int ret = ph_flags_check(flags, error_r);
    if (ret == 0)
        ret = ph_sql_txn(o.mb->s->sql, PH_SQL_WRITE_LIGHT, 0, store_txn, &o,
                         error_r);
    if (ret == 0 && modified_r != NULL)
        sqls_uidset_add_many(modified_r, o.mod, o.nmod);
    /* After the commit, with no connection held. */
    if (ret == 0 && cb != NULL)
        ret = sqls_rows_deliver(o.mb, &o.changed, cb, arg);
    sqls_rows_clear(&o.changed);
    free(o.mod);
    return ret;
}

/* Deletes uids of mailbox id, leaving tombstones at modseq: with the
 * messages' rows where the driver keeps ghosts (RFC 2180 4.1.1). */
static int expunge_rows(struct ph_sqlstore *s, struct ph_sql_conn *c,
                        int64_t id, const uint32_t *uids, size_t n,
                        uint64_t modseq, const char **error_r)
{
    if (n == 0)
        return 0;
    int ret = 0;
    if (s->ghosts)
        ret = ph_sql_exec(c, PH_SQS_TOMB_KEEP_UIDS, error_r, PH_SQL_I(id),
                          PH_SQL_U(uids, n), PH_SQL_I(modseq));
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_MSG_DELETE_UIDS, error_r, PH_SQL_I(id),
                          PH_SQL_U(uids, n));
    if (ret == 0 && !s->ghosts)
        ret = ph_sql_exec(c, PH_SQS_TOMB_INSERT_UIDS, error_r, PH_SQL_I(id),
                          PH_SQL_U(uids, n), PH_SQL_I(modseq));
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_MBOX_SET_MODSEQ, error_r, PH_SQL_I(id),
                          PH_SQL_I(modseq));
    ph_sql_mark(c, id);
    return ret;
}

struct copy_op {
    struct sqls_mailbox *mb;
    const struct ph_uidset *set;
    const char *dest;
    bool move;
    struct sqls_mbox dst; /* out */
    uint32_t *uids;       /* out: the sources, in order */
    size_t n;
};

/* Finds and locks dest; both rows are locked in id order, so that two
 * COPYs in opposite directions do not deadlock. */
static int copy_lock(struct copy_op *o, struct ph_sql_conn *c,
                     struct sqls_mbox *src, const char **error_r)
{
    int ret = sqls_mbox_get(c, PH_SQS_MBOX_BY_NAME, o->mb->account_id, o->dest,
                            &o->dst, error_r);
    int64_t dst_id = o->dst.id;
    if (ret == 1 && dst_id < o->mb->id)
        ret = sqls_mbox_get(c, PH_SQS_MBOX_BY_ID_LOCK, dst_id, NULL, &o->dst,
                            error_r);
    if (ret == 1 && (ret = sqls_mb_row(o->mb, c, PH_SQS_MBOX_BY_ID_LOCK, src,
                                       error_r)) == 0)
        ret = dst_id > o->mb->id
                  ? sqls_mbox_get(c, PH_SQS_MBOX_BY_ID_LOCK, dst_id, NULL,
                                  &o->dst, error_r)
                  : 1;
    if (ret == 0)
        return sqls_fail(PH_STORAGE_ERR_NOT_FOUND, "Mailbox does not exist",
                         error_r);
    if (ret == 1 && o->dst.noselect)
        return sqls_fail(PH_STORAGE_ERR_NOT_ALLOWED,
                         "Mailbox is not selectable", error_r);
    if (ret == 1 && o->dst.id == src->id)
        o->dst = *src;
    return ret < 0 ? ret : 0;
}

static int copy_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct copy_op *o = arg;
    struct msg_rows rows = {0};
    struct sqls_mbox src = {0};
    struct ph_quota q;
    o->n = 0;
    /* The account's row before the mailboxes' (sqlstore_quota.c). */
    int ret = sqls_quota_lock(o->mb->s, c, o->mb->account_id, &q, error_r);
    if (ret == 0)
        ret = copy_lock(o, c, &src, error_r);
    if (ret == 0)
        ret = rows_collect(o->mb, c, o->set, &rows, error_r);
    /* A MOVE stays in the account: it changes no usage. */
    if (ret == 0 && !o->move) {
        uint64_t add[PH_QUOTA_N] = {[PH_QUOTA_MESSAGE] = rows.n};
        for (size_t i = 0; i < rows.n; i++)
            add[PH_QUOTA_STORAGE] += rows.v[i].size;
        ret = sqls_quota_check(&q, add, error_r);
    }
    if (ret == 0 && (uint64_t)o->dst.uidnext + rows.n > UINT32_MAX)
        ret = sqls_fail(PH_STORAGE_ERR_LIMIT,
                        "Destination mailbox has run out of UIDs", error_r);
    uint32_t uid = o->dst.uidnext;
    uint64_t modseq = o->dst.highestmodseq + 1;
    o->uids = ph_realloc(o->uids, (rows.n + 1) * sizeof(*o->uids));
    for (size_t i = 0; i < rows.n && ret == 0; i++) {
        const struct msg_row *r = &rows.v[i];
        ret = ph_sql_exec(c, PH_SQS_MSG_INSERT, error_r, PH_SQL_I(o->dst.id),
                          PH_SQL_I(uid++), PH_SQL_I(modseq),
                          PH_SQL_I(r->flags), PH_SQL_S(r->keywords),
                          PH_SQL_I(r->internal_date),
                          PH_SQL_I(r->internal_tz), PH_SQL_I(r->size),
                          PH_SQL_I(r->body_id));
        o->uids[o->n++] = r->uid;
    }
    if (ret == 0 && rows.n > 0) {
        ret = ph_sql_exec(c, PH_SQS_MBOX_SET_NEXT, error_r, PH_SQL_I(o->dst.id),
                          PH_SQL_I(uid), PH_SQL_I(modseq));
        ph_sql_mark(c, o->dst.id);
    }
    if (ret == 0 && o->move)
        ret = expunge_rows(o->mb->s, c, src.id, o->uids, o->n,
                           src.highestmodseq + 1, error_r);
    sqls_rows_clear(&rows);
    return ret;
}

int sqls_copy(struct ph_mailbox *pub, const struct ph_uidset *set,
              const char *dest, bool move, struct ph_uidset *src_r,
              struct ph_uidset *dst_r, uint32_t *dest_uidvalidity_r,
              const char **error_r)
{
    int ret = 0;
    struct copy_op o = {.mb = mbox(pub), .set = set, .move = move};
    char *canon = sqls_name(dest, &ret, error_r);
    if (canon == NULL)
        return ret;
    o.dest = canon;
    ret = ph_sql_txn(o.mb->s->sql, PH_SQL_WRITE, 0, copy_txn, &o, error_r);
    if (ret == 0) {
        if (move && o.n > 0)
            sqls_sweep_maybe(o.mb->s);
        if (dst_r != NULL && o.n > 0)
            ph_uidset_add_range(dst_r, o.dst.uidnext,
                                o.dst.uidnext + (uint32_t)(o.n - 1));
        if (src_r != NULL)
            sqls_uidset_add_many(src_r, o.uids, o.n);
        if (dest_uidvalidity_r != NULL)
            *dest_uidvalidity_r = o.dst.uidvalidity;
    }
    free(o.uids);
    free(canon);
    return ret;
}

struct expunge_op {
    struct sqls_mailbox *mb;
    const struct ph_uidset *set;
    struct ph_uidset gone; /* out */
};

static int expunge_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct expunge_op *o = arg;
    struct sqls_mbox row;
    size_t nranges;
    const struct ph_uid_range *ranges = set_ranges(o->set, &nranges);
    struct ph_quota q;
    ph_uidset_clear(&o->gone);
    /* Never refused, but the account's row first all the same: the
     * triggers change its counters (sqlstore_quota.c). */
    int ret = sqls_quota_lock(o->mb->s, c, o->mb->account_id, &q, error_r);
    if (ret == 0)
        ret = sqls_mb_row(o->mb, c, PH_SQS_MBOX_BY_ID_LOCK, &row, error_r);
    for (size_t i = 0; i < nranges && ret == 0; i++) {
        struct ph_sql_cursor *cur = NULL;
        ret = ph_sql_query(c, PH_SQS_MSG_DELETED, &cur, error_r,
                           PH_SQL_I(o->mb->id), PH_SQL_I(ranges[i].lo),
                           PH_SQL_I(ranges[i].hi));
        if (ret == 0)
            ret = sqls_uids_read(&cur, &o->gone, error_r);
        ph_sql_close(&cur);
    }
    uint64_t n = ph_uidset_count(&o->gone);
    uint32_t *uids = ph_malloc((n + 1) * sizeof(*uids));
    size_t k = 0;
    for (size_t i = 0; i < o->gone.n; i++)
        for (uint64_t u = o->gone.r[i].lo; u <= o->gone.r[i].hi; u++)
            uids[k++] = (uint32_t)u;
    if (ret == 0)
        ret = expunge_rows(o->mb->s, c, o->mb->id, uids, k,
                           row.highestmodseq + 1, error_r);
    free(uids);
    return ret;
}

int sqls_expunge(struct ph_mailbox *pub, const struct ph_uidset *set,
                 struct ph_uidset *expunged_r, const char **error_r)
{
    struct expunge_op o = {.mb = mbox(pub), .set = set};
    int ret = ph_sql_txn(o.mb->s->sql, PH_SQL_WRITE_LIGHT, 0, expunge_txn, &o,
                         error_r);
    if (ret == 0 && o.gone.n > 0) {
        sqls_sweep_maybe(o.mb->s);
        for (size_t i = 0; expunged_r != NULL && i < o.gone.n; i++)
            ph_uidset_add_range(expunged_r, o.gone.r[i].lo, o.gone.r[i].hi);
    }
    ph_uidset_clear(&o.gone);
    return ret;
}

/* ---- Changes --------------------------------------------------------------- */

static int row_cmp(const void *a, const void *b)
{
    const struct msg_row *x = a, *y = b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* No upper bound on the modseqs a read of changes returns (sqls_changes). */
#define CHANGES_UNBOUNDED INT64_MAX

/* Drops the rows (sorted by UID) at or above uidnext, and says whether any
 * row is left. */
static bool rows_below(struct msg_rows *rows, uint32_t uidnext)
{
    while (rows->n > 0 && rows->v[rows->n - 1].uid >= uidnext)
        sqls_row_free(&rows->v[--rows->n]);
    return rows->n > 0;
}

/* ---- Shared reads: each change read once per wake-up ---------------------
 *
 * A change wakes every session of this process that watches the mailbox,
 * and each asks changes() from where it was, mostly the same modseq. The
 * first reads the changed rows and tombstones; the others wait for it and
 * take their part of what it read. An entry holds what one statement saw
 * above from, after the mailbox row said HIGHESTMODSEQ to; it answers a
 * caller at modseq (from <= modseq <= to) whose row says to as well: the
 * rows with a modseq above modseq in that snapshot are what the caller's
 * own read could have answered (sqls_changes says why that is whole).
 * Each session still reads the mailbox row (one key lookup). */

static void shared_reset(struct sqls_shared *e)
{
    if (e->rows != NULL)
        sqls_rows_clear(e->rows);
    free(e->rows);
    free(e->gone);
    free(e->gone_modseq);
    *e = (struct sqls_shared){0};
}

void sqls_shared_clear(struct ph_sqlstore *s)
{
    for (size_t i = 0; i < SQLS_SHARED; i++)
        shared_reset(&s->shared[i]);
}

static void rows_copy(struct msg_rows *to, const struct msg_rows *from,
                      uint64_t after)
{
    for (size_t i = 0; i < from->n; i++) {
        if (from->v[i].modseq <= after)
            continue;
        ph_array_grow(&to->v, &to->cap, to->n + 1, sizeof(*to->v));
        struct msg_row *r = &to->v[to->n++];
        *r = from->v[i];
        r->keywords = r->keywords != NULL ? ph_strdup(r->keywords) : NULL;
    }
}

/* The changes of mb in (modseq, row->highestmodseq] from an entry (true),
 * or false with *fill_r the entry the caller fills (NULL: none free). */
static bool shared_take(struct sqls_mailbox *mb, const struct sqls_mbox *row,
                        uint64_t modseq, struct msg_rows *rows,
                        uint32_t **gone, size_t *ngone, size_t *gone_cap,
                        struct sqls_shared **fill_r)
{
    struct ph_sqlstore *s = mb->s;
    struct sqls_shared *e = NULL, *victim = NULL;
    pthread_mutex_lock(&s->shared_lock);
    for (;;) {
        e = NULL;
        victim = NULL;
        for (size_t i = 0; i < SQLS_SHARED; i++) {
            struct sqls_shared *x = &s->shared[i];
            if (x->mailbox_id == mb->id && x->uidvalidity == row->uidvalidity &&
                x->to == row->highestmodseq && x->from <= modseq)
                e = x;
            else if (!x->filling && (victim == NULL || x->used < victim->used))
                victim = x;
        }
        if (e == NULL || !e->filling)
            break;
        pthread_cond_wait(&s->shared_cond, &s->shared_lock);
    }
    if (e != NULL) {
        e->used = ++s->shared_tick;
        rows_copy(rows, e->rows, modseq);
        for (size_t i = 0; i < e->ngone; i++) {
            if (e->gone_modseq[i] <= modseq)
                continue;
            ph_array_grow(gone, gone_cap, *ngone + 1, sizeof(**gone));
            (*gone)[(*ngone)++] = e->gone[i];
        }
    } else if (victim != NULL) {
        shared_reset(victim);
        *victim = (struct sqls_shared){.mailbox_id = mb->id,
                                       .uidvalidity = row->uidvalidity,
                                       .from = modseq,
                                       .to = row->highestmodseq,
                                       .filling = true,
                                       .used = ++s->shared_tick};
    }
    pthread_mutex_unlock(&s->shared_lock);
    *fill_r = e == NULL ? victim : NULL;
    return e != NULL;
}

/* The filler's read, kept when it is whole (rows: sorted, not yet handed
 * out), or the entry dropped; the waiting sessions go on either way. */
static void shared_done(struct ph_sqlstore *s, struct sqls_shared *e, bool ok,
                        const struct msg_rows *rows, const uint32_t *gone,
                        const uint64_t *gone_modseq, size_t ngone)
{
    pthread_mutex_lock(&s->shared_lock);
    if (ok) {
        e->rows = ph_calloc(1, sizeof(*e->rows));
        rows_copy(e->rows, rows, 0);
        e->ngone = ngone;
        e->gone = ph_malloc((ngone + 1) * sizeof(*e->gone));
        e->gone_modseq = ph_malloc((ngone + 1) * sizeof(*e->gone_modseq));
        if (ngone > 0) {
            memcpy(e->gone, gone, ngone * sizeof(*gone));
            memcpy(e->gone_modseq, gone_modseq, ngone * sizeof(*gone_modseq));
        }
        e->filling = false;
    } else {
        shared_reset(e);
    }
    pthread_cond_broadcast(&s->shared_cond);
    pthread_mutex_unlock(&s->shared_lock);
}

/* The tombstones after a modseq at or below tombstones_from were purged
 * (tombstone_horizon), so which UIDs went since is not known: *out gets
 * every UID below uidnext that the mailbox does not hold, a superset that
 * is still right (RFC 7162 3.2.5.2: the server MAY send VANISHED for UIDs
 * of the known set that no longer exist), never a wrong small answer. */
static int missing_uids(struct sqls_mailbox *mb, struct ph_sql_conn *c,
                        uint32_t uidnext, struct ph_uidset *out,
                        const char **error_r)
{
    struct ph_uidset present = {0};
    struct ph_sql_cursor *cur = NULL;
    if (uidnext <= 1)
        return 0;
    int ret = ph_sql_query(c, PH_SQS_MSG_UIDS, &cur, error_r,
                           PH_SQL_I(mb->id), PH_SQL_I(uidnext - 1));
    if (ret == 0)
        ret = sqls_uids_read(&cur, &present, error_r);
    ph_sql_close(&cur);
    uint64_t next = 1;
    for (size_t i = 0; ret == 0 && i <= present.n; i++) {
        uint64_t lo = i < present.n ? present.r[i].lo : uidnext;
        if (lo > next)
            ph_uidset_add_range(out, (uint32_t)next, (uint32_t)(lo - 1));
        if (i < present.n)
            next = (uint64_t)present.r[i].hi + 1;
    }
    ph_sqlstore_debug(mb->s, "event=changes_beyond_horizon mailbox_id=%" PRId64,
                      mb->id);
    ph_uidset_clear(&present);
    return ret;
}

/* What changed after modseq, up to at least H, the HIGHESTMODSEQ of the
 * mailbox row read first; H is what the caller asks from next time. No
 * transaction is needed, but the rows are not bounded by H: a message
 * whose flags changed after the row was read has a modseq above H by the
 * time the rows are read, and "modseq <= H" would leave it out; a caller
 * that builds its view from 0 (SELECT) would lack it for good, and one that
 * gets it next time would get it below UIDs it has already shown. Changes
 * commit in modseq order (under the mailbox lock, or by the one writer), so
 * a statement that sees a change sees all before it: every message there
 * was at H with a modseq above modseq comes, as it is in that snapshot.
 * What lies above H comes again next time (a repeated FETCH FLAGS), except
 * messages at or above the row's UIDNEXT: their \Recent is not decided
 * yet, and they come next time as new.
 *
 * Every session watching a mailbox comes here after each change to it, so
 * the usual answer costs two statements after the row: the tombstones and
 * the first batch of changed rows in one. Only more than a batch of
 * changed rows takes their UIDs first, then batches by UID range, so that
 * a changes() from 0 over a large mailbox reads each row once. */
int sqls_changes(struct ph_mailbox *pub, uint64_t modseq,
                 struct ph_uidset *expunged_r, uint64_t *highest_r,
                 ph_meta_cb *cb, void *arg, const char **error_r)
{
    struct sqls_mailbox *mb = mbox(pub);
    struct ph_sql *sql = mb->s->sql;
    struct ph_sql_conn *c = NULL;
    struct ph_sql_cursor *cur = NULL;
    struct sqls_mbox row = {0};
    struct msg_rows rows = {0};
    struct ph_uidset changed = {0};
    uint32_t *gone = NULL;
    size_t ngone = 0, gone_cap = 0, nrows = 0;
    int ret = ph_sql_get(sql, &c, error_r);
    if (ret == 0)
        ret = sqls_mb_row(mb, c, PH_SQS_MBOX_BY_ID, &row, error_r);
    /* \Recent is decided for every new message of the snapshot before any
     * is delivered: an APPEND after the row never reaches the caller
     * without it. */
    if (ret == 0 && row.recent_uid < row.uidnext) {
        ph_sql_put(sql, &c);
        ret = recent_decide(mb, &row, error_r);
        if (ret == 0)
            ret = ph_sql_get(sql, &c, error_r);
    }
    bool any = ret == 0 && modseq < row.highestmodseq &&
               (expunged_r != NULL || cb != NULL);
    /* Only a whole answer (rows and tombstones) is shared; one from
     * before the horizon is not: it reads every UID. */
    struct sqls_shared *fill = NULL;
    bool shared = false;
    uint64_t tombstones_from = row.tombstones_from;
    if (any && expunged_r != NULL && cb != NULL &&
        modseq >= tombstones_from) {
        ph_sql_put(sql, &c);
        shared = shared_take(mb, &row, modseq, &rows, &gone, &ngone,
                             &gone_cap, &fill);
        if (!shared)
            ret = ph_sql_get(sql, &c, error_r);
        ph_sqlstore_debug(mb->s, "event=changes_%s mailbox_id=%" PRId64
                          " from=%" PRIu64 " to=%" PRIu64,
                          shared ? "shared" : "read", mb->id, modseq,
                          row.highestmodseq);
    }
    if (any && !shared && ret == 0)
        ret = ph_sql_query(c, PH_SQS_MSG_CHANGES, &cur, error_r,
                           PH_SQL_I(mb->id), PH_SQL_I(modseq),
                           PH_SQL_I(CHANGES_UNBOUNDED),
                           PH_SQL_I(expunged_r != NULL), PH_SQL_I(cb != NULL),
                           PH_SQL_I(SQLS_BATCH));
    uint64_t *gone_modseq = NULL;
    size_t gm_cap = 0;
    while (any && !shared && ret == 0 &&
           (ret = ph_sql_next(cur, error_r)) == 1) {
        ret = 0;
        if (ph_sql_int(cur, 8) == 2) { /* in the tombstones' snapshot */
            uint64_t from = (uint64_t)ph_sql_int(cur, 1);
            tombstones_from = from > tombstones_from ? from : tombstones_from;
            continue;
        }
        if (ph_sql_int(cur, 8)) {
            ph_array_grow(&gone, &gone_cap, ngone + 1, sizeof(*gone));
            ph_array_grow(&gone_modseq, &gm_cap, ngone + 1,
                          sizeof(*gone_modseq));
            gone_modseq[ngone] = (uint64_t)ph_sql_int(cur, 1);
            gone[ngone++] = (uint32_t)ph_sql_int(cur, 0);
            continue;
        }
        sqls_row_add(cur, 8, &rows);
        nrows++;
    }
    ph_sql_close(&cur);
    /* No ORDER BY over the union: sorting here costs less. */
    if (rows.n > 1 && !shared)
        qsort(rows.v, rows.n, sizeof(*rows.v), row_cmp);
    bool horizon = any && expunged_r != NULL && modseq < tombstones_from;
    if (fill != NULL)
        shared_done(mb->s, fill, ret == 0 && nrows < SQLS_BATCH && !horizon,
                    &rows, gone, gone_modseq, ngone);
    free(gone_modseq);
    if (ret == 0 && horizon)
        ret = missing_uids(mb, c, row.uidnext, expunged_r, error_r);
    else if (ret == 0 && expunged_r != NULL)
        sqls_uidset_add_many(expunged_r, gone, ngone);
    if (ret == 0 && nrows == SQLS_BATCH) {
        ret = ph_sql_query(c, PH_SQS_MSG_CHANGED_AFTER, &cur, error_r,
                           PH_SQL_I(mb->id), PH_SQL_I(modseq),
                           PH_SQL_I(CHANGES_UNBOUNDED),
                           PH_SQL_I(rows.v[rows.n - 1].uid));
        if (ret == 0)
            ret = sqls_uids_read(&cur, &changed, error_r);
        ph_sql_close(&cur);
    }
    ph_sql_put(sql, &c);
    if (ret == 0 && rows_below(&rows, row.uidnext))
        ret = sqls_rows_deliver(mb, &rows, cb, arg);
    sqls_rows_clear(&rows);
    struct ph_sql_value span[2] = {PH_SQL_I(modseq),
                                   PH_SQL_I(CHANGES_UNBOUNDED)};
    bool checked = true;
    /* Sorted ranges: what lies at or above UIDNEXT waits (see above). */
    for (size_t i = 0; i < changed.n && ret == 0; i++) {
        struct ph_uid_range r = changed.r[i];
        if (r.lo >= row.uidnext)
            break;
        if (r.hi >= row.uidnext)
            r.hi = row.uidnext - 1;
        ret = rows_batches(mb, PH_SQS_MSG_CHANGED_RANGE, 8, r, span, 2,
                           &checked, cb, arg, error_r);
    }
    if (ret == 0 && highest_r != NULL)
        *highest_r = row.highestmodseq;
    ph_sql_put(sql, &c);
    sqls_rows_clear(&rows);
    ph_uidset_clear(&changed);
    free(gone);
    return ret;
}
