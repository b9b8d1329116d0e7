/* SPDX-License-Identifier: MIT */
/* QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT and SETQUOTA.
 *
 * One quota root per account, named "User quota" as Dovecot names its
 * default one: RFC 9208 3.2 leaves the name to the server and has clients
 * treat it as opaque, and the name clients already meet (Thunderbird shows
 * it in a folder's Quota tab) beats the RFC examples' "". Every mailbox of
 * the account is under it, one that does not exist yet too (4.1.2). Limits
 * are the admin's (`posthorn accounts quota`): SETQUOTA is parsed and
 * refused with NOPERM, and QUOTASET is not advertised (4.1.3). */
#include <stdlib.h>
#include <string.h>

#include "imap-private.h"

#define QUOTA_ROOT "User quota"

/* RFC 9208 7: resource-limit and -usage are number64. */
#define NUMBER64_MAX ((uint64_t)INT64_MAX)

bool imap_quota_enabled(const struct imap_session *s)
{
    return ph_storage_has_quota(s->srv->conf->storage);
}

void imap_quota_capability_write(const struct imap_session *s,
                                 struct ph_buf *out)
{
    /* 3.1.1: each resource handled is advertised, with at least one. */
    if (imap_quota_enabled(s))
        ph_buf_puts(out, " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE "
                         "QUOTA=RES-MAILBOX");
}

/* The usage IMAP shows: STORAGE in units of 1024 octets (5.1), rounded
 * up for the usage and down for the limit, so that a full quota shows
 * full. */
static uint64_t shown(int r, uint64_t v, bool limit)
{
    if (r != PH_QUOTA_STORAGE)
        return v;
    return limit ? v / 1024 : v / 1024 + (v % 1024 != 0);
}

/* "* QUOTA root (...)": the resources that have a limit (4.2.1: "Resources
 * not named in the list are not limited"; none: an empty list). */
static void quota_write(struct imap_session *s, const struct ph_quota *q)
{
    ph_buf_puts(&s->out, "* QUOTA ");
    ph_imap_write_astring(&s->out, QUOTA_ROOT, strlen(QUOTA_ROOT));
    ph_buf_puts(&s->out, " (");
    bool first = true;
    for (int r = 0; r < PH_QUOTA_N; r++) {
        if (q->limit[r] == PH_QUOTA_UNLIMITED)
            continue;
        uint64_t usage = shown(r, q->usage[r], false);
        uint64_t limit = shown(r, q->limit[r], true);
        ph_buf_printf(
            &s->out, "%s%s %llu %llu", first ? "" : " ",
            ph_quota_resource_names[r],
            (unsigned long long)(usage > NUMBER64_MAX ? NUMBER64_MAX : usage),
            (unsigned long long)(limit > NUMBER64_MAX ? NUMBER64_MAX : limit));
        first = false;
    }
    ph_buf_puts(&s->out, ")\r\n");
}

/* The account's quota read now; false after a tagged NO. */
static bool quota_read(struct imap_session *s, struct ph_quota *q)
{
    const char *err;
    int r = ph_account_quota(s->acct, q, &err);
    if (r < 0) {
        imap_storage_no(s, r, err);
        return false;
    }
    return true;
}

/* The quota root argument: false after a tagged BAD or NO. */
static bool root_arg(struct imap_session *s, const struct ph_imap_value *v)
{
    const char *root;
    if (!ph_imap_value_get_astring(v, &root)) {
        imap_tagged(s, "BAD", "The quota root is an astring");
        return false;
    }
    if (strcmp(root, QUOTA_ROOT) != 0) {
        imap_tagged(s, "NO", "[NONEXISTENT] No such quota root");
        return false;
    }
    return true;
}

static bool quota_refused(struct imap_session *s, const char *what)
{
    if (imap_quota_enabled(s))
        return false;
    imap_tagged(s, "BAD", "Unknown command %s", what);
    return true;
}

void imap_cmd_getquota(struct imap_session *s, const struct ph_imap_value *args,
                       size_t n)
{
    struct ph_quota q;
    if (quota_refused(s, "GETQUOTA"))
        return;
    if (n != 1) {
        imap_tagged(s, "BAD", "GETQUOTA takes a quota root");
        return;
    }
    if (!root_arg(s, &args[0]) || !quota_read(s, &q))
        return;
    quota_write(s, &q);
    imap_tagged(s, "OK", "GETQUOTA completed");
}

void imap_cmd_getquotaroot(struct imap_session *s,
                           const struct ph_imap_value *args, size_t n)
{
    struct ph_quota q;
    const char *raw;
    if (quota_refused(s, "GETQUOTAROOT"))
        return;
    if (n != 1 || !ph_imap_value_get_astring(&args[0], &raw)) {
        imap_tagged(s, "BAD", "GETQUOTAROOT takes a mailbox name");
        return;
    }
    /* The name must be a valid one, but the mailbox need not exist. */
    char *name = imap_mailbox_arg_new(s, &args[0]);
    if (name == NULL)
        return;
    free(name);
    if (!quota_read(s, &q))
        return;
    /* 4.2.2: the mailbox as the client named it, then its roots. */
    ph_buf_puts(&s->out, "* QUOTAROOT ");
    ph_imap_write_astring(&s->out, raw, strlen(raw));
    ph_buf_puts(&s->out, " ");
    ph_imap_write_astring(&s->out, QUOTA_ROOT, strlen(QUOTA_ROOT));
    ph_buf_puts(&s->out, "\r\n");
    quota_write(s, &q);
    imap_tagged(s, "OK", "GETQUOTAROOT completed");
}

/* setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")",
 * setquota-resource = resource-name SP resource-limit (7). */
static bool setquota_list_valid(const struct ph_imap_value *v)
{
    const struct ph_imap_value *it;
    size_t n;
    uint64_t limit;
    const char *atom;
    if (!ph_imap_value_get_list(v, &it, &n) || n % 2 != 0)
        return false;
    for (size_t i = 0; i < n; i += 2)
        if (!ph_imap_value_get_atom(&it[i], &atom) ||
            !ph_imap_value_get_number(&it[i + 1], NUMBER64_MAX, &limit))
            return false;
    return true;
}

void imap_cmd_setquota(struct imap_session *s, const struct ph_imap_value *args,
                       size_t n)
{
    const char *root;
    if (quota_refused(s, "SETQUOTA"))
        return;
    if (n != 2 || !ph_imap_value_get_astring(&args[0], &root) ||
        !setquota_list_valid(&args[1])) {
        imap_tagged(s, "BAD",
                    "SETQUOTA takes a quota root and a list of "
                    "resource limits");
        return;
    }
    /* 4.1.3: "NO - setquota error: can't set that data". */
    imap_tagged(s, "NO", "[NOPERM] Quota limits are set by the administrator");
}
