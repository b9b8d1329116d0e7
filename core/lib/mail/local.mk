# SPDX-License-Identifier: MIT
# mail: the message parser (RFC 5322, MIME) and what FETCH and SEARCH need
# from a message, the keys and algorithms of SORT and THREAD; iconv comes
# with glibc, libunistring is linked. Depends on base.
core_lib_libposthorn_la_SOURCES += \
	core/lib/mail/message-private.h \
	core/lib/mail/message_binary.c \
	core/lib/mail/message_header.c \
	core/lib/mail/message_imap.c \
	core/lib/mail/message_normalize.c \
	core/lib/mail/message_parser.c \
	core/lib/mail/message_preview.c \
	core/lib/mail/message_rfc822.c \
	core/lib/mail/message_search.c \
	core/lib/mail/message_section.c \
	core/lib/mail/message_serialize.c \
	core/lib/mail/mime_content.c \
	core/lib/mail/mime_decode.c \
	core/lib/mail/rfc2047.c \
	core/lib/mail/rfc5322_date.c \
	core/lib/mail/sort_collation.c \
	core/lib/mail/sort_keys.c \
	core/lib/mail/sort_msgid.c \
	core/lib/mail/sort_subject.c \
	core/lib/mail/thread.c
