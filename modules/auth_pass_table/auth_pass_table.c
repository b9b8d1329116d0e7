/* SPDX-License-Identifier: MIT */
/* auth.pass_table: passwords as crypt(3) hashes in a table.
 *
 *   auth.pass_table local_authdb { table file /etc/posthorn/passwd }
 *   auth pass_table file /etc/posthorn/passwd          (inline)
 *   auth pass_table static { entry bob $y$... }        (inline, with block)
 *
 * The table maps the username (normalized and mapped by the endpoint) to a
 * hash: yescrypt ($y$, what `posthorn creds` writes), bcrypt ($2b$, or
 * maddy's "bcrypt:$2a$..."), sha512-crypt ($6$), sha256-crypt ($5$). */
#include <stdlib.h>
#include <string.h>

#include <posthorn/auth-impl.h>
#include <posthorn/log.h>
#include <posthorn/table.h>

static const char *const hash_methods[] = {
    "yescrypt", "bcrypt", "sha512-crypt", "sha256-crypt", NULL};

struct pass_table_conf {
    struct ph_instance *table;
    int hash; /* index into hash_methods */
};

struct pass_table {
    struct pass_table_conf *conf;
    /* Verified against for unknown users, so that a miss costs as much
     * time as a wrong password and does not reveal who exists. */
    char *decoy;
};

static enum ph_auth_result pt_check(void *ctx, const char *username,
                                    const char *password, const char **error_r)
{
    struct pass_table *pt = ctx;
    struct ph_strlist values = {0};
    const char *err;
    enum ph_lookup r = ph_table_lookup(pt->conf->table, username, &values, &err);
    if (r == PH_LOOKUP_TEMPFAIL) {
        *error_r = err;
        return PH_AUTH_TEMPFAIL;
    }
    if (r == PH_LOOKUP_NOT_FOUND || values.n == 0) {
        (void)ph_password_verify(password, pt->decoy);
        ph_strlist_clear(&values);
        *error_r = "unknown user";
        return PH_AUTH_FAILED;
    }
    bool ok = ph_password_verify(password, values.v[0]);
    ph_strlist_clear(&values);
    if (!ok) {
        *error_r = "wrong password";
        return PH_AUTH_FAILED;
    }
    return PH_AUTH_OK;
}

static int pt_set_password(void *ctx, const char *username,
                           const char *password, const char **error_r)
{
    struct pass_table *pt = ctx;
    if (!ph_table_is_mutable(pt->conf->table)) {
        *error_r = "the password table cannot be changed (use table.file)";
        return -1;
    }
    char *hash =
        ph_password_hash(password, hash_methods[pt->conf->hash], error_r);
    if (hash == NULL)
        return -1;
    const char *values[] = {hash};
    int r = ph_table_set(pt->conf->table, username, values, 1, error_r);
    free(hash);
    return r;
}

static int pt_remove_user(void *ctx, const char *username, const char **error_r)
{
    struct pass_table *pt = ctx;
    return ph_table_remove(pt->conf->table, username, error_r);
}

static int pt_list_users(void *ctx, struct ph_strlist *users_r,
                         const char **error_r)
{
    struct pass_table *pt = ctx;
    return ph_table_keys(pt->conf->table, users_r, error_r);
}

static int pt_create(struct ph_instance *inst, void *conf, void **ctx_r,
                     char **error_r)
{
    (void)inst;
    struct pass_table_conf *c = conf;
    const char *err;
    struct pass_table *pt = ph_calloc(1, sizeof(*pt));
    pt->conf = c;
    pt->decoy = ph_password_hash("posthorn decoy password",
                                 hash_methods[c->hash], &err);
    if (pt->decoy == NULL) {
        *error_r = ph_strdup_printf("hash %s: %s", hash_methods[c->hash], err);
        free(pt);
        return -1;
    }
    *ctx_r = pt;
    return 0;
}

static void pt_destroy(void *ctx)
{
    struct pass_table *pt = ctx;
    free(pt->decoy);
    free(pt);
}

static const struct ph_auth_vfuncs pt_vfuncs = {
    .check = pt_check,
    .set_password = pt_set_password,
    .remove_user = pt_remove_user,
    .list_users = pt_list_users,
};

#define OFF(f) offsetof(struct pass_table_conf, f)
static const struct ph_directive pt_directives[] = {
    {.name = "table", .type = PH_DT_MODULE, .flags = PH_DF_REQUIRED,
     .offset = OFF(table), .kind = PH_MODULE_TABLE, .prefix = "table",
     .help = "the table mapping usernames to password hashes"},
    {.name = "hash", .type = PH_DT_ENUM, .offset = OFF(hash),
     .values = hash_methods, .def = "yescrypt",
     .help = "hash method for new passwords"},
    {.name = NULL},
};

PH_MODULE(.names = (const char *const[]){"auth.pass_table", NULL},
          .kind = PH_MODULE_AUTH,
          .description = "passwords as crypt(3) hashes in a table",
          .directives = pt_directives,
          .conf_size = sizeof(struct pass_table_conf),
          .inline_directive = "table", .create = pt_create,
          .destroy = pt_destroy, .iface = &pt_vfuncs);
