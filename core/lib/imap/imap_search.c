/* SPDX-License-Identifier: MIT */
/* SEARCH programs: parsing from command values, normalizing, writing back,
 * and evaluating against one message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/imap-search.h>
#include <posthorn/message.h>

#define DEFAULT_MAX_DEPTH 1000

/* Error texts that name a key are formatted here (see the header). */
static _Thread_local char error_buf[128];

enum arg_kind {
    ARG_NONE,
    ARG_ASTRING, /* BODY, TEXT, FROM... */
    ARG_HEADER,  /* field-name and string */
    ARG_DATE,
    ARG_NUMBER,
    ARG_KEYWORD,
    ARG_UIDSET,
    ARG_KEY1,     /* NOT */
    ARG_KEY2,     /* OR */
    ARG_MODSEQ,   /* [entry-name entry-type-req] mod-sequence-valzer */
    ARG_WITHIN,   /* OLDER, YOUNGER: nz-number, resolved to a UID set */
    ARG_OBJECTID, /* RFC 8474 7: objectid */
};

struct key_def {
    const char *name;
    enum ph_imap_search_op op;
    enum arg_kind arg;
    uint32_t flag; /* FLAG keys */
    bool negate;   /* UN... keys, OLD */
};

static const struct key_def key_defs[] = {
    {"ALL", PH_IMAP_SEARCH_ALL, ARG_NONE, 0, false},
    {"ANSWERED", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_ANSWERED, false},
    {"BCC", PH_IMAP_SEARCH_HEADER, ARG_ASTRING, 0, false},
    {"BEFORE", PH_IMAP_SEARCH_BEFORE, ARG_DATE, 0, false},
    {"BODY", PH_IMAP_SEARCH_BODY, ARG_ASTRING, 0, false},
    {"CC", PH_IMAP_SEARCH_HEADER, ARG_ASTRING, 0, false},
    {"DELETED", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_DELETED, false},
    {"DRAFT", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_DRAFT, false},
    {"EMAILID", PH_IMAP_SEARCH_EMAILID, ARG_OBJECTID, 0, false},
    {"FLAGGED", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_FLAGGED, false},
    {"FROM", PH_IMAP_SEARCH_HEADER, ARG_ASTRING, 0, false},
    {"HEADER", PH_IMAP_SEARCH_HEADER, ARG_HEADER, 0, false},
    {"KEYWORD", PH_IMAP_SEARCH_KEYWORD, ARG_KEYWORD, 0, false},
    {"LARGER", PH_IMAP_SEARCH_LARGER, ARG_NUMBER, 0, false},
    {"MODSEQ", PH_IMAP_SEARCH_MODSEQ, ARG_MODSEQ, 0, false},
    {"NEW", PH_IMAP_SEARCH_AND, ARG_NONE, 0, false},
    {"NOT", PH_IMAP_SEARCH_NOT, ARG_KEY1, 0, false},
    {"OLD", PH_IMAP_SEARCH_RECENT, ARG_NONE, 0, true},
    {"OLDER", PH_IMAP_SEARCH_UIDSET, ARG_WITHIN, 0, false},
    {"ON", PH_IMAP_SEARCH_ON, ARG_DATE, 0, false},
    {"OR", PH_IMAP_SEARCH_OR, ARG_KEY2, 0, false},
    {"RECENT", PH_IMAP_SEARCH_RECENT, ARG_NONE, 0, false},
    {"SEEN", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_SEEN, false},
    {"SENTBEFORE", PH_IMAP_SEARCH_SENTBEFORE, ARG_DATE, 0, false},
    {"SENTON", PH_IMAP_SEARCH_SENTON, ARG_DATE, 0, false},
    {"SENTSINCE", PH_IMAP_SEARCH_SENTSINCE, ARG_DATE, 0, false},
    {"SINCE", PH_IMAP_SEARCH_SINCE, ARG_DATE, 0, false},
    {"SMALLER", PH_IMAP_SEARCH_SMALLER, ARG_NUMBER, 0, false},
    {"SUBJECT", PH_IMAP_SEARCH_HEADER, ARG_ASTRING, 0, false},
    {"TEXT", PH_IMAP_SEARCH_TEXT, ARG_ASTRING, 0, false},
    {"THREADID", PH_IMAP_SEARCH_THREADID, ARG_OBJECTID, 0, false},
    {"TO", PH_IMAP_SEARCH_HEADER, ARG_ASTRING, 0, false},
    {"UID", PH_IMAP_SEARCH_UIDSET, ARG_UIDSET, 0, false},
    {"UNANSWERED", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_ANSWERED, true},
    {"UNDELETED", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_DELETED, true},
    {"UNDRAFT", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_DRAFT, true},
    {"UNFLAGGED", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_FLAGGED, true},
    {"UNKEYWORD", PH_IMAP_SEARCH_KEYWORD, ARG_KEYWORD, 0, true},
    {"UNSEEN", PH_IMAP_SEARCH_FLAG, ARG_NONE, PH_FLAG_SEEN, true},
    {"YOUNGER", PH_IMAP_SEARCH_UIDSET, ARG_WITHIN, 0, false},
};

static const struct {
    uint32_t flag;
    const char *name;
} flag_names[] = {
    {PH_FLAG_ANSWERED, "ANSWERED"}, {PH_FLAG_DELETED, "DELETED"},
    {PH_FLAG_DRAFT, "DRAFT"},       {PH_FLAG_FLAGGED, "FLAGGED"},
    {PH_FLAG_SEEN, "SEEN"},
};

struct parse_ctx {
    const struct ph_imap_search_params *params;
    unsigned max_depth;
    bool has_modseq;
    const char *error;
};

/* A list of keys being read (the items of an AND). */
struct key_list {
    struct ph_imap_search_key *v;
    size_t n, cap;
};

static void key_clear(struct ph_imap_search_key *k)
{
    for (size_t i = 0; i < k->n_children; i++)
        key_clear(&k->children[i]);
    free(k->children);
    free(k->field);
    free(k->str);
    ph_imap_seqset_clear(&k->set);
    memset(k, 0, sizeof(*k));
}

static void key_list_clear(struct key_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        key_clear(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static struct ph_imap_search_key *key_list_add(struct key_list *l)
{
    ph_array_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
    struct ph_imap_search_key *k = &l->v[l->n++];
    memset(k, 0, sizeof(*k));
    return k;
}

static int fail_key(struct parse_ctx *c, const char *fmt, const char *name)
{
    snprintf(error_buf, sizeof(error_buf), fmt, name);
    c->error = error_buf;
    return -1;
}

/* Makes k a NOT over what k was. */
static void negate(struct ph_imap_search_key *k)
{
    struct ph_imap_search_key *child = ph_malloc(sizeof(*child));
    *child = *k;
    memset(k, 0, sizeof(*k));
    k->op = PH_IMAP_SEARCH_NOT;
    k->children = child;
    k->n_children = 1;
}

static int parse_key(struct parse_ctx *c, const struct ph_imap_value *args,
                     size_t n, size_t *pos, struct ph_imap_search_key *k,
                     unsigned depth);

/* Reads keys from args[*pos..n) into an AND node. */
static int parse_keys(struct parse_ctx *c, const struct ph_imap_value *args,
                      size_t n, size_t *pos, struct ph_imap_search_key *k,
                      unsigned depth)
{
    struct key_list l = {0};
    while (*pos < n) {
        if (parse_key(c, args, n, pos, key_list_add(&l), depth) < 0) {
            key_list_clear(&l);
            return -1;
        }
    }
    k->op = PH_IMAP_SEARCH_AND;
    k->children = l.v;
    k->n_children = l.n;
    return 0;
}

static int parse_set(struct parse_ctx *c, const struct ph_imap_value *v,
                     bool uid, struct ph_imap_search_key *k)
{
    const char *s;
    if (!ph_imap_value_get_atom(v, &s)) {
        c->error = "Invalid sequence set";
        return -1;
    }
    if (strcmp(s, "$") == 0) {
        /* RFC 5182 2.1: "$" names the messages of the saved result (as
         * UIDs: those expunged since are gone from it), whether it stands
         * for sequence numbers or after UID. */
        if (c->params->saved == NULL) {
            c->error = "Saved search results ($) are not supported";
            return -1;
        }
        k->op = PH_IMAP_SEARCH_UIDSET;
        for (size_t i = 0; i < c->params->saved->n; i++)
            ph_imap_seqset_add(&k->set, c->params->saved->ranges[i].lo,
                               c->params->saved->ranges[i].hi);
        ph_imap_seqset_sort(&k->set);
        return 0;
    }
    k->op = uid ? PH_IMAP_SEARCH_UIDSET : PH_IMAP_SEARCH_SEQSET;
    if (ph_imap_seqset_parse(s, v->len,
                             uid ? c->params->max_uid : c->params->max_seq,
                             c->params->max_ranges, &k->set, &c->error) < 0)
        return -1;
    ph_imap_seqset_sort(&k->set);
    return 0;
}

static bool is_keyword_char(unsigned char c)
{
    /* ATOM-CHAR */
    return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

static int parse_modseq(struct parse_ctx *c, const struct ph_imap_value *args,
                        size_t n, size_t *pos, struct ph_imap_search_key *k)
{
    const char *s;
    /* entry-name entry-type-req: checked, then not used (we keep one
     * modseq per message, not one per flag: RFC 7162 3.1.5 "it MUST ignore
     * <entry-name> and <entry-type-req>"). entry-flag-name = DQUOTE
     * "/flags/" attr-flag DQUOTE, attr-flag a flag: ["\\"] atom. */
    if (*pos < n && ph_imap_value_get_string(&args[*pos], &s)) {
        const char *flag = s + 7 + (strncasecmp(s, "/flags/\\", 8) == 0);
        bool atom = strncasecmp(s, "/flags/", 7) == 0 && *flag != '\0';
        for (const char *f = flag; atom && *f; f++)
            atom = is_keyword_char((unsigned char)*f);
        if (!atom) {
            c->error = "Invalid MODSEQ entry name";
            return -1;
        }
        (*pos)++;
        if (*pos >= n || !(ph_imap_value_is_atom(&args[*pos], "priv") ||
                           ph_imap_value_is_atom(&args[*pos], "shared") ||
                           ph_imap_value_is_atom(&args[*pos], "all"))) {
            c->error = "Invalid MODSEQ entry type";
            return -1;
        }
        (*pos)++;
    }
    if (*pos >= n ||
        !ph_imap_value_get_number(&args[*pos], INT64_MAX, &k->number)) {
        c->error = "Invalid MODSEQ value";
        return -1;
    }
    (*pos)++;
    c->has_modseq = true;
    return 0;
}

static int parse_arg(struct parse_ctx *c, const struct key_def *def,
                     const struct ph_imap_value *args, size_t n, size_t *pos,
                     struct ph_imap_search_key *k, unsigned depth)
{
    const char *s;
    if (def->arg != ARG_NONE && def->arg != ARG_MODSEQ && *pos >= n)
        return fail_key(c, "Missing argument for %s", def->name);
    const struct ph_imap_value *v = &args[*pos];
    switch (def->arg) {
    case ARG_NONE: return 0;
    case ARG_ASTRING:
        if (!ph_imap_value_get_astring(v, &s))
            return fail_key(c, "Invalid string for %s", def->name);
        k->str = ph_strndup(s, v->len);
        k->len = v->len;
        if (k->op == PH_IMAP_SEARCH_HEADER)
            k->field = ph_strdup(def->name);
        break;
    case ARG_HEADER: {
        if (!ph_imap_value_get_astring(v, &s))
            return fail_key(c, "Invalid field name for %s", def->name);
        /* header-fld-name is any astring (RFC 3501 9); a name no field can
         * have (RFC 5322 2.2: 1*ftext, printable ASCII but ':') matches
         * no message. */
        bool field_ok = v->len > 0;
        for (size_t i = 0; i < v->len && field_ok; i++) {
            unsigned char ch = (unsigned char)s[i];
            field_ok = ch > 0x20 && ch < 0x7f && ch != ':';
        }
        k->field = ph_strdup(s);
        if (++*pos >= n)
            return fail_key(c, "Missing argument for %s", def->name);
        v = &args[*pos];
        if (!ph_imap_value_get_astring(v, &s))
            return fail_key(c, "Invalid string for %s", def->name);
        if (!field_ok) {
            key_clear(k);
            k->op = PH_IMAP_SEARCH_ALL;
            negate(k);
            break;
        }
        k->str = ph_strndup(s, v->len);
        k->len = v->len;
        break;
    }
    case ARG_DATE:
        if (!ph_imap_value_get_astring(v, &s) ||
            ph_imap_date_parse(s, v->len, &k->day, &s) < 0)
            return fail_key(c, "Invalid date for %s", def->name);
        break;
    case ARG_NUMBER:
        if (!ph_imap_value_get_number(v, UINT64_MAX, &k->number))
            return fail_key(c, "Invalid number for %s", def->name);
        break;
    case ARG_KEYWORD:
        /* flag-keyword = atom, and NIL is one (RFC 3501 9). */
        if (!ph_imap_value_get_atom(v, &s))
            return fail_key(c, "Invalid keyword for %s", def->name);
        for (size_t i = 0; i < v->len; i++) {
            if (!is_keyword_char((unsigned char)s[i]))
                return fail_key(c, "Invalid keyword for %s", def->name);
        }
        k->str = ph_strdup(s);
        k->len = v->len;
        break;
    case ARG_OBJECTID:
        /* objectid = 1*255(ALPHA / DIGIT / "_" / "-"): an atom. */
        if (!ph_imap_value_get_atom(v, &s) || v->len == 0 || v->len > 255)
            return fail_key(c, "Invalid object id for %s", def->name);
        for (size_t i = 0; i < v->len; i++) {
            char ch = s[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
                return fail_key(c, "Invalid object id for %s", def->name);
        }
        k->str = ph_strdup(s);
        k->len = v->len;
        break;
    case ARG_UIDSET:
        if (parse_set(c, v, true, k) < 0)
            return -1;
        break;
    case ARG_KEY1:
    case ARG_KEY2: {
        size_t nk = def->arg == ARG_KEY1 ? 1 : 2;
        k->children = ph_calloc(nk, sizeof(*k->children));
        for (size_t i = 0; i < nk; i++) {
            if (*pos >= n) {
                key_clear(k);
                return fail_key(c, "Missing argument for %s", def->name);
            }
            k->n_children = i + 1;
            if (parse_key(c, args, n, pos, &k->children[i], depth + 1) < 0) {
                key_clear(k);
                return -1;
            }
        }
        return 0;
    }
    case ARG_MODSEQ: return parse_modseq(c, args, n, pos, k);
    case ARG_WITHIN: {
        /* RFC 5032 3: ( "OLDER" / "YOUNGER" ) SP nz-number. */
        uint64_t secs;
        if (!ph_imap_value_get_number(v, UINT32_MAX, &secs) || secs == 0)
            return fail_key(c, "Invalid interval for %s", def->name);
        c->params->within(c->params->within_ctx, def->name[0] == 'Y', secs,
                          &k->set);
        ph_imap_seqset_sort(&k->set);
        break;
    }
    }
    (*pos)++;
    return 0;
}

static int parse_key(struct parse_ctx *c, const struct ph_imap_value *args,
                     size_t n, size_t *pos, struct ph_imap_search_key *k,
                     unsigned depth)
{
    if (depth > c->max_depth) {
        c->error = "Search program nested too deeply";
        return -1;
    }
    const struct ph_imap_value *v = &args[(*pos)++];
    if (v->type == PH_IMAP_VALUE_LIST) {
        if (v->len == 0) {
            c->error = "Empty search key list";
            return -1;
        }
        size_t sub = 0;
        return parse_keys(c, v->list, v->len, &sub, k, depth + 1);
    }
    const char *name;
    if (v->type != PH_IMAP_VALUE_ATOM || !ph_imap_value_get_atom(v, &name)) {
        c->error = "Invalid search key";
        return -1;
    }
    if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*' || name[0] == '$')
        return parse_set(c, v, false, k);
    const struct key_def *def = NULL;
    for (size_t i = 0; i < PH_N_ELEMENTS(key_defs); i++) {
        if (strcasecmp(name, key_defs[i].name) == 0) {
            def = &key_defs[i];
            break;
        }
    }
    if (def == NULL || (def->arg == ARG_WITHIN && c->params->within == NULL))
        return fail_key(c, "Unknown search key %.40s", name);
    k->op = def->op;
    k->flag = def->flag;
    if (strcmp(def->name, "NEW") == 0) {
        /* NEW is (RECENT NOT SEEN), and nests as deep. */
        if (depth + 2 > c->max_depth) {
            c->error = "Search program nested too deeply";
            return -1;
        }
        k->children = ph_calloc(2, sizeof(*k->children));
        k->n_children = 2;
        k->children[0].op = PH_IMAP_SEARCH_RECENT;
        k->children[1].op = PH_IMAP_SEARCH_FLAG;
        k->children[1].flag = PH_FLAG_SEEN;
        negate(&k->children[1]);
        return 0;
    }
    if (parse_arg(c, def, args, n, pos, k, depth) < 0) {
        key_clear(k);
        return -1;
    }
    if (def->negate)
        negate(k);
    return 0;
}

/* ---- Normalizing -------------------------------------------------------- */

static void normalize(struct ph_imap_search_key *k)
{
    for (size_t i = 0; i < k->n_children; i++)
        normalize(&k->children[i]);
    switch (k->op) {
    case PH_IMAP_SEARCH_AND: {
        /* Flatten nested groups, then order by cost (stable). */
        size_t total = 0;
        for (size_t i = 0; i < k->n_children; i++)
            total += k->children[i].op == PH_IMAP_SEARCH_AND
                         ? k->children[i].n_children
                         : 1;
        struct ph_imap_search_key *flat = ph_calloc(total, sizeof(*flat));
        size_t out = 0;
        for (unsigned cost = 0; cost <= PH_IMAP_SEARCH_COST_BODY; cost++) {
            for (size_t i = 0; i < k->n_children; i++) {
                struct ph_imap_search_key *ch = &k->children[i];
                if (ch->op != PH_IMAP_SEARCH_AND) {
                    if (ch->cost == cost)
                        flat[out++] = *ch;
                    continue;
                }
                for (size_t j = 0; j < ch->n_children; j++) {
                    if (ch->children[j].cost == cost)
                        flat[out++] = ch->children[j];
                }
            }
        }
        ph_assert(out == total);
        for (size_t i = 0; i < k->n_children; i++) {
            if (k->children[i].op == PH_IMAP_SEARCH_AND)
                free(k->children[i].children);
        }
        free(k->children);
        k->children = flat;
        k->n_children = total;
        if (total == 1) {
            /* A group of one key is that key. */
            struct ph_imap_search_key only = flat[0];
            free(flat);
            *k = only;
            return;
        }
        k->cost = total ? flat[total - 1].cost : PH_IMAP_SEARCH_COST_META;
        return;
    }
    case PH_IMAP_SEARCH_OR:
        if (k->children[1].cost < k->children[0].cost) {
            struct ph_imap_search_key t = k->children[0];
            k->children[0] = k->children[1];
            k->children[1] = t;
        }
        k->cost = k->children[1].cost;
        return;
    case PH_IMAP_SEARCH_NOT: k->cost = k->children[0].cost; return;
    case PH_IMAP_SEARCH_HEADER: k->cost = PH_IMAP_SEARCH_COST_HEADER; return;
    case PH_IMAP_SEARCH_BODY:
    case PH_IMAP_SEARCH_TEXT: k->cost = PH_IMAP_SEARCH_COST_BODY; return;
    default: k->cost = PH_IMAP_SEARCH_COST_META; return;
    }
}

int ph_imap_search_parse(const struct ph_imap_value *args, size_t n_args,
                         const struct ph_imap_search_params *params,
                         struct ph_imap_search **prog_r, const char **error_r)
{
    struct parse_ctx c = {.params = params};
    c.max_depth = params->max_depth ? params->max_depth : DEFAULT_MAX_DEPTH;
    size_t pos = 0;
    *prog_r = NULL;
    size_t cpos = params->charset_first ? 0 : 1;
    bool badcharset = false;
    if (params->charset_first ||
        (n_args > 0 && ph_imap_value_is_atom(&args[0], "CHARSET"))) {
        const char *charset;
        if (n_args < cpos + 1 ||
            !ph_imap_value_get_astring(&args[cpos], &charset)) {
            *error_r = "Missing charset";
            return PH_IMAP_SEARCH_BAD;
        }
        badcharset = strcasecmp(charset, "UTF-8") != 0 &&
                     strcasecmp(charset, "US-ASCII") != 0;
        pos = cpos + 1;
    }
    /* The syntax first: a command that is malformed is a BAD whatever its
     * charset (RFC 3501 7.1.5), which matters to SEARCHRES ("$" stays
     * after a BAD and empties after a NO, RFC 5182 2.1); and SORT's
     * charset is mandatory, so a missing one leaves no search key. */
    if (pos >= n_args) {
        *error_r = "Missing search key";
        return PH_IMAP_SEARCH_BAD;
    }
    struct ph_imap_search *prog = ph_calloc(1, sizeof(*prog));
    if (parse_keys(&c, args, n_args, &pos, &prog->root, 0) < 0) {
        free(prog);
        *error_r = c.error;
        return PH_IMAP_SEARCH_BAD;
    }
    if (badcharset) {
        ph_imap_search_free(&prog);
        *error_r = "Unsupported charset";
        return PH_IMAP_SEARCH_BADCHARSET;
    }
    normalize(&prog->root);
    prog->has_modseq = c.has_modseq;
    *prog_r = prog;
    return PH_IMAP_SEARCH_OK;
}

void ph_imap_search_free(struct ph_imap_search **prog)
{
    if (*prog == NULL)
        return;
    key_clear(&(*prog)->root);
    free(*prog);
    *prog = NULL;
}

enum ph_imap_search_cost ph_imap_search_cost(const struct ph_imap_search *prog)
{
    return prog->root.cost;
}

/* ---- RETURN options and ESEARCH ----------------------------------------- */

int ph_imap_partial_arg(const struct ph_imap_value *items, size_t n, size_t *i,
                        struct ph_imap_partial *p_r, const char **error_r)
{
    const char *range;
    if (++*i == n || items[*i].type != PH_IMAP_VALUE_ATOM ||
        !ph_imap_value_get_atom(&items[*i], &range)) {
        *error_r = "PARTIAL needs a range";
        return -1;
    }
    return ph_imap_partial_parse(range, items[*i].len, p_r, error_r);
}

int ph_imap_search_return_parse(const struct ph_imap_value *args, size_t n,
                                size_t *pos, unsigned accepted,
                                struct ph_imap_search_return *ret_r,
                                const char **error_r)
{
    static const struct {
        const char *name;
        unsigned bit;
    } opts[] = {
        {"MIN", PH_IMAP_RETURN_MIN},       {"MAX", PH_IMAP_RETURN_MAX},
        {"ALL", PH_IMAP_RETURN_ALL},       {"COUNT", PH_IMAP_RETURN_COUNT},
        {"SAVE", PH_IMAP_RETURN_SAVE},     {"PARTIAL", PH_IMAP_RETURN_PARTIAL},
        {"UPDATE", PH_IMAP_RETURN_UPDATE}, {"CONTEXT", PH_IMAP_RETURN_CONTEXT},
    };
    memset(ret_r, 0, sizeof(*ret_r));
    if (*pos >= n || !ph_imap_value_is_atom(&args[*pos], "RETURN"))
        return 0;
    const struct ph_imap_value *items;
    size_t ni;
    if (*pos + 1 >= n ||
        !ph_imap_value_get_list(&args[*pos + 1], &items, &ni)) {
        *error_r = "RETURN takes a list of options";
        return -1;
    }
    for (size_t i = 0; i < ni; i++) {
        unsigned bit = 0;
        for (size_t k = 0; k < PH_N_ELEMENTS(opts) && bit == 0; k++) {
            if (ph_imap_value_is_atom(&items[i], opts[k].name))
                bit = opts[k].bit;
        }
        if ((bit & accepted) == 0) {
            *error_r = "Unknown RETURN option";
            return -1;
        }
        if (bit == PH_IMAP_RETURN_PARTIAL) {
            if (ret_r->options & bit) {
                *error_r = "PARTIAL given twice";
                return -1;
            }
            if (ph_imap_partial_arg(items, ni, &i, &ret_r->partial, error_r) <
                0)
                return -1;
        }
        ret_r->options |= bit;
    }
    /* RFC 5267 4.4: "either one PARTIAL, one ALL, or neither PARTIAL nor
     * ALL is allowed". */
    if ((ret_r->options & PH_IMAP_RETURN_PARTIAL) &&
        (ret_r->options & PH_IMAP_RETURN_ALL)) {
        *error_r = "PARTIAL and ALL cannot be combined";
        return -1;
    }
    /* RFC 4731 3.1: "If the list of result options is empty, that
     * requests the server to return an ESEARCH response instead of the
     * SEARCH response.  This is equivalent to "(ALL)"." */
    if (ni == 0)
        ret_r->options = PH_IMAP_RETURN_ALL;
    ret_r->present = true;
    *pos += 2;
    return 0;
}

void ph_imap_numbers_write(struct ph_buf *out, const uint32_t *numbers,
                           size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && numbers[j + 1] == numbers[j] + 1)
            j++;
        ph_buf_printf(out, i > 0 ? ",%u" : "%u", numbers[i]);
        if (j > i)
            ph_buf_printf(out, ":%u", numbers[j]);
        i = j + 1;
    }
}

void ph_imap_esearch_write(struct ph_buf *out, const char *tag, bool uid,
                           const struct ph_imap_search_return *ret,
                           const uint32_t *numbers, const uint64_t *modseqs,
                           size_t n)
{
    unsigned options = ret->options;
    size_t pstart = 0, pend = 0;
    if (options & PH_IMAP_RETURN_PARTIAL)
        ph_imap_partial_slice(&ret->partial, n, &pstart, &pend);
    ph_buf_printf(out, "* ESEARCH (TAG \"%s\")%s", tag, uid ? " UID" : "");
    if (n > 0 && (options & PH_IMAP_RETURN_MIN))
        ph_buf_printf(out, " MIN %u", numbers[0]);
    if (n > 0 && (options & PH_IMAP_RETURN_MAX))
        ph_buf_printf(out, " MAX %u", numbers[n - 1]);
    if (options & PH_IMAP_RETURN_COUNT)
        ph_buf_printf(out, " COUNT %zu", n);
    if (n > 0 && (options & PH_IMAP_RETURN_ALL)) {
        ph_buf_puts(out, " ALL ");
        ph_imap_numbers_write(out, numbers, n);
    }
    if (options & PH_IMAP_RETURN_PARTIAL) {
        /* RFC 9394 3.1: the range as requested, then what of it exists,
         * or NIL. */
        ph_buf_puts(out, " PARTIAL (");
        ph_imap_partial_write(out, &ret->partial);
        ph_buf_putc(out, ' ');
        if (pend > pstart)
            ph_imap_numbers_write(out, numbers + pstart, pend - pstart);
        else
            ph_buf_puts(out, "NIL");
        ph_buf_putc(out, ')');
    }
    if (modseqs != NULL && n > 0 &&
        (options &
         (PH_IMAP_RETURN_MIN | PH_IMAP_RETURN_MAX | PH_IMAP_RETURN_ALL |
          PH_IMAP_RETURN_COUNT | PH_IMAP_RETURN_PARTIAL))) {
        /* RFC 4731 3.2: MIN or MAX alone: that message's; MIN and MAX
         * without ALL or COUNT: the higher of the two; otherwise the
         * highest of all messages being returned. */
        uint64_t m = 0;
        if (options & (PH_IMAP_RETURN_ALL | PH_IMAP_RETURN_COUNT)) {
            for (size_t i = 0; i < n; i++)
                m = modseqs[i] > m ? modseqs[i] : m;
        } else {
            if (options & PH_IMAP_RETURN_MIN)
                m = modseqs[0];
            if ((options & PH_IMAP_RETURN_MAX) && modseqs[n - 1] > m)
                m = modseqs[n - 1];
            for (size_t i = pstart; i < pend; i++)
                m = modseqs[i] > m ? modseqs[i] : m;
        }
        /* A PARTIAL that names nothing returns no message. */
        if (m > 0)
            ph_buf_printf(out, " MODSEQ %llu", (unsigned long long)m);
    }
    ph_buf_puts(out, "\r\n");
}

/* ---- SORT criteria ------------------------------------------------------ */

int ph_imap_sort_criteria_parse(const struct ph_imap_value *v, bool display,
                                struct ph_sort_program_item **program_r,
                                size_t *n_r, const char **error_r)
{
    const struct ph_imap_value *items;
    size_t ni;
    *program_r = NULL;
    *n_r = 0;
    if (!ph_imap_value_get_list(v, &items, &ni) || ni == 0) {
        *error_r = "SORT takes a list of sort criteria";
        return -1;
    }
    struct ph_sort_program_item *prog = ph_calloc(ni, sizeof(*prog));
    size_t n = 0;
    for (size_t i = 0; i < ni; i++) {
        const char *name;
        bool reverse = ph_imap_value_is_atom(&items[i], "REVERSE");
        if (reverse && ++i == ni) {
            free(prog);
            *error_r = "REVERSE needs a sort key";
            return -1;
        }
        enum ph_sort_criterion crit;
        if (items[i].type != PH_IMAP_VALUE_ATOM ||
            !ph_imap_value_get_atom(&items[i], &name) ||
            !ph_sort_criterion_lookup(name, items[i].len, &crit) ||
            (!display &&
             (crit == PH_SORT_DISPLAYFROM || crit == PH_SORT_DISPLAYTO))) {
            free(prog);
            *error_r = "Unknown sort key";
            return -1;
        }
        prog[n].criterion = crit;
        prog[n++].reverse = reverse;
    }
    *program_r = prog;
    *n_r = n;
    return 0;
}

/* ---- Writing ------------------------------------------------------------ */

static void write_day(struct ph_buf *out, int64_t day)
{
    /* ph_imap_date_time_write gives "dd-Mon-yyyy ...": take the date. */
    struct ph_buf tmp = {0};
    ph_imap_date_time_write(&tmp, (time_t)(day * 86400), 0);
    const char *d = tmp.data + 1;
    if (d[0] == '0')
        d++;
    const char *end = strchr(d, ' ');
    ph_buf_append(out, d, (size_t)(end - d));
    ph_buf_free(&tmp);
}

static void write_key(struct ph_buf *out, const struct ph_imap_search_key *k,
                      bool top)
{
    static const char *const date_names[] = {
        [PH_IMAP_SEARCH_BEFORE] = "BEFORE",
        [PH_IMAP_SEARCH_ON] = "ON",
        [PH_IMAP_SEARCH_SINCE] = "SINCE",
        [PH_IMAP_SEARCH_SENTBEFORE] = "SENTBEFORE",
        [PH_IMAP_SEARCH_SENTON] = "SENTON",
        [PH_IMAP_SEARCH_SENTSINCE] = "SENTSINCE",
    };
    switch (k->op) {
    case PH_IMAP_SEARCH_AND:
        if (!top)
            ph_buf_putc(out, '(');
        for (size_t i = 0; i < k->n_children; i++) {
            if (i > 0)
                ph_buf_putc(out, ' ');
            write_key(out, &k->children[i], false);
        }
        if (!top)
            ph_buf_putc(out, ')');
        break;
    case PH_IMAP_SEARCH_OR:
        ph_buf_puts(out, "OR ");
        write_key(out, &k->children[0], false);
        ph_buf_putc(out, ' ');
        write_key(out, &k->children[1], false);
        break;
    case PH_IMAP_SEARCH_NOT:
        ph_buf_puts(out, "NOT ");
        write_key(out, &k->children[0], false);
        break;
    case PH_IMAP_SEARCH_ALL: ph_buf_puts(out, "ALL"); break;
    case PH_IMAP_SEARCH_FLAG:
        for (size_t i = 0; i < PH_N_ELEMENTS(flag_names); i++) {
            if (flag_names[i].flag == k->flag)
                ph_buf_puts(out, flag_names[i].name);
        }
        break;
    case PH_IMAP_SEARCH_RECENT: ph_buf_puts(out, "RECENT"); break;
    case PH_IMAP_SEARCH_KEYWORD:
        ph_buf_printf(out, "KEYWORD %s", k->str);
        break;
    case PH_IMAP_SEARCH_EMAILID:
    case PH_IMAP_SEARCH_THREADID:
        ph_buf_printf(out, "%s %s",
                      k->op == PH_IMAP_SEARCH_EMAILID ? "EMAILID" : "THREADID",
                      k->str);
        break;
    case PH_IMAP_SEARCH_SEQSET:
    case PH_IMAP_SEARCH_UIDSET:
        if (k->set.n == 0) {
            ph_buf_puts(out, "NOT ALL");
            break;
        }
        if (k->op == PH_IMAP_SEARCH_UIDSET)
            ph_buf_puts(out, "UID ");
        ph_imap_seqset_write(out, &k->set);
        break;
    case PH_IMAP_SEARCH_LARGER:
    case PH_IMAP_SEARCH_SMALLER:
    case PH_IMAP_SEARCH_MODSEQ:
        ph_buf_printf(out, "%s %llu",
                      k->op == PH_IMAP_SEARCH_LARGER    ? "LARGER"
                      : k->op == PH_IMAP_SEARCH_SMALLER ? "SMALLER"
                                                        : "MODSEQ",
                      (unsigned long long)k->number);
        break;
    case PH_IMAP_SEARCH_BEFORE:
    case PH_IMAP_SEARCH_ON:
    case PH_IMAP_SEARCH_SINCE:
    case PH_IMAP_SEARCH_SENTBEFORE:
    case PH_IMAP_SEARCH_SENTON:
    case PH_IMAP_SEARCH_SENTSINCE:
        ph_buf_printf(out, "%s ", date_names[k->op]);
        write_day(out, k->day);
        break;
    case PH_IMAP_SEARCH_HEADER:
        ph_buf_puts(out, "HEADER ");
        ph_imap_write_astring(out, k->field, strlen(k->field));
        ph_buf_putc(out, ' ');
        ph_imap_write_astring(out, k->str, k->len);
        break;
    case PH_IMAP_SEARCH_BODY:
    case PH_IMAP_SEARCH_TEXT:
        ph_buf_puts(out, k->op == PH_IMAP_SEARCH_BODY ? "BODY " : "TEXT ");
        ph_imap_write_astring(out, k->str, k->len);
        break;
    }
}

void ph_imap_search_write(struct ph_buf *out, const struct ph_imap_search *prog)
{
    write_key(out, &prog->root, true);
}

/* ---- Evaluating --------------------------------------------------------- */

static int match_header(const struct ph_imap_search_key *k,
                        const struct ph_imap_search_msg *msg)
{
    const char *const *values;
    size_t n;
    if (msg->header == NULL ||
        msg->header(msg->context, k->field, &values, &n) < 0)
        return -1;
    /* An empty string matches every message that has the field. */
    if (k->len == 0)
        return n > 0;
    for (size_t i = 0; i < n; i++) {
        if (ph_message_text_contains(values[i], strlen(values[i]), k->str,
                                     k->len))
            return 1;
    }
    return 0;
}

static int match_key(const struct ph_imap_search_key *k,
                     const struct ph_imap_search_msg *msg)
{
    switch (k->op) {
    case PH_IMAP_SEARCH_AND:
    case PH_IMAP_SEARCH_OR: {
        /* AND stops at the first false, OR at the first true; a failure
         * counts only when no other child decides. */
        int decisive = k->op == PH_IMAP_SEARCH_OR;
        bool failed = false;
        for (size_t i = 0; i < k->n_children; i++) {
            int r = match_key(&k->children[i], msg);
            if (r == decisive)
                return decisive;
            if (r < 0)
                failed = true;
        }
        return failed ? -1 : !decisive;
    }
    case PH_IMAP_SEARCH_NOT: {
        int r = match_key(&k->children[0], msg);
        return r < 0 ? -1 : !r;
    }
    case PH_IMAP_SEARCH_ALL: return 1;
    case PH_IMAP_SEARCH_FLAG: return (msg->flags & k->flag) != 0;
    case PH_IMAP_SEARCH_RECENT: return msg->recent;
    case PH_IMAP_SEARCH_KEYWORD:
        for (size_t i = 0; i < msg->n_keywords; i++) {
            if (strcasecmp(msg->keywords[i], k->str) == 0)
                return 1;
        }
        return 0;
    case PH_IMAP_SEARCH_SEQSET:
        return ph_imap_seqset_contains(&k->set, msg->seq);
    case PH_IMAP_SEARCH_UIDSET:
        return ph_imap_seqset_contains(&k->set, msg->uid);
    case PH_IMAP_SEARCH_LARGER: return msg->size > k->number;
    case PH_IMAP_SEARCH_SMALLER: return msg->size < k->number;
    case PH_IMAP_SEARCH_MODSEQ: return msg->modseq >= k->number;
    case PH_IMAP_SEARCH_EMAILID:
        return msg->emailid != NULL && strcmp(msg->emailid, k->str) == 0;
    case PH_IMAP_SEARCH_THREADID:
        return msg->threadid != NULL && strcmp(msg->threadid, k->str) == 0;
    case PH_IMAP_SEARCH_BEFORE:
        return ph_imap_day_of(msg->internal_date, msg->internal_tz) < k->day;
    case PH_IMAP_SEARCH_ON:
        return ph_imap_day_of(msg->internal_date, msg->internal_tz) == k->day;
    case PH_IMAP_SEARCH_SINCE:
        return ph_imap_day_of(msg->internal_date, msg->internal_tz) >= k->day;
    case PH_IMAP_SEARCH_SENTBEFORE:
        return msg->has_date &&
               ph_imap_day_of(msg->date, msg->date_tz) < k->day;
    case PH_IMAP_SEARCH_SENTON:
        return msg->has_date &&
               ph_imap_day_of(msg->date, msg->date_tz) == k->day;
    case PH_IMAP_SEARCH_SENTSINCE:
        return msg->has_date &&
               ph_imap_day_of(msg->date, msg->date_tz) >= k->day;
    case PH_IMAP_SEARCH_HEADER: return match_header(k, msg);
    case PH_IMAP_SEARCH_BODY:
    case PH_IMAP_SEARCH_TEXT: {
        if (k->len == 0)
            return 1;
        bool match = false;
        if (msg->text_contains == NULL ||
            msg->text_contains(msg->context, k->op == PH_IMAP_SEARCH_TEXT,
                               k->str, k->len, &match) < 0)
            return -1;
        return match;
    }
    }
    return 0;
}

int ph_imap_search_match(const struct ph_imap_search *prog,
                         const struct ph_imap_search_msg *msg)
{
    return match_key(&prog->root, msg);
}
