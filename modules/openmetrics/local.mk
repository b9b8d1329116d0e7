# SPDX-License-Identifier: MIT
# openmetrics: /metrics over HTTP, counted from the core's events.
module_LTLIBRARIES += modules/openmetrics.la
modules_openmetrics_la_SOURCES = modules/openmetrics/openmetrics.c
modules_openmetrics_la_CPPFLAGS = $(AM_CPPFLAGS) -DPH_VERSION=\"$(PACKAGE_VERSION)\"
modules_openmetrics_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_openmetrics_la_LIBADD = core/lib/libposthorn.la $(PTHREAD_LIBS)

TESTS += tests/integration/test_openmetrics.py
EXTRA_DIST += tests/integration/test_openmetrics.py
