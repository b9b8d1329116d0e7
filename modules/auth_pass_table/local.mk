# SPDX-License-Identifier: MIT
module_LTLIBRARIES += modules/auth_pass_table.la
modules_auth_pass_table_la_SOURCES = modules/auth_pass_table/auth_pass_table.c
modules_auth_pass_table_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_auth_pass_table_la_LIBADD = core/lib/libposthorn.la
