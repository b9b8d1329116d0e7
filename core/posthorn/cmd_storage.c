/* SPDX-License-Identifier: MIT */
/* `posthorn accounts|mailboxes|messages`: storage administration through
 * the config's storage instance, the same module code the server runs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <posthorn/imap-util.h>
#include <posthorn/storage.h>

#include "cli.h"
#include "module/graph.h"

struct storage_cli {
    struct ph_graph *graph;
    struct ph_instance *storage;
};

static int fail(const char *what, int err, const char *text)
{
    fprintf(stderr, "posthorn: %s: %s (%s)\n", what, text,
            ph_storage_err_code(err));
    return 1;
}

/* Parses --config and --cfg-block, loads the config lazily and finds the
 * storage instance. Leaves the remaining arguments in argv. */
static int open_storage(int *argc, char **argv, struct storage_cli *cli)
{
    const char *path = cli_config_path(argc, argv);
    const char *block = "local_mailboxes";
    for (int i = 1; i < *argc; i++) {
        int take = 0;
        if (strcmp(argv[i], "--cfg-block") == 0 && i + 1 < *argc) {
            block = argv[i + 1];
            take = 2;
        } else if (strncmp(argv[i], "--cfg-block=", 12) == 0) {
            block = argv[i] + 12;
            take = 1;
        }
        if (take) {
            memmove(&argv[i], &argv[i + take],
                    (size_t)(*argc - i - take + 1) * sizeof(char *));
            *argc -= take;
            i--;
        }
    }
    char *err = NULL;
    if (ph_graph_load_file(path, PH_GRAPH_LAZY | PH_GRAPH_NO_ENDPOINTS,
                           &cli->graph, &err) < 0) {
        fprintf(stderr, "posthorn: %s\n", err);
        free(err);
        return -1;
    }
    cli->storage = ph_graph_instance(cli->graph, block, &err);
    if (cli->storage == NULL) {
        fprintf(stderr, "posthorn: %s\n", err);
        free(err);
        ph_graph_unref(&cli->graph);
        return -1;
    }
    if (ph_instance_kind(cli->storage) != PH_MODULE_STORAGE) {
        fprintf(stderr, "posthorn: configuration block %s is a %s, not a "
                "storage (use --cfg-block NAME)\n", block,
                ph_module_kind_name(ph_instance_kind(cli->storage)));
        ph_graph_unref(&cli->graph);
        return -1;
    }
    return 0;
}

static void close_storage(struct storage_cli *cli)
{
    ph_graph_unref(&cli->graph);
}

static int usage_error(const char *usage)
{
    fputs(usage, stderr);
    return 2;
}

static const char accounts_usage[] =
    "usage: posthorn accounts list [--config FILE] [--cfg-block NAME]\n"
    "       posthorn accounts create USER\n"
    "       posthorn accounts remove USER\n"
    "       posthorn accounts quota USER [--storage SIZE] [--messages N]\n"
    "                                    [--mailboxes N]\n"
    "\n"
    "Lists, creates (with INBOX and the special-use mailboxes) or removes\n"
    "(with all its mail) storage accounts of the storage instance NAME\n"
    "(default local_mailboxes). quota shows an account's usage and limits,\n"
    "after setting those given: SIZE as 2G, 500M, 4096 (0 allows\n"
    "nothing); each limit also none (no limit) or default (the storage\n"
    "block's quota_storage, quota_messages, quota_mailboxes).\n";

/* --storage/--messages/--mailboxes VALUE: 0, or -1 with a message. */
static int quota_limit_parse(int r, const char *arg, uint64_t *limit_r)
{
    const char *err = "expected a number";
    if (strcmp(arg, "none") == 0) {
        *limit_r = PH_QUOTA_UNLIMITED;
        return 0;
    }
    if (strcmp(arg, "default") == 0) {
        *limit_r = PH_QUOTA_DEFAULT;
        return 0;
    }
    if (r == PH_QUOTA_STORAGE) {
        if (ph_parse_size(arg, limit_r, &err) == 0 &&
            *limit_r <= (uint64_t)INT64_MAX)
            return 0;
    } else {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(arg, &end, 10);
        if (arg[0] >= '0' && arg[0] <= '9' && *end == '\0' && errno == 0 &&
            v <= (unsigned long long)INT64_MAX) {
            *limit_r = v;
            return 0;
        }
    }
    fprintf(stderr, "posthorn: accounts quota: %s: %s (or none, default)\n",
            arg, err);
    return -1;
}

static void quota_print(const struct ph_quota *q)
{
    static const char *const names[PH_QUOTA_N] = {"storage", "messages",
                                                  "mailboxes"};
    for (int r = 0; r < PH_QUOTA_N; r++) {
        printf("%s %llu", names[r], (unsigned long long)q->usage[r]);
        if (q->limit[r] == PH_QUOTA_UNLIMITED)
            printf(" (no limit, ");
        else
            printf(" of %llu (", (unsigned long long)q->limit[r]);
        printf("%s)\n", q->own[r] ? "the account's" : "the default");
    }
}

/* accounts quota USER [--storage SIZE] [--messages N] [--mailboxes N] */
static int accounts_quota(struct storage_cli *cli, int argc, char **argv,
                          const char **err)
{
    static const char *const options[PH_QUOTA_N] = {"--storage", "--messages",
                                                    "--mailboxes"};
    uint64_t limit[PH_QUOTA_N] = {PH_QUOTA_KEEP, PH_QUOTA_KEEP, PH_QUOTA_KEEP};
    bool set = false;
    for (int i = 3; i < argc; i += 2) {
        int r = 0;
        while (r < PH_QUOTA_N && strcmp(argv[i], options[r]) != 0)
            r++;
        if (r == PH_QUOTA_N || i + 1 >= argc)
            return usage_error(accounts_usage);
        if (quota_limit_parse(r, argv[i + 1], &limit[r]) < 0)
            return 2;
        set = true;
    }
    struct ph_account *acct = NULL;
    struct ph_quota q;
    int ret = set ? ph_storage_quota_set(cli->storage, argv[2], limit, err) : 0;
    if (ret == 0)
        ret = ph_storage_account_get(cli->storage, argv[2], false, &acct, err);
    if (ret == 0)
        ret = ph_account_quota(acct, &q, err);
    if (ret == 0)
        quota_print(&q);
    ph_account_release(&acct);
    return ret < 0 ? fail("quota", ret, *err) : 0;
}

int cmd_accounts(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(accounts_usage, stdout);
        return 0;
    }
    struct storage_cli cli;
    if (argc < 2)
        return usage_error(accounts_usage);
    if (open_storage(&argc, argv, &cli) < 0)
        return 1;
    const char *err;
    int r = 0, rc = 0;
    const char *sub = argv[1];
    if (strcmp(sub, "list") == 0 && argc == 2) {
        struct ph_strlist names = {0};
        r = ph_storage_account_list(cli.storage, &names, &err);
        for (size_t i = 0; r == 0 && i < names.n; i++)
            printf("%s\n", names.v[i]);
        ph_strlist_clear(&names);
    } else if (strcmp(sub, "create") == 0 && argc == 3) {
        r = ph_storage_account_create(cli.storage, argv[2], &err);
    } else if (strcmp(sub, "remove") == 0 && argc == 3) {
        r = ph_storage_account_delete(cli.storage, argv[2], &err);
    } else if (strcmp(sub, "quota") == 0 && argc >= 3) {
        rc = accounts_quota(&cli, argc, argv, &err);
    } else {
        rc = usage_error(accounts_usage);
    }
    if (r < 0)
        rc = fail(sub, r, err);
    close_storage(&cli);
    return rc;
}

static const char mailboxes_usage[] =
    "usage: posthorn mailboxes list USER\n"
    "       posthorn mailboxes create USER NAME [--special "
    "sent|drafts|trash|junk|archive]\n"
    "       posthorn mailboxes remove USER NAME\n"
    "       posthorn mailboxes rename USER OLD NEW\n"
    "\n"
    "Options --config FILE and --cfg-block NAME (default local_mailboxes)\n"
    "pick the configuration and its storage instance.\n";

static void print_attrs(uint32_t attrs)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {PH_MBOX_NOSELECT, "\\Noselect"},
        {PH_MBOX_NOINFERIORS, "\\Noinferiors"},
        {PH_MBOX_HASCHILDREN, "\\HasChildren"},
        {PH_MBOX_HASNOCHILDREN, "\\HasNoChildren"},
        {PH_MBOX_SUBSCRIBED, "\\Subscribed"},
        {PH_MBOX_NONEXISTENT, "\\NonExistent"},
    };
    bool first = true;
    for (size_t i = 0; i < PH_N_ELEMENTS(names); i++) {
        if (attrs & names[i].bit) {
            printf("%s%s", first ? "" : " ", names[i].name);
            first = false;
        }
    }
    for (uint32_t bit = PH_MBOX_SENT; bit <= PH_MBOX_FLAGGED; bit <<= 1) {
        if (attrs & bit) {
            printf("%s%s", first ? "" : " ", ph_mailbox_special_use_name(bit));
            first = false;
        }
    }
}

int cmd_mailboxes(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(mailboxes_usage, stdout);
        return 0;
    }
    struct storage_cli cli;
    if (argc < 3)
        return usage_error(mailboxes_usage);
    if (open_storage(&argc, argv, &cli) < 0)
        return 1;
    const char *sub = argv[1];
    uint32_t special = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--special") == 0 && i + 1 < argc) {
            char *name = ph_strdup_printf("\\%s", argv[i + 1]);
            special = ph_mailbox_special_use_parse(name);
            free(name);
            if (special == 0 || (special & (PH_MBOX_ALL | PH_MBOX_FLAGGED))) {
                fprintf(stderr, "posthorn: --special takes sent, drafts, "
                        "trash, junk or archive\n");
                close_storage(&cli);
                return 2;
            }
            memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(char *));
            argc -= 2;
            i--;
        }
    }
    const char *err;
    struct ph_account *acct = NULL;
    int r = ph_storage_account_get(cli.storage, argv[2], false, &acct, &err);
    int rc = 0;
    if (r < 0) {
        rc = fail(argv[2], r, err);
    } else if (strcmp(sub, "list") == 0 && argc == 3) {
        struct ph_mailbox_list list = {0};
        r = ph_mailbox_list(acct, &list, &err);
        for (size_t i = 0; r == 0 && i < list.n; i++) {
            printf("%s\t", list.v[i].name);
            print_attrs(list.v[i].attrs);
            printf("\n");
        }
        ph_mailbox_list_clear(&list);
    } else if (strcmp(sub, "create") == 0 && argc == 4) {
        r = ph_mailbox_create(acct, argv[3], special, &err);
    } else if (strcmp(sub, "remove") == 0 && argc == 4) {
        r = ph_mailbox_delete(acct, argv[3], &err);
    } else if (strcmp(sub, "rename") == 0 && argc == 5) {
        r = ph_mailbox_rename(acct, argv[3], argv[4], &err);
    } else {
        rc = usage_error(mailboxes_usage);
    }
    if (r < 0 && rc == 0)
        rc = fail(sub, r, err);
    ph_account_release(&acct);
    close_storage(&cli);
    return rc;
}

static const char messages_usage[] =
    "usage: posthorn messages add USER MAILBOX [--flag F]... [--date ISO8601] "
    "< MESSAGE\n"
    "       posthorn messages list USER MAILBOX [SEQSET]\n"
    "       posthorn messages dump USER MAILBOX UID\n"
    "       posthorn messages flags USER MAILBOX UIDSET +F|-F|=F...\n"
    "       posthorn messages remove USER MAILBOX UIDSET\n"
    "\n"
    "`add` prints the new UID. `flags` adds (+), removes (-) or replaces (=)\n"
    "flags such as \\\\Seen or keywords. Options --config FILE and\n"
    "--cfg-block NAME (default local_mailboxes) pick the storage.\n";

/* ISO 8601: 2026-11-26T09:30:00Z, 2026-11-26T09:30:00+01:00, 2026-11-26. */
static int parse_iso8601(const char *s, time_t *t_r, int *tz_r)
{
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
        return -1;
    const char *p = s + n;
    int tz = 0;
    if (*p == 'T' || *p == ' ') {
        int m = 0;
        if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &m) != 3)
            return -1;
        p += 1 + m;
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int th, tm_ = 0, k = 0;
            if (sscanf(p + 1, "%2d:%2d%n", &th, &tm_, &k) != 2 &&
                sscanf(p + 1, "%2d%2d%n", &th, &tm_, &k) != 2)
                return -1;
            tz = (th * 60 + tm_) * (*p == '-' ? -1 : 1);
            p += 1 + k;
        }
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *t_r = timegm(&tm) - (time_t)tz * 60;
    *tz_r = tz;
    return 0;
}

static int messages_add(struct ph_account *acct, const char *mailbox,
                        int argc, char **argv)
{
    struct ph_flags flags = {0};
    time_t date = time(NULL);
    int tz = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--flag") == 0 && i + 1 < argc) {
            if (ph_flags_add_name(&flags, argv[++i]) < 0) {
                fprintf(stderr, "posthorn: invalid flag \"%s\"\n", argv[i]);
                ph_flags_clear(&flags);
                return 2;
            }
        } else if (strcmp(argv[i], "--date") == 0 && i + 1 < argc) {
            if (parse_iso8601(argv[++i], &date, &tz) < 0) {
                fprintf(stderr, "posthorn: invalid date \"%s\": expected ISO "
                        "8601, e.g. 2026-11-26T09:30:00+01:00\n", argv[i]);
                ph_flags_clear(&flags);
                return 2;
            }
        } else {
            ph_flags_clear(&flags);
            return usage_error(messages_usage);
        }
    }
    const char *err;
    struct ph_append *app;
    int r = ph_append_begin(acct, mailbox, 0, &app, &err);
    char *buf = ph_malloc(1 << 16);
    while (r == 0) {
        ssize_t n = read(STDIN_FILENO, buf, 1 << 16);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = strerror(errno);
            r = PH_STORAGE_ERR_TEMP;
            break;
        }
        if (n == 0)
            break;
        r = ph_append_write(app, buf, (size_t)n, &err);
    }
    free(buf);
    uint32_t uid = 0, uidvalidity;
    if (r == 0)
        r = ph_append_finish(&app, &flags, date, tz, &uid, &uidvalidity, &err);
    else if (app != NULL)
        ph_append_abort(&app);
    ph_flags_clear(&flags);
    if (r < 0)
        return fail("add", r, err);
    printf("%u\n", uid);
    return 0;
}

struct list_ctx {
    uint32_t seq;
    const struct ph_imap_seqset *want;
};

static void print_flags(uint32_t flags, char *const *kw, size_t nkw)
{
    static const char *const names[] = {"\\Seen", "\\Answered", "\\Flagged",
                                        "\\Deleted", "\\Draft"};
    bool first = true;
    for (size_t i = 0; i < PH_N_ELEMENTS(names); i++) {
        if (flags & (1u << i)) {
            printf("%s%s", first ? "" : " ", names[i]);
            first = false;
        }
    }
    for (size_t i = 0; i < nkw; i++) {
        printf("%s%s", first ? "" : " ", kw[i]);
        first = false;
    }
}

static int list_one(void *arg, const struct ph_message_meta *m)
{
    struct list_ctx *lc = arg;
    lc->seq++;
    if (lc->want && !ph_imap_seqset_contains(lc->want, lc->seq))
        return 0;
    char date[64];
    struct tm tm;
    time_t local = m->internal_date + (time_t)m->internal_tz * 60;
    gmtime_r(&local, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    printf("%u\t%u\t%s%+03d:%02d\t%llu\t(", lc->seq, m->uid, date,
           m->internal_tz / 60, abs(m->internal_tz % 60),
           (unsigned long long)m->size);
    print_flags(m->flags, m->keywords, m->nkeywords);
    printf(")\n");
    return 0;
}

static int dump_chunk(void *arg, const void *data, size_t len)
{
    (void)arg;
    return fwrite(data, 1, len, stdout) == len ? 0 : -1;
}

/* Parses UIDs as IMAP writes them ("1:3,7,9:*"); `*` is the highest UID. */
static int parse_uids(struct ph_account *acct, const char *mailbox,
                      const char *text, struct ph_uidset *set_r)
{
    struct ph_mailbox_status st;
    const char *err;
    uint32_t max = 0;
    if (ph_mailbox_status(acct, mailbox, &st, &err) == 0)
        max = st.uidnext > 0 ? st.uidnext - 1 : 0;
    struct ph_imap_seqset seq;
    if (ph_imap_seqset_parse(text, strlen(text), max, 0, &seq, &err) < 0) {
        fprintf(stderr, "posthorn: invalid UID set \"%s\": %s\n", text, err);
        ph_imap_seqset_clear(&seq);
        return -1;
    }
    for (size_t i = 0; i < seq.n; i++)
        ph_uidset_add_range(set_r, seq.ranges[i].lo, seq.ranges[i].hi);
    ph_imap_seqset_clear(&seq);
    return 0;
}

int cmd_messages(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(messages_usage, stdout);
        return 0;
    }
    struct storage_cli cli;
    if (argc < 4)
        return usage_error(messages_usage);
    if (open_storage(&argc, argv, &cli) < 0)
        return 1;
    const char *sub = argv[1], *user = argv[2], *mailbox = argv[3];
    const char *err;
    struct ph_account *acct = NULL;
    struct ph_mailbox *mb = NULL;
    int rc = 0;
    int r = ph_storage_account_get(cli.storage, user, false, &acct, &err);
    if (r < 0) {
        rc = fail(user, r, err);
        goto out;
    }
    if (strcmp(sub, "add") == 0) {
        rc = messages_add(acct, mailbox, argc - 4, argv + 4);
        goto out;
    }
    /* The CLI never takes \Recent from the sessions that should see it. */
    bool readonly = strcmp(sub, "list") == 0 || strcmp(sub, "dump") == 0;
    r = ph_mailbox_open(acct, mailbox, readonly, &mb, &err);
    if (r < 0) {
        rc = fail(mailbox, r, err);
        goto out;
    }
    struct ph_uidset set = {0};
    if (strcmp(sub, "list") == 0 && (argc == 4 || argc == 5)) {
        struct ph_imap_seqset want = {0};
        struct list_ctx lc = {0};
        if (argc == 5) {
            struct ph_mailbox_status st;
            r = ph_mailbox_status(acct, mailbox, &st, &err);
            if (r == 0 && ph_imap_seqset_parse(argv[4], strlen(argv[4]),
                                               st.messages, 0, &want, &err) < 0) {
                ph_imap_seqset_clear(&want);
                fprintf(stderr, "posthorn: invalid sequence set \"%s\": %s\n",
                        argv[4], err);
                rc = 2;
                goto out;
            }
            ph_imap_seqset_sort(&want);
            lc.want = &want;
        }
        if (r == 0)
            r = ph_mailbox_fetch(mb, NULL, 0, list_one, &lc, &err);
        ph_imap_seqset_clear(&want);
    } else if (strcmp(sub, "dump") == 0 && argc == 5) {
        char *end;
        unsigned long uid = strtoul(argv[4], &end, 10);
        if (*argv[4] == '\0' || *end != '\0' || uid == 0 || uid > UINT32_MAX) {
            fprintf(stderr, "posthorn: invalid UID \"%s\"\n", argv[4]);
            rc = 2;
            goto out;
        }
        r = ph_mailbox_read(mb, (uint32_t)uid, 0, UINT64_MAX, dump_chunk, NULL,
                            &err);
        if (fflush(stdout) != 0 && r == 0) {
            err = strerror(errno);
            r = PH_STORAGE_ERR_TEMP;
        }
    } else if (strcmp(sub, "flags") == 0 && argc >= 6) {
        if (parse_uids(acct, mailbox, argv[4], &set) < 0) {
            rc = 2;
            goto out;
        }
        for (int i = 5; i < argc && r == 0; i++) {
            char op = argv[i][0];
            struct ph_flags f = {0};
            if ((op != '+' && op != '-' && op != '=') ||
                ph_flags_add_name(&f, argv[i] + 1) < 0) {
                fprintf(stderr, "posthorn: expected +FLAG, -FLAG or =FLAG, "
                        "got \"%s\"\n", argv[i]);
                ph_flags_clear(&f);
                ph_uidset_clear(&set);
                rc = 2;
                goto out;
            }
            r = ph_mailbox_store(mb, &set,
                                 op == '+'   ? PH_STORE_ADD
                                 : op == '-' ? PH_STORE_REMOVE
                                             : PH_STORE_REPLACE,
                                 &f, 0, NULL, NULL, NULL, &err);
            ph_flags_clear(&f);
        }
    } else if (strcmp(sub, "remove") == 0 && argc == 5) {
        if (parse_uids(acct, mailbox, argv[4], &set) < 0) {
            rc = 2;
            goto out;
        }
        /* Removal is \Deleted then expunge of exactly those UIDs. */
        struct ph_flags del = {.system = PH_FLAG_DELETED};
        struct ph_uidset gone = {0};
        r = ph_mailbox_store(mb, &set, PH_STORE_ADD, &del, 0, NULL, NULL, NULL,
                             &err);
        if (r == 0)
            r = ph_mailbox_expunge(mb, &set, &gone, &err);
        if (r == 0) {
            char *s = ph_uidset_format(&gone);
            printf("expunged %s\n", *s ? s : "nothing");
            free(s);
        }
        ph_uidset_clear(&gone);
    } else {
        rc = usage_error(messages_usage);
    }
    ph_uidset_clear(&set);
    if (r < 0 && rc == 0)
        rc = fail(sub, r, err);
out:
    ph_mailbox_close(&mb);
    ph_account_release(&acct);
    close_storage(&cli);
    return rc;
}
