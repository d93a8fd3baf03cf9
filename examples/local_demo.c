/*
 * examples/local_demo.c - `./run demo` until the cluster layers exist: one
 * node, narrated step by step. Every step checks what it shows and the
 * program exits non-zero, loudly, if anything does not behave.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <troupe/troupe.h>

static tr_node_t *node;
static tr_inbox_t *inbox;

#define CHECK(cond, ...)                                               \
	do {                                                           \
		if (!(cond)) {                                         \
			fprintf(stderr, "demo: FAILED: " __VA_ARGS__); \
			fprintf(stderr, "\n");                         \
			exit(1);                                       \
		}                                                      \
	} while (0)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *fmt(tr_pid_t p)
{
	static char buf[4][TR_PID_STR_MAX];
	static int i;
	i = (i + 1) % 4;
	tr_pid_format(p, buf[i], sizeof(buf[i]));
	return buf[i];
}

static tr_msg_t *tagged(const char *tag)
{
	tr_msg_t *m;
	CHECK(tr_msg_new(&m, tag) == TR_OK, "tr_msg_new");
	return m;
}

static tr_msg_t *receive_within(const char *what, int ms)
{
	tr_msg_t *m;
	tr_err e = tr_inbox_receive(inbox, ms, &m);
	CHECK(e == TR_OK, "no %s within %d s: %s", what, ms / 1000,
	      tr_strerror(e));
	return m;
}

static tr_msg_t *receive(const char *what)
{
	return receive_within(what, 5000);
}

static bool is_kind(const tr_msg_t *m, void *arg)
{
	return tr_msg_kind(m) == *(tr_msg_kind_t *)arg;
}

static tr_msg_t *receive_kind(tr_msg_kind_t kind, const char *what)
{
	tr_msg_t *m;
	tr_err e = tr_inbox_receive_match(inbox, 5000, is_kind, &kind, &m);
	CHECK(e == TR_OK, "no %s within 5 s: %s", what, tr_strerror(e));
	return m;
}

/* A counter server: casts add one, the call "get" answers the count. */
static tr_server_ret_t counter_cast(void *state, tr_msg_t *m)
{
	(void)m;
	(*(int64_t *)state)++;
	return TR_SERVER_CONTINUE;
}

static tr_server_ret_t counter_call(void *state, const tr_from_t *from,
                                    tr_msg_t *req, tr_msg_t **reply)
{
	(void)from;
	if (tr_msg_is(req, "get")) {
		*reply = tagged("count");
		tr_msg_add_int(*reply, *(int64_t *)state);
	}
	return TR_SERVER_CONTINUE;
}

static const tr_server_ops_t counter_ops = {
        .name = "counter",
        .handle_call = counter_call,
        .handle_cast = counter_cast,
};

/* A worker that crashes on "crash", and a tiny restarter that traps its
 * exit and starts a new one (what supervisors will do for real). */
static void worker_receive(void *state, tr_msg_t *m)
{
	(void)state;
	if (tr_msg_is(m, "crash"))
		tr_stop("boom");
}

static const tr_behaviour_t worker_b = {.name = "worker",
                                        .receive = worker_receive};

struct restarter {
	tr_pid_t report_to;
	tr_pid_t child;
};

static tr_err restarter_init(void **state, void *arg)
{
	struct restarter *r = arg;
	*state = r;
	tr_trap_exit(true, NULL);
	return tr_spawn_link(&worker_b, NULL, &r->child);
}

static void restarter_receive(void *state, tr_msg_t *m)
{
	struct restarter *r = state;
	char reason[TR_REASON_MAX];
	tr_pid_t from;
	if (tr_msg_kind(m) != TR_MSG_EXIT)
		return;
	tr_msg_exit_info(m, &from, reason, sizeof(reason));
	tr_msg_t *note = tagged("restarted");
	tr_msg_add_pid(note, from);
	tr_msg_add_str(note, reason);
	if (tr_spawn_link(&worker_b, NULL, &r->child) == TR_OK)
		tr_msg_add_pid(note, r->child);
	tr_send(r->report_to, note);
}

static const tr_behaviour_t restarter_b = {.name = "restarter",
                                           .init = restarter_init,
                                           .receive = restarter_receive};

/* Ring members pass a token on; the last hop reports to the inbox. */
static tr_pid_t ring_next[10000];
static tr_pid_t report;

static void ring_receive(void *state, tr_msg_t *m)
{
	tr_pid_t *next = state;
	int64_t left = 0;
	tr_msg_get_int(m, 0, &left);
	tr_msg_t *t = tagged(left ? "token" : "ring_done");
	tr_msg_add_int(t, left - 1);
	tr_send(left ? *next : report, t);
}

static const tr_behaviour_t ring_b = {.name = "ring", .receive = ring_receive};

int main(void)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = "demo@localhost";
	CHECK(tr_node_new(&node, &o) == TR_OK, "tr_node_new");
	CHECK(tr_inbox_new(node, &inbox) == TR_OK, "tr_inbox_new");
	report = tr_inbox_pid(inbox);
	printf("== troupe %s local demo: node %s, %u scheduler threads, "
	       "incarnation %u\n",
	       TR_VERSION_STRING, tr_node_name(node), tr_node_schedulers(node),
	       tr_node_creation(node));

	/* 1. A named gen_server and 1,000 casts. */
	tr_spawn_opts_t so = {.name = "counter"};
	int64_t count = 0;
	tr_pid_t counter;
	CHECK(tr_server_start(node, &counter_ops, &count, &so, &counter) ==
	              TR_OK,
	      "start counter");
	for (int i = 0; i < 1000; i++)
		CHECK(tr_cast(counter, tagged("incr")) == TR_OK, "cast");
	tr_pid_t found;
	CHECK(tr_whereis(node, "counter", &found) == TR_OK &&
	              tr_pid_eq(found, counter),
	      "whereis counter");
	tr_msg_t *reply;
	CHECK(tr_call(node, counter, tagged("get"), 5000, &reply, NULL, 0) ==
	              TR_OK,
	      "call get");
	int64_t got = -1;
	tr_msg_get_int(reply, 0, &got);
	tr_msg_free(reply);
	printf("1. counter %s registered as \"counter\"; after 1000 casts a "
	       "call says %lld\n",
	       fmt(counter), (long long)got);
	CHECK(got == 1000, "counter says %lld, expected 1000", (long long)got);

	/* 2. Links: a crash is noticed and answered by a restart. */
	struct restarter r = {report, TR_PID_NONE};
	tr_pid_t rs;
	CHECK(tr_spawn(node, &restarter_b, &r, &rs) == TR_OK, "restarter");
	tr_pid_t first = r.child;
	CHECK(tr_send(first, tagged("crash")) == TR_OK, "send crash");
	tr_msg_t *m = receive("restart notice");
	char reason[TR_REASON_MAX] = "";
	tr_pid_t dead, fresh = TR_PID_NONE;
	tr_msg_get_pid(m, 0, &dead);
	tr_msg_get_strbuf(m, 1, reason, sizeof(reason));
	tr_msg_get_pid(m, 2, &fresh);
	tr_msg_free(m);
	printf("2. worker %s crashed with \"%s\"; the linked restarter "
	       "trapped the exit and started %s\n",
	       fmt(dead), reason, fmt(fresh));
	CHECK(tr_pid_eq(dead, first) && !strcmp(reason, "boom") &&
	              tr_is_alive(fresh) && !tr_is_alive(first),
	      "restart did not happen as expected");

	/* 3. Monitors: kill is untrappable and shows as "killed". */
	tr_ref_t ref;
	CHECK(tr_inbox_monitor(inbox, fresh, &ref) == TR_OK, "monitor");
	CHECK(tr_exit(fresh, TR_KILL) == TR_OK, "exit kill");
	m = receive_kind(TR_MSG_DOWN, "DOWN");
	tr_ref_t dref;
	tr_pid_t dpid;
	CHECK(tr_msg_down_info(m, &dref, &dpid, reason, sizeof(reason)) ==
	                      TR_OK &&
	              tr_ref_eq(dref, ref) && tr_pid_eq(dpid, fresh),
	      "DOWN for the monitored worker");
	tr_msg_free(m);
	printf("3. monitored %s, sent it exit(kill): DOWN arrived with "
	       "reason \"%s\"\n",
	       fmt(fresh), reason);
	CHECK(!strcmp(reason, TR_KILLED), "reason %s, expected killed", reason);
	m = receive("second restart notice"); /* the restarter went on */
	tr_msg_free(m);

	/* 4. Timers on the monotonic clock. */
	double t0 = now_s();
	CHECK(tr_send_after(node, report, tagged("tick"), 50, NULL) == TR_OK,
	      "send_after");
	m = receive("timer message");
	double waited = (now_s() - t0) * 1000;
	CHECK(tr_msg_is(m, "tick") && waited >= 49.0, "timer after %.1f ms",
	      waited);
	tr_msg_free(m);
	printf("4. send_after(50 ms) delivered after %.1f ms\n", waited);

	/* 5. A ring of 10,000 actors passing a token 1,000,000 hops. */
	tr_pid_t prev = TR_PID_NONE;
	for (int i = 9999; i >= 0; i--) {
		ring_next[i] = prev;
		CHECK(tr_spawn(node, &ring_b, &ring_next[i], &prev) == TR_OK,
		      "spawn ring");
	}
	ring_next[9999] = prev; /* close the ring */
	tr_msg_t *tok = tagged("token");
	tr_msg_add_int(tok, 1000000);
	t0 = now_s();
	CHECK(tr_send(prev, tok) == TR_OK, "send token");
	/* Generous: sanitizer builds run this 20-50x slower. */
	m = receive_within("ring result", 120000);
	double secs = now_s() - t0;
	CHECK(tr_msg_is(m, "ring_done"), "ring result");
	tr_msg_free(m);
	printf("5. a token went 1,000,000 hops round a ring of 10,000 actors "
	       "in %.3f s (%.1f M hops/s)\n",
	       secs, 1.0 / secs);

	tr_node_stats_t st;
	tr_node_stats(node, &st);
	printf("6. node stats: %zu actors alive, %llu spawned, %llu exited, "
	       "%llu messages handled\n",
	       st.actors, (unsigned long long)st.spawned,
	       (unsigned long long)st.exited, (unsigned long long)st.messages);
	tr_inbox_destroy(inbox);
	tr_node_destroy(node);
	printf("== demo passed\n");
	return 0;
}
