/*
 * troupe/app.h - applications loaded into a node daemon.
 *
 * `troupe-node --load APP.so[:ARG]` opens the shared object and calls its
 * entry point once the node is listening (and has joined what --join
 * names), the way an OTP application is started on a node. The entry
 * point typically exports behaviours (tr_net_export) and spawns and
 * registers the application's long-lived actors. A non-zero return makes
 * the daemon log the error and exit 1. examples/app_greeter.c is one.
 */
#ifndef TR_APP_H
#define TR_APP_H

#include <troupe/node.h>
#include <troupe/runtime.h>

/* The symbol troupe-node looks up in an application's shared object. */
#define TR_APP_ENTRY "troupe_app_start"

/* node and net: the daemon's; arg: the text after ':' in --load, or "". */
typedef int (*tr_app_start_fn)(tr_node_t *node, tr_net_t *net, const char *arg);

#endif /* TR_APP_H */
