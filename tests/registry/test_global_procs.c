/*
 * tests/registry/test_global_procs.c - the global registry when a node
 * dies for real: nodes "m" and "n" live in this process, the others are
 * node_proc children (TR_GLOBAL=1) killed with SIGKILL. Children are
 * killed in .fini whatever happened.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../helpers/helpers.h"

#define SECRET "a cluster secret for the tests"

static tr_node_t *nn;
static tr_net_t *netm, *netn;
static tr_global_t *gm, *gn;
static struct node_child kids[4];
static int nkids;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct node_child *start_child(const char *name, const char *join)
{
	struct node_child *c = &kids[nkids++];
	node_child_start(c, name, SECRET, join, true);
	return c;
}

static void kill9(struct node_child *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	c->pid = 0;
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	node = new_node("m");
	nn = new_node("n");
	cr_assert_eq(tr_inbox_new(node, &inbox), TR_OK);
	me = tr_inbox_pid(inbox);
	netm = new_net(node, SECRET);
	netn = new_net(nn, SECRET);
	cr_assert_eq(tr_global_start(netm, NULL, &gm), TR_OK);
	cr_assert_eq(tr_global_start(netn, NULL, &gn), TR_OK);
	cr_assert_eq(tr_net_join(netn, tr_net_endpoint(netm), WAIT_MS), TR_OK);
}

static void teardown(void)
{
	for (int i = 0; i < nkids; i++)
		node_child_reap(&kids[i]);
	nkids = 0;
	tr_global_stop(gm);
	tr_global_stop(gn);
	tr_inbox_destroy(inbox);
	tr_node_destroy(nn);
	tr_node_destroy(node);
}

TestSuite(global_procs, .init = setup, .fini = teardown, .timeout = 180);

static bool match_ev(const tr_msg_t *m, void *arg)
{
	const char **w = arg; /* tag, name (field 0) */
	char s[256];
	return tr_msg_is(m, w[0]) &&
	       (!w[1] ||
	        (!tr_msg_get_strbuf(m, 0, s, sizeof(s)) && !strcmp(s, w[1])));
}

static tr_msg_t *event(const char *tag, const char *name)
{
	const char *w[2] = {tag, name};
	tr_msg_t *m = NULL;
	cr_assert_eq(
	        tr_inbox_receive_match(inbox, 3 * WAIT_MS, match_ev, w, &m),
	        TR_OK, "no %s %s", tag, name ? name : "");
	return m;
}

Test(global_procs, names_die_with_a_killed_node)
{
	start_child("x1", tr_net_endpoint(netm));
	cr_assert_eq(tr_global_sync(gm, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(gn, WAIT_MS), TR_OK);
	tr_pid_t p, q;
	cr_assert_eq(tr_global_whereis(gm, "echo@x1", &p), TR_OK);
	cr_assert_eq(tr_global_whereis(gn, "echo@x1", &q), TR_OK);
	cr_assert(tr_pid_eq(p, q));
	cr_assert_eq(p.node, tr_node_id_of_name("x1"));
	cr_assert_eq(tr_global_monitor(gm, me, true), TR_OK);
	cr_assert_eq(tr_global_monitor(gn, me, true), TR_OK);
	cr_assert_eq(tr_global_sync(gm, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(gn, WAIT_MS), TR_OK);
	kill9(&kids[0]);
	tr_msg_free(event("global_unregistered", "echo@x1"));
	tr_msg_free(event("global_unregistered", "echo@x1"));
	cr_assert_eq(tr_global_whereis(gm, "echo@x1", &p), TR_ENOENT);
	cr_assert_eq(tr_global_whereis(gn, "echo@x1", &p), TR_ENOENT);
}

enum { STREAM = 300, KILL_AT = 100 };

struct stream {
	tr_err res[STREAM];
	tr_pid_t pids[STREAM];
};

static void *registrar(void *arg)
{
	struct stream *s = arg;
	for (int i = 0; i < STREAM; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s%d", i);
		tr_spawn(i % 2 ? nn : node, &puppet_b, NULL, &s->pids[i]);
		s->res[i] = tr_global_register(i % 3 ? gm : gn, name,
		                               s->pids[i], NULL, 3 * WAIT_MS);
		if (i == KILL_AT)
			tr_send(me, mk("kill_now"));
	}
	tr_send(me, mk("stream_done"));
	return NULL;
}

Test(global_procs, leader_killed_mid_stream_loses_nothing)
{
	/* "k0" sorts first: it leads */
	start_child("k0", tr_net_endpoint(netm));
	cr_assert_eq(tr_global_sync(gm, WAIT_MS), TR_OK);
	cr_assert_eq(tr_global_sync(gn, WAIT_MS), TR_OK);
	tr_global_info_t before, after, other;
	tr_global_info(gm, &before);
	cr_assert_str_eq(before.leader, "k0");
	cr_assert_eq(tr_global_monitor(gm, me, true), TR_OK);
	static struct stream s;
	pthread_t th;
	pthread_create(&th, NULL, registrar, &s);
	tr_msg_free(recv_tag("kill_now"));
	double t0 = now_ms();
	kill9(&kids[0]);
	/* the lock moves: m leads a higher epoch */
	const char *w[2] = {"global_leader", "m"};
	tr_msg_t *m = NULL;
	cr_assert_eq(
	        tr_inbox_receive_match(inbox, 3 * WAIT_MS, match_ev, w, &m),
	        TR_OK, "no new leader");
	double failover = now_ms() - t0;
	uint64_t epoch;
	cr_assert_eq(tr_msg_get_uint(m, 1, &epoch), TR_OK);
	tr_msg_free(m);
	cr_assert_gt(epoch, before.epoch);
	fprintf(stderr, "# leader failover after kill -9: %.1f ms\n", failover);
	/* sanitizer builds run several times slower */
	cr_assert_lt(failover, getenv("ASAN_OPTIONS") ? 8000.0 : 2000.0);
	tr_msg_free(recv_tag("stream_done"));
	pthread_join(th, NULL);
	/* every registration was acknowledged, none twice, none lost */
	for (int i = 0; i < STREAM; i++) {
		char name[32];
		snprintf(name, sizeof(name), "s%d", i);
		cr_assert_eq(s.res[i], TR_OK, "%s: %s", name,
		             tr_err_name(s.res[i]));
		tr_pid_t p, q;
		cr_assert_eq(tr_global_whereis(gm, name, &p), TR_OK, "%s",
		             name);
		cr_assert_eq(tr_global_whereis(gn, name, &q), TR_OK, "%s",
		             name);
		cr_assert(tr_pid_eq(p, s.pids[i]) && tr_pid_eq(q, s.pids[i]));
	}
	cr_assert_eq(tr_global_sync(gn, WAIT_MS), TR_OK);
	tr_global_info(gm, &after);
	tr_global_info(gn, &other);
	cr_assert_str_eq(after.leader, "m");
	cr_assert_eq(after.names, STREAM, "k0's own name went with it");
	cr_assert_eq(after.digest, other.digest);
}
