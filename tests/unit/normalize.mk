# SPDX-License-Identifier: MIT
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_normalize
TESTS += tests/unit/test_normalize
tests_unit_test_normalize_SOURCES = tests/unit/test_normalize.c
tests_unit_test_normalize_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_normalize_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif
