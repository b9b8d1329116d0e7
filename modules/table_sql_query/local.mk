# SPDX-License-Identifier: MIT
# table.sql_query: SQLite always; PostgreSQL too when configured
# --with-pgsql (then it links libpq, and Debian ships it in posthorn-pgsql).
module_LTLIBRARIES += modules/table_sql_query.la
modules_table_sql_query_la_SOURCES = modules/table_sql_query/table_sql_query.c
modules_table_sql_query_la_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
modules_table_sql_query_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_table_sql_query_la_LIBADD = core/lib/libposthorn.la $(SQLITE_LIBS) $(PTHREAD_LIBS)
if WITH_PGSQL
modules_table_sql_query_la_CFLAGS += $(PQ_CFLAGS) -DWITH_PGSQL
modules_table_sql_query_la_LIBADD += $(PQ_LIBS)
endif

TESTS += tests/integration/test_table_sql_query.py
EXTRA_DIST += tests/integration/test_table_sql_query.py
