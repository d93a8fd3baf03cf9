/*
 * registry/ebr.h - epoch-based reclamation for lock-free readers.
 *
 * Readers of a structure published through atomic pointers bracket each
 * read with tr__ebr_enter()/tr__ebr_exit(): one seq_cst store and one
 * release store on a record of their own thread, no shared write. A
 * writer that unlinks an object retires it; tr__ebr_reclaim() frees what
 * no reader can still see: an object retired at epoch e is freed once
 * every reader inside a read section entered after e. One domain for the
 * process; records of exited threads are reused.
 */
#ifndef TR_REGISTRY_EBR_H
#define TR_REGISTRY_EBR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct tr__ebr_rec {
	_Atomic uint64_t active; /* 0 = outside, else the epoch entered */
	_Atomic int used;
	struct tr__ebr_rec *next;
	char pad[64 - 2 * sizeof(uint64_t) - sizeof(void *)];
};

extern _Atomic uint64_t tr__ebr_epoch;
extern _Thread_local struct tr__ebr_rec *tr__ebr_mine;

struct tr__ebr_rec *tr__ebr_register(void);

static inline struct tr__ebr_rec *tr__ebr_enter(void)
{
	struct tr__ebr_rec *r = tr__ebr_mine;
	if (__builtin_expect(!r, 0))
		r = tr__ebr_register();
	atomic_store(&r->active, atomic_load_explicit(&tr__ebr_epoch,
	                                              memory_order_relaxed));
	return r;
}

static inline void tr__ebr_exit(struct tr__ebr_rec *r)
{
	atomic_store_explicit(&r->active, 0, memory_order_release);
}

/* A writer's list of retired objects (one list per writer). */
struct tr__ebr_item {
	void *p;
	uint64_t epoch;
};

struct tr__ebr_list {
	struct tr__ebr_item *v;
	size_t n, cap;
};

/* Retire p (already unlinked); freed with free() once safe. If memory for
 * the list cannot be had, waits for readers and frees at once. */
void tr__ebr_retire(struct tr__ebr_list *l, void *p);
/* Free what is safe now. */
void tr__ebr_reclaim(struct tr__ebr_list *l);
/* Wait for every reader, free everything (the structure is gone). */
void tr__ebr_drain(struct tr__ebr_list *l);

#endif
