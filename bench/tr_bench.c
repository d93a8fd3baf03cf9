/*
 * bench/tr_bench.c - troupe's side of the local benchmarks.
 *
 *   tr_bench NAME     NAME in spawn_flat spawn_tree mailbox pingpong ring
 *                     idle_memory
 *
 * Prints one line "VALUE <number> <unit>" (spawn_tree also prints
 * "PEAK_RSS_MB <number>" first). bench/erlang/tr_bench.erl does the same
 * work on BEAM; bench/run_bench.sh runs both and prints RESULT lines.
 * Every benchmark is driven from the main thread through an inbox and
 * checks its own result (a wrong count exits non-zero).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <troupe/troupe.h>

static tr_node_t *node;
static tr_inbox_t *inbox;
static tr_pid_t main_pid;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, tr_err e)
{
	fprintf(stderr, "tr_bench: %s: %s\n", what, tr_strerror(e));
	exit(1);
}

static tr_msg_t *msg0(const char *tag)
{
	tr_msg_t *m;
	tr_err e = tr_msg_new(&m, tag);
	if (e)
		die("tr_msg_new", e);
	return m;
}

static tr_msg_t *msg1(const char *tag, int64_t v)
{
	tr_msg_t *m = msg0(tag);
	tr_msg_add_int(m, v);
	return m;
}

static void send_or_die(tr_pid_t to, tr_msg_t *m)
{
	tr_err e = tr_send(to, m);
	if (e)
		die("tr_send", e);
}

static int64_t wait_int(const char *tag)
{
	tr_msg_t *m;
	tr_err e = tr_inbox_receive(inbox, 600000, &m);
	if (e)
		die("waiting for the result", e);
	int64_t v = 0;
	if (!tr_msg_is(m, tag) || tr_msg_get_int(m, 0, &v)) {
		fprintf(stderr, "tr_bench: unexpected message\n");
		exit(1);
	}
	tr_msg_free(m);
	return v;
}

static long rss_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n))
			v = atol(line + n + 1);
	if (f)
		fclose(f);
	return v;
}

/* ---- spawn_flat: spawn 2^20 children; each is sent "go", replies, ends -- */

#define FLAT_N (1 << 20)

static void flat_child(void *state, tr_msg_t *m)
{
	(void)state;
	send_or_die(tr_msg_sender(m), msg0("done"));
	tr_stop(TR_NORMAL);
}

static const tr_behaviour_t flat_child_b = {.name = "flat_child",
                                            .receive = flat_child};

struct flat {
	int spawned, done;
};

static void flat_parent(void *state, tr_msg_t *m)
{
	struct flat *f = state;
	if (tr_msg_is(m, "done")) {
		if (++f->done == FLAT_N)
			send_or_die(main_pid, msg1("result", f->done));
		return;
	}
	/* "more": spawn a slice, then yield by messaging ourselves, as a BEAM
	 * process would be preempted. */
	for (int i = 0; i < 1000 && f->spawned < FLAT_N; i++, f->spawned++) {
		tr_pid_t c;
		tr_err e = tr_spawn(NULL, &flat_child_b, NULL, &c);
		if (e)
			die("spawn", e);
		send_or_die(c, msg0("go"));
	}
	if (f->spawned < FLAT_N)
		send_or_die(tr_self(), msg0("more"));
}

static const tr_behaviour_t flat_parent_b = {.name = "flat_parent",
                                             .receive = flat_parent};

static void bench_spawn_flat(void)
{
	struct flat f = {0, 0};
	tr_pid_t p;
	double t0 = now_s();
	tr_err e = tr_spawn(node, &flat_parent_b, &f, &p);
	if (e)
		die("spawn", e);
	send_or_die(p, msg0("more"));
	int64_t n = wait_int("result");
	double t = now_s() - t0;
	if (n != FLAT_N)
		die("wrong count", TR_EINTERNAL);
	printf("VALUE %.4f s\n", t);
}

/* ---- spawn_tree: depth 20 (2^21 - 1 actors), leaves reply 1, parents
 * reply the sum of their children plus 1 ------------------------------- */

struct tnode {
	tr_pid_t parent;
	int pending;
	int64_t sum;
};

static void tree_receive(void *state, tr_msg_t *m);
static void tree_terminate(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

static tr_err tree_init(void **state, void *arg)
{
	(void)arg;
	struct tnode *t = malloc(sizeof(*t));
	if (!t)
		return TR_ENOMEM;
	*state = t;
	return TR_OK;
}

static const tr_behaviour_t tree_b = {.name = "tree",
                                      .init = tree_init,
                                      .receive = tree_receive,
                                      .terminate = tree_terminate};

static void tree_receive(void *state, tr_msg_t *m)
{
	struct tnode *t = state;
	int64_t v;
	tr_msg_get_int(m, 0, &v);
	if (tr_msg_is(m, "spread")) {
		tr_msg_get_pid(m, 1, &t->parent);
		if (v == 0) {
			send_or_die(t->parent, msg1("result", 1));
			tr_stop(TR_NORMAL);
			return;
		}
		t->pending = 2;
		t->sum = 0;
		for (int i = 0; i < 2; i++) {
			tr_pid_t c;
			tr_err e = tr_spawn(NULL, &tree_b, NULL, &c);
			if (e)
				die("spawn", e);
			tr_msg_t *s = msg1("spread", v - 1);
			tr_msg_add_pid(s, tr_self());
			send_or_die(c, s);
		}
		return;
	}
	t->sum += v; /* "result" */
	if (--t->pending == 0) {
		send_or_die(t->parent, msg1("result", t->sum + 1));
		tr_stop(TR_NORMAL);
	}
}

static void bench_spawn_tree(void)
{
	tr_pid_t root;
	double t0 = now_s();
	tr_err e = tr_spawn(node, &tree_b, NULL, &root);
	if (e)
		die("spawn", e);
	tr_msg_t *go = msg1("spread", 20);
	tr_msg_add_pid(go, main_pid);
	send_or_die(root, go);
	int64_t n = wait_int("result");
	double t = now_s() - t0;
	if (n != (1 << 21) - 1) {
		fprintf(stderr, "tr_bench: tree sum %lld\n", (long long)n);
		exit(1);
	}
	printf("PEAK_RSS_MB %.1f\n", (double)rss_kb("VmHWM:") / 1024.0);
	{
		tr_node_stats_t st;
		tr_node_stats(node, &st);
		fprintf(stderr, "tree: peak live actors %zu\n", st.actors_peak);
	}
	printf("VALUE %.4f s\n", t);
}

/* ---- mailbox: 20 senders x 1,000,000 messages to one receiver ---------- */

#define MB_SENDERS 20
#define MB_EACH    1000000

static void mb_receiver(void *state, tr_msg_t *m)
{
	(void)m;
	int64_t *count = state;
	if (++*count == (int64_t)MB_SENDERS * MB_EACH)
		send_or_die(main_pid, msg1("result", *count));
}

static const tr_behaviour_t mb_receiver_b = {.name = "mb_receiver",
                                             .receive = mb_receiver};

struct mb_sender {
	tr_pid_t to;
	int sent;
};

static void mb_sender(void *state, tr_msg_t *m)
{
	(void)m;
	struct mb_sender *s = state;
	for (int i = 0; i < 1000 && s->sent < MB_EACH; i++, s->sent++)
		send_or_die(s->to, msg0("m"));
	if (s->sent < MB_EACH)
		send_or_die(tr_self(), msg0("more"));
}

static const tr_behaviour_t mb_sender_b = {.name = "mb_sender",
                                           .receive = mb_sender};

static void bench_mailbox(void)
{
	int64_t count = 0;
	struct mb_sender s[MB_SENDERS];
	tr_pid_t rp, sp[MB_SENDERS];
	tr_err e = tr_spawn(node, &mb_receiver_b, &count, &rp);
	for (int i = 0; !e && i < MB_SENDERS; i++) {
		s[i].to = rp;
		s[i].sent = 0;
		e = tr_spawn(node, &mb_sender_b, &s[i], &sp[i]);
	}
	if (e)
		die("spawn", e);
	double t0 = now_s();
	for (int i = 0; i < MB_SENDERS; i++)
		send_or_die(sp[i], msg0("more"));
	int64_t n = wait_int("result");
	double t = now_s() - t0;
	if (n != (int64_t)MB_SENDERS * MB_EACH)
		die("wrong count", TR_EINTERNAL);
	printf("VALUE %.0f msg/s\n", (double)n / t);
}

/* ---- pingpong: 1,000,000 round trips ------------------------------------- */

#define PP_N 1000000

static void pong(void *state, tr_msg_t *m)
{
	(void)state;
	send_or_die(tr_msg_sender(m), msg0("pong"));
}

static const tr_behaviour_t pong_b = {.name = "pong", .receive = pong};

struct pinger {
	tr_pid_t peer;
	int left;
};

static void ping(void *state, tr_msg_t *m)
{
	(void)m;
	struct pinger *p = state;
	if (p->left-- == 0) {
		send_or_die(main_pid, msg1("result", PP_N));
		return;
	}
	send_or_die(p->peer, msg0("ping"));
}

static const tr_behaviour_t ping_b = {.name = "ping", .receive = ping};

static void bench_pingpong(void)
{
	struct pinger p = {TR_PID_NONE, PP_N};
	tr_pid_t a;
	tr_err e = tr_spawn(node, &pong_b, NULL, &p.peer);
	if (!e)
		e = tr_spawn(node, &ping_b, &p, &a);
	if (e)
		die("spawn", e);
	double t0 = now_s();
	send_or_die(a, msg0("start")); /* counts as the first "pong" */
	wait_int("result");
	double t = now_s() - t0;
	printf("VALUE %.0f rt/s\n", (double)PP_N / t);
}

/* ---- ring: 1,000 actors, a token makes 1,000,000 hops -------------------- */

#define RING_N    1000
#define RING_HOPS 1000000

static void ring_member(void *state, tr_msg_t *m)
{
	tr_pid_t *next = state;
	int64_t left;
	if (tr_msg_is(m, "next")) {
		tr_msg_get_pid(m, 0, next);
		return;
	}
	tr_msg_get_int(m, 0, &left);
	if (left == 0) {
		send_or_die(main_pid, msg1("result", RING_HOPS));
		return;
	}
	send_or_die(*next, msg1("token", left - 1));
}

static const tr_behaviour_t ring_b = {.name = "ring", .receive = ring_member};

static void bench_ring(void)
{
	static tr_pid_t next[RING_N];
	tr_pid_t first = TR_PID_NONE, prev = TR_PID_NONE;
	for (int i = RING_N - 1; i >= 0; i--) {
		next[i] = prev;
		tr_err e = tr_spawn(node, &ring_b, &next[i], &prev);
		if (e)
			die("spawn", e);
	}
	first = prev;
	tr_msg_t *m = msg0("next");
	tr_msg_add_pid(m, first);
	/* the last member's next is the first: it is the one spawned first */
	tr_pid_t last = TR_PID_NONE;
	{
		/* walk: member 0 is `first`; member RING_N-1 has next NONE */
		tr_pid_t p = first;
		for (int i = 0; i < RING_N - 1; i++)
			p = next[i];
		last = p;
	}
	send_or_die(last, m);
	double t0 = now_s();
	send_or_die(first, msg1("token", RING_HOPS));
	wait_int("result");
	double t = now_s() - t0;
	printf("VALUE %.0f hops/s\n", (double)RING_HOPS / t);
}

/* ---- idle_memory: bytes per idle actor, 100,000 actors ------------------- */

#define IDLE_N 100000

static void idle_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

static const tr_behaviour_t idle_b = {.name = "idle", .receive = idle_receive};

static void bench_idle_memory(void)
{
	long before = rss_kb("VmRSS:");
	for (int i = 0; i < IDLE_N; i++) {
		tr_err e = tr_spawn(node, &idle_b, NULL, NULL);
		if (e)
			die("spawn", e);
	}
	long after = rss_kb("VmRSS:");
	tr_node_stats_t st;
	tr_node_stats(node, &st);
	if (st.actors < IDLE_N)
		die("actors missing", TR_EINTERNAL);
	printf("VALUE %.1f B/actor\n",
	       (double)(after - before) * 1024.0 / IDLE_N);
}

static void print_stats(void)
{
	for (unsigned i = 0; i < tr_node_schedulers(node); i++) {
		tr_sched_stats_t st;
		tr_node_sched_stats(node, i, &st);
		fprintf(stderr,
		        "sched %u: turns %llu messages %llu steals %llu parks "
		        "%llu spin_hits %llu injected %llu\n",
		        i, (unsigned long long)st.turns,
		        (unsigned long long)st.messages,
		        (unsigned long long)st.steals,
		        (unsigned long long)st.parks,
		        (unsigned long long)st.spin_hits,
		        (unsigned long long)st.injected);
	}
}

/* ---- dynamic_children: 100,000 children under a DynamicSupervisor,
 * started one call each, then the supervisor stopped (children stopped
 * in reverse order) ---------------------------------------------------- */

#define DYN_N 100000

/* idle_b: the idle actor of idle_memory */
static void bench_dynamic_children(void)
{
	tr_pid_t sup, p;
	tr_err e = tr_dynsup_start(node, NULL, NULL, &sup);
	if (e)
		die("tr_dynsup_start", e);
	tr_child_spec_t s;
	tr_child_spec_init(&s);
	s.beh = &idle_b;
	double t0 = now_s();
	for (int i = 0; i < DYN_N; i++)
		if ((e = tr_dynsup_start_child(node, sup, &s, &p)))
			die("start_child", e);
	tr_child_counts_t cc;
	if ((e = tr_supervisor_count_children(node, sup, &cc)) ||
	    cc.active != DYN_N)
		die("count_children", e);
	if ((e = tr_supervisor_stop(node, sup, 600000)))
		die("stop", e);
	printf("VALUE %.4f s\n", now_s() - t0);
}

/* ---- restart_latency: a supervised child is killed; time until its
 * replacement has started and answered a call. Median of 1,000. ------- */

#define RL_N 1000

static tr_err rl_init(void **state, void *arg)
{
	(void)arg;
	*state = NULL;
	tr_msg_t *m;
	if (tr_msg_new(&m, "started") || tr_msg_add_pid(m, tr_self()) ||
	    tr_send(main_pid, m))
		return TR_ENOMEM;
	return TR_OK;
}

static void rl_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_from_t from;
	tr_msg_t *r;
	if (tr_msg_kind(m) == TR_MSG_CALL && !tr_msg_from(m, &from) &&
	    !tr_msg_new(&r, "pong") && tr_reply(&from, r))
		tr_msg_free(r);
}

static const tr_behaviour_t rl_b = {
        .name = "rl", .init = rl_init, .receive = rl_receive};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static tr_pid_t rl_started(void)
{
	tr_msg_t *m;
	tr_err e = tr_inbox_receive(inbox, 10000, &m);
	tr_pid_t p;
	if (e || !tr_msg_is(m, "started") || tr_msg_get_pid(m, 0, &p))
		die("restart", e);
	tr_msg_free(m);
	return p;
}

static void bench_restart_latency(void)
{
	tr_sup_flags_t f;
	tr_sup_flags_init(&f);
	f.intensity = 1000000;
	tr_child_spec_t s;
	tr_child_spec_init(&s);
	s.id = "w";
	s.beh = &rl_b;
	tr_pid_t sup;
	tr_err e = tr_supervisor_start(node, &f, &s, 1, NULL, &sup, NULL);
	if (e)
		die("tr_supervisor_start", e);
	tr_pid_t w = rl_started();
	static double us[RL_N];
	for (int i = 0; i < RL_N; i++) {
		double t0 = now_s();
		tr_exit(w, TR_KILL);
		w = rl_started();
		tr_msg_t *req, *rep;
		if (tr_msg_new(&req, "ping") ||
		    (e = tr_call(node, w, req, 10000, &rep, NULL, 0)))
			die("call", e);
		tr_msg_free(rep);
		us[i] = (now_s() - t0) * 1e6;
	}
	qsort(us, RL_N, sizeof(us[0]), cmp_double);
	printf("VALUE %.1f us\n", us[RL_N / 2]);
	tr_supervisor_stop(node, sup, 10000);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} benches[] = {
	        {"spawn_flat", bench_spawn_flat},
	        {"spawn_tree", bench_spawn_tree},
	        {"mailbox", bench_mailbox},
	        {"pingpong", bench_pingpong},
	        {"ring", bench_ring},
	        {"idle_memory", bench_idle_memory},
	        {"dynamic_children", bench_dynamic_children},
	        {"restart_latency", bench_restart_latency},
	};
	if (argc != 2) {
		fprintf(stderr, "usage: tr_bench NAME\n");
		return 2;
	}
	tr_node_opts_t opts;
	tr_node_opts_init(&opts);
	if (getenv("TR_SPIN_US")) /* for tuning experiments */
		opts.spin_us = atoi(getenv("TR_SPIN_US"));
	if (getenv("TR_SCHEDULERS"))
		opts.schedulers = (unsigned)atoi(getenv("TR_SCHEDULERS"));
	tr_err e = tr_node_new(&node, &opts);
	if (e)
		die("tr_node_new", e);
	e = tr_inbox_new(node, &inbox);
	if (e)
		die("tr_inbox_new", e);
	main_pid = tr_inbox_pid(inbox);
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		if (!strcmp(argv[1], benches[i].name)) {
			benches[i].fn();
			fflush(stdout);
			if (getenv("TR_BENCH_STATS"))
				print_stats();
			tr_inbox_destroy(inbox);
			tr_node_destroy(node);
			return 0;
		}
	}
	fprintf(stderr, "tr_bench: unknown benchmark %s\n", argv[1]);
	return 2;
}
