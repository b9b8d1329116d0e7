/* SPDX-License-Identifier: MIT */
/* The SQL mail store: SORT and THREAD from stored keys (issue 17).
 *
 * At APPEND (and when a body is made anew) ph_sort_keys_from_info() gives
 * the keys of a body, kept in sort_values; a message row copies the keys
 * of SUBJECT, FROM, DISPLAYFROM and DATE, which are indexed with size as
 * (mailbox_id, key, uid). A SORT is then one ordered query: by its first
 * criterion on one of those, a walk of that index; by the others the
 * engine sorts the keys without anything being parsed. Collation keys
 * are blobs, whose order (memcmp, then the shorter first) is the
 * collation's, and the last term is the UID, whose order is the sequence
 * numbers' (RFC 5256 section 3's tie-break). */
#include <stdlib.h>
#include <string.h>

#include <posthorn/sort.h>

#include "sqlstore-private.h"

/* Rows of MSG_SORT_KEYS read per round trip. */
#define KEYS_BATCH 2048

static const struct {
    const char *col;
    bool joined; /* a column of sort_values, which a message may lack */
} sort_columns[] = {
    [PH_SORT_ARRIVAL] = {"m.internal_date", false},
    [PH_SORT_CC] = {"v.cc_addr", true},
    [PH_SORT_DATE] = {"m.sent_date", false},
    [PH_SORT_FROM] = {"m.sort_from", false},
    [PH_SORT_SIZE] = {"m.size", false},
    [PH_SORT_SUBJECT] = {"m.sort_subject", false},
    [PH_SORT_TO] = {"v.to_addr", true},
    [PH_SORT_DISPLAYFROM] = {"m.sort_display_from", false},
    [PH_SORT_DISPLAYTO] = {"v.display_to", true},
};

int sqls_sort_values_insert(struct ph_sql_conn *c, int64_t body_id,
                            const struct ph_message_info *mi,
                            const char **error_r)
{
    struct ph_sort_keys k = {0};
    if (mi != NULL)
        ph_sort_keys_from_info(mi, 0, &k);
    struct ph_sql_value null = {.type = PH_SQL_NULL};
#define KEY_(s) PH_SQL_B((s) != NULL ? (s) : "", (s) != NULL ? strlen(s) : 0)
    int ret = ph_sql_exec(
        c, PH_SQS_SORT_VALUES_INSERT, error_r, PH_SQL_I(body_id),
        KEY_(k.subject), KEY_(k.from), KEY_(k.to), KEY_(k.cc),
        KEY_(k.display_from), KEY_(k.display_to),
        k.date_from_header ? PH_SQL_I(k.sent_date) : null,
        PH_SQL_I(k.subject_is_reply), KEY_(k.message_id), KEY_(k.references));
#undef KEY_
    ph_sort_keys_clear(&k);
    return ret;
}

static struct sqls_mailbox *mbox(struct ph_mailbox *mb)
{
    return (struct sqls_mailbox *)mb;
}

int sqls_sort(struct ph_mailbox *pub, const struct ph_uidset *set,
              const struct ph_sort_program_item *program, size_t program_len,
              uint32_t **uids_r, size_t *n_r, const char **error_r)
{
    struct sqls_mailbox *mb = mbox(pub);
    struct ph_sql_builder b = {0};
    bool join = false;
    for (size_t i = 0; i < program_len; i++) {
        if ((size_t)program[i].criterion >= PH_N_ELEMENTS(sort_columns))
            return sqls_fail(PH_STORAGE_ERR_UNSUPPORTED,
                             "Unknown sort criterion", error_r);
        join |= sort_columns[program[i].criterion].joined;
    }
    ph_sql_frag(&b, "SELECT m.uid FROM messages m");
    if (join)
        ph_sql_frag(&b, " LEFT JOIN sort_values v ON v.body_id = m.body_id");
    ph_sql_fragv(&b, " WHERE m.mailbox_id = ? ORDER BY ", PH_SQL_I(mb->id));
    bool used[PH_N_ELEMENTS(sort_columns)] = {0};
    for (size_t i = 0; i < program_len; i++) {
        /* A key again breaks no tie the first time left: a client's
         * program of thousands of terms stays one of at most nine. */
        if (used[program[i].criterion])
            continue;
        used[program[i].criterion] = true;
        const char *col = sort_columns[program[i].criterion].col;
        const char *dir = program[i].reverse ? " DESC, " : ", ";
        /* A message without sort_values sorts as one whose fields are
         * all absent (the empty string first), on every engine's NULL
         * order. */
        if (sort_columns[program[i].criterion].joined) {
            ph_sql_frag(&b, "(");
            ph_sql_frag(&b, col);
            ph_sql_frag(&b, " IS NOT NULL)");
            ph_sql_frag(&b, dir);
        }
        ph_sql_frag(&b, col);
        ph_sql_frag(&b, dir);
    }
    ph_sql_frag(&b, "m.uid");

    struct ph_sql_conn *c = NULL;
    struct ph_sql_cursor *cur = NULL;
    struct sqls_mbox row;
    uint32_t *v = NULL;
    size_t n = 0, cap = 0;
    int ret = ph_sql_get(mb->s->sql, &c, error_r);
    if (ret == 0)
        ret = sqls_mb_row(mb, c, PH_SQS_MBOX_BY_ID, &row, error_r);
    if (ret == 0)
        ret = ph_sql_query_built(c, &b, &cur, error_r);
    while (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1) {
        ret = 0;
        uint32_t uid = (uint32_t)ph_sql_int(cur, 0);
        if (set != NULL && !ph_uidset_contains(set, uid))
            continue;
        ph_array_grow(&v, &cap, n + 1, sizeof(*v));
        v[n++] = uid;
    }
    ph_sql_close(&cur);
    ph_sql_put(mb->s->sql, &c);
    ph_sql_builder_clear(&b);
    if (ret < 0) {
        free(v);
        return ret;
    }
    *uids_r = v;
    *n_r = n;
    return 0;
}

/* A column as a NUL-terminated copy, "" for NULL. */
static char *col_dup(struct ph_sql_cursor *cur, int col)
{
    size_t len;
    const char *p = ph_sql_bytes(cur, col, &len);
    char *s = ph_malloc(p != NULL ? len + 1 : 1);
    if (p != NULL)
        memcpy(s, p, len);
    s[p != NULL ? len : 0] = '\0';
    return s;
}

struct keys_row {
    uint32_t uid;
    struct ph_sort_keys k;
};

static void keys_rows_clear(struct keys_row *v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        ph_sort_keys_clear(&v[i].k);
    *n = 0;
}

/* The rows of [lo, hi], KEYS_BATCH at a time, none held while cb runs. */
static int keys_range(struct sqls_mailbox *mb, struct ph_uid_range r,
                      bool *checked, ph_sort_keys_cb *cb, void *arg,
                      const char **error_r)
{
    struct keys_row *v = ph_calloc(KEYS_BATCH, sizeof(*v));
    size_t n = 0;
    int ret = 0;
    for (uint64_t next = r.lo; ret == 0 && next <= r.hi;) {
        struct ph_sql_conn *c = NULL;
        struct ph_sql_cursor *cur = NULL;
        struct sqls_mbox row;
        uint32_t last = 0;
        if ((ret = ph_sql_get(mb->s->sql, &c, error_r)) < 0)
            break;
        if (!*checked)
            ret = sqls_mb_row(mb, c, PH_SQS_MBOX_BY_ID, &row, error_r);
        *checked = true;
        if (ret == 0)
            ret = ph_sql_query(c, PH_SQS_MSG_SORT_KEYS, &cur, error_r,
                               PH_SQL_I(mb->id), PH_SQL_I(next), PH_SQL_I(r.hi),
                               PH_SQL_I(KEYS_BATCH));
        while (ret == 0 && (ret = ph_sql_next(cur, error_r)) == 1) {
            ret = 0;
            last = (uint32_t)ph_sql_int(cur, 0);
            struct keys_row *e = &v[n++];
            e->uid = last;
            e->k = (struct ph_sort_keys){
                .arrival = ph_sql_int(cur, 1),
                .size = (uint64_t)ph_sql_int(cur, 2),
                .sent_date = ph_sql_int(cur, 3),
                .subject = col_dup(cur, 4),
                .from = col_dup(cur, 5),
                .to = col_dup(cur, 6),
                .cc = col_dup(cur, 7),
                .display_from = col_dup(cur, 8),
                .display_to = col_dup(cur, 9),
                .date_from_header = ph_sql_int(cur, 10) != 0,
                .subject_is_reply = ph_sql_int(cur, 11) != 0,
                .message_id = col_dup(cur, 12),
                .references = col_dup(cur, 13),
            };
        }
        ph_sql_close(&cur);
        ph_sql_put(mb->s->sql, &c);
        size_t nrows = n;
        for (size_t i = 0; ret == 0 && i < n; i++)
            ret = cb(arg, v[i].uid, &v[i].k);
        keys_rows_clear(v, &n);
        next = nrows < KEYS_BATCH ? (uint64_t)r.hi + 1 : (uint64_t)last + 1;
    }
    free(v);
    return ret;
}

int sqls_sort_keys(struct ph_mailbox *pub, const struct ph_uidset *set,
                   ph_sort_keys_cb *cb, void *arg, const char **error_r)
{
    static const struct ph_uid_range all = {1, UINT32_MAX};
    const struct ph_uid_range *ranges = set != NULL ? set->r : &all;
    size_t nranges = set != NULL ? set->n : 1;
    bool checked = false;
    int ret = 0;
    for (size_t i = 0; i < nranges && ret == 0; i++)
        ret = keys_range(mbox(pub), ranges[i], &checked, cb, arg, error_r);
    return ret;
}
