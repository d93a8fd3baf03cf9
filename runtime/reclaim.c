/*
 * runtime/reclaim.c - when the slot of a dead actor may be reused.
 *
 * An actor's turn that sends to an actor of its own node finds the
 * receiver without taking a reference (actor.c, outbox_add): it checks
 * that the slot is alive and holds the pid's id, then pushes, possibly
 * when the callback returns. That is safe only if the slot cannot be
 * freed and reused in between. So a slot whose last reference is gone is
 * *retired*, and freed only after a grace period: once every scheduler of
 * the node has passed a quiescent point (between two turns) or been
 * offline (parked), no turn that could have seen the actor alive is still
 * running. Freeing drains what reached the mailbox after the exit (a late
 * link gets its noproc then) and gives the slot back for reuse.
 *
 * This is quiescent-state-based reclamation (QSBR, as in userspace RCU):
 *   - the node has a grace-period counter gp (starts at 1);
 *   - each scheduler publishes qs: the value of gp it read at its last
 *     quiescent point, or 0 while offline;
 *   - a scheduler retires slots onto its own list; other threads put
 *     them on the node's list, which schedulers adopt;
 *   - at a quiescent point a scheduler closes its list as one batch,
 *     g = ++gp, and frees the batch once every other scheduler's qs is 0
 *     or at least g.
 * A busy scheduler announces a quiescent point every QS_TURNS turns, and
 * one whenever it runs out of work, so it pays a few atomic operations
 * per QS_TURNS turns and nothing per message.
 *
 * Why "alive, then the same id" is enough within a turn: spawn stores the
 * new id before it stores ALIVE (release), and an actor is EXITING before
 * its last reference can go. A turn that loads ALIVE (acquire) and then
 * the pid's id either sees the actor it wants alive at that moment (its
 * retirement, if any, comes later and waits for this scheduler's next
 * quiescent point), or sees a reused slot's new id, which differs.
 *
 * Memory order, without standalone fences (ThreadSanitizer does not model
 * them): a quiescent point is "v = load(gp); exchange(qs, v)", all
 * sequentially consistent. A reclaimer that reads qs >= g synchronises
 * with that exchange (everything the scheduler did before is visible),
 * and the scheduler read gp >= g from the reclaimer's increment, so what
 * it does next sees the retired actor EXITING. Coming online is
 * "exchange(qs, load(gp)); load(gp)": the second load orders the turns
 * that follow after any batch a reclaimer closed while it read qs == 0.
 * Parking is "exchange(qs, 0); load(retired_any)", against a retiring
 * thread's "store(retired_any); load(every qs)": one of the two sees the
 * other, so a slot retired from outside never waits for a parked node.
 *
 * Manual (simulation) nodes run every turn on one thread, and nodes whose
 * scheduler threads are gone run none: their slots are freed at once.
 */
#include "runtime/internal.h"

#define QS_TURNS 64

void tr__reclaim_init(struct tr_node *n)
{
	atomic_init(&n->gp, 1);
	pthread_mutex_init(&n->retire_lock, NULL);
	n->retired = NULL;
	atomic_init(&n->retired_any, false);
	n->reclaim_on = false;
}

void tr__reclaim_destroy(struct tr_node *n)
{
	pthread_mutex_destroy(&n->retire_lock);
}

static void free_list(struct tr_actor *a)
{
	while (a) {
		struct tr_actor *next = a->retired_next;
		a->retired_next = NULL;
		tr__actor_free_slot(a);
		a = next;
	}
}

static struct tr_actor *append(struct tr_actor *list, struct tr_actor *more)
{
	if (!more)
		return list;
	struct tr_actor *t = more;
	while (t->retired_next)
		t = t->retired_next;
	t->retired_next = list;
	return more;
}

/* Has every scheduler but `self` passed grace period g (or is offline)? */
static bool grace_over(struct tr_node *n, const struct tr_sched *self,
                       uint64_t g)
{
	for (unsigned i = 0; i < n->nsched; i++) {
		struct tr_sched *o = &n->scheds[i];
		if (o == self)
			continue;
		uint64_t q = atomic_load(&o->qs);
		if (q && q < g)
			return false;
	}
	return true;
}

/* Take the node's list (slots retired by other threads). */
static struct tr_actor *take_node_list(struct tr_node *n)
{
	if (!atomic_load(&n->retired_any))
		return NULL;
	pthread_mutex_lock(&n->retire_lock);
	struct tr_actor *l = n->retired;
	n->retired = NULL;
	atomic_store(&n->retired_any, false);
	pthread_mutex_unlock(&n->retire_lock);
	return l;
}

static void give_node_list(struct tr_node *n, struct tr_actor *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&n->retire_lock);
	n->retired = append(n->retired, l);
	atomic_store(&n->retired_any, true);
	pthread_mutex_unlock(&n->retire_lock);
}

void tr__retire(struct tr_actor *a)
{
	struct tr_node *n = a->node;
	struct tr_sched *s = tr__tls_sched;
	if (s && s->node == n && n->reclaim_on) {
		/* one of the node's schedulers: closed at its next quiescent
		 * point */
		a->retired_next = s->retired;
		s->retired = a;
		return;
	}
	/* Another thread: onto the node's list, which an online scheduler
	 * adopts. If none is online, none will soon: free the list here once
	 * the grace period is over (it is, unless one came online
	 * meanwhile; then that one adopts it). Under the lock, because
	 * reclaim_stop() takes it before the schedulers go away. */
	struct tr_actor *l = NULL;
	pthread_mutex_lock(&n->retire_lock);
	if (!n->reclaim_on) {
		pthread_mutex_unlock(&n->retire_lock);
		tr__actor_free_slot(a);
		return;
	}
	a->retired_next = n->retired;
	n->retired = a;
	atomic_store(&n->retired_any, true);
	bool online = false;
	for (unsigned i = 0; i < n->nsched && !online; i++)
		online = atomic_load(&n->scheds[i].qs) != 0;
	if (!online && grace_over(n, NULL, atomic_fetch_add(&n->gp, 1) + 1)) {
		l = n->retired;
		n->retired = NULL;
		atomic_store(&n->retired_any, false);
	}
	pthread_mutex_unlock(&n->retire_lock);
	free_list(l);
}

static void announce(struct tr_sched *s)
{
	atomic_exchange(&s->qs, atomic_load(&s->node->gp));
}

void tr__reclaim_quiescent(struct tr_sched *s, bool turn)
{
	if (turn && ++s->since_qs < QS_TURNS)
		return;
	s->since_qs = 0;
	struct tr_node *n = s->node;
	announce(s);
	s->retired = append(s->retired, take_node_list(n));
	if (s->waiting && grace_over(n, s, s->wait_gp)) {
		struct tr_actor *l = s->waiting;
		s->waiting = NULL;
		free_list(l); /* may retire more, onto s->retired */
	}
	if (!s->waiting && s->retired) {
		s->waiting = s->retired;
		s->retired = NULL;
		s->wait_gp = atomic_fetch_add(&n->gp, 1) + 1;
		if (grace_over(n, s, s->wait_gp)) {
			struct tr_actor *l = s->waiting;
			s->waiting = NULL;
			free_list(l);
		}
	}
}

bool tr__reclaim_offline(struct tr_sched *s)
{
	struct tr_node *n = s->node;
	tr__reclaim_quiescent(s, false);
	if (s->run_next)
		return false; /* freeing a slot woke an actor: run it */
	/* What still waits goes to the node: the schedulers that stay
	 * online adopt it. */
	give_node_list(n, append(s->retired, s->waiting));
	s->retired = s->waiting = NULL;
	atomic_exchange(&s->qs, 0);
	if (!atomic_load(&n->retired_any))
		return true;
	for (unsigned i = 0; i < n->nsched; i++)
		if (atomic_load(&n->scheds[i].qs))
			return true; /* an online one adopts it */
	/* The last one going offline with slots waiting: stay online and
	 * free them (the caller runs the loop again). */
	tr__reclaim_online(s);
	return false;
}

void tr__reclaim_online(struct tr_sched *s)
{
	announce(s);
	(void)atomic_load(&s->node->gp);
	s->since_qs = 0;
}

void tr__reclaim_start(struct tr_node *n)
{
	pthread_mutex_lock(&n->retire_lock);
	n->reclaim_on = true;
	pthread_mutex_unlock(&n->retire_lock);
}

void tr__reclaim_stop(struct tr_node *n)
{
	/* Every scheduler thread has been joined: nothing holds a slot. */
	pthread_mutex_lock(&n->retire_lock);
	n->reclaim_on = false;
	struct tr_actor *l = n->retired;
	n->retired = NULL;
	atomic_store(&n->retired_any, false);
	pthread_mutex_unlock(&n->retire_lock);
	for (unsigned i = 0; i < n->nsched; i++) {
		struct tr_sched *s = &n->scheds[i];
		l = append(l, append(s->retired, s->waiting));
		s->retired = s->waiting = NULL;
	}
	free_list(l);
}
