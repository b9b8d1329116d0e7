/* SPDX-License-Identifier: MIT */
/* libFuzzer target: modified UTF-7 <-> UTF-8. Whatever decodes must encode
 * back to the same bytes (only canonical forms are accepted), and whatever
 * encodes must decode back to the same UTF-8. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/imap-util.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_mutf7: %s\n", what);
        abort();
    }
}

static bool same(const struct ph_buf *b, const uint8_t *data, size_t size)
{
    return b->len == size && (size == 0 || memcmp(b->data, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct ph_buf a = {0}, b = {0};
    const char *error = NULL;

    /* The input as modified UTF-7. */
    if (ph_imap_mutf7_to_utf8(in, size, &a, &error) == 0) {
        check(ph_imap_utf8_to_mutf7(a.data, a.len, &b, &error) == 0,
              "decoded name does not encode");
        check(same(&b, data, size), "decode/encode is not the identity");
    } else {
        check(error != NULL && *error != '\0', "no error text");
    }
    ph_buf_reset(&a);
    ph_buf_reset(&b);

    /* The input as UTF-8. */
    error = NULL;
    if (ph_imap_utf8_to_mutf7(in, size, &a, &error) == 0) {
        for (size_t i = 0; i < a.len; i++)
            check(a.data[i] >= 0x20 && a.data[i] <= 0x7e,
                  "encoding is not printable ASCII");
        check(ph_imap_mutf7_to_utf8(a.data, a.len, &b, &error) == 0,
              "encoded name does not decode");
        check(same(&b, data, size), "encode/decode is not the identity");
    } else {
        check(error != NULL && *error != '\0', "no error text");
    }
    ph_buf_free(&a);
    ph_buf_free(&b);
    return 0;
}
