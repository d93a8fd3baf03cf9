/*
 * tests/fuzz/fuzz_registry.c - libFuzzer target for the registries'
 * peer messages: the global registry's server (registry/global.c: g_hi,
 * g_view, g_req, g_op, g_ack, g_rep, g_pull, g_table, g_install) and a
 * pg scope's (registry/pg.c: pg_discover, pg_sync, pg_join, pg_leave),
 * each fed what a peer node could send them.
 *
 * Two nodes of this process on loopback: "fz-m" runs the servers under
 * test, "fz-a" is the peer. On fz-a two sink actors stand for its
 * servers (locally named tr_global and tr_pg:fz); being the smaller
 * name, fz-a is the global registry's leader. Before each input the
 * servers are started afresh and brought to one state: fz-a a member
 * (its g_hi) and the leader's install of epoch 2 with the names "known"
 * (an actor of fz-m) and "far" (one of fz-a) and the lock "res"; pg has
 * fz-a as a peer and the group "grp" with a member of each node.
 *
 * An input is up to 16 records, each one header byte and one msgpack
 * value (the message: [tag, fields...]). Header bits: 0 the pg server
 * (else the global one); 1-2 the sender: 0 and 3 fz-a's server, 1
 * another actor of fz-a, 2 none (a plain thread of fz-a); 3 a call
 * (else a plain message). A value that is not a message is skipped, as
 * the wire would drop it. Records are delivered as the network layer
 * delivers a peer's message (tr_msg_from_msgpack(), then tr__deliver()
 * with the sender set), then a call to each server waits for them to
 * be handled.
 *
 * Checked after each input: both servers still answer; the global
 * replica is consistent (tr_global_foreach() sees as many names as
 * tr_global_info() counts, and tr_global_whereis() of each is the pid
 * listed); when every global record was counted as rejected, the
 * replica is unchanged ("known" where it was, same names, same digest).
 * One known issue is let through (see walk_name()).
 *
 * TR_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (it needs this run's
 * pids and view hash, which are the same in every run: fixed node names
 * and creations, the same spawns in the same order).
 *
 *   clang -fsanitize=fuzzer,address,undefined (see tests/fuzz/run.sh)
 *   or, linked with replay.c, a plain program that replays the corpus.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <troupe/troupe.h>

#include "net/wire.h"
#include "runtime/internal.h"
#include "runtime/mpack.h"
#include "tests/fuzz/seeds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void tr_fuzz_cleanup(void);

#define MAX_RECORDS 16
#define WAIT_MS     10000
/* the epoch of the baseline install: fz-m installs 1 alone, at its start */
#define EPOCH 2

static struct {
	bool up;
	tr_node_t *m, *a; /* under test, peer */
	tr_net_t *nm, *na;
	tr_global_t *g;
	tr_pg_t *pg;
	tr_pid_t sink_g, sink_pg, other; /* actors of fz-a */
	tr_pid_t local;                  /* an actor of fz-m */
	tr_pid_t kernel_a; /* what a plain thread of fz-a's sends are from */
	uint64_t view;
} F;

static _Atomic uint64_t seen_view; /* from the g_view fz-m sends fz-a */

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_registry: %s\n", what);
		abort();
	}
}

static void sink_receive(void *state, tr_msg_t *m)
{
	(void)state;
	uint64_t v;
	if (tr_msg_is(m, "g_view") && !tr_msg_get_uint(m, 0, &v))
		atomic_store(&seen_view, v);
}

static void idle_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

static const tr_behaviour_t sink_b = {.name = "fz_sink",
                                      .receive = sink_receive};
static const tr_behaviour_t idle_b = {.name = "fz_idle",
                                      .receive = idle_receive};

static tr_node_t *node_new(const char *name, uint32_t creation, tr_net_t **net)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.name = name;
	o.creation = creation;
	o.schedulers = 1;
	/* a scheduler that sleeps as soon as it is idle makes every call
	 * here wait for its wake-up: 1 ms of spinning triples the rate */
	o.spin_us = 1000;
	tr_node_t *n;
	check(tr_node_new(&n, &o) == TR_OK, "tr_node_new");
	tr_net_opts_t no;
	tr_net_opts_init(&no);
	no.listen = "tcp://127.0.0.1:0";
	static const char secret[] = "fuzz-registry-secret-0123456789";
	no.secret = secret;
	no.secret_len = sizeof(secret) - 1;
	/* slow under ASan on two busy cores: no false nodedown */
	no.heartbeat_ms = 200;
	no.timeout_ms = 30000;
	check(tr_net_start(n, &no, net) == TR_OK, "tr_net_start");
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void setup(void)
{
	F.m = node_new("fz-m", 0x4d4d4d4d, &F.nm);
	F.a = node_new("fz-a", 0x41414141, &F.na);
	check(tr_net_join(F.na, tr_net_endpoint(F.nm), WAIT_MS) == TR_OK,
	      "join");
	for (int i = 0; i < 1000 && !tr_net_is_up(F.nm, "fz-a"); i++)
		sleep_ms(5);
	check(tr_net_is_up(F.nm, "fz-a"), "fz-a up on fz-m");
	check(tr_net_kernel(F.nm, "fz-a", &F.kernel_a) == TR_OK, "kernel");
	tr_spawn_opts_t so = {.name = TR_GLOBAL_SERVER};
	check(tr_spawn_opt(F.a, &sink_b, NULL, &so, &F.sink_g, NULL) == TR_OK,
	      "spawn");
	so.name = "tr_pg:fz";
	check(tr_spawn_opt(F.a, &sink_b, NULL, &so, &F.sink_pg, NULL) == TR_OK,
	      "spawn");
	check(tr_spawn(F.a, &idle_b, NULL, &F.other) == TR_OK, "spawn");
	check(tr_spawn(F.m, &idle_b, NULL, &F.local) == TR_OK, "spawn");
	F.up = true;
}

void tr_fuzz_cleanup(void)
{
	if (!F.up)
		return;
	tr_global_stop(F.g);
	tr_pg_stop(F.pg);
	tr_node_destroy(F.a);
	tr_node_destroy(F.m);
	memset(&F, 0, sizeof(F));
}

/* Deliver packed (a message's msgpack) to `to` on fz-m as from `from`,
 * as net.c delivers a peer's envelope. false: not a message. */
static bool deliver(tr_pid_t to, tr_pid_t from, bool call,
                    const uint8_t *packed, size_t len)
{
	tr_msg_t *m;
	if (tr_msg_from_msgpack(&m, packed, len))
		return false;
	m->from = from;
	if (call) {
		m->kind = TR_MSG_CALL;
		m->ref = (tr_ref_t){from.node, 1, from.creation};
	}
	tr__deliver(F.m, to, m);
	return true;
}

static void deliver_msg(tr_pid_t to, tr_pid_t from, tr_msg_t *m)
{
	size_t len;
	const void *b = tr_msg_bytes(m, &len);
	check(deliver(to, from, false, b, len), "a message of ours");
	tr_msg_free(m);
}

/* A call each server answers at once (a malformed request): every
 * message delivered before it has been handled. */
static void barrier(tr_pid_t server, const char *tag)
{
	tr_msg_t *req, *rep = NULL;
	check(tr_msg_new(&req, tag) == TR_OK, "tr_msg_new");
	tr_err e = tr_call(F.m, server, req, WAIT_MS, &rep, NULL, 0);
	check(e == TR_OK, "a server does not answer");
	tr_msg_free(rep);
}

/* The table fz-a's install brings: "known" (fz-m), "far" (fz-a),
 * the lock "res" held on fz-m. [version, [names], [tombs], [locks]] */
static void baseline_blob(struct tr_wbuf *b)
{
	uint64_t ver = (uint64_t)EPOCH << 32;
	tr__wb_array(b, 4);
	tr__wb_uint(b, 1);
	tr__wb_array(b, 2);
	tr__wb_array(b, 6);
	tr__wb_str(b, "known", 5);
	tr__wb_pid(b, F.local);
	tr__wb_uint(b, ver);
	tr__wb_uint(b, F.m ? tr_node_id(F.m) : 0);
	tr__wb_uint(b, 1);
	tr__wb_str(b, "exit", 4);
	tr__wb_array(b, 6);
	tr__wb_str(b, "far", 3);
	tr__wb_pid(b, F.other);
	tr__wb_uint(b, ver);
	tr__wb_uint(b, tr_node_id(F.a));
	tr__wb_uint(b, 2);
	tr__wb_str(b, "exit", 4);
	tr__wb_array(b, 0);
	tr__wb_array(b, 1);
	tr__wb_array(b, 3);
	tr__wb_str(b, "res", 3);
	tr__wb_pid(b, F.local);
	tr__wb_uint(b, 7);
}

static tr_msg_t *msg(const char *tag)
{
	tr_msg_t *m;
	check(tr_msg_new(&m, tag) == TR_OK, "tr_msg_new");
	return m;
}

static tr_msg_t *install_msg(uint64_t epoch, const struct tr_wbuf *blob)
{
	tr_msg_t *m = msg("g_install");
	tr_msg_add_uint(m, epoch);
	tr_msg_add_uint(m, F.view);
	tr_msg_add_uint(m, 0);
	tr_msg_add_raw(m, blob->p, blob->len);
	tr_msg_add_raw(m, "\x90", 1); /* no conflicts */
	return m;
}

static tr_msg_t *pids_msg(const char *tag, const char *first,
                          const tr_pid_t *pids, size_t n, bool wrap)
{
	tr_msg_t *m = msg(tag);
	tr_msg_add_str(m, first);
	struct tr_wbuf b = {0};
	if (wrap) { /* pg_sync: [[group, [pid...]]] */
		tr__wb_array(&b, 1);
		tr__wb_array(&b, 2);
		tr__wb_str(&b, "grp", 3);
	}
	tr__wb_array(&b, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		tr__wb_pid(&b, pids[i]);
	check(!b.oom && tr_msg_add_raw(m, b.p, b.len) == TR_OK, "pids");
	tr__wb_free(&b);
	return m;
}

/* Fresh servers, in the state every input starts from. */
static void reset(void)
{
	tr_global_stop(F.g);
	tr_pg_stop(F.pg);
	check(tr_global_start(F.nm, NULL, &F.g) == TR_OK, "global start");
	check(tr_pg_start(F.nm, "fz", &F.pg) == TR_OK, "pg start");
	tr_pid_t gs = tr_global_server(F.g), ps = tr_pg_server(F.pg);

	tr_msg_t *hi = msg("g_hi");
	tr_msg_add_str(hi, "fz-a");
	tr_msg_add_bool(hi, false);
	deliver_msg(gs, F.sink_g, hi);
	if (!F.view) { /* the view hash, once: fz-m tells its leader */
		for (int i = 0; i < 2000 && !atomic_load(&seen_view); i++)
			sleep_ms(5);
		F.view = atomic_load(&seen_view);
		check(F.view != 0, "no g_view from fz-m");
	}
	struct tr_wbuf blob = {0};
	baseline_blob(&blob);
	check(!blob.oom, "out of memory");
	deliver_msg(gs, F.sink_g, install_msg(EPOCH, &blob));
	tr__wb_free(&blob);

	tr_msg_t *d = msg("pg_discover");
	tr_msg_add_str(d, "fz-a");
	deliver_msg(ps, F.sink_pg, d);
	deliver_msg(ps, F.sink_pg,
	            pids_msg("pg_sync", "fz-a", &F.other, 1, true));
	check(tr_pg_join(F.pg, "grp", F.local) == TR_OK, "pg join");
	barrier(gs, "register");

	tr_global_info_t gi;
	tr_pid_t p;
	check(tr_global_info(F.g, &gi) == TR_OK && gi.ready &&
	              gi.epoch == EPOCH && gi.names == 2 && gi.locks == 1,
	      "the baseline install");
	check(tr_global_whereis(F.g, "known", &p) == TR_OK &&
	              tr_pid_eq(p, F.local),
	      "the baseline's known name");
	tr_pid_t mem[4];
	size_t n = 0;
	check(tr_pg_members(F.pg, "grp", false, mem, 4, &n) == TR_OK && n == 2,
	      "the baseline group");
}

/* ---- the seed corpus (TR_FUZZ_WRITE_SEEDS=DIR) -------------------------- */

/* Append a record: header byte h, then m's bytes (m freed). */
static void rec(struct seed *sd, uint8_t h, tr_msg_t *m)
{
	size_t len;
	const void *b = tr_msg_bytes(m, &len);
	check(sd->len + 1 + len <= sizeof(sd->buf), "a seed too big");
	sd->buf[sd->len++] = h;
	memcpy(sd->buf + sd->len, b, len);
	sd->len += len;
	tr_msg_free(m);
}

/* ["g_op", EPOCH, seq, fz-a's server, rq_id, op, ...] */
static tr_msg_t *op(uint64_t seq, uint64_t id, uint64_t code)
{
	tr_msg_t *m = msg("g_op");
	tr_msg_add_uint(m, EPOCH);
	tr_msg_add_uint(m, seq);
	tr_msg_add_pid(m, F.sink_g);
	tr_msg_add_uint(m, id);
	tr_msg_add_uint(m, code);
	return m;
}

enum { H_GLOBAL = 0, H_PG = 1, H_OTHER = 2, H_NOBODY = 4, H_CALL = 8 };

static void write_seeds(const char *dir)
{
	struct seed sd = {.len = 0};
	tr_msg_t *m;
	uint64_t ver = (uint64_t)EPOCH << 32 | 1;
	/* global: the leader's ops, in order (epoch 1, seq 1, 2, ...) */
	m = op(1, 10, 1); /* OP_REG */
	tr_msg_add_str(m, "newname");
	tr_msg_add_pid(m, F.other);
	tr_msg_add_uint(m, ver);
	tr_msg_add_uint(m, tr_node_id(F.a));
	tr_msg_add_uint(m, 10);
	tr_msg_add_str(m, "exit");
	rec(&sd, H_GLOBAL, m);
	m = op(2, 11, 3); /* OP_UNREG */
	tr_msg_add_str(m, "known");
	rec(&sd, H_GLOBAL, m);
	m = op(3, 12, 5); /* OP_LOCK */
	tr_msg_add_str(m, "res2");
	tr_msg_add_pid(m, F.other);
	tr_msg_add_uint(m, 3);
	rec(&sd, H_GLOBAL, m);
	m = op(4, 13, 6); /* OP_UNLOCK */
	tr_msg_add_str(m, "res");
	tr_msg_add_pid(m, F.local);
	rec(&sd, H_GLOBAL, m);
	m = op(5, 14, 4); /* OP_UNREG_PID */
	tr_msg_add_pid(m, F.other);
	rec(&sd, H_GLOBAL, m);
	seed_write(dir, "g_ops", &sd);
	m = op(1, 20, 2); /* OP_REREG of "known" to fz-a's actor */
	tr_msg_add_str(m, "known");
	tr_msg_add_pid(m, F.other);
	tr_msg_add_uint(m, ver);
	tr_msg_add_uint(m, tr_node_id(F.a));
	tr_msg_add_uint(m, 20);
	tr_msg_add_str(m, "notify");
	rec(&sd, H_GLOBAL, m);
	seed_write(dir, "g_op_reregister", &sd);
	m = op(1, 21, 1);
	tr_msg_add_str(m, "x");
	rec(&sd, H_GLOBAL | H_OTHER, m); /* not from the leader */
	seed_write(dir, "g_op_not_leader", &sd);
	m = op(7, 22, 3); /* a gap in the sequence */
	tr_msg_add_str(m, "known");
	rec(&sd, H_GLOBAL, m);
	seed_write(dir, "g_op_gap", &sd);

	/* a new epoch's table, with a conflict to report */
	struct tr_wbuf blob = {0};
	baseline_blob(&blob);
	m = install_msg(EPOCH + 1, &blob);
	tr__wb_free(&blob);
	rec(&sd, H_GLOBAL, m);
	seed_write(dir, "g_install", &sd);
	m = msg("g_install");
	tr_msg_add_uint(m, EPOCH + 2);
	tr_msg_add_uint(m, F.view);
	tr_msg_add_uint(m, 0);
	tr_msg_add_nil(m);
	struct tr_wbuf cf = {0};
	tr__wb_array(&cf, 1);
	tr__wb_array(&cf, 5);
	tr__wb_str(&cf, "known", 5);
	tr__wb_nil(&cf);
	tr__wb_pid(&cf, F.other);
	tr__wb_str(&cf, "exit", 4);
	tr__wb_uint(&cf, 0);
	tr_msg_add_raw(m, cf.p, cf.len);
	tr__wb_free(&cf);
	rec(&sd, H_GLOBAL, m);
	seed_write(dir, "g_install_conflicts", &sd);

	/* the other global messages */
	m = msg("g_hi");
	tr_msg_add_str(m, "fz-a");
	tr_msg_add_bool(m, true);
	rec(&sd, H_GLOBAL, m);
	m = msg("g_view");
	tr_msg_add_uint(m, F.view);
	tr_msg_add_uint(m, EPOCH);
	tr_msg_add_uint(m, 0);
	rec(&sd, H_GLOBAL, m);
	seed_write(dir, "g_hi_view", &sd);
	m = msg("g_view");
	tr_msg_add_uint(m, F.view + 1); /* views disagree: not ready */
	tr_msg_add_uint(m, EPOCH);
	tr_msg_add_uint(m, 0);
	rec(&sd, H_GLOBAL, m);
	seed_write(dir, "g_view_other", &sd);
	m = msg("g_pull");
	tr_msg_add_uint(m, EPOCH + 1);
	tr_msg_add_uint(m, F.view);
	rec(&sd, H_GLOBAL, m);
	m = msg("g_table");
	tr_msg_add_uint(m, EPOCH + 1);
	tr_msg_add_uint(m, F.view);
	baseline_blob(&blob);
	tr_msg_add_raw(m, blob.p, blob.len);
	tr__wb_free(&blob);
	rec(&sd, H_GLOBAL, m);
	seed_write(dir, "g_pull_table", &sd);
	m = msg("g_req");
	tr_msg_add_uint(m, EPOCH);
	tr_msg_add_uint(m, 1);
	tr_msg_add_uint(m, 1);
	tr_msg_add_str(m, "req");
	tr_msg_add_pid(m, F.other);
	tr_msg_add_str(m, "");
	tr_msg_add_uint(m, 1000);
	rec(&sd, H_GLOBAL, m);
	m = msg("g_ack");
	tr_msg_add_uint(m, EPOCH);
	tr_msg_add_uint(m, 1);
	rec(&sd, H_GLOBAL, m);
	m = msg("g_rep");
	tr_msg_add_uint(m, 1);
	tr_msg_add_uint(m, 0);
	tr_msg_add_uint(m, 0);
	rec(&sd, H_GLOBAL, m);
	seed_write(dir, "g_req_ack_rep", &sd);
	m = msg("register"); /* a peer's call */
	tr_msg_add_str(m, "called");
	tr_msg_add_pid(m, F.other);
	tr_msg_add_nil(m);
	tr_msg_add_uint(m, 1000);
	rec(&sd, H_GLOBAL | H_CALL, m);
	m = msg("monitor");
	tr_msg_add_pid(m, F.other);
	tr_msg_add_bool(m, true);
	rec(&sd, H_GLOBAL | H_NOBODY, m);
	seed_write(dir, "g_call_monitor", &sd);
	m = msg("nodedown"); /* as net.c's own, but from fz-a */
	tr_msg_add_str(m, "fz-a");
	rec(&sd, H_GLOBAL | H_NOBODY, m);
	seed_write(dir, "g_nodedown_unsent", &sd);

	/* pg */
	tr_pid_t two[2] = {F.other, F.sink_pg};
	rec(&sd, H_PG, pids_msg("pg_join", "grp", two, 2, false));
	rec(&sd, H_PG, pids_msg("pg_leave", "grp", &F.other, 1, false));
	seed_write(dir, "pg_join_leave", &sd);
	rec(&sd, H_PG, pids_msg("pg_sync", "fz-a", two, 2, true));
	m = msg("pg_discover");
	tr_msg_add_str(m, "fz-a");
	rec(&sd, H_PG, m);
	seed_write(dir, "pg_sync_discover", &sd);
	rec(&sd, H_PG, pids_msg("pg_join", "grp", &F.local, 1, false));
	seed_write(dir, "pg_join_not_its_node", &sd);
	rec(&sd, H_PG | H_OTHER,
	    pids_msg("pg_sync", "fz-a", &F.other, 1, true));
	seed_write(dir, "pg_sync_restarted_server", &sd);
	m = msg("zzz");
	rec(&sd, H_GLOBAL, m);
	m = msg("zzz");
	rec(&sd, H_PG, m);
	seed_write(dir, "unknown_tags", &sd);
}

struct walk {
	size_t n;
	bool ok;
	tr_global_t *g;
};

static bool walk_name(const char *name, size_t len, tr_pid_t pid, void *ctx)
{
	struct walk *w = ctx;
	char s[TR_GLOBAL_NAME_MAX + 1];
	tr_pid_t p;
	w->n++;
	if (len > TR_GLOBAL_NAME_MAX) {
		w->ok = false;
		return false;
	}
	if (!len || memchr(name, 0, len)) {
		/* a leader's g_op with an empty name or a NUL byte in it
		 * used to be applied (corpus/registry/known_op_name_nul):
		 * refused now, as everywhere else */
		w->ok = false;
		return false;
	}
	memcpy(s, name, len);
	s[len] = 0;
	if (tr_global_whereis(w->g, s, &p) || !tr_pid_eq(p, pid))
		w->ok = false;
	return w->ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!F.up)
		setup();
	reset();
	const char *dir = seeds_dir();
	if (dir)
		write_seeds(dir);
	tr_global_info_t before, after;
	check(tr_global_info(F.g, &before) == TR_OK, "tr_global_info");
	tr_pid_t gs = tr_global_server(F.g), ps = tr_pg_server(F.pg);
	size_t i = 0, nglobal = 0;
	bool calls = false;
	for (int r = 0; r < MAX_RECORDS && i < size; r++) {
		uint8_t h = data[i++];
		size_t used;
		if (tr__mp_validate(data + i, size - i, TR_MSG_MAX_DEPTH,
		                    &used))
			break;
		bool pg = h & 1, call = h & 8;
		unsigned who = (h >> 1) & 3;
		/* a plain thread's message (no sender on the wire) is
		 * delivered as from the peer's kernel (net.c): no peer can
		 * pass for this node's own notices */
		tr_pid_t from = who == 1   ? F.other
		                : who == 2 ? F.kernel_a
		                : pg       ? F.sink_pg
		                           : F.sink_g;
		/* only sends, casts and replies may come without a sender
		 * (net.c refuses the rest) */
		if (!(call && who == 2) &&
		    deliver(pg ? ps : gs, from, call, data + i, used) && !pg) {
			nglobal++;
			calls |= call;
		}
		i += used;
	}
	barrier(gs, "register");
	barrier(ps, "join");

	check(tr_global_info(F.g, &after) == TR_OK, "tr_global_info");
	struct walk w = {0, true, F.g};
	check(tr_global_foreach(F.g, walk_name, &w, NULL) == TR_OK,
	      "tr_global_foreach");
	check(w.ok, "a name whereis does not find where foreach does");
	check(w.n == after.names, "foreach and info disagree on the names");
	if (getenv("TR_FUZZ_VERBOSE")) /* what an input did */
		fprintf(stderr,
		        "fuzz_registry: %zu global records, rejected %llu, "
		        "ops %llu, epoch %llu, names %zu, locks %zu, "
		        "members %zu%s\n",
		        nglobal,
		        (unsigned long long)(after.rejected - before.rejected),
		        (unsigned long long)(after.ops_applied -
		                             before.ops_applied),
		        (unsigned long long)after.epoch, after.names,
		        after.locks, after.members,
		        after.ready ? "" : ", not ready");
	if (nglobal && !calls && after.rejected - before.rejected == nglobal) {
		tr_pid_t p;
		check(tr_global_whereis(F.g, "known", &p) == TR_OK &&
		              tr_pid_eq(p, F.local) &&
		              after.names == before.names &&
		              after.locks == before.locks &&
		              after.digest == before.digest,
		      "rejected messages changed the replica");
	}
	return 0;
}
