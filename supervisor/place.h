/*
 * supervisor/place.h - the placement agent (place.c) as the supervisor
 * uses it. Internal.
 */
#ifndef TR_SUPERVISOR_PLACE_H
#define TR_SUPERVISOR_PLACE_H

#include <troupe/supervisor.h>

/* TR_EINVAL for a placement that cannot work (no net, no behaviour, a
 * name without a registry). */
tr_err tr__place_check(const tr_placement_t *pl);
/* In the supervisor: spawn the agent for child `id`, linked to it. */
tr_err tr__place_start(const tr_placement_t *pl, const char *id, tr_pid_t *out);
/* Is m an agent's ["tr_placed", agent, child]? */
bool tr__place_msg(const tr_msg_t *m, tr_pid_t *agent, tr_pid_t *child);

#endif
