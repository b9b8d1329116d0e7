/* SPDX-License-Identifier: MIT */
/* libFuzzer target: SEARCH programs. The input (after 2 bytes that pick
 * the mailbox size) follows "a SEARCH " on a command line. Every program
 * that parses is written back, parsed again and written again: the two
 * writings must be equal, and both programs must give the same answer on a
 * few synthetic messages, one of whose callbacks fail. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/imap-search.h>
#include <posthorn/storage.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_search: %s\n", what);
        abort();
    }
}

/* Parses one command line; literals are buffered by the parser. Returns
 * the parser holding the command, or NULL. */
static struct ph_imap_parser *parse_command(const char *line, size_t len,
                                            bool roomy,
                                            const struct ph_imap_command **cmd)
{
    struct ph_imap_parser_limits limits;
    ph_imap_parser_limits_default(&limits);
    if (roomy) {
        /* A written program may be longer than the one read (NEW is
         * written as (RECENT NOT SEEN)). */
        limits.max_line_length = limits.max_command_size = 16 << 20;
        limits.max_literal_size = 1 << 20;
        limits.max_args = 1 << 20;
    }
    struct ph_imap_parser *p = ph_imap_parser_new(&limits);
    size_t off = 0, used;
    for (;;) {
        enum ph_imap_parse_event ev =
            ph_imap_parser_feed(p, line + off, len - off, &used);
        off += used;
        if (ev == PH_IMAP_PARSE_COMMAND) {
            *cmd = ph_imap_parser_command(p);
            return p;
        }
        if (ev != PH_IMAP_PARSE_LITERAL || off == len)
            break;
    }
    ph_imap_parser_free(&p);
    return NULL;
}

static const char *const msg_values[] = {"Joe <joe@example.org>",
                                         ("Stra\xc3\x9f"
                                          "e"),
                                         "", "re: x"};

static int header_cb(void *context, const char *name,
                     const char *const **values_r, size_t *n_r)
{
    const int *which = context;
    if (*which == 2)
        return -1;
    *values_r = msg_values;
    *n_r = (strlen(name) + (size_t)*which) % 5;
    return 0;
}

static int text_cb(void *context, bool whole, const char *key, size_t len,
                   bool *match_r)
{
    const int *which = context;
    if (*which == 2)
        return -1;
    *match_r = (len + whole + (size_t)*which) % 2 == 0 && key != NULL;
    return 0;
}

static void evaluate(const struct ph_imap_search *a,
                     const struct ph_imap_search *b)
{
    static char *const keywords[] = {"$Junk", "work"};
    for (int which = 0; which < 3; which++) {
        struct ph_imap_search_msg m = {
            .seq = (uint32_t)which * 3 + 1,
            .uid = (uint32_t)which * 17 + 5,
            .flags = which == 0   ? PH_FLAG_SEEN | PH_FLAG_DRAFT
                     : which == 1 ? PH_FLAG_DELETED
                                  : 0,
            .recent = which == 1,
            .keywords = keywords,
            .n_keywords = (size_t)which,
            .size = (uint64_t)which * 1000,
            .internal_date = (time_t)which * 86400 * 400,
            .internal_tz = which * 60 - 60,
            .has_date = which != 1,
            .date = (time_t)which * 86400 * 7000,
            .modseq = (uint64_t)which * 5,
            .header = header_cb,
            .text_contains = text_cb,
            .context = &which,
        };
        int ra = ph_imap_search_match(a, &m);
        int rb = ph_imap_search_match(b, &m);
        check(ra >= -1 && ra <= 1, "match result");
        check(ra == rb, "rewritten program answers differently");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 16 * 1024)
        return 0;
    struct ph_imap_search_params params = {
        .max_seq = data[0] & 0x80 ? 0 : data[0],
        .max_uid = data[1] & 0x80 ? 0 : (uint32_t)data[1] * 1000,
        .max_depth = 200,
    };
    struct ph_buf line = {0};
    ph_buf_puts(&line, "a SEARCH ");
    ph_buf_append(&line, data + 2, size - 2);
    ph_buf_puts(&line, "\r\n");
    const struct ph_imap_command *cmd;
    struct ph_imap_parser *p = parse_command(line.data, line.len, false, &cmd);
    ph_buf_free(&line);
    if (p == NULL)
        return 0;
    struct ph_imap_search *prog = NULL;
    const char *error = NULL;
    int r =
        ph_imap_search_parse(cmd->args, cmd->n_args, &params, &prog, &error);
    if (r != PH_IMAP_SEARCH_OK) {
        check(r == PH_IMAP_SEARCH_BAD || r == PH_IMAP_SEARCH_BADCHARSET,
              "result code");
        check(prog == NULL && error != NULL && *error != '\0', "error");
        ph_imap_parser_free(&p);
        return 0;
    }
    (void)ph_imap_search_cost(prog);

    struct ph_buf w1 = {0}, w2 = {0};
    ph_imap_search_write(&w1, prog);
    ph_buf_puts(&line, "b SEARCH ");
    ph_buf_append(&line, w1.data, w1.len);
    ph_buf_puts(&line, "\r\n");
    const struct ph_imap_command *cmd2;
    struct ph_imap_parser *p2 = parse_command(line.data, line.len, true, &cmd2);
    check(p2 != NULL, "written program is not a command");
    struct ph_imap_search *prog2 = NULL;
    r = ph_imap_search_parse(cmd2->args, cmd2->n_args, &params, &prog2, &error);
    if (r != PH_IMAP_SEARCH_OK)
        fprintf(stderr, "%s: %s\n", w1.data, error);
    check(r == PH_IMAP_SEARCH_OK, "written program does not parse");
    ph_imap_search_write(&w2, prog2);
    check(w1.len == w2.len && memcmp(w1.data, w2.data, w1.len) == 0,
          "writing is not a fixed point");
    check(prog->has_modseq == prog2->has_modseq, "has_modseq");
    evaluate(prog, prog2);

    ph_imap_search_free(&prog);
    ph_imap_search_free(&prog2);
    ph_imap_parser_free(&p);
    ph_imap_parser_free(&p2);
    ph_buf_free(&line);
    ph_buf_free(&w1);
    ph_buf_free(&w2);
    return 0;
}
