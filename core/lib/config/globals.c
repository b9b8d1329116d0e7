/* SPDX-License-Identifier: MIT */
/* The process-wide view of the most recently loaded graph's globals
 * (hostname, state_dir, runtime_dir): set by the graph, read by any layer
 * (TLS names its self-signed certificate after the hostname) without
 * reaching up to the graph. */
#include <stdlib.h>

#include <posthorn/module.h>

#include "conf-private.h"

static char *cur_hostname, *cur_state_dir, *cur_runtime_dir;

void ph_globals_set(const char *hostname, const char *state_dir,
                    const char *runtime_dir)
{
    free(cur_hostname);
    free(cur_state_dir);
    free(cur_runtime_dir);
    cur_hostname = hostname ? ph_strdup(hostname) : NULL;
    cur_state_dir = state_dir ? ph_strdup(state_dir) : NULL;
    cur_runtime_dir = runtime_dir ? ph_strdup(runtime_dir) : NULL;
}

const char *ph_global_hostname(void) { return cur_hostname; }
const char *ph_global_state_dir(void) { return cur_state_dir; }
const char *ph_global_runtime_dir(void) { return cur_runtime_dir; }

char *ph_state_path(const char *path)
{
    if (path[0] == '/' || cur_state_dir == NULL)
        return ph_strdup(path);
    return ph_strdup_printf("%s/%s", cur_state_dir, path);
}
