/*
 * bin/admin.h - the daemon's operator service, which the `troupe` CLI
 * talks to (docs/troupe.md, "Protocol"). Public libtroupe API only.
 */
#ifndef TROUPE_BIN_ADMIN_H
#define TROUPE_BIN_ADMIN_H

#include <troupe/troupe.h>

/* The behaviour a CLI spawns on the node it talks to (one session per
 * CLI run). */
#define TROUPE_ADMIN_BEHAVIOUR "troupe_admin"

/*
 * Start the service: export TROUPE_ADMIN_BEHAVIOUR on net and run the
 * worker thread that carries out the sessions' requests (they may block:
 * spawns, registrations, calls to other nodes). sup: the node's root
 * DynamicSupervisor (spawn --supervised puts children under it).
 * log: where to report what operators did (may be NULL).
 */
int troupe_admin_start(tr_node_t *node, tr_net_t *net, tr_global_t *g,
                       tr_pid_t sup,
                       void (*log)(int level, const char *fmt, ...));
/* Stop the worker and free what supervised spawns kept (call after the
 * root supervisor has stopped). */
void troupe_admin_stop(void);

#endif
