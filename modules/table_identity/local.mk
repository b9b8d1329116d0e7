# SPDX-License-Identifier: MIT
module_LTLIBRARIES += modules/table_identity.la
modules_table_identity_la_SOURCES = modules/table_identity/table_identity.c
modules_table_identity_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_table_identity_la_LIBADD = core/lib/libposthorn.la
