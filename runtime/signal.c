/*
 * runtime/signal.c - links, monitors and exit signals (Erlang's rules).
 *
 * Every signal is a message with an internal kind, pushed into the same
 * mailbox as user messages, so signals and messages from one sender keep
 * their order. The receiver handles signals as soon as it pops them (before
 * user messages already waiting), the way a BEAM process handles its
 * signal queue.
 *
 * Link state on each side is (peer pid, pending unlink id). The unlink
 * handshake is Erlang's UNLINK_ID / UNLINK_ID_ACK:
 *   unlink(B):        mark the entry "unlinking with id N", send UNLINK(N);
 *   recv UNLINK(N):   drop the entry if any, answer UNLINK_ACK(N);
 *   recv UNLINK_ACK:  drop the entry only if it still waits for that N;
 *   recv LINK:        add the entry; an unlinking entry stays unlinking;
 *   link(B) while unlinking: the entry becomes active, LINK is sent;
 *   recv EXIT(link):  acted on only if the entry is active.
 * With FIFO per pair this keeps both ends agreeing on whether a link
 * exists, however unlink, link and exit race.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/internal.h"

static bool is_self(struct tr_actor *a, tr_pid_t p)
{
	return tr_pid_eq(tr__pid_of(a), p);
}

void tr__send_signal(uint8_t kind, tr_pid_t from, tr_pid_t to, tr_ref_t ref,
                     uint64_t aux)
{
	tr_msg_t *m;
	if (tr__msg_alloc(kind, 0, &m))
		return; /* out of memory: see docs/semantics.md, limits */
	m->from = from;
	m->ref = ref;
	m->aux = aux;
	if (tr__route(NULL, to, m))
		tr__signal_unreachable(to, m);
}

tr_err tr__send_exit(struct tr_node *node, tr_pid_t from, tr_pid_t to,
                     const char *reason, bool linked)
{
	(void)node;
	tr_msg_t *m;
	tr_err e = tr__msg_exit(TR__SIG_EXIT, from, reason, &m);
	if (e)
		return e;
	if (linked)
		m->flags |= TR__MSGF_LINKED;
	if (tr__route(NULL, to, m))
		tr__signal_unreachable(to, m);
	return TR_OK;
}

/* The answer goes back to the sender: routed (it may be remote), or,
 * with `local`, delivered on that node (the sender is one of its actors
 * and the answer stands in for a pid that is not). */
static void answer(struct tr_node *local, tr_pid_t to, tr_msg_t *a)
{
	if (local)
		tr__deliver(local, to, a);
	else if (tr__route(NULL, to, a))
		tr_msg_free(a);
}

static void answer_dead(tr_pid_t dead, tr_msg_t *m, const char *reason,
                        struct tr_node *local)
{
	tr_msg_t *a = NULL;
	switch (m->kind) {
	case TR__SIG_LINK:
		if (!tr__msg_exit(TR__SIG_EXIT, dead, reason, &a))
			a->flags |= TR__MSGF_LINKED;
		break;
	case TR__SIG_MONITOR:
		if (!tr__msg_down(TR__SIG_DOWN, m->ref, dead, reason, &a))
			a->from = dead;
		break;
	case TR__SIG_UNLINK:
		/* The unlinker waits for an ack to forget the entry. */
		if (!tr__msg_alloc(TR__SIG_UNLINK_ACK, 0, &a)) {
			a->from = dead;
			a->aux = m->aux;
		}
		break;
	default:
		break;
	}
	if (a)
		answer(local, m->from, a);
	tr_msg_free(m);
}

void tr__signal_to_dead(struct tr_node *node, tr_pid_t dead, tr_msg_t *m)
{
	(void)node;
	answer_dead(dead, m, TR_NOPROC, NULL);
}

void tr__signal_stale(struct tr_node *node, tr_pid_t dead, tr_msg_t *m)
{
	answer_dead(dead, m, TR_NOPROC, node);
}

void tr__signal_unreachable(tr_pid_t to, tr_msg_t *m)
{
	/* Only answer toward a sender we can reach; never loop. */
	if (!tr__node_by_id(m->from.node)) {
		tr_msg_free(m);
		return;
	}
	/* the sender is local: a routed answer "from" the unreachable pid
	 * must not go looking for that pid's node */
	answer_dead(to, m, TR_NOCONNECTION, tr__node_by_id(m->from.node));
}

void tr__connection_lost(struct tr_node *node, enum tr__crossing what,
                         tr_pid_t local, tr_pid_t remote, tr_ref_t ref)
{
	tr_msg_t *m = NULL;
	switch (what) {
	case TR__CROSS_LINK:
		if (!tr__msg_exit(TR__SIG_EXIT, remote, TR_NOCONNECTION, &m))
			m->flags |= TR__MSGF_LINKED;
		break;
	case TR__CROSS_MON_OUT:
		if (!tr__msg_down(TR__SIG_DOWN, ref, remote, TR_NOCONNECTION,
		                  &m))
			m->from = remote;
		break;
	case TR__CROSS_MON_IN:
		if (!tr__msg_alloc(TR__SIG_DEMONITOR, 0, &m)) {
			m->from = remote;
			m->ref = ref;
		}
		break;
	}
	if (m)
		tr__deliver(node, local, m);
}

/* ---- the receiving side ------------------------------------------------ */

static bool exit_signal(struct tr_actor *a, tr_msg_t *m, char *reason_buf)
{
	char reason[TR_REASON_MAX];
	tr__msg_reason(m, reason, sizeof(reason));
	bool linked = m->flags & TR__MSGF_LINKED;
	bool trap = a->flags & TR__AF_TRAP_EXIT;
	if (linked) {
		struct tr__pent *e = tr__ptab_get(a->links, m->from);
		if (!e && (a->flags & TR__AF_INBOX)) {
			/* An inbox may get the EXIT of a link its thread made
			 * before it recorded the link: deliver it. */
		} else if (!e || e->aux) {
			tr_msg_free(m); /* no active link: stale signal */
			return false;
		} else {
			tr__ptab_del(a->links, e);
		}
	}
	if (!linked && !strcmp(reason, TR_KILL)) {
		tr_msg_free(m);
		snprintf(reason_buf, TR_REASON_MAX, "%s", TR_KILLED);
		return true;
	}
	if (trap) {
		m->kind = TR_MSG_EXIT;
		m->flags &= (uint8_t)~TR__MSGF_LINKED;
		tr__pq_append(a, m);
		return false;
	}
	if (!strcmp(reason, TR_NORMAL) && !is_self(a, m->from)) {
		tr_msg_free(m);
		return false;
	}
	tr_msg_free(m);
	snprintf(reason_buf, TR_REASON_MAX, "%s", reason);
	return true;
}

bool tr__handle_signal(struct tr_actor *a, tr_msg_t *m, char *reason_buf)
{
	struct tr__pent *e;
	bool existed;
	switch (m->kind) {
	case TR__SIG_LINK:
		if (!is_self(a, m->from) &&
		    tr__ptab_put(&a->links, m->from, &e, &existed) == TR_OK &&
		    !existed)
			e->aux = 0;
		break;
	case TR__SIG_UNLINK:
		if ((e = tr__ptab_get(a->links, m->from)))
			tr__ptab_del(a->links, e);
		tr__send_signal(TR__SIG_UNLINK_ACK, tr__pid_of(a), m->from,
		                TR_REF_NONE, m->aux);
		break;
	case TR__SIG_UNLINK_ACK:
		if ((e = tr__ptab_get(a->links, m->from)) && e->aux == m->aux)
			tr__ptab_del(a->links, e);
		break;
	case TR__SIG_EXIT:
		return exit_signal(a, m, reason_buf);
	case TR__SIG_MUTE_CHECK:
		break; /* its arrival is the point: the turn's end checks */
	case TR__SIG_STOP:
		tr__msg_reason(m, reason_buf, TR_REASON_MAX);
		tr_msg_free(m);
		return true;
	case TR__SIG_MONITOR:
		if (tr__ptab_put(&a->mons, tr__key_ref(m->ref), &e, &existed) ==
		    TR_OK) {
			e->pid = m->from;
			e->flags = TR__MON_WATCHED;
		}
		break;
	case TR__SIG_DEMONITOR:
		if ((e = tr__ptab_get(a->mons, tr__key_ref(m->ref))) &&
		    (e->flags & TR__MON_WATCHED))
			tr__ptab_del(a->mons, e);
		break;
	case TR__SIG_DOWN:
		e = tr__ptab_get(a->mons, tr__key_ref(m->ref));
		if (!e || !(e->flags & TR__MON_WATCHING)) {
			if (!e && (a->flags & TR__AF_INBOX)) {
				/* tr_call() from a plain thread monitors on
				 * the inbox's behalf without a table entry. */
				m->kind = TR_MSG_DOWN;
				tr__pq_append(a, m);
				return false;
			}
			break; /* demonitored: drop */
		}
		if (e->flags & TR__MON_CALL) {
			tr__ptab_del(a->mons, e);
			tr__call_dispatch(a, m);
			return false;
		}
		tr__ptab_del(a->mons, e);
		m->kind = TR_MSG_DOWN;
		tr__pq_append(a, m);
		return false;
	case TR__SIG_RTIMEOUT:
		if (m->aux == a->rt_gen && a->rt_timer) {
			m->kind = TR_MSG_TIMEOUT;
			tr__pq_append(a, m);
			return false;
		}
		break;
	case TR__SIG_CALL_TIMEOUT:
		tr__call_dispatch(a, m);
		return false;
	case TR__SIG_INBOX_LINK:
		/* The inbox's thread already sent LINK; record our side. */
		if (tr__ptab_put(&a->links, m->from, &e, &existed) == TR_OK &&
		    !existed)
			e->aux = 0;
		break;
	case TR__SIG_INBOX_MONITOR:
		/* Likewise MONITOR; recorded so our exit demonitors it. */
		if (tr__ptab_put(&a->mons, tr__key_ref(m->ref), &e, &existed) ==
		    TR_OK) {
			e->pid = m->from;
			e->flags = TR__MON_WATCHING;
		}
		break;
	default:
		break;
	}
	tr_msg_free(m);
	return false;
}

void tr__signal_exit_propagate(struct tr_actor *a, const char *reason)
{
	tr_pid_t self = tr__pid_of(a);
	struct tr__pent *e;
	tr__ptab_foreach (a->links, e) {
		if (!e->aux)
			tr__send_exit(a->node, self, e->key, reason, true);
	}
	tr__ptab_free(a->links);
	a->links = NULL;
	tr__ptab_foreach (a->mons, e) {
		if (e->flags & TR__MON_WATCHED) {
			tr_msg_t *d;
			if (!tr__msg_down(TR__SIG_DOWN, tr__ref_key(e->key),
			                  self, reason, &d)) {
				d->from = self;
				if (tr__route(a->node, e->pid, d))
					tr_msg_free(d);
			}
		} else if (e->flags & TR__MON_WATCHING) {
			tr__send_signal(TR__SIG_DEMONITOR, self, e->pid,
			                tr__ref_key(e->key), 0);
		}
	}
	tr__ptab_free(a->mons);
	a->mons = NULL;
}

/* ---- the sending side -------------------------------------------------- */

tr_err tr__link(struct tr_actor *a, tr_pid_t pid)
{
	struct tr__pent *e;
	bool existed;
	if (tr_pid_is_none(pid))
		return TR_EINVAL;
	if (is_self(a, pid))
		return TR_OK;
	tr_err err = tr__ptab_put(&a->links, pid, &e, &existed);
	if (err)
		return err;
	if (existed && !e->aux)
		return TR_OK;
	e->aux = 0;
	tr__send_signal(TR__SIG_LINK, tr__pid_of(a), pid, TR_REF_NONE, 0);
	return TR_OK;
}

tr_err tr__monitor(struct tr_actor *a, tr_pid_t pid, tr_ref_t ref,
                   uint32_t extra)
{
	struct tr__pent *e;
	if (tr_pid_is_none(pid))
		return TR_EINVAL;
	tr_err err = tr__ptab_put(&a->mons, tr__key_ref(ref), &e, NULL);
	if (err)
		return err;
	e->pid = pid;
	e->flags = TR__MON_WATCHING | extra;
	tr__send_signal(TR__SIG_MONITOR, tr__pid_of(a), pid, ref, 0);
	return TR_OK;
}

static bool is_down_for(tr_msg_t *m, void *arg)
{
	const tr_ref_t *ref = arg;
	return m->kind == TR_MSG_DOWN && tr_ref_eq(m->ref, *ref);
}

tr_err tr__demonitor(struct tr_actor *a, tr_ref_t ref, unsigned flags)
{
	struct tr__pent *e = tr__ptab_get(a->mons, tr__key_ref(ref));
	bool active = e && (e->flags & TR__MON_WATCHING);
	if (active) {
		tr_pid_t target = e->pid;
		tr__ptab_del(a->mons, e);
		tr__send_signal(TR__SIG_DEMONITOR, tr__pid_of(a), target, ref,
		                0);
	}
	if (flags & TR_DEMONITOR_FLUSH)
		tr__pq_filter(a, is_down_for, &ref);
	if ((flags & TR_DEMONITOR_INFO) && !active)
		return TR_ENOENT;
	return TR_OK;
}

/* ---- public API ---------------------------------------------------------- */

tr_err tr_link(tr_pid_t pid)
{
	struct tr_actor *a = tr__tls_actor;
	if (!a)
		return TR_ESTATE;
	return tr__link(a, pid);
}

tr_err tr_unlink(tr_pid_t pid)
{
	struct tr_actor *a = tr__tls_actor;
	if (!a)
		return TR_ESTATE;
	if (tr_pid_is_none(pid))
		return TR_EINVAL;
	struct tr__pent *e = tr__ptab_get(a->links, pid);
	if (!e || e->aux)
		return TR_OK;
	e->aux = tr__make_ref(a->node).id;
	tr__send_signal(TR__SIG_UNLINK, tr__pid_of(a), pid, TR_REF_NONE,
	                e->aux);
	return TR_OK;
}

tr_err tr_monitor(tr_pid_t pid, tr_ref_t *ref)
{
	struct tr_actor *a = tr__tls_actor;
	if (!a)
		return TR_ESTATE;
	tr_ref_t r = tr__make_ref(a->node);
	tr_err e = tr__monitor(a, pid, r, 0);
	if (!e && ref)
		*ref = r;
	return e;
}

tr_err tr_demonitor(tr_ref_t ref, unsigned flags)
{
	struct tr_actor *a = tr__tls_actor;
	if (!a)
		return TR_ESTATE;
	return tr__demonitor(a, ref, flags);
}

tr_err tr_exit(tr_pid_t pid, const char *reason)
{
	if (tr_pid_is_none(pid) || !reason)
		return TR_EINVAL;
	struct tr_actor *a = tr__tls_actor;
	tr_pid_t from = a ? tr__pid_of(a) : TR_PID_NONE;
	/* An actor's signal goes wherever its node's distribution reaches;
	 * a plain thread's has no sender to cross the wire with: nodes of
	 * this process only. */
	if (!a && !tr__node_by_id(pid.node))
		return TR_EUNREACHABLE;
	return tr__send_exit(a ? a->node : NULL, from, pid, reason, false);
}
