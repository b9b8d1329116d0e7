/* SPDX-License-Identifier: MIT */
/* The incremental message parser: splits a message into its part tree
 * (RFC 2045, RFC 2046 5.1, 5.2) and renders ENVELOPE, BODYSTRUCTURE and BODY
 * (RFC 3501 7.4.2).
 *
 * It works a line at a time and keeps only what a line needs: in a header,
 * the header block (bounded); in a body, the first bytes of the line, enough
 * to recognize a boundary. Any split of the input gives the same result
 * because every decision is taken at a line end. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "message-private.h"

#define HEADER_SIZE_AFTER_BUDGET 4096

struct node {
    uint32_t parent, first_child, last_child, next_sibling, n_children;
    uint32_t flags, depth, encoding;
    uint64_t header_offset, header_size, body_offset, body_size, body_lines;
    uint64_t lf_at_body; /* LFs before body_offset */
    bool in_digest;      /* default type message/rfc822 (RFC 2046 5.1.5) */
    bool ended;
    char *type, *subtype, *charset; /* lower-case, for the info */
    /* BODYSTRUCTURE pieces rendered when the header ended. For a leaf,
     * head is `"type" "subtype" params id desc enc`; for a multipart, the
     * subtype. ext is the extension data after the size/lines. */
    char *head, *ext;
    char *envelope; /* message nodes */
    char *boundary; /* multipart nodes whose boundary is active */
    size_t boundary_len;
};

enum pstate { ST_HEADER, ST_BODY };

struct ph_message_parser {
    struct ph_message_limits lim;
    uint64_t offset, lf_count;
    struct node *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t cur;
    enum pstate state;
    bool limit_hit; /* max_parts reached: boundaries are no longer seen */

    /* The current line: where it started and its first bytes. */
    uint64_t line_start, lf_at_line_start;
    char *line;
    size_t line_len, line_keep;
    unsigned char last_byte; /* the byte before the LF */
    unsigned prev_eol_len;   /* EOL length of the line before this one */

    /* The current header block. */
    struct ph_buf hdr;
    size_t hdr_limit, hdr_at_line_start, total_header;
    bool hdr_truncated;

    /* Multipart nodes with an active boundary, outermost first. */
    uint32_t *active;
    size_t n_active, cap_active;

    struct ph_message_info *info;
};

void ph_message_limits_default(struct ph_message_limits *limits_r)
{
    limits_r->max_header_size = 1024 * 1024;
    limits_r->max_total_header_size = 16 * 1024 * 1024;
    limits_r->max_depth = 100;
    limits_r->max_parts = 5000;
    limits_r->max_boundary_size = 8192;
}

/* ---- Nodes ---- */

static uint32_t node_new(struct ph_message_parser *p, uint32_t parent,
                         uint64_t header_offset)
{
    ph_array_grow(&p->nodes, &p->cap_nodes, p->n_nodes + 1,
                  sizeof(struct node));
    uint32_t idx = (uint32_t)p->n_nodes++;
    struct node *n = &p->nodes[idx];
    memset(n, 0, sizeof(*n));
    n->parent = parent;
    n->first_child = n->last_child = n->next_sibling = PH_MESSAGE_PART_NONE;
    n->header_offset = header_offset;
    if (parent != PH_MESSAGE_PART_NONE) {
        struct node *pn = &p->nodes[parent];
        n->depth = pn->depth + 1;
        if (pn->last_child == PH_MESSAGE_PART_NONE)
            pn->first_child = idx;
        else
            p->nodes[pn->last_child].next_sibling = idx;
        pn->last_child = idx;
        pn->n_children++;
    }
    if (p->n_nodes >= p->lim.max_parts)
        p->limit_hit = true;
    return idx;
}

static void start_header(struct ph_message_parser *p, uint32_t idx)
{
    p->cur = idx;
    p->state = ST_HEADER;
    ph_buf_reset(&p->hdr);
    p->hdr_truncated = false;
    p->hdr_limit = p->total_header < p->lim.max_total_header_size
                       ? p->lim.max_header_size
                       : HEADER_SIZE_AFTER_BUDGET;
    if (p->hdr_limit > p->lim.max_header_size)
        p->hdr_limit = p->lim.max_header_size;
}

static void active_push(struct ph_message_parser *p, uint32_t idx)
{
    ph_array_grow(&p->active, &p->cap_active, p->n_active + 1,
                  sizeof(uint32_t));
    p->active[p->n_active++] = idx;
}

/* Longest active boundary + "--" + "--": the bytes of a line to keep. */
static void update_line_keep(struct ph_message_parser *p)
{
    size_t keep = 2;
    for (size_t i = 0; i < p->n_active; i++) {
        size_t k = 4 + p->nodes[p->active[i]].boundary_len;
        if (k > keep)
            keep = k;
    }
    if (keep > p->line_keep)
        p->line = ph_realloc(p->line, keep);
    p->line_keep = keep;
}

/* Ends node idx's body at offset end (lf_end LFs before it). */
static void node_end(struct ph_message_parser *p, uint32_t idx, uint64_t end,
                     uint64_t lf_end)
{
    struct node *n = &p->nodes[idx];
    if (n->ended)
        return;
    n->ended = true;
    if (end < n->body_offset) {
        /* The blank line after the header went to the boundary. */
        n->body_offset = end;
        if (n->header_offset > end)
            n->header_offset = end;
        n->header_size = end - n->header_offset;
        /* The empty message of an encoded RFC822 part moves along. */
        if ((n->flags & PH_MESSAGE_PART_RFC822) &&
            n->first_child != PH_MESSAGE_PART_NONE) {
            struct node *c = &p->nodes[n->first_child];
            if (c->header_offset > end) {
                c->header_offset = c->body_offset = end;
                c->header_size = c->body_size = c->body_lines = 0;
            }
        }
    }
    n->body_size = end - n->body_offset;
    n->body_lines = lf_end > n->lf_at_body ? lf_end - n->lf_at_body : 0;
    if (n->boundary != NULL) {
        for (size_t i = 0; i < p->n_active; i++) {
            if (p->active[i] == idx) {
                memmove(&p->active[i], &p->active[i + 1],
                        (p->n_active - i - 1) * sizeof(uint32_t));
                p->n_active--;
                break;
            }
        }
        update_line_keep(p);
    }
}

/* ---- Rendering a part's fields when its header ends ---- */

struct mime_fields {
    char *type, *subtype; /* as sent */
    struct mime_params params;
    char *encoding;
    bool valid_type;
};

static void append_params(struct ph_buf *out, const struct mime_params *params,
                          bool add_charset)
{
    if (params->n == 0 && !add_charset) {
        ph_buf_puts(out, "NIL");
        return;
    }
    ph_buf_putc(out, '(');
    for (size_t i = 0; i < params->n; i++) {
        if (i > 0)
            ph_buf_putc(out, ' ');
        imap_append_nstringz(out, params->v[i].name);
        ph_buf_putc(out, ' ');
        imap_append_nstringz(out, params->v[i].value);
    }
    if (add_charset)
        ph_buf_puts(out, params->n > 0 ? " \"charset\" \"us-ascii\""
                                       : "\"charset\" \"us-ascii\"");
    ph_buf_putc(out, ')');
}

static void append_language(struct ph_buf *out, const char *v, size_t len)
{
    /* Content-Language (RFC 3282): a comma-separated list of tags. */
    struct rfc822_lexer lx;
    struct ph_buf tag = {0};
    size_t count = 0;
    rfc822_lexer_init(&lx, v, len);
    for (;;) {
        rfc822_skip_cfws(&lx);
        if (lx.p >= lx.end)
            break;
        if (*lx.p == ',') {
            lx.p++;
            continue;
        }
        ph_buf_reset(&tag);
        if (rfc822_read_atom(&lx, MIME_TSPECIALS, &tag) == 0) {
            lx.p++;
            continue;
        }
        ph_buf_putc(out, count++ == 0 ? '(' : ' ');
        imap_append_nstring(out, tag.data, tag.len);
    }
    ph_buf_free(&tag);
    ph_buf_puts(out, count == 0 ? "NIL" : ")");
}

static void append_disposition(struct ph_buf *out, const char *v, size_t len)
{
    char *type;
    struct mime_params params = {0};
    if (mime_disposition_parse(v, len, &type, &params) < 0) {
        ph_buf_puts(out, "NIL");
        return;
    }
    ph_buf_putc(out, '(');
    imap_append_nstringz(out, type);
    ph_buf_putc(out, ' ');
    append_params(out, &params, false);
    ph_buf_putc(out, ')');
    free(type);
    mime_params_clear(&params);
}

static enum ph_message_encoding encoding_of(const char *enc)
{
    static const struct {
        const char *name;
        enum ph_message_encoding enc;
    } map[] = {
        {"7bit", PH_MESSAGE_ENCODING_7BIT},
        {"8bit", PH_MESSAGE_ENCODING_8BIT},
        {"binary", PH_MESSAGE_ENCODING_BINARY},
        {"base64", PH_MESSAGE_ENCODING_BASE64},
        {"quoted-printable", PH_MESSAGE_ENCODING_QUOTED_PRINTABLE},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(map); i++)
        if (msg_ascii_eqz(enc, strlen(enc), map[i].name))
            return map[i].enc;
    return PH_MESSAGE_ENCODING_OTHER;
}

/* The header fields a part's structure needs, first occurrence each. */
enum part_field {
    PF_TYPE,
    PF_ENCODING,
    PF_ID,
    PF_DESCRIPTION,
    PF_MD5,
    PF_DISPOSITION,
    PF_LANGUAGE,
    PF_LOCATION,
    PF_COUNT
};

static const char *const part_field_names[PF_COUNT] = {
    [PF_TYPE] = "Content-Type",
    [PF_ENCODING] = "Content-Transfer-Encoding",
    [PF_ID] = "Content-ID",
    [PF_DESCRIPTION] = "Content-Description",
    [PF_MD5] = "Content-MD5",
    [PF_DISPOSITION] = "Content-Disposition",
    [PF_LANGUAGE] = "Content-Language",
    [PF_LOCATION] = "Content-Location",
};

/* The boundary of a multipart, malloc'ed, or NULL: the parameter (RFC
 * 2231 continuations joined, an extended value %-decoded) without trailing
 * whitespace. RFC 2046 5.1.1 ends a boundary in bcharsnospace and lets a
 * delimiter line end in whitespace (transport padding): senders that quote
 * spaces at the end of the parameter still delimit with the rest. */
static char *boundary_of(const struct mime_params *params, size_t *len_r)
{
    char *b = mime_params_value(params, "boundary", false, len_r);
    if (b == NULL)
        return NULL;
    while (*len_r > 0 && msg_is_wsp((unsigned char)b[*len_r - 1]))
        b[--*len_r] = '\0';
    if (memchr(b, '\0', *len_r) != NULL) {
        free(b); /* a %00 matches no line of the body */
        return NULL;
    }
    return b;
}

/* Parses the header of node idx and decides what its body is. */
static void header_parsed(struct ph_message_parser *p, uint32_t idx)
{
    struct node *n = &p->nodes[idx];
    const char *hdr = p->hdr.data == NULL ? "" : p->hdr.data;
    size_t hlen = p->hdr.len;
    struct message_field fields[PF_COUNT];
    bool have[PF_COUNT] = {false};
    struct message_field f;
    size_t pos = 0;

    p->total_header += hlen;
    if (p->hdr_truncated)
        n->flags |= PH_MESSAGE_PART_HEADER_TRUNCATED;
    while (message_header_next(hdr, hlen, &pos, &f)) {
        if (f.name == NULL)
            continue;
        for (size_t i = 0; i < PF_COUNT; i++) {
            if (!have[i] &&
                msg_ascii_eqz(f.name, f.name_len, part_field_names[i])) {
                fields[i] = f;
                have[i] = true;
            }
        }
    }

    /* Content-Type; absent or invalid means text/plain (RFC 2045 5.2),
     * message/rfc822 in a digest (RFC 2046 5.1.5). */
    char *type = NULL, *subtype = NULL;
    struct mime_params params = {0};
    if (have[PF_TYPE] && mime_content_type_parse(
                             fields[PF_TYPE].value, fields[PF_TYPE].value_len,
                             &type, &subtype, &params) < 0) {
        mime_params_clear(&params);
        have[PF_TYPE] = false;
    }
    if (!have[PF_TYPE]) {
        type = ph_strdup(n->in_digest ? "message" : "text");
        subtype = ph_strdup(n->in_digest ? "rfc822" : "plain");
    }

    char *enc = NULL;
    if (have[PF_ENCODING]) {
        struct rfc822_lexer lx;
        struct ph_buf b = {0};
        rfc822_lexer_init(&lx, fields[PF_ENCODING].value,
                          fields[PF_ENCODING].value_len);
        rfc822_skip_cfws(&lx);
        if (rfc822_read_atom(&lx, MIME_TSPECIALS, &b) > 0) {
            rfc822_skip_cfws(&lx);
            /* One token or nothing: "8 bit" is no mechanism (RFC 2045
             * 6.1), the default stands, as in Dovecot. */
            if (lx.p == lx.end)
                enc = ph_buf_steal(&b);
        }
        ph_buf_free(&b);
    }
    if (enc == NULL)
        enc = ph_strdup("7bit");
    n->encoding = encoding_of(enc);

    bool is_multipart = msg_ascii_eqz(type, strlen(type), "multipart");
    bool is_message = msg_ascii_eqz(type, strlen(type), "message") &&
                      msg_ascii_eqz(subtype, strlen(subtype), "rfc822");
    bool is_text = msg_ascii_eqz(type, strlen(type), "text");
    if ((is_multipart || is_message) &&
        (p->limit_hit || n->depth + 1 >= p->lim.max_depth)) {
        /* Too deep or too many parts: a leaf, reported as text. */
        n->flags |= PH_MESSAGE_PART_LIMITED;
        is_multipart = is_message = false;
        is_text = true;
        free(type);
        free(subtype);
        type = ph_strdup("text");
        subtype = ph_strdup("plain");
        mime_params_clear(&params);
    }

    struct ph_buf head = {0}, ext = {0};
    if (is_multipart) {
        imap_append_nstringz(&head, subtype);
        append_params(&ext, &params, false);
    } else if (is_message) {
        /* RFC 3501 9 spells media-message in capitals; ABNF strings are
         * case-insensitive and Dovecot writes them in lower case. */
        ph_buf_puts(&head, "\"message\" \"rfc822\"");
    } else {
        imap_append_nstringz(&head, type);
        ph_buf_putc(&head, ' ');
        imap_append_nstringz(&head, subtype);
    }
    if (!is_multipart) {
        ph_buf_putc(&head, ' ');
        append_params(&head, &params,
                      is_text && mime_params_get(&params, "charset") == NULL);
        ph_buf_putc(&head, ' ');
        if (have[PF_ID])
            imap_append_nstring_unfold(&head, fields[PF_ID].value,
                                       fields[PF_ID].value_len);
        else
            ph_buf_puts(&head, "NIL");
        ph_buf_putc(&head, ' ');
        if (have[PF_DESCRIPTION])
            imap_append_nstring_unfold(&head, fields[PF_DESCRIPTION].value,
                                       fields[PF_DESCRIPTION].value_len);
        else
            ph_buf_puts(&head, "NIL");
        ph_buf_putc(&head, ' ');
        imap_append_nstringz(&head, enc);
        if (have[PF_MD5])
            imap_append_nstring_unfold(&ext, fields[PF_MD5].value,
                                       fields[PF_MD5].value_len);
        else
            ph_buf_puts(&ext, "NIL");
    }
    ph_buf_putc(&ext, ' ');
    if (have[PF_DISPOSITION])
        append_disposition(&ext, fields[PF_DISPOSITION].value,
                           fields[PF_DISPOSITION].value_len);
    else
        ph_buf_puts(&ext, "NIL");
    ph_buf_putc(&ext, ' ');
    if (have[PF_LANGUAGE])
        append_language(&ext, fields[PF_LANGUAGE].value,
                        fields[PF_LANGUAGE].value_len);
    else
        ph_buf_puts(&ext, "NIL");
    ph_buf_putc(&ext, ' ');
    if (have[PF_LOCATION])
        imap_append_nstring_unfold(&ext, fields[PF_LOCATION].value,
                                   fields[PF_LOCATION].value_len);
    else
        ph_buf_puts(&ext, "NIL");
    n->head = ph_buf_steal(&head);
    n->ext = ph_buf_steal(&ext);

    if (n->flags & PH_MESSAGE_PART_MESSAGE) {
        struct ph_buf env = {0};
        message_envelope_write(hdr, hlen, &env);
        n->envelope = ph_buf_steal(&env);
    }

    n->type = msg_ascii_lower_dup(type, strlen(type));
    n->subtype = msg_ascii_lower_dup(subtype, strlen(subtype));
    const char *cs = mime_params_get(&params, "charset");
    if (cs != NULL)
        n->charset = ph_strdup(cs);
    if (is_text)
        n->flags |= PH_MESSAGE_PART_TEXT;
    if (is_multipart) {
        n->flags |= PH_MESSAGE_PART_MULTIPART;
        size_t blen;
        char *b = boundary_of(&params, &blen);
        if (b != NULL && blen > 0 && blen <= p->lim.max_boundary_size) {
            n->boundary = b;
            n->boundary_len = blen;
        } else {
            free(b);
        }
    }
    if (is_message)
        n->flags |= PH_MESSAGE_PART_RFC822;
    free(type);
    free(subtype);
    free(enc);
    mime_params_clear(&params);
}

/* The header of the current node ended; the body starts at body_offset. */
static void header_end(struct ph_message_parser *p, uint64_t body_offset,
                       uint64_t lf_at_body, unsigned blank_eol_len)
{
    uint32_t idx = p->cur;
    struct node *n = &p->nodes[idx];
    n->header_size = body_offset - n->header_offset;
    n->body_offset = body_offset;
    n->lf_at_body = lf_at_body;
    if (idx == 0) {
        struct ph_message_info *info = p->info;
        info->header = ph_malloc(p->hdr.len + 1);
        if (p->hdr.len > 0)
            memcpy(info->header, p->hdr.data, p->hdr.len);
        info->header[p->hdr.len] = '\0';
        info->header_size = p->hdr.len;
    }
    header_parsed(p, idx);
    n = &p->nodes[idx];
    p->state = ST_BODY;
    /* A boundary right after the blank line takes its CRLF (RFC 2046
     * 5.1.1: body-part := MIME-part-headers [CRLF *OCTET]). */
    p->prev_eol_len = blank_eol_len;

    if (n->flags & PH_MESSAGE_PART_MULTIPART) {
        if (n->boundary != NULL) {
            active_push(p, idx);
            update_line_keep(p);
        }
    } else if (n->flags & PH_MESSAGE_PART_RFC822) {
        uint32_t child = node_new(p, idx, body_offset);
        struct node *c = &p->nodes[child];
        n = &p->nodes[idx];
        c->flags |= PH_MESSAGE_PART_MESSAGE;
        if (n->encoding == PH_MESSAGE_ENCODING_7BIT ||
            n->encoding == PH_MESSAGE_ENCODING_8BIT ||
            n->encoding == PH_MESSAGE_ENCODING_BINARY) {
            start_header(p, child);
        } else {
            /* RFC 2046 5.2.1 allows no other encoding: the encoded bytes
             * are no message; report an empty one. */
            ph_buf_reset(&p->hdr);
            p->hdr_truncated = false;
            c->body_offset = body_offset;
            c->lf_at_body = lf_at_body;
            header_parsed(p, child);
            c = &p->nodes[child];
            c->ended = true;
        }
    }
}

/* ---- Lines ---- */

/* The active multipart whose boundary starts this line: the longest
 * boundary that is a prefix of it (RFC 2046 5.1.2 lets a nested boundary
 * extend an outer one), the innermost on a tie. */
static bool match_boundary(struct ph_message_parser *p, size_t *active_idx_r,
                           bool *close_r)
{
    if (p->line_len < 2 || p->line[0] != '-' || p->line[1] != '-' ||
        p->limit_hit)
        return false;
    const char *rest = p->line + 2;
    size_t rest_len = p->line_len - 2;
    size_t best_len = 0;
    bool found = false;
    for (size_t i = p->n_active; i-- > 0;) {
        const struct node *n = &p->nodes[p->active[i]];
        if (n->boundary_len <= rest_len && n->boundary_len > best_len &&
            memcmp(rest, n->boundary, n->boundary_len) == 0) {
            best_len = n->boundary_len;
            *active_idx_r = i;
            found = true;
        }
    }
    if (!found)
        return false;
    *close_r = rest_len >= best_len + 2 && rest[best_len] == '-' &&
               rest[best_len + 1] == '-';
    return true;
}

static void boundary_line(struct ph_message_parser *p, size_t active_idx,
                          bool close, uint64_t line_end, unsigned eol_len)
{
    uint32_t mp = p->active[active_idx];
    /* The CRLF before the boundary belongs to it (RFC 2046 5.1.1), even
     * when it ends a header field or the blank line after a header. */
    uint64_t end = p->line_start - p->prev_eol_len;
    uint64_t lf_end = p->lf_at_line_start - (p->prev_eol_len > 0);
    if (p->state == ST_HEADER) {
        /* A header cut short by a boundary: the body is empty. */
        p->hdr.len = p->hdr_at_line_start;
        if (p->hdr.data != NULL)
            p->hdr.data[p->hdr.len] = '\0';
        /* An RFC822 part opens its embedded message, empty here. */
        while (p->state == ST_HEADER)
            header_end(p, p->line_start, p->lf_at_line_start, 0);
    }
    for (uint32_t i = p->cur; i != mp; i = p->nodes[i].parent)
        node_end(p, i, end, lf_end);
    p->cur = mp;
    p->state = ST_BODY;
    if (close) {
        /* What follows is the epilogue, part of mp's body. */
        for (size_t i = 0; i < p->n_active; i++) {
            if (p->active[i] == mp) {
                memmove(&p->active[i], &p->active[i + 1],
                        (p->n_active - i - 1) * sizeof(uint32_t));
                p->n_active--;
                break;
            }
        }
        update_line_keep(p);
        p->prev_eol_len = eol_len;
        return;
    }
    uint32_t child = node_new(p, mp, line_end);
    struct node *m = &p->nodes[mp];
    p->nodes[child].in_digest =
        msg_ascii_eqz(m->subtype, strlen(m->subtype), "digest");
    start_header(p, child);
    p->prev_eol_len = 0;
}

static void line_done(struct ph_message_parser *p, unsigned eol_len)
{
    uint64_t line_end = p->offset;
    uint64_t line_total = line_end - p->line_start;
    size_t active_idx;
    bool close;

    /* Only the content before the EOL counts for a boundary. */
    if (p->line_len > line_total - eol_len)
        p->line_len = (size_t)(line_total - eol_len);
    if (match_boundary(p, &active_idx, &close)) {
        boundary_line(p, active_idx, close, line_end, eol_len);
    } else if (p->state == ST_HEADER && line_total == eol_len && eol_len > 0) {
        header_end(p, line_end, p->lf_count, eol_len);
    } else {
        p->prev_eol_len = eol_len;
    }
    p->line_len = 0;
    p->line_start = p->offset;
    p->lf_at_line_start = p->lf_count;
    p->hdr_at_line_start = p->hdr.len;
}

static void consume(struct ph_message_parser *p, const unsigned char *data,
                    size_t len)
{
    if (p->state == ST_HEADER) {
        size_t room = p->hdr_limit > p->hdr.len ? p->hdr_limit - p->hdr.len : 0;
        size_t n = len < room ? len : room;
        ph_buf_append(&p->hdr, data, n);
        if (n < len)
            p->hdr_truncated = true;
    }
    if (p->line_len < p->line_keep) {
        size_t n = p->line_keep - p->line_len;
        if (n > len)
            n = len;
        memcpy(p->line + p->line_len, data, n);
        p->line_len += n;
    }
    p->offset += len;
}

struct ph_message_parser *
ph_message_parser_new(const struct ph_message_limits *limits)
{
    struct ph_message_parser *p = ph_calloc(1, sizeof(*p));
    if (limits != NULL)
        p->lim = *limits;
    else
        ph_message_limits_default(&p->lim);
    if (p->lim.max_parts < 1)
        p->lim.max_parts = 1;
    if (p->lim.max_depth < 1)
        p->lim.max_depth = 1;
    p->info = ph_calloc(1, sizeof(*p->info));
    uint32_t root = node_new(p, PH_MESSAGE_PART_NONE, 0);
    p->nodes[root].flags |= PH_MESSAGE_PART_MESSAGE;
    start_header(p, root);
    update_line_keep(p);
    return p;
}

void ph_message_parser_feed(struct ph_message_parser *p, const void *data,
                            size_t len)
{
    const unsigned char *d = data;
    while (len > 0) {
        const unsigned char *lf = memchr(d, '\n', len);
        size_t n = lf == NULL ? len : (size_t)(lf - d) + 1;
        if (lf != NULL && n >= 2)
            p->last_byte = d[n - 2];
        consume(p, d, n);
        if (lf != NULL) {
            p->lf_count++;
            unsigned eol = 1;
            if (p->offset - p->line_start >= 2 && p->last_byte == '\r')
                eol = 2;
            line_done(p, eol);
        } else {
            p->last_byte = d[n - 1];
        }
        d += n;
        len -= n;
    }
}

/* ---- The result ---- */

static void write_structure(const struct ph_message_parser *p, uint32_t idx,
                            bool extended, struct ph_buf *out, unsigned depth);

static void write_leaf(const struct ph_message_parser *p, uint32_t idx,
                       bool extended, struct ph_buf *out, unsigned depth)
{
    const struct node *n = &p->nodes[idx];
    ph_buf_putc(out, '(');
    ph_buf_puts(out, n->head);
    ph_buf_printf(out, " %llu", (unsigned long long)n->body_size);
    if (n->flags & PH_MESSAGE_PART_RFC822) {
        const struct node *c = &p->nodes[n->first_child];
        ph_buf_putc(out, ' ');
        ph_buf_puts(out, c->envelope);
        ph_buf_putc(out, ' ');
        write_structure(p, n->first_child, extended, out, depth + 1);
        ph_buf_printf(out, " %llu", (unsigned long long)n->body_lines);
    } else if (n->flags & PH_MESSAGE_PART_TEXT) {
        ph_buf_printf(out, " %llu", (unsigned long long)n->body_lines);
    }
    if (extended) {
        ph_buf_putc(out, ' ');
        ph_buf_puts(out, n->ext);
    }
    ph_buf_putc(out, ')');
}

static void write_structure(const struct ph_message_parser *p, uint32_t idx,
                            bool extended, struct ph_buf *out, unsigned depth)
{
    const struct node *n = &p->nodes[idx];
    if (!(n->flags & PH_MESSAGE_PART_MULTIPART)) {
        write_leaf(p, idx, extended, out, depth);
        return;
    }
    ph_buf_putc(out, '(');
    if (n->first_child == PH_MESSAGE_PART_NONE) {
        /* RFC 3501 9 requires at least one body in a multipart: an empty
         * text/plain stands for the missing parts. */
        ph_buf_puts(out, extended ? "(\"text\" \"plain\" (\"charset\" "
                                    "\"us-ascii\") NIL NIL \"7bit\" 0 0 "
                                    "NIL NIL NIL NIL)"
                                  : "(\"text\" \"plain\" (\"charset\" "
                                    "\"us-ascii\") NIL NIL \"7bit\" 0 0)");
    }
    for (uint32_t c = n->first_child; c != PH_MESSAGE_PART_NONE;
         c = p->nodes[c].next_sibling)
        write_structure(p, c, extended, out, depth + 1);
    ph_buf_putc(out, ' ');
    ph_buf_puts(out, n->head);
    if (extended) {
        ph_buf_putc(out, ' ');
        ph_buf_puts(out, n->ext);
    }
    ph_buf_putc(out, ')');
}

static void info_top_fields(struct ph_message_info *info)
{
    static const struct {
        const char *name;
        size_t offset;
    } top[] = {
        {"Subject", offsetof(struct ph_message_info, subject)},
        {"From", offsetof(struct ph_message_info, from)},
        {"To", offsetof(struct ph_message_info, to)},
        {"Cc", offsetof(struct ph_message_info, cc)},
        {"Bcc", offsetof(struct ph_message_info, bcc)},
        {"Message-ID", offsetof(struct ph_message_info, message_id)},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(top); i++) {
        char **slot = (char **)((char *)info + top[i].offset);
        *slot =
            message_header_get(info->header, info->header_size, top[i].name);
    }
    char *date = message_header_get(info->header, info->header_size, "Date");
    if (date != NULL) {
        info->has_date = ph_rfc5322_date_parse(date, strlen(date), &info->date,
                                               &info->date_tz_offset) == 0;
        free(date);
    }
}

static void free_nodes(struct ph_message_parser *p)
{
    for (size_t i = 0; i < p->n_nodes; i++) {
        struct node *n = &p->nodes[i];
        free(n->type);
        free(n->subtype);
        free(n->charset);
        free(n->head);
        free(n->ext);
        free(n->envelope);
        free(n->boundary);
    }
    free(p->nodes);
    p->nodes = NULL;
    p->n_nodes = 0;
}

void ph_message_parser_free(struct ph_message_parser **parser)
{
    struct ph_message_parser *p = *parser;
    if (p == NULL)
        return;
    *parser = NULL;
    free_nodes(p);
    free(p->line);
    free(p->active);
    ph_buf_free(&p->hdr);
    ph_message_info_free(&p->info);
    free(p);
}

struct ph_message_info *
ph_message_parser_finish(struct ph_message_parser **parser)
{
    struct ph_message_parser *p = *parser;
    /* A last line without EOL. */
    if (p->offset > p->line_start)
        line_done(p, 0);
    /* A header without its blank line (an RFC822 part may open another). */
    while (p->state == ST_HEADER)
        header_end(p, p->offset, p->lf_count, 0);
    /* Every node still open ends with the message. */
    for (size_t i = 0; i < p->n_nodes; i++)
        node_end(p, (uint32_t)i, p->offset, p->lf_count);

    struct ph_message_info *info = p->info;
    info->size = p->offset;
    info->lines = p->lf_count;
    struct ph_buf b = {0};
    ph_buf_puts(&b, p->nodes[0].envelope);
    info->envelope = ph_buf_steal(&b);
    write_structure(p, 0, true, &b, 0);
    info->bodystructure = ph_buf_steal(&b);
    write_structure(p, 0, false, &b, 0);
    info->body = ph_buf_steal(&b);

    info->n_parts = (uint32_t)p->n_nodes;
    info->parts = ph_calloc(p->n_nodes, sizeof(struct ph_message_part));
    for (size_t i = 0; i < p->n_nodes; i++) {
        struct node *n = &p->nodes[i];
        struct ph_message_part *part = &info->parts[i];
        part->parent = n->parent;
        part->first_child = n->first_child;
        part->next_sibling = n->next_sibling;
        part->n_children = n->n_children;
        part->flags = n->flags;
        part->encoding = n->encoding;
        part->header_offset = n->header_offset;
        part->header_size = n->header_size;
        part->body_offset = n->body_offset;
        part->body_size = n->body_size;
        part->body_lines = n->body_lines;
        part->type = n->type;
        part->subtype = n->subtype;
        part->charset = n->charset;
        n->type = n->subtype = n->charset = NULL;
    }
    info_top_fields(info);

    p->info = NULL;
    ph_message_parser_free(parser);
    return info;
}

struct ph_message_info *ph_message_parse(const void *data, size_t len)
{
    struct ph_message_parser *p = ph_message_parser_new(NULL);
    ph_message_parser_feed(p, data, len);
    return ph_message_parser_finish(&p);
}

void ph_message_info_free(struct ph_message_info **info)
{
    struct ph_message_info *i = *info;
    if (i == NULL)
        return;
    *info = NULL;
    for (uint32_t k = 0; k < i->n_parts && i->parts != NULL; k++) {
        free(i->parts[k].type);
        free(i->parts[k].subtype);
        free(i->parts[k].charset);
    }
    free(i->parts);
    free(i->envelope);
    free(i->bodystructure);
    free(i->body);
    free(i->header);
    free(i->subject);
    free(i->from);
    free(i->to);
    free(i->cc);
    free(i->bcc);
    free(i->message_id);
    free(i);
}
