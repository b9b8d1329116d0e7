/* SPDX-License-Identifier: MIT */
/* The SQL mail store: SEARCH pushdown.
 *
 * A program whose every key is about what the store keeps becomes one
 * query made of fixed fragments and '?' only: every value from the program
 * is a parameter. Anything else (other header fields, Date header days,
 * sequence numbers) makes the whole program UNSUPPORTED, and the endpoint
 * evaluates it over fetched data.
 *
 *   FLAG        (flags & BIT) != 0; NOT FLAG becomes (flags & BIT) = 0, the
 *               form of the partial indexes messages_unseen/_flagged/_deleted
 *   KEYWORD     the stored form is "kw1 kw2" (as first written, compared
 *               case-insensitively; keywords are ASCII atoms; NULL for
 *               none): the dialect's keyword_expr finds " kw " in
 *               ' ' || lower(keywords) || ' ', never NULL (NOT stays
 *               exact); no LIKE, so '_' in a keyword is no wildcard
 *   UIDSET      (uid BETWEEN ? AND ?) OR ..., at most MAX_TERMS ranges;
 *               RECENT the same over the UIDs this handle holds
 *   dates       "disregarding time and timezone" (RFC 3501 6.4.4) is the
 *               day of the internal date in its own zone:
 *               floor((internal_date + internal_tz * 60) / 86400), the day
 *               ph_imap_day_of computes. Compared as seconds, with no
 *               division: BEFORE D is local < D*86400, SINCE D is local >=
 *               D*86400, ON D both bounds of [D*86400, (D+1)*86400); local
 *               is the indexed expression of messages_local_date.
 *   LARGER, SMALLER, MODSEQ   size > ?, size < ?, modseq >= ?
 *   FROM, TO, CC, BCC, SUBJECT (and HEADER of those names)
 *               EXISTS a row of header_values for the body and field (an
 *               empty string: any, as RFC 3501 6.4.4 and the evaluator
 *               say), whose value contains the string (the dialect's
 *               put_header): the values and the comparison are the
 *               endpoint's own, so the answer is exact
 *   EMAILID, THREADID (RFC 8474 6)   the body's row of body_objects
 *   TEXT, BODY  the dialect's put_text over body_text: index candidates,
 *               then the exact comparison. When a body of the mailbox has
 *               no text kept (over 16 MiB), programs with TEXT/BODY are
 *               UNSUPPORTED.
 *
 * Planning: a top-level UID set (or RECENT) also bounds the scan of the
 * primary key to [its lowest, its highest UID]; a top-level flag key asks
 * the dialect for its index (SQLite's planner has no statistics). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/imap-search.h>

#include "sqlstore-private.h"

/* Keys plus UID ranges in one program: keeps the expression well under
 * SQLite's depth limit (1000) and its parameters under 999. */
#define MAX_TERMS 250
#define MAX_DEPTH 64
/* Days whose seconds fit in int64 with room to spare. */
#define MAX_DAY (INT64_C(1) << 40)
/* The local time of the internal date, as messages_local_date indexes it. */
#define LOCAL_DATE "(internal_date + internal_tz * 60)"
/* True and false, never as constants: SQLite folds "x AND 0" to 0 while
 * parsing, which would drop the term a partial index needs. */
#define SQL_TRUE "(uid > 0)"
#define SQL_FALSE "(uid < 0)"

/* The fragments read as the partial indexes of the schemas do. */
static const struct {
    uint32_t flag;
    const char *set, *unset;
    int rank; /* the index of the top-level key that wins: lower, fewer rows */
} flag_sql[] = {
    {PH_FLAG_SEEN, "((flags & 1) != 0)", "((flags & 1) = 0)", 3},
    {PH_FLAG_ANSWERED, "((flags & 2) != 0)", "((flags & 2) = 0)", 9},
    {PH_FLAG_FLAGGED, "((flags & 4) != 0)", "((flags & 4) = 0)", 2},
    {PH_FLAG_DELETED, "((flags & 8) != 0)", "((flags & 8) = 0)", 1},
    {PH_FLAG_DRAFT, "((flags & 16) != 0)", "((flags & 16) = 0)", 9},
};

struct query {
    const struct sqls_mailbox *mb;
    struct ph_sql_builder b;
    unsigned terms;
    bool text; /* a TEXT or BODY key is in it */
};

static int flag_index(uint32_t flag)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(flag_sql); i++)
        if (flag_sql[i].flag == flag)
            return (int)i;
    return -1;
}

/* A set of UID ranges; -1 beyond the term budget. */
static int put_ranges(struct query *q, const struct ph_uid_range *r,
                      const struct ph_imap_seq_range *sr, size_t n)
{
    if (n == 0) {
        ph_sql_frag(&q->b, SQL_FALSE);
        return 0;
    }
    if (n > MAX_TERMS || (q->terms += (unsigned)n) > MAX_TERMS)
        return -1;
    ph_sql_frag(&q->b, "(");
    for (size_t i = 0; i < n; i++)
        ph_sql_fragv(&q->b,
                     i > 0 ? " OR (uid BETWEEN ? AND ?)"
                           : "(uid BETWEEN ? AND ?)",
                     PH_SQL_I(r != NULL ? r[i].lo : sr[i].lo),
                     PH_SQL_I(r != NULL ? r[i].hi : sr[i].hi));
    ph_sql_frag(&q->b, ")");
    return 0;
}

static void put_keyword(struct query *q, const char *kw)
{
    struct ph_buf b = {0};
    ph_buf_putc(&b, ' ');
    for (const unsigned char *p = (const unsigned char *)kw; *p; p++) {
        /* Stored keywords are printable ASCII without spaces: anything
         * else matches nothing, as strcasecmp would find. */
        if (*p <= ' ' || *p >= 0x7f) {
            ph_buf_free(&b);
            ph_sql_frag(&q->b, SQL_FALSE);
            return;
        }
        ph_buf_putc(&b, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
    }
    ph_buf_putc(&b, ' ');
    ph_sql_fragv(&q->b, q->mb->s->d->keyword_expr, PH_SQL_SN(b.data, b.len));
    ph_buf_free(&b);
}

/* FROM, TO, CC, BCC, SUBJECT and HEADER of those names; -1 for others. */
static int put_header(struct query *q, const struct ph_imap_search_key *k)
{
    int field = -1;
    for (int f = 0; f < PH_SQLSTORE_HEADER_FIELDS; f++)
        if (strcasecmp(k->field, ph_sqlstore_header_fields[f]) == 0)
            field = f;
    if (field < 0)
        return -1;
    ph_sql_fragv(&q->b,
                 "(EXISTS (SELECT 1 FROM header_values h WHERE "
                 "h.body_id = messages.body_id AND h.field = ?",
                 PH_SQL_I(field));
    if (k->len > 0)
        q->mb->s->d->put_header(&q->b, field, k->str, k->len);
    ph_sql_frag(&q->b, "))");
    return 0;
}

static void put_text(struct query *q, const struct ph_imap_search_key *k,
                     bool whole)
{
    q->text = true;
    if (k->len == 0) /* the empty string is in every text */
        ph_sql_frag(&q->b, SQL_TRUE);
    else
        q->mb->s->d->put_text(&q->b, k->str, k->len, whole);
}

static int put_day(struct query *q, enum ph_imap_search_op op, int64_t day)
{
    if (day > MAX_DAY || day < -MAX_DAY)
        return -1;
    int64_t start = day * 86400, end = start + 86400;
    if (op == PH_IMAP_SEARCH_BEFORE)
        ph_sql_fragv(&q->b, "(" LOCAL_DATE " < ?)", PH_SQL_I(start));
    else if (op == PH_IMAP_SEARCH_SINCE)
        ph_sql_fragv(&q->b, "(" LOCAL_DATE " >= ?)", PH_SQL_I(start));
    else
        ph_sql_fragv(&q->b, "(" LOCAL_DATE " >= ? AND " LOCAL_DATE " < ?)",
                     PH_SQL_I(start), PH_SQL_I(end));
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
            ph_sql_frag(&q->b, SQL_TRUE);
            return 0;
        }
        ph_sql_frag(&q->b, "(");
        for (size_t i = 0; i < k->n_children; i++) {
            if (i > 0)
                ph_sql_frag(&q->b,
                            k->op == PH_IMAP_SEARCH_AND ? " AND " : " OR ");
            if (put_key(q, &k->children[i], depth + 1) < 0)
                return -1;
        }
        ph_sql_frag(&q->b, ")");
        return 0;
    case PH_IMAP_SEARCH_NOT: {
        const struct ph_imap_search_key *ch = &k->children[0];
        int fi = ch->op == PH_IMAP_SEARCH_FLAG ? flag_index(ch->flag) : -1;
        if (fi >= 0) {
            ph_sql_frag(&q->b, flag_sql[fi].unset);
            return 0;
        }
        ph_sql_frag(&q->b, "(NOT ");
        if (put_key(q, ch, depth + 1) < 0)
            return -1;
        ph_sql_frag(&q->b, ")");
        return 0;
    }
    case PH_IMAP_SEARCH_ALL: ph_sql_frag(&q->b, SQL_TRUE); return 0;
    case PH_IMAP_SEARCH_FLAG: {
        int fi = flag_index(k->flag);
        if (fi < 0)
            return -1;
        ph_sql_frag(&q->b, flag_sql[fi].set);
        return 0;
    }
    case PH_IMAP_SEARCH_RECENT:
        return put_ranges(q, q->mb->recent.r, NULL, q->mb->recent.n);
    case PH_IMAP_SEARCH_KEYWORD: put_keyword(q, k->str); return 0;
    case PH_IMAP_SEARCH_UIDSET:
        return put_ranges(q, NULL, k->set.ranges, k->set.n);
    case PH_IMAP_SEARCH_LARGER:
        ph_sql_fragv(&q->b, "(size > ?)", PH_SQL_I(clamp(k->number)));
        return 0;
    case PH_IMAP_SEARCH_SMALLER:
        ph_sql_fragv(&q->b, "(size < ?)", PH_SQL_I(clamp(k->number)));
        return 0;
    case PH_IMAP_SEARCH_MODSEQ:
        ph_sql_fragv(&q->b, "(modseq >= ?)", PH_SQL_I(clamp(k->number)));
        return 0;
    case PH_IMAP_SEARCH_BEFORE:
    case PH_IMAP_SEARCH_ON:
    case PH_IMAP_SEARCH_SINCE: return put_day(q, k->op, k->day);
    case PH_IMAP_SEARCH_HEADER: return put_header(q, k);
    case PH_IMAP_SEARCH_BODY: put_text(q, k, false); return 0;
    case PH_IMAP_SEARCH_TEXT: put_text(q, k, true); return 0;
    case PH_IMAP_SEARCH_EMAILID:
    case PH_IMAP_SEARCH_THREADID:
        /* The unique index of emailid, or the body's own row. */
        ph_sql_fragv(&q->b,
                     k->op == PH_IMAP_SEARCH_EMAILID
                         ? "(body_id IN (SELECT body_id FROM body_objects "
                           "WHERE emailid = ?))"
                         : "(body_id IN (SELECT body_id FROM body_objects "
                           "WHERE threadid = ?))",
                     PH_SQL_S(k->str));
        return 0;
    case PH_IMAP_SEARCH_SEQSET:     /* the session's numbering */
    case PH_IMAP_SEARCH_SENTBEFORE: /* the Date header: not stored */
    case PH_IMAP_SEARCH_SENTON:
    case PH_IMAP_SEARCH_SENTSINCE: return -1;
    }
    return -1;
}

/* The lowest and highest UID a UID set or RECENT key allows (lo > hi: an
 * empty set); false for other keys. */
static bool key_uid_bounds(const struct sqls_mailbox *mb,
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
    if (k->op == PH_IMAP_SEARCH_RECENT) { /* the handle's set is sorted */
        *lo_r = mb->recent.n > 0 ? mb->recent.r[0].lo : 1;
        *hi_r = mb->recent.n > 0 ? mb->recent.r[mb->recent.n - 1].hi : 0;
        return true;
    }
    return false;
}

/* Builds the whole query; -1 when the program cannot be pushed down. */
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
    int index = -1;
    const char *hint = NULL;
    for (size_t i = 0; i < ntop; i++) {
        uint32_t l, h;
        if (key_uid_bounds(q->mb, &top[i], &l, &h)) {
            lo = l > lo ? l : lo;
            hi = h < hi ? h : hi;
            bounded = true;
        }
        bool set = top[i].op != PH_IMAP_SEARCH_NOT;
        const struct ph_imap_search_key *k = set ? &top[i] : top[i].children;
        int fi = k->op == PH_IMAP_SEARCH_FLAG ? flag_index(k->flag) : -1;
        const char *ih = fi >= 0 && q->mb->s->d->index_hint != NULL
                             ? q->mb->s->d->index_hint(k->flag, set)
                             : NULL;
        if (ih != NULL &&
            (index < 0 || flag_sql[fi].rank < flag_sql[index].rank)) {
            index = fi;
            hint = ih;
        }
    }
    ph_sql_frag(&q->b, "SELECT uid FROM messages");
    if (hint != NULL)
        ph_sql_frag(&q->b, hint);
    ph_sql_fragv(&q->b, " WHERE mailbox_id = ?", PH_SQL_I(q->mb->id));
    if (bounded)
        ph_sql_fragv(&q->b, " AND uid BETWEEN ? AND ?", PH_SQL_I(lo),
                     PH_SQL_I(hi));
    ph_sql_frag(&q->b, " AND ");
    return put_key(q, root, 0);
}

int sqls_search(struct ph_mailbox *pub, const struct ph_imap_search_key *key,
                struct ph_uidset *result_r, const char **error_r)
{
    struct sqls_mailbox *mb = (struct sqls_mailbox *)pub;
    struct query q = {.mb = mb};
    struct ph_sql_conn *c = NULL;
    struct ph_sql_cursor *cur = NULL;
    struct sqls_mbox row;
    struct ph_uidset found = {0};
    int64_t unkept = 0;
    if (query_build(&q, key) < 0) {
        ph_sql_builder_clear(&q.b);
        return sqls_fail(PH_STORAGE_ERR_UNSUPPORTED,
                         "This search needs the messages themselves", error_r);
    }
    int ret = ph_sql_get(mb->s->sql, &c, error_r);
    if (ret == 0)
        ret = sqls_mb_row(mb, c, PH_SQS_MBOX_BY_ID, &row, error_r);
    /* A body of the mailbox without its text kept: TEXT and BODY need the
     * messages themselves. */
    if (ret == 0 && q.text &&
        (ret = ph_sql_one(c, PH_SQS_TEXT_UNKEPT, &unkept, error_r,
                          PH_SQL_I(mb->id))) == 1)
        ret = sqls_fail(PH_STORAGE_ERR_UNSUPPORTED,
                        "This search needs the messages themselves", error_r);
    if (ret == 0)
        ret = ph_sql_query_built(c, &q.b, &cur, error_r);
    if (ret == 0)
        ret = sqls_uids_read(&cur, &found, error_r);
    ph_sql_close(&cur);
    ph_sql_put(mb->s->sql, &c);
    if (ret == 0) {
        for (size_t i = 0; i < found.n; i++)
            ph_uidset_add_range(result_r, found.r[i].lo, found.r[i].hi);
        ph_sqlstore_debug(mb->s,
                          "event=search mailbox_id=%" PRId64
                          " matches=%" PRIu64 " sql=\"%s\"",
                          mb->id, ph_uidset_count(&found), q.b.sql.data);
    }
    ph_uidset_clear(&found);
    ph_sql_builder_clear(&q.b);
    return ret;
}
