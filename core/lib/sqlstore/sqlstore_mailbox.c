/* SPDX-License-Identifier: MIT */
/* The SQL mail store: accounts and the mailbox hierarchy (list, create,
 * delete, rename, subscriptions, status).
 *
 * Where RFC 3501 leaves a choice: missing parents are created as ordinary
 * mailboxes; a \Noselect mailbox left without inferiors disappears; a
 * renamed mailbox keeps its UIDVALIDITY and its subscriptions follow it;
 * only an existing mailbox can be subscribed; new accounts have their
 * default mailboxes subscribed. A change to an account's hierarchy locks
 * the account's row first (where rows lock), so that two nodes creating,
 * renaming or deleting in one account take turns. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sqlstore-private.h"

#define ACCOUNT_NAME_MAX 255

static bool is_inbox(const char *canon)
{
    return strcmp(canon, "INBOX") == 0;
}

static const char *account_name_problem(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return "Account name is empty";
    size_t len = strlen(name);
    if (len > ACCOUNT_NAME_MAX)
        return "Account name is too long";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return "Account name contains control characters";
    return NULL;
}

static struct sqls_account *acct_of(struct ph_account *acct)
{
    return (struct sqls_account *)acct;
}

/* ---- Mailbox rows ----------------------------------------------------------
 */

static int mbox_insert(struct ph_sql_conn *c, int64_t account_id,
                       const char *name, uint32_t special_use, bool noselect,
                       int64_t *id_r, const char **error_r)
{
    int64_t uidvalidity = 0, id = 0;
    char objectid[SQLS_OBJECTID_LEN + 1];
    sqls_objectid_new('F', objectid);
    int ret = ph_sql_one(c, PH_SQS_UIDVALIDITY_NEXT, &uidvalidity, error_r,
                         PH_SQL_I((int64_t)time(NULL) & 0xffffffff));
    if (ret == 1)
        ret = ph_sql_one(c, PH_SQS_MBOX_INSERT, &id, error_r,
                         PH_SQL_I(account_id), PH_SQL_S(name),
                         PH_SQL_I(uidvalidity), PH_SQL_I(special_use),
                         PH_SQL_I(noselect), PH_SQL_S(objectid));
    if (ret == 0)
        ret = sqls_fail(PH_STORAGE_ERR_CORRUPTED, "Mail storage is damaged",
                        error_r);
    if (ret == 1 && id_r != NULL)
        *id_r = id;
    return ret < 0 ? ret : 0;
}

struct mbox_ref {
    int64_t id;
    char *name;
};

static void mbox_refs_free(struct mbox_ref *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

/* name's inferiors (names in ["name.", "name/"), '/' being the byte after
 * '.'), sorted; at most limit. */
static int mbox_inferiors(struct ph_sql_conn *c, int64_t account_id,
                          const char *name, int64_t limit,
                          struct mbox_ref **v_r, size_t *n_r,
                          const char **error_r)
{
    char *lo = ph_strdup_printf("%s.", name),
         *hi = ph_strdup_printf("%s/", name);
    struct ph_sql_cursor *cur = NULL;
    struct mbox_ref *v = NULL;
    size_t n = 0, cap = 0;
    int ret = ph_sql_query(c, PH_SQS_MBOX_RANGE, &cur, error_r,
                           PH_SQL_I(account_id), PH_SQL_S(lo), PH_SQL_S(hi),
                           PH_SQL_I(limit));
    while (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1) {
        ph_array_grow(&v, &cap, n + 2, sizeof(*v));
        v[n].id = ph_sql_int(cur, 0);
        v[n++].name = ph_sql_strdup(cur, 1);
        ret = 0;
    }
    ph_sql_close(&cur);
    free(lo);
    free(hi);
    *v_r = v;
    *n_r = n;
    return ret;
}

/* Does name have inferiors? 1 yes, 0 no, or an error. */
static int mbox_has_inferiors(struct ph_sql_conn *c, int64_t account_id,
                              const char *name, const char **error_r)
{
    struct mbox_ref *v = NULL;
    size_t n = 0;
    int ret = mbox_inferiors(c, account_id, name, 1, &v, &n, error_r);
    mbox_refs_free(v, n);
    return ret < 0 ? ret : n > 0;
}

/* Creates the missing parents of name as ordinary mailboxes. */
static int mbox_create_parents(struct ph_sql_conn *c, int64_t account_id,
                               const char *name, const char **error_r)
{
    char *parent = ph_strdup(name);
    int ret = 0;
    for (char *dot = strchr(parent, PH_STORAGE_DELIMITER);
         dot != NULL && ret == 0; dot = strchr(dot + 1, PH_STORAGE_DELIMITER)) {
        *dot = '\0';
        struct sqls_mbox row;
        ret = sqls_mbox_get(c, PH_SQS_MBOX_BY_NAME, account_id, parent, &row,
                            error_r);
        if (ret == 0)
            ret = mbox_insert(c, account_id, parent, 0, false, NULL, error_r);
        else if (ret == 1)
            ret = 0;
        *dot = PH_STORAGE_DELIMITER;
    }
    free(parent);
    return ret;
}

/* Creates name (with parents); a \Noselect placeholder of that name
 * becomes a real mailbox. */
static int mbox_make(struct ph_sql_conn *c, int64_t account_id,
                     const char *name, uint32_t special_use,
                     const char **error_r)
{
    struct sqls_mbox row = {0};
    int64_t uidvalidity = 0;
    int ret =
        sqls_mbox_get(c, PH_SQS_MBOX_BY_NAME, account_id, name, &row, error_r);
    if (ret == 1 && !row.noselect)
        return sqls_fail(PH_STORAGE_ERR_EXISTS, "Mailbox already exists",
                         error_r);
    if (ret == 1 &&
        (ret = ph_sql_one(c, PH_SQS_UIDVALIDITY_NEXT, &uidvalidity, error_r,
                          PH_SQL_I((int64_t)time(NULL) & 0xffffffff))) == 1) {
        /* RFC 8474 4: a mailbox with a new UIDVALIDITY is another one. */
        char objectid[SQLS_OBJECTID_LEN + 1];
        sqls_objectid_new('F', objectid);
        return ph_sql_exec(c, PH_SQS_MBOX_REVIVE, error_r, PH_SQL_I(row.id),
                           PH_SQL_I(uidvalidity), PH_SQL_I(special_use),
                           PH_SQL_S(objectid));
    }
    if (ret == 0)
        ret = mbox_create_parents(c, account_id, name, error_r);
    if (ret == 0)
        ret = mbox_insert(c, account_id, name, special_use, false, NULL,
                          error_r);
    return ret < 0 ? ret : 0;
}

/* Removes \Noselect ancestors of name left without inferiors: they only
 * existed to hold what is gone now. */
static int mbox_prune_parents(struct ph_sql_conn *c, int64_t account_id,
                              const char *name, const char **error_r)
{
    char *parent = ph_strdup(name);
    int ret = 0;
    char *dot;
    while (ret == 0 && (dot = strrchr(parent, PH_STORAGE_DELIMITER)) != NULL) {
        *dot = '\0';
        struct sqls_mbox row;
        ret = sqls_mbox_get(c, PH_SQS_MBOX_BY_NAME, account_id, parent, &row,
                            error_r);
        if (ret <= 0 || !row.noselect)
            break;
        ret = mbox_has_inferiors(c, account_id, parent, error_r);
        if (ret == 0)
            ret = ph_sql_exec(c, PH_SQS_MBOX_DELETE, error_r, PH_SQL_I(row.id));
    }
    free(parent);
    return ret < 0 ? ret : 0;
}

static int subscribe(struct ph_sql_conn *c, int64_t account_id,
                     const char *name, bool on, const char **error_r)
{
    return ph_sql_exec(c, on ? PH_SQS_SUB_ADD : PH_SQS_SUB_DEL, error_r,
                       PH_SQL_I(account_id), PH_SQL_S(name));
}

/* Locks the account's row for a hierarchy change. */
static int account_lock(struct ph_sql_conn *c, int64_t id, const char **error_r)
{
    int64_t found;
    int ret = ph_sql_one(c, PH_SQS_ACCT_LOCK, &found, error_r, PH_SQL_I(id));
    if (ret == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NOT_FOUND,
                        "The account was deleted meanwhile", error_r);
    return ret < 0 ? ret : 0;
}

/* ---- Accounts --------------------------------------------------------------
 */

int sqls_account_find(struct ph_sqlstore *s, struct ph_sql_conn *c,
                      const char *name, int64_t *id_r, uint64_t *limit_r,
                      const char **error_r)
{
    struct ph_sql_cursor *cur = NULL;
    int ret = ph_sql_query(c, PH_SQS_ACCT_GET, &cur, error_r, PH_SQL_S(name));
    if (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1) {
        *id_r = ph_sql_int(cur, 0);
        *limit_r = ph_sql_bytes(cur, 1, NULL) == NULL
                       ? ph_storage_conf(s->inst)->appendlimit
                       : (uint64_t)ph_sql_int(cur, 1);
    }
    ph_sql_close(&cur);
    return ret;
}

int sqls_account_get(void *ctx, const char *name, bool create,
                     struct ph_account **acct_r, const char **error_r)
{
    struct ph_sqlstore *s = ctx;
    struct ph_sql_conn *c = NULL;
    const char *problem = account_name_problem(name);
    int64_t id = 0;
    uint64_t limit = 0;
    (void)create; /* the core's (ph_storage_account_get) */
    if (problem != NULL)
        return sqls_fail(PH_STORAGE_ERR_INVALID, problem, error_r);
    int ret = ph_sql_get(s->sql, &c, error_r);
    if (ret == 0)
        ret = sqls_account_find(s, c, name, &id, &limit, error_r);
    ph_sql_put(s->sql, &c);
    if (ret == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NO_ACCOUNT, "No such account", error_r);
    if (ret < 0)
        return ret;
    struct sqls_account *a = ph_calloc(1, sizeof(*a));
    a->pub.v = &ph_sqlstore_vfuncs;
    a->pub.storage = s->inst;
    a->pub.name = ph_strdup(name);
    a->pub.appendlimit = limit;
    a->s = s;
    a->id = id;
    *acct_r = &a->pub;
    return 0;
}

void sqls_account_release(struct ph_account *acct)
{
    free(acct->name);
    free(acct);
}

struct create_op {
    struct ph_sqlstore *s;
    const char *name;
};

/* The account with INBOX and the default mailboxes, all subscribed (what
 * clients that show only subscribed folders need), in one transaction: a
 * crash leaves all or nothing. A node making the same account at the same
 * moment makes this one see EXISTS. */
static int create_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct create_op *o = arg;
    int64_t id = 0;
    int ret = ph_sql_one(c, PH_SQS_ACCT_INSERT, &id, error_r,
                         PH_SQL_S(o->name), PH_SQL_I(time(NULL)));
    if (ret == 0)
        return sqls_fail(PH_STORAGE_ERR_EXISTS, "Account already exists",
                         error_r);
    if (ret == 1)
        ret = mbox_insert(c, id, "INBOX", 0, false, NULL, error_r);
    if (ret == 0)
        ret = subscribe(c, id, "INBOX", true, error_r);
    const struct ph_storage_default_mailbox *v;
    size_t n = ph_storage_default_mailboxes(o->s->inst, &v);
    for (size_t i = 0; ret == 0 && i < n; i++) {
        ret = mbox_make(c, id, v[i].name, v[i].special_use, error_r);
        if (ret == PH_STORAGE_ERR_EXISTS)
            ret = 0; /* two defaults naming one mailbox, or a parent */
        if (ret == 0)
            ret = subscribe(c, id, v[i].name, true, error_r);
    }
    return ret;
}

int sqls_account_create(void *ctx, const char *name, const char **error_r)
{
    struct ph_sqlstore *s = ctx;
    struct create_op o = {s, name};
    const char *problem = account_name_problem(name);
    if (problem != NULL)
        return sqls_fail(PH_STORAGE_ERR_INVALID, problem, error_r);
    return ph_sql_txn(s->sql, PH_SQL_WRITE, 0, create_txn, &o, error_r);
}

static int delete_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct create_op *o = arg;
    int64_t id = 0;
    uint64_t limit;
    struct ph_sql_cursor *cur = NULL;
    int ret = sqls_account_find(o->s, c, o->name, &id, &limit, error_r);
    if (ret == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NO_ACCOUNT, "No such account", error_r);
    if (ret > 0)
        ret = account_lock(c, id, error_r);
    /* Sessions with one of its mailboxes open hear that it is gone. */
    if (ret == 0)
        ret = ph_sql_query(c, PH_SQS_ACCT_MAILBOX_IDS, &cur, error_r,
                           PH_SQL_I(id));
    while (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1) {
        ph_sql_mark(c, ph_sql_int(cur, 0));
        ret = 0;
    }
    ph_sql_close(&cur);
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_ACCT_DELETE, error_r, PH_SQL_I(id));
    return ret;
}

int sqls_account_delete(void *ctx, const char *name, const char **error_r)
{
    struct ph_sqlstore *s = ctx;
    struct create_op o = {s, name != NULL ? name : ""};
    int ret = ph_sql_txn(s->sql, PH_SQL_WRITE, 0, delete_txn, &o, error_r);
    if (ret == 0) {
        ph_log_info("mod=%s event=account_deleted account=%s", s->log_mod,
                    name);
        sqls_sweep_maybe(s);
    }
    return ret;
}

int sqls_account_list(void *ctx, struct ph_strlist *names_r,
                      const char **error_r)
{
    struct ph_sqlstore *s = ctx;
    struct ph_sql_conn *c = NULL;
    struct ph_sql_cursor *cur = NULL;
    int ret = ph_sql_get(s->sql, &c, error_r);
    if (ret == 0)
        ret = ph_sql_query(c, PH_SQS_ACCT_LIST, &cur, error_r);
    while (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1) {
        char *name = ph_sql_strdup(cur, 0);
        ph_strlist_add_owned(names_r, name);
        ret = 0;
    }
    ph_sql_close(&cur);
    ph_sql_put(s->sql, &c);
    return ret;
}

/* ---- Mailboxes -------------------------------------------------------------
 */

static int entry_cmp(const void *a, const void *b)
{
    const struct ph_mailbox_entry *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static struct ph_mailbox_entry *entry_find(struct ph_mailbox_entry *v, size_t n,
                                           const char *name)
{
    struct ph_mailbox_entry key = {.name = (char *)name};
    return bsearch(&key, v, n, sizeof(*v), entry_cmp);
}

int sqls_mailbox_list(struct ph_account *acct, struct ph_mailbox_list *list_r,
                      const char **error_r)
{
    struct sqls_account *a = acct_of(acct);
    struct ph_sql_conn *c = NULL;
    struct ph_sql_cursor *cur = NULL;
    struct ph_mailbox_entry *v = NULL;
    struct ph_strlist subs = {0};
    size_t n = 0, cap = 0;
    /* One statement, one snapshot: mailboxes and subscriptions agree. */
    int ret = ph_sql_get(a->s->sql, &c, error_r);
    if (ret == 0)
        ret = ph_sql_query(c, PH_SQS_MBOX_LIST, &cur, error_r, PH_SQL_I(a->id));
    while (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1) {
        ret = 0;
        if (ph_sql_int(cur, 0) != 0) {
            ph_strlist_add_owned(&subs, ph_sql_strdup(cur, 1));
            continue;
        }
        ph_array_grow(&v, &cap, n + 1, sizeof(*v));
        uint32_t attrs =
            (uint32_t)ph_sql_int(cur, 2) & PH_MBOX_SPECIAL_USE_MASK;
        if (ph_sql_int(cur, 3))
            attrs |= PH_MBOX_NOSELECT;
        v[n++] = (struct ph_mailbox_entry){ph_sql_strdup(cur, 1), attrs};
    }
    ph_sql_close(&cur);
    ph_sql_put(a->s->sql, &c);
    if (ret < 0) {
        list_r->v = v;
        list_r->n = n;
        ph_mailbox_list_clear(list_r);
        ph_strlist_clear(&subs);
        return ret;
    }
    /* Bytewise order (COLLATE "C", BINARY) is strcmp's: v is sorted. */
    for (size_t i = 0; i < n; i++) {
        const char *dot = strrchr(v[i].name, PH_STORAGE_DELIMITER);
        if (dot == NULL)
            continue;
        char *up = ph_strndup(v[i].name, (size_t)(dot - v[i].name));
        struct ph_mailbox_entry *parent = entry_find(v, n, up);
        free(up);
        if (parent != NULL)
            parent->attrs |= PH_MBOX_HASCHILDREN;
    }
    size_t nboxes = n;
    for (size_t i = 0; i < nboxes; i++)
        if (!(v[i].attrs & PH_MBOX_HASCHILDREN))
            v[i].attrs |= PH_MBOX_HASNOCHILDREN;
    for (size_t i = 0; i < subs.n; i++) {
        struct ph_mailbox_entry *e = entry_find(v, nboxes, subs.v[i]);
        if (e != NULL) {
            e->attrs |= PH_MBOX_SUBSCRIBED;
            continue;
        }
        ph_array_grow(&v, &cap, n + 1, sizeof(*v));
        v[n++] = (struct ph_mailbox_entry){
            ph_strdup(subs.v[i]), PH_MBOX_SUBSCRIBED | PH_MBOX_NONEXISTENT};
    }
    if (n > nboxes)
        qsort(v, n, sizeof(*v), entry_cmp);
    ph_strlist_clear(&subs);
    list_r->v = v;
    list_r->n = n;
    return 0;
}

/* The arguments of a hierarchy change. */
struct tree_op {
    struct ph_sqlstore *s;
    int64_t account_id;
    const char *name, *to;
    uint32_t special_use;
    bool on;
};

/* With the account's row locked, mailbox o->name's row (stmt: locked
 * or not): 1, or an error (NOT_FOUND without the mailbox). */
static int tree_mbox(struct ph_sql_conn *c, const struct tree_op *o, int stmt,
                     struct sqls_mbox *row, const char **error_r)
{
    int ret = account_lock(c, o->account_id, error_r);
    if (ret == 0)
        ret = sqls_mbox_get(c, stmt, o->account_id, o->name, row, error_r);
    if (ret == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NOT_FOUND, "Mailbox does not exist",
                        error_r);
    return ret;
}

static int create_mbox_txn(struct ph_sql_conn *c, void *arg,
                           const char **error_r)
{
    struct tree_op *o = arg;
    struct ph_quota q;
    int ret = sqls_quota_lock(o->s, c, o->account_id, &q, error_r);
    if (ret == 0)
        ret = mbox_make(c, o->account_id, o->name, o->special_use, error_r);
    /* The mailbox and any parent made with it count (QUOTA MAILBOX). */
    return ret < 0 ? ret : sqls_quota_grew(o->s, c, o->account_id, &q, error_r);
}

int sqls_mailbox_create(struct ph_account *acct, const char *name,
                        uint32_t special_use, const char **error_r)
{
    struct sqls_account *a = acct_of(acct);
    int ret = 0;
    char *canon = sqls_name(name, &ret, error_r);
    if (canon == NULL)
        return ret;
    struct tree_op o = {a->s, a->id, canon, NULL, special_use, false};
    if (is_inbox(canon))
        ret = sqls_fail(PH_STORAGE_ERR_EXISTS, "Mailbox already exists",
                        error_r);
    else if ((special_use & ~PH_MBOX_SPECIAL_USE_MASK) != 0 ||
             (special_use & (special_use - 1)) != 0)
        ret = sqls_fail(PH_STORAGE_ERR_INVALID, "Invalid special-use attribute",
                        error_r);
    else
        ret = ph_sql_txn(a->s->sql, PH_SQL_WRITE, 0, create_mbox_txn, &o,
                         error_r);
    if (ret == 0)
        ph_sqlstore_debug(a->s, "event=mailbox_created account=%s mailbox=%s",
                          acct->name, canon);
    free(canon);
    return ret;
}

static int delete_mbox_txn(struct ph_sql_conn *c, void *arg,
                           const char **error_r)
{
    struct tree_op *o = arg;
    struct sqls_mbox row = {0};
    int ret = tree_mbox(c, o, PH_SQS_MBOX_BY_NAME_LOCK, &row, error_r);
    int inferiors = 0;
    if (ret > 0)
        ret = inferiors = mbox_has_inferiors(c, o->account_id, o->name, error_r);
    if (ret >= 0 && inferiors && row.noselect)
        ret = sqls_fail(PH_STORAGE_ERR_NOT_ALLOWED,
                        "Mailbox has inferior mailboxes and is already "
                        "\\Noselect",
                        error_r);
    if (ret < 0)
        return ret;
    /* The row goes with its messages and tombstones (cascade); with
     * inferiors a \Noselect row of the same name holds their place. */
    ph_sql_mark(c, row.id);
    ret = ph_sql_exec(c, PH_SQS_MBOX_DELETE, error_r, PH_SQL_I(row.id));
    if (ret == 0)
        ret = inferiors
                  ? mbox_insert(c, o->account_id, o->name, 0, true, NULL,
                                error_r)
                  : mbox_prune_parents(c, o->account_id, o->name, error_r);
    return ret;
}

int sqls_mailbox_delete(struct ph_account *acct, const char *name,
                        const char **error_r)
{
    struct sqls_account *a = acct_of(acct);
    int ret = 0;
    char *canon = sqls_name(name, &ret, error_r);
    if (canon == NULL)
        return ret;
    struct tree_op o = {.account_id = a->id, .name = canon};
    if (is_inbox(canon))
        ret = sqls_fail(PH_STORAGE_ERR_NOT_ALLOWED, "INBOX cannot be deleted",
                        error_r);
    else
        ret = ph_sql_txn(a->s->sql, PH_SQL_WRITE, 0, delete_mbox_txn, &o,
                         error_r);
    if (ret == 0)
        sqls_sweep_maybe(a->s);
    free(canon);
    return ret;
}

/* RENAME INBOX: a new mailbox takes INBOX's messages (UIDs, flags and
 * modseqs kept), INBOX keeps its UIDVALIDITY and UIDNEXT, is left empty and
 * records the moved UIDs as expunged. */
static int rename_inbox(struct ph_sql_conn *c, int64_t account_id,
                        const struct sqls_mbox *inbox, const char *to,
                        const char **error_r)
{
    int64_t to_id = 0;
    int ret = mbox_create_parents(c, account_id, to, error_r);
    if (ret == 0)
        ret = mbox_insert(c, account_id, to, 0, false, &to_id, error_r);
    uint64_t modseq = inbox->highestmodseq + 1;
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_TOMB_FROM_MAILBOX, error_r,
                          PH_SQL_I(inbox->id), PH_SQL_I(modseq));
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_MSG_MOVE_ALL, error_r, PH_SQL_I(inbox->id),
                          PH_SQL_I(to_id));
    if (ret == 0)
        ret = ph_sql_exec(c, PH_SQS_MBOX_TAKE_OVER, error_r, PH_SQL_I(to_id),
                          PH_SQL_I(inbox->uidnext),
                          PH_SQL_I(inbox->highestmodseq),
                          PH_SQL_I(inbox->recent_uid));
    if (ret == 0 && inbox->messages > 0)
        ret = ph_sql_exec(c, PH_SQS_MBOX_SET_MODSEQ, error_r,
                          PH_SQL_I(inbox->id), PH_SQL_I(modseq));
    ph_sql_mark(c, to_id);
    return ret;
}

static int rename_tree(struct ph_sql_conn *c, int64_t account_id,
                       const struct sqls_mbox *from_row, const char *from,
                       const char *to, const char **error_r)
{
    struct mbox_ref *v = NULL;
    size_t n = 0;
    int ret = mbox_inferiors(c, account_id, from, INT32_MAX, &v, &n, error_r);
    if (ret < 0) {
        mbox_refs_free(v, n);
        return ret;
    }
    v = ph_realloc(v, (n + 1) * sizeof(*v));
    v[n++] = (struct mbox_ref){.id = from_row->id, .name = ph_strdup(from)};
    ret = mbox_create_parents(c, account_id, to, error_r);
    size_t from_len = strlen(from);
    for (size_t i = 0; i < n && ret == 0; i++) {
        char *new_name = ph_strdup_printf("%s%s", to, v[i].name + from_len);
        ret = ph_sql_exec(c, PH_SQS_MBOX_RENAME, error_r, PH_SQL_I(v[i].id),
                          PH_SQL_S(new_name));
        /* The subscription follows; one of the new name already there
         * stays as it is. */
        if (ret == 0)
            ret = ph_sql_exec(c, PH_SQS_SUB_RENAME, error_r,
                              PH_SQL_I(account_id), PH_SQL_S(v[i].name),
                              PH_SQL_S(new_name));
        free(new_name);
    }
    if (ret == 0)
        ret = mbox_prune_parents(c, account_id, from, error_r);
    mbox_refs_free(v, n);
    return ret;
}

static int rename_txn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct tree_op *o = arg;
    struct sqls_mbox from_row = {0}, to_row;
    struct ph_quota q;
    int ret = sqls_quota_lock(o->s, c, o->account_id, &q, error_r);
    if (ret == 0)
        ret = tree_mbox(c, o, PH_SQS_MBOX_BY_NAME_LOCK, &from_row, error_r);
    if (ret > 0)
        ret = sqls_mbox_get(c, PH_SQS_MBOX_BY_NAME, o->account_id, o->to,
                            &to_row, error_r);
    if (ret == 0)
        ret = mbox_has_inferiors(c, o->account_id, o->to, error_r);
    if (ret > 0)
        ret = sqls_fail(PH_STORAGE_ERR_EXISTS, "Mailbox already exists",
                        error_r);
    if (ret < 0)
        return ret;
    ph_sql_mark(c, from_row.id);
    ret =
        is_inbox(o->name)
            ? rename_inbox(c, o->account_id, &from_row, o->to, error_r)
            : rename_tree(c, o->account_id, &from_row, o->name, o->to, error_r);
    /* RENAME INBOX makes a mailbox, RENAME parents (QUOTA MAILBOX). */
    return ret < 0 ? ret : sqls_quota_grew(o->s, c, o->account_id, &q, error_r);
}

int sqls_mailbox_rename(struct ph_account *acct, const char *from,
                        const char *to, const char **error_r)
{
    struct sqls_account *a = acct_of(acct);
    int ret = 0;
    char *cfrom = sqls_name(from, &ret, error_r);
    char *cto = cfrom != NULL ? sqls_name(to, &ret, error_r) : NULL;
    if (cto != NULL) {
        size_t from_len = strlen(cfrom);
        struct tree_op o = {
            .s = a->s, .account_id = a->id, .name = cfrom, .to = cto};
        if (is_inbox(cto) || strcmp(cfrom, cto) == 0)
            ret = sqls_fail(PH_STORAGE_ERR_EXISTS, "Mailbox already exists",
                            error_r);
        else if (!is_inbox(cfrom) && strncmp(cto, cfrom, from_len) == 0 &&
                 cto[from_len] == PH_STORAGE_DELIMITER)
            ret = sqls_fail(PH_STORAGE_ERR_NOT_ALLOWED,
                            "Cannot rename a mailbox under itself", error_r);
        else
            ret = ph_sql_txn(a->s->sql, PH_SQL_WRITE, 0, rename_txn, &o,
                             error_r);
    }
    free(cfrom);
    free(cto);
    return ret;
}

static int subscribe_txn(struct ph_sql_conn *c, void *arg,
                         const char **error_r)
{
    struct tree_op *o = arg;
    struct sqls_mbox row;
    /* Only an existing mailbox can be subscribed (RFC 3501 6.3.6 lets the
     * server check); any name can be unsubscribed. */
    int ret = o->on ? tree_mbox(c, o, PH_SQS_MBOX_BY_NAME, &row, error_r)
                    : account_lock(c, o->account_id, error_r);
    return ret < 0 ? ret : subscribe(c, o->account_id, o->name, o->on, error_r);
}

int sqls_mailbox_subscribe(struct ph_account *acct, const char *name, bool on,
                           const char **error_r)
{
    struct sqls_account *a = acct_of(acct);
    int ret = 0;
    char *canon = sqls_name(name, &ret, error_r);
    if (canon == NULL)
        return ret;
    struct tree_op o = {.account_id = a->id, .name = canon, .on = on};
    ret = ph_sql_txn(a->s->sql, PH_SQL_WRITE, 0, subscribe_txn, &o, error_r);
    free(canon);
    return ret;
}

int sqls_mailbox_status(struct ph_account *acct, const char *name,
                        struct ph_mailbox_status *st_r, const char **error_r)
{
    struct sqls_account *a = acct_of(acct);
    struct ph_sql_conn *c = NULL;
    struct ph_sql_cursor *cur = NULL;
    int ret = 0;
    char *canon = sqls_name(name, &ret, error_r);
    if (canon == NULL)
        return ret;
    /* One statement: the counters and RECENT (messages no session has
     * claimed yet) from one snapshot. */
    if ((ret = ph_sql_get(a->s->sql, &c, error_r)) == 0)
        ret = ph_sql_query(c, PH_SQS_MBOX_STATUS, &cur, error_r,
                           PH_SQL_I(a->id), PH_SQL_S(canon));
    if (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 0)
        ret = sqls_fail(PH_STORAGE_ERR_NOT_FOUND, "Mailbox does not exist",
                        error_r);
    else if (ret == 1 && ph_sql_int(cur, 6))
        ret = sqls_fail(PH_STORAGE_ERR_NOT_ALLOWED,
                        "Mailbox is not selectable", error_r);
    if (ret == 1) {
        *st_r = (struct ph_mailbox_status){
            .messages = (uint32_t)ph_sql_int(cur, 0),
            .recent = (uint32_t)ph_sql_int(cur, 7),
            .uidnext = (uint32_t)ph_sql_int(cur, 1),
            .uidvalidity = (uint32_t)ph_sql_int(cur, 2),
            .unseen = (uint32_t)ph_sql_int(cur, 3),
            .highestmodseq = (uint64_t)ph_sql_int(cur, 4),
            .size = (uint64_t)ph_sql_int(cur, 5),
            .deleted = (uint32_t)ph_sql_int(cur, 9),
            .deleted_size = (uint64_t)ph_sql_int(cur, 10),
        };
        char *id = ph_sql_strdup(cur, 8);
        if (id != NULL && strlen(id) <= PH_OBJECTID_MAX)
            strcpy(st_r->mailboxid, id);
        free(id);
        ret = 0;
    }
    ph_sql_close(&cur);
    ph_sql_put(a->s->sql, &c);
    free(canon);
    return ret;
}
