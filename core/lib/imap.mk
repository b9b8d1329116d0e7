# SPDX-License-Identifier: MIT
# imap: the IMAP syntax layer without I/O: the command parser, modified
# UTF-7, sequence sets, dates, response strings and SEARCH programs.
core_lib_libposthorn_la_SOURCES += \
	core/lib/imap_parser.c \
	core/lib/imap_mutf7.c \
	core/lib/imap_util.c \
	core/lib/imap_search.c
