# SPDX-License-Identifier: MIT
# tests/unit/message: the message parser. Reads tests/data/messages and
# tests/data/mime-corpus-expected through $top_srcdir, and the mime-corpus
# from $POSTHORN_MIME_CORPUS, $top_srcdir/../shared/mime-corpus or
# /work/shared/mime-corpus (skipped when none exists).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_message
TESTS += tests/unit/test_message
tests_unit_test_message_SOURCES = \
	tests/unit/test_message.c \
	tests/unit/test_message.h \
	tests/unit/test_message_corpus.c \
	tests/unit/test_message_decode.c \
	tests/unit/test_message_limits.c
tests_unit_test_message_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_message_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS) $(UNISTRING_LIBS)
endif
# valgrind --suppressions=: a glibc/valgrind 3.19 false positive in ld.so
# when iconv loads CJK gconv modules.
EXTRA_DIST += tests/unit/test_message.supp
