/* SPDX-License-Identifier: MIT */
/* posthorn SDK: the `tls` directive, as endpoints read it.
 *
 *   tls off
 *   tls self_signed
 *   tls CERT KEY
 *   tls file CERT KEY [CERT KEY...]     several pairs, chosen by SNI
 *   tls ... { protocols MIN [MAX]; ciphers NAME...; curves NAME... }
 *
 * Use it as a PH_DT_CUSTOM directive with .parse = ph_tls_conf_parse and
 * .free = ph_tls_conf_free on a struct ph_tls_conf field, usually with
 * PH_DF_INHERIT so the global `tls` applies. */
#ifndef POSTHORN_TLS_H
#define POSTHORN_TLS_H

#include <posthorn/module.h>

enum ph_tls_mode {
    PH_TLS_UNSET = 0, /* no tls directive anywhere */
    PH_TLS_OFF,
    PH_TLS_FILES,
    PH_TLS_SELF_SIGNED,
};

enum ph_tls_version {
    PH_TLS_1_0 = 10,
    PH_TLS_1_1 = 11,
    PH_TLS_1_2 = 12,
    PH_TLS_1_3 = 13,
};

struct ph_tls_conf {
    enum ph_tls_mode mode;
    struct ph_strlist certs; /* paths, pairwise with keys */
    struct ph_strlist keys;
    enum ph_tls_version min_version; /* default TLS 1.2 */
    enum ph_tls_version max_version; /* default TLS 1.3 */
    struct ph_strlist ciphers; /* GnuTLS names, e.g. AES-256-GCM */
    struct ph_strlist curves;  /* GnuTLS names, e.g. X25519 */
};

int ph_tls_conf_parse(const struct ph_cfg_node *node, void *field,
                      struct ph_conf_ctx *ctx, char **error_r);
void ph_tls_conf_free(void *field);

#endif
