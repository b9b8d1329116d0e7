/* SPDX-License-Identifier: MIT */
/* TLS for endpoints on GnuTLS: credentials and priorities (the server), and
 * sessions over connected sockets with blocking and reactor-style calls. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include <posthorn/log.h>
#include <posthorn/module.h>
#include <posthorn/tls-session.h>

/* Certificate and key files are small; this only stops /dev/zero. */
#define MAX_FILE_SIZE (16u << 20)
#define SELF_SIGNED_DAYS 365

/* ---- GnuTLS global state ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_init_ret;

static void global_deinit(void)
{
    gnutls_global_deinit();
}

static void global_init(void)
{
    /* GnuTLS also initializes from its library constructor; this call is
     * counted, and the matching deinit at exit keeps valgrind quiet. */
    global_init_ret = gnutls_global_init();
    if (global_init_ret == 0)
        atexit(global_deinit);
}

static int ensure_global_init(char **error_r)
{
    pthread_once(&global_once, global_init);
    if (global_init_ret < 0) {
        *error_r = ph_strdup_printf("cannot initialize GnuTLS: %s",
                                    gnutls_strerror(global_init_ret));
        return -1;
    }
    return 0;
}

/* GnuTLS's texts end with a period; ours are embedded in longer lines. */
static char *gnutls_reason(int err)
{
    char *s = ph_strdup(gnutls_strerror(err));
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.')
        s[n - 1] = '\0';
    return s;
}

/* ---- credentials: one refcounted set per load ---- */

/* GnuTLS chooses among several pairs by SNI, but only on an exact,
 * case-sensitive match with a certificate's names: no wildcard, and
 * "Mail.Example.org" misses. So each pair also gets credentials of its own
 * that list it first, and the post-ClientHello hook (sni_hook) sets those
 * when the client's name matches the pair the way clients match names. */
struct creds {
    atomic_int refs;
    size_t npairs;
    gnutls_certificate_credentials_t all; /* every pair, in config order */
    /* With several pairs: [i] lists pair i first, then the pairs with the
     * same names (an RSA and an ECDSA certificate for one host), then the
     * rest; names[i] are pair i's DNS names in lower case. */
    gnutls_certificate_credentials_t *first;
    struct ph_strlist *names;
};

static void creds_unref(struct creds **cp)
{
    struct creds *c = *cp;
    *cp = NULL;
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    if (c->all != NULL)
        gnutls_certificate_free_credentials(c->all);
    for (size_t i = 0; c->first != NULL && i < c->npairs; i++) {
        if (c->first[i] != NULL)
            gnutls_certificate_free_credentials(c->first[i]);
        ph_strlist_clear(&c->names[i]);
    }
    free(c->first);
    free(c->names);
    free(c);
}

static int cred_alloc(gnutls_certificate_credentials_t *cred_r, char **error_r)
{
    int r = gnutls_certificate_allocate_credentials(cred_r);
    if (r < 0) {
        *cred_r = NULL;
        *error_r = ph_strdup_printf("cannot allocate TLS credentials: %s",
                                    gnutls_strerror(r));
        return -1;
    }
    return 0;
}

static struct creds *creds_new(size_t npairs, char **error_r)
{
    struct creds *c = ph_calloc(1, sizeof(*c));
    atomic_init(&c->refs, 1);
    c->npairs = npairs;
    if (npairs > 1) {
        c->first = ph_calloc(npairs, sizeof(*c->first));
        c->names = ph_calloc(npairs, sizeof(*c->names));
    }
    if (cred_alloc(&c->all, error_r) < 0) {
        creds_unref(&c);
        return NULL;
    }
    return c;
}

/* Reads a whole file, with the errno text on failure. */
static int read_file(const char *what, const char *path, gnutls_datum_t *d_r,
                     char **error_r)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        *error_r = ph_strdup_printf("cannot read %s %s: %s", what, path,
                                    strerror(err));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE_SIZE) {
        close(fd);
        *error_r = ph_strdup_printf("cannot read %s %s: %s", what, path,
                                    S_ISREG(st.st_mode) ? "file too large"
                                                        : "not a regular file");
        return -1;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    unsigned char *data = ph_malloc(cap);
    for (;;) {
        if (len == cap)
            data = ph_realloc(data, cap *= 2);
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || len + (size_t)n > MAX_FILE_SIZE) {
            int err = n < 0 ? errno : EFBIG;
            close(fd);
            explicit_bzero(data, len);
            free(data);
            *error_r = ph_strdup_printf("cannot read %s %s: %s", what, path,
                                        strerror(err));
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    d_r->data = data;
    d_r->size = (unsigned)len;
    return 0;
}

static void datum_wipe(gnutls_datum_t *d)
{
    if (d->data != NULL)
        explicit_bzero(d->data, d->size);
    free(d->data);
    d->data = NULL;
    d->size = 0;
}

static gnutls_x509_crt_fmt_t guess_format(const gnutls_datum_t *d)
{
    return memmem(d->data, d->size, "-----BEGIN", 10) != NULL
               ? GNUTLS_X509_FMT_PEM
               : GNUTLS_X509_FMT_DER;
}

static void warn_validity(const char *path, gnutls_x509_crt_t crt)
{
    time_t now = time(NULL), start = gnutls_x509_crt_get_activation_time(crt),
           end = gnutls_x509_crt_get_expiration_time(crt);
    const char *problem = NULL;
    time_t when = 0;
    if (end != (time_t)-1 && end < now) {
        problem = "cert_expired";
        when = end;
    } else if (start != (time_t)-1 && start > now) {
        problem = "cert_not_yet_valid";
        when = start;
    }
    if (problem == NULL)
        return;
    char date[32];
    struct tm tm;
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&when, &tm));
    char *file = ph_log_escape(path);
    ph_log_warn("mod=tls event=%s file=%s date=%s", problem, file, date);
    free(file);
}

static void lower(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* One CERT/KEY pair, parsed. */
struct pair {
    gnutls_x509_crt_t *crts; /* the chain, leaf first */
    unsigned ncrts;
    gnutls_x509_privkey_t key;
    struct ph_strlist names; /* DNS names of the leaf, lower case */
};

static void pair_clear(struct pair *p)
{
    if (p->key != NULL)
        gnutls_x509_privkey_deinit(p->key);
    for (unsigned i = 0; i < p->ncrts; i++)
        gnutls_x509_crt_deinit(p->crts[i]);
    gnutls_free(p->crts);
    ph_strlist_clear(&p->names);
    memset(p, 0, sizeof(*p));
}

/* The names a client checks: the DNS SANs, else the common name. */
static void pair_names(struct pair *p)
{
    char name[256];
    for (unsigned seq = 0;; seq++) {
        size_t size = sizeof(name) - 1;
        int type = gnutls_x509_crt_get_subject_alt_name(p->crts[0], seq, name,
                                                        &size, NULL);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE ||
            (type < 0 && type != GNUTLS_E_SHORT_MEMORY_BUFFER))
            break;
        if (type == GNUTLS_SAN_DNSNAME) {
            name[size] = '\0';
            lower(name);
            ph_strlist_add(&p->names, name);
        }
    }
    size_t size = sizeof(name);
    if (p->names.n == 0 &&
        gnutls_x509_crt_get_dn_by_oid(p->crts[0], GNUTLS_OID_X520_COMMON_NAME,
                                      0, 0, name, &size) == 0) {
        lower(name);
        ph_strlist_add(&p->names, name);
    }
}

/* GnuTLS's texts for the usual mistakes with a key file are cryptic. */
static const char *key_reason(int err, const char *why)
{
    switch (err) {
    case GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE:
    case GNUTLS_E_BASE64_UNEXPECTED_HEADER_ERROR: return "no private key found";
    case GNUTLS_E_DECRYPTION_FAILED:
        return "the key is encrypted; store it without a passphrase";
    }
    return why;
}

static int pair_read(const char *cert_path, const char *key_path,
                     struct pair *p, char **error_r)
{
    gnutls_datum_t cd = {NULL, 0}, kd = {NULL, 0};
    char *why = NULL;
    int ret = -1, r;

    if (read_file("certificate", cert_path, &cd, error_r) < 0 ||
        read_file("key", key_path, &kd, error_r) < 0)
        goto out;
    r = gnutls_x509_crt_list_import2(
        &p->crts, &p->ncrts, &cd, guess_format(&cd), GNUTLS_X509_CRT_LIST_SORT);
    if (r < 0) {
        p->crts = NULL;
        p->ncrts = 0;
        why = gnutls_reason(r);
        *error_r = ph_strdup_printf("certificate %s: %s", cert_path, why);
        goto out;
    }
    if ((r = gnutls_x509_privkey_init(&p->key)) < 0 ||
        (r = gnutls_x509_privkey_import2(p->key, &kd, guess_format(&kd), NULL,
                                         0)) < 0) {
        why = gnutls_reason(r);
        *error_r = ph_strdup_printf("key %s: %s", key_path, key_reason(r, why));
        goto out;
    }
    pair_names(p);
    ret = 0;
out:
    free(why);
    datum_wipe(&cd);
    datum_wipe(&kd);
    return ret;
}

/* Adds a parsed pair to cred (GnuTLS copies it). */
static int pair_add(gnutls_certificate_credentials_t cred, struct pair *p,
                    const char *cert_path, const char *key_path, char **error_r)
{
    int r =
        gnutls_certificate_set_x509_key(cred, p->crts, (int)p->ncrts, p->key);
    if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
        *error_r = ph_strdup_printf("key %s does not match certificate %s",
                                    key_path, cert_path);
        return -1;
    }
    if (r < 0) {
        char *why = gnutls_reason(r);
        *error_r = ph_strdup_printf("certificate %s with key %s: %s", cert_path,
                                    key_path, why);
        free(why);
        return -1;
    }
    return 0;
}

static bool same_names(const struct ph_strlist *a, const struct ph_strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

static int load_files(const struct ph_strlist *certs,
                      const struct ph_strlist *keys, struct creds **c_r,
                      char **error_r)
{
    size_t n = certs->n;
    if (n == 0 || n != keys->n) {
        *error_r = ph_strdup("tls: expected CERT KEY pairs");
        return -1;
    }
    struct pair *pairs = ph_calloc(n, sizeof(*pairs));
    struct creds *c = NULL;
    int ret = -1;
    for (size_t i = 0; i < n; i++)
        if (pair_read(certs->v[i], keys->v[i], &pairs[i], error_r) < 0)
            goto out;
    if ((c = creds_new(n, error_r)) == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (pair_add(c->all, &pairs[i], certs->v[i], keys->v[i], error_r) < 0)
            goto out;
        warn_validity(certs->v[i], pairs[i].crts[0]);
    }
    for (size_t i = 0; n > 1 && i < n; i++) {
        if (cred_alloc(&c->first[i], error_r) < 0)
            goto out;
        for (int pass = 0; pass < 3; pass++) {
            for (size_t j = 0; j < n; j++) {
                bool same = same_names(&pairs[i].names, &pairs[j].names);
                if ((pass == 0 && j == i) || (pass == 1 && j != i && same) ||
                    (pass == 2 && !same)) {
                    if (pair_add(c->first[i], &pairs[j], certs->v[j],
                                 keys->v[j], error_r) < 0)
                        goto out;
                }
            }
        }
        c->names[i] = pairs[i].names;
        memset(&pairs[i].names, 0, sizeof(pairs[i].names));
    }
    *c_r = c;
    c = NULL;
    ret = 0;
out:
    creds_unref(&c);
    for (size_t i = 0; i < n; i++)
        pair_clear(&pairs[i]);
    free(pairs);
    return ret;
}

/* Does a certificate name (maybe "*.example.org") cover host? Both are in
 * lower case; the wildcard stands for exactly one leftmost label. */
static bool name_matches(const char *pattern, const char *host)
{
    if (strcmp(pattern, host) == 0)
        return true;
    if (pattern[0] != '*' || pattern[1] != '.')
        return false;
    const char *dot = strchr(host, '.');
    return dot != NULL && dot != host && strcmp(dot + 1, pattern + 2) == 0;
}

/* The pair whose names cover the client's SNI, or -1. */
static long creds_match(const struct creds *c, const char *sni)
{
    for (size_t i = 0; c->names != NULL && i < c->npairs; i++)
        for (size_t k = 0; k < c->names[i].n; k++)
            if (name_matches(c->names[i].v[k], sni))
                return (long)i;
    return -1;
}

/* An ECDSA P-256 key and a certificate for hostname signed by itself:
 * P-256 rather than Ed25519 because every mail client accepts it. */
static int make_self_signed(const char *hostname, struct creds **c_r,
                            char **error_r)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    struct creds *c = NULL;
    const char *step = "generate the key";
    unsigned char serial[16], keyid[64];
    size_t keyid_size = sizeof(keyid);
    unsigned char ip[16];
    int iplen = 0, r;
    time_t now = time(NULL);

    if (inet_pton(AF_INET, hostname, ip) == 1)
        iplen = 4;
    else if (inet_pton(AF_INET6, hostname, ip) == 1)
        iplen = 16;

    if ((r = gnutls_x509_privkey_init(&key)) < 0 ||
        (r = gnutls_x509_privkey_generate2(
             key, GNUTLS_PK_ECDSA,
             GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0, NULL, 0)) < 0)
        goto fail;
    step = "build the certificate";
    if ((r = gnutls_x509_crt_init(&crt)) < 0 ||
        (r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
        goto fail;
    serial[0] &= 0x7f; /* a positive INTEGER */
    serial[0] |= 0x01; /* without a leading zero octet */
    if ((r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
        (r = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
        (r = gnutls_x509_crt_set_expiration_time(
             crt, now + (time_t)SELF_SIGNED_DAYS * 86400)) < 0 ||
        (r = gnutls_x509_crt_set_key(crt, key)) < 0)
        goto fail;
    /* X.520 caps the common name at 64 characters; the SAN is what counts. */
    if (strlen(hostname) <= 64 &&
        (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                           hostname,
                                           (unsigned)strlen(hostname))) < 0)
        goto fail;
    if (iplen > 0)
        r = gnutls_x509_crt_set_subject_alt_name(
            crt, GNUTLS_SAN_IPADDRESS, ip, (unsigned)iplen, GNUTLS_FSAN_SET);
    else
        r = gnutls_x509_crt_set_subject_alt_name(
            crt, GNUTLS_SAN_DNSNAME, hostname, (unsigned)strlen(hostname),
            GNUTLS_FSAN_SET);
    if (r < 0 || (r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
        (r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) <
            0 ||
        (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER,
                                                 0)) < 0 ||
        (r = gnutls_x509_crt_get_key_id(crt, 0, keyid, &keyid_size)) < 0 ||
        (r = gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_size)) < 0)
        goto fail;
    step = "sign the certificate";
    if ((r = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0)
        goto fail;
    if ((c = creds_new(1, error_r)) == NULL)
        goto out;
    step = "use the certificate";
    if ((r = gnutls_certificate_set_x509_key(c->all, &crt, 1, key)) < 0)
        goto fail;
    *c_r = c;
    c = NULL;
    r = 0;
    goto out;
fail:;
    char *why = gnutls_reason(r);
    *error_r = ph_strdup_printf("tls self_signed: cannot %s for %s: %s", step,
                                hostname, why);
    free(why);
    r = -1;
out:
    creds_unref(&c);
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
    if (key != NULL)
        gnutls_x509_privkey_deinit(key);
    return r < 0 ? -1 : 0;
}

/* ---- the priority string ---- */

static const char *const default_ciphers[] = {
    "AES-256-GCM", "CHACHA20-POLY1305", "AES-128-GCM"};
/* TLS 1.0 and 1.1 have no AEAD suite: asking for them brings CBC back. */
static const char *const legacy_ciphers[] = {"AES-256-CBC", "AES-128-CBC"};

static const struct {
    const char *alias, *name;
} curve_aliases[] = {
    {"P-256", "SECP256R1"},
    {"PRIME256V1", "SECP256R1"},
    {"P-384", "SECP384R1"},
    {"P-521", "SECP521R1"},
};

static enum ph_tls_version conf_min(const struct ph_tls_conf *conf)
{
    return conf->min_version != 0 ? conf->min_version : PH_TLS_1_2;
}

static enum ph_tls_version conf_max(const struct ph_tls_conf *conf)
{
    return conf->max_version != 0 ? conf->max_version : PH_TLS_1_3;
}

static void put_upper(struct ph_buf *b, const char *s)
{
    for (; *s != '\0'; s++)
        ph_buf_putc(b, (*s >= 'a' && *s <= 'z') ? (char)(*s - 'a' + 'A') : *s);
}

static void put_curve(struct ph_buf *b, const char *name)
{
    struct ph_buf up = {0};
    put_upper(&up, name);
    const char *n = up.data;
    if (strncmp(n, "GROUP-", 6) == 0 || strncmp(n, "CURVE-", 6) == 0)
        n += 6;
    for (size_t i = 0; i < PH_N_ELEMENTS(curve_aliases); i++)
        if (strcmp(n, curve_aliases[i].alias) == 0)
            n = curve_aliases[i].name;
    ph_buf_printf(b, ":+GROUP-%s", n);
    ph_buf_free(&up);
}

/* Where each configured name landed in the string, to name it in errors:
 * entry i spans [at[i], at[i + 1]). */
struct prio_map {
    size_t *cipher_at, *curve_at;
};

static void prio_map_free(struct prio_map *map)
{
    free(map->cipher_at);
    free(map->curve_at);
}

/* The index of the entry whose span holds pos, or -1. */
static long prio_map_find(const size_t *at, size_t n, size_t pos)
{
    for (size_t i = 0; at != NULL && i < n; i++)
        if (pos >= at[i] && pos < at[i + 1])
            return (long)i;
    return -1;
}

static char *build_priority(const struct ph_tls_conf *conf,
                            struct prio_map *map)
{
    struct ph_buf b = {0};
    ph_buf_puts(&b, "NORMAL:-VERS-ALL");
    for (int v = conf_max(conf); v >= (int)conf_min(conf); v--)
        ph_buf_printf(&b, ":+VERS-TLS%d.%d", v / 10, v % 10);
    ph_buf_puts(&b, ":-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-CIPHER-ALL");
    map->cipher_at = map->curve_at = NULL;
    if (conf->ciphers.n > 0) {
        map->cipher_at = ph_calloc(conf->ciphers.n + 1, sizeof(size_t));
        for (size_t i = 0; i < conf->ciphers.n; i++) {
            map->cipher_at[i] = b.len;
            ph_buf_puts(&b, ":+");
            put_upper(&b, conf->ciphers.v[i]);
        }
        map->cipher_at[conf->ciphers.n] = b.len;
    } else {
        for (size_t i = 0; i < PH_N_ELEMENTS(default_ciphers); i++)
            ph_buf_printf(&b, ":+%s", default_ciphers[i]);
        if (conf_min(conf) < PH_TLS_1_2)
            for (size_t i = 0; i < PH_N_ELEMENTS(legacy_ciphers); i++)
                ph_buf_printf(&b, ":+%s", legacy_ciphers[i]);
    }
    if (conf->curves.n > 0) {
        ph_buf_puts(&b, ":-GROUP-ALL");
        map->curve_at = ph_calloc(conf->curves.n + 1, sizeof(size_t));
        for (size_t i = 0; i < conf->curves.n; i++) {
            map->curve_at[i] = b.len;
            put_curve(&b, conf->curves.v[i]);
        }
        map->curve_at[conf->curves.n] = b.len;
    }
    if (conf->ciphers.n > 0)
        ph_buf_puts(&b, ":%SERVER_PRECEDENCE");
    return ph_buf_steal(&b);
}

char *ph_tls_priority_string(const struct ph_tls_conf *conf)
{
    struct prio_map map;
    char *str = build_priority(conf, &map);
    prio_map_free(&map);
    return str;
}

static const char *version_name(enum ph_tls_version v)
{
    switch (v) {
    case PH_TLS_1_0: return "tls1.0";
    case PH_TLS_1_1: return "tls1.1";
    case PH_TLS_1_2: return "tls1.2";
    case PH_TLS_1_3: return "tls1.3";
    }
    return "?";
}

static gnutls_protocol_t gnutls_version(enum ph_tls_version v)
{
    switch (v) {
    case PH_TLS_1_0: return GNUTLS_TLS1_0;
    case PH_TLS_1_1: return GNUTLS_TLS1_1;
    case PH_TLS_1_2: return GNUTLS_TLS1_2;
    case PH_TLS_1_3: return GNUTLS_TLS1_3;
    }
    return GNUTLS_VERSION_UNKNOWN;
}

/* Is any enabled suite usable within [min, max]? TLS 1.3 suites work only
 * in TLS 1.3, the others from their minimum version up to TLS 1.2. */
static bool has_usable_suite(gnutls_priority_t prio, gnutls_protocol_t min,
                             gnutls_protocol_t max)
{
    for (unsigned idx = 0;; idx++) {
        unsigned sidx;
        int r = gnutls_priority_get_cipher_suite_index(prio, idx, &sidx);
        if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            return false;
        if (r < 0)
            continue;
        gnutls_protocol_t from;
        if (gnutls_cipher_suite_info(sidx, NULL, NULL, NULL, NULL, &from) ==
            NULL)
            continue;
        if (from == GNUTLS_TLS1_3 ? max >= GNUTLS_TLS1_3
                                  : from <= max && min <= GNUTLS_TLS1_2)
            return true;
    }
}

static char *join(const struct ph_strlist *l)
{
    struct ph_buf b = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (i > 0)
            ph_buf_putc(&b, ' ');
        ph_buf_puts(&b, l->v[i]);
    }
    return ph_buf_steal(&b);
}

static int make_priority(const struct ph_tls_conf *conf, char **str_r,
                         gnutls_priority_t *prio_r, char **error_r)
{
    struct prio_map map;
    char *str = build_priority(conf, &map);
    const char *errpos = NULL;
    int r = gnutls_priority_init2(prio_r, str, &errpos, 0);
    if (r == GNUTLS_E_NO_PRIORITIES_WERE_SET ||
        (r == 0 && !has_usable_suite(*prio_r, gnutls_version(conf_min(conf)),
                                     gnutls_version(conf_max(conf))))) {
        if (r == 0)
            gnutls_priority_deinit(*prio_r);
        *prio_r = NULL;
        char *ciphers = conf->ciphers.n > 0 ? join(&conf->ciphers) : NULL;
        *error_r = ph_strdup_printf(
            "tls: no cipher suite is left for protocols %s %s%s%s",
            version_name(conf_min(conf)), version_name(conf_max(conf)),
            ciphers != NULL ? " with ciphers " : "",
            ciphers != NULL ? ciphers : "");
        free(ciphers);
        prio_map_free(&map);
        free(str);
        return -1;
    }
    if (r < 0) {
        size_t len = strlen(str);
        size_t at = errpos != NULL && errpos >= str && errpos <= str + len
                        ? (size_t)(errpos - str)
                        : len;
        long ci = prio_map_find(map.cipher_at, conf->ciphers.n, at);
        long cu = prio_map_find(map.curve_at, conf->curves.n, at);
        if (ci >= 0)
            *error_r = ph_strdup_printf(
                "tls ciphers: unknown cipher \"%s\" (GnuTLS names such as "
                "AES-256-GCM, CHACHA20-POLY1305, AES-128-GCM)",
                conf->ciphers.v[ci]);
        else if (cu >= 0)
            *error_r = ph_strdup_printf(
                "tls curves: unknown curve \"%s\" (GnuTLS names such as "
                "X25519, SECP256R1, SECP384R1)",
                conf->curves.v[cu]);
        else
            *error_r = ph_strdup_printf(
                "tls: GnuTLS rejects the priority string %s at \"%s\": %s", str,
                str + at, gnutls_strerror(r));
        prio_map_free(&map);
        free(str);
        return -1;
    }
    prio_map_free(&map);
    *str_r = str;
    return 0;
}

/* ---- the server ---- */

struct ph_tls_server {
    atomic_int refs;
    enum ph_tls_mode mode;
    struct ph_strlist certs, keys;
    char *priority_str;
    gnutls_priority_t prio;
    gnutls_datum_t ticket_key;
    pthread_mutex_t lock;
    struct creds *creds; /* under lock: what new sessions get */
};

static void server_unref(struct ph_tls_server **srvp)
{
    struct ph_tls_server *srv = *srvp;
    *srvp = NULL;
    if (srv == NULL || atomic_fetch_sub(&srv->refs, 1) != 1)
        return;
    creds_unref(&srv->creds);
    if (srv->prio != NULL)
        gnutls_priority_deinit(srv->prio);
    if (srv->ticket_key.data != NULL) {
        gnutls_memset(srv->ticket_key.data, 0, srv->ticket_key.size);
        gnutls_free(srv->ticket_key.data);
    }
    pthread_mutex_destroy(&srv->lock);
    ph_strlist_clear(&srv->certs);
    ph_strlist_clear(&srv->keys);
    free(srv->priority_str);
    free(srv);
}

void ph_tls_server_free(struct ph_tls_server **srv)
{
    server_unref(srv);
}

static const char *default_hostname(char *buf, size_t size)
{
    const char *h = ph_global_hostname();
    if (h != NULL && *h != '\0')
        return h;
    if (gethostname(buf, size) == 0 && buf[0] != '\0') {
        buf[size - 1] = '\0';
        return buf;
    }
    return "localhost";
}

int ph_tls_server_new(const struct ph_tls_conf *conf, const char *hostname,
                      struct ph_tls_server **srv_r, char **error_r)
{
    *srv_r = NULL;
    if (conf->mode != PH_TLS_FILES && conf->mode != PH_TLS_SELF_SIGNED) {
        *error_r = ph_strdup("tls is off: no certificate to serve");
        return -1;
    }
    if (ensure_global_init(error_r) < 0)
        return -1;
    struct ph_tls_server *srv = ph_calloc(1, sizeof(*srv));
    atomic_init(&srv->refs, 1);
    pthread_mutex_init(&srv->lock, NULL);
    srv->mode = conf->mode;
    for (size_t i = 0; i < conf->certs.n; i++)
        ph_strlist_add(&srv->certs, conf->certs.v[i]);
    for (size_t i = 0; i < conf->keys.n; i++)
        ph_strlist_add(&srv->keys, conf->keys.v[i]);

    if (make_priority(conf, &srv->priority_str, &srv->prio, error_r) < 0)
        goto fail;
    if (conf->mode == PH_TLS_SELF_SIGNED) {
        char buf[256];
        if (hostname == NULL || *hostname == '\0')
            hostname = default_hostname(buf, sizeof(buf));
        if (make_self_signed(hostname, &srv->creds, error_r) < 0)
            goto fail;
    } else if (load_files(&srv->certs, &srv->keys, &srv->creds, error_r) < 0) {
        goto fail;
    }
    int r = gnutls_session_ticket_key_generate(&srv->ticket_key);
    if (r < 0) {
        *error_r = ph_strdup_printf("cannot make a TLS session ticket key: %s",
                                    gnutls_strerror(r));
        goto fail;
    }
    *srv_r = srv;
    return 0;
fail:
    server_unref(&srv);
    return -1;
}

int ph_tls_server_reload(struct ph_tls_server *srv, char **error_r)
{
    if (srv->mode != PH_TLS_FILES)
        return 0;
    struct creds *fresh;
    if (load_files(&srv->certs, &srv->keys, &fresh, error_r) < 0)
        return -1;
    pthread_mutex_lock(&srv->lock);
    struct creds *old = srv->creds;
    srv->creds = fresh;
    pthread_mutex_unlock(&srv->lock);
    creds_unref(&old);
    return 0;
}

const char *ph_tls_server_priority(const struct ph_tls_server *srv)
{
    return srv->priority_str;
}

static struct creds *server_creds(struct ph_tls_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    struct creds *c = srv->creds;
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_unlock(&srv->lock);
    return c;
}

char *ph_tls_server_fingerprint(struct ph_tls_server *srv)
{
    struct creds *c = server_creds(srv);
    gnutls_datum_t der;
    unsigned char md[32];
    size_t size = sizeof(md);
    struct ph_buf b = {0};
    if (gnutls_certificate_get_crt_raw(c->all, 0, 0, &der) == 0 &&
        gnutls_fingerprint(GNUTLS_DIG_SHA256, &der, md, &size) == 0) {
        for (size_t i = 0; i < size; i++)
            ph_buf_printf(&b, "%s%02X", i > 0 ? ":" : "", md[i]);
    }
    creds_unref(&c);
    return ph_buf_steal(&b);
}

/* ---- sessions ---- */

struct ph_tls_session {
    gnutls_session_t gs;
    struct ph_tls_server *srv;
    struct creds *creds;
    int fd;
    int timeout_ms;
    ph_tls_wait_hook *wait_hook;
    void *wait_arg;
    bool send_pending; /* a record_send returned AGAIN: flush it first */
    bool has_sni;
    char sni[256];
    char error[256];
};

PH_PRINTF(2, 3)
static void set_error(struct ph_tls_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, ap);
    va_end(ap);
}

/* sys_errno: errno right after the GnuTLS call, which says why the socket
 * failed when GnuTLS only says "Error in the pull function". */
static void set_gnutls_error(struct ph_tls_session *s, const char *what,
                             int err, int sys_errno)
{
    if (err == GNUTLS_E_FATAL_ALERT_RECEIVED ||
        err == GNUTLS_E_WARNING_ALERT_RECEIVED) {
        set_error(s, "%s: %s (%s)", what, gnutls_strerror(err),
                  gnutls_alert_get_name(gnutls_alert_get(s->gs)));
    } else if ((err == GNUTLS_E_PULL_ERROR || err == GNUTLS_E_PUSH_ERROR) &&
               sys_errno != 0) {
        set_error(s, "%s: %s", what, strerror(sys_errno));
    } else {
        set_error(s, "%s: %s", what, gnutls_strerror(err));
    }
}

/* Called once the ClientHello is parsed, before the certificate is
 * chosen: narrows the choice to the pair that covers the client's name. */
static int sni_hook(gnutls_session_t gs)
{
    struct ph_tls_session *s = gnutls_session_get_ptr(gs);
    char name[256];
    size_t size = sizeof(name);
    unsigned type;
    if (gnutls_server_name_get(gs, name, &size, &type, 0) < 0 ||
        type != GNUTLS_NAME_DNS || size == 0 || size >= sizeof(name))
        return 0;
    name[size] = '\0';
    if (name[size - 1] == '.')
        name[size - 1] = '\0';
    lower(name);
    long i = creds_match(s->creds, name);
    if (i >= 0)
        return gnutls_credentials_set(gs, GNUTLS_CRD_CERTIFICATE,
                                      s->creds->first[i]);
    return 0;
}

int ph_tls_session_new(struct ph_tls_server *srv, int fd,
                       struct ph_tls_session **s_r, char **error_r)
{
    *s_r = NULL;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        *error_r = ph_strdup_printf("tls: socket %d: %s", fd, strerror(errno));
        return -1;
    }
    struct ph_tls_session *s = ph_calloc(1, sizeof(*s));
    s->fd = fd;
    s->timeout_ms = -1;
    int r =
        gnutls_init(&s->gs, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
    if (r < 0) {
        *error_r = ph_strdup_printf("tls: cannot start a session: %s",
                                    gnutls_strerror(r));
        free(s);
        return -1;
    }
    atomic_fetch_add(&srv->refs, 1);
    s->srv = srv;
    s->creds = server_creds(srv);
    if ((r = gnutls_priority_set(s->gs, srv->prio)) < 0 ||
        (r = gnutls_credentials_set(s->gs, GNUTLS_CRD_CERTIFICATE,
                                    s->creds->all)) < 0 ||
        (r = gnutls_session_ticket_enable_server(s->gs, &srv->ticket_key)) <
            0) {
        *error_r = ph_strdup_printf("tls: cannot set up a session: %s",
                                    gnutls_strerror(r));
        ph_tls_session_free(&s);
        return -1;
    }
    gnutls_session_set_ptr(s->gs, s);
    if (s->creds->npairs > 1)
        gnutls_handshake_set_post_client_hello_function(s->gs, sni_hook);
    gnutls_transport_set_int(s->gs, fd);
    /* Time is kept here, with poll(); GnuTLS must never wait by itself. */
    gnutls_handshake_set_timeout(s->gs, 0);
    snprintf(s->error, sizeof(s->error), "no error");
    *s_r = s;
    return 0;
}

void ph_tls_session_free(struct ph_tls_session **sp)
{
    struct ph_tls_session *s = *sp;
    if (s == NULL)
        return;
    *sp = NULL;
    gnutls_deinit(s->gs);
    creds_unref(&s->creds);
    server_unref(&s->srv);
    free(s);
}

void ph_tls_set_timeout(struct ph_tls_session *s, int timeout_ms)
{
    s->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
}

void ph_tls_set_wait_hook(struct ph_tls_session *s, ph_tls_wait_hook *hook,
                          void *arg)
{
    s->wait_hook = hook;
    s->wait_arg = arg;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* The direction GnuTLS was interrupted in, as a WANT. */
static int want(struct ph_tls_session *s)
{
    return gnutls_record_get_direction(s->gs) == 1 ? PH_TLS_WANT_WRITE
                                                   : PH_TLS_WANT_READ;
}

static int wait_ready(struct ph_tls_session *s, int w, int64_t deadline)
{
    struct pollfd p = {.fd = s->fd,
                       .events = w == PH_TLS_WANT_WRITE ? POLLOUT : POLLIN};
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            ms = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
        }
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 0; /* ready, or an error GnuTLS will now report */
        if (r == 0) {
            set_error(s, "timed out");
            return PH_TLS_TIMEOUT;
        }
        if (errno != EINTR) {
            set_error(s, "poll: %s", strerror(errno));
            return PH_TLS_ERROR;
        }
    }
}

/* Waits until the socket is ready for what `w` wants, or the deadline; a
 * wait to write is announced to the wait hook. */
static int wait_fd(struct ph_tls_session *s, int w, int64_t deadline)
{
    bool hook = w == PH_TLS_WANT_WRITE && s->wait_hook != NULL;
    if (hook)
        s->wait_hook(s->wait_arg, true);
    int r = wait_ready(s, w, deadline);
    if (hook)
        s->wait_hook(s->wait_arg, false);
    return r;
}

static void handshake_done(struct ph_tls_session *s)
{
    size_t size = sizeof(s->sni);
    unsigned type;
    s->has_sni = gnutls_server_name_get(s->gs, s->sni, &size, &type, 0) == 0 &&
                 type == GNUTLS_NAME_DNS;
    if (!s->has_sni)
        s->sni[0] = '\0';
}

int ph_tls_handshake_nb(struct ph_tls_session *s)
{
    /* Warning alerts interrupt the handshake without ending it; a peer
     * that sends nothing else is cut off after a few. */
    for (int round = 0; round < 8; round++) {
        errno = 0;
        int r = gnutls_handshake(s->gs);
        int sys_errno = errno;
        if (r == 0) {
            handshake_done(s);
            return 0;
        }
        if (r == GNUTLS_E_AGAIN)
            return want(s);
        if (r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(r))
            continue;
        set_gnutls_error(s, "handshake", r, sys_errno);
        if (r != GNUTLS_E_FATAL_ALERT_RECEIVED &&
            r != GNUTLS_E_PREMATURE_TERMINATION && r != GNUTLS_E_PUSH_ERROR &&
            r != GNUTLS_E_PULL_ERROR)
            (void)gnutls_alert_send_appropriate(s->gs, r);
        return PH_TLS_ERROR;
    }
    set_error(s, "handshake: too many warning alerts");
    return PH_TLS_ERROR;
}

int ph_tls_handshake(struct ph_tls_session *s, int timeout_ms)
{
    int64_t deadline = deadline_after(timeout_ms);
    for (;;) {
        int r = ph_tls_handshake_nb(s);
        if (r != PH_TLS_WANT_READ && r != PH_TLS_WANT_WRITE)
            return r;
        if ((r = wait_fd(s, r, deadline)) < 0) {
            if (r == PH_TLS_TIMEOUT)
                set_error(s, "handshake: timed out");
            return r;
        }
    }
}

ssize_t ph_tls_read_nb(struct ph_tls_session *s, void *buf, size_t len)
{
    ph_assert(len > 0);
    for (int round = 0; round < 8; round++) {
        errno = 0;
        ssize_t r = gnutls_record_recv(s->gs, buf, len);
        int sys_errno = errno;
        if (r >= 0)
            return r;
        switch (r) {
        case GNUTLS_E_AGAIN: return want(s);
        case GNUTLS_E_INTERRUPTED: continue;
        /* IMAP frames its own data: a TCP close without close_notify
         * truncates nothing a command could rely on. */
        case GNUTLS_E_PREMATURE_TERMINATION: return 0;
        case GNUTLS_E_REHANDSHAKE:
            set_error(s, "read: the client asked for a renegotiation");
            return PH_TLS_ERROR;
        }
        if (!gnutls_error_is_fatal((int)r))
            continue;
        set_gnutls_error(s, "read", (int)r, sys_errno);
        return PH_TLS_ERROR;
    }
    set_error(s, "read: too many warning alerts");
    return PH_TLS_ERROR;
}

ssize_t ph_tls_read(struct ph_tls_session *s, void *buf, size_t len)
{
    int64_t deadline = deadline_after(s->timeout_ms);
    for (;;) {
        ssize_t r = ph_tls_read_nb(s, buf, len);
        if (r != PH_TLS_WANT_READ && r != PH_TLS_WANT_WRITE)
            return r;
        int w = wait_fd(s, (int)r, deadline);
        if (w < 0)
            return w;
    }
}

ssize_t ph_tls_write_nb(struct ph_tls_session *s, const void *buf, size_t len)
{
    for (;;) {
        errno = 0;
        ssize_t r = s->send_pending ? gnutls_record_send(s->gs, NULL, 0)
                                    : gnutls_record_send(s->gs, buf, len);
        int sys_errno = errno;
        if (r >= 0) {
            s->send_pending = false;
            return r;
        }
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            s->send_pending = true;
            if (r == GNUTLS_E_AGAIN)
                return want(s);
            continue;
        }
        set_gnutls_error(s, "write", (int)r, sys_errno);
        return PH_TLS_ERROR;
    }
}

int ph_tls_write_all(struct ph_tls_session *s, const void *buf, size_t len)
{
    const char *p = buf;
    int64_t deadline = deadline_after(s->timeout_ms);
    while (len > 0) {
        ssize_t r = ph_tls_write_nb(s, p, len);
        if (r > 0) {
            p += r;
            len -= (size_t)r;
            deadline = deadline_after(s->timeout_ms);
        } else if (r == PH_TLS_WANT_READ || r == PH_TLS_WANT_WRITE) {
            int w = wait_fd(s, (int)r, deadline);
            if (w < 0)
                return w;
        } else {
            if (r == 0)
                set_error(s, "write: no progress");
            return PH_TLS_ERROR;
        }
    }
    return 0;
}

size_t ph_tls_pending(struct ph_tls_session *s)
{
    return gnutls_record_check_pending(s->gs);
}

int ph_tls_bye(struct ph_tls_session *s)
{
    int64_t deadline = deadline_after(s->timeout_ms);
    for (;;) {
        errno = 0;
        int r = gnutls_bye(s->gs, GNUTLS_SHUT_WR);
        int sys_errno = errno;
        if (r == 0)
            return 0;
        if (r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r != GNUTLS_E_AGAIN) {
            set_gnutls_error(s, "bye", r, sys_errno);
            return PH_TLS_ERROR;
        }
        int w = wait_fd(s, want(s), deadline);
        if (w < 0)
            return w;
    }
}

const char *ph_tls_protocol(struct ph_tls_session *s)
{
    const char *name =
        gnutls_protocol_get_name(gnutls_protocol_get_version(s->gs));
    return name != NULL ? name : "unknown";
}

const char *ph_tls_cipher(struct ph_tls_session *s)
{
#if GNUTLS_VERSION_NUMBER >= 0x030703
    const char *name = gnutls_ciphersuite_get(s->gs);
#else
    const char *name = gnutls_cipher_get_name(gnutls_cipher_get(s->gs));
#endif
    return name != NULL ? name : "unknown";
}

const char *ph_tls_sni(struct ph_tls_session *s)
{
    return s->has_sni ? s->sni : NULL;
}

const char *ph_tls_error(const struct ph_tls_session *s)
{
    return s->error;
}
