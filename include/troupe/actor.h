/*
 * troupe/actor.h - actors, signals, names, timers and calls.
 *
 * An actor is a behaviour (a table of callbacks) plus a state pointer and a
 * mailbox. The runtime calls the behaviour's receive callback once per
 * message, on one of the node's scheduler threads, never on two threads at
 * once for the same actor. Callbacks must not block: to wait for an answer
 * use tr_call_async(), whose continuation runs later in the same actor.
 *
 * Exit reasons are strings, as Erlang's are atoms: "normal", "kill",
 * "killed", "shutdown", "noproc", "noconnection", or any text up to
 * TR_REASON_MAX - 1 bytes. "shutdown" and any reason starting with
 * "shutdown:" count as a shutdown (Erlang's {shutdown, Term}).
 *
 * Exit signals follow Erlang's rules (docs/semantics.md):
 *   - an exit signal with reason "normal" from another actor is ignored by
 *     an actor that does not trap exits;
 *   - tr_exit(pid, "kill") cannot be trapped and ends pid with "killed";
 *   - a trapping actor gets other exit signals as TR_MSG_EXIT messages;
 *   - linking or monitoring a dead pid gives "noproc";
 *   - signals from one actor to another arrive in the order they were sent.
 *
 * Thread contract ("Thread:" lines): "actor context" means inside a
 * behaviour callback of an actor of the node. Calls that need an actor
 * return TR_ESTATE elsewhere.
 */
#ifndef TR_ACTOR_H
#define TR_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/err.h>
#include <troupe/msg.h>
#include <troupe/pid.h>
#include <troupe/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TR_REASON_MAX 256 /* bytes of a reason, NUL included */
#define TR_NAME_MAX   256 /* bytes of a local name, NUL included */

/* Well-known reasons. */
#define TR_NORMAL       "normal"
#define TR_KILL         "kill"
#define TR_KILLED       "killed"
#define TR_SHUTDOWN     "shutdown"
#define TR_NOPROC       "noproc"
#define TR_NOCONNECTION "noconnection"

/** tr_reason_is_shutdown() - "normal", "shutdown" or "shutdown:..." */
TR_API bool tr_reason_is_shutdown(const char *reason);

typedef struct tr_behaviour {
	/* Name shown by introspection and used to spawn by name remotely. */
	const char *name;
	/*
	 * Optional. Runs in the new actor's context before tr_spawn()
	 * returns; *state starts as the spawn argument and may be replaced.
	 * A result other than TR_OK makes tr_spawn() fail with it: the actor
	 * never existed and no link or monitor fires.
	 */
	tr_err (*init)(void **state, void *arg);
	/* Required. One call per message; see msg.h for ownership. */
	void (*receive)(void *state, tr_msg_t *msg);
	/*
	 * Optional. Called exactly once when the actor ends, whatever the
	 * reason (also "killed" and node shutdown), to release the state.
	 * It runs in actor context but may not receive or call.
	 */
	void (*terminate)(void *state, const char *reason);
} tr_behaviour_t;

typedef struct tr_spawn_opts {
	bool link;        /* link to the caller (needs actor context) */
	bool monitor;     /* caller monitors the child (needs actor context) */
	bool trap_exit;   /* the child starts trapping exits */
	const char *name; /* register the child under this local name */
} tr_spawn_opts_t;

/**
 * tr_spawn() - start an actor on node (NULL: the caller's node).
 * Returns TR_OK and the pid in *out (may be NULL), TR_EINVAL (no node, no
 * receive), TR_ELIMIT (max_actors reached), TR_ENOMEM, TR_ECLOSED (node
 * stopping), or the init callback's error.
 * Thread: any thread.
 */
TR_API tr_err tr_spawn(tr_node_t *node, const tr_behaviour_t *beh, void *arg,
                       tr_pid_t *out);
/** tr_spawn_link() - spawn and link atomically. Thread: actor context. */
TR_API tr_err tr_spawn_link(const tr_behaviour_t *beh, void *arg,
                            tr_pid_t *out);
/** tr_spawn_monitor() - spawn and monitor atomically. Thread: actor ctx. */
TR_API tr_err tr_spawn_monitor(const tr_behaviour_t *beh, void *arg,
                               tr_pid_t *out, tr_ref_t *mref);
/**
 * tr_spawn_opt() - spawn with options. mref receives the monitor ref when
 * opts->monitor is set. TR_EEXIST when opts->name is taken (nothing is
 * spawned then).
 */
TR_API tr_err tr_spawn_opt(tr_node_t *node, const tr_behaviour_t *beh,
                           void *arg, const tr_spawn_opts_t *opts,
                           tr_pid_t *out, tr_ref_t *mref);

/** tr_self() - the calling actor, or TR_PID_NONE outside actor context. */
TR_API tr_pid_t tr_self(void);

/**
 * tr_send() - send msg to pid. On TR_OK the runtime owns msg. A dead pid
 * is not an error (Erlang's rule): the message is dropped and counted.
 * Returns TR_EINVAL (NULL msg, none pid), TR_EUNREACHABLE (pid of a node
 * this process cannot reach).
 * Thread: any thread.
 */
TR_API tr_err tr_send(tr_pid_t to, tr_msg_t *msg);

/**
 * tr_send_name() - send to a locally registered name on node (NULL: the
 * caller's node). TR_ENOENT when no actor has the name (msg stays yours).
 */
TR_API tr_err tr_send_name(tr_node_t *node, const char *name, tr_msg_t *msg);

/** tr_cast() - send msg as TR_MSG_CAST (a gen_server cast). */
TR_API tr_err tr_cast(tr_pid_t to, tr_msg_t *msg);

/**
 * tr_exit() - send an exit signal with reason to pid (Erlang exit/2).
 * With pid == tr_self() it is a signal to oneself, handled after the
 * current callback. Thread: any thread; from actor context pid may be on
 * any node its node's net reaches, from a plain thread (the signal has
 * no sender then) only on the nodes of this process (TR_EUNREACHABLE
 * otherwise).
 */
TR_API tr_err tr_exit(tr_pid_t pid, const char *reason);

/**
 * tr_stop() - end the calling actor with reason once the current callback
 * returns (Erlang exit/1; cannot be trapped). Thread: actor context.
 */
TR_API tr_err tr_stop(const char *reason);

/**
 * tr_link() / tr_unlink() - create or remove the link between the caller
 * and pid. Linking an existing link or oneself does nothing. Linking a dead
 * pid makes the caller receive an exit signal "noproc". tr_unlink() returns
 * at once; exit signals of the old link are dropped from then on.
 * Thread: actor context.
 */
TR_API tr_err tr_link(tr_pid_t pid);
TR_API tr_err tr_unlink(tr_pid_t pid);

/**
 * tr_monitor() - monitor pid; *ref receives the monitor reference. When
 * pid ends (or is already dead: "noproc") the caller gets one TR_MSG_DOWN.
 * Monitors stack: each call is independent. Thread: actor context.
 */
TR_API tr_err tr_monitor(tr_pid_t pid, tr_ref_t *ref);

#define TR_DEMONITOR_FLUSH 1u /* also drop a DOWN already queued */
#define TR_DEMONITOR_INFO  2u /* TR_ENOENT if the monitor was not active */

/**
 * tr_demonitor() - turn a monitor off; no DOWN for it arrives afterwards.
 * Without TR_DEMONITOR_INFO it returns TR_OK for unknown refs too.
 * Thread: actor context.
 */
TR_API tr_err tr_demonitor(tr_ref_t ref, unsigned flags);

/** tr_trap_exit() - set the trap_exit flag; *old (may be NULL) gets the
 *  previous value. Thread: actor context. */
TR_API tr_err tr_trap_exit(bool on, bool *old);

/** tr_is_alive() - true while a local pid has not begun to exit. */
TR_API bool tr_is_alive(tr_pid_t pid);

/*
 * Local names (Erlang register/unregister/whereis). A name is released when
 * its actor exits, before the actor's links and monitors fire. An actor has
 * at most one name.
 */

/** tr_register() - TR_EEXIST if the name is taken or pid already has a
 *  name, TR_ENOENT if pid is dead, TR_EINVAL for bad names. */
TR_API tr_err tr_register(tr_node_t *node, const char *name, tr_pid_t pid);
/** tr_unregister() - TR_ENOENT if the name is not registered. */
TR_API tr_err tr_unregister(tr_node_t *node, const char *name);
/** tr_whereis() - TR_ENOENT if the name is not registered. */
TR_API tr_err tr_whereis(tr_node_t *node, const char *name, tr_pid_t *out);

/*
 * Timers. The clock is monotonic (CLOCK_MONOTONIC); wall-clock changes do
 * not move timers.
 */
typedef struct tr_timer {
	uint64_t id;
} tr_timer_t;

/**
 * tr_send_after() - deliver msg to pid after ms milliseconds. On TR_OK the
 * runtime owns msg; *timer (may be NULL) receives a handle for
 * tr_cancel_timer(). node NULL: the caller's node. Thread: any thread.
 */
TR_API tr_err tr_send_after(tr_node_t *node, tr_pid_t to, tr_msg_t *msg,
                            uint64_t ms, tr_timer_t *timer);
/**
 * tr_cancel_timer() - cancel; the message is freed and never delivered.
 * *left_ms (may be NULL) receives the time that was left. TR_ENOENT if the
 * timer already fired or was cancelled.
 */
TR_API tr_err tr_cancel_timer(tr_node_t *node, tr_timer_t timer,
                              uint64_t *left_ms);

/**
 * tr_receive_timeout() - if no message reaches the calling actor within ms
 * milliseconds, deliver one TR_MSG_TIMEOUT (gen_server's timeout). Any
 * message handled first disarms it; ms == 0 disarms it now.
 * Thread: actor context.
 */
TR_API tr_err tr_receive_timeout(uint64_t ms);

/*
 * Calls (request/reply). The callee sees a TR_MSG_CALL and answers with
 * tr_reply(). The caller monitors the callee for the duration of the call,
 * so a callee that dies ends the call with TR_EEXITED and its reason. A
 * reply that arrives after the call ended (timeout, DOWN) is dropped before
 * it reaches the caller's code, and counted (stats.late_replies).
 */
typedef struct tr_from {
	tr_pid_t pid;
	tr_ref_t ref;
} tr_from_t;

/**
 * Continuation of tr_call_async(). status is TR_OK with reply (owned by the
 * callback: free it or keep it), TR_ETIMEDOUT, or TR_EEXITED with the
 * callee's exit reason ("noproc" for a dead callee). Runs in the caller's
 * actor context with the caller's state.
 */
typedef void (*tr_reply_fn)(void *state, tr_err status, tr_msg_t *reply,
                            const char *reason, void *ctx);

#define TR_INFINITY UINT64_MAX /* no timeout */

/**
 * tr_call_async() - send req as a call and continue in fn. On TR_OK the
 * runtime owns req and fn runs exactly once; on error fn never runs.
 * Thread: actor context.
 */
TR_API tr_err tr_call_async(tr_pid_t to, tr_msg_t *req, uint64_t timeout_ms,
                            tr_reply_fn fn, void *ctx);

/**
 * tr_call() - blocking call for plain threads (main, test, foreign
 * threads). On TR_OK *reply is the reply (yours to free). Returns
 * TR_ETIMEDOUT, TR_EEXITED (the callee exited; reason copied into
 * reason_buf when given), TR_ESTATE from actor context (use
 * tr_call_async there). node NULL: the node of pid, if local.
 */
TR_API tr_err tr_call(tr_node_t *node, tr_pid_t to, tr_msg_t *req,
                      uint64_t timeout_ms, tr_msg_t **reply, char *reason_buf,
                      size_t reason_cap);

/** tr_msg_from() - the caller of a TR_MSG_CALL (to answer later). */
TR_API tr_err tr_msg_from(const tr_msg_t *call, tr_from_t *out);

/** tr_reply() - answer a call. A caller that is gone is not an error.
 *  Thread: any thread. */
TR_API tr_err tr_reply(const tr_from_t *from, tr_msg_t *reply);

/*
 * Inboxes: a mailbox for a plain thread (main(), a test, a foreign thread).
 * An inbox is an actor whose messages are queued for tr_inbox_receive(); it
 * traps exits, so linked or monitored actors' ends arrive as messages.
 */
typedef struct tr_inbox tr_inbox_t;

TR_API tr_err tr_inbox_new(tr_node_t *node, tr_inbox_t **out);
/** tr_inbox_destroy() - end the inbox actor ("normal") and free it. */
TR_API void tr_inbox_destroy(tr_inbox_t *inbox);
TR_API tr_pid_t tr_inbox_pid(const tr_inbox_t *inbox);
/**
 * tr_inbox_receive() - wait up to timeout_ms (TR_INFINITY: forever) for
 * the next message. TR_ETIMEDOUT when none came, TR_ECLOSED once the inbox
 * actor has ended (killed through a link, say) and nothing is left.
 * *out is yours to free (and to send on).
 */
TR_API tr_err tr_inbox_receive(tr_inbox_t *inbox, uint64_t timeout_ms,
                               tr_msg_t **out);
/**
 * tr_inbox_receive_match() - selective receive: the first message (oldest
 * first) for which match(msg, arg) is true; others stay queued in order.
 */
TR_API tr_err tr_inbox_receive_match(tr_inbox_t *inbox, uint64_t timeout_ms,
                                     bool (*match)(const tr_msg_t *, void *),
                                     void *arg, tr_msg_t **out);
/** tr_inbox_link() - the inbox links to pid. Like tr_link(), it takes
 *  effect before anything this thread sends afterwards. */
TR_API tr_err tr_inbox_link(tr_inbox_t *inbox, tr_pid_t pid);
/** tr_inbox_monitor() - the inbox monitors pid; *ref is set at once, and
 *  the monitor is in place before anything this thread sends afterwards. */
TR_API tr_err tr_inbox_monitor(tr_inbox_t *inbox, tr_pid_t pid, tr_ref_t *ref);

/* Introspection. */

typedef enum tr_actor_state {
	TR_ACTOR_IDLE,     /* waiting for messages */
	TR_ACTOR_RUNNABLE, /* has messages, queued or running */
	TR_ACTOR_EXITING,
} tr_actor_state_t;

typedef struct tr_actor_info {
	tr_pid_t pid;
	const char *behaviour;  /* borrowed from the behaviour table */
	char name[TR_NAME_MAX]; /* registered name or "" */
	size_t mailbox_len;     /* messages waiting (approximate) */
	size_t mailbox_peak;    /* high-water mark */
	uint64_t received;      /* user messages handled */
	size_t links;
	size_t monitors; /* monitors held plus monitors on it */
	bool trap_exit;
	tr_actor_state_t state;
} tr_actor_info_t;

/** tr_actor_info() - a snapshot of one local actor; TR_ENOENT if dead. */
TR_API tr_err tr_actor_info(tr_node_t *node, tr_pid_t pid,
                            tr_actor_info_t *out);

/**
 * tr_node_actors() - the pids of up to cap live actors into buf; *n gets
 * how many are alive in all (which may exceed cap).
 */
TR_API tr_err tr_node_actors(tr_node_t *node, tr_pid_t *buf, size_t cap,
                             size_t *n);

#ifdef __cplusplus
}
#endif
#endif /* TR_ACTOR_H */
