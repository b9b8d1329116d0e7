/* SPDX-License-Identifier: MIT */
/* libFuzzer target for a whole IMAP session: the real imap endpoint (a
 * coverage-instrumented build of modules/imap, tests/fuzz/mod/imap.so) over
 * storage.sqlite in a temporary state_dir, started in this process on a
 * unix socket. Each input is one connection: its bytes are sent, the write
 * side is shut, and the server must answer and close within seconds. No
 * network is involved.
 *
 * The first byte picks a prologue so that the fuzzer reaches every state
 * without having to discover a login: 0 none, 1 LOGIN, 2 LOGIN and SELECT
 * INBOX, 3 LOGIN and EXAMINE INBOX; 4 and 5 LOGIN and COMPRESS DEFLATE
 * (RFC 4978), after which 4 sends the input as it is (hostile compressed
 * input for the inflater) and 5 deflates it first (commands under
 * compression). After each input the account is
 * deleted (it is created again at the next LOGIN), so every input starts
 * from the same state: without that, inputs like "COPY 1:* INBOX" doubled
 * the mailbox on every run until one took longer than the deadline. */
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <posthorn/auth.h>
#include <posthorn/common.h>
#include <posthorn/endpoint-impl.h>
#include <posthorn/log.h>
#include <posthorn/storage.h>
#include <zlib.h>

#include "module/graph.h"
#include "net/listen.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char sock_path[512];
static char state_dir[64];
/* The server: alive until the process ends. */
static struct ph_graph *graph;
static struct ph_listeners *pool;
static struct ph_instance *storage;

static const char *const prologues[] = {
    "",
    "p1 LOGIN bob pw\r\n",
    "p1 LOGIN bob pw\r\np2 SELECT INBOX\r\n",
    "p1 LOGIN bob pw\r\np2 EXAMINE INBOX\r\n",
    "p1 LOGIN bob pw\r\np2 COMPRESS DEFLATE\r\n",
    "p1 LOGIN bob pw\r\np2 COMPRESS DEFLATE\r\n",
};
/* The prologue after which the input is deflated. */
#define DEFLATED_PROLOGUE 5

static void die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_session: %s: %s\n", what, why ? why : "");
    abort();
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* libFuzzer ends with exit(): the temporary state_dir goes with it, so
 * that runs do not pile up directories under /tmp. */
static void remove_state_dir(void)
{
    nftw(state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (getenv("POSTHORN_MODULE_PATH") == NULL)
        setenv("POSTHORN_MODULE_PATH", PH_FUZZ_MODULE_PATH, 1);
    char tmpl[] = "/tmp/ph-fuzz-session-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (dir == NULL)
        die("mkdtemp", strerror(errno));
    snprintf(state_dir, sizeof(state_dir), "%s", dir);
    atexit(remove_state_dir);
    snprintf(sock_path, sizeof(sock_path), "%s/imap.sock", dir);
    const char *err;
    /* sha256-crypt: a login per input must cost microseconds, not 50 ms. */
    char *hash = ph_password_hash("pw", "sha256-crypt", &err);
    if (hash == NULL)
        die("hash", err);
    char *conf =
        ph_strdup_printf("state_dir %s\n"
                         "storage.sqlite s { }\n"
                         "imap unix://%s {\n"
                         "    auth pass_table static { entry bob %s }\n"
                         "    storage &s\n"
                         "    insecure_auth yes\n"
                         "    auth_fail_delay 0ms\n"
                         "    max_auth_failures 1000\n"
                         "    max_connections_per_ip 100000\n"
                         "    appendlimit 1M\n"
                         "    imap4rev2 yes\n"
                         "    workers 2\n"
                         "}\n",
                         dir, sock_path, hash);
    free(hash);
    if (ph_log_set_target(PH_LOG_TARGET_OFF, NULL, &err) < 0)
        die("log", err);
    char *error = NULL;
    if (ph_graph_load_string(conf, 0, &graph, &error) < 0)
        die("config", error);
    free(conf);
    storage = ph_graph_instance(graph, "s", &error);
    if (storage == NULL)
        die("storage", error);
    pool = ph_listeners_new();
    for (size_t i = 0; i < ph_graph_endpoint_count(graph); i++) {
        struct ph_instance *e = ph_graph_endpoint(graph, i);
        const struct ph_endpoint_vfuncs *vf = ph_instance_iface(e);
        if (vf->start(ph_instance_ctx(e), pool, &error) < 0)
            die("start", error);
    }
    return 0;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* the server closed early (BYE): fine */
        p += n;
        len -= (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *prologue = prologues[data[0] % PH_N_ELEMENTS(prologues)];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket", strerror(errno));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        die("connect", strerror(errno));
    /* Large inputs could fill both socket buffers while the server writes
     * its answers: read what comes while sending. */
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    send_all(fd, prologue, strlen(prologue));
    if (data[0] % PH_N_ELEMENTS(prologues) == DEFLATED_PROLOGUE) {
        /* Raw deflate, as a client speaks after COMPRESS: the bytes right
         * after the COMPRESS line are compressed (RFC 4978 3). */
        z_stream z = {0};
        if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            die("deflateInit2", NULL);
        uLong cap = deflateBound(&z, (uLong)(size - 1)) + 16;
        unsigned char *out = malloc(cap);
        if (out == NULL)
            die("malloc", NULL);
        z.next_in = (unsigned char *)(uintptr_t)(data + 1);
        z.avail_in = (uInt)(size - 1);
        z.next_out = out;
        z.avail_out = (uInt)cap;
        (void)deflate(&z, Z_SYNC_FLUSH);
        send_all(fd, out, cap - z.avail_out);
        deflateEnd(&z);
        free(out);
    } else {
        send_all(fd, data + 1, size - 1);
    }
    shutdown(fd, SHUT_WR);
    /* The server must finish: EOF means it closed. A hang is a finding. */
    char buf[65536];
    time_t deadline = time(NULL) + 20;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, 1000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            if (time(NULL) > deadline)
                die("session", "no end of the session within 20 s");
            continue;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
    }
    close(fd);
    /* The session may still be ending on a worker: its account is deleted
     * all the same (a missing one is fine). */
    const char *err;
    if (ph_storage_account_delete(storage, "bob", &err) < 0) {
        /* not there: no LOGIN in this input */
    }
    return 0;
}
