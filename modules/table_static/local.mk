# SPDX-License-Identifier: MIT
module_LTLIBRARIES += modules/table_static.la
modules_table_static_la_SOURCES = modules/table_static/table_static.c
modules_table_static_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_table_static_la_LIBADD = core/lib/libposthorn.la
