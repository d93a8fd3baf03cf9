/*
 * runtime/internal.h - the runtime's shared private structures.
 *
 * Layout of one node (docs/architecture.md has the long version):
 *
 *   struct tr_node
 *     process table   fixed-address slots in 4096-slot chunks; a pid's id
 *                     holds (generation << 32 | slot index), so a lookup is
 *                     one indexed load plus a generation check. Slots are
 *                     type-stable (only ever reused as actors), which makes
 *                     "increment the refcount if non-zero, then re-check
 *                     the id" a safe lookup without locks. An actor's turn
 *                     sending to an actor of its own node skips even that
 *                     (reclaim.c): a slot whose last reference is gone is
 *                     reused only after every scheduler has passed a
 *                     quiescent point, so within a turn "alive, then the
 *                     same id" is enough.
 *     schedulers      N threads, each with a run-next slot (owner only) and
 *                     a run queue (a ring under a mutex; see sched.c for
 *                     which end is used when) that thieves may take from;
 *                     plus one inject queue for wake-ups that come from
 *                     threads that are not schedulers.
 *     timers          one thread, a min-heap under a mutex.
 *     names           local name table under a mutex.
 *
 * Actor mailbox: an intrusive MPSC queue (Vyukov) with a stub node inside
 * the actor. Producers push with one atomic exchange. The low bit of head
 * marks the mailbox "empty and idle": the push that clears it is the one
 * that schedules the actor, so an actor is scheduled exactly once per
 * wake-up with no CAS on the send path (Pony's messageq idea). The owning
 * scheduler moves what it pops into a private FIFO (pq_*), handling signals
 * at once; user messages are then handled from the private FIFO in batches.
 */
#ifndef TR_RUNTIME_INTERNAL_H
#define TR_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <troupe/troupe.h>

#include "runtime/alloc.h"
#include "runtime/table.h"

struct tr_sched;
struct tr_node;

/* ---- messages ---------------------------------------------------------- */

struct tr_mnode {
	_Atomic(struct tr_mnode *) next;
};

/* Internal envelope kinds: signals that never reach behaviour code. */
enum {
	TR__SIG_FIRST = 16,
	TR__SIG_LINK = 16,     /* from wants a link */
	TR__SIG_UNLINK,        /* aux = unlink id */
	TR__SIG_UNLINK_ACK,    /* aux = unlink id */
	TR__SIG_EXIT,          /* payload ["EXIT", from, reason]; flag LINKED */
	TR__SIG_MONITOR,       /* ref = monitor ref */
	TR__SIG_DEMONITOR,     /* ref = monitor ref */
	TR__SIG_DOWN,          /* payload ["DOWN", ref, pid, reason] */
	TR__SIG_RTIMEOUT,      /* aux = receive-timeout generation */
	TR__SIG_CALL_TIMEOUT,  /* ref = call ref */
	TR__SIG_INBOX_LINK,    /* inbox control: record a link to `from` */
	TR__SIG_INBOX_MONITOR, /* inbox control: record monitor ref of `from` */
	TR__SIG_STOP,          /* payload ["EXIT", from, reason]: untrappable
	                        * exit with that reason (inbox teardown) */
	TR__SIG_MUTE_CHECK,    /* a sender paused on us (mute.c) */
};

#define TR__MSGF_LINKED 0x01 /* exit signal caused by a link */
#define TR__MSGF_SENT   0x02 /* handed to the runtime: read-only now */
#define TR__MSGF_POOLED 0x08 /* a TR__MSG_BLOCK-byte block (msgpool) */

/* Messages whose header plus payload fit in one block come from the
 * per-scheduler block cache (runtime/msg.c). */
#define TR__MSG_BLOCK 128 /* two cache lines, 64-byte aligned */

struct tr_msg { /* 96 bytes: a small message fits one 128-byte block */
	struct tr_mnode mn; /* mailbox link; must be first */
	uint8_t kind;
	uint8_t flags;
	uint16_t tag_off; /* offset of the tag string's head in data */
	uint32_t len;     /* payload bytes */
	uint32_t cap;     /* payload capacity */
	uint32_t count;   /* array elements, tag included */
	tr_pid_t from;
	tr_ref_t ref;
	uint64_t aux;
	struct tr_msg *ahead; /* prefetch hint: a later message (or NULL) */
	uint8_t *data; /* msgpack array: tag, fields; = inl until grown */
	uint8_t inl[]; /* initial payload storage */
};
_Static_assert(sizeof(struct tr_msg) <= 96, "message header grew");

tr_err tr__msg_alloc(uint8_t kind, size_t cap, tr_msg_t **out);
/* A message whose payload is ["EXIT", from, reason] / ["DOWN", ref, pid,
 * reason]; kind as given (signal or user kind). */
tr_err tr__msg_exit(uint8_t kind, tr_pid_t from, const char *reason,
                    tr_msg_t **out);
tr_err tr__msg_down(uint8_t kind, tr_ref_t ref, tr_pid_t pid,
                    const char *reason, tr_msg_t **out);
void tr__msg_blocks_release(struct tr_node *node);
void tr__msg_sched_flush(struct tr_sched *s);
/* Reason field of an EXIT/DOWN payload, copied NUL-terminated. */
void tr__msg_reason(const tr_msg_t *m, char *buf, size_t cap);
/* A message of `kind` over payload bytes already checked with
 * tr__mp_validate() to be an array of `count` elements whose first is a
 * string starting `tag_off` bytes in (len 0: no payload). */
tr_err tr__msg_from_valid(uint8_t kind, const void *bytes, size_t len,
                          uint32_t count, uint16_t tag_off, tr_msg_t **out);

/* ---- actors ------------------------------------------------------------ */

enum tr__astate {
	TR__A_FREE = 0,
	TR__A_ALIVE = 1,
	TR__A_EXITING = 2,
};

/* Owner-only flags. */
#define TR__AF_TRAP_EXIT 0x01
#define TR__AF_STOP      0x02 /* exit after this callback (stop_reason) */
#define TR__AF_INBOX     0x04
#define TR__AF_MUTE      0x10 /* mute_id is set */
#define TR__AF_REAP      0x20 /* alive when the node stopped */
#define TR__AF_GATE      0x40 /* pause on `gate` after this callback */

#define TR__EMPTY_BIT ((uintptr_t)1)

struct tr_actor {
	/* -- line 1: written by senders (rc, head, enq); the owner writes
	 *    popped/pq_pub once per turn -- */
	_Atomic uint64_t id;     /* current pid.id of this slot */
	_Atomic uint32_t rc;     /* references; 0 = slot free */
	_Atomic uint32_t astate; /* enum tr__astate */
	_Atomic(uintptr_t) head; /* mailbox head (struct tr_mnode *) | EMPTY */
	_Atomic uint64_t enq;    /* pushes ever */
	struct tr_node *node;    /* constant */
	uint32_t index;          /* constant: slot index */
	uint32_t gen;            /* generation of the current identity */
	_Atomic uint64_t popped; /* pops from the inbox, as of last turn */
	_Atomic uint32_t pq_pub; /* private queue length, as of last turn */
	_Atomic uint32_t peak;   /* mailbox high-water mark */
	/* -- owner (the scheduler running the actor) only -- */
	alignas(64) struct tr_mnode *tail;
	struct tr_mnode stub;
	tr_msg_t *pq_head; /* private FIFO of user messages */
	tr_msg_t *pq_tail;
	uint32_t pq_len;
	uint32_t flags;
	const tr_behaviour_t *beh;
	const tr_server_ops_t *sops; /* set for tr_server_start() actors */
	void *state;
	struct tr__ptab *links; /* key pid; aux = pending unlink id */
	struct tr__ptab *mons;  /* key ref; flags = TR__MON_* */
	struct tr__ptab *calls; /* key ref; pending tr_call_async() */
	union {
		tr_msg_t *current;             /* message being handled */
		struct tr_actor *retired_next; /* after exit: reclaim.c */
	};
	char *stop_reason; /* with TR__AF_STOP */
	char *name;        /* guarded by the node's names lock */
	uint64_t rt_gen;   /* receive-timeout generation */
	uint64_t rt_timer; /* armed receive-timeout timer id or 0 */
	/* -- published by the owner for introspection (relaxed) -- */
	_Atomic uint64_t st_received; /* user messages handled */
	_Atomic uint32_t st_links;
	_Atomic uint32_t st_monitors;
	_Atomic uint32_t st_trap;
	/* -- back-pressure (see mute.c) -- */
	_Atomic uint32_t muted_n; /* senders paused on us */
	_Atomic uint32_t parked;  /* we are paused on a receiver */
	struct tr_mutes *mutes;   /* guarded by the node's mute stripe */
	struct tr__gate *gate;    /* owner: with TR__AF_GATE, pause here */
	uint64_t mute_id;         /* owner: pause on the receiver with this
	                           * id (TR__AF_MUTE) */
};

_Static_assert(sizeof(struct tr_actor) <= 256,
               "an idle actor must fit in 256 bytes");

/* Monitor table entry flags. */
#define TR__MON_WATCHING 0x01 /* we watch entry.pid (DOWN comes to us) */
#define TR__MON_WATCHED  0x02 /* entry.pid watches us (we send DOWN) */
#define TR__MON_CALL     0x04 /* the monitor of a pending call */

#define TR__CHUNK_SHIFT 12
#define TR__CHUNK_SLOTS (1u << TR__CHUNK_SHIFT)
#define TR__MAX_ACTORS  (1u << 26)

/* ---- schedulers -------------------------------------------------------- */

#define TR__SLOT_CACHE 256
#define TR__OUTBOX     8

/* Messages an actor sent to one receiver during its current callback,
 * pushed as one chain when the callback returns (actor.c, "outbox"). */
#define TR__AHEAD 8 /* prefetch distance along a chain */
struct tr_outbox_ent {
	struct tr_actor *r; /* no reference: valid for the turn (reclaim.c) */
	tr_msg_t *head, *tail;
	uint32_t n;
	tr_msg_t *lag; /* TR__AHEAD messages behind tail, once n > AHEAD */
};

struct tr_sched {
	alignas(64) struct tr_node *node;
	unsigned idx;
	pthread_t thread;
	struct tr_actor *run_next;           /* owner only */
	uint64_t tick;                       /* owner only */
	uint64_t rng;                        /* owner only */
	uint32_t free_slots[TR__SLOT_CACHE]; /* owner only */
	unsigned nfree;
	void *blocks; /* owner only: cached message blocks */
	unsigned nblocks;
	struct tr_outbox_ent ob[TR__OUTBOX]; /* owner only */
	unsigned nob;
	/* reclamation (reclaim.c), owner only: slots retired here, and the
	 * batch waiting for grace period `wait_gp` */
	struct tr_actor *retired, *waiting;
	uint64_t wait_gp;
	unsigned since_qs; /* turns since the last quiescent point */

	/* the grace period this scheduler has passed (0: offline); written
	 * by the owner at quiescent points, read by reclaimers */
	alignas(64) _Atomic uint64_t qs;

	alignas(64) pthread_mutex_t lock; /* guards q* */
	struct tr_actor **q;
	size_t qhead, qlen, qcap;
	_Atomic size_t qlen_pub; /* qlen, readable without the lock */

	alignas(64) pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	bool parked; /* guarded by park_lock */

	/* statistics: written by the owner (relaxed), read by anyone */
	_Atomic uint64_t st_turns, st_messages, st_steals, st_parks,
	        st_spin_hits, st_injected;
};

/* ---- node -------------------------------------------------------------- */

struct tr_timers;
struct tr_names;

/* The distribution layer (net/) plugs in here; the runtime never includes
 * it. route: queue m for the remote pid `to` (consumes m on TR_OK; returns
 * TR_EUNREACHABLE when no connection to to.node is up). stop: called by
 * tr_node_destroy() once no scheduler runs; frees the distribution. */
struct tr_dist_ops {
	tr_err (*route)(void *dist, tr_pid_t to, tr_msg_t *m);
	void (*stop)(void *dist);
};

/* A gate pauses sending actors until it opens (mute.c): the
 * distribution layer closes one per peer whose send queue is over its
 * high mark, like a busy distribution port in Erlang. */
struct tr__gate {
	pthread_mutex_t lock;
	bool closed;
	struct tr_node *node;
	tr_pid_t *v; /* paused actors */
	size_t n, cap;
};

struct tr_node {
	char name[256];
	uint64_t id;
	uint32_t creation;
	unsigned nsched;
	unsigned batch;
	int spin_us;
	size_t max_actors;
	struct tr_sched *scheds;

	/* process table */
	_Atomic(struct tr_actor *) *chunks; /* max_actors / CHUNK_SLOTS */
	size_t nchunks;
	pthread_mutex_t slot_lock; /* guards the fields below */
	uint32_t nslots;           /* slots ever handed out */
	uint32_t *free_slots;
	size_t nfree, free_cap;

	/* inject queue: wake-ups from non-scheduler threads */
	pthread_mutex_t inj_lock;
	struct tr_actor **inj;
	size_t inj_head, inj_len, inj_cap;
	_Atomic size_t inj_len_pub;

	_Atomic unsigned nsleeping;
	_Atomic bool stopping;

	_Atomic size_t alive, peak;
	_Atomic uint64_t spawned, exited, dropped_dead, dropped_stale,
	        late_replies;
	_Atomic uint64_t next_ref;

	struct tr_names *names;
	struct tr_timers *timers;

	/* message blocks handed between schedulers in batches */
	pthread_mutex_t block_lock;
	void *block_batches; /* list of lists, guarded by block_lock */
	size_t nbatches;

	/* reclamation (reclaim.c): the grace-period counter, and slots
	 * retired by threads that are not this node's schedulers */
	alignas(64) _Atomic uint64_t gp;
	pthread_mutex_t retire_lock; /* guards the three below */
	struct tr_actor *retired;
	_Atomic bool retired_any;
	bool reclaim_on; /* scheduler threads run: retire, do not free */

	/* back-pressure */
	uint32_t mb_high, mb_low;      /* mailbox depth thresholds */
	pthread_mutex_t mute_lock[64]; /* stripes, by receiver slot */

	/* distribution (net/), set once before traffic flows; last, so the
	 * hot fields above keep their cache lines */
	const struct tr_dist_ops *dist_ops;
	void *dist;
	/* a simulation's node (tr__sim_node_new): no scheduler or timer
	 * thread; the simulation runs it with tr__sim_node_run() and
	 * tr__sim_timers_fire() on its own thread */
	bool manual;
};

/* ---- thread context ---------------------------------------------------- */

/* initial-exec: libtroupe is linked, not dlopen()ed, so the cheap TLS
 * model is safe and avoids a __tls_get_addr call per access. */
#define TR__TLS _Thread_local __attribute__((tls_model("initial-exec")))
extern TR__TLS struct tr_sched *tr__tls_sched;
extern TR__TLS struct tr_actor *tr__tls_actor;

/* Add to a counter only its owner thread writes (no locked instruction). */
#define TR__OWNER_ADD(ctr, v)                                             \
	atomic_store_explicit(                                            \
	        &(ctr),                                                   \
	        atomic_load_explicit(&(ctr), memory_order_relaxed) + (v), \
	        memory_order_relaxed)

static inline tr_pid_t tr__pid_of(const struct tr_actor *a)
{
	tr_pid_t p = {a->node->id,
	              atomic_load_explicit(&a->id, memory_order_relaxed),
	              a->node->creation};
	return p;
}

static inline uint32_t tr__pid_index(tr_pid_t pid)
{
	return (uint32_t)pid.id;
}

/* node.c */
tr_node_t *tr__node_by_id(uint64_t id);
/* Attach the distribution layer (once; TR_EEXIST otherwise). */
tr_err tr__node_set_dist(struct tr_node *node, const struct tr_dist_ops *ops,
                         void *dist);
void tr__node_clear_dist(struct tr_node *node);
tr_err tr__route_any(tr_pid_t to, tr_msg_t *m);
tr_ref_t tr__make_ref(struct tr_node *node);

/* actor.c */
/* Take a reference on the live local actor pid, or NULL (dead, unknown,
 * other incarnation). */
struct tr_actor *tr__actor_get(struct tr_node *node, tr_pid_t pid);
void tr__actor_put(struct tr_actor *a);
/* Release a slot whose last reference is gone: drain what reached it
 * after its exit, free the slot for reuse. Only when no turn can still
 * hold it (reclaim.c decides when). */
void tr__actor_free_slot(struct tr_actor *a);
/* Push everything the running actor has batched (see actor.c). */
void tr__outbox_flush(struct tr_sched *s);
/* Deliver m (any kind) to pid on node; consumes m in every case. */
/* Returns the receiver's mailbox depth after the push (0 when the
 * message went to an outbox or to a dead pid). */
uint64_t tr__deliver(struct tr_node *node, tr_pid_t to, tr_msg_t *m);
/* Route m to pid wherever it lives; consumes m unless an error is
 * returned. from_node: sender's node, if any. */
tr_err tr__route(struct tr_node *from_node, tr_pid_t to, tr_msg_t *m);
/* Start the exit of self with reason (owner context). */
void tr__actor_exit(struct tr_actor *self, const char *reason);
void tr__actor_reap_all(struct tr_node *node);
tr_err tr__spawn(struct tr_node *node, const tr_behaviour_t *beh,
                 const tr_server_ops_t *sops, void *arg,
                 const tr_spawn_opts_t *opts, uint32_t extra_flags,
                 tr_pid_t *out, tr_ref_t *mref);
void tr__run_actor(struct tr_sched *s, struct tr_actor *a);
void tr__pq_append(struct tr_actor *a, tr_msg_t *m);
void tr__pq_filter(struct tr_actor *a, bool (*drop)(tr_msg_t *, void *),
                   void *arg);
/* Owner: publish links/monitors/trap counts for tr_actor_info(). */
void tr__actor_publish(struct tr_actor *a);

/* signal.c */
/* Handle one popped signal in self's context. Returns true if the actor
 * must exit (reason written to reason_buf). */
bool tr__handle_signal(struct tr_actor *self, tr_msg_t *m, char *reason_buf);
/* A signal addressed to a dead pid: answer LINK/MONITOR with noproc, free
 * everything. */
void tr__signal_to_dead(struct tr_node *node, tr_pid_t dead, tr_msg_t *m);
/* Same for a pid of an old incarnation of a remote node, on behalf of a
 * local sender of node (answered on node, "noproc"). */
void tr__signal_stale(struct tr_node *node, tr_pid_t dead, tr_msg_t *m);
/* Same for a pid whose node cannot be reached ("noconnection"). */
void tr__signal_unreachable(tr_pid_t to, tr_msg_t *m);
/* What crossed a connection between two nodes, for the distribution's
 * cross table: a link, a monitor the local actor holds (OUT) or one held
 * on it (IN). */
enum tr__crossing { TR__CROSS_LINK = 1, TR__CROSS_MON_OUT, TR__CROSS_MON_IN };
/* The connection it crossed is lost: deliver to the local actor what a
 * node's loss means (EXIT or DOWN "noconnection" from remote, or the
 * remote watcher's monitor dropped). */
void tr__connection_lost(struct tr_node *node, enum tr__crossing what,
                         tr_pid_t local, tr_pid_t remote, tr_ref_t ref);
/* Send a payload-less signal; answers itself if `to` is unreachable. */
void tr__send_signal(uint8_t kind, tr_pid_t from, tr_pid_t to, tr_ref_t ref,
                     uint64_t aux);
/* Exit-time propagation: EXIT to links, DOWN to watchers. */
void tr__signal_exit_propagate(struct tr_actor *self, const char *reason);
tr_err tr__link(struct tr_actor *self, tr_pid_t pid);
tr_err tr__monitor(struct tr_actor *self, tr_pid_t pid, tr_ref_t ref,
                   uint32_t extra);
tr_err tr__demonitor(struct tr_actor *self, tr_ref_t ref, unsigned flags);
tr_err tr__send_exit(struct tr_node *node, tr_pid_t from, tr_pid_t to,
                     const char *reason, bool linked);

/* mute.c: back-pressure on senders to overloaded mailboxes */
void tr__mute_check(struct tr_actor *receiver, uint64_t depth);
bool tr__mute_park(struct tr_actor *sender);
void tr__mute_release(struct tr_actor *receiver, bool all);
uint64_t tr__mailbox_depth(struct tr_actor *a);
void tr__gate_init(struct tr__gate *g, struct tr_node *node);
void tr__gate_destroy(struct tr__gate *g); /* opens it first */
void tr__gate_close(struct tr__gate *g);
void tr__gate_open(struct tr__gate *g);
/* Sender side: if called from an actor's callback (not an inbox), the
 * actor pauses on g when the callback returns, unless g opened by then. */
void tr__gate_hold(struct tr__gate *g);
bool tr__gate_park(struct tr_actor *s);

/* reclaim.c: slots of dead actors are reused only after a grace period
 * (see there). */
void tr__reclaim_init(struct tr_node *node);
void tr__reclaim_destroy(struct tr_node *node);
/* The last reference to a is gone: free its slot now or after a grace
 * period. Any thread. */
void tr__retire(struct tr_actor *a);
/* Scheduler s is between turns. turn: after a turn (cheap; a real
 * quiescent point every so many turns); else idle (always one). */
void tr__reclaim_quiescent(struct tr_sched *s, bool turn);
/* Scheduler s parks / wakes up: it holds nothing while offline. false:
 * do not park, s is still (or again) online: freeing a slot woke an
 * actor onto its run-next slot, or slots wait and no other scheduler is
 * online (s frees them at its next quiescent point). */
bool tr__reclaim_offline(struct tr_sched *s);
void tr__reclaim_online(struct tr_sched *s);
/* Scheduler threads start / have all been joined (frees everything
 * still waiting). */
void tr__reclaim_start(struct tr_node *node);
void tr__reclaim_stop(struct tr_node *node);

/* sched.c */
tr_err tr__sched_start(struct tr_node *node);
void tr__sched_stop(struct tr_node *node);
void tr__sched_wake(struct tr_node *node, struct tr_actor *a);
void tr__sched_requeue(struct tr_sched *s, struct tr_actor *a);
void tr__sched_wake_elsewhere(struct tr_node *node, struct tr_actor *a);
uint32_t tr__sched_slot_get(struct tr_node *node, bool *fresh);
void tr__sched_slot_put(struct tr_node *node, uint32_t index);

/* names.c */
tr_err tr__names_new(struct tr_names **out);
void tr__names_destroy(struct tr_names *n);
void tr__names_release(struct tr_node *node, struct tr_actor *a);
size_t tr__names_count(struct tr_node *node);
void tr__names_copy(struct tr_node *node, struct tr_actor *a, char *buf,
                    size_t cap);
tr_err tr__names_register(struct tr_node *node, const char *name,
                          struct tr_actor *a);

/* timer.c */
tr_err tr__timers_start(struct tr_node *node);
void tr__timers_stop(struct tr_node *node);
tr_err tr__timer_arm(struct tr_node *node, tr_pid_t to, tr_msg_t *m,
                     uint64_t ms, uint64_t *id);
tr_err tr__timer_cancel(struct tr_node *node, uint64_t id, uint64_t *left);
size_t tr__timers_count(struct tr_node *node);
uint64_t tr__now_ns(void);

/*
 * Deterministic simulation (tests/sim): a whole cluster in one thread.
 * tr__sim_clock_set() replaces the monotonic clock of the process (NULL
 * restores it); a manual node has no threads: tr__sim_node_run() runs up
 * to max actor turns on the caller's thread (returns how many ran, 0 when
 * nothing is ready), tr__sim_timers_fire() delivers the timers due at the
 * clock's now, tr__sim_timers_next() is the earliest deadline
 * (UINT64_MAX: none). Not for production use.
 */
void tr__sim_clock_set(uint64_t (*clock)(void));
tr_err tr__sim_node_new(struct tr_node **out, const tr_node_opts_t *opts);
unsigned tr__sim_node_run(struct tr_node *node, unsigned max);
void tr__sim_timers_fire(struct tr_node *node);
uint64_t tr__sim_timers_next(struct tr_node *node);

/* call.c */
/* A reply or call-monitor DOWN / timeout for self: returns true if it
 * belonged to a pending call (consumed). */
bool tr__call_dispatch(struct tr_actor *self, tr_msg_t *m);
void tr__calls_abort(struct tr_actor *self);

/* inbox.c */
void tr__inbox_receive(void *state, tr_msg_t *m);

/* server.c */
void tr__server_dispatch(struct tr_actor *a, tr_msg_t *m);
extern const tr_behaviour_t tr__server_behaviour;

#endif
