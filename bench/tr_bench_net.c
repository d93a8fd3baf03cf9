/*
 * bench/tr_bench_net.c - distribution benchmarks: two nodes, two
 * processes, on loopback. The Erlang twins are in bench/erlang/
 * tr_bench_dist.erl; bench/run_bench.sh runs both and prints RESULT lines.
 *
 *   tr_bench_net remote_throughput   1,000,000 x 64-byte messages a -> b,
 *                                    b acks every 1,000, at most 8,000
 *                                    unacknowledged (msg/s)
 *   tr_bench_net remote_pingpong     200,000 round trips a <-> b (rt/s)
 *   tr_bench_net detect_nodedown     kill -9 of b until a's nodedown (s)
 *   tr_bench_net zmq_throughput      the raw ZeroMQ floor of the first:
 *   tr_bench_net zmq_pingpong        DEALER -> ROUTER between the same two
 *                                    processes, same sizes and window
 *
 * Node b is this program run again as "tr_bench_net serve ENDPOINT"; it
 * exits when its stdin closes. Output: "VALUE <number> <unit>".
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
#include <zmq.h>

#define SECRET    "troupe benchmark cluster secret"
#define TP_N      (getenv("TP_N") ? atoi(getenv("TP_N")) : 1000000)
#define TP_ACK    1000
#define TP_WINDOW 8  /* batches of TP_ACK in flight */
#define TP_BODY   59 /* ["m", bin 59] is 64 bytes of msgpack */
#define PP_N      200000

static tr_node_t *node;
static tr_net_t *net;
static tr_inbox_t *inbox;
static tr_pid_t main_pid;
static pid_t child = -1;
static int child_in = -1;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int e)
{
	fprintf(stderr, "tr_bench_net: %s: %s\n", what,
	        e > 0 ? tr_strerror((tr_err)e) : "failed");
	if (child > 0)
		kill(child, SIGKILL);
	exit(1);
}

static tr_msg_t *msg0(const char *tag)
{
	tr_msg_t *m;
	if (tr_msg_new(&m, tag))
		die("tr_msg_new", TR_ENOMEM);
	return m;
}

static void send_or_die(tr_pid_t to, tr_msg_t *m)
{
	tr_err e = tr_send(to, m);
	if (e)
		die("tr_send", e);
}

/* ---- node b (the child) -----------------------------------------------------
 */

static tr_err sink_init(void **state, void *arg)
{
	(void)arg;
	*state = calloc(1, sizeof(uint64_t));
	return *state ? TR_OK : TR_ENOMEM;
}

static void sink_receive(void *state, tr_msg_t *m)
{
	uint64_t *n = state;
	if (++*n % TP_ACK == 0)
		send_or_die(tr_msg_sender(m), msg0("ack"));
}

static void sink_terminate(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

static const tr_behaviour_t sink_b = {.name = "sink",
                                      .init = sink_init,
                                      .receive = sink_receive,
                                      .terminate = sink_terminate};

static tr_err echo_init(void **state, void *arg)
{
	(void)arg;
	*state = NULL;
	return TR_OK;
}

static void echo_receive(void *state, tr_msg_t *m)
{
	(void)state;
	send_or_die(tr_msg_sender(m), msg0("pong"));
}

static const tr_behaviour_t echo_b = {
        .name = "echo", .init = echo_init, .receive = echo_receive};

static tr_net_t *start_net(const char *name)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = name;
	if (getenv("TR_SPIN_US")) /* for tuning experiments */
		o.spin_us = atoi(getenv("TR_SPIN_US"));
	tr_err e = tr_node_new(&node, &o);
	if (e)
		die("tr_node_new", e);
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.secret = SECRET;
	no.secret_len = strlen(SECRET);
	tr_net_t *n;
	if ((e = tr_net_start(node, &no, &n)))
		die("tr_net_start", e);
	return n;
}

static int serve(const char *seed)
{
	net = start_net("bench_b");
	tr_net_export(net, &sink_b);
	tr_net_export(net, &echo_b);
	tr_err e = tr_net_join(net, seed, 10000);
	if (e)
		die("join", e);
	printf("READY\n");
	fflush(stdout);
	char buf[64];
	while (fgets(buf, sizeof(buf), stdin))
		;
	tr_node_destroy(node);
	return 0;
}

/* Start "tr_bench_net ARG..." with a pipe to its stdin and one from its
 * stdout; returns after its first line. */
static void spawn_child(char *const argv[], char *line, size_t cap)
{
	int pin[2], pout[2];
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC))
		die("pipe", 0);
	child = fork();
	if (child < 0)
		die("fork", 0);
	if (child == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	child_in = pin[1];
	FILE *f = fdopen(pout[0], "r");
	if (!f || !fgets(line, (int)cap, f))
		die("child did not start", 0);
	fclose(f);
}

static void stop_child(void)
{
	if (child_in >= 0)
		close(child_in);
	if (child > 0)
		waitpid(child, NULL, 0);
	child = -1;
}

static bool is_nodeup(const tr_msg_t *m, void *arg)
{
	(void)arg;
	return tr_msg_is(m, "nodeup");
}

static bool is_tag(const tr_msg_t *m, void *arg)
{
	return tr_msg_is(m, arg);
}

static tr_msg_t *wait_tag(const char *tag, uint64_t ms)
{
	tr_msg_t *m;
	tr_err e = tr_inbox_receive_match(inbox, ms, is_tag, (void *)tag, &m);
	if (e) {
		tr_net_stats_t st;
		tr_net_stats(net, &st);
		fprintf(stderr,
		        "tr_bench_net: no %s; frames in %llu out %llu, msgs in "
		        "%llu out %llu, rejected %llu, gated %llu\n",
		        tag, (unsigned long long)st.frames_in,
		        (unsigned long long)st.frames_out,
		        (unsigned long long)st.msgs_in,
		        (unsigned long long)st.msgs_out,
		        (unsigned long long)st.rejected_frames,
		        (unsigned long long)st.gated);
		die(tag, e);
	}
	return m;
}

/* Node a here, node b in a child process, connected. */
static void two_nodes(void)
{
	net = start_net("bench_a");
	tr_err e = tr_inbox_new(node, &inbox);
	if (e)
		die("tr_inbox_new", e);
	main_pid = tr_inbox_pid(inbox);
	tr_net_monitor_nodes(net, main_pid, true, false);
	char ep[TR_ENDPOINT_MAX], line[64];
	snprintf(ep, sizeof(ep), "%s", tr_net_endpoint(net));
	char *argv[] = {"tr_bench_net", "serve", ep, NULL};
	spawn_child(argv, line, sizeof(line));
	tr_msg_t *m;
	if ((e = tr_inbox_receive_match(inbox, 10000, is_nodeup, NULL, &m)))
		die("nodeup", e);
	tr_msg_free(m);
}

/* ---- remote_throughput
 * -------------------------------------------------------- */

struct sender {
	tr_pid_t sink;
	int sent, acked;
	uint8_t body[TP_BODY];
};

static void send_batch(struct sender *s)
{
	for (int i = 0; i < TP_ACK && s->sent < TP_N; i++, s->sent++) {
		tr_msg_t *m = msg0("m");
		if (tr_msg_add_bin(m, s->body, TP_BODY))
			die("tr_msg_add_bin", TR_ENOMEM);
		send_or_die(s->sink, m);
	}
}

static void sender_receive(void *state, tr_msg_t *m)
{
	struct sender *s = state;
	if (tr_msg_is(m, "go")) {
		for (int i = 0; i < TP_WINDOW; i++)
			send_batch(s);
	} else if (tr_msg_is(m, "ack")) {
		if (++s->acked == TP_N / TP_ACK)
			send_or_die(main_pid, msg0("done"));
		else
			send_batch(s);
	}
}

static const tr_behaviour_t sender_b = {.name = "sender",
                                        .receive = sender_receive};

static void bench_remote_throughput(void)
{
	two_nodes();
	tr_pid_t sink, snd;
	tr_err e = tr_spawn_on(net, "bench_b", "sink", NULL, 10000, &sink);
	if (e)
		die("spawn sink", e);
	static struct sender s;
	s.sink = sink;
	memset(s.body, 0xab, sizeof(s.body));
	if ((e = tr_spawn(node, &sender_b, &s, &snd)))
		die("spawn sender", e);
	double t0 = now_s();
	send_or_die(snd, msg0("go"));
	tr_msg_free(wait_tag("done", 60000));
	double t = now_s() - t0;
	printf("VALUE %.0f msg/s\n", TP_N / t);
	stop_child();
}

/* ---- remote_pingpong
 * ------------------------------------------------------------ */

struct pinger {
	tr_pid_t peer;
	int left;
};

static void ping_receive(void *state, tr_msg_t *m)
{
	(void)m;
	struct pinger *p = state;
	if (p->left-- == 0) {
		send_or_die(main_pid, msg0("done"));
		return;
	}
	send_or_die(p->peer, msg0("ping"));
}

static const tr_behaviour_t ping_b = {.name = "ping", .receive = ping_receive};

static void bench_remote_pingpong(void)
{
	two_nodes();
	static struct pinger p = {.left = PP_N};
	tr_pid_t a;
	tr_err e = tr_spawn_on(net, "bench_b", "echo", NULL, 10000, &p.peer);
	if (e || (e = tr_spawn(node, &ping_b, &p, &a)))
		die("spawn", e);
	double t0 = now_s();
	send_or_die(a, msg0("start")); /* counts as the first pong */
	tr_msg_free(wait_tag("done", 120000));
	double t = now_s() - t0;
	printf("VALUE %.0f rt/s\n", PP_N / t);
	stop_child();
}

/* ---- detect_nodedown
 * --------------------------------------------------------- */

static void bench_detect_nodedown(void)
{
	two_nodes();
	double t0 = now_s();
	kill(child, SIGKILL);
	tr_msg_free(wait_tag("nodedown", 10000));
	double t = now_s() - t0;
	printf("VALUE %.6f s\n", t);
	waitpid(child, NULL, 0);
	child = -1;
	close(child_in);
}

/* ---- the raw ZeroMQ floor
 * ----------------------------------------------------- */

static void *zctx;

static int zmq_serve(const char *mode)
{
	/* the ROUTER side: counts and acks, or echoes */
	void *r = zmq_socket(zctx, ZMQ_ROUTER);
	int zero = 0;
	zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof(zero));
	if (zmq_bind(r, "tcp://127.0.0.1:*"))
		die("zmq_bind", 0);
	char ep[256];
	size_t cap = sizeof(ep);
	zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, ep, &cap);
	printf("%s\n", ep);
	fflush(stdout);
	bool echo = !strcmp(mode, "zmq_pingpong");
	uint8_t id[256], buf[256];
	for (uint64_t n = 1;; n++) {
		int il = zmq_recv(r, id, sizeof(id), 0);
		int bl = zmq_recv(r, buf, sizeof(buf), 0);
		if (il < 0 || bl < 0)
			break;
		if (echo || n % TP_ACK == 0) {
			zmq_send(r, id, (size_t)il, ZMQ_SNDMORE);
			zmq_send(r, buf, 4, 0);
		}
	}
	return 0;
}

static void bench_zmq(const char *mode)
{
	zctx = zmq_ctx_new();
	char line[256];
	char *argv[] = {"tr_bench_net", "zserve", (char *)mode, NULL};
	spawn_child(argv, line, sizeof(line));
	line[strcspn(line, "\n")] = 0;
	void *d = zmq_socket(zctx, ZMQ_DEALER);
	int zero = 0;
	zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof(zero));
	if (zmq_connect(d, line))
		die("zmq_connect", 0);
	uint8_t body[64], ack[16];
	memset(body, 0xab, sizeof(body));
	double t0 = now_s();
	if (!strcmp(mode, "zmq_pingpong")) {
		for (int i = 0; i < PP_N; i++) {
			zmq_send(d, body, 4, 0);
			zmq_recv(d, ack, sizeof(ack), 0);
		}
		printf("VALUE %.0f rt/s\n", PP_N / (now_s() - t0));
	} else {
		int sent = 0, acked = 0;
		for (; sent < TP_WINDOW * TP_ACK; sent++)
			zmq_send(d, body, sizeof(body), 0);
		while (acked < TP_N / TP_ACK) {
			zmq_recv(d, ack, sizeof(ack), 0);
			acked++;
			for (int i = 0; i < TP_ACK && sent < TP_N; i++, sent++)
				zmq_send(d, body, sizeof(body), 0);
		}
		printf("VALUE %.0f msg/s\n", TP_N / (now_s() - t0));
	}
	zmq_close(d);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(child_in);
	zmq_ctx_term(zctx);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "zserve")) {
		zctx = zmq_ctx_new();
		return zmq_serve(argv[2]);
	}
	if (argc != 2) {
		fprintf(stderr, "usage: tr_bench_net NAME\n");
		return 2;
	}
	const char *n = argv[1];
	if (!strcmp(n, "remote_throughput"))
		bench_remote_throughput();
	else if (!strcmp(n, "remote_pingpong"))
		bench_remote_pingpong();
	else if (!strcmp(n, "detect_nodedown"))
		bench_detect_nodedown();
	else if (!strcmp(n, "zmq_throughput") || !strcmp(n, "zmq_pingpong"))
		bench_zmq(n);
	else {
		fprintf(stderr, "tr_bench_net: unknown benchmark %s\n", n);
		return 2;
	}
	fflush(stdout);
	if (inbox)
		tr_inbox_destroy(inbox);
	if (node)
		tr_node_destroy(node);
	return 0;
}
