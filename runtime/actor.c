/*
 * runtime/actor.c - the process table, spawning, delivery, an actor's turn
 * and its exit.
 *
 * Lifecycle of a slot:
 *   FREE --spawn--> ALIVE --exit starts--> EXITING --last ref--> FREE
 * A slot's refcount is 1 while the actor lives (the "alive" reference) plus
 * one per sender that is pushing into its mailbox right now. Senders take a
 * reference only if the count is non-zero and then re-check the slot's id,
 * so a stale pid can never reach the slot's next tenant. Whoever drops the
 * last reference frees the slot: it drains what was pushed late (answering
 * LINK and MONITOR with noproc, as a dead pid must) and returns the slot.
 *
 * An actor's mailbox is never marked empty once its exit has begun, so a
 * late push cannot schedule a dead actor.
 */
#include <stdio.h>
#include <string.h>

#include "runtime/internal.h"

#define CHUNK_MASK (TR__CHUNK_SLOTS - 1)

/* ---- slots and references ------------------------------------------------ */

static struct tr_actor *slot_at(struct tr_node *n, uint32_t idx)
{
	size_t c = idx >> TR__CHUNK_SHIFT;
	if (c >= n->nchunks)
		return NULL;
	struct tr_actor *chunk =
	        atomic_load_explicit(&n->chunks[c], memory_order_acquire);
	return chunk ? &chunk[idx & CHUNK_MASK] : NULL;
}

struct tr_actor *tr__actor_get(struct tr_node *n, tr_pid_t pid)
{
	if (pid.node != n->id || pid.creation != n->creation)
		return NULL;
	struct tr_actor *a = slot_at(n, tr__pid_index(pid));
	if (!a)
		return NULL;
	uint32_t rc = atomic_load_explicit(&a->rc, memory_order_relaxed);
	do {
		if (!rc)
			return NULL;
	} while (!atomic_compare_exchange_weak_explicit(&a->rc, &rc, rc + 1,
	                                                memory_order_acquire,
	                                                memory_order_relaxed));
	if (atomic_load_explicit(&a->id, memory_order_acquire) != pid.id ||
	    atomic_load_explicit(&a->astate, memory_order_acquire) !=
	            TR__A_ALIVE) {
		tr__actor_put(a);
		return NULL;
	}
	return a;
}

/* ---- mailbox ------------------------------------------------------------- */

static bool mb_push(struct tr_actor *a, tr_msg_t *m, uint64_t *depth_out)
{
	atomic_store_explicit(&m->mn.next, NULL, memory_order_relaxed);
	m->flags |= TR__MSGF_SENT;
	uintptr_t prev = atomic_exchange_explicit(&a->head, (uintptr_t)&m->mn,
	                                          memory_order_acq_rel);
	/* seq_cst: pairs with the receiver's parked flag (mute.c) */
	uint64_t enq = atomic_fetch_add(&a->enq, 1);
	struct tr_mnode *p = (struct tr_mnode *)(prev & ~TR__EMPTY_BIT);
	atomic_store_explicit(&p->next, &m->mn, memory_order_release);
	/* High-water mark, approximate and cheap: only on new peaks. */
	uint64_t popped =
	        atomic_load_explicit(&a->popped, memory_order_relaxed);
	uint64_t depth = enq + 1 > popped ? enq + 1 - popped : 0;
	depth += atomic_load_explicit(&a->pq_pub, memory_order_relaxed);
	*depth_out = depth;
	if (depth > atomic_load_explicit(&a->peak, memory_order_relaxed))
		atomic_store_explicit(&a->peak,
		                      depth > UINT32_MAX ? UINT32_MAX
		                                         : (uint32_t)depth,
		                      memory_order_relaxed);
	return prev & TR__EMPTY_BIT;
}

/* Owner only. NULL when empty or when a producer is between its exchange
 * and its link (the caller then retries in a later turn). */
static tr_msg_t *mb_pop(struct tr_actor *a)
{
	struct tr_mnode *tail = a->tail;
	struct tr_mnode *next =
	        atomic_load_explicit(&tail->next, memory_order_acquire);
	if (tail == &a->stub) {
		if (!next)
			return NULL;
		a->tail = next;
		tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next) {
		a->tail = next;
		return (tr_msg_t *)tail;
	}
	uintptr_t head = atomic_load_explicit(&a->head, memory_order_acquire);
	if ((struct tr_mnode *)(head & ~TR__EMPTY_BIT) != tail)
		return NULL;
	atomic_store_explicit(&a->stub.next, NULL, memory_order_relaxed);
	uintptr_t prev = atomic_exchange_explicit(&a->head, (uintptr_t)&a->stub,
	                                          memory_order_acq_rel);
	atomic_store_explicit(
	        &((struct tr_mnode *)(prev & ~TR__EMPTY_BIT))->next, &a->stub,
	        memory_order_release);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next) {
		a->tail = next;
		return (tr_msg_t *)tail;
	}
	return NULL;
}

/* Owner only: mark the mailbox empty and idle if it is. After true, the
 * next push schedules the actor. */
static bool mb_try_idle(struct tr_actor *a)
{
	if (a->tail != &a->stub ||
	    atomic_load_explicit(&a->stub.next, memory_order_acquire))
		return false;
	uintptr_t expect = (uintptr_t)&a->stub;
	return atomic_compare_exchange_strong_explicit(
	        &a->head, &expect, expect | TR__EMPTY_BIT, memory_order_acq_rel,
	        memory_order_relaxed);
}

static void mb_reset(struct tr_actor *a)
{
	atomic_store_explicit(&a->stub.next, NULL, memory_order_relaxed);
	a->tail = &a->stub;
	atomic_store_explicit(&a->head, (uintptr_t)&a->stub,
	                      memory_order_relaxed);
}

/* ---- private queue ---------------------------------------------------------
 */

void tr__pq_append(struct tr_actor *a, tr_msg_t *m)
{
	atomic_store_explicit(&m->mn.next, NULL, memory_order_relaxed);
	if (a->pq_tail)
		atomic_store_explicit(&a->pq_tail->mn.next, &m->mn,
		                      memory_order_relaxed);
	else
		a->pq_head = m;
	a->pq_tail = m;
	a->pq_len++;
}

static tr_msg_t *pq_pop(struct tr_actor *a)
{
	tr_msg_t *m = a->pq_head;
	if (!m)
		return NULL;
	a->pq_head = (tr_msg_t *)atomic_load_explicit(&m->mn.next,
	                                              memory_order_relaxed);
	if (!a->pq_head)
		a->pq_tail = NULL;
	a->pq_len--;
	return m;
}

/* Remove from the private queue every message for which drop() is true. */
void tr__pq_filter(struct tr_actor *a, bool (*drop)(tr_msg_t *, void *),
                   void *arg)
{
	tr_msg_t *keep_head = NULL, *keep_tail = NULL, *m;
	uint32_t n = 0;
	while ((m = a->pq_head)) {
		a->pq_head = (tr_msg_t *)atomic_load_explicit(
		        &m->mn.next, memory_order_relaxed);
		if (drop(m, arg)) {
			tr_msg_free(m);
			continue;
		}
		atomic_store_explicit(&m->mn.next, NULL, memory_order_relaxed);
		if (keep_tail)
			atomic_store_explicit(&keep_tail->mn.next, &m->mn,
			                      memory_order_relaxed);
		else
			keep_head = m;
		keep_tail = m;
		n++;
	}
	a->pq_head = keep_head;
	a->pq_tail = keep_tail;
	a->pq_len = n;
}

/* ---- delivery ------------------------------------------------------------ */

/*
 * The outbox. While an actor's callback runs, its user messages to local
 * actors are chained per receiver (up to TR__OUTBOX receivers) and pushed
 * when the callback returns: one exchange on the receiver's mailbox head
 * per chain instead of per message, and no reference at all (the turn
 * keeps the receiver's slot from reuse; reclaim.c), so a sender does not
 * bounce the receiver's cache line once per message. Any other
 * delivery from that thread (a signal, a send from a plain context) first
 * flushes the outbox, so every pair keeps its order, signals included.
 */
static void push_chain(struct tr_node *n, struct tr_actor *a, tr_msg_t *head,
                       tr_msg_t *tail, uint32_t count)
{
	atomic_store_explicit(&tail->mn.next, NULL, memory_order_relaxed);
	uintptr_t prev = atomic_exchange_explicit(
	        &a->head, (uintptr_t)&tail->mn, memory_order_acq_rel);
	/* seq_cst: pairs with the receiver's parked flag (mute.c) */
	uint64_t enq = atomic_fetch_add(&a->enq, count) + count;
	atomic_store_explicit(
	        &((struct tr_mnode *)(prev & ~TR__EMPTY_BIT))->next, &head->mn,
	        memory_order_release);
	uint64_t popped =
	        atomic_load_explicit(&a->popped, memory_order_relaxed);
	uint64_t depth = (enq > popped ? enq - popped : 0) +
	                 atomic_load_explicit(&a->pq_pub, memory_order_relaxed);
	if (depth > atomic_load_explicit(&a->peak, memory_order_relaxed))
		atomic_store_explicit(&a->peak,
		                      depth > UINT32_MAX ? UINT32_MAX
		                                         : (uint32_t)depth,
		                      memory_order_relaxed);
	if (prev & TR__EMPTY_BIT)
		tr__sched_wake(n, a);
	else if (depth > n->mb_high)
		tr__mute_check(a, depth);
}

void tr__outbox_flush(struct tr_sched *s)
{
	for (unsigned i = 0; i < s->nob; i++) {
		struct tr_outbox_ent *e = &s->ob[i];
		push_chain(s->node, e->r, e->head, e->tail, e->n);
	}
	s->nob = 0;
}

/*
 * The live local actor pid, looked up without a reference: only for a turn
 * of one of the node's schedulers (or a manual node's), which holds the
 * pointer no longer than the turn. A slot is reused only after every
 * scheduler has passed a quiescent point since its last reference went
 * (reclaim.c), and spawn publishes the new id before ALIVE, so "ALIVE,
 * then the same id" identifies the actor for the rest of the turn.
 */
static struct tr_actor *turn_lookup(struct tr_node *n, tr_pid_t pid)
{
	if (pid.node != n->id || pid.creation != n->creation)
		return NULL;
	struct tr_actor *a = slot_at(n, tr__pid_index(pid));
	if (!a ||
	    atomic_load_explicit(&a->astate, memory_order_acquire) !=
	            TR__A_ALIVE ||
	    atomic_load_explicit(&a->id, memory_order_relaxed) != pid.id)
		return NULL;
	return a;
}

/* Batch m for a live local actor; false if it cannot be batched. */
static bool outbox_add(struct tr_sched *s, struct tr_node *n, tr_pid_t to,
                       tr_msg_t *m)
{
	m->flags |= TR__MSGF_SENT;
	atomic_store_explicit(&m->mn.next, NULL, memory_order_relaxed);
	for (unsigned i = 0; i < s->nob; i++) {
		struct tr_outbox_ent *e = &s->ob[i];
		if (atomic_load_explicit(&e->r->id, memory_order_relaxed) ==
		    to.id) {
			atomic_store_explicit(&e->tail->mn.next, &m->mn,
			                      memory_order_relaxed);
			e->tail = m;
			/* the message TR__AHEAD back points at this one, so
			 * the receiver can fetch it early (drain is otherwise
			 * a serial pointer chase across cores) */
			if (++e->n == TR__AHEAD + 1)
				e->lag = e->head;
			if (e->lag) {
				e->lag->ahead = m;
				e->lag = (tr_msg_t *)atomic_load_explicit(
				        &e->lag->mn.next, memory_order_relaxed);
			}
			return true;
		}
	}
	struct tr_actor *a = turn_lookup(n, to);
	if (!a)
		return false;
	if (s->nob == TR__OUTBOX)
		tr__outbox_flush(s);
	struct tr_outbox_ent *e = &s->ob[s->nob++];
	e->r = a;
	e->head = e->tail = m;
	e->n = 1;
	e->lag = NULL;
	return true;
}

uint64_t tr__deliver(struct tr_node *n, tr_pid_t to, tr_msg_t *m)
{
	struct tr_sched *s = tr__tls_sched;
	if (s && s->node == n && tr__tls_actor && m->kind < TR__SIG_FIRST &&
	    to.creation == n->creation && outbox_add(s, n, to, m))
		return 0;
	if (s && s->nob)
		tr__outbox_flush(s); /* keep per-pair order */
	if (to.creation != n->creation) {
		atomic_fetch_add_explicit(&n->dropped_stale, 1,
		                          memory_order_relaxed);
		tr__signal_to_dead(n, to, m);
		return 0;
	}
	struct tr_actor *a = tr__actor_get(n, to);
	if (!a) {
		m->flags &= (uint8_t)~TR__MSGF_SENT;
		if (m->kind == TR_MSG_REPLY)
			atomic_fetch_add_explicit(&n->late_replies, 1,
			                          memory_order_relaxed);
		else if (m->kind < TR__SIG_FIRST)
			atomic_fetch_add_explicit(&n->dropped_dead, 1,
			                          memory_order_relaxed);
		tr__signal_to_dead(n, to, m);
		return 0;
	}
	uint64_t depth;
	if (mb_push(a, m, &depth))
		tr__sched_wake(n, a);
	else if (depth > n->mb_high)
		tr__mute_check(a, depth);
	tr__actor_put(a);
	return depth;
}

tr_err tr__route(struct tr_node *from_node, tr_pid_t to, tr_msg_t *m)
{
	if (from_node && to.node == from_node->id) {
		tr__deliver(from_node, to, m);
		return TR_OK;
	}
	/* A signal knows its sender even when the caller does not. */
	if (!from_node && !tr_pid_is_none(m->from) && m->from.node != to.node)
		from_node = tr__node_by_id(m->from.node);
	if (from_node && from_node->dist_ops)
		return from_node->dist_ops->route(from_node->dist, to, m);
	/* No distribution on the sender's side: nodes of this process. */
	struct tr_node *n = tr__node_by_id(to.node);
	if (!n)
		return from_node ? TR_EUNREACHABLE : tr__route_any(to, m);
	tr__deliver(n, to, m);
	return TR_OK;
}

/* ---- freeing ------------------------------------------------------------- */

static void drain_dead(struct tr_actor *a)
{
	tr_msg_t *m;
	tr_pid_t self = tr__pid_of(a);
	while ((m = mb_pop(a)))
		tr__signal_to_dead(a->node, self, m);
	while ((m = pq_pop(a)))
		tr_msg_free(m);
}

void tr__actor_free_slot(struct tr_actor *a)
{
	struct tr_node *n = a->node;
	drain_dead(a);
	mb_reset(a);
	tr__free(a->stop_reason);
	a->stop_reason = NULL;
	atomic_store_explicit(&a->astate, TR__A_FREE, memory_order_release);
	tr__sched_slot_put(n, a->index);
}

void tr__actor_put(struct tr_actor *a)
{
	if (atomic_fetch_sub_explicit(&a->rc, 1, memory_order_acq_rel) == 1)
		tr__retire(a); /* freed after a grace period (reclaim.c) */
}

/* ---- exit ---------------------------------------------------------------- */

static void call_terminate(struct tr_actor *a, const char *reason)
{
	if (a->sops) {
		if (a->sops->terminate)
			a->sops->terminate(a->state, reason);
	} else if (a->beh->terminate) {
		a->beh->terminate(a->state, reason);
	}
}

void tr__actor_exit(struct tr_actor *a, const char *reason)
{
	struct tr_node *n = a->node;
	struct tr_actor *saved = tr__tls_actor;
	tr__tls_actor = a;
	/* seq_cst: pairs with tr__mute_park() (mute.c) */
	atomic_store(&a->astate, TR__A_EXITING);
	/* The name goes before links and monitors fire (Erlang's order),
	 * and before terminate: from EXITING on, a new monitor is answered
	 * noproc at once, and whoever gets that DOWN must find the name
	 * free (tsan_runtime's names race saw it still taken). */
	tr__names_release(n, a);
	call_terminate(a, reason);
	if (tr__tls_sched && tr__tls_sched->nob)
		tr__outbox_flush(tr__tls_sched);
	tr__signal_exit_propagate(a, reason);
	tr__mute_release(a, true);
	tr__calls_abort(a);
	if (a->rt_timer) {
		tr__timer_cancel(n, a->rt_timer, NULL);
		a->rt_timer = 0;
	}
	drain_dead(a);
	atomic_fetch_add_explicit(&n->exited, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&n->alive, 1, memory_order_relaxed);
	tr__tls_actor = saved;
	tr__actor_put(a);
}

void tr__actor_reap_all(struct tr_node *n)
{
	/* The threads are stopped. First every live actor stops being
	 * reachable, so what a terminate callback sends finds a dead pid and
	 * is freed at once; then the callbacks run; then everything is
	 * drained and released. */
	for (uint32_t i = 0; i < n->nslots; i++) {
		struct tr_actor *a = slot_at(n, i);
		if (a && atomic_load(&a->astate) == TR__A_ALIVE) {
			a->flags |= TR__AF_REAP;
			atomic_store(&a->astate, TR__A_EXITING);
		}
	}
	for (uint32_t i = 0; i < n->nslots; i++) {
		struct tr_actor *a = slot_at(n, i);
		if (a && (a->flags & TR__AF_REAP)) {
			tr__tls_actor = a;
			call_terminate(a, TR_SHUTDOWN);
			tr__tls_actor = NULL;
		}
	}
	for (uint32_t i = 0; i < n->nslots; i++) {
		struct tr_actor *a = slot_at(n, i);
		if (!a || atomic_load(&a->astate) == TR__A_FREE)
			continue;
		tr_msg_t *m;
		while ((m = mb_pop(a)))
			tr_msg_free(m);
		while ((m = pq_pop(a)))
			tr_msg_free(m);
		tr__ptab_free(a->links);
		tr__ptab_free(a->mons);
		tr__calls_abort(a);
		a->links = a->mons = NULL;
		if (a->mutes) {
			tr__free(*(void **)a->mutes); /* its pid vector */
			tr__free(a->mutes);
			a->mutes = NULL;
		}
		tr__free(a->stop_reason);
		/* a->name points into the name table, destroyed whole */
		a->name = NULL;
		a->stop_reason = NULL;
		a->flags = 0;
		atomic_store(&a->astate, TR__A_FREE);
		atomic_store(&a->rc, 0);
	}
}

/* ---- spawn --------------------------------------------------------------- */

static void init_slot(struct tr_actor *a, struct tr_node *n, uint32_t idx,
                      bool fresh)
{
	if (fresh) {
		a->node = n;
		a->index = idx;
		a->gen = 0;
	}
	atomic_store_explicit(&a->enq, 0, memory_order_relaxed);
	atomic_store_explicit(&a->popped, 0, memory_order_relaxed);
	atomic_store_explicit(&a->pq_pub, 0, memory_order_relaxed);
	a->pq_len = 0;
	atomic_store_explicit(&a->peak, 0, memory_order_relaxed);
	mb_reset(a);
	a->pq_head = a->pq_tail = NULL;
	a->flags = 0;
	a->beh = NULL;
	a->sops = NULL;
	a->state = NULL;
	a->links = a->mons = a->calls = NULL;
	a->current = NULL;
	a->stop_reason = NULL;
	a->name = NULL;
	atomic_store_explicit(&a->st_received, 0, memory_order_relaxed);
	atomic_store_explicit(&a->st_links, 0, memory_order_relaxed);
	atomic_store_explicit(&a->st_monitors, 0, memory_order_relaxed);
	atomic_store_explicit(&a->st_trap, 0, memory_order_relaxed);
	a->rt_gen = 0;
	a->rt_timer = 0;
	atomic_store_explicit(&a->muted_n, 0, memory_order_relaxed);
	atomic_store_explicit(&a->parked, 0, memory_order_relaxed);
	a->mutes = NULL;
	a->gate = NULL;
	a->mute_id = 0;
}

/* Undo the spawn-time link/monitor with the parent without signals. */
static void unlink_parent(struct tr_actor *a, struct tr_actor *parent,
                          const tr_ref_t *mref)
{
	struct tr__pent *e;
	if (!parent)
		return;
	tr_pid_t cp = tr__pid_of(a), pp = tr__pid_of(parent);
	if ((e = tr__ptab_get(parent->links, cp)))
		tr__ptab_del(parent->links, e);
	if ((e = tr__ptab_get(a->links, pp)))
		tr__ptab_del(a->links, e);
	if (mref && !tr_ref_is_none(*mref)) {
		if ((e = tr__ptab_get(parent->mons, tr__key_ref(*mref))))
			tr__ptab_del(parent->mons, e);
		if ((e = tr__ptab_get(a->mons, tr__key_ref(*mref))))
			tr__ptab_del(a->mons, e);
	}
}

tr_err tr__spawn(struct tr_node *n, const tr_behaviour_t *beh,
                 const tr_server_ops_t *sops, void *arg,
                 const tr_spawn_opts_t *opts, uint32_t extra_flags,
                 tr_pid_t *out, tr_ref_t *mref)
{
	static const tr_spawn_opts_t none;
	struct tr_actor *parent = tr__tls_actor;
	if (!opts)
		opts = &none;
	if ((opts->link || opts->monitor) && !parent)
		return TR_ESTATE; /* linking needs an actor to link to */
	if (!n)
		n = tr_node_current();
	if (!n || !beh || (!sops && !beh->receive))
		return TR_EINVAL;
	if ((opts->link || opts->monitor) && parent->node != n)
		return TR_ESTATE;
	if (opts->name &&
	    (!*opts->name || strnlen(opts->name, TR_NAME_MAX) >= TR_NAME_MAX))
		return TR_EINVAL;
	if (atomic_load_explicit(&n->stopping, memory_order_relaxed))
		return TR_ECLOSED;

	bool fresh;
	uint32_t idx = tr__sched_slot_get(n, &fresh);
	if (idx == UINT32_MAX)
		return TR_ELIMIT;
	if (idx == UINT32_MAX - 1)
		return TR_ENOMEM;
	struct tr_actor *a = slot_at(n, idx);
	init_slot(a, n, idx, fresh);
	a->beh = beh;
	a->sops = sops;
	a->state = arg;
	a->flags = extra_flags | (opts->trap_exit ? TR__AF_TRAP_EXIT : 0);
	a->gen++;
	if (a->gen == 0)
		a->gen = 1;
	atomic_store_explicit(&a->id, ((uint64_t)a->gen << 32) | idx,
	                      memory_order_release);
	atomic_store_explicit(&a->astate, TR__A_ALIVE, memory_order_release);
	atomic_store_explicit(&a->rc, 1, memory_order_release);
	tr_pid_t pid = tr__pid_of(a);

	tr_err e = TR_OK;
	tr_ref_t ref = TR_REF_NONE;
	if (opts->name && (e = tr__names_register(n, opts->name, a)))
		goto undo;
	if (opts->link) {
		struct tr__pent *pe, *ce;
		if ((e = tr__ptab_put(&parent->links, pid, &pe, NULL)))
			goto undo;
		pe->aux = 0;
		if ((e = tr__ptab_put(&a->links, tr__pid_of(parent), &ce,
		                      NULL))) {
			tr__ptab_del(parent->links, pe);
			goto undo;
		}
		ce->aux = 0;
	}
	if (opts->monitor) {
		struct tr__pent *pe, *ce;
		ref = tr__make_ref(n);
		if ((e = tr__ptab_put(&parent->mons, tr__key_ref(ref), &pe,
		                      NULL)))
			goto undo_parent;
		pe->pid = pid;
		pe->flags = TR__MON_WATCHING;
		if ((e = tr__ptab_put(&a->mons, tr__key_ref(ref), &ce, NULL)))
			goto undo_parent;
		ce->pid = tr__pid_of(parent);
		ce->flags = TR__MON_WATCHED;
	}
	atomic_fetch_add_explicit(&n->spawned, 1, memory_order_relaxed);
	size_t alive =
	        atomic_fetch_add_explicit(&n->alive, 1, memory_order_relaxed) +
	        1;
	if (alive > atomic_load_explicit(&n->peak, memory_order_relaxed))
		atomic_store_explicit(&n->peak, alive, memory_order_relaxed);

	tr_err (*init)(void **, void *) = sops ? sops->init : beh->init;
	if (init) {
		struct tr_actor *saved = tr__tls_actor;
		tr__tls_actor = a;
		e = init(&a->state, arg);
		if (tr__tls_sched && tr__tls_sched->nob)
			tr__outbox_flush(tr__tls_sched);
		tr__tls_actor = saved;
		if (e) {
			/* The spawn failed: the parent never learns of the
			 * child. Anything init itself set up is undone by a
			 * normal exit. */
			unlink_parent(a, parent, &ref);
			a->sops = NULL;
			static const tr_behaviour_t dead = {"init_failed", NULL,
			                                    NULL, NULL};
			a->beh = &dead;
			tr__actor_exit(a, tr_err_name(e));
			return e;
		}
	}
	tr__actor_publish(a);
	if (a->flags & TR__AF_STOP) {
		char reason[TR_REASON_MAX];
		snprintf(reason, sizeof(reason), "%s",
		         a->stop_reason ? a->stop_reason : TR_NORMAL);
		tr__actor_exit(a, reason);
	} else if (!mb_try_idle(a)) {
		tr__sched_wake(n, a);
	}
	if (out)
		*out = pid;
	if (mref)
		*mref = ref;
	return TR_OK;

undo_parent:
	unlink_parent(a, parent, &ref);
undo:
	tr__names_release(n, a);
	tr__ptab_free(a->links);
	tr__ptab_free(a->mons);
	a->links = a->mons = NULL;
	atomic_store_explicit(&a->astate, TR__A_EXITING, memory_order_release);
	tr__actor_put(a);
	return e;
}

/* ---- a turn -------------------------------------------------------------- */

void tr__actor_publish(struct tr_actor *a)
{
	atomic_store_explicit(&a->st_links, (uint32_t)tr__ptab_len(a->links),
	                      memory_order_relaxed);
	atomic_store_explicit(&a->st_monitors, (uint32_t)tr__ptab_len(a->mons),
	                      memory_order_relaxed);
	atomic_store_explicit(&a->st_trap, (a->flags & TR__AF_TRAP_EXIT) != 0,
	                      memory_order_relaxed);
}

static void handle_user(struct tr_sched *s, struct tr_actor *a, tr_msg_t *m)
{
	if (m->kind == TR_MSG_REPLY && !(a->flags & TR__AF_INBOX)) {
		if (!tr__call_dispatch(a, m)) {
			atomic_fetch_add_explicit(&a->node->late_replies, 1,
			                          memory_order_relaxed);
			tr_msg_free(m);
		}
		return;
	}
	if (m->kind == TR_MSG_TIMEOUT) {
		if (m->aux != a->rt_gen || !a->rt_timer) {
			tr_msg_free(m); /* disarmed since */
			return;
		}
		a->rt_timer = 0;
	} else {
		if (a->rt_timer) {
			tr__timer_cancel(a->node, a->rt_timer, NULL);
			a->rt_timer = 0;
		}
		a->rt_gen++;
	}
	a->current = m;
	atomic_store_explicit(
	        &a->st_received,
	        atomic_load_explicit(&a->st_received, memory_order_relaxed) + 1,
	        memory_order_relaxed);
	TR__OWNER_ADD(s->st_messages, 1);
	if (a->sops)
		tr__server_dispatch(a, m);
	else
		a->beh->receive(a->state, m);
	/* tr_msg_keep() clears current: a kept message may already belong
	 * to another thread, so it is not touched again here. */
	bool kept = a->current != m;
	a->current = NULL;
	if (!kept)
		tr_msg_free(m);
}

void tr__run_actor(struct tr_sched *s, struct tr_actor *a)
{
	char reason[TR_REASON_MAX];
	unsigned batch = a->node->batch;
	/* An overloaded actor (senders may be paused on it) gets a longer,
	 * still bounded, turn: draining it is what lets everyone go on. */
	if (tr__mailbox_depth(a) > a->node->mb_low)
		batch *= 8;
	tr__tls_actor = a;
	TR__OWNER_ADD(s->st_turns, 1);

	/* 1. Signals first: move the inbox into the private queue, acting on
	 *    signals as they come (a kill does not wait behind messages). */
	uint64_t popped = 0;
	for (unsigned i = 0; i < batch * 4; i++) {
		tr_msg_t *m = mb_pop(a);
		if (!m)
			break;
		popped++;
		if (m->ahead)
			__builtin_prefetch(m->ahead, 1);
		if (m->kind < TR__SIG_FIRST) {
			tr__pq_append(a, m);
		} else if (tr__handle_signal(a, m, reason)) {
			TR__OWNER_ADD(a->popped, popped);
			tr__actor_exit(a, reason);
			tr__tls_actor = NULL;
			return;
		} else if (a->flags & TR__AF_STOP) {
			/* A call continuation run by a signal stopped us. */
			TR__OWNER_ADD(a->popped, popped);
			snprintf(reason, sizeof(reason), "%s",
			         a->stop_reason ? a->stop_reason : TR_NORMAL);
			tr__actor_exit(a, reason);
			tr__tls_actor = NULL;
			return;
		}
	}
	TR__OWNER_ADD(a->popped, popped);
	if (s->nob)
		tr__outbox_flush(s); /* continuations may have sent */

	/* 2. Then at most `batch` messages. */
	for (unsigned i = 0; i < batch; i++) {
		tr_msg_t *m = pq_pop(a);
		if (!m)
			break;
		handle_user(s, a, m);
		if (s->nob)
			tr__outbox_flush(s);
		if (a->flags & (TR__AF_MUTE | TR__AF_GATE) &&
		    !(a->flags & TR__AF_STOP)) {
			atomic_store_explicit(&a->pq_pub, a->pq_len,
			                      memory_order_relaxed);
			tr__actor_publish(a);
			if (a->flags & TR__AF_GATE) {
				/* a gate pause replaces a mute; cleared
				 * first: once parked, we may run elsewhere */
				uint32_t mute = a->flags & TR__AF_MUTE;
				a->flags &= ~TR__AF_MUTE;
				if (tr__gate_park(a)) {
					/* the gate's opening wakes us */
					tr__tls_actor = NULL;
					return;
				}
				a->flags |= mute;
			}
			if (a->flags & TR__AF_MUTE && tr__mute_park(a)) {
				tr__tls_actor = NULL;
				return; /* the receiver wakes us */
			}
		}
		if (a->flags & TR__AF_STOP) {
			snprintf(reason, sizeof(reason), "%s",
			         a->stop_reason ? a->stop_reason : TR_NORMAL);
			tr__actor_exit(a, reason);
			tr__tls_actor = NULL;
			return;
		}
	}

	/* 3. Wake senders we paused (if drained), then idle or back in the
	 *    queue. */
	atomic_store_explicit(&a->pq_pub, a->pq_len, memory_order_relaxed);
	if (atomic_load_explicit(&a->muted_n, memory_order_relaxed))
		tr__mute_release(a, false);
	tr__actor_publish(a);
	if (a->pq_head || !mb_try_idle(a))
		tr__sched_requeue(s, a);
	tr__tls_actor = NULL;
}

/* ---- public API ------------------------------------------------------------
 */

tr_err tr_spawn(tr_node_t *node, const tr_behaviour_t *beh, void *arg,
                tr_pid_t *out)
{
	return tr__spawn(node, beh, NULL, arg, NULL, 0, out, NULL);
}

tr_err tr_spawn_link(const tr_behaviour_t *beh, void *arg, tr_pid_t *out)
{
	tr_spawn_opts_t o = {.link = true};
	return tr__spawn(NULL, beh, NULL, arg, &o, 0, out, NULL);
}

tr_err tr_spawn_monitor(const tr_behaviour_t *beh, void *arg, tr_pid_t *out,
                        tr_ref_t *mref)
{
	tr_spawn_opts_t o = {.monitor = true};
	return tr__spawn(NULL, beh, NULL, arg, &o, 0, out, mref);
}

tr_err tr_spawn_opt(tr_node_t *node, const tr_behaviour_t *beh, void *arg,
                    const tr_spawn_opts_t *opts, tr_pid_t *out, tr_ref_t *mref)
{
	return tr__spawn(node, beh, NULL, arg, opts, 0, out, mref);
}

tr_pid_t tr_self(void)
{
	struct tr_actor *a = tr__tls_actor;
	return a ? tr__pid_of(a) : TR_PID_NONE;
}

static tr_err send_kind(tr_pid_t to, tr_msg_t *msg, uint8_t kind)
{
	/* SENT: this message is already on its way (a double send would
	 * link it into two mailboxes). */
	if (!msg || tr_pid_is_none(to) || (msg->flags & TR__MSGF_SENT))
		return TR_EINVAL;
	struct tr_actor *self = tr__tls_actor;
	msg->kind = kind;
	msg->from = self ? tr__pid_of(self) : TR_PID_NONE;
	return tr__route(self ? self->node : NULL, to, msg);
}

tr_err tr_send(tr_pid_t to, tr_msg_t *msg)
{
	return send_kind(to, msg, TR_MSG_PLAIN);
}

tr_err tr_cast(tr_pid_t to, tr_msg_t *msg)
{
	return send_kind(to, msg, TR_MSG_CAST);
}

tr_err tr_stop(const char *reason)
{
	struct tr_actor *a = tr__tls_actor;
	if (!a)
		return TR_ESTATE;
	if (!reason)
		reason = TR_NORMAL;
	char *r = tr__malloc(strnlen(reason, TR_REASON_MAX - 1) + 1);
	if (!r)
		return TR_ENOMEM;
	snprintf(r, TR_REASON_MAX, "%s", reason);
	tr__free(a->stop_reason);
	a->stop_reason = r;
	a->flags |= TR__AF_STOP;
	return TR_OK;
}

tr_err tr_trap_exit(bool on, bool *old)
{
	struct tr_actor *a = tr__tls_actor;
	if (!a)
		return TR_ESTATE;
	if (old)
		*old = a->flags & TR__AF_TRAP_EXIT;
	if (on)
		a->flags |= TR__AF_TRAP_EXIT;
	else
		a->flags &= ~TR__AF_TRAP_EXIT;
	return TR_OK;
}

bool tr_is_alive(tr_pid_t pid)
{
	struct tr_node *n = tr__node_by_id(pid.node);
	if (!n)
		return false;
	struct tr_actor *a = tr__actor_get(n, pid);
	if (!a)
		return false;
	tr__actor_put(a);
	return true;
}

bool tr_reason_is_shutdown(const char *r)
{
	return r && (!strcmp(r, TR_NORMAL) || !strcmp(r, TR_SHUTDOWN) ||
	             !strncmp(r, "shutdown:", 9));
}

tr_err tr_actor_info(tr_node_t *n, tr_pid_t pid, tr_actor_info_t *out)
{
	if (!n || !out)
		return TR_EINVAL;
	struct tr_actor *a = tr__actor_get(n, pid);
	if (!a)
		return TR_ENOENT;
	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->behaviour = a->sops ? a->sops->name : a->beh->name;
	if (!out->behaviour)
		out->behaviour = "";
	uint64_t enq = atomic_load_explicit(&a->enq, memory_order_relaxed);
	uint64_t popped =
	        atomic_load_explicit(&a->popped, memory_order_relaxed);
	out->mailbox_len =
	        (size_t)(enq > popped ? enq - popped : 0) +
	        atomic_load_explicit(&a->pq_pub, memory_order_relaxed);
	out->mailbox_peak =
	        atomic_load_explicit(&a->peak, memory_order_relaxed);
	uintptr_t head = atomic_load_explicit(&a->head, memory_order_relaxed);
	out->state = (head & TR__EMPTY_BIT) ? TR_ACTOR_IDLE : TR_ACTOR_RUNNABLE;
	tr__names_copy(n, a, out->name, sizeof(out->name));
	/* Owner-only fields are not read from here (they would race); the
	 * counts below come from an owner-published snapshot. */
	out->received =
	        atomic_load_explicit(&a->st_received, memory_order_relaxed);
	out->links = atomic_load_explicit(&a->st_links, memory_order_relaxed);
	out->monitors =
	        atomic_load_explicit(&a->st_monitors, memory_order_relaxed);
	out->trap_exit =
	        atomic_load_explicit(&a->st_trap, memory_order_relaxed);
	tr__actor_put(a);
	return TR_OK;
}

tr_err tr_node_actors(tr_node_t *n, tr_pid_t *buf, size_t cap, size_t *count)
{
	if (!n || (!buf && cap))
		return TR_EINVAL;
	size_t k = 0;
	pthread_mutex_lock(&n->slot_lock);
	uint32_t nslots = n->nslots;
	pthread_mutex_unlock(&n->slot_lock);
	for (uint32_t i = 0; i < nslots; i++) {
		struct tr_actor *a = slot_at(n, i);
		if (!a ||
		    atomic_load_explicit(&a->astate, memory_order_acquire) !=
		            TR__A_ALIVE)
			continue;
		tr_pid_t p = {
		        n->id,
		        atomic_load_explicit(&a->id, memory_order_relaxed),
		        n->creation};
		if (k < cap)
			buf[k] = p;
		k++;
	}
	if (count)
		*count = k;
	return TR_OK;
}
