/*
 * tests/net/test_net.c - several nodes in one process, over ZeroMQ on
 * 127.0.0.1:* (each Criterion case is its own process with its own
 * ports). Node a is the helpers' `node` with its `inbox`; every wait is on
 * a message with a timeout.
 */
#include <pthread.h>
#include <time.h>
#include <zmq.h>

#include "../helpers/helpers.h"

#define SECRET "a cluster secret for the tests"

static tr_node_t *nb, *nc;
static tr_net_t *neta, *netb, *netc;

static tr_node_t *mknode(const char *name)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 2;
	o.name = name;
	tr_node_t *n;
	cr_assert_eq(tr_node_new(&n, &o), TR_OK);
	return n;
}

static _Atomic int log_lines[4]; /* by level, from every node's net */

static void count_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	(void)line;
	if (level >= 0 && level < 4)
		log_lines[level]++;
}

static tr_net_t *mknet(tr_node_t *n, const char *secret)
{
	tr_net_opts_t o;
	tr_net_opts_init(&o);
	o.log = count_log;
	o.listen = "tcp://127.0.0.1:0";
	o.secret = secret;
	o.secret_len = strlen(secret);
	tr_net_t *net;
	cr_assert_eq(tr_net_start(n, &o, &net), TR_OK);
	return net;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool match_node_event(const tr_msg_t *m, void *arg)
{
	const char **want = arg; /* {tag, name} */
	char name[256];
	return tr_msg_is(m, want[0]) &&
	       tr_msg_get_strbuf(m, 0, name, sizeof(name)) == TR_OK &&
	       !strcmp(name, want[1]);
}

/* Wait for ["nodeup"|"nodedown", name, ...] in the inbox; returns it. */
static tr_msg_t *node_event(const char *tag, const char *name)
{
	const char *want[2] = {tag, name};
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive_match(inbox, WAIT_MS, match_node_event,
	                                  want, &m);
	cr_assert_eq(e, TR_OK, "no %s of %s: %s", tag, name, tr_err_name(e));
	return m;
}

static void expect_node_event(const char *tag, const char *name)
{
	tr_msg_free(node_event(tag, name));
}

/* Wait until net sees name up: subscribe first, then look, then wait for
 * the event (so it cannot slip between the two). */
static void await_up(tr_net_t *net, const char *name)
{
	tr_inbox_t *ib;
	cr_assert_eq(tr_inbox_new(tr_net_node(net), &ib), TR_OK);
	cr_assert_eq(tr_net_monitor_nodes(net, tr_inbox_pid(ib), true, false),
	             TR_OK);
	while (!tr_net_is_up(net, name)) {
		tr_msg_t *m = NULL;
		cr_assert_eq(tr_inbox_receive(ib, WAIT_MS, &m), TR_OK,
		             "%s never saw %s up",
		             tr_node_name(tr_net_node(net)), name);
		tr_msg_free(m);
	}
	tr_inbox_destroy(ib);
}

/* pa sends ["ping"] to pb; pb's pong to me proves that everything pa
 * sent to pb before has been handled by pb (FIFO per pair). */
static void net_sync(tr_pid_t pa, tr_pid_t pb)
{
	tr_msg_t *m = mk_pid("send", pb);
	tr_msg_add_str(m, "ping");
	cr_assert_eq(tr_send(pa, m), TR_OK);
	for (;;) {
		tr_msg_t *r = recv_tag("pong");
		tr_pid_t p;
		bool ok = tr_msg_get_pid(r, 0, &p) == TR_OK && tr_pid_eq(p, pb);
		tr_msg_free(r);
		if (ok)
			return;
	}
}

static tr_pid_t spawn_on(tr_node_t *n, const tr_behaviour_t *b, void *arg)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(n, b, arg, &p), TR_OK);
	return p;
}

static void setup_two(void)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 2;
	o.name = "a";
	cr_assert_eq(tr_node_new(&node, &o), TR_OK);
	cr_assert_eq(tr_inbox_new(node, &inbox), TR_OK);
	me = tr_inbox_pid(inbox);
	neta = mknet(node, SECRET);
	cr_assert_eq(tr_net_monitor_nodes(neta, me, true, false), TR_OK);
	nb = mknode("b");
	netb = mknet(nb, SECRET);
	cr_assert_eq(tr_net_join(netb, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	expect_node_event("nodeup", "b");
	await_up(netb, "a");
}

static void setup_three(void)
{
	setup_two();
	nc = mknode("c");
	netc = mknet(nc, SECRET);
	/* c joins through b and must reach a by the mesh */
	cr_assert_eq(tr_net_join(netc, tr_net_endpoint(netb), WAIT_MS), TR_OK);
	expect_node_event("nodeup", "c");
	await_up(netc, "a");
	await_up(netc, "b");
	await_up(netb, "c");
}

static void teardown_all(void)
{
	tr_inbox_destroy(inbox);
	inbox = NULL;
	if (nc)
		tr_node_destroy(nc);
	if (nb)
		tr_node_destroy(nb);
	tr_node_destroy(node);
	node = nb = nc = NULL;
	neta = netb = netc = NULL;
}

TestSuite(net, .init = setup_two, .fini = teardown_all, .timeout = 60);

Test(net, endpoint_is_resolved_and_nodes_listed)
{
	const char *ep = tr_net_endpoint(neta);
	cr_assert(!strncmp(ep, "tcp://127.0.0.1:", 16), "%s", ep);
	cr_assert_neq(strcmp(ep + 16, "0"), 0);
	tr_peer_info_t info[4];
	size_t n;
	cr_assert_eq(tr_net_nodes(neta, info, 4, &n), TR_OK);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(info[0].name, "b");
	cr_assert_eq(info[0].state, TR_PEER_UP);
	cr_assert_eq(info[0].creation, tr_node_creation(nb));
	cr_assert_str_eq(info[0].endpoint, tr_net_endpoint(netb));
}

Test(net, bad_options_are_refused)
{
	tr_node_t *x = mknode("x");
	tr_net_opts_t o;
	tr_net_opts_init(&o);
	tr_net_t *net;
	cr_assert_eq(tr_net_start(x, &o, &net), TR_EINVAL); /* no secret */
	o.secret = "short";
	o.secret_len = 5;
	cr_assert_eq(tr_net_start(x, &o, &net), TR_EINVAL);
	o.secret = SECRET;
	o.secret_len = strlen(SECRET);
	o.listen = "tcp://256.1.1.1:0";
	cr_assert_eq(tr_net_start(x, &o, &net), TR_EIO);
	o.listen = NULL;
	cr_assert_eq(tr_net_start(x, &o, &net), TR_OK);
	cr_assert_eq(tr_net_start(x, &o, &net), TR_EEXIST);
	cr_assert_eq(tr_net_join(net, "not an endpoint", 100), TR_EINVAL);
	tr_node_destroy(x);
}

Test(net, remote_call_and_reply)
{
	tr_pid_t e;
	cr_assert_eq(tr_spawn(nb, &echo_b, NULL, &e), TR_OK);
	tr_msg_t *req = mk_int("hello", 42), *rep = NULL;
	cr_assert_eq(tr_call(node, e, req, WAIT_MS, &rep, NULL, 0), TR_OK);
	cr_assert(tr_msg_is(rep, "reply"));
	int64_t v;
	cr_assert_eq(tr_msg_get_int(rep, 0, &v), TR_OK);
	cr_assert_eq(v, 42);
	tr_msg_free(rep);
}

/* A sender on b streams numbered messages to a's inbox. */
static tr_err streamer_init(void **state, void *arg)
{
	*state = arg;
	return TR_OK;
}

static void streamer_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_pid_t to;
	int64_t n;
	if (!tr_msg_is(m, "go") || tr_msg_get_pid(m, 0, &to) ||
	    tr_msg_get_int(m, 1, &n))
		return;
	for (int64_t i = 0; i < n; i++)
		cr_assert_eq(tr_send(to, mk_int("n", i)), TR_OK);
	tr_send(to, mk("end"));
}

static const tr_behaviour_t streamer_b = {
        .name = "streamer",
        .init = streamer_init,
        .receive = streamer_receive,
};

Test(net, fifo_and_no_duplicates_per_pair)
{
	tr_pid_t s;
	cr_assert_eq(tr_spawn(nb, &streamer_b, NULL, &s), TR_OK);
	tr_msg_t *go = mk_pid("go", me);
	tr_msg_add_int(go, 20000);
	cr_assert_eq(tr_send(s, go), TR_OK);
	for (int64_t i = 0; i < 20000; i++) {
		tr_msg_t *m = recv_any();
		cr_assert(tr_msg_is(m, "n"), "message %lld out of place",
		          (long long)i);
		int64_t v;
		cr_assert_eq(tr_msg_get_int(m, 0, &v), TR_OK);
		cr_assert_eq(v, i, "got %lld, expected %lld", (long long)v,
		             (long long)i);
		cr_assert(tr_pid_eq(tr_msg_sender(m), s));
		tr_msg_free(m);
	}
	tr_msg_free(recv_tag("end"));
	tr_net_stats_t st;
	cr_assert_eq(tr_net_stats(netb, &st), TR_OK);
	cr_assert_geq(st.msgs_out, 20001);
	/* How many frames carried them is the transport's business: on a
	 * loaded machine the I/O thread may keep up with every message and
	 * send each alone (batching is measured by remote_throughput). */
}

Test(net, remote_monitor_gets_the_real_reason_and_noproc)
{
	/* pa (on a) monitors pb (on b), then tells it to exit with "boom":
	 * both signals from pa, so the monitor is in place first */
	tr_pid_t pa = spawn_puppet(), pb = spawn_on(nb, &puppet_b, NULL);
	tr_send(pa, mk_pid("monitor", pb));
	tr_msg_free(recv_tag("monitored"));
	tr_msg_t *x = mk_pid("exit", pb);
	tr_msg_add_str(x, "boom");
	tr_send(pa, x);
	tr_msg_t *m = recv_fwd("DOWN");
	tr_pid_t who;
	char why[64];
	cr_assert_eq(tr_msg_get_pid(m, 1, &who), TR_OK);
	cr_assert(tr_pid_eq(who, pb));
	tr_msg_get_strbuf(m, 2, why, sizeof(why));
	cr_assert_str_eq(why, "boom");
	tr_msg_free(m);
	/* the pid is dead now: a new monitor says noproc */
	tr_ref_t r = mon(pb);
	down(r, why, sizeof(why));
	cr_assert_str_eq(why, "noproc");
}

Test(net, remote_link_propagates_exits_both_ways)
{
	/* pa (on a, trapping) links to pb (on b); pb crashes: pa gets the
	 * EXIT with the reason */
	tr_pid_t pa = spawn_puppet(), pb = spawn_on(nb, &puppet_b, NULL);
	tr_msg_t *t = mk("trap");
	tr_msg_add_bool(t, true);
	tr_send(pa, t);
	tr_send(pa, mk_pid("link", pb));
	net_sync(pa, pb); /* the LINK is at pb */
	tr_msg_t *stop = mk("stop");
	tr_msg_add_str(stop, "crashed");
	tr_send(pb, stop);
	tr_msg_t *m = recv_fwd("EXIT");
	tr_pid_t from;
	char why[64];
	cr_assert_eq(tr_msg_get_pid(m, 0, &from), TR_OK);
	cr_assert(tr_pid_eq(from, pb));
	tr_msg_get_strbuf(m, 1, why, sizeof(why));
	cr_assert_str_eq(why, "crashed");
	tr_msg_free(m);

	/* reverse: pa links a new pb (not trapping), a third puppet on a
	 * monitors it; pa dies with "gone" and pb dies of it */
	pb = spawn_on(nb, &puppet_b, NULL);
	tr_pid_t pm = spawn_puppet();
	tr_send(pm, mk_pid("monitor", pb));
	tr_msg_free(recv_tag("monitored"));
	tr_send(pa, mk_pid("link", pb));
	net_sync(pa, pb);
	net_sync(pm, pb);
	stop = mk("stop");
	tr_msg_add_str(stop, "gone");
	tr_send(pa, stop);
	m = recv_fwd("DOWN");
	tr_msg_get_strbuf(m, 2, why, sizeof(why));
	cr_assert_str_eq(why, "gone");
	tr_msg_free(m);
}

Test(net, remote_spawn_and_named_send)
{
	cr_assert_eq(tr_net_export(netb, &echo_b), TR_OK);
	tr_pid_t p;
	cr_assert_eq(tr_spawn_on(neta, "b", "echo", NULL, WAIT_MS, &p), TR_OK);
	cr_assert_eq(p.node, tr_node_id(nb));
	cr_assert_eq(tr_spawn_on(neta, "b", "nope", NULL, WAIT_MS, &p),
	             TR_ENOENT);
	cr_assert_eq(tr_spawn_on(neta, "zz", "echo", NULL, WAIT_MS, &p),
	             TR_EUNREACHABLE);
	cr_assert_eq(tr_register(nb, "echoer", p), TR_OK);
	cr_assert_eq(tr_send_named(neta, "b", "echoer", mk_int("x", 7)), TR_OK);
	cr_assert_eq(tr_send_named(neta, "b", "nobody", mk_int("x", 8)),
	             TR_OK); /* dropped silently, like Erlang */
	tr_msg_t *x = mk("x");
	cr_assert_eq(tr_send_named(neta, "zz", "echoer", x), TR_EUNREACHABLE);
	tr_msg_free(x); /* still ours after an error */
}

Test(net, named_send_reaches_the_registered_actor)
{
	tr_pid_t r;
	cr_assert_eq(tr_spawn(nb, &relay_b, &me, &r), TR_OK);
	cr_assert_eq(tr_register(nb, "relay", r), TR_OK);
	cr_assert_eq(tr_send_named(neta, "b", "relay", mk("x")), TR_OK);
	tr_msg_t *m = recv_tag("got");
	cr_assert(tr_pid_eq(tr_msg_sender(m), r));
	char tag[16];
	cr_assert_eq(tr_msg_get_strbuf(m, 1, tag, sizeof(tag)), TR_OK);
	cr_assert_str_eq(tag, "x");
	tr_msg_free(m);
}

Test(net, stale_incarnation_is_dropped_and_counted)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(nb, &echo_b, NULL, &p), TR_OK);
	tr_pid_t old = p;
	old.creation ^= 0x5a5a;
	tr_net_stats_t st;
	tr_pid_t pa = spawn_puppet();
	tr_msg_t *s = mk_pid("send", old);
	tr_msg_add_str(s, "x");
	tr_send(pa, s);
	sync_with(pa); /* pa's send was refused as stale by now */
	tr_ref_t r = mon(old);
	char why[64];
	down(r, why, sizeof(why));
	cr_assert_str_eq(why, "noproc");
	cr_assert_eq(tr_net_stats(neta, &st), TR_OK);
	cr_assert_geq(st.stale, 2);
}

Test(net, graceful_leave_is_nodedown_left)
{
	tr_pid_t p;
	cr_assert_eq(tr_spawn(nb, &puppet_b, NULL, &p), TR_OK);
	tr_ref_t r = mon(p);
	/* what b sent before leaving arrives before the nodedown */
	tr_send(p, mk("ping"));
	sync_with(p);
	cr_assert_eq(tr_net_leave(netb, WAIT_MS), TR_OK);
	tr_msg_t *m = node_event("nodedown", "b");
	char why[64];
	tr_msg_get_strbuf(m, 1, why, sizeof(why));
	cr_assert_str_eq(why, "left");
	tr_msg_free(m);
	down(r, why, sizeof(why));
	cr_assert_str_eq(why, "noconnection");
	cr_assert(!tr_net_is_up(neta, "b"));
	/* from a's actors, b's pids are unreachable now */
	r = mon(p);
	down(r, why, sizeof(why));
	cr_assert_str_eq(why, "noconnection");
	/* and it can come back */
	cr_assert_eq(tr_net_join(netb, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	expect_node_event("nodeup", "b");
}

Test(net, abrupt_stop_is_noticed_within_a_second)
{
	tr_pid_t pa = spawn_puppet(), pb;
	cr_assert_eq(tr_spawn(nb, &puppet_b, NULL, &pb), TR_OK);
	tr_ref_t r = mon(pb);
	tr_msg_t *t = mk("trap");
	tr_msg_add_bool(t, true);
	tr_send(pa, t);
	tr_send(pa, mk_pid("link", pb));
	sync_with(pa);
	sync_with(pb);
	double t0 = now_s();
	tr_net_stop(netb); /* no LEAVE: b just goes silent */
	tr_msg_t *m = node_event("nodedown", "b");
	double dt = now_s() - t0;
	char why[64];
	tr_msg_get_strbuf(m, 1, why, sizeof(why));
	tr_msg_free(m);
	cr_assert(!strcmp(why, "heartbeat_timeout") ||
	                  !strcmp(why, "connection_closed"),
	          "%s", why);
	cr_assert_lt(dt, 1.5, "nodedown after %.3f s", dt);
	down(r, why, sizeof(why));
	cr_assert_str_eq(why, "noconnection");
	m = recv_fwd("EXIT");
	tr_msg_get_strbuf(m, 1, why, sizeof(why));
	cr_assert_str_eq(why, "noconnection");
	tr_msg_free(m);
}

Test(net, wrong_secret_is_refused_and_delivers_nothing)
{
	tr_node_t *x = mknode("intruder");
	tr_net_t *netx = mknet(x, "not the cluster secret, no");
	cr_assert_eq(tr_net_join(netx, tr_net_endpoint(neta), WAIT_MS),
	             TR_EAUTH);
	cr_assert(!tr_net_is_up(neta, "intruder"));
	cr_assert(!tr_net_is_up(netx, "a"));
	/* the intruder saw that a's proof was not made with its secret */
	tr_net_stats_t st;
	cr_assert_eq(tr_net_stats(netx, &st), TR_OK);
	cr_assert_geq(st.rejected_auth, 1);
	/* from a's actors the intruder is unreachable */
	tr_pid_t p = spawn_on(x, &echo_b, NULL);
	char why[64];
	tr_ref_t r = mon(p);
	down(r, why, sizeof(why));
	cr_assert_str_eq(why, "noconnection");
	tr_node_destroy(x);
}

Test(net, garbage_and_unauthenticated_frames_are_dropped)
{
	/* a raw ZeroMQ peer: garbage, a DATA frame without handshake, a
	 * frame too deep, a truncated one; a keeps serving */
	void *ctx = zmq_ctx_new();
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int zero = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	cr_assert_eq(zmq_connect(s, tr_net_endpoint(neta)), 0);
	uint8_t garbage[64];
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(i * 37 + 11);
	zmq_send(s, garbage, sizeof(garbage), 0);
	/* [7, 1, [[0, 0, <pid>, <pid>, nil, 0, ["x"]]]] with a's pid:
	 * well-formed, but not authenticated */
	uint8_t data[128];
	size_t k = 0;
	data[k++] = 0x93;
	data[k++] = 7;
	data[k++] = 1;
	data[k++] = 0x91;
	data[k++] = 0x97;
	data[k++] = 0;
	data[k++] = 0;
	data[k++] = 0xc7;
	data[k++] = 20;
	data[k++] = 1;
	tr_id_encode(me.node, me.id, me.creation, data + k);
	k += 20;
	data[k++] = 0xc7;
	data[k++] = 20;
	data[k++] = 1;
	tr_id_encode(me.node, me.id, me.creation, data + k);
	k += 20;
	data[k++] = 0xc0;
	data[k++] = 0;
	data[k++] = 0x91;
	data[k++] = 0xa1;
	data[k++] = 'x';
	zmq_send(s, data, k, 0);
	uint8_t deep[100];
	memset(deep, 0x91, sizeof(deep));
	zmq_send(s, deep, sizeof(deep), 0);
	uint8_t trunc[] = {0x93, 0x07, 0xdd, 0xff, 0xff, 0xff, 0xff};
	zmq_send(s, trunc, sizeof(trunc), 0);
	/* a HELLO that lies about its version */
	uint8_t hello[] = {0x98, 1, 99, 0xa1, 'z', 1, 0, 0xa0, 0xc4, 0};
	zmq_send(s, hello, sizeof(hello), 0);
	/* wait until a counted them all (no sleeping: poll the counters
	 * against a deadline) */
	tr_net_stats_t st = {0};
	double t0 = now_s();
	while (now_s() - t0 < 5) {
		tr_net_stats(neta, &st);
		if (st.rejected_frames + st.rejected_auth >= 5)
			break;
		/* round trip through b proves a's I/O thread is alive */
		tr_pid_t e;
		cr_assert_eq(tr_spawn(nb, &echo_b, NULL, &e), TR_OK);
		tr_msg_t *rep = NULL;
		cr_assert_eq(tr_call(node, e, mk("p"), WAIT_MS, &rep, NULL, 0),
		             TR_OK);
		tr_msg_free(rep);
	}
	cr_assert_geq(st.rejected_frames + st.rejected_auth, 5,
	              "rejected %llu + %llu",
	              (unsigned long long)st.rejected_frames,
	              (unsigned long long)st.rejected_auth);
	expect_no_tag("x", 100); /* nothing reached the inbox */
	/* logged, but a flood of garbage is not a flood of lines */
	int warns0 = log_lines[TR_LOG_WARN];
	cr_assert_geq(warns0, 1, "nothing was logged");
	for (int i = 0; i < 200; i++)
		zmq_send(s, garbage, sizeof(garbage), 0);
	t0 = now_s();
	do
		tr_net_stats(neta, &st);
	while (st.rejected_frames + st.rejected_auth < 205 && now_s() - t0 < 5);
	cr_assert_geq(st.rejected_frames + st.rejected_auth, 205);
	cr_assert_leq(log_lines[TR_LOG_WARN] - warns0, 20,
	              "%d warnings for 200 frames",
	              log_lines[TR_LOG_WARN] - warns0);
	zmq_close(s);
	zmq_ctx_term(ctx);
	cr_assert(tr_net_is_up(neta, "b"));
}

/* ---- three nodes ----------------------------------------------------------
 */

TestSuite(mesh, .init = setup_three, .fini = teardown_all, .timeout = 60);

Test(mesh, joining_through_one_node_connects_everyone)
{
	cr_assert(tr_net_is_up(neta, "b"));
	cr_assert(tr_net_is_up(neta, "c"));
	cr_assert(tr_net_is_up(netb, "c"));
	cr_assert(tr_net_is_up(netc, "a"));
	tr_pid_t e;
	cr_assert_eq(tr_spawn(nc, &echo_b, NULL, &e), TR_OK);
	tr_msg_t *rep = NULL;
	cr_assert_eq(tr_call(node, e, mk("p"), WAIT_MS, &rep, NULL, 0), TR_OK);
	tr_msg_free(rep);
}

/* A call from node `from` to an echo actor on `to`: both directions of
 * the pair carry frames. */
static void round_trip(tr_node_t *from, tr_node_t *to)
{
	tr_pid_t e = spawn_on(to, &echo_b, NULL);
	tr_msg_t *rep = NULL;
	tr_err err = tr_call(from, e, mk("p"), WAIT_MS, &rep, NULL, 0);
	cr_assert_eq(err, TR_OK, "%s -> %s: %s", tr_node_name(from),
	             tr_node_name(to), tr_err_name(err));
	tr_msg_free(rep);
	tr_exit(e, TR_KILL);
}

/* Leaving and joining again, through one node or the other, while the
 * third learns of it by gossip: every session comes back whole. (A
 * session the leaver ended without telling the peer used to stay
 * half-open: one side up and sending on a line the other had
 * forgotten, each side in turn, until the next leave.) */
Test(mesh, leave_and_rejoin_is_never_half_open, .timeout = 120)
{
	for (int round = 0; round < 12; round++) {
		cr_assert_eq(tr_net_leave(netb, WAIT_MS), TR_OK);
		cr_assert_eq(
		        tr_net_join(netb,
		                    tr_net_endpoint(round % 2 ? netc : neta),
		                    WAIT_MS),
		        TR_OK, "round %d", round);
		await_up(neta, "b");
		await_up(netc, "b");
		await_up(netb, "a");
		await_up(netb, "c");
		round_trip(nb, node);
		round_trip(node, nb);
		round_trip(nb, nc);
		round_trip(nc, nb);
	}
}

Test(mesh, a_restarted_node_is_a_new_incarnation)
{
	tr_pid_t old = spawn_on(nc, &puppet_b, NULL), pm = spawn_puppet();
	tr_send(pm, mk_pid("monitor", old));
	tr_msg_free(recv_tag("monitored"));
	net_sync(pm, old); /* c has the monitor */
	uint32_t cr = tr_node_creation(nc);
	tr_node_destroy(nc); /* abrupt */
	nc = mknode("c");
	cr_assert_neq(tr_node_creation(nc), cr);
	netc = mknet(nc, SECRET);
	cr_assert_eq(tr_net_join(netc, tr_net_endpoint(netb), WAIT_MS), TR_OK);
	char why[64];
	tr_msg_t *d = recv_fwd("DOWN");
	tr_msg_get_strbuf(d, 2, why, sizeof(why));
	tr_msg_free(d);
	cr_assert_str_eq(why, "noconnection");
	expect_node_event("nodedown", "c");
	tr_msg_t *m = node_event("nodeup", "c");
	uint64_t c2;
	cr_assert_eq(tr_msg_get_uint(m, 1, &c2), TR_OK);
	cr_assert_eq(c2, tr_node_creation(nc));
	tr_msg_free(m);
	/* the old pid is dead for good: noproc, never the new node's actor */
	tr_ref_t r = mon(old);
	down(r, why, sizeof(why));
	cr_assert_str_eq(why, "noproc");
}

/* ---- busy is not down ------------------------------------------------------
 */

static double burn_until;

/* Each message burns 800 ms of CPU, then the actor sends itself another,
 * until burn_until: b's schedulers are saturated. */
static void burner_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
	/* longer than the 600 ms timeout: were heartbeats sent from the
	 * schedulers, b would fall silent and be declared down */
	double end = now_s() + 0.8;
	while (now_s() < end)
		;
	if (now_s() < burn_until)
		tr_send(tr_self(), mk("burn"));
}

static const tr_behaviour_t burner_b = {.name = "burner",
                                        .receive = burner_receive};

static void *hog(void *arg)
{
	(void)arg;
	volatile uint64_t x = 0;
	while (now_s() < burn_until)
		x++;
	return NULL;
}

Test(net, a_busy_node_is_not_declared_down)
{
	/* 3 s of saturated schedulers on b plus two threads spinning on the
	 * machine's two cores: heartbeats run on the I/O threads and must
	 * still arrive within the 600 ms timeout */
	burn_until = now_s() + 3.0;
	for (int i = 0; i < 8; i++)
		tr_send(spawn_on(nb, &burner_b, NULL), mk("burn"));
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, hog, NULL), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	tr_net_stats_t sa, sb;
	cr_assert_eq(tr_net_stats(neta, &sa), TR_OK);
	cr_assert_eq(tr_net_stats(netb, &sb), TR_OK);
	cr_assert_eq(sa.nodedowns, 0, "a declared b down while busy");
	cr_assert_eq(sb.nodedowns, 0, "b declared a down while busy");
	cr_assert(tr_net_is_up(neta, "b"));
	expect_no_tag("nodedown", 10);
}

Test(net, a_wrong_proof_is_refused_by_the_acceptor)
{
	/* a raw peer runs the handshake with a proof it cannot compute */
	void *ctx = zmq_ctx_new();
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int zero = 0, tmo = WAIT_MS;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof(tmo));
	cr_assert_eq(zmq_connect(s, tr_net_endpoint(neta)), 0);
	uint8_t hello[128];
	size_t k = 0;
	hello[k++] = 0x98; /* [1, 1, "rogue", 5, 0, "", nonce, kernel] */
	hello[k++] = 1;
	hello[k++] = 1;
	hello[k++] = 0xa5;
	memcpy(hello + k, "rogue", 5);
	k += 5;
	hello[k++] = 5;
	hello[k++] = 0;
	hello[k++] = 0xa0;
	hello[k++] = 0xc4;
	hello[k++] = 16;
	memset(hello + k, 7, 16);
	k += 16;
	hello[k++] = 0xc7;
	hello[k++] = 20;
	hello[k++] = 1;
	tr_id_encode(tr_node_id_of_name("rogue"), 1, 5, hello + k);
	k += 20;
	cr_assert_eq(zmq_send(s, hello, k, 0), (int)k);
	uint8_t buf[1024];
	int n = zmq_recv(s, buf, sizeof(buf), 0);
	cr_assert_gt(n, 2, "no CHALLENGE");
	cr_assert_eq(buf[1], 2, "not a CHALLENGE");
	uint8_t auth[36] = {0x92, 3, 0xc4, 32};
	cr_assert_eq(zmq_send(s, auth, sizeof(auth), 0), (int)sizeof(auth));
	n = zmq_recv(s, buf, sizeof(buf) - 1, 0);
	cr_assert_gt(n, 2, "no REFUSE");
	cr_assert_eq(buf[1], 5, "not a REFUSE");
	buf[n] = 0;
	cr_assert(memmem(buf, (size_t)n, "authentication failed", 21));
	tr_net_stats_t st;
	cr_assert_eq(tr_net_stats(neta, &st), TR_OK);
	cr_assert_geq(st.rejected_auth, 1);
	cr_assert(!tr_net_is_up(neta, "rogue"));
	zmq_close(s);
	zmq_ctx_term(ctx);
}

/* ---- CURVE ----------------------------------------------------------------
 */

static char srv_pub[41], srv_sec[41], a_pub[41], a_sec[41], b_pub[41],
        b_sec[41];

static tr_net_t *mknet_curve(tr_node_t *n, const char *pub, const char *sec)
{
	const char *allow[2] = {a_pub, b_pub};
	tr_net_opts_t o;
	tr_net_opts_init(&o);
	o.curve_server_public = srv_pub;
	o.curve_server_secret = srv_sec;
	o.curve_public = pub;
	o.curve_secret = sec;
	o.curve_allow = allow;
	o.curve_allow_n = 2;
	tr_net_t *net;
	cr_assert_eq(tr_net_start(n, &o, &net), TR_OK);
	return net;
}

static void setup_curve(void)
{
	cr_assert_eq(tr_curve_keypair(srv_pub, srv_sec), TR_OK);
	cr_assert_eq(tr_curve_keypair(a_pub, a_sec), TR_OK);
	cr_assert_eq(tr_curve_keypair(b_pub, b_sec), TR_OK);
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 2;
	o.name = "a";
	cr_assert_eq(tr_node_new(&node, &o), TR_OK);
	cr_assert_eq(tr_inbox_new(node, &inbox), TR_OK);
	me = tr_inbox_pid(inbox);
	neta = mknet_curve(node, a_pub, a_sec);
	cr_assert_eq(tr_net_monitor_nodes(neta, me, true, false), TR_OK);
	nb = mknode("b");
	netb = mknet_curve(nb, b_pub, b_sec);
}

TestSuite(curve, .init = setup_curve, .fini = teardown_all, .timeout = 60);

Test(curve, allowed_keys_form_a_cluster)
{
	cr_assert_eq(tr_net_join(netb, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	expect_node_event("nodeup", "b");
	tr_pid_t e = spawn_on(nb, &echo_b, NULL);
	tr_msg_t *rep = NULL;
	cr_assert_eq(tr_call(node, e, mk_int("v", 5), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	tr_msg_free(rep);
}

Test(curve, a_key_off_the_allow_list_is_refused)
{
	/* the intruder knows the server key, but its own key is not allowed:
	 * libzmq alone would let it in (a CURVE server without ZAP accepts
	 * any client key); our ZAP handler does not */
	char x_pub[41], x_sec[41];
	cr_assert_eq(tr_curve_keypair(x_pub, x_sec), TR_OK);
	tr_node_t *x = mknode("intruder");
	tr_net_t *netx = mknet_curve(x, x_pub, x_sec);
	cr_assert_eq(tr_net_join(netx, tr_net_endpoint(neta), 1500),
	             TR_ETIMEDOUT);
	cr_assert(!tr_net_is_up(neta, "intruder"));
	tr_net_stats_t st;
	cr_assert_eq(tr_net_stats(neta, &st), TR_OK);
	cr_assert_geq(st.rejected_auth, 1, "the ZAP handler saw no key");
	cr_assert_eq(st.frames_in, 0);
	tr_node_destroy(x);
}

Test(curve, a_peer_without_curve_gets_nothing)
{
	void *ctx = zmq_ctx_new();
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int zero = 0, tmo = 1000;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof(tmo));
	cr_assert_eq(zmq_connect(s, tr_net_endpoint(neta)), 0);
	uint8_t garbage[32];
	memset(garbage, 0x93, sizeof(garbage));
	zmq_send(s, garbage, sizeof(garbage), ZMQ_DONTWAIT);
	uint8_t buf[64];
	cr_assert_lt(zmq_recv(s, buf, sizeof(buf), 0), 0);
	tr_net_stats_t st;
	cr_assert_eq(tr_net_stats(neta, &st), TR_OK);
	cr_assert_eq(st.frames_in, 0, "a frame got past CURVE");
	zmq_close(s);
	zmq_ctx_term(ctx);
}

Test(curve, bad_keys_are_refused)
{
	tr_node_t *x = mknode("x");
	const char *allow[1] = {"not a key"};
	tr_net_opts_t o;
	tr_net_opts_init(&o);
	o.curve_server_public = srv_pub;
	o.curve_server_secret = srv_sec;
	o.curve_public = a_pub;
	o.curve_secret = a_sec;
	o.curve_allow = allow;
	o.curve_allow_n = 1;
	tr_net_t *net;
	cr_assert_eq(tr_net_start(x, &o, &net), TR_EINVAL);
	o.curve_allow_n = 0;
	cr_assert_eq(tr_net_start(x, &o, &net), TR_EINVAL);
	tr_node_destroy(x);
}

/* ---- a slow peer pauses its senders ---------------------------------------
 */

/* Sends ["n", i] for i in [0, total) to `to`, 500 per callback. */
struct chunky {
	tr_pid_t to;
	int64_t next, total;
};

static void chunky_receive(void *state, tr_msg_t *m)
{
	(void)m;
	struct chunky *c = state;
	for (int i = 0; i < 500 && c->next < c->total; i++)
		cr_assert_eq(tr_send(c->to, mk_int("n", c->next++)), TR_OK);
	if (c->next < c->total)
		tr_send(tr_self(), mk("more"));
}

static const tr_behaviour_t chunky_b = {.name = "chunky",
                                        .receive = chunky_receive};

/* A slow consumer: 20 us of work a message; counts them, checks their
 * order and records the deepest mailbox it saw. */
struct slow {
	int64_t next, deepest;
};

static void slow_receive(void *state, tr_msg_t *m)
{
	struct slow *s = state;
	if (tr_msg_is(m, "report")) {
		tr_msg_t *r = mk_int("report", s->next);
		tr_msg_add_int(r, s->deepest);
		tr_send(me, r);
		return;
	}
	int64_t v = -1;
	tr_msg_get_int(m, 0, &v);
	if (v != s->next)
		s->next = -1000000000; /* out of order: poisoned */
	s->next++;
	tr_actor_info_t ai;
	if (!tr_actor_info(tr_node_current(), tr_self(), &ai) &&
	    (int64_t)ai.mailbox_len > s->deepest)
		s->deepest = (int64_t)ai.mailbox_len;
	nanosleep(&(struct timespec){0, 20000}, NULL);
}

static const tr_behaviour_t slow_b = {.name = "slow", .receive = slow_receive};

/* Sends ["n", i] of 512 bytes to the pid it was given, 100 a callback,
 * FLOOD_N in all, then ["flooded"] to me. */
#define FLOOD_N 60000
struct flooder {
	tr_pid_t to;
	int64_t i;
	bool done;
	int64_t failed; /* sends refused, and the first refusal */
	tr_err first_err;
};

static void flood_receive(void *state, tr_msg_t *m)
{
	struct flooder *f = state;
	(void)m;
	static char pad[512];
	if (f->done)
		return;
	for (int k = 0; k < 100 && f->i < FLOOD_N; k++, f->i++) {
		tr_msg_t *x = mk_int("n", f->i);
		tr_msg_add_bin(x, pad, sizeof(pad));
		tr_err e = tr_send(f->to, x);
		if (e) { /* the test reports it */
			if (!f->failed++)
				f->first_err = e;
			tr_msg_free(x);
		}
	}
	if (f->i < FLOOD_N)
		tr_send(tr_self(), mk("more"));
	else if (!f->done) {
		f->done = true; /* once: the flooder then stays idle */
		tr_send(me, mk("flooded"));
	}
}

static const tr_behaviour_t flood_b = {.name = "flood",
                                       .receive = flood_receive};

/* A remote sender outrunning a slow actor is paused by the receiver's
 * node (BUSY), so the mailbox stays bounded, and nothing is lost or
 * reordered. (Without it the whole flood piled up in the mailbox.) */
Test(net, a_remote_flood_into_a_slow_mailbox_is_held_back)
{
	/* Two nodes of their own, with a failure detector that tolerates a
	 * sanitizer build on two busy cores: this is about flow control, a
	 * session lost to a heartbeat timeout would end it early (loss is
	 * allowed then, and the sender would see TR_EUNREACHABLE). */
	tr_node_t *fa = mknode("fa"), *fb = mknode("fb");
	tr_net_opts_t o;
	tr_net_opts_init(&o);
	o.secret = SECRET;
	o.secret_len = strlen(SECRET);
	o.timeout_ms = 20000;
	/* a small send queue, so that what is in flight when BUSY goes out
	 * is mostly what ZeroMQ and TCP buffer */
	o.peer_queue_high = 64 * 1024;
	tr_net_t *nfa, *nfb;
	cr_assert_eq(tr_net_start(fa, &o, &nfa), TR_OK);
	cr_assert_eq(tr_net_start(fb, &o, &nfb), TR_OK);
	/* through a, so that both reach me (on a) */
	cr_assert_eq(tr_net_join(nfa, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	cr_assert_eq(tr_net_join(nfb, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	await_up(nfa, "fb");
	await_up(nfb, "fa");
	await_up(nfa, "a");
	await_up(nfb, "a");
	static struct slow sl;
	tr_pid_t s = spawn_on(fb, &slow_b, &sl);
	static struct flooder fl;
	fl.to = s;
	tr_pid_t f = spawn_on(fa, &flood_b, &fl);
	tr_send(f, mk("go"));
	cr_assert(got_tag_within("flooded", 120000), "the flood ended");
	cr_assert_eq(fl.failed, 0, "%lld sends refused, the first with %s",
	             (long long)fl.failed, tr_err_name(fl.first_err));
	/* ask until the slow actor has had everything */
	tr_msg_t *m = NULL;
	int64_t got = 0, deepest = 0;
	for (int tries = 0; tries < 6000 && got < FLOOD_N; tries++) {
		tr_send(s, mk("report"));
		m = recv_tag("report");
		tr_msg_get_int(m, 0, &got);
		tr_msg_get_int(m, 1, &deepest);
		tr_msg_free(m);
	}
	cr_assert_eq(got, FLOOD_N, "every message, in order (got %lld)",
	             (long long)got);
	/* bounded, not by the flood (60,000 sent in a fraction of the
	 * 1.2 s the consumer needs; without BUSY nearly all of them pile
	 * up): by twice the high mark (8,192) plus what was in flight when
	 * BUSY went out (the sender's peer queue, 64 KiB or 128 of these,
	 * and what ZeroMQ and TCP buffer) */
	cr_assert_lt(deepest, FLOOD_N / 2, "deepest mailbox %lld",
	             (long long)deepest);
	tr_node_destroy(fb);
	tr_node_destroy(fa);
}

Test(net, a_full_peer_queue_pauses_the_sender_and_loses_nothing)
{
	/* x's queue to a holds at most 4 KiB: the sender is paused again and
	 * again, resumes each time, and every message arrives in order */
	tr_node_t *x = mknode("x");
	tr_net_opts_t o;
	tr_net_opts_init(&o);
	o.secret = SECRET;
	o.secret_len = strlen(SECRET);
	o.peer_queue_high = 4096;
	tr_net_t *netx;
	cr_assert_eq(tr_net_start(x, &o, &netx), TR_OK);
	cr_assert_eq(tr_net_join(netx, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	expect_node_event("nodeup", "x");
	static struct chunky c;
	c.to = me;
	c.next = 0;
	c.total = 50000;
	tr_send(spawn_on(x, &chunky_b, &c), mk("go"));
	for (int64_t i = 0; i < c.total; i++) {
		tr_msg_t *m = recv_tag("n");
		int64_t v;
		cr_assert_eq(tr_msg_get_int(m, 0, &v), TR_OK);
		cr_assert_eq(v, i);
		tr_msg_free(m);
	}
	tr_net_stats_t st;
	cr_assert_eq(tr_net_stats(netx, &st), TR_OK);
	cr_assert_gt(st.gated, 0, "the sender was never paused");
	/* the queue's byte count returns to zero once all is sent (it is
	 * lowered by the I/O thread just after the send: spin briefly) */
	tr_peer_info_t info[4];
	size_t n = 0, ia = 0;
	double t0 = now_s();
	do {
		cr_assert_eq(tr_net_nodes(netx, info, 4, &n), TR_OK);
		for (ia = 0; ia < n && strcmp(info[ia].name, "a"); ia++)
			;
		cr_assert_lt(ia, n);
	} while (info[ia].queued_bytes && now_s() - t0 < 5);
	cr_assert_eq(info[ia].queued_bytes, 0);
	tr_node_destroy(x);
}

/* ---- hidden nodes, monitor_node --------------------------------------------
 */

static bool any_nodeup(const tr_msg_t *m, void *arg)
{
	(void)arg;
	return tr_msg_is(m, "nodeup");
}

Test(net, a_hidden_node_talks_but_never_joins_the_mesh)
{
	/* "cli" has no listener: a answers it on its own line */
	tr_node_t *cli = mknode("cli");
	tr_net_opts_t o;
	tr_net_opts_init(&o);
	o.secret = SECRET;
	o.secret_len = strlen(SECRET);
	o.hidden = true;
	tr_net_t *netcli;
	cr_assert_eq(tr_net_start(cli, &o, &netcli), TR_OK);
	cr_assert_str_eq(tr_net_endpoint(netcli), "");
	cr_assert_eq(tr_net_join(netcli, tr_net_endpoint(neta), WAIT_MS),
	             TR_OK);
	/* it calls an actor of a, and gets the reply */
	tr_pid_t echo = spawn_on(node, &echo_b, NULL);
	tr_msg_t *rep = NULL;
	cr_assert_eq(tr_call(cli, echo, mk_int("v", 9), WAIT_MS, &rep, NULL, 0),
	             TR_OK);
	tr_msg_free(rep);
	/* a lists it as hidden; a's plain subscribers never heard of it:
	 * the next nodeup they get is that of d, which joins after it */
	tr_peer_info_t info[4];
	size_t n;
	cr_assert_eq(tr_net_nodes(neta, info, 4, &n), TR_OK);
	bool seen = false;
	for (size_t i = 0; i < n && i < 4; i++)
		if (!strcmp(info[i].name, "cli"))
			seen = info[i].hidden && info[i].state == TR_PEER_UP;
	cr_assert(seen, "a does not list cli as a hidden peer");
	tr_node_t *d = mknode("d");
	tr_net_t *netd = mknet(d, SECRET);
	cr_assert_eq(tr_net_join(netd, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	tr_msg_t *m = NULL;
	cr_assert_eq(
	        tr_inbox_receive_match(inbox, WAIT_MS, any_nodeup, NULL, &m),
	        TR_OK);
	char name[32];
	tr_msg_get_strbuf(m, 0, name, sizeof(name));
	tr_msg_free(m);
	cr_assert_str_eq(name, "d");
	/* and the mesh did not reach out to it */
	await_up(netd, "b");
	cr_assert(!tr_net_is_up(netd, "cli"));
	cr_assert(!tr_net_is_up(netb, "cli"));
	tr_node_destroy(d);
	tr_node_destroy(cli);
}

Test(net, monitor_node_fires_once)
{
	/* an unknown node: nodedown at once */
	cr_assert_eq(tr_net_monitor_node(neta, me, "zz", true), TR_OK);
	tr_msg_t *m = node_event("nodedown", "zz");
	tr_msg_free(m);
	/* b: one nodedown when it goes (plus the monitor_nodes one) */
	cr_assert_eq(tr_net_monitor_node(neta, me, "b", true), TR_OK);
	tr_net_stop(netb);
	tr_msg_free(node_event("nodedown", "b"));
	tr_msg_free(node_event("nodedown", "b"));
	/* b's next life ends with one nodedown only (monitor_nodes'): the
	 * monitor_node was used up */
	tr_node_destroy(nb);
	nb = mknode("b");
	netb = mknet(nb, SECRET);
	cr_assert_eq(tr_net_join(netb, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	expect_node_event("nodeup", "b");
	tr_net_stop(netb);
	tr_msg_free(node_event("nodedown", "b"));
	tr_node_t *e = mknode("e");
	tr_net_t *nete = mknet(e, SECRET);
	cr_assert_eq(tr_net_join(nete, tr_net_endpoint(neta), WAIT_MS), TR_OK);
	expect_node_event("nodeup", "e"); /* after anything about b */
	const char *want[2] = {"nodedown", "b"};
	tr_msg_t *extra = NULL;
	cr_assert_eq(tr_inbox_receive_match(inbox, 0, match_node_event, want,
	                                    &extra),
	             TR_ETIMEDOUT, "monitor_node fired twice");
	tr_node_destroy(e);
	cr_assert_eq(tr_net_monitor_node(neta, me, "b", false), TR_OK);
	cr_assert_eq(tr_net_monitor_node(neta, me, "bad name!", true),
	             TR_EINVAL);
}
