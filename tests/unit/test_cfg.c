/* SPDX-License-Identifier: MIT */
/* Unit tests of the config parser (core/lib/cfg*.c): the language, its
 * expansions and every error text. Most tests run on in-memory files through
 * the read_file callback; a few read tests/data/cfg from disk. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <posthorn/config.h>

/* --- in-memory files and environment -------------------------------- */

struct mem_file {
    const char *path;
    const char *data; /* NULL: fail with err */
    int err;
};

static int mem_read(void *ctx, const char *path, char **data_r, size_t *len_r)
{
    for (const struct mem_file *f = ctx; f && f->path; f++) {
        if (strcmp(f->path, path) != 0)
            continue;
        if (f->data == NULL) {
            errno = f->err;
            return -1;
        }
        *data_r = strdup(f->data);
        *len_r = strlen(f->data);
        return 0;
    }
    errno = ENOENT;
    return -1;
}

static const char *mem_getenv(void *ctx, const char *name)
{
    (void)ctx;
    static const char *const env[][2] = {
        {"MAILDIR", "/srv/mail"}, {"EMPTY", ""},     {"SPACED", "a b"},
        {"HASH", "#x"},           {"MACRO", "$(m)"},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(env); i++)
        if (strcmp(env[i][0], name) == 0)
            return env[i][1];
    return NULL;
}

static struct ph_cfg_parse_opts mem_opts(const struct mem_file *fs)
{
    return (struct ph_cfg_parse_opts){
        .read_file = mem_read,
        .read_ctx = (void *)fs,
        .getenv = mem_getenv,
    };
}

/* --- tree dumps: one line a node, args quoted, @file:line ------------- */

static void dump_node(struct ph_buf *b, const struct ph_cfg_node *n, int ind)
{
    ph_buf_printf(b, "%*s%s", ind, "", n->name);
    for (size_t i = 0; i < n->nargs; i++)
        ph_buf_printf(b, " \"%s\"", n->args[i]);
    assert_null(n->args[n->nargs]);
    ph_buf_printf(b, " @%s:%d", n->file, n->line);
    if (!n->has_block) {
        assert_int_equal(n->nchildren, 0);
        ph_buf_puts(b, "\n");
        return;
    }
    ph_buf_puts(b, " {\n");
    for (size_t i = 0; i < n->nchildren; i++)
        dump_node(b, &n->children[i], ind + 2);
    ph_buf_printf(b, "%*s}\n", ind, "");
}

static char *dump(const struct ph_cfg_node *root)
{
    struct ph_buf b = {0};
    ph_buf_append(&b, "", 0);
    for (size_t i = 0; i < root->nchildren; i++)
        dump_node(&b, &root->children[i], 0);
    return ph_buf_steal(&b);
}

static void check_root(const struct ph_cfg_node *root, const char *file)
{
    assert_string_equal(root->name, "");
    assert_int_equal(root->nargs, 0);
    assert_null(root->args[0]);
    assert_false(root->has_block);
    assert_int_equal(root->line, 0);
    assert_string_equal(root->file, file);
}

/* Parses text as posthorn.conf with fs for imports; compares the dump. */
static void check_tree_fs(const char *text, const struct mem_file *fs,
                          const char *expected)
{
    struct ph_cfg_parse_opts opts = mem_opts(fs);
    struct ph_cfg_node *root = NULL;
    char *error = NULL;
    int r = ph_cfg_parse_buffer(text, strlen(text), "posthorn.conf", &opts,
                                &root, &error);
    if (r < 0)
        fail_msg("unexpected error: %s", error);
    assert_null(error);
    check_root(root, "posthorn.conf");
    char *got = dump(root);
    assert_string_equal(got, expected);
    free(got);
    ph_cfg_free(&root);
    assert_null(root);
}

static void check_tree(const char *text, const char *expected)
{
    check_tree_fs(text, NULL, expected);
}

static void check_error_len(const char *text, size_t len,
                            const struct mem_file *fs, const char *expected)
{
    struct ph_cfg_parse_opts opts = mem_opts(fs);
    struct ph_cfg_node *root = (struct ph_cfg_node *)&opts;
    char *error = NULL;
    int r =
        ph_cfg_parse_buffer(text, len, "posthorn.conf", &opts, &root, &error);
    assert_int_equal(r, -1);
    assert_null(root);
    assert_non_null(error);
    assert_string_equal(error, expected);
    free(error);
}

static void check_error_fs(const char *text, const struct mem_file *fs,
                           const char *expected)
{
    check_error_len(text, strlen(text), fs, expected);
}

static void check_error(const char *text, const char *expected)
{
    check_error_fs(text, NULL, expected);
}

/* --- lexer ------------------------------------------------------------ */

static void test_directives_split_on_whitespace(void **state)
{
    (void)state;
    check_tree("hostname  mx.example.org\n"
               "\n"
               "\ttls\toff  \n"
               "debug\n",
               "hostname \"mx.example.org\" @posthorn.conf:1\n"
               "tls \"off\" @posthorn.conf:3\n"
               "debug @posthorn.conf:4\n");
}

static void test_empty_input_gives_empty_root(void **state)
{
    (void)state;
    check_tree("", "");
    check_tree("\n\n  \n# only a comment\n", "");
}

static void test_last_line_needs_no_newline(void **state)
{
    (void)state;
    check_tree("a 1\nb 2",
               "a \"1\" @posthorn.conf:1\nb \"2\" @posthorn.conf:2\n");
}

static void test_comment_runs_to_end_of_line(void **state)
{
    (void)state;
    check_tree("# header\n"
               "a b # trailing { } \"\n"
               "   # indented\n"
               "c #\n",
               "a \"b\" @posthorn.conf:2\nc @posthorn.conf:4\n");
}

static void test_hash_inside_word_is_not_comment(void **state)
{
    (void)state;
    check_tree("a b#c d#\n", "a \"b#c\" \"d#\" @posthorn.conf:1\n");
}

static void test_quoted_token_keeps_hash(void **state)
{
    (void)state;
    check_tree("a \"# not a comment\" \"x#y\"\n",
               "a \"# not a comment\" \"x#y\" @posthorn.conf:1\n");
}

static void test_quoted_token_keeps_spaces(void **state)
{
    (void)state;
    check_tree("a \"two words\"  \" lead and trail \"\n",
               "a \"two words\" \" lead and trail \" @posthorn.conf:1\n");
}

static void test_quoted_token_escapes_quote_and_backslash(void **state)
{
    (void)state;
    check_tree("a \"say \\\"hi\\\"\" \"back\\\\slash\" \"\\\\\"\n",
               "a \"say \"hi\"\" \"back\\slash\" \"\\\" @posthorn.conf:1\n");
}

static void test_quoted_token_keeps_other_backslashes(void **state)
{
    (void)state;
    check_tree("regexp \"^\\d+\\.\\w$\" \"C:\\dir\"\n",
               "regexp \"^\\d+\\.\\w$\" \"C:\\dir\" @posthorn.conf:1\n");
}

static void test_empty_quoted_token_is_empty_arg(void **state)
{
    (void)state;
    check_tree("a \"\" b\n", "a \"\" \"b\" @posthorn.conf:1\n");
}

static void test_quote_inside_word_is_literal(void **state)
{
    (void)state;
    check_tree("a b\"c d\"\n", "a \"b\"c\" \"d\"\" @posthorn.conf:1\n");
}

static void test_quoted_name_is_a_name(void **state)
{
    (void)state;
    check_tree("\"two words\" x\n", "two words \"x\" @posthorn.conf:1\n");
}

static void test_braces_inside_words_are_words(void **state)
{
    (void)state;
    check_tree("a{ {} }b x{y}\n",
               "a{ \"{}\" \"}b\" \"x{y}\" @posthorn.conf:1\n");
}

static void test_quoted_braces_are_arguments(void **state)
{
    (void)state;
    check_tree("a \"{\" \"}\"\n", "a \"{\" \"}\" @posthorn.conf:1\n");
}

static void test_crlf_line_ends(void **state)
{
    (void)state;
    check_tree("a 1\r\nb {\r\n  c \"q\"\r\n}\r\n",
               "a \"1\" @posthorn.conf:1\n"
               "b @posthorn.conf:2 {\n"
               "  c \"q\" @posthorn.conf:3\n"
               "}\n");
}

static void test_backslash_continues_line(void **state)
{
    (void)state;
    check_tree("a 1 \\\n"
               "   2 \\\n"
               "   3\n"
               "b\n",
               "a \"1\" \"2\" \"3\" @posthorn.conf:1\nb @posthorn.conf:4\n");
}

static void test_backslash_continuation_with_comment_and_crlf(void **state)
{
    (void)state;
    check_tree("a 1 \\ # why\r\n  2\r\n", "a \"1\" \"2\" @posthorn.conf:1\n");
}

static void test_backslash_alone_joins_next_line(void **state)
{
    (void)state;
    check_tree("\\\na b\n", "a \"b\" @posthorn.conf:2\n");
}

static void test_backslash_continues_into_block_header(void **state)
{
    (void)state;
    check_tree("imap tcp://0.0.0.0:143 \\\n"
               "     tls://0.0.0.0:993 {\n"
               "  x\n"
               "}\n",
               "imap \"tcp://0.0.0.0:143\" \"tls://0.0.0.0:993\" "
               "@posthorn.conf:1 {\n"
               "  x @posthorn.conf:3\n"
               "}\n");
}

static void test_backslash_at_end_of_file_is_dropped(void **state)
{
    (void)state;
    check_tree("a 1 \\", "a \"1\" @posthorn.conf:1\n");
    check_tree("a 1 \\\n", "a \"1\" @posthorn.conf:1\n");
}

static void test_backslash_continuation_stops_at_blank_line(void **state)
{
    (void)state;
    check_tree("a \\\n\nb\n", "a @posthorn.conf:1\nb @posthorn.conf:3\n");
}

static void test_backslash_inside_words_is_literal(void **state)
{
    (void)state;
    /* Only a bare, unquoted `\` at the end of a line continues it. */
    check_tree("a b\\\nc \"\\\\\"\nd \\ e\n",
               "a \"b\\\" @posthorn.conf:1\n"
               "c \"\\\" @posthorn.conf:2\n"
               "d \"\\\" \"e\" @posthorn.conf:3\n");
}

static void test_token_at_size_limit_is_accepted(void **state)
{
    (void)state;
    size_t n = PH_CFG_MAX_TOKEN;
    char *text = malloc(n + 3);
    memcpy(text, "a ", 2);
    memset(text + 2, 'x', n);
    text[n + 2] = '\0';
    struct ph_cfg_node *root;
    char *error;
    assert_int_equal(ph_cfg_parse_buffer(text, n + 2, "t", NULL, &root, &error),
                     0);
    assert_int_equal(strlen(root->children[0].args[0]), n);
    ph_cfg_free(&root);
    free(text);
}

/* --- blocks ------------------------------------------------------------ */

static void test_block_holds_children(void **state)
{
    (void)state;
    check_tree("imap tcp://0.0.0.0:143 {\n"
               "    auth pam\n"
               "    storage &local\n"
               "}\n"
               "after\n",
               "imap \"tcp://0.0.0.0:143\" @posthorn.conf:1 {\n"
               "  auth \"pam\" @posthorn.conf:2\n"
               "  storage \"&local\" @posthorn.conf:3\n"
               "}\n"
               "after @posthorn.conf:5\n");
}

static void test_nested_blocks(void **state)
{
    (void)state;
    check_tree("a {\n b x {\n  c {\n  }\n }\n d\n}\n",
               "a @posthorn.conf:1 {\n"
               "  b \"x\" @posthorn.conf:2 {\n"
               "    c @posthorn.conf:3 {\n"
               "    }\n"
               "  }\n"
               "  d @posthorn.conf:6\n"
               "}\n");
}

static void test_empty_block_on_one_line(void **state)
{
    (void)state;
    check_tree("tls off { }\nnext\n",
               "tls \"off\" @posthorn.conf:1 {\n}\nnext @posthorn.conf:2\n");
}

static void test_one_directive_block_on_one_line(void **state)
{
    (void)state;
    check_tree("auth pass_table static { entry bob \"$2b$x\" }\nnext\n",
               "auth \"pass_table\" \"static\" @posthorn.conf:1 {\n"
               "  entry \"bob\" \"$2b$x\" @posthorn.conf:1\n"
               "}\nnext @posthorn.conf:2\n");
}

static void test_empty_block_on_two_lines(void **state)
{
    (void)state;
    check_tree("a {\n}\n", "a @posthorn.conf:1 {\n}\n");
}

static void test_no_braces_means_no_block(void **state)
{
    (void)state;
    struct ph_cfg_node *root;
    char *error;
    assert_int_equal(
        ph_cfg_parse_buffer("a\nb { }\n", 8, "t", NULL, &root, &error), 0);
    assert_false(root->children[0].has_block);
    assert_null(root->children[0].children);
    assert_true(root->children[1].has_block);
    assert_int_equal(root->children[1].nchildren, 0);
    ph_cfg_free(&root);
}

static void test_blocks_nest_to_the_depth_limit(void **state)
{
    (void)state;
    struct ph_buf in = {0}, want = {0};
    for (int i = 0; i < PH_CFG_MAX_DEPTH; i++) {
        ph_buf_printf(&in, "b%d {\n", i);
        ph_buf_printf(&want, "%*sb%d @posthorn.conf:%d {\n", 2 * i, "", i,
                      i + 1);
    }
    for (int i = PH_CFG_MAX_DEPTH - 1; i >= 0; i--) {
        ph_buf_puts(&in, "}\n");
        ph_buf_printf(&want, "%*s}\n", 2 * i, "");
    }
    check_tree(in.data, want.data);
    ph_buf_free(&in);
    ph_buf_free(&want);
}

/* --- {env:VAR} ---------------------------------------------------------- */

static void test_env_in_unquoted_and_quoted_tokens(void **state)
{
    (void)state;
    check_tree("path {env:MAILDIR}/x \"{env:MAILDIR} here\" {env:SPACED}\n",
               "path \"/srv/mail/x\" \"/srv/mail here\" \"a b\" "
               "@posthorn.conf:1\n");
}

static void test_env_unset_is_empty(void **state)
{
    (void)state;
    check_tree("a {env:NOPE} x{env:NOPE}y {env:EMPTY}\n",
               "a \"\" \"xy\" \"\" @posthorn.conf:1\n");
}

static void test_env_in_directive_name(void **state)
{
    (void)state;
    check_tree("x{env:SPACED} 1\n", "xa b \"1\" @posthorn.conf:1\n");
}

static void test_env_value_is_not_expanded_again(void **state)
{
    (void)state;
    check_tree("$(m) = macro\na {env:MACRO} {env:HASH}\n",
               "a \"$(m)\" \"#x\" @posthorn.conf:2\n");
}

static void test_env_malformed_reference_is_literal(void **state)
{
    (void)state;
    check_tree("a {env:} {env:A-B} {env:X {env\n",
               "a \"{env:}\" \"{env:A-B}\" \"{env:X\" \"{env\" "
               "@posthorn.conf:1\n");
}

static void test_env_defaults_to_process_environment(void **state)
{
    (void)state;
    setenv("PH_TEST_CFG_VAR", "from-env", 1);
    struct ph_cfg_node *root;
    char *error;
    const char *text = "a {env:PH_TEST_CFG_VAR}\n";
    assert_int_equal(
        ph_cfg_parse_buffer(text, strlen(text), "t", NULL, &root, &error), 0);
    assert_string_equal(root->children[0].args[0], "from-env");
    ph_cfg_free(&root);
    unsetenv("PH_TEST_CFG_VAR");
}

/* --- macros ------------------------------------------------------------ */

static void test_macro_bare_use_gives_each_value(void **state)
{
    (void)state;
    check_tree("$(hosts) = example.org \"mx example\" mail.example.org\n"
               "hostname first $(hosts) last\n",
               "hostname \"first\" \"example.org\" \"mx example\" "
               "\"mail.example.org\" \"last\" @posthorn.conf:2\n");
}

static void test_macro_without_values_gives_no_args(void **state)
{
    (void)state;
    check_tree("$(none) =\na $(none) b\nc $(none)\n",
               "a \"b\" @posthorn.conf:2\nc @posthorn.conf:3\n");
}

static void test_macro_inside_token_joins_values(void **state)
{
    (void)state;
    check_tree("$(l) = a b c\n$(d) = example.org\n"
               "x pre$(l)post user@$(d) $(d)$(d)\n",
               "x \"prea b cpost\" \"user@example.org\" "
               "\"example.orgexample.org\" @posthorn.conf:3\n");
}

static void test_macro_quoted_use_is_one_argument(void **state)
{
    (void)state;
    check_tree("$(l) = a b\nx \"$(l)\"\n", "x \"a b\" @posthorn.conf:2\n");
}

static void test_macro_chains_earlier_macros(void **state)
{
    (void)state;
    check_tree("$(a) = 1 2\n$(b) = 0 $(a) 3\n$(c) = <$(b)>\n"
               "x $(b) $(c)\n",
               "x \"0\" \"1\" \"2\" \"3\" \"<0 1 2 3>\" @posthorn.conf:4\n");
}

static void test_macro_redefinition_applies_from_then_on(void **state)
{
    (void)state;
    check_tree("$(v) = old\nx $(v)\n$(v) = new $(v)\ny $(v)\n",
               "x \"old\" @posthorn.conf:2\ny \"new\" \"old\" "
               "@posthorn.conf:4\n");
}

static void test_macro_expands_in_blocks_and_names(void **state)
{
    (void)state;
    check_tree("$(p) = pam\n$(n) = auth\nimap {\n  x_$(n) $(p)\n  "
               "\"$(n)\" 1\n}\n",
               "imap @posthorn.conf:3 {\n"
               "  x_auth \"pam\" @posthorn.conf:4\n"
               "  auth \"1\" @posthorn.conf:5\n"
               "}\n");
}

static void test_macro_value_env_expands_at_use(void **state)
{
    (void)state;
    check_tree("$(dir) = {env:MAILDIR}/boxes \"{env:SPACED}\"\n"
               "path $(dir) \"$(dir)\"\n",
               "path \"/srv/mail/boxes\" \"a b\" \"/srv/mail/boxes a b\" "
               "@posthorn.conf:2\n");
}

static void test_macro_like_text_that_is_no_reference_stays(void **state)
{
    (void)state;
    check_tree("regexp \"^(.+)$(.*)\" $( $(a b\n",
               "regexp \"^(.+)$(.*)\" \"$(\" \"$(a\" \"b\" @posthorn.conf:1\n");
}

static void test_macro_names_allow_dots_and_dashes(void **state)
{
    (void)state;
    check_tree("$(my-host.name_1) = h\nx $(my-host.name_1)\n",
               "x \"h\" @posthorn.conf:2\n");
}

/* --- imports and snippets ------------------------------------------------ */

static void test_import_splices_file_in_place(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"tls.conf", "tls file cert.pem key.pem\n\nhostname x\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("before\nimport tls.conf\nafter\n", fs,
                  "before @posthorn.conf:1\n"
                  "tls \"file\" \"cert.pem\" \"key.pem\" @tls.conf:1\n"
                  "hostname \"x\" @tls.conf:3\n"
                  "after @posthorn.conf:3\n");
}

static void test_import_falls_back_to_dot_conf(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"tls.conf", "tls off\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("import tls\n", fs, "tls \"off\" @tls.conf:1\n");
}

static void test_import_prefers_exact_name(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"tls", "exact\n", 0},
        {"tls.conf", "fallback\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("import tls\n", fs, "exact @tls:1\n");
}

static void test_import_is_relative_to_importing_file(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"/etc/ph/conf.d/a.conf", "a\nimport ../b\nimport sub/c\n", 0},
        {"/etc/ph/conf.d/../b.conf", "b\n", 0},
        {"/etc/ph/conf.d/sub/c.conf", "c\n", 0},
        {NULL, NULL, 0},
    };
    struct ph_cfg_parse_opts opts = mem_opts(fs);
    struct ph_cfg_node *root;
    char *error = NULL;
    const char *text = "import conf.d/a\n";
    int r = ph_cfg_parse_buffer(text, strlen(text), "/etc/ph/posthorn.conf",
                                &opts, &root, &error);
    if (r < 0)
        fail_msg("%s", error);
    char *got = dump(root);
    assert_string_equal(got, "a @/etc/ph/conf.d/a.conf:1\n"
                             "b @/etc/ph/conf.d/../b.conf:1\n"
                             "c @/etc/ph/conf.d/sub/c.conf:1\n");
    free(got);
    ph_cfg_free(&root);
}

static void test_import_absolute_path(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"/abs/x.conf", "x 1\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("import /abs/x\n", fs, "x \"1\" @/abs/x.conf:1\n");
}

static void test_import_inside_block(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"auth.conf", "auth pam\nopts {\n  x\n}\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("imap {\n  a\n  import auth\n  b\n}\n", fs,
                  "imap @posthorn.conf:1 {\n"
                  "  a @posthorn.conf:2\n"
                  "  auth \"pam\" @auth.conf:1\n"
                  "  opts @auth.conf:2 {\n"
                  "    x @auth.conf:3\n"
                  "  }\n"
                  "  b @posthorn.conf:4\n"
                  "}\n");
}

static void test_import_nested_files_keep_their_lines(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"a.conf", "\n\na 1\nimport b\na 2\n", 0},
        {"b.conf", "# b\nb {\n  import c\n}\n", 0},
        {"c.conf", "\n\n\n\nc\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("top\nimport a\n", fs,
                  "top @posthorn.conf:1\n"
                  "a \"1\" @a.conf:3\n"
                  "b @b.conf:2 {\n"
                  "  c @c.conf:5\n"
                  "}\n"
                  "a \"2\" @a.conf:5\n");
}

static void test_import_name_expands_macros_and_env(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"/srv/mail/x.conf", "x\n", 0},
        {"dir/y.conf", "y\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("$(d) = dir\nimport {env:MAILDIR}/x\nimport $(d)/y\n", fs,
                  "x @/srv/mail/x.conf:1\ny @dir/y.conf:1\n");
}

static void test_import_shares_macros_both_ways(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"m.conf", "$(inner) = i $(outer)\nuse $(outer)\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("$(outer) = o\nimport m\nafter $(inner)\n", fs,
                  "use \"o\" @m.conf:2\n"
                  "after \"i\" \"o\" @posthorn.conf:3\n");
}

static void test_import_same_file_twice(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"s.conf", "(common) {\n  c\n}\nx\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("import s\nimport s\nimport common\n", fs,
                  "x @s.conf:4\nx @s.conf:4\nc @s.conf:2\n");
}

static void test_import_depth_limit_is_reachable(void **state)
{
    (void)state;
    /* posthorn.conf -> f1 -> ... -> f8: eight imports nested. */
    char names[PH_CFG_MAX_IMPORT_DEPTH + 1][32];
    char data[PH_CFG_MAX_IMPORT_DEPTH + 1][32];
    struct mem_file fs[PH_CFG_MAX_IMPORT_DEPTH + 1];
    for (int i = 1; i <= PH_CFG_MAX_IMPORT_DEPTH; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d.conf", i);
        if (i < PH_CFG_MAX_IMPORT_DEPTH)
            snprintf(data[i], sizeof(data[i]), "import f%d\n", i + 1);
        else
            snprintf(data[i], sizeof(data[i]), "leaf\n");
        fs[i - 1] = (struct mem_file){names[i], data[i], 0};
    }
    fs[PH_CFG_MAX_IMPORT_DEPTH] = (struct mem_file){NULL, NULL, 0};
    check_tree_fs("import f1\n", fs, "leaf @f8.conf:1\n");
}

static void test_snippet_is_not_emitted_itself(void **state)
{
    (void)state;
    check_tree("(s) {\n  a\n}\nb\n", "b @posthorn.conf:4\n");
}

static void test_snippet_import_at_top_and_in_block(void **state)
{
    (void)state;
    check_tree("(local_auth) {\n"
               "    auth pam\n"
               "    sub {\n"
               "        x 1\n"
               "    }\n"
               "}\n"
               "import local_auth\n"
               "imap {\n"
               "    import local_auth\n"
               "}\n",
               "auth \"pam\" @posthorn.conf:2\n"
               "sub @posthorn.conf:3 {\n"
               "  x \"1\" @posthorn.conf:4\n"
               "}\n"
               "imap @posthorn.conf:8 {\n"
               "  auth \"pam\" @posthorn.conf:2\n"
               "  sub @posthorn.conf:3 {\n"
               "    x \"1\" @posthorn.conf:4\n"
               "  }\n"
               "}\n");
}

static void test_snippet_can_be_imported_above_its_definition(void **state)
{
    (void)state;
    check_tree("import s\n(s) {\n  a\n}\n", "a @posthorn.conf:3\n");
}

static void test_snippet_takes_precedence_over_file(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"s", "from_file\n", 0},
        {"s.conf", "from_file\n", 0},
        {NULL, NULL, 0},
    };
    check_tree_fs("(s) {\n  from_snippet\n}\nimport s\n", fs,
                  "from_snippet @posthorn.conf:2\n");
}

static void test_snippet_uses_macros_at_import(void **state)
{
    (void)state;
    check_tree("$(v) = 1\n(s) {\n  x $(v)\n}\nimport s\n$(v) = 2\n"
               "import s\n",
               "x \"1\" @posthorn.conf:3\nx \"2\" @posthorn.conf:3\n");
}

static void test_snippet_from_imported_file(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"lib/snips.conf", "(s) {\n  import inner\n}\n", 0},
        {"lib/inner.conf", "deep\n", 0},
        {NULL, NULL, 0},
    };
    /* The snippet's own import is relative to the file it is written in. */
    check_tree_fs("import lib/snips\nblock {\n  import s\n}\n", fs,
                  "block @posthorn.conf:2 {\n"
                  "  deep @lib/inner.conf:1\n"
                  "}\n");
}

static void test_snippet_imports_other_snippet(void **state)
{
    (void)state;
    check_tree("(a) {\n  x\n}\n(b) {\n  import a\n  y\n}\nimport b\n",
               "x @posthorn.conf:2\ny @posthorn.conf:6\n");
}

/* --- the API ----------------------------------------------------------- */

static void test_child_finds_first_by_name(void **state)
{
    (void)state;
    struct ph_cfg_node *root;
    char *error;
    const char *text = "a 1\nb {\n  c\n}\na 2\n";
    assert_int_equal(
        ph_cfg_parse_buffer(text, strlen(text), "t", NULL, &root, &error), 0);
    const struct ph_cfg_node *a = ph_cfg_child(root, "a");
    assert_non_null(a);
    assert_string_equal(a->args[0], "1");
    const struct ph_cfg_node *b = ph_cfg_child(root, "b");
    assert_non_null(ph_cfg_child(b, "c"));
    assert_null(ph_cfg_child(root, "c"));
    assert_null(ph_cfg_child(ph_cfg_child(b, "c"), "x"));
    ph_cfg_free(&root);
    ph_cfg_free(&root);
}

static void test_cfg_error_prefixes_file_and_line(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"inc.conf", "\nimap {\n  tsl on\n}\n", 0},
        {NULL, NULL, 0},
    };
    struct ph_cfg_parse_opts opts = mem_opts(fs);
    struct ph_cfg_node *root;
    char *error;
    const char *text = "import inc\n";
    assert_int_equal(ph_cfg_parse_buffer(text, strlen(text), "posthorn.conf",
                                         &opts, &root, &error),
                     0);
    const struct ph_cfg_node *n = &root->children[0].children[0];
    char *msg = ph_cfg_error(n, "unknown directive \"%s\" in %s block", n->name,
                             "imap");
    assert_string_equal(msg, "inc.conf:3: unknown directive \"tsl\" in imap "
                             "block");
    free(msg);
    msg = ph_cfg_error(root, "no endpoint configured");
    assert_string_equal(msg, "posthorn.conf: no endpoint configured");
    free(msg);
    ph_cfg_free(&root);
}

static void test_parse_file_uses_read_callback(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"/etc/posthorn/posthorn.conf", "import x\n", 0},
        {"/etc/posthorn/x.conf", "x\n", 0},
        {NULL, NULL, 0},
    };
    struct ph_cfg_parse_opts opts = mem_opts(fs);
    struct ph_cfg_node *root;
    char *error;
    assert_int_equal(
        ph_cfg_parse_file("/etc/posthorn/posthorn.conf", &opts, &root, &error),
        0);
    check_root(root, "/etc/posthorn/posthorn.conf");
    char *got = dump(root);
    assert_string_equal(got, "x @/etc/posthorn/x.conf:1\n");
    free(got);
    ph_cfg_free(&root);
}

/* --- real files in tests/data/cfg ------------------------------------- */

static char *data_dir(void)
{
    const char *top = getenv("top_srcdir");
    return ph_strdup_printf("%s/tests/data/cfg", top && *top ? top : ".");
}

static void test_real_files_import_relative_paths(void **state)
{
    (void)state;
    char *dir = data_dir();
    char *path = ph_strdup_printf("%s/main.conf", dir);
    struct ph_cfg_node *root;
    char *error = NULL;
    if (ph_cfg_parse_file(path, NULL, &root, &error) < 0)
        fail_msg("%s", error);
    check_root(root, path);
    char *got = dump(root);
    char *want = ph_strdup_printf(
        "hostname \"mx.example.org\" @%1$s/main.conf:4\n"
        "tls \"off\" @%1$s/common.conf:2\n"
        "storage.sqlite \"local_mailboxes\" @%1$s/main.conf:7 {\n"
        "  path \"/var/lib/posthorn\" @%1$s/sub/paths.conf:1\n"
        "  owner \"mx.example.org\" @%1$s/sub/../shared.conf:2\n"
        "  driver \"sqlite3\" @%1$s/main.conf:9\n"
        "}\n"
        "imap \"tcp://0.0.0.0:143\" @%1$s/main.conf:12 {\n"
        "  auth \"pam\" @%1$s/common.conf:5\n"
        "}\n",
        dir);
    assert_string_equal(got, want);
    free(got);
    free(want);
    ph_cfg_free(&root);
    free(path);
    free(dir);
}

static void test_real_files_import_cycle(void **state)
{
    (void)state;
    char *dir = data_dir();
    char *path = ph_strdup_printf("%s/cycle_a.conf", dir);
    struct ph_cfg_node *root;
    char *error = NULL;
    assert_int_equal(ph_cfg_parse_file(path, NULL, &root, &error), -1);
    char *want = ph_strdup_printf("%1$s/cycle_b.conf:2: import cycle: "
                                  "\"%1$s/cycle_a.conf\" -> "
                                  "\"%1$s/cycle_b.conf\" -> "
                                  "\"%1$s/cycle_a.conf\"",
                                  dir);
    assert_string_equal(error, want);
    free(want);
    free(error);
    free(path);
    free(dir);
}

static void test_real_file_missing(void **state)
{
    (void)state;
    char *dir = data_dir();
    char *path = ph_strdup_printf("%s/no-such.conf", dir);
    struct ph_cfg_node *root;
    char *error = NULL;
    assert_int_equal(ph_cfg_parse_file(path, NULL, &root, &error), -1);
    assert_null(root);
    char *want =
        ph_strdup_printf("%s: cannot open: No such file or directory", path);
    assert_string_equal(error, want);
    free(want);
    free(error);
    free(path);
    free(dir);
}

/* --- malformed input: the exact message for each ------------------------ */

static void test_error_close_brace_without_block(void **state)
{
    (void)state;
    check_error("a\n}\n", "posthorn.conf:2: unexpected '}': no block is open");
    check_error("a {\n}\n}\n",
                "posthorn.conf:3: unexpected '}': no block is open");
    check_error("} x\n", "posthorn.conf:1: unexpected '}': no block is open");
}

static void test_error_close_brace_after_directive(void **state)
{
    (void)state;
    check_error("a {\n  b }\n}\n",
                "posthorn.conf:2: '}' must be on a line of its own");
    check_error("a }\n", "posthorn.conf:1: '}' must be on a line of its own");
}

static void test_error_text_after_close_brace(void **state)
{
    (void)state;
    check_error("a {\n} b\n",
                "posthorn.conf:2: '}' must be on a line of its own");
    check_error("a {\n} {\n",
                "posthorn.conf:2: '}' must be on a line of its own");
}

static void test_error_open_brace_not_last(void **state)
{
    (void)state;
    check_error("a { b\n}\n",
                "posthorn.conf:1: '{' must be the last token on the line");
    check_error("a { b } x\n",
                "posthorn.conf:1: '{' must be the last token on the line");
    check_error("a { b { c } }\n",
                "posthorn.conf:1: a block on one line holds one directive "
                "without braces");
    check_error("a { b } }\n",
                "posthorn.conf:1: a block on one line holds one directive "
                "without braces");
    check_error("\n\na { } x\n",
                "posthorn.conf:3: '{' must be the last token on the line");
    check_error("a { {\n}\n",
                "posthorn.conf:1: '{' must be the last token on the line");
}

static void test_error_open_brace_without_name(void **state)
{
    (void)state;
    check_error("a\n{\n}\n", "posthorn.conf:2: unexpected '{': a block needs "
                             "a directive name before it");
    check_error("{ }\n", "posthorn.conf:1: unexpected '{': a block needs a "
                         "directive name before it");
}

static void test_error_block_not_closed(void **state)
{
    (void)state;
    check_error("x\na {\n  b\n",
                "posthorn.conf:3: block opened at posthorn.conf:2 is not "
                "closed");
    check_error("a {\n  b {\n  }\n\n# end",
                "posthorn.conf:5: block opened at posthorn.conf:1 is not "
                "closed");
    check_error("a {\n  b {\n", "posthorn.conf:2: block opened at "
                                "posthorn.conf:2 is not closed");
}

static void test_error_unterminated_quote(void **state)
{
    (void)state;
    check_error("a \"b\n", "posthorn.conf:1: unterminated quoted string");
    check_error("a\nb \"c d", "posthorn.conf:2: unterminated quoted string");
    check_error("a \"b\\\"\n", "posthorn.conf:1: unterminated quoted string");
    check_error("a \"line\r\n\"\n",
                "posthorn.conf:1: unterminated quoted string");
}

static void test_error_text_glued_to_closing_quote(void **state)
{
    (void)state;
    check_error("a \"b\"c\n",
                "posthorn.conf:1: a closing quote must be followed by a "
                "space");
    check_error("a \"b\"#c\n",
                "posthorn.conf:1: a closing quote must be followed by a "
                "space");
}

static void test_error_nul_byte(void **state)
{
    (void)state;
    check_error_len("a b\0c\n", 6, NULL,
                    "posthorn.conf:1: unexpected NUL byte");
    check_error_len("a\n# x\0\n", 7, NULL,
                    "posthorn.conf:2: unexpected NUL byte");
    check_error_len("a\n\nb \"\0\"\n", 8, NULL,
                    "posthorn.conf:3: unexpected NUL byte");
    check_error_len("\0", 1, NULL, "posthorn.conf:1: unexpected NUL byte");
}

static void test_error_token_too_long(void **state)
{
    (void)state;
    size_t n = PH_CFG_MAX_TOKEN + 1;
    char *text = malloc(n + 7);
    memcpy(text, "a\nb ", 4);
    memset(text + 4, 'x', n);
    text[n + 4] = '\0';
    check_error(text, "posthorn.conf:2: token longer than 65536 bytes");
    /* Quoted: 65537 bytes between the quotes. */
    text[4] = '"';
    memcpy(text + n + 4, "x\"", 3);
    check_error(text, "posthorn.conf:2: token longer than 65536 bytes");
    free(text);
}

static void test_error_blocks_too_deep(void **state)
{
    (void)state;
    struct ph_buf in = {0};
    for (int i = 0; i <= PH_CFG_MAX_DEPTH; i++)
        ph_buf_puts(&in, "b {\n");
    check_error(in.data, "posthorn.conf:17: blocks nested deeper than 16 "
                         "levels");
    ph_buf_reset(&in);
    for (int i = 0; i < PH_CFG_MAX_DEPTH; i++)
        ph_buf_puts(&in, "b {\n");
    ph_buf_puts(&in, "e { }\n");
    check_error(in.data, "posthorn.conf:17: blocks nested deeper than 16 "
                         "levels");
    ph_buf_free(&in);
}

static void test_error_blocks_too_deep_through_import(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"deep.conf", "c {\n  d {\n  }\n}\n", 0},
        {NULL, NULL, 0},
    };
    struct ph_buf in = {0};
    for (int i = 0; i < PH_CFG_MAX_DEPTH - 1; i++)
        ph_buf_puts(&in, "b {\n");
    ph_buf_puts(&in, "import deep\n");
    for (int i = 0; i < PH_CFG_MAX_DEPTH - 1; i++)
        ph_buf_puts(&in, "}\n");
    check_error_fs(in.data, fs,
                   "deep.conf:2: blocks nested deeper than 16 levels");
    ph_buf_free(&in);
}

static void test_error_empty_directive_name(void **state)
{
    (void)state;
    check_error("a\n\"\" x\n", "posthorn.conf:2: empty directive name");
    check_error("{env:NOPE} x\n", "posthorn.conf:1: empty directive name");
}

static void test_error_macro_inside_block(void **state)
{
    (void)state;
    check_error("a {\n  $(x) = 1\n}\n",
                "posthorn.conf:2: macro definitions are only allowed at top "
                "level");
}

static void test_error_macro_in_file_imported_into_block(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"m.conf", "x\n$(m) = 1\n", 0},
        {NULL, NULL, 0},
    };
    check_error_fs("a {\n  import m\n}\n", fs,
                   "m.conf:2: macro definitions are only allowed at top "
                   "level");
}

static void test_error_macro_inside_snippet(void **state)
{
    (void)state;
    check_error("(s) {\n  $(m) = 1\n}\nimport s\n",
                "posthorn.conf:2: macro definitions are only allowed at top "
                "level");
}

static void test_error_undefined_macro(void **state)
{
    (void)state;
    check_error("a $(foo)\n", "posthorn.conf:1: undefined macro $(foo)");
    check_error("a\n\nb x$(foo)y\n", "posthorn.conf:3: undefined macro $(foo)");
    check_error("a \"$(foo)\"\n", "posthorn.conf:1: undefined macro $(foo)");
    check_error("$(foo)x 1\n", "posthorn.conf:1: invalid macro name $(foo)x: "
                               "use $(name) with letters, digits, '_', '-' "
                               "or '.'");
    check_error("a$(foo) 1\n", "posthorn.conf:1: undefined macro $(foo)");
}

static void test_error_macro_used_before_definition(void **state)
{
    (void)state;
    check_error("a $(x)\n$(x) = 1\n", "posthorn.conf:1: undefined macro $(x)");
}

static void test_error_macro_definition_uses_undefined(void **state)
{
    (void)state;
    check_error("$(a) = $(b)\n", "posthorn.conf:1: undefined macro $(b)");
}

static void test_error_macro_without_equals(void **state)
{
    (void)state;
    check_error("$(x) 1\n", "posthorn.conf:1: expected '=' after $(x)");
    check_error("$(x)\n", "posthorn.conf:1: expected '=' after $(x)");
}

static void test_error_macro_bad_name(void **state)
{
    (void)state;
    check_error("$() = 1\n", "posthorn.conf:1: invalid macro name $(): use "
                             "$(name) with letters, digits, '_', '-' or '.'");
    check_error("$(a b) = 1\n", "posthorn.conf:1: invalid macro name $(a: use "
                                "$(name) with letters, digits, '_', '-' or "
                                "'.'");
}

static void test_error_macro_as_directive_name(void **state)
{
    (void)state;
    check_error("$(n) = auth\nimap {\n  $(n) pam\n}\n",
                "posthorn.conf:3: expected '=' after $(n)");
}

static void test_error_macro_with_block(void **state)
{
    (void)state;
    check_error("$(x) = 1 {\n}\n",
                "posthorn.conf:1: macro $(x) cannot have a block");
}

static void test_error_snippet_inside_block(void **state)
{
    (void)state;
    check_error("a {\n  (s) {\n  }\n}\n",
                "posthorn.conf:2: snippet definitions are only allowed at "
                "top level");
}

static void test_error_snippet_in_file_imported_into_block(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"s.conf", "(s) {\n  x\n}\n", 0},
        {NULL, NULL, 0},
    };
    check_error_fs("a {\n  import s\n}\n", fs,
                   "s.conf:1: snippet definitions are only allowed at top "
                   "level");
}

static void test_error_snippet_with_args(void **state)
{
    (void)state;
    check_error("(s) x {\n}\n",
                "posthorn.conf:1: snippet (s) takes no arguments");
}

static void test_error_snippet_without_block(void **state)
{
    (void)state;
    check_error("(s)\n", "posthorn.conf:1: snippet (s) needs a block: (s) { "
                         "... }");
}

static void test_error_snippet_without_name(void **state)
{
    (void)state;
    check_error("() {\n}\n",
                "posthorn.conf:1: a snippet needs a name: (name) { ... }");
}

static void test_error_snippet_defined_twice(void **state)
{
    (void)state;
    check_error("(s) {\n}\n(s) {\n}\n", "posthorn.conf:3: snippet (s) is "
                                        "already defined at posthorn.conf:1");
}

static void test_error_import_argument_count(void **state)
{
    (void)state;
    check_error("import\n", "posthorn.conf:1: import: expected one file or "
                            "snippet name, got 0 arguments");
    check_error("import a b\n", "posthorn.conf:1: import: expected one file "
                                "or snippet name, got 2 arguments");
    check_error("$(two) = a b\nimport $(two)\n",
                "posthorn.conf:2: import: expected one file or snippet name, "
                "got 2 arguments");
}

static void test_error_import_with_block(void **state)
{
    (void)state;
    check_error("import a {\n}\n",
                "posthorn.conf:1: import cannot have a block");
}

static void test_error_import_empty_name(void **state)
{
    (void)state;
    check_error("import {env:NOPE}\n", "posthorn.conf:1: import: empty name");
}

static void test_error_import_missing_file(void **state)
{
    (void)state;
    check_error("\nimport x\n", "posthorn.conf:2: import: cannot open \"x\" "
                                "or \"x.conf\": No such file or directory");
    check_error("import x.conf\n", "posthorn.conf:1: import: cannot open "
                                   "\"x.conf\": No such file or directory");
}

static void test_error_import_unreadable_file(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"secret", NULL, EACCES},
        {"dir.conf", NULL, EISDIR},
        {NULL, NULL, 0},
    };
    check_error_fs("import secret\n", fs,
                   "posthorn.conf:1: import: cannot "
                   "open \"secret\": Permission "
                   "denied");
    check_error_fs("import dir.conf\n", fs,
                   "posthorn.conf:1: import: cannot "
                   "open \"dir.conf\": Is a "
                   "directory");
}

static void test_error_import_missing_from_subdir(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"sub/a.conf", "\nimport b\n", 0},
        {NULL, NULL, 0},
    };
    check_error_fs("import sub/a\n", fs,
                   "sub/a.conf:2: import: cannot open \"sub/b\" or "
                   "\"sub/b.conf\": No such file or directory");
}

static void test_error_syntax_in_imported_file(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"a.conf", "x {\n}\n}\n", 0},
        {NULL, NULL, 0},
    };
    check_error_fs("ok\nimport a\n", fs,
                   "a.conf:3: unexpected '}': no block is open");
}

static void test_error_import_self(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"a.conf", "x\nimport ./a\n", 0},
        {"./a.conf", "x\nimport ./a\n", 0},
        {NULL, NULL, 0},
    };
    check_error_fs("import a\n", fs,
                   "a.conf:2: import cycle: \"a.conf\" -> \"./a.conf\"");
}

static void test_error_import_cycle_back_to_main(void **state)
{
    (void)state;
    const struct mem_file fs[] = {
        {"posthorn.conf", "import a\n", 0},
        {"a.conf", "import b\n", 0},
        {"b.conf", "\nimport posthorn\n", 0},
        {NULL, NULL, 0},
    };
    check_error_fs("import a\n", fs,
                   "b.conf:2: import cycle: \"posthorn.conf\" -> \"a.conf\" "
                   "-> \"b.conf\" -> \"posthorn.conf\"");
}

static void test_error_snippet_cycle(void **state)
{
    (void)state;
    check_error("(s) {\n  import t\n}\n(t) {\n  x\n  import s\n}\nimport s\n",
                "posthorn.conf:6: import cycle: (s) -> (t) -> (s)");
    check_error("(s) {\n  import s\n}\nimport s\n",
                "posthorn.conf:2: import cycle: (s) -> (s)");
}

static void test_error_import_too_deep(void **state)
{
    (void)state;
    /* posthorn.conf -> f1 -> ... -> f9: one import too many. */
    char names[PH_CFG_MAX_IMPORT_DEPTH + 2][32];
    char data[PH_CFG_MAX_IMPORT_DEPTH + 2][32];
    struct mem_file fs[PH_CFG_MAX_IMPORT_DEPTH + 2];
    for (int i = 1; i <= PH_CFG_MAX_IMPORT_DEPTH + 1; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d.conf", i);
        snprintf(data[i], sizeof(data[i]), "import f%d\n", i + 1);
        fs[i - 1] = (struct mem_file){names[i], data[i], 0};
    }
    fs[PH_CFG_MAX_IMPORT_DEPTH + 1] = (struct mem_file){NULL, NULL, 0};
    check_error_fs("import f1\n", fs,
                   "f8.conf:1: imports nested deeper than 8 levels");
}

static void test_error_snippet_import_too_deep(void **state)
{
    (void)state;
    struct ph_buf in = {0};
    for (int i = 0; i <= PH_CFG_MAX_IMPORT_DEPTH; i++)
        ph_buf_printf(&in, "(s%d) {\n  import s%d\n}\n", i, i + 1);
    ph_buf_puts(&in, "(s9) {\n  x\n}\nimport s0\n");
    check_error(in.data,
                "posthorn.conf:23: imports nested deeper than 8 levels");
    ph_buf_free(&in);
}

static void test_error_file_too_large(void **state)
{
    (void)state;
    size_t n = PH_CFG_MAX_FILE + 1;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    check_error_len(big, n, NULL,
                    "posthorn.conf: file is larger than 16777216 bytes");
    const struct mem_file fs[] = {
        {"big.conf", big, 0},
        {NULL, NULL, 0},
    };
    check_error_fs("\nimport big\n", fs,
                   "posthorn.conf:2: import: \"big.conf\" is larger than "
                   "16777216 bytes");
    free(big);
}

static void test_error_macro_bomb_hits_token_cap(void **state)
{
    (void)state;
    /* Each macro is ten of the one before: 10^7 tokens if unchecked. */
    check_error("$(a0) = x x x x x x x x x x\n"
                "$(a1) = $(a0) $(a0) $(a0) $(a0) $(a0) $(a0) $(a0) $(a0) "
                "$(a0) $(a0)\n"
                "$(a2) = $(a1) $(a1) $(a1) $(a1) $(a1) $(a1) $(a1) $(a1) "
                "$(a1) $(a1)\n"
                "$(a3) = $(a2) $(a2) $(a2) $(a2) $(a2) $(a2) $(a2) $(a2) "
                "$(a2) $(a2)\n"
                "$(a4) = $(a3) $(a3) $(a3) $(a3) $(a3) $(a3) $(a3) $(a3) "
                "$(a3) $(a3)\n"
                "$(a5) = $(a4) $(a4) $(a4) $(a4) $(a4) $(a4) $(a4) $(a4) "
                "$(a4) $(a4)\n"
                "$(a6) = $(a5) $(a5) $(a5) $(a5) $(a5) $(a5) $(a5) $(a5) "
                "$(a5) $(a5)\n",
                "posthorn.conf:6: configuration too large: more than 1000000 "
                "tokens after expansion");
}

static void test_error_snippet_bomb_hits_token_cap(void **state)
{
    (void)state;
    struct ph_buf in = {0};
    ph_buf_puts(&in, "(s0) {\n  x a b c d e f g h i\n}\n");
    for (int i = 1; i <= 7; i++) {
        ph_buf_printf(&in, "(s%d) {\n", i);
        for (int j = 0; j < 10; j++)
            ph_buf_printf(&in, "  import s%d\n", i - 1);
        ph_buf_puts(&in, "}\n");
    }
    ph_buf_puts(&in, "import s7\n");
    struct ph_cfg_node *root;
    char *error = NULL;
    assert_int_equal(
        ph_cfg_parse_buffer(in.data, in.len, "t", NULL, &root, &error), -1);
    assert_non_null(strstr(error, ": configuration too large: more than "
                                  "1000000 tokens after expansion"));
    free(error);
    ph_buf_free(&in);
}

static void test_error_expanded_token_too_long(void **state)
{
    (void)state;
    struct ph_buf in = {0};
    ph_buf_puts(&in, "$(a0) = xxxxxxxxxxxxxxxx\n");
    for (int i = 1; i <= 13; i++)
        ph_buf_printf(&in, "$(a%d) = $(a%d)$(a%d)\n", i, i - 1, i - 1);
    check_error(in.data, "posthorn.conf:14: token longer than 65536 bytes "
                         "after expansion");
    ph_buf_free(&in);
}

static void test_error_joined_macro_too_long(void **state)
{
    (void)state;
    /* 10^5 values of 1 byte joined by spaces pass 65536 bytes. */
    check_error("$(a) = x x x x x x x x x x\n"
                "$(b) = $(a) $(a) $(a) $(a) $(a) $(a) $(a) $(a) $(a) $(a)\n"
                "$(c) = $(b) $(b) $(b) $(b) $(b) $(b) $(b) $(b) $(b) $(b)\n"
                "$(d) = $(c) $(c) $(c) $(c) $(c) $(c) $(c) $(c) $(c) $(c)\n"
                "$(e) = $(d) $(d) $(d) $(d) $(d) $(d) $(d) $(d) $(d) $(d)\n"
                "x \"$(e)\"\n",
                "posthorn.conf:6: token longer than 65536 bytes after "
                "expansion");
}

static void test_error_total_bytes_cap(void **state)
{
    (void)state;
    /* 2100 uses of a 32 KiB value expand to more than 64 MiB. */
    struct ph_buf in = {0};
    ph_buf_puts(&in, "$(big) = ");
    for (int i = 0; i < 32768; i++)
        ph_buf_putc(&in, 'x');
    ph_buf_puts(&in, "\nx");
    for (int i = 0; i < 2100; i++)
        ph_buf_puts(&in, " $(big)");
    ph_buf_puts(&in, "\n");
    check_error(in.data, "posthorn.conf:2: configuration too large: more "
                         "than 67108864 bytes read and expanded");
    ph_buf_free(&in);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directives_split_on_whitespace),
        cmocka_unit_test(test_empty_input_gives_empty_root),
        cmocka_unit_test(test_last_line_needs_no_newline),
        cmocka_unit_test(test_comment_runs_to_end_of_line),
        cmocka_unit_test(test_hash_inside_word_is_not_comment),
        cmocka_unit_test(test_quoted_token_keeps_hash),
        cmocka_unit_test(test_quoted_token_keeps_spaces),
        cmocka_unit_test(test_quoted_token_escapes_quote_and_backslash),
        cmocka_unit_test(test_quoted_token_keeps_other_backslashes),
        cmocka_unit_test(test_empty_quoted_token_is_empty_arg),
        cmocka_unit_test(test_quote_inside_word_is_literal),
        cmocka_unit_test(test_quoted_name_is_a_name),
        cmocka_unit_test(test_braces_inside_words_are_words),
        cmocka_unit_test(test_quoted_braces_are_arguments),
        cmocka_unit_test(test_crlf_line_ends),
        cmocka_unit_test(test_backslash_continues_line),
        cmocka_unit_test(test_backslash_continuation_with_comment_and_crlf),
        cmocka_unit_test(test_backslash_alone_joins_next_line),
        cmocka_unit_test(test_backslash_continues_into_block_header),
        cmocka_unit_test(test_backslash_at_end_of_file_is_dropped),
        cmocka_unit_test(test_backslash_continuation_stops_at_blank_line),
        cmocka_unit_test(test_backslash_inside_words_is_literal),
        cmocka_unit_test(test_token_at_size_limit_is_accepted),
        cmocka_unit_test(test_block_holds_children),
        cmocka_unit_test(test_nested_blocks),
        cmocka_unit_test(test_empty_block_on_one_line),
        cmocka_unit_test(test_one_directive_block_on_one_line),
        cmocka_unit_test(test_empty_block_on_two_lines),
        cmocka_unit_test(test_no_braces_means_no_block),
        cmocka_unit_test(test_blocks_nest_to_the_depth_limit),
        cmocka_unit_test(test_env_in_unquoted_and_quoted_tokens),
        cmocka_unit_test(test_env_unset_is_empty),
        cmocka_unit_test(test_env_in_directive_name),
        cmocka_unit_test(test_env_value_is_not_expanded_again),
        cmocka_unit_test(test_env_malformed_reference_is_literal),
        cmocka_unit_test(test_env_defaults_to_process_environment),
        cmocka_unit_test(test_macro_bare_use_gives_each_value),
        cmocka_unit_test(test_macro_without_values_gives_no_args),
        cmocka_unit_test(test_macro_inside_token_joins_values),
        cmocka_unit_test(test_macro_quoted_use_is_one_argument),
        cmocka_unit_test(test_macro_chains_earlier_macros),
        cmocka_unit_test(test_macro_redefinition_applies_from_then_on),
        cmocka_unit_test(test_macro_expands_in_blocks_and_names),
        cmocka_unit_test(test_macro_value_env_expands_at_use),
        cmocka_unit_test(test_macro_like_text_that_is_no_reference_stays),
        cmocka_unit_test(test_macro_names_allow_dots_and_dashes),
        cmocka_unit_test(test_import_splices_file_in_place),
        cmocka_unit_test(test_import_falls_back_to_dot_conf),
        cmocka_unit_test(test_import_prefers_exact_name),
        cmocka_unit_test(test_import_is_relative_to_importing_file),
        cmocka_unit_test(test_import_absolute_path),
        cmocka_unit_test(test_import_inside_block),
        cmocka_unit_test(test_import_nested_files_keep_their_lines),
        cmocka_unit_test(test_import_name_expands_macros_and_env),
        cmocka_unit_test(test_import_shares_macros_both_ways),
        cmocka_unit_test(test_import_same_file_twice),
        cmocka_unit_test(test_import_depth_limit_is_reachable),
        cmocka_unit_test(test_snippet_is_not_emitted_itself),
        cmocka_unit_test(test_snippet_import_at_top_and_in_block),
        cmocka_unit_test(test_snippet_can_be_imported_above_its_definition),
        cmocka_unit_test(test_snippet_takes_precedence_over_file),
        cmocka_unit_test(test_snippet_uses_macros_at_import),
        cmocka_unit_test(test_snippet_from_imported_file),
        cmocka_unit_test(test_snippet_imports_other_snippet),
        cmocka_unit_test(test_child_finds_first_by_name),
        cmocka_unit_test(test_cfg_error_prefixes_file_and_line),
        cmocka_unit_test(test_parse_file_uses_read_callback),
        cmocka_unit_test(test_real_files_import_relative_paths),
        cmocka_unit_test(test_real_files_import_cycle),
        cmocka_unit_test(test_real_file_missing),
        cmocka_unit_test(test_error_close_brace_without_block),
        cmocka_unit_test(test_error_close_brace_after_directive),
        cmocka_unit_test(test_error_text_after_close_brace),
        cmocka_unit_test(test_error_open_brace_not_last),
        cmocka_unit_test(test_error_open_brace_without_name),
        cmocka_unit_test(test_error_block_not_closed),
        cmocka_unit_test(test_error_unterminated_quote),
        cmocka_unit_test(test_error_text_glued_to_closing_quote),
        cmocka_unit_test(test_error_nul_byte),
        cmocka_unit_test(test_error_token_too_long),
        cmocka_unit_test(test_error_blocks_too_deep),
        cmocka_unit_test(test_error_blocks_too_deep_through_import),
        cmocka_unit_test(test_error_empty_directive_name),
        cmocka_unit_test(test_error_macro_inside_block),
        cmocka_unit_test(test_error_macro_in_file_imported_into_block),
        cmocka_unit_test(test_error_macro_inside_snippet),
        cmocka_unit_test(test_error_undefined_macro),
        cmocka_unit_test(test_error_macro_used_before_definition),
        cmocka_unit_test(test_error_macro_definition_uses_undefined),
        cmocka_unit_test(test_error_macro_without_equals),
        cmocka_unit_test(test_error_macro_bad_name),
        cmocka_unit_test(test_error_macro_as_directive_name),
        cmocka_unit_test(test_error_macro_with_block),
        cmocka_unit_test(test_error_snippet_inside_block),
        cmocka_unit_test(test_error_snippet_in_file_imported_into_block),
        cmocka_unit_test(test_error_snippet_with_args),
        cmocka_unit_test(test_error_snippet_without_block),
        cmocka_unit_test(test_error_snippet_without_name),
        cmocka_unit_test(test_error_snippet_defined_twice),
        cmocka_unit_test(test_error_import_argument_count),
        cmocka_unit_test(test_error_import_with_block),
        cmocka_unit_test(test_error_import_empty_name),
        cmocka_unit_test(test_error_import_missing_file),
        cmocka_unit_test(test_error_import_unreadable_file),
        cmocka_unit_test(test_error_import_missing_from_subdir),
        cmocka_unit_test(test_error_syntax_in_imported_file),
        cmocka_unit_test(test_error_import_self),
        cmocka_unit_test(test_error_import_cycle_back_to_main),
        cmocka_unit_test(test_error_snippet_cycle),
        cmocka_unit_test(test_error_import_too_deep),
        cmocka_unit_test(test_error_snippet_import_too_deep),
        cmocka_unit_test(test_error_file_too_large),
        cmocka_unit_test(test_error_macro_bomb_hits_token_cap),
        cmocka_unit_test(test_error_snippet_bomb_hits_token_cap),
        cmocka_unit_test(test_error_expanded_token_too_long),
        cmocka_unit_test(test_error_joined_macro_too_long),
        cmocka_unit_test(test_error_total_bytes_cap),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
