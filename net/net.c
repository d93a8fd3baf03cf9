/*
 * net/net.c - distribution over ZeroMQ: connections, handshake,
 * membership, heartbeats, remote signals (docs/architecture.md, "net").
 *
 * Threads. One I/O thread per node owns every ZeroMQ socket: the ROUTER
 * the node binds (its inbox) and one DEALER per peer it connected to
 * (its outgoing line to that peer). Senders on scheduler threads never
 * touch a socket: they encode the envelope into the peer's queue under
 * the peer's lock (serialisation runs in parallel on the senders) and,
 * when the queue was idle, put the peer on the ready list and poke the
 * I/O thread through an eventfd. The I/O thread sends each queued batch
 * as one DATA frame: batching comes from whatever queued up while it was
 * busy, never from a timer.
 *
 * Sessions. A node sends to a peer only on its own DEALER to the peer's
 * ROUTER (frames from the peer arrive on our ROUTER); the handshake's
 * answers come back on the DEALER. A session with a peer is up when both
 * directions are authenticated; it ends on a heartbeat timeout, a
 * sequence gap, a protocol error, the peer's LEAVE, or the peer coming
 * back in a new handshake. Its end delivers "noconnection" to every link
 * and monitor recorded across it (the "cross table", below), then
 * nodedown to subscribers, all from the I/O thread after every frame
 * received on that session, so nodedown follows every signal that came
 * over it.
 *
 * Peers are never freed while the net lives (a peer struct is the
 * address senders and paused actors hold); their number is bounded by
 * the authenticated nodes ever seen (MAX_PEERS).
 */
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <troupe/node.h>
#include <unistd.h>
#include <zmq.h>

#include "net/wire.h"
#include "runtime/internal.h"
#include "runtime/mpack.h"

#define MAX_PEERS      1024
#define PEER_SLOTS     2048 /* open addressing, 2x MAX_PEERS */
#define MAX_PENDING_IN 256  /* incoming handshakes in progress */
#define CHUNK_TARGET   (256u << 10)
#define FRAME_HEAD     16   /* reserved in front of each chunk */
#define DIRECT_MAX     1024 /* envelopes a sender may write itself */
#define XBUCKETS       256
#define KERNEL_NAME    "tr_net_kernel"
#define BUSY_MAX       32 /* busy remote actors tracked per peer */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- structures ---------------------------------------------------------- */

struct chunk {
	struct chunk *next;
	uint8_t *p; /* FRAME_HEAD reserved bytes, then envelopes */
	size_t len, cap;
	uint32_t n; /* envelopes */
};

enum {
	X_LINK = TR__CROSS_LINK,
	X_MON_OUT = TR__CROSS_MON_OUT,
	X_MON_IN = TR__CROSS_MON_IN
};

/* A link or monitor across the session (see session_down()). */
struct xent {
	struct xent *next;
	uint8_t type;
	tr_pid_t local, remote;
	tr_ref_t ref;
};

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	tr_err result;
	int refs; /* the waiting thread and the I/O thread */
};

enum { OUT_CONNECTING = 0, OUT_AUTH_SENT, OUT_UP };

/* One outgoing DEALER (I/O thread only). */
struct outconn {
	struct outconn *next;
	void *sock;
	void *mon; /* PAIR reading the line's socket events, or NULL */
	char endpoint[TR_ENDPOINT_MAX];
	char expect[TR_NODE_NAME_MAX + 1]; /* name we expect, or "" */
	int state;
	uint8_t nonce[TR_WIRE_NONCE];
	int64_t deadline;      /* of the handshake */
	int64_t hello_at;      /* next HELLO (re)send */
	struct peer *peer;     /* attached: the line of this peer */
	struct peer *for_peer; /* a reconnection attempt for this peer */
	struct waiter *waiter;
	bool dead;
};

struct peer {
	uint64_t id;
	char name[TR_NODE_NAME_MAX + 1];
	struct tr_net *net;

	pthread_mutex_t lock; /* guards the block below */
	int state;            /* tr_peer_state_t */
	uint32_t creation;
	bool hidden;
	char endpoint[TR_ENDPOINT_MAX];
	tr_pid_t kernel;
	struct chunk *qh, *qt;
	size_t qbytes;    /* queued, not yet taken by ZeroMQ */
	bool pending;     /* on the ready list */
	bool direct;      /* senders may write to the line themselves */
	uint64_t seq_out; /* DATA frames sent in this session */
	bool gated;       /* gate closed for being over the high mark */
	struct xent **xb;
	size_t xn;
	struct waiter *waiters[8];

	struct tr__gate gate;
	/* Actors of the peer whose mailboxes it said are over their high
	 * mark (BUSY): local actors that send to one pause on its gate
	 * until the peer says it is back under the low mark. Slots are
	 * reused, never freed while the net lives (paused actors hold the
	 * gate's address). */
	struct busy {
		tr_pid_t pid;
		bool on, inited;
		struct tr__gate gate;
	} busy[BUSY_MAX];
	unsigned nbusy; /* slots on: 0 spares senders the scan */
	_Atomic uint64_t msgs_out, msgs_in, frames_out, frames_in;

	/* I/O thread only */
	struct outconn *out;
	bool in_up;
	/* under lock: the peer's line into us is up and ours to it is being
	 * opened (JOINING): what is sent to the peer now is queued for the
	 * session, not refused. Without it a reply to the peer's first
	 * request could be lost: the request may arrive on its line before
	 * its WELCOME reaches ours. */
	bool buffering;
	uint8_t rid[256];
	size_t rid_len;
	bool via_router; /* peer has no listener: answer on its line */
	uint64_t seq_in;
	int64_t last_heard;
	_Atomic int64_t last_sent; /* written by senders, read by timers */
	struct chunk *stash;       /* a frame ZeroMQ refused for now (HWM) */
	bool leave_acked;
	bool leave_pending; /* LEAVE not sent yet (a frame is stashed) */
	bool retry;
	int64_t retry_at;
	unsigned backoff;
	/* our actors we told the peer are busy (BUSY on) */
	tr_pid_t told[BUSY_MAX];
	size_t ntold;
};

struct inhs { /* incoming handshake, before AUTH */
	bool used;
	uint8_t rid[256];
	size_t rid_len;
	struct tr_whello hello;
	uint8_t nonce[TR_WIRE_NONCE];
	int64_t deadline;
};

enum { CMD_CONNECT = 1, CMD_LEAVE };

struct cmd {
	struct cmd *next;
	int type;
	char endpoint[TR_ENDPOINT_MAX];
	uint64_t timeout_ms;
	struct waiter *waiter;
};

struct sub {
	tr_pid_t pid;
	bool all;                        /* monitor_nodes */
	bool hidden;                     /* with hidden nodes */
	char node[TR_NODE_NAME_MAX + 1]; /* monitor_node target */
};

struct export
{
	struct export *next;
	const tr_behaviour_t *beh;
};

struct tr_net {
	struct tr_node *node;
	tr_net_opts_t opts;
	uint8_t *secret;
	size_t secret_len;
	char endpoint[TR_ENDPOINT_MAX];
	unsigned hb_ms, timeout_ms;
	size_t max_frame, q_high;
	bool hidden;

	void *zctx;
	void *router;
	void *zap; /* REP on inproc://zeromq.zap.01 when CURVE is on */
	uint8_t (*allow)[32]; /* CURVE client keys allowed in */
	size_t nallow;
	bool curve;
	char srv_pub[41], srv_sec[41], my_pub[41], my_sec[41]; /* Z85 */
	int efd;
	pthread_t thread;
	_Atomic bool stop;
	bool stopped;
	bool leaving;        /* I/O thread: a LEAVE is in progress */
	bool left;           /* I/O thread: left; refuse HELLOs until a join */
	int64_t next_tick;   /* I/O thread: when timers() runs next */
	int64_t warn_window; /* I/O thread: rate limit of net_warn_limited() */
	unsigned warns;
	bool debug; /* TROUPE_NET_DEBUG */
	struct waiter *leave_waiter;
	int64_t leave_deadline;

	_Atomic(struct peer *) slots[PEER_SLOTS];
	struct peer *plist[MAX_PEERS]; /* I/O thread: every peer */
	size_t npeers;

	struct outconn *outs;
	struct inhs inhs[MAX_PENDING_IN];

	pthread_mutex_t ready_lock;
	struct peer **ready;
	size_t nready, ready_cap;

	pthread_mutex_t cmd_lock;
	struct cmd *cmds;

	pthread_mutex_t sub_lock;
	struct sub *subs;
	size_t nsubs, subs_cap;

	pthread_mutex_t exp_lock;
	struct export *exports;
	tr_pid_t kernel;

	_Atomic uint64_t st_frames_in, st_frames_out, st_msgs_in, st_msgs_out,
	        st_bytes_in, st_bytes_out, st_rejected, st_rejected_auth,
	        st_spoofed, st_stale, st_nodedowns, st_gated;
};

static void stat_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static void net_log(struct tr_net *net, int level, const char *what,
                    const char *who, const char *detail)
{
	if (!net->opts.log && !net->debug)
		return;
	char line[512];
	snprintf(line, sizeof(line), "%s: %s%s%s%s%s", net->node->name, what,
	         who ? " " : "", who ? who : "", detail ? ": " : "",
	         detail ? detail : "");
	if (net->opts.log)
		net->opts.log(net->opts.log_ctx, level, line);
	else
		fprintf(stderr, "troupe-net %s\n", line);
}

/* I/O thread: a warning about a peer that is not authenticated, at most
 * 10 a second (a flood must not turn into a flood of log lines). */
static void net_warn_limited(struct tr_net *net, const char *what,
                             const char *detail)
{
	int64_t now = now_ms();
	if (now - net->warn_window >= 1000) {
		net->warn_window = now;
		net->warns = 0;
	}
	if (net->warns++ < 10)
		net_log(net, TR_LOG_WARN, what, NULL, detail);
}

/* ---- waiters ------------------------------------------------------------- */

static struct waiter *waiter_new(void)
{
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->refs = 2;
	return w;
}

static void waiter_put(struct waiter *w)
{
	pthread_mutex_lock(&w->lock);
	int left = --w->refs;
	pthread_mutex_unlock(&w->lock);
	if (!left) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w);
	}
}

/* I/O side: complete (first result wins) and drop its reference. */
static void waiter_done(struct waiter *w, tr_err e)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	if (!w->done) {
		w->done = true;
		w->result = e;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	waiter_put(w);
}

static tr_err waiter_wait(struct waiter *w, uint64_t timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ns = (uint64_t)ts.tv_nsec + (timeout_ms % 1000) * 1000000ull;
	ts.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000ull);
	ts.tv_nsec = (long)(ns % 1000000000ull);
	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	tr_err e = w->done ? w->result : TR_ETIMEDOUT;
	pthread_mutex_unlock(&w->lock);
	waiter_put(w);
	return e;
}

/* ---- peers --------------------------------------------------------------- */

static size_t slot_of(uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 53) & (PEER_SLOTS - 1);
}

static struct peer *peer_by_id(struct tr_net *net, uint64_t id)
{
	for (size_t i = slot_of(id), k = 0; k < PEER_SLOTS;
	     i = (i + 1) & (PEER_SLOTS - 1), k++) {
		struct peer *p = atomic_load_explicit(&net->slots[i],
		                                      memory_order_acquire);
		if (!p)
			return NULL;
		if (p->id == id)
			return p;
	}
	return NULL;
}

static struct peer *peer_by_name(struct tr_net *net, const char *name)
{
	struct peer *p = peer_by_id(net, tr_node_id_of_name(name));
	return p && !strcmp(p->name, name) ? p : NULL;
}

/* I/O thread. NULL: table full, or the name's id collides with another
 * name's (refused: ids must be unique in a cluster). */
static struct peer *peer_get(struct tr_net *net, const char *name)
{
	uint64_t id = tr_node_id_of_name(name);
	struct peer *p = peer_by_id(net, id);
	if (p)
		return strcmp(p->name, name) ? NULL : p;
	if (net->npeers >= MAX_PEERS)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->id = id;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->net = net;
	p->state = TR_PEER_DOWN;
	pthread_mutex_init(&p->lock, NULL);
	tr__gate_init(&p->gate, net->node);
	p->backoff = 100;
	size_t i = slot_of(id);
	while (atomic_load(&net->slots[i]))
		i = (i + 1) & (PEER_SLOTS - 1);
	atomic_store_explicit(&net->slots[i], p, memory_order_release);
	net->plist[net->npeers++] = p;
	return p;
}

/* ---- the cross table (peer lock held) ------------------------------------ */

static size_t xhash(uint8_t type, tr_pid_t local, tr_pid_t remote, tr_ref_t ref)
{
	uint64_t h = type == X_LINK
	                     ? local.id * 31 + remote.id * 17 + remote.creation
	                     : ref.id * 0x9e3779b97f4a7c15ull + ref.node;
	return (size_t)(h ^ (h >> 29)) & (XBUCKETS - 1);
}

static bool xmatch(const struct xent *x, uint8_t type, tr_pid_t local,
                   tr_pid_t remote, tr_ref_t ref)
{
	if (x->type != type)
		return false;
	if (type == X_LINK)
		return tr_pid_eq(x->local, local) &&
		       tr_pid_eq(x->remote, remote);
	return tr_ref_eq(x->ref, ref);
}

static void xadd(struct peer *p, uint8_t type, tr_pid_t local, tr_pid_t remote,
                 tr_ref_t ref)
{
	if (!p->xb && !(p->xb = calloc(XBUCKETS, sizeof(*p->xb))))
		return; /* out of memory: documented in semantics.md */
	size_t h = xhash(type, local, remote, ref);
	for (struct xent *x = p->xb[h]; x; x = x->next)
		if (xmatch(x, type, local, remote, ref))
			return;
	struct xent *x = malloc(sizeof(*x));
	if (!x)
		return;
	x->type = type;
	x->local = local;
	x->remote = remote;
	x->ref = ref;
	x->next = p->xb[h];
	p->xb[h] = x;
	p->xn++;
}

static void xdel(struct peer *p, uint8_t type, tr_pid_t local, tr_pid_t remote,
                 tr_ref_t ref)
{
	if (!p->xb)
		return;
	size_t h = xhash(type, local, remote, ref);
	for (struct xent **pp = &p->xb[h]; *pp; pp = &(*pp)->next) {
		if (xmatch(*pp, type, local, remote, ref)) {
			struct xent *x = *pp;
			*pp = x->next;
			free(x);
			p->xn--;
			return;
		}
	}
}

/* Record what a signal crossing the session means for nodedown. out:
 * sent by a local actor (from) to the remote `to`. */
static void xnote(struct peer *p, bool out, unsigned kind, tr_pid_t from,
                  tr_pid_t to, tr_ref_t ref, unsigned flags)
{
	tr_pid_t local = out ? from : to, remote = out ? to : from;
	switch (kind) {
	case TR__SIG_LINK:
		xadd(p, X_LINK, local, remote, ref);
		break;
	case TR__SIG_UNLINK_ACK:
		xdel(p, X_LINK, local, remote, ref);
		break;
	case TR__SIG_EXIT:
		if (flags & TR__MSGF_LINKED)
			xdel(p, X_LINK, local, remote, ref);
		break;
	case TR__SIG_MONITOR:
		xadd(p, out ? X_MON_OUT : X_MON_IN, local, remote, ref);
		break;
	case TR__SIG_DEMONITOR:
		xdel(p, out ? X_MON_OUT : X_MON_IN, local, remote, ref);
		break;
	case TR__SIG_DOWN:
		xdel(p, out ? X_MON_IN : X_MON_OUT, local, remote, ref);
		break;
	default:
		break;
	}
}

/* ---- the send path (any thread) ------------------------------------------ */

static unsigned wire_kind(uint8_t k, bool *ok)
{
	*ok = true;
	switch (k) {
	case TR_MSG_PLAIN:
		return TR_WE_SEND;
	case TR_MSG_CALL:
		return TR_WE_CALL;
	case TR_MSG_CAST:
		return TR_WE_CAST;
	case TR_MSG_REPLY:
		return TR_WE_REPLY;
	case TR__SIG_LINK:
		return TR_WE_LINK;
	case TR__SIG_UNLINK:
		return TR_WE_UNLINK;
	case TR__SIG_UNLINK_ACK:
		return TR_WE_UNLINK_ACK;
	case TR__SIG_EXIT:
		return TR_WE_EXIT;
	case TR__SIG_MONITOR:
		return TR_WE_MONITOR;
	case TR__SIG_DEMONITOR:
		return TR_WE_DEMONITOR;
	case TR__SIG_DOWN:
		return TR_WE_DOWN;
	default:
		*ok = false;
		return 0;
	}
}

static uint8_t runtime_kind(unsigned w)
{
	switch (w) {
	case TR_WE_SEND:
		return TR_MSG_PLAIN;
	case TR_WE_CALL:
		return TR_MSG_CALL;
	case TR_WE_CAST:
		return TR_MSG_CAST;
	case TR_WE_REPLY:
		return TR_MSG_REPLY;
	case TR_WE_LINK:
		return TR__SIG_LINK;
	case TR_WE_UNLINK:
		return TR__SIG_UNLINK;
	case TR_WE_UNLINK_ACK:
		return TR__SIG_UNLINK_ACK;
	case TR_WE_EXIT:
		return TR__SIG_EXIT;
	case TR_WE_MONITOR:
		return TR__SIG_MONITOR;
	case TR_WE_DEMONITOR:
		return TR__SIG_DEMONITOR;
	default:
		return TR__SIG_DOWN;
	}
}

static struct chunk *chunk_new(size_t need)
{
	struct chunk *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->cap = FRAME_HEAD + (need > CHUNK_TARGET ? need : 4096);
	c->p = malloc(c->cap);
	if (!c->p) {
		free(c);
		return NULL;
	}
	c->len = FRAME_HEAD;
	return c;
}

static void chunk_free(struct chunk *c)
{
	if (c) {
		free(c->p);
		free(c);
	}
}

/* Make room for `need` bytes at the queue's tail (peer lock held). */
static struct chunk *q_room(struct peer *p, size_t need)
{
	struct chunk *c = p->qt;
	if (c && c->len + need <= c->cap)
		return c;
	if (c && c->len - FRAME_HEAD + need <= CHUNK_TARGET) {
		size_t nc = c->cap * 2;
		while (nc < c->len + need)
			nc *= 2;
		uint8_t *np = realloc(c->p, nc);
		if (np) {
			c->p = np;
			c->cap = nc;
			return c;
		}
	}
	struct chunk *n = chunk_new(need);
	if (!n)
		return NULL;
	if (c)
		c->next = n;
	else
		p->qh = n;
	p->qt = n;
	return n;
}

static void ready_push(struct tr_net *net, struct peer *p)
{
	pthread_mutex_lock(&net->ready_lock);
	bool wake = net->nready == 0;
	if (net->nready == net->ready_cap) {
		size_t nc = net->ready_cap ? net->ready_cap * 2 : 16;
		struct peer **nr = realloc(net->ready, nc * sizeof(*nr));
		if (nr) {
			net->ready = nr;
			net->ready_cap = nc;
		}
	}
	if (net->nready < net->ready_cap)
		net->ready[net->nready++] = p;
	pthread_mutex_unlock(&net->ready_lock);
	if (wake) {
		uint64_t one = 1;
		ssize_t r = write(net->efd, &one, sizeof(one));
		(void)r;
	}
}

static void poke(struct tr_net *net)
{
	uint64_t one = 1;
	ssize_t r = write(net->efd, &one, sizeof(one));
	(void)r;
}

/* Encode one envelope: [kind, flags, to, from, ref|nil, aux, payload|nil] */
static size_t env_size(const tr_msg_t *m, size_t name_len)
{
	return 1 + 1 + 1 + (name_len ? 5 + name_len : 23) + 23 + 23 + 9 +
	       (m->len ? m->len : 1);
}

static void env_write(struct chunk *c, unsigned wk, const tr_msg_t *m,
                      tr_pid_t to, const char *name, size_t name_len)
{
	struct tr_wbuf b = {c->p, c->len, c->cap, false};
	tr__wb_array(&b, 7);
	tr__wb_uint(&b, wk);
	tr__wb_uint(&b,
	            (m->kind == TR__SIG_EXIT && (m->flags & TR__MSGF_LINKED))
	                    ? TR_WEF_LINKED
	                    : 0);
	if (name)
		tr__wb_str(&b, name, name_len);
	else
		tr__wb_pid(&b, to);
	tr__wb_pid(&b, m->from);
	if (tr_ref_is_none(m->ref))
		tr__wb_nil(&b);
	else
		tr__wb_ref(&b, m->ref);
	tr__wb_uint(&b, m->aux);
	if (m->len)
		tr__wb_raw(&b, m->data, m->len);
	else
		tr__wb_nil(&b);
	c->p = b.p; /* room was reserved: normally unchanged */
	c->cap = b.cap;
	c->len = b.len;
	c->n++;
}

static int send_raw(struct tr_net *net, struct peer *p, const uint8_t *data,
                    size_t len);
static size_t frame_head(struct chunk *c, uint64_t seq);

/* Under p->lock: the gate of `to` if the peer said it is busy and m is
 * a user message to it. */
static struct tr__gate *busy_gate(struct peer *p, tr_pid_t to, const char *name,
                                  const tr_msg_t *m)
{
	if (!p->nbusy || name || m->kind >= TR__SIG_FIRST)
		return NULL;
	for (size_t i = 0; i < BUSY_MAX; i++)
		if (p->busy[i].on && tr_pid_eq(p->busy[i].pid, to))
			return &p->busy[i].gate;
	return NULL;
}

/* The sending actor pauses on g at the end of its callback, unless g
 * opens first; never an actor whose own mailbox is loaded (mute.c's
 * first rule: so no cycle of paused actors can form). */
static void busy_hold(struct tr_net *net, struct tr__gate *g)
{
	struct tr_actor *s = tr__tls_actor;
	if (!g || !s || s->node != net->node ||
	    tr__mailbox_depth(s) > net->node->mb_low)
		return;
	tr__gate_hold(g);
}

static tr_err enqueue(struct tr_net *net, struct peer *p, tr_pid_t to,
                      const char *name, tr_msg_t *m)
{
	bool ok;
	unsigned wk = wire_kind(m->kind, &ok);
	if (!ok)
		return TR_EINVAL; /* local-only signal: never crosses */
	size_t nl = name ? strlen(name) : 0;
	size_t need = env_size(m, nl);
	if (need + FRAME_HEAD > net->max_frame)
		return TR_ELIMIT;
	pthread_mutex_lock(&p->lock);
	if (p->state != TR_PEER_UP &&
	    !(p->state == TR_PEER_JOINING && p->buffering)) {
		pthread_mutex_unlock(&p->lock);
		return TR_EUNREACHABLE;
	}
	if (!name && to.creation != p->creation) {
		pthread_mutex_unlock(&p->lock);
		stat_add(&net->st_stale, 1);
		/* an old incarnation's pid: dead, as in Erlang */
		tr__signal_stale(net->node, to, m);
		return TR_OK;
	}
	if (p->direct && !p->qh && !p->stash && !p->pending &&
	    need <= DIRECT_MAX) {
		/* Nothing waits: write the frame to the line here, which saves
		 * the I/O thread's wake-up (latency); a refusal (HWM) or a
		 * failure falls back to the queue. */
		uint8_t buf[FRAME_HEAD + DIRECT_MAX];
		struct chunk one = {NULL, buf, FRAME_HEAD, sizeof(buf), 0};
		env_write(&one, wk, m, to, name, nl);
		size_t off = frame_head(&one, p->seq_out + 1);
		if (one.p == buf &&
		    send_raw(net, p, buf + off, one.len - off) == 0) {
			p->seq_out++;
			if (m->kind >= TR__SIG_FIRST && !name)
				xnote(p, true, m->kind, m->from, to, m->ref,
				      m->flags);
			struct tr__gate *bg = busy_gate(p, to, name, m);
			pthread_mutex_unlock(&p->lock);
			busy_hold(net, bg);
			atomic_fetch_add_explicit(&p->msgs_out, 1,
			                          memory_order_relaxed);
			stat_add(&net->st_msgs_out, 1);
			tr_msg_free(m);
			return TR_OK;
		}
	}
	struct chunk *c = q_room(p, need);
	if (!c) {
		pthread_mutex_unlock(&p->lock);
		return TR_ENOMEM;
	}
	size_t before = c->len;
	env_write(c, wk, m, to, name, nl);
	if (m->kind >= TR__SIG_FIRST && !name)
		xnote(p, true, m->kind, m->from, to, m->ref, m->flags);
	/* what was written, not the estimate: flush_peer() subtracts the
	 * chunk's real length */
	p->qbytes += c->len - before;
	bool was_pending = p->pending;
	p->pending = true;
	bool over = p->qbytes > net->q_high;
	if (over && !p->gated) {
		p->gated = true;
		tr__gate_close(&p->gate);
	}
	struct tr__gate *bg = over ? NULL : busy_gate(p, to, name, m);
	pthread_mutex_unlock(&p->lock);
	busy_hold(net, bg);
	atomic_fetch_add_explicit(&p->msgs_out, 1, memory_order_relaxed);
	stat_add(&net->st_msgs_out, 1);
	if (!was_pending)
		ready_push(net, p);
	if (over) {
		stat_add(&net->st_gated, 1);
		tr__gate_hold(&p->gate);
	}
	tr_msg_free(m);
	return TR_OK;
}

static tr_err dist_route(void *dist, tr_pid_t to, tr_msg_t *m)
{
	struct tr_net *net = dist;
	struct peer *p = peer_by_id(net, to.node);
	if (!p)
		return TR_EUNREACHABLE;
	return enqueue(net, p, to, NULL, m);
}

static void net_free(struct tr_net *net);

static void dist_stop(void *dist)
{
	net_free(dist);
}

static const struct tr_dist_ops dist_ops = {dist_route, dist_stop};

/* ---- frames out (I/O thread) --------------------------------------------- */

/* Send bytes to the peer on its line. 0 sent, 1 would block, -1 gone.
 * Peer lock held: a line (DEALER) is written by senders and the I/O
 * thread alike, one at a time. */
static int send_raw(struct tr_net *net, struct peer *p, const uint8_t *data,
                    size_t len)
{
	void *sock;
	if (p->via_router) {
		sock = net->router;
		if (zmq_send(sock, p->rid, p->rid_len,
		             ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
			return errno == EAGAIN ? 1 : -1;
	} else if (p->out && p->out->state == OUT_UP) {
		sock = p->out->sock;
	} else {
		return -1;
	}
	if (zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0)
		return errno == EAGAIN ? 1 : -1;
	stat_add(&net->st_frames_out, 1);
	stat_add(&net->st_bytes_out, len);
	atomic_fetch_add_explicit(&p->frames_out, 1, memory_order_relaxed);
	p->last_sent = now_ms();
	return 0;
}

static int send_buf(struct tr_net *net, struct peer *p, struct tr_wbuf *b)
{
	if (b->oom)
		return -1;
	pthread_mutex_lock(&p->lock);
	int r = send_raw(net, p, b->p, b->len);
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* Answer on the ROUTER to an identity (handshake). */
static void router_reply(struct tr_net *net, const uint8_t *rid, size_t rid_len,
                         struct tr_wbuf *b)
{
	if (b->oom)
		return;
	if (zmq_send(net->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return;
	zmq_send(net->router, b->p, b->len, ZMQ_DONTWAIT);
}

/* Write the DATA frame head in front of the chunk; returns its offset. */
static size_t frame_head(struct chunk *c, uint64_t seq)
{
	uint8_t h[FRAME_HEAD];
	struct tr_wbuf b = {h, 0, sizeof(h), false};
	tr__wb_array(&b, 3);
	tr__wb_uint(&b, TR_W_DATA);
	tr__wb_uint(&b, seq);
	tr__wb_array(&b, c->n);
	size_t off = FRAME_HEAD - b.len;
	memcpy(c->p + off, h, b.len);
	return off;
}

static void refuse_router(struct tr_net *net, const uint8_t *rid,
                          size_t rid_len, const char *why);
static void session_down(struct tr_net *net, struct peer *p, const char *reason,
                         bool retry);

/* The stash holds a frame with its seq already assigned (head written);
 * frames must leave in seq order, so nothing else goes before it. Peer
 * lock held. 0: sent (or none), 1: still refused, -1: the line failed. */
static int try_stash(struct tr_net *net, struct peer *p)
{
	struct chunk *c = p->stash;
	if (!c)
		return 0;
	size_t off = c->cap; /* cap doubles as the head offset while stashed */
	int r = send_raw(net, p, c->p + off, c->len - off);
	if (r)
		return r;
	p->qbytes -= c->len - FRAME_HEAD;
	p->stash = NULL;
	chunk_free(c);
	return 0;
}

/* Send what is queued for p, one DATA frame per chunk. Runs under the
 * peer's lock: senders may write to the line directly (enqueue()), and
 * the lock keeps the frames in sequence order. */
static void flush_peer(struct tr_net *net, struct peer *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->state == TR_PEER_JOINING && p->buffering) {
		/* the session is not up yet: the queue waits (still
		 * pending), check_up() hands it back to us */
		pthread_mutex_unlock(&p->lock);
		return;
	}
	int r = try_stash(net, p);
	if (r == 0) {
		struct chunk *list = p->qh;
		p->qh = p->qt = NULL;
		p->pending = false;
		bool up = p->state == TR_PEER_UP || p->state == TR_PEER_LEAVING;
		while (list && up && r == 0) {
			struct chunk *c = list;
			size_t off = frame_head(c, p->seq_out + 1);
			r = send_raw(net, p, c->p + off, c->len - off);
			if (r == 1) {
				/* keep it, and what follows, for the next round
				 */
				p->seq_out++;
				c->cap = off;
				p->stash = c;
				list = c->next;
				c->next = NULL;
				if (list) {
					struct chunk *t = list;
					while (t->next)
						t = t->next;
					t->next = p->qh;
					if (!p->qh)
						p->qt = t;
					p->qh = list;
					list = NULL;
				}
				if (p->qh)
					p->pending = true;
				break;
			}
			if (r == 0) {
				p->seq_out++;
				p->qbytes -= c->len - FRAME_HEAD;
			}
			list = c->next;
			chunk_free(c);
		}
		while (list) { /* the session is over */
			struct chunk *c = list;
			list = c->next;
			chunk_free(c);
		}
	}
	bool open = p->gated && p->qbytes < net->q_high / 2;
	if (open)
		p->gated = false;
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		session_down(net, p, "connection_closed", true);
	else if (open)
		tr__gate_open(&p->gate);
}

/* A control frame [kind] or [kind, last DATA seq]; as send_raw(). */
static int send_small(struct tr_net *net, struct peer *p, unsigned kind,
                      bool with_seq)
{
	uint8_t buf[16];
	struct tr_wbuf b = {buf, 0, sizeof(buf), false};
	pthread_mutex_lock(&p->lock);
	tr__wb_array(&b, with_seq ? 2 : 1);
	tr__wb_uint(&b, kind);
	if (with_seq)
		tr__wb_uint(&b, p->seq_out);
	int r = send_raw(net, p, b.p, b.len);
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* BUSY [pid, on]: our actor pid's mailbox is over the high mark (on) or
 * back under the low one. As send_raw(): 1 = not now. */
static int send_busy(struct tr_net *net, struct peer *p, tr_pid_t pid, bool on)
{
	uint8_t buf[64];
	struct tr_wbuf b = {buf, 0, sizeof(buf), false};
	pthread_mutex_lock(&p->lock);
	tr__wb_array(&b, 3);
	tr__wb_uint(&b, TR_W_BUSY);
	tr__wb_pid(&b, pid);
	tr__wb_uint(&b, on);
	int r = send_raw(net, p, b.p, b.len);
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* I/O thread, after delivering a user message from p to local actor to,
 * which left depth messages queued: a mailbox over twice its high mark
 * is told to p once (BUSY on). */
static void busy_check(struct tr_net *net, struct peer *p, tr_pid_t to,
                       uint64_t depth)
{
	/* twice the high mark: a remote sender hears of it a round trip
	 * late, and a mailbox that a window of messages in flight fills
	 * now and then should not switch its senders on and off */
	if (depth <= 2 * (uint64_t)net->node->mb_high || p->ntold == BUSY_MAX)
		return;
	for (size_t i = 0; i < p->ntold; i++)
		if (tr_pid_eq(p->told[i], to))
			return;
	if (send_busy(net, p, to, true) == 0)
		p->told[p->ntold++] = to;
}

/* I/O thread, each tick: the actors we said were busy and are now under
 * their low mark (or gone) are told free again. */
static void busy_release(struct tr_net *net, struct peer *p)
{
	for (size_t i = 0; i < p->ntold;) {
		struct tr_actor *a = tr__actor_get(net->node, p->told[i]);
		uint64_t depth = a ? tr__mailbox_depth(a) : 0;
		if (a)
			tr__actor_put(a);
		if (depth > net->node->mb_low ||
		    send_busy(net, p, p->told[i], false) != 0) {
			i++;
			continue;
		}
		p->told[i] = p->told[--p->ntold];
	}
}

/* A BUSY from p: pause or release our senders to that actor. */
static void on_busy(struct tr_net *net, struct peer *p, tr_pid_t pid, bool on)
{
	(void)net;
	struct tr__gate *open = NULL;
	pthread_mutex_lock(&p->lock);
	struct busy *slot = NULL, *free_slot = NULL;
	for (size_t i = 0; i < BUSY_MAX && !slot; i++) {
		if (p->busy[i].on && tr_pid_eq(p->busy[i].pid, pid))
			slot = &p->busy[i];
		else if (!p->busy[i].on && !free_slot)
			free_slot = &p->busy[i];
	}
	if (on && !slot && free_slot) {
		if (!free_slot->inited) {
			tr__gate_init(&free_slot->gate, net->node);
			free_slot->inited = true;
		}
		free_slot->pid = pid;
		free_slot->on = true;
		p->nbusy++;
		tr__gate_close(&free_slot->gate);
	} else if (!on && slot) {
		slot->on = false;
		p->nbusy--;
		open = &slot->gate;
	}
	pthread_mutex_unlock(&p->lock);
	if (open)
		tr__gate_open(open);
}

/* The session is over: every sender paused on p's actors runs again. */
static void busy_reset(struct peer *p)
{
	struct tr__gate *open[BUSY_MAX];
	size_t n = 0;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < BUSY_MAX; i++)
		if (p->busy[i].on) {
			p->busy[i].on = false;
			open[n++] = &p->busy[i].gate;
		}
	p->nbusy = 0;
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < n; i++)
		tr__gate_open(open[i]);
	p->ntold = 0;
}

/* ---- events to subscribers ----------------------------------------------- */

static void notify(struct tr_net *net, struct peer *p, bool up,
                   const char *reason)
{
	pthread_mutex_lock(&net->sub_lock);
	for (size_t i = 0; i < net->nsubs;) {
		struct sub *s = &net->subs[i];
		struct tr_actor *a = tr__actor_get(net->node, s->pid);
		if (!a) { /* the subscriber exited */
			net->subs[i] = net->subs[--net->nsubs];
			continue;
		}
		tr__actor_put(a);
		bool match = s->all ? (!p->hidden || s->hidden)
		                    : (!up && !strcmp(s->node, p->name));
		if (!match) {
			i++;
			continue;
		}
		tr_msg_t *m;
		if (tr_msg_new(&m, up ? "nodeup" : "nodedown") == TR_OK) {
			tr_msg_add_str(m, p->name);
			if (up)
				tr_msg_add_uint(m, p->creation);
			else
				tr_msg_add_str(m, reason);
			tr__deliver(net->node, s->pid, m);
		}
		if (!s->all) { /* monitor_node fires once */
			net->subs[i] = net->subs[--net->nsubs];
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&net->sub_lock);
}

/* ---- sessions (I/O thread) ----------------------------------------------- */

static void out_close(struct outconn *oc)
{
	if (oc->mon) {
		zmq_socket_monitor(oc->sock, NULL, 0);
		zmq_close(oc->mon);
		oc->mon = NULL;
	}
	if (oc->sock) {
		zmq_close(oc->sock);
		oc->sock = NULL;
	}
	if (oc->peer && oc->peer->out == oc)
		oc->peer->out = NULL;
	oc->peer = NULL;
	oc->dead = true; /* freed by the loop */
}

static void deliver_noconnection(struct tr_net *net, struct xent **xb)
{
	for (size_t h = 0; xb && h < XBUCKETS; h++) {
		struct xent *x = xb[h];
		while (x) {
			struct xent *next = x->next;
			tr__connection_lost(net->node, x->type, x->local,
			                    x->remote, x->ref);
			free(x);
			x = next;
		}
	}
	free(xb);
}

static void session_down(struct tr_net *net, struct peer *p, const char *reason,
                         bool retry)
{
	pthread_mutex_lock(&p->lock);
	bool was_up = p->state == TR_PEER_UP || p->state == TR_PEER_LEAVING;
	p->state = TR_PEER_DOWN;
	p->buffering = false;
	p->direct = false; /* from now on only this thread uses the line */
	p->seq_out = 0;
	struct chunk *q = p->qh;
	p->qh = p->qt = NULL;
	p->qbytes = 0;
	p->pending = false;
	struct xent **xb = p->xb;
	p->xb = NULL;
	p->xn = 0;
	p->gated = false;
	struct waiter *ws[8];
	memcpy(ws, p->waiters, sizeof(ws));
	memset(p->waiters, 0, sizeof(p->waiters));
	pthread_mutex_unlock(&p->lock);
	while (q) {
		struct chunk *c = q;
		q = c->next;
		chunk_free(c);
	}
	if (p->stash) {
		chunk_free(p->stash);
		p->stash = NULL;
	}
	tr__gate_open(&p->gate);
	busy_reset(p);
	if (p->out)
		out_close(p->out);
	/* The peer's line into our ROUTER belonged to this session: tell
	 * it so, or the peer would go on sending on a line we no longer
	 * know (a half-open session until its heartbeat timeout, and worse:
	 * it would reuse that line for its next session with us). Not
	 * needed when the peer itself left: it closed everything. */
	if (p->in_up && p->rid_len && (strcmp(reason, "left") || net->leaving))
		refuse_router(net, p->rid, p->rid_len, "no session");
	p->in_up = false;
	p->rid_len = 0;
	p->via_router = false;
	p->seq_in = 0;
	deliver_noconnection(net, xb);
	for (int i = 0; i < 8; i++)
		waiter_done(ws[i], TR_ECONNRESET);
	if (was_up) {
		stat_add(&net->st_nodedowns, 1);
		net_log(net, TR_LOG_INFO, "nodedown", p->name, reason);
		notify(net, p, false, reason);
	}
	p->retry = retry && p->endpoint[0] && !net->hidden && !p->hidden;
	if (p->retry) {
		p->retry_at = now_ms() + p->backoff;
		p->backoff = p->backoff * 2 > 5000 ? 5000 : p->backoff * 2;
	}
}

/* Peers gossiped to `to`: up, visible, not itself (only: just that one). */
static bool gossiped(const struct peer *q, const struct peer *to,
                     const struct peer *only)
{
	return q != to && q->state == TR_PEER_UP && !q->hidden &&
	       (!only || q == only);
}

static void gossip_to(struct tr_net *net, struct peer *to, struct peer *only)
{
	struct tr_wbuf b = {0};
	size_t n = 0;
	for (size_t i = 0; i < net->npeers; i++)
		n += gossiped(net->plist[i], to, only);
	if (!n)
		return;
	tr__wb_array(&b, 2);
	tr__wb_uint(&b, TR_W_NODES);
	tr__wb_array(&b, (uint32_t)n);
	for (size_t i = 0; i < net->npeers; i++) {
		struct peer *q = net->plist[i];
		if (gossiped(q, to, only)) {
			tr__wb_array(&b, 3);
			tr__wb_str(&b, q->name, strlen(q->name));
			tr__wb_str(&b, q->endpoint, strlen(q->endpoint));
			tr__wb_uint(&b, q->creation);
		}
	}
	send_buf(net, to, &b);
	tr__wb_free(&b);
}

static void check_up(struct tr_net *net, struct peer *p)
{
	bool out_ok = p->via_router || (p->out && p->out->state == OUT_UP);
	bool in_ok = p->in_up;
	if (!out_ok || !in_ok)
		return;
	pthread_mutex_lock(&p->lock);
	bool was = p->state == TR_PEER_UP;
	if (!was)
		p->state = TR_PEER_UP;
	/* what was queued while the session was being established */
	bool queued = p->buffering && p->pending;
	p->buffering = false;
	/* A line that only sends can be written by the senders themselves
	 * (the I/O thread stops polling it); a hidden node without a
	 * listener receives on its line, so it keeps it to itself. */
	p->direct = !p->via_router && !(net->hidden && !net->endpoint[0]);
	struct waiter *ws[8];
	memcpy(ws, p->waiters, sizeof(ws));
	memset(p->waiters, 0, sizeof(p->waiters));
	pthread_mutex_unlock(&p->lock);
	if (queued)
		ready_push(net, p);
	for (int i = 0; i < 8; i++)
		waiter_done(ws[i], TR_OK);
	if (was)
		return;
	p->backoff = 100;
	p->retry = false;
	p->last_heard = now_ms();
	p->last_sent = p->last_heard;
	net_log(net, TR_LOG_INFO, "nodeup", p->name, NULL);
	notify(net, p, true, NULL);
	if (net->hidden || p->hidden)
		return;
	/* full mesh: tell the newcomer about everyone, everyone about it */
	gossip_to(net, p, NULL);
	for (size_t i = 0; i < net->npeers; i++) {
		struct peer *q = net->plist[i];
		if (q != p && q->state == TR_PEER_UP && !q->hidden)
			gossip_to(net, q, p);
	}
}

static void peer_add_waiter(struct peer *p, struct waiter *w)
{
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < 8; i++) {
		if (!p->waiters[i]) {
			p->waiters[i] = w;
			w = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (w)
		waiter_done(w, TR_EAGAIN); /* too many joins at once */
}

/* ---- handshake ------------------------------------------------------------
 */

static void proof(struct tr_net *net, const char *label, const uint8_t *n_conn,
                  const uint8_t *n_acc, const char *name_conn,
                  const char *name_acc, uint32_t cr_conn, uint32_t cr_acc,
                  uint8_t out[TR_WIRE_PROOF])
{
	memset(out, 0, TR_WIRE_PROOF);
	if (net->secret)
		tr__wire_proof(net->secret, net->secret_len, label, n_conn,
		               n_acc, name_conn, name_acc, cr_conn, cr_acc,
		               out);
}

static bool proof_ok(const uint8_t *a, const uint8_t *b)
{
	return sodium_memcmp(a, b, TR_WIRE_PROOF) == 0;
}

static void write_hello(struct tr_net *net, struct tr_wbuf *b, unsigned kind,
                        const uint8_t *nonce, const uint8_t *prf)
{
	tr__wb_array(b, kind == TR_W_HELLO ? 8 : 9);
	tr__wb_uint(b, kind);
	tr__wb_uint(b, TR_WIRE_VERSION);
	tr__wb_str(b, net->node->name, strlen(net->node->name));
	tr__wb_uint(b, net->node->creation);
	tr__wb_uint(b, (net->hidden ? TR_WF_HIDDEN : 0));
	tr__wb_str(b, net->endpoint, strlen(net->endpoint));
	tr__wb_bin(b, nonce, TR_WIRE_NONCE);
	tr__wb_pid(b, net->kernel);
	if (kind == TR_W_CHALLENGE)
		tr__wb_bin(b, prf, TR_WIRE_PROOF);
}

static void refuse_router(struct tr_net *net, const uint8_t *rid,
                          size_t rid_len, const char *why)
{
	uint8_t buf[300];
	struct tr_wbuf b = {buf, 0, sizeof(buf), false};
	tr__wb_array(&b, 2);
	tr__wb_uint(&b, TR_W_REFUSE);
	tr__wb_str(&b, why, strlen(why));
	router_reply(net, rid, rid_len, &b);
}

static struct outconn *out_start(struct tr_net *net, const char *endpoint,
                                 const char *expect, uint64_t timeout_ms,
                                 struct waiter *w, struct peer *for_peer)
{
	struct outconn *oc = calloc(1, sizeof(*oc));
	if (!oc) {
		waiter_done(w, TR_ENOMEM);
		return NULL;
	}
	snprintf(oc->endpoint, sizeof(oc->endpoint), "%s", endpoint);
	snprintf(oc->expect, sizeof(oc->expect), "%s", expect ? expect : "");
	oc->sock = zmq_socket(net->zctx, ZMQ_DEALER);
	char rid[TR_NODE_NAME_MAX + 32];
	static _Atomic uint64_t serial;
	int rl = snprintf(rid, sizeof(rid), "%s/%u/%llu", net->node->name,
	                  (unsigned)net->node->creation,
	                  (unsigned long long)atomic_fetch_add(&serial, 1));
	int zero = 0, ivl = 100, ivl_max = 2000, one = 1, hwm = 1000;
	int64_t maxmsg = (int64_t)net->max_frame;
	if (!oc->sock ||
	    zmq_setsockopt(oc->sock, ZMQ_ROUTING_ID, rid, (size_t)rl) ||
	    zmq_setsockopt(oc->sock, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_setsockopt(oc->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) ||
	    zmq_setsockopt(oc->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max,
	                   sizeof(ivl_max)) ||
	    zmq_setsockopt(oc->sock, ZMQ_IMMEDIATE, &one, sizeof(one)) ||
	    zmq_setsockopt(oc->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(oc->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
	    (net->curve &&
	     (zmq_setsockopt(oc->sock, ZMQ_CURVE_SERVERKEY, net->srv_pub, 41) ||
	      zmq_setsockopt(oc->sock, ZMQ_CURVE_PUBLICKEY, net->my_pub, 41) ||
	      zmq_setsockopt(oc->sock, ZMQ_CURVE_SECRETKEY, net->my_sec,
	                     41))) ||
	    zmq_connect(oc->sock, endpoint)) {
		if (oc->sock)
			zmq_close(oc->sock);
		free(oc);
		waiter_done(w, TR_EINVAL);
		return NULL;
	}
	/* A closed TCP connection (a peer killed, a RST) ends the session at
	 * once; heartbeats are for silent cuts. */
	char mep[64];
	snprintf(mep, sizeof(mep), "inproc://tr-line-%llu",
	         (unsigned long long)atomic_fetch_add(&serial, 1));
	if (!zmq_socket_monitor(oc->sock, mep, ZMQ_EVENT_DISCONNECTED)) {
		oc->mon = zmq_socket(net->zctx, ZMQ_PAIR);
		if (oc->mon && zmq_connect(oc->mon, mep)) {
			zmq_close(oc->mon);
			oc->mon = NULL;
		}
		if (!oc->mon)
			zmq_socket_monitor(oc->sock, NULL, 0);
	}
	randombytes_buf(oc->nonce, sizeof(oc->nonce));
	oc->state = OUT_CONNECTING;
	oc->deadline = now_ms() + (int64_t)timeout_ms;
	oc->hello_at = 0; /* at once */
	oc->waiter = w;
	oc->for_peer = for_peer;
	oc->next = net->outs;
	net->outs = oc;
	return oc;
}

static void out_hello(struct tr_net *net, struct outconn *oc)
{
	uint8_t buf[600];
	struct tr_wbuf b = {buf, 0, sizeof(buf), false};
	write_hello(net, &b, TR_W_HELLO, oc->nonce, NULL);
	/* IMMEDIATE: fails until the TCP connection is made; retried */
	if (zmq_send(oc->sock, b.p, b.len, ZMQ_DONTWAIT) >= 0)
		oc->hello_at = INT64_MAX;
	else
		oc->hello_at = now_ms() + 20;
}

static void out_fail(struct tr_net *net, struct outconn *oc, tr_err e)
{
	struct peer *p = oc->peer ? oc->peer : oc->for_peer;
	waiter_done(oc->waiter, e);
	oc->waiter = NULL;
	if (p && p->out == oc &&
	    (p->state == TR_PEER_UP || p->state == TR_PEER_LEAVING)) {
		session_down(net, p, "connection_closed", true);
		return;
	}
	out_close(oc);
	if (p && !p->retry && p->endpoint[0] && p->state == TR_PEER_DOWN &&
	    !p->in_up && !p->out && !net->leaving && !net->left &&
	    e != TR_EAUTH) {
		p->retry = true;
		p->retry_at = now_ms() + p->backoff;
		p->backoff = p->backoff * 2 > 5000 ? 5000 : p->backoff * 2;
	}
}

/* A CHALLENGE on one of our lines: check the acceptor's proof, attach the
 * line to its peer, prove ourselves. */
static void on_challenge(struct tr_net *net, struct outconn *oc,
                         const struct tr_whello *h)
{
	if (oc->state != OUT_CONNECTING) {
		out_fail(net, oc, TR_EPROTO);
		return;
	}
	uint8_t want[TR_WIRE_PROOF];
	proof(net, "troupe-1 acceptor", oc->nonce, h->nonce, net->node->name,
	      h->name, net->node->creation, h->creation, want);
	if (net->secret && !proof_ok(want, h->proof)) {
		stat_add(&net->st_rejected_auth, 1);
		net_log(net, TR_LOG_WARN, "refused (bad proof from acceptor)",
		        h->name, oc->endpoint);
		out_fail(net, oc, TR_EAUTH);
		return;
	}
	if (!strcmp(h->name, net->node->name) ||
	    (oc->expect[0] && strcmp(oc->expect, h->name))) {
		out_fail(net, oc, TR_EEXIST);
		return;
	}
	struct peer *p = peer_get(net, h->name);
	if (!p) {
		out_fail(net, oc, TR_ELIMIT);
		return;
	}
	if (p->out && p->out != oc) {
		/* a line to this peer exists: keep it, drop this one */
		struct waiter *w = oc->waiter;
		oc->waiter = NULL;
		out_close(oc);
		if (w) {
			if (p->state == TR_PEER_UP)
				waiter_done(w, TR_OK);
			else
				peer_add_waiter(p, w);
		}
		return;
	}
	if (p->state == TR_PEER_UP && p->creation != h->creation)
		session_down(net, p, "restarted", false);
	uint8_t mine[TR_WIRE_PROOF];
	proof(net, "troupe-1 connector", oc->nonce, h->nonce, net->node->name,
	      h->name, net->node->creation, h->creation, mine);
	uint8_t buf[64];
	struct tr_wbuf b = {buf, 0, sizeof(buf), false};
	tr__wb_array(&b, 2);
	tr__wb_uint(&b, TR_W_AUTH);
	tr__wb_bin(&b, mine, TR_WIRE_PROOF);
	if (zmq_send(oc->sock, b.p, b.len, ZMQ_DONTWAIT) < 0) {
		out_fail(net, oc, TR_ECONNRESET);
		return;
	}
	oc->state = OUT_AUTH_SENT;
	oc->peer = p;
	p->out = oc;
	pthread_mutex_lock(&p->lock);
	if (p->state == TR_PEER_DOWN)
		p->state = TR_PEER_JOINING;
	if (!p->in_up) {
		p->creation = h->creation;
		p->hidden = h->flags & TR_WF_HIDDEN;
		p->kernel = h->kernel;
	}
	snprintf(p->endpoint, sizeof(p->endpoint), "%s", h->endpoint);
	pthread_mutex_unlock(&p->lock);
	if (oc->waiter) {
		peer_add_waiter(p, oc->waiter);
		oc->waiter = NULL;
	}
}

static void on_hello(struct tr_net *net, const uint8_t *rid, size_t rid_len,
                     const struct tr_whello *h)
{
	if (!strcmp(h->name, net->node->name)) {
		refuse_router(net, rid, rid_len, "name in use");
		return;
	}
	if (net->left && !(h->flags & TR_WF_HIDDEN)) {
		refuse_router(net, rid, rid_len, "left");
		return;
	}
	struct inhs *slot = NULL;
	int64_t now = now_ms();
	for (int i = 0; i < MAX_PENDING_IN; i++) {
		struct inhs *s = &net->inhs[i];
		if (s->used && s->rid_len == rid_len &&
		    !memcmp(s->rid, rid, rid_len)) {
			slot = s;
			break;
		}
		if ((!s->used || s->deadline < now) && !slot)
			slot = s;
	}
	if (!slot) {
		stat_add(&net->st_rejected_auth, 1);
		net_warn_limited(net, "dropped a HELLO", "too many handshakes");
		return; /* too many handshakes at once: drop */
	}
	slot->used = true;
	memcpy(slot->rid, rid, rid_len);
	slot->rid_len = rid_len;
	slot->hello = *h;
	slot->deadline = now + 2000;
	randombytes_buf(slot->nonce, sizeof(slot->nonce));
	uint8_t prf[TR_WIRE_PROOF];
	proof(net, "troupe-1 acceptor", h->nonce, slot->nonce, h->name,
	      net->node->name, h->creation, net->node->creation, prf);
	uint8_t buf[640];
	struct tr_wbuf b = {buf, 0, sizeof(buf), false};
	write_hello(net, &b, TR_W_CHALLENGE, slot->nonce, prf);
	router_reply(net, rid, rid_len, &b);
}

static void on_auth(struct tr_net *net, const uint8_t *rid, size_t rid_len,
                    const uint8_t *prf)
{
	struct inhs *s = NULL;
	for (int i = 0; i < MAX_PENDING_IN; i++) {
		if (net->inhs[i].used && net->inhs[i].rid_len == rid_len &&
		    !memcmp(net->inhs[i].rid, rid, rid_len)) {
			s = &net->inhs[i];
			break;
		}
	}
	if (!s) {
		stat_add(&net->st_rejected_auth, 1);
		net_warn_limited(net, "dropped an AUTH", "no handshake");
		return;
	}
	s->used = false;
	const struct tr_whello *h = &s->hello;
	uint8_t want[TR_WIRE_PROOF];
	proof(net, "troupe-1 connector", h->nonce, s->nonce, h->name,
	      net->node->name, h->creation, net->node->creation, want);
	if (net->secret && !proof_ok(want, prf)) {
		stat_add(&net->st_rejected_auth, 1);
		net_log(net, TR_LOG_WARN, "refused (bad proof)", h->name, NULL);
		refuse_router(net, rid, rid_len, "authentication failed");
		return;
	}
	struct peer *p = peer_get(net, h->name);
	if (!p) {
		refuse_router(net, rid, rid_len, "node table full");
		return;
	}
	if (p->in_up || p->state == TR_PEER_UP) {
		/* The peer started a new session: it believes the old one
		 * over (or it restarted). End ours, then take the new one. */
		session_down(net, p,
		             p->creation != h->creation ? "restarted"
		                                        : "connection_closed",
		             false);
	}
	pthread_mutex_lock(&p->lock);
	p->creation = h->creation;
	p->hidden = h->flags & TR_WF_HIDDEN;
	p->kernel = h->kernel;
	snprintf(p->endpoint, sizeof(p->endpoint), "%s", h->endpoint);
	if (p->state == TR_PEER_DOWN)
		p->state = TR_PEER_JOINING;
	p->buffering = p->state == TR_PEER_JOINING;
	pthread_mutex_unlock(&p->lock);
	memcpy(p->rid, rid, rid_len);
	p->rid_len = rid_len;
	p->in_up = true;
	p->seq_in = 0;
	p->last_heard = now_ms();
	p->via_router = h->endpoint[0] == 0;
	p->retry = false;
	uint8_t buf[8];
	struct tr_wbuf b = {buf, 0, sizeof(buf), false};
	tr__wb_array(&b, 1);
	tr__wb_uint(&b, TR_W_WELCOME);
	router_reply(net, rid, rid_len, &b);
	if (!p->via_router && !p->out)
		out_start(net, h->endpoint, h->name, 2000, NULL, p);
	check_up(net, p);
}

/* ---- frames in (I/O thread) -----------------------------------------------
 */

/* One envelope of a DATA frame from p. false: protocol violation. */
static bool deliver_env(struct tr_net *net, struct peer *p,
                        const struct tr_wenv *e)
{
	struct tr_node *node = net->node;
	bool user = e->kind == TR_WE_SEND || e->kind == TR_WE_CAST ||
	            e->kind == TR_WE_CALL || e->kind == TR_WE_REPLY;
	/* spoofing: the sender must be the authenticated peer's, or none
	 * for what plain threads may send (sends, casts, replies) */
	if (!(tr_pid_is_none(e->from) &&
	      (e->kind == TR_WE_SEND || e->kind == TR_WE_CAST ||
	       e->kind == TR_WE_REPLY)) &&
	    (e->from.node != p->id || e->from.creation != p->creation)) {
		stat_add(&net->st_spoofed, 1);
		net_log(net, TR_LOG_WARN, "spoofed sender", p->name, NULL);
		return false;
	}
	bool payload_ok =
	        user                    ? e->payload != NULL
	        : e->kind == TR_WE_EXIT ? e->payload && e->payload_count == 3
	        : e->kind == TR_WE_DOWN ? e->payload && e->payload_count == 4
	                                : e->payload == NULL;
	if (!payload_ok)
		return false;
	tr_pid_t to = e->to;
	if (e->named) {
		if (e->kind != TR_WE_SEND && e->kind != TR_WE_CAST)
			return false;
		char name[256];
		memcpy(name, e->to_name, e->to_name_len);
		name[e->to_name_len] = 0;
		if (tr_whereis(node, name, &to) != TR_OK)
			return true; /* unknown name: dropped, as in Erlang */
	} else if (to.node != node->id) {
		return false; /* not for us */
	}
	if (to.creation != node->creation)
		stat_add(&net->st_stale, 1);
	tr_msg_t *m;
	uint8_t kind = runtime_kind(e->kind);
	if (tr__msg_from_valid(kind, e->payload,
	                       e->payload ? e->payload_len : 0,
	                       e->payload_count, e->tag_off, &m))
		return true; /* out of memory: see semantics.md */
	/* An anonymous message (a plain thread's send or reply) is from
	 * the peer's kernel here: "no sender" stays what it means locally,
	 * this node's own notices (nodeup, nodedown, ...), which no peer
	 * can forge. */
	m->from = tr_pid_is_none(e->from) ? p->kernel : e->from;
	m->ref = e->ref;
	m->aux = e->aux;
	if (kind == TR__SIG_EXIT && (e->flags & TR_WEF_LINKED))
		m->flags |= TR__MSGF_LINKED;
	if (kind >= TR__SIG_FIRST) {
		pthread_mutex_lock(&p->lock);
		xnote(p, false, kind, e->from, to, e->ref, m->flags);
		pthread_mutex_unlock(&p->lock);
	}
	uint64_t depth = tr__deliver(node, to, m);
	if (user)
		busy_check(net, p, to, depth);
	atomic_fetch_add_explicit(&p->msgs_in, 1, memory_order_relaxed);
	stat_add(&net->st_msgs_in, 1);
	return true;
}

static void on_nodes(struct tr_net *net, struct tr_wframe *f)
{
	struct tr_wcur c = f->body;
	for (size_t i = 0; i < f->count; i++) {
		struct tr_wnode nd;
		if (tr__wire_next_node(&c, &nd))
			return;
		if (!strcmp(nd.name, net->node->name))
			continue;
		struct peer *q = peer_by_name(net, nd.name);
		if (q && (q->state != TR_PEER_DOWN || q->out || q->in_up))
			continue;
		bool busy = false; /* a line to that endpoint is opening */
		for (struct outconn *oc = net->outs; oc && !busy; oc = oc->next)
			busy = !oc->dead && !strcmp(oc->endpoint, nd.endpoint);
		if (!busy)
			out_start(net, nd.endpoint, nd.name, 2000, NULL, q);
	}
}

/* A frame on an established session. */
static void on_session_frame(struct tr_net *net, struct peer *p,
                             struct tr_wframe *f)
{
	p->last_heard = now_ms();
	atomic_fetch_add_explicit(&p->frames_in, 1, memory_order_relaxed);
	switch (f->kind) {
	case TR_W_DATA: {
		if (f->seq != p->seq_in + 1) {
			session_down(net, p, "sequence_gap", true);
			return;
		}
		p->seq_in = f->seq;
		struct tr_wcur c = f->body;
		for (size_t i = 0; i < f->count; i++) {
			struct tr_wenv e;
			if (tr__wire_next_env(&c, &e) ||
			    !deliver_env(net, p, &e)) {
				stat_add(&net->st_rejected, 1);
				net_log(net, TR_LOG_WARN, "protocol error",
				        p->name, "bad envelope");
				session_down(net, p, "protocol_error", true);
				return;
			}
		}
		return;
	}
	case TR_W_HEARTBEAT:
		if (f->seq != p->seq_in)
			session_down(net, p, "sequence_gap", true);
		return;
	case TR_W_LEAVE:
		if (f->seq != p->seq_in) {
			session_down(net, p, "sequence_gap", true);
			return;
		}
		send_small(net, p, TR_W_LEAVE_ACK, false);
		pthread_mutex_lock(&p->lock);
		if (p->out && p->out->sock) {
			/* let the ack leave before the line closes */
			int linger = 1000;
			zmq_setsockopt(p->out->sock, ZMQ_LINGER, &linger,
			               sizeof(linger));
		}
		pthread_mutex_unlock(&p->lock);
		session_down(net, p, "left", false);
		return;
	case TR_W_LEAVE_ACK:
		p->leave_acked = true;
		return;
	case TR_W_NODES:
		if (!net->hidden)
			on_nodes(net, f);
		return;
	case TR_W_BUSY:
		/* only about its own actors */
		if (f->busy_pid.node != p->id ||
		    f->busy_pid.creation != p->creation) {
			stat_add(&net->st_rejected, 1);
			session_down(net, p, "protocol_error", true);
			return;
		}
		on_busy(net, p, f->busy_pid, f->busy_on);
		return;
	default:
		stat_add(&net->st_rejected, 1);
		session_down(net, p, "protocol_error", true);
		return;
	}
}

static struct peer *peer_by_rid(struct tr_net *net, const uint8_t *rid,
                                size_t rid_len)
{
	for (size_t i = 0; i < net->npeers; i++) {
		struct peer *p = net->plist[i];
		if (p->in_up && p->rid_len == rid_len &&
		    !memcmp(p->rid, rid, rid_len))
			return p;
	}
	return NULL;
}

static void on_router_frame(struct tr_net *net, const uint8_t *rid,
                            size_t rid_len, const uint8_t *data, size_t len)
{
	stat_add(&net->st_frames_in, 1);
	stat_add(&net->st_bytes_in, len);
	struct peer *p = peer_by_rid(net, rid, rid_len);
	struct tr_wframe f;
	tr_err e = tr__wire_decode(data, len, &f);
	if (e) {
		stat_add(&net->st_rejected, 1);
		if (!p)
			net_warn_limited(net, "dropped a malformed frame",
			                 "unauthenticated peer");
		if (p) {
			net_log(net, TR_LOG_WARN, "protocol error", p->name,
			        "malformed frame");
			session_down(net, p, "protocol_error", true);
		} else if (e == TR_EVERSION) {
			refuse_router(net, rid, rid_len, "version");
		}
		return;
	}
	switch (f.kind) {
	case TR_W_HELLO:
		on_hello(net, rid, rid_len, &f.hello);
		return;
	case TR_W_AUTH:
		on_auth(net, rid, rid_len, f.proof);
		return;
	case TR_W_DATA:
	case TR_W_HEARTBEAT:
	case TR_W_LEAVE:
	case TR_W_LEAVE_ACK:
	case TR_W_NODES:
	case TR_W_BUSY:
		if (!p) {
			/* nothing before authentication. A well-formed session
			 * frame on a line we do not know is a peer that still
			 * believes in a session we ended: say so, so that it
			 * ends its side and reconnects (the answer is smaller
			 * than the frame, and goes nowhere else) */
			stat_add(&net->st_rejected_auth, 1);
			net_warn_limited(net, "dropped a frame",
			                 "unauthenticated peer");
			refuse_router(net, rid, rid_len, "no session");
			return;
		}
		on_session_frame(net, p, &f);
		return;
	default:
		stat_add(&net->st_rejected, 1);
		if (p)
			session_down(net, p, "protocol_error", true);
		return;
	}
}

static void on_dealer_frame(struct tr_net *net, struct outconn *oc,
                            const uint8_t *data, size_t len)
{
	stat_add(&net->st_frames_in, 1);
	stat_add(&net->st_bytes_in, len);
	struct tr_wframe f;
	tr_err e = tr__wire_decode(data, len, &f);
	if (e) {
		stat_add(&net->st_rejected, 1);
		out_fail(net, oc, e == TR_EVERSION ? TR_EVERSION : TR_EPROTO);
		return;
	}
	switch (f.kind) {
	case TR_W_CHALLENGE:
		on_challenge(net, oc, &f.hello);
		return;
	case TR_W_WELCOME:
		if (oc->state != OUT_AUTH_SENT || !oc->peer) {
			out_fail(net, oc, TR_EPROTO);
			return;
		}
		oc->state = OUT_UP;
		if (net->hidden && !net->endpoint[0]) {
			/* no listener: the peer answers on this line */
			struct peer *p = oc->peer;
			p->in_up = true;
			p->seq_in = 0;
			p->last_heard = now_ms();
		}
		check_up(net, oc->peer);
		return;
	case TR_W_REFUSE:
		stat_add(&net->st_rejected_auth, 1);
		net_log(net, TR_LOG_WARN, "refused by peer", oc->endpoint,
		        f.reason);
		out_fail(net, oc,
		         !strcmp(f.reason, "authentication failed") ? TR_EAUTH
		         : !strcmp(f.reason, "name in use")         ? TR_EEXIST
		         : !strcmp(f.reason, "version") ? TR_EVERSION
		                                        : TR_ECONNREFUSED);
		return;
	default:
		if (oc->peer && oc->state == OUT_UP && net->hidden &&
		    !net->endpoint[0]) {
			on_session_frame(net, oc->peer, &f);
			return;
		}
		stat_add(&net->st_rejected, 1);
		out_fail(net, oc, TR_EPROTO);
		return;
	}
}

/* ---- the I/O loop -------------------------------------------------------- */

static void run_cmds(struct tr_net *net)
{
	pthread_mutex_lock(&net->cmd_lock);
	struct cmd *c = net->cmds;
	net->cmds = NULL;
	pthread_mutex_unlock(&net->cmd_lock);
	/* oldest first */
	struct cmd *rev = NULL;
	while (c) {
		struct cmd *n = c->next;
		c->next = rev;
		rev = c;
		c = n;
	}
	while (rev) {
		struct cmd *cmd = rev;
		rev = rev->next;
		if (atomic_load(&net->stop)) {
			waiter_done(cmd->waiter, TR_ECLOSED);
		} else if (cmd->type == CMD_CONNECT) {
			net->left = false;
			out_start(net, cmd->endpoint, NULL, cmd->timeout_ms,
			          cmd->waiter, NULL);
		} else if (cmd->type == CMD_LEAVE) {
			net->leaving = true;
			net->leave_waiter = cmd->waiter;
			net->leave_deadline =
			        now_ms() + (int64_t)cmd->timeout_ms;
			for (size_t i = 0; i < net->npeers; i++) {
				struct peer *p = net->plist[i];
				p->retry = false;
				p->leave_acked = false;
				pthread_mutex_lock(&p->lock);
				bool up = p->state == TR_PEER_UP;
				if (up)
					p->state = TR_PEER_LEAVING;
				pthread_mutex_unlock(&p->lock);
				if (up) {
					flush_peer(net, p);
					p->leave_pending = true;
				}
			}
		}
		free(cmd);
	}
}

static void finish_leave(struct tr_net *net, bool force)
{
	bool all = true;
	for (size_t i = 0; i < net->npeers; i++) {
		struct peer *p = net->plist[i];
		if (p->state == TR_PEER_LEAVING && !p->leave_acked)
			all = false;
	}
	if (!all && !force && now_ms() < net->leave_deadline)
		return;
	for (size_t i = 0; i < net->npeers; i++) {
		struct peer *p = net->plist[i];
		p->retry = false;
		if (p->state != TR_PEER_DOWN || p->out || p->in_up)
			session_down(net, p, "left", false);
		p->retry = false;
	}
	for (struct outconn *oc = net->outs; oc; oc = oc->next)
		if (!oc->dead)
			out_fail(net, oc, TR_ECANCELED);
	net->leaving = false;
	net->left = true;
	waiter_done(net->leave_waiter, all ? TR_OK : TR_ETIMEDOUT);
	net->leave_waiter = NULL;
}

#define TICK_MS 10 /* timers run at most this often, however busy */

static void timers(struct tr_net *net, bool force)
{
	int64_t now = now_ms();
	if (!force && now < net->next_tick)
		return;
	net->next_tick = now + TICK_MS;
	for (size_t i = 0; i < net->npeers; i++) {
		struct peer *p = net->plist[i];
		if (p->in_up &&
		    now - p->last_heard > (int64_t)net->timeout_ms) {
			session_down(net, p, "heartbeat_timeout", true);
			continue;
		}
		if (p->leave_pending && !p->stash &&
		    p->state == TR_PEER_LEAVING) {
			/* after every DATA frame: its seq says so */
			if (send_small(net, p, TR_W_LEAVE, true) != 1)
				p->leave_pending = false;
		}
		/* not while a DATA frame waits: its seq would look lost */
		if ((p->state == TR_PEER_UP || p->state == TR_PEER_LEAVING) &&
		    now - p->last_sent >= (int64_t)net->hb_ms && !p->stash &&
		    send_small(net, p, TR_W_HEARTBEAT, true) < 0)
			session_down(net, p, "connection_closed", true);
		/* never while stopping: the last pass of the I/O thread
		 * runs this after closing every line, and a line opened
		 * then would keep zmq_ctx_term() waiting for ever */
		if (p->retry && now >= p->retry_at && !p->out && !p->in_up &&
		    !net->leaving && !atomic_load(&net->stop)) {
			p->retry = false;
			out_start(net, p->endpoint, p->name, 2000, NULL, p);
		}
	}
	for (struct outconn *oc = net->outs; oc; oc = oc->next) {
		if (oc->dead)
			continue;
		if (oc->state != OUT_UP && now > oc->deadline) {
			out_fail(net, oc, TR_ETIMEDOUT);
			continue;
		}
		if (oc->state == OUT_CONNECTING && now >= oc->hello_at)
			out_hello(net, oc);
	}
	for (int i = 0; i < MAX_PENDING_IN; i++)
		if (net->inhs[i].used && net->inhs[i].deadline < now)
			net->inhs[i].used = false;
	/* free closed lines */
	for (struct outconn **pp = &net->outs; *pp;) {
		struct outconn *oc = *pp;
		if (oc->dead) {
			*pp = oc->next;
			waiter_done(oc->waiter, TR_ECANCELED);
			free(oc);
		} else {
			pp = &oc->next;
		}
	}
}

static void drain_router(struct tr_net *net)
{
	for (int k = 0; k < 256; k++) {
		zmq_msg_t id, body;
		zmq_msg_init(&id);
		if (zmq_msg_recv(&id, net->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&id);
			return;
		}
		zmq_msg_init(&body);
		if (!zmq_msg_more(&id) ||
		    zmq_msg_recv(&body, net->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&id);
			zmq_msg_close(&body);
			continue;
		}
		/* a peer sending multipart frames breaks the framing */
		bool extra = zmq_msg_more(&body);
		while (zmq_msg_more(&body)) {
			zmq_msg_close(&body);
			zmq_msg_init(&body);
			if (zmq_msg_recv(&body, net->router, ZMQ_DONTWAIT) < 0)
				break;
		}
		if (extra || zmq_msg_size(&id) > 255) {
			/* dropped; on a session it is a protocol error that
			 * ends the session (protocol.md §1, §7) */
			stat_add(&net->st_rejected, 1);
			struct peer *p =
			        zmq_msg_size(&id) <= 255
			                ? peer_by_rid(net, zmq_msg_data(&id),
			                              zmq_msg_size(&id))
			                : NULL;
			if (p) {
				net_log(net, TR_LOG_WARN, "protocol error",
				        p->name, "multipart frame");
				session_down(net, p, "protocol_error", true);
			} else {
				net_warn_limited(net, "dropped a frame",
				                 "multipart");
			}
		} else {
			on_router_frame(net, zmq_msg_data(&id),
			                zmq_msg_size(&id), zmq_msg_data(&body),
			                zmq_msg_size(&body));
		}
		zmq_msg_close(&id);
		zmq_msg_close(&body);
	}
}

static void drain_dealer(struct tr_net *net, struct outconn *oc)
{
	for (int k = 0; k < 64 && !oc->dead && oc->sock; k++) {
		zmq_msg_t body;
		zmq_msg_init(&body);
		if (zmq_msg_recv(&body, oc->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&body);
			return;
		}
		bool extra = zmq_msg_more(&body);
		if (extra) {
			stat_add(&net->st_rejected, 1);
			zmq_msg_close(&body);
			out_fail(net, oc, TR_EPROTO);
			return;
		}
		on_dealer_frame(net, oc, zmq_msg_data(&body),
		                zmq_msg_size(&body));
		zmq_msg_close(&body);
	}
}

/* Socket events of a line: a disconnection ends its session. */
static void drain_mon(struct tr_net *net, struct outconn *oc)
{
	for (int k = 0; k < 16 && oc->mon; k++) {
		zmq_msg_t ev, ep;
		zmq_msg_init(&ev);
		if (zmq_msg_recv(&ev, oc->mon, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&ev);
			return;
		}
		uint16_t event = 0;
		if (zmq_msg_size(&ev) >= 2)
			memcpy(&event, zmq_msg_data(&ev), 2);
		bool more = zmq_msg_more(&ev);
		zmq_msg_close(&ev);
		if (more) {
			zmq_msg_init(&ep);
			zmq_msg_recv(&ep, oc->mon, ZMQ_DONTWAIT);
			zmq_msg_close(&ep);
		}
		struct peer *p = oc->peer;
		if (event == ZMQ_EVENT_DISCONNECTED && p && p->out == oc &&
		    oc->state == OUT_UP &&
		    (p->state == TR_PEER_UP || p->state == TR_PEER_LEAVING)) {
			session_down(net, p, "connection_closed", true);
			return;
		}
	}
}

static void flush_ready(struct tr_net *net)
{
	pthread_mutex_lock(&net->ready_lock);
	size_t n = net->nready;
	struct peer *local[64];
	struct peer **list = net->ready;
	if (n <= 64) {
		if (n)
			memcpy(local, list, n * sizeof(*list));
		list = local;
	} else {
		net->ready = NULL;
		net->ready_cap = 0;
	}
	net->nready = 0;
	pthread_mutex_unlock(&net->ready_lock);
	for (size_t i = 0; i < n; i++)
		flush_peer(net, list[i]);
	if (list != local)
		free(list);
	/* peers whose frame is stashed retry each round */
	for (size_t i = 0; i < net->npeers; i++)
		if (net->plist[i]->stash)
			flush_peer(net, net->plist[i]);
}

/* ---- ZAP (RFC 27): the CURVE allow-list ---------------------------------- */

/* Answer every pending ZAP request: 200 if the client key is allowed. */
static void drain_zap(struct tr_net *net)
{
	for (int k = 0; k < 64; k++) {
		zmq_msg_t f[8];
		int nf = 0;
		bool more = true;
		while (more && nf < 8) {
			zmq_msg_init(&f[nf]);
			if (zmq_msg_recv(&f[nf], net->zap, ZMQ_DONTWAIT) < 0) {
				zmq_msg_close(&f[nf]);
				if (!nf)
					return;
				break;
			}
			more = zmq_msg_more(&f[nf]);
			nf++;
		}
		while (more) { /* more frames than any request has */
			zmq_msg_t x;
			zmq_msg_init(&x);
			if (zmq_msg_recv(&x, net->zap, ZMQ_DONTWAIT) < 0)
				more = false;
			else
				more = zmq_msg_more(&x);
			zmq_msg_close(&x);
		}
		/* version, request id, domain, address, identity, mechanism,
		 * client key */
		bool ok = nf == 7 && zmq_msg_size(&f[0]) == 3 &&
		          !memcmp(zmq_msg_data(&f[0]), "1.0", 3) &&
		          zmq_msg_size(&f[2]) == 6 &&
		          !memcmp(zmq_msg_data(&f[2]), "troupe", 6) &&
		          zmq_msg_size(&f[5]) == 5 &&
		          !memcmp(zmq_msg_data(&f[5]), "CURVE", 5) &&
		          zmq_msg_size(&f[6]) == 32;
		bool allowed = false;
		for (size_t i = 0; ok && i < net->nallow && !allowed; i++)
			allowed =
			        !memcmp(zmq_msg_data(&f[6]), net->allow[i], 32);
		if (!allowed) {
			stat_add(&net->st_rejected_auth, 1);
			net_warn_limited(net, "ZAP refused a CURVE key", NULL);
		}
		if (nf >= 2) {
			const char *code = allowed ? "200" : "400";
			const char *text = allowed ? "OK" : "key not allowed";
			zmq_send(net->zap, "1.0", 3, ZMQ_SNDMORE);
			zmq_send(net->zap, zmq_msg_data(&f[1]),
			         zmq_msg_size(&f[1]), ZMQ_SNDMORE);
			zmq_send(net->zap, code, 3, ZMQ_SNDMORE);
			zmq_send(net->zap, text, strlen(text), ZMQ_SNDMORE);
			zmq_send(net->zap, "", 0, ZMQ_SNDMORE);
			zmq_send(net->zap, "", 0, 0);
		}
		for (int i = 0; i < nf; i++)
			zmq_msg_close(&f[i]);
	}
}

static void *io_main(void *arg)
{
	struct tr_net *net = arg;
	zmq_pollitem_t items[3 + 512];
	struct outconn *owners[512];
	bool is_mon[512];
	const int first = net->zap ? 3 : 2; /* the first DEALER's item */
	while (!atomic_load(&net->stop)) {
		int n = 0;
		items[n++] = (zmq_pollitem_t){NULL, net->efd, ZMQ_POLLIN, 0};
		items[n++] = (zmq_pollitem_t){net->router, 0, ZMQ_POLLIN, 0};
		if (net->zap)
			items[n++] =
			        (zmq_pollitem_t){net->zap, 0, ZMQ_POLLIN, 0};
		for (struct outconn *oc = net->outs; oc && n < first + 511;
		     oc = oc->next) {
			if (oc->dead || !oc->sock)
				continue;
			/* a line senders write to is not read here: only one
			 * thread may use a socket at a time */
			bool shared = oc->peer && oc->peer->out == oc &&
			              oc->state == OUT_UP && oc->peer->direct;
			if (!shared) {
				owners[n - first] = oc;
				is_mon[n - first] = false;
				items[n++] = (zmq_pollitem_t){oc->sock, 0,
				                              ZMQ_POLLIN, 0};
			}
			if (oc->mon) {
				owners[n - first] = oc;
				is_mon[n - first] = true;
				items[n++] = (zmq_pollitem_t){oc->mon, 0,
				                              ZMQ_POLLIN, 0};
			}
		}
		/* a stashed frame, or a busy actor whose senders wait for
		 * its release: look again within a millisecond */
		bool soon = false;
		for (size_t i = 0; i < net->npeers; i++)
			soon |= net->plist[i]->stash != NULL ||
			        net->plist[i]->ntold;
		long wait =
		        soon ? 1 : (long)(net->hb_ms / 4 ? net->hb_ms / 4 : 1);
		int r = zmq_poll(items, n, wait);
		if (r < 0 && errno != EINTR)
			break;
		if (items[0].revents & ZMQ_POLLIN) {
			uint64_t v;
			ssize_t rr = read(net->efd, &v, sizeof(v));
			(void)rr;
		}
		run_cmds(net);
		if (net->zap && (items[2].revents & ZMQ_POLLIN))
			drain_zap(net);
		if (items[1].revents & ZMQ_POLLIN)
			drain_router(net);
		for (int i = first; i < n; i++) {
			if (!(items[i].revents & ZMQ_POLLIN))
				continue;
			if (is_mon[i - first])
				drain_mon(net, owners[i - first]);
			else
				drain_dealer(net, owners[i - first]);
		}
		flush_ready(net);
		for (size_t i = 0; i < net->npeers; i++) {
			struct peer *p = net->plist[i];
			if (p->ntold && p->state == TR_PEER_UP && !p->stash)
				busy_release(net, p);
		}
		timers(net, false);
		if (net->leaving)
			finish_leave(net, false);
	}
	/* stopping: every session ends here, as a net_stopped nodedown */
	if (net->leaving)
		finish_leave(net, true);
	for (size_t i = 0; i < net->npeers; i++) {
		struct peer *p = net->plist[i];
		if (p->state != TR_PEER_DOWN || p->out || p->in_up)
			session_down(net, p, "net_stopped", false);
	}
	for (struct outconn *oc = net->outs; oc; oc = oc->next)
		if (!oc->dead)
			out_close(oc);
	timers(net, true); /* frees the closed lines */
	run_cmds(net);
	return NULL;
}

/* ---- the kernel: remote spawn -------------------------------------------- */

static const tr_behaviour_t *find_export(struct tr_net *net, const char *name,
                                         size_t len)
{
	const tr_behaviour_t *b = NULL;
	pthread_mutex_lock(&net->exp_lock);
	for (struct export *x = net->exports; x; x = x->next) {
		if (strlen(x->beh->name) == len &&
		    !memcmp(x->beh->name, name, len)) {
			b = x->beh;
			break;
		}
	}
	pthread_mutex_unlock(&net->exp_lock);
	return b;
}

static tr_err kernel_init(void **state, void *arg)
{
	*state = arg;
	return TR_OK;
}

static void kernel_answer(tr_msg_t *req, const char *err, tr_pid_t pid)
{
	tr_from_t from;
	if (tr_msg_from(req, &from))
		return;
	tr_msg_t *r;
	if (tr_msg_new(&r, err ? "error" : "ok"))
		return;
	if (err)
		tr_msg_add_str(r, err);
	else
		tr_msg_add_pid(r, pid);
	tr_reply(&from, r);
}

static void kernel_receive(void *state, tr_msg_t *m)
{
	struct tr_net *net = state;
	if (tr_msg_kind(m) != TR_MSG_CALL)
		return;
	if (!tr_msg_is(m, "spawn")) {
		kernel_answer(m, "badarg", TR_PID_NONE);
		return;
	}
	const char *bname;
	size_t blen;
	if (tr_msg_get_str(m, 0, &bname, &blen)) {
		kernel_answer(m, "badarg", TR_PID_NONE);
		return;
	}
	const tr_behaviour_t *beh = find_export(net, bname, blen);
	if (!beh) {
		kernel_answer(m, "undef", TR_PID_NONE);
		return;
	}
	tr_msg_t *arg = NULL;
	tr_type_t t;
	if (tr_msg_count(m) > 1 && !tr_msg_type(m, 1, &t) && t == TR_T_ARRAY) {
		const void *raw;
		size_t rl;
		if (tr_msg_get_raw(m, 1, &raw, &rl) ||
		    tr_msg_from_msgpack(&arg, raw, rl)) {
			kernel_answer(m, "badarg", TR_PID_NONE);
			return;
		}
	}
	/* ["spawn", beh, arg|nil, true]: link the child to the caller (a
	 * remote spawn_link). Both ends learn the link by a LINK signal
	 * sent before the answer: the child's comes first in its queue,
	 * the caller's travels ahead of the answer on the same session. A
	 * caller that is gone by then answers noproc and the child dies. */
	bool link = false;
	if (tr_msg_count(m) > 2 && tr_msg_get_bool(m, 2, &link)) {
		tr_msg_free(arg);
		kernel_answer(m, "badarg", TR_PID_NONE);
		return;
	}
	tr_from_t from;
	if (link && tr_msg_from(m, &from)) {
		tr_msg_free(arg);
		return;
	}
	tr_pid_t pid;
	tr_err e =
	        tr_spawn(net->node, beh, beh->init ? (void *)arg : NULL, &pid);
	tr_msg_free(arg);
	if (!e && link) {
		tr__send_signal(TR__SIG_LINK, from.pid, pid, TR_REF_NONE, 0);
		tr__send_signal(TR__SIG_LINK, pid, from.pid, TR_REF_NONE, 0);
	}
	kernel_answer(m, e ? tr_err_name(e) : NULL, pid);
}

static const tr_behaviour_t kernel_beh = {
        .name = KERNEL_NAME,
        .init = kernel_init,
        .receive = kernel_receive,
};

/* ---- public API ------------------------------------------------------------
 */

void tr_net_opts_init(tr_net_opts_t *opts)
{
	if (opts)
		memset(opts, 0, sizeof(*opts));
}

static bool z85_key(const char *s, uint8_t out[32])
{
	return s && strlen(s) == 40 && zmq_z85_decode(out, s);
}

tr_err tr_curve_keypair(char *public_z85, char *secret_z85)
{
	if (!public_z85 || !secret_z85)
		return TR_EINVAL;
	return zmq_curve_keypair(public_z85, secret_z85) ? TR_ENOTSUP : TR_OK;
}

static tr_err bind_router(struct tr_net *net, const char *listen)
{
	net->router = zmq_socket(net->zctx, ZMQ_ROUTER);
	if (!net->router)
		return TR_ENOMEM;
	int one = 1, zero = 0, hwm = 1000, hs = 2000;
	int64_t maxmsg = (int64_t)net->max_frame;
	zmq_setsockopt(net->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
	zmq_setsockopt(net->router, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(net->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
	zmq_setsockopt(net->router, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(net->router, ZMQ_HANDSHAKE_IVL, &hs, sizeof(hs));
	if (net->curve) {
		/* The ZAP handler first: with CURVE and no handler, libzmq
		 * lets any key in. */
		net->zap = zmq_socket(net->zctx, ZMQ_REP);
		if (!net->zap || zmq_bind(net->zap, "inproc://zeromq.zap.01"))
			return TR_EIO;
		if (zmq_setsockopt(net->router, ZMQ_CURVE_SERVER, &one,
		                   sizeof(one)) ||
		    zmq_setsockopt(net->router, ZMQ_CURVE_SECRETKEY,
		                   net->srv_sec, 41) ||
		    zmq_setsockopt(net->router, ZMQ_ZAP_DOMAIN, "troupe", 6))
			return TR_ENOTSUP; /* libzmq built without CURVE */
	}
	if (!listen) {
		net->endpoint[0] = 0;
		return TR_OK;
	}
	char ep[TR_ENDPOINT_MAX];
	snprintf(ep, sizeof(ep), "%s", listen);
	/* port 0 means "any": ZeroMQ spells it '*' */
	size_t l = strlen(ep);
	if (l > 2 && !strcmp(ep + l - 2, ":0"))
		snprintf(ep + l - 1, sizeof(ep) - (l - 1), "*");
	if (zmq_bind(net->router, ep))
		return TR_EIO;
	size_t cap = sizeof(net->endpoint);
	if (zmq_getsockopt(net->router, ZMQ_LAST_ENDPOINT, net->endpoint, &cap))
		return TR_EIO;
	return TR_OK;
}

tr_err tr_net_start(tr_node_t *node, const tr_net_opts_t *opts_in,
                    tr_net_t **out)
{
	if (!node || !out)
		return TR_EINVAL;
	tr_net_opts_t opts;
	if (opts_in)
		opts = *opts_in;
	else
		tr_net_opts_init(&opts);
	bool curve = opts.curve_server_public || opts.curve_server_secret ||
	             opts.curve_public || opts.curve_secret ||
	             opts.curve_allow_n;
	uint8_t key[32];
	if (curve && (!z85_key(opts.curve_server_public, key) ||
	              !z85_key(opts.curve_server_secret, key) ||
	              !z85_key(opts.curve_public, key) ||
	              !z85_key(opts.curve_secret, key) || !opts.curve_allow_n ||
	              !opts.curve_allow))
		return TR_EINVAL;
	for (size_t i = 0; curve && i < opts.curve_allow_n; i++)
		if (!z85_key(opts.curve_allow[i], key))
			return TR_EINVAL;
	if (opts.secret && opts.secret_len < TR_SECRET_MIN)
		return TR_EINVAL;
	if (!opts.secret && !curve)
		return TR_EINVAL;
	if (!tr__wire_name_ok(node->name, strlen(node->name)))
		return TR_EINVAL;
	if (sodium_init() < 0)
		return TR_EINTERNAL;
	struct tr_net *net = calloc(1, sizeof(*net));
	if (!net)
		return TR_ENOMEM;
	net->node = node;
	net->opts = opts;
	net->hb_ms = opts.heartbeat_ms ? opts.heartbeat_ms : 100;
	net->timeout_ms = opts.timeout_ms ? opts.timeout_ms : 600;
	if (net->timeout_ms < 2 * net->hb_ms)
		net->timeout_ms = 2 * net->hb_ms;
	net->max_frame = opts.max_frame ? opts.max_frame : (16u << 20);
	net->q_high = opts.peer_queue_high ? opts.peer_queue_high : (8u << 20);
	net->hidden = opts.hidden;
	net->debug = getenv("TROUPE_NET_DEBUG") != NULL;
	net->efd = -1;
	if (opts.secret) {
		net->secret = malloc(opts.secret_len);
		if (!net->secret) {
			free(net);
			return TR_ENOMEM;
		}
		memcpy(net->secret, opts.secret, opts.secret_len);
		net->secret_len = opts.secret_len;
	}
	if (curve) {
		net->curve = true;
		memcpy(net->srv_pub, opts.curve_server_public, 41);
		memcpy(net->srv_sec, opts.curve_server_secret, 41);
		memcpy(net->my_pub, opts.curve_public, 41);
		memcpy(net->my_sec, opts.curve_secret, 41);
		net->allow = calloc(opts.curve_allow_n, sizeof(*net->allow));
		if (!net->allow) {
			free(net->secret);
			free(net);
			return TR_ENOMEM;
		}
		for (size_t i = 0; i < opts.curve_allow_n; i++)
			zmq_z85_decode(net->allow[i], opts.curve_allow[i]);
		net->nallow = opts.curve_allow_n;
	}
	/* the caller's key strings need not outlive this call */
	net->opts.curve_server_public = net->opts.curve_server_secret = NULL;
	net->opts.curve_public = net->opts.curve_secret = NULL;
	net->opts.curve_allow = NULL;
	net->opts.secret = NULL;
	pthread_mutex_init(&net->ready_lock, NULL);
	pthread_mutex_init(&net->cmd_lock, NULL);
	pthread_mutex_init(&net->sub_lock, NULL);
	pthread_mutex_init(&net->exp_lock, NULL);
	tr_err e = TR_ENOMEM;
	net->zctx = zmq_ctx_new();
	if (!net->zctx)
		goto fail;
	net->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (net->efd < 0)
		goto fail;
	e = bind_router(
	        net, opts.listen ? opts.listen
	                         : (opts.hidden ? NULL : "tcp://127.0.0.1:0"));
	if (e)
		goto fail;
	tr_spawn_opts_t so = {.name = KERNEL_NAME};
	e = tr_spawn_opt(node, &kernel_beh, net, &so, &net->kernel, NULL);
	if (e)
		goto fail;
	e = tr__node_set_dist(node, &dist_ops, net);
	if (e) {
		tr_exit(net->kernel, TR_KILL);
		goto fail;
	}
	if (pthread_create(&net->thread, NULL, io_main, net)) {
		tr__node_clear_dist(node);
		e = TR_ENOMEM;
		goto fail;
	}
	*out = net;
	return TR_OK;
fail:
	if (net->zap)
		zmq_close(net->zap);
	if (net->router)
		zmq_close(net->router);
	if (net->zctx)
		zmq_ctx_term(net->zctx);
	if (net->efd >= 0)
		close(net->efd);
	free(net->allow);
	free(net->secret);
	free(net);
	return e;
}

static void net_shutdown(struct tr_net *net)
{
	if (net->stopped)
		return;
	net->stopped = true;
	atomic_store(&net->stop, true);
	poke(net);
	pthread_join(net->thread, NULL);
	if (net->zap)
		zmq_close(net->zap);
	zmq_close(net->router);
	zmq_ctx_term(net->zctx);
	close(net->efd);
}

void tr_net_stop(tr_net_t *net)
{
	if (!net)
		return;
	net_shutdown(net);
	tr_exit(net->kernel, TR_KILL);
}

/* From tr_node_destroy(), once no scheduler runs: nothing can hold the
 * net's memory any more. */
static void net_free(struct tr_net *net)
{
	net_shutdown(net);
	tr__node_clear_dist(net->node);
	for (size_t i = 0; i < net->npeers; i++) {
		struct peer *p = net->plist[i];
		tr__gate_destroy(&p->gate);
		for (size_t k = 0; k < BUSY_MAX; k++)
			if (p->busy[k].inited)
				tr__gate_destroy(&p->busy[k].gate);
		pthread_mutex_destroy(&p->lock);
		free(p);
	}
	while (net->exports) {
		struct export *x = net->exports;
		net->exports = x->next;
		free(x);
	}
	free(net->ready);
	free(net->subs);
	free(net->allow);
	free(net->secret);
	pthread_mutex_destroy(&net->ready_lock);
	pthread_mutex_destroy(&net->cmd_lock);
	pthread_mutex_destroy(&net->sub_lock);
	pthread_mutex_destroy(&net->exp_lock);
	free(net);
}

const char *tr_net_endpoint(const tr_net_t *net)
{
	return net ? net->endpoint : "";
}

tr_node_t *tr_net_node(const tr_net_t *net)
{
	return net ? net->node : NULL;
}

static tr_err push_cmd(struct tr_net *net, int type, const char *endpoint,
                       uint64_t timeout_ms, struct waiter *w)
{
	struct cmd *c = calloc(1, sizeof(*c));
	if (!c)
		return TR_ENOMEM;
	c->type = type;
	if (endpoint)
		snprintf(c->endpoint, sizeof(c->endpoint), "%s", endpoint);
	c->timeout_ms = timeout_ms;
	c->waiter = w;
	pthread_mutex_lock(&net->cmd_lock);
	c->next = net->cmds;
	net->cmds = c;
	pthread_mutex_unlock(&net->cmd_lock);
	poke(net);
	return TR_OK;
}

static bool endpoint_ok(const char *ep)
{
	return ep && strlen(ep) < TR_ENDPOINT_MAX &&
	       (!strncmp(ep, "tcp://", 6) || !strncmp(ep, "ipc://", 6));
}

tr_err tr_net_connect(tr_net_t *net, const char *endpoint)
{
	if (!net || !endpoint_ok(endpoint))
		return TR_EINVAL;
	return push_cmd(net, CMD_CONNECT, endpoint, 5000, NULL);
}

/* Hand a command to the I/O thread and wait for its outcome (blocks). */
static tr_err cmd_wait(struct tr_net *net, int type, const char *endpoint,
                       uint64_t timeout_ms)
{
	if (tr__tls_actor)
		return TR_ESTATE;
	struct waiter *w = waiter_new();
	if (!w)
		return TR_ENOMEM;
	tr_err e = push_cmd(net, type, endpoint, timeout_ms, w);
	if (e) {
		free(w); /* never shared */
		return e;
	}
	/* the I/O thread answers by timeout_ms; the slack covers its tick */
	return waiter_wait(w, timeout_ms + 2000);
}

tr_err tr_net_join(tr_net_t *net, const char *endpoint, uint64_t timeout_ms)
{
	if (!net || !endpoint_ok(endpoint))
		return TR_EINVAL;
	return cmd_wait(net, CMD_CONNECT, endpoint, timeout_ms);
}

tr_err tr_net_leave(tr_net_t *net, uint64_t timeout_ms)
{
	if (!net)
		return TR_EINVAL;
	return cmd_wait(net, CMD_LEAVE, NULL, timeout_ms);
}

tr_err tr_net_nodes(tr_net_t *net, tr_peer_info_t *out, size_t cap, size_t *n)
{
	if (!net || !n || (cap && !out))
		return TR_EINVAL;
	size_t k = 0;
	for (size_t i = 0; i < PEER_SLOTS; i++) {
		struct peer *p = atomic_load(&net->slots[i]);
		if (!p)
			continue;
		if (k < cap) {
			tr_peer_info_t *o = &out[k];
			memset(o, 0, sizeof(*o));
			snprintf(o->name, sizeof(o->name), "%s", p->name);
			o->id = p->id;
			pthread_mutex_lock(&p->lock);
			snprintf(o->endpoint, sizeof(o->endpoint), "%s",
			         p->endpoint);
			o->creation = p->creation;
			o->state = (tr_peer_state_t)p->state;
			o->hidden = p->hidden;
			o->queued_bytes = p->qbytes;
			pthread_mutex_unlock(&p->lock);
			o->msgs_out = atomic_load(&p->msgs_out);
			o->msgs_in = atomic_load(&p->msgs_in);
			o->frames_out = atomic_load(&p->frames_out);
			o->frames_in = atomic_load(&p->frames_in);
		}
		k++;
	}
	*n = k;
	return TR_OK;
}

bool tr_net_is_up(tr_net_t *net, const char *name)
{
	if (!net || !name)
		return false;
	struct peer *p = peer_by_name(net, name);
	if (!p)
		return false;
	pthread_mutex_lock(&p->lock);
	bool up = p->state == TR_PEER_UP;
	pthread_mutex_unlock(&p->lock);
	return up;
}

static tr_err sub_add_locked(struct tr_net *net, struct sub *s)
{
	tr_err e = TR_OK;
	if (net->nsubs == net->subs_cap) {
		size_t nc = net->subs_cap ? net->subs_cap * 2 : 8;
		struct sub *ns = realloc(net->subs, nc * sizeof(*ns));
		if (ns) {
			net->subs = ns;
			net->subs_cap = nc;
		}
	}
	if (net->nsubs < net->subs_cap)
		net->subs[net->nsubs++] = *s;
	else
		e = TR_ENOMEM;
	return e;
}

static tr_err sub_add(struct tr_net *net, struct sub *s)
{
	pthread_mutex_lock(&net->sub_lock);
	tr_err e = sub_add_locked(net, s);
	pthread_mutex_unlock(&net->sub_lock);
	return e;
}

static void sub_del(struct tr_net *net, const struct sub *s)
{
	pthread_mutex_lock(&net->sub_lock);
	for (size_t i = 0; i < net->nsubs; i++) {
		struct sub *x = &net->subs[i];
		if (tr_pid_eq(x->pid, s->pid) && x->all == s->all &&
		    !strcmp(x->node, s->node)) {
			net->subs[i] = net->subs[--net->nsubs];
			break;
		}
	}
	pthread_mutex_unlock(&net->sub_lock);
}

tr_err tr_net_monitor_nodes(tr_net_t *net, tr_pid_t pid, bool on,
                            bool with_hidden)
{
	if (!net || tr_pid_is_none(pid) || pid.node != net->node->id)
		return TR_EINVAL;
	struct sub s = {.pid = pid, .all = true, .hidden = with_hidden};
	if (!on) {
		sub_del(net, &s);
		return TR_OK;
	}
	return sub_add(net, &s);
}

tr_err tr_net_monitor_node(tr_net_t *net, tr_pid_t pid, const char *name,
                           bool on)
{
	if (!net || tr_pid_is_none(pid) || pid.node != net->node->id || !name ||
	    !tr__wire_name_ok(name, strlen(name)))
		return TR_EINVAL;
	struct sub s = {.pid = pid, .all = false};
	snprintf(s.node, sizeof(s.node), "%s", name);
	if (!on) {
		sub_del(net, &s);
		return TR_OK;
	}
	/* Under the subscriber lock the I/O thread cannot slip a nodedown
	 * between the check and the registration. */
	pthread_mutex_lock(&net->sub_lock);
	bool up = tr_net_is_up(net, name);
	tr_err e = up ? sub_add_locked(net, &s) : TR_OK;
	pthread_mutex_unlock(&net->sub_lock);
	if (!up) {
		tr_msg_t *m;
		e = tr_msg_new(&m, "nodedown");
		if (e)
			return e;
		tr_msg_add_str(m, name);
		tr_msg_add_str(m, "noconnection");
		tr__deliver(net->node, pid, m);
	}
	return e;
}

tr_err tr_net_export(tr_net_t *net, const tr_behaviour_t *beh)
{
	if (!net || !beh || !beh->name || !beh->receive || !beh->name[0])
		return TR_EINVAL;
	struct export *x = malloc(sizeof(*x));
	if (!x)
		return TR_ENOMEM;
	x->beh = beh;
	pthread_mutex_lock(&net->exp_lock);
	x->next = net->exports;
	net->exports = x;
	pthread_mutex_unlock(&net->exp_lock);
	return TR_OK;
}

tr_err tr_net_kernel(tr_net_t *net, const char *name, tr_pid_t *out)
{
	if (!net || !name || !out)
		return TR_EINVAL;
	if (!strcmp(name, net->node->name)) {
		*out = net->kernel;
		return TR_OK;
	}
	struct peer *p = peer_by_name(net, name);
	if (!p)
		return TR_EUNREACHABLE;
	pthread_mutex_lock(&p->lock);
	bool up = p->state == TR_PEER_UP;
	*out = p->kernel;
	pthread_mutex_unlock(&p->lock);
	return up ? TR_OK : TR_EUNREACHABLE;
}

tr_err tr_spawn_on(tr_net_t *net, const char *name, const char *behaviour,
                   tr_msg_t *arg, uint64_t timeout_ms, tr_pid_t *out)
{
	if (!net || !name || !behaviour || !out)
		return TR_EINVAL;
	if (tr__tls_actor)
		return TR_ESTATE;
	tr_pid_t k;
	tr_err e = tr_net_kernel(net, name, &k);
	if (e)
		return e;
	tr_msg_t *req;
	e = tr_msg_new(&req, "spawn");
	if (!e)
		e = tr_msg_add_str(req, behaviour);
	if (!e && arg) {
		size_t len;
		const void *bytes = tr_msg_bytes(arg, &len);
		e = tr_msg_add_raw(req, bytes, len);
	}
	tr_msg_free(arg);
	if (e) {
		tr_msg_free(req);
		return e;
	}
	tr_msg_t *reply = NULL;
	e = tr_call(net->node, k, req, timeout_ms, &reply, NULL, 0);
	if (e == TR_EEXITED)
		e = TR_EUNREACHABLE;
	if (e)
		return e;
	if (tr_msg_is(reply, "ok") && !tr_msg_get_pid(reply, 0, out)) {
		tr_msg_free(reply);
		return TR_OK;
	}
	char why[64] = "";
	tr_msg_get_strbuf(reply, 0, why, sizeof(why));
	tr_msg_free(reply);
	if (!strcmp(why, "undef"))
		return TR_ENOENT;
	return TR_EINVAL;
}

tr_err tr_send_named(tr_net_t *net, const char *node, const char *name,
                     tr_msg_t *m)
{
	if (!net || !node || !name || !m || !name[0] || strlen(name) > 255 ||
	    (m->flags & TR__MSGF_SENT))
		return TR_EINVAL;
	struct tr_actor *self = tr__tls_actor;
	m->kind = TR_MSG_PLAIN;
	m->from = self ? tr__pid_of(self) : TR_PID_NONE;
	if (!strcmp(node, net->node->name)) {
		tr_pid_t to;
		if (tr_whereis(net->node, name, &to) == TR_OK)
			tr__deliver(net->node, to, m);
		else
			tr_msg_free(m);
		return TR_OK;
	}
	struct peer *p = peer_by_name(net, node);
	if (!p)
		return TR_EUNREACHABLE;
	return enqueue(net, p, TR_PID_NONE, name, m);
}

tr_err tr_net_stats(tr_net_t *net, tr_net_stats_t *o)
{
	if (!net || !o)
		return TR_EINVAL;
	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < PEER_SLOTS; i++) {
		struct peer *p = atomic_load(&net->slots[i]);
		if (p) {
			pthread_mutex_lock(&p->lock);
			o->peers_up += p->state == TR_PEER_UP;
			pthread_mutex_unlock(&p->lock);
		}
	}
	o->frames_in = atomic_load(&net->st_frames_in);
	o->frames_out = atomic_load(&net->st_frames_out);
	o->msgs_in = atomic_load(&net->st_msgs_in);
	o->msgs_out = atomic_load(&net->st_msgs_out);
	o->bytes_in = atomic_load(&net->st_bytes_in);
	o->bytes_out = atomic_load(&net->st_bytes_out);
	o->rejected_frames = atomic_load(&net->st_rejected);
	o->rejected_auth = atomic_load(&net->st_rejected_auth);
	o->spoofed = atomic_load(&net->st_spoofed);
	o->stale = atomic_load(&net->st_stale);
	o->nodedowns = atomic_load(&net->st_nodedowns);
	o->gated = atomic_load(&net->st_gated);
	return TR_OK;
}
