/* SPDX-License-Identifier: MIT */
/* IMAP syntax helpers: sequence sets, dates, strings in responses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/imap-util.h>

/* ---- Sequence sets ------------------------------------------------------ */

#define E_SEQSET "Invalid sequence set"
#define E_SEQ_ZERO "Invalid sequence number 0"
#define E_SEQ_BIG "Sequence number too large"
#define E_SEQ_RANGES "Too many ranges in sequence set"

void ph_imap_seqset_clear(struct ph_imap_seqset *set)
{
    free(set->ranges);
    memset(set, 0, sizeof(*set));
}

void ph_imap_seqset_add(struct ph_imap_seqset *set, uint32_t lo, uint32_t hi)
{
    if (lo > hi) {
        uint32_t t = lo;
        lo = hi;
        hi = t;
    }
    ph_array_grow(&set->ranges, &set->cap, set->n + 1, sizeof(*set->ranges));
    set->ranges[set->n].lo = lo;
    set->ranges[set->n].hi = hi;
    set->n++;
}

/* One seq-number: nz-number or "*" (*star_r, value 0). */
static int parse_seq_number(const char *s, size_t len, size_t *i, uint32_t *n_r,
                            bool *star_r, const char **error_r)
{
    *star_r = false;
    if (*i < len && s[*i] == '*') {
        (*i)++;
        *star_r = true;
        *n_r = 0;
        return 0;
    }
    size_t start = *i;
    uint64_t n = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        n = n * 10 + (uint64_t)(s[*i] - '0');
        if (n > UINT32_MAX) {
            *error_r = E_SEQ_BIG;
            return -1;
        }
        (*i)++;
    }
    if (*i == start) {
        *error_r = E_SEQSET;
        return -1;
    }
    if (s[start] == '0') {
        *error_r = n == 0 && *i - start == 1 ? E_SEQ_ZERO : E_SEQSET;
        return -1;
    }
    *n_r = (uint32_t)n;
    return 0;
}

int ph_imap_seqset_parse(const char *str, size_t len, uint32_t star,
                         size_t max_ranges, struct ph_imap_seqset *set_r,
                         const char **error_r)
{
    memset(set_r, 0, sizeof(*set_r));
    if (max_ranges == 0)
        max_ranges = PH_IMAP_SEQSET_MAX_RANGES;
    size_t i = 0, count = 0;
    for (;;) {
        uint32_t lo, hi;
        bool lo_star, hi_star;
        if (parse_seq_number(str, len, &i, &lo, &lo_star, error_r) < 0)
            return -1;
        hi = lo;
        hi_star = lo_star;
        if (i < len && str[i] == ':') {
            i++;
            if (parse_seq_number(str, len, &i, &hi, &hi_star, error_r) < 0)
                return -1;
        }
        if (++count > max_ranges) {
            *error_r = E_SEQ_RANGES;
            return -1;
        }
        if (lo_star || hi_star)
            set_r->has_star = true;
        if (lo_star)
            lo = star;
        if (hi_star)
            hi = star;
        /* With no "*" value, a range that used it names nothing. */
        if (!((lo_star || hi_star) && star == 0))
            ph_imap_seqset_add(set_r, lo, hi);
        if (i == len)
            return 0;
        if (str[i] != ',') {
            *error_r = E_SEQSET;
            return -1;
        }
        i++;
    }
}

static int range_cmp(const void *a, const void *b)
{
    const struct ph_imap_seq_range *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    return 0;
}

void ph_imap_seqset_sort(struct ph_imap_seqset *set)
{
    if (set->n < 2)
        return;
    qsort(set->ranges, set->n, sizeof(*set->ranges), range_cmp);
    size_t out = 0;
    for (size_t i = 1; i < set->n; i++) {
        struct ph_imap_seq_range *last = &set->ranges[out];
        const struct ph_imap_seq_range *r = &set->ranges[i];
        if (r->lo <= last->hi || r->lo - 1 == last->hi) {
            if (r->hi > last->hi)
                last->hi = r->hi;
        } else {
            set->ranges[++out] = *r;
        }
    }
    set->n = out + 1;
}

bool ph_imap_seqset_contains(const struct ph_imap_seqset *set, uint32_t n)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (n < set->ranges[mid].lo)
            hi = mid;
        else if (n > set->ranges[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

uint64_t ph_imap_seqset_count(const struct ph_imap_seqset *set)
{
    uint64_t n = 0;
    for (size_t i = 0; i < set->n; i++)
        n += (uint64_t)set->ranges[i].hi - set->ranges[i].lo + 1;
    return n;
}

uint32_t ph_imap_seqset_max(const struct ph_imap_seqset *set)
{
    uint32_t max = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (set->ranges[i].hi > max)
            max = set->ranges[i].hi;
    }
    return max;
}

void ph_imap_seqset_write(struct ph_buf *out, const struct ph_imap_seqset *set)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct ph_imap_seq_range *r = &set->ranges[i];
        if (i > 0)
            ph_buf_putc(out, ',');
        if (r->lo == r->hi)
            ph_buf_printf(out, "%u", (unsigned)r->lo);
        else
            ph_buf_printf(out, "%u:%u", (unsigned)r->lo, (unsigned)r->hi);
    }
}

/* ---- Partial ranges ----------------------------------------------------- */

static bool partial_number(const char **p, const char *end, bool minus,
                           uint32_t *n_r)
{
    if (minus) {
        if (*p == end || **p != '-')
            return false;
        (*p)++;
    }
    /* nz-number = digit-nz *DIGIT */
    if (*p == end || **p < '1' || **p > '9')
        return false;
    uint64_t n = 0;
    while (*p < end && **p >= '0' && **p <= '9') {
        n = n * 10 + (uint64_t)(**p - '0');
        if (n > UINT32_MAX)
            return false;
        (*p)++;
    }
    *n_r = (uint32_t)n;
    return true;
}

int ph_imap_partial_parse(const char *str, size_t len,
                          struct ph_imap_partial *p_r, const char **error_r)
{
    const char *p = str, *end = str + len;
    memset(p_r, 0, sizeof(*p_r));
    p_r->last = len > 0 && str[0] == '-';
    if (!partial_number(&p, end, p_r->last, &p_r->first) || p == end ||
        *p++ != ':' || !partial_number(&p, end, p_r->last, &p_r->second) ||
        p != end) {
        *error_r = "Invalid partial range (n:m or -n:-m, n and m from 1)";
        return -1;
    }
    return 0;
}

void ph_imap_partial_write(struct ph_buf *out, const struct ph_imap_partial *p)
{
    const char *sign = p->last ? "-" : "";
    ph_buf_printf(out, "%s%u:%s%u", sign, (unsigned)p->first, sign,
                  (unsigned)p->second);
}

void ph_imap_partial_slice(const struct ph_imap_partial *p, size_t n,
                           size_t *start_r, size_t *end_r)
{
    uint64_t lo = p->first < p->second ? p->first : p->second;
    uint64_t hi = p->first < p->second ? p->second : p->first;
    if (lo > n) {
        *start_r = *end_r = 0;
        return;
    }
    if (hi > n)
        hi = n;
    if (p->last) {
        /* -lo is the lo-th from the end: index n - lo. */
        *start_r = (size_t)(n - hi);
        *end_r = (size_t)(n - lo + 1);
    } else {
        *start_r = (size_t)(lo - 1);
        *end_r = (size_t)hi;
    }
}

/* ---- Dates -------------------------------------------------------------- */

#define E_DATE "Invalid date"
#define E_DATE_TIME "Invalid date-time"

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr",
                                            "May", "Jun", "Jul", "Aug",
                                            "Sep", "Oct", "Nov", "Dec"};

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y_r, int *m_r, int *d_r)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d_r = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m_r = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y_r = yoe + era * 400 + (*m_r <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Reads exactly n digits. */
static bool digits(const char *s, size_t len, size_t *i, size_t n, int *v_r)
{
    int v = 0;
    for (size_t k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *v_r = v;
    return true;
}

/* "d-Mon-yyyy" with the day as 1*2DIGIT (after an optional space when
 * space_ok). */
static bool parse_date_text(const char *s, size_t len, size_t *i, bool space_ok,
                            int64_t *day_r)
{
    int d, m = 0, y;
    if (space_ok && *i < len && s[*i] == ' ') {
        (*i)++;
        if (!digits(s, len, i, 1, &d))
            return false;
    } else {
        if (!digits(s, len, i, 1, &d))
            return false;
        int d2;
        if (*i < len && s[*i] >= '0' && s[*i] <= '9' &&
            digits(s, len, i, 1, &d2))
            d = d * 10 + d2;
    }
    if (*i >= len || s[(*i)++] != '-' || len - *i < 4)
        return false;
    for (int k = 0; k < 12; k++) {
        if (strncasecmp(s + *i, month_names[k], 3) == 0)
            m = k + 1;
    }
    if (m == 0)
        return false;
    *i += 3;
    if (s[(*i)++] != '-' || !digits(s, len, i, 4, &y))
        return false;
    if (d < 1 || d > days_in_month(y, m))
        return false;
    *day_r = days_from_civil(y, m, d);
    return true;
}

int ph_imap_date_parse(const char *str, size_t len, int64_t *day_r,
                       const char **error_r)
{
    size_t i = 0;
    if (!parse_date_text(str, len, &i, false, day_r) || i != len) {
        *error_r = E_DATE;
        return -1;
    }
    return 0;
}

int ph_imap_date_time_parse(const char *str, size_t len, time_t *time_r,
                            int *tz_r, const char **error_r)
{
    size_t i = 0;
    int64_t day;
    int h, mi, se, zh, zm;
    *error_r = E_DATE_TIME;
    if (!parse_date_text(str, len, &i, true, &day))
        return -1;
    if (i >= len || str[i++] != ' ' || !digits(str, len, &i, 2, &h) ||
        i >= len || str[i++] != ':' || !digits(str, len, &i, 2, &mi) ||
        i >= len || str[i++] != ':' || !digits(str, len, &i, 2, &se) ||
        i >= len || str[i++] != ' ' || i >= len)
        return -1;
    char sign = str[i++];
    if ((sign != '+' && sign != '-') || !digits(str, len, &i, 2, &zh) ||
        !digits(str, len, &i, 2, &zm) || i != len)
        return -1;
    /* A leap second is taken as the last second of its minute. */
    if (h > 23 || mi > 59 || se > 60 || zm > 59)
        return -1;
    if (se == 60)
        se = 59;
    int tz = (zh * 60 + zm) * (sign == '-' ? -1 : 1);
    int64_t t = day * 86400 + h * 3600 + mi * 60 + se - (int64_t)tz * 60;
    if (sizeof(time_t) < 8 && (t < INT32_MIN || t > INT32_MAX))
        return -1;
    *time_r = (time_t)t;
    *tz_r = tz;
    return 0;
}

void ph_imap_date_time_write(struct ph_buf *out, time_t t, int tz)
{
    if (tz <= -24 * 60 || tz >= 24 * 60)
        tz = 0;
    int64_t local = (int64_t)t + (int64_t)tz * 60;
    int64_t day = floor_div(local, 86400), y;
    int64_t secs = local - day * 86400;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    int atz = tz < 0 ? -tz : tz;
    ph_buf_printf(out, "\"%02d-%s-%04lld %02d:%02d:%02d %c%02d%02d\"", d,
                  month_names[m - 1], (long long)y, (int)(secs / 3600),
                  (int)(secs / 60 % 60), (int)(secs % 60), tz < 0 ? '-' : '+',
                  atz / 60, atz % 60);
}

int64_t ph_imap_day_of(time_t t, int tz)
{
    return floor_div((int64_t)t + (int64_t)tz * 60, 86400);
}

/* ---- Strings in responses ----------------------------------------------- */

bool ph_imap_string_quotable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
            return false;
    }
    return true;
}

void ph_imap_write_quoted(struct ph_buf *out, const char *s, size_t len)
{
    ph_buf_putc(out, '"');
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            ph_buf_append(out, s + start, i - start);
            ph_buf_putc(out, '\\');
            start = i;
        }
    }
    ph_buf_append(out, s + start, len - start);
    ph_buf_putc(out, '"');
}

void ph_imap_write_literal(struct ph_buf *out, const char *s, size_t len)
{
    ph_buf_printf(out, "{%zu}\r\n", len);
    ph_buf_append(out, s, len);
}

void ph_imap_write_string(struct ph_buf *out, const char *s, size_t len)
{
    if (ph_imap_string_quotable(s, len))
        ph_imap_write_quoted(out, s, len);
    else
        ph_imap_write_literal(out, s, len);
}

void ph_imap_write_nstring(struct ph_buf *out, const char *s, size_t len)
{
    if (s == NULL)
        ph_imap_write_nil(out);
    else
        ph_imap_write_string(out, s, len);
}

/* ASTRING-CHAR: CHAR except SP, CTL, "(", ")", "{", "%", "*", DQUOTE and
 * "\" ("]" is in). */
static bool is_astring_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("(){%*\"\\", c) == NULL;
}

void ph_imap_write_astring(struct ph_buf *out, const char *s, size_t len)
{
    bool atom = len > 0 && !(len == 3 && strncasecmp(s, "NIL", 3) == 0);
    for (size_t i = 0; atom && i < len; i++)
        atom = is_astring_char((unsigned char)s[i]);
    if (atom)
        ph_buf_append(out, s, len);
    else
        ph_imap_write_string(out, s, len);
}

void ph_imap_write_nil(struct ph_buf *out)
{
    ph_buf_puts(out, "NIL");
}
