/*
 * tests/registry/test_registry.c - Registry (one node) and via-names.
 * Registry cases run with 1 and with 8 partitions.
 */
#include "../helpers/helpers.h"

#define SECRET "a cluster secret for the tests"

static tr_registry_t *mkreg(tr_registry_keys_t keys, unsigned parts,
                            bool listen)
{
	tr_registry_opts_t o;
	tr_registry_opts_init(&o);
	o.keys = keys;
	o.partitions = parts;
	o.name = "reg";
	if (listen) {
		o.listeners = &me;
		o.listeners_n = 1;
	}
	tr_registry_t *r;
	cr_assert_eq(tr_registry_new(node, &o, &r), TR_OK);
	return r;
}

/* ["unregister", "reg", key, pid] from the listener feed */
static void expect_unregister(const char *key, tr_pid_t pid)
{
	for (;;) {
		tr_msg_t *m = recv_tag("unregister");
		char k[64];
		tr_pid_t p;
		cr_assert_eq(tr_msg_get_strbuf(m, 1, k, sizeof(k)), TR_OK);
		cr_assert_eq(tr_msg_get_pid(m, 2, &p), TR_OK);
		tr_msg_free(m);
		if (!strcmp(k, key) && tr_pid_eq(p, pid))
			return;
	}
}

static void unique_case(unsigned parts)
{
	tr_registry_t *r = mkreg(TR_KEYS_UNIQUE, parts, true);
	tr_pid_t p = spawn_puppet(), q = spawn_puppet();
	cr_assert_eq(tr_registry_register(r, "k", p, "\x2a", 1), TR_OK);
	tr_msg_t *m = recv_tag("register");
	tr_msg_free(m);
	cr_assert_eq(tr_registry_register(r, "k", q, NULL, 0), TR_EEXIST);
	cr_assert_eq(tr_registry_register(r, "k", p, NULL, 0), TR_EEXIST);
	cr_assert_eq(tr_registry_register(r, "k2", p, NULL, 0), TR_OK,
	             "an actor may hold many keys");
	tr_pid_t out[4];
	size_t n = 0;
	cr_assert_eq(tr_registry_lookup(r, "k", out, 4, &n), TR_OK);
	cr_assert_eq(n, 1);
	cr_assert(tr_pid_eq(out[0], p));
	cr_assert_eq(tr_registry_lookup(r, "none", out, 4, &n), TR_OK);
	cr_assert_eq(n, 0);
	uint8_t v[8];
	size_t vl;
	cr_assert_eq(tr_registry_value(r, "k", p, v, sizeof(v), &vl), TR_OK);
	cr_assert_eq(vl, 1);
	cr_assert_eq(v[0], 0x2a);
	cr_assert_eq(tr_registry_update_value(r, "k", p, "\xa2hi", 3), TR_OK);
	cr_assert_eq(tr_registry_value(r, "k", p, v, sizeof(v), &vl), TR_OK);
	cr_assert_eq(vl, 3);
	cr_assert_eq(memcmp(v, "\xa2hi", 3), 0);
	cr_assert_eq(tr_registry_update_value(r, "k", q, NULL, 0), TR_ENOENT);
	cr_assert_eq(tr_registry_count(r), 2);
	size_t nk = 0;
	cr_assert_eq(tr_registry_keys(r, p, NULL, NULL, &nk), TR_OK);
	cr_assert_eq(nk, 2);
	/* unregister, then q may take it */
	cr_assert_eq(tr_registry_unregister(r, "k", p), TR_OK);
	expect_unregister("k", p);
	cr_assert_eq(tr_registry_register(r, "k", q, NULL, 0), TR_OK);
	/* entries vanish with their actor (the owner cleans up) */
	tr_exit(p, TR_KILL);
	expect_unregister("k2", p);
	cr_assert_eq(tr_registry_lookup(r, "k2", out, 4, &n), TR_OK);
	cr_assert_eq(n, 0);
	cr_assert_eq(tr_registry_count(r), 1);
	/* a dead holder never blocks the key: its entry is reclaimed even
	 * before the owner got to it */
	char reason[32];
	tr_exit(q, TR_KILL);
	await_death(q, reason, sizeof(reason));
	tr_pid_t s = spawn_puppet();
	cr_assert_eq(tr_registry_register(r, "k", s, NULL, 0), TR_OK);
	cr_assert_eq(tr_registry_lookup(r, "k", out, 4, &n), TR_OK);
	cr_assert_eq(n, 1);
	cr_assert(tr_pid_eq(out[0], s));
	/* errors */
	cr_assert_eq(tr_registry_register(r, "x", q, NULL, 0), TR_ENOENT);
	cr_assert_eq(tr_registry_register(r, "x", s, "\xc1", 1), TR_EPROTO);
	cr_assert_eq(tr_registry_register(r, "x", s, "\x92\x01", 2), TR_EPROTO,
	             "truncated array");
	tr_pid_t remote = {tr_node_id_of_name("elsewhere"), 1, 1};
	cr_assert_eq(tr_registry_register(r, "x", remote, NULL, 0), TR_EINVAL);
	cr_assert_eq(tr_registry_register(NULL, "x", s, NULL, 0), TR_EINVAL);
	cr_assert_eq(tr_registry_register(r, NULL, s, NULL, 0), TR_EINVAL);
	cr_assert_eq(tr_registry_count(r), 1, "failures leave nothing");
	tr_registry_destroy(r);
}

Test(registry, unique_keys, .init = setup_node, .fini = teardown_node)
{
	unique_case(1);
}

Test(registry, unique_keys_8_partitions, .init = setup_node,
     .fini = teardown_node)
{
	unique_case(8);
}

static bool value_is_1(const char *key, size_t len,
                       const tr_registry_entry_t *e, void *ctx)
{
	(void)key;
	(void)len;
	(void)ctx;
	return e->value_len == 1 && ((const uint8_t *)e->value)[0] == 1;
}

struct disp {
	size_t n;
	tr_pid_t pids[16];
};

static void dispatch_fn(const tr_registry_entry_t *es, size_t n, void *ctx)
{
	struct disp *d = ctx;
	d->n = n;
	for (size_t i = 0; i < n && i < 16; i++) {
		d->pids[i] = es[i].pid;
		tr_send(es[i].pid, mk("ping")); /* pub/sub */
	}
}

static bool select_all(const char *key, size_t len,
                       const tr_registry_entry_t *e, void *ctx)
{
	(void)key;
	(void)len;
	(void)e;
	(*(size_t *)ctx)++;
	return true;
}

static void duplicate_case(tr_registry_keys_t keys, unsigned parts)
{
	tr_registry_t *r = mkreg(keys, parts, false);
	tr_pid_t ps[6];
	for (int i = 0; i < 6; i++) {
		ps[i] = spawn_puppet();
		uint8_t v = (uint8_t)(i % 2); /* fixint 0 or 1 */
		cr_assert_eq(tr_registry_register(r, "topic", ps[i], &v, 1),
		             TR_OK);
	}
	/* the same actor twice under one key is allowed */
	cr_assert_eq(tr_registry_register(r, "topic", ps[0], "\x01", 1), TR_OK);
	cr_assert_eq(tr_registry_count(r), 7);
	tr_pid_t out[16];
	size_t n;
	cr_assert_eq(tr_registry_lookup(r, "topic", out, 16, &n), TR_OK);
	cr_assert_eq(n, 7);
	cr_assert_eq(
	        tr_registry_match(r, "topic", value_is_1, NULL, out, 16, &n),
	        TR_OK);
	cr_assert_eq(n, 4);
	cr_assert_eq(tr_registry_count_match(r, "topic", value_is_1, NULL), 4);
	struct disp d = {0};
	cr_assert_eq(tr_registry_dispatch(r, "topic", dispatch_fn, &d, &n),
	             TR_OK);
	cr_assert_eq(d.n, 7);
	/* each entry got the message (ps[0] twice) */
	for (int i = 0; i < 7; i++)
		tr_msg_free(recv_tag("pong"));
	size_t all = 0;
	cr_assert_eq(tr_registry_select(r, select_all, &all), TR_OK);
	cr_assert_eq(all, 7);
	/* unregister_match removes ps[0]'s value-1 entry only */
	cr_assert_eq(tr_registry_unregister_match(r, "topic", ps[0], value_is_1,
	                                          NULL, &n),
	             TR_OK);
	cr_assert_eq(n, 1);
	cr_assert_eq(tr_registry_count(r), 6);
	cr_assert_eq(tr_registry_update_value(r, "topic", ps[0], NULL, 0),
	             TR_ENOTSUP);
	/* deaths clean up */
	for (int i = 0; i < 6; i++) {
		tr_ref_t ref = mon(ps[i]);
		tr_exit(ps[i], TR_KILL);
		down(ref, NULL, 0);
	}
	tr_registry_destroy(r);
}

Test(registry, duplicate_keys_are_local_pubsub, .init = setup_node,
     .fini = teardown_node)
{
	duplicate_case(TR_KEYS_DUPLICATE, 1);
	duplicate_case(TR_KEYS_DUPLICATE, 8);
	duplicate_case(TR_KEYS_DUPLICATE_BY_KEY, 8);
}

Test(registry, many_deaths_leave_an_empty_registry, .init = setup_node,
     .fini = teardown_node)
{
	enum { N = 300 };
	tr_registry_t *r = mkreg(TR_KEYS_DUPLICATE, 8, true);
	static tr_pid_t ps[N];
	for (int i = 0; i < N; i++) {
		ps[i] = spawn_puppet();
		cr_assert_eq(tr_registry_register(r, "all", ps[i], NULL, 0),
		             TR_OK);
		char k[16];
		snprintf(k, sizeof(k), "own%d", i);
		cr_assert_eq(tr_registry_register(r, k, ps[i], NULL, 0), TR_OK);
	}
	for (int i = 0; i < 2 * N; i++)
		tr_msg_free(recv_tag("register"));
	for (int i = 0; i < N; i++)
		tr_exit(ps[i], TR_KILL);
	for (int i = 0; i < 2 * N; i++)
		tr_msg_free(recv_tag("unregister"));
	cr_assert_eq(tr_registry_count(r), 0);
	tr_registry_destroy(r);
}

Test(registry, meta, .init = setup_node, .fini = teardown_node)
{
	tr_registry_t *r = mkreg(TR_KEYS_UNIQUE, 1, false);
	char buf[16];
	size_t n;
	cr_assert_eq(tr_registry_meta(r, "m", buf, sizeof(buf), &n), TR_ENOENT);
	cr_assert_eq(tr_registry_put_meta(r, "m", "abc", 3), TR_OK);
	cr_assert_eq(tr_registry_put_meta(r, "m", "abcd", 4), TR_OK);
	cr_assert_eq(tr_registry_meta(r, "m", buf, sizeof(buf), &n), TR_OK);
	cr_assert_eq(n, 4);
	cr_assert_eq(memcmp(buf, "abcd", 4), 0);
	cr_assert_eq(tr_registry_meta(r, "m", buf, 2, &n), TR_ELIMIT);
	cr_assert_eq(tr_registry_delete_meta(r, "m"), TR_OK);
	cr_assert_eq(tr_registry_delete_meta(r, "m"), TR_ENOENT);
	tr_registry_destroy(r);
}

/* ---- via ------------------------------------------------------------------
 */

/* A registry written by a user: a fixed table. */
struct tiny {
	char names[4][16];
	tr_pid_t pids[4];
};

static tr_err tiny_register(void *reg, const char *name, tr_pid_t pid)
{
	struct tiny *t = reg;
	for (int i = 0; i < 4; i++)
		if (!strcmp(t->names[i], name))
			return TR_EEXIST;
	for (int i = 0; i < 4; i++)
		if (!t->names[i][0]) {
			snprintf(t->names[i], 16, "%s", name);
			t->pids[i] = pid;
			return TR_OK;
		}
	return TR_ELIMIT;
}

static tr_err tiny_unregister(void *reg, const char *name)
{
	struct tiny *t = reg;
	for (int i = 0; i < 4; i++)
		if (!strcmp(t->names[i], name)) {
			t->names[i][0] = 0;
			return TR_OK;
		}
	return TR_ENOENT;
}

static tr_err tiny_whereis(void *reg, const char *name, tr_pid_t *out)
{
	struct tiny *t = reg;
	for (int i = 0; i < 4; i++)
		if (t->names[i][0] && !strcmp(t->names[i], name)) {
			*out = t->pids[i];
			return TR_OK;
		}
	return TR_ENOENT;
}

static const tr_via_ops_t tiny_ops = {"tiny", tiny_register, tiny_unregister,
                                      tiny_whereis, NULL};

/* Answers calls; plain "ping" gets ["pong", self] sent to `me`. */
static void both_receive(void *state, tr_msg_t *m)
{
	(void)state;
	if (tr_msg_kind(m) == TR_MSG_CALL) {
		tr_from_t from;
		tr_msg_from(m, &from);
		tr_reply(&from, mk("reply"));
	} else if (tr_msg_is(m, "ping")) {
		tr_send(me, mk_pid("pong", tr_self()));
	}
}

static const tr_behaviour_t both_b = {.name = "both", .receive = both_receive};

/* The same checks through any registry. */
static void via_case(const tr_name_t *n)
{
	tr_pid_t p, holder, w;
	cr_assert_eq(tr_via_whereis(n, &w), TR_ENOENT);
	tr_msg_t *m = mk("ping");
	cr_assert_eq(tr_via_send(n, m), TR_ENOENT, "%s", n->ops->kind);
	tr_msg_free(m);
	cr_assert_eq(tr_via_spawn(node, &both_b, NULL, NULL, n, &p), TR_OK,
	             "%s", n->ops->kind);
	cr_assert_eq(tr_via_whereis(n, &w), TR_OK);
	cr_assert(tr_pid_eq(w, p));
	cr_assert_eq(tr_via_send(n, mk("ping")), TR_OK);
	tr_msg_free(recv_tag("pong"));
	tr_msg_t *rep = NULL;
	cr_assert_eq(tr_via_call(node, n, mk("ping"), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	cr_assert(tr_msg_is(rep, "reply"));
	tr_msg_free(rep);
	/* a second start finds the first: {error, {already_started, P}} */
	cr_assert_eq(tr_via_spawn(node, &both_b, NULL, NULL, n, &holder),
	             TR_EEXIST);
	cr_assert(tr_pid_eq(holder, p));
	cr_assert_eq(tr_via_unregister(n), TR_OK);
	cr_assert_eq(tr_via_whereis(n, &w), TR_ENOENT);
	cr_assert_eq(tr_via_register(n, p), TR_OK);
	cr_assert_eq(tr_via_whereis(n, &w), TR_OK);
	tr_exit(p, TR_KILL);
}

Test(via, every_registry_through_one_interface, .init = setup_node,
     .fini = teardown_node, .timeout = 60)
{
	tr_name_t n = tr_name_local(node, "loc");
	via_case(&n);
	tr_registry_t *r = mkreg(TR_KEYS_UNIQUE, 4, false);
	n = tr_name_registry(r, "regkey");
	via_case(&n);
	struct tiny t = {0};
	n = (tr_name_t){&tiny_ops, &t, "mine"};
	via_case(&n);
	/* the global registry of a one-node cluster */
	tr_net_opts_t o;
	tr_net_opts_init(&o);
	o.secret = SECRET;
	o.secret_len = strlen(SECRET);
	tr_net_t *net;
	cr_assert_eq(tr_net_start(node, &o, &net), TR_OK);
	tr_global_t *g;
	cr_assert_eq(tr_global_start(net, NULL, &g), TR_OK);
	cr_assert_eq(tr_global_sync(g, WAIT_MS), TR_OK);
	n = tr_name_global(g, "glob");
	via_case(&n);
	/* bad input */
	tr_name_t bad = {NULL, NULL, "x"};
	tr_pid_t p;
	cr_assert_eq(tr_via_whereis(&bad, &p), TR_EINVAL);
	n = tr_name_local(node, "");
	cr_assert_eq(tr_via_whereis(&n, &p), TR_EINVAL);
	tr_global_stop(g);
	tr_registry_destroy(r);
}
