# SPDX-License-Identifier: MIT
# tests/unit/lmtp: the LMTP command grammar and DATA's dot-stuffing, built
# from the module's source (the grammar is the module's own, not the SDK's).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_lmtp_syntax
TESTS += tests/unit/test_lmtp_syntax
tests_unit_test_lmtp_syntax_SOURCES = tests/unit/test_lmtp_syntax.c \
	modules/lmtp/lmtp_syntax.c modules/lmtp/lmtp-syntax.h
tests_unit_test_lmtp_syntax_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_lmtp_syntax_LDADD = core/lib/libposthorn.la $(UNISTRING_LIBS) $(CMOCKA_LIBS)
endif
