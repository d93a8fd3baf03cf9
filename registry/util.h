/*
 * registry/util.h - small helpers the registry services share.
 */
#ifndef TR_REGISTRY_UTIL_H
#define TR_REGISTRY_UTIL_H

#include <stdatomic.h>
#include <troupe/troupe.h>

/*
 * Kill a service actor of node and wait until it is gone: its terminate
 * sets *dead. Nothing to do if *dead is set already (the node stopped).
 * Not from actor context.
 */
void tr__kill_and_wait(tr_node_t *node, tr_pid_t pid, _Atomic int *dead);

/*
 * Tests only: while node is not NULL, g (when leading) sends none of its
 * ops to the member named node, as if the network had lost them (the
 * string must outlive the setting).
 */
void tr__global_test_lose_ops_to(tr_global_t *g, const char *node);

#endif
