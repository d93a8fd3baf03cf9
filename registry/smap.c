/*
 * registry/smap.c - string maps and the global registry's read index.
 *
 * The read index is an open-addressing table of pointers to immutable
 * entries. The single writer (the global server) replaces a slot's
 * pointer or sets it to the deleted marker and retires what it unlinked;
 * growing publishes a new array and retires the old one. Readers walk
 * the table inside an EBR read section, so nothing they hold is freed
 * under them and they never take a lock.
 */
#include <stdlib.h>
#include <string.h>

#include "registry/smap.h"

/* ---- chained maps -------------------------------------------------------- */

struct tr__skey *tr__smap_get(const struct tr__smap *m, const char *key,
                              size_t len, uint64_t h)
{
	if (!m->cap)
		return NULL;
	for (struct tr__skey *k = m->b[h & (m->cap - 1)]; k; k = k->next)
		if (k->h == h && k->len == len && !memcmp(k->key, key, len))
			return k;
	return NULL;
}

static tr_err grow(struct tr__smap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct tr__skey **b = calloc(cap, sizeof(*b));
	if (!b)
		return TR_ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		struct tr__skey *k = m->b[i], *nx;
		for (; k; k = nx) {
			nx = k->next;
			k->next = b[k->h & (cap - 1)];
			b[k->h & (cap - 1)] = k;
		}
	}
	free(m->b);
	m->b = b;
	m->cap = cap;
	return TR_OK;
}

tr_err tr__smap_put(struct tr__smap *m, struct tr__skey *k)
{
	if (m->n + 1 > m->cap) {
		tr_err e = grow(m);
		if (e && !m->cap)
			return e; /* a full table still works, just slower */
	}
	size_t i = k->h & (m->cap - 1);
	k->next = m->b[i];
	m->b[i] = k;
	m->n++;
	return TR_OK;
}

void tr__smap_del(struct tr__smap *m, struct tr__skey *k)
{
	struct tr__skey **pp = &m->b[k->h & (m->cap - 1)];
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			m->n--;
			return;
		}
	}
}

void tr__smap_free(struct tr__smap *m)
{
	free(m->b);
	m->b = NULL;
	m->cap = m->n = 0;
}

/* ---- read index ---------------------------------------------------------- */

static struct tr__gread deleted_mark;
#define DELETED (&deleted_mark)

static struct tr__garr *arr_new(size_t cap)
{
	struct tr__garr *a = calloc(1, sizeof(*a) + cap * sizeof(a->slot[0]));
	if (a)
		a->cap = cap;
	return a;
}

tr_err tr__gidx_init(struct tr__gidx *x)
{
	memset(x, 0, sizeof(*x));
	struct tr__garr *a = arr_new(64);
	if (!a)
		return TR_ENOMEM;
	atomic_store(&x->arr, a);
	return TR_OK;
}

void tr__gidx_destroy(struct tr__gidx *x)
{
	struct tr__garr *a = atomic_load(&x->arr);
	if (a) {
		for (size_t i = 0; i < a->cap; i++) {
			struct tr__gread *e = atomic_load(&a->slot[i]);
			if (e && e != DELETED)
				tr__ebr_retire(&x->retired, e);
		}
		tr__ebr_retire(&x->retired, a);
	}
	atomic_store(&x->arr, NULL);
	tr__ebr_drain(&x->retired);
}

bool tr__gidx_get(struct tr__gidx *x, const char *name, size_t len, uint64_t h,
                  tr_pid_t *out)
{
	bool found = false;
	struct tr__ebr_rec *r = tr__ebr_enter();
	struct tr__garr *a =
	        atomic_load_explicit(&x->arr, memory_order_acquire);
	size_t mask = a->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct tr__gread *e =
		        atomic_load_explicit(&a->slot[i], memory_order_acquire);
		if (!e)
			break;
		if (e != DELETED && e->h == h && e->len == len &&
		    !memcmp(e->name, name, len)) {
			*out = e->pid;
			found = true;
			break;
		}
	}
	tr__ebr_exit(r);
	return found;
}

/* Writer only: the slot holding name, or the first free one after it. */
static size_t find_slot(struct tr__garr *a, const char *name, size_t len,
                        uint64_t h, bool *hit)
{
	size_t mask = a->cap - 1, tomb = SIZE_MAX;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct tr__gread *e =
		        atomic_load_explicit(&a->slot[i], memory_order_relaxed);
		if (!e) {
			*hit = false;
			return tomb != SIZE_MAX ? tomb : i;
		}
		if (e == DELETED) {
			if (tomb == SIZE_MAX)
				tomb = i;
			continue;
		}
		if (e->h == h && e->len == len && !memcmp(e->name, name, len)) {
			*hit = true;
			return i;
		}
	}
}

static tr_err rebuild(struct tr__gidx *x, size_t need)
{
	struct tr__garr *old = atomic_load(&x->arr);
	size_t cap = 64;
	while (cap * 3 < need * 4 + 4)
		cap *= 2;
	struct tr__garr *a = arr_new(cap);
	if (!a)
		return TR_ENOMEM;
	for (size_t i = 0; i < old->cap; i++) {
		struct tr__gread *e = atomic_load(&old->slot[i]);
		if (!e || e == DELETED)
			continue;
		size_t j = e->h & (cap - 1);
		while (atomic_load_explicit(&a->slot[j], memory_order_relaxed))
			j = (j + 1) & (cap - 1);
		atomic_store_explicit(&a->slot[j], e, memory_order_relaxed);
	}
	atomic_store_explicit(&x->arr, a, memory_order_release);
	x->del = 0;
	tr__ebr_retire(&x->retired, old);
	return TR_OK;
}

tr_err tr__gidx_put(struct tr__gidx *x, const char *name, size_t len,
                    uint64_t h, tr_pid_t pid)
{
	struct tr__garr *a = atomic_load(&x->arr);
	size_t n = atomic_load_explicit(&x->n, memory_order_relaxed);
	if ((n + x->del + 1) * 4 > a->cap * 3) {
		tr_err err = rebuild(x, (n + 1) * 2);
		if (err)
			return err;
		a = atomic_load(&x->arr);
	}
	struct tr__gread *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return TR_ENOMEM;
	e->h = h;
	e->pid = pid;
	e->len = (uint32_t)len;
	memcpy(e->name, name, len);
	e->name[len] = 0;
	bool hit;
	size_t i = find_slot(a, name, len, h, &hit);
	struct tr__gread *old = atomic_load(&a->slot[i]);
	atomic_store_explicit(&a->slot[i], e, memory_order_release);
	if (hit) {
		tr__ebr_retire(&x->retired, old);
	} else {
		if (old == DELETED)
			x->del--;
		atomic_store_explicit(&x->n, n + 1, memory_order_relaxed);
	}
	return TR_OK;
}

void tr__gidx_del(struct tr__gidx *x, const char *name, size_t len, uint64_t h)
{
	struct tr__garr *a = atomic_load(&x->arr);
	bool hit;
	size_t i = find_slot(a, name, len, h, &hit);
	if (!hit)
		return;
	struct tr__gread *old = atomic_load(&a->slot[i]);
	atomic_store_explicit(&a->slot[i], DELETED, memory_order_release);
	x->del++;
	atomic_store_explicit(&x->n, atomic_load(&x->n) - 1,
	                      memory_order_relaxed);
	tr__ebr_retire(&x->retired, old);
}

void tr__gidx_clear(struct tr__gidx *x)
{
	struct tr__garr *old = atomic_load(&x->arr);
	struct tr__garr *a = arr_new(64);
	if (!a) { /* delete one by one */
		for (size_t i = 0; i < old->cap; i++) {
			struct tr__gread *e = atomic_load(&old->slot[i]);
			if (e && e != DELETED)
				tr__gidx_del(x, e->name, e->len, e->h);
		}
		return;
	}
	atomic_store_explicit(&x->arr, a, memory_order_release);
	for (size_t i = 0; i < old->cap; i++) {
		struct tr__gread *e = atomic_load(&old->slot[i]);
		if (e && e != DELETED)
			tr__ebr_retire(&x->retired, e);
	}
	tr__ebr_retire(&x->retired, old);
	atomic_store(&x->n, 0);
	x->del = 0;
}
