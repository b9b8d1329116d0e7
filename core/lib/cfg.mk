# SPDX-License-Identifier: MIT
# cfg: the config language (lexer, block syntax, expansion and the API)
core_lib_libposthorn_la_SOURCES += \
	core/lib/cfg.c \
	core/lib/cfg_lexer.c \
	core/lib/cfg_parser.c \
	core/lib/cfg_private.h
