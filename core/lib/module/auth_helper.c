/* SPDX-License-Identifier: MIT */
/* A password check through a helper program (auth.pam's use_helper mode,
 * auth.external): spawn, write the two lines, read stderr, wait with a
 * deadline. docs/modules.md, "auth helpers", states the protocol. */
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

extern char **environ;

/* The exit codes of the protocol. */
enum { HELPER_OK = 0, HELPER_REJECTED = 1, HELPER_ERROR = 2 };

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

/* Spawns path with stdin a socket (send() with MSG_NOSIGNAL raises no
 * SIGPIPE when the helper exits without reading), stdout /dev/null and
 * stderr a pipe. -1 with errno's reason in *err_r. */
static int spawn_helper(const char *path, char *const argv[], pid_t *pid_r,
                        int *in_r, int *err_r)
{
    int in[2], err[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0) {
        *err_r = errno;
        return -1;
    }
    if (pipe2(err, O_CLOEXEC) < 0) {
        *err_r = errno;
        close(in[0]);
        close(in[1]);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[1], STDIN_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY,
                                     0);
    posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    /* Sessions' sockets and databases stay out of the helper. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    int r = posix_spawn(pid_r, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[1]);
    close(err[1]);
    if (r != 0) {
        close(in[0]);
        close(err[0]);
        *err_r = r;
        return -1;
    }
    *in_r = in[0];
    *err_r = err[0];
    return 0;
}

enum ph_auth_result ph_auth_helper_check(const char *mod, const char *instance,
                                         const char *path, char *const argv[],
                                         int64_t timeout_ms, bool debug,
                                         const char *username,
                                         const char *password,
                                         const char **error_r)
{
    /* One line each: a newline inside would shift the protocol. */
    if (strchr(username, '\n') != NULL || strchr(password, '\n') != NULL) {
        *error_r = "a newline in the username or password";
        return PH_AUTH_FAILED;
    }
    pid_t pid;
    int in, err;
    char *helper = ph_log_escape(path);
    if (spawn_helper(path, argv, &pid, &in, &err) < 0) {
        ph_log_error("mod=%s instance=%s event=helper helper=%s error=\"%s\"",
                     mod, instance, helper, strerror(err));
        free(helper);
        *error_r = "cannot run the helper";
        return PH_AUTH_TEMPFAIL;
    }
    int64_t deadline = now_ms() + timeout_ms;
    size_t ulen = strlen(username), plen = strlen(password);
    size_t len = ulen + plen + 2;
    char *msg = ph_malloc(len);
    memcpy(msg, username, ulen);
    msg[ulen] = '\n';
    memcpy(msg + ulen + 1, password, plen);
    msg[len - 1] = '\n';
    /* Callers bound both (a few KiB), far below a socket buffer: one send
     * does not block. */
    (void)send(in, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    explicit_bzero(msg, len);
    free(msg);
    close(in);

    char text[512];
    int status = 0;
    bool timed_out = read_stderr(err, deadline, text, sizeof(text)) < 0;
    close(err);
    int waited = wait_helper(pid, deadline, &status);
    enum ph_auth_result result = PH_AUTH_TEMPFAIL;
    char *why = ph_log_escape(timed_out ? "" : text);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (waited == -2) {
        ph_log_error("mod=%s instance=%s event=helper helper=%s "
                     "error=\"waitpid: %s\"",
                     mod, instance, helper, strerror(errno));
        *error_r = "the helper failed";
    } else if (waited < 0 || timed_out) {
        ph_log_error("mod=%s instance=%s event=helper helper=%s "
                     "error=\"no answer within the helper_timeout\"",
                     mod, instance, helper);
        *error_r = "the helper timed out";
    } else if (code == HELPER_OK) {
        *error_r = "accepted";
        result = PH_AUTH_OK;
    } else if (code == HELPER_REJECTED) {
        if (debug || ph_log_debug_enabled())
            ph_log_info("mod=%s instance=%s event=helper result=rejected "
                        "reason=%s",
                        mod, instance, why);
        *error_r = "the helper rejected the credentials";
        result = PH_AUTH_FAILED;
    } else if (code == HELPER_ERROR) {
        ph_log_error("mod=%s instance=%s event=helper result=error reason=%s",
                     mod, instance, why);
        *error_r = "the helper failed";
    } else {
        ph_log_error("mod=%s instance=%s event=helper helper=%s "
                     "error=\"exit status %d, signal %d\" stderr=%s",
                     mod, instance, helper, code,
                     WIFSIGNALED(status) ? WTERMSIG(status) : 0, why);
        *error_r = "the helper failed";
    }
    free(why);
    free(helper);
    return result;
}
