/*
 * tests/registry/test_global.c - the global registry on three nodes in one
 * process (a, b, c over ZeroMQ on 127.0.0.1:*). Node a is the helpers'
 * `node` with its `inbox`; every wait is on a message or a reply.
 */
#include <pthread.h>
#include <time.h>

#include "../helpers/helpers.h"
#include "registry/util.h"

#define SECRET "a cluster secret for the tests"

static tr_node_t *nb, *nc;
static tr_net_t *neta, *netb, *netc;
static tr_global_t *ga, *gb, *gc;

static tr_global_t *mkglobal(tr_net_t *net)
{
	tr_global_t *g;
	cr_assert_eq(tr_global_start(net, NULL, &g), TR_OK);
	return g;
}

static void sync_within(uint64_t ms)
{
	tr_global_t *gs[] = {ga, gb, gc};
	for (int i = 0; i < 3; i++) {
		if (!gs[i] || tr_global_sync(gs[i], ms) == TR_OK)
			continue;
		/* say where each registry stands */
		char why[1024] = "";
		size_t len = 0;
		tr_net_t *nets[] = {neta, netb, netc};
		for (int k = 0; k < 3 && len < sizeof(why); k++) {
			tr_global_info_t in = {0};
			if (gs[k])
				tr_global_info(gs[k], &in);
			tr_peer_info_t peers[4];
			size_t np = 0, up = 0;
			if (nets[k] && !tr_net_nodes(nets[k], peers, 4, &np))
				for (size_t j = 0; j < np && j < 4; j++)
					up += peers[j].state == TR_PEER_UP;
			len += (size_t)snprintf(
			        why + len, sizeof(why) - len,
			        " [%c: leader '%s' epoch %llu ready %d members "
			        "%zu rejected %llu, net up %zu]",
			        'a' + k, in.leader,
			        (unsigned long long)in.epoch, in.ready,
			        in.members, (unsigned long long)in.rejected,
			        up);
		}
		cr_assert_fail("sync %d timed out:%s", i, why);
	}
}

static bool synced_within(uint64_t ms)
{
	tr_global_t *gs[] = {ga, gb, gc};
	for (int i = 0; i < 3; i++)
		if (gs[i] && tr_global_sync(gs[i], ms) != TR_OK)
			return false;
	return true;
}

static void sync_all(void)
{
	sync_within(WAIT_MS);
}

static void setup(void)
{
	node = new_node("a");
	cr_assert_eq(tr_inbox_new(node, &inbox), TR_OK);
	me = tr_inbox_pid(inbox);
	nb = new_node("b");
	nc = new_node("c");
	neta = new_net(node, SECRET);
	netb = new_net(nb, SECRET);
	netc = new_net(nc, SECRET);
	ga = mkglobal(neta);
	gb = mkglobal(netb);
	gc = mkglobal(netc);
	cr_assert_eq(tr_net_join(netb, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	cr_assert_eq(tr_net_join(netc, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	sync_all();
}

static void teardown(void)
{
	tr_global_stop(ga);
	tr_global_stop(gb);
	tr_global_stop(gc);
	tr_inbox_destroy(inbox);
	tr_node_destroy(nc);
	tr_node_destroy(nb);
	tr_node_destroy(node);
}

TestSuite(global, .init = setup, .fini = teardown, .timeout = 120);

/* An actor that tells `me` about every message: ["got", tag, self, f0?] */
static void tell_receive(void *state, tr_msg_t *m)
{
	(void)state;
	size_t n;
	const char *tag = tr_msg_tag(m, &n);
	tr_msg_t *r = mk("got");
	tr_msg_add_strn(r, tag, n);
	tr_msg_add_pid(r, tr_self());
	const void *raw;
	size_t rl;
	if (!tr_msg_get_raw(m, 0, &raw, &rl))
		tr_msg_add_raw(r, raw, rl);
	else
		tr_msg_add_nil(r);
	if (tr_send(me, r))
		tr_msg_free(r);
}

static const tr_behaviour_t tell_b = {.name = "tell", .receive = tell_receive};

static tr_pid_t spawn_on(tr_node_t *n, const tr_behaviour_t *b)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(n, b, NULL, &p), TR_OK);
	return p;
}

static void expect_everywhere(const char *name, tr_pid_t want)
{
	tr_global_t *gs[] = {ga, gb, gc};
	for (int i = 0; i < 3; i++) {
		if (!gs[i])
			continue;
		tr_pid_t p;
		if (tr_pid_is_none(want)) {
			cr_assert_eq(tr_global_whereis(gs[i], name, &p),
			             TR_ENOENT, "%s still on node %d", name, i);
		} else {
			cr_assert_eq(tr_global_whereis(gs[i], name, &p), TR_OK,
			             "%s missing on node %d", name, i);
			cr_assert(tr_pid_eq(p, want), "%s differs on node %d",
			          name, i);
		}
	}
}

Test(global, register_is_visible_everywhere_when_it_returns)
{
	tr_pid_t p = spawn_on(nc, &tell_b), q = spawn_on(node, &tell_b);
	cr_assert_eq(tr_global_register(gb, "svc", p, NULL, WAIT_MS), TR_OK);
	expect_everywhere("svc", p); /* no wait: visible on return */
	/* taken, from any node; and one name per actor */
	cr_assert_eq(tr_global_register(ga, "svc", q, NULL, WAIT_MS),
	             TR_EEXIST);
	cr_assert_eq(tr_global_register(gc, "svc", q, NULL, WAIT_MS),
	             TR_EEXIST);
	cr_assert_eq(tr_global_register(ga, "other", p, NULL, WAIT_MS),
	             TR_EEXIST);
	/* send by name from every node reaches it */
	tr_global_t *gs[] = {ga, gb, gc};
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(tr_global_send(gs[i], "svc", mk_int("hi", i)),
		             TR_OK);
		tr_msg_t *m = recv_tag("got");
		tr_pid_t from;
		cr_assert_eq(tr_msg_get_pid(m, 1, &from), TR_OK);
		cr_assert(tr_pid_eq(from, p));
		tr_msg_free(m);
	}
	tr_msg_t *m = mk("hi");
	cr_assert_eq(tr_global_send(ga, "nobody", m), TR_ENOENT);
	tr_msg_free(m);
	/* unregister from another node: gone everywhere on return */
	cr_assert_eq(tr_global_unregister(ga, "svc", WAIT_MS), TR_OK);
	expect_everywhere("svc", TR_PID_NONE);
	cr_assert_eq(tr_global_unregister(ga, "svc", WAIT_MS), TR_OK);
	/* the actor may take a name again */
	cr_assert_eq(tr_global_register(ga, "other", p, NULL, WAIT_MS), TR_OK);
	expect_everywhere("other", p);
	size_t n = 0;
	cr_assert_eq(tr_global_info(gc, &(tr_global_info_t){0}), TR_OK);
	tr_global_info_t ia, ic;
	tr_global_info(ga, &ia);
	tr_global_info(gc, &ic);
	cr_assert_str_eq(ia.leader, "a");
	cr_assert_str_eq(ic.leader, "a");
	cr_assert_eq(ia.epoch, ic.epoch);
	cr_assert_eq(ia.digest, ic.digest);
	cr_assert_eq(ia.names, 1);
	(void)n;
}

Test(global, re_register_moves_the_name)
{
	tr_pid_t p1 = spawn_on(nb, &tell_b), p2 = spawn_on(nc, &tell_b);
	cr_assert_eq(tr_global_register(ga, "mv", p1, NULL, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_re_register(gc, "mv", p2, NULL, WAIT_MS), TR_OK);
	expect_everywhere("mv", p2);
	/* p1 is free again; p2 cannot take a second name */
	cr_assert_eq(tr_global_register(gb, "p1", p1, NULL, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_re_register(gb, "x", p2, NULL, WAIT_MS),
	             TR_EEXIST);
	/* the old owner's death leaves the moved name alone */
	tr_ref_t r = mon(p1);
	tr_exit(p1, TR_KILL);
	down(r, NULL, 0);
	cr_assert_eq(tr_global_sync(ga, WAIT_MS), TR_OK);
	tr_pid_t x;
	cr_assert_eq(tr_global_whereis(gb, "mv", &x), TR_OK);
	cr_assert(tr_pid_eq(x, p2));
}

struct racer {
	tr_global_t *g;
	const char *name;
	tr_pid_t pid;
	pthread_barrier_t *bar;
	tr_err res;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->bar);
	r->res = tr_global_register(r->g, r->name, r->pid, NULL, WAIT_MS);
	return NULL;
}

Test(global, all_nodes_race_for_one_name_exactly_one_wins)
{
	tr_node_t *ns[] = {node, nb, nc};
	tr_global_t *gs[] = {ga, gb, gc};
	for (int round = 0; round < 20; round++) {
		char name[32];
		snprintf(name, sizeof(name), "race%d", round);
		pthread_barrier_t bar;
		pthread_barrier_init(&bar, NULL, 3);
		struct racer rs[3];
		pthread_t th[3];
		for (int i = 0; i < 3; i++) {
			rs[i] = (struct racer){gs[i], name,
			                       spawn_on(ns[i], &tell_b), &bar,
			                       TR_EINTERNAL};
			pthread_create(&th[i], NULL, race, &rs[i]);
		}
		int won = -1;
		for (int i = 0; i < 3; i++) {
			pthread_join(th[i], NULL);
			if (rs[i].res == TR_OK) {
				cr_assert_eq(won, -1, "two winners");
				won = i;
			} else {
				cr_assert_eq(rs[i].res, TR_EEXIST, "%s",
				             tr_err_name(rs[i].res));
			}
		}
		pthread_barrier_destroy(&bar);
		cr_assert_neq(won, -1, "no winner");
		expect_everywhere(name, rs[won].pid);
	}
}

static void subscribe_all(void)
{
	cr_assert_eq(tr_global_monitor(ga, me, true), TR_OK);
	cr_assert_eq(tr_global_monitor(gb, me, true), TR_OK);
	cr_assert_eq(tr_global_monitor(gc, me, true), TR_OK);
	/* the subscriptions are in place once a round trip through each
	 * server came back (a message sent after them) */
	sync_all();
}

struct evmatch {
	const char *tag, *name;
};

static bool match_ev(const tr_msg_t *m, void *arg)
{
	struct evmatch *w = arg;
	char name[256];
	return tr_msg_is(m, w->tag) &&
	       (!w->name || (!tr_msg_get_strbuf(m, 0, name, sizeof(name)) &&
	                     !strcmp(name, w->name)));
}

/* Wait for one event per node: [tag, name, pid, node]. */
static void events_from_all(const char *tag, const char *name)
{
	bool seen[3] = {false, false, false};
	for (int k = 0; k < 3; k++) {
		struct evmatch w = {tag, name};
		tr_msg_t *m = NULL;
		cr_assert_eq(tr_inbox_receive_match(inbox, WAIT_MS, match_ev,
		                                    &w, &m),
		             TR_OK, "no %s %s (%d of 3)", tag, name, k);
		char nd[16];
		cr_assert_eq(tr_msg_get_strbuf(m, 2, nd, sizeof(nd)), TR_OK);
		int i = nd[0] - 'a';
		cr_assert(i >= 0 && i < 3 && !seen[i]);
		seen[i] = true;
		tr_msg_free(m);
	}
}

Test(global, a_name_dies_with_its_actor)
{
	subscribe_all();
	tr_pid_t p = spawn_on(nb, &tell_b);
	cr_assert_eq(tr_global_register(gc, "mortal", p, NULL, WAIT_MS), TR_OK);
	events_from_all("global_registered", "mortal");
	tr_exit(p, TR_KILL);
	events_from_all("global_unregistered", "mortal");
	expect_everywhere("mortal", TR_PID_NONE);
}

static bool count_cb(const char *name, size_t len, tr_pid_t pid, void *ctx)
{
	(void)name;
	(void)len;
	(void)pid;
	(*(size_t *)ctx)++;
	return true;
}

Test(global, a_thousand_owners_dying_at_once_are_forgotten_everywhere)
{
	enum { N = 1000 };
	static tr_pid_t ps[N];
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "m%d", i);
		ps[i] = spawn_on(nc, &tell_b);
		cr_assert_eq(tr_global_register(gb, name, ps[i], NULL, WAIT_MS),
		             TR_OK);
	}
	tr_global_info_t info;
	tr_global_info(ga, &info);
	cr_assert_eq(info.names, N);
	subscribe_all();
	for (int i = 0; i < N; i++)
		tr_exit(ps[i], TR_KILL);
	for (int i = 0; i < 3 * N; i++) {
		struct evmatch w = {"global_unregistered", NULL};
		tr_msg_t *m = NULL;
		cr_assert_eq(tr_inbox_receive_match(inbox, WAIT_MS, match_ev,
		                                    &w, &m),
		             TR_OK, "only %d of %d removals seen", i, 3 * N);
		tr_msg_free(m);
	}
	tr_global_t *gs[] = {ga, gb, gc};
	for (int i = 0; i < 3; i++) {
		size_t n = 0, seen = 0;
		cr_assert_eq(tr_global_foreach(gs[i], count_cb, &n, &seen),
		             TR_OK);
		cr_assert_eq(n, 0, "node %d still has %zu names", i, n);
		tr_global_info(gs[i], &info);
		cr_assert_eq(info.names, 0);
	}
}

Test(global, names_of_a_lost_node_are_dropped_everywhere)
{
	subscribe_all();
	tr_pid_t p = spawn_on(nc, &tell_b);
	cr_assert_eq(tr_global_register(ga, "onc", p, NULL, WAIT_MS), TR_OK);
	tr_pid_t q = spawn_on(nb, &tell_b);
	cr_assert_eq(tr_global_register(ga, "onb", q, NULL, WAIT_MS), TR_OK);
	/* c goes away abruptly */
	tr_global_stop(gc);
	gc = NULL;
	tr_net_stop(netc);
	for (int k = 0; k < 2; k++) {
		struct evmatch w = {"global_unregistered", "onc"};
		tr_msg_t *m = NULL;
		cr_assert_eq(tr_inbox_receive_match(inbox, WAIT_MS, match_ev,
		                                    &w, &m),
		             TR_OK);
		tr_msg_free(m);
	}
	expect_everywhere("onc", TR_PID_NONE);
	expect_everywhere("onb", q);
	/* the two left still register */
	cr_assert_eq(tr_global_register(gb, "after", spawn_on(node, &tell_b),
	                                NULL, WAIT_MS),
	             TR_OK);
}

Test(global, a_joining_node_gets_the_whole_table)
{
	enum { N = 500 };
	for (int i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "t%d", i);
		cr_assert_eq(
		        tr_global_register(gb, name,
		                           spawn_on(i % 2 ? nb : node, &tell_b),
		                           NULL, WAIT_MS),
		        TR_OK);
	}
	tr_node_t *nd = new_node("d");
	tr_net_t *netd = new_net(nd, SECRET);
	tr_global_t *gd = mkglobal(netd);
	cr_assert_eq(tr_net_join(netd, tr_net_endpoint(netb), WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(gd, WAIT_MS), TR_OK);
	sync_all();
	tr_global_info_t id, ia;
	tr_global_info(gd, &id);
	tr_global_info(ga, &ia);
	cr_assert_eq(id.names, N);
	cr_assert_eq(id.digest, ia.digest);
	cr_assert_eq(id.epoch, ia.epoch);
	for (int i = 0; i < N; i++) {
		char name[32];
		tr_pid_t p, q;
		snprintf(name, sizeof(name), "t%d", i);
		cr_assert_eq(tr_global_whereis(gd, name, &p), TR_OK);
		cr_assert_eq(tr_global_whereis(ga, name, &q), TR_OK);
		cr_assert(tr_pid_eq(p, q));
	}
	/* and takes part: a name registered on d is seen on a */
	tr_pid_t dp = spawn_on(nd, &tell_b);
	cr_assert_eq(tr_global_register(gd, "from_d", dp, NULL, WAIT_MS),
	             TR_OK);
	tr_pid_t p;
	cr_assert_eq(tr_global_whereis(ga, "from_d", &p), TR_OK);
	cr_assert(tr_pid_eq(p, dp));
	tr_global_stop(gd);
	tr_node_destroy(nd);
}

struct locker {
	tr_global_t *g;
	tr_pid_t holder;
	uint64_t token;
	tr_err res;
};

static void *lock_wait(void *arg)
{
	struct locker *l = arg;
	l->res = tr_global_set_lock(l->g, "res", l->holder, WAIT_MS, &l->token);
	tr_msg_t *m = mk("locked");
	tr_send(me, m);
	return NULL;
}

static tr_err in_trans(void *ctx, uint64_t token)
{
	*(uint64_t *)ctx = token;
	return TR_EAGAIN; /* whatever fn returns is handed back */
}

Test(global, locks_exclude_hand_over_and_die_with_their_holder)
{
	tr_pid_t h1 = spawn_on(node, &tell_b), h2 = spawn_on(nb, &tell_b),
	         h3 = spawn_on(nc, &tell_b);
	uint64_t t1, t1b, t3;
	cr_assert_eq(tr_global_set_lock(gc, "res", h1, WAIT_MS, &t1), TR_OK);
	cr_assert_eq(tr_global_set_lock(ga, "res", h1, WAIT_MS, &t1b), TR_OK);
	cr_assert_eq(t1, t1b, "asking again keeps the grant");
	cr_assert_eq(tr_global_set_lock(gb, "res", h2, 0, NULL), TR_EAGAIN);
	/* h2 waits in line; h1 lets go; h2 gets it with a larger token */
	struct locker l2 = {gb, h2, 0, TR_EINTERNAL};
	pthread_t th;
	pthread_create(&th, NULL, lock_wait, &l2);
	/* whether h2's request is in line yet or not, it ends up holding
	 * the lock once h1 lets go */
	cr_assert_eq(tr_global_del_lock(ga, "res", h1, WAIT_MS), TR_OK);
	tr_msg_t *m = recv_tag("locked");
	tr_msg_free(m);
	pthread_join(th, NULL);
	cr_assert_eq(l2.res, TR_OK);
	cr_assert_gt(l2.token, t1, "fencing tokens only grow");
	/* h2's death frees the lock: h3 waiting in line gets it */
	struct locker l3 = {gc, h3, 0, TR_EINTERNAL};
	pthread_create(&th, NULL, lock_wait, &l3);
	tr_exit(h2, TR_KILL);
	m = recv_tag("locked");
	tr_msg_free(m);
	pthread_join(th, NULL);
	cr_assert_eq(l3.res, TR_OK);
	cr_assert_gt(l3.token, l2.token);
	cr_assert_eq(tr_global_del_lock(gc, "res", h3, WAIT_MS), TR_OK);
	/* trans: fn runs under the lock, its result comes back */
	tr_err fr = TR_OK;
	cr_assert_eq(
	        tr_global_trans(ga, "res", h1, WAIT_MS, in_trans, &t3, &fr),
	        TR_OK);
	cr_assert_eq(fr, TR_EAGAIN);
	cr_assert_gt(t3, l3.token);
	tr_global_info_t info;
	tr_global_info(gb, &info);
	cr_assert_eq(info.locks, 0, "released after trans");
	/* a waiter whose time runs out gives up */
	cr_assert_eq(tr_global_set_lock(ga, "res", h1, WAIT_MS, NULL), TR_OK);
	cr_assert_eq(tr_global_set_lock(gb, "res", h3, 300, NULL),
	             TR_ETIMEDOUT);
}

Test(global, leader_loss_moves_the_lock_to_a_higher_epoch)
{
	tr_pid_t p = spawn_on(nb, &tell_b);
	cr_assert_eq(tr_global_register(gc, "keep", p, NULL, WAIT_MS), TR_OK);
	tr_global_info_t before, after;
	tr_global_info(gb, &before);
	cr_assert_str_eq(before.leader, "a");
	tr_global_stop(ga); /* the leader's server goes */
	ga = NULL;
	cr_assert_eq(tr_global_register(gc, "later", spawn_on(nc, &tell_b),
	                                NULL, WAIT_MS),
	             TR_OK);
	tr_global_info(gb, &after);
	cr_assert_str_eq(after.leader, "b");
	cr_assert_gt(after.epoch, before.epoch);
	expect_everywhere("keep", p);
}

/* Wait until node g no longer (want none) or still (want a pid) has
 * name; false after ms. */
static bool whereis_becomes(tr_global_t *g, const char *name, tr_pid_t want,
                            uint64_t ms)
{
	for (uint64_t i = 0; i < ms; i++) {
		tr_pid_t p;
		tr_err e = tr_global_whereis(g, name, &p);
		if (tr_pid_is_none(want) ? e == TR_ENOENT
		                         : e == TR_OK && tr_pid_eq(p, want))
			return true;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return false;
}

/* OTP's lost_unregister, made deterministic: the leader applies an
 * unregister, c gets it, b's copy is lost, and the leader dies before
 * anything resends it. b, the next leader, still holds the grant; its
 * merge with c's table (a tombstone) must let the unregister win. */
Test(global, a_lost_unregister_is_not_resurrected_by_a_new_leader)
{
	tr_pid_t p = spawn_on(nc, &tell_b);
	cr_assert_eq(tr_global_register(gc, "lost", p, NULL, WAIT_MS), TR_OK);
	expect_everywhere("lost", p);
	tr_global_info_t before;
	tr_global_info(gb, &before);
	cr_assert_str_eq(before.leader, "a");
	tr__global_test_lose_ops_to(ga, "b");
	/* requested on the leader itself, so the request dies with it; b
	 * never acknowledges, so the caller hears a timeout, not ok */
	cr_assert_eq(tr_global_unregister(ga, "lost", 300), TR_ETIMEDOUT);
	cr_assert(whereis_becomes(gc, "lost", TR_PID_NONE, WAIT_MS),
	          "c never applied the unregister");
	tr_pid_t q;
	cr_assert_eq(tr_global_whereis(gb, "lost", &q), TR_OK,
	             "b got the op: nothing was lost");
	cr_assert(tr_pid_eq(q, p));
	tr_global_stop(ga);
	ga = NULL;
	/* the next op is ordered by the new leader, after its merge */
	cr_assert_eq(tr_global_register(gc, "after", spawn_on(nc, &tell_b),
	                                NULL, WAIT_MS),
	             TR_OK);
	tr_global_info_t after;
	tr_global_info(gc, &after);
	cr_assert_str_eq(after.leader, "b");
	cr_assert_gt(after.epoch, before.epoch);
	expect_everywhere("lost", TR_PID_NONE);
	/* the owner lives on and may take the name again */
	cr_assert_eq(tr_global_register(gb, "lost", p, NULL, WAIT_MS), TR_OK);
	expect_everywhere("lost", p);
}

Test(global, bad_input_is_refused_and_forged_messages_are_dropped)
{
	tr_pid_t p = spawn_on(node, &tell_b);
	char longname[TR_GLOBAL_NAME_MAX + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	cr_assert_eq(tr_global_register(ga, "", p, NULL, WAIT_MS), TR_EINVAL);
	cr_assert_eq(tr_global_register(ga, longname, p, NULL, WAIT_MS),
	             TR_EINVAL);
	cr_assert_eq(tr_global_register(ga, "n", TR_PID_NONE, NULL, WAIT_MS),
	             TR_EINVAL);
	cr_assert_eq(
	        tr_global_register(ga, "n", p, "no-such-resolver", WAIT_MS),
	        TR_EINVAL);
	cr_assert_eq(tr_global_register(NULL, "n", p, NULL, WAIT_MS),
	             TR_EINVAL);
	cr_assert_eq(tr_global_whereis(ga, NULL, &p), TR_EINVAL);
	cr_assert_eq(tr_global_add_resolver(ga, TR_RESOLVE_EXIT, NULL, NULL),
	             TR_EINVAL);
	/* a pid of a node outside the cluster */
	tr_pid_t alien = {tr_node_id_of_name("zz"), 1, 1};
	cr_assert_eq(tr_global_register(ga, "alien", alien, NULL, WAIT_MS),
	             TR_EUNREACHABLE);
	/* forged server traffic from a local actor: dropped, counted */
	tr_global_info_t i0, i1;
	tr_global_info(gb, &i0);
	tr_msg_t *m = mk("g_op");
	tr_msg_add_uint(m, i0.epoch);
	tr_msg_add_uint(m, 1);
	tr_msg_add_uint(m, 1);
	tr_msg_add_str(m, "evil");
	tr_msg_add_pid(m, p);
	cr_assert_eq(tr_send(tr_global_server(gb), m), TR_OK);
	m = mk("g_install");
	tr_msg_add_uint(m, i0.epoch + 100);
	cr_assert_eq(tr_send(tr_global_server(gb), m), TR_OK);
	m = mk("g_req");
	tr_msg_add_str(m, "garbage");
	cr_assert_eq(tr_send(tr_global_server(ga), m), TR_OK);
	sync_all(); /* a round trip after them */
	tr_global_info(gb, &i1);
	cr_assert_geq(i1.rejected, i0.rejected + 2);
	cr_assert_eq(i1.epoch, i0.epoch);
	cr_assert_eq(tr_global_whereis(gb, "evil", &p), TR_ENOENT);
	/* still works */
	cr_assert_eq(tr_global_register(gb, "fine", p, NULL, WAIT_MS), TR_OK);
}

static tr_pid_t prefer_c(const char *name, tr_pid_t a, tr_pid_t b, void *ctx)
{
	(void)name;
	(void)ctx;
	uint64_t c = tr_node_id_of_name("c");
	return a.node == c ? a : b.node == c ? b : TR_PID_NONE;
}

struct gotmatch {
	const char *tag;
	tr_pid_t who;
};

static bool match_got(const tr_msg_t *m, void *arg)
{
	struct gotmatch *w = arg;
	char tag[64];
	tr_pid_t p;
	return tr_msg_is(m, "got") &&
	       !tr_msg_get_strbuf(m, 0, tag, sizeof(tag)) &&
	       !strcmp(tag, w->tag) && !tr_msg_get_pid(m, 1, &p) &&
	       tr_pid_eq(p, w->who);
}

static tr_msg_t *got_from(const char *tag, tr_pid_t who)
{
	struct gotmatch w = {tag, who};
	tr_msg_t *m = NULL;
	cr_assert_eq(tr_inbox_receive_match(inbox, WAIT_MS, match_got, &w, &m),
	             TR_OK, "no %s", tag);
	return m;
}

/* c leaves (each side keeps working), both sides register, c comes back. */
Test(global, partition_and_heal_settles_every_clash_by_its_resolver)
{
	tr_global_t *gs[] = {ga, gb, gc};
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tr_global_add_resolver(gs[i], "prefer_c", prefer_c,
		                                    NULL),
		             TR_OK);
	cr_assert_eq(tr_net_leave(netc, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(ga, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(gc, WAIT_MS), TR_OK);
	tr_global_info_t ia, ic;
	tr_global_info(ga, &ia);
	tr_global_info(gc, &ic);
	cr_assert_eq(ia.members, 1);
	cr_assert_eq(ic.members, 0);
	cr_assert_str_eq(ic.leader, "c");
	const char *rules[] = {NULL, TR_RESOLVE_NOTIFY, TR_RESOLVE_NONE,
	                       "prefer_c"};
	const char *names[] = {"r_exit", "r_notify", "r_none", "r_custom"};
	tr_pid_t pa[4], pc[4];
	tr_ref_t ra[4];
	for (int i = 0; i < 4; i++) {
		pa[i] = spawn_on(node, &tell_b);
		pc[i] = spawn_on(nc, &tell_b);
		ra[i] = mon(pa[i]);
		cr_assert_eq(tr_global_register(gb, names[i], pa[i], rules[i],
		                                WAIT_MS),
		             TR_OK);
		cr_assert_eq(tr_global_register(gc, names[i], pc[i], rules[i],
		                                WAIT_MS),
		             TR_OK);
	}
	tr_pid_t only_ab = spawn_on(nb, &tell_b),
	         only_c = spawn_on(nc, &tell_b);
	cr_assert_eq(tr_global_register(ga, "only_ab", only_ab, NULL, WAIT_MS),
	             TR_OK);
	cr_assert_eq(tr_global_register(gc, "only_c", only_c, NULL, WAIT_MS),
	             TR_OK);
	subscribe_all();
	/* heal: c rejoins b, then a. Under load the net sometimes leaves
	 * a rejoined session half-open (one side sees the other up, the
	 * other does not: a net bug, noted for issue 3), so the registries
	 * never agree on a view; then nothing is merged, and the heal is
	 * tried again (at most three times). */
	for (int attempt = 0;; attempt++) {
		cr_assert_eq(tr_net_join(netc, tr_net_endpoint(netb), WAIT_MS),
		             TR_OK);
		cr_assert_eq(tr_net_join(netc, tr_net_endpoint(neta), WAIT_MS),
		             TR_OK);
		if (synced_within(2 * WAIT_MS))
			break;
		if (attempt == 2)
			sync_within(1); /* fails, saying where each stands */
		/* the half-open rejoin (net bug): no view was agreed, so
		 * nothing was merged yet; leave and heal again */
		fprintf(stderr, "# heal %d did not converge; again\n", attempt);
		cr_assert_eq(tr_net_leave(netc, WAIT_MS), TR_OK);
	}
	/* the conflict events of a and b (c's subscription to `me`, an
	 * actor it could not reach, ended at once, as a monitor would) */
	for (int k = 0; k < 2 * 5; k++) {
		/* r_none has two losers: five conflicts per node */
		struct evmatch w = {"global_conflict", NULL};
		tr_msg_t *m = NULL;
		cr_assert_eq(tr_inbox_receive_match(inbox, WAIT_MS, match_ev,
		                                    &w, &m),
		             TR_OK, "conflict event %d of 10", k);
		tr_msg_free(m);
	}
	expect_everywhere("only_ab", only_ab);
	expect_everywhere("only_c", only_c);
	/* exit: one kept everywhere, the other killed */
	tr_pid_t w;
	cr_assert_eq(tr_global_whereis(ga, "r_exit", &w), TR_OK);
	expect_everywhere("r_exit", w);
	bool a_won = tr_pid_eq(w, pa[0]);
	cr_assert(a_won || tr_pid_eq(w, pc[0]));
	char reason[64];
	if (!a_won) { /* a's actor, monitored from the start */
		down(ra[0], reason, sizeof(reason));
		cr_assert_str_eq(reason, TR_KILLED);
	} else { /* c's, monitored now: it may be gone already */
		await_death(pc[0], reason, sizeof(reason));
		cr_assert(!strcmp(reason, TR_KILLED) ||
		                  !strcmp(reason, TR_NOPROC),
		          "%s", reason);
	}
	/* notify: one kept, the other told and alive */
	cr_assert_eq(tr_global_whereis(gb, "r_notify", &w), TR_OK);
	expect_everywhere("r_notify", w);
	tr_pid_t lost = tr_pid_eq(w, pa[1]) ? pc[1] : pa[1];
	tr_msg_free(got_from("global_name_conflict", lost));
	cr_assert(tr_pid_eq(w, pa[1]) || tr_pid_eq(w, pc[1]));
	/* none: gone, both told */
	expect_everywhere("r_none", TR_PID_NONE);
	tr_msg_free(got_from("global_name_conflict", pa[2]));
	tr_msg_free(got_from("global_name_conflict", pc[2]));
	/* custom: c's actor kept, a's told */
	expect_everywhere("r_custom", pc[3]);
	tr_msg_free(got_from("global_name_conflict", pa[3]));
	/* one table everywhere */
	tr_global_info_t ib;
	tr_global_info(ga, &ia);
	tr_global_info(gb, &ib);
	tr_global_info(gc, &ic);
	cr_assert_eq(ia.digest, ib.digest);
	cr_assert_eq(ia.digest, ic.digest);
	cr_assert_eq(ia.names, 5);
	cr_assert_geq(ia.conflicts, 5);
	cr_assert_geq(ic.conflicts, 5);
	(void)ra;
}

/* Four nodes that never met each register "x", then meet in a line:
 * one winner everywhere, every other holder killed (global's ring/line). */
Test(global, isolated_nodes_meeting_in_a_line_keep_one_holder)
{
	tr_node_t *ns[4];
	tr_net_t *nets[4];
	tr_global_t *gs[4];
	tr_pid_t ps[4];
	const char *names[] = {"w", "x", "y", "z"};
	for (int i = 0; i < 4; i++) {
		ns[i] = new_node(names[i]);
		nets[i] = new_net(ns[i], SECRET);
		cr_assert_eq(tr_global_start(nets[i], NULL, &gs[i]), TR_OK);
		cr_assert_eq(tr_global_sync(gs[i], WAIT_MS), TR_OK);
		ps[i] = spawn_on(ns[i], &tell_b);
		cr_assert_eq(
		        tr_global_register(gs[i], "x", ps[i], NULL, WAIT_MS),
		        TR_OK);
	}
	for (int i = 1; i < 4; i++)
		cr_assert_eq(tr_net_join(nets[i], tr_net_endpoint(nets[i - 1]),
		                         WAIT_MS),
		             TR_OK);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(tr_global_sync(gs[i], WAIT_MS), TR_OK);
	tr_pid_t w;
	cr_assert_eq(tr_global_whereis(gs[0], "x", &w), TR_OK);
	int winner = -1;
	for (int i = 0; i < 4; i++) {
		tr_pid_t p;
		cr_assert_eq(tr_global_whereis(gs[i], "x", &p), TR_OK);
		cr_assert(tr_pid_eq(p, w), "node %s disagrees", names[i]);
		if (tr_pid_eq(ps[i], w))
			winner = i;
	}
	cr_assert_neq(winner, -1);
	/* the three others were killed (watched from w, which now sees
	 * every node of the line) */
	tr_inbox_t *ibw;
	cr_assert_eq(tr_inbox_new(ns[0], &ibw), TR_OK);
	for (int i = 0; i < 4; i++) {
		if (i == winner)
			continue;
		tr_ref_t ref;
		tr_msg_t *m = NULL;
		char reason[32];
		cr_assert_eq(tr_inbox_monitor(ibw, ps[i], &ref), TR_OK);
		cr_assert_eq(tr_inbox_receive(ibw, WAIT_MS, &m), TR_OK);
		cr_assert_eq(
		        tr_msg_down_info(m, NULL, NULL, reason, sizeof(reason)),
		        TR_OK);
		cr_assert(!strcmp(reason, TR_KILLED) ||
		                  !strcmp(reason, TR_NOPROC),
		          "%s", reason);
		tr_msg_free(m);
	}
	tr_inbox_destroy(ibw);
	tr_global_info_t i0, i3;
	tr_global_info(gs[0], &i0);
	tr_global_info(gs[3], &i3);
	cr_assert_eq(i0.digest, i3.digest);
	cr_assert_geq(i0.conflicts, 3);
	for (int i = 0; i < 4; i++) {
		tr_global_stop(gs[i]);
		tr_node_destroy(ns[i]);
	}
}
