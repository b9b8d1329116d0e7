# SPDX-License-Identifier: MIT
# Test modules: a test endpoint for integration tests (tests/modules/.libs)
# and broken modules for the registry tests (tests/modules/bad/.libs).
check_LTLIBRARIES += tests/modules/test_tablequery.la
tests_modules_test_tablequery_la_SOURCES = tests/modules/test_tablequery.c
tests_modules_test_tablequery_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
tests_modules_test_tablequery_la_LIBADD = core/lib/libposthorn.la

check_LTLIBRARIES += tests/modules/bad/table_abi.la tests/modules/bad/test_nodesc.la \
	tests/modules/bad/table_unresolved.la tests/modules/bad/table_dup_a.la \
	tests/modules/bad/table_dup_b.la
tests_modules_bad_table_abi_la_SOURCES = tests/modules/bad/table_abi.c
tests_modules_bad_table_abi_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
tests_modules_bad_table_abi_la_LIBADD = core/lib/libposthorn.la
tests_modules_bad_test_nodesc_la_SOURCES = tests/modules/bad/test_nodesc.c
tests_modules_bad_test_nodesc_la_LDFLAGS = -module -avoid-version -shared -rpath $(moduledir)
tests_modules_bad_table_unresolved_la_SOURCES = tests/modules/bad/table_unresolved.c
tests_modules_bad_table_unresolved_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
tests_modules_bad_table_unresolved_la_LIBADD = core/lib/libposthorn.la
tests_modules_bad_table_dup_a_la_SOURCES = tests/modules/bad/table_dup.c
tests_modules_bad_table_dup_a_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
tests_modules_bad_table_dup_a_la_LIBADD = core/lib/libposthorn.la
tests_modules_bad_table_dup_b_la_SOURCES = tests/modules/bad/table_dup.c
tests_modules_bad_table_dup_b_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
tests_modules_bad_table_dup_b_la_LIBADD = core/lib/libposthorn.la
