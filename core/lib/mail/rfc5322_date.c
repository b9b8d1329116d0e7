/* SPDX-License-Identifier: MIT */
/* RFC 5322 3.3 date-time, with the obsolete forms of 4.3. */
#include <string.h>

#include "message-private.h"

struct dcur {
    const char *p, *end;
};

static void skip_cfws(struct dcur *c)
{
    struct rfc822_lexer lx;
    rfc822_lexer_init(&lx, c->p, (size_t)(c->end - c->p));
    rfc822_skip_cfws(&lx);
    c->p = lx.p;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Reads 1..max digits; returns the count. */
static int read_num(struct dcur *c, int max, int *v)
{
    int n = 0;
    *v = 0;
    while (c->p < c->end && n < max && is_digit(*c->p)) {
        *v = *v * 10 + (*c->p++ - '0');
        n++;
    }
    return n;
}

static size_t read_word(struct dcur *c, const char **w)
{
    *w = c->p;
    while (c->p < c->end && is_alpha(*c->p))
        c->p++;
    return (size_t)(c->p - *w);
}

static int month_of(const char *w, size_t len)
{
    static const char *const months[] = {"jan", "feb", "mar", "apr",
                                         "may", "jun", "jul", "aug",
                                         "sep", "oct", "nov", "dec"};
    if (len < 3)
        return -1;
    for (int i = 0; i < 12; i++)
        if (msg_ascii_eq(w, 3, months[i], 3))
            return i + 1;
    return -1;
}

/* obs-zone (RFC 5322 4.3); military and unknown zones mean -0000. */
static int zone_of(const char *w, size_t len)
{
    static const struct {
        const char *name;
        int minutes;
    } zones[] = {
        {"UT", 0},        {"UTC", 0},       {"GMT", 0},       {"Z", 0},
        {"EST", -5 * 60}, {"EDT", -4 * 60}, {"CST", -6 * 60}, {"CDT", -5 * 60},
        {"MST", -7 * 60}, {"MDT", -6 * 60}, {"PST", -8 * 60}, {"PDT", -7 * 60},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(zones); i++)
        if (msg_ascii_eqz(w, len, zones[i].name))
            return zones[i].minutes;
    return 0;
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_epoch(int64_t y, int m, int d)
{
    static const int before[] = {0,   31,  59,  90,  120, 151,
                                 181, 212, 243, 273, 304, 334};
    /* Shift to a year starting in March so that Feb 29 ends the year. */
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (m > 2 ? before[m - 1] - 59 : before[m - 1] + 306) + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int ph_rfc5322_date_parse(const char *value, size_t len, time_t *time_r,
                          int *tz_offset_r)
{
    struct dcur c = {value, value + len};
    const char *w;
    size_t wl;
    int day, month, year, hour, min, sec = 0;

    skip_cfws(&c);
    /* [day-of-week ","] */
    if (c.p < c.end && is_alpha(*c.p)) {
        read_word(&c, &w);
        skip_cfws(&c);
        if (c.p < c.end && (*c.p == ',' || *c.p == '.'))
            c.p++;
        skip_cfws(&c);
    }
    if (read_num(&c, 2, &day) == 0)
        return -1;
    skip_cfws(&c);
    if (c.p < c.end && *c.p == '-')
        c.p++;
    skip_cfws(&c);
    wl = read_word(&c, &w);
    if ((month = month_of(w, wl)) < 0)
        return -1;
    skip_cfws(&c);
    if (c.p < c.end && *c.p == '-')
        c.p++;
    skip_cfws(&c);
    int ydigits = read_num(&c, 4, &year);
    if (ydigits == 0 || (c.p < c.end && is_digit(*c.p)))
        return -1;
    if (ydigits == 2)
        year += year < 50 ? 2000 : 1900;
    else if (ydigits == 3)
        year += 1900;
    skip_cfws(&c);
    if (read_num(&c, 2, &hour) == 0)
        return -1;
    skip_cfws(&c);
    if (c.p >= c.end || *c.p != ':')
        return -1;
    c.p++;
    skip_cfws(&c);
    if (read_num(&c, 2, &min) == 0)
        return -1;
    skip_cfws(&c);
    if (c.p < c.end && *c.p == ':') {
        c.p++;
        skip_cfws(&c);
        if (read_num(&c, 2, &sec) == 0)
            return -1;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (day < 1 || day > mdays[month - 1] ||
        (month == 2 && day == 29 && !leap(year)) || hour > 23 || min > 59 ||
        sec > 60)
        return -1;

    int tz = 0;
    skip_cfws(&c);
    if (c.p < c.end && (*c.p == '+' || *c.p == '-')) {
        int sign = *c.p++ == '-' ? -1 : 1;
        int hhmm;
        /* An impossible offset (over 23:59) counts as an unknown zone. */
        if (read_num(&c, 4, &hhmm) == 4 && hhmm % 100 < 60 && hhmm / 100 < 24)
            tz = sign * ((hhmm / 100) * 60 + hhmm % 100);
    } else if (c.p < c.end && is_alpha(*c.p)) {
        wl = read_word(&c, &w);
        tz = zone_of(w, wl);
    }

    int64_t t = days_from_epoch(year, month, day) * 86400 + hour * 3600 +
                min * 60 + sec - (int64_t)tz * 60;
    if ((time_t)t != t)
        return -1;
    *time_r = (time_t)t;
    *tz_offset_r = tz;
    return 0;
}
