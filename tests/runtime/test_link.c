/*
 * tests/runtime/test_link.c - links and exit signals, Erlang's rules
 * (docs/semantics.md L1-L9).
 */
#include "../helpers/helpers.h"

TestSuite(link, .init = setup_node, .fini = teardown_node);

static void cmd_pid(tr_pid_t p, const char *tag, tr_pid_t arg)
{
	cr_assert_eq(tr_send(p, mk_pid(tag, arg)), TR_OK);
}

static void cmd_trap(tr_pid_t p, bool on)
{
	tr_msg_t *m = mk("trap");
	tr_msg_add_bool(m, on);
	cr_assert_eq(tr_send(p, m), TR_OK);
}

static void cmd_stop(tr_pid_t p, const char *reason)
{
	tr_msg_t *m = mk("stop");
	tr_msg_add_str(m, reason);
	cr_assert_eq(tr_send(p, m), TR_OK);
}

static void cmd_exit(tr_pid_t p, tr_pid_t target, const char *reason)
{
	tr_msg_t *m = mk_pid("exit", target);
	tr_msg_add_str(m, reason);
	cr_assert_eq(tr_send(p, m), TR_OK);
}

/* a and b linked (a links b; sync so the link exists on both sides). */
static void linked_pair(tr_pid_t *a, tr_pid_t *b)
{
	*a = spawn_puppet();
	*b = spawn_puppet();
	cmd_pid(*a, "link", *b);
	sync_with(*a);
	sync_with(*b);
}

/* An EXIT a puppet forwarded (or the inbox got itself): from and
 * reason. */
static void recv_exit_from(tr_pid_t from, char *reason, size_t cap)
{
	tr_msg_t *m = recv_tag("EXIT");
	tr_pid_t f;
	cr_assert_eq(tr_msg_get_pid(m, 0, &f), TR_OK);
	cr_assert(tr_pid_eq(f, from), "EXIT from someone else");
	if (reason)
		cr_assert_eq(tr_msg_get_strbuf(m, 1, reason, cap), TR_OK);
	tr_msg_free(m);
}

Test(link, a_crash_kills_the_linked_partner_with_the_same_reason)
{
	tr_pid_t a, b;
	linked_pair(&a, &b);
	tr_ref_t r = mon(b);
	cmd_stop(a, "boom");
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "boom");
}

Test(link, links_are_bidirectional)
{
	tr_pid_t a, b;
	linked_pair(&a, &b);
	tr_ref_t r = mon(a);
	cmd_stop(b, "boom");
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "boom");
}

Test(link, normal_exit_is_ignored_by_a_non_trapping_partner)
{
	tr_pid_t a, b;
	linked_pair(&a, &b);
	cmd_stop(a, "normal");
	await_death(a, NULL, 0);
	sync_with(b); /* still alive and answering */
	cr_assert(tr_is_alive(b));
}

Test(link, a_trapping_partner_gets_an_exit_message)
{
	tr_pid_t a, b;
	linked_pair(&a, &b);
	cmd_trap(b, true);
	sync_with(b);
	cmd_stop(a, "boom");
	char reason[64];
	recv_exit_from(a, reason, sizeof(reason));
	cr_assert_str_eq(reason, "boom");
	cr_assert(tr_is_alive(b));
	/* the link is gone now: b stopping does not reach a (dead anyway),
	 * and a normal exit of b is clean */
	sync_with(b);
}

Test(link, trapped_normal_exit_arrives_as_a_message)
{
	tr_pid_t a, b;
	linked_pair(&a, &b);
	cmd_trap(b, true);
	sync_with(b);
	cmd_stop(a, "normal");
	char reason[64];
	recv_exit_from(a, reason, sizeof(reason));
	cr_assert_str_eq(reason, "normal");
}

Test(link, kill_is_untrappable_and_becomes_killed)
{
	tr_pid_t a = spawn_puppet();
	cmd_trap(a, true);
	sync_with(a);
	tr_ref_t r = mon(a);
	cr_assert_eq(tr_exit(a, TR_KILL), TR_OK);
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "killed");
}

Test(link, kill_through_a_link_stays_kill)
{
	/* a is killed (reason "killed"); b is linked to c, which exits with
	 * reason "kill": b, not trapping, dies with "kill", not "killed". */
	tr_pid_t b, c;
	linked_pair(&b, &c);
	tr_ref_t r = mon(b);
	cmd_stop(c, "kill");
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "kill");
}

Test(link, a_kill_through_a_link_can_be_trapped)
{
	tr_pid_t b, c;
	linked_pair(&b, &c);
	cmd_trap(b, true);
	sync_with(b);
	cmd_stop(c, "kill");
	char reason[64];
	recv_exit_from(c, reason, sizeof(reason));
	cr_assert_str_eq(reason, "kill");
	sync_with(b);
}

Test(link, exit_normal_from_another_is_ignored_unless_trapping)
{
	tr_pid_t a = spawn_puppet(), b = spawn_puppet();
	cmd_exit(a, b, "normal");
	sync_with(a);
	sync_with(b); /* b ignored it */
	cmd_trap(b, true);
	cmd_exit(a, b, "normal");
	sync_with(a);
	recv_exit_from(a, NULL, 0);
	sync_with(b);
}

Test(link, exit_with_a_reason_kills_a_non_trapping_actor)
{
	tr_pid_t a = spawn_puppet(), b = spawn_puppet();
	tr_ref_t r = mon(b);
	cmd_exit(a, b, "go away");
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "go away");
	sync_with(a);
}

Test(link, exit_normal_to_oneself_ends_the_actor)
{
	tr_pid_t a = spawn_puppet();
	tr_ref_t r = mon(a);
	cmd_exit(a, a, "normal");
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "normal");
}

Test(link, exit_from_a_plain_thread_works)
{
	tr_pid_t a = spawn_puppet();
	tr_ref_t r = mon(a);
	cr_assert_eq(tr_exit(a, "shutdown"), TR_OK);
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "shutdown");
	cr_assert_eq(tr_exit(a, "again"), TR_OK, "dead pid: not an error");
	cr_assert_eq(tr_exit(a, NULL), TR_EINVAL);
}

Test(link, linking_a_dead_pid_gives_noproc)
{
	tr_pid_t dead = spawn_puppet();
	tr_send(dead, mk("stop"));
	await_death(dead, NULL, 0);
	tr_pid_t a = spawn_puppet();
	cmd_trap(a, true);
	cmd_pid(a, "link", dead);
	char reason[64];
	recv_exit_from(dead, reason, sizeof(reason));
	cr_assert_str_eq(reason, "noproc");
	/* not trapping: the noproc kills */
	tr_pid_t b = spawn_puppet();
	tr_ref_t rb = mon(b);
	cmd_pid(b, "link", dead);
	down(rb, reason, sizeof(reason));
	cr_assert_str_eq(reason, "noproc");
}

Test(link, linking_twice_or_oneself_does_nothing)
{
	tr_pid_t a, b;
	linked_pair(&a, &b);
	cmd_pid(a, "link", b);
	cmd_pid(a, "link", a);
	sync_with(a);
	tr_actor_info_t ia, ib;
	cr_assert_eq(tr_actor_info(node, a, &ia), TR_OK);
	cr_assert_eq(tr_actor_info(node, b, &ib), TR_OK);
	cr_assert_eq(ia.links, 1);
	cr_assert_eq(ib.links, 1);
}

Test(link, after_unlink_no_exit_signal_arrives)
{
	tr_pid_t a, b;
	linked_pair(&a, &b);
	cmd_pid(a, "unlink", b);
	sync_with(a);
	cmd_stop(b, "boom");
	await_death(b, NULL, 0);
	sync_with(a); /* alive: the exit of b did not reach it */
	tr_actor_info_t ia;
	cr_assert_eq(tr_actor_info(node, a, &ia), TR_OK);
	cr_assert_eq(ia.links, 0);
}

struct pong_or_down {
	tr_pid_t pid;
	tr_ref_t ref;
};

static bool pong_or_down(const tr_msg_t *m, void *arg)
{
	struct pong_or_down *x = arg;
	tr_pid_t p;
	tr_ref_t r;
	if (tr_msg_is(m, "pong") && tr_msg_get_pid(m, 0, &p) == TR_OK)
		return tr_pid_eq(p, x->pid);
	return tr_msg_kind(m) == TR_MSG_DOWN &&
	       tr_msg_down_info(m, &r, NULL, NULL, 0) == TR_OK &&
	       tr_ref_eq(r, x->ref);
}

Test(link, unlink_racing_the_peers_exit_leaves_no_half_link)
{
	/* b dies with "boom" while a unlinks it. Both outcomes are legal:
	 * the exit reached a first (a dies with "boom") or the unlink did (a
	 * lives on). What must never happen: a dying of anything else, or a
	 * surviving a with a link entry left. */
	int died = 0, lived = 0;
	for (int i = 0; i < 300; i++) {
		tr_pid_t a, b;
		linked_pair(&a, &b);
		struct pong_or_down x = {a, mon(a)};
		tr_ref_t rb = mon(b);
		cmd_stop(b, "boom");
		cmd_pid(a, "unlink", b);
		cr_assert_eq(tr_send(a, mk("ping")), TR_OK);
		tr_msg_t *m;
		cr_assert_eq(tr_inbox_receive_match(inbox, WAIT_MS,
		                                    pong_or_down, &x, &m),
		             TR_OK);
		down(rb, NULL, 0);
		if (tr_msg_kind(m) == TR_MSG_DOWN) {
			char reason[64];
			tr_msg_down_info(m, NULL, NULL, reason, sizeof(reason));
			cr_assert_str_eq(reason, "boom");
			died++;
		} else {
			sync_with(a); /* b's exit, if any, was handled */
			tr_actor_info_t ia;
			cr_assert_eq(tr_actor_info(node, a, &ia), TR_OK);
			cr_assert_eq(ia.links, 0, "a half-link survived");
			tr_exit(a, TR_KILL);
			down(x.ref, NULL, 0);
			lived++;
		}
		tr_msg_free(m);
	}
	cr_assert_eq(died + lived, 300);
}

Test(link, relinking_after_unlink_is_a_live_link_again)
{
	tr_pid_t a, b;
	linked_pair(&a, &b);
	cmd_pid(a, "unlink", b);
	cmd_pid(a, "link", b);
	sync_with(a);
	sync_with(b);
	tr_ref_t r = mon(a);
	cmd_stop(b, "boom");
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "boom");
}

static tr_pid_t child_of_linker;
static void linker_receive(void *state, tr_msg_t *m)
{
	(void)state;
	if (tr_msg_is(m, "spawn")) {
		cr_assert_eq(tr_spawn_link(&puppet_b, NULL, &child_of_linker),
		             TR_OK);
		tr_send(me, mk_pid("child", child_of_linker));
	}
}

static const tr_behaviour_t linker_b = {.name = "linker",
                                        .receive = linker_receive};

Test(link, spawn_link_links_atomically)
{
	tr_pid_t l;
	cr_assert_eq(tr_spawn(node, &linker_b, NULL, &l), TR_OK);
	tr_send(l, mk("spawn"));
	tr_msg_t *m = recv_tag("child");
	tr_pid_t c;
	tr_msg_get_pid(m, 0, &c);
	tr_msg_free(m);
	tr_ref_t r = mon(l);
	cmd_stop(c, "boom");
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "boom");
}

Test(link, exits_propagate_along_a_chain)
{
	tr_pid_t p[10];
	for (int i = 0; i < 10; i++)
		p[i] = spawn_puppet();
	for (int i = 0; i < 9; i++)
		cmd_pid(p[i], "link", p[i + 1]);
	for (int i = 0; i < 10; i++)
		sync_with(p[i]);
	tr_ref_t r = mon(p[9]);
	cmd_stop(p[0], "chain");
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, "chain");
}

Test(link, inbox_links_and_traps)
{
	tr_pid_t a = spawn_puppet();
	cr_assert_eq(tr_inbox_link(inbox, a), TR_OK);
	cmd_stop(a, "bye");
	char reason[64];
	recv_exit_from(a, reason, sizeof(reason));
	cr_assert_str_eq(reason, "bye");
}
