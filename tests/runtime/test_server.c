/*
 * tests/runtime/test_server.c - the gen_server-style behaviour.
 */
#include "../helpers/helpers.h"

TestSuite(server, .init = setup_node, .fini = teardown_node);

struct counter {
	int64_t n;
	int inits, terminates;
	char last_reason[64];
};

static tr_err c_init(void **state, void *arg)
{
	struct counter *c = arg;
	c->inits++;
	*state = c;
	return TR_OK;
}

static tr_server_ret_t c_call(void *state, const tr_from_t *from, tr_msg_t *req,
                              tr_msg_t **reply)
{
	struct counter *c = state;
	if (tr_msg_is(req, "get")) {
		*reply = mk_int("count", c->n);
	} else if (tr_msg_is(req, "later")) {
		tr_reply(from, mk_int("count_later", c->n)); /* explicit */
	} else if (tr_msg_is(req, "stop")) {
		*reply = mk("stopping");
		return TR_SERVER_STOP("asked");
	}
	return TR_SERVER_CONTINUE;
}

static tr_server_ret_t c_cast(void *state, tr_msg_t *m)
{
	struct counter *c = state;
	if (tr_msg_is(m, "crash"))
		return TR_SERVER_STOP("crashed in cast");
	c->n++;
	return TR_SERVER_CONTINUE;
}

static tr_server_ret_t c_info(void *state, tr_msg_t *m)
{
	struct counter *c = state;
	if (tr_msg_is(m, "reset"))
		c->n = 0;
	else if (tr_msg_is(m, "quit"))
		return TR_SERVER_STOP(NULL);
	return TR_SERVER_CONTINUE;
}

static void c_terminate(void *state, const char *reason)
{
	struct counter *c = state;
	c->terminates++;
	snprintf(c->last_reason, sizeof(c->last_reason), "%s", reason);
}

static const tr_server_ops_t counter_ops = {
        .name = "counter",
        .init = c_init,
        .handle_call = c_call,
        .handle_cast = c_cast,
        .handle_info = c_info,
        .terminate = c_terminate,
};

static int64_t get(tr_pid_t p)
{
	tr_msg_t *rep;
	cr_assert_eq(tr_call(node, p, mk("get"), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	int64_t v;
	cr_assert_eq(tr_msg_get_int(rep, 0, &v), TR_OK);
	tr_msg_free(rep);
	return v;
}

Test(server, calls_casts_and_infos_reach_their_callbacks)
{
	struct counter c = {0};
	tr_pid_t p;
	cr_assert_eq(tr_server_start(node, &counter_ops, &c, NULL, &p), TR_OK);
	cr_assert_eq(c.inits, 1);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(tr_cast(p, mk("incr")), TR_OK);
	cr_assert_eq(get(p), 100);
	tr_send(p, mk("reset"));
	cr_assert_eq(get(p), 0);
	tr_msg_t *rep;
	cr_assert_eq(tr_call(node, p, mk("later"), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	cr_assert(tr_msg_is(rep, "count_later"));
	tr_msg_free(rep);
	tr_actor_info_t info;
	cr_assert_eq(tr_actor_info(node, p, &info), TR_OK);
	cr_assert_str_eq(info.behaviour, "counter");
}

Test(server, stop_from_handle_call_replies_then_ends)
{
	struct counter c = {0};
	tr_pid_t p;
	cr_assert_eq(tr_server_start(node, &counter_ops, &c, NULL, &p), TR_OK);
	tr_ref_t r = mon(p);
	tr_msg_t *rep;
	cr_assert_eq(tr_call(node, p, mk("stop"), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	cr_assert(tr_msg_is(rep, "stopping"));
	tr_msg_free(rep);
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "asked");
	cr_assert_eq(c.terminates, 1);
	cr_assert_str_eq(c.last_reason, "asked");
}

Test(server, stop_from_handle_cast_and_handle_info)
{
	struct counter c = {0};
	tr_pid_t p;
	cr_assert_eq(tr_server_start(node, &counter_ops, &c, NULL, &p), TR_OK);
	tr_ref_t r = mon(p);
	tr_cast(p, mk("crash"));
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "crashed in cast");

	struct counter c2 = {0};
	cr_assert_eq(tr_server_start(node, &counter_ops, &c2, NULL, &p), TR_OK);
	r = mon(p);
	tr_send(p, mk("quit"));
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "normal");
	cr_assert_eq(c2.terminates, 1);
}

Test(server, a_server_without_handle_call_answers_badcall)
{
	static const tr_server_ops_t bare = {.name = "bare"};
	tr_pid_t p;
	cr_assert_eq(tr_server_start(node, &bare, NULL, NULL, &p), TR_OK);
	tr_msg_t *rep;
	cr_assert_eq(tr_call(node, p, mk("anything"), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	cr_assert(tr_msg_is(rep, "error"));
	char what[16];
	tr_msg_get_strbuf(rep, 0, what, sizeof(what));
	cr_assert_str_eq(what, "badcall");
	tr_msg_free(rep);
	cr_assert_eq(tr_server_start(node, NULL, NULL, NULL, &p), TR_EINVAL);
}

Test(server, named_server)
{
	struct counter c = {0};
	tr_spawn_opts_t so = {.name = "the_counter"};
	tr_pid_t p, w;
	cr_assert_eq(tr_server_start(node, &counter_ops, &c, &so, &p), TR_OK);
	cr_assert_eq(tr_whereis(node, "the_counter", &w), TR_OK);
	cr_assert(tr_pid_eq(p, w));
	cr_assert_eq(tr_send_name(node, "the_counter", mk("x")), TR_OK);
}
