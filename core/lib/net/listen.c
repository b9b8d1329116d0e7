/* SPDX-License-Identifier: MIT */
/* Listening sockets, kept in a pool across configuration reloads so that
 * an unchanged address keeps its socket and no connection is refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <posthorn/endpoint-impl.h>
#include <posthorn/log.h>

#include "listen.h"

int ph_listen_addr_parse(const char *text, struct ph_listen_addr *a,
                         const char **error_r)
{
    memset(a, 0, sizeof(*a));
    const char *rest;
    if (strncmp(text, "tcp://", 6) == 0) {
        a->scheme = PH_ADDR_TCP;
        rest = text + 6;
    } else if (strncmp(text, "tls://", 6) == 0) {
        a->scheme = PH_ADDR_TLS;
        rest = text + 6;
    } else if (strncmp(text, "unix://", 7) == 0) {
        a->scheme = PH_ADDR_UNIX;
        rest = text + 7;
        if (rest[0] != '/' || strlen(rest) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            *error_r = "expected unix:///absolute/path (at most 107 bytes)";
            return -1;
        }
        a->path = ph_strdup(rest);
        a->text = ph_strdup(text);
        return 0;
    } else {
        *error_r = "expected tcp://HOST:PORT, tls://HOST:PORT or unix:///PATH";
        return -1;
    }
    const char *colon;
    if (rest[0] == '[') {
        const char *end = strchr(rest, ']');
        if (end == NULL || end[1] != ':') {
            *error_r = "expected [IPV6]:PORT";
            return -1;
        }
        a->host = ph_strndup(rest + 1, (size_t)(end - rest - 1));
        colon = end + 1;
    } else {
        colon = strrchr(rest, ':');
        if (colon == NULL || colon == rest) {
            *error_r = "expected HOST:PORT";
            ph_listen_addr_clear(a);
            return -1;
        }
        a->host = ph_strndup(rest, (size_t)(colon - rest));
    }
    const char *port = colon + 1;
    char *end;
    long p = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p < 0 || p > 65535) {
        *error_r = "expected a port number from 0 to 65535";
        ph_listen_addr_clear(a);
        return -1;
    }
    a->port = ph_strdup(port);
    a->text = ph_strdup(text);
    return 0;
}

void ph_listen_addr_clear(struct ph_listen_addr *a)
{
    free(a->host);
    free(a->port);
    free(a->path);
    free(a->text);
    memset(a, 0, sizeof(*a));
}

struct pooled {
    /* "host:port" or the unix path: what bind() saw. Port 0 asks the
     * kernel for any free port, so "tcp://host:0" with its scheme: each
     * such address as written keeps its own socket across reloads. */
    char *key;
    char *bound; /* "tcp://127.0.0.1:40123": the address it got */
    int fd;
    bool claimed;
};

struct ph_listeners {
    struct pooled *v;
    size_t n, cap;
};

struct ph_listeners *ph_listeners_new(void)
{
    return ph_calloc(1, sizeof(struct ph_listeners));
}

void ph_listeners_begin(struct ph_listeners *pool)
{
    for (size_t i = 0; i < pool->n; i++)
        pool->v[i].claimed = false;
}

void ph_listeners_commit(struct ph_listeners *pool)
{
    size_t j = 0;
    for (size_t i = 0; i < pool->n; i++) {
        if (pool->v[i].claimed) {
            pool->v[j++] = pool->v[i];
            continue;
        }
        char *b = ph_log_escape(pool->v[i].bound);
        ph_log_info("event=listener_closed addr=%s", b);
        free(b);
        close(pool->v[i].fd);
        free(pool->v[i].key);
        free(pool->v[i].bound);
    }
    pool->n = j;
}

void ph_listeners_free(struct ph_listeners **poolp)
{
    struct ph_listeners *pool = *poolp;
    if (pool == NULL)
        return;
    ph_listeners_begin(pool);
    ph_listeners_commit(pool);
    free(pool->v);
    free(pool);
    *poolp = NULL;
}

static int bind_unix(const char *path, int *fd_r, char **error_r)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strncpy(sun.sun_path, path, sizeof(sun.sun_path) - 1);
    struct stat st;
    /* A stale socket from an earlier run is in the way; nothing else is. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 128) < 0)
        goto fail;
    *fd_r = fd;
    return 0;
fail:
    *error_r = ph_strdup_printf("cannot listen on unix://%s: %s", path,
                                strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int bind_tcp(const char *host, const char *port, int *fd_r,
                    char **error_r)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        *error_r = ph_strdup_printf("cannot resolve %s: %s", host,
                                    gai_strerror(gai));
        return -1;
    }
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0) {
            freeaddrinfo(res);
            *fd_r = fd;
            return 0;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    *error_r = ph_strdup_printf("cannot listen on %s:%s: %s", host, port,
                                strerror(err));
    return -1;
}

static const char *scheme_name(enum ph_addr_scheme scheme)
{
    switch (scheme) {
    case PH_ADDR_TLS: return "tls";
    case PH_ADDR_UNIX: return "unix";
    default: return "tcp";
    }
}

/* "tls://[::1]:40123": the address the kernel gave fd, which differs from
 * the one written when that asked for port 0. */
static char *bound_name(int fd, const struct ph_listen_addr *a)
{
    if (a->scheme == PH_ADDR_UNIX)
        return ph_strdup(a->text);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
            port = ntohs(s6->sin6_port);
            return ph_strdup_printf("%s://[%s]:%u", scheme_name(a->scheme),
                                    host, port);
        }
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        port = ntohs(s4->sin_port);
    }
    return ph_strdup_printf("%s://%s:%u", scheme_name(a->scheme), host, port);
}

int ph_listeners_get(struct ph_listeners *pool, const struct ph_listen_addr *a,
                     int *fd_r, char **error_r)
{
    char *key;
    if (a->scheme == PH_ADDR_UNIX)
        key = ph_strdup(a->path);
    else if (strtol(a->port, NULL, 10) == 0)
        key = ph_strdup_printf("%s://%s:0", scheme_name(a->scheme), a->host);
    else
        key = ph_strdup_printf("%s:%s", a->host, a->port);
    for (size_t i = 0; i < pool->n; i++) {
        if (strcmp(pool->v[i].key, key) == 0) {
            pool->v[i].claimed = true;
            *fd_r = pool->v[i].fd;
            free(key);
            return 0;
        }
    }
    int fd;
    int r = a->scheme == PH_ADDR_UNIX ? bind_unix(a->path, &fd, error_r)
                                      : bind_tcp(a->host, a->port, &fd, error_r);
    if (r < 0) {
        free(key);
        return -1;
    }
    char *bound = bound_name(fd, a);
    /* What a client connects to; with port 0 the only place to learn it
     * (tests start servers on port 0 and read the port from this line). */
    char *b = ph_log_escape(bound), *t = ph_log_escape(a->text);
    ph_log_info("event=listening addr=%s listen=%s", b, t);
    free(b);
    free(t);
    ph_array_grow(&pool->v, &pool->cap, pool->n + 1, sizeof(*pool->v));
    pool->v[pool->n++] = (struct pooled){key, bound, fd, true};
    *fd_r = fd;
    return 0;
}
