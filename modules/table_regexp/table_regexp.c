/* SPDX-License-Identifier: MIT */
/* table.regexp: answers keys that match a POSIX extended regular expression.
 *
 *   auth_map regexp "(.+)@example[.]org" "$1" "$1@example.com"
 *
 *   table.regexp plus_alias {
 *       regexp "([^+]+)[+].*@(.+)" "$1@$2"
 *       full_match yes          # the whole key must match (default yes)
 *       case_insensitive yes    # default yes
 *       expand_placeholders yes # default yes
 *   }
 *
 * A match answers every replacement, in order, with $0..$9, ${N} and $$
 * expanded from the match ($0 is the whole match, a group that took no part
 * is empty, $$ is a '$'; a '$' before anything else stays as it is). No
 * match: not found. A placeholder naming a group the regexp lacks, or a bad
 * regexp, is a config error. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/table-impl.h>

/* Groups beyond this are a config error: keeps the match array small. */
#define REGEXP_MAX_GROUPS 99

struct regexp_conf {
    struct ph_strlist args; /* the regexp, then the replacements */
    bool full_match;
    bool case_insensitive;
    bool expand_placeholders;
};

struct regexp_ctx {
    regex_t re;
    const struct regexp_conf *conf; /* valid until destroy */
};

static const struct ph_directive regexp_directives[] = {
    {
        .name = "regexp",
        .type = PH_DT_LIST,
        .flags = PH_DF_REQUIRED,
        .offset = offsetof(struct regexp_conf, args),
        .min_args = 2,
        .max_args = -1,
        .help = "regexp RE REPLACEMENT...",
    },
    {
        .name = "full_match",
        .type = PH_DT_BOOL,
        .offset = offsetof(struct regexp_conf, full_match),
        .def = "yes",
    },
    {
        .name = "case_insensitive",
        .type = PH_DT_BOOL,
        .offset = offsetof(struct regexp_conf, case_insensitive),
        .def = "yes",
    },
    {
        .name = "expand_placeholders",
        .type = PH_DT_BOOL,
        .offset = offsetof(struct regexp_conf, expand_placeholders),
        .def = "yes",
    },
    {.name = NULL},
};

/* Reads a placeholder after its '$'. Returns the characters consumed (the
 * '$' not counted) and the group in *group_r (-1: a literal '$'), or 0 when
 * what follows is no placeholder. -1 for an unterminated or empty ${...}. */
static int placeholder_parse(const char *p, long *group_r)
{
    if (*p == '$') {
        *group_r = -1;
        return 1;
    }
    if (*p >= '0' && *p <= '9') {
        *group_r = *p - '0';
        return 1;
    }
    if (*p != '{')
        return 0;
    long n = 0;
    int i = 1;
    for (; p[i] >= '0' && p[i] <= '9'; i++)
        if (n <= REGEXP_MAX_GROUPS)
            n = n * 10 + (p[i] - '0');
    if (i == 1 || p[i] != '}')
        return -1;
    *group_r = n;
    return i + 1;
}

static int replacement_check(const char *repl, size_t groups, char **error_r)
{
    for (const char *p = repl; (p = strchr(p, '$')) != NULL;) {
        long group;
        int len = placeholder_parse(p + 1, &group);
        if (len < 0) {
            *error_r = ph_strdup_printf(
                "replacement \"%s\": ${ must hold a group number and end "
                "with }",
                repl);
            return -1;
        }
        if (len > 0 && group > (long)groups) {
            *error_r = ph_strdup_printf(
                "replacement \"%s\" refers to group %ld but the regexp has "
                "%zu",
                repl, group, groups);
            return -1;
        }
        p += 1 + len;
    }
    return 0;
}

static int regexp_create(struct ph_instance *inst, void *conf_p, void **ctx_r,
                         char **error_r)
{
    const struct regexp_conf *conf = conf_p;
    const char *pattern = conf->args.v[0];
    int flags = REG_EXTENDED | (conf->case_insensitive ? REG_ICASE : 0);
    regex_t re;

    int rc = regcomp(&re, pattern, flags);
    if (rc != 0) {
        char text[256];
        regerror(rc, &re, text, sizeof(text));
        *error_r = ph_strdup_printf("invalid regexp \"%s\": %s", pattern, text);
        return -1;
    }
    if (re.re_nsub > REGEXP_MAX_GROUPS) {
        *error_r = ph_strdup_printf("regexp \"%s\" has more than %d groups",
                                    pattern, REGEXP_MAX_GROUPS);
        regfree(&re);
        return -1;
    }
    for (size_t i = 1; conf->expand_placeholders && i < conf->args.n; i++) {
        if (replacement_check(conf->args.v[i], re.re_nsub, error_r) < 0) {
            regfree(&re);
            return -1;
        }
    }

    struct regexp_ctx *ctx = ph_calloc(1, sizeof(*ctx));
    ctx->re = re;
    ctx->conf = conf;
    *ctx_r = ctx;
    return 0;
}

static void regexp_destroy(void *ctx_p)
{
    struct regexp_ctx *ctx = ctx_p;
    regfree(&ctx->re);
    free(ctx);
}

static char *replacement_expand(const char *repl, const char *key,
                                const regmatch_t *m)
{
    struct ph_buf b = {0};
    for (const char *p = repl; *p != '\0';) {
        const char *dollar = strchr(p, '$');
        if (dollar == NULL) {
            ph_buf_puts(&b, p);
            break;
        }
        ph_buf_append(&b, p, (size_t)(dollar - p));
        long group;
        int len = placeholder_parse(dollar + 1, &group);
        if (len <= 0) { /* checked at create: only "not a placeholder" */
            ph_buf_putc(&b, '$');
            p = dollar + 1;
            continue;
        }
        if (group < 0) {
            ph_buf_putc(&b, '$');
        } else {
            const regmatch_t *g = &m[group];
            if (g->rm_so >= 0)
                ph_buf_append(&b, key + g->rm_so,
                              (size_t)(g->rm_eo - g->rm_so));
        }
        p = dollar + 1 + len;
    }
    return ph_buf_steal(&b);
}

static enum ph_lookup regexp_lookup(void *ctx_p, const char *key,
                                    struct ph_strlist *values_r,
                                    const char **error_r)
{
    const struct regexp_ctx *ctx = ctx_p;
    regmatch_t m[REGEXP_MAX_GROUPS + 1];

    /* regexec() on a shared regex_t is thread-safe in POSIX. */
    if (regexec(&ctx->re, key, ctx->re.re_nsub + 1, m, 0) != 0)
        return PH_LOOKUP_NOT_FOUND;
    /* POSIX matching is leftmost-longest: when the whole key can match,
     * the match found is the whole key. Anchoring by checking, instead of
     * wrapping the pattern in ^(...)$, keeps group numbers and
     * backreferences as the admin wrote them. */
    if (ctx->conf->full_match &&
        (m[0].rm_so != 0 || (size_t)m[0].rm_eo != strlen(key)))
        return PH_LOOKUP_NOT_FOUND;
    const struct ph_strlist *args = &ctx->conf->args;
    for (size_t i = 1; i < args->n; i++) {
        if (ctx->conf->expand_placeholders)
            ph_strlist_add_owned(values_r,
                                 replacement_expand(args->v[i], key, m));
        else
            ph_strlist_add(values_r, args->v[i]);
    }
    return PH_LOOKUP_FOUND;
}

static const struct ph_table_vfuncs regexp_vfuncs = {
    .lookup = regexp_lookup,
};

PH_MODULE(.names = (const char *const[]){"table.regexp", NULL},
          .kind = PH_MODULE_TABLE,
          .description =
              "maps keys matching a regular expression to replacements",
          .directives = regexp_directives,
          .conf_size = sizeof(struct regexp_conf), .inline_directive = "regexp",
          .create = regexp_create, .destroy = regexp_destroy,
          .iface = &regexp_vfuncs);
