# SPDX-License-Identifier: MIT
module_LTLIBRARIES += modules/storage_sqlite.la
modules_storage_sqlite_la_SOURCES = \
	modules/storage_sqlite/storage_sqlite.c \
	modules/storage_sqlite/sqlite_driver.c \
	modules/storage_sqlite/sqlite_dialect.c \
	modules/storage_sqlite/sqlite_wake.c \
	modules/storage_sqlite/sqlite_private.h
modules_storage_sqlite_la_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
modules_storage_sqlite_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_storage_sqlite_la_LIBADD = core/lib/libposthorn.la $(SQLITE_LIBS) $(UNISTRING_LIBS)
