/*
 * runtime/call.c - request/reply.
 *
 * A call is a TR_MSG_CALL carrying a fresh ref; the caller monitors the
 * callee under that same ref (Erlang's monitor + alias). The caller keeps a
 * pending entry per ref. Whichever comes first ends the call and removes
 * the entry: the reply (TR_MSG_REPLY with the ref), the DOWN of the call
 * monitor, or the timeout signal. Anything for that ref arriving later
 * finds no entry and is dropped before behaviour code sees it: a late reply
 * can never land in the caller's mailbox.
 *
 * From a plain thread, tr_call() borrows a temporary inbox as the caller.
 */
#include <string.h>

#include "runtime/internal.h"

struct pending {
	tr_reply_fn fn;
	void *ctx;
	tr_pid_t callee;
	uint64_t timer;
};

static void end_call(struct tr_actor *a, struct tr__pent *e, struct pending *p,
                     bool demonitor)
{
	tr_ref_t ref = tr__ref_key(e->key);
	tr__ptab_del(a->calls, e);
	if (p->timer)
		tr__timer_cancel(a->node, p->timer, NULL);
	if (demonitor)
		tr__demonitor(a, ref, 0);
}

bool tr__call_dispatch(struct tr_actor *a, tr_msg_t *m)
{
	struct tr__pent *e = tr__ptab_get(a->calls, tr__key_ref(m->ref));
	if (!e) {
		if (m->kind == TR_MSG_REPLY)
			return false; /* late reply: the caller counts it */
		tr_msg_free(m);
		return true;
	}
	struct pending p = *(struct pending *)e->ptr;
	tr__free(e->ptr);
	char reason[TR_REASON_MAX];
	switch (m->kind) {
	case TR_MSG_REPLY:
		end_call(a, e, &p, true);
		m->flags &= (uint8_t)~TR__MSGF_SENT; /* the callback's now */
		p.fn(a->state, TR_OK, m, NULL, p.ctx);
		return true;
	case TR__SIG_DOWN:
		end_call(a, e, &p, false);
		tr__msg_reason(m, reason, sizeof(reason));
		tr_msg_free(m);
		p.fn(a->state, TR_EEXITED, NULL, reason, p.ctx);
		return true;
	default: /* TR__SIG_CALL_TIMEOUT */
		p.timer = 0;
		end_call(a, e, &p, true);
		tr_msg_free(m);
		p.fn(a->state, TR_ETIMEDOUT, NULL, NULL, p.ctx);
		return true;
	}
}

void tr__calls_abort(struct tr_actor *a)
{
	struct tr__pent *e;
	tr__ptab_foreach (a->calls, e) {
		struct pending *p = e->ptr;
		if (p->timer)
			tr__timer_cancel(a->node, p->timer, NULL);
		tr__free(p);
	}
	tr__ptab_free(a->calls);
	a->calls = NULL;
}

tr_err tr_call_async(tr_pid_t to, tr_msg_t *req, uint64_t timeout_ms,
                     tr_reply_fn fn, void *ctx)
{
	struct tr_actor *a = tr__tls_actor;
	if (!a)
		return TR_ESTATE;
	if (!req || !fn || tr_pid_is_none(to) || (req->flags & TR__MSGF_SENT))
		return TR_EINVAL;
	struct pending *p = tr__calloc(1, sizeof(*p));
	if (!p)
		return TR_ENOMEM;
	p->fn = fn;
	p->ctx = ctx;
	p->callee = to;
	tr_ref_t ref = tr__make_ref(a->node);
	struct tr__pent *e;
	tr_err err = tr__ptab_put(&a->calls, tr__key_ref(ref), &e, NULL);
	if (err) {
		tr__free(p);
		return err;
	}
	e->ptr = p;
	if (timeout_ms != TR_INFINITY) {
		tr_msg_t *t;
		err = tr__msg_alloc(TR__SIG_CALL_TIMEOUT, 0, &t);
		if (!err) {
			t->ref = ref;
			t->from = tr__pid_of(a);
			err = tr__timer_arm(a->node, tr__pid_of(a), t,
			                    timeout_ms, &p->timer);
			if (err)
				tr_msg_free(t);
		}
		if (err) {
			tr__ptab_del(a->calls, e);
			tr__free(p);
			return err;
		}
	}
	err = tr__monitor(a, to, ref, TR__MON_CALL);
	if (err) {
		if (p->timer)
			tr__timer_cancel(a->node, p->timer, NULL);
		e = tr__ptab_get(a->calls, tr__key_ref(ref));
		tr__ptab_del(a->calls, e);
		tr__free(p);
		return err;
	}
	req->kind = TR_MSG_CALL;
	req->from = tr__pid_of(a);
	req->ref = ref;
	if (tr__route(a->node, to, req))
		tr_msg_free(req); /* the monitor answers "noconnection" */
	return TR_OK;
}

tr_err tr_msg_from(const tr_msg_t *call, tr_from_t *out)
{
	if (!call || !out)
		return TR_EINVAL;
	if (call->kind != TR_MSG_CALL)
		return TR_ETYPE;
	out->pid = call->from;
	out->ref = call->ref;
	return TR_OK;
}

tr_err tr_reply(const tr_from_t *from, tr_msg_t *reply)
{
	if (!from || !reply || tr_pid_is_none(from->pid) ||
	    (reply->flags & TR__MSGF_SENT))
		return TR_EINVAL;
	struct tr_actor *a = tr__tls_actor;
	reply->kind = TR_MSG_REPLY;
	reply->ref = from->ref;
	reply->from = a ? tr__pid_of(a) : TR_PID_NONE;
	if (tr__route(a ? a->node : NULL, from->pid, reply))
		tr_msg_free(reply); /* caller unreachable: not an error */
	return TR_OK;
}

struct match_ref {
	tr_ref_t ref;
};

static bool match_call(const tr_msg_t *m, void *arg)
{
	struct match_ref *mr = arg;
	return (m->kind == TR_MSG_REPLY || m->kind == TR_MSG_DOWN) &&
	       tr_ref_eq(m->ref, mr->ref);
}

tr_err tr_call(tr_node_t *node, tr_pid_t to, tr_msg_t *req, uint64_t timeout_ms,
               tr_msg_t **reply, char *reason_buf, size_t reason_cap)
{
	if (tr__tls_actor)
		return TR_ESTATE;
	if (!req || !reply || tr_pid_is_none(to) ||
	    (req->flags & TR__MSGF_SENT))
		return TR_EINVAL;
	if (!node)
		node = tr__node_by_id(to.node);
	if (!node)
		return TR_EUNREACHABLE;
	tr_inbox_t *ib;
	tr_err e = tr_inbox_new(node, &ib);
	if (e)
		return e;
	tr_pid_t me = tr_inbox_pid(ib);
	tr_ref_t ref = tr__make_ref(node);
	/* Monitor first, then the call, both from this thread: FIFO per
	 * sender puts the MONITOR ahead of the CALL at the callee. */
	tr__send_signal(TR__SIG_MONITOR, me, to, ref, 0);
	req->kind = TR_MSG_CALL;
	req->from = me;
	req->ref = ref;
	if (tr__route(node, to, req))
		tr_msg_free(req);
	struct match_ref mr = {ref};
	tr_msg_t *m = NULL;
	e = tr_inbox_receive_match(ib, timeout_ms, match_call, &mr, &m);
	if (!e && m->kind == TR_MSG_DOWN) {
		if (reason_buf && reason_cap)
			tr__msg_reason(m, reason_buf, reason_cap);
		tr_msg_free(m);
		m = NULL;
		e = TR_EEXITED;
	} else if (!e) {
		tr__send_signal(TR__SIG_DEMONITOR, me, to, ref, 0);
		*reply = m;
	} else {
		tr__send_signal(TR__SIG_DEMONITOR, me, to, ref, 0);
	}
	tr_inbox_destroy(ib);
	return e;
}
