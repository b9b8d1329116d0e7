# SPDX-License-Identifier: MIT
# libposthorn, one folder a layer; a folder uses only the folders before
# it in this list (tests/unit/test_layers.py checks it), as Dovecot's
# src/lib-* do. docs/design.md says what each holds.
lib_LTLIBRARIES += core/lib/libposthorn.la
core_lib_libposthorn_la_SOURCES =
include core/lib/base/local.mk
include core/lib/sql/local.mk
include core/lib/config/local.mk
include core/lib/normalize/local.mk
include core/lib/mail/local.mk
include core/lib/net/local.mk
include core/lib/imap/local.mk
include core/lib/module/local.mk
include core/lib/storage/local.mk
include core/lib/sqlstore/local.mk
# Private headers of another folder are named with it ("config/conf-private.h").
core_lib_libposthorn_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/lib
core_lib_libposthorn_la_CFLAGS = $(AM_CFLAGS) $(IDN2_CFLAGS) $(GNUTLS_CFLAGS) $(CRYPT_CFLAGS)
core_lib_libposthorn_la_LIBADD = $(LTDL_LIBS) $(DL_LIBS) $(UNISTRING_LIBS) \
	$(IDN2_LIBS) $(GNUTLS_LIBS) $(CRYPT_LIBS) $(PTHREAD_LIBS)
# Only the SDK (POSTHORN_1) and what the program uses (POSTHORN_PRIVATE) are
# exported (libposthorn.map); the library is versioned with the ABI.
core_lib_libposthorn_la_LDFLAGS = -no-undefined \
	-Wl,--version-script=$(top_srcdir)/core/lib/libposthorn.map \
	-version-info $(PH_ABI_MAJOR):0:0
EXTRA_core_lib_libposthorn_la_DEPENDENCIES = $(top_srcdir)/core/lib/libposthorn.map
EXTRA_DIST += core/lib/libposthorn.map
