/* SPDX-License-Identifier: MIT */
/* The TLS layer against real GnuTLS clients on socketpairs (one client
 * thread per connection), and against gnutls-cli and openssl s_client over
 * loopback TCP when they are installed. Keys and certificates are made at
 * test time in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <posthorn/tls-session.h>

#define MB (1024 * 1024)

/* ---- files ---- */

static char tmpdir[64];
static struct ph_strlist created; /* files to remove at the end */
/* Made once: ECDSA pairs for one.example, two.example, a.example,
 * b.example and *.w.example, and an RSA pair for rsa.example. */
static char *one_crt, *one_key, *two_crt, *two_key, *a_crt, *a_key, *b_crt,
    *b_key, *w_crt, *w_key, *rsa_crt, *rsa_key;

static char *tmp_path(const char *name)
{
    char *p = ph_strdup_printf("%s/%s", tmpdir, name);
    if (!ph_strlist_contains(&created, p))
        ph_strlist_add(&created, p);
    return p;
}

static void write_file(const char *path, const void *data, size_t len)
{
    /* Through a rename, as an admin's tooling would: a reload never sees
     * half a file. */
    char *tmp = ph_strdup_printf("%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
    free(tmp);
}

static void copy_file(const char *from, const char *to)
{
    gnutls_datum_t d;
    assert_int_equal(gnutls_load_file(from, &d), 0);
    write_file(to, d.data, d.size);
    gnutls_free(d.data);
}

/* A self-signed certificate for cn (also its DNS SAN) and its key, PEM. */
static void make_pair(const char *name, const char *cn, bool rsa, char **crt_r,
                      char **key_r)
{
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    gnutls_datum_t out;
    time_t now = time(NULL);
    unsigned char serial[8] = {0x01, 0x23, 0x45, 0x67, 0, 0, 0, 0};
    memcpy(serial + 4, &now, 4);

    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(
        gnutls_x509_privkey_generate2(
            key, rsa ? GNUTLS_PK_RSA : GNUTLS_PK_ECDSA,
            rsa ? 2048 : GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0,
            NULL, 0),
        0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)),
                     0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 3600), 0);
    assert_int_equal(
        gnutls_x509_crt_set_expiration_time(crt, now + 10L * 365 * 86400), 0);
    assert_int_equal(gnutls_x509_crt_set_dn_by_oid(
                         crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)),
                     0);
    assert_int_equal(
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, cn,
                                             strlen(cn), GNUTLS_FSAN_SET),
        0);
    assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
    /* keyEncipherment too, so that only the priority string stands between
     * an RSA-key-exchange client and this certificate. */
    assert_int_equal(gnutls_x509_crt_set_key_usage(
                         crt, GNUTLS_KEY_DIGITAL_SIGNATURE |
                                  (rsa ? GNUTLS_KEY_KEY_ENCIPHERMENT : 0)),
                     0);
    assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0),
                     0);

    char *n = ph_strdup_printf("%s.crt", name);
    *crt_r = tmp_path(n);
    free(n);
    n = ph_strdup_printf("%s.key", name);
    *key_r = tmp_path(n);
    free(n);
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out),
                     0);
    write_file(*crt_r, out.data, out.size);
    gnutls_free(out.data);
    assert_int_equal(
        gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &out), 0);
    write_file(*key_r, out.data, out.size);
    gnutls_free(out.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ph-test-tls-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    make_pair("one", "one.example", false, &one_crt, &one_key);
    make_pair("two", "two.example", false, &two_crt, &two_key);
    make_pair("a", "a.example", false, &a_crt, &a_key);
    make_pair("b", "b.example", false, &b_crt, &b_key);
    make_pair("w", "*.w.example", false, &w_crt, &w_key);
    make_pair("rsa", "rsa.example", true, &rsa_crt, &rsa_key);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < created.n; i++)
        unlink(created.v[i]);
    ph_strlist_clear(&created);
    rmdir(tmpdir);
    char **all[] = {&one_crt, &one_key, &two_crt, &two_key, &a_crt,   &a_key,
                    &b_crt,   &b_key,   &w_crt,   &w_key,   &rsa_crt, &rsa_key};
    for (size_t i = 0; i < PH_N_ELEMENTS(all); i++) {
        free(*all[i]);
        *all[i] = NULL;
    }
    return 0;
}

/* ---- configurations ---- */

static void conf_files(struct ph_tls_conf *c, const char *crt, const char *key)
{
    memset(c, 0, sizeof(*c));
    c->mode = PH_TLS_FILES;
    c->min_version = PH_TLS_1_2;
    c->max_version = PH_TLS_1_3;
    ph_strlist_add(&c->certs, crt);
    ph_strlist_add(&c->keys, key);
}

static void conf_self_signed(struct ph_tls_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->mode = PH_TLS_SELF_SIGNED;
    c->min_version = PH_TLS_1_2;
    c->max_version = PH_TLS_1_3;
}

static struct ph_tls_server *server_new(const struct ph_tls_conf *c,
                                        const char *hostname)
{
    struct ph_tls_server *srv = NULL;
    char *err = NULL;
    int r = ph_tls_server_new(c, hostname, &srv, &err);
    if (r < 0)
        print_error("ph_tls_server_new: %s\n", err);
    assert_int_equal(r, 0);
    assert_non_null(srv);
    return srv;
}

/* The error text of a server that must not start. */
static char *server_error(const struct ph_tls_conf *c)
{
    struct ph_tls_server *srv = NULL;
    char *err = NULL;
    assert_int_equal(ph_tls_server_new(c, NULL, &srv, &err), -1);
    assert_null(srv);
    assert_non_null(err);
    return err;
}

/* ---- the client: GnuTLS in its own thread ---- */

struct client {
    int fd;
    const char *priority; /* NULL: NORMAL */
    const char *sni;
    void (*before)(struct client *c); /* plaintext, before the handshake */
    void (*script)(struct client *c); /* after a successful handshake */
    size_t n;                         /* a size for the script */
    int go[2];                        /* the test lets the script go on */

    gnutls_session_t gs;
    pthread_t thread;
    /* results */
    int handshake_ret;
    char cn[256];
    char protocol[32];
    char group[32];
    time_t not_before, not_after;
    unsigned char fp[32];
    char failure[256]; /* empty when the script did what it expected */
};

#define CHECK(c, cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            snprintf((c)->failure, sizeof((c)->failure), "%s:%d: %s",          \
                     __FILE__, __LINE__, #cond);                               \
            return;                                                            \
        }                                                                      \
    } while (0)

static void client_wait_go(struct client *c)
{
    char b;
    while (read(c->go[0], &b, 1) < 0 && errno == EINTR)
        ;
}

static void client_go(struct client *c)
{
    assert_int_equal(write(c->go[1], "g", 1), 1);
}

static void client_peer_info(struct client *c)
{
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(c->gs, &n);
    snprintf(c->protocol, sizeof(c->protocol), "%s",
             gnutls_protocol_get_name(gnutls_protocol_get_version(c->gs)));
    const char *g = gnutls_group_get_name(gnutls_group_get(c->gs));
    snprintf(c->group, sizeof(c->group), "%s", g != NULL ? g : "");
    if (peers == NULL || n == 0)
        return;
    gnutls_x509_crt_t crt;
    gnutls_x509_crt_init(&crt);
    if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == 0) {
        size_t size = sizeof(c->cn);
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                          0, c->cn, &size) < 0)
            c->cn[0] = '\0';
        /* The name must also be in the SAN: that is what clients check. */
        if (!gnutls_x509_crt_check_hostname(crt, c->cn))
            snprintf(c->cn, sizeof(c->cn), "(no SAN for the CN)");
        c->not_before = gnutls_x509_crt_get_activation_time(crt);
        c->not_after = gnutls_x509_crt_get_expiration_time(crt);
        size_t fps = sizeof(c->fp);
        gnutls_fingerprint(GNUTLS_DIG_SHA256, &peers[0], c->fp, &fps);
    }
    gnutls_x509_crt_deinit(crt);
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    gnutls_certificate_credentials_t cred;
    const char *errpos;
    struct timeval tv = {.tv_sec = 20};
    /* A test that goes wrong must not hang the suite. */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (c->before != NULL)
        c->before(c);
    gnutls_certificate_allocate_credentials(&cred);
    gnutls_init(&c->gs, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
    if (gnutls_priority_set_direct(
            c->gs, c->priority != NULL ? c->priority : "NORMAL", &errpos) < 0)
        snprintf(c->failure, sizeof(c->failure), "bad client priority");
    gnutls_credentials_set(c->gs, GNUTLS_CRD_CERTIFICATE, cred);
    if (c->sni != NULL)
        gnutls_server_name_set(c->gs, GNUTLS_NAME_DNS, c->sni, strlen(c->sni));
    gnutls_transport_set_int(c->gs, c->fd);
    int r;
    do {
        r = gnutls_handshake(c->gs);
    } while (r < 0 && !gnutls_error_is_fatal(r));
    c->handshake_ret = r;
    if (r == 0) {
        client_peer_info(c);
        if (c->script != NULL) {
            c->script(c);
        } else {
            /* Until the server closes: closing first would race with the
             * session tickets the server sends after the handshake. */
            char buf[256];
            ssize_t n;
            do {
                n = gnutls_record_recv(c->gs, buf, sizeof(buf));
            } while (n > 0 || n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED);
        }
    }
    gnutls_deinit(c->gs);
    gnutls_certificate_free_credentials(cred);
    close(c->fd);
    return NULL;
}

/* Starts the client on one end of a socketpair; returns the server end. */
static int client_start(struct client *c)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(pipe(c->go), 0);
    c->fd = sv[1];
    assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
    return sv[0];
}

static void client_join(struct client *c)
{
    assert_int_equal(pthread_join(c->thread, NULL), 0);
    close(c->go[0]);
    close(c->go[1]);
    if (c->failure[0] != '\0')
        fail_msg("client: %s", c->failure);
}

static struct ph_tls_session *session_new(struct ph_tls_server *srv, int fd)
{
    struct ph_tls_session *s = NULL;
    char *err = NULL;
    int r = ph_tls_session_new(srv, fd, &s, &err);
    if (r < 0)
        print_error("ph_tls_session_new: %s\n", err);
    assert_int_equal(r, 0);
    return s;
}

static struct ph_tls_session *accept_tls(struct ph_tls_server *srv, int fd)
{
    struct ph_tls_session *s = session_new(srv, fd);
    int r = ph_tls_handshake(s, 20000);
    if (r != 0)
        print_error("handshake: %s\n", ph_tls_error(s));
    assert_int_equal(r, 0);
    return s;
}

static void end_session(struct ph_tls_session **s, int fd)
{
    ph_tls_session_free(s);
    close(fd);
}

/* One connection with no script: the peer's CN, SNI and protocol. */
static void connect_once(struct ph_tls_server *srv, struct client *c,
                         char *sni_r, size_t sni_size)
{
    int fd = client_start(c);
    struct ph_tls_session *s = session_new(srv, fd);
    if (ph_tls_handshake(s, 20000) != 0) {
        print_error("server: %s\n", ph_tls_error(s));
        end_session(&s, fd);
        client_join(c);
        fail_msg("client: %s", gnutls_strerror(c->handshake_ret));
    }
    if (sni_r != NULL)
        snprintf(sni_r, sni_size, "%s",
                 ph_tls_sni(s) != NULL ? ph_tls_sni(s) : "(none)");
    end_session(&s, fd);
    client_join(c);
    assert_int_equal(c->handshake_ret, 0);
}

/* A client the server must refuse; returns the server's error text. */
static char *refused(struct ph_tls_server *srv, const char *priority)
{
    struct client c = {.priority = priority};
    int fd = client_start(&c);
    struct ph_tls_session *s = session_new(srv, fd);
    assert_int_equal(ph_tls_handshake(s, 20000), PH_TLS_ERROR);
    char *err = ph_strdup(ph_tls_error(s));
    end_session(&s, fd);
    client_join(&c);
    assert_true(c.handshake_ret < 0);
    return err;
}

/* The same client against GnuTLS's own NORMAL defaults, to show that
 * posthorn's priority string is what refuses it. */
struct plain_server {
    int fd;
    int ret;
};

static void *plain_server_main(void *arg)
{
    struct plain_server *p = arg;
    gnutls_certificate_credentials_t cred;
    gnutls_session_t gs;
    gnutls_certificate_allocate_credentials(&cred);
    gnutls_certificate_set_x509_key_file(cred, rsa_crt, rsa_key,
                                         GNUTLS_X509_FMT_PEM);
    gnutls_init(&gs, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
    gnutls_priority_set_direct(
        gs, "NORMAL:+VERS-TLS1.1:+VERS-TLS1.0:+RSA:+AES-128-CBC:+SHA1", NULL);
    gnutls_credentials_set(gs, GNUTLS_CRD_CERTIFICATE, cred);
    gnutls_transport_set_int(gs, p->fd);
    do {
        p->ret = gnutls_handshake(gs);
    } while (p->ret < 0 && !gnutls_error_is_fatal(p->ret));
    gnutls_deinit(gs);
    gnutls_certificate_free_credentials(cred);
    close(p->fd);
    return NULL;
}

static void accepted_by_plain_gnutls(const char *priority)
{
    struct client c = {.priority = priority};
    struct plain_server p;
    pthread_t t;
    p.fd = client_start(&c);
    assert_int_equal(pthread_create(&t, NULL, plain_server_main, &p), 0);
    pthread_join(t, NULL);
    client_join(&c);
    assert_int_equal(p.ret, 0);
    assert_int_equal(c.handshake_ret, 0);
}

/* ---- scripts ---- */

static int client_recv_all(struct client *c, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = gnutls_record_recv(c->gs, (char *)buf + got, len - got);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int client_send_all(struct client *c, const void *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t r =
            gnutls_record_send(c->gs, (const char *)buf + off, len - off);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r < 0)
            return -1;
        off += (size_t)r;
    }
    return 0;
}

static void client_bye(struct client *c)
{
    int r;
    do {
        r = gnutls_bye(c->gs, GNUTLS_SHUT_WR);
    } while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
}

/* Sends a command, expects the reply, says goodbye. */
static void script_noop(struct client *c)
{
    char buf[16] = {0};
    CHECK(c, client_send_all(c, "a1 NOOP\r\n", 9) == 0);
    CHECK(c, client_recv_all(c, buf, 9) == 0);
    CHECK(c, memcmp(buf, "a1 OK\r\n\r\n", 9) == 0);
    client_bye(c);
}

static unsigned char pattern_byte(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

static unsigned char *pattern(size_t n)
{
    unsigned char *p = ph_malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = pattern_byte(i);
    return p;
}

/* c->n bytes up, c->n bytes down, compared byte for byte. */
static void script_megabyte(struct client *c)
{
    unsigned char *data = pattern(c->n), *back = ph_malloc(c->n);
    bool sent = client_send_all(c, data, c->n) == 0;
    bool got = sent && client_recv_all(c, back, c->n) == 0;
    bool same = got && memcmp(back, data, c->n) == 0;
    free(data);
    free(back);
    CHECK(c, sent);
    CHECK(c, got);
    CHECK(c, same);
    client_bye(c);
}

/* ---- tests: handshakes and certificates ---- */

static void test_self_signed_handshake_serves_hostname(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_self_signed(&conf);
    struct ph_tls_server *srv = server_new(&conf, "mail.example.test");
    struct client c = {.script = script_noop};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    assert_string_equal(ph_tls_protocol(s), "TLS1.3");
    assert_true(strncmp(ph_tls_cipher(s), "TLS_AES_", 8) == 0 ||
                strncmp(ph_tls_cipher(s), "TLS_CHACHA20", 12) == 0);
    assert_null(ph_tls_sni(s));
    char buf[32];
    assert_int_equal(ph_tls_read(s, buf, 9), 9);
    assert_memory_equal(buf, "a1 NOOP\r\n", 9);
    assert_int_equal(ph_tls_write_all(s, "a1 OK\r\n\r\n", 9), 0);
    assert_int_equal(ph_tls_read(s, buf, sizeof(buf)), 0); /* close_notify */
    end_session(&s, fd);
    client_join(&c);
    assert_string_equal(c.cn, "mail.example.test");
    assert_string_equal(c.protocol, "TLS1.3");
    /* Valid for a year from now (it starts an hour back, for skewed
     * clocks). */
    time_t now = time(NULL);
    assert_true(c.not_before <= now && c.not_before >= now - 2 * 3600);
    assert_true(c.not_after >= now + 364L * 86400 &&
                c.not_after <= now + 366L * 86400);
    ph_tls_server_free(&srv);
    assert_null(srv);
    ph_tls_conf_free(&conf);
}

static void test_self_signed_defaults_to_system_hostname(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_self_signed(&conf);
    /* No graph is loaded here, so ph_global_hostname() is NULL and the
     * system's host name is used. */
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {0};
    connect_once(srv, &c, NULL, 0);
    char host[256] = {0};
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    if (strlen(host) <= 64) /* longer names get no CN, only the SAN */
        assert_string_equal(c.cn, host);
    /* The fingerprint an admin would compare is the one clients see. */
    char *fp = ph_tls_server_fingerprint(srv);
    struct ph_buf want = {0};
    for (size_t i = 0; i < sizeof(c.fp); i++)
        ph_buf_printf(&want, "%s%02X", i > 0 ? ":" : "", c.fp[i]);
    assert_string_equal(fp, want.data);
    assert_int_equal(strlen(fp), 32 * 3 - 1);
    free(fp);
    ph_buf_free(&want);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void test_files_pair_is_served(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, "ignored.example");
    ph_tls_conf_free(&conf); /* the server keeps its own copy */
    struct client c = {.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2"};
    connect_once(srv, &c, NULL, 0);
    assert_string_equal(c.cn, "one.example");
    assert_string_equal(c.protocol, "TLS1.2");
    ph_tls_server_free(&srv);
}

static void test_rsa_certificate_with_ecdhe(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, rsa_crt, rsa_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2"};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    assert_string_equal(ph_tls_cipher(s),
                        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    end_session(&s, fd);
    client_join(&c);
    assert_string_equal(c.cn, "rsa.example");
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void test_sni_picks_the_matching_certificate(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, a_crt, a_key);
    ph_strlist_add(&conf.certs, b_crt);
    ph_strlist_add(&conf.keys, b_key);
    ph_strlist_add(&conf.certs, w_crt);
    ph_strlist_add(&conf.keys, w_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    static const struct {
        const char *sni, *cn, *seen;
    } cases[] = {
        {"b.example", "b.example", "b.example"},
        {"a.example", "a.example", "a.example"},
        {NULL, "a.example", "(none)"},           /* no SNI: the first */
        {"c.example", "a.example", "c.example"}, /* no match: the first */
        /* What GnuTLS alone gets wrong: names are case-blind, and a
         * wildcard covers one label. */
        {"B.Example", "b.example", "B.Example"},
        {"imap.w.example", "*.w.example", "imap.w.example"},
        {"IMAP.W.EXAMPLE", "*.w.example", "IMAP.W.EXAMPLE"},
        {"w.example", "a.example", "w.example"},
        {"x.imap.w.example", "a.example", "x.imap.w.example"},
    };
    for (int tls12 = 0; tls12 < 2; tls12++) {
        for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
            struct client c = {.sni = cases[i].sni};
            if (tls12)
                c.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
            char sni[256];
            connect_once(srv, &c, sni, sizeof(sni));
            assert_string_equal(c.cn, cases[i].cn);
            assert_string_equal(sni, cases[i].seen);
        }
    }
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

/* ---- tests: protocol versions, ciphers, curves ---- */

static void test_tls10_and_tls11_refused_by_default(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, rsa_crt, rsa_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    static const char *const old[] = {
        "NORMAL:-VERS-ALL:+VERS-TLS1.1",
        "NORMAL:-VERS-ALL:+VERS-TLS1.0",
        "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0",
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(old); i++) {
        accepted_by_plain_gnutls(old[i]);
        char *err = refused(srv, old[i]);
        assert_string_equal(err, "handshake: A packet with illegal or "
                                 "unsupported version was received.");
        free(err);
    }
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void test_rsa_key_exchange_and_cbc_refused_by_default(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, rsa_crt, rsa_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    static const char *const bad[] = {
        "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA",
        "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC",
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(bad); i++) {
        accepted_by_plain_gnutls(bad[i]);
        char *err = refused(srv, bad[i]);
        assert_string_equal(err, "handshake: No supported cipher suites have "
                                 "been found.");
        free(err);
    }
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void test_protocols_tls13_refuses_tls12_client(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    conf.min_version = conf.max_version = PH_TLS_1_3;
    struct ph_tls_server *srv = server_new(&conf, NULL);
    assert_string_equal(ph_tls_server_priority(srv),
                        "NORMAL:-VERS-ALL:+VERS-TLS1.3:-KX-ALL:+ECDHE-ECDSA:"
                        "+ECDHE-RSA:-CIPHER-ALL:+AES-256-GCM:"
                        "+CHACHA20-POLY1305:+AES-128-GCM");
    /* A TLS 1.2 client offers no TLS 1.3 suite. */
    char *err = refused(srv, "NORMAL:-VERS-ALL:+VERS-TLS1.2");
    assert_string_equal(err, "handshake: No supported cipher suites have "
                             "been found.");
    free(err);
    struct client c = {0};
    connect_once(srv, &c, NULL, 0);
    assert_string_equal(c.protocol, "TLS1.3");
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void test_protocols_tls10_lets_legacy_clients_in(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, rsa_crt, rsa_key);
    conf.min_version = PH_TLS_1_0;
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.1"};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    assert_string_equal(ph_tls_protocol(s), "TLS1.1");
    assert_string_equal(ph_tls_cipher(s), "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA");
    end_session(&s, fd);
    client_join(&c);
    /* A TLS 1.2 client still gets an AEAD suite. */
    struct client c2 = {.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2"};
    fd = client_start(&c2);
    s = accept_tls(srv, fd);
    assert_non_null(strstr(ph_tls_cipher(s), "_GCM_"));
    end_session(&s, fd);
    client_join(&c2);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void test_priority_strings(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_self_signed(&conf);
    char *p = ph_tls_priority_string(&conf);
    assert_string_equal(p, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
                           "-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:"
                           "+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM");
    free(p);
    /* A zeroed conf (no protocols parsed) means the same defaults. */
    conf.min_version = conf.max_version = 0;
    p = ph_tls_priority_string(&conf);
    assert_non_null(strstr(p, ":+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL"));
    free(p);

    conf.min_version = PH_TLS_1_0;
    conf.max_version = PH_TLS_1_2;
    p = ph_tls_priority_string(&conf);
    assert_string_equal(p, "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.1:"
                           "+VERS-TLS1.0:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"
                           "-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:"
                           "+AES-128-GCM:+AES-256-CBC:+AES-128-CBC");
    free(p);

    conf.min_version = PH_TLS_1_2;
    conf.max_version = PH_TLS_1_3;
    ph_strlist_add(&conf.ciphers, "chacha20-poly1305");
    ph_strlist_add(&conf.ciphers, "AES-128-GCM");
    ph_strlist_add(&conf.curves, "x25519");
    ph_strlist_add(&conf.curves, "P-256");
    ph_strlist_add(&conf.curves, "GROUP-SECP384R1");
    p = ph_tls_priority_string(&conf);
    assert_string_equal(p, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"
                           "-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL:"
                           "+CHACHA20-POLY1305:+AES-128-GCM:-GROUP-ALL:"
                           "+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"
                           "%SERVER_PRECEDENCE");
    free(p);
    struct ph_tls_server *srv = server_new(&conf, "x.example");
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void test_priority_errors_name_the_culprit(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_self_signed(&conf);
    ph_strlist_add(&conf.ciphers, "AES-256-GCM");
    ph_strlist_add(&conf.ciphers, "ECDHE-RSA-AES256-GCM-SHA384");
    char *err = server_error(&conf);
    assert_string_equal(err, "tls ciphers: unknown cipher "
                             "\"ECDHE-RSA-AES256-GCM-SHA384\" (GnuTLS names "
                             "such as AES-256-GCM, CHACHA20-POLY1305, "
                             "AES-128-GCM)");
    free(err);
    ph_strlist_clear(&conf.ciphers);

    ph_strlist_add(&conf.curves, "X25519");
    ph_strlist_add(&conf.curves, "P-999");
    err = server_error(&conf);
    assert_string_equal(err, "tls curves: unknown curve \"P-999\" (GnuTLS "
                             "names such as X25519, SECP256R1, SECP384R1)");
    free(err);
    ph_strlist_clear(&conf.curves);

    /* CBC exists only up to TLS 1.2: nothing would ever be negotiated. */
    conf.min_version = conf.max_version = PH_TLS_1_3;
    ph_strlist_add(&conf.ciphers, "AES-256-CBC");
    err = server_error(&conf);
    assert_string_equal(err, "tls: no cipher suite is left for protocols "
                             "tls1.3 tls1.3 with ciphers AES-256-CBC");
    free(err);
    ph_tls_conf_free(&conf);

    conf.mode = PH_TLS_OFF;
    err = server_error(&conf);
    assert_string_equal(err, "tls is off: no certificate to serve");
    free(err);
}

static void test_ciphers_and_curves_are_negotiated(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    ph_strlist_add(&conf.ciphers, "CHACHA20-POLY1305");
    ph_strlist_add(&conf.curves, "X25519");
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {0};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    assert_string_equal(ph_tls_cipher(s), "TLS_CHACHA20_POLY1305_SHA256");
    end_session(&s, fd);
    client_join(&c);
    assert_string_equal(c.group, "X25519");

    char *err = refused(srv, "NORMAL:-GROUP-ALL:+GROUP-SECP256R1");
    assert_string_equal(err, "handshake: No common key share with peer.");
    free(err);
    err = refused(srv, "NORMAL:-CIPHER-ALL:+AES-256-GCM");
    assert_string_equal(err, "handshake: No supported cipher suites have "
                             "been found.");
    free(err);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

/* ---- tests: loading errors ---- */

static void test_file_errors_name_the_file(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    char *missing = tmp_path("missing.pem");
    char *err, *want;

    conf_files(&conf, missing, one_key);
    err = server_error(&conf);
    want = ph_strdup_printf("cannot read certificate %s: No such file or "
                            "directory",
                            missing);
    assert_string_equal(err, want);
    free(err);
    free(want);
    ph_tls_conf_free(&conf);

    conf_files(&conf, one_crt, missing);
    err = server_error(&conf);
    want = ph_strdup_printf("cannot read key %s: No such file or directory",
                            missing);
    assert_string_equal(err, want);
    free(err);
    free(want);
    ph_tls_conf_free(&conf);

    conf_files(&conf, tmpdir, one_key);
    err = server_error(&conf);
    want = ph_strdup_printf("cannot read certificate %s: not a regular file",
                            tmpdir);
    assert_string_equal(err, want);
    free(err);
    free(want);
    ph_tls_conf_free(&conf);

    /* The second pair is wrong: its own files are named. */
    conf_files(&conf, one_crt, one_key);
    ph_strlist_add(&conf.certs, two_crt);
    ph_strlist_add(&conf.keys, one_key);
    err = server_error(&conf);
    want = ph_strdup_printf("key %s does not match certificate %s", one_key,
                            two_crt);
    assert_string_equal(err, want);
    free(err);
    free(want);
    ph_tls_conf_free(&conf);

    /* Arguments swapped: a key where the certificate should be. */
    conf_files(&conf, one_key, one_crt);
    err = server_error(&conf);
    want =
        ph_strdup_printf("certificate %s: No certificate was found", one_key);
    assert_string_equal(err, want);
    free(err);
    free(want);
    ph_tls_conf_free(&conf);

    char *junk = tmp_path("junk.pem");
    static const char pem[] = "-----BEGIN CERTIFICATE-----\n!!!!\n"
                              "-----END CERTIFICATE-----\n";
    write_file(junk, pem, sizeof(pem) - 1);
    conf_files(&conf, junk, one_key);
    err = server_error(&conf);
    want = ph_strdup_printf("certificate %s: Base64 unexpected header error",
                            junk);
    assert_string_equal(err, want);
    free(err);
    free(want);
    ph_tls_conf_free(&conf);

    /* A certificate where the key should be. */
    conf_files(&conf, one_crt, one_crt);
    err = server_error(&conf);
    want = ph_strdup_printf("key %s: no private key found", one_crt);
    assert_string_equal(err, want);
    free(err);
    free(want);
    ph_tls_conf_free(&conf);

    /* posthorn starts unattended: no passphrase prompt. */
    char *locked = tmp_path("locked.key");
    gnutls_x509_privkey_t key;
    gnutls_datum_t d, out;
    assert_int_equal(gnutls_load_file(one_key, &d), 0);
    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(gnutls_x509_privkey_import(key, &d, GNUTLS_X509_FMT_PEM),
                     0);
    assert_int_equal(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM,
                                                       "secret", 0, &out),
                     0);
    write_file(locked, out.data, out.size);
    gnutls_free(out.data);
    gnutls_free(d.data);
    gnutls_x509_privkey_deinit(key);
    conf_files(&conf, one_crt, locked);
    err = server_error(&conf);
    want = ph_strdup_printf("key %s: the key is encrypted; store it without "
                            "a passphrase",
                            locked);
    assert_string_equal(err, want);
    free(err);
    free(want);
    ph_tls_conf_free(&conf);
    free(locked);
    free(junk);
    free(missing);
}

/* ---- tests: reading and writing ---- */

static void test_megabyte_both_ways(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    for (int tls12 = 0; tls12 < 2; tls12++) {
        struct client c = {.script = script_megabyte, .n = MB};
        if (tls12)
            c.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
        int fd = client_start(&c);
        struct ph_tls_session *s = accept_tls(srv, fd);
        ph_tls_set_timeout(s, 20000);
        unsigned char *got = ph_malloc(MB), *want = pattern(MB);
        size_t n = 0;
        while (n < MB) {
            ssize_t r = ph_tls_read(s, got + n, MB - n);
            assert_true(r > 0);
            n += (size_t)r;
        }
        assert_memory_equal(got, want, MB);
        assert_int_equal(ph_tls_write_all(s, want, MB), 0);
        char b;
        assert_int_equal(ph_tls_read(s, &b, 1), 0);
        ph_tls_bye(s); /* may find the client gone already: no matter */
        end_session(&s, fd);
        client_join(&c);
        free(got);
        free(want);
    }
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

/* Waits, like a reactor would, for what a _nb call wants. */
static void reactor_wait(int fd, int want)
{
    assert_true(want == PH_TLS_WANT_READ || want == PH_TLS_WANT_WRITE);
    struct pollfd p = {.fd = fd,
                       .events = want == PH_TLS_WANT_WRITE ? POLLOUT : POLLIN};
    assert_int_equal(poll(&p, 1, 20000), 1);
}

static void script_nonblocking(struct client *c)
{
    client_wait_go(c);
    CHECK(c, client_send_all(c, "hello", 5) == 0);
    client_wait_go(c);
    unsigned char *got = ph_malloc(c->n);
    bool ok = client_recv_all(c, got, c->n) == 0;
    for (size_t i = 0; ok && i < c->n; i++)
        ok = got[i] == pattern_byte(i);
    free(got);
    CHECK(c, ok);
    client_bye(c);
}

static void test_nonblocking_calls_for_a_reactor(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    size_t total = 4 * MB; /* well over the socket buffers */
    struct client c = {.script = script_nonblocking, .n = total};
    int fd = client_start(&c);
    struct ph_tls_session *s = session_new(srv, fd);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    int r;
    int waits = 0;
    while ((r = ph_tls_handshake_nb(s)) != 0) {
        reactor_wait(fd, r);
        waits++;
    }
    assert_true(waits > 0);

    char buf[64];
    assert_int_equal(ph_tls_read_nb(s, buf, sizeof(buf)), PH_TLS_WANT_READ);
    client_go(&c);
    ssize_t n;
    while ((n = ph_tls_read_nb(s, buf, sizeof(buf))) < 0)
        reactor_wait(fd, (int)n);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "hello", 5);

    unsigned char *data = pattern(total);
    size_t off = 0;
    bool blocked = false;
    while (off < total) {
        ssize_t w = ph_tls_write_nb(s, data + off, total - off);
        if (w > 0) {
            assert_true(w <= 16384);
            off += (size_t)w;
            continue;
        }
        assert_int_equal(w, PH_TLS_WANT_WRITE);
        if (!blocked) {
            /* The client reads nothing yet: the socket is full. */
            blocked = true;
            assert_true(off < total);
            client_go(&c);
        }
        reactor_wait(fd, (int)w); /* then again with the same arguments */
    }
    assert_true(blocked);
    while ((n = ph_tls_read_nb(s, buf, sizeof(buf))) < 0)
        reactor_wait(fd, (int)n);
    assert_int_equal(n, 0);
    end_session(&s, fd);
    client_join(&c);
    free(data);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void script_hundred_bytes(struct client *c)
{
    unsigned char *data = pattern(100);
    bool sent = client_send_all(c, data, 100) == 0; /* one record */
    free(data);
    CHECK(c, sent);
    client_wait_go(c);
    client_bye(c);
}

static void test_pending_after_partial_read(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {.script = script_hundred_bytes};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    assert_int_equal(ph_tls_pending(s), 0);
    unsigned char buf[100], *want = pattern(100);
    assert_int_equal(ph_tls_read(s, buf, 10), 10);
    assert_int_equal(ph_tls_pending(s), 90);
    /* The socket has nothing more: a reactor polling it would wait
     * forever for bytes GnuTLS already holds. */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 50), 0);
    assert_int_equal(ph_tls_read_nb(s, buf + 10, 90), 90);
    assert_memory_equal(buf, want, 100);
    assert_int_equal(ph_tls_pending(s), 0);
    client_go(&c);
    assert_int_equal(ph_tls_read(s, buf, 1), 0);
    end_session(&s, fd);
    client_join(&c);
    free(want);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void script_wait_then_noop(struct client *c)
{
    client_wait_go(c);
    script_noop(c);
}

static void test_read_timeout_keeps_the_session(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {.script = script_wait_then_noop};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    ph_tls_set_timeout(s, 100);
    char buf[16];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(ph_tls_read(s, buf, sizeof(buf)), PH_TLS_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms =
        (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    /* Not before the timeout; the upper bound only catches a unit mix-up
     * (a loaded machine or valgrind may be seconds late). */
    assert_true(ms >= 90 && ms < 30000);
    assert_string_equal(ph_tls_error(s), "timed out");
    ph_tls_set_timeout(s, -1);
    client_go(&c);
    assert_int_equal(ph_tls_read(s, buf, 9), 9);
    assert_int_equal(ph_tls_write_all(s, "a1 OK\r\n\r\n", 9), 0);
    assert_int_equal(ph_tls_read(s, buf, 1), 0);
    end_session(&s, fd);
    client_join(&c);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

/* The client reads nothing until told to. */
static void script_wait_only(struct client *c)
{
    client_wait_go(c);
}

struct hook_count {
    int begins, ends, depth;
};

static void count_waits(void *arg, bool begin)
{
    struct hook_count *h = arg;
    if (begin) {
        h->begins++;
        h->depth++;
    } else {
        h->ends++;
        h->depth--;
    }
}

static void test_wait_hook_brackets_waits_to_write(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {.script = script_wait_only};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    struct hook_count h = {0};
    ph_tls_set_wait_hook(s, count_waits, &h);
    ph_tls_set_timeout(s, 200);
    /* More than the socket buffers hold: the write waits, then times out. */
    size_t len = 32 << 20;
    char *big = calloc(1, len);
    assert_non_null(big);
    assert_int_equal(ph_tls_write_all(s, big, len), PH_TLS_TIMEOUT);
    free(big);
    assert_true(h.begins >= 1);
    assert_int_equal(h.begins, h.ends);
    assert_int_equal(h.depth, 0);
    client_go(&c);
    client_join(&c);
    end_session(&s, fd);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void test_handshake_timeout_with_a_silent_client(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct ph_tls_session *s = session_new(srv, sv[0]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(ph_tls_handshake(s, 200), PH_TLS_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms =
        (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 190 && ms < 30000); /* as above */
    assert_string_equal(ph_tls_error(s), "handshake: timed out");
    end_session(&s, sv[0]);
    close(sv[1]);

    /* Garbage instead of a ClientHello ends it at once. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write(sv[1], "a1 LOGIN bob secret\r\n", 21), 21);
    s = session_new(srv, sv[0]);
    assert_int_equal(ph_tls_handshake(s, 5000), PH_TLS_ERROR);
    assert_true(strncmp(ph_tls_error(s), "handshake: ", 11) == 0);
    end_session(&s, sv[0]);
    close(sv[1]);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

/* Reads the greeting, then closes the socket without a bye. */
static void script_read_greeting(struct client *c)
{
    char buf[6];
    CHECK(c, client_recv_all(c, buf, 6) == 0);
    CHECK(c, memcmp(buf, "* OK\r\n", 6) == 0);
}

static void test_eof_without_close_notify_reads_as_end(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {.script = script_read_greeting};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    assert_int_equal(ph_tls_write_all(s, "* OK\r\n", 6), 0);
    char buf[8];
    assert_int_equal(ph_tls_read(s, buf, sizeof(buf)), 0);
    end_session(&s, fd);
    client_join(&c);

    /* A client that quits with unread data (here the TLS 1.3 session
     * tickets) resets the connection: an I/O error, said plainly. */
    struct client c2 = {.script = client_wait_go};
    fd = client_start(&c2);
    s = accept_tls(srv, fd);
    client_go(&c2);
    client_join(&c2);
    assert_int_equal(ph_tls_read(s, buf, sizeof(buf)), PH_TLS_ERROR);
    assert_string_equal(ph_tls_error(s), "read: Connection reset by peer");
    end_session(&s, fd);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

static void test_write_to_a_closed_peer_fails_without_sigpipe(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {.script = script_read_greeting};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    assert_int_equal(ph_tls_write_all(s, "* OK\r\n", 6), 0);
    client_join(&c); /* the client has closed its socket */
    /* With SIGPIPE's default action a send() to a closed socket would kill
     * the whole server. */
    signal(SIGPIPE, SIG_DFL);
    int r = 0;
    for (int i = 0; i < 4 && r == 0; i++)
        r = ph_tls_write_all(s, "* BYE\r\n", 7);
    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(r, PH_TLS_ERROR);
    assert_string_equal(ph_tls_error(s), "write: Broken pipe");
    end_session(&s, fd);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

/* Reads until the server's close_notify, which must come. */
static void script_until_close_notify(struct client *c)
{
    char buf[64];
    size_t got = 0;
    ssize_t r;
    do {
        r = gnutls_record_recv(c->gs, buf + got, sizeof(buf) - got);
        if (r > 0)
            got += (size_t)r;
    } while (r > 0 || r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
    CHECK(c, r == 0); /* not GNUTLS_E_PREMATURE_TERMINATION */
    CHECK(c, got == 7 && memcmp(buf, "* BYE\r\n", 7) == 0);
}

static void test_bye_sends_close_notify(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    struct client c = {.script = script_until_close_notify};
    int fd = client_start(&c);
    struct ph_tls_session *s = accept_tls(srv, fd);
    ph_tls_set_timeout(s, 20000);
    assert_int_equal(ph_tls_write_all(s, "* BYE\r\n", 7), 0);
    assert_int_equal(ph_tls_bye(s), 0);
    end_session(&s, fd);
    client_join(&c);
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

/* The client side of STARTTLS: greeting, command, answer, then TLS. */
static void before_starttls(struct client *c)
{
    char buf[64] = {0};
    size_t n = 0;
    while (n < 6 && read(c->fd, buf + n, 6 - n) > 0)
        n = strlen(buf);
    CHECK(c, strcmp(buf, "* OK\r\n") == 0);
    static const char cmd[] = "a STARTTLS\r\n";
    CHECK(c, write(c->fd, cmd, sizeof(cmd) - 1) == sizeof(cmd) - 1);
    memset(buf, 0, sizeof(buf));
    n = 0;
    while (n < 6 && read(c->fd, buf + n, 6 - n) > 0)
        n = strlen(buf);
    CHECK(c, strcmp(buf, "a OK\r\n") == 0);
}

static void test_starttls_on_a_used_socket(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_self_signed(&conf);
    struct ph_tls_server *srv = server_new(&conf, "mx.example");
    struct client c = {.before = before_starttls, .script = script_noop};
    int fd = client_start(&c);
    char buf[32] = {0};
    assert_int_equal(write(fd, "* OK\r\n", 6), 6);
    size_t n = 0;
    while (n < 12) {
        ssize_t r = read(fd, buf + n, 12 - n);
        assert_true(r > 0);
        n += (size_t)r;
    }
    assert_string_equal(buf, "a STARTTLS\r\n");
    assert_int_equal(write(fd, "a OK\r\n", 6), 6);
    struct ph_tls_session *s = accept_tls(srv, fd);
    assert_int_equal(ph_tls_read(s, buf, 9), 9);
    assert_int_equal(ph_tls_write_all(s, "a1 OK\r\n\r\n", 9), 0);
    assert_int_equal(ph_tls_read(s, buf, 1), 0);
    end_session(&s, fd);
    client_join(&c);
    assert_string_equal(c.cn, "mx.example");
    ph_tls_server_free(&srv);
    ph_tls_conf_free(&conf);
}

/* ---- tests: reload and threads ---- */

static void test_reload_swaps_certificate_for_new_sessions_only(void **state)
{
    (void)state;
    char *crt = tmp_path("live.crt"), *key = tmp_path("live.key");
    copy_file(one_crt, crt);
    copy_file(one_key, key);
    struct ph_tls_conf conf;
    conf_files(&conf, crt, key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    ph_tls_conf_free(&conf);

    /* Session 1 starts on the old certificate and stays open. */
    struct client c1 = {.script = script_wait_then_noop};
    int fd1 = client_start(&c1);
    struct ph_tls_session *s1 = accept_tls(srv, fd1);
    /* Session 2 is created before the reload, handshakes after it. */
    struct client c2 = {0};
    int fd2 = client_start(&c2);
    struct ph_tls_session *s2 = session_new(srv, fd2);

    copy_file(two_crt, crt);
    copy_file(two_key, key);
    char *err = NULL;
    assert_int_equal(ph_tls_server_reload(srv, &err), 0);
    assert_null(err);

    assert_int_equal(ph_tls_handshake(s2, 20000), 0);
    end_session(&s2, fd2);
    client_join(&c2);
    assert_string_equal(c2.cn, "one.example");

    struct client c3 = {0};
    connect_once(srv, &c3, NULL, 0);
    assert_string_equal(c3.cn, "two.example");

    /* The old session still works on its credentials. */
    client_go(&c1);
    char buf[16];
    assert_int_equal(ph_tls_read(s1, buf, 9), 9);
    assert_int_equal(ph_tls_write_all(s1, "a1 OK\r\n\r\n", 9), 0);
    assert_int_equal(ph_tls_read(s1, buf, 1), 0);
    end_session(&s1, fd1);
    client_join(&c1);
    assert_string_equal(c1.cn, "one.example");

    /* A broken reload changes nothing. */
    copy_file(one_key, key);
    assert_int_equal(ph_tls_server_reload(srv, &err), -1);
    char *want =
        ph_strdup_printf("key %s does not match certificate %s", key, crt);
    assert_string_equal(err, want);
    free(want);
    free(err);
    struct client c4 = {0};
    connect_once(srv, &c4, NULL, 0);
    assert_string_equal(c4.cn, "two.example");

    ph_tls_server_free(&srv);
    free(crt);
    free(key);
}

static void test_server_outlives_its_creator_while_sessions_run(void **state)
{
    (void)state;
    struct ph_tls_conf conf;
    conf_files(&conf, one_crt, one_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    ph_tls_conf_free(&conf);
    struct client c = {.script = script_noop};
    int fd = client_start(&c);
    struct ph_tls_session *s = session_new(srv, fd);
    ph_tls_server_free(&srv); /* an endpoint stopped by a reload */
    assert_int_equal(ph_tls_handshake(s, 20000), 0);
    char buf[16];
    assert_int_equal(ph_tls_read(s, buf, 9), 9);
    assert_int_equal(ph_tls_write_all(s, "a1 OK\r\n\r\n", 9), 0);
    assert_int_equal(ph_tls_read(s, buf, 1), 0);
    end_session(&s, fd);
    client_join(&c);
}

struct worker {
    struct ph_tls_server *srv;
    int ok;
    pthread_t thread;
};

#define WORKERS 4
#define ROUNDS 5

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        struct client c = {0};
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(c.go) < 0)
            return NULL;
        c.fd = sv[1];
        pthread_create(&c.thread, NULL, client_main, &c);
        struct ph_tls_session *s = NULL;
        char *err = NULL;
        if (ph_tls_session_new(w->srv, sv[0], &s, &err) == 0) {
            if (ph_tls_handshake(s, 30000) == 0 &&
                ph_tls_write_all(s, "* OK\r\n", 6) == 0)
                w->ok++;
            ph_tls_session_free(&s);
        }
        free(err);
        close(sv[0]);
        pthread_join(c.thread, NULL);
        close(c.go[0]);
        close(c.go[1]);
        if (c.handshake_ret != 0 || (strcmp(c.cn, "one.example") != 0 &&
                                     strcmp(c.cn, "two.example") != 0))
            w->ok = -1000;
    }
    return NULL;
}

static void test_threads_create_sessions_during_reloads(void **state)
{
    (void)state;
    char *crt = tmp_path("busy.crt"), *key = tmp_path("busy.key");
    copy_file(one_crt, crt);
    copy_file(one_key, key);
    struct ph_tls_conf conf;
    conf_files(&conf, crt, key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    ph_tls_conf_free(&conf);
    struct worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.srv = srv};
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]),
                         0);
    }
    for (int i = 0; i < 6; i++) {
        bool two = i % 2 == 0;
        copy_file(two ? two_crt : one_crt, crt);
        copy_file(two ? two_key : one_key, key);
        char *err = NULL;
        int r = ph_tls_server_reload(srv, &err);
        if (r < 0)
            print_error("reload: %s\n", err);
        assert_int_equal(r, 0);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(w[i].thread, NULL);
        assert_int_equal(w[i].ok, ROUNDS);
    }
    ph_tls_server_free(&srv);
    free(crt);
    free(key);
}

/* ---- tests: real command-line clients over loopback TCP ---- */

struct tcp_server {
    struct ph_tls_server *srv;
    int lfd, port, conns;
    bool close_first; /* after the greeting */
    int handshakes_ok;
    char protocol[8][32];
    pthread_t thread;
};

static void *tcp_server_main(void *arg)
{
    struct tcp_server *t = arg;
    for (int i = 0; i < t->conns; i++) {
        struct pollfd p = {.fd = t->lfd, .events = POLLIN};
        if (poll(&p, 1, 30000) != 1)
            return NULL;
        int fd = accept(t->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        struct ph_tls_session *s = NULL;
        char *err = NULL;
        if (ph_tls_session_new(t->srv, fd, &s, &err) == 0) {
            ph_tls_set_timeout(s, 10000);
            if (ph_tls_handshake(s, 10000) == 0) {
                t->handshakes_ok++;
                snprintf(t->protocol[i], sizeof(t->protocol[i]), "%s",
                         ph_tls_protocol(s));
                if (ph_tls_write_all(s, "* OK posthorn ready\r\n", 21) == 0) {
                    /* gnutls-cli ends at its end of input; openssl
                     * s_client -ign_eof when the server closes. */
                    char buf[256];
                    while (!t->close_first && ph_tls_read(s, buf, 256) > 0)
                        ;
                    (void)ph_tls_bye(s);
                }
            }
            ph_tls_session_free(&s);
        }
        free(err);
        close(fd);
    }
    return NULL;
}

static void tcp_server_start(struct tcp_server *t, struct ph_tls_server *srv,
                             int conns, bool close_first)
{
    memset(t, 0, sizeof(*t));
    t->srv = srv;
    t->close_first = close_first;
    t->conns = conns;
    t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(t->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(t->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(t->lfd, 8), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(t->lfd, (struct sockaddr *)&a, &len), 0);
    t->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&t->thread, NULL, tcp_server_main, t), 0);
}

static void tcp_server_join(struct tcp_server *t)
{
    pthread_join(t->thread, NULL);
    close(t->lfd);
}

/* Runs a shell command; its exit status, and its output in out. */
static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = 0;
    while (n + 1 < size) {
        size_t r = fread(out + n, 1, size - 1 - n, p);
        if (r == 0)
            break;
        n += r;
    }
    out[n] = '\0';
    char sink[512];
    while (fread(sink, 1, sizeof(sink), p) > 0)
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have(const char *program)
{
    char *cmd = ph_strdup_printf("command -v %s >/dev/null 2>&1", program);
    bool ok = system(cmd) == 0;
    free(cmd);
    return ok;
}

static void test_gnutls_cli_binary(void **state)
{
    (void)state;
    if (!have("gnutls-cli"))
        skip();
    struct ph_tls_conf conf;
    conf_files(&conf, rsa_crt, rsa_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    ph_tls_conf_free(&conf);
    struct tcp_server t;
    tcp_server_start(&t, srv, 3, false);
    static char out[16384];
    char *cmd;

    cmd = ph_strdup_printf("gnutls-cli --insecure --port=%d 127.0.0.1 "
                           "</dev/null 2>&1",
                           t.port);
    int st = run(cmd, out, sizeof(out));
    if (st != 0)
        print_error("%s\n", out);
    assert_int_equal(st, 0);
    free(cmd);
    assert_non_null(strstr(out, "- Handshake was completed"));
    assert_non_null(strstr(out, "- Description: (TLS1.3"));

    cmd = ph_strdup_printf("gnutls-cli --insecure --port=%d "
                           "--priority=NORMAL:-VERS-ALL:+VERS-TLS1.1 "
                           "127.0.0.1 </dev/null 2>&1",
                           t.port);
    assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
    free(cmd);
    assert_non_null(strstr(out, "Received alert [70]: Error in protocol "
                                "version"));

    cmd = ph_strdup_printf("gnutls-cli --insecure --port=%d "
                           "--priority=NORMAL:-VERS-ALL:+VERS-TLS1.0 "
                           "127.0.0.1 </dev/null 2>&1",
                           t.port);
    assert_int_not_equal(run(cmd, out, sizeof(out)), 0);
    free(cmd);
    assert_non_null(strstr(out, "Received alert [70]: Error in protocol "
                                "version"));

    tcp_server_join(&t);
    assert_int_equal(t.handshakes_ok, 1);
    assert_string_equal(t.protocol[0], "TLS1.3");
    ph_tls_server_free(&srv);
}

static void test_openssl_s_client_binary(void **state)
{
    (void)state;
    if (!have("openssl"))
        skip();
    struct ph_tls_conf conf;
    conf_files(&conf, rsa_crt, rsa_key);
    struct ph_tls_server *srv = server_new(&conf, NULL);
    ph_tls_conf_free(&conf);
    struct tcp_server t;
    tcp_server_start(&t, srv, 4, true);
    static char out[16384];
    char *cmd;

    cmd = ph_strdup_printf(
        "openssl s_client -connect 127.0.0.1:%d "
        "-servername rsa.example -tls1_2 -ign_eof </dev/null 2>&1",
        t.port);
    assert_int_equal(run(cmd, out, sizeof(out)), 0);
    free(cmd);
    assert_non_null(strstr(out, "Protocol  : TLSv1.2"));
    assert_non_null(strstr(out, "ECDHE-RSA-AES256-GCM-SHA384"));
    assert_non_null(strstr(out, "* OK posthorn ready"));

    /* The client side allows everything; the server refuses. */
    static const char *const bad[] = {
        "-tls1_1 -cipher DEFAULT@SECLEVEL=0",
        "-tls1 -cipher DEFAULT@SECLEVEL=0",
        "-tls1_2 -cipher AES256-SHA256:AES128-SHA:AES256-GCM-SHA384",
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(bad); i++) {
        cmd = ph_strdup_printf("openssl s_client -connect 127.0.0.1:%d %s "
                               "</dev/null 2>&1",
                               t.port, bad[i]);
        int st = run(cmd, out, sizeof(out));
        if (st == 0)
            print_error("%s\n%s\n", cmd, out);
        assert_int_not_equal(st, 0);
        free(cmd);
    }
    tcp_server_join(&t);
    assert_int_equal(t.handshakes_ok, 1);
    assert_string_equal(t.protocol[0], "TLS1.2");
    ph_tls_server_free(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_signed_handshake_serves_hostname),
        cmocka_unit_test(test_self_signed_defaults_to_system_hostname),
        cmocka_unit_test(test_files_pair_is_served),
        cmocka_unit_test(test_rsa_certificate_with_ecdhe),
        cmocka_unit_test(test_sni_picks_the_matching_certificate),
        cmocka_unit_test(test_tls10_and_tls11_refused_by_default),
        cmocka_unit_test(test_rsa_key_exchange_and_cbc_refused_by_default),
        cmocka_unit_test(test_protocols_tls13_refuses_tls12_client),
        cmocka_unit_test(test_protocols_tls10_lets_legacy_clients_in),
        cmocka_unit_test(test_priority_strings),
        cmocka_unit_test(test_priority_errors_name_the_culprit),
        cmocka_unit_test(test_ciphers_and_curves_are_negotiated),
        cmocka_unit_test(test_file_errors_name_the_file),
        cmocka_unit_test(test_megabyte_both_ways),
        cmocka_unit_test(test_nonblocking_calls_for_a_reactor),
        cmocka_unit_test(test_pending_after_partial_read),
        cmocka_unit_test(test_read_timeout_keeps_the_session),
        cmocka_unit_test(test_handshake_timeout_with_a_silent_client),
        cmocka_unit_test(test_wait_hook_brackets_waits_to_write),
        cmocka_unit_test(test_eof_without_close_notify_reads_as_end),
        cmocka_unit_test(test_write_to_a_closed_peer_fails_without_sigpipe),
        cmocka_unit_test(test_bye_sends_close_notify),
        cmocka_unit_test(test_starttls_on_a_used_socket),
        cmocka_unit_test(test_reload_swaps_certificate_for_new_sessions_only),
        cmocka_unit_test(test_server_outlives_its_creator_while_sessions_run),
        cmocka_unit_test(test_threads_create_sessions_during_reloads),
        cmocka_unit_test(test_gnutls_cli_binary),
        cmocka_unit_test(test_openssl_s_client_binary),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
