# SPDX-License-Identifier: MIT
include modules/table_identity/local.mk
include modules/table_email_localpart/local.mk
include modules/table_static/local.mk
include modules/table_file/local.mk
include modules/table_regexp/local.mk
include modules/table_chain/local.mk
include modules/table_sql_query/local.mk
include modules/storage_sqlite/local.mk
include modules/storage_pgsql/local.mk
include modules/auth_pass_table/local.mk
include modules/auth_pam/local.mk
include modules/auth_external/local.mk
include modules/auth_ldap/local.mk
include modules/imap/local.mk
include modules/openmetrics/local.mk
