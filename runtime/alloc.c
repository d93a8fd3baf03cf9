/*
 * runtime/alloc.c - allocator shim with a fault-injection hook.
 */
#include "runtime/alloc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* < 0: off. >= 0: allocations left before failures start. */
static _Atomic long fail_countdown = -1;

static int should_fail(void)
{
	long v = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
	if (v < 0)
		return 0;
	if (v == 0)
		return 1;
	atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
	return 0;
}

bool tr__alloc_fault(void)
{
	return should_fail();
}

void tr__alloc_fail_after(long after)
{
	atomic_store(&fail_countdown, after);
}

void *tr__malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *tr__calloc(size_t count, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(count ? count : 1, size ? size : 1);
}

void *tr__realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	return realloc(p, n ? n : 1);
}

void tr__free(void *p)
{
	free(p);
}

char *tr__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = tr__malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}
