/* SPDX-License-Identifier: MIT */
/* The imap endpoint's private declarations, shared by its files. */
#ifndef IMAP_PRIVATE_H
#define IMAP_PRIVATE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include <posthorn/endpoint-impl.h>
#include <posthorn/imap-parser.h>
#include <posthorn/imap-search.h>
#include <posthorn/imap-util.h>
#include <posthorn/log.h>
#include <posthorn/normalize.h>
#include <posthorn/storage.h>
#include <posthorn/tls-session.h>

struct imap_conf {
    struct ph_strlist listen;
    struct ph_tls_conf tls;
    bool io_debug, io_errors, debug;
    char *insecure_auth; /* unset: yes without TLS, no with it */
    struct ph_instance_list auth;
    struct ph_instance *storage;
    struct ph_instance *auth_map;
    int auth_map_normalize;
    struct ph_instance *storage_map;
    int storage_map_normalize;
    bool sasl_login;
    bool imap4rev2; /* advertise IMAP4rev2 and let ENABLE turn it on */
    int64_t max_connections;
    int64_t max_connections_per_ip;      /* of connections not logged in */
    int64_t max_user_connections_per_ip; /* 0: no limit */
    int64_t idle_timeout;                /* ms, logged in */
    int64_t login_timeout;               /* ms, before login */
    uint64_t max_line_length;
    uint64_t appendlimit;
    /* MULTIAPPEND: messages in one APPEND, and their bytes together. */
    int64_t max_append_messages;
    uint64_t max_append_size;
    int64_t auth_fail_delay; /* ms */
    int64_t workers;
    int64_t max_workers; /* workers plus those a stalled write adds */
    /* Parser limits (see struct ph_imap_parser_limits). */
    uint64_t max_literal_size, max_command_size;
    int64_t max_nesting, max_arguments;
    int64_t max_auth_failures;      /* per connection, then BYE */
    int64_t max_sequence_ranges;    /* ranges in one sequence set */
    int64_t max_pipelined_commands; /* answers held before a flush */
    uint64_t max_session_memory;    /* bytes, see imap_session_memory() */
    int64_t max_update_contexts;    /* RFC 5267 4.3.1, per session */
    int64_t compress_level;         /* COMPRESS=DEFLATE: zlib's 1..9 */
    bool literal_minus;             /* LITERAL- instead of LITERAL+ */
};

struct imap_reactor;

struct imap_server {
    struct imap_conf *conf;
    struct ph_instance *inst;
    struct ph_graph *graph;
    bool insecure_auth;
    bool tls_enabled;
    struct ph_tls_server *tls_srv; /* when TLS is configured */
    ph_normalize_fn *auth_normalize, *storage_normalize;
    struct ph_listen_addr addrs[16];
    size_t naddrs;
    struct imap_reactor *reactor;
    /* Failed logins per client address, for auth_fail_delay. */
    pthread_mutex_t fail_lock;
    struct imap_fail {
        char addr[64];
        unsigned count;
        int64_t last_ms;
    } fails[256];
};

enum imap_state {
    IMAP_STATE_NOT_AUTH = 1u << 0,
    IMAP_STATE_AUTH = 1u << 1,
    IMAP_STATE_SELECTED = 1u << 2,
    IMAP_STATE_LOGOUT = 1u << 3,
};
#define IMAP_STATE_ANY                                                         \
    (IMAP_STATE_NOT_AUTH | IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define IMAP_STATE_LOGGED_IN (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)

struct imap_session {
    struct imap_server *srv;
    struct ph_graph *graph;
    int fd;
    char addr[64]; /* client address for logs and limits */
    /* "client=ADDR port=PORT" (no port on a unix socket): the connection,
     * for the lines that must tell it from others of the same address. */
    char peer[96];
    /* "session=ID": ends every line logged for this session (the thread
     * running it sets it as its ph_log_set_context()). */
    char log_ctx[32];
    struct ph_imap_parser *parser;
    char inbuf[16384];
    size_t inpos, inlen;
    struct ph_buf out;
    enum imap_state state;
    bool closing; /* after LOGOUT or a fatal error */
    bool greeted;
    bool tls;              /* the connection is encrypted */
    bool implicit_tls;     /* accepted on a tls:// listener */
    bool starttls_pending; /* STARTTLS answered: handshake next */
    struct ph_tls_session *tls_sess;
    /* COMPRESS=DEFLATE, once active (imap_compress.c). */
    struct imap_zlib *zlib;
    bool io_failed;    /* a write failed: the session ends */
    bool io_mask_next; /* io_debug: the next client line holds a secret */
    bool io_in_sasl;   /* io_debug: every client line is a SASL response */
    /* Commands answered into out since the last flush: pipelined input is
     * answered in batches of at most max_pipelined_commands, and no more
     * input is read until a batch is written (backpressure). */
    size_t unflushed;
    size_t cmd_literal_bytes; /* literals buffered for the current command */
    /* FETCH responses this command sent itself (uid, modseq), sorted by
     * UID, so the updates after it do not repeat them. */
    struct imap_reported {
        uint32_t uid;
        uint64_t modseq;
    } * reported;
    size_t nreported, cap_reported;
    char *tag;          /* of the command being run */
    const char *tagged; /* its answer so far: "OK", "NO", "BAD"; NULL */
    bool allow_expunge; /* untagged EXPUNGE may go out now */

    char *user; /* as logged in */
    struct ph_account *acct;
    /* The account name once logged in, for the per-user limits; written
     * and read under the reactor's lock (imap_reactor_login). */
    char *login_key;

    /* Selected mailbox: the session's seq -> UID view. */
    struct ph_mailbox *mb;
    bool readonly;
    uint32_t *uids;
    bool *recent; /* beside uids: \Recent belongs to this session */
    size_t nuids, cap_uids, cap_recent;
    uint32_t nrecent;
    uint64_t modseq;                  /* highest modseq shown to the client */
    struct ph_uidset pending_expunge; /* waiting for a point to send */
    /* With pending_expunge not empty: s->modseq when the first of them was
     * learned, below every pending expunge's modseq, so the HIGHESTMODSEQ
     * this session may tell (RFC 7162 3.2: imap_highestmodseq()). */
    uint64_t pending_modseq;
    /* Keywords learned since SELECT, sorted case-insensitively; the
     * unannounced ones go out in FLAGS before a FETCH carries them
     * (imap_keywords.c). */
    char **keywords;
    size_t nkeywords, cap_keywords, keywords_bytes;
    bool keywords_unannounced;

    /* SEARCHRES (RFC 5182): the saved result "$" stands for, as UIDs
     * (sorted), so that expunged messages leave it by themselves; emptied
     * with the view. */
    struct ph_imap_seqset saved;
    /* SORT and THREAD: the keys of the messages sorted so far, by UID
     * (imap_sort.c); dropped with the view. */
    struct imap_sort_cache *sort_cache;
    /* FETCH BINARY: sections decoded lately (imap_binary.c); dropped with
     * the view. */
    struct imap_binary_cache *binary_cache;
    /* CONTEXT=SEARCH/SORT (RFC 5267 4.3): the contexts of RETURN (UPDATE)
     * commands (imap_context.c); dropped with the view. */
    struct imap_update **updates;
    size_t nupdates, cap_updates;

    /* CONDSTORE and QRESYNC (RFC 7162), once enabled for the rest of the
     * connection (qresync implies condstore). */
    bool condstore, qresync;
    /* ENABLE UTF8=ACCEPT (RFC 6855) and ENABLE IMAP4rev2 (RFC 9051):
     * either makes mailbox names UTF-8 on the wire (imap_utf8()). */
    bool utf8_accept, rev2;

    /* Command in progress. */
    bool cmd_uid; /* UID FETCH ... */
    /* A FETCH response with MODSEQ went out (RFC 7162 3.2: with expunges
     * held back, HIGHESTMODSEQ must then say how far the client is). */
    bool modseq_sent;
    /* The tagged OK carries [HIGHESTMODSEQ] (RFC 7162 3.2.7, 3.2.9: an
     * EXPUNGE, UID EXPUNGE or MOVE that removed messages, with QRESYNC). */
    bool ok_highestmodseq;

    /* APPEND in progress: the literals of its messages (MULTIAPPEND)
     * and CATENATE parts, spooled while they arrive (imap_append.c). */
    struct imap_append *append;

    /* AUTHENTICATE between challenge and response: the session parks
     * like any other, holding no worker while the client types. */
    enum {
        IMAP_SASL_NONE,
        IMAP_SASL_PLAIN,
        IMAP_SASL_LOGIN_USER,
        IMAP_SASL_LOGIN_PASS
    } sasl_step;
    struct ph_buf sasl_user; /* LOGIN: the user name already given */

    unsigned auth_failures;

    /* IDLE. */
    bool idling;
    char *idle_tag;

    /* Reactor bookkeeping, under the reactor's lock. */
    bool parked, queued, wake_pending, timed_out, dead, in_notify;
    /* Set by shutdown while a worker may be running the session, which
     * reads it without the lock. */
    atomic_bool shutting_down;
    int64_t last_active_ms;
    int64_t park_timeout_ms; /* 0: idle_timeout */
    /* A reply held back (failed login delay): the session parks without
     * reading until resume_at_ms, then sends it. */
    int64_t resume_at_ms;
    char *delayed_reply;
    struct imap_session *next_all, *prev_all, *next_q, *next_notify;
};

/* imap_reactor.c */
int imap_reactor_start(struct imap_server *srv, const int *fds, size_t nfds,
                       char **error_r);
void imap_reactor_stop(struct imap_reactor *r);
void imap_reactor_shutdown(struct imap_reactor *r);
void imap_reactor_free(struct imap_reactor **r);
/* A watch callback: marks the session woken and tells the reactor. */
void imap_session_wake(void *arg);
/* Parks s in the reactor until input or a wake; false when a wake is
 * already pending (then the caller keeps running the session). */
bool imap_reactor_park(struct imap_session *s);
/* Around a wait for the client to read what the session wrote (begin true,
 * then false): a worker so held serves no one, so the pool grows by one
 * while fewer than `workers` are free to serve (up to max_workers). */
void imap_reactor_stall(struct imap_session *s, bool begin);
/* Reads and clears the session's wake flag. */
bool imap_reactor_take_wake(struct imap_session *s);
/* Counts s as logged in to account key, unless max_user_connections_per_ip
 * sessions from its address are already: then false. */
bool imap_reactor_login(struct imap_session *s, const char *key);
int64_t imap_now_ms(void);

/* imap_session.c */
struct imap_session *imap_session_new(struct imap_server *srv, int fd,
                                      const char *addr, unsigned port,
                                      bool implicit_tls);

void imap_session_free(struct imap_session **s);
/* Ends an IDLE watch: no wake for s comes after it returns. */
void imap_session_stop_watch(struct imap_session *s);
/* Runs a session on a worker until it has to wait for input: true when
 * parked, false when it ended (the reactor frees it). */
bool imap_session_run(struct imap_session *s);
void imap_reply(struct imap_session *s, const char *fmt, ...) PH_PRINTF(2, 3);
void imap_tagged(struct imap_session *s, const char *status, const char *fmt,
                 ...) PH_PRINTF(3, 4);
/* Writes out all output: with COMPRESS, flushed so the client can read
 * all of it (Z_SYNC_FLUSH). */
int imap_flush(struct imap_session *s);
/* The transport under COMPRESS: the socket, or TLS over it. Write: 0 or
 * -1 (the session ends); read: bytes read, 0 for none now, -1 at EOF or on
 * an error. */
int imap_transport_write(struct imap_session *s, const char *data, size_t len);
ssize_t imap_transport_read(struct imap_session *s, char *buf, size_t size);
/* Output beyond this is written out at once, even inside a command: a
 * client that does not read holds a worker (up to the step timeout), never
 * more memory. */
#define IMAP_OUT_HIGH_WATER (64 * 1024)
/* Output buffer capacity a parked session keeps; more is freed. */
#define IMAP_OUT_KEEP (16 * 1024)
/* Flushes when out has reached IMAP_OUT_HIGH_WATER. */
int imap_out_check(struct imap_session *s);
/* Bytes the session holds for client-controlled data: buffered literals of
 * the command being read, pending output, the seq -> UID view and the
 * lists a command builds over it. */
size_t imap_session_memory(const struct imap_session *s);
/* True when `more` bytes fit within max_session_memory; else the caller
 * answers "NO " IMAP_LIMIT_TEXT (RFC 5530 LIMIT). */
bool imap_memory_fits(const struct imap_session *s, uint64_t more);
#define IMAP_LIMIT_TEXT "[LIMIT] Command would exceed the session memory limit"
/* The NO of a command whose messages another session expunged meanwhile
 * (RFC 5530 EXPUNGEISSUED, RFC 2180 4.1.2, 4.4.1). */
#define IMAP_GONE_TEXT                                                         \
    "[EXPUNGEISSUED] Some of the requested messages no longer exist"

void imap_capability_write(struct imap_session *s, struct ph_buf *out);
/* Untagged EXISTS/EXPUNGE/FETCH from storage changes; expunges only when
 * allowed. */
void imap_send_updates(struct imap_session *s, bool allow_expunge);
/* Sends "* n EXPUNGE" for the UIDs of set in the view and drops them. */
void imap_send_expunges(struct imap_session *s, const struct ph_uidset *set);
void imap_view_reset(struct imap_session *s);
uint32_t imap_view_seq(const struct imap_session *s, uint32_t uid);
/* The position in the view (0-based) of the first UID >= uid. */
size_t imap_view_lower_bound(const struct imap_session *s, uint32_t uid);
/* The positions in the view (0-based) whose UID is in set, in order; both
 * are sorted, so each range of set starts with a binary search and a few
 * UIDs cost little in a large mailbox. Start with {.set = set}. */
struct imap_view_walk {
    const struct ph_uidset *set;
    size_t k, i; /* the range of set, the position in the view */
};
bool imap_view_walk_next(const struct imap_session *s, struct imap_view_walk *w,
                         size_t *pos_r);
/* Narrows set (UIDs) to the messages of the view in it that the partial
 * range names, counted in UID order (RFC 9394 3.3). */
void imap_view_partial(const struct imap_session *s,
                       const struct ph_imap_partial *p, struct ph_uidset *set);
/* Turns a sequence set or UID set argument into UIDs of the view. 0, or -1
 * with a tagged BAD/NO sent. */
int imap_parse_set(struct imap_session *s, const struct ph_imap_value *v,
                   bool uid, struct ph_uidset *set_r);
/* Remembers that a FETCH with this message's flags went out. */
void imap_reported_add(struct imap_session *s, uint32_t uid, uint64_t modseq);
void imap_write_flags(struct ph_buf *out, uint32_t flags, char *const *keywords,
                      size_t nkeywords, bool recent);
/* Whether a FETCH shows \Recent: never to IMAP4rev2 (RFC 9051 Appendix E
 * 12). */
#define imap_recent(s, recent) ((recent) && !(s)->rev2)
/* "* n EXISTS", and "* n RECENT" to an IMAP4rev1 session. */
void imap_write_exists(struct imap_session *s);
/* Adds the flags of a flag list (RFC 3501 9: system flags, and keywords,
 * which are atoms, NIL included) to flags. NULL, or the text of a tagged
 * BAD that names the flag and says what is wrong with it ("where" follows
 * the flag: "" or " in APPEND"); the caller frees it. */
char *imap_flags_parse(const struct ph_imap_value *items, size_t n,
                       const char *where, struct ph_flags *flags);
/* A client's token quoted for a response text ("FOO"), at most 60 of its
 * characters and nothing outside printable ASCII; the caller frees it. */
char *imap_token_text(const char *token);
void imap_io_debug(struct imap_session *s, const char *dir, const char *data,
                   size_t len);
/* Events for debugging (connections, waits): with the endpoint's `debug`
 * or the global one. */
#define imap_debug_enabled(srv) ((srv)->conf->debug || ph_log_debug_enabled())

/* imap_compress.c: COMPRESS=DEFLATE (RFC 4978). */
/* Deflates data and writes it to the transport; sync: flushed for the
 * client to read all of it. 0 or -1. */
int imap_compress_write(struct imap_session *s, const char *data, size_t len,
                        bool sync);
/* Inflates input into s->inbuf: as read_some() (1, 0, -1); -1 on bad
 * input, with a BYE queued and s->closing set. */
int imap_compress_read(struct imap_session *s);
/* The session parks: zlib's streams go, their history stays. */
void imap_compress_park(struct imap_session *s);
/* Bytes the compression layer holds now. */
size_t imap_compress_memory(const struct imap_session *s);
void imap_compress_free(struct imap_session *s);

/* imap_commands.c */
/* args: the arguments after the command name (after "UID NAME" for the
 * UID forms, with s->cmd_uid set). */
typedef void imap_cmd_fn(struct imap_session *s,
                         const struct ph_imap_value *args, size_t n);
#define IMAP_CMD_USES_SEQ 0x1 /* no EXPUNGE responses after it */
#define IMAP_CMD_REV1 0x2     /* IMAP4rev1's only: gone once IMAP4rev2 is on */
struct imap_command_def {
    const char *name;
    unsigned states;
    imap_cmd_fn *fn;
    unsigned flags;
};
const struct imap_command_def *imap_command_find(const char *name);
/* NULL when command name may run in the session's state, else the text of
 * its BAD (malloc'ed). *def_r (may be NULL): the command, if known. */
char *imap_command_refusal(const struct imap_session *s, const char *name,
                           const struct imap_command_def **def_r);
void imap_dispatch(struct imap_session *s, const struct ph_imap_command *cmd);

/* Handlers, one file per family. */
imap_cmd_fn imap_cmd_capability, imap_cmd_noop, imap_cmd_logout, imap_cmd_login,
    imap_cmd_authenticate, imap_cmd_starttls, imap_cmd_list, imap_cmd_lsub,
    imap_cmd_create, imap_cmd_delete, imap_cmd_rename, imap_cmd_subscribe,
    imap_cmd_unsubscribe, imap_cmd_status, imap_cmd_select, imap_cmd_examine,
    imap_cmd_namespace, imap_cmd_enable, imap_cmd_id, imap_cmd_check,
    imap_cmd_close, imap_cmd_unselect, imap_cmd_expunge, imap_cmd_fetch,
    imap_cmd_store, imap_cmd_copy, imap_cmd_move, imap_cmd_search, imap_cmd_uid,
    imap_cmd_append, imap_cmd_idle, imap_cmd_sort, imap_cmd_thread,
    imap_cmd_cancelupdate, imap_cmd_compress;
imap_cmd_fn imap_cmd_getquota, imap_cmd_getquotaroot, imap_cmd_setquota;

/* imap_mailbox.c: a mailbox name argument in UTF-8 (malloc'ed); NULL with
 * a tagged answer sent: BAD for what is no astring, NO for an astring that
 * no mailbox can have (not modified UTF-7), with the RFC 5530 code
 * NONEXISTENT (a name looked up) or, for _new, CANNOT (a name to make). */
char *imap_mailbox_arg(struct imap_session *s, const struct ph_imap_value *v);
char *imap_mailbox_arg_new(struct imap_session *s,
                           const struct ph_imap_value *v);
/* The same for a caller that answers itself: NULL with *status_r ("BAD",
 * "NO") and *text_r (malloc'ed). */
char *imap_mailbox_name(const struct imap_session *s,
                        const struct ph_imap_value *v, const char *code,
                        const char **status_r, char **text_r);
void imap_storage_no(struct imap_session *s, int err, const char *error);

/* imap_quota.c: QUOTA (RFC 9208), when the storage keeps quotas. */
bool imap_quota_enabled(const struct imap_session *s);
void imap_quota_capability_write(const struct imap_session *s,
                                 struct ph_buf *out);
/* Closes the selected mailbox (no expunge) and returns to AUTH. */
void imap_close_selected(struct imap_session *s);

/* imap_condstore.c: CONDSTORE and QRESYNC (RFC 7162) in the session. */
/* The HIGHESTMODSEQ the client may be told: below every expunge held back
 * from it (RFC 7162 3.2, section 6's example). */
uint64_t imap_highestmodseq(const struct imap_session *s);
/* A CONDSTORE enabling command ran (RFC 7162 3.1): the first one with a
 * mailbox selected says the mailbox's HIGHESTMODSEQ. */
void imap_condstore_enable(struct imap_session *s);
/* "* VANISHED [(EARLIER) ]set" (RFC 7162 3.2.10), in lines of a bounded
 * number of ranges. */
void imap_write_vanished(struct imap_session *s, bool earlier,
                         const struct ph_uidset *set);
/* A FETCH response that tells a message's flags (flags: a written flag
 * list) or, with flags NULL, only its modseq, outside the items of a FETCH
 * command: with CONDSTORE "(UID u FLAGS (...) MODSEQ (m))" (RFC 7162
 * 3.1.4.2, 3.2.4), else "(FLAGS (...))", "(FLAGS (...) UID u)" with
 * uid. */
void imap_write_flag_fetch(struct imap_session *s, uint32_t seq, uint32_t uid,
                           uint64_t modseq, const char *flags, bool with_uid);
/* Adds lo:hi to set: O(1) when ranges come in ascending order, which
 * ph_uidset_add_range() takes linear time for. */
void imap_uidset_append(struct ph_uidset *set, uint32_t lo, uint32_t hi);
/* For each batch of at most IMAP_FETCH_BATCH messages of set that are in
 * the view, their metadata as storage has it now (ph_meta_list: flags,
 * modseq, ...; what: PH_META_* bits) to cb. A storage error: its code,
 * *error_r set; else what cb returned (non-zero stops). */
typedef int imap_batch_fn(struct imap_session *s, const struct ph_meta_list *l,
                          void *arg);
int imap_fetch_batches(struct imap_session *s, const struct ph_uidset *set,
                       unsigned what, imap_batch_fn *cb, void *arg,
                       const char **error_r);
/* Messages per storage fetch inside one command. */
#define IMAP_FETCH_BATCH 256
/* Writes imap_write_flag_fetch() for each message of set as storage has it
 * now (show_flags false: the modseq only), each one reported. */
int imap_flag_fetches(struct imap_session *s, const struct ph_uidset *set,
                      bool show_flags, const char **error_r);
/* FETCH/UID FETCH (CHANGEDSINCE since): narrows *set (UIDs of the view)
 * to the messages changed after since; with vanished (UID FETCH ...
 * VANISHED: the UIDs the client named), writes VANISHED (EARLIER) for
 * those of them expunged after since. 0, or -1 with a tagged NO sent. */
int imap_changedsince(struct imap_session *s, uint64_t since,
                      struct ph_uidset *set, const struct ph_uidset *vanished);
struct ph_imap_qresync;
/* SELECT/EXAMINE (QRESYNC ...) with the view made: VANISHED (EARLIER) and
 * the FETCHes of what changed since the client's modseq (RFC 7162
 * 3.2.5). 0, or a storage error with *error_r (nothing tagged sent). */
int imap_qresync_select(struct imap_session *s,
                        const struct ph_imap_qresync *qr, uint32_t uidnext,
                        const char **error_r);

/* imap_search.c: SEARCH programs run over the view, for SEARCH, SORT and
 * THREAD. The messages found, in view order: their positions in the
 * view, and their modseqs when the program has MODSEQ. */
struct imap_hits {
    uint32_t *pos;
    uint64_t *modseqs;
    size_t n, cap;
};
void imap_hits_free(struct imap_hits *h);
/* Parses a search program with this session's "$" (RFC 5182) and OLDER/
 * YOUNGER (RFC 5032); charset_first for SORT and THREAD. NULL with a
 * tagged BAD or NO sent (a NO empties "$" when save: RFC 5182 2.1). */
struct ph_imap_search *imap_search_parse(struct imap_session *s,
                                         const struct ph_imap_value *args,
                                         size_t n, bool charset_first,
                                         bool save);
/* Evaluates prog over the view (by storage where it can). 0, or -1 with a
 * tagged NO sent. */
int imap_search_run(struct imap_session *s, struct ph_imap_search *prog,
                    struct imap_hits *hits);
/* Evaluates prog over the messages of only (UIDs of the view) without
 * answering the client: 0, or -1 with *error_r for a log line. */
int imap_search_run_on(struct imap_session *s, struct ph_imap_search *prog,
                       const struct ph_uidset *only, struct imap_hits *hits,
                       const char **error_r);
/* The number a result lists for the hit at view position pos: its UID
 * under a UID command, else its sequence number. */
uint32_t imap_hit_number(const struct imap_session *s, uint32_t pos);
/* Sets "$" after a command with RETURN (SAVE ...) (RFC 5182 2.4); order:
 * indexes into hits in the result's order, NULL for view order. */
void imap_search_save(struct imap_session *s,
                      const struct ph_imap_search_return *ret,
                      const struct imap_hits *hits, const uint32_t *order);
/* What RETURN takes on SEARCH and SORT: ESEARCH's options (RFC 4731, for
 * SORT ESORT's, RFC 5267 3.1), SEARCHRES's SAVE (RFC 5182), CONTEXT's
 * (RFC 5267 4) and PARTIAL (RFC 9394). */
#define IMAP_RETURN_OPTIONS                                                    \
    (PH_IMAP_RETURN_MIN | PH_IMAP_RETURN_MAX | PH_IMAP_RETURN_ALL |            \
     PH_IMAP_RETURN_COUNT | PH_IMAP_RETURN_SAVE | PH_IMAP_RETURN_PARTIAL |     \
     PH_IMAP_RETURN_UPDATE | PH_IMAP_RETURN_CONTEXT)
/* The answer of a SEARCH or SORT with RETURN: "$" set when SAVE was asked
 * for, and the ESEARCH response of the other options, with MODSEQ when
 * the program has it. order: as for imap_search_save(). */
void imap_esearch_answer(struct imap_session *s,
                         const struct ph_imap_search_return *ret,
                         bool has_modseq, const struct imap_hits *hits,
                         const uint32_t *order);

/* imap_sort.c: the SORT keys (posthorn/sort.h) of each hit, in hits'
 * order, into keys_r (hits->n entries), valid until the view is reset.
 * 0, or -1 with a tagged NO sent. */
struct ph_sort_keys;
int imap_sort_keys(struct imap_session *s, const struct imap_hits *hits,
                   const struct ph_sort_keys **keys_r);
/* The same without an answer: -1 with *error_r for a log line. */
int imap_sort_keys_on(struct imap_session *s, const struct imap_hits *hits,
                      const struct ph_sort_keys **keys_r, const char **error_r);
/* imap_binary.c: FETCH BINARY (RFC 3516). */
struct imap_binary_cache;
struct ph_message_info;
void imap_binary_cache_free(struct imap_binary_cache **c);
size_t imap_binary_cache_memory(const struct imap_binary_cache *c);
/* A section the server cannot decode: NO [UNKNOWN-CTE]. */
#define BINARY_UNKNOWN_CTE (-3)
/* 0, or BINARY_UNKNOWN_CTE for the section-part spec of info. */
int imap_binary_check(const struct ph_message_info *info, const char *spec);
/* Writes "name[<start>] value" of BINARY[spec] (BINARY.SIZE[spec] when
 * size_only) for message uid. *identity_r: nothing written, the value is
 * BODY[spec]'s, which the caller writes. 0, -1 when storage failed, -2
 * when the message is gone, BINARY_UNKNOWN_CTE. */
int imap_binary_write(struct imap_session *s, uint32_t uid, uint64_t msg_size,
                      const struct ph_message_info *info, const char *name,
                      const char *spec, bool size_only, bool partial,
                      uint64_t start, uint64_t count, bool *identity_r);
/* imap_append.c: an unlinked temporary file in state_dir, and reading
 * [off, off + size) of one to cb in chunks (PH_STORAGE_ERR_TEMP when it
 * cannot be read, else cb's first nonzero result). */
FILE *imap_spool_open(void);
int imap_spool_read(FILE *f, uint64_t off, uint64_t size, ph_data_cb *cb,
                    void *arg);

struct imap_sort_cache;
void imap_sort_cache_free(struct imap_sort_cache **c);
size_t imap_sort_cache_memory(const struct imap_sort_cache *c);

/* imap_context.c: update contexts (RFC 5267 4.3). */
struct ph_sort_program_item;
/* A SEARCH or SORT whose RETURN has UPDATE with the tag of a context:
 * true with the tagged BAD sent. */
bool imap_update_refused(struct imap_session *s,
                         const struct ph_imap_search_return *ret);
/* After a SEARCH or SORT with RETURN (UPDATE) answered: keeps the context
 * of s->tag, taking *prog and (SORT) *crit, with the result hits in order
 * (as imap_search_save()), or refuses it with NO [NOUPDATE]. */
void imap_update_add(struct imap_session *s, struct ph_imap_search **prog,
                     struct ph_sort_program_item **crit, size_t ncrit,
                     const struct imap_hits *hits, const uint32_t *order);
/* The session learned these expunges (UIDs), its view still holding
 * them: REMOVEFROM for the contexts they were in. */
void imap_updates_expunged(struct imap_session *s,
                           const struct ph_uidset *expunged);
/* Messages of the view that arrived or whose flags changed: ADDTO and
 * REMOVEFROM for the contexts whose result they join or leave. */
void imap_updates_touched(struct imap_session *s,
                          const struct ph_uidset *touched);
void imap_updates_free(struct imap_session *s);
size_t imap_updates_memory(const struct imap_session *s);

/* imap_keywords.c: what the session's FLAGS responses list (RFC 3501
 * 7.2.6). Learn the keywords of each message whose FLAGS a response will
 * carry, then announce before writing that response. */
void imap_keywords_learn(struct imap_session *s, char *const *kw, size_t n);
/* FLAGS and, read-write, PERMANENTFLAGS (with \*); selecting: SELECT's
 * answer, where read-only gets PERMANENTFLAGS () too. */
void imap_keywords_write(struct imap_session *s, bool selecting);
/* imap_keywords_write() when a keyword was learned since the last one. */
void imap_keywords_announce(struct imap_session *s);
void imap_keywords_reset(struct imap_session *s);
size_t imap_keywords_memory(const struct imap_session *s);

/* imap_append.c: the parser found APPEND's message literal: everything
 * before it is checked and the append begun, or the command refused,
 * before the client is asked for the message. */
bool imap_append_literal(struct imap_session *s,
                         const struct ph_imap_literal *lit);
/* Drops an APPEND in progress (its spool, its storage append). */
void imap_append_abort(struct imap_session *s);

/* imap_catenate.c: a CATENATE URL part (RFC 4469, IMAP URLs of RFC 5092):
 * the bytes of the message or section it names, in the session's
 * account, written to app; *written grows by their count, which may not
 * pass limit. 0, or -1 with the tagged answer in *status_r and *text_r
 * (malloc'ed): NO [BADURL url] for a URL that names nothing here, NO
 * [TOOBIG] past limit. */
int imap_catenate_url(struct imap_session *s, const char *url,
                      struct ph_append *app, uint64_t *written, uint64_t limit,
                      const char **status_r, char **text_r);

/* imap_fetch.c: what BODY[section]<partial> of a message is, for FETCH
 * and for CATENATE's URLs: 1 when the message has no such part; else 0
 * with the range of its bytes in *off_r, *size_r, or for HEADER.FIELDS
 * [.NOT] the filtered header in *made_r (the range then lies in it);
 * negative: the storage's error reading the header. */
struct ph_message_info;
struct ph_message_section;
int imap_section_get(struct ph_mailbox *mb, uint32_t uid, uint64_t msg_size,
                     const struct ph_message_info *info,
                     const struct ph_message_section *sec, bool partial,
                     uint64_t start, uint64_t count, uint64_t *off_r,
                     uint64_t *size_r, struct ph_buf *made_r,
                     const char **error_r);

/* imap_utf8.c: UTF-8 on the wire (RFC 6855, RFC 9051 5.1). */
/* Mailbox names and quoted strings are UTF-8, not modified UTF-7. */
#define imap_utf8(s) ((s)->utf8_accept || (s)->rev2)
/* True when every quoted string of args is valid UTF-8; else false with
 * the tagged BAD sent (RFC 6855 3). */
bool imap_quoted_utf8_check(struct imap_session *s,
                            const struct ph_imap_value *args, size_t n);

/* imap_auth.c: NULL when a plaintext login may go on here, else the text
 * of its NO (logged). */
const char *imap_plaintext_refusal(struct imap_session *s, const char *mech);

/* imap_idle.c: the line after IDLE arrived (done: it was DONE). */
void imap_idle_set(struct imap_session *s, bool on);
void imap_idle_done(struct imap_session *s, bool done);
/* A client line (or, with line NULL, a parse error) while AUTHENTICATE
 * waits for a SASL response. */
void imap_sasl_line(struct imap_session *s, const char *line, size_t len);

#endif
