/* SPDX-License-Identifier: MIT */
/* The SQL mail store: quotas (RFC 9208), one quota root per account.
 *
 * Usage is three counters on the account's row (bytes and count of its
 * messages, its selectable mailboxes) that the schema's triggers change in
 * the transaction of every change, so that GETQUOTA reads one row and the
 * check is exact. A writer that adds locks the account's row first
 * (ACCT_QUOTA_LOCK), before any mailbox row, and checks what it adds
 * against the counters it reads there: writers of one account take turns
 * on every node (PostgreSQL's row lock; SQLite's one writer, where a group
 * commit's requests run one after another in one transaction and each
 * sees the counters the ones before it left), so two APPENDs racing near
 * the limit never both get in. Writers that only take away (EXPUNGE,
 * DELETE) lock it first too, for the same order of locks, and are never
 * refused. */
#include <stdlib.h>
#include <string.h>

#include "sqlstore-private.h"

/* The limit in force for a stored one: NULL the storage block's default
 * (0 there: none), negative none. */
static uint64_t limit_of(struct ph_sqlstore *s, struct ph_sql_cursor *cur,
                         int col, enum ph_quota_resource r, bool *own_r)
{
    *own_r = ph_sql_bytes(cur, col, NULL) != NULL;
    if (!*own_r) {
        uint64_t def = ph_storage_conf(s->inst)->quota[r];
        return def != 0 ? def : PH_QUOTA_UNLIMITED;
    }
    int64_t v = ph_sql_int(cur, col);
    return v < 0 ? PH_QUOTA_UNLIMITED : (uint64_t)v;
}

/* The account's row with stmt (ACCT_QUOTA or _LOCK): 0, or an error. */
static int quota_read(struct ph_sqlstore *s, struct ph_sql_conn *c, int stmt,
                      int64_t account_id, struct ph_quota *q,
                      const char **error_r)
{
    struct ph_sql_cursor *cur = NULL;
    memset(q, 0, sizeof(*q));
    int ret = ph_sql_query(c, stmt, &cur, error_r, PH_SQL_I(account_id));
    if (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NOT_FOUND,
                        "The account was deleted meanwhile", error_r);
    if (ret == 1) {
        for (int r = 0; r < PH_QUOTA_N; r++) {
            int64_t used = ph_sql_int(cur, r);
            q->usage[r] = used > 0 ? (uint64_t)used : 0;
            q->limit[r] = limit_of(s, cur, PH_QUOTA_N + r,
                                   (enum ph_quota_resource)r, &q->own[r]);
        }
        ret = 0;
    }
    ph_sql_close(&cur);
    return ret;
}

int sqls_quota_lock(struct ph_sqlstore *s, struct ph_sql_conn *c,
                    int64_t account_id, struct ph_quota *q,
                    const char **error_r)
{
    return quota_read(s, c, PH_SQS_ACCT_QUOTA_LOCK, account_id, q, error_r);
}

int sqls_quota_check(const struct ph_quota *q, const uint64_t add[PH_QUOTA_N],
                     const char **error_r)
{
    static const char *const texts[PH_QUOTA_N] = {
        [PH_QUOTA_STORAGE] = "Quota exceeded (storage)",
        [PH_QUOTA_MESSAGE] = "Quota exceeded (messages)",
        [PH_QUOTA_MAILBOX] = "Quota exceeded (mailboxes)",
    };
    for (int r = 0; r < PH_QUOTA_N; r++)
        if (add[r] > 0 && q->limit[r] != PH_QUOTA_UNLIMITED &&
            (q->usage[r] > q->limit[r] || add[r] > q->limit[r] - q->usage[r]))
            return sqls_fail(PH_STORAGE_ERR_OVERQUOTA, texts[r], error_r);
    return 0;
}

int sqls_quota_grew(struct ph_sqlstore *s, struct ph_sql_conn *c,
                    int64_t account_id, const struct ph_quota *before,
                    const char **error_r)
{
    struct ph_quota after;
    uint64_t add[PH_QUOTA_N] = {0};
    int ret = quota_read(s, c, PH_SQS_ACCT_QUOTA, account_id, &after, error_r);
    if (ret < 0)
        return ret;
    for (int r = 0; r < PH_QUOTA_N; r++)
        if (after.usage[r] > before->usage[r])
            add[r] = after.usage[r] - before->usage[r];
    return sqls_quota_check(before, add, error_r);
}

int sqls_quota_get(struct ph_account *acct, struct ph_quota *quota_r,
                   const char **error_r)
{
    struct sqls_account *a = (struct sqls_account *)acct;
    struct ph_sql_conn *c = NULL;
    int ret = ph_sql_get(a->s->sql, &c, error_r);
    if (ret == 0)
        ret = quota_read(a->s, c, PH_SQS_ACCT_QUOTA, a->id, quota_r, error_r);
    ph_sql_put(a->s->sql, &c);
    return ret;
}

struct quota_set_op {
    struct ph_sqlstore *s;
    const char *name;
    const uint64_t *limit;
};

/* What a stored limit becomes: NULL (the default), -1 (none) or a value
 * (a limit past INT64_MAX is none: nothing holds that much). */
static struct ph_sql_value limit_value(uint64_t want, const struct ph_quota *q,
                                       int r)
{
    if (want == PH_QUOTA_KEEP)
        want = !q->own[r] ? PH_QUOTA_DEFAULT : q->limit[r];
    if (want == PH_QUOTA_DEFAULT)
        return (struct ph_sql_value){.type = PH_SQL_NULL};
    if (want > (uint64_t)INT64_MAX)
        return PH_SQL_I(-1);
    return PH_SQL_I((int64_t)want);
}

static int quota_set_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct quota_set_op *o = arg;
    struct ph_quota q;
    int64_t id = 0;
    uint64_t appendlimit;
    int ret = sqls_account_find(o->s, c, o->name, &id, &appendlimit, error_r);
    if (ret == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NO_ACCOUNT, "No such account", error_r);
    if (ret > 0)
        ret = sqls_quota_lock(o->s, c, id, &q, error_r);
    if (ret == 0)
        ret = ph_sql_exec(
            c, PH_SQS_ACCT_QUOTA_SET, error_r, PH_SQL_I(id),
            limit_value(o->limit[PH_QUOTA_STORAGE], &q, PH_QUOTA_STORAGE),
            limit_value(o->limit[PH_QUOTA_MESSAGE], &q, PH_QUOTA_MESSAGE),
            limit_value(o->limit[PH_QUOTA_MAILBOX], &q, PH_QUOTA_MAILBOX));
    return ret;
}

int sqls_quota_set(void *ctx, const char *name,
                   const uint64_t limit[PH_QUOTA_N], const char **error_r)
{
    struct quota_set_op o = {ctx, name != NULL ? name : "", limit};
    return ph_sql_txn(o.s->sql, PH_SQL_WRITE, 0, quota_set_txn, &o, error_r);
}
