/* SPDX-License-Identifier: MIT */
/* The keys SORT and THREAD compare, computed once from a parsed message,
 * and the SORT comparison over them (RFC 5256 section 3, RFC 5957). */
#include <stdlib.h>
#include <string.h>

#include <posthorn/message.h>
#include <posthorn/sort.h>

#include "message-private.h"

static const char *const criterion_names[] = {
    [PH_SORT_ARRIVAL] = "ARRIVAL",
    [PH_SORT_CC] = "CC",
    [PH_SORT_DATE] = "DATE",
    [PH_SORT_FROM] = "FROM",
    [PH_SORT_SIZE] = "SIZE",
    [PH_SORT_SUBJECT] = "SUBJECT",
    [PH_SORT_TO] = "TO",
    [PH_SORT_DISPLAYFROM] = "DISPLAYFROM",
    [PH_SORT_DISPLAYTO] = "DISPLAYTO",
};

bool ph_sort_criterion_lookup(const char *name, size_t len,
                              enum ph_sort_criterion *crit_r)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(criterion_names); i++) {
        if (msg_ascii_eqz(name, len, criterion_names[i])) {
            *crit_r = (enum ph_sort_criterion)i;
            return true;
        }
    }
    return false;
}

const char *ph_sort_criterion_name(enum ph_sort_criterion crit)
{
    ph_assert((size_t)crit < PH_N_ELEMENTS(criterion_names));
    return criterion_names[crit];
}

/* The collation key of s, at most PH_SORT_KEY_MAX bytes and not cut inside
 * a UTF-8 sequence. */
static char *key_of(const char *s, size_t len)
{
    struct ph_buf k = {0};
    ph_collation_key(PH_COLLATION_DEFAULT, s, len, &k);
    if (k.len > PH_SORT_KEY_MAX) {
        size_t n = PH_SORT_KEY_MAX;
        while (n > 0 && ((unsigned char)k.data[n] & 0xC0) == 0x80)
            n--;
        k.len = n;
        k.data[n] = '\0';
    }
    return ph_buf_steal(&k);
}

/* The first address of the first field named name that has one: ENVELOPE
 * joins repeated address fields. */
static bool first_address(const struct ph_message_info *info, const char *name,
                          struct message_address *addr_r)
{
    size_t pos = 0;
    struct message_field f;
    memset(addr_r, 0, sizeof(*addr_r));
    while (info->header != NULL &&
           message_header_next(info->header, info->header_size, &pos, &f)) {
        if (f.name == NULL || !msg_ascii_eqz(f.name, f.name_len, name))
            continue;
        struct ph_buf v = {0};
        message_header_unfold(f.value, f.value_len, &v);
        message_address_clear(addr_r);
        bool found = message_address_first(v.data ? v.data : "", v.len, addr_r);
        ph_buf_free(&v);
        if (found)
            return true;
    }
    return false;
}

static void address_keys(const struct ph_message_info *info, const char *name,
                         char **mailbox_r, char **display_r)
{
    struct message_address a;
    struct ph_buf display = {0};
    if (first_address(info, name, &a)) {
        /* RFC 5957 section 3: the decoded addr-name if not empty, else
         * addr-mailbox@addr-host, else addr-mailbox. */
        if (a.has_name && a.name.len > 0)
            ph_rfc2047_decode(a.name.data, a.name.len, &display);
        if (display.len == 0 && a.has_mailbox) {
            ph_buf_append(&display, a.mailbox.data ? a.mailbox.data : "",
                          a.mailbox.len);
            if (a.has_domain) {
                ph_buf_putc(&display, '@');
                ph_buf_append(&display, a.domain.data ? a.domain.data : "",
                              a.domain.len);
            }
        }
    }
    if (mailbox_r != NULL)
        *mailbox_r =
            key_of(a.has_mailbox && a.mailbox.data ? a.mailbox.data : "",
                   a.has_mailbox ? a.mailbox.len : 0);
    if (display_r != NULL)
        *display_r = key_of(display.data ? display.data : "", display.len);
    ph_buf_free(&display);
    message_address_clear(&a);
}

void ph_sort_keys_from_info(const struct ph_message_info *info,
                            time_t internal_date, struct ph_sort_keys *keys_r)
{
    memset(keys_r, 0, sizeof(*keys_r));
    const char *hdr = info->header != NULL ? info->header : "";

    struct ph_buf b = {0};
    const char *subject = info->subject != NULL ? info->subject : "";
    keys_r->subject_is_reply =
        ph_sort_base_subject(subject, strlen(subject), &b);
    keys_r->subject = key_of(b.data ? b.data : "", b.len);
    ph_buf_free(&b);

    address_keys(info, "From", &keys_r->from, &keys_r->display_from);
    address_keys(info, "To", &keys_r->to, &keys_r->display_to);
    address_keys(info, "Cc", &keys_r->cc, NULL);

    keys_r->date_from_header = info->has_date;
    keys_r->sent_date =
        info->has_date ? (int64_t)info->date : (int64_t)internal_date;
    keys_r->arrival = (int64_t)internal_date;
    keys_r->size = info->size;

    size_t pos = 0;
    if (info->message_id != NULL)
        (void)ph_msgid_next(info->message_id, strlen(info->message_id), &pos,
                            &b);
    keys_r->message_id = ph_buf_steal(&b);

    char *refs = message_header_get(hdr, info->header_size, "References");
    char *irt = message_header_get(hdr, info->header_size, "In-Reply-To");
    ph_thread_references(refs, refs ? strlen(refs) : 0, irt,
                         irt ? strlen(irt) : 0, &b);
    keys_r->references = ph_buf_steal(&b);
    free(refs);
    free(irt);
}

void ph_sort_keys_clear(struct ph_sort_keys *keys)
{
    free(keys->subject);
    free(keys->from);
    free(keys->to);
    free(keys->cc);
    free(keys->display_from);
    free(keys->display_to);
    free(keys->message_id);
    free(keys->references);
    memset(keys, 0, sizeof(*keys));
}

static int str_key_compare(const char *a, const char *b)
{
    a = a != NULL ? a : "";
    b = b != NULL ? b : "";
    return ph_sort_key_compare(a, strlen(a), b, strlen(b));
}

static int num_compare(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int criterion_compare(const struct ph_sort_keys *a,
                             const struct ph_sort_keys *b,
                             enum ph_sort_criterion crit)
{
    switch (crit) {
    case PH_SORT_ARRIVAL: return num_compare(a->arrival, b->arrival);
    case PH_SORT_CC: return str_key_compare(a->cc, b->cc);
    case PH_SORT_DATE: return num_compare(a->sent_date, b->sent_date);
    case PH_SORT_FROM: return str_key_compare(a->from, b->from);
    case PH_SORT_SIZE: return a->size < b->size ? -1 : a->size > b->size;
    case PH_SORT_SUBJECT: return str_key_compare(a->subject, b->subject);
    case PH_SORT_TO: return str_key_compare(a->to, b->to);
    case PH_SORT_DISPLAYFROM:
        return str_key_compare(a->display_from, b->display_from);
    case PH_SORT_DISPLAYTO:
        return str_key_compare(a->display_to, b->display_to);
    }
    ph_assert(!"unknown sort criterion");
}

int ph_sort_keys_compare(const struct ph_sort_keys *a,
                         const struct ph_sort_keys *b,
                         const struct ph_sort_program_item *program,
                         size_t program_len)
{
    for (size_t i = 0; i < program_len; i++) {
        int r = criterion_compare(a, b, program[i].criterion);
        if (r != 0)
            return program[i].reverse ? -r : r;
    }
    return 0;
}

struct sort_ctx {
    const struct ph_sort_keys *const *keys;
    const struct ph_sort_program_item *program;
    size_t program_len;
};

/* Merge sort of indexes: stable, O(n log n), no qsort context needed. */
static void merge_sort(uint32_t *v, uint32_t *tmp, uint32_t n,
                       const struct sort_ctx *ctx)
{
    for (uint32_t width = 1; width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = lo + width < n ? lo + width : n;
            uint32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            uint32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int r = ph_sort_keys_compare(ctx->keys[v[j]], ctx->keys[v[i]],
                                             ctx->program, ctx->program_len);
                tmp[k++] = r < 0 ? v[j++] : v[i++];
            }
            while (i < mid)
                tmp[k++] = v[i++];
            while (j < hi)
                tmp[k++] = v[j++];
        }
        memcpy(v, tmp, n * sizeof(*v));
        if (width > UINT32_MAX / 2)
            break;
    }
}

void ph_sort_messages(const struct ph_sort_keys *const *keys, uint32_t n,
                      const struct ph_sort_program_item *program,
                      size_t program_len, uint32_t *order_r)
{
    for (uint32_t i = 0; i < n; i++)
        order_r[i] = i;
    if (n < 2)
        return;
    uint32_t *tmp = ph_malloc(n * sizeof(*tmp));
    struct sort_ctx ctx = {keys, program, program_len};
    merge_sort(order_r, tmp, n, &ctx);
    free(tmp);
}
