/*
 * tests/registry/test_pg.c - process groups on three nodes in one process.
 * Every wait is on a pg_join/pg_leave event of a monitor.
 */
#include "../helpers/helpers.h"

#define SECRET "a cluster secret for the tests"

static tr_node_t *nb, *nc;
static tr_net_t *neta, *netb, *netc;
static tr_pg_t *pa, *pb, *pc;

static tr_pg_t *mkpg(tr_net_t *net)
{
	tr_pg_t *pg;
	cr_assert_eq(tr_pg_start(net, NULL, &pg), TR_OK);
	/* every event of the scope, wherever, comes to the test's inbox */
	cr_assert_eq(tr_pg_monitor(pg, NULL, me, true), TR_OK);
	return pg;
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
	cr_assert_eq(tr_net_join(netb, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	cr_assert_eq(tr_net_join(netc, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	pa = mkpg(neta);
	pb = mkpg(netb);
	pc = mkpg(netc);
}

static void teardown(void)
{
	tr_pg_stop(pa);
	tr_pg_stop(pb);
	tr_pg_stop(pc);
	tr_inbox_destroy(inbox);
	tr_node_destroy(nc);
	tr_node_destroy(nb);
	tr_node_destroy(node);
}

TestSuite(pg, .init = setup, .fini = teardown, .timeout = 60);

static bool match_tag(const tr_msg_t *m, void *arg)
{
	return tr_msg_is(m, arg);
}

/* Wait for `count` events [tag, "default", group, [pids]] in total. */
static void events_at(const char *tag, int count, int line)
{
	for (int i = 0; i < count; i++) {
		tr_msg_t *m = NULL;
		tr_err e = tr_inbox_receive_match(inbox, WAIT_MS, match_tag,
		                                  (void *)tag, &m);
		cr_assert_eq(e, TR_OK, "line %d: %s %d of %d", line, tag, i,
		             count);
		tr_msg_free(m);
	}
}

#define events(tag, count) events_at(tag, count, __LINE__)

static size_t members(tr_pg_t *pg, const char *g, bool local)
{
	size_t n = 0;
	tr_pid_t out[16];
	cr_assert_eq(tr_pg_members(pg, g, local, out, 16, &n), TR_OK);
	return n;
}

static tr_pid_t spawn_on(tr_node_t *n)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(n, &puppet_b, NULL, &p), TR_OK);
	return p;
}

/* Joins and leaves everywhere: 3 nodes see each of them. */
static void joined_everywhere(tr_pg_t *pg, const char *g, tr_pid_t p)
{
	cr_assert_eq(tr_pg_join(pg, g, p), TR_OK);
	events("pg_join", 3);
}

Test(pg, members_of_every_node_are_seen_everywhere)
{
	tr_pid_t xa = spawn_on(node), xb = spawn_on(nb), xc = spawn_on(nc);
	joined_everywhere(pa, "g", xa);
	joined_everywhere(pb, "g", xb);
	joined_everywhere(pb, "g", xb); /* twice: listed twice */
	joined_everywhere(pc, "g", xc);
	joined_everywhere(pc, "other", xc);
	tr_pg_t *all[] = {pa, pb, pc};
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(members(all[i], "g", false), 4, "node %d", i);
		cr_assert_eq(members(all[i], "other", false), 1);
		size_t ng = 0;
		cr_assert_eq(tr_pg_groups(all[i], NULL, NULL, &ng), TR_OK);
		cr_assert_eq(ng, 2);
	}
	cr_assert_eq(members(pb, "g", true), 2);
	cr_assert_eq(members(pa, "g", true), 1);
	cr_assert_eq(members(pa, "none", false), 0);
	/* one leave ends one membership */
	cr_assert_eq(tr_pg_leave(pb, "g", xb), TR_OK);
	events("pg_leave", 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(members(all[i], "g", false), 3);
	cr_assert_eq(tr_pg_leave(pa, "g", xb), TR_EINVAL, "not a's actor");
	cr_assert_eq(tr_pg_leave(pb, "nogroup", xb), TR_OK);
	/* a member that exits is removed everywhere, from every group */
	tr_exit(xc, TR_KILL);
	events("pg_leave", 6);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(members(all[i], "g", false), 2);
		cr_assert_eq(members(all[i], "other", false), 0);
		size_t ng = 0;
		tr_pg_groups(all[i], NULL, NULL, &ng);
		cr_assert_eq(ng, 1, "an empty group does not exist");
	}
}

Test(pg, a_lost_node_takes_its_members_and_a_new_one_learns_them)
{
	tr_pid_t xb = spawn_on(nb), xc = spawn_on(nc);
	joined_everywhere(pb, "g", xb);
	joined_everywhere(pc, "g", xc);
	/* c goes */
	tr_pg_stop(pc);
	pc = NULL;
	tr_net_stop(netc);
	events("pg_leave", 2); /* on a and b */
	cr_assert_eq(members(pa, "g", false), 1);
	cr_assert_eq(members(pb, "g", false), 1);
	/* d comes: it learns b's member (d's events go to an inbox on d:
	 * a monitor of `me` from d would end at once, as me is out of
	 * reach before the join) */
	tr_node_t *nd = new_node("d");
	tr_net_t *netd = new_net(nd, SECRET);
	tr_pg_t *pd;
	cr_assert_eq(tr_pg_start(netd, NULL, &pd), TR_OK);
	tr_inbox_t *ibd;
	cr_assert_eq(tr_inbox_new(nd, &ibd), TR_OK);
	cr_assert_eq(tr_pg_monitor(pd, "g", tr_inbox_pid(ibd), true), TR_OK);
	cr_assert_eq(tr_net_join(netd, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	tr_msg_t *ev = NULL;
	cr_assert_eq(tr_inbox_receive(ibd, WAIT_MS, &ev), TR_OK);
	cr_assert(tr_msg_is(ev, "pg_join"));
	tr_msg_free(ev);
	tr_pid_t out[4];
	size_t n = 0;
	cr_assert_eq(tr_pg_members(pd, "g", false, out, 4, &n), TR_OK);
	cr_assert_eq(n, 1);
	cr_assert(tr_pid_eq(out[0], xb));
	/* and d's members reach the others */
	tr_pid_t xd = spawn_on(nd);
	cr_assert_eq(tr_pg_join(pd, "g", xd), TR_OK);
	events("pg_join", 2); /* a and b */
	cr_assert_eq(members(pa, "g", false), 2);
	cr_assert_eq(members(pd, "g", false), 2);
	tr_inbox_destroy(ibd);
	tr_pg_stop(pd);
	tr_node_destroy(nd);
}

Test(pg, bad_input_and_forged_traffic)
{
	tr_pid_t xb = spawn_on(nb);
	cr_assert_eq(tr_pg_join(pa, "g", xb), TR_EINVAL, "b's actor on a");
	cr_assert_eq(tr_pg_join(pa, "", spawn_on(node)), TR_EINVAL);
	cr_assert_eq(tr_pg_join(NULL, "g", xb), TR_EINVAL);
	cr_assert_eq(tr_pg_start(neta, NULL, &(tr_pg_t *){NULL}), TR_EEXIST);
	/* a local actor pretending to be b's server: ignored */
	tr_msg_t *m = mk("pg_join");
	tr_msg_add_str(m, "g");
	tr_msg_add_raw(m, "\x90", 1);
	cr_assert_eq(tr_send(tr_pg_server(pa), m), TR_OK);
	tr_pid_t xa = spawn_on(node);
	joined_everywhere(pa, "g", xa); /* handled after the forgery */
	cr_assert_eq(members(pa, "g", false), 1);
}
