/*
 * tests/tsan/tsan_runtime.c - the runtime's concurrency, without Criterion.
 *
 * Criterion cannot run under ThreadSanitizer (its BoxFort arena cannot be
 * mapped inside TSan's address layout: the runner crashes before the first
 * test), so the TSan job of CI runs this program: every concurrent path of
 * the runtime (cross-scheduler sends and the outbox, back-pressure, spawn
 * and exit, links, monitors, calls from threads and actors, timers, names,
 * two nodes in one process) driven hard on all schedulers, each scenario
 * checking its own result. It prints TAP ("ok - name") and exits non-zero
 * if any scenario fails. It runs in the plain and ASan builds too.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>

#include "tap.h"

static tr_node_t *node;

/* ---- 1. ping-pong pairs on all schedulers ----------------------------- */

static void pp_receive(void *state, tr_msg_t *m)
{
	int64_t left;
	tr_pid_t peer = *(tr_pid_t *)state;
	tr_msg_get_int(m, 0, &left);
	if (left == 0) {
		tr_send(me, mk("pp_done"));
		return;
	}
	tr_send(peer, mk_int("ball", left - 1));
}

static const tr_behaviour_t pp_b = {.name = "pp", .receive = pp_receive};

static bool pingpong(void)
{
	static tr_pid_t peers[8][2];
	for (int i = 0; i < 8; i++) {
		tr_pid_t a, b;
		CHECK(tr_spawn(node, &pp_b, &peers[i][0], &a) == TR_OK);
		CHECK(tr_spawn(node, &pp_b, &peers[i][1], &b) == TR_OK);
		peers[i][0] = b;
		peers[i][1] = a;
	}
	for (int i = 0; i < 8; i++)
		tr_send(peers[i][1], mk_int("ball", 20000));
	for (int i = 0; i < 8; i++) {
		tr_msg_t *m = wait_tag("pp_done");
		CHECK(m);
		tr_msg_free(m);
	}
	return true;
}

/* ---- 2. senders to one receiver: order per sender, back-pressure ------ */

#define NS   8
#define EACH 40000

struct rcv {
	int64_t next[NS];
	int64_t got;
	bool ok;
};

static void rcv_receive(void *state, tr_msg_t *m)
{
	struct rcv *r = state;
	int64_t who, seq;
	tr_msg_get_int(m, 0, &who);
	tr_msg_get_int(m, 1, &seq);
	if (seq != r->next[who]++)
		r->ok = false;
	if (++r->got == (int64_t)NS * EACH)
		tr_send(me, mk_int("rcv_done", r->ok));
}

static const tr_behaviour_t rcv_b = {.name = "rcv", .receive = rcv_receive};

struct snd {
	tr_pid_t to;
	int64_t who, sent;
};

static void snd_receive(void *state, tr_msg_t *m)
{
	(void)m;
	struct snd *s = state;
	for (int i = 0; i < 2000 && s->sent < EACH; i++, s->sent++) {
		tr_msg_t *x = mk_int("n", s->who);
		tr_msg_add_int(x, s->sent);
		tr_send(s->to, x);
	}
	if (s->sent < EACH)
		tr_send(tr_self(), mk("more"));
}

static const tr_behaviour_t snd_b = {.name = "snd", .receive = snd_receive};

static bool fan_in(void)
{
	static struct rcv r;
	static struct snd s[NS];
	memset(&r, 0, sizeof(r));
	r.ok = true;
	tr_pid_t rp;
	CHECK(tr_spawn(node, &rcv_b, &r, &rp) == TR_OK);
	for (int i = 0; i < NS; i++) {
		s[i] = (struct snd){rp, i, 0};
		tr_pid_t p;
		CHECK(tr_spawn(node, &snd_b, &s[i], &p) == TR_OK);
		tr_send(p, mk("more"));
	}
	tr_msg_t *m = wait_tag("rcv_done");
	CHECK(m);
	int64_t ok = 0;
	tr_msg_get_int(m, 0, &ok);
	tr_msg_free(m);
	CHECK(ok == 1);
	return true;
}

/* ---- 3. a spawn tree across schedulers -------------------------------- */

struct tn {
	tr_pid_t parent;
	int pending;
	int64_t sum;
};

static void tree_receive(void *state, tr_msg_t *m);
static tr_err tree_init(void **state, void *arg)
{
	(void)arg;
	*state = calloc(1, sizeof(struct tn));
	return *state ? TR_OK : TR_ENOMEM;
}

static void tree_term(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

static const tr_behaviour_t tree_b = {.name = "tree",
                                      .init = tree_init,
                                      .receive = tree_receive,
                                      .terminate = tree_term};

static void tree_receive(void *state, tr_msg_t *m)
{
	struct tn *t = state;
	int64_t v;
	tr_msg_get_int(m, 0, &v);
	if (tr_msg_is(m, "spread")) {
		tr_msg_get_pid(m, 1, &t->parent);
		if (v == 0) {
			tr_send(t->parent, mk_int("result", 1));
			tr_stop(TR_NORMAL);
			return;
		}
		t->pending = 2;
		for (int i = 0; i < 2; i++) {
			tr_pid_t c;
			tr_spawn(NULL, &tree_b, NULL, &c);
			tr_msg_t *s = mk_int("spread", v - 1);
			tr_msg_add_pid(s, tr_self());
			tr_send(c, s);
		}
		return;
	}
	t->sum += v;
	if (--t->pending == 0) {
		tr_send(t->parent, mk_int("result", t->sum + 1));
		tr_stop(TR_NORMAL);
	}
}

static bool spawn_tree(void)
{
	tr_pid_t root;
	CHECK(tr_spawn(node, &tree_b, NULL, &root) == TR_OK);
	tr_msg_t *s = mk_int("spread", 13);
	tr_msg_add_pid(s, me);
	tr_send(root, s);
	tr_msg_t *m = wait_tag("result");
	CHECK(m);
	int64_t v;
	tr_msg_get_int(m, 0, &v);
	tr_msg_free(m);
	CHECK(v == (1 << 14) - 1);
	return true;
}

/* ---- 4. links and monitors against exits from several threads -------- */

#define KIDS 1000

struct sup {
	tr_pid_t kids[KIDS];
	int exits, downs;
};

static void idle_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

static const tr_behaviour_t idle_b = {.name = "idle", .receive = idle_receive};

static void sup_receive(void *state, tr_msg_t *m)
{
	struct sup *s = state;
	if (tr_msg_is(m, "start")) {
		tr_trap_exit(true, NULL);
		for (int i = 0; i < KIDS; i++) {
			tr_spawn_link(&idle_b, NULL, &s->kids[i]);
			tr_monitor(s->kids[i], NULL);
			if (i % 3 == 0) { /* and drop some monitors again */
				tr_ref_t r;
				tr_monitor(s->kids[i], &r);
				tr_demonitor(r, TR_DEMONITOR_FLUSH);
			}
		}
		tr_send(me, mk("sup_started"));
	} else if (tr_msg_kind(m) == TR_MSG_EXIT) {
		s->exits++;
	} else if (tr_msg_kind(m) == TR_MSG_DOWN) {
		s->downs++;
	}
	if (s->exits == KIDS && s->downs == KIDS) {
		s->exits++; /* report once */
		tr_send(me, mk("sup_done"));
	}
}

static const tr_behaviour_t sup_b = {.name = "sup", .receive = sup_receive};

static struct sup sup_state;

static void *killer(void *arg)
{
	intptr_t half = (intptr_t)arg;
	for (int i = (int)half; i < KIDS; i += 2)
		tr_exit(sup_state.kids[i], i % 5 ? "bye" : TR_KILL);
	return NULL;
}

static bool links_and_monitors(void)
{
	memset(&sup_state, 0, sizeof(sup_state));
	tr_pid_t s;
	CHECK(tr_spawn(node, &sup_b, &sup_state, &s) == TR_OK);
	tr_send(s, mk("start"));
	tr_msg_t *m = wait_tag("sup_started");
	CHECK(m);
	tr_msg_free(m);
	pthread_t t[2];
	for (intptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, killer, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	m = wait_tag("sup_done");
	CHECK(m);
	tr_msg_free(m);
	return true;
}

/* ---- 5. calls from plain threads and from actors ---------------------- */

static void adder_receive(void *state, tr_msg_t *m)
{
	(void)state;
	if (tr_msg_kind(m) != TR_MSG_CALL)
		return;
	tr_from_t f;
	int64_t v;
	tr_msg_from(m, &f);
	tr_msg_get_int(m, 0, &v);
	tr_reply(&f, mk_int("r", v + 1));
}

static const tr_behaviour_t adder_b = {.name = "adder",
                                       .receive = adder_receive};
static tr_pid_t adder;
static atomic_int call_errors;

static void *caller_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 300; i++) {
		tr_msg_t *rep;
		if (tr_call(node, adder, mk_int("q", i), 30000, &rep, NULL,
		            0)) {
			atomic_fetch_add(&call_errors, 1);
			continue;
		}
		int64_t v;
		tr_msg_get_int(rep, 0, &v);
		if (v != i + 1)
			atomic_fetch_add(&call_errors, 1);
		tr_msg_free(rep);
	}
	return NULL;
}

struct acaller {
	int left, ok;
};

static void acont(void *state, tr_err st, tr_msg_t *reply, const char *r,
                  void *ctx)
{
	(void)r;
	(void)ctx;
	struct acaller *a = state;
	if (st == TR_OK)
		a->ok++;
	tr_msg_free(reply);
	if (--a->left == 0)
		tr_send(me, mk_int("async_done", a->ok));
}

static void acaller_receive(void *state, tr_msg_t *m)
{
	(void)m;
	struct acaller *a = state;
	for (int i = 0; i < a->left; i++)
		tr_call_async(adder, mk_int("q", i), 30000, acont, NULL);
}

static const tr_behaviour_t acaller_b = {.name = "acaller",
                                         .receive = acaller_receive};

static bool calls(void)
{
	CHECK(tr_spawn(node, &adder_b, NULL, &adder) == TR_OK);
	static struct acaller ac = {500, 0};
	tr_pid_t a;
	CHECK(tr_spawn(node, &acaller_b, &ac, &a) == TR_OK);
	tr_send(a, mk("go"));
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, caller_thread, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	CHECK(atomic_load(&call_errors) == 0);
	tr_msg_t *m = wait_tag("async_done");
	CHECK(m);
	int64_t ok;
	tr_msg_get_int(m, 0, &ok);
	tr_msg_free(m);
	CHECK(ok == 500);
	return true;
}

/* ---- 6. timers armed and cancelled from several threads --------------- */

static void *timer_thread(void *arg)
{
	intptr_t k = (intptr_t)arg;
	for (int i = 0; i < 400; i++) {
		tr_timer_t t;
		tr_send_after(node, me, mk("tick"), (uint64_t)(i % 7), &t);
		if ((i + k) % 2)
			tr_cancel_timer(node, t, NULL);
	}
	return NULL;
}

static bool timers(void)
{
	pthread_t t[3];
	for (intptr_t i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, timer_thread, (void *)i);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	tr_send_after(node, me, mk("timers_end"), 50, NULL);
	tr_msg_t *m = wait_tag("timers_end");
	CHECK(m);
	tr_msg_free(m);
	/* drain the ticks that fired */
	while (tr_inbox_receive_match(inbox, 0, match_tag, "tick", &m) == TR_OK)
		tr_msg_free(m);
	tr_node_stats_t st;
	tr_node_stats(node, &st);
	CHECK(st.timers == 0);
	return true;
}

/* ---- 7. names raced by threads while owners exit ----------------------- */

static void *namer(void *arg)
{
	intptr_t k = (intptr_t)arg;
	char name[32];
	for (int i = 0; i < 500; i++) {
		tr_pid_t p;
		if (tr_spawn(node, &idle_b, NULL, &p))
			continue;
		snprintf(name, sizeof(name), "n%d", i % 20);
		tr_register(node, name, p);
		if ((i + k) % 3 == 0)
			tr_unregister(node, name);
		tr_exit(p, TR_KILL);
	}
	return NULL;
}

static bool match_down_ref(const tr_msg_t *m, void *arg)
{
	tr_ref_t r;
	return tr_msg_kind(m) == TR_MSG_DOWN &&
	       !tr_msg_down_info(m, &r, NULL, NULL, 0) &&
	       tr_ref_eq(r, *(tr_ref_t *)arg);
}

static bool names(void)
{
	pthread_t t[2];
	for (intptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, namer, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* every owner is dead: after they are all gone, no name remains */
	for (int i = 0; i < 20; i++) {
		char name[32];
		tr_pid_t p;
		snprintf(name, sizeof(name), "n%d", i);
		if (tr_whereis(node, name, &p) == TR_OK) {
			/* this monitor's DOWN: the shared inbox may still
			 * hold DOWNs of earlier scenarios */
			tr_ref_t r;
			tr_inbox_monitor(inbox, p, &r);
			tr_msg_t *m;
			if (tr_inbox_receive_match(inbox, 60000, match_down_ref,
			                           &r, &m) == TR_OK)
				tr_msg_free(m);
			CHECK(tr_whereis(node, name, NULL) == TR_ENOENT);
		}
	}
	return true;
}

/* ---- 8. two nodes in one process ---------------------------------------- */

static void fwd_receive(void *state, tr_msg_t *m)
{
	tr_pid_t to = *(tr_pid_t *)state;
	int64_t v;
	tr_msg_get_int(m, 0, &v);
	tr_send(v ? to : me, mk_int(v ? "hop" : "two_nodes_done", v - 1));
}

static const tr_behaviour_t fwd_b = {.name = "fwd", .receive = fwd_receive};

static bool two_nodes(void)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 2;
	o.name = "tsan-second";
	tr_node_t *n2;
	CHECK(tr_node_new(&n2, &o) == TR_OK);
	static tr_pid_t a_next, b_next;
	tr_pid_t a, b;
	CHECK(tr_spawn(node, &fwd_b, &a_next, &a) == TR_OK);
	CHECK(tr_spawn(n2, &fwd_b, &b_next, &b) == TR_OK);
	a_next = b;
	b_next = a;
	tr_send(a, mk_int("hop", 20000));
	tr_msg_t *m = wait_tag("two_nodes_done");
	tr_msg_free(m);
	tr_node_destroy(n2);
	CHECK(m);
	return true;
}

/* ---- 9. back-pressure in a cycle of three flooding actors -------------- */

static void cyc_receive(void *state, tr_msg_t *m)
{
	tr_pid_t next = *(tr_pid_t *)state;
	int64_t hops;
	tr_msg_get_int(m, 0, &hops);
	if (hops == 0) {
		tr_send(me, mk("lap"));
		return;
	}
	for (int i = 0; i < (hops > 3 ? 2 : 1); i++)
		tr_send(next, mk_int("h", hops - 1));
}

static const tr_behaviour_t cyc_b = {.name = "cyc", .receive = cyc_receive};

static bool mute_cycle(void)
{
	static tr_pid_t next[3];
	tr_pid_t p[3];
	for (int i = 0; i < 3; i++)
		CHECK(tr_spawn(node, &cyc_b, &next[i], &p[i]) == TR_OK);
	for (int i = 0; i < 3; i++)
		next[i] = p[(i + 1) % 3];
	for (int i = 0; i < 6000; i++)
		tr_send(p[i % 3], mk_int("h", 6));
	for (int i = 0; i < 6000 * 8; i++) {
		tr_msg_t *m = wait_tag("lap");
		CHECK(m);
		tr_msg_free(m);
	}
	return true;
}

/* ---- 10. slots reused while other turns send to them -------------------
 * Targets live for one message: each, on its first, spawns its successor
 * into its table entry and stops, so slots are freed and reused all the
 * time (the successor of one target takes the slot another just left).
 * Sprayers on every scheduler send to the whole table from their turns
 * (the reference-free outbox path), each message carrying the pid it was
 * addressed to. A slot reused while a turn still held it would hand a
 * message to the wrong actor. */

#define RT_TABLE    16
#define RT_SPAWNS   40000
#define RT_SPRAYERS 4

static _Atomic uint64_t rt_ids[RT_TABLE];
static _Atomic uint64_t rt_wrong, rt_right, rt_spawned, rt_max_index;
static atomic_bool rt_stop;
static tr_pid_t rt_proto; /* node and creation of every target */

static void rt_target(void *state, tr_msg_t *m);
static const tr_behaviour_t rt_target_b = {.name = "rt_target",
                                           .receive = rt_target};

static void rt_target(void *state, tr_msg_t *m)
{
	tr_pid_t to, self = tr_self();
	if (tr_msg_get_pid(m, 0, &to) != TR_OK)
		return;
	atomic_fetch_add(tr_pid_eq(to, self) ? &rt_right : &rt_wrong, 1);
	uint64_t index = self.id & 0xffffffffu,
	         max = atomic_load(&rt_max_index);
	while (index > max &&
	       !atomic_compare_exchange_weak(&rt_max_index, &max, index))
		;
	tr_pid_t next;
	if (!atomic_load(&rt_stop) &&
	    tr_spawn(tr_node_current(), &rt_target_b, state, &next) == TR_OK) {
		atomic_store(&rt_ids[(uintptr_t)state], next.id);
		if (atomic_fetch_add(&rt_spawned, 1) + 1 == RT_SPAWNS)
			tr_send(me, mk("rt_enough"));
	}
	tr_stop(TR_NORMAL);
}

static void rt_sprayer(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < RT_TABLE; i++) {
			tr_pid_t to = rt_proto;
			to.id = atomic_load(&rt_ids[i]);
			tr_msg_t *t = mk("t");
			tr_msg_add_pid(t, to);
			if (tr_send(to, t))
				tr_msg_free(t);
		}
	}
	tr_msg_t *next = mk(atomic_load(&rt_stop) ? "rt_done" : "go");
	if (tr_send(atomic_load(&rt_stop) ? me : tr_self(), next))
		tr_msg_free(next);
}

static const tr_behaviour_t rt_sprayer_b = {.name = "rt_sprayer",
                                            .receive = rt_sprayer};

static bool slot_reuse(void)
{
	for (uintptr_t i = 0; i < RT_TABLE; i++) {
		tr_pid_t p;
		CHECK(tr_spawn(node, &rt_target_b, (void *)i, &p) == TR_OK);
		rt_proto = p;
		atomic_store(&rt_ids[i], p.id);
	}
	for (int i = 0; i < RT_SPRAYERS; i++) {
		tr_pid_t p;
		CHECK(tr_spawn(node, &rt_sprayer_b, NULL, &p) == TR_OK);
		CHECK(tr_send(p, mk("go")) == TR_OK);
	}
	tr_msg_t *m = wait_tag("rt_enough");
	atomic_store(&rt_stop, true);
	CHECK(m);
	tr_msg_free(m);
	for (int i = 0; i < RT_SPRAYERS; i++) {
		m = wait_tag("rt_done");
		CHECK(m);
		tr_msg_free(m);
	}
	printf("# %llu targets, %llu messages to the right one, %llu to a "
	       "wrong one, highest slot %llu\n",
	       (unsigned long long)atomic_load(&rt_spawned),
	       (unsigned long long)atomic_load(&rt_right),
	       (unsigned long long)atomic_load(&rt_wrong),
	       (unsigned long long)atomic_load(&rt_max_index));
	CHECK(atomic_load(&rt_wrong) == 0);
	CHECK(atomic_load(&rt_right) >= RT_SPAWNS);
	/* slots were reused: far fewer than the targets spawned */
	CHECK(atomic_load(&rt_max_index) < RT_SPAWNS / 4);
	return true;
}

int main(void)
{
	static const struct {
		const char *name;
		bool (*fn)(void);
	} scenarios[] = {
	        {"pingpong_pairs", pingpong},
	        {"fan_in_with_backpressure", fan_in},
	        {"spawn_tree", spawn_tree},
	        {"links_and_monitors_vs_exits", links_and_monitors},
	        {"calls_from_threads_and_actors", calls},
	        {"timers_from_threads", timers},
	        {"names_raced_by_threads", names},
	        {"two_nodes", two_nodes},
	        {"back_pressure_cycle", mute_cycle},
	        {"slot_reuse_under_sends", slot_reuse},
	};
	size_t n = sizeof(scenarios) / sizeof(scenarios[0]);
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 2;
	if (tr_node_new(&node, &o) || tr_inbox_new(node, &inbox)) {
		printf("Bail out! cannot start a node\n");
		return 1;
	}
	me = tr_inbox_pid(inbox);
	printf("TAP version 13\n1..%zu\n", n);
	for (size_t i = 0; i < n; i++)
		run_case(scenarios[i].name, scenarios[i].fn);
	tr_inbox_destroy(inbox);
	tr_node_destroy(node);
	return failures ? 1 : 0;
}
