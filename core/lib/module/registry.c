/* SPDX-License-Identifier: MIT */
/* The module registry: scans the module path once, loads every module
 * file there, and answers "which file provides auth.pam?". */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ltdl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <posthorn/log.h>

#include "registry.h"

struct reg_name {
    const char *name;
    size_t file; /* index into files */
    size_t dir;
    size_t dup_file; /* second claimant in the same directory, or SIZE_MAX */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static bool scanned;
static struct ph_strlist dirs;
static char *path_text;
static struct ph_registry_file *files;
static size_t nfiles, files_cap;
static struct reg_name *names;
static size_t nnames, names_cap;

static void registry_reset(void)
{
    /* Loaded modules stay loaded: instances of an older graph may still
     * run their code. Only the bookkeeping is dropped. */
    for (size_t i = 0; i < nfiles; i++) {
        free((char *)files[i].path);
        free((char *)files[i].error);
    }
    free(files);
    files = NULL;
    nfiles = files_cap = 0;
    free(names);
    names = NULL;
    nnames = names_cap = 0;
    ph_strlist_clear(&dirs);
    free(path_text);
    path_text = NULL;
    scanned = false;
}

static void add_dirs(const char *list)
{
    if (list == NULL)
        return;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0) {
            char *d = ph_strndup(p, n);
            if (!ph_strlist_contains(&dirs, d))
                ph_strlist_add_owned(&dirs, d);
            else
                free(d);
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
}

void ph_registry_set_module_dir(const char *module_dir)
{
    pthread_mutex_lock(&reg_lock);
    registry_reset();
    add_dirs(getenv("POSTHORN_MODULE_PATH"));
    add_dirs(module_dir);
    add_dirs(PH_MODULE_DIR);
    struct ph_buf b = {0};
    for (size_t i = 0; i < dirs.n; i++)
        ph_buf_printf(&b, "%s%s", i ? ":" : "", dirs.v[i]);
    path_text = ph_buf_steal(&b);
    pthread_mutex_unlock(&reg_lock);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* libltdl says "file not found" for every failure; dlopen says why. */
static char *dlopen_reason(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h != NULL) {
        dlclose(h);
        return ph_strdup("libltdl could not open it, but dlopen can");
    }
    const char *e = dlerror();
    return ph_strdup(e ? e : "unknown error");
}

static char *check_desc(const char *file, const struct ph_module_desc *d)
{
    const char *base = base_name(file);
    if (d->abi_major != PH_ABI_MAJOR)
        return ph_strdup_printf("%s was built for module ABI %u; this posthorn "
                                "has ABI %d: rebuild it against posthorn-dev",
                                base, d->abi_major, PH_ABI_MAJOR);
    if (d->abi_minor > PH_ABI_MINOR)
        return ph_strdup_printf("%s needs module ABI %u.%u; this posthorn has "
                                "%d.%d: upgrade posthorn",
                                base, d->abi_major, d->abi_minor, PH_ABI_MAJOR,
                                PH_ABI_MINOR);
    if (d->size < sizeof(struct ph_module_desc))
        return ph_strdup_printf("%s has a truncated module descriptor (%u "
                                "bytes, expected %zu): rebuild it against "
                                "posthorn-dev",
                                base, d->size, sizeof(struct ph_module_desc));
    if (d->names == NULL || d->names[0] == NULL)
        return ph_strdup_printf("%s: its descriptor provides no module names",
                                base);
    if (d->kind < PH_MODULE_ENDPOINT || d->kind > PH_MODULE_TABLE)
        return ph_strdup_printf("%s: its descriptor has an unknown kind %d",
                                base, (int)d->kind);
    if (d->create == NULL || (d->kind != PH_MODULE_ENDPOINT && !d->iface))
        return ph_strdup_printf("%s: its descriptor lacks create() or its "
                                "interface", base);
    return NULL;
}

static void load_file(const char *path, size_t dir, lt_dladvise advise)
{
    ph_array_grow(&files, &files_cap, nfiles + 1, sizeof(*files));
    struct ph_registry_file *f = &files[nfiles];
    memset(f, 0, sizeof(*f));
    f->path = ph_strdup(path);
    size_t idx = nfiles++;

    for (size_t i = 0; i < idx; i++) {
        if (strcmp(base_name(files[i].path), base_name(path)) == 0) {
            f->shadowed = true;
            return;
        }
    }
    lt_dlhandle h = lt_dlopenadvise(path, advise);
    if (h == NULL) {
        char *why = dlopen_reason(path);
        f->error = ph_strdup_printf("%s: cannot load: %s", base_name(path), why);
        free(why);
        return;
    }
    const struct ph_module_desc *d = lt_dlsym(h, PH_MODULE_SYMBOL);
    if (d == NULL) {
        f->error = ph_strdup_printf("%s has no %s descriptor: it is not a "
                                    "posthorn module, or it was built without "
                                    "PH_MODULE()",
                                    base_name(path), PH_MODULE_SYMBOL);
        lt_dlclose(h);
        return;
    }
    char *err = check_desc(path, d);
    if (err != NULL) {
        f->error = err;
        lt_dlclose(h);
        return;
    }
    f->desc = d;
    for (const char *const *n = d->names; *n; n++) {
        struct reg_name *found = NULL;
        for (size_t i = 0; i < nnames; i++)
            if (strcmp(names[i].name, *n) == 0)
                found = &names[i];
        if (found != NULL) {
            if (found->dir == dir && found->dup_file == SIZE_MAX)
                found->dup_file = idx;
            continue; /* an earlier directory wins */
        }
        ph_array_grow(&names, &names_cap, nnames + 1, sizeof(*names));
        names[nnames++] = (struct reg_name){*n, idx, dir, SIZE_MAX};
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan(void)
{
    static bool lt_ready;
    if (!lt_ready) {
        lt_dlinit();
        lt_ready = true;
    }
    if (dirs.n == 0) {
        add_dirs(getenv("POSTHORN_MODULE_PATH"));
        add_dirs(PH_MODULE_DIR);
        free(path_text);
        struct ph_buf b = {0};
        for (size_t i = 0; i < dirs.n; i++)
            ph_buf_printf(&b, "%s%s", i ? ":" : "", dirs.v[i]);
        path_text = ph_buf_steal(&b);
    }
    lt_dladvise advise;
    lt_dladvise_init(&advise);
    lt_dladvise_local(&advise);
    for (size_t d = 0; d < dirs.n; d++) {
        DIR *dir = opendir(dirs.v[d]);
        if (dir == NULL)
            continue;
        struct ph_strlist found = {0};
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            size_t n = strlen(e->d_name);
            if (n > 3 && strcmp(e->d_name + n - 3, ".so") == 0)
                ph_strlist_add(&found, e->d_name);
        }
        closedir(dir);
        if (found.n > 0)
            qsort(found.v, found.n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < found.n; i++) {
            char *path = ph_strdup_printf("%s/%s", dirs.v[d], found.v[i]);
            load_file(path, d, advise);
            free(path);
        }
        ph_strlist_clear(&found);
    }
    lt_dladvise_destroy(&advise);
    scanned = true;
}

/* The file a name maps to by rule: auth.pam -> auth_pam.so. A longer
 * family name may live in a shorter file (table.email_localpart_optional
 * in table_email_localpart.so), so prefixes at '_' count too. */
static const struct ph_registry_file *rule_failure(const char *name)
{
    char *want = ph_strdup(name);
    for (char *p = want; *p; p++)
        if (*p == '.')
            *p = '_';
    const struct ph_registry_file *hit = NULL;
    for (;;) {
        for (size_t i = 0; i < nfiles && hit == NULL; i++) {
            const char *b = base_name(files[i].path);
            size_t n = strlen(want);
            if (files[i].error && !files[i].shadowed &&
                strncmp(b, want, n) == 0 && strcmp(b + n, ".so") == 0)
                hit = &files[i];
        }
        char *u = strrchr(want, '_');
        if (hit != NULL || u == NULL)
            break;
        *u = '\0';
    }
    free(want);
    return hit;
}

int ph_registry_find(const char *name, const struct ph_module_desc **desc_r,
                     const char **file_r, char **error_r)
{
    int ret = -1;
    pthread_mutex_lock(&reg_lock);
    if (!scanned)
        scan();
    for (size_t i = 0; i < nnames; i++) {
        if (strcmp(names[i].name, name) != 0)
            continue;
        if (names[i].dup_file != SIZE_MAX) {
            *error_r = ph_strdup_printf(
                "module %s is provided by both %s and %s: remove one of them",
                name, files[names[i].file].path,
                files[names[i].dup_file].path);
            goto out;
        }
        *desc_r = files[names[i].file].desc;
        if (file_r != NULL)
            *file_r = files[names[i].file].path;
        ret = 0;
        goto out;
    }
    const struct ph_registry_file *bad = rule_failure(name);
    if (bad != NULL) {
        *error_r = ph_strdup_printf("module %s: %s", name, bad->error);
        goto out;
    }
    char *file = ph_strdup(name);
    for (char *p = file; *p; p++)
        if (*p == '.')
            *p = '_';
    *error_r = ph_strdup_printf("unknown module %s: no %s.so in the module "
                                "path %s (install the package that provides "
                                "it, or set module_dir)",
                                name, file, path_text);
    free(file);
out:
    pthread_mutex_unlock(&reg_lock);
    return ret;
}

size_t ph_registry_files(const struct ph_registry_file **files_r)
{
    pthread_mutex_lock(&reg_lock);
    if (!scanned)
        scan();
    pthread_mutex_unlock(&reg_lock);
    *files_r = files;
    return nfiles;
}

const char *ph_registry_path(void)
{
    pthread_mutex_lock(&reg_lock);
    if (!scanned)
        scan();
    pthread_mutex_unlock(&reg_lock);
    return path_text;
}
