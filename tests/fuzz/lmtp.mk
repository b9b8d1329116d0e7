# SPDX-License-Identifier: MIT
# tests/fuzz/fuzz_lmtp: the LMTP command grammar and the DATA stream, with
# the module's source built in for coverage.
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_lmtp
tests_fuzz_fuzz_lmtp_SOURCES = tests/fuzz/fuzz_lmtp.c modules/lmtp/lmtp_syntax.c
tests_fuzz_fuzz_lmtp_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_lmtp_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_lmtp_LDADD = core/lib/libposthorn.la $(UNISTRING_LIBS)
endif
