/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the message parser: parses the input whole and in
 * chunks (the results must be identical), serializes and deserializes the
 * result (must read back to the same bytes), resolves sections derived from
 * the part tree and checks every range lies inside the message, filters
 * headers, and streams every text part through the SEARCH decoder and
 * matcher. Run with
 *   fuzz_message -dict=tests/fuzz/message.dict tests/fuzz/corpus/message */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/message.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_message: %s\n", what);
        abort();
    }
}

static void sink(void *context, const char *text, size_t len)
{
    struct ph_message_matcher *m = context;
    (void)ph_message_matcher_feed(m, text, len);
}

/* Appends the section path of node idx ("1.2.3") the way FETCH names it;
 * false when the node has no number of its own (a message node). */
static void section_of(const struct ph_message_info *info, uint32_t idx,
                       struct ph_buf *out)
{
    uint32_t path[256];
    size_t n = 0;
    for (uint32_t i = idx; i != 0 && n < 256; i = info->parts[i].parent) {
        const struct ph_message_part *p = &info->parts[i];
        if (p->flags & PH_MESSAGE_PART_MESSAGE)
            continue; /* an embedded message shares its part's number */
        uint32_t k = 1;
        for (uint32_t c = info->parts[p->parent].first_child; c != i;
             c = info->parts[c].next_sibling)
            k++;
        path[n++] = k;
    }
    for (size_t i = n; i-- > 0;)
        ph_buf_printf(out, i + 1 == n ? "%u" : ".%u", path[i]);
}

static void check_sections(const struct ph_message_info *info, const char *msg,
                           size_t len)
{
    static const char *const suffixes[] = {"",
                                           ".MIME",
                                           ".HEADER",
                                           ".TEXT",
                                           ".1",
                                           ".2.MIME",
                                           ".HEADER.FIELDS (From Subject)",
                                           ".HEADER.FIELDS.NOT (To)"};
    uint32_t limit = info->n_parts < 64 ? info->n_parts : 64;
    for (uint32_t i = 0; i < limit; i++) {
        for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++) {
            struct ph_buf spec = {0};
            section_of(info, i, &spec);
            ph_buf_puts(&spec, suffixes[s]);
            const char *text = spec.data;
            if (text[0] == '.')
                text++; /* the message itself */
            struct ph_message_section sec;
            const char *error = NULL;
            if (ph_message_section_parse(text, strlen(text), &sec, &error) ==
                0) {
                uint64_t off, sz;
                if (ph_message_section_lookup(info, &sec, &off, &sz) ==
                    PH_MESSAGE_SECTION_FOUND) {
                    check(off <= len && sz <= len - off, "range outside");
                    if (sec.text == PH_MESSAGE_SECTION_HEADER_FIELDS ||
                        sec.text == PH_MESSAGE_SECTION_HEADER_FIELDS_NOT) {
                        struct ph_buf f = {0};
                        ph_message_header_filter(
                            msg + off, (size_t)sz, &sec.fields,
                            sec.text == PH_MESSAGE_SECTION_HEADER_FIELDS_NOT,
                            &f);
                        check(f.len <= sz + 2 * sz + 2, "filter grew");
                        ph_buf_free(&f);
                    }
                    ph_message_range_partial(&off, &sz, 3, 7);
                    check(off <= len && sz <= len - off && sz <= 7,
                          "partial outside");
                }
                ph_message_section_clear(&sec);
            }
            ph_buf_free(&spec);
        }
    }
}

static void check_search(const struct ph_message_info *info, const char *msg)
{
    struct ph_message_matcher *m =
        ph_message_matcher_new("\xc3\xa9t\xc3\xa9", 5);
    uint32_t limit = info->n_parts < 64 ? info->n_parts : 64;
    for (uint32_t i = 0; i < limit; i++) {
        const struct ph_message_part *p = &info->parts[i];
        if (!(p->flags & PH_MESSAGE_PART_TEXT) || p->n_children > 0)
            continue;
        struct ph_message_decoder *d = ph_message_decoder_new(
            p->encoding, p->charset != NULL ? p->charset : "us-ascii", sink, m);
        /* In uneven chunks, as a storage would read them. */
        const char *b = msg + p->body_offset;
        uint64_t left = p->body_size;
        size_t step = 1 + (size_t)(p->body_size % 17);
        while (left > 0) {
            size_t n = left < step ? (size_t)left : step;
            ph_message_decoder_feed(d, b, n);
            b += n;
            left -= n;
        }
        ph_message_decoder_finish(&d);
        ph_message_matcher_reset(m);
    }
    const char *hdrs[] = {info->subject, info->from, info->to};
    for (size_t i = 0; i < 3; i++) {
        if (hdrs[i] == NULL)
            continue;
        struct ph_buf out = {0};
        ph_rfc2047_decode(hdrs[i], strlen(hdrs[i]), &out);
        (void)ph_message_matcher_feed(m, out.data, out.len);
        ph_buf_free(&out);
        struct ph_strlist forms = {0};
        ph_message_address_forms(hdrs[i], strlen(hdrs[i]), &forms);
        ph_strlist_clear(&forms);
    }
    ph_message_matcher_free(&m);
}

static int mem_read(void *arg, uint64_t offset, uint64_t size,
                    ph_message_data_cb *cb, void *cb_arg)
{
    const char *msg = arg;
    return cb(cb_arg, msg + offset, (size_t)size);
}

static bool collect(void *arg, const char *data, size_t len)
{
    ph_buf_append(arg, data, len);
    return false;
}

/* SEARCH TEXT's text is its headers, then BODY's (what storage.sqlite
 * keeps as one). */
static void check_search_text(const struct ph_message_info *info,
                              const char *msg, size_t len)
{
    struct ph_buf all = {0}, split = {0};
    check(ph_message_search_text(info, len, PH_MESSAGE_TEXT_ALL, mem_read,
                                 (void *)msg, collect, &all) == 0,
          "text walk failed");
    check(ph_message_search_text(info, len, PH_MESSAGE_TEXT_HEADERS, mem_read,
                                 (void *)msg, collect, &split) == 0 &&
              ph_message_search_text(info, len, PH_MESSAGE_TEXT_BODY, mem_read,
                                     (void *)msg, collect, &split) == 0,
          "text walk failed");
    check(all.len == split.len &&
              (all.len == 0 || memcmp(all.data, split.data, all.len) == 0),
          "headers then body differ from the whole text");
    ph_buf_free(&all);
    ph_buf_free(&split);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return 0;
    /* Store the way a storage module does: normalized. */
    size_t len;
    char *msg = ph_crlf_normalize_buf(data, size, &len);

    struct ph_message_info *a = ph_message_parse(msg, len);
    size_t step = size > 0 ? 1 + data[0] % 31 : 1;
    struct ph_message_parser *p = ph_message_parser_new(NULL);
    for (size_t off = 0; off < len; off += step)
        ph_message_parser_feed(p, msg + off,
                               len - off < step ? len - off : step);
    struct ph_message_info *b = ph_message_parser_finish(&p);

    void *sa, *sb;
    size_t la, lb;
    ph_message_info_serialize(a, &sa, &la);
    ph_message_info_serialize(b, &sb, &lb);
    check(la == lb && memcmp(sa, sb, la) == 0, "chunking changed the result");
    check(a->size == len, "size");

    struct ph_message_info *c = NULL;
    const char *error = NULL;
    check(ph_message_info_deserialize(sa, la, &c, &error) == 0,
          "own serialization refused");
    void *sc;
    size_t lc;
    ph_message_info_serialize(c, &sc, &lc);
    check(lc == la && memcmp(sc, sa, la) == 0, "round trip changed");

    check_sections(c, msg, len);
    check_search(c, msg);
    check_search_text(c, msg, len);

    /* The section parser on raw input. */
    struct ph_message_section sec;
    if (ph_message_section_parse((const char *)data, size < 200 ? size : 200,
                                 &sec, &error) == 0) {
        uint64_t off, sz;
        if (ph_message_section_lookup(a, &sec, &off, &sz) ==
            PH_MESSAGE_SECTION_FOUND)
            check(off <= len && sz <= len - off, "parsed section outside");
        ph_message_section_clear(&sec);
    }
    time_t t;
    int tz;
    (void)ph_rfc5322_date_parse((const char *)data, size < 200 ? size : 200, &t,
                                &tz);

    free(sa);
    free(sb);
    free(sc);
    ph_message_info_free(&a);
    ph_message_info_free(&b);
    ph_message_info_free(&c);
    free(msg);
    return 0;
}
