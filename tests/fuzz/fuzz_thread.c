/* SPDX-License-Identifier: MIT */
/* libFuzzer target: base subjects, collation keys, Message IDs and THREAD.
 *
 * The input is a mailbox, one message a line: subject TAB Message-ID TAB
 * References TAB In-Reply-To TAB date (any field may be missing). With a
 * first byte of '*' every line is repeated 100 times, each copy with its
 * IDs made distinct, so that small inputs make large mailboxes and a
 * quadratic step shows as a timeout. Checks:
 *   - the base subject is a fixed point (RFC 5256 2.1 again changes
 *     nothing, finds no reply) and collation keys are idempotent, NUL-free;
 *   - ph_thread_references() gives IDs that read back as themselves;
 *   - every algorithm puts every message in the tree exactly once, no
 *     dummy without children, and writes balanced thread-list syntax. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/sort.h>
#include <posthorn/thread.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_thread: %s\n", what);
        abort();
    }
}

static bool same(const struct ph_buf *a, const struct ph_buf *b)
{
    return a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_subject(const char *s, size_t len)
{
    struct ph_buf base = {0}, again = {0}, raw = {0};
    (void)ph_sort_base_subject(s, len, &raw);
    (void)ph_sort_base_subject_decoded(s, len, &base);
    check(!ph_sort_base_subject_decoded(base.data, base.len, &again),
          "a base subject is a reply");
    check(same(&base, &again), "base subject is not a fixed point");
    for (int c = 0; c < 3; c++) {
        struct ph_buf k1 = {0}, k2 = {0};
        ph_collation_key((enum ph_collation)c, s, len, &k1);
        check(k1.len == 0 || memchr(k1.data, '\0', k1.len) == NULL,
              "NUL in a collation key");
        ph_collation_key((enum ph_collation)c, k1.data, k1.len, &k2);
        check(same(&k1, &k2), "collation key is not idempotent");
        ph_buf_free(&k1);
        ph_buf_free(&k2);
    }
    ph_buf_free(&base);
    ph_buf_free(&again);
    ph_buf_free(&raw);
}

struct field {
    const char *p;
    size_t len;
};

/* Splits a line at tabs into n fields (missing ones empty). */
static void split(const char *line, size_t len, struct field *f, size_t n)
{
    size_t i = 0;
    memset(f, 0, n * sizeof(*f));
    f[0].p = line;
    for (size_t k = 0; k < len; k++) {
        if (line[k] == '\t' && i + 1 < n) {
            f[++i].p = line + k + 1;
            continue;
        }
        f[i].len++;
    }
}

static char *dup_field(const struct field *f, const char *suffix)
{
    struct ph_buf b = {0};
    ph_buf_append(&b, f->p ? f->p : "", f->len);
    /* Make the copies' IDs distinct: "@" becomes "@<copy>.". */
    if (suffix != NULL && b.len > 0) {
        struct ph_buf o = {0};
        for (size_t i = 0; i < b.len; i++) {
            ph_buf_putc(&o, b.data[i]);
            if (b.data[i] == '@')
                ph_buf_puts(&o, suffix);
        }
        ph_buf_free(&b);
        return ph_buf_steal(&o);
    }
    return ph_buf_steal(&b);
}

static void check_tree(const struct ph_thread_tree *t, uint32_t n)
{
    unsigned *seen = calloc(n + 1, sizeof(*seen));
    uint32_t *stack = malloc((t->n_nodes + 1) * sizeof(*stack));
    size_t sp = 0, visited = 0;
    for (uint32_t r = t->first_root; r != PH_THREAD_NONE;
         r = t->nodes[r].next_sibling) {
        check(sp <= t->n_nodes, "a root list longer than the tree");
        stack[sp++] = r;
    }
    while (sp > 0) {
        uint32_t v = stack[--sp];
        check(++visited <= t->n_nodes, "the tree has a cycle");
        const struct ph_thread_node *nd = &t->nodes[v];
        if (nd->message == PH_THREAD_NONE)
            check(nd->first_child != PH_THREAD_NONE, "an empty dummy");
        else
            seen[nd->message]++;
        for (uint32_t c = nd->first_child; c != PH_THREAD_NONE;
             c = t->nodes[c].next_sibling) {
            check(sp <= t->n_nodes, "a child list longer than the tree");
            stack[sp++] = c;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        check(seen[i] == 1, "a message is not in the tree exactly once");
    free(stack);
    free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    check_subject(in, size);

    bool amplify = size > 0 && in[0] == '*';
    unsigned copies = amplify ? 100 : 1;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += in[i] == '\n';
    lines++;
    if (lines > 2000)
        return 0;
    uint32_t n = (uint32_t)(lines * copies);
    struct ph_thread_message *m = calloc(n, sizeof(*m));
    char **owned = calloc((size_t)n * 3, sizeof(*owned));
    uint32_t k = 0;
    for (unsigned c = 0; c < copies; c++) {
        char suffix[16];
        snprintf(suffix, sizeof(suffix), "%u.", c);
        size_t start = 0;
        for (size_t i = 0; i <= size; i++) {
            if (i < size && in[i] != '\n')
                continue;
            struct field f[5];
            split(in + start, i - start, f, 5);
            start = i + 1;
            struct ph_buf b = {0}, key = {0}, refs = {0};
            m[k].subject_is_reply = ph_sort_base_subject(f[0].p, f[0].len, &b);
            ph_collation_key(PH_COLLATION_DEFAULT, b.data, b.len, &key);
            ph_buf_free(&b);
            char *id = dup_field(&f[1], amplify ? suffix : NULL);
            char *r = dup_field(&f[2], amplify ? suffix : NULL);
            char *irt = dup_field(&f[3], amplify ? suffix : NULL);
            ph_thread_references(f[2].len ? r : NULL, strlen(r),
                                 f[3].len ? irt : NULL, strlen(irt), &refs);
            if (c == 0) {
                /* The normalized list reads back as itself. */
                struct ph_buf back = {0};
                ph_thread_references(refs.data ? refs.data : "", refs.len, NULL,
                                     0, &back);
                check(same(&refs, &back), "references do not read back");
                ph_buf_free(&back);
            }
            free(r);
            free(irt);
            m[k].number = k + 1;
            int64_t date = (int64_t)(k % 7);
            for (size_t d = 0; d < f[4].len && d < 6; d++)
                date = date * 10 + (unsigned char)f[4].p[d] % 10;
            m[k].sent_date = date;
            m[k].subject = owned[3 * k] = ph_buf_steal(&key);
            m[k].message_id = owned[3 * k + 1] = id;
            m[k].references = owned[3 * k + 2] = ph_buf_steal(&refs);
            k++;
        }
    }
    check(k == n, "line count");
    for (int alg = 0; alg < 3; alg++) {
        struct ph_thread_tree t;
        ph_thread_build((enum ph_thread_algorithm)alg, m, n, &t);
        check_tree(&t, n);
        struct ph_buf out = {0};
        ph_thread_write(&t, m, &out);
        int depth = 0;
        for (size_t i = 0; i < out.len; i++) {
            depth += out.data[i] == '(' ? 1 : out.data[i] == ')' ? -1 : 0;
            check(depth >= 0, "unbalanced thread-list");
            check(!(out.data[i] == '(' && i + 1 < out.len &&
                    out.data[i + 1] == ')'),
                  "an empty thread-list");
        }
        check(depth == 0, "unbalanced thread-list");
        ph_buf_free(&out);
        ph_thread_tree_free(&t);
    }
    for (size_t i = 0; i < (size_t)n * 3; i++)
        free(owned[i]);
    free(owned);
    free(m);
    return 0;
}
