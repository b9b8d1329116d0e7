/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the IMAP command parser. The first bytes pick small
 * limits and a split seed; the rest is fed three times (in one piece, in
 * random pieces, byte by byte) and the event logs must be identical. The
 * literal decisions (accept, stream, reject, none) depend only on what the
 * parser reports about the literal, so they are the same in every run;
 * commands named IDLE or AUTHENTICATE switch to line mode. Every tree is
 * walked in full, so a bad pointer shows under ASan, and every list goes
 * through the CONDSTORE/QRESYNC parsers (SELECT parameters, FETCH and STORE
 * modifiers, the seq-match walk over a synthetic mailbox). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/imap-condstore.h>
#include <posthorn/imap-parser.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CONFIG_BYTES 4

struct run {
    struct ph_imap_parser *p;
    struct ph_buf log, stream;
    uint64_t stream_left; /* bytes the current streamed literal still owes */
    bool streaming;
};

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_imap_parser: %s\n", what);
        abort();
    }
}

/* The RFC 7162 parsers on one list; the answers go to the log. */
static void modifiers(struct ph_buf *b, const struct ph_imap_value *v)
{
    /* A mailbox of 1000 messages with every third UID. */
    static uint32_t uids[1000];
    if (uids[0] == 0)
        for (size_t i = 0; i < 1000; i++)
            uids[i] = (uint32_t)(3 * (i + 1));
    struct ph_imap_select_params sp;
    struct ph_imap_fetch_modifiers fm;
    struct ph_imap_store_modifiers sm;
    const char *error = NULL;
    int r = ph_imap_select_params_parse(v, 100, &sp, &error);
    check(r == 0 || error != NULL, "select params error without text");
    if (r == 0) {
        uint32_t floor = ph_imap_qresync_match(&sp.qr, uids, 1000);
        check(floor == 0 || (floor % 3 == 0 && floor <= 3000),
              "seq-match beyond the mailbox");
        ph_buf_printf(b, "{q%u %llu %u}", sp.qr.uidvalidity,
                      (unsigned long long)sp.qr.modseq, floor);
    }
    ph_imap_select_params_clear(&sp);
    r = ph_imap_fetch_modifiers_parse(v, &fm, &error);
    check(r < 0 || !fm.vanished || fm.changedsince_set,
          "VANISHED without CHANGEDSINCE");
    if (r == 0)
        ph_buf_printf(b, "{f%llu %d}", (unsigned long long)fm.changedsince,
                      fm.vanished);
    r = ph_imap_store_modifiers_parse(v, &sm, &error);
    check(r < 0 || sm.unchangedsince <= PH_IMAP_MODSEQ_MAX, "modseq range");
    if (r == 0)
        ph_buf_printf(b, "{s%llu}", (unsigned long long)sm.unchangedsince);
}

static void dump_value(struct ph_buf *b, const struct ph_imap_value *v,
                       unsigned depth)
{
    check(depth < 1000, "tree too deep");
    switch (v->type) {
    case PH_IMAP_VALUE_ATOM:
    case PH_IMAP_VALUE_NIL:
        check(v->len > 0 && strlen(v->str) == v->len, "atom length");
        ph_buf_printf(b, "%s%s", v->type == PH_IMAP_VALUE_NIL ? "~" : "",
                      v->str);
        break;
    case PH_IMAP_VALUE_STRING:
    case PH_IMAP_VALUE_LITERAL:
        check(v->str[v->len] == '\0', "string not terminated");
        if (v->type == PH_IMAP_VALUE_LITERAL)
            check(v->literal_size == v->len, "literal size");
        ph_buf_printf(b, "%c%zu:", v->type == PH_IMAP_VALUE_STRING ? 's' : 'l',
                      v->len);
        ph_buf_append(b, v->str, v->len);
        break;
    case PH_IMAP_VALUE_LITERAL_STREAMED:
        ph_buf_printf(b, "S%llu", (unsigned long long)v->literal_size);
        break;
    case PH_IMAP_VALUE_LIST:
        ph_buf_putc(b, '(');
        for (size_t i = 0; i < v->len; i++) {
            ph_buf_putc(b, ' ');
            dump_value(b, &v->list[i], depth + 1);
        }
        ph_buf_putc(b, ')');
        break;
    }
    /* Exercise the getters on every value. */
    const char *s;
    uint64_t n;
    const struct ph_imap_value *items;
    size_t count;
    ph_buf_printf(
        b, "[%d%d%d%d%d%d%d]", ph_imap_value_get_atom(v, &s),
        ph_imap_value_get_astring(v, &s), ph_imap_value_get_string(v, &s),
        ph_imap_value_get_nstring(v, &s), ph_imap_value_get_list_mailbox(v, &s),
        ph_imap_value_get_list(v, &items, &count),
        ph_imap_value_get_number(v, UINT32_MAX, &n));
    if (v->type == PH_IMAP_VALUE_LIST)
        modifiers(b, v);
}

static void sink(void *context, const void *data, size_t len)
{
    struct run *r = context;
    check(r->streaming, "sink called outside a literal");
    if (data == NULL) {
        check(len == 0 && r->stream_left == 0, "early end of stream");
        r->streaming = false;
        ph_buf_puts(&r->stream, "|");
        return;
    }
    check(len > 0 && len <= r->stream_left, "stream chunk size");
    r->stream_left -= len;
    ph_buf_append(&r->stream, data, len);
}

static void on_event(struct run *r, enum ph_imap_parse_event ev)
{
    switch (ev) {
    case PH_IMAP_PARSE_MORE: break;
    case PH_IMAP_PARSE_COMMAND: {
        const struct ph_imap_command *cmd = ph_imap_parser_command(r->p);
        check(cmd->tag != NULL && *cmd->tag != '\0', "empty tag");
        check(cmd->name != NULL && *cmd->name != '\0', "empty name");
        ph_buf_printf(&r->log, "C %s %s", cmd->tag, cmd->name);
        for (size_t i = 0; i < cmd->n_args; i++) {
            ph_buf_putc(&r->log, ' ');
            dump_value(&r->log, &cmd->args[i], 0);
        }
        ph_buf_putc(&r->log, '\n');
        if (strcasecmp(cmd->name, "IDLE") == 0 ||
            strcasecmp(cmd->name, "AUTHENTICATE") == 0)
            ph_imap_parser_line_mode(r->p);
        break;
    }
    case PH_IMAP_PARSE_LITERAL: {
        const struct ph_imap_literal *lit = ph_imap_parser_literal(r->p);
        ph_buf_printf(&r->log, "L %s %s %llu %d %d %zu %u", lit->tag, lit->name,
                      (unsigned long long)lit->size, lit->sync, lit->literal8,
                      lit->arg_index, lit->depth);
        /* The arguments before it, as APPEND checks them. */
        size_t nargs;
        const struct ph_imap_value *args =
            ph_imap_parser_literal_args(r->p, &nargs);
        check(nargs == lit->arg_index, "literal args count");
        for (size_t i = 0; i < nargs; i++) {
            ph_buf_putc(&r->log, ' ');
            dump_value(&r->log, &args[i], 0);
        }
        ph_buf_putc(&r->log, '\n');
        unsigned h = (unsigned)(lit->size * 7 + lit->arg_index * 3 +
                                lit->depth + lit->sync) %
                     4;
        const char *error;
        switch (h) {
        case 0:
            if (ph_imap_parser_literal_accept(r->p, &error) < 0) {
                ph_buf_printf(&r->log, "N %s\n", error);
                ph_imap_parser_literal_reject(r->p);
            }
            break;
        case 1:
            r->streaming = true;
            r->stream_left = lit->size;
            ph_imap_parser_literal_stream(r->p, sink, r);
            break;
        case 2:
            ph_buf_puts(&r->log, "R\n");
            ph_imap_parser_literal_reject(r->p);
            break;
        default: break; /* no decision */
        }
        break;
    }
    case PH_IMAP_PARSE_LINE: {
        size_t len;
        const char *line = ph_imap_parser_line(r->p, &len);
        check(line[len] == '\0', "line not terminated");
        ph_buf_printf(&r->log, "I %zu:", len);
        ph_buf_append(&r->log, line, len);
        ph_buf_putc(&r->log, '\n');
        break;
    }
    case PH_IMAP_PARSE_ERROR: {
        const struct ph_imap_parse_error *e = ph_imap_parser_error(r->p);
        check(e->text != NULL && *e->text != '\0', "error without text");
        ph_buf_printf(&r->log, "E %s %s %d\n", e->tag ? e->tag : "*", e->text,
                      e->fatal);
        break;
    }
    }
}

/* split: 0 one piece, 1 byte by byte, else a seed for random pieces. */
static void run(const struct ph_imap_parser_limits *limits, const uint8_t *data,
                size_t size, unsigned split, struct ph_buf *log_r,
                struct ph_buf *stream_r)
{
    struct run r = {0};
    r.p = ph_imap_parser_new(limits);
    size_t pos = 0;
    unsigned seed = split;
    while (pos < size) {
        size_t piece = size - pos;
        if (split == 1) {
            piece = 1;
        } else if (split > 1) {
            seed = seed * 1103515245u + 12345u;
            piece = 1 + (seed >> 16) % 64;
        }
        if (piece > size - pos)
            piece = size - pos;
        const uint8_t *chunk = data + pos;
        size_t left = piece;
        for (;;) {
            size_t used = SIZE_MAX;
            enum ph_imap_parse_event ev =
                ph_imap_parser_feed(r.p, chunk, left, &used);
            check(used <= left, "used more than given");
            check(ev != PH_IMAP_PARSE_MORE || used == left,
                  "MORE with bytes left");
            chunk += used;
            left -= used;
            on_event(&r, ev);
            if (ev == PH_IMAP_PARSE_MORE || left == 0)
                break;
        }
        pos += piece;
    }
    ph_imap_parser_reset(r.p);
    check(ph_imap_parser_at_command_start(r.p), "reset is not a start");
    ph_imap_parser_free(&r.p);
    *log_r = r.log;
    *stream_r = r.stream;
}

static bool buf_equal(const struct ph_buf *a, const struct ph_buf *b)
{
    return a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < CONFIG_BYTES || size > 64 * 1024)
        return 0;
    struct ph_imap_parser_limits limits;
    ph_imap_parser_limits_default(&limits);
    /* Small limits, so that the fuzzer reaches them. */
    limits.max_line_length = 16 + (size_t)data[0] * data[0];
    limits.max_literal_size = (data[1] & 0x80) ? data[1] * 64u : data[1];
    limits.max_command_size = 64 + (size_t)data[2] * data[2];
    limits.max_depth = 1 + (data[3] & 0x0f);
    limits.max_args = 1 + (data[3] >> 4) * 8;
    limits.max_tag_length = 1 + (data[0] & 0x1f);
    limits.allow_literal8 = data[1] & 1;
    unsigned seed = 2u + data[2];
    data += CONFIG_BYTES;
    size -= CONFIG_BYTES;

    struct ph_buf log1, stream1, log2, stream2;
    run(&limits, data, size, 0, &log1, &stream1);
    run(&limits, data, size, seed, &log2, &stream2);
    check(buf_equal(&log1, &log2), "random pieces differ");
    check(buf_equal(&stream1, &stream2), "streams differ");
    ph_buf_free(&log2);
    ph_buf_free(&stream2);
    if (size <= 4096) {
        run(&limits, data, size, 1, &log2, &stream2);
        check(buf_equal(&log1, &log2), "byte by byte differs");
        check(buf_equal(&stream1, &stream2), "streams differ");
        ph_buf_free(&log2);
        ph_buf_free(&stream2);
    }
    ph_buf_free(&log1);
    ph_buf_free(&stream1);
    return 0;
}
