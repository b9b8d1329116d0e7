/* SPDX-License-Identifier: MIT */
/* openmetrics: /metrics over HTTP, in the OpenMetrics text format (or
 * Prometheus' 0.0.4 text format when the scraper does not ask for
 * OpenMetrics), counted from the core's events (event.h), with maddy's
 * name and default port:
 *
 *   openmetrics tcp://127.0.0.1:9749
 *
 * What it counts is fixed here, with bounded labels: IMAP commands by name
 * (the commands a server knows; anything else is "other") and answer, and
 * their latency; logins by result and mechanism; connections by TLS; open
 * connections and sessions in IDLE; build information with the module ABI.
 * Never a user, an address or a mailbox as a label.
 *
 * The counts live in this module's static state, not in an instance: a
 * reload makes a new instance while the module stays loaded, and the
 * counters go on. The HTTP side is one thread: scrapes are rare and
 * small. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <posthorn/endpoint-impl.h>
#include <posthorn/event.h>
#include <posthorn/log.h>


/* ---- What is counted ------------------------------------------------------ */

static const char *const commands[] = {
    "APPEND",    "AUTHENTICATE", "CAPABILITY", "CHECK",     "CLOSE",
    "COMPRESS",  "COPY",         "CREATE",     "DELETE",    "ENABLE",
    "EXAMINE",   "EXPUNGE",      "FETCH",      "GETQUOTA",  "GETQUOTAROOT",
    "ID",        "IDLE",         "LIST",       "LOGIN",     "LOGOUT",
    "LSUB",      "MOVE",         "NAMESPACE",  "NOOP",      "RENAME",
    "SEARCH",    "SELECT",       "SETQUOTA",   "SORT",      "STARTTLS",
    "STATUS",    "STORE",        "SUBSCRIBE",  "THREAD",    "UID",
    "UNSELECT",  "UNSUBSCRIBE",  "other",
};
#define NCMD PH_N_ELEMENTS(commands)
static const char *const results[] = {"OK", "NO", "BAD", "none"};
#define NRES PH_N_ELEMENTS(results)
/* Seconds: the upper bounds of the latency histogram's buckets. */
static const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,   1,    2.5,   5,    10};
#define NBUCKET PH_N_ELEMENTS(buckets)
static const char *const login_results[] = {"ok", "failed", "refused"};
static const char *const mechanisms[] = {"LOGIN", "PLAIN", "other"};

struct counts {
    atomic_uint_fast64_t cmd[NCMD][NRES];
    atomic_uint_fast64_t cmd_bucket[NCMD][NBUCKET]; /* not cumulative */
    atomic_uint_fast64_t cmd_ms_sum[NCMD];
    atomic_uint_fast64_t logins[3][3];
    atomic_uint_fast64_t connections[2]; /* plain, tls */
    atomic_int_fast64_t open_connections;
    atomic_int_fast64_t idle_sessions;
};

static struct counts counts;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static int sink_users; /* instances that serve: the sink is added once */

static size_t find(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s != NULL && i + 1 < n; i++)
        if (strcasecmp(names[i], s) == 0)
            return i;
    return n - 1; /* the last name is the catch-all */
}

static void on_event(void *ctx, const char *mod, const char *name,
                     const struct ph_event_field *f, size_t n)
{
    (void)ctx;
    if (strcmp(mod, "imap") != 0)
        return;
    if (strcmp(name, "command") == 0) {
        size_t c = find(commands, NCMD, ph_event_str(f, n, "command"));
        const char *res = ph_event_str(f, n, "result");
        size_t r = res != NULL && strcmp(res, "-") != 0
                       ? find(results, NRES, res)
                       : NRES - 1;
        int64_t ms = 0;
        (void)ph_event_num(f, n, "ms", &ms);
        atomic_fetch_add(&counts.cmd[c][r], 1);
        atomic_fetch_add(&counts.cmd_ms_sum[c], (uint64_t)(ms < 0 ? 0 : ms));
        size_t b = 0;
        while (b < NBUCKET && (double)ms / 1000.0 > buckets[b])
            b++;
        if (b < NBUCKET)
            atomic_fetch_add(&counts.cmd_bucket[c][b], 1);
    } else if (strcmp(name, "login") == 0) {
        size_t r = find(login_results, 3, ph_event_str(f, n, "result"));
        size_t m = find(mechanisms, 3, ph_event_str(f, n, "mech"));
        atomic_fetch_add(&counts.logins[r][m], 1);
    } else if (strcmp(name, "connect") == 0) {
        const char *listen = ph_event_str(f, n, "listen");
        bool tls = listen != NULL && strncmp(listen, "tls://", 6) == 0;
        atomic_fetch_add(&counts.connections[tls], 1);
        atomic_fetch_add(&counts.open_connections, 1);
    } else if (strcmp(name, "disconnect") == 0) {
        atomic_fetch_sub(&counts.open_connections, 1);
    } else if (strcmp(name, "idle_start") == 0) {
        atomic_fetch_add(&counts.idle_sessions, 1);
    } else if (strcmp(name, "idle_end") == 0) {
        atomic_fetch_sub(&counts.idle_sessions, 1);
    }
}

/* ---- The exposition ---------------------------------------------------- */

/* A family's head. OpenMetrics names a counter family without _total and
 * ends with "# EOF"; the Prometheus text format names it with. */
static void family(struct ph_buf *b, bool om, const char *name,
                   const char *type, const char *help)
{
    bool counter = strcmp(type, "counter") == 0;
    ph_buf_printf(b, "# TYPE %s%s %s\n# HELP %s%s %s\n", name,
                  counter && !om ? "_total" : "", type, name,
                  counter && !om ? "_total" : "", help);
}

static int64_t gauge(atomic_int_fast64_t *g)
{
    int64_t v = atomic_load(g);
    /* Sessions from before the module was loaded end uncounted. */
    return v < 0 ? 0 : v;
}

static void render(struct ph_buf *b, bool om)
{
    family(b, om, "posthorn_build_info", "gauge",
           "The posthorn version and module ABI.");
    ph_buf_printf(b, "posthorn_build_info{version=\"%s\",abi=\"%d.%d\"} 1\n",
                  PH_VERSION, PH_ABI_MAJOR, PH_ABI_MINOR);

    family(b, om, "posthorn_imap_commands", "counter",
           "IMAP commands by name and tagged answer (none: answered later).");
    for (size_t c = 0; c < NCMD; c++)
        for (size_t r = 0; r < NRES; r++) {
            uint64_t v = atomic_load(&counts.cmd[c][r]);
            if (v > 0)
                ph_buf_printf(b,
                              "posthorn_imap_commands_total{command=\"%s\","
                              "result=\"%s\"} %llu\n",
                              commands[c], results[r], (unsigned long long)v);
        }

    family(b, om, "posthorn_imap_command_duration_seconds", "histogram",
           "Time from an IMAP command's line to its answer.");
    for (size_t c = 0; c < NCMD; c++) {
        uint64_t total = 0;
        for (size_t r = 0; r < NRES; r++)
            total += atomic_load(&counts.cmd[c][r]);
        if (total == 0)
            continue;
        uint64_t cum = 0;
        for (size_t k = 0; k < NBUCKET; k++) {
            cum += atomic_load(&counts.cmd_bucket[c][k]);
            ph_buf_printf(b,
                          "posthorn_imap_command_duration_seconds_bucket{"
                          "command=\"%s\",le=\"%g\"} %llu\n",
                          commands[c], buckets[k], (unsigned long long)cum);
        }
        ph_buf_printf(b,
                      "posthorn_imap_command_duration_seconds_bucket{command="
                      "\"%s\",le=\"+Inf\"} %llu\n"
                      "posthorn_imap_command_duration_seconds_count{command="
                      "\"%s\"} %llu\n"
                      "posthorn_imap_command_duration_seconds_sum{command="
                      "\"%s\"} %.3f\n",
                      commands[c], (unsigned long long)total, commands[c],
                      (unsigned long long)total, commands[c],
                      (double)atomic_load(&counts.cmd_ms_sum[c]) / 1000.0);
    }

    family(b, om, "posthorn_logins", "counter",
           "Logins by result and SASL mechanism.");
    for (size_t r = 0; r < 3; r++)
        for (size_t m = 0; m < 3; m++)
            ph_buf_printf(b,
                          "posthorn_logins_total{endpoint=\"imap\",result="
                          "\"%s\",mechanism=\"%s\"} %llu\n",
                          login_results[r], mechanisms[m],
                          (unsigned long long)atomic_load(&counts.logins[r][m]));

    family(b, om, "posthorn_connections", "counter",
           "Connections accepted, by implicit TLS.");
    for (int t = 0; t < 2; t++)
        ph_buf_printf(b,
                      "posthorn_connections_total{endpoint=\"imap\",tls=\"%s\"} "
                      "%llu\n",
                      t ? "yes" : "no",
                      (unsigned long long)atomic_load(&counts.connections[t]));

    family(b, om, "posthorn_open_connections", "gauge",
           "Connections open now.");
    ph_buf_printf(b, "posthorn_open_connections{endpoint=\"imap\"} %lld\n",
                  (long long)gauge(&counts.open_connections));
    family(b, om, "posthorn_imap_idle_sessions", "gauge",
           "IMAP sessions in IDLE now.");
    ph_buf_printf(b, "posthorn_imap_idle_sessions %lld\n",
                  (long long)gauge(&counts.idle_sessions));
    if (om)
        ph_buf_puts(b, "# EOF\n");
}

/* ---- HTTP ----------------------------------------------------------------- */

#define HTTP_MAX_REQUEST 8192
#define HTTP_TIMEOUT_MS 5000

struct om_conf {
    struct ph_strlist listen;
    bool debug;
};

struct om {
    const struct om_conf *conf;
    const char *name;
    int fds[16];
    size_t nfds;
    int wake[2];
    pthread_t acceptor;
    bool running, sinking;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void reply(int fd, const char *status, const char *type,
                  const char *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, len);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, len);
}

/* Reads the request head (bounded in size and time) and answers it. */
static void serve(int fd)
{
    char req[HTTP_MAX_REQUEST + 1];
    size_t len = 0;
    while (len < HTTP_MAX_REQUEST && memmem(req, len, "\r\n\r\n", 4) == NULL &&
           memmem(req, len, "\n\n", 2) == NULL) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, HTTP_TIMEOUT_MS) <= 0)
            return;
        ssize_t r = recv(fd, req + len, HTTP_MAX_REQUEST - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
    }
    req[len] = '\0';
    static const char bad[] = "bad request\n";
    char method[16], path[256];
    if (sscanf(req, "%15s %255s HTTP/1.", method, path) != 2) {
        reply(fd, "400 Bad Request", "text/plain", bad, sizeof(bad) - 1);
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char m[] = "only GET\n";
        reply(fd, "405 Method Not Allowed", "text/plain", m, sizeof(m) - 1);
        return;
    }
    if (strcmp(path, "/metrics") != 0) {
        static const char nf[] = "not found: /metrics is here\n";
        reply(fd, "404 Not Found", "text/plain", nf, sizeof(nf) - 1);
        return;
    }
    /* Content negotiation (OpenMetrics 1.0, "Protocol Negotiation"). */
    bool om = strcasestr(req, "application/openmetrics-text") != NULL;
    struct ph_buf body = {0};
    render(&body, om);
    reply(fd, "200 OK",
          om ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8",
          strcmp(method, "HEAD") == 0 ? "" : body.data,
          strcmp(method, "HEAD") == 0 ? 0 : body.len);
    ph_buf_free(&body);
}

static void *accept_loop(void *arg)
{
    struct om *om = arg;
    struct pollfd pfd[17];
    for (;;) {
        for (size_t i = 0; i < om->nfds; i++)
            pfd[i] = (struct pollfd){.fd = om->fds[i], .events = POLLIN};
        pfd[om->nfds] = (struct pollfd){.fd = om->wake[0], .events = POLLIN};
        if (poll(pfd, om->nfds + 1, -1) < 0 && errno != EINTR)
            break;
        if (pfd[om->nfds].revents)
            break;
        for (size_t i = 0; i < om->nfds; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            int c = accept4(om->fds[i], NULL, NULL, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            serve(c);
            close(c);
        }
    }
    return NULL;
}

static int om_create(struct ph_instance *inst, void *conf, void **ctx_r,
                     char **error_r)
{
    const struct om_conf *c = conf;
    if (c->listen.n == 0 || c->listen.n > 16) {
        *error_r = ph_strdup("openmetrics needs 1 to 16 listen addresses");
        return -1;
    }
    for (size_t i = 0; i < c->listen.n; i++) {
        struct ph_listen_addr a;
        const char *err;
        if (ph_listen_addr_parse(c->listen.v[i], &a, &err) < 0) {
            *error_r = ph_strdup_printf("bad address \"%s\": %s",
                                        c->listen.v[i], err);
            return -1;
        }
        bool tls = a.scheme == PH_ADDR_TLS;
        ph_listen_addr_clear(&a);
        if (tls) {
            *error_r = ph_strdup("openmetrics serves plain HTTP: listen on "
                                 "tcp:// or unix:// (loopback)");
            return -1;
        }
    }
    struct om *om = ph_calloc(1, sizeof(*om));
    om->conf = c;
    om->name = ph_instance_name(inst);
    om->wake[0] = om->wake[1] = -1;
    *ctx_r = om;
    return 0;
}

static int om_start(void *ctx, struct ph_listeners *pool, char **error_r)
{
    struct om *om = ctx;
    for (size_t i = 0; i < om->conf->listen.n; i++) {
        struct ph_listen_addr a;
        const char *err;
        if (ph_listen_addr_parse(om->conf->listen.v[i], &a, &err) < 0) {
            *error_r = ph_strdup(err);
            return -1;
        }
        int r = ph_listeners_get(pool, &a, &om->fds[om->nfds], error_r);
        ph_listen_addr_clear(&a);
        if (r < 0)
            return -1;
        om->nfds++;
    }
    if (pipe2(om->wake, O_CLOEXEC) < 0) {
        *error_r = ph_strdup(strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&sink_lock);
    if (sink_users++ == 0)
        ph_event_sink_add(on_event, NULL);
    pthread_mutex_unlock(&sink_lock);
    om->sinking = true;
    if (pthread_create(&om->acceptor, NULL, accept_loop, om) != 0) {
        *error_r = ph_strdup("cannot start a thread");
        return -1;
    }
    om->running = true;
    return 0;
}

static void om_stop(void *ctx)
{
    struct om *om = ctx;
    if (!om->running)
        return;
    ssize_t w = write(om->wake[1], "x", 1);
    (void)w;
    pthread_join(om->acceptor, NULL);
    om->running = false;
}

static void om_destroy(void *ctx)
{
    struct om *om = ctx;
    om_stop(om);
    if (om->sinking) {
        pthread_mutex_lock(&sink_lock);
        if (--sink_users == 0)
            ph_event_sink_remove(on_event, NULL);
        pthread_mutex_unlock(&sink_lock);
    }
    if (om->wake[0] >= 0) {
        close(om->wake[0]);
        close(om->wake[1]);
    }
    free(om);
}

static const struct ph_endpoint_vfuncs om_vfuncs = {
    .start = om_start,
    .stop = om_stop,
};

#define OFF(f) offsetof(struct om_conf, f)
static const struct ph_directive om_directives[] = {
    {.name = "listen",
     .type = PH_DT_LIST,
     .flags = PH_DF_HIDDEN,
     .offset = OFF(listen)},
    {.name = "debug",
     .type = PH_DT_BOOL,
     .flags = PH_DF_INHERIT,
     .offset = OFF(debug),
     .def = "no"},
    {.name = NULL},
};

PH_MODULE(.names = (const char *const[]){"openmetrics", NULL},
          .kind = PH_MODULE_ENDPOINT,
          .description = "/metrics over HTTP in the OpenMetrics format",
          .directives = om_directives, .conf_size = sizeof(struct om_conf),
          .inline_directive = "listen", .create = om_create,
          .destroy = om_destroy, .iface = &om_vfuncs);
