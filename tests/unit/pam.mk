# SPDX-License-Identifier: MIT
if WITH_PAM
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_auth_pam
TESTS += tests/unit/test_auth_pam
tests_unit_test_auth_pam_SOURCES = tests/unit/test_auth_pam.c
tests_unit_test_auth_pam_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/lib
tests_unit_test_auth_pam_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_auth_pam_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif
endif
