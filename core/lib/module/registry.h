/* SPDX-License-Identifier: MIT */
/* The module registry: module names -> files along the module path.
 * Private to libposthorn and the posthorn program. */
#ifndef PH_REGISTRY_H
#define PH_REGISTRY_H

#include <posthorn/module.h>

/* Sets the search path: POSTHORN_MODULE_PATH (colon-separated), then
 * module_dir (NULL: none), then the configure-time default. Earlier
 * directories shadow later ones; two files in one directory claiming one
 * name is an error. Forgets an earlier scan. */
void ph_registry_set_module_dir(const char *module_dir);

/* Finds the module providing name. Returns 0, or -1 with a one-line
 * message (malloc'ed) that names the file and what to do. */
int ph_registry_find(const char *name, const struct ph_module_desc **desc_r,
                     const char **file_r, char **error_r) PH_WUR;

/* Every file seen on the path, for `posthorn modules`. error is NULL when
 * the file loaded; then desc is set. */
struct ph_registry_file {
    const char *path;
    const struct ph_module_desc *desc;
    const char *error;
    bool shadowed; /* an earlier directory has a file of that name */
};
size_t ph_registry_files(const struct ph_registry_file **files_r);
/* The directories searched, in order, joined by ':' (for messages). */
const char *ph_registry_path(void);

#endif
