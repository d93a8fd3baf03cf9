/*
 * examples/cluster_demo.c - `./run demo`: a three-node cluster on this
 * machine, narrated. Node n1 is this process; n0 and n2 are this program
 * again in child processes ("serve" mode), so killing them is a real
 * `kill -9` of a machine's worth of node. Every step checks what it shows
 * and the program exits non-zero, loudly, if anything does not behave.
 *
 *   1. three nodes join into a full mesh; the global registry elects the
 *      node with the smallest name (n0) and opens an epoch;
 *   2. a counter actor is spawned on n2 and registered globally from n1;
 *      every node finds it locally, n1 sends to it by name;
 *   3. n2 is killed with SIGKILL: the name vanishes from n1's replica;
 *   4. a new counter on n1 takes the name; n0, the leader, is killed: the
 *      leader lock moves to n1 with a higher epoch, and n1 still
 *      registers names.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <troupe/troupe.h>
#include <unistd.h>

#define SECRET "the troupe demo cluster secret"

#define CHECK(cond, ...)                                               \
	do {                                                           \
		if (!(cond)) {                                         \
			fprintf(stderr, "demo: FAILED: " __VA_ARGS__); \
			fprintf(stderr, "\n");                         \
			cleanup();                                     \
			exit(1);                                       \
		}                                                      \
	} while (0)

static pid_t kids[2] = {-1, -1};

static void cleanup(void)
{
	for (int i = 0; i < 2; i++)
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = -1;
		}
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A counter: ["add", n] adds, a call ["get"] answers ["value", total]. */
static tr_err counter_init(void **state, void *arg)
{
	(void)arg;
	*state = calloc(1, sizeof(int64_t));
	return *state ? TR_OK : TR_ENOMEM;
}

static void counter_receive(void *state, tr_msg_t *m)
{
	int64_t *total = state, n;
	if (tr_msg_is(m, "add") && !tr_msg_get_int(m, 0, &n)) {
		*total += n;
	} else if (tr_msg_kind(m) == TR_MSG_CALL && tr_msg_is(m, "get")) {
		tr_from_t from;
		tr_msg_t *r;
		if (!tr_msg_from(m, &from) && !tr_msg_new(&r, "value")) {
			tr_msg_add_int(r, *total);
			if (tr_reply(&from, r))
				tr_msg_free(r);
		}
	}
}

static void counter_terminate(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

static const tr_behaviour_t counter_b = {.name = "counter",
                                         .init = counter_init,
                                         .receive = counter_receive,
                                         .terminate = counter_terminate};

static tr_node_t *start(const char *name, tr_net_t **net, tr_global_t **g)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = name;
	o.schedulers = 1;
	tr_node_t *node;
	if (tr_node_new(&node, &o))
		exit(1);
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.secret = SECRET;
	no.secret_len = strlen(SECRET);
	if (tr_net_start(node, &no, net) || tr_global_start(*net, NULL, g))
		exit(1);
	tr_net_export(*net, &counter_b);
	return node;
}

/* "serve NAME SEED": a node of the cluster, until killed. */
static int serve(const char *name, const char *seed)
{
	tr_net_t *net;
	tr_global_t *g;
	start(name, &net, &g);
	if (tr_net_join(net, seed, 10000))
		return 1;
	printf("READY\n");
	fflush(stdout);
	char buf[16];
	while (fgets(buf, sizeof(buf), stdin)) /* until the demo ends */
		;
	return 0;
}

static void spawn_node(int i, const char *name, const char *seed)
{
	int pin[2], pout[2];
	CHECK(!pipe2(pin, O_CLOEXEC) && !pipe2(pout, O_CLOEXEC), "pipe");
	pid_t p = fork();
	CHECK(p >= 0, "fork");
	if (p == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		char *argv[] = {"cluster_demo", "serve", (char *)name,
		                (char *)seed, NULL};
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	kids[i] = p;
	FILE *f = fdopen(pout[0], "r");
	char line[32];
	CHECK(f && fgets(line, sizeof(line), f), "%s did not start", name);
	fclose(f);
}

static bool is_event(const tr_msg_t *m, void *arg)
{
	const char **w = arg; /* tag, first field */
	char s[64];
	return tr_msg_is(m, w[0]) && !tr_msg_get_strbuf(m, 0, s, sizeof(s)) &&
	       !strcmp(s, w[1]);
}

static tr_msg_t *await_event(tr_inbox_t *ib, const char *tag, const char *f0)
{
	const char *w[2] = {tag, f0};
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive_match(ib, 10000, is_event, w, &m);
	CHECK(!e, "no %s %s: %s", tag, f0, tr_strerror(e));
	return m;
}

static void show(tr_global_t *g, const char *when)
{
	tr_global_info_t i;
	tr_global_info(g, &i);
	printf("  [%s] leader %s, epoch %llu, %zu other node(s), %zu name(s)\n",
	       when, i.leader, (unsigned long long)i.epoch, i.members, i.names);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argv[3]);
	signal(SIGPIPE, SIG_IGN);
	tr_net_t *net;
	tr_global_t *g;
	tr_node_t *node = start("n1", &net, &g);
	tr_inbox_t *ib;
	CHECK(!tr_inbox_new(node, &ib), "inbox");
	tr_pid_t me = tr_inbox_pid(ib);
	tr_global_monitor(g, me, true);

	printf("1. three nodes, one registry\n");
	spawn_node(0, "n0", tr_net_endpoint(net));
	spawn_node(1, "n2", tr_net_endpoint(net));
	tr_global_info_t info;
	for (int tries = 0;; tries++) {
		CHECK(!tr_global_sync(g, 10000), "global sync");
		tr_global_info(g, &info);
		if (info.members == 2 && !strcmp(info.leader, "n0"))
			break;
		CHECK(tries < 1000, "the cluster did not settle");
	}
	show(g, "n1");

	printf("2. a counter on n2, named \"counter\" across the cluster\n");
	tr_pid_t c;
	CHECK(!tr_spawn_on(net, "n2", "counter", NULL, 5000, &c),
	      "spawn on n2");
	CHECK(!tr_global_register(g, "counter", c, NULL, 5000), "register");
	tr_pid_t found;
	CHECK(!tr_global_whereis(g, "counter", &found) && tr_pid_eq(found, c),
	      "whereis");
	char buf[64];
	tr_pid_format(c, buf, sizeof(buf));
	printf("  \"counter\" is %s on n2, found on n1 without a message\n",
	       buf);
	for (int i = 1; i <= 10; i++) {
		tr_msg_t *m;
		tr_msg_new(&m, "add");
		tr_msg_add_int(m, i);
		CHECK(!tr_global_send(g, "counter", m), "send by name");
	}
	tr_msg_t *req, *rep;
	tr_msg_new(&req, "get");
	CHECK(!tr_call(node, c, req, 5000, &rep, NULL, 0), "call");
	int64_t v = 0;
	tr_msg_get_int(rep, 0, &v);
	tr_msg_free(rep);
	CHECK(v == 55, "the counter says %lld, not 55", (long long)v);
	printf("  sent 1..10 by name from n1: the counter holds %lld\n",
	       (long long)v);

	printf("3. kill -9 n2: its names vanish everywhere\n");
	double t0 = now_ms();
	kill(kids[1], SIGKILL);
	waitpid(kids[1], NULL, 0);
	kids[1] = -1;
	tr_msg_free(await_event(ib, "global_unregistered", "counter"));
	CHECK(tr_global_whereis(g, "counter", &found) == TR_ENOENT, "stale");
	printf("  \"counter\" gone from n1's replica %.1f ms after the kill\n",
	       now_ms() - t0);

	printf("4. kill -9 the leader n0: the lock moves, names still work\n");
	CHECK(!tr_spawn(node, &counter_b, NULL, &c), "spawn");
	CHECK(!tr_global_register(g, "counter", c, NULL, 5000), "re-register");
	show(g, "before");
	t0 = now_ms();
	kill(kids[0], SIGKILL);
	waitpid(kids[0], NULL, 0);
	kids[0] = -1;
	tr_msg_free(await_event(ib, "global_leader", "n1"));
	printf("  n1 leads %.1f ms after the kill\n", now_ms() - t0);
	tr_pid_t c2;
	CHECK(!tr_spawn(node, &counter_b, NULL, &c2), "spawn");
	CHECK(!tr_global_register(g, "counter2", c2, NULL, 5000),
	      "register after failover");
	CHECK(!tr_global_whereis(g, "counter", &found) && tr_pid_eq(found, c),
	      "the name survived the leader");
	show(g, "after");
	printf("demo: ok\n");
	tr_inbox_destroy(ib);
	tr_global_stop(g);
	tr_node_destroy(node);
	return 0;
}
