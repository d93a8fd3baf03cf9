/*
 * runtime/table.c - see table.h. Linear probing with tombstones; the table
 * grows at 3/4 load (counting tombstones) and shrinks back when a rehash
 * finds it mostly empty.
 */
#include "runtime/table.h"

#include <string.h>

#include "runtime/alloc.h"

static size_t hash(tr_pid_t k)
{
	uint64_t h = k.id * 0x9e3779b97f4a7c15ull;
	h ^= k.node + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
	h ^= (uint64_t)k.creation * 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (size_t)h;
}

struct tr__pent *tr__ptab_get(struct tr__ptab *t, tr_pid_t key)
{
	if (!t || !t->n)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
		struct tr__pent *e = &t->e[i];
		if (e->used == 0)
			return NULL;
		if (e->used == 1 && tr_pid_eq(e->key, key))
			return e;
	}
}

static tr_err rehash(struct tr__ptab *t, size_t cap)
{
	struct tr__pent *ne = tr__calloc(cap, sizeof(*ne));
	if (!ne)
		return TR_ENOMEM;
	size_t mask = cap - 1;
	for (size_t j = 0; j < t->cap; j++) {
		struct tr__pent *e = &t->e[j];
		if (e->used != 1)
			continue;
		size_t i = hash(e->key) & mask;
		while (ne[i].used)
			i = (i + 1) & mask;
		ne[i] = *e;
	}
	tr__free(t->e);
	t->e = ne;
	t->cap = cap;
	t->tomb = 0;
	return TR_OK;
}

tr_err tr__ptab_put(struct tr__ptab **tp, tr_pid_t key, struct tr__pent **out,
                    bool *existed)
{
	struct tr__ptab *t = *tp;
	if (!t) {
		t = tr__calloc(1, sizeof(*t));
		if (!t)
			return TR_ENOMEM;
		t->cap = 4;
		t->e = tr__calloc(t->cap, sizeof(*t->e));
		if (!t->e) {
			tr__free(t);
			return TR_ENOMEM;
		}
		*tp = t;
	}
	struct tr__pent *e = tr__ptab_get(t, key);
	if (e) {
		*out = e;
		if (existed)
			*existed = true;
		return TR_OK;
	}
	if ((t->n + t->tomb + 1) * 4 > t->cap * 3) {
		size_t cap = t->cap;
		while ((t->n + 1) * 4 > cap * 3)
			cap *= 2;
		if ((t->n + 1) * 4 <= cap)
			cap = cap > 8 ? cap / 2 : cap;
		if ((t->n + 1) * 4 > cap * 3)
			cap *= 2;
		tr_err err = rehash(t, cap);
		if (err)
			return err;
	}
	size_t mask = t->cap - 1;
	size_t i = hash(key) & mask;
	while (t->e[i].used == 1)
		i = (i + 1) & mask;
	if (t->e[i].used == 2)
		t->tomb--;
	e = &t->e[i];
	memset(e, 0, sizeof(*e));
	e->key = key;
	e->used = 1;
	t->n++;
	*out = e;
	if (existed)
		*existed = false;
	return TR_OK;
}

void tr__ptab_del(struct tr__ptab *t, struct tr__pent *e)
{
	e->used = 2;
	e->ptr = NULL;
	t->n--;
	t->tomb++;
	if (t->n == 0) {
		/* Cheap reset: no entry left, forget tombstones. */
		memset(t->e, 0, t->cap * sizeof(*t->e));
		t->tomb = 0;
	}
}

void tr__ptab_free(struct tr__ptab *t)
{
	if (!t)
		return;
	tr__free(t->e);
	tr__free(t);
}
