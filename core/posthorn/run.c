/* SPDX-License-Identifier: MIT */
/* `posthorn run` and `posthorn check-config`. */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <posthorn/endpoint-impl.h>
#include <posthorn/log.h>

#include "cli.h"
#include "module/graph.h"
#include "net/listen.h"

int cmd_check_config(int argc, char **argv)
{
    const char *path = cli_config_path(&argc, argv);
    if (argc > 1) {
        fprintf(stderr, "posthorn check-config: unexpected argument \"%s\"\n",
                argv[1]);
        return 2;
    }
    /* Endpoints are created (create() binds nothing) and every
     * referenced instance with them; start() is never called. */
    struct ph_graph *g;
    char *err = NULL;
    if (ph_graph_load_file(path, 0, &g, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        free(err);
        return 1;
    }
    ph_graph_unref(&g);
    printf("ok\n");
    return 0;
}

/* systemd's readiness protocol is one datagram; no libsystemd needed. */
static void notify_systemd(const char *state)
{
    const char *sock = getenv("NOTIFY_SOCKET");
    if (sock == NULL || (sock[0] != '/' && sock[0] != '@'))
        return;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(sock);
    if (len >= sizeof(sun.sun_path)) {
        close(fd);
        return;
    }
    memcpy(sun.sun_path, sock, len);
    if (sun.sun_path[0] == '@')
        sun.sun_path[0] = '\0';
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
               alen) < 0)
        ph_log_warn("event=sd_notify_failed error=\"%s\"", strerror(errno));
    close(fd);
}

static const struct ph_endpoint_vfuncs *endpoint_vf(struct ph_instance *e)
{
    return ph_instance_iface(e);
}

static int start_endpoints(struct ph_graph *g, struct ph_listeners *pool,
                           char **error_r)
{
    size_t n = ph_graph_endpoint_count(g);
    for (size_t i = 0; i < n; i++) {
        struct ph_instance *e = ph_graph_endpoint(g, i);
        char *msg = NULL;
        if (endpoint_vf(e)->start(ph_instance_ctx(e), pool, &msg) < 0) {
            *error_r = ph_strdup_printf("%s (%s): %s", ph_instance_module(e),
                                        ph_instance_where(e),
                                        msg ? msg : "failed to start");
            free(msg);
            /* Stop what already started so no listener runs half a graph. */
            for (size_t j = 0; j < i; j++) {
                struct ph_instance *s = ph_graph_endpoint(g, j);
                endpoint_vf(s)->stop(ph_instance_ctx(s));
            }
            return -1;
        }
    }
    return 0;
}

/* Binds every listen address written on an endpoint's line (maddy's
 * convention: `imap tcp://... tls://... {`) into the pool, so that the
 * endpoints find their sockets there after privileges are gone. */
static int prebind(struct ph_graph *g, struct ph_listeners *pool, uid_t uid,
                   gid_t gid, char **error_r)
{
    for (size_t i = 0; i < ph_graph_endpoint_count(g); i++) {
        const struct ph_cfg_node *node =
            ph_instance_node(ph_graph_endpoint(g, i));
        for (size_t k = 0; node && k < node->nargs; k++) {
            struct ph_listen_addr a;
            const char *perr;
            int fd;
            if (ph_listen_addr_parse(node->args[k], &a, &perr) < 0)
                continue; /* not an address: the endpoint will say so */
            int r = ph_listeners_get(pool, &a, &fd, error_r);
            /* A unix socket belongs to the user serving it. */
            if (r == 0 && a.scheme == PH_ADDR_UNIX &&
                chown(a.path, uid, gid) < 0)
                ph_log_warn("event=chown_failed file=%s reason=\"%s\"", a.path,
                            strerror(errno));
            ph_listen_addr_clear(&a);
            if (r < 0)
                return -1;
        }
    }
    return 0;
}

/* For good: groups, gid, uid; then make sure root cannot come back. */
static int drop_privileges(const char *user, uid_t uid, gid_t gid,
                           char **error_r)
{
    if (initgroups(user, gid) < 0 && setgroups(1, &gid) < 0) {
        *error_r = ph_strdup_printf("setgroups: %s", strerror(errno));
        return -1;
    }
    if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
        *error_r = ph_strdup_printf("cannot become user %s: %s", user,
                                    strerror(errno));
        return -1;
    }
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        *error_r = ph_strdup("root privileges came back after the drop");
        return -1;
    }
    return 0;
}

static void stop_endpoints(struct ph_graph *g, bool shutdown)
{
    size_t n = ph_graph_endpoint_count(g);
    for (size_t i = 0; i < n; i++) {
        struct ph_instance *e = ph_graph_endpoint(g, i);
        endpoint_vf(e)->stop(ph_instance_ctx(e));
        if (shutdown && endpoint_vf(e)->shutdown)
            endpoint_vf(e)->shutdown(ph_instance_ctx(e));
    }
}

/* Rebuilds the graph from the file; on any failure the old one stays. */
static void reload(const char *path, struct ph_graph **cur,
                   struct ph_listeners *pool)
{
    notify_systemd("RELOADING=1");
    ph_log_info("event=reload config=%s", path);
    struct ph_graph *g;
    char *err = NULL;
    int same = ph_graph_reload_if_same(*cur, path, &err);
    if (same == 1) {
        ph_log_info("event=reloaded mode=in_place msg=\"configuration "
                    "unchanged; instances re-read their files\"");
        notify_systemd("READY=1");
        return;
    }
    if (same < 0 || ph_graph_load_file(path, 0, &g, &err) < 0) {
        char *e = ph_log_escape(err);
        ph_log_error("event=reload_failed error=%s msg=\"keeping the running "
                     "configuration\"", e);
        free(e);
        free(err);
        notify_systemd("READY=1");
        return;
    }
    ph_listeners_begin(pool);
    if (start_endpoints(g, pool, &err) < 0) {
        char *e = ph_log_escape(err);
        ph_log_error("event=reload_failed error=%s msg=\"keeping the running "
                     "configuration\"", e);
        free(e);
        free(err);
        ph_graph_unref(&g);
        /* The old endpoints still use their sockets: close none. */
        notify_systemd("READY=1");
        return;
    }
    stop_endpoints(*cur, false);
    ph_listeners_commit(pool);
    ph_graph_unref(cur); /* sessions still on it keep it alive */
    *cur = g;
    char *msg = NULL;
    if (ph_graph_apply_log_target(g, &msg) < 0) {
        ph_log_error("event=log_target_failed error=\"%s\"", msg);
        free(msg);
    }
    ph_log_info("event=reloaded msg=\"configuration reloaded\"");
    notify_systemd("READY=1");
}

int cmd_run(int argc, char **argv)
{
    const char *path = cli_config_path(&argc, argv);
    if (argc > 1) {
        fprintf(stderr, "posthorn run: unexpected argument \"%s\"\n", argv[1]);
        return 2;
    }
    /* Signals go to this thread's sigwait, never to module threads. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct ph_graph *g;
    char *err = NULL;
    /* The log target is set as soon as the globals are read, so that what
     * modules log while they start goes there too. */
    if (ph_graph_load_file(path, PH_GRAPH_APPLY_LOG, &g, &err) < 0) {
        char *e = ph_log_escape(err);
        ph_log_error("event=config_error error=%s", e);
        fprintf(stderr, "posthorn: %s\n", err);
        free(e);
        free(err);
        return 1;
    }
    struct ph_listeners *pool = ph_listeners_new();
    const char *user;
    uid_t uid;
    gid_t gid;
    if (ph_graph_run_as(g, &user, &uid, &gid)) {
        if (geteuid() == 0) {
            if (prebind(g, pool, uid, gid, &err) < 0 ||
                drop_privileges(user, uid, gid, &err) < 0) {
                char *e = ph_log_escape(err);
                ph_log_error("event=start_failed error=%s", e);
                fprintf(stderr, "posthorn: %s\n", err);
                free(e);
                free(err);
                ph_graph_unref(&g);
                ph_listeners_free(&pool);
                return 1;
            }
            ph_log_info("event=privileges_dropped user=%s uid=%ld gid=%ld", user,
                        (long)uid, (long)gid);
        } else if (geteuid() != uid) {
            ph_log_warn("event=not_root user=%s uid=%ld msg=\"not started as "
                        "root: serving as uid %ld\"", user, (long)uid,
                        (long)geteuid());
        }
    }
    if (start_endpoints(g, pool, &err) < 0) {
        char *e = ph_log_escape(err);
        ph_log_error("event=start_failed error=%s", e);
        fprintf(stderr, "posthorn: %s\n", err);
        free(e);
        free(err);
        ph_graph_unref(&g);
        ph_listeners_free(&pool);
        return 1;
    }
    ph_log_info("event=started endpoints=%zu pid=%ld msg=\"server started\"",
                ph_graph_endpoint_count(g), (long)getpid());
    notify_systemd("READY=1");

    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(path, &g, pool);
            continue;
        }
        ph_log_info("event=stopping signal=%s", sig == SIGTERM ? "TERM" : "INT");
        notify_systemd("STOPPING=1");
        break;
    }
    stop_endpoints(g, true);
    ph_graph_unref(&g);
    ph_listeners_free(&pool);
    ph_log_info("event=stopped msg=\"server stopped\"");
    return 0;
}
