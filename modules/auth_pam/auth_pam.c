/* SPDX-License-Identifier: MIT */
/* auth.pam: system accounts through PAM.
 *
 *   auth pam                                   (inline: service posthorn)
 *   auth.pam system_users {
 *       service posthorn     # /etc/pam.d/posthorn
 *       use_helper yes       # run posthorn-pam-helper instead of libpam
 *       helper /usr/libexec/posthorn/posthorn-pam-helper
 *       helper_timeout 30s
 *       debug
 *   }
 *
 * In-process mode calls libpam on the endpoint's worker thread (PAM blocks,
 * and a failure takes PAM's own delay; the module adds none). Helper mode
 * is for a server that runs unprivileged: a small setuid program reads the
 * username and password from stdin and answers with its exit code; the
 * module then never calls libpam itself. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <posthorn/auth-impl.h>
#include <posthorn/log.h>

#include "helper_directives.h"
#include "pam_check.h"

struct pam_conf {
    char *service;
    bool use_helper;
    char *helper;
    int64_t helper_timeout; /* ms */
    bool debug;
};

struct auth_pam {
    struct pam_conf *conf;
    const char *name;
};

/* Helper mode: the helper's exit codes are pam_check's results, the
 * protocol of ph_auth_helper_check. */
static enum ph_auth_result helper_check(struct auth_pam *ap, const char *user,
                                        const char *password,
                                        const char **error_r)
{
    const struct pam_conf *c = ap->conf;
    char *argv[] = {c->helper, c->service, NULL};
    return ph_auth_helper_check("auth.pam", ap->name, c->helper, argv,
                                c->helper_timeout, c->debug, user, password,
                                error_r);
}

static enum ph_auth_result pam_inproc_check(struct auth_pam *ap,
                                            const char *user,
                                            const char *password,
                                            const char **error_r)
{
    const char *reason;
    enum pam_check_result r =
        pam_check(ap->conf->service, user, password, &reason);
    *error_r = reason;
    if (r == PAM_CHECK_ERROR) {
        char *why = ph_log_escape(reason);
        ph_log_error("mod=auth.pam instance=%s event=check service=%s "
                     "result=error reason=%s",
                     ap->name, ap->conf->service, why);
        free(why);
        return PH_AUTH_TEMPFAIL;
    }
    return r == PAM_CHECK_OK ? PH_AUTH_OK : PH_AUTH_FAILED;
}

static enum ph_auth_result ap_check(void *ctx, const char *username,
                                    const char *password, const char **error_r)
{
    struct auth_pam *ap = ctx;
    /* The helper's protocol is one line each; keep both modes alike. */
    if (username[0] == '\0' || strlen(username) > PAM_CHECK_MAX_USER ||
        strchr(username, '\n') != NULL) {
        *error_r = "username not acceptable to PAM";
        return PH_AUTH_FAILED;
    }
    if (strlen(password) > PAM_CHECK_MAX_PASSWORD ||
        strchr(password, '\n') != NULL) {
        *error_r = "password not acceptable to PAM";
        return PH_AUTH_FAILED;
    }
    enum ph_auth_result r =
        ap->conf->use_helper
            ? helper_check(ap, username, password, error_r)
            : pam_inproc_check(ap, username, password, error_r);
    if (ap->conf->debug || ph_log_debug_enabled()) {
        char *u = ph_log_escape(username);
        char *why = ph_log_escape(*error_r ? *error_r : "");
        ph_log_info("mod=auth.pam instance=%s event=check service=%s mode=%s "
                    "user=%s result=%s reason=%s",
                    ap->name, ap->conf->service,
                    ap->conf->use_helper ? "helper" : "in-process", u,
                    r == PH_AUTH_OK       ? "ok"
                    : r == PH_AUTH_FAILED ? "failed"
                                          : "tempfail",
                    why);
        free(u);
        free(why);
    }
    return r;
}

static int ap_create(struct ph_instance *inst, void *conf, void **ctx_r,
                     char **error_r)
{
    struct pam_conf *c = conf;
    if (!pam_check_service_valid(c->service)) {
        *error_r = ph_strdup_printf(
            "service \"%s\": expected a file name in /etc/pam.d "
            "(letters, digits, '_', '.', '-')",
            c->service);
        return -1;
    }
    if (c->use_helper && access(c->helper, X_OK) != 0) {
        *error_r = ph_strdup_printf(
            "helper %s: %s (build and install posthorn-pam-helper, or set "
            "`helper PATH`)",
            c->helper, strerror(errno));
        return -1;
    }
    struct auth_pam *ap = ph_calloc(1, sizeof(*ap));
    ap->conf = c;
    ap->name = ph_instance_name(inst);
    *ctx_r = ap;
    return 0;
}

static void ap_destroy(void *ctx)
{
    free(ctx);
}

static const struct ph_auth_vfuncs ap_vfuncs = {
    .check = ap_check,
};

#define OFF(f) offsetof(struct pam_conf, f)
static const struct ph_directive ap_directives[] = {
    {.name = "service",
     .type = PH_DT_STRING,
     .offset = OFF(service),
     .def = "posthorn",
     .help = "the PAM service (file in /etc/pam.d)"},
    PH_PAM_HELPER_DIRECTIVES(struct pam_conf, "posthorn-pam-helper"),
    {.name = NULL},
};

PH_MODULE(.names = (const char *const[]){"auth.pam", NULL},
          .kind = PH_MODULE_AUTH,
          .description = "system accounts through PAM (in-process or helper)",
          .directives = ap_directives, .conf_size = sizeof(struct pam_conf),
          .create = ap_create, .destroy = ap_destroy, .iface = &ap_vfuncs);
