# SPDX-License-Identifier: MIT
# tests/unit/base64: BASE64 and IMAP's modified BASE64.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_base64
TESTS += tests/unit/test_base64
tests_unit_test_base64_SOURCES = tests/unit/test_base64.c
tests_unit_test_base64_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_base64_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif
