/* SPDX-License-Identifier: MIT */
/* table.csv: a read-only table over a CSV file (RFC 4180).
 *
 *   table.csv aliases {
 *       file /etc/posthorn/aliases.csv
 *       header yes
 *       key_column address
 *       value_column mailbox
 *   }
 *   storage_map csv /etc/posthorn/users.csv     (inline: columns 1 -> 2)
 *
 * Fields are separated by the delimiter (default ","), records by CRLF or
 * LF. A field in double quotes may hold the delimiter, line breaks and
 * doubled quotes (""); a quote inside an unquoted field, text after a
 * closing quote, an unterminated quote, a bare CR or a NUL byte make the
 * file malformed. A UTF-8 byte order mark is skipped, blank lines are
 * skipped, and nothing is trimmed: blanks are part of a field.
 *
 * Columns are numbered from 1, or named by the header record when `header
 * yes`. With a header, every record has as many fields as the header;
 * without, a record needs at least the highest column used. Every value
 * column gives one value (possibly empty). A key on several records is
 * found with the values of all of them, in file order. Keys match byte for
 * byte.
 *
 * A relative PATH is taken from state_dir. A missing, unreadable or
 * malformed file at create is a config error.
 *
 * Reloading: a lookup stats the file when check_interval (default 1s) has
 * passed since the last check, and reads it again when its inode, size,
 * mtime or ctime changed (editors that replace the file are followed).
 * SIGHUP with an unchanged config checks at once. A version that fails to
 * load leaves the old contents in place and is logged once, so a lookup
 * never answers a temporary failure.
 *
 * Threads: each version of the file is an immutable, reference-counted
 * snapshot. A lookup takes a reference under a short mutex and searches
 * without any lock; one thread at a time (try-lock) checks the file, the
 * others answer from the snapshot they have. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <posthorn/log.h>
#include <posthorn/table-impl.h>

#define CSV_MAX_SIZE (64 << 20) /* bytes; keep file_read's message in step */
#define CSV_MAX_COLUMN 10000

struct csv_conf {
    char *file;
    char *key_column;
    struct ph_strlist value_column;
    bool header;
    char delimiter;         /* set by delimiter_parse */
    int64_t check_interval; /* ms */
};

/* A column as configured: a number (index, from 0) or a header name. */
struct csv_column {
    size_t index;
    const char *name; /* NULL: by number; else points into the conf */
};

struct csv_entry {
    char *key;
    struct ph_strlist values;
    size_t row; /* order in the file, to keep values of one key in order */
};

/* One loaded version of the file; never changed once built. */
struct csv_data {
    atomic_size_t refs;
    struct csv_entry *entries; /* sorted by key, one per key */
    size_t n;
    size_t rows;
};

/* What identifies a version of the file on disk. */
struct csv_stamp {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct csv_ctx {
    const struct csv_conf *conf; /* valid until destroy */
    char *path;
    char *log_name; /* "name=N file=P", escaped, for log lines */
    struct csv_column key;
    struct csv_column *values;
    size_t nvalues;
    atomic_int_fast64_t next_check_ms;

    pthread_mutex_t data_lock; /* guards the data pointer only */
    struct csv_data *data;

    pthread_mutex_t check_lock; /* serializes checks; guards what follows */
    struct csv_stamp loaded;    /* the version data came from */
    struct csv_stamp failed;    /* the version that last failed to load */
    char *failed_reason;        /* NULL: failed is not valid */
};

/* ---- directives -------------------------------------------------------- */

/* `delimiter ","`, `delimiter ";"`, `delimiter tab`: one byte. */
static int delimiter_parse(const struct ph_cfg_node *node, void *field,
                           struct ph_conf_ctx *cctx, char **error_r)
{
    (void)cctx;
    const char *s = node->args[0];
    if (node->nargs != 1 || node->has_block) {
        *error_r = ph_strdup("expected one character or \"tab\"");
        return -1;
    }
    char c = strcmp(s, "tab") == 0 ? '\t' : s[0];
    if (strcmp(s, "tab") != 0 && (s[0] == '\0' || s[1] != '\0')) {
        *error_r = ph_strdup_printf("\"%s\" is not one character (write "
                                    "\"tab\" for a tab)",
                                    s);
        return -1;
    }
    if (c == '"' || c == '\r' || c == '\n') {
        *error_r = ph_strdup("the delimiter cannot be a quote or a line "
                             "break");
        return -1;
    }
    *(char *)field = c;
    return 0;
}

static const struct ph_directive csv_directives[] = {
    {
        .name = "file",
        .type = PH_DT_STRING,
        .flags = PH_DF_REQUIRED,
        .offset = offsetof(struct csv_conf, file),
        .help = "the CSV file to read; relative to state_dir",
    },
    {
        .name = "key_column",
        .type = PH_DT_STRING,
        .offset = offsetof(struct csv_conf, key_column),
        .def = "1",
        .help = "the column holding the keys: a number from 1 or a header name",
    },
    {
        .name = "value_column",
        .type = PH_DT_LIST,
        .offset = offsetof(struct csv_conf, value_column),
        .def = "2",
        .help = "the columns whose fields are the values, in order",
    },
    {
        .name = "header",
        .type = PH_DT_BOOL,
        .offset = offsetof(struct csv_conf, header),
        .def = "no",
        .help = "the first record names the columns and is not an entry",
    },
    {
        .name = "delimiter",
        .type = PH_DT_CUSTOM,
        .offset = offsetof(struct csv_conf, delimiter),
        .def = ",",
        .min_args = 1,
        .max_args = 1,
        .parse = delimiter_parse,
        .help = "the field separator: one character, or tab",
    },
    {
        .name = "check_interval",
        .type = PH_DT_DURATION,
        .offset = offsetof(struct csv_conf, check_interval),
        .def = "1s",
        .help = "how often a lookup may look for a changed file",
    },
    {.name = NULL},
};

/* A column spec: digits are a number from 1, anything else a header name. */
static int column_parse(const char *spec, bool header, const char *directive,
                        struct csv_column *col, char **error_r)
{
    size_t n = strspn(spec, "0123456789");
    if (spec[0] != '\0' && spec[n] == '\0') {
        long v = n <= 5 ? strtol(spec, NULL, 10) : 0;
        if (v < 1 || v > CSV_MAX_COLUMN) {
            *error_r = ph_strdup_printf("%s %s: columns are numbered from 1 "
                                        "to %d",
                                        directive, spec, CSV_MAX_COLUMN);
            return -1;
        }
        *col = (struct csv_column){.index = (size_t)v - 1};
        return 0;
    }
    if (!header) {
        *error_r = ph_strdup_printf("%s \"%s\" names a column: set header "
                                    "yes, or give its number",
                                    directive, spec);
        return -1;
    }
    *col = (struct csv_column){.name = spec};
    return 0;
}

/* ---- the data ---------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
    const struct csv_entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x->row < y->row ? -1 : x->row > y->row;
}

static void data_free(struct csv_data *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->entries[i].key);
        ph_strlist_clear(&d->entries[i].values);
    }
    free(d->entries);
    free(d);
}

static void data_unref(struct csv_data *d)
{
    if (atomic_fetch_sub(&d->refs, 1) == 1)
        data_free(d);
}

static struct csv_data *data_get(struct csv_ctx *ctx)
{
    pthread_mutex_lock(&ctx->data_lock);
    struct csv_data *d = ctx->data;
    atomic_fetch_add(&d->refs, 1);
    pthread_mutex_unlock(&ctx->data_lock);
    return d;
}

static void data_replace(struct csv_ctx *ctx, struct csv_data *d)
{
    pthread_mutex_lock(&ctx->data_lock);
    struct csv_data *old = ctx->data;
    ctx->data = d;
    pthread_mutex_unlock(&ctx->data_lock);
    if (old != NULL)
        data_unref(old);
}

static const struct csv_entry *data_find(const struct csv_data *d,
                                         const char *key)
{
    for (size_t lo = 0, hi = d->n; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, d->entries[mid].key);
        if (c == 0)
            return &d->entries[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Sorts the rows by key and merges the values of equal keys, in order. */
static void data_merge(struct csv_data *d)
{
    if (d->n == 0)
        return;
    qsort(d->entries, d->n, sizeof(*d->entries), entry_cmp);
    size_t out = 0;
    for (size_t i = 1; i < d->n; i++) {
        struct csv_entry *keep = &d->entries[out], *e = &d->entries[i];
        if (strcmp(keep->key, e->key) != 0) {
            d->entries[++out] = *e;
            continue;
        }
        for (size_t v = 0; v < e->values.n; v++)
            ph_strlist_add_owned(&keep->values, e->values.v[v]);
        free(e->values.v);
        free(e->key);
    }
    d->n = out + 1;
}

/* ---- parsing (RFC 4180) ------------------------------------------------ */

struct csv_reader {
    const char *p, *end;
    char delim;
    int line; /* of p */
};

/* Reads one record into fields (cleared first). Returns 1 for a record,
 * 0 at the end of the text, -1 with *reason_r (malloc'ed) when malformed;
 * *line_r is the line the record (or the fault) is on. */
static int record_read(struct csv_reader *r, struct ph_strlist *fields,
                       int *line_r, char **reason_r)
{
    ph_strlist_clear(fields);
    *line_r = r->line;
    if (r->p >= r->end)
        return 0;
    struct ph_buf f = {0};
    for (;;) {
        ph_buf_reset(&f);
        if (r->p < r->end && *r->p == '"') {
            int opened = r->line;
            for (r->p++;; r->p++) {
                if (r->p >= r->end) {
                    *line_r = opened;
                    *reason_r = ph_strdup("unterminated quoted field");
                    goto fail;
                }
                if (*r->p == '"') {
                    if (r->p + 1 < r->end && r->p[1] == '"')
                        r->p++;
                    else
                        break;
                } else if (*r->p == '\n') {
                    r->line++;
                }
                ph_buf_putc(&f, *r->p);
            }
            r->p++; /* the closing quote */
            if (r->p < r->end && *r->p != r->delim && *r->p != '\n' &&
                !(*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n')) {
                *line_r = r->line;
                *reason_r = ph_strdup("text after a closing quote (a quote "
                                      "in a quoted field is written \"\")");
                goto fail;
            }
        } else {
            for (; r->p < r->end && *r->p != r->delim && *r->p != '\n';
                 r->p++) {
                if (*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n')
                    break;
                if (*r->p == '"' || *r->p == '\r') {
                    *line_r = r->line;
                    *reason_r = ph_strdup(
                        *r->p == '"' ? "a quote inside an unquoted field "
                                       "(quote the field and double the quote)"
                                     : "a bare CR (line ends are CRLF or LF)");
                    goto fail;
                }
                ph_buf_putc(&f, *r->p);
            }
        }
        ph_strlist_add_owned(fields, ph_buf_steal(&f));
        if (r->p >= r->end)
            break;
        if (*r->p == r->delim) {
            r->p++;
            continue;
        }
        r->p += *r->p == '\r' ? 2 : 1; /* CRLF or LF */
        r->line++;
        break;
    }
    ph_buf_free(&f);
    return 1;
fail:
    ph_buf_free(&f);
    ph_strlist_clear(fields);
    return -1;
}

/* Finds a named column in the header. */
static int column_resolve(const struct csv_column *col,
                          const struct ph_strlist *header, size_t *index_r,
                          char **reason_r)
{
    if (col->name == NULL) {
        *index_r = col->index;
        return 0;
    }
    size_t found = SIZE_MAX;
    for (size_t i = 0; i < header->n; i++) {
        if (strcmp(header->v[i], col->name) != 0)
            continue;
        if (found != SIZE_MAX) {
            *reason_r = ph_strdup_printf("the header names column \"%s\" "
                                         "twice (columns %zu and %zu)",
                                         col->name, found + 1, i + 1);
            return -1;
        }
        found = i;
    }
    if (found == SIZE_MAX) {
        *reason_r =
            ph_strdup_printf("the header has no column \"%s\"", col->name);
        return -1;
    }
    *index_r = found;
    return 0;
}

static bool record_is_blank(const struct ph_strlist *fields)
{
    return fields->n == 1 && fields->v[0][0] == '\0';
}

/* Parses a whole file. Returns the data, or NULL with *line_r (0: not about
 * one line) and *reason_r (malloc'ed). */
static struct csv_data *text_parse(const struct csv_ctx *ctx, const char *text,
                                   size_t len, int *line_r, char **reason_r)
{
    struct csv_data *d = ph_calloc(1, sizeof(*d));
    atomic_init(&d->refs, 1);
    struct ph_strlist fields = {0};
    size_t *cols = ph_calloc(ctx->nvalues + 1, sizeof(*cols));
    size_t need = 0, width = 0, cap = 0;
    bool resolved = !ctx->conf->header;

    *line_r = 0;
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        *line_r = 1;
        for (const char *p = text; p < nul; p++)
            *line_r += *p == '\n';
        *reason_r = ph_strdup("NUL byte");
        goto fail;
    }
    struct csv_reader r = {text, text + len, ctx->conf->delimiter, 1};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.p += 3; /* a UTF-8 byte order mark, as spreadsheets write it */

    /* cols[0] is the key column, then the value columns; with a header
     * they are resolved when it is read. */
    if (resolved) {
        cols[0] = ctx->key.index;
        for (size_t i = 0; i < ctx->nvalues; i++)
            cols[i + 1] = ctx->values[i].index;
    }
    for (size_t i = 0; i <= ctx->nvalues; i++)
        if (cols[i] + 1 > need)
            need = cols[i] + 1;

    int line, rr;
    while ((rr = record_read(&r, &fields, &line, reason_r)) > 0) {
        if (record_is_blank(&fields))
            continue;
        if (!resolved) {
            if (column_resolve(&ctx->key, &fields, &cols[0], reason_r) < 0)
                goto fail_line;
            for (size_t i = 0; i < ctx->nvalues; i++)
                if (column_resolve(&ctx->values[i], &fields, &cols[i + 1],
                                   reason_r) < 0)
                    goto fail_line;
            for (size_t i = 0; i <= ctx->nvalues; i++)
                if (cols[i] + 1 > need)
                    need = cols[i] + 1;
            width = fields.n;
            resolved = true;
            continue;
        }
        if (width > 0 && fields.n != width) {
            *reason_r = ph_strdup_printf("%zu fields, the header has %zu",
                                         fields.n, width);
            goto fail_line;
        }
        if (fields.n < need) {
            *reason_r =
                ph_strdup_printf("%zu field%s, column %zu is used", fields.n,
                                 fields.n == 1 ? "" : "s", need);
            goto fail_line;
        }
        ph_array_grow(&d->entries, &cap, d->n + 1, sizeof(*d->entries));
        struct csv_entry *e = &d->entries[d->n++];
        *e = (struct csv_entry){.key = ph_strdup(fields.v[cols[0]]),
                                .row = d->rows++};
        for (size_t i = 0; i < ctx->nvalues; i++)
            ph_strlist_add(&e->values, fields.v[cols[i + 1]]);
    }
    if (rr < 0)
        goto fail_line;
    if (!resolved) {
        *reason_r = ph_strdup("no header record (the file is empty)");
        goto fail;
    }
    data_merge(d);
    ph_strlist_clear(&fields);
    free(cols);
    return d;
fail_line:
    *line_r = line;
fail:
    ph_strlist_clear(&fields);
    free(cols);
    data_free(d);
    return NULL;
}

/* ---- reading ----------------------------------------------------------- */

static void stamp_from_stat(struct csv_stamp *s, const struct stat *st)
{
    *s = (struct csv_stamp){
        .exists = true,
        .dev = st->st_dev,
        .ino = st->st_ino,
        .size = st->st_size,
        .mtime = st->st_mtim,
        .ctime = st->st_ctim,
    };
}

static bool stamp_equal(const struct csv_stamp *a, const struct csv_stamp *b)
{
    if (!a->exists || !b->exists)
        return a->exists == b->exists;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Reads path whole. Returns the text (NUL-terminated) or NULL with
 * *reason_r (malloc'ed); *stamp_r is the version read or found. */
static char *file_read(const char *path, size_t *len_r,
                       struct csv_stamp *stamp_r, char **reason_r)
{
    struct stat st;
    *stamp_r = (struct csv_stamp){.exists = false};
    /* O_NONBLOCK: a FIFO put in the file's place must not hang us. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        *reason_r = ph_strdup(strerror(errno));
        if (stat(path, &st) == 0) /* unreadable: remember this version */
            stamp_from_stat(stamp_r, &st);
        return NULL;
    }
    struct ph_buf b = {0};
    char *why = NULL;
    if (fstat(fd, &st) < 0) {
        why = ph_strdup(strerror(errno));
    } else {
        stamp_from_stat(stamp_r, &st);
        if (!S_ISREG(st.st_mode))
            why = ph_strdup("not a regular file");
    }
    while (why == NULL) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            why = ph_strdup(strerror(errno));
        else if (n == 0)
            break;
        else if (b.len + (size_t)n > CSV_MAX_SIZE)
            why = ph_strdup("larger than 64 MiB");
        else
            ph_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    if (why != NULL) {
        ph_buf_free(&b);
        *reason_r = why;
        return NULL;
    }
    *len_r = b.len;
    return ph_buf_steal(&b);
}

/* Reads and parses the file: the data, or NULL with *error_r (malloc'ed,
 * "PATH:LINE: reason"). */
static struct csv_data *file_load(const struct csv_ctx *ctx,
                                  struct csv_stamp *stamp_r, char **error_r)
{
    size_t len = 0;
    int line = 0;
    char *reason = NULL;
    struct csv_data *d = NULL;
    char *text = file_read(ctx->path, &len, stamp_r, &reason);
    if (text != NULL)
        d = text_parse(ctx, text, len, &line, &reason);
    free(text);
    if (d == NULL) {
        *error_r = line > 0
                       ? ph_strdup_printf("%s:%d: %s", ctx->path, line, reason)
                       : ph_strdup_printf("%s: %s", ctx->path, reason);
        free(reason);
    }
    return d;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Loads the file again when it changed. Called with check_lock held.
 * Returns 0 when the data is current, -1 when the version on disk cannot
 * be loaded (the old data stays; failed_reason says why). */
static int file_check(struct csv_ctx *ctx)
{
    struct stat st;
    struct csv_stamp now = {.exists = false};
    if (stat(ctx->path, &st) == 0)
        stamp_from_stat(&now, &st);
    if (stamp_equal(&now, &ctx->loaded))
        return 0;
    if (ctx->failed_reason != NULL && stamp_equal(&now, &ctx->failed))
        return -1; /* already logged */

    struct csv_stamp stamp;
    char *err = NULL;
    struct csv_data *d = file_load(ctx, &stamp, &err);
    if (d != NULL) {
        ph_log_info("mod=table.csv %s event=reloaded rows=%zu keys=%zu",
                    ctx->log_name, d->rows, d->n);
        data_replace(ctx, d);
        ctx->loaded = stamp;
        free(ctx->failed_reason);
        ctx->failed_reason = NULL;
        return 0;
    }
    char *why = ph_log_escape(err);
    ph_log_warn("mod=table.csv %s event=reload_failed reason=%s "
                "keeping=old_contents",
                ctx->log_name, why);
    free(why);
    free(ctx->failed_reason);
    ctx->failed_reason = err;
    ctx->failed = stamp;
    return -1;
}

/* ---- the module -------------------------------------------------------- */

static void csv_destroy(void *ctx_p)
{
    struct csv_ctx *ctx = ctx_p;
    if (ctx->data != NULL)
        data_unref(ctx->data);
    pthread_mutex_destroy(&ctx->data_lock);
    pthread_mutex_destroy(&ctx->check_lock);
    free(ctx->failed_reason);
    free(ctx->values);
    free(ctx->log_name);
    free(ctx->path);
    free(ctx);
}

static int csv_create(struct ph_instance *inst, void *conf_p, void **ctx_r,
                      char **error_r)
{
    const struct csv_conf *conf = conf_p;
    if (conf->file[0] == '\0') {
        *error_r = ph_strdup("the file name is empty");
        return -1;
    }
    struct csv_ctx *ctx = ph_calloc(1, sizeof(*ctx));
    ctx->conf = conf;
    ctx->path = conf->file[0] == '/' ? ph_strdup(conf->file)
                                     : ph_state_path(conf->file);
    char *name = ph_log_escape(ph_instance_name(inst));
    char *file = ph_log_escape(ctx->path);
    ctx->log_name = ph_strdup_printf("name=%s file=%s", name, file);
    free(name);
    free(file);
    pthread_mutex_init(&ctx->data_lock, NULL);
    pthread_mutex_init(&ctx->check_lock, NULL);

    ctx->nvalues = conf->value_column.n;
    ctx->values = ph_calloc(ctx->nvalues, sizeof(*ctx->values));
    if (column_parse(conf->key_column, conf->header, "key_column", &ctx->key,
                     error_r) < 0)
        goto fail;
    for (size_t i = 0; i < ctx->nvalues; i++)
        if (column_parse(conf->value_column.v[i], conf->header, "value_column",
                         &ctx->values[i], error_r) < 0)
            goto fail;

    ctx->data = file_load(ctx, &ctx->loaded, error_r);
    if (ctx->data == NULL)
        goto fail;
    atomic_init(&ctx->next_check_ms, now_ms() + conf->check_interval);
    *ctx_r = ctx;
    return 0;
fail:
    csv_destroy(ctx);
    return -1;
}

static int csv_reload(void *ctx_p, char **error_r)
{
    struct csv_ctx *ctx = ctx_p;
    pthread_mutex_lock(&ctx->check_lock);
    int r = file_check(ctx);
    if (r < 0)
        *error_r = ph_strdup(ctx->failed_reason);
    pthread_mutex_unlock(&ctx->check_lock);
    return r;
}

static enum ph_lookup csv_lookup(void *ctx_p, const char *key,
                                 struct ph_strlist *values_r,
                                 const char **error_r)
{
    (void)error_r; /* there is always a version to answer from */
    struct csv_ctx *ctx = ctx_p;
    int64_t now = now_ms();

    /* One thread checks; the others go on with the data they have. */
    if (now >= atomic_load(&ctx->next_check_ms) &&
        pthread_mutex_trylock(&ctx->check_lock) == 0) {
        atomic_store(&ctx->next_check_ms, now + ctx->conf->check_interval);
        (void)file_check(ctx); /* a failure keeps the old data, logged */
        pthread_mutex_unlock(&ctx->check_lock);
    }

    struct csv_data *d = data_get(ctx);
    const struct csv_entry *e = data_find(d, key);
    for (size_t i = 0; e != NULL && i < e->values.n; i++)
        ph_strlist_add(values_r, e->values.v[i]);
    data_unref(d);
    return e != NULL ? PH_LOOKUP_FOUND : PH_LOOKUP_NOT_FOUND;
}

static int csv_keys(void *ctx_p, struct ph_strlist *keys_r,
                    const char **error_r)
{
    (void)error_r;
    struct csv_ctx *ctx = ctx_p;
    pthread_mutex_lock(&ctx->check_lock);
    (void)file_check(ctx);
    pthread_mutex_unlock(&ctx->check_lock);

    struct csv_data *d = data_get(ctx);
    for (size_t i = 0; i < d->n; i++)
        ph_strlist_add(keys_r, d->entries[i].key);
    data_unref(d);
    return 0;
}

/* Read-only: set and remove stay NULL, and the core says so to callers. */
static const struct ph_table_vfuncs csv_vfuncs = {
    .lookup = csv_lookup,
    .keys = csv_keys,
};

PH_MODULE(.names = (const char *const[]){"table.csv", NULL},
          .kind = PH_MODULE_TABLE,
          .description = "a read-only table over a CSV file, reloaded on "
                         "change",
          .directives = csv_directives, .conf_size = sizeof(struct csv_conf),
          .inline_directive = "file", .create = csv_create,
          .destroy = csv_destroy, .reload = csv_reload, .iface = &csv_vfuncs);
