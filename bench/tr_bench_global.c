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
 *
 * The cluster: this process runs node "g1"; children (this program in
 * "serve" mode) run "g0", which sorts first and so leads, and "g2". The
 * measuring node is not the leader, as with global (whose lock is taken on
 * every node anyway).
 */
#include <fcntl.h>
#include <pthread.h>
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

static void cluster(int children)
{
	start("g1", &node, &net, &glob);
	spawn_child("g0");
	if (children > 1)
		spawn_child("g2");
	tr_global_info_t info;
	for (int tries = 0;; tries++) {
		/* the children joined before they printed READY; wait until
		 * every registry agrees on the three of us */
		tr_err e = tr_global_sync(glob, 10000);
		if (e)
			die("sync", e);
		tr_global_info(glob, &info);
		if (info.members == (size_t)children &&
		    !strcmp(info.leader, "g0"))
			break;
		if (tries == 1000)
			die("the cluster did not settle", 0);
	}
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
