/*
 * supervisor/task.c - Elixir's Task: a function run in an actor of its
 * own, its result sent to its owner.
 *
 * The task actor waits for ["run", ref, owner] from whoever started it
 * (who first set up its monitor, so the result can never come before the
 * owner watches), runs the function, sends ["task_result", ref, result]
 * to the owner and ends "normal"; a function that fails ends the task
 * with the error's name. A plain-thread owner is an inbox of its own per
 * task: destroying it drops anything late.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <troupe/supervisor.h>

struct closure {
	tr_task_fn fn;
	void *arg;
};

static tr_err task_init(void **state, void *arg)
{
	struct closure *c = malloc(sizeof(*c));
	if (!c)
		return TR_ENOMEM;
	*c = *(struct closure *)arg;
	*state = c;
	return TR_OK;
}

static void task_receive(void *state, tr_msg_t *m)
{
	struct closure *c = state;
	tr_ref_t ref;
	tr_pid_t owner = TR_PID_NONE;
	/* ["run", ref, owner], or ["run"] for a task nobody awaits */
	if (!c->fn || !tr_msg_is(m, "run") ||
	    (tr_msg_count(m) > 1 &&
	     (tr_msg_get_ref(m, 0, &ref) || tr_msg_get_pid(m, 1, &owner))))
		return;
	tr_task_fn fn = c->fn;
	c->fn = NULL; /* it runs once */
	tr_msg_t *res = NULL, *r = NULL;
	tr_err e = fn(c->arg, &res);
	if (e || tr_pid_is_none(owner)) {
		tr_msg_free(res);
		tr_stop(e ? tr_err_name(e) : TR_NORMAL);
		return;
	}
	if (tr_msg_new(&r, "task_result") || tr_msg_add_ref(r, ref)) {
		tr_msg_free(r);
		tr_msg_free(res);
		tr_stop("TR_ENOMEM");
		return;
	}
	size_t len;
	const void *bytes = res ? tr_msg_bytes(res, &len) : NULL;
	e = bytes ? tr_msg_add_raw(r, bytes, len) : tr_msg_add_nil(r);
	tr_msg_free(res);
	if (e || tr_send(owner, r)) {
		tr_msg_free(r);
		tr_stop(tr_err_name(e ? e : TR_ENOMEM));
		return;
	}
	tr_stop(TR_NORMAL);
}

static void task_terminate(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

static const tr_behaviour_t task_b = {.name = "task",
                                      .init = task_init,
                                      .receive = task_receive,
                                      .terminate = task_terminate};

static tr_err run(tr_pid_t task, tr_ref_t ref, tr_pid_t owner)
{
	tr_msg_t *m = NULL;
	tr_err e = tr_msg_new(&m, "run");
	if (!e)
		e = tr_msg_add_ref(m, ref);
	if (!e)
		e = tr_msg_add_pid(m, owner);
	if (!e)
		e = tr_send(task, m);
	if (e)
		tr_msg_free(m);
	return e;
}

/* A plain thread's task: an inbox watches it, then it may run. */
static tr_err own(tr_node_t *node, tr_pid_t pid, tr_task_t *out)
{
	tr_err e = tr_inbox_new(node, &out->inbox);
	if (!e)
		e = tr_inbox_monitor(out->inbox, pid, &out->ref);
	if (!e)
		e = run(pid, out->ref, tr_inbox_pid(out->inbox));
	if (e) {
		tr_exit(pid, TR_KILL);
		tr_inbox_destroy(out->inbox);
		out->inbox = NULL;
		return e;
	}
	out->pid = pid;
	return TR_OK;
}

tr_err tr_task_async(tr_node_t *node, tr_task_fn fn, void *arg, tr_task_t *out)
{
	if (!fn || !out || (!node && !(node = tr_node_current())))
		return TR_EINVAL;
	memset(out, 0, sizeof(*out));
	struct closure c = {fn, arg};
	tr_pid_t pid;
	tr_err e;
	if (tr_node_current()) { /* an actor: linked and monitored */
		tr_spawn_opts_t o = {.link = true, .monitor = true};
		e = tr_spawn_opt(node, &task_b, &c, &o, &pid, &out->ref);
		if (!e && (e = run(pid, out->ref, tr_self())))
			tr_exit(pid, TR_KILL);
		if (!e)
			out->pid = pid;
		return e;
	}
	e = tr_spawn(node, &task_b, &c, &pid);
	return e ? e : own(node, pid, out);
}

/* A task nobody awaits: spawned (by start), then told to run. */
static tr_err run_alone(tr_pid_t pid)
{
	tr_msg_t *m = NULL;
	tr_err e = tr_msg_new(&m, "run");
	if (!e && (e = tr_send(pid, m)))
		tr_msg_free(m);
	if (e)
		tr_exit(pid, TR_KILL);
	return e;
}

tr_err tr_task_start(tr_node_t *node, tr_task_fn fn, void *arg, tr_pid_t *out)
{
	if (!fn || (!node && !(node = tr_node_current())))
		return TR_EINVAL;
	struct closure c = {fn, arg};
	tr_pid_t pid;
	tr_err e = tr_spawn(node, &task_b, &c, &pid);
	if (!e)
		e = run_alone(pid);
	if (!e && out)
		*out = pid;
	return e;
}

static tr_err start_linked(void *ctx, tr_pid_t *out)
{
	return tr_spawn_link(&task_b, ctx, out);
}

tr_err tr_task_async_nolink(tr_node_t *node, tr_pid_t sup, tr_task_fn fn,
                            void *arg, tr_task_t *out)
{
	if (!node || !fn || !out)
		return TR_EINVAL;
	if (tr_node_current())
		return TR_ESTATE;
	memset(out, 0, sizeof(*out));
	struct closure c = {fn, arg};
	tr_child_spec_t s;
	tr_child_spec_init(&s);
	s.start = start_linked;
	s.start_ctx = &c; /* copied by the task's init, during the call */
	s.restart = TR_TEMPORARY;
	tr_pid_t pid;
	tr_err e = tr_dynsup_start_child(node, sup, &s, &pid);
	if (e)
		return e;
	return own(node, pid, out);
}

tr_err tr_task_sup_start_child(tr_node_t *node, tr_pid_t sup, tr_task_fn fn,
                               void *arg, tr_pid_t *out)
{
	if (!node || !fn)
		return TR_EINVAL;
	if (tr_node_current())
		return TR_ESTATE;
	struct closure c = {fn, arg};
	tr_child_spec_t s;
	tr_child_spec_init(&s);
	s.start = start_linked;
	s.start_ctx = &c;
	s.restart = TR_TEMPORARY;
	tr_pid_t pid;
	tr_err e = tr_dynsup_start_child(node, sup, &s, &pid);
	if (!e)
		e = run_alone(pid);
	if (!e && out)
		*out = pid;
	return e;
}

bool tr_task_result(const tr_msg_t *m, tr_ref_t *ref, tr_msg_t **result)
{
	tr_type_t t;
	if (!m || !tr_msg_is(m, "task_result") || tr_msg_get_ref(m, 0, ref) ||
	    tr_msg_type(m, 1, &t))
		return false;
	*result = NULL;
	if (t != TR_T_NIL) {
		const void *raw;
		size_t len;
		if (tr_msg_get_raw(m, 1, &raw, &len) ||
		    tr_msg_from_msgpack(result, raw, len))
			return false;
	}
	return true;
}

struct want {
	tr_ref_t ref;
};

static bool match_task(const tr_msg_t *m, void *arg)
{
	struct want *w = arg;
	tr_ref_t r;
	if (tr_msg_kind(m) == TR_MSG_DOWN)
		return !tr_msg_down_info(m, &r, NULL, NULL, 0) &&
		       tr_ref_eq(r, w->ref);
	return tr_msg_is(m, "task_result") && !tr_msg_get_ref(m, 0, &r) &&
	       tr_ref_eq(r, w->ref);
}

static void finish(tr_task_t *task)
{
	tr_inbox_destroy(task->inbox);
	task->inbox = NULL;
}

/* The task's result or end; TR_ETIMEDOUT leaves everything as it was. */
static tr_err collect(tr_task_t *task, uint64_t timeout_ms, tr_msg_t **result,
                      char *reason_buf, size_t reason_cap)
{
	struct want w = {task->ref};
	tr_msg_t *m = NULL;
	tr_err e = tr_inbox_receive_match(task->inbox, timeout_ms, match_task,
	                                  &w, &m);
	if (e)
		return e;
	tr_ref_t ref;
	if (tr_msg_kind(m) == TR_MSG_DOWN) {
		char why[TR_REASON_MAX];
		tr_msg_down_info(m, NULL, NULL, why, sizeof(why));
		if (reason_buf && reason_cap)
			snprintf(reason_buf, reason_cap, "%s", why);
		tr_msg_free(m);
		finish(task);
		return TR_EEXITED;
	}
	tr_msg_t *res = NULL;
	e = tr_task_result(m, &ref, &res) ? TR_OK : TR_EPROTO;
	tr_msg_free(m);
	if (result)
		*result = res;
	else
		tr_msg_free(res);
	finish(task);
	return e;
}

tr_err tr_task_yield(tr_task_t *task, uint64_t timeout_ms, tr_msg_t **result,
                     char *reason_buf, size_t reason_cap)
{
	if (!task || !task->inbox)
		return TR_EINVAL;
	if (result)
		*result = NULL;
	return collect(task, timeout_ms, result, reason_buf, reason_cap);
}

tr_err tr_task_await(tr_task_t *task, uint64_t timeout_ms, tr_msg_t **result,
                     char *reason_buf, size_t reason_cap)
{
	tr_err e =
	        tr_task_yield(task, timeout_ms, result, reason_buf, reason_cap);
	if (e == TR_ETIMEDOUT) { /* nothing of it may arrive later */
		tr_exit(task->pid, TR_KILL);
		finish(task);
	}
	return e;
}

tr_err tr_task_yield_many(tr_task_t *tasks, size_t n, uint64_t timeout_ms,
                          bool kill_late, tr_err *status, tr_msg_t **results)
{
	if (tr_node_current())
		return TR_ESTATE;
	if (n && (!tasks || !status || !results))
		return TR_EINVAL;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t start =
	        (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	uint64_t end = timeout_ms == TR_INFINITY || start + timeout_ms < start
	                       ? UINT64_MAX
	                       : start + timeout_ms;
	for (size_t i = 0; i < n; i++) {
		results[i] = NULL;
		if (!tasks[i].inbox) {
			status[i] = TR_EINVAL;
			continue;
		}
		/* one deadline for all: each task waits what is left (its
		 * inbox keeps what came meanwhile) */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t now = (uint64_t)ts.tv_sec * 1000u +
		               (uint64_t)ts.tv_nsec / 1000000u;
		uint64_t left = end == UINT64_MAX ? TR_INFINITY
		                : now < end       ? end - now
		                                  : 0;
		status[i] = collect(&tasks[i], left, &results[i], NULL, 0);
	}
	for (size_t i = 0; kill_late && i < n; i++) {
		if (status[i] == TR_ETIMEDOUT && tasks[i].inbox) {
			tr_exit(tasks[i].pid, TR_KILL);
			finish(&tasks[i]);
		}
	}
	return TR_OK;
}

tr_err tr_task_await_many(tr_task_t *tasks, size_t n, uint64_t timeout_ms,
                          tr_msg_t **results)
{
	tr_err *st = n ? calloc(n, sizeof(*st)) : NULL;
	if (n && !st)
		return TR_ENOMEM;
	tr_err e = tr_task_yield_many(tasks, n, timeout_ms, true, st, results);
	for (size_t i = 0; !e && i < n; i++)
		if (st[i] != TR_OK)
			e = st[i];
	if (e) /* all or nothing */
		for (size_t i = 0; i < n; i++) {
			tr_msg_free(results[i]);
			results[i] = NULL;
		}
	free(st);
	return e;
}

void tr_task_ignore(tr_task_t *task)
{
	if (task && task->inbox)
		finish(task);
}

tr_err tr_task_shutdown(tr_task_t *task, bool brutal, tr_msg_t **result)
{
	if (!task || !task->inbox)
		return TR_EINVAL;
	if (result)
		*result = NULL;
	tr_exit(task->pid, brutal ? TR_KILL : TR_SHUTDOWN);
	tr_err e = collect(task, TR_INFINITY, result, NULL, 0);
	return e == TR_EEXITED ? TR_ECANCELED : e;
}

/* ---- async_stream ----------------------------------------------------------
 */

struct slot {
	tr_pid_t pid;
	tr_ref_t ref;
	uint64_t deadline;
	bool running, done;
	tr_err status;
	tr_msg_t *result;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

tr_err tr_task_async_stream(tr_node_t *node, tr_task_fn fn, void *const *args,
                            size_t n, unsigned max_concurrency, bool ordered,
                            uint64_t timeout_ms,
                            void (*on_result)(void *ctx, size_t i,
                                              tr_err status, tr_msg_t *result),
                            void *ctx)
{
	if (!node || !fn || (n && !args) || !on_result)
		return TR_EINVAL;
	if (tr_node_current())
		return TR_ESTATE;
	if (!max_concurrency)
		max_concurrency = tr_node_schedulers(node);
	struct slot *sl = calloc(n ? n : 1, sizeof(*sl));
	tr_inbox_t *ib;
	tr_err e = sl ? tr_inbox_new(node, &ib) : TR_ENOMEM;
	if (e) {
		free(sl);
		return e;
	}
	tr_pid_t owner = tr_inbox_pid(ib);
	size_t next = 0, running = 0, delivered = 0, emit = 0;
	while (delivered < n) {
		/* keep max_concurrency tasks running */
		while (next < n && running < max_concurrency) {
			struct slot *s = &sl[next];
			struct closure c = {fn, args[next]};
			tr_pid_t pid;
			e = tr_spawn(node, &task_b, &c, &pid);
			if (!e)
				e = tr_inbox_monitor(ib, pid, &s->ref);
			if (!e && (e = run(pid, s->ref, owner)))
				tr_exit(pid, TR_KILL);
			s->pid = pid;
			s->deadline = timeout_ms == TR_INFINITY
			                      ? UINT64_MAX
			                      : now_ms() + timeout_ms;
			if (e) { /* could not start: its outcome is the error */
				s->done = true;
				s->status = e;
			} else {
				s->running = true;
				running++;
			}
			next++;
		}
		/* the earliest deadline bounds the wait */
		uint64_t now = now_ms(), wait = TR_INFINITY;
		for (size_t i = 0; i < next; i++) {
			if (!sl[i].running)
				continue;
			if (sl[i].deadline <= now) {
				tr_exit(sl[i].pid, TR_KILL);
				sl[i].running = false;
				sl[i].done = true;
				sl[i].status = TR_ETIMEDOUT;
				tr_demonitor(sl[i].ref, TR_DEMONITOR_FLUSH);
				running--;
			} else if (sl[i].deadline - now < wait) {
				wait = sl[i].deadline - now;
			}
		}
		tr_msg_t *m = NULL;
		/* something to hand over already: no waiting */
		bool anything_done = ordered && emit < next && sl[emit].done;
		for (size_t i = 0; !ordered && i < next && !anything_done; i++)
			anything_done = sl[i].done;
		if (running && !anything_done &&
		    tr_inbox_receive(ib, wait, &m) == TR_OK) {
			tr_ref_t ref;
			tr_msg_t *res = NULL;
			bool is_result = tr_task_result(m, &ref, &res);
			if (!is_result && tr_msg_kind(m) == TR_MSG_DOWN)
				tr_msg_down_info(m, &ref, NULL, NULL, 0);
			else if (!is_result)
				ref = (tr_ref_t){0, 0, 0};
			for (size_t i = 0; i < next; i++) {
				if (!sl[i].running ||
				    !tr_ref_eq(sl[i].ref, ref))
					continue;
				sl[i].running = false;
				sl[i].done = true;
				running--;
				if (is_result) {
					sl[i].status = TR_OK;
					sl[i].result = res;
					res = NULL;
					tr_demonitor(ref, TR_DEMONITOR_FLUSH);
				} else {
					sl[i].status = TR_EEXITED;
				}
				break;
			}
			tr_msg_free(res);
			tr_msg_free(m);
		}
		/* hand over what is done, in order or as it came */
		for (size_t i = ordered ? emit : 0; i < next; i++) {
			if (!sl[i].done) {
				if (ordered)
					break;
				continue;
			}
			on_result(ctx, i, sl[i].status, sl[i].result);
			sl[i].done = false;
			sl[i].result = NULL;
			sl[i].status = TR_ECANCELED; /* delivered */
			delivered++;
			if (ordered)
				emit = i + 1;
		}
	}
	tr_inbox_destroy(ib);
	free(sl);
	return TR_OK;
}
