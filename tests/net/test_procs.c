/*
 * tests/net/test_procs.c - nodes in separate processes: the test is node
 * a; b and c are tests/net/node_proc children (path in TR_NODE_PROC).
 * b is killed with SIGKILL, comes back as a new incarnation, c leaves
 * gracefully. Children read their stdin until EOF, so they go away with
 * this process whatever happens to it; the fixture also kills them.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../helpers/helpers.h"

#define SECRET "a cluster secret for the process tests"

static tr_net_t *neta;
static struct node_child kids[4];
static int nkids;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct node_child *start_child(const char *name, const char *join)
{
	struct node_child *c = &kids[nkids++];
	node_child_start(c, name, SECRET, join, false);
	return c;
}

static void kill_children(void)
{
	for (int i = 0; i < nkids; i++)
		node_child_reap(&kids[i]);
	nkids = 0;
}

static bool match_event(const tr_msg_t *m, void *arg)
{
	const char **want = arg;
	char name[256];
	return tr_msg_is(m, want[0]) &&
	       tr_msg_get_strbuf(m, 0, name, sizeof(name)) == TR_OK &&
	       !strcmp(name, want[1]);
}

static tr_msg_t *event(const char *tag, const char *name)
{
	const char *want[2] = {tag, name};
	tr_msg_t *m = NULL;
	tr_err e =
	        tr_inbox_receive_match(inbox, WAIT_MS, match_event, want, &m);
	cr_assert_eq(e, TR_OK, "no %s of %s", tag, name);
	return m;
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = "a";
	o.schedulers = 2;
	cr_assert_eq(tr_node_new(&node, &o), TR_OK);
	cr_assert_eq(tr_inbox_new(node, &inbox), TR_OK);
	me = tr_inbox_pid(inbox);
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.secret = SECRET;
	no.secret_len = strlen(SECRET);
	cr_assert_eq(tr_net_start(node, &no, &neta), TR_OK);
	cr_assert_eq(tr_net_monitor_nodes(neta, me, true, false), TR_OK);
}

static void teardown(void)
{
	kill_children();
	tr_inbox_destroy(inbox);
	tr_node_destroy(node);
}

Test(procs, kill9_restart_and_leave, .init = setup, .fini = teardown,
     .timeout = 60)
{
	struct node_child *b = start_child("b", tr_net_endpoint(neta));
	tr_msg_free(event("nodeup", "b"));
	struct node_child *c = start_child("c", b->endpoint); /* via b */
	tr_msg_free(event("nodeup", "c"));

	/* messages both ways: a calls b's and c's echo */
	tr_pid_t eb, ec;
	cr_assert_eq(tr_spawn_on(neta, "b", "echo", NULL, WAIT_MS, &eb), TR_OK);
	cr_assert_eq(tr_spawn_on(neta, "c", "echo", NULL, WAIT_MS, &ec), TR_OK);
	tr_msg_t *rep = NULL;
	cr_assert_eq(tr_call(node, eb, mk_int("v", 1), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	tr_msg_free(rep);
	cr_assert_eq(tr_call(node, ec, mk_int("v", 2), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	tr_msg_free(rep);

	/* a monitors b's echo; kill -9 b */
	tr_ref_t r = mon(eb);
	double t0 = now_s();
	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	b->pid = 0;
	tr_msg_t *m = event("nodedown", "b");
	double dt = now_s() - t0;
	char why[64];
	tr_msg_get_strbuf(m, 1, why, sizeof(why));
	tr_msg_free(m);
	cr_log_info("nodedown of b %.3f s after kill -9 (%s)", dt, why);
	cr_assert_lt(dt, 2.0, "nodedown %.3f s after the kill (%s)", dt, why);
	down(r, why, sizeof(why));
	cr_assert_str_eq(why, "noconnection");
	cr_assert(tr_net_is_up(neta, "c"));

	/* b comes back: a new incarnation, the old pids stay dead */
	struct node_child *b2 = start_child("b", tr_net_endpoint(neta));
	cr_assert_neq(b2->creation, b->creation);
	m = event("nodeup", "b");
	uint64_t cr;
	cr_assert_eq(tr_msg_get_uint(m, 1, &cr), TR_OK);
	cr_assert_eq(cr, b2->creation);
	tr_msg_free(m);
	r = mon(eb);
	down(r, why, sizeof(why));
	cr_assert_str_eq(why, "noproc");

	/* a silent peer (SIGSTOP: its sockets stay open) is found by the
	 * heartbeats, and reconnects by itself once it runs again */
	t0 = now_s();
	kill(b2->pid, SIGSTOP);
	m = event("nodedown", "b");
	dt = now_s() - t0;
	tr_msg_get_strbuf(m, 1, why, sizeof(why));
	tr_msg_free(m);
	cr_log_info("nodedown of a stopped b %.3f s after SIGSTOP (%s)", dt,
	            why);
	cr_assert_str_eq(why, "heartbeat_timeout");
	cr_assert_lt(dt, 2.0);
	kill(b2->pid, SIGCONT);
	m = event("nodeup", "b");
	cr_assert_eq(tr_msg_get_uint(m, 1, &cr), TR_OK);
	cr_assert_eq(cr, b2->creation, "same incarnation after the pause");
	tr_msg_free(m);

	/* c leaves gracefully (its stdin closes) */
	close(c->in);
	c->in = -1;
	m = event("nodedown", "c");
	tr_msg_get_strbuf(m, 1, why, sizeof(why));
	tr_msg_free(m);
	cr_assert_str_eq(why, "left");
	int st;
	cr_assert_eq(waitpid(c->pid, &st, 0), c->pid);
	c->pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert(tr_net_is_up(neta, "b"));
}
