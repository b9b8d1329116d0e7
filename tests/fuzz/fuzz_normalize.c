/* SPDX-License-Identifier: MIT */
/* libFuzzer target: every normalization method on the input, checking
 * that outputs are non-empty valid UTF-8 within the length bound, that
 * normalizing an output again returns it unchanged, that noop copies and
 * that auto agrees with the method it picks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include <posthorn/normalize.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Over the 1024-byte limit, so the length check is exercised too. */
#define FUZZ_MAX_INPUT 1100

static void check(int cond, const char *what, const char *name, const char *in)
{
    if (!cond) {
        fprintf(stderr, "fuzz_normalize: %s: %s on \"%s\"\n", name, what, in);
        abort();
    }
}

/* Returns the method's output, or NULL when it rejected the input. */
static char *run(const char *name, const char *in)
{
    ph_normalize_fn *fn = ph_normalize_find(name);
    check(fn != NULL, "method not found", name, in);
    char *out = (char *)1, *again = (char *)1;
    const char *error = NULL;
    if (fn(in, &out, &error) != 0) {
        check(out == NULL, "output set on error", name, in);
        check(error != NULL && *error != '\0', "no reason", name, in);
        return NULL;
    }
    size_t len = strlen(out);
    check(len > 0 && len <= 1024, "output length", name, in);
    check(u8_check((const uint8_t *)out, len) == NULL, "invalid UTF-8", name,
          in);
    check(fn(out, &again, &error) == 0, "output rejected", name, in);
    check(strcmp(out, again) == 0, "not idempotent", name, in);
    free(again);
    return out;
}

/* '@' and FULLWIDTH COMMERCIAL AT, which the profiles width-map to '@'. */
static size_t count_at_signs(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == '@' || strncmp(s, "\xef\xbc\xa0", 3) == 0;
    return n;
}

static const char *output_of(char *const *outs, const char *name)
{
    for (size_t i = 0; ph_normalize_names[i] != NULL; i++)
        if (strcmp(ph_normalize_names[i], name) == 0)
            return outs[i];
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char in[FUZZ_MAX_INPUT + 1];
    memcpy(in, data, size);
    in[size] = '\0';

    char *outs[16] = {NULL};
    size_t n = 0;
    for (; ph_normalize_names[n] != NULL; n++) {
        check(n < 16, "too many methods", ph_normalize_names[n], in);
        outs[n] = run(ph_normalize_names[n], in);
    }

    const char *noop = output_of(outs, "noop");
    if (noop != NULL)
        check(strcmp(noop, in) == 0, "changed the input", "noop", in);
    /* auto is precis_casefold without an at sign and the email form for a
     * single one when that succeeds. Otherwise it is the fixed point of
     * its passes, which may differ from both when IDNA only accepts the
     * domain after PRECIS mapped it (e.g. U+1E9E is "ss" to IDNA). */
    const char *autom = output_of(outs, "auto");
    const char *email = output_of(outs, "precis_casefold_email");
    const char *plain = output_of(outs, "precis_casefold");
    size_t at_signs = count_at_signs(in);
    if (at_signs == 0)
        check((autom == NULL) == (plain == NULL) &&
                  (autom == NULL || strcmp(autom, plain) == 0),
              "differs from precis_casefold", "auto", in);
    if (at_signs == 1 && email != NULL)
        check(autom != NULL && strcmp(autom, email) == 0,
              "differs from precis_casefold_email", "auto", in);
    for (size_t i = 0; i < n; i++)
        free(outs[i]);
    return 0;
}
