/* SPDX-License-Identifier: MIT */
/* Shared helpers of the message parser tests (tests/unit/test_message*.c). */
#ifndef TEST_MESSAGE_H
#define TEST_MESSAGE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <posthorn/message.h>

/* Reads a whole file; NULL when it cannot be read. */
char *tm_read_file(const char *path, size_t *len_r);
/* $top_srcdir/rel, or rel when top_srcdir is not set. */
char *tm_srcdir_path(const char *rel);
/* Normalizes and parses raw bytes; *msg_r gets the normalized bytes. */
struct ph_message_info *tm_parse_raw(const char *raw, size_t len, char **msg_r,
                                     size_t *msg_len_r);
/* Parses msg fed in chunks of the given sizes (0 ends the list; the last
 * size repeats), for split tests. */
struct ph_message_info *tm_parse_chunked(const char *msg, size_t len,
                                         size_t first, size_t rest);
/* The serialized form, as a canonical fingerprint of a whole result. */
char *tm_serialize(const struct ph_message_info *info, size_t *len_r);
/* Fails the test, showing both values, when they differ. */
void tm_assert_bytes(const char *what, const char *expected, size_t elen,
                     const char *actual, size_t alen);
/* The bytes of a section of msg, as FETCH BODY[spec] sends them (the
 * HEADER.FIELDS filter applied); ABSENT gives "". */
void tm_section(const struct ph_message_info *info, const char *msg,
                const char *spec, struct ph_buf *out);
/* Unescapes \r \n \t \\ \xHH. */
void tm_unescape(const char *s, size_t len, struct ph_buf *out);

/* Groups, one per file. */
int tm_run_fixture_tests(void);
int tm_run_corpus_tests(void);
int tm_run_decode_tests(void);
int tm_run_limit_tests(void);

#endif
