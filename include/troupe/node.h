/*
 * troupe/node.h - distribution: a node joins a cluster over ZeroMQ.
 *
 * tr_net_start() gives a runtime node (tr_node_t) a listen endpoint and
 * an I/O thread. From then on pids of other nodes are reachable: tr_send(),
 * tr_call(), links and monitors work across machines with Erlang's
 * semantics, and losing a node ends every link and monitor across it with
 * the reason "noconnection". The wire protocol is in docs/protocol.md,
 * the guarantees in docs/semantics.md.
 *
 * Names: a node's name is its runtime node's name (tr_node_opts_t.name),
 * unique in its cluster; pids carry the 64-bit hash of the name and the
 * node's incarnation (creation), so a restarted node never receives what
 * was meant for its previous life.
 *
 * Threads: every function here may be called from any thread, except
 * where it says it blocks (then not from actor context: TR_ESTATE).
 */
#ifndef TR_NODE_H
#define TR_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <troupe/actor.h>
#include <troupe/err.h>
#include <troupe/pid.h>
#include <troupe/runtime.h>
#include <troupe/version.h>

typedef struct tr_net tr_net_t;

#define TR_ENDPOINT_MAX  256 /* bytes of an endpoint string, NUL included */
#define TR_NODE_NAME_MAX 200 /* bytes of a node name, NUL excluded */
#define TR_SECRET_MIN    16  /* bytes of a shared cluster secret, at least */
#define TR_CURVE_KEY_Z85 41  /* a Z85 CURVE key plus NUL */

typedef struct tr_net_opts {
	/* "tcp://IP:PORT"; port 0 or '*' picks a free one (read it back
	 * with tr_net_endpoint()). NULL = "tcp://127.0.0.1:0". */
	const char *listen;
	/* Shared cluster secret: peers prove they know it by HMAC-SHA256
	 * challenge-response; it never crosses the wire. At least
	 * TR_SECRET_MIN bytes. Required unless CURVE keys are set. */
	const void *secret;
	size_t secret_len;
	/* CURVE (optional, with or without a secret; all or none of the key
	 * fields). Keys are Z85 strings of 40 characters (zmq_curve_keypair).
	 * Every node's listener uses the cluster's server key pair (the same
	 * on every node: whoever holds it is a member); every node also has
	 * its own key pair, which it presents when it connects. A listener
	 * accepts a connection only if the connector's public key is on
	 * curve_allow (checked by the node's ZAP handler, before ZeroMQ
	 * hands over a single frame). All traffic is encrypted. */
	const char *curve_server_public;
	const char *curve_server_secret;
	const char *curve_public;
	const char *curve_secret;
	const char *const *curve_allow;
	size_t curve_allow_n;
	/* Heartbeat interval and silence after which a peer is declared
	 * down; 0 = 100 ms and 600 ms. They catch peers that go silent; a
	 * closed connection (as after a kill -9) ends a session at once. */
	unsigned heartbeat_ms;
	unsigned timeout_ms;
	/* A hidden node (the CLI) connects to the nodes it names but never
	 * joins the mesh: it is not gossiped and not in tr_net_nodes() of
	 * others unless asked. */
	bool hidden;
	/* Largest frame accepted or sent; 0 = 16 MiB. */
	size_t max_frame;
	/* Bytes queued for one peer before sending actors are paused until
	 * it drains below half; 0 = 8 MiB. */
	size_t peer_queue_high;
	/* Events (one line each, no newline): refused peers, dropped frames,
	 * protocol errors (TR_LOG_WARN), nodeup/nodedown (TR_LOG_INFO).
	 * Called from the I/O thread; must not block. NULL: nothing is
	 * logged, unless TROUPE_NET_DEBUG is set in the environment (then
	 * to stderr). Warnings about frames from unauthenticated peers are
	 * rate-limited (at most 10 a second); the counters count them all. */
	void (*log)(void *ctx, int level, const char *line);
	void *log_ctx;
} tr_net_opts_t;

enum { TR_LOG_ERROR = 0, TR_LOG_WARN = 1, TR_LOG_INFO = 2, TR_LOG_DEBUG = 3 };

/** tr_net_opts_init() - zero the options (every field's default). */
TR_API void tr_net_opts_init(tr_net_opts_t *opts);

/**
 * tr_net_start() - make node a cluster node: bind the listen endpoint,
 * start the I/O thread. TR_EINVAL (bad options, no secret and no CURVE),
 * TR_EEXIST (node already started), TR_EIO (cannot bind).
 */
TR_API tr_err tr_net_start(tr_node_t *node, const tr_net_opts_t *opts,
                           tr_net_t **out);

/**
 * tr_net_stop() - leave abruptly and free everything: peers see the
 * connection go (reason "connection_closed" or a heartbeat timeout).
 * tr_node_destroy() does this too. Use tr_net_leave() first for a
 * graceful exit.
 */
TR_API void tr_net_stop(tr_net_t *net);

/** tr_net_endpoint() - the bound endpoint, port resolved. */
TR_API const char *tr_net_endpoint(const tr_net_t *net);
TR_API tr_node_t *tr_net_node(const tr_net_t *net);

/**
 * tr_net_join() - connect to a seed node and through it to every node of
 * its cluster (full mesh). Blocks until the seed is up or timeout_ms
 * passes (TR_ETIMEDOUT); TR_EAUTH if the seed refused us (wrong secret),
 * TR_EEXIST if the seed already has a live node of our name.
 */
TR_API tr_err tr_net_join(tr_net_t *net, const char *endpoint,
                          uint64_t timeout_ms);

/**
 * tr_net_connect() - like tr_net_join() for one peer without waiting.
 */
TR_API tr_err tr_net_connect(tr_net_t *net, const char *endpoint);

/**
 * tr_net_leave() - graceful leave: tell every peer, let what was sent
 * before drain (at most timeout_ms), disconnect. Peers see nodedown with
 * reason "left". Blocks. The net stays usable for tr_net_join() later.
 */
TR_API tr_err tr_net_leave(tr_net_t *net, uint64_t timeout_ms);

typedef enum tr_peer_state {
	TR_PEER_JOINING = 0, /* handshake in progress */
	TR_PEER_UP = 1,
	TR_PEER_LEAVING = 2, /* announced its leave, draining */
	TR_PEER_DOWN = 3,
} tr_peer_state_t;

typedef struct tr_peer_info {
	char name[TR_NODE_NAME_MAX + 1];
	char endpoint[TR_ENDPOINT_MAX];
	uint64_t id;
	uint32_t creation;
	tr_peer_state_t state;
	bool hidden;
	uint64_t msgs_out, msgs_in, frames_out, frames_in;
	size_t queued_bytes; /* waiting to be sent */
} tr_peer_info_t;

/**
 * tr_net_nodes() - the peers this node knows, up to cap entries in out;
 * *n = how many there are (may exceed cap).
 */
TR_API tr_err tr_net_nodes(tr_net_t *net, tr_peer_info_t *out, size_t cap,
                           size_t *n);

/** tr_net_is_up() - is a connection to node `name` up? */
TR_API bool tr_net_is_up(tr_net_t *net, const char *name);

/**
 * tr_net_monitor_nodes() - subscribe (on) or unsubscribe pid to node
 * events: messages ["nodeup", name, creation] and ["nodedown", name,
 * reason], kind TR_MSG_PLAIN, sender TR_PID_NONE. Reasons: "left",
 * "connection_closed", "heartbeat_timeout", "sequence_gap",
 * "protocol_error", "restarted", "net_stopped". A nodedown follows every
 * signal that came over the lost connection and precedes the nodeup of
 * a reconnection. with_hidden: also hidden peers. A subscriber that
 * exits is dropped.
 */
TR_API tr_err tr_net_monitor_nodes(tr_net_t *net, tr_pid_t pid, bool on,
                                   bool with_hidden);

/**
 * tr_net_monitor_node() - like Erlang's monitor_node(Node, true): pid gets
 * one ["nodedown", name, reason] when that node goes down (at once if it
 * is not up now). on = false cancels one such monitor.
 */
TR_API tr_err tr_net_monitor_node(tr_net_t *net, tr_pid_t pid, const char *name,
                                  bool on);

/**
 * tr_net_export() - make beh spawnable by other nodes under beh->name.
 * Its init receives a `const tr_msg_t *` argument (the spawner's, or
 * NULL), borrowed for the duration of init.
 */
TR_API tr_err tr_net_export(tr_net_t *net, const tr_behaviour_t *beh);

/**
 * tr_net_kernel() - the pid of node name's kernel (the actor that serves
 * remote spawn), for tr_call_async() from actors: the call
 * ["spawn", behaviour, arg] answers ["ok", pid] or ["error", reason].
 */
TR_API tr_err tr_net_kernel(tr_net_t *net, const char *name, tr_pid_t *out);

/**
 * tr_spawn_on() - spawn the exported behaviour on node name (this node
 * too). arg: a message given to the behaviour's init (consumed; may be
 * NULL). Blocks (TR_ESTATE in actor context). TR_ENOENT if the node does
 * not export it, TR_EUNREACHABLE if the node is not up.
 */
TR_API tr_err tr_spawn_on(tr_net_t *net, const char *name,
                          const char *behaviour, tr_msg_t *arg,
                          uint64_t timeout_ms, tr_pid_t *out);

/**
 * tr_send_named() - send to the actor registered as `name` on node
 * `node` (Erlang's {Name, Node} ! Msg). Consumes m on TR_OK; like a send
 * to a pid, an unknown name on a live node drops it silently.
 * TR_EUNREACHABLE if the node is not up.
 */
TR_API tr_err tr_send_named(tr_net_t *net, const char *node, const char *name,
                            tr_msg_t *m);

/**
 * tr_curve_keypair() - a fresh CURVE key pair, Z85, NUL-terminated
 * (TR_CURVE_KEY_Z85 bytes each). TR_ENOTSUP if libzmq lacks CURVE.
 */
TR_API tr_err tr_curve_keypair(char *public_z85, char *secret_z85);

typedef struct tr_net_stats {
	size_t peers_up;
	uint64_t frames_in, frames_out, msgs_in, msgs_out;
	uint64_t bytes_in, bytes_out;
	uint64_t rejected_frames; /* malformed, oversized, unknown kind ... */
	uint64_t rejected_auth;   /* failed or missing authentication,
	                           * CURVE keys refused by the ZAP handler */
	uint64_t spoofed;         /* sender not the authenticated peer */
	uint64_t stale;           /* addressed to an old incarnation */
	uint64_t nodedowns;
	uint64_t gated; /* times a sender was paused on a peer */
} tr_net_stats_t;

TR_API tr_err tr_net_stats(tr_net_t *net, tr_net_stats_t *out);

#endif /* TR_NODE_H */
