/* SPDX-License-Identifier: MIT */
/* posthorn SDK: implementing an endpoint (a network server such as imap).
 *
 * Lifecycle, driven by `posthorn run`:
 *   create()  reads the config; binds nothing.
 *   start()   takes its listening sockets from the listener pool (which
 *             keeps sockets across a reload when the address is unchanged)
 *             and starts serving.
 *   stop()    stops accepting (on reload or shutdown); established sessions
 *             keep running on the graph they started with, holding a
 *             reference to it (ph_graph_ref).
 *   shutdown() ends established sessions (server stop); returns when they
 *             are gone.
 *   destroy() when the last reference to its graph is dropped. */
#ifndef POSTHORN_ENDPOINT_IMPL_H
#define POSTHORN_ENDPOINT_IMPL_H

#include <posthorn/module.h>

enum ph_addr_scheme {
    PH_ADDR_TCP = 1, /* tcp://host:port: plain, STARTTLS where offered */
    PH_ADDR_TLS,     /* tls://host:port: implicit TLS */
    PH_ADDR_UNIX,    /* unix:///path */
};

struct ph_listen_addr {
    enum ph_addr_scheme scheme;
    char *host; /* TCP/TLS: "0.0.0.0", "::", "127.0.0.1"; NULL for unix */
    char *port; /* TCP/TLS */
    char *path; /* unix */
    char *text; /* as written */
};

/* Parses "tcp://0.0.0.0:143", "tls://[::1]:993", "unix:///run/x.sock". */
int ph_listen_addr_parse(const char *text, struct ph_listen_addr *addr_r,
                         const char **error_r) PH_WUR;
void ph_listen_addr_clear(struct ph_listen_addr *addr);

struct ph_listeners;
/* Returns a listening socket for addr, bound now or kept from the previous
 * graph. The pool owns it: never close it. -1 with a message on failure. */
int ph_listeners_get(struct ph_listeners *pool,
                     const struct ph_listen_addr *addr, int *fd_r,
                     char **error_r) PH_WUR;

struct ph_endpoint_vfuncs {
    int (*start)(void *ctx, struct ph_listeners *pool, char **error_r);
    void (*stop)(void *ctx);
    void (*shutdown)(void *ctx);
};

#endif
