/*
 * tests/runtime/test_timer.c - timers (docs/semantics.md T1-T3).
 */
#include <time.h>

#include "../helpers/helpers.h"

TestSuite(timer, .init = setup_node, .fini = teardown_node);

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

Test(timer, send_after_never_fires_early)
{
	uint64_t t0 = now_ms();
	cr_assert_eq(tr_send_after(node, me, mk("t50"), 50, NULL), TR_OK);
	cr_assert_eq(tr_send_after(node, me, mk("t10"), 10, NULL), TR_OK);
	tr_msg_t *m = recv_any();
	cr_assert(tr_msg_is(m, "t10"), "earliest deadline first");
	cr_assert_geq(now_ms() - t0, 10);
	tr_msg_free(m);
	m = recv_any();
	cr_assert(tr_msg_is(m, "t50"));
	cr_assert_geq(now_ms() - t0, 50);
	tr_msg_free(m);
}

Test(timer, a_cancelled_timer_never_delivers)
{
	tr_timer_t t;
	cr_assert_eq(tr_send_after(node, me, mk("never"), 30, &t), TR_OK);
	uint64_t left = 0;
	cr_assert_eq(tr_cancel_timer(node, t, &left), TR_OK);
	cr_assert_leq(left, 30);
	cr_assert_eq(tr_cancel_timer(node, t, NULL), TR_ENOENT);
	/* a later timer is the marker: when it arrives, the cancelled one
	 * would have been due long before */
	cr_assert_eq(tr_send_after(node, me, mk("marker"), 60, NULL), TR_OK);
	tr_msg_t *m = recv_any();
	cr_assert(tr_msg_is(m, "marker"), "the cancelled timer fired");
	tr_msg_free(m);
	tr_node_stats_t st;
	tr_node_stats(node, &st);
	cr_assert_eq(st.timers, 0);
}

Test(timer, a_fired_timer_cannot_be_cancelled)
{
	tr_timer_t t;
	cr_assert_eq(tr_send_after(node, me, mk("fired"), 1, &t), TR_OK);
	tr_msg_free(recv_tag("fired"));
	cr_assert_eq(tr_cancel_timer(node, t, NULL), TR_ENOENT);
}

Test(timer, misuse_is_refused)
{
	tr_msg_t *m = mk("x");
	cr_assert_eq(tr_send_after(NULL, me, m, 1, NULL), TR_EINVAL);
	cr_assert_eq(tr_send_after(node, TR_PID_NONE, m, 1, NULL), TR_EINVAL);
	tr_msg_free(m);
	tr_timer_t t = {12345};
	cr_assert_eq(tr_cancel_timer(node, t, NULL), TR_ENOENT);
}

Test(timer, many_timers_fire_in_deadline_order)
{
	/* Armed in reverse order; each one's absolute deadline is noted
	 * (arming itself takes time, above all under sanitizers). */
	uint64_t deadline[21];
	for (int i = 20; i > 0; i--) {
		deadline[i] = now_ms() + (uint64_t)i * 3;
		cr_assert_eq(tr_send_after(node, me, mk_int("t", i),
		                           (uint64_t)i * 3, NULL),
		             TR_OK);
	}
	uint64_t prev = 0;
	for (int i = 0; i < 20; i++) {
		tr_msg_t *m = recv_any();
		int64_t v;
		tr_msg_get_int(m, 0, &v);
		/* now_ms() is at ms granularity: allow the same millisecond */
		cr_assert_geq(deadline[v] + 1, prev, "timer %lld out of order",
		              (long long)v);
		prev = deadline[v];
		tr_msg_free(m);
	}
}

/* Receive timeouts: the actor arms 30 ms on "arm"; "poke" (a message
 * handled first) disarms it. */
static void rt_receive(void *state, tr_msg_t *m)
{
	(void)state;
	if (tr_msg_kind(m) == TR_MSG_TIMEOUT) {
		tr_send(me, mk("timed_out"));
	} else if (tr_msg_is(m, "arm")) {
		int64_t ms;
		tr_msg_get_int(m, 0, &ms);
		tr_receive_timeout((uint64_t)ms);
	} else if (tr_msg_is(m, "poke")) {
		tr_send(me, mk("poked"));
	}
}

static const tr_behaviour_t rt_b = {.name = "rt", .receive = rt_receive};

Test(timer, receive_timeout_fires_when_idle)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &rt_b, NULL, &p), TR_OK);
	uint64_t t0 = now_ms();
	tr_send(p, mk_int("arm", 30));
	tr_msg_free(recv_tag("timed_out"));
	cr_assert_geq(now_ms() - t0, 30);
}

Test(timer, a_message_disarms_the_receive_timeout)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &rt_b, NULL, &p), TR_OK);
	tr_send(p, mk_int("arm", 40));
	tr_send(p, mk("poke"));
	tr_msg_free(recv_tag("poked"));
	/* marker: a plain timer at 120 ms; the disarmed timeout (40 ms)
	 * would have come first */
	tr_send_after(node, me, mk("marker"), 120, NULL);
	tr_msg_t *m = recv_any();
	cr_assert(tr_msg_is(m, "marker"), "a disarmed timeout fired");
	tr_msg_free(m);
}

Test(timer, zero_disarms_the_receive_timeout)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &rt_b, NULL, &p), TR_OK);
	tr_send(p, mk_int("arm", 40));
	tr_send(p, mk_int("arm", 0));
	tr_send_after(node, me, mk("marker"), 120, NULL);
	tr_msg_t *m = recv_any();
	cr_assert(tr_msg_is(m, "marker"), "a disarmed timeout fired");
	tr_msg_free(m);
}
