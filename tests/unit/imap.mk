# SPDX-License-Identifier: MIT
# tests/unit/imap: the IMAP syntax layer.
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_imap_parser
TESTS += tests/unit/test_imap_parser
tests_unit_test_imap_parser_SOURCES = tests/unit/test_imap_parser.c
tests_unit_test_imap_parser_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_imap_parser_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_imap_util
TESTS += tests/unit/test_imap_util
tests_unit_test_imap_util_SOURCES = tests/unit/test_imap_util.c
tests_unit_test_imap_util_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_imap_util_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_imap_search
TESTS += tests/unit/test_imap_search
tests_unit_test_imap_search_SOURCES = tests/unit/test_imap_search.c
tests_unit_test_imap_search_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_imap_search_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif
