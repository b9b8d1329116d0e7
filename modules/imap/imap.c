/* SPDX-License-Identifier: MIT */
/* Endpoint `imap`: an IMAP4rev1 server (RFC 3501). This file holds the
 * descriptor, the directives and the lifecycle; the reactor, the session
 * and the commands live beside it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/module.h>

#include "imap-private.h"

/* " (at FILE:LINE)" for a directive of this block, or "". */
static const char *directive_where(struct ph_instance *inst, const char *name)
{
    static __thread char buf[300];
    const struct ph_cfg_node *n = ph_cfg_child(ph_instance_node(inst), name);
    if (n == NULL || n->line == 0)
        return "";
    snprintf(buf, sizeof(buf), " (at %s:%d)", n->file, n->line);
    return buf;
}

static int imap_create(struct ph_instance *inst, void *conf, void **ctx_r,
                       char **error_r)
{
    struct imap_conf *c = conf;
    if (c->listen.n == 0 || c->listen.n > 16) {
        *error_r = ph_strdup("imap needs 1 to 16 listen addresses");
        return -1;
    }
    struct imap_server *srv = ph_calloc(1, sizeof(*srv));
    srv->conf = c;
    srv->inst = inst;
    srv->graph = ph_instance_graph(inst);
    srv->tls_enabled =
        c->tls.mode == PH_TLS_FILES || c->tls.mode == PH_TLS_SELF_SIGNED;
    pthread_mutex_init(&srv->fail_lock, NULL);
    for (size_t i = 0; i < c->listen.n; i++) {
        const char *err;
        if (ph_listen_addr_parse(c->listen.v[i], &srv->addrs[i], &err) < 0) {
            *error_r =
                ph_strdup_printf("bad address \"%s\": %s", c->listen.v[i], err);
            goto fail;
        }
        srv->naddrs++;
        if (srv->addrs[i].scheme == PH_ADDR_TLS && !srv->tls_enabled) {
            *error_r =
                ph_strdup_printf("%s needs TLS, but no tls directive applies "
                                 "(add `tls CERT KEY` or `tls self_signed`)",
                                 c->listen.v[i]);
            goto fail;
        }
    }
    if (srv->tls_enabled &&
        ph_tls_server_new(&c->tls, NULL, &srv->tls_srv, error_r) < 0)
        goto fail;
    srv->insecure_auth = !srv->tls_enabled;
    if (c->insecure_auth != NULL) {
        const char *err;
        if (ph_parse_bool(c->insecure_auth, &srv->insecure_auth, &err) < 0) {
            *error_r = ph_strdup_printf("insecure_auth: %s", err);
            goto fail;
        }
    }
    srv->auth_normalize =
        ph_normalize_find(ph_normalize_names[c->auth_map_normalize]);
    srv->storage_normalize =
        ph_normalize_find(ph_normalize_names[c->storage_map_normalize]);
    if (c->idle_timeout < 30 * 60 * 1000) {
        *error_r =
            ph_strdup("idle_timeout must be at least 30m (RFC 3501 5.4)");
        goto fail;
    }
    if (c->max_workers < c->workers) {
        *error_r =
            ph_strdup_printf("max_workers (%lld) must be at least "
                             "workers (%lld)",
                             (long long)c->max_workers, (long long)c->workers);
        goto fail;
    }
    if (c->login_timeout < 1000) {
        *error_r = ph_strdup("login_timeout must be at least 1s");
        goto fail;
    }
    /* The largest command and its answer must fit, or a valid command
     * could never run. */
    const uint64_t tera = 1ull << 40;
    uint64_t need =
        c->max_line_length < tera && c->max_literal_size < tera
            ? c->max_line_length + c->max_literal_size + 2 * IMAP_OUT_HIGH_WATER
            : UINT64_MAX;
    if (c->max_session_memory < need || c->max_session_memory > tera) {
        *error_r = ph_strdup_printf(
            "max_session_memory%s must be between max_line_length + "
            "max_literal_size + 128K (%llu bytes here) and 1T",
            directive_where(inst, "max_session_memory"),
            (unsigned long long)need);
        goto fail;
    }
    *ctx_r = srv;
    return 0;
fail:
    ph_tls_server_free(&srv->tls_srv);
    for (size_t i = 0; i < srv->naddrs; i++)
        ph_listen_addr_clear(&srv->addrs[i]);
    pthread_mutex_destroy(&srv->fail_lock);
    free(srv);
    return -1;
}

static int imap_start(void *ctx, struct ph_listeners *pool, char **error_r)
{
    struct imap_server *srv = ctx;
    int fds[16];
    for (size_t i = 0; i < srv->naddrs; i++)
        if (ph_listeners_get(pool, &srv->addrs[i], &fds[i], error_r) < 0)
            return -1;
    return imap_reactor_start(srv, fds, srv->naddrs, error_r);
}

static void imap_stop(void *ctx)
{
    struct imap_server *srv = ctx;
    if (srv->reactor)
        imap_reactor_stop(srv->reactor);
}

static void imap_shutdown(void *ctx)
{
    struct imap_server *srv = ctx;
    if (srv->reactor)
        imap_reactor_shutdown(srv->reactor);
}

static void imap_destroy(void *ctx)
{
    struct imap_server *srv = ctx;
    imap_reactor_free(&srv->reactor);
    ph_tls_server_free(&srv->tls_srv);
    for (size_t i = 0; i < srv->naddrs; i++)
        ph_listen_addr_clear(&srv->addrs[i]);
    pthread_mutex_destroy(&srv->fail_lock);
    free(srv);
}

/* SIGHUP with an unchanged configuration: re-read the certificates. */
static int imap_reload(void *ctx, char **error_r)
{
    struct imap_server *srv = ctx;
    return srv->tls_srv ? ph_tls_server_reload(srv->tls_srv, error_r) : 0;
}

static const struct ph_endpoint_vfuncs imap_vfuncs = {
    .start = imap_start,
    .stop = imap_stop,
    .shutdown = imap_shutdown,
};

#define OFF(f) offsetof(struct imap_conf, f)
static const struct ph_directive imap_directives[] = {
    {.name = "listen",
     .type = PH_DT_LIST,
     .flags = PH_DF_HIDDEN,
     .offset = OFF(listen)},
    {.name = "tls",
     .type = PH_DT_CUSTOM,
     .flags = PH_DF_INHERIT,
     .offset = OFF(tls),
     .min_args = 0,
     .max_args = -1,
     .parse = ph_tls_conf_parse,
     .free = ph_tls_conf_free,
     .help = "TLS certificates for tls:// and STARTTLS"},
    {.name = "io_debug",
     .type = PH_DT_BOOL,
     .offset = OFF(io_debug),
     .def = "no"},
    {.name = "io_errors",
     .type = PH_DT_BOOL,
     .offset = OFF(io_errors),
     .def = "no"},
    {.name = "debug",
     .type = PH_DT_BOOL,
     .flags = PH_DF_INHERIT,
     .offset = OFF(debug),
     .def = "no"},
    {.name = "insecure_auth",
     .type = PH_DT_STRING,
     .offset = OFF(insecure_auth),
     .help = "allow LOGIN/AUTHENTICATE without TLS (default: yes only when TLS "
             "is off)"},
    {.name = "auth",
     .type = PH_DT_MODULE,
     .flags = PH_DF_REQUIRED | PH_DF_REPEAT,
     .offset = OFF(auth),
     .kind = PH_MODULE_AUTH,
     .prefix = "auth"},
    {.name = "storage",
     .type = PH_DT_MODULE,
     .flags = PH_DF_REQUIRED,
     .offset = OFF(storage),
     .kind = PH_MODULE_STORAGE,
     .prefix = "storage"},
    {.name = "auth_map",
     .type = PH_DT_MODULE,
     .flags = PH_DF_INHERIT,
     .offset = OFF(auth_map),
     .def = "identity",
     .kind = PH_MODULE_TABLE,
     .prefix = "table"},
    {.name = "auth_map_normalize",
     .type = PH_DT_ENUM,
     .flags = PH_DF_INHERIT,
     .offset = OFF(auth_map_normalize),
     .def = "auto",
     .values = ph_normalize_names},
    {.name = "storage_map",
     .type = PH_DT_MODULE,
     .offset = OFF(storage_map),
     .def = "identity",
     .kind = PH_MODULE_TABLE,
     .prefix = "table"},
    {.name = "storage_map_normalize",
     .type = PH_DT_ENUM,
     .offset = OFF(storage_map_normalize),
     .def = "auto",
     .values = ph_normalize_names},
    {.name = "literal_minus",
     .type = PH_DT_BOOL,
     .offset = OFF(literal_minus),
     .def = "no",
     .help = "advertise LITERAL- instead of LITERAL+ (RFC 7888 5): "
             "non-synchronizing literals of at most 4096 bytes"},
    {.name = "sasl_login",
     .type = PH_DT_BOOL,
     .offset = OFF(sasl_login),
     .def = "no"},
    {.name = "imap4rev2",
     .type = PH_DT_BOOL,
     .offset = OFF(imap4rev2),
     .def = "yes",
     .help = "advertise IMAP4rev2 (RFC 9051) beside IMAP4rev1"},
    {.name = "max_connections",
     .type = PH_DT_INT,
     .offset = OFF(max_connections),
     .def = "10000",
     .min = 1,
     .max = 1000000},
    /* Connections from one address that have not logged in. They live
     * for a login's round trip (and a failure's delay), so 256 at once is
     * a reconnect storm of thousands of users behind one NAT or webmail
     * front-end, while one host holds at most 2.5% of max_connections for
     * at most login_timeout. Logged-in ones count per user below. */
    {.name = "max_connections_per_ip",
     .type = PH_DT_INT,
     .offset = OFF(max_connections_per_ip),
     .def = "256",
     .min = 1,
     .max = 1000000},
    /* Logged-in connections of one account from one address (Dovecot's
     * mail_max_userip_connections); more get NO [LIMIT] at login. */
    {.name = "max_user_connections_per_ip",
     .type = PH_DT_INT,
     .offset = OFF(max_user_connections_per_ip),
     .def = "10",
     .min = 0,
     .max = 1000000},
    {.name = "idle_timeout",
     .type = PH_DT_DURATION,
     .offset = OFF(idle_timeout),
     .def = "30m"},
    /* RFC 3501 5.4's 30 minutes are an autologout timer; a connection that
     * has not logged in holds no session worth keeping that long. */
    {.name = "login_timeout",
     .type = PH_DT_DURATION,
     .offset = OFF(login_timeout),
     .def = "3m"},
    {.name = "max_line_length",
     .type = PH_DT_SIZE,
     .offset = OFF(max_line_length),
     .def = "64K"},
    {.name = "appendlimit",
     .type = PH_DT_SIZE,
     .offset = OFF(appendlimit),
     .def = "0"},
    /* MULTIAPPEND (RFC 3502): a batch is all or none, so every message
     * of it waits, spooled, for the last; these bound one command. */
    {.name = "max_append_messages",
     .type = PH_DT_INT,
     .offset = OFF(max_append_messages),
     .def = "100",
     .min = 1,
     .max = 100000},
    {.name = "max_append_size",
     .type = PH_DT_SIZE,
     .offset = OFF(max_append_size),
     .def = "256M"},
    {.name = "auth_fail_delay",
     .type = PH_DT_DURATION,
     .offset = OFF(auth_fail_delay),
     .def = "1s"},
    /* Literals other than APPEND's message (those are spooled to disk and
     * bounded by appendlimit). */
    {.name = "max_literal_size",
     .type = PH_DT_SIZE,
     .offset = OFF(max_literal_size),
     .def = "64K"},
    {.name = "max_command_size",
     .type = PH_DT_SIZE,
     .offset = OFF(max_command_size),
     .def = "1M"},
    {.name = "max_nesting",
     .type = PH_DT_INT,
     .offset = OFF(max_nesting),
     .def = "64",
     .min = 2,
     .max = 1000},
    {.name = "max_arguments",
     .type = PH_DT_INT,
     .offset = OFF(max_arguments),
     .def = "10000",
     .min = 16,
     .max = 10000000},
    {.name = "max_auth_failures",
     .type = PH_DT_INT,
     .offset = OFF(max_auth_failures),
     .def = "3",
     .min = 1,
     .max = 1000},
    /* A 64 KiB line holds about 10,000 ranges of 5-digit UIDs, so no line
     * a real client sends is refused; 10,000 ranges cost 80 KiB. */
    {.name = "max_sequence_ranges",
     .type = PH_DT_INT,
     .offset = OFF(max_sequence_ranges),
     .def = "10000",
     .min = 1,
     .max = 1000000},
    {.name = "max_pipelined_commands",
     .type = PH_DT_INT,
     .offset = OFF(max_pipelined_commands),
     .def = "128",
     .min = 1,
     .max = 100000},
    /* RFC 5267 4.3.1: "at least one updating context per client"; each
     * re-evaluates the changed messages whenever the mailbox changes. */
    {.name = "max_update_contexts",
     .type = PH_DT_INT,
     .offset = OFF(max_update_contexts),
     .def = "8",
     .min = 1,
     .max = 1000},
    /* RFC 4978 4: the compressor "can trade speed against quality"; 6 is
     * zlib's default and Dovecot's. */
    {.name = "compress_level",
     .type = PH_DT_INT,
     .offset = OFF(compress_level),
     .def = "6",
     .min = 1,
     .max = 9},
    {.name = "max_session_memory",
     .type = PH_DT_SIZE,
     .offset = OFF(max_session_memory),
     .def = "16M"},
    {.name = "workers",
     .type = PH_DT_INT,
     .offset = OFF(workers),
     .def = "16",
     .min = 1,
     .max = 1024},
    {.name = "max_workers",
     .type = PH_DT_INT,
     .offset = OFF(max_workers),
     .def = "256",
     .min = 1,
     .max = 4096},
    {.name = NULL},
};

PH_MODULE(.names = (const char *const[]){"imap", NULL},
          .kind = PH_MODULE_ENDPOINT,
          .description = "IMAP4rev1 server (RFC 3501)",
          .directives = imap_directives, .conf_size = sizeof(struct imap_conf),
          .inline_directive = "listen", .create = imap_create,
          .destroy = imap_destroy, .reload = imap_reload,
          .iface = &imap_vfuncs);
