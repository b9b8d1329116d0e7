/* SPDX-License-Identifier: MIT */
/* imapload: an IMAP load generator for bench/run.
 *
 * One thread, one epoll set, many connections: each connection is a small
 * state machine (a scenario's `drive` function) advanced when a tagged
 * response completes its command. Responses are read as logical lines, so a
 * literal ({N}\r\n and N bytes) never splits one. Figures go to stdout, one
 * per line: `scenario=NAME figure=NAME value=NUMBER`.
 *
 * Depends on libc and GnuTLS only, so it runs against any server.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <gnutls/gnutls.h>
#include <zlib.h>

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("imapload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL && n != 0)
        die("out of memory");
    return p;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- growable byte buffer ---- */

struct buf {
    char *data;
    size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

static void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

static void buf_consume(struct buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    if (b->data)
        b->data[b->len] = '\0';
}

/* ---- deterministic randomness and messages ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rnd_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
    return lo + splitmix64(s) % (hi - lo + 1);
}

static const char *const names[] = {
    "alice",  "bob",   "carol", "dave",    "erin",   "frank",  "grace",
    "heidi",  "ivan",  "judy",  "mallory", "niaj",   "olivia", "peggy",
    "rupert", "sybil", "trent", "victor",  "walter", "zoe"};
static const char *const words[] = {
    "report",  "meeting",  "invoice",  "budget",   "release",  "schedule",
    "review",  "draft",    "summary",  "update",   "question", "project",
    "holiday", "server",   "contract", "minutes",  "agenda",   "travel",
    "lunch",   "deadline", "design",   "proposal", "feedback", "reminder",
    "order",   "delivery", "account",  "password", "network",  "backup",
    "quarter", "forecast"};

/* Rare words: each appears in about one message in len(rare) * 8, so a
 * SEARCH TEXT for one has to read every body but matches only a few. */
static const char *const rare[] = {"zephyrine", "quokkalike", "xylocarp",
                                   "vellichor", "jentacular", "snollygoster"};

static size_t opt_min_size = 2048, opt_max_size = 2 * 1024 * 1024;

/* A mix of sizes a mailbox really has: mostly small text, some mid-sized,
 * a few attachments up to 2 MB. */
static size_t msg_size_for(uint64_t *r)
{
    unsigned p = (unsigned)(splitmix64(r) % 100);
    size_t sz;
    if (p < 60)
        sz = (size_t)rnd_range(r, 2048, 8192);
    else if (p < 85)
        sz = (size_t)rnd_range(r, 8192, 65536);
    else if (p < 97)
        sz = (size_t)rnd_range(r, 65536, 524288);
    else
        sz = (size_t)rnd_range(r, 524288, 2 * 1024 * 1024);
    if (sz < opt_min_size)
        sz = opt_min_size;
    if (sz > opt_max_size)
        sz = opt_max_size;
    return sz;
}

static void add_words(struct buf *b, uint64_t *r, size_t target)
{
    size_t col = 0;
    while (b->len < target) {
        const char *w = words[splitmix64(r) % N_ELEMENTS(words)];
        buf_puts(b, w);
        col += strlen(w) + 1;
        if (col > 66) {
            buf_puts(b, "\r\n");
            col = 0;
        } else {
            buf_puts(b, " ");
        }
    }
    buf_puts(b, "\r\n");
}

/* Message `idx` of stream `seed`: the same bytes on every run, so both
 * servers are filled with the same mail. Big ones are multipart with a
 * base64 attachment, which gives BODYSTRUCTURE something to describe. */
static void msg_gen(uint64_t seed, uint64_t idx, size_t size, struct buf *b)
{
    uint64_t r = seed * 0x100000001b3ULL ^ (idx + 1) * 0x9e3779b97f4a7c15ULL;
    if (size == 0)
        size = msg_size_for(&r);
    b->len = 0;
    const char *from = names[splitmix64(&r) % N_ELEMENTS(names)];
    const char *to = names[splitmix64(&r) % N_ELEMENTS(names)];
    const char *w1 = words[splitmix64(&r) % N_ELEMENTS(words)];
    const char *w2 = words[splitmix64(&r) % N_ELEMENTS(words)];
    time_t t = (time_t)(1700000000 + (idx * 37) % 20000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    buf_printf(b,
               "From: %c%s Example <%s@example.org>\r\n"
               "To: %s <%s@example.net>\r\n"
               "Subject: %s %s #%" PRIu64 "\r\n"
               "Date: %s\r\n"
               "Message-ID: <%" PRIu64 ".%" PRIu64 "@bench.example.org>\r\n"
               "MIME-Version: 1.0\r\n",
               from[0] - 32, from + 1, from, to, to, w1, w2, idx, date, seed,
               idx);
    bool multipart = size > 65536;
    if (multipart)
        buf_puts(b,
                 "Content-Type: multipart/mixed; boundary=\"=_bench_b\"\r\n\r\n"
                 "--=_bench_b\r\nContent-Type: text/plain; "
                 "charset=us-ascii\r\n\r\n");
    else
        buf_puts(b, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    if (splitmix64(&r) % (N_ELEMENTS(rare) * 8) == 0)
        buf_printf(b, "Keyword %s here.\r\n", rare[idx % N_ELEMENTS(rare)]);
    size_t text = multipart ? b->len + 1500 + (size_t)(splitmix64(&r) % 2000)
                            : (size > 200 ? size - 2 : b->len + 1);
    add_words(b, &r, text);
    if (multipart) {
        buf_puts(
            b,
            "--=_bench_b\r\nContent-Type: application/octet-stream; "
            "name=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n");
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t end = size > b->len + 40 ? size - 20 : b->len + 80;
        buf_reserve(b, end - b->len + 80);
        while (b->len < end) {
            uint64_t v = splitmix64(&r);
            for (int i = 0; i < 76; i++) {
                b->data[b->len++] = b64[v & 63];
                v = (v >> 6) | (v << 58);
                if ((i & 7) == 7)
                    v = splitmix64(&r);
            }
            b->data[b->len++] = '\r';
            b->data[b->len++] = '\n';
        }
        b->data[b->len] = '\0';
        buf_puts(b, "--=_bench_b--\r\n");
    }
}

/* ---- statistics ---- */

struct stat_series {
    const char *name;
    double *v;
    size_t n, cap;
};

static void series_add(struct stat_series *s, double v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile. */
static double percentile(struct stat_series *s, double p)
{
    if (s->n == 0)
        return NAN;
    qsort(s->v, s->n, sizeof *s->v, cmp_double);
    double rank = p / 100.0 * (double)s->n;
    size_t k = (size_t)rank;
    if ((double)k < rank)
        k++;
    if (k < 1)
        k = 1;
    return s->v[k - 1];
}

static const char *scenario_name;

static void figure(const char *name, double v)
{
    printf("scenario=%s figure=%s value=%.3f\n", scenario_name, name, v);
    fflush(stdout);
}

static void figure_series(const char *prefix, struct stat_series *s)
{
    char n[128];
    if (s->n == 0)
        return;
    snprintf(n, sizeof n, "%slatency_p50_ms", prefix);
    figure(n, percentile(s, 50));
    snprintf(n, sizeof n, "%slatency_p99_ms", prefix);
    figure(n, percentile(s, 99));
}

/* ---- options ---- */

static const char *opt_host = "127.0.0.1", *opt_port = "143";
/* idle-hold: where the appender connects; NULL means --host/--port. */
static const char *opt_append_host, *opt_append_port;
static const char *opt_user = "user%d", *opt_password = "";
static bool opt_tls;
static int opt_clients = 1, opt_users = 1;
static const char *opt_scenario;
static uint64_t opt_seed = 1;
static long opt_messages = 200; /* append, fill, store-expunge */
static long opt_ops = 100;      /* select-fetch, search */
static double opt_seconds = 20; /* mixed */
static int opt_wakeups = 10;    /* idle-hold */
static long opt_server_pid;
static const char *opt_mailbox = "INBOX";
static double opt_timeout_s = 600;
static bool opt_verbose;
static int opt_connect_burst = 100;
/* COMPRESS DEFLATE (RFC 4978) after every LOGIN. */
static bool opt_compress;

/* ---- connections ---- */

enum conn_phase { PH_CONNECTING, PH_HANDSHAKE, PH_GREETING, PH_READY, PH_DONE };

struct conn {
    int id, fd, user;
    unsigned gen; /* bumped by conn_open: a reconnect ends parsing */
    enum conn_phase phase;
    gnutls_session_t tls;
    struct buf in, out;
    size_t in_scan; /* where the search for the next CRLF resumes */
    size_t out_off; /* bytes of `out` already written */
    bool want_out;  /* EPOLLOUT armed */
    unsigned tagn;
    char tag[16];
    bool busy; /* a command is in flight */
    double t_sent;
    struct stat_series *lat; /* where the command's latency goes, or NULL */
    const char *lit;         /* literal to send on the continuation */
    size_t lit_len;
    bool idling;
    int step;
    long done, goal; /* scenario counters */
    uint64_t rng;
    unsigned exists;
    unsigned *uids; /* UIDs learnt from FETCH */
    size_t n_uids, cap_uids;
    struct buf msg; /* the message being appended */
    char mailbox[64];
    bool greeted;      /* its first greeting came */
    bool parked;       /* idle-hold: IDLE's continuation seen */
    char last[160];    /* the last tagged reply, for error messages */
    uint64_t bytes_in; /* received over every connection it made */
    /* --compress: LOGIN sent, COMPRESS sent; then raw deflate both ways
     * (zout: compressed bytes to send, from zout_off). */
    bool login_sent, compressing, zlive, znew;
    z_stream zin, zout;
    struct buf zbuf;
    size_t zbuf_off;
};

struct scenario {
    const char *name;
    void (*drive)(struct conn *c, bool ok); /* after greeting / completion */
    void (*untagged)(struct conn *c, const char *line, size_t len);
    void (*finish)(double elapsed_ms);
};

static const struct scenario *sc;
static struct conn *conns;
static int n_conns;
static int epfd;
static gnutls_certificate_credentials_t tls_cred;
static int n_ready, n_done;
static int n_opened, n_greeted;
static double t_start, t_end;
static uint64_t bytes_total;
/* What bytes_total inflated to (the same without --compress). */
static uint64_t plain_total;
static long ops_total;
static struct stat_series lat_all = {"all", NULL, 0, 0};
static struct sockaddr_storage server_addr;
static socklen_t server_addrlen;
/* idle-hold's appender (connection 0) may talk to another server, e.g.
 * another node of the same store: append_conn is its index, or -1. */
static struct sockaddr_storage append_addr;
static socklen_t append_addrlen;
static int append_conn = -1;

static void conn_close(struct conn *c);
static void conn_flush(struct conn *c);

static void epoll_set(struct conn *c, bool add)
{
    struct epoll_event ev = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0),
                             .data.ptr = c};
    if (epoll_ctl(epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void conn_open(struct conn *c)
{
    c->gen++;
    const struct sockaddr_storage *sa = &server_addr;
    socklen_t salen = server_addrlen;
    if (c->id == append_conn) {
        sa = &append_addr;
        salen = append_addrlen;
    }
    c->fd =
        socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s (raise ulimit -n for many clients)", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->in.len = c->out.len = c->out_off = c->in_scan = 0;
    c->busy = c->idling = false;
    c->lit = NULL;
    c->step = 0;
    c->exists = 0;
    c->phase = PH_CONNECTING;
    c->want_out = true;
    if (connect(c->fd, (const struct sockaddr *)sa, salen) < 0 &&
        errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    epoll_set(c, true);
}

/* Connections are opened a burst at a time, the next as soon as one is
 * greeted: thousands of SYNs at once overflow the server's listen backlog,
 * and the connections the kernel drops that way hang, established on our
 * side only, with no greeting ever. */
static void open_more(void)
{
    while (n_opened < n_conns && n_opened - n_greeted < opt_connect_burst)
        conn_open(&conns[n_opened++]);
}

static void conn_close(struct conn *c)
{
    if (c->fd < 0)
        return;
    if (c->tls) {
        gnutls_deinit(c->tls);
        c->tls = NULL;
    }
    if (c->zlive) {
        inflateEnd(&c->zin);
        deflateEnd(&c->zout);
        c->zlive = false;
        c->zbuf.len = c->zbuf_off = 0;
    }
    c->login_sent = c->compressing = false;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static void conn_fail(struct conn *c, const char *what)
{
    die("client %d: %s", c->id, what);
}

/* A command the scenario needs failed: say which, with the server's words. */
#define cmd_failed(c, what)                                                    \
    die("client %d: %s failed: %s", (c)->id, what, (c)->last)

/* Mark this connection finished with the scenario's measured work. */
static void conn_finish(struct conn *c)
{
    if (c->phase == PH_DONE)
        return;
    c->phase = PH_DONE;
    conn_close(c);
    n_done++;
}

static void cmd(struct conn *c, struct stat_series *lat, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cmd(struct conn *c, struct stat_series *lat, const char *fmt, ...)
{
    va_list ap;
    snprintf(c->tag, sizeof c->tag, "a%u", ++c->tagn);
    size_t at = c->out.len;
    buf_printf(&c->out, "%s ", c->tag);
    va_start(ap, fmt);
    buf_vprintf(&c->out, fmt, ap);
    va_end(ap);
    buf_puts(&c->out, "\r\n");
    if (opt_verbose)
        fprintf(stderr, "C%d> %.*s\n", c->id, (int)(c->out.len - at - 2),
                c->out.data + at);
    c->busy = true;
    c->lat = lat;
    c->t_sent = now_ms();
    conn_flush(c);
}

/* APPEND with a synchronizing literal: the body goes after the server's
 * "+", as every server (and RFC 3501) allows. */
static void cmd_append(struct conn *c, struct stat_series *lat,
                       const char *mailbox, const char *flags, const char *data,
                       size_t len)
{
    c->lit = data;
    c->lit_len = len;
    cmd(c, lat, "APPEND \"%s\" (%s) {%zu}", mailbox, flags, len);
}

static void cmd_login(struct conn *c, struct stat_series *lat)
{
    char user[256];
    snprintf(user, sizeof user, opt_user, c->user);
    cmd(c, lat, "LOGIN \"%s\" \"%s\"", user, opt_password);
    c->login_sent = true;
}

static int tls_io_result(struct conn *c, ssize_t r)
{
    if (r >= 0)
        return (int)r;
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
        return -1;
    fprintf(stderr, "imapload: client %d: TLS: %s\n", c->id,
            gnutls_strerror((int)r));
    exit(1);
}

/* --compress: the COMPRESS command got OK; from here on raw deflate. */
static void zstart(struct conn *c)
{
    memset(&c->zin, 0, sizeof c->zin);
    memset(&c->zout, 0, sizeof c->zout);
    if (inflateInit2(&c->zin, -15) != Z_OK ||
        deflateInit2(&c->zout, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        die("zlib: cannot initialize");
    c->zlive = c->znew = true;
    c->zbuf.len = c->zbuf_off = 0;
}

/* Deflates what out holds into zbuf, flushed: a client sends whole
 * commands. */
static void zdeflate(struct conn *c)
{
    c->zout.next_in = (unsigned char *)c->out.data;
    c->zout.avail_in = (uInt)c->out.len;
    do {
        buf_reserve(&c->zbuf, c->out.len / 2 + 64);
        c->zout.next_out = (unsigned char *)c->zbuf.data + c->zbuf.len;
        c->zout.avail_out = (uInt)(c->zbuf.cap - c->zbuf.len - 1);
        size_t room = c->zout.avail_out;
        if (deflate(&c->zout, Z_SYNC_FLUSH) == Z_STREAM_ERROR)
            die("zlib: deflate failed");
        c->zbuf.len += room - c->zout.avail_out;
    } while (c->zout.avail_in > 0 || c->zout.avail_out == 0);
    c->out.len = c->out_off = 0;
}

static void conn_flush(struct conn *c)
{
    if (c->zlive && c->out.len > 0)
        zdeflate(c);
    struct buf *b = c->zlive ? &c->zbuf : &c->out;
    size_t *off = c->zlive ? &c->zbuf_off : &c->out_off;
    while (*off < b->len && c->fd >= 0 && c->phase >= PH_GREETING) {
        ssize_t n;
        size_t len = b->len - *off;
        if (c->tls) {
            n = gnutls_record_send(c->tls, b->data + *off, len);
            if (tls_io_result(c, n) < 0)
                break;
        } else {
            n = send(c->fd, b->data + *off, len, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                conn_fail(c, strerror(errno));
            }
        }
        *off += (size_t)n;
    }
    if (*off == b->len) {
        b->len = *off = 0;
    }
    bool want = b->len > 0;
    if (c->fd >= 0 && want != c->want_out) {
        c->want_out = want;
        epoll_set(c, false);
    }
}

/* A logical response line ends at a CRLF not preceded by a literal's
 * announcement "{N}" (or "{N+}"). Returns the literal size, or -1. */
static long literal_before(const char *s, size_t end)
{
    if (end < 3 || s[end - 1] != '}')
        return -1;
    size_t i = end - 1;
    if (i > 0 && s[i - 1] == '+')
        i--;
    size_t digits_end = i;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    if (i == 0 || i == digits_end || s[i - 1] != '{')
        return -1;
    return strtol(s + i, NULL, 10);
}

static void handle_line(struct conn *c, char *line, size_t len)
{
    if (opt_verbose)
        fprintf(stderr, "C%d< %.*s\n", c->id, (int)(len > 200 ? 200 : len),
                line);
    if (c->phase == PH_GREETING) {
        if (len < 4 || strncmp(line, "* OK", 4) != 0)
            conn_fail(c, "bad greeting");
        c->phase = PH_READY;
        if (!c->greeted) {
            c->greeted = true;
            n_greeted++;
            open_more();
        }
        sc->drive(c, true);
        return;
    }
    if (line[0] == '+') {
        if (c->lit) {
            buf_add(&c->out, c->lit, c->lit_len);
            buf_puts(&c->out, "\r\n");
            c->lit = NULL;
            conn_flush(c);
        } else if (c->idling) {
            sc->untagged(c, line, len);
        }
        return;
    }
    if (line[0] == '*') {
        if (len > 2 && line[2] >= '0' && line[2] <= '9') {
            char *end;
            unsigned long n = strtoul(line + 2, &end, 10);
            /* The session's view: EXISTS sets it, each EXPUNGE (which a
             * server may send even inside SELECT's reply) shrinks it. */
            if (strncmp(end, " EXISTS", 7) == 0)
                c->exists = (unsigned)n;
            else if (strcmp(end, " EXPUNGE") == 0 && c->exists > 0)
                c->exists--;
        }
        sc->untagged(c, line, len);
        return;
    }
    size_t tl = strlen(c->tag);
    if (c->busy && len > tl && strncmp(line, c->tag, tl) == 0 &&
        line[tl] == ' ') {
        bool ok = strncmp(line + tl + 1, "OK", 2) == 0;
        snprintf(c->last, sizeof c->last, "%.*s", (int)(len < 150 ? len : 150),
                 line);
        double dt = now_ms() - c->t_sent;
        c->busy = false;
        c->lit = NULL;
        if (c->lat && ok) {
            series_add(c->lat, dt);
            if (c->lat != &lat_all)
                series_add(&lat_all, dt);
            ops_total++;
        }
        if (c->login_sent) {
            /* --compress: COMPRESS DEFLATE between LOGIN and whatever
             * the scenario does after it. */
            c->login_sent = false;
            if (ok && opt_compress) {
                cmd(c, NULL, "COMPRESS DEFLATE");
                c->compressing = true;
                return;
            }
        } else if (c->compressing) {
            c->compressing = false;
            if (!ok)
                cmd_failed(c, "COMPRESS");
            zstart(c);
        }
        sc->drive(c, ok);
        return;
    }
    if (opt_verbose)
        fprintf(stderr, "C%d: unexpected line\n", c->id);
}

static void conn_parse(struct conn *c)
{
    size_t start = 0;
    unsigned gen = c->gen;
    for (;;) {
        if (c->in_scan >= c->in.len)
            break;
        char *p =
            memmem(c->in.data + c->in_scan, c->in.len - c->in_scan, "\r\n", 2);
        if (p == NULL)
            break;
        size_t end = (size_t)(p - c->in.data);
        long lit = literal_before(c->in.data + start, end - start);
        if (lit >= 0) {
            /* Skip the literal's bytes, arrived or not: a CRLF inside
             * them ends nothing. */
            c->in_scan = end + 2 + (size_t)lit;
            continue;
        }
        c->in.data[end] = '\0';
        handle_line(c, c->in.data + start, end - start);
        if (c->fd < 0 || c->gen != gen)
            return;
        /* Compressed bytes read with COMPRESS's OK would be taken for
         * text: the server must not send any before our next command. */
        if (c->znew) {
            c->znew = false;
            if (c->in.len > end + 2)
                conn_fail(c, "data after COMPRESS's OK");
        }
        start = end + 2;
        c->in_scan = start;
    }
    if (start > 0) {
        buf_consume(&c->in, start);
        c->in_scan -= start;
    }
    /* Don't rescan a literal-free partial line from its start each time. */
    if (c->in.len > 1 && c->in_scan < c->in.len - 1)
        c->in_scan = c->in.len - 1;
}

/* Appends n received bytes to c->in, inflated under --compress. */
static void conn_take(struct conn *c, char *data, size_t n)
{
    c->bytes_in += (uint64_t)n;
    bool timed = t_start > 0 && t_end == 0;
    if (timed)
        bytes_total += (uint64_t)n;
    if (!c->zlive) {
        buf_add(&c->in, data, n);
        if (timed)
            plain_total += (uint64_t)n;
        return;
    }
    c->zin.next_in = (unsigned char *)data;
    c->zin.avail_in = (uInt)n;
    do {
        buf_reserve(&c->in, 65536);
        c->zin.next_out = (unsigned char *)c->in.data + c->in.len;
        c->zin.avail_out = (uInt)(c->in.cap - c->in.len - 1);
        size_t room = c->zin.avail_out;
        int r = inflate(&c->zin, Z_SYNC_FLUSH);
        if (r == Z_STREAM_END) {
            /* The server ended its stream (it closes): what came is
             * parsed, the close comes next. */
            c->in.len += room - c->zin.avail_out;
            break;
        }
        if (r != Z_OK && r != Z_BUF_ERROR)
            die("client %d: the server's deflate stream is corrupt (%d: %s)",
                c->id, r, c->zin.msg ? c->zin.msg : "");
        c->in.len += room - c->zin.avail_out;
        if (timed)
            plain_total += room - c->zin.avail_out;
    } while (c->zin.avail_in > 0 || c->zin.avail_out == 0);
}

static void conn_read(struct conn *c)
{
    static char raw[65536];
    unsigned gen = c->gen;
    for (;;) {
        ssize_t n;
        if (c->tls) {
            n = gnutls_record_recv(c->tls, raw, sizeof raw);
            if (n == 0)
                conn_fail(c, "server closed the connection");
            if (tls_io_result(c, n) < 0)
                return;
        } else {
            n = recv(c->fd, raw, sizeof raw, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    return;
                conn_fail(c, strerror(errno));
            }
            if (n == 0) {
                if (c->phase == PH_DONE)
                    return;
                conn_fail(c, "server closed the connection");
            }
        }
        conn_take(c, raw, (size_t)n);
        buf_reserve(&c->in, 0);
        c->in.data[c->in.len] = '\0';
        conn_parse(c);
        if (c->fd < 0 || c->gen != gen)
            return;
    }
}

static void conn_handshake(struct conn *c)
{
    int r = gnutls_handshake(c->tls);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
        bool want = gnutls_record_get_direction(c->tls) == 1;
        if (want != c->want_out) {
            c->want_out = want;
            epoll_set(c, false);
        }
        return;
    }
    if (r < 0)
        die("client %d: TLS handshake: %s", c->id, gnutls_strerror(r));
    c->phase = PH_GREETING;
    c->want_out = false;
    epoll_set(c, false);
    conn_read(c);
}

static void conn_event(struct conn *c, uint32_t ev)
{
    if (c->phase == PH_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0)
            die("client %d: connect: %s", c->id, strerror(err));
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (opt_tls) {
            gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
            gnutls_set_default_priority(c->tls);
            /* A throwaway self-signed certificate: no verification. */
            gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, tls_cred);
            gnutls_transport_set_int(c->tls, c->fd);
            c->phase = PH_HANDSHAKE;
            conn_handshake(c);
            return;
        }
        c->phase = PH_GREETING;
        c->want_out = false;
        epoll_set(c, false);
        return;
    }
    if (c->phase == PH_HANDSHAKE) {
        conn_handshake(c);
        return;
    }
    if (ev & EPOLLOUT)
        conn_flush(c);
    if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_read(c);
}

/* ---- helpers shared by scenarios ---- */

static void ready_barrier(void);
static void idle_drive(struct conn *c, bool ok);

/* Setup is done for this connection; the measured part starts when every
 * connection got here, so logins don't count against throughput. */
static void conn_ready(struct conn *c)
{
    (void)c;
    if (++n_ready == n_conns)
        ready_barrier();
}

static void ready_barrier(void)
{
    t_start = now_ms();
    bytes_total = plain_total = 0;
    if (sc->drive == idle_drive)
        return; /* main() starts the wake-ups */
    for (int i = 0; i < n_conns; i++)
        sc->drive(&conns[i], true);
}

static void untagged_none(struct conn *c, const char *line, size_t len)
{
    (void)c, (void)line, (void)len;
}

/* The UID of an untagged FETCH, learnt for later UID FETCH. */
static void learn_uid(struct conn *c, const char *line, size_t len)
{
    const char *f = strstr(line, " FETCH (");
    if (f == NULL)
        return;
    const char *u = strstr(f, "UID ");
    if (u == NULL || (u[-1] != '(' && u[-1] != ' '))
        return;
    if (c->n_uids == c->cap_uids) {
        c->cap_uids = c->cap_uids ? c->cap_uids * 2 : 1024;
        c->uids = xrealloc(c->uids, c->cap_uids * sizeof *c->uids);
    }
    c->uids[c->n_uids++] = (unsigned)strtoul(u + 4, NULL, 10);
    (void)len;
}

static void print_common(double elapsed_ms)
{
    figure("ops_per_s", (double)ops_total / (elapsed_ms / 1e3));
    figure_series("", &lat_all);
    figure("bytes_per_s", (double)bytes_total / (elapsed_ms / 1e3));
}

/* ---- scenario: append (also `fill`) ---- */

static uint64_t append_bytes;

static void append_drive(struct conn *c, bool ok)
{
    switch (c->step++) {
    case 0: cmd_login(c, NULL); return;
    case 1:
        if (!ok)
            cmd_failed(c, "LOGIN");
        if (strcasecmp(opt_mailbox, "INBOX") != 0) {
            cmd(c, NULL, "CREATE \"%s\"", opt_mailbox);
            return; /* NO when it exists: fine */
        }
        c->step++;
        /* fallthrough */
    case 2: conn_ready(c); return;
    default:
        if (c->step > 4 && !ok)
            cmd_failed(c, "APPEND");
        /* Client i sends messages i, i+C, i+2C...: every message of the
         * stream goes to the same user in every run. */
        {
            long idx = c->id + c->done * n_conns;
            if (idx >= opt_messages) {
                cmd(c, NULL, "LOGOUT");
                c->step = -100;
                return;
            }
            c->done++;
            msg_gen(opt_seed, (uint64_t)idx, 0, &c->msg);
            append_bytes += c->msg.len;
            const char *flags = idx % 3 == 0    ? "\\Seen"
                                : idx % 17 == 0 ? "\\Flagged"
                                                : "";
            cmd_append(c, &lat_all, opt_mailbox, flags, c->msg.data,
                       c->msg.len);
        }
        return;
    case -100: conn_finish(c); return;
    }
}

static void append_finish(double elapsed_ms)
{
    figure("ops_per_s", (double)ops_total / (elapsed_ms / 1e3));
    figure_series("", &lat_all);
    figure("bytes_per_s", (double)append_bytes / (elapsed_ms / 1e3));
    figure("messages", (double)ops_total);
}

/* ---- scenario: select-fetch ---- */

static struct stat_series lat_select = {"select", NULL, 0, 0};
static struct stat_series lat_fetch_all = {"fetch_all", NULL, 0, 0};
static struct stat_series lat_body = {"body", NULL, 0, 0};

static void sf_drive(struct conn *c, bool ok)
{
    switch (c->step++) {
    case 0: cmd_login(c, NULL); return;
    case 1:
        if (!ok)
            cmd_failed(c, "LOGIN");
        conn_ready(c);
        return;
    case 2: cmd(c, &lat_select, "SELECT \"%s\"", opt_mailbox); return;
    case 3:
        if (!ok)
            cmd_failed(c, "SELECT");
        if (c->exists == 0)
            die("client %d: mailbox %s is empty; fill it first", c->id,
                opt_mailbox);
        c->n_uids = 0;
        cmd(c, &lat_fetch_all,
            "FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE "
            "BODYSTRUCTURE)");
        return;
    default:
        if (!ok)
            cmd_failed(c, "FETCH");
        if (c->done >= opt_ops || c->n_uids == 0) {
            cmd(c, NULL, "LOGOUT");
            c->step = -100;
            return;
        }
        c->done++;
        cmd(c, &lat_body, "UID FETCH %u BODY.PEEK[]",
            c->uids[splitmix64(&c->rng) % c->n_uids]);
        return;
    case -100: conn_finish(c); return;
    }
}

static void sf_untagged(struct conn *c, const char *line, size_t len)
{
    if (c->step == 4)
        learn_uid(c, line, len);
}

static void sf_finish(double elapsed_ms)
{
    figure("ops_per_s", (double)lat_body.n / (elapsed_ms / 1e3));
    figure("bytes_per_s", (double)bytes_total / (elapsed_ms / 1e3));
    /* The same commands on every server (--seed): bytes on the wire, and
     * what they inflate to under --compress. */
    figure("wire_bytes", (double)bytes_total);
    figure("plain_bytes", (double)plain_total);
    figure_series("select_", &lat_select);
    figure_series("fetch_all_", &lat_fetch_all);
    figure_series("body_", &lat_body);
}

/* ---- scenarios: sort and thread ---- */

/* What webmail asks of a large mailbox (issue 17): a message list sorted
 * by date, subject or sender, the count for its pager, and the threads. */
enum { SO_DATE, SO_SUBJECT, SO_FROM, SO_COUNT, SO_N };
static struct stat_series lat_sort[SO_N] = {{"sort_date", NULL, 0, 0},
                                            {"sort_subject", NULL, 0, 0},
                                            {"sort_from", NULL, 0, 0},
                                            {"esearch_count", NULL, 0, 0}};
static struct stat_series lat_thread = {"thread_references", NULL, 0, 0};

/* Login, SELECT, then opt_ops commands of kinds, in turn, each timed. */
static void listed_drive(struct conn *c, bool ok, int kinds,
                         void (*send)(struct conn *c, int kind))
{
    switch (c->step++) {
    case 0: cmd_login(c, NULL); return;
    case 1:
        if (!ok)
            cmd_failed(c, "LOGIN");
        cmd(c, NULL, "SELECT \"%s\"", opt_mailbox);
        return;
    case 2:
        if (!ok)
            cmd_failed(c, "SELECT");
        conn_ready(c);
        return;
    default:
        if (c->step > 4 && !ok)
            cmd_failed(c, scenario_name);
        if (c->done >= opt_ops) {
            cmd(c, NULL, "LOGOUT");
            c->step = -100;
            return;
        }
        send(c, (int)((c->done + c->id) % kinds));
        c->done++;
        return;
    case -100: conn_finish(c); return;
    }
}

static void sort_send(struct conn *c, int k)
{
    switch (k) {
    case SO_DATE: cmd(c, &lat_sort[k], "SORT (DATE) UTF-8 ALL"); break;
    case SO_SUBJECT: cmd(c, &lat_sort[k], "SORT (SUBJECT) UTF-8 ALL"); break;
    case SO_FROM: cmd(c, &lat_sort[k], "SORT (FROM) UTF-8 ALL"); break;
    default: cmd(c, &lat_sort[k], "SEARCH RETURN (COUNT) ALL"); break;
    }
}

static void sort_drive(struct conn *c, bool ok)
{
    listed_drive(c, ok, SO_N, sort_send);
}

/* The common figures, then each series under its name. */
static void listed_finish(double elapsed_ms, struct stat_series *v, int n)
{
    print_common(elapsed_ms);
    for (int k = 0; k < n; k++) {
        char p[64];
        snprintf(p, sizeof p, "%s_", v[k].name);
        figure_series(p, &v[k]);
    }
}

static void sort_finish(double elapsed_ms)
{
    listed_finish(elapsed_ms, lat_sort, SO_N);
}

static void thread_send(struct conn *c, int k)
{
    (void)k;
    cmd(c, &lat_thread, "THREAD REFERENCES UTF-8 ALL");
}

static void thread_drive(struct conn *c, bool ok)
{
    listed_drive(c, ok, 1, thread_send);
}

static void thread_finish(double elapsed_ms)
{
    listed_finish(elapsed_ms, &lat_thread, 1);
}

/* ---- scenario: search ---- */

enum { SK_FLAG, SK_UNSEEN, SK_FROM, SK_SUBJECT, SK_TEXT, SK_N };
static struct stat_series lat_search[SK_N] = {{"flag", NULL, 0, 0},
                                              {"unseen", NULL, 0, 0},
                                              {"from", NULL, 0, 0},
                                              {"subject", NULL, 0, 0},
                                              {"text", NULL, 0, 0}};

static void search_send(struct conn *c, int k)
{
    uint64_t r = splitmix64(&c->rng);
    switch (k) {
    case SK_FLAG: cmd(c, &lat_search[k], "SEARCH FLAGGED"); break;
    case SK_UNSEEN: cmd(c, &lat_search[k], "SEARCH UNSEEN"); break;
    case SK_FROM:
        cmd(c, &lat_search[k], "SEARCH FROM \"%s\"",
            names[r % N_ELEMENTS(names)]);
        break;
    case SK_SUBJECT:
        cmd(c, &lat_search[k], "SEARCH SUBJECT \"%s\"",
            words[r % N_ELEMENTS(words)]);
        break;
    default:
        cmd(c, &lat_search[k], "SEARCH TEXT \"%s\"",
            rare[r % N_ELEMENTS(rare)]);
        break;
    }
}

static void search_drive(struct conn *c, bool ok)
{
    listed_drive(c, ok, SK_N, search_send);
}

static void search_finish(double elapsed_ms)
{
    listed_finish(elapsed_ms, lat_search, SK_N);
}

/* ---- scenario: store-expunge ---- */

/* Each client works in its own mailbox, fills it (not measured), then for
 * each message flags it, marks it deleted and expunges, so the mailbox is
 * empty again for the next round. */
static struct stat_series lat_store = {"store", NULL, 0, 0};
static struct stat_series lat_expunge = {"expunge", NULL, 0, 0};

static void se_drive(struct conn *c, bool ok)
{
    switch (c->step++) {
    case 0:
        snprintf(c->mailbox, sizeof c->mailbox, "bench-se-%d", c->id);
        cmd_login(c, NULL);
        return;
    case 1:
        if (!ok)
            cmd_failed(c, "LOGIN");
        cmd(c, NULL, "CREATE \"%s\"", c->mailbox);
        return;
    case 2: cmd(c, NULL, "SELECT \"%s\"", c->mailbox); return;
    case 3:
        if (!ok)
            cmd_failed(c, "SELECT");
        if (c->exists >= (unsigned)opt_messages) {
            c->step = 5;
            conn_ready(c);
            return;
        }
        msg_gen(opt_seed, (uint64_t)c->exists, 2048, &c->msg);
        cmd_append(c, NULL, c->mailbox, "", c->msg.data, c->msg.len);
        c->step = 3;
        return;
    case 4:
    case 5:
        c->step = 6;
        /* fallthrough */
    default:
        if (c->step > 6 && !ok)
            cmd_failed(c, "STORE/EXPUNGE");
        if (c->exists == 0) {
            cmd(c, NULL, "LOGOUT");
            c->step = -100;
            return;
        }
        switch (c->done++ % 3) {
        case 0: cmd(c, &lat_store, "STORE 1 +FLAGS (\\Flagged)"); break;
        case 1: cmd(c, &lat_store, "STORE 1 +FLAGS (\\Deleted)"); break;
        default: cmd(c, &lat_expunge, "EXPUNGE"); break;
        }
        return;
    case -100: conn_finish(c); return;
    }
}

static void se_finish(double elapsed_ms)
{
    print_common(elapsed_ms);
    figure_series("store_", &lat_store);
    figure_series("expunge_", &lat_expunge);
}

/* ---- scenario: idle-hold ---- */

/* Connection 0 appends; 1..K idle on the same user's INBOX (all clients use
 * user number 1 here, so one APPEND must wake every one of them). With
 * --append-host/--append-port the appender talks to another server than
 * the idlers (another node of one store): then each wake-up crosses nodes. */
static struct stat_series lat_wake = {"wake", NULL, 0, 0};
static struct stat_series lat_wake_all = {"wake_all", NULL, 0, 0};
static int n_woken, wake_round;
static double t_append;
static double rss_before_kib, pss_before_kib;

static bool proc_parent(long pid, long *ppid_r)
{
    char p[64], line[512];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return false;
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    char *e = ok ? strrchr(line, ')') : NULL;
    if (e == NULL)
        return false;
    *ppid_r = strtol(e + 4, NULL, 10);
    return true;
}

static double proc_field_kib(long pid, const char *file, const char *field)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%ld/%s", pid, file);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        return 0;
    double v = 0;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0) {
            v = strtod(line + fl, NULL);
            break;
        }
    fclose(f);
    return v;
}

/* Resident memory of the server: its pid and every descendant, since
 * Dovecot runs one process per session. RSS counts shared pages in each
 * process; PSS divides them among the sharers. */
static void server_memory(double *rss_r, double *pss_r)
{
    long pids[65536];
    size_t n = 0;
    pids[n++] = opt_server_pid;
    bool grew = true;
    while (grew) {
        grew = false;
        DIR *d = opendir("/proc");
        if (d == NULL)
            break;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            long pid = strtol(de->d_name, NULL, 10), pp;
            if (pid <= 0 || !proc_parent(pid, &pp))
                continue;
            bool known = false, parent_known = false;
            for (size_t i = 0; i < n; i++) {
                known |= pids[i] == pid;
                parent_known |= pids[i] == pp;
            }
            if (!known && parent_known && n < N_ELEMENTS(pids)) {
                pids[n++] = pid;
                grew = true;
            }
        }
        closedir(d);
    }
    *rss_r = *pss_r = 0;
    for (size_t i = 0; i < n; i++) {
        *rss_r += proc_field_kib(pids[i], "status", "VmRSS:");
        *pss_r += proc_field_kib(pids[i], "smaps_rollup", "Pss:");
    }
}

static void idle_wake_next(void);

/* The next APPEND goes out once every idler saw the last one and the
 * appender's own reply came back, whichever is later. */
static void idle_maybe_next(void)
{
    if (n_woken == n_conns - 1 && !conns[0].busy)
        idle_wake_next();
}

static void idle_drive(struct conn *c, bool ok)
{
    switch (c->step++) {
    case 0: cmd_login(c, NULL); return;
    case 1:
        if (!ok)
            cmd_failed(c, "LOGIN");
        cmd(c, NULL, "SELECT INBOX");
        return;
    case 2:
        if (!ok)
            cmd_failed(c, "SELECT");
        if (c->id == 0) {
            conn_ready(c);
            return;
        }
        c->idling = true;
        cmd(c, NULL, "IDLE");
        return;
    case 3:
        /* Appender: each completion of its APPEND (step 3 on) is driven by
         * idle_wake_next; idle clients come here only on DONE's reply. */
        if (c->id != 0) {
            cmd(c, NULL, "LOGOUT");
            c->step = -100;
        }
        return;
    case -100: conn_finish(c); return;
    default:
        if (c->id == 0 && t_append > 0)
            idle_maybe_next();
        return;
    }
}

static void idle_untagged(struct conn *c, const char *line, size_t len)
{
    (void)len;
    if (c->id == 0)
        return;
    if (line[0] == '+') {
        /* The idle continuation: this session is now parked. */
        if (c->step == 3 && !c->parked) {
            c->parked = true;
            conn_ready(c);
        }
        return;
    }
    if (t_append > 0 && strstr(line, " EXISTS") &&
        c->exists > (unsigned)c->done) {
        c->done = c->exists;
        series_add(&lat_wake, now_ms() - t_append);
        if (++n_woken == n_conns - 1) {
            series_add(&lat_wake_all, now_ms() - t_append);
            idle_maybe_next();
        }
    }
}

static void idle_wake_next(void)
{
    struct conn *a = &conns[0];
    if (wake_round++ >= opt_wakeups) {
        t_append = 0;
        for (int i = 1; i < n_conns; i++) {
            struct conn *c = &conns[i];
            c->idling = false;
            buf_puts(&c->out, "DONE\r\n");
            c->t_sent = now_ms();
            conn_flush(c);
        }
        cmd(a, NULL, "LOGOUT");
        a->step = -100;
        return;
    }
    n_woken = 0;
    for (int i = 1; i < n_conns; i++)
        if (conns[i].exists > (unsigned)conns[i].done)
            conns[i].done = conns[i].exists;
    msg_gen(opt_seed ^ 0x1d1e, (uint64_t)wake_round, 2048, &a->msg);
    a->step = 10;
    t_append = now_ms();
    cmd_append(a, NULL, "INBOX", "", a->msg.data, a->msg.len);
}

static void idle_ready(void)
{
    double rss, pss;
    if (opt_server_pid) {
        server_memory(&rss, &pss);
        int k = n_conns - 1;
        figure("sessions", k);
        figure("rss_total_kib", rss);
        figure("rss_per_session_kib", (rss - rss_before_kib) / k);
        if (pss > 0)
            figure("pss_per_session_kib", (pss - pss_before_kib) / k);
    }
    /* The idle clients' starting point: what SELECT reported. */
    for (int i = 1; i < n_conns; i++)
        conns[i].done = conns[i].exists;
    idle_wake_next();
}

static void idle_finish(double elapsed_ms)
{
    (void)elapsed_ms;
    figure_series("wake_", &lat_wake);
    figure_series("wake_all_", &lat_wake_all);
}

/* ---- scenario: mixed ---- */

/* A day of a mail client, compressed: each session logs in, selects INBOX,
 * fetches the newest headers, reads a body, marks it \Seen, appends a
 * message (flagged \Deleted) and expunges it, then logs out; the next
 * session starts on a new connection. */
static long sessions_done, mixed_errors;
static struct stat_series lat_login = {"login", NULL, 0, 0};

static void mixed_drive(struct conn *c, bool ok)
{
    /* Sessions of one user race: a FETCH may name a message that another
     * session just expunged, and NO is a fair answer to that. BAD is not. */
    if (!ok && (c->step <= 1 || strstr(c->last, " BAD") != NULL))
        die("client %d: mixed step %d failed: %s", c->id, c->step, c->last);
    if (!ok)
        mixed_errors++;
    switch (c->step++) {
    case 0:
        if (t_start == 0) {
            /* the barrier calls us again at step 0, then we log in */
            c->step = 0;
            conn_ready(c);
            return;
        }
        cmd_login(c, &lat_login);
        return;
    case 1: cmd(c, &lat_all, "SELECT INBOX"); return;
    case 2: {
        unsigned n = c->exists;
        if (n == 0)
            die("client %d: INBOX is empty; fill it first", c->id);
        unsigned lo = n > 20 ? n - 19 : 1;
        c->n_uids = 0;
        cmd(c, &lat_all,
            "FETCH %u:%u (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM "
            "TO SUBJECT DATE)])",
            lo, n);
        return;
    }
    case 3:
        c->goal = c->n_uids ? c->uids[splitmix64(&c->rng) % c->n_uids] : 1;
        cmd(c, &lat_all, "UID FETCH %ld BODY.PEEK[]", c->goal);
        return;
    case 4:
        cmd(c, &lat_all, "UID STORE %ld +FLAGS.SILENT (\\Seen)", c->goal);
        return;
    case 5:
        msg_gen(opt_seed ^ 0x313d, (uint64_t)(c->id * 1000003L + c->done), 4096,
                &c->msg);
        cmd_append(c, &lat_all, "INBOX", "\\Deleted", c->msg.data, c->msg.len);
        return;
    case 6: cmd(c, &lat_all, "EXPUNGE"); return;
    case 7: cmd(c, &lat_all, "LOGOUT"); return;
    case 8:
        sessions_done++;
        c->done++;
        conn_close(c);
        if (now_ms() - t_start >= opt_seconds * 1e3) {
            c->phase = PH_DONE;
            n_done++;
            return;
        }
        conn_open(c); /* its greeting drives step 0: a login */
        return;
    }
}

static void mixed_untagged(struct conn *c, const char *line, size_t len)
{
    if (c->step == 3)
        learn_uid(c, line, len);
}

static void mixed_finish(double elapsed_ms)
{
    print_common(elapsed_ms);
    figure("sessions_per_s", (double)sessions_done / (elapsed_ms / 1e3));
    figure_series("login_", &lat_login);
    figure("no_replies", (double)mixed_errors);
}

/* ---- scenario: resync ---- */

/* A client that keeps a mailbox in sync (RFC 7162), against one that only
 * knows RFC 3501. Connection 0 is the client: it syncs the mailbox (its
 * UIDs, flags and, where the server has CONDSTORE, the HIGHESTMODSEQ) and
 * logs out; connection 1, another session of the same user, then makes
 * 10 flag changes and 10 expunges; the client comes back (a) with
 * QRESYNC, ENABLE QRESYNC and SELECT (QRESYNC (uidvalidity modseq)), and
 * (b) without CONDSTORE, SELECT and FETCH 1:* (UID FLAGS). Each of the
 * three is timed from its first command to its last tagged OK (login and
 * connect not included) with the bytes the client received meanwhile.
 * Changes, (a) and (b) repeat --ops times; each (a) starts from the
 * modseq the previous one left. A server without QRESYNC gets no (a)
 * figures, which bench/run shows as n/a. */
enum rs_stage { RS_SETUP, RS_INITIAL, RS_QRESYNC, RS_FULL };
enum { RS_FLAG_CHANGES = 10, RS_EXPUNGES = 10 };

static enum rs_stage rs_stage;
static bool rs_qresync, rs_condstore, rs_uidplus;
static unsigned long long rs_uidvalidity, rs_modseq;
static long rs_rep;
static char rs_cmds[3][256];
static int rs_ncmds;
static int rs_icmd;
static double rs_t0;
static uint64_t rs_b0;
static long rs_fetches, rs_vanished;
static unsigned char *rs_answered; /* per entry of conns[0].uids */
static size_t rs_cap_answered;
static size_t rs_pick[RS_FLAG_CHANGES + RS_EXPUNGES];
static struct stat_series rs_ms[3];
static struct stat_series rs_bytes[3], rs_nfetch, rs_nvanished;
static unsigned rs_messages;

static bool has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = s; (p = strcasestr(p, w)) != NULL; p += n)
        if (p > s && p[-1] == ' ' &&
            (p[n] == ' ' || p[n] == ']' || p[n] == '\0'))
            return true;
    return false;
}

/* UIDs in a sequence set such as "1:3,7,9:12" (either order per range). */
static long uid_set_count(const char *s)
{
    long n = 0;
    while (*s >= '0' && *s <= '9') {
        char *e;
        unsigned long a = strtoul(s, &e, 10), b = a;
        if (*e == ':')
            b = strtoul(e + 1, &e, 10);
        n += (long)(a > b ? a - b : b - a) + 1;
        s = *e == ',' ? e + 1 : e;
    }
    return n;
}

/* Sets up the commands of the client's next stage. */
static void rs_stage_plan(enum rs_stage st)
{
    const char *mb = opt_mailbox;
    bool modseq = st == RS_INITIAL && (rs_qresync || rs_condstore);
    rs_stage = st;
    rs_ncmds = 0;
#define RS_CMD(...)                                                            \
    snprintf(rs_cmds[rs_ncmds++], sizeof rs_cmds[0], __VA_ARGS__)
    if (st == RS_QRESYNC) {
        RS_CMD("ENABLE QRESYNC");
        RS_CMD("SELECT \"%s\" (QRESYNC (%llu %llu))", mb, rs_uidvalidity,
               rs_modseq);
    } else {
        if (st == RS_INITIAL && rs_qresync)
            RS_CMD("ENABLE QRESYNC");
        if (st == RS_INITIAL && !rs_qresync && rs_condstore)
            RS_CMD("SELECT \"%s\" (CONDSTORE)", mb);
        else
            RS_CMD("SELECT \"%s\"", mb);
        RS_CMD("FETCH 1:* (UID FLAGS%s)", modseq ? " MODSEQ" : "");
    }
#undef RS_CMD
}

/* The next command of the stage, or false when the stage is done. The
 * clock and the byte count start with its first command. */
static bool rs_stage_next(struct conn *c, bool ok)
{
    if (rs_icmd == 0) {
        rs_fetches = rs_vanished = 0;
        if (rs_stage != RS_QRESYNC)
            c->n_uids = 0; /* a full listing: the next picks come from it */
        rs_t0 = now_ms();
        rs_b0 = c->bytes_in;
    } else if (!ok) {
        cmd_failed(c, rs_cmds[rs_icmd - 1]);
    }
    if (rs_icmd < rs_ncmds) {
        cmd(c, NULL, "%s", rs_cmds[rs_icmd++]);
        return true;
    }
    int k = rs_stage - RS_INITIAL;
    series_add(&rs_ms[k], now_ms() - rs_t0);
    series_add(&rs_bytes[k], (double)(c->bytes_in - rs_b0));
    if (rs_stage == RS_INITIAL)
        rs_messages = c->exists;
    if (rs_stage == RS_QRESYNC) {
        series_add(&rs_nfetch, (double)rs_fetches);
        series_add(&rs_nvanished, (double)rs_vanished);
    }
    return false;
}

/* The other session. Before the client's first sync (not timed) it
 * appends the 10 messages per repetition that it will expunge, so the
 * mailbox holds its fill again after the run and later scenarios see it
 * unchanged. Each repetition it flips \Answered on 10 messages of the
 * fill, one STORE each as a client does, and expunges 10 of its own; all
 * are picked from the client's last full listing (where its own come
 * last, as the newest). */
static void rs_changer_drive(struct conn *c, bool ok)
{
    struct conn *cl = &conns[0];
    switch (c->step++) {
    case 0: cmd_login(c, NULL); return;
    case 1:
        if (!ok)
            cmd_failed(c, "LOGIN");
        cmd(c, NULL, "SELECT \"%s\"", opt_mailbox);
        return;
    case 2:
        if (!ok)
            cmd_failed(c, c->done ? "APPEND" : "SELECT");
        if (c->done < RS_EXPUNGES * opt_ops) {
            msg_gen(opt_seed ^ 0x7e5c, (uint64_t)c->done++, 2048, &c->msg);
            cmd_append(c, NULL, opt_mailbox, "", c->msg.data, c->msg.len);
            c->step = 2;
            return;
        }
        conn_ready(c);
        return;
    case 3: return; /* the barrier; then parked until rs_changer_start */
    case 100: {
        size_t own = (size_t)(RS_EXPUNGES * (opt_ops - rs_rep));
        if (cl->n_uids < own + RS_FLAG_CHANGES)
            die("resync: %s holds %zu messages, too few for %d flag changes",
                opt_mailbox, cl->n_uids - own, RS_FLAG_CHANGES);
        size_t fill = cl->n_uids - own;
        for (size_t i = 0; i < RS_FLAG_CHANGES; i++) {
            bool dup;
            do {
                rs_pick[i] = (size_t)(splitmix64(&c->rng) % fill);
                dup = false;
                for (size_t j = 0; j < i; j++)
                    dup |= rs_pick[j] == rs_pick[i];
            } while (dup);
        }
        for (size_t i = 0; i < RS_EXPUNGES; i++)
            rs_pick[RS_FLAG_CHANGES + i] = fill + i;
        c->done = 0;
    }
        /* fallthrough */
    default:
        if (c->step > 101 && !ok)
            cmd_failed(c, "STORE/EXPUNGE");
        if (c->done < RS_FLAG_CHANGES) {
            size_t k = rs_pick[c->done++];
            cmd(c, NULL, "UID STORE %u %cFLAGS.SILENT (\\Answered)",
                cl->uids[k], rs_answered[k] ? '-' : '+');
            return;
        }
        if (c->done < RS_FLAG_CHANGES + 2) {
            struct buf set = {0};
            for (size_t i = RS_FLAG_CHANGES; i < N_ELEMENTS(rs_pick); i++)
                buf_printf(&set, "%s%u", set.len ? "," : "",
                           cl->uids[rs_pick[i]]);
            if (c->done++ == RS_FLAG_CHANGES)
                cmd(c, NULL, "UID STORE %s +FLAGS.SILENT (\\Deleted)",
                    set.data);
            else if (rs_uidplus)
                cmd(c, NULL, "UID EXPUNGE %s", set.data);
            else
                cmd(c, NULL, "EXPUNGE");
            free(set.data);
            return;
        }
        c->step = 3;
        conn_open(cl); /* its greeting logs it in: the next stage */
        return;
    case -50:
        cmd(c, NULL, "LOGOUT");
        c->step = -100;
        return;
    case -100: conn_finish(c); return;
    }
}

static void rs_changer_start(int step)
{
    conns[1].step = step;
    rs_changer_drive(&conns[1], true);
}

static void resync_drive(struct conn *c, bool ok)
{
    if (c->id == 1) {
        rs_changer_drive(c, ok);
        return;
    }
    switch (c->step++) {
    case 0: cmd_login(c, NULL); return;
    case 1:
        if (!ok)
            cmd_failed(c, "LOGIN");
        if (rs_stage == RS_SETUP) {
            cmd(c, NULL, "CAPABILITY");
            return;
        }
        break; /* a reconnect: straight to its stage */
    case 2:
        if (!ok)
            cmd_failed(c, "CAPABILITY");
        if (!rs_qresync)
            fprintf(stderr, "imapload: resync: no QRESYNC in the server's "
                            "CAPABILITY: (a) not measured\n");
        conn_ready(c);
        return;
    case 3: /* every connection is ready: the first sync */
        rs_stage_plan(RS_INITIAL);
        break;
    case 20: /* LOGOUT done */
        conn_close(c);
        if (rs_stage == RS_QRESYNC) {
            rs_stage_plan(RS_FULL);
            conn_open(c);
        } else if (rs_stage == RS_INITIAL || ++rs_rep < opt_ops) {
            rs_stage_plan(rs_qresync ? RS_QRESYNC : RS_FULL);
            rs_changer_start(100);
        } else {
            conn_finish(c);
            rs_changer_start(-50);
        }
        return;
    default: break; /* in a stage */
    }
    if (c->step <= 4)
        rs_icmd = 0;
    c->step = 10;
    if (!rs_stage_next(c, ok)) {
        cmd(c, NULL, "LOGOUT");
        c->step = 20;
    }
}

static void resync_untagged(struct conn *c, const char *line, size_t len)
{
    (void)len;
    if (c->id != 0)
        return;
    const char *p;
    if (strncmp(line, "* CAPABILITY ", 13) == 0) {
        rs_qresync = has_word(line, "QRESYNC");
        rs_condstore = rs_qresync || has_word(line, "CONDSTORE");
        rs_uidplus = has_word(line, "UIDPLUS");
    } else if ((p = strstr(line, "[UIDVALIDITY ")) != NULL) {
        rs_uidvalidity = strtoull(p + 13, NULL, 10);
    } else if ((p = strstr(line, "[HIGHESTMODSEQ ")) != NULL) {
        rs_modseq = strtoull(p + 15, NULL, 10);
    } else if (strncasecmp(line, "* VANISHED (EARLIER) ", 21) == 0) {
        rs_vanished += uid_set_count(line + 21);
    } else if (strstr(line, " FETCH (") != NULL) {
        rs_fetches++;
        if (rs_stage == RS_QRESYNC)
            return;
        size_t n = c->n_uids;
        learn_uid(c, line, len);
        if (c->n_uids == n)
            return;
        if (rs_cap_answered < c->cap_uids) {
            rs_cap_answered = c->cap_uids;
            rs_answered = xrealloc(rs_answered, rs_cap_answered);
        }
        rs_answered[n] = strstr(line, "\\Answered") != NULL;
    }
}

static void resync_finish(double elapsed_ms)
{
    (void)elapsed_ms;
    static const char *const kind[] = {"initial", "qresync", "full"};
    char n[64];
    figure("messages", rs_messages);
    for (int k = 0; k < 3; k++) {
        if (rs_ms[k].n == 0)
            continue;
        snprintf(n, sizeof n, "%s_ms", kind[k]);
        figure(n, percentile(&rs_ms[k], 50));
        snprintf(n, sizeof n, "%s_bytes", kind[k]);
        figure(n, percentile(&rs_bytes[k], 50));
    }
    if (rs_nfetch.n > 0) {
        figure("qresync_fetch_count", percentile(&rs_nfetch, 50));
        figure("qresync_vanished_count", percentile(&rs_nvanished, 50));
    }
}

/* ---- scenarios ---- */

static const struct scenario scenarios[] = {
    {.name = "append",
     .drive = append_drive,
     .untagged = untagged_none,
     .finish = append_finish},
    {.name = "fill",
     .drive = append_drive,
     .untagged = untagged_none,
     .finish = append_finish},
    {.name = "select-fetch",
     .drive = sf_drive,
     .untagged = sf_untagged,
     .finish = sf_finish},
    {.name = "search",
     .drive = search_drive,
     .untagged = untagged_none,
     .finish = search_finish},
    {.name = "sort",
     .drive = sort_drive,
     .untagged = untagged_none,
     .finish = sort_finish},
    {.name = "thread",
     .drive = thread_drive,
     .untagged = untagged_none,
     .finish = thread_finish},
    {.name = "store-expunge",
     .drive = se_drive,
     .untagged = untagged_none,
     .finish = se_finish},
    {.name = "idle-hold",
     .drive = idle_drive,
     .untagged = idle_untagged,
     .finish = idle_finish},
    {.name = "mixed",
     .drive = mixed_drive,
     .untagged = mixed_untagged,
     .finish = mixed_finish},
    {.name = "resync",
     .drive = resync_drive,
     .untagged = resync_untagged,
     .finish = resync_finish},
};

static void usage(void)
{
    fputs(
        "usage: imapload --scenario NAME [options]\n"
        "  --host H --port P          server (127.0.0.1:143)\n"
        "  --user FMT --password PW   login; FMT may hold %d, the user number\n"
        "  --users N                  spread clients over user1..userN (1)\n"
        "  --tls                      implicit TLS (no certificate check)\n"
        "  --compress                 COMPRESS DEFLATE after each LOGIN\n"
        "  --clients C                concurrent connections (1)\n"
        "  --seed S                   message stream seed (1)\n"
        "  --messages N               append/fill: messages in all;\n"
        "                             store-expunge: messages per client "
        "(200)\n"
        "  --mailbox M                append/fill/select-fetch/search/sort/\n"
        "                             thread/resync\n"
        "                             (INBOX)\n"
        "  --min-size B --max-size B  clamp generated message sizes\n"
        "  --ops N                    select-fetch: body fetches per client;\n"
        "                             search, sort, thread: commands per\n"
        "                             client;\n"
        "                             resync: rounds of changes and the\n"
        "                             two reconnects (100)\n"
        "  --seconds S                mixed: run time (20)\n"
        "  --wakeups N                idle-hold: appends to time (10)\n"
        "  --append-host H --append-port P\n"
        "                             idle-hold: the appending connection\n"
        "                             talks to this server instead (another\n"
        "                             node of the same store); each defaults\n"
        "                             to --host / --port\n"
        "  --server-pid PID           idle-hold: read the server's memory\n"
        "  --timeout S                give up after S seconds (600)\n"
        "  --connect-burst N          connections awaiting their greeting at\n"
        "                             once (100)\n"
        "  --verbose                  trace the protocol on stderr\n"
        "scenarios: append fill select-fetch search sort thread "
        "store-expunge\n"
        "           idle-hold mixed resync\n",
        stderr);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_USER,
        O_PASS,
        O_TLS,
        O_CLIENTS,
        O_USERS,
        O_SCEN,
        O_SEED,
        O_MSGS,
        O_OPS,
        O_SECS,
        O_WAKE,
        O_PID,
        O_MBOX,
        O_MIN,
        O_MAX,
        O_TIMEOUT,
        O_VERB,
        O_BURST,
        O_AHST,
        O_APRT,
        O_ZIP
    };
    static const struct option lo[] = {
        {"host", 1, NULL, O_HOST},
        {"port", 1, NULL, O_PORT},
        {"user", 1, NULL, O_USER},
        {"password", 1, NULL, O_PASS},
        {"tls", 0, NULL, O_TLS},
        {"clients", 1, NULL, O_CLIENTS},
        {"users", 1, NULL, O_USERS},
        {"scenario", 1, NULL, O_SCEN},
        {"seed", 1, NULL, O_SEED},
        {"messages", 1, NULL, O_MSGS},
        {"ops", 1, NULL, O_OPS},
        {"seconds", 1, NULL, O_SECS},
        {"wakeups", 1, NULL, O_WAKE},
        {"server-pid", 1, NULL, O_PID},
        {"mailbox", 1, NULL, O_MBOX},
        {"min-size", 1, NULL, O_MIN},
        {"max-size", 1, NULL, O_MAX},
        {"timeout", 1, NULL, O_TIMEOUT},
        {"verbose", 0, NULL, O_VERB},
        {"connect-burst", 1, NULL, O_BURST},
        {"append-host", 1, NULL, O_AHST},
        {"append-port", 1, NULL, O_APRT},
        {"compress", 0, NULL, O_ZIP},
        {"help", 0, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case O_HOST: opt_host = optarg; break;
        case O_PORT: opt_port = optarg; break;
        case O_USER: opt_user = optarg; break;
        case O_PASS: opt_password = optarg; break;
        case O_TLS: opt_tls = true; break;
        case O_CLIENTS: opt_clients = atoi(optarg); break;
        case O_USERS: opt_users = atoi(optarg); break;
        case O_SCEN: opt_scenario = optarg; break;
        case O_SEED: opt_seed = strtoull(optarg, NULL, 10); break;
        case O_MSGS: opt_messages = atol(optarg); break;
        case O_OPS: opt_ops = atol(optarg); break;
        case O_SECS: opt_seconds = atof(optarg); break;
        case O_WAKE: opt_wakeups = atoi(optarg); break;
        case O_PID: opt_server_pid = atol(optarg); break;
        case O_MBOX: opt_mailbox = optarg; break;
        case O_MIN: opt_min_size = (size_t)atol(optarg); break;
        case O_MAX: opt_max_size = (size_t)atol(optarg); break;
        case O_TIMEOUT: opt_timeout_s = atof(optarg); break;
        case O_VERB: opt_verbose = true; break;
        case O_BURST: opt_connect_burst = atoi(optarg); break;
        case O_AHST: opt_append_host = optarg; break;
        case O_APRT: opt_append_port = optarg; break;
        case O_ZIP: opt_compress = true; break;
        default: usage();
        }
    }
    if (opt_scenario == NULL || optind != argc || opt_clients < 1 ||
        opt_users < 1 || opt_connect_burst < 1)
        usage();
    for (size_t i = 0; i < N_ELEMENTS(scenarios); i++)
        if (strcmp(scenarios[i].name, opt_scenario) == 0)
            sc = &scenarios[i];
    if (sc == NULL)
        die("unknown scenario %s", opt_scenario);
    if (sc->drive == resync_drive && opt_ops < 1)
        die("resync: --ops must be at least 1");
    if ((opt_append_host || opt_append_port) &&
        strcmp(sc->name, "idle-hold") != 0)
        die("--append-host/--append-port are for idle-hold only");
    /* The user format holds at most one %d, checked here because it is
     * handed to snprintf. */
    const char *pct = strchr(opt_user, '%');
    if (pct && (pct[1] != 'd' || strchr(pct + 1, '%')))
        die("--user: only one %%d is allowed");
    if (opt_min_size > opt_max_size || opt_min_size < 256)
        die("--min-size must be >= 256 and <= --max-size");
}

static void resolve(const char *host, const char *port,
                    struct sockaddr_storage *addr_r, socklen_t *len_r)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int r = getaddrinfo(host, port, &hints, &ai);
    if (r != 0)
        die("%s:%s: %s", host, port, gai_strerror(r));
    memcpy(addr_r, ai->ai_addr, ai->ai_addrlen);
    *len_r = ai->ai_addrlen;
    freeaddrinfo(ai);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    scenario_name = sc->name;
    signal(SIGPIPE, SIG_IGN);

    bool idle = sc->drive == idle_drive;
    bool resync = sc->drive == resync_drive;
    /* resync: the client and the session that changes the mailbox */
    n_conns = resync ? 2 : opt_clients + (idle ? 1 : 0);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < (rlim_t)n_conns + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n_conns + 64 ? rl.rlim_max
                                                         : (rlim_t)n_conns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    resolve(opt_host, opt_port, &server_addr, &server_addrlen);
    if (idle) {
        /* Connection 0 appends; by default to the idlers' server. */
        append_conn = 0;
        resolve(opt_append_host ? opt_append_host : opt_host,
                opt_append_port ? opt_append_port : opt_port, &append_addr,
                &append_addrlen);
    }

    if (opt_tls) {
        gnutls_global_init();
        gnutls_certificate_allocate_credentials(&tls_cred);
    }
    if (idle && opt_server_pid)
        server_memory(&rss_before_kib, &pss_before_kib);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc((size_t)n_conns, sizeof *conns);
    if (conns == NULL)
        die("out of memory");
    for (int i = 0; i < n_conns; i++) {
        struct conn *c = &conns[i];
        c->id = i;
        /* idle-hold puts every session on one user so one APPEND wakes
         * all; resync's two sessions share a mailbox */
        c->user = idle || resync ? 1 : 1 + i % opt_users;
        c->rng = opt_seed * 7919 + (uint64_t)i;
        c->fd = -1;
    }
    open_more();

    double t_run0 = now_ms();
    double deadline = t_run0 + opt_timeout_s * 1e3;
    bool idle_started = false;
    struct epoll_event evs[256];
    while (n_done < n_conns) {
        if (idle && !idle_started && n_ready == n_conns) {
            idle_started = true;
            idle_ready();
        }
        int n = epoll_wait(epfd, evs, (int)N_ELEMENTS(evs), 1000);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++)
            conn_event(evs[i].data.ptr, evs[i].events);
        /* GnuTLS may hold decrypted bytes that epoll cannot see. */
        if (opt_tls)
            for (int i = 0; i < n_conns; i++)
                if (conns[i].tls && conns[i].phase >= PH_GREETING &&
                    gnutls_record_check_pending(conns[i].tls) > 0)
                    conn_read(&conns[i]);
        if (now_ms() > deadline)
            die("timeout: %d of %d clients finished, %d got through setup "
                "(raise --timeout)",
                n_done, n_conns, n_ready);
    }
    t_end = now_ms();
    sc->finish(t_end - t_start);
    /* One thread drives every connection: near 100 here means the numbers
     * above are the load generator's limit, not the server's. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    figure("client_cpu_pct", 100.0 * cpu_ms / (t_end - t_run0));
    return 0;
}
