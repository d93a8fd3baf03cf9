/*
 * runtime/table.h - a small open-addressing hash table keyed by a pid-shaped
 * triple (pids and refs alike). Used for an actor's links, monitors and
 * pending calls, and for the timer index. Allocated only when first used,
 * so an idle actor with no links pays one NULL pointer per table.
 * Not thread-safe: each table has one owner.
 */
#ifndef TR_RUNTIME_TABLE_H
#define TR_RUNTIME_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/err.h>
#include <troupe/pid.h>

struct tr__pent {
	tr_pid_t key;
	tr_pid_t pid; /* the other party */
	uint64_t aux;
	void *ptr;
	uint32_t flags;
	uint32_t used; /* 0 empty, 1 used, 2 deleted */
};

struct tr__ptab {
	size_t cap;  /* power of two */
	size_t n;    /* used */
	size_t tomb; /* deleted */
	struct tr__pent *e;
};

static inline tr_pid_t tr__key_ref(tr_ref_t r)
{
	tr_pid_t k = {r.node, r.id, r.creation};
	return k;
}

static inline tr_ref_t tr__ref_key(tr_pid_t k)
{
	tr_ref_t r = {k.node, k.id, k.creation};
	return r;
}

struct tr__pent *tr__ptab_get(struct tr__ptab *t, tr_pid_t key);
/* Insert key (or find it). *out points at the entry, valid until the next
 * insert or delete. *existed says whether it was there. */
tr_err tr__ptab_put(struct tr__ptab **t, tr_pid_t key, struct tr__pent **out,
                    bool *existed);
void tr__ptab_del(struct tr__ptab *t, struct tr__pent *e);
static inline size_t tr__ptab_len(const struct tr__ptab *t)
{
	return t ? t->n : 0;
}
void tr__ptab_free(struct tr__ptab *t);

#define tr__ptab_foreach(t, it)                                     \
	for (size_t tr__i_ = 0; (t) && tr__i_ < (t)->cap; tr__i_++) \
		if (((it) = &(t)->e[tr__i_])->used == 1)

#endif
