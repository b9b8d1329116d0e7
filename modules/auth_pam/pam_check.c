/* SPDX-License-Identifier: MIT */
/* The PAM conversation and the authenticate + account sequence. */
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#include "pam_check.h"

bool pam_check_service_valid(const char *service)
{
    size_t n = strlen(service);
    if (n == 0 || n > PAM_CHECK_MAX_SERVICE || service[0] == '.')
        return false;
    return strspn(service, "abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "0123456789_.-") == n;
}

static void responses_free(struct pam_response *resp, int n)
{
    for (int i = 0; i < n; i++) {
        if (resp[i].resp != NULL) {
            explicit_bzero(resp[i].resp, strlen(resp[i].resp));
            free(resp[i].resp);
        }
    }
    free(resp);
}

/* Answers every password prompt with the password; passes over text
 * messages; refuses anything else (an echoed prompt, a binary prompt), so
 * that a stack asking for more than a password fails instead of guessing. */
static int conversation(int n, const struct pam_message **msg,
                        struct pam_response **resp_r, void *appdata)
{
    const char *password = appdata;
    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    if (resp_r == NULL) {
        /* Some modules (pam_matrix) send text messages without a reply. */
        for (int i = 0; i < n; i++)
            if (msg[i]->msg_style != PAM_TEXT_INFO &&
                msg[i]->msg_style != PAM_ERROR_MSG)
                return PAM_CONV_ERR;
        return PAM_SUCCESS;
    }
    struct pam_response *resp = calloc((size_t)n, sizeof(*resp));
    if (resp == NULL)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
            resp[i].resp = strdup(password);
            if (resp[i].resp == NULL) {
                responses_free(resp, n);
                return PAM_BUF_ERR;
            }
            break;
        case PAM_TEXT_INFO:
        case PAM_ERROR_MSG: break;
        default: responses_free(resp, n); return PAM_CONV_ERR;
        }
    }
    *resp_r = resp;
    return PAM_SUCCESS;
}

static enum pam_check_result classify(int r)
{
    switch (r) {
    case PAM_SUCCESS: return PAM_CHECK_OK;
    case PAM_AUTH_ERR:
    case PAM_USER_UNKNOWN:
    case PAM_MAXTRIES:
    case PAM_CRED_INSUFFICIENT:
    case PAM_PERM_DENIED:
    case PAM_ACCT_EXPIRED:
    case PAM_NEW_AUTHTOK_REQD: /* IMAP cannot change an expired password */
        return PAM_CHECK_REJECTED;
    default: return PAM_CHECK_ERROR;
    }
}

enum pam_check_result pam_check(const char *service, const char *user,
                                const char *password, const char **reason_r)
{
    struct pam_conv conv = {.conv = conversation,
                            .appdata_ptr = (void *)password};
    pam_handle_t *pamh = NULL;
    int r = pam_start(service, user, &conv, &pamh);
    if (r != PAM_SUCCESS) {
        *reason_r = pam_strerror(pamh, r);
        if (pamh != NULL)
            pam_end(pamh, r);
        return PAM_CHECK_ERROR;
    }
    const int flags = PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK;
    r = pam_authenticate(pamh, flags);
    if (r == PAM_SUCCESS)
        r = pam_acct_mgmt(pamh, flags);
    /* Linux-PAM's messages are static strings, valid after pam_end. */
    *reason_r = r == PAM_SUCCESS ? "accepted" : pam_strerror(pamh, r);
    pam_end(pamh, r);
    return classify(r);
}
