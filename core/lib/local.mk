# SPDX-License-Identifier: MIT
lib_LTLIBRARIES += core/lib/libposthorn.la
core_lib_libposthorn_la_SOURCES = \
	core/lib/util.c \
	core/lib/log.c \
	core/lib/registry.c \
	core/lib/registry.h \
	core/lib/conf.c \
	core/lib/conf-private.h \
	core/lib/globals.c \
	core/lib/graph.c \
	core/lib/graph.h \
	core/lib/table.c \
	core/lib/listen.c \
	core/lib/listen.h \
	core/lib/tls_conf.c \
	core/lib/storage.c \
	core/lib/auth.c
core_lib_libposthorn_la_CFLAGS = $(AM_CFLAGS) $(IDN2_CFLAGS) $(GNUTLS_CFLAGS) $(CRYPT_CFLAGS)
core_lib_libposthorn_la_LIBADD = $(LTDL_LIBS) $(DL_LIBS) $(UNISTRING_LIBS) \
	$(IDN2_LIBS) $(GNUTLS_LIBS) $(CRYPT_LIBS) $(PTHREAD_LIBS)
# Only the SDK (ph_*) is exported; the library is versioned with the ABI.
core_lib_libposthorn_la_LDFLAGS = -no-undefined -export-symbols-regex '^ph_' \
	-version-info $(PH_ABI_MAJOR):0:0

include core/lib/cfg.mk
include core/lib/normalize.mk
include core/lib/message.mk
include core/lib/imap.mk
include core/lib/tls.mk
core_lib_libposthorn_la_SOURCES += core/lib/base64.c
