# SPDX-License-Identifier: MIT
# core/lib/tls: GnuTLS credentials, priorities and sessions for endpoints.
core_lib_libposthorn_la_SOURCES += core/lib/tls.c
