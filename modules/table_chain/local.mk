# SPDX-License-Identifier: MIT
module_LTLIBRARIES += modules/table_chain.la
modules_table_chain_la_SOURCES = modules/table_chain/table_chain.c
modules_table_chain_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_table_chain_la_LIBADD = core/lib/libposthorn.la
