/*
 * tests/runtime/test_call.c - request/reply (docs/semantics.md C1-C3).
 */
#include "../helpers/helpers.h"

TestSuite(call, .init = setup_node, .fini = teardown_node);

/* A server that answers "add" at once, "later" after a delay it is told
 * (by a timer to itself, then tr_reply), "die" by exiting, and counts
 * every call it sees. */
struct srv {
	tr_from_t held;
	int calls;
};

static void srv_receive(void *state, tr_msg_t *m)
{
	struct srv *s = state;
	if (tr_msg_kind(m) == TR_MSG_CALL) {
		s->calls++;
		tr_from_t from;
		cr_assert_eq(tr_msg_from(m, &from), TR_OK);
		if (tr_msg_is(m, "add")) {
			int64_t a, b;
			tr_msg_get_int(m, 0, &a);
			tr_msg_get_int(m, 1, &b);
			tr_reply(&from, mk_int("sum", a + b));
		} else if (tr_msg_is(m, "later")) {
			int64_t ms;
			tr_msg_get_int(m, 0, &ms);
			s->held = from;
			tr_send_after(NULL, tr_self(), mk("answer"),
			              (uint64_t)ms, NULL);
		} else if (tr_msg_is(m, "die")) {
			tr_stop("asked to die");
		} else if (tr_msg_is(m, "never")) {
			/* no answer at all */
		}
	} else if (tr_msg_is(m, "answer")) {
		tr_reply(&s->held, mk("late_answer"));
		tr_send(me, mk("answered"));
	}
}

static const tr_behaviour_t srv_b = {.name = "srv", .receive = srv_receive};

static tr_pid_t start_srv(struct srv *s)
{
	memset(s, 0, sizeof(*s));
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &srv_b, s, &p), TR_OK);
	return p;
}

Test(call, blocking_call_gets_the_reply)
{
	struct srv s;
	tr_pid_t p = start_srv(&s);
	tr_msg_t *req = mk_int("add", 2), *rep = NULL;
	tr_msg_add_int(req, 40);
	cr_assert_eq(tr_call(node, p, req, WAIT_MS, &rep, NULL, 0), TR_OK);
	int64_t v;
	cr_assert(tr_msg_is(rep, "sum"));
	cr_assert_eq(tr_msg_get_int(rep, 0, &v), TR_OK);
	cr_assert_eq(v, 42);
	tr_msg_free(rep);
	/* node NULL: found from the pid */
	req = mk_int("add", 1);
	tr_msg_add_int(req, 1);
	cr_assert_eq(tr_call(NULL, p, req, WAIT_MS, &rep, NULL, 0), TR_OK);
	tr_msg_free(rep);
}

Test(call, a_reply_can_come_later_from_another_callback)
{
	struct srv s;
	tr_pid_t p = start_srv(&s);
	tr_msg_t *rep;
	cr_assert_eq(
	        tr_call(node, p, mk_int("later", 5), WAIT_MS, &rep, NULL, 0),
	        TR_OK);
	cr_assert(tr_msg_is(rep, "late_answer"));
	tr_msg_free(rep);
}

Test(call, timeout_and_the_late_reply_is_dropped_and_counted)
{
	struct srv s;
	tr_pid_t p = start_srv(&s);
	tr_msg_t *rep = NULL;
	tr_node_stats_t a, b;
	tr_node_stats(node, &a);
	cr_assert_eq(tr_call(node, p, mk_int("later", 100), 10, &rep, NULL, 0),
	             TR_ETIMEDOUT);
	cr_assert_null(rep);
	tr_msg_free(recv_tag("answered")); /* the server did answer */
	/* the reply went to a dead temporary inbox: counted, not delivered */
	tr_node_stats(node, &b);
	cr_assert_eq(b.late_replies, a.late_replies + 1);
	cr_assert(!got_tag_within("late_answer", 0));
}

Test(call, calling_a_dead_pid_ends_with_noproc)
{
	struct srv s;
	tr_pid_t p = start_srv(&s);
	tr_exit(p, TR_KILL);
	await_death(p, NULL, 0);
	tr_msg_t *rep = NULL;
	char reason[64] = "";
	cr_assert_eq(tr_call(node, p, mk("add"), WAIT_MS, &rep, reason,
	                     sizeof(reason)),
	             TR_EEXITED);
	cr_assert_str_eq(reason, "noproc");
	cr_assert_null(rep);
}

Test(call, a_callee_dying_during_the_call_ends_it_with_its_reason)
{
	struct srv s;
	tr_pid_t p = start_srv(&s);
	tr_msg_t *rep = NULL;
	char reason[64] = "";
	cr_assert_eq(tr_call(node, p, mk("die"), WAIT_MS, &rep, reason,
	                     sizeof(reason)),
	             TR_EEXITED);
	cr_assert_str_eq(reason, "asked to die");
}

Test(call, misuse_is_refused)
{
	tr_msg_t *rep;
	tr_msg_t *m = mk("x");
	cr_assert_eq(tr_call(node, TR_PID_NONE, m, 10, &rep, NULL, 0),
	             TR_EINVAL);
	cr_assert_eq(tr_call(node, me, NULL, 10, &rep, NULL, 0), TR_EINVAL);
	tr_pid_t far = {999, 1, 1};
	cr_assert_eq(tr_call(NULL, far, m, 10, &rep, NULL, 0), TR_EUNREACHABLE);
	tr_msg_free(m);
	cr_assert_eq(tr_call_async(me, NULL, 10, NULL, NULL), TR_ESTATE);
	tr_from_t f;
	m = mk("plain");
	cr_assert_eq(tr_msg_from(m, &f), TR_ETYPE);
	cr_assert_eq(tr_reply(NULL, m), TR_EINVAL);
	tr_msg_free(m);
}

/* From an actor: tr_call() is refused, tr_call_async() continues. */
struct caller {
	tr_pid_t target;
	int done;
};

static void reply_fn(void *state, tr_err status, tr_msg_t *reply,
                     const char *reason, void *ctx)
{
	struct caller *c = state;
	c->done++;
	tr_msg_t *r = mk("continued");
	tr_msg_add_int(r, status);
	tr_msg_add_str(r, reason ? reason : "");
	tr_msg_add_str(r, (const char *)ctx);
	tr_msg_add_bool(r, reply && tr_msg_is(reply, "sum"));
	tr_msg_add_int(r, c->done);
	tr_send(me, r);
	tr_msg_free(reply);
}

static void caller_receive(void *state, tr_msg_t *m)
{
	struct caller *c = state;
	if (tr_msg_is(m, "blocking")) {
		tr_msg_t *req = mk("add"), *rep;
		tr_err e = tr_call(NULL, c->target, req, 10, &rep, NULL, 0);
		tr_msg_free(req);
		tr_send(me, mk_int("blocking_said", e));
	} else if (tr_msg_is(m, "async")) {
		int64_t timeout;
		const char *what;
		size_t n;
		tr_msg_get_int(m, 0, &timeout);
		tr_msg_get_str(m, 1, &what, &n);
		tr_msg_t *req;
		if (n == 3 && !memcmp(what, "add", 3)) {
			req = mk_int("add", 1);
			tr_msg_add_int(req, 2);
		} else {
			req = mk_int("later", 200);
		}
		static const char *ctx = "the ctx";
		cr_assert_eq(tr_call_async(c->target, req, (uint64_t)timeout,
		                           reply_fn, (void *)ctx),
		             TR_OK);
	} else if (tr_msg_is(m, "ping")) {
		tr_msg_t *r = mk("pong");
		tr_msg_add_pid(r, tr_self());
		tr_send(me, r);
	}
}

static const tr_behaviour_t caller_b = {.name = "caller",
                                        .receive = caller_receive};

static tr_pid_t start_caller(struct caller *c, tr_pid_t target)
{
	c->target = target;
	c->done = 0;
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &caller_b, c, &p), TR_OK);
	return p;
}

static void async(tr_pid_t caller, int64_t timeout, const char *what)
{
	tr_msg_t *m = mk_int("async", timeout);
	tr_msg_add_str(m, what);
	tr_send(caller, m);
}

static int64_t field_int(tr_msg_t *m, size_t i)
{
	int64_t v;
	cr_assert_eq(tr_msg_get_int(m, i, &v), TR_OK);
	return v;
}

Test(call, blocking_call_from_an_actor_is_refused)
{
	struct srv s;
	struct caller c;
	tr_pid_t a = start_caller(&c, start_srv(&s));
	tr_send(a, mk("blocking"));
	tr_msg_t *m = recv_tag("blocking_said");
	cr_assert_eq(field_int(m, 0), TR_ESTATE);
	tr_msg_free(m);
}

Test(call, async_call_continues_with_the_reply_and_the_state)
{
	struct srv s;
	struct caller c;
	tr_pid_t a = start_caller(&c, start_srv(&s));
	async(a, WAIT_MS, "add");
	tr_msg_t *m = recv_tag("continued");
	cr_assert_eq(field_int(m, 0), TR_OK);
	char ctx[16];
	tr_msg_get_strbuf(m, 2, ctx, sizeof(ctx));
	cr_assert_str_eq(ctx, "the ctx");
	bool is_sum;
	tr_msg_get_bool(m, 3, &is_sum);
	cr_assert(is_sum);
	cr_assert_eq(field_int(m, 4), 1, "state is the caller's");
	tr_msg_free(m);
}

Test(call, async_timeout_runs_once_and_drops_the_late_reply)
{
	struct srv s;
	struct caller c;
	tr_pid_t srv = start_srv(&s);
	tr_pid_t a = start_caller(&c, srv);
	tr_node_stats_t st0, st1;
	tr_node_stats(node, &st0);
	async(a, 20, "later"); /* server answers after 200 ms */
	tr_msg_t *m = recv_tag("continued");
	cr_assert_eq(field_int(m, 0), TR_ETIMEDOUT);
	tr_msg_free(m);
	tr_msg_free(recv_tag("answered")); /* the late reply was sent */
	sync_with(a);                      /* and has reached the caller */
	tr_node_stats(node, &st1);
	cr_assert_eq(st1.late_replies, st0.late_replies + 1);
	cr_assert(!got_tag_within("continued", 0),
	          "the continuation ran twice");
}

Test(call, async_call_to_a_dying_callee_reports_the_reason)
{
	struct srv s;
	struct caller c;
	tr_pid_t srv = start_srv(&s);
	tr_pid_t a = start_caller(&c, srv);
	tr_exit(srv, "gone");
	await_death(srv, NULL, 0);
	async(a, WAIT_MS, "add");
	tr_msg_t *m = recv_tag("continued");
	cr_assert_eq(field_int(m, 0), TR_EEXITED);
	char reason[32];
	tr_msg_get_strbuf(m, 1, reason, sizeof(reason));
	cr_assert_str_eq(reason, "noproc");
	tr_msg_free(m);
}

Test(call, calls_do_not_leave_monitors_behind)
{
	struct srv s;
	tr_pid_t p = start_srv(&s);
	for (int i = 0; i < 200; i++) {
		tr_msg_t *req = mk_int("add", i), *rep;
		tr_msg_add_int(req, 1);
		cr_assert_eq(tr_call(node, p, req, WAIT_MS, &rep, NULL, 0),
		             TR_OK);
		tr_msg_free(rep);
	}
	/* the DEMONITORs were sent before the last reply was read; a
	 * further call is handled after them (order per pair) */
	tr_msg_t *req = mk_int("add", 0), *rep;
	tr_msg_add_int(req, 0);
	cr_assert_eq(tr_call(node, p, req, WAIT_MS, &rep, NULL, 0), TR_OK);
	tr_msg_free(rep);
	tr_actor_info_t info;
	cr_assert_eq(tr_actor_info(node, p, &info), TR_OK);
	cr_assert_leq(info.monitors, 1, "monitors pile up: %zu", info.monitors);
}
