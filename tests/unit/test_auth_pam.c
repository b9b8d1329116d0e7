/* SPDX-License-Identifier: MIT */
/* auth.pam against real PAM stacks through pam_wrapper and pam_matrix, in
 * both modes (in-process and posthorn-pam-helper), without /etc/pam.d.
 *
 * pam_wrapper is loaded here with dlopen(RTLD_GLOBAL) after PAM_WRAPPER=1
 * and PAM_WRAPPER_SERVICE_DIR are set, so the module's pam_* calls bind to
 * it: no LD_PRELOAD for this process, and the suite runs under valgrind
 * as it is. The helper children get LD_PRELOAD from the environment.
 * Skipped (with the reason) in a sanitizer build and without pam_wrapper. */
#include <dlfcn.h>
#include <errno.h>
#include <glob.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <posthorn/auth.h>
#include <posthorn/module.h>

#include "module/graph.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

static char dir[] = "/tmp/ph-test-pam-XXXXXX";
static char *helper_path;

/* A skipped suite prints the reason and a count line that scripts/check
 * reads ("0 passed, 0 failed"), then exits 77 for automake; 0 under
 * scripts/check's valgrind loop, which counts any other status as failed. */
static int skip_suite(const char *why)
{
    printf("SKIP: auth.pam unit tests: %s\n", why);
    printf("0 passed, 0 failed, 1 skipped\n");
    return getenv("PH_UNDER_VALGRIND") ? 0 : 77;
}

/* The first existing file among the patterns, malloc'ed; NULL if none. */
static char *find_file(const char *const *patterns)
{
    for (size_t i = 0; patterns[i]; i++) {
        glob_t g;
        if (glob(patterns[i], 0, NULL, &g) == 0 && g.gl_pathc > 0) {
            char *path = ph_strdup(g.gl_pathv[0]);
            globfree(&g);
            return path;
        }
        globfree(&g);
    }
    return NULL;
}

static void write_file(const char *name, const char *fmt, ...) PH_PRINTF(2, 3);
static void write_file(const char *name, const char *fmt, ...)
{
    char *path = ph_strdup_printf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    free(path);
}

/* Service files: pam_matrix against a passdb whose third field is the one
 * service each user's account is valid for. */
static void write_services(const char *matrix, const char *deny)
{
    if (mkdtemp(dir) == NULL)
        abort();
    char *sub = ph_strdup_printf("%s/pam.d", dir);
    mkdir(sub, 0700);
    free(sub);
    write_file("passdb", "alice:secret:ptest\n"
                         "carol:secret:elsewhere\n"
                         "dan:secret:ptest_deny\n"
                         "vera:secret:ptest_verbose\n"
                         "eve:secret:ptest_echo\n");
    const char *db = "passdb=";
    write_file(
        "pam.d/ptest",
        "auth required %s %s%s/passdb\naccount required %s %s%s/passdb\n",
        matrix, db, dir, matrix, db, dir);
    write_file("pam.d/ptest_deny",
               "auth required %s %s%s/passdb\naccount required %s\n", matrix,
               db, dir, deny);
    write_file("pam.d/ptest_verbose",
               "auth required %s %s%s/passdb verbose\n"
               "account required %s %s%s/passdb verbose\n",
               matrix, db, dir, matrix, db, dir);
    write_file(
        "pam.d/ptest_echo",
        "auth required %s %s%s/passdb echo\naccount required %s %s%s/passdb\n",
        matrix, db, dir, matrix, db, dir);
    write_file(
        "pam.d/ptest_nodb",
        "auth required %s %s%s/missing\naccount required %s %s%s/missing\n",
        matrix, db, dir, matrix, db, dir);
    write_file("pam.d/other", "auth required %s\naccount required %s\n", deny,
               deny);
    write_file("slow-helper", "#!/bin/sh\nexec sleep 10\n");
    char *slow = ph_strdup_printf("%s/slow-helper", dir);
    chmod(slow, 0700);
    free(slow);
}

/* pam_wrapper copies the service files to /tmp/pam.X and does not always
 * remove the copy; remove those of this suite (they hold ptest_nodb) whose
 * process is this one or gone. */
static void remove_wrapper_dirs(void)
{
    glob_t g;
    if (glob("/tmp/pam.?", GLOB_ONLYDIR, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *mark = ph_strdup_printf("%s/ptest_nodb", g.gl_pathv[i]);
        char *pidfile = ph_strdup_printf("%s/pid", g.gl_pathv[i]);
        FILE *f = fopen(pidfile, "r");
        long pid = 0;
        if (f != NULL) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (access(mark, F_OK) == 0 && pid > 0 &&
            (pid == (long)getpid() ||
             (kill((pid_t)pid, 0) < 0 && errno == ESRCH))) {
            char *cmd = ph_strdup_printf("rm -rf %s", g.gl_pathv[i]);
            if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", g.gl_pathv[i]);
            free(cmd);
        }
        free(mark);
        free(pidfile);
    }
    globfree(&g);
}

static int group_teardown(void **state)
{
    (void)state;
    /* Every process started with the wrapper preloaded makes a copy. */
    unsetenv("LD_PRELOAD");
    remove_wrapper_dirs();
    char *cmd = ph_strdup_printf("rm -rf %s", dir);
    int r = system(cmd);
    free(cmd);
    return r == 0 ? 0 : -1;
}

/* A graph whose test endpoint holds the auth directive; returns the auth
 * instance. */
static struct ph_instance *auth_from(const char *auth_lines,
                                     struct ph_graph **g)
{
    char *text = ph_strdup_printf("state_dir %s\n"
                                  "tablequery unix://%s/q.sock {\n"
                                  "    table identity\n"
                                  "%s\n"
                                  "}\n",
                                  dir, dir, auth_lines);
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

static struct ph_instance *pam_auth(const char *service, bool helper,
                                    struct ph_graph **g)
{
    char *lines = helper ? ph_strdup_printf("    auth pam {\n"
                                            "        service %s\n"
                                            "        use_helper yes\n"
                                            "        helper %s\n"
                                            "        debug\n"
                                            "    }",
                                            service, helper_path)
                         : ph_strdup_printf("    auth pam {\n"
                                            "        service %s\n"
                                            "    }",
                                            service);
    struct ph_instance *a = auth_from(lines, g);
    free(lines);
    return a;
}

static void expect(const char *service, bool helper, const char *user,
                   const char *password, enum ph_auth_result want,
                   const char *want_error)
{
    struct ph_graph *g;
    struct ph_instance *a = pam_auth(service, helper, &g);
    const char *err;
    enum ph_auth_result r = ph_auth_check(a, user, password, &err);
    if (r != want)
        fail_msg("%s %s %s: got %d (%s), want %d", helper ? "helper" : "inproc",
                 service, user, r, err, want);
    if (want_error)
        assert_string_equal(err, want_error);
    ph_graph_unref(&g);
}

static void test_right_password_is_accepted(void **state)
{
    (void)state;
    expect("ptest", false, "alice", "secret", PH_AUTH_OK, "accepted");
}

static void test_wrong_password_is_rejected(void **state)
{
    (void)state;
    expect("ptest", false, "alice", "Secret", PH_AUTH_FAILED,
           "Authentication failure");
    expect("ptest", false, "alice", "", PH_AUTH_FAILED, NULL);
}

static void test_unknown_user_is_rejected(void **state)
{
    (void)state;
    expect("ptest", false, "mallory", "secret", PH_AUTH_FAILED, NULL);
}

static void test_account_check_failure_is_rejected(void **state)
{
    (void)state;
    /* Right password, but pam_matrix's account check (another service)... */
    expect("ptest", false, "carol", "secret", PH_AUTH_FAILED,
           "Permission denied");
    /* ...or pam_deny in the account stack. */
    expect("ptest_deny", false, "dan", "secret", PH_AUTH_FAILED, NULL);
}

static void test_text_messages_are_passed_over(void **state)
{
    (void)state;
    /* pam_matrix `verbose` sends PAM_TEXT_INFO / PAM_ERROR_MSG. */
    expect("ptest_verbose", false, "vera", "secret", PH_AUTH_OK, NULL);
    expect("ptest_verbose", false, "vera", "nope", PH_AUTH_FAILED, NULL);
}

static void test_echoed_prompt_fails_the_conversation(void **state)
{
    (void)state;
    /* pam_matrix `echo` asks with PAM_PROMPT_ECHO_ON: not a password
     * prompt, so the conversation refuses and PAM cannot decide. */
    expect("ptest_echo", false, "eve", "secret", PH_AUTH_TEMPFAIL, NULL);
}

static void test_broken_stack_is_tempfail(void **state)
{
    (void)state;
    expect("ptest_nodb", false, "alice", "secret", PH_AUTH_TEMPFAIL, NULL);
    expect("ptest_nodb", true, "alice", "secret", PH_AUTH_TEMPFAIL,
           "the helper failed");
}

static void test_newline_never_reaches_pam(void **state)
{
    (void)state;
    expect("ptest", false, "alice\nsecret", "x", PH_AUTH_FAILED,
           "username not acceptable to PAM");
    expect("ptest", true, "alice", "secret\n", PH_AUTH_FAILED,
           "password not acceptable to PAM");
    char long_pw[1100];
    memset(long_pw, 'a', sizeof(long_pw) - 1);
    long_pw[sizeof(long_pw) - 1] = '\0';
    expect("ptest", true, "alice", long_pw, PH_AUTH_FAILED,
           "password not acceptable to PAM");
    expect("ptest", false, "", "secret", PH_AUTH_FAILED,
           "username not acceptable to PAM");
}

static void test_helper_right_password_is_accepted(void **state)
{
    (void)state;
    expect("ptest", true, "alice", "secret", PH_AUTH_OK, NULL);
}

static void test_helper_wrong_password_and_unknown_user(void **state)
{
    (void)state;
    expect("ptest", true, "alice", "Secret", PH_AUTH_FAILED,
           "the helper rejected the credentials");
    expect("ptest", true, "mallory", "secret", PH_AUTH_FAILED,
           "the helper rejected the credentials");
}

static void test_helper_account_check_failure(void **state)
{
    (void)state;
    expect("ptest", true, "carol", "secret", PH_AUTH_FAILED, NULL);
    expect("ptest_deny", true, "dan", "secret", PH_AUTH_FAILED, NULL);
}

static void test_helper_timeout_kills_it(void **state)
{
    (void)state;
    char *lines = ph_strdup_printf("    auth pam {\n"
                                   "        use_helper yes\n"
                                   "        helper %s/slow-helper\n"
                                   "        helper_timeout 300ms\n"
                                   "    }",
                                   dir);
    struct ph_graph *g;
    struct ph_instance *a = auth_from(lines, &g);
    free(lines);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *err;
    assert_int_equal(ph_auth_check(a, "alice", "secret", &err),
                     PH_AUTH_TEMPFAIL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_string_equal(err, "the helper timed out");
    /* 300ms, not the default 30s: a bound no loaded machine or valgrind
     * run reaches, only the default would. */
    assert_true(t1.tv_sec - t0.tv_sec < 20);
    ph_graph_unref(&g);
}

static void test_config_defaults_and_errors(void **state)
{
    (void)state;
    struct ph_graph *g;
    struct ph_instance *a = auth_from("    auth pam", &g);
    assert_string_equal(ph_instance_module(a), "auth.pam");
    assert_false(ph_auth_can_manage(a));
    ph_graph_unref(&g);

    char *text = ph_strdup_printf("state_dir %s\n"
                                  "auth.pam sys {\n"
                                  "    service ../shadow\n"
                                  "}\n"
                                  "tablequery unix://%s/q.sock {\n"
                                  "    table identity\n"
                                  "    auth &sys\n"
                                  "}\n",
                                  dir, dir);
    char *err = NULL;
    g = NULL;
    assert_int_equal(ph_graph_load_string(text, 0, &g, &err), -1);
    assert_non_null(strstr(err, "service \"../shadow\": expected a file name"));
    free(err);
    free(text);
    text = ph_strdup_printf("state_dir %s\n"
                            "auth.pam h {\n"
                            "    use_helper yes\n"
                            "    helper %s/none\n"
                            "}\n"
                            "tablequery unix://%s/q.sock {\n"
                            "    table identity\n"
                            "    auth &h\n"
                            "}\n",
                            dir, dir, dir);
    err = NULL;
    assert_int_equal(ph_graph_load_string(text, 0, &g, &err), -1);
    assert_non_null(strstr(err, "/none: No such file or directory (build and "
                                "install posthorn-pam-helper"));
    free(err);
    free(text);
}

int main(void)
{
#ifdef SANITIZER_BUILD
    return skip_suite("pam_wrapper does not run under AddressSanitizer "
                      "(sanitizer build)");
#endif
    static const char *const wrapper_at[] = {
        "/usr/lib/*/libpam_wrapper.so",
        "/usr/lib64/libpam_wrapper.so",
        "/usr/lib/libpam_wrapper.so",
        "/usr/local/lib/libpam_wrapper.so",
        "/usr/local/lib/*/libpam_wrapper.so",
        NULL};
    static const char *const matrix_at[] = {
        "/usr/lib/*/pam_wrapper/pam_matrix.so",
        "/usr/lib64/pam_wrapper/pam_matrix.so",
        "/usr/lib/pam_wrapper/pam_matrix.so",
        "/usr/local/lib/pam_wrapper/pam_matrix.so",
        "/usr/local/lib/*/pam_wrapper/pam_matrix.so",
        NULL};
    static const char *const deny_at[] = {"/usr/lib/*/security/pam_deny.so",
                                          "/lib/*/security/pam_deny.so",
                                          "/usr/lib64/security/pam_deny.so",
                                          "/lib64/security/pam_deny.so",
                                          "/usr/lib/security/pam_deny.so",
                                          "/lib/security/pam_deny.so",
                                          NULL};
    char *wrapper = find_file(wrapper_at);
    char *matrix = find_file(matrix_at);
    char *deny = find_file(deny_at);
    if (wrapper == NULL || matrix == NULL || deny == NULL) {
        free(wrapper);
        free(matrix);
        free(deny);
        return skip_suite("libpam_wrapper.so, pam_matrix.so or pam_deny.so not "
                          "found (Debian: apt-get install libpam-wrapper)");
    }
    write_services(matrix, deny);
    char *svc = ph_strdup_printf("%s/pam.d", dir);
    const char *top = getenv("top_builddir");
    helper_path = ph_strdup_printf("%s/modules/auth_pam/posthorn-pam-helper",
                                   top ? top : ".");
    /* Without PAM_WRAPPER=1 the wrapper spins; the alarm ends any hang. */
    setenv("PAM_WRAPPER", "1", 1);
    setenv("PAM_WRAPPER_SERVICE_DIR", svc, 1);
    setenv("LD_PRELOAD", wrapper, 1);
    alarm(120);
    void *h = dlopen(wrapper, RTLD_NOW | RTLD_GLOBAL);
    if (h == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", wrapper, dlerror());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_right_password_is_accepted),
        cmocka_unit_test(test_wrong_password_is_rejected),
        cmocka_unit_test(test_unknown_user_is_rejected),
        cmocka_unit_test(test_account_check_failure_is_rejected),
        cmocka_unit_test(test_text_messages_are_passed_over),
        cmocka_unit_test(test_echoed_prompt_fails_the_conversation),
        cmocka_unit_test(test_broken_stack_is_tempfail),
        cmocka_unit_test(test_newline_never_reaches_pam),
        cmocka_unit_test(test_helper_right_password_is_accepted),
        cmocka_unit_test(test_helper_wrong_password_and_unknown_user),
        cmocka_unit_test(test_helper_account_check_failure),
        cmocka_unit_test(test_helper_timeout_kills_it),
        cmocka_unit_test(test_config_defaults_and_errors),
    };
    int r = cmocka_run_group_tests(tests, NULL, group_teardown);
    free(svc);
    free(wrapper);
    free(matrix);
    free(deny);
    free(helper_path);
    return r;
}
