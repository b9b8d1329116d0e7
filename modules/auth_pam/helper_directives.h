/* SPDX-License-Identifier: MIT */
/* The directives auth.pam and auth.shadow share: both check in-process
 * or through posthorn-pam-helper. T is the module's conf struct, with
 * use_helper, helper, helper_timeout and debug fields. */
#ifndef POSTHORN_HELPER_DIRECTIVES_H
#define POSTHORN_HELPER_DIRECTIVES_H

#define PH_PAM_HELPER_DIRECTIVES(T, what)                                      \
    {.name = "use_helper",                                                     \
     .type = PH_DT_BOOL,                                                       \
     .offset = offsetof(T, use_helper),                                        \
     .def = "no",                                                              \
     .help = "check through " what ", not in-process"},                        \
        {.name = "helper",                                                     \
         .type = PH_DT_STRING,                                                 \
         .offset = offsetof(T, helper),                                        \
         .def = PH_PAM_HELPER,                                                 \
         .help = "path of posthorn-pam-helper"},                               \
        {.name = "helper_timeout",                                             \
         .type = PH_DT_DURATION,                                               \
         .offset = offsetof(T, helper_timeout),                                \
         .def = "30s",                                                         \
         .help = "how long the helper may take before the check fails"},      \
        {.name = "debug",                                                      \
         .type = PH_DT_BOOL,                                                   \
         .flags = PH_DF_INHERIT,                                               \
         .offset = offsetof(T, debug),                                         \
         .def = "no"}

#endif
