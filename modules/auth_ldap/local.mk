# SPDX-License-Identifier: MIT
# auth.ldap and table.ldap, one source built twice (a module file has one
# kind), with libldap (configure --with-ldap; on when libldap-dev is there).
if WITH_LDAP
module_LTLIBRARIES += modules/auth_ldap.la modules/table_ldap.la
modules_auth_ldap_la_SOURCES = modules/auth_ldap/auth_ldap.c
modules_auth_ldap_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_auth_ldap_la_LIBADD = core/lib/libposthorn.la $(LDAP_LIBS) $(PTHREAD_LIBS)
modules_table_ldap_la_SOURCES = modules/auth_ldap/auth_ldap.c
modules_table_ldap_la_CPPFLAGS = $(AM_CPPFLAGS) -DLDAP_TABLE
modules_table_ldap_la_LDFLAGS = -module -avoid-version $(MODULE_LDFLAGS)
modules_table_ldap_la_LIBADD = core/lib/libposthorn.la $(LDAP_LIBS) $(PTHREAD_LIBS)

TESTS += tests/integration/test_ldap.py
endif
EXTRA_DIST += tests/integration/test_ldap.py
