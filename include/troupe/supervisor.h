/*
 * troupe/supervisor.h - supervisors with OTP's semantics.
 *
 * A supervisor is an actor that starts children from child specs, links
 * to them, traps exits and restarts them by its strategy when they exit,
 * within a restart intensity (at most `intensity` restarts in `period_ms`;
 * one more and it terminates every child and exits with "shutdown",
 * which its own supervisor sees). Children start in list order and stop
 * in reverse order; a child is stopped with "shutdown" and killed when its
 * shutdown time runs out (or killed at once: brutal kill). The details and
 * the differences from OTP are in docs/supervision.md.
 *
 * Threads: tr_supervisor_start() from any thread (with opts->link, from
 * the parent actor). The other calls block (plain threads only,
 * TR_ESTATE in actor context); actors send the same requests with
 * tr_call_async() (messages below).
 */
#ifndef TR_SUPERVISOR_H
#define TR_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/actor.h>
#include <troupe/err.h>
#include <troupe/msg.h>
#include <troupe/pid.h>
#include <troupe/registry.h>
#include <troupe/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tr_strategy {
	TR_ONE_FOR_ONE = 0, /* restart the child that exited */
	TR_ONE_FOR_ALL = 1, /* stop all others, restart all */
	TR_REST_FOR_ONE = 2 /* stop those started after it, restart them */
} tr_strategy_t;

typedef enum tr_restart {
	TR_PERMANENT = 0, /* always restarted */
	TR_TRANSIENT = 1, /* restarted unless it ended normal/shutdown */
	TR_TEMPORARY = 2  /* never restarted; its spec goes when it ends */
} tr_restart_t;

typedef enum tr_shutdown {
	TR_SHUTDOWN_DEFAULT = 0,  /* 5000 ms for a worker, infinity for a
	                           * supervisor */
	TR_SHUTDOWN_TIMEOUT = 1,  /* "shutdown", then kill after shutdown_ms */
	TR_SHUTDOWN_BRUTAL = 2,   /* kill at once */
	TR_SHUTDOWN_INFINITY = 3, /* "shutdown", wait as long as it takes */
} tr_shutdown_t;

typedef enum tr_child_type {
	TR_CHILD_WORKER = 0,
	TR_CHILD_SUPERVISOR = 1,
} tr_child_type_t;

typedef enum tr_auto_shutdown {
	TR_AUTO_NEVER = 0,
	TR_AUTO_ANY_SIGNIFICANT = 1, /* when a significant child ends */
	TR_AUTO_ALL_SIGNIFICANT = 2, /* when the last significant child ends */
} tr_auto_shutdown_t;

#define TR_CHILD_ID_MAX 128 /* bytes of a child id, NUL included */

/*
 * Placement: a child that runs on another node (or on any live node).
 * The supervisor starts, for such a child, a local agent actor
 * ("tr_remote_child": it is the pid the supervisor links to and shows
 * as the child's pid) which spawns the exported behaviour on the chosen
 * node linked to itself (a remote spawn_link, docs/protocol.md §6) and
 * mirrors it: the child's exit reason becomes the agent's, so restart
 * types and strategies apply unchanged; a stop ("shutdown" or a kill)
 * of the agent reaches the child through the link. When the child's
 * node is lost the link breaks with "noconnection" on both sides: the
 * child (not trapping exits) ends where it was and the supervisor
 * restarts the agent, which chooses again.
 *
 * Choice of node, among this node and the peers up (hidden ones never):
 *   node set:   that node; if it is not up, with failover the next
 *               live node after it in name order, without failover the
 *               start fails with "nodedown".
 *   node NULL:  any live node: the one the child id hashes to among the
 *               live nodes sorted by name (stable while membership is,
 *               and spread over the nodes for many children).
 * With global_name the child is registered under that cluster-wide name
 * (tr_global) before it counts as running; while the name is still held
 * (the previous owner's node not yet dropped everywhere) the agent
 * retries every 50 ms for up to name_timeout_ms, so the name is never
 * held twice and moves with the child. Details and the partition rule in
 * docs/supervision.md.
 */
typedef struct tr_placement {
	tr_net_t *net;         /* the supervisor's node's net (required) */
	const char *behaviour; /* exported on the target (tr_net_export) */
	const tr_msg_t *arg;   /* copied to every start; NULL = none */
	const char *node;      /* NULL = any live node */
	bool failover;         /* node set: go elsewhere when it is down */
	tr_global_t *global;   /* with global_name */
	const char *global_name;
	const char *resolver;      /* NULL = TR_RESOLVE_EXIT */
	uint64_t start_timeout_ms; /* remote spawn; 0 = 5000 */
	uint64_t name_timeout_ms;  /* registering the name; 0 = 10000 */
	/* Not TR_PID_NONE: gets ["placed", child_id, agent, child] each time
	 * the child runs (spawned, and registered when it has a name),
	 * after every restart too. */
	tr_pid_t notify;
} tr_placement_t;

/*
 * A child spec. beh/arg (or start/start_ctx) must live as long as the
 * supervisor may restart the child; the id is copied.
 */
typedef struct tr_child_spec {
	const char *id; /* unique within the supervisor */
	/* How to start it: beh and arg (spawned linked to the supervisor),
	 * or start, which runs in the supervisor and must spawn the child
	 * linked to tr_self(); it returns TR_OK with the pid, TR_OK with
	 * TR_PID_NONE to ignore the child (OTP's ignore), or an error. */
	const tr_behaviour_t *beh;
	void *arg;
	tr_err (*start)(void *ctx, tr_pid_t *out);
	void *start_ctx;
	/* Or start_extra, the same with the supervisor's extra argument
	 * first (a DynamicSupervisor's tr_dynsup_flags_t.extra, Elixir's
	 * extra_arguments; NULL under a plain supervisor). */
	tr_err (*start_extra)(void *extra, void *ctx, tr_pid_t *out);
	tr_restart_t restart;
	tr_shutdown_t shutdown;
	uint64_t shutdown_ms; /* with TR_SHUTDOWN_TIMEOUT */
	tr_child_type_t type;
	bool significant; /* transient or temporary, with auto_shutdown */
	/* Optional (name.ops NULL = none): the child is registered under
	 * this via-name each time it starts. The registry's register must
	 * not block (local names, Registry); the name must stay valid. */
	tr_name_t name;
	/* Optional: run the child on another node (see tr_placement_t);
	 * then beh and start must be NULL. Must live as long as beh. */
	const tr_placement_t *place;
} tr_child_spec_t;

typedef struct tr_sup_flags {
	tr_strategy_t strategy;
	unsigned intensity; /* restarts allowed in a period; 0 = 3 */
	uint64_t period_ms; /* 0 = 5000 */
	bool no_restarts;   /* intensity really 0: any restart is too many */
	tr_auto_shutdown_t auto_shutdown;
	/* Optional backoff (OTP has none): wait this long before a restart,
	 * doubling for each restart in the current period, up to
	 * backoff_max_ms. 0 = restart at once. */
	uint64_t backoff_ms, backoff_max_ms;
} tr_sup_flags_t;

TR_API void tr_sup_flags_init(tr_sup_flags_t *flags);
TR_API void tr_child_spec_init(tr_child_spec_t *spec);

/**
 * tr_supervisor_start() - spawn a supervisor and start its children, in
 * order, before returning. If a child's start fails, the children
 * already started are stopped and the error is returned (OTP's
 * {shutdown, {failed_to_start_child, Id, Reason}}); failed_id (may be
 * NULL, TR_CHILD_ID_MAX bytes) gets the child's id. TR_EINVAL for bad
 * flags or specs (no id, two children with one id, no start, a
 * significant permanent child, significant without auto_shutdown).
 * opts may be NULL; opts->trap_exit is implied.
 */
TR_API tr_err tr_supervisor_start(tr_node_t *node, const tr_sup_flags_t *flags,
                                  const tr_child_spec_t *specs, size_t n,
                                  const tr_spawn_opts_t *opts, tr_pid_t *out,
                                  char *failed_id);

/** tr_supervisor_stop() - stop every child in reverse order, then the
 *  supervisor ("normal"). */
TR_API tr_err tr_supervisor_stop(tr_node_t *node, tr_pid_t sup,
                                 uint64_t timeout_ms);

/** tr_supervisor_start_child() - add a child and start it. TR_EEXIST if
 *  the id is taken; the start's error otherwise (nothing is kept). *out
 *  (may be NULL) gets the pid (TR_PID_NONE if ignored). */
TR_API tr_err tr_supervisor_start_child(tr_node_t *node, tr_pid_t sup,
                                        const tr_child_spec_t *spec,
                                        tr_pid_t *out);
/** tr_supervisor_terminate_child() - stop it (its shutdown spec); the
 *  spec stays unless temporary. TR_ENOENT: no such id. */
TR_API tr_err tr_supervisor_terminate_child(tr_node_t *node, tr_pid_t sup,
                                            const char *id);
/** tr_supervisor_restart_child() - start a stopped child again;
 *  TR_EEXIST if it is running, TR_ENOENT if no such id. */
TR_API tr_err tr_supervisor_restart_child(tr_node_t *node, tr_pid_t sup,
                                          const char *id, tr_pid_t *out);
/** tr_supervisor_delete_child() - forget a stopped child; TR_ESTATE if it
 *  is running, TR_ENOENT if no such id. */
TR_API tr_err tr_supervisor_delete_child(tr_node_t *node, tr_pid_t sup,
                                         const char *id);

typedef struct tr_child_info {
	char id[TR_CHILD_ID_MAX];
	tr_pid_t pid; /* TR_PID_NONE: not running */
	bool restarting;
	tr_child_type_t type;
	/* Placed children: pid is the local agent, remote the actor on its
	 * node (TR_PID_NONE until it runs); TR_PID_NONE for others. */
	tr_pid_t remote;
} tr_child_info_t;

/** tr_supervisor_which_children() - up to cap children in start order;
 *  *n = how many there are. */
TR_API tr_err tr_supervisor_which_children(tr_node_t *node, tr_pid_t sup,
                                           tr_child_info_t *out, size_t cap,
                                           size_t *n);

typedef struct tr_child_counts {
	size_t specs, active, supervisors, workers;
} tr_child_counts_t;

TR_API tr_err tr_supervisor_count_children(tr_node_t *node, tr_pid_t sup,
                                           tr_child_counts_t *out);

/* ----------------------------------------------------------------------
 * DynamicSupervisor: children started on demand, all one_for_one,
 * known by pid. A child that ends and is not restarted (or is terminated)
 * is forgotten. which_children, count_children and stop are the
 * supervisor's (tr_supervisor_*).
 * ---------------------------------------------------------------------- */

typedef struct tr_dynsup_flags {
	unsigned intensity; /* 0 = 3 */
	uint64_t period_ms; /* 0 = 5000 */
	bool no_restarts;
	size_t max_children; /* 0 = no limit; running + restarting count */
	uint64_t backoff_ms, backoff_max_ms;
	/* Elixir's extra_arguments: passed to every child's start_extra
	 * (first), at each start and restart. Must outlive the supervisor. */
	void *extra;
} tr_dynsup_flags_t;

TR_API tr_err tr_dynsup_start(tr_node_t *node, const tr_dynsup_flags_t *flags,
                              const tr_spawn_opts_t *opts, tr_pid_t *out);
/**
 * tr_dynsup_behaviour() - a DynamicSupervisor as a behaviour named
 * "dynsup", for tr_net_export(): then other nodes can start one here,
 * e.g. as a placed child of type TR_CHILD_SUPERVISOR (supervisors of
 * supervisors across nodes). Spawn argument: NULL or ["dynsup",
 * intensity, period_ms, max_children]. Started by a spawn, its parent is
 * whoever linked to it: an exit signal from any process that is not one
 * of its children stops it (its children first, as any supervisor).
 * Children are added on its own node (tr_dynsup_start_child(): the
 * request carries a pointer, it cannot cross nodes).
 */
TR_API const tr_behaviour_t *tr_dynsup_behaviour(void);
/**
 * tr_dynsup_start_child() - start a child from spec (its id is ignored:
 * dynamic children are known by pid). TR_ELIMIT at max_children; the
 * start's error otherwise; *out = TR_PID_NONE if it ignored (nothing is
 * kept).
 */
TR_API tr_err tr_dynsup_start_child(tr_node_t *node, tr_pid_t sup,
                                    const tr_child_spec_t *spec, tr_pid_t *out);
/** tr_dynsup_terminate_child() - stop child (its shutdown spec) and
 *  forget it. TR_ENOENT if it is not a child of sup. */
TR_API tr_err tr_dynsup_terminate_child(tr_node_t *node, tr_pid_t sup,
                                        tr_pid_t child);

/* ----------------------------------------------------------------------
 * Task: run a function in an actor of its own and collect its result
 * (Elixir's Task). fn runs in the task's actor; it returns TR_OK with a
 * result message (handed over; NULL for none) or an error, which becomes
 * the task's exit reason (its name, e.g. "TR_EINVAL").
 *
 * From a plain thread, the task reports to an inbox of the tr_task_t:
 * await / yield / ignore / shutdown below (there is no link: a plain
 * thread cannot exit). From an actor, the task is linked to the caller
 * and monitored by it, as Task.async; its result arrives as a message
 * ["task_result", ref, result] (tr_task_result() reads it) followed by
 * the monitor's DOWN ("normal"): demonitor with TR_DEMONITOR_FLUSH when
 * the result is in.
 * ---------------------------------------------------------------------- */

typedef tr_err (*tr_task_fn)(void *arg, tr_msg_t **result);

typedef struct tr_task {
	tr_pid_t pid;
	tr_ref_t ref;      /* the owner's monitor of the task */
	tr_inbox_t *inbox; /* plain-thread owners only */
} tr_task_t;

/** tr_task_async() - start fn(arg) now. Any thread. */
TR_API tr_err tr_task_async(tr_node_t *node, tr_task_fn fn, void *arg,
                            tr_task_t *out);
/**
 * tr_task_async_nolink() - the same, the task a temporary child of the
 * DynamicSupervisor sup (Task.Supervisor.async_nolink): the caller is not
 * linked, only monitors it. Plain threads only.
 */
TR_API tr_err tr_task_async_nolink(tr_node_t *node, tr_pid_t sup, tr_task_fn fn,
                                   void *arg, tr_task_t *out);
/**
 * tr_task_await() - wait for the result (plain thread): TR_OK with
 * *result (may be NULL), TR_EEXITED if the task ended without one (reason
 * in reason_buf), TR_ETIMEDOUT: the task is killed and nothing of it will
 * ever arrive. The task is finished with in every case.
 */
TR_API tr_err tr_task_await(tr_task_t *task, uint64_t timeout_ms,
                            tr_msg_t **result, char *reason_buf,
                            size_t reason_cap);
/** tr_task_yield() - as await, but on TR_ETIMEDOUT the task goes on and
 *  may be awaited or yielded again. */
TR_API tr_err tr_task_yield(tr_task_t *task, uint64_t timeout_ms,
                            tr_msg_t **result, char *reason_buf,
                            size_t reason_cap);
/**
 * tr_task_yield_many() - Task.yield_many: wait up to timeout_ms in all for
 * n tasks (plain thread). For each, status[i]: TR_OK with results[i] (may
 * be NULL), TR_EEXITED (it ended without a result), TR_ETIMEDOUT (still
 * running: yield or await it again, unless kill_late, Elixir's
 * on_timeout: :kill_task, killed it and finished with it), TR_EINVAL (a
 * task already finished with). Returns TR_OK, or TR_EINVAL / TR_ESTATE.
 */
TR_API tr_err tr_task_yield_many(tr_task_t *tasks, size_t n,
                                 uint64_t timeout_ms, bool kill_late,
                                 tr_err *status, tr_msg_t **results);
/**
 * tr_task_await_many() - Task.await_many: every result within timeout_ms
 * in all, or none: TR_OK with results[0..n); otherwise the first failing
 * task's status (TR_EEXITED, TR_ETIMEDOUT), every task still running is
 * killed and no result is kept. Every task is finished with either way.
 */
TR_API tr_err tr_task_await_many(tr_task_t *tasks, size_t n,
                                 uint64_t timeout_ms, tr_msg_t **results);
/**
 * tr_task_start() - Task.start: run fn(arg) in an actor of its own that
 * nobody awaits, linked to nobody; its result is dropped, a failure is
 * its exit reason. *out (may be NULL) gets its pid. Any thread.
 */
TR_API tr_err tr_task_start(tr_node_t *node, tr_task_fn fn, void *arg,
                            tr_pid_t *out);
/**
 * tr_task_sup_start_child() - Task.Supervisor.start_child: the same, as a
 * temporary child of the DynamicSupervisor sup. Plain threads only.
 */
TR_API tr_err tr_task_sup_start_child(tr_node_t *node, tr_pid_t sup,
                                      tr_task_fn fn, void *arg, tr_pid_t *out);
/** tr_task_ignore() - let it run; its result is dropped. */
TR_API void tr_task_ignore(tr_task_t *task);
/** tr_task_shutdown() - stop it ("shutdown", or kill when brutal) and
 *  wait; TR_OK with *result if it had finished first, TR_ECANCELED if it
 *  was stopped. */
TR_API tr_err tr_task_shutdown(tr_task_t *task, bool brutal, tr_msg_t **result);
/**
 * tr_task_async_stream() - run fn over n inputs (args[i]) with at most
 * max_concurrency tasks at a time (0 = the node's schedulers), and hand
 * each outcome to on_result(ctx, i, status, result): status TR_OK with
 * result (the callback's to free; may be NULL), TR_EEXITED (the task
 * failed), or TR_ETIMEDOUT (it ran longer than timeout_ms and was
 * killed). ordered: outcomes come in input order; otherwise as they come.
 * Plain threads only (TR_ESTATE); returns when every input is done.
 */
TR_API tr_err tr_task_async_stream(
        tr_node_t *node, tr_task_fn fn, void *const *args, size_t n,
        unsigned max_concurrency, bool ordered, uint64_t timeout_ms,
        void (*on_result)(void *ctx, size_t i, tr_err status, tr_msg_t *result),
        void *ctx);
/** tr_task_result() - in an owner actor: is m a task's result? Then *ref
 *  and *result (a new message, the caller's; NULL if none). */
TR_API bool tr_task_result(const tr_msg_t *m, tr_ref_t *ref, tr_msg_t **result);

/*
 * Requests to a supervisor (tr_call_async(); reply ["ok", ...] or
 * ["error", "TR_E..."]):
 *   ["which_children"] -> ["ok", [[id, pid|nil, restarting, type,
 *                                  remote|nil]...]]
 *   ["count_children"] -> ["ok", specs, active, supervisors, workers]
 *   ["terminate_child", id] ["restart_child", id] ["delete_child", id]
 *   ["terminate_pid", pid] (dynamic supervisors)
 *   ["stop"]
 * start_child carries a pointer and is for tr_supervisor_start_child().
 */

#ifdef __cplusplus
}
#endif
#endif /* TR_SUPERVISOR_H */
