/*
 * tests/sim/sim_net.c - the simulated network of the deterministic
 * simulation: the tr_net_* functions the registry uses, over a world of
 * manual nodes in one thread (sim.h), instead of net/ and ZeroMQ.
 *
 * It gives what net/ promises above the wire (docs/semantics.md D1-D4):
 * per-pair FIFO without duplicates within a session; a session that ends
 * loses what was in flight, then delivers "noconnection" for every link
 * and monitor that crossed it (the cross table, as net.c keeps it) and a
 * nodedown; a new session starts with a nodeup. Everything else is the
 * simulation's to choose, by seed: each message's delay (so messages of
 * different pairs overtake each other), when each side notices a cut
 * (one side may go on sending into a dead session for a while), when
 * nodes crash and come back as new incarnations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>

#include "runtime/internal.h"
#include "sim.h"

struct tr_net {
	int idx;
};

static struct tr_net nets[SIM_MAX_NODES];

struct xent {
	uint8_t type; /* X_LINK, X_MON_OUT, X_MON_IN */
	tr_pid_t local, remote;
	tr_ref_t ref;
};
enum {
	X_LINK = TR__CROSS_LINK,
	X_MON_OUT = TR__CROSS_MON_OUT,
	X_MON_IN = TR__CROSS_MON_IN
};

/* the cross table of side i's session with j */
struct xtab {
	struct xent *v;
	size_t n, cap;
};
static struct xtab xt[SIM_MAX_NODES][SIM_MAX_NODES];

static struct xent *xfind(struct xtab *t, uint8_t type, tr_pid_t local,
                          tr_pid_t remote, tr_ref_t ref)
{
	for (size_t i = 0; i < t->n; i++) {
		struct xent *x = &t->v[i];
		if (x->type == type &&
		    (type == X_LINK ? tr_pid_eq(x->local, local) &&
		                              tr_pid_eq(x->remote, remote)
		                    : tr_ref_eq(x->ref, ref)))
			return x;
	}
	return NULL;
}

static void xadd(struct xtab *t, uint8_t type, tr_pid_t local, tr_pid_t remote,
                 tr_ref_t ref)
{
	if (xfind(t, type, local, remote, ref))
		return;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = realloc(t->v, t->cap * sizeof(*t->v));
		if (!t->v)
			abort();
	}
	t->v[t->n++] = (struct xent){type, local, remote, ref};
}

static void xdel(struct xtab *t, uint8_t type, tr_pid_t local, tr_pid_t remote,
                 tr_ref_t ref)
{
	struct xent *x = xfind(t, type, local, remote, ref);
	if (x)
		*x = t->v[--t->n];
}

/* What a signal crossing means for the cross table of side `self`. */
static void xnote(struct xtab *t, bool out, const tr_msg_t *m, tr_pid_t to)
{
	tr_pid_t local = out ? m->from : to, remote = out ? to : m->from;
	switch (m->kind) {
	case TR__SIG_LINK:
		xadd(t, X_LINK, local, remote, m->ref);
		break;
	case TR__SIG_UNLINK_ACK:
		xdel(t, X_LINK, local, remote, m->ref);
		break;
	case TR__SIG_EXIT:
		if (m->flags & TR__MSGF_LINKED)
			xdel(t, X_LINK, local, remote, m->ref);
		break;
	case TR__SIG_MONITOR:
		xadd(t, out ? X_MON_OUT : X_MON_IN, local, remote, m->ref);
		break;
	case TR__SIG_DEMONITOR:
		xdel(t, out ? X_MON_OUT : X_MON_IN, local, remote, m->ref);
		break;
	case TR__SIG_DOWN:
		xdel(t, out ? X_MON_IN : X_MON_OUT, local, remote, m->ref);
		break;
	default:
		break;
	}
}

static bool crosses(uint8_t kind)
{
	switch (kind) {
	case TR_MSG_PLAIN:
	case TR_MSG_CALL:
	case TR_MSG_CAST:
	case TR_MSG_REPLY:
	case TR__SIG_LINK:
	case TR__SIG_UNLINK:
	case TR__SIG_UNLINK_ACK:
	case TR__SIG_EXIT:
	case TR__SIG_MONITOR:
	case TR__SIG_DEMONITOR:
	case TR__SIG_DOWN:
		return true;
	default:
		return false;
	}
}

static int node_of_id(uint64_t id)
{
	for (int i = 0; i < sim.n; i++)
		if (sim.node[i].node && tr_node_id(sim.node[i].node) == id)
			return i;
	return -1;
}

/* ---- sending --------------------------------------------------------- */

static tr_err sim_send(int from, int to, tr_pid_t pid, const char *name,
                       tr_msg_t *m)
{
	if (!crosses(m->kind))
		return TR_EINVAL;
	if (to < 0 || !sim.believes_up[from][to])
		return TR_EUNREACHABLE;
	if (!name && m->kind >= TR__SIG_FIRST)
		xnote(&xt[from][to], true, m, pid);
	sim_post(from, to, pid, name, m);
	return TR_OK;
}

static tr_err sim_route(void *dist, tr_pid_t to, tr_msg_t *m)
{
	struct tr_net *net = dist;
	return sim_send(net->idx, node_of_id(to.node), to, NULL, m);
}

static void sim_stop(void *dist)
{
	(void)dist;
}

static const struct tr_dist_ops sim_ops = {.route = sim_route,
                                           .stop = sim_stop};

tr_net_t *sim_net_attach(int idx)
{
	nets[idx].idx = idx;
	if (tr__node_set_dist(sim.node[idx].node, &sim_ops, &nets[idx]))
		return NULL;
	return &nets[idx];
}

/* An envelope arrived at `to` over a session still alive: hand it to
 * the node, as net.c's I/O thread does. */
void sim_net_arrive(int from, int to, tr_pid_t pid, const char *name,
                    tr_msg_t *m)
{
	tr_node_t *n = sim.node[to].node;
	if (name) {
		if (tr_whereis(n, name, &pid) != TR_OK) {
			tr_msg_free(m);
			return;
		}
	} else if (m->kind >= TR__SIG_FIRST) {
		xnote(&xt[to][from], false, m, pid);
	}
	tr__deliver(n, pid, m);
}

/* ---- sessions -------------------------------------------------------- */

static void tell_subs(int self, const char *tag, int other, const char *why)
{
	struct sim_node *s = &sim.node[self];
	for (size_t k = 0; k < s->nsubs; k++) {
		tr_msg_t *m;
		if (tr_msg_new(&m, tag))
			abort();
		tr_msg_add_str(m, sim.node[other].name);
		if (why)
			tr_msg_add_str(m, why);
		else
			tr_msg_add_uint(m, sim.node[other].creation);
		tr__deliver(s->node, s->subs[k], m);
	}
}

/* Side self learns that its session with other ended: noconnection for
 * what crossed it, then the nodedown. */
void sim_net_down(int self, int other, const char *why)
{
	sim.believes_up[self][other] = false;
	struct xtab *t = &xt[self][other];
	tr_node_t *n = sim.node[self].node;
	for (size_t i = 0; i < t->n; i++)
		tr__connection_lost(n, t->v[i].type, t->v[i].local,
		                    t->v[i].remote, t->v[i].ref);
	t->n = 0;
	tell_subs(self, "nodedown", other, why);
}

void sim_net_up(int self, int other)
{
	sim.believes_up[self][other] = true;
	xt[self][other].n = 0;
	tell_subs(self, "nodeup", other, NULL);
}

void sim_net_forget(int idx)
{
	for (int j = 0; j < SIM_MAX_NODES; j++) {
		free(xt[idx][j].v);
		xt[idx][j] = (struct xtab){0};
	}
	sim.node[idx].nsubs = 0;
}

/* ---- the tr_net_* functions the registry calls ------------------------ */

tr_node_t *tr_net_node(const tr_net_t *net)
{
	return net ? sim.node[net->idx].node : NULL;
}

bool tr_net_is_up(tr_net_t *net, const char *name)
{
	for (int j = 0; j < sim.n; j++)
		if (sim.node[j].node && !strcmp(sim.node[j].name, name))
			return sim.believes_up[net->idx][j];
	return false;
}

tr_err tr_net_nodes(tr_net_t *net, tr_peer_info_t *out, size_t cap, size_t *n)
{
	size_t k = 0;
	for (int j = 0; j < sim.n; j++) {
		if (!sim.believes_up[net->idx][j])
			continue;
		if (k < cap) {
			tr_peer_info_t *p = &out[k];
			memset(p, 0, sizeof(*p));
			snprintf(p->name, sizeof(p->name), "%s",
			         sim.node[j].name);
			p->id = tr_node_id(sim.node[j].node);
			p->creation = sim.node[j].creation;
			p->state = TR_PEER_UP;
		}
		k++;
	}
	*n = k;
	return TR_OK;
}

tr_err tr_net_monitor_nodes(tr_net_t *net, tr_pid_t pid, bool on,
                            bool with_hidden)
{
	(void)with_hidden;
	struct sim_node *s = &sim.node[net->idx];
	for (size_t k = 0; k < s->nsubs; k++)
		if (tr_pid_eq(s->subs[k], pid)) {
			if (!on)
				s->subs[k] = s->subs[--s->nsubs];
			return TR_OK;
		}
	if (on && s->nsubs < SIM_MAX_SUBS)
		s->subs[s->nsubs++] = pid;
	return TR_OK;
}

tr_err tr_send_named(tr_net_t *net, const char *node, const char *name,
                     tr_msg_t *m)
{
	if (!net || !node || !name || !m || !name[0] ||
	    (m->flags & TR__MSGF_SENT))
		return TR_EINVAL;
	struct tr_actor *self = tr__tls_actor;
	m->kind = TR_MSG_PLAIN;
	m->from = self ? tr__pid_of(self) : TR_PID_NONE;
	for (int j = 0; j < sim.n; j++)
		if (sim.node[j].node && !strcmp(sim.node[j].name, node))
			return sim_send(net->idx, j, TR_PID_NONE, name, m);
	return TR_EUNREACHABLE;
}
