# SPDX-License-Identifier: MIT
# Man pages: troff (man(7) macros) with the installed paths filled in.
man1_MANS = docs/man/posthorn.1
man5_MANS = docs/man/posthorn.conf.5
EXTRA_DIST += docs/man/posthorn.1.in docs/man/posthorn.conf.5.in \
	docs/man/check-man.sh
CLEANFILES += $(man1_MANS) $(man5_MANS)

ph_man_subst = sed -e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@phconfdir[@]|$(phconfdir)|g' \
	-e 's|@moduledir[@]|$(moduledir)|g' \
	-e 's|@pkglibexecdir[@]|$(pkglibexecdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@docdir[@]|$(docdir)|g' \
	-e 's|@VERSION[@]|$(VERSION)|g'

docs/man/posthorn.1: $(top_srcdir)/docs/man/posthorn.1.in Makefile
	$(AM_V_GEN)$(MKDIR_P) docs/man && $(ph_man_subst) $(top_srcdir)/docs/man/posthorn.1.in > $@
docs/man/posthorn.conf.5: $(top_srcdir)/docs/man/posthorn.conf.5.in Makefile
	$(AM_V_GEN)$(MKDIR_P) docs/man && $(ph_man_subst) $(top_srcdir)/docs/man/posthorn.conf.5.in > $@

# man --warnings over both pages when man-db is there (skipped otherwise).
TESTS += docs/man/check-man.sh
