/* SPDX-License-Identifier: MIT */
/* THREAD (RFC 5256 section 3): ORDEREDSUBJECT, REFERENCES, and REFS. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <posthorn/sort.h>
#include <posthorn/thread.h>

#include "message-private.h"

#define NONE PH_THREAD_NONE

static const char *const algorithm_names[] = {
    [PH_THREAD_ORDEREDSUBJECT] = "ORDEREDSUBJECT",
    [PH_THREAD_REFERENCES] = "REFERENCES",
    [PH_THREAD_REFS] = "REFS",
};

bool ph_thread_algorithm_lookup(const char *name, size_t len,
                                enum ph_thread_algorithm *alg_r)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(algorithm_names); i++) {
        if (msg_ascii_eqz(name, len, algorithm_names[i])) {
            *alg_r = (enum ph_thread_algorithm)i;
            return true;
        }
    }
    return false;
}

const char *ph_thread_algorithm_name(enum ph_thread_algorithm alg)
{
    ph_assert((size_t)alg < PH_N_ELEMENTS(algorithm_names));
    return algorithm_names[alg];
}

/* ---- A string -> uint32 hash table -------------------------------------
 *
 * Keyed SipHash-1-3 under a random key: Message IDs and subjects come from
 * mail anyone can send, so they must not be able to pick colliding keys
 * and make the table quadratic. */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
    do {                                                                       \
        v0 += v1;                                                              \
        v1 = ROTL(v1, 13);                                                     \
        v1 ^= v0;                                                              \
        v0 = ROTL(v0, 32);                                                     \
        v2 += v3;                                                              \
        v3 = ROTL(v3, 16);                                                     \
        v3 ^= v2;                                                              \
        v0 += v3;                                                              \
        v3 = ROTL(v3, 21);                                                     \
        v3 ^= v0;                                                              \
        v2 += v1;                                                              \
        v1 = ROTL(v1, 17);                                                     \
        v1 ^= v2;                                                              \
        v2 = ROTL(v2, 32);                                                     \
    } while (0)

static uint64_t siphash13(const uint64_t key[2], const void *data, size_t len)
{
    const unsigned char *in = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
    uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
    uint64_t v3 = 0x7465646279746573ULL ^ key[1];
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m = 0;
        for (unsigned j = 0; j < 8; j++)
            m |= (uint64_t)in[i + j] << (8 * j);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (unsigned j = 0; i + j < len; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

struct slot {
    uint64_t hash;
    size_t off, len; /* the key, in map.keys */
    uint32_t value;  /* NONE: empty */
};

struct strmap {
    struct slot *slots;
    size_t mask, used;
    struct ph_buf keys;
    uint64_t key[2];
};

static void strmap_init(struct strmap *m, const uint64_t key[2])
{
    memset(m, 0, sizeof(*m));
    m->mask = 63;
    m->slots = ph_malloc((m->mask + 1) * sizeof(*m->slots));
    for (size_t i = 0; i <= m->mask; i++)
        m->slots[i].value = NONE;
    m->key[0] = key[0];
    m->key[1] = key[1];
}

static void strmap_free(struct strmap *m)
{
    free(m->slots);
    ph_buf_free(&m->keys);
}

static struct slot *strmap_slot(struct strmap *m, uint64_t hash, const char *s,
                                size_t len)
{
    for (size_t i = (size_t)hash & m->mask;; i = (i + 1) & m->mask) {
        struct slot *sl = &m->slots[i];
        if (sl->value == NONE ||
            (sl->hash == hash && sl->len == len &&
             (len == 0 || memcmp(m->keys.data + sl->off, s, len) == 0)))
            return sl;
    }
}

static void strmap_grow(struct strmap *m)
{
    struct slot *old = m->slots;
    size_t old_n = m->mask + 1;
    m->mask = old_n * 2 - 1;
    m->slots = ph_malloc((m->mask + 1) * sizeof(*m->slots));
    for (size_t i = 0; i <= m->mask; i++)
        m->slots[i].value = NONE;
    for (size_t i = 0; i < old_n; i++) {
        if (old[i].value == NONE)
            continue;
        size_t j = (size_t)old[i].hash & m->mask;
        while (m->slots[j].value != NONE)
            j = (j + 1) & m->mask;
        m->slots[j] = old[i];
    }
    free(old);
}

/* The value of s, or NONE; *hash_r for a strmap_set() of it. */
static uint32_t strmap_get(struct strmap *m, const char *s, size_t len,
                           uint64_t *hash_r)
{
    *hash_r = siphash13(m->key, s, len);
    return strmap_slot(m, *hash_r, s, len)->value;
}

static void strmap_set(struct strmap *m, uint64_t hash, const char *s,
                       size_t len, uint32_t value)
{
    struct slot *sl = strmap_slot(m, hash, s, len);
    if (sl->value != NONE) {
        sl->value = value;
        return;
    }
    if ((m->used + 1) * 2 > m->mask + 1) {
        strmap_grow(m);
        sl = strmap_slot(m, hash, s, len);
    }
    sl->hash = hash;
    sl->off = m->keys.len;
    sl->len = len;
    sl->value = value;
    ph_buf_append(&m->keys, s, len);
    m->used++;
}

static void random_key(uint64_t key[2])
{
    if (getrandom(key, 2 * sizeof(*key), GRND_NONBLOCK) ==
        (ssize_t)(2 * sizeof(*key)))
        return;
    /* No entropy yet (early boot): still different for every call. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    key[0] = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uintptr_t)key;
    key[1] = (uint64_t)ts.tv_sec * 0xC2B2AE3D27D4EB4FULL ^ (uint64_t)time(NULL);
}

/* ---- Containers: the thread tree and a link-cut tree beside it ----------
 *
 * RFC 5256 step 1 links a parent A to a child B only if A is not a
 * descendant of B. B has no parent at that point (1.A links only such
 * children; 1.B breaks B's link first), so the question is whether B is
 * the root of A's tree; walking up from A would make a 100,000-message
 * reply chain quadratic. A link-cut tree (Sleator and Tarjan) answers it,
 * and links and cuts, in O(log n) amortized. */

struct cont {
    uint32_t msg; /* index of the message, or NONE for a dummy */
    /* After the pruning, parent is exact only at the top level (where the
     * subject merge needs it): spliced children keep a stale one. */
    uint32_t parent;
    uint32_t first_child, last_child, next, prev;
};

struct lct {
    uint32_t ch[2], p;
};

struct tctx {
    const struct ph_thread_message *msgs;
    uint32_t n;
    struct cont *c;
    struct lct *t;
    size_t nc, cap;
    uint64_t key[2];
};

#define ROOT 0u

static uint32_t cont_new(struct tctx *x, uint32_t msg)
{
    if (x->nc == x->cap) {
        size_t cap = x->cap;
        ph_array_grow(&x->c, &cap, x->nc + 1, sizeof(*x->c));
        x->t = ph_realloc(x->t, cap * sizeof(*x->t));
        x->cap = cap;
    }
    ph_assert(x->nc < NONE);
    uint32_t i = (uint32_t)x->nc++;
    x->c[i] = (struct cont){msg, NONE, NONE, NONE, NONE, NONE};
    x->t[i] = (struct lct){{NONE, NONE}, NONE};
    return i;
}

static void child_append(struct tctx *x, uint32_t parent, uint32_t child)
{
    struct cont *p = &x->c[parent], *c = &x->c[child];
    c->parent = parent;
    c->next = NONE;
    c->prev = p->last_child;
    if (p->last_child != NONE)
        x->c[p->last_child].next = child;
    else
        p->first_child = child;
    p->last_child = child;
}

/* Unlinks child from the list of parent (given: the field may be stale). */
static void child_unlink(struct tctx *x, uint32_t parent, uint32_t child)
{
    struct cont *p = &x->c[parent], *c = &x->c[child];
    if (c->prev != NONE)
        x->c[c->prev].next = c->next;
    else
        p->first_child = c->next;
    if (c->next != NONE)
        x->c[c->next].prev = c->prev;
    else
        p->last_child = c->prev;
    c->parent = c->prev = c->next = NONE;
}

static void child_insert_before(struct tctx *x, uint32_t parent,
                                uint32_t before, uint32_t child)
{
    struct cont *c = &x->c[child];
    c->parent = parent;
    c->next = before;
    c->prev = x->c[before].prev;
    if (c->prev != NONE)
        x->c[c->prev].next = child;
    else
        x->c[parent].first_child = child;
    x->c[before].prev = child;
}

static bool lct_is_root(const struct tctx *x, uint32_t v)
{
    uint32_t p = x->t[v].p;
    return p == NONE || (x->t[p].ch[0] != v && x->t[p].ch[1] != v);
}

static void lct_rotate(struct tctx *x, uint32_t v)
{
    struct lct *t = x->t;
    uint32_t y = t[v].p, z = t[y].p;
    int dv = t[y].ch[1] == v;
    if (!lct_is_root(x, y))
        t[z].ch[t[z].ch[1] == y] = v;
    t[v].p = z;
    uint32_t b = t[v].ch[!dv];
    t[y].ch[dv] = b;
    if (b != NONE)
        t[b].p = y;
    t[v].ch[!dv] = y;
    t[y].p = v;
}

static void lct_splay(struct tctx *x, uint32_t v)
{
    struct lct *t = x->t;
    while (!lct_is_root(x, v)) {
        uint32_t y = t[v].p;
        if (!lct_is_root(x, y)) {
            uint32_t z = t[y].p;
            bool zig_zig = (t[z].ch[0] == y) == (t[y].ch[0] == v);
            lct_rotate(x, zig_zig ? y : v);
        }
        lct_rotate(x, v);
    }
}

/* Makes the path from v's tree root to v preferred; v ends as the root of
 * its splay tree with the ancestors on its left. */
static void lct_access(struct tctx *x, uint32_t v)
{
    uint32_t last = NONE;
    for (uint32_t y = v; y != NONE; y = x->t[y].p) {
        lct_splay(x, y);
        x->t[y].ch[1] = last;
        last = y;
    }
    lct_splay(x, v);
}

static uint32_t lct_find_root(struct tctx *x, uint32_t v)
{
    lct_access(x, v);
    uint32_t r = v;
    while (x->t[r].ch[0] != NONE)
        r = x->t[r].ch[0];
    lct_splay(x, r);
    return r;
}

/* parent becomes child's parent; child has none. */
static void link(struct tctx *x, uint32_t parent, uint32_t child)
{
    child_append(x, parent, child);
    lct_access(x, child);
    x->t[child].p = parent;
}

static void cut(struct tctx *x, uint32_t child)
{
    child_unlink(x, x->c[child].parent, child);
    lct_access(x, child);
    uint32_t l = x->t[child].ch[0];
    if (l != NONE) {
        x->t[l].p = NONE;
        x->t[child].ch[0] = NONE;
    }
}

/* Would making parent the parent of child (which has none) make a loop? */
static bool makes_loop(struct tctx *x, uint32_t parent, uint32_t child)
{
    return parent == child || lct_find_root(x, parent) == child;
}

/* ---- REFERENCES step 1 --------------------------------------------------- */

static uint32_t id_container(struct tctx *x, struct strmap *ids, const char *id,
                             size_t len)
{
    uint64_t h;
    uint32_t v = strmap_get(ids, id, len, &h);
    if (v == NONE) {
        v = cont_new(x, NONE); /* a dummy until its message shows up */
        strmap_set(ids, h, id, len, v);
    }
    return v;
}

static void link_message(struct tctx *x, struct strmap *ids, uint32_t i,
                         struct ph_buf *b)
{
    const struct ph_thread_message *m = &x->msgs[i];
    uint32_t self = NONE;
    size_t pos = 0;
    ph_buf_reset(b);
    if (m->message_id != NULL &&
        ph_msgid_next(m->message_id, strlen(m->message_id), &pos, b)) {
        uint64_t h;
        uint32_t v = strmap_get(ids, b->data, b->len, &h);
        if (v == NONE) {
            self = cont_new(x, i);
            strmap_set(ids, h, b->data, b->len, self);
        } else if (x->c[v].msg == NONE) {
            self = v;
            x->c[v].msg = i;
        }
        /* else a duplicate: only the first message keeps the ID. */
    }
    if (self == NONE)
        self = cont_new(x, i); /* a unique ID of its own */

    /* (A) each reference the parent of the next, unless that one has a
     * parent already or the link would make a loop. */
    uint32_t prev = NONE;
    pos = 0;
    const char *refs = m->references != NULL ? m->references : "";
    size_t refs_len = strlen(refs);
    for (;;) {
        ph_buf_reset(b);
        if (!ph_msgid_next(refs, refs_len, &pos, b))
            break;
        uint32_t r = id_container(x, ids, b->data, b->len);
        if (prev != NONE && x->c[r].parent == NONE && !makes_loop(x, prev, r))
            link(x, prev, r);
        prev = r;
    }
    /* (B) the last reference is the parent: break any other link first. */
    if (x->c[self].parent == prev && prev != NONE)
        return;
    if (x->c[self].parent != NONE)
        cut(x, self);
    if (prev != NONE && !makes_loop(x, prev, self))
        link(x, prev, self);
}

/* ---- Ordering ------------------------------------------------------------ */

struct skey {
    int64_t date;
    uint32_t msg; /* mailbox order breaks ties (RFC 5256 2.2) */
    uint32_t node;
};

static int skey_cmp(const void *a, const void *b)
{
    const struct skey *x = a, *y = b;
    if (x->date != y->date)
        return x->date < y->date ? -1 : 1;
    return x->msg < y->msg ? -1 : x->msg > y->msg;
}

static struct skey msg_key(const struct tctx *x, uint32_t node)
{
    uint32_t m = x->c[node].msg;
    return (struct skey){x->msgs[m].sent_date, m, node};
}

/* A node's sort key: its message's, or for a dummy its first child's
 * (RFC 5256 steps 4 and 6). */
static struct skey node_key(const struct tctx *x, uint32_t node)
{
    uint32_t v = node;
    while (x->c[v].msg == NONE && x->c[v].first_child != NONE)
        v = x->c[v].first_child;
    struct skey k =
        x->c[v].msg == NONE ? (struct skey){0, NONE, v} : msg_key(x, v);
    k.node = node;
    return k;
}

/* Sorts the children of parent by key (keys[] of the children given by
 * key_of, a scratch array of nc entries). */
static void sort_children(struct tctx *x, uint32_t parent,
                          const struct skey *keys_by_node, struct skey *scratch)
{
    size_t n = 0;
    for (uint32_t c = x->c[parent].first_child; c != NONE; c = x->c[c].next)
        scratch[n++] = keys_by_node[c];
    if (n < 2)
        return;
    qsort(scratch, n, sizeof(*scratch), skey_cmp);
    x->c[parent].first_child = x->c[parent].last_child = NONE;
    for (size_t i = 0; i < n; i++)
        child_append(x, parent, scratch[i].node);
}

struct frame {
    uint32_t node, next;
};

/* Visits the tree under ROOT in post-order (children first), without
 * recursion: visit(x, node, parent). */
static void post_order(struct tctx *x,
                       void (*visit)(struct tctx *, uint32_t, uint32_t, void *),
                       void *arg)
{
    struct frame *st = NULL;
    size_t n = 0, cap = 0;
    ph_array_grow(&st, &cap, 1, sizeof(*st));
    st[n++] = (struct frame){ROOT, x->c[ROOT].first_child};
    while (n > 0) {
        struct frame *f = &st[n - 1];
        uint32_t c = f->next;
        if (c == NONE) {
            uint32_t node = f->node;
            n--;
            visit(x, node, n > 0 ? st[n - 1].node : NONE, arg);
            continue;
        }
        f->next = x->c[c].next; /* read before c is visited and moved */
        ph_array_grow(&st, &cap, n + 1, sizeof(*st));
        st[n++] = (struct frame){c, x->c[c].first_child};
    }
    free(st);
}

/* Step 3: prune the dummies. */
static void prune_visit(struct tctx *x, uint32_t node, uint32_t parent,
                        void *arg)
{
    (void)arg;
    struct cont *d = &x->c[node];
    if (node == ROOT || d->msg != NONE)
        return;
    uint32_t first = d->first_child, last = d->last_child;
    if (first == NONE) {
        child_unlink(x, parent, node);
        return;
    }
    if (parent == ROOT) {
        /* Children go to the root only when there is just one. */
        if (first == last) {
            child_insert_before(x, ROOT, node, first);
            d->first_child = d->last_child = NONE;
            child_unlink(x, ROOT, node);
        }
        return;
    }
    /* Splice the children in where the dummy was. */
    struct cont *p = &x->c[parent];
    x->c[first].prev = d->prev;
    if (d->prev != NONE)
        x->c[d->prev].next = first;
    else
        p->first_child = first;
    x->c[last].next = d->next;
    if (d->next != NONE)
        x->c[d->next].prev = last;
    else
        p->last_child = last;
    d->first_child = d->last_child = d->prev = d->next = NONE;
    d->parent = NONE;
}

struct order_ctx {
    struct skey *keys;   /* by node: the key its siblings sort it by */
    struct skey *newest; /* by node: the newest message under it (REFS) */
    struct skey *scratch;
    bool refs;
};

/* Step 6 (and REFS' ordering): sort every set of siblings, the youngest
 * generation first, so that a dummy's first child is known. */
static void order_visit(struct tctx *x, uint32_t node, uint32_t parent,
                        void *arg)
{
    (void)parent;
    struct order_ctx *o = arg;
    if (node == ROOT && o->refs) {
        /* REFS: threads by their newest message. */
        for (uint32_t c = x->c[ROOT].first_child; c != NONE; c = x->c[c].next)
            o->keys[c] = o->newest[c];
    }
    sort_children(x, node, o->keys, o->scratch);
    if (node == ROOT)
        return;
    o->keys[node] = node_key(x, node);
    struct skey newest =
        x->c[node].msg != NONE ? o->keys[node] : (struct skey){0, NONE, node};
    for (uint32_t c = x->c[node].first_child; c != NONE; c = x->c[c].next) {
        if (newest.msg == NONE || skey_cmp(&o->newest[c], &newest) > 0)
            newest = o->newest[c];
    }
    newest.node = node;
    o->newest[node] = newest;
}

/* ---- REFERENCES step 5: merge threads by subject ----------------------- */

static const char *thread_subject(const struct tctx *x, uint32_t node)
{
    uint32_t m = x->c[node].msg;
    if (m == NONE) {
        uint32_t f = x->c[node].first_child;
        m = f == NONE ? NONE : x->c[f].msg;
    }
    if (m == NONE || x->msgs[m].subject == NULL)
        return "";
    return x->msgs[m].subject;
}

static bool is_reply(const struct tctx *x, uint32_t node)
{
    uint32_t m = x->c[node].msg;
    return m != NONE && x->msgs[m].subject_is_reply;
}

static bool is_dummy(const struct tctx *x, uint32_t node)
{
    return x->c[node].msg == NONE;
}

static void merge_subjects(struct tctx *x)
{
    size_t n = 0;
    for (uint32_t c = x->c[ROOT].first_child; c != NONE; c = x->c[c].next)
        n++;
    uint32_t *roots = ph_malloc((n + 1) * sizeof(*roots));
    n = 0;
    for (uint32_t c = x->c[ROOT].first_child; c != NONE; c = x->c[c].next)
        roots[n++] = c;

    struct strmap table;
    strmap_init(&table, x->key);
    uint64_t h;
    /* (B) one message per subject: a dummy wins, then a non-reply. */
    for (size_t i = 0; i < n; i++) {
        uint32_t cur = roots[i];
        const char *s = thread_subject(x, cur);
        size_t len = strlen(s);
        if (len == 0)
            continue;
        uint32_t t = strmap_get(&table, s, len, &h);
        if (t == NONE ||
            (!is_dummy(x, t) &&
             (is_dummy(x, cur) || (is_reply(x, t) && !is_reply(x, cur)))))
            strmap_set(&table, h, s, len, cur);
    }
    /* (C) merge each thread into the one of the table. */
    for (size_t i = 0; i < n; i++) {
        uint32_t cur = roots[i];
        if (x->c[cur].parent != ROOT)
            continue; /* merged into another thread already */
        const char *s = thread_subject(x, cur);
        size_t len = strlen(s);
        if (len == 0)
            continue;
        uint32_t t = strmap_get(&table, s, len, &h);
        if (t == cur || t == NONE)
            continue;
        if (is_dummy(x, cur) && is_dummy(x, t)) {
            /* Both dummies: cur's children join t's. */
            uint32_t c = x->c[cur].first_child;
            while (c != NONE) {
                uint32_t next = x->c[c].next;
                child_append(x, t, c);
                c = next;
            }
            x->c[cur].first_child = x->c[cur].last_child = NONE;
            child_unlink(x, ROOT, cur);
        } else if (is_dummy(x, t) || (is_reply(x, cur) && !is_reply(x, t))) {
            child_unlink(x, ROOT, cur);
            child_append(x, t, cur);
        } else if (is_dummy(x, cur)) {
            /* Cannot happen after (B), which prefers a dummy; kept sane. */
            child_unlink(x, ROOT, t);
            child_append(x, cur, t);
            strmap_set(&table, h, s, len, cur);
        } else {
            /* A new dummy holds both, in the place of t. */
            uint32_t d = cont_new(x, NONE);
            child_insert_before(x, ROOT, t, d);
            child_unlink(x, ROOT, t);
            child_unlink(x, ROOT, cur);
            child_append(x, d, t);
            child_append(x, d, cur);
            strmap_set(&table, h, s, len, d);
        }
    }
    strmap_free(&table);
    free(roots);
}

static void sort_root_by_first_message(struct tctx *x, struct skey *keys,
                                       struct skey *scratch)
{
    for (uint32_t c = x->c[ROOT].first_child; c != NONE; c = x->c[c].next) {
        if (is_dummy(x, c))
            sort_children(x, c, keys, scratch);
        keys[c] = node_key(x, c);
    }
    sort_children(x, ROOT, keys, scratch);
}

/* ---- The algorithms ------------------------------------------------------ */

static void thread_references(struct tctx *x, bool refs)
{
    struct strmap ids;
    strmap_init(&ids, x->key);
    struct ph_buf b = {0};
    (void)cont_new(x, NONE); /* ROOT */
    for (uint32_t i = 0; i < x->n; i++)
        link_message(x, &ids, i, &b);
    ph_buf_free(&b);
    strmap_free(&ids);

    /* (2) the parentless under the root, in the order they were made. */
    for (uint32_t i = 1; i < x->nc; i++)
        if (x->c[i].parent == NONE)
            child_append(x, ROOT, i);
    post_order(x, prune_visit, NULL); /* (3) */

    /* Room for the dummies step 5 may add: at most one per root child. */
    size_t room = x->nc * 2 + 1;
    struct order_ctx o = {
        .keys = ph_calloc(room, sizeof(struct skey)),
        .newest = ph_calloc(room, sizeof(struct skey)),
        .scratch = ph_calloc(room, sizeof(struct skey)),
        .refs = refs,
    };
    for (uint32_t i = 0; i < x->nc; i++)
        if (x->c[i].msg != NONE)
            o.keys[i] = msg_key(x, i);
    if (!refs) {
        sort_root_by_first_message(x, o.keys, o.scratch); /* (4) */
        merge_subjects(x);                                /* (5) */
        ph_assert(x->nc <= room);
    }
    post_order(x, order_visit, &o); /* (6) */
    free(o.keys);
    free(o.newest);
    free(o.scratch);
}

/* ORDEREDSUBJECT: by base subject, then sent date; one thread per subject,
 * its first message the parent of all others; threads by their first. */
struct os_key {
    const char *subject;
    int64_t date;
    uint32_t msg;
};

static int os_cmp(const void *a, const void *b)
{
    const struct os_key *x = a, *y = b;
    int r = strcmp(x->subject, y->subject);
    if (r != 0)
        return r;
    if (x->date != y->date)
        return x->date < y->date ? -1 : 1;
    return x->msg < y->msg ? -1 : x->msg > y->msg;
}

static void thread_orderedsubject(struct tctx *x)
{
    (void)cont_new(x, NONE); /* ROOT */
    struct os_key *v = ph_malloc((x->n + 1) * sizeof(*v));
    for (uint32_t i = 0; i < x->n; i++) {
        const char *s = x->msgs[i].subject;
        v[i] = (struct os_key){s != NULL ? s : "", x->msgs[i].sent_date, i};
    }
    qsort(v, x->n, sizeof(*v), os_cmp);
    struct skey *firsts = ph_malloc((x->n + 1) * sizeof(*firsts));
    size_t nthreads = 0;
    for (uint32_t i = 0; i < x->n;) {
        uint32_t head = cont_new(x, v[i].msg);
        firsts[nthreads++] = msg_key(x, head);
        uint32_t j = i + 1;
        for (; j < x->n && strcmp(v[j].subject, v[i].subject) == 0; j++)
            child_append(x, head, cont_new(x, v[j].msg));
        i = j;
    }
    qsort(firsts, nthreads, sizeof(*firsts), skey_cmp);
    for (size_t i = 0; i < nthreads; i++)
        child_append(x, ROOT, firsts[i].node);
    free(firsts);
    free(v);
}

void ph_thread_build(enum ph_thread_algorithm alg,
                     const struct ph_thread_message *msgs, uint32_t n,
                     struct ph_thread_tree *tree_r)
{
    struct tctx x = {.msgs = msgs, .n = n};
    random_key(x.key);
    switch (alg) {
    case PH_THREAD_ORDEREDSUBJECT: thread_orderedsubject(&x); break;
    case PH_THREAD_REFERENCES:
    case PH_THREAD_REFS: thread_references(&x, alg == PH_THREAD_REFS); break;
    default: ph_assert(!"unknown thread algorithm");
    }
    /* The tree without ROOT: node i is container i + 1. */
    tree_r->n_nodes = (uint32_t)(x.nc - 1);
    tree_r->nodes = ph_malloc((x.nc) * sizeof(*tree_r->nodes));
#define SHIFT(v) ((v) == NONE ? NONE : (v)-1)
    for (size_t i = 1; i < x.nc; i++) {
        tree_r->nodes[i - 1] = (struct ph_thread_node){
            x.c[i].msg, SHIFT(x.c[i].first_child), SHIFT(x.c[i].next)};
    }
    tree_r->first_root = SHIFT(x.c[ROOT].first_child);
#undef SHIFT
    free(x.c);
    free(x.t);
}

void ph_thread_tree_free(struct ph_thread_tree *tree)
{
    free(tree->nodes);
    memset(tree, 0, sizeof(*tree));
}

/* ---- The THREAD response ------------------------------------------------- */

static void put_number(struct ph_buf *out, uint32_t v)
{
    char d[10];
    size_t n = 0;
    do {
        d[sizeof(d) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    ph_buf_append(out, d + sizeof(d) - n, n);
}

void ph_thread_write(const struct ph_thread_tree *tree,
                     const struct ph_thread_message *msgs, struct ph_buf *out)
{
    const struct ph_thread_node *nd = tree->nodes;
    /* The stack holds, per open nested list, the sibling to write next. */
    uint32_t *st = NULL;
    size_t n = 0, cap = 0;
    for (uint32_t top = tree->first_root; top != NONE;
         top = nd[top].next_sibling) {
        /* thread-list = "(" (thread-members / thread-nested) ")" */
        ph_buf_putc(out, '(');
        uint32_t cur = top;
        bool first = true;
        for (;;) {
            if (nd[cur].message != NONE) {
                if (!first)
                    ph_buf_putc(out, ' ');
                put_number(out, msgs[nd[cur].message].number);
                first = false;
            }
            uint32_t c = nd[cur].first_child;
            if (c != NONE && nd[c].next_sibling == NONE) {
                cur = c; /* one child: the next member */
                continue;
            }
            if (c != NONE) {
                /* thread-nested = 2*thread-list */
                if (!first)
                    ph_buf_putc(out, ' ');
                ph_array_grow(&st, &cap, n + 1, sizeof(*st));
                st[n++] = nd[c].next_sibling;
                ph_buf_putc(out, '(');
                cur = c;
                first = true;
                continue;
            }
            /* A leaf ends this list; go on with the next open sibling. */
            ph_buf_putc(out, ')');
            while (n > 0 && st[n - 1] == NONE) {
                n--;
                ph_buf_putc(out, ')');
            }
            if (n == 0)
                break;
            cur = st[n - 1];
            st[n - 1] = nd[cur].next_sibling;
            ph_buf_putc(out, '(');
            first = true;
        }
    }
    free(st);
}
