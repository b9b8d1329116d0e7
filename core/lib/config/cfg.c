/* SPDX-License-Identifier: MIT */
/* Config expansion and the public parser API.
 *
 * Each file goes through the lexer and the syntax pass (cfg_lexer.c,
 * cfg_parser.c) into a tree of blocks as written; this file walks those
 * trees in file order and builds the ph_cfg_node tree with everything
 * expanded:
 *   - `$(name) = values...` (top level only) defines a macro from that line
 *     on; a later definition replaces an earlier one. A bare `$(name)`
 *     argument becomes all the values; `$(name)` inside a larger or quoted
 *     token becomes the values joined by single spaces.
 *   - `{env:VAR}` is replaced in every token after macros, so neither a
 *     macro nor a variable's value is expanded twice.
 *   - `(name) { ... }` (top level only) defines a snippet for the whole file
 *     it is written in, and for everything after an import of that file.
 *   - `import X` splices in snippet X, else the file X (or X.conf) relative
 *     to the importing file. Imported nodes keep their own file and line.
 * The counts of tokens and bytes are capped so that nesting macros or
 * imports cannot blow up. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_private.h"

/* What a parse returns: the root node and the file names its nodes use. */
struct cfg_tree {
    struct ph_cfg_node root; /* first: ph_cfg_free() finds the tree from it */
    struct ph_strlist files;
};

/* A file read during the parse. Its syntax tree lives as long as the parse
 * because snippets point into it. */
struct cfg_src {
    const char *path; /* in tree->files */
    struct cfg_raw raw;
};

struct cfg_snippet {
    const struct cfg_raw *raw;
    const char *file;
};

/* A string-keyed hash table (open addressing); values are owned by it. */
struct cfg_map_entry {
    char *key;
    void *value;
};

struct cfg_map {
    struct cfg_map_entry *v;
    size_t n, cap; /* cap is 0 or a power of two */
};

struct cfg_nodes {
    struct ph_cfg_node *v;
    size_t n, cap;
};

struct cfg_ctx {
    const struct ph_cfg_parse_opts *opts;
    struct cfg_tree *tree;
    struct cfg_src **srcs;
    size_t nsrcs, srcs_cap;
    struct cfg_map macros;   /* name -> struct ph_strlist * */
    struct cfg_map snippets; /* name -> struct cfg_snippet * */
    /* The imports being expanded, outermost (the main file) first. */
    struct ph_strlist stack_keys, stack_names;
    size_t ntokens, nbytes;
    char *error;
};

static int expand_list(struct cfg_ctx *ctx, const struct cfg_raw *list,
                       const char *file, int depth, bool file_top,
                       struct cfg_nodes *out);

/* --- small helpers ---------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static struct cfg_map_entry *map_slot(const struct cfg_map *m, const char *key)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)hash_str(key) & mask;; i = (i + 1) & mask)
        if (m->v[i].key == NULL || strcmp(m->v[i].key, key) == 0)
            return &m->v[i];
}

static void *map_get(const struct cfg_map *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    struct cfg_map_entry *e = map_slot(m, key);
    return e->key ? e->value : NULL;
}

/* Sets key to value; returns the value it replaces, or NULL. */
static void *map_put(struct cfg_map *m, const char *key, void *value)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct cfg_map old = *m;
        m->cap = old.cap ? old.cap * 2 : 16;
        m->v = ph_calloc(m->cap, sizeof(*m->v));
        for (size_t i = 0; i < old.cap; i++)
            if (old.v[i].key)
                *map_slot(m, old.v[i].key) = old.v[i];
        free(old.v);
    }
    struct cfg_map_entry *e = map_slot(m, key);
    if (e->key) {
        void *prev = e->value;
        e->value = value;
        return prev;
    }
    e->key = ph_strdup(key);
    e->value = value;
    m->n++;
    return NULL;
}

static void map_clear(struct cfg_map *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->v[i].key) {
            free(m->v[i].key);
            free_value(m->v[i].value);
        }
    }
    free(m->v);
    memset(m, 0, sizeof(*m));
}

static void strlist_free(void *p)
{
    struct ph_strlist *l = p;
    ph_strlist_clear(l);
    free(l);
}

static void node_clear(struct ph_cfg_node *n)
{
    free(n->name);
    for (size_t i = 0; i < n->nargs; i++)
        free(n->args[i]);
    free(n->args);
    for (size_t i = 0; i < n->nchildren; i++)
        node_clear(&n->children[i]);
    free(n->children);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Macro names: letters, digits, '_', '-', '.'. */
static bool is_macro_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

static bool is_env_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* The length of the reference "$(name)" that s starts with, or 0. */
static size_t macro_ref_len(const char *s)
{
    if (s[0] != '$' || s[1] != '(')
        return 0;
    size_t i = 2;
    while (is_macro_char(s[i]))
        i++;
    return i > 2 && s[i] == ')' ? i + 1 : 0;
}

/* --- errors and limits ------------------------------------------------ */

PH_PRINTF(4, 5)
static int fail(struct cfg_ctx *ctx, const char *file, int line,
                const char *fmt, ...)
{
    if (ctx->error)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    ctx->error = cfg_error_vformat(file, line, fmt, ap);
    va_end(ap);
    return -1;
}

static int count_bytes(struct cfg_ctx *ctx, const char *file, int line,
                       size_t len)
{
    ctx->nbytes += len;
    if (ctx->nbytes > PH_CFG_MAX_TOTAL)
        return fail(ctx, file, line,
                    "configuration too large: more than %d bytes read and "
                    "expanded",
                    PH_CFG_MAX_TOTAL);
    return 0;
}

static int count_token(struct cfg_ctx *ctx, const char *file, int line,
                       size_t len)
{
    if (len > PH_CFG_MAX_TOKEN)
        return fail(ctx, file, line,
                    "token longer than %d bytes after expansion",
                    PH_CFG_MAX_TOKEN);
    if (++ctx->ntokens > PH_CFG_MAX_TOKENS)
        return fail(ctx, file, line,
                    "configuration too large: more than %d tokens after "
                    "expansion",
                    PH_CFG_MAX_TOKENS);
    return count_bytes(ctx, file, line, len);
}

/* --- macros and {env:VAR} --------------------------------------------- */

static const struct ph_strlist *macro_get(struct cfg_ctx *ctx, const char *ref,
                                          size_t reflen)
{
    char *name = ph_strndup(ref + 2, reflen - 3);
    const struct ph_strlist *l = map_get(&ctx->macros, name);
    free(name);
    return l;
}

/* Appends text to out with every $(name) replaced by its values joined by
 * spaces. */
static int subst_macros(struct cfg_ctx *ctx, const char *text, const char *file,
                        int line, struct ph_buf *out)
{
    const char *p = text;
    for (;;) {
        const char *ref = strstr(p, "$(");
        size_t n = ref ? macro_ref_len(ref) : 0;
        if (ref == NULL) {
            ph_buf_puts(out, p);
            break;
        }
        ph_buf_append(out, p, (size_t)(ref - p));
        if (n == 0) {
            /* Not a reference ("$(" in a regexp, say): keep it. */
            ph_buf_append(out, ref, 2);
            p = ref + 2;
            continue;
        }
        const struct ph_strlist *vals = macro_get(ctx, ref, n);
        if (vals == NULL)
            return fail(ctx, file, line, "undefined macro %.*s", (int)n, ref);
        for (size_t i = 0; i < vals->n && out->len <= PH_CFG_MAX_TOKEN; i++) {
            if (i > 0)
                ph_buf_putc(out, ' ');
            ph_buf_puts(out, vals->v[i]);
        }
        if (out->len > PH_CFG_MAX_TOKEN)
            return fail(ctx, file, line,
                        "token longer than %d bytes after expansion",
                        PH_CFG_MAX_TOKEN);
        p = ref + n;
    }
    return 0;
}

static const char *env_get(struct cfg_ctx *ctx, const char *name)
{
    if (ctx->opts && ctx->opts->getenv)
        return ctx->opts->getenv(ctx->opts->getenv_ctx, name);
    return getenv(name);
}

/* Appends text to out with every {env:VAR} replaced; unset is empty. */
static int subst_env(struct cfg_ctx *ctx, const char *text, const char *file,
                     int line, struct ph_buf *out)
{
    const char *p = text;
    for (;;) {
        const char *ref = strstr(p, "{env:");
        if (ref == NULL) {
            ph_buf_puts(out, p);
            break;
        }
        ph_buf_append(out, p, (size_t)(ref - p));
        size_t i = 5;
        while (is_env_char(ref[i]))
            i++;
        if (i == 5 || ref[i] != '}') {
            ph_buf_append(out, ref, 5);
            p = ref + 5;
            continue;
        }
        char *name = ph_strndup(ref + 5, i - 5);
        const char *value = env_get(ctx, name);
        free(name);
        if (value)
            ph_buf_puts(out, value);
        if (out->len > PH_CFG_MAX_TOKEN)
            return fail(ctx, file, line,
                        "token longer than %d bytes after expansion",
                        PH_CFG_MAX_TOKEN);
        p = ref + i + 1;
    }
    return 0;
}

/* Returns text as one new token after the substitutions asked for, or
 * NULL on error. */
static char *expand_str(struct cfg_ctx *ctx, const char *text, const char *file,
                        int line, bool macros, bool env)
{
    struct ph_buf a = {0}, b = {0};
    const char *cur = text;
    int r = 0;
    if (macros && strstr(cur, "$(")) {
        ph_buf_append(&a, "", 0);
        r = subst_macros(ctx, cur, file, line, &a);
        cur = a.data;
    }
    if (r == 0 && env && strstr(cur, "{env:")) {
        ph_buf_append(&b, "", 0);
        r = subst_env(ctx, cur, file, line, &b);
        cur = b.data;
    }
    char *s = NULL;
    if (r == 0)
        s = cur == text ? ph_strdup(text)
                        : ph_buf_steal(cur == b.data ? &b : &a);
    ph_buf_free(&a);
    ph_buf_free(&b);
    if (s && count_token(ctx, file, line, strlen(s)) < 0) {
        free(s);
        s = NULL;
    }
    return s;
}

static int expand_one(struct cfg_ctx *ctx, const char *text, const char *file,
                      int line, bool macros, bool env, struct ph_strlist *out)
{
    char *s = expand_str(ctx, text, file, line, macros, env);
    if (s == NULL)
        return -1;
    ph_strlist_add_owned(out, s);
    return 0;
}

/* Appends what t becomes: an unquoted bare $(name) gives each of the
 * macro's values, anything else one string. */
static int expand_token(struct cfg_ctx *ctx, const struct cfg_token *t,
                        const char *file, bool env, struct ph_strlist *out)
{
    size_t n = t->quoted ? 0 : macro_ref_len(t->text);
    if (n == 0 || t->text[n] != '\0')
        return expand_one(ctx, t->text, file, t->line, true, env, out);
    const struct ph_strlist *vals = macro_get(ctx, t->text, n);
    if (vals == NULL)
        return fail(ctx, file, t->line, "undefined macro %s", t->text);
    for (size_t i = 0; i < vals->n; i++)
        if (expand_one(ctx, vals->v[i], file, t->line, false, env, out) < 0)
            return -1;
    return 0;
}

static int expand_args(struct cfg_ctx *ctx, const struct cfg_raw *c,
                       const char *file, size_t from, bool env,
                       struct ph_strlist *out)
{
    for (size_t i = from; i < c->ntoks; i++)
        if (expand_token(ctx, &c->toks[i], file, env, out) < 0)
            return -1;
    return 0;
}

static int define_macro(struct cfg_ctx *ctx, const struct cfg_raw *c,
                        const char *file)
{
    const char *ref = c->toks[0].text;
    size_t n = macro_ref_len(ref);
    if (n == 0 || ref[n] != '\0')
        return fail(ctx, file, c->line,
                    "invalid macro name %s: use $(name) with letters, "
                    "digits, '_', '-' or '.'",
                    ref);
    if (c->ntoks < 2 || strcmp(c->toks[1].text, "=") != 0)
        return fail(ctx, file, c->line, "expected '=' after %s", ref);
    if (c->has_block)
        return fail(ctx, file, c->line, "macro %s cannot have a block", ref);
    struct ph_strlist *vals = ph_calloc(1, sizeof(*vals));
    /* {env:VAR} stays until the macro is used, like everywhere else. */
    if (expand_args(ctx, c, file, 2, false, vals) < 0) {
        strlist_free(vals);
        return -1;
    }
    char *name = ph_strndup(ref + 2, n - 3);
    struct ph_strlist *old = map_put(&ctx->macros, name, vals);
    free(name);
    if (old)
        strlist_free(old);
    return 0;
}

/* --- snippets and imports --------------------------------------------- */

static bool is_snippet_def(const struct cfg_token *t)
{
    size_t n = strlen(t->text);
    return !t->quoted && n >= 2 && t->text[0] == '(' && t->text[n - 1] == ')';
}

/* Registers the snippets defined at the top of one file, so that the file
 * may import them above their definition. */
static int hoist_snippets(struct cfg_ctx *ctx, const struct cfg_raw *list,
                          const char *file)
{
    for (size_t i = 0; i < list->nchildren; i++) {
        const struct cfg_raw *c = &list->children[i];
        const char *text = c->toks[0].text;
        if (!is_snippet_def(&c->toks[0]))
            continue;
        if (text[1] == ')')
            return fail(ctx, file, c->line,
                        "a snippet needs a name: (name) { ... }");
        if (c->ntoks > 1)
            return fail(ctx, file, c->line, "snippet %s takes no arguments",
                        text);
        if (!c->has_block)
            return fail(ctx, file, c->line,
                        "snippet %s needs a block: %s { ... }", text, text);
        char *name = ph_strndup(text + 1, strlen(text) - 2);
        struct cfg_snippet *old = map_get(&ctx->snippets, name);
        if (old && old->raw->line == c->line && strcmp(old->file, file) == 0) {
            /* The same file imported again: the same definition. */
            free(name);
            continue;
        }
        if (old) {
            free(name);
            return fail(ctx, file, c->line,
                        "snippet %s is already defined at %s:%d", text,
                        old->file, old->raw->line);
        }
        struct cfg_snippet *sn = ph_malloc(sizeof(*sn));
        *sn = (struct cfg_snippet){.raw = c, .file = file};
        map_put(&ctx->snippets, name, sn);
        free(name);
    }
    return 0;
}

/* A lexical form of path for cycle detection: no ".", "..", "//". */
static char *path_key(const char *path)
{
    struct ph_strlist segs = {0};
    bool abs = path[0] == '/';
    const char *p = path;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.' && segs.n > 0 &&
            strcmp(segs.v[segs.n - 1], "..") != 0) {
            free(segs.v[--segs.n]);
            segs.v[segs.n] = NULL;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            ph_strlist_add_owned(&segs, ph_strndup(p, n));
        }
        p += n + (e != NULL);
    }
    struct ph_buf b = {0};
    ph_buf_puts(&b, abs ? "file:/" : "file:");
    for (size_t i = 0; i < segs.n; i++)
        ph_buf_printf(&b, "%s%s", i ? "/" : "", segs.v[i]);
    ph_strlist_clear(&segs);
    return ph_buf_steal(&b);
}

/* Starts expanding an import, unless it closes a cycle or nests too deep.
 * key identifies what is imported, name shows it in messages. */
static int import_enter(struct cfg_ctx *ctx, const char *key, const char *name,
                        const char *file, int line)
{
    for (size_t i = 0; i < ctx->stack_keys.n; i++) {
        if (strcmp(ctx->stack_keys.v[i], key) != 0)
            continue;
        struct ph_buf b = {0};
        for (size_t j = i; j < ctx->stack_names.n; j++)
            ph_buf_printf(&b, "%s -> ", ctx->stack_names.v[j]);
        ph_buf_puts(&b, name);
        fail(ctx, file, line, "import cycle: %s", b.data);
        ph_buf_free(&b);
        return -1;
    }
    /* The main file is the first entry, not an import. */
    if (ctx->stack_keys.n > PH_CFG_MAX_IMPORT_DEPTH)
        return fail(ctx, file, line, "imports nested deeper than %d levels",
                    PH_CFG_MAX_IMPORT_DEPTH);
    ph_strlist_add(&ctx->stack_keys, key);
    ph_strlist_add(&ctx->stack_names, name);
    return 0;
}

static void import_leave(struct cfg_ctx *ctx)
{
    free(ctx->stack_keys.v[--ctx->stack_keys.n]);
    ctx->stack_keys.v[ctx->stack_keys.n] = NULL;
    free(ctx->stack_names.v[--ctx->stack_names.n]);
    ctx->stack_names.v[ctx->stack_names.n] = NULL;
}

static int read_disk(void *unused, const char *path, char **data_r,
                     size_t *len_r)
{
    (void)unused;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct ph_buf b = {0};
    ph_buf_append(&b, "", 0);
    char chunk[16384];
    /* Reading one byte past the limit is enough to refuse the file. */
    while (b.len <= PH_CFG_MAX_FILE) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            ph_buf_free(&b);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        ph_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    *len_r = b.len;
    *data_r = ph_buf_steal(&b);
    return 0;
}

/* Reads path: 0, or the errno. */
static int read_src(struct cfg_ctx *ctx, const char *path, char **data_r,
                    size_t *len_r)
{
    ph_cfg_read_fn *fn =
        ctx->opts && ctx->opts->read_file ? ctx->opts->read_file : read_disk;
    void *arg = ctx->opts ? ctx->opts->read_ctx : NULL;
    *data_r = NULL;
    *len_r = 0;
    errno = 0;
    if (fn(arg, path, data_r, len_r) == 0)
        return 0;
    return errno ? errno : EIO;
}

/* A copy of path that the tree owns, for its nodes' file. */
static const char *tree_file(struct cfg_ctx *ctx, const char *path)
{
    ph_strlist_add(&ctx->tree->files, path);
    return ctx->tree->files.v[ctx->tree->files.n - 1];
}

/* Parses data (then frees it) as the file name (from tree_file()) and
 * splices its directives into out. */
static int expand_file(struct cfg_ctx *ctx, char *data, size_t len,
                       const char *name, int depth, struct cfg_nodes *out)
{
    struct cfg_src *src = ph_calloc(1, sizeof(*src));
    src->path = name;
    ph_array_grow(&ctx->srcs, &ctx->srcs_cap, ctx->nsrcs + 1,
                  sizeof(*ctx->srcs));
    ctx->srcs[ctx->nsrcs++] = src;
    char *err = NULL;
    int r = cfg_raw_parse(data, len, name, &src->raw, &err);
    free(data);
    if (r < 0) {
        /* Every failure returns at once, so nothing was reported yet. */
        ph_assert(ctx->error == NULL);
        ctx->error = err;
        return -1;
    }
    return expand_list(ctx, &src->raw, name, depth, true, out);
}

static int import_file(struct cfg_ctx *ctx, const char *what, const char *file,
                       int line, int depth, struct cfg_nodes *out)
{
    struct ph_buf path = {0};
    if (what[0] != '/') {
        const char *slash = strrchr(file, '/');
        if (slash)
            ph_buf_append(&path, file, (size_t)(slash - file + 1));
    }
    ph_buf_puts(&path, what);
    char *data;
    size_t len;
    int err = read_src(ctx, path.data, &data, &len);
    if (err == ENOENT && !ends_with(path.data, ".conf")) {
        char *alt = ph_strdup_printf("%s.conf", path.data);
        err = read_src(ctx, alt, &data, &len);
        if (err == ENOENT)
            fail(ctx, file, line, "import: cannot open \"%s\" or \"%s\": %s",
                 path.data, alt, strerror(err));
        ph_buf_free(&path);
        ph_buf_puts(&path, alt);
        free(alt);
    }
    if (err) {
        fail(ctx, file, line, "import: cannot open \"%s\": %s", path.data,
             strerror(err));
        ph_buf_free(&path);
        return -1;
    }
    if (len > PH_CFG_MAX_FILE) {
        fail(ctx, file, line, "import: \"%s\" is larger than %d bytes",
             path.data, PH_CFG_MAX_FILE);
        free(data);
        ph_buf_free(&path);
        return -1;
    }
    char *key = path_key(path.data);
    char *shown = ph_strdup_printf("\"%s\"", path.data);
    int r = count_bytes(ctx, file, line, len);
    if (r == 0)
        r = import_enter(ctx, key, shown, file, line);
    free(key);
    free(shown);
    if (r == 0) {
        r = expand_file(ctx, data, len, tree_file(ctx, path.data), depth, out);
        import_leave(ctx);
    } else {
        free(data);
    }
    ph_buf_free(&path);
    return r;
}

static int expand_import(struct cfg_ctx *ctx, const struct cfg_raw *c,
                         const char *file, int depth, struct cfg_nodes *out)
{
    if (c->has_block)
        return fail(ctx, file, c->line, "import cannot have a block");
    struct ph_strlist args = {0};
    int r = expand_args(ctx, c, file, 1, true, &args);
    if (r == 0 && args.n != 1)
        r = fail(ctx, file, c->line,
                 "import: expected one file or snippet name, got %zu "
                 "arguments",
                 args.n);
    if (r == 0 && args.v[0][0] == '\0')
        r = fail(ctx, file, c->line, "import: empty name");
    if (r < 0) {
        ph_strlist_clear(&args);
        return -1;
    }
    const char *what = args.v[0];
    const struct cfg_snippet *sn = map_get(&ctx->snippets, what);
    if (sn == NULL) {
        r = import_file(ctx, what, file, c->line, depth, out);
        ph_strlist_clear(&args);
        return r;
    }
    char *key = ph_strdup_printf("snippet:%s", what);
    char *name = ph_strdup_printf("(%s)", what);
    r = import_enter(ctx, key, name, file, c->line);
    if (r == 0) {
        r = expand_list(ctx, sn->raw, sn->file, depth, false, out);
        import_leave(ctx);
    }
    free(key);
    free(name);
    ph_strlist_clear(&args);
    return r;
}

/* --- the tree --------------------------------------------------------- */

/* Appends the node for directive c (its name already expanded). */
static int expand_node(struct cfg_ctx *ctx, const struct cfg_raw *c, char *name,
                       const char *file, int depth, struct cfg_nodes *out)
{
    struct ph_cfg_node node = {
        .name = name,
        .has_block = c->has_block,
        .file = file,
        .line = c->line,
    };
    struct ph_strlist args = {0};
    int r = expand_args(ctx, c, file, 1, true, &args);
    if (args.v == NULL)
        args.v = ph_calloc(1, sizeof(char *));
    node.args = args.v;
    node.nargs = args.n;
    if (r == 0 && c->has_block && depth >= PH_CFG_MAX_DEPTH)
        r = fail(ctx, file, c->line, "blocks nested deeper than %d levels",
                 PH_CFG_MAX_DEPTH);
    if (r == 0 && c->has_block) {
        struct cfg_nodes sub = {0};
        r = expand_list(ctx, c, file, depth + 1, false, &sub);
        node.children = sub.v;
        node.nchildren = sub.n;
    }
    if (r < 0) {
        node_clear(&node);
        return -1;
    }
    ph_array_grow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
    out->v[out->n++] = node;
    return 0;
}

/* Expands list's children into out. file_top: list is a file's top level
 * (not a block, not a snippet body), where definitions may appear if the
 * file itself sits at depth 0. */
static int expand_list(struct cfg_ctx *ctx, const struct cfg_raw *list,
                       const char *file, int depth, bool file_top,
                       struct cfg_nodes *out)
{
    bool top = file_top && depth == 0;
    if (top && hoist_snippets(ctx, list, file) < 0)
        return -1;
    for (size_t i = 0; i < list->nchildren; i++) {
        const struct cfg_raw *c = &list->children[i];
        const struct cfg_token *t = &c->toks[0];
        if (!t->quoted && strncmp(t->text, "$(", 2) == 0) {
            /* Without '=' it is a macro used as a name: define_macro()
             * says that '=' is missing. */
            bool def = c->ntoks > 1 && strcmp(c->toks[1].text, "=") == 0;
            if (!top && def)
                return fail(ctx, file, c->line,
                            "macro definitions are only allowed at top "
                            "level");
            if (define_macro(ctx, c, file) < 0)
                return -1;
            continue;
        }
        if (is_snippet_def(t)) {
            if (!top)
                return fail(ctx, file, c->line,
                            "snippet definitions are only allowed at top "
                            "level");
            continue;
        }
        char *name = expand_str(ctx, t->text, file, t->line, true, true);
        if (name == NULL)
            return -1;
        int r;
        if (name[0] == '\0') {
            r = fail(ctx, file, c->line, "empty directive name");
            free(name);
        } else if (strcmp(name, "import") == 0) {
            r = expand_import(ctx, c, file, depth, out);
            free(name);
        } else {
            r = expand_node(ctx, c, name, file, depth, out);
        }
        if (r < 0)
            return -1;
    }
    return 0;
}

static void ctx_clear(struct cfg_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nsrcs; i++) {
        cfg_raw_free(&ctx->srcs[i]->raw);
        free(ctx->srcs[i]);
    }
    free(ctx->srcs);
    map_clear(&ctx->macros, strlist_free);
    map_clear(&ctx->snippets, free);
    ph_strlist_clear(&ctx->stack_keys);
    ph_strlist_clear(&ctx->stack_names);
}

/* Parses data, which the parse owns from here on. */
static int parse_main(char *data, size_t len, const char *name,
                      const struct ph_cfg_parse_opts *opts,
                      struct ph_cfg_node **root_r, char **error_r)
{
    struct cfg_ctx ctx = {.opts = opts};
    ctx.tree = ph_calloc(1, sizeof(*ctx.tree));
    struct ph_cfg_node *root = &ctx.tree->root;
    root->name = ph_strdup("");
    root->args = ph_calloc(1, sizeof(char *));
    root->file = tree_file(&ctx, name);

    int r = 0;
    if (len > PH_CFG_MAX_FILE) {
        r = fail(&ctx, name, 0, "file is larger than %d bytes",
                 PH_CFG_MAX_FILE);
        free(data);
    } else {
        char *key = path_key(name);
        char *shown = ph_strdup_printf("\"%s\"", name);
        ph_strlist_add_owned(&ctx.stack_keys, key);
        ph_strlist_add_owned(&ctx.stack_names, shown);
        struct cfg_nodes top = {0};
        r = count_bytes(&ctx, name, 0, len);
        if (r == 0)
            r = expand_file(&ctx, data, len, root->file, 0, &top);
        else
            free(data);
        root->children = top.v;
        root->nchildren = top.n;
    }
    ctx_clear(&ctx);
    struct ph_cfg_node *tree = root;
    if (r < 0) {
        ph_cfg_free(&tree);
        *error_r = ctx.error ? ctx.error : ph_strdup("config: parse failed");
        *root_r = NULL;
        return -1;
    }
    free(ctx.error);
    *root_r = tree;
    *error_r = NULL;
    return 0;
}

/* --- the public API --------------------------------------------------- */

int ph_cfg_parse_buffer(const char *data, size_t len, const char *name,
                        const struct ph_cfg_parse_opts *opts,
                        struct ph_cfg_node **root_r, char **error_r)
{
    if (name == NULL)
        name = "<config>";
    /* Too large: parse_main() refuses it by len without reading it. */
    char *copy = len <= PH_CFG_MAX_FILE ? ph_strndup(data, len) : ph_strdup("");
    return parse_main(copy, len, name, opts, root_r, error_r);
}

int ph_cfg_parse_file(const char *path, const struct ph_cfg_parse_opts *opts,
                      struct ph_cfg_node **root_r, char **error_r)
{
    struct cfg_ctx probe = {.opts = opts};
    char *data;
    size_t len;
    int err = read_src(&probe, path, &data, &len);
    if (err) {
        *root_r = NULL;
        *error_r = ph_strdup_printf("%s: cannot open: %s", path, strerror(err));
        return -1;
    }
    return parse_main(data, len, path, opts, root_r, error_r);
}

void ph_cfg_free(struct ph_cfg_node **root)
{
    if (*root == NULL)
        return;
    struct cfg_tree *tree =
        (struct cfg_tree *)((char *)*root - offsetof(struct cfg_tree, root));
    node_clear(&tree->root);
    ph_strlist_clear(&tree->files);
    free(tree);
    *root = NULL;
}

const struct ph_cfg_node *ph_cfg_child(const struct ph_cfg_node *node,
                                       const char *name)
{
    for (size_t i = 0; i < node->nchildren; i++)
        if (strcmp(node->children[i].name, name) == 0)
            return &node->children[i];
    return NULL;
}

char *ph_cfg_error(const struct ph_cfg_node *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = cfg_error_vformat(node->file, node->line, fmt, ap);
    va_end(ap);
    return s;
}
