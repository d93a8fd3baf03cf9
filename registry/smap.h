/*
 * registry/smap.h - string-keyed chained hash maps (one owner, no lock),
 * and the lock-free read index of the global registry.
 */
#ifndef TR_REGISTRY_SMAP_H
#define TR_REGISTRY_SMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/err.h>
#include <troupe/pid.h>

#include "registry/ebr.h"

static inline uint64_t tr__hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

/* Embedded at the start of every map element. */
struct tr__skey {
	struct tr__skey *next;
	uint64_t h;
	size_t len;
	char *key; /* NUL-terminated copy, owned by the element's owner */
};

struct tr__smap {
	struct tr__skey **b;
	size_t cap, n;
};

struct tr__skey *tr__smap_get(const struct tr__smap *m, const char *key,
                              size_t len, uint64_t h);
/* Insert k (its h/len/key set, not already present). */
tr_err tr__smap_put(struct tr__smap *m, struct tr__skey *k);
void tr__smap_del(struct tr__smap *m, struct tr__skey *k);
void tr__smap_free(struct tr__smap *m); /* the buckets only */

#define tr__smap_foreach(m, it, nx)                                         \
	for (size_t tr__b_ = 0; tr__b_ < (m)->cap; tr__b_++)                \
		for ((it) = (m)->b[tr__b_]; (it) && ((nx) = (it)->next, 1); \
		     (it) = (nx))

/* ---- the read index: readers lock-free (EBR), one writer --------------- */

struct tr__gread {
	uint64_t h;
	tr_pid_t pid;
	uint32_t len;
	char name[]; /* NUL-terminated */
};

struct tr__garr {
	size_t cap;
	_Atomic(struct tr__gread *) slot[];
};

struct tr__gidx {
	_Atomic(struct tr__garr *) arr;
	_Atomic size_t n; /* live entries */
	size_t del;       /* deleted markers */
	struct tr__ebr_list retired;
};

tr_err tr__gidx_init(struct tr__gidx *x);
void tr__gidx_destroy(struct tr__gidx *x);
/* Publish name -> pid (replacing an entry of the same name). */
tr_err tr__gidx_put(struct tr__gidx *x, const char *name, size_t len,
                    uint64_t h, tr_pid_t pid);
void tr__gidx_del(struct tr__gidx *x, const char *name, size_t len, uint64_t h);
void tr__gidx_clear(struct tr__gidx *x);
/* Any thread. */
bool tr__gidx_get(struct tr__gidx *x, const char *name, size_t len, uint64_t h,
                  tr_pid_t *out);

#endif
