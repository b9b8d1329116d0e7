# SPDX-License-Identifier: MIT
# storage: the storage caller API and what every storage shares. Depends on
# module, mail, normalize and base.
core_lib_libposthorn_la_SOURCES += \
	core/lib/storage/storage.c
