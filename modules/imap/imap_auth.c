/* SPDX-License-Identifier: MIT */
/* LOGIN, AUTHENTICATE (PLAIN, LOGIN), STARTTLS, and the login pipeline:
 *   normalize -> auth_map -> auth providers (first OK wins);
 *   original name -> storage normalize -> storage_map -> storage account.
 * Each mechanism maps the name exactly once. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/auth.h>
#include <posthorn/base64.h>
#include <posthorn/table.h>

#include <posthorn/event.h>

#include "imap-private.h"

enum login_result {
    LOGIN_OK,
    LOGIN_FAILED, /* [AUTHENTICATIONFAILED] */
    LOGIN_TEMP,   /* [UNAVAILABLE] */
};

/* Strict base64 as SASL wants it. -1 on bad input. */
static int b64_decode(const char *in, size_t len, struct ph_buf *out)
{
    size_t cap = PH_BASE64_DECODED_MAX(len), n = cap;
    char *tmp = ph_malloc(cap + 1);
    const char *err;
    int r = ph_base64_decode(in, len, tmp, &n, &err);
    if (r == 0)
        ph_buf_append(out, tmp, n);
    memset(tmp, 0, cap);
    free(tmp);
    return r < 0 ? -1 : 0;
}

/* The login event: its log line, and what openmetrics counts (result and
 * mechanism; never the user). */
static void log_login(struct imap_session *s, const char *mech,
                      const char *user, bool ok, const char *reason)
{
    if (ok)
        PH_EVENT(true, PH_LOG_INFO, "imap", "login", PH_EV_STR("result", "ok"),
                 PH_EV_STR("user", user ? user : ""),
                 PH_EV_STR("client", s->addr), PH_EV_STR("mech", mech));
    else
        PH_EVENT(true, PH_LOG_WARN, "imap", "login",
                 PH_EV_STR("result", "failed"),
                 PH_EV_STR("user", user ? user : ""),
                 PH_EV_STR("client", s->addr), PH_EV_STR("mech", mech),
                 PH_EV_STR("reason", reason ? reason : ""));
}

/* Maps name through normalize + table. 0 with *out_r, or a login_result. */
static enum login_result map_name(ph_normalize_fn *norm,
                                  struct ph_instance *table, const char *name,
                                  const char *what, char **out_r,
                                  char **reason_r)
{
    char *n;
    const char *err;
    if (norm(name, &n, &err) < 0) {
        *reason_r = ph_strdup_printf("%s normalize: %s", what, err);
        return LOGIN_FAILED;
    }
    struct ph_strlist vals = {0};
    enum ph_lookup r = ph_table_lookup(table, n, &vals, &err);
    free(n);
    if (r == PH_LOOKUP_NOT_FOUND) {
        ph_strlist_clear(&vals);
        *reason_r = ph_strdup_printf("%s: no entry", what);
        return LOGIN_FAILED;
    }
    if (r == PH_LOOKUP_TEMPFAIL) {
        ph_strlist_clear(&vals);
        *reason_r = ph_strdup_printf("%s: %s", what, err);
        return LOGIN_TEMP;
    }
    *out_r = ph_strdup(vals.v[0]);
    ph_strlist_clear(&vals);
    return LOGIN_OK;
}

static int64_t fail_delay(struct imap_session *s, bool failed)
{
    struct imap_server *srv = s->srv;
    int64_t now = imap_now_ms(), delay = 0;
    pthread_mutex_lock(&srv->fail_lock);
    struct imap_fail *slot = NULL, *victim = NULL;
    for (size_t i = 0; i < PH_N_ELEMENTS(srv->fails); i++) {
        struct imap_fail *f = &srv->fails[i];
        if (f->count > 0 && now - f->last_ms > 10 * 60 * 1000)
            f->count = 0;
        if (f->count > 0 && strcmp(f->addr, s->addr) == 0)
            slot = f;
        if (f->count == 0) {
            if (victim == NULL || victim->count > 0)
                victim = f;
        } else if (victim == NULL ||
                   (victim->count > 0 && f->last_ms < victim->last_ms)) {
            victim = f;
        }
    }
    if (failed) {
        if (slot == NULL) {
            slot = victim;
            snprintf(slot->addr, sizeof(slot->addr), "%s", s->addr);
            slot->count = 0;
        }
        slot->count++;
        slot->last_ms = now;
        unsigned shift = slot->count - 1 > 4 ? 4 : slot->count - 1;
        delay = srv->conf->auth_fail_delay << shift;
    } else if (slot) {
        slot->count = 0;
    }
    pthread_mutex_unlock(&srv->fail_lock);
    return delay;
}

static void login_finish(struct imap_session *s, const char *mech,
                         const char *user, const char *password)
{
    const struct imap_conf *c = s->srv->conf;
    char *reason = NULL, *mapped = NULL, *acctname = NULL;
    const char *err;
    enum login_result res = map_name(s->srv->auth_normalize, c->auth_map, user,
                                     "auth_map", &mapped, &reason);
    if (res == LOGIN_OK) {
        res = LOGIN_FAILED;
        for (size_t i = 0; i < c->auth.n; i++) {
            enum ph_auth_result a =
                ph_auth_check(c->auth.v[i], mapped, password, &err);
            if (a == PH_AUTH_OK) {
                res = LOGIN_OK;
                break;
            }
            free(reason);
            reason = ph_strdup_printf("%s: %s", ph_instance_name(c->auth.v[i]),
                                      err ? err : "failed");
            if (a == PH_AUTH_TEMPFAIL)
                res = LOGIN_TEMP;
        }
        if (c->auth.n == 0)
            reason = ph_strdup("no auth provider");
    }
    if (res == LOGIN_OK)
        res = map_name(s->srv->storage_normalize, c->storage_map, user,
                       "storage_map", &acctname, &reason);
    if (res == LOGIN_OK) {
        int r =
            ph_storage_account_get(c->storage, acctname, true, &s->acct, &err);
        if (r < 0) {
            reason = ph_strdup_printf("storage: %s", err);
            res = r == PH_STORAGE_ERR_TEMP ? LOGIN_TEMP : LOGIN_FAILED;
        }
    }
    if (res == LOGIN_OK && !imap_reactor_login(s, acctname)) {
        /* The password was right: no failure delay, no failure count. */
        char why[80];
        snprintf(why, sizeof(why), "max_user_connections_per_ip (%lld) reached",
                 (long long)c->max_user_connections_per_ip);
        PH_EVENT(true, PH_LOG_WARN, "imap", "login",
                 PH_EV_STR("result", "refused"), PH_EV_STR("user", user),
                 PH_EV_STR("client", s->addr), PH_EV_STR("mech", mech),
                 PH_EV_STR("reason", why));
        ph_account_release(&s->acct);
        imap_tagged(s, "NO",
                    "[LIMIT] Too many connections of this user from this "
                    "address (max_user_connections_per_ip %lld)",
                    (long long)c->max_user_connections_per_ip);
        free(reason);
        free(mapped);
        free(acctname);
        return;
    }
    log_login(s, mech, user, res == LOGIN_OK, reason);
    if (res == LOGIN_OK) {
        (void)fail_delay(s, false);
        s->state = IMAP_STATE_AUTH;
        s->user = ph_strdup(user);
        ph_buf_printf(&s->out, "%s OK [CAPABILITY ", s->tag);
        imap_capability_write(s, &s->out);
        ph_buf_puts(&s->out, "] Logged in\r\n");
    } else if (res == LOGIN_TEMP) {
        imap_tagged(
            s, "NO",
            "[UNAVAILABLE] Authentication is unavailable, try again later");
    } else {
        int64_t d = fail_delay(s, true);
        bool last = ++s->auth_failures >= (unsigned)c->max_auth_failures;
        char *reply = ph_strdup_printf(
            "%s NO [AUTHENTICATIONFAILED] Authentication failed\r\n%s", s->tag,
            last ? "* BYE Too many authentication failures\r\n" : "");
        if (last)
            s->closing = true;
        if (d > 0) {
            /* The session parks until then; no worker sleeps. */
            s->resume_at_ms = imap_now_ms() + d;
            s->delayed_reply = reply;
        } else {
            ph_buf_puts(&s->out, reply);
            free(reply);
        }
    }
    free(reason);
    free(mapped);
    free(acctname);
}

const char *imap_plaintext_refusal(struct imap_session *s, const char *mech)
{
    if (s->tls || s->srv->insecure_auth)
        return NULL;
    PH_EVENT(true, PH_LOG_WARN, "imap", "login", PH_EV_STR("result", "refused"),
             PH_EV_STR("client", s->addr), PH_EV_STR("mech", mech),
             PH_EV_STR("reason", "plaintext authentication without TLS is "
                                 "disabled (insecure_auth no)"));
    return "[PRIVACYREQUIRED] Plaintext authentication is disabled: "
           "use STARTTLS or a TLS port first";
}

static bool plaintext_allowed(struct imap_session *s, const char *mech)
{
    const char *refusal = imap_plaintext_refusal(s, mech);
    if (refusal != NULL)
        imap_tagged(s, "NO", "%s", refusal);
    return refusal == NULL;
}

void imap_cmd_login(struct imap_session *s, const struct ph_imap_value *args,
                    size_t n)
{
    const char *user, *pass;
    if (n != 2 || !ph_imap_value_get_astring(&args[0], &user) ||
        !ph_imap_value_get_astring(&args[1], &pass)) {
        imap_tagged(s, "BAD", "LOGIN takes a user name and a password");
        return;
    }
    if (!plaintext_allowed(s, "LOGIN"))
        return;
    login_finish(s, "LOGIN", user, pass);
}

/* Sends "+ challenge" and waits, parked, for the client's response line:
 * it arrives in imap_sasl_line. */
static void sasl_challenge(struct imap_session *s, int step,
                           const char *challenge)
{
    ph_buf_printf(&s->out, "+ %s\r\n", challenge);
    s->sasl_step = step;
    s->io_in_sasl = true;
    ph_imap_parser_line_mode(s->parser);
}

static void sasl_end(struct imap_session *s)
{
    s->sasl_step = IMAP_SASL_NONE;
    s->io_in_sasl = false;
    s->io_mask_next = false;
    if (s->sasl_user.data)
        memset(s->sasl_user.data, 0, s->sasl_user.len);
    ph_buf_free(&s->sasl_user);
}

/* PLAIN's message (RFC 4616): authzid NUL authcid NUL passwd. */
static void sasl_plain(struct imap_session *s, const struct ph_buf *a)
{
    const char *p1 = a->len ? memchr(a->data, '\0', a->len) : NULL;
    const char *p2 =
        p1 ? memchr(p1 + 1, '\0', a->len - (size_t)(p1 + 1 - a->data)) : NULL;
    if (p2 == NULL ||
        memchr(p2 + 1, '\0', a->len - (size_t)(p2 + 1 - a->data))) {
        imap_tagged(s, "BAD", "Malformed PLAIN response");
    } else if (p1 != a->data && strcmp(a->data, p1 + 1) != 0) {
        log_login(s, "PLAIN", p1 + 1, false, "authorization identity differs");
        imap_tagged(s, "NO",
                    "[AUTHORIZATIONFAILED] Cannot log in as another user");
    } else {
        login_finish(s, "PLAIN", p1 + 1, p2 + 1);
    }
}

static bool has_nul(const struct ph_buf *b)
{
    return b->len && memchr(b->data, '\0', b->len) != NULL;
}

/* One decoded SASL response for the current step. */
static void sasl_step(struct imap_session *s, int step, struct ph_buf *a)
{
    switch (step) {
    case IMAP_SASL_PLAIN:
        sasl_end(s);
        sasl_plain(s, a);
        break;
    case IMAP_SASL_LOGIN_USER:
        if (has_nul(a)) {
            sasl_end(s);
            imap_tagged(s, "BAD", "Malformed LOGIN response");
            break;
        }
        ph_buf_free(&s->sasl_user);
        ph_buf_append(&s->sasl_user, a->data ? a->data : "", a->len);
        sasl_challenge(s, IMAP_SASL_LOGIN_PASS, "UGFzc3dvcmQ6");
        break;
    case IMAP_SASL_LOGIN_PASS: {
        if (has_nul(a)) {
            sasl_end(s);
            imap_tagged(s, "BAD", "Malformed LOGIN response");
            break;
        }
        char *user = ph_strndup(s->sasl_user.data ? s->sasl_user.data : "",
                                s->sasl_user.len);
        sasl_end(s);
        login_finish(s, "LOGIN", user, a->data ? a->data : "");
        free(user);
        break;
    }
    }
}

void imap_sasl_line(struct imap_session *s, const char *line, size_t len)
{
    int step = s->sasl_step;
    struct ph_buf a = {0};
    if (line == NULL) {
        sasl_end(s);
        imap_tagged(s, "BAD", "SASL response too long");
    } else if (len == 1 && line[0] == '*') {
        sasl_end(s);
        imap_tagged(s, "BAD", "Authentication cancelled");
    } else if (b64_decode(line, len, &a) < 0) {
        sasl_end(s);
        imap_tagged(s, "BAD", "Invalid base64 in the SASL response");
    } else {
        ph_buf_putc(&a, '\0');
        a.len--;
        sasl_step(s, step, &a);
    }
    if (a.data)
        memset(a.data, 0, a.len);
    ph_buf_free(&a);
}

void imap_cmd_authenticate(struct imap_session *s,
                           const struct ph_imap_value *args, size_t n)
{
    const char *mech, *ir = NULL;
    if (n < 1 || n > 2 || !ph_imap_value_get_atom(&args[0], &mech) ||
        (n == 2 && !ph_imap_value_get_atom(&args[1], &ir))) {
        imap_tagged(s, "BAD",
                    "AUTHENTICATE takes a mechanism and an initial response");
        return;
    }
    bool plain = strcasecmp(mech, "PLAIN") == 0;
    bool login = strcasecmp(mech, "LOGIN") == 0 && s->srv->conf->sasl_login;
    if (!plain && !login) {
        imap_tagged(s, "NO", "Unsupported authentication mechanism");
        return;
    }
    if (!plaintext_allowed(s, plain ? "PLAIN" : "LOGIN"))
        return;
    int step = plain ? IMAP_SASL_PLAIN : IMAP_SASL_LOGIN_USER;
    if (ir == NULL) {
        sasl_challenge(s, step, plain ? "" : "VXNlcm5hbWU6");
        return;
    }
    /* SASL-IR (RFC 4959): "=" is an empty initial response. */
    struct ph_buf a = {0};
    if (strcmp(ir, "=") != 0 && b64_decode(ir, strlen(ir), &a) < 0) {
        imap_tagged(s, "BAD", "Invalid base64 in the SASL response");
    } else {
        ph_buf_putc(&a, '\0');
        a.len--;
        sasl_step(s, step, &a);
    }
    if (a.data)
        memset(a.data, 0, a.len);
    ph_buf_free(&a);
}

void imap_cmd_starttls(struct imap_session *s, const struct ph_imap_value *args,
                       size_t n)
{
    (void)args;
    if (n != 0) {
        imap_tagged(s, "BAD", "STARTTLS takes no arguments");
        return;
    }
    if (s->tls) {
        imap_tagged(s, "BAD", "TLS is already active");
        return;
    }
    if (s->srv->tls_srv == NULL) {
        imap_tagged(s, "NO", "TLS is not available");
        return;
    }
    imap_tagged(s, "OK", "Begin TLS negotiation now");
    if (imap_flush(s) < 0)
        return;
    /* What the client pipelined after STARTTLS came in the clear: drop it
     * (the STARTTLS command injection bug). */
    s->inpos = s->inlen;
    ph_imap_parser_reset(s->parser);
    s->starttls_pending = true;
}
