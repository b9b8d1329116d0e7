# SPDX-License-Identifier: MIT
module_LTLIBRARIES += modules/table_file.la
modules_table_file_la_SOURCES = modules/table_file/table_file.c
modules_table_file_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_table_file_la_LIBADD = core/lib/libposthorn.la
