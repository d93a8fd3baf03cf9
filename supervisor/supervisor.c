/*
 * supervisor/supervisor.c - OTP's supervisor as a troupe actor.
 *
 * The supervisor traps exits and is linked to its children. Anything
 * that stops children (a strategy's group restart, terminate_child, its
 * own shutdown) is a job: the children to stop, in order, and what to do
 * afterwards. A child is stopped by sending it "shutdown" (or "kill") and
 * waiting for the DOWN of a monitor set for the purpose (so a child that
 * unlinked itself cannot hang the supervisor); a timer kills it when its
 * shutdown time runs out. While a job runs, other messages (exits of
 * other children, calls, restart timers) wait in a queue and are handled,
 * in order, when it is done: the supervisor does one thing at a time, as
 * OTP's does. A job stops its children one by one, except a dynamic
 * supervisor's own shutdown, which stops them all at once (Elixir's
 * DynamicSupervisor, OTP's simple_one_for_one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <troupe/supervisor.h>

#include "net/wire.h"
#include "runtime/table.h"
#include "supervisor/place.h"

struct child {
	char id[TR_CHILD_ID_MAX];
	tr_child_spec_t spec; /* spec.id points at id */
	tr_pid_t pid;         /* TR_PID_NONE: not running */
	tr_pid_t remote;      /* placed children: the actor on its node */
	bool restarting;      /* a restart is scheduled */
	bool remove;          /* temporary and ended: forget when idle */
};

enum then { THEN_NOTHING, THEN_RESTART, THEN_REPLY, THEN_EXIT };

struct sup {
	tr_sup_flags_t fl;
	tr_pid_t self, parent;
	struct child *ch;
	size_t n, cap;
	uint64_t *rs; /* restart times (ms), the last intensity + 1 */
	size_t nrs;
	/* the job */
	bool busy;
	size_t *stop, nstop, at;
	tr_pid_t cur;
	tr_ref_t cur_ref;
	/* a dynamic supervisor's own shutdown stops every child at once,
	 * as Elixir's DynamicSupervisor: monitor ref -> child (aux) */
	bool par;
	struct tr__ptab *par_refs;
	enum then then;
	size_t *restart, nrestart;
	bool has_from;
	tr_from_t from;
	char reason[TR_REASON_MAX];
	/* what waits for the job */
	tr_msg_t **q;
	size_t nq, cq;
	bool stopping; /* the supervisor is on its way out */
	/* pid -> index in ch (aux), for every running child */
	struct tr__ptab *by_pid;
	size_t nremoved; /* marked `remove`, not yet compacted */
	/* DynamicSupervisor */
	bool dynamic;
	size_t max_children;
	uint64_t next_id;
	void *extra;       /* given to every start_extra */
	bool group_waited; /* the next group start is after its backoff */
	/* started by a remote spawn (tr_dynsup_behaviour()): its parent is
	 * whoever linked to it, so an exit signal from any process that is
	 * not a child is the parent's */
	bool any_parent;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tr_sup_flags_init(tr_sup_flags_t *f)
{
	memset(f, 0, sizeof(*f));
}

void tr_child_spec_init(tr_child_spec_t *s)
{
	memset(s, 0, sizeof(*s));
}

static tr_msg_t *msg_new(const char *tag)
{
	tr_msg_t *m = NULL;
	return tr_msg_new(&m, tag) ? NULL : m;
}

static void reply_err(const tr_from_t *from, tr_err e)
{
	tr_msg_t *r = msg_new(e ? "error" : "ok");
	if (r && e)
		tr_msg_add_str(r, tr_err_name(e));
	if (r && tr_reply(from, r))
		tr_msg_free(r);
}

static void reply_pid(const tr_from_t *from, tr_pid_t pid)
{
	tr_msg_t *r = msg_new("ok");
	if (!r)
		return;
	if (tr_pid_is_none(pid))
		tr_msg_add_nil(r);
	else
		tr_msg_add_pid(r, pid);
	if (tr_reply(from, r))
		tr_msg_free(r);
}

/* ---- specs --------------------------------------------------------------- */

static tr_err spec_check(const tr_child_spec_t *s, tr_auto_shutdown_t as)
{
	if (!s || !s->id || !*s->id || strlen(s->id) >= TR_CHILD_ID_MAX ||
	    (!s->beh && !s->start && !s->start_extra && !s->place) ||
	    (s->place && (s->beh || s->start || s->start_extra ||
	                  tr__place_check(s->place))) ||
	    s->restart > TR_TEMPORARY || s->shutdown > TR_SHUTDOWN_INFINITY ||
	    s->type > TR_CHILD_SUPERVISOR)
		return TR_EINVAL;
	if (s->significant &&
	    (s->restart == TR_PERMANENT || as == TR_AUTO_NEVER))
		return TR_EINVAL;
	if (s->name.ops && (!s->name.ops->register_name || !s->name.name))
		return TR_EINVAL;
	return TR_OK;
}

static struct child *child_by_id(struct sup *s, const char *id, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (!s->ch[i].remove && strlen(s->ch[i].id) == len &&
		    !memcmp(s->ch[i].id, id, len))
			return &s->ch[i];
	return NULL;
}

static struct child *child_by_pid(struct sup *s, tr_pid_t pid)
{
	struct tr__pent *e = tr__ptab_get(s->by_pid, pid);
	if (!e || e->aux >= s->n || !tr_pid_eq(s->ch[e->aux].pid, pid))
		return NULL;
	return &s->ch[e->aux];
}

/* Every change of a child's pid goes through here (the pid index). */
static void set_pid(struct sup *s, struct child *c, tr_pid_t pid)
{
	struct tr__pent *e;
	bool had;
	if (!tr_pid_is_none(c->pid) && (e = tr__ptab_get(s->by_pid, c->pid)))
		tr__ptab_del(s->by_pid, e);
	c->pid = pid;
	c->remote = TR_PID_NONE;
	if (!tr_pid_is_none(pid) &&
	    tr__ptab_put(&s->by_pid, pid, &e, &had) == TR_OK)
		e->aux = (uint64_t)(c - s->ch);
}

static void mark_removed(struct sup *s, struct child *c)
{
	if (!c->remove) {
		c->remove = true;
		s->nremoved++;
	}
}

static struct child *child_add(struct sup *s, const tr_child_spec_t *spec)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct child *v = realloc(s->ch, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->ch = v;
		s->cap = cap;
	}
	struct child *c = &s->ch[s->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", spec->id);
	c->spec = *spec;
	c->spec.id = NULL; /* use c->id: the array may move */
	return c;
}

/* Compact the children marked `remove` (a dynamic supervisor waits
 * until they are half of its list: each exit stays O(1)). */
static void forget_removed(struct sup *s)
{
	if (!s->nremoved || (s->dynamic && s->nremoved * 2 < s->n))
		return;
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->ch[i].remove)
			continue;
		s->ch[k] = s->ch[i];
		struct tr__pent *e;
		if (!tr_pid_is_none(s->ch[k].pid) &&
		    (e = tr__ptab_get(s->by_pid, s->ch[k].pid)))
			e->aux = k;
		k++;
	}
	s->n = k;
	s->nremoved = 0;
}

/* Start a child (in the supervisor): TR_OK with its pid, or TR_PID_NONE
 * when its start said ignore. */
static tr_err start_child(struct sup *s, struct child *c, tr_pid_t *out)
{
	tr_pid_t pid = TR_PID_NONE;
	tr_err e =
	        c->spec.place ? tr__place_start(c->spec.place, c->id, &pid)
	        : c->spec.start_extra
	                ? c->spec.start_extra(s->extra, c->spec.start_ctx, &pid)
	        : c->spec.start ? c->spec.start(c->spec.start_ctx, &pid)
	                        : tr_spawn_link(c->spec.beh, c->spec.arg, &pid);
	if (e)
		return e;
	if (!tr_pid_is_none(pid) && c->spec.name.ops &&
	    (e = tr_via_register(&c->spec.name, pid))) {
		tr_unlink(pid);
		tr_exit(pid, TR_KILL);
		return e;
	}
	set_pid(s, c, pid);
	c->restarting = false;
	*out = pid;
	return TR_OK;
}

/* ---- intensity ----------------------------------------------------------- */

/* Record a restart; false when that is one too many for the period. */
static bool restart_allowed(struct sup *s)
{
	uint64_t now = now_ms();
	size_t keep = 0;
	for (size_t i = 0; i < s->nrs; i++)
		if (now - s->rs[i] <= s->fl.period_ms)
			s->rs[keep++] = s->rs[i];
	s->nrs = keep;
	if (s->fl.no_restarts || s->nrs >= s->fl.intensity)
		return false;
	s->rs[s->nrs++] = now;
	return true;
}

static uint64_t backoff(struct sup *s)
{
	if (!s->fl.backoff_ms)
		return 0;
	uint64_t d = s->fl.backoff_ms;
	for (size_t i = 1; i < s->nrs && d < s->fl.backoff_max_ms; i++)
		d *= 2;
	return s->fl.backoff_max_ms && d > s->fl.backoff_max_ms
	               ? s->fl.backoff_max_ms
	               : d;
}

/* ---- jobs ---------------------------------------------------------------- */

static void handle(struct sup *s, tr_msg_t *m);
static void shutdown_self(struct sup *s, const char *reason);

static void job_done(struct sup *s);

static uint64_t shutdown_ms(const struct child *c)
{
	switch (c->spec.shutdown) {
	case TR_SHUTDOWN_TIMEOUT:
		return c->spec.shutdown_ms;
	case TR_SHUTDOWN_INFINITY:
		return TR_INFINITY;
	case TR_SHUTDOWN_BRUTAL:
		return 0;
	default:
		return c->spec.type == TR_CHILD_SUPERVISOR ? TR_INFINITY : 5000;
	}
}

/* Stop a child of the job: "shutdown" (or "kill"), and a timer that
 * kills it when its shutdown time runs out. The caller monitors it. */
static void stop_one(struct child *c, tr_pid_t self)
{
	uint64_t ms = shutdown_ms(c);
	if (!ms) {
		tr_exit(c->pid, TR_KILL);
		return;
	}
	tr_exit(c->pid, TR_SHUTDOWN);
	tr_msg_t *t = msg_new("sup_kill");
	if (t && ms != TR_INFINITY) {
		tr_msg_add_pid(t, c->pid);
		if (tr_send_after(tr_node_current(), self, t, ms, NULL))
			tr_msg_free(t);
	} else {
		tr_msg_free(t);
	}
}

/* Stop the next child of the job that runs, or finish. */
static void stop_next(struct sup *s)
{
	while (s->at < s->nstop) {
		struct child *c = &s->ch[s->stop[s->at]];
		if (tr_pid_is_none(c->pid)) {
			s->at++;
			continue;
		}
		s->cur = c->pid;
		if (tr_monitor(c->pid, &s->cur_ref)) {
			set_pid(s, c, TR_PID_NONE); /* cannot watch it */
			s->at++;
			continue;
		}
		stop_one(c, s->self);
		return; /* the DOWN goes on */
	}
	job_done(s);
}

/* Stop every child of the job at once; the job is done when the last
 * DOWN is in (sup_receive). */
static void stop_all(struct sup *s)
{
	s->par = true;
	for (size_t i = 0; i < s->nstop; i++) {
		struct child *c = &s->ch[s->stop[i]];
		if (tr_pid_is_none(c->pid))
			continue;
		tr_ref_t ref;
		struct tr__pent *e;
		bool had;
		if (tr_monitor(c->pid, &ref) ||
		    tr__ptab_put(&s->par_refs, tr__key_ref(ref), &e, &had)) {
			set_pid(s, c, TR_PID_NONE); /* cannot watch it */
			continue;
		}
		e->aux = s->stop[i];
		stop_one(c, s->self);
	}
	if (!tr__ptab_len(s->par_refs)) {
		s->par = false;
		job_done(s);
	}
}

static void job(struct sup *s, size_t *stop, size_t nstop, enum then then)
{
	s->busy = true;
	free(s->stop);
	s->stop = stop;
	s->nstop = nstop;
	s->at = 0;
	s->then = then;
	s->cur = TR_PID_NONE;
	if (s->dynamic && then == THEN_EXIT)
		stop_all(s);
	else
		stop_next(s);
}

/* Indices from..to-1 (or all but skip) in reverse start order. */
static size_t *reverse_range(struct sup *s, size_t from, size_t to, size_t skip,
                             size_t *n)
{
	size_t *v = malloc((s->n + 1) * sizeof(*v));
	*n = 0;
	for (size_t i = to; v && i-- > from;)
		if (i != skip && !s->ch[i].remove)
			v[(*n)++] = i;
	return v;
}

static void restart_one(struct sup *s, struct child *c);
static bool restart_in_group(struct sup *s, struct child *c);
static void group_later(struct sup *s, struct child *c, const char *tag,
                        uint64_t ms);

static void job_done(struct sup *s)
{
	s->busy = false;
	s->cur = TR_PID_NONE;
	enum then then = s->then;
	s->then = THEN_NOTHING;
	switch (then) {
	case THEN_RESTART: {
		/* with a backoff the group starts after it, in one go */
		uint64_t b = s->group_waited ? 0 : backoff(s);
		s->group_waited = false;
		for (size_t i = 0; b && i < s->nrestart; i++) {
			struct child *c = &s->ch[s->restart[i]];
			if (c->spec.restart == TR_TEMPORARY ||
			    !tr_pid_is_none(c->pid) || c->restarting)
				continue;
			group_later(s, c, "sup_group_start", b);
			s->nrestart = 0; /* that message restarts the group */
		}
		for (size_t i = 0; i < s->nrestart; i++) {
			struct child *c = &s->ch[s->restart[i]];
			if (c->spec.restart == TR_TEMPORARY) {
				mark_removed(s, c); /* never restarted */
				continue;
			}
			if (tr_pid_is_none(c->pid) && !c->restarting &&
			    !restart_in_group(s, c))
				break; /* the rest waits for the group's retry
				        */
			if (s->busy || s->stopping)
				break;
		}
		free(s->restart);
		s->restart = NULL;
		s->nrestart = 0;
		break;
	}
	case THEN_REPLY:
		if (s->has_from)
			reply_err(&s->from, TR_OK);
		s->has_from = false;
		break;
	case THEN_EXIT:
		if (s->has_from)
			reply_err(&s->from, TR_OK);
		s->has_from = false;
		tr_stop(s->reason);
		return;
	case THEN_NOTHING:
		break;
	}
	if (s->busy || s->stopping)
		return;
	forget_removed(s);
	/* what waited, in order, until something starts a job again */
	while (!s->busy && !s->stopping && s->nq) {
		tr_msg_t *m = s->q[0];
		memmove(s->q, s->q + 1, (--s->nq) * sizeof(*s->q));
		handle(s, m);
		tr_msg_free(m);
	}
}

static void shutdown_self(struct sup *s, const char *reason)
{
	if (s->stopping)
		return;
	s->stopping = true;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	size_t n;
	size_t *v = reverse_range(s, 0, s->n, SIZE_MAX, &n);
	job(s, v, n, THEN_EXIT);
}

/* ---- restarts ------------------------------------------------------------ */

static void restart_later(struct sup *s, struct child *c, uint64_t ms)
{
	tr_msg_t *t = msg_new("sup_restart");
	if (!t)
		return;
	tr_msg_add_str(t, c->id);
	c->restarting = true;
	if (tr_send_after(tr_node_current(), s->self, t, ms, NULL)) {
		tr_msg_free(t);
		c->restarting = false;
	}
}

/* (Re)start a child that exited; a failed start is tried again later
 * and counts as a restart (OTP's try_again). */
static void restart_one(struct sup *s, struct child *c)
{
	uint64_t b = backoff(s);
	if (b && !c->restarting) {
		restart_later(s, c, b);
		return;
	}
	tr_pid_t pid;
	tr_err e = start_child(s, c, &pid);
	c->restarting = false;
	if (!e)
		return;
	if (!restart_allowed(s)) {
		shutdown_self(s, TR_SHUTDOWN);
		return;
	}
	restart_later(s, c, b);
}

/* A child's start within a group restart (one_for_all, rest_for_one).
 * If it fails, the round ends there, as OTP's does: the children after
 * it stay down, and the group is restarted again later (OTP's
 * try_again), which counts as a restart. false when it failed. */
static bool restart_in_group(struct sup *s, struct child *c)
{
	tr_pid_t pid;
	if (!start_child(s, c, &pid))
		return true;
	group_later(s, c, "sup_group_retry", backoff(s));
	return false;
}

/* Send ourselves [tag, c's id] in ms; c is restarting until then. */
static void group_later(struct sup *s, struct child *c, const char *tag,
                        uint64_t ms)
{
	tr_msg_t *t = msg_new(tag);
	c->restarting = true;
	if (!t || tr_msg_add_str(t, c->id) ||
	    tr_send_after(tr_node_current(), s->self, t, ms, NULL)) {
		tr_msg_free(t);
		c->restarting = false;
		shutdown_self(s, TR_SHUTDOWN); /* cannot even try again */
	}
}

static void group_restart(struct sup *s, struct child *c);

/* The group of c is restarted again after a child's failed start
 * (counted), or after its backoff (counted when its child exited). The
 * message came after the backoff already. */
static void group_retry(struct sup *s, struct child *c, bool count)
{
	c->restarting = false;
	if (count && !restart_allowed(s)) {
		shutdown_self(s, TR_SHUTDOWN);
		return;
	}
	s->group_waited = true;
	group_restart(s, c);
}

static bool significant_running(struct sup *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (!s->ch[i].remove && s->ch[i].spec.significant &&
		    !tr_pid_is_none(s->ch[i].pid))
			return true;
	return false;
}

static void child_exited(struct sup *s, struct child *c, const char *reason)
{
	set_pid(s, c, TR_PID_NONE);
	bool restart = c->spec.restart == TR_PERMANENT ||
	               (c->spec.restart == TR_TRANSIENT &&
	                !tr_reason_is_shutdown(reason));
	if (!restart) {
		if (c->spec.restart == TR_TEMPORARY || s->dynamic)
			mark_removed(s, c);
		if (c->spec.significant &&
		    (s->fl.auto_shutdown == TR_AUTO_ANY_SIGNIFICANT ||
		     (s->fl.auto_shutdown == TR_AUTO_ALL_SIGNIFICANT &&
		      !significant_running(s)))) {
			shutdown_self(s, TR_SHUTDOWN);
			return;
		}
		forget_removed(s);
		return;
	}
	if (!restart_allowed(s)) {
		shutdown_self(s, TR_SHUTDOWN);
		return;
	}
	if (s->fl.strategy == TR_ONE_FOR_ONE)
		restart_one(s, c);
	else
		group_restart(s, c);
}

/* one_for_all, rest_for_one: stop the others of c's group (in reverse),
 * then start the group in order. */
static void group_restart(struct sup *s, struct child *c)
{
	size_t idx = (size_t)(c - s->ch), n;
	switch (s->fl.strategy) {
	case TR_ONE_FOR_ONE:
		return;
	case TR_ONE_FOR_ALL:
	case TR_REST_FOR_ONE: {
		size_t from = s->fl.strategy == TR_ONE_FOR_ALL ? 0 : idx;
		size_t *v = reverse_range(s, from, s->n, idx, &n);
		free(s->restart);
		s->restart = malloc((s->n - from + 1) * sizeof(size_t));
		s->nrestart = 0;
		for (size_t i = from; s->restart && i < s->n; i++)
			if (!s->ch[i].remove)
				s->restart[s->nrestart++] = i;
		job(s, v, n, THEN_RESTART);
		return;
	}
	}
}

/* ---- requests ------------------------------------------------------------ */

static void which_children(struct sup *s, const tr_from_t *from)
{
	/* ["ok", [[id, pid|nil, restarting, type, remote|nil]...]] */
	struct tr_wbuf b = {0};
	tr__wb_array(&b, (uint32_t)(s->n - s->nremoved));
	for (size_t i = 0; i < s->n; i++) {
		struct child *c = &s->ch[i];
		if (c->remove)
			continue;
		tr__wb_array(&b, 5);
		tr__wb_str(&b, c->id, strlen(c->id));
		if (tr_pid_is_none(c->pid))
			tr__wb_nil(&b);
		else
			tr__wb_pid(&b, c->pid);
		tr__wb_uint(&b, c->restarting);
		tr__wb_uint(&b, c->spec.type);
		if (tr_pid_is_none(c->remote))
			tr__wb_nil(&b);
		else
			tr__wb_pid(&b, c->remote);
	}
	tr_msg_t *r = msg_new("ok");
	tr_err e = !r || b.oom ? TR_ENOMEM : tr_msg_add_raw(r, b.p, b.len);
	tr__wb_free(&b);
	if (e) {
		tr_msg_free(r);
		reply_err(from, e);
	} else if (tr_reply(from, r)) {
		tr_msg_free(r);
	}
}

static void count_children(struct sup *s, const tr_from_t *from)
{
	tr_msg_t *r = msg_new("ok");
	if (!r)
		return;
	size_t active = 0, sups = 0, specs = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->ch[i].remove)
			continue;
		specs++;
		active += !tr_pid_is_none(s->ch[i].pid);
		sups += s->ch[i].spec.type == TR_CHILD_SUPERVISOR;
	}
	tr_msg_add_uint(r, specs);
	tr_msg_add_uint(r, active);
	tr_msg_add_uint(r, sups);
	tr_msg_add_uint(r, specs - sups);
	if (tr_reply(from, r))
		tr_msg_free(r);
}

/* terminate_child: a job of one child, answered when it is done. */
static void stop_one_then_reply(struct sup *s, struct child *c,
                                const tr_from_t *from)
{
	size_t *v = malloc(sizeof(*v));
	if (!v) {
		reply_err(from, TR_ENOMEM);
		return;
	}
	v[0] = (size_t)(c - s->ch);
	s->has_from = true;
	s->from = *from;
	job(s, v, 1, THEN_REPLY);
}

static void on_call(struct sup *s, tr_msg_t *m)
{
	tr_from_t from;
	if (tr_msg_from(m, &from))
		return;
	const char *id = NULL;
	size_t il = 0;
	struct child *c = NULL;
	if (tr_msg_count(m) && !tr_msg_get_str(m, 0, &id, &il))
		c = child_by_id(s, id, il);
	if (tr_msg_is(m, "which_children")) {
		which_children(s, &from);
	} else if (tr_msg_is(m, "count_children")) {
		count_children(s, &from);
	} else if (tr_msg_is(m, "terminate_child")) {
		if (!c) {
			reply_err(&from, TR_ENOENT);
			return;
		}
		if (c->spec.restart == TR_TEMPORARY)
			mark_removed(s, c);
		c->restarting = false; /* a pending restart is cancelled */
		if (tr_pid_is_none(c->pid)) {
			forget_removed(s);
			{
				reply_err(&from, TR_OK);
				return;
			}
		}
		stop_one_then_reply(s, c, &from);
	} else if (tr_msg_is(m, "terminate_pid")) {
		tr_pid_t pid;
		struct child *k = NULL;
		if (tr_msg_get_pid(m, 0, &pid) || !(k = child_by_pid(s, pid))) {
			reply_err(&from, TR_ENOENT);
			return;
		}
		mark_removed(s, k); /* a dynamic child is forgotten */
		stop_one_then_reply(s, k, &from);
	} else if (tr_msg_is(m, "restart_child")) {
		tr_pid_t pid;
		if (!c) {
			reply_err(&from, TR_ENOENT);
			return;
		}
		if (!tr_pid_is_none(c->pid)) {
			reply_err(&from, TR_EEXIST);
			return;
		}
		tr_err e = start_child(s, c, &pid);
		if (e) {
			reply_err(&from, e);
			return;
		}
		reply_pid(&from, pid);
	} else if (tr_msg_is(m, "delete_child")) {
		if (!c) {
			reply_err(&from, TR_ENOENT);
			return;
		}
		if (!tr_pid_is_none(c->pid) || c->restarting) {
			reply_err(&from, TR_ESTATE);
			return;
		}
		mark_removed(s, c);
		forget_removed(s);
		reply_err(&from, TR_OK);
	} else if (tr_msg_is(m, "start_child")) {
		/* a pointer: only a caller in this process can send it */
		uint64_t p = 0;
		tr_err e = tr_msg_get_uint(m, 0, &p) ||
		                           from.pid.node != s->self.node
		                   ? TR_EINVAL
		                   : TR_OK;
		const tr_child_spec_t *spec =
		        (const tr_child_spec_t *)(uintptr_t)p;
		tr_child_spec_t dyn;
		if (!e && s->dynamic) { /* known by pid: a generated id */
			char id[32];
			snprintf(id, sizeof(id), "#%llu",
			         (unsigned long long)++s->next_id);
			dyn = *spec;
			dyn.id = id;
			spec = &dyn;
			e = spec_check(spec, s->fl.auto_shutdown);
			if (!e && s->max_children &&
			    s->n - s->nremoved >= s->max_children)
				e = TR_ELIMIT;
			if (!e) {
				struct child *nc = child_add(s, spec);
				tr_pid_t pid = TR_PID_NONE;
				e = nc ? start_child(s, nc, &pid) : TR_ENOMEM;
				if (nc && (e || tr_pid_is_none(pid)))
					s->n--; /* nothing kept */
				if (e)
					reply_err(&from, e);
				else
					reply_pid(&from, pid);
				return;
			}
		} else if (!e) {
			e = spec_check(spec, s->fl.auto_shutdown);
		}
		if (e) {
			reply_err(&from, e);
			return;
		}
		if (child_by_id(s, spec->id, strlen(spec->id))) {
			reply_err(&from, TR_EEXIST);
			return;
		}
		struct child *nc = child_add(s, spec);
		if (!nc) {
			reply_err(&from, TR_ENOMEM);
			return;
		}
		tr_pid_t pid;
		e = start_child(s, nc, &pid);
		if (e ||
		    (tr_pid_is_none(pid) && nc->spec.restart == TR_TEMPORARY)) {
			s->n--; /* nothing kept */
			if (e) {
				reply_err(&from, e);
				return;
			}
		}
		reply_pid(&from, pid);
	} else if (tr_msg_is(m, "stop")) {
		s->has_from = true;
		s->from = from;
		shutdown_self(s, TR_NORMAL);
	} else {
		reply_err(&from, TR_EINVAL);
	}
}

/* A message while idle. */
static void handle(struct sup *s, tr_msg_t *m)
{
	switch (tr_msg_kind(m)) {
	case TR_MSG_CALL:
		on_call(s, m);
		return;
	case TR_MSG_EXIT: {
		tr_pid_t from;
		char reason[TR_REASON_MAX];
		if (tr_msg_exit_info(m, &from, reason, sizeof(reason)))
			return;
		struct child *c = child_by_pid(s, from);
		if (c)
			child_exited(s, c, reason);
		else if (tr_pid_eq(from, s->parent) || s->any_parent)
			shutdown_self(s, reason);
		return;
	}
	default:
		break;
	}
	tr_pid_t agent, remote;
	if (tr__place_msg(m, &agent, &remote)) {
		struct child *c = child_by_pid(s, agent);
		if (c)
			c->remote = remote;
		return;
	}
	bool retry = tr_msg_is(m, "sup_group_retry");
	if (retry || tr_msg_is(m, "sup_group_start")) {
		const char *id;
		size_t il;
		struct child *c;
		if (!tr_msg_get_str(m, 0, &id, &il) &&
		    (c = child_by_id(s, id, il)) && c->restarting &&
		    tr_pid_is_none(c->pid))
			group_retry(s, c, retry);
		return;
	}
	if (tr_msg_is(m, "sup_restart")) {
		const char *id;
		size_t il;
		struct child *c;
		if (!tr_msg_get_str(m, 0, &id, &il) &&
		    (c = child_by_id(s, id, il)) && c->restarting &&
		    tr_pid_is_none(c->pid))
			restart_one(s, c);
	}
}

static void sup_receive(void *state, tr_msg_t *m)
{
	struct sup *s = state;
	if (tr_msg_kind(m) == TR_MSG_DOWN && s->busy && s->par) {
		tr_ref_t ref;
		struct tr__pent *e;
		if (!tr_msg_down_info(m, &ref, NULL, NULL, 0) &&
		    (e = tr__ptab_get(s->par_refs, tr__key_ref(ref)))) {
			set_pid(s, &s->ch[e->aux], TR_PID_NONE);
			tr__ptab_del(s->par_refs, e);
			if (!tr__ptab_len(s->par_refs)) {
				s->par = false;
				job_done(s);
			}
		}
		return;
	}
	if (tr_msg_kind(m) == TR_MSG_DOWN && s->busy) {
		tr_ref_t ref;
		if (!tr_msg_down_info(m, &ref, NULL, NULL, 0) &&
		    tr_ref_eq(ref, s->cur_ref) && !tr_pid_is_none(s->cur)) {
			struct child *c = &s->ch[s->stop[s->at]];
			set_pid(s, c, TR_PID_NONE);
			s->cur = TR_PID_NONE;
			s->at++;
			stop_next(s);
		}
		return;
	}
	if (tr_msg_is(m, "sup_kill")) {
		tr_pid_t p;
		if (s->busy && !tr_msg_get_pid(m, 0, &p) &&
		    (s->par ? tr__ptab_get(s->by_pid, p) != NULL
		            : tr_pid_eq(p, s->cur)))
			tr_exit(p, TR_KILL);
		return;
	}
	if (s->busy) { /* later, in order */
		if (s->nq == s->cq) {
			size_t cap = s->cq ? s->cq * 2 : 16;
			tr_msg_t **v = realloc(s->q, cap * sizeof(*v));
			if (!v)
				return; /* dropped: out of memory */
			s->q = v;
			s->cq = cap;
		}
		if (tr_msg_keep(m) == TR_OK)
			s->q[s->nq++] = m;
		return;
	}
	handle(s, m);
}

struct sup_arg {
	const tr_sup_flags_t *fl;
	const tr_child_spec_t *specs;
	size_t n;
	tr_pid_t parent;
	char *failed_id;
	tr_err *child_err;
	bool dynamic;
	size_t max_children;
	void *extra;
};

static void sup_free(struct sup *s)
{
	for (size_t i = 0; i < s->nq; i++)
		tr_msg_free(s->q[i]);
	free(s->q);
	free(s->stop);
	free(s->restart);
	free(s->rs);
	free(s->ch);
	tr__ptab_free(s->by_pid);
	tr__ptab_free(s->par_refs);
	free(s);
}

static tr_err sup_init(void **state, void *arg)
{
	struct sup_arg *a = arg;
	struct sup *s = calloc(1, sizeof(*s));
	if (!s)
		return TR_ENOMEM;
	s->fl = *a->fl;
	if (!s->fl.intensity)
		s->fl.intensity = 3;
	if (!s->fl.period_ms)
		s->fl.period_ms = 5000;
	s->self = tr_self();
	s->parent = a->parent;
	s->dynamic = a->dynamic;
	s->max_children = a->max_children;
	s->extra = a->extra;
	s->rs = calloc(s->fl.intensity + 1, sizeof(*s->rs));
	if (!s->rs) {
		free(s);
		return TR_ENOMEM;
	}
	for (size_t i = 0; i < a->n; i++) {
		struct child *c = child_add(s, &a->specs[i]);
		tr_pid_t pid;
		tr_err e = c ? start_child(s, c, &pid) : TR_ENOMEM;
		if (e) {
			/* the children started so far are linked to us: they
			 * get this error as their exit reason */
			if (a->failed_id)
				snprintf(a->failed_id, TR_CHILD_ID_MAX, "%s",
				         a->specs[i].id);
			*a->child_err = e;
			sup_free(s);
			return e;
		}
		if (tr_pid_is_none(pid) && c->spec.restart == TR_TEMPORARY)
			s->n--; /* an ignored temporary child leaves no spec */
	}
	*state = s;
	return TR_OK;
}

static void sup_terminate(void *state, const char *reason)
{
	(void)reason;
	sup_free(state);
}

static const tr_behaviour_t sup_beh = {
        .name = "supervisor",
        .init = sup_init,
        .receive = sup_receive,
        .terminate = sup_terminate,
};

/* A DynamicSupervisor started by a spawn of another node (exported with
 * tr_net_export): arg is NULL or ["dynsup", intensity, period_ms,
 * max_children]. */
static tr_err dynsup_remote_init(void **state, void *arg)
{
	const tr_msg_t *m = arg;
	tr_sup_flags_t fl;
	tr_sup_flags_init(&fl);
	uint64_t v, max = 0;
	if (m && !tr_msg_get_uint(m, 0, &v))
		fl.intensity = (unsigned)(v > 1000000 ? 1000001 : v);
	if (m && !tr_msg_get_uint(m, 1, &v))
		fl.period_ms = v;
	if (m && !tr_msg_get_uint(m, 2, &v))
		max = v;
	if (fl.intensity > 1000000)
		return TR_EINVAL;
	tr_err child_err = TR_OK;
	struct sup_arg a = {.fl = &fl,
	                    .parent = TR_PID_NONE,
	                    .child_err = &child_err,
	                    .dynamic = true,
	                    .max_children = (size_t)max};
	tr_err e = sup_init(state, &a);
	if (e)
		return e;
	((struct sup *)*state)->any_parent = true;
	return tr_trap_exit(true, NULL);
}

static const tr_behaviour_t dynsup_remote_beh = {
        .name = "dynsup",
        .init = dynsup_remote_init,
        .receive = sup_receive,
        .terminate = sup_terminate,
};

const tr_behaviour_t *tr_dynsup_behaviour(void)
{
	return &dynsup_remote_beh;
}

/* ---- API ----------------------------------------------------------------- */

tr_err tr_supervisor_start(tr_node_t *node, const tr_sup_flags_t *flags,
                           const tr_child_spec_t *specs, size_t n,
                           const tr_spawn_opts_t *opts, tr_pid_t *out,
                           char *failed_id)
{
	tr_sup_flags_t fl;
	if (flags)
		fl = *flags;
	else
		tr_sup_flags_init(&fl);
	if (!node || !out || (n && !specs) || fl.strategy > TR_REST_FOR_ONE ||
	    fl.auto_shutdown > TR_AUTO_ALL_SIGNIFICANT ||
	    fl.intensity > 1000000)
		return TR_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (spec_check(&specs[i], fl.auto_shutdown))
			return TR_EINVAL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(specs[i].id, specs[j].id))
				return TR_EINVAL;
	}
	tr_spawn_opts_t o = {0};
	if (opts)
		o = *opts;
	o.trap_exit = true;
	tr_err child_err = TR_OK;
	struct sup_arg a = {.fl = &fl,
	                    .specs = specs,
	                    .n = n,
	                    .parent = o.link ? tr_self() : TR_PID_NONE,
	                    .failed_id = failed_id,
	                    .child_err = &child_err};
	tr_err e = tr_spawn_opt(node, &sup_beh, &a, &o, out, NULL);
	return child_err ? child_err : e;
}

static tr_err call(tr_node_t *node, tr_pid_t sup, tr_msg_t *req,
                   uint64_t timeout_ms, tr_msg_t **rep)
{
	if (!req)
		return TR_ENOMEM;
	if (tr_node_current()) {
		tr_msg_free(req);
		return TR_ESTATE;
	}
	tr_msg_t *r = NULL;
	tr_err e = tr_call(node, sup, req, timeout_ms, &r, NULL, 0);
	if (e) {
		if (e == TR_EINVAL || e == TR_EUNREACHABLE || e == TR_ENOMEM)
			tr_msg_free(req);
		return e == TR_EEXITED ? TR_ENOENT : e;
	}
	if (!tr_msg_is(r, "ok")) {
		char name[32] = "";
		tr_msg_get_strbuf(r, 0, name, sizeof(name));
		tr_msg_free(r);
		for (int c = 1; c <= 22; c++)
			if (!strcmp(tr_err_name((tr_err)c), name))
				return (tr_err)c;
		return TR_EINTERNAL;
	}
	if (rep)
		*rep = r;
	else
		tr_msg_free(r);
	return TR_OK;
}

static tr_msg_t *req_id(const char *tag, const char *id)
{
	tr_msg_t *m = msg_new(tag);
	if (m && id)
		tr_msg_add_str(m, id);
	return m;
}

#define CALL_MS 60000

tr_err tr_supervisor_stop(tr_node_t *node, tr_pid_t sup, uint64_t timeout_ms)
{
	return call(node, sup, req_id("stop", NULL), timeout_ms, NULL);
}

tr_err tr_supervisor_start_child(tr_node_t *node, tr_pid_t sup,
                                 const tr_child_spec_t *spec, tr_pid_t *out)
{
	if (!spec)
		return TR_EINVAL;
	tr_msg_t *m = msg_new("start_child"), *r = NULL;
	if (m)
		tr_msg_add_uint(m, (uint64_t)(uintptr_t)spec);
	tr_err e = call(node, sup, m, CALL_MS, &r);
	if (!e && out && tr_msg_get_pid(r, 0, out))
		*out = TR_PID_NONE;
	tr_msg_free(r);
	return e;
}

tr_err tr_supervisor_terminate_child(tr_node_t *node, tr_pid_t sup,
                                     const char *id)
{
	if (!id)
		return TR_EINVAL;
	return call(node, sup, req_id("terminate_child", id), TR_INFINITY,
	            NULL);
}

tr_err tr_supervisor_restart_child(tr_node_t *node, tr_pid_t sup,
                                   const char *id, tr_pid_t *out)
{
	if (!id)
		return TR_EINVAL;
	tr_msg_t *r = NULL;
	tr_err e = call(node, sup, req_id("restart_child", id), CALL_MS, &r);
	if (!e && out && tr_msg_get_pid(r, 0, out))
		*out = TR_PID_NONE;
	tr_msg_free(r);
	return e;
}

tr_err tr_supervisor_delete_child(tr_node_t *node, tr_pid_t sup, const char *id)
{
	if (!id)
		return TR_EINVAL;
	return call(node, sup, req_id("delete_child", id), CALL_MS, NULL);
}

tr_err tr_supervisor_which_children(tr_node_t *node, tr_pid_t sup,
                                    tr_child_info_t *out, size_t cap, size_t *n)
{
	if (cap && !out)
		return TR_EINVAL;
	tr_msg_t *r = NULL;
	tr_err e = call(node, sup, req_id("which_children", NULL), CALL_MS, &r);
	if (e)
		return e;
	const void *raw;
	size_t len, cnt = 0, total = 0;
	e = tr_msg_get_raw(r, 0, &raw, &len);
	struct tr_wcur c = {raw, len};
	if (!e && !tr__wr_array(&c, &total))
		e = TR_EPROTO;
	for (size_t i = 0; !e && i < total; i++) {
		tr_child_info_t ci;
		memset(&ci, 0, sizeof(ci));
		size_t k, il;
		const char *id;
		uint64_t restarting, type;
		ci.pid = ci.remote = TR_PID_NONE;
		if (!tr__wr_array(&c, &k) || k != 5 ||
		    !tr__wr_str(&c, &id, &il) ||
		    (!tr__wr_nil(&c) && !tr__wr_pid(&c, &ci.pid)) ||
		    !tr__wr_uint(&c, &restarting) || !tr__wr_uint(&c, &type) ||
		    (!tr__wr_nil(&c) && !tr__wr_pid(&c, &ci.remote))) {
			e = TR_EPROTO;
			break;
		}
		memcpy(ci.id, id,
		       il < TR_CHILD_ID_MAX ? il : TR_CHILD_ID_MAX - 1);
		ci.restarting = restarting;
		ci.type = (tr_child_type_t)type;
		if (cnt < cap)
			out[cnt] = ci;
		cnt++;
	}
	tr_msg_free(r);
	if (n)
		*n = cnt;
	return e;
}

tr_err tr_supervisor_count_children(tr_node_t *node, tr_pid_t sup,
                                    tr_child_counts_t *out)
{
	if (!out)
		return TR_EINVAL;
	tr_msg_t *r = NULL;
	tr_err e = call(node, sup, req_id("count_children", NULL), CALL_MS, &r);
	if (e)
		return e;
	uint64_t v[4] = {0};
	for (int i = 0; i < 4; i++)
		tr_msg_get_uint(r, (size_t)i, &v[i]);
	out->specs = v[0];
	out->active = v[1];
	out->supervisors = v[2];
	out->workers = v[3];
	tr_msg_free(r);
	return TR_OK;
}

/* ---- DynamicSupervisor -----------------------------------------------------
 */

tr_err tr_dynsup_start(tr_node_t *node, const tr_dynsup_flags_t *flags,
                       const tr_spawn_opts_t *opts, tr_pid_t *out)
{
	tr_sup_flags_t fl;
	tr_sup_flags_init(&fl);
	size_t max = 0;
	if (flags) {
		fl.intensity = flags->intensity;
		fl.period_ms = flags->period_ms;
		fl.no_restarts = flags->no_restarts;
		fl.backoff_ms = flags->backoff_ms;
		fl.backoff_max_ms = flags->backoff_max_ms;
		max = flags->max_children;
	}
	void *extra = flags ? flags->extra : NULL;
	if (!node || !out || fl.intensity > 1000000)
		return TR_EINVAL;
	tr_spawn_opts_t o = {0};
	if (opts)
		o = *opts;
	o.trap_exit = true;
	tr_err child_err = TR_OK;
	struct sup_arg a = {.fl = &fl,
	                    .parent = o.link ? tr_self() : TR_PID_NONE,
	                    .child_err = &child_err,
	                    .dynamic = true,
	                    .max_children = max,
	                    .extra = extra};
	return tr_spawn_opt(node, &sup_beh, &a, &o, out, NULL);
}

tr_err tr_dynsup_start_child(tr_node_t *node, tr_pid_t sup,
                             const tr_child_spec_t *spec, tr_pid_t *out)
{
	if (!spec)
		return TR_EINVAL;
	tr_child_spec_t c = *spec;
	c.id = "#"; /* replaced by the supervisor */
	return tr_supervisor_start_child(node, sup, &c, out);
}

tr_err tr_dynsup_terminate_child(tr_node_t *node, tr_pid_t sup, tr_pid_t child)
{
	tr_msg_t *m = msg_new("terminate_pid");
	if (m)
		tr_msg_add_pid(m, child);
	return call(node, sup, m, TR_INFINITY, NULL);
}
