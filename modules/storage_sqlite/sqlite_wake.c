/* SPDX-License-Identifier: MIT */
/* storage.sqlite: waking other processes' sessions when a mailbox changes
 * (this process's are the store's: sqlstore.c).
 *
 * Across processes (the CLI appending while the server has sessions in
 * IDLE, or two servers on one database): a process that has a watcher binds
 * a unix datagram socket in runtime_dir named
 * "storage-sqlite-<hash of the database path>.<pid>.<n>.sock" and runs a
 * thread that receives on it. After each commit a writer sends a 16-byte
 * datagram ("phsqwake" + the mailbox id) to every other socket of the same
 * database in that directory; the receiver wakes its watchers of that
 * mailbox. A socket nobody listens on any more (its process died) refuses
 * the datagram and is removed. Datagrams only wake: the truth is in the
 * database, read by changes(). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <posthorn/log.h>

#include "sqlite_private.h"

#define WAKE_MAGIC "phsqwake"
#define WAKE_SIZE 16

static atomic_uint sock_counter;

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

int sq_wake_init(struct sq_ctx *ctx, char **error_r)
{
    const char *dir = ph_global_runtime_dir();
    if (dir == NULL)
        return 0; /* no runtime_dir: wake within this process only */
    char real[PATH_MAX];
    const char *id = realpath(ctx->path, real) != NULL ? real : ctx->path;
    ctx->sock_dir = ph_strdup(dir);
    ctx->sock_prefix = ph_strdup_printf("storage-sqlite-%016llx.",
                                        (unsigned long long)fnv1a(id));
    ctx->send_fd =
        socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (ctx->send_fd < 0) {
        *error_r =
            ph_strdup_printf("cannot make a unix socket: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void *recv_main(void *arg)
{
    struct sq_ctx *ctx = arg;
    struct pollfd fds[2] = {
        {.fd = ctx->recv_fd, .events = POLLIN},
        {.fd = ctx->stop_pipe[0], .events = POLLIN},
    };
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            ph_log_error("%s event=wake_poll_failed reason=\"%s\"", SQ_MOD,
                         strerror(errno));
            break;
        }
        if (fds[1].revents != 0)
            break;
        char msg[WAKE_SIZE];
        ssize_t n;
        while ((n = recv(ctx->recv_fd, msg, sizeof(msg), MSG_DONTWAIT)) >= 0) {
            if (n != WAKE_SIZE || memcmp(msg, WAKE_MAGIC, 8) != 0)
                continue;
            int64_t id;
            memcpy(&id, msg + 8, sizeof(id));
            ph_sqlstore_wake(ctx->store, id);
        }
    }
    return NULL;
}

/* Binds this instance's socket and starts its receiver; under wake_lock.
 * A failure only costs the cross-process wake, so it is logged, not
 * returned. */
static void recv_start(struct sq_ctx *ctx)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char *path =
        ph_strdup_printf("%s/%s%ld.%u.sock", ctx->sock_dir, ctx->sock_prefix,
                         (long)getpid(), atomic_fetch_add(&sock_counter, 1));
    const char *why = NULL;
    int fd = -1;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        why = "socket path too long";
        goto fail;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto fail;
    /* A file of that name was left by a dead process that had our pid. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
        (errno != EADDRINUSE || unlink(path) < 0 ||
         bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0))
        goto fail;
    if (pipe2(ctx->stop_pipe, O_CLOEXEC) < 0) {
        unlink(path);
        goto fail;
    }
    ctx->recv_fd = fd;
    if (pthread_create(&ctx->recv_thread, NULL, recv_main, ctx) != 0) {
        close(ctx->stop_pipe[0]);
        close(ctx->stop_pipe[1]);
        ctx->stop_pipe[0] = ctx->stop_pipe[1] = -1;
        ctx->recv_fd = -1;
        unlink(path);
        why = "cannot start a thread";
        goto fail;
    }
    ctx->recv_running = true;
    ctx->sock_path = path;
    ph_sqlstore_debug(ctx->store, "event=wake_socket path=%s", path);
    return;
fail:
    ph_log_warn("%s event=wake_socket_failed path=%s reason=\"%s\": other "
                "processes cannot wake this one's sessions",
                SQ_MOD, path, why != NULL ? why : strerror(errno));
    if (fd >= 0)
        close(fd);
    free(path);
    ctx->recv_failed = true; /* do not try again */
}

void sq_wake_deinit(struct sq_ctx *ctx)
{
    if (ctx->recv_running) {
        ssize_t r = write(ctx->stop_pipe[1], "x", 1);
        (void)r;
        pthread_join(ctx->recv_thread, NULL);
        close(ctx->stop_pipe[0]);
        close(ctx->stop_pipe[1]);
        close(ctx->recv_fd);
        unlink(ctx->sock_path);
    }
    if (ctx->send_fd >= 0)
        close(ctx->send_fd);
    pthread_mutex_destroy(&ctx->wake_lock);
    free(ctx->sock_path);
    free(ctx->sock_dir);
    free(ctx->sock_prefix);
}

/* The first watcher of this process starts the receiver. */
void sq_wake_listen(void *dctx, int64_t mailbox_id, bool on)
{
    struct sq_ctx *ctx = dctx;
    (void)mailbox_id;
    pthread_mutex_lock(&ctx->wake_lock);
    if (on && !ctx->recv_running && !ctx->recv_failed && ctx->sock_dir != NULL)
        recv_start(ctx);
    pthread_mutex_unlock(&ctx->wake_lock);
}

/* Sends the wake to every other process's socket of this database. */
static void wake_others(struct sq_ctx *ctx, int64_t mailbox_id)
{
    const char *dir_path = ctx->sock_dir;
    pthread_mutex_lock(&ctx->wake_lock);
    const char *own =
        ctx->sock_path != NULL ? strrchr(ctx->sock_path, '/') + 1 : NULL;
    char *own_name = own != NULL ? ph_strdup(own) : NULL;
    pthread_mutex_unlock(&ctx->wake_lock);
    DIR *dir = opendir(dir_path);
    if (dir == NULL)
        goto out;

    char msg[WAKE_SIZE];
    memcpy(msg, WAKE_MAGIC, 8);
    memcpy(msg + 8, &mailbox_id, sizeof(mailbox_id));
    size_t plen = strlen(ctx->sock_prefix);
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, ctx->sock_prefix, plen) != 0 || len < 5 ||
            strcmp(de->d_name + len - 5, ".sock") != 0 ||
            (own_name != NULL && strcmp(de->d_name, own_name) == 0))
            continue;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir_path,
                     de->d_name) >= (int)sizeof(sa.sun_path))
            continue;
        if (sendto(ctx->send_fd, msg, sizeof(msg), MSG_DONTWAIT,
                   (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            if (errno == ECONNREFUSED) {
                ph_sqlstore_debug(ctx->store, "event=wake_socket_stale path=%s", sa.sun_path);
                unlink(sa.sun_path);
            } else if (errno != ENOENT) {
                ph_sqlstore_debug(ctx->store, "event=wake_send_failed path=%s errno=%d",
                         sa.sun_path, errno);
            }
        }
    }
    closedir(dir);
out:
    free(own_name);
}

/* After a commit: the other processes' sessions of these mailboxes. */
void sq_wake_announced(void *dctx, const int64_t *ids, size_t n)
{
    struct sq_ctx *ctx = dctx;
    for (size_t i = 0; i < n && ctx->send_fd >= 0 && ctx->sock_dir != NULL; i++)
        wake_others(ctx, ids[i]);
}
