/* SPDX-License-Identifier: MIT */
/* posthorn SDK: THREAD (RFC 5256 section 3) over messages whose keys
 * (posthorn/sort.h) a storage keeps.
 *
 * ORDEREDSUBJECT and REFERENCES are RFC 5256's algorithms as written; REFS
 * is Dovecot's THREAD=REFS (named after draft-ietf-morg-inthread, which
 * expired without an RFC): REFERENCES' steps 1 to 3, no subject merge
 * (step 5), the threads ordered by their newest message, and the siblings
 * by sent date as in step 6.
 *
 * The work is O(n log n) in the number of messages plus linear in the
 * references: Message IDs are found through a hash table keyed with
 * SipHash under a random key (hostile IDs cannot make it quadratic), and
 * the loop check of step 1 ("is A a descendant of B?") asks a link-cut
 * tree for B's root instead of walking up a chain that may be 100,000
 * messages long. Nothing recurses, so any depth is fine. */
#ifndef POSTHORN_THREAD_H
#define POSTHORN_THREAD_H

#include <posthorn/common.h>

enum ph_thread_algorithm {
    PH_THREAD_ORDEREDSUBJECT = 0,
    PH_THREAD_REFERENCES,
    PH_THREAD_REFS,
};

/* "ORDEREDSUBJECT", "REFERENCES", "REFS", case-insensitively. */
bool ph_thread_algorithm_lookup(const char *name, size_t len,
                                enum ph_thread_algorithm *alg_r) PH_WUR;
const char *ph_thread_algorithm_name(enum ph_thread_algorithm alg);

/* One searched message. The array given to ph_thread_build() is in
 * mailbox order (ascending sequence numbers): it decides which of two
 * messages with one Message-ID keeps it and breaks ties of sent dates. */
struct ph_thread_message {
    uint32_t number;   /* what THREAD prints: sequence number or UID */
    int64_t sent_date; /* ph_sort_keys.sent_date */
    /* ph_sort_keys.subject (compared as bytes: a collation key) and
     * .subject_is_reply. NULL counts as "". */
    const char *subject;
    bool subject_is_reply;
    /* The Message-ID and the references, normalized (ph_sort_keys) or raw
     * header values: both are read with ph_msgid_next(), the first valid
     * ID of message_id and every valid ID of references, in order. NULL
     * counts as none. */
    const char *message_id;
    const char *references;
};

#define PH_THREAD_NONE UINT32_MAX

/* The thread forest. A node is a message (message: its index in the
 * input) or a dummy (message PH_THREAD_NONE: a parent the search did not
 * find, which only REFERENCES and REFS leave, at the top level with two or
 * more children). Siblings are in THREAD's order. */
struct ph_thread_node {
    uint32_t message;
    uint32_t first_child, next_sibling; /* node indexes or PH_THREAD_NONE */
};

struct ph_thread_tree {
    struct ph_thread_node *nodes;
    uint32_t n_nodes;
    uint32_t first_root; /* the first thread's node, or PH_THREAD_NONE */
};

/* Threads n messages. Every message appears exactly once in the tree. The
 * caller frees tree_r with ph_thread_tree_free(). */
void ph_thread_build(enum ph_thread_algorithm alg,
                     const struct ph_thread_message *msgs, uint32_t n,
                     struct ph_thread_tree *tree_r);
void ph_thread_tree_free(struct ph_thread_tree *tree);

/* Appends the threads as the THREAD response writes them after "THREAD"
 * (RFC 5256 section 5, thread-list), e.g. "(2)(3 6 (4 23)(44 7 96))":
 * nothing for no messages. msgs gives the numbers. */
void ph_thread_write(const struct ph_thread_tree *tree,
                     const struct ph_thread_message *msgs, struct ph_buf *out);

#endif
