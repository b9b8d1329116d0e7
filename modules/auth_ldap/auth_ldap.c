/* SPDX-License-Identifier: MIT */
/* auth.ldap and table.ldap: an LDAP directory, with maddy's directives.
 * One source, two module files (a module file has one kind): built with
 * LDAP_TABLE it is table.ldap.
 *
 *   auth.ldap directory {
 *       urls ldap://ldap1.example.org ldaps://ldap2.example.org
 *       bind plain "cn=posthorn,ou=services,dc=example,dc=org" "secret"
 *                                    # or off (default), unauth, external
 *       dn_template "uid={username},ou=people,dc=example,dc=org"
 *       # or: find the DN with a search (bind needed unless anonymous)
 *       base_dn "ou=people,dc=example,dc=org"
 *       filter "(&(objectClass=posixAccount)(uid={username}))"
 *       starttls no
 *       tls_client { root_ca /etc/ssl/ldap-ca.pem; cert F; key F }
 *       connect_timeout 1m
 *       request_timeout 1m
 *       debug
 *   }
 *
 * A password is checked by binding as the user: posthorn never reads or
 * compares a hash. The username is escaped where it goes (RFC 4515 in a
 * filter, RFC 4514 in a DN), and an empty password is refused before the
 * server sees it (a simple bind without one is an anonymous bind, which
 * succeeds). Connections are pooled, each used by one worker at a time;
 * after a user's bind the connection binds again with `bind` before it
 * searches. table.ldap answers a name that the search finds (exactly one
 * entry) with the name itself. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include <posthorn/auth-impl.h>
#include <posthorn/log.h>
#include <posthorn/table-impl.h>

#ifdef LDAP_TABLE
#define MOD_NAME "table.ldap"
#else
#define MOD_NAME "auth.ldap"
#endif

#define LDAP_MAX_IDLE 8
#define LDAP_MAX_USER 256
#define LDAP_MAX_PASSWORD 1024

enum bind_mode { BIND_OFF, BIND_UNAUTH, BIND_EXTERNAL, BIND_PLAIN };

struct ldap_tls {
    char *root_ca, *cert, *key;
};

struct ldap_conf {
    struct ph_strlist urls;
    struct ph_strlist bind; /* off | unauth | external | plain DN PASSWORD */
    char *dn_template;
    char *base_dn;
    char *filter;
    bool starttls;
    struct ldap_tls *tls;
    int64_t connect_timeout, request_timeout; /* ms */
    bool debug;
};

struct ldap_ctx {
    const struct ldap_conf *conf;
    const char *name;
    char *uri; /* the urls, space-separated, for ldap_initialize */
    enum bind_mode bind;
    pthread_mutex_t lock;
    LDAP *idle[LDAP_MAX_IDLE];
    bool idle_service[LDAP_MAX_IDLE]; /* bound as `bind`, ready to search */
    size_t nidle;
};

/* ---- Escaping ------------------------------------------------------------ */

/* RFC 4515 3: in a filter's assertion value, '*', '(', ')', '\' and NUL
 * are written \2a \28 \29 \5c \00 (other bytes may stay). */
static void escape_filter(struct ph_buf *b, const char *s)
{
    for (; *s; s++) {
        if (strchr("*()\\", *s))
            ph_buf_printf(b, "\\%02x", (unsigned char)*s);
        else
            ph_buf_putc(b, *s);
    }
}

#ifndef LDAP_TABLE
/* RFC 4514 2.4: in an attribute value of a DN, '"', '+', ',', ';', '<',
 * '>', '\' and '=' are escaped, and so are a leading space or '#' and a
 * trailing space. */
static void escape_dn(struct ph_buf *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (strchr("\"+,;<>\\=", c) || (i == 0 && (c == ' ' || c == '#')) ||
            (i == n - 1 && c == ' '))
            ph_buf_printf(b, "\\%02x", (unsigned char)c);
        else
            ph_buf_putc(b, c);
    }
}
#endif

/* The template with each {username} replaced by the escaped name. */
static char *expand(const char *tmpl, const char *user,
                    void (*escape)(struct ph_buf *, const char *))
{
    struct ph_buf b = {0};
    const char *p = tmpl, *hit;
    while ((hit = strstr(p, "{username}")) != NULL) {
        ph_buf_append(&b, p, (size_t)(hit - p));
        escape(&b, user);
        p = hit + strlen("{username}");
    }
    ph_buf_puts(&b, p);
    ph_buf_putc(&b, '\0');
    return ph_buf_steal(&b);
}

/* ---- Connections --------------------------------------------------------- */

static void log_ldap(const struct ldap_ctx *ctx, const char *event, int rc,
                     LDAP *ld)
{
    char *diag = NULL;
    if (ld != NULL)
        ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
    char *why = ph_log_escape(diag ? diag : "");
    ph_log_error("mod=" MOD_NAME " instance=%s event=%s error=\"%s\" diag=%s",
                 ctx->name, event, ldap_err2string(rc), why);
    free(why);
    ldap_memfree(diag);
}

/* Whether rc says the connection, not the request, failed. */
static bool conn_failed(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR ||
           rc == LDAP_TIMEOUT || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY;
}

static int simple_bind(LDAP *ld, const char *dn, const char *password)
{
    struct berval cred = {.bv_val = (char *)password,
                          .bv_len = password ? strlen(password) : 0};
    return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/* Binds with the configured `bind`; LDAP_SUCCESS or the error. */
static int service_bind(const struct ldap_ctx *ctx, LDAP *ld)
{
    switch (ctx->bind) {
    case BIND_OFF:
        /* Anonymous: a new connection is; one a user bound on is made so
         * again, so that searches never run with a user's rights. */
        return simple_bind(ld, "", "");
    case BIND_UNAUTH:
        return simple_bind(ld, "", "");
    case BIND_EXTERNAL:
        return ldap_sasl_bind_s(ld, NULL, "EXTERNAL", NULL, NULL, NULL, NULL);
    case BIND_PLAIN:
        return simple_bind(ld, ctx->conf->bind.v[1], ctx->conf->bind.v[2]);
    }
    return LDAP_OTHER;
}

static LDAP *conn_open(struct ldap_ctx *ctx, const char **error_r)
{
    const struct ldap_conf *c = ctx->conf;
    LDAP *ld = NULL;
    int rc = ldap_initialize(&ld, ctx->uri);
    if (rc != LDAP_SUCCESS) {
        log_ldap(ctx, "connect", rc, NULL);
        *error_r = "cannot reach the directory";
        return NULL;
    }
    int version = LDAP_VERSION3;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON);
    struct timeval ct = {.tv_sec = c->connect_timeout / 1000,
                         .tv_usec = (c->connect_timeout % 1000) * 1000};
    struct timeval rt = {.tv_sec = c->request_timeout / 1000,
                         .tv_usec = (c->request_timeout % 1000) * 1000};
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &ct);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &rt);
    if (c->tls != NULL) {
        int demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
        ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
        if (c->tls->root_ca)
            ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, c->tls->root_ca);
        if (c->tls->cert)
            ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, c->tls->cert);
        if (c->tls->key)
            ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, c->tls->key);
        /* The options above apply to a fresh TLS context of this handle. */
        ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
    }
    if (c->starttls && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
        log_ldap(ctx, "starttls", rc, ld);
        ldap_unbind_ext_s(ld, NULL, NULL);
        *error_r = "cannot reach the directory (STARTTLS)";
        return NULL;
    }
    return ld;
}

/* A connection from the pool (*service_r: bound as `bind`), or a new one. */
static LDAP *conn_get(struct ldap_ctx *ctx, bool *service_r,
                      const char **error_r)
{
    pthread_mutex_lock(&ctx->lock);
    LDAP *ld = NULL;
    if (ctx->nidle > 0) {
        ctx->nidle--;
        ld = ctx->idle[ctx->nidle];
        *service_r = ctx->idle_service[ctx->nidle];
    }
    pthread_mutex_unlock(&ctx->lock);
    if (ld != NULL)
        return ld;
    *service_r = false;
    return conn_open(ctx, error_r);
}

static void conn_put(struct ldap_ctx *ctx, LDAP *ld, bool service, bool broken)
{
    if (!broken) {
        pthread_mutex_lock(&ctx->lock);
        if (ctx->nidle < LDAP_MAX_IDLE) {
            ctx->idle[ctx->nidle] = ld;
            ctx->idle_service[ctx->nidle] = service;
            ctx->nidle++;
            ld = NULL;
        }
        pthread_mutex_unlock(&ctx->lock);
    }
    if (ld != NULL)
        ldap_unbind_ext_s(ld, NULL, NULL);
}

/* ---- Finding a user ------------------------------------------------------ */

/* The user's DN by the search: 1 found (*dn_r), 0 none or several, -1 the
 * directory failed (*broken_r when the connection did). */
static int find_dn(struct ldap_ctx *ctx, LDAP *ld, bool *service,
                   const char *user, char **dn_r, bool *broken_r)
{
    const struct ldap_conf *c = ctx->conf;
    int rc;
    if (!*service) {
        if ((rc = service_bind(ctx, ld)) != LDAP_SUCCESS) {
            log_ldap(ctx, "bind", rc, ld);
            *broken_r = conn_failed(rc);
            return -1;
        }
        *service = true;
    }
    char *filter = expand(c->filter, user, escape_filter);
    char *attrs[] = {LDAP_NO_ATTRS, NULL};
    struct timeval rt = {.tv_sec = c->request_timeout / 1000,
                         .tv_usec = (c->request_timeout % 1000) * 1000};
    LDAPMessage *res = NULL;
    /* Two entries are enough to know the name is ambiguous. */
    rc = ldap_search_ext_s(ld, c->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs,
                           0, NULL, NULL, &rt, 2, &res);
    free(filter);
    int found = 0;
    if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
        int n = ldap_count_entries(ld, res);
        if (n == 1 && rc == LDAP_SUCCESS) {
            char *dn = ldap_get_dn(ld, ldap_first_entry(ld, res));
            if (dn != NULL) {
                *dn_r = ph_strdup(dn);
                ldap_memfree(dn);
                found = 1;
            }
        } else if (n > 1 || rc == LDAP_SIZELIMIT_EXCEEDED) {
            char *u = ph_log_escape(user);
            ph_log_error("mod=" MOD_NAME " instance=%s event=search user=%s "
                         "error=\"the filter matches several entries\"",
                         ctx->name, u);
            free(u);
        }
    } else if (rc != LDAP_NO_SUCH_OBJECT) {
        log_ldap(ctx, "search", rc, ld);
        *broken_r = conn_failed(rc);
        found = -1;
    }
    ldap_msgfree(res);
    return found;
}

/* Runs fn on a pooled connection, once more on a new one when the first
 * failed as a connection (a server restarted, an idle connection cut). */
static int with_conn(struct ldap_ctx *ctx,
                     int (*fn)(struct ldap_ctx *, LDAP *, bool *, void *,
                               bool *),
                     void *arg, const char **error_r)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        bool service, broken = false;
        LDAP *ld = conn_get(ctx, &service, error_r);
        if (ld == NULL)
            return -1;
        int r = fn(ctx, ld, &service, arg, &broken);
        conn_put(ctx, ld, service, broken);
        if (r >= 0 || !broken)
            return r < 0 ? (*error_r = "the directory failed", -1) : r;
    }
    *error_r = "cannot reach the directory";
    return -1;
}

#ifndef LDAP_TABLE
struct check_arg {
    const char *user, *password;
};

/* 1 accepted, 0 rejected, -1 the directory failed. */
static int check_on(struct ldap_ctx *ctx, LDAP *ld, bool *service, void *argp,
                    bool *broken_r)
{
    const struct check_arg *a = argp;
    char *dn = NULL;
    if (ctx->conf->dn_template != NULL) {
        dn = expand(ctx->conf->dn_template, a->user, escape_dn);
    } else {
        int f = find_dn(ctx, ld, service, a->user, &dn, broken_r);
        if (f <= 0)
            return f;
    }
    int rc = simple_bind(ld, dn, a->password);
    /* The connection is now the user's (or unbound): bind again before
     * the next search, with `bind` (anonymously for bind off). */
    *service = false;
    free(dn);
    if (rc == LDAP_SUCCESS)
        return 1;
    if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INVALID_DN_SYNTAX ||
        rc == LDAP_NO_SUCH_OBJECT || rc == LDAP_UNWILLING_TO_PERFORM ||
        rc == LDAP_INAPPROPRIATE_AUTH)
        return 0;
    log_ldap(ctx, "user_bind", rc, ld);
    *broken_r = conn_failed(rc);
    return -1;
}

static enum ph_auth_result dir_check(void *ctx_p, const char *username,
                                      const char *password,
                                      const char **error_r)
{
    struct ldap_ctx *ctx = ctx_p;
    if (username[0] == '\0' || strlen(username) > LDAP_MAX_USER) {
        *error_r = "username not acceptable to the directory";
        return PH_AUTH_FAILED;
    }
    /* RFC 4513 5.1.2: a simple bind with a DN and no password is an
     * unauthenticated bind, and servers accept it. */
    if (password[0] == '\0' || strlen(password) > LDAP_MAX_PASSWORD) {
        *error_r = "empty or over-long password";
        return PH_AUTH_FAILED;
    }
    struct check_arg a = {username, password};
    int r = with_conn(ctx, check_on, &a, error_r);
    if (ctx->conf->debug || ph_log_debug_enabled()) {
        char *u = ph_log_escape(username);
        ph_log_info("mod=" MOD_NAME " instance=%s event=check user=%s "
                    "result=%s",
                    ctx->name, u,
                    r > 0 ? "ok" : r == 0 ? "failed" : "tempfail");
        free(u);
    }
    if (r < 0)
        return PH_AUTH_TEMPFAIL;
    *error_r = r ? "accepted" : "the directory refused the credentials";
    return r ? PH_AUTH_OK : PH_AUTH_FAILED;
}
#else
static int lookup_on(struct ldap_ctx *ctx, LDAP *ld, bool *service,
                     void *argp, bool *broken_r)
{
    char *dn = NULL;
    int f = find_dn(ctx, ld, service, argp, &dn, broken_r);
    free(dn);
    return f;
}

static enum ph_lookup dir_lookup(void *ctx_p, const char *key,
                                  struct ph_strlist *values_r,
                                  const char **error_r)
{
    struct ldap_ctx *ctx = ctx_p;
    if (key[0] == '\0' || strlen(key) > LDAP_MAX_USER)
        return PH_LOOKUP_NOT_FOUND;
    int r = with_conn(ctx, lookup_on, (void *)key, error_r);
    if (r < 0)
        return PH_LOOKUP_TEMPFAIL;
    if (r == 0)
        return PH_LOOKUP_NOT_FOUND;
    ph_strlist_add(values_r, key);
    return PH_LOOKUP_FOUND;
}
#endif

/* ---- The instance --------------------------------------------------------- */

static void dir_destroy(void *ctx_p)
{
    struct ldap_ctx *ctx = ctx_p;
    if (ctx == NULL)
        return;
    for (size_t i = 0; i < ctx->nidle; i++)
        ldap_unbind_ext_s(ctx->idle[i], NULL, NULL);
    free(ctx->uri);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

static int dir_create(struct ph_instance *inst, void *conf_p, void **ctx_r,
                       char **error_r)
{
    const struct ldap_conf *c = conf_p;
    enum bind_mode bind = BIND_OFF;
    const char *mode = c->bind.n > 0 ? c->bind.v[0] : "off";
    if (strcmp(mode, "off") == 0 && c->bind.n <= 1)
        bind = BIND_OFF;
    else if (strcmp(mode, "unauth") == 0 && c->bind.n == 1)
        bind = BIND_UNAUTH;
    else if (strcmp(mode, "external") == 0 && c->bind.n == 1)
        bind = BIND_EXTERNAL;
    else if (strcmp(mode, "plain") == 0 && c->bind.n == 3)
        bind = BIND_PLAIN;
    else {
        *error_r = ph_strdup("bind: off, unauth, external or plain DN PASSWORD");
        return -1;
    }
#ifdef LDAP_TABLE
    bool need_search = true;
#else
    bool need_search = c->dn_template == NULL;
#endif
    if (need_search && (c->base_dn == NULL || c->filter == NULL)) {
        *error_r = ph_strdup(c->dn_template != NULL
                                 ? "table.ldap finds names with base_dn and "
                                   "filter (dn_template is for auth.ldap)"
                                 : "dn_template, or base_dn and filter, are "
                                   "needed to find a user's DN");
        return -1;
    }
    if (need_search && strstr(c->filter, "{username}") == NULL) {
        *error_r = ph_strdup("filter: {username} is missing");
        return -1;
    }
    if (c->dn_template != NULL && strstr(c->dn_template, "{username}") == NULL) {
        *error_r = ph_strdup("dn_template: {username} is missing");
        return -1;
    }
    struct ph_buf uri = {0};
    for (size_t i = 0; i < c->urls.n; i++) {
        const char *u = c->urls.v[i];
        if (strncasecmp(u, "ldap://", 7) != 0 && strncasecmp(u, "ldaps://", 8) != 0 &&
            strncasecmp(u, "ldapi://", 8) != 0) {
            ph_buf_free(&uri);
            *error_r = ph_strdup_printf("urls: %s is not ldap://, ldaps:// or "
                                        "ldapi://",
                                        u);
            return -1;
        }
        if (i > 0)
            ph_buf_putc(&uri, ' ');
        ph_buf_puts(&uri, u);
    }
    ph_buf_putc(&uri, '\0');
    struct ldap_ctx *ctx = ph_calloc(1, sizeof(*ctx));
    pthread_mutex_init(&ctx->lock, NULL);
    ctx->conf = c;
    ctx->name = ph_instance_name(inst);
    ctx->uri = ph_buf_steal(&uri);
    ctx->bind = bind;
    LDAP *probe = NULL;
    if (ldap_initialize(&probe, ctx->uri) != LDAP_SUCCESS) {
        *error_r = ph_strdup_printf("urls: libldap does not accept \"%s\"",
                                    ctx->uri);
        dir_destroy(ctx);
        return -1;
    }
    ldap_unbind_ext_s(probe, NULL, NULL);
    /* A first connection now, for the pool and for check-config: a
     * directory down at start-up is a warning (logins answer [UNAVAILABLE]
     * until it is back), not a server that does not start. */
    const char *why;
    LDAP *ld = conn_open(ctx, &why);
    int rc = LDAP_SERVER_DOWN;
    if (ld != NULL) {
        /* At most 5 s here: check-config and start-up wait for it. */
        struct timeval short_ct = {.tv_sec = 5}, ct = {
            .tv_sec = c->connect_timeout / 1000,
            .tv_usec = (c->connect_timeout % 1000) * 1000};
        if (c->connect_timeout > 5000)
            ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &short_ct);
        rc = ldap_connect(ld);
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &ct);
    }
    if (rc != LDAP_SUCCESS) {
        ph_log_warn("mod=" MOD_NAME " instance=%s event=unreachable urls=\"%s\" "
                    "msg=\"the directory cannot be reached now; checks fail "
                    "as unavailable until it can\"",
                    ctx->name, ctx->uri);
        if (ld != NULL)
            ldap_unbind_ext_s(ld, NULL, NULL);
    } else {
        conn_put(ctx, ld, false, false);
    }
    *ctx_r = ctx;
    return 0;
}

/* tls_client { root_ca F; cert F; key F } */
static const struct ph_directive tls_directives[] = {
    {.name = "root_ca",
     .type = PH_DT_STRING,
     .offset = offsetof(struct ldap_tls, root_ca),
     .help = "CA certificates the directory's certificate must chain to"},
    {.name = "cert",
     .type = PH_DT_STRING,
     .offset = offsetof(struct ldap_tls, cert),
     .help = "client certificate (bind external)"},
    {.name = "key",
     .type = PH_DT_STRING,
     .offset = offsetof(struct ldap_tls, key),
     .help = "the client certificate's key"},
    {.name = NULL},
};

static int tls_parse(const struct ph_cfg_node *node, void *field,
                     struct ph_conf_ctx *cctx, char **error_r)
{
    struct ldap_tls *t = ph_calloc(1, sizeof(*t));
    if (ph_conf_apply(node, tls_directives, t, cctx, error_r) < 0) {
        ph_conf_release(tls_directives, t);
        free(t);
        return -1;
    }
    *(struct ldap_tls **)field = t;
    return 0;
}

static void tls_free(void *field)
{
    struct ldap_tls **t = field;
    if (*t != NULL) {
        ph_conf_release(tls_directives, *t);
        free(*t);
        *t = NULL;
    }
}

#define OFF(f) offsetof(struct ldap_conf, f)
static const struct ph_directive dir_directives[] = {
    {.name = "urls",
     .type = PH_DT_LIST,
     .flags = PH_DF_REQUIRED | PH_DF_REPEAT,
     .offset = OFF(urls),
     .min_args = 1,
     .max_args = -1,
     .help = "directory servers, tried in order"},
    {.name = "bind",
     .type = PH_DT_LIST,
     .offset = OFF(bind),
     .min_args = 1,
     .max_args = 3,
     .help = "off, unauth, external, or plain DN PASSWORD (for searches)"},
    {.name = "dn_template",
     .type = PH_DT_STRING,
     .offset = OFF(dn_template),
     .help = "the user's DN, {username} replaced (escaped)"},
    {.name = "base_dn",
     .type = PH_DT_STRING,
     .offset = OFF(base_dn),
     .help = "where the search for a user starts"},
    {.name = "filter",
     .type = PH_DT_STRING,
     .offset = OFF(filter),
     .help = "the search's filter, {username} replaced (escaped)"},
    {.name = "starttls",
     .type = PH_DT_BOOL,
     .offset = OFF(starttls),
     .def = "no",
     .help = "STARTTLS on ldap:// connections"},
    {.name = "tls_client",
     .type = PH_DT_CUSTOM,
     .offset = OFF(tls),
     .min_args = 0,
     .max_args = 0,
     .parse = tls_parse,
     .free = tls_free,
     .help = "{ root_ca F; cert F; key F } for ldaps:// and STARTTLS"},
    {.name = "connect_timeout",
     .type = PH_DT_DURATION,
     .offset = OFF(connect_timeout),
     .def = "1m"},
    {.name = "request_timeout",
     .type = PH_DT_DURATION,
     .offset = OFF(request_timeout),
     .def = "1m"},
    {.name = "debug",
     .type = PH_DT_BOOL,
     .flags = PH_DF_INHERIT,
     .offset = OFF(debug),
     .def = "no"},
    {.name = NULL},
};

#ifdef LDAP_TABLE
static const struct ph_table_vfuncs dir_vfuncs = {
    .lookup = dir_lookup,
};
PH_MODULE(.names = (const char *const[]){"table.ldap", NULL},
          .kind = PH_MODULE_TABLE,
          .description = "the users an LDAP directory's search finds",
          .directives = dir_directives, .conf_size = sizeof(struct ldap_conf),
          .inline_directive = "urls", .create = dir_create,
          .destroy = dir_destroy, .iface = &dir_vfuncs);
#else
static const struct ph_auth_vfuncs dir_vfuncs = {
    .check = dir_check,
};
PH_MODULE(.names = (const char *const[]){"auth.ldap", NULL},
          .kind = PH_MODULE_AUTH,
          .description = "passwords checked by binding to an LDAP directory",
          .directives = dir_directives, .conf_size = sizeof(struct ldap_conf),
          .inline_directive = "urls", .create = dir_create,
          .destroy = dir_destroy, .iface = &dir_vfuncs);
#endif
