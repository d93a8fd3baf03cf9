/*
 * tests/helpers/helpers.h - shared fixtures for the runtime suites.
 *
 * Every wait here is on an event (an inbox message, a reply, a DOWN) with
 * a timeout; nothing sleeps to synchronise.
 */
#ifndef TR_TESTS_HELPERS_H
#define TR_TESTS_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <troupe/troupe.h>

#define WAIT_MS 5000 /* generous: sanitizer builds on 2 busy cores */

extern tr_node_t *node;
extern tr_inbox_t *inbox;
extern tr_pid_t me; /* the inbox's pid */

/* Criterion .init/.fini: a 2-scheduler node and an inbox. */
void setup_node(void);
void setup_node1(void); /* 1 scheduler */
void teardown_node(void);

tr_msg_t *mk(const char *tag);
tr_msg_t *mk_int(const char *tag, int64_t v);
tr_msg_t *mk_pid(const char *tag, tr_pid_t p);

/* Next message of the inbox; fails the test after WAIT_MS. */
tr_msg_t *recv_any(void);
/* Next message with this tag (others stay queued). */
tr_msg_t *recv_tag(const char *tag);
/* Next message of this kind. */
tr_msg_t *recv_kind(tr_msg_kind_t kind);
/* Next notice a puppet forwarded (EXIT, DOWN, timeout): a plain message
 * whose payload is the notice's: EXIT [from, reason], DOWN [ref, pid,
 * reason]. */
tr_msg_t *recv_fwd(const char *tag);
/* True if a message with this tag arrives within ms. */
bool got_tag_within(const char *tag, uint64_t ms);
/* Round trip through the inbox itself: every message sent to the inbox
 * by a given actor before this call has arrived once it returns, when
 * used after that actor confirmed (see uses). */
void expect_no_tag(const char *tag, uint64_t ms);

/* An echo actor: replies to the sender of every plain message with
 * ["echo", <same fields as raw>] and answers calls with ["reply", ...]. */
extern const tr_behaviour_t echo_b;

/* A relay actor: forwards every message it gets to the pid given as
 * spawn argument (a tr_pid_t *), prefixed ["got", kind, tag]. */
extern const tr_behaviour_t relay_b;

/* An actor that does what it is told by message tag:
 *   ["stop", reason]      tr_stop(reason)
 *   ["trap", bool]        tr_trap_exit
 *   ["link", pid]         tr_link
 *   ["unlink", pid]       tr_unlink
 *   ["monitor", pid]      tr_monitor; replies ["monitored", ref] to me
 *   ["exit", pid, reason] tr_exit
 *   ["send", pid, tag]    sends [tag] to pid
 *   ["ping"]              replies ["pong"] to me
 * and forwards every EXIT/DOWN/TIMEOUT it gets to `me` (as a plain
 * message with the same payload: see recv_fwd), plus terminate as
 * ["terminated", pid, reason]. Spawn argument: NULL. */
extern const tr_behaviour_t puppet_b;

tr_pid_t spawn_puppet(void);
/* Send and wait for the puppet's "pong": everything sent before has been
 * handled. */
void sync_with(tr_pid_t pid);
/* Wait until pid is dead, via a monitor from the inbox made now (so the
 * reason may be "noproc" if it is already dead). */
void await_death(tr_pid_t pid, char *reason, size_t cap);
/* The inbox monitors pid now; down() waits for that monitor's DOWN. Set
 * the monitor up before causing the death to see the real reason. */
tr_ref_t mon(tr_pid_t pid);
void down(tr_ref_t ref, char *reason, size_t cap);

/* Multi-node suites: a node named `name` with 2 schedulers, and its net
 * on tcp://127.0.0.1:* with the shared secret. */
tr_node_t *new_node(const char *name);
tr_net_t *new_net(tr_node_t *n, const char *secret);

/* A tests/net/node_proc child, in a process of its own (path in
 * $TR_NODE_PROC). It reads its stdin until EOF, so it goes away with the
 * test process whatever happens to it. */
struct node_child {
	pid_t pid; /* 0 once reaped */
	int in;    /* its stdin; -1 once closed */
	FILE *out; /* its stdout */
	char endpoint[256];
	unsigned creation;
};

/* Start node `name` with `secret`, joining `join` (may be NULL); with
 * global it also runs the global registry. Returns once it is READY. */
void node_child_start(struct node_child *c, const char *name,
                      const char *secret, const char *join, bool global);
/* SIGKILL it if it still runs, wait for it, release its pipes. */
void node_child_reap(struct node_child *c);

#endif
