/*
 * tests/sim/sim.c - deterministic simulation of a troupe cluster.
 *
 *   sim [--seeds N] [--first S] [--seconds T] [--verbose] [--twice]
 *
 * A whole cluster (3 to 5 nodes, each with the global registry, a pg
 * scope and a client actor) runs in this one thread: the nodes are manual
 * (tr__sim_node_new: no scheduler or timer threads), the process clock is
 * this file's (tr__sim_clock_set), the network is sim_net.c. Everything
 * that varies (message delays, client operations, which node crashes or is
 * cut off and when, which side notices a cut first) comes from one
 * 64-bit seed, so a seed replays exactly: --twice runs every seed twice
 * and fails if the two histories differ by one bit.
 *
 * Each seed: T simulated seconds of registry traffic under faults
 * (partitions into two sides, a single cut link - an overlapping
 * partition -, a crash and a restart as a new incarnation), then every
 * fault healed, 5 simulated seconds, half of the owners killed (after the
 * last view change, so only their DOWN can remove their names), 15
 * seconds of quiet, then the checks:
 *   C1 every node installed the same view and holds the same table;
 *   C2 no name points at a dead actor;
 *   C3 a name whose last operation was an acknowledged register is held
 *      by that owner, if the owner lives (nothing lost);
 *   C4 a name whose last operation was an acknowledged unregister is
 *      absent (nothing resurrected).
 *   P1 every node sees each process group (pg, default scope) with the
 *      memberships of live actors, as many times as they joined net of
 *      their leaves, and none of a dead actor.
 * C3 and C4 skip a name if any of its operations ended without a definite
 * answer (a timeout may still take effect later). Exit status 1 and the
 * seed on the first violation: `sim --first SEED --seeds 1 --verbose`
 * replays it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>

#include "registry/util.h"
#include "runtime/internal.h"
#include "sim.h"

struct sim_world sim;

/* ---- seeded randomness, simulated time -------------------------------- */

static uint64_t rng;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t between(uint64_t lo, uint64_t hi) /* [lo, hi] */
{
	return lo + rnd() % (hi - lo + 1);
}

static uint64_t now_ns;

static uint64_t sim_clock(void)
{
	return now_ns;
}

#define MS ((uint64_t)1000000)

/* ---- the event queue -------------------------------------------------- */

enum ev_type { EV_MSG, EV_DETECT, EV_CONNECT, EV_FAULT };
enum fault { F_SPLIT, F_CUT, F_CRASH, F_HEAL_ALL, F_RESTART, F_LEADER };

struct ev {
	uint64_t at, seq;
	enum ev_type type;
	int from, to;
	uint64_t sess;
	uint64_t wseq; /* EV_MSG: the frame's sequence number on its session */
	tr_pid_t pid;
	char name[64];
	bool named;
	tr_msg_t *m;
	const char *why;
	int fault;
	uint64_t mask; /* F_SPLIT: the side of `from` */
};

static struct ev *heap;
static size_t nheap, capheap;
static uint64_t evseq;

static bool ev_less(const struct ev *a, const struct ev *b)
{
	return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void ev_push(struct ev e)
{
	e.seq = ++evseq;
	if (nheap == capheap) {
		capheap = capheap ? capheap * 2 : 1024;
		heap = realloc(heap, capheap * sizeof(*heap));
		if (!heap)
			abort();
	}
	size_t i = nheap++;
	heap[i] = e;
	while (i && ev_less(&heap[i], &heap[(i - 1) / 2])) {
		struct ev t = heap[i];
		heap[i] = heap[(i - 1) / 2];
		heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct ev ev_pop(void)
{
	struct ev top = heap[0];
	heap[0] = heap[--nheap];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < nheap && ev_less(&heap[l], &heap[m]))
			m = l;
		if (r < nheap && ev_less(&heap[r], &heap[m]))
			m = r;
		if (m == i)
			break;
		struct ev t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
	return top;
}

/* ---- links ------------------------------------------------------------ */

enum link { L_DOWN, L_UP, L_CUT }; /* L_CUT: cut, not noticed on both sides */

static enum link lnk[SIM_MAX_NODES][SIM_MAX_NODES];
static uint64_t sess[SIM_MAX_NODES][SIM_MAX_NODES];
static bool want_up[SIM_MAX_NODES][SIM_MAX_NODES];
static uint64_t last_at[SIM_MAX_NODES][SIM_MAX_NODES]; /* FIFO per direction */
/* frame sequence numbers per direction of the current session, as
 * net.c numbers DATA frames: a receiver that sees anything but the next
 * one ends the session ("sequence_gap") */
static uint64_t seq_out[SIM_MAX_NODES][SIM_MAX_NODES];
static uint64_t seq_in[SIM_MAX_NODES][SIM_MAX_NODES];

static uint64_t stat_posted, stat_delivered, stat_lost, stat_faults, stat_dups,
        stat_reorders, stat_gaps;

void sim_post(int from, int to, tr_pid_t pid, const char *name, tr_msg_t *m)
{
	stat_posted++;
	if (lnk[from][to] != L_UP) { /* into a session that is gone */
		stat_lost++;
		tr_msg_free(m);
		return;
	}
	uint64_t at = now_ns + between(100, 5000) * 1000; /* 0.1-5 ms */
	/* wire faults, rarely: a frame that overtakes the one before it, a
	 * frame delivered twice */
	bool reorder = between(0, 999) < 2, dup = between(0, 999) < 2;
	if (reorder && at > last_at[from][to]) {
		at = last_at[from][to] > now_ns ? now_ns + 1 : at;
		stat_reorders++;
	} else {
		if (at <= last_at[from][to])
			at = last_at[from][to] + 1;
		last_at[from][to] = at;
	}
	struct ev e = {.at = at,
	               .type = EV_MSG,
	               .from = from,
	               .to = to,
	               .sess = sess[from][to],
	               .wseq = ++seq_out[from][to],
	               .pid = pid,
	               .named = name != NULL,
	               .m = m};
	if (name)
		snprintf(e.name, sizeof(e.name), "%s", name);
	ev_push(e);
	if (dup && !tr_msg_dup(m, &e.m)) {
		e.at = last_at[from][to] = last_at[from][to] + 1;
		stat_dups++;
		ev_push(e);
	}
}

static bool alive(int i)
{
	return sim.node[i].node != NULL;
}

/* Both sides of i-j up, a new session. */
static void connect_pair(int i, int j)
{
	if (!alive(i) || !alive(j) || lnk[i][j] != L_DOWN)
		return;
	want_up[i][j] = want_up[j][i] = false;
	lnk[i][j] = lnk[j][i] = L_UP;
	sess[i][j] = ++sess[j][i];
	sess[j][i] = sess[i][j];
	seq_out[i][j] = seq_out[j][i] = seq_in[i][j] = seq_in[j][i] = 0;
	sim_net_up(i, j);
	sim_net_up(j, i);
}

/* Cut i-j: what is in flight is lost; each side notices on its own. */
static void cut_pair(int i, int j, uint64_t max_notice_ms, const char *why)
{
	if (lnk[i][j] != L_UP)
		return;
	lnk[i][j] = lnk[j][i] = L_CUT;
	sess[i][j] = ++sess[j][i];
	sess[j][i] = sess[i][j];
	int side[2] = {i, j};
	for (int k = 0; k < 2; k++) {
		int self = side[k], other = side[1 - k];
		if (!alive(self))
			continue;
		ev_push((struct ev){.at = now_ns +
		                          between(1, max_notice_ms) * MS,
		                    .type = EV_DETECT,
		                    .from = self,
		                    .to = other,
		                    .sess = sim.node[self].creation,
		                    .why = why});
	}
}

static void on_detect(struct ev *e)
{
	int i = e->from, j = e->to;
	if (alive(i) && sim.node[i].creation == e->sess &&
	    sim.believes_up[i][j])
		sim_net_down(i, j, e->why);
	if (lnk[i][j] == L_CUT && (!alive(i) || !sim.believes_up[i][j]) &&
	    (!alive(j) || !sim.believes_up[j][i])) {
		lnk[i][j] = lnk[j][i] = L_DOWN;
		if (want_up[i][j])
			ev_push((struct ev){.at = now_ns + between(1, 20) * MS,
			                    .type = EV_CONNECT,
			                    .from = i,
			                    .to = j});
	}
}

static void heal_pair(int i, int j)
{
	if (i == j || !alive(i) || !alive(j))
		return;
	if (lnk[i][j] == L_DOWN)
		connect_pair(i, j);
	else if (lnk[i][j] == L_CUT)
		want_up[i][j] = want_up[j][i] = true;
}

/* ---- the history ------------------------------------------------------ */

enum op_kind { OP_REG, OP_UNREG };
enum outcome { R_PENDING, R_OK, R_DEFINITE, R_UNKNOWN };

struct op {
	int node;
	char name[16];
	enum op_kind kind;
	tr_pid_t pid;
	enum outcome res;
	char err[24];
	uint64_t t0, t1;
};

static struct op *ops;
static size_t nops, capops;
static uint64_t ops_ok;

static size_t op_new(int node, const char *name, enum op_kind k, tr_pid_t pid)
{
	if (nops == capops) {
		capops = capops ? capops * 2 : 1024;
		ops = realloc(ops, capops * sizeof(*ops));
		if (!ops)
			abort();
	}
	struct op *o = &ops[nops];
	memset(o, 0, sizeof(*o));
	o->node = node;
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->kind = k;
	o->pid = pid;
	o->t0 = now_ns;
	return nops++;
}

/* ---- process groups: what each pid's memberships should be ------------ */

#define GROUPS      2 /* groups g0, g1 of the default scope */
#define MAX_MEMBERS 4096

/* joins minus leaves (never below 0) per (group, pid), in the order each
 * client asked: a client's requests reach its node's pg server in order */
struct membership {
	tr_pid_t pid;
	int group;
	int count;
};
static struct membership mships[MAX_MEMBERS];
static size_t nmships;
static uint64_t pg_ops;

static void pg_note(int group, tr_pid_t pid, int delta)
{
	pg_ops++;
	for (size_t i = 0; i < nmships; i++)
		if (mships[i].group == group && tr_pid_eq(mships[i].pid, pid)) {
			mships[i].count += delta;
			if (mships[i].count < 0)
				mships[i].count = 0;
			return;
		}
	if (delta > 0 && nmships < MAX_MEMBERS)
		mships[nmships++] = (struct membership){pid, group, delta};
}

/* ---- the actors: a client per node, idle owners ------------------------ */

#define PRIVATE 4 /* names only this node's client touches: p<node>_<k> */
#define SHARED  3 /* names every client races for: s<k> */

static bool load_on; /* clients start operations */

static void owner_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

static const tr_behaviour_t owner_b = {.name = "owner",
                                       .receive = owner_receive};

struct client {
	int node;
	bool busy;
	tr_pid_t owners[PRIVATE];
};

static struct client clients[SIM_MAX_NODES];

static void tick_later(struct client *c)
{
	tr_msg_t *t;
	if (tr_msg_new(&t, "tick"))
		abort();
	if (tr_send_after(sim.node[c->node].node, tr_self(), t, between(10, 60),
	                  NULL))
		tr_msg_free(t);
}

static void answered(void *state, tr_err status, tr_msg_t *reply,
                     const char *reason, void *ctx)
{
	(void)reason;
	struct client *c = state;
	struct op *o = &ops[(size_t)(uintptr_t)ctx];
	c->busy = false;
	o->t1 = now_ns;
	if (status != TR_OK) {
		o->res = R_UNKNOWN;
		snprintf(o->err, sizeof(o->err), "%s", tr_err_name(status));
		return;
	}
	if (tr_msg_is(reply, "ok")) {
		o->res = R_OK;
		ops_ok++;
	} else {
		tr_msg_get_strbuf(reply, 0, o->err, sizeof(o->err));
		/* a definite refusal changes nothing; anything else (a
		 * timeout, a closed server) may still take effect */
		o->res = !strcmp(o->err, "TR_EEXIST") ||
		                         !strcmp(o->err, "TR_ENOENT")
		                 ? R_DEFINITE
		                 : R_UNKNOWN;
	}
	tr_msg_free(reply);
}

static void request(struct client *c, tr_msg_t *req, size_t op)
{
	tr_pid_t srv = tr_global_server(sim.node[c->node].g);
	if (tr_call_async(srv, req, 2000, answered, (void *)(uintptr_t)op) !=
	    TR_OK) {
		tr_msg_free(req);
		ops[op].res = R_UNKNOWN;
		snprintf(ops[op].err, sizeof(ops[op].err), "call refused");
		return;
	}
	c->busy = true;
}

static void client_receive(void *state, tr_msg_t *m)
{
	struct client *c = state;
	if (!tr_msg_is(m, "tick"))
		return;
	tick_later(c);
	if (!load_on || c->busy)
		return;
	tr_node_t *node = sim.node[c->node].node;
	uint64_t r = between(0, 99);
	char name[16];
	if (r < 70) {
		bool shared = r >= 55;
		int k = (int)between(0, (shared ? SHARED : PRIVATE) - 1);
		if (shared)
			snprintf(name, sizeof(name), "s%d", k);
		else
			snprintf(name, sizeof(name), "p%d_%d", c->node, k);
		if (!shared && r < 30) {
			size_t op =
			        op_new(c->node, name, OP_UNREG, TR_PID_NONE);
			tr_msg_t *q;
			if (tr_msg_new(&q, "unregister"))
				abort();
			tr_msg_add_str(q, name);
			tr_msg_add_uint(q, 1500);
			request(c, q, op);
			return;
		}
		tr_pid_t owner;
		if (tr_spawn(node, &owner_b, NULL, &owner))
			abort();
		if (!shared)
			c->owners[k] = owner;
		size_t op = op_new(c->node, name, OP_REG, owner);
		tr_msg_t *q;
		if (tr_msg_new(&q, "register"))
			abort();
		tr_msg_add_str(q, name);
		tr_msg_add_pid(q, owner);
		tr_msg_add_nil(q);
		tr_msg_add_uint(q, 1500);
		request(c, q, op);
	} else if (r < 80) {
		/* an owner dies: its name must go with it */
		int k = (int)between(0, PRIVATE - 1);
		if (!tr_pid_is_none(c->owners[k]))
			tr_exit(c->owners[k], TR_KILL);
	} else {
		/* an owner joins or leaves a process group (pg: from an
		 * actor, in order and without waiting) */
		int k = (int)between(0, PRIVATE - 1), gi = (int)between(0, 1);
		char group[8];
		snprintf(group, sizeof(group), "g%d", gi);
		tr_pid_t o = c->owners[k];
		if (tr_pid_is_none(o))
			return;
		bool join = r < 92;
		tr_err e = join ? tr_pg_join(sim.node[c->node].pg, group, o)
		                : tr_pg_leave(sim.node[c->node].pg, group, o);
		if (!e)
			pg_note(gi, o, join ? 1 : -1);
	}
}

static const tr_behaviour_t client_b = {.name = "client",
                                        .receive = client_receive};

/* ---- nodes ------------------------------------------------------------ */

static uint32_t next_creation(void)
{
	uint32_t c;
	do
		c = (uint32_t)rnd();
	while (!c);
	return c;
}

static void node_start(int i)
{
	struct sim_node *s = &sim.node[i];
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = s->name;
	o.creation = s->creation = next_creation();
	if (tr__sim_node_new(&s->node, &o))
		abort();
	s->net = sim_net_attach(i);
	if (!s->net || tr_global_start(s->net, NULL, &s->g) ||
	    tr_pg_start(s->net, NULL, &s->pg))
		abort();
	memset(&clients[i], 0, sizeof(clients[i]));
	clients[i].node = i;
	if (tr_spawn(s->node, &client_b, &clients[i], &s->client))
		abort();
	tr_msg_t *t; /* the first tick; each tick plans the next */
	if (tr_msg_new(&t, "tick") || tr_send(s->client, t))
		abort();
	for (int j = 0; j < SIM_MAX_NODES; j++)
		last_at[i][j] = last_at[j][i] = 0;
}

static void node_crash(int i)
{
	for (int j = 0; j < sim.n; j++)
		if (j != i && alive(j)) {
			/* a killed process: its peers see the connection
			 * close within milliseconds */
			cut_pair(i, j, 5, "connection_closed");
			sim.believes_up[i][j] = false;
		}
	struct sim_node *s = &sim.node[i];
	tr_node_t *n = s->node;
	s->node = NULL; /* not alive: nothing is posted to or from it */
	tr_node_destroy(n);
	tr_global_stop(s->g);
	s->g = NULL;
	tr_pg_stop(s->pg);
	s->pg = NULL;
	sim_net_forget(i);
}

/* ---- faults ------------------------------------------------------------ */

static void fault(struct ev *e)
{
	stat_faults++;
	int n = sim.n;
	switch (e->fault) {
	case F_SPLIT:
		for (int i = 0; i < n; i++)
			for (int j = i + 1; j < n; j++)
				if (((e->mask >> i) & 1) !=
				    ((e->mask >> j) & 1))
					cut_pair(i, j, 600,
					         "heartbeat_timeout");
		break;
	case F_CUT:
		cut_pair(e->from, e->to, 600, "heartbeat_timeout");
		break;
	case F_CRASH:
		if (alive(e->from))
			node_crash(e->from);
		break;
	case F_RESTART:
		if (!alive(e->from)) {
			node_start(e->from);
			for (int j = 0; j < n; j++)
				if (j != e->from && alive(j))
					want_up[e->from][j] =
					        want_up[j][e->from] = true;
			for (int j = 0; j < n; j++)
				if (j != e->from && lnk[e->from][j] == L_DOWN)
					ev_push((struct ev){
					        .at = now_ns +
					              between(1, 50) * MS,
					        .type = EV_CONNECT,
					        .from = e->from,
					        .to = j});
		}
		break;
	case F_LEADER: {
		/* the registry's leader dies while one member is behind:
		 * its last ops reach the others, not that one (the window
		 * the merge's tombstones are for) */
		int l = -1;
		for (int i = 0; i < n && l < 0; i++) {
			tr_global_info_t info;
			if (!alive(i) || tr_global_info(sim.node[i].g, &info))
				continue;
			for (int j = 0; j < n; j++)
				if (alive(j) &&
				    !strcmp(sim.node[j].name, info.leader))
					l = j;
		}
		if (l < 0)
			break;
		int m = (int)((l + between(1, n - 1)) % n);
		if (!alive(m))
			break;
		tr__global_test_lose_ops_to(sim.node[l].g, sim.node[m].name);
		uint64_t at = now_ns + between(20, 200) * MS;
		ev_push((struct ev){.at = at,
		                    .type = EV_FAULT,
		                    .fault = F_CRASH,
		                    .from = l});
		ev_push((struct ev){.at = at + between(500, 3000) * MS,
		                    .type = EV_FAULT,
		                    .fault = F_RESTART,
		                    .from = l});
		break;
	}
	case F_HEAL_ALL:
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++)
				heal_pair(i, j);
		break;
	}
}

/* The fault plan: one fault every 1-3 s, each healed 0.5-4 s later. */
static void plan_faults(uint64_t t0, uint64_t until_ms)
{
	uint64_t t = between(500, 1500);
	while (t < until_ms) {
		uint64_t kind = between(0, 3), heal = t + between(500, 4000);
		struct ev e = {.at = t0 + t * MS, .type = EV_FAULT};
		if (kind == 0) {
			e.fault = F_SPLIT;
			e.mask = between(1, (1ull << sim.n) - 2);
			ev_push(e);
		} else if (kind == 1) {
			e.fault = F_CUT;
			e.from = (int)between(0, sim.n - 1);
			e.to = (int)((e.from + between(1, sim.n - 1)) % sim.n);
			ev_push(e);
		} else if (kind == 3) {
			e.fault = F_LEADER; /* crash and restart follow */
			ev_push(e);
		} else {
			e.fault = F_CRASH;
			e.from = (int)between(0, sim.n - 1);
			ev_push(e);
			ev_push((struct ev){.at = t0 + heal * MS,
			                    .type = EV_FAULT,
			                    .fault = F_RESTART,
			                    .from = e.from});
		}
		ev_push((struct ev){.at = t0 + heal * MS,
		                    .type = EV_FAULT,
		                    .fault = F_HEAL_ALL});
		t = heal + between(0, 1000);
	}
}

/* ---- the loop ---------------------------------------------------------- */

static int violations;
static bool verbose;

#define FAIL(...)                                 \
	do {                                      \
		violations++;                     \
		if (verbose || violations <= 5) { \
			printf("  VIOLATION: ");  \
			printf(__VA_ARGS__);      \
			printf("\n");             \
		}                                 \
	} while (0)

/* Run every node until nothing is ready at this instant. */
static void settle(void)
{
	for (unsigned rounds = 0;; rounds++) {
		bool any = false;
		for (int i = 0; i < sim.n; i++) {
			if (!alive(i))
				continue;
			tr__sim_timers_fire(sim.node[i].node);
			if (tr__sim_node_run(sim.node[i].node, 100000))
				any = true;
		}
		if (!any)
			return;
		if (rounds > 100000) {
			FAIL("livelock at t=%" PRIu64 " ms", now_ns / MS);
			return;
		}
	}
}

static void run_until(uint64_t end_ns)
{
	for (;;) {
		settle();
		uint64_t next = nheap ? heap[0].at : UINT64_MAX;
		for (int i = 0; i < sim.n; i++)
			if (alive(i)) {
				uint64_t d =
				        tr__sim_timers_next(sim.node[i].node);
				if (d < next)
					next = d;
			}
		if (next > end_ns) {
			now_ns = end_ns;
			return;
		}
		if (next > now_ns)
			now_ns = next;
		while (nheap && heap[0].at <= now_ns) {
			struct ev e = ev_pop();
			switch (e.type) {
			case EV_MSG:
				if (alive(e.to) && lnk[e.from][e.to] == L_UP &&
				    sess[e.from][e.to] == e.sess &&
				    e.wseq != seq_in[e.to][e.from] + 1) {
					/* what net.c does with a gap or a
					 * repeat: end the session, reconnect */
					stat_gaps++;
					stat_lost++;
					tr_msg_free(e.m);
					cut_pair(e.from, e.to, 5,
					         "sequence_gap");
					want_up[e.from][e.to] =
					        want_up[e.to][e.from] = true;
				} else if (alive(e.to) &&
				           lnk[e.from][e.to] == L_UP &&
				           sess[e.from][e.to] == e.sess) {
					seq_in[e.to][e.from] = e.wseq;
					stat_delivered++;
					sim_net_arrive(e.from, e.to, e.pid,
					               e.named ? e.name : NULL,
					               e.m);
				} else {
					stat_lost++;
					tr_msg_free(e.m);
				}
				break;
			case EV_DETECT:
				on_detect(&e);
				break;
			case EV_CONNECT:
				connect_pair(e.from, e.to);
				break;
			case EV_FAULT:
				fault(&e);
				break;
			}
		}
	}
}

/* ---- checks -------------------------------------------------------------- */

struct entry {
	char name[16];
	tr_pid_t pid;
};

struct table {
	struct entry v[64];
	size_t n;
};

static bool collect(const char *name, size_t len, tr_pid_t pid, void *ctx)
{
	struct table *t = ctx;
	if (t->n < 64 && len < 16) {
		memcpy(t->v[t->n].name, name, len);
		t->v[t->n].name[len] = 0;
		t->v[t->n].pid = pid;
		t->n++;
	}
	return true;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
	              ((const struct entry *)b)->name);
}

static bool pid_alive(tr_pid_t p)
{
	for (int i = 0; i < sim.n; i++)
		if (alive(i) && tr_node_id(sim.node[i].node) == p.node) {
			tr_actor_info_t ai;
			return sim.node[i].creation == p.creation &&
			       tr_actor_info(sim.node[i].node, p, &ai) == TR_OK;
		}
	return false;
}

static const struct entry *lookup(const struct table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].name, name))
			return &t->v[i];
	return NULL;
}

static uint64_t hash;

static void mix(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		hash = (hash ^ b[i]) * 0x100000001b3ull;
}

/* a pid's fields, not its padding */
static void mix_pid(tr_pid_t p)
{
	mix(&p.node, sizeof(p.node));
	mix(&p.id, sizeof(p.id));
	mix(&p.creation, sizeof(p.creation));
}

static size_t checked, pgchecked;

static void check(void)
{
	struct table t0 = {0};
	tr_global_info_t i0;
	bool first = true;
	for (int i = 0; i < sim.n; i++) {
		struct table t = {0};
		tr_global_info_t info;
		tr_global_info(sim.node[i].g, &info);
		tr_global_foreach(sim.node[i].g, collect, &t, NULL);
		qsort(t.v, t.n, sizeof(t.v[0]), entry_cmp);
		if (!info.ready || info.members != (size_t)sim.n - 1)
			FAIL("C1 %s: view not installed (ready %d, members "
			     "%zu)",
			     sim.node[i].name, info.ready, info.members);
		if (first) {
			t0 = t;
			i0 = info;
			first = false;
			continue;
		}
		if (strcmp(info.leader, i0.leader) || info.epoch != i0.epoch)
			FAIL("C1 %s: leader %s epoch %" PRIu64
			     ", %s: leader %s epoch %" PRIu64,
			     sim.node[i].name, info.leader, info.epoch,
			     sim.node[0].name, i0.leader, i0.epoch);
		bool same = t.n == t0.n;
		for (size_t k = 0; same && k < t.n; k++)
			same = !strcmp(t.v[k].name, t0.v[k].name) &&
			       tr_pid_eq(t.v[k].pid, t0.v[k].pid);
		if (!same || info.digest != i0.digest)
			FAIL("C1 %s's table differs from %s's (%zu and %zu "
			     "names)",
			     sim.node[i].name, sim.node[0].name, t.n, t0.n);
	}
	for (size_t k = 0; k < t0.n; k++) {
		if (verbose)
			printf("  %s -> <%" PRIx64 ".%" PRIu64 ".%" PRIx32
			       ">%s\n",
			       t0.v[k].name, t0.v[k].pid.node, t0.v[k].pid.id,
			       t0.v[k].pid.creation,
			       pid_alive(t0.v[k].pid) ? "" : " (dead)");
		mix(t0.v[k].name, strlen(t0.v[k].name));
		mix_pid(t0.v[k].pid);
		if (!pid_alive(t0.v[k].pid))
			FAIL("C2 %s points at a dead actor", t0.v[k].name);
	}
	/* P1: every node sees each group's members as they should be: the
	 * memberships of live actors, as many times as they joined net of
	 * their leaves; none of a dead actor */
	for (int gi = 0; gi < GROUPS; gi++) {
		char group[8];
		snprintf(group, sizeof(group), "g%d", gi);
		size_t want = 0;
		for (size_t k = 0; k < nmships; k++)
			if (mships[k].group == gi && pid_alive(mships[k].pid))
				want += (size_t)mships[k].count;
		for (int i = 0; i < sim.n; i++) {
			static tr_pid_t got[MAX_MEMBERS];
			size_t n = 0;
			tr_pg_members(sim.node[i].pg, group, false, got,
			              MAX_MEMBERS, &n);
			bool ok = n == want;
			for (size_t k = 0; ok && k < nmships; k++) {
				struct membership *ms = &mships[k];
				if (ms->group != gi)
					continue;
				int c = 0;
				for (size_t j = 0; j < n && j < MAX_MEMBERS;
				     j++)
					c += tr_pid_eq(got[j], ms->pid);
				ok = c == (pid_alive(ms->pid) ? ms->count : 0);
			}
			if (!ok)
				FAIL("P1 %s: group %s has %zu members, %zu "
				     "expected (or other ones)",
				     sim.node[i].name, group, n, want);
			pgchecked += n;
		}
	}
	/* C3, C4 on the private names */
	for (int node = 0; node < sim.n; node++)
		for (int k = 0; k < PRIVATE; k++) {
			char name[16];
			snprintf(name, sizeof(name), "p%d_%d", node, k);
			bool known = true, held = false;
			tr_pid_t want = TR_PID_NONE;
			size_t last = SIZE_MAX;
			for (size_t i = 0; i < nops; i++) {
				struct op *o = &ops[i];
				if (strcmp(o->name, name))
					continue;
				if (o->res == R_UNKNOWN || o->res == R_PENDING)
					known = false;
				if (o->res != R_OK)
					continue;
				last = i;
				held = o->kind == OP_REG;
				want = held ? o->pid : TR_PID_NONE;
			}
			if (!known || last == SIZE_MAX)
				continue;
			checked++;
			const struct entry *e = lookup(&t0, name);
			if (held && pid_alive(want)) {
				if (!e || !tr_pid_eq(e->pid, want))
					FAIL("C3 %s: acknowledged register "
					     "(op %zu at %" PRIu64 " ms) lost",
					     name, last, ops[last].t0 / MS);
			} else if (e) {
				FAIL("C4 %s: held after its %s (op %zu at "
				     "%" PRIu64 " ms)",
				     name,
				     held ? "owner died"
				          : "acknowledged "
				            "unregister",
				     last, ops[last].t0 / MS);
			}
		}
}

/* ---- one seed ----------------------------------------------------------- */

static uint64_t run_seed(uint64_t seed, uint64_t seconds)
{
	rng = seed;
	now_ns = 1000 * MS;
	memset(&sim, 0, sizeof(sim));
	memset(lnk, 0, sizeof(lnk));
	memset(sess, 0, sizeof(sess));
	memset(want_up, 0, sizeof(want_up));
	memset(last_at, 0, sizeof(last_at));
	nheap = 0;
	evseq = 0;
	nops = 0;
	ops_ok = 0;
	nmships = 0;
	pg_ops = 0;
	hash = 0xcbf29ce484222325ull;
	stat_posted = stat_delivered = stat_lost = stat_faults = 0;
	stat_dups = stat_reorders = stat_gaps = 0;
	violations = 0;
	checked = 0;
	pgchecked = 0;
	sim.n = (int)between(3, SIM_MAX_NODES);
	for (int i = 0; i < sim.n; i++) {
		snprintf(sim.node[i].name, sizeof(sim.node[i].name), "n%d", i);
		node_start(i);
	}
	for (int i = 0; i < sim.n; i++)
		for (int j = i + 1; j < sim.n; j++)
			connect_pair(i, j);
	load_on = true;
	uint64_t t0 = now_ns;
	plan_faults(t0, seconds * 1000);
	run_until(t0 + seconds * 1000 * MS);
	load_on = false;
	/* heal: every crashed node back, every pair connected */
	for (int i = 0; i < sim.n; i++)
		if (!alive(i))
			fault(&(struct ev){.fault = F_RESTART, .from = i});
	fault(&(struct ev){.fault = F_HEAL_ALL});
	run_until(now_ns + 5000 * MS);
	/* owners dying after the last view change: only their DOWN can
	 * take their names now */
	for (int i = 0; i < sim.n; i++)
		for (int k = 0; k < PRIVATE; k += 2)
			if (!tr_pid_is_none(clients[i].owners[k]))
				tr_exit(clients[i].owners[k], TR_KILL);
	run_until(now_ns + 15000 * MS);
	/* whatever is planned after the end is dropped unrun */
	while (nheap) {
		struct ev e = ev_pop();
		if (e.type == EV_MSG)
			tr_msg_free(e.m);
	}
	check();
	for (size_t i = 0; i < nops; i++) {
		struct op *o = &ops[i];
		mix(&o->node, sizeof(o->node));
		mix(o->name, strlen(o->name));
		mix(&o->kind, sizeof(o->kind));
		mix_pid(o->pid);
		mix(&o->res, sizeof(o->res));
		mix(o->err, strlen(o->err));
		mix(&o->t0, sizeof(o->t0));
		mix(&o->t1, sizeof(o->t1));
	}
	mix(&stat_delivered, sizeof(stat_delivered));
	for (int i = 0; i < sim.n; i++) {
		if (alive(i)) {
			tr_node_destroy(sim.node[i].node);
			sim.node[i].node = NULL;
			tr_global_stop(sim.node[i].g);
			tr_pg_stop(sim.node[i].pg);
		}
		sim_net_forget(i);
	}
	return hash;
}

int main(int argc, char **argv)
{
	uint64_t first = 1, seeds = 20, seconds = 20;
	bool twice = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
			seeds = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--first") && i + 1 < argc)
			first = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[i], "--twice"))
			twice = true;
		else {
			fprintf(stderr,
			        "usage: sim [--seeds N] [--first S] "
			        "[--seconds T] [--verbose] [--twice]\n");
			return 2;
		}
	}
	tr__sim_clock_set(sim_clock);
	uint64_t tot_ops = 0, tot_ok = 0, tot_msgs = 0, tot_faults = 0,
	         tot_checked = 0, tot_wire = 0, tot_pg = 0;
	int bad = 0;
	for (uint64_t s = first; s < first + seeds; s++) {
		uint64_t h = run_seed(s, seconds);
		printf("seed %" PRIu64 ": %d nodes, %zu ops (%" PRIu64
		       " ok), %" PRIu64 " faults, %" PRIu64
		       " messages delivered, %" PRIu64 " lost, %" PRIu64
		       " duplicated and %" PRIu64
		       " reordered on the wire (%" PRIu64
		       " sessions ended), %zu names checked, %" PRIu64
		       " pg joins and leaves, %zu pg memberships checked, "
		       "history %016" PRIx64 "%s\n",
		       s, sim.n, nops, ops_ok, stat_faults, stat_delivered,
		       stat_lost, stat_dups, stat_reorders, stat_gaps, checked,
		       pg_ops, pgchecked, h, violations ? " FAILED" : "");
		tot_pg += pg_ops;
		tot_wire += stat_dups + stat_reorders;
		tot_ops += nops;
		tot_ok += ops_ok;
		tot_msgs += stat_delivered;
		tot_faults += stat_faults;
		tot_checked += checked;
		if (violations) {
			printf("replay: sim --first %" PRIu64
			       " --seeds 1 --seconds %" PRIu64 " --verbose\n",
			       s, seconds);
			bad++;
		}
		if (twice) {
			uint64_t h2 = run_seed(s, seconds);
			if (h2 != h) {
				printf("seed %" PRIu64 " did not replay: "
				       "history %016" PRIx64 " then %016" PRIx64
				       "\n",
				       s, h, h2);
				bad++;
			}
		}
	}
	printf("sim: %" PRIu64 " seeds, %" PRIu64 " operations (%" PRIu64
	       " acknowledged), %" PRIu64 " faults, %" PRIu64
	       " messages delivered, %" PRIu64 " wire faults, %" PRIu64
	       " names checked, %" PRIu64
	       " pg joins and leaves, %d seeds failed\n",
	       seeds, tot_ops, tot_ok, tot_faults, tot_msgs, tot_wire,
	       tot_checked, tot_pg, bad);
	tr__sim_clock_set(NULL);
	free(heap);
	free(ops);
	return bad ? 1 : 0;
}
