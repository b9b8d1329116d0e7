/* SPDX-License-Identifier: MIT */
/* The table modules, built from config text through the real registry and
 * graph. Modules come from POSTHORN_MODULE_PATH (make check sets it). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <posthorn/log.h>
#include <posthorn/table.h>

#include "../../core/lib/module/graph.h"

static char *tmp_dir;  /* per test: also the graph's state_dir */
static char *log_path; /* ph_log output of the current test */
static struct ph_graph *graph;

/* ---- helpers ----------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    char tmpl[] = "/tmp/ph-tables-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    tmp_dir = ph_strdup(tmpl);
    log_path = ph_strdup_printf("%s/log", tmp_dir);
    const char *err = NULL;
    assert_int_equal(ph_log_set_target(PH_LOG_TARGET_FILE, log_path, &err), 0);
    return 0;
}

static int teardown(void **state)
{
    ph_graph_unref(&graph);
    const char *err = NULL;
    assert_int_equal(ph_log_set_target(PH_LOG_TARGET_STDERR, NULL, &err), 0);
    nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmp_dir);
    free(log_path);
    tmp_dir = log_path = NULL;
    return 0;
}

static char *tmp_path(const char *name)
{
    return ph_strdup_printf("%s/%s", tmp_dir, name);
}

/* Loads conf (state_dir appended last, so the lines of conf keep their
 * numbers) and returns 0, or -1 with the error. */
static int try_load(const char *conf, const char *name,
                    struct ph_instance **inst_r, char **error_r)
{
    char *text = ph_strdup_printf("%s\nstate_dir %s\n", conf, tmp_dir);
    ph_graph_unref(&graph);
    int r = ph_graph_load_string(text, PH_GRAPH_LAZY, &graph, error_r);
    free(text);
    if (r < 0)
        return -1;
    *inst_r = ph_graph_instance(graph, name, error_r);
    return *inst_r != NULL ? 0 : -1;
}

static struct ph_instance *load(const char *conf, const char *name)
{
    struct ph_instance *inst = NULL;
    char *error = NULL;
    if (try_load(conf, name, &inst, &error) < 0) {
        print_error("config failed: %s\n", error);
        free(error);
        fail();
    }
    return inst;
}

static void expect_config_error(const char *conf, const char *expected)
{
    struct ph_instance *inst = NULL;
    char *error = NULL;
    assert_int_equal(try_load(conf, "t", &inst, &error), -1);
    assert_string_equal(error, expected);
    free(error);
}

/* Looks key up: "" for not found, "TEMPFAIL: error" for a temporary
 * failure, else the values joined by '|'. Caller frees. */
static char *lookup(struct ph_instance *t, const char *key)
{
    struct ph_strlist values = {0};
    const char *error = NULL;
    struct ph_buf b = {0};
    switch (ph_table_lookup(t, key, &values, &error)) {
    case PH_LOOKUP_FOUND:
        assert_true(values.n > 0);
        for (size_t i = 0; i < values.n; i++)
            ph_buf_printf(&b, "%s%s", i ? "|" : "", values.v[i]);
        ph_buf_puts(&b, "");
        break;
    case PH_LOOKUP_NOT_FOUND:
        assert_int_equal(values.n, 0);
        ph_buf_puts(&b, "");
        break;
    case PH_LOOKUP_TEMPFAIL:
        assert_non_null(error);
        ph_buf_printf(&b, "TEMPFAIL: %s", error);
        break;
    }
    ph_strlist_clear(&values);
    return ph_buf_steal(&b);
}

#define assert_lookup(t, key, expected)                                        \
    do {                                                                       \
        char *got_ = lookup((t), (key));                                       \
        assert_string_equal(got_, (expected));                                 \
        free(got_);                                                            \
    } while (0)

static void assert_not_found(struct ph_instance *t, const char *key)
{
    struct ph_strlist values = {0};
    const char *error = NULL;
    assert_int_equal(ph_table_lookup(t, key, &values, &error),
                     PH_LOOKUP_NOT_FOUND);
    assert_int_equal(values.n, 0);
}

static char *keys_joined(struct ph_instance *t)
{
    struct ph_strlist keys = {0};
    const char *error = NULL;
    assert_int_equal(ph_table_keys(t, &keys, &error), 0);
    struct ph_buf b = {0};
    for (size_t i = 0; i < keys.n; i++)
        ph_buf_printf(&b, "%s%s", i ? "|" : "", keys.v[i]);
    ph_strlist_clear(&keys);
    return ph_buf_steal(&b);
}

#define assert_keys(t, expected)                                               \
    do {                                                                       \
        char *got_ = keys_joined(t);                                           \
        assert_string_equal(got_, (expected));                                 \
        free(got_);                                                            \
    } while (0)

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Replaces path the way careful editors do: a new file renamed over it. */
static void replace_file(const char *path, const char *text)
{
    char *tmp = ph_strdup_printf("%s.new", path);
    write_file(tmp, text);
    assert_int_equal(rename(tmp, path), 0);
    free(tmp);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    struct ph_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ph_buf_append(&b, chunk, n);
    fclose(f);
    return ph_buf_steal(&b);
}

#define assert_file(path, expected)                                            \
    do {                                                                       \
        char *got_ = read_text(path);                                          \
        assert_string_equal(got_, (expected));                                 \
        free(got_);                                                            \
    } while (0)

/* Moves path's mtime a few seconds on, so a same-size rewrite is seen. */
static void bump_mtime(const char *path, int seconds)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    times[1].tv_sec += seconds;
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static int count_in_log(const char *needle)
{
    char *text = read_text(log_path);
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(text);
    return n;
}

static int count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static char *file_conf(const char *path, const char *extra)
{
    return ph_strdup_printf("table.file t {\n    file %s\n%s}\n", path,
                            extra ? extra : "");
}

/* ---- table.identity ---------------------------------------------------- */

static void test_identity_answers_the_key(void **state)
{
    struct ph_instance *t = load("table.identity t", "t");
    assert_lookup(t, "alice@example.org", "alice@example.org");
    assert_lookup(t, "bob", "bob");
    assert_false(ph_table_is_mutable(t));
}

static void test_identity_rejects_directives(void **state)
{
    expect_config_error("table.identity t {\n    foo bar\n}",
                        "posthorn.conf:2: unknown directive \"foo\" in "
                        "table.identity block t");
}

/* ---- table.email_localpart and siblings -------------------------------- */

static void test_localpart_strips_the_domain(void **state)
{
    struct ph_instance *t = load("table.email_localpart t", "t");
    assert_lookup(t, "alice@example.org", "alice");
    assert_lookup(t, "\"a@b\"@example.org", "\"a@b\"");
    assert_not_found(t, "alice");
    assert_not_found(t, "@example.org");
    assert_not_found(t, "alice@");
    assert_not_found(t, "");
}

static void test_localpart_optional_passes_a_plain_name(void **state)
{
    struct ph_instance *t = load("table.email_localpart_optional t", "t");
    assert_lookup(t, "alice@example.org", "alice");
    assert_lookup(t, "alice", "alice");
    assert_not_found(t, "@example.org");
    assert_not_found(t, "");
}

static void test_with_domain_adds_every_domain(void **state)
{
    struct ph_instance *t = load("table.email_with_domain t {\n"
                                 "    domains example.org example.com\n"
                                 "}",
                                 "t");
    assert_lookup(t, "alice", "alice@example.org|alice@example.com");
    assert_not_found(t, "alice@example.net");
    assert_not_found(t, "");
}

static void test_with_domain_inline_arguments(void **state)
{
    struct ph_instance *t = load("table.chain t {\n"
                                 "    step email_with_domain example.org\n"
                                 "}",
                                 "t");
    assert_lookup(t, "bob", "bob@example.org");
}

static void test_with_domain_needs_a_domain(void **state)
{
    expect_config_error("table.email_with_domain t",
                        "posthorn.conf:1: table.email_with_domain block t: "
                        "needs at least one domain");
    expect_config_error("table.email_with_domain t {\n    domains a@b\n}",
                        "posthorn.conf:1: table.email_with_domain block t: "
                        "invalid domain \"a@b\"");
}

static void test_localpart_takes_no_domains(void **state)
{
    expect_config_error("table.email_localpart t {\n    domains x.org\n}",
                        "posthorn.conf:1: table.email_localpart block t: "
                        "takes no arguments (only table.email_with_domain "
                        "takes domains)");
}

/* ---- table.static ------------------------------------------------------ */

static void test_static_answers_entries(void **state)
{
    struct ph_instance *t = load("table.static t {\n"
                                 "    entry postmaster admin\n"
                                 "    entry team alice bob carol\n"
                                 "}",
                                 "t");
    assert_lookup(t, "postmaster", "admin");
    assert_lookup(t, "team", "alice|bob|carol");
    assert_not_found(t, "nobody");
    assert_not_found(t, "");
    assert_keys(t, "postmaster|team");
}

static void test_static_empty_block_finds_nothing(void **state)
{
    struct ph_instance *t = load("table.static t { }", "t");
    assert_not_found(t, "a");
}

static void test_static_is_read_only(void **state)
{
    struct ph_instance *t = load("table.static t {\n    entry a b\n}", "t");
    const char *values[] = {"c"};
    const char *error = NULL;
    assert_false(ph_table_is_mutable(t));
    assert_int_equal(ph_table_set(t, "a", values, 1, &error), -1);
    assert_string_equal(error, "this table cannot be changed");
    assert_int_equal(ph_table_remove(t, "a", &error), -1);
}

static void test_static_duplicate_key_is_an_error(void **state)
{
    expect_config_error("table.static t {\n"
                        "    entry a b\n"
                        "    entry c d\n"
                        "    entry a e\n"
                        "}",
                        "posthorn.conf:1: table.static block t: duplicate "
                        "entry key \"a\" (lines 2, 4)");
}

static void test_static_entry_needs_a_value(void **state)
{
    expect_config_error("table.static t {\n    entry a\n}",
                        "posthorn.conf:2: directive \"entry\" in table.static "
                        "block t takes at least 2 arguments, got 1");
}

static void test_static_takes_no_inline_arguments(void **state)
{
    expect_config_error("table.chain t {\n    step static a b\n}",
                        "posthorn.conf:2: module table.static takes no inline "
                        "arguments (got \"a\")");
}

/* ---- table.regexp ------------------------------------------------------ */

static void test_regexp_expands_placeholders(void **state)
{
    struct ph_instance *t =
        load("table.regexp t {\n"
             "    regexp \"([a-z]+)[+]([a-z]*)@(example[.]org)\" \"$1@$3\" "
             "\"${2}\" \"$0\" \"$$1 costs $x\"\n"
             "}",
             "t");
    assert_lookup(t, "alice+tag@example.org",
                  "alice@example.org|tag|alice+tag@example.org|$1 costs $x");
    assert_lookup(t, "bob+@example.org",
                  "bob@example.org||bob+@example.org|$1 costs $x");
    assert_not_found(t, "alice@example.org");
}

static void test_regexp_group_that_took_no_part_is_empty(void **state)
{
    struct ph_instance *t =
        load("table.regexp t {\n    regexp \"(a)|(b)\" \"[$1][$2]\"\n}", "t");
    assert_lookup(t, "a", "[a][]");
    assert_lookup(t, "b", "[][b]");
}

static void test_regexp_full_match_by_default(void **state)
{
    struct ph_instance *t =
        load("table.regexp t {\n    regexp \"b+\" \"x\"\n}", "t");
    assert_lookup(t, "bbb", "x");
    assert_not_found(t, "abbb");
    assert_not_found(t, "bbba");

    /* Alternatives are anchored as a whole, not only the outer ones. */
    t = load("table.regexp t {\n    regexp \"a|ab\" \"<$0>\"\n}", "t");
    assert_lookup(t, "ab", "<ab>");
    assert_not_found(t, "abc");
}

static void test_regexp_partial_match(void **state)
{
    struct ph_instance *t = load("table.regexp t {\n"
                                 "    regexp \"@(.+)$\" \"$1\"\n"
                                 "    full_match no\n"
                                 "}",
                                 "t");
    assert_lookup(t, "alice@example.org", "example.org");
    assert_not_found(t, "alice");
}

static void test_regexp_case(void **state)
{
    struct ph_instance *t =
        load("table.regexp t {\n    regexp \"alice\" \"yes\"\n}", "t");
    assert_lookup(t, "ALICE", "yes");
    t = load("table.regexp t {\n"
             "    regexp \"alice\" \"yes\"\n"
             "    case_insensitive no\n"
             "}",
             "t");
    assert_not_found(t, "ALICE");
    assert_lookup(t, "alice", "yes");
}

static void test_regexp_placeholders_off(void **state)
{
    struct ph_instance *t = load("table.regexp t {\n"
                                 "    regexp \"(.*)\" \"$1\" \"${9}\"\n"
                                 "    expand_placeholders no\n"
                                 "}",
                                 "t");
    assert_lookup(t, "alice", "$1|${9}");
}

static void test_regexp_inline_arguments(void **state)
{
    struct ph_instance *t = load("table.chain t {\n"
                                 "    step regexp \"(.+)@old[.]org\" "
                                 "\"$1@new.org\" \"$1@new.net\"\n"
                                 "}",
                                 "t");
    assert_lookup(t, "bob@old.org", "bob@new.org|bob@new.net");
    assert_not_found(t, "bob@new.org");
}

static void test_regexp_config_errors(void **state)
{
    expect_config_error("table.regexp t {\n    regexp \"(a\" \"b\"\n}",
                        "posthorn.conf:1: table.regexp block t: invalid "
                        "regexp \"(a\": Unmatched ( or \\(");
    expect_config_error("table.regexp t {\n    regexp \"(a)\" \"$2\"\n}",
                        "posthorn.conf:1: table.regexp block t: replacement "
                        "\"$2\" refers to group 2 but the regexp has 1");
    expect_config_error("table.regexp t {\n    regexp \"(a)\" \"${1\"\n}",
                        "posthorn.conf:1: table.regexp block t: replacement "
                        "\"${1\": ${ must hold a group number and end with }");
    expect_config_error("table.regexp t {\n    regexp \"a\"\n}",
                        "posthorn.conf:2: directive \"regexp\" in "
                        "table.regexp block t takes at least 2 arguments, "
                        "got 1");
    expect_config_error("table.regexp t {\n    full_match no\n}",
                        "posthorn.conf:1: missing required directive "
                        "\"regexp\" in table.regexp block t");
}

/* ---- table.chain ------------------------------------------------------- */

static void test_chain_runs_steps_in_order(void **state)
{
    struct ph_instance *t =
        load("table.static users {\n"
             "    entry alice alice-mailbox\n"
             "}\n"
             "table.chain t {\n"
             "    optional_step regexp \"([^+]+)[+].*@(.+)\" \"$1@$2\"\n"
             "    step email_localpart\n"
             "    step &users\n"
             "}",
             "t");
    assert_lookup(t, "alice+lists@example.org", "alice-mailbox");
    assert_lookup(t, "alice@example.org", "alice-mailbox");
    assert_not_found(t, "alice");
    assert_not_found(t, "bob@example.org");
}

static void test_chain_order_of_mixed_steps_matters(void **state)
{
    /* The same two steps in the other order: email_localpart must see the
     * address first, so the optional regexp only sees plain names. */
    struct ph_instance *t =
        load("table.chain t {\n"
             "    step email_localpart\n"
             "    optional_step regexp \"([^+]+)[+].*\" \"$1\"\n"
             "    step regexp \"alice\" \"found-$0\"\n"
             "}",
             "t");
    assert_lookup(t, "alice+x@example.org", "found-alice");
    assert_lookup(t, "alice@example.org", "found-alice");
    assert_not_found(t, "alice");
}

static void test_chain_fans_out_and_deduplicates(void **state)
{
    struct ph_instance *t = load("table.chain t {\n"
                                 "    step static {\n"
                                 "        entry team alice bob carol\n"
                                 "    }\n"
                                 "    step static {\n"
                                 "        entry alice box1\n"
                                 "        entry bob box2 box1\n"
                                 "    }\n"
                                 "}",
                                 "t");
    /* carol drops out; box1 is answered once. */
    assert_lookup(t, "team", "box1|box2");
}

static void test_chain_optional_step_passes_the_key_on(void **state)
{
    struct ph_instance *t = load("table.chain t {\n"
                                 "    optional_step static {\n"
                                 "        entry a b\n"
                                 "    }\n"
                                 "}",
                                 "t");
    assert_lookup(t, "a", "b");
    assert_lookup(t, "z", "z");
}

static void test_chain_tempfail_propagates(void **state)
{
    struct ph_buf conf = {0};
    ph_buf_puts(&conf, "table.static wide {\n    entry k");
    for (int i = 0; i < 101; i++)
        ph_buf_printf(&conf, " v%d", i);
    ph_buf_puts(&conf, "\n    entry j v1 v2\n}\n"
                       "table.chain inner {\n    step &wide\n}\n"
                       "table.chain t {\n"
                       "    step &inner\n"
                       "    step identity\n"
                       "}");
    struct ph_instance *t = load(conf.data, "t");
    ph_buf_free(&conf);
    assert_lookup(t, "k",
                  "TEMPFAIL: table.chain: a key fans out to more "
                  "than 100 values");
    assert_lookup(t, "j", "v1|v2");
    assert_not_found(t, "x");
}

static void test_chain_needs_a_step(void **state)
{
    expect_config_error("table.chain t { }",
                        "posthorn.conf:1: table.chain block t: needs at "
                        "least one step or optional_step");
    expect_config_error("table.chain t {\n    step &nothing\n}",
                        "posthorn.conf:2: step: no top-level block defines "
                        "\"nothing\"");
}

/* ---- table.file -------------------------------------------------------- */

static void test_file_format(void **state)
{
    char *path = tmp_path("aliases");
    write_file(path, "# aliases\n"
                     "\n"
                     "postmaster: admin@example.org\n"
                     "  team :  alice@example.org ,bob@example.org,, \r\n"
                     "blocked\n"
                     "empty:\n"
                     "\t# indented comment\n"
                     "last: no-newline");
    char *conf = file_conf(path, NULL);
    struct ph_instance *t = load(conf, "t");
    assert_lookup(t, "postmaster", "admin@example.org");
    assert_lookup(t, "team", "alice@example.org|bob@example.org");
    assert_lookup(t, "blocked", "");
    assert_lookup(t, "empty", "");
    assert_lookup(t, "last", "no-newline");
    assert_not_found(t, "# aliases");
    assert_not_found(t, "Postmaster");
    assert_keys(t, "blocked|empty|last|postmaster|team");
    assert_true(ph_table_is_mutable(t));
    free(conf);
    free(path);
}

static void test_file_inline_and_relative_path(void **state)
{
    char *path = tmp_path("users");
    write_file(path, "alice: box-a\n");
    struct ph_instance *t = load("table.chain t {\n"
                                 "    step file users\n"
                                 "}",
                                 "t");
    assert_lookup(t, "alice", "box-a");
    free(path);
}

static void test_file_malformed_at_create_is_an_error(void **state)
{
    char *path = tmp_path("bad");
    char *conf = file_conf(path, NULL);
    char *expected;

    write_file(path, "ok: 1\nnot ok: 2\n");
    expected = ph_strdup_printf("posthorn.conf:1: table.file block t: %s:2: "
                                "key \"not ok\" holds a blank (expected KEY: "
                                "VALUE, ...)",
                                path);
    expect_config_error(conf, expected);
    free(expected);

    write_file(path, "a: 1\nb: 2\n: 3\n");
    expected = ph_strdup_printf("posthorn.conf:1: table.file block t: %s:3: "
                                "empty key",
                                path);
    expect_config_error(conf, expected);
    free(expected);

    write_file(path, "a: 1\nb: 2\n\na: 3\n");
    expected = ph_strdup_printf("posthorn.conf:1: table.file block t: %s:4: "
                                "duplicate key \"a\" (first on line 1)",
                                path);
    expect_config_error(conf, expected);
    free(expected);

    FILE *f = fopen(path, "w");
    fwrite("a: 1\nb\0: 2\n", 1, 11, f);
    fclose(f);
    expected = ph_strdup_printf("posthorn.conf:1: table.file block t: %s:2: "
                                "NUL byte",
                                path);
    expect_config_error(conf, expected);
    free(expected);

    free(conf);
    conf = file_conf(tmp_dir, NULL);
    expected = ph_strdup_printf("posthorn.conf:1: table.file block t: %s: "
                                "not a regular file",
                                tmp_dir);
    expect_config_error(conf, expected);
    free(expected);

    expect_config_error("table.file t {\n    file \"\"\n}",
                        "posthorn.conf:1: table.file block t: the file name "
                        "is empty");
    expect_config_error("table.file t { }",
                        "posthorn.conf:1: missing required directive \"file\" "
                        "in table.file block t");
    free(conf);
    free(path);
}

static void test_file_missing_reads_empty_and_set_creates_it(void **state)
{
    char *path = tmp_path("new-users");
    char *conf = file_conf(path, NULL);
    struct ph_instance *t = load(conf, "t");
    assert_int_equal(count_in_log("event=file_missing"), 1);
    assert_not_found(t, "alice");
    assert_keys(t, "");

    const char *values[] = {"$y$hash"};
    const char *error = NULL;
    assert_int_equal(ph_table_set(t, "alice", values, 1, &error), 0);
    assert_file(path, "alice: $y$hash\n");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_lookup(t, "alice", "$y$hash");
    free(conf);
    free(path);
}

static void test_file_reloads_on_change(void **state)
{
    char *path = tmp_path("map");
    write_file(path, "a: 1\n");
    char *conf = file_conf(path, "    check_interval 0s\n");
    struct ph_instance *t = load(conf, "t");
    assert_lookup(t, "a", "1");

    /* Replaced by rename: a new inode. */
    replace_file(path, "a: 2\nb: 3\n");
    assert_lookup(t, "a", "2");
    assert_lookup(t, "b", "3");

    /* Rewritten in place with the same size: only the mtime tells. */
    write_file(path, "a: 4\nb: 5\n");
    bump_mtime(path, 10);
    assert_lookup(t, "a", "4");
    assert_lookup(t, "b", "5");
    assert_int_equal(count_in_log("event=reloaded"), 2);
    free(conf);
    free(path);
}

static void test_file_checks_at_most_every_interval(void **state)
{
    char *path = tmp_path("map");
    write_file(path, "a: 1\n");
    char *conf = file_conf(path, NULL); /* the default: 1s */
    struct ph_instance *t = load(conf, "t");
    replace_file(path, "a: 2\n");
    assert_lookup(t, "a", "1");
    usleep(1100 * 1000);
    assert_lookup(t, "a", "2");
    free(conf);
    free(path);
}

static void test_file_broken_file_keeps_old_data(void **state)
{
    char *path = tmp_path("map");
    write_file(path, "a: 1\n");
    char *conf = file_conf(path, "    check_interval 0s\n");
    struct ph_instance *t = load(conf, "t");

    replace_file(path, "a: 2\nb c: 3\n");
    assert_lookup(t, "a", "1");
    assert_lookup(t, "a", "1");
    assert_not_found(t, "b c");
    assert_int_equal(count_in_log("event=reload_failed"), 1);
    assert_int_equal(count_in_log("line=2 reason=\"key \\\"b c\\\" holds a "
                                  "blank"),
                     1);

    /* Unreadable: still the old data, logged once more. */
    replace_file(path, "a: 3\n");
    assert_int_equal(chmod(path, 0), 0);
    if (access(path, R_OK) != 0) { /* root reads anyway */
        assert_lookup(t, "a", "1");
        assert_lookup(t, "a", "1");
        assert_int_equal(count_in_log("event=reload_failed"), 2);
    }
    assert_int_equal(chmod(path, 0644), 0);
    assert_lookup(t, "a", "3");

    /* Deleted: the old data stays until a file is back. */
    assert_int_equal(unlink(path), 0);
    assert_lookup(t, "a", "3");
    assert_lookup(t, "a", "3");
    assert_int_equal(count_in_log("reason=\"file is missing\""), 1);
    write_file(path, "a: 4\n");
    assert_lookup(t, "a", "4");
    free(conf);
    free(path);
}

static void test_file_set_keeps_comments_and_order(void **state)
{
    char *path = tmp_path("users");
    write_file(path, "# users\r\n"
                     "bob: old\r\n"
                     "\n"
                     "# the admin\n"
                     "carol: x, y\n"
                     "dave");
    char *conf = file_conf(path, NULL);
    struct ph_instance *t = load(conf, "t");
    const char *error = NULL;

    const char *bob[] = {"new1", "new 2"};
    assert_int_equal(ph_table_set(t, "bob", bob, 2, &error), 0);
    assert_lookup(t, "bob", "new1|new 2");
    const char *alice[] = {"a"};
    assert_int_equal(ph_table_set(t, "alice", alice, 1, &error), 0);
    const char *erin[] = {""};
    assert_int_equal(ph_table_set(t, "erin", erin, 1, &error), 0);
    assert_int_equal(ph_table_set(t, "frank", NULL, 0, &error), 0);
    assert_file(path, "# users\r\n"
                      "bob: new1, new 2\n"
                      "\n"
                      "# the admin\n"
                      "carol: x, y\n"
                      "dave\n"
                      "alice: a\n"
                      "erin\n"
                      "frank\n");
    assert_lookup(t, "erin", "");
    assert_lookup(t, "frank", "");

    assert_int_equal(ph_table_remove(t, "carol", &error), 1);
    assert_int_equal(ph_table_remove(t, "carol", &error), 0);
    assert_int_equal(ph_table_remove(t, "frank", &error), 1);
    assert_file(path, "# users\r\n"
                      "bob: new1, new 2\n"
                      "\n"
                      "# the admin\n"
                      "dave\n"
                      "alice: a\n"
                      "erin\n");
    assert_not_found(t, "carol");
    assert_keys(t, "alice|bob|dave|erin");
    /* Only the file and the log: no temporary file left behind. */
    assert_int_equal(count_dir_entries(tmp_dir), 3); /* + run/ */
    free(conf);
    free(path);
}

static void test_file_set_keeps_mode_and_symlink(void **state)
{
    char *path = tmp_path("real");
    char *link = tmp_path("link");
    write_file(path, "a: 1\n");
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(symlink(path, link), 0);
    char *conf = file_conf(link, NULL);
    struct ph_instance *t = load(conf, "t");
    const char *values[] = {"2"};
    const char *error = NULL;
    assert_int_equal(ph_table_set(t, "a", values, 1, &error), 0);

    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_file(path, "a: 2\n");
    assert_lookup(t, "a", "2");
    free(conf);
    free(link);
    free(path);
}

static void test_file_set_rejects_what_it_cannot_write(void **state)
{
    char *path = tmp_path("users");
    write_file(path, "a: 1\n");
    char *conf = file_conf(path, NULL);
    struct ph_instance *t = load(conf, "t");
    const char *error = NULL;
    const char *one[] = {"x"};
    const char *comma[] = {"x,y"};
    const char *blank[] = {" x"};
    const char *empty_of_two[] = {"x", ""};

    assert_int_equal(ph_table_set(t, "a b", one, 1, &error), -1);
    assert_string_equal(error, "table.file: a key may not hold blanks, "
                               "control characters or ':'");
    assert_int_equal(ph_table_set(t, "a:b", one, 1, &error), -1);
    assert_int_equal(ph_table_set(t, "", one, 1, &error), -1);
    assert_string_equal(error, "table.file: empty key");
    assert_int_equal(ph_table_set(t, "#a", one, 1, &error), -1);
    assert_string_equal(error, "table.file: a key may not start with '#'");
    assert_int_equal(ph_table_set(t, "a", comma, 1, &error), -1);
    assert_string_equal(error, "table.file: a value may not hold commas or "
                               "line breaks");
    assert_int_equal(ph_table_set(t, "a", blank, 1, &error), -1);
    assert_string_equal(error, "table.file: a value may not start or end "
                               "with a blank");
    assert_int_equal(ph_table_set(t, "a", empty_of_two, 2, &error), -1);
    assert_string_equal(error, "table.file: an empty value must be the only "
                               "one");
    assert_file(path, "a: 1\n");

    /* A file broken since it was loaded is not rewritten. */
    write_file(path, "a: 1\nb c\n");
    assert_int_equal(ph_table_set(t, "a", one, 1, &error), -1);
    char *expected = ph_strdup_printf("table.file: %s:2: key \"b c\" holds a "
                                      "blank (expected KEY: VALUE, ...); fix "
                                      "the file first",
                                      path);
    assert_string_equal(error, expected);
    free(expected);
    assert_file(path, "a: 1\nb c\n");
    free(conf);
    free(path);
}

/* Readers check that every answer comes from one version of the file:
 * "k: N-a, N-b" always carries the same N twice. */
struct reader {
    struct ph_instance *t;
    atomic_bool *stop;
    atomic_int *errors;
    long lookups;
};

static void *reader_run(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(r->stop)) {
        struct ph_strlist values = {0};
        const char *error = NULL;
        enum ph_lookup res = ph_table_lookup(r->t, "k", &values, &error);
        long a = -1, b = -2;
        if (res != PH_LOOKUP_FOUND || values.n != 2 ||
            sscanf(values.v[0], "%ld-a", &a) != 1 ||
            sscanf(values.v[1], "%ld-b", &b) != 1 || a != b)
            atomic_fetch_add(r->errors, 1);
        ph_strlist_clear(&values);
        r->lookups++;
        /* Let the writer run: valgrind runs one thread at a time. */
        sched_yield();
    }
    return NULL;
}

static void test_file_concurrent_lookups_during_reloads(void **state)
{
    char *path = tmp_path("map");
    write_file(path, "k: 0-a, 0-b\n");
    char *conf = file_conf(path, "    check_interval 0s\n");
    struct ph_instance *t = load(conf, "t");
    atomic_bool stop;
    atomic_int errors;
    atomic_init(&stop, false);
    atomic_init(&errors, 0);
    struct reader readers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        readers[i] = (struct reader){.t = t, .stop = &stop, .errors = &errors};
        assert_int_equal(
            pthread_create(&threads[i], NULL, reader_run, &readers[i]), 0);
    }
    /* Half the versions come from outside (rename), half from set().
     * Under valgrind (scripts/check sets PH_UNDER_VALGRIND) 20 are enough. */
    int versions = getenv("PH_UNDER_VALGRIND") ? 20 : 200;
    for (int v = 1; v <= versions; v++) {
        char a[32], b[32];
        snprintf(a, sizeof(a), "%d-a", v);
        snprintf(b, sizeof(b), "%d-b", v);
        if (v % 2) {
            char *text = ph_strdup_printf("# version %d\nk: %s, %s\n", v, a, b);
            replace_file(path, text);
            free(text);
        } else {
            const char *values[] = {a, b};
            const char *error = NULL;
            assert_int_equal(ph_table_set(t, "k", values, 2, &error), 0);
        }
        if (v % 20 == 0)
            usleep(1000);
    }
    usleep(20 * 1000);
    atomic_store(&stop, true);
    long total = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        total += readers[i].lookups;
    }
    assert_int_equal(atomic_load(&errors), 0);
    assert_true(total > 0);
    char *last = ph_strdup_printf("%d-a|%d-b", versions, versions);
    assert_lookup(t, "k", last);
    free(last);
    free(conf);
    free(path);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_identity_answers_the_key),
        T(test_identity_rejects_directives),
        T(test_localpart_strips_the_domain),
        T(test_localpart_optional_passes_a_plain_name),
        T(test_with_domain_adds_every_domain),
        T(test_with_domain_inline_arguments),
        T(test_with_domain_needs_a_domain),
        T(test_localpart_takes_no_domains),
        T(test_static_answers_entries),
        T(test_static_empty_block_finds_nothing),
        T(test_static_is_read_only),
        T(test_static_duplicate_key_is_an_error),
        T(test_static_entry_needs_a_value),
        T(test_static_takes_no_inline_arguments),
        T(test_regexp_expands_placeholders),
        T(test_regexp_group_that_took_no_part_is_empty),
        T(test_regexp_full_match_by_default),
        T(test_regexp_partial_match),
        T(test_regexp_case),
        T(test_regexp_placeholders_off),
        T(test_regexp_inline_arguments),
        T(test_regexp_config_errors),
        T(test_chain_runs_steps_in_order),
        T(test_chain_order_of_mixed_steps_matters),
        T(test_chain_fans_out_and_deduplicates),
        T(test_chain_optional_step_passes_the_key_on),
        T(test_chain_tempfail_propagates),
        T(test_chain_needs_a_step),
        T(test_file_format),
        T(test_file_inline_and_relative_path),
        T(test_file_malformed_at_create_is_an_error),
        T(test_file_missing_reads_empty_and_set_creates_it),
        T(test_file_reloads_on_change),
        T(test_file_checks_at_most_every_interval),
        T(test_file_broken_file_keeps_old_data),
        T(test_file_set_keeps_comments_and_order),
        T(test_file_set_keeps_mode_and_symlink),
        T(test_file_set_rejects_what_it_cannot_write),
        T(test_file_concurrent_lookups_during_reloads),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
