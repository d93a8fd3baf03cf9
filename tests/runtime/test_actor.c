/*
 * tests/runtime/test_actor.c - spawning, sending, ordering, misuse,
 * statistics, fairness, several nodes in one process, shutdown.
 */
#include "../helpers/helpers.h"

TestSuite(actor, .init = setup_node, .fini = teardown_node);

Test(actor, spawned_actor_answers_and_sees_the_sender)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &echo_b, NULL, &p), TR_OK);
	cr_assert(!tr_pid_is_none(p));
	cr_assert_eq(p.node, tr_node_id(node));
	cr_assert_eq(p.creation, tr_node_creation(node));
	cr_assert(tr_is_alive(p));
	/* from a plain thread the sender is none: echo answers `me` */
	tr_msg_t *m = mk_int("hi", 7);
	cr_assert_eq(tr_send(p, m), TR_OK);
	tr_msg_t *r = recv_tag("echo");
	int64_t v;
	cr_assert_eq(tr_msg_get_int(r, 0, &v), TR_OK);
	cr_assert_eq(v, 7);
	cr_assert(tr_pid_eq(tr_msg_sender(r), p));
	cr_assert_eq(tr_msg_kind(r), TR_MSG_PLAIN);
	tr_msg_free(r);
}

Test(actor, pids_are_unique_even_when_slots_are_reused)
{
	tr_pid_t seen[200];
	for (int i = 0; i < 200; i++) {
		tr_pid_t p = spawn_puppet();
		for (int j = 0; j < i; j++)
			cr_assert(!tr_pid_eq(seen[j], p));
		seen[i] = p;
		cr_assert_eq(tr_send(p, mk("stop")), TR_OK); /* no reason */
		tr_msg_t *t = recv_tag("terminated");
		tr_msg_free(t);
		await_death(p, NULL, 0);
	}
}

static tr_err failing_init(void **state, void *arg)
{
	(void)state;
	(void)arg;
	return TR_EAGAIN;
}

static void nop_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

Test(actor, init_error_fails_the_spawn_and_nothing_remains)
{
	static const tr_behaviour_t b = {
	        .name = "bad", .init = failing_init, .receive = nop_receive};
	tr_node_stats_t before, after;
	tr_node_stats(node, &before);
	tr_pid_t p = TR_PID_NONE;
	tr_spawn_opts_t so = {.name = "bad_one"};
	cr_assert_eq(tr_spawn_opt(node, &b, NULL, &so, &p, NULL), TR_EAGAIN);
	cr_assert(tr_pid_is_none(p), "no pid on failure");
	tr_node_stats(node, &after);
	cr_assert_eq(after.actors, before.actors);
	cr_assert_eq(tr_whereis(node, "bad_one", NULL), TR_ENOENT);
}

static tr_err replacing_init(void **state, void *arg)
{
	int *v = malloc(sizeof(int));
	*v = *(int *)arg * 2;
	*state = v;
	return TR_OK;
}

static void report_state(void *state, tr_msg_t *m)
{
	(void)m;
	tr_send(me, mk_int("state", *(int *)state));
}

static void free_state(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

Test(actor, init_may_replace_the_state)
{
	static const tr_behaviour_t b = {.name = "st",
	                                 .init = replacing_init,
	                                 .receive = report_state,
	                                 .terminate = free_state};
	int arg = 21;
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &b, &arg, &p), TR_OK);
	tr_send(p, mk("q"));
	tr_msg_t *r = recv_tag("state");
	int64_t v;
	tr_msg_get_int(r, 0, &v);
	cr_assert_eq(v, 42);
	tr_msg_free(r);
}

Test(actor, terminate_runs_once_with_the_reason)
{
	tr_pid_t p = spawn_puppet();
	tr_ref_t r = mon(p);
	tr_msg_t *m = mk("stop");
	tr_msg_add_str(m, "custom reason");
	tr_send(p, m);
	tr_msg_t *t = recv_tag("terminated");
	char reason[64];
	tr_msg_get_strbuf(t, 1, reason, sizeof(reason));
	cr_assert_str_eq(reason, "custom reason");
	tr_msg_free(t);
	char r2[64];
	down(r, r2, sizeof(r2));
	cr_assert_str_eq(r2, "custom reason");
	cr_assert(!tr_is_alive(p));
	/* a second terminate would be a second "terminated" */
	sync_with(spawn_puppet());
	cr_assert(!got_tag_within("terminated", 0));
}

Test(actor, self_is_none_outside_actors)
{
	cr_assert(tr_pid_is_none(tr_self()));
	cr_assert_null(tr_node_current());
}

Test(actor, misuse_from_a_plain_thread_is_an_error)
{
	tr_pid_t p = spawn_puppet();
	tr_ref_t r = TR_REF_NONE;
	cr_assert_eq(tr_link(p), TR_ESTATE);
	cr_assert_eq(tr_unlink(p), TR_ESTATE);
	cr_assert_eq(tr_monitor(p, &r), TR_ESTATE);
	cr_assert_eq(tr_demonitor(r, 0), TR_ESTATE);
	cr_assert_eq(tr_stop("x"), TR_ESTATE);
	cr_assert_eq(tr_trap_exit(true, NULL), TR_ESTATE);
	cr_assert_eq(tr_receive_timeout(10), TR_ESTATE);
	cr_assert_eq(tr_spawn_link(&echo_b, NULL, &p), TR_ESTATE);
	cr_assert_eq(tr_spawn(NULL, &echo_b, NULL, &p), TR_EINVAL,
	             "no node given and none current");
	cr_assert_eq(tr_spawn(node, NULL, NULL, &p), TR_EINVAL);
	static const tr_behaviour_t no_receive = {.name = "x"};
	cr_assert_eq(tr_spawn(node, &no_receive, NULL, &p), TR_EINVAL);
	cr_assert_eq(tr_send(p, NULL), TR_EINVAL);
	tr_msg_t *m = mk("x");
	cr_assert_eq(tr_send(TR_PID_NONE, m), TR_EINVAL);
	tr_pid_t elsewhere = {12345, 1, 1};
	cr_assert_eq(tr_send(elsewhere, m), TR_EUNREACHABLE,
	             "a node this process does not know");
	tr_msg_free(m); /* still ours after an error */
	tr_msg_keep(NULL);
	cr_assert_eq(tr_msg_keep(NULL), TR_ESTATE);
}

Test(actor, sending_to_a_dead_pid_is_ok_and_counted)
{
	tr_pid_t p = spawn_puppet();
	tr_send(p, mk("stop"));
	await_death(p, NULL, 0);
	tr_node_stats_t a, b;
	tr_node_stats(node, &a);
	cr_assert_eq(tr_send(p, mk("late")), TR_OK);
	tr_node_stats(node, &b);
	cr_assert_eq(b.dropped_dead, a.dropped_dead + 1);
}

Test(actor, a_pid_of_another_incarnation_never_reaches_the_new_one)
{
	tr_pid_t p = spawn_puppet();
	tr_pid_t stale = p;
	stale.creation ^= 0x5a5a5a5a; /* same node, same slot, old creation */
	tr_node_stats_t a, b;
	tr_node_stats(node, &a);
	cr_assert_eq(tr_send(stale, mk("ping")), TR_OK);
	tr_node_stats(node, &b);
	cr_assert_eq(b.dropped_stale, a.dropped_stale + 1);
	sync_with(p); /* only the real ping's pong comes back */
	cr_assert(!got_tag_within("pong", 0));
}

/* The counter actor verifies ordering: it expects 0, 1, 2, ... */
struct seq {
	int64_t next;
	int64_t n;
	bool ok;
};

static void seq_receive(void *state, tr_msg_t *m)
{
	struct seq *s = state;
	int64_t v;
	tr_msg_get_int(m, 0, &v);
	if (v != s->next)
		s->ok = false;
	if (++s->next == s->n)
		tr_send(me, mk_int("done", s->ok));
}

static const tr_behaviour_t seq_b = {.name = "seq", .receive = seq_receive};

Test(actor, messages_from_one_sender_arrive_in_order)
{
	struct seq s = {0, 10000, true};
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &seq_b, &s, &p), TR_OK);
	for (int64_t i = 0; i < s.n; i++)
		cr_assert_eq(tr_send(p, mk_int("n", i)), TR_OK);
	tr_msg_t *d = recv_tag("done");
	int64_t ok;
	tr_msg_get_int(d, 0, &ok);
	cr_assert_eq(ok, 1, "out of order");
	tr_msg_free(d);
}

/* An actor sending 10,000 numbered messages from its own callback (so
 * they go through the outbox) keeps them in order too. */
static void burst_receive(void *state, tr_msg_t *m)
{
	tr_pid_t to;
	(void)state;
	tr_msg_get_pid(m, 0, &to);
	for (int64_t i = 0; i < 10000; i++)
		tr_send(to, mk_int("n", i));
}

static const tr_behaviour_t burst_b = {.name = "burst",
                                       .receive = burst_receive};

Test(actor, messages_from_an_actor_arrive_in_order)
{
	struct seq s = {0, 10000, true};
	tr_pid_t p, q;
	cr_assert_eq(tr_spawn(node, &seq_b, &s, &p), TR_OK);
	cr_assert_eq(tr_spawn(node, &burst_b, NULL, &q), TR_OK);
	tr_send(q, mk_pid("go", p));
	tr_msg_t *d = recv_tag("done");
	int64_t ok;
	tr_msg_get_int(d, 0, &ok);
	cr_assert_eq(ok, 1, "out of order");
	tr_msg_free(d);
}

/* Fairness: on one scheduler, an actor that keeps messaging itself does
 * not keep another actor from running. */
static void spinner_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
	for (int i = 0; i < 4; i++)
		tr_send(tr_self(), mk("again"));
}

static const tr_behaviour_t spinner_b = {.name = "spinner",
                                         .receive = spinner_receive};

Test(actor, a_flooding_actor_does_not_starve_others, .init = setup_node1,
     .fini = teardown_node)
{
	tr_pid_t s;
	cr_assert_eq(tr_spawn(node, &spinner_b, NULL, &s), TR_OK);
	tr_send(s, mk("go")); /* grows without end: 4 per message */
	tr_pid_t p = spawn_puppet();
	sync_with(p); /* fails after WAIT_MS if p never runs */
	tr_exit(s, TR_KILL);
	await_death(s, NULL, 0);
}

Test(actor, nodes_in_one_process_message_each_other)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 1;
	o.name = "second@host";
	tr_node_t *n2;
	cr_assert_eq(tr_node_new(&n2, &o), TR_OK);
	tr_pid_t p;
	cr_assert_eq(tr_spawn(n2, &echo_b, NULL, &p), TR_OK);
	cr_assert_eq(p.node, tr_node_id(n2));
	tr_send(p, mk_int("x", 5));
	tr_msg_t *r = recv_tag("echo");
	cr_assert(tr_pid_eq(tr_msg_sender(r), p));
	tr_msg_free(r);
	tr_node_destroy(n2);
}

static int shutdown_terminates;
static char shutdown_reason[32];
static void note_shutdown(void *state, const char *reason)
{
	(void)state;
	shutdown_terminates++;
	snprintf(shutdown_reason, sizeof(shutdown_reason), "%s", reason);
}

Test(actor, node_shutdown_terminates_live_actors)
{
	static const tr_behaviour_t b = {.name = "sd",
	                                 .receive = nop_receive,
	                                 .terminate = note_shutdown};
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 2;
	tr_node_t *n2;
	cr_assert_eq(tr_node_new(&n2, &o), TR_OK);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(tr_spawn(n2, &b, NULL, NULL), TR_OK);
	tr_node_destroy(n2);
	cr_assert_eq(shutdown_terminates, 100);
	cr_assert_str_eq(shutdown_reason, "shutdown");
}

Test(actor, introspection_reports_counts_and_mailboxes)
{
	tr_pid_t p = spawn_puppet();
	tr_actor_info_t info;
	cr_assert_eq(tr_register(node, "intro", p), TR_OK);
	sync_with(p);
	cr_assert_eq(tr_actor_info(node, p, &info), TR_OK);
	cr_assert(tr_pid_eq(info.pid, p));
	cr_assert_str_eq(info.behaviour, "puppet");
	cr_assert_str_eq(info.name, "intro");
	cr_assert_geq(info.received, 1);
	tr_node_stats_t st;
	cr_assert_eq(tr_node_stats(node, &st), TR_OK);
	cr_assert_geq(st.actors, 2, "the puppet and the inbox");
	cr_assert_eq(st.schedulers, 2);
	tr_pid_t pids[16];
	size_t n;
	cr_assert_eq(tr_node_actors(node, pids, 16, &n), TR_OK);
	cr_assert_eq(n, st.actors);
	bool found = false;
	for (size_t i = 0; i < n && i < 16; i++)
		found |= tr_pid_eq(pids[i], p);
	cr_assert(found);
	tr_sched_stats_t ss;
	cr_assert_eq(tr_node_sched_stats(node, 0, &ss), TR_OK);
	cr_assert_eq(tr_node_sched_stats(node, 2, &ss), TR_ERANGE);
	tr_send(p, mk("stop"));
	await_death(p, NULL, 0);
	cr_assert_eq(tr_actor_info(node, p, &info), TR_ENOENT);
}

Test(actor, kept_messages_belong_to_the_actor)
{
	/* the inbox keeps every message and hands it to this thread */
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &echo_b, NULL, &p), TR_OK);
	for (int i = 0; i < 100; i++)
		tr_send(p, mk_int("k", i));
	for (int i = 0; i < 100; i++) {
		tr_msg_t *r = recv_any();
		int64_t v;
		tr_msg_get_int(r, 0, &v);
		cr_assert_eq(v, i);
		tr_msg_free(r);
	}
}

/* A message already on its way cannot be sent again (it would be linked
 * into two mailboxes); inside a callback the first send is still in the
 * outbox, so the pointer is valid for the second attempt. */
static void double_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
	tr_msg_t *x = mk_int("once", 1);
	tr_err first = tr_send(me, x);
	tr_err again = tr_send(me, x);
	tr_err cast = tr_cast(me, x);
	tr_err later = tr_send_after(NULL, me, x, 1, NULL);
	tr_msg_t *r = mk_int("double", first);
	tr_msg_add_int(r, again);
	tr_msg_add_int(r, cast);
	tr_msg_add_int(r, later);
	tr_send(me, r);
}

static const tr_behaviour_t double_b = {.name = "double",
                                        .receive = double_receive};

Test(actor, a_message_cannot_be_sent_twice)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &double_b, NULL, &p), TR_OK);
	tr_send(p, mk("go"));
	tr_msg_t *r = recv_tag("double");
	int64_t v[4];
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(tr_msg_get_int(r, i, &v[i]), TR_OK);
	tr_msg_free(r);
	cr_assert_eq(v[0], TR_OK);
	cr_assert_eq(v[1], TR_EINVAL);
	cr_assert_eq(v[2], TR_EINVAL);
	cr_assert_eq(v[3], TR_EINVAL);
	tr_msg_t *once = recv_tag("once");
	/* received (and kept by the inbox): ours to send on */
	tr_pid_t q = spawn_puppet();
	cr_assert_eq(tr_send(q, once), TR_OK);
	sync_with(q);
	cr_assert(!got_tag_within("once", 0), "the first send was duplicated");
}
