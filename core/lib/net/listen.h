/* SPDX-License-Identifier: MIT */
/* The listener pool, as the posthorn program drives it across reloads. */
#ifndef PH_LISTEN_H
#define PH_LISTEN_H

#include <posthorn/endpoint-impl.h>

struct ph_listeners *ph_listeners_new(void);
/* Marks every socket unclaimed before a graph's endpoints start. */
void ph_listeners_begin(struct ph_listeners *pool);
/* Closes the sockets no endpoint claimed since ph_listeners_begin(). */
void ph_listeners_commit(struct ph_listeners *pool);
void ph_listeners_free(struct ph_listeners **pool);

#endif
