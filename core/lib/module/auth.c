/* SPDX-License-Identifier: MIT */
/* Authentication caller API and password hashing (libcrypt). */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <posthorn/auth-impl.h>

static const struct ph_auth_vfuncs *avf(struct ph_instance *auth)
{
    ph_assert(ph_instance_kind(auth) == PH_MODULE_AUTH);
    return ph_instance_iface(auth);
}

enum ph_auth_result ph_auth_check(struct ph_instance *auth,
                                  const char *username, const char *password,
                                  const char **error_r)
{
    *error_r = NULL;
    enum ph_auth_result r =
        avf(auth)->check(ph_instance_ctx(auth), username, password, error_r);
    if (*error_r == NULL)
        *error_r = r == PH_AUTH_OK       ? "accepted"
                   : r == PH_AUTH_FAILED ? "invalid credentials"
                                         : "temporary failure";
    return r;
}

bool ph_auth_can_manage(struct ph_instance *auth)
{
    return avf(auth)->set_password != NULL;
}

int ph_auth_set_password(struct ph_instance *auth, const char *username,
                         const char *password, const char **error_r)
{
    if (avf(auth)->set_password == NULL) {
        *error_r = "this authentication provider cannot change passwords";
        return -1;
    }
    return avf(auth)->set_password(ph_instance_ctx(auth), username, password,
                                   error_r);
}

int ph_auth_remove_user(struct ph_instance *auth, const char *username,
                        const char **error_r)
{
    if (avf(auth)->remove_user == NULL) {
        *error_r = "this authentication provider cannot remove users";
        return -1;
    }
    return avf(auth)->remove_user(ph_instance_ctx(auth), username, error_r);
}

int ph_auth_list_users(struct ph_instance *auth, struct ph_strlist *users_r,
                       const char **error_r)
{
    if (avf(auth)->list_users == NULL) {
        *error_r = "this authentication provider cannot list users";
        return -1;
    }
    return avf(auth)->list_users(ph_instance_ctx(auth), users_r, error_r);
}

static const struct {
    const char *name;
    const char *prefix;
} methods[] = {
    {"yescrypt", "$y$"},
    {"bcrypt", "$2b$"},
    {"sha512-crypt", "$6$"},
    {"sha256-crypt", "$5$"},
};

char *ph_password_hash(const char *password, const char *method,
                       const char **error_r)
{
    const char *prefix = NULL;
    if (method == NULL)
        method = "yescrypt";
    for (size_t i = 0; i < PH_N_ELEMENTS(methods); i++)
        if (strcmp(methods[i].name, method) == 0)
            prefix = methods[i].prefix;
    if (prefix == NULL) {
        *error_r = "unknown hash method: expected yescrypt, bcrypt, "
                   "sha512-crypt or sha256-crypt";
        return NULL;
    }
    char entropy[32];
    if (getrandom(entropy, sizeof(entropy), 0) != (ssize_t)sizeof(entropy)) {
        *error_r = "cannot read random bytes for a salt";
        return NULL;
    }
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn(prefix, 0, entropy, sizeof(entropy), salt,
                         sizeof(salt)) == NULL) {
        *error_r = "libcrypt cannot make a salt for this method";
        return NULL;
    }
    struct crypt_data *data = ph_calloc(1, sizeof(*data));
    const char *h = crypt_rn(password, salt, data, sizeof(*data));
    char *out = h != NULL && h[0] != '*' ? ph_strdup(h) : NULL;
    explicit_bzero(data, sizeof(*data));
    free(data);
    if (out == NULL)
        *error_r = "libcrypt failed to hash the password";
    return out;
}

bool ph_password_verify(const char *password, const char *hash)
{
    /* maddy writes bcrypt hashes as "bcrypt:$2a$..." */
    if (strncmp(hash, "bcrypt:", 7) == 0)
        hash += 7;
    if (hash[0] != '$')
        return false;
    struct crypt_data *data = ph_calloc(1, sizeof(*data));
    const char *h = crypt_rn(password, hash, data, sizeof(*data));
    bool ok = h != NULL && h[0] != '*' &&
              ph_consttime_equal(h, strlen(h), hash, strlen(hash));
    explicit_bzero(data, sizeof(*data));
    free(data);
    return ok;
}
