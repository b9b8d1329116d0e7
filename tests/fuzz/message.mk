# SPDX-License-Identifier: MIT
# tests/fuzz/message: libFuzzer targets for the message parser (parse,
# chunking, serialization, sections, SEARCH decoding) and for reading a
# stored message info. The parser's sources are built into the targets so
# that they carry the fuzzer's coverage instrumentation. Run with
#   tests/fuzz/fuzz_message -dict=$(srcdir)/tests/fuzz/message.dict \
#       $(srcdir)/tests/fuzz/corpus/message
#   tests/fuzz/fuzz_message_blob $(srcdir)/tests/fuzz/corpus/message_blob
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_message tests/fuzz/fuzz_message_blob
fuzz_message_sources = \
	core/lib/base/base64.c \
	core/lib/mail/message-private.h \
	core/lib/mail/message_header.c \
	core/lib/mail/message_imap.c \
	core/lib/mail/message_normalize.c \
	core/lib/mail/message_parser.c \
	core/lib/mail/message_rfc822.c \
	core/lib/mail/message_search.c \
	core/lib/mail/message_section.c \
	core/lib/mail/message_serialize.c \
	core/lib/mail/mime_content.c \
	core/lib/mail/mime_decode.c \
	core/lib/mail/rfc2047.c \
	core/lib/mail/rfc5322_date.c
tests_fuzz_fuzz_message_SOURCES = tests/fuzz/fuzz_message.c \
	$(fuzz_message_sources)
tests_fuzz_fuzz_message_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_message_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_message_LDADD = core/lib/libposthorn.la $(UNISTRING_LIBS)
tests_fuzz_fuzz_message_blob_SOURCES = tests/fuzz/fuzz_message_blob.c \
	$(fuzz_message_sources)
tests_fuzz_fuzz_message_blob_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_message_blob_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_message_blob_LDADD = core/lib/libposthorn.la \
	$(UNISTRING_LIBS)
endif
