/*
 * runtime/sched.c - scheduler threads, run queues, stealing and parking.
 *
 * Each scheduler has:
 *   run_next  one actor woken by the actor now running on this thread; it
 *             runs next, on the same core (the waker's caches are warm).
 *             Only the owner touches it, so it cannot be stolen.
 *   q         a ring of runnable actors under a mutex. A wake-up displaced
 *             from run_next goes to the front (so fork/join work unfolds
 *             depth first: few actors alive at once, warm caches); an
 *             actor that used up its batch goes to the back. The owner
 *             pops the front; every 61st pick, and every steal, takes from
 *             the back (the oldest), which bounds how long anything waits.
 * and the node has one inject queue for wake-ups from other threads
 * (timers, plain threads sending).
 *
 * One iteration of the loop (docs/architecture.md numbers these):
 *   1. every 61st pick, look at the inject queue and the back of the local
 *      queue first, so run_next chains and front pushes cannot starve them;
 *   2. run run_next if set; else pop the local queue; else the inject queue;
 *      else steal from another scheduler;
 *   3. nothing found: poll steps 2 for spin_us microseconds;
 *   4. still nothing: park (sleep on a condition variable) until woken;
 *   5. run the actor's turn (actor.c): signals, then at most `batch`
 *      messages; an actor with messages left goes to the back of the local
 *      queue.
 *
 * Parking without lost wake-ups: a parking scheduler increments nsleeping
 * and then re-checks every queue; a waker publishes its queue length and
 * then reads nsleeping (both sequentially consistent), so at least one of
 * them sees the other. Wakers only wake for work that can be stolen
 * (queue or inject pushes), never for run_next, so a ping-pong pair stays
 * on one thread instead of bouncing between cores.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/internal.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* ---- rings ------------------------------------------------------------- */

static tr_err ring_push(struct tr_actor ***buf, size_t *head, size_t *len,
                        size_t *cap, struct tr_actor *a)
{
	if (*len == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct tr_actor **nb = tr__malloc(nc * sizeof(*nb));
		if (!nb)
			return TR_ENOMEM;
		for (size_t i = 0; i < *len; i++)
			nb[i] = (*buf)[(*head + i) % *cap];
		tr__free(*buf);
		*buf = nb;
		*head = 0;
		*cap = nc;
	}
	(*buf)[(*head + *len) % *cap] = a;
	(*len)++;
	return TR_OK;
}

/* Push at the front (the next to be popped). */
static tr_err ring_push_front(struct tr_actor ***buf, size_t *head, size_t *len,
                              size_t *cap, struct tr_actor *a)
{
	tr_err e = ring_push(buf, head, len, cap, a);
	if (e)
		return e;
	/* rotate: move the new back element to the front */
	*head = (*head + *cap - 1) % *cap;
	(*buf)[*head] = a;
	return TR_OK;
}

static struct tr_actor *ring_pop_back(struct tr_actor **buf, size_t *head,
                                      size_t *len, size_t cap)
{
	if (!*len)
		return NULL;
	(*len)--;
	return buf[(*head + *len) % cap];
}

static struct tr_actor *ring_pop(struct tr_actor **buf, size_t *head,
                                 size_t *len, size_t cap)
{
	if (!*len)
		return NULL;
	struct tr_actor *a = buf[*head];
	*head = (*head + 1) % cap;
	(*len)--;
	return a;
}

/* ---- queues -------------------------------------------------------------- */

static void wake_one(struct tr_node *n);

/* Push a to the node's inject queue. If the ring cannot grow (out of
 * memory), retry until it can: a runnable actor is never dropped. */
static void inject_push(struct tr_node *n, struct tr_actor *a)
{
	for (;;) {
		pthread_mutex_lock(&n->inj_lock);
		tr_err e = ring_push(&n->inj, &n->inj_head, &n->inj_len,
		                     &n->inj_cap, a);
		if (!e)
			atomic_store(&n->inj_len_pub, n->inj_len);
		pthread_mutex_unlock(&n->inj_lock);
		if (!e)
			return;
		sched_yield();
	}
}

/* Push a to s's queue; if that ring cannot grow, to the inject queue. */
static void q_push(struct tr_sched *s, struct tr_actor *a, bool front)
{
	pthread_mutex_lock(&s->lock);
	tr_err e =
	        front ? ring_push_front(&s->q, &s->qhead, &s->qlen, &s->qcap, a)
	              : ring_push(&s->q, &s->qhead, &s->qlen, &s->qcap, a);
	if (!e)
		atomic_store(&s->qlen_pub, s->qlen);
	pthread_mutex_unlock(&s->lock);
	if (e)
		inject_push(s->node, a);
}

static struct tr_actor *q_pop(struct tr_sched *s, bool back)
{
	if (!atomic_load_explicit(&s->qlen_pub, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&s->lock);
	struct tr_actor *a =
	        back ? ring_pop_back(s->q, &s->qhead, &s->qlen, s->qcap)
	             : ring_pop(s->q, &s->qhead, &s->qlen, s->qcap);
	atomic_store(&s->qlen_pub, s->qlen);
	pthread_mutex_unlock(&s->lock);
	return a;
}

static struct tr_actor *inject_pop(struct tr_node *n)
{
	if (!atomic_load_explicit(&n->inj_len_pub, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&n->inj_lock);
	struct tr_actor *a =
	        ring_pop(n->inj, &n->inj_head, &n->inj_len, n->inj_cap);
	atomic_store(&n->inj_len_pub, n->inj_len);
	pthread_mutex_unlock(&n->inj_lock);
	return a;
}

static uint64_t rng_next(struct tr_sched *s)
{
	uint64_t x = s->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	s->rng = x;
	return x;
}

/* Take up to half of a victim's queue; return one, queue the rest here. */
static struct tr_actor *steal(struct tr_sched *s)
{
	struct tr_node *n = s->node;
	if (n->nsched < 2)
		return NULL;
	unsigned start = (unsigned)(rng_next(s) % n->nsched);
	for (unsigned k = 0; k < n->nsched; k++) {
		struct tr_sched *v = &n->scheds[(start + k) % n->nsched];
		if (v == s ||
		    !atomic_load_explicit(&v->qlen_pub, memory_order_relaxed))
			continue;
		struct tr_actor *got[32];
		size_t ng = 0;
		pthread_mutex_lock(&v->lock);
		size_t take = (v->qlen + 1) / 2;
		if (take > 32)
			take = 32;
		while (ng < take)
			got[ng++] = ring_pop_back(v->q, &v->qhead, &v->qlen,
			                          v->qcap);
		atomic_store(&v->qlen_pub, v->qlen);
		pthread_mutex_unlock(&v->lock);
		if (!ng)
			continue;
		for (size_t i = 1; i < ng; i++)
			q_push(s, got[i], false);
		atomic_fetch_add_explicit(&s->st_steals, ng,
		                          memory_order_relaxed);
		return got[0];
	}
	return NULL;
}

static struct tr_actor *find_work(struct tr_sched *s)
{
	struct tr_actor *a;
	if (++s->tick % 61 == 0) {
		if ((a = inject_pop(s->node))) {
			atomic_fetch_add_explicit(&s->st_injected, 1,
			                          memory_order_relaxed);
			return a;
		}
		if ((a = q_pop(s, true)))
			return a; /* the oldest: bounds starvation */
	}
	if ((a = s->run_next)) {
		s->run_next = NULL;
		return a;
	}
	if ((a = q_pop(s, false)))
		return a;
	if ((a = inject_pop(s->node))) {
		atomic_fetch_add_explicit(&s->st_injected, 1,
		                          memory_order_relaxed);
		return a;
	}
	return steal(s);
}

static bool has_work(struct tr_node *n)
{
	if (atomic_load(&n->inj_len_pub))
		return true;
	for (unsigned i = 0; i < n->nsched; i++)
		if (atomic_load(&n->scheds[i].qlen_pub))
			return true;
	return false;
}

/* ---- waking and parking -------------------------------------------------- */

static void wake_one(struct tr_node *n)
{
	if (!atomic_load(&n->nsleeping))
		return;
	for (unsigned i = 0; i < n->nsched; i++) {
		struct tr_sched *s = &n->scheds[i];
		pthread_mutex_lock(&s->park_lock);
		if (s->parked) {
			s->parked = false;
			atomic_fetch_sub(&n->nsleeping, 1);
			pthread_cond_signal(&s->park_cond);
			pthread_mutex_unlock(&s->park_lock);
			return;
		}
		pthread_mutex_unlock(&s->park_lock);
	}
}

void tr__sched_wake(struct tr_node *n, struct tr_actor *a)
{
	struct tr_sched *s = tr__tls_sched;
	if (s && s->node == n) {
		struct tr_actor *old = s->run_next;
		s->run_next = a;
		if (old) {
			q_push(s, old, true);
			wake_one(n);
		}
		return;
	}
	inject_push(n, a);
	wake_one(n);
}

/* Wake a for another core: through the inject queue, which every
 * scheduler polls, so an idle scheduler takes it rather than the caller's
 * own (busy) one. Used to resume paused senders (mute.c): they should not
 * land on the core of the receiver they were paused on. */
void tr__sched_wake_elsewhere(struct tr_node *n, struct tr_actor *a)
{
	inject_push(n, a);
	wake_one(n);
}

/* Put an actor that still has messages at the back of the local queue. */
void tr__sched_requeue(struct tr_sched *s, struct tr_actor *a)
{
	q_push(s, a, false);
	wake_one(s->node);
}

static void park(struct tr_sched *s)
{
	struct tr_node *n = s->node;
	if (!tr__reclaim_offline(s))
		return; /* retired slots to free first */
	pthread_mutex_lock(&s->park_lock);
	s->parked = true;
	atomic_fetch_add(&n->nsleeping, 1);
	if (has_work(n) || atomic_load(&n->stopping)) {
		s->parked = false;
		atomic_fetch_sub(&n->nsleeping, 1);
		pthread_mutex_unlock(&s->park_lock);
		tr__reclaim_online(s);
		return;
	}
	atomic_fetch_add_explicit(&s->st_parks, 1, memory_order_relaxed);
	while (s->parked && !atomic_load(&n->stopping))
		pthread_cond_wait(&s->park_cond, &s->park_lock);
	if (s->parked) {
		s->parked = false;
		atomic_fetch_sub(&n->nsleeping, 1);
	}
	pthread_mutex_unlock(&s->park_lock);
	tr__reclaim_online(s);
}

static struct tr_actor *spin(struct tr_sched *s)
{
	struct tr_node *n = s->node;
	if (n->spin_us <= 0)
		return NULL;
	uint64_t deadline = tr__now_ns() + (uint64_t)n->spin_us * 1000u;
	for (unsigned i = 1;; i++) {
		for (int k = 0; k < 16; k++)
			cpu_relax();
		if (has_work(n)) {
			struct tr_actor *a = find_work(s);
			if (a) {
				atomic_fetch_add_explicit(&s->st_spin_hits, 1,
				                          memory_order_relaxed);
				return a;
			}
		}
		if (atomic_load_explicit(&n->stopping, memory_order_relaxed))
			return NULL;
		if (i % 8 == 0 && tr__now_ns() >= deadline)
			return NULL;
	}
}

static void *sched_main(void *arg)
{
	struct tr_sched *s = arg;
	struct tr_node *n = s->node;
	tr__tls_sched = s;
	tr__reclaim_online(s);
	while (!atomic_load_explicit(&n->stopping, memory_order_relaxed)) {
		struct tr_actor *a = find_work(s);
		if (!a) {
			tr__reclaim_quiescent(s, false); /* may wake actors */
			a = find_work(s);
		}
		if (!a)
			a = spin(s);
		if (!a) {
			park(s);
			continue;
		}
		tr__run_actor(s, a);
		tr__reclaim_quiescent(s, true);
	}
	tr__tls_sched = NULL;
	return NULL;
}

tr_err tr__sched_start(struct tr_node *n)
{
	n->scheds = aligned_alloc(64, sizeof(struct tr_sched) * n->nsched);
	if (!n->scheds)
		return TR_ENOMEM;
	memset(n->scheds, 0, sizeof(struct tr_sched) * n->nsched);
	for (unsigned i = 0; i < n->nsched; i++) {
		struct tr_sched *s = &n->scheds[i];
		s->node = n;
		s->idx = i;
		s->rng = 0x9e3779b97f4a7c15ull * (i + 1) ^ n->id;
		pthread_mutex_init(&s->lock, NULL);
		pthread_mutex_init(&s->park_lock, NULL);
		pthread_cond_init(&s->park_cond, NULL);
	}
	if (n->manual)
		return TR_OK; /* tr__sim_node_run() does the threads' work */
	tr__reclaim_start(n);
	for (unsigned i = 0; i < n->nsched; i++) {
		if (pthread_create(&n->scheds[i].thread, NULL, sched_main,
		                   &n->scheds[i])) {
			atomic_store(&n->stopping, true);
			for (unsigned j = 0; j < i; j++) {
				struct tr_sched *s = &n->scheds[j];
				pthread_mutex_lock(&s->park_lock);
				pthread_cond_signal(&s->park_cond);
				pthread_mutex_unlock(&s->park_lock);
				pthread_join(s->thread, NULL);
			}
			n->nsched = i;
			tr__sched_stop(n);
			return TR_EINTERNAL;
		}
	}
	return TR_OK;
}

unsigned tr__sim_node_run(struct tr_node *n, unsigned max)
{
	struct tr_sched *s = &n->scheds[0];
	struct tr_sched *saved = tr__tls_sched;
	tr__tls_sched = s;
	unsigned ran = 0;
	struct tr_actor *a;
	while (ran < max && (a = find_work(s))) {
		tr__run_actor(s, a);
		ran++;
	}
	tr__tls_sched = saved;
	return ran;
}

void tr__sched_stop(struct tr_node *n)
{
	if (!n->scheds)
		return;
	atomic_store(&n->stopping, true);
	for (unsigned i = 0; i < n->nsched; i++) {
		struct tr_sched *s = &n->scheds[i];
		pthread_mutex_lock(&s->park_lock);
		pthread_cond_broadcast(&s->park_cond);
		pthread_mutex_unlock(&s->park_lock);
	}
	for (unsigned i = 0; i < n->nsched; i++)
		if (n->scheds[i].thread)
			pthread_join(n->scheds[i].thread, NULL);
	tr__reclaim_stop(n); /* no turn runs: free every retired slot */
	/* Give cached free slots back (reap_all walks the table). */
	for (unsigned i = 0; i < n->nsched; i++) {
		struct tr_sched *s = &n->scheds[i];
		tr__msg_sched_flush(s);
		tr__free(s->q);
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->park_lock);
		pthread_cond_destroy(&s->park_cond);
	}
	free(n->scheds);
	n->scheds = NULL;
	n->nsched = 0;
}

/* ---- slot allocation ----------------------------------------------------- */

/* Caller holds slot_lock. A fresh slot index, allocating its chunk. */
static uint32_t fresh_slot_locked(struct tr_node *n, bool *fresh)
{
	if (n->nslots >= n->max_actors)
		return UINT32_MAX;
	uint32_t idx = n->nslots;
	size_t c = idx >> TR__CHUNK_SHIFT;
	if (!atomic_load_explicit(&n->chunks[c], memory_order_relaxed)) {
		struct tr_actor *chunk = aligned_alloc(
		        64, sizeof(struct tr_actor) * TR__CHUNK_SLOTS);
		if (!chunk)
			return UINT32_MAX - 1;
		/* Zero only what lookups read before a slot's first use. */
		for (uint32_t i = 0; i < TR__CHUNK_SLOTS; i++) {
			atomic_init(&chunk[i].rc, 0);
			atomic_init(&chunk[i].id, 0);
			atomic_init(&chunk[i].astate, TR__A_FREE);
		}
		atomic_store_explicit(&n->chunks[c], chunk,
		                      memory_order_release);
	}
	n->nslots++;
	*fresh = true;
	return idx;
}

uint32_t tr__sched_slot_get(struct tr_node *n, bool *fresh)
{
	struct tr_sched *s = tr__tls_sched;
	*fresh = false;
	if (s && s->node == n && s->nfree)
		return s->free_slots[--s->nfree];
	uint32_t idx;
	pthread_mutex_lock(&n->slot_lock);
	if (n->nfree) {
		idx = n->free_slots[--n->nfree];
		if (s && s->node == n) {
			while (n->nfree && s->nfree < TR__SLOT_CACHE / 2)
				s->free_slots[s->nfree++] =
				        n->free_slots[--n->nfree];
		}
	} else {
		idx = fresh_slot_locked(n, fresh);
	}
	pthread_mutex_unlock(&n->slot_lock);
	return idx;
}

static void global_put_locked(struct tr_node *n, uint32_t idx)
{
	if (n->nfree == n->free_cap) {
		size_t nc = n->free_cap ? n->free_cap * 2 : 1024;
		uint32_t *nb = tr__realloc(n->free_slots, nc * sizeof(*nb));
		if (!nb)
			return; /* the slot leaks; the table stays correct */
		n->free_slots = nb;
		n->free_cap = nc;
	}
	n->free_slots[n->nfree++] = idx;
}

void tr__sched_slot_put(struct tr_node *n, uint32_t idx)
{
	struct tr_sched *s = tr__tls_sched;
	if (s && s->node == n) {
		if (s->nfree == TR__SLOT_CACHE) {
			pthread_mutex_lock(&n->slot_lock);
			while (s->nfree > TR__SLOT_CACHE / 2)
				global_put_locked(n, s->free_slots[--s->nfree]);
			pthread_mutex_unlock(&n->slot_lock);
		}
		s->free_slots[s->nfree++] = idx;
		return;
	}
	pthread_mutex_lock(&n->slot_lock);
	global_put_locked(n, idx);
	pthread_mutex_unlock(&n->slot_lock);
}
