/* SPDX-License-Identifier: MIT */
/* The directive engine: value types, argument counts, defaults,
 * inheritance, required and repeated directives, with exact messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <posthorn/config.h>
#include <posthorn/module.h>

#include "config/conf-private.h"

static void test_bool_words(void **state)
{
    (void)state;
    const char *err;
    bool v;
    const char *yes[] = {"yes", "true", "on"}, *no[] = {"no", "false", "off"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ph_parse_bool(yes[i], &v, &err), 0);
        assert_true(v);
        assert_int_equal(ph_parse_bool(no[i], &v, &err), 0);
        assert_false(v);
    }
    assert_int_equal(ph_parse_bool("maybe", &v, &err), -1);
    assert_string_equal(err, "expected yes or no");
    assert_int_equal(ph_parse_bool("Yes", &v, &err), -1);
}

static void test_size_units(void **state)
{
    (void)state;
    const char *err;
    uint64_t v;
    assert_int_equal(ph_parse_size("4096", &v, &err), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(ph_parse_size("32M", &v, &err), 0);
    assert_int_equal(v, 32u << 20);
    assert_int_equal(ph_parse_size("512k", &v, &err), 0);
    assert_int_equal(v, 512u << 10);
    assert_int_equal(ph_parse_size("1G", &v, &err), 0);
    assert_int_equal(v, 1u << 30);
    assert_int_equal(ph_parse_size("2MiB", &v, &err), 0);
    assert_int_equal(v, 2u << 20);
    assert_int_equal(ph_parse_size("12X", &v, &err), -1);
    assert_string_equal(err, "expected a size like 4096, 512K, 32M or 1G");
    assert_int_equal(ph_parse_size("-1", &v, &err), -1);
    assert_int_equal(ph_parse_size("", &v, &err), -1);
    assert_int_equal(ph_parse_size("99999999999T", &v, &err), -1);
    assert_string_equal(err, "size out of range");
}

static void test_duration_sums_words(void **state)
{
    (void)state;
    const char *err;
    int64_t ms;
    char *a1[] = {"1h", "30m"};
    assert_int_equal(ph_parse_duration(a1, 2, &ms, &err), 0);
    assert_int_equal(ms, 90 * 60 * 1000);
    char *a2[] = {"500ms"};
    assert_int_equal(ph_parse_duration(a2, 1, &ms, &err), 0);
    assert_int_equal(ms, 500);
    char *a3[] = {"1h30m15s"};
    assert_int_equal(ph_parse_duration(a3, 1, &ms, &err), 0);
    assert_int_equal(ms, (3600 + 1800 + 15) * 1000);
    char *a4[] = {"10"};
    assert_int_equal(ph_parse_duration(a4, 1, &ms, &err), -1);
    assert_string_equal(err, "expected a duration like 500ms, 30s, 5m or 1h 30m");
    char *a5[] = {"5x"};
    assert_int_equal(ph_parse_duration(a5, 1, &ms, &err), -1);
}

static void test_int_parse(void **state)
{
    (void)state;
    const char *err;
    int64_t v;
    assert_int_equal(ph_parse_int("-42", &v, &err), 0);
    assert_int_equal(v, -42);
    assert_int_equal(ph_parse_int("4x", &v, &err), -1);
    assert_string_equal(err, "expected an integer");
    assert_int_equal(ph_parse_int("99999999999999999999", &v, &err), -1);
    assert_string_equal(err, "integer out of range");
}

struct tconf {
    bool flag;
    int64_t n;
    uint64_t size;
    int64_t dur;
    char *name;
    int mode;
    struct ph_strlist list;
    struct ph_entries entries;
    const struct ph_cfg_node *blk;
    char *req;
    bool inherited;
};

static const char *const modes[] = {"fast", "safe", NULL};

#define O(f) offsetof(struct tconf, f)
static const struct ph_directive table[] = {
    {.name = "flag", .type = PH_DT_BOOL, .offset = O(flag), .def = "no"},
    {.name = "n", .type = PH_DT_INT, .offset = O(n), .def = "7", .min = 1, .max = 10},
    {.name = "size", .type = PH_DT_SIZE, .offset = O(size), .def = "32M"},
    {.name = "dur", .type = PH_DT_DURATION, .offset = O(dur), .def = "30m"},
    {.name = "name", .type = PH_DT_STRING, .offset = O(name)},
    {.name = "mode", .type = PH_DT_ENUM, .offset = O(mode), .values = modes, .def = "safe"},
    {.name = "list", .type = PH_DT_LIST, .flags = PH_DF_REPEAT, .offset = O(list), .def = "a b"},
    {.name = "entry", .type = PH_DT_ENTRIES, .offset = O(entries), .min_args = 2, .max_args = -1},
    {.name = "blk", .type = PH_DT_BLOCK, .offset = O(blk)},
    {.name = "req", .type = PH_DT_STRING, .flags = PH_DF_REQUIRED, .offset = O(req)},
    {.name = "debug", .type = PH_DT_BOOL, .flags = PH_DF_INHERIT, .offset = O(inherited)},
    {.name = NULL},
};

/* Parses text, applies the block of its first top-level directive. */
static int apply_text(const char *text, struct tconf *c, char **err)
{
    struct ph_cfg_node *root;
    memset(c, 0, sizeof(*c));
    if (ph_cfg_parse_buffer(text, strlen(text), "t.conf", NULL, &root, err) < 0)
        return -2;
    struct ph_conf_ctx ctx = {.globals = root, .where = "test block"};
    const struct ph_cfg_node *blk = ph_cfg_child(root, "test");
    assert_non_null(blk);
    int r = ph_conf_apply(blk, table, c, &ctx, err);
    if (r == 0 && c->blk) /* the node dies with the tree */
        c->blk = (const struct ph_cfg_node *)1;
    ph_cfg_free(&root);
    return r;
}

static void test_defaults_fill_unset_directives(void **state)
{
    (void)state;
    struct tconf c;
    char *err = NULL;
    assert_int_equal(apply_text("test {\n req x\n}\n", &c, &err), 0);
    assert_false(c.flag);
    assert_int_equal(c.n, 7);
    assert_int_equal(c.size, 32u << 20);
    assert_int_equal(c.dur, 30 * 60 * 1000);
    assert_int_equal(c.mode, 1);
    assert_int_equal(c.list.n, 2);
    assert_string_equal(c.list.v[1], "b");
    assert_null(c.name);
    assert_string_equal(c.req, "x");
    ph_conf_release(table, &c);
}

static void test_values_override_defaults(void **state)
{
    (void)state;
    struct tconf c;
    char *err = NULL;
    assert_int_equal(apply_text("test {\n flag\n n 3\n size 1K\n dur 1h 30m\n"
                                " name bob\n mode fast\n list x\n list y z\n"
                                " entry k v1 v2\n entry k2 v\n blk a { b c }\n"
                                " req r\n}\n", &c, &err), 0);
    assert_true(c.flag);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.size, 1024);
    assert_int_equal(c.dur, 90 * 60 * 1000);
    assert_string_equal(c.name, "bob");
    assert_int_equal(c.mode, 0);
    assert_int_equal(c.list.n, 3); /* repeat appends; the default is gone */
    assert_string_equal(c.list.v[0], "x");
    assert_string_equal(c.list.v[2], "z");
    assert_int_equal(c.entries.n, 2);
    assert_int_equal(c.entries.v[0].n, 3);
    assert_string_equal(c.entries.v[1].v[0], "k2");
    assert_non_null(c.blk);
    ph_conf_release(table, &c);
}

static void test_inherit_takes_the_global(void **state)
{
    (void)state;
    struct tconf c;
    char *err = NULL;
    assert_int_equal(apply_text("debug yes\ntest {\n req x\n}\n", &c, &err), 0);
    assert_true(c.inherited);
    ph_conf_release(table, &c);
    assert_int_equal(apply_text("debug yes\ntest {\n req x\n debug no\n}\n", &c, &err), 0);
    assert_false(c.inherited);
    ph_conf_release(table, &c);
}

struct error_case {
    const char *text;
    const char *error;
};

static const struct error_case error_cases[] = {
    {"test {\n req x\n tsl on\n}\n", "t.conf:3: unknown directive \"tsl\" in test block"},
    {"test {\n}\n", "t.conf:1: missing required directive \"req\" in test block"},
    {"test {\n req x\n req y\n}\n", "t.conf:3: duplicate directive \"req\" in test block (first at t.conf:2)"},
    {"test {\n req x y\n}\n", "t.conf:2: directive \"req\" in test block takes 1 argument, got 2"},
    {"test {\n req\n}\n", "t.conf:2: directive \"req\" in test block takes 1 argument, got 0"},
    {"test {\n req x\n flag maybe\n}\n", "t.conf:3: bad value \"maybe\" for \"flag\" in test block: expected yes or no"},
    {"test {\n req x\n flag yes no\n}\n", "t.conf:3: directive \"flag\" in test block takes 0 to 1 arguments, got 2"},
    {"test {\n req x\n n 11\n}\n", "t.conf:3: bad value \"11\" for \"n\" in test block: expected an integer from 1 to 10"},
    {"test {\n req x\n n ten\n}\n", "t.conf:3: bad value \"ten\" for \"n\" in test block: expected an integer"},
    {"test {\n req x\n size 12X\n}\n", "t.conf:3: bad value \"12X\" for \"size\" in test block: expected a size like 4096, 512K, 32M or 1G"},
    {"test {\n req x\n dur soon\n}\n", "t.conf:3: bad value \"soon\" for \"dur\" in test block: expected a duration like 500ms, 30s, 5m or 1h 30m"},
    {"test {\n req x\n mode slow\n}\n", "t.conf:3: bad value \"slow\" for \"mode\" in test block: expected one of fast, safe"},
    {"test {\n req x\n entry k\n}\n", "t.conf:3: directive \"entry\" in test block takes at least 2 arguments, got 1"},
    {"test {\n req x\n name a { }\n}\n", "t.conf:3: directive \"name\" in test block takes no block"},
    {"debug perhaps\ntest {\n req x\n}\n", "t.conf:1: bad value \"perhaps\" for \"debug\" in test block: expected yes or no"},
};

static void test_errors_are_exact(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        struct tconf c;
        char *err = NULL;
        int r = apply_text(error_cases[i].text, &c, &err);
        if (r != -1 || err == NULL || strcmp(err, error_cases[i].error) != 0)
            fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r,
                     err ? err : "(none)", error_cases[i].error);
        free(err);
        ph_conf_release(table, &c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bool_words),
        cmocka_unit_test(test_size_units),
        cmocka_unit_test(test_duration_sums_words),
        cmocka_unit_test(test_int_parse),
        cmocka_unit_test(test_defaults_fill_unset_directives),
        cmocka_unit_test(test_values_override_defaults),
        cmocka_unit_test(test_inherit_takes_the_global),
        cmocka_unit_test(test_errors_are_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
