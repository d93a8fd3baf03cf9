/*
 * supervisor/place.c - children on other nodes (tr_placement_t).
 *
 * The supervisor links to a local agent; the agent spawns the exported
 * behaviour on the chosen node through that node's kernel, linked to
 * itself (["spawn", beh, arg, true], docs/protocol.md §6), registers the
 * global name if there is one, and from then on mirrors the child:
 *
 *   child exits with R          -> the agent stops with R
 *   the supervisor's exit R     -> tr_exit(child, R), wait for the
 *                                  child's EXIT, stop with its reason
 *   the agent is killed         -> the link kills the child ("killed")
 *   the child's node is lost    -> EXIT "noconnection" -> stop with it
 *
 * The agent tells its supervisor the child's pid (["tr_placed", agent,
 * child]) so which_children shows it. States run in one direction:
 * SPAWNING -> NAMING -> RUNNING -> STOPPING.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <troupe/supervisor.h>

#include "supervisor/place.h"

#define RETRY_MS 50

enum st { SPAWNING, NAMING, RUNNING, STOPPING };

struct agent {
	const tr_placement_t *pl;
	tr_node_t *node;
	char id[TR_CHILD_ID_MAX];
	tr_pid_t sup, child;
	enum st st;
	bool stop_pending; /* the supervisor's exit came while spawning */
	char stop_reason[TR_REASON_MAX];
	uint64_t name_deadline;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The node to start on, by the placement's rule; false if there is none
 * (*why says which). */
static bool choose(struct agent *a, char *out, const char **why)
{
	const tr_placement_t *pl = a->pl;
	size_t n = 0, cap = 0;
	tr_peer_info_t *peers = NULL;
	if (tr_net_nodes(pl->net, NULL, 0, &cap) == TR_OK && cap) {
		peers = calloc(cap, sizeof(*peers));
		if (!peers || tr_net_nodes(pl->net, peers, cap, &n)) {
			free(peers);
			*why = "no_memory";
			return false;
		}
		if (n > cap)
			n = cap;
	}
	typedef char nm_t[TR_NODE_NAME_MAX + 1];
	nm_t *up = calloc(n + 1, sizeof(nm_t));
	if (!up) {
		free(peers);
		*why = "no_memory";
		return false;
	}
	size_t k = 0;
	snprintf(up[k++], sizeof(nm_t), "%s", tr_node_name(a->node));
	for (size_t i = 0; i < n; i++)
		if (peers[i].state == TR_PEER_UP && !peers[i].hidden)
			snprintf(up[k++], sizeof(nm_t), "%s", peers[i].name);
	free(peers);
	qsort(up, k, sizeof(nm_t), by_name);
	bool ok = true;
	if (pl->node) {
		size_t i = 0;
		while (i < k && strcmp(up[i], pl->node) < 0)
			i++;
		if (i < k && !strcmp(up[i], pl->node))
			snprintf(out, TR_NODE_NAME_MAX + 1, "%s", pl->node);
		else if (pl->failover) /* the next one after it, wrapping */
			snprintf(out, TR_NODE_NAME_MAX + 1, "%s", up[i % k]);
		else
			ok = false, *why = "nodedown";
	} else {
		snprintf(out, TR_NODE_NAME_MAX + 1, "%s", up[fnv1a(a->id) % k]);
	}
	free(up);
	return ok;
}

static void stop_with(const char *reason)
{
	tr_stop(reason);
}

static void tell_sup(struct agent *a)
{
	tr_msg_t *m;
	if (tr_msg_new(&m, "tr_placed"))
		return;
	if (tr_msg_add_pid(m, tr_self()) || tr_msg_add_pid(m, a->child) ||
	    tr_send(a->sup, m))
		tr_msg_free(m);
}

/* The child runs (spawned, and named if it has a name): tell pl->notify. */
static void running(struct agent *a)
{
	a->st = RUNNING;
	if (tr_pid_is_none(a->pl->notify))
		return;
	tr_msg_t *m;
	if (tr_msg_new(&m, "placed"))
		return;
	if (tr_msg_add_str(m, a->id) || tr_msg_add_pid(m, tr_self()) ||
	    tr_msg_add_pid(m, a->child) || tr_send(a->pl->notify, m))
		tr_msg_free(m);
}

static void register_name(struct agent *a);

static void on_registered(void *state, tr_err status, tr_msg_t *reply,
                          const char *reason, void *ctx)
{
	(void)reason;
	(void)ctx;
	struct agent *a = state;
	bool ok = status == TR_OK && tr_msg_is(reply, "ok");
	tr_msg_free(reply);
	if (a->st != NAMING)
		return; /* stopping already */
	if (ok) {
		running(a);
		return;
	}
	/* Taken (the old owner not yet dropped), or no agreed view right
	 * now: try again until the deadline. */
	if (now_ms() < a->name_deadline) {
		tr_msg_t *m;
		if (!tr_msg_new(&m, "tr_place_retry") &&
		    tr_send_after(a->node, tr_self(), m, RETRY_MS, NULL))
			tr_msg_free(m);
		return;
	}
	a->st = STOPPING;
	snprintf(a->stop_reason, sizeof(a->stop_reason), "name_taken");
	tr_exit(a->child, TR_KILL);
}

static void register_name(struct agent *a)
{
	const tr_placement_t *pl = a->pl;
	uint64_t left =
	        a->name_deadline > now_ms() ? a->name_deadline - now_ms() : 1;
	tr_msg_t *req;
	tr_err e = tr_msg_new(&req, "register");
	if (!e)
		e = tr_msg_add_str(req, pl->global_name);
	if (!e)
		e = tr_msg_add_pid(req, a->child);
	if (!e)
		e = pl->resolver ? tr_msg_add_str(req, pl->resolver)
		                 : tr_msg_add_nil(req);
	if (!e)
		e = tr_msg_add_uint(req, left);
	if (!e)
		e = tr_call_async(tr_global_server(pl->global), req,
		                  left + 1000, on_registered, NULL);
	if (e) {
		tr_msg_free(req);
		a->st = STOPPING;
		snprintf(a->stop_reason, sizeof(a->stop_reason), "%s",
		         tr_err_name(e));
		tr_exit(a->child, TR_KILL);
	}
}

static void on_spawned(void *state, tr_err status, tr_msg_t *reply,
                       const char *reason, void *ctx)
{
	(void)ctx;
	struct agent *a = state;
	char why[64] = "";
	tr_pid_t child = TR_PID_NONE;
	if (status == TR_OK && tr_msg_is(reply, "ok"))
		tr_msg_get_pid(reply, 0, &child);
	else if (status == TR_OK)
		tr_msg_get_strbuf(reply, 0, why, sizeof(why));
	tr_msg_free(reply);
	if (tr_pid_is_none(child)) {
		/* undef, badarg, an error name; the kernel's node gone
		 * ("noconnection"); or no answer in time */
		stop_with(*why                     ? why
		          : status == TR_ETIMEDOUT ? "timeout"
		          : reason && *reason      ? reason
		                                   : "start_failed");
		return;
	}
	a->child = child;
	tell_sup(a);
	if (a->stop_pending) {
		a->st = STOPPING;
		tr_exit(child, a->stop_reason);
		return;
	}
	if (a->pl->global && a->pl->global_name) {
		a->st = NAMING;
		uint64_t t =
		        a->pl->name_timeout_ms ? a->pl->name_timeout_ms : 10000;
		a->name_deadline = now_ms() + t;
		register_name(a);
	} else {
		running(a);
	}
}

static void go(struct agent *a)
{
	const tr_placement_t *pl = a->pl;
	char node[TR_NODE_NAME_MAX + 1];
	const char *why = "nodedown";
	tr_pid_t k;
	if (!choose(a, node, &why) || tr_net_kernel(pl->net, node, &k)) {
		stop_with(why);
		return;
	}
	tr_msg_t *req;
	tr_err e = tr_msg_new(&req, "spawn");
	if (!e)
		e = tr_msg_add_str(req, pl->behaviour);
	if (!e && pl->arg) {
		size_t len;
		const void *bytes = tr_msg_bytes(pl->arg, &len);
		e = tr_msg_add_raw(req, bytes, len);
	} else if (!e) {
		e = tr_msg_add_nil(req);
	}
	if (!e)
		e = tr_msg_add_bool(req, true);
	if (!e)
		e = tr_call_async(k, req,
		                  pl->start_timeout_ms ? pl->start_timeout_ms
		                                       : 5000,
		                  on_spawned, NULL);
	if (e) {
		tr_msg_free(req);
		stop_with(tr_err_name(e));
	}
}

static tr_err agent_init(void **state, void *arg)
{
	struct agent *a = arg;
	tr_msg_t *m;
	tr_err e = tr_msg_new(&m, "tr_place_go");
	if (!e && (e = tr_send(tr_self(), m)))
		tr_msg_free(m);
	if (e) {
		free(a);
		return e;
	}
	*state = a;
	return TR_OK;
}

static void agent_receive(void *state, tr_msg_t *m)
{
	struct agent *a = state;
	if (tr_msg_kind(m) == TR_MSG_EXIT) {
		tr_pid_t from;
		char reason[TR_REASON_MAX];
		if (tr_msg_exit_info(m, &from, reason, sizeof(reason)))
			return;
		if (!tr_pid_is_none(a->child) && tr_pid_eq(from, a->child)) {
			/* the child ended: so does the agent, with its
			 * reason (unless the agent killed it for want of
			 * its name) */
			stop_with(strcmp(a->stop_reason, "name_taken")
			                  ? reason
			                  : "name_taken");
			return;
		}
		if (tr_pid_eq(from, a->sup)) {
			snprintf(a->stop_reason, sizeof(a->stop_reason), "%s",
			         reason);
			if (tr_pid_is_none(a->child)) {
				a->stop_pending = true; /* still spawning */
			} else {
				a->st = STOPPING;
				tr_exit(a->child, reason);
			}
		}
		return;
	}
	if (tr_msg_is(m, "tr_place_go"))
		go(a);
	else if (tr_msg_is(m, "tr_place_retry") && a->st == NAMING)
		register_name(a);
}

static void agent_terminate(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

static const tr_behaviour_t agent_beh = {
        .name = "tr_remote_child",
        .init = agent_init,
        .receive = agent_receive,
        .terminate = agent_terminate,
};

tr_err tr__place_check(const tr_placement_t *pl)
{
	if (!pl->net || !pl->behaviour || !*pl->behaviour)
		return TR_EINVAL;
	if (pl->global_name && (!pl->global || !*pl->global_name))
		return TR_EINVAL;
	return TR_OK;
}

tr_err tr__place_start(const tr_placement_t *pl, const char *id, tr_pid_t *out)
{
	struct agent *a = calloc(1, sizeof(*a));
	if (!a)
		return TR_ENOMEM;
	a->pl = pl;
	a->node = tr_net_node(pl->net);
	a->sup = tr_self();
	a->child = TR_PID_NONE;
	snprintf(a->id, sizeof(a->id), "%s", id);
	tr_spawn_opts_t so = {.link = true, .trap_exit = true};
	/* init frees a on failure */
	return tr_spawn_opt(a->node, &agent_beh, a, &so, out, NULL);
}

bool tr__place_msg(const tr_msg_t *m, tr_pid_t *agent, tr_pid_t *child)
{
	return tr_msg_is(m, "tr_placed") && !tr_msg_get_pid(m, 0, agent) &&
	       !tr_msg_get_pid(m, 1, child);
}
