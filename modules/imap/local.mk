# SPDX-License-Identifier: MIT
module_LTLIBRARIES += modules/imap.la
modules_imap_la_SOURCES = modules/imap/imap.c modules/imap/imap-private.h \
	modules/imap/imap_reactor.c modules/imap/imap_session.c \
	modules/imap/imap_commands.c modules/imap/imap_auth.c \
	modules/imap/imap_mailbox.c modules/imap/imap_store.c \
	modules/imap/imap_condstore.c \
	modules/imap/imap_fetch.c modules/imap/imap_search.c \
	modules/imap/imap_append.c modules/imap/imap_catenate.c \
	modules/imap/imap_idle.c \
	modules/imap/imap_keywords.c modules/imap/imap_sort.c \
	modules/imap/imap_context.c modules/imap/imap_compress.c \
	modules/imap/imap_binary.c modules/imap/imap_utf8.c \
	modules/imap/imap_quota.c
modules_imap_la_CPPFLAGS = $(AM_CPPFLAGS) $(ZLIB_CFLAGS)
modules_imap_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_imap_la_LIBADD = core/lib/libposthorn.la $(PTHREAD_LIBS) $(ZLIB_LIBS)

TESTS += tests/integration/test_imap.py tests/integration/test_imap_grammar.py \
	tests/integration/test_imap_state.py
# COMPRESS=DEFLATE (RFC 4978, issue 18); test_compress_pgsql.py in
# tests/integration/local.mk.
TESTS += tests/integration/test_compress.py
EXTRA_DIST += tests/integration/test_compress.py tests/integration/test_compress_pgsql.py
EXTRA_DIST += tests/integration/test_imap.py tests/integration/test_imap_grammar.py \
	tests/integration/test_imap_state.py
TESTS += tests/integration/test_sync.py
EXTRA_DIST += tests/integration/test_sync.py
# SIGHUP with sessions in IDLE: tables, certificates, an LDAP URL, listeners.
TESTS += tests/integration/test_reload.py
EXTRA_DIST += tests/integration/test_reload.py
TESTS += tests/integration/test_hostile.py
EXTRA_DIST += tests/integration/test_hostile.py
TESTS += tests/integration/test_faults.py
EXTRA_DIST += tests/integration/test_faults.py
TESTS += tests/integration/test_isolation.py
EXTRA_DIST += tests/integration/test_isolation.py
# CONDSTORE and QRESYNC (RFC 7162, issue 16); imapflow resyncing through
# QRESYNC (its npm packages: scripts/check runs npm ci, else it skips).
TESTS += tests/integration/test_condstore.py tests/integration/test_imapflow.py
EXTRA_DIST += tests/integration/test_condstore.py tests/integration/test_imapflow.py \
	tests/clients/imapflow/package.json tests/clients/imapflow/package-lock.json \
	tests/clients/imapflow/resync.mjs tests/clients/imapflow/compress.mjs \
	tests/clients/imapflow/checks.mjs
# MULTIAPPEND and CATENATE (issue 18); test_append_pgsql.py on storage.pgsql.
TESTS += tests/integration/test_append.py
EXTRA_DIST += tests/integration/test_append.py tests/integration/test_append_pgsql.py
# ESEARCH, SEARCHRES, WITHIN, SORT, SORT=DISPLAY, THREAD (issue 17).
TESTS += tests/integration/test_search.py tests/integration/test_sort.py \
	tests/integration/test_context.py
EXTRA_DIST += tests/integration/test_search.py tests/integration/test_search_pgsql.py \
	tests/integration/test_sort.py tests/integration/test_sort_pgsql.py \
	tests/integration/test_context.py tests/integration/test_context_pgsql.py
# Real clients of them: node-imap's sort(), thread(), esearch() and
# imapflow's search() (WITHIN, ESEARCH); scripts/check runs npm ci.
TESTS += tests/integration/test_clients_sort.py
EXTRA_DIST += tests/integration/test_clients_sort.py tests/clients/imapflow/search.mjs \
	tests/clients/node-imap/package.json tests/clients/node-imap/package-lock.json \
	tests/clients/node-imap/sort-thread.cjs
# BINARY (RFC 3516), literal8 and LITERAL- (RFC 7888), issue 18; on both
# storages.
TESTS += tests/integration/test_binary.py
EXTRA_DIST += tests/integration/test_binary.py tests/integration/test_binary_pgsql.py
# imapflow's download() through BINARY partials and its literal8 APPEND.
TESTS += tests/integration/test_clients_binary.py
EXTRA_DIST += tests/integration/test_clients_binary.py tests/clients/imapflow/binary.mjs
