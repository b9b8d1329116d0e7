/* SPDX-License-Identifier: MIT */
/* Unit tests of BASE64: the RFC 4648 vectors both ways, the strict decoder's
 * refusals, the lenient streaming decoder and IMAP's modified alphabet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <posthorn/base64.h>

/* RFC 4648 section 10. */
static const struct {
    const char *plain, *encoded;
} vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_encode_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        struct ph_buf out = {0};
        ph_base64_encode(vectors[i].plain, strlen(vectors[i].plain), &out);
        assert_int_equal(out.len, strlen(vectors[i].encoded));
        assert_int_equal(out.len,
                         PH_BASE64_ENCODED_LEN(strlen(vectors[i].plain)));
        if (out.len > 0)
            assert_memory_equal(out.data, vectors[i].encoded, out.len);
        ph_buf_free(&out);
    }
}

static void test_decode_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const char *enc = vectors[i].encoded;
        unsigned char out[16];
        size_t out_len = PH_BASE64_DECODED_MAX(strlen(enc));
        const char *error = NULL;
        assert_int_equal(
            ph_base64_decode(enc, strlen(enc), out, &out_len, &error), 0);
        assert_int_equal(out_len, strlen(vectors[i].plain));
        assert_memory_equal(out, vectors[i].plain, out_len);
    }
}

static void test_decode_all_byte_values_round_trip(void **state)
{
    (void)state;
    unsigned char in[256], out[256];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(255 - i);
    for (size_t n = 0; n <= sizeof(in); n++) {
        struct ph_buf enc = {0};
        ph_base64_encode(in, n, &enc);
        size_t out_len = sizeof(out);
        const char *error = NULL;
        assert_int_equal(ph_base64_decode(enc.data ? enc.data : "", enc.len,
                                          out, &out_len, &error),
                         0);
        assert_int_equal(out_len, n);
        assert_memory_equal(out, in, n);
        ph_buf_free(&enc);
    }
}

static int decode_err(const char *in, const char **error_r)
{
    unsigned char out[64];
    size_t out_len = sizeof(out);
    return ph_base64_decode(in, strlen(in), out, &out_len, error_r);
}

static void test_decode_rejects_bad_input(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg",       /* no padding */
        "Zg=",      /* short padding */
        "Zm9vY",    /* not a multiple of 4 */
        "Zm9v\r\n", /* whitespace */
        "Zm 9",     /* whitespace */
        "Zm9*",     /* outside the alphabet */
        "Zm9,",     /* the IMAP alphabet is not the standard one */
        "Zg==Zg==", /* padding in the middle */
        "Z===",     /* too much padding */
        "====",     /* nothing but padding */
        "Zm=v",     /* '=' inside a quantum */
        "Zh==",     /* non-zero padding bits */
        "Zm9=",     /* non-zero padding bits */
        "Zm\x80v",  /* 8-bit byte */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *error = NULL;
        if (decode_err(bad[i], &error) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(error);
    }
}

static void test_decode_error_texts(void **state)
{
    (void)state;
    const char *error = NULL;
    assert_int_equal(decode_err("Zg=", &error), -1);
    assert_string_equal(error, "Invalid BASE64 length");
    assert_int_equal(decode_err("Zm9*", &error), -1);
    assert_string_equal(error, "Invalid character in BASE64");
    assert_int_equal(decode_err("Zm=v", &error), -1);
    assert_string_equal(error, "Invalid BASE64 padding");
    assert_int_equal(decode_err("Zh==", &error), -1);
    assert_string_equal(error, "Invalid BASE64 padding");
}

static void test_decode_checks_output_size(void **state)
{
    (void)state;
    unsigned char out[6];
    size_t out_len = 5;
    const char *error = NULL;
    assert_int_equal(ph_base64_decode("Zm9vYmFy", 8, out, &out_len, &error),
                     -1);
    assert_string_equal(error, "BASE64 data too long");
    out_len = 5;
    assert_int_equal(ph_base64_decode("Zm9vYmE=", 8, out, &out_len, &error), 0);
    assert_int_equal(out_len, 5);
    assert_memory_equal(out, "fooba", 5);
}

/* Feeds in one byte at a time and all at once; both give expect. */
static void expect_stream(const char *in, const char *expect, size_t len)
{
    struct ph_buf out = {0};
    struct ph_base64_decoder dec = {0};
    ph_base64_decoder_feed(&dec, in, strlen(in), &out);
    assert_int_equal(out.len, len);
    if (len > 0)
        assert_memory_equal(out.data, expect, len);
    ph_buf_reset(&out);
    memset(&dec, 0, sizeof(dec));
    for (size_t i = 0; i < strlen(in); i++)
        ph_base64_decoder_feed(&dec, in + i, 1, &out);
    assert_int_equal(out.len, len);
    if (len > 0)
        assert_memory_equal(out.data, expect, len);
    ph_buf_free(&out);
}

static void test_stream_skips_line_ends_and_garbage(void **state)
{
    (void)state;
    expect_stream("Zm9v\r\nYmFy\r\n", "foobar", 6);
    expect_stream("Zm 9v*Ym\tFy!", "foobar", 6);
    expect_stream("", "", 0);
}

static void test_stream_padding_ends_quantum(void **state)
{
    (void)state;
    /* Concatenated encodings, as some mailers write them. */
    expect_stream("Zg==Zm8=Zm9v", "ffofoo", 6);
    /* A cut quantum gives what its whole bytes hold. */
    expect_stream("Zm9vYmE", "fooba", 5);
    expect_stream("Z", "", 0);
}

static void test_stream_long_input(void **state)
{
    (void)state;
    unsigned char in[10000];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 7);
    struct ph_buf enc = {0}, out = {0};
    ph_base64_encode(in, sizeof(in), &enc);
    struct ph_base64_decoder dec = {0};
    ph_base64_decoder_feed(&dec, enc.data, enc.len, &out);
    assert_int_equal(out.len, sizeof(in));
    assert_memory_equal(out.data, in, sizeof(in));
    ph_buf_free(&enc);
    ph_buf_free(&out);
}

static void test_imap_alphabet(void **state)
{
    (void)state;
    const char *std = ph_base64_chars(PH_BASE64_STANDARD);
    const char *imap = ph_base64_chars(PH_BASE64_IMAP);
    assert_int_equal(strlen(std), 64);
    assert_int_equal(strlen(imap), 64);
    for (int v = 0; v < 64; v++) {
        assert_int_equal(
            ph_base64_value(PH_BASE64_STANDARD, (unsigned char)std[v]), v);
        assert_int_equal(
            ph_base64_value(PH_BASE64_IMAP, (unsigned char)imap[v]), v);
    }
    assert_int_equal(ph_base64_value(PH_BASE64_STANDARD, '/'), 63);
    assert_int_equal(ph_base64_value(PH_BASE64_STANDARD, ','), -1);
    assert_int_equal(ph_base64_value(PH_BASE64_IMAP, ','), 63);
    assert_int_equal(ph_base64_value(PH_BASE64_IMAP, '/'), -1);
    assert_int_equal(ph_base64_value(PH_BASE64_IMAP, '='), -1);
    assert_int_equal(ph_base64_value(PH_BASE64_STANDARD, '='), -1);
    for (int c = 128; c < 256; c++)
        assert_int_equal(ph_base64_value(PH_BASE64_IMAP, (unsigned char)c), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_rfc4648_vectors),
        cmocka_unit_test(test_decode_rfc4648_vectors),
        cmocka_unit_test(test_decode_all_byte_values_round_trip),
        cmocka_unit_test(test_decode_rejects_bad_input),
        cmocka_unit_test(test_decode_error_texts),
        cmocka_unit_test(test_decode_checks_output_size),
        cmocka_unit_test(test_stream_skips_line_ends_and_garbage),
        cmocka_unit_test(test_stream_padding_ends_quantum),
        cmocka_unit_test(test_stream_long_input),
        cmocka_unit_test(test_imap_alphabet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
