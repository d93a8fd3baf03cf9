/*
 * troupe/runtime.h - the node context: schedulers, timers, the process table.
 *
 * A tr_node_t is one troupe node: it owns N scheduler threads that run
 * actors, a timer thread, the table of live actors and the local name table.
 * Several nodes may live in one process (tests do this); they share nothing
 * but a small process-wide index used to route sends between them.
 *
 * Thread: every function here may be called from any thread, except that
 * tr_node_destroy() must not be called from one of the node's own actors.
 */
#ifndef TR_RUNTIME_H
#define TR_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/err.h>
#include <troupe/pid.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_node tr_node_t;

typedef struct tr_node_opts {
	/* Node name, unique in its cluster; NULL picks "anon-<random>". At
	 * most 255 bytes. */
	const char *name;
	/* Scheduler threads; 0 = number of online CPUs. At most 256. */
	unsigned schedulers;
	/* User messages an actor handles per turn before yielding; 0 = 128. */
	unsigned batch;
	/* Incarnation; 0 = pick a fresh random non-zero one (the norm). */
	uint32_t creation;
	/* Most live actors at once; 0 = 2^24. At most 2^26. */
	size_t max_actors;
	/* Microseconds an idle scheduler polls before it sleeps; <0 = 100. */
	int spin_us;
	/* Mailbox depth above which a sending actor is paused after its
	 * callback until the receiver drains to half of it (tr_send()
	 * itself never blocks); 0 = 4096. See docs/semantics.md. */
	unsigned mailbox_high;
} tr_node_opts_t;

/** tr_node_opts_init() - fill opts with the defaults. */
TR_API void tr_node_opts_init(tr_node_opts_t *opts);

/**
 * tr_node_new() - create a node and start its threads.
 * opts may be NULL for the defaults.
 * Returns TR_EINVAL for bad options, TR_EEXIST if a node with the same name
 * already lives in this process, TR_ENOMEM, TR_EINTERNAL when a thread
 * cannot be started.
 */
TR_API tr_err tr_node_new(tr_node_t **out, const tr_node_opts_t *opts);

/**
 * tr_node_destroy() - stop the node: its schedulers and timers stop, every
 * actor still alive gets its terminate callback with reason "shutdown" (no
 * links or monitors fire; what terminate sends to the node's actors is
 * dropped), and all memory is released. Inboxes on the node must be
 * destroyed first, and no other thread may still be using the node or
 * sending to its pids. NULL is a no-op.
 * Thread: any thread but the node's own schedulers.
 */
TR_API void tr_node_destroy(tr_node_t *node);

/** tr_node_name() - borrowed; lives as long as the node. */
TR_API const char *tr_node_name(const tr_node_t *node);
TR_API uint64_t tr_node_id(const tr_node_t *node);
TR_API uint32_t tr_node_creation(const tr_node_t *node);
TR_API unsigned tr_node_schedulers(const tr_node_t *node);

/** tr_node_current() - the node of the calling actor; NULL on other threads. */
TR_API tr_node_t *tr_node_current(void);

/** tr_node_id_of_name() - the 64-bit node id a name hashes to. */
TR_API uint64_t tr_node_id_of_name(const char *name);

typedef struct tr_node_stats {
	size_t actors;      /* alive now */
	size_t actors_peak; /* most alive at once */
	uint64_t spawned;   /* since start */
	uint64_t exited;
	uint64_t messages;      /* user messages handled */
	uint64_t dropped_dead;  /* sends to dead or unknown pids */
	uint64_t dropped_stale; /* sends addressed to another incarnation */
	uint64_t late_replies; /* replies that arrived after their call ended */
	size_t timers;         /* armed now */
	size_t names;          /* locally registered names */
	unsigned schedulers;
} tr_node_stats_t;

TR_API tr_err tr_node_stats(tr_node_t *node, tr_node_stats_t *out);

typedef struct tr_sched_stats {
	uint64_t turns;     /* actor runs */
	uint64_t messages;  /* user messages handled */
	uint64_t steals;    /* actors taken from another scheduler */
	uint64_t parks;     /* times the thread went to sleep */
	uint64_t spin_hits; /* times work turned up while spinning */
	uint64_t injected;  /* actors taken from the inject queue */
	size_t queue_len;   /* runnable actors queued now (approximate) */
} tr_sched_stats_t;

/** tr_node_sched_stats() - counters of scheduler idx; TR_ERANGE if none. */
TR_API tr_err tr_node_sched_stats(tr_node_t *node, unsigned idx,
                                  tr_sched_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* TR_RUNTIME_H */
