/*
 * troupe/registry.h - names: the cluster-wide global registry, Elixir's
 * Registry for one node, and via-names, the one naming interface that all
 * of them (and registries users write) implement.
 *
 * The algorithm, its invariants and its failure behaviour are in
 * docs/registry.md; the guarantees in docs/semantics.md.
 */
#ifndef TR_REGISTRY_H
#define TR_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/actor.h>
#include <troupe/err.h>
#include <troupe/msg.h>
#include <troupe/node.h>
#include <troupe/pid.h>
#include <troupe/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * The global registry (Erlang's `global`, under a leader lock).
 *
 * Every node of a cluster runs one global server (tr_global_start()). The
 * servers agree on the set of nodes that run one (the view); the node
 * with the smallest name in an agreed view is the leader. Each time the
 * view changes, the leader takes a new epoch (larger than any epoch any
 * member has seen: a fencing token), merges the members' tables, settles
 * clashes with the names' resolvers and installs the result on every
 * member. From then on the leader alone orders registrations and locks:
 * it numbers each operation (epoch, seq), every member applies them in
 * that order and rejects anything from an older epoch, and a caller is
 * answered only when every member of the view has applied the operation.
 * Lookups never leave the node and take no lock.
 *
 * While members disagree on the view (a node is coming or going, or the
 * network is split so that A sees B, B sees C and A does not see C),
 * operations wait; a caller whose timeout passes first gets TR_ETIMEDOUT
 * (the operation is then cancelled if it had not reached the leader).
 *
 * Thread: the blocking calls (register, unregister, locks, sync) are for
 * plain threads (TR_ESTATE in actor context); actors send the same
 * requests to tr_global_server() with tr_call_async() (see below).
 * Lookups, send and the introspection calls work from any thread.
 * ====================================================================== */

typedef struct tr_global tr_global_t;

#define TR_GLOBAL_SERVER   "tr_global" /* the server's local name */
#define TR_RESOLVER_MAX    32          /* bytes of a resolver id, NUL incl. */
#define TR_GLOBAL_NAME_MAX 255         /* bytes of a global name */

/*
 * Built-in resolvers, applied when two partitions that each registered
 * the same name heal. "Earlier" is the grant with the smaller
 * (epoch, seq), then the smaller pid: every node computes the same.
 *   TR_RESOLVE_EXIT    keep the earlier grant, kill the other ("kill").
 *                      The default, as global's random_exit_name.
 *   TR_RESOLVE_NOTIFY  keep the earlier grant; the other gets
 *                      ["global_name_conflict", name] and keeps running.
 *   TR_RESOLVE_NONE    unregister the name; both get
 *                      ["global_name_conflict", name, other_pid].
 * The resolver of the earlier grant is the one applied.
 */
#define TR_RESOLVE_EXIT   "exit"
#define TR_RESOLVE_NOTIFY "notify"
#define TR_RESOLVE_NONE   "none"

/*
 * A user resolver: return a or b to keep that one (the other gets
 * ["global_name_conflict", name]), or TR_PID_NONE to unregister the name
 * (both get ["global_name_conflict", name, other_pid]). It runs on the
 * leader, in its server actor: it must not block. It is looked up by id
 * on the leader; a resolver the leader does not know is treated as
 * TR_RESOLVE_EXIT and counted (stats.resolver_missing).
 */
typedef tr_pid_t (*tr_resolve_fn)(const char *name, tr_pid_t a, tr_pid_t b,
                                  void *ctx);

typedef struct tr_global_opts {
	/* Tombstones of unregistered names (which keep an unregistration
	 * from being undone by a partition that still had the name) are
	 * kept this long and at most this many; 0 = 10 min, 100,000. */
	unsigned tombstone_ms;
	size_t tombstones_max;
} tr_global_opts_t;

TR_API void tr_global_opts_init(tr_global_opts_t *opts);

/**
 * tr_global_start() - run the global server of net's node (registered
 * locally as TR_GLOBAL_SERVER). opts may be NULL. TR_EEXIST if the node
 * already runs one. Thread: any thread but actor context.
 */
TR_API tr_err tr_global_start(tr_net_t *net, const tr_global_opts_t *opts,
                              tr_global_t **out);
/**
 * tr_global_stop() - stop the server and free g. Stop the registry before
 * the net (tr_net_stop) and the node; after tr_node_destroy() it only
 * frees. Names this node's actors held vanish from the other nodes when
 * they see this node's server go. NULL is a no-op.
 */
TR_API void tr_global_stop(tr_global_t *g);

/** tr_global_server() - the server's pid (for tr_call_async()). */
TR_API tr_pid_t tr_global_server(const tr_global_t *g);

/**
 * tr_global_add_resolver() - make resolver `id` known on this node (do it
 * on every node: any of them may become leader). TR_EEXIST if the id is
 * taken, TR_EINVAL for a built-in id or one too long.
 */
TR_API tr_err tr_global_add_resolver(tr_global_t *g, const char *id,
                                     tr_resolve_fn fn, void *ctx);

/**
 * tr_global_register() - register name for pid across the cluster; when it
 * returns TR_OK the name is visible on every node of the view. resolver:
 * NULL (TR_RESOLVE_EXIT), a built-in or an added id. TR_EEXIST if the
 * name is taken or pid already has a global name (one name per actor),
 * TR_EUNREACHABLE if pid's node is not a member, TR_ETIMEDOUT,
 * TR_EINVAL (empty or too long a name, TR_PID_NONE).
 */
TR_API tr_err tr_global_register(tr_global_t *g, const char *name, tr_pid_t pid,
                                 const char *resolver, uint64_t timeout_ms);
/** tr_global_re_register() - point name at pid whoever held it; TR_EEXIST
 *  only if pid has another name. */
TR_API tr_err tr_global_re_register(tr_global_t *g, const char *name,
                                    tr_pid_t pid, const char *resolver,
                                    uint64_t timeout_ms);
/** tr_global_unregister() - TR_OK also if the name was not registered. */
TR_API tr_err tr_global_unregister(tr_global_t *g, const char *name,
                                   uint64_t timeout_ms);
/**
 * tr_global_whereis() - the local replica's answer: no network, no lock,
 * any thread. TR_ENOENT if the name is not registered.
 */
TR_API tr_err tr_global_whereis(tr_global_t *g, const char *name,
                                tr_pid_t *out);
/** tr_global_send() - whereis + tr_send. TR_ENOENT (msg not consumed). */
TR_API tr_err tr_global_send(tr_global_t *g, const char *name, tr_msg_t *msg);

/**
 * tr_global_foreach() - call fn for every registered name of the local
 * replica (in no order) until it returns false. fn must not call the
 * registry. *n (may be NULL) gets how many names fn saw.
 */
TR_API tr_err tr_global_foreach(tr_global_t *g,
                                bool (*fn)(const char *name, size_t len,
                                           tr_pid_t pid, void *ctx),
                                void *ctx, size_t *n);

/**
 * Cluster locks (global:set_lock/del_lock/trans). A lock on resource is
 * held by one actor (holder); asking again while holding it succeeds
 * with the same token. It is released by tr_global_del_lock(), or when
 * the holder or its node dies. Every grant returns a fencing token that
 * only grows across the cluster's history, leaders included.
 * timeout_ms = 0 fails at once (TR_EAGAIN) if the lock is held; otherwise
 * the request waits in line at the leader until granted or timed out
 * (TR_ETIMEDOUT).
 */
TR_API tr_err tr_global_set_lock(tr_global_t *g, const char *resource,
                                 tr_pid_t holder, uint64_t timeout_ms,
                                 uint64_t *token);
/** tr_global_del_lock() - TR_OK also if holder did not hold it. */
TR_API tr_err tr_global_del_lock(tr_global_t *g, const char *resource,
                                 tr_pid_t holder, uint64_t timeout_ms);
/**
 * tr_global_trans() - set_lock, fn(ctx, token), del_lock. Returns the lock
 * error (fn did not run) or TR_OK; *fn_result gets fn's result.
 */
TR_API tr_err tr_global_trans(tr_global_t *g, const char *resource,
                              tr_pid_t holder, uint64_t timeout_ms,
                              tr_err (*fn)(void *ctx, uint64_t token),
                              void *ctx, tr_err *fn_result);

/**
 * tr_global_sync() - wait until this node's replica is installed for a
 * view that every member agrees on and that holds every visible node this
 * node is connected to (Erlang's global:sync()). TR_ETIMEDOUT otherwise.
 */
TR_API tr_err tr_global_sync(tr_global_t *g, uint64_t timeout_ms);

/**
 * tr_global_monitor() - pid gets the registry's events (kind PLAIN, from
 * the server):
 *   ["global_conflict", name, kept_pid|nil, lost_pid, rule]
 *   ["global_lock_conflict", resource, kept_pid, lost_pid]
 *   ["global_leader", leader_node, epoch]
 *   ["global_registered", name, pid, node]
 *   ["global_unregistered", name, pid, node]
 * on every node (each node tells its own subscribers; node is the
 * reporting node). The last two follow operations and node losses as
 * the replica applies them; a merge after a partition reports its
 * clashes only. Subscribers that exit are dropped; pid may be on any
 * node.
 */
TR_API tr_err tr_global_monitor(tr_global_t *g, tr_pid_t pid, bool on);

typedef struct tr_global_info {
	char leader[TR_NODE_NAME_MAX + 1]; /* "" while views disagree */
	uint64_t epoch;                    /* installed epoch */
	bool ready;                        /* installed for the current view */
	size_t members;                    /* other nodes in the view */
	size_t names, locks;               /* in the local replica */
	size_t tombstones;
	uint64_t ops_applied;      /* operations applied here */
	uint64_t syncs;            /* views installed here */
	uint64_t conflicts;        /* clashes settled (names and locks) */
	uint64_t resolver_missing; /* conflicts with an unknown resolver */
	uint64_t rejected;         /* stale or unauthorised server messages */
	uint64_t digest;           /* hash of the replica (equal = same) */
} tr_global_info_t;

TR_API tr_err tr_global_info(tr_global_t *g, tr_global_info_t *out);

/*
 * Requests to tr_global_server() (tr_call_async(); the reply is
 * ["ok", token] or ["error", "TR_E..."], token 0 but for locks):
 *   ["register", name, pid, resolver|nil, timeout_ms]
 *   ["re_register", name, pid, resolver|nil, timeout_ms]
 *   ["unregister", name, timeout_ms]
 *   ["set_lock", resource, holder, timeout_ms]
 *   ["del_lock", resource, holder, timeout_ms]
 *   ["sync", timeout_ms]
 */

/* ======================================================================
 * Registry: Elixir's Registry for one node.
 *
 * A registry maps keys (strings) to entries (pid, value); values are
 * msgpack bytes (any packed value; NULL/0 for none). Unique registries
 * hold at most one entry per key; duplicate registries any number (local
 * pub/sub). An actor may hold many keys. Entries vanish when their actor
 * exits: each partition has an owner actor that monitors the registered
 * actors and deletes their entries. As in Elixir, that removal is
 * asynchronous: a lookup right after a death may still see the entry.
 * Registering a pid of another node is refused (TR_EINVAL).
 *
 * Every call may be made from any thread. Callbacks (match, select,
 * dispatch) run with the partition locked: they must not call the
 * registry.
 * ====================================================================== */

typedef struct tr_registry tr_registry_t;

typedef enum tr_registry_keys {
	TR_KEYS_UNIQUE = 0,
	TR_KEYS_DUPLICATE = 1, /* partitioned by pid */
	TR_KEYS_DUPLICATE_BY_KEY = 2,
} tr_registry_keys_t;

#define TR_REGISTRY_KEY_MAX 1024 /* bytes of a key */

typedef struct tr_registry_opts {
	tr_registry_keys_t keys;
	unsigned partitions; /* 0 = 1 */
	const char *name;    /* shown in listener messages; NULL = "" */
	/* Listeners get ["register", registry, key, pid, value|nil] and
	 * ["unregister", registry, key, pid] (also when an entry goes
	 * because its actor died). */
	const tr_pid_t *listeners;
	size_t listeners_n;
} tr_registry_opts_t;

TR_API void tr_registry_opts_init(tr_registry_opts_t *opts);
TR_API tr_err tr_registry_new(tr_node_t *node, const tr_registry_opts_t *opts,
                              tr_registry_t **out);
/** tr_registry_destroy() - stop the owners, free everything. */
TR_API void tr_registry_destroy(tr_registry_t *reg);

/**
 * tr_registry_register() - register key for pid (a local actor) with a
 * packed msgpack value (validated; may be NULL). TR_EEXIST (unique key
 * taken by a live actor), TR_ENOENT (pid is dead), TR_EPROTO (value is
 * not one msgpack value), TR_EINVAL.
 */
TR_API tr_err tr_registry_register(tr_registry_t *reg, const char *key,
                                   tr_pid_t pid, const void *value,
                                   size_t value_len);
/** tr_registry_unregister() - drop pid's entries under key (TR_OK even
 *  if none). */
TR_API tr_err tr_registry_unregister(tr_registry_t *reg, const char *key,
                                     tr_pid_t pid);

typedef struct tr_registry_entry {
	tr_pid_t pid;
	const void *value; /* borrowed, packed msgpack, or NULL */
	size_t value_len;
} tr_registry_entry_t;

/** A predicate on an entry's key and value (match, unregister_match). */
typedef bool (*tr_registry_pred)(const char *key, size_t key_len,
                                 const tr_registry_entry_t *e, void *ctx);

/**
 * tr_registry_lookup() - the entries of key: up to cap pids in out, *n =
 * how many there are. For a unique key *n is 0 or 1.
 */
TR_API tr_err tr_registry_lookup(tr_registry_t *reg, const char *key,
                                 tr_pid_t *out, size_t cap, size_t *n);
/**
 * tr_registry_value() - copy the value of pid's entry under key into buf
 * (cap bytes); *len = its size. TR_ENOENT, TR_ELIMIT if it does not fit.
 */
TR_API tr_err tr_registry_value(tr_registry_t *reg, const char *key,
                                tr_pid_t pid, void *buf, size_t cap,
                                size_t *len);
/** tr_registry_match() - the pids of key's entries pred accepts (pred NULL =
 *  all); out/cap/n as lookup. */
TR_API tr_err tr_registry_match(tr_registry_t *reg, const char *key,
                                tr_registry_pred pred, void *ctx, tr_pid_t *out,
                                size_t cap, size_t *n);
/** tr_registry_count() - entries in the registry. */
TR_API size_t tr_registry_count(tr_registry_t *reg);
/** tr_registry_count_match() - entries of key pred accepts. */
TR_API size_t tr_registry_count_match(tr_registry_t *reg, const char *key,
                                      tr_registry_pred pred, void *ctx);
/** tr_registry_keys() - calls fn for each key pid holds; *n = count. */
TR_API tr_err tr_registry_keys(tr_registry_t *reg, tr_pid_t pid,
                               void (*fn)(const char *key, size_t len,
                                          void *ctx),
                               void *ctx, size_t *n);
/**
 * tr_registry_select() - call fn for every entry (Registry.select with a
 * C predicate in place of a match spec) until it returns false.
 */
TR_API tr_err tr_registry_select(tr_registry_t *reg,
                                 bool (*fn)(const char *key, size_t len,
                                            const tr_registry_entry_t *e,
                                            void *ctx),
                                 void *ctx);
/**
 * tr_registry_dispatch() - fn gets all entries of key at once (as
 * Registry.dispatch: nothing is called when there are none). *n = count.
 */
TR_API tr_err tr_registry_dispatch(tr_registry_t *reg, const char *key,
                                   void (*fn)(const tr_registry_entry_t *es,
                                              size_t n, void *ctx),
                                   void *ctx, size_t *n);
/** tr_registry_unregister_match() - drop pid's entries under key whose
 *  value pred accepts; *n (may be NULL) = how many. */
TR_API tr_err tr_registry_unregister_match(tr_registry_t *reg, const char *key,
                                           tr_pid_t pid, tr_registry_pred pred,
                                           void *ctx, size_t *n);
/** tr_registry_update_value() - unique registries: replace pid's value
 *  under key. TR_ENOENT, TR_ENOTSUP on duplicate registries. */
TR_API tr_err tr_registry_update_value(tr_registry_t *reg, const char *key,
                                       tr_pid_t pid, const void *value,
                                       size_t value_len);
/* Registry meta (string key -> bytes). */
TR_API tr_err tr_registry_put_meta(tr_registry_t *reg, const char *key,
                                   const void *v, size_t len);
TR_API tr_err tr_registry_meta(tr_registry_t *reg, const char *key, void *buf,
                               size_t cap, size_t *len);
TR_API tr_err tr_registry_delete_meta(tr_registry_t *reg, const char *key);

/* ======================================================================
 * Process groups (OTP's pg): cluster-wide groups of actors, in scopes.
 *
 * Each node runs one server per scope (tr_pg_start()); the servers of a
 * scope on connected nodes exchange their local members on nodeup and
 * tell each other every join and leave. There is no lock and no leader:
 * views may differ for a moment and agree once the messages are through
 * (strong eventual consistency). Only local actors join; an actor may
 * join a group several times (it is listed as often) and many groups.
 * Members that exit, and every member of a node that goes down, are
 * removed everywhere. An empty group and a group that does not exist are
 * the same thing.
 *
 * Joins and leaves are handled by the local server, in the order each
 * thread makes them: from a plain thread the call returns once the
 * server has handled it (the member is visible locally, and on the way
 * to the other nodes); from an actor it returns at once (the member is
 * visible locally a moment later). Reads take a read lock, never a
 * network trip.
 * ====================================================================== */

typedef struct tr_pg tr_pg_t;

#define TR_PG_SCOPE_MAX 64  /* bytes of a scope name, NUL excluded */
#define TR_PG_GROUP_MAX 255 /* bytes of a group name */

/** tr_pg_start() - run the server of scope (NULL = "default") on net's
 *  node. TR_EEXIST if it runs already. Not from actor context. */
TR_API tr_err tr_pg_start(tr_net_t *net, const char *scope, tr_pg_t **out);
/** tr_pg_stop() - stop it (the other nodes forget this node's members)
 *  and free pg. Before the net and the node. NULL is a no-op. */
TR_API void tr_pg_stop(tr_pg_t *pg);
TR_API tr_pid_t tr_pg_server(const tr_pg_t *pg);

/** tr_pg_join() - pid (a local actor) joins group. TR_EINVAL for a pid of
 *  another node or a bad group. */
TR_API tr_err tr_pg_join(tr_pg_t *pg, const char *group, tr_pid_t pid);
/** tr_pg_leave() - one membership of pid in group ends (TR_OK also if
 *  it had none). */
TR_API tr_err tr_pg_leave(tr_pg_t *pg, const char *group, tr_pid_t pid);
/**
 * tr_pg_members() - every member of group the node knows, on all nodes:
 * up to cap pids in out, *n = how many there are. local_only: this node's
 * only (pg:get_local_members).
 */
TR_API tr_err tr_pg_members(tr_pg_t *pg, const char *group, bool local_only,
                            tr_pid_t *out, size_t cap, size_t *n);
/** tr_pg_groups() - fn for every non-empty group; *n = how many. */
TR_API tr_err tr_pg_groups(tr_pg_t *pg,
                           void (*fn)(const char *group, size_t len, void *ctx),
                           void *ctx, size_t *n);
/**
 * tr_pg_monitor() - pid gets ["pg_join" | "pg_leave", scope, group,
 * [pids]] for every change of group as this node sees it (group NULL: of
 * every group, pg:monitor_scope). on = false stops. A subscriber that
 * exits is dropped.
 */
TR_API tr_err tr_pg_monitor(tr_pg_t *pg, const char *group, tr_pid_t pid,
                            bool on);

/* ======================================================================
 * Via-names: one interface over every registry ({:via, module, term}).
 *
 * A tr_name_t names an actor through some registry. Every troupe API that
 * takes a name takes a tr_name_t: tr_via_send, tr_via_call, tr_via_spawn,
 * supervisor children. Users write their own registries by filling a
 * tr_via_ops_t.
 * ====================================================================== */

typedef struct tr_via_ops {
	const char *kind; /* for messages: "local", "global", ... */
	/* TR_OK, TR_EEXIST (taken, or pid already named), ... */
	tr_err (*register_name)(void *reg, const char *name, tr_pid_t pid);
	tr_err (*unregister_name)(void *reg, const char *name);
	/* TR_OK or TR_ENOENT. */
	tr_err (*whereis_name)(void *reg, const char *name, tr_pid_t *out);
	/* Optional: NULL = whereis + tr_send. Consumes msg on TR_OK. */
	tr_err (*send)(void *reg, const char *name, tr_msg_t *msg);
} tr_via_ops_t;

typedef struct tr_name {
	const tr_via_ops_t *ops;
	void *reg;        /* the registry instance */
	const char *name; /* borrowed */
} tr_name_t;

/* Ready-made registries. */
TR_API extern const tr_via_ops_t tr_via_local;    /* reg: tr_node_t * */
TR_API extern const tr_via_ops_t tr_via_global;   /* reg: tr_global_t * */
TR_API extern const tr_via_ops_t tr_via_registry; /* reg: tr_registry_t *
                                                   * (unique only) */

static inline tr_name_t tr_name_local(tr_node_t *node, const char *name)
{
	tr_name_t n = {&tr_via_local, node, name};
	return n;
}

static inline tr_name_t tr_name_global(tr_global_t *g, const char *name)
{
	tr_name_t n = {&tr_via_global, g, name};
	return n;
}

static inline tr_name_t tr_name_registry(tr_registry_t *r, const char *key)
{
	tr_name_t n = {&tr_via_registry, r, key};
	return n;
}

TR_API tr_err tr_via_register(const tr_name_t *n, tr_pid_t pid);
TR_API tr_err tr_via_unregister(const tr_name_t *n);
TR_API tr_err tr_via_whereis(const tr_name_t *n, tr_pid_t *out);
/** tr_via_send() - TR_ENOENT if nobody holds the name (msg kept). */
TR_API tr_err tr_via_send(const tr_name_t *n, tr_msg_t *msg);
/** tr_via_call() - tr_call() to whoever holds the name (TR_ENOENT). */
TR_API tr_err tr_via_call(tr_node_t *node, const tr_name_t *n, tr_msg_t *req,
                          uint64_t timeout_ms, tr_msg_t **reply,
                          char *reason_buf, size_t reason_cap);
/**
 * tr_via_spawn() - spawn and register under n. If the name is taken the
 * child is killed before it ran a message and TR_EEXIST is returned with
 * *out = the holder (Erlang's {error, {already_started, Pid}}).
 * opts->name is ignored (the via registry names the child);
 * opts->monitor must be false (TR_EINVAL).
 */
TR_API tr_err tr_via_spawn(tr_node_t *node, const tr_behaviour_t *beh,
                           void *arg, const tr_spawn_opts_t *opts,
                           const tr_name_t *n, tr_pid_t *out);

#ifdef __cplusplus
}
#endif
#endif /* TR_REGISTRY_H */
