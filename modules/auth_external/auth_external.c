/* SPDX-License-Identifier: MIT */
/* auth.external: a password check by a program of the admin's, with
 * maddy's protocol and directives:
 *
 *   auth external /usr/local/bin/check-password      (inline: helper)
 *   auth.external directory {
 *       helper /usr/local/bin/check-password
 *       perdomain no          # yes: keep and require the @domain
 *       domains example.org   # the domains a username may carry
 *       helper_timeout 30s
 *       debug
 *   }
 *
 * The program gets the username and the password on stdin, one line each,
 * and exits 0 (accepted), 1 (rejected) or 2 (could not decide, logged with
 * its stderr); ph_auth_helper_check runs it. It is started once per check,
 * on the endpoint's worker thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <posthorn/auth-impl.h>
#include <posthorn/log.h>

/* What the helper reads: bounded like auth.pam's, so a client cannot make
 * posthorn write megabytes into a pipe. */
#define EXT_MAX_USER 256
#define EXT_MAX_PASSWORD 1024

struct ext_conf {
    char *helper;
    bool perdomain;
    struct ph_strlist domains;
    int64_t helper_timeout; /* ms */
    bool debug;
};

struct auth_external {
    const struct ext_conf *conf;
    const char *name;
};

static bool domain_allowed(const struct ext_conf *c, const char *domain)
{
    for (size_t i = 0; i < c->domains.n; i++)
        if (strcasecmp(c->domains.v[i], domain) == 0)
            return true;
    return false;
}

/* maddy's rule for user@domain. Without perdomain the helper sees the part
 * before the '@', and a domain, when there is one, must be listed in
 * domains. With perdomain it sees the whole name, which must carry a
 * listed domain. NULL: the name is not acceptable. */
static char *account_name(const struct ext_conf *c, const char *username)
{
    const char *at = strrchr(username, '@');
    if (c->perdomain) {
        if (at == NULL || at == username || !domain_allowed(c, at + 1))
            return NULL;
        return ph_strdup(username);
    }
    if (at == NULL)
        return ph_strdup(username);
    if (at == username || !domain_allowed(c, at + 1))
        return NULL;
    return ph_strndup(username, (size_t)(at - username));
}

static enum ph_auth_result ext_check(void *ctx, const char *username,
                                     const char *password, const char **error_r)
{
    struct auth_external *ae = ctx;
    const struct ext_conf *c = ae->conf;
    if (username[0] == '\0' || strlen(username) > EXT_MAX_USER) {
        *error_r = "username not acceptable to the helper";
        return PH_AUTH_FAILED;
    }
    if (strlen(password) > EXT_MAX_PASSWORD) {
        *error_r = "password not acceptable to the helper";
        return PH_AUTH_FAILED;
    }
    char *account = account_name(c, username);
    if (account == NULL) {
        *error_r = "the username's domain is not one of domains";
        return PH_AUTH_FAILED;
    }
    char *argv[] = {c->helper, NULL};
    enum ph_auth_result r =
        ph_auth_helper_check("auth.external", ae->name, c->helper, argv,
                             c->helper_timeout, c->debug, account, password,
                             error_r);
    if (c->debug || ph_log_debug_enabled()) {
        char *u = ph_log_escape(username);
        char *a = ph_log_escape(account);
        char *why = ph_log_escape(*error_r ? *error_r : "");
        ph_log_info("mod=auth.external instance=%s event=check user=%s "
                    "account=%s result=%s reason=%s",
                    ae->name, u, a,
                    r == PH_AUTH_OK       ? "ok"
                    : r == PH_AUTH_FAILED ? "failed"
                                          : "tempfail",
                    why);
        free(u);
        free(a);
        free(why);
    }
    free(account);
    return r;
}

static int ext_create(struct ph_instance *inst, void *conf, void **ctx_r,
                      char **error_r)
{
    struct ext_conf *c = conf;
    if (c->helper == NULL || c->helper[0] != '/') {
        *error_r = ph_strdup("helper: the program's absolute path is required");
        return -1;
    }
    if (access(c->helper, X_OK) != 0) {
        *error_r = ph_strdup_printf("helper %s: %s", c->helper, strerror(errno));
        return -1;
    }
    if (c->perdomain && c->domains.n == 0) {
        *error_r = ph_strdup("perdomain needs the domains a username may carry "
                             "(`domains example.org ...`)");
        return -1;
    }
    struct auth_external *ae = ph_calloc(1, sizeof(*ae));
    ae->conf = c;
    ae->name = ph_instance_name(inst);
    *ctx_r = ae;
    return 0;
}

static void ext_destroy(void *ctx) { free(ctx); }

static const struct ph_auth_vfuncs ext_vfuncs = {
    .check = ext_check,
};

#define OFF(f) offsetof(struct ext_conf, f)
static const struct ph_directive ext_directives[] = {
    {.name = "helper",
     .type = PH_DT_STRING,
     .flags = PH_DF_REQUIRED,
     .offset = OFF(helper),
     .help = "the program that checks a username and password"},
    {.name = "perdomain",
     .type = PH_DT_BOOL,
     .offset = OFF(perdomain),
     .def = "no",
     .help = "pass user@domain whole (and require a listed domain)"},
    {.name = "domains",
     .type = PH_DT_LIST,
     .flags = PH_DF_REPEAT,
     .offset = OFF(domains),
     .min_args = 1,
     .max_args = -1,
     .help = "the domains a username may carry after '@'"},
    {.name = "helper_timeout",
     .type = PH_DT_DURATION,
     .offset = OFF(helper_timeout),
     .def = "30s",
     .help = "how long the helper may take before the check fails"},
    {.name = "debug",
     .type = PH_DT_BOOL,
     .flags = PH_DF_INHERIT,
     .offset = OFF(debug),
     .def = "no"},
    {.name = NULL},
};

PH_MODULE(.names = (const char *const[]){"auth.external", NULL},
          .kind = PH_MODULE_AUTH,
          .description = "passwords checked by an external program (maddy's "
                         "protocol)",
          .directives = ext_directives, .conf_size = sizeof(struct ext_conf),
          .inline_directive = "helper", .create = ext_create,
          .destroy = ext_destroy, .iface = &ext_vfuncs);
