# SPDX-License-Identifier: MIT
# base: allocation, strings, buffers, logging, base64. Depends on libc only.
core_lib_libposthorn_la_SOURCES += \
	core/lib/base/util.c \
	core/lib/base/log.c \
	core/lib/base/event.c \
	core/lib/base/base64.c
