# SPDX-License-Identifier: MIT
# normalize: username normalization (RFC 8265 PRECIS profiles, IDNA
# domains). Depends on base.
core_lib_libposthorn_la_SOURCES += \
	core/lib/normalize/normalize.c \
	core/lib/normalize/precis.c \
	core/lib/normalize/precis.h
