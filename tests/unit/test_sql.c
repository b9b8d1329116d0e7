/* SPDX-License-Identifier: MIT */
/* The SQL layer (sql.h) over a fake driver that records what it is asked
 * and fails where a test tells it to: the pool, transactions run again
 * after a transient failure, the commit hooks, the ad hoc builder. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <posthorn/sql.h>
#include <posthorn/storage-impl.h>
#include <posthorn/storage.h>

struct fake_conn {
    struct ph_sql_conn pub;
    int id;
    bool dead; /* idle_ok says no */
};

struct fake_cursor {
    struct ph_sql_conn *c;
    int row, nrows;
    char text[32];
};

static struct {
    struct ph_buf trace; /* "c1:begin c1:s2 c1:commit " ... */
    int opened, closed;
    int fail_runs;       /* the next this many runs fail */
    bool fail_retry, fail_lost;
    size_t last_nargs;
    struct ph_sql_value last_args[8];
    char last_text[64];
    const char *last_sql;
    atomic_int writers, max_writers;
    atomic_int commits;
    atomic_int fail_commits; /* the next this many commits fail, transient */
    int commit_sleep_us;
} fake;

static void trace(struct ph_sql_conn *c, const char *what)
{
    ph_buf_printf(&fake.trace, "c%d:%s ", ((struct fake_conn *)c)->id, what);
}

static int f_open(void *dctx, struct ph_sql_conn **c_r, const char **error_r)
{
    (void)dctx;
    (void)error_r;
    struct fake_conn *c = ph_calloc(1, sizeof(*c));
    c->id = ++fake.opened;
    *c_r = &c->pub;
    return 0;
}

static void f_close(struct ph_sql_conn *c)
{
    fake.closed++;
    free(c);
}

static bool f_idle_ok(struct ph_sql_conn *c)
{
    return !((struct fake_conn *)c)->dead;
}

static int f_run(struct ph_sql_conn *c, int stmt, const char *sql, size_t nargs,
                 const struct ph_sql_value *args, struct ph_sql_cursor **cur_r,
                 uint64_t *changed_r, const char **error_r)
{
    char what[80];
    if (stmt >= 0)
        snprintf(what, sizeof(what), "s%d", stmt);
    else
        snprintf(what, sizeof(what), "adhoc(%s)", sql);
    trace(c, what);
    fake.last_sql = sql;
    fake.last_nargs = nargs;
    for (size_t i = 0; i < nargs && i < 8; i++)
        fake.last_args[i] = args[i];
    if (nargs > 0 && args[0].type == PH_SQL_TEXT)
        snprintf(fake.last_text, sizeof(fake.last_text), "%.*s",
                 (int)args[0].len, (const char *)args[0].p);
    if (fake.fail_runs > 0) {
        fake.fail_runs--;
        c->retry = fake.fail_retry;
        c->lost = fake.fail_lost;
        *error_r = "Mail storage is busy, try again later";
        return PH_STORAGE_ERR_TEMP;
    }
    if (changed_r != NULL)
        *changed_r = 1;
    if (cur_r != NULL) {
        struct fake_cursor *cur = ph_calloc(1, sizeof(*cur));
        cur->c = c;
        cur->nrows = stmt; /* statement n has n rows */
        *cur_r = (struct ph_sql_cursor *)cur;
    }
    return 0;
}

static int f_next(struct ph_sql_cursor *cur, const char **error_r)
{
    (void)error_r;
    struct fake_cursor *fc = (struct fake_cursor *)cur;
    return fc->row < fc->nrows ? (++fc->row, 1) : 0;
}

static int64_t f_col_int(struct ph_sql_cursor *cur, int col)
{
    return ((struct fake_cursor *)cur)->row * 10 + col;
}

static const void *f_col_bytes(struct ph_sql_cursor *cur, int col,
                               size_t *len_r)
{
    struct fake_cursor *fc = (struct fake_cursor *)cur;
    if (col > 0)
        return NULL;
    snprintf(fc->text, sizeof(fc->text), "row %d", fc->row);
    *len_r = strlen(fc->text);
    return fc->text;
}

static void f_close_cursor(struct ph_sql_cursor *cur)
{
    free(cur);
}

static int f_script(struct ph_sql_conn *c, const char *sql, const char **e)
{
    (void)e;
    trace(c, sql);
    return 0;
}

static int f_begin(struct ph_sql_conn *c, enum ph_sql_txn_kind kind,
                   const char **error_r)
{
    (void)error_r;
    if (kind != PH_SQL_READ) {
        int now = atomic_fetch_add(&fake.writers, 1) + 1;
        int max = atomic_load(&fake.max_writers);
        while (now > max &&
               !atomic_compare_exchange_weak(&fake.max_writers, &max, now))
            ;
    }
    trace(c, kind == PH_SQL_READ ? "begin-read" : "begin");
    return 0;
}

static void writer_done(void)
{
    if (atomic_load(&fake.writers) > 0)
        atomic_fetch_sub(&fake.writers, 1);
}

static int f_commit(struct ph_sql_conn *c, const char **error_r)
{
    if (fake.commit_sleep_us > 0) /* an fsync's time: others queue */
        nanosleep(&(struct timespec){0, fake.commit_sleep_us * 1000L}, NULL);
    if (atomic_load(&fake.fail_commits) > 0) {
        atomic_fetch_sub(&fake.fail_commits, 1);
        trace(c, "commit-failed");
        c->retry = true;
        *error_r = "database is locked";
        writer_done();
        return PH_STORAGE_ERR_TEMP;
    }
    trace(c, "commit");
    atomic_fetch_add(&fake.commits, 1);
    writer_done();
    return 0;
}

static int f_savepoint(struct ph_sql_conn *c, enum ph_sql_savepoint op,
                       const char **error_r)
{
    (void)error_r;
    trace(c, op == PH_SQL_SP_SET ? "sp" : op == PH_SQL_SP_RELEASE ? "release"
                                                                  : "undo");
    return 0;
}

static void f_rollback(struct ph_sql_conn *c)
{
    trace(c, "rollback");
    writer_done();
}

/* The driver's own SQL of statements 0 and 2; the caller's of the rest. */
static const char *const f_stmts[] = {"zero", NULL, "two"};
static const char *const caller_stmts[] = {"p0", "p1", "p2", "p3", "p4"};

static struct ph_sql_driver fake_driver = {
    .abi_minor = PH_ABI_MINOR,
    .size = sizeof(struct ph_sql_driver),
    .name = "fake",
    .stmts = f_stmts,
    .n_stmts = 3,
    .open = f_open,
    .close = f_close,
    .idle_ok = f_idle_ok,
    .run = f_run,
    .next = f_next,
    .col_int = f_col_int,
    .col_bytes = f_col_bytes,
    .close_cursor = f_close_cursor,
    .script = f_script,
    .begin = f_begin,
    .commit = f_commit,
    .rollback = f_rollback,
    .savepoint = f_savepoint,
};

static struct ph_buf hooks;

static int before(void *arg, struct ph_sql_conn *c, const int64_t *ids,
                  size_t n, const char **error_r)
{
    (void)arg;
    (void)error_r;
    ph_buf_printf(&hooks, "before(c%d", ((struct fake_conn *)c)->id);
    for (size_t i = 0; i < n; i++)
        ph_buf_printf(&hooks, " %lld", (long long)ids[i]);
    ph_buf_puts(&hooks, ") ");
    return 0;
}

static void after(void *arg, const int64_t *ids, size_t n)
{
    (void)arg;
    ph_buf_puts(&hooks, "after(");
    for (size_t i = 0; i < n; i++)
        ph_buf_printf(&hooks, i > 0 ? " %lld" : "%lld", (long long)ids[i]);
    ph_buf_puts(&hooks, ") ");
}

static struct ph_sql *sql_new(unsigned max_conns, unsigned caps)
{
    ph_buf_free(&fake.trace);
    ph_buf_free(&hooks);
    memset(&fake, 0, sizeof(fake));
    fake_driver.caps = caps;
    struct ph_sql_params p = {.max_conns = max_conns,
                              .retries = 2,
                              .stmts = caller_stmts,
                              .n_stmts = 5,
                              .log_mod = "test",
                              .db = "fake",
                              .before_commit = before,
                              .after_commit = after};
    struct ph_sql *sql = NULL;
    char *err = NULL;
    assert_int_equal(ph_sql_new(&fake_driver, NULL, &p, &sql, &err), 0);
    return sql;
}

static const char *trace_text(void)
{
    return fake.trace.data != NULL ? fake.trace.data : "";
}

struct txn_arg {
    int calls;
    int stmt;
};

static int mark_fn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct txn_arg *a = arg;
    a->calls++;
    ph_sql_mark(c, 7);
    ph_sql_mark(c, 9);
    ph_sql_mark(c, 7);
    return ph_sql_exec(c, a->stmt, error_r, PH_SQL_I(1));
}

/* The driver gives SQL only where its engine differs: its text wins where
 * it has one; elsewhere (NULL, or past its table) the caller's runs. */
static void test_statement_sql_is_the_drivers_else_the_callers(void **state)
{
    (void)state;
    struct ph_sql *sql = sql_new(1, 0);
    struct ph_sql_conn *c = NULL;
    const char *err = NULL;
    const char *want[] = {"zero", "p1", "two", "p3", "p4"};
    assert_int_equal(ph_sql_get(sql, &c, &err), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ph_sql_exec(c, i, &err, PH_SQL_I(i)), 0);
        assert_string_equal(fake.last_sql, want[i]);
    }
    ph_sql_put(sql, &c);
    ph_sql_free(&sql);
}

static void test_txn_commits_and_gives_the_marks_to_both_hooks(void **state)
{
    (void)state;
    struct ph_sql *sql = sql_new(2, 0);
    struct txn_arg a = {.stmt = 2};
    const char *err = NULL;
    assert_int_equal(ph_sql_txn(sql, PH_SQL_WRITE, 0, mark_fn, &a, &err), 0);
    assert_int_equal(a.calls, 1);
    assert_string_equal(trace_text(), "c1:begin c1:s2 c1:commit ");
    assert_string_equal(hooks.data, "before(c1 7 9) after(7 9) ");
    ph_sql_free(&sql);
    assert_int_equal(fake.closed, 1);
}

static void test_txn_runs_again_after_a_transient_failure(void **state)
{
    (void)state;
    struct ph_sql *sql = sql_new(2, 0);
    struct txn_arg a = {.stmt = 2};
    const char *err = NULL;
    fake.fail_runs = 1;
    fake.fail_retry = true;
    assert_int_equal(ph_sql_txn(sql, PH_SQL_WRITE, 0, mark_fn, &a, &err), 0);
    assert_int_equal(a.calls, 2);
    assert_string_equal(trace_text(),
                        "c1:begin c1:s2 c1:rollback c1:begin c1:s2 c1:commit ");
    /* The hooks hear of the commit only. */
    assert_string_equal(hooks.data, "before(c1 7 9) after(7 9) ");
    ph_sql_free(&sql);
}

static void test_txn_gives_up_after_the_retries(void **state)
{
    (void)state;
    struct ph_sql *sql = sql_new(2, 0);
    struct txn_arg a = {.stmt = 1};
    const char *err = NULL;
    fake.fail_runs = 100;
    fake.fail_retry = true;
    assert_int_equal(ph_sql_txn(sql, PH_SQL_WRITE, 0, mark_fn, &a, &err),
                     PH_STORAGE_ERR_TEMP);
    assert_string_equal(err, "Mail storage is busy, try again later");
    assert_int_equal(a.calls, 3); /* the first run and two retries */
    assert_null(hooks.data);
    ph_sql_free(&sql);
}

static void test_txn_does_not_rerun_a_lasting_failure(void **state)
{
    (void)state;
    struct ph_sql *sql = sql_new(2, 0);
    struct txn_arg a = {.stmt = 1};
    const char *err = NULL;
    fake.fail_runs = 1;
    assert_int_equal(ph_sql_txn(sql, PH_SQL_WRITE, 0, mark_fn, &a, &err),
                     PH_STORAGE_ERR_TEMP);
    assert_int_equal(a.calls, 1);
    assert_string_equal(trace_text(), "c1:begin c1:s1 c1:rollback ");
    ph_sql_free(&sql);
}

static void test_lost_connection_goes_with_the_idle_ones(void **state)
{
    (void)state;
    struct ph_sql *sql = sql_new(4, 0);
    struct ph_sql_conn *c1 = NULL, *c2 = NULL, *c3 = NULL;
    const char *err = NULL;
    assert_int_equal(ph_sql_get(sql, &c1, &err), 0);
    assert_int_equal(ph_sql_get(sql, &c2, &err), 0);
    ph_sql_put(sql, &c2);
    assert_null(c2);
    c1->lost = true;
    ph_sql_put(sql, &c1);
    assert_int_equal(fake.closed, 2);
    assert_int_equal(ph_sql_get(sql, &c3, &err), 0);
    assert_int_equal(((struct fake_conn *)c3)->id, 3);
    ph_sql_put(sql, &c3);
    ph_sql_free(&sql);
}

static void test_dead_idle_connection_is_replaced(void **state)
{
    (void)state;
    struct ph_sql *sql = sql_new(1, 0);
    struct ph_sql_conn *c = NULL;
    const char *err = NULL;
    assert_int_equal(ph_sql_get(sql, &c, &err), 0);
    ((struct fake_conn *)c)->dead = true;
    ph_sql_put(sql, &c);
    assert_int_equal(ph_sql_get(sql, &c, &err), 0);
    assert_int_equal(((struct fake_conn *)c)->id, 2);
    assert_int_equal(fake.closed, 1);
    ph_sql_put(sql, &c);
    ph_sql_free(&sql);
}

static void test_statements_rows_and_one_value(void **state)
{
    (void)state;
    struct ph_sql *sql = sql_new(1, 0);
    struct ph_sql_conn *c = NULL;
    struct ph_sql_cursor *cur = NULL;
    const char *err = NULL;
    int64_t v = 0;
    assert_int_equal(ph_sql_get(sql, &c, &err), 0);
    assert_int_equal(ph_sql_query(c, 3, &cur, &err, PH_SQL_I(5)), 0);
    struct ph_buf got = {0};
    while (ph_sql_next(cur, &err) == 1) {
        char *t = ph_sql_strdup(cur, 0);
        ph_buf_printf(&got, "%s=%lld,", t, (long long)ph_sql_int(cur, 1));
        free(t);
        assert_null(ph_sql_bytes(cur, 1, NULL));
    }
    ph_sql_close(&cur);
    assert_null(cur);
    assert_string_equal(got.data, "row 1=11,row 2=21,row 3=31,");
    ph_buf_free(&got);
    assert_int_equal(ph_sql_one(c, 2, &v, &err, PH_SQL_S("x")), 1);
    assert_int_equal(v, 10);
    assert_int_equal(ph_sql_one(c, 0, &v, &err), 0);
    ph_sql_put(sql, &c);
    ph_sql_free(&sql);
}

static void test_builder_copies_values_and_counts_placeholders(void **state)
{
    (void)state;
    struct ph_sql *sql = sql_new(1, 0);
    struct ph_sql_conn *c = NULL;
    struct ph_sql_cursor *cur = NULL;
    struct ph_sql_builder b = {0};
    const char *err = NULL;
    char key[8] = "needle";
    ph_sql_frag(&b, "SELECT uid FROM messages WHERE ");
    ph_sql_fragv(&b, "(a = ? AND b < ?)", PH_SQL_S(key), PH_SQL_I(42));
    memset(key, 'x', sizeof(key) - 1); /* the builder kept its own copy */
    assert_int_equal(ph_sql_get(sql, &c, &err), 0);
    assert_int_equal(ph_sql_query_built(c, &b, &cur, &err), 0);
    ph_sql_close(&cur);
    assert_string_equal(trace_text(),
                        "c1:adhoc(SELECT uid FROM messages WHERE (a = ? "
                        "AND b < ?)) ");
    assert_int_equal(fake.last_nargs, 2);
    assert_string_equal(fake.last_text, "needle");
    assert_int_equal(fake.last_args[1].i, 42);
    ph_sql_builder_clear(&b);
    ph_sql_put(sql, &c);
    ph_sql_free(&sql);
}

static struct ph_sql *shared;

static int noop_fn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    (void)arg;
    return ph_sql_exec(c, 0, error_r);
}

static void *writer_main(void *arg)
{
    (void)arg;
    const char *err;
    for (int i = 0; i < 300; i++)
        if (ph_sql_txn(shared, PH_SQL_WRITE_LIGHT, 0, noop_fn, NULL, &err) < 0)
            return (void *)1;
    return NULL;
}

/* PH_SQL_CAP_ONE_WRITER: this process's writers take turns. */
static void test_one_writer_engine_gets_one_write_at_a_time(void **state)
{
    (void)state;
    shared = sql_new(4, PH_SQL_CAP_ONE_WRITER);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    assert_int_equal(atomic_load(&fake.max_writers), 1);
    ph_sql_free(&shared);
}

/* What a writer of the group tests asks: its statement, whether its fn
 * fails, how often it ran, and its answer. */
struct gw {
    int stmt;
    bool fail;
    atomic_int calls;
    int ret;
    char error[64];
    /* The first writer's fn waits until the test lets it go. */
    bool hold;
};

static atomic_bool held, release_held;

static int gw_fn(struct ph_sql_conn *c, void *arg, const char **error_r)
{
    struct gw *w = arg;
    atomic_fetch_add(&w->calls, 1);
    if (w->hold) {
        atomic_store(&held, true);
        while (!atomic_load(&release_held))
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    ph_sql_mark(c, w->stmt);
    int ret = ph_sql_exec(c, w->stmt, error_r);
    if (ret == 0 && w->fail) {
        *error_r = ph_storage_errorf("Mailbox %d does not exist", w->stmt);
        return PH_STORAGE_ERR_INVALID;
    }
    return ret;
}

static void *gw_main(void *arg)
{
    struct gw *w = arg;
    const char *err = NULL;
    w->ret = ph_sql_txn(shared, PH_SQL_WRITE_LIGHT, 0, gw_fn, w, &err);
    if (w->ret < 0)
        snprintf(w->error, sizeof(w->error), "%s", err);
    return NULL;
}

static void wait_for(bool (*cond)(void))
{
    for (int i = 0; i < 10000 && !cond(); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_true(cond());
}

static bool is_held(void)
{
    return atomic_load(&held);
}

static bool three_waiting(void)
{
    struct ph_sql_stats st;
    ph_sql_stats(shared, &st);
    return st.waiting == 3;
}

/* Writer 0 holds the write turn; writers 1..3 queue meanwhile and then
 * commit as one group. */
static void run_group(struct gw w[4])
{
    atomic_store(&held, false);
    atomic_store(&release_held, false);
    w[0].hold = true;
    pthread_t t[4];
    assert_int_equal(pthread_create(&t[0], NULL, gw_main, &w[0]), 0);
    wait_for(is_held);
    for (int i = 1; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, gw_main, &w[i]), 0);
    wait_for(three_waiting);
    atomic_store(&release_held, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

/* The writers that queued while a commit was being made share the next
 * one; one whose work fails is undone alone (its savepoint), and gets its
 * own error text on its own thread. */
static void test_one_writer_engine_groups_waiting_writers(void **state)
{
    (void)state;
    shared = sql_new(4, PH_SQL_CAP_ONE_WRITER);
    struct gw w[4] = {{.stmt = 1}, {.stmt = 2}, {.stmt = 3, .fail = true},
                      {.stmt = 4}};
    run_group(w);
    for (int i = 0; i < 4; i++)
        assert_int_equal(atomic_load(&w[i].calls), 1);
    assert_int_equal(w[0].ret, 0);
    assert_int_equal(w[1].ret, 0);
    assert_int_equal(w[2].ret, PH_STORAGE_ERR_INVALID);
    assert_string_equal(w[2].error, "Mailbox 3 does not exist");
    assert_int_equal(w[3].ret, 0);
    /* Two commits for four transactions: the lone one, then the group. */
    assert_int_equal(atomic_load(&fake.commits), 2);
    struct ph_sql_stats st;
    ph_sql_stats(shared, &st);
    assert_int_equal(st.groups, 1);
    assert_int_equal(st.grouped, 3);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(atomic_load(&fake.max_writers), 1);
    /* The group's transaction: each writer in a savepoint, the failed
     * one's undone. */
    const char *t = trace_text();
    const char *g = strstr(strstr(t, "commit"), "begin");
    assert_non_null(g);
    assert_non_null(strstr(g, ":undo "));
    assert_null(strstr(strstr(g, ":undo ") + 1, ":undo "));
    ph_sql_free(&shared);
}

/* A group's commit that fails for a transient reason: every writer of the
 * group runs again, and each is answered after the commit that holds it. */
static void test_group_runs_again_when_its_commit_fails(void **state)
{
    (void)state;
    shared = sql_new(4, PH_SQL_CAP_ONE_WRITER);
    /* Writer 0 fails on its own (rolled back, no commit): the next commit
     * is the group's, and it fails once. */
    struct gw w[4] = {{.stmt = 1, .fail = true}, {.stmt = 2}, {.stmt = 3},
                      {.stmt = 4}};
    atomic_store(&fake.fail_commits, 1);
    run_group(w);
    assert_int_equal(w[0].ret, PH_STORAGE_ERR_INVALID);
    assert_int_equal(atomic_load(&w[0].calls), 1);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(w[i].ret, 0);
        assert_int_equal(atomic_load(&w[i].calls), 2);
    }
    assert_non_null(strstr(trace_text(), ":commit-failed "));
    assert_int_equal(atomic_load(&fake.fail_commits), 0);
    ph_sql_free(&shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statement_sql_is_the_drivers_else_the_callers),
        cmocka_unit_test(test_txn_commits_and_gives_the_marks_to_both_hooks),
        cmocka_unit_test(test_txn_runs_again_after_a_transient_failure),
        cmocka_unit_test(test_txn_gives_up_after_the_retries),
        cmocka_unit_test(test_txn_does_not_rerun_a_lasting_failure),
        cmocka_unit_test(test_lost_connection_goes_with_the_idle_ones),
        cmocka_unit_test(test_dead_idle_connection_is_replaced),
        cmocka_unit_test(test_statements_rows_and_one_value),
        cmocka_unit_test(test_builder_copies_values_and_counts_placeholders),
        cmocka_unit_test(test_one_writer_engine_gets_one_write_at_a_time),
        cmocka_unit_test(test_one_writer_engine_groups_waiting_writers),
        cmocka_unit_test(test_group_runs_again_when_its_commit_fails),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    ph_buf_free(&fake.trace);
    ph_buf_free(&hooks);
    return failed;
}
