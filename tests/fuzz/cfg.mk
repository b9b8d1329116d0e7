# SPDX-License-Identifier: MIT
# tests/fuzz/cfg: libFuzzer target for the config parser. The parser's
# sources are built into the target so that they carry the fuzzer's coverage
# instrumentation; the rest comes from libposthorn. Run with
#   tests/fuzz/fuzz_cfg -dict=$(srcdir)/tests/fuzz/cfg.dict $(srcdir)/tests/fuzz/corpus/cfg
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_cfg
tests_fuzz_fuzz_cfg_SOURCES = tests/fuzz/fuzz_cfg.c \
	core/lib/config/cfg.c \
	core/lib/config/cfg_lexer.c \
	core/lib/config/cfg_parser.c \
	core/lib/config/cfg_private.h
tests_fuzz_fuzz_cfg_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_cfg_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_cfg_LDADD = core/lib/libposthorn.la
endif
