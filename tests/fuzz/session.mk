# SPDX-License-Identifier: MIT
# tests/fuzz/fuzz_session: a whole IMAP session against the real endpoint
# and storage.sqlite, in process. The endpoint is built a second time with
# the fuzzer's coverage instrumentation (tests/fuzz/mod/imap.so), found
# first on the module path so that it shadows modules/imap.so. Run e.g.
#   tests/fuzz/fuzz_session -dict=$(srcdir)/tests/fuzz/session.dict \
#       $(srcdir)/tests/fuzz/corpus/session
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_session
noinst_LTLIBRARIES += tests/fuzz/mod/imap.la
tests_fuzz_mod_imap_la_SOURCES = $(modules_imap_la_SOURCES)
tests_fuzz_mod_imap_la_CPPFLAGS = $(modules_imap_la_CPPFLAGS)
tests_fuzz_mod_imap_la_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer-no-link
tests_fuzz_mod_imap_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
tests_fuzz_mod_imap_la_LIBADD = $(modules_imap_la_LIBADD)

tests_fuzz_fuzz_session_SOURCES = tests/fuzz/fuzz_session.c
tests_fuzz_fuzz_session_CPPFLAGS = $(AM_CPPFLAGS) $(ZLIB_CFLAGS) -I$(top_srcdir)/core/lib \
	-DPH_FUZZ_MODULE_PATH='"$(abs_top_builddir)/tests/fuzz/mod/.libs:$(abs_top_builddir)/modules/.libs"'
tests_fuzz_fuzz_session_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_session_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_session_LDADD = core/lib/libposthorn.la $(PTHREAD_LIBS) $(ZLIB_LIBS)
endif
