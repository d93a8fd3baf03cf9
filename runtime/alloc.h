/*
 * runtime/alloc.h - the one allocator shim.
 *
 * All of libtroupe's memory goes through these wrappers so that tests can
 * make the N-th allocation fail (SQLite's do_malloc_test idea) and check
 * that every caller turns it into TR_ENOMEM without leaking or crashing.
 * The fault hook costs one relaxed atomic load per allocation.
 */
#ifndef TR_RUNTIME_ALLOC_H
#define TR_RUNTIME_ALLOC_H

#include <stddef.h>
#include <troupe/version.h>

void *tr__malloc(size_t n);
void *tr__calloc(size_t count, size_t size);
void *tr__realloc(void *p, size_t n);
void tr__free(void *p);
char *tr__strdup(const char *s);
/* For allocators layered on the shim (message blocks): true when the
 * fault hook says this allocation must fail. */
_Bool tr__alloc_fault(void);

/*
 * Test hook: after `after` more successful allocations, every allocation
 * fails until the hook is cleared with a negative value. Process-wide.
 */
TR_API void tr__alloc_fail_after(long after);

#endif
