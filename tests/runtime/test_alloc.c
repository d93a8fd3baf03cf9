/*
 * tests/runtime/test_alloc.c - out of memory is an error, never a crash or
 * a leak (docs/semantics.md B3). Each test makes the N-th allocation fail
 * for N = 0, 1, 2, ... until the operation succeeds, and checks that every
 * failing attempt returned TR_ENOMEM and left nothing behind (the ASan run
 * of the suite catches leaks).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <troupe/troupe.h>

#include "runtime/alloc.h"

static void quiet_receive(void *state, tr_msg_t *m)
{
	(void)state;
	(void)m;
}

static const tr_behaviour_t quiet = {.name = "quiet", .receive = quiet_receive};

static tr_err init_alloc(void **state, void *arg)
{
	(void)arg;
	*state = strdup("some state");
	return *state ? TR_OK : TR_ENOMEM;
}

static void term_free(void *state, const char *reason)
{
	(void)reason;
	free(state);
}

static const tr_behaviour_t with_state = {.name = "with_state",
                                          .init = init_alloc,
                                          .receive = quiet_receive,
                                          .terminate = term_free};

Test(alloc, message_building_fails_cleanly_at_every_allocation)
{
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	int failures = 0;
	for (long n = 0;; n++) {
		cr_assert_lt(n, 100, "never succeeded");
		tr_msg_t *m = NULL;
		tr__alloc_fail_after(n);
		tr_err e = tr_msg_new(&m, "tag");
		if (e == TR_OK) {
			size_t before = tr_msg_count(m);
			e = tr_msg_add_str(m, big);
			if (e == TR_ENOMEM)
				cr_assert_eq(
				        tr_msg_count(m), before,
				        "a failed add changed the message");
		}
		tr__alloc_fail_after(-1);
		if (e == TR_OK) {
			const char *s;
			size_t len;
			cr_assert_eq(tr_msg_get_str(m, 0, &s, &len), TR_OK);
			cr_assert_eq(len, strlen(big));
			tr_msg_free(m);
			break;
		}
		cr_assert_eq(e, TR_ENOMEM, "got %s", tr_err_name(e));
		tr_msg_free(m);
		failures++;
	}
	cr_assert_gt(failures, 0, "the hook never made an allocation fail");
}

Test(alloc, node_creation_fails_cleanly_at_every_allocation)
{
	int failures = 0;
	for (long n = 0;; n++) {
		cr_assert_lt(n, 200, "never succeeded");
		tr_node_opts_t o;
		tr_node_opts_init(&o);
		o.schedulers = 2;
		tr_node_t *node = NULL;
		tr__alloc_fail_after(n);
		tr_err e = tr_node_new(&node, &o);
		tr__alloc_fail_after(-1);
		if (e == TR_OK) {
			tr_node_destroy(node);
			break;
		}
		cr_assert_eq(e, TR_ENOMEM, "got %s", tr_err_name(e));
		failures++;
	}
	cr_assert_gt(failures, 0);
}

Test(alloc, spawn_fails_cleanly_and_counts_only_real_actors)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 1;
	tr_node_t *node;
	cr_assert_eq(tr_node_new(&node, &o), TR_OK);
	int ok = 0, failures = 0;
	for (long n = 0; n < 40; n++) {
		tr_pid_t pid;
		tr_spawn_opts_t so = {.name = NULL};
		char name[32];
		snprintf(name, sizeof(name), "a%ld", n);
		so.name = name;
		tr__alloc_fail_after(n % 4);
		tr_err e = tr_spawn_opt(node, n % 2 ? &with_state : &quiet,
		                        NULL, &so, &pid, NULL);
		tr__alloc_fail_after(-1);
		if (e == TR_OK) {
			ok++;
			cr_assert(tr_is_alive(pid));
			tr_pid_t w;
			cr_assert_eq(tr_whereis(node, name, &w), TR_OK);
			cr_assert(tr_pid_eq(w, pid));
		} else {
			cr_assert_eq(e, TR_ENOMEM, "got %s", tr_err_name(e));
			cr_assert_eq(tr_whereis(node, name, NULL), TR_ENOENT,
			             "a failed spawn left its name behind");
			failures++;
		}
	}
	tr_node_stats_t st;
	cr_assert_eq(tr_node_stats(node, &st), TR_OK);
	cr_assert_eq(st.actors, (size_t)ok);
	cr_assert_eq(st.names, (size_t)ok);
	cr_assert_gt(failures, 0);
	cr_assert_gt(ok, 0);
	tr_node_destroy(node);
}

Test(alloc, inbox_and_blocking_call_fail_cleanly)
{
	tr_node_opts_t o;
	tr_node_opts_init(&o);
	o.schedulers = 1;
	tr_node_t *node;
	cr_assert_eq(tr_node_new(&node, &o), TR_OK);
	int failures = 0;
	for (long n = 0;; n++) {
		cr_assert_lt(n, 100, "never succeeded");
		tr_inbox_t *ib = NULL;
		tr__alloc_fail_after(n);
		tr_err e = tr_inbox_new(node, &ib);
		tr__alloc_fail_after(-1);
		if (e == TR_OK) {
			tr_inbox_destroy(ib);
			break;
		}
		cr_assert_eq(e, TR_ENOMEM, "got %s", tr_err_name(e));
		failures++;
	}
	cr_assert_gt(failures, 0);
	tr_node_destroy(node);
}
