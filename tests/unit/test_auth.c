/* SPDX-License-Identifier: MIT */
/* Password hashing and auth.pass_table: every supported hash format,
 * maddy's "bcrypt:" form, constant-time verification, and the inline
 * chained form `auth pass_table static { entry USER HASH }`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <posthorn/auth.h>
#include <posthorn/module.h>

#include "module/graph.h"

static char state_dir[] = "/tmp/ph-test-auth-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(state_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = ph_strdup_printf("rm -rf %s", state_dir);
    int r = system(cmd);
    free(cmd);
    return r == 0 ? 0 : -1;
}

static void test_every_method_hashes_and_verifies(void **state)
{
    (void)state;
    static const char *const methods[][2] = {
        {"yescrypt", "$y$"},
        {"bcrypt", "$2b$"},
        {"sha512-crypt", "$6$"},
        {"sha256-crypt", "$5$"},
    };
    for (size_t i = 0; i < 4; i++) {
        const char *err;
        char *h = ph_password_hash("correct horse", methods[i][0], &err);
        assert_non_null(h);
        assert_true(strncmp(h, methods[i][1], strlen(methods[i][1])) == 0);
        assert_true(ph_password_verify("correct horse", h));
        assert_false(ph_password_verify("correct hors", h));
        assert_false(ph_password_verify("", h));
        free(h);
    }
}

static void test_default_method_is_yescrypt(void **state)
{
    (void)state;
    const char *err;
    char *h = ph_password_hash("pw", NULL, &err);
    assert_true(strncmp(h, "$y$", 3) == 0);
    free(h);
    assert_null(ph_password_hash("pw", "md5", &err));
    assert_string_equal(err, "unknown hash method: expected yescrypt, bcrypt, "
                             "sha512-crypt or sha256-crypt");
}

static void test_maddy_bcrypt_prefix_form(void **state)
{
    (void)state;
    const char *err;
    char *h = ph_password_hash("hunter2", "bcrypt", &err);
    char *maddy = ph_strdup_printf("bcrypt:%s", h);
    assert_true(ph_password_verify("hunter2", maddy));
    assert_false(ph_password_verify("hunter3", maddy));
    /* maddy's own hashes are $2a$: libcrypt reads those too. */
    char *a = ph_strdup(h);
    a[2] = 'a';
    char *again = ph_strdup_printf("bcrypt:%s", a);
    /* Same salt and cost: $2a$ and $2b$ differ only for >255-byte keys. */
    assert_true(ph_password_verify("hunter2", again));
    free(h);
    free(maddy);
    free(a);
    free(again);
}

static void test_garbage_hashes_never_verify(void **state)
{
    (void)state;
    assert_false(ph_password_verify("x", ""));
    assert_false(ph_password_verify("x", "x"));
    assert_false(ph_password_verify("x", "*"));
    assert_false(ph_password_verify("x", "$1$"));
    assert_false(ph_password_verify("x", "$y$"));
    assert_false(ph_password_verify("x", "plaintext"));
    assert_false(ph_password_verify("", "bcrypt:"));
}

/* Builds a graph whose test endpoint holds the given auth directives and
 * returns the first auth instance. */
static struct ph_instance *auth_from(const char *auth_lines,
                                     struct ph_graph **g)
{
    char *text = ph_strdup_printf("state_dir %s\n"
                                  "tablequery unix://%s/q.sock {\n"
                                  "    table identity\n"
                                  "%s"
                                  "}\n",
                                  state_dir, state_dir, auth_lines);
    char *err = NULL;
    if (ph_graph_load_string(text, 0, g, &err) != 0)
        fail_msg("%s", err);
    free(text);
    for (size_t i = 0; i < ph_graph_instance_count(*g); i++) {
        struct ph_instance *inst = ph_graph_instance_at(*g, i);
        if (ph_instance_kind(inst) == PH_MODULE_AUTH)
            return inst;
    }
    fail_msg("no auth instance");
    return NULL;
}

static void test_inline_chained_static_table(void **state)
{
    (void)state;
    const char *err;
    char *h = ph_password_hash("pw1", "sha512-crypt", &err);
    char *lines = ph_strdup_printf("    auth pass_table static { entry bob %s }\n", h);
    struct ph_graph *g;
    struct ph_instance *auth = auth_from(lines, &g);
    assert_string_equal(ph_instance_module(auth), "auth.pass_table");
    assert_int_equal(ph_auth_check(auth, "bob", "pw1", &err), PH_AUTH_OK);
    assert_int_equal(ph_auth_check(auth, "bob", "pw2", &err), PH_AUTH_FAILED);
    assert_string_equal(err, "wrong password");
    assert_int_equal(ph_auth_check(auth, "eve", "pw1", &err), PH_AUTH_FAILED);
    assert_string_equal(err, "unknown user");
    /* A static table cannot change: no password management through it. */
    assert_int_equal(ph_auth_set_password(auth, "bob", "x", &err), -1);
    ph_graph_unref(&g);
    free(lines);
    free(h);
}

static void test_file_table_is_managed(void **state)
{
    (void)state;
    const char *err;
    char *lines = ph_strdup_printf("    auth pass_table file %s/passwd\n", state_dir);
    struct ph_graph *g;
    struct ph_instance *auth = auth_from(lines, &g);
    assert_true(ph_auth_can_manage(auth));
    assert_int_equal(ph_auth_set_password(auth, "alice", "s3cret", &err), 0);
    assert_int_equal(ph_auth_check(auth, "alice", "s3cret", &err), PH_AUTH_OK);
    assert_int_equal(ph_auth_check(auth, "alice", "S3cret", &err), PH_AUTH_FAILED);
    struct ph_strlist users = {0};
    assert_int_equal(ph_auth_list_users(auth, &users, &err), 0);
    assert_int_equal(users.n, 1);
    assert_string_equal(users.v[0], "alice");
    ph_strlist_clear(&users);
    assert_int_equal(ph_auth_remove_user(auth, "alice", &err), 1);
    assert_int_equal(ph_auth_check(auth, "alice", "s3cret", &err), PH_AUTH_FAILED);
    ph_graph_unref(&g);
    free(lines);
}

static void test_pass_table_needs_a_table(void **state)
{
    (void)state;
    char *text = ph_strdup_printf("state_dir %s\n"
                                  "auth.pass_table db { }\n"
                                  "tablequery unix://%s/q.sock {\n"
                                  "    table identity\n"
                                  "    auth &db\n"
                                  "}\n",
                                  state_dir, state_dir);
    struct ph_graph *g = NULL;
    char *err = NULL;
    assert_int_equal(ph_graph_load_string(text, 0, &g, &err), -1);
    assert_string_equal(err, "posthorn.conf:2: missing required directive "
                             "\"table\" in auth.pass_table block db");
    free(err);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_method_hashes_and_verifies),
        cmocka_unit_test(test_default_method_is_yescrypt),
        cmocka_unit_test(test_maddy_bcrypt_prefix_form),
        cmocka_unit_test(test_garbage_hashes_never_verify),
        cmocka_unit_test(test_inline_chained_static_table),
        cmocka_unit_test(test_file_table_is_managed),
        cmocka_unit_test(test_pass_table_needs_a_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
