/* SPDX-License-Identifier: MIT */
/* libFuzzer target: sequence sets. The first 4 bytes give the value of
 * "*" (often 0, an empty mailbox), the rest is the set. A parsed set must
 * hold only valid ranges; sorting must give ordered, disjoint, non-adjacent
 * ranges that hold the same numbers; writing and parsing again must give
 * the same set. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/imap-util.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_seqset: %s\n", what);
        abort();
    }
}

static bool raw_contains(const struct ph_imap_seqset *set, uint32_t n)
{
    for (size_t i = 0; i < set->n; i++) {
        if (n >= set->ranges[i].lo && n <= set->ranges[i].hi)
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t star = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
                    (uint32_t)data[2] << 8 | data[3];
    if (data[0] & 0x80)
        star = 0; /* half the time: an empty mailbox */
    else if (data[0] & 0x40)
        star &= 0xff;
    const char *s = (const char *)data + 4;
    size_t len = size - 4;

    struct ph_imap_seqset set, sorted, again;
    const char *error = NULL;
    if (ph_imap_seqset_parse(s, len, star, 64, &set, &error) < 0) {
        check(error != NULL && *error != '\0', "no error text");
        ph_imap_seqset_clear(&set);
        return 0;
    }
    for (size_t i = 0; i < set.n; i++) {
        const struct ph_imap_seq_range *r = &set.ranges[i];
        check(r->lo >= 1 && r->lo <= r->hi, "bad range");
    }
    check(set.n <= 64, "range limit");
    check(set.has_star == (memchr(s, '*', len) != NULL), "has_star");

    check(ph_imap_seqset_parse(s, len, star, 64, &sorted, &error) == 0,
          "not deterministic");
    ph_imap_seqset_sort(&sorted);
    for (size_t i = 0; i < sorted.n; i++) {
        check(sorted.ranges[i].lo <= sorted.ranges[i].hi, "sorted range");
        if (i > 0)
            check(sorted.ranges[i].lo > sorted.ranges[i - 1].hi + 1ull,
                  "sorted ranges overlap or touch");
    }
    /* The same numbers, probed at every range edge. */
    for (size_t i = 0; i < set.n; i++) {
        const uint32_t probes[] = {set.ranges[i].lo, set.ranges[i].hi,
                                   set.ranges[i].lo - 1, set.ranges[i].hi + 1u};
        for (size_t k = 0; k < 4; k++)
            check(raw_contains(&set, probes[k]) ==
                      ph_imap_seqset_contains(&sorted, probes[k]),
                  "sorting changed the members");
    }
    uint64_t count = ph_imap_seqset_count(&sorted);
    check(count <= UINT32_MAX, "count");
    check(ph_imap_seqset_max(&sorted) == ph_imap_seqset_max(&set), "max");

    struct ph_buf out = {0};
    ph_imap_seqset_write(&out, &sorted);
    if (sorted.n == 0) {
        check(out.len == 0, "empty set written");
    } else {
        check(ph_imap_seqset_parse(out.data, out.len, star, 0, &again,
                                   &error) == 0,
              "written set does not parse");
        check(!again.has_star, "written set has *");
        ph_imap_seqset_sort(&again);
        check(again.n == sorted.n &&
                  memcmp(again.ranges, sorted.ranges,
                         sorted.n * sizeof(*sorted.ranges)) == 0,
              "written set differs");
        ph_imap_seqset_clear(&again);
    }
    ph_buf_free(&out);
    ph_imap_seqset_clear(&set);
    ph_imap_seqset_clear(&sorted);
    return 0;
}
