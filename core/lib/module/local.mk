# SPDX-License-Identifier: MIT
# module: the registry (module files, descriptors), the graph of instances
# made from the config, and the table and auth caller APIs. Depends on
# net, normalize, config and base.
core_lib_libposthorn_la_SOURCES += \
	core/lib/module/registry.c \
	core/lib/module/registry.h \
	core/lib/module/graph.c \
	core/lib/module/graph.h \
	core/lib/module/table.c \
	core/lib/module/auth.c \
	core/lib/module/auth_helper.c
