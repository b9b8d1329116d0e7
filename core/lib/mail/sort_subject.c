/* SPDX-License-Identifier: MIT */
/* RFC 5256 section 2.1: the base subject. */
#include <string.h>

#include <posthorn/message.h>
#include <posthorn/sort.h>

#include "message-private.h"

/* The text being reduced: [start, end) of buf. */
struct subj {
    const char *s;
    size_t start, end;
    bool reply;
};

static bool ci_prefix(const struct subj *t, size_t at, const char *lit)
{
    size_t n = strlen(lit);
    return t->end - at >= n && msg_ascii_eq(t->s + at, n, lit, n);
}

/* (2) subj-trailer = "(fwd)" / WSP, from the end, while one matches. */
static void remove_trailers(struct subj *t)
{
    for (;;) {
        if (t->end > t->start && t->s[t->end - 1] == ' ') {
            t->end--;
        } else if (t->end - t->start >= 5 &&
                   msg_ascii_eq(t->s + t->end - 5, 5, "(fwd)", 5)) {
            t->end -= 5;
            t->reply = true;
        } else {
            return;
        }
    }
}

/* subj-blob = "[" *BLOBCHAR "]" *WSP at at; returns the offset after it,
 * or 0 when there is none (a blob never starts at offset 0 of a match
 * that could end there). */
static size_t blob_end(const struct subj *t, size_t at)
{
    if (at >= t->end || t->s[at] != '[')
        return 0;
    size_t p = at + 1;
    while (p < t->end && t->s[p] != '[' && t->s[p] != ']')
        p++;
    if (p >= t->end || t->s[p] != ']')
        return 0;
    p++;
    while (p < t->end && t->s[p] == ' ')
        p++;
    return p;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" at at; returns
 * the offset after the colon, or 0. */
static size_t refwd_end(const struct subj *t, size_t at)
{
    size_t p;
    if (ci_prefix(t, at, "re"))
        p = at + 2;
    else if (ci_prefix(t, at, "fwd"))
        p = at + 3;
    else if (ci_prefix(t, at, "fw"))
        p = at + 2;
    else
        return 0;
    /* "fw" followed by "d" that is not part of "fwd" cannot happen: the
     * "d" is neither WSP, "[" nor ":", so both readings fail alike. */
    while (p < t->end && t->s[p] == ' ')
        p++;
    size_t b = blob_end(t, p);
    if (b != 0)
        p = b;
    if (p < t->end && t->s[p] == ':')
        return p + 1;
    return 0;
}

/* (3), (4) and (5). The literal loop would scan a run of k blobs k times
 * (each (3) reads them all before failing, each (4) removes one); this
 * reads them once and removes what the loop would: all of them when a
 * refwd or other text follows, all but the last when nothing does (the
 * last one is then the subj-base). */
static bool remove_leaders_and_blobs(struct subj *t)
{
    bool any = false;
    for (;;) {
        if (t->start < t->end && t->s[t->start] == ' ') {
            t->start++; /* subj-leader = WSP */
            any = true;
            continue;
        }
        size_t p = t->start, prev = t->start;
        unsigned blobs = 0;
        for (size_t b; (b = blob_end(t, p)) != 0; blobs++) {
            prev = p;
            p = b;
        }
        size_t r = refwd_end(t, p);
        if (r != 0) {
            t->start = r; /* subj-leader = *subj-blob subj-refwd */
            t->reply = true;
            any = true;
            continue;
        }
        if (blobs == 0)
            return any;
        if (p < t->end) {
            t->start = p; /* (4), once per blob */
        } else if (blobs >= 2) {
            t->start = prev;
        } else {
            return any;
        }
        any = true;
    }
}

bool ph_sort_base_subject_decoded(const char *text, size_t len,
                                  struct ph_buf *out)
{
    /* (1) without decoding: tabs and line breaks (the continuations) to
     * spaces, runs of spaces to one. */
    struct ph_buf b = {0};
    bool space = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (!space)
                ph_buf_putc(&b, ' ');
            space = true;
        } else {
            ph_buf_putc(&b, c);
            space = false;
        }
    }
    struct subj t = {b.data, 0, b.len, false};
    for (;;) {
        remove_trailers(&t);                /* (2) */
        (void)remove_leaders_and_blobs(&t); /* (3) to (5) */
        /* (6) subj-fwd-hdr "[fwd:" ... subj-fwd-trl "]" */
        if (t.end - t.start >= 6 && ci_prefix(&t, t.start, "[fwd:") &&
            t.s[t.end - 1] == ']') {
            t.start += 5;
            t.end--;
            t.reply = true;
            continue;
        }
        break;
    }
    if (t.end > t.start)
        ph_buf_append(out, t.s + t.start, t.end - t.start);
    ph_buf_free(&b);
    return t.reply;
}

bool ph_sort_base_subject(const char *subject, size_t len, struct ph_buf *out)
{
    struct ph_buf dec = {0};
    ph_rfc2047_decode(subject, len, &dec);
    bool reply = ph_sort_base_subject_decoded(dec.data, dec.len, out);
    ph_buf_free(&dec);
    return reply;
}
