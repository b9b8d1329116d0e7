# SPDX-License-Identifier: MIT
# auth.external: a password check by an admin's program (maddy's protocol).
module_LTLIBRARIES += modules/auth_external.la
modules_auth_external_la_SOURCES = modules/auth_external/auth_external.c
modules_auth_external_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_auth_external_la_LIBADD = core/lib/libposthorn.la

TESTS += tests/integration/test_auth_external.py
EXTRA_DIST += tests/integration/test_auth_external.py
