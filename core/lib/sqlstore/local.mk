# SPDX-License-Identifier: MIT
# sqlstore: the SQL mail store, the mail logic of every SQL storage module,
# written once against sql; a module gives its driver and dialect. Depends
# on storage, sql, mail, imap and base.
core_lib_libposthorn_la_SOURCES += \
	core/lib/sqlstore/sqlstore-private.h \
	core/lib/sqlstore/sqlstore.c \
	core/lib/sqlstore/sqlstore_mailbox.c \
	core/lib/sqlstore/sqlstore_message.c \
	core/lib/sqlstore/sqlstore_append.c \
	core/lib/sqlstore/sqlstore_search.c \
	core/lib/sqlstore/sqlstore_index.c \
	core/lib/sqlstore/sqlstore_sort.c \
	core/lib/sqlstore/sqlstore_quota.c
