# SPDX-License-Identifier: MIT
# tests/unit/tls: the TLS layer, against GnuTLS clients (and gnutls-cli /
# openssl s_client when installed).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_tls
TESTS += tests/unit/test_tls
tests_unit_test_tls_SOURCES = tests/unit/test_tls.c
tests_unit_test_tls_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(GNUTLS_CFLAGS)
tests_unit_test_tls_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS) $(GNUTLS_LIBS)
endif
