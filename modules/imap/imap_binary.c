/* SPDX-License-Identifier: MIT */
/* FETCH BINARY[section]<partial>, BINARY.PEEK and BINARY.SIZE (RFC 3516
 * 4.2, 4.3; RFC 9051 6.4.5, 7.5.2): a section with its
 * Content-Transfer-Encoding undone.
 *
 * What a section's decoding is (binary_plan):
 *   - base64 and quoted-printable are decoded; text parts then have
 *     their line ends made CRLF (RFC 9051 7.5.2), except in charsets
 *     whose octets are no lines (UTF-16, UTF-32);
 *   - 7bit, 8bit and binary are identities: the section as stored, the
 *     bytes of BODY[section]. So is every multipart and message/rfc822
 *     part, which may have no other encoding (RFC 2045 6.4): RFC 9051
 *     6.4.5 asks clients for leaf parts only, and a composite's own
 *     encoding is nothing to undo;
 *   - BINARY[] of a single-part message is its header, with the
 *     Content-Transfer-Encoding field saying "binary", and its body
 *     decoded;
 *   - any other encoding: NO [UNKNOWN-CTE], before any byte of the
 *     message's FETCH response goes out.
 * Decoded data that holds a NUL goes out as literal8 "~{n}" (RFC 3516
 * 4.3); stored sections never do (storage has no NUL: message.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/message.h>

#include "imap-private.h"

/* A client downloads a large attachment in partials (imapflow: 64 KiB a
 * request; BINARY.SIZE first). Decoding the part again for each would
 * read and decode the whole part once per partial (quadratic), so the
 * last few decoded sections stay with the session: at most
 * BINARY_CACHE_ENTRIES of them, each in memory up to BINARY_CACHE_MEMORY
 * bytes (4 MiB a session, counted in imap_session_memory()), a larger
 * one in an unlinked file in state_dir, like APPEND's spool (no larger
 * than the message, which APPENDLIMIT bounds). Message bytes of a UID
 * never change (RFC 3501 2.3.1.1), so an entry is never stale while the
 * mailbox, UIDVALIDITY and UID are the same; they go with the view. */
#define BINARY_CACHE_ENTRIES 4
#define BINARY_CACHE_MEMORY (1024 * 1024)

struct binary_entry {
    char *mailbox; /* NULL: a free slot */
    uint32_t uidvalidity, uid;
    char *part; /* the section-part as sent, "" for the message */
    struct ph_buf mem;
    FILE *file; /* the decoded bytes when they outgrew mem */
    uint64_t size;
    bool nul; /* they hold a NUL: literal8 */
    uint64_t used;
};

struct imap_binary_cache {
    struct binary_entry v[BINARY_CACHE_ENTRIES];
    uint64_t clock;
};

static void entry_clear(struct binary_entry *e)
{
    free(e->mailbox);
    free(e->part);
    ph_buf_free(&e->mem);
    if (e->file)
        fclose(e->file);
    memset(e, 0, sizeof(*e));
}

void imap_binary_cache_free(struct imap_binary_cache **c)
{
    if (*c == NULL)
        return;
    for (size_t i = 0; i < BINARY_CACHE_ENTRIES; i++)
        entry_clear(&(*c)->v[i]);
    free(*c);
    *c = NULL;
}

size_t imap_binary_cache_memory(const struct imap_binary_cache *c)
{
    size_t n = 0;
    for (size_t i = 0; c != NULL && i < BINARY_CACHE_ENTRIES; i++)
        n += c->v[i].mem.cap;
    return n;
}

/* ---- What decoding a section means -------------------------------------- */

struct binary_plan {
    bool absent;   /* no such part: an empty string, as BODY[] has */
    bool identity; /* the stored bytes of BODY[section] */
    /* Decoded: the header (BINARY[] of a single-part message), then the
     * body through the decoder. */
    bool header;
    uint64_t hdr_off, hdr_size, off, size;
    enum ph_message_encoding enc;
    bool text;
};

static bool octet_lines(const char *charset)
{
    return charset == NULL || (strncasecmp(charset, "utf-16", 6) != 0 &&
                               strncasecmp(charset, "utf-32", 6) != 0 &&
                               strncasecmp(charset, "ucs-", 4) != 0);
}

/* 0, or BINARY_UNKNOWN_CTE. */
static int binary_plan(const struct ph_message_info *info, const char *spec,
                       struct binary_plan *p)
{
    memset(p, 0, sizeof(*p));
    struct ph_message_section sec;
    const char *err;
    if (ph_message_section_parse(spec, strlen(spec), &sec, &err) < 0) {
        p->absent = true; /* checked when the item was parsed */
        return 0;
    }
    if (info == NULL) {
        /* No structure: the message as stored, no part. */
        p->identity = sec.path_len == 0;
        p->absent = !p->identity;
        ph_message_section_clear(&sec);
        return 0;
    }
    uint32_t idx = ph_message_section_part(info, sec.path, sec.path_len);
    bool whole = sec.path_len == 0;
    ph_message_section_clear(&sec);
    if (idx == PH_MESSAGE_PART_NONE) {
        p->absent = true;
        return 0;
    }
    const struct ph_message_part *pt = &info->parts[idx];
    p->enc = (enum ph_message_encoding)pt->encoding;
    if (p->enc == PH_MESSAGE_ENCODING_OTHER)
        return BINARY_UNKNOWN_CTE;
    if (p->enc != PH_MESSAGE_ENCODING_BASE64 &&
        p->enc != PH_MESSAGE_ENCODING_QUOTED_PRINTABLE) {
        p->identity = true;
        return 0;
    }
    p->header = whole;
    p->hdr_off = pt->header_offset;
    p->hdr_size = pt->header_size;
    p->off = pt->body_offset;
    p->size = pt->body_size;
    p->text = (pt->flags & PH_MESSAGE_PART_TEXT) &&
              strcmp(pt->type, "text") == 0 && octet_lines(pt->charset);
    return 0;
}

int imap_binary_check(const struct ph_message_info *info, const char *spec)
{
    struct binary_plan p;
    return binary_plan(info, spec, &p);
}

/* ---- Decoding into the cache ------------------------------------------- */

struct decode_ctx {
    struct imap_session *s;
    struct binary_entry *e;
    struct ph_message_decoder *dec;
    bool text;
    struct ph_text_crlf crlf;
    struct ph_buf tmp;
    bool failed; /* the spool file could not be written */
};

static void entry_put(struct decode_ctx *c, const char *data, size_t len)
{
    struct binary_entry *e = c->e;
    if (len == 0 || c->failed)
        return;
    if (memchr(data, '\0', len) != NULL)
        e->nul = true;
    e->size += len;
    if (e->file == NULL && (e->mem.len + len > BINARY_CACHE_MEMORY ||
                            !imap_memory_fits(c->s, len))) {
        e->file = imap_spool_open();
        if (e->file == NULL || fwrite(e->mem.data ? e->mem.data : "", 1,
                                      e->mem.len, e->file) != e->mem.len) {
            c->failed = true;
            return;
        }
        ph_buf_free(&e->mem);
    }
    if (e->file != NULL) {
        if (fwrite(data, 1, len, e->file) != len)
            c->failed = true;
    } else {
        ph_buf_append(&e->mem, data, len);
    }
}

static void decoded_cb(void *arg, const char *data, size_t len)
{
    struct decode_ctx *c = arg;
    if (!c->text) {
        entry_put(c, data, len);
        return;
    }
    ph_text_crlf_feed(&c->crlf, data, len, &c->tmp);
    entry_put(c, c->tmp.data, c->tmp.len);
    ph_buf_reset(&c->tmp);
}

static int header_cb(void *arg, const void *data, size_t len)
{
    ph_buf_append(arg, data, len);
    return 0;
}

static int body_cb(void *arg, const void *data, size_t len)
{
    struct decode_ctx *c = arg;
    ph_message_decoder_feed(c->dec, data, len);
    /* Not -1: that is PH_STORAGE_ERR_NOT_FOUND, a message gone. */
    return c->failed ? PH_STORAGE_ERR_TEMP : 0;
}

static struct binary_entry *cache_find(struct imap_session *s, uint32_t uid,
                                       const char *part)
{
    struct imap_binary_cache *c = s->binary_cache;
    const char *name = ph_mailbox_name(s->mb);
    uint32_t uidvalidity = ph_mailbox_uidvalidity(s->mb);
    for (size_t i = 0; c != NULL && i < BINARY_CACHE_ENTRIES; i++) {
        struct binary_entry *e = &c->v[i];
        if (e->mailbox != NULL && e->uid == uid &&
            e->uidvalidity == uidvalidity && strcmp(e->part, part) == 0 &&
            strcmp(e->mailbox, name) == 0) {
            e->used = ++c->clock;
            return e;
        }
    }
    return NULL;
}

/* The least recently used slot, emptied. */
static struct binary_entry *cache_slot(struct imap_session *s)
{
    if (s->binary_cache == NULL)
        s->binary_cache = ph_calloc(1, sizeof(*s->binary_cache));
    struct imap_binary_cache *c = s->binary_cache;
    struct binary_entry *e = &c->v[0];
    for (size_t i = 1; i < BINARY_CACHE_ENTRIES && e->mailbox != NULL; i++)
        if (c->v[i].mailbox == NULL || c->v[i].used < e->used)
            e = &c->v[i];
    entry_clear(e);
    return e;
}

/* The decoded section of message uid, from the cache or decoded now into
 * it. NULL with *r_r, a PH_STORAGE_ERR_* (TEMP: the spool file failed). */
static struct binary_entry *decoded(struct imap_session *s, uint32_t uid,
                                    const char *part,
                                    const struct binary_plan *p, int *r_r)
{
    struct binary_entry *e = cache_find(s, uid, part);
    if (e != NULL)
        return e;
    e = cache_slot(s);
    struct decode_ctx c = {.s = s, .e = e, .text = p->text};
    const char *err;
    int r = 0;
    if (p->header) {
        struct ph_buf hdr = {0}, fixed = {0};
        r = ph_mailbox_read(s->mb, uid, p->hdr_off, p->hdr_size, header_cb,
                            &hdr, &err);
        if (r == 0) {
            ph_message_header_set_encoding(hdr.data ? hdr.data : "", hdr.len,
                                           "binary", &fixed);
            entry_put(&c, fixed.data, fixed.len);
        }
        ph_buf_free(&hdr);
        ph_buf_free(&fixed);
    }
    if (r == 0 && p->size > 0) {
        c.dec = ph_message_decoder_new(p->enc, NULL, decoded_cb, &c);
        r = ph_mailbox_read(s->mb, uid, p->off, p->size, body_cb, &c, &err);
        ph_message_decoder_finish(&c.dec);
    }
    ph_buf_free(&c.tmp);
    if (r == 0 && !c.failed && e->file != NULL && fflush(e->file) != 0)
        c.failed = true;
    if (r < 0 && r != PH_STORAGE_ERR_NOT_FOUND)
        ph_log_warn("mod=imap event=read_failed user=%s uid=%u error=\"%s\"",
                    s->user, uid, c.failed ? "spool" : err);
    else if (c.failed)
        ph_log_warn("mod=imap event=binary_spool_failed user=%s uid=%u",
                    s->user, uid);
    if (r < 0 || c.failed) {
        entry_clear(e);
        *r_r = c.failed ? PH_STORAGE_ERR_TEMP : r;
        return NULL;
    }
    if (s->srv->conf->debug || ph_log_debug_enabled())
        ph_log_info("mod=imap event=binary_decoded user=%s uid=%u part=%s "
                    "size=%llu spilled=%s",
                    s->user, uid, part[0] ? part : "-",
                    (unsigned long long)e->size, e->file ? "yes" : "no");
    e->mailbox = ph_strdup(ph_mailbox_name(s->mb));
    e->uidvalidity = ph_mailbox_uidvalidity(s->mb);
    e->uid = uid;
    e->part = ph_strdup(part);
    e->used = ++s->binary_cache->clock;
    return e;
}

static int out_cb(void *arg, const void *data, size_t len)
{
    struct imap_session *s = arg;
    ph_buf_append(&s->out, data, len);
    return s->out.len >= 256 * 1024 && imap_flush(s) < 0 ? -1 : 0;
}

/* Writes [off, off + len) of e's bytes, flushing as it goes: a partial
 * of a large part is no larger in memory than a BODY[] literal. */
static int entry_write(struct imap_session *s, struct binary_entry *e,
                       uint64_t off, uint64_t len)
{
    if (e->file == NULL) {
        ph_buf_append(&s->out, e->mem.data + off, (size_t)len);
        return 0;
    }
    return imap_spool_read(e->file, off, len, out_cb, s) == 0 ? 0 : -1;
}

int imap_binary_write(struct imap_session *s, uint32_t uid, uint64_t msg_size,
                      const struct ph_message_info *info, const char *name,
                      const char *spec, bool size_only, bool partial,
                      uint64_t start, uint64_t count, bool *identity_r)
{
    struct binary_plan p;
    *identity_r = false;
    if (binary_plan(info, spec, &p) < 0)
        return BINARY_UNKNOWN_CTE;
    uint64_t off = 0, size = 0;
    if (p.identity && !size_only) {
        *identity_r = true; /* the caller writes BODY[section]'s bytes */
        return 0;
    }
    if (p.identity) {
        const char *err;
        if (info == NULL)
            size = msg_size;
        else if (ph_message_section_range(info, spec, &off, &size, &err) != 1)
            size = 0;
        ph_buf_printf(&s->out, "%s %llu", name, (unsigned long long)size);
        return 0;
    }
    struct binary_entry *e = NULL;
    if (!p.absent) {
        int r = 0;
        e = decoded(s, uid, spec, &p, &r);
        if (e == NULL) {
            /* Nothing made up (RFC 2180 4.1.3). */
            ph_buf_puts(&s->out, name);
            if (partial && !size_only)
                ph_buf_printf(&s->out, "<%llu>", (unsigned long long)start);
            ph_buf_puts(&s->out, " NIL");
            return r == PH_STORAGE_ERR_NOT_FOUND ? -2 : -1;
        }
        size = e->size;
    }
    if (size_only) {
        ph_buf_printf(&s->out, "%s %llu", name, (unsigned long long)size);
        return 0;
    }
    ph_buf_puts(&s->out, name);
    if (partial) {
        ph_message_range_partial(&off, &size, start, count);
        ph_buf_printf(&s->out, "<%llu>", (unsigned long long)start);
    }
    if (e == NULL) {
        ph_buf_puts(&s->out, " \"\""); /* as BODY[] of a missing part */
        return 0;
    }
    ph_buf_printf(&s->out, " %s{%llu}\r\n", e->nul ? "~" : "",
                  (unsigned long long)size);
    return size > 0 ? entry_write(s, e, off, size) : 0;
}
