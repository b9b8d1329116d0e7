/* SPDX-License-Identifier: MIT */
/* posthorn SDK: TLS for endpoints, on GnuTLS.
 *
 * A struct ph_tls_server is made once per `tls` directive (from a struct
 * ph_tls_conf, see <posthorn/tls.h>): it holds the credentials (every CERT
 * KEY pair, or a self-signed certificate generated at start) and the
 * priority string. Sessions are made from it on connected sockets, by any
 * number of threads at once.
 *
 *   struct ph_tls_server *srv;
 *   if (ph_tls_server_new(&conf->tls, NULL, &srv, &error) < 0) ...
 *   ...
 *   struct ph_tls_session *s;
 *   if (ph_tls_session_new(srv, fd, &s, &error) < 0) ...
 *   if (ph_tls_handshake(s, 30000) < 0)
 *       log ph_tls_error(s), free the session, close fd
 *   n = ph_tls_read(s, buf, sizeof(buf));
 *   ph_tls_write_all(s, reply, len);
 *   ph_tls_bye(s);
 *   ph_tls_session_free(&s);
 *   close(fd);
 *
 * The defaults follow the hardening issue: TLS 1.2 minimum, TLS 1.3
 * maximum, ECDHE key exchange only (no RSA key exchange), AEAD ciphers only
 * (no CBC suites); see ph_tls_server_priority().
 *
 * STARTTLS: the caller reads the STARTTLS command in plaintext, answers it,
 * then MUST drop everything it has buffered from the socket beyond that
 * command line before it calls ph_tls_session_new() on the same fd. Bytes a
 * client (or an attacker on the path) pipelined after STARTTLS were sent in
 * the clear; treating them as commands of the TLS session is the classic
 * STARTTLS injection bug (CVE-2011-0411 and its many siblings).
 *
 * Config-time errors come back as malloc'ed strings through `char
 * **error_r`, without file:line (the directive engine adds it). Session
 * errors are kept in the session and read with ph_tls_error(): they end the
 * connection and go to a log line, never to a client. */
#ifndef POSTHORN_TLS_SESSION_H
#define POSTHORN_TLS_SESSION_H

#include <sys/types.h>

#include <posthorn/tls.h>

struct ph_tls_server;
struct ph_tls_session;

/* ---- the server side: credentials and priorities ---- */

/* Builds a server from conf (mode PH_TLS_FILES or PH_TLS_SELF_SIGNED):
 * loads every CERT/KEY pair (PEM or DER; CERT may hold the chain, leaf
 * first) or generates an ECDSA P-256 key and a self-signed certificate for
 * hostname (ph_global_hostname() when NULL, else the system's host name),
 * valid for a year from now. With several pairs, a client's SNI picks the
 * first pair whose certificate names it (DNS SANs, else the CN; case-blind;
 * "*.example.org" covers one label); no SNI or no match gets the first
 * pair. Checks the priority string built from protocols/ciphers/curves.
 * conf is copied: the caller may free it afterwards.
 *
 * Returns 0, or -1 with a message naming the file and GnuTLS's reason:
 *   cannot read certificate /etc/x.pem: No such file or directory
 *   key /etc/x.key does not match certificate /etc/x.pem
 *   tls ciphers: unknown cipher "AES-999-GCM" (GnuTLS names such as ...) */
int ph_tls_server_new(const struct ph_tls_conf *conf, const char *hostname,
                      struct ph_tls_server **srv_r, char **error_r) PH_WUR;

/* Drops the caller's reference and sets *srv to NULL. Sessions hold their
 * own reference: the server goes away with the last of them. */
void ph_tls_server_free(struct ph_tls_server **srv);

/* Re-reads every CERT/KEY pair (SIGHUP). On success the new credentials
 * are used by sessions created from now on; established sessions keep the
 * credentials they started with. On failure nothing changes and -1 comes
 * back with a message. A self-signed server keeps its certificate. May run
 * while other threads create sessions. */
int ph_tls_server_reload(struct ph_tls_server *srv, char **error_r) PH_WUR;

/* The GnuTLS priority string in use, for logs. The default:
 *   NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:
 *   +ECDHE-RSA:-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM
 * (one line). `protocols` sets the +VERS-TLS1.x entries (below TLS 1.2 the
 * CBC ciphers come back, as those versions have no AEAD suite); `ciphers`
 * replaces the cipher list and makes its order the server's preference
 * (%SERVER_PRECEDENCE); `curves` adds -GROUP-ALL:+GROUP-NAME... */
const char *ph_tls_server_priority(const struct ph_tls_server *srv);

/* Builds the priority string for conf without checking it with GnuTLS
 * (malloc'ed). ph_tls_server_new() checks it. */
char *ph_tls_priority_string(const struct ph_tls_conf *conf);

/* The SHA-256 fingerprint of the default (first) certificate, as
 * "AB:CD:...", for the log line that tells an admin which self-signed
 * certificate to trust. Malloc'ed. */
char *ph_tls_server_fingerprint(struct ph_tls_server *srv);

/* ---- sessions ---- */

/* Return values of the session calls besides byte counts. */
enum ph_tls_status {
    PH_TLS_ERROR = -1,      /* fatal: ph_tls_error() says why */
    PH_TLS_WANT_READ = -2,  /* _nb: call again once fd is readable */
    PH_TLS_WANT_WRITE = -3, /* _nb: call again once fd is writable */
    PH_TLS_TIMEOUT = -4,    /* blocking call: no progress within the
                               timeout; the session is still usable */
};

/* A server-side session over an already connected socket. The fd is put
 * in non-blocking mode (the blocking calls below wait with poll()) and is
 * neither closed nor restored by ph_tls_session_free(). A session is used
 * by one thread at a time. Returns 0, or -1 with a malloc'ed message. */
int ph_tls_session_new(struct ph_tls_server *srv, int fd,
                       struct ph_tls_session **s_r, char **error_r) PH_WUR;
/* Frees without sending anything (call ph_tls_bye() first for a clean
 * close) and sets *s to NULL. */
void ph_tls_session_free(struct ph_tls_session **s);

/* Timeout of the blocking calls below, in milliseconds: how long one call
 * may wait without progress before it returns PH_TLS_TIMEOUT. -1 waits
 * forever (the default). */
void ph_tls_set_timeout(struct ph_tls_session *s, int timeout_ms);

/* hook(arg, true) before a blocking call waits for the peer to read (the
 * socket is full), hook(arg, false) after: a server counts the threads
 * that clients so hold. NULL removes it. ABI 1.3. */
typedef void ph_tls_wait_hook(void *arg, bool begin);
void ph_tls_set_wait_hook(struct ph_tls_session *s, ph_tls_wait_hook *hook,
                          void *arg);

/* Blocking handshake, bounded by timeout_ms in all (-1: no bound).
 * 0, PH_TLS_ERROR or PH_TLS_TIMEOUT (after which the session is useless:
 * free it). */
int ph_tls_handshake(struct ph_tls_session *s, int timeout_ms) PH_WUR;
/* Reactor form: 0 when done, PH_TLS_WANT_READ / PH_TLS_WANT_WRITE, or
 * PH_TLS_ERROR. The caller keeps time. */
int ph_tls_handshake_nb(struct ph_tls_session *s) PH_WUR;

/* Blocking read: up to len (> 0) bytes. Returns the count (> 0), 0 at the
 * end of the stream (close_notify, or the peer closed the connection; a
 * reset is PH_TLS_ERROR), PH_TLS_ERROR or PH_TLS_TIMEOUT. */
ssize_t ph_tls_read(struct ph_tls_session *s, void *buf, size_t len) PH_WUR;
/* Reactor form: a count, 0 at the end, PH_TLS_WANT_READ/WRITE (TLS may
 * need to write while reading), or PH_TLS_ERROR. */
ssize_t ph_tls_read_nb(struct ph_tls_session *s, void *buf, size_t len) PH_WUR;

/* Writes all of buf, waiting as needed: 0, PH_TLS_ERROR or PH_TLS_TIMEOUT
 * (after which some of buf may have been sent: end the session). */
int ph_tls_write_all(struct ph_tls_session *s, const void *buf,
                     size_t len) PH_WUR;
/* Reactor form: the number of bytes taken (at most one TLS record, 16 KiB),
 * PH_TLS_WANT_READ/WRITE or PH_TLS_ERROR. After a WANT, call again with
 * the same buf and len: the record is already built and goes out first. */
ssize_t ph_tls_write_nb(struct ph_tls_session *s, const void *buf,
                        size_t len) PH_WUR;

/* Decrypted bytes already read from the socket and not yet returned by a
 * read. Check it before parking a session in epoll: when it is not 0 the
 * socket will not become readable for those bytes, and a parked session
 * would wait forever. */
size_t ph_tls_pending(struct ph_tls_session *s);

/* Sends close_notify (waiting up to the session's timeout) without waiting
 * for the peer's. 0 or PH_TLS_ERROR / PH_TLS_TIMEOUT; not PH_WUR, as the
 * connection is closed either way. */
int ph_tls_bye(struct ph_tls_session *s);

/* After the handshake, for log lines: "TLS1.3", "TLS_AES_256_GCM_SHA384"
 * (IANA names), and the server name the client asked for (SNI, NULL when it
 * sent none; client data: pass it through ph_log_escape()). */
const char *ph_tls_protocol(struct ph_tls_session *s);
const char *ph_tls_cipher(struct ph_tls_session *s);
const char *ph_tls_sni(struct ph_tls_session *s);

/* Why the last call failed ("handshake: ...", "timed out"), never NULL. */
const char *ph_tls_error(const struct ph_tls_session *s);

#endif
