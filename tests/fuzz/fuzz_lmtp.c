/* SPDX-License-Identifier: MIT */
/* libFuzzer target: LMTP's command lines and DATA stream. The first byte
 * picks the mode. Commands: every line is parsed; a refusal must carry a
 * reply code and an enhanced code of the same class, and a parsed MAIL or
 * RCPT path written back out (lmtp_path_text) must parse to the same path.
 * DATA: the input fed in pieces (sizes from the first byte) must give what
 * it gives fed whole, and every line of the output ends in CRLF. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../modules/lmtp/lmtp-syntax.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_lmtp: %s\n", what);
        abort();
    }
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void one_command(const char *line, size_t len)
{
    struct lmtp_command cmd;
    struct lmtp_refusal ref = {0};
    if (lmtp_command_parse(line, len, &cmd, &ref) < 0) {
        check(ref.code >= 400 && ref.code < 600, "refusal code");
        check(ref.enhanced != NULL && ref.enhanced[0] == '0' + ref.code / 100,
              "enhanced code class");
        lmtp_command_clear(&cmd);
        return;
    }
    if (cmd.verb == LMTP_VERB_MAIL || cmd.verb == LMTP_VERB_RCPT) {
        char *t = lmtp_path_text(&cmd.path);
        char *again = ph_strdup_printf(
            "%s%s%s", cmd.verb == LMTP_VERB_MAIL ? "MAIL FROM:" : "RCPT TO:",
            t, cmd.smtputf8 ? " SMTPUTF8" : "");
        struct lmtp_command c2;
        struct lmtp_refusal r2;
        check(lmtp_command_parse(again, strlen(again), &c2, &r2) == 0 ||
                  strlen(again) > LMTP_MAX_LINE - 2,
              "written path parses");
        if (strlen(again) <= LMTP_MAX_LINE - 2) {
            check(same(c2.path.local, cmd.path.local) &&
                      same(c2.path.domain, cmd.path.domain) &&
                      c2.path.null == cmd.path.null,
                  "written path is the same path");
        }
        lmtp_command_clear(&c2);
        free(again);
        free(t);
    }
    lmtp_command_clear(&cmd);
}

static void data_stream(const uint8_t *data, size_t size, size_t step)
{
    struct lmtp_data whole = {0}, parts = {0};
    struct ph_buf a = {0}, b = {0};
    size_t used_whole = lmtp_data_feed(&whole, (const char *)data, size, &a);
    size_t used = 0;
    while (used < size && !parts.done) {
        size_t n = size - used < step ? size - used : step;
        used += lmtp_data_feed(&parts, (const char *)data + used, n, &b);
    }
    check(used == used_whole && whole.done == parts.done, "same end");
    check(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0),
          "same output in pieces");
    for (size_t i = 0; i < a.len; i++)
        check(a.data[i] != '\n' || (i > 0 && a.data[i - 1] == '\r'),
              "lines end in CRLF");
    ph_buf_free(&a);
    ph_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    if (mode & 1) {
        data_stream(data, size, (size_t)(mode >> 1) + 1);
        return 0;
    }
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t len = (size_t)(stop - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        one_command(p, len);
        p = nl ? nl + 1 : end;
    }
    return 0;
}
