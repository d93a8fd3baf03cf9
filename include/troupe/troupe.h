/*
 * troupe/troupe.h - the umbrella header: include this one.
 *
 * troupe is a distributed actor runtime for C: lightweight actors, links,
 * monitors, names and supervisors, across the nodes of a cluster.
 * Anything not declared in the headers under include/troupe/ is not API.
 */
#ifndef TR_TROUPE_H
#define TR_TROUPE_H

#include <troupe/actor.h>
#include <troupe/app.h>
#include <troupe/err.h>
#include <troupe/msg.h>
#include <troupe/node.h>
#include <troupe/pid.h>
#include <troupe/registry.h>
#include <troupe/runtime.h>
#include <troupe/server.h>
#include <troupe/supervisor.h>
#include <troupe/version.h>

#endif /* TR_TROUPE_H */
