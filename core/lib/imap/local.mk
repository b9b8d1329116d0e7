# SPDX-License-Identifier: MIT
# imap: the IMAP syntax layer without I/O: the command parser, modified
# UTF-7, sequence sets, dates, response strings, SEARCH programs and the
# CONDSTORE/QRESYNC modifiers.
# Depends on mail and base.
core_lib_libposthorn_la_SOURCES += \
	core/lib/imap/imap_parser.c \
	core/lib/imap/imap_mutf7.c \
	core/lib/imap/imap_util.c \
	core/lib/imap/imap_search.c \
	core/lib/imap/imap_condstore.c
