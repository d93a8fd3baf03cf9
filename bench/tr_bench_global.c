/*
 * bench/tr_bench_global.c - the global registry on a local cluster, the
 * twin of bench/erlang/tr_bench_global.erl. Prints "VALUE <number> <unit>"
 * and "PEAK_RSS_MB <n>".
 *
 *   tr_bench_global global_register      register + unregister, median us
 *   tr_bench_global global_register_p99  the same, 99th percentile us
 *   tr_bench_global global_whereis       1,000,000 lookups, ns each
 *   tr_bench_global registry_sync        a node joins a cluster holding
 *                                        10,000 names: seconds until its
 *                                        replica is complete
 *   tr_bench_global registry_sync_100k   the same with 100,000 names (no
 *                                        Erlang twin: filling global with
 *                                        100,000 names took over 15 min)
 *   tr_bench_global failover             kill -9 of the node of a
 *                                        supervised child with a global
 *                                        name until the name answers from
 *                                        another node: median of FO_N, ms
 *   tr_bench_global failover_max         the same, the slowest of FO_N
 *
 * The cluster: this process runs node "g1"; children (this program in
 * "serve" mode) run "g0", which sorts first and so leads, and "g2". The
 * measuring node is not the leader, as with global (whose lock is taken on
 * every node anyway).
 *
 * failover has a cluster of its own: this process runs nodes "a" (the
 * leader, and the supervisor's node) and "c"; "b" is a child process,
 * started afresh for each kill. Every node exports the behaviour "echo".
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <troupe/troupe.h>
#include <unistd.h>

#define SECRET     "troupe benchmark cluster secret"
#define REG_N      1000
#define REG_WARM   100
#define WHEREIS_N  1000000
#define SYNC_NAMES 10000  /* side by side with Erlang */
#define SYNC_BIG   100000 /* troupe alone: global cannot hold it in time */
#define SYNC_PAR   64
#define FO_N       20 /* kills per run, after FO_WARM */
#define FO_WARM    1
#define FO_NAME    "failover"

static tr_node_t *node;
static tr_net_t *net;
static tr_global_t *glob;

struct child {
	pid_t pid;
	int in;
};

static struct child kids[2];
static int nkids;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, tr_err e)
{
	fprintf(stderr, "tr_bench_global: %s: %s\n", what,
	        e ? tr_strerror(e) : "failed");
	for (int i = 0; i < nkids; i++)
		if (kids[i].pid > 0)
			kill(kids[i].pid, SIGKILL);
	exit(1);
}

/* "echo": answers a call with a copy of the request. */
static void echo_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_from_t from;
	tr_msg_t *r;
	if (tr_msg_kind(m) == TR_MSG_CALL && !tr_msg_from(m, &from) &&
	    !tr_msg_dup(m, &r))
		tr_reply(&from, r);
}

static const tr_behaviour_t echo_b = {.name = "echo", .receive = echo_receive};

static void start(const char *name, tr_node_t **n, tr_net_t **nt,
                  tr_global_t **g)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = name;
	tr_err e = tr_node_new(n, &o);
	if (e)
		die("tr_node_new", e);
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.secret = SECRET;
	no.secret_len = strlen(SECRET);
	if ((e = tr_net_start(*n, &no, nt)))
		die("tr_net_start", e);
	if ((e = tr_net_export(*nt, &echo_b)))
		die("tr_net_export", e);
	if ((e = tr_global_start(*nt, NULL, g)))
		die("tr_global_start", e);
}

static int serve(const char *name, const char *seed)
{
	start(name, &node, &net, &glob);
	tr_err e = tr_net_join(net, seed, 10000);
	if (e)
		die("join", e);
	printf("READY\n");
	fflush(stdout);
	char buf[64];
	while (fgets(buf, sizeof(buf), stdin))
		;
	tr_global_stop(glob);
	tr_node_destroy(node);
	return 0;
}

static void spawn_child(const char *name)
{
	int pin[2], pout[2];
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC))
		die("pipe", 0);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", 0);
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		char *argv[] = {"tr_bench_global", "serve", (char *)name,
		                (char *)tr_net_endpoint(net), NULL};
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	kids[nkids].pid = pid;
	kids[nkids++].in = pin[1];
	FILE *f = fdopen(pout[0], "r");
	char line[64];
	if (!f || !fgets(line, sizeof(line), f))
		die("child did not start", 0);
	fclose(f);
}

static void stop_children(void)
{
	for (int i = 0; i < nkids; i++) {
		close(kids[i].in);
		waitpid(kids[i].pid, NULL, 0);
	}
	nkids = 0;
}

/* Wait until g's replica is installed for a view of members other nodes
 * led by leader. */
static void settle(tr_global_t *g, size_t members, const char *leader)
{
	tr_global_info_t info;
	for (int tries = 0;; tries++) {
		tr_err e = tr_global_sync(g, 10000);
		if (e)
			die("sync", e);
		tr_global_info(g, &info);
		if (info.members == members && !strcmp(info.leader, leader))
			break;
		if (tries == 1000)
			die("the cluster did not settle", 0);
	}
}

static void cluster(int children)
{
	start("g1", &node, &net, &glob);
	spawn_child("g0");
	if (children > 1)
		spawn_child("g2");
	/* the children joined before they printed READY; wait until every
	 * registry agrees on the three of us */
	settle(glob, (size_t)children, "g0");
}

static void idle_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

static const tr_behaviour_t idle_b = {.name = "idle", .receive = idle_receive};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void bench_register(bool p99)
{
	cluster(2);
	tr_pid_t p;
	tr_err e = tr_spawn(node, &idle_b, NULL, &p);
	if (e)
		die("spawn", e);
	static double us[REG_N];
	for (int i = 0; i < REG_WARM + REG_N; i++) {
		double t0 = now_s();
		if ((e = tr_global_register(glob, "bench", p, NULL, 10000)))
			die("register", e);
		if ((e = tr_global_unregister(glob, "bench", 10000)))
			die("unregister", e);
		if (i >= REG_WARM)
			us[i - REG_WARM] = (now_s() - t0) * 1e6;
	}
	qsort(us, REG_N, sizeof(us[0]), cmp_d);
	printf("VALUE %.1f us\n", p99 ? us[REG_N * 99 / 100] : us[REG_N / 2]);
}

static void bench_whereis(void)
{
	cluster(2);
	tr_pid_t p, q;
	tr_err e = tr_spawn(node, &idle_b, NULL, &p);
	if (e || (e = tr_global_register(glob, "bench", p, NULL, 10000)))
		die("register", e);
	uint64_t hits = 0;
	double t0 = now_s();
	for (int i = 0; i < WHEREIS_N; i++)
		hits += tr_global_whereis(glob, "bench", &q) == TR_OK &&
		        q.id == p.id;
	double t = now_s() - t0;
	if (hits != WHEREIS_N)
		die("whereis missed", 0);
	printf("VALUE %.2f ns\n", t * 1e9 / WHEREIS_N);
}

struct filler {
	int from, to;
};

static void *fill(void *arg)
{
	struct filler *f = arg;
	for (int i = f->from; i < f->to; i++) {
		char name[32];
		tr_pid_t p;
		snprintf(name, sizeof(name), "name-%d", i);
		tr_err e = tr_spawn(node, &idle_b, NULL, &p);
		if (e || (e = tr_global_register(glob, name, p, NULL, 60000)))
			die("register", e);
	}
	return NULL;
}

static void bench_sync(int names)
{
	cluster(1);
	pthread_t th[SYNC_PAR];
	struct filler f[SYNC_PAR];
	for (int i = 0; i < SYNC_PAR; i++) {
		f[i].from = names / SYNC_PAR * i;
		f[i].to =
		        i == SYNC_PAR - 1 ? names : names / SYNC_PAR * (i + 1);
		pthread_create(&th[i], NULL, fill, &f[i]);
	}
	for (int i = 0; i < SYNC_PAR; i++)
		pthread_join(th[i], NULL);
	/* the newcomer: a node of its own in this process */
	tr_node_t *n2;
	tr_net_t *net2;
	tr_global_t *g2;
	start("g2", &n2, &net2, &g2);
	double t0 = now_s();
	tr_err e = tr_net_join(net2, tr_net_endpoint(net), 10000);
	tr_global_info_t info;
	do {
		if (e || (e = tr_global_sync(g2, 30000)))
			die("join/sync", e);
		tr_global_info(g2, &info);
	} while (info.members < 2);
	double t = now_s() - t0;
	if (info.names != (size_t)names) {
		fprintf(stderr, "tr_bench_global: %zu names, not %d\n",
		        info.names, names);
		die("registry_sync", 0);
	}
	printf("VALUE %.4f s\n", t);
	tr_global_stop(g2);
	tr_node_destroy(n2);
}

/* ---- failover ------------------------------------------------------- */

static tr_inbox_t *events; /* on c: c's registry events */

static bool is_tag(const tr_msg_t *m, void *arg)
{
	return tr_msg_is(m, arg);
}

/* Wait for c's replica to report FO_NAME (un)registered ("global_" tag)
 * with a pid other than not; that pid. */
static tr_pid_t await_name(const char *tag, tr_pid_t not )
{
	for (;;) {
		tr_msg_t *m;
		tr_err e = tr_inbox_receive_match(events, 10000, is_tag,
		                                  (void *)tag, &m);
		if (e)
			die(tag, e);
		char nm[64];
		tr_pid_t p;
		bool hit = !tr_msg_get_strbuf(m, 0, nm, sizeof(nm)) &&
		           !strcmp(nm, FO_NAME) && !tr_msg_get_pid(m, 1, &p) &&
		           !tr_pid_eq(p, not );
		tr_msg_free(m);
		if (hit)
			return p;
	}
}

/* One kill: b starts, the child goes there, b is killed; ms from the
 * kill until the name, looked up on c, answers a call. */
static double failover_once(tr_node_t *nc, tr_global_t *gc)
{
	spawn_child("b");
	settle(glob, 2, "a");
	settle(gc, 2, "a");
	tr_placement_t pl = {0};
	pl.net = net;
	pl.behaviour = "echo";
	pl.node = "b";
	pl.failover = true;
	pl.global = glob;
	pl.global_name = FO_NAME;
	tr_child_spec_t spec;
	tr_child_spec_init(&spec);
	spec.id = "worker";
	spec.place = &pl;
	tr_pid_t sup;
	tr_err e = tr_supervisor_start(node, NULL, &spec, 1, NULL, &sup, NULL);
	if (e)
		die("tr_supervisor_start", e);
	tr_pid_t x = await_name("global_registered", TR_PID_NONE);
	if (x.node != tr_node_id_of_name("b"))
		die("the child is not on b", 0);

	double t0 = now_s();
	kill(kids[0].pid, SIGKILL);
	tr_pid_t x2 = await_name("global_registered", x), w;
	if ((e = tr_global_whereis(gc, FO_NAME, &w)))
		die("whereis", e);
	tr_msg_t *req, *rep = NULL;
	if ((e = tr_msg_new(&req, "ping")) ||
	    (e = tr_call(nc, w, req, 10000, &rep, NULL, 0)))
		die("call", e);
	double ms = (now_s() - t0) * 1e3;
	tr_msg_free(rep);
	if (!tr_pid_eq(w, x2) || w.node == x.node)
		die("the name did not move", 0);

	stop_children();
	if ((e = tr_supervisor_stop(node, sup, 10000)))
		die("tr_supervisor_stop", e);
	while (!tr_pid_eq(await_name("global_unregistered", TR_PID_NONE), x2))
		;
	return ms;
}

static void bench_failover(bool max)
{
	start("a", &node, &net, &glob);
	tr_node_t *nc;
	tr_net_t *netc;
	tr_global_t *gc;
	start("c", &nc, &netc, &gc);
	tr_err e = tr_net_join(netc, tr_net_endpoint(net), 10000);
	if (e || (e = tr_inbox_new(nc, &events)) ||
	    (e = tr_global_monitor(gc, tr_inbox_pid(events), true)))
		die("c", e);
	static double ms[FO_N];
	for (int i = 0; i < FO_WARM + FO_N; i++) {
		double t = failover_once(nc, gc);
		if (i >= FO_WARM)
			ms[i - FO_WARM] = t;
	}
	qsort(ms, FO_N, sizeof(ms[0]), cmp_d);
	printf("VALUE %.2f ms\n", max ? ms[FO_N - 1] : ms[FO_N / 2]);
	tr_inbox_destroy(events);
	tr_global_stop(gc);
	tr_node_destroy(nc);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argv[3]);
	if (argc != 2) {
		fprintf(stderr, "usage: tr_bench_global BENCHMARK\n");
		return 2;
	}
	const char *n = argv[1];
	if (!strcmp(n, "global_register"))
		bench_register(false);
	else if (!strcmp(n, "global_register_p99"))
		bench_register(true);
	else if (!strcmp(n, "global_whereis"))
		bench_whereis();
	else if (!strcmp(n, "registry_sync"))
		bench_sync(SYNC_NAMES);
	else if (!strcmp(n, "registry_sync_100k"))
		bench_sync(SYNC_BIG);
	else if (!strcmp(n, "failover"))
		bench_failover(false);
	else if (!strcmp(n, "failover_max"))
		bench_failover(true);
	else {
		fprintf(stderr, "tr_bench_global: unknown benchmark %s\n", n);
		return 2;
	}
	stop_children();
	tr_global_stop(glob);
	tr_node_destroy(node);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("PEAK_RSS_MB %.1f\n", ru.ru_maxrss / 1024.0);
	return 0;
}
