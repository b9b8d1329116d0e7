/* SPDX-License-Identifier: MIT */
/* storage.pgsql: SEARCH pushdown, as storage.sqlite does it
 * (sqlite_search.c has the reasoning key by key).
 *
 * A program whose every key is about what the messages table holds (flags,
 * keywords, UIDs, sizes, internal dates, modseqs, this handle's \Recent)
 * becomes one query made of fixed fragments and $n placeholders only:
 * every value from the program is a parameter. Anything else (headers,
 * bodies, Date header days, sequence numbers) makes the whole program
 * UNSUPPORTED, and the endpoint evaluates it over fetched data.
 *
 *   FLAG      (flags & BIT) <> 0, or = 0 under NOT (the partial indexes
 *             messages_unseen and messages_flagged of migration 2)
 *   KEYWORD   keywords IS NOT NULL AND strpos(' ' || lower(keywords) ||
 *             ' ', ' kw ') > 0: never NULL, so NOT stays exact; no LIKE,
 *             so '_' is no wildcard
 *   UIDSET    (uid BETWEEN $a AND $b) OR ..., at most MAX_TERMS ranges;
 *             RECENT the same over the UIDs this handle claimed
 *   dates     the day of the internal date in its own zone, compared as
 *             seconds of the indexed expression LOCAL_DATE
 *   LARGER, SMALLER, MODSEQ   size > $n, size < $n, modseq >= $n
 *
 * A top-level UID set (or RECENT) also bounds the scan to [lowest, highest
 * UID]; the planner picks the partial indexes from its statistics. */
#include <stdlib.h>
#include <string.h>

#include <posthorn/imap-search.h>
#include <posthorn/log.h>

#include "pgsql_private.h"

#define MAX_TERMS 250
#define MAX_DEPTH 64
#define MAX_DAY (INT64_C(1) << 40)
/* As migration 2 indexes it (messages_local_date). */
#define LOCAL_DATE "(internal_date + internal_tz * 60)"

static const struct {
    uint32_t flag;
    const char *set, *unset;
} flag_sql[] = {
    {PH_FLAG_SEEN, "((flags & 1) <> 0)", "((flags & 1) = 0)"},
    {PH_FLAG_ANSWERED, "((flags & 2) <> 0)", "((flags & 2) = 0)"},
    {PH_FLAG_FLAGGED, "((flags & 4) <> 0)", "((flags & 4) = 0)"},
    {PH_FLAG_DELETED, "((flags & 8) <> 0)", "((flags & 8) = 0)"},
    {PH_FLAG_DRAFT, "((flags & 16) <> 0)", "((flags & 16) = 0)"},
};

struct query {
    const struct pg_mbox_handle *mb;
    struct ph_buf sql;
    struct pg_arg *v;
    char **texts; /* owned by the query: the keyword parameters */
    size_t n, cap, ntexts, texts_cap;
    unsigned terms;
};

static void query_clear(struct query *q)
{
    for (size_t i = 0; i < q->ntexts; i++)
        free(q->texts[i]);
    free(q->texts);
    free(q->v);
    ph_buf_free(&q->sql);
}

/* Writes sql with each '?' in it becoming the $n of the next value. */
static void put_ints(struct query *q, const char *sql, size_t n,
                     const int64_t *values)
{
    size_t k = 0;
    for (const char *p = sql; *p; p++) {
        if (*p != '?') {
            ph_buf_putc(&q->sql, *p);
            continue;
        }
        ph_assert(k < n);
        ph_array_grow(&q->v, &q->cap, q->n + 1, sizeof(*q->v));
        q->v[q->n++] = PA_I(values[k++]);
        ph_buf_printf(&q->sql, "$%zu", q->n);
    }
    ph_assert(k == n);
}

static int flag_index(uint32_t flag)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(flag_sql); i++)
        if (flag_sql[i].flag == flag)
            return (int)i;
    return -1;
}

/* Writes a set of n UID ranges; -1 beyond the term budget. */
static int put_ranges(struct query *q, const struct ph_uid_range *r,
                      const struct ph_imap_seq_range *sr, size_t n)
{
    if (n == 0) {
        ph_buf_puts(&q->sql, "false");
        return 0;
    }
    if (n > MAX_TERMS || (q->terms += (unsigned)n) > MAX_TERMS)
        return -1;
    ph_buf_putc(&q->sql, '(');
    for (size_t i = 0; i < n; i++) {
        int64_t lo = r != NULL ? r[i].lo : sr[i].lo;
        int64_t hi = r != NULL ? r[i].hi : sr[i].hi;
        put_ints(q,
                 i > 0 ? " OR (uid BETWEEN ? AND ?)" : "(uid BETWEEN ? AND ?)",
                 2, (const int64_t[]){lo, hi});
    }
    ph_buf_putc(&q->sql, ')');
    return 0;
}

static int put_keyword(struct query *q, const char *kw)
{
    struct ph_buf b = {0};
    ph_buf_putc(&b, ' ');
    for (const unsigned char *p = (const unsigned char *)kw; *p; p++) {
        /* Stored keywords are printable ASCII without spaces: anything
         * else matches nothing. */
        if (*p <= ' ' || *p >= 0x7f) {
            ph_buf_free(&b);
            ph_buf_puts(&q->sql, "false");
            return 0;
        }
        ph_buf_putc(&b, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
    }
    ph_buf_putc(&b, ' ');
    ph_array_grow(&q->texts, &q->texts_cap, q->ntexts + 1, sizeof(*q->texts));
    char *text = q->texts[q->ntexts++] = ph_buf_steal(&b);
    ph_array_grow(&q->v, &q->cap, q->n + 1, sizeof(*q->v));
    q->v[q->n++] = PA_S(text);
    ph_buf_printf(&q->sql,
                  "(keywords IS NOT NULL AND strpos(' ' || lower(keywords) "
                  "|| ' ', $%zu) > 0)",
                  q->n);
    return 0;
}

static int put_day(struct query *q, enum ph_imap_search_op op, int64_t day)
{
    if (day > MAX_DAY || day < -MAX_DAY)
        return -1;
    int64_t start = day * 86400, end = start + 86400;
    if (op == PH_IMAP_SEARCH_BEFORE)
        put_ints(q, "(" LOCAL_DATE " < ?)", 1, &start);
    else if (op == PH_IMAP_SEARCH_SINCE)
        put_ints(q, "(" LOCAL_DATE " >= ?)", 1, &start);
    else
        put_ints(q, "(" LOCAL_DATE " >= ? AND " LOCAL_DATE " < ?)", 2,
                 (const int64_t[]){start, end});
    return 0;
}

static int64_t clamp(uint64_t n)
{
    return n > INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* Appends the SQL of k; -1 when some key cannot be pushed down. */
static int put_key(struct query *q, const struct ph_imap_search_key *k,
                   unsigned depth)
{
    if (depth > MAX_DEPTH || ++q->terms > MAX_TERMS)
        return -1;
    switch (k->op) {
    case PH_IMAP_SEARCH_AND:
    case PH_IMAP_SEARCH_OR:
        if (k->n_children == 0) {
            ph_buf_puts(&q->sql, "true");
            return 0;
        }
        ph_buf_putc(&q->sql, '(');
        for (size_t i = 0; i < k->n_children; i++) {
            if (i > 0)
                ph_buf_puts(&q->sql,
                            k->op == PH_IMAP_SEARCH_AND ? " AND " : " OR ");
            if (put_key(q, &k->children[i], depth + 1) < 0)
                return -1;
        }
        ph_buf_putc(&q->sql, ')');
        return 0;
    case PH_IMAP_SEARCH_NOT: {
        const struct ph_imap_search_key *ch = &k->children[0];
        int fi = ch->op == PH_IMAP_SEARCH_FLAG ? flag_index(ch->flag) : -1;
        if (fi >= 0) {
            ph_buf_puts(&q->sql, flag_sql[fi].unset);
            return 0;
        }
        ph_buf_puts(&q->sql, "(NOT ");
        if (put_key(q, ch, depth + 1) < 0)
            return -1;
        ph_buf_putc(&q->sql, ')');
        return 0;
    }
    case PH_IMAP_SEARCH_ALL: ph_buf_puts(&q->sql, "true"); return 0;
    case PH_IMAP_SEARCH_FLAG: {
        int fi = flag_index(k->flag);
        if (fi < 0)
            return -1;
        ph_buf_puts(&q->sql, flag_sql[fi].set);
        return 0;
    }
    case PH_IMAP_SEARCH_RECENT:
        return put_ranges(q, q->mb->recent.r, NULL, q->mb->recent.n);
    case PH_IMAP_SEARCH_KEYWORD: return put_keyword(q, k->str);
    case PH_IMAP_SEARCH_UIDSET:
        return put_ranges(q, NULL, k->set.ranges, k->set.n);
    case PH_IMAP_SEARCH_LARGER:
        put_ints(q, "(size > ?)", 1, (const int64_t[]){clamp(k->number)});
        return 0;
    case PH_IMAP_SEARCH_SMALLER:
        put_ints(q, "(size < ?)", 1, (const int64_t[]){clamp(k->number)});
        return 0;
    case PH_IMAP_SEARCH_MODSEQ:
        put_ints(q, "(modseq >= ?)", 1, (const int64_t[]){clamp(k->number)});
        return 0;
    case PH_IMAP_SEARCH_BEFORE:
    case PH_IMAP_SEARCH_ON:
    case PH_IMAP_SEARCH_SINCE: return put_day(q, k->op, k->day);
    case PH_IMAP_SEARCH_SEQSET:     /* the session's numbering */
    case PH_IMAP_SEARCH_SENTBEFORE: /* the Date header: not stored */
    case PH_IMAP_SEARCH_SENTON:
    case PH_IMAP_SEARCH_SENTSINCE:
    case PH_IMAP_SEARCH_HEADER: /* headers and text: no index yet */
    case PH_IMAP_SEARCH_BODY:
    case PH_IMAP_SEARCH_TEXT: return -1;
    }
    return -1;
}

/* The lowest and highest UID a top-level UID set or RECENT allows. */
static bool key_uid_bounds(const struct pg_mbox_handle *mb,
                           const struct ph_imap_search_key *k, uint32_t *lo_r,
                           uint32_t *hi_r)
{
    if (k->op == PH_IMAP_SEARCH_UIDSET) {
        *lo_r = k->set.n > 0 ? k->set.ranges[0].lo : 1;
        *hi_r = 0;
        for (size_t i = 0; i < k->set.n; i++) {
            *lo_r = k->set.ranges[i].lo < *lo_r ? k->set.ranges[i].lo : *lo_r;
            *hi_r = k->set.ranges[i].hi > *hi_r ? k->set.ranges[i].hi : *hi_r;
        }
        return true;
    }
    if (k->op == PH_IMAP_SEARCH_RECENT) {
        *lo_r = mb->recent.n > 0 ? mb->recent.r[0].lo : 1;
        *hi_r = mb->recent.n > 0 ? mb->recent.r[mb->recent.n - 1].hi : 0;
        return true;
    }
    return false;
}

static int query_build(struct query *q, const struct ph_imap_search_key *root)
{
    const struct ph_imap_search_key *top = root;
    size_t ntop = 1;
    if (root->op == PH_IMAP_SEARCH_AND) {
        top = root->children;
        ntop = root->n_children;
    }
    uint32_t lo = 1, hi = UINT32_MAX;
    bool bounded = false;
    for (size_t i = 0; i < ntop; i++) {
        uint32_t l, h;
        if (key_uid_bounds(q->mb, &top[i], &l, &h)) {
            lo = l > lo ? l : lo;
            hi = h < hi ? h : hi;
            bounded = true;
        }
    }
    put_ints(q, "SELECT uid FROM messages WHERE mailbox_id = ?", 1, &q->mb->id);
    if (bounded)
        put_ints(q, " AND uid BETWEEN ? AND ?", 2, (const int64_t[]){lo, hi});
    ph_buf_puts(&q->sql, " AND ");
    return put_key(q, root, 0);
}

int pg_search(struct ph_mailbox *pub, const struct ph_imap_search_key *key,
              struct ph_uidset *result_r, const char **error_r)
{
    struct pg_mbox_handle *mb = (struct pg_mbox_handle *)pub;
    struct pg_ctx *ctx = mb->ctx;
    struct query q = {.mb = mb};
    struct pg_conn *c = NULL;
    struct pg_mbox row;
    int err = 0;

    if (query_build(&q, key) < 0) {
        query_clear(&q);
        *error_r = "This search needs the messages themselves";
        return PH_STORAGE_ERR_UNSUPPORTED;
    }
    int ret = pg_conn_get(ctx, &c, error_r);
    if (ret == 0)
        ret = pg_mb_row(mb, c, false, &row, error_r);
    PGresult *res = NULL;
    if (ret == 0) {
        res = pg_query_adhoc(ctx, c, "search", q.sql.data, false, q.n, q.v,
                             &err, error_r);
        if (res == NULL)
            ret = err;
    }
    pg_conn_put(ctx, &c);
    if (res != NULL) {
        size_t n = (size_t)PQntuples(res);
        uint32_t *uids = ph_malloc((n + 1) * sizeof(*uids));
        for (size_t i = 0; i < n; i++)
            uids[i] = (uint32_t)pg_int(res, (int)i, 0);
        PQclear(res);
        pg_uidset_add_many(result_r, uids, n);
        free(uids);
        pg_debug(ctx,
                 "event=search mailbox_id=%" PRId64 " matches=%zu sql=\"%s\"",
                 mb->id, n, q.sql.data);
    }
    query_clear(&q);
    return ret;
}
