/* SPDX-License-Identifier: MIT */
/* storage.sqlite: accounts, delivery names, and the mailbox hierarchy
 * (list, create, delete, rename, subscriptions, status).
 *
 * Where RFC 3501 leaves a choice: missing parents are created as ordinary
 * mailboxes; a \Noselect mailbox left without inferiors disappears; a
 * renamed mailbox keeps its UIDVALIDITY and its subscriptions follow it;
 * only an existing mailbox can be subscribed; new accounts have their
 * default mailboxes subscribed. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <posthorn/log.h>
#include <posthorn/table.h>

#include "sqlite_private.h"

#define ACCOUNT_NAME_MAX 255

char *sq_name(const char *name, int *err_r, const char **error_r)
{
    const char *why = NULL;
    char *canon = name != NULL ? ph_mailbox_name_canonical(name, &why) : NULL;
    if (canon == NULL) {
        *error_r = sq_errorf("Invalid mailbox name: %s",
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

/* ---- Mailbox rows ------------------------------------------------------- */

static int mbox_insert(struct sq_ctx *ctx, struct sq_conn *c,
                       int64_t account_id, const char *name,
                       uint32_t special_use, bool noselect, int64_t *id_r,
                       const char **error_r)
{
    uint32_t uidvalidity;
    int ret = sq_next_uidvalidity(ctx, c, &uidvalidity, error_r);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_INSERT);
    sqlite3_bind_int64(st, 1, account_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, uidvalidity);
    sqlite3_bind_int64(st, 4, special_use);
    sqlite3_bind_int(st, 5, noselect);
    int rc = sq_step_done(st);
    if (rc != SQLITE_DONE)
        return sq_fail(ctx, c, rc, "mailbox_insert", error_r);
    if (id_r != NULL)
        *id_r = sqlite3_last_insert_rowid(c->db);
    return 0;
}

/* Does name have inferiors ("name.x")? 1 yes, 0 no, or an error. */
static int mbox_has_inferiors(struct sq_ctx *ctx, struct sq_conn *c,
                              int64_t account_id, const char *name,
                              const char **error_r)
{
    size_t len = strlen(name);
    char *lo = ph_malloc(len + 2), *hi = ph_malloc(len + 2);
    memcpy(lo, name, len);
    memcpy(hi, name, len);
    lo[len] = '.';
    hi[len] = '.' + 1;
    lo[len + 1] = hi[len + 1] = '\0';
    sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_RANGE);
    sqlite3_bind_int64(st, 1, account_id);
    sqlite3_bind_text(st, 2, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hi, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    free(lo);
    free(hi);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return sq_fail(ctx, c, rc, "mailbox_inferiors", error_r);
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

/* name's inferiors, sorted. */
static int mbox_inferiors(struct sq_ctx *ctx, struct sq_conn *c,
                          int64_t account_id, const char *name,
                          struct mbox_ref **v_r, size_t *n_r,
                          const char **error_r)
{
    char *lo = ph_strdup_printf("%s.", name),
         *hi = ph_strdup_printf("%s/", name);
    sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_RANGE);
    sqlite3_bind_int64(st, 1, account_id);
    sqlite3_bind_text(st, 2, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hi, -1, SQLITE_STATIC);
    struct mbox_ref *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ph_array_grow(&v, &cap, n + 1, sizeof(*v));
        v[n].id = sqlite3_column_int64(st, 0);
        v[n].name = ph_strdup((const char *)sqlite3_column_text(st, 1));
        n++;
    }
    sqlite3_reset(st);
    free(lo);
    free(hi);
    if (rc != SQLITE_DONE) {
        mbox_refs_free(v, n);
        return sq_fail(ctx, c, rc, "mailbox_inferiors", error_r);
    }
    *v_r = v;
    *n_r = n;
    return 0;
}

/* Creates the missing parents of name as ordinary mailboxes. */
static int mbox_create_parents(struct sq_ctx *ctx, struct sq_conn *c,
                               int64_t account_id, const char *name,
                               const char **error_r)
{
    char *parent = ph_strdup(name);
    int ret = 0;
    for (char *dot = strchr(parent, PH_STORAGE_DELIMITER);
         dot != NULL && ret == 0; dot = strchr(dot + 1, PH_STORAGE_DELIMITER)) {
        *dot = '\0';
        struct sq_mbox row;
        ret = sq_mbox_by_name(ctx, c, account_id, parent, &row, error_r);
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
static int mbox_make(struct sq_ctx *ctx, struct sq_conn *c, int64_t account_id,
                     const char *name, uint32_t special_use,
                     const char **error_r)
{
    struct sq_mbox row = {0};
    int ret = sq_mbox_by_name(ctx, c, account_id, name, &row, error_r);
    if (ret < 0)
        return ret;
    if (ret == 1) {
        if (!row.noselect) {
            *error_r = "Mailbox already exists";
            return PH_STORAGE_ERR_EXISTS;
        }
        uint32_t uidvalidity;
        if ((ret = sq_next_uidvalidity(ctx, c, &uidvalidity, error_r)) < 0)
            return ret;
        sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_REVIVE);
        sqlite3_bind_int64(st, 1, row.id);
        sqlite3_bind_int64(st, 2, uidvalidity);
        sqlite3_bind_int64(st, 3, special_use);
        int rc = sq_step_done(st);
        return rc == SQLITE_DONE ? 0 : sq_fail(ctx, c, rc, "create", error_r);
    }
    ret = mbox_create_parents(ctx, c, account_id, name, error_r);
    if (ret < 0)
        return ret;
    return mbox_insert(ctx, c, account_id, name, special_use, false, NULL,
                       error_r);
}

/* Removes \Noselect ancestors of name left without inferiors: they only
 * existed to hold what is gone now. */
static int mbox_prune_parents(struct sq_ctx *ctx, struct sq_conn *c,
                              int64_t account_id, const char *name,
                              const char **error_r)
{
    char *parent = ph_strdup(name);
    int ret = 0;
    char *dot;
    while (ret == 0 && (dot = strrchr(parent, PH_STORAGE_DELIMITER)) != NULL) {
        *dot = '\0';
        struct sq_mbox row;
        ret = sq_mbox_by_name(ctx, c, account_id, parent, &row, error_r);
        if (ret <= 0 || !row.noselect)
            break;
        ret = mbox_has_inferiors(ctx, c, account_id, parent, error_r);
        if (ret != 0)
            break;
        sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_DELETE);
        sqlite3_bind_int64(st, 1, row.id);
        int rc = sq_step_done(st);
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "prune", error_r);
    }
    free(parent);
    return ret < 0 ? ret : 0;
}

static int subscribe(struct sq_ctx *ctx, struct sq_conn *c, int64_t account_id,
                     const char *name, bool on, const char **error_r)
{
    sqlite3_stmt *st = sq_stmt(c, on ? SQ_SUB_ADD : SQ_SUB_DEL);
    sqlite3_bind_int64(st, 1, account_id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sq_step_done(st);
    return rc == SQLITE_DONE ? 0 : sq_fail(ctx, c, rc, "subscribe", error_r);
}

/* ---- Accounts ----------------------------------------------------------- */

/* 1 found (*id_r, *limit_r), 0 not found, or an error. */
static int account_find(struct sq_ctx *ctx, struct sq_conn *c, const char *name,
                        int64_t *id_r, uint64_t *limit_r, const char **error_r)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_ACCT_GET);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id_r = sqlite3_column_int64(st, 0);
        *limit_r = sqlite3_column_type(st, 1) == SQLITE_NULL
                       ? ph_storage_conf(ctx->inst)->appendlimit
                       : (uint64_t)sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
        return 1;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sq_fail(ctx, c, rc, "account", error_r);
}

/* Inserts the account with INBOX and the default mailboxes, all
 * subscribed (what clients that show only subscribed folders need). */
static int account_insert(struct sq_ctx *ctx, struct sq_conn *c,
                          const char *name, int64_t *id_r, const char **error_r)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_ACCT_INSERT);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    int rc = sq_step_done(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        *error_r = "Account already exists";
        return PH_STORAGE_ERR_EXISTS;
    }
    if (rc != SQLITE_DONE)
        return sq_fail(ctx, c, rc, "account_insert", error_r);
    int64_t id = sqlite3_last_insert_rowid(c->db);

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

int sq_account_get(void *ctx_p, const char *name, bool create,
                   struct ph_account **acct_r, const char **error_r)
{
    (void)create; /* the core's (ph_storage_account_get) */
    struct sq_ctx *ctx = ctx_p;
    struct sq_conn *c = NULL;
    const char *problem = account_name_problem(name);
    int64_t id = 0;
    uint64_t limit = ph_storage_conf(ctx->inst)->appendlimit;

    if (problem != NULL) {
        *error_r = problem;
        return PH_STORAGE_ERR_INVALID;
    }
    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    ret = account_find(ctx, c, name, &id, &limit, error_r);
    sq_conn_put(ctx, &c);
    if (ret < 0)
        return ret;
    if (ret == 0) {
        *error_r = "No such account";
        return PH_STORAGE_ERR_NO_ACCOUNT;
    }
    struct sq_account *a = ph_calloc(1, sizeof(*a));
    a->pub.v = &sq_vfuncs;
    a->pub.storage = ctx->inst;
    a->pub.name = ph_strdup(name);
    a->pub.appendlimit = limit;
    a->ctx = ctx;
    a->id = id;
    *acct_r = &a->pub;
    return 0;
}

void sq_account_release(struct ph_account *acct)
{
    struct sq_account *a = (struct sq_account *)acct;
    free(a->pub.name);
    free(a);
}

int sq_account_create(void *ctx_p, const char *name, const char **error_r)
{
    struct sq_ctx *ctx = ctx_p;
    struct sq_conn *c = NULL;
    const char *problem = account_name_problem(name);
    int64_t id;

    if (problem != NULL) {
        *error_r = problem;
        return PH_STORAGE_ERR_INVALID;
    }
    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    ret = sq_write_begin(ctx, c, error_r);
    if (ret == 0) {
        ret = account_insert(ctx, c, name, &id, error_r);
        if (ret == 0)
            ret = sq_write_commit(ctx, c, error_r);
        else
            sq_write_rollback(ctx, c);
    }
    sq_conn_put(ctx, &c);
    return ret;
}

int sq_account_delete(void *ctx_p, const char *name, const char **error_r)
{
    struct sq_ctx *ctx = ctx_p;
    struct sq_conn *c = NULL;
    int64_t id, *boxes = NULL;
    uint64_t limit;
    size_t nboxes = 0, cap = 0;

    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    ret = sq_write_begin(ctx, c, error_r);
    if (ret < 0)
        goto out;
    ret = account_find(ctx, c, name != NULL ? name : "", &id, &limit, error_r);
    if (ret == 0) {
        *error_r = "No such account";
        ret = PH_STORAGE_ERR_NO_ACCOUNT;
    }
    if (ret < 0)
        goto rollback;
    sqlite3_stmt *st = sq_stmt(c, SQ_ACCT_MAILBOX_IDS);
    sqlite3_bind_int64(st, 1, id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ph_array_grow(&boxes, &cap, nboxes + 1, sizeof(*boxes));
        boxes[nboxes++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        st = sq_stmt(c, SQ_ACCT_DELETE);
        sqlite3_bind_int64(st, 1, id);
        rc = sq_step_done(st);
    }
    if (rc != SQLITE_DONE) {
        ret = sq_fail(ctx, c, rc, "account_delete", error_r);
        goto rollback;
    }
    ret = sq_write_commit(ctx, c, error_r);
    if (ret == 0) {
        ph_log_info("%s event=account_deleted account=%s", SQ_MOD, name);
        for (size_t i = 0; i < nboxes; i++)
            sq_notify(ctx, boxes[i]);
    }
    goto out;
rollback:
    sq_write_rollback(ctx, c);
out:
    sq_conn_put(ctx, &c);
    free(boxes);
    return ret;
}

int sq_account_list(void *ctx_p, struct ph_strlist *names_r,
                    const char **error_r)
{
    struct sq_ctx *ctx = ctx_p;
    struct sq_conn *c = NULL;
    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    sqlite3_stmt *st = sq_stmt(c, SQ_ACCT_LIST);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ph_strlist_add(names_r, (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        ret = sq_fail(ctx, c, rc, "account_list", error_r);
    sq_conn_put(ctx, &c);
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

int sq_mailbox_list(struct ph_account *acct, struct ph_mailbox_list *list_r,
                    const char **error_r)
{
    struct sq_account *a = (struct sq_account *)acct;
    struct sq_ctx *ctx = a->ctx;
    struct sq_conn *c = NULL;
    struct ph_mailbox_entry *v = NULL;
    struct ph_strlist subs = {0};
    size_t n = 0, cap = 0;
    int rc;

    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret < 0)
        return ret;
    ret = sq_read_begin(ctx, c, error_r);
    if (ret < 0)
        goto out;
    sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_LIST);
    sqlite3_bind_int64(st, 1, a->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ph_array_grow(&v, &cap, n + 1, sizeof(*v));
        uint32_t attrs =
            (uint32_t)sqlite3_column_int64(st, 1) & PH_MBOX_SPECIAL_USE_MASK;
        if (sqlite3_column_int(st, 2))
            attrs |= PH_MBOX_NOSELECT;
        v[n++] = (struct ph_mailbox_entry){
            .name = ph_strdup((const char *)sqlite3_column_text(st, 0)),
            .attrs = attrs,
        };
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        st = sq_stmt(c, SQ_SUB_LIST);
        sqlite3_bind_int64(st, 1, a->id);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ph_strlist_add(&subs, (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
    }
    sq_read_end(c);
    if (rc != SQLITE_DONE) {
        ret = sq_fail(ctx, c, rc, "mailbox_list", error_r);
        goto out;
    }

    /* SQLite's BINARY order is strcmp's, so v is sorted already. */
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
            .name = ph_strdup(subs.v[i]),
            .attrs = PH_MBOX_SUBSCRIBED | PH_MBOX_NONEXISTENT,
        };
    }
    if (n > nboxes)
        qsort(v, n, sizeof(*v), entry_cmp);
    list_r->v = v;
    list_r->n = n;
    v = NULL;
    n = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    ph_strlist_clear(&subs);
    sq_conn_put(ctx, &c);
    return ret;
}

int sq_mailbox_create(struct ph_account *acct, const char *name,
                      uint32_t special_use, const char **error_r)
{
    struct sq_account *a = (struct sq_account *)acct;
    struct sq_ctx *ctx = a->ctx;
    struct sq_conn *c = NULL;
    int ret = 0;
    char *canon = sq_name(name, &ret, error_r);

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
    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = sq_write_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = mbox_make(ctx, c, a->id, canon, special_use, error_r);
    if (ret == 0)
        ret = sq_write_commit(ctx, c, error_r);
    else
        sq_write_rollback(ctx, c);
out:
    sq_conn_put(ctx, &c);
    if (ret == 0)
        sq_debug(ctx, "event=mailbox_created account=%s mailbox=%s", acct->name,
                 canon);
    free(canon);
    return ret;
}

int sq_mailbox_delete(struct ph_account *acct, const char *name,
                      const char **error_r)
{
    struct sq_account *a = (struct sq_account *)acct;
    struct sq_ctx *ctx = a->ctx;
    struct sq_conn *c = NULL;
    struct sq_mbox row = {0};
    int ret = 0;
    char *canon = sq_name(name, &ret, error_r);

    if (canon == NULL)
        return ret;
    if (is_inbox(canon)) {
        free(canon);
        *error_r = "INBOX cannot be deleted";
        return PH_STORAGE_ERR_NOT_ALLOWED;
    }
    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = sq_write_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = sq_mbox_by_name(ctx, c, a->id, canon, &row, error_r);
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
    if (ret >= 0) {
        /* The row goes with its messages and tombstones (cascade); with
         * inferiors a \Noselect row of the same name holds their place. */
        sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_DELETE);
        sqlite3_bind_int64(st, 1, row.id);
        int rc = sq_step_done(st);
        ret = rc == SQLITE_DONE ? 0 : sq_fail(ctx, c, rc, "delete", error_r);
    }
    if (ret == 0)
        ret = inferiors
                  ? mbox_insert(ctx, c, a->id, canon, 0, true, NULL, error_r)
                  : mbox_prune_parents(ctx, c, a->id, canon, error_r);
    if (ret == 0)
        ret = sq_write_commit(ctx, c, error_r);
    else
        sq_write_rollback(ctx, c);
    if (ret == 0)
        sq_notify(ctx, row.id);
out:
    sq_conn_put(ctx, &c);
    free(canon);
    return ret;
}

/* RENAME INBOX: a new mailbox takes INBOX's messages (UIDs, flags and
 * modseqs kept), INBOX keeps its UIDVALIDITY and UIDNEXT, is left empty and
 * records the moved UIDs as expunged. */
static int rename_inbox(struct sq_ctx *ctx, struct sq_conn *c,
                        int64_t account_id, const struct sq_mbox *inbox,
                        const char *to, int64_t *to_id_r, const char **error_r)
{
    int64_t to_id;
    int ret = mbox_create_parents(ctx, c, account_id, to, error_r);
    if (ret == 0)
        ret = mbox_insert(ctx, c, account_id, to, 0, false, &to_id, error_r);
    if (ret < 0)
        return ret;
    uint64_t modseq = inbox->highestmodseq + 1;
    sqlite3_stmt *st = sq_stmt(c, SQ_TOMB_FROM_MAILBOX);
    sqlite3_bind_int64(st, 1, inbox->id);
    sqlite3_bind_int64(st, 2, (int64_t)modseq);
    int rc = sq_step_done(st);
    if (rc == SQLITE_DONE) {
        st = sq_stmt(c, SQ_MSG_MOVE_ALL);
        sqlite3_bind_int64(st, 1, inbox->id);
        sqlite3_bind_int64(st, 2, to_id);
        rc = sq_step_done(st);
    }
    if (rc == SQLITE_DONE) {
        st = sq_stmt(c, SQ_MBOX_TAKE_OVER);
        sqlite3_bind_int64(st, 1, to_id);
        sqlite3_bind_int64(st, 2, inbox->uidnext);
        sqlite3_bind_int64(st, 3, (int64_t)inbox->highestmodseq);
        sqlite3_bind_int64(st, 4, inbox->recent_uid);
        rc = sq_step_done(st);
    }
    if (rc == SQLITE_DONE && inbox->messages > 0) {
        st = sq_stmt(c, SQ_MBOX_SET_MODSEQ);
        sqlite3_bind_int64(st, 1, inbox->id);
        sqlite3_bind_int64(st, 2, (int64_t)modseq);
        rc = sq_step_done(st);
    }
    if (rc != SQLITE_DONE)
        return sq_fail(ctx, c, rc, "rename_inbox", error_r);
    *to_id_r = to_id;
    return 0;
}

static int rename_tree(struct sq_ctx *ctx, struct sq_conn *c,
                       int64_t account_id, const struct sq_mbox *from_row,
                       const char *from, const char *to, const char **error_r)
{
    struct mbox_ref *v = NULL;
    size_t n = 0;
    int ret = mbox_inferiors(ctx, c, account_id, from, &v, &n, error_r);
    if (ret < 0)
        return ret;
    v = ph_realloc(v, (n + 1) * sizeof(*v));
    v[n++] = (struct mbox_ref){.id = from_row->id, .name = ph_strdup(from)};

    if ((ret = mbox_create_parents(ctx, c, account_id, to, error_r)) < 0)
        goto out;
    size_t from_len = strlen(from);
    for (size_t i = 0; i < n && ret == 0; i++) {
        char *new_name = ph_strdup_printf("%s%s", to, v[i].name + from_len);
        sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_RENAME);
        sqlite3_bind_int64(st, 1, v[i].id);
        sqlite3_bind_text(st, 2, new_name, -1, SQLITE_STATIC);
        int rc = sq_step_done(st);
        if (rc == SQLITE_DONE) {
            st = sq_stmt(c, SQ_SUB_RENAME);
            sqlite3_bind_int64(st, 1, account_id);
            sqlite3_bind_text(st, 2, v[i].name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, new_name, -1, SQLITE_STATIC);
            rc = sq_step_done(st);
        }
        free(new_name);
        if (rc != SQLITE_DONE)
            ret = sq_fail(ctx, c, rc, "rename", error_r);
    }
    if (ret == 0)
        ret = mbox_prune_parents(ctx, c, account_id, from, error_r);
out:
    mbox_refs_free(v, n);
    return ret;
}

int sq_mailbox_rename(struct ph_account *acct, const char *from, const char *to,
                      const char **error_r)
{
    struct sq_account *a = (struct sq_account *)acct;
    struct sq_ctx *ctx = a->ctx;
    struct sq_conn *c = NULL;
    struct sq_mbox from_row = {0}, to_row;
    int64_t to_id = 0;
    int ret = 0;
    char *cfrom = sq_name(from, &ret, error_r);
    char *cto = cfrom != NULL ? sq_name(to, &ret, error_r) : NULL;

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
    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = sq_write_begin(ctx, c, error_r)) < 0)
        goto out;
    ret = sq_mbox_by_name(ctx, c, a->id, cfrom, &from_row, error_r);
    if (ret == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    }
    if (ret > 0)
        ret = sq_mbox_by_name(ctx, c, a->id, cto, &to_row, error_r);
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
        ret = sq_write_commit(ctx, c, error_r);
    else
        sq_write_rollback(ctx, c);
    if (ret == 0) {
        sq_notify(ctx, from_row.id);
        if (to_id != 0)
            sq_notify(ctx, to_id);
    }
out:
    sq_conn_put(ctx, &c);
    free(cfrom);
    free(cto);
    return ret;
}

int sq_mailbox_subscribe(struct ph_account *acct, const char *name, bool on,
                         const char **error_r)
{
    struct sq_account *a = (struct sq_account *)acct;
    struct sq_ctx *ctx = a->ctx;
    struct sq_conn *c = NULL;
    struct sq_mbox row = {0};
    int ret = 0;
    char *canon = sq_name(name, &ret, error_r);

    if (canon == NULL)
        return ret;
    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = sq_write_begin(ctx, c, error_r)) < 0)
        goto out;
    /* Only an existing mailbox can be subscribed (RFC 3501 6.3.6 lets the
     * server check); any name can be unsubscribed. */
    ret = on ? sq_mbox_by_name(ctx, c, a->id, canon, &row, error_r) : 1;
    if (ret == 0) {
        *error_r = "Mailbox does not exist";
        ret = PH_STORAGE_ERR_NOT_FOUND;
    }
    if (ret > 0)
        ret = subscribe(ctx, c, a->id, canon, on, error_r);
    if (ret == 0)
        ret = sq_write_commit(ctx, c, error_r);
    else
        sq_write_rollback(ctx, c);
out:
    sq_conn_put(ctx, &c);
    free(canon);
    return ret;
}

int sq_mailbox_status(struct ph_account *acct, const char *name,
                      struct ph_mailbox_status *st_r, const char **error_r)
{
    struct sq_account *a = (struct sq_account *)acct;
    struct sq_ctx *ctx = a->ctx;
    struct sq_conn *c = NULL;
    struct sq_mbox row = {0};
    int ret = 0;
    char *canon = sq_name(name, &ret, error_r);

    if (canon == NULL)
        return ret;
    if ((ret = sq_conn_get(ctx, &c, error_r)) < 0)
        goto out;
    if ((ret = sq_read_begin(ctx, c, error_r)) < 0)
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
        /* RECENT: messages no session has claimed yet. */
        sqlite3_stmt *st = sq_stmt(c, SQ_MBOX_RECENT_COUNT);
        sqlite3_bind_int64(st, 1, row.id);
        sqlite3_bind_int64(st, 2, row.recent_uid);
        int rc = sqlite3_step(st);
        uint32_t recent =
            rc == SQLITE_ROW ? (uint32_t)sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) {
            ret = sq_fail(ctx, c, rc, "status", error_r);
        } else {
            *st_r = (struct ph_mailbox_status){
                .messages = row.messages,
                .recent = recent,
                .uidnext = row.uidnext,
                .uidvalidity = row.uidvalidity,
                .unseen = row.unseen,
                .highestmodseq = row.highestmodseq,
                .size = row.size,
            };
            ret = 0;
        }
    }
    sq_read_end(c);
out:
    sq_conn_put(ctx, &c);
    free(canon);
    return ret;
}
