# SPDX-License-Identifier: MIT
# tests/unit/sort: what SORT compares (posthorn/sort.h). It reads the
# mime-corpus as test_message does (skipped when there is none).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_sort
TESTS += tests/unit/test_sort
tests_unit_test_sort_SOURCES = tests/unit/test_sort.c
tests_unit_test_sort_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_sort_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif
