/*
 * tests/runtime/test_names.c - local names (docs/semantics.md N1, N2).
 */
#include "../helpers/helpers.h"

TestSuite(names, .init = setup_node, .fini = teardown_node);

Test(names, register_whereis_send_unregister)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(node, &echo_b, NULL, &p), TR_OK);
	cr_assert_eq(tr_register(node, "echo", p), TR_OK);
	tr_pid_t w;
	cr_assert_eq(tr_whereis(node, "echo", &w), TR_OK);
	cr_assert(tr_pid_eq(w, p));
	cr_assert_eq(tr_send_name(node, "echo", mk_int("x", 1)), TR_OK);
	tr_msg_free(recv_tag("echo"));
	cr_assert_eq(tr_unregister(node, "echo"), TR_OK);
	cr_assert_eq(tr_whereis(node, "echo", &w), TR_ENOENT);
	cr_assert_eq(tr_unregister(node, "echo"), TR_ENOENT);
	tr_msg_t *m = mk("x");
	cr_assert_eq(tr_send_name(node, "echo", m), TR_ENOENT);
	tr_msg_free(m); /* still ours */
	tr_node_stats_t st;
	tr_node_stats(node, &st);
	cr_assert_eq(st.names, 0);
}

Test(names, one_name_per_actor_and_one_actor_per_name)
{
	tr_pid_t a = spawn_puppet(), b = spawn_puppet();
	cr_assert_eq(tr_register(node, "n1", a), TR_OK);
	cr_assert_eq(tr_register(node, "n1", b), TR_EEXIST, "name taken");
	cr_assert_eq(tr_register(node, "n2", a), TR_EEXIST, "a has a name");
	cr_assert_eq(tr_register(node, "n2", b), TR_OK);
}

Test(names, bad_arguments_are_refused)
{
	tr_pid_t a = spawn_puppet();
	char longname[TR_NAME_MAX + 10];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	cr_assert_eq(tr_register(node, "", a), TR_EINVAL);
	cr_assert_eq(tr_register(node, NULL, a), TR_EINVAL);
	cr_assert_eq(tr_register(node, longname, a), TR_EINVAL);
	cr_assert_eq(tr_register(node, "x", TR_PID_NONE), TR_EINVAL);
	cr_assert_eq(tr_register(NULL, "x", a), TR_EINVAL, "no current node");
	cr_assert_eq(tr_whereis(node, "", NULL), TR_EINVAL);
}

Test(names, a_dead_actor_cannot_be_registered)
{
	tr_pid_t a = spawn_puppet();
	tr_send(a, mk("stop"));
	await_death(a, NULL, 0);
	cr_assert_eq(tr_register(node, "ghost", a), TR_ENOENT);
}

/* N2: a watcher that gets the DOWN finds the name already free. */
static void checker_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_pid_t p;
	if (tr_msg_is(m, "watch")) {
		tr_msg_get_pid(m, 0, &p);
		tr_monitor(p, NULL);
		tr_send(me, mk("watching"));
	} else if (tr_msg_kind(m) == TR_MSG_DOWN) {
		tr_err e = tr_whereis(NULL, "owner", NULL);
		tr_send(me, mk_int("name_on_down", e));
	}
}

static const tr_behaviour_t checker_b = {.name = "checker",
                                         .receive = checker_receive};

Test(names, name_is_released_before_monitors_fire)
{
	for (int i = 0; i < 50; i++) {
		tr_pid_t owner = spawn_puppet(), c;
		cr_assert_eq(tr_register(node, "owner", owner), TR_OK);
		cr_assert_eq(tr_spawn(node, &checker_b, NULL, &c), TR_OK);
		tr_send(c, mk_pid("watch", owner));
		tr_msg_free(recv_tag("watching"));
		tr_send(owner, mk("stop"));
		tr_msg_t *m = recv_tag("name_on_down");
		int64_t e;
		tr_msg_get_int(m, 0, &e);
		cr_assert_eq(e, TR_ENOENT, "name still there at DOWN time");
		tr_msg_free(m);
		tr_exit(c, TR_KILL);
	}
}

Test(names, spawn_with_a_name_registers_atomically)
{
	tr_spawn_opts_t so = {.name = "born_named"};
	tr_pid_t p, w;
	cr_assert_eq(tr_spawn_opt(node, &puppet_b, NULL, &so, &p, NULL), TR_OK);
	cr_assert_eq(tr_whereis(node, "born_named", &w), TR_OK);
	cr_assert(tr_pid_eq(p, w));
	tr_pid_t q = TR_PID_NONE;
	cr_assert_eq(tr_spawn_opt(node, &puppet_b, NULL, &so, &q, NULL),
	             TR_EEXIST);
	cr_assert(tr_pid_is_none(q));
	tr_actor_info_t info;
	cr_assert_eq(tr_actor_info(node, p, &info), TR_OK);
	cr_assert_str_eq(info.name, "born_named");
}
