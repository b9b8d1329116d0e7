/* SPDX-License-Identifier: MIT */
/* The reactor (docs/design.md, Threads and I/O): one epoll thread holds the
 * listeners, the parked sessions (EPOLLONESHOT) and a wake eventfd; a pool of
 * workers runs a session's commands with plain blocking code. A session goes
 * back to epoll between commands and during IDLE, so an idle connection costs
 * no thread. Only the reactor thread frees sessions, after the epoll batch
 * that might still name them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <posthorn/event.h>

#include "imap-private.h"

struct imap_reactor {
    struct imap_server *srv;
    int epfd, evfd;
    int listen_fds[16];
    size_t nlisten;
    pthread_t thread;
    pthread_t *workers; /* max_workers of them; nworkers started */
    size_t nworkers;
    size_t stalled;                   /* workers waiting for a client to read */
    size_t base_workers, max_workers; /* the conf's, at start */

    pthread_mutex_t lock;
    pthread_cond_t work_cond;  /* workers wait for the queue */
    pthread_cond_t state_cond; /* stop/shutdown wait for the reactor */
    struct imap_session *queue_head, *queue_tail;
    struct imap_session *notify;
    struct imap_session *dead;
    struct imap_session *all;
    size_t nsessions;
    size_t ndelayed; /* parked until resume_at_ms */
    bool listening, stop_listen, quit, workers_quit, shutting_down;
};

int64_t imap_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kick(struct imap_reactor *r)
{
    uint64_t one = 1;
    ssize_t w = write(r->evfd, &one, sizeof(one));
    (void)w;
}

/* Under r->lock. */
static void enqueue(struct imap_reactor *r, struct imap_session *s)
{
    ph_assert(!s->queued);
    s->queued = true;
    s->next_q = NULL;
    if (r->queue_tail)
        r->queue_tail->next_q = s;
    else
        r->queue_head = s;
    r->queue_tail = s;
    pthread_cond_signal(&r->work_cond);
}

/* Under r->lock: takes a parked session out of epoll and to a worker. */
static void unpark(struct imap_reactor *r, struct imap_session *s)
{
    if (!s->parked)
        return;
    s->parked = false;
    if (s->resume_at_ms)
        r->ndelayed--;
    else
        epoll_ctl(r->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    enqueue(r, s);
}

bool imap_reactor_park(struct imap_session *s)
{
    struct imap_reactor *r = s->srv->reactor;
    /* A waiting session keeps no output buffer that a big reply grew (up
     * to IMAP_OUT_HIGH_WATER plus a buffered body): what it holds while
     * it waits does not depend on what it answered before. */
    if (s->out.len == 0 && s->out.cap > IMAP_OUT_KEEP)
        ph_buf_free(&s->out);
    pthread_mutex_lock(&r->lock);
    if (s->wake_pending || r->shutting_down) {
        pthread_mutex_unlock(&r->lock);
        return false;
    }
    s->parked = true;
    s->last_active_ms = imap_now_ms();
    if (s->resume_at_ms) {
        /* A timer, not input, resumes it (see reactor_main). */
        r->ndelayed++;
        pthread_mutex_unlock(&r->lock);
        kick(r);
        return true;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
                             .data.ptr = s};
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
        s->parked = false;
        pthread_mutex_unlock(&r->lock);
        return false;
    }
    pthread_mutex_unlock(&r->lock);
    return true;
}

bool imap_reactor_login(struct imap_session *s, const char *key)
{
    struct imap_reactor *r = s->srv->reactor;
    int64_t limit = s->srv->conf->max_user_connections_per_ip;
    if (r == NULL)
        return true;
    pthread_mutex_lock(&r->lock);
    int64_t same = 0;
    for (struct imap_session *o = r->all; o; o = o->next_all)
        if (o->login_key && strcmp(o->login_key, key) == 0 &&
            strcmp(o->addr, s->addr) == 0)
            same++;
    bool ok = limit == 0 || same < limit;
    if (ok) {
        free(s->login_key);
        s->login_key = ph_strdup(key);
    }
    pthread_mutex_unlock(&r->lock);
    return ok;
}

bool imap_reactor_take_wake(struct imap_session *s)
{
    struct imap_reactor *r = s->srv->reactor;
    pthread_mutex_lock(&r->lock);
    bool w = s->wake_pending;
    s->wake_pending = false;
    pthread_mutex_unlock(&r->lock);
    return w;
}

void imap_session_wake(void *arg)
{
    struct imap_session *s = arg;
    struct imap_reactor *r = s->srv->reactor;
    pthread_mutex_lock(&r->lock);
    s->wake_pending = true;
    if (!s->in_notify) {
        s->in_notify = true;
        s->next_notify = r->notify;
        r->notify = s;
    }
    pthread_mutex_unlock(&r->lock);
    kick(r);
}

static void session_dead(struct imap_reactor *r, struct imap_session *s)
{
    pthread_mutex_lock(&r->lock);
    s->dead = true;
    s->next_q = r->dead;
    r->dead = s;
    pthread_mutex_unlock(&r->lock);
    kick(r);
}

static void *worker_main(void *arg)
{
    struct imap_reactor *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->lock);
        while (r->queue_head == NULL && !r->workers_quit)
            pthread_cond_wait(&r->work_cond, &r->lock);
        if (r->queue_head == NULL) {
            pthread_mutex_unlock(&r->lock);
            return NULL;
        }
        struct imap_session *s = r->queue_head;
        r->queue_head = s->next_q;
        if (r->queue_head == NULL)
            r->queue_tail = NULL;
        s->queued = false;
        if (r->shutting_down)
            atomic_store(&s->shutting_down, true);
        pthread_mutex_unlock(&r->lock);
        ph_log_set_context(s->log_ctx);
        bool alive = imap_session_run(s);
        ph_log_set_context(NULL);
        if (!alive)
            session_dead(r, s);
    }
}

void imap_reactor_stall(struct imap_session *s, bool begin)
{
    struct imap_reactor *r = s->srv->reactor;
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    if (!begin) {
        r->stalled--;
        pthread_mutex_unlock(&r->lock);
        return;
    }
    r->stalled++;
    if (imap_debug_enabled(s->srv))
        ph_log_info("mod=imap event=write_blocked client=%s "
                    "msg=\"waiting for the client to read\"",
                    s->addr);
    /* Workers are never taken back: the pool stays as large as the most
     * clients that ever stalled at once (bounded by max_workers). */
    if (r->nworkers < r->stalled + r->base_workers &&
        r->nworkers < r->max_workers && !r->workers_quit &&
        pthread_create(&r->workers[r->nworkers], NULL, worker_main, r) == 0) {
        r->nworkers++;
        ph_log_info("mod=imap event=worker_added workers=%zu stalled=%zu",
                    r->nworkers, r->stalled);
    }
    pthread_mutex_unlock(&r->lock);
}

/* The client's address and TCP port (0 on a unix socket). */
static unsigned client_addr(const struct sockaddr_storage *ss, char *buf,
                            size_t size)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, buf, size);
        return ntohs(in->sin_port);
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, size);
        return ntohs(in6->sin6_port);
    }
    snprintf(buf, size, "unix");
    return 0;
}

static void do_accept(struct imap_reactor *r, const int *lfd_slot)
{
    int lfd = *lfd_slot;
    const struct imap_conf *c = r->srv->conf;
    for (int n = 0; n < 64; n++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        char addr[64];
        unsigned port = client_addr(&ss, addr, sizeof(addr));
        pthread_mutex_lock(&r->lock);
        /* Per address, only connections that have not logged in count:
         * behind one address (NAT, a webmail front-end) may be thousands
         * of users, whom max_user_connections_per_ip bounds at login. */
        size_t same = 0;
        for (struct imap_session *s = r->all; s; s = s->next_all)
            if (s->login_key == NULL && strcmp(s->addr, addr) == 0)
                same++;
        bool over = (int64_t)r->nsessions >= c->max_connections ||
                    (strcmp(addr, "unix") != 0 &&
                     (int64_t)same >= c->max_connections_per_ip);
        pthread_mutex_unlock(&r->lock);
        if (over) {
            static const char bye[] = "* BYE Too many connections\r\n";
            ssize_t w = send(fd, bye, sizeof(bye) - 1, MSG_NOSIGNAL);
            (void)w;
            ph_log_warn("mod=imap event=connection_refused client=%s "
                        "reason=\"too many connections\"",
                        addr);
            close(fd);
            continue;
        }
        size_t li = (size_t)(lfd_slot - r->listen_fds);
        struct imap_session *s = imap_session_new(
            r->srv, fd, addr, port, r->srv->addrs[li].scheme == PH_ADDR_TLS);
        /* Counted by openmetrics always, logged with debug. */
        bool dbg = imap_debug_enabled(r->srv);
        if (dbg)
            ph_log_set_context(s->log_ctx);
        if (port)
            PH_EVENT(dbg, PH_LOG_INFO, "imap", "connect",
                     PH_EV_STR("client", addr), PH_EV_NUM("port", port),
                     PH_EV_STR("listen", r->srv->addrs[li].text));
        else
            PH_EVENT(dbg, PH_LOG_INFO, "imap", "connect",
                     PH_EV_STR("client", addr),
                     PH_EV_STR("listen", r->srv->addrs[li].text));
        if (dbg)
            ph_log_set_context(NULL);
        pthread_mutex_lock(&r->lock);
        s->next_all = r->all;
        if (r->all)
            r->all->prev_all = s;
        r->all = s;
        r->nsessions++;
        enqueue(r, s);
        pthread_mutex_unlock(&r->lock);
    }
}

/* Drops the graph reference outside the reactor: the last one destroys
 * this endpoint, which joins the reactor thread. */
static void *unref_main(void *arg)
{
    struct ph_graph *g = arg;
    ph_graph_unref(&g);
    return NULL;
}

static void free_dead(struct imap_reactor *r)
{
    pthread_mutex_lock(&r->lock);
    struct imap_session *d = r->dead;
    r->dead = NULL;
    /* During shutdown the caller holds the graph: our unref is never the
     * last, so it may run here. */
    bool inline_unref = r->shutting_down;
    for (struct imap_session *s = d; s; s = s->next_q) {
        if (s->prev_all)
            s->prev_all->next_all = s->next_all;
        else
            r->all = s->next_all;
        if (s->next_all)
            s->next_all->prev_all = s->prev_all;
    }
    pthread_mutex_unlock(&r->lock);
    while (d) {
        struct imap_session *s = d;
        d = s->next_q;
        struct ph_graph *g = s->graph;
        s->graph = NULL;
        /* No wake may name s once it is freed: stop the watch, then drop
         * s from the notify list a wake may have put it on meanwhile. */
        imap_session_stop_watch(s);
        pthread_mutex_lock(&r->lock);
        for (struct imap_session **pp = &r->notify; *pp;
             pp = &(*pp)->next_notify) {
            if (*pp == s) {
                *pp = s->next_notify;
                break;
            }
        }
        pthread_mutex_unlock(&r->lock);
        char ctx[sizeof(s->log_ctx)];
        memcpy(ctx, s->log_ctx, sizeof(ctx));
        imap_session_free(&s);
        if (inline_unref) {
            ph_graph_unref(&g);
        } else {
            pthread_t t;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &attr, unref_main, g) != 0)
                ph_graph_unref(&g);
            pthread_attr_destroy(&attr);
        }
        /* Counted down only now, so shutdown() returns after the unrefs. */
        pthread_mutex_lock(&r->lock);
        r->nsessions--;
        pthread_cond_broadcast(&r->state_cond);
        pthread_mutex_unlock(&r->lock);
        /* Its connection slots (max_connections, per address) are free
         * from here: tests wait for this line before they count on one. */
        bool dbg = imap_debug_enabled(r->srv);
        if (dbg)
            ph_log_set_context(ctx);
        ph_event_emit(dbg, PH_LOG_INFO, "imap", "disconnect", NULL, 0);
        if (dbg)
            ph_log_set_context(NULL);
    }
}

static void *reactor_main(void *arg)
{
    struct imap_reactor *r = arg;
    int64_t last_scan = imap_now_ms();
    for (;;) {
        struct epoll_event evs[64];
        pthread_mutex_lock(&r->lock);
        int timeout = r->ndelayed ? 10 : 1000;
        pthread_mutex_unlock(&r->lock);
        int n = epoll_wait(r->epfd, evs, 64, timeout);
        pthread_mutex_lock(&r->lock);
        if (r->stop_listen && r->listening) {
            for (size_t i = 0; i < r->nlisten; i++)
                epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->listen_fds[i], NULL);
            r->listening = false;
            pthread_cond_broadcast(&r->state_cond);
        }
        bool quit = r->quit;
        pthread_mutex_unlock(&r->lock);
        if (quit)
            break;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &r->evfd) {
                uint64_t v;
                ssize_t rd = read(r->evfd, &v, sizeof(v));
                (void)rd;
                pthread_mutex_lock(&r->lock);
                while (r->notify) {
                    struct imap_session *s = r->notify;
                    r->notify = s->next_notify;
                    s->in_notify = false;
                    unpark(r, s);
                }
                pthread_mutex_unlock(&r->lock);
            } else if (p >= (void *)r->listen_fds &&
                       p < (void *)(r->listen_fds + 16)) {
                if (r->listening)
                    do_accept(r, (const int *)p);
            } else {
                struct imap_session *s = p;
                pthread_mutex_lock(&r->lock);
                unpark(r, s);
                pthread_mutex_unlock(&r->lock);
            }
        }
        int64_t now = imap_now_ms();
        pthread_mutex_lock(&r->lock);
        if (r->ndelayed) {
            for (struct imap_session *s = r->all; s; s = s->next_all)
                if (s->parked && s->resume_at_ms && now >= s->resume_at_ms)
                    unpark(r, s);
        }
        pthread_mutex_unlock(&r->lock);
        if (now - last_scan >= 1000) {
            last_scan = now;
            pthread_mutex_lock(&r->lock);
            for (struct imap_session *s = r->all; s; s = s->next_all) {
                /* Only a parked session's fields are the reactor's to read:
                 * a worker may be changing a running one's state. */
                if (!s->parked || s->resume_at_ms)
                    continue;
                const struct imap_conf *c = r->srv->conf;
                int64_t limit = s->park_timeout_ms ? s->park_timeout_ms
                                : s->state == IMAP_STATE_NOT_AUTH
                                    ? c->login_timeout
                                    : c->idle_timeout;
                if (now - s->last_active_ms >= limit) {
                    s->timed_out = true;
                    unpark(r, s);
                }
            }
            pthread_mutex_unlock(&r->lock);
        }
        free_dead(r);
    }
    return NULL;
}

int imap_reactor_start(struct imap_server *srv, const int *fds, size_t nfds,
                       char **error_r)
{
    struct imap_reactor *r = ph_calloc(1, sizeof(*r));
    r->srv = srv;
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->work_cond, NULL);
    pthread_cond_init(&r->state_cond, NULL);
    if (r->epfd < 0 || r->evfd < 0) {
        *error_r = ph_strdup_printf("imap: %s", strerror(errno));
        goto fail;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &r->evfd};
    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev);
    for (size_t i = 0; i < nfds; i++) {
        r->listen_fds[i] = fds[i];
        int fl = fcntl(fds[i], F_GETFL);
        if (fl >= 0)
            fcntl(fds[i], F_SETFL, fl | O_NONBLOCK);
        struct epoll_event lev = {.events = EPOLLIN,
                                  .data.ptr = &r->listen_fds[i]};
        if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fds[i], &lev) < 0) {
            *error_r = ph_strdup_printf("imap: epoll: %s", strerror(errno));
            goto fail;
        }
    }
    r->nlisten = nfds;
    r->listening = true;
    srv->reactor = r;
    r->nworkers = r->base_workers = (size_t)srv->conf->workers;
    r->max_workers = (size_t)srv->conf->max_workers;
    r->workers = ph_calloc(r->max_workers, sizeof(pthread_t));
    for (size_t i = 0; i < r->nworkers; i++) {
        if (pthread_create(&r->workers[i], NULL, worker_main, r) != 0) {
            r->nworkers = i;
            srv->reactor = NULL;
            *error_r = ph_strdup("imap: cannot start worker threads");
            goto fail_workers;
        }
    }
    if (pthread_create(&r->thread, NULL, reactor_main, r) != 0) {
        srv->reactor = NULL;
        *error_r = ph_strdup("imap: cannot start the reactor thread");
        goto fail_workers;
    }
    return 0;
fail_workers:
    pthread_mutex_lock(&r->lock);
    r->workers_quit = true;
    pthread_cond_broadcast(&r->work_cond);
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < r->nworkers; i++)
        pthread_join(r->workers[i], NULL);
    free(r->workers);
fail:
    if (r->epfd >= 0)
        close(r->epfd);
    if (r->evfd >= 0)
        close(r->evfd);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->work_cond);
    pthread_cond_destroy(&r->state_cond);
    free(r);
    return -1;
}

void imap_reactor_stop(struct imap_reactor *r)
{
    pthread_mutex_lock(&r->lock);
    r->stop_listen = true;
    kick(r);
    while (r->listening && !r->quit)
        pthread_cond_wait(&r->state_cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

void imap_reactor_shutdown(struct imap_reactor *r)
{
    imap_reactor_stop(r);
    pthread_mutex_lock(&r->lock);
    r->shutting_down = true;
    for (struct imap_session *s = r->all; s; s = s->next_all) {
        /* Reads end (a worker blocked in one returns); the BYE still goes
         * out. */
        atomic_store(&s->shutting_down, true);
        shutdown(s->fd, SHUT_RD);
        unpark(r, s);
    }
    while (r->nsessions > 0)
        pthread_cond_wait(&r->state_cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

void imap_reactor_free(struct imap_reactor **rp)
{
    struct imap_reactor *r = *rp;
    if (r == NULL)
        return;
    *rp = NULL;
    pthread_mutex_lock(&r->lock);
    r->quit = true;
    pthread_mutex_unlock(&r->lock);
    kick(r);
    pthread_join(r->thread, NULL);
    pthread_mutex_lock(&r->lock);
    r->workers_quit = true; /* and so no worker is added after */
    pthread_cond_broadcast(&r->work_cond);
    size_t nworkers = r->nworkers;
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < nworkers; i++)
        pthread_join(r->workers[i], NULL);
    free_dead(r);
    while (r->all) {
        struct imap_session *s = r->all;
        r->all = s->next_all;
        struct ph_graph *g = s->graph;
        s->graph = NULL;
        imap_session_free(&s);
        (void)g; /* the graph is being destroyed: its references are moot */
    }
    free(r->workers);
    close(r->epfd);
    close(r->evfd);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->work_cond);
    pthread_cond_destroy(&r->state_cond);
    free(r);
}
