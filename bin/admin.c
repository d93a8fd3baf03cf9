/*
 * bin/admin.c - the daemon's operator service (see admin.h).
 *
 * A CLI, connected as a hidden node, spawns the exported behaviour
 * "troupe_admin" on this node (its session) and calls it; the session
 * hands every call to one worker thread, which may block (remote spawns,
 * global registrations, calls to other nodes) and answers the caller
 * directly. A session ends on ["bye"] or after a minute without calls.
 * Requests and replies are in docs/troupe.md ("Protocol"); replies are
 * ["ok", ...] or ["error", reason].
 */
#include <msgpack.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bin/admin.h"

#define SESSION_IDLE_MS 60000
#define OP_MS           5000

struct job {
	tr_from_t from;
	tr_msg_t *req;
	struct job *next;
};

/* What a supervised spawn keeps for as long as its child may restart. */
struct kept {
	tr_placement_t pl;
	char *behaviour, *node, *name;
	struct kept *next;
};

static struct {
	tr_node_t *node;
	tr_net_t *net;
	tr_global_t *g;
	tr_pid_t sup;
	void (*log)(int level, const char *fmt, ...);
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, **tail;
	bool stop, running;
	struct kept *kept;
} A = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---- the session actor --------------------------------------------------- */

static void do_kill(const tr_from_t *from, const tr_msg_t *req);

static tr_err session_init(void **state, void *arg)
{
	(void)arg;
	*state = NULL;
	return tr_receive_timeout(SESSION_IDLE_MS);
}

static void session_receive(void *state, tr_msg_t *m)
{
	(void)state;
	if (tr_msg_kind(m) == TR_MSG_TIMEOUT || tr_msg_is(m, "bye")) {
		tr_stop(TR_NORMAL);
		return;
	}
	if (tr_msg_kind(m) != TR_MSG_CALL)
		return;
	if (tr_msg_is(m, "kill")) {
		/* here: an exit signal needs an actor to come from (a
		 * plain thread's could not cross to another node) */
		tr_from_t from;
		if (!tr_msg_from(m, &from))
			do_kill(&from, m);
		return;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j || tr_msg_from(m, &j->from) || tr_msg_keep(m)) {
		free(j);
		return;
	}
	j->req = m;
	pthread_mutex_lock(&A.mu);
	*A.tail = j;
	A.tail = &j->next;
	pthread_cond_signal(&A.cv);
	pthread_mutex_unlock(&A.mu);
}

static const tr_behaviour_t session_b = {.name = TROUPE_ADMIN_BEHAVIOUR,
                                         .init = session_init,
                                         .receive = session_receive};

/* ---- replies ------------------------------------------------------------- */

struct out {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void out_init(struct out *o, const char *tag, size_t n)
{
	msgpack_sbuffer_init(&o->sb);
	msgpack_packer_init(&o->pk, &o->sb, msgpack_sbuffer_write);
	msgpack_pack_array(&o->pk, n + 1);
	msgpack_pack_str_with_body(&o->pk, tag, strlen(tag));
}

static void p_str(struct out *o, const char *s)
{
	if (!s) {
		msgpack_pack_nil(&o->pk);
		return;
	}
	msgpack_pack_str_with_body(&o->pk, s, strlen(s));
}

static void p_pid(struct out *o, tr_pid_t p)
{
	char b[TR_PID_STR_MAX];
	if (tr_pid_is_none(p)) {
		msgpack_pack_nil(&o->pk);
		return;
	}
	tr_pid_format(p, b, sizeof(b));
	p_str(o, b);
}

static void p_kv_u(struct out *o, const char *k, uint64_t v)
{
	p_str(o, k);
	msgpack_pack_uint64(&o->pk, v);
}

static void send_out(const tr_from_t *from, struct out *o)
{
	tr_msg_t *r;
	if (!tr_msg_from_msgpack(&r, o->sb.data, o->sb.size) &&
	    tr_reply(from, r))
		tr_msg_free(r);
	msgpack_sbuffer_destroy(&o->sb);
}

static void reply_error(const tr_from_t *from, const char *why)
{
	struct out o;
	out_init(&o, "error", 1);
	p_str(&o, why);
	send_out(from, &o);
}

static void reply_ok(const tr_from_t *from)
{
	struct out o;
	out_init(&o, "ok", 0);
	send_out(from, &o);
}

/* A readable reason for an error code. */
static const char *why_of(tr_err e)
{
	switch (e) {
	case TR_ENOENT:
		return "not found";
	case TR_EEXIST:
		return "already exists";
	case TR_ETIMEDOUT:
		return "timeout";
	case TR_EUNREACHABLE:
		return "node not reachable";
	case TR_EAUTH:
		return "authentication refused";
	default:
		return tr_strerror(e);
	}
}

/* ---- node names ------------------------------------------------------------
 */

struct peers {
	tr_peer_info_t *v;
	size_t n;
};

static void peers_get(struct peers *p)
{
	size_t n = 0;
	p->v = NULL;
	p->n = 0;
	if (tr_net_nodes(A.net, NULL, 0, &n) || !n)
		return;
	n += 8; /* room for ones that come meanwhile */
	p->v = calloc(n, sizeof(*p->v));
	size_t got = 0;
	if (p->v && !tr_net_nodes(A.net, p->v, n, &got))
		p->n = got < n ? got : n;
}

/* The name of the node a pid lives on ("?" when unknown). */
static const char *node_of(const struct peers *p, tr_pid_t pid)
{
	if (pid.node == tr_node_id(A.node))
		return tr_node_name(A.node);
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].id == pid.node)
			return p->v[i].name;
	return "?";
}

static bool is_up(const struct peers *p, const char *name)
{
	if (!strcmp(name, tr_node_name(A.node)))
		return true;
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].name, name) &&
		    p->v[i].state == TR_PEER_UP && !p->v[i].hidden)
			return true;
	return false;
}

/* Peers that are cluster members (not CLIs), up only if up_only. */
static size_t members(const struct peers *p, bool up_only)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += !p->v[i].hidden &&
		     (!up_only || p->v[i].state == TR_PEER_UP);
	return n;
}

static const char *state_name(tr_peer_state_t s)
{
	static const char *n[] = {"joining", "up", "leaving", "down"};
	return s <= TR_PEER_DOWN ? n[s] : "?";
}

/* ---- requests ------------------------------------------------------------ */

static void do_ping(const tr_from_t *from)
{
	struct out o;
	out_init(&o, "pong", 1);
	p_str(&o, tr_node_name(A.node));
	send_out(from, &o);
}

/* ["ok", [[name, endpoint, incarnation, state]...]], this node first
 * (state "self"); hidden peers (CLIs) are left out. */
static void do_nodes(const tr_from_t *from)
{
	struct peers p;
	peers_get(&p);
	struct out o;
	out_init(&o, "ok", 1);
	msgpack_pack_array(&o.pk, 1 + members(&p, false));
	msgpack_pack_array(&o.pk, 4);
	p_str(&o, tr_node_name(A.node));
	p_str(&o, tr_net_endpoint(A.net));
	msgpack_pack_uint32(&o.pk, tr_node_creation(A.node));
	p_str(&o, "self");
	for (size_t i = 0; i < p.n; i++) {
		if (p.v[i].hidden)
			continue;
		msgpack_pack_array(&o.pk, 4);
		p_str(&o, p.v[i].name);
		p_str(&o, p.v[i].endpoint);
		msgpack_pack_uint32(&o.pk, p.v[i].creation);
		p_str(&o, state_name(p.v[i].state));
	}
	free(p.v);
	send_out(from, &o);
}

struct names_ctx {
	struct {
		char *name;
		tr_pid_t pid;
	} * v;
	size_t n, cap;
	bool oom;
};

static bool take_name(const char *name, size_t len, tr_pid_t pid, void *ctx)
{
	struct names_ctx *c = ctx;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		void *v = realloc(c->v, cap * sizeof(*c->v));
		if (!v) {
			c->oom = true;
			return false;
		}
		c->v = v;
		c->cap = cap;
	}
	if (!(c->v[c->n].name = strndup(name, len))) {
		c->oom = true;
		return false;
	}
	c->v[c->n++].pid = pid;
	return true;
}

/* ["ok", [[name, pid, node]...]] from this node's replica (one pass over
 * it, then packed). */
static void do_names(const tr_from_t *from)
{
	struct names_ctx c = {0};
	size_t total;
	tr_global_foreach(A.g, take_name, &c, &total);
	if (c.oom) {
		reply_error(from, "out of memory");
	} else {
		struct peers p;
		peers_get(&p);
		struct out o;
		out_init(&o, "ok", 1);
		msgpack_pack_array(&o.pk, c.n);
		for (size_t i = 0; i < c.n; i++) {
			msgpack_pack_array(&o.pk, 3);
			p_str(&o, c.v[i].name);
			p_pid(&o, c.v[i].pid);
			p_str(&o, node_of(&p, c.v[i].pid));
		}
		free(p.v);
		send_out(from, &o);
	}
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].name);
	free(c.v);
}

/* A global name or a pid's text. */
static tr_err resolve(const char *what, tr_pid_t *out)
{
	if (what[0] == '<' && !tr_pid_parse(what, out))
		return TR_OK;
	return tr_global_whereis(A.g, what, out);
}

static void do_whereis(const tr_from_t *from, const tr_msg_t *req)
{
	char name[512];
	tr_pid_t pid;
	if (tr_msg_get_strbuf(req, 0, name, sizeof(name))) {
		reply_error(from, "bad request");
		return;
	}
	if (tr_global_whereis(A.g, name, &pid)) {
		reply_error(from, "not found");
		return;
	}
	struct peers p;
	peers_get(&p);
	struct out o;
	out_init(&o, "ok", 2);
	p_pid(&o, pid);
	p_str(&o, node_of(&p, pid));
	free(p.v);
	send_out(from, &o);
}

static char *opt_str(const tr_msg_t *req, size_t idx)
{
	char buf[512];
	if (tr_msg_get_strbuf(req, idx, buf, sizeof(buf)) || !*buf)
		return NULL;
	return strdup(buf);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct placed_match {
	tr_pid_t agent;
	tr_ref_t ref;
};

/* ["placed", id, agent, child] from our agent, or the agent's DOWN */
static bool placed_or_down(const tr_msg_t *m, void *arg)
{
	const struct placed_match *pm = arg;
	tr_pid_t p;
	tr_ref_t r;
	if (tr_msg_kind(m) == TR_MSG_DOWN)
		return !tr_msg_down_info(m, &r, NULL, NULL, 0) &&
		       tr_ref_eq(r, pm->ref);
	return tr_msg_is(m, "placed") && !tr_msg_get_pid(m, 1, &p) &&
	       tr_pid_eq(p, pm->agent);
}

/* The remote pid of the child of `agent`, once the agent says it runs
 * (placed, and named if it has a name: the placement's notify is ib). */
static tr_err await_placed(tr_inbox_t *ib, tr_pid_t agent, tr_pid_t *out)
{
	struct placed_match pm = {.agent = agent};
	if (tr_inbox_monitor(ib, agent, &pm.ref))
		return TR_ENOMEM;
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive_match(ib, OP_MS, placed_or_down, &pm, &m);
	if (e)
		return e;
	if (tr_msg_kind(m) == TR_MSG_DOWN)
		e = TR_EEXITED;
	else
		e = tr_msg_get_pid(m, 2, out);
	tr_msg_free(m);
	return e;
}

/* ["spawn", kind, on|nil, global|nil, supervised, failover, under|nil]
 * -> ["ok", pid, node]. under: a DynamicSupervisor of this node (pid
 * text or global name) to start the child under instead of the root. */
static void do_spawn(const tr_from_t *from, const tr_msg_t *req)
{
	char kind[128];
	bool supervised = false, failover = false;
	if (tr_msg_get_strbuf(req, 0, kind, sizeof(kind))) {
		reply_error(from, "bad request");
		return;
	}
	char *on = opt_str(req, 1), *name = opt_str(req, 2),
	     *under = opt_str(req, 5);
	tr_pid_t sup = A.sup;
	tr_msg_get_bool(req, 3, &supervised);
	tr_msg_get_bool(req, 4, &failover);
	struct peers p;
	peers_get(&p);
	tr_pid_t pid = TR_PID_NONE;
	const char *why = NULL;
	tr_err e;
	if (on && !is_up(&p, on)) {
		why = "unknown node";
	} else if (under &&
	           (resolve(under, &sup) || sup.node != tr_node_id(A.node))) {
		why = "--under: no such supervisor on this node";
	} else if (failover && !supervised) {
		why = "--failover needs --supervised";
	} else if (!supervised) {
		e = tr_spawn_on(A.net, on ? on : tr_node_name(A.node), kind,
		                NULL, OP_MS, &pid);
		if (e == TR_ENOENT)
			why = "unknown kind";
		else if (e)
			why = why_of(e);
		else if (name && (e = tr_global_register(A.g, name, pid, NULL,
		                                         OP_MS))) {
			tr_exit(pid, TR_KILL);
			why = e == TR_EEXIST ? "name taken" : why_of(e);
		}
	} else {
		struct kept *k = calloc(1, sizeof(*k));
		if (!k) {
			why = "out of memory";
		} else {
			k->behaviour = strdup(kind);
			k->node =
			        on ? strdup(on) : strdup(tr_node_name(A.node));
			k->name = name ? strdup(name) : NULL;
			k->pl.net = A.net;
			k->pl.behaviour = k->behaviour;
			k->pl.node = k->node;
			k->pl.failover = failover;
			k->pl.global = name ? A.g : NULL;
			k->pl.global_name = k->name;
			/* told when the child runs; later restarts tell a
			 * pid that is gone, which is a no-op */
			tr_inbox_t *ib = NULL;
			if (tr_inbox_new(A.node, &ib) == TR_OK)
				k->pl.notify = tr_inbox_pid(ib);
			k->next = A.kept;
			A.kept = k;
			tr_child_spec_t s;
			tr_child_spec_init(&s);
			s.id = kind;
			s.place = &k->pl;
			/* a supervisor started elsewhere: one tree */
			if (!strcmp(kind, tr_dynsup_behaviour()->name)) {
				s.type = TR_CHILD_SUPERVISOR;
				s.shutdown = TR_SHUTDOWN_INFINITY;
			}
			tr_pid_t w;
			tr_pid_t agent;
			if (!ib)
				why = "out of memory";
			else if (name && !tr_global_whereis(A.g, name, &w))
				why = "name taken";
			else if ((e = tr_dynsup_start_child(A.node, sup, &s,
			                                    &agent)))
				why = under ? "--under: not a supervisor"
				            : why_of(e);
			else if ((e = await_placed(ib, agent, &pid))) {
				tr_dynsup_terminate_child(A.node, sup, agent);
				why = e == TR_EEXITED
				              ? "the child did not start"
				              : why_of(e);
			}
			tr_inbox_destroy(ib);
		}
	}
	if (why) {
		reply_error(from, why);
	} else {
		struct out o;
		out_init(&o, "ok", 2);
		p_pid(&o, pid);
		p_str(&o, node_of(&p, pid));
		send_out(from, &o);
		if (A.log)
			A.log(TR_LOG_INFO, "spawned %s%s%s on %s%s", kind,
			      name ? " as " : "", name ? name : "",
			      on ? on : tr_node_name(A.node),
			      supervised ? " (supervised)" : "");
	}
	free(p.v);
	free(on);
	free(name);
	free(under);
}

/* ["send", name, [message...]] -> ["ok"] */
static void do_send(const tr_from_t *from, const tr_msg_t *req)
{
	char name[512];
	const void *raw;
	size_t len;
	tr_msg_t *m;
	tr_pid_t pid;
	if (tr_msg_get_strbuf(req, 0, name, sizeof(name)) ||
	    tr_msg_get_raw(req, 1, &raw, &len) ||
	    tr_msg_from_msgpack(&m, raw, len)) {
		reply_error(from, "bad request");
		return;
	}
	if (resolve(name, &pid)) {
		tr_msg_free(m);
		reply_error(from, "not found");
		return;
	}
	tr_err e = tr_send(pid, m);
	if (e) {
		tr_msg_free(m);
		reply_error(from, why_of(e));
		return;
	}
	reply_ok(from);
}

/* ["call", name, [message...], timeout_ms] -> ["ok", reply] */
static void do_call(const tr_from_t *from, const tr_msg_t *req)
{
	char name[512];
	const void *raw;
	size_t len;
	uint64_t ms = OP_MS;
	tr_msg_t *m, *r = NULL;
	tr_pid_t pid;
	if (tr_msg_get_strbuf(req, 0, name, sizeof(name)) ||
	    tr_msg_get_raw(req, 1, &raw, &len) ||
	    tr_msg_from_msgpack(&m, raw, len)) {
		reply_error(from, "bad request");
		return;
	}
	tr_msg_get_uint(req, 2, &ms);
	if (resolve(name, &pid)) {
		tr_msg_free(m);
		reply_error(from, "not found");
		return;
	}
	char reason[TR_REASON_MAX] = "";
	tr_err e = tr_call(A.node, pid, m, ms, &r, reason, sizeof(reason));
	if (e == TR_EEXITED) {
		char why[TR_REASON_MAX + 32];
		snprintf(why, sizeof(why), "exited: %s", reason);
		reply_error(from, why);
		return;
	}
	if (e) {
		reply_error(from, why_of(e));
		return;
	}
	size_t rl;
	const void *rb = tr_msg_bytes(r, &rl);
	struct out o;
	out_init(&o, "ok", 1);
	msgpack_sbuffer_write(&o.sb, rb, rl); /* the reply, as it is */
	tr_msg_free(r);
	send_out(from, &o);
}

/* ["kill", name|pid, reason] -> ["ok", pid]; in the session actor */
static void do_kill(const tr_from_t *from, const tr_msg_t *req)
{
	char what[512], reason[TR_REASON_MAX] = TR_KILL;
	tr_pid_t pid;
	if (tr_msg_get_strbuf(req, 0, what, sizeof(what))) {
		reply_error(from, "bad request");
		return;
	}
	tr_msg_get_strbuf(req, 1, reason, sizeof(reason));
	if (resolve(what, &pid)) {
		reply_error(from, "not found");
		return;
	}
	tr_err e = tr_exit(pid, reason);
	if (e) {
		reply_error(from, why_of(e));
		return;
	}
	if (A.log)
		A.log(TR_LOG_INFO, "operator sent exit %s to %s", reason, what);
	struct out o;
	out_init(&o, "ok", 1);
	p_pid(&o, pid);
	send_out(from, &o);
}

static void do_join(const tr_from_t *from, const tr_msg_t *req)
{
	char ep[TR_ENDPOINT_MAX];
	if (tr_msg_get_strbuf(req, 0, ep, sizeof(ep))) {
		reply_error(from, "bad request");
		return;
	}
	tr_err e = tr_net_join(A.net, ep, OP_MS);
	if (e) {
		reply_error(from, e == TR_EAUTH ? "authentication refused"
		                  : e == TR_ETIMEDOUT
		                          ? "no answer from that endpoint"
		                          : why_of(e));
		return;
	}
	if (A.log)
		A.log(TR_LOG_INFO, "operator: joined %s", ep);
	reply_ok(from);
}

static void do_leave(const tr_from_t *from)
{
	reply_ok(from); /* first: the leave drains it, then disconnects */
	if (A.log)
		A.log(TR_LOG_INFO, "operator: leaving the cluster");
	tr_err e = tr_net_leave(A.net, OP_MS);
	if (e && A.log)
		A.log(TR_LOG_WARN, "leave: %s", tr_strerror(e));
}

static void do_status(const tr_from_t *from)
{
	tr_node_stats_t s0, s;
	tr_net_stats_t ns;
	tr_node_stats(A.node, &s0);
	uint64_t t0 = now_ms();
	/* a message rate needs two samples: 200 ms apart */
	struct timespec d = {0, 200 * 1000 * 1000};
	nanosleep(&d, NULL);
	tr_node_stats(A.node, &s);
	tr_net_stats(A.net, &ns);
	uint64_t dt = now_ms() - t0;
	size_t na = 0, cap = s.actors + 64, queued = 0, deepest = 0;
	tr_pid_t *pids = calloc(cap, sizeof(*pids));
	if (pids)
		tr_node_actors(A.node, pids, cap, &na);
	for (size_t i = 0; pids && i < na && i < cap; i++) {
		tr_actor_info_t ai;
		if (tr_actor_info(A.node, pids[i], &ai))
			continue;
		queued += ai.mailbox_len;
		if (ai.mailbox_len > deepest)
			deepest = ai.mailbox_len;
	}
	free(pids);
	tr_global_info_t gi;
	memset(&gi, 0, sizeof(gi));
	tr_global_info(A.g, &gi);
	struct peers p;
	peers_get(&p);
	size_t np = members(&p, false);
	struct out o;
	out_init(&o, "ok", 1);
	msgpack_pack_map(&o.pk, 15);
	p_str(&o, "node");
	p_str(&o, tr_node_name(A.node));
	p_str(&o, "endpoint");
	p_str(&o, tr_net_endpoint(A.net));
	p_kv_u(&o, "schedulers", s.schedulers);
	p_kv_u(&o, "actors", s.actors);
	p_kv_u(&o, "actors_peak", s.actors_peak);
	p_kv_u(&o, "mailbox_messages", queued);
	p_kv_u(&o, "mailbox_deepest", deepest);
	p_kv_u(&o, "messages", s.messages);
	p_kv_u(&o, "messages_per_s",
	       dt ? (s.messages - s0.messages) * 1000 / dt : 0);
	p_kv_u(&o, "net_msgs_in", ns.msgs_in);
	p_kv_u(&o, "net_msgs_out", ns.msgs_out);
	p_kv_u(&o, "global_names", gi.names);
	p_str(&o, "leader");
	p_str(&o, gi.leader);
	p_kv_u(&o, "rejected_frames", ns.rejected_frames + ns.rejected_auth);
	p_str(&o, "peers");
	msgpack_pack_array(&o.pk, np);
	for (size_t i = 0; i < p.n; i++) {
		if (p.v[i].hidden)
			continue;
		msgpack_pack_map(&o.pk, 5);
		p_str(&o, "name");
		p_str(&o, p.v[i].name);
		p_str(&o, "state");
		p_str(&o, state_name(p.v[i].state));
		p_kv_u(&o, "msgs_in", p.v[i].msgs_in);
		p_kv_u(&o, "msgs_out", p.v[i].msgs_out);
		p_kv_u(&o, "queued_bytes", p.v[i].queued_bytes);
	}
	free(p.v);
	send_out(from, &o);
}

/* ["ok", [[pid, name, behaviour, mailbox]...]] */
static void do_ps(const tr_from_t *from)
{
	tr_node_stats_t s;
	tr_node_stats(A.node, &s);
	size_t na = 0, cap = s.actors + 64;
	tr_pid_t *pids = calloc(cap, sizeof(*pids));
	tr_actor_info_t *ai = calloc(cap, sizeof(*ai));
	size_t k = 0;
	if (pids && ai && !tr_node_actors(A.node, pids, cap, &na))
		for (size_t i = 0; i < na && i < cap; i++)
			k += !tr_actor_info(A.node, pids[i], &ai[k]);
	struct out o;
	out_init(&o, "ok", 1);
	msgpack_pack_array(&o.pk, k);
	for (size_t i = 0; i < k; i++) {
		msgpack_pack_array(&o.pk, 4);
		p_pid(&o, ai[i].pid);
		p_str(&o, ai[i].name);
		p_str(&o, ai[i].behaviour ? ai[i].behaviour : "");
		msgpack_pack_uint64(&o.pk, ai[i].mailbox_len);
	}
	free(pids);
	free(ai);
	send_out(from, &o);
}

/* A supervisor's subtree: [[id, pid, remote|nil, node, type, restarting,
 * [children...]]...]; supervisor children (here or on other nodes) are
 * asked in turn, depth-limited. */
static void pack_tree(struct out *o, const struct peers *p, tr_pid_t sup,
                      int depth)
{
	size_t n = 0;
	tr_child_info_t *ci = NULL;
	if (depth < 8 &&
	    !tr_supervisor_which_children(A.node, sup, NULL, 0, &n) && n) {
		ci = calloc(n, sizeof(*ci));
		size_t got = 0;
		if (!ci ||
		    tr_supervisor_which_children(A.node, sup, ci, n, &got))
			n = 0;
		else if (got < n)
			n = got;
	} else {
		n = 0;
	}
	msgpack_pack_array(&o->pk, n);
	for (size_t i = 0; i < n; i++) {
		tr_pid_t where =
		        tr_pid_is_none(ci[i].remote) ? ci[i].pid : ci[i].remote;
		msgpack_pack_array(&o->pk, 7);
		p_str(o, ci[i].id);
		p_pid(o, ci[i].pid);
		p_pid(o, ci[i].remote);
		p_str(o, tr_pid_is_none(where) ? NULL : node_of(p, where));
		p_str(o, ci[i].type == TR_CHILD_SUPERVISOR ? "supervisor"
		                                           : "worker");
		if (ci[i].restarting)
			msgpack_pack_true(&o->pk);
		else
			msgpack_pack_false(&o->pk);
		if (ci[i].type == TR_CHILD_SUPERVISOR && !tr_pid_is_none(where))
			pack_tree(o, p, where, depth + 1);
		else
			msgpack_pack_array(&o->pk, 0);
	}
	free(ci);
}

/* ["tree_local"] -> ["ok", node, sup, [children...]] */
static void do_tree_local(const tr_from_t *from)
{
	struct peers p;
	peers_get(&p);
	struct out o;
	out_init(&o, "ok", 3);
	p_str(&o, tr_node_name(A.node));
	p_pid(&o, A.sup);
	pack_tree(&o, &p, A.sup, 0);
	free(p.v);
	send_out(from, &o);
}

/* ["tree"] -> ["ok", [[node, sup, [children...]]...]]: this node's and
 * every peer's (through a session of their own). */
static void do_tree(const tr_from_t *from)
{
	struct peers p;
	peers_get(&p);
	struct out o;
	out_init(&o, "ok", 1);
	msgpack_pack_array(&o.pk, 1 + members(&p, true));
	msgpack_pack_array(&o.pk, 3);
	p_str(&o, tr_node_name(A.node));
	p_pid(&o, A.sup);
	pack_tree(&o, &p, A.sup, 0);
	for (size_t i = 0; i < p.n; i++) {
		if (p.v[i].state != TR_PEER_UP || p.v[i].hidden)
			continue;
		tr_pid_t s;
		tr_msg_t *req = NULL, *r = NULL;
		const void *raw;
		size_t len;
		if (!tr_spawn_on(A.net, p.v[i].name, TROUPE_ADMIN_BEHAVIOUR,
		                 NULL, OP_MS, &s) &&
		    !tr_msg_new(&req, "tree_local") &&
		    !tr_call(A.node, s, req, OP_MS, &r, NULL, 0) &&
		    tr_msg_is(r, "ok") && !tr_msg_get_raw(r, 0, &raw, &len)) {
			/* ["ok", node, sup, children]: the three fields */
			size_t all;
			const char *b = tr_msg_bytes(r, &all);
			msgpack_pack_array(&o.pk, 3);
			msgpack_sbuffer_write(
			        &o.sb, raw,
			        all - (size_t)((const char *)raw - b));
		} else {
			msgpack_pack_array(&o.pk, 3);
			p_str(&o, p.v[i].name);
			p_str(&o, NULL);
			msgpack_pack_array(&o.pk, 0);
		}
		tr_msg_t *bye;
		if (!tr_msg_new(&bye, "bye") && tr_send(s, bye))
			tr_msg_free(bye);
		tr_msg_free(r);
	}
	free(p.v);
	send_out(from, &o);
}

static void carry_out(struct job *j)
{
	const tr_msg_t *m = j->req;
	const tr_from_t *f = &j->from;
	if (tr_msg_is(m, "ping"))
		do_ping(f);
	else if (tr_msg_is(m, "nodes"))
		do_nodes(f);
	else if (tr_msg_is(m, "names"))
		do_names(f);
	else if (tr_msg_is(m, "whereis"))
		do_whereis(f, m);
	else if (tr_msg_is(m, "spawn"))
		do_spawn(f, m);
	else if (tr_msg_is(m, "send"))
		do_send(f, m);
	else if (tr_msg_is(m, "call"))
		do_call(f, m);
	else if (tr_msg_is(m, "join"))
		do_join(f, m);
	else if (tr_msg_is(m, "leave"))
		do_leave(f);
	else if (tr_msg_is(m, "status"))
		do_status(f);
	else if (tr_msg_is(m, "ps"))
		do_ps(f);
	else if (tr_msg_is(m, "tree"))
		do_tree(f);
	else if (tr_msg_is(m, "tree_local"))
		do_tree_local(f);
	else
		reply_error(f, "unknown command");
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&A.mu);
	for (;;) {
		while (!A.head && !A.stop)
			pthread_cond_wait(&A.cv, &A.mu);
		if (!A.head)
			break;
		struct job *j = A.head;
		A.head = j->next;
		if (!A.head)
			A.tail = &A.head;
		pthread_mutex_unlock(&A.mu);
		carry_out(j);
		tr_msg_free(j->req);
		free(j);
		pthread_mutex_lock(&A.mu);
	}
	pthread_mutex_unlock(&A.mu);
	return NULL;
}

int troupe_admin_start(tr_node_t *node, tr_net_t *net, tr_global_t *g,
                       tr_pid_t sup,
                       void (*log)(int level, const char *fmt, ...))
{
	A.node = node;
	A.net = net;
	A.g = g;
	A.sup = sup;
	A.log = log;
	A.head = NULL;
	A.tail = &A.head;
	A.stop = false;
	if (pthread_create(&A.th, NULL, worker, NULL))
		return -1;
	A.running = true;
	if (tr_net_export(net, &session_b)) {
		troupe_admin_stop();
		return -1;
	}
	return 0;
}

void troupe_admin_stop(void)
{
	if (A.running) {
		pthread_mutex_lock(&A.mu);
		A.stop = true;
		/* requests not begun are dropped: their callers time out */
		while (A.head) {
			struct job *j = A.head;
			A.head = j->next;
			tr_msg_free(j->req);
			free(j);
		}
		A.tail = &A.head;
		pthread_cond_signal(&A.cv);
		pthread_mutex_unlock(&A.mu);
		pthread_join(A.th, NULL);
		A.running = false;
	}
	while (A.kept) {
		struct kept *k = A.kept;
		A.kept = k->next;
		free(k->behaviour);
		free(k->node);
		free(k->name);
		free(k);
	}
}
