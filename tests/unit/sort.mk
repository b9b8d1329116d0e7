# SPDX-License-Identifier: MIT
# tests/unit/sort and thread: what SORT and THREAD compare and the THREAD
# algorithms (posthorn/sort.h, posthorn/thread.h). test_sort reads the
# mime-corpus as test_message does (skipped when there is none).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_sort tests/unit/test_thread
TESTS += tests/unit/test_sort tests/unit/test_thread
tests_unit_test_sort_SOURCES = tests/unit/test_sort.c
tests_unit_test_sort_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_sort_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
tests_unit_test_thread_SOURCES = tests/unit/test_thread.c
tests_unit_test_thread_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_thread_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif
