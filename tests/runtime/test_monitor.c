/*
 * tests/runtime/test_monitor.c - monitors (docs/semantics.md D1-D3).
 */
#include "../helpers/helpers.h"

TestSuite(monitor, .init = setup_node, .fini = teardown_node);

static void stop(tr_pid_t p, const char *reason)
{
	tr_msg_t *m = mk("stop");
	tr_msg_add_str(m, reason);
	cr_assert_eq(tr_send(p, m), TR_OK);
}

/* w monitors p; returns the ref w reports */
static tr_ref_t watch(tr_pid_t w, tr_pid_t p)
{
	tr_send(w, mk_pid("monitor", p));
	tr_msg_t *m = recv_tag("monitored");
	tr_ref_t r;
	cr_assert_eq(tr_msg_get_ref(m, 0, &r), TR_OK);
	tr_msg_free(m);
	return r;
}

Test(monitor, down_carries_ref_pid_and_reason)
{
	tr_pid_t w = spawn_puppet(), p = spawn_puppet();
	tr_ref_t r = watch(w, p);
	stop(p, "bye");
	tr_msg_t *m = recv_fwd("DOWN");
	tr_ref_t r2;
	tr_pid_t p2;
	char reason[64];
	cr_assert_eq(tr_msg_get_ref(m, 0, &r2), TR_OK);
	cr_assert_eq(tr_msg_get_pid(m, 1, &p2), TR_OK);
	cr_assert_eq(tr_msg_get_strbuf(m, 2, reason, sizeof(reason)), TR_OK);
	cr_assert(tr_ref_eq(r, r2));
	cr_assert(tr_pid_eq(p, p2));
	cr_assert_str_eq(reason, "bye");
	tr_msg_free(m);
	cr_assert(tr_is_alive(w), "monitors do not kill");
}

Test(monitor, monitoring_a_dead_pid_gives_noproc)
{
	tr_pid_t p = spawn_puppet();
	stop(p, "normal");
	await_death(p, NULL, 0);
	tr_pid_t w = spawn_puppet();
	tr_ref_t r = watch(w, p);
	tr_msg_t *m = recv_fwd("DOWN");
	tr_ref_t r2;
	char reason[64];
	tr_msg_get_ref(m, 0, &r2);
	tr_msg_get_strbuf(m, 2, reason, sizeof(reason));
	cr_assert(tr_ref_eq(r, r2));
	cr_assert_str_eq(reason, "noproc");
	tr_msg_free(m);
}

Test(monitor, stacked_monitors_each_fire_once)
{
	tr_pid_t w = spawn_puppet(), p = spawn_puppet();
	tr_ref_t r1 = watch(w, p), r2 = watch(w, p), r3 = watch(w, p);
	cr_assert(!tr_ref_eq(r1, r2) && !tr_ref_eq(r2, r3));
	stop(p, "x");
	int seen[3] = {0};
	for (int i = 0; i < 3; i++) {
		tr_msg_t *m = recv_fwd("DOWN");
		tr_ref_t r;
		tr_msg_get_ref(m, 0, &r);
		seen[0] += tr_ref_eq(r, r1);
		seen[1] += tr_ref_eq(r, r2);
		seen[2] += tr_ref_eq(r, r3);
		tr_msg_free(m);
	}
	cr_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
	sync_with(w);
	cr_assert(!got_tag_within("DOWN", 0), "a fourth DOWN");
}

/* A watcher that demonitors on command, with flags, and reports. */
struct dm {
	tr_ref_t ref;
};

static void dm_receive(void *state, tr_msg_t *m)
{
	struct dm *d = state;
	tr_pid_t p;
	if (tr_msg_is(m, "watch")) {
		tr_msg_get_pid(m, 0, &p);
		tr_monitor(p, &d->ref);
		tr_send(me, mk("watching"));
	} else if (tr_msg_is(m, "demonitor")) {
		int64_t flags;
		tr_msg_get_int(m, 0, &flags);
		tr_err e = tr_demonitor(d->ref, (unsigned)flags);
		tr_send(me, mk_int("demonitored", e));
	} else if (tr_msg_is(m, "wait_for")) {
		/* let the DOWN of p arrive in our queue, then demonitor with
		 * flush in the same turn: the queued DOWN must vanish */
		tr_msg_get_pid(m, 0, &p);
		(void)p;
	} else if (tr_msg_kind(m) == TR_MSG_DOWN) {
		tr_send(me, mk("got_down"));
	} else if (tr_msg_is(m, "ping")) {
		tr_send(me, mk("pong_dm"));
	}
}

static const tr_behaviour_t dm_b = {.name = "dm", .receive = dm_receive};

Test(monitor, demonitor_stops_the_down)
{
	struct dm d;
	tr_pid_t w, p = spawn_puppet();
	cr_assert_eq(tr_spawn(node, &dm_b, &d, &w), TR_OK);
	tr_send(w, mk_pid("watch", p));
	tr_msg_free(recv_tag("watching"));
	tr_send(w, mk_int("demonitor", 0));
	tr_msg_free(recv_tag("demonitored"));
	stop(p, "x");
	await_death(p, NULL, 0);
	tr_send(w, mk("ping"));
	tr_msg_free(recv_tag("pong_dm"));
	cr_assert(!got_tag_within("got_down", 0));
}

Test(monitor, demonitor_info_tells_whether_it_was_active)
{
	struct dm d;
	tr_pid_t w, p = spawn_puppet();
	cr_assert_eq(tr_spawn(node, &dm_b, &d, &w), TR_OK);
	tr_send(w, mk_pid("watch", p));
	tr_msg_free(recv_tag("watching"));
	tr_send(w, mk_int("demonitor", TR_DEMONITOR_INFO));
	tr_msg_t *m = recv_tag("demonitored");
	int64_t e;
	tr_msg_get_int(m, 0, &e);
	cr_assert_eq(e, TR_OK);
	tr_msg_free(m);
	tr_send(w, mk_int("demonitor", TR_DEMONITOR_INFO));
	m = recv_tag("demonitored");
	tr_msg_get_int(m, 0, &e);
	cr_assert_eq(e, TR_ENOENT);
	tr_msg_free(m);
}

/* Flush: in one callback the flusher sends itself "flush" (batched) and
 * then monitors a dead pid; the MONITOR signal first pushes the batched
 * "flush", then its DOWN (noproc) comes straight back. So the next turn
 * finds ["flush", DOWN] and handles "flush" while the DOWN waits in the
 * queue behind it: demonitor with FLUSH must remove it. */
static tr_ref_t flush_ref;

static void flusher_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_pid_t p;
	if (tr_msg_is(m, "go")) {
		tr_msg_get_pid(m, 0, &p);
		tr_send(tr_self(), mk("flush"));
		tr_monitor(p, &flush_ref);
	} else if (tr_msg_is(m, "flush")) {
		tr_err e = tr_demonitor(flush_ref,
		                        TR_DEMONITOR_FLUSH | TR_DEMONITOR_INFO);
		tr_send(me, mk_int("flushed", e));
	} else if (tr_msg_kind(m) == TR_MSG_DOWN) {
		tr_send(me, mk("leaked_down"));
	} else if (tr_msg_is(m, "ping")) {
		tr_send(me, mk("pong_f"));
	}
}

static const tr_behaviour_t flusher_b = {.name = "flusher",
                                         .receive = flusher_receive};

Test(monitor, demonitor_flush_removes_a_queued_down)
{
	tr_pid_t dead = spawn_puppet();
	stop(dead, "x");
	await_death(dead, NULL, 0);
	tr_pid_t f;
	cr_assert_eq(tr_spawn(node, &flusher_b, NULL, &f), TR_OK);
	tr_send(f, mk_pid("go", dead));
	tr_msg_t *m = recv_tag("flushed");
	int64_t e;
	tr_msg_get_int(m, 0, &e);
	tr_msg_free(m);
	/* The DOWN had already deactivated the monitor when it was queued
	 * (Erlang: demonitor/2 with info then says false). */
	cr_assert_eq(e, TR_ENOENT);
	tr_send(f, mk("ping"));
	tr_msg_free(recv_tag("pong_f"));
	cr_assert(!got_tag_within("leaked_down", 0),
	          "a flushed DOWN reached the behaviour");
}

static tr_pid_t spawned;
static void spawner_receive(void *state, tr_msg_t *m)
{
	(void)state;
	if (tr_msg_is(m, "spawn")) {
		tr_ref_t r;
		cr_assert_eq(tr_spawn_monitor(&puppet_b, NULL, &spawned, &r),
		             TR_OK);
		tr_send(me, mk_pid("spawned", spawned));
	} else if (tr_msg_kind(m) == TR_MSG_DOWN) {
		char reason[64];
		tr_msg_down_info(m, NULL, NULL, reason, sizeof(reason));
		tr_msg_t *r = mk("saw_down");
		tr_msg_add_str(r, reason);
		tr_send(me, r);
	}
}

static const tr_behaviour_t spawner_b = {.name = "spawner",
                                         .receive = spawner_receive};

Test(monitor, spawn_monitor_watches_from_the_start)
{
	tr_pid_t s;
	cr_assert_eq(tr_spawn(node, &spawner_b, NULL, &s), TR_OK);
	tr_send(s, mk("spawn"));
	tr_msg_t *m = recv_tag("spawned");
	tr_pid_t c;
	tr_msg_get_pid(m, 0, &c);
	tr_msg_free(m);
	stop(c, "done");
	m = recv_tag("saw_down");
	char reason[64];
	tr_msg_get_strbuf(m, 0, reason, sizeof(reason));
	cr_assert_str_eq(reason, "done");
	tr_msg_free(m);
}

/* No message from an actor arrives after its DOWN (D3): an actor sends
 * 1,000 messages and ends; the watcher (the inbox) gets all of them
 * before the DOWN. */
static void talker_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
	for (int i = 0; i < 1000; i++)
		tr_send(me, mk_int("talk", i));
	tr_stop("talked");
}

static const tr_behaviour_t talker_b = {.name = "talker",
                                        .receive = talker_receive};

Test(monitor, nothing_from_an_actor_arrives_after_its_down)
{
	tr_pid_t t;
	cr_assert_eq(tr_spawn(node, &talker_b, NULL, &t), TR_OK);
	tr_ref_t r;
	cr_assert_eq(tr_inbox_monitor(inbox, t, &r), TR_OK);
	tr_send(t, mk("go"));
	for (int i = 0; i < 1000; i++) {
		tr_msg_t *m = recv_any();
		cr_assert(tr_msg_is(m, "talk"), "message %d is not talk", i);
		int64_t v;
		tr_msg_get_int(m, 0, &v);
		cr_assert_eq(v, i);
		tr_msg_free(m);
	}
	tr_msg_t *m = recv_any();
	cr_assert_eq(tr_msg_kind(m), TR_MSG_DOWN);
	tr_msg_free(m);
}
