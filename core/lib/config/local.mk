# SPDX-License-Identifier: MIT
# config: the config language (lexer, block syntax, expansion and the API),
# the directive engine and the process globals. Depends on base.
core_lib_libposthorn_la_SOURCES += \
	core/lib/config/cfg.c \
	core/lib/config/cfg_lexer.c \
	core/lib/config/cfg_parser.c \
	core/lib/config/cfg_private.h \
	core/lib/config/conf.c \
	core/lib/config/conf-private.h \
	core/lib/config/globals.c
