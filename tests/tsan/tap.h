/*
 * tests/tsan/tap.h - the small harness the Criterion-free drivers share
 * (tsan_runtime.c, tsan_net.c): scenario bookkeeping printed as TAP, a
 * CHECK that fails the current scenario, message builders, and waiting
 * for a tag in the driver's inbox. Header-only: each driver is one file.
 */
#ifndef TR_TESTS_TSAN_TAP_H
#define TR_TESTS_TSAN_TAP_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <troupe/troupe.h>

static tr_inbox_t *inbox; /* the driver's inbox */
static tr_pid_t me;       /* its pid */
static int failures, cases;
static const char *current;

#define CHECK(cond)                                                    \
	do {                                                           \
		if (!(cond)) {                                         \
			printf("# %s: %s:%d: %s\n", current, __FILE__, \
			       __LINE__, #cond);                       \
			return false;                                  \
		}                                                      \
	} while (0)

static inline tr_msg_t *mk(const char *tag)
{
	tr_msg_t *m;
	if (tr_msg_new(&m, tag))
		abort();
	return m;
}

static inline tr_msg_t *mk_int(const char *tag, int64_t v)
{
	tr_msg_t *m = mk(tag);
	tr_msg_add_int(m, v);
	return m;
}

static inline bool match_tag(const tr_msg_t *m, void *arg)
{
	return tr_msg_is(m, arg);
}

/* The next message tagged `tag` (others stay queued), or NULL after 60 s. */
static inline tr_msg_t *wait_tag(const char *tag)
{
	tr_msg_t *m = NULL;
	if (tr_inbox_receive_match(inbox, 60000, match_tag, (void *)tag, &m))
		return NULL;
	return m;
}

/* Run one scenario and print its TAP line. */
static inline void run_case(const char *name, bool (*fn)(void))
{
	current = name;
	cases++;
	bool ok = fn();
	if (!ok)
		failures++;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", cases, name);
	fflush(stdout);
}

#endif
