# SPDX-License-Identifier: MIT
# net: listeners, GnuTLS credentials, priorities and sessions for
# endpoints. Depends on config and base.
core_lib_libposthorn_la_SOURCES += \
	core/lib/net/tls_conf.c \
	core/lib/net/tls.c \
	core/lib/net/listen.c \
	core/lib/net/listen.h
