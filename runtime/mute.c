/*
 * runtime/mute.c - back-pressure: pausing senders to overloaded mailboxes.
 *
 * Erlang never blocks a local send, and neither do we: tr_send() always
 * returns at once. But an actor that pushes into a mailbox deeper than
 * mb_high is paused ("muted") when its current callback returns: it is
 * not requeued, it is recorded on the receiver's mute list. The receiver,
 * at the end of each turn where its depth fell below mb_low (and when it
 * exits), wakes every sender it muted. This is Pony's scheme and the
 * counterpart of a BEAM process suspended on a busy distribution port;
 * it keeps memory bounded when producers outrun a consumer.
 *
 * No deadlock. Two rules:
 *   - an actor whose own mailbox is deeper than mb_low does not pause;
 *   - an actor never pauses on a receiver that is itself paused. The
 *     pausing actor sets its `parked` flag and then re-reads its own depth;
 *     a sender pushes (a sequentially consistent increment of the push
 *     counter) and then reads the receiver's flag, so a receiver cannot
 *     pause unseen after a sender decided to pause on it.
 * Every member of a cycle of paused actors would be paused, and the last
 * one to pause would have paused on one already paused: refused. So there
 * is no cycle, and the actor at the end of every chain runs and drains.
 * A pausing actor also first wakes every sender paused on itself.
 *
 * No lost wake-up: a sender registers itself under the stripe lock only
 * while the receiver still looks loaded, and then pushes a MUTE_CHECK
 * signal into the receiver's mailbox. The push happens after the
 * registration, and the receiver's pop of it acquires what was written
 * before, so the turn that pops it sees muted_n > 0; from then on the
 * receiver checks at the end of every turn, and a receiver above the low
 * mark still has messages, hence more turns, until it releases. The hot
 * path pays one relaxed load per turn and no fence.
 */
#include <string.h>

#include "runtime/internal.h"

struct tr_mutes {
	tr_pid_t *v;
	size_t n, cap;
};

uint64_t tr__mailbox_depth(struct tr_actor *a)
{
	uint64_t enq = atomic_load(&a->enq);
	uint64_t popped = atomic_load(&a->popped);
	return (enq > popped ? enq - popped : 0) +
	       atomic_load_explicit(&a->pq_pub, memory_order_relaxed);
}

static pthread_mutex_t *stripe(struct tr_actor *r)
{
	return &r->node->mute_lock[r->index % 64];
}

/* Called by tr__deliver() after a push that left depth messages. */
void tr__mute_check(struct tr_actor *r, uint64_t depth)
{
	struct tr_actor *s = tr__tls_actor;
	struct tr_node *n = r->node;
	if (depth <= n->mb_high || !s || s == r || s->node != n ||
	    (s->flags & TR__AF_INBOX))
		return;
	if (tr__mailbox_depth(s) > n->mb_low)
		return; /* loaded actors are never muted */
	s->mute_id = atomic_load_explicit(&r->id, memory_order_relaxed);
	s->flags |= TR__AF_MUTE;
}

/* Sender, at the end of a callback with TR__AF_MUTE: try to park on the
 * receiver. true = parked (do not requeue); false = run on. */
bool tr__mute_park(struct tr_actor *s)
{
	struct tr_node *n = s->node;
	s->flags &= ~TR__AF_MUTE;
	tr_pid_t rp = {n->id, s->mute_id, n->creation};
	struct tr_actor *r = tr__actor_get(n, rp);
	if (!r)
		return false;
	atomic_store(&s->parked, 1);
	if (tr__mailbox_depth(s) > n->mb_low || atomic_load(&r->parked)) {
		/* loaded ourselves, or the receiver is paused: run on */
		atomic_store(&s->parked, 0);
		tr__actor_put(r);
		return false;
	}
	tr_msg_t *sig;
	if (tr__msg_alloc(TR__SIG_MUTE_CHECK, 0, &sig)) {
		/* cannot tell the receiver: do not pause */
		atomic_store(&s->parked, 0);
		tr__actor_put(r);
		return false;
	}
	sig->from = tr__pid_of(s);
	bool parked = false;
	pthread_mutex_t *l = stripe(r);
	pthread_mutex_lock(l);
	/* Announce first, then check the receiver lives: pairs with
	 * tr__actor_exit() (state store, then muted_n load), so an exiting
	 * receiver either is seen here or sees us and releases us. */
	atomic_fetch_add(&r->muted_n, 1);
	if (tr__mailbox_depth(r) > n->mb_low &&
	    atomic_load(&r->astate) == TR__A_ALIVE) {
		struct tr_mutes *m = r->mutes;
		if (!m && (m = tr__calloc(1, sizeof(*m))))
			r->mutes = m;
		if (m && m->n == m->cap) {
			size_t nc = m->cap ? m->cap * 2 : 8;
			tr_pid_t *nv = tr__realloc(m->v, nc * sizeof(*nv));
			if (nv) {
				m->v = nv;
				m->cap = nc;
			}
		}
		if (m && m->n < m->cap) {
			m->v[m->n++] = tr__pid_of(s);
			parked = true;
		}
	}
	if (!parked) {
		atomic_fetch_sub(&r->muted_n, 1);
		if (r->mutes && !r->mutes->n) { /* allocated, then no room */
			tr__free(r->mutes->v);
			tr__free(r->mutes);
			r->mutes = NULL;
		}
	}
	pthread_mutex_unlock(l);
	if (parked) {
		/* after the registration: its pop shows it to the receiver */
		tr__deliver(n, rp, sig);
		tr__mute_release(s, true); /* nobody waits on a paused actor */
	} else {
		tr_msg_free(sig);
		atomic_store(&s->parked, 0);
	}
	tr__actor_put(r);
	return parked;
}

/* Receiver: wake the senders paused on it if it drained (or all). */
void tr__mute_release(struct tr_actor *r, bool all)
{
	if (!atomic_load(&r->muted_n))
		return;
	if (!all && tr__mailbox_depth(r) > r->node->mb_low)
		return;
	pthread_mutex_t *l = stripe(r);
	pthread_mutex_lock(l);
	struct tr_mutes *m = r->mutes;
	r->mutes = NULL;
	atomic_store(&r->muted_n, 0);
	pthread_mutex_unlock(l);
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		struct tr_actor *s = tr__actor_get(r->node, m->v[i]);
		if (s) {
			atomic_store(&s->parked, 0);
			tr__sched_wake_elsewhere(r->node, s);
			tr__actor_put(s);
		}
	}
	tr__free(m->v);
	tr__free(m);
}

/* ---- gates ----------------------------------------------------------------
 * A gate pauses senders on something that is not an actor (a peer's send
 * queue, net/). Closing and opening are the gate owner's business; a
 * sender that found the gate closed calls tr__gate_hold() and parks when
 * its callback returns, unless the gate opened meanwhile (checked under
 * the gate's lock, so an opening cannot be missed).
 */
void tr__gate_init(struct tr__gate *g, struct tr_node *node)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	g->node = node;
}

void tr__gate_destroy(struct tr__gate *g)
{
	tr__gate_open(g);
	pthread_mutex_destroy(&g->lock);
	tr__free(g->v);
	g->v = NULL;
}

void tr__gate_close(struct tr__gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->closed = true;
	pthread_mutex_unlock(&g->lock);
}

void tr__gate_open(struct tr__gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->closed = false;
	size_t n = g->n;
	tr_pid_t *v = g->v;
	g->v = NULL;
	g->n = g->cap = 0;
	pthread_mutex_unlock(&g->lock);
	for (size_t i = 0; i < n; i++) {
		struct tr_actor *s = tr__actor_get(g->node, v[i]);
		if (s) {
			atomic_store(&s->parked, 0);
			tr__sched_wake_elsewhere(g->node, s);
			tr__actor_put(s);
		}
	}
	tr__free(v);
}

void tr__gate_hold(struct tr__gate *g)
{
	struct tr_actor *s = tr__tls_actor;
	if (!s || s->node != g->node || (s->flags & TR__AF_INBOX))
		return;
	s->gate = g;
	s->flags |= TR__AF_GATE;
}

bool tr__gate_park(struct tr_actor *s)
{
	struct tr__gate *g = s->gate;
	s->flags &= ~TR__AF_GATE;
	s->gate = NULL;
	if (!g)
		return false;
	/* Senders paused on us go on first: once we are on the gate's list,
	 * its opening may run us on another thread at once, so nothing here
	 * may touch s after that. (If the gate is open after all, they were
	 * let go a little early: harmless.) */
	tr__mute_release(s, true);
	bool parked = false;
	pthread_mutex_lock(&g->lock);
	if (g->closed) {
		if (g->n == g->cap) {
			size_t nc = g->cap ? g->cap * 2 : 8;
			tr_pid_t *nv = tr__realloc(g->v, nc * sizeof(*nv));
			if (nv) {
				g->v = nv;
				g->cap = nc;
			}
		}
		if (g->n < g->cap) {
			g->v[g->n++] = tr__pid_of(s);
			atomic_store(&s->parked, 1);
			parked = true;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return parked;
}
