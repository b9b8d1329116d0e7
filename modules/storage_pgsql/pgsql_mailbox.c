/* SPDX-License-Identifier: MIT */
/* storage.pgsql: accounts, delivery names, and the mailbox hierarchy
 * (list, create, delete, rename, subscriptions, status).
 *
 * The choices RFC 3501 leaves are storage.sqlite's (sqlite_mailbox.c).
 * Changes to an account's hierarchy lock the account's row first, so two
 * nodes creating, renaming or deleting in one account take turns. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <posthorn/log.h>
#include <posthorn/table.h>

#include "pgsql_private.h"

#define ACCOUNT_NAME_MAX 255

char *pg_name(const char *name, int *err_r, const char **error_r)
{
    const char *why = NULL;
    char *canon = name != NULL ? ph_mailbox_name_canonical(name, &why) : NULL;
    if (canon == NULL) {
        *error_r = pg_errorf("Invalid mailbox name: %s",
                             why != NULL ? why : "missing");
        *err_r = PH_STORAGE_ERR_INVALID;
    }
    return canon;
}

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

/* Locks the account's row for a hierarchy change (in a transaction). */
static int account_lock(struct pg_ctx *ctx, struct pg_conn *c, int64_t id,
                        const char **error_r)
{
    int err = 0;
    PGresult *res = pg_query(ctx, c, "account_lock",
                             "SELECT id FROM accounts WHERE id = $1 FOR UPDATE",
                             false, PG_ARGS(PA_I(id)), &err, error_r);
    if (res == NULL)
        return err;
    int n = PQntuples(res);
    PQclear(res);
    if (n == 0) {
        *error_r = "The account was deleted meanwhile";
        return PH_STORAGE_ERR_NOT_FOUND;
    }
    return 0;
}

/* ---- Mailbox rows ------------------------------------------------------- */

static int mbox_insert(struct pg_ctx *ctx, struct pg_conn *c,
                       int64_t account_id, const char *name,
                       uint32_t special_use, bool noselect, int64_t *id_r,
                       const char **error_r)
{
    uint32_t uidvalidity;
    int err = pg_next_uidvalidity(ctx, c, &uidvalidity, error_r);
    if (err < 0)
        return err;
    PGresult *res = pg_query(
        ctx, c, "mailbox_insert",
        "INSERT INTO mailboxes (account_id, name, uidvalidity, special_use, "
        "noselect) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        false,
        PG_ARGS(PA_I(account_id), PA_S(name), PA_I(uidvalidity),
                PA_I(special_use), PA_S(noselect ? "true" : "false")),
        &err, error_r);
    if (res == NULL)
        return err;
    if (id_r != NULL)
        *id_r = pg_int(res, 0, 0);
    PQclear(res);
    return 0;
}

/* name's inferiors (names in ["name.", "name/"), '/' being the byte after
 * '.'), sorted; with first_only, at most one. */
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

static int mbox_inferiors(struct pg_ctx *ctx, struct pg_conn *c,
                          int64_t account_id, const char *name, bool first_only,
                          struct mbox_ref **v_r, size_t *n_r,
                          const char **error_r)
{
    char *lo = ph_strdup_printf("%s.", name),
         *hi = ph_strdup_printf("%s/", name);
    int err = 0;
    PGresult *res =
        pg_query(ctx, c, "mailbox_inferiors",
                 "SELECT id, name FROM mailboxes WHERE account_id = $1 "
                 "AND name >= $2 AND name < $3 ORDER BY name LIMIT $4",
                 false,
                 PG_ARGS(PA_I(account_id), PA_S(lo), PA_S(hi),
                         PA_I(first_only ? 1 : INT32_MAX)),
                 &err, error_r);
    free(lo);
    free(hi);
    if (res == NULL)
        return err;
    size_t n = (size_t)PQntuples(res);
    struct mbox_ref *v = ph_calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        v[i].id = pg_int(res, (int)i, 0);
        v[i].name = ph_strdup(PQgetvalue(res, (int)i, 1));
    }
    PQclear(res);
    *v_r = v;
    *n_r = n;
    return 0;
}

/* Does name have inferiors? 1 yes, 0 no, or an error. */
static int mbox_has_inferiors(struct pg_ctx *ctx, struct pg_conn *c,
                              int64_t account_id, const char *name,
                              const char **error_r)
{
    struct mbox_ref *v = NULL;
    size_t n = 0;
    int ret = mbox_inferiors(ctx, c, account_id, name, true, &v, &n, error_r);
    mbox_refs_free(v, n);
    return ret < 0 ? ret : n > 0;
}

static int mbox_delete_row(struct pg_ctx *ctx, struct pg_conn *c, int64_t id,
                           const char **error_r)
{
    return pg_exec(ctx, c, "mailbox_delete",
                   "DELETE FROM mailboxes WHERE id = $1", PG_ARGS(PA_I(id)),
                   error_r);
}

/* Creates the missing parents of name as ordinary mailboxes. */
static int mbox_create_parents(struct pg_ctx *ctx, struct pg_conn *c,
                               int64_t account_id, const char *name,
                               const char **error_r)
{
    char *parent = ph_strdup(name);
    int ret = 0;
    for (char *dot = strchr(parent, PH_STORAGE_DELIMITER);
         dot != NULL && ret == 0; dot = strchr(dot + 1, PH_STORAGE_DELIMITER)) {
        *dot = '\0';
        struct pg_mbox row;
        ret = pg_mbox_by_name(ctx, c, account_id, parent, false, &row, error_r);
        if (ret == 0)
            ret = mbox_insert(ctx, c, account_id, parent, 0, false, NULL,
                              error_r);
        else if (ret == 1)
            ret = 0;
        *dot = PH_STORAGE_DELIMITER;
    }
    free(parent);
    return ret;
}

/* Creates name (with parents); a \Noselect placeholder of that name
 * becomes a real mailbox. */
static int mbox_make(struct pg_ctx *ctx, struct pg_conn *c, int64_t account_id,
                     const char *name, uint32_t special_use,
                     const char **error_r)
{
    struct pg_mbox row = {0};
    int ret = pg_mbox_by_name(ctx, c, account_id, name, false, &row, error_r);
    if (ret < 0)
        return ret;
    if (ret == 1) {
        if (!row.noselect) {
            *error_r = "Mailbox already exists";
            return PH_STORAGE_ERR_EXISTS;
        }
        uint32_t uidvalidity;
        if ((ret = pg_next_uidvalidity(ctx, c, &uidvalidity, error_r)) < 0)
            return ret;
        return pg_exec(
            ctx, c, "create",
            "UPDATE mailboxes SET noselect = false, "
            "uidvalidity = $2, special_use = $3 WHERE id = $1",
            PG_ARGS(PA_I(row.id), PA_I(uidvalidity), PA_I(special_use)),
            error_r);
    }
    ret = mbox_create_parents(ctx, c, account_id, name, error_r);
    if (ret < 0)
        return ret;
    return mbox_insert(ctx, c, account_id, name, special_use, false, NULL,
                       error_r);
}

/* Removes \Noselect ancestors of name left without inferiors. */
static int mbox_prune_parents(struct pg_ctx *ctx, struct pg_conn *c,
                              int64_t account_id, const char *name,
                              const char **error_r)
{
    char *parent = ph_strdup(name);
    int ret = 0;
    char *dot;
    while (ret == 0 && (dot = strrchr(parent, PH_STORAGE_DELIMITER)) != NULL) {
        *dot = '\0';
        struct pg_mbox row;
        ret = pg_mbox_by_name(ctx, c, account_id, parent, false, &row, error_r);
        if (ret <= 0 || !row.noselect)
            break;
        ret = mbox_has_inferiors(ctx, c, account_id, parent, error_r);
        if (ret != 0)
            break;
        ret = mbox_delete_row(ctx, c, row.id, error_r);
    }
    free(parent);
    return ret < 0 ? ret : 0;
}

static int subscribe(struct pg_ctx *ctx, struct pg_conn *c, int64_t account_id,
                     const char *name, bool on, const char **error_r)
{
    return pg_exec(ctx, c, "subscribe",
                   on ? "INSERT INTO subscriptions (account_id, name) "
                        "VALUES ($1, $2) ON CONFLICT DO NOTHING"
                      : "DELETE FROM subscriptions WHERE account_id = $1 "
                        "AND name = $2",
                   PG_ARGS(PA_I(account_id), PA_S(name)), error_r);
}

/* ---- Accounts ----------------------------------------------------------- */

/* 1 found (*id_r, *limit_r), 0 not found, or an error. */
static int account_find(struct pg_ctx *ctx, struct pg_conn *c, const char *name,
                        int64_t *id_r, uint64_t *limit_r, const char **error_r)
{
    int err = 0;
    PGresult *res =
        pg_query(ctx, c, "account",
                 "SELECT id, appendlimit FROM accounts WHERE name = $1", false,
                 PG_ARGS(PA_S(name)), &err, error_r);
    if (res == NULL)
        return err;
    int found = PQntuples(res) > 0;
    if (found) {
        *id_r = pg_int(res, 0, 0);
        *limit_r = PQgetisnull(res, 0, 1) ? ph_storage_conf(ctx->inst)->appendlimit
                                          : (uint64_t)pg_int(res, 0, 1);
    }
    PQclear(res);
    return found;
}

/* Inserts the account with INBOX and the default mailboxes, all
 * subscribed. ON CONFLICT: a node creating the same account at the same
 * moment makes this one see EXISTS, not a failed transaction. */
static int account_insert(struct pg_ctx *ctx, struct pg_conn *c,
                          const char *name, int64_t *id_r, const char **error_r)
{
    int err = 0;
    PGresult *res =
        pg_query(ctx, c, "account_insert",
                 "INSERT INTO accounts (name, created) VALUES ($1, $2) "
                 "ON CONFLICT (name) DO NOTHING RETURNING id",
                 false, PG_ARGS(PA_S(name), PA_I(time(NULL))), &err, error_r);
    if (res == NULL)
        return err;
    bool made = PQntuples(res) == 1;
    int64_t id = made ? pg_int(res, 0, 0) : 0;
    PQclear(res);
    if (!made) {
        *error_r = "Account already exists";
        return PH_STORAGE_ERR_EXISTS;
    }

    int ret = mbox_insert(ctx, c, id, "INBOX", 0, false, NULL, error_r);
    if (ret == 0)
        ret = subscribe(ctx, c, id, "INBOX", true, error_r);
    const struct ph_storage_default_mailbox *dv;
    size_t nd = ph_storage_default_mailboxes(ctx->inst, &dv);
    for (size_t i = 0; ret == 0 && i < nd; i++) {
        const char *mbox = dv[i].name;
        ret = mbox_make(ctx, c, id, mbox, dv[i].special_use, error_r);
        if (ret == PH_STORAGE_ERR_EXISTS)
            ret = 0; /* two defaults naming one mailbox, or a parent */
        if (ret == 0)
            ret = subscribe(ctx, c, id, mbox, true, error_r);
    }
    *id_r = id;
    return ret;
}

/* Creates the account in a transaction of its own. */
static int account_make(struct pg_ctx *ctx, struct pg_conn *c, const char *name,
                        int64_t *id_r, const char **error_r)
{
    int ret = pg_begin(ctx, c, error_r);
    if (ret < 0)
        return ret;
    ret = account_insert(ctx, c, name, id_r, error_r);
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
    return ret;
}

int pg_account_get(void *ctx_p, const char *name, bool create,
                   struct ph_account **acct_r, const char **error_r)
{
    (void)create; /* the core's (ph_storage_account_get) */
    struct pg_ctx *ctx = ctx_p;
    struct pg_conn *c = NULL;
    const char *problem = account_name_problem(name);
    int64_t id = 0;
    uint64_t limit = ph_storage_conf(ctx->inst)->appendlimit;

    if (problem != NULL) {
        *error_r = problem;
        return PH_STORAGE_ERR_INVALID;
    }
    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    ret = account_find(ctx, c, name, &id, &limit, error_r);
    pg_conn_put(ctx, &c);
    if (ret < 0)
        return ret;
    if (ret == 0) {
        *error_r = "No such account";
        return PH_STORAGE_ERR_NO_ACCOUNT;
    }
    struct pg_account *a = ph_calloc(1, sizeof(*a));
    a->pub.v = &pg_vfuncs;
    a->pub.storage = ctx->inst;
    a->pub.name = ph_strdup(name);
    a->pub.appendlimit = limit;
    a->ctx = ctx;
    a->id = id;
    *acct_r = &a->pub;
    return 0;
}

void pg_account_release(struct ph_account *acct)
{
    struct pg_account *a = (struct pg_account *)acct;
    free(a->pub.name);
    free(a);
}

int pg_account_create(void *ctx_p, const char *name, const char **error_r)
{
    struct pg_ctx *ctx = ctx_p;
    struct pg_conn *c = NULL;
    const char *problem = account_name_problem(name);
    int64_t id;

    if (problem != NULL) {
        *error_r = problem;
        return PH_STORAGE_ERR_INVALID;
    }
    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    ret = account_make(ctx, c, name, &id, error_r);
    pg_conn_put(ctx, &c);
    return ret;
}

int pg_account_delete(void *ctx_p, const char *name, const char **error_r)
{
    struct pg_ctx *ctx = ctx_p;
    struct pg_conn *c = NULL;
    int64_t id, *boxes = NULL;
    uint64_t limit;
    size_t nboxes = 0;
    int err = 0;

    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    if ((ret = pg_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = account_find(ctx, c, name != NULL ? name : "", &id, &limit, error_r);
    if (ret == 0) {
        *error_r = "No such account";
        ret = PH_STORAGE_ERR_NO_ACCOUNT;
    }
    if (ret > 0)
        ret = account_lock(ctx, c, id, error_r);
    PGresult *res = NULL;
    if (ret == 0) {
        res = pg_query(ctx, c, "account_delete",
                       "SELECT id FROM mailboxes WHERE account_id = $1", false,
                       PG_ARGS(PA_I(id)), &err, error_r);
        ret = res != NULL ? 0 : err;
    }
    if (res != NULL) {
        nboxes = (size_t)PQntuples(res);
        boxes = ph_calloc(nboxes + 1, sizeof(*boxes));
        for (size_t i = 0; i < nboxes; i++)
            boxes[i] = pg_int(res, (int)i, 0);
        PQclear(res);
    }
    for (size_t i = 0; i < nboxes && ret == 0; i++)
        ret = pg_announce(ctx, c, boxes[i], error_r);
    if (ret == 0)
        ret = pg_exec(ctx, c, "account_delete",
                      "DELETE FROM accounts WHERE id = $1", PG_ARGS(PA_I(id)),
                      error_r);
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
    if (ret == 0) {
        ph_log_info("%s event=account_deleted account=%s", PG_MOD, name);
        for (size_t i = 0; i < nboxes; i++)
            pg_wake_local(ctx, boxes[i]);
    }
out:
    pg_conn_put(ctx, &c);
    free(boxes);
    return ret;
}

int pg_account_list(void *ctx_p, struct ph_strlist *names_r,
                    const char **error_r)
{
    struct pg_ctx *ctx = ctx_p;
    struct pg_conn *c = NULL;
    int err = 0;
    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    PGresult *res = pg_query(ctx, c, "account_list",
                             "SELECT name FROM accounts ORDER BY name", false,
                             PG_NOARGS, &err, error_r);
    if (res != NULL) {
        for (int i = 0; i < PQntuples(res); i++)
            ph_strlist_add(names_r, PQgetvalue(res, i, 0));
        PQclear(res);
    } else {
        ret = err;
    }
    pg_conn_put(ctx, &c);
    return ret;
}

/* ---- Mailboxes ---------------------------------------------------------- */

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

int pg_mailbox_list(struct ph_account *acct, struct ph_mailbox_list *list_r,
                    const char **error_r)
{
    struct pg_account *a = (struct pg_account *)acct;
    struct pg_ctx *ctx = a->ctx;
    struct pg_conn *c = NULL;
    struct ph_mailbox_entry *v = NULL;
    size_t n = 0, cap = 0;
    int err = 0;

    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    /* One statement, one snapshot: mailboxes and subscriptions agree. */
    PGresult *res =
        pg_query(ctx, c, "mailbox_list",
                 "SELECT 0, name, special_use, noselect FROM mailboxes "
                 "WHERE account_id = $1 UNION ALL SELECT 1, name, 0, false "
                 "FROM subscriptions WHERE account_id = $1 ORDER BY 1, 2",
                 false, PG_ARGS(PA_I(a->id)), &err, error_r);
    pg_conn_put(ctx, &c);
    if (res == NULL)
        return err;

    int rows = PQntuples(res), i = 0;
    for (; i < rows && pg_int(res, i, 0) == 0; i++) {
        ph_array_grow(&v, &cap, n + 1, sizeof(*v));
        uint32_t attrs = (uint32_t)pg_int(res, i, 2) & PH_MBOX_SPECIAL_USE_MASK;
        if (pg_int(res, i, 3))
            attrs |= PH_MBOX_NOSELECT;
        v[n++] = (struct ph_mailbox_entry){
            .name = ph_strdup(PQgetvalue(res, i, 1)),
            .attrs = attrs,
        };
    }
    /* COLLATE "C" orders as strcmp does, so v is sorted already. */
    for (size_t j = 0; j < n; j++) {
        const char *dot = strrchr(v[j].name, PH_STORAGE_DELIMITER);
        if (dot == NULL)
            continue;
        char *up = ph_strndup(v[j].name, (size_t)(dot - v[j].name));
        struct ph_mailbox_entry *parent = entry_find(v, n, up);
        free(up);
        if (parent != NULL)
            parent->attrs |= PH_MBOX_HASCHILDREN;
    }
    size_t nboxes = n;
    for (size_t j = 0; j < nboxes; j++)
        if (!(v[j].attrs & PH_MBOX_HASCHILDREN))
            v[j].attrs |= PH_MBOX_HASNOCHILDREN;
    for (; i < rows; i++) {
        const char *sub = PQgetvalue(res, i, 1);
        struct ph_mailbox_entry *e = entry_find(v, nboxes, sub);
        if (e != NULL) {
            e->attrs |= PH_MBOX_SUBSCRIBED;
            continue;
        }
        ph_array_grow(&v, &cap, n + 1, sizeof(*v));
        v[n++] = (struct ph_mailbox_entry){
            .name = ph_strdup(sub),
            .attrs = PH_MBOX_SUBSCRIBED | PH_MBOX_NONEXISTENT,
        };
    }
    PQclear(res);
    if (n > nboxes)
        qsort(v, n, sizeof(*v), entry_cmp);
    list_r->v = v;
    list_r->n = n;
    return 0;
}

int pg_mailbox_create(struct ph_account *acct, const char *name,
                      uint32_t special_use, const char **error_r)
{
    struct pg_account *a = (struct pg_account *)acct;
    struct pg_ctx *ctx = a->ctx;
    struct pg_conn *c = NULL;
    int ret = 0;
    char *canon = pg_name(name, &ret, error_r);

    if (canon == NULL)
        return ret;
    if (is_inbox(canon)) {
        free(canon);
        *error_r = "Mailbox already exists";
        return PH_STORAGE_ERR_EXISTS;
    }
    if ((special_use & ~PH_MBOX_SPECIAL_USE_MASK) != 0 ||
        (special_use & (special_use - 1)) != 0) {
        free(canon);
        *error_r = "Invalid special-use attribute";
        return PH_STORAGE_ERR_INVALID;
    }
    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = pg_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = account_lock(ctx, c, a->id, error_r);
    if (ret == 0)
        ret = mbox_make(ctx, c, a->id, canon, special_use, error_r);
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
out:
    pg_conn_put(ctx, &c);
    if (ret == 0)
        pg_debug(ctx, "event=mailbox_created account=%s mailbox=%s", acct->name,
                 canon);
    free(canon);
    return ret;
}

int pg_mailbox_delete(struct ph_account *acct, const char *name,
                      const char **error_r)
{
    struct pg_account *a = (struct pg_account *)acct;
    struct pg_ctx *ctx = a->ctx;
    struct pg_conn *c = NULL;
    struct pg_mbox row = {0};
    int ret = 0;
    char *canon = pg_name(name, &ret, error_r);

    if (canon == NULL)
        return ret;
    if (is_inbox(canon)) {
        free(canon);
        *error_r = "INBOX cannot be deleted";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = pg_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = account_lock(ctx, c, a->id, error_r);
    if (ret == 0)
        ret = pg_mbox_by_name(ctx, c, a->id, canon, true, &row, error_r);
    if (ret == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    }
    int inferiors = 0;
    if (ret > 0)
        ret = inferiors = mbox_has_inferiors(ctx, c, a->id, canon, error_r);
    if (ret >= 0 && inferiors && row.noselect) {
        *error_r = "Mailbox has inferior mailboxes and is already \\Noselect";
        ret = PH_STORAGE_ERR_NOT_ALLOWED;
    }
    /* The row goes with its messages and tombstones (cascade); with
     * inferiors a \Noselect row of the same name holds their place. */
    if (ret >= 0)
        ret = pg_announce(ctx, c, row.id, error_r);
    if (ret == 0)
        ret = mbox_delete_row(ctx, c, row.id, error_r);
    if (ret == 0)
        ret = inferiors
                  ? mbox_insert(ctx, c, a->id, canon, 0, true, NULL, error_r)
                  : mbox_prune_parents(ctx, c, a->id, canon, error_r);
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
    if (ret == 0)
        pg_wake_local(ctx, row.id);
out:
    pg_conn_put(ctx, &c);
    free(canon);
    return ret;
}

/* RENAME INBOX: a new mailbox takes INBOX's messages (UIDs, flags and
 * modseqs kept), INBOX keeps its UIDVALIDITY and UIDNEXT, is left empty and
 * records the moved UIDs as expunged. */
static int rename_inbox(struct pg_ctx *ctx, struct pg_conn *c,
                        int64_t account_id, const struct pg_mbox *inbox,
                        const char *to, int64_t *to_id_r, const char **error_r)
{
    int64_t to_id = 0;
    int ret = mbox_create_parents(ctx, c, account_id, to, error_r);
    if (ret == 0)
        ret = mbox_insert(ctx, c, account_id, to, 0, false, &to_id, error_r);
    if (ret < 0)
        return ret;
    uint64_t modseq = inbox->highestmodseq + 1;
    ret = pg_exec(ctx, c, "rename_inbox",
                  "INSERT INTO tombstones (mailbox_id, uid, modseq) "
                  "SELECT mailbox_id, uid, $2 FROM messages "
                  "WHERE mailbox_id = $1 ON CONFLICT (mailbox_id, uid) "
                  "DO UPDATE SET modseq = excluded.modseq",
                  PG_ARGS(PA_I(inbox->id), PA_I(modseq)), error_r);
    if (ret == 0)
        ret = pg_exec(ctx, c, "rename_inbox",
                      "UPDATE messages SET mailbox_id = $2 "
                      "WHERE mailbox_id = $1",
                      PG_ARGS(PA_I(inbox->id), PA_I(to_id)), error_r);
    if (ret == 0)
        ret = pg_exec(ctx, c, "rename_inbox",
                      "UPDATE mailboxes SET uidnext = $2, highestmodseq = $3, "
                      "recent_uid = $4 WHERE id = $1",
                      PG_ARGS(PA_I(to_id), PA_I(inbox->uidnext),
                              PA_I(inbox->highestmodseq),
                              PA_I(inbox->recent_uid)),
                      error_r);
    if (ret == 0 && inbox->messages > 0)
        ret = pg_exec(ctx, c, "rename_inbox",
                      "UPDATE mailboxes SET highestmodseq = $2 WHERE id = $1",
                      PG_ARGS(PA_I(inbox->id), PA_I(modseq)), error_r);
    if (ret == 0)
        *to_id_r = to_id;
    return ret;
}

static int rename_tree(struct pg_ctx *ctx, struct pg_conn *c,
                       int64_t account_id, const struct pg_mbox *from_row,
                       const char *from, const char *to, const char **error_r)
{
    struct mbox_ref *v = NULL;
    size_t n = 0;
    int ret = mbox_inferiors(ctx, c, account_id, from, false, &v, &n, error_r);
    if (ret < 0)
        return ret;
    v[n++] = (struct mbox_ref){.id = from_row->id, .name = ph_strdup(from)};

    if ((ret = mbox_create_parents(ctx, c, account_id, to, error_r)) < 0)
        goto out;
    size_t from_len = strlen(from);
    for (size_t i = 0; i < n && ret == 0; i++) {
        char *new_name = ph_strdup_printf("%s%s", to, v[i].name + from_len);
        ret = pg_exec(ctx, c, "rename",
                      "UPDATE mailboxes SET name = $2 WHERE id = $1",
                      PG_ARGS(PA_I(v[i].id), PA_S(new_name)), error_r);
        /* The subscription follows; one of the new name already there
         * stays as it is. */
        if (ret == 0)
            ret = pg_exec(
                ctx, c, "rename",
                "WITH old AS (DELETE FROM subscriptions "
                "WHERE account_id = $1 AND name = $2 RETURNING 1) "
                "INSERT INTO subscriptions (account_id, name) "
                "SELECT $1, $3 FROM old ON CONFLICT DO NOTHING",
                PG_ARGS(PA_I(account_id), PA_S(v[i].name), PA_S(new_name)),
                error_r);
        free(new_name);
    }
    if (ret == 0)
        ret = mbox_prune_parents(ctx, c, account_id, from, error_r);
out:
    mbox_refs_free(v, n);
    return ret;
}

int pg_mailbox_rename(struct ph_account *acct, const char *from, const char *to,
                      const char **error_r)
{
    struct pg_account *a = (struct pg_account *)acct;
    struct pg_ctx *ctx = a->ctx;
    struct pg_conn *c = NULL;
    struct pg_mbox from_row = {0}, to_row;
    int64_t to_id = 0;
    int ret = 0;
    char *cfrom = pg_name(from, &ret, error_r);
    char *cto = cfrom != NULL ? pg_name(to, &ret, error_r) : NULL;

    if (cto == NULL)
        goto out;
    size_t from_len = strlen(cfrom);
    if (is_inbox(cto) || strcmp(cfrom, cto) == 0) {
        *error_r = "Mailbox already exists";
        ret = PH_STORAGE_ERR_EXISTS;
        goto out;
    }
    if (!is_inbox(cfrom) && strncmp(cto, cfrom, from_len) == 0 &&
        cto[from_len] == PH_STORAGE_DELIMITER) {
        *error_r = "Cannot rename a mailbox under itself";
        ret = PH_STORAGE_ERR_NOT_ALLOWED;
        goto out;
    }
    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = pg_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = account_lock(ctx, c, a->id, error_r);
    if (ret == 0)
        ret = pg_mbox_by_name(ctx, c, a->id, cfrom, true, &from_row, error_r);
    if (ret == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    }
    if (ret > 0)
        ret = pg_mbox_by_name(ctx, c, a->id, cto, false, &to_row, error_r);
    if (ret == 0)
        ret = mbox_has_inferiors(ctx, c, a->id, cto, error_r);
    if (ret > 0) {
        *error_r = "Mailbox already exists";
        ret = PH_STORAGE_ERR_EXISTS;
    }
    if (ret == 0)
        ret = is_inbox(cfrom)
                  ? rename_inbox(ctx, c, a->id, &from_row, cto, &to_id, error_r)
                  : rename_tree(ctx, c, a->id, &from_row, cfrom, cto, error_r);
    if (ret == 0)
        ret = pg_announce(ctx, c, from_row.id, error_r);
    if (ret == 0 && to_id != 0)
        ret = pg_announce(ctx, c, to_id, error_r);
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
    if (ret == 0) {
        pg_wake_local(ctx, from_row.id);
        if (to_id != 0)
            pg_wake_local(ctx, to_id);
    }
out:
    pg_conn_put(ctx, &c);
    free(cfrom);
    free(cto);
    return ret;
}

int pg_mailbox_subscribe(struct ph_account *acct, const char *name, bool on,
                         const char **error_r)
{
    struct pg_account *a = (struct pg_account *)acct;
    struct pg_ctx *ctx = a->ctx;
    struct pg_conn *c = NULL;
    struct pg_mbox row = {0};
    int ret = 0;
    char *canon = pg_name(name, &ret, error_r);

    if (canon == NULL)
        return ret;
    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = pg_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = account_lock(ctx, c, a->id, error_r);
    /* Only an existing mailbox can be subscribed (RFC 3501 6.3.6 lets the
     * server check); any name can be unsubscribed. */
    if (ret == 0)
        ret = on ? pg_mbox_by_name(ctx, c, a->id, canon, false, &row, error_r)
                 : 1;
    if (ret == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    }
    if (ret > 0)
        ret = subscribe(ctx, c, a->id, canon, on, error_r);
    if (ret == 0)
        ret = pg_commit(ctx, c, error_r);
    else
        pg_rollback(c);
out:
    pg_conn_put(ctx, &c);
    free(canon);
    return ret;
}

int pg_mailbox_status(struct ph_account *acct, const char *name,
                      struct ph_mailbox_status *st_r, const char **error_r)
{
    struct pg_account *a = (struct pg_account *)acct;
    struct pg_ctx *ctx = a->ctx;
    struct pg_conn *c = NULL;
    int ret = 0, err = 0;
    char *canon = pg_name(name, &ret, error_r);

    if (canon == NULL)
        return ret;
    if ((ret = pg_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    /* One statement: the counters and RECENT (messages no session has
     * claimed yet) from one snapshot. */
    PGresult *res = pg_query(
        ctx, c, "status",
        "SELECT b.messages, b.uidnext, b.uidvalidity, b.unseen, "
        "b.highestmodseq, b.size, b.noselect, (SELECT count(*) FROM "
        "messages m WHERE m.mailbox_id = b.id AND m.uid >= b.recent_uid) "
        "FROM mailboxes b WHERE b.account_id = $1 AND b.name = $2",
        false, PG_ARGS(PA_I(a->id), PA_S(canon)), &err, error_r);
    if (res == NULL) {
        ret = err;
    } else if (PQntuples(res) == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    } else if (pg_int(res, 0, 6)) {
        *error_r = "Mailbox is not selectable";
        ret = PH_STORAGE_ERR_NOT_ALLOWED;
    } else {
        *st_r = (struct ph_mailbox_status){
            .messages = (uint32_t)pg_int(res, 0, 0),
            .recent = (uint32_t)pg_int(res, 0, 7),
            .uidnext = (uint32_t)pg_int(res, 0, 1),
            .uidvalidity = (uint32_t)pg_int(res, 0, 2),
            .unseen = (uint32_t)pg_int(res, 0, 3),
            .highestmodseq = (uint64_t)pg_int(res, 0, 4),
            .size = (uint64_t)pg_int(res, 0, 5),
        };
    }
    PQclear(res);
out:
    pg_conn_put(ctx, &c);
    free(canon);
    return ret;
}
