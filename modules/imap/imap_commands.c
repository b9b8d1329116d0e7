/* SPDX-License-Identifier: MIT */
/* The command table and dispatch, and the small commands of any state. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <posthorn/event.h>

#include "imap-private.h"

static const struct imap_command_def commands[] = {
    {"CAPABILITY", IMAP_STATE_ANY, imap_cmd_capability, 0},
    {"NOOP", IMAP_STATE_ANY, imap_cmd_noop, 0},
    {"LOGOUT", IMAP_STATE_ANY, imap_cmd_logout, 0},
    {"ID", IMAP_STATE_ANY, imap_cmd_id, 0},
    {"STARTTLS", IMAP_STATE_NOT_AUTH, imap_cmd_starttls, 0},
    {"LOGIN", IMAP_STATE_NOT_AUTH, imap_cmd_login, 0},
    {"AUTHENTICATE", IMAP_STATE_NOT_AUTH, imap_cmd_authenticate, 0},
    {"ENABLE", IMAP_STATE_LOGGED_IN, imap_cmd_enable, 0},
    {"NAMESPACE", IMAP_STATE_LOGGED_IN, imap_cmd_namespace, 0},
    {"LIST", IMAP_STATE_LOGGED_IN, imap_cmd_list, 0},
    {"LSUB", IMAP_STATE_LOGGED_IN, imap_cmd_lsub, IMAP_CMD_REV1},
    {"CREATE", IMAP_STATE_LOGGED_IN, imap_cmd_create, 0},
    {"DELETE", IMAP_STATE_LOGGED_IN, imap_cmd_delete, 0},
    {"RENAME", IMAP_STATE_LOGGED_IN, imap_cmd_rename, 0},
    {"SUBSCRIBE", IMAP_STATE_LOGGED_IN, imap_cmd_subscribe, 0},
    {"UNSUBSCRIBE", IMAP_STATE_LOGGED_IN, imap_cmd_unsubscribe, 0},
    {"STATUS", IMAP_STATE_LOGGED_IN, imap_cmd_status, 0},
    {"SELECT", IMAP_STATE_LOGGED_IN, imap_cmd_select, 0},
    {"EXAMINE", IMAP_STATE_LOGGED_IN, imap_cmd_examine, 0},
    {"APPEND", IMAP_STATE_LOGGED_IN, imap_cmd_append, 0},
    {"IDLE", IMAP_STATE_LOGGED_IN, imap_cmd_idle, 0},
    {"COMPRESS", IMAP_STATE_LOGGED_IN, imap_cmd_compress, 0},
    {"CHECK", IMAP_STATE_SELECTED, imap_cmd_check, IMAP_CMD_REV1},
    {"CLOSE", IMAP_STATE_SELECTED, imap_cmd_close, 0},
    {"UNSELECT", IMAP_STATE_SELECTED, imap_cmd_unselect, 0},
    {"EXPUNGE", IMAP_STATE_SELECTED, imap_cmd_expunge, 0},
    {"FETCH", IMAP_STATE_SELECTED, imap_cmd_fetch, IMAP_CMD_USES_SEQ},
    {"STORE", IMAP_STATE_SELECTED, imap_cmd_store, IMAP_CMD_USES_SEQ},
    {"SEARCH", IMAP_STATE_SELECTED, imap_cmd_search, IMAP_CMD_USES_SEQ},
    {"SORT", IMAP_STATE_SELECTED, imap_cmd_sort, IMAP_CMD_USES_SEQ},
    {"THREAD", IMAP_STATE_SELECTED, imap_cmd_thread, IMAP_CMD_USES_SEQ},
    {"CANCELUPDATE", IMAP_STATE_SELECTED, imap_cmd_cancelupdate, 0},
    {"COPY", IMAP_STATE_SELECTED, imap_cmd_copy, IMAP_CMD_USES_SEQ},
    {"MOVE", IMAP_STATE_SELECTED, imap_cmd_move, 0},
    {"UID", IMAP_STATE_SELECTED, imap_cmd_uid, 0},
    {"GETQUOTA", IMAP_STATE_LOGGED_IN, imap_cmd_getquota, 0},
    {"GETQUOTAROOT", IMAP_STATE_LOGGED_IN, imap_cmd_getquotaroot, 0},
    {"SETQUOTA", IMAP_STATE_LOGGED_IN, imap_cmd_setquota, 0},
};

const struct imap_command_def *imap_command_find(const char *name)
{
    for (size_t i = 0; i < PH_N_ELEMENTS(commands); i++)
        if (strcasecmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

char *imap_command_refusal(const struct imap_session *s, const char *name,
                           const struct imap_command_def **def_r)
{
    const struct imap_command_def *def = imap_command_find(name);
    if (def_r != NULL)
        *def_r = def;
    if (def == NULL) {
        char *t = imap_token_text(name);
        char *text = ph_strdup_printf("Unknown command %s", t);
        free(t);
        return text;
    }
    /* RFC 9051 Appendix E 17 and 19: IMAP4rev2 has no CHECK and no LSUB
     * (its grammar lacks them: a BAD, as for any unknown command). */
    if ((def->flags & IMAP_CMD_REV1) && s->rev2)
        return ph_strdup_printf(
            "%s is not in IMAP4rev2 (RFC 9051 Appendix "
            "E): use %s",
            def->name, def->fn == imap_cmd_lsub ? "LIST (SUBSCRIBED)" : "NOOP");
    if (def->states & s->state)
        return NULL;
    if (s->state == IMAP_STATE_NOT_AUTH)
        return ph_strdup("Log in first");
    if (def->states == IMAP_STATE_NOT_AUTH)
        return ph_strdup("Already logged in");
    return ph_strdup("No mailbox selected");
}

void imap_dispatch(struct imap_session *s, const struct ph_imap_command *cmd)
{
    free(s->tag);
    s->tag = ph_strdup(cmd->tag);
    s->cmd_uid = false;
    s->nreported = 0;
    s->modseq_sent = s->ok_highestmodseq = false;
    const struct imap_command_def *def;
    char *refusal = imap_command_refusal(s, cmd->name, &def);
    s->allow_expunge = def == NULL || !(def->flags & IMAP_CMD_USES_SEQ);
    if (refusal != NULL) {
        imap_tagged(s, "BAD", "%s", refusal);
        free(refusal);
        return;
    }
    /* Handlers index past what they have read (args + pos); an empty
     * command line gives them a real, empty array instead of NULL. */
    static const struct ph_imap_value no_args[1];
    if (imap_utf8(s) && !imap_quoted_utf8_check(s, cmd->args, cmd->n_args))
        return;
    int64_t t0 = imap_now_ms();
    s->tagged = NULL;
    def->fn(s, cmd->args != NULL ? cmd->args : no_args, cmd->n_args);
    /* IDLE and AUTHENTICATE answer later: "-" until then. The line is the
     * debug log's; openmetrics counts every command. */
    PH_EVENT(s->srv->conf->debug, PH_LOG_INFO, "imap", "command",
             PH_EV_STR("client", s->addr), PH_EV_STR("user", s->user ? s->user : "-"),
             PH_EV_STR("command", def->name),
             PH_EV_NUM("ms", imap_now_ms() - t0),
             PH_EV_STR("result", s->tagged ? s->tagged : "-"));
}

void imap_cmd_uid(struct imap_session *s, const struct ph_imap_value *args,
                  size_t n)
{
    static const char *const allowed[] = {"FETCH", "STORE", "SEARCH",
                                          "COPY",  "MOVE",  "EXPUNGE",
                                          "SORT",  "THREAD"};
    const char *name;
    if (n == 0 || !ph_imap_value_get_atom(&args[0], &name)) {
        imap_tagged(s, "BAD", "UID needs a command");
        return;
    }
    for (size_t i = 0; i < PH_N_ELEMENTS(allowed); i++) {
        if (strcasecmp(name, allowed[i]) == 0) {
            const struct imap_command_def *def = imap_command_find(name);
            s->cmd_uid = true;
            s->allow_expunge = true;
            if (def->fn == imap_cmd_expunge)
                imap_cmd_expunge(s, args + 1, n - 1);
            else
                def->fn(s, args + 1, n - 1);
            return;
        }
    }
    char *t = imap_token_text(name);
    imap_tagged(s, "BAD", "Unknown UID command %s", t);
    free(t);
}

static bool no_args(struct imap_session *s, size_t n)
{
    if (n == 0)
        return true;
    imap_tagged(s, "BAD", "Unexpected arguments");
    return false;
}

void imap_cmd_capability(struct imap_session *s,
                         const struct ph_imap_value *args, size_t n)
{
    (void)args;
    if (!no_args(s, n))
        return;
    ph_buf_puts(&s->out, "* CAPABILITY ");
    imap_capability_write(s, &s->out);
    ph_buf_puts(&s->out, "\r\n");
    imap_tagged(s, "OK", "CAPABILITY completed");
}

void imap_cmd_noop(struct imap_session *s, const struct ph_imap_value *args,
                   size_t n)
{
    (void)args;
    if (no_args(s, n))
        imap_tagged(s, "OK", "NOOP completed");
}

void imap_cmd_check(struct imap_session *s, const struct ph_imap_value *args,
                    size_t n)
{
    (void)args;
    if (no_args(s, n))
        imap_tagged(s, "OK", "CHECK completed");
}

void imap_cmd_logout(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    (void)args;
    if (!no_args(s, n))
        return;
    ph_buf_puts(&s->out, "* BYE Logging out\r\n");
    s->state = IMAP_STATE_LOGOUT;
    imap_tagged(s, "OK", "LOGOUT completed");
    s->closing = true;
}

void imap_cmd_namespace(struct imap_session *s,
                        const struct ph_imap_value *args, size_t n)
{
    (void)args;
    if (!no_args(s, n))
        return;
    ph_buf_puts(&s->out, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
    imap_tagged(s, "OK", "NAMESPACE completed");
}

void imap_cmd_enable(struct imap_session *s, const struct ph_imap_value *args,
                     size_t n)
{
    const char *name;
    for (size_t i = 0; i < n; i++) {
        if (!ph_imap_value_get_atom(&args[i], &name)) {
            imap_tagged(s, "BAD", "ENABLE takes capability names");
            return;
        }
    }
    if (n == 0) {
        imap_tagged(s, "BAD", "ENABLE needs a capability name");
        return;
    }
    /* RFC 5161 3.1: others are ignored; the ENABLED response "SHOULD only
     * contain extensions enabled by the corresponding ENABLE command".
     * RFC 7162 3.2.3: "ENABLE QRESYNC" and "ENABLE QRESYNC CONDSTORE" have
     * identical results. */
    bool condstore = false, qresync = false;
    for (size_t i = 0; i < n; i++) {
        condstore = condstore || ph_imap_value_is_atom(&args[i], "CONDSTORE");
        qresync = qresync || ph_imap_value_is_atom(&args[i], "QRESYNC");
    }
    bool was_condstore = s->condstore, was_qresync = s->qresync;
    ph_buf_printf(&s->out, "* ENABLED%s%s",
                  condstore && !was_condstore ? " CONDSTORE" : "",
                  qresync && !was_qresync ? " QRESYNC" : "");
    /* RFC 6855 3 and RFC 9051 (Appendix A): from now on names and quoted
     * strings are UTF-8, IMAP4rev2's responses replace IMAP4rev1's. */
    for (size_t i = 0; i < n; i++) {
        const char *cap = ph_imap_value_is_atom(&args[i], "UTF8=ACCEPT")
                              ? "UTF8=ACCEPT"
                          : ph_imap_value_is_atom(&args[i], "IMAP4rev2") &&
                                  s->srv->conf->imap4rev2
                              ? "IMAP4rev2"
                              : NULL;
        bool *flag = cap == NULL     ? NULL
                     : cap[0] == 'U' ? &s->utf8_accept
                                     : &s->rev2;
        if (flag != NULL && !*flag) {
            *flag = true;
            ph_buf_printf(&s->out, " %s", cap);
        }
    }
    ph_buf_puts(&s->out, "\r\n");
    if (condstore || qresync)
        imap_condstore_enable(s);
    s->qresync = s->qresync || qresync;
    imap_tagged(s, "OK", "ENABLE completed");
}

void imap_cmd_id(struct imap_session *s, const struct ph_imap_value *args,
                 size_t n)
{
    const struct ph_imap_value *items = NULL;
    size_t ni = 0;
    if (n != 1 || (args[0].type != PH_IMAP_VALUE_NIL &&
                   (!ph_imap_value_get_list(&args[0], &items, &ni) ||
                    ni % 2 != 0 || ni > 60))) {
        imap_tagged(s, "BAD", "ID takes NIL or a list of field/value pairs");
        return;
    }
    /* RFC 2971: id-params-list = "(" *(string SP nstring) ")" / nil. */
    for (size_t i = 0; i < ni; i += 2) {
        const char *str;
        if (!ph_imap_value_get_string(&items[i], &str)) {
            imap_tagged(s, "BAD", "ID field names are strings (RFC 2971)");
            return;
        }
        if (!ph_imap_value_get_nstring(&items[i + 1], &str)) {
            imap_tagged(s, "BAD", "ID values are strings or NIL (RFC 2971)");
            return;
        }
    }
    ph_buf_puts(&s->out, "* ID (\"name\" \"posthorn\")\r\n");
    imap_tagged(s, "OK", "ID completed");
}
