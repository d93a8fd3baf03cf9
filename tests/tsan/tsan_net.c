/*
 * tests/tsan/tsan_net.c - the network layer's concurrency, without
 * Criterion (see tsan_runtime.c for why): two nodes in one process on
 * 127.0.0.1:*, driven from all their schedulers at once, so that
 * ThreadSanitizer sees senders writing to a line themselves and through
 * the I/O thread, the peer gate, remote links and monitors, node events,
 * and a session ending under traffic. Prints TAP; exits non-zero if any
 * scenario fails. Runs in the plain and ASan builds too.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>

#define SECRET "tsan cluster secret, long enough"

#include "tap.h"

#define WAIT_NET 60000

static tr_node_t *na, *nb;
static tr_net_t *neta, *netb;

static tr_net_t *start(tr_node_t **n, const char *name, size_t high)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = name;
	o.schedulers = 2;
	if (tr_node_new(n, &o))
		abort();
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.secret = SECRET;
	no.secret_len = strlen(SECRET);
	no.peer_queue_high = high;
	tr_net_t *net;
	if (tr_net_start(*n, &no, &net))
		abort();
	return net;
}

/* ---- senders on a, counters on b ----------------------------------------- */

#define SENDERS 8
#define PER     20000

/* b: counts ["n", sender, i] per sender, checks order, reports at the end */
struct counter {
	int64_t next[SENDERS];
	bool bad;
};

static void counter_receive(void *state, tr_msg_t *m)
{
	struct counter *c = state;
	int64_t s, i;
	if (tr_msg_is(m, "n") && !tr_msg_get_int(m, 0, &s) &&
	    !tr_msg_get_int(m, 1, &i) && s >= 0 && s < SENDERS) {
		if (i != c->next[s])
			c->bad = true;
		c->next[s] = i + 1;
	} else if (tr_msg_is(m, "report")) {
		int64_t total = 0;
		for (int k = 0; k < SENDERS; k++)
			total += c->next[k];
		tr_send(me, mk_int(c->bad ? "bad" : "total", total));
	}
}

static const tr_behaviour_t counter_b = {.name = "counter",
                                         .receive = counter_receive};

/* a: sends PER numbered messages to the counter, 250 per callback */
struct sender {
	tr_pid_t to;
	int64_t id, next;
};

static void sender_receive(void *state, tr_msg_t *m)
{
	(void)m;
	struct sender *s = state;
	for (int k = 0; k < 250 && s->next < PER; k++) {
		tr_msg_t *x = mk_int("n", s->id);
		tr_msg_add_int(x, s->next++);
		if (tr_send(s->to, x))
			tr_msg_free(x); /* b is gone (last scenario) */
	}
	if (s->next < PER)
		tr_send(tr_self(), mk("more"));
	else
		tr_send(me, mk("sent"));
}

static const tr_behaviour_t sender_b = {.name = "sender",
                                        .receive = sender_receive};

static bool match_report(const tr_msg_t *m, void *arg)
{
	(void)arg;
	return tr_msg_is(m, "total") || tr_msg_is(m, "bad");
}

static bool many_senders_one_peer(void)
{
	static struct counter c;
	static struct sender s[SENDERS];
	tr_pid_t cp;
	CHECK(tr_spawn(nb, &counter_b, &c, &cp) == TR_OK);
	for (int k = 0; k < SENDERS; k++) {
		s[k] = (struct sender){cp, k, 0};
		tr_pid_t p;
		CHECK(tr_spawn(na, &sender_b, &s[k], &p) == TR_OK);
		tr_send(p, mk("go"));
	}
	for (int k = 0; k < SENDERS; k++) {
		tr_msg_t *m = wait_tag("sent");
		CHECK(m);
		tr_msg_free(m);
	}
	/* Reports come from this thread, not behind the senders' messages:
	 * ask until the counter has them all (or says it saw disorder). */
	for (;;) {
		tr_send(cp, mk("report"));
		tr_msg_t *m = NULL;
		CHECK(tr_inbox_receive_match(inbox, WAIT_NET, match_report,
		                             NULL, &m) == TR_OK);
		bool bad = tr_msg_is(m, "bad");
		int64_t t = 0;
		tr_msg_get_int(m, 0, &t);
		tr_msg_free(m);
		CHECK(!bad);
		if (t == (int64_t)SENDERS * PER)
			break;
	}
	tr_net_stats_t st;
	tr_net_stats(neta, &st);
	CHECK(st.gated > 0); /* the 16 KiB queue paused the senders */
	return true;
}

/* ---- remote links and monitors, then the session ends under traffic ------ */

static void idle_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

static const tr_behaviour_t idle_b = {.name = "idle", .receive = idle_receive};

static bool monitors_then_nodedown(void)
{
	enum { N = 200 };
	tr_pid_t remote[N];
	tr_ref_t refs[N];
	for (int i = 0; i < N; i++) {
		CHECK(tr_spawn(nb, &idle_b, NULL, &remote[i]) == TR_OK);
		CHECK(tr_inbox_monitor(inbox, remote[i], &refs[i]) == TR_OK);
	}
	/* traffic in flight while b stops */
	static struct counter c;
	static struct sender s;
	tr_pid_t cp, sp;
	CHECK(tr_spawn(nb, &counter_b, &c, &cp) == TR_OK);
	s = (struct sender){cp, 0, 0};
	CHECK(tr_spawn(na, &sender_b, &s, &sp) == TR_OK);
	tr_send(sp, mk("go"));
	tr_net_stop(netb);
	int downs = 0;
	while (downs < N) {
		tr_msg_t *m = NULL;
		CHECK(tr_inbox_receive(inbox, WAIT_NET, &m) == TR_OK);
		if (tr_msg_kind(m) == TR_MSG_DOWN) {
			char why[64];
			tr_msg_down_info(m, NULL, NULL, why, sizeof(why));
			CHECK(!strcmp(why, "noconnection"));
			downs++;
		}
		tr_msg_free(m);
	}
	return true;
}

int main(void)
{
	printf("1..2\n");
	neta = start(&na, "a", 16 << 10);
	netb = start(&nb, "b", 0);
	if (tr_inbox_new(na, &inbox))
		abort();
	me = tr_inbox_pid(inbox);
	if (tr_net_join(netb, tr_net_endpoint(neta), WAIT_NET) ||
	    tr_net_join(neta, tr_net_endpoint(netb), WAIT_NET)) {
		printf("Bail out! no session\n");
		return 1;
	}
	run_case("many senders to one peer: order, no loss, gate",
	         many_senders_one_peer);
	run_case("remote monitors end with noconnection under traffic",
	         monitors_then_nodedown);
	tr_inbox_destroy(inbox);
	tr_node_destroy(nb);
	tr_node_destroy(na);
	return failures ? 1 : 0;
}
