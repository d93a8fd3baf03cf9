/*
 * tests/supervisor/test_remote_sup.c - supervision across nodes: children
 * placed on other nodes (tr_placement_t), their loss with the node, the
 * failover of a child and its global name.
 *
 * Suite `remote`: nodes a, b, c in this process, meshed, each with the
 * global registry and the exported behaviour "echo"; the supervisor runs
 * on a. Node loss is tr_node_destroy() (the connection closes at once).
 * Suite `remote_procs`: b is a node_proc child killed with SIGKILL.
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../helpers/helpers.h"

#define SECRET "a cluster secret for supervision"

static tr_node_t *nb, *nc;
static tr_net_t *neta, *netb, *netc;
static tr_global_t *ga, *gb, *gc;
static struct node_child kid;
/* every placement's notify: ["placed", id, agent, child] */
static tr_inbox_t *placed_ib;

static void start_a_and_c(void)
{
	signal(SIGPIPE, SIG_IGN);
	node = new_node("a");
	nc = new_node("c");
	cr_assert_eq(tr_inbox_new(node, &inbox), TR_OK);
	me = tr_inbox_pid(inbox);
	cr_assert_eq(tr_inbox_new(node, &placed_ib), TR_OK);
	neta = new_net(node, SECRET);
	netc = new_net(nc, SECRET);
	cr_assert_eq(tr_net_export(neta, &echo_b), TR_OK);
	cr_assert_eq(tr_net_export(netc, &echo_b), TR_OK);
	cr_assert_eq(tr_global_start(neta, NULL, &ga), TR_OK);
	cr_assert_eq(tr_global_start(netc, NULL, &gc), TR_OK);
	cr_assert_eq(tr_net_join(netc, tr_net_endpoint(neta), WAIT_MS), TR_OK);
}

static void setup(void)
{
	start_a_and_c();
	nb = new_node("b");
	netb = new_net(nb, SECRET);
	cr_assert_eq(tr_net_export(netb, &echo_b), TR_OK);
	cr_assert_eq(tr_global_start(netb, NULL, &gb), TR_OK);
	cr_assert_eq(tr_net_join(netb, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(ga, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(gb, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(gc, WAIT_MS), TR_OK);
}

static void teardown(void)
{
	tr_global_stop(ga);
	tr_global_stop(gc);
	if (gb)
		tr_global_stop(gb);
	gb = NULL;
	tr_inbox_destroy(inbox);
	tr_inbox_destroy(placed_ib);
	if (nb)
		tr_node_destroy(nb);
	nb = NULL;
	tr_node_destroy(nc);
	tr_node_destroy(node);
}

TestSuite(remote, .init = setup, .fini = teardown, .timeout = 120);

/* b dies abruptly: its connections close, a and c see nodedown. */
static void kill_b(void)
{
	tr_global_stop(gb);
	gb = NULL;
	tr_node_destroy(nb);
	nb = NULL;
}

static tr_placement_t place(const char *on, bool failover, const char *name)
{
	tr_placement_t p = {0};
	p.net = neta;
	p.behaviour = "echo";
	p.node = on;
	p.failover = failover;
	p.global = name ? ga : NULL;
	p.global_name = name;
	p.notify = tr_inbox_pid(placed_ib);
	return p;
}

static tr_child_spec_t spec_of(const char *id, const tr_placement_t *p)
{
	tr_child_spec_t s;
	tr_child_spec_init(&s);
	s.id = id;
	s.place = p;
	return s;
}

static bool placed_match(const tr_msg_t *m, void *arg)
{
	char id[64];
	return tr_msg_is(m, "placed") &&
	       !tr_msg_get_strbuf(m, 0, id, sizeof(id)) && !strcmp(id, arg);
}

/* The child's current remote pid, once it runs and differs from `not`:
 * asks the supervisor, and while it has none, waits for the next
 * ["placed", id, ...] from the placements (their notify is placed_ib)
 * before asking again. */
static tr_pid_t remote_of(tr_pid_t sup, const char *id, tr_pid_t not )
{
	for (;;) {
		tr_child_info_t ci[16];
		size_t n = 0;
		cr_assert_eq(
		        tr_supervisor_which_children(node, sup, ci, 16, &n),
		        TR_OK);
		for (size_t k = 0; k < n && k < 16; k++)
			if (!strcmp(ci[k].id, id) &&
			    !tr_pid_is_none(ci[k].remote) &&
			    !tr_pid_eq(ci[k].remote, not ))
				return ci[k].remote;
		tr_msg_t *m = NULL;
		tr_err e = tr_inbox_receive_match(placed_ib, WAIT_MS,
		                                  placed_match, (void *)id, &m);
		cr_assert_eq(e, TR_OK, "child %s never ran: %s", id,
		             tr_err_name(e));
		tr_msg_free(m);
	}
}

static void assert_echoes(tr_pid_t p)
{
	tr_msg_t *reply = NULL;
	cr_assert_eq(
	        tr_call(node, p, mk_int("hello", 7), WAIT_MS, &reply, NULL, 0),
	        TR_OK);
	tr_msg_free(reply);
}

/* Wait for ["global_registered", name, pid, node] with pid not `not`. */
static tr_pid_t await_registered(const char *name, tr_pid_t not )
{
	for (;;) {
		tr_msg_t *m = recv_tag("global_registered");
		char nm[64];
		tr_pid_t p;
		bool hit = !tr_msg_get_strbuf(m, 0, nm, sizeof(nm)) &&
		           !strcmp(nm, name) && !tr_msg_get_pid(m, 1, &p) &&
		           !tr_pid_eq(p, not );
		tr_msg_free(m);
		if (hit)
			return p;
	}
}

Test(remote, placed_child_runs_on_its_node_and_restarts_there)
{
	tr_placement_t p = place("b", false, NULL);
	tr_child_spec_t s = spec_of("worker", &p);
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t r = remote_of(sup, "worker", TR_PID_NONE);
	cr_assert_eq(r.node, tr_node_id(nb), "placed on b");
	assert_echoes(r);
	/* the child crashes: its agent ends with the child's reason, and
	 * the child is restarted, on b again */
	tr_child_info_t ci;
	size_t n;
	cr_assert_eq(tr_supervisor_which_children(node, sup, &ci, 1, &n),
	             TR_OK);
	tr_ref_t ref = mon(ci.pid);
	tr_exit(r, "boom");
	char why[64];
	down(ref, why, sizeof(why));
	cr_assert_str_eq(why, "boom");
	tr_pid_t r2 = remote_of(sup, "worker", r);
	cr_assert_eq(r2.node, tr_node_id(nb));
	assert_echoes(r2);
	/* stopping the supervisor stops the remote child with "shutdown" */
	ref = mon(r2);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
	down(ref, why, sizeof(why));
	cr_assert_str_eq(why, "shutdown");
}

/* ["placed", id, agent, child] from the inbox (placement.notify) */
static tr_pid_t placed_from(tr_inbox_t *ib, const char *id, tr_pid_t *agent)
{
	tr_msg_t *m = NULL;
	cr_assert_eq(tr_inbox_receive(ib, WAIT_MS, &m), TR_OK, "no placed");
	char got[64];
	tr_pid_t child;
	cr_assert(tr_msg_is(m, "placed"));
	cr_assert_eq(tr_msg_get_strbuf(m, 0, got, sizeof(got)), TR_OK);
	cr_assert_str_eq(got, id);
	cr_assert_eq(tr_msg_get_pid(m, 1, agent), TR_OK);
	cr_assert_eq(tr_msg_get_pid(m, 2, &child), TR_OK);
	tr_msg_free(m);
	return child;
}

Test(remote, the_placement_tells_notify_each_time_the_child_runs)
{
	tr_inbox_t *ib;
	cr_assert_eq(tr_inbox_new(node, &ib), TR_OK);
	tr_placement_t p = place("b", false, "told");
	p.notify = tr_inbox_pid(ib);
	tr_child_spec_t s = spec_of("worker", &p);
	tr_pid_t sup, agent;
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t r = placed_from(ib, "worker", &agent);
	cr_assert_eq(r.node, tr_node_id(nb), "placed on b");
	/* told once it runs under its name, here too */
	tr_pid_t w;
	cr_assert_eq(tr_global_whereis(ga, "told", &w), TR_OK);
	cr_assert(tr_pid_eq(w, r));
	tr_child_info_t ci;
	size_t n;
	cr_assert_eq(tr_supervisor_which_children(node, sup, &ci, 1, &n),
	             TR_OK);
	cr_assert(tr_pid_eq(ci.pid, agent), "the agent is the child");
	assert_echoes(r);
	/* a restart tells again, with the new agent and child */
	tr_exit(r, "boom");
	tr_pid_t agent2, r2 = placed_from(ib, "worker", &agent2);
	cr_assert(!tr_pid_eq(r2, r) && !tr_pid_eq(agent2, agent));
	assert_echoes(r2);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
	tr_inbox_destroy(ib);
}

Test(remote, transient_child_ending_normally_is_not_restarted)
{
	tr_placement_t p = place("c", false, NULL);
	tr_child_spec_t s = spec_of("t", &p);
	s.restart = TR_TRANSIENT;
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t r = remote_of(sup, "t", TR_PID_NONE);
	tr_child_info_t ci[2];
	size_t n;
	cr_assert_eq(tr_supervisor_which_children(node, sup, ci, 2, &n), TR_OK);
	tr_ref_t agent = mon(ci[0].pid);
	tr_exit(r, TR_NORMAL);  /* an exit signal "normal" is ignored ... */
	tr_exit(r, "shutdown"); /* ... this one ends it, as normal for
	                         * transient */
	char why[64];
	down(agent, why, sizeof(why));
	cr_assert_str_eq(why, "shutdown", "the agent mirrors the reason");
	tr_child_counts_t cc;
	cr_assert_eq(tr_supervisor_count_children(node, sup, &cc), TR_OK);
	cr_assert_eq(cc.active, 0);
	cr_assert_eq(cc.specs, 1);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
}

Test(remote, brutal_kill_of_the_agent_kills_the_child)
{
	tr_placement_t p = place("b", false, NULL);
	tr_child_spec_t s = spec_of("k", &p);
	s.shutdown = TR_SHUTDOWN_BRUTAL;
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t r = remote_of(sup, "k", TR_PID_NONE);
	tr_ref_t ref = mon(r);
	cr_assert_eq(tr_supervisor_terminate_child(node, sup, "k"), TR_OK);
	char why[64];
	down(ref, why, sizeof(why));
	cr_assert_str_eq(why, "killed");
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
}

Test(remote, node_loss_moves_a_failover_child_and_its_name)
{
	/* c's events: when c reports a name, c's replica has it */
	cr_assert_eq(tr_global_monitor(gc, me, true), TR_OK);
	tr_placement_t px = place("b", true, "svc");
	tr_placement_t py = place("c", false, NULL);
	tr_child_spec_t s[2] = {spec_of("x", &px), spec_of("y", &py)};
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, s, 2, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t x = await_registered("svc", TR_PID_NONE);
	cr_assert_eq(x.node, tr_node_id(nb));
	tr_pid_t y = remote_of(sup, "y", TR_PID_NONE);
	tr_pid_t w;
	cr_assert_eq(tr_global_whereis(gc, "svc", &w), TR_OK);
	cr_assert(tr_pid_eq(w, x));

	tr_ref_t sref = mon(sup);
	kill_b();
	/* one_for_one: x comes back on c (the next live node after b),
	 * under the same name; y is left alone */
	tr_pid_t x2 = await_registered("svc", x);
	cr_assert_eq(x2.node, tr_node_id(nc));
	assert_echoes(x2);
	cr_assert(tr_pid_eq(remote_of(sup, "x", x), x2));
	cr_assert(tr_pid_eq(remote_of(sup, "y", TR_PID_NONE), y),
	          "y was not restarted");
	cr_assert_eq(tr_global_sync(gc, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_whereis(gc, "svc", &w), TR_OK);
	cr_assert(tr_pid_eq(w, x2), "c agrees");
	cr_assert(tr_is_alive(sup));
	tr_demonitor(sref, 0);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
	/* the name goes with the child (b's loss dropped it once before) */
	for (bool gone = false; !gone;) {
		tr_msg_t *m = recv_tag("global_unregistered");
		tr_pid_t p;
		gone = !tr_msg_get_pid(m, 1, &p) && tr_pid_eq(p, x2);
		tr_msg_free(m);
	}
	cr_assert_eq(tr_global_whereis(gc, "svc", &w), TR_ENOENT);
}

Test(remote, one_for_all_restarts_the_others_when_a_node_goes)
{
	tr_placement_t px = place("b", true, NULL);
	tr_placement_t py = place("c", false, NULL);
	tr_child_spec_t s[2] = {spec_of("x", &px), spec_of("y", &py)};
	tr_sup_flags_t fl;
	tr_sup_flags_init(&fl);
	fl.strategy = TR_ONE_FOR_ALL;
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, &fl, s, 2, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t x = remote_of(sup, "x", TR_PID_NONE);
	tr_pid_t y = remote_of(sup, "y", TR_PID_NONE);
	tr_ref_t yref = mon(y);
	kill_b();
	char why[64];
	down(yref, why, sizeof(why));
	cr_assert_str_eq(why, "shutdown", "y stopped for the group restart");
	tr_pid_t x2 = remote_of(sup, "x", x);
	tr_pid_t y2 = remote_of(sup, "y", y);
	cr_assert_eq(x2.node, tr_node_id(nc));
	cr_assert_eq(y2.node, tr_node_id(nc));
	assert_echoes(x2);
	assert_echoes(y2);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
}

Test(remote, a_fixed_node_lost_without_failover_escalates)
{
	tr_placement_t p = place("b", false, NULL);
	tr_child_spec_t s = spec_of("pinned", &p);
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_OK);
	remote_of(sup, "pinned", TR_PID_NONE);
	tr_ref_t ref = mon(sup);
	kill_b();
	/* every restart fails ("nodedown"): the intensity runs out */
	char why[64];
	down(ref, why, sizeof(why));
	cr_assert_str_eq(why, "shutdown");
}

Test(remote, any_node_spreads_children_by_id)
{
	tr_placement_t p = place(NULL, false, NULL);
	char ids[12][8];
	tr_child_spec_t s[12];
	for (int i = 0; i < 12; i++) {
		snprintf(ids[i], sizeof(ids[i]), "w%d", i);
		s[i] = spec_of(ids[i], &p);
	}
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, s, 12, NULL, &sup, NULL),
	             TR_OK);
	int on[3] = {0};
	uint64_t ids_of[3] = {tr_node_id(node), tr_node_id(nb), tr_node_id(nc)};
	for (int i = 0; i < 12; i++) {
		tr_pid_t r = remote_of(sup, ids[i], TR_PID_NONE);
		for (int k = 0; k < 3; k++)
			on[k] += r.node == ids_of[k];
		assert_echoes(r);
	}
	cr_assert_eq(on[0] + on[1] + on[2], 12);
	cr_assert(on[0] && on[1] && on[2], "spread: %d %d %d", on[0], on[1],
	          on[2]);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
}

/* The remote pid of sup's first placed child, asked from node a. */
static tr_pid_t first_remote(tr_pid_t sup)
{
	for (int i = 0; i < WAIT_MS / 5; i++) {
		tr_child_info_t ci[4];
		size_t n = 0;
		cr_assert_eq(tr_supervisor_which_children(node, sup, ci, 4, &n),
		             TR_OK);
		if (n && !tr_pid_is_none(ci[0].remote))
			return ci[0].remote;
		expect_no_tag("never-sent", 5);
	}
	cr_assert_fail("no placed child");
	return TR_PID_NONE;
}

Test(remote, supervisors_of_supervisors_across_nodes)
{
	/* a's supervisor -> a DynamicSupervisor on b -> a worker on c */
	cr_assert_eq(tr_net_export(netb, tr_dynsup_behaviour()), TR_OK);
	tr_placement_t p = place("b", false, NULL);
	p.behaviour = "dynsup";
	tr_child_spec_t s = spec_of("inner", &p);
	s.type = TR_CHILD_SUPERVISOR;
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t inner = remote_of(sup, "inner", TR_PID_NONE);
	cr_assert_eq(inner.node, tr_node_id(nb));
	tr_placement_t pc = place("c", false, NULL);
	pc.net = netb; /* the inner supervisor places from b */
	tr_child_spec_t cs = spec_of("leaf", &pc);
	tr_pid_t agent;
	cr_assert_eq(tr_dynsup_start_child(nb, inner, &cs, &agent), TR_OK);
	/* one tree: a asks b's supervisor about its child on c */
	tr_pid_t leaf = first_remote(inner);
	cr_assert_eq(leaf.node, tr_node_id(nc));
	assert_echoes(leaf);
	tr_child_info_t ci;
	size_t n;
	cr_assert_eq(tr_supervisor_which_children(node, sup, &ci, 1, &n),
	             TR_OK);
	cr_assert_eq(ci.type, TR_CHILD_SUPERVISOR);
	/* stopping the top stops the inner supervisor, which stops the
	 * leaf first */
	tr_ref_t rl = mon(leaf), ri = mon(inner);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
	char why[64];
	down(rl, why, sizeof(why));
	cr_assert_str_eq(why, "shutdown");
	down(ri, why, sizeof(why));
	cr_assert_str_eq(why, "shutdown");
}

Test(remote, bad_placements)
{
	tr_placement_t p = place("b", false, NULL);
	p.behaviour = NULL;
	tr_child_spec_t s = spec_of("bad", &p);
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_EINVAL, "no behaviour");
	p = place("b", false, NULL);
	s = spec_of("bad", &p);
	s.beh = &echo_b;
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_EINVAL, "placement and a behaviour");
	p = place("b", false, "name");
	p.global = NULL;
	s = spec_of("bad", &p);
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_EINVAL, "a name without a registry");
	/* not exported on b: each start ends "undef", the supervisor gives
	 * up when the restarts run out */
	p = place("b", false, NULL);
	p.behaviour = "no_such_behaviour";
	s = spec_of("undef", &p);
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_OK);
	tr_ref_t ref = mon(sup);
	char why[64];
	down(ref, why, sizeof(why));
	cr_assert_str_eq(why, "shutdown");
}

/* ---- a node killed for real ------------------------------------------- */

static void setup_procs(void)
{
	start_a_and_c();
	node_child_start(&kid, "b", SECRET, tr_net_endpoint(neta), true);
	cr_assert_eq(tr_global_sync(ga, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(gc, WAIT_MS), TR_OK);
}

static void teardown_procs(void)
{
	node_child_reap(&kid);
	tr_global_stop(ga);
	tr_global_stop(gc);
	tr_inbox_destroy(inbox);
	tr_inbox_destroy(placed_ib);
	tr_node_destroy(nc);
	tr_node_destroy(node);
}

TestSuite(remote_procs, .init = setup_procs, .fini = teardown_procs,
          .timeout = 120);

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

Test(remote_procs, kill9_of_the_childs_node_failover_within_2s)
{
	cr_assert_eq(tr_global_monitor(gc, me, true), TR_OK);
	tr_placement_t p = place("b", true, "counter");
	tr_child_spec_t s = spec_of("counter", &p);
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, &s, 1, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t x = await_registered("counter", TR_PID_NONE);
	cr_assert_eq(x.node, tr_node_id_of_name("b"));
	double t0 = now_ms();
	kill(kid.pid, SIGKILL);
	waitpid(kid.pid, NULL, 0);
	kid.pid = 0;
	/* reachable through its name, seen from c, on another node */
	tr_pid_t x2 = await_registered("counter", x);
	tr_pid_t w;
	cr_assert_eq(tr_global_whereis(gc, "counter", &w), TR_OK);
	cr_assert(tr_pid_eq(w, x2));
	tr_msg_t *reply = NULL;
	cr_assert_eq(tr_call(nc, w, mk("ping"), WAIT_MS, &reply, NULL, 0),
	             TR_OK);
	tr_msg_free(reply);
	double took = now_ms() - t0;
	cr_assert_neq(x2.node, tr_node_id_of_name("b"));
	cr_assert_lt(took, 2000.0, "failover took %.0f ms", took);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
}
