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
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <posthorn/auth-impl.h>
#include <posthorn/log.h>

#include "pam_check.h"

extern char **environ;

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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the helper's stderr until it closes or the deadline passes; keeps
 * the first bytes for the log. Returns -1 on timeout. */
static int read_stderr(int fd, int64_t deadline, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char buf[256];
        ssize_t got = read(fd, buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        size_t take = (size_t)got < cap - 1 - n ? (size_t)got : cap - 1 - n;
        memcpy(out + n, buf, take);
        n += take;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    out[n] = '\0';
    return 0;
}

/* Waits for the helper to exit until the deadline (0), kills it after
 * (-1); -2 when it cannot be waited for. */
static int wait_helper(pid_t pid, int64_t deadline, int *status_r)
{
    for (;;) {
        pid_t r = waitpid(pid, status_r, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -2;
        if (now_ms() >= deadline)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 2 * 1000 * 1000}, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, status_r, 0) < 0 && errno == EINTR)
        ;
    return -1;
}

static enum ph_auth_result helper_check(struct auth_pam *ap, const char *user,
                                        const char *password,
                                        const char **error_r)
{
    const struct pam_conf *c = ap->conf;
    int in[2], err[2];
    /* A socket for stdin: send() with MSG_NOSIGNAL raises no SIGPIPE when
     * the helper exits without reading. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0) {
        *error_r = "cannot run the PAM helper (socketpair)";
        return PH_AUTH_TEMPFAIL;
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        *error_r = "cannot run the PAM helper (pipe)";
        return PH_AUTH_TEMPFAIL;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[1], STDIN_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY,
                                     0);
    posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    /* Sessions' sockets and databases stay out of the helper. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    char *argv[] = {c->helper, c->service, NULL};
    pid_t pid;
    int r = posix_spawn(&pid, c->helper, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[1]);
    close(err[1]);
    char *helper = ph_log_escape(c->helper);
    if (r != 0) {
        close(in[0]);
        close(err[0]);
        ph_log_error("mod=auth.pam instance=%s event=helper helper=%s "
                     "error=\"%s\"",
                     ap->name, helper, strerror(r));
        free(helper);
        *error_r = "cannot run the PAM helper";
        return PH_AUTH_TEMPFAIL;
    }
    int64_t deadline = now_ms() + c->helper_timeout;
    size_t ulen = strlen(user), plen = strlen(password);
    size_t len = ulen + plen + 2;
    char *msg = ph_malloc(len);
    memcpy(msg, user, ulen);
    msg[ulen] = '\n';
    memcpy(msg + ulen + 1, password, plen);
    msg[len - 1] = '\n';
    /* Far below a socket buffer: one send does not block. */
    (void)send(in[0], msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    explicit_bzero(msg, len);
    free(msg);
    close(in[0]);

    char text[512];
    int status = 0;
    bool timed_out = read_stderr(err[0], deadline, text, sizeof(text)) < 0;
    close(err[0]);
    int waited = wait_helper(pid, deadline, &status);
    if (waited == -2) {
        ph_log_error("mod=auth.pam instance=%s event=helper helper=%s "
                     "error=\"waitpid: %s\"",
                     ap->name, helper, strerror(errno));
        free(helper);
        *error_r = "the PAM helper failed";
        return PH_AUTH_TEMPFAIL;
    }
    if (waited < 0 || timed_out) {
        ph_log_error("mod=auth.pam instance=%s event=helper helper=%s "
                     "error=\"no answer within the helper_timeout\"",
                     ap->name, helper);
        free(helper);
        *error_r = "the PAM helper timed out";
        return PH_AUTH_TEMPFAIL;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == PAM_CHECK_OK) {
        free(helper);
        *error_r = "accepted";
        return PH_AUTH_OK;
    }
    char *why = ph_log_escape(text);
    if (code == PAM_CHECK_REJECTED) {
        if (c->debug || ph_log_debug_enabled())
            ph_log_info("mod=auth.pam instance=%s event=helper result=rejected "
                        "reason=%s",
                        ap->name, why);
        free(why);
        free(helper);
        *error_r = "PAM rejected the credentials";
        return PH_AUTH_FAILED;
    }
    if (code == PAM_CHECK_ERROR)
        ph_log_error("mod=auth.pam instance=%s event=helper result=error "
                     "reason=%s",
                     ap->name, why);
    else
        ph_log_error("mod=auth.pam instance=%s event=helper helper=%s "
                     "error=\"exit status %d, signal %d\" stderr=%s",
                     ap->name, helper, code,
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0, why);
    free(why);
    free(helper);
    *error_r = "the PAM helper failed";
    return PH_AUTH_TEMPFAIL;
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
    {.name = "use_helper",
     .type = PH_DT_BOOL,
     .offset = OFF(use_helper),
     .def = "no",
     .help = "check through posthorn-pam-helper, not in-process"},
    {.name = "helper",
     .type = PH_DT_STRING,
     .offset = OFF(helper),
     .def = PH_PAM_HELPER,
     .help = "path of posthorn-pam-helper"},
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

PH_MODULE(.names = (const char *const[]){"auth.pam", NULL},
          .kind = PH_MODULE_AUTH,
          .description = "system accounts through PAM (in-process or helper)",
          .directives = ap_directives, .conf_size = sizeof(struct pam_conf),
          .create = ap_create, .destroy = ap_destroy, .iface = &ap_vfuncs);
