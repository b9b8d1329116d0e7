/* SPDX-License-Identifier: MIT */
/* The storage contract: what every storage module does, exercised through
 * the caller API of <posthorn/storage.h> only (no SQL, no module files).
 *
 *   test_contract CONFIG_FILE INSTANCE_NAME
 *
 * loads CONFIG_FILE and runs every test against the storage instance
 * INSTANCE_NAME. When the config also defines INSTANCE_NAME_limits (with
 * `auto_create no` and `appendlimit 1M`), the tests of those settings run
 * against it; otherwise they are skipped. INSTANCE_NAME_limits also says
 * `default_mailboxes none`; INSTANCE_NAME_defaults, when defined, says
 * `default_mailboxes archive=Old.Archive Lists`; INSTANCE_NAME_pending,
 * `text_index_wait 1h` over a database of its own (new texts stay out of
 * the text index). Tests share one database, so each works in accounts of
 * its own. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <posthorn/imap-search.h>
#include <posthorn/message.h>
#include <posthorn/module.h>
#include <posthorn/sort.h>
#include <posthorn/storage.h>

#include "module/graph.h"

extern char **environ;

static const char *self_path, *config_path, *instance_name;
static struct ph_graph *graph;
static struct ph_instance *storage;        /* INSTANCE_NAME */
static struct ph_instance *storage_limits; /* INSTANCE_NAME_limits, or NULL */
/* INSTANCE_NAME_defaults (default_mailboxes archive=Old.Archive Lists), or
 * NULL. */
static struct ph_instance *storage_defaults;
/* INSTANCE_NAME_horizon (tombstone_horizon 0), or NULL. */
static struct ph_instance *storage_horizon;
/* INSTANCE_NAME_pending (text_index_wait 1h, a database of its own), or
 * NULL. */
static struct ph_instance *storage_pending;
/* INSTANCE_NAME_grace (body_grace 0), or NULL. */
static struct ph_instance *storage_grace;

/* ---- helpers ------------------------------------------------------------ */

/* An account of the test's own in inst: "<tag>-<pid>-<n>". */
static struct ph_account *account_new_in(struct ph_instance *inst,
                                         const char *tag)
{
    static atomic_int counter;
    char *name = ph_strdup_printf("%s-%ld-%d", tag, (long)getpid(),
                                  atomic_fetch_add(&counter, 1));
    const char *err = NULL;
    struct ph_account *acct = NULL;
    assert_int_equal(ph_storage_account_create(inst, name, &err), 0);
    assert_int_equal(ph_storage_account_get(inst, name, false, &acct, &err),
                     0);
    assert_string_equal(ph_account_name(acct), name);
    free(name);
    return acct;
}

static struct ph_account *account_new(const char *tag)
{
    return account_new_in(storage, tag);
}

static char *message_text(const char *subject, const char *body)
{
    return ph_strdup_printf("From: Alice <alice@example.org>\r\n"
                            "To: bob@example.org\r\n"
                            "Subject: %s\r\n"
                            "Date: Thu, 26 Nov 2026 09:30:00 +0100\r\n"
                            "Message-ID: <%s@example.org>\r\n"
                            "\r\n"
                            "%s\r\n",
                            subject, subject, body);
}

/* Appends data in pieces of piece bytes; returns the storage result. */
static int append_raw(struct ph_account *acct, const char *mailbox,
                      const void *data, size_t len, size_t piece,
                      const struct ph_flags *flags, time_t date, int tz,
                      uint32_t *uid_r, uint32_t *uidvalidity_r)
{
    struct ph_append *app = NULL;
    const char *err = NULL;
    uint32_t uidvalidity;
    int r = ph_append_begin(acct, mailbox, len, &app, &err);
    if (r < 0)
        return r;
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        r = ph_append_write(app, (const char *)data + off, n, &err);
        if (r < 0) {
            ph_append_abort(&app);
            return r;
        }
    }
    r = ph_append_finish(&app, flags, date, tz, uid_r,
                         uidvalidity_r != NULL ? uidvalidity_r : &uidvalidity,
                         &err);
    assert_null(app);
    return r;
}

static uint32_t append_msg(struct ph_account *acct, const char *mailbox,
                           const char *subject, uint32_t sysflags,
                           const char *keyword)
{
    struct ph_flags flags = {.system = sysflags};
    if (keyword != NULL)
        assert_int_equal(ph_flags_add_name(&flags, keyword), 0);
    char *text = message_text(subject, "Hello there.");
    uint32_t uid = 0;
    assert_int_equal(append_raw(acct, mailbox, text, strlen(text), 7, &flags,
                                1700000000, 60, &uid, NULL),
                     0);
    assert_true(uid > 0);
    free(text);
    ph_flags_clear(&flags);
    return uid;
}

static struct ph_mailbox *open_mb(struct ph_account *acct, const char *name,
                                  bool readonly)
{
    struct ph_mailbox *mb = NULL;
    const char *err = NULL;
    assert_int_equal(ph_mailbox_open(acct, name, readonly, &mb, &err), 0);
    assert_non_null(mb);
    return mb;
}

static struct ph_mailbox_status status_of(struct ph_account *acct,
                                          const char *name)
{
    struct ph_mailbox_status st;
    const char *err = NULL;
    assert_int_equal(ph_mailbox_status(acct, name, &st, &err), 0);
    return st;
}

/* What fetch and changes hand out, copied. */
struct meta {
    uint32_t uid;
    uint64_t modseq;
    uint32_t flags;
    char *keywords; /* space-joined */
    bool recent;
    time_t internal_date;
    int internal_tz;
    uint64_t size;
    void *info;
    size_t info_size;
};

struct metas {
    struct meta *v;
    size_t n, cap;
};

static int collect_meta(void *arg, const struct ph_message_meta *m)
{
    struct metas *l = arg;
    ph_array_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
    struct ph_buf kw = {0};
    for (size_t i = 0; i < m->nkeywords; i++) {
        if (i > 0)
            ph_buf_putc(&kw, ' ');
        ph_buf_puts(&kw, m->keywords[i]);
    }
    struct meta *c = &l->v[l->n++];
    *c = (struct meta){
        .uid = m->uid,
        .modseq = m->modseq,
        .flags = m->flags,
        .keywords = ph_buf_steal(&kw),
        .recent = m->recent,
        .internal_date = m->internal_date,
        .internal_tz = m->internal_tz,
        .size = m->size,
    };
    if (m->info != NULL) {
        c->info = ph_malloc(m->info_size + 1);
        memcpy(c->info, m->info, m->info_size);
        c->info_size = m->info_size;
    }
    return 0;
}

static void metas_clear(struct metas *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].keywords);
        free(l->v[i].info);
    }
    free(l->v);
    *l = (struct metas){0};
}

static const struct meta *meta_find(const struct metas *l, uint32_t uid)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].uid == uid)
            return &l->v[i];
    return NULL;
}

static void fetch_all(struct ph_mailbox *mb, unsigned what, struct metas *out)
{
    const char *err = NULL;
    assert_int_equal(ph_mailbox_fetch(mb, NULL, what, collect_meta, out, &err),
                     0);
}

static struct meta fetch_one(struct ph_mailbox *mb, uint32_t uid)
{
    struct ph_uidset set = {0};
    struct metas l = {0};
    const char *err = NULL;
    ph_uidset_add(&set, uid);
    assert_int_equal(ph_mailbox_fetch(mb, &set, 0, collect_meta, &l, &err), 0);
    assert_int_equal(l.n, 1);
    struct meta m = l.v[0];
    free(l.v);
    ph_uidset_clear(&set);
    return m;
}

static int collect_bytes(void *arg, const void *data, size_t len)
{
    ph_buf_append(arg, data, len);
    return 0;
}

static char *read_range(struct ph_mailbox *mb, uint32_t uid, uint64_t offset,
                        uint64_t len, size_t *len_r)
{
    struct ph_buf b = {0};
    const char *err = NULL;
    assert_int_equal(
        ph_mailbox_read(mb, uid, offset, len, collect_bytes, &b, &err), 0);
    *len_r = b.len;
    return ph_buf_steal(&b);
}

static bool list_has(const struct ph_mailbox_list *l, const char *name,
                     uint32_t *attrs_r)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].name, name) == 0) {
            if (attrs_r != NULL)
                *attrs_r = l->v[i].attrs;
            return true;
        }
    }
    return false;
}

static uint32_t attrs_of(struct ph_account *acct, const char *name)
{
    struct ph_mailbox_list l = {0};
    const char *err = NULL;
    uint32_t attrs = 0;
    assert_int_equal(ph_mailbox_list(acct, &l, &err), 0);
    bool found = list_has(&l, name, &attrs);
    ph_mailbox_list_clear(&l);
    if (!found)
        fail_msg("mailbox %s is not listed", name);
    return attrs;
}

static bool listed(struct ph_account *acct, const char *name)
{
    struct ph_mailbox_list l = {0};
    const char *err = NULL;
    assert_int_equal(ph_mailbox_list(acct, &l, &err), 0);
    bool found = list_has(&l, name, NULL);
    ph_mailbox_list_clear(&l);
    return found;
}

/* The call runs before err is looked at (argument order is unspecified). */
#define assert_fails(call, expected, err)                                      \
    do {                                                                       \
        (err) = NULL;                                                          \
        int r_ = (call);                                                       \
        assert_int_equal(r_, (expected));                                      \
        assert_non_null(err);                                                  \
        assert_true((err)[0] != '\0');                                         \
    } while (0)

static struct ph_uidset uids(uint32_t a, uint32_t b)
{
    struct ph_uidset s = {0};
    ph_uidset_add_range(&s, a, b);
    return s;
}

static bool uidset_is(const struct ph_uidset *s, const char *text)
{
    char *f = ph_uidset_format(s);
    bool same = strcmp(f, text) == 0;
    if (!same)
        fprintf(stderr, "uid set is %s, expected %s\n", f, text);
    free(f);
    return same;
}

/* ---- accounts ----------------------------------------------------------- */

static void test_account_get_without_create_reports_no_account(void **state)
{
    (void)state;
    struct ph_account *acct = NULL;
    const char *err = NULL;
    assert_fails(
        ph_storage_account_get(storage, "nobody-here", false, &acct, &err),
        PH_STORAGE_ERR_NO_ACCOUNT, err);
    assert_null(acct);
}

static void test_account_get_with_create_makes_inbox_and_special_use(void **s)
{
    (void)s;
    char *name = ph_strdup_printf("auto-%ld", (long)getpid());
    struct ph_account *acct = NULL;
    const char *err = NULL;
    assert_int_equal(ph_storage_account_get(storage, name, true, &acct, &err),
                     0);
    assert_string_equal(ph_account_name(acct), name);
    assert_true(ph_account_appendlimit(acct) > 0);

    struct ph_mailbox_list l = {0};
    assert_int_equal(ph_mailbox_list(acct, &l, &err), 0);
    assert_int_equal(l.n, 6);
    static const struct {
        const char *name;
        uint32_t use;
    } want[] = {{"INBOX", 0},
                {"Sent", PH_MBOX_SENT},
                {"Drafts", PH_MBOX_DRAFTS},
                {"Trash", PH_MBOX_TRASH},
                {"Junk", PH_MBOX_JUNK},
                {"Archive", PH_MBOX_ARCHIVE}};
    for (size_t i = 0; i < PH_N_ELEMENTS(want); i++) {
        uint32_t attrs = 0;
        assert_true(list_has(&l, want[i].name, &attrs));
        assert_int_equal(attrs & PH_MBOX_SPECIAL_USE_MASK, want[i].use);
        assert_true(attrs & PH_MBOX_HASNOCHILDREN);
        assert_false(attrs & (PH_MBOX_NOSELECT | PH_MBOX_NONEXISTENT));
    }
    for (size_t i = 1; i < l.n; i++)
        assert_true(strcmp(l.v[i - 1].name, l.v[i].name) < 0);
    ph_mailbox_list_clear(&l);
    ph_account_release(&acct);

    /* A second get finds it, also without create. */
    assert_int_equal(ph_storage_account_get(storage, name, false, &acct, &err),
                     0);
    ph_account_release(&acct);
    assert_null(acct);
    free(name);
}

static void test_account_create_twice_reports_exists(void **state)
{
    (void)state;
    const char *err = NULL;
    char *name = ph_strdup_printf("twice-%ld", (long)getpid());
    assert_int_equal(ph_storage_account_create(storage, name, &err), 0);
    assert_fails(ph_storage_account_create(storage, name, &err),
                 PH_STORAGE_ERR_EXISTS, err);
    free(name);
}

static void test_account_with_invalid_name_is_refused(void **state)
{
    (void)state;
    const char *err = NULL;
    struct ph_account *acct = NULL;
    assert_fails(ph_storage_account_create(storage, "", &err),
                 PH_STORAGE_ERR_INVALID, err);
    assert_fails(
        ph_storage_account_get(storage, "bad\nname", true, &acct, &err),
        PH_STORAGE_ERR_INVALID, err);
}

static void test_account_list_and_delete(void **state)
{
    (void)state;
    const char *err = NULL;
    char *a = ph_strdup_printf("list-a-%ld", (long)getpid());
    char *b = ph_strdup_printf("list-b-%ld", (long)getpid());
    assert_int_equal(ph_storage_account_create(storage, a, &err), 0);
    assert_int_equal(ph_storage_account_create(storage, b, &err), 0);

    struct ph_strlist names = {0};
    assert_int_equal(ph_storage_account_list(storage, &names, &err), 0);
    assert_true(ph_strlist_contains(&names, a));
    assert_true(ph_strlist_contains(&names, b));
    for (size_t i = 1; i < names.n; i++)
        assert_true(strcmp(names.v[i - 1], names.v[i]) < 0);
    ph_strlist_clear(&names);

    assert_int_equal(ph_storage_account_delete(storage, a, &err), 0);
    assert_int_equal(ph_storage_account_list(storage, &names, &err), 0);
    assert_false(ph_strlist_contains(&names, a));
    assert_true(ph_strlist_contains(&names, b));
    ph_strlist_clear(&names);

    struct ph_account *acct = NULL;
    assert_fails(ph_storage_account_get(storage, a, false, &acct, &err),
                 PH_STORAGE_ERR_NO_ACCOUNT, err);
    assert_fails(ph_storage_account_delete(storage, a, &err),
                 PH_STORAGE_ERR_NO_ACCOUNT, err);
    free(a);
    free(b);
}

static void test_account_delete_removes_its_mail(void **state)
{
    (void)state;
    const char *err = NULL;
    char *name = ph_strdup_printf("gone-%ld", (long)getpid());
    struct ph_account *acct = NULL;
    assert_int_equal(ph_storage_account_create(storage, name, &err), 0);
    assert_int_equal(ph_storage_account_get(storage, name, false, &acct, &err),
                     0);
    append_msg(acct, "INBOX", "one", 0, NULL);
    assert_int_equal(ph_mailbox_create(acct, "Projects.Old", 0, &err), 0);
    uint32_t old_validity = status_of(acct, "INBOX").uidvalidity;
    ph_account_release(&acct);

    assert_int_equal(ph_storage_account_delete(storage, name, &err), 0);
    assert_int_equal(ph_storage_account_create(storage, name, &err), 0);
    assert_int_equal(ph_storage_account_get(storage, name, false, &acct, &err),
                     0);
    struct ph_mailbox_status st = status_of(acct, "INBOX");
    assert_int_equal(st.messages, 0);
    assert_int_not_equal(st.uidvalidity, old_validity);
    assert_false(listed(acct, "Projects.Old"));
    ph_account_release(&acct);
    free(name);
}

static void test_account_get_without_auto_create_reports_no_account(void **s)
{
    (void)s;
    if (storage_limits == NULL)
        skip();
    struct ph_account *acct = NULL;
    const char *err = NULL;
    char *name = ph_strdup_printf("noauto-%ld", (long)getpid());
    assert_fails(
        ph_storage_account_get(storage_limits, name, true, &acct, &err),
        PH_STORAGE_ERR_NO_ACCOUNT, err);
    assert_null(acct);
    /* The administrator can still create it. */
    assert_int_equal(ph_storage_account_create(storage_limits, name, &err), 0);
    assert_int_equal(
        ph_storage_account_get(storage_limits, name, true, &acct, &err), 0);
    ph_account_release(&acct);
    free(name);
}

/* The attributes of each name of acct's list, as "NAME:ATTRS NAME:ATTRS",
 * ATTRS the bits of enum ph_mailbox_attr in hex. */
static char *list_summary(struct ph_account *acct)
{
    struct ph_mailbox_list l = {0};
    const char *err = NULL;
    assert_int_equal(ph_mailbox_list(acct, &l, &err), 0);
    struct ph_buf b = {0};
    for (size_t i = 0; i < l.n; i++)
        ph_buf_printf(&b, "%s%s:%x", i > 0 ? " " : "", l.v[i].name,
                      l.v[i].attrs);
    ph_mailbox_list_clear(&l);
    return ph_buf_steal(&b);
}

/* default_mailboxes (the core's directive since ABI 1.4): what an account
 * made at its first login has besides INBOX, each subscribed, special use
 * as given, missing parents made as ordinary unsubscribed mailboxes. */
static void test_auto_create_makes_the_default_mailboxes_given(void **state)
{
    (void)state;
    if (storage_defaults == NULL)
        skip();
    struct ph_account *acct = NULL;
    const char *err = NULL;
    char *name = ph_strdup_printf("defaults-%ld", (long)getpid());
    assert_int_equal(
        ph_storage_account_get(storage_defaults, name, true, &acct, &err), 0);
    char *got = list_summary(acct);
    char *want = ph_strdup_printf(
        "INBOX:%x Lists:%x Old:%x Old.Archive:%x",
        PH_MBOX_HASNOCHILDREN | PH_MBOX_SUBSCRIBED,
        PH_MBOX_HASNOCHILDREN | PH_MBOX_SUBSCRIBED, PH_MBOX_HASCHILDREN,
        PH_MBOX_ARCHIVE | PH_MBOX_HASNOCHILDREN | PH_MBOX_SUBSCRIBED);
    assert_string_equal(got, want);
    free(got);
    free(want);
    ph_account_release(&acct);
    free(name);
}

/* default_mailboxes none: INBOX alone, subscribed; the same for an account
 * the administrator creates. */
static void test_default_mailboxes_none_makes_inbox_alone(void **state)
{
    (void)state;
    if (storage_limits == NULL)
        skip();
    struct ph_account *acct = NULL;
    const char *err = NULL;
    char *name = ph_strdup_printf("nodefaults-%ld", (long)getpid());
    assert_int_equal(ph_storage_account_create(storage_limits, name, &err), 0);
    assert_int_equal(
        ph_storage_account_get(storage_limits, name, false, &acct, &err), 0);
    char *got = list_summary(acct);
    char *want = ph_strdup_printf("INBOX:%x",
                                  PH_MBOX_HASNOCHILDREN | PH_MBOX_SUBSCRIBED);
    assert_string_equal(got, want);
    free(got);
    free(want);
    ph_account_release(&acct);
    free(name);
}

static void test_appendlimit_refuses_larger_messages(void **state)
{
    (void)state;
    if (storage_limits == NULL)
        skip();
    struct ph_account *acct = NULL;
    const char *err = NULL;
    char *name = ph_strdup_printf("limit-%ld", (long)getpid());
    assert_int_equal(ph_storage_account_create(storage_limits, name, &err), 0);
    assert_int_equal(
        ph_storage_account_get(storage_limits, name, false, &acct, &err), 0);
    assert_int_equal(ph_account_appendlimit(acct), 1024 * 1024);

    struct ph_append *app = NULL;
    assert_fails(ph_append_begin(acct, "INBOX", 1024 * 1024 + 1, &app, &err),
                 PH_STORAGE_ERR_LIMIT, err);
    assert_null(app);

    /* Exactly at the limit is fine. */
    size_t len = 1024 * 1024;
    char *data = ph_malloc(len);
    memset(data, 'a', len);
    memcpy(data, "Subject: big\r\n\r\n", 16);
    uint32_t uid = 0;
    assert_int_equal(
        append_raw(acct, "INBOX", data, len, 65536, NULL, 0, 0, &uid, NULL), 0);
    /* A message that grows past the limit while it is written is refused
     * and leaves nothing. */
    for (size_t i = 100; i < len; i += 100)
        data[i] = '\n';
    assert_int_equal(
        append_raw(acct, "INBOX", data, len, 65536, NULL, 0, 0, &uid, NULL),
        PH_STORAGE_ERR_LIMIT);
    assert_int_equal(status_of(acct, "INBOX").messages, 1);
    free(data);
    ph_account_release(&acct);
    free(name);
}

/* ---- quota (RFC 9208) ---------------------------------------------------- */

static struct ph_quota quota_of(struct ph_account *acct)
{
    struct ph_quota q;
    const char *err = NULL;
    assert_int_equal(ph_account_quota(acct, &q, &err), 0);
    return q;
}

static void quota_set(struct ph_instance *inst, struct ph_account *acct,
                      uint64_t bytes, uint64_t messages, uint64_t mailboxes)
{
    const uint64_t limit[PH_QUOTA_N] = {bytes, messages, mailboxes};
    const char *err = NULL;
    assert_int_equal(
        ph_storage_quota_set(inst, ph_account_name(acct), limit, &err), 0);
}

#define assert_usage(acct, bytes, messages, mailboxes)                         \
    do {                                                                       \
        struct ph_quota q_ = quota_of(acct);                                   \
        assert_int_equal(q_.usage[PH_QUOTA_STORAGE], (bytes));                 \
        assert_int_equal(q_.usage[PH_QUOTA_MESSAGE], (messages));              \
        assert_int_equal(q_.usage[PH_QUOTA_MAILBOX], (mailboxes));             \
    } while (0)

/* RFC 9208 5.1-5.3: what an account holds, counted as it changes: COPY
 * adds, MOVE inside the account changes nothing, EXPUNGE and DELETE take
 * away; mailboxes are the selectable ones. */
static void test_quota_usage_follows_every_change(void **state)
{
    (void)state;
    assert_true(ph_storage_has_quota(storage));
    struct ph_account *acct = account_new("quota-usage");
    const char *err = NULL;
    struct ph_quota q = quota_of(acct);
    for (int r = 0; r < PH_QUOTA_N; r++) {
        assert_int_equal(q.limit[r], PH_QUOTA_UNLIMITED);
        assert_false(q.own[r]);
    }
    assert_usage(acct, 0, 0, 6); /* INBOX and the five special-use ones */

    char *text = message_text("quota", "Hello there.");
    uint64_t size = strlen(text);
    uint32_t u1 = append_msg(acct, "INBOX", "quota", 0, NULL);
    uint32_t u2 = append_msg(acct, "INBOX", "quota", 0, NULL);
    assert_usage(acct, 2 * size, 2, 6);

    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct ph_uidset set = uids(u1, u2), src = {0}, dst = {0};
    uint32_t uv;
    assert_int_equal(
        ph_mailbox_copy(mb, &set, "Sent", false, &src, &dst, &uv, &err), 0);
    assert_usage(acct, 4 * size, 4, 6);
    ph_uidset_clear(&src);
    ph_uidset_clear(&dst);
    struct ph_uidset one = uids(u1, u1);
    assert_int_equal(
        ph_mailbox_copy(mb, &one, "Trash", true, &src, &dst, &uv, &err), 0);
    assert_usage(acct, 4 * size, 4, 6);

    /* RFC 9208 4.1.4: DELETED and DELETED-STORAGE, what EXPUNGE frees. */
    struct ph_flags del = {.system = PH_FLAG_DELETED};
    struct ph_uidset two = uids(u2, u2);
    assert_int_equal(ph_mailbox_store(mb, &two, PH_STORE_ADD, &del, 0, NULL,
                                      NULL, NULL, &err),
                     0);
    struct ph_mailbox_status st = status_of(acct, "INBOX");
    assert_int_equal(st.deleted, 1);
    assert_int_equal(st.deleted_size, size);
    assert_int_equal(status_of(acct, "Sent").deleted, 0);
    struct ph_uidset gone = {0};
    assert_int_equal(ph_mailbox_expunge(mb, NULL, &gone, &err), 0);
    assert_usage(acct, 3 * size, 3, 6);
    assert_int_equal(status_of(acct, "INBOX").deleted, 0);
    assert_int_equal(status_of(acct, "INBOX").deleted_size, 0);
    ph_mailbox_close(&mb);

    /* Parents made with a mailbox count; a deleted mailbox takes its
     * messages away; a \Noselect placeholder is no mailbox. */
    assert_int_equal(ph_mailbox_create(acct, "Work.Old", 0, &err), 0);
    assert_usage(acct, 3 * size, 3, 8);
    assert_int_equal(ph_mailbox_delete(acct, "Sent", &err), 0);
    assert_usage(acct, size, 1, 7);
    assert_int_equal(ph_mailbox_delete(acct, "Work", &err), 0);
    assert_usage(acct, size, 1, 6);
    assert_int_equal(ph_mailbox_delete(acct, "Work.Old", &err), 0);
    assert_usage(acct, size, 1, 5);
    /* RENAME INBOX makes a mailbox and moves the messages. */
    assert_int_equal(ph_mailbox_rename(acct, "Trash", "Bin", &err), 0);
    assert_usage(acct, size, 1, 5);
    assert_int_equal(ph_mailbox_rename(acct, "INBOX", "Old", &err), 0);
    assert_usage(acct, size, 1, 6);
    free(text);
    ph_uidset_clear(&set);
    ph_uidset_clear(&one);
    ph_uidset_clear(&two);
    ph_uidset_clear(&src);
    ph_uidset_clear(&dst);
    ph_uidset_clear(&gone);
    ph_account_release(&acct);
}

/* RFC 9208 4.3.1: an APPEND or COPY that would go over a limit fails with
 * OVERQUOTA and adds nothing; EXPUNGE and DELETE still work over it. */
static void test_quota_limits_refuse_what_would_go_over(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("quota-limit");
    const char *err = NULL;
    char *text = message_text("quota", "Hello there.");
    size_t size = strlen(text);
    quota_set(storage, acct, PH_QUOTA_KEEP, 3, 7);
    struct ph_quota q = quota_of(acct);
    assert_int_equal(q.limit[PH_QUOTA_MESSAGE], 3);
    assert_true(q.own[PH_QUOTA_MESSAGE]);
    assert_int_equal(q.limit[PH_QUOTA_MAILBOX], 7);
    assert_int_equal(q.limit[PH_QUOTA_STORAGE], PH_QUOTA_UNLIMITED);
    assert_false(q.own[PH_QUOTA_STORAGE]);

    uint32_t u1 = append_msg(acct, "INBOX", "quota", 0, NULL);
    append_msg(acct, "INBOX", "quota", 0, NULL);
    /* Two APPENDs begun under the limit: the commit decides. */
    struct ph_append *a = NULL, *b = NULL;
    assert_int_equal(ph_append_begin(acct, "INBOX", size, &a, &err), 0);
    assert_int_equal(ph_append_begin(acct, "Sent", size, &b, &err), 0);
    assert_int_equal(ph_append_write(a, text, size, &err), 0);
    assert_int_equal(ph_append_write(b, text, size, &err), 0);
    uint32_t uid, uv;
    assert_int_equal(ph_append_finish(&a, NULL, 0, 0, &uid, &uv, &err), 0);
    assert_fails(ph_append_finish(&b, NULL, 0, 0, &uid, &uv, &err),
                 PH_STORAGE_ERR_OVERQUOTA, err);
    assert_string_equal(ph_storage_err_code(PH_STORAGE_ERR_OVERQUOTA),
                        "OVERQUOTA");
    /* Refused at the start when the size is known not to fit. */
    assert_fails(ph_append_begin(acct, "INBOX", size, &a, &err),
                 PH_STORAGE_ERR_OVERQUOTA, err);
    assert_null(a);
    assert_usage(acct, 3 * size, 3, 6);

    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct ph_uidset one = uids(u1, u1), src = {0}, dst = {0};
    assert_fails(
        ph_mailbox_copy(mb, &one, "Sent", false, &src, &dst, &uv, &err),
        PH_STORAGE_ERR_OVERQUOTA, err);
    assert_int_equal(status_of(acct, "Sent").messages, 0);
    /* MOVE stays inside the quota root: nothing grows. */
    assert_int_equal(
        ph_mailbox_copy(mb, &one, "Sent", true, &src, &dst, &uv, &err), 0);
    assert_int_equal(status_of(acct, "Sent").messages, 1);
    assert_usage(acct, 3 * size, 3, 6);

    /* MAILBOX: the seventh fits, the eighth (a parent with it) does not. */
    assert_int_equal(ph_mailbox_create(acct, "Seventh", 0, &err), 0);
    assert_fails(ph_mailbox_create(acct, "Eighth.Ninth", 0, &err),
                 PH_STORAGE_ERR_OVERQUOTA, err);
    assert_false(listed(acct, "Eighth"));
    assert_fails(ph_mailbox_rename(acct, "INBOX", "Inbox2", &err),
                 PH_STORAGE_ERR_OVERQUOTA, err);
    assert_usage(acct, 3 * size, 3, 7);

    /* STORAGE: bytes, all or nothing. A limit lowered below the usage
     * keeps what is there and lets nothing more in. */
    quota_set(storage, acct, 3 * size + size - 1, PH_QUOTA_UNLIMITED,
              PH_QUOTA_KEEP);
    assert_int_equal(
        append_raw(acct, "INBOX", text, size, 4096, NULL, 0, 0, &uid, NULL),
        PH_STORAGE_ERR_OVERQUOTA);
    quota_set(storage, acct, PH_QUOTA_KEEP, 1, PH_QUOTA_KEEP);
    q = quota_of(acct);
    assert_int_equal(q.limit[PH_QUOTA_STORAGE], 4 * size - 1);
    assert_int_equal(q.limit[PH_QUOTA_MESSAGE], 1);
    assert_int_equal(q.limit[PH_QUOTA_MAILBOX], 7);
    struct ph_flags del = {.system = PH_FLAG_DELETED};
    struct ph_uidset all = uids(1, UINT32_MAX), gone = {0};
    assert_int_equal(ph_mailbox_store(mb, &all, PH_STORE_ADD, &del, 0, NULL,
                                      NULL, NULL, &err),
                     0);
    assert_int_equal(ph_mailbox_expunge(mb, NULL, &gone, &err), 0);
    assert_int_equal(ph_mailbox_delete(acct, "Seventh", &err), 0);
    assert_usage(acct, size, 1, 6);
    ph_mailbox_close(&mb);

    /* Back to the storage block's defaults (none here). */
    quota_set(storage, acct, PH_QUOTA_DEFAULT, PH_QUOTA_DEFAULT,
              PH_QUOTA_DEFAULT);
    q = quota_of(acct);
    for (int r = 0; r < PH_QUOTA_N; r++) {
        assert_int_equal(q.limit[r], PH_QUOTA_UNLIMITED);
        assert_false(q.own[r]);
    }
    const uint64_t keep[PH_QUOTA_N] = {PH_QUOTA_KEEP, PH_QUOTA_KEEP,
                                       PH_QUOTA_KEEP};
    assert_fails(
        ph_storage_quota_set(storage, "no-such-account-quota", keep, &err),
        PH_STORAGE_ERR_NO_ACCOUNT, err);
    free(text);
    ph_uidset_clear(&one);
    ph_uidset_clear(&all);
    ph_uidset_clear(&src);
    ph_uidset_clear(&dst);
    ph_uidset_clear(&gone);
    ph_account_release(&acct);
}

/* quota_storage, quota_messages and quota_mailboxes in the storage block:
 * the limits of an account without its own. */
static void test_quota_default_comes_from_the_storage_block(void **state)
{
    (void)state;
    if (storage_defaults == NULL)
        skip();
    struct ph_account *acct = account_new_in(storage_defaults, "quota-def");
    struct ph_quota q = quota_of(acct);
    assert_int_equal(q.limit[PH_QUOTA_STORAGE], 1024 * 1024);
    assert_int_equal(q.limit[PH_QUOTA_MESSAGE], 2);
    assert_int_equal(q.limit[PH_QUOTA_MAILBOX], 100);
    for (int r = 0; r < PH_QUOTA_N; r++)
        assert_false(q.own[r]);
    append_msg(acct, "INBOX", "one", 0, NULL);
    append_msg(acct, "INBOX", "two", 0, NULL);
    char *text = message_text("three", "x");
    uint32_t uid;
    assert_int_equal(append_raw(acct, "INBOX", text, strlen(text), 4096, NULL,
                                0, 0, &uid, NULL),
                     PH_STORAGE_ERR_OVERQUOTA);
    /* An account's own "none" is stronger than the default. */
    quota_set(storage_defaults, acct, PH_QUOTA_KEEP, PH_QUOTA_UNLIMITED,
              PH_QUOTA_KEEP);
    q = quota_of(acct);
    assert_int_equal(q.limit[PH_QUOTA_MESSAGE], PH_QUOTA_UNLIMITED);
    assert_true(q.own[PH_QUOTA_MESSAGE]);
    assert_int_equal(append_raw(acct, "INBOX", text, strlen(text), 4096, NULL,
                                0, 0, &uid, NULL),
                     0);
    free(text);
    ph_account_release(&acct);
}

struct quota_racer {
    struct ph_account *acct;
    int ok, over;
};

static void *quota_race(void *arg)
{
    struct quota_racer *r = arg;
    char *text = message_text("race", "Near the limit.");
    for (int i = 0; i < 6; i++) {
        uint32_t uid;
        struct ph_append *app = NULL;
        const char *err = NULL;
        int ret = ph_append_begin(r->acct, "INBOX", strlen(text), &app, &err);
        if (ret == 0)
            ret = ph_append_write(app, text, strlen(text), &err);
        uint32_t uv;
        if (ret == 0)
            ret = ph_append_finish(&app, NULL, 0, 0, &uid, &uv, &err);
        else
            ph_append_abort(&app);
        if (ret == 0)
            r->ok++;
        else if (ret == PH_STORAGE_ERR_OVERQUOTA)
            r->over++;
    }
    free(text);
    return NULL;
}

/* Writers racing near the limit (each its own account handle, as sessions
 * have; grouped commits on a one-writer engine) never take it past. */
static void test_quota_racing_appends_never_exceed_the_limit(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("quota-race");
    quota_set(storage, acct, PH_QUOTA_KEEP, 10, PH_QUOTA_KEEP);
    enum { N = 4 };
    struct quota_racer r[N];
    pthread_t t[N];
    const char *err = NULL;
    for (int i = 0; i < N; i++) {
        r[i] = (struct quota_racer){0};
        assert_int_equal(ph_storage_account_get(storage, ph_account_name(acct),
                                                false, &r[i].acct, &err),
                         0);
        assert_int_equal(pthread_create(&t[i], NULL, quota_race, &r[i]), 0);
    }
    int ok = 0, over = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        ok += r[i].ok;
        over += r[i].over;
        ph_account_release(&r[i].acct);
    }
    assert_int_equal(ok, 10);
    assert_int_equal(over, N * 6 - 10);
    assert_int_equal(quota_of(acct).usage[PH_QUOTA_MESSAGE], 10);
    assert_int_equal(status_of(acct, "INBOX").messages, 10);
    ph_account_release(&acct);
}

/* ---- mailboxes ---------------------------------------------------------- */

static void test_mailbox_create_makes_missing_parents(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("parents");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "Work.2026.Q4", 0, &err), 0);
    assert_true(attrs_of(acct, "Work") & PH_MBOX_HASCHILDREN);
    assert_true(attrs_of(acct, "Work.2026") & PH_MBOX_HASCHILDREN);
    uint32_t leaf = attrs_of(acct, "Work.2026.Q4");
    assert_true(leaf & PH_MBOX_HASNOCHILDREN);
    assert_false(leaf & PH_MBOX_HASCHILDREN);
    /* The parents are real mailboxes. */
    struct ph_mailbox *mb = open_mb(acct, "Work", false);
    ph_mailbox_close(&mb);
    assert_null(mb);
    /* A sibling under an existing parent. */
    assert_int_equal(ph_mailbox_create(acct, "Work.2025", 0, &err), 0);
    assert_true(attrs_of(acct, "Work.2025") & PH_MBOX_HASNOCHILDREN);
    ph_account_release(&acct);
}

static void test_mailbox_create_existing_reports_exists(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("exists");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "Lists", 0, &err), 0);
    assert_fails(ph_mailbox_create(acct, "Lists", 0, &err),
                 PH_STORAGE_ERR_EXISTS, err);
    assert_fails(ph_mailbox_create(acct, "inbox", 0, &err),
                 PH_STORAGE_ERR_EXISTS, err);
    assert_fails(ph_mailbox_create(acct, "Sent", 0, &err),
                 PH_STORAGE_ERR_EXISTS, err);
    ph_account_release(&acct);
}

static void test_mailbox_create_refuses_invalid_names(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("invalid");
    const char *err = NULL;
    static const char *const bad[] = {
        "", ".Lead", "Trail.", "Two..Dots", "Ctl\x01", "Star*", "Bad\xff",
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(bad); i++) {
        err = NULL;
        assert_fails(ph_mailbox_create(acct, bad[i], 0, &err),
                     PH_STORAGE_ERR_INVALID, err);
    }
    char *deep = ph_strdup("a");
    for (int i = 0; i < 40; i++) {
        char *next = ph_strdup_printf("%s.a", deep);
        free(deep);
        deep = next;
    }
    assert_fails(ph_mailbox_create(acct, deep, 0, &err), PH_STORAGE_ERR_INVALID,
                 err);
    free(deep);
    /* UTF-8 is fine. */
    assert_int_equal(ph_mailbox_create(acct, "Entwürfe.Ärger", 0, &err), 0);
    assert_true(listed(acct, "Entwürfe.Ärger"));
    ph_account_release(&acct);
}

static void test_mailbox_create_with_special_use_lists_it(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("special");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "Everything", PH_MBOX_ALL, &err),
                     0);
    assert_int_equal(attrs_of(acct, "Everything") & PH_MBOX_SPECIAL_USE_MASK,
                     PH_MBOX_ALL);
    assert_fails(
        ph_mailbox_create(acct, "Two", PH_MBOX_ALL | PH_MBOX_SENT, &err),
        PH_STORAGE_ERR_INVALID, err);
    ph_account_release(&acct);
}

static void test_inbox_is_case_insensitive(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("inboxcase");
    append_msg(acct, "inbox", "lower", 0, NULL);
    assert_int_equal(status_of(acct, "InBoX").messages, 1);
    struct ph_mailbox *mb = open_mb(acct, "iNbOx", true);
    assert_string_equal(ph_mailbox_name(mb), "INBOX");
    ph_mailbox_close(&mb);
    assert_false(listed(acct, "inbox"));
    ph_account_release(&acct);
}

static void test_delete_inbox_is_refused(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("delinbox");
    const char *err = NULL;
    assert_fails(ph_mailbox_delete(acct, "INBOX", &err),
                 PH_STORAGE_ERR_NOT_ALLOWED, err);
    assert_fails(ph_mailbox_delete(acct, "Inbox", &err),
                 PH_STORAGE_ERR_NOT_ALLOWED, err);
    assert_fails(ph_mailbox_delete(acct, "Nope", &err),
                 PH_STORAGE_ERR_NOT_FOUND, err);
    assert_true(listed(acct, "INBOX"));
    ph_account_release(&acct);
}

static void test_delete_without_inferiors_removes_the_mailbox(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("delplain");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "Temp", 0, &err), 0);
    append_msg(acct, "Temp", "x", 0, NULL);
    assert_int_equal(ph_mailbox_delete(acct, "Temp", &err), 0);
    assert_false(listed(acct, "Temp"));
    struct ph_mailbox_status st;
    assert_fails(ph_mailbox_status(acct, "Temp", &st, &err),
                 PH_STORAGE_ERR_NOT_FOUND, err);
    ph_account_release(&acct);
}

static void test_delete_with_inferiors_makes_noselect(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("delparent");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "Parent.Child", 0, &err), 0);
    append_msg(acct, "Parent", "in parent", 0, NULL);
    uint32_t child_uid = append_msg(acct, "Parent.Child", "in child", 0, NULL);

    assert_int_equal(ph_mailbox_delete(acct, "Parent", &err), 0);
    uint32_t attrs = attrs_of(acct, "Parent");
    assert_true(attrs & PH_MBOX_NOSELECT);
    assert_true(attrs & PH_MBOX_HASCHILDREN);
    struct ph_mailbox *mb = NULL;
    assert_true(ph_mailbox_open(acct, "Parent", false, &mb, &err) < 0);
    assert_null(mb);
    struct ph_append *app = NULL;
    assert_true(ph_append_begin(acct, "Parent", 10, &app, &err) < 0);
    assert_null(app);

    /* The child keeps its messages. */
    assert_int_equal(status_of(acct, "Parent.Child").messages, 1);
    mb = open_mb(acct, "Parent.Child", true);
    struct meta m = fetch_one(mb, child_uid);
    free(m.keywords);
    ph_mailbox_close(&mb);

    /* A \Noselect mailbox with inferiors cannot be deleted. */
    assert_fails(ph_mailbox_delete(acct, "Parent", &err),
                 PH_STORAGE_ERR_NOT_ALLOWED, err);

    /* Creating it again makes it selectable, empty, with a new
     * UIDVALIDITY. */
    assert_int_equal(ph_mailbox_create(acct, "Parent", 0, &err), 0);
    assert_false(attrs_of(acct, "Parent") & PH_MBOX_NOSELECT);
    struct ph_mailbox_status st = status_of(acct, "Parent");
    assert_int_equal(st.messages, 0);
    ph_account_release(&acct);
}

static void test_delete_last_child_removes_noselect_parent(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("prune");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "A.B", 0, &err), 0);
    assert_int_equal(ph_mailbox_delete(acct, "A", &err), 0);
    assert_true(attrs_of(acct, "A") & PH_MBOX_NOSELECT);
    assert_int_equal(ph_mailbox_delete(acct, "A.B", &err), 0);
    assert_false(listed(acct, "A.B"));
    assert_false(listed(acct, "A"));
    ph_account_release(&acct);
}

static void test_rename_moves_inferiors(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("rename");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "Old.Sub.Deep", 0, &err), 0);
    uint32_t uid =
        append_msg(acct, "Old.Sub", "keep me", PH_FLAG_FLAGGED, NULL);
    assert_int_equal(ph_mailbox_subscribe(acct, "Old.Sub", true, &err), 0);
    /* A sibling sharing the prefix is not an inferior. */
    assert_int_equal(ph_mailbox_create(acct, "Older", 0, &err), 0);

    assert_int_equal(ph_mailbox_rename(acct, "Old", "New.Place", &err), 0);
    assert_false(listed(acct, "Old"));
    assert_false(listed(acct, "Old.Sub"));
    assert_false(listed(acct, "Old.Sub.Deep"));
    assert_true(listed(acct, "Older"));
    assert_true(attrs_of(acct, "New") & PH_MBOX_HASCHILDREN);
    assert_true(attrs_of(acct, "New.Place") & PH_MBOX_HASCHILDREN);
    assert_true(attrs_of(acct, "New.Place.Sub") & PH_MBOX_SUBSCRIBED);
    assert_true(listed(acct, "New.Place.Sub.Deep"));

    struct ph_mailbox *mb = open_mb(acct, "New.Place.Sub", true);
    struct meta m = fetch_one(mb, uid);
    assert_true(m.flags & PH_FLAG_FLAGGED);
    free(m.keywords);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_rename_errors(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("renerr");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "A", 0, &err), 0);
    assert_int_equal(ph_mailbox_create(acct, "B.C", 0, &err), 0);
    assert_fails(ph_mailbox_rename(acct, "Missing", "X", &err),
                 PH_STORAGE_ERR_NOT_FOUND, err);
    assert_fails(ph_mailbox_rename(acct, "A", "B", &err), PH_STORAGE_ERR_EXISTS,
                 err);
    assert_fails(ph_mailbox_rename(acct, "A", "inbox", &err),
                 PH_STORAGE_ERR_EXISTS, err);
    assert_fails(ph_mailbox_rename(acct, "A", "Bad..Name", &err),
                 PH_STORAGE_ERR_INVALID, err);
    err = NULL;
    assert_true(ph_mailbox_rename(acct, "B", "B.C.D", &err) < 0);
    assert_non_null(err);
    assert_true(listed(acct, "A"));
    assert_true(listed(acct, "B.C"));
    ph_account_release(&acct);
}

static void test_rename_inbox_moves_messages_and_leaves_inbox_empty(void **s)
{
    (void)s;
    struct ph_account *acct = account_new("reninbox");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "INBOX.Kept", 0, &err), 0);
    uint32_t u1 = append_msg(acct, "INBOX", "first", PH_FLAG_SEEN, NULL);
    uint32_t u2 = append_msg(acct, "INBOX", "second", 0, "$Work");
    struct ph_mailbox_status before = status_of(acct, "INBOX");
    struct ph_mailbox *inbox = open_mb(acct, "INBOX", false);
    size_t len1;
    char *bytes1 = read_range(inbox, u1, 0, UINT64_MAX, &len1);

    assert_int_equal(ph_mailbox_rename(acct, "INBOX", "Old Mail", &err), 0);

    struct ph_mailbox_status st = status_of(acct, "INBOX");
    assert_int_equal(st.messages, 0);
    assert_int_equal(st.uidvalidity, before.uidvalidity);
    assert_true(st.uidnext >= before.uidnext);
    assert_true(listed(acct, "INBOX.Kept"));
    assert_false(listed(acct, "Old Mail.Kept"));

    st = status_of(acct, "Old Mail");
    assert_int_equal(st.messages, 2);
    assert_int_equal(st.unseen, 1);
    struct ph_mailbox *old = open_mb(acct, "Old Mail", true);
    struct metas l = {0};
    fetch_all(old, 0, &l);
    assert_int_equal(l.n, 2);
    assert_true(l.v[0].flags & PH_FLAG_SEEN);
    assert_string_equal(l.v[1].keywords, "$Work");
    size_t len2;
    char *bytes2 = read_range(old, l.v[0].uid, 0, UINT64_MAX, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(bytes1, bytes2, len1);

    /* A session that had INBOX open learns that both went away. */
    struct ph_uidset gone = {0};
    uint64_t highest = 0;
    assert_int_equal(ph_mailbox_changes(inbox, before.highestmodseq, &gone,
                                        &highest, NULL, NULL, &err),
                     0);
    assert_true(ph_uidset_contains(&gone, u1));
    assert_true(ph_uidset_contains(&gone, u2));
    assert_true(highest > before.highestmodseq);

    /* New mail to INBOX gets new UIDs. */
    uint32_t u3 = append_msg(acct, "INBOX", "third", 0, NULL);
    assert_true(u3 > u2);

    ph_uidset_clear(&gone);
    metas_clear(&l);
    free(bytes1);
    free(bytes2);
    ph_mailbox_close(&old);
    ph_mailbox_close(&inbox);
    ph_account_release(&acct);
}

static void test_subscriptions_survive_delete_as_nonexistent(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("subs");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "News", 0, &err), 0);
    assert_false(attrs_of(acct, "News") & PH_MBOX_SUBSCRIBED);
    assert_int_equal(ph_mailbox_subscribe(acct, "News", true, &err), 0);
    assert_int_equal(ph_mailbox_subscribe(acct, "News", true, &err), 0);
    assert_true(attrs_of(acct, "News") & PH_MBOX_SUBSCRIBED);

    assert_int_equal(ph_mailbox_delete(acct, "News", &err), 0);
    uint32_t attrs = attrs_of(acct, "News");
    assert_true(attrs & PH_MBOX_SUBSCRIBED);
    assert_true(attrs & PH_MBOX_NONEXISTENT);

    /* Made again, it is subscribed again. */
    assert_int_equal(ph_mailbox_create(acct, "News", 0, &err), 0);
    attrs = attrs_of(acct, "News");
    assert_true(attrs & PH_MBOX_SUBSCRIBED);
    assert_false(attrs & PH_MBOX_NONEXISTENT);

    assert_int_equal(ph_mailbox_subscribe(acct, "News", false, &err), 0);
    assert_false(attrs_of(acct, "News") & PH_MBOX_SUBSCRIBED);
    assert_int_equal(ph_mailbox_delete(acct, "News", &err), 0);
    assert_false(listed(acct, "News"));
    ph_account_release(&acct);
}

/* ---- status, append, fetch, read ----------------------------------------- */

static void test_status_counts(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("status");
    struct ph_mailbox_status st0 = status_of(acct, "INBOX");
    assert_int_equal(st0.messages, 0);
    assert_int_equal(st0.recent, 0);
    assert_int_equal(st0.unseen, 0);
    assert_int_equal(st0.size, 0);
    assert_true(st0.uidvalidity != 0);
    assert_true(st0.uidnext >= 1);

    char *a = message_text("a", "x"), *b = message_text("bb", "yy");
    uint32_t ua, ub, uc;
    struct ph_flags seen = {.system = PH_FLAG_SEEN};
    assert_int_equal(
        append_raw(acct, "INBOX", a, strlen(a), 4096, &seen, 0, 0, &ua, NULL),
        0);
    assert_int_equal(
        append_raw(acct, "INBOX", b, strlen(b), 4096, NULL, 0, 0, &ub, NULL),
        0);
    assert_int_equal(
        append_raw(acct, "INBOX", b, strlen(b), 4096, NULL, 0, 0, &uc, NULL),
        0);
    struct ph_mailbox_status st = status_of(acct, "INBOX");
    assert_int_equal(st.messages, 3);
    assert_int_equal(st.recent, 3);
    assert_int_equal(st.unseen, 2);
    assert_int_equal(st.uidnext, uc + 1);
    assert_int_equal(st.uidvalidity, st0.uidvalidity);
    assert_int_equal(st.size, strlen(a) + 2 * strlen(b));
    assert_true(st.highestmodseq > st0.highestmodseq);

    /* Another mailbox is not counted. */
    assert_int_equal(status_of(acct, "Sent").messages, 0);
    free(a);
    free(b);
    ph_account_release(&acct);
}

static void test_append_then_fetch_returns_metadata_and_info(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("append");
    /* Bare LF line ends are stored as CRLF. */
    const char *lf = "From: Alice <alice@example.org>\n"
                     "To: bob@example.org\n"
                     "Subject: Lunch?\n"
                     "Date: Thu, 26 Nov 2026 09:30:00 +0100\n"
                     "\n"
                     "At noon.\n";
    char *crlf = ph_strdup("From: Alice <alice@example.org>\r\n"
                           "To: bob@example.org\r\n"
                           "Subject: Lunch?\r\n"
                           "Date: Thu, 26 Nov 2026 09:30:00 +0100\r\n"
                           "\r\n"
                           "At noon.\r\n");
    struct ph_flags flags = {.system = PH_FLAG_FLAGGED | PH_FLAG_DRAFT};
    assert_int_equal(ph_flags_add_name(&flags, "$Label1"), 0);
    assert_int_equal(ph_flags_add_name(&flags, "Project_X"), 0);
    uint32_t uid = 0, uidvalidity = 0;
    assert_int_equal(append_raw(acct, "INBOX", lf, strlen(lf), 3, &flags,
                                1764145800, -300, &uid, &uidvalidity),
                     0);
    ph_flags_clear(&flags);
    assert_int_equal(uidvalidity, status_of(acct, "INBOX").uidvalidity);

    struct ph_mailbox *mb = open_mb(acct, "INBOX", true);
    assert_int_equal(ph_mailbox_uidvalidity(mb), uidvalidity);
    struct metas l = {0};
    fetch_all(mb, PH_META_INFO, &l);
    assert_int_equal(l.n, 1);
    const struct meta *m = &l.v[0];
    assert_int_equal(m->uid, uid);
    assert_int_equal(m->flags, PH_FLAG_FLAGGED | PH_FLAG_DRAFT);
    assert_string_equal(m->keywords, "$Label1 Project_X");
    assert_int_equal(m->internal_date, 1764145800);
    assert_int_equal(m->internal_tz, -300);
    assert_int_equal(m->size, strlen(crlf));
    assert_true(m->modseq > 0);
    assert_non_null(m->info);

    struct ph_message_info *info = NULL;
    const char *err = NULL;
    assert_int_equal(
        ph_message_info_deserialize(m->info, m->info_size, &info, &err), 0);
    assert_int_equal(info->size, strlen(crlf));
    assert_non_null(strstr(info->envelope, "\"Lunch?\""));
    assert_non_null(
        strstr(info->envelope, "(\"Alice\" NIL \"alice\" \"example.org\")"));
    assert_non_null(info->bodystructure);
    ph_message_info_free(&info);

    /* Without PH_META_INFO no info is needed. */
    struct metas l2 = {0};
    fetch_all(mb, 0, &l2);
    assert_int_equal(l2.n, 1);
    assert_int_equal(l2.v[0].size, strlen(crlf));
    metas_clear(&l2);

    size_t len;
    char *bytes = read_range(mb, uid, 0, UINT64_MAX, &len);
    assert_int_equal(len, strlen(crlf));
    assert_memory_equal(bytes, crlf, len);
    free(bytes);

    /* UIDs that do not exist give nothing, and no error. */
    struct ph_uidset none = uids(uid + 1, uid + 100);
    assert_int_equal(ph_mailbox_fetch(mb, &none, 0, collect_meta, &l2, &err),
                     0);
    assert_int_equal(l2.n, 0);
    ph_uidset_clear(&none);
    assert_fails(ph_mailbox_read(mb, uid + 1, 0, 10, collect_bytes,
                                 &(struct ph_buf){0}, &err),
                 PH_STORAGE_ERR_NOT_FOUND, err);

    metas_clear(&l);
    free(crlf);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static int stop_at_first(void *arg, const struct ph_message_meta *m)
{
    (void)m;
    ++*(int *)arg;
    return 42;
}

/* PH_META_FETCH gives ENVELOPE, BODYSTRUCTURE and BODY as the structure
 * holds them, with or without the structure itself. */
static void test_fetch_values_are_those_of_the_structure(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("fetch-values");
    append_msg(acct, "INBOX", "plain", 0, NULL);
    const char *multi =
        "From: =?UTF-8?Q?J=C3=B6rg?= <j@example.de>\r\n"
        "Subject: parts\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n";
    struct ph_flags none = {0};
    uint32_t uid;
    assert_int_equal(append_raw(acct, "INBOX", multi, strlen(multi), 11, &none,
                                1700000000, 0, &uid, NULL),
                     0);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", true);
    struct ph_meta_list infos = {0}, values = {0}, both = {0};
    const char *err = NULL;
    assert_int_equal(ph_mailbox_fetch(mb, NULL, PH_META_INFO, ph_meta_list_add,
                                      &infos, &err),
                     0);
    assert_int_equal(ph_mailbox_fetch(mb, NULL, PH_META_FETCH, ph_meta_list_add,
                                      &values, &err),
                     0);
    assert_int_equal(ph_mailbox_fetch(mb, NULL, PH_META_INFO | PH_META_FETCH,
                                      ph_meta_list_add, &both, &err),
                     0);
    assert_int_equal(infos.n, 2);
    assert_int_equal(values.n, 2);
    assert_int_equal(both.n, 2);
    for (size_t i = 0; i < infos.n; i++) {
        struct ph_message_info *info = NULL;
        assert_non_null(infos.v[i].info);
        assert_null(infos.v[i].envelope);
        assert_int_equal(ph_message_info_deserialize(infos.v[i].info,
                                                     infos.v[i].info_size,
                                                     &info, &err),
                         0);
        assert_null(values.v[i].info);
        assert_string_equal(values.v[i].envelope, info->envelope);
        assert_string_equal(values.v[i].bodystructure, info->bodystructure);
        assert_string_equal(values.v[i].body, info->body);
        assert_non_null(both.v[i].info);
        assert_int_equal(both.v[i].info_size, infos.v[i].info_size);
        assert_string_equal(both.v[i].envelope, info->envelope);
        assert_string_equal(both.v[i].bodystructure, info->bodystructure);
        ph_message_info_free(&info);
    }
    assert_non_null(strstr(values.v[1].bodystructure, "\"mixed\""));
    ph_meta_list_free(&infos);
    ph_meta_list_free(&values);
    ph_meta_list_free(&both);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_fetch_stops_when_the_callback_says_so(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("fetchstop");
    append_msg(acct, "INBOX", "1", 0, NULL);
    append_msg(acct, "INBOX", "2", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", true);
    int calls = 0;
    const char *err = NULL;
    assert_int_equal(ph_mailbox_fetch(mb, NULL, 0, stop_at_first, &calls, &err),
                     42);
    assert_int_equal(calls, 1);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_read_serves_byte_ranges(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("ranges");
    char *text = message_text("ranges", "0123456789abcdefghijklmnopqrstuvwxyz");
    size_t total = strlen(text);
    uint32_t uid = 0;
    assert_int_equal(
        append_raw(acct, "INBOX", text, total, 5, NULL, 0, 0, &uid, NULL), 0);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", true);
    static const struct {
        uint64_t off, len;
    } cases[] = {{0, 1}, {0, 10}, {5, 20}, {40, 1000}, {0, 0}, {1, UINT64_MAX}};
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        size_t len;
        char *got = read_range(mb, uid, cases[i].off, cases[i].len, &len);
        uint64_t end =
            cases[i].off + (cases[i].len > total ? total : cases[i].len);
        if (end > total)
            end = total;
        assert_int_equal(len, end - cases[i].off);
        assert_memory_equal(got, text + cases[i].off, len);
        free(got);
    }
    /* A start at or past the end gives nothing. */
    size_t len;
    char *got = read_range(mb, uid, total, 10, &len);
    assert_int_equal(len, 0);
    free(got);
    got = read_range(mb, uid, total + 100, 10, &len);
    assert_int_equal(len, 0);
    free(got);
    free(text);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_append_to_missing_mailbox_reports_not_found(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("appmissing");
    struct ph_append *app = NULL;
    const char *err = NULL;
    assert_fails(ph_append_begin(acct, "Nowhere", 10, &app, &err),
                 PH_STORAGE_ERR_NOT_FOUND, err);
    assert_null(app);
    assert_fails(ph_append_begin(acct, "Bad..Name", 10, &app, &err),
                 PH_STORAGE_ERR_INVALID, err);
    ph_account_release(&acct);
}

static void test_append_abort_leaves_nothing(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("abort");
    struct ph_mailbox_status before = status_of(acct, "INBOX");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);

    char *text = message_text("aborted", "never seen");
    struct ph_append *app = NULL;
    const char *err = NULL;
    size_t len = strlen(text);
    assert_int_equal(ph_append_begin(acct, "INBOX", len, &app, &err), 0);
    assert_int_equal(ph_append_write(app, text, len / 2, &err), 0);
    /* Not visible while it is being written. */
    struct metas l = {0};
    uint64_t highest = 0;
    assert_int_equal(
        ph_mailbox_changes(mb, 0, NULL, &highest, collect_meta, &l, &err), 0);
    assert_int_equal(l.n, 0);
    ph_append_abort(&app);
    assert_null(app);

    struct ph_mailbox_status after = status_of(acct, "INBOX");
    assert_int_equal(after.messages, 0);
    assert_int_equal(after.uidnext, before.uidnext);
    assert_int_equal(after.highestmodseq, before.highestmodseq);
    fetch_all(mb, 0, &l);
    assert_int_equal(l.n, 0);

    /* A large one, aborted after many pieces. */
    assert_int_equal(ph_append_begin(acct, "INBOX", 4 << 20, &app, &err), 0);
    char piece[65536];
    memset(piece, 'z', sizeof(piece));
    for (int i = 0; i < 64; i++)
        assert_int_equal(ph_append_write(app, piece, sizeof(piece), &err), 0);
    ph_append_abort(&app);
    assert_int_equal(status_of(acct, "INBOX").messages, 0);

    free(text);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* n appends to mailbox, each written in full, for ph_append_finish_all. */
static void batch_begin(struct ph_account *acct, const char *mailbox,
                        struct ph_append_msg *msgs, size_t n,
                        const struct ph_flags *flags)
{
    const char *err = NULL;
    for (size_t i = 0; i < n; i++) {
        char subject[32];
        snprintf(subject, sizeof(subject), "batch %zu", i);
        char *text = message_text(subject, "one of several");
        assert_int_equal(
            ph_append_begin(acct, mailbox, strlen(text), &msgs[i].app, &err),
            0);
        assert_int_equal(ph_append_write(msgs[i].app, text, strlen(text), &err),
                         0);
        msgs[i].flags = &flags[i];
        msgs[i].internal_date = 1000000000 + (time_t)i;
        msgs[i].internal_tz = 0;
        free(text);
    }
}

static void test_append_batch_commits_all_at_once(void **state)
{
    (void)state;
    if (!ph_storage_append_batch(storage))
        skip();
    struct ph_account *acct = account_new("batch");
    (void)append_msg(acct, "INBOX", "before", 0, NULL);
    struct ph_mailbox_status before = status_of(acct, "INBOX");
    struct ph_flags flags[3] = {{.system = PH_FLAG_SEEN}, {0}, {0}};
    ph_strlist_add(&flags[2].keywords, "$Work");
    struct ph_append_msg msgs[3];
    batch_begin(acct, "INBOX", msgs, 3, flags);
    uint32_t uids[3], uidvalidity = 0;
    const char *err = NULL;
    assert_int_equal(ph_append_finish_all(msgs, 3, uids, &uidvalidity, &err),
                     0);
    for (size_t i = 0; i < 3; i++) {
        assert_null(msgs[i].app);
        /* RFC 3502: the UIDs in the order the messages were appended. */
        assert_int_equal(uids[i], before.uidnext + i);
    }
    assert_int_equal(uidvalidity, before.uidvalidity);
    struct ph_mailbox_status after = status_of(acct, "INBOX");
    assert_int_equal(after.messages, before.messages + 3);
    assert_int_equal(after.uidnext, before.uidnext + 3);
    assert_true(after.highestmodseq >= before.highestmodseq + 1);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", true);
    struct metas l = {0};
    fetch_all(mb, 0, &l);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.v[1].flags, PH_FLAG_SEEN);
    assert_int_equal(l.v[2].flags, 0);
    assert_int_equal(l.v[3].internal_date, 1000000002);
    assert_string_equal(l.v[3].keywords, "$Work");
    metas_clear(&l);
    ph_mailbox_close(&mb);
    ph_flags_clear(&flags[2]);
    ph_account_release(&acct);
}

static void test_append_batch_failing_stores_none(void **state)
{
    (void)state;
    if (!ph_storage_append_batch(storage))
        skip();
    struct ph_account *acct = account_new("batchfail");
    struct ph_mailbox_status before = status_of(acct, "INBOX");
    /* The third message's keyword is not an atom: the whole batch goes. */
    struct ph_flags flags[3] = {{0}, {0}, {0}};
    ph_strlist_add(&flags[2].keywords, "no good");
    struct ph_append_msg msgs[3];
    batch_begin(acct, "INBOX", msgs, 3, flags);
    uint32_t uids[3], uidvalidity = 0;
    const char *err = NULL;
    assert_fails(ph_append_finish_all(msgs, 3, uids, &uidvalidity, &err),
                 PH_STORAGE_ERR_INVALID, err);
    for (size_t i = 0; i < 3; i++)
        assert_null(msgs[i].app);
    struct ph_mailbox_status after = status_of(acct, "INBOX");
    assert_int_equal(after.messages, 0);
    assert_int_equal(after.uidnext, before.uidnext);
    assert_int_equal(after.highestmodseq, before.highestmodseq);

    /* The mailbox deleted before the commit: none of them either. */
    const char *e2 = NULL;
    assert_int_equal(ph_mailbox_create(acct, "Gone", 0, &e2), 0);
    struct ph_flags none[2] = {{0}, {0}};
    batch_begin(acct, "Gone", msgs, 2, none);
    assert_int_equal(ph_mailbox_delete(acct, "Gone", &e2), 0);
    assert_fails(ph_append_finish_all(msgs, 2, uids, &uidvalidity, &err),
                 PH_STORAGE_ERR_NOT_FOUND, err);
    assert_null(msgs[0].app);
    assert_null(msgs[1].app);
    ph_flags_clear(&flags[2]);
    ph_account_release(&acct);
}

/* Compares what read() streams with the expected bytes, piece by piece. */
struct stream_check {
    const char *expect;
    size_t pos, max_piece;
    bool same;
};

static int check_stream(void *arg, const void *data, size_t len)
{
    struct stream_check *c = arg;
    if (memcmp(c->expect + c->pos, data, len) != 0)
        c->same = false;
    c->pos += len;
    if (len > c->max_piece)
        c->max_piece = len;
    return 0;
}

static void test_large_message_streams_in_and_reads_back_exactly(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("large");
    const size_t size = 20u << 20;
    char *msg = ph_malloc(size);
    size_t off = (size_t)snprintf(msg, size,
                                  "From: big@example.org\r\n"
                                  "Subject: twenty megabytes\r\n"
                                  "Content-Type: application/octet-stream\r\n"
                                  "\r\n");
    uint32_t x = 12345;
    while (off < size) {
        /* Lines of 76 printable characters, like base64. */
        for (int i = 0; i < 76 && off < size - 2; i++) {
            x = x * 1103515245u + 12345u;
            msg[off++] = (char)('A' + (x >> 16) % 26);
        }
        if (off < size - 1)
            msg[off++] = '\r';
        if (off < size)
            msg[off++] = '\n';
    }
    msg[size - 2] = '\r';
    msg[size - 1] = '\n';

    uint32_t uid = 0;
    assert_int_equal(
        append_raw(acct, "INBOX", msg, size, 65536, NULL, 0, 0, &uid, NULL), 0);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", true);
    struct meta m = fetch_one(mb, uid);
    assert_int_equal(m.size, size);
    free(m.keywords);

    static const struct {
        uint64_t off, len;
    } cases[] = {
        {0, UINT64_MAX},         {0, 100},      {1000000, 5000000},
        {(20u << 20) - 10, 100}, {12345678, 1}, {65535, 65538},
    };
    const char *err = NULL;
    for (size_t i = 0; i < PH_N_ELEMENTS(cases); i++) {
        struct stream_check c = {
            .expect = msg, .pos = cases[i].off, .same = true};
        assert_int_equal(ph_mailbox_read(mb, uid, cases[i].off, cases[i].len,
                                         check_stream, &c, &err),
                         0);
        uint64_t end = cases[i].len > size - cases[i].off
                           ? size
                           : cases[i].off + cases[i].len;
        assert_int_equal(c.pos, end);
        assert_true(c.same);
        /* Streamed in pieces, not handed over whole. */
        assert_true(c.max_piece <= (4u << 20));
    }
    free(msg);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* ---- store ----------------------------------------------------------------
 */

static void test_store_add_remove_replace_take_new_modseqs(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("store");
    uint32_t u1 = append_msg(acct, "INBOX", "1", 0, NULL);
    uint32_t u2 = append_msg(acct, "INBOX", "2", PH_FLAG_SEEN, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    const char *err = NULL;
    struct ph_uidset both = uids(u1, u2);
    struct metas changed = {0};

    uint64_t h0 = status_of(acct, "INBOX").highestmodseq;
    struct ph_flags f = {.system = PH_FLAG_FLAGGED | PH_FLAG_SEEN};
    assert_int_equal(ph_mailbox_store(mb, &both, PH_STORE_ADD, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    assert_int_equal(changed.n, 2);
    uint64_t h1 = status_of(acct, "INBOX").highestmodseq;
    assert_true(h1 > h0);
    for (size_t i = 0; i < changed.n; i++) {
        assert_int_equal(changed.v[i].flags, PH_FLAG_FLAGGED | PH_FLAG_SEEN);
        assert_true(changed.v[i].modseq > h0);
        assert_true(changed.v[i].modseq <= h1);
    }
    assert_int_equal(status_of(acct, "INBOX").unseen, 0);
    metas_clear(&changed);

    f.system = PH_FLAG_SEEN;
    assert_int_equal(ph_mailbox_store(mb, &both, PH_STORE_REMOVE, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    assert_int_equal(changed.n, 2);
    assert_int_equal(changed.v[0].flags, PH_FLAG_FLAGGED);
    assert_int_equal(status_of(acct, "INBOX").unseen, 2);
    uint64_t h2 = status_of(acct, "INBOX").highestmodseq;
    assert_true(h2 > h1);
    metas_clear(&changed);

    struct ph_uidset one = uids(u2, u2);
    f.system = PH_FLAG_ANSWERED;
    assert_int_equal(ph_mailbox_store(mb, &one, PH_STORE_REPLACE, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    assert_int_equal(changed.n, 1);
    assert_int_equal(changed.v[0].uid, u2);
    assert_int_equal(changed.v[0].flags, PH_FLAG_ANSWERED);
    assert_true(changed.v[0].modseq > h2);
    metas_clear(&changed);

    struct meta m1 = fetch_one(mb, u1);
    assert_int_equal(m1.flags, PH_FLAG_FLAGGED);
    free(m1.keywords);

    ph_uidset_clear(&both);
    ph_uidset_clear(&one);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_store_that_changes_nothing_keeps_modseq(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("storenop");
    uint32_t u = append_msg(acct, "INBOX", "1", PH_FLAG_SEEN, "$A");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct meta before = fetch_one(mb, u);
    uint64_t h = status_of(acct, "INBOX").highestmodseq;
    struct ph_uidset set = uids(u, u);
    struct metas changed = {0};
    const char *err = NULL;

    struct ph_flags f = {.system = PH_FLAG_SEEN};
    assert_int_equal(ph_flags_add_name(&f, "$a"), 0);
    assert_int_equal(ph_mailbox_store(mb, &set, PH_STORE_ADD, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    ph_flags_clear(&f);
    f.system = PH_FLAG_DELETED;
    assert_int_equal(ph_mailbox_store(mb, &set, PH_STORE_REMOVE, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    f.system = PH_FLAG_SEEN;
    assert_int_equal(ph_flags_add_name(&f, "$A"), 0);
    assert_int_equal(ph_mailbox_store(mb, &set, PH_STORE_REPLACE, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    ph_flags_clear(&f);
    assert_int_equal(changed.n, 0);
    struct meta after = fetch_one(mb, u);
    assert_int_equal(after.modseq, before.modseq);
    assert_int_equal(status_of(acct, "INBOX").highestmodseq, h);
    free(before.keywords);
    free(after.keywords);
    ph_uidset_clear(&set);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_store_unchangedsince_skips_modified_messages(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("unchanged");
    uint32_t u1 = append_msg(acct, "INBOX", "1", 0, NULL);
    uint32_t u2 = append_msg(acct, "INBOX", "2", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct meta m1 = fetch_one(mb, u1), m2 = fetch_one(mb, u2);
    assert_true(m2.modseq > m1.modseq);

    struct ph_uidset set = uids(u1, u2), modified = {0};
    struct ph_flags f = {.system = PH_FLAG_FLAGGED};
    struct metas changed = {0};
    const char *err = NULL;
    assert_int_equal(ph_mailbox_store(mb, &set, PH_STORE_ADD, &f, m1.modseq,
                                      &modified, collect_meta, &changed, &err),
                     0);
    char *want = ph_strdup_printf("%u", u2);
    assert_true(uidset_is(&modified, want));
    free(want);
    assert_int_equal(changed.n, 1);
    assert_int_equal(changed.v[0].uid, u1);
    assert_int_equal(changed.v[0].flags, PH_FLAG_FLAGGED);
    struct meta n2 = fetch_one(mb, u2);
    assert_int_equal(n2.flags, 0);
    assert_int_equal(n2.modseq, m2.modseq);
    free(n2.keywords);
    ph_uidset_clear(&modified);
    metas_clear(&changed);
    free(m1.keywords);
    free(m2.keywords);
    ph_uidset_clear(&set);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_keywords_are_case_insensitive_and_kept_as_written(void **s)
{
    (void)s;
    struct ph_account *acct = account_new("keywords");
    uint32_t u = append_msg(acct, "INBOX", "1", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct ph_uidset set = uids(u, u);
    struct metas changed = {0};
    const char *err = NULL;

    struct ph_flags f = {0};
    assert_int_equal(ph_flags_add_name(&f, "$Work"), 0);
    assert_int_equal(ph_flags_add_name(&f, "todo"), 0);
    assert_int_equal(ph_mailbox_store(mb, &set, PH_STORE_ADD, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    assert_int_equal(changed.n, 1);
    assert_string_equal(changed.v[0].keywords, "$Work todo");
    metas_clear(&changed);
    ph_flags_clear(&f);

    /* The same words in another case change nothing. */
    assert_int_equal(ph_flags_add_name(&f, "$WORK"), 0);
    assert_int_equal(ph_mailbox_store(mb, &set, PH_STORE_ADD, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    assert_int_equal(changed.n, 0);

    /* Removal matches in any case. */
    assert_int_equal(ph_mailbox_store(mb, &set, PH_STORE_REMOVE, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    assert_int_equal(changed.n, 1);
    assert_string_equal(changed.v[0].keywords, "todo");
    metas_clear(&changed);
    ph_flags_clear(&f);

    struct meta m = fetch_one(mb, u);
    assert_string_equal(m.keywords, "todo");
    free(m.keywords);

    /* RFC 3501 6.4.6 FLAGS replaces: as many keywords as before, other
     * words, is a change; the same words in another case are none. */
    assert_int_equal(ph_flags_add_name(&f, "Done"), 0);
    assert_int_equal(ph_mailbox_store(mb, &set, PH_STORE_REPLACE, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    assert_int_equal(changed.n, 1);
    assert_string_equal(changed.v[0].keywords, "Done");
    metas_clear(&changed);
    ph_flags_clear(&f);
    m = fetch_one(mb, u);
    assert_string_equal(m.keywords, "Done");
    free(m.keywords);
    assert_int_equal(ph_flags_add_name(&f, "DONE"), 0);
    assert_int_equal(ph_mailbox_store(mb, &set, PH_STORE_REPLACE, &f, 0, NULL,
                                      collect_meta, &changed, &err),
                     0);
    assert_int_equal(changed.n, 0);
    ph_flags_clear(&f);
    ph_uidset_clear(&set);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* ---- copy, move, expunge, changes -----------------------------------------
 */

static void test_copy_returns_uid_map_and_keeps_flags(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("copy");
    const char *err = NULL;
    uint32_t u1 = append_msg(acct, "INBOX", "1", PH_FLAG_SEEN, "$A");
    append_msg(acct, "INBOX", "2", 0, NULL);
    uint32_t u3 = append_msg(acct, "INBOX", "3", PH_FLAG_ANSWERED, NULL);
    assert_int_equal(ph_mailbox_create(acct, "Dest", 0, &err), 0);
    append_msg(acct, "Dest", "already there", 0, NULL);
    struct ph_mailbox_status dest0 = status_of(acct, "Dest");

    struct ph_mailbox *mb = open_mb(acct, "INBOX", true);
    struct ph_uidset set = {0}, src = {0}, dst = {0};
    ph_uidset_add(&set, u1);
    ph_uidset_add(&set, u3);
    ph_uidset_add(&set, u3 + 50); /* not there: ignored */
    uint32_t validity = 0;
    assert_int_equal(
        ph_mailbox_copy(mb, &set, "Dest", false, &src, &dst, &validity, &err),
        0);
    assert_int_equal(validity, dest0.uidvalidity);
    assert_int_equal(ph_uidset_count(&src), 2);
    assert_true(ph_uidset_contains(&src, u1));
    assert_true(ph_uidset_contains(&src, u3));
    char *want = ph_strdup_printf("%u:%u", dest0.uidnext, dest0.uidnext + 1);
    assert_true(uidset_is(&dst, want));
    free(want);

    struct ph_mailbox_status dest1 = status_of(acct, "Dest");
    assert_int_equal(dest1.messages, 3);
    assert_int_equal(dest1.uidnext, dest0.uidnext + 2);
    assert_true(dest1.highestmodseq > dest0.highestmodseq);
    assert_int_equal(status_of(acct, "INBOX").messages, 3);

    struct ph_mailbox *d = open_mb(acct, "Dest", true);
    struct meta c1 = fetch_one(d, dest0.uidnext);
    assert_int_equal(c1.flags, PH_FLAG_SEEN);
    assert_string_equal(c1.keywords, "$A");
    struct meta o1 = fetch_one(mb, u1);
    assert_int_equal(c1.size, o1.size);
    assert_int_equal(c1.internal_date, o1.internal_date);
    size_t la, lb;
    char *ba = read_range(mb, u1, 0, UINT64_MAX, &la);
    char *bb = read_range(d, dest0.uidnext, 0, UINT64_MAX, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(ba);
    free(bb);
    free(c1.keywords);
    free(o1.keywords);

    /* Expunging the original keeps the copy. */
    ph_mailbox_close(&mb);
    mb = open_mb(acct, "INBOX", false);
    struct ph_flags del = {.system = PH_FLAG_DELETED};
    struct ph_uidset s1 = uids(u1, u1);
    assert_int_equal(ph_mailbox_store(mb, &s1, PH_STORE_ADD, &del, 0, NULL,
                                      NULL, NULL, &err),
                     0);
    assert_int_equal(ph_mailbox_expunge(mb, &s1, NULL, &err), 0);
    size_t lc;
    char *bc = read_range(d, dest0.uidnext, 0, UINT64_MAX, &lc);
    assert_int_equal(lc, la);
    free(bc);

    /* To a missing mailbox: NOT_FOUND, so the client can TRYCREATE. */
    ph_uidset_clear(&src);
    ph_uidset_clear(&dst);
    assert_fails(ph_mailbox_copy(mb, &set, "Missing", false, &src, &dst,
                                 &validity, &err),
                 PH_STORAGE_ERR_NOT_FOUND, err);
    assert_int_equal(src.n, 0);

    ph_uidset_clear(&s1);
    ph_uidset_clear(&set);
    ph_mailbox_close(&d);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_move_expunges_sources_with_tombstones(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("move");
    const char *err = NULL;
    uint32_t u1 = append_msg(acct, "INBOX", "1", 0, NULL);
    uint32_t u2 = append_msg(acct, "INBOX", "2", PH_FLAG_FLAGGED, NULL);
    uint32_t u3 = append_msg(acct, "INBOX", "3", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    uint64_t h0 = status_of(acct, "INBOX").highestmodseq;
    uint32_t trash_next = status_of(acct, "Trash").uidnext;

    struct ph_uidset set = {0}, src = {0}, dst = {0}, gone = {0};
    ph_uidset_add(&set, u2);
    ph_uidset_add(&set, u3);
    uint32_t validity = 0;
    assert_int_equal(
        ph_mailbox_copy(mb, &set, "Trash", true, &src, &dst, &validity, &err),
        0);
    char *want = ph_strdup_printf("%u:%u", u2, u3);
    assert_true(uidset_is(&src, want));
    free(want);
    want = ph_strdup_printf("%u:%u", trash_next, trash_next + 1);
    assert_true(uidset_is(&dst, want));
    free(want);

    assert_int_equal(status_of(acct, "INBOX").messages, 1);
    assert_int_equal(status_of(acct, "Trash").messages, 2);
    uint64_t highest = 0;
    struct metas l = {0};
    assert_int_equal(
        ph_mailbox_changes(mb, h0, &gone, &highest, collect_meta, &l, &err), 0);
    assert_true(uidset_is(&gone, want = ph_strdup_printf("%u:%u", u2, u3)));
    free(want);
    assert_int_equal(l.n, 0);
    assert_true(highest > h0);

    struct ph_mailbox *t = open_mb(acct, "Trash", true);
    struct meta m = fetch_one(t, trash_next);
    assert_int_equal(m.flags, PH_FLAG_FLAGGED);
    free(m.keywords);

    /* A read-only mailbox cannot move. */
    ph_uidset_clear(&set);
    ph_uidset_add(&set, u1);
    assert_fails(
        ph_mailbox_copy(t, &set, "INBOX", true, NULL, NULL, &validity, &err),
        PH_STORAGE_ERR_NOT_ALLOWED, err);

    metas_clear(&l);
    ph_uidset_clear(&set);
    ph_uidset_clear(&src);
    ph_uidset_clear(&dst);
    ph_uidset_clear(&gone);
    ph_mailbox_close(&t);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* RFC 6851 3.3: "moving a message to the currently selected mailbox (that
 * is, where the source and target mailboxes are the same) is allowed when
 * copying the message to the currently selected mailbox is allowed": a
 * copy gets new UIDs (RFC 4315 COPYUID), a move also expunges the sources,
 * and the handle's changes() show both. */
static void test_copy_and_move_into_the_mailbox_itself(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("self");
    const char *err = NULL;
    uint32_t u1 = append_msg(acct, "INBOX", "1", PH_FLAG_SEEN, "$Label1");
    uint32_t u2 = append_msg(acct, "INBOX", "2", PH_FLAG_FLAGGED, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct ph_mailbox_status st0 = status_of(acct, "INBOX");
    struct meta o2 = fetch_one(mb, u2);
    size_t l2;
    char *b2 = read_range(mb, u2, 0, UINT64_MAX, &l2);

    struct ph_uidset set = uids(u1, u1), src = {0}, dst = {0}, gone = {0};
    uint32_t validity = 0;
    assert_int_equal(
        ph_mailbox_copy(mb, &set, "INBOX", false, &src, &dst, &validity, &err),
        0);
    assert_int_equal(validity, st0.uidvalidity);
    char *want = ph_strdup_printf("%u", u1);
    assert_true(uidset_is(&src, want));
    free(want);
    want = ph_strdup_printf("%u", st0.uidnext);
    assert_true(uidset_is(&dst, want));
    free(want);
    assert_int_equal(status_of(acct, "INBOX").messages, 3);

    ph_uidset_clear(&set);
    ph_uidset_clear(&src);
    ph_uidset_clear(&dst);
    set = uids(u2, u2);
    assert_int_equal(
        ph_mailbox_copy(mb, &set, "INBOX", true, &src, &dst, &validity, &err),
        0);
    want = ph_strdup_printf("%u", u2);
    assert_true(uidset_is(&src, want));
    free(want);
    want = ph_strdup_printf("%u", st0.uidnext + 1);
    assert_true(uidset_is(&dst, want));
    free(want);
    struct ph_mailbox_status st1 = status_of(acct, "INBOX");
    assert_int_equal(st1.messages, 3);
    assert_int_equal(st1.uidnext, st0.uidnext + 2);
    assert_true(st1.highestmodseq > st0.highestmodseq);

    /* The handle sees the expunge and both new messages, with the flags
     * of their sources and \Recent (this handle asks first). */
    struct metas l = {0};
    uint64_t highest = 0;
    assert_int_equal(ph_mailbox_changes(mb, st0.highestmodseq, &gone, &highest,
                                        collect_meta, &l, &err),
                     0);
    want = ph_strdup_printf("%u", u2);
    assert_true(uidset_is(&gone, want));
    free(want);
    assert_int_equal(highest, st1.highestmodseq);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].uid, st0.uidnext);
    assert_int_equal(l.v[0].flags, PH_FLAG_SEEN);
    assert_string_equal(l.v[0].keywords, "$Label1");
    assert_true(l.v[0].recent);
    assert_int_equal(l.v[1].uid, st0.uidnext + 1);
    assert_int_equal(l.v[1].flags, PH_FLAG_FLAGGED);
    assert_int_equal(l.v[1].size, o2.size);
    assert_int_equal(l.v[1].internal_date, o2.internal_date);
    assert_true(l.v[1].recent);
    metas_clear(&l);
    size_t lm;
    char *bm = read_range(mb, st0.uidnext + 1, 0, UINT64_MAX, &lm);
    assert_int_equal(lm, l2);
    assert_memory_equal(bm, b2, l2);
    free(bm);

    /* Read-only: a copy into itself is allowed, a move is not. */
    struct ph_mailbox *ro = open_mb(acct, "INBOX", true);
    ph_uidset_clear(&set);
    ph_uidset_clear(&src);
    ph_uidset_clear(&dst);
    set = uids(u1, u1);
    assert_int_equal(
        ph_mailbox_copy(ro, &set, "INBOX", false, &src, &dst, &validity, &err),
        0);
    want = ph_strdup_printf("%u", st0.uidnext + 2);
    assert_true(uidset_is(&dst, want));
    free(want);
    assert_fails(
        ph_mailbox_copy(ro, &set, "INBOX", true, NULL, NULL, &validity, &err),
        PH_STORAGE_ERR_NOT_ALLOWED, err);
    assert_int_equal(status_of(acct, "INBOX").messages, 4);

    free(b2);
    free(o2.keywords);
    ph_uidset_clear(&set);
    ph_uidset_clear(&src);
    ph_uidset_clear(&dst);
    ph_uidset_clear(&gone);
    ph_mailbox_close(&ro);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void set_flags(struct ph_mailbox *mb, uint32_t uid, uint32_t sys)
{
    struct ph_uidset s = uids(uid, uid);
    struct ph_flags f = {.system = sys};
    const char *err = NULL;
    assert_int_equal(
        ph_mailbox_store(mb, &s, PH_STORE_ADD, &f, 0, NULL, NULL, NULL, &err),
        0);
    ph_uidset_clear(&s);
}

static void test_expunge_removes_only_deleted_messages_in_set(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("expunge");
    const char *err = NULL;
    uint32_t u[5];
    for (int i = 0; i < 5; i++)
        u[i] = append_msg(acct, "INBOX", "m", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    set_flags(mb, u[0], PH_FLAG_DELETED);
    set_flags(mb, u[2], PH_FLAG_DELETED);
    set_flags(mb, u[4], PH_FLAG_DELETED);

    /* With a set: only the deleted ones in it. */
    struct ph_uidset set = uids(u[1], u[2]), gone = {0};
    assert_int_equal(ph_mailbox_expunge(mb, &set, &gone, &err), 0);
    char *want = ph_strdup_printf("%u", u[2]);
    assert_true(uidset_is(&gone, want));
    free(want);
    ph_uidset_clear(&gone);
    assert_int_equal(status_of(acct, "INBOX").messages, 4);

    /* Without: every deleted one. */
    assert_int_equal(ph_mailbox_expunge(mb, NULL, &gone, &err), 0);
    want = ph_strdup_printf("%u,%u", u[0], u[4]);
    assert_true(uidset_is(&gone, want));
    free(want);
    ph_uidset_clear(&gone);

    /* Nothing to do: no change, no new modseq. */
    uint64_t h = status_of(acct, "INBOX").highestmodseq;
    assert_int_equal(ph_mailbox_expunge(mb, NULL, &gone, &err), 0);
    assert_int_equal(gone.n, 0);
    assert_int_equal(status_of(acct, "INBOX").highestmodseq, h);

    struct metas l = {0};
    fetch_all(mb, 0, &l);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].uid, u[1]);
    assert_int_equal(l.v[1].uid, u[3]);
    metas_clear(&l);

    /* A read-only mailbox cannot expunge. */
    struct ph_mailbox *ro = open_mb(acct, "INBOX", true);
    assert_fails(ph_mailbox_expunge(ro, NULL, NULL, &err),
                 PH_STORAGE_ERR_NOT_ALLOWED, err);
    ph_mailbox_close(&ro);
    ph_uidset_clear(&set);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* More changed messages than one read of the store takes (256): each is
 * reported once, in UID order, with the flags and modseq it has now. */
static void test_changes_over_many_messages_report_each_once(void **state)
{
    (void)state;
    const uint32_t n = 300;
    struct ph_account *acct = account_new("manychanges");
    const char *err = NULL;
    uint32_t first = append_msg(acct, "INBOX", "m0", 0, NULL);
    for (uint32_t i = 1; i < n; i++)
        append_msg(acct, "INBOX", "m", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct metas l = {0};
    uint64_t h = 0;
    assert_int_equal(ph_mailbox_changes(mb, 0, NULL, &h, collect_meta, &l,
                                        &err),
                     0);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < l.n; i++)
        assert_int_equal(l.v[i].uid, first + i);
    metas_clear(&l);
    /* Flag all but the first 10 (one STORE, one modseq): 290 changed. */
    struct ph_uidset some = uids(first + 10, first + n - 1);
    struct ph_flags f = {.system = PH_FLAG_FLAGGED};
    assert_int_equal(ph_mailbox_store(mb, &some, PH_STORE_ADD, &f, 0, NULL,
                                      NULL, NULL, &err),
                     0);
    ph_uidset_clear(&some);
    uint64_t h2 = 0;
    assert_int_equal(ph_mailbox_changes(mb, h, NULL, &h2, collect_meta, &l,
                                        &err),
                     0);
    assert_int_equal(l.n, n - 10);
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.v[i].uid, first + 10 + i);
        assert_int_equal(l.v[i].flags, PH_FLAG_FLAGGED);
        assert_int_equal(l.v[i].modseq, h2);
    }
    metas_clear(&l);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_changes_report_new_changed_and_expunged(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("changes");
    const char *err = NULL;
    uint32_t old1 = append_msg(acct, "INBOX", "old1", 0, NULL);
    uint32_t old2 = append_msg(acct, "INBOX", "old2", 0, NULL);
    uint32_t old3 = append_msg(acct, "INBOX", "old3", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    uint64_t h0 = status_of(acct, "INBOX").highestmodseq;

    uint32_t fresh = append_msg(acct, "INBOX", "new", 0, NULL);
    set_flags(mb, old1, PH_FLAG_SEEN);
    set_flags(mb, old2, PH_FLAG_DELETED);
    struct ph_uidset two = uids(old2, old2);
    assert_int_equal(ph_mailbox_expunge(mb, &two, NULL, &err), 0);
    ph_uidset_clear(&two);

    struct metas l = {0};
    struct ph_uidset gone = {0};
    uint64_t highest = 0;
    assert_int_equal(
        ph_mailbox_changes(mb, h0, &gone, &highest, collect_meta, &l, &err), 0);
    assert_int_equal(highest, status_of(acct, "INBOX").highestmodseq);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.v[0].uid, old1);
    assert_int_equal(l.v[0].flags, PH_FLAG_SEEN);
    assert_int_equal(l.v[1].uid, fresh);
    for (size_t i = 0; i < l.n; i++)
        assert_true(l.v[i].modseq > h0 && l.v[i].modseq <= highest);
    assert_null(meta_find(&l, old3));
    char *want = ph_strdup_printf("%u", old2);
    assert_true(uidset_is(&gone, want));
    free(want);
    metas_clear(&l);
    ph_uidset_clear(&gone);

    /* Asked again from there: nothing. */
    uint64_t again = 0;
    assert_int_equal(
        ph_mailbox_changes(mb, highest, &gone, &again, collect_meta, &l, &err),
        0);
    assert_int_equal(l.n, 0);
    assert_int_equal(gone.n, 0);
    assert_int_equal(again, highest);

    /* From 0: everything there is, no expunges of messages never shown. */
    assert_int_equal(
        ph_mailbox_changes(mb, 0, NULL, &again, collect_meta, &l, &err), 0);
    assert_int_equal(l.n, 3);
    metas_clear(&l);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* Tombstones go after tombstone_horizon (INSTANCE_NAME_horizon says 0s:
 * at the sweep after each expunge). A changes() from before a purged
 * tombstone cannot know which UIDs went, so it names every UID below
 * UIDNEXT that the mailbox does not hold: RFC 7162 3.2.5.2 lets the server
 * send VANISHED for UIDs of the known set that no longer exist, and the
 * answer must never be a wrong small one. From after the horizon the
 * answer is exact again. */
static void test_changes_from_before_the_horizon_name_every_missing_uid(
    void **state)
{
    (void)state;
    if (storage_horizon == NULL)
        skip();
    const char *err = NULL;
    struct ph_account *acct = account_new_in(storage_horizon, "horizon");
    uint32_t u[6];
    for (int i = 0; i < 6; i++)
        u[i] = append_msg(acct, "INBOX", "m", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    uint64_t h0 = status_of(acct, "INBOX").highestmodseq;

    /* u[1] and u[3] go; their tombstones are purged by the sweep. */
    set_flags(mb, u[1], PH_FLAG_DELETED);
    struct ph_uidset one = uids(u[1], u[1]);
    assert_int_equal(ph_mailbox_expunge(mb, &one, NULL, &err), 0);
    ph_uidset_clear(&one);
    set_flags(mb, u[3], PH_FLAG_DELETED);
    one = uids(u[3], u[3]);
    assert_int_equal(ph_mailbox_expunge(mb, &one, NULL, &err), 0);
    ph_uidset_clear(&one);
    uint64_t h1 = status_of(acct, "INBOX").highestmodseq;
    set_flags(mb, u[4], PH_FLAG_SEEN);

    struct metas l = {0};
    struct ph_uidset gone = {0};
    uint64_t highest = 0;
    assert_int_equal(
        ph_mailbox_changes(mb, h0, &gone, &highest, collect_meta, &l, &err), 0);
    char *want = ph_strdup_printf("%u,%u", u[1], u[3]);
    assert_true(uidset_is(&gone, want));
    free(want);
    /* The changed messages are exact all the same. */
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].uid, u[4]);
    metas_clear(&l);
    ph_uidset_clear(&gone);

    /* Just below the last purged tombstone: still the full answer. */
    assert_int_equal(
        ph_mailbox_changes(mb, h1 - 1, &gone, &highest, NULL, NULL, &err), 0);
    want = ph_strdup_printf("%u,%u", u[1], u[3]);
    assert_true(uidset_is(&gone, want));
    free(want);
    ph_uidset_clear(&gone);

    /* From the last expunge on, nothing is missing: exact, empty. */
    assert_int_equal(
        ph_mailbox_changes(mb, h1, &gone, &highest, collect_meta, &l, &err), 0);
    assert_int_equal(gone.n, 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].uid, u[4]);
    metas_clear(&l);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* RFC 2180 4.1.1: "The server MAY allow the EXPUNGE of a multi-accessed
 * mailbox but keep the messages available to satisfy subsequent FETCH
 * commands until it is able to send an EXPUNGE response to each client."
 * A message another handle expunged is a ghost (PH_META_GHOSTS) with its
 * row as at the expunge, and its bytes read, while the storage keeps its
 * body; a fetch without the bit never shows it. */
static void
test_expunged_message_stays_a_ghost_while_its_body_stays(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("ghost");
    const char *err = NULL;
    uint32_t u[3];
    for (int i = 0; i < 3; i++)
        u[i] = append_msg(acct, "INBOX", "ghost", PH_FLAG_FLAGGED, "$Work");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct ph_mailbox *other = open_mb(acct, "INBOX", false);
    set_flags(other, u[1], PH_FLAG_DELETED);
    struct meta was = fetch_one(mb, u[1]);
    size_t len = 0;
    char *bytes = read_range(mb, u[1], 0, UINT64_MAX, &len);
    struct metas with_info = {0};
    struct ph_uidset all = uids(u[0], u[2]);
    assert_int_equal(ph_mailbox_fetch(mb, &all, PH_META_INFO, collect_meta,
                                      &with_info, &err),
                     0);
    assert_int_equal(with_info.n, 3);
    struct ph_uidset gone = {0};
    assert_int_equal(ph_mailbox_expunge(other, NULL, &gone, &err), 0);
    char *want = ph_strdup_printf("%u", u[1]);
    assert_true(uidset_is(&gone, want));
    ph_uidset_clear(&gone);

    /* Gone from the mailbox... */
    struct metas l = {0};
    assert_int_equal(ph_mailbox_fetch(mb, &all, 0, collect_meta, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_null(meta_find(&l, u[1]));
    metas_clear(&l);
    /* ...a ghost of it stays, as it was. */
    for (unsigned what = 0; what <= (PH_META_INFO | PH_META_FETCH); what++) {
        assert_int_equal(ph_mailbox_fetch(mb, &all, what | PH_META_GHOSTS,
                                          collect_meta, &l, &err),
                         0);
        assert_int_equal(l.n, 1);
        const struct meta *g = &l.v[0];
        assert_int_equal(g->uid, u[1]);
        assert_int_equal(g->modseq, was.modseq);
        assert_int_equal(g->flags, PH_FLAG_FLAGGED | PH_FLAG_DELETED);
        assert_string_equal(g->keywords, "$Work");
        assert_int_equal(g->recent, was.recent);
        assert_int_equal(g->internal_date, was.internal_date);
        assert_int_equal(g->internal_tz, was.internal_tz);
        assert_int_equal(g->size, was.size);
        if (what & PH_META_INFO) {
            const struct meta *w = meta_find(&with_info, u[1]);
            assert_int_equal(g->info_size, w->info_size);
            assert_memory_equal(g->info, w->info, w->info_size);
        } else {
            assert_null(g->info);
        }
        metas_clear(&l);
    }
    /* Only where asked: the others of the set are no ghosts. */
    struct ph_uidset first = uids(u[0], u[0]);
    assert_int_equal(
        ph_mailbox_fetch(mb, &first, PH_META_GHOSTS, collect_meta, &l, &err),
        0);
    assert_int_equal(l.n, 0);
    ph_uidset_clear(&first);
    /* Its bytes read as before, whole and in part. */
    size_t len2 = 0;
    char *again = read_range(mb, u[1], 0, UINT64_MAX, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(again, bytes, len);
    free(again);
    again = read_range(mb, u[1], 6, 5, &len2);
    assert_int_equal(len2, 5);
    assert_memory_equal(again, bytes + 6, 5);
    free(again);
    /* The expunge is a change like any other. */
    struct ph_uidset expunged = {0};
    assert_int_equal(
        ph_mailbox_changes(mb, was.modseq, &expunged, NULL, NULL, NULL, &err),
        0);
    assert_true(uidset_is(&expunged, want));
    free(want);
    ph_uidset_clear(&expunged);

    free(bytes);
    free(was.keywords);
    free(was.info);
    metas_clear(&with_info);
    ph_uidset_clear(&all);
    ph_mailbox_close(&other);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* A ghost lasts as long as its body (INSTANCE_NAME_grace says body_grace
 * 0s: the sweep after the expunge takes it): then neither its row nor its
 * bytes are there, and the caller falls back (imap: RFC 2180 4.1.2). */
static void test_ghost_goes_with_its_body(void **state)
{
    (void)state;
    if (storage_grace == NULL)
        skip();
    const char *err = NULL;
    struct ph_account *acct = account_new_in(storage_grace, "grace");
    uint32_t uid = append_msg(acct, "INBOX", "swept", PH_FLAG_DELETED, NULL);
    uint32_t kept = append_msg(acct, "INBOX", "kept", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct ph_uidset all = uids(uid, kept);
    assert_int_equal(ph_mailbox_expunge(mb, NULL, NULL, &err), 0);
    struct metas l = {0};
    assert_int_equal(ph_mailbox_fetch(mb, &all, PH_META_GHOSTS | PH_META_FETCH,
                                      collect_meta, &l, &err),
                     0);
    assert_int_equal(l.n, 0);
    assert_fails(ph_mailbox_read(mb, uid, 0, 10, collect_bytes,
                                 &(struct ph_buf){0}, &err),
                 PH_STORAGE_ERR_NOT_FOUND, err);
    ph_uidset_clear(&all);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* Flags a message of another handle the first time changes() calls back. */
struct flag_during {
    struct metas seen;
    struct ph_mailbox *other;
    uint32_t uid;
};

static int flag_during_cb(void *arg, const struct ph_message_meta *m)
{
    struct flag_during *f = arg;
    if (f->seen.n == 0)
        set_flags(f->other, f->uid, PH_FLAG_FLAGGED);
    return collect_meta(&f->seen, m);
}

/* A session's view (RFC 3501 2.3.1.2: sequence numbers) is what changes()
 * from 0 delivered, and later calls add only UIDs above it. So changes()
 * must deliver every message there is, even one whose flags another session
 * changes while it reads: left out, the message could only come back as a
 * change below the view's last UID (which the session ignores) or, once
 * the messages above it are expunged, as a new message whose UID is lower
 * than UIDs the session saw (2.3.1.1: UIDs only grow). More messages than
 * one read of the store takes, and the last one flagged while the first
 * are handed out. */
static void test_changes_deliver_a_message_flagged_while_they_read(void **s)
{
    (void)s;
    struct ph_account *acct = account_new("changes-flagged");
    enum { N = 300 };
    uint32_t first = 0, last = 0;
    for (int i = 0; i < N; i++) {
        last = append_msg(acct, "INBOX", "many", 0, NULL);
        first = first != 0 ? first : last;
    }
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct flag_during f = {.other = open_mb(acct, "INBOX", false),
                            .uid = last};
    uint64_t h = 0;
    const char *err = NULL;
    assert_int_equal(
        ph_mailbox_changes(mb, 0, NULL, &h, flag_during_cb, &f, &err), 0);
    /* Each message once, in UID order; the flag may or may not show yet
     * (a later changes() delivers it). */
    assert_int_equal(f.seen.n, N);
    for (size_t i = 0; i < f.seen.n; i++)
        assert_int_equal(f.seen.v[i].uid, first + i);
    metas_clear(&f.seen);
    struct metas l = {0};
    assert_int_equal(ph_mailbox_changes(mb, h, NULL, &h, collect_meta, &l,
                                        &err),
                     0);
    const struct meta *m = meta_find(&l, last);
    assert_non_null(m);
    assert_int_equal(m->flags, PH_FLAG_FLAGGED);
    metas_clear(&l);
    ph_mailbox_close(&f.other);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_uids_never_reused_after_expunging_everything(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("noreuse");
    const char *err = NULL;
    uint32_t u1 = append_msg(acct, "INBOX", "1", PH_FLAG_DELETED, NULL);
    uint32_t u2 = append_msg(acct, "INBOX", "2", PH_FLAG_DELETED, NULL);
    assert_true(u2 > u1);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    assert_int_equal(ph_mailbox_expunge(mb, NULL, NULL, &err), 0);
    ph_mailbox_close(&mb);
    struct ph_mailbox_status st = status_of(acct, "INBOX");
    assert_int_equal(st.messages, 0);
    assert_int_equal(st.uidnext, u2 + 1);
    uint32_t u3 = append_msg(acct, "INBOX", "3", 0, NULL);
    assert_int_equal(u3, u2 + 1);
    ph_account_release(&acct);
}

static void test_modseq_increases_with_every_change(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("modseq");
    const char *err = NULL;
    uint64_t last = status_of(acct, "INBOX").highestmodseq;
    uint32_t last_uid = 0;
    for (int round = 0; round < 5; round++) {
        uint32_t u = append_msg(acct, "INBOX", "m", 0, NULL);
        assert_true(u > last_uid);
        last_uid = u;
        uint64_t h = status_of(acct, "INBOX").highestmodseq;
        assert_true(h > last);
        last = h;
        struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
        struct meta m = fetch_one(mb, u);
        assert_int_equal(m.modseq, h);
        free(m.keywords);
        set_flags(mb, u, PH_FLAG_FLAGGED);
        h = status_of(acct, "INBOX").highestmodseq;
        assert_true(h > last);
        last = h;
        m = fetch_one(mb, u);
        assert_int_equal(m.modseq, h);
        free(m.keywords);
        set_flags(mb, u, PH_FLAG_DELETED);
        last = status_of(acct, "INBOX").highestmodseq;
        assert_int_equal(ph_mailbox_expunge(mb, NULL, NULL, &err), 0);
        h = status_of(acct, "INBOX").highestmodseq;
        assert_true(h > last);
        last = h;
        ph_mailbox_close(&mb);
    }
    ph_account_release(&acct);
}

/* ---- \Recent ------------------------------------------------------------- */

static bool recent_in(struct ph_mailbox *mb, uint32_t uid)
{
    struct meta m = fetch_one(mb, uid);
    free(m.keywords);
    return m.recent;
}

static void test_recent_goes_to_exactly_one_session(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("recent");
    const char *err = NULL;
    uint32_t u1 = append_msg(acct, "INBOX", "1", 0, NULL);
    assert_int_equal(status_of(acct, "INBOX").recent, 1);

    struct ph_mailbox *a = open_mb(acct, "INBOX", false);
    struct ph_mailbox *b = open_mb(acct, "INBOX", false);
    assert_true(recent_in(a, u1));
    assert_false(recent_in(b, u1));

    /* A new arrival goes to whichever session asks first. */
    uint64_t h = status_of(acct, "INBOX").highestmodseq;
    uint32_t u2 = append_msg(acct, "INBOX", "2", 0, NULL);
    struct metas lb = {0}, la = {0};
    uint64_t hb = 0, ha = 0;
    assert_int_equal(
        ph_mailbox_changes(b, h, NULL, &hb, collect_meta, &lb, &err), 0);
    assert_int_equal(
        ph_mailbox_changes(a, h, NULL, &ha, collect_meta, &la, &err), 0);
    assert_int_equal(lb.n, 1);
    assert_int_equal(la.n, 1);
    assert_true(lb.v[0].recent);
    assert_false(la.v[0].recent);
    assert_true(recent_in(b, u2));
    assert_false(recent_in(a, u2));
    metas_clear(&la);
    metas_clear(&lb);
    assert_int_equal(status_of(acct, "INBOX").recent, 0);
    ph_mailbox_close(&a);
    ph_mailbox_close(&b);
    ph_account_release(&acct);
}

/* RFC 3501 6.3.2: EXAMINE "MUST NOT cause messages to lose the \Recent
 * flag", and gives the same answers as SELECT: a read-only handle shows
 * \Recent for what no session has taken (2.3.2: only a read-write session
 * keeps later sessions from seeing it), on open and for later arrivals,
 * without taking it. */
static void test_examine_shows_recent_without_claiming(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("examine");
    const char *err = NULL;
    uint32_t u1 = append_msg(acct, "INBOX", "1", 0, NULL);
    uint32_t u2 = append_msg(acct, "INBOX", "2", PH_FLAG_SEEN, NULL);
    struct ph_mailbox *ro = open_mb(acct, "INBOX", true);
    assert_true(recent_in(ro, u1));
    assert_true(recent_in(ro, u2));
    struct metas l = {0};
    uint64_t h = 0;
    assert_int_equal(
        ph_mailbox_changes(ro, 0, NULL, &h, collect_meta, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_true(l.v[0].recent);
    assert_true(l.v[1].recent);
    metas_clear(&l);
    assert_int_equal(status_of(acct, "INBOX").recent, 2);

    /* A later arrival: recent for the read-only handle, still unclaimed. */
    uint32_t u3 = append_msg(acct, "INBOX", "3", 0, NULL);
    assert_int_equal(
        ph_mailbox_changes(ro, h, NULL, &h, collect_meta, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].uid, u3);
    assert_true(l.v[0].recent);
    metas_clear(&l);
    assert_int_equal(status_of(acct, "INBOX").recent, 3);

    /* A later SELECT still gets them all. */
    struct ph_mailbox *rw = open_mb(acct, "INBOX", false);
    assert_true(recent_in(rw, u1));
    assert_true(recent_in(rw, u3));
    assert_int_equal(status_of(acct, "INBOX").recent, 0);
    /* What the read-only handle showed, it keeps showing; a new read-only
     * handle sees nothing recent; an arrival the read-write handle has
     * taken is not recent for the read-only one. */
    assert_true(recent_in(ro, u1));
    struct ph_mailbox *ro2 = open_mb(acct, "INBOX", true);
    assert_false(recent_in(ro2, u1));
    uint32_t u4 = append_msg(acct, "INBOX", "4", 0, NULL);
    uint64_t hw = 0;
    assert_int_equal(ph_mailbox_changes(rw, h, NULL, &hw, NULL, NULL, &err), 0);
    assert_true(recent_in(rw, u4));
    assert_int_equal(
        ph_mailbox_changes(ro, h, NULL, &h, collect_meta, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_false(l.v[0].recent);
    metas_clear(&l);
    ph_mailbox_close(&ro2);
    ph_mailbox_close(&rw);
    ph_mailbox_close(&ro);
    ph_account_release(&acct);
}

/* ---- SEARCH pushdown ------------------------------------------------------
 */

/* storage.sqlite and storage.pgsql answer every program of metadata keys
 * themselves; another storage may say UNSUPPORTED, and then only that it
 * changed nothing is checked. */
static bool search_pushdown_required(void)
{
    return strcmp(ph_instance_module(storage), "storage.sqlite") == 0 ||
           strcmp(ph_instance_module(storage), "storage.pgsql") == 0;
}

/* keys parsed as the endpoint parses "SEARCH keys", with "*" resolved from
 * the mailbox as it is now. */
static struct ph_imap_search *search_program(struct ph_mailbox *mb,
                                             const char *keys)
{
    struct metas l = {0};
    fetch_all(mb, 0, &l);
    struct ph_imap_search_params params = {
        .max_seq = (uint32_t)l.n,
        .max_uid = l.n > 0 ? l.v[l.n - 1].uid : 0,
    };
    metas_clear(&l);
    struct ph_buf line = {0};
    ph_buf_printf(&line, "a SEARCH %s\r\n", keys);
    struct ph_imap_parser *p = ph_imap_parser_new(NULL);
    size_t used = 0;
    if (ph_imap_parser_feed(p, line.data, line.len, &used) !=
        PH_IMAP_PARSE_COMMAND)
        fail_msg("\"%s\" does not parse", keys);
    const struct ph_imap_command *cmd = ph_imap_parser_command(p);
    struct ph_imap_search *prog = NULL;
    const char *err = NULL;
    if (ph_imap_search_parse(cmd->args, cmd->n_args, &params, &prog, &err) !=
        PH_IMAP_SEARCH_OK)
        fail_msg("\"%s\" is no search program: %s", keys, err);
    ph_imap_parser_free(&p);
    ph_buf_free(&line);
    return prog;
}

struct search_eval {
    const struct ph_imap_search *prog;
    struct ph_uidset *out;
    uint32_t seq;
};

/* What the endpoint's matcher sees of a message, from its meta. */
static struct ph_imap_search_msg search_msg(const struct ph_message_meta *m,
                                            uint32_t seq)
{
    return (struct ph_imap_search_msg){
        .seq = seq,
        .uid = m->uid,
        .flags = m->flags,
        .recent = m->recent,
        .keywords = m->keywords,
        .n_keywords = m->nkeywords,
        .size = m->size,
        .internal_date = m->internal_date,
        .internal_tz = m->internal_tz,
        .modseq = m->modseq,
        .emailid = m->emailid,
        .threadid = m->threadid,
    };
}

static int search_eval_meta(void *arg, const struct ph_message_meta *m)
{
    struct search_eval *e = arg;
    const struct ph_imap_search_msg msg = search_msg(m, ++e->seq);
    int r = ph_imap_search_match(e->prog, &msg);
    assert_true(r >= 0);
    if (r == 1)
        ph_uidset_add(e->out, m->uid);
    return 0;
}

/* The UIDs keys finds in mb, as "1:3,7". The storage's answer must equal
 * the evaluation over fetched metadata (the endpoint's fallback), which is
 * what is returned; storage.sqlite and storage.pgsql must answer unless
 * may_refuse. */
static char *search_uids_ex(struct ph_mailbox *mb, const char *keys,
                            bool may_refuse)
{
    struct ph_imap_search *prog = search_program(mb, keys);
    struct ph_uidset got = {0}, want = {0};
    struct search_eval e = {.prog = prog, .out = &want};
    const char *err = NULL;
    assert_int_equal(ph_mailbox_fetch(mb, NULL, PH_META_OBJECTID,
                                      search_eval_meta, &e, &err),
                     0);
    int r = ph_mailbox_search(mb, &prog->root, &got, &err);
    char *w = ph_uidset_format(&want);
    if (r == PH_STORAGE_ERR_UNSUPPORTED &&
        (may_refuse || !search_pushdown_required())) {
        assert_int_equal(got.n, 0);
    } else if (r != 0) {
        fail_msg("SEARCH %s: storage says %d: %s", keys, r, err);
    } else {
        char *g = ph_uidset_format(&got);
        if (strcmp(g, w) != 0) {
            struct ph_buf b = {0};
            ph_imap_search_write(&b, prog);
            fail_msg("SEARCH %s (%s): storage found \"%s\", evaluation "
                     "\"%s\"",
                     keys, b.data, g, w);
        }
        free(g);
    }
    ph_uidset_clear(&got);
    ph_uidset_clear(&want);
    ph_imap_search_free(&prog);
    return w;
}

static char *search_uids(struct ph_mailbox *mb, const char *keys)
{
    return search_uids_ex(mb, keys, false);
}

#define assert_search(mb, keys, expected)                                      \
    do {                                                                       \
        char *found_ = search_uids((mb), (keys));                              \
        if (strcmp(found_, (expected)) != 0)                                   \
            fail_msg("SEARCH %s found \"%s\", expected \"%s\"", (keys),        \
                     found_, (expected));                                      \
        free(found_);                                                          \
    } while (0)

/* Asks the storage for keys it must refuse: UNSUPPORTED (storage.sqlite,
 * storage.pgsql; others may answer), and nothing added to a result that
 * held 999. */
static void assert_search_unsupported(struct ph_mailbox *mb, const char *keys,
                                      bool any_storage)
{
    struct ph_imap_search *prog = search_program(mb, keys);
    struct ph_uidset got = {0};
    const char *err = NULL;
    ph_uidset_add(&got, 999);
    int r = ph_mailbox_search(mb, &prog->root, &got, &err);
    if (any_storage || search_pushdown_required()) {
        if (r != PH_STORAGE_ERR_UNSUPPORTED)
            fail_msg("SEARCH %s: %d, expected UNSUPPORTED", keys, r);
        assert_non_null(err);
        assert_true(uidset_is(&got, "999"));
    } else {
        assert_true(r == 0 || r == PH_STORAGE_ERR_UNSUPPORTED);
    }
    ph_uidset_clear(&got);
    ph_imap_search_free(&prog);
}

static uint32_t append_dated(struct ph_account *acct, const char *subject,
                             uint32_t sysflags, const char *keywords,
                             size_t body_len, time_t date, int tz)
{
    struct ph_flags flags = {.system = sysflags};
    if (keywords != NULL) {
        char *copy = ph_strdup(keywords), *save = NULL;
        for (char *k = strtok_r(copy, " ", &save); k != NULL;
             k = strtok_r(NULL, " ", &save))
            assert_int_equal(ph_flags_add_name(&flags, k), 0);
        free(copy);
    }
    char *body = ph_malloc(body_len + 1);
    for (size_t i = 0; i < body_len; i++)
        body[i] = i % 60 == 59 ? ' ' : (char)('a' + i % 26);
    body[body_len] = '\0';
    char *text = message_text(subject, body);
    uint32_t uid = 0;
    assert_int_equal(append_raw(acct, "INBOX", text, strlen(text), 4096, &flags,
                                date, tz, &uid, NULL),
                     0);
    free(text);
    free(body);
    ph_flags_clear(&flags);
    return uid;
}

static void test_search_nested_not_and_or(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-nest");
    append_msg(acct, "INBOX", "1", PH_FLAG_SEEN, "$Work");
    append_msg(acct, "INBOX", "2", PH_FLAG_FLAGGED, NULL);
    append_msg(acct, "INBOX", "3", PH_FLAG_SEEN | PH_FLAG_FLAGGED, "Urgent");
    append_msg(acct, "INBOX", "4", 0, NULL);
    append_msg(acct, "INBOX", "5", PH_FLAG_DRAFT, "$WORK");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);

    assert_search(mb, "ALL", "1:5");
    assert_search(mb, "NOT (OR SEEN FLAGGED)", "4:5");
    assert_search(mb, "OR NOT SEEN NOT FLAGGED", "1:2,4:5");
    assert_search(mb, "NOT NOT SEEN", "1,3");
    assert_search(mb, "OR (SEEN NOT KEYWORD Urgent) (FLAGGED UNSEEN)", "1:2");
    assert_search(mb, "NOT (OR SEEN (OR FLAGGED (NOT DRAFT)))", "5");
    assert_search(mb, "UNSEEN UNFLAGGED NOT (UID 4)", "5");
    assert_search(mb, "NOT (SEEN (OR KEYWORD $work UID 2:3))", "2,4:5");
    /* Flags a large mailbox holds few of, alone and together. */
    assert_search(mb, "FLAGGED", "2:3");
    assert_search(mb, "UNSEEN", "2,4:5");
    assert_search(mb, "FLAGGED UNSEEN UID 2:*", "2");
    assert_search(mb, "DELETED", "");
    assert_search(mb, "DELETED UNSEEN UID 1:2", "");
    assert_search(mb, "UNDELETED FLAGGED NOT UID 9:*", "2:3");
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_search_with_no_match_is_an_empty_answer(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-empty");
    append_msg(acct, "INBOX", "1", PH_FLAG_SEEN, NULL);
    append_msg(acct, "INBOX", "2", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    assert_search(mb, "SEEN UNSEEN", "");
    assert_search(mb, "UID 100:200", "");
    assert_search(mb, "KEYWORD nothere", "");
    assert_search(mb, "NOT ALL", "");
    assert_search(mb, "LARGER 4000000000", "");
    ph_mailbox_close(&mb);

    /* An empty mailbox. */
    mb = open_mb(acct, "Sent", false);
    assert_search(mb, "ALL", "");
    assert_search(mb, "UID 1:*", "");
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_search_keyword_is_case_insensitive(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-kw");
    append_msg(acct, "INBOX", "1", 0, "$Work");
    append_msg(acct, "INBOX", "2", 0, NULL);
    append_msg(acct, "INBOX", "3", 0, "a_b");
    append_msg(acct, "INBOX", "4", 0, "axb");
    append_msg(acct, "INBOX", "5", 0, "$WORK");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    assert_search(mb, "KEYWORD $WORK", "1,5");
    assert_search(mb, "KEYWORD $work", "1,5");
    assert_search(mb, "UNKEYWORD $wOrK", "2:4");
    assert_search(mb, "KEYWORD $Wor", ""); /* a whole keyword, */
    assert_search(mb, "KEYWORD Work", ""); /* not part of one */
    assert_search(mb, "KEYWORD A_B", "3"); /* '_' is no wildcard */
    /* A keyword added later, in another case, is found too. */
    struct ph_uidset s = uids(2, 2);
    struct ph_flags f = {0};
    const char *err = NULL;
    assert_int_equal(ph_flags_add_name(&f, "$wORK"), 0);
    assert_int_equal(
        ph_mailbox_store(mb, &s, PH_STORE_ADD, &f, 0, NULL, NULL, NULL, &err),
        0);
    assert_search(mb, "KEYWORD $Work", "1:2,5");
    assert_search(mb, "OR KEYWORD axb UNKEYWORD $work", "3:4");
    ph_flags_clear(&f);
    ph_uidset_clear(&s);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_search_uid_ranges_with_star_resolved(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-uid");
    for (int i = 0; i < 5; i++)
        append_msg(acct, "INBOX", "m", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    assert_search(mb, "UID 3:*", "3:5");
    assert_search(mb, "UID *", "5");
    assert_search(mb, "UID 7:*", "5"); /* 5:7, "*" being 5 (RFC 3501 6.4.8) */
    assert_search(mb, "UID 2,4:*", "2,4:5");
    assert_search(mb, "UID 1:2 UID 2:3", "2");
    assert_search(mb, "OR UID 1 UID 4:*", "1,4:5");
    assert_search(mb, "NOT UID 2:4", "1,5");

    /* Expunged UIDs are not found. */
    const char *err = NULL;
    set_flags(mb, 4, PH_FLAG_DELETED);
    struct ph_uidset gone = {0};
    assert_int_equal(ph_mailbox_expunge(mb, NULL, &gone, &err), 0);
    ph_uidset_clear(&gone);
    assert_search(mb, "UID 3:5", "3,5");
    assert_search(mb, "UID 4", "");

    /* A storage may refuse a set of many ranges (storage.sqlite takes a
     * few hundred); the fallback answers then. */
    struct ph_buf many = {0};
    ph_buf_puts(&many, "UID 1");
    for (unsigned u = 3; u < 1000; u += 2)
        ph_buf_printf(&many, ",%u", u);
    char *found = search_uids_ex(mb, many.data, true);
    assert_string_equal(found, "1,3,5");
    free(found);
    ph_buf_free(&many);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_search_recent_only_for_the_handle_that_claimed(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-recent");
    const char *err = NULL;
    for (int i = 0; i < 3; i++)
        append_msg(acct, "INBOX", "old", 0, NULL);
    struct ph_mailbox *a = open_mb(acct, "INBOX", false);
    append_msg(acct, "INBOX", "new", 0, NULL);
    /* Read-only, before b takes it: shown, not taken (RFC 3501 6.3.2). */
    struct ph_mailbox *ro0 = open_mb(acct, "INBOX", true);
    struct ph_mailbox *b = open_mb(acct, "INBOX", false);
    struct ph_mailbox *ro = open_mb(acct, "INBOX", true);
    assert_search(a, "RECENT", "1:3");
    assert_search(b, "RECENT", "4");
    assert_search(ro0, "RECENT", "4");
    assert_search(ro, "RECENT", "");
    assert_search(ro, "OLD", "1:4");
    set_flags(a, 2, PH_FLAG_SEEN);
    assert_search(a, "NEW", "1,3");
    assert_search(b, "NEW", "4");
    assert_search(b, "OLD", "1:3");
    assert_search(b, "OR RECENT UID 1", "1,4");

    /* A later arrival is a's once a has asked for changes. */
    uint64_t h = status_of(acct, "INBOX").highestmodseq;
    append_msg(acct, "INBOX", "newer", 0, NULL);
    uint64_t ha = 0;
    assert_int_equal(ph_mailbox_changes(a, h, NULL, &ha, NULL, NULL, &err), 0);
    assert_search(a, "RECENT", "1:3,5");
    assert_search(a, "RECENT UID 3:*", "3,5");
    assert_search(b, "RECENT", "4");
    ph_mailbox_close(&ro0);
    ph_mailbox_close(&ro);
    ph_mailbox_close(&b);
    ph_mailbox_close(&a);
    ph_account_release(&acct);
}

/* 2026-01-11T00:00:00Z */
#define JAN11 ((time_t)1768089600)

static void test_search_dates_are_days_of_the_internal_zone(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-date");
    /* 10-Jan-2026 23:30 -0500, which is 11-Jan in UTC. */
    append_dated(acct, "1", 0, NULL, 10, JAN11 + 4 * 3600 + 1800, -300);
    /* 11-Jan-2026 00:30 +0200, which is 10-Jan in UTC. */
    append_dated(acct, "2", 0, NULL, 10, JAN11 - 3600 - 1800, 120);
    /* The first and last second of a day. */
    append_dated(acct, "3", 0, NULL, 10, JAN11, 0);
    append_dated(acct, "4", 0, NULL, 10, JAN11 - 1, 0);
    /* 31-Dec-1969 23:00 +0100: a day before the epoch. */
    append_dated(acct, "5", 0, NULL, 10, -2 * 3600, 60);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    assert_search(mb, "ON 10-Jan-2026", "1,4");
    assert_search(mb, "ON 11-Jan-2026", "2:3");
    assert_search(mb, "BEFORE 11-Jan-2026", "1,4:5");
    assert_search(mb, "SINCE 11-Jan-2026", "2:3");
    assert_search(mb, "NOT ON 10-Jan-2026", "2:3,5");
    assert_search(mb, "SINCE 10-Jan-2026 BEFORE 12-Jan-2026", "1:4");
    assert_search(mb, "ON 31-Dec-1969", "5");
    assert_search(mb, "BEFORE 1-Jan-1970", "5");
    assert_search(mb, "SINCE 1-Jan-1970", "1:4");
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_search_sizes_and_modseq(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-size");
    uint32_t u1 = append_dated(acct, "1", 0, NULL, 10, JAN11, 0);
    append_dated(acct, "2", 0, NULL, 1000, JAN11, 0);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct meta m1 = fetch_one(mb, u1);
    free(m1.keywords);
    char *k = ph_strdup_printf("LARGER %" PRIu64, m1.size);
    assert_search(mb, k, "2");
    free(k);
    k = ph_strdup_printf("SMALLER %" PRIu64, m1.size);
    assert_search(mb, k, "");
    free(k);
    k = ph_strdup_printf("SMALLER %" PRIu64, m1.size + 1);
    assert_search(mb, k, "1");
    free(k);
    set_flags(mb, u1, PH_FLAG_ANSWERED);
    struct meta m = fetch_one(mb, u1);
    free(m.keywords);
    k = ph_strdup_printf("MODSEQ %" PRIu64, m.modseq);
    assert_search(mb, k, "1");
    free(k);
    assert_search(mb, "MODSEQ 1", "1:2");
    k = ph_strdup_printf("NOT MODSEQ %" PRIu64, m.modseq);
    assert_search(mb, k, "2");
    free(k);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void
test_search_of_other_headers_text_or_sequence_numbers_is_unsupported(
    void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-unsup");
    append_msg(acct, "INBOX", "1", PH_FLAG_SEEN, NULL);
    append_msg(acct, "INBOX", "2", 0, NULL);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    assert_search_unsupported(mb, "NOT HEADER Message-ID x", false);
    assert_search_unsupported(mb, "OR SEEN HEADER X-Mailer hello", false);
    assert_search_unsupported(mb, "SENTON 26-Nov-2026", false);
    /* Sequence numbers are the session's: the caller converts them. */
    assert_search_unsupported(mb, "1:2", true);
    assert_search_unsupported(mb, "SEEN OR 1 UID 2", true);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* Header and text keys, evaluated as the endpoint does: header values from
 * the stored structure (ph_message_header_values), text as
 * ph_message_search_text() streams it from ph_mailbox_read(), compared by
 * the SEARCH rules. */
struct header_eval {
    const struct ph_imap_search *prog;
    struct ph_uidset *out;
    uint32_t seq;
    struct ph_mailbox *mb;
    const struct ph_message_meta *m;
    struct ph_message_info *info;
    struct ph_strlist vals[8];
    size_t nvals;
};

static int text_eval_read(void *arg, uint64_t offset, uint64_t size,
                          ph_message_data_cb *cb, void *cb_arg)
{
    struct header_eval *e = arg;
    const char *err = NULL;
    return ph_mailbox_read(e->mb, e->m->uid, offset, size, cb, cb_arg, &err);
}

static bool text_eval_sink(void *arg, const char *data, size_t len)
{
    return ph_message_matcher_feed(arg, data, len);
}

static int text_eval_contains(void *context, bool whole, const char *key,
                              size_t key_len, bool *match_r)
{
    struct header_eval *e = context;
    struct ph_message_matcher *m = ph_message_matcher_new(key, key_len);
    assert_int_equal(ph_message_search_text(e->info, e->m->size, whole,
                                            text_eval_read, e, text_eval_sink,
                                            m),
                     0);
    *match_r = ph_message_matcher_feed(m, "", 0);
    ph_message_matcher_free(&m);
    return 0;
}

static int header_eval_values(void *context, const char *name,
                              const char *const **values_r, size_t *n_r)
{
    struct header_eval *e = context;
    assert_true(e->nvals < PH_N_ELEMENTS(e->vals));
    struct ph_strlist *l = &e->vals[e->nvals++];
    ph_message_header_values(e->info, name, l);
    *values_r = (const char *const *)l->v;
    *n_r = l->n;
    return 0;
}

static int header_eval_meta(void *arg, const struct ph_message_meta *m)
{
    struct header_eval *e = arg;
    const char *err = NULL;
    assert_int_equal(
        ph_message_info_deserialize(m->info, m->info_size, &e->info, &err), 0);
    struct ph_imap_search_msg msg = search_msg(m, ++e->seq);
    msg.header = header_eval_values;
    msg.text_contains = text_eval_contains;
    msg.context = e;
    e->m = m;
    int r = ph_imap_search_match(e->prog, &msg);
    assert_true(r >= 0);
    if (r == 1)
        ph_uidset_add(e->out, m->uid);
    for (size_t i = 0; i < e->nvals; i++)
        ph_strlist_clear(&e->vals[i]);
    e->nvals = 0;
    ph_message_info_free(&e->info);
    return 0;
}

/* The evaluation must find expected; the storage, when it answers (as
 * it must when must_answer), the same. */
static void assert_search_text_ex(struct ph_mailbox *mb, const char *keys,
                                  const char *expected, bool must_answer)
{
    struct ph_imap_search *prog = search_program(mb, keys);
    struct ph_uidset got = {0}, want = {0};
    struct header_eval e = {.prog = prog, .out = &want, .mb = mb};
    const char *err = NULL;
    assert_int_equal(
        ph_mailbox_fetch(mb, NULL, PH_META_INFO, header_eval_meta, &e, &err),
        0);
    char *w = ph_uidset_format(&want);
    if (strcmp(w, expected) != 0)
        fail_msg("SEARCH %s evaluates to \"%s\", expected \"%s\"", keys, w,
                 expected);
    int r = ph_mailbox_search(mb, &prog->root, &got, &err);
    if (r == PH_STORAGE_ERR_UNSUPPORTED && !must_answer) {
        assert_int_equal(got.n, 0);
    } else if (r != 0) {
        fail_msg("SEARCH %s: storage says %d: %s", keys, r, err);
    } else {
        char *g = ph_uidset_format(&got);
        if (strcmp(g, w) != 0)
            fail_msg("SEARCH %s: storage found \"%s\", evaluation \"%s\"", keys,
                     g, w);
        free(g);
    }
    free(w);
    ph_uidset_clear(&got);
    ph_uidset_clear(&want);
    ph_imap_search_free(&prog);
}

/* storage.sqlite must answer. */
static void assert_search_headers(struct ph_mailbox *mb, const char *keys,
                                  const char *expected)
{
    assert_search_text_ex(
        mb, keys, expected,
        strcmp(ph_instance_module(storage), "storage.sqlite") == 0);
}

static void append_text(struct ph_account *acct, const char *text,
                        uint32_t sysflags)
{
    struct ph_flags flags = {.system = sysflags};
    uint32_t uid = 0;
    assert_int_equal(append_raw(acct, "INBOX", text, strlen(text), 5, &flags,
                                1700000000, 0, &uid, NULL),
                     0);
}

/* Before the second pass of a text test: a pause in which
 * storage.sqlite's indexer has (most likely) taken the texts into its
 * index. */
static void indexer_pause(int pass)
{
    if (pass == 1) {
        struct timespec ts = {1, 500 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* TEXT and BODY (RFC 3501 6.4.4: "Messages that contain the specified
 * string in the header or body" / "in the body"): decoded transfer
 * encodings and charsets, text parts only, case folded. storage.sqlite
 * answers from its text index; the answer must equal the evaluation. */
static void test_search_text_keys_answer_as_evaluation(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-text");
    append_text(acct,
                "From: alice@example.org\r\nSubject: Quarterly report\r\n\r\n"
                "The numbers are in. Zephyrine!\r\n",
                PH_FLAG_SEEN);
    append_text(acct,
                "From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.de>\r\n"
                "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                "Viele Gr=C3=BC=C3=9Fe aus der Stra=C3=9Fe, =CE=A3=CE=91=CE=A3"
                "\r\n",
                0);
    append_text(acct,
                "Subject: parts\r\n"
                "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                "--b\r\nContent-Type: text/plain\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n"
                "aGVsbG8gcXVva2thbGlrZSB3b3JsZA==\r\n"
                "--b\r\nContent-Type: application/octet-stream\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n"
                "c2VjcmV0d29yZCBpbiBhbiBhdHRhY2htZW50\r\n"
                "--b\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n"
                "<p>caf\xe9 cr\xe8me</p>\r\n--b--\r\n",
                PH_FLAG_FLAGGED);
    /* 8-bit bytes in the header that are not UTF-8: kept, not indexed. */
    append_text(acct,
                "Subject: caf\xe9 \"quoted\" zephyrine\r\n\r\n"
                "plain body, short\r\n",
                0);
    append_text(acct, "Subject: empty\r\n\r\n", 0);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    /* Twice: at once, and after a pause in which storage.sqlite's indexer
     * has (most likely) taken the texts into its index. */
    for (int pass = 0; pass < 2; pass++) {
        indexer_pause(pass);
        assert_search_headers(mb, "TEXT zephyrine", "1,4");
        assert_search_headers(mb, "BODY zephyrine", "1");
        assert_search_headers(mb, "TEXT ZEPHYRINE", "1,4");
        assert_search_headers(mb, "BODY \"numbers are\"", "1");
        assert_search_headers(mb, "BODY \"numbers  are\"", "");
        assert_search_headers(mb, "TEXT quarterly", "1");
        assert_search_headers(mb, "BODY quarterly", "");
        assert_search_headers(mb, "TEXT \"J\xc3\xb6rg\"", "2");
        assert_search_headers(mb, "BODY strasse", "2");
        assert_search_headers(mb, "BODY \"GR\xc3\x9c\xc3\x9f\"", "2");
        assert_search_headers(mb, "TEXT \"gr\xc3\xbc\xc3\x9f\"", "2");
        assert_search_headers(mb, "BODY \"\xcf\x83\xce\xb1\xcf\x82\"", "2");
        assert_search_headers(mb, "BODY quokkalike", "3");
        assert_search_headers(mb, "BODY secretword", "");
        assert_search_headers(mb, "BODY \"caf\xc3\xa9 CR\xc3\x88ME\"", "3");
        assert_search_headers(mb, "TEXT \"\\\"quoted\\\"\"", "4");
        assert_search_headers(mb, "TEXT caf", "3:4");
        assert_search_headers(mb, "BODY ze", "1");
        assert_search_headers(mb, "TEXT ze", "1,4");
        assert_search_headers(mb, "BODY \"\"", "1:5");
        assert_search_headers(mb, "NOT TEXT zephyrine", "2:3,5");
        assert_search_headers(mb, "OR BODY strasse BODY quokkalike", "2:3");
        assert_search_headers(mb, "UNSEEN TEXT zephyrine", "4");
        assert_search_headers(mb, "FLAGGED BODY world", "3");
        assert_search_headers(mb, "TEXT \"subject: empty\"", "5");
        assert_search_headers(mb, "TEXT zephyrine BODY plain", "4");
    }
    ph_mailbox_close(&mb);

    /* A body whose text is over what storage.sqlite keeps (16 MiB): TEXT
     * and BODY are then the endpoint's to evaluate. */
    size_t big = 17u * 1024 * 1024;
    char *msg = ph_malloc(big + 64);
    int n = snprintf(msg, 64, "Subject: big\r\n\r\n");
    memset(msg + n, 'a', big);
    memcpy(msg + n + big - 9, "needle\r\n", 8);
    msg[n + big - 1] = '\0';
    append_text(acct, msg, 0);
    free(msg);
    mb = open_mb(acct, "INBOX", false);
    if (strcmp(ph_instance_module(storage), "storage.sqlite") == 0) {
        assert_search_unsupported(mb, "BODY needle", true);
        assert_search(mb, "SEEN", "1");
    }
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* RFC 3501 6.4.4: SEARCH looks at the messages the mailbox holds, and a
 * message is there from its APPEND's tagged OK on (6.3.11), whether or not
 * the storage's text index has taken its text yet (the SQL stores index
 * new texts later, in batches, after a pause in APPENDs). A search right
 * after each APPEND must find it, TEXT and BODY alike, in a mailbox that
 * holds texts the indexer has (most likely) taken too. */
static void test_search_right_after_append_finds_the_message(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-fresh");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    bool must = search_pushdown_required();
    char text[128], keys[64], want[16];
    for (int i = 1; i <= 24; i++) {
        if (i == 13) /* 1 to 12 into the index, 13 to 24 not yet */
            indexer_pause(1);
        snprintf(text, sizeof(text),
                 "Subject: fresh n%02d;\r\n\r\nword w%02dq and kiwi\r\n", i,
                 i);
        append_text(acct, text, 0);
        snprintf(want, sizeof(want), "%d", i);
        snprintf(keys, sizeof(keys), "TEXT w%02dq", i);
        assert_search_text_ex(mb, keys, want, must);
        snprintf(keys, sizeof(keys), "BODY w%02dq", i);
        assert_search_text_ex(mb, keys, want, must);
        snprintf(keys, sizeof(keys), "TEXT n%02d;", i);
        assert_search_text_ex(mb, keys, want, must);
        snprintf(keys, sizeof(keys), "BODY n%02d;", i);
        assert_search_text_ex(mb, keys, "", must);
        snprintf(want, sizeof(want), i > 1 ? "1:%d" : "%d", i);
        assert_search_text_ex(mb, "BODY KIWI", want, must);
    }
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* The same, exactly, while no text has entered the index at all
 * (INSTANCE_pending: text_index_wait 1h): what SEARCH reads without the
 * index answers as the evaluation does, LIKE's '%', '_' and '\' taken as
 * themselves, header text for TEXT only, text that is not UTF-8 kept
 * apart. */
static void test_search_finds_texts_the_indexer_has_not_taken(void **state)
{
    (void)state;
    if (storage_pending == NULL)
        skip();
    struct ph_account *acct = account_new_in(storage_pending, "pending");
    append_text(acct,
                "Subject: 100% sure_thing\r\n\r\n"
                "back\\slash and Zephyrine\r\n",
                PH_FLAG_SEEN);
    append_text(acct,
                "Subject: parts\r\n"
                "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                "Gr=C3=BC=C3=9Fe, zephyrine\r\n"
                "--b\r\nContent-Type: application/pdf\r\n"
                "Content-Disposition: attachment; filename=\"Rechnung.pdf\""
                "\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
                "--b--\r\n",
                PH_FLAG_FLAGGED);
    append_text(acct, "Subject: caf\xe9 100 sure\r\n\r\nplain body\r\n", 0);
    append_text(acct, "Subject: empty\r\n\r\n", 0);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    bool must = search_pushdown_required();
    assert_search_text_ex(mb, "TEXT zephyrine", "1:2", must);
    assert_search_text_ex(mb, "BODY ZEPHYRINE", "1:2", must);
    assert_search_text_ex(mb, "TEXT \"100%\"", "1", must);
    assert_search_text_ex(mb, "TEXT \"%\"", "1", must);
    assert_search_text_ex(mb, "TEXT 1_0", "", must);
    assert_search_text_ex(mb, "TEXT s_re", "", must);
    assert_search_text_ex(mb, "TEXT sure_thing", "1", must);
    assert_search_text_ex(mb, "BODY sure_thing", "", must);
    assert_search_text_ex(mb, "BODY \"back\\\\slash\"", "1", must);
    assert_search_text_ex(mb, "BODY \"k\\\\s\"", "1", must);
    assert_search_text_ex(mb, "BODY \"GR\xc3\x9c\xc3\x9f\"", "2", must);
    assert_search_text_ex(mb, "TEXT rechnung", "2", must);
    assert_search_text_ex(mb, "BODY rechnung", "", must);
    assert_search_text_ex(mb, "TEXT \"100 sure\"", "3", must);
    assert_search_text_ex(mb, "TEXT \"subject: empty\"", "4", must);
    assert_search_text_ex(mb, "NOT BODY zephyrine", "3:4", must);
    assert_search_text_ex(mb, "OR BODY grusse TEXT empty", "4", must);
    assert_search_text_ex(mb, "OR BODY \"gr\xc3\xbcsse\" TEXT empty", "2,4",
                          must);
    assert_search_text_ex(mb, "UNSEEN BODY zephyrine", "2", must);
    assert_search_text_ex(mb, "FLAGGED TEXT rechnung", "2", must);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* TEXT also covers what the body holds besides the parts' text (RFC 3501
 * 6.4.4): MIME part headers, file names (RFC 2231, RFC 2047 decoded) and
 * embedded messages' headers; BODY does not. The index must agree. */
static void test_search_text_covers_part_headers(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-text-parts");
    append_text(acct,
                "Subject: invoice\r\n"
                "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                "--b\r\nContent-Type: text/plain\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                "see attached\r\n"
                "--b\r\nContent-Type: application/pdf\r\n"
                "Content-Disposition: attachment; filename=\"Rechnung.pdf\""
                "\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
                "--b\r\nContent-Type: application/octet-stream\r\n"
                "Content-Disposition: attachment;\r\n"
                " filename*0*=UTF-8''Stra%C3%9F;\r\n"
                " filename*1=\"enplan.txt\"\r\n\r\nx\r\n--b--\r\n",
                0);
    append_text(acct,
                "Subject: forward\r\n"
                "Content-Type: multipart/mixed; boundary=\"c\"\r\n\r\n"
                "--c\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                "--c\r\nContent-Type: message/rfc822\r\n\r\n"
                "From: Quentin <quentin@example.org>\r\n"
                "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_vom_See?=\r\n\r\n"
                "world\r\n--c--\r\n",
                PH_FLAG_SEEN);
    append_text(acct, "Subject: plain\r\n\r\nhello world\r\n", 0);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    for (int pass = 0; pass < 2; pass++) {
        indexer_pause(pass);
        assert_search_headers(mb, "TEXT Content-Transfer-Encoding", "1");
        assert_search_headers(mb, "BODY Content-Transfer-Encoding", "");
        assert_search_headers(mb, "TEXT Rechnung", "1");
        assert_search_headers(mb, "BODY Rechnung", "");
        assert_search_headers(mb, "TEXT strassenplan", "1");
        assert_search_headers(mb, "TEXT \"Content-Type: text/plain\"", "1:2");
        assert_search_headers(mb, "TEXT quentin@example.org", "2");
        assert_search_headers(mb,
                              "TEXT \"gr\xc3\xbc\xc3\x9f"
                              "e vom see\"",
                              "2");
        assert_search_headers(mb, "BODY \"vom see\"", "");
        assert_search_headers(mb, "BODY world", "2:3");
        assert_search_headers(mb, "BODY helloworld", "");
        assert_search_headers(mb, "TEXT \"hello world\"", "3");
        assert_search_headers(mb, "SEEN TEXT quentin", "2");
        assert_search_headers(mb, "NOT TEXT Rechnung", "2:3");
    }
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_search_header_keys_answer_as_evaluation(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-headers");
    append_text(acct,
                "From: Alice <alice@example.org>\r\n"
                "To: bob@example.org\r\n"
                "Subject: Hello World\r\n\r\nbody\r\n",
                PH_FLAG_SEEN);
    append_text(acct,
                "From: =?UTF-8?Q?J=C3=B6rg_Stra=C3=9Fe?= <joerg@example.de>\r\n"
                "Cc: carol@example.org\r\n"
                "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus K\xc3\xb6ln\r\n"
                "Cc: Dave <dave@example.org>\r\n\r\nbody\r\n",
                0);
    append_text(acct,
                "From: \"Zo\xc3\xab\" <zoe@example.org>\r\n"
                "Bcc: eve@example.org\r\n"
                "Subject: Quarterly\r\n report\r\n\r\nbody\r\n",
                PH_FLAG_FLAGGED);
    append_text(acct, "To: bob@example.org\r\n\r\nno from, no subject\r\n", 0);
    append_text(acct,
                "From: x@example.net\r\n"
                "Subject: \xce\xa3\xce\x91\xce\xa3 test\r\n\r\nbody\r\n",
                0);
    append_text(acct, "From: y@example.net\r\nSubject:\r\n\r\nempty\r\n", 0);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);

    assert_search_headers(mb, "FROM alice", "1");
    assert_search_headers(mb, "FROM ALICE@EXAMPLE.ORG", "1");
    assert_search_headers(mb, "FROM \"J\xc3\xb6rg\"", "2");
    assert_search_headers(mb, "FROM STRASSE", "2");
    assert_search_headers(mb, "SUBJECT \"gr\xc3\xbc\xc3\x9f\"", "2");
    assert_search_headers(mb, "CC dave", "2");
    assert_search_headers(mb, "CC carol", "2");
    assert_search_headers(mb, "BCC eve", "3");
    assert_search_headers(mb, "SUBJECT \"quarterly report\"", "3");
    assert_search_headers(mb, "SUBJECT \"\xcf\x83\xce\xb1\xcf\x82\"", "5");
    assert_search_headers(mb, "SUBJECT \"\"", "1:3,5:6");
    assert_search_headers(mb, "FROM \"\"", "1:3,5:6");
    assert_search_headers(mb, "TO bob", "1,4");
    assert_search_headers(mb, "TO nobody", "");
    assert_search_headers(mb, "NOT FROM alice", "2:6");
    assert_search_headers(mb, "OR FROM alice SUBJECT test", "1,5");
    assert_search_headers(mb, "HEADER subject HELLO", "1");
    assert_search_headers(mb, "UNSEEN FROM example", "2:3,5:6");
    assert_search_headers(mb, "FLAGGED FROM example", "3");
    assert_search_headers(mb, "UID 2:5 NOT SUBJECT e", "4");
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* FROM, TO, CC, BCC (RFC 3501 6.4.4) find an address written with comments
 * and folding whitespace where RFC 5322 3.2.2 and 3.4.1 allow them (around
 * the '@' and the dots, inside the angle brackets, in display names, group
 * syntax and the obsolete route): the raw field still matches as a
 * substring, and so does each mailbox as "Name <local@domain>".
 * storage.sqlite answers from its index of header values; the answer must
 * equal the evaluation. */
static void test_search_address_keys_see_past_comments(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-addresses");
    append_text(acct,
                "From: <user-from (comment)@ (comment) domain.org>\r\n"
                "Subject: one\r\n\r\nbody\r\n",
                0);
    append_text(acct,
                "From: x@example.net\r\n"
                "To: \"Joe (not a comment)\" (c) <joe . (x) q @ example . "
                "com>\r\n"
                "Cc: Group (c) : (x) <a (y) @ b.example> ,\r\n"
                " c@d.example (Carl) ; (z)\r\n\r\nbody\r\n",
                0);
    append_text(acct,
                "From: Pete(A nice \\) chap) <pete(his account)@silly.test"
                "(his host)>\r\n\r\nbody\r\n",
                PH_FLAG_SEEN);
    append_text(acct,
                "From: y@example.net\r\n"
                "Bcc: <@route.example, @ (c) two.example:bcc-user @ (c)\r\n"
                " bcc.example>\r\n\r\nbody\r\n",
                0);
    append_text(acct,
                "From: =?UTF-8?Q?J=C3=B6rg?= (c) <j@x.de>\r\n\r\nbody\r\n", 0);
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    assert_search_headers(mb, "FROM user-from@domain.org", "1");
    assert_search_headers(mb, "FROM USER-FROM@DOMAIN.ORG", "1");
    assert_search_headers(mb, "HEADER From user-from@domain.org", "1");
    assert_search_headers(mb, "FROM \"user-from (comment)@\"", "1");
    assert_search_headers(mb, "NOT FROM user-from@domain.org", "2:5");
    assert_search_headers(mb, "TO joe.q@example.com", "2");
    assert_search_headers(mb, "TO \"Joe (not a comment) <joe.q@\"", "2");
    assert_search_headers(mb, "CC a@b.example", "2");
    assert_search_headers(mb, "CC c@d.example", "2");
    assert_search_headers(mb, "CC \"Group\"", "2");
    assert_search_headers(mb, "FROM pete@silly.test", "3");
    assert_search_headers(mb, "SEEN FROM \"Pete <pete@silly.test>\"", "3");
    assert_search_headers(mb, "BCC bcc-user@bcc.example", "4");
    assert_search_headers(mb, "FROM \"J\xc3\xb6rg <j@x.de>\"", "5");
    assert_search_headers(mb, "OR FROM j@x.de TO joe.q@example.com", "2,5");
    /* Only address fields: a Subject is compared as written. */
    assert_search_headers(mb, "SUBJECT one", "1");
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* A small deterministic generator (xorshift64*), so a failure repeats. */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32) % n;
}

static const char *const rnd_keywords[] = {"$Work",   "Urgent", "todo",
                                           "$Label1", "a_b",    "Later"};

/* A keyword of the pool in random case, or "nope". */
static void rnd_keyword(struct ph_buf *b)
{
    uint32_t i = rnd(PH_N_ELEMENTS(rnd_keywords) + 1);
    const char *k = i < PH_N_ELEMENTS(rnd_keywords) ? rnd_keywords[i] : "nope";
    for (const char *p = k; *p; p++)
        ph_buf_putc(b, (char)(rnd(2) ? toupper((unsigned char)*p)
                                     : tolower((unsigned char)*p)));
}

static const int rnd_zones[] = {-720, -600, -300, -59, 0, 60, 330, 545, 840};

/* 01-Jan-2026: the generated dates spread over ten days from it. */
#define RND_BASE ((time_t)1767225600)

static void rnd_day(struct ph_buf *b)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                         "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"};
    time_t t = RND_BASE + ((time_t)rnd(13) - 1) * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    ph_buf_printf(b, "%d-%s-%d", tm.tm_mday, months[tm.tm_mon],
                  tm.tm_year + 1900);
}

static void rnd_key(struct ph_buf *b, unsigned depth, uint32_t max_uid,
                    uint64_t max_modseq)
{
    static const char *const flags[] = {
        "SEEN",      "UNSEEN",  "ANSWERED",  "UNANSWERED", "FLAGGED",
        "UNFLAGGED", "DELETED", "UNDELETED", "DRAFT",      "UNDRAFT"};
    static const char *const dates[] = {"BEFORE", "ON", "SINCE"};
    static const char *const recent[] = {"RECENT", "NEW", "OLD", "ALL"};
    switch (rnd(depth < 3 ? 13 : 10)) {
    case 0:
    case 1: ph_buf_puts(b, flags[rnd(PH_N_ELEMENTS(flags))]); break;
    case 2:
        ph_buf_puts(b, rnd(2) ? "KEYWORD " : "UNKEYWORD ");
        rnd_keyword(b);
        break;
    case 3:
        ph_buf_printf(b, "%s %u", rnd(2) ? "LARGER" : "SMALLER",
                      200 + rnd(3000));
        break;
    case 4:
    case 5:
        ph_buf_printf(b, "%s ", dates[rnd(3)]);
        rnd_day(b);
        break;
    case 6:
        ph_buf_printf(b, "MODSEQ %u", 1 + rnd((uint32_t)max_modseq + 2));
        break;
    case 7: {
        ph_buf_puts(b, "UID ");
        unsigned n = 1 + rnd(4);
        for (unsigned i = 0; i < n; i++) {
            uint32_t lo = 1 + rnd(max_uid + 5);
            if (i > 0)
                ph_buf_putc(b, ',');
            if (rnd(4) == 0)
                ph_buf_printf(b, "%u:*", lo);
            else if (rnd(2) == 0)
                ph_buf_printf(b, "%u", lo);
            else
                ph_buf_printf(b, "%u:%u", lo, 1 + rnd(max_uid + 5));
        }
        break;
    }
    case 8: ph_buf_puts(b, recent[rnd(PH_N_ELEMENTS(recent))]); break;
    case 9: ph_buf_puts(b, flags[rnd(PH_N_ELEMENTS(flags))]); break;
    case 10:
        ph_buf_puts(b, "NOT ");
        rnd_key(b, depth + 1, max_uid, max_modseq);
        break;
    case 11:
        ph_buf_puts(b, "OR ");
        rnd_key(b, depth + 1, max_uid, max_modseq);
        ph_buf_putc(b, ' ');
        rnd_key(b, depth + 1, max_uid, max_modseq);
        break;
    default: {
        unsigned n = 2 + rnd(2);
        ph_buf_putc(b, '(');
        for (unsigned i = 0; i < n; i++) {
            if (i > 0)
                ph_buf_putc(b, ' ');
            rnd_key(b, depth + 1, max_uid, max_modseq);
        }
        ph_buf_putc(b, ')');
        break;
    }
    }
}

#define SEARCH_MESSAGES 300
#define SEARCH_LATE 20
#define SEARCH_PROGRAMS 40

static void test_search_answers_as_evaluation_over_fetch(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("search-random");
    const char *err = NULL;
    uint32_t max_uid = 0;
    for (unsigned i = 0; i < SEARCH_MESSAGES + SEARCH_LATE; i++) {
        struct ph_buf kw = {0};
        for (unsigned n = rnd(4); n > 0; n--) {
            if (kw.len > 0)
                ph_buf_putc(&kw, ' ');
            rnd_keyword(&kw);
        }
        time_t date = RND_BASE + (time_t)rnd(10 * 86400);
        /* Some right at a midnight, in UTC or in their zone. */
        int tz = rnd_zones[rnd(PH_N_ELEMENTS(rnd_zones))];
        if (rnd(8) == 0)
            date -= date % 86400 + (rnd(2) ? (time_t)tz * 60 : 0);
        max_uid = append_dated(acct, "r", rnd(32), kw.len ? kw.data : NULL,
                               rnd(3000), date, tz);
        ph_buf_free(&kw);
        if (i == SEARCH_MESSAGES - 1) {
            /* a claims \Recent for these; later ones change flags. */
            struct ph_mailbox *a = open_mb(acct, "INBOX", false);
            ph_mailbox_close(&a);
        }
    }
    /* a holds nothing recent: the first open, closed, claimed those; b
     * claims the late ones. Then flag changes spread the modseqs. */
    struct ph_mailbox *b = open_mb(acct, "INBOX", false);
    struct ph_mailbox *a = open_mb(acct, "INBOX", false);
    for (unsigned i = 0; i < 60; i++) {
        struct ph_uidset s = uids(1 + rnd(max_uid), 1 + rnd(max_uid));
        struct ph_flags f = {.system = 1u << rnd(5)};
        if (rnd(3) == 0)
            assert_int_equal(ph_flags_add_name(&f, "Later"), 0);
        assert_int_equal(
            ph_mailbox_store(a, &s, rnd(2) ? PH_STORE_ADD : PH_STORE_REMOVE, &f,
                             0, NULL, NULL, NULL, &err),
            0);
        ph_flags_clear(&f);
        ph_uidset_clear(&s);
    }
    uint64_t max_modseq = status_of(acct, "INBOX").highestmodseq;
    char *late = ph_strdup_printf("%u:%u", SEARCH_MESSAGES + 1, max_uid);
    assert_search(b, "RECENT", late);
    assert_search(a, "RECENT", "");
    free(late);

    unsigned nonempty = 0;
    for (unsigned i = 0; i < SEARCH_PROGRAMS; i++) {
        struct ph_buf keys = {0};
        for (unsigned n = 1 + rnd(3); n > 0; n--) {
            if (keys.len > 0)
                ph_buf_putc(&keys, ' ');
            rnd_key(&keys, 0, max_uid, max_modseq);
        }
        char *fa = search_uids(a, keys.data);
        char *fb = search_uids(b, keys.data);
        nonempty += fa[0] != '\0';
        free(fa);
        free(fb);
        ph_buf_free(&keys);
    }
    /* The programs are no trivial ones. */
    assert_true(nonempty >= SEARCH_PROGRAMS / 4);
    ph_mailbox_close(&a);
    ph_mailbox_close(&b);
    ph_account_release(&acct);
}

/* ---- concurrency -----------------------------------------------------------
 */

#define PER_THREAD 200

struct appender {
    const char *account;
    uint32_t uids[PER_THREAD];
    int failures;
};

static void *append_thread(void *arg)
{
    struct appender *ap = arg;
    struct ph_account *acct = NULL;
    const char *err = NULL;
    if (ph_storage_account_get(storage, ap->account, false, &acct, &err) < 0) {
        ap->failures = PER_THREAD;
        return NULL;
    }
    char *text = message_text("concurrent", "from a thread");
    for (int i = 0; i < PER_THREAD; i++) {
        if (append_raw(acct, "INBOX", text, strlen(text), 64, NULL, 0, 0,
                       &ap->uids[i], NULL) < 0)
            ap->failures++;
    }
    free(text);
    ph_account_release(&acct);
    return NULL;
}

static int uid_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- SORT and THREAD keys (issue 17) ------------------------------------- */

/* What ph_sort_keys_from_info() gives, storage or not: a storage that keeps
 * keys must agree with it exactly. */
static bool sort_keys_required(void)
{
    return search_pushdown_required();
}

static const char *const sort_subjects[] = {
    "Hello", "hello", "Re: Hello", "RE: [list] hello", "Fwd: apples",
    "[x] Apples (fwd)", "bananas", "", "Zebra",
    "=?UTF-8?Q?=C3=84pfel?=", "re: re: zebra", "[fwd: Zebra]",
};
static const char *const sort_addrs[] = {
    "\"Zed\" <alice@b.example>", "bob@a.example",
    "=?UTF-8?Q?=C3=89mile?= <emile@d.example>", "carol@x.example",
    "undisclosed-recipients:;", "\"\" <dave@x.example>", NULL,
};
static const char *const sort_dates[] = {
    "Thu, 2 Jan 2020 10:00:00 +0000", "Wed, 1 Jan 2020 23:00:00 -0500",
    "Fri, 3 Jan 2020 00:00:00 +0000", "not a date", NULL,
};

/* Message i of the sort mailbox: every header drawn from the pools, some
 * absent, references to earlier messages. */
static char *sort_message(unsigned i)
{
    struct ph_buf b = {0};
    const char *from = sort_addrs[rnd(PH_N_ELEMENTS(sort_addrs))];
    const char *to = sort_addrs[rnd(PH_N_ELEMENTS(sort_addrs))];
    const char *cc = sort_addrs[rnd(PH_N_ELEMENTS(sort_addrs))];
    const char *date = sort_dates[rnd(PH_N_ELEMENTS(sort_dates))];
    if (from != NULL)
        ph_buf_printf(&b, "From: %s\r\n", from);
    if (to != NULL)
        ph_buf_printf(&b, "To: %s\r\n", to);
    if (cc != NULL && rnd(2))
        ph_buf_printf(&b, "Cc: %s\r\n", cc);
    if (rnd(8))
        ph_buf_printf(&b, "Subject: %s\r\n",
                      sort_subjects[rnd(PH_N_ELEMENTS(sort_subjects))]);
    if (date != NULL)
        ph_buf_printf(&b, "Date: %s\r\n", date);
    if (rnd(6))
        ph_buf_printf(&b, "Message-ID: <%u.%u@x>\r\n", i % 40, rnd(3));
    if (i > 0 && rnd(2))
        ph_buf_printf(&b, "References: <%u.0@x> <%u.1@x>\r\n", rnd(i),
                      rnd(i));
    else if (i > 0 && rnd(2))
        ph_buf_printf(&b, "In-Reply-To: <%u.0@x>\r\n", rnd(i));
    ph_buf_puts(&b, "\r\n");
    for (unsigned n = rnd(400); n > 0; n--)
        ph_buf_putc(&b, n % 70 ? 'x' : '\n');
    ph_buf_puts(&b, "\r\n");
    return ph_buf_steal(&b);
}

struct sort_expect {
    uint32_t *uids;
    struct ph_sort_keys *keys;
    size_t n, cap;
};

static int sort_collect_info(void *arg, const struct ph_message_meta *m)
{
    struct sort_expect *e = arg;
    struct ph_message_info *info = NULL;
    const char *err = NULL;
    assert_non_null(m->info);
    assert_int_equal(
        ph_message_info_deserialize(m->info, m->info_size, &info, &err), 0);
    ph_array_grow(&e->keys, &e->cap, e->n + 1, sizeof(*e->keys));
    e->uids = ph_realloc(e->uids, e->cap * sizeof(*e->uids));
    e->uids[e->n] = m->uid;
    ph_sort_keys_from_info(info, m->internal_date, &e->keys[e->n++]);
    ph_message_info_free(&info);
    return 0;
}

struct sort_got {
    const struct sort_expect *e;
    size_t n;
};

static void assert_key_string(const char *what, uint32_t uid, const char *got,
                              const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("uid %u: stored %s key \"%s\", expected \"%s\"", uid, what,
                 got, want);
}

static int sort_check_keys(void *arg, uint32_t uid,
                           const struct ph_sort_keys *k)
{
    struct sort_got *g = arg;
    assert_true(g->n < g->e->n);
    assert_int_equal(uid, g->e->uids[g->n]);
    const struct ph_sort_keys *w = &g->e->keys[g->n++];
    assert_key_string("subject", uid, k->subject, w->subject);
    assert_key_string("from", uid, k->from, w->from);
    assert_key_string("to", uid, k->to, w->to);
    assert_key_string("cc", uid, k->cc, w->cc);
    assert_key_string("display_from", uid, k->display_from, w->display_from);
    assert_key_string("display_to", uid, k->display_to, w->display_to);
    assert_key_string("message_id", uid, k->message_id, w->message_id);
    assert_key_string("references", uid, k->references, w->references);
    assert_int_equal(k->sent_date, w->sent_date);
    assert_int_equal(k->date_from_header, w->date_from_header);
    assert_int_equal(k->arrival, w->arrival);
    assert_int_equal(k->size, w->size);
    assert_int_equal(k->subject_is_reply, w->subject_is_reply);
    return 0;
}

/* ph_mailbox_sort over set (NULL: all) against ph_sort_messages over the
 * keys made from the structure, for program. */
static void assert_sorted_as_keys(struct ph_mailbox *mb,
                                  const struct sort_expect *e,
                                  const struct ph_uidset *set,
                                  const struct ph_sort_program_item *program,
                                  size_t n)
{
    const struct ph_sort_keys **keys = ph_calloc(e->n, sizeof(*keys));
    uint32_t *uids = ph_calloc(e->n, sizeof(*uids));
    uint32_t *order = ph_calloc(e->n, sizeof(*order));
    size_t m = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (set != NULL && !ph_uidset_contains(set, e->uids[i]))
            continue;
        keys[m] = &e->keys[i];
        uids[m++] = e->uids[i];
    }
    ph_sort_messages(keys, (uint32_t)m, program, n, order);
    uint32_t *got = NULL;
    size_t ngot = 0;
    const char *err = NULL;
    assert_int_equal(ph_mailbox_sort(mb, set, program, n, &got, &ngot, &err),
                     0);
    struct ph_buf want_s = {0}, got_s = {0};
    for (size_t i = 0; i < m; i++)
        ph_buf_printf(&want_s, " %u", uids[order[i]]);
    for (size_t i = 0; i < ngot; i++)
        ph_buf_printf(&got_s, " %u", got[i]);
    if (ngot != m || strcmp(want_s.data ? want_s.data : "",
                            got_s.data ? got_s.data : "") != 0)
        fail_msg("SORT (%s%s%s): got%s, expected%s",
                 program[0].reverse ? "REVERSE " : "",
                 ph_sort_criterion_name(program[0].criterion),
                 n > 1 ? " ..." : "", got_s.data ? got_s.data : "",
                 want_s.data ? want_s.data : "");
    ph_buf_free(&want_s);
    ph_buf_free(&got_s);
    free(got);
    free(order);
    free(uids);
    free(keys);
}

static void test_sort_answers_as_keys_made_from_the_structure(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("sort");
    for (unsigned i = 0; i < 160; i++) {
        char *text = sort_message(i);
        struct ph_flags flags = {0};
        uint32_t uid;
        /* Arrivals tie in fours: SIZE, ARRIVAL ties go by UID. */
        assert_int_equal(append_raw(acct, "INBOX", text, strlen(text), 4096,
                                    &flags, RND_BASE + (time_t)(i / 4) * 3600,
                                    rnd_zones[rnd(PH_N_ELEMENTS(rnd_zones))],
                                    &uid, NULL),
                         0);
        free(text);
    }
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    const char *err = NULL;
    /* Copies share their body: the keys come with them. Some go. */
    struct ph_uidset set = uids(10, 40), del = uids(1, 1);
    assert_int_equal(
        ph_mailbox_copy(mb, &set, "INBOX", false, NULL, NULL, NULL, &err), 0);
    struct ph_flags deleted = {.system = PH_FLAG_DELETED};
    ph_uidset_add_range(&del, 20, 25);
    assert_int_equal(ph_mailbox_store(mb, &del, PH_STORE_ADD, &deleted, 0,
                                      NULL, NULL, NULL, &err),
                     0);
    struct ph_uidset gone = {0};
    assert_int_equal(ph_mailbox_expunge(mb, NULL, &gone, &err), 0);
    ph_uidset_clear(&gone);

    uint32_t *probe = NULL;
    size_t nprobe = 0;
    struct ph_sort_program_item date = {PH_SORT_DATE, false};
    int r = ph_mailbox_sort(mb, NULL, &date, 1, &probe, &nprobe, &err);
    free(probe);
    if (r == PH_STORAGE_ERR_UNSUPPORTED && !sort_keys_required()) {
        ph_uidset_clear(&set);
        ph_uidset_clear(&del);
        ph_mailbox_close(&mb);
        ph_account_release(&acct);
        skip();
    }
    assert_int_equal(r, 0);

    struct sort_expect e = {0};
    assert_int_equal(ph_mailbox_fetch(mb, NULL, PH_META_INFO,
                                      sort_collect_info, &e, &err),
                     0);
    assert_int_equal(e.n, 160 + 31 - 7);
    /* The stored keys are the structure's, in UID order, for a set too. */
    struct sort_got g = {&e, 0};
    assert_int_equal(ph_mailbox_sort_keys(mb, NULL, sort_check_keys, &g, &err),
                     0);
    assert_int_equal(g.n, e.n);

    /* Every criterion each way, then programs of several. */
    struct ph_uidset odd = {0};
    for (uint32_t u = 1; u < 200; u += 2)
        ph_uidset_add(&odd, u);
    for (int c = PH_SORT_ARRIVAL; c <= PH_SORT_DISPLAYTO; c++) {
        for (int rev = 0; rev < 2; rev++) {
            struct ph_sort_program_item p = {(enum ph_sort_criterion)c, rev};
            assert_sorted_as_keys(mb, &e, NULL, &p, 1);
            assert_sorted_as_keys(mb, &e, &odd, &p, 1);
        }
    }
    static const struct ph_sort_program_item programs[][3] = {
        {{PH_SORT_SUBJECT, false}, {PH_SORT_DATE, true}, {PH_SORT_SIZE, 0}},
        {{PH_SORT_FROM, true}, {PH_SORT_TO, false}, {PH_SORT_ARRIVAL, 1}},
        {{PH_SORT_CC, false}, {PH_SORT_DISPLAYTO, true}, {PH_SORT_DATE, 0}},
        {{PH_SORT_DISPLAYFROM, false}, {PH_SORT_SUBJECT, 1}, {PH_SORT_CC, 0}},
    };
    for (size_t i = 0; i < PH_N_ELEMENTS(programs); i++)
        assert_sorted_as_keys(mb, &e, NULL, programs[i], 3);
    /* A program as long as a command line allows (every key again and
     * again, each way) sorts as its first terms do. */
    struct ph_sort_program_item *longp = ph_calloc(3000, sizeof(*longp));
    for (size_t i = 0; i < 3000; i++)
        longp[i] = (struct ph_sort_program_item){
            (enum ph_sort_criterion)((i * 7 + 3) % (PH_SORT_DISPLAYTO + 1)),
            i % 3 == 1};
    assert_sorted_as_keys(mb, &e, &odd, longp, 3000);
    free(longp);

    /* A set of UIDs the mailbox lacks sorts to nothing. */
    struct ph_uidset none = uids(5000, 6000);
    uint32_t *got = NULL;
    size_t ngot = 1;
    assert_int_equal(ph_mailbox_sort(mb, &none, &date, 1, &got, &ngot, &err),
                     0);
    assert_int_equal(ngot, 0);
    free(got);

    for (size_t i = 0; i < e.n; i++)
        ph_sort_keys_clear(&e.keys[i]);
    free(e.keys);
    free(e.uids);
    ph_uidset_clear(&none);
    ph_uidset_clear(&odd);
    ph_uidset_clear(&set);
    ph_uidset_clear(&del);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_two_threads_appending_get_distinct_increasing_uids(void **s)
{
    (void)s;
    struct ph_account *acct = account_new("threads");
    struct ph_mailbox *watcher = open_mb(acct, "INBOX", false);
    uint64_t h0 = status_of(acct, "INBOX").highestmodseq;
    struct appender ap[2] = {{.account = ph_account_name(acct)},
                             {.account = ph_account_name(acct)}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, append_thread, &ap[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(ap[0].failures, 0);
    assert_int_equal(ap[1].failures, 0);

    uint32_t all[2 * PER_THREAD];
    for (int i = 0; i < 2; i++) {
        for (int j = 1; j < PER_THREAD; j++)
            assert_true(ap[i].uids[j] > ap[i].uids[j - 1]);
        memcpy(all + i * PER_THREAD, ap[i].uids, sizeof(ap[i].uids));
    }
    qsort(all, 2 * PER_THREAD, sizeof(all[0]), uid_cmp);
    for (int i = 1; i < 2 * PER_THREAD; i++)
        assert_true(all[i] > all[i - 1]);

    /* A session that had the mailbox open learns of all of them. */
    struct metas l = {0};
    uint64_t highest = 0;
    const char *err = NULL;
    assert_int_equal(
        ph_mailbox_changes(watcher, h0, NULL, &highest, collect_meta, &l, &err),
        0);
    assert_int_equal(l.n, 2 * PER_THREAD);
    for (size_t i = 0; i < l.n; i++) {
        assert_int_equal(l.v[i].uid, all[i]);
        assert_true(l.v[i].recent);
    }
    assert_int_equal(status_of(acct, "INBOX").messages, 2 * PER_THREAD);
    metas_clear(&l);
    ph_mailbox_close(&watcher);
    ph_account_release(&acct);
}

struct racing_appender {
    struct appender ap;
    atomic_bool done;
};

static void *append_then_done(void *arg)
{
    struct racing_appender *r = arg;
    append_thread(&r->ap);
    atomic_store(&r->done, true);
    return NULL;
}

/* RFC 3501 2.3.2: with one session open, every new message is recent in
 * it. changes() must decide \Recent for each new message it delivers, even
 * while appends land between its queries. */
static void test_changes_deliver_new_messages_with_recent_decided(void **s)
{
    (void)s;
    struct ph_account *acct = account_new("recent-race");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct racing_appender r = {.ap = {.account = ph_account_name(acct)}};
    atomic_init(&r.done, false);
    uint64_t h = status_of(acct, "INBOX").highestmodseq;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, append_then_done, &r), 0);
    size_t seen = 0, not_recent = 0;
    const char *err = NULL;
    for (bool last = false; !last;) {
        last = atomic_load(&r.done); /* one more round after the end */
        struct metas l = {0};
        assert_int_equal(
            ph_mailbox_changes(mb, h, NULL, &h, collect_meta, &l, &err), 0);
        for (size_t i = 0; i < l.n; i++)
            not_recent += !l.v[i].recent;
        seen += l.n;
        metas_clear(&l);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.ap.failures, 0);
    assert_int_equal(seen, PER_THREAD);
    assert_int_equal(not_recent, 0);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* ---- watch --------------------------------------------------------------- */

struct waker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int wakes;
};

static void on_wake(void *arg)
{
    struct waker *w = arg;
    pthread_mutex_lock(&w->lock);
    w->wakes++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Waits up to ms for a wake; returns the wakes seen. A wake that must come
 * is waited for with WAKE_GUARD_MS, a guard against a hang only: a loaded
 * machine (make -j check, the sanitizer builds) may take seconds. */
#define WAKE_GUARD_MS 60000
static int wait_wake(struct waker *w, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->lock);
    while (w->wakes == 0 &&
           pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
        ;
    int n = w->wakes;
    w->wakes = 0;
    pthread_mutex_unlock(&w->lock);
    return n;
}

static void *append_one_thread(void *arg)
{
    const char *account = arg;
    struct ph_account *acct = NULL;
    const char *err = NULL;
    if (ph_storage_account_get(storage, account, false, &acct, &err) == 0) {
        char *text = message_text("wake up", "now");
        uint32_t uid;
        if (append_raw(acct, "INBOX", text, strlen(text), 1024, NULL, 0, 0,
                       &uid, NULL) < 0)
            fprintf(stderr, "append failed\n");
        free(text);
        ph_account_release(&acct);
    }
    return NULL;
}

static void test_watch_wakes_after_append_from_another_thread(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("watch");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct waker w = {.lock = PTHREAD_MUTEX_INITIALIZER,
                      .cond = PTHREAD_COND_INITIALIZER};
    const char *err = NULL;
    uint64_t h0 = status_of(acct, "INBOX").highestmodseq;
    assert_int_equal(ph_mailbox_watch(mb, on_wake, &w, &err), 0);

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, append_one_thread,
                                    (void *)ph_account_name(acct)),
                     0);
    assert_true(wait_wake(&w, WAKE_GUARD_MS) >= 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    struct metas l = {0};
    uint64_t h = 0;
    assert_int_equal(
        ph_mailbox_changes(mb, h0, NULL, &h, collect_meta, &l, &err), 0);
    assert_int_equal(l.n, 1);
    metas_clear(&l);

    /* A change to another mailbox does not wake this one. */
    wait_wake(&w, 0);
    append_msg(acct, "Drafts", "elsewhere", PH_FLAG_DRAFT, NULL);
    assert_int_equal(wait_wake(&w, 200), 0);

    /* Flag changes by another session wake it too. */
    struct ph_mailbox *other = open_mb(acct, "INBOX", false);
    set_flags(other, status_of(acct, "INBOX").uidnext - 1, PH_FLAG_SEEN);
    assert_true(wait_wake(&w, WAKE_GUARD_MS) >= 1);
    ph_mailbox_close(&other);

    /* After watch(NULL) it stays quiet. */
    assert_int_equal(ph_mailbox_watch(mb, NULL, NULL, &err), 0);
    append_msg(acct, "INBOX", "quiet", 0, NULL);
    assert_int_equal(wait_wake(&w, 200), 0);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* The child side of the tests that need another process (as the CLI
 * would be): "append" appends one message and exits; "append-die" appends
 * one and is killed (SIGKILL) the moment the append returned; "die-during"
 * is killed halfway through writing one. */
static int child_main(const char *mode, const char *config,
                      const char *instance, const char *account,
                      const char *mailbox)
{
    struct ph_graph *g = NULL;
    char *error = NULL;
    if (ph_graph_load_file(config, PH_GRAPH_LAZY, &g, &error) < 0) {
        fprintf(stderr, "child: %s\n", error);
        return 1;
    }
    struct ph_instance *inst = ph_graph_instance(g, instance, &error);
    struct ph_account *acct = NULL;
    const char *err = NULL;
    int ret = 1;
    if (inst == NULL) {
        fprintf(stderr, "child: %s\n", error);
    } else if (ph_storage_account_get(inst, account, false, &acct, &err) < 0) {
        fprintf(stderr, "child: %s\n", err);
    } else {
        char *text = message_text("from another process", "hello");
        size_t len = strlen(text);
        uint32_t uid = 0;
        struct ph_append *app = NULL;
        if (strcmp(mode, "die-during") == 0) {
            if (ph_append_begin(acct, mailbox, len, &app, &err) == 0 &&
                ph_append_write(app, text, len / 2, &err) == 0)
                raise(SIGKILL);
        } else {
            ret = append_raw(acct, mailbox, text, len, 100, NULL, 0, 0, &uid,
                             NULL) < 0;
            if (ret == 0 && strcmp(mode, "append-die") == 0)
                raise(SIGKILL);
        }
        free(text);
        ph_account_release(&acct);
    }
    free(error);
    ph_graph_unref(&g);
    return ret;
}

/* Runs child_main(mode) in a new process; returns its wait status. */
static pid_t child_start(const char *mode, struct ph_account *acct)
{
    char *const argv[] = {"test_contract",
                          "--child",
                          (char *)mode,
                          (char *)config_path,
                          (char *)instance_name,
                          (char *)ph_account_name(acct),
                          "INBOX",
                          NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, self_path, NULL, NULL, argv, environ),
                     0);
    return pid;
}

static int child_wait(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_append_survives_kill_and_half_append_leaves_nothing(void **s)
{
    (void)s;
    struct ph_account *acct = account_new("kill");
    int status = child_wait(child_start("die-during", acct));
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    struct ph_mailbox_status st = status_of(acct, "INBOX");
    assert_int_equal(st.messages, 0);

    status = child_wait(child_start("append-die", acct));
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    st = status_of(acct, "INBOX");
    assert_int_equal(st.messages, 1);

    struct ph_mailbox *mb = open_mb(acct, "INBOX", true);
    struct metas l = {0};
    fetch_all(mb, 0, &l);
    assert_int_equal(l.n, 1);
    char *text = message_text("from another process", "hello");
    size_t len;
    char *got = read_range(mb, l.v[0].uid, 0, UINT64_MAX, &len);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(got, text, len);
    free(got);
    free(text);
    metas_clear(&l);
    ph_mailbox_close(&mb);

    /* The storage goes on as before. */
    append_msg(acct, "INBOX", "after", 0, NULL);
    assert_int_equal(status_of(acct, "INBOX").messages, 2);
    ph_account_release(&acct);
}

static void test_watch_wakes_after_append_from_another_process(void **state)
{
    (void)state;
    struct ph_account *acct = account_new("xproc");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct waker w = {.lock = PTHREAD_MUTEX_INITIALIZER,
                      .cond = PTHREAD_COND_INITIALIZER};
    const char *err = NULL;
    uint64_t h0 = status_of(acct, "INBOX").highestmodseq;
    assert_int_equal(ph_mailbox_watch(mb, on_wake, &w, &err), 0);

    pid_t pid = child_start("append", acct);
    /* The child starts, loads the config and commits first. */
    int wakes = wait_wake(&w, WAKE_GUARD_MS);
    int status = child_wait(pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(wakes >= 1);

    struct metas l = {0};
    uint64_t h = 0;
    assert_int_equal(
        ph_mailbox_changes(mb, h0, NULL, &h, collect_meta, &l, &err), 0);
    assert_int_equal(l.n, 1);
    assert_true(l.v[0].recent);
    metas_clear(&l);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

/* ---- delivery ------------------------------------------------------------ */

static void test_deliver_needs_an_existing_account(void **state)
{
    (void)state;
    const char *err = NULL;
    char *name = ph_strdup_printf("deliver-%ld@example.org", (long)getpid());
    char *upper = ph_strdup_printf("Deliver-%ld@EXAMPLE.org", (long)getpid());
    char *text = message_text("delivered", "by the MTA");
    uint32_t uid = 0;

    assert_fails(ph_storage_deliver(storage, name, "INBOX", text, strlen(text),
                                    &uid, &err),
                 PH_STORAGE_ERR_NO_ACCOUNT, err);
    struct ph_account *acct = NULL;
    assert_int_equal(ph_storage_account_get(storage, name, false, &acct, &err),
                     PH_STORAGE_ERR_NO_ACCOUNT);

    assert_int_equal(ph_storage_account_create(storage, name, &err), 0);
    assert_int_equal(ph_storage_deliver(storage, upper, "INBOX", text,
                                        strlen(text), &uid, &err),
                     0);
    assert_true(uid > 0);
    assert_int_equal(ph_storage_account_get(storage, name, false, &acct, &err),
                     0);
    assert_int_equal(status_of(acct, "INBOX").messages, 1);
    ph_account_release(&acct);
    free(name);
    free(upper);
    free(text);
}

/* ---- OBJECTID (RFC 8474) and PREVIEW (RFC 8970) ------------------------- */

/* RFC 8474 7: objectid = 1*255(ALPHA / DIGIT / "_" / "-"). */
static void assert_objectid(const char *id)
{
    assert_non_null(id);
    size_t n = strlen(id);
    assert_true(n >= 1 && n <= PH_OBJECTID_MAX);
    for (size_t i = 0; i < n; i++)
        assert_true(isalnum((unsigned char)id[i]) || id[i] == '_' ||
                    id[i] == '-');
}

static char *mailboxid_of(struct ph_account *acct, const char *name)
{
    struct ph_mailbox_status st = status_of(acct, name);
    assert_objectid(st.mailboxid);
    return ph_strdup(st.mailboxid);
}

static void test_mailboxid_stays_through_rename_not_delete(void **state)
{
    (void)state;
    if (!ph_storage_has(storage, PH_META_OBJECTID))
        skip();
    struct ph_account *acct = account_new("mboxid");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "A.B", 0, &err), 0);
    char *a = mailboxid_of(acct, "A"), *b = mailboxid_of(acct, "A.B");
    char *inbox = mailboxid_of(acct, "INBOX");
    /* RFC 8474 4: never the same for two mailboxes at the same time. */
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, inbox);
    /* "MUST keep the same MAILBOXID ... when renaming a mailbox". */
    assert_int_equal(ph_mailbox_rename(acct, "A", "Z", &err), 0);
    char *z = mailboxid_of(acct, "Z"), *zb = mailboxid_of(acct, "Z.B");
    assert_string_equal(z, a);
    assert_string_equal(zb, b);
    /* A mailbox made again is another mailbox; so is a \Noselect parent
     * made selectable (a new UIDVALIDITY). */
    assert_int_equal(ph_mailbox_delete(acct, "Z.B", &err), 0);
    assert_int_equal(ph_mailbox_create(acct, "Z.B", 0, &err), 0);
    assert_int_equal(ph_mailbox_delete(acct, "Z", &err), 0);
    assert_int_equal(ph_mailbox_create(acct, "Z", 0, &err), 0);
    char *z2 = mailboxid_of(acct, "Z"), *zb2 = mailboxid_of(acct, "Z.B");
    assert_string_not_equal(z2, a);
    assert_string_not_equal(zb2, b);
    /* RENAME INBOX makes a new mailbox of its messages (8.2). */
    append_msg(acct, "INBOX", "x", 0, NULL);
    assert_int_equal(ph_mailbox_rename(acct, "INBOX", "Old", &err), 0);
    char *inbox2 = mailboxid_of(acct, "INBOX"),
         *old = mailboxid_of(acct, "Old");
    assert_string_equal(inbox2, inbox);
    assert_string_not_equal(old, inbox);
    free(a), free(b), free(z), free(zb), free(z2), free(zb2);
    free(inbox), free(inbox2), free(old);
    ph_account_release(&acct);
}

static struct ph_meta_list objects_of(struct ph_mailbox *mb)
{
    struct ph_meta_list l = {0};
    const char *err = NULL;
    assert_int_equal(ph_mailbox_fetch(mb, NULL,
                                      PH_META_OBJECTID | PH_META_PREVIEW,
                                      ph_meta_list_add, &l, &err),
                     0);
    for (size_t i = 0; i < l.n; i++) {
        assert_objectid(l.v[i].emailid);
        assert_objectid(l.v[i].threadid);
        assert_non_null(l.v[i].preview);
    }
    return l;
}

static uint32_t append_bytes(struct ph_account *acct, const char *mailbox,
                             const char *text)
{
    uint32_t uid = 0;
    assert_int_equal(append_raw(acct, mailbox, text, strlen(text), 5, NULL,
                                1700000000, 0, &uid, NULL),
                     0);
    return uid;
}

static void test_emailid_and_threadid_follow_copy_and_move(void **state)
{
    (void)state;
    if (!ph_storage_has(storage, PH_META_OBJECTID | PH_META_PREVIEW))
        skip();
    struct ph_account *acct = account_new("emailid");
    const char *err = NULL;
    assert_int_equal(ph_mailbox_create(acct, "Dest", 0, &err), 0);
    /* The reply first: its parent joins its thread when it comes. */
    append_bytes(acct, "INBOX",
                 "Message-ID: <b@x>\r\nReferences: <a@x>\r\n\r\nreply\r\n");
    append_bytes(acct, "INBOX",
                 "Message-ID: <a@x>\r\n\r\n  parent\r\n text\r\n");
    append_bytes(acct, "INBOX", "Message-ID: <c@x>\r\n\r\nother\r\n");
    struct ph_mailbox *mb = open_mb(acct, "INBOX", false);
    struct ph_meta_list l = objects_of(mb);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].threadid, l.v[1].threadid);
    assert_string_not_equal(l.v[0].threadid, l.v[2].threadid);
    assert_string_not_equal(l.v[0].emailid, l.v[1].emailid);
    /* RFC 8474 5.2: EMAILIDs and THREADIDs never share a value. */
    assert_string_not_equal(l.v[0].emailid, l.v[0].threadid);
    /* RFC 8970: the text, white space collapsed. */
    assert_string_equal(l.v[1].preview, "parent text");

    /* The storage's SEARCH answers as the evaluation does. */
    char *keys = ph_strdup_printf("EMAILID %s", l.v[1].emailid);
    char *got = search_uids(mb, keys);
    assert_string_equal(got, "2");
    free(keys), free(got);
    keys = ph_strdup_printf("OR THREADID %s EMAILID %s", l.v[0].threadid,
                            l.v[2].emailid);
    got = search_uids(mb, keys);
    assert_string_equal(got, "1:3");
    free(keys), free(got);

    /* 5.1: COPY and MOVE keep EMAILID (and so THREADID). */
    struct ph_uidset one = uids(1, 1), two = uids(2, 2), src = {0}, dst = {0};
    uint32_t validity;
    assert_int_equal(
        ph_mailbox_copy(mb, &one, "Dest", false, &src, &dst, &validity, &err),
        0);
    assert_int_equal(
        ph_mailbox_copy(mb, &two, "Dest", true, &src, &dst, &validity, &err),
        0);
    struct ph_mailbox *d = open_mb(acct, "Dest", false);
    struct ph_meta_list dl = objects_of(d);
    assert_int_equal(dl.n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(dl.v[i].emailid, l.v[i].emailid);
        assert_string_equal(dl.v[i].threadid, l.v[i].threadid);
        assert_string_equal(dl.v[i].preview, l.v[i].preview);
    }
    ph_meta_list_free(&dl);
    ph_meta_list_free(&l);
    ph_uidset_clear(&one), ph_uidset_clear(&two);
    ph_uidset_clear(&src), ph_uidset_clear(&dst);
    ph_mailbox_close(&d);
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
}

static void test_threads_are_per_account(void **state)
{
    (void)state;
    if (!ph_storage_has(storage, PH_META_OBJECTID))
        skip();
    struct ph_account *a = account_new("thr-a"), *b = account_new("thr-b");
    const char *msg = "Message-ID: <same@x>\r\n\r\nx\r\n";
    append_bytes(a, "INBOX", msg);
    append_bytes(b, "INBOX", msg);
    struct ph_mailbox *ma = open_mb(a, "INBOX", true);
    struct ph_mailbox *mb = open_mb(b, "INBOX", true);
    struct ph_meta_list la = objects_of(ma), lb = objects_of(mb);
    /* Another account's Message-IDs say nothing of this one's threads. */
    assert_string_not_equal(la.v[0].threadid, lb.v[0].threadid);
    assert_string_not_equal(la.v[0].emailid, lb.v[0].emailid);
    ph_meta_list_free(&la);
    ph_meta_list_free(&lb);
    ph_mailbox_close(&ma);
    ph_mailbox_close(&mb);
    ph_account_release(&a);
    ph_account_release(&b);
}

/* ---- main --------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "--child") == 0)
        return child_main(argv[2], argv[3], argv[4], argv[5], argv[6]);
    if (argc != 3) {
        fprintf(stderr, "usage: %s CONFIG_FILE INSTANCE_NAME\n", argv[0]);
        return 2;
    }
    /* argv[0] rather than /proc/self/exe, which is valgrind under it. */
    self_path = strchr(argv[0], '/') != NULL ? argv[0] : "/proc/self/exe";
    config_path = argv[1];
    instance_name = argv[2];
    char *error = NULL;
    if (ph_graph_load_file(config_path, PH_GRAPH_LAZY, &graph, &error) < 0) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    storage = ph_graph_instance(graph, instance_name, &error);
    if (storage == NULL) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    char *limits = ph_strdup_printf("%s_limits", instance_name);
    storage_limits = ph_graph_instance(graph, limits, &error);
    free(limits);
    free(error);
    error = NULL;
    char *defaults = ph_strdup_printf("%s_defaults", instance_name);
    storage_defaults = ph_graph_instance(graph, defaults, &error);
    free(defaults);
    free(error);
    error = NULL;
    char *horizon = ph_strdup_printf("%s_horizon", instance_name);
    storage_horizon = ph_graph_instance(graph, horizon, &error);
    free(horizon);
    free(error);
    error = NULL;
    char *pending = ph_strdup_printf("%s_pending", instance_name);
    storage_pending = ph_graph_instance(graph, pending, &error);
    free(pending);
    free(error);
    error = NULL;
    char *grace = ph_strdup_printf("%s_grace", instance_name);
    storage_grace = ph_graph_instance(graph, grace, &error);
    free(grace);
    free(error);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_get_without_create_reports_no_account),
        cmocka_unit_test(
            test_account_get_with_create_makes_inbox_and_special_use),
        cmocka_unit_test(test_account_create_twice_reports_exists),
        cmocka_unit_test(test_account_with_invalid_name_is_refused),
        cmocka_unit_test(test_account_list_and_delete),
        cmocka_unit_test(test_account_delete_removes_its_mail),
        cmocka_unit_test(
            test_account_get_without_auto_create_reports_no_account),
        cmocka_unit_test(test_appendlimit_refuses_larger_messages),
        cmocka_unit_test(test_append_batch_commits_all_at_once),
        cmocka_unit_test(test_append_batch_failing_stores_none),
        cmocka_unit_test(test_auto_create_makes_the_default_mailboxes_given),
        cmocka_unit_test(test_default_mailboxes_none_makes_inbox_alone),
        cmocka_unit_test(test_mailbox_create_makes_missing_parents),
        cmocka_unit_test(test_mailbox_create_existing_reports_exists),
        cmocka_unit_test(test_mailbox_create_refuses_invalid_names),
        cmocka_unit_test(test_mailbox_create_with_special_use_lists_it),
        cmocka_unit_test(test_inbox_is_case_insensitive),
        cmocka_unit_test(test_delete_inbox_is_refused),
        cmocka_unit_test(test_delete_without_inferiors_removes_the_mailbox),
        cmocka_unit_test(test_delete_with_inferiors_makes_noselect),
        cmocka_unit_test(test_delete_last_child_removes_noselect_parent),
        cmocka_unit_test(test_rename_moves_inferiors),
        cmocka_unit_test(test_rename_errors),
        cmocka_unit_test(
            test_rename_inbox_moves_messages_and_leaves_inbox_empty),
        cmocka_unit_test(test_subscriptions_survive_delete_as_nonexistent),
        cmocka_unit_test(test_status_counts),
        cmocka_unit_test(test_append_then_fetch_returns_metadata_and_info),
        cmocka_unit_test(test_fetch_values_are_those_of_the_structure),
        cmocka_unit_test(test_fetch_stops_when_the_callback_says_so),
        cmocka_unit_test(test_read_serves_byte_ranges),
        cmocka_unit_test(test_append_to_missing_mailbox_reports_not_found),
        cmocka_unit_test(test_append_abort_leaves_nothing),
        cmocka_unit_test(test_large_message_streams_in_and_reads_back_exactly),
        cmocka_unit_test(
            test_append_survives_kill_and_half_append_leaves_nothing),
        cmocka_unit_test(test_store_add_remove_replace_take_new_modseqs),
        cmocka_unit_test(test_store_that_changes_nothing_keeps_modseq),
        cmocka_unit_test(test_store_unchangedsince_skips_modified_messages),
        cmocka_unit_test(
            test_keywords_are_case_insensitive_and_kept_as_written),
        cmocka_unit_test(test_copy_returns_uid_map_and_keeps_flags),
        cmocka_unit_test(test_move_expunges_sources_with_tombstones),
        cmocka_unit_test(test_copy_and_move_into_the_mailbox_itself),
        cmocka_unit_test(test_expunge_removes_only_deleted_messages_in_set),
        cmocka_unit_test(test_changes_report_new_changed_and_expunged),
        cmocka_unit_test(
            test_expunged_message_stays_a_ghost_while_its_body_stays),
        cmocka_unit_test(test_ghost_goes_with_its_body),
        cmocka_unit_test(test_changes_over_many_messages_report_each_once),
        cmocka_unit_test(
            test_changes_from_before_the_horizon_name_every_missing_uid),
        cmocka_unit_test(
            test_changes_deliver_a_message_flagged_while_they_read),
        cmocka_unit_test(test_uids_never_reused_after_expunging_everything),
        cmocka_unit_test(test_modseq_increases_with_every_change),
        cmocka_unit_test(test_recent_goes_to_exactly_one_session),
        cmocka_unit_test(test_examine_shows_recent_without_claiming),
        cmocka_unit_test(test_search_nested_not_and_or),
        cmocka_unit_test(test_search_with_no_match_is_an_empty_answer),
        cmocka_unit_test(test_search_keyword_is_case_insensitive),
        cmocka_unit_test(test_search_uid_ranges_with_star_resolved),
        cmocka_unit_test(test_search_recent_only_for_the_handle_that_claimed),
        cmocka_unit_test(test_search_dates_are_days_of_the_internal_zone),
        cmocka_unit_test(test_search_sizes_and_modseq),
        cmocka_unit_test(
            test_search_of_other_headers_text_or_sequence_numbers_is_unsupported),
        cmocka_unit_test(test_search_answers_as_evaluation_over_fetch),
        cmocka_unit_test(test_sort_answers_as_keys_made_from_the_structure),
        cmocka_unit_test(test_search_text_covers_part_headers),
        cmocka_unit_test(test_search_header_keys_answer_as_evaluation),
        cmocka_unit_test(test_search_address_keys_see_past_comments),
        cmocka_unit_test(test_search_text_keys_answer_as_evaluation),
        cmocka_unit_test(test_search_right_after_append_finds_the_message),
        cmocka_unit_test(test_search_finds_texts_the_indexer_has_not_taken),
        cmocka_unit_test(
            test_two_threads_appending_get_distinct_increasing_uids),
        cmocka_unit_test(test_changes_deliver_new_messages_with_recent_decided),
        cmocka_unit_test(test_watch_wakes_after_append_from_another_thread),
        cmocka_unit_test(test_watch_wakes_after_append_from_another_process),
        cmocka_unit_test(test_deliver_needs_an_existing_account),
        cmocka_unit_test(test_mailboxid_stays_through_rename_not_delete),
        cmocka_unit_test(test_emailid_and_threadid_follow_copy_and_move),
        cmocka_unit_test(test_threads_are_per_account),
        cmocka_unit_test(test_quota_usage_follows_every_change),
        cmocka_unit_test(test_quota_limits_refuse_what_would_go_over),
        cmocka_unit_test(test_quota_default_comes_from_the_storage_block),
        cmocka_unit_test(test_quota_racing_appends_never_exceed_the_limit),
    };
    int failed = cmocka_run_group_tests_name(instance_name, tests, NULL, NULL);
    /* A failed test may have left handles open: do not tear down under
     * them. */
    if (failed == 0)
        ph_graph_unref(&graph);
    return failed;
}
