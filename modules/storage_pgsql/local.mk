# SPDX-License-Identifier: MIT
if WITH_PGSQL
module_LTLIBRARIES += modules/storage_pgsql.la
modules_storage_pgsql_la_SOURCES = \
	modules/storage_pgsql/storage_pgsql.c \
	modules/storage_pgsql/pgsql_driver.c \
	modules/storage_pgsql/pgsql_dialect.c \
	modules/storage_pgsql/pgsql_listen.c \
	modules/storage_pgsql/pgsql_private.h
modules_storage_pgsql_la_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS)
modules_storage_pgsql_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_storage_pgsql_la_LIBADD = core/lib/libposthorn.la $(PQ_LIBS) \
	$(UNISTRING_LIBS) $(PTHREAD_LIBS)
endif
