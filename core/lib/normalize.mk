# SPDX-License-Identifier: MIT
# normalize: username normalization (RFC 8265 PRECIS profiles, IDNA domains)
core_lib_libposthorn_la_SOURCES += \
	core/lib/normalize.c \
	core/lib/precis.c \
	core/lib/precis.h
