# SPDX-License-Identifier: MIT
# tests/fuzz/thread: base subjects, collation keys, Message IDs and every
# THREAD algorithm (posthorn/sort.h, posthorn/thread.h); the sources under
# test are built in for the fuzzer's coverage. Run with
#   tests/fuzz/fuzz_thread -dict=$(srcdir)/tests/fuzz/thread.dict \
#       $(srcdir)/tests/fuzz/corpus/thread
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_thread
tests_fuzz_fuzz_thread_SOURCES = tests/fuzz/fuzz_thread.c \
	core/lib/mail/message_header.c \
	core/lib/mail/sort_collation.c \
	core/lib/mail/sort_msgid.c \
	core/lib/mail/sort_subject.c \
	core/lib/mail/thread.c
tests_fuzz_fuzz_thread_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_thread_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_thread_LDADD = core/lib/libposthorn.la $(UNISTRING_LIBS)
endif
