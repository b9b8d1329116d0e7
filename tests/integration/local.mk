# SPDX-License-Identifier: MIT
# Integration tests: the real posthorn binary over real sockets.
TESTS += tests/integration/test_program.py
EXTRA_DIST += tests/integration/phtest.py tests/integration/test_program.py
TESTS += tests/integration/test_cli.py
EXTRA_DIST += tests/integration/test_cli.py
TESTS += tests/integration/test_syslog.py
EXTRA_DIST += tests/integration/test_syslog.py
# Stores of earlier builds upgrade and answer as before (issue 15): the
# fixtures of tests/storage/fixtures on storage.sqlite, and on storage.pgsql
# when built with it.
TESTS += tests/integration/test_upgrade.py
EXTRA_DIST += tests/integration/test_upgrade.py
# storage.pgsql: two nodes on one PostgreSQL, and the imap suite once more
# with storage.pgsql in place of storage.sqlite (PH_PGSQL_DSN from
# scripts/check, else a cluster of their own through scripts/pg-cluster).
if WITH_PGSQL
TESTS += tests/integration/test_pgsql.py tests/integration/test_imap_pgsql.py \
	tests/integration/test_faults_pgsql.py tests/integration/test_isolation_pgsql.py \
	tests/integration/test_condstore_pgsql.py tests/integration/test_search_pgsql.py \
	tests/integration/test_sort_pgsql.py tests/integration/test_context_pgsql.py \
	tests/integration/test_append_pgsql.py
TESTS += tests/integration/test_compress_pgsql.py
endif
EXTRA_DIST += tests/integration/pgtest.py tests/integration/test_pgsql.py \
	tests/integration/test_imap_pgsql.py tests/integration/test_faults_pgsql.py \
	tests/integration/test_isolation_pgsql.py tests/integration/test_condstore_pgsql.py
# The stress checker of issue 14 (tests/stress/imapstress.py, also run by
# scripts/soak --checker): that it finds what it checks, and a 30-second
# run with 10 clients against posthorn (test_stress.py).
EXTRA_DIST += tests/stress/imapstress.py tests/integration/test_stress.py
TESTS += tests/integration/test_stress_checker.py
EXTRA_DIST += tests/integration/test_stress_checker.py
TESTS += tests/integration/test_stress.py
# LIST-EXTENDED, LIST-STATUS and STATUS=SIZE (issue 18), on both storages.
TESTS += tests/integration/test_list.py
EXTRA_DIST += tests/integration/test_list.py tests/integration/test_list_pgsql.py
if WITH_PGSQL
TESTS += tests/integration/test_list_pgsql.py
endif
# QUOTA (RFC 9208, issue 18), on both storages.
TESTS += tests/integration/test_quota.py
EXTRA_DIST += tests/integration/test_quota.py tests/integration/test_quota_pgsql.py
if WITH_PGSQL
TESTS += tests/integration/test_quota_pgsql.py
endif
# imapflow's getQuota(): GETQUOTAROOT with its QUOTA replies.
TESTS += tests/integration/test_clients_quota.py
EXTRA_DIST += tests/integration/test_clients_quota.py tests/clients/imapflow/quota.mjs
# imapflow's list() with a statusQuery: one LIST-STATUS command.
TESTS += tests/integration/test_clients_list.py
EXTRA_DIST += tests/integration/test_clients_list.py tests/clients/imapflow/list-status.mjs
# OBJECTID and PREVIEW (issue 18), on both storages.
TESTS += tests/integration/test_objectid.py
EXTRA_DIST += tests/integration/test_objectid.py tests/integration/test_objectid_pgsql.py
if WITH_PGSQL
TESTS += tests/integration/test_objectid_pgsql.py
endif
# imapflow with OBJECTID: mailboxId, emailId, threadId.
TESTS += tests/integration/test_clients_objectid.py
EXTRA_DIST += tests/integration/test_clients_objectid.py tests/clients/imapflow/objectid.mjs
if WITH_PGSQL
TESTS += tests/integration/test_binary_pgsql.py
endif
# UTF8=ACCEPT (RFC 6855, issue 18), on both storages.
TESTS += tests/integration/test_utf8.py
EXTRA_DIST += tests/integration/test_utf8.py tests/integration/test_utf8_pgsql.py
if WITH_PGSQL
TESTS += tests/integration/test_utf8_pgsql.py
endif
# IMAP4rev2 (RFC 9051, issue 18): its Appendix E item by item, on both
# storages.
TESTS += tests/integration/test_imap4rev2.py
EXTRA_DIST += tests/integration/test_imap4rev2.py tests/integration/test_imap4rev2_pgsql.py
if WITH_PGSQL
TESTS += tests/integration/test_imap4rev2_pgsql.py
endif
# imapflow and neomutt (in tmux) with UTF8=ACCEPT.
TESTS += tests/integration/test_clients_utf8.py
EXTRA_DIST += tests/integration/test_clients_utf8.py tests/clients/imapflow/utf8.mjs
