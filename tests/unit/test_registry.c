/* SPDX-License-Identifier: MIT */
/* The registry and the graph: every way a module or a reference can be
 * wrong gives one line that names the file and what to do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <posthorn/module.h>

#include "module/graph.h"
#include "module/registry.h"

static char *builddir;
static char state_dir[] = "/tmp/ph-test-registry-XXXXXX";

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("top_builddir");
    builddir = strdup(b ? b : ".");
    char *path = ph_strdup_printf("%s/modules/.libs:%s/tests/modules/.libs:"
                                  "%s/tests/modules/bad/.libs",
                                  builddir, builddir, builddir);
    setenv("POSTHORN_MODULE_PATH", path, 1);
    free(path);
    if (mkdtemp(state_dir) == NULL)
        return -1;
    ph_registry_set_module_dir(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = ph_strdup_printf("rm -rf %s", state_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", state_dir);
    free(cmd);
    free(builddir);
    return 0;
}

static void expect_find_error(const char *name, const char *want)
{
    const struct ph_module_desc *d;
    char *err = NULL;
    assert_int_equal(ph_registry_find(name, &d, NULL, &err), -1);
    char *expanded = ph_strdup_printf(want, builddir, builddir);
    if (strcmp(err, expanded) != 0)
        fail_msg("got \"%s\"\nwant \"%s\"", err, expanded);
    free(expanded);
    free(err);
}

static void test_abi_mismatch_names_file_and_fix(void **state)
{
    (void)state;
    char *want = ph_strdup_printf("module table.abi: table_abi.so was built "
                                  "for module ABI %d; this posthorn has ABI "
                                  "%d: rebuild it against posthorn-dev",
                                  PH_ABI_MAJOR + 1, PH_ABI_MAJOR);
    expect_find_error("table.abi", want);
    free(want);
}

static void test_missing_descriptor(void **state)
{
    (void)state;
    expect_find_error("test.nodesc",
                      "module test.nodesc: test_nodesc.so has no "
                      "posthorn_module descriptor: it is not a posthorn "
                      "module, or it was built without PH_MODULE()");
}

static void test_unresolved_symbol_reports_dlopen_reason(void **state)
{
    (void)state;
    const struct ph_module_desc *d;
    char *err = NULL;
    assert_int_equal(ph_registry_find("table.unresolved", &d, NULL, &err), -1);
    /* libltdl alone would say "file not found". */
    assert_non_null(strstr(err, "module table.unresolved: table_unresolved.so: "
                                "cannot load: "));
    assert_non_null(strstr(err, "undefined symbol: "
                                "ph_test_symbol_that_does_not_exist"));
    assert_null(strstr(err, "file not found"));
    free(err);
}

static void test_two_files_claiming_one_name(void **state)
{
    (void)state;
    expect_find_error("table.dup",
                      "module table.dup is provided by both "
                      "%s/tests/modules/bad/.libs/table_dup_a.so and "
                      "%s/tests/modules/bad/.libs/table_dup_b.so: remove one "
                      "of them");
}

static void test_missing_module(void **state)
{
    (void)state;
    const struct ph_module_desc *d;
    char *err = NULL;
    assert_int_equal(ph_registry_find("auth.nothing", &d, NULL, &err), -1);
    assert_true(strncmp(err, "unknown module auth.nothing: no auth_nothing.so "
                             "in the module path ", 62) == 0);
    assert_non_null(strstr(err, "(install the package that provides it, or "
                                "set module_dir)"));
    free(err);
}

static void test_family_names_share_a_file(void **state)
{
    (void)state;
    const struct ph_module_desc *d1, *d2;
    const char *f1, *f2;
    char *err = NULL;
    assert_int_equal(ph_registry_find("table.email_localpart", &d1, &f1, &err), 0);
    assert_int_equal(ph_registry_find("table.email_with_domain", &d2, &f2, &err), 0);
    assert_ptr_equal(d1, d2);
    assert_non_null(strstr(f1, "table_email_localpart.so"));
}

/* Loads a config and expects exactly one error line. */
static void expect_graph_error(const char *conf, const char *want)
{
    char *text = ph_strdup_printf("state_dir %s\n%s", state_dir, conf);
    struct ph_graph *g = NULL;
    char *err = NULL;
    int r = ph_graph_load_string(text, 0, &g, &err);
    if (r != -1 || err == NULL || strcmp(err, want) != 0)
        fail_msg("got %d \"%s\"\nwant \"%s\"", r, err ? err : "(none)", want);
    free(err);
    free(text);
}

static void test_wrong_kind_in_slot(void **state)
{
    (void)state;
    expect_graph_error("table.static t { }\n"
                       "tablequery unix:///tmp/x.sock {\n"
                       "  table &t\n"
                       "  storage &t\n"
                       "}\n",
                       "posthorn.conf:5: storage: module table.static is a "
                       "table, not a storage");
}

static void test_unused_block(void **state)
{
    (void)state;
    expect_graph_error("table.static local_authdb { }\n"
                       "tablequery unix:///tmp/x.sock { table identity }\n",
                       "posthorn.conf:2: unused configuration block local_authdb");
}

static void test_unknown_reference(void **state)
{
    (void)state;
    expect_graph_error("tablequery unix:///tmp/x.sock { table &nothere }\n",
                       "posthorn.conf:2: table: no top-level block defines "
                       "\"nothere\"");
}

static void test_duplicate_instance_name(void **state)
{
    (void)state;
    expect_graph_error("table.static a { }\ntable.identity b a { }\n",
                       "posthorn.conf:3: instance name \"a\" is already used "
                       "at posthorn.conf:2");
}

static void test_unknown_top_level_directive(void **state)
{
    (void)state;
    expect_graph_error("hostnmae x\n",
                       "posthorn.conf:2: unknown directive \"hostnmae\" at top "
                       "level: not a global directive, an endpoint or a module "
                       "instance");
}

static void test_inline_args_to_module_without_them(void **state)
{
    (void)state;
    expect_graph_error("tablequery unix:///tmp/x.sock { table identity x }\n",
                       "posthorn.conf:2: module table.identity takes no "
                       "inline arguments (got \"x\")");
}

static void test_instance_needs_name(void **state)
{
    (void)state;
    expect_graph_error("table.static { }\n",
                       "posthorn.conf:2: table.static block needs an instance "
                       "name: table.static NAME { ... }");
}

static void test_aliases_resolve_and_share(void **state)
{
    (void)state;
    char *text = ph_strdup_printf("state_dir %s\n"
                                  "table.identity ident alias1 alias2\n"
                                  "tablequery unix:///tmp/a.sock { table &alias1 }\n"
                                  "tablequery unix:///tmp/b.sock { table &alias2 }\n"
                                  "tablequery unix:///tmp/c.sock { table &ident }\n",
                                  state_dir);
    struct ph_graph *g = NULL;
    char *err = NULL;
    assert_int_equal(ph_graph_load_string(text, 0, &g, &err), 0);
    assert_int_equal(ph_graph_endpoint_count(g), 3);
    struct ph_instance *a = ph_graph_instance(g, "alias2", &err);
    struct ph_instance *b = ph_graph_instance(g, "ident", &err);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    ph_graph_unref(&g);
    free(text);
}

static void test_prefix_then_full_name(void **state)
{
    (void)state;
    char *text = ph_strdup_printf("state_dir %s\n"
                                  "tablequery unix:///tmp/a.sock { table identity }\n"
                                  "tablequery unix:///tmp/b.sock { table table.identity }\n",
                                  state_dir);
    struct ph_graph *g = NULL;
    char *err = NULL;
    if (ph_graph_load_string(text, 0, &g, &err) != 0)
        fail_msg("%s", err);
    ph_graph_unref(&g);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_mismatch_names_file_and_fix),
        cmocka_unit_test(test_missing_descriptor),
        cmocka_unit_test(test_unresolved_symbol_reports_dlopen_reason),
        cmocka_unit_test(test_two_files_claiming_one_name),
        cmocka_unit_test(test_missing_module),
        cmocka_unit_test(test_family_names_share_a_file),
        cmocka_unit_test(test_wrong_kind_in_slot),
        cmocka_unit_test(test_unused_block),
        cmocka_unit_test(test_unknown_reference),
        cmocka_unit_test(test_duplicate_instance_name),
        cmocka_unit_test(test_unknown_top_level_directive),
        cmocka_unit_test(test_inline_args_to_module_without_them),
        cmocka_unit_test(test_instance_needs_name),
        cmocka_unit_test(test_aliases_resolve_and_share),
        cmocka_unit_test(test_prefix_then_full_name),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
