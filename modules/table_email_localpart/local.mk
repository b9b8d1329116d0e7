# SPDX-License-Identifier: MIT
module_LTLIBRARIES += modules/table_email_localpart.la
modules_table_email_localpart_la_SOURCES = modules/table_email_localpart/table_email_localpart.c
modules_table_email_localpart_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_table_email_localpart_la_LIBADD = core/lib/libposthorn.la
