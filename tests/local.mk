# SPDX-License-Identifier: MIT
# Tests: cmocka units (tests/unit), test modules for the registry
# (tests/modules), integration scripts (tests/integration), fuzz targets.
TEST_EXTENSIONS = .py .sh
PY_LOG_COMPILER = $(PYTHON3)
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	top_srcdir='$(abs_top_srcdir)'; export top_srcdir; \
	top_builddir='$(abs_top_builddir)'; export top_builddir; \
	POSTHORN_MODULE_PATH='$(abs_top_builddir)/modules/.libs:$(abs_top_builddir)/tests/modules/.libs'; export POSTHORN_MODULE_PATH;
EXTRA_DIST += tests/data tests/package/test-installed.sh

include tests/unit/local.mk
include tests/modules/local.mk
include tests/fuzz/local.mk
include tests/integration/local.mk
include tests/storage/local.mk
