# SPDX-License-Identifier: MIT
# auth.pam and its helper program (configure --with-pam, on by default when
# libpam0g-dev is there). The example PAM service file is documentation.
if WITH_PAM
module_LTLIBRARIES += modules/auth_pam.la
modules_auth_pam_la_SOURCES = modules/auth_pam/auth_pam.c \
	modules/auth_pam/pam_check.c modules/auth_pam/pam_check.h \
	modules/auth_pam/helper_directives.h
modules_auth_pam_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DPH_PAM_HELPER=\"$(pkglibexecdir)/posthorn-pam-helper\"
modules_auth_pam_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_auth_pam_la_LIBADD = core/lib/libposthorn.la $(PAM_LIBS)

# auth.shadow: the shadow file itself, in-process or through the same
# helper (posthorn-pam-helper --shadow).
module_LTLIBRARIES += modules/auth_shadow.la
modules_auth_shadow_la_SOURCES = modules/auth_pam/auth_shadow.c \
	modules/auth_pam/shadow_check.c modules/auth_pam/shadow_check.h \
	modules/auth_pam/pam_check.h modules/auth_pam/helper_directives.h
modules_auth_shadow_la_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPT_CFLAGS) \
	-DPH_PAM_HELPER=\"$(pkglibexecdir)/posthorn-pam-helper\"
modules_auth_shadow_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_auth_shadow_la_LIBADD = core/lib/libposthorn.la $(CRYPT_LIBS)

pkglibexec_PROGRAMS = modules/auth_pam/posthorn-pam-helper
modules_auth_pam_posthorn_pam_helper_SOURCES = \
	modules/auth_pam/posthorn_pam_helper.c \
	modules/auth_pam/pam_check.c modules/auth_pam/pam_check.h \
	modules/auth_pam/shadow_check.c modules/auth_pam/shadow_check.h
modules_auth_pam_posthorn_pam_helper_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPT_CFLAGS)
modules_auth_pam_posthorn_pam_helper_LDADD = $(PAM_LIBS) $(CRYPT_LIBS)

pamexampledir = $(docdir)/examples/pam.d
dist_pamexample_DATA = conf/pam.d/posthorn

# The helper needs privilege to read /etc/shadow; installing as root from a
# package's postinst is the packager's call, so say what to do.
install-exec-local:
	@echo "posthorn: for auth.pam with use_helper yes, make the helper setuid root:"
	@echo "  chown root:posthorn $(DESTDIR)$(pkglibexecdir)/posthorn-pam-helper"
	@echo "  chmod 4750 $(DESTDIR)$(pkglibexecdir)/posthorn-pam-helper"

TESTS += tests/integration/test_pam.py tests/integration/test_auth_shadow.py
endif
EXTRA_DIST += tests/integration/test_pam.py tests/integration/test_auth_shadow.py
