/* SPDX-License-Identifier: MIT */
/* FETCH and UID FETCH (RFC 3501 6.4.5, 7.4.2): metadata from storage, the
 * parsed structure stored with each message (ENVELOPE, BODYSTRUCTURE and
 * the byte ranges of BODY[section]), message bytes streamed to the client. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <posthorn/imap-condstore.h>
#include <posthorn/message.h>

#include "imap-private.h"

enum item_kind {
    ITEM_FLAGS,
    ITEM_UID,
    ITEM_INTERNALDATE,
    ITEM_SIZE,
    ITEM_ENVELOPE,
    ITEM_BODYSTRUCTURE,
    ITEM_BODY,
    ITEM_SECTION, /* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER/TEXT */
    ITEM_MODSEQ,  /* RFC 7162 3.1.4.2 */
    ITEM_EMAILID, /* RFC 8474 5.3 */
    ITEM_THREADID,
    ITEM_PREVIEW, /* RFC 8970 3 */
    ITEM_BINARY,  /* BINARY[...], BINARY.PEEK[...] (RFC 3516) */
    ITEM_BINARY_SIZE,
};

struct item {
    enum item_kind kind;
    char *name; /* SECTION: as the response names it, without <origin> */
    char *spec; /* SECTION: between the brackets */
    bool partial;
    uint64_t start, count;
};

/* Items a client may name; UID FETCH and CHANGEDSINCE add one each. */
#define MAX_ITEMS 64

struct items {
    struct item v[MAX_ITEMS + 2];
    size_t n;
    bool need_info;   /* the parsed structure: BODY[...] */
    bool need_values; /* ENVELOPE, BODYSTRUCTURE, BODY only */
    bool sets_seen, has_flags, has_uid, has_modseq, has_binary;
    bool objectid_ok, preview_ok; /* the storage keeps them */
    unsigned want;                /* PH_META_OBJECTID, PH_META_PREVIEW */
    bool lazy;                    /* PREVIEW (LAZY), RFC 8970 4.1 */
};

static void items_clear(struct items *it)
{
    for (size_t i = 0; i < it->n; i++) {
        free(it->v[i].name);
        free(it->v[i].spec);
    }
}

#define E_TOO_MANY "Too many FETCH items (at most 64)"

/* The adders and parsers below return false with *why_r: what is wrong
 * with an item they know, or NULL for an item they do not know. */
static void add_implied(struct items *it, enum item_kind k)
{
    ph_assert(it->n < PH_N_ELEMENTS(it->v));
    it->v[it->n++] = (struct item){.kind = k};
    if (k == ITEM_ENVELOPE || k == ITEM_BODYSTRUCTURE || k == ITEM_BODY)
        it->need_values = true;
    if (k == ITEM_FLAGS)
        it->has_flags = true;
    if (k == ITEM_UID)
        it->has_uid = true;
    if (k == ITEM_MODSEQ)
        it->has_modseq = true;
}

static bool add_simple(struct items *it, enum item_kind k, const char **why_r)
{
    if (it->n >= MAX_ITEMS) {
        *why_r = E_TOO_MANY;
        return false;
    }
    add_implied(it, k);
    return true;
}

/* RFC 3501 9: partial = "<" number "." nz-number ">" */
static bool parse_partial(struct item *x, const char *partial,
                          const char **why_r)
{
    char *end;
    *why_r = "expected <offset.length> (length > 0) after the section";
    if (partial[0] != '<')
        return false;
    unsigned long long a = strtoull(partial + 1, &end, 10);
    if (end == partial + 1 || *end != '.')
        return false;
    const char *p2 = end + 1;
    unsigned long long b = strtoull(p2, &end, 10);
    if (end == p2 || strcmp(end, ">") != 0 || b == 0)
        return false;
    x->partial = true;
    x->start = a;
    x->count = b;
    return true;
}

static bool add_section(struct items *it, const char *name, const char *spec,
                        size_t speclen, bool seen, const char *partial,
                        const char **why_r)
{
    if (it->n >= MAX_ITEMS) {
        *why_r = E_TOO_MANY;
        return false;
    }
    struct ph_message_section sec;
    if (ph_message_section_parse(spec, speclen, &sec, why_r) < 0)
        return false;
    ph_message_section_clear(&sec);
    struct item *x = &it->v[it->n];
    *x = (struct item){.kind = ITEM_SECTION};
    if (partial && !parse_partial(x, partial, why_r))
        return false;
    x->spec = ph_strndup(spec, speclen);
    x->name = name ? ph_strdup(name) : ph_strdup_printf("BODY[%s]", x->spec);
    it->n++;
    it->need_info = true;
    if (seen)
        it->sets_seen = true;
    return true;
}

/* RFC 3516 4.2: "BINARY" [".PEEK"] section-binary [partial] /
 * "BINARY.SIZE" section-binary, where section-binary = "[" [section-part]
 * "]": part numbers only. a is the item past "BINARY". */
static bool add_binary(struct items *it, const char *a, const char **why_r)
{
    bool size = strncasecmp(a, ".SIZE[", 6) == 0;
    bool peek = strncasecmp(a, ".PEEK[", 6) == 0;
    if (!size && !peek && a[0] != '[')
        return false;
    const char *spec = a + (size || peek ? 6 : 1);
    const char *close = strchr(spec, ']');
    if (close == NULL) {
        *why_r = "the section has no \"]\"";
        return false;
    }
    if (it->n >= MAX_ITEMS) {
        *why_r = E_TOO_MANY;
        return false;
    }
    size_t speclen = (size_t)(close - spec);
    for (size_t i = 0; i < speclen; i++) {
        bool digit = spec[i] >= '1' && spec[i] <= '9';
        bool more = spec[i] == '0' || spec[i] == '.';
        if (!digit && (!more || i == 0 || spec[i - 1] == '.' ||
                       (spec[i] == '.' && i + 1 == speclen))) {
            *why_r = "section-binary takes part numbers only (RFC 3516)";
            return false;
        }
    }
    struct item *x = &it->v[it->n];
    *x = (struct item){.kind = size ? ITEM_BINARY_SIZE : ITEM_BINARY};
    if (close[1] != '\0' && (size || !parse_partial(x, close + 1, why_r))) {
        if (size)
            *why_r = "BINARY.SIZE takes no partial";
        return false;
    }
    x->spec = ph_strndup(spec, speclen);
    x->name = ph_strdup_printf("BINARY%s[%s]", size ? ".SIZE" : "", x->spec);
    it->n++;
    it->need_info = true;
    it->has_binary = true;
    if (!size && !peek)
        it->sets_seen = true;
    return true;
}

static bool parse_item(struct items *it, const char *a, const char **why_r)
{
    static const struct {
        const char *name;
        enum item_kind kind;
    } simple[] = {{"FLAGS", ITEM_FLAGS},
                  {"UID", ITEM_UID},
                  {"INTERNALDATE", ITEM_INTERNALDATE},
                  {"RFC822.SIZE", ITEM_SIZE},
                  {"ENVELOPE", ITEM_ENVELOPE},
                  {"BODYSTRUCTURE", ITEM_BODYSTRUCTURE},
                  {"BODY", ITEM_BODY},
                  {"MODSEQ", ITEM_MODSEQ}};
    static const struct {
        const char *name;
        enum item_kind kind;
        unsigned want;
    } stored[] = {{"EMAILID", ITEM_EMAILID, PH_META_OBJECTID},
                  {"THREADID", ITEM_THREADID, PH_META_OBJECTID},
                  {"PREVIEW", ITEM_PREVIEW, PH_META_PREVIEW}};
    *why_r = NULL;
    for (size_t i = 0; i < PH_N_ELEMENTS(simple); i++)
        if (strcasecmp(a, simple[i].name) == 0)
            return add_simple(it, simple[i].kind, why_r);
    for (size_t i = 0; i < PH_N_ELEMENTS(stored); i++)
        if (strcasecmp(a, stored[i].name) == 0 &&
            (stored[i].want == PH_META_OBJECTID ? it->objectid_ok
                                                : it->preview_ok)) {
            it->want |= stored[i].want;
            return add_simple(it, stored[i].kind, why_r);
        }
    if (strcasecmp(a, "RFC822") == 0)
        return add_section(it, "RFC822", "", 0, true, NULL, why_r);
    if (strcasecmp(a, "RFC822.HEADER") == 0)
        return add_section(it, "RFC822.HEADER", "HEADER", 6, false, NULL,
                           why_r);
    if (strcasecmp(a, "RFC822.TEXT") == 0)
        return add_section(it, "RFC822.TEXT", "TEXT", 4, true, NULL, why_r);
    if (strncasecmp(a, "BINARY", 6) == 0)
        return add_binary(it, a + 6, why_r);
    bool peek = strncasecmp(a, "BODY.PEEK[", 10) == 0;
    if (!peek && strncasecmp(a, "BODY[", 5) != 0)
        return false;
    const char *spec = a + (peek ? 10 : 5);
    const char *close = strrchr(spec, ']');
    if (close == NULL) {
        *why_r = "the section has no \"]\"";
        return false;
    }
    return add_section(it, NULL, spec, (size_t)(close - spec), !peek,
                       close[1] ? close + 1 : NULL, why_r);
}

/* preview-mod = "LAZY", one or more in a list. */
static bool preview_mods(struct items *it, const struct ph_imap_value *v)
{
    const struct ph_imap_value *mods;
    size_t n;
    if (!ph_imap_value_get_list(v, &mods, &n) || n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ph_imap_value_is_atom(&mods[i], "LAZY"))
            return false;
    it->lazy = true;
    return true;
}

/* The items of a FETCH (RFC 3501 6.4.5): a macro, an item or a list of
 * items. NULL, or the text of a BAD that names the item (malloc'ed). */
static char *parse_items(struct items *it, const struct ph_imap_value *v)
{
    const char *a = NULL, *why = NULL;
    const struct ph_imap_value *list;
    size_t n;
    if (ph_imap_value_get_list(v, &list, &n)) {
        if (n == 0)
            return ph_strdup("Empty FETCH item list");
        size_t i = 0;
        while (i < n && ph_imap_value_get_atom(&list[i], &a) &&
               parse_item(it, a, &why)) {
            i++;
            /* RFC 8970 6: "PREVIEW" [SP "(" preview-mod *(SP
             * preview-mod) ")"] */
            if (i < n && list[i].type == PH_IMAP_VALUE_LIST &&
                it->v[it->n - 1].kind == ITEM_PREVIEW) {
                if (!preview_mods(it, &list[i]))
                    return ph_strdup("Invalid FETCH item PREVIEW: its "
                                     "modifiers are (LAZY)");
                i++;
            }
        }
        if (i == n)
            return NULL;
        if (list[i].type != PH_IMAP_VALUE_ATOM &&
            list[i].type != PH_IMAP_VALUE_NIL)
            return ph_strdup("Invalid FETCH item: a list or string is no "
                             "FETCH item");
    } else if (!ph_imap_value_get_atom(v, &a)) {
        return ph_strdup("Invalid FETCH item: a string is no FETCH item");
    } else if (strcasecmp(a, "ALL") == 0 || strcasecmp(a, "FAST") == 0 ||
               strcasecmp(a, "FULL") == 0) {
        add_simple(it, ITEM_FLAGS, &why);
        add_simple(it, ITEM_INTERNALDATE, &why);
        add_simple(it, ITEM_SIZE, &why);
        if (strcasecmp(a, "FAST") != 0)
            add_simple(it, ITEM_ENVELOPE, &why);
        if (strcasecmp(a, "FULL") == 0)
            add_simple(it, ITEM_BODY, &why);
        return NULL;
    } else if (parse_item(it, a, &why)) {
        return NULL;
    }
    if (why != NULL && strcmp(why, E_TOO_MANY) == 0)
        return ph_strdup(why);
    char *t = imap_token_text(a);
    char *error = ph_strdup_printf("Invalid FETCH item %s%s%s", t,
                                   why ? ": " : "", why ? why : "");
    free(t);
    return error;
}

static int seen_cb(void *arg, const struct ph_message_meta *m)
{
    struct ph_uidset *set = arg;
    ph_uidset_add(set, m->uid);
    return 0;
}

static int buf_cb(void *arg, const void *data, size_t len)
{
    ph_buf_append(arg, data, len);
    return 0;
}

struct stream_ctx {
    struct imap_session *s;
    uint64_t size, written;
    bool announced; /* the literal's {size} is out */
};

static int stream_cb(void *arg, const void *data, size_t len)
{
    struct stream_ctx *c = arg;
    /* The literal is announced with the first bytes: a message expunged
     * before any arrived is answered NIL, not padding (RFC 2180 4.1.3). */
    if (!c->announced) {
        ph_buf_printf(&c->s->out, "{%llu}\r\n", (unsigned long long)c->size);
        c->announced = true;
    }
    ph_buf_append(&c->s->out, data, len);
    c->written += len;
    if (c->s->out.len >= 256 * 1024 && imap_flush(c->s) < 0)
        return -1;
    return 0;
}

/* Bodies up to this size are read before their literal is announced, so a
 * message expunged meanwhile can be answered NIL instead of padding. */
#define IMAP_FETCH_BUFFERED (256 * 1024)

/* A failed read: -2 when the message is gone (another session expunged it
 * since this one's view was made: RFC 5530 EXPUNGEISSUED), else -1. */
static int read_failed(struct imap_session *s, uint32_t uid, int r,
                       const char *err)
{
    if (r == PH_STORAGE_ERR_NOT_FOUND)
        return -2;
    ph_log_warn("mod=imap event=read_failed user=%s uid=%u error=\"%s\"",
                s->user, uid, err);
    return -1;
}

int imap_section_get(struct ph_mailbox *mb, uint32_t uid, uint64_t msg_size,
                     const struct ph_message_info *info,
                     const struct ph_message_section *sec, bool partial,
                     uint64_t start, uint64_t count, uint64_t *off_r,
                     uint64_t *size_r, struct ph_buf *made_r,
                     const char **error_r)
{
    uint64_t off = 0, size = 0;
    /* Without a structure, only the whole message is known. */
    bool found =
        info ? ph_message_section_lookup(info, sec, &off, &size) ==
                   PH_MESSAGE_SECTION_FOUND
             : (sec->path_len == 0 && sec->text == PH_MESSAGE_SECTION_ALL &&
                (size = msg_size, true));
    if (!found)
        return 1;
    if (sec->text == PH_MESSAGE_SECTION_HEADER_FIELDS ||
        sec->text == PH_MESSAGE_SECTION_HEADER_FIELDS_NOT) {
        struct ph_buf hdr = {0};
        int r = ph_mailbox_read(mb, uid, off, size, buf_cb, &hdr, error_r);
        if (r == 0)
            ph_message_header_filter(
                hdr.data ? hdr.data : "", hdr.len, &sec->fields,
                sec->text == PH_MESSAGE_SECTION_HEADER_FIELDS_NOT, made_r);
        ph_buf_free(&hdr);
        if (r < 0)
            return r;
        off = 0;
        size = made_r->len;
    }
    if (partial)
        ph_message_range_partial(&off, &size, start, count);
    *off_r = off;
    *size_r = size;
    return 0;
}

/* Writes one BODY[...] item's value. -1 when the storage failed, -2 when
 * the message is no longer there. */
static int write_section(struct imap_session *s, const struct item *x,
                         const struct ph_meta_copy *m,
                         const struct ph_message_info *info)
{
    struct ph_message_section sec;
    const char *err;
    uint64_t off = 0, size = 0;
    if (ph_message_section_parse(x->spec, strlen(x->spec), &sec, &err) < 0)
        return -1;
    ph_buf_puts(&s->out, x->name);
    if (x->partial)
        ph_buf_printf(&s->out, "<%llu>", (unsigned long long)x->start);
    ph_buf_putc(&s->out, ' ');
    struct ph_buf made = {0};
    int ret = 0;
    int r = imap_section_get(s->mb, m->uid, m->size, info, &sec, x->partial,
                             x->start, x->count, &off, &size, &made, &err);
    if (r == 1) {
        ph_buf_puts(&s->out, "\"\"");
    } else if (r < 0) {
        /* No header read, none made up (RFC 2180 4.1.3: NIL). */
        ph_buf_puts(&s->out, "NIL");
        ret = read_failed(s, m->uid, r, err);
    } else if (sec.text == PH_MESSAGE_SECTION_HEADER_FIELDS ||
               sec.text == PH_MESSAGE_SECTION_HEADER_FIELDS_NOT) {
        ph_imap_write_literal(&s->out, made.data ? made.data + off : "",
                              (size_t)size);
    } else if (size <= IMAP_FETCH_BUFFERED) {
        struct ph_buf body = {0};
        if (size > 0)
            r = ph_mailbox_read(s->mb, m->uid, off, size, buf_cb, &body, &err);
        if (r < 0) {
            ph_buf_puts(&s->out, "NIL");
            ret = read_failed(s, m->uid, r, err);
        } else {
            ph_imap_write_literal(&s->out, body.data ? body.data : "",
                                  body.len);
        }
        ph_buf_free(&body);
    } else {
        struct stream_ctx c = {.s = s, .size = size};
        r = ph_mailbox_read(s->mb, m->uid, off, size, stream_cb, &c, &err);
        if (r < 0)
            ret = read_failed(s, m->uid, r, err);
        if (!c.announced && r < 0) {
            ph_buf_puts(&s->out, "NIL");
        } else {
            if (!c.announced)
                ph_buf_printf(&s->out, "{%llu}\r\n", (unsigned long long)size);
            /* Keep the literal's promise when storage came up short. */
            for (; c.written < size; c.written++)
                ph_buf_putc(&s->out, ' ');
        }
    }
    ph_buf_free(&made);
    ph_message_section_clear(&sec);
    return ret;
}

#define FETCH_FAILED 1      /* storage failed on some message */
#define FETCH_GONE 2        /* some message was expunged meanwhile */
#define FETCH_UNKNOWN_CTE 4 /* a BINARY section it cannot decode */

/* RFC 3516 4.3: a section the server cannot decode "MUST fail the
 * request": the message gets no FETCH response at all. */
static bool binary_decodable(const struct items *it,
                             const struct ph_message_info *info)
{
    for (size_t k = 0; k < it->n; k++)
        if ((it->v[k].kind == ITEM_BINARY ||
             it->v[k].kind == ITEM_BINARY_SIZE) &&
            imap_binary_check(info, it->v[k].spec) == BINARY_UNKNOWN_CTE)
            return false;
    return true;
}

/* Decimal, without printf: FETCH 1:* writes several numbers per message. */
static void put_uint(struct ph_buf *b, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    ph_buf_append(b, tmp + sizeof(tmp) - n, n);
}

static void put_2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* INTERNALDATE as ph_imap_date_time_write writes it, without printf (it
 * was a quarter of FETCH 1:*); dates outside years 1-9999 go to it. */
static void put_date_time(struct ph_buf *b, time_t t, int tz)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (tz <= -24 * 60 || tz >= 24 * 60)
        tz = 0;
    time_t local = t + (time_t)tz * 60;
    struct tm tm;
    if (gmtime_r(&local, &tm) == NULL || tm.tm_year + 1900 < 1 ||
        tm.tm_year + 1900 > 9999) {
        ph_imap_date_time_write(b, t, tz);
        return;
    }
    int y = tm.tm_year + 1900, atz = tz < 0 ? -tz : tz;
    char v[] = "\"dd-Mon-yyyy hh:mm:ss +zzzz\"";
    put_2(v + 1, tm.tm_mday);
    memcpy(v + 4, months + 3 * tm.tm_mon, 3);
    put_2(v + 8, y / 100);
    put_2(v + 10, y % 100);
    put_2(v + 13, tm.tm_hour);
    put_2(v + 16, tm.tm_min);
    put_2(v + 19, tm.tm_sec);
    v[22] = tz < 0 ? '-' : '+';
    put_2(v + 23, atz / 60);
    put_2(v + 25, atz % 60);
    ph_buf_append(b, v, sizeof(v) - 1);
}

static bool same_words(const struct ph_strlist *a, const struct ph_strlist *b)
{
    if (b == NULL || a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

/* Writes the responses of one batch; FETCH_* bits of what went wrong. */
static int fetch_write(struct imap_session *s, const struct items *it,
                       const struct ph_meta_list *c,
                       const struct ph_uidset *seen_now)
{
    int failed = 0;
    const char *err;
    /* Keywords this session has not listed go out in FLAGS first. Most
     * messages carry the keywords of the one before: those are known. */
    const struct ph_strlist *prev = NULL;
    for (size_t i = 0; i < c->n; i++) {
        const struct ph_strlist *kw = &c->v[i].keywords;
        if (kw->n == 0 || same_words(kw, prev) ||
            !(it->has_flags || ph_uidset_contains(seen_now, c->v[i].uid)))
            continue;
        imap_keywords_learn(s, kw->v, kw->n);
        prev = kw;
    }
    imap_keywords_announce(s);
    for (size_t i = 0; i < c->n && !s->io_failed; i++) {
        const struct ph_meta_copy *m = &c->v[i];
        uint32_t seq = imap_view_seq(s, m->uid);
        if (seq == 0)
            continue;
        struct ph_message_info *info = NULL;
        /* The structure when a section needs it (the values come with it),
         * or when the storage gave no values: then it says why. */
        bool deserialize = it->need_info || (it->need_values && !m->envelope);
        if (deserialize && m->info &&
            ph_message_info_deserialize(m->info, m->info_size, &info, &err) <
                0) {
            ph_log_warn(
                "mod=imap event=bad_message_info user=%s uid=%u error=\"%s\"",
                s->user, m->uid, err);
            failed |= FETCH_FAILED;
            continue;
        }
        if (it->has_binary && !binary_decodable(it, info)) {
            failed |= FETCH_UNKNOWN_CTE;
            ph_message_info_free(&info);
            continue;
        }
        bool show_flags = it->has_flags || ph_uidset_contains(seen_now, m->uid);
        ph_buf_puts(&s->out, "* ");
        put_uint(&s->out, seq);
        ph_buf_puts(&s->out, " FETCH (");
        bool first = true;
        if (show_flags) {
            ph_buf_puts(&s->out, "FLAGS ");
            imap_write_flags(&s->out, m->flags, m->keywords.v, m->keywords.n,
                             imap_recent(s, m->recent));
            imap_reported_add(s, m->uid, m->modseq);
            first = false;
        }
        for (size_t k = 0; k < it->n; k++) {
            const struct item *x = &it->v[k];
            if (x->kind == ITEM_FLAGS)
                continue;
            if (!first)
                ph_buf_putc(&s->out, ' ');
            first = false;
            switch (x->kind) {
            case ITEM_FLAGS: break;
            case ITEM_UID:
                ph_buf_puts(&s->out, "UID ");
                put_uint(&s->out, m->uid);
                break;
            case ITEM_INTERNALDATE:
                ph_buf_puts(&s->out, "INTERNALDATE ");
                put_date_time(&s->out, m->internal_date, m->internal_tz);
                break;
            case ITEM_SIZE:
                ph_buf_puts(&s->out, "RFC822.SIZE ");
                put_uint(&s->out, m->size);
                break;
            case ITEM_ENVELOPE:
                /* Not printf: these strings are long. */
                ph_buf_puts(&s->out, "ENVELOPE ");
                ph_buf_puts(&s->out, info          ? info->envelope
                                     : m->envelope ? m->envelope
                                                   : "NIL");
                break;
            case ITEM_BODYSTRUCTURE:
                ph_buf_puts(&s->out, "BODYSTRUCTURE ");
                ph_buf_puts(&s->out, info               ? info->bodystructure
                                     : m->bodystructure ? m->bodystructure
                                                        : "NIL");
                break;
            case ITEM_BODY:
                ph_buf_puts(&s->out, "BODY ");
                ph_buf_puts(&s->out, info      ? info->body
                                     : m->body ? m->body
                                               : "NIL");
                break;
            case ITEM_SECTION: {
                int r = write_section(s, x, m, info);
                if (r < 0)
                    failed |= r == -2 ? FETCH_GONE : FETCH_FAILED;
                break;
            }
            case ITEM_BINARY:
            case ITEM_BINARY_SIZE: {
                bool identity;
                int r = imap_binary_write(s, m->uid, m->size, info, x->name,
                                          x->spec, x->kind == ITEM_BINARY_SIZE,
                                          x->partial, x->start, x->count,
                                          &identity);
                if (identity)
                    r = write_section(s, x, m, info);
                if (r < 0)
                    failed |= r == -2 ? FETCH_GONE : FETCH_FAILED;
                break;
            }
            case ITEM_MODSEQ:
                ph_buf_puts(&s->out, "MODSEQ (");
                put_uint(&s->out, m->modseq);
                ph_buf_putc(&s->out, ')');
                s->modseq_sent = true;
                break;
            case ITEM_EMAILID:
            case ITEM_THREADID: {
                /* RFC 8474 5.3: "(" objectid ")"; THREADID NIL without. */
                const char *id =
                    x->kind == ITEM_EMAILID ? m->emailid : m->threadid;
                ph_buf_puts(&s->out,
                            x->kind == ITEM_EMAILID ? "EMAILID " : "THREADID ");
                if (id != NULL)
                    ph_buf_printf(&s->out, "(%s)", id);
                else
                    ph_buf_puts(&s->out, "NIL");
                break;
            }
            case ITEM_PREVIEW:
                /* RFC 8970 3.2: previews are made at APPEND; one not
                 * made (yet) is NIL only for LAZY, else the empty
                 * string. */
                ph_buf_puts(&s->out, "PREVIEW ");
                if (m->preview == NULL && it->lazy)
                    ph_buf_puts(&s->out, "NIL");
                else
                    ph_imap_write_string(&s->out, m->preview ? m->preview : "",
                                         m->preview ? strlen(m->preview) : 0);
                break;
            }
        }
        /* Once CONDSTORE is enabled, flags go with their modseq (RFC 7162
         * 3.1); flags that only an implicit \Seen brought also with the
         * UID (3.2.4). */
        if (s->condstore && show_flags && !it->has_flags && !it->has_uid) {
            ph_buf_puts(&s->out, " UID ");
            put_uint(&s->out, m->uid);
        }
        if (s->condstore && show_flags && !it->has_modseq) {
            ph_buf_puts(&s->out, " MODSEQ (");
            put_uint(&s->out, m->modseq);
            ph_buf_putc(&s->out, ')');
            s->modseq_sent = true;
        }
        ph_buf_puts(&s->out, ")\r\n");
        ph_message_info_free(&info);
        if (s->out.len >= 256 * 1024)
            (void)imap_flush(s);
    }
    return failed;
}

static int meta_uid_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct ph_meta_copy *)a)->uid;
    uint32_t y = ((const struct ph_meta_copy *)b)->uid;
    return x < y ? -1 : x > y;
}

/* Adds to c (sorted by UID) the ghosts of the UIDs of batch it lacks:
 * messages another session expunged that this one still shows, readable
 * until it is told (RFC 2180 4.1.1). */
static int add_ghosts(struct imap_session *s, const struct ph_uidset *batch,
                      unsigned what, struct ph_meta_list *c, const char **err)
{
    struct ph_uidset missing = {0};
    size_t k = 0, had = c->n;
    for (size_t i = 0; i < batch->n; i++)
        for (uint64_t u = batch->r[i].lo; u <= batch->r[i].hi; u++) {
            while (k < had && c->v[k].uid < u)
                k++;
            if (k == had || c->v[k].uid != u)
                ph_uidset_add(&missing, (uint32_t)u);
        }
    int r = ph_mailbox_fetch(s->mb, &missing, what | PH_META_GHOSTS,
                             ph_meta_list_add, c, err);
    ph_uidset_clear(&missing);
    if (r == 0 && c->n > had)
        qsort(c->v, c->n, sizeof(*c->v), meta_uid_cmp);
    return r;
}

/* The UIDs a UID FETCH names, beyond the view too: VANISHED (EARLIER)
 * tells which of them are gone. "*" stands for every UID above: those the
 * session never saw may be named (RFC 7162 3.2.10). */
static void named_uids(const struct imap_session *s,
                       const struct ph_imap_value *v, struct ph_uidset *out)
{
    const char *str, *err;
    struct ph_imap_seqset set = {0};
    if (ph_imap_value_is_atom(v, "$")) {
        /* RFC 5182: the saved UIDs, the expunged ones among them too. */
        for (size_t i = 0; i < s->saved.n; i++)
            imap_uidset_append(out, s->saved.ranges[i].lo,
                               s->saved.ranges[i].hi);
        return;
    }
    if (ph_imap_value_get_atom(v, &str) &&
        ph_imap_seqset_parse(str, strlen(str), UINT32_MAX,
                             (size_t)s->srv->conf->max_sequence_ranges, &set,
                             &err) == 0) {
        ph_imap_seqset_sort(&set);
        for (size_t i = 0; i < set.n; i++)
            imap_uidset_append(out, set.ranges[i].lo, set.ranges[i].hi);
    }
    ph_imap_seqset_clear(&set);
}

/* The FETCH modifiers (RFC 4466 2.4): NULL, or the text of a BAD. */
static const char *fetch_modifiers(struct imap_session *s,
                                   const struct ph_imap_value *v,
                                   struct ph_imap_fetch_modifiers *mods)
{
    const char *err;
    if (ph_imap_fetch_modifiers_parse(v, mods, &err) < 0)
        return err;
    /* RFC 7162 3.2.6: "the VANISHED UID FETCH modifier is NOT allowed with
     * a FETCH command", and only after ENABLE QRESYNC. */
    if (mods->vanished && !s->cmd_uid)
        return "VANISHED is a modifier of UID FETCH only";
    if (mods->vanished && !s->qresync)
        return "VANISHED needs ENABLE QRESYNC first";
    /* RFC 9394 3.3: "extends the UID FETCH command with a PARTIAL FETCH
     * modifier". */
    if (mods->partial_set && !s->cmd_uid)
        return "PARTIAL is a modifier of UID FETCH only";
    return NULL;
}

void imap_cmd_fetch(struct imap_session *s, const struct ph_imap_value *args,
                    size_t n)
{
    struct items it = {0};
    struct ph_imap_fetch_modifiers mods = {0};
    const char *bad = NULL;
    it.objectid_ok = ph_storage_has(s->srv->conf->storage, PH_META_OBJECTID);
    it.preview_ok = ph_storage_has(s->srv->conf->storage, PH_META_PREVIEW);
    char *error = n == 2 || n == 3
                      ? parse_items(&it, &args[1])
                      : ph_strdup("FETCH takes a sequence set and items");
    if (error == NULL && n == 3 &&
        (bad = fetch_modifiers(s, &args[2], &mods)) != NULL)
        error = ph_strdup(bad);
    if (error == NULL && s->cmd_uid && !it.has_uid)
        add_implied(&it, ITEM_UID);
    /* CHANGEDSINCE "implicitly adds the MODSEQ FETCH message data item"
     * (RFC 7162 3.1.4.1). */
    if (error == NULL && mods.changedsince_set && !it.has_modseq)
        add_implied(&it, ITEM_MODSEQ);
    if (error != NULL) {
        items_clear(&it);
        imap_tagged(s, "BAD", "%s", error);
        free(error);
        return;
    }
    struct ph_uidset set = {0}, seen_now = {0}, batch = {0};
    if (imap_parse_set(s, &args[0], s->cmd_uid, &set) < 0) {
        items_clear(&it);
        return;
    }
    /* RFC 9394 3.4: PARTIAL selects its messages of the set first, then
     * CHANGEDSINCE narrows them. */
    if (mods.partial_set)
        imap_view_partial(s, &mods.partial, &set);
    /* RFC 7162 3.1: MODSEQ and CHANGEDSINCE are CONDSTORE enabling. */
    if (it.has_modseq)
        imap_condstore_enable(s);
    if (mods.changedsince_set) {
        struct ph_uidset named = {0};
        if (mods.vanished)
            named_uids(s, &args[0], &named);
        int r = imap_changedsince(s, mods.changedsince, &set,
                                  mods.vanished ? &named : NULL);
        ph_uidset_clear(&named);
        if (r < 0) {
            ph_uidset_clear(&set);
            items_clear(&it);
            return;
        }
    }
    const char *err;
    if (it.sets_seen && !s->readonly && set.n > 0) {
        struct ph_flags seen = {.system = PH_FLAG_SEEN};
        if (ph_mailbox_store(s->mb, &set, PH_STORE_ADD, &seen, 0, NULL, seen_cb,
                             &seen_now, &err) < 0)
            ph_log_warn("mod=imap event=set_seen_failed user=%s error=\"%s\"",
                        s->user, err);
    }
    /* In batches, so that FETCH 1:* of a large mailbox never holds the
     * metadata of every message at once. */
    int failed = 0;
    size_t inbatch = 0, pos;
    struct imap_view_walk walk = {.set = &set};
    for (bool more = true; more && !s->io_failed;) {
        more = imap_view_walk_next(s, &walk, &pos);
        if (more) {
            ph_uidset_add(&batch, s->uids[pos]);
            inbatch++;
        }
        if (inbatch == 0 || (inbatch < IMAP_FETCH_BATCH && more))
            continue;
        struct ph_meta_list c = {0};
        unsigned what = (it.need_info     ? PH_META_INFO
                         : it.need_values ? PH_META_FETCH
                                          : 0) |
                        it.want;
        int r =
            ph_mailbox_fetch(s->mb, &batch, what, ph_meta_list_add, &c, &err);
        if (r == 0 && c.n < inbatch)
            r = add_ghosts(s, &batch, what, &c, &err);
        ph_uidset_clear(&batch);
        size_t asked = inbatch;
        inbatch = 0;
        if (r < 0) {
            ph_meta_list_free(&c);
            imap_storage_no(s, r, err);
            goto out;
        }
        /* Asked for, still in this session's view, but neither in storage
         * nor kept as a ghost: expunged, and its body swept since
         * (body_grace). RFC 2180 4.1.2: the others, then NO. */
        if (c.n < asked)
            failed |= FETCH_GONE;
        failed |= fetch_write(s, &it, &c, &seen_now);
        ph_meta_list_free(&c);
    }
    if (failed & FETCH_FAILED)
        imap_tagged(s, "NO", "[SERVERBUG] Some messages could not be fetched");
    else if (failed & FETCH_UNKNOWN_CTE)
        imap_tagged(s, "NO",
                    "[UNKNOWN-CTE] Cannot decode the Content-Transfer-Encoding "
                    "of a section");
    else if (failed & FETCH_GONE)
        imap_tagged(s, "NO", "%s", IMAP_GONE_TEXT);
    else
        imap_tagged(s, "OK", "FETCH completed");
out:
    ph_uidset_clear(&batch);
    ph_uidset_clear(&set);
    ph_uidset_clear(&seen_now);
    items_clear(&it);
}
