/* SPDX-License-Identifier: MIT */
/* posthorn-pam-helper: checks one username and password against PAM for
 * auth.pam's `use_helper yes`, so that the server itself can run
 * unprivileged while PAM (pam_unix reading /etc/shadow) runs here.
 *
 *   posthorn-pam-helper [SERVICE]        (default service: posthorn)
 *   posthorn-pam-helper --shadow         (auth.shadow: /etc/shadow itself)
 *   stdin:  USERNAME '\n' PASSWORD '\n', then end of input
 *   exit:   0 accepted, 1 rejected, 2 error (the reason on stderr)
 *
 * Installed setuid root (or setgid shadow for pam_unix alone), executable
 * only by the server's group: chown root:posthorn, chmod 4750. Values
 * holding NUL or newline bytes, or longer than the module allows, are
 * refused before PAM sees them. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pam_check.h"
#include "shadow_check.h"

#define DEFAULT_SERVICE "posthorn"

static void fail(const char *reason)
{
    fprintf(stderr, "posthorn-pam-helper: %s\n", reason);
    exit(PAM_CHECK_ERROR);
}

/* Reads one line of at most max bytes into buf (max + 1 bytes); the line
 * must end in '\n' and hold no NUL byte. */
static void read_line(char *buf, size_t max, const char *what)
{
    size_t n = 0;
    for (;;) {
        int c = getchar();
        if (c == EOF) {
            char msg[64];
            snprintf(msg, sizeof(msg), "input ends inside the %s", what);
            fail(msg);
        }
        if (c == '\n')
            break;
        if (c == '\0') {
            char msg[64];
            snprintf(msg, sizeof(msg), "NUL byte in the %s", what);
            fail(msg);
        }
        if (n == max) {
            char msg[64];
            snprintf(msg, sizeof(msg), "%s longer than %zu bytes", what, max);
            fail(msg);
        }
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
}

int main(int argc, char **argv)
{
    static char user[PAM_CHECK_MAX_USER + 1];
    static char password[PAM_CHECK_MAX_PASSWORD + 1];
    if (argc > 2)
        fail("usage: posthorn-pam-helper [SERVICE | --shadow] "
             "< username-and-password");
    /* --shadow reads /etc/shadow and nothing else: a setuid program takes
     * no file name from its caller. */
    bool shadow = argc == 2 && strcmp(argv[1], "--shadow") == 0;
    const char *service = argc == 2 ? argv[1] : DEFAULT_SERVICE;
    if (!shadow && !pam_check_service_valid(service))
        fail("invalid PAM service name");
    /* No stdio buffer may keep a copy of the password. */
    setvbuf(stdin, NULL, _IONBF, 0);
    read_line(user, PAM_CHECK_MAX_USER, "username");
    read_line(password, PAM_CHECK_MAX_PASSWORD, "password");
    if (getchar() != EOF)
        fail("extra input after the password");
    if (user[0] == '\0')
        fail("empty username");
    const char *reason;
    enum pam_check_result r =
        shadow ? shadow_check(SHADOW_CHECK_FILE, user, password, time(NULL),
                              &reason)
               : pam_check(service, user, password, &reason);
    explicit_bzero(password, sizeof(password));
    if (r != PAM_CHECK_OK)
        fprintf(stderr, "posthorn-pam-helper: %s\n", reason);
    return (int)r;
}
