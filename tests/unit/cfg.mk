# SPDX-License-Identifier: MIT
# tests/unit/cfg: the config parser; reads tests/data/cfg through $top_srcdir
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_cfg
TESTS += tests/unit/test_cfg
tests_unit_test_cfg_SOURCES = tests/unit/test_cfg.c
tests_unit_test_cfg_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_cfg_LDADD = core/lib/libposthorn.la $(CMOCKA_LIBS)
endif
