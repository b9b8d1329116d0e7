/* SPDX-License-Identifier: MIT */
/* auth.shadow: system accounts read from the shadow file, without PAM's
 * stack (maddy's module of the same name):
 *
 *   auth shadow
 *   auth.shadow system_users {
 *       use_helper yes       # through posthorn-pam-helper --shadow
 *       helper /usr/libexec/posthorn/posthorn-pam-helper
 *       helper_timeout 30s
 *       shadow_file /etc/shadow   # in-process only
 *       debug
 *   }
 *
 * A locked account ("!" or "*"), an expired account or password (shadow(5))
 * is refused. In-process the server must be able to read the file; with
 * use_helper it may run unprivileged and the setuid helper reads
 * /etc/shadow for it (and never another file). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <posthorn/auth-impl.h>
#include <posthorn/log.h>

#include "helper_directives.h"
#include "shadow_check.h"

struct shadow_conf {
    bool use_helper;
    char *helper;
    int64_t helper_timeout; /* ms */
    char *shadow_file;
    bool debug;
};

struct auth_shadow {
    const struct shadow_conf *conf;
    const char *name;
};

static enum ph_auth_result sh_check(void *ctx, const char *username,
                                    const char *password, const char **error_r)
{
    struct auth_shadow *as = ctx;
    const struct shadow_conf *c = as->conf;
    if (username[0] == '\0' || strlen(username) > PAM_CHECK_MAX_USER ||
        strchr(username, '\n') != NULL || strchr(username, ':') != NULL) {
        *error_r = "username not acceptable to auth.shadow";
        return PH_AUTH_FAILED;
    }
    if (strlen(password) > PAM_CHECK_MAX_PASSWORD ||
        strchr(password, '\n') != NULL) {
        *error_r = "password not acceptable to auth.shadow";
        return PH_AUTH_FAILED;
    }
    if (c->use_helper) {
        char *argv[] = {c->helper, "--shadow", NULL};
        return ph_auth_helper_check("auth.shadow", as->name, c->helper, argv,
                                    c->helper_timeout, c->debug, username,
                                    password, error_r);
    }
    enum pam_check_result r =
        shadow_check(c->shadow_file, username, password, time(NULL), error_r);
    if (r == PAM_CHECK_ERROR) {
        char *why = ph_log_escape(*error_r);
        char *file = ph_log_escape(c->shadow_file);
        ph_log_error("mod=auth.shadow instance=%s event=check file=%s "
                     "result=error reason=%s",
                     as->name, file, why);
        free(why);
        free(file);
        return PH_AUTH_TEMPFAIL;
    }
    if (c->debug || ph_log_debug_enabled()) {
        char *u = ph_log_escape(username);
        ph_log_info("mod=auth.shadow instance=%s event=check user=%s "
                    "result=%s reason=\"%s\"",
                    as->name, u, r == PAM_CHECK_OK ? "ok" : "failed", *error_r);
        free(u);
    }
    return r == PAM_CHECK_OK ? PH_AUTH_OK : PH_AUTH_FAILED;
}

static int sh_create(struct ph_instance *inst, void *conf, void **ctx_r,
                     char **error_r)
{
    struct shadow_conf *c = conf;
    if (c->use_helper) {
        if (strcmp(c->shadow_file, SHADOW_CHECK_FILE) != 0) {
            *error_r = ph_strdup("shadow_file: the helper reads " SHADOW_CHECK_FILE
                                 " only (a setuid program takes no file name)");
            return -1;
        }
        if (access(c->helper, X_OK) != 0) {
            *error_r = ph_strdup_printf("helper %s: %s", c->helper,
                                        strerror(errno));
            return -1;
        }
    }
    struct auth_shadow *as = ph_calloc(1, sizeof(*as));
    as->conf = c;
    as->name = ph_instance_name(inst);
    *ctx_r = as;
    return 0;
}

static void sh_destroy(void *ctx) { free(ctx); }

static const struct ph_auth_vfuncs sh_vfuncs = {
    .check = sh_check,
};

#define OFF(f) offsetof(struct shadow_conf, f)
static const struct ph_directive sh_directives[] = {
    PH_PAM_HELPER_DIRECTIVES(struct shadow_conf,
                             "posthorn-pam-helper --shadow"),
    {.name = "shadow_file",
     .type = PH_DT_STRING,
     .offset = OFF(shadow_file),
     .def = SHADOW_CHECK_FILE,
     .help = "the shadow file read in-process"},
    {.name = NULL},
};

PH_MODULE(.names = (const char *const[]){"auth.shadow", NULL},
          .kind = PH_MODULE_AUTH,
          .description = "system accounts from the shadow file (in-process "
                         "or helper)",
          .directives = sh_directives, .conf_size = sizeof(struct shadow_conf),
          .create = sh_create, .destroy = sh_destroy, .iface = &sh_vfuncs);
