# SPDX-License-Identifier: MIT
# The storage contract suite: one program, run against each storage module
# by a small wrapper that writes its config.
if HAVE_CMOCKA
check_PROGRAMS += tests/storage/test_contract
TESTS += tests/storage/contract-sqlite.sh
tests_storage_test_contract_SOURCES = tests/storage/test_contract.c
tests_storage_test_contract_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/lib
tests_storage_test_contract_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_storage_test_contract_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS) \
	$(PTHREAD_LIBS)
if WITH_PGSQL
TESTS += tests/storage/contract-pgsql.sh
endif
# storage.sqlite alone: schema upgrades of an existing database.
check_PROGRAMS += tests/storage/test_sqlite_upgrade
TESTS += tests/storage/sqlite-upgrade.sh
tests_storage_test_sqlite_upgrade_SOURCES = tests/storage/test_sqlite_upgrade.c
tests_storage_test_sqlite_upgrade_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/core/lib
tests_storage_test_sqlite_upgrade_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) \
	$(SQLITE_CFLAGS)
tests_storage_test_sqlite_upgrade_LDADD = core/lib/libposthorn.la \
	$(CMOCKA_LIBS) $(SQLITE_LIBS)
endif
EXTRA_DIST += tests/storage/contract-sqlite.sh tests/storage/contract-pgsql.sh \
	tests/storage/sqlite-upgrade.sh
# Stores written by earlier builds, one per schema version of each engine,
# and their answers (README.md there); tests/integration/test_upgrade.py
# upgrades each and compares.
EXTRA_DIST += tests/storage/fixtures tests/storage/make-fixture
