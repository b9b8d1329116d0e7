# SPDX-License-Identifier: MIT
bin_PROGRAMS += core/posthorn/posthorn
core_posthorn_posthorn_SOURCES = \
	core/posthorn/main.c \
	core/posthorn/cli.h \
	core/posthorn/run.c \
	core/posthorn/cmd_modules.c \
	core/posthorn/cmd_storage.c \
	core/posthorn/cmd_creds.c \
	core/posthorn/cmd_table.c
core_posthorn_posthorn_LDADD = core/lib/libposthorn.la $(PTHREAD_LIBS)
core_posthorn_posthorn_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/core/lib
