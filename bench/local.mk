# SPDX-License-Identifier: MIT
# bench/: the load generator and the side-by-side run against Dovecot.
# Built with the tree but never run by `make check`: a benchmark measures,
# it does not pass or fail.
noinst_PROGRAMS += bench/imapload
bench_imapload_SOURCES = bench/imapload.c
bench_imapload_CFLAGS = $(AM_CFLAGS) $(GNUTLS_CFLAGS) $(ZLIB_CFLAGS)
bench_imapload_LDADD = $(GNUTLS_LIBS) $(ZLIB_LIBS)
EXTRA_DIST += bench/run bench/README.md
