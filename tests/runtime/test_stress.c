/*
 * tests/runtime/test_stress.c - scale, bounded in time: a million short
 * actors, 20 senders to one receiver with per-sender order, 10,000 links
 * and 10,000 monitors. TR_STRESS_SCALE (default 1; CI's sanitizer runs use
 * less) divides the sizes.
 */
#include <sched.h>

#include "../helpers/helpers.h"

TestSuite(stress, .init = setup_node, .fini = teardown_node, .timeout = 0);

static int scale(int n)
{
	const char *s = getenv("TR_STRESS_SCALE");
	int d = s ? atoi(s) : 1;
	return d > 1 ? n / d : n;
}

/* ---- a million actors: spawn, get one message, reply, end ----------- */

static void once_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_send(tr_msg_sender(m), mk("done"));
	tr_stop(TR_NORMAL);
}

static const tr_behaviour_t once_b = {.name = "once", .receive = once_receive};

struct spawner {
	int total, spawned, done;
};

static void spawner_receive(void *state, tr_msg_t *m)
{
	struct spawner *s = state;
	if (tr_msg_is(m, "done")) {
		if (++s->done == s->total)
			tr_send(me, mk_int("all_done", s->done));
		return;
	}
	for (int i = 0; i < 1000 && s->spawned < s->total; i++, s->spawned++) {
		tr_pid_t c;
		cr_assert_eq(tr_spawn(NULL, &once_b, NULL, &c), TR_OK);
		tr_send(c, mk("go"));
	}
	if (s->spawned < s->total)
		tr_send(tr_self(), mk("more"));
}

static const tr_behaviour_t spawner_b = {.name = "spawner",
                                         .receive = spawner_receive};

Test(stress, a_million_short_lived_actors)
{
	struct spawner s = {scale(1000000), 0, 0};
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &spawner_b, &s, &p), TR_OK);
	tr_send(p, mk("more"));
	tr_msg_t *m;
	cr_assert_eq(tr_inbox_receive(inbox, 120000, &m), TR_OK);
	cr_assert(tr_msg_is(m, "all_done"));
	tr_msg_free(m);
	/* Each child's "done" leaves (outbox flush) just before its exit
	 * completes, so the exit counter may trail the last "done" by a few
	 * instructions on the other scheduler. No event marks "every exit
	 * finished": poll the counters, yielding, with a deadline. */
	tr_node_stats_t st;
	for (int i = 0; i < 1000000; i++) {
		tr_node_stats(node, &st);
		if (st.exited >= (uint64_t)s.total && st.actors < 10)
			break;
		sched_yield();
	}
	cr_assert_geq(st.exited, (uint64_t)s.total);
	cr_assert_lt(st.actors, 10, "actors left behind: %zu", st.actors);
}

/* ---- 20 senders to one receiver, order checked per sender ----------- */

#define SENDERS 20

struct recv_state {
	int64_t next[SENDERS];
	int64_t each, got;
	bool ok;
};

static void checker_receive(void *state, tr_msg_t *m)
{
	struct recv_state *r = state;
	int64_t who, seq;
	tr_msg_get_int(m, 0, &who);
	tr_msg_get_int(m, 1, &seq);
	if (seq != r->next[who]++)
		r->ok = false;
	if (++r->got == r->each * SENDERS)
		tr_send(me, mk_int("checked", r->ok));
}

static const tr_behaviour_t checker_b = {.name = "checker",
                                         .receive = checker_receive};

struct sender {
	tr_pid_t to;
	int64_t who, sent, each;
};

static void sender_receive(void *state, tr_msg_t *m)
{
	(void)m;
	struct sender *s = state;
	for (int i = 0; i < 500 && s->sent < s->each; i++, s->sent++) {
		tr_msg_t *x = mk_int("n", s->who);
		tr_msg_add_int(x, s->sent);
		tr_send(s->to, x);
	}
	if (s->sent < s->each)
		tr_send(tr_self(), mk("more"));
}

static const tr_behaviour_t sender_b = {.name = "sender",
                                        .receive = sender_receive};

Test(stress, twenty_senders_to_one_receiver_keep_per_sender_order)
{
	static struct recv_state r;
	static struct sender s[SENDERS];
	memset(&r, 0, sizeof(r));
	r.each = scale(100000);
	r.ok = true;
	tr_pid_t rp;
	cr_assert_eq(tr_spawn(node, &checker_b, &r, &rp), TR_OK);
	for (int i = 0; i < SENDERS; i++) {
		s[i] = (struct sender){rp, i, 0, r.each};
		tr_pid_t sp;
		cr_assert_eq(tr_spawn(node, &sender_b, &s[i], &sp), TR_OK);
		tr_send(sp, mk("more"));
	}
	tr_msg_t *m;
	cr_assert_eq(tr_inbox_receive(inbox, 120000, &m), TR_OK);
	int64_t ok;
	tr_msg_get_int(m, 0, &ok);
	cr_assert_eq(ok, 1, "a sender's messages arrived out of order");
	tr_msg_free(m);
	/* back-pressure kept the mailbox bounded */
	tr_actor_info_t info;
	cr_assert_eq(tr_actor_info(node, rp, &info), TR_OK);
	/* Bounded: about mailbox_high plus one callback's worth per sender
	 * (the depth is estimated from counters published at turn ends, so
	 * allow slack); without back-pressure it reaches the millions. */
	cr_assert_lt(info.mailbox_peak, 2 * (4096 + SENDERS * 500),
	             "mailbox peaked at %zu", info.mailbox_peak);
}

/* ---- 10,000 linked children of a trapping parent --------------------- */

struct parent {
	int n, exits;
	tr_pid_t kids[10000];
};

static void parent_receive(void *state, tr_msg_t *m)
{
	struct parent *p = state;
	if (tr_msg_is(m, "spawn")) {
		tr_trap_exit(true, NULL);
		for (int i = 0; i < p->n; i++)
			cr_assert_eq(
			        tr_spawn_link(&puppet_b, NULL, &p->kids[i]),
			        TR_OK);
		tr_send(me, mk("spawned"));
	} else if (tr_msg_is(m, "kill_all")) {
		for (int i = 0; i < p->n; i++)
			tr_exit(p->kids[i], "shutdown");
	} else if (tr_msg_kind(m) == TR_MSG_EXIT) {
		if (++p->exits == p->n)
			tr_send(me, mk_int("all_exited", p->exits));
	}
}

static const tr_behaviour_t parent_b = {.name = "parent",
                                        .receive = parent_receive};

Test(stress, ten_thousand_linked_children_all_report_their_exit)
{
	static struct parent par;
	memset(&par, 0, sizeof(par));
	par.n = scale(10000);
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &parent_b, &par, &p), TR_OK);
	tr_send(p, mk("spawn"));
	tr_msg_free(recv_tag("spawned"));
	tr_send(p, mk("kill_all"));
	tr_msg_t *m = recv_tag("all_exited");
	tr_msg_free(m);
	tr_actor_info_t info;
	sync_with(spawn_puppet()); /* let the parent publish its counts */
	cr_assert_eq(tr_actor_info(node, p, &info), TR_OK);
	cr_assert_eq(info.links, 0, "links left: %zu", info.links);
}

/* ---- 10,000 monitors on one actor all fire --------------------------- */

struct watcher {
	tr_pid_t target;
	int n, downs;
};

static void watcher_receive(void *state, tr_msg_t *m)
{
	struct watcher *w = state;
	if (tr_msg_is(m, "watch")) {
		for (int i = 0; i < w->n; i++)
			cr_assert_eq(tr_monitor(w->target, NULL), TR_OK);
		tr_send(me, mk("watching"));
	} else if (tr_msg_kind(m) == TR_MSG_DOWN) {
		if (++w->downs == w->n)
			tr_send(me, mk_int("all_down", w->downs));
	}
}

static const tr_behaviour_t watcher_b = {.name = "watcher",
                                         .receive = watcher_receive};

Test(stress, ten_thousand_monitors_each_fire_once)
{
	static struct watcher w;
	w.target = spawn_puppet();
	w.n = scale(10000);
	w.downs = 0;
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &watcher_b, &w, &p), TR_OK);
	tr_send(p, mk("watch"));
	tr_msg_free(recv_tag("watching"));
	sync_with(w.target); /* all MONITOR signals arrived before the pong */
	tr_actor_info_t info;
	cr_assert_eq(tr_actor_info(node, w.target, &info), TR_OK);
	cr_assert_eq(info.monitors, (size_t)w.n);
	tr_send(w.target, mk("stop"));
	tr_msg_t *m = recv_tag("all_down");
	tr_msg_free(m);
	/* exactly n: a later DOWN would arrive before this ping's answer */
	tr_send(p, mk("watch_nothing"));
	sync_with(spawn_puppet());
	cr_assert_eq(w.downs, w.n);
}

/* ---- back-pressure in a cycle: A floods B, B floods C, C floods A ------ */

struct cyc {
	tr_pid_t next; /* laps are reported to the inbox */
};

static void cyc_receive(void *state, tr_msg_t *m)
{
	struct cyc *c = state;
	int64_t hops;
	tr_msg_get_int(m, 0, &hops);
	if (hops == 0) {
		tr_send(me, mk("lap"));
		return;
	}
	/* each message becomes two for a while: every mailbox of the cycle
	 * climbs over the back-pressure threshold */
	for (int i = 0; i < (hops > 3 ? 2 : 1); i++)
		tr_send(c->next, mk_int("h", hops - 1));
}

static const tr_behaviour_t cyc_b = {.name = "cyc", .receive = cyc_receive};

Test(stress, back_pressure_in_a_cycle_does_not_deadlock)
{
	static struct cyc c[3];
	tr_pid_t p[3];
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tr_spawn(node, &cyc_b, &c[i], &p[i]), TR_OK);
	for (int i = 0; i < 3; i++)
		c[i].next = p[(i + 1) % 3];
	int seeds = scale(6000);
	for (int i = 0; i < seeds; i++)
		tr_send(p[i % 3], mk_int("h", 6));
	/* hops 6,5,4 double: 8 laps per seed */
	for (int64_t i = 0; i < (int64_t)seeds * 8; i++) {
		tr_msg_t *m;
		cr_assert_eq(tr_inbox_receive(inbox, 60000, &m), TR_OK,
		             "stuck after %lld laps", (long long)i);
		tr_msg_free(m);
	}
	size_t peak = 0;
	for (int i = 0; i < 3; i++) {
		tr_actor_info_t info;
		cr_assert_eq(tr_actor_info(node, p[i], &info), TR_OK);
		if (info.mailbox_peak > peak)
			peak = info.mailbox_peak;
	}
	cr_assert_gt(peak, 4096, "never loaded enough to pause (peak %zu)",
	             peak);
}
