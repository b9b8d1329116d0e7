# SPDX-License-Identifier: MIT
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_tables
TESTS += tests/unit/test_tables
tests_unit_test_tables_SOURCES = tests/unit/test_tables.c
tests_unit_test_tables_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tables_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif
