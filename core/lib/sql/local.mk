# SPDX-License-Identifier: MIT
# sql: the SQL layer under SQL storages (pool, transactions with retry,
# statements by number, ad hoc SQL); no engine is linked. Depends on base.
core_lib_libposthorn_la_SOURCES += \
	core/lib/sql/sql.c
