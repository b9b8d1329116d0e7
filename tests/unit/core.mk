# SPDX-License-Identifier: MIT
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_conf tests/unit/test_registry tests/unit/test_auth \
	tests/unit/test_log tests/unit/test_sql
TESTS += tests/unit/test_conf tests/unit/test_registry tests/unit/test_auth \
	tests/unit/test_log tests/unit/test_sql
tests_unit_test_conf_SOURCES = tests/unit/test_conf.c
tests_unit_test_conf_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/lib
tests_unit_test_conf_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_conf_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
tests_unit_test_registry_SOURCES = tests/unit/test_registry.c
tests_unit_test_registry_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/lib
tests_unit_test_registry_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_registry_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
tests_unit_test_auth_SOURCES = tests/unit/test_auth.c
tests_unit_test_auth_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/lib
tests_unit_test_auth_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_auth_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_unit_test_log_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS) -lpthread
tests_unit_test_sql_SOURCES = tests/unit/test_sql.c
tests_unit_test_sql_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_unit_test_sql_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS) -lpthread
endif
