/*
 * runtime/timer.c - timers: one thread per node, a binary min-heap of
 * deadlines under a mutex, and an index from timer id to heap entry so a
 * cancel is O(log n). The clock is CLOCK_MONOTONIC, for the heap and for
 * the condition variable the thread sleeps on, so wall-clock steps never
 * fire or delay a timer.
 *
 * Expired entries are taken out under the lock and delivered after it is
 * released (delivery may wake schedulers and must not nest in our lock).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "runtime/internal.h"

struct tentry {
	uint64_t deadline;
	uint64_t id;
	tr_pid_t to;
	tr_msg_t *m;
	size_t hidx;
};

struct tr_timers {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct tentry **heap; /* guarded by lock, as all below */
	size_t n, cap;
	struct tr__ptab *index;
	uint64_t next_id;
	bool stop;
};

/* The simulation's clock (tr__sim_clock_set), or NULL: the real one. */
static uint64_t (*_Atomic sim_clock)(void);

void tr__sim_clock_set(uint64_t (*clock)(void))
{
	atomic_store(&sim_clock, clock);
}

uint64_t tr__now_ns(void)
{
	uint64_t (*c)(void) =
	        atomic_load_explicit(&sim_clock, memory_order_relaxed);
	if (c)
		return c();
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hswap(struct tr_timers *t, size_t i, size_t j)
{
	struct tentry *x = t->heap[i];
	t->heap[i] = t->heap[j];
	t->heap[j] = x;
	t->heap[i]->hidx = i;
	t->heap[j]->hidx = j;
}

static void sift_up(struct tr_timers *t, size_t i)
{
	while (i && t->heap[(i - 1) / 2]->deadline > t->heap[i]->deadline) {
		hswap(t, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void sift_down(struct tr_timers *t, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->n && t->heap[l]->deadline < t->heap[m]->deadline)
			m = l;
		if (r < t->n && t->heap[r]->deadline < t->heap[m]->deadline)
			m = r;
		if (m == i)
			return;
		hswap(t, i, m);
		i = m;
	}
}

static void heap_remove(struct tr_timers *t, size_t i)
{
	t->n--;
	if (i != t->n) {
		t->heap[i] = t->heap[t->n];
		t->heap[i]->hidx = i;
		sift_down(t, i);
		sift_up(t, i);
	}
}

static tr_pid_t id_key(uint64_t id)
{
	tr_pid_t k = {0, id, 0};
	return k;
}

/* Take the entries due at now off the heap, in deadline order (a FIFO
 * list threaded through hidx, unused once out of the heap). Lock held. */
static struct tentry *take_due(struct tr_timers *t, uint64_t now)
{
	struct tentry *due = NULL, *last = NULL;
	while (t->n && t->heap[0]->deadline <= now) {
		struct tentry *e = t->heap[0];
		heap_remove(t, 0);
		struct tr__pent *pe = tr__ptab_get(t->index, id_key(e->id));
		if (pe)
			tr__ptab_del(t->index, pe);
		e->hidx = 0;
		if (last)
			last->hidx = (size_t)e;
		else
			due = e;
		last = e;
	}
	return due;
}

/* Deliver a list from take_due(). Lock not held. */
static void fire(struct tr_node *node, struct tentry *due)
{
	while (due) {
		struct tentry *next = (struct tentry *)due->hidx;
		if (tr__route(node, due->to, due->m))
			tr_msg_free(due->m);
		tr__free(due);
		due = next;
	}
}

static void *timer_main(void *arg)
{
	struct tr_node *node = arg;
	struct tr_timers *t = node->timers;
	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		if (!t->n) {
			pthread_cond_wait(&t->cond, &t->lock);
			continue;
		}
		uint64_t now = tr__now_ns();
		if (t->heap[0]->deadline > now) {
			uint64_t d = t->heap[0]->deadline;
			struct timespec ts = {(time_t)(d / 1000000000ull),
			                      (long)(d % 1000000000ull)};
			pthread_cond_timedwait(&t->cond, &t->lock, &ts);
			continue;
		}
		struct tentry *due = take_due(t, now);
		pthread_mutex_unlock(&t->lock);
		fire(node, due);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* A manual node's timers (no thread): deliver what is due now. */
void tr__sim_timers_fire(struct tr_node *node)
{
	struct tr_timers *t = node->timers;
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	struct tentry *due = take_due(t, tr__now_ns());
	pthread_mutex_unlock(&t->lock);
	fire(node, due);
}

/* The earliest deadline of node's timers, UINT64_MAX if none. */
uint64_t tr__sim_timers_next(struct tr_node *node)
{
	struct tr_timers *t = node->timers;
	if (!t)
		return UINT64_MAX;
	pthread_mutex_lock(&t->lock);
	uint64_t d = t->n ? t->heap[0]->deadline : UINT64_MAX;
	pthread_mutex_unlock(&t->lock);
	return d;
}

tr_err tr__timers_start(struct tr_node *node)
{
	struct tr_timers *t = tr__calloc(1, sizeof(*t));
	if (!t)
		return TR_ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	node->timers = t;
	if (node->manual)
		return TR_OK; /* tr__sim_timers_fire() does the thread's work */
	if (pthread_create(&t->thread, NULL, timer_main, node)) {
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->cond);
		tr__free(t);
		node->timers = NULL;
		return TR_EINTERNAL;
	}
	return TR_OK;
}

void tr__timers_stop(struct tr_node *node)
{
	struct tr_timers *t = node->timers;
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (!node->manual)
		pthread_join(t->thread, NULL);
	for (size_t i = 0; i < t->n; i++) {
		tr_msg_free(t->heap[i]->m);
		tr__free(t->heap[i]);
	}
	tr__free(t->heap);
	tr__ptab_free(t->index);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	tr__free(t);
	node->timers = NULL;
}

tr_err tr__timer_arm(struct tr_node *node, tr_pid_t to, tr_msg_t *m,
                     uint64_t ms, uint64_t *id)
{
	struct tr_timers *t = node->timers;
	if (!t)
		return TR_ECLOSED;
	struct tentry *e = tr__malloc(sizeof(*e));
	if (!e)
		return TR_ENOMEM;
	uint64_t now = tr__now_ns();
	uint64_t add = ms > (UINT64_MAX - now) / 1000000ull ? UINT64_MAX - now
	                                                    : ms * 1000000ull;
	e->deadline = now + add;
	e->to = to;
	e->m = m;
	tr_err err = TR_OK;
	pthread_mutex_lock(&t->lock);
	if (t->stop) {
		err = TR_ECLOSED;
		goto out;
	}
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 64;
		struct tentry **nh = tr__realloc(t->heap, nc * sizeof(*nh));
		if (!nh) {
			err = TR_ENOMEM;
			goto out;
		}
		t->heap = nh;
		t->cap = nc;
	}
	e->id = ++t->next_id;
	struct tr__pent *pe;
	err = tr__ptab_put(&t->index, id_key(e->id), &pe, NULL);
	if (err)
		goto out;
	pe->ptr = e;
	e->hidx = t->n;
	t->heap[t->n++] = e;
	sift_up(t, e->hidx);
	if (e->hidx == 0)
		pthread_cond_signal(&t->cond);
	if (id)
		*id = e->id;
out:
	pthread_mutex_unlock(&t->lock);
	if (err)
		tr__free(e);
	return err;
}

tr_err tr__timer_cancel(struct tr_node *node, uint64_t id, uint64_t *left)
{
	struct tr_timers *t = node->timers;
	if (!t)
		return TR_ECLOSED;
	pthread_mutex_lock(&t->lock);
	struct tr__pent *pe = tr__ptab_get(t->index, id_key(id));
	if (!pe) {
		pthread_mutex_unlock(&t->lock);
		return TR_ENOENT;
	}
	struct tentry *e = pe->ptr;
	tr__ptab_del(t->index, pe);
	heap_remove(t, e->hidx);
	pthread_mutex_unlock(&t->lock);
	if (left) {
		uint64_t now = tr__now_ns();
		*left = e->deadline > now ? (e->deadline - now) / 1000000ull
		                          : 0;
	}
	tr_msg_free(e->m);
	tr__free(e);
	return TR_OK;
}

size_t tr__timers_count(struct tr_node *node)
{
	struct tr_timers *t = node->timers;
	if (!t)
		return 0;
	pthread_mutex_lock(&t->lock);
	size_t n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* ---- public API ---------------------------------------------------------- */

tr_err tr_send_after(tr_node_t *node, tr_pid_t to, tr_msg_t *msg, uint64_t ms,
                     tr_timer_t *timer)
{
	if (!node)
		node = tr_node_current();
	if (!node || !msg || tr_pid_is_none(to) || (msg->flags & TR__MSGF_SENT))
		return TR_EINVAL;
	struct tr_actor *self = tr__tls_actor;
	msg->kind = TR_MSG_PLAIN;
	msg->from = self ? tr__pid_of(self) : TR_PID_NONE;
	uint64_t id;
	msg->flags |= TR__MSGF_SENT; /* owned by the timer from here */
	tr_err e = tr__timer_arm(node, to, msg, ms, &id);
	if (e)
		msg->flags &= (uint8_t)~TR__MSGF_SENT;
	else if (timer)
		timer->id = id;
	return e;
}

tr_err tr_cancel_timer(tr_node_t *node, tr_timer_t timer, uint64_t *left_ms)
{
	if (!node)
		node = tr_node_current();
	if (!node)
		return TR_EINVAL;
	return tr__timer_cancel(node, timer.id, left_ms);
}

tr_err tr_receive_timeout(uint64_t ms)
{
	struct tr_actor *a = tr__tls_actor;
	if (!a)
		return TR_ESTATE;
	if (a->rt_timer) {
		tr__timer_cancel(a->node, a->rt_timer, NULL);
		a->rt_timer = 0;
	}
	a->rt_gen++;
	if (!ms)
		return TR_OK;
	tr_msg_t *m;
	tr_err e = tr_msg_new(&m, "timeout");
	if (e)
		return e;
	m->kind = TR__SIG_RTIMEOUT;
	m->aux = a->rt_gen;
	m->from = tr__pid_of(a);
	e = tr__timer_arm(a->node, tr__pid_of(a), m, ms, &a->rt_timer);
	if (e)
		tr_msg_free(m);
	return e;
}
