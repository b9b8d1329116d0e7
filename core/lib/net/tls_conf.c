/* SPDX-License-Identifier: MIT */
/* The `tls` directive: certificate pairs and the protocol settings. The
 * GnuTLS side (credentials, priority strings) lives with the endpoints. */
#include <stdlib.h>
#include <string.h>

#include <posthorn/tls.h>

static const struct {
    const char *name;
    enum ph_tls_version v;
} versions[] = {
    {"tls1.0", PH_TLS_1_0},
    {"tls1.1", PH_TLS_1_1},
    {"tls1.2", PH_TLS_1_2},
    {"tls1.3", PH_TLS_1_3},
};

static int version(const char *s, enum ph_tls_version *v_r, char **error_r)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(versions); i++) {
        if (strcmp(versions[i].name, s) == 0) {
            *v_r = versions[i].v;
            return 0;
        }
    }
    *error_r = ph_strdup_printf("unknown protocol \"%s\": expected tls1.0, "
                                "tls1.1, tls1.2 or tls1.3", s);
    return -1;
}

void ph_tls_conf_free(void *field)
{
    struct ph_tls_conf *c = field;
    ph_strlist_clear(&c->certs);
    ph_strlist_clear(&c->keys);
    ph_strlist_clear(&c->ciphers);
    ph_strlist_clear(&c->curves);
    memset(c, 0, sizeof(*c));
}

static int parse_block(const struct ph_cfg_node *node, struct ph_tls_conf *c,
                       char **error_r)
{
    bool seen_protocols = false;
    for (size_t i = 0; i < node->nchildren; i++) {
        const struct ph_cfg_node *d = &node->children[i];
        if (strcmp(d->name, "protocols") == 0) {
            if (seen_protocols || d->nargs < 1 || d->nargs > 2 || d->has_block) {
                *error_r = ph_cfg_error(d, "protocols takes MIN [MAX] once, "
                                        "e.g. protocols tls1.2 tls1.3");
                return -1;
            }
            seen_protocols = true;
            char *msg = NULL;
            if (version(d->args[0], &c->min_version, &msg) < 0 ||
                version(d->args[d->nargs - 1], &c->max_version, &msg) < 0) {
                *error_r = ph_cfg_error(d, "%s", msg);
                free(msg);
                return -1;
            }
            if (c->min_version > c->max_version) {
                *error_r = ph_cfg_error(d, "protocols: %s is newer than %s",
                                        d->args[0], d->args[1]);
                return -1;
            }
        } else if (strcmp(d->name, "ciphers") == 0 ||
                   strcmp(d->name, "curves") == 0) {
            struct ph_strlist *l = d->name[1] == 'i' ? &c->ciphers : &c->curves;
            if (d->nargs == 0 || d->has_block) {
                *error_r = ph_cfg_error(d, "%s takes one or more names",
                                        d->name);
                return -1;
            }
            for (size_t a = 0; a < d->nargs; a++) {
                const char *s = d->args[a];
                /* Names go into a GnuTLS priority string: no syntax in them. */
                if (strpbrk(s, ":+-!%") != NULL || *s == '\0') {
                    *error_r = ph_cfg_error(d, "%s: bad name \"%s\"", d->name, s);
                    return -1;
                }
                ph_strlist_add(l, s);
            }
        } else {
            *error_r = ph_cfg_error(d, "unknown directive \"%s\" in tls block "
                                    "(expected protocols, ciphers or curves)",
                                    d->name);
            return -1;
        }
    }
    return 0;
}

int ph_tls_conf_parse(const struct ph_cfg_node *node, void *field,
                      struct ph_conf_ctx *ctx, char **error_r)
{
    (void)ctx;
    struct ph_tls_conf *c = field;
    ph_tls_conf_free(c);
    c->min_version = PH_TLS_1_2;
    c->max_version = PH_TLS_1_3;
    const char *first = node->nargs ? node->args[0] : "";
    if (node->nargs == 1 && strcmp(first, "off") == 0) {
        c->mode = PH_TLS_OFF;
        if (node->has_block) {
            *error_r = ph_strdup("\"tls off\" takes no block");
            return -1;
        }
        return 0;
    }
    if (node->nargs == 1 && strcmp(first, "self_signed") == 0) {
        c->mode = PH_TLS_SELF_SIGNED;
    } else if (strcmp(first, "file") == 0) {
        if (node->nargs < 3 || (node->nargs - 1) % 2 != 0) {
            *error_r = ph_strdup("expected tls file CERT KEY [CERT KEY...]");
            return -1;
        }
        c->mode = PH_TLS_FILES;
        for (size_t i = 1; i < node->nargs; i += 2) {
            ph_strlist_add(&c->certs, node->args[i]);
            ph_strlist_add(&c->keys, node->args[i + 1]);
        }
    } else if (node->nargs == 2) {
        c->mode = PH_TLS_FILES;
        ph_strlist_add(&c->certs, node->args[0]);
        ph_strlist_add(&c->keys, node->args[1]);
    } else {
        *error_r = ph_strdup("expected tls CERT KEY, tls file CERT KEY..., "
                             "tls self_signed or tls off");
        return -1;
    }
    return parse_block(node, c, error_r);
}
