/* SPDX-License-Identifier: MIT */
/* libFuzzer target for ph_message_info_deserialize(): stored infos come
 * from a database and are hostile. Anything accepted must serialize back to
 * the same bytes and answer every section lookup inside the message. Run
 * with
 *   fuzz_message_blob tests/fuzz/corpus/message_blob */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posthorn/message.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_message_blob: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ph_message_info *info = NULL;
    const char *error = NULL;
    if (ph_message_info_deserialize(data, size, &info, &error) != 0) {
        check(info == NULL && error != NULL, "error without text");
        return 0;
    }
    void *s;
    size_t len;
    ph_message_info_serialize(info, &s, &len);
    check(len == size && memcmp(s, data, size) == 0, "not a round trip");
    free(s);

    static const char *const specs[] = {
        "",
        "1",
        "2",
        "1.1",
        "1.2",
        "2.1",
        "1.MIME",
        "2.MIME",
        "1.1.MIME",
        "HEADER",
        "TEXT",
        "1.HEADER",
        "1.TEXT",
        "2.HEADER",
        "1.2.3.4",
        "3.1.2",
        "HEADER.FIELDS (From)",
        "1.HEADER.FIELDS.NOT (To)",
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        uint64_t off, sz;
        const char *err;
        int r = ph_message_section_range(info, specs[i], &off, &sz, &err);
        check(r >= 0, "valid section refused");
        if (r == 1)
            check(off <= info->size && sz <= info->size - off,
                  "range outside the message");
    }
    for (uint32_t i = 0; i < info->n_parts; i++) {
        check(info->parts[i].type != NULL && info->parts[i].subtype != NULL,
              "type missing");
        check(info->parts[i].body_offset + info->parts[i].body_size <=
                  info->size,
              "part outside the message");
    }
    struct ph_strlist names = {0};
    ph_strlist_add(&names, "subject");
    struct ph_buf out = {0};
    ph_message_header_filter(info->header, info->header_size, &names, true,
                             &out);
    ph_buf_free(&out);
    ph_strlist_clear(&names);
    ph_message_info_free(&info);
    return 0;
}
