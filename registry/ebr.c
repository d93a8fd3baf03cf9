/*
 * registry/ebr.c - epoch-based reclamation (see ebr.h).
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "registry/ebr.h"

_Atomic uint64_t tr__ebr_epoch = 1;
_Thread_local struct tr__ebr_rec *tr__ebr_mine;

static _Atomic(struct tr__ebr_rec *) recs;
static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void release(void *p)
{
	struct tr__ebr_rec *r = p;
	atomic_store(&r->active, 0);
	atomic_store(&r->used, 0);
}

static void make_key(void)
{
	pthread_key_create(&key, release);
}

struct tr__ebr_rec *tr__ebr_register(void)
{
	pthread_once(&once, make_key);
	struct tr__ebr_rec *r;
	for (r = atomic_load(&recs); r; r = r->next) {
		int z = 0;
		if (atomic_compare_exchange_strong(&r->used, &z, 1))
			break;
	}
	if (!r) {
		/* Never freed: records are reused by later threads. */
		r = calloc(1, sizeof(*r));
		if (!r)
			abort(); /* a few dozen bytes once per thread */
		atomic_store(&r->used, 1);
		struct tr__ebr_rec *h = atomic_load(&recs);
		do
			r->next = h;
		while (!atomic_compare_exchange_weak(&recs, &h, r));
	}
	pthread_setspecific(key, r);
	tr__ebr_mine = r;
	return r;
}

/* The smallest epoch a reader is inside, or UINT64_MAX. */
static uint64_t min_active(void)
{
	uint64_t m = UINT64_MAX;
	for (struct tr__ebr_rec *r = atomic_load(&recs); r; r = r->next) {
		uint64_t a = atomic_load(&r->active);
		if (a && a < m)
			m = a;
	}
	return m;
}

void tr__ebr_reclaim(struct tr__ebr_list *l)
{
	if (!l->n)
		return;
	uint64_t m = min_active();
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].epoch < m)
			free(l->v[i].p);
		else
			l->v[k++] = l->v[i];
	}
	l->n = k;
}

void tr__ebr_retire(struct tr__ebr_list *l, void *p)
{
	if (!p)
		return;
	uint64_t e = atomic_fetch_add(&tr__ebr_epoch, 1);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct tr__ebr_item *v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			while (min_active() <= e)
				sched_yield();
			free(p);
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].p = p;
	l->v[l->n].epoch = e;
	l->n++;
	if (l->n >= 256)
		tr__ebr_reclaim(l);
}

void tr__ebr_drain(struct tr__ebr_list *l)
{
	uint64_t e = atomic_fetch_add(&tr__ebr_epoch, 1);
	while (min_active() <= e)
		sched_yield();
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].p);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
