# SPDX-License-Identifier: MIT
# fuzz_normalize: every normalization method, idempotence and UTF-8 checks.
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_normalize
tests_fuzz_fuzz_normalize_SOURCES = tests/fuzz/fuzz_normalize.c
tests_fuzz_fuzz_normalize_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_normalize_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_normalize_LDADD = core/lib/libposthorn.la $(UNISTRING_LIBS)
endif
