/*
 * runtime/inbox.c - mailboxes for plain threads.
 *
 * An inbox is an ordinary actor (trapping exits) whose receive callback
 * keeps each message and appends it to a list under a mutex; the owning
 * thread waits on a condition variable (monotonic clock). The inbox object
 * is shared by the thread and the actor and freed by whichever lets go
 * last.
 */
#include <errno.h>
#include <time.h>

#include "runtime/internal.h"

struct tr_inbox {
	struct tr_node *node;
	tr_pid_t pid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	tr_msg_t *head, *tail; /* guarded by lock */
	bool dead;             /* guarded by lock */
	_Atomic int refs;
};

static void unref(struct tr_inbox *ib)
{
	if (atomic_fetch_sub(&ib->refs, 1) != 1)
		return;
	tr_msg_t *m = ib->head;
	while (m) {
		tr_msg_t *next = (tr_msg_t *)atomic_load_explicit(
		        &m->mn.next, memory_order_relaxed);
		tr_msg_free(m);
		m = next;
	}
	pthread_mutex_destroy(&ib->lock);
	pthread_cond_destroy(&ib->cond);
	tr__free(ib);
}

void tr__inbox_receive(void *state, tr_msg_t *m)
{
	struct tr_inbox *ib = state;
	tr_msg_keep(m);
	atomic_store_explicit(&m->mn.next, NULL, memory_order_relaxed);
	pthread_mutex_lock(&ib->lock);
	if (ib->tail)
		atomic_store_explicit(&ib->tail->mn.next, &m->mn,
		                      memory_order_relaxed);
	else
		ib->head = m;
	ib->tail = m;
	pthread_cond_broadcast(&ib->cond);
	pthread_mutex_unlock(&ib->lock);
}

static void inbox_terminate(void *state, const char *reason)
{
	(void)reason;
	struct tr_inbox *ib = state;
	pthread_mutex_lock(&ib->lock);
	ib->dead = true;
	pthread_cond_broadcast(&ib->cond);
	pthread_mutex_unlock(&ib->lock);
	unref(ib);
}

static const tr_behaviour_t inbox_behaviour = {
        .name = "inbox",
        .receive = tr__inbox_receive,
        .terminate = inbox_terminate,
};

tr_err tr_inbox_new(tr_node_t *node, tr_inbox_t **out)
{
	if (!node || !out)
		return TR_EINVAL;
	struct tr_inbox *ib = tr__calloc(1, sizeof(*ib));
	if (!ib)
		return TR_ENOMEM;
	ib->node = node;
	atomic_init(&ib->refs, 2);
	pthread_mutex_init(&ib->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ib->cond, &ca);
	pthread_condattr_destroy(&ca);
	tr_spawn_opts_t o = {.trap_exit = true};
	struct tr_actor *saved = tr__tls_actor;
	tr__tls_actor = NULL; /* the inbox is nobody's child */
	tr_err e = tr__spawn(node, &inbox_behaviour, NULL, ib, &o, TR__AF_INBOX,
	                     &ib->pid, NULL);
	tr__tls_actor = saved;
	if (e) {
		pthread_mutex_destroy(&ib->lock);
		pthread_cond_destroy(&ib->cond);
		tr__free(ib);
		return e;
	}
	*out = ib;
	return TR_OK;
}

void tr_inbox_destroy(tr_inbox_t *ib)
{
	if (!ib)
		return;
	tr_msg_t *m;
	if (!tr__msg_exit(TR__SIG_STOP, TR_PID_NONE, TR_NORMAL, &m)) {
		m->from = ib->pid;
		tr__deliver(ib->node, ib->pid, m);
	}
	unref(ib);
}

tr_pid_t tr_inbox_pid(const tr_inbox_t *ib)
{
	return ib ? ib->pid : TR_PID_NONE;
}

static bool match_any(const tr_msg_t *m, void *arg)
{
	(void)m;
	(void)arg;
	return true;
}

tr_err tr_inbox_receive(tr_inbox_t *ib, uint64_t timeout_ms, tr_msg_t **out)
{
	return tr_inbox_receive_match(ib, timeout_ms, match_any, NULL, out);
}

tr_err tr_inbox_receive_match(tr_inbox_t *ib, uint64_t timeout_ms,
                              bool (*match)(const tr_msg_t *, void *),
                              void *arg, tr_msg_t **out)
{
	if (!ib || !match || !out)
		return TR_EINVAL;
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	if (timeout_ms != TR_INFINITY) {
		uint64_t ns =
		        (uint64_t)dl.tv_nsec + (timeout_ms % 1000) * 1000000ull;
		dl.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000ull);
		dl.tv_nsec = (long)(ns % 1000000000ull);
	}
	tr_err e = TR_ETIMEDOUT;
	bool last = timeout_ms == 0;
	pthread_mutex_lock(&ib->lock);
	for (;;) {
		tr_msg_t *prev = NULL;
		for (tr_msg_t *m = ib->head; m;
		     prev = m, m = (tr_msg_t *)atomic_load_explicit(
		                       &m->mn.next, memory_order_relaxed)) {
			if (!match(m, arg))
				continue;
			tr_msg_t *next = (tr_msg_t *)atomic_load_explicit(
			        &m->mn.next, memory_order_relaxed);
			if (prev)
				atomic_store_explicit(&prev->mn.next,
				                      next ? &next->mn : NULL,
				                      memory_order_relaxed);
			else
				ib->head = next;
			if (ib->tail == m)
				ib->tail = prev;
			atomic_store_explicit(&m->mn.next, NULL,
			                      memory_order_relaxed);
			*out = m;
			e = TR_OK;
			goto done;
		}
		if (ib->dead) {
			e = TR_ECLOSED;
			break;
		}
		if (last)
			break; /* deadline passed and one more scan found none
			        */
		int rc = timeout_ms == TR_INFINITY
		                 ? pthread_cond_wait(&ib->cond, &ib->lock)
		                 : pthread_cond_timedwait(&ib->cond, &ib->lock,
		                                          &dl);
		if (rc == ETIMEDOUT)
			last = true;
	}
done:
	pthread_mutex_unlock(&ib->lock);
	return e;
}

static tr_err control(tr_inbox_t *ib, uint8_t kind, tr_pid_t pid, tr_ref_t ref)
{
	tr_msg_t *m;
	tr_err e = tr__msg_alloc(kind, 0, &m);
	if (e)
		return e;
	m->from = pid; /* for inbox control signals: the other party */
	m->ref = ref;
	tr__deliver(ib->node, ib->pid, m);
	return TR_OK;
}

/* Link and monitor signals go out from the calling thread, so they are
 * ordered before anything that thread sends afterwards (as Erlang's link/1
 * and monitor/2 take effect before they return); the inbox actor is told
 * to record its side. */
tr_err tr_inbox_link(tr_inbox_t *ib, tr_pid_t pid)
{
	if (!ib || tr_pid_is_none(pid))
		return TR_EINVAL;
	if (tr_pid_eq(pid, ib->pid))
		return TR_OK;
	tr_err e = control(ib, TR__SIG_INBOX_LINK, pid, TR_REF_NONE);
	if (!e)
		tr__send_signal(TR__SIG_LINK, ib->pid, pid, TR_REF_NONE, 0);
	return e;
}

tr_err tr_inbox_monitor(tr_inbox_t *ib, tr_pid_t pid, tr_ref_t *ref)
{
	if (!ib || tr_pid_is_none(pid))
		return TR_EINVAL;
	tr_ref_t r = tr__make_ref(ib->node);
	tr_err e = control(ib, TR__SIG_INBOX_MONITOR, pid, r);
	if (e)
		return e;
	tr__send_signal(TR__SIG_MONITOR, ib->pid, pid, r, 0);
	if (ref)
		*ref = r;
	return TR_OK;
}
