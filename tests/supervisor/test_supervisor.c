/*
 * tests/supervisor/test_supervisor.c - Supervisor on one node: strategies,
 * restart types, intensity, shutdown kinds and order, the child API,
 * ignore, start failures, auto_shutdown, nesting. Workers report
 * ["started", id, pid] and ["terminated", id, reason] to the inbox; every
 * wait is on one of those or on a DOWN.
 */
#include <stdatomic.h>
#include <time.h>

#include "../helpers/helpers.h"

struct wcfg {
	const char *id;
	bool stubborn; /* traps exits and ignores "shutdown" */
	tr_err init_err;
	_Atomic int fail_starts; /* this many starts fail first */
};

static tr_err w_init(void **state, void *arg)
{
	struct wcfg *c = arg;
	if (c->init_err)
		return c->init_err;
	if (atomic_load(&c->fail_starts) > 0) {
		atomic_fetch_sub(&c->fail_starts, 1);
		tr_msg_t *m = mk("start_failed");
		tr_msg_add_str(m, c->id);
		tr_send(me, m);
		return TR_EINVAL;
	}
	if (c->stubborn)
		tr_trap_exit(true, NULL);
	*state = c;
	tr_msg_t *m = mk("started");
	tr_msg_add_str(m, c->id);
	tr_msg_add_pid(m, tr_self());
	tr_send(me, m);
	return TR_OK;
}

static void w_receive(void *state, tr_msg_t *m)
{
	(void)state;
	char reason[64];
	if (tr_msg_is(m, "stop") &&
	    !tr_msg_get_strbuf(m, 0, reason, sizeof(reason)))
		tr_stop(reason);
}

static void w_terminate(void *state, const char *reason)
{
	struct wcfg *c = state;
	tr_msg_t *m = mk("terminated");
	tr_msg_add_str(m, c->id);
	tr_msg_add_str(m, reason);
	if (tr_send(me, m))
		tr_msg_free(m);
}

static const tr_behaviour_t worker_b = {.name = "worker",
                                        .init = w_init,
                                        .receive = w_receive,
                                        .terminate = w_terminate};

static struct wcfg cfg[8] = {{"c0", false, TR_OK, 0}, {"c1", false, TR_OK, 0},
                             {"c2", false, TR_OK, 0}, {"c3", false, TR_OK, 0},
                             {"c4", false, TR_OK, 0}, {"c5", false, TR_OK, 0},
                             {"c6", false, TR_OK, 0}, {"c7", false, TR_OK, 0}};

static tr_child_spec_t spec(int i, tr_restart_t r)
{
	tr_child_spec_t s;
	tr_child_spec_init(&s);
	s.id = cfg[i].id;
	s.beh = &worker_b;
	s.arg = &cfg[i];
	s.restart = r;
	return s;
}

/* ["started", id, pid]: the pid of the next start, checking the id. */
static tr_pid_t started(const char *id)
{
	tr_msg_t *m = recv_tag("started");
	char got[16];
	tr_pid_t p;
	cr_assert_eq(tr_msg_get_strbuf(m, 0, got, sizeof(got)), TR_OK);
	cr_assert_str_eq(got, id, "expected %s to start, not %s", id, got);
	cr_assert_eq(tr_msg_get_pid(m, 1, &p), TR_OK);
	tr_msg_free(m);
	return p;
}

/* ["terminated", id, reason]: the next one, checking id and reason. */
static void terminated(const char *id, const char *reason)
{
	tr_msg_t *m = recv_tag("terminated");
	char got[16], why[64];
	cr_assert_eq(tr_msg_get_strbuf(m, 0, got, sizeof(got)), TR_OK);
	cr_assert_eq(tr_msg_get_strbuf(m, 1, why, sizeof(why)), TR_OK);
	cr_assert_str_eq(got, id, "expected %s to end, not %s", id, got);
	if (reason)
		cr_assert_str_eq(why, reason, "%s ended with %s", id, why);
	tr_msg_free(m);
}

static tr_pid_t start_sup(tr_strategy_t st, int n, tr_restart_t r,
                          tr_pid_t *kids)
{
	tr_sup_flags_t f;
	tr_sup_flags_init(&f);
	f.strategy = st;
	f.intensity = 10;
	tr_child_spec_t s[8];
	for (int i = 0; i < n; i++)
		s[i] = spec(i, r);
	tr_pid_t sup;
	cr_assert_eq(
	        tr_supervisor_start(node, &f, s, (size_t)n, NULL, &sup, NULL),
	        TR_OK);
	for (int i = 0; i < n; i++)
		kids[i] = started(cfg[i].id); /* in list order */
	return sup;
}

static void stop_sup(tr_pid_t sup, int n)
{
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
	for (int i = n - 1; i >= 0; i--) /* reverse order */
		terminated(cfg[i].id, TR_SHUTDOWN);
}

TestSuite(supervisor, .init = setup_node, .fini = teardown_node, .timeout = 60);

Test(supervisor, a_restart_waits_out_its_backoff)
{
	tr_sup_flags_t f;
	tr_sup_flags_init(&f);
	f.backoff_ms = 20;
	f.backoff_max_ms = 100;
	f.intensity = 10;
	tr_child_spec_t s = spec(0, TR_PERMANENT);
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, &f, &s, 1, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t k = started("c0");
	for (int i = 0; i < 3; i++) {
		tr_exit(k, TR_KILL);
		terminated("c0", TR_KILLED);
		k = started("c0"); /* later, but it comes */
	}
	stop_sup(sup, 1);
}

Test(supervisor, one_for_one_restarts_only_the_dead_child)
{
	tr_pid_t k[3];
	tr_pid_t sup = start_sup(TR_ONE_FOR_ONE, 3, TR_PERMANENT, k);
	tr_exit(k[1], TR_KILL);
	terminated("c1", TR_KILLED);
	tr_pid_t n1 = started("c1");
	cr_assert(!tr_pid_eq(n1, k[1]));
	tr_child_info_t ci[4];
	size_t n = 0;
	cr_assert_eq(tr_supervisor_which_children(node, sup, ci, 4, &n), TR_OK);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(ci[1].id, "c1");
	cr_assert(tr_pid_eq(ci[1].pid, n1));
	cr_assert(tr_pid_eq(ci[0].pid, k[0]) && tr_pid_eq(ci[2].pid, k[2]));
	stop_sup(sup, 3);
}

Test(supervisor, one_for_all_stops_the_others_in_reverse_and_restarts_all)
{
	tr_pid_t k[3];
	tr_pid_t sup = start_sup(TR_ONE_FOR_ALL, 3, TR_PERMANENT, k);
	tr_exit(k[1], TR_KILL);
	terminated("c1", TR_KILLED);
	terminated("c2", TR_SHUTDOWN);
	terminated("c0", TR_SHUTDOWN);
	started("c0");
	started("c1");
	started("c2");
	stop_sup(sup, 3);
}

/* OTP's try_again: a child that fails to start in a group restart ends
 * the round (those after it stay down); the group is restarted again,
 * the siblings already back are stopped first. */
Test(supervisor, a_failed_start_in_a_group_restart_restarts_the_group_again)
{
	tr_pid_t k[3];
	tr_pid_t sup = start_sup(TR_ONE_FOR_ALL, 3, TR_PERMANENT, k);
	atomic_store(&cfg[1].fail_starts, 1);
	tr_exit(k[0], TR_KILL);
	terminated("c0", TR_KILLED);
	terminated("c2", TR_SHUTDOWN);
	terminated("c1", TR_SHUTDOWN);
	started("c0");
	tr_msg_free(recv_tag("start_failed")); /* c1: c2 is not tried */
	terminated("c0", TR_SHUTDOWN);         /* the group again */
	started("c0");
	started("c1");
	started("c2");
	expect_no_tag("started", 50);
	stop_sup(sup, 3);
	/* a start that keeps failing uses up the intensity */
	sup = start_sup(TR_REST_FOR_ONE, 3, TR_PERMANENT, k);
	atomic_store(&cfg[2].fail_starts, 1000);
	tr_ref_t ref = mon(sup);
	tr_exit(k[1], TR_KILL);
	char why[32];
	down(ref, why, sizeof(why));
	cr_assert_str_eq(why, TR_SHUTDOWN);
}

Test(supervisor, a_group_restart_waits_out_its_backoff_in_one_go)
{
	tr_sup_flags_t f;
	tr_sup_flags_init(&f);
	f.strategy = TR_ONE_FOR_ALL;
	f.backoff_ms = 30;
	f.intensity = 10;
	tr_child_spec_t s[2] = {spec(0, TR_PERMANENT), spec(1, TR_PERMANENT)};
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, &f, s, 2, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t k0 = started("c0");
	started("c1");
	tr_exit(k0, TR_KILL);
	terminated("c0", TR_KILLED);
	terminated("c1", TR_SHUTDOWN);
	/* nothing before the backoff, then the group in order */
	expect_no_tag("started", 10);
	started("c0");
	started("c1");
	stop_sup(sup, 2);
}

Test(supervisor, rest_for_one_restarts_the_dead_child_and_those_after_it)
{
	tr_pid_t k[4];
	tr_pid_t sup = start_sup(TR_REST_FOR_ONE, 4, TR_PERMANENT, k);
	tr_exit(k[1], TR_KILL);
	terminated("c1", TR_KILLED);
	terminated("c3", TR_SHUTDOWN);
	terminated("c2", TR_SHUTDOWN);
	started("c1");
	started("c2");
	started("c3");
	tr_child_info_t ci[4];
	size_t n = 0;
	tr_supervisor_which_children(node, sup, ci, 4, &n);
	cr_assert(tr_pid_eq(ci[0].pid, k[0]), "c0 untouched");
	stop_sup(sup, 4);
}

Test(supervisor, restart_types)
{
	tr_sup_flags_t f;
	tr_sup_flags_init(&f);
	f.intensity = 10;
	tr_child_spec_t s[3] = {spec(0, TR_PERMANENT), spec(1, TR_TRANSIENT),
	                        spec(2, TR_TEMPORARY)};
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, &f, s, 3, NULL, &sup, NULL),
	             TR_OK);
	tr_pid_t p = started("c0"), t = started("c1"), x = started("c2");
	/* normal exits: permanent restarts, transient stays down (spec
	 * kept), temporary is forgotten */
	tr_msg_t *m = mk("stop");
	tr_msg_add_str(m, TR_NORMAL);
	tr_send(p, m);
	terminated("c0", TR_NORMAL);
	started("c0");
	m = mk("stop");
	tr_msg_add_str(m, TR_NORMAL);
	tr_send(t, m);
	terminated("c1", TR_NORMAL);
	m = mk("stop");
	tr_msg_add_str(m, "shutdown:bye");
	tr_send(x, m);
	terminated("c2", "shutdown:bye");
	tr_child_counts_t cc;
	cr_assert_eq(tr_supervisor_count_children(node, sup, &cc), TR_OK);
	cr_assert_eq(cc.specs, 2, "the temporary child is forgotten");
	cr_assert_eq(cc.active, 1, "the transient child stays down");
	cr_assert_eq(cc.workers, 2);
	/* an abnormal exit restarts a transient child */
	tr_pid_t t2;
	cr_assert_eq(tr_supervisor_restart_child(node, sup, "c1", &t2), TR_OK);
	started("c1");
	m = mk("stop");
	tr_msg_add_str(m, "crash");
	tr_send(t2, m);
	terminated("c1", "crash");
	started("c1");
	stop_sup(sup, 2);
}

Test(supervisor, too_many_restarts_end_the_supervisor_with_shutdown)
{
	tr_sup_flags_t f;
	tr_sup_flags_init(&f);
	f.intensity = 2;
	f.period_ms = 60000;
	tr_child_spec_t s[2] = {spec(0, TR_PERMANENT), spec(1, TR_PERMANENT)};
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, &f, s, 2, NULL, &sup, NULL),
	             TR_OK);
	started("c0");
	tr_pid_t k = started("c1");
	tr_ref_t r = mon(sup);
	for (int i = 0; i < 2; i++) { /* two restarts are allowed */
		tr_exit(k, TR_KILL);
		terminated("c1", TR_KILLED);
		k = started("c1");
	}
	tr_exit(k, TR_KILL); /* the third is one too many */
	terminated("c1", TR_KILLED);
	terminated("c0", TR_SHUTDOWN);
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, TR_SHUTDOWN);
}

Test(supervisor, shutdown_kinds_and_order)
{
	tr_sup_flags_t f;
	tr_sup_flags_init(&f);
	struct wcfg stubborn = {"stub", true, TR_OK, 0};
	tr_child_spec_t s[3] = {spec(0, TR_PERMANENT), spec(1, TR_PERMANENT),
	                        spec(2, TR_PERMANENT)};
	s[0].shutdown = TR_SHUTDOWN_BRUTAL;
	s[1].id = "stub"; /* ignores "shutdown": killed after 100 ms */
	s[1].arg = &stubborn;
	s[1].shutdown = TR_SHUTDOWN_TIMEOUT;
	s[1].shutdown_ms = 100;
	s[2].shutdown = TR_SHUTDOWN_INFINITY;
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, &f, s, 3, NULL, &sup, NULL),
	             TR_OK);
	started("c0");
	started("stub");
	started("c2");
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
	terminated("c2", TR_SHUTDOWN);
	terminated("stub", TR_KILLED);
	terminated("c0", TR_KILLED);
}

static tr_err ignore_start(void *ctx, tr_pid_t *out)
{
	(void)ctx;
	*out = TR_PID_NONE;
	return TR_OK;
}

Test(supervisor, the_child_api)
{
	tr_pid_t k[1];
	tr_pid_t sup = start_sup(TR_ONE_FOR_ONE, 1, TR_PERMANENT, k);
	tr_child_spec_t s1 = spec(1, TR_PERMANENT), dup = spec(0, TR_PERMANENT);
	tr_pid_t p;
	cr_assert_eq(tr_supervisor_start_child(node, sup, &s1, &p), TR_OK);
	cr_assert(tr_pid_eq(started("c1"), p));
	cr_assert_eq(tr_supervisor_start_child(node, sup, &dup, &p), TR_EEXIST);
	cr_assert_eq(tr_supervisor_delete_child(node, sup, "c1"), TR_ESTATE);
	cr_assert_eq(tr_supervisor_restart_child(node, sup, "c1", &p),
	             TR_EEXIST);
	cr_assert_eq(tr_supervisor_terminate_child(node, sup, "c1"), TR_OK);
	terminated("c1", TR_SHUTDOWN);
	cr_assert_eq(tr_supervisor_terminate_child(node, sup, "c1"), TR_OK,
	             "idempotent");
	tr_child_counts_t cc;
	tr_supervisor_count_children(node, sup, &cc);
	cr_assert_eq(cc.specs, 2);
	cr_assert_eq(cc.active, 1);
	cr_assert_eq(tr_supervisor_restart_child(node, sup, "c1", &p), TR_OK);
	cr_assert(tr_pid_eq(started("c1"), p));
	cr_assert_eq(tr_supervisor_terminate_child(node, sup, "c1"), TR_OK);
	terminated("c1", TR_SHUTDOWN);
	cr_assert_eq(tr_supervisor_delete_child(node, sup, "c1"), TR_OK);
	cr_assert_eq(tr_supervisor_delete_child(node, sup, "c1"), TR_ENOENT);
	cr_assert_eq(tr_supervisor_terminate_child(node, sup, "zz"), TR_ENOENT);
	/* ignore: a permanent child is kept without a pid, a temporary one
	 * is not kept */
	tr_child_spec_t ig;
	tr_child_spec_init(&ig);
	ig.id = "ign";
	ig.start = ignore_start;
	cr_assert_eq(tr_supervisor_start_child(node, sup, &ig, &p), TR_OK);
	cr_assert(tr_pid_is_none(p));
	ig.id = "ign_tmp";
	ig.restart = TR_TEMPORARY;
	cr_assert_eq(tr_supervisor_start_child(node, sup, &ig, &p), TR_OK);
	tr_supervisor_count_children(node, sup, &cc);
	cr_assert_eq(cc.specs, 2);
	cr_assert_eq(cc.active, 1);
	/* a child whose init fails is not kept */
	struct wcfg bad = {"bad", false, TR_EINVAL, 0};
	tr_child_spec_t b = spec(0, TR_PERMANENT);
	b.id = "bad";
	b.arg = &bad;
	cr_assert_eq(tr_supervisor_start_child(node, sup, &b, &p), TR_EINVAL);
	tr_supervisor_count_children(node, sup, &cc);
	cr_assert_eq(cc.specs, 2);
	/* bad specs */
	tr_child_spec_t none;
	tr_child_spec_init(&none);
	none.id = "x";
	cr_assert_eq(tr_supervisor_start_child(node, sup, &none, &p), TR_EINVAL,
	             "no start");
	stop_sup(sup, 1);
}

Test(supervisor, a_failed_start_stops_the_children_started_before)
{
	struct wcfg bad = {"bad", false, TR_EINVAL, 0};
	tr_child_spec_t s[3] = {spec(0, TR_PERMANENT), spec(1, TR_PERMANENT),
	                        spec(2, TR_PERMANENT)};
	s[1].id = "bad";
	s[1].arg = &bad;
	tr_pid_t sup;
	char failed[TR_CHILD_ID_MAX] = "";
	cr_assert_eq(tr_supervisor_start(node, NULL, s, 3, NULL, &sup, failed),
	             TR_EINVAL);
	cr_assert_str_eq(failed, "bad");
	started("c0");
	terminated("c0", NULL); /* by the link: the start's error */
	/* invalid specs never start anything */
	tr_child_spec_t d[2] = {spec(0, TR_PERMANENT), spec(0, TR_PERMANENT)};
	cr_assert_eq(tr_supervisor_start(node, NULL, d, 2, NULL, &sup, NULL),
	             TR_EINVAL, "two children with one id");
	d[1] = spec(1, TR_PERMANENT);
	d[1].significant = true;
	cr_assert_eq(tr_supervisor_start(node, NULL, d, 2, NULL, &sup, NULL),
	             TR_EINVAL, "significant without auto_shutdown");
}

Test(supervisor, auto_shutdown_when_a_significant_child_ends)
{
	tr_sup_flags_t f;
	tr_sup_flags_init(&f);
	f.auto_shutdown = TR_AUTO_ANY_SIGNIFICANT;
	tr_child_spec_t s[2] = {spec(0, TR_PERMANENT), spec(1, TR_TRANSIENT)};
	s[1].significant = true;
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, &f, s, 2, NULL, &sup, NULL),
	             TR_OK);
	started("c0");
	tr_pid_t sig = started("c1");
	tr_ref_t r = mon(sup);
	tr_msg_t *m = mk("stop");
	tr_msg_add_str(m, TR_NORMAL);
	tr_send(sig, m);
	terminated("c1", TR_NORMAL);
	terminated("c0", TR_SHUTDOWN);
	char reason[64];
	down(r, reason, sizeof(reason));
	cr_assert_str_eq(reason, TR_SHUTDOWN);
}

struct nest {
	tr_sup_flags_t f;
	tr_child_spec_t s[2];
};

static tr_err start_inner(void *ctx, tr_pid_t *out)
{
	struct nest *n = ctx;
	tr_spawn_opts_t o = {.link = true};
	return tr_supervisor_start(tr_node_current(), &n->f, n->s, 2, &o, out,
	                           NULL);
}

Test(supervisor, supervisors_of_supervisors)
{
	static struct nest inner;
	tr_sup_flags_init(&inner.f);
	inner.s[0] = spec(2, TR_PERMANENT);
	inner.s[1] = spec(3, TR_PERMANENT);
	tr_child_spec_t s[2] = {spec(0, TR_PERMANENT), spec(1, TR_PERMANENT)};
	s[1].id = "inner";
	s[1].beh = NULL;
	s[1].start = start_inner;
	s[1].start_ctx = &inner;
	s[1].type = TR_CHILD_SUPERVISOR;
	tr_pid_t sup;
	cr_assert_eq(tr_supervisor_start(node, NULL, s, 2, NULL, &sup, NULL),
	             TR_OK);
	started("c0");
	started("c2");
	tr_pid_t c3 = started("c3");
	tr_child_counts_t cc;
	tr_supervisor_count_children(node, sup, &cc);
	cr_assert_eq(cc.supervisors, 1);
	cr_assert_eq(cc.workers, 1);
	/* the inner one restarts its own child */
	tr_exit(c3, TR_KILL);
	terminated("c3", TR_KILLED);
	started("c3");
	/* stopping the top stops the inner tree (infinity) in order */
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
	terminated("c3", TR_SHUTDOWN);
	terminated("c2", TR_SHUTDOWN);
	terminated("c0", TR_SHUTDOWN);
}

/* ---- DynamicSupervisor -----------------------------------------------------
 */

TestSuite(dynsup, .init = setup_node, .fini = teardown_node, .timeout = 120);

Test(dynsup, children_on_demand_known_by_pid)
{
	tr_dynsup_flags_t f = {.intensity = 10, .max_children = 3};
	tr_pid_t sup;
	cr_assert_eq(tr_dynsup_start(node, &f, NULL, &sup), TR_OK);
	tr_child_spec_t perm = spec(0, TR_PERMANENT),
	                tmp = spec(1, TR_TEMPORARY),
	                tra = spec(2, TR_TRANSIENT);
	tr_pid_t p, t, r, x;
	cr_assert_eq(tr_dynsup_start_child(node, sup, &perm, &p), TR_OK);
	cr_assert(tr_pid_eq(started("c0"), p));
	cr_assert_eq(tr_dynsup_start_child(node, sup, &tmp, &t), TR_OK);
	started("c1");
	cr_assert_eq(tr_dynsup_start_child(node, sup, &tra, &r), TR_OK);
	started("c2");
	cr_assert_eq(tr_dynsup_start_child(node, sup, &perm, &x), TR_ELIMIT);
	tr_child_counts_t cc;
	cr_assert_eq(tr_supervisor_count_children(node, sup, &cc), TR_OK);
	cr_assert_eq(cc.active, 3);
	/* permanent: restarted; temporary and transient (normal): gone */
	tr_exit(p, TR_KILL);
	terminated("c0", TR_KILLED);
	tr_pid_t p2 = started("c0");
	tr_exit(t, TR_KILL);
	terminated("c1", TR_KILLED);
	tr_msg_t *m = mk("stop");
	tr_msg_add_str(m, TR_NORMAL);
	tr_send(r, m);
	terminated("c2", TR_NORMAL);
	tr_child_info_t ci[4];
	size_t n = 0;
	cr_assert_eq(tr_supervisor_which_children(node, sup, ci, 4, &n), TR_OK);
	cr_assert_eq(n, 1);
	cr_assert(tr_pid_eq(ci[0].pid, p2));
	/* terminate by pid: stopped, forgotten */
	cr_assert_eq(tr_dynsup_terminate_child(node, sup, p2), TR_OK);
	terminated("c0", TR_SHUTDOWN);
	cr_assert_eq(tr_dynsup_terminate_child(node, sup, p2), TR_ENOENT);
	tr_supervisor_count_children(node, sup, &cc);
	cr_assert_eq(cc.specs, 0);
	/* ignore keeps nothing */
	tr_child_spec_t ig;
	tr_child_spec_init(&ig);
	ig.start = ignore_start;
	cr_assert_eq(tr_dynsup_start_child(node, sup, &ig, &x), TR_OK);
	cr_assert(tr_pid_is_none(x));
	tr_supervisor_count_children(node, sup, &cc);
	cr_assert_eq(cc.specs, 0);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
}

static void quiet_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

static void quiet_terminate(void *state, const char *reason)
{
	(void)state;
	if (strcmp(reason, TR_SHUTDOWN)) /* anything else is a failure */
		tr_send(me, mk("bad_reason"));
	tr_send(me, mk_pid("gone", tr_self()));
}

static const tr_behaviour_t quiet_b = {.name = "quiet",
                                       .receive = quiet_receive,
                                       .terminate = quiet_terminate};

/* extra_arguments: the supervisor's extra comes first, then the spec's
 * own context; the started puppet is announced to `me`. */
static tr_err start_with_extra(void *extra, void *ctx, tr_pid_t *out)
{
	tr_err e = tr_spawn_link(&puppet_b, NULL, out);
	if (!e) {
		tr_msg_t *m = mk_int("started_with", *(int64_t *)extra);
		tr_msg_add_int(m, *(int64_t *)ctx);
		tr_msg_add_pid(m, *out);
		tr_send(me, m);
	}
	return e;
}

Test(dynsup, extra_arguments_reach_every_start)
{
	static int64_t extra = 40, own = 2;
	tr_dynsup_flags_t f = {.extra = &extra};
	tr_pid_t sup, child;
	cr_assert_eq(tr_dynsup_start(node, &f, NULL, &sup), TR_OK);
	tr_child_spec_t s;
	tr_child_spec_init(&s);
	s.id = "x";
	s.start_extra = start_with_extra;
	s.start_ctx = &own;
	cr_assert_eq(tr_dynsup_start_child(node, sup, &s, &child), TR_OK);
	for (int round = 0; round < 2; round++) {
		tr_msg_t *m = recv_tag("started_with");
		int64_t a = 0, b = 0;
		tr_pid_t p;
		tr_msg_get_int(m, 0, &a);
		tr_msg_get_int(m, 1, &b);
		tr_msg_get_pid(m, 2, &p);
		tr_msg_free(m);
		cr_assert_eq(a, 40);
		cr_assert_eq(b, 2);
		if (round == 0) { /* and again at the restart */
			cr_assert(tr_pid_eq(p, child));
			tr_exit(child, "crash");
		}
	}
	/* start_extra with a placement: refused */
	tr_placement_t pl = {0};
	s.place = &pl;
	cr_assert_eq(tr_dynsup_start_child(node, sup, &s, &child), TR_EINVAL);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
}

Test(dynsup, ten_thousand_children_stop_at_once)
{
	enum { N = 10000 };
	tr_pid_t sup;
	cr_assert_eq(tr_dynsup_start(node, NULL, NULL, &sup), TR_OK);
	tr_child_spec_t q;
	tr_child_spec_init(&q);
	q.beh = &quiet_b;
	static tr_pid_t ps[N];
	for (int i = 0; i < N; i++)
		cr_assert_eq(tr_dynsup_start_child(node, sup, &q, &ps[i]),
		             TR_OK);
	tr_child_counts_t cc;
	tr_supervisor_count_children(node, sup, &cc);
	cr_assert_eq(cc.active, N);
	cr_assert_eq(tr_supervisor_stop(node, sup, 60000), TR_OK);
	/* every child ended with "shutdown", each once (in no set order:
	 * they stop side by side) */
	static bool seen[N];
	for (int k = 0; k < N; k++) {
		tr_msg_t *m = recv_any();
		cr_assert(tr_msg_is(m, "gone"), "a child ended badly");
		tr_pid_t p;
		tr_msg_get_pid(m, 0, &p);
		tr_msg_free(m);
		int i = 0;
		while (i < N && !tr_pid_eq(p, ps[i]))
			i++;
		cr_assert(i < N && !seen[i], "a stranger or a second end");
		seen[i] = true;
	}
}

/* Traps exits; on its EXIT "shutdown" tells me, then ends only when told
 * ["go"] (or never, when its state says so). */
static void lingering_receive(void *state, tr_msg_t *m)
{
	bool *never = state;
	if (tr_msg_kind(m) == TR_MSG_EXIT) {
		tr_send(me, mk_pid("asked_to_stop", tr_self()));
		return;
	}
	if (tr_msg_is(m, "go") && !(never && *never))
		tr_stop(TR_SHUTDOWN);
}

static tr_err lingering_init(void **state, void *arg)
{
	*state = arg;
	return tr_trap_exit(true, NULL);
}

static const tr_behaviour_t lingering_b = {.name = "lingering",
                                           .init = lingering_init,
                                           .receive = lingering_receive};

/* A DynamicSupervisor's shutdown asks every child at once, as Elixir's:
 * all of them hear "shutdown" while none has ended yet; one that never
 * ends is killed when its own shutdown time runs out. */
Test(dynsup, shutdown_asks_every_child_at_once)
{
	enum { N = 4 };
	tr_pid_t sup;
	cr_assert_eq(tr_dynsup_start(node, NULL, NULL, &sup), TR_OK);
	static bool never = true;
	tr_child_spec_t q;
	tr_child_spec_init(&q);
	q.beh = &lingering_b;
	q.shutdown_ms = WAIT_MS;
	tr_pid_t ps[N];
	for (int i = 0; i < N; i++) {
		q.arg = i == 0 ? &never : NULL;
		if (i == 0) {
			q.shutdown = TR_SHUTDOWN_TIMEOUT;
			q.shutdown_ms = 200;
		} else {
			q.shutdown = TR_SHUTDOWN_TIMEOUT;
			q.shutdown_ms = WAIT_MS;
		}
		cr_assert_eq(tr_dynsup_start_child(node, sup, &q, &ps[i]),
		             TR_OK);
	}
	tr_ref_t ref = mon(sup);
	cr_assert_eq(tr_exit(sup, TR_SHUTDOWN), TR_OK);
	/* one at a time, only one child would hear it before the test
	 * tells it to go */
	for (int k = 0; k < N; k++)
		tr_msg_free(recv_tag("asked_to_stop"));
	for (int i = 1; i < N; i++)
		cr_assert_eq(tr_send(ps[i], mk("go")), TR_OK);
	char why[64];
	down(ref, why, sizeof(why));
	cr_assert_str_eq(why, TR_SHUTDOWN);
	for (int i = 0; i < N; i++)
		cr_assert(!tr_is_alive(ps[i]),
		          "child %d outlived its "
		          "supervisor",
		          i);
}

/* ---- Task
 * -------------------------------------------------------------------- */

TestSuite(task, .init = setup_node, .fini = teardown_node, .timeout = 60);

static tr_err square(void *arg, tr_msg_t **result)
{
	int64_t v = *(int64_t *)arg;
	*result = mk_int("square", v * v);
	return TR_OK;
}

static tr_err failing(void *arg, tr_msg_t **result)
{
	(void)arg;
	(void)result;
	return TR_EINVAL;
}

/* Waits for a "go" from the test before answering. */
static tr_err gated(void *arg, tr_msg_t **result)
{
	tr_inbox_t *gate = arg;
	tr_msg_t *m = NULL;
	if (tr_inbox_receive(gate, WAIT_MS, &m))
		return TR_ETIMEDOUT;
	tr_msg_free(m);
	*result = mk("late");
	return TR_OK;
}

Test(task, async_and_await)
{
	int64_t v = 12;
	tr_task_t t;
	cr_assert_eq(tr_task_async(node, square, &v, &t), TR_OK);
	tr_msg_t *r = NULL;
	cr_assert_eq(tr_task_await(&t, WAIT_MS, &r, NULL, 0), TR_OK);
	int64_t got;
	cr_assert(tr_msg_is(r, "square"));
	cr_assert_eq(tr_msg_get_int(r, 0, &got), TR_OK);
	cr_assert_eq(got, 144);
	tr_msg_free(r);
	/* a failing function: its error is the task's exit reason */
	char why[64];
	cr_assert_eq(tr_task_async(node, failing, NULL, &t), TR_OK);
	cr_assert_eq(tr_task_await(&t, WAIT_MS, &r, why, sizeof(why)),
	             TR_EEXITED);
	cr_assert_str_eq(why, "TR_EINVAL");
}

Test(task, yield_then_await_and_late_results_never_arrive)
{
	tr_inbox_t *gate;
	cr_assert_eq(tr_inbox_new(node, &gate), TR_OK);
	tr_task_t t;
	cr_assert_eq(tr_task_async(node, gated, gate, &t), TR_OK);
	tr_msg_t *r = NULL;
	cr_assert_eq(tr_task_yield(&t, 50, &r, NULL, 0), TR_ETIMEDOUT);
	cr_assert_null(r);
	tr_send(tr_inbox_pid(gate), mk("go"));
	cr_assert_eq(tr_task_await(&t, WAIT_MS, &r, NULL, 0), TR_OK);
	cr_assert(tr_msg_is(r, "late"));
	tr_msg_free(r);
	/* await's timeout ends the task and its inbox: nothing of it can
	 * arrive later (the kill lands when its function returns) */
	cr_assert_eq(tr_task_async(node, gated, gate, &t), TR_OK);
	tr_pid_t pid = t.pid;
	tr_ref_t ref = mon(pid);
	cr_assert_eq(tr_task_await(&t, 50, &r, NULL, 0), TR_ETIMEDOUT);
	cr_assert_eq(tr_task_yield(&t, 10, &r, NULL, 0), TR_EINVAL,
	             "finished with");
	tr_send(tr_inbox_pid(gate), mk("go"));
	char why[32];
	down(ref, why, sizeof(why));
	/* (the kill may overtake the monitor: noproc) */
	cr_assert(!strcmp(why, TR_KILLED) || !strcmp(why, TR_NORMAL) ||
	                  !strcmp(why, TR_NOPROC),
	          "%s", why);
	/* shutdown of a task that has not finished (it is stopped when its
	 * function returns: its result is dropped) */
	cr_assert_eq(tr_task_async(node, gated, gate, &t), TR_OK);
	tr_send(tr_inbox_pid(gate), mk("go"));
	tr_err se = tr_task_shutdown(&t, true, &r);
	cr_assert(se == TR_ECANCELED || se == TR_OK, "%s", tr_err_name(se));
	tr_msg_free(r);
	/* ignore: it runs on, its result goes nowhere */
	static int64_t three = 3; /* outlives the task */
	cr_assert_eq(tr_task_async(node, square, &three, &t), TR_OK);
	pid = t.pid;
	ref = mon(pid);
	tr_task_ignore(&t);
	down(ref, why, sizeof(why)); /* noproc if it was that quick */
	cr_assert(!strcmp(why, TR_NORMAL) || !strcmp(why, TR_NOPROC), "%s",
	          why);
	tr_inbox_destroy(gate);
}

Test(task, yield_many_and_await_many)
{
	tr_inbox_t *gate;
	cr_assert_eq(tr_inbox_new(node, &gate), TR_OK);
	static int64_t two = 2, three = 3;
	tr_task_t t[3];
	tr_err st[3];
	tr_msg_t *r[3];
	cr_assert_eq(tr_task_async(node, square, &two, &t[0]), TR_OK);
	cr_assert_eq(tr_task_async(node, gated, gate, &t[1]), TR_OK);
	cr_assert_eq(tr_task_async(node, failing, NULL, &t[2]), TR_OK);
	cr_assert_eq(tr_task_yield_many(t, 3, 100, false, st, r), TR_OK);
	cr_assert_eq(st[0], TR_OK);
	int64_t got = 0;
	cr_assert_eq(tr_msg_get_int(r[0], 0, &got), TR_OK);
	cr_assert_eq(got, 4);
	tr_msg_free(r[0]);
	cr_assert_eq(st[1], TR_ETIMEDOUT, "the gated one still runs");
	cr_assert_null(r[1]);
	cr_assert_eq(st[2], TR_EEXITED);
	/* the one still running can be awaited afterwards */
	tr_send(tr_inbox_pid(gate), mk("go"));
	cr_assert_eq(tr_task_await(&t[1], WAIT_MS, &r[1], NULL, 0), TR_OK);
	cr_assert(tr_msg_is(r[1], "late"));
	tr_msg_free(r[1]);
	/* on timeout, kill_late ends and forgets it */
	cr_assert_eq(tr_task_async(node, gated, gate, &t[0]), TR_OK);
	tr_ref_t ref = mon(t[0].pid);
	cr_assert_eq(tr_task_yield_many(t, 1, 20, true, st, r), TR_OK);
	cr_assert_eq(st[0], TR_ETIMEDOUT);
	cr_assert_eq(tr_task_yield(&t[0], 10, &r[0], NULL, 0), TR_EINVAL,
	             "finished with");
	tr_send(tr_inbox_pid(gate), mk("go"));
	char why[32];
	down(ref, why, sizeof(why));
	/* await_many: all results, in order */
	cr_assert_eq(tr_task_async(node, square, &two, &t[0]), TR_OK);
	cr_assert_eq(tr_task_async(node, square, &three, &t[1]), TR_OK);
	cr_assert_eq(tr_task_await_many(t, 2, WAIT_MS, r), TR_OK);
	tr_msg_get_int(r[0], 0, &got);
	cr_assert_eq(got, 4);
	tr_msg_get_int(r[1], 0, &got);
	cr_assert_eq(got, 9);
	tr_msg_free(r[0]);
	tr_msg_free(r[1]);
	/* ... or none: one fails */
	cr_assert_eq(tr_task_async(node, square, &two, &t[0]), TR_OK);
	cr_assert_eq(tr_task_async(node, failing, NULL, &t[1]), TR_OK);
	cr_assert_eq(tr_task_await_many(t, 2, WAIT_MS, r), TR_EEXITED);
	cr_assert_null(r[0]);
	cr_assert_null(r[1]);
	/* ... or one is too slow: it is killed */
	cr_assert_eq(tr_task_async(node, square, &two, &t[0]), TR_OK);
	cr_assert_eq(tr_task_async(node, gated, gate, &t[1]), TR_OK);
	ref = mon(t[1].pid);
	cr_assert_eq(tr_task_await_many(t, 2, 50, r), TR_ETIMEDOUT);
	cr_assert_null(r[0]);
	tr_send(tr_inbox_pid(gate), mk("go"));
	down(ref, why, sizeof(why));
	/* the kill lands when its function returns */
	cr_assert(!strcmp(why, TR_KILLED) || !strcmp(why, TR_NORMAL) ||
	                  !strcmp(why, TR_NOPROC),
	          "%s", why);
	cr_assert_eq(tr_task_yield_many(NULL, 1, 0, false, st, r), TR_EINVAL);
	tr_inbox_destroy(gate);
}

/* Tells `me` it ran. */
static tr_err report(void *arg, tr_msg_t **result)
{
	tr_send(*(tr_pid_t *)arg, mk("ran"));
	*result = mk("dropped");
	return TR_OK;
}

Test(task, start_and_task_supervisor_start_child)
{
	static tr_pid_t to;
	to = me;
	tr_pid_t pid;
	cr_assert_eq(tr_task_start(node, report, &to, &pid), TR_OK);
	tr_msg_free(recv_tag("ran"));
	char why[32];
	await_death(pid, why, sizeof(why));
	/* under a task supervisor: a temporary child, never restarted */
	tr_pid_t sup;
	cr_assert_eq(tr_dynsup_start(node, NULL, NULL, &sup), TR_OK);
	tr_inbox_t *gate;
	cr_assert_eq(tr_inbox_new(node, &gate), TR_OK);
	cr_assert_eq(tr_task_sup_start_child(node, sup, gated, gate, &pid),
	             TR_OK);
	tr_child_counts_t cc;
	cr_assert_eq(tr_supervisor_count_children(node, sup, &cc), TR_OK);
	cr_assert_eq(cc.active, 1);
	/* (a monitor set now would wait behind the blocked function: the
	 * DOWN could say noproc; the supervisor's count tells the rest) */
	tr_send(tr_inbox_pid(gate), mk("go"));
	await_death(pid, why, sizeof(why));
	/* a failing one ends with its error, and is not restarted */
	cr_assert_eq(tr_task_sup_start_child(node, sup, failing, NULL, &pid),
	             TR_OK);
	await_death(pid, why, sizeof(why));
	cr_assert_eq(tr_supervisor_count_children(node, sup, &cc), TR_OK);
	cr_assert_eq(cc.active, 0);
	cr_assert_eq(cc.specs, 0);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
	tr_inbox_destroy(gate);
}

/* An actor that starts a task and reports its result to `me`. */
static void owner_receive(void *state, tr_msg_t *m)
{
	static int64_t v = 7;
	tr_ref_t ref;
	tr_msg_t *res = NULL;
	(void)state;
	if (tr_msg_is(m, "start")) {
		tr_task_t t;
		tr_err e = tr_task_async(NULL, square, &v, &t);
		tr_send(me, mk_int("started_task", e));
	} else if (tr_task_result(m, &ref, &res)) {
		tr_demonitor(ref, TR_DEMONITOR_FLUSH);
		int64_t got = -1;
		tr_msg_get_int(res, 0, &got);
		tr_msg_free(res);
		tr_send(me, mk_int("task_done", got));
	}
}

static const tr_behaviour_t owner_b = {.name = "owner",
                                       .receive = owner_receive};

Test(task, an_actor_owns_a_task)
{
	tr_pid_t o;
	cr_assert_eq(tr_spawn(node, &owner_b, NULL, &o), TR_OK);
	tr_send(o, mk("start"));
	tr_msg_t *m = recv_tag("started_task");
	int64_t v;
	tr_msg_get_int(m, 0, &v);
	cr_assert_eq(v, TR_OK);
	tr_msg_free(m);
	m = recv_tag("task_done");
	tr_msg_get_int(m, 0, &v);
	cr_assert_eq(v, 49);
	tr_msg_free(m);
}

Test(task, async_nolink_under_a_task_supervisor)
{
	tr_pid_t sup;
	cr_assert_eq(tr_dynsup_start(node, NULL, NULL, &sup), TR_OK);
	tr_task_t t;
	int64_t v = 5;
	cr_assert_eq(tr_task_async_nolink(node, sup, square, &v, &t), TR_OK);
	tr_msg_t *r = NULL;
	cr_assert_eq(tr_task_await(&t, WAIT_MS, &r, NULL, 0), TR_OK);
	int64_t got;
	tr_msg_get_int(r, 0, &got);
	cr_assert_eq(got, 25);
	tr_msg_free(r);
	/* a crash: the caller hears of it, the supervisor does not restart
	 * a temporary task and lives on */
	char why[32];
	cr_assert_eq(tr_task_async_nolink(node, sup, failing, NULL, &t), TR_OK);
	cr_assert_eq(tr_task_await(&t, WAIT_MS, &r, why, sizeof(why)),
	             TR_EEXITED);
	tr_child_counts_t cc;
	cr_assert_eq(tr_supervisor_count_children(node, sup, &cc), TR_OK);
	cr_assert_eq(cc.active, 0);
	cr_assert_eq(tr_supervisor_stop(node, sup, WAIT_MS), TR_OK);
}

struct stream_out {
	size_t order[16], n;
	int64_t val[16];
	tr_err st[16];
};

static void collect_out(void *ctx, size_t i, tr_err status, tr_msg_t *result)
{
	struct stream_out *o = ctx;
	o->order[o->n++] = i;
	o->st[i] = status;
	o->val[i] = -1;
	if (result)
		tr_msg_get_int(result, 0, &o->val[i]);
	tr_msg_free(result);
}

/* Inputs: a value to square; 0 fails; -1 is slow work that goes on
 * until the test lets it stop (at most WAIT_MS). */
static _Atomic int slow_may_stop;

static tr_err square_or_not(void *arg, tr_msg_t **result)
{
	int64_t v = *(int64_t *)arg;
	if (v == 0)
		return TR_EINVAL;
	if (v < 0) {
		for (int ms = 0; ms < WAIT_MS && !atomic_load(&slow_may_stop);
		     ms++)
			nanosleep(&(struct timespec){0, 1000000}, NULL);
		*result = mk("slow");
		return TR_OK;
	}
	*result = mk_int("square", v * v);
	return TR_OK;
}

Test(task, async_stream_bounded_ordered_and_not)
{
	static int64_t in[8] = {1, 2, 3, 0, 5, 6, 7, 8};
	void *args[8];
	for (int i = 0; i < 8; i++)
		args[i] = &in[i];
	for (int ord = 0; ord < 2; ord++) {
		struct stream_out o = {0};
		cr_assert_eq(tr_task_async_stream(node, square_or_not, args, 8,
		                                  2, ord, WAIT_MS, collect_out,
		                                  &o),
		             TR_OK);
		cr_assert_eq(o.n, 8);
		for (int i = 0; i < 8; i++) {
			if (ord)
				cr_assert_eq(o.order[i], (size_t)i, "ordered");
			if (in[i]) {
				cr_assert_eq(o.st[i], TR_OK);
				cr_assert_eq(o.val[i], in[i] * in[i]);
			} else {
				cr_assert_eq(o.st[i], TR_EEXITED);
			}
		}
	}
	/* a task that overruns its time is killed and reported */
	static int64_t slow[2] = {-1, 4};
	void *sargs[2] = {&slow[0], &slow[1]};
	struct stream_out o = {0};
	cr_assert_eq(tr_task_async_stream(node, square_or_not, sargs, 2, 2,
	                                  true, 100, collect_out, &o),
	             TR_OK);
	cr_assert_eq(o.st[0], TR_ETIMEDOUT);
	cr_assert_eq(o.st[1], TR_OK);
	cr_assert_eq(o.val[1], 16);
	atomic_store(&slow_may_stop, 1); /* let it end */
}
