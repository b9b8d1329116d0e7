/* SPDX-License-Identifier: MIT */
/* Unit tests of username normalization (RFC 8265 profiles, email forms,
 * casefold, noop). Every accepted vector is also normalized a second time
 * to prove the output is a fixed point. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <posthorn/normalize.h>

static const char E_UTF8[] = "username is not valid UTF-8";
static const char E_LONG[] = "username is too long";
static const char E_EMPTY[] = "username is empty";
static const char E_DISALLOWED[] = "username contains a disallowed character";
static const char E_UNASSIGNED[] = "username contains an unassigned code point";
static const char E_CONTEXT[] =
    "username contains a joiner or special character out of its context";
static const char E_BIDI[] = "username violates the bidi rule";
static const char E_NOT_EMAIL[] = "username is not an email address";
static const char E_LOCAL_EMPTY[] = "username has an empty local part";
static const char E_DOMAIN[] = "username has an invalid domain";

#define EXPECT_OK(fn, in, want) expect_ok(fn, in, want, __FILE__, __LINE__)
#define EXPECT_ERROR(fn, in, want)                                             \
    expect_error(fn, in, want, __FILE__, __LINE__)

static void expect_ok(ph_normalize_fn *fn, const char *in, const char *want,
                      const char *file, int line)
{
    char *out = NULL, *again = NULL;
    const char *error = NULL;
    if (fn(in, &out, &error) != 0) {
        print_error("\"%s\": expected \"%s\", got error \"%s\"\n", in, want,
                    error);
        _fail(file, line);
    }
    if (strcmp(out, want) != 0) {
        print_error("\"%s\": expected \"%s\", got \"%s\"\n", in, want, out);
        free(out);
        _fail(file, line);
    }
    if (fn(out, &again, &error) != 0 || strcmp(again, out) != 0) {
        print_error("\"%s\": not idempotent on \"%s\"\n", in, out);
        free(out);
        free(again);
        _fail(file, line);
    }
    free(out);
    free(again);
}

static void expect_error(ph_normalize_fn *fn, const char *in, const char *want,
                         const char *file, int line)
{
    char *out = NULL;
    const char *error = NULL;
    if (fn(in, &out, &error) != -1) {
        print_error("\"%s\": expected error \"%s\", got \"%s\"\n", in, want,
                    out);
        free(out);
        _fail(file, line);
    }
    if (out != NULL || error == NULL || strcmp(error, want) != 0) {
        print_error("\"%s\": expected error \"%s\", got \"%s\"\n", in, want,
                    error ? error : "(null)");
        _fail(file, line);
    }
}

/* RFC 8265 section 3.6, table 1: legal userparts. */
static void test_rfc8265_table1_casemapped(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_casefold;
    EXPECT_OK(fn, "juliet@example.com", "juliet@example.com");
    EXPECT_OK(fn, "fussball", "fussball");
    EXPECT_OK(fn, "fu\u00dfball", "fu\u00dfball");
    EXPECT_OK(fn, "\u03c0", "\u03c0");
    EXPECT_OK(fn, "\u03a3", "\u03c3");
    EXPECT_OK(fn, "\u03c3", "\u03c3");
    EXPECT_OK(fn, "\u03c2", "\u03c2");
}

static void test_rfc8265_table1_casepreserved(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis;
    EXPECT_OK(fn, "juliet@example.com", "juliet@example.com");
    EXPECT_OK(fn, "fussball", "fussball");
    EXPECT_OK(fn, "fu\u00dfball", "fu\u00dfball");
    EXPECT_OK(fn, "\u03c0", "\u03c0");
    EXPECT_OK(fn, "\u03a3", "\u03a3");
    EXPECT_OK(fn, "\u03c3", "\u03c3");
    EXPECT_OK(fn, "\u03c2", "\u03c2");
}

/* RFC 8265 section 3.6, table 2: strings that are not userparts. A
 * username here is one userpart, so "foo bar" fails too. */
static void test_rfc8265_table2_rejected(void **state)
{
    (void)state;
    ph_normalize_fn *fns[] = {ph_normalize_precis_casefold,
                              ph_normalize_precis};
    for (size_t i = 0; i < 2; i++) {
        EXPECT_ERROR(fns[i], "foo bar", E_DISALLOWED);
        EXPECT_ERROR(fns[i], "", E_EMPTY);
        EXPECT_ERROR(fns[i], "henry\u2163", E_DISALLOWED);
        EXPECT_ERROR(fns[i], "\u221e", E_DISALLOWED);
    }
}

static void test_casemapped_lowercases(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_casefold;
    EXPECT_OK(fn, "Juliet", "juliet");
    EXPECT_OK(fn, "JULIET", "juliet");
    EXPECT_OK(fn, "\u1e9e", "\u00df"); /* capital sharp s: no "ss" */
    EXPECT_OK(fn, "\u0130", "i\u0307");
    EXPECT_OK(fn, "\u00c5ngstr\u00f6m", "\u00e5ngstr\u00f6m");
}

/* toLowerCase keeps the final-sigma distinction RFC 8265 3.6 relies on. */
static void test_casemapped_greek_sigma(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_casefold;
    EXPECT_OK(fn, "\u03a3\u0391\u038a\u039d\u03a4",
              "\u03c3\u03b1\u03af\u03bd\u03c4");
    EXPECT_OK(fn, "\u038c\u03a3\u039f\u03a3", "\u03cc\u03c3\u03bf\u03c2");
    EXPECT_OK(ph_normalize_precis, "\u03a3\u0391\u038a\u039d\u03a4",
              "\u03a3\u0391\u038a\u039d\u03a4");
}

static void test_width_mapping(void **state)
{
    (void)state;
    EXPECT_OK(ph_normalize_precis_casefold,
              "\uff2a\uff35\uff2c\uff29\uff25\uff34", "juliet");
    EXPECT_OK(ph_normalize_precis, "\uff2a\uff35\uff2c\uff29\uff25\uff34",
              "JULIET");
    EXPECT_OK(ph_normalize_precis, "user\uff10\uff11", "user01");
    /* halfwidth KA + halfwidth voiced mark: mapped, then NFC composes */
    EXPECT_OK(ph_normalize_precis, "\uff76\uff9e", "\u30ac");
    /* IDEOGRAPHIC SPACE is <wide> SPACE, still a space */
    EXPECT_ERROR(ph_normalize_precis, "a\u3000b", E_DISALLOWED);
}

static void test_nfc(void **state)
{
    (void)state;
    EXPECT_OK(ph_normalize_precis, "e\u0301", "\u00e9");
    EXPECT_OK(ph_normalize_precis, "E\u0301", "\u00c9");
    EXPECT_OK(ph_normalize_precis_casefold, "E\u0301", "\u00e9");
    /* conjoining jamo are refused before NFC could compose them */
    EXPECT_ERROR(ph_normalize_precis, "\u1100\u1161", E_DISALLOWED);
    /* canonical order of marks */
    EXPECT_OK(ph_normalize_precis, "a\u0301\u0323", "\u1ea1\u0301");
}

static void test_hascompat_disallowed(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_casefold;
    EXPECT_ERROR(fn, "\ufb01le", E_DISALLOWED); /* fi ligature */
    EXPECT_ERROR(fn, "\u212b", E_DISALLOWED);   /* ANGSTROM SIGN */
    EXPECT_ERROR(fn, "x\u00b2", E_DISALLOWED);  /* superscript two */
    EXPECT_ERROR(fn, "\u01c5", E_DISALLOWED);   /* titlecase Dz */
    EXPECT_ERROR(fn, "\u0958", E_DISALLOWED);   /* composition exclusion */
    EXPECT_ERROR(fn, "\u0149", E_DISALLOWED);
}

static void test_disallowed_spaces(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_casefold;
    EXPECT_ERROR(fn, "a b", E_DISALLOWED);
    EXPECT_ERROR(fn, " a", E_DISALLOWED);
    EXPECT_ERROR(fn, "a\u00a0b", E_DISALLOWED);
    EXPECT_ERROR(fn, "a\u2003b", E_DISALLOWED);
    EXPECT_ERROR(fn, "a\u2028b", E_DISALLOWED);
}

static void test_disallowed_symbols_and_punctuation(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_casefold;
    EXPECT_ERROR(fn, "a\u20ac", E_DISALLOWED); /* euro sign */
    EXPECT_ERROR(fn, "a\u2603", E_DISALLOWED); /* snowman */
    EXPECT_ERROR(fn, "\U0001f600", E_DISALLOWED);
    EXPECT_ERROR(fn, "a\u00a1", E_DISALLOWED);
    EXPECT_ERROR(fn, "a\u00abb", E_DISALLOWED);
    /* printable ASCII is grandfathered in (ASCII7) */
    EXPECT_OK(fn, "A+b$c~!{}", "a+b$c~!{}");
}

static void test_disallowed_controls_and_others(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_casefold;
    EXPECT_ERROR(fn, "a\tb", E_DISALLOWED);
    EXPECT_ERROR(fn, "a\x7f", E_DISALLOWED);
    EXPECT_ERROR(fn, "a\xc2\x85", E_DISALLOWED);    /* NEL */
    EXPECT_ERROR(fn, "a\u200b", E_DISALLOWED);      /* ZERO WIDTH SPACE */
    EXPECT_ERROR(fn, "a\u00ad", E_DISALLOWED);      /* SOFT HYPHEN */
    EXPECT_ERROR(fn, "\ue000", E_DISALLOWED);       /* private use */
    EXPECT_ERROR(fn, "\ufdd0", E_DISALLOWED);       /* noncharacter */
    EXPECT_ERROR(fn, "\u1100", E_DISALLOWED);       /* old Hangul jamo */
    EXPECT_ERROR(fn, "\u0628\u0640", E_DISALLOWED); /* TATWEEL */
    EXPECT_ERROR(fn, "\U000e0001", E_DISALLOWED);   /* LANGUAGE TAG */
    EXPECT_ERROR(fn, "\u0378", E_UNASSIGNED);
    EXPECT_ERROR(fn, "\xf3\xb0\x80\x80", E_DISALLOWED); /* U+F0000 PUA */
}

static void test_contextual_rules(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis;
    EXPECT_OK(fn, "col\u00b7lega", "col\u00b7lega");
    EXPECT_ERROR(fn, "a\u00b7b", E_CONTEXT);
    EXPECT_ERROR(fn, "\u00b7l", E_CONTEXT);
    /* ZWNJ / ZWJ after a virama */
    EXPECT_OK(fn, "\u0915\u094d\u200c\u0937", "\u0915\u094d\u200c\u0937");
    EXPECT_OK(fn, "\u0915\u094d\u200d\u0937", "\u0915\u094d\u200d\u0937");
    EXPECT_ERROR(fn, "a\u200cb", E_CONTEXT);
    EXPECT_ERROR(fn, "a\u200db", E_CONTEXT);
    EXPECT_ERROR(fn, "\u200c", E_CONTEXT);
    /* ZWNJ between dual-joining Arabic letters */
    EXPECT_OK(fn, "\u0628\u200c\u0628", "\u0628\u200c\u0628");
    EXPECT_ERROR(fn, "\u0627\u200c\u0628", E_CONTEXT); /* ALEF joins right */
    EXPECT_OK(fn, "\u0375\u03b1", "\u0375\u03b1");
    EXPECT_ERROR(fn, "\u0375a", E_CONTEXT);
    EXPECT_OK(fn, "\u05d0\u05f3", "\u05d0\u05f3");
    EXPECT_ERROR(fn, "a\u05f4", E_CONTEXT);
    EXPECT_OK(fn, "\u30ab\u30fb\u30ab", "\u30ab\u30fb\u30ab");
    EXPECT_ERROR(fn, "a\u30fbb", E_CONTEXT);
    EXPECT_OK(fn, "\u0628\u0661", "\u0628\u0661");
    EXPECT_OK(fn, "\u0628\u06f1", "\u0628\u06f1");
    EXPECT_ERROR(fn, "\u0628\u0661\u06f1", E_CONTEXT);
}

static void test_bidi_rule(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_casefold;
    EXPECT_OK(fn, "\u05d0\u05d1", "\u05d0\u05d1");
    EXPECT_OK(fn, "\u05d0\u05d11", "\u05d0\u05d11");
    EXPECT_OK(fn, "\u05d0\u05d1\u05b0", "\u05d0\u05d1\u05b0");
    EXPECT_ERROR(fn, "\u05d0a", E_BIDI);       /* rule 2: L in RTL */
    EXPECT_ERROR(fn, "a\u05d0", E_BIDI);       /* rule 5: R in LTR */
    EXPECT_ERROR(fn, "1\u05d0", E_BIDI);       /* rule 1: starts EN */
    EXPECT_ERROR(fn, "\u0661\u0662", E_BIDI);  /* rule 1: starts AN */
    EXPECT_ERROR(fn, "\u05d0-", E_BIDI);       /* rule 3: ends ES */
    EXPECT_ERROR(fn, "\u0628\u06611", E_BIDI); /* rule 4: AN and EN */
    /* no right-to-left code point: the rule does not apply */
    EXPECT_OK(fn, "abc-", "abc-");
    EXPECT_OK(fn, "-1", "-1");
}

static void test_precis_casefold_email(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_casefold_email;
    EXPECT_OK(fn, "User@EXAMPLE.org", "user@example.org");
    EXPECT_OK(fn, "x@xn--bcher-kva.example", "x@b\u00fccher.example");
    EXPECT_OK(fn, "x@XN--BCHER-KVA.example", "x@b\u00fccher.example");
    EXPECT_OK(fn, "\u00dcn\u00efcode@B\u00dcCHER.example",
              "\u00fcn\u00efcode@b\u00fccher.example");
    EXPECT_OK(fn, "U\u0308ser@bu\u0308cher.example",
              "\u00fcser@b\u00fccher.example");
    EXPECT_OK(fn, "\uff2a\uff35\uff2c\uff29\uff25\uff34@\uff25\uff38.org",
              "juliet@ex.org");
    EXPECT_OK(fn, "a@b@Example.ORG", "a@b@example.org");
    /* FULLWIDTH COMMERCIAL AT is width-mapped to '@', so it splits too */
    EXPECT_OK(fn, "Juliet\uff20Example.org", "juliet@example.org");
}

static void test_precis_email(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_precis_email;
    EXPECT_OK(fn, "User@EXAMPLE.org", "User@example.org");
    EXPECT_OK(fn, "x@xn--bcher-kva.example", "x@b\u00fccher.example");
    EXPECT_OK(fn, "\u00dcn\u00efcode@B\u00dcCHER.example",
              "\u00dcn\u00efcode@b\u00fccher.example");
}

static void test_email_errors(void **state)
{
    (void)state;
    ph_normalize_fn *fns[] = {ph_normalize_precis_casefold_email,
                              ph_normalize_precis_email};
    for (size_t i = 0; i < 2; i++) {
        ph_normalize_fn *fn = fns[i];
        EXPECT_ERROR(fn, "user", E_NOT_EMAIL);
        EXPECT_ERROR(fn, "@example.org", E_LOCAL_EMPTY);
        EXPECT_ERROR(fn, "user@", E_DOMAIN);
        EXPECT_ERROR(fn, "user@-bad.example", E_DOMAIN);
        EXPECT_ERROR(fn, "user@a b.example", E_DOMAIN);
        EXPECT_ERROR(fn, "user@ex_ample.org", E_DOMAIN);
        EXPECT_ERROR(fn, "user@example.org.", E_DOMAIN);
        EXPECT_ERROR(fn, "user@a..example", E_DOMAIN);
        EXPECT_ERROR(fn, "x@xn--zz.example", E_DOMAIN);
        EXPECT_ERROR(fn, "user@example.org@", E_DOMAIN);
        EXPECT_ERROR(fn, "us er@example.org", E_DISALLOWED);
        EXPECT_ERROR(fn, "\u05d0a@example.org", E_BIDI);
        EXPECT_ERROR(fn, "", E_EMPTY);
        EXPECT_ERROR(fn, "x@\xff", E_UTF8);
    }
}

static void test_auto_picks_email_for_address(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_auto;
    EXPECT_OK(fn, "User@EXAMPLE.org", "user@example.org");
    EXPECT_OK(fn, "x@xn--bcher-kva.example", "x@b\u00fccher.example");
    EXPECT_OK(fn, "\u00dcn\u00efcode@B\u00dcCHER.example",
              "\u00fcn\u00efcode@b\u00fccher.example");
    EXPECT_OK(fn, "Juliet\uff20xn--bcher-kva", "juliet@b\u00fccher");
    EXPECT_ERROR(fn, "fo o@example.org", E_DISALLOWED);
}

static void test_auto_falls_back_to_precis_casefold(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_auto;
    EXPECT_OK(fn, "Juliet", "juliet");
    /* two '@': the domain is left alone, not turned into U-labels */
    EXPECT_OK(fn, "A@b@xn--bcher-kva.example", "a@b@xn--bcher-kva.example");
    EXPECT_OK(fn, "A\uff20b@xn--bcher-kva.example",
              "a@b@xn--bcher-kva.example");
    EXPECT_OK(fn, "User@bad_domain", "user@bad_domain");
    EXPECT_OK(fn, "@Example.org", "@example.org");
    EXPECT_OK(fn, "X@", "x@");
    EXPECT_ERROR(fn, "foo bar", E_DISALLOWED);
    EXPECT_ERROR(fn, "", E_EMPTY);
}

/* IDNA maps U+1E9E to "ss", making "ss--" (a reserved label) and so the
 * first pass is plain PRECIS; PRECIS maps it to U+00DF, which IDNA then
 * accepts. auto settles on the email form, so a second call agrees. */
static void test_auto_result_is_a_fixed_point(void **state)
{
    (void)state;
    EXPECT_OK(ph_normalize_auto, "\u03a3@\u1e9e--b\u0391\u0345",
              "\u03c3@\u00df--b\u03b1\u03b9");
    EXPECT_OK(ph_normalize_precis_casefold, "\u03a3@\u1e9e--b\u0391\u0345",
              "\u03c3@\u00df--b\u1fb3");
}

static void test_casefold(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_casefold;
    EXPECT_OK(fn, "Stra\u00dfe", "strasse");
    EXPECT_OK(fn, "\u03a3\u0391\u038a\u039d\u03a4",
              "\u03c3\u03b1\u03af\u03bd\u03c4");
    EXPECT_OK(fn, "\u03c2", "\u03c3");
    EXPECT_OK(fn, "\ufb03", "ffi");
    EXPECT_OK(fn, "E\u0301", "\u00e9");
    /* no PRECIS class checks */
    EXPECT_OK(fn, "Foo Bar \u221e", "foo bar \u221e");
    EXPECT_ERROR(fn, "", E_EMPTY);
    EXPECT_ERROR(fn, "\xc3", E_UTF8);
}

static void test_noop(void **state)
{
    (void)state;
    ph_normalize_fn *fn = ph_normalize_noop;
    EXPECT_OK(fn, "Foo Bar", "Foo Bar");
    EXPECT_OK(fn, "e\u0301", "e\u0301");
    EXPECT_ERROR(fn, "", E_EMPTY);
    EXPECT_ERROR(fn, "\xff", E_UTF8);
    EXPECT_ERROR(fn, "\xc0\x80", E_UTF8);         /* overlong NUL */
    EXPECT_ERROR(fn, "\xed\xa0\x80", E_UTF8);     /* surrogate */
    EXPECT_ERROR(fn, "\xf4\x90\x80\x80", E_UTF8); /* above U+10FFFF */
}

static char *repeat(const char *s, size_t times)
{
    size_t len = strlen(s);
    char *out = malloc(len * times + 1);
    assert_non_null(out);
    for (size_t i = 0; i < times; i++)
        memcpy(out + i * len, s, len);
    out[len * times] = '\0';
    return out;
}

static void test_every_method_bounds_and_checks_input(void **state)
{
    (void)state;
    char *max = repeat("a", 1024);
    char *over = repeat("a", 1025);
    for (size_t i = 0; ph_normalize_names[i] != NULL; i++) {
        ph_normalize_fn *fn = ph_normalize_find(ph_normalize_names[i]);
        EXPECT_ERROR(fn, "", E_EMPTY);
        EXPECT_ERROR(fn, "abc\xff", E_UTF8);
        EXPECT_ERROR(fn, "a\xe2\x82", E_UTF8);
        EXPECT_ERROR(fn, over, E_LONG);
        if (strstr(ph_normalize_names[i], "email") == NULL)
            EXPECT_OK(fn, max, max);
    }
    free(max);
    free(over);
}

/* An output over the limit is refused too, or it could not be fed back. */
static void test_output_over_limit_is_rejected(void **state)
{
    (void)state;
    char *dotted = repeat("\u0130", 512); /* 1024 bytes, lowers to 1536 */
    char *napos = repeat("\u0149", 512);  /* folds to U+02BC n */
    EXPECT_ERROR(ph_normalize_precis_casefold, dotted, E_LONG);
    EXPECT_ERROR(ph_normalize_casefold, napos, E_LONG);
    free(dotted);
    free(napos);
}

static void test_find_and_names(void **state)
{
    (void)state;
    assert_ptr_equal(ph_normalize_find("auto"), ph_normalize_auto);
    assert_ptr_equal(ph_normalize_find("precis_casefold_email"),
                     ph_normalize_precis_casefold_email);
    assert_ptr_equal(ph_normalize_find("precis_casefold"),
                     ph_normalize_precis_casefold);
    assert_ptr_equal(ph_normalize_find("precis_email"),
                     ph_normalize_precis_email);
    assert_ptr_equal(ph_normalize_find("precis"), ph_normalize_precis);
    assert_ptr_equal(ph_normalize_find("casefold"), ph_normalize_casefold);
    assert_ptr_equal(ph_normalize_find("noop"), ph_normalize_noop);
    assert_null(ph_normalize_find("PRECIS"));
    assert_null(ph_normalize_find(""));
    assert_null(ph_normalize_find(NULL));
    size_t n = 0;
    while (ph_normalize_names[n] != NULL)
        assert_non_null(ph_normalize_find(ph_normalize_names[n++]));
    assert_int_equal(n, 7);
}

static const struct {
    const char *in, *want;
} thread_vectors[] = {
    {"Juliet@EXAMPLE.org", "juliet@example.org"},
    {"x@xn--bcher-kva.example", "x@b\u00fccher.example"},
    {"\u03a3\u0391\u038a\u039d\u03a4", "\u03c3\u03b1\u03af\u03bd\u03c4"},
    {"\uff2a\uff35\uff2c\uff29\uff25\uff34", "juliet"},
};

static void *thread_run(void *arg)
{
    int *failures = arg;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < PH_N_ELEMENTS(thread_vectors); i++) {
            char *out;
            const char *error;
            if (ph_normalize_auto(thread_vectors[i].in, &out, &error) != 0) {
                (*failures)++;
                continue;
            }
            if (strcmp(out, thread_vectors[i].want) != 0)
                (*failures)++;
            free(out);
        }
    }
    return NULL;
}

static void test_concurrent_calls_agree(void **state)
{
    (void)state;
    pthread_t threads[4];
    int failures[4] = {0};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(
            pthread_create(&threads[i], NULL, thread_run, &failures[i]), 0);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(failures[i], 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8265_table1_casemapped),
        cmocka_unit_test(test_rfc8265_table1_casepreserved),
        cmocka_unit_test(test_rfc8265_table2_rejected),
        cmocka_unit_test(test_casemapped_lowercases),
        cmocka_unit_test(test_casemapped_greek_sigma),
        cmocka_unit_test(test_width_mapping),
        cmocka_unit_test(test_nfc),
        cmocka_unit_test(test_hascompat_disallowed),
        cmocka_unit_test(test_disallowed_spaces),
        cmocka_unit_test(test_disallowed_symbols_and_punctuation),
        cmocka_unit_test(test_disallowed_controls_and_others),
        cmocka_unit_test(test_contextual_rules),
        cmocka_unit_test(test_bidi_rule),
        cmocka_unit_test(test_precis_casefold_email),
        cmocka_unit_test(test_precis_email),
        cmocka_unit_test(test_email_errors),
        cmocka_unit_test(test_auto_picks_email_for_address),
        cmocka_unit_test(test_auto_falls_back_to_precis_casefold),
        cmocka_unit_test(test_auto_result_is_a_fixed_point),
        cmocka_unit_test(test_casefold),
        cmocka_unit_test(test_noop),
        cmocka_unit_test(test_every_method_bounds_and_checks_input),
        cmocka_unit_test(test_output_over_limit_is_rejected),
        cmocka_unit_test(test_find_and_names),
        cmocka_unit_test(test_concurrent_calls_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
