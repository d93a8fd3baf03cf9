/*
 * tests/sim/sim.h - the world of the deterministic simulation (sim.c) and
 * its simulated network (sim_net.c).
 */
#ifndef TR_TESTS_SIM_H
#define TR_TESTS_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <troupe/troupe.h>

#define SIM_MAX_NODES 5
#define SIM_MAX_SUBS  8

struct sim_node {
	char name[16];
	tr_node_t *node; /* NULL while crashed */
	uint32_t creation;
	tr_net_t *net;
	tr_global_t *g;
	tr_pg_t *pg;
	tr_pid_t client;
	tr_pid_t subs[SIM_MAX_SUBS]; /* monitor_nodes subscribers */
	size_t nsubs;
};

struct sim_world {
	int n;
	struct sim_node node[SIM_MAX_NODES];
	/* does i count its session with j as up (tr_net_is_up)? */
	bool believes_up[SIM_MAX_NODES][SIM_MAX_NODES];
};

extern struct sim_world sim;

/* sim.c: queue m from node `from` for node `to` (to pid, or to name if
 * not NULL) over their current session, with a seeded delay. */
void sim_post(int from, int to, tr_pid_t pid, const char *name, tr_msg_t *m);

/* sim_net.c */
tr_net_t *sim_net_attach(int idx);
void sim_net_arrive(int from, int to, tr_pid_t pid, const char *name,
                    tr_msg_t *m);
void sim_net_down(int self, int other, const char *why);
void sim_net_up(int self, int other);
void sim_net_forget(int idx);

#endif
