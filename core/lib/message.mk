# SPDX-License-Identifier: MIT
# message: the message parser (RFC 5322, MIME) and what FETCH and SEARCH
# need from a message; iconv comes with glibc, libunistring is linked.
core_lib_libposthorn_la_SOURCES += \
	core/lib/message-private.h \
	core/lib/message_header.c \
	core/lib/message_imap.c \
	core/lib/message_normalize.c \
	core/lib/message_parser.c \
	core/lib/message_rfc822.c \
	core/lib/message_search.c \
	core/lib/message_section.c \
	core/lib/message_serialize.c \
	core/lib/mime_content.c \
	core/lib/mime_decode.c \
	core/lib/rfc2047.c \
	core/lib/rfc5322_date.c
