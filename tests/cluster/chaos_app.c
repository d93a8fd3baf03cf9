/*
 * tests/cluster/chaos_app.c - the application the cluster fault harness
 * loads into every troupe-node (`--load libchaos_app.so`). Public API
 * only. It gives the harness what the CLI alone cannot:
 *
 *   chaos_ctl (one per node, local name "chaos_ctl"; the harness finds
 *   its pid with `troupe ps` and calls it with `troupe call PID ...`):
 *     ["reg", name, timeout_ms]   spawn a holder on this node and register
 *                                 it globally: ["ok", pid] or
 *                                 ["error", "TR_E...", pid] (the holder
 *                                 is then killed, as `troupe spawn
 *                                 --global` does)
 *     ["unreg", name, timeout_ms] tr_global's unregister: ["ok"] or
 *                                 ["error", "TR_E..."]
 *   chaos_holder: a name owner; a call answers ["alive"].
 *   seqsrc, seqsink (exported, spawned with `troupe spawn`): R8. A source
 *     told ["start", SINK_PID, interval_ms, per_tick, max] sends
 *     ["seq", 1], ["seq", 2], ... to the sink. The sink checks every
 *     sender's numbers: each is the previous + 1, or larger only right
 *     after a DOWN noconnection of its monitor on that sender (the
 *     session that carried the missing ones ended); smaller or equal is
 *     a duplicate or a reordering. ["stats"] (call) answers both sides'
 *     counts.
 *   sloth, flooder (exported): R13. A sloth handles a message every
 *     SLOTH_US microseconds; a flooder told ["flood", PID, total, batch,
 *     bytes] sends it `total` messages of `bytes` bytes, `batch` per
 *     callback, as fast as back-pressure lets it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <troupe/app.h>
#include <troupe/troupe.h>

#define SLOTH_US    200
#define MAX_SOURCES 64

static tr_node_t *app_node;
static bool debug; /* CHAOS_DEBUG set: the sink tells stderr what it sees */

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void reply_msg(const tr_from_t *from, tr_msg_t *r)
{
	if (tr_reply(from, r))
		tr_msg_free(r);
}

static void reply_error(const tr_from_t *from, const char *code,
                        const char *pid)
{
	tr_msg_t *r;
	if (tr_msg_new(&r, "error"))
		return;
	if (tr_msg_add_str(r, code) || (pid && tr_msg_add_str(r, pid))) {
		tr_msg_free(r);
		return;
	}
	reply_msg(from, r);
}

/* ---- chaos_holder ---------------------------------------------------- */

static tr_err plain_init(void **state, void *arg)
{
	(void)arg;
	*state = NULL;
	return TR_OK;
}

static void holder_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_from_t from;
	tr_msg_t *r;
	if (tr_msg_kind(m) == TR_MSG_CALL && !tr_msg_from(m, &from) &&
	    !tr_msg_new(&r, "alive"))
		reply_msg(&from, r);
}

static const tr_behaviour_t holder_b = {
        .name = "chaos_holder", .init = plain_init, .receive = holder_receive};

/* ---- chaos_ctl -------------------------------------------------------- */

struct pending {
	tr_from_t from;
	tr_pid_t holder; /* reg only */
	char pid[64];
};

/* The registry server's answer: ["ok", token] or ["error", "TR_E..."]. */
static void registry_done(void *state, tr_err status, tr_msg_t *reply,
                          const char *reason, void *ctx)
{
	(void)state;
	(void)reason;
	struct pending *p = ctx;
	bool reg = !tr_pid_is_none(p->holder);
	char code[64] = "TR_ETIMEDOUT";
	if (status == TR_OK && tr_msg_is(reply, "ok")) {
		tr_msg_t *r;
		if (!tr_msg_new(&r, "ok")) {
			if (reg && tr_msg_add_str(r, p->pid))
				tr_msg_free(r);
			else
				reply_msg(&p->from, r);
		}
	} else {
		if (status == TR_OK)
			tr_msg_get_strbuf(reply, 0, code, sizeof(code));
		else if (status != TR_ETIMEDOUT)
			snprintf(code, sizeof(code), "%s", tr_err_name(status));
		if (reg)
			tr_exit(p->holder, TR_KILL);
		reply_error(&p->from, code, reg ? p->pid : NULL);
	}
	tr_msg_free(reply);
	free(p);
}

static void ctl_receive(void *state, tr_msg_t *m)
{
	(void)state;
	tr_from_t from;
	char name[256];
	uint64_t timeout = 3000;
	if (tr_msg_kind(m) != TR_MSG_CALL || tr_msg_from(m, &from))
		return;
	bool reg = tr_msg_is(m, "reg");
	if ((!reg && !tr_msg_is(m, "unreg")) ||
	    tr_msg_get_strbuf(m, 0, name, sizeof(name))) {
		reply_error(&from, "badarg", NULL);
		return;
	}
	tr_msg_get_uint(m, 1, &timeout);
	tr_pid_t server;
	if (tr_whereis(app_node, TR_GLOBAL_SERVER, &server)) {
		reply_error(&from, "no_registry", NULL);
		return;
	}
	struct pending *p = calloc(1, sizeof(*p));
	tr_msg_t *req = NULL;
	if (!p || tr_msg_new(&req, reg ? "register" : "unregister")) {
		free(p);
		reply_error(&from, "TR_ENOMEM", NULL);
		return;
	}
	p->from = from;
	p->holder = TR_PID_NONE;
	tr_err e = tr_msg_add_str(req, name);
	if (reg) {
		if (!e)
			e = tr_spawn(app_node, &holder_b, NULL, &p->holder);
		tr_pid_format(p->holder, p->pid, sizeof(p->pid));
		if (!e)
			e = tr_msg_add_pid(req, p->holder);
		if (!e)
			e = tr_msg_add_nil(req);
	}
	if (!e)
		e = tr_msg_add_uint(req, timeout);
	if (!e)
		e = tr_call_async(server, req, timeout + 2000, registry_done,
		                  p);
	if (e) {
		tr_msg_free(req);
		if (!tr_pid_is_none(p->holder))
			tr_exit(p->holder, TR_KILL);
		reply_error(&from, tr_err_name(e), NULL);
		free(p);
	}
}

static const tr_behaviour_t ctl_b = {
        .name = "chaos_ctl", .init = plain_init, .receive = ctl_receive};

/* ---- seqsrc ----------------------------------------------------------- */

struct src {
	tr_pid_t target;
	uint64_t next, max, interval, per_tick;
	bool running;
};

static tr_err src_init(void **state, void *arg)
{
	(void)arg;
	struct src *s = calloc(1, sizeof(*s));
	if (!s)
		return TR_ENOMEM;
	s->next = 1;
	*state = s;
	return TR_OK;
}

static void src_tick_later(struct src *s)
{
	tr_msg_t *t;
	if (!tr_msg_new(&t, "tick") &&
	    tr_send_after(NULL, tr_self(), t, s->interval, NULL))
		tr_msg_free(t);
}

static void src_receive(void *state, tr_msg_t *m)
{
	struct src *s = state;
	if (tr_msg_kind(m) == TR_MSG_CALL) {
		tr_from_t from;
		tr_msg_t *r;
		if (!tr_msg_from(m, &from) && !tr_msg_new(&r, "sent")) {
			if (tr_msg_add_uint(r, s->next - 1))
				tr_msg_free(r);
			else
				reply_msg(&from, r);
		}
		return;
	}
	if (tr_msg_is(m, "start")) {
		char pid[64];
		if (s->running || tr_msg_get_strbuf(m, 0, pid, sizeof(pid)) ||
		    tr_pid_parse(pid, &s->target) ||
		    tr_msg_get_uint(m, 1, &s->interval) ||
		    tr_msg_get_uint(m, 2, &s->per_tick) ||
		    tr_msg_get_uint(m, 3, &s->max))
			return;
		s->running = true;
		src_tick_later(s);
	} else if (tr_msg_is(m, "stop")) {
		s->running = false;
	} else if (tr_msg_is(m, "tick") && s->running) {
		for (uint64_t i = 0; i < s->per_tick && s->next <= s->max;
		     i++) {
			tr_msg_t *x;
			if (tr_msg_new(&x, "seq"))
				break;
			if (tr_msg_add_uint(x, s->next) ||
			    tr_send(s->target, x)) {
				tr_msg_free(x);
				break;
			}
			s->next++;
		}
		if (s->next <= s->max)
			src_tick_later(s);
		else
			s->running = false;
	}
}

static void free_terminate(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

static const tr_behaviour_t src_b = {.name = "seqsrc",
                                     .init = src_init,
                                     .receive = src_receive,
                                     .terminate = free_terminate};

/* ---- seqsink ---------------------------------------------------------- */

struct sender {
	tr_pid_t pid;
	tr_ref_t ref;
	bool watched;  /* a monitor on pid is active */
	bool boundary; /* a DOWN noconnection since the last message */
	uint64_t last, received, gaps, lost, silent_gaps, dups, downs,
	        unwatched_gaps;
};

struct sink {
	struct sender s[MAX_SOURCES];
	size_t n;
	uint64_t strangers; /* messages from senders beyond MAX_SOURCES */
};

static tr_err sink_init(void **state, void *arg)
{
	(void)arg;
	*state = calloc(1, sizeof(struct sink));
	return *state ? TR_OK : TR_ENOMEM;
}

static void watch(struct sender *x)
{
	tr_err e = tr_monitor(x->pid, &x->ref);
	x->watched = !e;
	if (debug) {
		char r[80];
		tr_ref_format(x->ref, r, sizeof(r));
		fprintf(stderr, "%.3f sink: watch %s -> %s\n", mono(), r,
		        tr_err_name(e));
	}
}

static void sink_stats(struct sink *k, const tr_from_t *from)
{
	tr_msg_t *r;
	if (tr_msg_new(&r, "stats"))
		return;
	tr_err e = tr_msg_add_uint(r, k->strangers);
	for (size_t i = 0; i < k->n && !e; i++) {
		struct sender *x = &k->s[i];
		char pid[64];
		tr_pid_format(x->pid, pid, sizeof(pid));
		/* flat: pid, received, last, gaps, lost, silent_gaps, dups,
		 * downs, unwatched_gaps */
		e = tr_msg_add_str(r, pid);
		uint64_t v[] = {x->received, x->last,          x->gaps,
		                x->lost,     x->silent_gaps,   x->dups,
		                x->downs,    x->unwatched_gaps};
		for (size_t j = 0; j < sizeof(v) / sizeof(v[0]) && !e; j++)
			e = tr_msg_add_uint(r, v[j]);
	}
	if (e)
		tr_msg_free(r);
	else
		reply_msg(from, r);
}

static void sink_receive(void *state, tr_msg_t *m)
{
	struct sink *k = state;
	tr_msg_kind_t kind = tr_msg_kind(m);
	if (kind == TR_MSG_CALL) {
		tr_from_t from;
		if (!tr_msg_from(m, &from))
			sink_stats(k, &from);
		return;
	}
	if (kind == TR_MSG_DOWN) {
		tr_ref_t ref;
		tr_pid_t pid;
		char reason[64];
		if (tr_msg_down_info(m, &ref, &pid, reason, sizeof(reason)))
			return;
		if (debug) {
			char r[80], p[64];
			tr_ref_format(ref, r, sizeof(r));
			tr_pid_format(pid, p, sizeof(p));
			fprintf(stderr, "%.3f sink: a DOWN %s %s %s\n", mono(),
			        r, p, reason);
		}
		for (size_t i = 0; i < k->n; i++) {
			struct sender *x = &k->s[i];
			if (!x->watched || !tr_pid_eq(x->pid, pid) ||
			    !tr_ref_eq(x->ref, ref))
				continue;
			x->watched = false;
			x->boundary = true;
			x->downs++;
			if (debug)
				fprintf(stderr, "%.3f sink: DOWN %s from %zu\n",
				        mono(), reason, i);
			/* watch again a little later (the node may still be
			 * down: a monitor now would fire at once) */
			tr_msg_t *t;
			if (!tr_msg_new(&t, "rewatch") &&
			    (tr_msg_add_uint(t, i) ||
			     tr_send_after(NULL, tr_self(), t, 50, NULL)))
				tr_msg_free(t);
		}
		return;
	}
	uint64_t n;
	if (tr_msg_is(m, "rewatch")) {
		if (!tr_msg_get_uint(m, 0, &n) && n < k->n && !k->s[n].watched)
			watch(&k->s[n]);
		return;
	}
	if (!tr_msg_is(m, "seq") || tr_msg_get_uint(m, 0, &n))
		return;
	tr_pid_t from = tr_msg_sender(m);
	struct sender *x = NULL;
	for (size_t i = 0; i < k->n && !x; i++)
		if (tr_pid_eq(k->s[i].pid, from))
			x = &k->s[i];
	if (!x) {
		if (k->n == MAX_SOURCES) {
			k->strangers++;
			return;
		}
		x = &k->s[k->n++];
		memset(x, 0, sizeof(*x));
		x->pid = from;
		x->boundary = true; /* the first message may be any number */
	}
	bool unwatched = !x->watched;
	if (unwatched)
		watch(x);
	x->received++;
	if (n == x->last + 1) {
		/* in order */
	} else if (n <= x->last) {
		x->dups++;
	} else {
		x->gaps++;
		x->lost += n - x->last - 1;
		if (debug)
			fprintf(stderr, "%.3f sink: gap %llu -> %llu%s\n",
			        mono(), (unsigned long long)x->last,
			        (unsigned long long)n,
			        x->boundary ? "" : " SILENT");
		if (!x->boundary)
			x->silent_gaps++;
		else if (unwatched)
			x->unwatched_gaps++;
	}
	if (n > x->last)
		x->last = n;
	x->boundary = false;
}

static const tr_behaviour_t sink_b = {.name = "seqsink",
                                      .init = sink_init,
                                      .receive = sink_receive,
                                      .terminate = free_terminate};

/* ---- sloth and flooder ------------------------------------------------ */

static tr_err count_init(void **state, void *arg)
{
	(void)arg;
	*state = calloc(1, sizeof(uint64_t) * 2);
	return *state ? TR_OK : TR_ENOMEM;
}

static void answer_count(tr_msg_t *m, uint64_t n)
{
	tr_from_t from;
	tr_msg_t *r;
	if (!tr_msg_from(m, &from) && !tr_msg_new(&r, "count")) {
		if (tr_msg_add_uint(r, n))
			tr_msg_free(r);
		else
			reply_msg(&from, r);
	}
}

static void sloth_receive(void *state, tr_msg_t *m)
{
	uint64_t *n = state;
	if (tr_msg_kind(m) == TR_MSG_CALL) {
		answer_count(m, *n);
		return;
	}
	++*n;
	struct timespec ts = {0, SLOTH_US * 1000L};
	nanosleep(&ts, NULL);
}

static const tr_behaviour_t sloth_b = {.name = "sloth",
                                       .init = count_init,
                                       .receive = sloth_receive,
                                       .terminate = free_terminate};

struct flood {
	tr_pid_t target;
	uint64_t sent, total, batch, bytes;
	char *pad;
};

static tr_err flood_init(void **state, void *arg)
{
	(void)arg;
	*state = calloc(1, sizeof(struct flood));
	return *state ? TR_OK : TR_ENOMEM;
}

static void flood_more(struct flood *f)
{
	for (uint64_t i = 0; i < f->batch && f->sent < f->total; i++) {
		tr_msg_t *x;
		if (tr_msg_new(&x, "x"))
			break;
		if (tr_msg_add_bin(x, f->pad, f->bytes) ||
		    tr_send(f->target, x)) {
			tr_msg_free(x);
			break;
		}
		f->sent++;
	}
	tr_msg_t *t;
	if (f->sent < f->total && !tr_msg_new(&t, "more") &&
	    tr_send(tr_self(), t))
		tr_msg_free(t);
}

static void flood_receive(void *state, tr_msg_t *m)
{
	struct flood *f = state;
	if (tr_msg_kind(m) == TR_MSG_CALL) {
		answer_count(m, f->sent);
		return;
	}
	if (tr_msg_is(m, "flood") && !f->pad) {
		char pid[64];
		if (tr_msg_get_strbuf(m, 0, pid, sizeof(pid)) ||
		    tr_pid_parse(pid, &f->target) ||
		    tr_msg_get_uint(m, 1, &f->total) ||
		    tr_msg_get_uint(m, 2, &f->batch) ||
		    tr_msg_get_uint(m, 3, &f->bytes) || f->bytes > (1u << 20) ||
		    !(f->pad = calloc(1, f->bytes + 1)))
			return;
		memset(f->pad, 'x', f->bytes);
		flood_more(f);
	} else if (tr_msg_is(m, "more")) {
		flood_more(f);
	}
}

static void flood_terminate(void *state, const char *reason)
{
	(void)reason;
	struct flood *f = state;
	free(f->pad);
	free(f);
}

static const tr_behaviour_t flood_b = {.name = "flooder",
                                       .init = flood_init,
                                       .receive = flood_receive,
                                       .terminate = flood_terminate};

__attribute__((visibility("default"))) int
troupe_app_start(tr_node_t *node, tr_net_t *net, const char *arg)
{
	(void)arg;
	app_node = node;
	debug = getenv("CHAOS_DEBUG") != NULL;
	const tr_behaviour_t *exported[] = {&holder_b, &src_b, &sink_b,
	                                    &sloth_b, &flood_b};
	for (size_t i = 0; i < sizeof(exported) / sizeof(exported[0]); i++)
		if (tr_net_export(net, exported[i]))
			return 1;
	tr_spawn_opts_t o = {.name = "chaos_ctl"};
	tr_pid_t pid;
	return tr_spawn_opt(node, &ctl_b, NULL, &o, &pid, NULL) ? 1 : 0;
}
