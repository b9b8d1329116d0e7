/* SPDX-License-Identifier: MIT */
/* Test endpoint `tablequery`: answers table lookups over a socket, one
 * line per key ("FOUND v1 v2", "NOTFOUND", "TEMPFAIL reason"). It lets the
 * integration tests drive tables, listeners and reloads through the real
 * posthorn binary before any mail endpoint exists. A line "GRAPH" answers
 * an id of the graph the connection runs on, so tests can see that an
 * established session keeps its graph across a reload. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <posthorn/auth.h>
#include <posthorn/endpoint-impl.h>
#include <posthorn/log.h>
#include <posthorn/table.h>

struct tq_conf {
    struct ph_strlist listen;
    struct ph_instance *table;
    struct ph_instance *storage;
    char *tag;
    bool debug;
    struct ph_instance_list auth;
};

struct tq {
    struct tq_conf *conf;
    struct ph_graph *graph;
    struct ph_instance *inst;
    int fds[16];
    size_t nfds;
    int wake[2];
    pthread_t acceptor;
    bool running;
};

static void *serve(void *arg);

static void *accept_loop(void *arg)
{
    struct tq *tq = arg;
    struct pollfd pfd[17];
    for (;;) {
        for (size_t i = 0; i < tq->nfds; i++)
            pfd[i] = (struct pollfd){.fd = tq->fds[i], .events = POLLIN};
        pfd[tq->nfds] = (struct pollfd){.fd = tq->wake[0], .events = POLLIN};
        if (poll(pfd, tq->nfds + 1, -1) < 0 && errno != EINTR)
            break;
        if (pfd[tq->nfds].revents)
            break;
        for (size_t i = 0; i < tq->nfds; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            int c = accept(tq->fds[i], NULL, NULL);
            if (c < 0)
                continue;
            void **args = ph_malloc(2 * sizeof(void *));
            args[0] = tq;
            args[1] = (void *)(intptr_t)c;
            ph_graph_ref(tq->graph);
            pthread_t t;
            if (pthread_create(&t, NULL, serve, args) != 0) {
                close(c);
                free(args);
                struct ph_graph *g = tq->graph;
                ph_graph_unref(&g);
                continue;
            }
            pthread_detach(t);
        }
    }
    return NULL;
}

static void *serve(void *arg)
{
    void **args = arg;
    struct tq *tq = args[0];
    int fd = (int)(intptr_t)args[1];
    free(args);
    struct ph_graph *graph = tq->graph;
    FILE *in = fdopen(fd, "r");
    char line[1024];
    while (in && fgets(line, sizeof(line), in)) {
        line[strcspn(line, "\r\n")] = '\0';
        struct ph_buf out = {0};
        if (strcmp(line, "GRAPH") == 0) {
            ph_buf_printf(&out, "GRAPH %s\n", tq->conf->tag ? tq->conf->tag : "-");
        } else if (strncmp(line, "AUTH ", 5) == 0 && strchr(line + 5, ' ')) {
            /* "AUTH user password": every provider in order, first OK wins. */
            char *user = line + 5, *pass = strchr(user, ' ');
            *pass++ = '\0';
            const char *verdict = "FAILED";
            for (size_t i = 0; i < tq->conf->auth.n; i++) {
                const char *err;
                enum ph_auth_result r =
                    ph_auth_check(tq->conf->auth.v[i], user, pass, &err);
                if (r == PH_AUTH_OK) {
                    verdict = "OK";
                    break;
                }
                if (r == PH_AUTH_TEMPFAIL)
                    verdict = "TEMPFAIL";
            }
            ph_buf_printf(&out, "AUTH %s\n", verdict);
        } else if (strcmp(line, "DEBUG") == 0) {
            ph_buf_printf(&out, "DEBUG %s\n", tq->conf->debug ? "yes" : "no");
        } else {
            struct ph_strlist vals = {0};
            const char *err;
            enum ph_lookup r = ph_table_lookup(tq->conf->table, line, &vals, &err);
            if (r == PH_LOOKUP_FOUND) {
                ph_buf_puts(&out, "FOUND");
                for (size_t i = 0; i < vals.n; i++)
                    ph_buf_printf(&out, " %s", vals.v[i]);
                ph_buf_putc(&out, '\n');
            } else if (r == PH_LOOKUP_NOT_FOUND) {
                ph_buf_puts(&out, "NOTFOUND\n");
            } else {
                ph_buf_printf(&out, "TEMPFAIL %s\n", err);
            }
            ph_strlist_clear(&vals);
        }
        ssize_t w = send(fd, out.data, out.len, MSG_NOSIGNAL);
        ph_buf_free(&out);
        if (w < 0)
            break;
    }
    if (in)
        fclose(in);
    else
        close(fd);
    ph_graph_unref(&graph);
    return NULL;
}

static int tq_create(struct ph_instance *inst, void *conf, void **ctx_r,
                     char **error_r)
{
    struct tq_conf *c = conf;
    if (c->listen.n == 0 || c->listen.n > 16) {
        *error_r = ph_strdup("tablequery needs 1 to 16 listen addresses");
        return -1;
    }
    for (size_t i = 0; i < c->listen.n; i++) {
        struct ph_listen_addr a;
        const char *err;
        if (ph_listen_addr_parse(c->listen.v[i], &a, &err) < 0) {
            *error_r = ph_strdup_printf("bad address \"%s\": %s", c->listen.v[i], err);
            return -1;
        }
        ph_listen_addr_clear(&a);
    }
    struct tq *tq = ph_calloc(1, sizeof(*tq));
    tq->conf = c;
    tq->inst = inst;
    tq->graph = ph_instance_graph(inst);
    tq->wake[0] = tq->wake[1] = -1;
    *ctx_r = tq;
    return 0;
}

static int tq_start(void *ctx, struct ph_listeners *pool, char **error_r)
{
    struct tq *tq = ctx;
    for (size_t i = 0; i < tq->conf->listen.n; i++) {
        struct ph_listen_addr a;
        const char *err;
        if (ph_listen_addr_parse(tq->conf->listen.v[i], &a, &err) < 0) {
            *error_r = ph_strdup(err);
            return -1;
        }
        int r = ph_listeners_get(pool, &a, &tq->fds[tq->nfds], error_r);
        ph_listen_addr_clear(&a);
        if (r < 0)
            return -1;
        tq->nfds++;
    }
    if (pipe(tq->wake) < 0) {
        *error_r = ph_strdup(strerror(errno));
        return -1;
    }
    if (pthread_create(&tq->acceptor, NULL, accept_loop, tq) != 0) {
        *error_r = ph_strdup("cannot start a thread");
        return -1;
    }
    tq->running = true;
    return 0;
}

static void tq_stop(void *ctx)
{
    struct tq *tq = ctx;
    if (!tq->running)
        return;
    ssize_t w = write(tq->wake[1], "x", 1);
    (void)w;
    pthread_join(tq->acceptor, NULL);
    tq->running = false;
}

static void tq_destroy(void *ctx)
{
    struct tq *tq = ctx;
    tq_stop(tq);
    if (tq->wake[0] >= 0) {
        close(tq->wake[0]);
        close(tq->wake[1]);
    }
    free(tq);
}

static const struct ph_endpoint_vfuncs tq_vfuncs = {
    .start = tq_start,
    .stop = tq_stop,
};

#define OFF(f) offsetof(struct tq_conf, f)
static const struct ph_directive tq_directives[] = {
    {.name = "listen", .type = PH_DT_LIST, .flags = PH_DF_HIDDEN, .offset = OFF(listen)},
    {.name = "table", .type = PH_DT_MODULE, .flags = PH_DF_REQUIRED,
     .offset = OFF(table), .kind = PH_MODULE_TABLE, .prefix = "table"},
    {.name = "storage", .type = PH_DT_MODULE, .offset = OFF(storage),
     .kind = PH_MODULE_STORAGE, .prefix = "storage"},
    {.name = "tag", .type = PH_DT_STRING, .offset = OFF(tag)},
    {.name = "auth", .type = PH_DT_MODULE, .flags = PH_DF_REPEAT,
     .offset = OFF(auth), .kind = PH_MODULE_AUTH, .prefix = "auth"},
    {.name = "debug", .type = PH_DT_BOOL, .flags = PH_DF_INHERIT,
     .offset = OFF(debug), .def = "no"},
    {.name = NULL},
};

PH_MODULE(.names = (const char *const[]){"tablequery", NULL},
          .kind = PH_MODULE_ENDPOINT,
          .description = "test endpoint: table lookups over a socket",
          .directives = tq_directives, .conf_size = sizeof(struct tq_conf),
          .inline_directive = "listen", .create = tq_create,
          .destroy = tq_destroy, .iface = &tq_vfuncs);
