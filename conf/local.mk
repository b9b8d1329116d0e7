# SPDX-License-Identifier: MIT
dist_phconf_DATA = conf/posthorn.conf

# The systemd unit, with the installed paths. Packagers set systemdunitdir
# (Debian 12: /lib/systemd/system); the default stays under prefix so that
# `make install` and distcheck never write outside it.
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = conf/systemd/posthorn.service
EXTRA_DIST += conf/systemd/posthorn.service.in
CLEANFILES += conf/systemd/posthorn.service
conf/systemd/posthorn.service: $(top_srcdir)/conf/systemd/posthorn.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) conf/systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@phconfdir[@]|$(phconfdir)|g' \
		$(top_srcdir)/conf/systemd/posthorn.service.in > $@
