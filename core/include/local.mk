# SPDX-License-Identifier: MIT
pkginclude_HEADERS += \
	core/include/posthorn/auth.h \
	core/include/posthorn/auth-impl.h \
	core/include/posthorn/base64.h \
	core/include/posthorn/common.h \
	core/include/posthorn/config.h \
	core/include/posthorn/endpoint-impl.h \
	core/include/posthorn/event.h \
	core/include/posthorn/imap-condstore.h \
	core/include/posthorn/imap-parser.h \
	core/include/posthorn/imap-search.h \
	core/include/posthorn/imap-util.h \
	core/include/posthorn/log.h \
	core/include/posthorn/module.h \
	core/include/posthorn/message.h \
	core/include/posthorn/normalize.h \
	core/include/posthorn/sort.h \
	core/include/posthorn/sql.h \
	core/include/posthorn/sqlstore.h \
	core/include/posthorn/sqlstore-stmt.h \
	core/include/posthorn/storage.h \
	core/include/posthorn/storage-impl.h \
	core/include/posthorn/table.h \
	core/include/posthorn/table-impl.h \
	core/include/posthorn/thread.h \
	core/include/posthorn/tls.h \
	core/include/posthorn/tls-session.h
