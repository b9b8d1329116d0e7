# SPDX-License-Identifier: MIT
# tests/fuzz/imap: libFuzzer targets for the IMAP syntax layer. The sources
# under test are built into each target so that they carry the fuzzer's
# coverage instrumentation; the rest comes from libposthorn. Run e.g.
#   tests/fuzz/fuzz_imap_parser -dict=$(srcdir)/tests/fuzz/imap_parser.dict \
#       $(srcdir)/tests/fuzz/corpus/imap_parser
# (each target fuzz_T has T.dict and corpus/T; scripts/fuzz runs them all).
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_imap_parser tests/fuzz/fuzz_mutf7 \
	tests/fuzz/fuzz_seqset tests/fuzz/fuzz_search

tests_fuzz_fuzz_imap_parser_SOURCES = tests/fuzz/fuzz_imap_parser.c \
	core/lib/imap/imap_parser.c core/lib/imap/imap_condstore.c
tests_fuzz_fuzz_imap_parser_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_imap_parser_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_imap_parser_LDADD = core/lib/libposthorn.la

tests_fuzz_fuzz_mutf7_SOURCES = tests/fuzz/fuzz_mutf7.c core/lib/imap/imap_mutf7.c \
	core/lib/base/base64.c
tests_fuzz_fuzz_mutf7_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_mutf7_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_mutf7_LDADD = core/lib/libposthorn.la $(UNISTRING_LIBS)

tests_fuzz_fuzz_seqset_SOURCES = tests/fuzz/fuzz_seqset.c core/lib/imap/imap_util.c
tests_fuzz_fuzz_seqset_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_seqset_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_seqset_LDADD = core/lib/libposthorn.la

tests_fuzz_fuzz_search_SOURCES = tests/fuzz/fuzz_search.c \
	core/lib/imap/imap_search.c core/lib/imap/imap_parser.c core/lib/imap/imap_util.c
tests_fuzz_fuzz_search_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_search_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_search_LDADD = core/lib/libposthorn.la
endif
