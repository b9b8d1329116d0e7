/* SPDX-License-Identifier: MIT */
/* storage.sqlite: SEARCH pushdown.
 *
 * A program whose every key is about what the messages table holds (flags,
 * keywords, UIDs, sizes, internal dates, modseqs, this handle's \Recent)
 * becomes one query: the SQL text is made of fixed fragments and `?`
 * placeholders only, every value from the program is bound. Anything else
 * (other header fields, bodies, Date header days, sequence numbers) makes
 * the whole program UNSUPPORTED, and the endpoint evaluates it over
 * fetched data.
 *
 * How keys become SQL:
 *   FLAG        (flags & BIT) != 0; NOT FLAG becomes (flags & BIT) = 0, the
 *               form the partial indexes messages_unseen/_flagged use
 *   KEYWORD     the stored form is "kw1 kw2" (as first written, compared
 *               case-insensitively; keywords are ASCII atoms; NULL for
 *               none), so keywords IS NOT NULL AND instr(' ' ||
 *               lower(keywords) || ' ', ' kw ') > 0, never NULL (NOT stays
 *               exact); no LIKE, so '_' in a keyword is no wildcard. No
 *               index: a scan of the mailbox's rows, ~50 ms per 100,000
 *   UIDSET      (uid BETWEEN ? AND ?) OR ..., at most MAX_TERMS ranges
 *   RECENT      the same over the UIDs this handle claimed
 *   dates       "disregarding time and timezone" (RFC 3501 6.4.4) is the
 *               day of the internal date in its own zone:
 *               floor((internal_date + internal_tz * 60) / 86400), the
 *               day ph_imap_day_of computes. Compared as seconds, with no
 *               division: day < D <=> local < D * 86400, so BEFORE D is
 *               local < D*86400, SINCE D is local >= D*86400, ON D both
 *               bounds of [D*86400, (D+1)*86400); local is the indexed
 *               expression of messages_local_date.
 *   LARGER, SMALLER, MODSEQ   size > ?, size < ?, modseq >= ?
 *   FROM, TO, CC, BCC, SUBJECT (and HEADER of those names)
 *               EXISTS a row of header_values for the body and field
 *               whose value ph_contains the string: the values and the
 *               comparison are the endpoint's own (ph_message_header_values,
 *               ph_message_text_contains), so the answer is exact. One
 *               primary-key probe per message of the mailbox.
 *
 *   TEXT, BODY  EXISTS the body's row of body_text whose folded text
 *               (from header_len on for BODY) ph_contains the string:
 *               the text is what the endpoint would compare, so the
 *               answer is exact. A string of 3 or more characters first
 *               asks the trigram index: the body must be among those
 *               holding each of its trigrams (FTS5 folds both sides the
 *               same way, so this never drops a match) or among those not
 *               indexed (yet, or ever); ph_contains confirms the
 *               candidates only. When a
 *               body of the mailbox has no text kept (over SQ_TEXT_MAX),
 *               programs with TEXT/BODY are UNSUPPORTED.
 *
 * Planning: a top-level UID set (or RECENT) also bounds the scan of the
 * primary key to [its lowest, its highest UID]; a top-level UNSEEN,
 * FLAGGED or DELETED picks its partial index (without statistics the
 * planner would scan the mailbox by primary key instead). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/imap-search.h>
#include <posthorn/log.h>
#include <posthorn/message.h>
#include <unistr.h>

#include "sqlite_private.h"

/* Keys plus UID ranges in one program: keeps the expression well under
 * SQLite's depth limit (1000) and its bound parameters under 999. */
#define MAX_TERMS 250
#define MAX_DEPTH 64
/* Days whose seconds fit in int64 with room to spare. */
#define MAX_DAY (INT64_C(1) << 40)

/* The local time of the internal date, exactly as messages_local_date
 * indexes it. */
#define LOCAL_DATE "internal_date + internal_tz * 60"
/* True and false, never as constants: SQLite folds "x AND 0" to 0 while
 * parsing, which would drop the term a partial index needs. */
#define SQL_TRUE "(uid > 0)"
#define SQL_FALSE "(uid < 0)"

/* The fragments must read as the partial indexes of sqlite_db.c do. */
static const struct {
    uint32_t flag;
    const char *set, *unset;
    const char *index; /* the partial index of one form, if any */
    bool index_unset;  /* ... of the unset form */
    int rank;          /* which index wins: lower, usually fewer rows */
} flag_sql[] = {
    {PH_FLAG_SEEN, "((flags & 1) != 0)", "((flags & 1) = 0)", "messages_unseen",
     true, 3},
    {PH_FLAG_ANSWERED, "((flags & 2) != 0)", "((flags & 2) = 0)", NULL, false,
     0},
    {PH_FLAG_FLAGGED, "((flags & 4) != 0)", "((flags & 4) = 0)",
     "messages_flagged", false, 2},
    {PH_FLAG_DELETED, "((flags & 8) != 0)", "((flags & 8) = 0)",
     "messages_deleted", false, 1},
    {PH_FLAG_DRAFT, "((flags & 16) != 0)", "((flags & 16) = 0)", NULL, false,
     0},
};

struct param {
    bool text;
    int64_t i;
    char *s;
    size_t len; /* of s, which may hold NUL (SEARCH strings as sent) */
};

struct query {
    const struct sq_mailbox *mb;
    struct ph_buf sql;
    struct param *v;
    size_t n, cap;
    unsigned terms;
    bool text; /* a TEXT or BODY key is in it */
};

static void query_clear(struct query *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->v[i].s);
    free(q->v);
    ph_buf_free(&q->sql);
}

static struct param *param_add(struct query *q)
{
    ph_array_grow(&q->v, &q->cap, q->n + 1, sizeof(*q->v));
    struct param *p = &q->v[q->n++];
    *p = (struct param){0};
    return p;
}

/* Writes sql, with each '?' in it taking the next of the n values. */
static void put_ints(struct query *q, const char *sql, size_t n,
                     const int64_t *values)
{
    ph_buf_puts(&q->sql, sql);
    for (size_t i = 0; i < n; i++)
        param_add(q)->i = values[i];
}

/* Binds s (malloc'ed, len bytes, NUL allowed) to the next '?'. */
static void put_string(struct query *q, char *s, size_t len)
{
    struct param *p = param_add(q);
    p->text = true;
    p->s = s;
    p->len = len;
}

static int flag_index(uint32_t flag)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(flag_sql); i++)
        if (flag_sql[i].flag == flag)
            return (int)i;
    return -1;
}

/* Opens a set of n UID ranges: 1 when they are to follow (then
 * put_range for each, and ranges_close), 0 for an empty set, -1 beyond
 * the term budget. */
static int ranges_open(struct query *q, size_t n)
{
    if (n == 0) {
        ph_buf_puts(&q->sql, SQL_FALSE);
        return 0;
    }
    if (n > MAX_TERMS || (q->terms += (unsigned)n) > MAX_TERMS)
        return -1;
    ph_buf_putc(&q->sql, '(');
    return 1;
}

static void put_range(struct query *q, size_t i, uint32_t lo, uint32_t hi)
{
    put_ints(q, i > 0 ? " OR (uid BETWEEN ? AND ?)" : "(uid BETWEEN ? AND ?)",
             2, (const int64_t[]){lo, hi});
}

static void ranges_close(struct query *q)
{
    ph_buf_putc(&q->sql, ')');
}

static int put_key(struct query *q, const struct ph_imap_search_key *k,
                   unsigned depth);

static int put_keyword(struct query *q, const char *kw)
{
    struct ph_buf b = {0};
    ph_buf_putc(&b, ' ');
    for (const unsigned char *p = (const unsigned char *)kw; *p; p++) {
        /* Stored keywords are printable ASCII without spaces: anything
         * else matches nothing, as strcasecmp would find. */
        if (*p <= ' ' || *p >= 0x7f) {
            ph_buf_free(&b);
            ph_buf_puts(&q->sql, SQL_FALSE);
            return 0;
        }
        ph_buf_putc(&b, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
    }
    ph_buf_putc(&b, ' ');
    ph_buf_puts(&q->sql, "(keywords IS NOT NULL AND "
                         "instr(' ' || lower(keywords) || ' ', ?) > 0)");
    size_t len = b.len;
    put_string(q, ph_buf_steal(&b), len);
    return 0;
}

/* FROM, TO, CC, BCC, SUBJECT and HEADER of those names: the values
 * header_values keeps; -1 for other fields. An empty string matches every
 * message that has the field (RFC 3501 6.4.4), as the evaluator does. */
static int put_header(struct query *q, const struct ph_imap_search_key *k)
{
    int field = -1;
    for (int f = 0; f < SQ_HEADER_FIELDS; f++)
        if (strcasecmp(k->field, sq_header_fields[f]) == 0)
            field = f;
    if (field < 0)
        return -1;
    put_ints(q,
             "(EXISTS (SELECT 1 FROM header_values h WHERE "
             "h.body_id = messages.body_id AND h.field = ?",
             1, (const int64_t[]){field});
    if (k->len > 0) {
        ph_buf_puts(&q->sql, " AND ph_contains(h.value, ?)");
        put_string(q, ph_strndup(k->str, k->len), k->len);
    }
    ph_buf_puts(&q->sql, "))");
    return 0;
}

/* At most this many trigrams of a string are asked for: any subset gives
 * candidates that include every match. */
#define MAX_TRIGRAMS 24

/* The trigram query for a folded key: "abc" AND "bcd" ..., each term one
 * trigram, quoted (a '"' doubled), spread over the key; NULL when the key
 * has fewer than 3 characters, a NUL, or is not UTF-8. */
static char *trigram_query(const char *key, size_t len)
{
    if (memchr(key, '\0', len) != NULL ||
        u8_check((const uint8_t *)key, len) != NULL)
        return NULL;
    size_t *starts = ph_calloc(len + 1, sizeof(*starts));
    size_t nchars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)key[i] & 0xc0) != 0x80)
            starts[nchars++] = i;
    starts[nchars] = len;
    if (nchars < 3) {
        free(starts);
        return NULL;
    }
    size_t ntri = nchars - 2, want = ntri < MAX_TRIGRAMS ? ntri : MAX_TRIGRAMS;
    struct ph_buf b = {0};
    for (size_t j = 0; j < want; j++) {
        size_t t = want == 1 ? 0 : j * (ntri - 1) / (want - 1);
        if (j > 0)
            ph_buf_puts(&b, " AND ");
        ph_buf_putc(&b, '"');
        for (size_t i = starts[t]; i < starts[t + 3]; i++) {
            if (key[i] == '"')
                ph_buf_putc(&b, '"');
            ph_buf_putc(&b, key[i]);
        }
        ph_buf_putc(&b, '"');
    }
    free(starts);
    return ph_buf_steal(&b);
}

/* TEXT (whole) and BODY. */
static int put_text(struct query *q, const struct ph_imap_search_key *k,
                    bool whole)
{
    q->text = true;
    if (k->len == 0) { /* the empty string is in every text */
        ph_buf_puts(&q->sql, SQL_TRUE);
        return 0;
    }
    struct ph_buf folded = {0};
    ph_message_fold(k->str, k->len, &folded);
    char *tri = trigram_query(folded.data, folded.len);
    ph_buf_free(&folded);
    ph_buf_puts(&q->sql, "(EXISTS (SELECT 1 FROM body_text t WHERE "
                         "t.body_id = messages.body_id AND ");
    if (tri != NULL) {
        ph_buf_puts(&q->sql, "(t.indexed != 1 OR t.body_id IN (SELECT rowid "
                             "FROM body_fts WHERE body_fts MATCH ?)) AND ");
        put_string(q, tri, strlen(tri));
    }
    ph_buf_puts(&q->sql, whole ? "ph_contains(t.text, ?)"
                               : "ph_contains(t.text, ?, t.header_len)");
    put_string(q, ph_strndup(k->str, k->len), k->len);
    ph_buf_puts(&q->sql, "))");
    return 0;
}

static int put_day(struct query *q, enum ph_imap_search_op op, int64_t day)
{
    if (day > MAX_DAY || day < -MAX_DAY)
        return -1;
    int64_t start = day * 86400, end = start + 86400;
    switch (op) {
    case PH_IMAP_SEARCH_BEFORE:
        put_ints(q, "(" LOCAL_DATE " < ?)", 1, &start);
        return 0;
    case PH_IMAP_SEARCH_SINCE:
        put_ints(q, "(" LOCAL_DATE " >= ?)", 1, &start);
        return 0;
    default:
        put_ints(q, "(" LOCAL_DATE " >= ? AND " LOCAL_DATE " < ?)", 2,
                 (const int64_t[]){start, end});
        return 0;
    }
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
            ph_buf_puts(&q->sql, SQL_TRUE);
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
    case PH_IMAP_SEARCH_ALL: ph_buf_puts(&q->sql, SQL_TRUE); return 0;
    case PH_IMAP_SEARCH_FLAG: {
        int fi = flag_index(k->flag);
        if (fi < 0)
            return -1;
        ph_buf_puts(&q->sql, flag_sql[fi].set);
        return 0;
    }
    case PH_IMAP_SEARCH_RECENT: {
        const struct ph_uidset *set = &q->mb->recent;
        int r = ranges_open(q, set->n);
        if (r > 0) {
            for (size_t i = 0; i < set->n; i++)
                put_range(q, i, set->r[i].lo, set->r[i].hi);
            ranges_close(q);
        }
        return r < 0 ? -1 : 0;
    }
    case PH_IMAP_SEARCH_KEYWORD: return put_keyword(q, k->str);
    case PH_IMAP_SEARCH_UIDSET: {
        int r = ranges_open(q, k->set.n);
        if (r > 0) {
            for (size_t i = 0; i < k->set.n; i++)
                put_range(q, i, k->set.ranges[i].lo, k->set.ranges[i].hi);
            ranges_close(q);
        }
        return r < 0 ? -1 : 0;
    }
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
    case PH_IMAP_SEARCH_HEADER: return put_header(q, k);
    case PH_IMAP_SEARCH_SEQSET:     /* the session's numbering */
    case PH_IMAP_SEARCH_SENTBEFORE: /* the Date header: not stored */
    case PH_IMAP_SEARCH_SENTON:
    case PH_IMAP_SEARCH_SENTSINCE: return -1;
    case PH_IMAP_SEARCH_BODY: return put_text(q, k, false);
    case PH_IMAP_SEARCH_TEXT: return put_text(q, k, true);
    }
    return -1;
}

/* The lowest and highest UID a UID set or RECENT key allows (lo > hi: an
 * empty set); false for other keys. */
static bool key_uid_bounds(const struct sq_mailbox *mb,
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
        /* The handle's set is sorted. */
        *lo_r = mb->recent.n > 0 ? mb->recent.r[0].lo : 1;
        *hi_r = mb->recent.n > 0 ? mb->recent.r[mb->recent.n - 1].hi : 0;
        return true;
    }
    return false;
}

/* The flag_sql entry whose partial index a top-level key can use, or -1. */
static int key_index(const struct ph_imap_search_key *k)
{
    bool unset = k->op == PH_IMAP_SEARCH_NOT;
    if (unset)
        k = &k->children[0];
    if (k->op != PH_IMAP_SEARCH_FLAG)
        return -1;
    int fi = flag_index(k->flag);
    if (fi < 0 || flag_sql[fi].index == NULL ||
        flag_sql[fi].index_unset != unset)
        return -1;
    return fi;
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
    for (size_t i = 0; i < ntop; i++) {
        uint32_t l, h;
        if (key_uid_bounds(q->mb, &top[i], &l, &h)) {
            lo = l > lo ? l : lo;
            hi = h < hi ? h : hi;
            bounded = true;
        }
        int fi = key_index(&top[i]);
        if (fi >= 0 && (index < 0 || flag_sql[fi].rank < flag_sql[index].rank))
            index = fi;
    }
    ph_buf_puts(&q->sql, "SELECT uid FROM messages");
    if (index >= 0) {
        ph_buf_puts(&q->sql, " INDEXED BY ");
        ph_buf_puts(&q->sql, flag_sql[index].index);
    }
    put_ints(q, " WHERE mailbox_id = ?", 1, &q->mb->id);
    if (bounded)
        put_ints(q, " AND uid BETWEEN ? AND ?", 2, (const int64_t[]){lo, hi});
    ph_buf_puts(&q->sql, " AND ");
    return put_key(q, root, 0);
}

static int query_run(struct sq_ctx *ctx, struct sq_conn *c,
                     const struct query *q, struct ph_uidset *result_r,
                     const char **error_r)
{
    sqlite3_stmt *st = NULL;
    /* Not cached: programs rarely repeat, and preparing is cheap next to
     * a scan. */
    int rc = sqlite3_prepare_v2(c->db, q->sql.data, (int)q->sql.len, &st, NULL);
    if (rc != SQLITE_OK) {
        sq_debug(ctx, "event=search_prepare_failed sql=\"%s\"", q->sql.data);
        return sq_fail(ctx, c, rc, "search", error_r);
    }
    for (size_t i = 0; i < q->n; i++) {
        if (q->v[i].text)
            sqlite3_bind_text(st, (int)i + 1, q->v[i].s, (int)q->v[i].len,
                              SQLITE_STATIC);
        else
            sqlite3_bind_int64(st, (int)i + 1, q->v[i].i);
    }
    uint32_t *uids = NULL;
    size_t n = 0, cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ph_array_grow(&uids, &cap, n + 1, sizeof(*uids));
        uids[n++] = (uint32_t)sqlite3_column_int64(st, 0);
    }
    int ret = rc == SQLITE_DONE ? 0 : sq_fail(ctx, c, rc, "search", error_r);
    sqlite3_finalize(st);
    if (ret == 0) {
        sq_uidset_add_many(result_r, uids, n);
        sq_debug(ctx,
                 "event=search mailbox_id=%" PRId64 " matches=%zu sql=\"%s\"",
                 q->mb->id, n, q->sql.data);
    }
    free(uids);
    return ret;
}

/* Does a body of the mailbox have no text kept (longer than
 * SQ_TEXT_MAX)? Then TEXT and BODY need the messages themselves. The
 * partial index holds the few bodies that are not in the trigram index. */
static int text_unkept(struct sq_ctx *ctx, struct sq_conn *c,
                       const struct sq_mailbox *mb, bool *unkept_r,
                       const char **error_r)
{
    sqlite3_stmt *st = sq_stmt(c, SQ_TEXT_UNKEPT);
    sqlite3_bind_int64(st, 1, mb->id);
    int rc = sqlite3_step(st);
    *unkept_r = rc == SQLITE_ROW;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? 0
               : sq_fail(ctx, c, rc, "search", error_r);
}

int sq_search(struct ph_mailbox *pub, const struct ph_imap_search_key *key,
              struct ph_uidset *result_r, const char **error_r)
{
    struct sq_mailbox *mb = (struct sq_mailbox *)pub;
    struct sq_ctx *ctx = mb->ctx;
    struct query q = {.mb = mb};
    struct sq_conn *c = NULL;
    struct sq_mbox row;

    if (query_build(&q, key) < 0) {
        query_clear(&q);
        *error_r = "This search needs the messages themselves";
        return PH_STORAGE_ERR_UNSUPPORTED;
    }
    int ret = sq_conn_get(ctx, &c, error_r);
    if (ret == 0 && (ret = sq_read_begin(ctx, c, error_r)) == 0) {
        bool unkept = false;
        ret = sq_mb_row(mb, c, &row, error_r);
        if (ret == 0 && q.text)
            ret = text_unkept(ctx, c, mb, &unkept, error_r);
        if (ret == 0 && unkept) {
            *error_r = "This search needs the messages themselves";
            ret = PH_STORAGE_ERR_UNSUPPORTED;
        }
        if (ret == 0)
            ret = query_run(ctx, c, &q, result_r, error_r);
        sq_read_end(c);
    }
    sq_conn_put(ctx, &c);
    query_clear(&q);
    return ret;
}

/* ph_contains(text, key): does text contain key as SEARCH compares
 * (ph_message_text_contains)? The key's matcher is kept with the
 * statement's constant argument, so a scan folds the key once. */
static void matcher_destroy(void *p)
{
    struct ph_message_matcher *m = p;
    ph_message_matcher_free(&m);
}

static void contains_fn(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    const char *text = (const char *)sqlite3_value_text(argv[0]);
    size_t text_len = (size_t)sqlite3_value_bytes(argv[0]);
    /* ph_contains(text, key, start): from byte start on (BODY skips the
     * header's bytes of body_text). */
    if (argc == 3 && text != NULL) {
        sqlite3_int64 start = sqlite3_value_int64(argv[2]);
        start = start < 0 ? 0 : start;
        if ((uint64_t)start > text_len)
            start = (sqlite3_int64)text_len;
        text += start;
        text_len -= (size_t)start;
    }
    struct ph_message_matcher *m = sqlite3_get_auxdata(cx, 1);
    if (m == NULL) {
        const char *key = (const char *)sqlite3_value_text(argv[1]);
        size_t key_len = (size_t)sqlite3_value_bytes(argv[1]);
        m = ph_message_matcher_new(key ? key : "", key ? key_len : 0);
        sqlite3_set_auxdata(cx, 1, m, matcher_destroy);
        /* SQLite may free it at once (out of memory, or a key that is
         * not a constant): then ask again each time. */
        if ((m = sqlite3_get_auxdata(cx, 1)) == NULL) {
            sqlite3_result_int(cx, ph_message_text_contains(
                                       text ? text : "", text ? text_len : 0,
                                       key ? key : "", key ? key_len : 0));
            return;
        }
    }
    ph_message_matcher_reset(m);
    sqlite3_result_int(
        cx, ph_message_matcher_feed(m, text ? text : "", text ? text_len : 0));
}

int sq_functions_register(sqlite3 *db)
{
    int rc = SQLITE_OK;
    for (int nargs = 2; nargs <= 3 && rc == SQLITE_OK; nargs++)
        rc = sqlite3_create_function_v2(db, "ph_contains", nargs,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC |
                                            SQLITE_INNOCUOUS,
                                        NULL, contains_fn, NULL, NULL, NULL);
    return rc;
}
