/* SPDX-License-Identifier: MIT */
/* table.file: a key -> values map kept in a text file.
 *
 *   storage_map file /etc/posthorn/aliases
 *   table.file aliases { file /etc/posthorn/aliases }
 *
 * The file format, one entry a line:
 *
 *   # a comment: a line whose first non-blank character is '#'
 *   postmaster: admin@example.org
 *   team: alice@example.org, bob@example.org
 *   blocked
 *
 * Keys and values are trimmed of blanks; values are split at commas and
 * empty ones dropped. A key alone (or `key:` with nothing after it) is found
 * with one empty value, which serves tables that are only sets of keys.
 * Blank lines are skipped, CRLF line ends are accepted. A key holds no
 * blanks and appears once; a line breaking either rule, or a NUL byte,
 * makes the whole file malformed. Keys match byte for byte.
 *
 * A relative PATH is taken from state_dir. A missing file reads as empty
 * (with a warning) and is created by the first set. An unreadable or
 * malformed file at create is a config error.
 *
 * Reloading: a lookup stats the file when check_interval (default 1s) has
 * passed since the last check, and reads it again when its inode, size,
 * mtime or ctime changed. Stat polling needs no thread, follows editors that
 * replace the file, and costs one stat a second. A version that fails to
 * load (unreadable, malformed, deleted) leaves the old contents in place and
 * is logged once; the next change is tried again. So a lookup never
 * answers a temporary failure: there is always a version to answer from.
 *
 * Mutation (set/remove, for the admin CLI) rewrites the file atomically: the
 * new text goes to a temporary file in the same directory, is fsync'ed and
 * renamed over the old one. Comments, blank lines and the order of the
 * other lines are kept; a new key is appended. A malformed file is not
 * rewritten. A new file gets mode 0600 and the owner of its directory (the
 * server's user when the CLI runs as root); a rewritten one keeps its mode
 * and owner. Values may not hold commas or line breaks. Two processes
 * writing at the same moment may lose one of the updates. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <posthorn/log.h>
#include <posthorn/table-impl.h>

#define FILE_MAX_SIZE (64 << 20) /* keep the message in file_read in step */
#define BLANKS " \t\r\f\v"

struct file_conf {
    char *file;
    int64_t check_interval; /* ms */
};

struct file_entry {
    char *key;
    struct ph_strlist values;
    int line;
};

/* One loaded version of the file. Never changed once built; lookups hold a
 * reference while they copy from it. */
struct file_data {
    atomic_size_t refs;
    struct file_entry *entries; /* sorted by key */
    size_t n;
};

/* What identifies a version of the file on disk. */
struct file_stamp {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct file_ctx {
    char *path;
    char *log_path; /* escaped for log lines */
    int64_t interval_ms;
    atomic_int_fast64_t next_check_ms;

    pthread_mutex_t data_lock; /* guards data (the pointer only) */
    struct file_data *data;

    /* Serializes checks, reloads and rewrites; guards what follows. */
    pthread_mutex_t check_lock;
    struct file_stamp loaded; /* the version data came from */
    struct file_stamp failed; /* the version that last failed to load */
    bool failed_valid;
    char *failed_reason;
};

static const struct ph_directive file_directives[] = {
    {
        .name = "file",
        .type = PH_DT_STRING,
        .flags = PH_DF_REQUIRED,
        .offset = offsetof(struct file_conf, file),
        .help = "the file to read; relative to state_dir",
    },
    {
        .name = "check_interval",
        .type = PH_DT_DURATION,
        .offset = offsetof(struct file_conf, check_interval),
        .def = "1s",
        .help = "how often a lookup may look for a changed file",
    },
    {.name = NULL},
};

/* set/remove/keys errors: valid until this thread's next failing call. */
static _Thread_local char file_error[512];

static PH_PRINTF(1, 2) const char *error_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(file_error, sizeof(file_error), fmt, ap);
    va_end(ap);
    return file_error;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stamp_from_stat(struct file_stamp *s, const struct stat *st)
{
    *s = (struct file_stamp){
        .exists = true,
        .dev = st->st_dev,
        .ino = st->st_ino,
        .size = st->st_size,
        .mtime = st->st_mtim,
        .ctime = st->st_ctim,
    };
}

static bool stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
    if (!a->exists || !b->exists)
        return a->exists == b->exists;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* ---- the data ---------------------------------------------------------- */

static int entry_cmp(const void *a, const void *b)
{
    const struct file_entry *x = a, *y = b;
    return strcmp(x->key, y->key);
}

static void data_free(struct file_data *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->entries[i].key);
        ph_strlist_clear(&d->entries[i].values);
    }
    free(d->entries);
    free(d);
}

static struct file_data *data_new(void)
{
    struct file_data *d = ph_calloc(1, sizeof(*d));
    atomic_init(&d->refs, 1);
    return d;
}

static void data_unref(struct file_data *d)
{
    if (atomic_fetch_sub(&d->refs, 1) == 1)
        data_free(d);
}

static struct file_data *data_get(struct file_ctx *ctx)
{
    pthread_mutex_lock(&ctx->data_lock);
    struct file_data *d = ctx->data;
    atomic_fetch_add(&d->refs, 1);
    pthread_mutex_unlock(&ctx->data_lock);
    return d;
}

static void data_replace(struct file_ctx *ctx, struct file_data *d)
{
    pthread_mutex_lock(&ctx->data_lock);
    struct file_data *old = ctx->data;
    ctx->data = d;
    pthread_mutex_unlock(&ctx->data_lock);
    if (old != NULL)
        data_unref(old);
}

static const struct file_entry *data_find(const struct file_data *d,
                                          const char *key)
{
    const struct file_entry probe = {.key = (char *)key};
    if (d->n == 0) /* entries may be NULL, which bsearch may not see */
        return NULL;
    return bsearch(&probe, d->entries, d->n, sizeof(*d->entries), entry_cmp);
}

/* ---- parsing ----------------------------------------------------------- */

/* The next line of text[0..len) at *pos: its bounds without the '\n'. */
static bool line_next(const char *text, size_t len, size_t *pos,
                      size_t *start_r, size_t *end_r)
{
    if (*pos >= len)
        return false;
    const char *nl = memchr(text + *pos, '\n', len - *pos);
    *start_r = *pos;
    *end_r = nl ? (size_t)(nl - text) : len;
    *pos = nl ? *end_r + 1 : len;
    return true;
}

static char *strndup_trimmed(const char *s, size_t n)
{
    while (n > 0 && strchr(BLANKS, *s) != NULL && *s != '\0')
        s++, n--;
    while (n > 0 && strchr(BLANKS, s[n - 1]) != NULL && s[n - 1] != '\0')
        n--;
    return ph_strndup(s, n);
}

/* Parses one line into e. Returns 1 for an entry, 0 for a blank or comment
 * line, -1 with *reason_r (malloc'ed) when malformed. */
static int line_parse(const char *s, size_t n, struct file_entry *e,
                      char **reason_r)
{
    char *line = strndup_trimmed(s, n);
    if (line[0] == '\0' || line[0] == '#') {
        free(line);
        return 0;
    }
    char *colon = strchr(line, ':');
    if (colon != NULL)
        *colon = '\0';
    e->key = strndup_trimmed(line, strlen(line));
    if (e->key[0] == '\0' || strpbrk(e->key, BLANKS) != NULL) {
        *reason_r = e->key[0] == '\0'
                        ? ph_strdup("empty key")
                        : ph_strdup_printf("key \"%s\" holds a blank "
                                           "(expected KEY: VALUE, ...)",
                                           e->key);
        free(e->key);
        e->key = NULL;
        free(line);
        return -1;
    }
    for (char *v = colon ? colon + 1 : NULL; v != NULL;) {
        char *comma = strchr(v, ',');
        if (comma != NULL)
            *comma = '\0';
        char *value = strndup_trimmed(v, strlen(v));
        if (value[0] != '\0')
            ph_strlist_add_owned(&e->values, value);
        else
            free(value);
        v = comma ? comma + 1 : NULL;
    }
    if (e->values.n == 0)
        ph_strlist_add(&e->values, "");
    free(line);
    return 1;
}

/* Parses a whole file. Returns the data, or NULL with *line_r (0: not about
 * one line) and *reason_r (malloc'ed). */
static struct file_data *text_parse(const char *text, size_t len, int *line_r,
                                    char **reason_r)
{
    struct file_data *d = data_new();
    size_t cap = 0, pos = 0, start, end;
    int lineno = 0;

    *line_r = 0;
    while (line_next(text, len, &pos, &start, &end)) {
        lineno++;
        if (memchr(text + start, '\0', end - start) != NULL) {
            *line_r = lineno;
            *reason_r = ph_strdup("NUL byte");
            goto fail;
        }
        struct file_entry e = {.line = lineno};
        int r = line_parse(text + start, end - start, &e, reason_r);
        if (r < 0) {
            *line_r = lineno;
            goto fail;
        }
        if (r > 0) {
            ph_array_grow(&d->entries, &cap, d->n + 1, sizeof(*d->entries));
            d->entries[d->n++] = e;
        }
    }
    if (d->n > 0)
        qsort(d->entries, d->n, sizeof(*d->entries), entry_cmp);
    for (size_t i = 1; i < d->n; i++) {
        const struct file_entry *a = &d->entries[i - 1], *b = &d->entries[i];
        if (strcmp(a->key, b->key) == 0) {
            const struct file_entry *later = a->line > b->line ? a : b;
            const struct file_entry *first = a->line > b->line ? b : a;
            *line_r = later->line;
            *reason_r = ph_strdup_printf("duplicate key \"%s\" (first on line "
                                         "%d)",
                                         later->key, first->line);
            goto fail;
        }
    }
    return d;
fail:
    data_free(d);
    return NULL;
}

/* ---- reading ----------------------------------------------------------- */

enum read_result { READ_OK, READ_MISSING, READ_FAILED };

/* Reads path whole. READ_FAILED sets *reason_r (malloc'ed). *stamp_r is
 * the version read (or found missing). */
static enum read_result file_read(const char *path, char **text_r,
                                  size_t *len_r, struct file_stamp *stamp_r,
                                  char **reason_r)
{
    struct stat st;
    *stamp_r = (struct file_stamp){.exists = false};
    /* O_NONBLOCK: a FIFO put in the file's place must not hang us. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return READ_MISSING;
        *reason_r = ph_strdup(strerror(errno));
        /* Remember the unreadable version so it is not retried (and
         * logged) on every check. */
        if (stat(path, &st) == 0)
            stamp_from_stat(stamp_r, &st);
        return READ_FAILED;
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
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            why = ph_strdup(strerror(errno));
        else if (r == 0)
            break;
        else if (b.len + (size_t)r > FILE_MAX_SIZE)
            why = ph_strdup("larger than 64 MiB");
        else
            ph_buf_append(&b, chunk, (size_t)r);
    }
    close(fd);
    if (why != NULL) {
        ph_buf_free(&b);
        *reason_r = why;
        return READ_FAILED;
    }
    *len_r = b.len;
    *text_r = ph_buf_steal(&b);
    return READ_OK;
}

/* Reads and parses path. READ_FAILED sets *line_r and *reason_r. */
static enum read_result file_load(const char *path, struct file_data **data_r,
                                  struct file_stamp *stamp_r, int *line_r,
                                  char **reason_r)
{
    char *text;
    size_t len;
    *line_r = 0;
    enum read_result r = file_read(path, &text, &len, stamp_r, reason_r);
    if (r != READ_OK)
        return r;
    *data_r = text_parse(text, len, line_r, reason_r);
    free(text);
    return *data_r != NULL ? READ_OK : READ_FAILED;
}

/* "PATH:LINE: reason", or "PATH: reason" when no line is at fault. */
static char *load_error(const char *path, int line, const char *reason)
{
    return line > 0 ? ph_strdup_printf("%s:%d: %s", path, line, reason)
                    : ph_strdup_printf("%s: %s", path, reason);
}

/* Looks at the file and loads a new version. Called with check_lock held.
 * Returns 0 when data is current, -1 when the file on disk could not be
 * loaded (the old data stays; ctx->failed_reason says why). */
static int file_check(struct file_ctx *ctx)
{
    struct stat st;
    struct file_stamp now = {.exists = false};
    if (stat(ctx->path, &st) == 0)
        stamp_from_stat(&now, &st);
    if (stamp_equal(&now, &ctx->loaded))
        return 0;
    if (ctx->failed_valid && stamp_equal(&now, &ctx->failed))
        return -1;

    struct file_data *d = NULL;
    struct file_stamp stamp;
    int line;
    char *reason = NULL;
    enum read_result r = file_load(ctx->path, &d, &stamp, &line, &reason);
    if (r == READ_OK) {
        data_replace(ctx, d);
        ctx->loaded = stamp;
        ctx->failed_valid = false;
        ph_log_info("mod=table.file event=reloaded file=%s entries=%zu",
                    ctx->log_path, d->n);
        return 0;
    }
    if (r == READ_MISSING)
        reason = ph_strdup("file is missing");
    char *why = ph_log_escape(reason);
    if (line > 0)
        ph_log_warn("mod=table.file event=reload_failed file=%s line=%d "
                    "reason=%s keeping=old_contents",
                    ctx->log_path, line, why);
    else
        ph_log_warn("mod=table.file event=reload_failed file=%s reason=%s "
                    "keeping=old_contents",
                    ctx->log_path, why);
    free(why);
    free(ctx->failed_reason);
    ctx->failed_reason = load_error(ctx->path, line, reason);
    free(reason);
    ctx->failed = stamp;
    ctx->failed_valid = true;
    return -1;
}

/* ---- the module -------------------------------------------------------- */

static void file_destroy(void *ctx_p)
{
    struct file_ctx *ctx = ctx_p;
    if (ctx->data != NULL)
        data_unref(ctx->data);
    pthread_mutex_destroy(&ctx->data_lock);
    pthread_mutex_destroy(&ctx->check_lock);
    free(ctx->failed_reason);
    free(ctx->log_path);
    free(ctx->path);
    free(ctx);
}

static int file_create(struct ph_instance *inst, void *conf_p, void **ctx_r,
                       char **error_r)
{
    const struct file_conf *conf = conf_p;
    if (conf->file[0] == '\0') {
        *error_r = ph_strdup("the file name is empty");
        return -1;
    }
    struct file_ctx *ctx = ph_calloc(1, sizeof(*ctx));
    ctx->path = conf->file[0] == '/' ? ph_strdup(conf->file)
                                     : ph_state_path(conf->file);
    ctx->log_path = ph_log_escape(ctx->path);
    ctx->interval_ms = conf->check_interval;
    pthread_mutex_init(&ctx->data_lock, NULL);
    pthread_mutex_init(&ctx->check_lock, NULL);

    struct file_data *d = NULL;
    int line;
    char *reason = NULL;
    switch (file_load(ctx->path, &d, &ctx->loaded, &line, &reason)) {
    case READ_OK: break;
    case READ_MISSING:
        ph_log_warn("mod=table.file event=file_missing file=%s "
                    "note=\"read as empty, created by the first set\"",
                    ctx->log_path);
        d = data_new();
        break;
    case READ_FAILED:
        *error_r = load_error(ctx->path, line, reason);
        free(reason);
        file_destroy(ctx);
        return -1;
    }
    ctx->data = d;
    atomic_init(&ctx->next_check_ms, now_ms() + ctx->interval_ms);
    *ctx_r = ctx;
    return 0;
}

static int file_reload(void *ctx_p, char **error_r)
{
    struct file_ctx *ctx = ctx_p;
    pthread_mutex_lock(&ctx->check_lock);
    int r = file_check(ctx);
    if (r < 0)
        *error_r = ph_strdup(ctx->failed_reason);
    pthread_mutex_unlock(&ctx->check_lock);
    return r;
}

static enum ph_lookup file_lookup(void *ctx_p, const char *key,
                                  struct ph_strlist *values_r,
                                  const char **error_r)
{
    struct file_ctx *ctx = ctx_p;
    int64_t now = now_ms();

    /* One thread checks; the others go on with the data they have. */
    if (now >= atomic_load(&ctx->next_check_ms) &&
        pthread_mutex_trylock(&ctx->check_lock) == 0) {
        atomic_store(&ctx->next_check_ms, now + ctx->interval_ms);
        (void)file_check(ctx); /* a failure keeps the old data, logged */
        pthread_mutex_unlock(&ctx->check_lock);
    }

    struct file_data *d = data_get(ctx);
    const struct file_entry *e = data_find(d, key);
    bool found = e != NULL;
    for (size_t i = 0; found && i < e->values.n; i++)
        ph_strlist_add(values_r, e->values.v[i]);
    data_unref(d);
    return found ? PH_LOOKUP_FOUND : PH_LOOKUP_NOT_FOUND;
}

static int file_keys(void *ctx_p, struct ph_strlist *keys_r,
                     const char **error_r)
{
    struct file_ctx *ctx = ctx_p;
    pthread_mutex_lock(&ctx->check_lock);
    (void)file_check(ctx);
    pthread_mutex_unlock(&ctx->check_lock);

    struct file_data *d = data_get(ctx);
    for (size_t i = 0; i < d->n; i++)
        ph_strlist_add(keys_r, d->entries[i].key);
    data_unref(d);
    return 0;
}

/* ---- rewriting --------------------------------------------------------- */

static const char *key_check(const char *key)
{
    if (key[0] == '\0')
        return error_set("table.file: empty key");
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == ':')
            return error_set("table.file: a key may not hold blanks, control "
                             "characters or ':'");
    if (key[0] == '#')
        return error_set("table.file: a key may not start with '#'");
    return NULL;
}

static const char *values_check(const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i];
        size_t len = strlen(v);
        if (len == 0 && n > 1)
            return error_set("table.file: an empty value must be the only "
                             "one");
        if (strpbrk(v, ",\n\r") != NULL)
            return error_set("table.file: a value may not hold commas or "
                             "line breaks");
        if (len > 0 && (strchr(BLANKS, v[0]) || strchr(BLANKS, v[len - 1])))
            return error_set("table.file: a value may not start or end with "
                             "a blank");
    }
    return NULL;
}

/* Writes text to a new file beside path and renames it over path. */
static const char *file_write_atomic(const char *path, const char *text,
                                     size_t len, struct file_stamp *stamp_r)
{
    /* Write beside the target of a symlink, so the link stays. */
    char *real = realpath(path, NULL);
    const char *target = real != NULL ? real : path;
    char *dir_copy = ph_strdup(target), *base_copy = ph_strdup(target);
    const char *dir = dirname(dir_copy);
    char *tmp = ph_strdup_printf("%s/.%s.XXXXXX", dir, basename(base_copy));
    const char *err = NULL;
    int fd = mkostemp(tmp, O_CLOEXEC);

    if (fd < 0) {
        err = error_set("table.file: cannot create a file in %s: %s", dir,
                        strerror(errno));
        goto out;
    }
    /* mkostemp made it 0600: right for a new file, which may hold
     * password hashes. An old file's mode and owner are kept; a new one
     * takes its directory's owner. Changing the owner only works as root,
     * and only matters then. */
    struct stat st;
    bool have_owner = false;
    if (stat(target, &st) == 0) {
        if (fchmod(fd, st.st_mode & 07777) < 0)
            err = error_set("table.file: cannot chmod %s: %s", tmp,
                            strerror(errno));
        have_owner = true;
    } else if (stat(dir, &st) == 0) {
        have_owner = true;
    }
    if (have_owner && (st.st_uid != geteuid() || st.st_gid != getegid()) &&
        fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
        ph_log_debug("mod=table.file event=chown_failed file=%s reason=%s", tmp,
                     strerror(errno));
    for (size_t off = 0; err == NULL && off < len;) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            err = error_set("table.file: cannot write %s: %s", tmp,
                            strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (err == NULL && fsync(fd) < 0)
        err =
            error_set("table.file: cannot write %s: %s", tmp, strerror(errno));
    if (err == NULL && fstat(fd, &st) == 0)
        stamp_from_stat(stamp_r, &st);
    if (close(fd) < 0 && err == NULL)
        err =
            error_set("table.file: cannot write %s: %s", tmp, strerror(errno));
    if (err == NULL && rename(tmp, target) < 0)
        err = error_set("table.file: cannot replace %s: %s", target,
                        strerror(errno));
    if (err != NULL) {
        unlink(tmp);
        goto out;
    }
    /* The rename itself is durable once the directory is synced. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
out:
    free(tmp);
    free(dir_copy);
    free(base_copy);
    free(real);
    return err;
}

/* Rewrites the file with key's line replaced by values (remove: dropped).
 * Returns 1 when key was there, 0 when not, -1 on error. */
static int file_rewrite(struct file_ctx *ctx, const char *key,
                        const char *const *values, size_t nvalues, bool remove,
                        const char **error_r)
{
    char *text = NULL, *reason = NULL;
    size_t len = 0;
    struct file_stamp stamp;
    int found = -1;

    pthread_mutex_lock(&ctx->check_lock);
    switch (file_read(ctx->path, &text, &len, &stamp, &reason)) {
    case READ_OK: break;
    case READ_MISSING: text = ph_strdup(""); break;
    case READ_FAILED:
        *error_r =
            error_set("table.file: cannot read %s: %s", ctx->path, reason);
        goto out;
    }
    int line;
    struct file_data *old = text_parse(text, len, &line, &reason);
    if (old == NULL) {
        *error_r = error_set("table.file: %s:%d: %s; fix the file first",
                             ctx->path, line, reason);
        goto out;
    }
    const struct file_entry *e = data_find(old, key);
    int target = e != NULL ? e->line : 0;
    data_free(old);
    if (remove && target == 0) {
        found = 0;
        goto out;
    }

    struct ph_buf line_text = {0};
    if (!remove) {
        /* No value and one empty value read back alike: the key alone. */
        if (nvalues == 1 && values[0][0] == '\0')
            nvalues = 0;
        ph_buf_puts(&line_text, key);
        for (size_t i = 0; i < nvalues; i++)
            ph_buf_printf(&line_text, "%s%s", i == 0 ? ": " : ", ", values[i]);
        ph_buf_putc(&line_text, '\n');
    }
    struct ph_buf out = {0};
    size_t pos = 0, start, end;
    for (int n = 1; line_next(text, len, &pos, &start, &end); n++) {
        if (n == target)
            ph_buf_append(&out, line_text.data, line_text.len);
        else
            ph_buf_append(&out, text + start, pos - start);
    }
    if (target == 0) {
        if (out.len > 0 && out.data[out.len - 1] != '\n')
            ph_buf_putc(&out, '\n');
        ph_buf_append(&out, line_text.data, line_text.len);
    }
    ph_buf_free(&line_text);

    struct file_data *d =
        text_parse(out.data ? out.data : "", out.len, &line, &reason);
    ph_assert(d != NULL);
    *error_r =
        file_write_atomic(ctx->path, out.data ? out.data : "", out.len, &stamp);
    ph_buf_free(&out);
    if (*error_r != NULL) {
        data_free(d);
        goto out;
    }
    data_replace(ctx, d);
    ctx->loaded = stamp;
    ctx->failed_valid = false;
    found = target != 0;
out:
    pthread_mutex_unlock(&ctx->check_lock);
    free(text);
    free(reason);
    return found;
}

static int file_set(void *ctx_p, const char *key, const char *const *values,
                    size_t nvalues, const char **error_r)
{
    if ((*error_r = key_check(key)) != NULL ||
        (*error_r = values_check(values, nvalues)) != NULL)
        return -1;
    return file_rewrite(ctx_p, key, values, nvalues, false, error_r) < 0 ? -1
                                                                         : 0;
}

static int file_remove(void *ctx_p, const char *key, const char **error_r)
{
    return file_rewrite(ctx_p, key, NULL, 0, true, error_r);
}

static const struct ph_table_vfuncs file_vfuncs = {
    .lookup = file_lookup,
    .set = file_set,
    .remove = file_remove,
    .keys = file_keys,
};

PH_MODULE(.names = (const char *const[]){"table.file", NULL},
          .kind = PH_MODULE_TABLE,
          .description = "a key -> values map in a file, reloaded on change",
          .directives = file_directives, .conf_size = sizeof(struct file_conf),
          .inline_directive = "file", .create = file_create,
          .destroy = file_destroy, .reload = file_reload,
          .iface = &file_vfuncs);
