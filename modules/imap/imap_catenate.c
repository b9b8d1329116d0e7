/* SPDX-License-Identifier: MIT */
/* CATENATE's URL parts (RFC 4469 3): IMAP URLs (RFC 5092) naming a
 * message or a section of one in the session's own account, resolved
 * against the base "imap://user@server/" (with the selected mailbox:
 * "imap://user@server/mailbox"). Accepted forms, as RFC 5092 section 11
 * writes them:
 *   imap://user[;AUTH=x]@host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n
 *       [/;SECTION=s][/;PARTIAL=o[.l]]      (the same user, this host)
 *   //user@host/...                         (inetwork-path: the same)
 *   /mailbox[;UIDVALIDITY=n]/;UID=n[...]    (iabsolute-path)
 *   ;UID=n[/;SECTION=s][...]                (the selected mailbox's)
 * Anything else, and every URL that names nothing here, is NO [BADURL].
 * A mailbox-relative path ("Sent/;UID=1") is refused: RFC 5092 7.2
 * "Implementations MUST NOT generate or accept relative-path IMAP
 * references" beyond the ";UID=" form RFC 5092 9.1 shows. URLAUTH (RFC
 * 4467, ";URLAUTH=" and ";EXPIRE=") is not offered: such a URL is a
 * BADURL, as one of another user. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <posthorn/message.h>

#include "imap-private.h"

struct imap_url {
    bool server;          /* named a server: user and host were checked */
    char *mailbox;        /* UTF-8; NULL: the selected mailbox */
    uint32_t uidvalidity; /* 0: none given */
    uint32_t uid;
    char *section; /* NULL: the whole message */
    bool partial;
    uint64_t start, count;
};

static void url_clear(struct imap_url *u)
{
    free(u->mailbox);
    free(u->section);
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [p, p + len) (RFC 3986 2.1). NULL for a bad escape, a
 * NUL, or a byte no URL holds as it is (controls, space, 8-bit). */
static char *pct_decode(const char *p, size_t len)
{
    struct ph_buf out = {0};
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex(p[i + 1]) : -1;
            int lo = i + 2 < len ? hex(p[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                goto bad;
            ph_buf_putc(&out, (char)(hi * 16 + lo));
            i += 2;
        } else if (c <= 0x20 || c >= 0x7f) {
            goto bad;
        } else {
            ph_buf_putc(&out, (char)c);
        }
    }
    if (out.data == NULL)
        ph_buf_putc(&out, '\0'), out.len = 0;
    return ph_buf_steal(&out);
bad:
    ph_buf_free(&out);
    return NULL;
}

/* "NAME=" at p, case-insensitively (RFC 5092 11: "Strings are not case
 * sensitive"): the text after it. */
static const char *param(const char *p, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(p, name, n) == 0 ? p + n : NULL;
}

/* A number of at most max at *p (nz: not 0), *p moved past it. */
static bool number(const char **p, uint64_t max, bool nz, uint64_t *v_r)
{
    const char *q = *p;
    uint64_t v = 0;
    if (*q < '0' || *q > '9' || (nz && *q == '0'))
        return false;
    for (; *q >= '0' && *q <= '9'; q++) {
        if (v > (max - (uint64_t)(*q - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    *p = q;
    *v_r = v;
    return nz ? v > 0 : true;
}

/* The host part names this server: its hostname, or the address the
 * client reached; a port, when given, is the one it reached. */
static bool host_is_here(struct imap_session *s, const char *host, size_t len,
                         const char *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[INET6_ADDRSTRLEN + 2] = "";
    unsigned local_port = 0;
    if (getsockname(s->fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *in = (const void *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
            local_port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const void *)&ss;
            addr[0] = '[';
            inet_ntop(AF_INET6, &in6->sin6_addr, addr + 1, sizeof(addr) - 2);
            strcat(addr, "]");
            local_port = ntohs(in6->sin6_port);
        }
    }
    const char *name = ph_global_hostname();
    bool same =
        (name && strlen(name) == len && strncasecmp(name, host, len) == 0) ||
        (addr[0] && strlen(addr) == len && strncasecmp(addr, host, len) == 0);
    if (!same || port == NULL)
        return same;
    uint64_t v;
    return number(&port, 65535, true, &v) && *port == '\0' && v == local_port;
}

/* iserver = [iuserinfo "@"] host [":" port]: the user must be the one
 * logged in (RFC 5092 3.1: the user is the naming scope). */
static bool server_is_ours(struct imap_session *s, const char *p, size_t len)
{
    char *server = ph_strndup(p, len);
    char *at = strchr(server, '@');
    bool ok = false;
    if (at != NULL) {
        *at = '\0';
        char *semi = strchr(server, ';'); /* ;AUTH=...: how, not who */
        if (semi != NULL && param(semi, ";AUTH=") == NULL)
            goto out;
        char *user =
            pct_decode(server, semi ? (size_t)(semi - server) : strlen(server));
        bool same_user =
            user != NULL && user[0] != '\0' &&
            ((s->user && strcmp(user, s->user) == 0) ||
             (s->acct && strcmp(user, ph_account_name(s->acct)) == 0));
        free(user);
        char *host = at + 1, *port = NULL;
        char *end = host[0] == '[' ? strchr(host, ']') : host;
        if (end != NULL && (port = strchr(end, ':')) != NULL)
            *port++ = '\0';
        ok = same_user && host[0] != '\0' &&
             host_is_here(s, host, strlen(host), port);
    }
out:
    free(server);
    return ok;
}

/* Parses url against the session's base. NULL, or the reason it is bad. */
static const char *url_parse(struct imap_session *s, const char *url,
                             struct imap_url *u)
{
    memset(u, 0, sizeof(*u));
    const char *p = url, *rest;
    if ((rest = param(p, "imap://")) != NULL || strncmp(p, "//", 2) == 0) {
        p = rest ? rest : p + 2;
        size_t len = strcspn(p, "/?#");
        if (!server_is_ours(s, p, len))
            return "The URL names another user or server";
        u->server = true;
        p += len;
        if (*p != '/')
            return "The URL names no message";
    }
    if (*p == '/') {
        /* imailbox-ref "/" iuid: enc-mailbox holds no ';' (RFC 5092 11:
         * achar), so the first "/;" ends it. */
        p++;
        const char *end = strstr(p, "/;");
        if (end == NULL)
            return "The URL names no message";
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *name_end = semi ? semi : end;
        if (name_end == p)
            return "The URL names no mailbox";
        char *name = pct_decode(p, (size_t)(name_end - p));
        if (name == NULL)
            return "Bad percent-encoding in the mailbox name";
        u->mailbox = name;
        if (semi != NULL) {
            const char *q = param(semi, ";UIDVALIDITY=");
            uint64_t v;
            if (q == NULL || !number(&q, UINT32_MAX, true, &v) || q != end)
                return "Bad UIDVALIDITY in the URL";
            u->uidvalidity = (uint32_t)v;
        }
        p = end + 1;
    } else if (s->mb == NULL) {
        /* The base is "imap://user@server/": no mailbox to be relative
         * to outside the selected state (RFC 4469 3). */
        return "A relative URL needs a selected mailbox";
    }
    uint64_t v;
    const char *q = param(p, ";UID=");
    if (q == NULL)
        return "The URL names no message (;UID=)";
    if (!number(&q, UINT32_MAX, true, &v))
        return "Bad UID in the URL";
    u->uid = (uint32_t)v;
    p = q;
    if (*p == '/' && (q = param(p, "/;SECTION=")) != NULL) {
        const char *end = strstr(q, "/;");
        size_t len = end ? (size_t)(end - q) : strlen(q);
        if (len == 0 || memchr(q, ';', len) != NULL)
            return "Bad section in the URL";
        if ((u->section = pct_decode(q, len)) == NULL)
            return "Bad percent-encoding in the section";
        p = q + len;
    }
    if (*p == '/' && (q = param(p, "/;PARTIAL=")) != NULL) {
        u->partial = true;
        if (!number(&q, UINT64_MAX, false, &u->start))
            return "Bad PARTIAL in the URL";
        u->count = UINT64_MAX;
        if (*q == '.' && (q++, !number(&q, UINT64_MAX, true, &u->count)))
            return "Bad PARTIAL in the URL";
        p = q;
    }
    for (const char *t = p; *t; t++)
        if (param(t, ";URLAUTH=") || param(t, ";EXPIRE="))
            return "URLAUTH is not supported";
    return *p ? "Unexpected text at the end of the URL" : NULL;
}

/* Opens the mailbox a URL names (read-only, as EXAMINE: nothing of it
 * changes, \Seen least of all, RFC 4469 3). The name is UTF-8 (RFC 5092
 * 8); a name that does not exist so but reads as modified UTF-7, as
 * clients of RFC 2192's time copied IMAP's names, is tried so. */
static int url_mailbox(struct imap_session *s, const struct imap_url *u,
                       struct ph_mailbox **mb_r, bool *own_r,
                       const char **error_r)
{
    *own_r = false;
    if (u->mailbox == NULL ||
        (s->mb != NULL && strcmp(u->mailbox, ph_mailbox_name(s->mb)) == 0)) {
        *mb_r = s->mb;
        return 0;
    }
    struct ph_buf check = {0};
    int r =
        ph_imap_utf8_to_mutf7(u->mailbox, strlen(u->mailbox), &check, error_r);
    ph_buf_free(&check);
    if (r < 0)
        return PH_STORAGE_ERR_NOT_FOUND;
    r = ph_mailbox_open(s->acct, u->mailbox, true, mb_r, error_r);
    if (r == PH_STORAGE_ERR_NOT_FOUND && strchr(u->mailbox, '&') != NULL) {
        struct ph_buf utf8 = {0};
        const char *err;
        if (ph_imap_mutf7_to_utf8(u->mailbox, strlen(u->mailbox), &utf8,
                                  &err) == 0 &&
            strcmp(utf8.data, u->mailbox) != 0)
            r = ph_mailbox_open(s->acct, utf8.data, true, mb_r, error_r);
        ph_buf_free(&utf8);
    }
    *own_r = r == 0;
    return r;
}

struct copy_ctx {
    struct ph_append *app;
    int err;
    const char *error;
};

static int copy_cb(void *arg, const void *data, size_t len)
{
    struct copy_ctx *c = arg;
    c->err = ph_append_write(c->app, data, len, &c->error);
    return c->err < 0 ? -1 : 0;
}

/* The text of BADURL: RFC 4469 5's url-resp-text is TEXT-CHARs but "]";
 * other bytes are percent-encoded (the same URL). */
static char *badurl(const char *url, const char *why)
{
    struct ph_buf b = {0};
    ph_buf_puts(&b, "[BADURL ");
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p == ']' || *p < 0x20 || *p >= 0x7f)
            ph_buf_printf(&b, "%%%02X", *p);
        else
            ph_buf_putc(&b, (char)*p);
    }
    ph_buf_printf(&b, "] %s", why);
    return ph_buf_steal(&b);
}

int imap_catenate_url(struct imap_session *s, const char *url,
                      struct ph_append *app, uint64_t *written, uint64_t limit,
                      const char **status_r, char **text_r)
{
    *status_r = "NO";
    *text_r = NULL;
    struct imap_url u;
    const char *why = url_parse(s, url, &u);
    struct ph_mailbox *mb = NULL;
    bool own = false;
    struct ph_meta_list list = {0};
    struct ph_message_section sec = {0};
    bool have_sec = false;
    struct ph_buf made = {0};
    const char *err;
    int r = 0;
    if (why == NULL) {
        r = url_mailbox(s, &u, &mb, &own, &err);
        if (r == PH_STORAGE_ERR_TEMP || r == PH_STORAGE_ERR_CORRUPTED) {
            *text_r = ph_strdup_printf("[%s] %s", ph_storage_err_code(r), err);
            goto out;
        }
        if (r < 0)
            why = "No such mailbox";
        else if (u.uidvalidity && u.uidvalidity != ph_mailbox_uidvalidity(mb))
            /* RFC 5092 5: a stale URL, as if the mailbox did not exist. */
            why = "The mailbox's UIDVALIDITY has changed";
    }
    if (why == NULL) {
        struct ph_uidset set = {0};
        ph_uidset_add(&set, u.uid);
        r = ph_mailbox_fetch(mb, &set, PH_META_INFO, ph_meta_list_add, &list,
                             &err);
        ph_uidset_clear(&set);
        if (r < 0) {
            *text_r = ph_strdup_printf("[%s] %s", ph_storage_err_code(r), err);
            goto out;
        }
        if (list.n == 0)
            why = "No such message";
    }
    if (why == NULL) {
        const char *spec = u.section ? u.section : "";
        if (ph_message_section_parse(spec, strlen(spec), &sec, &err) < 0)
            why = "Bad section in the URL";
        else
            have_sec = true;
    }
    uint64_t off = 0, size = 0;
    if (why == NULL) {
        struct ph_message_info *info = NULL;
        const struct ph_meta_copy *m = &list.v[0];
        if (m->info != NULL &&
            ph_message_info_deserialize(m->info, m->info_size, &info, &err) < 0)
            info = NULL;
        r = imap_section_get(mb, u.uid, m->size, info, &sec, u.partial, u.start,
                             u.count, &off, &size, &made, &err);
        ph_message_info_free(&info);
        if (r == 1)
            why = "No such section in the message";
        else if (r == PH_STORAGE_ERR_NOT_FOUND)
            why = "No such message";
        else if (r < 0) {
            *text_r = ph_strdup_printf("[%s] %s", ph_storage_err_code(r), err);
            goto out;
        }
    }
    if (why != NULL) {
        *text_r = badurl(url, why);
        r = -1;
        goto out;
    }
    if (size > limit - *written) {
        /* RFC 4469 4.2: the message made would be over the limit. */
        *text_r = ph_strdup_printf(
            "[TOOBIG] The message made is larger than the limit of %llu "
            "bytes",
            (unsigned long long)limit);
        r = -1;
        goto out;
    }
    /* The bytes FETCH BODY.PEEK[section]<partial> sends (RFC 5092 6). */
    struct copy_ctx c = {.app = app};
    if (size == 0)
        r = 0;
    else if (made.data != NULL)
        c.err = ph_append_write(app, made.data + off, (size_t)size, &c.error);
    else
        r = ph_mailbox_read(mb, u.uid, off, size, copy_cb, &c, &err);
    if (c.err < 0) {
        r = c.err;
        *text_r = ph_strdup_printf("[%s] %s",
                                   c.err == PH_STORAGE_ERR_LIMIT
                                       ? "TOOBIG"
                                       : ph_storage_err_code(c.err),
                                   c.error);
    } else if (r == PH_STORAGE_ERR_NOT_FOUND) {
        /* Expunged while it was read. */
        *text_r = badurl(url, "No such message");
    } else if (r < 0) {
        *text_r = ph_strdup_printf("[%s] %s", ph_storage_err_code(r), err);
    } else {
        *written += size;
    }
out:
    if (r < 0 && *text_r == NULL)
        *text_r = ph_strdup("[SERVERBUG] Cannot read the URL's data");
    ph_buf_free(&made);
    if (have_sec)
        ph_message_section_clear(&sec);
    ph_meta_list_free(&list);
    if (own)
        ph_mailbox_close(&mb);
    url_clear(&u);
    return r < 0 ? -1 : 0;
}
