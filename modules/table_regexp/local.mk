# SPDX-License-Identifier: MIT
module_LTLIBRARIES += modules/table_regexp.la
modules_table_regexp_la_SOURCES = modules/table_regexp/table_regexp.c
modules_table_regexp_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_table_regexp_la_LIBADD = core/lib/libposthorn.la
